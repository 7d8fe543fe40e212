//! The Docker containerizer: runs tasks that name an image as Docker
//! containers through the engine's API (bollard, over its unix socket), the
//! way Mesos's "docker" containerizer does.
//!
//! Each container is named `strata-<container id>` and carries the labels the
//! agent gives it (task, framework, executor and agent ids), so that a
//! restarted agent can [`list`](DockerContainerizer::list) the containers it
//! created and [`recover`](DockerContainerizer::recover) them. The task's
//! sandbox is bind-mounted at [`SANDBOX_MOUNT`] (and named by `MESOS_SANDBOX`),
//! and the container's stdout and stderr are streamed live from the engine
//! into `sandbox/stdout` and `sandbox/stderr`.
//!
//! Images are pulled only when missing or when a pull is forced. Nothing here
//! falls back to running a task some other way: if no engine answers,
//! [`DockerContainerizer::connect`] says why and the agent advertises no
//! Docker support.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::container::LogOutput;
use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum,
    ContainerSummaryStateEnum, HostConfig, Mount, MountType, PortBinding,
};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ListContainersOptions, LogsOptions,
    RemoveContainerOptions, StatsOptions, StopContainerOptions, WaitContainerOptions,
};
use bollard::Docker;
use futures::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::error::{describe_io, Error, Result};
use crate::mesos::validate_container_id;
use crate::{Limits, Termination, Usage};

/// Where the sandbox is mounted inside every container (and the value of
/// `MESOS_SANDBOX` there), as Mesos does.
pub const SANDBOX_MOUNT: &str = "/mnt/mesos/sandbox";
/// Docker container names are this prefix followed by Strata's container id.
pub const NAME_PREFIX: &str = "strata-";
/// The label holding Strata's container id, set on every container.
pub const CONTAINER_ID_LABEL: &str = "strata.container_id";
/// The label the agent sets to its own id; [`DockerContainerizer::list`]
/// selects on it.
pub const AGENT_ID_LABEL: &str = "strata.agent_id";

const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// Bollard's per-request limit on waiting for the engine's response headers
/// (streamed bodies such as logs are not limited by it).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// How long connect waits for the engine to answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a usage query may take before it is abandoned.
const STATS_TIMEOUT: Duration = Duration::from_secs(10);
/// After the container exits, how long the waiter lets the log stream drain
/// before reporting the exit anyway.
const LOG_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause before re-asking the engine after a broken wait or log stream.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// The CFS period for cpu quotas: 100ms, as Mesos and `docker run --cpus` use.
const CPU_PERIOD_US: i64 = 100_000;
/// Docker's smallest accepted quota (1ms).
const MIN_CPU_QUOTA_US: i64 = 1_000;

/// Where to find the Docker engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerConfig {
    /// The engine's unix socket, as a path or a `unix://` URL. `None` means
    /// `DOCKER_HOST` if set, else `/var/run/docker.sock`. Only unix sockets
    /// are supported (no TCP or TLS).
    pub socket: Option<String>,
}

impl DockerConfig {
    /// The socket path to connect to, or why there is none.
    fn socket_path(&self) -> Result<String> {
        let (given, source) = match &self.socket {
            Some(socket) => (socket.clone(), "the configured socket"),
            None => match std::env::var("DOCKER_HOST") {
                Ok(host) if !host.is_empty() => (host, "DOCKER_HOST"),
                _ => (DEFAULT_SOCKET.to_string(), "the default socket"),
            },
        };
        if let Some(path) = given.strip_prefix("unix://") {
            return Ok(path.to_string());
        }
        if given.contains("://") {
            return Err(Error::DockerUnavailable(format!(
                "{source} {given:?} is not a unix socket; only unix sockets are supported"
            )));
        }
        Ok(given)
    }
}

/// The network a container joins (Mesos's `ContainerInfo.DockerInfo.Network`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DockerNetwork {
    /// The host's network namespace: the task binds the host's ports itself.
    Host,
    /// Docker's default bridge; ports are reachable through port mappings.
    Bridge,
    /// A network namespace with only a loopback interface.
    None,
}

impl DockerNetwork {
    fn mode(self) -> &'static str {
        match self {
            DockerNetwork::Host => "host",
            DockerNetwork::Bridge => "bridge",
            DockerNetwork::None => "none",
        }
    }
}

/// A host port forwarded to a container port (bridge networking only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    /// The port on the host (on all its addresses), normally one of the
    /// task's `ports` resources.
    pub host_port: u16,
    /// The port inside the container.
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
}

/// A host path bind-mounted into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeMount {
    /// An absolute path on the host; it must exist.
    pub host_path: PathBuf,
    /// An absolute path inside the container.
    pub container_path: String,
    /// Mount read-only (Mesos's mode `RO`) rather than read-write (`RW`).
    pub read_only: bool,
}

/// What to run in a new Docker container.
#[derive(Debug, Clone, PartialEq)]
pub struct DockerLaunchSpec {
    /// Strata's container id; the Docker container is named `strata-<id>`.
    /// Only `[A-Za-z0-9._-]` is allowed, as for the mesos containerizer.
    pub container_id: String,
    /// The task's sandbox on the host; created if missing and mounted at
    /// [`SANDBOX_MOUNT`]. The container's stdout and stderr are appended to
    /// `sandbox/stdout` and `sandbox/stderr` as they are written.
    pub sandbox: PathBuf,
    /// The image, e.g. `busybox`, `strata-test/busybox:latest` or
    /// `name@sha256:...`; a name without a tag means `:latest`.
    pub image: String,
    /// Pull the image even if the engine has it.
    pub force_pull: bool,
    /// `None` runs the image's default command; `Some(argv)` replaces the
    /// image's `CMD` (its `ENTRYPOINT` stays). A shell command is passed as
    /// `["sh", "-c", command]`.
    pub command: Option<Vec<String>>,
    /// Environment variables, added to the image's own. `MESOS_SANDBOX` is
    /// set to [`SANDBOX_MOUNT`] unless given here.
    pub env: Vec<(String, String)>,
    /// The network the container joins.
    pub network: DockerNetwork,
    /// Host ports to forward; allowed only with [`DockerNetwork::Bridge`].
    pub port_mappings: Vec<PortMapping>,
    /// Host paths to mount, besides the sandbox.
    pub volumes: Vec<VolumeMount>,
    /// Labels on the container; the agent sets `strata.task_id`,
    /// `strata.framework_id`, `strata.executor_id` and [`AGENT_ID_LABEL`].
    /// [`CONTAINER_ID_LABEL`] is added here.
    pub labels: Vec<(String, String)>,
    /// Run the container privileged (all capabilities and devices).
    pub privileged: bool,
    /// Cpu shares (1024 per cpu) and a CFS quota of `cpus` x 100ms per 100ms,
    /// and a memory limit with swap equal to it (so no swap). Zero means no
    /// limit.
    pub limits: Limits,
}

/// A container launched or recovered by [`DockerContainerizer`]. Cheap to
/// clone; clones refer to the same container. Dropping it neither stops nor
/// removes the container: call [`DockerContainerizer::destroy`].
#[derive(Debug, Clone)]
pub struct DockerContainer {
    /// Strata's container id.
    pub id: String,
    /// The engine's id for the container.
    pub docker_id: String,
    /// The container's Docker name, `strata-<id>`.
    pub name: String,
    /// The host pid of the container's main process, if it was running when
    /// launched or recovered.
    pub pid: Option<u32>,
    /// The sandbox directory on the host.
    pub sandbox: PathBuf,
    exit: watch::Receiver<Option<Termination>>,
}

/// A container found by [`DockerContainerizer::list`], for recovery after an
/// agent restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredContainer {
    /// The engine's id for the container.
    pub docker_id: String,
    /// The container's Docker name, without Docker's leading `/`.
    pub name: String,
    /// All of the container's labels.
    pub labels: HashMap<String, String>,
    /// True if the container is running (not created, exited or dead).
    pub running: bool,
}

impl RecoveredContainer {
    /// Strata's container id: the [`CONTAINER_ID_LABEL`] label, else the
    /// name without [`NAME_PREFIX`].
    pub fn container_id(&self) -> Option<&str> {
        self.labels
            .get(CONTAINER_ID_LABEL)
            .map(String::as_str)
            .or_else(|| self.name.strip_prefix(NAME_PREFIX))
    }
}

/// Runs containers through a Docker engine. Cheap to clone: clones share one
/// connection setup.
#[derive(Debug, Clone)]
pub struct DockerContainerizer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    docker: Docker,
    description: String,
}

// === impl DockerContainerizer ===

impl DockerContainerizer {
    /// Connects to the engine, agrees on an API version (the engine's, if
    /// older than bollard's) and pings it. Fails with
    /// [`Error::DockerUnavailable`] saying why if no engine answers within
    /// 10 seconds, so the agent can report it.
    pub async fn connect(config: DockerConfig) -> Result<Self> {
        let socket = config.socket_path()?;
        if !Path::new(&socket).exists() {
            return Err(Error::DockerUnavailable(format!(
                "no socket at {socket} (is dockerd running?)"
            )));
        }
        let unavailable = |what: &str, e: &BollardError| {
            Error::DockerUnavailable(format!("{what} {socket}: {}", message(e)))
        };
        let docker = Docker::connect_with_unix(
            &socket,
            REQUEST_TIMEOUT.as_secs(),
            bollard::API_DEFAULT_VERSION,
        )
        .map_err(|e| unavailable("cannot connect to", &e))?;
        let hello = async {
            let docker = docker
                .negotiate_version()
                .await
                .map_err(|e| unavailable("no docker engine answers on", &e))?;
            docker
                .ping()
                .await
                .map_err(|e| unavailable("the engine on", &e))?;
            let version = docker
                .version()
                .await
                .map_err(|e| unavailable("the engine on", &e))?;
            Ok::<_, Error>((docker, version))
        };
        let (docker, version) = tokio::time::timeout(CONNECT_TIMEOUT, hello)
            .await
            .map_err(|_| {
                Error::DockerUnavailable(format!(
                    "the engine on {socket} did not answer within {}s",
                    CONNECT_TIMEOUT.as_secs()
                ))
            })??;
        let description = format!(
            "docker {} (api {})",
            version.version.as_deref().unwrap_or("(unknown version)"),
            docker.client_version()
        );
        info!(%socket, engine = %description, "docker containerizer ready");
        Ok(DockerContainerizer {
            inner: Arc::new(Inner {
                docker,
                description,
            }),
        })
    }

    /// The engine's version and the API version in use, e.g.
    /// `docker 28.2.2 (api 1.50)`.
    pub fn describe(&self) -> String {
        self.inner.description.clone()
    }

    /// Pulls the image if needed, creates the container and starts it, and
    /// starts streaming its output into the sandbox and watching for its
    /// exit. If the container cannot be started it is removed again.
    pub async fn launch(&self, spec: DockerLaunchSpec) -> Result<DockerContainer> {
        validate_container_id(&spec.container_id)?;
        spec.limits.validate()?;
        let body = create_body(&spec)?;
        let id = spec.container_id.clone();
        let name = format!("{NAME_PREFIX}{id}");

        fs::create_dir_all(&spec.sandbox).map_err(|source| Error::Sandbox {
            path: spec.sandbox.clone(),
            source,
        })?;
        let logs = LogFiles::open(&spec.sandbox, Resume::FromStart)?;

        self.ensure_image(&spec.image, spec.force_pull).await?;

        let docker = &self.inner.docker;
        let options = CreateContainerOptions {
            name: Some(name.clone()),
            ..Default::default()
        };
        let created = docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| {
                Error::Docker(format!(
                    "failed to create container {name}: {}",
                    message(&e)
                ))
            })?;
        let docker_id = created.id;
        for warning in created.warnings.iter().filter(|w| !w.is_empty()) {
            warn!(container_id = %id, %warning, "docker warned while creating the container");
        }

        if let Err(e) = docker.start_container(&docker_id, None).await {
            let error = Error::Docker(format!("failed to start container {name}: {}", message(&e)));
            if let Err(e) = self.remove(&docker_id).await {
                warn!(container_id = %id, error = %e, "container that failed to start not removed");
            }
            return Err(error);
        }

        let pid = match docker.inspect_container(&docker_id, None).await {
            Ok(inspect) => running_pid(&inspect),
            Err(e) => {
                warn!(container_id = %id, error = %message(&e), "cannot inspect the new container");
                None
            }
        };
        let exit = self.watch(&id, &docker_id, logs);
        info!(
            container_id = %id,
            docker_id = %short(&docker_id),
            %name,
            image = %spec.image,
            pid = ?pid,
            network = spec.network.mode(),
            cpus = spec.limits.cpus,
            mem_mb = spec.limits.mem_mb,
            "docker container launched"
        );
        Ok(DockerContainer {
            id,
            docker_id,
            name,
            pid,
            sandbox: spec.sandbox,
            exit,
        })
    }

    /// Waits until the container stops and says how it ended: its exit code,
    /// whether the kernel OOM-killed it, and a sentence for status updates.
    /// By the time it returns, the container's output is in the sandbox (or
    /// 10 seconds passed trying). Docker reports a death by signal N as exit
    /// status 128+N; statuses 129 to 159 are read as signals 1 to 31. May be
    /// called any number of times, from several tasks at once.
    pub async fn wait(&self, container: &DockerContainer) -> Termination {
        let mut exit = container.exit.clone();
        let termination = match exit.wait_for(Option::is_some).await {
            Ok(exit) => exit.clone(),
            Err(_) => None,
        };
        let termination = termination.unwrap_or_else(|| Termination {
            exit_code: None,
            signal: None,
            oom_killed: false,
            message: "lost track of the container: the task watching it stopped \
                      (was its runtime shut down?)"
                .to_string(),
        });
        info!(
            container_id = %container.id,
            docker_id = %short(&container.docker_id),
            message = %termination.message,
            "docker container ended"
        );
        termination
    }

    /// Stops the container: SIGTERM (or the image's stop signal), then
    /// SIGKILL once `grace` has passed (rounded up to whole seconds, Docker's
    /// unit). A container that already stopped or is gone is not an error.
    pub async fn stop(&self, container: &DockerContainer, grace: Duration) -> Result<()> {
        let seconds = grace.as_secs() + u64::from(grace.subsec_nanos() > 0);
        let options = StopContainerOptions {
            t: Some(i32::try_from(seconds).unwrap_or(i32::MAX)),
            ..Default::default()
        };
        // Docker answers only once the container is down, which may take the
        // whole grace period.
        let docker = self
            .inner
            .docker
            .clone()
            .with_timeout(REQUEST_TIMEOUT + Duration::from_secs(seconds));
        match docker
            .stop_container(&container.docker_id, Some(options))
            .await
        {
            Ok(()) => {
                info!(
                    container_id = %container.id,
                    grace_secs = seconds,
                    "docker container stopped"
                );
                Ok(())
            }
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(Error::Docker(format!(
                "failed to stop container {}: {}",
                container.name,
                message(&e)
            ))),
        }
    }

    /// Removes the container, killing it first if it runs, with its anonymous
    /// volumes. Idempotent. The sandbox is left in place.
    pub async fn destroy(&self, container: &DockerContainer) -> Result<()> {
        self.remove(&container.docker_id).await?;
        info!(container_id = %container.id, name = %container.name, "docker container destroyed");
        Ok(())
    }

    /// The container's resident memory and cumulative cpu time, from one
    /// sample of the engine's stats; `None` if it is not running or the
    /// engine does not answer within 10 seconds.
    pub async fn usage(&self, container: &DockerContainer) -> Option<Usage> {
        let options = StatsOptions {
            stream: false,
            one_shot: true,
        };
        let mut stats = self.inner.docker.stats(&container.docker_id, Some(options));
        let stats = match tokio::time::timeout(STATS_TIMEOUT, stats.next()).await {
            Ok(Some(Ok(stats))) => stats,
            Ok(Some(Err(e))) => {
                debug!(container_id = %container.id, error = %message(&e), "no docker stats");
                return None;
            }
            Ok(None) | Err(_) => return None,
        };
        let memory = stats.memory_stats?;
        // cgroup v1 calls it total_rss, v2 anon; a usage figure is better than none.
        let mem_rss_bytes = memory
            .stats
            .as_ref()
            .and_then(|s| s.get("total_rss").or_else(|| s.get("anon")).copied())
            .or(memory.usage)?;
        let cpu_ns = stats.cpu_stats?.cpu_usage?.total_usage?;
        Some(Usage {
            mem_rss_bytes,
            cpu_seconds: cpu_ns as f64 / 1e9,
        })
    }

    /// The containers, running or not, whose [`AGENT_ID_LABEL`] label is
    /// `agent_id`: those this agent created, for recovery after a restart
    /// (and for removing those it no longer knows).
    pub async fn list(&self, agent_id: &str) -> Result<Vec<RecoveredContainer>> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!("{AGENT_ID_LABEL}={agent_id}")],
        )]);
        let options = ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        };
        let summaries = self
            .inner
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| Error::Docker(format!("failed to list containers: {}", message(&e))))?;
        Ok(summaries
            .into_iter()
            .filter_map(|s| {
                let name = s
                    .names
                    .as_ref()?
                    .first()?
                    .trim_start_matches('/')
                    .to_string();
                Some(RecoveredContainer {
                    docker_id: s.id?,
                    name,
                    labels: s.labels.unwrap_or_default(),
                    running: s.state == Some(ContainerSummaryStateEnum::RUNNING),
                })
            })
            .collect())
    }

    /// Re-attaches to a container found by [`list`](Self::list): resumes
    /// streaming its output into `sandbox/stdout` and `sandbox/stderr` after
    /// what they already hold, and watches for its exit. A container that
    /// already stopped is recovered too; [`wait`](Self::wait) then returns
    /// at once with how it ended.
    pub async fn recover(
        &self,
        rc: &RecoveredContainer,
        sandbox: PathBuf,
    ) -> Result<DockerContainer> {
        let Some(id) = rc.container_id().map(str::to_string) else {
            return Err(Error::Docker(format!(
                "cannot recover container {}: it has no {CONTAINER_ID_LABEL} label \
                 and its name does not start with {NAME_PREFIX:?}",
                rc.name
            )));
        };
        validate_container_id(&id)?;
        let inspect = self
            .inner
            .docker
            .inspect_container(&rc.docker_id, None)
            .await
            .map_err(|e| {
                Error::Docker(format!(
                    "cannot recover container {}: {}",
                    rc.name,
                    message(&e)
                ))
            })?;
        fs::create_dir_all(&sandbox).map_err(|source| Error::Sandbox {
            path: sandbox.clone(),
            source,
        })?;
        let logs = LogFiles::open(&sandbox, Resume::AfterWhatIsWritten)?;
        let pid = running_pid(&inspect);
        let exit = self.watch(&id, &rc.docker_id, logs);
        info!(
            container_id = %id,
            docker_id = %short(&rc.docker_id),
            name = %rc.name,
            pid = ?pid,
            "docker container recovered"
        );
        Ok(DockerContainer {
            id,
            docker_id: rc.docker_id.clone(),
            name: rc.name.clone(),
            pid,
            sandbox,
            exit,
        })
    }

    /// Removes a container found by [`list`](Self::list) that the agent no
    /// longer knows (an orphan), killing it first if it runs. Idempotent.
    pub async fn destroy_orphan(&self, rc: &RecoveredContainer) -> Result<()> {
        self.remove(&rc.docker_id).await?;
        info!(docker_id = %short(&rc.docker_id), name = %rc.name, "orphan docker container removed");
        Ok(())
    }

    /// Pulls `image` if the engine lacks it or `force_pull` is set.
    async fn ensure_image(&self, image: &str, force_pull: bool) -> Result<()> {
        let docker = &self.inner.docker;
        if !force_pull {
            match docker.inspect_image(image).await {
                Ok(_) => return Ok(()),
                Err(e) if is_not_found(&e) => {}
                Err(e) => {
                    return Err(Error::Docker(format!(
                        "failed to inspect image {image:?}: {}",
                        message(&e)
                    )))
                }
            }
        }
        let (from_image, tag) = split_image(image);
        let options = CreateImageOptions {
            from_image: Some(from_image.to_string()),
            tag: tag.map(str::to_string),
            ..Default::default()
        };
        info!(%image, force_pull, "pulling image");
        let mut progress = docker.create_image(Some(options), None, None);
        while let Some(item) = progress.next().await {
            match item {
                Ok(info) => {
                    if let Some(status) = info.status {
                        debug!(%image, %status, id = ?info.id, "pull progress");
                    }
                }
                Err(e) => {
                    warn!(%image, error = %message(&e), "image pull failed");
                    return Err(Error::ImagePull {
                        image: image.to_string(),
                        message: message(&e),
                    });
                }
            }
        }
        info!(%image, "image pulled");
        Ok(())
    }

    /// Force-removes a container with its anonymous volumes; gone already is fine.
    async fn remove(&self, docker_id: &str) -> Result<()> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match self
            .inner
            .docker
            .remove_container(docker_id, Some(options))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            // Another caller is removing it: wait for that to finish.
            Err(e) if status_code(&e) == Some(409) => {
                for _ in 0..100 {
                    match self.inner.docker.inspect_container(docker_id, None).await {
                        Err(e) if is_not_found(&e) => return Ok(()),
                        _ => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
                Err(Error::Docker(format!(
                    "failed to remove container {}: {}",
                    short(docker_id),
                    message(&e)
                )))
            }
            Err(e) => Err(Error::Docker(format!(
                "failed to remove container {}: {}",
                short(docker_id),
                message(&e)
            ))),
        }
    }

    /// Starts the tasks that stream the container's output and wait for its
    /// exit; the returned receiver gets the termination once both are done.
    fn watch(
        &self,
        id: &str,
        docker_id: &str,
        logs: LogFiles,
    ) -> watch::Receiver<Option<Termination>> {
        let docker = self.inner.docker.clone();
        let log_task: JoinHandle<()> = tokio::spawn(stream_logs(
            docker.clone(),
            id.to_string(),
            docker_id.to_string(),
            logs,
        ));
        let (tx, rx) = watch::channel(None);
        let (id, docker_id) = (id.to_string(), docker_id.to_string());
        tokio::spawn(async move {
            let termination = wait_for_exit(&docker, &id, &docker_id).await;
            // The log stream ends once the engine has sent everything the
            // stopped container wrote; report the exit after that, so the
            // sandbox is complete when wait() returns.
            if tokio::time::timeout(LOG_DRAIN_TIMEOUT, log_task)
                .await
                .is_err()
            {
                warn!(
                    container_id = %id,
                    "container output still streaming after its exit; reporting the exit anyway"
                );
            }
            tx.send_replace(Some(termination));
        });
        rx
    }
}

// === Waiting ===

/// Waits for the container to stop (re-asking if the engine drops the
/// request, e.g. while it restarts) and inspects it for the exit code and
/// an OOM kill.
async fn wait_for_exit(docker: &Docker, id: &str, docker_id: &str) -> Termination {
    let waited = loop {
        let options = WaitContainerOptions {
            condition: "not-running".to_string(),
        };
        let mut wait = docker.wait_container(docker_id, Some(options));
        match wait.next().await {
            Some(Ok(response)) => break Ok(response.status_code),
            // Bollard turns a non-zero exit into this error.
            Some(Err(BollardError::DockerContainerWaitError { code, .. })) => break Ok(code),
            Some(Err(e)) if is_not_found(&e) => {
                break Err("the container was removed before its exit status was read".to_string())
            }
            Some(Err(e)) => {
                warn!(
                    container_id = %id,
                    error = %message(&e),
                    "waiting for the container failed; asking again"
                );
            }
            None => {
                warn!(
                    container_id = %id,
                    "the engine ended the wait without an answer; asking again"
                );
            }
        }
        tokio::time::sleep(RETRY_INTERVAL).await;
    };
    let inspect = docker.inspect_container(docker_id, None).await.ok();
    let state = inspect.as_ref().and_then(|i| i.state.as_ref());
    if state.and_then(|s| s.status) == Some(ContainerStateStatusEnum::CREATED) {
        return Termination {
            exit_code: None,
            signal: None,
            oom_killed: false,
            message: "the container was created but never started".to_string(),
        };
    }
    let code = match (state.and_then(|s| s.exit_code), waited) {
        (Some(code), _) | (None, Ok(code)) => code,
        (None, Err(reason)) => {
            return Termination {
                exit_code: None,
                signal: None,
                oom_killed: false,
                message: format!("lost track of the container: {reason}"),
            }
        }
    };
    let oom_killed = state.and_then(|s| s.oom_killed).unwrap_or(false);
    let error = state
        .and_then(|s| s.error.as_deref())
        .filter(|e| !e.is_empty());
    termination(code, oom_killed, error)
}

/// Describes a container's exit the way the mesos containerizer describes a
/// process's.
fn termination(code: i64, oom_killed: bool, error: Option<&str>) -> Termination {
    let code = i32::try_from(code).unwrap_or(i32::MAX);
    let (exit_code, signal) = match code {
        129..=159 => (None, Some(code - 128)),
        _ => (Some(code), None),
    };
    let mut message = match (exit_code, signal) {
        (Some(code), _) if oom_killed => format!(
            "exited with status {code} after a process in it was killed \
             for exceeding the memory limit"
        ),
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) if oom_killed => {
            format!("killed by signal {sig} (memory limit exceeded)")
        }
        (None, Some(sig)) => match nix::sys::signal::Signal::try_from(sig) {
            Ok(name) => format!("killed by signal {sig} ({name})"),
            Err(_) => format!("killed by signal {sig}"),
        },
        (None, None) => unreachable!("one of exit_code and signal is set"),
    };
    if let Some(error) = error {
        message.push_str(&format!(": {error}"));
    }
    Termination {
        exit_code,
        signal,
        oom_killed,
        message,
    }
}

fn running_pid(inspect: &ContainerInspectResponse) -> Option<u32> {
    let state = inspect.state.as_ref()?;
    if state.running != Some(true) {
        return None;
    }
    state
        .pid
        .and_then(|p| u32::try_from(p).ok())
        .filter(|p| *p > 0)
}

// === Output ===

/// Where a log stream starts in the container's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resume {
    /// A new container: everything it writes.
    FromStart,
    /// A recovered one: after what the sandbox files already hold.
    AfterWhatIsWritten,
}

/// A moment in the engine's log timestamps: seconds and nanoseconds since
/// the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct LogTime {
    secs: i64,
    nanos: u32,
}

impl LogTime {
    fn of(time: SystemTime) -> Option<LogTime> {
        let since = time.duration_since(UNIX_EPOCH).ok()?;
        Some(LogTime {
            secs: i64::try_from(since.as_secs()).ok()?,
            nanos: since.subsec_nanos(),
        })
    }

    fn system_time(self) -> Option<SystemTime> {
        let secs = u64::try_from(self.secs).ok()?;
        UNIX_EPOCH.checked_add(Duration::new(secs, self.nanos))
    }
}

/// One of the sandbox's output files and the engine timestamp of the last
/// output written to it.
///
/// The file's modification time is set to that timestamp after every write,
/// so an agent restarted later resumes after exactly what was written: the
/// engine's `since` takes whole seconds, and output stamped at or before the
/// file's time is skipped.
#[derive(Debug)]
struct LogFile {
    path: PathBuf,
    file: File,
    last: Option<LogTime>,
}

impl LogFile {
    fn open(path: PathBuf, resume: Resume) -> Result<LogFile> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| Error::Sandbox {
                path: path.clone(),
                source,
            })?;
        // An empty file holds nothing of the container's (or was lost with
        // the sandbox): it gets all of its output.
        let last = match resume {
            Resume::FromStart => None,
            Resume::AfterWhatIsWritten => file
                .metadata()
                .ok()
                .filter(|m| m.len() > 0)
                .and_then(|m| m.modified().ok())
                .and_then(LogTime::of),
        };
        Ok(LogFile { path, file, last })
    }

    /// Appends `data` stamped `time` unless it was written before.
    fn write(&mut self, time: LogTime, data: &[u8]) -> std::io::Result<()> {
        if self.last.is_some_and(|last| time <= last) {
            return Ok(());
        }
        self.file.write_all(data)?;
        if let Some(modified) = time.system_time() {
            self.file.set_modified(modified)?;
        }
        self.last = Some(time);
        Ok(())
    }
}

#[derive(Debug)]
struct LogFiles {
    stdout: LogFile,
    stderr: LogFile,
}

impl LogFiles {
    fn open(sandbox: &Path, resume: Resume) -> Result<LogFiles> {
        Ok(LogFiles {
            stdout: LogFile::open(sandbox.join("stdout"), resume)?,
            stderr: LogFile::open(sandbox.join("stderr"), resume)?,
        })
    }

    /// The `since` to ask the engine for: the earlier of the two files'
    /// last timestamps, in whole seconds (0 for everything).
    fn since(&self) -> i32 {
        match (self.stdout.last, self.stderr.last) {
            (Some(a), Some(b)) => i32::try_from(a.min(b).secs).unwrap_or(0),
            _ => 0,
        }
    }
}

/// Streams the container's stdout and stderr into the sandbox files until
/// the engine ends the stream (the container stopped and everything it wrote
/// was sent) or the container is removed. A broken stream is resumed after
/// the last output written.
async fn stream_logs(docker: Docker, id: String, docker_id: String, mut files: LogFiles) {
    loop {
        let options = LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            since: files.since(),
            timestamps: true,
            ..Default::default()
        };
        let mut logs = docker.logs(&docker_id, Some(options));
        let mut failure = None;
        while let Some(item) = logs.next().await {
            let (file, frame) = match item {
                Ok(LogOutput::StdOut { message }) => (&mut files.stdout, message),
                Ok(LogOutput::StdErr { message }) => (&mut files.stderr, message),
                Ok(LogOutput::StdIn { .. } | LogOutput::Console { .. }) => continue,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            let Some((time, data)) = split_timestamp(&frame) else {
                warn!(container_id = %id, "container output without a timestamp; written as is");
                if let Err(e) = file.file.write_all(&frame) {
                    warn!(
                        container_id = %id,
                        path = %file.path.display(),
                        error = %describe_io(&e),
                        "cannot write container output"
                    );
                }
                continue;
            };
            // Writes to a local file are short; the stream waits for them
            // rather than buffering output in memory.
            if let Err(e) = file.write(time, data) {
                warn!(
                    container_id = %id,
                    path = %file.path.display(),
                    error = %describe_io(&e),
                    "cannot write container output"
                );
            }
        }
        let Some(e) = failure else {
            debug!(container_id = %id, "container output stream ended");
            return;
        };
        if is_not_found(&e) {
            return;
        }
        warn!(container_id = %id, error = %message(&e), "container output stream broke; resuming");
        tokio::time::sleep(RETRY_INTERVAL).await;
        if let Err(e) = docker.inspect_container(&docker_id, None).await {
            if is_not_found(&e) {
                return;
            }
        }
    }
}

/// Splits the engine's `2006-01-02T15:04:05.000000000Z ` prefix (RFC 3339
/// with nanoseconds, followed by a space) off a log frame.
fn split_timestamp(frame: &[u8]) -> Option<(LogTime, &[u8])> {
    let space = frame.iter().take(64).position(|&b| b == b' ')?;
    let stamp = std::str::from_utf8(&frame[..space]).ok()?;
    Some((parse_rfc3339(stamp)?, &frame[space + 1..]))
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
fn parse_rfc3339(s: &str) -> Option<LogTime> {
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = s.get(range)?;
        if digits.bytes().all(|b| b.is_ascii_digit()) {
            digits.parse().ok()
        } else {
            None
        }
    };
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos: u32 = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let len = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 {
            return None;
        }
        for (i, digit) in fraction.bytes().take(len).enumerate() {
            if i < 9 {
                nanos = nanos * 10 + u32::from(digit - b'0');
            }
        }
        for _ in len..9 {
            nanos *= 10;
        }
        rest = &fraction[len..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let rb = rest.as_bytes();
            if rest.len() != 6 || rb[3] != b':' {
                return None;
            }
            let h: i64 = rest[1..3].parse().ok()?;
            let m: i64 = rest[4..6].parse().ok()?;
            sign * (h * 3600 + m * 60)
        }
    };
    let secs =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(LogTime { secs, nanos })
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard
/// Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

// === Translation ===

/// The engine's create request for `spec`, after checking what Docker would
/// reject less clearly or not at all.
fn create_body(spec: &DockerLaunchSpec) -> Result<ContainerCreateBody> {
    if spec.image.trim().is_empty() {
        return Err(Error::InvalidDockerSpec(
            "the image name is empty".to_string(),
        ));
    }
    if !spec.port_mappings.is_empty() && spec.network != DockerNetwork::Bridge {
        return Err(Error::InvalidDockerSpec(format!(
            "port mappings need BRIDGE networking, not {}",
            spec.network.mode().to_uppercase()
        )));
    }
    let mut exposed = Vec::new();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for mapping in &spec.port_mappings {
        let protocol = mapping.protocol.to_ascii_lowercase();
        if protocol != "tcp" && protocol != "udp" {
            return Err(Error::InvalidDockerSpec(format!(
                "port mapping protocol {:?}: use tcp or udp",
                mapping.protocol
            )));
        }
        if mapping.host_port == 0 || mapping.container_port == 0 {
            return Err(Error::InvalidDockerSpec(format!(
                "port mapping {} -> {}: ports must be 1 to 65535",
                mapping.host_port, mapping.container_port
            )));
        }
        let key = format!("{}/{protocol}", mapping.container_port);
        if !exposed.contains(&key) {
            exposed.push(key.clone());
        }
        bindings
            .entry(key)
            .or_default()
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: None,
                host_port: Some(mapping.host_port.to_string()),
            });
    }

    let sandbox = absolute(&spec.sandbox)?;
    let mut mounts = vec![bind(&sandbox, SANDBOX_MOUNT, false)];
    for volume in &spec.volumes {
        if !volume.host_path.is_absolute() {
            return Err(Error::InvalidDockerSpec(format!(
                "volume host path {} is not absolute",
                volume.host_path.display()
            )));
        }
        if !volume.container_path.starts_with('/') {
            return Err(Error::InvalidDockerSpec(format!(
                "volume container path {:?} is not absolute",
                volume.container_path
            )));
        }
        mounts.push(bind(
            &volume.host_path,
            &volume.container_path,
            volume.read_only,
        ));
    }

    let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if !spec.env.iter().any(|(k, _)| k == "MESOS_SANDBOX") {
        env.push(format!("MESOS_SANDBOX={SANDBOX_MOUNT}"));
    }
    let mut labels: HashMap<String, String> = spec.labels.iter().cloned().collect();
    labels.insert(CONTAINER_ID_LABEL.to_string(), spec.container_id.clone());

    let Limits { cpus, mem_mb } = spec.limits;
    let (cpu_shares, cpu_period, cpu_quota) = if cpus > 0.0 {
        let quota = ((cpus * CPU_PERIOD_US as f64) as i64).max(MIN_CPU_QUOTA_US);
        // Docker treats 0 shares as "default"; 2 is the kernel's minimum.
        let shares = ((cpus * 1024.0) as i64).max(2);
        (Some(shares), Some(CPU_PERIOD_US), Some(quota))
    } else {
        (None, None, None)
    };
    let memory = (mem_mb > 0.0).then_some((mem_mb * 1024.0 * 1024.0) as i64);

    Ok(ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: spec.command.clone(),
        env: Some(env),
        labels: Some(labels),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        host_config: Some(HostConfig {
            network_mode: Some(spec.network.mode().to_string()),
            port_bindings: (!bindings.is_empty()).then_some(bindings),
            mounts: Some(mounts),
            privileged: Some(spec.privileged),
            cpu_shares,
            cpu_period,
            cpu_quota,
            memory,
            memory_swap: memory,
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn bind(source: &Path, target: &str, read_only: bool) -> Mount {
    Mount {
        target: Some(target.to_string()),
        source: Some(source.to_string_lossy().into_owned()),
        typ: Some(MountType::BIND),
        read_only: Some(read_only),
        ..Default::default()
    }
}

/// The engine resolves bind sources itself, so a relative sandbox is made
/// absolute against the agent's working directory.
fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .map_err(|source| Error::Sandbox {
            path: path.to_path_buf(),
            source,
        })
}

/// Splits an image reference into what the pull API wants: the name, and a
/// tag (`latest` when none is given, since an empty tag pulls every tag).
/// A digest reference is passed whole.
fn split_image(image: &str) -> (&str, Option<&str>) {
    if image.contains('@') {
        return (image, None);
    }
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(colon) => {
            let colon = last_slash + colon;
            (&image[..colon], Some(&image[colon + 1..]))
        }
        None => (image, Some("latest")),
    }
}

// === Engine errors ===

fn status_code(e: &BollardError) -> Option<u16> {
    match e {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

fn is_not_found(e: &BollardError) -> bool {
    status_code(e) == Some(404)
}

/// What the engine said, without bollard's wrapping where there is a message.
fn message(e: &BollardError) -> String {
    match e {
        BollardError::DockerResponseServerError { message, .. } if !message.is_empty() => {
            message.trim().to_string()
        }
        BollardError::DockerStreamError { error } => error.trim().to_string(),
        BollardError::RequestTimeoutError => "the engine did not answer in time".to_string(),
        e => e.to_string(),
    }
}

/// The short form of an engine id, as `docker ps` shows it.
fn short(docker_id: &str) -> &str {
    docker_id.get(..12).unwrap_or(docker_id)
}

#[cfg(test)]
mod tests;
