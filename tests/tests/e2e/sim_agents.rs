//! `strata bench sim-agents` against a real master: simulated agents register over the real
//! agent link (several per HTTP/2 connection), are offered to a framework, report the tasks it
//! launches running, and report the tasks it kills killed.
//!
//! The framework is written here over the public v1 scheduler API in plain HTTP and JSON
//! (SUBSCRIBE's RecordIO stream read on a thread; calls as separate requests), so the test
//! sees the cluster exactly as a third-party framework does. The UI benchmark at scale
//! (`ui::ui_scale_bench`) launches its tasks with it too.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use strata_tests::{http, paths, ClusterConfig, TestCluster};

const AGENTS: usize = 50;
const TASKS: usize = 20;
const KILLED: usize = 5;
const TIMEOUT: Duration = Duration::from_secs(60);

/// A child process killed when the test ends, however it ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// === a minimal v1 scheduler ===

/// Where a subscribed framework's calls go; clones make calls from other threads.
#[derive(Clone)]
pub(crate) struct Caller {
    addr: String,
    stream_id: String,
    id: String,
}

impl Caller {
    /// Makes a call (its `framework_id` filled in), which must be accepted (202).
    pub(crate) fn call(&self, mut body: Value) {
        body["framework_id"] = json!({"value": self.id});
        let resp = http::post_json(
            &self.addr,
            "/api/v1/scheduler",
            &[("Mesos-Stream-Id", &self.stream_id)],
            body.to_string().as_bytes(),
        )
        .expect("a scheduler call");
        assert_eq!(resp.status, 202, "{body}: {}", resp.text());
    }
}

/// The ACKNOWLEDGE call for an UPDATE event (none when the update needs none), with the
/// update's task id and state.
pub(crate) fn acknowledgement(update: &Value) -> (Option<Value>, String, String) {
    let status = &update["update"]["status"];
    let task = status["task_id"]["value"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let state = status["state"].as_str().unwrap_or("").to_string();
    let call = status["uuid"].as_str().map(|uuid| {
        json!({"type": "ACKNOWLEDGE", "acknowledge": {
            "agent_id": status["agent_id"], "task_id": {"value": task}, "uuid": uuid}})
    });
    (call, task, state)
}

/// A subscribed framework: its calls and the events of its stream.
pub(crate) struct Framework {
    pub(crate) caller: Caller,
    events: mpsc::Receiver<Value>,
}

/// Reads one CRLF-terminated line.
fn line(r: &mut impl BufRead) -> String {
    let mut s = String::new();
    r.read_line(&mut s).expect("read from the scheduler stream");
    s.trim_end().to_string()
}

/// Decodes a chunked body of RecordIO-framed JSON records into `tx` until the stream ends.
fn read_records(mut r: BufReader<TcpStream>, tx: mpsc::Sender<Value>) {
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let size = line(&mut r);
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            return;
        };
        if size == 0 {
            return;
        }
        let mut chunk = vec![0u8; size];
        if r.read_exact(&mut chunk).is_err() {
            return;
        }
        line(&mut r);
        pending.extend_from_slice(&chunk);
        // RecordIO: "<length>\n<record>".
        while let Some(nl) = pending.iter().position(|b| *b == b'\n') {
            let len: usize = std::str::from_utf8(&pending[..nl])
                .ok()
                .and_then(|s| s.parse().ok())
                .expect("a RecordIO length");
            if pending.len() < nl + 1 + len {
                break;
            }
            let record: Vec<u8> = pending.drain(..nl + 1 + len).skip(nl + 1).collect();
            let event: Value = serde_json::from_slice(&record).expect("a JSON event");
            if tx.send(event).is_err() {
                return;
            }
        }
    }
}

impl Framework {
    pub(crate) fn subscribe(addr: &str, name: &str) -> Framework {
        let body = json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {
            "user": "root", "name": name, "failover_timeout": 0.0}}})
        .to_string();
        let mut socket = TcpStream::connect(addr).expect("connect to the master");
        write!(
            socket,
            "POST /api/v1/scheduler HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Accept: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("send SUBSCRIBE");
        let mut reader = BufReader::new(socket);
        let status = line(&mut reader);
        assert!(status.contains(" 200 "), "SUBSCRIBE answered {status}");
        let mut stream_id = String::new();
        loop {
            let header = line(&mut reader);
            if header.is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':') {
                if k.eq_ignore_ascii_case("mesos-stream-id") {
                    stream_id = v.trim().to_string();
                }
            }
        }
        assert!(!stream_id.is_empty(), "no Mesos-Stream-Id");
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || read_records(reader, tx));
        let mut fw = Framework {
            caller: Caller {
                addr: addr.to_string(),
                stream_id,
                id: String::new(),
            },
            events,
        };
        let subscribed = fw.next_of("SUBSCRIBED");
        fw.caller.id = subscribed["subscribed"]["framework_id"]["value"]
            .as_str()
            .expect("a framework id")
            .to_string();
        fw
    }

    /// The next event, or a panic after [`TIMEOUT`].
    pub(crate) fn next(&self) -> Value {
        self.events
            .recv_timeout(TIMEOUT)
            .expect("an event from the master within the timeout")
    }

    /// The next event of `kind`, skipping heartbeats and others.
    fn next_of(&self, kind: &str) -> Value {
        loop {
            let ev = self.next();
            if ev["type"] == kind {
                return ev;
            }
        }
    }

    pub(crate) fn call(&self, body: Value) {
        self.caller.call(body);
    }

    /// Acknowledges an update; returns (task id, state).
    fn acknowledge(&self, update: &Value) -> (String, String) {
        let (call, task, state) = acknowledgement(update);
        if let Some(call) = call {
            self.call(call);
        }
        (task, state)
    }

    /// Reads updates (acknowledging each) until every task in `want` reached `state`.
    fn await_states(&self, want: &BTreeSet<String>, state: &str) -> BTreeMap<String, Vec<String>> {
        let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let deadline = Instant::now() + TIMEOUT;
        while !want
            .iter()
            .all(|t| seen.get(t).is_some_and(|s| s.iter().any(|x| x == state)))
        {
            assert!(
                Instant::now() < deadline,
                "not every task reached {state}: {seen:?}"
            );
            let ev = self.next();
            if ev["type"] == "UPDATE" {
                let (task, st) = self.acknowledge(&ev);
                seen.entry(task).or_default().push(st);
            }
        }
        seen
    }
}

pub(crate) fn scalar(name: &str, value: f64) -> Value {
    json!({"name": name, "type": "SCALAR", "scalar": {"value": value}})
}

// === the test ===

#[test]
fn simulated_agents_register_run_and_kill_tasks() {
    let mut cluster = TestCluster::start_with(ClusterConfig::new(0));
    let addr = cluster.master_addr();
    let log = cluster.dir().join("sim-agents.err.log");
    let child = Command::new(paths::strata_bin())
        .args(["bench", "sim-agents", "--master", &addr])
        .args([
            "--agents",
            &AGENTS.to_string(),
            "--agents-per-connection",
            "10",
        ])
        .args([
            "--resources",
            "cpus:2;mem:2048;disk:1000;ports:[31000-31100]",
        ])
        .args(["--hostname-prefix", "e2e-sim-"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("create the sim-agents log"))
        .spawn()
        .expect("run strata bench sim-agents");
    let mut sim = KillOnDrop(child);
    let stdout = sim.0.stdout.take().expect("piped");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let registered = loop {
        match lines.recv_timeout(TIMEOUT) {
            Ok(l) if l.starts_with("REGISTERED") => break l,
            Ok(_) => {}
            Err(e) => panic!(
                "the simulated agents did not all register ({e}): {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            ),
        }
    };
    assert_eq!(
        registered.split_whitespace().nth(1),
        Some("50"),
        "{registered}"
    );

    // The master sees fifty distinct, active agents with their attributes.
    let slaves = http::get_json(&addr, "/master/slaves");
    let slaves = slaves["slaves"].as_array().expect("slaves");
    assert_eq!(slaves.len(), AGENTS, "{slaves:?}");
    let hostnames: BTreeSet<&str> = slaves
        .iter()
        .filter(|s| s["active"] == true)
        .filter_map(|s| s["hostname"].as_str())
        .collect();
    let expected: BTreeSet<String> = (0..AGENTS).map(|i| format!("e2e-sim-{i}")).collect();
    assert_eq!(
        hostnames,
        expected.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );
    assert_eq!(slaves[0]["attributes"]["sim"], "true", "{}", slaves[0]);
    assert!(slaves[0]["attributes"]["rack"].is_string(), "{}", slaves[0]);
    let agent_ids: BTreeSet<String> = slaves
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(agent_ids.len(), AGENTS);

    // A framework launches two tasks on each of ten agents and declines the rest.
    let fw = Framework::subscribe(&addr, "sim-e2e");
    let mut launched: HashMap<String, String> = HashMap::new();
    let mut offered_agents = BTreeSet::new();
    while launched.len() < TASKS {
        let ev = fw.next_of("OFFERS");
        for offer in ev["offers"]["offers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let agent = offer["agent_id"]["value"]
                .as_str()
                .unwrap_or("")
                .to_string();
            offered_agents.insert(agent.clone());
            let oid = offer["id"].clone();
            if launched.len() >= TASKS {
                fw.call(json!({"type": "DECLINE", "decline": {
                    "offer_ids": [oid], "filters": {"refuse_seconds": 3600.0}}}));
                continue;
            }
            let tasks: Vec<Value> = (0..2)
                .map(|k| {
                    let id = format!("sim-task-{}", launched.len() + k);
                    json!({"name": id, "task_id": {"value": id}, "agent_id": {"value": agent},
                           "resources": [scalar("cpus", 0.5), scalar("mem", 64.0)],
                           "command": {"value": "sleep 1000"}})
                })
                .collect();
            for t in &tasks {
                launched.insert(
                    t["task_id"]["value"].as_str().unwrap_or("").to_string(),
                    agent.clone(),
                );
            }
            fw.call(json!({"type": "ACCEPT", "accept": {"offer_ids": [oid],
                "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}],
                "filters": {"refuse_seconds": 3600.0}}}));
        }
    }
    assert!(
        offered_agents.iter().all(|a| agent_ids.contains(a)),
        "offers name the simulated agents"
    );
    let ids: BTreeSet<String> = launched.keys().cloned().collect();
    let seen = fw.await_states(&ids, "TASK_RUNNING");
    for (task, states) in &seen {
        assert_eq!(
            states.first().map(String::as_str),
            Some("TASK_STARTING"),
            "{task}: {states:?}"
        );
    }

    // The master shows them running on the simulated agents.
    let tasks = http::get_json(&addr, "/master/tasks");
    let running: Vec<&Value> = tasks["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter(|t| t["state"] == "TASK_RUNNING")
        .collect();
    assert_eq!(running.len(), TASKS, "{tasks}");
    for t in &running {
        let id = t["id"].as_str().unwrap_or("");
        assert_eq!(
            t["slave_id"].as_str(),
            launched.get(id).map(String::as_str),
            "{t}"
        );
    }
    let page = http::get_json(&addr, "/api/v1/ui/agents?q=e2e-sim-4&limit=5");
    assert_eq!(page["total"], 11, "e2e-sim-4 and e2e-sim-40..49: {page}");

    // Killing tasks: the simulated agents answer TASK_KILLED, and resources come back.
    let victims: BTreeSet<String> = ids.iter().take(KILLED).cloned().collect();
    for t in &victims {
        fw.call(json!({"type": "KILL", "kill": {
            "task_id": {"value": t}, "agent_id": {"value": launched[t]}}}));
    }
    fw.await_states(&victims, "TASK_KILLED");
    let tasks = http::get_json(&addr, "/master/tasks");
    let state_of = |id: &str| {
        tasks["tasks"]
            .as_array()
            .and_then(|a| a.iter().find(|t| t["id"] == id))
            .map(|t| t["state"].as_str().unwrap_or("").to_string())
    };
    for t in &ids {
        let want = if victims.contains(t) {
            "TASK_KILLED"
        } else {
            "TASK_RUNNING"
        };
        // An acknowledged terminal task may already be gone from /master/tasks.
        let got = state_of(t);
        assert!(
            got.as_deref() == Some(want) || (want == "TASK_KILLED" && got.is_none()),
            "{t}: {got:?}, want {want}"
        );
    }
    fw.call(json!({"type": "TEARDOWN"}));
    cluster.check_alive();
    assert!(
        sim.0.try_wait().expect("poll sim-agents").is_none(),
        "sim-agents exited: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}
