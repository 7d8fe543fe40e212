//! Test helpers (feature `test-util`): a throw-away ZooKeeper server on a loopback port,
//! and temporary directories. Used by this crate's conformance suite and by end-to-end
//! tests.
//!
//! ZooKeeper comes from Debian's `zookeeper` package (`scripts/setup-zookeeper.sh` installs
//! it) and runs as
//! `java -cp '/usr/share/java/*:/usr/share/zookeeper/*' org.apache.zookeeper.server.quorum.QuorumPeerMain <cfg>`
//! under a small `sh` wrapper, in its own process group. The wrapper holds the read end of a
//! pipe from the test process: when the test process dies, however it dies, the pipe closes
//! and the wrapper kills ZooKeeper, so no server outlives its test run.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::{Error, Result};

/// Where Debian puts the ZooKeeper jar (either one is enough).
const ZOOKEEPER_JARS: [&str; 2] = [
    "/usr/share/java/zookeeper.jar",
    "/usr/share/zookeeper/zookeeper.jar",
];
/// The class path ZooKeeper runs with (java expands the `*`).
pub const CLASSPATH: &str = "/usr/share/java/*:/usr/share/zookeeper/*";
/// What a test prints when it skips for want of ZooKeeper.
pub const SKIP_MESSAGE: &str = "SKIPPED: zookeeper not installed (run scripts/setup-zookeeper.sh)";
/// How long a server may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(60);

// === TempDir ===

/// A directory under the system temp dir, removed (with its contents) on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a fresh, uniquely named directory whose name starts with `prefix`.
    pub fn new(prefix: &str) -> std::io::Result<TempDir> {
        let path = std::env::temp_dir().join(unique_name(prefix));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `prefix-<pid>-<counter>-<nanos>`: unique within and across processes.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

// === TestZk ===

/// A standalone ZooKeeper server on `127.0.0.1:<free port>` with a throw-away data dir,
/// killed on drop. Started with `-Djute.maxbuffer=4194304` so values up to 1 MiB fit.
#[derive(Debug)]
pub struct TestZk {
    /// `zk://127.0.0.1:<port>/strata`, ready for [`crate::open`].
    pub url: String,
    /// `127.0.0.1:<port>`.
    pub servers: String,
    /// The client port.
    pub port: u16,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    // Last: removed after the server is dead.
    dir: TempDir,
}

impl TestZk {
    /// Whether ZooKeeper and java are installed.
    pub fn installed() -> bool {
        ZOOKEEPER_JARS.iter().any(|jar| Path::new(jar).is_file())
            && Command::new("java")
                .arg("-version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    }

    /// Starts a server and waits until it serves. `None` when ZooKeeper is not installed.
    pub fn start() -> Option<Result<TestZk>> {
        if !TestZk::installed() {
            return None;
        }
        Some(TestZk::start_installed())
    }

    /// For tests: a started server, or `None` after printing [`SKIP_MESSAGE`] when
    /// ZooKeeper is not installed. Panics when it is missing and `CI=true` (CI must run
    /// these tests), or when the server does not start.
    pub fn start_or_skip() -> Option<TestZk> {
        match TestZk::start() {
            Some(zk) => Some(zk.unwrap_or_else(|e| panic!("starting zookeeper: {e}"))),
            None => {
                skip();
                None
            }
        }
    }

    /// One server shared by every test of the process that asks for it (tests then keep
    /// apart by using different paths, see [`TestZk::url_with_path`]). `None` after
    /// printing [`SKIP_MESSAGE`] when ZooKeeper is not installed; panics as
    /// [`TestZk::start_or_skip`] does. The server dies with the test process.
    pub fn shared_or_skip() -> Option<&'static TestZk> {
        static SHARED: OnceLock<std::result::Result<Option<TestZk>, String>> = OnceLock::new();
        let shared = SHARED.get_or_init(|| match TestZk::start() {
            None => Ok(None),
            Some(Ok(zk)) => Ok(Some(zk)),
            Some(Err(e)) => Err(e.to_string()),
        });
        match shared {
            Ok(Some(zk)) => Some(zk),
            Ok(None) => {
                skip();
                None
            }
            Err(e) => panic!("starting zookeeper: {e}"),
        }
    }

    /// `zk://127.0.0.1:<port><path>` (`path` starts with `/`).
    pub fn url_with_path(&self, path: &str) -> String {
        format!("zk://{}{path}", self.servers)
    }

    /// A URL under a path no other caller gets: a fresh, empty namespace.
    pub fn unique_url(&self) -> String {
        self.url_with_path(&format!("/{}", unique_name("test")))
    }

    /// Kills the server (SIGKILL, like a crash). Its data dir is kept for [`TestZk::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // The wrapper leads the process group: kill it and java in one go.
            let _ = Command::new("kill")
                .args(["-s", "KILL", "--", &format!("-{}", child.id())])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
            // java may take a moment to die after its group is signalled.
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && self.answers("ruok").is_some() {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Starts the server again on the same port and data dir.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.spawn()?;
        self.wait_serving()
    }

    /// Whether the server process is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    fn start_installed() -> Result<TestZk> {
        let dir = TempDir::new("strata-zk").map_err(|e| io_error(&std::env::temp_dir(), e))?;
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).map_err(|e| io_error(&data, e))?;
        let port = free_port().map_err(|e| io_error(dir.path(), e))?;
        let config = dir.path().join("zoo.cfg");
        let cfg = format!(
            "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={port}\n\
             clientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=*\n\
             maxClientCnxns=0\n",
            data.display()
        );
        std::fs::write(&config, cfg).map_err(|e| io_error(&config, e))?;
        let servers = format!("127.0.0.1:{port}");
        let mut zk = TestZk {
            url: format!("zk://{servers}/strata"),
            servers,
            port,
            log: dir.path().join("zookeeper.log"),
            config,
            child: None,
            dir,
        };
        zk.spawn()?;
        zk.wait_serving()?;
        Ok(zk)
    }

    fn spawn(&mut self) -> Result<()> {
        use std::os::unix::process::CommandExt;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| io_error(&self.log, e))?;
        let log_err = log.try_clone().map_err(|e| io_error(&self.log, e))?;
        let child = Command::new("sh")
            .arg("-c")
            // java in the background; when our end of stdin closes (the test process
            // ended, even by a signal), kill it and remove the data dir, which a server
            // shared for the life of the process is never dropped to remove.
            .arg(concat!(
                r#"dir="$1"; shift; java "$@" </dev/null & zk=$!; read -r _; "#,
                r#"kill -9 "$zk" 2>/dev/null; wait "$zk" 2>/dev/null; rm -rf "$dir""#
            ))
            .arg("zookeeper-wrapper")
            .arg(self.dir.path())
            .args([
                "-Xms32m",
                "-Xmx256m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-Djute.maxbuffer=4194304",
                "-Dzookeeper.admin.enableServer=false",
                "-cp",
                CLASSPATH,
                "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            ])
            .arg(&self.config)
            .current_dir(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(log_err)
            .process_group(0)
            .spawn()
            .map_err(|e| Error::Backend(format!("cannot start zookeeper (sh/java): {e}")))?;
        self.child = Some(child);
        Ok(())
    }

    fn wait_serving(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if self
                .answers("srvr")
                .is_some_and(|s| s.contains("Mode: standalone"))
            {
                return Ok(());
            }
            let exited = match self.child.as_mut() {
                Some(child) => child.try_wait().ok().flatten().is_some(),
                None => true,
            };
            if exited || Instant::now() > deadline {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                self.stop();
                return Err(Error::Backend(format!(
                    "zookeeper on port {} did not start ({}); log tail:\n{}",
                    self.port,
                    if exited { "it exited" } else { "timed out" },
                    tail.join("\n")
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends a four-letter command; `None` if the server does not answer.
    fn answers(&self, command: &str) -> Option<String> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        stream.write_all(command.as_bytes()).ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        (!answer.is_empty()).then_some(answer)
    }
}

impl Drop for TestZk {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Skips the calling test loudly: prints [`SKIP_MESSAGE`] straight to stderr (past the test
/// harness's capture) and leaves a marker file under `<target>/strata-tests-skipped/`, which
/// `scripts/test.sh` lists in its summary. With `CI=true` (or `1`) it panics instead: CI must
/// run these tests.
pub fn skip() {
    let test = std::thread::current()
        .name()
        .unwrap_or("strata-store test")
        .to_string();
    if on_ci() {
        panic!("{SKIP_MESSAGE} — CI=true, so {test} fails instead of skipping");
    }
    let _ = writeln!(std::io::stderr(), "\n{SKIP_MESSAGE}: {test}\n");
    let dir = target_dir().join("strata-tests-skipped");
    if std::fs::create_dir_all(&dir).is_ok() {
        let file = dir.join(format!(
            "strata-store-{}",
            test.replace(['/', ':', ' '], "_")
        ));
        let _ = std::fs::write(file, format!("strata-store {test}: {SKIP_MESSAGE}\n"));
    }
}

fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// `$CARGO_TARGET_DIR` (relative to the workspace root) or `<workspace>/target`.
fn target_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf();
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    }
}

fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}
