//! `strata`: one binary for every role of a Strata cluster.
//!
//! * `strata master` / `strata agent`: the cluster's two daemons.
//! * `strata dev`: a master and two agents in one process, on loopback.
//! * `strata executor command`: the command executor, started by agents.
//! * `strata bench launch` / `hold`: end-to-end launch benchmarks; `strata
//!   bench sim-agents`: thousands of simulated agents on the real agent link.
//!
//! Flags are spelled as Mesos spells them (`--work_dir`, `--resources`), so
//! existing scripts carry over. This crate may depend on every other crate.

mod bench;
mod sim_agents;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use strata_agent::{AgentConfig, IsolationMode};
use strata_api::{parse_duration, Resources};
use strata_master::MasterConfig;
use tracing::info;

#[derive(Parser)]
#[command(
    name = "strata",
    version,
    about = "Strata: a two-level cluster resource manager"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a master.
    Master(MasterArgs),
    /// Run an agent.
    Agent(AgentArgs),
    /// Run the Kubernetes framework: an API server kubectl talks to (port 8888).
    Kubernetes(KubernetesArgs),
    /// Run the Marathon framework: long-running apps from Marathon app JSON (port 8080).
    Marathon(MarathonArgs),
    /// Run a whole cluster on this machine: a master and agents on loopback.
    Dev(DevArgs),
    /// Executors that agents start; not for direct use.
    #[command(subcommand)]
    Executor(ExecutorCommand),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

#[derive(Subcommand)]
enum ExecutorCommand {
    /// The command executor: runs one command task (reads MESOS_* variables).
    Command,
}

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s)
}

#[derive(Args, Clone)]
struct MasterArgs {
    /// IP address to listen on.
    #[arg(long, env = "STRATA_IP", default_value = "127.0.0.1")]
    ip: IpAddr,
    /// Port to listen on (HTTP APIs and the agents' gRPC link).
    #[arg(long, env = "STRATA_PORT", default_value_t = 5050)]
    port: u16,
    /// Hostname to advertise (defaults to the IP).
    #[arg(long, env = "STRATA_HOSTNAME")]
    hostname: Option<String>,
    /// Directory for the master's state (the embedded store lives here).
    #[arg(long = "work_dir", env = "STRATA_WORK_DIR")]
    work_dir: Option<PathBuf>,
    /// Run as one of several masters, electing a leader through ZooKeeper:
    /// zk://host:port[,host:port]/path (the registry is kept there too).
    #[arg(long, env = "STRATA_ZK")]
    zk: Option<String>,
    /// Expected period of agent heartbeats.
    #[arg(long = "agent_ping_timeout", env = "STRATA_AGENT_PING_TIMEOUT", default_value = "15secs", value_parser = duration)]
    agent_ping_timeout: Duration,
    /// Heartbeats an agent may miss before it is marked unreachable.
    #[arg(
        long = "max_agent_ping_timeouts",
        env = "STRATA_MAX_AGENT_PING_TIMEOUTS",
        default_value_t = 5
    )]
    max_agent_ping_timeouts: u32,
    /// How often subscribed frameworks get a HEARTBEAT event.
    #[arg(long = "framework_heartbeat_interval", env = "STRATA_FRAMEWORK_HEARTBEAT_INTERVAL", default_value = "15secs", value_parser = duration)]
    framework_heartbeat_interval: Duration,
    /// Rescind offers that are neither accepted nor declined within this time.
    /// ("0secs" never rescinds; the default, 60secs, outlasts any scheduler's
    /// decision and stops a stuck framework from sitting on resources).
    #[arg(long = "offer_timeout", env = "STRATA_OFFER_TIMEOUT", default_value = "60secs", value_parser = duration)]
    offer_timeout: Duration,
    /// Offer an agent's free resources only if they hold one of these
    /// bundles, e.g. "cpus:0.01|mem:32" (Mesos's flag of the same name).
    #[arg(
        long = "min_allocatable_resources",
        env = "STRATA_MIN_ALLOCATABLE_RESOURCES"
    )]
    min_allocatable_resources: Option<String>,
    /// Allocate at least this often (allocation also follows every change).
    #[arg(long = "allocation_interval", env = "STRATA_ALLOCATION_INTERVAL", default_value = "1secs", value_parser = duration)]
    allocation_interval: Duration,
}

impl MasterArgs {
    fn config(&self) -> Result<MasterConfig> {
        let listen = SocketAddr::new(self.ip, self.port);
        let mut c = MasterConfig::new(listen);
        if let Some(text) = &self.min_allocatable_resources {
            c.min_allocatable_resources = strata_master_allocator::parse_min_allocatable(text)
                .context("invalid --min_allocatable_resources")?;
        }
        if let Some(h) = &self.hostname {
            c.hostname = h.clone();
        }
        if let Some(w) = &self.work_dir {
            c.work_dir = w.clone();
        }
        c.zk = self.zk.clone();
        c.agent_ping_timeout = self.agent_ping_timeout;
        c.max_agent_ping_timeouts = self.max_agent_ping_timeouts;
        c.framework_heartbeat_interval = self.framework_heartbeat_interval;
        c.offer_timeout = Some(self.offer_timeout).filter(|d| !d.is_zero());
        c.allocation_interval = self.allocation_interval;
        Ok(c)
    }
}

#[derive(Args, Clone)]
struct AgentArgs {
    /// The master, as host:port (http:// is accepted), or zk://host:port/path
    /// to follow the leading master through ZooKeeper.
    #[arg(long, env = "STRATA_MASTER", default_value = "127.0.0.1:5050")]
    master: String,
    /// IP address to listen on.
    #[arg(long, env = "STRATA_IP", default_value = "127.0.0.1")]
    ip: IpAddr,
    /// Port to listen on.
    #[arg(long, env = "STRATA_PORT", default_value_t = 5051)]
    port: u16,
    /// Hostname to advertise in offers (defaults to the IP).
    #[arg(long, env = "STRATA_HOSTNAME")]
    hostname: Option<String>,
    /// Directory for sandboxes and agent state.
    #[arg(long = "work_dir", env = "STRATA_WORK_DIR")]
    work_dir: Option<PathBuf>,
    /// Resources to offer, e.g. "cpus:4;mem:8192;disk:20000;ports:[31000-32000]"
    /// (detected from the host when omitted). A role in parentheses reserves
    /// statically for that role: "cpus(analytics):4;mem(analytics):4096;cpus:2".
    #[arg(long, env = "STRATA_RESOURCES")]
    resources: Option<String>,
    /// Attributes, e.g. "rack:r1;zone:a".
    #[arg(long, env = "STRATA_ATTRIBUTES", default_value = "")]
    attributes: String,
    /// Task isolation: "cgroups" (limits from task resources) or "none".
    #[arg(long, env = "STRATA_ISOLATION", default_value = "cgroups")]
    isolation: String,
    /// Containerizers: "mesos" (processes under cgroups) and "docker" (tasks
    /// naming a Docker image). Without the flag Docker is used when an engine answers.
    #[arg(long, env = "STRATA_CONTAINERIZERS")]
    containerizers: Option<String>,
    /// Name of the agent's cgroup in each hierarchy.
    #[arg(
        long = "cgroups_root",
        env = "STRATA_CGROUPS_ROOT",
        default_value = "strata"
    )]
    cgroups_root: String,
    /// How long executors get to stop after SHUTDOWN.
    #[arg(long = "executor_shutdown_grace_period", env = "STRATA_EXECUTOR_SHUTDOWN_GRACE_PERIOD", default_value = "5secs", value_parser = duration)]
    executor_shutdown_grace_period: Duration,
    /// How long a started executor has to subscribe.
    #[arg(long = "executor_registration_timeout", env = "STRATA_EXECUTOR_REGISTRATION_TIMEOUT", default_value = "1mins", value_parser = duration)]
    executor_registration_timeout: Duration,
    /// Where to find `strata-executor`, the small command-executor binary
    /// (default: beside this binary). Without it, command tasks run under
    /// `strata executor command`.
    #[arg(long = "launcher_dir", env = "STRATA_LAUNCHER_DIR")]
    launcher_dir: Option<PathBuf>,
}

impl AgentArgs {
    fn config(&self) -> Result<AgentConfig> {
        let listen = SocketAddr::new(self.ip, self.port);
        let mut c = AgentConfig::new(self.master.clone(), listen);
        if let Some(h) = &self.hostname {
            c.hostname = h.clone();
        }
        if let Some(w) = &self.work_dir {
            c.work_dir = w.clone();
        }
        if let Some(r) = &self.resources {
            let parsed: strata_api::RoleResources = r.parse().context("invalid --resources")?;
            c.resources = Some(parsed);
        }
        c.attributes = self.attributes.clone();
        c.isolation = match self.isolation.as_str() {
            "cgroups" | "cgroups/cpu,cgroups/mem" | "cgroups/mem,cgroups/cpu" => {
                IsolationMode::Cgroups
            }
            "none" | "posix" | "posix/cpu,posix/mem" => IsolationMode::None,
            other => bail!("invalid --isolation {other:?}: expecting \"cgroups\" or \"none\""),
        };
        c.cgroups_root = self.cgroups_root.clone();
        if let Some(list) = &self.containerizers {
            let names: Vec<&str> = list
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .collect();
            if let Some(bad) = names.iter().find(|n| !matches!(**n, "mesos" | "docker")) {
                bail!(
                    "invalid --containerizers entry {bad:?}: expecting \"mesos\" and/or \"docker\""
                );
            }
            c.docker = Some(names.contains(&"docker"));
        }
        c.executor_shutdown_grace_period = self.executor_shutdown_grace_period;
        c.executor_registration_timeout = self.executor_registration_timeout;
        c.launcher =
            std::env::current_exe().context("cannot find the strata binary to launch executors")?;
        if let Some(dir) = &self.launcher_dir {
            c.command_executor = strata_agent::command_executor_beside(dir);
            if c.command_executor.is_none() {
                bail!(
                    "--launcher_dir {}: no executable {} there",
                    dir.display(),
                    strata_agent::COMMAND_EXECUTOR_BINARY
                );
            }
        }
        if c.command_executor.is_none() {
            tracing::warn!(
                "no {} beside {}: command tasks run under `strata executor command`, which costs more memory and start-up time per task",
                strata_agent::COMMAND_EXECUTOR_BINARY,
                c.launcher.display()
            );
        }
        Ok(c)
    }
}

#[derive(Args, Clone)]
struct KubernetesArgs {
    /// Address of the Kubernetes API server.
    #[arg(long, env = "STRATA_K8S_LISTEN", default_value = "127.0.0.1:8888")]
    listen: SocketAddr,
    /// The master, as host:port.
    #[arg(long, env = "STRATA_MASTER", default_value = "127.0.0.1:5050")]
    master: String,
    /// Directory of the embedded object store.
    #[arg(long = "work_dir", env = "STRATA_WORK_DIR")]
    work_dir: Option<PathBuf>,
    /// Keep the objects in ZooKeeper instead: zk://host:port/path.
    #[arg(long, env = "STRATA_ZK")]
    zk: Option<String>,
}

#[derive(Args, Clone)]
struct MarathonArgs {
    /// Address of Marathon's REST API.
    #[arg(long, env = "STRATA_MARATHON_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The master, as host:port (or zk://host:port/path).
    #[arg(long, env = "STRATA_MASTER", default_value = "127.0.0.1:5050")]
    master: String,
    /// Directory of the embedded state store.
    #[arg(long = "work_dir", env = "STRATA_WORK_DIR")]
    work_dir: Option<PathBuf>,
    /// Keep the state in ZooKeeper instead: zk://host:port/path.
    #[arg(long, env = "STRATA_ZK")]
    zk: Option<String>,
}

#[derive(Args, Clone)]
struct DevArgs {
    /// IP address for every component.
    #[arg(long, default_value = "127.0.0.1")]
    ip: IpAddr,
    /// The master's port; agents take the following ports.
    #[arg(long, default_value_t = 5050)]
    port: u16,
    /// How many agents to run.
    #[arg(long, default_value_t = 2)]
    agents: u16,
    /// Resources of each agent (detected from the host, split between agents, when omitted).
    #[arg(long)]
    resources: Option<String>,
    /// Where agents keep sandboxes (a directory under /tmp by default).
    #[arg(long = "work_dir")]
    work_dir: Option<PathBuf>,
    /// Task isolation for the agents: "cgroups" or "none".
    #[arg(long, default_value = "cgroups")]
    isolation: String,
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler cannot fail");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Executor(ExecutorCommand::Command) => {
            init_tracing("info");
            std::process::exit(strata_executors_command::main_entry());
        }
        other => {
            init_tracing("info,h2=warn,tower=warn,hyper=warn");
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(run(other))
        }
    }
}

async fn run(command: Command) -> Result<()> {
    match command {
        Command::Master(args) => {
            let m = strata_master::start(args.config()?, shutdown_signal())
                .await
                .context("cannot start the master")?;
            m.server.await??;
            info!("master stopped");
        }
        Command::Agent(args) => {
            let a = strata_agent::start(args.config()?, shutdown_signal())
                .await
                .context("cannot start the agent")?;
            a.server.await??;
            info!("agent stopped");
        }
        Command::Kubernetes(args) => {
            let mut c = strata_frameworks_kubernetes::KubernetesConfig::new(
                args.work_dir
                    .unwrap_or_else(|| std::env::temp_dir().join("strata-kubernetes")),
            );
            c.listen = args.listen;
            c.master = args.master;
            c.store_url = args.zk;
            strata_frameworks_kubernetes::run(c, shutdown_signal())
                .await
                .context("the kubernetes framework failed")?;
        }
        Command::Marathon(args) => {
            let mut c = strata_frameworks_marathon::MarathonConfig::new(
                args.master,
                args.work_dir
                    .unwrap_or_else(|| std::env::temp_dir().join("strata-marathon")),
            );
            c.listen = args.listen;
            c.store_url = args.zk;
            strata_frameworks_marathon::run(c, shutdown_signal())
                .await
                .context("the marathon framework failed")?;
        }
        Command::Dev(args) => dev(args).await?,
        Command::Bench(cmd) => bench::run(cmd).await?,
        Command::Executor(_) => unreachable!("handled before the runtime starts"),
    }
    Ok(())
}

async fn dev(args: DevArgs) -> Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let master_addr = SocketAddr::new(args.ip, args.port);
    let work_root = args
        .work_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("strata-dev"));
    let mut master_config = MasterConfig::dev(master_addr);
    master_config.work_dir = work_root.join("master");
    let master = strata_master::start(master_config, stopped(stop_rx.clone()))
        .await
        .with_context(|| format!("cannot start the master on {master_addr}"))?;
    let per_agent: Option<Resources> = match &args.resources {
        Some(r) => Some(r.parse().context("invalid --resources")?),
        None => {
            let host = strata_agent::detect_resources(&std::env::temp_dir());
            let n = f64::from(args.agents.max(1));
            Some(
                Resources::new()
                    .with_scalar("cpus", (host.cpus() / n).max(1.0))
                    .with_scalar("mem", (host.mem() / n).floor())
                    .with_scalar("disk", (host.disk() / n).floor())
                    .with_range("ports", 31000, 32000),
            )
        }
    };
    let mut agents = Vec::new();
    for i in 0..args.agents {
        let port = args.port + 1 + i;
        let listen = SocketAddr::new(args.ip, port);
        let mut c = AgentConfig::new(master.addr.to_string(), listen);
        c.work_dir = work_root.join(format!("agent-{port}"));
        // Agents of one machine share its ports: give each its own slice of
        // 31000-32000 so two tasks never get the same host port.
        c.resources = per_agent.clone().map(|mut r| {
            let slice = 1001 / u64::from(args.agents.max(1));
            let begin = 31000 + u64::from(i) * slice;
            r.subtract(&Resources::new().with_range("ports", 0, u64::from(u16::MAX)));
            r.add_range(
                "ports",
                strata_api::Range {
                    begin,
                    end: begin + slice - 1,
                },
            );
            r.into()
        });
        c.attributes = format!("agent:dev-{i}");
        c.isolation = if args.isolation == "none" {
            IsolationMode::None
        } else {
            IsolationMode::Cgroups
        };
        c.launcher = std::env::current_exe()?;
        let a = strata_agent::start(c, stopped(stop_rx.clone()))
            .await
            .with_context(|| format!("cannot start an agent on {listen}"))?;
        agents.push(a);
    }
    let mut k8s = strata_frameworks_kubernetes::KubernetesConfig::new(work_root.join("kubernetes"));
    k8s.listen = SocketAddr::new(args.ip, 8888);
    k8s.master = master.addr.to_string();
    let k8s_listen = k8s.listen;
    let k8s_task = tokio::spawn(strata_frameworks_kubernetes::run(
        k8s,
        stopped(stop_rx.clone()),
    ));
    let mut marathon = strata_frameworks_marathon::MarathonConfig::new(
        master.addr.to_string(),
        work_root.join("marathon"),
    );
    marathon.listen = SocketAddr::new(args.ip, 8080);
    let marathon_listen = marathon.listen;
    let marathon_task = tokio::spawn(strata_frameworks_marathon::run(
        marathon,
        stopped(stop_rx.clone()),
    ));
    println!("Strata dev cluster is up:");
    println!(
        "  master     http://{}  (Mesos v1 scheduler API: /api/v1/scheduler, state: /master/state)",
        master.addr
    );
    for a in &agents {
        println!(
            "  agent      http://{}  (sandboxes under {})",
            a.addr,
            work_root.display()
        );
    }
    println!("  kubernetes http://{k8s_listen}  (kubectl -s http://{k8s_listen} get pods)");
    println!("  marathon   http://{marathon_listen}  (curl -X POST -H 'Content-Type: application/json' --data @app.json http://{marathon_listen}/v2/apps)");
    if let Some(r) = &per_agent {
        println!("  each agent offers {r}");
    }
    println!(
        "Try:  curl -s http://{}/master/state | python3 -m json.tool | head",
        master.addr
    );
    println!("Press Ctrl-C to stop.");
    shutdown_signal().await;
    println!("stopping...");
    let _ = stop_tx.send(true);
    let _ = master.server.await;
    if let Ok(Err(e)) = marathon_task.await {
        eprintln!("the marathon framework stopped with an error: {e}");
    }
    if let Ok(Err(e)) = k8s_task.await {
        eprintln!("the kubernetes framework stopped with an error: {e}");
    }
    for a in agents {
        let _ = a.server.await;
    }
    Ok(())
}
