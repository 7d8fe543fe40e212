//! Leader election and detection on ZooKeeper, the way Mesos masters do it.
//!
//! Each contender creates an ephemeral sequential znode `<path>/json.info_NNNNNNNNNN`
//! holding its MasterInfo JSON. The lowest sequence number leads; every other contender
//! watches the one just before it (no herd effect). Detectors list `<path>`, take the lowest
//! `json.info_` child and read it, exactly as pymesos, mesoshttp and avmesos-cli do.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::sleep;
use tracing::{debug, info, warn};
use zookeeper_async::{Acl, CreateMode, ZkError};

use super::session::{unexpected, Session, ZkClient};
use super::{ensure_path, ZkUrl, LEADER_PREFIX, POLL};
use crate::{
    Error, LeaderDetector, LeaderElection, Leadership, LeadershipHandle, Result, ZkOptions,
};

// === ZkElection ===

/// The election of the ZooKeeper backend.
pub(crate) struct ZkElection {
    client: Arc<ZkClient>,
    path: String,
}

impl ZkElection {
    pub(crate) fn new(client: Arc<ZkClient>, path: &str) -> ZkElection {
        ZkElection {
            client,
            path: path.to_string(),
        }
    }

    /// Creates this contender's znode in `session`, making `<path>` if needed.
    async fn enter(&self, session: &Arc<Session>, info: Vec<u8>) -> Result<String> {
        let prefix = format!("{}/{LEADER_PREFIX}", self.path);
        for _ in 0..3 {
            let (p, data) = (prefix.clone(), info.clone());
            let created = session
                .call("create", self.client.deadline(), |zk| async move {
                    zk.create(
                        &p,
                        data,
                        Acl::open_unsafe().clone(),
                        CreateMode::EphemeralSequential,
                    )
                    .await
                })
                .await;
            match created {
                Ok(Ok(node)) => return Ok(node),
                Ok(Err(ZkError::NoNode)) => ensure_path(&self.client, &self.path).await?,
                Ok(Err(e)) => return Err(unexpected("create", &prefix, e)),
                Err(e) => {
                    // The create may have happened without its answer reaching us: give the
                    // session up so an unknown znode of ours cannot end up leading.
                    session.expire("candidacy znode creation unanswered");
                    return Err(e);
                }
            }
        }
        Err(Error::Backend(format!(
            "{} keeps disappearing while campaigning",
            self.path
        )))
    }
}

/// Deletes a candidacy znode when the campaign is abandoned (the future dropped or failed).
struct Candidacy {
    session: Arc<Session>,
    node: Option<String>,
    client: Arc<ZkClient>,
}

impl Candidacy {
    fn into_node(mut self) -> String {
        self.node.take().unwrap_or_default()
    }
}

impl Drop for Candidacy {
    fn drop(&mut self) {
        if let Some(node) = self.node.take() {
            withdraw(&self.client, &self.session, node);
        }
    }
}

/// Deletes `node` in the background (it goes with its session anyway if that is lost).
fn withdraw(client: &Arc<ZkClient>, session: &Arc<Session>, node: String) {
    if session.is_expired() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let (client, session) = (client.clone(), session.clone());
    runtime.spawn(async move {
        let path = node.clone();
        let deleted = session
            .call("delete", client.deadline(), |zk| async move {
                zk.delete(&path, None).await
            })
            .await;
        match deleted {
            Ok(Ok(())) | Ok(Err(ZkError::NoNode)) => debug!(node = %node, "withdrew candidacy"),
            _ => {
                // Could not delete it: end the session so the znode goes anyway.
                session.expire("could not delete candidacy znode");
            }
        }
    });
}

#[async_trait]
impl LeaderElection for ZkElection {
    async fn campaign(&self, info: Vec<u8>) -> Result<Leadership> {
        let session = self.client.session(self.client.deadline()).await?;
        let node = self.enter(&session, info).await?;
        info!(node = %node, "campaigning for leadership");
        let candidacy = Candidacy {
            session: session.clone(),
            node: Some(node.clone()),
            client: self.client.clone(),
        };
        let name = node.rsplit('/').next().unwrap_or_default().to_string();
        // The predecessor we hold a watch on, per connection epoch: re-arming an armed watch
        // would pile up callbacks in the client library.
        let mut watching: Option<(String, u64)> = None;
        let notify = Arc::new(Notify::new());
        loop {
            if session.is_expired() {
                return Err(Error::Unavailable(
                    "zookeeper session lost while campaigning".to_string(),
                ));
            }
            let epoch = session.epoch();
            let listed = tokio::select! {
                listed = contenders(&session, &self.client, &self.path) => listed,
                _ = session.lost() => continue,
            };
            let contenders = match listed {
                Ok(contenders) => contenders,
                Err(Error::Unavailable(_)) => {
                    // Wait for the session to come back, or to be lost (bounded by the
                    // session timeout).
                    session.wait_connected(None).await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let Some(position) = contenders.iter().position(|c| *c == name) else {
                return Err(Error::Unavailable(format!(
                    "candidacy znode {node} disappeared (session expired?)"
                )));
            };
            if position == 0 {
                info!(node = %node, "elected leader");
                let node = candidacy.into_node();
                return Ok(Leadership::new(ZkLeadership::start(
                    self.client.clone(),
                    session,
                    node,
                )));
            }
            let predecessor = format!("{}/{}", self.path, contenders[position - 1]);
            if watching.as_ref() != Some(&(predecessor.clone(), epoch)) {
                let (path, notify) = (predecessor.clone(), notify.clone());
                let exists = session
                    .call("exists", self.client.deadline(), |zk| async move {
                        zk.exists_w(&path, move |_| notify.notify_one()).await
                    })
                    .await;
                match exists {
                    Ok(Ok(Some(_))) => watching = Some((predecessor.clone(), epoch)),
                    // Gone already: look again at once.
                    Ok(Ok(None)) => continue,
                    Ok(Err(e)) => return Err(unexpected("exists", &predecessor, e)),
                    Err(_) => continue,
                }
                debug!(node = %node, predecessor = %predecessor, "waiting for predecessor");
            }
            tokio::select! {
                _ = notify.notified() => watching = None,
                _ = session.changed(epoch) => watching = None,
                _ = sleep(POLL) => {}
            }
        }
    }
}

/// The `json.info_` children of `path`, lowest sequence first.
async fn contenders(session: &Session, client: &ZkClient, path: &str) -> Result<Vec<String>> {
    let owned = path.to_string();
    let children = session
        .call("getChildren", client.deadline(), |zk| async move {
            zk.get_children(&owned, false).await
        })
        .await?;
    let mut children = match children {
        Ok(children) => children,
        Err(ZkError::NoNode) => Vec::new(),
        Err(e) => return Err(unexpected("getChildren", path, e)),
    };
    children.retain(|c| c.starts_with(LEADER_PREFIX));
    // Sequence numbers are zero-padded to 10 digits, so this is numeric order too (and the
    // order real Mesos clients use: they take the lexicographic minimum).
    children.sort();
    Ok(children)
}

// === ZkLeadership ===

struct ZkLeadership {
    client: Arc<ZkClient>,
    session: Arc<Session>,
    node: String,
    lost: watch::Receiver<bool>,
    monitor: JoinHandle<()>,
}

impl ZkLeadership {
    fn start(client: Arc<ZkClient>, session: Arc<Session>, node: String) -> ZkLeadership {
        let (lost_tx, lost) = watch::channel(false);
        let monitor = tokio::spawn(watch_leadership(
            client.clone(),
            session.clone(),
            node.clone(),
            lost_tx,
        ));
        ZkLeadership {
            client,
            session,
            node,
            lost,
            monitor,
        }
    }
}

/// Marks leadership lost when the session is lost or the leader's znode disappears.
async fn watch_leadership(
    client: Arc<ZkClient>,
    session: Arc<Session>,
    node: String,
    lost: watch::Sender<bool>,
) {
    tokio::select! {
        // Raced against everything else: a call stuck on an unreachable server must not
        // delay stepping down.
        _ = session.lost() => warn!(node = %node, "zookeeper session lost: leadership lost"),
        _ = watch_node(&client, &session, &node) => {
            warn!(node = %node, "leader znode deleted: leadership lost");
        }
    }
    lost.send_replace(true);
}

/// Resolves when `node` no longer exists.
async fn watch_node(client: &ZkClient, session: &Session, node: &str) {
    let notify = Arc::new(Notify::new());
    let mut armed_epoch = None;
    loop {
        let epoch = session.epoch();
        let (path, fire) = (node.to_string(), notify.clone());
        let arm = armed_epoch != Some(epoch);
        let exists = session
            .call("exists", client.deadline(), |zk| async move {
                if arm {
                    zk.exists_w(&path, move |_| fire.notify_one()).await
                } else {
                    zk.exists(&path, false).await
                }
            })
            .await;
        match exists {
            Ok(Ok(Some(_))) if arm => armed_epoch = Some(epoch),
            Ok(Ok(Some(_))) => {}
            Ok(Ok(None)) => return,
            // Unavailable or odd answers: the session's own loss decides.
            _ => {}
        }
        tokio::select! {
            _ = notify.notified() => armed_epoch = None,
            _ = sleep(POLL) => {}
        }
    }
}

#[async_trait]
impl LeadershipHandle for ZkLeadership {
    async fn lost(&self) {
        let mut lost = self.lost.clone();
        let _ = lost.wait_for(|l| *l).await;
    }
}

impl Drop for ZkLeadership {
    fn drop(&mut self) {
        self.monitor.abort();
        info!(node = %self.node, "resigning leadership");
        withdraw(&self.client, &self.session, std::mem::take(&mut self.node));
    }
}

// === ZkDetector ===

/// Follows the leader: the data of the lowest `json.info_` child of `<path>`.
pub(crate) struct ZkDetector {
    leader: Arc<watch::Sender<Option<Vec<u8>>>>,
    task: JoinHandle<()>,
}

impl ZkDetector {
    /// A detector on its own session, for processes that only follow the leader.
    pub(crate) fn start(url: &str, options: ZkOptions) -> Result<ZkDetector> {
        let url = ZkUrl::parse(url)?;
        let client = Arc::new(ZkClient::new(url.servers, options));
        Ok(ZkDetector::spawn(client, url.path))
    }

    pub(crate) fn spawn(client: Arc<ZkClient>, path: String) -> ZkDetector {
        let leader = Arc::new(watch::Sender::new(None));
        let task = tokio::spawn(follow(client, path, leader.clone()));
        ZkDetector { leader, task }
    }
}

impl Drop for ZkDetector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LeaderDetector for ZkDetector {
    fn leader(&self) -> watch::Receiver<Option<Vec<u8>>> {
        self.leader.subscribe()
    }
}

fn publish(leader: &watch::Sender<Option<Vec<u8>>>, now: Option<Vec<u8>>) {
    leader.send_if_modified(|current| {
        if *current == now {
            return false;
        }
        match &now {
            Some(info) => info!(leader = %String::from_utf8_lossy(info), "leader detected"),
            None => info!("no leader"),
        }
        *current = now;
        true
    });
}

async fn follow(client: Arc<ZkClient>, path: String, leader: Arc<watch::Sender<Option<Vec<u8>>>>) {
    let notify = Arc::new(Notify::new());
    // (session, epoch) the watches are armed for.
    let mut armed: Option<(u64, u64)> = None;
    loop {
        let session = match client.session(client.deadline()).await {
            Ok(session) => session,
            Err(e) => {
                // Unreachable: the last leader stands while the session may still resume;
                // once it is lost (or there never was one) there is no known leader.
                if client.live_session().await.is_none() {
                    publish(&leader, None);
                }
                debug!(error = %e, "leader detector cannot reach zookeeper");
                sleep(POLL / 4).await;
                continue;
            }
        };
        let epoch = session.epoch();
        let arm = armed != Some((session.id(), epoch));
        let read = tokio::select! {
            read = read_leader(&session, &client, &path, arm.then(|| notify.clone())) => read,
            _ = session.lost() => {
                publish(&leader, None);
                armed = None;
                continue;
            }
        };
        match read {
            Ok(now) => {
                if arm {
                    armed = Some((session.id(), epoch));
                }
                publish(&leader, now);
            }
            Err(Error::Unavailable(_)) => {}
            Err(e) => warn!(error = %e, "leader detector"),
        }
        tokio::select! {
            _ = notify.notified() => armed = None,
            _ = session.lost() => {
                publish(&leader, None);
                armed = None;
            }
            _ = session.changed(epoch) => armed = None,
            _ = sleep(POLL) => {}
        }
    }
}

/// The lowest contender's data; with `notify`, also arms watches on the children of `path`
/// and on that contender.
async fn read_leader(
    session: &Session,
    client: &ZkClient,
    path: &str,
    notify: Option<Arc<Notify>>,
) -> Result<Option<Vec<u8>>> {
    // A contender can vanish between the listing and the read: list again (bounded).
    for _ in 0..10 {
        let (owned, fire) = (path.to_string(), notify.clone());
        let children = session
            .call("getChildren", client.deadline(), |zk| async move {
                match fire {
                    Some(fire) => zk.get_children_w(&owned, move |_| fire.notify_one()).await,
                    None => zk.get_children(&owned, false).await,
                }
            })
            .await?;
        let mut children = match children {
            Ok(children) => children,
            Err(ZkError::NoNode) => return Ok(None),
            Err(e) => return Err(unexpected("getChildren", path, e)),
        };
        children.retain(|c| c.starts_with(LEADER_PREFIX));
        let Some(lowest) = children.into_iter().min() else {
            return Ok(None);
        };
        let (node, fire) = (format!("{path}/{lowest}"), notify.clone());
        let data = session
            .call("getData", client.deadline(), |zk| async move {
                match fire {
                    Some(fire) => zk.get_data_w(&node, move |_| fire.notify_one()).await,
                    None => zk.get_data(&node, false).await,
                }
            })
            .await?;
        match data {
            Ok((data, _)) => return Ok(Some(data)),
            Err(ZkError::NoNode) => continue,
            Err(e) => return Err(unexpected("getData", path, e)),
        }
    }
    Ok(None)
}
