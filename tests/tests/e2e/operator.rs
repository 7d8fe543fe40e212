//! Operator endpoints over plain HTTP: the shapes that operators, UIs and CLIs read.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use strata_tests::python::ScenarioRun;
use strata_tests::{http, prereq, TestCluster};

use crate::number;

#[test]
fn master_endpoints_describe_an_idle_cluster() {
    let mut cluster = TestCluster::start(2);
    let addr = cluster.master_addr();

    let health = http::get(&addr, "/health").expect("GET /health");
    assert_eq!(health.status, 200, "GET /health: {}", health.text());

    // pymesos parses the version as `tuple(int(n) for n in version.split('.'))`.
    let version = http::get_json(&addr, "/version");
    let v = version["version"]
        .as_str()
        .unwrap_or_else(|| panic!("/version has no string `version`: {version}"));
    let parts: Vec<&str> = v.split('.').collect();
    assert!(
        parts.len() >= 2
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
        "/version must be purely numeric and dotted (pymesos int()s each part), got {v:?}"
    );

    let state = cluster.master_state();
    let slaves = state["slaves"]
        .as_array()
        .unwrap_or_else(|| panic!("/master/state has no `slaves` array: {state}"));
    assert_eq!(slaves.len(), 2, "two agents registered: {state}");
    let mut ids = BTreeSet::new();
    for slave in slaves {
        let id = slave["id"]
            .as_str()
            .unwrap_or_else(|| panic!("slave without string `id`: {slave}"));
        assert!(!id.is_empty(), "empty slave id: {slave}");
        ids.insert(id.to_string());
        assert!(
            slave["hostname"].is_string(),
            "slave without `hostname`: {slave}"
        );
        assert_eq!(
            slave["active"],
            Value::Bool(true),
            "slave not active: {slave}"
        );
        let resources = &slave["resources"];
        assert_eq!(
            number(&resources["cpus"], "slaves[].resources.cpus"),
            4.0,
            "{slave}"
        );
        assert_eq!(
            number(&resources["mem"], "slaves[].resources.mem"),
            4096.0,
            "{slave}"
        );
        assert_eq!(
            number(&resources["disk"], "slaves[].resources.disk"),
            10000.0,
            "{slave}"
        );
    }
    assert_eq!(ids.len(), 2, "slave ids are distinct: {ids:?}");
    assert!(
        state["frameworks"].is_array(),
        "/master/state has no `frameworks` array: {state}"
    );

    // Each agent reports the id the master knows it by, and how it isolates tasks.
    let mut agent_ids = BTreeSet::new();
    for i in 0..2 {
        let agent = cluster.agent_state(i);
        agent_ids.insert(
            agent["id"]
                .as_str()
                .unwrap_or_else(|| panic!("agent {i} /state has no `id`: {agent}"))
                .to_string(),
        );
        assert!(
            !agent["isolation"].is_null(),
            "agent {i} /state has no `isolation`: {agent}"
        );
    }
    assert_eq!(agent_ids, ids, "agents' own ids match /master/state");

    let slaves = http::get_json(&addr, "/master/slaves");
    assert_eq!(
        slaves["slaves"].as_array().map(Vec::len),
        Some(2),
        "/master/slaves: {slaves}"
    );
    let frameworks = http::get_json(&addr, "/master/frameworks");
    assert!(
        frameworks["frameworks"].is_array(),
        "/master/frameworks: {frameworks}"
    );

    let metrics = cluster.metrics();
    assert_eq!(
        number(&metrics["master/slaves_active"], "master/slaves_active"),
        2.0,
        "{metrics}"
    );
    for key in ["master/tasks_running", "master/outstanding_offers"] {
        number(&metrics[key], key);
    }
}

#[test]
fn master_state_shows_a_running_task() {
    let Some(python) = prereq::python("operator::master_state_shows_a_running_task") else {
        return;
    };
    let mut cluster = TestCluster::start(1);
    let agent_id = cluster.agent_id(0);
    let mut run = ScenarioRun::spawn(&python, &cluster, "hold", &["--task-mem", "64"]);
    let line = run.wait_line("RUNNING ", Duration::from_secs(45));
    let task_id = line
        .split_whitespace()
        .nth(2)
        .expect("RUNNING <agent> <task>")
        .to_string();

    let state = cluster.master_state();
    let framework = state["frameworks"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["name"] == "strata-e2e-hold"))
        .unwrap_or_else(|| {
            panic!("framework strata-e2e-hold not in /master/state frameworks: {state}")
        })
        .clone();
    assert!(
        framework["id"].is_string(),
        "framework without `id`: {framework}"
    );
    let task = framework["tasks"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["id"] == task_id.as_str()))
        .unwrap_or_else(|| panic!("task {task_id} not in the framework's `tasks`: {framework}"));
    assert_eq!(task["state"], "TASK_RUNNING", "{task}");
    assert_eq!(task["slave_id"], agent_id.as_str(), "{task}");
    assert!(
        framework["offers"].is_array(),
        "framework without an `offers` array: {framework}"
    );
    let metrics = cluster.metrics();
    assert_eq!(
        number(&metrics["master/tasks_running"], "master/tasks_running"),
        1.0,
        "{metrics}"
    );

    run.send_line("release");
    run.finish().assert_ok();
    cluster.wait_for(
        "master/tasks_running back to 0",
        Duration::from_secs(10),
        |c| (c.metrics()["master/tasks_running"].as_f64() == Some(0.0)).then_some(()),
    );
}
