//! The agent's end of the `AgentLink` stream: connect, register, relay, and
//! reconnect with backoff whenever the stream breaks.

use std::time::Duration;

use strata_proto::internal::agent_link::agent_link_client::AgentLinkClient;
use strata_proto::internal::{agent_message, master_message, AgentMessage};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tracing::{info, warn};

use crate::actor::{AgentEvent, AgentHandle};

/// Turns `host:port` or `http://host:port` into a URI tonic accepts.
pub fn master_uri(master: &str) -> String {
    let m = master.trim().trim_end_matches('/');
    if m.starts_with("http://") || m.starts_with("https://") {
        m.to_owned()
    } else {
        format!("http://{m}")
    }
}

/// Where the master is: a fixed address, or whoever leads according to
/// ZooKeeper (`zk://host:port/path`, the way Mesos agents find their master).
enum MasterLocation {
    Fixed(String),
    /// The detector must stay alive for its receiver to keep updating.
    Detected {
        _detector: std::sync::Arc<dyn strata_store::LeaderDetector>,
        leader: tokio::sync::watch::Receiver<Option<Vec<u8>>>,
    },
}

impl MasterLocation {
    /// The current master's `host:port`, waiting up to `patience` for a leader.
    async fn current(&mut self, patience: Duration) -> Result<String, String> {
        match self {
            MasterLocation::Fixed(m) => Ok(m.clone()),
            MasterLocation::Detected { leader: rx, .. } => {
                let wait = rx.wait_for(|l| l.is_some());
                let info = match tokio::time::timeout(patience, wait).await {
                    Ok(Ok(info)) => info.clone().unwrap_or_default(),
                    _ => return Err("no leading master in ZooKeeper yet".into()),
                };
                leader_address(&info)
                    .ok_or_else(|| "the leader's MasterInfo has no address".to_string())
            }
        }
    }
}

/// `ip:port` from a MasterInfo JSON document.
pub fn leader_address(info: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(info).ok()?;
    let ip = v["address"]["ip"].as_str()?;
    let port = v["address"]["port"].as_u64()?;
    Some(format!("{ip}:{port}"))
}

/// Runs the link forever on the current runtime.
pub fn spawn(master: String, handle: AgentHandle) {
    tokio::spawn(async move {
        let mut location = if master.starts_with("zk://") {
            match strata_store::detector(&master).await {
                Ok(d) => {
                    let rx = d.leader();
                    MasterLocation::Detected {
                        _detector: d,
                        leader: rx,
                    }
                }
                Err(e) => {
                    tracing::error!(%master, error = %e, "cannot follow the master through ZooKeeper");
                    return;
                }
            }
        } else {
            MasterLocation::Fixed(master.clone())
        };
        let mut backoff = Duration::from_millis(100);
        loop {
            let target = match location.current(Duration::from_secs(5)).await {
                Ok(t) => t,
                Err(e) => {
                    warn!(%master, error = %e, "no master to register with yet");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            match run_once(&target, &handle).await {
                Ok(()) => {
                    warn!(master = %target, "link to master closed; reconnecting");
                    backoff = Duration::from_millis(100);
                }
                Err(e) => {
                    warn!(master = %target, error = %e, "cannot reach master; retrying in {backoff:?}");
                }
            }
            handle.send(AgentEvent::LinkDown);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    });
}

async fn run_once(master: &str, handle: &AgentHandle) -> Result<(), String> {
    let channel = tonic::transport::Endpoint::from_shared(master_uri(master))
        .map_err(|e| format!("invalid master address {master:?}: {e}"))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut client = AgentLinkClient::new(channel);
    let (reply, rx) = oneshot::channel();
    if !handle.send(AgentEvent::BuildRegister { reply }) {
        return Err("agent stopped".into());
    }
    let register = rx.await.map_err(|_| "agent stopped".to_string())?;
    let (tx, outbound) = mpsc::unbounded_channel::<AgentMessage>();
    let _ = tx.send(AgentMessage::of(agent_message::Body::Register(register)));
    let response = client
        .connect(UnboundedReceiverStream::new(outbound))
        .await
        .map_err(|e| format!("register: {}", e.message()))?;
    let mut inbound = response.into_inner();
    let mut up = false;
    loop {
        match inbound.message().await {
            Ok(Some(msg)) => {
                if !up {
                    if let Some(master_message::Body::Registered(r)) = &msg.body {
                        info!(agent_id = ?r.agent_id.as_ref().map(|a| &a.value), "registered with master");
                        up = true;
                        handle.send(AgentEvent::LinkUp { tx: tx.clone() });
                    }
                }
                handle.send(AgentEvent::Master(msg));
            }
            Ok(None) => return Ok(()),
            Err(e) => return Err(format!("stream: {}", e.message())),
        }
    }
}
