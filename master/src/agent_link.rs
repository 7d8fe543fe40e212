//! The master's side of the internal `AgentLink` gRPC stream.

use std::pin::Pin;

use futures::Stream;
use strata_proto::internal::{
    agent_link::agent_link_server::AgentLink, agent_message, AgentMessage, MasterMessage,
};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};
use tracing::warn;

use crate::actor::{MasterEvent, MasterHandle};

/// Serves agent links by handing them to the master actor.
#[derive(Clone)]
pub struct AgentLinkService {
    handle: MasterHandle,
}

impl AgentLinkService {
    /// A service feeding `handle`.
    pub fn new(handle: MasterHandle) -> Self {
        Self { handle }
    }
}

type MasterStream = Pin<Box<dyn Stream<Item = Result<MasterMessage, Status>> + Send>>;

#[tonic::async_trait]
impl AgentLink for AgentLinkService {
    type ConnectStream = MasterStream;

    async fn connect(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<MasterStream>, Status> {
        let mut inbound = request.into_inner();
        let first = inbound
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("the link closed before registering"))?;
        let Some(agent_message::Body::Register(register)) = first.body else {
            return Err(Status::invalid_argument(
                "the first message on a link must be Register",
            ));
        };
        let (sink, outbound) = mpsc::unbounded_channel();
        let (reply, rx) = oneshot::channel();
        if !self.handle.send(MasterEvent::AgentRegister {
            register,
            sink,
            reply,
        }) {
            return Err(Status::unavailable("this master is not the leader"));
        }
        let (agent_id, session) = rx
            .await
            .map_err(|_| Status::unavailable("this master stopped leading"))?
            .map_err(Status::invalid_argument)?;
        let handle = self.handle.clone();
        tokio::spawn(async move {
            loop {
                match inbound.message().await {
                    Ok(Some(message)) => {
                        handle.send(MasterEvent::AgentMessage {
                            agent_id: agent_id.clone(),
                            session,
                            message,
                        });
                    }
                    Ok(None) => break,
                    Err(e) => {
                        warn!(agent_id = %agent_id, error = %e, "agent link failed");
                        break;
                    }
                }
            }
            handle.send(MasterEvent::AgentDisconnected { agent_id, session });
        });
        let stream = UnboundedReceiverStream::new(outbound).map(Ok);
        Ok(Response::new(Box::pin(stream)))
    }
}
