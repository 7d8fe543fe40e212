//! The clients against small in-test HTTP servers.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use strata_proto::recordio;
use tokio::sync::{mpsc, Mutex};

use crate::{calls, v1, Error, OperatorClient, SchedulerClient};

// === helpers ===

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// A master that streams whatever the test pushes into `chunks` and records
/// the calls it gets (body and stream id).
#[derive(Default)]
struct FakeMaster {
    chunks: Mutex<Option<mpsc::Receiver<Bytes>>>,
    calls: Mutex<Vec<(v1::SchedulerCall, Option<String>)>>,
}

async fn master_endpoint(
    State(master): State<Arc<FakeMaster>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call: v1::SchedulerCall = v1::Encoding::Json.decode(&body).unwrap();
    let stream_id = headers
        .get("mesos-stream-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let is_subscribe = call.r#type == Some(v1::SchedulerCallType::Subscribe as i32);
    master.calls.lock().await.push((call, stream_id));
    if !is_subscribe {
        return StatusCode::ACCEPTED.into_response();
    }
    let rx = master.chunks.lock().await.take().expect("one subscription");
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Response::builder()
        .header("Mesos-Stream-Id", "stream-1")
        .header("Content-Type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap()
}

fn fake_master() -> (Arc<FakeMaster>, mpsc::Sender<Bytes>, Router) {
    let (tx, rx) = mpsc::channel(16);
    let master = Arc::new(FakeMaster {
        chunks: Mutex::new(Some(rx)),
        ..Default::default()
    });
    let router = Router::new()
        .route("/api/v1/scheduler", post(master_endpoint))
        .with_state(master.clone());
    (master, tx, router)
}

fn record(event: &v1::SchedulerEvent) -> Bytes {
    recordio::encode(&v1::Encoding::Json.encode(event))
}

fn subscribed(framework: &str) -> v1::SchedulerEvent {
    v1::SchedulerEvent {
        r#type: Some(v1::SchedulerEventType::Subscribed as i32),
        subscribed: Some(v1::EventSubscribed {
            framework_id: Some(v1::framework_id(framework)),
            heartbeat_interval_seconds: Some(15.0),
            master_info: None,
        }),
        ..Default::default()
    }
}

fn heartbeat() -> v1::SchedulerEvent {
    v1::SchedulerEvent {
        r#type: Some(v1::SchedulerEventType::Heartbeat as i32),
        ..Default::default()
    }
}

fn error_event(message: &str) -> v1::SchedulerEvent {
    v1::SchedulerEvent {
        r#type: Some(v1::SchedulerEventType::Error as i32),
        error: Some(v1::EventError {
            message: message.into(),
        }),
        ..Default::default()
    }
}

fn framework_info() -> v1::FrameworkInfo {
    v1::FrameworkInfo {
        user: "root".into(),
        name: "test".into(),
        ..Default::default()
    }
}

const SHORT: Duration = Duration::from_millis(200);
const LONG: Duration = Duration::from_secs(5);

// === tests ===

#[tokio::test]
async fn events_decode_one_by_one_across_odd_chunk_boundaries() {
    let (master, tx, router) = fake_master();
    let addr = serve(router).await;
    let client = SchedulerClient::new(&addr.to_string()).unwrap();
    let mut sub = client.subscribe(framework_info(), None).await.unwrap();
    assert_eq!(sub.stream_id, "stream-1");

    let first = record(&subscribed("F1"));
    let second = record(&heartbeat());
    let third = record(&error_event("h\u{e9}llo\nworld"));

    // The first record arrives 3 bytes at a time: nothing is yielded until its
    // last byte is in, and then at once, before anything else is sent.
    let (head, last) = first.split_at(first.len() - 1);
    for piece in head.chunks(3) {
        tx.send(Bytes::copy_from_slice(piece)).await.unwrap();
    }
    assert!(tokio::time::timeout(SHORT, sub.events.next_event())
        .await
        .is_err());
    let mut tail = last.to_vec();
    tail.extend_from_slice(&second[..2]);
    tx.send(tail.into()).await.unwrap();
    let event = tokio::time::timeout(LONG, sub.events.next_event())
        .await
        .expect("first event without waiting for more bytes")
        .unwrap()
        .unwrap();
    assert_eq!(event, subscribed("F1"));
    assert!(tokio::time::timeout(SHORT, sub.events.next_event())
        .await
        .is_err());

    // The rest of the second record and all of the third in one chunk.
    let mut rest = second[2..].to_vec();
    rest.extend_from_slice(&third);
    tx.send(rest.into()).await.unwrap();
    let event = sub.events.next_event().await.unwrap().unwrap();
    assert_eq!(event, heartbeat());
    let event = sub.events.next_event().await.unwrap().unwrap();
    assert_eq!(event, error_event("h\u{e9}llo\nworld"));

    // The server closing the stream ends it.
    drop(tx);
    assert!(tokio::time::timeout(LONG, sub.events.next_event())
        .await
        .unwrap()
        .is_none());

    let calls = master.calls.lock().await;
    let subscribe = calls[0].0.subscribe.as_ref().unwrap();
    assert_eq!(subscribe.framework_info.as_ref().unwrap().name, "test");
}

#[tokio::test]
async fn subscribe_follows_a_redirect_and_calls_go_to_the_leader() {
    let (leader, tx, router) = fake_master();
    let leader_addr = serve(router).await;
    let redirector = Router::new().route(
        "/api/v1/scheduler",
        post(move || async move {
            Response::builder()
                .status(StatusCode::TEMPORARY_REDIRECT)
                .header("Location", format!("//{leader_addr}/api/v1/scheduler"))
                .body(Body::empty())
                .unwrap()
        }),
    );
    let follower_addr = serve(redirector).await;

    let client = SchedulerClient::new(&format!("http://{follower_addr}")).unwrap();
    tx.send(record(&subscribed("F1"))).await.unwrap();
    let mut sub = client
        .subscribe(framework_info(), Some(v1::framework_id("F1")))
        .await
        .unwrap();
    assert_eq!(sub.master, leader_addr.to_string());
    assert_eq!(client.master().await, leader_addr.to_string());
    assert_eq!(
        sub.events.next_event().await.unwrap().unwrap(),
        subscribed("F1")
    );

    let f = v1::framework_id("F1");
    client
        .call(&sub.stream_id, calls::revive(&f, vec![]))
        .await
        .unwrap();
    let calls = leader.calls.lock().await;
    assert_eq!(calls.len(), 2);
    let (subscribe, _) = &calls[0];
    assert_eq!(subscribe.framework_id, Some(f.clone()));
    assert_eq!(
        subscribe
            .subscribe
            .as_ref()
            .unwrap()
            .framework_info
            .as_ref()
            .unwrap()
            .id,
        Some(f)
    );
    let (revive, stream_id) = &calls[1];
    assert_eq!(revive.r#type, Some(v1::SchedulerCallType::Revive as i32));
    assert_eq!(stream_id.as_deref(), Some("stream-1"));
}

#[tokio::test]
async fn a_second_redirect_is_an_error() {
    let router = Router::new().route(
        "/api/v1/scheduler",
        post(|| async {
            Response::builder()
                .status(StatusCode::TEMPORARY_REDIRECT)
                .header("Location", "//127.0.0.1:1/api/v1/scheduler")
                .body(Body::empty())
                .unwrap()
        }),
    );
    // Each hop redirects to a server that redirects again.
    let loop_addr = serve(router).await;
    let hop = Router::new().route(
        "/api/v1/scheduler",
        post(move || async move {
            Response::builder()
                .status(StatusCode::TEMPORARY_REDIRECT)
                .header("Location", format!("http://{loop_addr}"))
                .body(Body::empty())
                .unwrap()
        }),
    );
    let addr = serve(hop).await;
    let client = SchedulerClient::new(&addr.to_string()).unwrap();
    let e = client.subscribe(framework_info(), None).await.unwrap_err();
    assert!(matches!(e, Error::Redirect { .. }), "{e}");
}

#[tokio::test]
async fn a_refused_call_is_a_status_error_with_the_masters_message() {
    let router = Router::new().route(
        "/api/v1/scheduler",
        post(|| async { (StatusCode::BAD_REQUEST, "Framework is not subscribed\n") }),
    );
    let addr = serve(router).await;
    let client = SchedulerClient::new(&addr.to_string()).unwrap();
    let e = client
        .call("stream-1", calls::teardown(&v1::framework_id("F1")))
        .await
        .unwrap_err();
    match &e {
        Error::Status { status, body, .. } => {
            assert_eq!(*status, 400);
            assert_eq!(body, "Framework is not subscribed");
        }
        other => panic!("expected a status error, got {other:?}"),
    }
    assert_eq!(
        e.to_string(),
        format!("master at {addr} answered 400: Framework is not subscribed")
    );

    // A refused SUBSCRIBE is reported the same way.
    let e = client.subscribe(framework_info(), None).await.unwrap_err();
    assert!(matches!(e, Error::Status { status: 400, .. }), "{e}");
}

#[tokio::test]
async fn an_unreachable_master_is_a_transport_error_naming_it() {
    let client = SchedulerClient::new("127.0.0.1:1").unwrap();
    let e = client
        .call("s", calls::teardown(&v1::framework_id("F")))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Transport { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("cannot reach master at 127.0.0.1:1: "),
        "{e}"
    );
}

#[tokio::test]
async fn operator_reads_json_and_an_empty_body_as_an_object() {
    let router = Router::new()
        .route(
            "/master/state",
            get(|| async { axum::Json(serde_json::json!({"frameworks": []})) }),
        )
        .route("/empty", get(|| async { StatusCode::OK }))
        .route("/api/v1/operator", post(|body: Bytes| async move { body }));
    let addr = serve(router).await;
    let client = OperatorClient::new(&format!("http://{addr}")).unwrap();
    assert_eq!(
        client.get_json("/master/state").await.unwrap(),
        serde_json::json!({"frameworks": []})
    );
    assert_eq!(
        client.get_json("/empty").await.unwrap(),
        serde_json::json!({})
    );
    let echoed = client
        .post_json(
            "/api/v1/operator",
            &serde_json::json!({"type": "GET_HEALTH"}),
        )
        .await
        .unwrap();
    assert_eq!(echoed, serde_json::json!({"type": "GET_HEALTH"}));
    let e = client.get_json("/missing").await.unwrap_err();
    assert!(matches!(e, Error::Status { status: 404, .. }), "{e}");
}
