//! The subscription loop against a fake master: the framework id is saved, events arrive,
//! acknowledgements carry the stream id, and a broken stream is re-subscribed with the
//! saved id after the backoff.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use strata_frameworks_runtime::{v1, DriverConfig, Event, FrameworkIdStore, Scheduler};
use strata_proto::recordio;
use tokio::sync::{mpsc, Mutex};
use tokio::time::timeout;

struct Master {
    subscribes: Mutex<Vec<Option<String>>>,
    calls: mpsc::UnboundedSender<(String, v1::SchedulerCall)>,
}

fn record(event: &v1::SchedulerEvent) -> Bytes {
    recordio::encode(&v1::Encoding::Json.encode(event))
}

async fn scheduler_api(State(m): State<Arc<Master>>, headers: HeaderMap, body: Bytes) -> Response {
    let call: v1::SchedulerCall = v1::Encoding::Json.decode(&body).unwrap();
    if call.r#type == Some(v1::SchedulerCallType::Subscribe as i32) {
        let mut subs = m.subscribes.lock().await;
        subs.push(call.framework_id.map(|f| f.value));
        let first = subs.len() == 1;
        let subscribed = v1::SchedulerEvent {
            r#type: Some(v1::SchedulerEventType::Subscribed as i32),
            subscribed: Some(v1::EventSubscribed {
                framework_id: Some(v1::framework_id("F1")),
                heartbeat_interval_seconds: Some(1.0),
                master_info: None,
            }),
            ..Default::default()
        };
        let update = v1::SchedulerEvent {
            r#type: Some(v1::SchedulerEventType::Update as i32),
            update: Some(v1::EventUpdate {
                status: Some(v1::TaskStatus {
                    task_id: Some(v1::task_id("t1")),
                    agent_id: Some(v1::agent_id("A1")),
                    state: v1::TaskState::TaskRunning as i32,
                    uuid: Some(vec![1; 16]),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        };
        let chunks = vec![record(&subscribed), record(&update)];
        // The first stream ends after its two events; the second stays open.
        let stream = futures::stream::unfold((chunks, first), |(mut chunks, first)| async move {
            if chunks.is_empty() {
                if first {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    return None;
                }
                futures::future::pending::<()>().await;
            }
            let c = chunks.remove(0);
            Some((Ok::<_, Infallible>(c), (chunks, first)))
        });
        return Response::builder()
            .header("Content-Type", "application/json")
            .header(
                "Mesos-Stream-Id",
                format!("stream-{}", if first { 1 } else { 2 }),
            )
            .body(Body::from_stream(stream))
            .unwrap();
    }
    let stream_id = headers
        .get("Mesos-Stream-Id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let _ = m.calls.send((stream_id, call));
    StatusCode::ACCEPTED.into_response()
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Event>) -> Event {
    timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an event")
        .expect("the driver is running")
}

#[tokio::test]
async fn subscribes_saves_the_id_acknowledges_and_resubscribes_with_it() {
    let (calls_tx, mut calls) = mpsc::unbounded_channel();
    let master = Arc::new(Master {
        subscribes: Mutex::new(Vec::new()),
        calls: calls_tx,
    });
    let app = Router::new()
        .route("/api/v1/scheduler", post(scheduler_api))
        .with_state(master.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = std::env::temp_dir().join(format!("strata-runtime-driver-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = strata_store::open(None, &dir).await.unwrap().store;
    let ids = FrameworkIdStore::new(store, "test/framework-id");
    let info = v1::FrameworkInfo {
        user: "root".into(),
        name: "test".into(),
        ..Default::default()
    };
    let mut config = DriverConfig::new(addr.to_string(), info);
    config.min_backoff = Duration::from_millis(50);
    let (scheduler, mut events) = Scheduler::start(config, Some(ids.clone())).await.unwrap();

    match next(&mut events).await {
        Event::Subscribed { framework_id, .. } => assert_eq!(framework_id.value, "F1"),
        other => panic!("expected SUBSCRIBED, got {other:?}"),
    }
    assert_eq!(ids.load().await.unwrap(), Some(v1::framework_id("F1")));
    let Event::Update(status) = next(&mut events).await else {
        panic!("expected UPDATE")
    };
    scheduler.acknowledge(&status).await.unwrap();
    let (stream, ack) = timeout(Duration::from_secs(5), calls.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stream, "stream-1");
    assert_eq!(ack.r#type, Some(v1::SchedulerCallType::Acknowledge as i32));
    assert_eq!(ack.framework_id, Some(v1::framework_id("F1")));

    // The stream ends: the driver says so and subscribes again, as F1.
    assert!(matches!(
        next(&mut events).await,
        Event::Disconnected { .. }
    ));
    assert!(matches!(next(&mut events).await, Event::Subscribed { .. }));
    assert_eq!(
        *master.subscribes.lock().await,
        vec![None, Some("F1".to_owned())]
    );
    scheduler
        .kill(v1::task_id("t1"), None, Some(Duration::from_secs(3)))
        .await
        .unwrap();
    let (stream, kill) = timeout(Duration::from_secs(5), calls.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stream, "stream-2");
    let grace = kill
        .kill
        .unwrap()
        .kill_policy
        .unwrap()
        .grace_period
        .unwrap();
    assert_eq!(grace.nanoseconds, 3_000_000_000);
    scheduler.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
