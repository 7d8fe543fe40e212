//! The REST API with `oneshot`, no master behind it: JSON validation, defaults, error
//! shapes, deployments and their conflicts, versions, groups, persistence of the target.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{json, Value};
use strata_frameworks_marathon::{app::APP_KEYS, router, ApiState};
use strata_store::Store;
use tower::ServiceExt as _;

struct Api {
    state: ApiState,
    store: Arc<dyn Store>,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Api {
    async fn new() -> Api {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "strata-marathon-api-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let store = strata_store::open(None, &dir).await.unwrap().store;
        let state = ApiState::offline(store.clone()).await.unwrap();
        Api {
            state,
            store,
            _dir: TempDir(dir),
        }
    }

    /// A second API over the same store, as after a restart.
    async fn reopen(&self) -> ApiState {
        ApiState::offline(self.store.clone()).await.unwrap()
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        call(&self.state, method, path, body).await
    }
}

async fn call(
    state: &ApiState,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("Content-Type", "application/json")
        .body(
            body.map(|b| Body::from(b.to_string()))
                .unwrap_or_else(Body::empty),
        )
        .unwrap();
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, v)
}

fn web() -> Value {
    json!({"id": "/web", "cmd": "python3 -m http.server $PORT0", "cpus": 0.1, "mem": 32, "instances": 1})
}

#[tokio::test]
async fn create_answers_201_with_marathon_defaults_and_only_known_keys() {
    let api = Api::new().await;
    let (status, app) = api
        .call(
            "POST",
            "/v2/apps",
            Some(json!({"id": "web", "cmd": "sleep 1"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    assert_eq!(app["id"], "/web");
    assert_eq!(app["instances"], 1);
    assert_eq!(app["cpus"], 1.0);
    assert_eq!(app["mem"], 128.0);
    assert_eq!(app["disk"], 0.0);
    assert_eq!(app["ports"], json!([10000]));
    assert_eq!(app["portDefinitions"][0]["port"], 10000);
    assert_eq!(
        app["upgradeStrategy"],
        json!({"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0})
    );
    assert_eq!(app["deployments"].as_array().unwrap().len(), 1);
    for k in app.as_object().unwrap().keys() {
        assert!(
            APP_KEYS.contains(&k.as_str()),
            "key {k} would break marathon-python"
        );
    }
    let v = app["version"].as_str().unwrap();
    assert!(v.ends_with('Z') && v.len() == 24, "{v}");
    // A second app gets the next service port.
    let (_, other) = api
        .call(
            "POST",
            "/v2/apps",
            Some(json!({"id": "/other", "cmd": "x"})),
        )
        .await;
    assert_eq!(other["ports"], json!([10001]));
}

#[tokio::test]
async fn bad_apps_get_422_in_marathons_shape_and_nothing_is_stored() {
    let api = Api::new().await;
    let (status, e) = api
        .call(
            "POST",
            "/v2/apps",
            Some(json!({"id": "/bad", "cmd": "x", "args": ["y"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e["message"], "Object is not valid");
    assert_eq!(e["details"][0]["path"], "/");
    assert!(e["details"][0]["errors"][0]
        .as_str()
        .unwrap()
        .contains("'cmd' or 'args'"));
    let (status, e) = api
        .call(
            "POST",
            "/v2/apps",
            Some(
                json!({"id": "/bad", "cmd": "x", "mem": -5, "constraints": [["hostname", "NEAR"]]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let paths: Vec<&str> = e["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, vec!["/mem", "/constraints/0"], "{e}");
    let (status, e) = api
        .call("POST", "/v2/apps", Some(json!({"id": "/Bad", "cmd": "x"})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let (status, _) = api.call("GET", "/v2/apps/bad", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(api.store.list("marathon/").await.unwrap().is_empty());
    // Not JSON at all.
    let req = Request::builder()
        .method("POST")
        .uri("/v2/apps")
        .body(Body::from("{nope"))
        .unwrap();
    let resp = router(api.state.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn doubled_slashes_and_python_booleans_route_like_marathon_python_sends_them() {
    let api = Api::new().await;
    api.call("POST", "/v2/apps", Some(web())).await;
    let (status, v) = api
        .call(
            "GET",
            "/v2/apps//web?embed=app.tasks&embed=app.counts",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["app"]["id"], "/web");
    assert_eq!(v["app"]["tasks"], json!([]));
    let (status, v) = api.call("GET", "/v2/apps//web/tasks", None).await;
    assert_eq!((status, v), (StatusCode::OK, json!({"tasks": []})));
    let (status, _) = api.call("GET", "/v2/apps//nothere", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // force=False is false: the create deployment is still running.
    let (status, v) = api
        .call(
            "PUT",
            "/v2/apps//web?force=False",
            Some(json!({"instances": 2})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert!(v["message"].as_str().unwrap().contains("locked"));
    assert_eq!(v["deployments"].as_array().unwrap().len(), 1);
    let (status, v) = api
        .call(
            "PUT",
            "/v2/apps//web?force=True",
            Some(json!({"instances": 2})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["deploymentId"].is_string() && v["version"].is_string());
}

#[tokio::test]
async fn updates_merge_and_versions_are_kept() {
    let api = Api::new().await;
    api.call(
        "POST",
        "/v2/apps",
        Some(json!({"id": "/a", "cmd": "sleep 1", "env": {"A": "1"}, "instances": 0})),
    )
    .await;
    let (_, first) = api.call("GET", "/v2/apps/a", None).await;
    let (status, _) = api
        .call(
            "PATCH",
            "/v2/apps/a?force=true",
            Some(json!({"instances": 3})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, a) = api.call("GET", "/v2/apps/a", None).await;
    assert_eq!(a["app"]["instances"], 3);
    assert_eq!(a["app"]["env"]["A"], "1");
    // A scale keeps the configuration version; a config change moves it.
    assert_eq!(
        a["app"]["versionInfo"]["lastConfigChangeAt"],
        first["app"]["versionInfo"]["lastConfigChangeAt"]
    );
    assert_ne!(
        a["app"]["versionInfo"]["lastScalingAt"],
        first["app"]["versionInfo"]["lastScalingAt"]
    );
    api.call(
        "PUT",
        "/v2/apps/a?force=true",
        Some(json!({"cmd": "sleep 2"})),
    )
    .await;
    let (_, a2) = api.call("GET", "/v2/apps/a", None).await;
    assert_ne!(
        a2["app"]["versionInfo"]["lastConfigChangeAt"],
        first["app"]["versionInfo"]["lastConfigChangeAt"]
    );
    let (_, versions) = api.call("GET", "/v2/apps/a/versions", None).await;
    let versions = versions["versions"].as_array().unwrap().clone();
    assert_eq!(versions.len(), 3);
    let oldest = versions.last().unwrap().as_str().unwrap();
    let (status, old) = api
        .call("GET", &format!("/v2/apps/a/versions/{oldest}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(old["cmd"], "sleep 1");
    // Rolling back to it.
    let (status, _) = api
        .call(
            "PUT",
            "/v2/apps/a?force=true",
            Some(json!({"version": oldest})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, a3) = api.call("GET", "/v2/apps/a", None).await;
    assert_eq!(a3["app"]["cmd"], "sleep 1");
    assert_eq!(a3["app"]["instances"], 0);
}

#[tokio::test]
async fn deployments_list_roll_back_and_force_cancel() {
    let api = Api::new().await;
    api.call("POST", "/v2/apps", Some(web())).await;
    let (_, list) = api.call("GET", "/v2/deployments", None).await;
    let d = &list[0];
    assert_eq!(d["affectedApps"], json!(["/web"]));
    assert_eq!(
        d["steps"][0]["actions"][0],
        json!({"action": "StartApplication", "app": "/web"})
    );
    assert_eq!(
        d["steps"][1]["actions"][0],
        json!({"action": "ScaleApplication", "app": "/web"})
    );
    assert_eq!(d["totalSteps"], 2);
    let id = d["id"].as_str().unwrap().to_owned();
    // Rolling back a create removes the app again, through a new deployment.
    let (status, r) = api
        .call("DELETE", &format!("/v2/deployments/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let (status, _) = api.call("GET", "/v2/apps/web", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = api.call("GET", "/v2/deployments", None).await;
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["id"] != id.as_str()));
    // force=true only stops the deployment: the app stays.
    api.call("POST", "/v2/apps", Some(json!({"id": "/kept", "cmd": "x"})))
        .await;
    let (_, list) = api.call("GET", "/v2/deployments", None).await;
    let kept = list
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["affectedApps"] == json!(["/kept"]))
        .unwrap()["id"]
        .clone();
    let (status, _) = api
        .call(
            "DELETE",
            &format!("/v2/deployments/{}?force=true", kept.as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _) = api.call("GET", "/v2/apps/kept", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api.call("DELETE", "/v2/deployments/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn state_survives_a_restart() {
    let api = Api::new().await;
    api.call("POST", "/v2/apps", Some(web())).await;
    api.call(
        "POST",
        "/v2/groups",
        Some(json!({"id": "/prod", "dependencies": [], "apps": [{"id": "db", "cmd": "x"}]})),
    )
    .await;
    let again = api.reopen().await;
    let (status, v) = call(&again, "GET", "/v2/apps/web", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["app"]["deployments"].as_array().unwrap().len(), 1);
    let (_, v) = call(&again, "GET", "/v2/apps", None).await;
    assert_eq!(v["apps"].as_array().unwrap().len(), 2);
    let (_, d) = call(&again, "GET", "/v2/deployments", None).await;
    assert_eq!(d.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn groups_nest_and_order_deployments_by_dependencies() {
    let api = Api::new().await;
    let (status, r) = api
        .call(
            "POST",
            "/v2/groups",
            Some(json!({"id": "/shop", "groups": [
                {"id": "db", "apps": [{"id": "postgres", "cmd": "sleep 100"}]},
                {"id": "web", "dependencies": ["/shop/db"], "apps": [{"id": "front", "cmd": "sleep 100"}]}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    let (_, g) = api.call("GET", "/v2/groups/shop", None).await;
    assert_eq!(g["id"], "/shop");
    let groups: Vec<&str> = g["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap())
        .collect();
    assert_eq!(groups, vec!["/shop/db", "/shop/web"]);
    assert_eq!(g["groups"][1]["dependencies"], json!(["/shop/db"]));
    let (_, d) = api.call("GET", "/v2/deployments", None).await;
    let steps = &d[0]["steps"];
    let at = |app: &str| {
        steps
            .as_array()
            .unwrap()
            .iter()
            .position(|s| {
                s["actions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a["app"] == app && a["action"] == "ScaleApplication")
            })
            .unwrap()
    };
    assert!(at("/shop/db/postgres") < at("/shop/web/front"), "{steps}");
    let (_, root) = api.call("GET", "/v2/groups", None).await;
    assert_eq!(root["id"], "/");
    assert_eq!(root["groups"][0]["id"], "/shop");
    let (status, _) = api
        .call("POST", "/v2/groups", Some(json!({"id": "/shop"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = api.call("DELETE", "/v2/groups/shop?force=true", None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, apps) = api.call("GET", "/v2/apps", None).await;
    assert_eq!(apps["apps"], json!([]));
}

#[tokio::test]
async fn info_leader_ping_metrics_queue_and_filters() {
    let api = Api::new().await;
    let (status, info) = api.call("GET", "/v2/info", None).await;
    assert_eq!(status, StatusCode::OK);
    for k in ["http_config", "marathon_config", "zookeeper_config"] {
        assert!(info[k].is_object(), "{k} missing: {info}");
    }
    assert_eq!(info["name"], "marathon");
    let (_, leader) = api.call("GET", "/v2/leader", None).await;
    assert!(leader["leader"].is_string());
    let (status, pong) = api.call("GET", "/ping", None).await;
    assert_eq!((status, pong), (StatusCode::OK, json!("pong")));
    let (_, metrics) = api.call("GET", "/metrics", None).await;
    assert!(metrics["gauges"].is_object());
    api.call(
        "POST",
        "/v2/apps",
        Some(json!({"id": "/a/one", "cmd": "x", "labels": {"tier": "web"}})),
    )
    .await;
    api.call(
        "POST",
        "/v2/apps",
        Some(json!({"id": "/b/two", "cmd": "y", "labels": {"tier": "db"}})),
    )
    .await;
    let (_, q) = api.call("GET", "/v2/queue", None).await;
    assert_eq!(q["queue"].as_array().unwrap().len(), 2, "{q}");
    assert_eq!(q["queue"][0]["count"], 1);
    let ids = |v: &Value| {
        v["apps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let (_, v) = api.call("GET", "/v2/apps?id=one", None).await;
    assert_eq!(ids(&v), vec!["/a/one"]);
    let (_, v) = api.call("GET", "/v2/apps?label=tier%3D%3Ddb", None).await;
    assert_eq!(ids(&v), vec!["/b/two"]);
    let (_, v) = api.call("GET", "/v2/apps?cmd=y", None).await;
    assert_eq!(ids(&v), vec!["/b/two"]);
    let (status, _) = api.call("DELETE", "/v2/queue/a/one/delay", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}
