//! Agent recovery: `kill -9` of an agent with running tasks, then a restart
//! with the same work dir. The tasks keep running, the master never declares
//! them lost, and the framework can still kill them through the recovered
//! executors.

use std::time::Duration;

use serde_json::Value;
use strata_tests::cluster::{ClusterConfig, TestCluster};
use strata_tests::prereq;
use strata_tests::python::ScenarioRun;

fn task_state(state: &Value, task_id: &str) -> Option<String> {
    state["frameworks"].as_array()?.iter().find_map(|f| {
        f["tasks"].as_array()?.iter().find_map(|t| {
            (t["id"] == task_id).then(|| t["state"].as_str().unwrap_or_default().to_string())
        })
    })
}

#[test]
fn a_restarted_agent_keeps_its_tasks_running() {
    let Some(python) = prereq::python("recovery::a_restarted_agent_keeps_its_tasks_running") else {
        return;
    };
    // A generous unreachable window: the restart must happen inside it.
    let mut config = ClusterConfig::new(1);
    config.agent_ping_timeout = "2secs".into();
    config.max_agent_ping_timeouts = 10;
    let mut cluster = TestCluster::start_with(config);
    let agent_id = cluster.agent_id(0);

    let mut run = ScenarioRun::spawn(&python, &cluster, "hold", &[]);
    let line = run.wait_line("RUNNING ", Duration::from_secs(45));
    let task_id = line
        .split_whitespace()
        .nth(2)
        .expect("RUNNING <agent> <task>")
        .to_string();
    let executor_pid = |c: &mut TestCluster| -> Option<u64> {
        let state = c.agent_state(0);
        crate::objects_with_key(&state, "pid")
            .into_iter()
            .find_map(|e| e["pid"].as_u64())
    };
    let pid_before = cluster.wait_for(
        "the executor's pid in the agent's /state",
        Duration::from_secs(10),
        executor_pid,
    );

    cluster.kill_agent(0);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        std::path::Path::new(&format!("/proc/{pid_before}")).exists(),
        "the executor must survive the agent's death"
    );
    cluster.restart_agent(0);

    cluster.wait_for(
        "the agent to re-register with the same id",
        Duration::from_secs(20),
        |c| {
            let state = c.try_master_state()?;
            state["slaves"]
                .as_array()?
                .iter()
                .any(|s| s["id"] == agent_id.as_str() && s["active"] == Value::Bool(true))
                .then_some(())
        },
    );
    cluster.wait_for(
        "the executor to re-subscribe to the restarted agent",
        Duration::from_secs(20),
        |c| {
            let state = c.agent_state(0);
            let running = crate::objects_with_key(&state, "command_executor")
                .into_iter()
                .any(|e| e["state"] == "RUNNING" && e["pid"].as_u64() == Some(pid_before));
            running.then_some(())
        },
    );
    let state = cluster.master_state();
    assert_eq!(
        task_state(&state, &task_id).as_deref(),
        Some("TASK_RUNNING"),
        "{state}"
    );
    let metrics = cluster.metrics();
    assert_eq!(
        metrics["master/tasks_lost"].as_f64(),
        Some(0.0),
        "no task was declared lost"
    );
    assert_eq!(metrics["master/tasks_unreachable"].as_f64(), Some(0.0));

    // The framework still controls the task: the kill goes through the recovered executor.
    run.send_line("release");
    run.finish().assert_ok();
}

#[test]
fn a_restarted_master_with_the_embedded_store_gets_its_cluster_back() {
    let Some(python) = prereq::python(
        "recovery::a_restarted_master_with_the_embedded_store_gets_its_cluster_back",
    ) else {
        return;
    };
    let mut config = ClusterConfig::new(1);
    config.agent_ping_timeout = "2secs".into();
    config.max_agent_ping_timeouts = 10;
    let mut cluster = TestCluster::start_with(config);
    let agent_id = cluster.agent_id(0);
    let mut run = ScenarioRun::spawn(&python, &cluster, "hold", &[]);
    let line = run.wait_line("RUNNING ", Duration::from_secs(45));
    let task_id = line
        .split_whitespace()
        .nth(2)
        .expect("RUNNING <agent> <task>")
        .to_string();

    cluster.kill_master(0);
    cluster.restart_master(0);
    cluster.wait_for(
        "the agent and the framework to come back to the restarted master with the task running",
        Duration::from_secs(40),
        |c| {
            let state = c.try_master_state()?;
            let agent_back = state["slaves"]
                .as_array()?
                .iter()
                .any(|s| s["id"] == agent_id.as_str() && s["active"] == Value::Bool(true));
            let framework_back = state["frameworks"]
                .as_array()?
                .iter()
                .any(|f| f["connected"] == Value::Bool(true));
            (agent_back
                && framework_back
                && task_state(&state, &task_id).as_deref() == Some("TASK_RUNNING"))
            .then_some(())
        },
    );
    let metrics = cluster.metrics();
    assert_eq!(
        metrics["master/tasks_lost"].as_f64(),
        Some(0.0),
        "no task declared lost: {metrics}"
    );
    run.send_line("release");
    run.finish().assert_ok();
}
