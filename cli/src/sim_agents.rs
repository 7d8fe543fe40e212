//! `strata bench sim-agents`: thousands of simulated agents in one process,
//! for measuring the master at cluster scale without thousands of machines.
//!
//! Each simulated agent speaks the real internal protocol over the real
//! tonic `AgentLink` stream, as `strata-agent`'s `link.rs` and `actor.rs` do:
//! it registers (with its own hostname, attributes and, once the master has
//! given it one, its agent id, reporting its tasks when it re-registers),
//! heartbeats every half heartbeat interval, and keeps one stream of status
//! updates per task whose head is resent with backoff until acknowledged.
//! It runs nothing: RunTask is answered with TASK_STARTING then TASK_RUNNING,
//! KillTask with TASK_KILLED. A task's resources stay charged until the
//! framework kills it, exactly as for a real `sleep`.
//!
//! Every agent is a tokio task. Agents share HTTP/2 connections in groups of
//! `--agents-per-connection` (each agent is its own stream on its group's
//! connection); 1 gives every agent its own connection, like real agents.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::Args;
use futures::StreamExt;
use strata_api::Resources;
use strata_proto::convert::{parse_attributes, resources_to_wire};
use strata_proto::internal::agent_link::agent_link_client::AgentLinkClient;
use strata_proto::internal::{
    self, agent_message::Body as ToMaster, master_message::Body as FromMaster, AgentMessage,
};
use strata_proto::v1;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};

/// Options of `strata bench sim-agents`.
#[derive(Args)]
pub struct SimAgentsArgs {
    /// The master, as host:port.
    #[arg(long, default_value = "127.0.0.1:5050")]
    master: String,
    /// How many agents to simulate.
    #[arg(long, default_value_t = 100)]
    agents: usize,
    /// Resources of every agent.
    #[arg(
        long,
        default_value = "cpus:16;mem:65536;disk:100000;ports:[31000-32000]"
    )]
    resources: String,
    /// Agent i is called `<prefix><i>`.
    #[arg(long, default_value = "sim-")]
    hostname_prefix: String,
    /// Agents sharing one HTTP/2 connection, each on its own stream (at most
    /// 200, the master's limit of concurrent streams per connection).
    #[arg(long, default_value_t = 1)]
    agents_per_connection: usize,
    /// Registrations in flight at once.
    #[arg(long, default_value_t = 256)]
    register_concurrency: usize,
    /// Stop after this many seconds (0: at Ctrl-C or SIGTERM).
    #[arg(long, default_value_t = 0)]
    seconds: u64,
}

/// Status updates are resent with this backoff until acknowledged (the real
/// agent's values).
const RETRY_MIN: Duration = Duration::from_secs(2);
const RETRY_MAX: Duration = Duration::from_secs(60);
/// How long a registration may take before the agent tries again.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(120);
/// The master's limit of concurrent HTTP/2 streams per connection.
const MAX_STREAMS_PER_CONNECTION: usize = 200;

// === shared counters ===

/// What all simulated agents did, for the progress lines.
#[derive(Default)]
struct Stats {
    registered: AtomicUsize,
    registrations: AtomicUsize,
    live_tasks: AtomicUsize,
    launched: AtomicU64,
    killed: AtomicU64,
    updates_sent: AtomicU64,
    acknowledged: AtomicU64,
    link_failures: AtomicU64,
}

/// Unique status update uuids without a uuid crate: 16 bytes of agent
/// index, a process-wide counter and the process start time.
struct UuidSource {
    start: u32,
    next: AtomicU64,
}

impl UuidSource {
    fn next(&self, agent: usize) -> Vec<u8> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut out = Vec::with_capacity(16);
        out.extend_from_slice(&(agent as u32).to_be_bytes());
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(&self.start.to_be_bytes());
        out
    }
}

struct Shared {
    stats: Stats,
    uuids: UuidSource,
    registering: Semaphore,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

// === one simulated agent ===

/// A task the agent pretends to run.
struct SimTask {
    framework_id: String,
    info: v1::TaskInfo,
    executor_id: String,
    state: v1::TaskState,
}

/// Updates of one task, delivered in order, each until acknowledged.
struct UpdateStream {
    pending: VecDeque<v1::TaskStatus>,
    next_retry: Instant,
    backoff: Duration,
}

struct SimAgent {
    index: usize,
    info: v1::AgentInfo,
    agent_id: Option<String>,
    heartbeat_every: Duration,
    frameworks: HashMap<String, v1::FrameworkInfo>,
    /// By (framework id, task id).
    tasks: HashMap<(String, String), SimTask>,
    streams: HashMap<(String, String), UpdateStream>,
    shared: Arc<Shared>,
}

impl SimAgent {
    fn register_message(&self) -> internal::Register {
        let mut info = self.info.clone();
        info.id = self.agent_id.as_deref().map(v1::agent_id);
        let tasks = self
            .tasks
            .iter()
            .filter(|(k, t)| !is_terminal(t.state) || self.streams.contains_key(*k))
            .map(|(_, t)| internal::TaskReport {
                framework_id: Some(v1::framework_id(&t.framework_id)),
                task: Some(t.info.clone()),
                state: t.state as i32,
            })
            .collect();
        internal::Register {
            agent_info: Some(info),
            tasks,
            // Nothing listens there: the UI's sandbox views say the agent is unreachable.
            http_endpoint: "http://127.0.0.1:1".into(),
            isolation: "simulated (strata bench sim-agents)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            frameworks: self.frameworks.values().cloned().collect(),
        }
    }

    /// One registration and the life of its link. `Ok` when the master
    /// closed the link, `Err` when it could not be opened or broke.
    async fn session(&mut self, client: &mut AgentLinkClient<Channel>) -> Result<(), String> {
        let permit = self
            .shared
            .registering
            .acquire()
            .await
            .map_err(|_| "stopping".to_string())?;
        let (tx, rx) = mpsc::unbounded_channel::<AgentMessage>();
        let _ = tx.send(AgentMessage::of(ToMaster::Register(
            self.register_message(),
        )));
        let outbound =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
        let connect = client.connect(outbound);
        let mut inbound = match tokio::time::timeout(REGISTER_TIMEOUT, connect).await {
            Ok(Ok(r)) => r.into_inner(),
            Ok(Err(status)) => return Err(format!("register: {}", status.message())),
            Err(_) => return Err("register: no answer within 120s".into()),
        };
        let first = match tokio::time::timeout(REGISTER_TIMEOUT, inbound.next()).await {
            Ok(Some(Ok(m))) => m,
            Ok(Some(Err(status))) => return Err(format!("link: {}", status.message())),
            Ok(None) => return Ok(()),
            Err(_) => return Err("no Registered within 120s".into()),
        };
        drop(permit);
        match first.body {
            Some(FromMaster::Registered(r)) => self.registered(r),
            Some(FromMaster::Shutdown(s)) => {
                self.shutdown(&s.reason);
                return Ok(());
            }
            _ => return Err("the master's first message was not Registered".into()),
        }
        let shared = self.shared.clone();
        shared.stats.registered.fetch_add(1, Ordering::Relaxed);
        shared.stats.registrations.fetch_add(1, Ordering::Relaxed);
        let outcome = self.linked(&mut inbound, &tx).await;
        shared.stats.registered.fetch_sub(1, Ordering::Relaxed);
        outcome
    }

    /// Serves a registered link until it ends.
    async fn linked(
        &mut self,
        inbound: &mut tonic::Streaming<internal::MasterMessage>,
        tx: &mpsc::UnboundedSender<AgentMessage>,
    ) -> Result<(), String> {
        let mut next_heartbeat = Instant::now() + self.heartbeat_every / 2;
        self.flush_due(tx);
        loop {
            let wake = self
                .streams
                .values()
                .map(|s| s.next_retry)
                .min()
                .map_or(next_heartbeat, |t| t.min(next_heartbeat));
            tokio::select! {
                msg = inbound.next() => match msg {
                    Some(Ok(m)) => {
                        if !self.handle(m, tx) {
                            return Ok(());
                        }
                    }
                    Some(Err(status)) => return Err(format!("link: {}", status.message())),
                    None => return Ok(()),
                },
                _ = tokio::time::sleep_until(wake) => {
                    let now = Instant::now();
                    if now >= next_heartbeat {
                        let _ = tx.send(AgentMessage::of(ToMaster::Heartbeat(internal::Heartbeat {})));
                        next_heartbeat = now + self.heartbeat_every / 2;
                    }
                    self.flush_due(tx);
                }
            }
        }
    }

    fn registered(&mut self, r: internal::Registered) {
        self.agent_id = r.agent_id.map(|a| a.value);
        self.heartbeat_every = Duration::from_millis(r.heartbeat_interval_ms.max(100));
        // Whatever was not acknowledged goes again: a new master may never
        // have seen it.
        let now = Instant::now();
        for s in self.streams.values_mut() {
            s.next_retry = now;
            s.backoff = RETRY_MIN;
        }
    }

    /// The master refused this agent: forget everything and register anew.
    fn shutdown(&mut self, reason: &str) {
        tracing::warn!(agent = %self.info.hostname, %reason, "the master shut this agent down; registering as a new agent");
        self.agent_id = None;
        let gone = self
            .tasks
            .values()
            .filter(|t| !is_terminal(t.state))
            .count();
        self.shared
            .stats
            .live_tasks
            .fetch_sub(gone, Ordering::Relaxed);
        self.tasks.clear();
        self.streams.clear();
        self.frameworks.clear();
    }

    /// Handles one message; false when the link must end.
    fn handle(
        &mut self,
        msg: internal::MasterMessage,
        tx: &mpsc::UnboundedSender<AgentMessage>,
    ) -> bool {
        match msg.body {
            Some(FromMaster::RunTask(run)) => {
                if let (Some(fw), Some(task)) = (run.framework_info, run.task) {
                    // Command tasks run under an executor named after them.
                    let executor = task
                        .executor
                        .as_ref()
                        .and_then(|e| e.executor_id.as_ref())
                        .map(|e| e.value.clone())
                        .or_else(|| task.task_id.as_ref().map(|t| t.value.clone()))
                        .unwrap_or_default();
                    self.run(fw, task, executor);
                }
            }
            Some(FromMaster::RunTaskGroup(run)) => {
                if let (Some(fw), Some(group)) = (run.framework_info, run.task_group) {
                    let executor = run
                        .executor
                        .and_then(|e| e.executor_id)
                        .map(|e| e.value)
                        .unwrap_or_default();
                    for task in group.tasks {
                        self.run(fw.clone(), task, executor.clone());
                    }
                }
            }
            Some(FromMaster::KillTask(k)) => {
                if let (Some(fid), Some(tid)) = (k.framework_id, k.task_id) {
                    self.kill(fid.value, tid.value);
                }
            }
            Some(FromMaster::Acknowledge(a)) => {
                if let (Some(fid), Some(tid)) = (a.framework_id, a.task_id) {
                    self.acknowledge((fid.value, tid.value), &a.uuid);
                }
            }
            Some(FromMaster::ShutdownFramework(s)) => {
                if let Some(fid) = s.framework_id {
                    self.shutdown_framework(&fid.value);
                }
            }
            Some(FromMaster::ShutdownExecutor(s)) => {
                if let (Some(fid), Some(eid)) = (s.framework_id, s.executor_id) {
                    let tasks: Vec<String> = self
                        .tasks
                        .iter()
                        .filter(|((f, _), t)| *f == fid.value && t.executor_id == eid.value)
                        .map(|((_, t), _)| t.clone())
                        .collect();
                    for tid in tasks {
                        self.kill(fid.value.clone(), tid);
                    }
                }
            }
            Some(FromMaster::Shutdown(s)) => {
                self.shutdown(&s.reason);
                return false;
            }
            Some(FromMaster::Registered(r)) => self.registered(r),
            // Framework messages go to executors and checkpointed
            // reservations to disk: a simulated agent has neither.
            _ => {}
        }
        self.flush_due(tx);
        true
    }

    fn run(&mut self, fw: v1::FrameworkInfo, task: v1::TaskInfo, executor_id: String) {
        let fid = fw.id.as_ref().map(|i| i.value.clone()).unwrap_or_default();
        let tid = task
            .task_id
            .as_ref()
            .map(|t| t.value.clone())
            .unwrap_or_default();
        let key = (fid.clone(), tid);
        if self.tasks.get(&key).is_some_and(|t| !is_terminal(t.state)) {
            return;
        }
        self.frameworks.insert(fid.clone(), fw);
        self.tasks.insert(
            key.clone(),
            SimTask {
                framework_id: fid,
                info: task,
                executor_id,
                state: v1::TaskState::TaskStaging,
            },
        );
        let stats = &self.shared.stats;
        stats.launched.fetch_add(1, Ordering::Relaxed);
        stats.live_tasks.fetch_add(1, Ordering::Relaxed);
        // What the command executor reports once its process has started.
        self.update(&key, v1::TaskState::TaskStarting, None);
        self.update(&key, v1::TaskState::TaskRunning, None);
    }

    fn kill(&mut self, fid: String, tid: String) {
        let key = (fid, tid);
        match self.tasks.get(&key) {
            Some(t) if !is_terminal(t.state) => {
                self.shared.stats.killed.fetch_add(1, Ordering::Relaxed);
                self.update(&key, v1::TaskState::TaskKilled, None);
            }
            Some(_) => {}
            None => {
                // Unknown here: tell the framework the task is gone, as the
                // real agent does.
                let partition_aware = self.frameworks.get(&key.0).is_some_and(|f| {
                    f.capabilities.iter().any(|c| {
                        c.r#type == Some(v1::FrameworkCapabilityType::PartitionAware as i32)
                    })
                });
                let state = if partition_aware {
                    v1::TaskState::TaskDropped
                } else {
                    v1::TaskState::TaskLost
                };
                self.update(&key, state, Some(v1::TaskStatusReason::ReasonTaskUnknown));
            }
        }
    }

    fn shutdown_framework(&mut self, fid: &str) {
        let live = self
            .tasks
            .iter()
            .filter(|((f, _), t)| f == fid && !is_terminal(t.state))
            .count();
        self.shared
            .stats
            .live_tasks
            .fetch_sub(live, Ordering::Relaxed);
        self.tasks.retain(|(f, _), _| f != fid);
        self.streams.retain(|(f, _), _| f != fid);
        self.frameworks.remove(fid);
    }

    /// Queues a status update for a task, sent at once if it heads its stream.
    fn update(
        &mut self,
        key: &(String, String),
        state: v1::TaskState,
        reason: Option<v1::TaskStatusReason>,
    ) {
        let (executor_id, source) = match self.tasks.get_mut(key) {
            Some(t) => {
                if is_terminal(state) && !is_terminal(t.state) {
                    self.shared.stats.live_tasks.fetch_sub(1, Ordering::Relaxed);
                }
                t.state = state;
                (
                    Some(v1::executor_id(&t.executor_id)),
                    v1::TaskStatusSource::SourceExecutor,
                )
            }
            None => (None, v1::TaskStatusSource::SourceAgent),
        };
        let status = v1::TaskStatus {
            task_id: Some(v1::task_id(&key.1)),
            state: state as i32,
            message: Some("simulated by strata bench sim-agents".into()),
            source: Some(source as i32),
            reason: reason.map(|r| r as i32),
            agent_id: self.agent_id.as_deref().map(v1::agent_id),
            executor_id,
            timestamp: Some(unix_now()),
            uuid: Some(self.shared.uuids.next(self.index)),
            ..Default::default()
        };
        let stream = self
            .streams
            .entry(key.clone())
            .or_insert_with(|| UpdateStream {
                pending: VecDeque::new(),
                next_retry: Instant::now(),
                backoff: RETRY_MIN,
            });
        stream.pending.push_back(status);
        if stream.pending.len() == 1 {
            stream.next_retry = Instant::now();
            stream.backoff = RETRY_MIN;
        }
    }

    fn acknowledge(&mut self, key: (String, String), uuid: &[u8]) {
        let Some(stream) = self.streams.get_mut(&key) else {
            return;
        };
        if stream.pending.front().and_then(|s| s.uuid.as_deref()) != Some(uuid) {
            return;
        }
        self.shared
            .stats
            .acknowledged
            .fetch_add(1, Ordering::Relaxed);
        stream.pending.pop_front();
        if stream.pending.is_empty() {
            self.streams.remove(&key);
            // A terminal task whose last update is acknowledged is forgotten.
            if self.tasks.get(&key).is_some_and(|t| is_terminal(t.state)) {
                self.tasks.remove(&key);
            }
        } else {
            stream.next_retry = Instant::now();
            stream.backoff = RETRY_MIN;
        }
    }

    /// Sends the head of every stream that is due, with the task's latest
    /// state (which may be ahead of the head while it waits for its ack).
    fn flush_due(&mut self, tx: &mpsc::UnboundedSender<AgentMessage>) {
        if self.agent_id.is_none() {
            return;
        }
        let now = Instant::now();
        for (key, stream) in self.streams.iter_mut() {
            if stream.next_retry > now {
                continue;
            }
            let Some(head) = stream.pending.front() else {
                continue;
            };
            let latest = self
                .tasks
                .get(key)
                .map(|t| t.state as i32)
                .or_else(|| stream.pending.back().map(|s| s.state));
            let _ = tx.send(AgentMessage::of(ToMaster::StatusUpdate(
                internal::StatusUpdate {
                    framework_id: Some(v1::framework_id(&key.0)),
                    status: Some(head.clone()),
                    latest_state: latest,
                },
            )));
            self.shared
                .stats
                .updates_sent
                .fetch_add(1, Ordering::Relaxed);
            stream.next_retry = now + stream.backoff;
            stream.backoff = (stream.backoff * 2).min(RETRY_MAX);
        }
    }
}

fn is_terminal(state: v1::TaskState) -> bool {
    use v1::TaskState as S;
    matches!(
        state,
        S::TaskFinished
            | S::TaskFailed
            | S::TaskKilled
            | S::TaskError
            | S::TaskLost
            | S::TaskDropped
            | S::TaskGone
            | S::TaskGoneByOperator
    )
}

/// Registers, serves the link, and re-registers with backoff forever.
async fn run_agent(mut agent: SimAgent, mut client: AgentLinkClient<Channel>) {
    // Spread reconnections of agents that lost the same connection.
    let jitter = Duration::from_millis((agent.index as u64 * 7919) % 1000);
    let mut backoff = Duration::from_millis(200);
    loop {
        match agent.session(&mut client).await {
            Ok(()) => backoff = Duration::from_millis(200),
            Err(e) => {
                agent
                    .shared
                    .stats
                    .link_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!(agent = %agent.info.hostname, error = %e, "link failed");
            }
        }
        tokio::time::sleep(backoff + jitter).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

// === the command ===

/// Runs the simulated agents until `--seconds` pass or a signal arrives.
pub async fn run(args: SimAgentsArgs) -> Result<()> {
    if args.agents == 0 {
        bail!("--agents must be at least 1");
    }
    let per_connection = args.agents_per_connection;
    if per_connection == 0 || per_connection > MAX_STREAMS_PER_CONNECTION {
        bail!("--agents-per-connection must be between 1 and {MAX_STREAMS_PER_CONNECTION}");
    }
    let resources: Resources = args.resources.parse().context("invalid --resources")?;
    let uri = if args.master.starts_with("http://") {
        args.master.clone()
    } else {
        format!("http://{}", args.master)
    };
    let endpoint = Endpoint::from_shared(uri.clone())
        .with_context(|| format!("invalid --master {}", args.master))?
        .connect_timeout(Duration::from_secs(10))
        .tcp_nodelay(true);
    let shared = Arc::new(Shared {
        stats: Stats::default(),
        uuids: UuidSource {
            start: unix_now() as u32,
            next: AtomicU64::new(0),
        },
        registering: Semaphore::new(args.register_concurrency.max(1)),
    });
    let wire_resources = resources_to_wire(&resources);
    let started = Instant::now();
    let mut client = None;
    for i in 0..args.agents {
        if i % per_connection == 0 {
            // Connects at the first stream, and again after a failure.
            client = Some(AgentLinkClient::new(endpoint.connect_lazy()));
        }
        let attributes = parse_attributes(&format!("rack:rack-{};sim:true", i / 100))
            .map_err(anyhow::Error::msg)?;
        let agent = SimAgent {
            index: i,
            info: v1::AgentInfo {
                hostname: format!("{}{i}", args.hostname_prefix),
                port: Some(5051),
                resources: wire_resources.clone(),
                attributes,
                ..Default::default()
            },
            agent_id: None,
            heartbeat_every: Duration::from_secs(15),
            frameworks: HashMap::new(),
            tasks: HashMap::new(),
            streams: HashMap::new(),
            shared: shared.clone(),
        };
        tokio::spawn(run_agent(agent, client.clone().expect("set above")));
    }
    println!(
        "simulating {} agents ({resources} each) against {uri}, {per_connection} per connection",
        args.agents
    );
    let stop = async {
        if args.seconds > 0 {
            tokio::time::sleep(Duration::from_secs(args.seconds)).await;
        } else {
            crate::shutdown_signal().await;
        }
    };
    tokio::pin!(stop);
    let mut progress = tokio::time::interval(Duration::from_secs(1));
    let mut all_registered = false;
    let mut last_report = Instant::now();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = progress.tick() => {}
        }
        let s = &shared.stats;
        let registered = s.registered.load(Ordering::Relaxed);
        if !all_registered && registered == args.agents {
            all_registered = true;
            use std::io::Write as _;
            println!(
                "REGISTERED {registered} in {:.1}s",
                started.elapsed().as_secs_f64()
            );
            std::io::stdout().flush()?;
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            eprintln!(
                "[sim-agents] {:.0}s: {registered}/{} registered ({} registrations, {} link failures), {} tasks running, {} launched, {} killed, {} updates sent, {} acknowledged",
                started.elapsed().as_secs_f64(),
                args.agents,
                s.registrations.load(Ordering::Relaxed),
                s.link_failures.load(Ordering::Relaxed),
                s.live_tasks.load(Ordering::Relaxed),
                s.launched.load(Ordering::Relaxed),
                s.killed.load(Ordering::Relaxed),
                s.updates_sent.load(Ordering::Relaxed),
                s.acknowledged.load(Ordering::Relaxed),
            );
        }
    }
    println!("STOPPED");
    Ok(())
}
