//! The Strata agent.
//!
//! It registers with the master over the internal `AgentLink` stream,
//! launches executors in containers (`strata-agent-containerizer`), serves the
//! Mesos v1 executor API (`POST /api/v1/executor`) to them, and carries their
//! status updates to the master until each is acknowledged. It also serves
//! `/state` and the sandbox file endpoints (`/files/browse`, `/files/read`).
//!
//! Its `--resources` may reserve resources for roles (`cpus(analytics):4`,
//! static reservations, reported on registration). The master sends it the
//! dynamic reservations and persistent volumes it made durable; the agent
//! keeps them and a directory per volume under
//! `work_dir/volumes/roles/<role>/<id>`, which tasks launched with the
//! volume find in their sandbox at its container path (`volumes`).
//!
//! It never depends on the master crates: the master is reached only through
//! `strata-proto`'s internal service.

pub mod actor;
pub mod checkpoint;
pub mod files;
pub mod http;
pub mod link;
pub mod state_json;
pub mod volumes;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use strata_agent_containerizer::{Containerizer, ContainerizerConfig};
use strata_api::{Resources, RoleResources};
use tokio::net::TcpListener;
use tracing::{info, warn};

pub use crate::actor::AgentHandle;

/// How the agent isolates tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsolationMode {
    /// cgroups (v1 or v2, whichever the host has); if none is usable the
    /// agent says so loudly and runs tasks without limits.
    Cgroups,
    /// No isolation, by request.
    None,
}

/// Everything `strata agent` needs; built from flags or by tests directly.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The master's `host:port`.
    pub master: String,
    /// Address to listen on for HTTP.
    pub listen: SocketAddr,
    /// Hostname advertised in offers.
    pub hostname: String,
    /// Where sandboxes live.
    pub work_dir: PathBuf,
    /// Resources to offer, possibly with static reservations
    /// (`cpus(analytics):4`); `None` detects them (all unreserved) from the host.
    pub resources: Option<RoleResources>,
    /// Attributes in Mesos text form (`rack:r1;zone:a`).
    pub attributes: String,
    /// Isolation.
    pub isolation: IsolationMode,
    /// Name of the agent's cgroup under each hierarchy.
    pub cgroups_root: String,
    /// The program that runs `executor command` (normally the strata binary).
    pub launcher: PathBuf,
    /// The small, dedicated command-executor binary (`strata-executor`), run
    /// for command tasks instead of `launcher executor command` when set: it
    /// starts in a fraction of the time and memory of the whole `strata`
    /// binary. [`command_executor_beside`] finds it.
    pub command_executor: Option<PathBuf>,
    /// How long an executor gets to stop after SHUTDOWN.
    pub executor_shutdown_grace_period: Duration,
    /// How long an executor gets to subscribe after it was started.
    pub executor_registration_timeout: Duration,
    /// Whether to run Docker tasks: `None` uses Docker when an engine
    /// answers (and says so when none does); `Some(true)` requires it;
    /// `Some(false)` never uses it.
    pub docker: Option<bool>,
}

impl AgentConfig {
    /// Defaults as Mesos has them, for an agent on `listen` talking to `master`.
    pub fn new(master: impl Into<String>, listen: SocketAddr) -> Self {
        Self {
            master: master.into(),
            listen,
            hostname: listen.ip().to_string(),
            work_dir: std::env::temp_dir().join(format!("strata-agent-{}", listen.port())),
            resources: None,
            attributes: String::new(),
            isolation: IsolationMode::Cgroups,
            cgroups_root: "strata".into(),
            launcher: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("strata")),
            command_executor: std::env::current_exe()
                .ok()
                .and_then(|exe| command_executor_beside(exe.parent()?)),
            executor_shutdown_grace_period: Duration::from_secs(5),
            executor_registration_timeout: Duration::from_secs(60),
            docker: None,
        }
    }
}

/// The file name of the dedicated command-executor binary.
pub const COMMAND_EXECUTOR_BINARY: &str = "strata-executor";

/// `dir/strata-executor` if it exists and is executable (Mesos's agent looks
/// for `mesos-executor` in its `--launcher_dir` the same way).
pub fn command_executor_beside(dir: &std::path::Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(COMMAND_EXECUTOR_BINARY);
    let meta = std::fs::metadata(&path).ok()?;
    (meta.is_file() && meta.permissions().mode() & 0o111 != 0).then_some(path)
}

/// Detects this host's resources: all cpus, memory minus 1 GiB (or half when
/// small), disk of the work dir's filesystem minus 5 GiB (or half), and
/// Mesos's default ports 31000-32000.
pub fn detect_resources(work_dir: &std::path::Path) -> Resources {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    let mem_total_mb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(1024.0);
    let mem = if mem_total_mb > 2048.0 {
        mem_total_mb - 1024.0
    } else {
        mem_total_mb / 2.0
    };
    let disk_total_mb = nix_statvfs_mb(work_dir).unwrap_or(10240.0);
    let disk = if disk_total_mb > 10240.0 {
        disk_total_mb - 5120.0
    } else {
        disk_total_mb / 2.0
    };
    Resources::new()
        .with_scalar("cpus", cpus)
        .with_scalar("mem", mem.floor())
        .with_scalar("disk", disk.floor())
        .with_range("ports", 31000, 32000)
}

fn nix_statvfs_mb(path: &std::path::Path) -> Option<f64> {
    // `df` keeps this free of unsafe code and of another dependency.
    let out = std::process::Command::new("df")
        .arg("-Pk")
        .arg(path)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().nth(1)?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// A running agent.
pub struct RunningAgent {
    /// Where its HTTP server listens.
    pub addr: SocketAddr,
    /// Its actor.
    pub handle: AgentHandle,
    /// Completes when the HTTP server stops.
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Starts the agent: HTTP server, actor and master link. Runs until
/// `shutdown` completes; running executors are left alone (they belong to
/// their containers, and a restarted agent can find them).
pub async fn start(
    mut config: AgentConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<RunningAgent> {
    std::fs::create_dir_all(&config.work_dir)?;
    config.work_dir = std::fs::canonicalize(&config.work_dir)?;
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    config.listen = addr;
    let containerizer = Containerizer::new(ContainerizerConfig {
        cgroups_root: config.cgroups_root.clone(),
        enable_cgroups: config.isolation == IsolationMode::Cgroups,
    });
    let isolation = containerizer.isolation().describe();
    if containerizer.isolation().is_isolated() {
        info!(%isolation, "task isolation");
    } else {
        warn!(%isolation, "TASKS RUN WITHOUT RESOURCE LIMITS: no usable cgroups");
    }
    let resources = config
        .resources
        .clone()
        .unwrap_or_else(|| detect_resources(&config.work_dir).into());
    let attributes = strata_proto::convert::parse_attributes(&config.attributes)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let docker = match config.docker {
        Some(false) => Err("disabled by --containerizers".to_string()),
        _ => strata_agent_containerizer::DockerContainerizer::connect(Default::default())
            .await
            .map_err(|e| e.to_string()),
    };
    match (&docker, config.docker) {
        (Ok(d), _) => info!(docker = %d.describe(), "docker containerizer enabled"),
        (Err(why), Some(true)) => {
            return Err(std::io::Error::other(format!(
                "--containerizers asks for docker, but {why}"
            )));
        }
        (Err(why), _) => {
            warn!(reason = %why, "no docker containerizer: tasks that name a Docker image will fail")
        }
    }
    let handle = actor::spawn(config.clone(), containerizer, docker, resources, attributes);
    link::spawn(config.master.clone(), handle.clone());
    let app = http::router(handle.clone());
    info!(%addr, master = %config.master, "agent listening");
    let server = tokio::spawn(serve_until(listener, app, shutdown));
    Ok(RunningAgent {
        addr,
        handle,
        server,
    })
}

/// Serves until `shutdown`, then lets open requests finish for at most a few
/// seconds: long-lived event streams would otherwise keep the process up.
async fn serve_until(
    listener: TcpListener,
    app: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (fired_tx, fired_rx) = tokio::sync::oneshot::channel::<()>();
    let graceful = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = fired_tx.send(());
    });
    tokio::select! {
        r = std::future::IntoFuture::into_future(graceful) => r,
        _ = async {
            if fired_rx.await.is_ok() {
                tokio::time::sleep(Duration::from_secs(3)).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => Ok(()),
    }
}
