//! API semantics through the router (no sockets): conflicts, selectors, pagination,
//! watches (resume, 410), patches, server-side apply, cascading deletion, finalizers,
//! namespace termination, errors, Table output, discovery and persistence.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::{call, call_with, server, TempDir};
use serde_json::{json, Value};
use strata_frameworks_kubernetes::gc;

const JSON: Option<&str> = Some("application/json");

fn pod(name: &str, labels: Value) -> String {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}})
    .to_string()
}

fn rv(v: &Value) -> u64 {
    v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

const PODS: &str = "/api/v1/namespaces/default/pods";

#[tokio::test]
async fn create_get_and_already_exists() {
    let dir = TempDir::new("create");
    let s = server(&dir).await;
    let r = call(&s, "POST", PODS, JSON, &pod("p1", json!({"app": "web"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert!(r.body["metadata"]["uid"]
        .as_str()
        .is_some_and(|u| u.len() == 36));
    assert!(r.body["metadata"]["creationTimestamp"].is_string());
    assert_eq!(r.body["spec"]["restartPolicy"], "Always");
    assert_eq!(
        r.body["spec"]["containers"][0]["terminationMessagePath"],
        "/dev/termination-log"
    );
    assert_eq!(r.body["status"]["phase"], "Pending");

    let got = call(&s, "GET", &format!("{PODS}/p1"), None, "").await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, r.body);

    let again = call(&s, "POST", PODS, JSON, &pod("p1", json!({}))).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.body["reason"], "AlreadyExists");
    assert_eq!(again.body["message"], "pods \"p1\" already exists");

    let missing = call(&s, "GET", &format!("{PODS}/nope"), None, "").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.body["kind"], "Status");
    assert_eq!(missing.body["reason"], "NotFound");

    // YAML bodies and generateName.
    let yaml =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: cfg-\ndata:\n  a: \"1\"\n";
    let r = call(
        &s,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        Some("application/yaml"),
        yaml,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let name = r.body["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("cfg-") && name.len() == 9, "{name}");
}

#[tokio::test]
async fn stale_updates_conflict_and_generation_counts_spec_changes() {
    let dir = TempDir::new("conflict");
    let s = server(&dir).await;
    let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
            "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
    let path = "/apis/apps/v1/namespaces/default/deployments";
    let created = call(&s, "POST", path, JSON, &deploy.to_string()).await.body;
    assert_eq!(created["metadata"]["generation"], 1);

    let mut update = created.clone();
    update["spec"]["replicas"] = json!(3);
    let ok = call(&s, "PUT", &format!("{path}/d"), JSON, &update.to_string()).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert!(rv(&ok.body) > rv(&created));
    assert_eq!(ok.body["metadata"]["generation"], 2);

    // The same stale resourceVersion again: 409 Conflict, nothing stored.
    update["spec"]["replicas"] = json!(5);
    let stale = call(&s, "PUT", &format!("{path}/d"), JSON, &update.to_string()).await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(stale.body["reason"], "Conflict");
    assert!(stale.body["message"]
        .as_str()
        .unwrap()
        .contains("the object has been modified"));
    let now = call(&s, "GET", &format!("{path}/d"), None, "").await.body;
    assert_eq!(now["spec"]["replicas"], 3);

    // A label change does not bump the generation.
    let r = call(
        &s,
        "PATCH",
        &format!("{path}/d"),
        Some("application/merge-patch+json"),
        r#"{"metadata":{"labels":{"x":"y"}}}"#,
    )
    .await;
    assert_eq!(r.body["metadata"]["generation"], 2);

    // The selector is immutable.
    let r = call(&s, "PATCH", &format!("{path}/d"), Some("application/merge-patch+json"),
        r#"{"spec":{"selector":{"matchLabels":{"app":"e"}},"template":{"metadata":{"labels":{"app":"e"}}}}}"#).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.body["details"]["causes"][0]["field"], "spec.selector");
}

#[tokio::test]
async fn label_and_field_selectors_and_pagination() {
    let dir = TempDir::new("select");
    let s = server(&dir).await;
    for (name, labels) in [
        ("a", json!({"app": "web", "tier": "fe"})),
        ("b", json!({"app": "web", "tier": "db"})),
        ("c", json!({"app": "api"})),
        ("d", json!({})),
    ] {
        assert_eq!(
            call(&s, "POST", PODS, JSON, &pod(name, labels))
                .await
                .status,
            StatusCode::CREATED
        );
    }
    let list = |q: &str| {
        let s = s.clone();
        let q = q.to_string();
        async move { call(&s, "GET", &format!("{PODS}?{q}"), None, "").await }
    };
    assert_eq!(
        names(&list("labelSelector=app%3Dweb").await.body),
        ["a", "b"]
    );
    assert_eq!(
        names(&list("labelSelector=app%3Dweb,tier!%3Ddb").await.body),
        ["a"]
    );
    assert_eq!(
        names(
            &list("labelSelector=app%20in%20(web,api),tier%20notin%20(fe)")
                .await
                .body
        ),
        ["b", "c"]
    );
    assert_eq!(names(&list("labelSelector=!app").await.body), ["d"]);
    assert_eq!(names(&list("labelSelector=tier").await.body), ["a", "b"]);
    assert_eq!(
        names(&list("fieldSelector=metadata.name%3Dc").await.body),
        ["c"]
    );
    assert_eq!(
        names(&list("fieldSelector=status.phase!%3DPending").await.body),
        Vec::<String>::new()
    );
    let bad = list("fieldSelector=spec.bogus%3D1").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let bad = list("labelSelector=a%20b%20c").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // limit/continue walks the list in pages.
    let first = list("limit=3").await.body;
    assert_eq!(names(&first), ["a", "b", "c"]);
    assert_eq!(first["metadata"]["remainingItemCount"], 1);
    let token = first["metadata"]["continue"].as_str().unwrap();
    let second = list(&format!("limit=3&continue={token}")).await.body;
    assert_eq!(names(&second), ["d"]);
    assert!(second["metadata"].get("continue").is_none());

    // -A lists every namespace.
    let all = call(&s, "GET", "/api/v1/pods", None, "").await.body;
    assert_eq!(names(&all).len(), 4);
    assert_eq!(all["kind"], "PodList");
}

async fn read_watch(s: &strata_frameworks_kubernetes::AppState, uri: &str) -> Vec<Value> {
    let r = call(s, "GET", uri, None, "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON event per line"))
        .collect()
}

#[tokio::test]
async fn watches_resume_from_a_revision_and_expire_with_410() {
    let dir = TempDir::new("watch");
    let store = common::store(dir.path()).await;
    let s = strata_frameworks_kubernetes::open_with_history(store, 5)
        .await
        .unwrap();
    let created = call(&s, "POST", PODS, JSON, &pod("w", json!({"app": "x"})))
        .await
        .body;
    let from = rv(&created);
    call(
        &s,
        "PATCH",
        &format!("{PODS}/w"),
        Some("application/merge-patch+json"),
        r#"{"metadata":{"labels":{"app":"y"}}}"#,
    )
    .await;
    call(&s, "DELETE", &format!("{PODS}/w"), None, "").await;

    // From the create's revision: the modification and the deletion, nothing older.
    let events = read_watch(
        &s,
        &format!("{PODS}?watch=true&resourceVersion={from}&timeoutSeconds=1"),
    )
    .await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["MODIFIED", "DELETED"]);
    assert!(rv(&events[1]["object"]) > rv(&events[0]["object"]));

    // A selector turns leaving it into DELETED.
    let events = read_watch(
        &s,
        &format!("{PODS}?watch=true&resourceVersion={from}&labelSelector=app%3Dx&timeoutSeconds=1"),
    )
    .await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["DELETED"]);

    // Without a revision: the current objects first.
    call(&s, "POST", PODS, JSON, &pod("v", json!({}))).await;
    let events = read_watch(&s, &format!("{PODS}?watch=true&timeoutSeconds=1")).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[0]["object"]["metadata"]["name"], "v");

    // Push the create out of the retained history: 410 Expired as an ERROR event.
    for i in 0..6 {
        call(&s, "POST", "/api/v1/namespaces/default/configmaps", JSON,
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("c{i}")}}).to_string()).await;
    }
    let events = read_watch(
        &s,
        &format!("{PODS}?watch=true&resourceVersion={from}&timeoutSeconds=1"),
    )
    .await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "ERROR");
    assert_eq!(events[0]["object"]["code"], 410);
    assert_eq!(events[0]["object"]["reason"], "Expired");
}

#[tokio::test]
async fn live_watch_sees_changes_as_they_happen() {
    let dir = TempDir::new("live");
    let s = server(&dir).await;
    let list = call(&s, "GET", PODS, None, "").await.body;
    let from = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let watcher = {
        let s = s.clone();
        tokio::spawn(async move {
            read_watch(
                &s,
                &format!("{PODS}?watch=1&resourceVersion={from}&timeoutSeconds=2"),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    call(&s, "POST", PODS, JSON, &pod("live", json!({}))).await;
    let events = watcher.await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "ADDED");
}

#[tokio::test]
async fn patches_json_merge_and_strategic() {
    let dir = TempDir::new("patch");
    let s = server(&dir).await;
    let body = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "1"}},
        "spec": {"containers": [
            {"name": "x", "image": "x:1", "env": [{"name": "A", "value": "1"}]},
            {"name": "y", "image": "y:1"}]}});
    call(&s, "POST", PODS, JSON, &body.to_string()).await;
    let p = format!("{PODS}/p");

    // Strategic: containers merge by name, env by name.
    let r = call(
        &s,
        "PATCH",
        &p,
        Some("application/strategic-merge-patch+json"),
        r#"{"spec":{"containers":[{"name":"x","image":"x:2","env":[{"name":"A","value":"1"}]}]}}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["spec"]["containers"][0]["image"], "x:2");
    assert_eq!(r.body["spec"]["containers"][1]["image"], "y:1");
    assert_eq!(r.body["spec"]["containers"].as_array().unwrap().len(), 2);

    // Merge patch: null removes.
    let r = call(
        &s,
        "PATCH",
        &p,
        Some("application/merge-patch+json"),
        r#"{"metadata":{"labels":{"a":null,"b":"2"}}}"#,
    )
    .await;
    assert_eq!(r.body["metadata"]["labels"], json!({"b": "2"}));

    // JSON patch, including a failing test operation (nothing stored).
    let r = call(
        &s,
        "PATCH",
        &p,
        Some("application/json-patch+json"),
        r#"[{"op":"add","path":"/metadata/labels/c","value":"3"}]"#,
    )
    .await;
    assert_eq!(r.body["metadata"]["labels"]["c"], "3");
    let before = rv(&r.body);
    let r = call(
        &s,
        "PATCH",
        &p,
        Some("application/json-patch+json"),
        r#"[{"op":"test","path":"/metadata/labels/c","value":"9"}]"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(rv(&call(&s, "GET", &p, None, "").await.body), before);

    // A patch carrying a stale resourceVersion conflicts.
    let r = call(
        &s,
        "PATCH",
        &p,
        Some("application/merge-patch+json"),
        r#"{"metadata":{"resourceVersion":"1","labels":{"d":"4"}}}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    // Pod specs are mostly immutable.
    let r = call(
        &s,
        "PATCH",
        &p,
        Some("application/merge-patch+json"),
        r#"{"spec":{"restartPolicy":"Never"}}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["reason"], "Invalid");

    // Unsupported patch type.
    let r = call(&s, "PATCH", &p, Some("text/plain"), "{}").await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn server_side_apply_creates_conflicts_and_forces() {
    let dir = TempDir::new("ssa");
    let s = server(&dir).await;
    let path = "/api/v1/namespaces/default/configmaps/cfg";
    let apply = Some("application/apply-patch+yaml");
    let r = call(
        &s,
        "PATCH",
        &format!("{path}?fieldManager=alice"),
        apply,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: '1'\n  b: '2'\n",
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["metadata"]["managedFields"][0]["manager"], "alice");
    assert_eq!(r.body["metadata"]["managedFields"][0]["operation"], "Apply");

    // bob changes a field alice owns: conflict, unless forced.
    let bob =
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"a":"bob"}}"#;
    let r = call(&s, "PATCH", &format!("{path}?fieldManager=bob"), apply, bob).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("conflict with \"alice\""));
    let r = call(
        &s,
        "PATCH",
        &format!("{path}?fieldManager=bob&force=true"),
        apply,
        bob,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["data"], json!({"a": "bob", "b": "2"}));

    // alice stops applying b: it goes.
    let r = call(
        &s,
        "PATCH",
        &format!("{path}?fieldManager=alice"),
        apply,
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{}}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["data"], json!({"a": "bob"}));

    // Apply needs a field manager.
    let r = call(&s, "PATCH", path, apply, bob).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

fn rc(name: &str) -> String {
    json!({"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name},
        "spec": {"replicas": 2, "selector": {"app": name},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    .to_string()
}

async fn owned_pods(s: &strata_frameworks_kubernetes::AppState, owner: &Value, n: usize) {
    for i in 0..n {
        let body = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": format!("{}-{i}", owner["metadata"]["name"].as_str().unwrap()),
            "ownerReferences": [{"apiVersion": "v1", "kind": "ReplicationController",
                "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
                "controller": true, "blockOwnerDeletion": true}]},
            "spec": {"containers": [{"name": "c", "image": "i"}]}});
        let r = call(s, "POST", PODS, JSON, &body.to_string()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
}

async fn pod_names(s: &strata_frameworks_kubernetes::AppState) -> Vec<String> {
    names(&call(s, "GET", PODS, None, "").await.body)
}

#[tokio::test]
async fn cascading_deletion_background_foreground_orphan() {
    let dir = TempDir::new("cascade");
    let s = server(&dir).await;
    let rcs = "/api/v1/namespaces/default/replicationcontrollers";

    // Background (kubectl's default): the owner goes at once, the collector takes the pods.
    let bg = call(&s, "POST", rcs, JSON, &rc("bg")).await.body;
    owned_pods(&s, &bg, 2).await;
    let r = call(
        &s,
        "DELETE",
        &format!("{rcs}/bg"),
        JSON,
        r#"{"propagationPolicy":"Background"}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"], "Success");
    assert_eq!(pod_names(&s).await, ["bg-0", "bg-1"]);
    gc::collect(&s.api).await;
    assert!(pod_names(&s).await.is_empty());

    // Foreground: the owner waits, marked for deletion, until its dependents are gone.
    let fg = call(&s, "POST", rcs, JSON, &rc("fg")).await.body;
    owned_pods(&s, &fg, 2).await;
    let r = call(
        &s,
        "DELETE",
        &format!("{rcs}/fg?propagationPolicy=Foreground"),
        None,
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(
        r.body["metadata"]["finalizers"],
        json!(["foregroundDeletion"])
    );
    assert!(r.body["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(
        call(&s, "GET", &format!("{rcs}/fg"), None, "").await.status,
        StatusCode::OK
    );
    for _ in 0..3 {
        gc::collect(&s.api).await;
    }
    assert!(pod_names(&s).await.is_empty());
    assert_eq!(
        call(&s, "GET", &format!("{rcs}/fg"), None, "").await.status,
        StatusCode::NOT_FOUND
    );

    // Orphan: the pods stay, without the owner reference.
    let or = call(&s, "POST", rcs, JSON, &rc("or")).await.body;
    owned_pods(&s, &or, 1).await;
    let r = call(
        &s,
        "DELETE",
        &format!("{rcs}/or"),
        JSON,
        r#"{"propagationPolicy":"Orphan"}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    for _ in 0..3 {
        gc::collect(&s.api).await;
    }
    assert_eq!(
        call(&s, "GET", &format!("{rcs}/or"), None, "").await.status,
        StatusCode::NOT_FOUND
    );
    let p = call(&s, "GET", &format!("{PODS}/or-0"), None, "").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(
        p.body["metadata"].get("ownerReferences").is_none(),
        "{}",
        p.body
    );
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let dir = TempDir::new("finalizers");
    let s = server(&dir).await;
    let cms = "/api/v1/namespaces/default/configmaps";
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "f", "finalizers": ["example.com/hold"]}});
    call(&s, "POST", cms, JSON, &body.to_string()).await;
    let r = call(&s, "DELETE", &format!("{cms}/f"), None, "").await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert!(r.body["metadata"]["deletionTimestamp"].is_string());
    gc::collect(&s.api).await;
    assert_eq!(
        call(&s, "GET", &format!("{cms}/f"), None, "").await.status,
        StatusCode::OK
    );
    // No new finalizers on a deleting object.
    let r = call(
        &s,
        "PATCH",
        &format!("{cms}/f"),
        Some("application/merge-patch+json"),
        r#"{"metadata":{"finalizers":["example.com/hold","x/y"]}}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = call(
        &s,
        "PATCH",
        &format!("{cms}/f"),
        Some("application/merge-patch+json"),
        r#"{"metadata":{"finalizers":null}}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        call(&s, "GET", &format!("{cms}/f"), None, "").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn graceful_pod_deletion_and_binding() {
    let dir = TempDir::new("grace");
    let s = server(&dir).await;
    call(&s, "POST", PODS, JSON, &pod("g", json!({}))).await;
    let r = call(&s, "POST", &format!("{PODS}/g/binding"), JSON, r#"{"apiVersion":"v1","kind":"Binding","metadata":{"name":"g"},"target":{"kind":"Node","name":"node-1"}}"#).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let bound = call(&s, "GET", &format!("{PODS}/g"), None, "").await.body;
    assert_eq!(bound["spec"]["nodeName"], "node-1");
    let r = call(
        &s,
        "POST",
        &format!("{PODS}/g/binding"),
        JSON,
        r#"{"target":{"kind":"Node","name":"node-2"}}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    // A bound pod is deleted gracefully; gracePeriodSeconds=0 removes it at once.
    let r = call(
        &s,
        "DELETE",
        &format!("{PODS}/g"),
        JSON,
        r#"{"gracePeriodSeconds":30}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.body["metadata"]["deletionGracePeriodSeconds"], 30);
    assert_eq!(
        call(&s, "GET", &format!("{PODS}/g"), None, "").await.status,
        StatusCode::OK
    );
    let r = call(
        &s,
        "DELETE",
        &format!("{PODS}/g?gracePeriodSeconds=0"),
        None,
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        call(&s, "GET", &format!("{PODS}/g"), None, "").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_objects() {
    let dir = TempDir::new("ns");
    let s = server(&dir).await;
    let r = call(
        &s,
        "POST",
        "/api/v1/namespaces",
        JSON,
        r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team"}}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["status"]["phase"], "Active");
    assert_eq!(
        call(
            &s,
            "GET",
            "/api/v1/namespaces/team/serviceaccounts/default",
            None,
            ""
        )
        .await
        .status,
        StatusCode::OK
    );
    call(
        &s,
        "POST",
        "/api/v1/namespaces/team/pods",
        JSON,
        &pod("x", json!({})),
    )
    .await;
    let r = call(&s, "DELETE", "/api/v1/namespaces/team", None, "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"]["phase"], "Terminating");
    // No new objects in a terminating namespace.
    let r = call(
        &s,
        "POST",
        "/api/v1/namespaces/team/pods",
        JSON,
        &pod("y", json!({})),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    for _ in 0..3 {
        gc::collect(&s.api).await;
    }
    assert_eq!(
        call(&s, "GET", "/api/v1/namespaces/team", None, "")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&s, "GET", "/api/v1/namespaces/team/pods/x", None, "")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // The system namespaces stay.
    assert_eq!(
        call(&s, "DELETE", "/api/v1/namespaces/default", None, "")
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // Objects need an existing namespace.
    let r = call(
        &s,
        "POST",
        "/api/v1/namespaces/nowhere/pods",
        JSON,
        &pod("z", json!({})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["message"], "namespaces \"nowhere\" not found");
}

#[tokio::test]
async fn bad_input_is_a_status_naming_the_problem() {
    let dir = TempDir::new("bad");
    let s = server(&dir).await;
    // Invalid name: 422 with a cause naming the field.
    let r = call(&s, "POST", PODS, JSON, &pod("Bad_Name", json!({}))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["reason"], "Invalid");
    assert_eq!(r.body["details"]["causes"][0]["field"], "metadata.name");
    // Missing required fields.
    let r = call(&s, "POST", PODS, JSON, r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c"}]}}"#).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.body["details"]["causes"][0]["field"],
        "spec.containers[0].image"
    );
    // Malformed JSON and YAML.
    assert_eq!(
        call(&s, "POST", PODS, JSON, "{not json").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        call(&s, "POST", PODS, Some("application/yaml"), "a: [")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    // Wrong kind / apiVersion for the endpoint.
    let r = call(
        &s,
        "POST",
        PODS,
        JSON,
        r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"p"}}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = call(
        &s,
        "POST",
        PODS,
        JSON,
        r#"{"apiVersion":"apps/v1","kind":"Pod","metadata":{"name":"p"}}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Wrong types name the path.
    let r = call(&s, "POST", PODS, JSON, r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i","ports":[{"containerPort":"eighty"}]}]}}"#).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("spec.containers[0].ports[0].containerPort"),
        "{}",
        r.text
    );
    // Unknown fields: rejected with Strict, a warning by default, dropped either way.
    let body = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"u"},"spec":{"bogus":1,"containers":[{"name":"c","image":"i"}]}}"#;
    let r = call(
        &s,
        "POST",
        &format!("{PODS}?fieldValidation=Strict"),
        JSON,
        body,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("unknown field \"spec.bogus\""),
        "{}",
        r.text
    );
    let r = call(&s, "POST", PODS, JSON, body).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.headers.get("warning").is_some());
    assert!(r.body["spec"].get("bogus").is_none());
    // Nothing was stored by the failures.
    assert_eq!(pod_names(&s).await, ["u"]);
    // Oversized bodies.
    let huge = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"h"}},"data":{{"a":"{}"}}}}"#,
        "x".repeat(4 << 20)
    );
    let r = call(
        &s,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        JSON,
        &huge,
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Methods and paths that do not exist.
    assert_eq!(
        call(&s, "PUT", PODS, JSON, "{}").await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        call(&s, "GET", "/api/v1/namespaces/default/widgets", None, "")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&s, "GET", "/apis/nope/v1", None, "").await.status,
        StatusCode::NOT_FOUND
    );
    // Services: DNS-1035 names, port ranges.
    let r = call(&s, "POST", "/api/v1/namespaces/default/services", JSON, r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"svc"},"spec":{"ports":[{"port":70000}]}}"#).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.body["details"]["causes"][0]["field"],
        "spec.ports[0].port"
    );
}

#[tokio::test]
async fn tables_scale_and_discovery() {
    let dir = TempDir::new("table");
    let s = server(&dir).await;
    call(&s, "POST", PODS, JSON, &pod("t", json!({}))).await;
    let table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
    let r = call_with(&s, "GET", PODS, &[("accept", table)], "").await;
    assert_eq!(r.body["kind"], "Table");
    let cols: Vec<&str> = r.body["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        cols,
        [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP",
            "Node",
            "Nominated Node",
            "Readiness Gates"
        ]
    );
    assert_eq!(r.body["rows"][0]["cells"][2], "Pending");
    assert_eq!(r.body["rows"][0]["object"]["kind"], "PartialObjectMetadata");

    // Scale of an RC: GET, PUT without a content type, merge PATCH.
    let rcs = "/api/v1/namespaces/default/replicationcontrollers";
    call(&s, "POST", rcs, JSON, &rc("web")).await;
    let scale = call(&s, "GET", &format!("{rcs}/web/scale"), None, "")
        .await
        .body;
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["spec"]["replicas"], 2);
    assert_eq!(scale["status"]["selector"], "app=web");
    let mut put = scale.clone();
    put["spec"]["replicas"] = json!(4);
    let r = call(
        &s,
        "PUT",
        &format!("{rcs}/web/scale"),
        None,
        &put.to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = call(
        &s,
        "PUT",
        &format!("{rcs}/web/scale"),
        None,
        &put.to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "a stale Scale conflicts");
    let r = call(
        &s,
        "PATCH",
        &format!("{rcs}/web/scale"),
        Some("application/merge-patch+json"),
        r#"{"spec":{"replicas":3}}"#,
    )
    .await;
    assert_eq!(r.body["spec"]["replicas"], 3);
    assert_eq!(
        call(&s, "GET", &format!("{rcs}/web"), None, "").await.body["spec"]["replicas"],
        3
    );

    // Discovery, legacy and aggregated, with trailing slashes.
    let v = call(&s, "GET", "/version/", None, "").await.body;
    assert_eq!(
        (v["major"].as_str(), v["minor"].as_str()),
        (Some("1"), Some("32"))
    );
    let agg =
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
    let r = call_with(&s, "GET", "/apis", &[("accept", agg)], "").await;
    assert_eq!(
        r.headers["content-type"],
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    let groups: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        groups,
        ["apps", "batch", "events.k8s.io", "coordination.k8s.io"]
    );
    let legacy = call(&s, "GET", "/api/", None, "").await.body;
    assert_eq!(legacy["versions"], json!(["v1"]));
    let v1 = call(&s, "GET", "/api/v1/", None, "").await.body;
    assert!(v1["resources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "pods" && r["shortNames"] == json!(["po"])));
    let openapi = call(&s, "GET", "/openapi/v3", None, "").await.body;
    let url = openapi["paths"]["api/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap();
    let doc = call(&s, "GET", url, None, "").await.body;
    assert!(
        doc["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
            .is_object()
    );
}

#[tokio::test]
async fn objects_survive_a_restart() {
    let dir = TempDir::new("restart");
    let (created, list_rv) = {
        let s = server(&dir).await;
        let created = call(&s, "POST", PODS, JSON, &pod("keep", json!({"a": "b"})))
            .await
            .body;
        call(
            &s,
            "POST",
            "/api/v1/namespaces",
            JSON,
            r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"kept"}}"#,
        )
        .await;
        let list = call(&s, "GET", PODS, None, "").await.body;
        (created, rv(&list))
    };
    // The first server (and its store) is gone; a new one over the same directory.
    let s = server(&dir).await;
    let got = call(&s, "GET", &format!("{PODS}/keep"), None, "").await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, created, "same object, same resourceVersion");
    assert_eq!(
        call(&s, "GET", "/api/v1/namespaces/kept", None, "")
            .await
            .status,
        StatusCode::OK
    );
    // Revisions keep increasing after the restart.
    let next = call(&s, "POST", PODS, JSON, &pod("after", json!({})))
        .await
        .body;
    assert!(rv(&next) > list_rv);
}
