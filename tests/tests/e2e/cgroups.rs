//! With `--isolation cgroups`, a task's memory limit is really set in the kernel.
//!
//! The agent names the file in its `/state`: every executor object carries
//! `cgroup_memory_limit_file` (v1 `memory.limit_in_bytes`, v2 `memory.max`).

use std::path::Path;
use std::time::{Duration, Instant};

use strata_tests::python::ScenarioRun;
use strata_tests::{prereq, ClusterConfig, TestCluster};

use crate::objects_with_key;

const TEST: &str = "cgroups::task_memory_limit_is_enforced_by_a_cgroup";
const TASK_MEM_MB: u64 = 96;

#[test]
fn task_memory_limit_is_enforced_by_a_cgroup() {
    let Some(kind) = prereq::require(TEST, prereq::cgroups_available()) else {
        return;
    };
    let Some(python) = prereq::python(TEST) else {
        return;
    };
    let mut cluster = TestCluster::start_with(ClusterConfig::new(1).isolation("cgroups"));

    let agent = cluster.agent_state(0);
    assert!(
        agent["isolation"]
            .to_string()
            .to_lowercase()
            .contains("cgroup"),
        "agent started with --isolation cgroups reports isolation {} (host has {kind:?})",
        agent["isolation"]
    );

    let mem = TASK_MEM_MB.to_string();
    let mut run = ScenarioRun::spawn(&python, &cluster, "hold", &["--task-mem", &mem]);
    let line = run.wait_line("RUNNING ", Duration::from_secs(45));
    let task_id = line
        .split_whitespace()
        .nth(2)
        .expect("RUNNING <agent> <task>")
        .to_string();

    // The agent may fill the field in a moment after TASK_RUNNING: poll briefly.
    let deadline = Instant::now() + Duration::from_secs(5);
    let file = loop {
        let state = cluster.agent_state(0);
        if let Some(file) = limit_file_for(&state, &task_id) {
            break file;
        }
        assert!(
            Instant::now() < deadline,
            "agent /state still has no string `cgroup_memory_limit_file` for the executor of \
             running task {task_id} after 5 s (null means the agent knows no cgroup for it): {state}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let file = file.as_str();
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("read {file}: {e}"));
    let limit: u64 = text.trim().parse().unwrap_or_else(|_| {
        panic!(
            "{file} should hold a byte limit, not {:?} (unlimited?)",
            text.trim()
        )
    });
    let task_bytes = TASK_MEM_MB * 1024 * 1024;
    // The container may add the executor's own allowance on top of the task's memory.
    assert!(
        (task_bytes..=task_bytes + 256 * 1024 * 1024).contains(&limit),
        "{file} = {limit} bytes; expected the task's {TASK_MEM_MB} MiB (+ at most 256 MiB executor overhead)"
    );
    let procs = Path::new(file).with_file_name("cgroup.procs");
    let pids =
        std::fs::read_to_string(&procs).unwrap_or_else(|e| panic!("read {}: {e}", procs.display()));
    assert!(
        !pids.trim().is_empty(),
        "no process in the task's cgroup ({})",
        procs.display()
    );

    run.send_line("release");
    run.finish().assert_ok();
}

/// The `cgroup_memory_limit_file` of the executor running `task_id`, if the agent names one.
///
/// Panics with the state if no executor object carries the field at all: then the agent does
/// not implement the contract, and waiting will not help.
fn limit_file_for(state: &serde_json::Value, task_id: &str) -> Option<String> {
    let executors = objects_with_key(state, "cgroup_memory_limit_file");
    assert!(
        !executors.is_empty(),
        "agent /state names no `cgroup_memory_limit_file` (expected on every executor object, e.g. \
         frameworks[].executors[].cgroup_memory_limit_file) while task {task_id} runs: {state}"
    );
    let executor = executors
        .iter()
        .find(|e| {
            serde_json::Value::Object((**e).clone())
                .to_string()
                .contains(task_id)
        })
        .or(if executors.len() == 1 {
            executors.first()
        } else {
            None
        })?;
    executor["cgroup_memory_limit_file"]
        .as_str()
        .map(str::to_string)
}
