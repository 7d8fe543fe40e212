//! Health checks run beside the task, as Mesos's health checker does for
//! `TaskInfo.health_check`: HTTP (a GET to `127.0.0.1:port`, 200-399 is healthy),
//! TCP (a connection to `127.0.0.1:port`) and COMMAND (a shell command in the sandbox,
//! exit 0 is healthy).
//!
//! Timing follows Mesos: the first check after `delay_seconds` (default 15), then every
//! `interval_seconds` (10); a check slower than `timeout_seconds` (20) fails; failures
//! within `grace_period_seconds` (10) of the launch are ignored until the first success;
//! `consecutive_failures` (3) failures in a row ask for the task to be killed.
//! The checker reports only changes of health (and the kill), which the executor turns
//! into TASK_RUNNING updates with `healthy` set and reason
//! REASON_TASK_HEALTH_CHECK_STATUS_UPDATED.

use std::path::PathBuf;
use std::time::Duration;

use strata_client::v1;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// What the checker tells the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HealthEvent {
    /// The task's health changed (or was first established).
    Changed {
        /// Healthy now?
        healthy: bool,
        /// What the last check saw.
        message: String,
    },
    /// Too many failures in a row: kill the task.
    Kill {
        /// What the last check saw.
        message: String,
    },
}

/// A running checker; dropping it stops the checks.
#[derive(Debug)]
pub(crate) struct HealthChecker {
    task: JoinHandle<()>,
    pub(crate) events: mpsc::UnboundedReceiver<HealthEvent>,
}

impl Drop for HealthChecker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug, Clone)]
enum Probe {
    Http {
        scheme: String,
        port: u16,
        path: String,
        statuses: Vec<u32>,
    },
    Tcp {
        port: u16,
    },
    Command {
        command: v1::CommandInfo,
        env: Vec<(String, String)>,
    },
}

/// The check's timing, with Mesos's defaults.
#[derive(Debug, Clone, Copy)]
struct Timing {
    delay: Duration,
    interval: Duration,
    timeout: Duration,
    grace: Duration,
    consecutive_failures: u32,
}

fn seconds(v: Option<f64>, default: f64) -> Duration {
    Duration::from_secs_f64(v.filter(|v| v.is_finite() && *v >= 0.0).unwrap_or(default))
}

impl HealthChecker {
    /// Starts checking per `task.health_check`; `None` when the task has no (usable)
    /// check. `launched` is when the task started (the grace period counts from it).
    pub(crate) fn start(
        task: &v1::TaskInfo,
        sandbox: Option<PathBuf>,
        launched: Instant,
    ) -> Option<Result<Self, String>> {
        let check = task.health_check.as_ref()?;
        let probe = match probe_of(check, task) {
            Ok(p) => p,
            Err(e) => return Some(Err(e)),
        };
        let timing = Timing {
            delay: seconds(check.delay_seconds, 15.0),
            interval: seconds(check.interval_seconds, 10.0),
            timeout: seconds(check.timeout_seconds, 20.0),
            grace: seconds(check.grace_period_seconds, 10.0),
            consecutive_failures: check.consecutive_failures.unwrap_or(3),
        };
        let (tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(probe, timing, sandbox, launched, tx));
        Some(Ok(Self { task, events }))
    }
}

fn probe_of(check: &v1::HealthCheck, task: &v1::TaskInfo) -> Result<Probe, String> {
    use v1::HealthCheckType as T;
    let kind = check
        .r#type
        .and_then(|t| T::try_from(t).ok())
        .unwrap_or(T::Unknown);
    // Old-style checks name no type: infer it from what is set.
    let kind = match kind {
        T::Unknown if check.http.is_some() => T::Http,
        T::Unknown if check.tcp.is_some() => T::Tcp,
        T::Unknown if check.command.is_some() => T::Command,
        k => k,
    };
    let port =
        |p: u32| u16::try_from(p).map_err(|_| format!("health check port {p} is out of range"));
    match kind {
        T::Http => {
            let http = check
                .http
                .as_ref()
                .ok_or("an HTTP health check needs 'http'")?;
            Ok(Probe::Http {
                scheme: http.scheme.clone().unwrap_or_else(|| "http".into()),
                port: port(http.port)?,
                path: http.path.clone().unwrap_or_else(|| "/".into()),
                statuses: http.statuses.clone(),
            })
        }
        T::Tcp => Ok(Probe::Tcp {
            port: port(
                check
                    .tcp
                    .as_ref()
                    .ok_or("a TCP health check needs 'tcp'")?
                    .port,
            )?,
        }),
        T::Command => {
            let command = check
                .command
                .clone()
                .ok_or("a COMMAND health check needs 'command'")?;
            // The check sees the task's environment, then its own.
            let env = task
                .command
                .iter()
                .flat_map(|c| c.environment.iter())
                .chain(command.environment.iter())
                .flat_map(|e| e.variables.iter())
                .map(|v| (v.name.clone(), v.value.clone().unwrap_or_default()))
                .collect();
            Ok(Probe::Command { command, env })
        }
        T::Unknown => Err("the health check has no type".into()),
    }
}

async fn run(
    probe: Probe,
    timing: Timing,
    sandbox: Option<PathBuf>,
    launched: Instant,
    tx: mpsc::UnboundedSender<HealthEvent>,
) {
    tokio::time::sleep(timing.delay).await;
    let mut healthy: Option<bool> = None;
    let mut ever_healthy = false;
    let mut failures = 0u32;
    loop {
        let started = Instant::now();
        let result =
            match tokio::time::timeout(timing.timeout, check(&probe, sandbox.as_deref())).await {
                Ok(r) => r,
                Err(_) => Err(format!(
                    "health check timed out after {}s",
                    timing.timeout.as_secs_f64()
                )),
            };
        match result {
            Ok(message) => {
                failures = 0;
                ever_healthy = true;
                if healthy != Some(true) {
                    healthy = Some(true);
                    if tx
                        .send(HealthEvent::Changed {
                            healthy: true,
                            message,
                        })
                        .is_err()
                    {
                        return;
                    }
                }
            }
            Err(message) => {
                let in_grace = !ever_healthy && launched.elapsed() < timing.grace;
                if !in_grace {
                    failures += 1;
                    if healthy != Some(false) {
                        healthy = Some(false);
                        let changed = HealthEvent::Changed {
                            healthy: false,
                            message: message.clone(),
                        };
                        if tx.send(changed).is_err() {
                            return;
                        }
                    }
                    if timing.consecutive_failures > 0 && failures >= timing.consecutive_failures {
                        let _ = tx.send(HealthEvent::Kill { message });
                        return;
                    }
                }
            }
        }
        let next = started + timing.interval;
        tokio::time::sleep_until(next).await;
    }
}

/// One check: `Ok(what it saw)` when healthy, `Err(why not)` otherwise.
async fn check(probe: &Probe, sandbox: Option<&std::path::Path>) -> Result<String, String> {
    match probe {
        Probe::Http {
            scheme,
            port,
            path,
            statuses,
        } => {
            if scheme != "http" {
                return Err(format!("{scheme} health checks are not supported"));
            }
            let status = http_get(*port, path).await?;
            let ok = if statuses.is_empty() {
                (200..400).contains(&status)
            } else {
                statuses.contains(&status)
            };
            if ok {
                Ok(format!("HTTP health check returned {status}"))
            } else {
                Err(format!("HTTP health check returned {status}"))
            }
        }
        Probe::Tcp { port } => TcpStream::connect(("127.0.0.1", *port))
            .await
            .map(|_| format!("TCP connection to port {port} succeeded"))
            .map_err(|e| format!("TCP connection to port {port} failed: {e}")),
        Probe::Command { command, env } => {
            let value = command.value.clone().unwrap_or_default();
            let mut cmd = if command.shell.unwrap_or(true) {
                let mut c = Command::new("/bin/sh");
                c.arg("-c").arg(&value);
                c
            } else {
                let mut c = Command::new(&value);
                if let Some((_, args)) = command.arguments.split_first() {
                    c.args(args);
                }
                c
            };
            cmd.envs(env.iter().map(|(k, v)| (k, v)))
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true);
            if let Some(dir) = sandbox {
                cmd.current_dir(dir);
            }
            let status = cmd
                .status()
                .await
                .map_err(|e| format!("cannot run the health check command: {e}"))?;
            if status.success() {
                Ok("health check command exited 0".into())
            } else {
                Err(format!("health check command exited with {status}"))
            }
        }
    }
}

/// A minimal HTTP/1.1 GET to 127.0.0.1; returns the status code.
async fn http_get(port: u16, path: &str) -> Result<u32, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("HTTP health check could not connect to port {port}: {e}"))?;
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: strata-health-check\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("HTTP health check could not send its request: {e}"))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 4096 {
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|e| format!("HTTP health check could not read the answer: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            format!(
                "HTTP health check got no status line: {:?}",
                line.lines().next().unwrap_or("")
            )
        })
}
