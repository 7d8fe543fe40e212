//! A real cluster for Marathon's integration tests: one `strata master` and two `strata
//! agent` processes on free loopback ports (disjoint host-port ranges, attributes
//! `node:a` / `node:b`), and Marathon in-process. Dropping the cluster kills every process
//! it started, and every task process whose environment points into its directory.

#![allow(dead_code)]

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use strata_frameworks_marathon::{Marathon, MarathonConfig};

/// The `strata` binary: `$STRATA_BIN`, else `<target>/debug/strata`.
pub fn strata_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("STRATA_BIN") {
        return PathBuf::from(bin);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|t| root.join(t))
        .unwrap_or_else(|| root.join("target"));
    let bin = target.join("debug").join("strata");
    assert!(
        bin.is_file(),
        "the strata binary is missing at {}: run `cargo build -p strata` first, or set STRATA_BIN",
        bin.display()
    );
    bin
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A block of 400 host ports (two agents x 200) claimed for one cluster through a lock
/// file, so that clusters of tests running at the same time never hand out the same ports.
struct PortBlock {
    base: u16,
    lock: PathBuf,
}

impl PortBlock {
    fn claim() -> PortBlock {
        const FIRST: u16 = 20_000;
        const SLOTS: u16 = 30; // 20000..32000, below the usual ephemeral range
        let seed = std::process::id() as u64
            ^ SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
        for attempt in 0..(SLOTS as u64 * 2) {
            let slot = ((seed + attempt) % SLOTS as u64) as u16;
            let base = FIRST + slot * 400;
            let lock = std::env::temp_dir().join(format!("strata-marathon-ports-{base}.lock"));
            let stale = fs::metadata(&lock)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(900));
            if stale {
                let _ = fs::remove_file(&lock);
            }
            if fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock)
                .is_err()
            {
                continue;
            }
            let free = (base..base + 400)
                .step_by(7)
                .all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok());
            if free {
                return PortBlock { base, lock };
            }
            let _ = fs::remove_file(&lock);
        }
        panic!("no free block of host ports in 20000-32000");
    }
}

impl Drop for PortBlock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.lock);
    }
}

pub struct Cluster {
    ports: PortBlock,
    pub dir: PathBuf,
    pub master: String,
    master_proc: Option<Child>,
    agents: Vec<Option<Child>>,
    pub agent_ports: Vec<u16>,
    pub marathon: Option<Marathon>,
    pub api: String,
}

impl Cluster {
    /// A master, two agents and Marathon.
    pub async fn start(name: &str) -> Cluster {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "strata-marathon-{name}-{}-{nanos:08x}",
            std::process::id()
        ));
        fs::create_dir_all(&dir).unwrap();
        let bin = strata_bin();
        let port = free_port();
        let master = format!("127.0.0.1:{port}");
        let spawn = |args: Vec<String>, log: &str| -> Child {
            let log = fs::File::create(dir.join(log)).unwrap();
            Command::new(&bin)
                .args(&args)
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start strata")
        };
        let master_proc = spawn(
            vec![
                "master".into(),
                "--port".into(),
                port.to_string(),
                "--work_dir".into(),
                dir.join("master").display().to_string(),
                "--agent_ping_timeout".into(),
                "1secs".into(),
                "--max_agent_ping_timeouts".into(),
                "3".into(),
                "--framework_heartbeat_interval".into(),
                "2secs".into(),
            ],
            "master.log",
        );
        let ports = PortBlock::claim();
        let ranges = [
            format!("[{}-{}]", ports.base, ports.base + 199),
            format!("[{}-{}]", ports.base + 200, ports.base + 399),
        ];
        let mut cluster = Cluster {
            ports,
            dir: dir.clone(),
            master: master.clone(),
            master_proc: Some(master_proc),
            agents: Vec::new(),
            agent_ports: Vec::new(),
            marathon: None,
            api: String::new(),
        };
        for (i, (ports, attrs)) in [(&ranges[0], "node:a"), (&ranges[1], "node:b")]
            .into_iter()
            .enumerate()
        {
            let agent_port = free_port();
            let child = spawn(
                vec![
                    "agent".into(),
                    "--master".into(),
                    master.clone(),
                    "--port".into(),
                    agent_port.to_string(),
                    "--work_dir".into(),
                    dir.join(format!("agent-{i}")).display().to_string(),
                    "--resources".into(),
                    format!("cpus:4;mem:4096;disk:10000;ports:{ports}"),
                    "--attributes".into(),
                    attrs.to_string(),
                    "--isolation".into(),
                    "none".into(),
                ],
                &format!("agent-{i}.log"),
            );
            cluster.agents.push(Some(child));
            cluster.agent_ports.push(agent_port);
        }
        let state_url = format!("http://{master}/master/state");
        cluster
            .wait("two active agents", Duration::from_secs(30), || {
                let url = state_url.clone();
                async move {
                    let (status, v) = get(&url).await.ok()?;
                    let active = v["slaves"]
                        .as_array()?
                        .iter()
                        .filter(|s| s["active"] == true)
                        .count();
                    (status == 200 && active == 2).then_some(())
                }
            })
            .await;
        cluster.start_marathon().await;
        cluster
    }

    /// Starts (or restarts) Marathon over the cluster's store directory.
    pub async fn start_marathon(&mut self) {
        let mut config = MarathonConfig::new(self.master.clone(), self.dir.join("marathon"));
        config.listen = "127.0.0.1:0".parse().unwrap();
        let m = Marathon::start(config).await.expect("start marathon");
        self.api = format!("http://{}", m.local_addr());
        self.marathon = Some(m);
        let info = format!("{}/v2/info", self.api);
        self.wait("marathon subscribed", Duration::from_secs(20), || {
            let url = info.clone();
            async move {
                let (_, v) = get(&url).await.ok()?;
                v["frameworkId"].as_str().map(str::to_owned)
            }
        })
        .await;
    }

    pub async fn stop_marathon(&mut self) {
        if let Some(m) = self.marathon.take() {
            m.stop().await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }

    /// The agent id of agent `i`.
    pub async fn agent_id(&self, i: usize) -> String {
        let (_, v) = get(&format!("http://127.0.0.1:{}/state", self.agent_ports[i]))
            .await
            .unwrap();
        v["id"].as_str().unwrap().to_owned()
    }

    /// SIGKILLs agent `i`.
    pub fn kill_agent(&mut self, i: usize) {
        if let Some(mut c) = self.agents[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Polls `probe` every 200 ms until it returns `Some`, or panics with the logs.
    pub async fn wait<T, F, Fut>(&self, what: &str, timeout: Duration, mut probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = probe().await {
                return v;
            }
            if Instant::now() > deadline {
                panic!("timed out after {timeout:?} waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Processes whose environment has `MESOS_TASK_ID=<task_id>`.
    pub fn task_pids(&self, task_id: &str) -> Vec<u32> {
        let needle = format!("MESOS_TASK_ID={task_id}\0");
        pids_with_env(needle.as_bytes())
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        if let Ok(rd) = fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                if e.path().extension().is_some_and(|x| x == "log") {
                    let text = fs::read_to_string(e.path()).unwrap_or_default();
                    let lines: Vec<&str> = text.lines().collect();
                    let skip = lines.len().saturating_sub(60);
                    out.push_str(&format!("----- {} -----\n", e.path().display()));
                    for l in &lines[skip..] {
                        out.push_str(l);
                        out.push('\n');
                    }
                }
            }
        }
        out
    }
}

fn pids_with_env(needle: &[u8]) -> Vec<u32> {
    let me = std::process::id();
    let mut out = Vec::new();
    let Ok(procs) = fs::read_dir("/proc") else {
        return out;
    };
    for e in procs.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        if fs::read(e.path().join("environ"))
            .is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle))
        {
            out.push(pid);
        }
    }
    out
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let failed = std::thread::panicking();
        for c in self.agents.iter_mut().flatten() {
            signal(c.id(), "TERM");
        }
        std::thread::sleep(Duration::from_millis(500));
        for c in self.agents.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(mut m) = self.master_proc.take() {
            let _ = m.kill();
            let _ = m.wait();
        }
        // Tasks and executors of SIGKILLed agents outlive them: find them by their
        // environment, which names the cluster directory.
        let needle = self.dir.display().to_string();
        for pid in pids_with_env(needle.as_bytes()) {
            signal(pid, "KILL");
        }
        if failed {
            eprintln!("cluster logs in {}:\n{}", self.dir.display(), self.logs());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

// === HTTP ===

async fn request(method: &str, url: &str, body: Option<&Value>) -> Result<(u16, Value), String> {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    let req = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(Duration::from_secs(15), client.request(req))
        .await
        .map_err(|_| "timeout".to_string())?
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let v = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Ok((status, v))
}

pub async fn get(url: &str) -> Result<(u16, Value), String> {
    request("GET", url, None).await
}

pub async fn post(url: &str, body: &Value) -> (u16, Value) {
    request("POST", url, Some(body)).await.expect("POST")
}

pub async fn put(url: &str, body: &Value) -> (u16, Value) {
    request("PUT", url, Some(body)).await.expect("PUT")
}

pub async fn delete(url: &str) -> (u16, Value) {
    request("DELETE", url, None).await.expect("DELETE")
}

/// The raw text answer of a GET (for task ports).
pub async fn get_text(url: &str) -> Result<(u16, String), String> {
    let (s, v) = get(url).await?;
    Ok((
        s,
        v.as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| v.to_string()),
    ))
}
