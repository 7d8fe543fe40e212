//! Docker tasks through the whole stack: a pymesos framework launches busybox
//! httpd in a Docker container (BRIDGE network, a port mapping from the
//! task's ports); the host port answers; killing the task removes the
//! container. Needs a Docker engine and the locally built test image
//! (`scripts/build-test-images.sh`, run here if needed).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use strata_tests::cluster::TestCluster;
use strata_tests::paths::workspace_root;
use strata_tests::prereq;
use strata_tests::python::ScenarioRun;

const TEST: &str = "docker::a_docker_task_serves_on_its_host_port_and_is_removed_when_killed";

fn docker_ready() -> Result<(), String> {
    let info = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    match info {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            return Err(format!(
                "no Docker engine answers: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ))
        }
        Err(e) => return Err(format!("no docker command: {e}")),
    }
    let script = workspace_root().join("scripts/build-test-images.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .map_err(|e| format!("{}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}{}",
            script.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

fn http_get(port: u16) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

fn containers_for(task_id: &str) -> String {
    let out = Command::new("docker")
        .args([
            "ps",
            "-a",
            "-q",
            "--filter",
            &format!("label=strata.task_id={task_id}"),
        ])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_docker_task_serves_on_its_host_port_and_is_removed_when_killed() {
    let Some(python) = prereq::python(TEST) else {
        return;
    };
    if prereq::require(TEST, docker_ready()).is_none() {
        return;
    }
    let mut cluster = TestCluster::start(1);
    let state = cluster.agent_state(0);
    assert_eq!(
        state["docker"]["available"], true,
        "the agent found the Docker engine: {}",
        state["docker"]
    );

    let mut run = ScenarioRun::spawn(&python, &cluster, "docker", &[]);
    let line = run.wait_line("RUNNING ", Duration::from_secs(60));
    let mut parts = line.split_whitespace().skip(2);
    let task_id = parts.next().expect("task id").to_string();
    let port: u16 = parts
        .next()
        .and_then(|p| p.parse().ok())
        .expect("host port");

    let body = cluster.wait_for(
        "httpd to answer on the host port",
        Duration::from_secs(20),
        |_| http_get(port).ok().filter(|b| b.contains("200")),
    );
    assert!(body.contains("strata"), "the image's index page: {body}");
    assert!(
        !containers_for(&task_id).is_empty(),
        "a container is labelled with the task id"
    );

    run.send_line("release");
    let outcome = run.finish();
    outcome.assert_ok();
    cluster.wait_for(
        "the task's container to be removed",
        Duration::from_secs(20),
        |_| containers_for(&task_id).is_empty().then_some(()),
    );
}

#[test]
fn a_docker_task_survives_an_agent_restart() {
    const T: &str = "docker::a_docker_task_survives_an_agent_restart";
    let Some(python) = prereq::python(T) else {
        return;
    };
    if prereq::require(T, docker_ready()).is_none() {
        return;
    }
    let mut config = strata_tests::cluster::ClusterConfig::new(1);
    config.agent_ping_timeout = "2secs".into();
    config.max_agent_ping_timeouts = 10;
    let mut cluster = TestCluster::start_with(config);
    let mut run = ScenarioRun::spawn(&python, &cluster, "docker", &[]);
    let line = run.wait_line("RUNNING ", Duration::from_secs(60));
    let mut parts = line.split_whitespace().skip(2);
    let task_id = parts.next().expect("task id").to_string();
    let port: u16 = parts
        .next()
        .and_then(|p| p.parse().ok())
        .expect("host port");
    cluster.wait_for("httpd to answer", Duration::from_secs(20), |_| {
        http_get(port).ok().filter(|b| b.contains("200"))
    });

    // The agent measures the container.
    let stats = strata_tests::http::get_json(&cluster.agent_addr(0), "/monitor/statistics");
    let entry = stats
        .as_array()
        .and_then(|a| a.iter().find(|e| e["executor_id"] == task_id.as_str()))
        .unwrap_or_else(|| panic!("no statistics for {task_id}: {stats}"));
    assert!(
        entry["statistics"]["mem_rss_bytes"]
            .as_u64()
            .is_some_and(|b| b > 0),
        "{entry}"
    );

    cluster.kill_agent(0);
    assert!(
        http_get(port).is_ok_and(|b| b.contains("200")),
        "the container outlives the agent"
    );
    cluster.restart_agent(0);
    cluster.wait_for(
        "the restarted agent to re-register with the task running",
        Duration::from_secs(30),
        |c| {
            let state = c.try_master_state()?;
            let running = state["frameworks"].as_array()?.iter().any(|f| {
                f["tasks"].as_array().is_some_and(|ts| {
                    ts.iter()
                        .any(|t| t["id"] == task_id.as_str() && t["state"] == "TASK_RUNNING")
                })
            });
            let active = state["slaves"]
                .as_array()?
                .iter()
                .any(|s| s["active"] == serde_json::Value::Bool(true));
            (running && active).then_some(())
        },
    );
    assert_eq!(cluster.metrics()["master/tasks_lost"].as_f64(), Some(0.0));
    assert!(
        http_get(port).is_ok_and(|b| b.contains("200")),
        "still serving after the restart"
    );

    // The recovered task can still be killed, and its container goes away.
    run.send_line("release");
    run.finish().assert_ok();
    cluster.wait_for(
        "the task's container to be removed",
        Duration::from_secs(20),
        |_| containers_for(&task_id).is_empty().then_some(()),
    );
}

#[test]
fn a_docker_task_over_its_memory_limit_fails_with_the_memory_reason() {
    const T: &str = "docker::a_docker_task_over_its_memory_limit_fails_with_the_memory_reason";
    let Some(python) = prereq::python(T) else {
        return;
    };
    if prereq::require(T, docker_ready()).is_none() {
        return;
    }
    let cluster = TestCluster::start(1);
    let outcome =
        strata_tests::python::ScenarioRun::spawn(&python, &cluster, "docker_oom", &[]).finish();
    let result = outcome.assert_ok();
    assert_eq!(
        result["reason"], "REASON_CONTAINER_LIMITATION_MEMORY",
        "{result}"
    );
}
