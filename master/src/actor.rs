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
            mpsc::Receiver<std::sync::Arc<crate::events::SharedEvent>>,
        )>,
    },
    /// An operator change or read of role weights and quota.
    Admin {
        /// What to do.
        op: crate::roles_http::AdminOp,
        /// The result, after any change is durable.
        reply: oneshot::Sender<Result<serde_json::Value, ApiError>>,
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
    UiOffers(crate::ui_json::PageQuery),
    /// `/api/v1/ui/frameworks`
    UiFrameworks(crate::ui_json::PageQuery),
    /// `/api/v1/ui/roles`
    UiRoles(crate::ui_json::PageQuery),
    /// `/api/v1/ui/tasks/{framework}/{task}` (null when unknown)
    UiTask(String, String),
    /// An agent's HTTP endpoint (null when unknown)
    AgentEndpoint(String),
}

/// The channel into a running master actor.
pub type ActorSender = mpsc::UnboundedSender<MasterEvent>;

/// A cheap, cloneable way to talk to whichever master actor currently runs in
/// this process. While this master does not lead there is none, and sends fail.
#[derive(Clone)]
pub struct MasterHandle {
    current: tokio::sync::watch::Receiver<Option<ActorSender>>,
}

impl MasterHandle {
    /// A handle that follows `current`.
    pub fn new(current: tokio::sync::watch::Receiver<Option<ActorSender>>) -> Self {
        Self { current }
    }

    /// A handle to one actor, for tests.
    pub fn fixed(tx: ActorSender) -> Self {
        let (keep, rx) = tokio::sync::watch::channel(Some(tx));
        // The sender must outlive every receiver; a test actor lives for the process.
        std::mem::forget(keep);
        Self { current: rx }
    }

    /// True while an actor runs (this master leads).
    pub fn leading(&self) -> bool {
        self.current
            .borrow()
            .as_ref()
            .is_some_and(|tx| !tx.is_closed())
    }

    /// Sends an event; false if no actor runs (not leading, or stopped).
    pub fn send(&self, ev: MasterEvent) -> bool {
        match &*self.current.borrow() {
            Some(tx) => tx.send(ev).is_ok(),
            None => false,
        }
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

/// Where the actor makes registry changes durable (`None`: nowhere, for tests).
pub type RegistryStore = Option<std::sync::Arc<dyn strata_store::Store>>;

/// Starts an actor without a store (tests).
pub fn spawn(core: MasterCore, allocation_interval: Duration) -> MasterHandle {
    let (tx, _done) = spawn_with_store(core, allocation_interval, None);
    MasterHandle::fixed(tx)
}

/// Starts the actor on the current runtime. The returned receiver completes
/// with the reason when the actor stops: every sender is gone, or a registry
/// write failed (then this master must stop leading).
pub fn spawn_with_store(
    core: MasterCore,
    allocation_interval: Duration,
    store: RegistryStore,
) -> (ActorSender, oneshot::Receiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (done_tx, done_rx) = oneshot::channel();
    tokio::spawn(async move {
        let why = run(core, rx, allocation_interval, store).await;
        let _ = done_tx.send(why);
    });
    (tx, done_rx)
}

/// Makes the core's pending registry changes durable. A failure means the
/// master can no longer guarantee what it acknowledges: it must step down.
async fn flush_registry(core: &mut MasterCore, store: &RegistryStore) -> Result<(), String> {
    let ops = std::mem::take(&mut core.registry_ops);
    let Some(store) = store else { return Ok(()) };
    for op in &ops {
        let write = crate::registry::apply(store.as_ref(), op);
        match tokio::time::timeout(Duration::from_secs(10), write).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("registry write failed: {e}")),
            Err(_) => return Err("registry write timed out after 10s".into()),
        }
    }
    Ok(())
}

/// A reply held back until the registry changes of its event are durable.
type Deferred = Box<dyn FnOnce() + Send>;

async fn run(
    mut core: MasterCore,
    mut rx: mpsc::UnboundedReceiver<MasterEvent>,
    allocation_interval: Duration,
    store: RegistryStore,
) -> String {
    let start = Instant::now();
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_allocation = Duration::ZERO;
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { break };
                let mut deferred: Vec<Deferred> = handle(&mut core, start.elapsed(), ev).into_iter().collect();
                // Drain whatever else is queued before allocating, so a burst
                // of calls produces one round of offers.
                let mut n = 0;
                while n < 1024 {
                    match rx.try_recv() {
                        Ok(ev) => deferred.extend(handle(&mut core, start.elapsed(), ev)),
                        Err(_) => break,
                    }
                    n += 1;
                }
                // Answers wait until what they acknowledge is durable.
                if let Err(why) = flush_registry(&mut core, &store).await {
                    tracing::error!(error = %why, "the registry cannot be written: stepping down");
                    return why;
                }
                for reply in deferred {
                    reply();
                }
            }
            _ = ticker.tick() => {
                let now = start.elapsed();
                core.tick(now);
                crate::ui_json::sample_roles(&mut core, now);
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
    "every handle was dropped".into()
}

fn handle(core: &mut MasterCore, now: Duration, ev: MasterEvent) -> Option<Deferred> {
    match ev {
        MasterEvent::Subscribe { call, sink, reply } => {
            let r = core.subscribe(now, call, sink);
            return Some(Box::new(move || {
                let _ = reply.send(r);
            }));
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
            return Some(Box::new(move || {
                let _ = reply.send(r);
            }));
        }
        MasterEvent::AgentMessage {
            agent_id,
            session,
            message,
        } => {
            if !core.agent_seen(now, &agent_id, session) {
                return None;
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
                crate::ui_json::subscribed_overview(core, now)
            };
            let rx = core.events.subscribe();
            let _ = reply.send((snapshot, rx));
        }
        MasterEvent::Admin { op, reply } => {
            let r = crate::roles_http::apply(core, op);
            return Some(Box::new(move || {
                let _ = reply.send(r);
            }));
        }
        MasterEvent::Query { query, reply } => {
            let v = match query {
                Query::State => state_json::state(core, now),
                Query::Slaves => state_json::slaves(core),
                Query::Frameworks => state_json::frameworks(core, now),
                Query::Tasks => state_json::tasks(core),
                Query::Metrics => state_json::metrics(core, now),
                Query::UiOverview => crate::ui_json::overview_cached(core, now),
                Query::UiTasks(q) => crate::ui_json::tasks(core, &q),
                Query::UiAgents(q) => crate::ui_json::agents(core, &q),
                Query::UiOffers(q) => crate::ui_json::offers(core, now, &q),
                Query::UiFrameworks(q) => crate::ui_json::frameworks(core, now, &q),
                Query::UiRoles(q) => crate::ui_json::roles(core, now, &q),
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
    None
}
