//! The master's state machine: agents, frameworks, tasks and offers.
//!
//! [`MasterCore`] does no I/O and reads no clock. Every method takes the
//! current time as an argument; its only effects are messages pushed into the
//! channels of connected frameworks and agents (which never block). The actor
//! in `actor.rs` owns one `MasterCore`, feeds it events, and runs the
//! allocator when `allocation_pending` is set.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use strata_api::{
    AgentId, DetailedResources, ExecutorId, FrameworkId, OfferId, Resources, RoleResources, TaskId,
    TaskState,
};
use strata_master_allocator::{Allocator, AllocatorConfig};
use strata_proto::convert::{detailed_from_wire, task_state_from_wire, task_state_to_wire};
use strata_proto::internal::{self, master_message::Body as ToAgent};
use strata_proto::v1;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

#[path = "reservations.rs"]
pub mod reservations;

use self::reservations::{detailed_of, AgentResources};

/// Time since the master started. Pure code never reads a clock.
pub type Time = Duration;

/// Where a framework's events go (the body of its SUBSCRIBE response).
pub type EventSink = mpsc::UnboundedSender<v1::SchedulerEvent>;
/// Where an agent's commands go (its half of the AgentLink stream).
pub type AgentSink = mpsc::UnboundedSender<internal::MasterMessage>;

/// Tunables of the master core. `CoreConfig::default()` is Mesos's defaults.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// The master's id, used as a prefix for agent, framework and offer ids.
    pub master_id: String,
    /// Advertised hostname.
    pub hostname: String,
    /// Advertised IPv4 address.
    pub ip: std::net::Ipv4Addr,
    /// Advertised port.
    pub port: u16,
    /// Wall-clock time (seconds since the epoch) at `Time::ZERO`.
    pub start_unix: f64,
    /// How often frameworks get a HEARTBEAT event.
    pub framework_heartbeat_interval: Duration,
    /// How often agents must heartbeat.
    pub agent_ping_timeout: Duration,
    /// How many heartbeat intervals an agent may miss before it is unreachable.
    pub max_agent_ping_timeouts: u32,
    /// Outstanding offers are rescinded after this long (never when `None`).
    pub offer_timeout: Option<Duration>,
    /// Filter applied to unused resources when ACCEPT or DECLINE carries none.
    pub default_refuse: Duration,
    /// Completed tasks kept per framework for `/master/state`.
    pub max_completed_tasks_per_framework: usize,
    /// Removed frameworks kept for `/master/state`.
    pub max_completed_frameworks: usize,
    /// `--min_allocatable_resources` (empty: the allocator's defaults).
    pub min_allocatable_resources: Vec<Resources>,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            master_id: "master".into(),
            hostname: "127.0.0.1".into(),
            ip: std::net::Ipv4Addr::LOCALHOST,
            port: 5050,
            start_unix: 0.0,
            framework_heartbeat_interval: Duration::from_secs(15),
            agent_ping_timeout: Duration::from_secs(15),
            max_agent_ping_timeouts: 5,
            offer_timeout: None,
            default_refuse: Duration::from_secs(5),
            max_completed_tasks_per_framework: 1000,
            max_completed_frameworks: 50,
            min_allocatable_resources: Vec::new(),
        }
    }
}

/// An error answered to an HTTP caller: a status code and a message naming
/// the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status code (400, 403, 404, ...).
    pub status: u16,
    /// Lower-case message naming the problem.
    pub message: String,
}

impl ApiError {
    /// A 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            message: message.into(),
        }
    }

    /// A 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self {
            status: 403,
            message: message.into(),
        }
    }
}

// === model ===

/// A connected or failing-over framework.
#[derive(Debug)]
pub enum FrameworkConn {
    /// Subscribed; events flow to `sink`.
    Connected {
        /// The `Mesos-Stream-Id` of the live subscription.
        stream_id: String,
        /// The event stream.
        sink: EventSink,
        /// When the last HEARTBEAT event was sent.
        last_heartbeat: Time,
    },
    /// Disconnected; removed at `failover_deadline` unless it re-subscribes.
    Disconnected {
        /// When the stream ended.
        since: Time,
        /// When the framework is removed.
        failover_deadline: Time,
    },
}

/// A task as the master tracks it.
#[derive(Debug, Clone)]
pub struct Task {
    /// The task's id.
    pub id: TaskId,
    /// Its framework.
    pub framework_id: FrameworkId,
    /// The agent it was launched on.
    pub agent_id: AgentId,
    /// The custom executor it runs under, if any.
    pub executor_id: Option<ExecutorId>,
    /// The TaskInfo as launched.
    pub info: v1::TaskInfo,
    /// Resources charged for the task (without its executor's).
    pub resources: Resources,
    /// The latest known state.
    pub state: TaskState,
    /// The state of the latest acknowledged update.
    pub status_update_state: Option<TaskState>,
    /// State history: `(state, unix timestamp)`.
    pub statuses: Vec<(TaskState, f64)>,
    /// The latest status received (for reconciliation).
    pub last_status: Option<v1::TaskStatus>,
    /// Updates forwarded and not yet acknowledged: `(uuid, state)`.
    pub unacked: Vec<(Vec<u8>, TaskState)>,
    /// The role its resources were allocated to.
    pub role: String,
}

/// A custom executor running on an agent, charged to its framework.
#[derive(Debug, Clone)]
pub struct Executor {
    /// The executor's info.
    pub info: v1::ExecutorInfo,
    /// Resources charged for it.
    pub resources: Resources,
    /// The role its resources were allocated to.
    pub role: String,
}

/// A framework as the master tracks it.
#[derive(Debug)]
pub struct Framework {
    /// Its id.
    pub id: FrameworkId,
    /// Its FrameworkInfo, with `id` set.
    pub info: v1::FrameworkInfo,
    /// Connection state.
    pub conn: FrameworkConn,
    /// First registration (unix seconds).
    pub registered_time: f64,
    /// Latest re-registration (unix seconds).
    pub reregistered_time: Option<f64>,
    /// When it last disconnected (unix seconds).
    pub unregistered_time: Option<f64>,
    /// Tasks not yet removed (running, or terminal awaiting acknowledgement).
    pub tasks: HashMap<TaskId, Task>,
    /// Removed tasks, newest last, bounded.
    pub completed_tasks: VecDeque<Task>,
    /// Its outstanding offers.
    pub offers: HashSet<OfferId>,
    /// Its custom executors.
    pub executors: HashMap<(AgentId, ExecutorId), Executor>,
    /// Whether it asked for no offers (SUPPRESS).
    pub suppressed: bool,
}

impl Framework {
    /// True when the framework declared the PARTITION_AWARE capability.
    pub fn partition_aware(&self) -> bool {
        has_capability(&self.info, v1::FrameworkCapabilityType::PartitionAware)
    }

    /// True when the framework has a live subscription.
    pub fn connected(&self) -> bool {
        matches!(self.conn, FrameworkConn::Connected { .. })
    }

    fn sink(&self) -> Option<&EventSink> {
        match &self.conn {
            FrameworkConn::Connected { sink, .. } => Some(sink),
            FrameworkConn::Disconnected { .. } => None,
        }
    }
}

fn has_capability(info: &v1::FrameworkInfo, cap: v1::FrameworkCapabilityType) -> bool {
    info.capabilities
        .iter()
        .any(|c| c.r#type == Some(cap as i32))
}

/// The state of an agent's link to the master.
#[derive(Debug)]
pub enum AgentLink {
    /// Connected: commands flow to `sink`.
    Connected {
        /// Distinguishes this stream from earlier ones of the same agent.
        session: u64,
        /// Commands to the agent.
        sink: AgentSink,
        /// The last heartbeat (or any message) from the agent.
        last_seen: Time,
    },
    /// The stream ended; the agent may come back before it is unreachable.
    Disconnected {
        /// When the stream ended.
        since: Time,
    },
    /// Missed too many heartbeats; its tasks were reported lost or unreachable.
    Unreachable {
        /// When it was marked unreachable (unix seconds).
        since_unix: f64,
    },
}

/// An agent as the master tracks it.
#[derive(Debug)]
pub struct Agent {
    /// Its id.
    pub id: AgentId,
    /// Its AgentInfo, with `id` set.
    pub info: v1::AgentInfo,
    /// Total resources, reserved or not.
    pub total: Resources,
    /// Its resources in detail: as configured, the dynamic reservations and
    /// persistent volumes made durable, and the total that results.
    pub resources: AgentResources,
    /// Base URL of its HTTP server.
    pub endpoint: String,
    /// What isolation it runs tasks under.
    pub isolation: String,
    /// Its version.
    pub version: String,
    /// First registration (unix seconds).
    pub registered_time: f64,
    /// Latest re-registration (unix seconds).
    pub reregistered_time: Option<f64>,
    /// Link state.
    pub link: AgentLink,
    /// Tasks on it.
    pub tasks: HashSet<(FrameworkId, TaskId)>,
}

impl Agent {
    /// True when connected and not unreachable.
    pub fn active(&self) -> bool {
        matches!(self.link, AgentLink::Connected { .. })
    }

    fn sink(&self) -> Option<&AgentSink> {
        match &self.link {
            AgentLink::Connected { sink, .. } => Some(sink),
            _ => None,
        }
    }

    /// `host:port` of the agent's HTTP server.
    pub fn host_port(&self) -> String {
        self.endpoint.trim_start_matches("http://").to_owned()
    }
}

/// An outstanding offer.
#[derive(Debug, Clone)]
pub struct Offer {
    /// Its id.
    pub id: OfferId,
    /// Whom it was made to.
    pub framework_id: FrameworkId,
    /// Where its resources are.
    pub agent_id: AgentId,
    /// What it holds.
    pub resources: Resources,
    /// When it is rescinded, if offers time out.
    pub expires_at: Option<Time>,
    /// The role the resources are allocated to.
    pub role: String,
    /// When it was made (the UI shows its age).
    pub made_at: Time,
}

/// A removed framework, kept for `/master/state`.
#[derive(Debug, Clone)]
pub struct CompletedFramework {
    /// Its id.
    pub id: FrameworkId,
    /// Its last FrameworkInfo.
    pub info: v1::FrameworkInfo,
    /// When it was removed (unix seconds).
    pub removed_time: f64,
    /// Its tasks, terminal.
    pub tasks: Vec<Task>,
}

/// Counters exposed on `/metrics/snapshot`.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    /// Tasks that reached each terminal state, cumulative.
    pub terminal_tasks: BTreeMap<TaskState, u64>,
    /// Offers made.
    pub offers_sent: u64,
    /// Offers declined.
    pub offers_declined: u64,
    /// Offers accepted.
    pub offers_accepted: u64,
    /// Offers rescinded.
    pub offers_rescinded: u64,
    /// Tasks launched.
    pub tasks_launched: u64,
    /// Status updates received from agents.
    pub status_updates: u64,
    /// Scheduler calls by type name.
    pub calls: BTreeMap<&'static str, u64>,
    /// Calls refused with 4xx.
    pub invalid_calls: u64,
    /// Agents that became unreachable.
    pub agents_unreachable: u64,
    /// Offer operations other than launches, by operation type name and
    /// outcome (`finished` or `error`).
    pub operations: BTreeMap<(&'static str, &'static str), u64>,
}

/// What SUBSCRIBE produced.
#[derive(Debug)]
pub enum Subscribed {
    /// A live subscription.
    Ok {
        /// The framework's id.
        framework_id: FrameworkId,
        /// The new `Mesos-Stream-Id`.
        stream_id: String,
    },
    /// The framework may not subscribe; an ERROR event was queued and the
    /// stream ends after it.
    Refused,
}

/// The master's whole state.
pub struct MasterCore {
    /// Configuration.
    pub config: CoreConfig,
    /// The allocator: it owns the fair-share policy.
    pub allocator: Allocator,
    /// Agents by id.
    pub agents: BTreeMap<AgentId, Agent>,
    /// Frameworks by id.
    pub frameworks: BTreeMap<FrameworkId, Framework>,
    /// Outstanding offers by id.
    pub offers: HashMap<OfferId, Offer>,
    /// Removed frameworks, newest last.
    pub completed_frameworks: VecDeque<CompletedFramework>,
    /// Ids of removed frameworks, which may never subscribe again.
    pub removed_frameworks: HashSet<FrameworkId>,
    /// Set when resources or frameworks changed and offers should be made.
    pub allocation_pending: bool,
    /// Registry changes to make durable before the current event is answered.
    pub registry_ops: Vec<crate::registry::RegistryOp>,
    /// Counters for metrics.
    pub counters: Counters,
    /// Operator event subscribers and the offer timeline.
    pub events: crate::events::EventBus,
    /// Since when each connected, unsuppressed framework has wanted offers
    /// in each of its roles without getting one (`/master/state`'s
    /// `starvation`); restarted by every offer in that role.
    pub wanting_since: BTreeMap<(FrameworkId, String), Time>,
    /// Outstanding offers that hold reservations or volumes, in detail;
    /// an offer not listed holds only unreserved resources.
    pub offer_details: HashMap<OfferId, DetailedResources>,
    next_agent: u64,
    next_framework: u64,
    next_offer: u64,
    next_session: u64,
}

/// Returns resources to the allocator in the role they were allocated to,
/// each part to the reservation it came from (the default role, which can
/// hold no reservations, keeps the allocator's exact role-less accounting).
fn give_back_to(
    allocator: &mut Allocator,
    now: Time,
    agent: &AgentId,
    fid: &FrameworkId,
    role: &str,
    tagged: &RoleResources,
    refuse_until: Option<Time>,
) {
    if role == strata_api::DEFAULT_ROLE {
        allocator.recover(agent, fid, &tagged.total(), refuse_until);
        return;
    }
    match refuse_until {
        Some(t) => {
            let secs = t.saturating_sub(now).as_secs_f64();
            allocator.decline(agent, fid, role, tagged, Some(secs), now);
        }
        None => allocator.recover_role(agent, fid, role, tagged),
    }
}

/// A task's resources by reservation role, from the wire form it was
/// launched with.
fn task_tagged(t: &Task) -> RoleResources {
    detailed_of(&t.info.resources, &t.resources).role_resources()
}

/// The role a task reported by an agent was allocated in: its resources'
/// `allocation_info` (the master sets it at launch), else the framework's
/// first role.
fn reported_role(task: &v1::TaskInfo, framework: Option<&v1::FrameworkInfo>) -> String {
    task.resources
        .iter()
        .find_map(|r| r.allocation_info.as_ref().and_then(|a| a.role.clone()))
        .or_else(|| framework.and_then(|f| framework_roles(f).into_iter().next()))
        .unwrap_or_else(|| strata_api::DEFAULT_ROLE.to_owned())
}

/// The roles a framework subscribes in: `roles` with the MULTI_ROLE
/// capability, else `role`, else the default role `*`.
pub fn framework_roles(info: &v1::FrameworkInfo) -> Vec<String> {
    let multi = has_capability(info, v1::FrameworkCapabilityType::MultiRole);
    if multi && !info.roles.is_empty() {
        return info.roles.clone();
    }
    match info.role.as_deref().filter(|r| !r.is_empty()) {
        Some(r) => vec![r.to_owned()],
        None => vec![strata_api::DEFAULT_ROLE.to_owned()],
    }
}

fn unix(config: &CoreConfig, now: Time) -> f64 {
    config.start_unix + now.as_secs_f64()
}

fn event(kind: v1::SchedulerEventType) -> v1::SchedulerEvent {
    v1::SchedulerEvent {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

fn update_event(status: v1::TaskStatus) -> v1::SchedulerEvent {
    v1::SchedulerEvent {
        update: Some(v1::EventUpdate {
            status: Some(status),
        }),
        ..event(v1::SchedulerEventType::Update)
    }
}

/// An error event with its message.
pub fn error_event(message: impl Into<String>) -> v1::SchedulerEvent {
    v1::SchedulerEvent {
        error: Some(v1::EventError {
            message: message.into(),
        }),
        ..event(v1::SchedulerEventType::Error)
    }
}

fn call_name(t: i32) -> &'static str {
    use v1::json::MesosEnum as _;
    v1::SchedulerCallType::name_of(t).unwrap_or("UNKNOWN")
}

/// Checks an id as Mesos does: non-empty, no '/', no whitespace or control
/// characters, not '.' or '..'.
fn validate_id(kind: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{kind} id must not be empty"));
    }
    if value == "." || value == ".." {
        return Err(format!("{kind} id {value:?} is not allowed"));
    }
    if value
        .chars()
        .any(|c| c == '/' || c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "{kind} id {value:?} contains '/', whitespace or a control character"
        ));
    }
    Ok(())
}

impl MasterCore {
    /// A master with no agents and no frameworks.
    pub fn new(config: CoreConfig) -> Self {
        let min_allocatable = config.min_allocatable_resources.clone();
        Self {
            config,
            allocator: Allocator::new(AllocatorConfig {
                min_allocatable_resources: min_allocatable,
                ..AllocatorConfig::default()
            }),
            agents: BTreeMap::new(),
            frameworks: BTreeMap::new(),
            offers: HashMap::new(),
            completed_frameworks: VecDeque::new(),
            removed_frameworks: HashSet::new(),
            allocation_pending: false,
            registry_ops: Vec::new(),
            counters: Counters::default(),
            events: crate::events::EventBus::default(),
            wanting_since: BTreeMap::new(),
            offer_details: HashMap::new(),
            next_agent: 0,
            next_framework: 0,
            next_offer: 0,
            next_session: 0,
        }
    }

    /// The MasterInfo sent in SUBSCRIBED and served by `/master/state`.
    pub fn master_info(&self) -> v1::MasterInfo {
        let c = &self.config;
        v1::MasterInfo {
            id: c.master_id.clone(),
            // Mesos packs the IPv4 address in network byte order into a uint32.
            ip: u32::from_le_bytes(c.ip.octets()),
            port: c.port as u32,
            pid: Some(format!("master@{}:{}", c.ip, c.port)),
            hostname: Some(c.hostname.clone()),
            version: Some(strata_proto::MESOS_COMPAT_VERSION.into()),
            address: Some(v1::Address {
                hostname: Some(c.hostname.clone()),
                ip: Some(c.ip.to_string()),
                port: c.port as i32,
            }),
            capabilities: vec![],
        }
    }

    /// A new session number for an agent link.
    pub fn new_session(&mut self) -> u64 {
        self.next_session += 1;
        self.next_session
    }

    /// Takes over the registry of an earlier master: admitted agents wait to
    /// re-register (they are unreachable if they do not within the ping
    /// timeout), frameworks wait to re-subscribe within their failover
    /// timeout, removed frameworks stay removed.
    pub fn recover(&mut self, now: Time, registry: crate::registry::Registry) {
        let unix_now = unix(&self.config, now);
        for (id, rec) in registry.agents {
            let configured = detailed_from_wire(&rec.info.resources).unwrap_or_default();
            let (resources, dropped) = AgentResources::new(configured, &rec.checkpointed_resources);
            for d in dropped {
                warn!(agent_id = %id, dropped = %d, "checkpointed resources in the registry do not fit the agent");
            }
            self.agents.insert(
                id.clone(),
                Agent {
                    id,
                    info: rec.info,
                    total: resources.total.total(),
                    resources,
                    endpoint: rec.endpoint,
                    isolation: String::new(),
                    version: String::new(),
                    registered_time: unix_now,
                    reregistered_time: None,
                    link: AgentLink::Disconnected { since: now },
                    tasks: HashSet::new(),
                },
            );
        }
        for info in registry.frameworks {
            let Some(fid) = info.id.as_ref().map(|i| FrameworkId(i.value.clone())) else {
                continue;
            };
            let timeout =
                Duration::from_secs_f64(info.failover_timeout.unwrap_or(0.0).clamp(0.0, 1e9));
            self.allocator.add_framework(fid.clone(), &[]);
            self.allocator.deactivate_framework(&fid);
            self.frameworks.insert(
                fid.clone(),
                Framework {
                    id: fid,
                    info,
                    conn: FrameworkConn::Disconnected {
                        since: now,
                        failover_deadline: now + timeout,
                    },
                    registered_time: unix_now,
                    reregistered_time: None,
                    unregistered_time: Some(unix_now),
                    tasks: HashMap::new(),
                    completed_tasks: VecDeque::new(),
                    offers: HashSet::new(),
                    executors: HashMap::new(),
                    suppressed: false,
                },
            );
        }
        self.removed_frameworks.extend(registry.removed_frameworks);
        for (role, w) in registry.weights {
            if let Err(e) = self.allocator.set_weight(&role, w) {
                warn!(%role, error = %e, "weight in the registry not applied");
            }
        }
        for (role, q) in registry.quotas {
            let guarantee: Resources = q.guarantee.parse().unwrap_or_default();
            let limit = q.limit.and_then(|l| l.parse::<Resources>().ok());
            if let Err(e) = self.allocator.set_quota(&role, guarantee, limit) {
                warn!(%role, error = %e, "quota in the registry not applied");
            }
        }
        info!(
            agents = self.agents.len(),
            frameworks = self.frameworks.len(),
            removed = self.removed_frameworks.len(),
            "recovered the registry"
        );
    }

    // === roles: weights and quota ===

    /// Sets role weights (all or nothing); durable before the answer.
    pub fn set_weights(&mut self, weights: &[(String, f64)]) -> Result<(), ApiError> {
        for (role, w) in weights {
            strata_api::validate_role(role).map_err(|e| ApiError::bad_request(e.to_string()))?;
            if !w.is_finite() || *w <= 0.0 {
                return Err(ApiError::bad_request(format!(
                    "weight of role {role:?} must be a positive number, not {w}"
                )));
            }
        }
        for (role, w) in weights {
            self.allocator
                .set_weight(role, *w)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            self.registry_ops
                .push(crate::registry::RegistryOp::PutWeight(role.clone(), *w));
        }
        self.allocation_pending = true;
        Ok(())
    }

    /// Sets a role's quota; durable before the answer.
    pub fn set_quota(
        &mut self,
        role: &str,
        guarantee: Resources,
        limit: Option<Resources>,
    ) -> Result<(), ApiError> {
        strata_api::validate_role(role).map_err(|e| ApiError::bad_request(e.to_string()))?;
        self.allocator
            .set_quota(role, guarantee.clone(), limit.clone())
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        self.registry_ops
            .push(crate::registry::RegistryOp::PutQuota(
                role.to_owned(),
                guarantee.to_string(),
                limit.map(|l| l.to_string()),
            ));
        self.allocation_pending = true;
        Ok(())
    }

    /// Removes a role's quota; durable before the answer.
    pub fn remove_quota(&mut self, role: &str) -> Result<(), ApiError> {
        self.allocator
            .remove_quota(role)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        self.registry_ops
            .push(crate::registry::RegistryOp::RemoveQuota(role.to_owned()));
        self.allocation_pending = true;
        Ok(())
    }

    // === frameworks: subscribe, disconnect, remove ===

    /// SUBSCRIBE: registers a new framework or re-attaches a known one.
    pub fn subscribe(
        &mut self,
        now: Time,
        call: v1::SchedulerCall,
        sink: EventSink,
    ) -> Result<Subscribed, ApiError> {
        let sub = call
            .subscribe
            .ok_or_else(|| ApiError::bad_request("expecting 'subscribe' to be present"))?;
        let mut info = sub.framework_info.ok_or_else(|| {
            ApiError::bad_request("expecting 'subscribe.framework_info' to be present")
        })?;
        if let (Some(a), Some(b)) = (&call.framework_id, &info.id) {
            if a.value != b.value {
                return Err(ApiError::bad_request(
                    "'framework_id' differs from 'subscribe.framework_info.id'",
                ));
            }
        }
        if let Some(t) = info.failover_timeout {
            if !t.is_finite() || t < 0.0 {
                return Err(ApiError::bad_request(
                    "'framework_info.failover_timeout' must be a finite non-negative number",
                ));
            }
        }
        let roles = framework_roles(&info);
        for role in &roles {
            strata_api::validate_role(role).map_err(|e| {
                ApiError::bad_request(format!("invalid role in 'framework_info': {e}"))
            })?;
        }
        let requested = call.framework_id.clone().or_else(|| info.id.clone());
        if let Some(id) = &requested {
            validate_id("framework", &id.value).map_err(ApiError::bad_request)?;
            if self
                .removed_frameworks
                .contains(&FrameworkId(id.value.clone()))
            {
                let _ = sink.send(error_event("framework has been removed"));
                return Ok(Subscribed::Refused);
            }
        }
        let framework_id = match requested {
            Some(id) => FrameworkId(id.value),
            None => {
                self.next_framework += 1;
                FrameworkId(format!(
                    "{}-{:04}",
                    self.config.master_id,
                    self.next_framework - 1
                ))
            }
        };
        info.id = Some(v1::framework_id(framework_id.as_str()));
        let stream_id = uuid::Uuid::new_v4().to_string();
        let unix_now = unix(&self.config, now);
        let conn = FrameworkConn::Connected {
            stream_id: stream_id.clone(),
            sink: sink.clone(),
            last_heartbeat: now,
        };
        if let Some(fw) = self.frameworks.get_mut(&framework_id) {
            if let FrameworkConn::Connected { sink: old, .. } = &fw.conn {
                let _ = old.send(error_event("framework failed over"));
            }
            info!(framework_id = %framework_id, name = %info.name, "framework re-subscribed");
            fw.info = info;
            fw.conn = conn;
            fw.reregistered_time = Some(unix_now);
            fw.unregistered_time = None;
            fw.suppressed = !sub.suppressed_roles.is_empty();
            let _ = self
                .allocator
                .add_framework_with_roles(framework_id.clone(), &roles, &[]);
            self.allocator.activate_framework(&framework_id);
            if fw.suppressed {
                self.allocator.suppress(&framework_id);
            }
        } else {
            info!(framework_id = %framework_id, name = %info.name, "framework subscribed");
            let suppressed = !sub.suppressed_roles.is_empty();
            self.frameworks.insert(
                framework_id.clone(),
                Framework {
                    id: framework_id.clone(),
                    info,
                    conn,
                    registered_time: unix_now,
                    reregistered_time: None,
                    unregistered_time: None,
                    tasks: HashMap::new(),
                    completed_tasks: VecDeque::new(),
                    offers: HashSet::new(),
                    executors: HashMap::new(),
                    suppressed,
                },
            );
            if self
                .allocator
                .add_framework_with_roles(framework_id.clone(), &roles, &[])
                .is_err()
            {
                self.allocator.add_framework(framework_id.clone(), &[]);
            }
            if suppressed {
                self.allocator.suppress(&framework_id);
            }
        }
        let subscribed = v1::SchedulerEvent {
            subscribed: Some(v1::EventSubscribed {
                framework_id: Some(v1::framework_id(framework_id.as_str())),
                heartbeat_interval_seconds: Some(
                    self.config.framework_heartbeat_interval.as_secs_f64(),
                ),
                master_info: Some(self.master_info()),
            }),
            ..event(v1::SchedulerEventType::Subscribed)
        };
        let _ = sink.send(subscribed);
        self.allocation_pending = true;
        if let Some(fw) = self.frameworks.get(&framework_id) {
            self.registry_ops
                .push(crate::registry::RegistryOp::PutFramework(
                    framework_id.clone(),
                    fw.info.clone(),
                ));
        }
        self.emit_framework("FRAMEWORK_ADDED", &framework_id);
        Ok(Subscribed::Ok {
            framework_id,
            stream_id,
        })
    }

    /// The subscription stream `stream_id` of a framework ended.
    pub fn framework_disconnected(
        &mut self,
        now: Time,
        framework_id: &FrameworkId,
        stream_id: &str,
    ) {
        let timeout;
        {
            let Some(fw) = self.frameworks.get_mut(framework_id) else {
                return;
            };
            match &fw.conn {
                FrameworkConn::Connected { stream_id: s, .. } if s == stream_id => {}
                _ => return,
            }
            timeout =
                Duration::from_secs_f64(fw.info.failover_timeout.unwrap_or(0.0).clamp(0.0, 1e9));
            fw.conn = FrameworkConn::Disconnected {
                since: now,
                failover_deadline: now + timeout,
            };
            fw.unregistered_time = Some(unix(&self.config, now));
        }
        info!(framework_id = %framework_id, failover_timeout = ?timeout, "framework disconnected");
        self.allocator.deactivate_framework(framework_id);
        self.rescind_framework_offers(framework_id);
        self.emit_framework("FRAMEWORK_UPDATED", framework_id);
        if timeout.is_zero() {
            self.remove_framework(now, framework_id, "failover timeout is zero");
        }
    }

    /// Removes a framework: its tasks are killed on their agents, its offers
    /// and resources return to the pool, and it may never subscribe again.
    pub fn remove_framework(&mut self, now: Time, framework_id: &FrameworkId, why: &str) {
        self.rescind_framework_offers(framework_id);
        let Some(mut fw) = self.frameworks.remove(framework_id) else {
            return;
        };
        info!(framework_id = %framework_id, reason = why, "removing framework");
        let mut agents: HashSet<AgentId> = fw.executors.keys().map(|(a, _)| a.clone()).collect();
        let unix_now = unix(&self.config, now);
        let mut done = Vec::new();
        for (_, mut task) in fw.tasks.drain() {
            agents.insert(task.agent_id.clone());
            if let Some(agent) = self.agents.get_mut(&task.agent_id) {
                agent.tasks.remove(&(framework_id.clone(), task.id.clone()));
            }
            if !task.state.is_terminal() {
                task.state = TaskState::Killed;
                task.statuses.push((TaskState::Killed, unix_now));
                *self
                    .counters
                    .terminal_tasks
                    .entry(TaskState::Killed)
                    .or_default() += 1;
            }
            done.push(task);
        }
        for agent_id in agents {
            self.send_to_agent(
                &agent_id,
                ToAgent::ShutdownFramework(internal::ShutdownFramework {
                    framework_id: Some(v1::framework_id(framework_id.as_str())),
                }),
            );
        }
        self.allocator.remove_framework(framework_id);
        self.removed_frameworks.insert(framework_id.clone());
        self.registry_ops
            .push(crate::registry::RegistryOp::RemoveFramework(
                framework_id.clone(),
                unix_now,
            ));
        if self.events.active() {
            self.events.emit(
                "FRAMEWORK_REMOVED",
                serde_json::json!({"framework_info": serde_json::to_value(&fw.info).unwrap_or_default()}),
            );
        }
        done.extend(fw.completed_tasks.drain(..));
        self.completed_frameworks.push_back(CompletedFramework {
            id: fw.id.clone(),
            info: fw.info.clone(),
            removed_time: unix_now,
            tasks: done,
        });
        while self.completed_frameworks.len() > self.config.max_completed_frameworks {
            self.completed_frameworks.pop_front();
        }
        self.allocation_pending = true;
    }

    // === scheduler calls ===

    /// A non-SUBSCRIBE call on the subscription `stream_id`.
    pub fn scheduler_call(
        &mut self,
        now: Time,
        stream_id: &str,
        call: v1::SchedulerCall,
    ) -> Result<(), ApiError> {
        let r = self.scheduler_call_inner(now, stream_id, call);
        if r.is_err() {
            self.counters.invalid_calls += 1;
        }
        r
    }

    fn scheduler_call_inner(
        &mut self,
        now: Time,
        stream_id: &str,
        call: v1::SchedulerCall,
    ) -> Result<(), ApiError> {
        use v1::SchedulerCallType as C;
        let kind = call
            .r#type
            .ok_or_else(|| ApiError::bad_request("expecting 'type' to be present"))?;
        let kind_enum = C::try_from(kind)
            .ok()
            .filter(|k| *k != C::Unknown)
            .ok_or_else(|| ApiError::bad_request(format!("unknown call type {kind}")))?;
        let fid = call
            .framework_id
            .as_ref()
            .map(|f| FrameworkId(f.value.clone()))
            .ok_or_else(|| ApiError::bad_request("expecting 'framework_id' to be present"))?;
        match self.frameworks.get(&fid) {
            None => return Err(ApiError::forbidden(format!("framework {fid} is not subscribed"))),
            Some(fw) => match &fw.conn {
                FrameworkConn::Connected { stream_id: s, .. } if s == stream_id => {}
                FrameworkConn::Connected { .. } => {
                    return Err(ApiError::bad_request(format!(
                        "the stream id {stream_id:?} does not match the subscription of framework {fid}"
                    )))
                }
                FrameworkConn::Disconnected { .. } => {
                    return Err(ApiError::forbidden(format!("framework {fid} is not subscribed")))
                }
            },
        }
        *self.counters.calls.entry(call_name(kind)).or_default() += 1;
        match kind_enum {
            C::Subscribe => Err(ApiError::bad_request(
                "SUBSCRIBE must be sent on its own connection",
            )),
            C::Teardown => {
                self.remove_framework(now, &fid, "TEARDOWN");
                Ok(())
            }
            C::Accept => {
                let accept = call
                    .accept
                    .ok_or_else(|| ApiError::bad_request("expecting 'accept' to be present"))?;
                self.accept(now, &fid, accept);
                Ok(())
            }
            C::Decline => {
                let decline = call
                    .decline
                    .ok_or_else(|| ApiError::bad_request("expecting 'decline' to be present"))?;
                let refuse = self.refuse_until(now, decline.filters.as_ref());
                let secs = refuse.saturating_sub(now).as_secs_f64();
                for oid in decline.offer_ids {
                    self.counters.offers_declined += 1;
                    if self.offers.contains_key(&OfferId(oid.value.clone())) {
                        self.events.count(fid.as_str(), |c| c.declined += 1);
                        self.events.emit(
                            "OFFER_DECLINED",
                            serde_json::json!({"offer_id": oid.value, "framework_id": fid.as_str(), "refuse_seconds": secs}),
                        );
                    }
                    self.release_offer(now, &fid, &OfferId(oid.value), Some(refuse));
                }
                Ok(())
            }
            C::Revive => {
                if let Some(fw) = self.frameworks.get_mut(&fid) {
                    fw.suppressed = false;
                }
                self.allocator.revive(&fid);
                self.allocation_pending = true;
                Ok(())
            }
            C::Suppress => {
                if let Some(fw) = self.frameworks.get_mut(&fid) {
                    fw.suppressed = true;
                }
                self.allocator.suppress(&fid);
                Ok(())
            }
            C::Kill => {
                let kill = call
                    .kill
                    .ok_or_else(|| ApiError::bad_request("expecting 'kill' to be present"))?;
                let task_id = kill.task_id.ok_or_else(|| {
                    ApiError::bad_request("expecting 'kill.task_id' to be present")
                })?;
                self.kill_task(now, &fid, &TaskId(task_id.value), kill.kill_policy);
                Ok(())
            }
            C::Shutdown => {
                let sd = call
                    .shutdown
                    .ok_or_else(|| ApiError::bad_request("expecting 'shutdown' to be present"))?;
                let (Some(eid), Some(aid)) = (sd.executor_id, sd.agent_id) else {
                    return Err(ApiError::bad_request(
                        "expecting 'shutdown.executor_id' and 'shutdown.agent_id' to be present",
                    ));
                };
                self.send_to_agent(
                    &AgentId(aid.value),
                    ToAgent::ShutdownExecutor(internal::ShutdownExecutor {
                        framework_id: Some(v1::framework_id(fid.as_str())),
                        executor_id: Some(eid),
                    }),
                );
                Ok(())
            }
            C::Acknowledge => {
                let ack = call.acknowledge.ok_or_else(|| {
                    ApiError::bad_request("expecting 'acknowledge' to be present")
                })?;
                let (Some(aid), Some(tid)) = (ack.agent_id, ack.task_id) else {
                    return Err(ApiError::bad_request(
                        "expecting 'acknowledge.agent_id' and 'acknowledge.task_id' to be present",
                    ));
                };
                if ack.uuid.len() != 16 {
                    return Err(ApiError::bad_request(format!(
                        "'acknowledge.uuid' must be 16 bytes, got {}",
                        ack.uuid.len()
                    )));
                }
                self.acknowledge(&fid, AgentId(aid.value), TaskId(tid.value), ack.uuid);
                Ok(())
            }
            C::Reconcile => {
                let rec = call.reconcile.unwrap_or_default();
                self.reconcile(now, &fid, rec);
                Ok(())
            }
            C::Message => {
                let msg = call
                    .message
                    .ok_or_else(|| ApiError::bad_request("expecting 'message' to be present"))?;
                let (Some(aid), Some(eid)) = (msg.agent_id, msg.executor_id) else {
                    return Err(ApiError::bad_request(
                        "expecting 'message.agent_id' and 'message.executor_id' to be present",
                    ));
                };
                self.send_to_agent(
                    &AgentId(aid.value),
                    ToAgent::FrameworkMessage(internal::FrameworkMessage {
                        framework_id: Some(v1::framework_id(fid.as_str())),
                        executor_id: Some(eid),
                        data: msg.data,
                    }),
                );
                Ok(())
            }
            C::Request => Ok(()),
            C::UpdateFramework => {
                let uf = call.update_framework.ok_or_else(|| {
                    ApiError::bad_request("expecting 'update_framework' to be present")
                })?;
                let mut info = uf.framework_info.ok_or_else(|| {
                    ApiError::bad_request("expecting 'update_framework.framework_info'")
                })?;
                info.id = Some(v1::framework_id(fid.as_str()));
                if let Some(fw) = self.frameworks.get_mut(&fid) {
                    fw.info = info;
                }
                Ok(())
            }
            C::AcceptInverseOffers
            | C::DeclineInverseOffers
            | C::AcknowledgeOperationStatus
            | C::ReconcileOperations => Ok(()),
            C::Unknown => Err(ApiError::bad_request("unknown call type")),
        }
    }

    fn refuse_until(&self, now: Time, filters: Option<&v1::Filters>) -> Time {
        let secs = filters
            .and_then(|f| f.refuse_seconds)
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s.min(365.0 * 86400.0)))
            .unwrap_or(self.config.default_refuse);
        now + secs
    }

    /// Returns resources allocated to `fid` in `role` on `agent` to the
    /// allocator, with a filter until `refuse_until` if given.
    fn give_back(
        &mut self,
        now: Time,
        agent: &AgentId,
        fid: &FrameworkId,
        role: &str,
        res: &DetailedResources,
        refuse_until: Option<Time>,
    ) {
        give_back_to(
            &mut self.allocator,
            now,
            agent,
            fid,
            role,
            &res.role_resources(),
            refuse_until,
        );
    }

    /// Returns an offer's resources to the allocator (declined or unused).
    fn release_offer(
        &mut self,
        now: Time,
        fid: &FrameworkId,
        oid: &OfferId,
        refuse_until: Option<Time>,
    ) {
        match self.offers.get(oid) {
            Some(o) if &o.framework_id == fid => {}
            _ => return,
        }
        let offer = self.offers.remove(oid).expect("checked above");
        let detailed = self.take_offer_detail(&offer);
        if let Some(fw) = self.frameworks.get_mut(fid) {
            fw.offers.remove(oid);
        }
        self.give_back(
            now,
            &offer.agent_id,
            fid,
            &offer.role,
            &detailed,
            refuse_until,
        );
        self.allocation_pending = true;
    }

    /// An outstanding offer's resources in detail.
    pub fn offer_detail(&self, o: &Offer) -> DetailedResources {
        self.offer_details
            .get(&o.id)
            .cloned()
            .unwrap_or_else(|| DetailedResources::from(o.resources.clone()))
    }

    /// [`MasterCore::offer_detail`] of an offer that is going away.
    fn take_offer_detail(&mut self, o: &Offer) -> DetailedResources {
        self.offer_details
            .remove(&o.id)
            .unwrap_or_else(|| DetailedResources::from(o.resources.clone()))
    }

    /// Rescinds an offer: the framework is told, the resources come back.
    pub fn rescind_offer(&mut self, oid: &OfferId) {
        let Some(offer) = self.offers.remove(oid) else {
            return;
        };
        let detailed = self.take_offer_detail(&offer);
        self.counters.offers_rescinded += 1;
        self.events
            .count(offer.framework_id.as_str(), |c| c.rescinded += 1);
        self.events.emit(
            "OFFER_RESCINDED",
            serde_json::json!({"offer_id": oid.as_str(), "framework_id": offer.framework_id.as_str(), "agent_id": offer.agent_id.as_str()}),
        );
        if let Some(fw) = self.frameworks.get_mut(&offer.framework_id) {
            fw.offers.remove(oid);
            if let Some(sink) = fw.sink() {
                let _ = sink.send(v1::SchedulerEvent {
                    rescind: Some(v1::EventRescind {
                        offer_id: Some(v1::offer_id(oid.as_str())),
                    }),
                    ..event(v1::SchedulerEventType::Rescind)
                });
            }
        }
        self.give_back(
            Duration::ZERO,
            &offer.agent_id,
            &offer.framework_id,
            &offer.role,
            &detailed,
            None,
        );
        self.allocation_pending = true;
    }

    fn rescind_framework_offers(&mut self, fid: &FrameworkId) {
        let ids: Vec<OfferId> = self
            .frameworks
            .get(fid)
            .map(|f| f.offers.iter().cloned().collect())
            .unwrap_or_default();
        for oid in ids {
            self.rescind_offer(&oid);
        }
    }

    pub(crate) fn rescind_agent_offers(&mut self, agent_id: &AgentId) {
        let ids: Vec<OfferId> = self
            .offers
            .values()
            .filter(|o| &o.agent_id == agent_id)
            .map(|o| o.id.clone())
            .collect();
        for oid in ids {
            self.rescind_offer(&oid);
        }
    }

    /// A status generated by the master (no uuid: not to be acknowledged).
    fn master_status(
        &self,
        now: Time,
        task_id: &TaskId,
        agent_id: Option<&AgentId>,
        state: TaskState,
        reason: v1::TaskStatusReason,
        message: impl Into<String>,
    ) -> v1::TaskStatus {
        v1::TaskStatus {
            task_id: Some(v1::task_id(task_id.as_str())),
            state: task_state_to_wire(state),
            message: Some(message.into()),
            source: Some(v1::TaskStatusSource::SourceMaster as i32),
            reason: Some(reason as i32),
            agent_id: agent_id.map(|a| v1::agent_id(a.as_str())),
            timestamp: Some(unix(&self.config, now)),
            ..Default::default()
        }
    }

    /// Sends a command to an agent if it is connected (otherwise the agent
    /// learns the outcome when it re-registers and is reconciled).
    fn send_to_agent(&self, agent: &AgentId, body: ToAgent) -> bool {
        match self.agents.get(agent).and_then(Agent::sink) {
            Some(sink) => sink.send(internal::MasterMessage::of(body)).is_ok(),
            None => false,
        }
    }

    fn send_to_framework(&self, fid: &FrameworkId, ev: v1::SchedulerEvent) {
        if let Some(sink) = self.frameworks.get(fid).and_then(Framework::sink) {
            let _ = sink.send(ev);
        }
    }

    fn lost_state(&self, fid: &FrameworkId) -> TaskState {
        if self
            .frameworks
            .get(fid)
            .is_some_and(Framework::partition_aware)
        {
            TaskState::Dropped
        } else {
            TaskState::Lost
        }
    }

    /// ACCEPT: validates the offers, then carries out the operations in
    /// order on what the offers hold: launches, reservations and volumes.
    fn accept(&mut self, now: Time, fid: &FrameworkId, accept: v1::CallAccept) {
        // Every task named by a launch operation, for failure reports.
        let all_tasks: Vec<v1::TaskInfo> = accept
            .operations
            .iter()
            .flat_map(|op| {
                let launch = op.launch.iter().flat_map(|l| l.task_infos.iter());
                let group = op
                    .launch_group
                    .iter()
                    .flat_map(|g| g.task_group.iter().flat_map(|tg| tg.tasks.iter()));
                launch.chain(group).cloned().collect::<Vec<_>>()
            })
            .collect();

        // Validate the offers: they must exist, be this framework's, and be
        // on one agent, allocated to one role.
        let mut problem: Option<String> = None;
        let mut valid: Vec<Offer> = Vec::new();
        if accept.offer_ids.is_empty() {
            problem = Some("no offer ids were given".into());
        }
        for oid in &accept.offer_ids {
            match self.offers.get(&OfferId(oid.value.clone())) {
                Some(o) if &o.framework_id == fid => {
                    if valid.iter().any(|v| v.id == o.id) {
                        problem.get_or_insert(format!("offer {} is named twice", o.id));
                    } else if valid.first().is_some_and(|v| v.agent_id != o.agent_id) {
                        problem.get_or_insert("offers must all be on the same agent".into());
                        valid.push(o.clone());
                    } else if valid.first().is_some_and(|v| v.role != o.role) {
                        problem
                            .get_or_insert("offers must all be allocated to the same role".into());
                        valid.push(o.clone());
                    } else {
                        valid.push(o.clone());
                    }
                }
                _ => {
                    problem.get_or_insert(format!("offer {} is no longer valid", oid.value));
                }
            }
        }
        let mut details = Vec::new();
        for o in &valid {
            self.offers.remove(&o.id);
            details.push(self.take_offer_detail(o));
            if let Some(fw) = self.frameworks.get_mut(fid) {
                fw.offers.remove(&o.id);
            }
        }
        if let Some(problem) = problem {
            warn!(framework_id = %fid, %problem, "refusing ACCEPT");
            for (o, d) in valid.iter().zip(&details) {
                self.give_back(now, &o.agent_id, fid, &o.role, d, None);
            }
            self.allocation_pending = true;
            let state = self.lost_state(fid);
            for t in all_tasks {
                let tid = TaskId(t.task_id.map(|t| t.value).unwrap_or_default());
                let st = self.master_status(
                    now,
                    &tid,
                    None,
                    state,
                    v1::TaskStatusReason::ReasonInvalidOffers,
                    &problem,
                );
                self.send_to_framework(fid, update_event(st));
            }
            for op in accept
                .operations
                .iter()
                .filter(|op| op.launch.is_none() && op.launch_group.is_none() && op.id.is_some())
            {
                self.drop_operation(fid, op, &problem);
            }
            return;
        }
        self.counters.offers_accepted += valid.len() as u64;
        let task_ids: Vec<String> = all_tasks
            .iter()
            .filter_map(|t| t.task_id.as_ref().map(|i| i.value.clone()))
            .collect();
        self.events
            .count(fid.as_str(), |c| c.accepted += valid.len() as u64);
        self.events.emit(
            "OFFER_ACCEPTED",
            serde_json::json!({
                "offer_ids": valid.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
                "framework_id": fid.as_str(),
                "agent_id": valid[0].agent_id.as_str(),
                "task_ids": task_ids,
            }),
        );
        let agent_id = valid[0].agent_id.clone();
        let role = valid[0].role.clone();
        let mut available = DetailedResources::new();
        for d in &details {
            available.add_all(d);
        }
        let agent_ok = self.agents.get(&agent_id).is_some_and(Agent::active);
        for op in accept.operations {
            use v1::OperationType as Op;
            match Op::try_from(op.r#type.unwrap_or(0)).unwrap_or(Op::Unknown) {
                Op::Launch => {
                    for task in op.launch.map(|l| l.task_infos).unwrap_or_default() {
                        if !agent_ok {
                            let tid = TaskId(task.task_id.map(|t| t.value).unwrap_or_default());
                            let state = self.lost_state(fid);
                            let st = self.master_status(
                                now,
                                &tid,
                                Some(&agent_id),
                                state,
                                v1::TaskStatusReason::ReasonAgentUnknown,
                                "the offer's agent is not connected",
                            );
                            self.send_to_framework(fid, update_event(st));
                            continue;
                        }
                        let mut task = task;
                        let checked =
                            self.prepare_task(&agent_id, &role, &mut task)
                                .and_then(|()| {
                                    self.validate_and_charge(
                                        fid,
                                        &agent_id,
                                        &task,
                                        None,
                                        &mut available,
                                    )
                                });
                        match checked {
                            Ok((resources, executor)) => {
                                self.launch_task(
                                    now, fid, &agent_id, &role, task, resources, executor,
                                );
                            }
                            Err(msg) => {
                                let tid = TaskId(task.task_id.map(|t| t.value).unwrap_or_default());
                                warn!(framework_id = %fid, task_id = %tid, error = %msg, "invalid task");
                                let st = self.master_status(
                                    now,
                                    &tid,
                                    Some(&agent_id),
                                    TaskState::Error,
                                    v1::TaskStatusReason::ReasonTaskInvalid,
                                    msg,
                                );
                                self.send_to_framework(fid, update_event(st));
                            }
                        }
                    }
                }
                Op::LaunchGroup => {
                    let mut group = op.launch_group.unwrap_or_default();
                    let mut tasks = group.task_group.take().map(|g| g.tasks).unwrap_or_default();
                    let prepared = match group.executor.as_mut() {
                        Some(exec) => self
                            .prepare_launch_resources(&agent_id, &role, &mut exec.resources)
                            .and_then(|()| {
                                tasks.iter_mut().try_for_each(|t| {
                                    self.prepare_launch_resources(
                                        &agent_id,
                                        &role,
                                        &mut t.resources,
                                    )
                                })
                            }),
                        None => Ok(()),
                    };
                    let result = match (&group.executor, agent_ok, prepared) {
                        (_, false, _) => Err("the offer's agent is not connected".to_string()),
                        (None, _, _) => {
                            Err("expecting 'launch_group.executor' to be present".to_string())
                        }
                        (_, _, Err(e)) => Err(e),
                        (Some(_), _, _) if tasks.is_empty() => {
                            Err("the task group is empty".to_string())
                        }
                        (Some(exec), true, Ok(())) => {
                            self.validate_group(fid, &agent_id, exec, &tasks, &mut available)
                        }
                    };
                    match result {
                        Ok(charged) => {
                            let exec = group.executor.expect("validated");
                            let fw_info = self.frameworks.get(fid).map(|f| f.info.clone());
                            for (task, (resources, executor)) in tasks.iter().cloned().zip(charged)
                            {
                                self.record_task(
                                    now, fid, &agent_id, &role, task, resources, executor,
                                );
                            }
                            self.send_to_agent(
                                &agent_id,
                                ToAgent::RunTaskGroup(internal::RunTaskGroup {
                                    framework_info: fw_info,
                                    executor: Some(exec),
                                    task_group: Some(v1::TaskGroupInfo { tasks }),
                                }),
                            );
                        }
                        Err(msg) => {
                            for t in tasks {
                                let tid = TaskId(t.task_id.map(|t| t.value).unwrap_or_default());
                                let st = self.master_status(
                                    now,
                                    &tid,
                                    Some(&agent_id),
                                    TaskState::Error,
                                    v1::TaskStatusReason::ReasonTaskGroupInvalid,
                                    msg.clone(),
                                );
                                self.send_to_framework(fid, update_event(st));
                            }
                        }
                    }
                }
                _ => {
                    if let Err(why) =
                        self.apply_offer_operation(fid, &agent_id, &role, &op, &mut available)
                    {
                        self.drop_operation(fid, &op, &why);
                    }
                }
            }
        }
        let refuse = self.refuse_until(now, accept.filters.as_ref());
        if !available.is_empty() {
            self.give_back(now, &agent_id, fid, &role, &available, Some(refuse));
        }
        self.allocation_pending = true;
    }

    /// Readies a task (and its executor) of a LAUNCH for the agent; see
    /// [`MasterCore::prepare_launch_resources`].
    fn prepare_task(
        &self,
        agent_id: &AgentId,
        role: &str,
        task: &mut v1::TaskInfo,
    ) -> Result<(), String> {
        self.prepare_launch_resources(agent_id, role, &mut task.resources)?;
        if let Some(exec) = task.executor.as_mut() {
            self.prepare_launch_resources(agent_id, role, &mut exec.resources)?;
        }
        Ok(())
    }

    /// Checks a task and charges its resources (and its executor's, when the
    /// executor is new) against `available`.
    fn validate_and_charge(
        &self,
        fid: &FrameworkId,
        agent_id: &AgentId,
        task: &v1::TaskInfo,
        group_executor: Option<&v1::ExecutorInfo>,
        available: &mut DetailedResources,
    ) -> Result<(Resources, Option<(ExecutorId, Option<Executor>)>), String> {
        let tid = task
            .task_id
            .as_ref()
            .map(|t| t.value.as_str())
            .unwrap_or("");
        validate_id("task", tid)?;
        let fw = self.frameworks.get(fid).ok_or("framework is not known")?;
        if let Some(t) = fw.tasks.get(&TaskId(tid.to_owned())) {
            if !t.state.is_terminal() {
                return Err(format!("task id {tid:?} is already in use"));
            }
        }
        if let Some(a) = &task.agent_id {
            if a.value != agent_id.as_str() {
                return Err(format!(
                    "task names agent {} but the offer is on agent {agent_id}",
                    a.value
                ));
            }
        }
        let executor = match group_executor {
            Some(e) => Some(e),
            None => task.executor.as_ref(),
        };
        match (&task.command, executor, group_executor.is_some()) {
            (Some(_), Some(_), false) => {
                return Err("task must set exactly one of 'command' or 'executor', not both".into())
            }
            (None, None, _) => {
                return Err("task must set exactly one of 'command' or 'executor'".into())
            }
            _ => {}
        }
        if let Some(cmd) = &task.command {
            if cmd.value.as_deref().unwrap_or("").is_empty() && group_executor.is_none() {
                return Err("'command.value' must not be empty".into());
            }
        }
        let resources = detailed_from_wire(&task.resources).map_err(|e| e.to_string())?;
        if resources.is_empty() {
            return Err("task uses no resources".into());
        }
        self.check_whole_volumes(agent_id, &resources)?;
        let mut needed = resources.clone();
        let mut exec_out = None;
        if let Some(exec) = executor {
            let eid = exec
                .executor_id
                .as_ref()
                .map(|e| e.value.clone())
                .ok_or("expecting 'executor.executor_id' to be present")?;
            validate_id("executor", &eid)?;
            if let Some(f) = &exec.framework_id {
                if f.value != fid.as_str() {
                    return Err(format!(
                        "executor names framework {} but the task belongs to {fid}",
                        f.value
                    ));
                }
            }
            if exec.command.is_none() && exec.r#type != Some(v1::ExecutorType::Default as i32) {
                return Err("expecting 'executor.command' to be present".into());
            }
            let eid = ExecutorId(eid);
            if fw.executors.contains_key(&(agent_id.clone(), eid.clone())) {
                exec_out = Some((eid, None));
            } else {
                let eres = detailed_from_wire(&exec.resources).map_err(|e| e.to_string())?;
                self.check_whole_volumes(agent_id, &eres)?;
                needed.add_all(&eres);
                exec_out = Some((
                    eid,
                    Some(Executor {
                        info: exec.clone(),
                        resources: eres.total(),
                        role: "*".into(),
                    }),
                ));
            }
        }
        if !available.contains(&needed) {
            return Err(format!(
                "task uses more resources ({needed}) than remain in the offers ({available})"
            ));
        }
        available.subtract_all(&needed);
        Ok((resources.total(), exec_out))
    }

    fn validate_group(
        &self,
        fid: &FrameworkId,
        agent_id: &AgentId,
        exec: &v1::ExecutorInfo,
        tasks: &[v1::TaskInfo],
        available: &mut DetailedResources,
    ) -> Result<Vec<(Resources, Option<(ExecutorId, Option<Executor>)>)>, String> {
        let mut scratch = available.clone();
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for (i, t) in tasks.iter().enumerate() {
            if t.executor.is_some() {
                return Err("tasks in a task group must not set 'executor'".into());
            }
            let tid = t
                .task_id
                .as_ref()
                .map(|t| t.value.clone())
                .unwrap_or_default();
            if !seen.insert(tid.clone()) {
                return Err(format!("task id {tid:?} appears twice in the group"));
            }
            // Only the first task carries the new executor's resources.
            let (res, e) = self.validate_and_charge(fid, agent_id, t, Some(exec), &mut scratch)?;
            let e = if i == 0 {
                e
            } else {
                e.map(|(id, _)| (id, None))
            };
            out.push((res, e));
        }
        *available = scratch;
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn record_task(
        &mut self,
        now: Time,
        fid: &FrameworkId,
        agent_id: &AgentId,
        role: &str,
        mut task: v1::TaskInfo,
        resources: Resources,
        executor: Option<(ExecutorId, Option<Executor>)>,
    ) {
        let tid = TaskId(
            task.task_id
                .as_ref()
                .map(|t| t.value.clone())
                .unwrap_or_default(),
        );
        task.agent_id = Some(v1::agent_id(agent_id.as_str()));
        let unix_now = unix(&self.config, now);
        let executor_id = executor.as_ref().map(|(id, _)| id.clone());
        let fw = self.frameworks.get_mut(fid).expect("validated");
        if let Some((eid, Some(mut exec))) = executor {
            exec.role = role.to_owned();
            fw.executors.insert((agent_id.clone(), eid), exec);
        }
        fw.tasks.insert(
            tid.clone(),
            Task {
                id: tid.clone(),
                framework_id: fid.clone(),
                agent_id: agent_id.clone(),
                executor_id,
                info: task,
                resources,
                state: TaskState::Staging,
                status_update_state: None,
                statuses: vec![(TaskState::Staging, unix_now)],
                last_status: None,
                unacked: Vec::new(),
                role: role.to_owned(),
            },
        );
        if let Some(agent) = self.agents.get_mut(agent_id) {
            agent.tasks.insert((fid.clone(), tid.clone()));
        }
        self.counters.tasks_launched += 1;
        if self.events.active() {
            if let Some(t) = self.frameworks.get(fid).and_then(|f| f.tasks.get(&tid)) {
                let task = crate::state_json::task_json(t);
                self.events
                    .emit("TASK_ADDED", serde_json::json!({ "task": task }));
            }
        }
        debug!(framework_id = %fid, task_id = %tid, agent_id = %agent_id, "launching task");
    }

    #[allow(clippy::too_many_arguments)]
    fn launch_task(
        &mut self,
        now: Time,
        fid: &FrameworkId,
        agent_id: &AgentId,
        role: &str,
        task: v1::TaskInfo,
        resources: Resources,
        executor: Option<(ExecutorId, Option<Executor>)>,
    ) {
        let mut wire = task.clone();
        wire.agent_id = Some(v1::agent_id(agent_id.as_str()));
        self.record_task(now, fid, agent_id, role, task, resources, executor);
        let fw_info = self.frameworks.get(fid).map(|f| f.info.clone());
        self.send_to_agent(
            agent_id,
            ToAgent::RunTask(internal::RunTask {
                framework_info: fw_info,
                task: Some(wire),
            }),
        );
    }

    fn kill_task(
        &mut self,
        now: Time,
        fid: &FrameworkId,
        tid: &TaskId,
        policy: Option<v1::KillPolicy>,
    ) {
        let found = self
            .frameworks
            .get(fid)
            .and_then(|fw| fw.tasks.get(tid))
            .map(|t| (t.agent_id.clone(), t.state));
        match found {
            Some((agent_id, state)) if !state.is_terminal() => {
                if let Some(sink) = self.agents.get(&agent_id).and_then(Agent::sink) {
                    let _ = sink.send(internal::MasterMessage::of(ToAgent::KillTask(
                        internal::KillTask {
                            framework_id: Some(v1::framework_id(fid.as_str())),
                            task_id: Some(v1::task_id(tid.as_str())),
                            kill_policy: policy,
                        },
                    )));
                } else {
                    info!(framework_id = %fid, task_id = %tid, "kill deferred: the task's agent is not connected");
                }
            }
            Some(_) => {}
            None => {
                let pa = self
                    .frameworks
                    .get(fid)
                    .is_some_and(Framework::partition_aware);
                let state = if pa {
                    TaskState::Unknown
                } else {
                    TaskState::Lost
                };
                let st = self.master_status(
                    now,
                    tid,
                    None,
                    state,
                    v1::TaskStatusReason::ReasonReconciliation,
                    "attempted to kill an unknown task",
                );
                self.send_to_framework(fid, update_event(st));
            }
        }
    }

    fn acknowledge(&mut self, fid: &FrameworkId, agent_id: AgentId, tid: TaskId, uuid: Vec<u8>) {
        self.send_to_agent(
            &agent_id,
            ToAgent::Acknowledge(internal::Acknowledge {
                framework_id: Some(v1::framework_id(fid.as_str())),
                task_id: Some(v1::task_id(tid.as_str())),
                uuid: uuid.clone(),
            }),
        );
        let max_completed = self.config.max_completed_tasks_per_framework;
        let Some(fw) = self.frameworks.get_mut(fid) else {
            return;
        };
        let Some(task) = fw.tasks.get_mut(&tid) else {
            return;
        };
        let Some(pos) = task.unacked.iter().position(|(u, _)| *u == uuid) else {
            return;
        };
        let (_, acked_state) = task.unacked.remove(pos);
        task.status_update_state = Some(acked_state);
        if acked_state.is_terminal() {
            let task = fw.tasks.remove(&tid).expect("present");
            if let Some(agent) = self.agents.get_mut(&task.agent_id) {
                agent.tasks.remove(&(fid.clone(), tid.clone()));
            }
            fw.completed_tasks.push_back(task);
            while fw.completed_tasks.len() > max_completed {
                fw.completed_tasks.pop_front();
            }
        }
    }

    fn reconcile(&mut self, now: Time, fid: &FrameworkId, rec: v1::CallReconcile) {
        let Some(fw) = self.frameworks.get(fid) else {
            return;
        };
        let pa = fw.partition_aware();
        let mut out = Vec::new();
        let status_of = |core: &Self, t: &Task| -> v1::TaskStatus {
            let unreachable = core
                .agents
                .get(&t.agent_id)
                .is_some_and(|a| matches!(a.link, AgentLink::Unreachable { .. }));
            let state = if unreachable && !t.state.is_terminal() {
                TaskState::Unreachable
            } else {
                t.state
            };
            let mut st = t.last_status.clone().unwrap_or_else(|| {
                core.master_status(
                    now,
                    &t.id,
                    Some(&t.agent_id),
                    state,
                    v1::TaskStatusReason::ReasonReconciliation,
                    "",
                )
            });
            st.state = task_state_to_wire(state);
            st.uuid = None;
            st.source = Some(v1::TaskStatusSource::SourceMaster as i32);
            st.reason = Some(v1::TaskStatusReason::ReasonReconciliation as i32);
            st.agent_id = Some(v1::agent_id(t.agent_id.as_str()));
            st.timestamp = Some(unix(&core.config, now));
            st.data = None;
            st
        };
        if rec.tasks.is_empty() {
            for t in fw.tasks.values().filter(|t| !t.state.is_terminal()) {
                out.push(status_of(self, t));
            }
        } else {
            for rt in rec.tasks {
                let tid = TaskId(rt.task_id.map(|t| t.value).unwrap_or_default());
                if let Some(t) = fw.tasks.get(&tid) {
                    out.push(status_of(self, t));
                } else if let Some(t) = fw.completed_tasks.iter().rev().find(|t| t.id == tid) {
                    out.push(status_of(self, t));
                } else {
                    let agent = rt.agent_id.map(|a| AgentId(a.value));
                    let unreachable = agent
                        .as_ref()
                        .and_then(|a| self.agents.get(a))
                        .is_some_and(|a| matches!(a.link, AgentLink::Unreachable { .. }));
                    let state = match (unreachable, pa) {
                        (true, true) => TaskState::Unreachable,
                        (_, true) => TaskState::Unknown,
                        (_, false) => TaskState::Lost,
                    };
                    out.push(self.master_status(
                        now,
                        &tid,
                        agent.as_ref(),
                        state,
                        v1::TaskStatusReason::ReasonReconciliation,
                        "reconciliation: task is unknown",
                    ));
                }
            }
        }
        for st in out {
            self.send_to_framework(fid, update_event(st));
        }
    }

    // === agents ===

    /// An agent (re-)registered on a new link.
    pub fn register_agent(
        &mut self,
        now: Time,
        reg: internal::Register,
        session: u64,
        sink: AgentSink,
    ) -> Result<AgentId, String> {
        let mut info = reg
            .agent_info
            .ok_or("expecting 'agent_info' in the registration")?;
        let configured = detailed_from_wire(&info.resources)
            .map_err(|e| format!("invalid agent resources: {e}"))?;
        if configured
            .parts()
            .any(|(k, _)| k.is_volume() || k.reservation.as_ref().is_some_and(|r| r.is_dynamic()))
        {
            return Err(
                "invalid agent resources: an agent's resources may hold static reservations only"
                    .into(),
            );
        }
        let unix_now = unix(&self.config, now);
        let agent_id = match info
            .id
            .as_ref()
            .map(|i| i.value.clone())
            .filter(|v| !v.is_empty())
        {
            Some(id) => AgentId(id),
            None => {
                self.next_agent += 1;
                AgentId(format!(
                    "{}-S{}",
                    self.config.master_id,
                    self.next_agent - 1
                ))
            }
        };
        info.id = Some(v1::agent_id(agent_id.as_str()));
        let link = AgentLink::Connected {
            session,
            sink: sink.clone(),
            last_seen: now,
        };
        let was_unreachable;
        let checkpointed = self
            .agents
            .get(&agent_id)
            .map(|a| a.resources.checkpointed_wire())
            .unwrap_or_default();
        let (resources, dropped) = AgentResources::new(configured, &checkpointed);
        for d in dropped {
            warn!(agent_id = %agent_id, dropped = %d, "reservation or volume no longer fits the agent's resources; forgotten");
        }
        let total = resources.total.total();
        if let Some(agent) = self.agents.get_mut(&agent_id) {
            was_unreachable = matches!(agent.link, AgentLink::Unreachable { .. });
            info!(agent_id = %agent_id, was_unreachable, "agent re-registered");
            agent.info = info;
            agent.total = total.clone();
            agent.resources = resources;
            agent.endpoint = reg.http_endpoint.clone();
            agent.isolation = reg.isolation.clone();
            agent.version = reg.version.clone();
            agent.reregistered_time = Some(unix_now);
            agent.link = link;
        } else {
            was_unreachable = false;
            info!(agent_id = %agent_id, resources = %total, endpoint = %reg.http_endpoint, "agent registered");
            self.agents.insert(
                agent_id.clone(),
                Agent {
                    id: agent_id.clone(),
                    info,
                    total: total.clone(),
                    resources,
                    endpoint: reg.http_endpoint.clone(),
                    isolation: reg.isolation.clone(),
                    version: reg.version.clone(),
                    registered_time: unix_now,
                    reregistered_time: None,
                    link,
                    tasks: HashSet::new(),
                },
            );
        }
        if let Some(agent) = self.agents.get(&agent_id) {
            self.registry_ops
                .push(crate::registry::RegistryOp::PutAgent(
                    agent_id.clone(),
                    crate::registry::AgentRecord {
                        info: agent.info.clone(),
                        endpoint: agent.endpoint.clone(),
                        checkpointed_resources: agent.resources.checkpointed_wire(),
                    },
                ));
        }
        self.rescind_agent_offers(&agent_id);
        self.reconcile_agent_tasks(
            now,
            &agent_id,
            reg.tasks,
            &reg.frameworks,
            was_unreachable,
            &sink,
        );

        // Re-add the agent to the allocator with its reservations and what
        // its tasks and executors use.
        self.add_agent_to_allocator(&agent_id);
        self.emit_agent("AGENT_ADDED", &agent_id);
        self.allocation_pending = true;
        let _ = sink.send(internal::MasterMessage::of(ToAgent::Registered(
            internal::Registered {
                agent_id: Some(v1::agent_id(agent_id.as_str())),
                heartbeat_interval_ms: self.config.agent_ping_timeout.as_millis() as u64,
                master_info: Some(self.master_info()),
            },
        )));
        // The master's record of reservations and volumes is the truth: the
        // agent adopts it (and removes volumes destroyed while it was away).
        let resources = self
            .agents
            .get(&agent_id)
            .map(|a| a.resources.checkpointed_wire())
            .unwrap_or_default();
        let _ = sink.send(internal::MasterMessage::of(ToAgent::CheckpointResources(
            internal::CheckpointResources { resources },
        )));
        Ok(agent_id)
    }

    fn reconcile_agent_tasks(
        &mut self,
        now: Time,
        agent_id: &AgentId,
        reports: Vec<internal::TaskReport>,
        frameworks: &[v1::FrameworkInfo],
        was_unreachable: bool,
        sink: &AgentSink,
    ) {
        let unix_now = unix(&self.config, now);
        let mut reported: HashSet<(FrameworkId, TaskId)> = HashSet::new();
        for rep in reports {
            let (Some(fid), Some(task)) = (rep.framework_id, rep.task) else {
                continue;
            };
            let fid = FrameworkId(fid.value);
            let tid = TaskId(
                task.task_id
                    .as_ref()
                    .map(|t| t.value.clone())
                    .unwrap_or_default(),
            );
            let state = task_state_from_wire(rep.state);
            reported.insert((fid.clone(), tid.clone()));
            if self.removed_frameworks.contains(&fid) {
                let _ = sink.send(internal::MasterMessage::of(ToAgent::ShutdownFramework(
                    internal::ShutdownFramework {
                        framework_id: Some(v1::framework_id(fid.as_str())),
                    },
                )));
                continue;
            }
            if !self.frameworks.contains_key(&fid) {
                // The master does not know this framework (it restarted): keep
                // the framework's place until it re-subscribes or times out.
                let mut info = frameworks
                    .iter()
                    .find(|f| f.id.as_ref().is_some_and(|i| i.value == fid.as_str()))
                    .cloned()
                    .unwrap_or_else(|| v1::FrameworkInfo {
                        id: Some(v1::framework_id(fid.as_str())),
                        ..Default::default()
                    });
                info.id = Some(v1::framework_id(fid.as_str()));
                let timeout =
                    Duration::from_secs_f64(info.failover_timeout.unwrap_or(0.0).clamp(0.0, 1e9));
                self.frameworks.insert(
                    fid.clone(),
                    Framework {
                        id: fid.clone(),
                        info,
                        conn: FrameworkConn::Disconnected {
                            since: now,
                            failover_deadline: now + timeout,
                        },
                        registered_time: unix_now,
                        reregistered_time: None,
                        unregistered_time: Some(unix_now),
                        tasks: HashMap::new(),
                        completed_tasks: VecDeque::new(),
                        offers: HashSet::new(),
                        executors: HashMap::new(),
                        suppressed: false,
                    },
                );
                self.allocator.add_framework(fid.clone(), &[]);
                self.allocator.deactivate_framework(&fid);
            }
            let pa = self
                .frameworks
                .get(&fid)
                .is_some_and(Framework::partition_aware);
            let fw = self.frameworks.get_mut(&fid).expect("inserted above");
            let lost_earlier = fw
                .completed_tasks
                .iter()
                .any(|t| t.id == tid && t.state == TaskState::Lost);
            if lost_earlier && !fw.tasks.contains_key(&tid) {
                // The framework was told this task is lost: it must not come back.
                info!(framework_id = %fid, task_id = %tid, "killing task reported lost earlier");
                let _ = sink.send(internal::MasterMessage::of(ToAgent::KillTask(
                    internal::KillTask {
                        framework_id: Some(v1::framework_id(fid.as_str())),
                        task_id: Some(v1::task_id(tid.as_str())),
                        kill_policy: None,
                    },
                )));
                continue;
            }
            let resources = detailed_from_wire(&task.resources)
                .map(|d| d.total())
                .unwrap_or_default();
            let role = reported_role(&task, Some(&fw.info));
            let executor_id = task
                .executor
                .as_ref()
                .and_then(|e| e.executor_id.as_ref())
                .map(|e| ExecutorId(e.value.clone()));
            if let (Some(eid), Some(exec)) = (&executor_id, &task.executor) {
                fw.executors
                    .entry((agent_id.clone(), eid.clone()))
                    .or_insert_with(|| Executor {
                        info: exec.clone(),
                        resources: detailed_from_wire(&exec.resources)
                            .map(|d| d.total())
                            .unwrap_or_default(),
                        role: role.clone(),
                    });
            }
            match fw.tasks.get_mut(&tid) {
                Some(t) => {
                    let prev = t.state;
                    if prev != state && !prev.is_terminal() {
                        t.state = state;
                        t.statuses.push((state, unix_now));
                    }
                    if was_unreachable && pa && prev == TaskState::Unreachable {
                        let st = v1::TaskStatus {
                            task_id: Some(v1::task_id(tid.as_str())),
                            state: task_state_to_wire(state),
                            message: Some("agent re-registered".into()),
                            source: Some(v1::TaskStatusSource::SourceMaster as i32),
                            reason: Some(v1::TaskStatusReason::ReasonAgentReregistered as i32),
                            agent_id: Some(v1::agent_id(agent_id.as_str())),
                            timestamp: Some(unix_now),
                            ..Default::default()
                        };
                        if let Some(s) = fw.sink() {
                            let _ = s.send(update_event(st));
                        }
                    }
                }
                None => {
                    fw.tasks.insert(
                        tid.clone(),
                        Task {
                            id: tid.clone(),
                            framework_id: fid.clone(),
                            agent_id: agent_id.clone(),
                            executor_id,
                            info: task,
                            resources,
                            state,
                            status_update_state: None,
                            statuses: vec![(state, unix_now)],
                            last_status: None,
                            unacked: Vec::new(),
                            role,
                        },
                    );
                }
            }
            if let Some(agent) = self.agents.get_mut(agent_id) {
                agent.tasks.insert((fid.clone(), tid.clone()));
            }
        }
        // Tasks the master placed on this agent that the agent does not have.
        let missing: Vec<(FrameworkId, TaskId)> = self
            .agents
            .get(agent_id)
            .map(|a| {
                a.tasks
                    .iter()
                    .filter(|k| !reported.contains(*k))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for (fid, tid) in missing {
            let state = self.lost_state(&fid);
            let terminal_already = self
                .frameworks
                .get(&fid)
                .and_then(|f| f.tasks.get(&tid))
                .is_none_or(|t| t.state.is_terminal());
            if terminal_already {
                continue;
            }
            let st = self.master_status(
                now,
                &tid,
                Some(agent_id),
                state,
                v1::TaskStatusReason::ReasonAgentReregistered,
                "the agent re-registered without this task",
            );
            self.apply_master_status(now, &fid, &tid, st);
        }
    }

    /// Records a master-generated status on a task, frees its resources if it
    /// became terminal, and tells the framework.
    fn apply_master_status(
        &mut self,
        now: Time,
        fid: &FrameworkId,
        tid: &TaskId,
        st: v1::TaskStatus,
    ) {
        let state = task_state_from_wire(st.state);
        let unix_now = unix(&self.config, now);
        let max_completed = self.config.max_completed_tasks_per_framework;
        let Some(fw) = self.frameworks.get_mut(fid) else {
            return;
        };
        if let Some(sink) = fw.sink() {
            let _ = sink.send(update_event(st.clone()));
        }
        if self.events.active() {
            let v = serde_json::json!({
                "framework_id": {"value": fid.as_str()},
                "status": serde_json::to_value(&st).unwrap_or_default(),
                "state": state.as_mesos_str(),
            });
            self.events.emit("TASK_UPDATED", v);
        }
        let Some(task) = fw.tasks.get_mut(tid) else {
            return;
        };
        let was_terminal = task.state.is_terminal();
        task.state = state;
        task.statuses.push((state, unix_now));
        task.last_status = Some(st);
        if state.is_terminal() && !was_terminal {
            *self.counters.terminal_tasks.entry(state).or_default() += 1;
            // Master-generated terminal updates need no acknowledgement.
            let task = fw.tasks.remove(tid).expect("present");
            if let Some(agent) = self.agents.get_mut(&task.agent_id) {
                agent.tasks.remove(&(fid.clone(), tid.clone()));
                if matches!(agent.link, AgentLink::Connected { .. }) {
                    give_back_to(
                        &mut self.allocator,
                        now,
                        &task.agent_id,
                        fid,
                        &task.role,
                        &task_tagged(&task),
                        None,
                    );
                    self.allocation_pending = true;
                }
            }
            fw.completed_tasks.push_back(task);
            while fw.completed_tasks.len() > max_completed {
                fw.completed_tasks.pop_front();
            }
        }
    }

    /// A heartbeat (or any message) arrived on an agent's link.
    pub fn agent_seen(&mut self, now: Time, agent_id: &AgentId, session: u64) -> bool {
        match self.agents.get_mut(agent_id).map(|a| &mut a.link) {
            Some(AgentLink::Connected {
                session: s,
                last_seen,
                ..
            }) if *s == session => {
                *last_seen = now;
                true
            }
            _ => false,
        }
    }

    /// An agent's link ended. Its offers are rescinded at once; it becomes
    /// unreachable if it does not come back within the ping timeout.
    pub fn agent_disconnected(&mut self, now: Time, agent_id: &AgentId, session: u64) {
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        match &agent.link {
            AgentLink::Connected { session: s, .. } if *s == session => {}
            _ => return,
        }
        warn!(agent_id = %agent_id, "agent disconnected");
        agent.link = AgentLink::Disconnected { since: now };
        self.allocator.deactivate_agent(agent_id);
        self.rescind_agent_offers(agent_id);
        self.emit_agent("AGENT_UPDATED", agent_id);
    }

    /// Marks an agent unreachable: offers rescinded, tasks reported
    /// TASK_UNREACHABLE (partition-aware frameworks) or TASK_LOST, and every
    /// framework told the agent was lost.
    pub fn mark_unreachable(&mut self, now: Time, agent_id: &AgentId) {
        let unix_now = unix(&self.config, now);
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        if matches!(agent.link, AgentLink::Unreachable { .. }) {
            return;
        }
        warn!(agent_id = %agent_id, "agent unreachable: missed its heartbeats");
        agent.link = AgentLink::Unreachable {
            since_unix: unix_now,
        };
        let tasks: Vec<(FrameworkId, TaskId)> = agent.tasks.iter().cloned().collect();
        self.counters.agents_unreachable += 1;
        self.events.emit(
            "AGENT_REMOVED",
            serde_json::json!({"agent_id": {"value": agent_id.as_str()}, "reason": "unreachable"}),
        );
        self.rescind_agent_offers(agent_id);
        self.allocator.remove_agent(agent_id);
        for fw in self.frameworks.values_mut() {
            fw.executors.retain(|(a, _), _| a != agent_id);
        }
        for (fid, tid) in tasks {
            let Some(fw) = self.frameworks.get(&fid) else {
                continue;
            };
            let pa = fw.partition_aware();
            let Some(task) = fw.tasks.get(&tid) else {
                continue;
            };
            if task.state.is_terminal() {
                continue;
            }
            let mut st = self.master_status(
                now,
                &tid,
                Some(agent_id),
                if pa {
                    TaskState::Unreachable
                } else {
                    TaskState::Lost
                },
                v1::TaskStatusReason::ReasonAgentRemoved,
                format!("agent {agent_id} is unreachable"),
            );
            if pa {
                st.unreachable_time = Some(v1::TimeInfo {
                    nanoseconds: (unix_now * 1e9) as i64,
                });
                let fw = self.frameworks.get_mut(&fid).expect("present");
                if let Some(sink) = fw.sink() {
                    let _ = sink.send(update_event(st.clone()));
                }
                let task = fw.tasks.get_mut(&tid).expect("present");
                task.state = TaskState::Unreachable;
                task.statuses.push((TaskState::Unreachable, unix_now));
                task.last_status = Some(st);
            } else {
                self.apply_master_status(now, &fid, &tid, st);
            }
        }
        let failure = v1::SchedulerEvent {
            failure: Some(v1::EventFailure {
                agent_id: Some(v1::agent_id(agent_id.as_str())),
                ..Default::default()
            }),
            ..event(v1::SchedulerEventType::Failure)
        };
        for fw in self.frameworks.values() {
            if let Some(sink) = fw.sink() {
                let _ = sink.send(failure.clone());
            }
        }
        self.allocation_pending = true;
    }

    /// A status update from an agent, to be forwarded to its framework.
    pub fn status_update(&mut self, now: Time, agent_id: &AgentId, upd: internal::StatusUpdate) {
        self.counters.status_updates += 1;
        let (Some(fid), Some(mut status)) = (upd.framework_id, upd.status) else {
            return;
        };
        let fid = FrameworkId(fid.value);
        let tid = TaskId(
            status
                .task_id
                .as_ref()
                .map(|t| t.value.clone())
                .unwrap_or_default(),
        );
        status.agent_id = Some(v1::agent_id(agent_id.as_str()));
        let state = task_state_from_wire(status.state);
        let latest = upd.latest_state.map(task_state_from_wire).unwrap_or(state);
        let unix_now = unix(&self.config, now);
        let mut recovered: Option<(RoleResources, String)> = None;
        let Some(fw) = self.frameworks.get_mut(&fid) else {
            debug!(framework_id = %fid, task_id = %tid, "status update for an unknown framework dropped");
            return;
        };
        if let Some(task) = fw.tasks.get_mut(&tid) {
            if !task.state.is_terminal() {
                if latest.is_terminal() {
                    recovered = Some((task_tagged(task), task.role.clone()));
                    *self.counters.terminal_tasks.entry(latest).or_default() += 1;
                }
                if task.state != latest {
                    task.state = latest;
                    task.statuses
                        .push((latest, status.timestamp.unwrap_or(unix_now)));
                }
            }
            if let Some(uuid) = &status.uuid {
                if !task.unacked.iter().any(|(u, _)| u == uuid) {
                    task.unacked.push((uuid.clone(), state));
                }
            }
            let mut keep = status.clone();
            keep.data = None;
            task.last_status = Some(keep);
        }
        if self.events.active() {
            let v = serde_json::json!({
                "framework_id": {"value": fid.as_str()},
                "agent_id": {"value": agent_id.as_str()},
                "status": serde_json::to_value(&status).unwrap_or_default(),
                "state": latest.as_mesos_str(),
            });
            self.events.emit("TASK_UPDATED", v);
        }
        if let Some(sink) = fw.sink() {
            let _ = sink.send(update_event(status));
        }
        if let Some((res, role)) = recovered {
            if self.agents.get(agent_id).is_some_and(Agent::active) {
                give_back_to(&mut self.allocator, now, agent_id, &fid, &role, &res, None);
                self.allocation_pending = true;
            }
        }
    }

    /// A custom executor exited on an agent.
    pub fn executor_exited(&mut self, agent_id: &AgentId, ex: internal::ExecutorExited) {
        let (Some(fid), Some(eid)) = (ex.framework_id, ex.executor_id) else {
            return;
        };
        let fid = FrameworkId(fid.value);
        let key = (agent_id.clone(), ExecutorId(eid.value.clone()));
        let Some(fw) = self.frameworks.get_mut(&fid) else {
            return;
        };
        let Some(exec) = fw.executors.remove(&key) else {
            return;
        };
        info!(framework_id = %fid, executor_id = %eid.value, status = ex.status, "executor exited");
        if let Some(sink) = fw.sink() {
            let _ = sink.send(v1::SchedulerEvent {
                failure: Some(v1::EventFailure {
                    agent_id: Some(v1::agent_id(agent_id.as_str())),
                    executor_id: Some(eid),
                    status: Some(ex.status),
                }),
                ..event(v1::SchedulerEventType::Failure)
            });
        }
        if self.agents.get(agent_id).is_some_and(Agent::active) {
            give_back_to(
                &mut self.allocator,
                Duration::ZERO,
                agent_id,
                &fid,
                &exec.role,
                &detailed_of(&exec.info.resources, &exec.resources).role_resources(),
                None,
            );
            self.allocation_pending = true;
        }
    }

    /// A message from an executor to its framework.
    pub fn framework_message(&mut self, agent_id: &AgentId, msg: internal::FrameworkMessage) {
        let (Some(fid), Some(eid)) = (msg.framework_id, msg.executor_id) else {
            return;
        };
        self.send_to_framework(
            &FrameworkId(fid.value),
            v1::SchedulerEvent {
                message: Some(v1::EventMessage {
                    agent_id: Some(v1::agent_id(agent_id.as_str())),
                    executor_id: Some(eid),
                    data: msg.data,
                }),
                ..event(v1::SchedulerEventType::Message)
            },
        );
    }

    // === time ===

    /// Periodic work: framework heartbeats, agent ping timeouts, framework
    /// failover timeouts, offer timeouts.
    pub fn tick(&mut self, now: Time) {
        let hb = self.config.framework_heartbeat_interval;
        for fw in self.frameworks.values_mut() {
            if let FrameworkConn::Connected {
                sink,
                last_heartbeat,
                ..
            } = &mut fw.conn
            {
                if now.saturating_sub(*last_heartbeat) >= hb {
                    let _ = sink.send(event(v1::SchedulerEventType::Heartbeat));
                    *last_heartbeat = now;
                }
            }
        }
        let limit = self.config.agent_ping_timeout * self.config.max_agent_ping_timeouts;
        let overdue: Vec<AgentId> = self
            .agents
            .values()
            .filter(|a| match a.link {
                AgentLink::Connected { last_seen, .. } => now.saturating_sub(last_seen) > limit,
                AgentLink::Disconnected { since } => now.saturating_sub(since) > limit,
                AgentLink::Unreachable { .. } => false,
            })
            .map(|a| a.id.clone())
            .collect();
        for id in overdue {
            self.mark_unreachable(now, &id);
        }
        let expired: Vec<FrameworkId> = self
            .frameworks
            .values()
            .filter(|f| matches!(f.conn, FrameworkConn::Disconnected { failover_deadline, .. } if failover_deadline <= now))
            .map(|f| f.id.clone())
            .collect();
        for id in expired {
            self.remove_framework(now, &id, "failover timeout expired");
        }
        let stale: Vec<OfferId> = self
            .offers
            .values()
            .filter(|o| o.expires_at.is_some_and(|t| t <= now))
            .map(|o| o.id.clone())
            .collect();
        for id in stale {
            self.rescind_offer(&id);
        }
    }

    /// Starts the wait of every connected, unsuppressed framework in each
    /// of its roles (if not already waiting) and forgets the others; offers
    /// restart it (see [`MasterCore::allocate`]).
    fn note_wanting(&mut self, now: Time) {
        let mut wanting = HashSet::new();
        for fw in self.frameworks.values() {
            if fw.connected() && !fw.suppressed {
                for role in framework_roles(&fw.info) {
                    wanting.insert((fw.id.clone(), role));
                }
            }
        }
        self.wanting_since.retain(|k, _| wanting.contains(k));
        for k in wanting {
            self.wanting_since.entry(k).or_insert(now);
        }
    }

    /// How long `fid` has wanted offers in each of its roles without one,
    /// as of `now` (empty while it does not want any: disconnected or
    /// suppressed).
    pub fn starvation_of(&self, fid: &FrameworkId, now: Time) -> BTreeMap<String, Duration> {
        self.wanting_since
            .range((fid.clone(), String::new())..)
            .take_while(|((f, _), _)| f == fid)
            .map(|((_, role), since)| (role.clone(), now.saturating_sub(*since)))
            .collect()
    }

    /// Emits FRAMEWORK_ADDED / FRAMEWORK_UPDATED for `fid` if anyone listens.
    fn emit_framework(&mut self, kind: &str, fid: &FrameworkId) {
        if !self.events.active() {
            return;
        }
        let Some(fw) = self.frameworks.get(fid) else {
            return;
        };
        let v = serde_json::json!({"framework": {
            "framework_info": serde_json::to_value(&fw.info).unwrap_or_default(),
            "active": fw.connected() && !fw.suppressed,
            "connected": fw.connected(),
            "registered_time": fw.registered_time,
        }});
        self.events.emit(kind, v);
    }

    /// Emits AGENT_ADDED (or AGENT_UPDATED) for `agent_id` if anyone listens.
    fn emit_agent(&mut self, kind: &str, agent_id: &AgentId) {
        if !self.events.active() {
            return;
        }
        let Some(agent) = self.agents.get(agent_id) else {
            return;
        };
        let v = serde_json::json!({"agent": {
            "agent_info": serde_json::to_value(&agent.info).unwrap_or_default(),
            "active": agent.active(),
            "resources": crate::state_json::resources(&agent.total),
        }});
        self.events.emit(kind, v);
    }

    /// Runs the allocator and sends the resulting offers.
    pub fn allocate(&mut self, now: Time) {
        self.allocation_pending = false;
        let allocations = self.allocator.allocate(now);
        self.note_wanting(now);
        let mut by_framework: BTreeMap<FrameworkId, Vec<v1::Offer>> = BTreeMap::new();
        for a in allocations {
            let (Some(agent), Some(fw)) = (
                self.agents.get(&a.agent_id),
                self.frameworks.get_mut(&a.framework_id),
            ) else {
                give_back_to(
                    &mut self.allocator,
                    now,
                    &a.agent_id,
                    &a.framework_id,
                    &a.role,
                    &a.tagged(),
                    None,
                );
                continue;
            };
            if !fw.connected() || !agent.active() {
                give_back_to(
                    &mut self.allocator,
                    now,
                    &a.agent_id,
                    &a.framework_id,
                    &a.role,
                    &a.tagged(),
                    None,
                );
                continue;
            }
            self.wanting_since
                .insert((a.framework_id.clone(), a.role.clone()), now);
            let detailed = self.offer_resources(&a.agent_id, &a);
            let offered = self.offer_wire(&a.agent_id, &detailed, &a.role);
            let (Some(agent), Some(fw)) = (
                self.agents.get(&a.agent_id),
                self.frameworks.get_mut(&a.framework_id),
            ) else {
                continue;
            };
            self.next_offer += 1;
            let oid = OfferId(format!("{}-O{}", self.config.master_id, self.next_offer));
            let executor_ids = fw
                .executors
                .keys()
                .filter(|(ag, _)| *ag == a.agent_id)
                .map(|(_, e)| v1::executor_id(e.as_str()))
                .collect();
            let host_port = agent.host_port();
            let (host, port) = host_port
                .rsplit_once(':')
                .unwrap_or((host_port.as_str(), "5051"));
            let wire = v1::Offer {
                id: Some(v1::offer_id(oid.as_str())),
                framework_id: Some(v1::framework_id(a.framework_id.as_str())),
                agent_id: Some(v1::agent_id(a.agent_id.as_str())),
                hostname: agent.info.hostname.clone(),
                url: Some(v1::Url {
                    scheme: "http".into(),
                    address: Some(v1::Address {
                        hostname: Some(agent.info.hostname.clone()),
                        ip: Some(host.to_owned()),
                        port: port.parse().unwrap_or(5051),
                    }),
                    path: Some("/slave(1)".into()),
                    ..Default::default()
                }),
                resources: offered,
                attributes: agent.info.attributes.clone(),
                executor_ids,
                allocation_info: Some(v1::AllocationInfo {
                    role: Some(a.role.clone()),
                }),
            };
            fw.offers.insert(oid.clone());
            if detailed.has_reservations() {
                self.offer_details.insert(oid.clone(), detailed);
            }
            self.offers.insert(
                oid.clone(),
                Offer {
                    id: oid,
                    framework_id: a.framework_id.clone(),
                    agent_id: a.agent_id.clone(),
                    resources: a.resources.clone(),
                    expires_at: self.config.offer_timeout.map(|t| now + t),
                    role: a.role.clone(),
                    made_at: now,
                },
            );
            self.counters.offers_sent += 1;
            self.events
                .count(a.framework_id.as_str(), |c| c.received += 1);
            self.events.emit(
                "OFFER_MADE",
                serde_json::json!({"offer": {
                    "id": wire.id.as_ref().map(|i| i.value.clone()),
                    "framework_id": a.framework_id.as_str(),
                    "agent_id": a.agent_id.as_str(),
                    "hostname": wire.hostname,
                    "role": a.role,
                    "resources": crate::state_json::resources(&a.resources),
                    "made_at": unix(&self.config, now),
                }}),
            );
            by_framework.entry(a.framework_id).or_default().push(wire);
        }
        for (fid, offers) in by_framework {
            self.send_to_framework(
                &fid,
                v1::SchedulerEvent {
                    offers: Some(v1::EventOffers { offers }),
                    ..event(v1::SchedulerEventType::Offers)
                },
            );
        }
    }
}
