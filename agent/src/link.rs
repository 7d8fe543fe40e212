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

/// Runs the link forever on the current runtime.
pub fn spawn(master: String, handle: AgentHandle) {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            match run_once(&master, &handle).await {
                Ok(()) => {
                    warn!(%master, "link to master closed; reconnecting");
                    backoff = Duration::from_millis(100);
                }
                Err(e) => {
                    warn!(%master, error = %e, "cannot reach master; retrying in {backoff:?}");
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
