//! The scheduler API through the real router and actor, without binding a
//! port (`tower::ServiceExt::oneshot`).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use prost::Message as _;
use strata_proto::{recordio, v1};
use tower::ServiceExt;

use crate::core::{CoreConfig, MasterCore};

fn app() -> axum::Router {
    let handle = crate::actor::spawn(
        MasterCore::new(CoreConfig::default()),
        std::time::Duration::from_secs(1),
    );
    crate::http::router(handle)
}

fn post(ct: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post("/api/v1/scheduler")
        .header("content-type", ct)
        .body(body.into())
        .unwrap()
}

async fn text(resp: axum::response::Response) -> String {
    String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap()
}

fn subscribe_call() -> v1::SchedulerCall {
    v1::SchedulerCall {
        r#type: Some(v1::SchedulerCallType::Subscribe as i32),
        subscribe: Some(v1::CallSubscribe {
            framework_info: Some(v1::FrameworkInfo {
                user: "u".into(),
                name: "proto".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn protobuf_subscribe_streams_protobuf_records() {
    let req = Request::post("/api/v1/scheduler")
        .header("content-type", "application/x-protobuf")
        .header("accept", "application/x-protobuf")
        .body(Body::from(subscribe_call().encode_to_vec()))
        .unwrap();
    let resp = app().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/x-protobuf");
    assert!(!resp.headers()["mesos-stream-id"].is_empty());
    let mut body = resp.into_body();
    let mut dec = recordio::Decoder::default();
    let record = loop {
        if let Some(r) = dec.next_record().unwrap() {
            break r;
        }
        let frame = body.frame().await.unwrap().unwrap();
        dec.feed(frame.data_ref().unwrap());
    };
    let ev = v1::SchedulerEvent::decode(record).unwrap();
    assert_eq!(ev.r#type, Some(v1::SchedulerEventType::Subscribed as i32));
    let sub = ev.subscribed.unwrap();
    assert!(!sub.framework_id.unwrap().value.is_empty());
    assert_eq!(sub.heartbeat_interval_seconds, Some(15.0));
}

#[tokio::test]
async fn json_subscribe_answers_with_a_chunked_json_stream() {
    let body = serde_json::to_vec(&subscribe_call()).unwrap();
    let resp = app().oneshot(post("application/json", body)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let frame = resp
        .into_body()
        .frame()
        .await
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap();
    let text = String::from_utf8(frame.to_vec()).unwrap();
    let (len, json) = text.split_once('\n').unwrap();
    assert_eq!(len.parse::<usize>().unwrap(), json.len());
    assert!(
        json.starts_with(r#"{"type":"SUBSCRIBED","subscribed":{"framework_id":{"value":"#),
        "{json}"
    );
}

#[tokio::test]
async fn malformed_bodies_get_400_naming_the_problem() {
    let resp = app()
        .oneshot(post("application/json", "{not json"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(text(resp).await.starts_with("invalid JSON"));

    let resp = app()
        .oneshot(post("application/x-protobuf", vec![0xff, 0xff, 0xff]))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(text(resp).await.starts_with("invalid protobuf"));

    let resp = app()
        .oneshot(post("application/json", r#"{"type":"SUBSCRIBE"}"#))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(text(resp).await, "expecting 'subscribe' to be present");

    let resp = app()
        .oneshot(post("application/json", r#"{"type":"NO_SUCH_CALL"}"#))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    let resp = app().oneshot(post("text/plain", "{}")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn calls_need_a_stream_id_and_a_subscription() {
    let call = r#"{"type":"REVIVE","framework_id":{"value":"nobody"}}"#;
    let resp = app().oneshot(post("application/json", call)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(text(resp).await.contains("Mesos-Stream-Id"));

    let req = Request::post("/api/v1/scheduler")
        .header("content-type", "application/json")
        .header("mesos-stream-id", "made-up")
        .body(Body::from(call))
        .unwrap();
    let resp = app().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(text(resp).await, "framework nobody is not subscribed");
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let big = vec![b' '; crate::http::MAX_BODY_BYTES + 1];
    let resp = app().oneshot(post("application/json", big)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn version_is_numeric_for_pymesos() {
    let resp = app()
        .oneshot(Request::get("/version").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text(resp).await).unwrap();
    let version = v["version"].as_str().unwrap();
    assert!(
        version.split('.').all(|n| n.parse::<u32>().is_ok()),
        "{version}"
    );
}

#[tokio::test]
async fn operator_subscribe_streams_state_then_events() {
    let app = app();
    let req = Request::post("/api/v1/operator")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"type":"SUBSCRIBE"}"#))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let mut dec = recordio::Decoder::default();
    async fn next(body: &mut Body, dec: &mut recordio::Decoder) -> serde_json::Value {
        loop {
            if let Some(r) = dec.next_record().unwrap() {
                return serde_json::from_slice::<serde_json::Value>(&r).unwrap();
            }
            let frame = body.frame().await.unwrap().unwrap();
            dec.feed(frame.data_ref().unwrap());
        }
    }
    let first = next(&mut body, &mut dec).await;
    assert_eq!(first["type"], "SUBSCRIBED");
    assert!(first["subscribed"]["get_state"]["slaves"].is_array());
    // A framework subscribing shows up as FRAMEWORK_ADDED.
    let call = serde_json::to_vec(&subscribe_call()).unwrap();
    let _stream = app.oneshot(post("application/json", call)).await.unwrap();
    let ev = next(&mut body, &mut dec).await;
    assert_eq!(ev["type"], "FRAMEWORK_ADDED", "{ev}");
    assert_eq!(
        ev["framework_added"]["framework"]["framework_info"]["name"],
        "proto"
    );
}

#[tokio::test]
async fn ui_views_are_paged() {
    let app = app();
    let resp = app
        .clone()
        .oneshot(
            Request::get("/api/v1/ui/overview")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text(resp).await).unwrap();
    assert!(v["resources"]["total"].is_object());
    let resp = app
        .clone()
        .oneshot(
            Request::get("/api/v1/ui/tasks?limit=10&state=TASK_RUNNING")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text(resp).await).unwrap();
    assert_eq!(v["total"], 0);
    assert_eq!(v["limit"], 10);
    let resp = app
        .oneshot(
            Request::get("/api/v1/ui/tasks/nope/nope")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn weights_and_quota_are_set_read_and_refused_when_invalid() {
    let app = app();
    let put = |path: &str, body: &str| {
        Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    let resp = app
        .clone()
        .oneshot(put("/weights", r#"[{"role":"eng","weight":2.5}]"#))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{}", text(resp).await);
    let resp = app
        .clone()
        .oneshot(Request::get("/weights").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text(resp).await).unwrap();
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|w| w["role"] == "eng" && w["weight"] == 2.5),
        "{v}"
    );

    let resp = app
        .clone()
        .oneshot(put("/weights", r#"[{"role":"bad role","weight":1}]"#))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = app
        .clone()
        .oneshot(put("/weights", r#"[{"role":"eng","weight":-1}]"#))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // No agents: any guarantee is larger than the cluster.
    let resp = app
        .clone()
        .oneshot(put("/quota", r#"{"role":"eng","guarantee":"cpus:2"}"#))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let message = text(resp).await;
    assert!(message.contains("exceed"), "{message}");
    let resp = app
        .clone()
        .oneshot(put("/quota", r#"{"guarantee":"cpus:2"}"#))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = app
        .oneshot(Request::get("/quota").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text(resp).await).unwrap();
    assert_eq!(v["status"]["infos"], serde_json::json!([]));
}
