//! The master actor: one task owns the [`MasterCore`] and reads a closed set
//! of [`MasterEvent`]s from a channel. HTTP and gRPC handlers validate input,
//! send an event with a oneshot reply, and map the answer to a response.

use std::time::Duration;

use strata_api::{AgentId, FrameworkId};
use strata_proto::internal::{self, agent_message::Body as FromAgent};
use strata_proto::v1;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::debug;

use crate::core::{AgentSink, ApiError, EventSink, MasterCore, Subscribed};
use crate::state_json;

/// What the HTTP and gRPC fronts ask of the master.
pub enum MasterEvent {
    /// A SUBSCRIBE call; the reply carries the framework id and stream id.
    Subscribe {
        /// The decoded call.
        call: v1::SchedulerCall,
        /// Where the framework's events go.
        sink: EventSink,
        /// The outcome.
        reply: oneshot::Sender<Result<Subscribed, ApiError>>,
    },
    /// Any other scheduler call.
    Call {
        /// The `Mesos-Stream-Id` header.
        stream_id: String,
        /// The decoded call.
        call: v1::SchedulerCall,
        /// The outcome.
        reply: oneshot::Sender<Result<(), ApiError>>,
    },
    /// A framework's event stream ended.
    FrameworkDisconnected {
        /// Whose stream.
        framework_id: FrameworkId,
        /// Which stream (a newer one may already have replaced it).
        stream_id: String,
    },
    /// An agent opened a link and registered.
    AgentRegister {
        /// Its registration.
        register: internal::Register,
        /// Where its commands go.
        sink: AgentSink,
        /// Its id and the link's session number, or why it was refused.
        reply: oneshot::Sender<Result<(AgentId, u64), String>>,
    },
    /// A message on an agent's link.
    AgentMessage {
        /// From whom.
        agent_id: AgentId,
        /// On which link.
        session: u64,
        /// What.
        message: internal::AgentMessage,
    },
    /// An agent's link ended.
    AgentDisconnected {
        /// Whose link.
        agent_id: AgentId,
        /// Which link.
        session: u64,
    },
    /// An operator event subscription: a snapshot now, events afterwards.
    OperatorSubscribe {
        /// True for the whole `/master/state` as the snapshot (operator
        /// API), false for the UI overview (browsers).
        full_state: bool,
        /// The snapshot and the event stream.
        reply: oneshot::Sender<(
            serde_json::Value,
            mpsc::Receiver<std::sync::Arc<serde_json::Value>>,
        )>,
    },
    /// A read-only query, answered as JSON.
    Query {
        /// What to render.
        query: Query,
        /// The rendering.
        reply: oneshot::Sender<serde_json::Value>,
    },
}

/// Read-only views of the master, for operator endpoints and the UI.
#[derive(Debug, Clone)]
pub enum Query {
    /// `/master/state`
    State,
    /// `/master/slaves`
    Slaves,
    /// `/master/frameworks`
    Frameworks,
    /// `/master/tasks`
    Tasks,
    /// `/metrics/snapshot`
    Metrics,
    /// `/api/v1/ui/overview`
    UiOverview,
    /// `/api/v1/ui/tasks`
    UiTasks(crate::ui_json::PageQuery),
    /// `/api/v1/ui/agents`
    UiAgents(crate::ui_json::PageQuery),
    /// `/api/v1/ui/offers`
    UiOffers,
    /// `/api/v1/ui/tasks/{framework}/{task}` (null when unknown)
    UiTask(String, String),
    /// An agent's HTTP endpoint (null when unknown)
    AgentEndpoint(String),
}

/// A cheap, cloneable way to talk to the master actor.
#[derive(Clone)]
pub struct MasterHandle {
    tx: mpsc::UnboundedSender<MasterEvent>,
}

impl MasterHandle {
    /// Sends an event; false if the master has stopped.
    pub fn send(&self, ev: MasterEvent) -> bool {
        self.tx.send(ev).is_ok()
    }

    /// Runs a query.
    pub async fn query(&self, query: Query) -> Option<serde_json::Value> {
        let (reply, rx) = oneshot::channel();
        self.send(MasterEvent::Query { query, reply });
        rx.await.ok()
    }
}

/// How often the actor wakes for heartbeats and timeouts.
const TICK: Duration = Duration::from_millis(100);

/// Starts the actor on the current runtime.
pub fn spawn(core: MasterCore, allocation_interval: Duration) -> MasterHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(core, rx, allocation_interval));
    MasterHandle { tx }
}

async fn run(
    mut core: MasterCore,
    mut rx: mpsc::UnboundedReceiver<MasterEvent>,
    allocation_interval: Duration,
) {
    let start = Instant::now();
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_allocation = Duration::ZERO;
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { break };
                handle(&mut core, start.elapsed(), ev);
                // Drain whatever else is queued before allocating, so a burst
                // of calls produces one round of offers.
                let mut n = 0;
                while n < 1024 {
                    match rx.try_recv() {
                        Ok(ev) => handle(&mut core, start.elapsed(), ev),
                        Err(_) => break,
                    }
                    n += 1;
                }
            }
            _ = ticker.tick() => {
                let now = start.elapsed();
                core.tick(now);
                // Filters expire with time alone, so allocate periodically too.
                if now.saturating_sub(last_allocation) >= allocation_interval {
                    core.allocation_pending = true;
                }
            }
        }
        if core.allocation_pending {
            let now = start.elapsed();
            core.allocate(now);
            last_allocation = now;
        }
    }
    debug!("master actor stopped");
}

fn handle(core: &mut MasterCore, now: Duration, ev: MasterEvent) {
    match ev {
        MasterEvent::Subscribe { call, sink, reply } => {
            let _ = reply.send(core.subscribe(now, call, sink));
        }
        MasterEvent::Call {
            stream_id,
            call,
            reply,
        } => {
            let _ = reply.send(core.scheduler_call(now, &stream_id, call));
        }
        MasterEvent::FrameworkDisconnected {
            framework_id,
            stream_id,
        } => {
            core.framework_disconnected(now, &framework_id, &stream_id);
        }
        MasterEvent::AgentRegister {
            register,
            sink,
            reply,
        } => {
            let session = core.new_session();
            let r = core
                .register_agent(now, register, session, sink)
                .map(|id| (id, session));
            let _ = reply.send(r);
        }
        MasterEvent::AgentMessage {
            agent_id,
            session,
            message,
        } => {
            if !core.agent_seen(now, &agent_id, session) {
                return;
            }
            match message.body {
                Some(FromAgent::Heartbeat(_)) | None => {}
                Some(FromAgent::StatusUpdate(u)) => core.status_update(now, &agent_id, u),
                Some(FromAgent::ExecutorExited(e)) => core.executor_exited(&agent_id, e),
                Some(FromAgent::FrameworkMessage(m)) => core.framework_message(&agent_id, m),
                Some(FromAgent::Register(_)) => {}
            }
        }
        MasterEvent::AgentDisconnected { agent_id, session } => {
            core.agent_disconnected(now, &agent_id, session);
        }
        MasterEvent::OperatorSubscribe { full_state, reply } => {
            let snapshot = if full_state {
                state_json::state(core, now)
            } else {
                crate::ui_json::overview(core, now)
            };
            let rx = core.events.subscribe();
            let _ = reply.send((snapshot, rx));
        }
        MasterEvent::Query { query, reply } => {
            let v = match query {
                Query::State => state_json::state(core, now),
                Query::Slaves => state_json::slaves(core),
                Query::Frameworks => state_json::frameworks(core),
                Query::Tasks => state_json::tasks(core),
                Query::Metrics => state_json::metrics(core, now),
                Query::UiOverview => crate::ui_json::overview(core, now),
                Query::UiTasks(q) => crate::ui_json::tasks(core, &q),
                Query::UiAgents(q) => crate::ui_json::agents(core, &q),
                Query::UiOffers => crate::ui_json::offers(core, now),
                Query::UiTask(f, t) => {
                    crate::ui_json::task_detail(core, &f, &t).unwrap_or_default()
                }
                Query::AgentEndpoint(a) => crate::ui_json::agent_endpoint(core, &a)
                    .map(serde_json::Value::String)
                    .unwrap_or_default(),
            };
            let _ = reply.send(v);
        }
    }
}
