//! Reservations and persistent volumes end to end, driven by the real pymesos: static
//! reservations from the agent's `--resources`, RESERVE / CREATE / DESTROY / UNRESERVE in
//! ACCEPT calls, a file that outlives the task that wrote it, and a dynamic reservation with
//! its volume that survives the master being killed with SIGKILL.

use std::time::Duration;

use serde_json::Value;
use strata_tests::cluster::{ClusterConfig, TestCluster};
use strata_tests::python::run_scenario;
use strata_tests::{http, prereq};

const PORTS: &str = "ports:[31000-32000]";

fn cluster_with(resources: &str) -> TestCluster {
    let mut config = ClusterConfig::new(1);
    config.agent_resources = format!("{resources};{PORTS}");
    TestCluster::start_with(config)
}

fn slave(cluster: &TestCluster) -> Value {
    let slaves = http::get_json(&cluster.master_addr(), "/master/slaves");
    slaves["slaves"][0].clone()
}

/// The persistence ids in an agent's `reserved_resources_full` for `role`.
fn volume_ids(slave: &Value, role: &str) -> Vec<String> {
    slave["reserved_resources_full"][role]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["disk"]["persistence"]["id"].as_str().map(str::to_owned))
        .collect()
}

fn volume_dir(cluster: &TestCluster, volume_id: &str) -> std::path::PathBuf {
    cluster
        .agent_work_dir(0)
        .join("volumes")
        .join("roles")
        .join("analytics")
        .join(volume_id)
}

#[test]
fn pymesos_reserves_creates_a_volume_that_outlives_its_task_and_cleans_up() {
    let Some(python) =
        prereq::python("reservations::pymesos_reserves_creates_a_volume_that_outlives_its_task")
    else {
        return;
    };
    let mut cluster =
        cluster_with("cpus:2;mem:1024;disk:1000;cpus(analytics):1;mem(analytics):512");
    let s = slave(&cluster);
    assert_eq!(s["reserved_resources"]["analytics"]["cpus"], 1.0, "{s}");
    assert_eq!(s["reserved_resources"]["analytics"]["mem"], 512.0, "{s}");
    assert_eq!(s["unreserved_resources"]["cpus"], 2.0, "{s}");
    assert_eq!(s["resources"]["cpus"], 3.0, "{s}");
    assert_eq!(
        s["reserved_resources_full"]["analytics"][0]["reservations"][0]["type"], "STATIC",
        "{s}"
    );

    let volume_id = format!("vol-{}", std::process::id());
    let outcome = run_scenario(
        &python,
        &cluster,
        "reservations",
        &["--volume-id", &volume_id],
    );
    let result = outcome.assert_ok();

    // Offers to the role carried the static reservation, in both formats.
    assert_eq!(result["static"]["cpus"], 1.0, "{result}");
    assert_eq!(result["static"]["mem"], 512.0, "{result}");
    assert_eq!(result["allocation_role"], "analytics", "{result}");
    // The invalid RESERVE was dropped with its reason; the others went through.
    assert_eq!(
        result["bad_operation"]["state"], "OPERATION_ERROR",
        "{result}"
    );
    // The volume came back in offers with where it is mounted.
    let offered = &result["offered_volume"];
    assert_eq!(offered["container_path"], "data", "{result}");
    assert_eq!(
        offered["reservation"],
        serde_json::json!(["DYNAMIC", "analytics"]),
        "{result}"
    );
    assert_eq!(offered["role"], "analytics", "{result}");
    assert_eq!(offered["size"], 100.0, "{result}");
    // After DESTROY and UNRESERVE only the static reservation is left.
    assert_eq!(result["final_offer"]["cpus"], 2.0, "{result}");
    assert_eq!(result["final_offer"]["disk"], 1000.0, "{result}");
    assert_eq!(result["final_static"]["cpus"], 1.0, "{result}");

    // The reader task found the writer's file through its sandbox's link to the volume.
    let marker = format!("persisted-{volume_id}");
    let read_back = cluster
        .find_agent_files(0, "stdout")
        .into_iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .any(|s| s.lines().any(|l| l.trim() == marker));
    assert!(read_back, "no sandbox stdout holds {marker:?}");
    assert!(
        !volume_dir(&cluster, &volume_id).exists(),
        "DESTROY removes the volume's directory"
    );

    let s = slave(&cluster);
    assert_eq!(s["reserved_resources"]["analytics"]["cpus"], 1.0, "{s}");
    assert!(volume_ids(&s, "analytics").is_empty(), "{s}");
    let metrics = cluster.metrics();
    for (key, at_least) in [
        ("master/operations/reserve/finished", 1.0),
        ("master/operations/reserve/error", 1.0),
        ("master/operations/create/finished", 1.0),
        ("master/operations/destroy/finished", 1.0),
        ("master/operations/unreserve/finished", 1.0),
    ] {
        let n = metrics[key].as_f64().unwrap_or(0.0);
        assert!(n >= at_least, "{key} = {n}: {metrics}");
    }
}

#[test]
fn a_dynamic_reservation_and_its_volume_survive_a_master_restart() {
    let Some(python) = prereq::python(
        "reservations::a_dynamic_reservation_and_its_volume_survive_a_master_restart",
    ) else {
        return;
    };
    let mut cluster = cluster_with("cpus:2;mem:1024;disk:1000");
    let volume_id = format!("keep-{}", std::process::id());
    run_scenario(
        &python,
        &cluster,
        "reserve_make",
        &["--volume-id", &volume_id],
    )
    .assert_ok();

    let s = slave(&cluster);
    assert_eq!(s["reserved_resources"]["analytics"]["cpus"], 0.5, "{s}");
    assert_eq!(volume_ids(&s, "analytics"), vec![volume_id.clone()], "{s}");
    let file = volume_dir(&cluster, &volume_id).join("hello.txt");
    let written = std::fs::read_to_string(&file).unwrap_or_default();
    assert_eq!(
        written.trim(),
        format!("persisted-{volume_id}"),
        "{}",
        file.display()
    );

    cluster.kill_master(0);
    cluster.restart_master(0);
    cluster.wait_for(
        "the agent back at the restarted master with the reservation and the volume",
        Duration::from_secs(40),
        |c| {
            let state = c.try_master_state()?;
            let s = state["slaves"].as_array()?.first()?.clone();
            (s["active"] == Value::Bool(true)
                && s["reserved_resources"]["analytics"]["cpus"] == 0.5
                && s["reserved_resources"]["analytics"]["disk"] == 200.0
                && volume_ids(&s, "analytics") == vec![volume_id.clone()])
            .then_some(())
        },
    );

    // A new framework in the role is offered both, reads the file, and cleans up.
    let outcome = run_scenario(
        &python,
        &cluster,
        "reserve_check",
        &["--volume-id", &volume_id],
    );
    let result = outcome.assert_ok();
    assert_eq!(
        result["offered_volume"]["container_path"], "data",
        "{result}"
    );
    assert!(!volume_dir(&cluster, &volume_id).exists());
    let s = slave(&cluster);
    assert!(s["reserved_resources"]["analytics"].is_null(), "{s}");
}
