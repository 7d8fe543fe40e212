//! The executor's single loop: one task, one subscription, the pending
//! status updates, and the timers between them.

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future;
use nix::sys::signal::Signal;
use strata_client::{v1, ExecutorClient, ExecutorEventStream};
use tokio::time::{sleep_until, Instant};
use tracing::{debug, info, warn};

use crate::config::ExecutorConfig;
use crate::error::Error;
use crate::health::{HealthChecker, HealthEvent};
use crate::process::{self, TaskProcess};

/// The grace period of a kill when neither the KILL nor the task names one.
const DEFAULT_KILL_GRACE_PERIOD: Duration = Duration::from_secs(3);
/// How long before the agent's shutdown deadline the task gets SIGKILL, so
/// that it dies (and is reported) before the agent destroys the container.
const SHUTDOWN_KILL_MARGIN: Duration = Duration::from_secs(1);
/// The wait before resending updates the agent did not accept.
const UPDATE_RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// Re-subscription backoff: the first retry, and the longest wait.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

// === state ===

/// The link to the agent.
enum Link {
    /// Subscribed (or subscribing): events flow. `subscribed` turns true with
    /// the SUBSCRIBED event, which must come first.
    Connected {
        events: ExecutorEventStream,
        subscribed: bool,
    },
    /// Lost (or not yet made): re-subscribe at `retry_at`, and give up
    /// once `since` is older than the recovery timeout.
    Disconnected {
        since: Instant,
        attempts: u32,
        retry_at: Instant,
        last_error: String,
    },
}

/// The one task this executor runs.
enum Task {
    /// No LAUNCH yet.
    Waiting,
    /// The command runs.
    Running(Box<Running>),
    /// The terminal update was produced; the executor exits once every
    /// update is acknowledged, or at `exit_at` regardless.
    Terminated {
        /// Absent when the task was killed before it was launched.
        info: Option<Box<v1::TaskInfo>>,
        task_id: v1::TaskId,
        exit_at: Instant,
    },
}

struct Running {
    info: v1::TaskInfo,
    task_id: v1::TaskId,
    process: TaskProcess,
    kill: Kill,
    /// The health checker, when the task has a health check.
    health: Option<HealthChecker>,
    /// The last health verdict reported.
    healthy: Option<bool>,
}

/// Where a running task is in being killed.
enum Kill {
    NotRequested,
    /// SIGTERM sent; SIGKILL follows at `escalate_at`.
    Terminating {
        escalate_at: Instant,
    },
    /// SIGKILL sent.
    Killed,
}

/// A status update kept until the agent acknowledges its uuid.
struct Pending {
    status: v1::TaskStatus,
    /// The agent accepted the UPDATE call (or got it in a SUBSCRIBE).
    delivered: bool,
}

/// What woke the loop.
enum Input {
    Event(Option<strata_client::Result<Box<v1::ExecutorEvent>>>),
    Exited(std::io::Result<std::process::ExitStatus>),
    Health(HealthEvent),
    Timer,
}

pub(crate) struct Executor {
    config: ExecutorConfig,
    client: ExecutorClient,
    link: Link,
    task: Task,
    pending: VecDeque<Pending>,
    /// Undelivered updates wait until then after the agent refused one.
    retry_updates_at: Option<Instant>,
    /// The framework understands TASK_KILLING.
    task_killing_state: bool,
    /// After SHUTDOWN: the agent's deadline, when the executor exits.
    shutdown_at: Option<Instant>,
}

// === impl Executor ===

impl Executor {
    pub(crate) fn new(config: ExecutorConfig, client: ExecutorClient) -> Self {
        let now = Instant::now();
        Self {
            config,
            client,
            link: Link::Disconnected {
                since: now,
                attempts: 0,
                retry_at: now,
                last_error: "never subscribed".into(),
            },
            task: Task::Waiting,
            pending: VecDeque::new(),
            retry_updates_at: None,
            task_killing_state: false,
            shutdown_at: None,
        }
    }

    /// Runs until the task is over and reported; returns the exit code.
    pub(crate) async fn run(mut self) -> Result<i32, Error> {
        loop {
            if let Some(code) = self.finished() {
                return Ok(code);
            }
            match self.next_input().await {
                Input::Event(Some(Ok(event))) => self.on_event(*event)?,
                Input::Event(Some(Err(e))) => warn!(error = %e, "bad event from the agent"),
                Input::Event(None) => self.disconnected("the agent closed the event stream"),
                Input::Exited(status) => self.on_exit(status),
                Input::Health(event) => self.on_health(event),
                Input::Timer => self.on_timer().await?,
            }
            self.flush_updates().await;
        }
    }

    async fn next_input(&mut self) -> Input {
        let deadline = self.next_deadline();
        let events = match &mut self.link {
            Link::Connected { events, .. } => Some(events),
            Link::Disconnected { .. } => None,
        };
        let (process, health) = match &mut self.task {
            Task::Running(running) => (
                Some(&mut running.process),
                running.health.as_mut().map(|h| &mut h.events),
            ),
            _ => (None, None),
        };
        tokio::select! {
            event = async {
                match events {
                    Some(events) => events.next_event().await,
                    None => future::pending().await,
                }
            } => Input::Event(event.map(|e| e.map(Box::new))),
            status = async {
                match process {
                    Some(process) => process.wait().await,
                    None => future::pending().await,
                }
            } => Input::Exited(status),
            Some(event) = async {
                match health {
                    Some(events) => events.recv().await,
                    None => future::pending().await,
                }
            } => Input::Health(event),
            () = async {
                match deadline {
                    Some(at) => sleep_until(at).await,
                    None => future::pending().await,
                }
            } => Input::Timer,
        }
    }

    /// The earliest moment something is due.
    fn next_deadline(&self) -> Option<Instant> {
        let reconnect = match &self.link {
            Link::Disconnected { retry_at, .. } => Some(*retry_at),
            Link::Connected { .. } => None,
        };
        let task = match &self.task {
            Task::Running(r) => match r.kill {
                Kill::Terminating { escalate_at } => Some(escalate_at),
                _ => None,
            },
            Task::Terminated { exit_at, .. } => Some(*exit_at),
            Task::Waiting => None,
        };
        let retry = self.retry_updates_at.filter(|_| self.has_undelivered());
        // A running task is waited for even past the shutdown deadline: it
        // has had its SIGKILL and is about to be reaped.
        let shutdown = self
            .shutdown_at
            .filter(|_| !matches!(self.task, Task::Running(_)));
        [reconnect, task, retry, shutdown]
            .into_iter()
            .flatten()
            .min()
    }

    /// The exit code, once the executor is done.
    fn finished(&self) -> Option<i32> {
        let now = Instant::now();
        match &self.task {
            Task::Terminated { .. } if self.pending.is_empty() => {
                info!("all status updates acknowledged; exiting");
                Some(0)
            }
            Task::Terminated { exit_at, .. } if *exit_at <= now => {
                warn!(
                    unacknowledged = self.pending.len(),
                    "status updates not acknowledged within {}s of the terminal update; exiting",
                    self.config.terminal_ack_timeout.as_secs()
                );
                Some(0)
            }
            Task::Terminated { .. } | Task::Waiting
                if self.shutdown_at.is_some_and(|at| at <= now) =>
            {
                warn!("shutdown grace period over; exiting");
                Some(0)
            }
            Task::Waiting if self.shutdown_at.is_some() => {
                info!("shut down before any task was launched; exiting");
                Some(0)
            }
            _ => None,
        }
    }

    // --- events ---

    fn on_event(&mut self, event: v1::ExecutorEvent) -> Result<(), Error> {
        use v1::ExecutorEventType as T;
        let kind = event
            .r#type
            .and_then(|t| T::try_from(t).ok())
            .unwrap_or(T::Unknown);
        let Link::Connected { subscribed, .. } = &mut self.link else {
            return Ok(());
        };
        if !*subscribed && kind != T::Subscribed {
            return Err(Error::Protocol(format!(
                "the first event was {kind:?}, not SUBSCRIBED"
            )));
        }
        match kind {
            T::Subscribed => {
                *subscribed = true;
                let subscribed = event.subscribed.unwrap_or_default();
                self.task_killing_state = subscribed.framework_info.is_some_and(|f| {
                    f.capabilities.iter().any(|c| {
                        c.r#type == Some(v1::FrameworkCapabilityType::TaskKillingState as i32)
                    })
                });
                let agent = subscribed
                    .agent_info
                    .and_then(|a| a.id)
                    .map(|id| id.value)
                    .unwrap_or_default();
                info!(%agent, endpoint = self.client.agent_endpoint(), "subscribed to the agent");
            }
            T::Launch => match event.launch.and_then(|l| l.task) {
                Some(task) => self.on_launch(task),
                None => warn!("LAUNCH without a task; ignoring"),
            },
            T::LaunchGroup => {
                let tasks = event
                    .launch_group
                    .and_then(|l| l.task_group)
                    .map(|g| g.tasks)
                    .unwrap_or_default();
                for task in tasks {
                    let id = task.task_id.unwrap_or_default();
                    warn!(task_id = %id.value, "refusing a task group");
                    self.send(
                        &id,
                        v1::TaskState::TaskError,
                        "command executor does not support task groups",
                        None,
                    );
                }
            }
            T::Kill => {
                let kill = event.kill.unwrap_or_default();
                let task_id = kill.task_id.unwrap_or_default();
                let grace = kill.kill_policy.as_ref().and_then(grace_period);
                self.on_kill(&task_id, grace);
            }
            T::Acknowledged => {
                let ack = event.acknowledged.unwrap_or_default();
                match self
                    .pending
                    .iter()
                    .position(|p| p.status.uuid.as_ref() == Some(&ack.uuid))
                {
                    Some(i) => {
                        let acked = self.pending.remove(i).map(|p| p.status.state);
                        debug!(state = ?acked.map(state_name), "status update acknowledged");
                    }
                    None => debug!("acknowledgement for an unknown status update"),
                }
            }
            T::Shutdown => self.on_shutdown(),
            T::Message => {
                let bytes = event.message.map(|m| m.data.len()).unwrap_or(0);
                info!(
                    bytes,
                    "framework message received; the command executor ignores it"
                );
            }
            T::Error => {
                let message = event.error.map(|e| e.message).unwrap_or_default();
                warn!(%message, "the agent reported an error");
            }
            T::Heartbeat | T::Unknown => {}
        }
        Ok(())
    }

    fn on_launch(&mut self, info: v1::TaskInfo) {
        let task_id = info.task_id.clone().unwrap_or_default();
        match &self.task {
            Task::Waiting => {}
            Task::Terminated {
                info: None,
                task_id: killed,
                ..
            } if *killed == task_id => {
                info!(task_id = %task_id.value, "not launching a task killed before its launch");
                return;
            }
            _ => {
                warn!(task_id = %task_id.value, "refusing a second task");
                self.send(
                    &task_id,
                    v1::TaskState::TaskError,
                    "command executor runs one task",
                    None,
                );
                return;
            }
        }
        self.send(&task_id, v1::TaskState::TaskStarting, "", None);
        let spawned = crate::fetch::fetch_all(&info, self.config.sandbox.as_deref())
            .and_then(|()| process::command(&info, self.config.sandbox.as_deref()))
            .and_then(|c| {
                info!(task_id = %task_id.value, "launching command: {}", process::describe(&info));
                TaskProcess::spawn(c).map_err(|e| e.to_string())
            });
        match spawned {
            Ok(process) => {
                info!(task_id = %task_id.value, pid = process.pid(), "command started");
                self.send(&task_id, v1::TaskState::TaskRunning, "", None);
                let health = match HealthChecker::start(
                    &info,
                    self.config.sandbox.clone(),
                    Instant::now(),
                ) {
                    Some(Ok(checker)) => Some(checker),
                    Some(Err(e)) => {
                        warn!(task_id = %task_id.value, error = %e, "health check not usable; not checking");
                        None
                    }
                    None => None,
                };
                self.task = Task::Running(Box::new(Running {
                    info,
                    task_id,
                    process,
                    kill: Kill::NotRequested,
                    health,
                    healthy: None,
                }));
            }
            Err(e) => {
                warn!(task_id = %task_id.value, error = %e, "failed to launch command");
                self.send(
                    &task_id,
                    v1::TaskState::TaskFailed,
                    &format!("failed to launch command: {e}"),
                    Some(v1::TaskStatusReason::ReasonCommandExecutorFailed),
                );
                self.terminated(Some(info), task_id);
            }
        }
    }

    fn on_kill(&mut self, task_id: &v1::TaskId, grace: Option<Duration>) {
        match &self.task {
            Task::Waiting => {
                info!(task_id = %task_id.value, "killed before launch");
                self.send(
                    task_id,
                    v1::TaskState::TaskKilled,
                    "Task killed before it was launched",
                    None,
                );
                self.terminated(None, task_id.clone());
            }
            Task::Running(running) if running.task_id == *task_id => {
                let grace = grace
                    .or_else(|| running.info.kill_policy.as_ref().and_then(grace_period))
                    .unwrap_or(DEFAULT_KILL_GRACE_PERIOD);
                self.kill(grace);
            }
            Task::Running(running) => warn!(
                task_id = %task_id.value,
                running = %running.task_id.value,
                "kill for a task this executor does not run; ignoring"
            ),
            Task::Terminated { .. } => {
                info!(task_id = %task_id.value, "kill for a task that already ended; ignoring")
            }
        }
    }

    fn on_shutdown(&mut self) {
        if self.shutdown_at.is_some() {
            return;
        }
        let grace = self.config.shutdown_grace_period;
        info!(grace_secs = grace.as_secs_f64(), "shutting down");
        self.shutdown_at = Some(Instant::now() + grace);
        if matches!(self.task, Task::Running(_)) {
            let margin = SHUTDOWN_KILL_MARGIN.min(grace / 2);
            self.kill(grace.saturating_sub(margin));
        }
    }

    /// SIGTERM now, SIGKILL after `grace`. A second kill can only shorten
    /// the grace period.
    fn kill(&mut self, grace: Duration) {
        let Task::Running(running) = &mut self.task else {
            return;
        };
        let escalate_at = Instant::now() + grace;
        match &mut running.kill {
            Kill::Terminating { escalate_at: at } => {
                *at = (*at).min(escalate_at);
                return;
            }
            Kill::Killed => return,
            Kill::NotRequested => {}
        }
        info!(
            task_id = %running.task_id.value,
            grace_secs = grace.as_secs_f64(),
            "killing task: SIGTERM to its process group"
        );
        running.process.signal(Signal::SIGTERM);
        running.kill = Kill::Terminating { escalate_at };
        let task_id = running.task_id.clone();
        if self.task_killing_state {
            self.send(&task_id, v1::TaskState::TaskKilling, "", None);
        }
    }

    // --- health ---

    fn on_health(&mut self, event: HealthEvent) {
        let Task::Running(running) = &mut self.task else {
            return;
        };
        let task_id = running.task_id.clone();
        match event {
            HealthEvent::Changed { healthy, message } => {
                running.healthy = Some(healthy);
                info!(task_id = %task_id.value, healthy, %message, "task health changed");
                self.send_status(
                    &task_id,
                    v1::TaskState::TaskRunning,
                    &message,
                    Some(v1::TaskStatusReason::ReasonTaskHealthCheckStatusUpdated),
                    Some(healthy),
                );
            }
            HealthEvent::Kill { message } => {
                running.healthy = Some(false);
                running.health = None;
                let grace = running
                    .info
                    .kill_policy
                    .as_ref()
                    .and_then(grace_period)
                    .unwrap_or(DEFAULT_KILL_GRACE_PERIOD);
                warn!(task_id = %task_id.value, %message, "task failed its health checks; killing it");
                self.kill(grace);
            }
        }
    }

    // --- the process ---

    fn on_exit(&mut self, status: std::io::Result<std::process::ExitStatus>) {
        let Task::Running(running) = std::mem::replace(&mut self.task, Task::Waiting) else {
            return;
        };
        let Running {
            info,
            task_id,
            kill,
            process,
            health,
            healthy,
        } = *running;
        drop(process);
        drop(health);
        let killed_by_us = !matches!(kill, Kill::NotRequested);
        match status {
            Ok(status) => {
                match (status.code(), status.signal()) {
                    (Some(code), _) => {
                        info!(task_id = %task_id.value, "task exited with status {code}")
                    }
                    (None, signal) => info!(
                        task_id = %task_id.value,
                        "task terminated by signal {}",
                        signal.map(process::signal_name).unwrap_or_default()
                    ),
                }
                let outcome = process::outcome(status, killed_by_us);
                self.send_status(&task_id, outcome.state, &outcome.message, None, healthy);
            }
            Err(e) => {
                warn!(task_id = %task_id.value, error = %e, "cannot wait for the command");
                self.send(
                    &task_id,
                    v1::TaskState::TaskFailed,
                    &format!("failed to wait for the command: {e}"),
                    Some(v1::TaskStatusReason::ReasonCommandExecutorFailed),
                );
            }
        }
        self.terminated(Some(info), task_id);
    }

    fn terminated(&mut self, info: Option<v1::TaskInfo>, task_id: v1::TaskId) {
        self.task = Task::Terminated {
            info: info.map(Box::new),
            task_id,
            exit_at: Instant::now() + self.config.terminal_ack_timeout,
        };
    }

    // --- timers ---

    async fn on_timer(&mut self) -> Result<(), Error> {
        let now = Instant::now();
        if let Task::Running(running) = &mut self.task {
            if let Kill::Terminating { escalate_at } = running.kill {
                if escalate_at <= now {
                    info!(task_id = %running.task_id.value, "grace period over: SIGKILL to the task's process group");
                    running.process.signal(Signal::SIGKILL);
                    running.kill = Kill::Killed;
                }
            }
        }
        if self.retry_updates_at.is_some_and(|at| at <= now) {
            self.retry_updates_at = None;
        }
        if matches!(self.link, Link::Disconnected { retry_at, .. } if retry_at <= now) {
            self.subscribe().await?;
        }
        Ok(())
    }

    // --- the agent ---

    fn disconnected(&mut self, why: &str) {
        warn!(
            reason = why,
            endpoint = self.client.agent_endpoint(),
            "lost the agent; re-subscribing"
        );
        let now = Instant::now();
        self.link = Link::Disconnected {
            since: now,
            attempts: 0,
            retry_at: now,
            last_error: why.to_owned(),
        };
    }

    /// One SUBSCRIBE attempt, carrying everything the agent has not
    /// acknowledged so it can recover it.
    async fn subscribe(&mut self) -> Result<(), Error> {
        let unacknowledged_tasks = match &self.task {
            Task::Running(r) => vec![r.info.clone()],
            Task::Terminated {
                info: Some(info),
                task_id,
                ..
            } if self
                .pending
                .iter()
                .any(|p| p.status.task_id.as_ref() == Some(task_id)) =>
            {
                vec![(**info).clone()]
            }
            _ => Vec::new(),
        };
        let unacknowledged_updates: Vec<_> =
            self.pending.iter().map(|p| p.status.clone()).collect();
        let result = self
            .client
            .subscribe(unacknowledged_tasks, unacknowledged_updates)
            .await;
        let Link::Disconnected {
            since,
            attempts,
            retry_at,
            last_error,
        } = &mut self.link
        else {
            return Ok(());
        };
        match result {
            Ok(events) => {
                if *attempts > 0 || !self.pending.is_empty() || !matches!(self.task, Task::Waiting)
                {
                    info!(
                        unacknowledged = self.pending.len(),
                        "re-subscribed to the agent"
                    );
                }
                for pending in &mut self.pending {
                    pending.delivered = true;
                }
                self.link = Link::Connected {
                    events,
                    subscribed: false,
                };
                Ok(())
            }
            Err(e) => {
                let waited = since.elapsed();
                if waited >= self.config.recovery_timeout {
                    warn!(error = %e, "giving up on the agent");
                    return Err(Error::AgentUnreachable {
                        endpoint: self.client.agent_endpoint().to_owned(),
                        waited,
                        last_error: e.to_string(),
                    });
                }
                *attempts += 1;
                let backoff = MIN_BACKOFF
                    .saturating_mul(1 << (*attempts - 1).min(16))
                    .min(MAX_BACKOFF);
                *retry_at = Instant::now() + backoff;
                *last_error = e.to_string();
                debug!(error = %e, attempt = *attempts, "cannot subscribe to the agent yet");
                Ok(())
            }
        }
    }

    // --- status updates ---

    /// Records a status update for delivery; it stays pending until acknowledged.
    fn send(
        &mut self,
        task_id: &v1::TaskId,
        state: v1::TaskState,
        message: &str,
        reason: Option<v1::TaskStatusReason>,
    ) {
        self.send_status(task_id, state, message, reason, None);
    }

    /// [`Executor::send`] with the task's health, when it has a health check.
    fn send_status(
        &mut self,
        task_id: &v1::TaskId,
        state: v1::TaskState,
        message: &str,
        reason: Option<v1::TaskStatusReason>,
        healthy: Option<bool>,
    ) {
        let status = v1::TaskStatus {
            task_id: Some(task_id.clone()),
            state: state as i32,
            message: (!message.is_empty()).then(|| message.to_owned()),
            source: Some(v1::TaskStatusSource::SourceExecutor as i32),
            reason: reason.map(|r| r as i32),
            agent_id: self.config.agent_id.as_deref().map(v1::agent_id),
            executor_id: Some(self.client.executor_id().clone()),
            timestamp: Some(now_secs()),
            uuid: Some(uuid::Uuid::new_v4().as_bytes().to_vec()),
            healthy,
            ..Default::default()
        };
        info!(task_id = %task_id.value, state = state_name(state as i32), %message, "status update");
        self.pending.push_back(Pending {
            status,
            delivered: false,
        });
    }

    fn has_undelivered(&self) -> bool {
        self.pending.iter().any(|p| !p.delivered)
    }

    /// Sends the undelivered updates in order, stopping at the first the
    /// agent does not take (it is retried later, or carried by the next
    /// SUBSCRIBE if the link is lost).
    async fn flush_updates(&mut self) {
        let connected = matches!(
            self.link,
            Link::Connected {
                subscribed: true,
                ..
            }
        );
        if !connected || self.retry_updates_at.is_some() {
            return;
        }
        for pending in self.pending.iter_mut().filter(|p| !p.delivered) {
            match self.client.update(pending.status.clone()).await {
                Ok(()) => pending.delivered = true,
                Err(e) => {
                    warn!(
                        state = state_name(pending.status.state),
                        error = %e,
                        "status update not accepted; retrying"
                    );
                    self.retry_updates_at = Some(Instant::now() + UPDATE_RETRY_INTERVAL);
                    return;
                }
            }
        }
    }
}

fn grace_period(policy: &v1::KillPolicy) -> Option<Duration> {
    let nanos = policy.grace_period.as_ref()?.nanoseconds;
    Some(Duration::from_nanos(nanos.max(0) as u64))
}

fn state_name(state: i32) -> &'static str {
    <v1::TaskState as v1::json::MesosEnum>::name_of(state).unwrap_or("TASK_UNKNOWN")
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
