//! [`TestCluster`]: one `strata master` and N `strata agent` processes on free loopback ports.
//!
//! Each process gets its own work directory inside one temporary directory per cluster, and its
//! stderr (where strata logs) goes to a file there. When a test panics, `Drop` prints the tail
//! of every log and keeps the directory; otherwise it removes it. `Drop` always stops every
//! process it started, and then every process still running out of a sandbox under the cluster
//! directory (tasks and executors run in their own process groups and would otherwise outlive
//! a SIGKILLed agent).

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::{http, paths};

/// How long the master gets to answer `/health` and the agents to show up as active.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stopped process gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Lines of each log printed when a test fails.
const LOG_TAIL_LINES: usize = 120;

/// What to start. [`ClusterConfig::new`] gives the flags of the test contract.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Number of agents.
    pub agents: usize,
    /// `--resources` of every agent.
    pub agent_resources: String,
    /// `--attributes` per agent (missing entries: none).
    pub agent_attributes: Vec<String>,
    /// `--isolation` of every agent (`None`: the agent's default).
    pub isolation: Option<String>,
    /// `--agent_ping_timeout` of the master.
    pub agent_ping_timeout: String,
    /// `--max_agent_ping_timeouts` of the master.
    pub max_agent_ping_timeouts: u32,
    /// `--framework_heartbeat_interval` of the master.
    pub framework_heartbeat_interval: String,
    /// Number of masters (more than one needs `zk`).
    pub masters: usize,
    /// `zk://host:port/path`: masters elect a leader there (`--zk`) and agents
    /// follow it (`--master zk://...`).
    pub zk: Option<String>,
}

impl ClusterConfig {
    /// `agents` agents with 4 cpus, 4 GiB, ports 31000-32000; fast failure detection.
    pub fn new(agents: usize) -> Self {
        ClusterConfig {
            agents,
            agent_resources: "cpus:4;mem:4096;disk:10000;ports:[31000-32000]".to_string(),
            agent_attributes: Vec::new(),
            isolation: None,
            agent_ping_timeout: "1secs".to_string(),
            max_agent_ping_timeouts: 3,
            framework_heartbeat_interval: "2secs".to_string(),
            masters: 1,
            zk: None,
        }
    }

    /// Sets `--isolation` on every agent.
    pub fn isolation(mut self, isolation: &str) -> Self {
        self.isolation = Some(isolation.to_string());
        self
    }
}

/// A child process with a name; its output goes to `<name>.log` in the cluster directory.
#[derive(Debug)]
struct Proc {
    name: String,
    child: Child,
}

impl Proc {
    fn spawn(name: &str, dir: &Path, args: &[String]) -> Proc {
        let bin = paths::strata_bin();
        let log = dir.join(format!("{name}.log"));
        let log_file =
            fs::File::create(&log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let mut command = Command::new(&bin);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone log file handle"))
            .stderr(log_file);
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "info");
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} {}: {e}", bin.display(), args.join(" ")));
        Proc {
            name: name.to_string(),
            child,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(exit description)` if the process has exited.
    fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("unknown ({e})")),
        }
    }

    /// SIGTERM, then SIGKILL after the grace period.
    fn stop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        signal(self.pid(), "TERM");
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!(
            "[strata-tests] {} ignored SIGTERM for {STOP_GRACE:?}: SIGKILL",
            self.name
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a signal with kill(1), which keeps this crate free of `unsafe`.
fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A free TCP port on 127.0.0.1 (free when this returns; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port on 127.0.0.1")
}

fn make_cluster_dir() -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "strata-e2e-{}-{}-{nanos:08x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// A running master and its agents. Dropping it stops them all.
#[derive(Debug)]
pub struct TestCluster {
    dir: PathBuf,
    masters: Vec<Proc>,
    master_ports: Vec<u16>,
    /// The command line of each master, to restart it identically.
    master_args: Vec<Vec<String>>,
    /// Indices of masters killed on purpose.
    killed_masters: Vec<usize>,
    agents: Vec<Proc>,
    agent_ports: Vec<u16>,
    /// The command line of each agent, to restart it identically.
    agent_args: Vec<Vec<String>>,
    /// Indices of agents killed on purpose (their exit is not a failure).
    killed: Vec<usize>,
    /// Restarts so far, to give each restarted process its own log.
    restarts: usize,
    /// Processes replaced by a restart (kept so their logs are printed too).
    retired: Vec<Proc>,
}

impl TestCluster {
    /// Starts a master and `agents` agents with [`ClusterConfig::new`], waiting until the master
    /// reports every agent active.
    pub fn start(agents: usize) -> TestCluster {
        TestCluster::start_with(ClusterConfig::new(agents))
    }

    /// Starts a cluster as configured; panics with the logs if it does not come up in time.
    pub fn start_with(config: ClusterConfig) -> TestCluster {
        let dir = make_cluster_dir();
        let mut masters = Vec::new();
        let mut master_ports = Vec::new();
        let mut master_args = Vec::new();
        for m in 0..config.masters.max(1) {
            let port = free_port();
            let name = if m == 0 {
                "master".to_string()
            } else {
                format!("master-{m}")
            };
            let master_dir = dir.join(&name);
            fs::create_dir_all(&master_dir).expect("create the master work dir");
            let mut args: Vec<String> = vec![
                "master".into(),
                "--ip".into(),
                "127.0.0.1".into(),
                "--port".into(),
                port.to_string(),
                "--work_dir".into(),
                master_dir.display().to_string(),
                "--agent_ping_timeout".into(),
                config.agent_ping_timeout.clone(),
                "--max_agent_ping_timeouts".into(),
                config.max_agent_ping_timeouts.to_string(),
                "--framework_heartbeat_interval".into(),
                config.framework_heartbeat_interval.clone(),
            ];
            if let Some(zk) = &config.zk {
                args.extend(["--zk".into(), zk.clone()]);
            }
            masters.push(Proc::spawn(&name, &dir, &args));
            master_ports.push(port);
            master_args.push(args);
        }
        let master_port = master_ports[0];
        let mut cluster = TestCluster {
            dir,
            masters,
            master_ports,
            master_args,
            killed_masters: Vec::new(),
            agents: Vec::new(),
            agent_ports: Vec::new(),
            agent_args: Vec::new(),
            killed: Vec::new(),
            restarts: 0,
            retired: Vec::new(),
        };
        eprintln!(
            "[strata-tests] cluster dir {} (master on 127.0.0.1:{master_port})",
            cluster.dir.display()
        );

        cluster.wait_for(
            "the leading master to answer GET /health with 200",
            START_TIMEOUT,
            |c| {
                let addr = c.leader_addr()?;
                http::get(&addr, "/health")
                    .ok()
                    .filter(|r| r.status == 200)
                    .map(|_| ())
            },
        );
        let addr = config.zk.clone().unwrap_or_else(|| cluster.master_addr());

        for i in 0..config.agents {
            let port = free_port();
            let work_dir = cluster.dir.join(format!("agent-{i}"));
            fs::create_dir_all(&work_dir).expect("create an agent work dir");
            let mut args: Vec<String> = vec![
                "agent".into(),
                "--master".into(),
                addr.clone(),
                "--ip".into(),
                "127.0.0.1".into(),
                "--port".into(),
                port.to_string(),
                "--work_dir".into(),
                work_dir.display().to_string(),
                "--resources".into(),
                config.agent_resources.clone(),
            ];
            if let Some(attributes) = config.agent_attributes.get(i) {
                args.extend(["--attributes".into(), attributes.clone()]);
            }
            if let Some(isolation) = &config.isolation {
                args.extend(["--isolation".into(), isolation.clone()]);
            }
            cluster
                .agents
                .push(Proc::spawn(&format!("agent-{i}"), &cluster.dir, &args));
            cluster.agent_ports.push(port);
            cluster.agent_args.push(args);
        }

        let want = config.agents;
        cluster.wait_for(
            &format!("{want} active agents in /master/state"),
            START_TIMEOUT,
            |c| {
                let state = c.try_master_state()?;
                let active = state["slaves"]
                    .as_array()?
                    .iter()
                    .filter(|s| s["active"].as_bool() == Some(true))
                    .count();
                (active == want).then_some(())
            },
        );
        cluster
    }

    /// The cluster's temporary directory (logs, work dirs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `127.0.0.1:<port>` of the leading master (of the first master while
    /// none is known), the form pymesos wants.
    pub fn master_addr(&self) -> String {
        self.leader_addr()
            .unwrap_or_else(|| format!("127.0.0.1:{}", self.master_ports[0]))
    }

    /// `127.0.0.1:<port>` of master `i`.
    pub fn master_addr_of(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.master_ports[i])
    }

    /// The index of the master that leads (its `/master/state` names itself as leader).
    pub fn leader_index(&self) -> Option<usize> {
        (0..self.master_ports.len())
            .filter(|i| !self.killed_masters.contains(i))
            .find(|&i| {
                let Ok(r) = http::get(&self.master_addr_of(i), "/master/state") else {
                    return false;
                };
                let Ok(v) = serde_json::from_slice::<Value>(&r.body) else {
                    return false;
                };
                r.status == 200 && v["pid"].is_string() && v["pid"] == v["leader"]
            })
    }

    /// `127.0.0.1:<port>` of the leading master, if one leads.
    pub fn leader_addr(&self) -> Option<String> {
        self.leader_index().map(|i| self.master_addr_of(i))
    }

    /// Starts master `i` again with its original command line (same port and
    /// work dir, hence the same embedded store), after [`TestCluster::kill_master`].
    pub fn restart_master(&mut self, i: usize) {
        self.restarts += 1;
        let name = format!("master-{i}-restart-{}", self.restarts);
        eprintln!("[strata-tests] restarting master {i} as {name}");
        let fresh = Proc::spawn(&name, &self.dir, &self.master_args[i]);
        let old = std::mem::replace(&mut self.masters[i], fresh);
        self.retired.push(old);
        self.killed_masters.retain(|k| *k != i);
    }

    /// Kills master `i` with SIGKILL.
    pub fn kill_master(&mut self, i: usize) {
        let m = &mut self.masters[i];
        eprintln!("[strata-tests] SIGKILL {} (pid {})", m.name, m.pid());
        let _ = m.child.kill();
        let _ = m.child.wait();
        self.killed_masters.push(i);
    }

    /// `127.0.0.1:<port>` of agent `i`.
    pub fn agent_addr(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.agent_ports[i])
    }

    /// The work directory of agent `i`.
    pub fn agent_work_dir(&self, i: usize) -> PathBuf {
        self.dir.join(format!("agent-{i}"))
    }

    /// Number of agents started.
    pub fn agent_count(&self) -> usize {
        self.agents.len()
    }

    /// `GET /master/state` as JSON, or `None` if the master does not answer 200 with JSON.
    pub fn try_master_state(&self) -> Option<Value> {
        let response = http::get(&self.master_addr(), "/master/state").ok()?;
        (response.status == 200).then(|| serde_json::from_slice(&response.body).ok())?
    }

    /// `GET /master/state`; panics (with the logs) if it fails.
    pub fn master_state(&mut self) -> Value {
        self.check_alive();
        http::get_json(&self.master_addr(), "/master/state")
    }

    /// `GET /metrics/snapshot` of the master.
    pub fn metrics(&mut self) -> Value {
        self.check_alive();
        http::get_json(&self.master_addr(), "/metrics/snapshot")
    }

    /// `GET /state` of agent `i`.
    pub fn agent_state(&mut self, i: usize) -> Value {
        self.check_alive();
        http::get_json(&self.agent_addr(i), "/state")
    }

    /// The agent id that agent `i` reports in its `/state`.
    pub fn agent_id(&mut self, i: usize) -> String {
        let state = self.agent_state(i);
        state["id"]
            .as_str()
            .unwrap_or_else(|| panic!("agent {i} /state has no string `id`: {state}"))
            .to_string()
    }

    /// Kills agent `i` with SIGKILL (no chance to say goodbye), as a crash would.
    pub fn kill_agent(&mut self, i: usize) {
        let agent = &mut self.agents[i];
        eprintln!(
            "[strata-tests] SIGKILL {} (pid {})",
            agent.name,
            agent.pid()
        );
        agent
            .child
            .kill()
            .unwrap_or_else(|e| panic!("SIGKILL {}: {e}", agent.name));
        let _ = agent.child.wait();
        self.killed.push(i);
    }

    /// Starts agent `i` again with its original command line (same port and
    /// work dir), after [`TestCluster::kill_agent`]. Its log goes to a new file.
    pub fn restart_agent(&mut self, i: usize) {
        self.restarts += 1;
        let name = format!("agent-{i}-restart-{}", self.restarts);
        eprintln!("[strata-tests] restarting agent {i} as {name}");
        let fresh = Proc::spawn(&name, &self.dir, &self.agent_args[i]);
        let old = std::mem::replace(&mut self.agents[i], fresh);
        self.retired.push(old);
        self.killed.retain(|k| *k != i);
    }

    /// Panics (printing the logs via `Drop`) if the master or an agent not killed on purpose has exited.
    pub fn check_alive(&mut self) {
        let mut dead = Vec::new();
        for (i, m) in self.masters.iter_mut().enumerate() {
            if self.killed_masters.contains(&i) {
                continue;
            }
            if let Some(status) = m.exited() {
                dead.push(format!("{} exited ({status})", m.name));
            }
        }
        for (i, agent) in self.agents.iter_mut().enumerate() {
            if self.killed.contains(&i) {
                continue;
            }
            if let Some(status) = agent.exited() {
                dead.push(format!("{} exited ({status})", agent.name));
            }
        }
        if !dead.is_empty() {
            panic!("cluster process died: {}", dead.join("; "));
        }
    }

    /// Polls `probe` every 100 ms until it returns `Some`, or panics after `timeout`.
    pub fn wait_for<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut probe: impl FnMut(&mut Self) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_alive();
            if let Some(value) = probe(self) {
                return value;
            }
            if Instant::now() >= deadline {
                panic!("timed out after {timeout:?} waiting for {what}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The last lines of every log in the cluster directory (strata processes and scenarios).
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let mut logs: Vec<PathBuf> = fs::read_dir(&self.dir)
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        logs.retain(|p| p.extension().is_some_and(|e| e == "log"));
        logs.sort();
        for log in logs {
            let text = fs::read_to_string(&log).unwrap_or_else(|e| format!("<unreadable: {e}>"));
            let lines: Vec<&str> = text.lines().collect();
            let skip = lines.len().saturating_sub(LOG_TAIL_LINES);
            out.push_str(&format!(
                "----- {} (last {} of {} lines) -----\n",
                log.display(),
                lines.len() - skip,
                lines.len()
            ));
            for line in &lines[skip..] {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// Files named `name` anywhere under agent `i`'s work directory.
    pub fn find_agent_files(&self, i: usize, name: &str) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut stack = vec![self.agent_work_dir(i)];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.filter_map(|e| e.ok()) {
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                if kind.is_dir() {
                    stack.push(entry.path());
                } else if kind.is_file() && entry.file_name() == name {
                    found.push(entry.path());
                }
            }
        }
        found.sort();
        found
    }

    /// Container ids of this cluster's executors: the `runs/<container id>` directory names under
    /// the agents' work dirs (the Mesos sandbox layout).
    fn container_ids(&self) -> Vec<String> {
        let mut ids = Vec::new();
        let mut stack = vec![self.dir.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            let is_runs = dir.file_name().is_some_and(|n| n == "runs");
            for entry in entries.filter_map(|e| e.ok()) {
                if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                match entry.file_name().to_str() {
                    Some(name) if is_runs && name != "latest" && name.len() >= 8 => {
                        ids.push(name.to_string())
                    }
                    _ => stack.push(entry.path()),
                }
            }
        }
        ids
    }

    /// Kills every process whose working directory or environment points into the cluster
    /// directory: tasks and executors left behind by agents that were SIGKILLed or that do not
    /// clean up on SIGTERM.
    fn kill_strays(&self) -> Vec<u32> {
        let me = std::process::id();
        let needle = self.dir.display().to_string();
        let mut killed = Vec::new();
        let Ok(procs) = fs::read_dir("/proc") else {
            return killed;
        };
        for entry in procs.filter_map(|e| e.ok()) {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if pid == me {
                continue;
            }
            let cwd_inside =
                fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(&self.dir));
            let env_inside = fs::read(entry.path().join("environ"))
                .is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle.as_bytes()));
            if cwd_inside || env_inside {
                signal(pid, "KILL");
                killed.push(pid);
            }
        }
        killed
    }
}

/// Removes, deepest first, the cgroups (under `/sys/fs/cgroup`, a few levels down) named like one
/// of `ids`. Only empty cgroups can be removed, so a live container is never touched.
fn remove_cgroups_named(ids: &[String]) -> Vec<PathBuf> {
    fn remove_tree(dir: &Path, removed: &mut Vec<PathBuf>) {
        if let Ok(entries) = fs::read_dir(dir) {
            for entry in entries.filter_map(|e| e.ok()) {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    remove_tree(&entry.path(), removed);
                }
            }
        }
        if fs::remove_dir(dir).is_ok() {
            removed.push(dir.to_path_buf());
        }
    }
    fn walk(dir: &Path, depth: usize, ids: &[String], removed: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.filter_map(|e| e.ok()) {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let path = entry.path();
            if entry
                .file_name()
                .to_str()
                .is_some_and(|n| ids.iter().any(|id| id == n))
            {
                remove_tree(&path, removed);
            } else if depth > 0 {
                walk(&path, depth - 1, ids, removed);
            }
        }
    }
    let mut removed = Vec::new();
    if !ids.is_empty() {
        walk(Path::new("/sys/fs/cgroup"), 3, ids, &mut removed);
    }
    removed
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let failed = std::thread::panicking();
        for agent in self.agents.iter_mut().rev() {
            agent.stop();
        }
        for m in self.masters.iter_mut().rev() {
            m.stop();
        }
        let strays = self.kill_strays();
        if !strays.is_empty() {
            // Let the kernel reap them, so that their cgroups are empty below.
            std::thread::sleep(Duration::from_millis(300));
            eprintln!(
                "[strata-tests] killed {} stray task/executor process(es): {strays:?}",
                strays.len()
            );
        }
        // Agents stopped with SIGKILL (or that do not clean up on SIGTERM) leave their
        // containers' cgroups behind; they are empty now, and would pile up on the machine.
        let cgroups = remove_cgroups_named(&self.container_ids());
        if !cgroups.is_empty() {
            eprintln!(
                "[strata-tests] removed {} cgroup(s) left behind by the agents",
                cgroups.len()
            );
        }
        let keep = failed || std::env::var_os("STRATA_TEST_KEEP").is_some();
        if failed {
            eprintln!(
                "\n[strata-tests] test failed; logs of the cluster in {}:\n{}",
                self.dir.display(),
                self.logs()
            );
        }
        if keep {
            eprintln!("[strata-tests] kept {}", self.dir.display());
        } else if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!(
                "[strata-tests] could not remove {}: {e}",
                self.dir.display()
            );
        }
    }
}
