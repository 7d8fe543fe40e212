//! High availability: three masters electing a leader through a real
//! ZooKeeper; a pymesos framework finds the leader from a `zk://` URL; the
//! leader is killed with SIGKILL while a task runs; a new leader takes over,
//! the agent and the framework follow it, and the task is neither lost nor
//! launched twice.

use std::time::Duration;

use serde_json::Value;
use strata_store::testing::TestZk;
use strata_tests::cluster::{ClusterConfig, TestCluster};
use strata_tests::prereq;
use strata_tests::python::ScenarioRun;

fn tasks_named(state: &Value, task_id: &str) -> Vec<String> {
    let mut out = Vec::new();
    for f in state["frameworks"].as_array().into_iter().flatten() {
        for t in f["tasks"].as_array().into_iter().flatten() {
            if t["id"] == task_id {
                out.push(t["state"].as_str().unwrap_or_default().to_string());
            }
        }
    }
    out
}

#[test]
fn leader_failover_keeps_tasks_running() {
    let Some(python) = prereq::python("ha::leader_failover_keeps_tasks_running") else {
        return;
    };
    let Some(zk) = TestZk::start_or_skip() else {
        return;
    };
    let url = zk.url_with_path("/strata");
    let mut config = ClusterConfig::new(1);
    config.masters = 3;
    config.zk = Some(url.clone());
    // The agent must re-register with the new leader inside this window.
    config.agent_ping_timeout = "2secs".into();
    config.max_agent_ping_timeouts = 10;
    let mut cluster = TestCluster::start_with(config);
    let first = cluster.leader_index().expect("a leader was elected");

    // pymesos finds the leader itself, from ZooKeeper (json.info_ znodes).
    let mut run = ScenarioRun::spawn(&python, &cluster, "hold", &["--master", &url]);
    let line = run.wait_line("RUNNING ", Duration::from_secs(45));
    let task_id = line
        .split_whitespace()
        .nth(2)
        .expect("RUNNING <agent> <task>")
        .to_string();

    cluster.kill_master(first);
    let second = cluster.wait_for("a new leader to be elected", Duration::from_secs(40), |c| {
        c.leader_index().filter(|i| *i != first)
    });
    assert_ne!(first, second);
    cluster.wait_for(
        "the agent and the framework to come back to the new leader with the task running",
        Duration::from_secs(40),
        |c| {
            let state = c.try_master_state()?;
            let agent_active = state["slaves"]
                .as_array()?
                .iter()
                .any(|s| s["active"] == Value::Bool(true));
            let connected = state["frameworks"]
                .as_array()?
                .iter()
                .any(|f| f["connected"] == Value::Bool(true));
            (agent_active && connected && tasks_named(&state, &task_id) == ["TASK_RUNNING"])
                .then_some(())
        },
    );
    let metrics = cluster.metrics();
    assert_eq!(
        metrics["master/tasks_lost"].as_f64(),
        Some(0.0),
        "no task declared lost: {metrics}"
    );

    // The framework still controls its task through the new leader.
    run.send_line("release");
    let outcome = run.finish();
    let result = outcome.assert_ok();
    let states: Vec<&str> = result["tasks"][&task_id]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        !states.contains(&"TASK_LOST"),
        "the framework never hears TASK_LOST: {states:?}"
    );
    assert_eq!(
        states.iter().filter(|s| **s == "TASK_RUNNING").count() >= 1,
        true
    );
    assert_eq!(states.last(), Some(&"TASK_KILLED"), "{states:?}");
    // Exactly one executor ever ran the task: it was not launched twice.
    let executors = cluster.find_agent_files(0, "stdout");
    assert_eq!(
        executors.len(),
        1,
        "one sandbox for the one task: {executors:?}"
    );
}
