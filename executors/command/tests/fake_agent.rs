//! The command executor, run in-process against a fake agent that serves
//! `/api/v1/executor`, records every UPDATE and acknowledges it on the stream.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use strata_client::v1;
use strata_executors_command::{run, Error, ExecutorConfig};
use strata_proto::recordio;
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};

// === the fake agent ===

struct Agent {
    capabilities: Vec<v1::FrameworkCapabilityType>,
    stream: Mutex<Option<mpsc::UnboundedSender<Bytes>>>,
    subscribes: mpsc::UnboundedSender<v1::ExecutorCall>,
    updates: mpsc::UnboundedSender<v1::TaskStatus>,
    auto_ack: AtomicBool,
    /// Answer 503 to this many UPDATE calls before accepting them.
    refuse_updates: AtomicUsize,
}

impl Agent {
    async fn push(&self, event: &v1::ExecutorEvent) {
        let record = recordio::encode(&v1::Encoding::Json.encode(event));
        if let Some(stream) = self.stream.lock().await.as_ref() {
            let _ = stream.send(record);
        }
    }
}

async fn executor_api(State(agent): State<Arc<Agent>>, body: Bytes) -> Response {
    let call: v1::ExecutorCall = v1::Encoding::Json.decode(&body).unwrap();
    assert_eq!(call.framework_id, Some(v1::framework_id("F1")));
    assert_eq!(call.executor_id, Some(v1::executor_id("E1")));
    match call
        .r#type
        .and_then(|t| v1::ExecutorCallType::try_from(t).ok())
    {
        Some(v1::ExecutorCallType::Subscribe) => {
            let (tx, rx) = mpsc::unbounded_channel();
            *agent.stream.lock().await = Some(tx);
            agent.push(&subscribed(&agent.capabilities)).await;
            let _ = agent.subscribes.send(call);
            let body = futures::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
            });
            Response::builder()
                .header("Content-Type", "application/json")
                .body(Body::from_stream(body))
                .unwrap()
        }
        Some(v1::ExecutorCallType::Update) => {
            let refused = agent
                .refuse_updates
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if refused {
                return (StatusCode::SERVICE_UNAVAILABLE, "agent is recovering").into_response();
            }
            let status = call.update.unwrap().status.unwrap();
            if agent.auto_ack.load(Ordering::SeqCst) {
                agent.push(&acknowledged(&status)).await;
            }
            let _ = agent.updates.send(status);
            StatusCode::ACCEPTED.into_response()
        }
        _ => StatusCode::ACCEPTED.into_response(),
    }
}

// === events ===

fn subscribed(capabilities: &[v1::FrameworkCapabilityType]) -> v1::ExecutorEvent {
    v1::ExecutorEvent {
        r#type: Some(v1::ExecutorEventType::Subscribed as i32),
        subscribed: Some(v1::ExecutorEventSubscribed {
            executor_info: Some(v1::ExecutorInfo {
                executor_id: Some(v1::executor_id("E1")),
                ..Default::default()
            }),
            framework_info: Some(v1::FrameworkInfo {
                user: "root".into(),
                name: "test".into(),
                id: Some(v1::framework_id("F1")),
                capabilities: capabilities
                    .iter()
                    .map(|c| v1::FrameworkCapability {
                        r#type: Some(*c as i32),
                    })
                    .collect(),
                ..Default::default()
            }),
            agent_info: None,
            container_id: None,
        }),
        ..Default::default()
    }
}

fn acknowledged(status: &v1::TaskStatus) -> v1::ExecutorEvent {
    v1::ExecutorEvent {
        r#type: Some(v1::ExecutorEventType::Acknowledged as i32),
        acknowledged: Some(v1::ExecutorEventAcknowledged {
            task_id: status.task_id.clone(),
            uuid: status.uuid.clone().unwrap(),
        }),
        ..Default::default()
    }
}

fn launch(task: v1::TaskInfo) -> v1::ExecutorEvent {
    v1::ExecutorEvent {
        r#type: Some(v1::ExecutorEventType::Launch as i32),
        launch: Some(v1::ExecutorEventLaunch { task: Some(task) }),
        ..Default::default()
    }
}

fn kill(task_id: &str, grace: Option<Duration>) -> v1::ExecutorEvent {
    v1::ExecutorEvent {
        r#type: Some(v1::ExecutorEventType::Kill as i32),
        kill: Some(v1::ExecutorEventKill {
            task_id: Some(v1::task_id(task_id)),
            kill_policy: grace.map(|g| v1::KillPolicy {
                grace_period: Some(v1::DurationInfo {
                    nanoseconds: g.as_nanos() as i64,
                }),
            }),
        }),
        ..Default::default()
    }
}

fn shutdown() -> v1::ExecutorEvent {
    v1::ExecutorEvent {
        r#type: Some(v1::ExecutorEventType::Shutdown as i32),
        ..Default::default()
    }
}

fn shell_task(id: &str, script: &str) -> v1::TaskInfo {
    v1::TaskInfo {
        name: id.into(),
        task_id: Some(v1::task_id(id)),
        command: Some(v1::CommandInfo {
            value: Some(script.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

// === the harness ===

const WAIT: Duration = Duration::from_secs(10);

struct Harness {
    agent: Arc<Agent>,
    subscribes: mpsc::UnboundedReceiver<v1::ExecutorCall>,
    updates: mpsc::UnboundedReceiver<v1::TaskStatus>,
    executor: JoinHandle<Result<i32, Error>>,
}

impl Harness {
    async fn start(capabilities: &[v1::FrameworkCapabilityType]) -> Self {
        Self::start_with(capabilities, |_| {}).await
    }

    async fn start_with(
        capabilities: &[v1::FrameworkCapabilityType],
        configure: impl FnOnce(&mut ExecutorConfig),
    ) -> Self {
        let (subscribes_tx, subscribes) = mpsc::unbounded_channel();
        let (updates_tx, updates) = mpsc::unbounded_channel();
        let agent = Arc::new(Agent {
            capabilities: capabilities.to_vec(),
            stream: Mutex::new(None),
            subscribes: subscribes_tx,
            updates: updates_tx,
            auto_ack: AtomicBool::new(true),
            refuse_updates: AtomicUsize::new(0),
        });
        let router = Router::new()
            .route("/api/v1/executor", post(executor_api))
            .with_state(agent.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

        let mut config = ExecutorConfig::new(&addr.to_string(), "F1", "E1");
        config.agent_id = Some("A1".into());
        configure(&mut config);
        let executor = tokio::spawn(run(config));
        let mut harness = Self {
            agent,
            subscribes,
            updates,
            executor,
        };
        let first = harness.subscribed().await;
        let subscribe = first.subscribe.unwrap_or_default();
        assert!(subscribe.unacknowledged_tasks.is_empty());
        assert!(subscribe.unacknowledged_updates.is_empty());
        harness
    }

    async fn subscribed(&mut self) -> v1::ExecutorCall {
        timeout(WAIT, self.subscribes.recv())
            .await
            .expect("the executor subscribes")
            .unwrap()
    }

    async fn push(&self, event: v1::ExecutorEvent) {
        self.agent.push(&event).await;
    }

    async fn update(&mut self) -> v1::TaskStatus {
        let status = timeout(WAIT, self.updates.recv())
            .await
            .expect("a status update")
            .unwrap();
        assert_eq!(
            status.source,
            Some(v1::TaskStatusSource::SourceExecutor as i32)
        );
        assert_eq!(status.executor_id, Some(v1::executor_id("E1")));
        assert_eq!(status.agent_id, Some(v1::agent_id("A1")));
        assert_eq!(status.uuid.as_ref().map(Vec::len), Some(16));
        assert!(status.timestamp.unwrap() > 1.6e9);
        status
    }

    /// The next update, checked against a state (and message, when given).
    async fn expect(
        &mut self,
        task: &str,
        state: v1::TaskState,
        message: Option<&str>,
    ) -> v1::TaskStatus {
        let status = self.update().await;
        assert_eq!(
            (
                status.task_id.as_ref().unwrap().value.as_str(),
                state_name(status.state)
            ),
            (task, state_name(state as i32)),
            "{status:?}"
        );
        if let Some(message) = message {
            assert_eq!(status.message.as_deref(), Some(message), "{status:?}");
        }
        status
    }

    async fn exit_code(self) -> Result<i32, Error> {
        timeout(WAIT, self.executor)
            .await
            .expect("the executor exits")
            .unwrap()
    }
}

fn state_name(state: i32) -> &'static str {
    <v1::TaskState as v1::json::MesosEnum>::name_of(state).unwrap()
}

fn sandbox(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("strata-cmd-exec-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.canonicalize().unwrap()
}

use v1::TaskState::*;

// === tests ===

#[tokio::test]
async fn a_failing_command_reports_starting_running_failed_and_exits_0() {
    let mut h = Harness::start(&[]).await;
    h.push(launch(shell_task("t1", "echo hi; exit 3"))).await;
    h.expect("t1", TaskStarting, None).await;
    h.expect("t1", TaskRunning, None).await;
    let failed = h
        .expect("t1", TaskFailed, Some("Command exited with status 3"))
        .await;
    assert_eq!(failed.reason, None);
    assert_eq!(h.exit_code().await.unwrap(), 0);
}

#[tokio::test]
async fn a_succeeding_command_finishes() {
    let mut h = Harness::start(&[]).await;
    h.push(launch(shell_task("t1", "true"))).await;
    h.expect("t1", TaskStarting, None).await;
    h.expect("t1", TaskRunning, None).await;
    h.expect("t1", TaskFinished, Some("Command exited with status 0"))
        .await;
    assert_eq!(h.exit_code().await.unwrap(), 0);
}

#[tokio::test]
async fn kill_terminates_the_task_within_the_grace_period() {
    let mut h = Harness::start(&[v1::FrameworkCapabilityType::TaskKillingState]).await;
    h.push(launch(shell_task("t1", "sleep 100"))).await;
    h.expect("t1", TaskStarting, None).await;
    h.expect("t1", TaskRunning, None).await;
    let killed_at = Instant::now();
    h.push(kill("t1", Some(Duration::from_secs(5)))).await;
    h.expect("t1", TaskKilling, None).await;
    h.expect(
        "t1",
        TaskKilled,
        Some("Command terminated with signal SIGTERM"),
    )
    .await;
    assert!(killed_at.elapsed() < Duration::from_secs(5));
    assert_eq!(h.exit_code().await.unwrap(), 0);
}

#[tokio::test]
async fn kill_escalates_to_sigkill_when_sigterm_is_ignored() {
    // No TASK_KILLING_STATE capability: no TASK_KILLING update.
    let mut h = Harness::start(&[]).await;
    h.push(launch(shell_task("t1", "trap '' TERM; sleep 100")))
        .await;
    h.expect("t1", TaskStarting, None).await;
    h.expect("t1", TaskRunning, None).await;
    // Let the shell install its trap.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let killed_at = Instant::now();
    h.push(kill("t1", Some(Duration::from_millis(500)))).await;
    h.expect(
        "t1",
        TaskKilled,
        Some("Command terminated with signal SIGKILL"),
    )
    .await;
    assert!(killed_at.elapsed() >= Duration::from_millis(500));
    assert_eq!(h.exit_code().await.unwrap(), 0);
}

#[tokio::test]
async fn shell_false_execs_the_value_with_arguments_env_and_sandbox() {
    let dir = sandbox("shell-false");
    let dir_for_config = dir.clone();
    let mut h = Harness::start_with(&[], move |c| c.sandbox = Some(dir_for_config)).await;
    // arguments[0] is argv[0]; the rest are the arguments. The script exits 7
    // only when the environment and working directory are right.
    let script = r#"test "$0" = my-name && test "$FOO" = bar && test "$MESOS_TASK_ID" = t1 && test "$(pwd -P)" = "$1" && exit 7; exit 1"#;
    let task = v1::TaskInfo {
        name: "t1".into(),
        task_id: Some(v1::task_id("t1")),
        command: Some(v1::CommandInfo {
            shell: Some(false),
            value: Some("/bin/sh".into()),
            arguments: vec![
                "ignored-argv0".into(),
                "-c".into(),
                script.into(),
                "my-name".into(),
                dir.display().to_string(),
            ],
            environment: Some(v1::Environment {
                variables: vec![v1::EnvironmentVariable {
                    name: "FOO".into(),
                    r#type: Some(v1::EnvironmentVariableType::Value as i32),
                    value: Some("bar".into()),
                }],
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    h.push(launch(task)).await;
    h.expect("t1", TaskStarting, None).await;
    h.expect("t1", TaskRunning, None).await;
    h.expect("t1", TaskFailed, Some("Command exited with status 7"))
        .await;
    assert_eq!(h.exit_code().await.unwrap(), 0);
    let _ = std::fs::remove_dir(dir);
}

#[tokio::test]
async fn a_command_that_cannot_start_fails_with_the_executor_reason() {
    let mut h = Harness::start(&[]).await;
    let mut task = shell_task("t1", "/nonexistent/strata-test-binary");
    task.command.as_mut().unwrap().shell = Some(false);
    h.push(launch(task)).await;
    h.expect("t1", TaskStarting, None).await;
    let failed = h.expect("t1", TaskFailed, None).await;
    assert!(
        failed
            .message
            .as_deref()
            .unwrap()
            .starts_with("failed to launch command: "),
        "{failed:?}"
    );
    assert_eq!(
        failed.reason,
        Some(v1::TaskStatusReason::ReasonCommandExecutorFailed as i32)
    );
    assert_eq!(h.exit_code().await.unwrap(), 0);
}

#[tokio::test]
async fn a_kill_before_launch_reports_killed_without_spawning() {
    let mut h = Harness::start(&[]).await;
    h.push(kill("t1", None)).await;
    h.expect("t1", TaskKilled, None).await;
    assert_eq!(h.exit_code().await.unwrap(), 0);
}

#[tokio::test]
async fn a_second_task_is_refused_with_task_error() {
    let mut h = Harness::start(&[]).await;
    h.push(launch(shell_task("t1", "sleep 100"))).await;
    h.expect("t1", TaskStarting, None).await;
    h.expect("t1", TaskRunning, None).await;
    h.push(launch(shell_task("t2", "true"))).await;
    h.expect("t2", TaskError, Some("command executor runs one task"))
        .await;
    // A kill for another task is ignored; the real one still works.
    h.push(kill("t2", None)).await;
    h.push(kill("t1", None)).await;
    h.expect("t1", TaskKilled, None).await;
    assert_eq!(h.exit_code().await.unwrap(), 0);
}

#[tokio::test]
async fn shutdown_kills_the_task_and_exits() {
    let mut h =
        Harness::start_with(&[], |c| c.shutdown_grace_period = Duration::from_secs(2)).await;
    h.push(launch(shell_task("t1", "sleep 100"))).await;
    h.expect("t1", TaskStarting, None).await;
    h.expect("t1", TaskRunning, None).await;
    h.push(shutdown()).await;
    h.expect(
        "t1",
        TaskKilled,
        Some("Command terminated with signal SIGTERM"),
    )
    .await;
    assert_eq!(h.exit_code().await.unwrap(), 0);
}

#[tokio::test]
async fn shutdown_before_launch_exits_at_once() {
    let h = Harness::start(&[]).await;
    h.push(shutdown()).await;
    assert_eq!(h.exit_code().await.unwrap(), 0);
}

#[tokio::test]
async fn a_broken_stream_resubscribes_with_what_is_unacknowledged() {
    let mut h = Harness::start(&[]).await;
    h.agent.auto_ack.store(false, Ordering::SeqCst);
    let task = shell_task("t1", "sleep 100");
    h.push(launch(task.clone())).await;
    let starting = h.expect("t1", TaskStarting, None).await;
    let running = h.expect("t1", TaskRunning, None).await;
    // STARTING is acknowledged, RUNNING is not; then the agent goes away.
    h.push(acknowledged(&starting)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.agent.stream.lock().await.take();

    let again = h.subscribed().await;
    let subscribe = again.subscribe.unwrap();
    assert_eq!(subscribe.unacknowledged_tasks, vec![task]);
    let updates: Vec<_> = subscribe
        .unacknowledged_updates
        .into_iter()
        .map(|u| u.status.unwrap())
        .collect();
    assert_eq!(updates, vec![running.clone()]);

    // The re-subscribed executor carries on: acknowledge, kill, finish.
    h.agent.auto_ack.store(true, Ordering::SeqCst);
    h.push(acknowledged(&running)).await;
    h.push(kill("t1", None)).await;
    h.expect("t1", TaskKilled, None).await;
    assert_eq!(h.exit_code().await.unwrap(), 0);
}

#[tokio::test]
async fn refused_updates_are_retried_in_order() {
    let mut h = Harness::start(&[]).await;
    h.agent.refuse_updates.store(2, Ordering::SeqCst);
    h.push(launch(shell_task("t1", "exit 0"))).await;
    h.expect("t1", TaskStarting, None).await;
    h.expect("t1", TaskRunning, None).await;
    h.expect("t1", TaskFinished, None).await;
    assert_eq!(h.exit_code().await.unwrap(), 0);
}

#[tokio::test]
async fn an_unacknowledged_terminal_update_does_not_keep_the_executor_alive() {
    let mut h =
        Harness::start_with(&[], |c| c.terminal_ack_timeout = Duration::from_millis(300)).await;
    h.agent.auto_ack.store(false, Ordering::SeqCst);
    h.push(launch(shell_task("t1", "exit 0"))).await;
    h.expect("t1", TaskStarting, None).await;
    h.expect("t1", TaskRunning, None).await;
    h.expect("t1", TaskFinished, None).await;
    assert_eq!(h.exit_code().await.unwrap(), 0);
}

#[tokio::test]
async fn an_unreachable_agent_is_given_up_after_the_recovery_timeout() {
    // Nothing listens on the port once the listener is dropped.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut config = ExecutorConfig::new(&format!("127.0.0.1:{port}"), "F1", "E1");
    config.recovery_timeout = Duration::from_millis(500);
    let started = Instant::now();
    let e = timeout(WAIT, run(config)).await.unwrap().unwrap_err();
    assert!(matches!(e, Error::AgentUnreachable { .. }), "{e}");
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert!(
        e.to_string()
            .starts_with(&format!("lost the agent at 127.0.0.1:{port}")),
        "{e}"
    );
}

// === health checks (TaskInfo.health_check, run beside the task) ===

fn with_check(mut task: v1::TaskInfo, check: v1::HealthCheck) -> v1::TaskInfo {
    task.health_check = Some(check);
    task
}

fn fast_check(kind: v1::HealthCheckType, consecutive_failures: u32) -> v1::HealthCheck {
    v1::HealthCheck {
        r#type: Some(kind as i32),
        delay_seconds: Some(0.0),
        interval_seconds: Some(0.1),
        timeout_seconds: Some(2.0),
        consecutive_failures: Some(consecutive_failures),
        grace_period_seconds: Some(0.0),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_command_health_check_reports_health_changes_and_kills_after_consecutive_failures() {
    let dir = sandbox("health-command");
    let _ = std::fs::remove_file(dir.join("healthy"));
    let dir_for_config = dir.clone();
    let mut h = Harness::start_with(&[], move |c| c.sandbox = Some(dir_for_config)).await;
    let mut check = fast_check(v1::HealthCheckType::Command, 20);
    // Failures before the file exists fall in the grace period.
    check.grace_period_seconds = Some(5.0);
    check.command = Some(v1::CommandInfo {
        value: Some("test -f healthy".into()),
        ..Default::default()
    });
    // Healthy once the file exists; unhealthy when it goes; killed after 20 failures.
    let task = with_check(
        shell_task("t1", "touch healthy; sleep 1; rm healthy; sleep 100"),
        check,
    );
    h.push(launch(task)).await;
    h.expect("t1", TaskStarting, None).await;
    h.expect("t1", TaskRunning, None).await;
    let healthy = h.expect("t1", TaskRunning, None).await;
    assert_eq!(healthy.healthy, Some(true), "{healthy:?}");
    assert_eq!(
        healthy.reason,
        Some(v1::TaskStatusReason::ReasonTaskHealthCheckStatusUpdated as i32)
    );
    let unhealthy = h.expect("t1", TaskRunning, None).await;
    assert_eq!(unhealthy.healthy, Some(false), "{unhealthy:?}");
    let killed = h.expect("t1", TaskKilled, None).await;
    assert_eq!(killed.healthy, Some(false), "{killed:?}");
    assert_eq!(h.exit_code().await.unwrap(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn tcp_and_http_health_checks_probe_the_task_port() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port() as u32;
    // A tiny HTTP server standing in for the task's port.
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                    .await;
            });
        }
    });
    for kind in [v1::HealthCheckType::Tcp, v1::HealthCheckType::Http] {
        let mut h = Harness::start(&[]).await;
        let mut check = fast_check(kind, 3);
        match kind {
            v1::HealthCheckType::Tcp => check.tcp = Some(v1::TcpCheckInfo { port }),
            _ => {
                check.http = Some(v1::HttpCheckInfo {
                    scheme: Some("http".into()),
                    port,
                    path: Some("/health".into()),
                    statuses: vec![],
                })
            }
        }
        h.push(launch(with_check(shell_task("t1", "sleep 100"), check)))
            .await;
        h.expect("t1", TaskStarting, None).await;
        h.expect("t1", TaskRunning, None).await;
        let healthy = h.expect("t1", TaskRunning, None).await;
        assert_eq!(healthy.healthy, Some(true), "{kind:?}: {healthy:?}");
        h.push(kill("t1", Some(Duration::from_secs(1)))).await;
        let killed = h.expect("t1", TaskKilled, None).await;
        assert_eq!(killed.healthy, Some(true));
        assert_eq!(h.exit_code().await.unwrap(), 0);
    }
    server.abort();
}

#[tokio::test]
async fn failures_within_the_grace_period_are_ignored() {
    let mut h = Harness::start(&[]).await;
    let mut check = fast_check(v1::HealthCheckType::Tcp, 1);
    check.tcp = Some(v1::TcpCheckInfo { port: 1 });
    check.grace_period_seconds = Some(60.0);
    h.push(launch(with_check(shell_task("t1", "sleep 100"), check)))
        .await;
    h.expect("t1", TaskStarting, None).await;
    h.expect("t1", TaskRunning, None).await;
    // Within the grace period nothing is reported and nothing is killed.
    assert!(timeout(Duration::from_millis(800), h.updates.recv())
        .await
        .is_err());
    h.push(kill("t1", Some(Duration::from_secs(1)))).await;
    let killed = h.expect("t1", TaskKilled, None).await;
    assert_eq!(killed.healthy, None);
    assert_eq!(h.exit_code().await.unwrap(), 0);
}

#[tokio::test]
async fn uris_are_fetched_into_the_sandbox_before_the_command_starts() {
    let dir = sandbox("fetch");
    let source = std::env::temp_dir().join(format!("strata-fetch-src-{}.sh", std::process::id()));
    std::fs::write(&source, "#!/bin/sh\necho fetched-ok\n").unwrap();
    let dir_for_config = dir.clone();
    let mut h = Harness::start_with(&[], move |c| c.sandbox = Some(dir_for_config)).await;
    let mut task = shell_task("t1", "./tool.sh > out.txt");
    task.command.as_mut().unwrap().uris = vec![v1::CommandUri {
        value: format!("file://{}", source.display()),
        executable: Some(true),
        output_file: Some("tool.sh".into()),
        ..Default::default()
    }];
    h.push(launch(task)).await;
    h.expect("t1", TaskStarting, None).await;
    h.expect("t1", TaskRunning, None).await;
    h.expect("t1", TaskFinished, None).await;
    assert_eq!(
        std::fs::read_to_string(dir.join("out.txt")).unwrap(),
        "fetched-ok\n"
    );
    // A missing file fails the task before anything runs.
    let mut h = Harness::start(&[]).await;
    let mut task = shell_task("t2", "true");
    task.command.as_mut().unwrap().uris = vec![v1::CommandUri {
        value: "/nonexistent/strata-file".into(),
        ..Default::default()
    }];
    h.push(launch(task)).await;
    h.expect("t2", TaskStarting, None).await;
    let failed = h.expect("t2", TaskFailed, None).await;
    assert!(failed.message.unwrap().contains("failed to fetch"));
    let _ = std::fs::remove_file(source);
    let _ = std::fs::remove_dir_all(&dir);
}
