//! One ZooKeeper session at a time, with bounded waits.
//!
//! `zookeeper-async` reconnects by itself and reports state changes to listeners, but it
//! never gives up: while the server is down it retries forever, queued requests wait
//! forever, a silent connection is only noticed after twice its ping interval, and after an
//! expiry it silently opens a fresh session. This module turns that into the contract the
//! rest of the crate needs:
//!
//! - every call waits at most `operation_timeout` (connecting included), then fails with
//!   `Error::Unavailable`;
//! - a session is *lost* ([`Conn::Expired`], sticky) when the server reports it expired,
//!   or when ZooKeeper has not answered this client for 2/3 of the session timeout. A
//!   heartbeat (`exists /` every quarter of the session timeout while connected) measures
//!   that. ZooKeeper expires a session no earlier than one session timeout after it last
//!   heard from the client, and it heard from us no earlier than when the last answered
//!   heartbeat was sent; so a leader gives up at least a third of the session timeout
//!   before any other contender can be elected, also when the network fails silently.
//! - a lost session is closed, so whatever ephemeral znodes it still owns disappear as soon
//!   as ZooKeeper can be reached, and the next call opens a new session.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, timeout_at, Instant};
use tracing::{debug, info, warn};
use zookeeper_async::{WatchedEvent, ZkError, ZkResult, ZkState, ZooKeeper};

use crate::{Error, Result, ZkOptions};

/// How long the client waits between attempts to reach a server that refused the
/// connection (the library would otherwise retry in a busy loop).
const RETRY_CONNECT: Duration = Duration::from_millis(200);

/// The connection state of one session, as seen by this client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Conn {
    /// Not connected yet.
    Connecting,
    /// Connected; calls go through.
    Connected,
    /// Connected before, now reconnecting; the session may still resume.
    Disconnected,
    /// Lost for good: expired, closed, or ZooKeeper silent for 2/3 of the session timeout.
    Expired,
}

/// What the library's state listener updates. It holds no `ZooKeeper`, so the listener
/// (owned by the `ZooKeeper`) makes no reference cycle.
struct ConnCell {
    state: watch::Sender<Conn>,
    /// Set by the first listener event: from then on the listener alone decides the state.
    heard: AtomicBool,
    /// Bumped on every (re)connection: watches set before a reconnection are gone (the
    /// library does not re-register them), so watchers re-arm when it changes.
    epoch: AtomicU64,
}

impl ConnCell {
    fn on_library_state(&self, new: ZkState) {
        self.heard.store(true, Ordering::SeqCst);
        #[allow(deprecated)] // `NotConnected` is what the library reports for an expired session
        let changed = self.state.send_if_modified(|state| {
            let next = match (*state, new) {
                (Conn::Expired, _) => Conn::Expired,
                (_, ZkState::Connected | ZkState::ConnectedReadOnly) => {
                    self.epoch.fetch_add(1, Ordering::SeqCst);
                    Conn::Connected
                }
                (Conn::Connecting, ZkState::Connecting) => Conn::Connecting,
                (_, ZkState::Connecting) => Conn::Disconnected,
                (_, ZkState::NotConnected | ZkState::Closed | ZkState::AuthFailed) => Conn::Expired,
                (current, _) => current,
            };
            let changed = next != *state;
            *state = next;
            changed
        });
        if changed {
            debug!(state = ?*self.state.borrow(), library_state = ?new, "zookeeper connection state");
        }
    }
}

// === Session ===

/// One ZooKeeper session.
pub(crate) struct Session {
    id: u64,
    zk: Arc<ZooKeeper>,
    cell: Arc<ConnCell>,
    closed: Arc<AtomicBool>,
    servers: Arc<str>,
    monitor: JoinHandle<()>,
}

impl Session {
    /// A process-unique number for this session (not ZooKeeper's session id).
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Changes whenever the session (re)connects; watches set before are gone.
    pub(crate) fn epoch(&self) -> u64 {
        self.cell.epoch.load(Ordering::SeqCst)
    }

    pub(crate) fn is_expired(&self) -> bool {
        *self.cell.state.borrow() == Conn::Expired
    }

    /// Resolves when the session is lost for good.
    pub(crate) async fn lost(&self) {
        let mut rx = self.cell.state.subscribe();
        let _ = rx.wait_for(|s| *s == Conn::Expired).await;
    }

    /// Resolves on the next state change (or at once if the session is already lost).
    pub(crate) async fn changed(&self, seen_epoch: u64) {
        let mut rx = self.cell.state.subscribe();
        let _ = rx
            .wait_for(|s| *s == Conn::Expired || self.epoch() != seen_epoch)
            .await;
    }

    /// Waits until the session is connected, at most until `deadline` (`None` = until the
    /// session is lost, which the monitor bounds by the session timeout).
    pub(crate) async fn wait_connected(&self, deadline: Option<Instant>) -> Result<()> {
        let mut rx = self.cell.state.subscribe();
        let ready = rx.wait_for(|s| matches!(s, Conn::Connected | Conn::Expired));
        let state = match deadline {
            Some(deadline) => match timeout_at(deadline, ready).await {
                Ok(state) => state.map(|s| *s),
                Err(_) => return Err(self.unreachable()),
            },
            None => ready.await.map(|s| *s),
        };
        match state {
            Ok(Conn::Connected) => Ok(()),
            _ => Err(Error::Unavailable(format!(
                "zookeeper session with {} was lost",
                self.servers
            ))),
        }
    }

    /// Gives the session up: it is closed (its ephemeral znodes go) and never used again.
    pub(crate) fn expire(&self, why: &str) {
        if self.cell.state.send_replace(Conn::Expired) != Conn::Expired {
            warn!(servers = %self.servers, reason = why, "giving up zookeeper session");
        }
        close(&self.zk, &self.closed);
    }

    /// Runs one library call on this session within `deadline`; connection-level failures
    /// become `Error::Unavailable`, anything else is the call's own `ZkResult`.
    pub(crate) async fn call<T, F, Fut>(
        &self,
        what: &str,
        deadline: Instant,
        f: F,
    ) -> Result<ZkResult<T>>
    where
        F: FnOnce(Arc<ZooKeeper>) -> Fut,
        Fut: Future<Output = ZkResult<T>>,
    {
        if self.is_expired() {
            return Err(Error::Unavailable(format!(
                "zookeeper session with {} was lost",
                self.servers
            )));
        }
        match timeout_at(deadline, f(self.zk.clone())).await {
            Err(_) => Err(Error::Unavailable(format!(
                "zookeeper at {} did not answer {what} in time",
                self.servers
            ))),
            Ok(Err(e)) if is_connection_error(e) => Err(Error::Unavailable(format!(
                "zookeeper at {}: {what} failed: {e}",
                self.servers
            ))),
            Ok(result) => Ok(result),
        }
    }

    fn unreachable(&self) -> Error {
        Error::Unavailable(format!("zookeeper at {} is unreachable", self.servers))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.monitor.abort();
        close(&self.zk, &self.closed);
    }
}

fn is_connection_error(e: ZkError) -> bool {
    matches!(
        e,
        ZkError::ConnectionLoss
            | ZkError::SessionExpired
            | ZkError::OperationTimeout
            | ZkError::SessionMoved
    )
}

/// Closes the library client once. The close request is queued behind anything pending and
/// goes out as soon as a server is reachable again, so a session given up while ZooKeeper
/// was down is still ended (and its ephemeral znodes removed) when ZooKeeper returns.
fn close(zk: &Arc<ZooKeeper>, closed: &AtomicBool) {
    if closed.swap(true, Ordering::SeqCst) {
        return;
    }
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let zk = zk.clone();
        runtime.spawn(async move {
            let _ = zk.close().await;
        });
    }
}

/// Heartbeats the session and gives it up after 2/3 of the session timeout without an
/// answer (see the module docs); closes lost sessions.
async fn monitor(
    cell: Arc<ConnCell>,
    zk: Arc<ZooKeeper>,
    closed: Arc<AtomicBool>,
    servers: Arc<str>,
    session_timeout: Duration,
) {
    let beat = session_timeout / 4;
    let grace = session_timeout * 2 / 3;
    // The session was just established by an answered request.
    let mut last_contact = Instant::now();
    let mut rx = cell.state.subscribe();
    loop {
        let state = *rx.borrow_and_update();
        if state == Conn::Expired {
            close(&zk, &closed);
            return;
        }
        if Instant::now() >= last_contact + grace {
            cell.state.send_replace(Conn::Expired);
            warn!(
                servers = %servers,
                silent_for = ?last_contact.elapsed(),
                session_timeout = ?session_timeout,
                "zookeeper has not answered for 2/3 of the session timeout: session lost"
            );
            close(&zk, &closed);
            return;
        }
        if state == Conn::Connected {
            let sent = Instant::now();
            let deadline = (sent + beat).min(last_contact + grace);
            if let Ok(Ok(_)) = timeout_at(deadline, zk.exists("/", false)).await {
                last_contact = sent;
            }
        }
        let next = (Instant::now() + beat).min(last_contact + grace);
        tokio::select! {
            _ = sleep_until(next) => {}
            changed = rx.changed() => if changed.is_err() { return },
        }
    }
}

// === ZkClient ===

/// The shared handle of one ZooKeeper ensemble: hands out the current session, opening a
/// new one when the last was lost.
pub(crate) struct ZkClient {
    servers: Arc<str>,
    options: ZkOptions,
    current: tokio::sync::Mutex<Option<Arc<Session>>>,
    next_id: AtomicU64,
}

impl ZkClient {
    pub(crate) fn new(servers: String, options: ZkOptions) -> ZkClient {
        ZkClient {
            servers: servers.into(),
            options,
            current: tokio::sync::Mutex::new(None),
            next_id: AtomicU64::new(1),
        }
    }

    /// A deadline one operation timeout from now.
    pub(crate) fn deadline(&self) -> Instant {
        Instant::now() + self.options.operation_timeout
    }

    /// The current session, connected, or `Unavailable` at `deadline`.
    pub(crate) async fn session(&self, deadline: Instant) -> Result<Arc<Session>> {
        let mut current = timeout_at(deadline, self.current.lock())
            .await
            .map_err(|_| self.unreachable())?;
        let session = match current.as_ref() {
            Some(session) if !session.is_expired() => session.clone(),
            _ => {
                let session = Arc::new(self.connect(deadline).await?);
                *current = Some(session.clone());
                session
            }
        };
        drop(current);
        session.wait_connected(Some(deadline)).await?;
        Ok(session)
    }

    /// The current session if it is not lost, without connecting.
    pub(crate) async fn live_session(&self) -> Option<Arc<Session>> {
        let current = self.current.lock().await;
        current.as_ref().filter(|s| !s.is_expired()).cloned()
    }

    /// Runs one call on the current session (see [`Session::call`]).
    pub(crate) async fn call<T, F, Fut>(&self, what: &str, f: F) -> Result<ZkResult<T>>
    where
        F: FnOnce(Arc<ZooKeeper>) -> Fut,
        Fut: Future<Output = ZkResult<T>>,
    {
        let deadline = self.deadline();
        let session = self.session(deadline).await?;
        session.call(what, deadline, f).await
    }

    async fn connect(&self, deadline: Instant) -> Result<Session> {
        let cell = Arc::new(ConnCell {
            state: watch::Sender::new(Conn::Connecting),
            heard: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
        });
        let connecting = ZooKeeper::connect_with_retry_time(
            &self.servers,
            self.options.session_timeout,
            |_: WatchedEvent| {},
            RETRY_CONNECT,
        );
        let zk = match timeout_at(deadline, connecting).await {
            Err(_) => return Err(self.unreachable()),
            Ok(Err(e)) => {
                return Err(Error::Unavailable(format!(
                    "cannot connect to zookeeper at {}: {e}",
                    self.servers
                )))
            }
            Ok(Ok(zk)) => Arc::new(zk),
        };
        let listener_cell = cell.clone();
        zk.add_listener(move |state| listener_cell.on_library_state(state));
        let closed = Arc::new(AtomicBool::new(false));

        // The library may have finished the handshake before the listener was added; a
        // first answered request proves the session is up.
        let probe = timeout_at(deadline, zk.exists("/", false)).await;
        if !matches!(probe, Ok(Ok(_))) {
            close(&zk, &closed);
            return Err(self.unreachable());
        }
        cell.state.send_if_modified(|s| {
            if *s == Conn::Connecting && !cell.heard.load(Ordering::SeqCst) {
                *s = Conn::Connected;
                cell.epoch.fetch_add(1, Ordering::SeqCst);
                true
            } else {
                false
            }
        });

        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        info!(servers = %self.servers, session = id, "zookeeper session opened");
        let monitor = tokio::spawn(monitor(
            cell.clone(),
            zk.clone(),
            closed.clone(),
            self.servers.clone(),
            self.options.session_timeout,
        ));
        Ok(Session {
            id,
            zk,
            cell,
            closed,
            servers: self.servers.clone(),
            monitor,
        })
    }

    fn unreachable(&self) -> Error {
        Error::Unavailable(format!("zookeeper at {} is unreachable", self.servers))
    }
}

/// Any error a call returned that is not a connection problem (those were mapped already).
pub(crate) fn unexpected(what: &str, path: &str, e: ZkError) -> Error {
    Error::Backend(format!("zookeeper {what} on {path} failed: {e}"))
}
