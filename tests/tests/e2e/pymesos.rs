//! A real third-party framework: pymesos's `MesosSchedulerDriver` (and `MesosExecutorDriver`)
//! against a real cluster. The scenarios are in `tests/python/pymesos_scenarios.py`.

use std::time::Duration;

use serde_json::Value;
use strata_tests::python::{run_scenario, ScenarioRun};
use strata_tests::{http, prereq, TestCluster};

fn states(result: &Value, task: &str) -> Vec<String> {
    result["tasks"][task]
        .as_array()
        .or_else(|| result["tasks"][task]["states"].as_array())
        .unwrap_or_else(|| panic!("no states for task {task} in {result}"))
        .iter()
        .map(|s| s.as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn launch_runs_command_tasks_to_completion() {
    let Some(python) = prereq::python("pymesos::launch_runs_command_tasks_to_completion") else {
        return;
    };
    let cluster = TestCluster::start(2);
    let outcome = run_scenario(&python, &cluster, "launch", &["--tasks", "5"]);
    let result = outcome.assert_ok();

    let tasks = result["tasks"].as_object().expect("tasks object");
    assert_eq!(tasks.len(), 5, "{result}");
    for task in tasks.keys() {
        let seen = states(result, task);
        assert!(
            seen.contains(&"TASK_RUNNING".to_string())
                && seen.last().map(String::as_str) == Some("TASK_FINISHED"),
            "{task}: {seen:?}"
        );
    }
    let failed = result["failed_task"]
        .as_object()
        .expect("failed_task object");
    let (_, seen) = failed.iter().next().expect("one failing task");
    assert_eq!(
        seen.as_array().and_then(|s| s.last()),
        Some(&Value::from("TASK_FAILED")),
        "exit 3: {seen}"
    );

    // Each task's stdout is in its sandbox under some agent's work dir.
    let stdouts: Vec<String> = (0..cluster.agent_count())
        .flat_map(|i| cluster.find_agent_files(i, "stdout"))
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect();
    for i in 0..5 {
        let want = format!("hello-{i}");
        assert!(
            stdouts.iter().any(|s| s.lines().any(|l| l.trim() == want)),
            "no sandbox stdout file under the agents' work dirs contains {want:?} ({} stdout files)",
            stdouts.len()
        );
    }
}

#[test]
fn sandbox_files_are_served_by_the_agent() {
    let Some(python) = prereq::python("pymesos::sandbox_files_are_served_by_the_agent") else {
        return;
    };
    let cluster = TestCluster::start(1);
    run_scenario(&python, &cluster, "launch", &["--tasks", "1"]).assert_ok();

    let stdout = cluster
        .find_agent_files(0, "stdout")
        .into_iter()
        .find(|p| std::fs::read_to_string(p).is_ok_and(|s| s.contains("hello-0")))
        .expect("a sandbox stdout with hello-0 under the agent's work dir");
    let sandbox = stdout.parent().expect("sandbox dir").display().to_string();
    let addr = cluster.agent_addr(0);

    let read = http::get_json(
        &addr,
        &format!(
            "/files/read?path={}&offset=0&length=4096",
            encode(&stdout.display().to_string())
        ),
    );
    let data = read["data"]
        .as_str()
        .unwrap_or_else(|| panic!("/files/read has no string `data`: {read}"));
    assert!(
        data.contains("hello-0"),
        "/files/read of {} returned {read}",
        stdout.display()
    );

    let browse = http::get_json(&addr, &format!("/files/browse?path={}", encode(&sandbox)));
    let entries = browse
        .as_array()
        .unwrap_or_else(|| panic!("/files/browse should return an array: {browse}"));
    assert!(
        entries
            .iter()
            .any(|e| e["path"].as_str().is_some_and(|p| p.ends_with("/stdout"))),
        "/files/browse of {sandbox} lists no stdout: {browse}"
    );
}

/// Percent-encodes a path for a query string.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn kill_task_reports_killed() {
    let Some(python) = prereq::python("pymesos::kill_task_reports_killed") else {
        return;
    };
    let cluster = TestCluster::start(1);
    let outcome = run_scenario(&python, &cluster, "kill", &[]);
    let result = outcome.assert_ok();
    let (task, _) = result["tasks"]
        .as_object()
        .and_then(|t| t.iter().next())
        .expect("one task");
    let seen = states(result, task);
    assert!(seen.contains(&"TASK_RUNNING".to_string()), "{seen:?}");
    assert_eq!(
        seen.last().map(String::as_str),
        Some("TASK_KILLED"),
        "{seen:?}"
    );
}

#[test]
fn failover_resubscribes_and_reconciles_running_tasks() {
    let Some(python) =
        prereq::python("pymesos::failover_resubscribes_and_reconciles_running_tasks")
    else {
        return;
    };
    let mut cluster = TestCluster::start(1);
    let outcome = run_scenario(&python, &cluster, "failover", &[]);
    let result = outcome.assert_ok();
    let framework_id = result["framework_id"].as_str().expect("framework_id");
    assert!(
        outcome
            .stdout
            .iter()
            .any(|l| l == &format!("FRAMEWORK_ID {framework_id}")),
        "{:?}",
        outcome.stdout
    );
    let tasks = result["tasks"].as_object().expect("tasks");
    assert_eq!(tasks.len(), 2, "{result}");
    for task in tasks.keys() {
        let seen = states(result, task);
        assert_eq!(
            seen.first().map(String::as_str),
            Some("TASK_RUNNING"),
            "reconciled first: {seen:?}"
        );
        assert_eq!(
            seen.last().map(String::as_str),
            Some("TASK_KILLED"),
            "{seen:?}"
        );
    }
    // The framework tore down at the end: nothing of it runs any more.
    cluster.wait_for(
        "master/tasks_running back to 0",
        Duration::from_secs(10),
        |c| (c.metrics()["master/tasks_running"].as_f64() == Some(0.0)).then_some(()),
    );
}

#[test]
fn custom_pymesos_executor_runs_tasks() {
    let Some(python) = prereq::python("pymesos::custom_pymesos_executor_runs_tasks") else {
        return;
    };
    let cluster = TestCluster::start(1);
    let python_arg = python.display().to_string();
    let outcome = run_scenario(
        &python,
        &cluster,
        "executor",
        &["--tasks", "2", "--executor-python", &python_arg],
    );
    let result = outcome.assert_ok();
    let tasks = result["tasks"].as_object().expect("tasks");
    assert_eq!(tasks.len(), 2, "{result}");
    for (task, detail) in tasks {
        assert_eq!(detail["source"], "SOURCE_EXECUTOR", "{task}: {detail}");
        assert_eq!(
            detail["data"]["task_data"],
            format!("payload-{task}").as_str(),
            "{task}: {detail}"
        );
    }
}

#[test]
fn killed_agent_is_lost_and_its_task_reported() {
    let Some(python) = prereq::python("pymesos::killed_agent_is_lost_and_its_task_reported") else {
        return;
    };
    let mut cluster = TestCluster::start(2);
    let doomed = cluster.agent_id(1);
    let mut run = ScenarioRun::spawn(&python, &cluster, "agent_lost", &["--agent-id", &doomed]);
    let line = run.wait_line("RUNNING ", Duration::from_secs(45));
    assert_eq!(
        line.split_whitespace().nth(1),
        Some(doomed.as_str()),
        "task should run on agent 1: {line}"
    );

    cluster.kill_agent(1);
    let outcome = run.finish();
    let result = outcome.assert_ok();
    let (task, _) = result["tasks"]
        .as_object()
        .and_then(|t| t.iter().next())
        .expect("one task");
    let seen = states(result, task);
    assert!(
        matches!(
            seen.last().map(String::as_str),
            Some("TASK_LOST" | "TASK_UNREACHABLE" | "TASK_GONE")
        ),
        "{seen:?}"
    );

    cluster.wait_for(
        "the killed agent to be inactive or gone and slaves_active == 1",
        Duration::from_secs(15),
        |c| {
            let state = c.master_state();
            let still_active = state["slaves"].as_array().is_some_and(|ss| {
                ss.iter()
                    .any(|s| s["id"] == doomed.as_str() && s["active"] == Value::Bool(true))
            });
            let active = c.metrics()["master/slaves_active"].as_f64();
            (!still_active && active == Some(1.0)).then_some(())
        },
    );
}
