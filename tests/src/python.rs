//! Runs the pymesos scenario scripts of `tests/python/` against a [`TestCluster`].
//!
//! A scenario prints progress lines (e.g. `RUNNING <agent_id> <task_id>`) and, last, one JSON
//! line with its result; it exits 0 on success. Its stderr (pymesos's log) goes to
//! `scenario-<name>-<n>.log` in the cluster directory, so a failing test prints it with the
//! cluster's logs.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{paths, TestCluster};

/// Seconds a scenario may take, passed as its `--timeout`; the runner waits a little longer.
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;

/// A scenario script running in the background.
#[derive(Debug)]
pub struct ScenarioRun {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stdout: Vec<String>,
    stderr_log: std::path::PathBuf,
    deadline: Instant,
}

/// What a finished scenario produced.
#[derive(Debug)]
pub struct ScenarioOutcome {
    /// The scenario name.
    pub name: String,
    /// Its exit status.
    pub status: ExitStatus,
    /// Every stdout line.
    pub stdout: Vec<String>,
    /// Its stderr (pymesos's log and the scenario's progress).
    pub stderr: String,
    /// The last stdout line, parsed, if it is JSON.
    pub result: Option<Value>,
}

impl ScenarioRun {
    /// Starts `tests/python/pymesos_scenarios.py --scenario <scenario> --master <cluster>` with
    /// the venv's `python` and `extra` arguments.
    pub fn spawn(
        python: &Path,
        cluster: &TestCluster,
        scenario: &str,
        extra: &[&str],
    ) -> ScenarioRun {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let script = paths::python_script("pymesos_scenarios.py");
        let stderr_log = cluster.dir().join(format!(
            "scenario-{scenario}-{}.log",
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let stderr = fs::File::create(&stderr_log).expect("create the scenario log");
        let timeout = DEFAULT_TIMEOUT_SECS.to_string();
        let mut child = Command::new(python)
            .arg(&script)
            .args([
                "--scenario",
                scenario,
                "--master",
                &cluster.master_addr(),
                "--timeout",
                &timeout,
            ])
            .args(extra)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {} {}: {e}", python.display(), script.display())
            });
        let stdout = child.stdout.take().expect("piped stdout");
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        ScenarioRun {
            name: scenario.to_string(),
            child,
            stdin,
            lines,
            stdout: Vec::new(),
            stderr_log,
            // The script enforces DEFAULT_TIMEOUT_SECS itself; its watchdog adds 15 s on top.
            deadline: Instant::now() + Duration::from_secs(DEFAULT_TIMEOUT_SECS + 30),
        }
    }

    /// Waits for a stdout line starting with `prefix` and returns it. Panics with the
    /// scenario's output if the script exits or `timeout` passes first.
    pub fn wait_line(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stdout.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "scenario {} printed no {prefix:?} line within {timeout:?}\n{}",
                        self.name,
                        self.describe()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let _ = self.child.wait();
                    panic!(
                        "scenario {} exited before printing a {prefix:?} line\n{}",
                        self.name,
                        self.describe()
                    )
                }
            }
        }
    }

    /// Writes one line to the scenario's stdin.
    pub fn send_line(&mut self, line: &str) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = writeln!(stdin, "{line}");
            let _ = stdin.flush();
        }
    }

    fn describe(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ({}) ---\n{}",
            self.stdout.join("\n"),
            self.stderr_log.display(),
            fs::read_to_string(&self.stderr_log).unwrap_or_default()
        )
    }

    /// Waits for the script to exit (killing it past its deadline) and collects its output.
    pub fn finish(mut self) -> ScenarioOutcome {
        drop(self.stdin.take());
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for the scenario") {
                break status;
            }
            if Instant::now() >= self.deadline {
                let _ = self.child.kill();
                let status = self.child.wait().expect("wait for the killed scenario");
                self.stdout.push(format!("<killed by the test runner: still running after {DEFAULT_TIMEOUT_SECS} s + 30 s>"));
                break status;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // The reader thread ends at EOF, which follows the exit.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.stdout.push(line);
        }
        let result = self
            .stdout
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| serde_json::from_str::<Value>(l).ok())
            .filter(Value::is_object);
        ScenarioOutcome {
            name: self.name.clone(),
            status,
            stdout: std::mem::take(&mut self.stdout),
            stderr: fs::read_to_string(&self.stderr_log).unwrap_or_default(),
            result,
        }
    }
}

impl Drop for ScenarioRun {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl ScenarioOutcome {
    fn describe(&self) -> String {
        format!(
            "scenario {} exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.name,
            self.status,
            self.stdout.join("\n"),
            self.stderr
        )
    }

    /// Asserts exit status 0 and `"ok": true`; returns the result JSON.
    pub fn assert_ok(&self) -> &Value {
        let Some(result) = &self.result else {
            panic!(
                "scenario {} printed no JSON result line\n{}",
                self.name,
                self.describe()
            );
        };
        if !self.status.success() || result["ok"] != Value::Bool(true) {
            panic!(
                "scenario {} failed: {}\n{}",
                self.name,
                result["error"].as_str().unwrap_or("(no error field)"),
                self.describe()
            );
        }
        result
    }
}

/// Runs a scenario to completion.
pub fn run_scenario(
    python: &Path,
    cluster: &TestCluster,
    scenario: &str,
    extra: &[&str],
) -> ScenarioOutcome {
    ScenarioRun::spawn(python, cluster, scenario, extra).finish()
}
