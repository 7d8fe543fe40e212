//! Instance records, written to the store by one task outside the core's lock.
//!
//! Every store write is a transaction fsynced before it returns, about a millisecond here.
//! A deployment of thousands of instances means a record per launch and per state change;
//! written under the core's lock, those writes alone would hold back every status update
//! and API call. So the core changes instances in memory at once and hands their records
//! to the [`InstanceWriter`], which writes them in the order asked. When several writes
//! for one key wait in the queue, only the last is made: it carries the newest state.
//!
//! What must wait for a record waits outside the lock, on a [`InstanceWriter::barrier`]:
//! an acknowledgement goes to the master once the change it reports is durable (until
//! then the agent keeps resending the update), and ACCEPT for a launch once its
//! instances' records are. Acknowledgements go out in order from one task
//! ([`Acknowledger`]), a few at a time: thousands of them released by one barrier must
//! not become thousands of concurrent connections to the master.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::StreamExt as _;
use strata_client::v1;
use strata_frameworks_runtime::Scheduler;
use strata_store::Store;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

/// The most queued requests one round takes on; later ones wait for the next round.
const MAX_ROUND: usize = 4096;
/// Acknowledgements in flight at once.
const ACKS_IN_FLIGHT: usize = 16;

enum Request {
    Put(String, Vec<u8>),
    Delete(String),
    Barrier(oneshot::Sender<()>),
}

/// The writer task and the queue to it.
pub struct InstanceWriter {
    tx: Option<mpsc::UnboundedSender<Request>>,
    task: Option<JoinHandle<()>>,
    pending: Arc<AtomicUsize>,
}

impl InstanceWriter {
    /// Starts the writer task over `store`.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let pending = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(run(store, rx, pending.clone()));
        Self {
            tx: Some(tx),
            task: Some(task),
            pending,
        }
    }

    fn send(&self, request: Request) {
        if let Some(tx) = &self.tx {
            let write = usize::from(!matches!(request, Request::Barrier(_)));
            self.pending.fetch_add(write, Ordering::Relaxed);
            // Fails only once the writer is closed, when nothing is written any more.
            if tx.send(request).is_err() {
                self.pending.fetch_sub(write, Ordering::Relaxed);
            }
        }
    }

    /// Writes queued and not yet done (for `/metrics`).
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// Writes `value` under `key`, after every write asked for before.
    pub fn put(&self, key: String, value: Vec<u8>) {
        self.send(Request::Put(key, value));
    }

    /// Deletes `key`, after every write asked for before.
    pub fn delete(&self, key: String) {
        self.send(Request::Delete(key));
    }

    /// Resolves once every write asked for before this call is durable (or failed and was
    /// logged). Resolves at once, with an error, once the writer is closed.
    pub fn barrier(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.send(Request::Barrier(tx));
        rx
    }

    /// Writes what is queued, then stops the task (it holds the store open until then).
    pub async fn close(&mut self) {
        self.tx = None;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

async fn run(
    store: Arc<dyn Store>,
    mut rx: mpsc::UnboundedReceiver<Request>,
    pending: Arc<AtomicUsize>,
) {
    let mut round = Vec::new();
    while rx.recv_many(&mut round, MAX_ROUND).await > 0 {
        let taken = round
            .iter()
            .filter(|r| !matches!(r, Request::Barrier(_)))
            .count();
        // The last write to each key wins; barriers resolve after the whole round, when
        // every write asked for before them is on disk (a skipped write's newer
        // replacement included).
        let mut last: HashMap<&str, usize> = HashMap::new();
        for (i, r) in round.iter().enumerate() {
            if let Request::Put(k, _) | Request::Delete(k) = r {
                last.insert(k.as_str(), i);
            }
        }
        let keep: Vec<usize> = {
            let mut v: Vec<usize> = last.into_values().collect();
            v.sort_unstable();
            v
        };
        let mut barriers = Vec::new();
        let mut writes = Vec::with_capacity(keep.len());
        let mut next = keep.iter().peekable();
        for (i, r) in round.drain(..).enumerate() {
            match r {
                Request::Barrier(done) => barriers.push(done),
                write if next.peek() == Some(&&i) => {
                    next.next();
                    writes.push(write);
                }
                _ => {}
            }
        }
        for w in writes {
            let (key, result) = match w {
                Request::Put(k, v) => {
                    let r = store.put(&k, v).await.map(drop);
                    (k, r)
                }
                Request::Delete(k) => {
                    let r = store.delete(&k, None).await.map(drop);
                    (k, r)
                }
                Request::Barrier(_) => continue,
            };
            if let Err(e) = result {
                warn!(key = %key, error = %e, "could not write an instance record");
            }
        }
        for done in barriers {
            let _ = done.send(());
        }
        pending.fetch_sub(taken, Ordering::Relaxed);
    }
}

// === Acknowledger ===

/// Sends acknowledgements, each once its barrier resolves, in order and a few at a time.
pub struct Acknowledger {
    tx: mpsc::UnboundedSender<(oneshot::Receiver<()>, v1::TaskStatus)>,
}

impl Acknowledger {
    /// Starts the task that acknowledges through `scheduler`; it ends when this is dropped.
    pub fn start(scheduler: Scheduler) -> Self {
        let (tx, rx) = mpsc::unbounded_channel::<(oneshot::Receiver<()>, v1::TaskStatus)>();
        let queue = futures::stream::unfold(rx, |mut rx| async move {
            let next = rx.recv().await?;
            Some((next, rx))
        });
        tokio::spawn(
            queue.for_each_concurrent(ACKS_IN_FLIGHT, move |(recorded, status)| {
                let s = scheduler.clone();
                async move {
                    let _ = recorded.await;
                    if let Err(e) = s.acknowledge(&status).await {
                        debug!(error = %e, "acknowledgement not sent; the agent will resend");
                    }
                }
            }),
        );
        Self { tx }
    }

    /// Acknowledges `status` once `recorded` resolves.
    pub fn acknowledge(&self, recorded: oneshot::Receiver<()>, status: v1::TaskStatus) {
        let _ = self.tx.send((recorded, status));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store(name: &str) -> (Arc<dyn Store>, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "strata-marathon-writer-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        (strata_store::open(None, &dir).await.unwrap().store, dir)
    }

    #[tokio::test]
    async fn writes_land_in_order_and_barriers_wait_for_them() {
        let (store, dir) = store("order").await;
        let mut w = InstanceWriter::start(store.clone());
        for i in 0..50 {
            w.put("marathon/tasks/a".into(), format!("{i}").into_bytes());
        }
        w.put("marathon/tasks/b".into(), b"b".to_vec());
        w.delete("marathon/tasks/b".into());
        w.put("marathon/tasks/c".into(), b"c1".to_vec());
        w.barrier().await.unwrap();
        assert_eq!(w.pending(), 0);
        let get = |k: &'static str| {
            let store = store.clone();
            async move { store.get(k).await.unwrap().map(|v| v.value) }
        };
        assert_eq!(get("marathon/tasks/a").await, Some(b"49".to_vec()));
        assert_eq!(get("marathon/tasks/b").await, None);
        assert_eq!(get("marathon/tasks/c").await, Some(b"c1".to_vec()));
        // Closing writes what is queued first.
        w.delete("marathon/tasks/c".into());
        w.close().await;
        assert_eq!(get("marathon/tasks/c").await, None);
        assert!(
            w.barrier().await.is_err(),
            "a closed writer resolves barriers at once"
        );
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }
}
