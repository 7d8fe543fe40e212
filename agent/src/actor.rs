//! The agent actor: owns frameworks, executors, tasks and the status update
//! streams, and is fed by the master link, the executor API and container
//! watchers through one channel.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::sys::signal::Signal;
use strata_agent_containerizer::{Container, Containerizer, LaunchSpec, Limits, Termination};
use strata_api::{
    DetailedResources, ExecutorId, FrameworkId, Resources, RoleResources, TaskId, TaskState,
};
use strata_proto::convert::{detailed_to_wire, task_state_from_wire, task_state_to_wire};
use strata_proto::internal::{
    self, agent_message::Body as ToMaster, master_message::Body as FromMaster, AgentMessage,
};
use strata_proto::v1;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::checkpoint::{Checkpoint, ExecutorRecord, TaskRecord};
// Task resources may be reserved; limits count them all.
use crate::volumes::{amounts_from_wire as resources_from_wire, volume_resources, Volumes};

mod docker;
use crate::AgentConfig;
pub use docker::DockerTask;

/// Resources added to a command executor's container on top of its task's,
/// so the executor itself never pushes the task over its limit.
const COMMAND_EXECUTOR_MEM_MB: f64 = 32.0;
const COMMAND_EXECUTOR_CPUS: f64 = 0.1;

/// Where executor events go (the body of its SUBSCRIBE response).
pub type ExecutorSink = mpsc::UnboundedSender<v1::ExecutorEvent>;

/// An error answered to an executor's HTTP call.
#[derive(Debug, Clone)]
pub struct CallError {
    /// HTTP status.
    pub status: u16,
    /// What was wrong.
    pub message: String,
}

fn bad(message: impl Into<String>) -> CallError {
    CallError {
        status: 400,
        message: message.into(),
    }
}

/// Everything the agent actor reacts to.
pub enum AgentEvent {
    /// The link asks for a registration message.
    BuildRegister {
        /// The message.
        reply: oneshot::Sender<internal::Register>,
    },
    /// A link to the master is up; messages to the master go to `tx`.
    LinkUp {
        /// The link's outbound half.
        tx: mpsc::UnboundedSender<AgentMessage>,
    },
    /// The link broke.
    LinkDown,
    /// A message from the master.
    Master(internal::MasterMessage),
    /// An executor subscribed.
    ExecutorSubscribe {
        /// The call.
        call: v1::ExecutorCall,
        /// Its event stream.
        sink: ExecutorSink,
        /// Accepted, or why not.
        reply: oneshot::Sender<Result<u64, CallError>>,
    },
    /// Another executor call.
    ExecutorCall {
        /// The call.
        call: v1::ExecutorCall,
        /// Accepted, or why not.
        reply: oneshot::Sender<Result<(), CallError>>,
    },
    /// An executor's event stream ended.
    ExecutorStreamClosed {
        /// Whose.
        framework_id: FrameworkId,
        /// Which executor.
        executor_id: ExecutorId,
        /// Which subscription.
        generation: u64,
    },
    /// A container finished launching (or failed to).
    ContainerLaunched {
        /// Whose.
        framework_id: FrameworkId,
        /// Which executor.
        executor_id: ExecutorId,
        /// Which container.
        container_id: String,
        /// The container, or why it could not start.
        result: Result<Container, String>,
    },
    /// A container's main process exited.
    ContainerExited {
        /// Whose.
        framework_id: FrameworkId,
        /// Which executor.
        executor_id: ExecutorId,
        /// Which container.
        container_id: String,
        /// How it ended.
        termination: Termination,
    },
    /// A Docker task's container started (or could not).
    DockerLaunched {
        /// Whose.
        framework_id: FrameworkId,
        /// Which task.
        task_id: TaskId,
        /// The container, or why not.
        result: Result<strata_agent_containerizer::DockerContainer, String>,
    },
    /// A Docker task's container ended.
    DockerExited {
        /// Whose.
        framework_id: FrameworkId,
        /// Which task.
        task_id: TaskId,
        /// How it ended.
        termination: Termination,
    },
    /// Docker containers found after a restart, to match with the checkpoint.
    DockerRecovered {
        /// Checkpointed Docker tasks.
        records: Vec<ExecutorRecord>,
        /// Containers labelled with this agent.
        listed: Vec<strata_agent_containerizer::RecoveredContainer>,
    },
    /// Read-only views for HTTP.
    Query {
        /// The rendering.
        reply: oneshot::Sender<serde_json::Value>,
    },
    /// The running containers, for `/monitor/statistics`.
    Containers {
        /// The containers and the containerizers that measure them.
        reply: oneshot::Sender<Monitored>,
    },
}

/// What `/monitor/statistics` measures: every running container.
pub struct Monitored {
    /// The process containerizer.
    pub containerizer: Containerizer,
    /// The Docker containerizer, if any.
    pub docker: Option<strata_agent_containerizer::DockerContainerizer>,
    /// `(framework, executor, source, container)` of process containers.
    pub processes: Vec<(String, String, String, Container)>,
    /// `(framework, task, container)` of Docker tasks.
    pub dockers: Vec<(String, String, strata_agent_containerizer::DockerContainer)>,
}

/// A cheap handle to the agent actor.
#[derive(Clone)]
pub struct AgentHandle {
    tx: mpsc::UnboundedSender<AgentEvent>,
}

impl AgentHandle {
    /// Sends an event; false if the agent stopped.
    pub fn send(&self, ev: AgentEvent) -> bool {
        self.tx.send(ev).is_ok()
    }
}

/// A task the agent holds.
#[derive(Debug, Clone)]
pub struct AgentTask {
    /// The TaskInfo.
    pub info: v1::TaskInfo,
    /// Its latest state.
    pub state: TaskState,
}

/// What a launch delivers to an executor.
#[derive(Debug, Clone)]
pub enum Launch {
    /// One task (LAUNCH).
    Task(v1::TaskInfo),
    /// A task group (LAUNCH_GROUP).
    Group(v1::TaskGroupInfo),
}

/// Executor lifecycle.
#[derive(Debug)]
pub enum ExecState {
    /// The container is starting or the executor has not subscribed yet.
    Launching,
    /// Subscribed: events go to `sink`.
    Subscribed {
        /// The event stream.
        sink: ExecutorSink,
        /// Distinguishes re-subscriptions.
        generation: u64,
    },
    /// Its stream closed; it may subscribe again.
    Disconnected,
    /// Being shut down; destroyed at `deadline`.
    Terminating {
        /// When the container is destroyed regardless.
        deadline: Instant,
    },
}

/// An executor and its container.
#[derive(Debug)]
pub struct Executor {
    /// Its framework.
    pub framework_id: FrameworkId,
    /// Its id.
    pub id: ExecutorId,
    /// Its ExecutorInfo (synthesised for command tasks).
    pub info: v1::ExecutorInfo,
    /// True for the built-in command executor.
    pub command_executor: bool,
    /// The container id (also the sandbox's run directory name).
    pub container_id: String,
    /// The container, once launched.
    pub container: Option<Container>,
    /// The sandbox directory.
    pub directory: PathBuf,
    /// Lifecycle state.
    pub state: ExecState,
    /// Launches not yet delivered.
    pub queued: Vec<Launch>,
    /// Tasks delivered or queued, by id.
    pub tasks: BTreeMap<TaskId, AgentTask>,
    /// Resources the container is limited to.
    pub limits: Resources,
    /// When it was started.
    pub launched_at: Instant,
    /// Tasks with a kill outstanding.
    pub killing: Vec<TaskId>,
}

/// A finished executor, kept for `/state`.
#[derive(Debug, Clone)]
pub struct CompletedExecutor {
    /// Its framework.
    pub framework_id: FrameworkId,
    /// Its id.
    pub id: ExecutorId,
    /// Its name.
    pub name: String,
    /// Its sandbox.
    pub directory: PathBuf,
    /// Its tasks, final states.
    pub tasks: Vec<AgentTask>,
    /// How its container ended.
    pub termination: String,
}

/// A stream of status updates for one task, delivered in order, each until
/// acknowledged (Mesos's status update manager).
#[derive(Debug, Default)]
struct UpdateStream {
    pending: VecDeque<v1::TaskStatus>,
    next_retry: Option<Instant>,
    backoff: Duration,
}

const RETRY_MIN: Duration = Duration::from_secs(2);
const RETRY_MAX: Duration = Duration::from_secs(60);
const MAX_COMPLETED_EXECUTORS: usize = 200;

/// The agent's state.
pub struct Agent {
    config: AgentConfig,
    containerizer: Containerizer,
    resources: Resources,
    /// `resources` with its static reservations (`cpus(analytics):4`).
    configured: RoleResources,
    /// Persistent volumes and the checkpointed resources.
    volumes: Volumes,
    attributes: Vec<v1::Attribute>,
    agent_id: Option<String>,
    link: Option<mpsc::UnboundedSender<AgentMessage>>,
    heartbeat_interval: Duration,
    last_heartbeat: Instant,
    frameworks: HashMap<FrameworkId, v1::FrameworkInfo>,
    executors: BTreeMap<(FrameworkId, ExecutorId), Executor>,
    completed: VecDeque<CompletedExecutor>,
    streams: HashMap<(FrameworkId, TaskId), UpdateStream>,
    self_tx: mpsc::UnboundedSender<AgentEvent>,
    next_generation: u64,
    started: f64,
    checkpoint: Checkpoint,
    /// Custom executors found dead at recovery, to report to the master.
    lost_executors: Vec<(FrameworkId, ExecutorId)>,
    /// The Docker containerizer, when an engine answered.
    docker: Option<strata_agent_containerizer::DockerContainerizer>,
    /// Docker's description, or why it is not available.
    docker_status: String,
    /// Docker tasks run by the agent itself.
    docker_tasks: BTreeMap<(FrameworkId, TaskId), DockerTask>,
    /// True until recovery from the checkpoint is complete.
    recovering: bool,
    /// Registrations asked for while recovering.
    pending_register: Vec<oneshot::Sender<internal::Register>>,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// Starts the actor.
pub fn spawn(
    config: AgentConfig,
    containerizer: Containerizer,
    docker: Result<strata_agent_containerizer::DockerContainerizer, String>,
    resources: RoleResources,
    attributes: Vec<v1::Attribute>,
) -> AgentHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let checkpoint = Checkpoint::new(&config.work_dir);
    let volumes = Volumes::open(&config.work_dir);
    let mut agent = Agent {
        config,
        containerizer,
        resources: resources.total(),
        configured: resources,
        volumes,
        attributes,
        agent_id: None,
        link: None,
        heartbeat_interval: Duration::from_secs(5),
        last_heartbeat: Instant::now(),
        frameworks: HashMap::new(),
        executors: BTreeMap::new(),
        completed: VecDeque::new(),
        streams: HashMap::new(),
        self_tx: tx.clone(),
        next_generation: 0,
        started: unix_now(),
        checkpoint,
        lost_executors: Vec::new(),
        docker_status: match &docker {
            Ok(d) => d.describe(),
            Err(why) => why.clone(),
        },
        docker: docker.ok(),
        docker_tasks: BTreeMap::new(),
        recovering: false,
        pending_register: Vec::new(),
    };
    tokio::spawn(async move {
        agent.recover();
        run(agent, rx).await
    });
    AgentHandle { tx }
}

async fn run(mut agent: Agent, mut rx: mpsc::UnboundedReceiver<AgentEvent>) {
    let mut ticker = tokio::time::interval(Duration::from_millis(200));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => agent.handle(ev),
                None => break,
            },
            _ = ticker.tick() => agent.tick(),
        }
    }
}

impl Agent {
    fn handle(&mut self, ev: AgentEvent) {
        match ev {
            AgentEvent::BuildRegister { reply } => {
                if self.recovering {
                    // Registering before recovery is complete would report
                    // fewer tasks than run, and the master would call the
                    // missing ones lost.
                    self.pending_register.push(reply);
                } else {
                    let _ = reply.send(self.register_message());
                }
            }
            AgentEvent::LinkUp { tx } => {
                self.link = Some(tx);
            }
            AgentEvent::LinkDown => {
                if self.link.take().is_some() {
                    warn!("lost the master; status updates are kept until it is back");
                }
            }
            AgentEvent::Master(msg) => self.from_master(msg),
            AgentEvent::ExecutorSubscribe { call, sink, reply } => {
                let _ = reply.send(self.executor_subscribe(call, sink));
            }
            AgentEvent::ExecutorCall { call, reply } => {
                let _ = reply.send(self.executor_call(call));
            }
            AgentEvent::ExecutorStreamClosed {
                framework_id,
                executor_id,
                generation,
            } => {
                if let Some(e) = self.executors.get_mut(&(framework_id, executor_id)) {
                    if matches!(e.state, ExecState::Subscribed { generation: g, .. } if g == generation)
                    {
                        e.state = ExecState::Disconnected;
                    }
                }
            }
            AgentEvent::ContainerLaunched {
                framework_id,
                executor_id,
                container_id,
                result,
            } => {
                self.container_launched(framework_id, executor_id, container_id, result);
            }
            AgentEvent::ContainerExited {
                framework_id,
                executor_id,
                container_id,
                termination,
            } => {
                self.container_exited(framework_id, executor_id, container_id, termination);
            }
            AgentEvent::DockerLaunched {
                framework_id,
                task_id,
                result,
            } => {
                self.docker_launched(framework_id, task_id, result);
            }
            AgentEvent::DockerExited {
                framework_id,
                task_id,
                termination,
            } => {
                self.docker_exited(framework_id, task_id, termination);
            }
            AgentEvent::DockerRecovered { records, listed } => {
                self.docker_recovered(records, listed);
            }
            AgentEvent::Query { reply } => {
                let _ = reply.send(crate::state_json::state(self));
            }
            AgentEvent::Containers { reply } => {
                let processes = self
                    .executors
                    .values()
                    .filter_map(|e| {
                        let c = e.container.clone()?;
                        Some((
                            e.framework_id.to_string(),
                            e.id.to_string(),
                            e.info.source.clone().unwrap_or_default(),
                            c,
                        ))
                    })
                    .collect();
                let dockers = self
                    .docker_tasks
                    .iter()
                    .filter_map(|((f, t), d)| {
                        Some((f.to_string(), t.to_string(), d.container.clone()?))
                    })
                    .collect();
                let _ = reply.send(Monitored {
                    containerizer: self.containerizer.clone(),
                    docker: self.docker.clone(),
                    processes,
                    dockers,
                });
            }
        }
    }

    // === read access for /state ===

    /// The agent id, once registered.
    pub fn agent_id(&self) -> Option<&str> {
        self.agent_id.as_deref()
    }
    /// The configuration.
    pub fn config(&self) -> &AgentConfig {
        &self.config
    }
    /// The containerizer.
    pub fn containerizer(&self) -> &Containerizer {
        &self.containerizer
    }
    /// Total resources.
    pub fn resources(&self) -> &Resources {
        &self.resources
    }
    /// Attributes.
    pub fn attributes(&self) -> &[v1::Attribute] {
        &self.attributes
    }
    /// Known frameworks.
    pub fn frameworks(&self) -> &HashMap<FrameworkId, v1::FrameworkInfo> {
        &self.frameworks
    }
    /// Docker tasks run by the agent itself.
    pub fn docker_tasks(&self) -> &BTreeMap<(FrameworkId, TaskId), DockerTask> {
        &self.docker_tasks
    }
    /// The Docker containerizer's description, or why it is unavailable.
    pub fn docker_status(&self) -> (&str, bool) {
        (&self.docker_status, self.docker.is_some())
    }
    /// Live executors.
    pub fn executors(&self) -> &BTreeMap<(FrameworkId, ExecutorId), Executor> {
        &self.executors
    }
    /// Finished executors.
    pub fn completed_executors(&self) -> &VecDeque<CompletedExecutor> {
        &self.completed
    }
    /// True while linked to a master.
    pub fn connected(&self) -> bool {
        self.link.is_some()
    }
    /// Start time (unix seconds).
    pub fn started(&self) -> f64 {
        self.started
    }

    fn agent_info(&self) -> v1::AgentInfo {
        v1::AgentInfo {
            hostname: self.config.hostname.clone(),
            port: Some(self.config.listen.port() as i32),
            resources: detailed_to_wire(&DetailedResources::from(&self.configured)),
            attributes: self.attributes.clone(),
            id: self.agent_id.as_deref().map(v1::agent_id),
            capabilities: vec![],
        }
    }

    fn register_message(&self) -> internal::Register {
        let mut tasks = Vec::new();
        for e in self.executors.values() {
            for (tid, t) in &e.tasks {
                let pending = self
                    .streams
                    .contains_key(&(e.framework_id.clone(), tid.clone()));
                if t.state.is_terminal() && !pending {
                    continue;
                }
                tasks.push(internal::TaskReport {
                    framework_id: Some(v1::framework_id(e.framework_id.as_str())),
                    task: Some(t.info.clone()),
                    state: task_state_to_wire(t.state),
                });
            }
        }
        for ((fid, _), t) in &self.docker_tasks {
            tasks.push(internal::TaskReport {
                framework_id: Some(v1::framework_id(fid.as_str())),
                task: Some(t.info.clone()),
                state: task_state_to_wire(t.state),
            });
        }
        internal::Register {
            agent_info: Some(self.agent_info()),
            tasks,
            http_endpoint: format!("http://{}", self.config.listen),
            isolation: self.containerizer.isolation().describe(),
            version: env!("CARGO_PKG_VERSION").into(),
            frameworks: self.frameworks.values().cloned().collect(),
        }
    }

    fn to_master(&self, body: ToMaster) {
        if let Some(link) = &self.link {
            let _ = link.send(AgentMessage::of(body));
        }
    }

    // === master messages ===

    fn from_master(&mut self, msg: internal::MasterMessage) {
        let Some(body) = msg.body else { return };
        match body {
            FromMaster::Registered(r) => {
                self.agent_id = r.agent_id.map(|a| a.value);
                if let Some(id) = &self.agent_id {
                    self.checkpoint.save_agent_id(id);
                }
                self.heartbeat_interval = Duration::from_millis(r.heartbeat_interval_ms.max(100));
                self.last_heartbeat = Instant::now();
                for (fid, eid) in std::mem::take(&mut self.lost_executors) {
                    self.to_master(ToMaster::ExecutorExited(internal::ExecutorExited {
                        framework_id: Some(v1::framework_id(fid.as_str())),
                        executor_id: Some(v1::executor_id(eid.as_str())),
                        status: -1,
                    }));
                }
                // Anything not yet acknowledged goes again: the old master
                // may never have seen it.
                let now = Instant::now();
                for s in self.streams.values_mut() {
                    if !s.pending.is_empty() {
                        s.next_retry = Some(now);
                        s.backoff = RETRY_MIN;
                    }
                }
            }
            FromMaster::RunTask(run) => {
                let (Some(fw), Some(task)) = (run.framework_info, run.task) else {
                    return;
                };
                self.run_task(fw, task);
            }
            FromMaster::RunTaskGroup(run) => {
                let (Some(fw), Some(exec), Some(group)) =
                    (run.framework_info, run.executor, run.task_group)
                else {
                    return;
                };
                self.run_group(fw, exec, group);
            }
            FromMaster::KillTask(k) => {
                let (Some(fid), Some(tid)) = (k.framework_id, k.task_id) else {
                    return;
                };
                self.kill_task(FrameworkId(fid.value), TaskId(tid.value), k.kill_policy);
            }
            FromMaster::Acknowledge(a) => {
                let (Some(fid), Some(tid)) = (a.framework_id, a.task_id) else {
                    return;
                };
                self.acknowledge(FrameworkId(fid.value), TaskId(tid.value), a.uuid);
            }
            FromMaster::ShutdownFramework(s) => {
                let Some(fid) = s.framework_id else { return };
                self.shutdown_framework(FrameworkId(fid.value));
            }
            FromMaster::ShutdownExecutor(s) => {
                let (Some(fid), Some(eid)) = (s.framework_id, s.executor_id) else {
                    return;
                };
                self.shutdown_executor(&(FrameworkId(fid.value), ExecutorId(eid.value)));
            }
            FromMaster::FrameworkMessage(m) => {
                let (Some(fid), Some(eid)) = (m.framework_id, m.executor_id) else {
                    return;
                };
                let key = (FrameworkId(fid.value), ExecutorId(eid.value));
                if let Some(ExecState::Subscribed { sink, .. }) =
                    self.executors.get(&key).map(|e| &e.state)
                {
                    let _ = sink.send(v1::ExecutorEvent {
                        r#type: Some(v1::ExecutorEventType::Message as i32),
                        message: Some(v1::ExecutorEventMessage { data: m.data }),
                        ..Default::default()
                    });
                }
            }
            FromMaster::CheckpointResources(c) => self.checkpoint_resources(c.resources),
            FromMaster::Shutdown(s) => {
                warn!(reason = %s.reason, "the master asked this agent to shut down; re-registering as a new agent");
                self.agent_id = None;
                self.checkpoint.clear_agent_id();
            }
        }
    }

    fn command_executor_info(&self, fid: &FrameworkId, task: &v1::TaskInfo) -> v1::ExecutorInfo {
        let tid = task
            .task_id
            .as_ref()
            .map(|t| t.value.clone())
            .unwrap_or_default();
        v1::ExecutorInfo {
            r#type: Some(v1::ExecutorType::Default as i32),
            executor_id: Some(v1::executor_id(&tid)),
            framework_id: Some(v1::framework_id(fid.as_str())),
            command: Some(match &self.config.command_executor {
                Some(binary) => v1::CommandInfo {
                    value: Some(binary.display().to_string()),
                    arguments: vec![crate::COMMAND_EXECUTOR_BINARY.into()],
                    shell: Some(false),
                    ..Default::default()
                },
                None => v1::CommandInfo {
                    value: Some(self.config.launcher.display().to_string()),
                    arguments: vec!["strata".into(), "executor".into(), "command".into()],
                    shell: Some(false),
                    ..Default::default()
                },
            }),
            name: Some(format!("Command Executor (Task: {tid})")),
            source: Some(tid),
            ..Default::default()
        }
    }

    fn run_task(&mut self, fw: v1::FrameworkInfo, task: v1::TaskInfo) {
        let Some(fid) = fw.id.as_ref().map(|f| FrameworkId(f.value.clone())) else {
            return;
        };
        let tid = TaskId(
            task.task_id
                .as_ref()
                .map(|t| t.value.clone())
                .unwrap_or_default(),
        );
        self.checkpoint.save_framework(&fw);
        self.frameworks.insert(fid.clone(), fw);
        let volume_resources = volume_resources(std::slice::from_ref(&task));
        let docker = task
            .container
            .as_ref()
            .is_some_and(|c| c.r#type == v1::ContainerType::Docker as i32);
        let usable = match self.volumes.check(&volume_resources) {
            Ok(()) if docker && !volume_resources.is_empty() => {
                Err("persistent volumes are not supported for Docker tasks".to_string())
            }
            other => other,
        };
        if let Err(e) = usable {
            let eid = task.executor.as_ref().and_then(|e| e.executor_id.as_ref());
            let eid = ExecutorId(eid.map_or_else(|| tid.to_string(), |e| e.value.clone()));
            self.agent_update(
                &fid,
                &tid,
                Some(&eid),
                TaskState::Failed,
                v1::TaskStatusReason::ReasonContainerLaunchFailed,
                e,
            );
            return;
        }
        if task
            .container
            .as_ref()
            .is_some_and(|c| c.r#type == v1::ContainerType::Docker as i32)
            && task.executor.is_none()
        {
            self.run_docker_task(fid, task);
            return;
        }
        let (info, command) = match &task.executor {
            Some(e) => (e.clone(), false),
            None => (self.command_executor_info(&fid, &task), true),
        };
        let eid = ExecutorId(
            info.executor_id
                .as_ref()
                .map(|e| e.value.clone())
                .unwrap_or_default(),
        );
        let key = (fid.clone(), eid.clone());
        let task_res = resources_from_wire(&task.resources).unwrap_or_default();
        let entry = AgentTask {
            info: task.clone(),
            state: TaskState::Staging,
        };
        self.attach_volumes(&key, &volume_resources);
        if let Some(e) = self.executors.get_mut(&key) {
            if matches!(e.state, ExecState::Terminating { .. }) {
                self.agent_update(
                    &fid,
                    &tid,
                    Some(&eid),
                    TaskState::Failed,
                    v1::TaskStatusReason::ReasonExecutorTerminated,
                    "the task's executor is shutting down",
                );
                return;
            }
            e.tasks.insert(tid.clone(), entry);
            e.limits.add(&task_res);
            let limits = e.limits.clone();
            let container = e.container.clone();
            match &e.state {
                ExecState::Subscribed { sink, .. } => {
                    let _ = sink.send(launch_event(&task));
                }
                _ => e.queued.push(Launch::Task(task)),
            }
            if let Some(c) = container {
                self.update_limits(&c, &limits);
            }
            return;
        }
        self.launch_executor(
            fid,
            eid,
            info,
            command,
            vec![Launch::Task(task)],
            vec![(tid, entry)],
            task_res,
        );
        self.attach_volumes(&key, &volume_resources);
    }

    fn run_group(
        &mut self,
        fw: v1::FrameworkInfo,
        exec: v1::ExecutorInfo,
        group: v1::TaskGroupInfo,
    ) {
        let Some(fid) = fw.id.as_ref().map(|f| FrameworkId(f.value.clone())) else {
            return;
        };
        self.checkpoint.save_framework(&fw);
        self.frameworks.insert(fid.clone(), fw);
        let eid = ExecutorId(
            exec.executor_id
                .as_ref()
                .map(|e| e.value.clone())
                .unwrap_or_default(),
        );
        let key = (fid.clone(), eid.clone());
        let mut res = Resources::new();
        let mut entries = Vec::new();
        for t in &group.tasks {
            res.add(&resources_from_wire(&t.resources).unwrap_or_default());
            let tid = TaskId(
                t.task_id
                    .as_ref()
                    .map(|t| t.value.clone())
                    .unwrap_or_default(),
            );
            entries.push((
                tid,
                AgentTask {
                    info: t.clone(),
                    state: TaskState::Staging,
                },
            ));
        }
        let mut volume_resources = volume_resources(&group.tasks);
        volume_resources.extend(
            (exec.resources.iter())
                .filter(|r| r.disk.as_ref().is_some_and(|d| d.persistence.is_some()))
                .cloned(),
        );
        if let Err(e) = self.volumes.check(&volume_resources) {
            for (tid, _) in entries {
                self.agent_update(
                    &fid,
                    &tid,
                    Some(&eid),
                    TaskState::Failed,
                    v1::TaskStatusReason::ReasonContainerLaunchFailed,
                    e.clone(),
                );
            }
            return;
        }
        self.attach_volumes(&key, &volume_resources);
        if exec.command.is_none() {
            for (tid, _) in entries {
                self.agent_update(&fid, &tid, Some(&eid), TaskState::Failed, v1::TaskStatusReason::ReasonContainerLaunchFailed,
                    "the DEFAULT executor for task groups is not available on this agent; give the executor a command");
            }
            return;
        }
        if let Some(e) = self.executors.get_mut(&key) {
            for (tid, t) in entries {
                e.tasks.insert(tid, t);
            }
            e.limits.add(&res);
            match &e.state {
                ExecState::Subscribed { sink, .. } => {
                    let _ = sink.send(v1::ExecutorEvent {
                        r#type: Some(v1::ExecutorEventType::LaunchGroup as i32),
                        launch_group: Some(v1::ExecutorEventLaunchGroup {
                            task_group: Some(group),
                        }),
                        ..Default::default()
                    });
                }
                _ => e.queued.push(Launch::Group(group)),
            }
            self.save_executor(&key);
            return;
        }
        self.launch_executor(
            fid,
            eid,
            exec,
            false,
            vec![Launch::Group(group)],
            entries,
            res,
        );
        self.attach_volumes(&key, &volume_resources);
    }

    // === persistent volumes (see volumes.rs) ===

    /// The master's list of reservations and volumes: volume directories
    /// are created and removed to match (never one a live task uses).
    fn checkpoint_resources(&mut self, resources: Vec<v1::Resource>) {
        let live = self
            .executors
            .values()
            .flat_map(|e| e.tasks.values())
            .filter(|t| !t.state.is_terminal())
            .map(|t| &t.info);
        let in_use = Volumes::in_use(live);
        self.volumes.checkpoint(resources, &in_use);
    }

    /// Links the volumes `resources` name into the sandbox of the executor
    /// `key`, if it exists yet.
    fn attach_volumes(&self, key: &(FrameworkId, ExecutorId), resources: &[v1::Resource]) {
        if resources.is_empty() {
            return;
        }
        if let Some(e) = self.executors.get(key) {
            if let Err(err) = self.volumes.attach(&e.directory, resources) {
                warn!(framework_id = %key.0, executor_id = %key.1, error = %err, "cannot attach persistent volumes");
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn launch_executor(
        &mut self,
        fid: FrameworkId,
        eid: ExecutorId,
        info: v1::ExecutorInfo,
        command_executor: bool,
        queued: Vec<Launch>,
        tasks: Vec<(TaskId, AgentTask)>,
        task_resources: Resources,
    ) {
        let container_id = uuid::Uuid::new_v4().to_string();
        let agent_id = self.agent_id.clone().unwrap_or_default();
        let directory = self
            .config
            .work_dir
            .join("slaves")
            .join(&agent_id)
            .join("frameworks")
            .join(fid.as_str())
            .join("executors")
            .join(eid.as_str())
            .join("runs")
            .join(&container_id);
        let mut limits = task_resources;
        if command_executor {
            limits.add(
                &Resources::new()
                    .with_scalar("cpus", COMMAND_EXECUTOR_CPUS)
                    .with_scalar("mem", COMMAND_EXECUTOR_MEM_MB),
            );
        } else {
            limits.add(&resources_from_wire(&info.resources).unwrap_or_default());
        }
        let cmd = info.command.clone().unwrap_or_default();
        let (program, args) = if cmd.shell.unwrap_or(true) {
            (
                "/bin/sh".to_string(),
                vec!["-c".to_string(), cmd.value.clone().unwrap_or_default()],
            )
        } else {
            (
                cmd.value.clone().unwrap_or_default(),
                cmd.arguments.iter().skip(1).cloned().collect(),
            )
        };
        let dir = directory.display().to_string();
        let mut env: Vec<(String, String)> = vec![
            (
                "MESOS_AGENT_ENDPOINT".into(),
                self.config.listen.to_string(),
            ),
            ("MESOS_FRAMEWORK_ID".into(), fid.to_string()),
            ("MESOS_EXECUTOR_ID".into(), eid.to_string()),
            ("MESOS_AGENT_ID".into(), agent_id.clone()),
            ("MESOS_SLAVE_ID".into(), agent_id.clone()),
            (
                "MESOS_SLAVE_PID".into(),
                format!("slave(1)@{}", self.config.listen),
            ),
            ("MESOS_DIRECTORY".into(), dir.clone()),
            ("MESOS_SANDBOX".into(), dir),
            // Every executor is checkpointed: it may outlive an agent restart
            // and must then reconnect (MESOS_RECOVERY_TIMEOUT bounds its wait).
            ("MESOS_CHECKPOINT".into(), "1".into()),
            ("MESOS_RECOVERY_TIMEOUT".into(), "15mins".into()),
            ("MESOS_HTTP_COMMAND_EXECUTOR".into(), "1".into()),
            (
                "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD".into(),
                strata_api::format_duration(self.config.executor_shutdown_grace_period),
            ),
        ];
        for var in ["PATH", "HOME", "LANG", "RUST_LOG", "TMPDIR"] {
            if let Ok(v) = std::env::var(var) {
                env.push((var.into(), v));
            }
        }
        if let Some(e) = &cmd.environment {
            for v in &e.variables {
                env.retain(|(k, _)| *k != v.name);
                env.push((v.name.clone(), v.value.clone().unwrap_or_default()));
            }
        }
        let spec = LaunchSpec {
            container_id: container_id.clone(),
            sandbox: directory.clone(),
            program,
            args,
            env,
            limits: Limits {
                cpus: limits.cpus(),
                mem_mb: limits.mem(),
            },
        };
        info!(framework_id = %fid, executor_id = %eid, %container_id, command_executor, "launching executor");
        self.executors.insert(
            (fid.clone(), eid.clone()),
            Executor {
                framework_id: fid.clone(),
                id: eid.clone(),
                info,
                command_executor,
                container_id: container_id.clone(),
                container: None,
                directory,
                state: ExecState::Launching,
                queued,
                tasks: tasks.into_iter().collect(),
                limits,
                launched_at: Instant::now(),
                killing: Vec::new(),
            },
        );
        self.save_executor(&(fid.clone(), eid.clone()));
        let cz = self.containerizer.clone();
        let tx = self.self_tx.clone();
        tokio::spawn(async move {
            let result = cz.launch(spec).await.map_err(|e| e.to_string());
            let watch = result.as_ref().ok().cloned();
            let _ = tx.send(AgentEvent::ContainerLaunched {
                framework_id: fid.clone(),
                executor_id: eid.clone(),
                container_id: container_id.clone(),
                result,
            });
            if let Some(c) = watch {
                let termination = cz.wait(&c).await;
                let _ = tx.send(AgentEvent::ContainerExited {
                    framework_id: fid,
                    executor_id: eid,
                    container_id,
                    termination,
                });
            }
        });
    }

    fn update_limits(&self, _container: &Container, _limits: &Resources) {
        // Growing a running container's limits needs containerizer support;
        // until then an executor's container keeps the limits it started with
        // plus what its first launch asked for.
    }

    fn container_launched(
        &mut self,
        fid: FrameworkId,
        eid: ExecutorId,
        container_id: String,
        result: Result<Container, String>,
    ) {
        let key = (fid.clone(), eid.clone());
        let Some(e) = self.executors.get_mut(&key) else {
            return;
        };
        if e.container_id != container_id {
            return;
        }
        match result {
            Ok(c) => {
                debug!(framework_id = %fid, executor_id = %eid, pid = c.pid, "executor started");
                e.container = Some(c);
                self.save_executor(&key);
            }
            Err(err) => {
                warn!(framework_id = %fid, executor_id = %eid, error = %err, "executor failed to start");
                let e = self.executors.remove(&key).expect("present");
                for tid in e.tasks.keys() {
                    self.agent_update(
                        &fid,
                        tid,
                        Some(&eid),
                        TaskState::Failed,
                        v1::TaskStatusReason::ReasonContainerLaunchFailed,
                        format!("failed to launch the executor: {err}"),
                    );
                }
                self.complete_executor(e, format!("failed to launch: {err}"));
            }
        }
    }

    fn container_exited(
        &mut self,
        fid: FrameworkId,
        eid: ExecutorId,
        container_id: String,
        term: Termination,
    ) {
        let key = (fid.clone(), eid.clone());
        match self.executors.get(&key) {
            Some(e) if e.container_id == container_id => {}
            _ => return,
        }
        let e = self.executors.remove(&key).expect("present");
        info!(framework_id = %fid, executor_id = %eid, termination = %term.message, "executor exited");
        let oom = term.oom_killed
            || e.container
                .as_ref()
                .is_some_and(|c| self.containerizer.oom_killed(c));
        for (tid, t) in &e.tasks {
            if t.state.is_terminal() {
                continue;
            }
            let (state, reason, msg) = if oom {
                (
                    TaskState::Failed,
                    v1::TaskStatusReason::ReasonContainerLimitationMemory,
                    format!(
                        "memory limit exceeded: the container was OOM-killed ({})",
                        term.message
                    ),
                )
            } else if e.killing.contains(tid) {
                (
                    TaskState::Killed,
                    v1::TaskStatusReason::ReasonExecutorTerminated,
                    format!(
                        "executor terminated while killing the task ({})",
                        term.message
                    ),
                )
            } else {
                (
                    TaskState::Failed,
                    v1::TaskStatusReason::ReasonExecutorTerminated,
                    format!("executor terminated: {}", term.message),
                )
            };
            self.agent_update(&fid, tid, Some(&eid), state, reason, msg);
        }
        if !e.command_executor {
            self.to_master(ToMaster::ExecutorExited(internal::ExecutorExited {
                framework_id: Some(v1::framework_id(fid.as_str())),
                executor_id: Some(v1::executor_id(eid.as_str())),
                status: term
                    .exit_code
                    .unwrap_or_else(|| term.signal.map(|s| 128 + s).unwrap_or(-1)),
            }));
        }
        if let Some(c) = e.container.clone() {
            let cz = self.containerizer.clone();
            tokio::spawn(async move {
                if let Err(err) = cz.destroy(&c).await {
                    warn!(container_id = %c.id, error = %err, "container cleanup failed");
                }
            });
        }
        self.complete_executor(e, term.message);
    }

    fn complete_executor(&mut self, e: Executor, termination: String) {
        self.checkpoint
            .remove_executor(e.framework_id.as_str(), e.id.as_str());
        self.completed.push_back(CompletedExecutor {
            framework_id: e.framework_id,
            id: e.id,
            name: e.info.name.clone().unwrap_or_default(),
            directory: e.directory,
            tasks: e.tasks.into_values().collect(),
            termination,
        });
        while self.completed.len() > MAX_COMPLETED_EXECUTORS {
            self.completed.pop_front();
        }
    }

    fn kill_task(&mut self, fid: FrameworkId, tid: TaskId, policy: Option<v1::KillPolicy>) {
        if self.kill_docker_task(&fid, &tid, policy.as_ref()) {
            return;
        }
        let found = self
            .executors
            .iter_mut()
            .find(|((f, _), e)| *f == fid && e.tasks.contains_key(&tid))
            .map(|(k, _)| k.clone());
        let Some(key) = found else {
            // Unknown here: tell the framework the task is gone.
            let pa = self.frameworks.get(&fid).is_some_and(|f| {
                f.capabilities
                    .iter()
                    .any(|c| c.r#type == Some(v1::FrameworkCapabilityType::PartitionAware as i32))
            });
            let state = if pa {
                TaskState::Dropped
            } else {
                TaskState::Lost
            };
            self.agent_update(
                &fid,
                &tid,
                None,
                state,
                v1::TaskStatusReason::ReasonTaskUnknown,
                "the agent does not know this task",
            );
            return;
        };
        let e = self.executors.get_mut(&key).expect("found");
        let eid = e.id.clone();
        let queued = e.queued.iter().position(|l| match l {
            Launch::Task(t) => t.task_id.as_ref().is_some_and(|x| x.value == tid.as_str()),
            Launch::Group(g) => g
                .tasks
                .iter()
                .any(|t| t.task_id.as_ref().is_some_and(|x| x.value == tid.as_str())),
        });
        if let Some(pos) = queued {
            // Not delivered yet: it never starts.
            let launch = e.queued.remove(pos);
            let ids: Vec<TaskId> = match launch {
                Launch::Task(t) => vec![TaskId(t.task_id.map(|x| x.value).unwrap_or_default())],
                Launch::Group(g) => g
                    .tasks
                    .into_iter()
                    .map(|t| TaskId(t.task_id.map(|x| x.value).unwrap_or_default()))
                    .collect(),
            };
            let idle = e.queued.is_empty() && e.tasks.keys().all(|t| ids.contains(t));
            for id in &ids {
                self.agent_update(
                    &fid,
                    id,
                    Some(&eid),
                    TaskState::Killed,
                    v1::TaskStatusReason::ReasonTaskKilledDuringLaunch,
                    "killed before it was delivered to its executor",
                );
            }
            if idle {
                self.shutdown_executor(&key);
            }
            return;
        }
        if let Some(t) = e.tasks.get(&tid) {
            if t.state.is_terminal() {
                return;
            }
        }
        if !e.killing.contains(&tid) {
            e.killing.push(tid.clone());
        }
        match &e.state {
            ExecState::Subscribed { sink, .. } => {
                let _ = sink.send(v1::ExecutorEvent {
                    r#type: Some(v1::ExecutorEventType::Kill as i32),
                    kill: Some(v1::ExecutorEventKill {
                        task_id: Some(v1::task_id(tid.as_str())),
                        kill_policy: policy,
                    }),
                    ..Default::default()
                });
            }
            _ => {
                // The executor is not reachable: kill its whole container.
                self.shutdown_executor(&key);
            }
        }
    }

    fn shutdown_executor(&mut self, key: &(FrameworkId, ExecutorId)) {
        let grace = self.config.executor_shutdown_grace_period;
        let Some(e) = self.executors.get_mut(key) else {
            return;
        };
        if let ExecState::Subscribed { sink, .. } = &e.state {
            let _ = sink.send(v1::ExecutorEvent {
                r#type: Some(v1::ExecutorEventType::Shutdown as i32),
                ..Default::default()
            });
            e.state = ExecState::Terminating {
                deadline: Instant::now() + grace,
            };
        } else {
            e.state = ExecState::Terminating {
                deadline: Instant::now(),
            };
        }
        for tid in e.tasks.keys().cloned().collect::<Vec<_>>() {
            if !e.killing.contains(&tid) {
                e.killing.push(tid);
            }
        }
    }

    fn shutdown_framework(&mut self, fid: FrameworkId) {
        info!(framework_id = %fid, "shutting down framework");
        self.shutdown_docker_framework(&fid);
        let keys: Vec<_> = self
            .executors
            .keys()
            .filter(|(f, _)| *f == fid)
            .cloned()
            .collect();
        for k in keys {
            self.shutdown_executor(&k);
        }
        self.streams.retain(|(f, _), _| *f != fid);
        self.checkpoint.remove_framework_updates(fid.as_str());
    }

    // === status updates ===

    /// Queues an update generated by the agent itself.
    fn agent_update(
        &mut self,
        fid: &FrameworkId,
        tid: &TaskId,
        eid: Option<&ExecutorId>,
        state: TaskState,
        reason: v1::TaskStatusReason,
        message: impl Into<String>,
    ) {
        let status = v1::TaskStatus {
            task_id: Some(v1::task_id(tid.as_str())),
            state: task_state_to_wire(state),
            message: Some(message.into()),
            source: Some(v1::TaskStatusSource::SourceAgent as i32),
            reason: Some(reason as i32),
            executor_id: eid.map(|e| v1::executor_id(e.as_str())),
            timestamp: Some(unix_now()),
            uuid: Some(uuid::Uuid::new_v4().as_bytes().to_vec()),
            ..Default::default()
        };
        self.enqueue_update(fid.clone(), status);
    }

    fn enqueue_update(&mut self, fid: FrameworkId, mut status: v1::TaskStatus) {
        let tid = TaskId(
            status
                .task_id
                .as_ref()
                .map(|t| t.value.clone())
                .unwrap_or_default(),
        );
        status.agent_id = self.agent_id.as_deref().map(v1::agent_id);
        let state = task_state_from_wire(status.state);
        let mut changed = None;
        for (k, e) in self
            .executors
            .iter_mut()
            .filter(|(_, e)| e.framework_id == fid)
        {
            if let Some(t) = e.tasks.get_mut(&tid) {
                t.state = state;
                changed = Some(k.clone());
            }
        }
        if let Some(k) = changed {
            self.save_executor(&k);
        }
        let stream = self.streams.entry((fid.clone(), tid.clone())).or_default();
        stream.pending.push_back(status);
        let pending: Vec<v1::TaskStatus> = stream.pending.iter().cloned().collect();
        self.checkpoint
            .save_updates(fid.as_str(), tid.as_str(), &pending);
        let stream = self
            .streams
            .get_mut(&(fid.clone(), tid.clone()))
            .expect("inserted above");
        if stream.pending.len() == 1 {
            stream.backoff = RETRY_MIN;
            stream.next_retry = Some(Instant::now());
            self.flush_stream(&fid, &tid);
        }
    }

    fn latest_state(&self, fid: &FrameworkId, tid: &TaskId) -> Option<TaskState> {
        self.executors
            .values()
            .filter(|e| &e.framework_id == fid)
            .find_map(|e| e.tasks.get(tid).map(|t| t.state))
            .or_else(|| {
                self.streams
                    .get(&(fid.clone(), tid.clone()))?
                    .pending
                    .back()
                    .map(|s| task_state_from_wire(s.state))
            })
    }

    /// Sends the head of a stream to the master if it is due.
    fn flush_stream(&mut self, fid: &FrameworkId, tid: &TaskId) {
        let latest = self.latest_state(fid, tid);
        let Some(link) = self.link.clone() else {
            return;
        };
        if self.agent_id.is_none() {
            return;
        }
        let Some(stream) = self.streams.get_mut(&(fid.clone(), tid.clone())) else {
            return;
        };
        let now = Instant::now();
        if stream.next_retry.is_none_or(|t| t > now) {
            return;
        }
        let Some(head) = stream.pending.front() else {
            return;
        };
        let _ = link.send(AgentMessage::of(ToMaster::StatusUpdate(
            internal::StatusUpdate {
                framework_id: Some(v1::framework_id(fid.as_str())),
                status: Some(head.clone()),
                latest_state: latest.map(task_state_to_wire),
            },
        )));
        stream.next_retry = Some(now + stream.backoff);
        stream.backoff = (stream.backoff * 2).min(RETRY_MAX);
    }

    fn acknowledge(&mut self, fid: FrameworkId, tid: TaskId, uuid: Vec<u8>) {
        let key = (fid.clone(), tid.clone());
        let Some(stream) = self.streams.get_mut(&key) else {
            return;
        };
        if stream.pending.front().and_then(|s| s.uuid.as_ref()) != Some(&uuid) {
            debug!(framework_id = %fid, task_id = %tid, "acknowledgement for an update that is not at the head; ignored");
            return;
        }
        let acked = stream.pending.pop_front().expect("head");
        let acked_state = task_state_from_wire(acked.state);
        let pending: Vec<v1::TaskStatus> = stream.pending.iter().cloned().collect();
        self.checkpoint
            .save_updates(fid.as_str(), tid.as_str(), &pending);
        if stream.pending.is_empty() {
            self.streams.remove(&key);
        } else {
            stream.backoff = RETRY_MIN;
            stream.next_retry = Some(Instant::now());
        }
        // Tell the executor, if it sent the update.
        if acked.source == Some(v1::TaskStatusSource::SourceExecutor as i32) {
            if let Some(e) = self
                .executors
                .values()
                .find(|e| e.framework_id == fid && e.tasks.contains_key(&tid))
            {
                if let ExecState::Subscribed { sink, .. } = &e.state {
                    let _ = sink.send(v1::ExecutorEvent {
                        r#type: Some(v1::ExecutorEventType::Acknowledged as i32),
                        acknowledged: Some(v1::ExecutorEventAcknowledged {
                            task_id: Some(v1::task_id(tid.as_str())),
                            uuid,
                        }),
                        ..Default::default()
                    });
                }
            }
        }
        let _ = acked_state;
        self.flush_stream(&fid, &tid);
    }

    // === executor API ===

    fn executor_subscribe(
        &mut self,
        call: v1::ExecutorCall,
        sink: ExecutorSink,
    ) -> Result<u64, CallError> {
        let (fid, eid) = call_ids(&call)?;
        let key = (fid.clone(), eid.clone());
        let resent = call.subscribe.clone().unwrap_or_default();
        let agent_info = self.agent_info();
        let framework_info = self.frameworks.get(&fid).cloned();
        self.next_generation += 1;
        let generation = self.next_generation;
        let e = self.executors.get_mut(&key).ok_or_else(|| CallError {
            status: 404,
            message: format!("executor {eid} of framework {fid} is not known to this agent"),
        })?;
        if matches!(e.state, ExecState::Terminating { .. }) {
            return Err(CallError {
                status: 403,
                message: format!("executor {eid} is shutting down"),
            });
        }
        // The executor's view of its own info must match what it was told in
        // its environment exactly (pymesos compares with ==).
        let mut executor_info = e.info.clone();
        executor_info.framework_id = Some(v1::framework_id(fid.as_str()));
        let mut fw = framework_info.unwrap_or_default();
        fw.id = Some(v1::framework_id(fid.as_str()));
        let _ = sink.send(v1::ExecutorEvent {
            r#type: Some(v1::ExecutorEventType::Subscribed as i32),
            subscribed: Some(v1::ExecutorEventSubscribed {
                executor_info: Some(executor_info),
                framework_info: Some(fw),
                agent_info: Some(agent_info),
                container_id: Some(v1::ContainerId {
                    value: e.container_id.clone(),
                    parent: None,
                }),
            }),
            ..Default::default()
        });
        // A re-subscribing executor already holds the tasks it lists.
        let held: Vec<String> = resent
            .unacknowledged_tasks
            .iter()
            .filter_map(|t| t.task_id.as_ref().map(|i| i.value.clone()))
            .collect();
        e.queued.retain(|l| match l {
            Launch::Task(t) => !t.task_id.as_ref().is_some_and(|i| held.contains(&i.value)),
            Launch::Group(_) => true,
        });
        for launch in e.queued.drain(..) {
            let ev = match launch {
                Launch::Task(t) => launch_event(&t),
                Launch::Group(g) => v1::ExecutorEvent {
                    r#type: Some(v1::ExecutorEventType::LaunchGroup as i32),
                    launch_group: Some(v1::ExecutorEventLaunchGroup {
                        task_group: Some(g),
                    }),
                    ..Default::default()
                },
            };
            let _ = sink.send(ev);
        }
        // Kills that arrived while the executor was not subscribed.
        for tid in &e.killing {
            let _ = sink.send(v1::ExecutorEvent {
                r#type: Some(v1::ExecutorEventType::Kill as i32),
                kill: Some(v1::ExecutorEventKill {
                    task_id: Some(v1::task_id(tid.as_str())),
                    kill_policy: None,
                }),
                ..Default::default()
            });
        }
        e.state = ExecState::Subscribed { sink, generation };
        debug!(framework_id = %fid, executor_id = %eid, "executor subscribed");
        // Updates the executor sent but never saw acknowledged: queue the ones
        // this agent does not hold (it may have died before checkpointing them).
        for u in resent.unacknowledged_updates {
            let Some(status) = u.status else { continue };
            let Some(tid) = status.task_id.as_ref().map(|t| TaskId(t.value.clone())) else {
                continue;
            };
            let known = self
                .streams
                .get(&(fid.clone(), tid.clone()))
                .is_some_and(|s| s.pending.iter().any(|p| p.uuid == status.uuid));
            let task_known = self
                .executors
                .get(&key)
                .is_some_and(|e| e.tasks.contains_key(&tid));
            if !known && task_known && status.uuid.as_ref().is_some_and(|u| u.len() == 16) {
                let mut status = status;
                status.executor_id = Some(v1::executor_id(eid.as_str()));
                self.enqueue_update(fid.clone(), status);
            }
        }
        Ok(generation)
    }

    fn executor_call(&mut self, call: v1::ExecutorCall) -> Result<(), CallError> {
        use v1::ExecutorCallType as T;
        let (fid, eid) = call_ids(&call)?;
        let key = (fid.clone(), eid.clone());
        if !self.executors.contains_key(&key) {
            return Err(CallError {
                status: 404,
                message: format!("executor {eid} of framework {fid} is not known to this agent"),
            });
        }
        match T::try_from(call.r#type.unwrap_or(0)).unwrap_or(T::Unknown) {
            T::Update => {
                let mut status = call
                    .update
                    .and_then(|u| u.status)
                    .ok_or_else(|| bad("expecting 'update.status' to be present"))?;
                let tid = status
                    .task_id
                    .as_ref()
                    .map(|t| TaskId(t.value.clone()))
                    .ok_or_else(|| bad("expecting 'update.status.task_id' to be present"))?;
                match &status.uuid {
                    Some(u) if u.len() == 16 => {}
                    _ => return Err(bad("expecting 'update.status.uuid' to be 16 bytes")),
                }
                let e = self.executors.get(&key).expect("checked");
                if !e.tasks.contains_key(&tid) {
                    return Err(bad(format!("task {tid} is not known to executor {eid}")));
                }
                let state = task_state_from_wire(status.state);
                if state == TaskState::Failed {
                    if let Some(c) = &e.container {
                        if self.containerizer.oom_killed(c) {
                            status.reason =
                                Some(v1::TaskStatusReason::ReasonContainerLimitationMemory as i32);
                            let prev = status.message.take().unwrap_or_default();
                            status.message = Some(format!("memory limit exceeded: {prev}"));
                        }
                    }
                }
                status.executor_id = Some(v1::executor_id(eid.as_str()));
                if status.source.is_none() {
                    status.source = Some(v1::TaskStatusSource::SourceExecutor as i32);
                }
                if status.timestamp.is_none() {
                    status.timestamp = Some(unix_now());
                }
                if let Some(c) = &e.container {
                    status.container_status = Some(v1::ContainerStatus {
                        container_id: Some(v1::ContainerId {
                            value: c.id.clone(),
                            parent: None,
                        }),
                        executor_pid: Some(c.pid),
                        ..Default::default()
                    });
                }
                self.enqueue_update(fid, status);
                Ok(())
            }
            T::Message => {
                let data = call
                    .message
                    .map(|m| m.data)
                    .ok_or_else(|| bad("expecting 'message' to be present"))?;
                self.to_master(ToMaster::FrameworkMessage(internal::FrameworkMessage {
                    framework_id: Some(v1::framework_id(fid.as_str())),
                    executor_id: Some(v1::executor_id(eid.as_str())),
                    data,
                }));
                Ok(())
            }
            T::Heartbeat => Ok(()),
            T::Subscribe => Err(bad("SUBSCRIBE must be sent on its own connection")),
            T::Unknown => Err(bad("unknown call type")),
        }
    }

    // === checkpoint and recovery ===

    fn save_executor(&self, key: &(FrameworkId, ExecutorId)) {
        let Some(e) = self.executors.get(key) else {
            return;
        };
        self.checkpoint.save_executor(&ExecutorRecord {
            framework_id: e.framework_id.to_string(),
            executor_id: e.id.to_string(),
            info: e.info.clone(),
            command_executor: e.command_executor,
            docker: false,
            container_id: e.container_id.clone(),
            directory: e.directory.clone(),
            pid: e.container.as_ref().map(|c| c.pid),
            limits: e.limits.to_string(),
            tasks: e
                .tasks
                .values()
                .map(|t| TaskRecord {
                    info: t.info.clone(),
                    state: t.state.as_mesos_str().to_owned(),
                })
                .collect(),
        });
    }

    /// Reads the checkpoint of an earlier run of this agent: re-attaches to
    /// executors still running, reports those that died meanwhile, restores
    /// unacknowledged status updates, and removes containers nobody owns.
    fn recover(&mut self) {
        let r = self.checkpoint.load();
        if r.agent_id.is_none() && r.executors.is_empty() {
            return;
        }
        info!(agent_id = ?r.agent_id, executors = r.executors.len(), "recovering from checkpoint");
        self.agent_id = r.agent_id;
        for f in r.frameworks {
            if let Some(id) = f.id.clone() {
                self.frameworks.insert(FrameworkId(id.value), f);
            }
        }
        let now = Instant::now();
        for (fid, tid, pending) in r.updates {
            if pending.is_empty() {
                continue;
            }
            self.streams.insert(
                (FrameworkId(fid), TaskId(tid)),
                UpdateStream {
                    pending: pending.into(),
                    next_retry: Some(now),
                    backoff: RETRY_MIN,
                },
            );
        }
        let mut live_containers = Vec::new();
        let mut dead_containers = Vec::new();
        let (docker_records, executor_records): (Vec<_>, Vec<_>) =
            r.executors.into_iter().partition(|rec| rec.docker);
        if !docker_records.is_empty() {
            self.recover_docker(docker_records);
        }
        for rec in executor_records {
            let fid = FrameworkId(rec.framework_id.clone());
            let eid = ExecutorId(rec.executor_id.clone());
            let tasks: BTreeMap<TaskId, AgentTask> = rec
                .tasks
                .iter()
                .map(|t| {
                    let id = TaskId(
                        t.info
                            .task_id
                            .as_ref()
                            .map(|i| i.value.clone())
                            .unwrap_or_default(),
                    );
                    let state = t.state.parse().unwrap_or(TaskState::Staging);
                    (
                        id,
                        AgentTask {
                            info: t.info.clone(),
                            state,
                        },
                    )
                })
                .collect();
            let recovered = rec
                .pid
                .ok_or_else(|| "it had not started".to_string())
                .and_then(|pid| {
                    self.containerizer
                        .recover(&rec.container_id, pid, rec.directory.clone())
                        .map_err(|e| e.to_string())
                });
            match recovered {
                Ok(container) => {
                    live_containers.push(rec.container_id.clone());
                    let queued = tasks
                        .values()
                        .filter(|t| t.state == TaskState::Staging)
                        .map(|t| Launch::Task(t.info.clone()))
                        .collect();
                    let watch = container.clone();
                    self.executors.insert(
                        (fid.clone(), eid.clone()),
                        Executor {
                            framework_id: fid.clone(),
                            id: eid.clone(),
                            info: rec.info,
                            command_executor: rec.command_executor,
                            container_id: rec.container_id.clone(),
                            container: Some(container),
                            directory: rec.directory,
                            state: ExecState::Launching,
                            queued,
                            tasks,
                            limits: rec.limits.parse().unwrap_or_default(),
                            launched_at: now,
                            killing: Vec::new(),
                        },
                    );
                    let cz = self.containerizer.clone();
                    let tx = self.self_tx.clone();
                    let container_id = rec.container_id;
                    tokio::spawn(async move {
                        let termination = cz.wait(&watch).await;
                        let _ = tx.send(AgentEvent::ContainerExited {
                            framework_id: fid,
                            executor_id: eid,
                            container_id,
                            termination,
                        });
                    });
                }
                Err(why) => {
                    warn!(framework_id = %fid, executor_id = %eid, reason = %why, "executor did not survive the agent restart");
                    dead_containers.push(rec.container_id.clone());
                    for (tid, t) in &tasks {
                        let pending_terminal = self
                            .streams
                            .get(&(fid.clone(), tid.clone()))
                            .is_some_and(|s| {
                                s.pending
                                    .iter()
                                    .any(|p| task_state_from_wire(p.state).is_terminal())
                            });
                        if !t.state.is_terminal() && !pending_terminal {
                            self.agent_update(
                                &fid,
                                tid,
                                Some(&eid),
                                TaskState::Failed,
                                v1::TaskStatusReason::ReasonExecutorTerminated,
                                format!("the executor was lost while the agent was down: {why}"),
                            );
                        }
                    }
                    if !rec.command_executor {
                        // Told to the master once the link is up.
                        self.lost_executors.push((fid.clone(), eid.clone()));
                    }
                    self.checkpoint.remove_executor(fid.as_str(), eid.as_str());
                }
            }
        }
        // Clean up the cgroups of this agent's own containers that did not
        // survive. Only ids from this agent's checkpoint: other agents on the
        // same host share the cgroup root, and their containers are not ours.
        let existing = self.containerizer.cgroup_container_ids();
        for id in dead_containers {
            if existing.contains(&id) && !live_containers.contains(&id) {
                let cz = self.containerizer.clone();
                tokio::spawn(async move {
                    if let Err(e) = cz.destroy_orphan(&id).await {
                        warn!(container_id = %id, error = %e, "orphan container not removed");
                    }
                });
            }
        }
    }

    // === time ===

    /// Recovery is complete: answer the registrations that waited for it.
    pub(crate) fn recovered(&mut self) {
        self.recovering = false;
        for reply in std::mem::take(&mut self.pending_register) {
            let _ = reply.send(self.register_message());
        }
    }

    fn tick(&mut self) {
        let now = Instant::now();
        if self.link.is_some()
            && now.duration_since(self.last_heartbeat) >= self.heartbeat_interval / 2
        {
            self.to_master(ToMaster::Heartbeat(internal::Heartbeat {}));
            self.last_heartbeat = now;
        }
        let due: Vec<(FrameworkId, TaskId)> = self
            .streams
            .iter()
            .filter(|(_, s)| s.next_retry.is_some_and(|t| t <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for (f, t) in due {
            self.flush_stream(&f, &t);
        }
        let timeout = self.config.executor_registration_timeout;
        let mut to_destroy = Vec::new();
        for (k, e) in &self.executors {
            match e.state {
                ExecState::Terminating { deadline } if deadline <= now => {
                    to_destroy.push(k.clone())
                }
                ExecState::Launching if now.duration_since(e.launched_at) > timeout => {
                    to_destroy.push(k.clone())
                }
                _ => {}
            }
        }
        for k in to_destroy {
            if let Some(e) = self.executors.get_mut(&k) {
                if matches!(e.state, ExecState::Launching) {
                    warn!(framework_id = %k.0, executor_id = %k.1, "executor did not subscribe in time; destroying it");
                }
                // Push the deadline out so the destroy is not repeated every tick.
                e.state = ExecState::Terminating {
                    deadline: now + Duration::from_secs(3600),
                };
                if let Some(c) = e.container.clone() {
                    let cz = self.containerizer.clone();
                    tokio::spawn(async move {
                        let _ = cz.signal(&c, Signal::SIGKILL);
                        let _ = cz.destroy(&c).await;
                    });
                }
            }
        }
    }
}

fn call_ids(call: &v1::ExecutorCall) -> Result<(FrameworkId, ExecutorId), CallError> {
    let fid = call
        .framework_id
        .as_ref()
        .map(|f| FrameworkId(f.value.clone()))
        .ok_or_else(|| bad("expecting 'framework_id' to be present"))?;
    let eid = call
        .executor_id
        .as_ref()
        .map(|e| ExecutorId(e.value.clone()))
        .ok_or_else(|| bad("expecting 'executor_id' to be present"))?;
    Ok((fid, eid))
}

fn launch_event(task: &v1::TaskInfo) -> v1::ExecutorEvent {
    v1::ExecutorEvent {
        r#type: Some(v1::ExecutorEventType::Launch as i32),
        launch: Some(v1::ExecutorEventLaunch {
            task: Some(task.clone()),
        }),
        ..Default::default()
    }
}
