//! Registration with the master, against a fake master speaking the v1 scheduler API: the
//! framework subscribes as `kubernetes`, stores its framework id, suppresses offers and
//! declines any it gets with a long filter, and after a restart subscribes again with the
//! stored id. An unreachable master is retried.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::TempDir;
use serde_json::{json, Value};
use strata_frameworks_kubernetes::framework::{self, FRAMEWORK_ID_KEY};
use tokio::sync::Mutex;

#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<Value>>,
}

fn record(json: &Value) -> bytes::Bytes {
    let text = json.to_string();
    bytes::Bytes::from(format!("{}\n{text}", text.len()))
}

async fn scheduler(State(fake): State<Arc<Fake>>, body: String) -> Response {
    let call: Value = serde_json::from_str(&body).expect("calls are JSON");
    fake.calls.lock().await.push(call.clone());
    if call["type"] != "SUBSCRIBE" {
        return StatusCode::ACCEPTED.into_response();
    }
    let events = vec![
        record(
            &json!({"type": "SUBSCRIBED", "subscribed": {"framework_id": {"value": "fw-1"}, "heartbeat_interval_seconds": 15.0}}),
        ),
        record(
            &json!({"type": "OFFERS", "offers": {"offers": [{"id": {"value": "o1"}, "framework_id": {"value": "fw-1"},
            "agent_id": {"value": "a1"}, "hostname": "h1"}]}}),
        ),
    ];
    // The stream stays open after the events, as a master's does.
    let stream = futures::stream::iter(events.into_iter().map(Ok::<_, std::convert::Infallible>))
        .chain(futures::stream::pending());
    (
        StatusCode::OK,
        [
            ("content-type", "application/json"),
            ("mesos-stream-id", "stream-1"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

use futures::StreamExt as _;

async fn wait_for(fake: &Fake, what: &str, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let calls = fake.calls.lock().await.clone();
        if calls.iter().filter(|c| c["type"] == what).count() >= n {
            return calls;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {what} call arrived: {:?}", fake.calls.lock().await);
}

#[tokio::test]
async fn registers_declines_suppresses_and_resubscribes_with_its_id() {
    let dir = TempDir::new("framework");
    let store = common::store(dir.path()).await;
    let fake = Arc::new(Fake::default());
    let app = axum::Router::new()
        .route("/api/v1/scheduler", axum::routing::post(scheduler))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let master = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let first = tokio::spawn(framework::run(master.clone(), store.clone()));
    let calls = wait_for(&fake, "DECLINE", 1).await;
    let subscribe = &calls[0];
    assert_eq!(subscribe["type"], "SUBSCRIBE");
    assert_eq!(
        subscribe["subscribe"]["framework_info"]["name"],
        "kubernetes"
    );
    assert!(
        subscribe.get("framework_id").is_none(),
        "a first subscription has no id"
    );
    let decline = calls.iter().find(|c| c["type"] == "DECLINE").unwrap();
    assert_eq!(decline["decline"]["offer_ids"][0]["value"], "o1");
    assert!(
        decline["decline"]["filters"]["refuse_seconds"]
            .as_f64()
            .unwrap()
            >= 3600.0
    );
    let calls = wait_for(&fake, "SUPPRESS", 1).await;
    assert_eq!(
        calls.iter().find(|c| c["type"] == "SUPPRESS").unwrap()["framework_id"]["value"],
        "fw-1"
    );
    let stored = store
        .get(FRAMEWORK_ID_KEY)
        .await
        .unwrap()
        .expect("framework id stored");
    assert_eq!(stored.value, b"fw-1");

    // A restart subscribes with the stored id.
    first.abort();
    let _second = tokio::spawn(framework::run(master, store.clone()));
    let calls = wait_for(&fake, "SUBSCRIBE", 2).await;
    let again = calls
        .iter()
        .filter(|c| c["type"] == "SUBSCRIBE")
        .nth(1)
        .unwrap();
    assert_eq!(again["framework_id"]["value"], "fw-1");
    assert_eq!(again["subscribe"]["framework_info"]["id"]["value"], "fw-1");
}

#[tokio::test]
async fn an_unreachable_master_does_not_stop_the_api() {
    let dir = TempDir::new("nomaster");
    let store = common::store(dir.path()).await;
    // Nothing listens on port 1; the loop keeps retrying in the background.
    let task = tokio::spawn(framework::run("127.0.0.1:1".into(), store.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!task.is_finished(), "the subscription loop keeps retrying");
    let state = strata_frameworks_kubernetes::open(store).await.unwrap();
    let r = common::call(&state, "GET", "/api/v1/namespaces", None, "").await;
    assert_eq!(r.status, StatusCode::OK);
    task.abort();
}
