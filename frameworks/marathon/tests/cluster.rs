//! Marathon against a real cluster: a `strata master`, two `strata agent`s (child
//! processes) and Marathon in-process. Needs `cargo build -p strata` first.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{delete, get, get_text, post, put, Cluster};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(60);

/// Waits until the app has `n` running tasks (healthy too when it has checks) and no
/// deployment, and returns its tasks.
async fn settled(c: &Cluster, id: &str, n: usize) -> Vec<Value> {
    let url = c.url(&format!("/v2/apps{id}"));
    c.wait(&format!("{id} to run {n} task(s)"), WAIT, || {
        let url = url.clone();
        async move {
            let (_, v) = get(&url).await.ok()?;
            let a = &v["app"];
            let checks = a["healthChecks"].as_array().is_some_and(|h| !h.is_empty());
            let ok = a["tasksRunning"] == n
                && (!checks || a["tasksHealthy"] == n)
                && a["tasks"].as_array()?.len() == n
                && a["deployments"].as_array()?.is_empty();
            ok.then(|| a["tasks"].as_array().cloned().unwrap_or_default())
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_tutorial_app_runs_and_answers_on_its_port() {
    let c = Cluster::start("tutorial").await;
    let (status, created) = post(
        &c.url("/v2/apps"),
        &json!({"id": "/web", "cmd": "python3 -m http.server $PORT0", "cpus": 0.1, "mem": 32, "instances": 1}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["id"], "/web");
    let tasks = settled(&c, "/web", 1).await;
    let (host, port) = (
        tasks[0]["host"].as_str().unwrap().to_owned(),
        tasks[0]["ports"][0].as_u64().unwrap(),
    );
    let page = c
        .wait("the app to answer on its port", WAIT, || {
            let url = format!("http://{host}:{port}/");
            async move { get_text(&url).await.ok().filter(|(s, _)| *s == 200) }
        })
        .await;
    assert!(page.1.contains("Directory listing"), "{}", page.1);
    // The same app again is a conflict; a bad one is refused whole.
    let (status, _) = post(&c.url("/v2/apps"), &json!({"id": "/web", "cmd": "x"})).await;
    assert_eq!(status, 409);
    let (status, v) = post(
        &c.url("/v2/apps"),
        &json!({"id": "/bad", "cmd": "x", "args": ["y"]}),
    )
    .await;
    assert_eq!(status, 422, "{v}");
    let (status, _) = get(&c.url("/v2/apps/bad")).await.unwrap();
    assert_eq!(status, 404);
    let (_, tasks) = get(&c.url("/v2/tasks")).await.unwrap();
    assert_eq!(tasks["tasks"].as_array().unwrap().len(), 1);
    // A local file named in `fetch` is in the sandbox when the command starts.
    let script = c.dir.join("serve.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nexec python3 -m http.server \"$PORT0\"\n",
    )
    .unwrap();
    let (status, v) = post(
        &c.url("/v2/apps"),
        &json!({"id": "/fetched", "cmd": "./serve.sh", "cpus": 0.1, "mem": 32,
                "fetch": [{"uri": format!("file://{}", script.display()), "executable": true}]}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let tasks = settled(&c, "/fetched", 1).await;
    let port = tasks[0]["ports"][0].as_u64().unwrap();
    c.wait("the fetched script to serve", WAIT, || {
        let url = format!("http://127.0.0.1:{port}/");
        async move { get_text(&url).await.ok().filter(|(s, _)| *s == 200) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn constraints_spread_instances_and_the_queue_says_why_one_waits() {
    let c = Cluster::start("constraints").await;
    let (status, v) = post(
        &c.url("/v2/apps"),
        &json!({"id": "/spread", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 2,
                "constraints": [["node", "UNIQUE"]]}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let tasks = settled(&c, "/spread", 2).await;
    assert_ne!(tasks[0]["slaveId"], tasks[1]["slaveId"], "{tasks:?}");
    // A third instance has nowhere to go.
    let (status, _) = put(&c.url("/v2/apps/spread"), &json!({"instances": 3})).await;
    assert_eq!(status, 200);
    let queue = c
        .wait("the third instance to wait on its constraint", WAIT, || {
            let url = c.url("/v2/queue");
            async move {
                let (_, q) = get(&url).await.ok()?;
                let item = q["queue"].as_array()?.first()?.clone();
                let declined = item["processedOffersSummary"]["rejectSummaryLastOffers"]
                    .as_array()?
                    .iter()
                    .find(|r| r["reason"] == "UnfulfilledConstraint")?["declined"]
                    .as_u64()?;
                (declined > 0).then_some(item)
            }
        })
        .await;
    assert_eq!(queue["count"], 1, "{queue}");
    assert_eq!(queue["app"]["id"], "/spread");
    // CLUSTER pins to one node; LIKE and MAX_PER work on attributes too.
    let (status, v) = post(
        &c.url("/v2/apps"),
        &json!({"id": "/pinned", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 2,
                "constraints": [["node", "CLUSTER", "b"], ["node", "LIKE", "[ab]"], ["hostname", "MAX_PER", "5"]]}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let pinned = settled(&c, "/pinned", 2).await;
    let b = c.agent_id(1).await;
    assert!(
        pinned.iter().all(|t| t["slaveId"] == b.as_str()),
        "{pinned:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_process_is_replaced_after_the_backoff() {
    let c = Cluster::start("backoff").await;
    let (status, v) = post(
        &c.url("/v2/apps"),
        &json!({"id": "/crashy", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 1,
                "backoffSeconds": 4, "backoffFactor": 2}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let tasks = settled(&c, "/crashy", 1).await;
    let first = tasks[0]["id"].as_str().unwrap().to_owned();
    let pids = c
        .wait("the task's process", WAIT, || {
            let p = c.task_pids(&first);
            async move { (!p.is_empty()).then_some(p) }
        })
        .await;
    let killed_at = Instant::now();
    for pid in pids {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    // The failure is recorded, the relaunch waits in the queue with a delay...
    let failure = c
        .wait("the failure to be recorded", WAIT, || {
            let url = c.url("/v2/apps/crashy");
            let first = first.clone();
            async move {
                let (_, v) = get(&url).await.ok()?;
                let f = v["app"]["lastTaskFailure"].clone();
                (f["taskId"] == first.as_str()).then_some(f)
            }
        })
        .await;
    assert_eq!(failure["state"], "TASK_FAILED", "{failure}");
    let (_, q) = get(&c.url("/v2/queue")).await.unwrap();
    let delay = &q["queue"][0]["delay"];
    assert_eq!(delay["overdue"], false, "{q}");
    assert!(delay["timeLeftSeconds"].as_u64().unwrap() >= 1, "{q}");
    // ...and the replacement starts only after the backoff.
    let tasks = settled(&c, "/crashy", 1).await;
    assert_ne!(tasks[0]["id"], first.as_str());
    assert!(
        killed_at.elapsed() >= Duration::from_millis(3500),
        "relaunched after {:?}, before the 4 s backoff",
        killed_at.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tasks_of_a_lost_agent_come_back_on_the_other_one() {
    let mut c = Cluster::start("agentloss").await;
    let (status, v) = post(
        &c.url("/v2/apps"),
        &json!({"id": "/survivor", "cmd": "python3 -m http.server $PORT0", "cpus": 0.1, "mem": 32, "instances": 1}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let tasks = settled(&c, "/survivor", 1).await;
    let lost_agent = tasks[0]["slaveId"].as_str().unwrap().to_owned();
    let index = if c.agent_id(0).await == lost_agent {
        0
    } else {
        1
    };
    let other = c.agent_id(1 - index).await;
    c.kill_agent(index);
    let replaced = c
        .wait("the task to come back on the other agent", WAIT, || {
            let url = c.url("/v2/apps/survivor");
            let other = other.clone();
            async move {
                let (_, v) = get(&url).await.ok()?;
                let tasks = v["app"]["tasks"].as_array()?.clone();
                tasks
                    .iter()
                    .find(|t| t["slaveId"] == other.as_str() && t["state"] == "TASK_RUNNING")
                    .cloned()
            }
        })
        .await;
    let port = replaced["ports"][0].as_u64().unwrap();
    c.wait("the replacement to answer", WAIT, || {
        let url = format!("http://127.0.0.1:{port}/");
        async move { get_text(&url).await.ok().filter(|(s, _)| *s == 200) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mesos_health_checks_run_in_the_executor() {
    let c = Cluster::start("mesoshealth").await;
    let (status, v) = post(
        &c.url("/v2/apps"),
        &json!({"id": "/checked", "cmd": "python3 -m http.server $PORT0", "cpus": 0.1, "mem": 32, "instances": 1,
                "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/", "delaySeconds": 0, "intervalSeconds": 1,
                                  "gracePeriodSeconds": 10, "timeoutSeconds": 2},
                                 {"protocol": "TCP", "intervalSeconds": 1, "gracePeriodSeconds": 10}]}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let tasks = settled(&c, "/checked", 1).await;
    let results = tasks[0]["healthCheckResults"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{tasks:?}");
    assert!(results.iter().all(|r| r["alive"] == true), "{results:?}");
    // A COMMAND check that fails gets the task killed by the executor and replaced.
    let (status, v) = post(
        &c.url("/v2/apps"),
        &json!({"id": "/sick", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 1, "backoffSeconds": 0,
                "healthChecks": [{"protocol": "COMMAND", "command": {"value": "false"}, "delaySeconds": 0,
                                  "intervalSeconds": 0.5, "gracePeriodSeconds": 0, "maxConsecutiveFailures": 2}]}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let first = c
        .wait("the sick task to start", WAIT, || {
            let url = c.url("/v2/apps/sick");
            async move {
                let (_, v) = get(&url).await.ok()?;
                v["app"]["tasks"][0]["id"].as_str().map(str::to_owned)
            }
        })
        .await;
    c.wait("the sick task to be killed and replaced", WAIT, || {
        let url = c.url("/v2/apps/sick");
        let first = first.clone();
        async move {
            let (_, v) = get(&url).await.ok()?;
            let id = v["app"]["tasks"][0]["id"].as_str()?.to_owned();
            (id != first).then_some(())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_marathon_keeps_its_framework_id_and_healthy_tasks() {
    let mut c = Cluster::start("restart").await;
    let (_, info) = get(&c.url("/v2/info")).await.unwrap();
    let framework_id = info["frameworkId"].as_str().unwrap().to_owned();
    let (status, v) = post(
        &c.url("/v2/apps"),
        &json!({"id": "/keep/web", "cmd": "python3 -m http.server $PORT0", "cpus": 0.1, "mem": 32, "instances": 2,
                "healthChecks": [{"protocol": "HTTP", "intervalSeconds": 1, "gracePeriodSeconds": 10}]}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let before = settled(&c, "/keep/web", 2).await;
    let ids = |t: &[Value]| {
        let mut v: Vec<String> = t
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    // A scale to 3 is persisted as the target even though Marathon stops right after.
    c.stop_marathon().await;
    c.start_marathon().await;
    let (_, info) = get(&c.url("/v2/info")).await.unwrap();
    assert_eq!(info["frameworkId"], framework_id.as_str());
    let after = settled(&c, "/keep/web", 2).await;
    assert_eq!(ids(&after), ids(&before), "healthy tasks were restarted");
    let (_, versions) = get(&c.url("/v2/apps/keep/web/versions")).await.unwrap();
    assert_eq!(versions["versions"].as_array().unwrap().len(), 1);
    let (_, groups) = get(&c.url("/v2/groups")).await.unwrap();
    assert_eq!(groups["groups"][0]["id"], "/keep", "{groups}");
    let (status, _) = delete(&c.url("/v2/apps/keep/web")).await;
    assert_eq!(status, 200);
}

/// The marathon-python acceptance scenario (tests/python/marathon_client.py), run with
/// the venv at `<repo>/.venv` (or `$STRATA_VENV`) when it has `marathon==0.13.0`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn marathon_python_scenario() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = std::env::var_os("STRATA_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv"));
    let python = venv.join("bin").join("python");
    let probe = std::process::Command::new(&python)
        .args(["-c", "import marathon"])
        .output();
    let usable = matches!(&probe, Ok(o) if o.status.success());
    if !usable {
        let why = format!(
            "{} cannot import marathon: install it with `{}/bin/pip install marathon==0.13.0`",
            python.display(),
            venv.display()
        );
        if matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1")) {
            panic!("missing prerequisite on CI: {why}");
        }
        eprintln!("\n==============================================================");
        eprintln!("SKIPPED: marathon_python_scenario: {why}");
        eprintln!("==============================================================\n");
        return;
    }
    let c = Cluster::start("python").await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/marathon_client.py");
    let api = c.api.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python)
            .arg(&script)
            .arg(&api)
            .output()
            .expect("run the scenario")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stdout}\n{stderr}");
    assert!(
        output.status.success() && stdout.contains("MARATHON-PYTHON SCENARIO PASSED"),
        "the marathon-python scenario failed"
    );
}
