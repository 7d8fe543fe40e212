//! HTTP routes for operators and the web UI: the operator event stream
//! (RecordIO for the v1 operator API, server-sent events for browsers), the
//! paginated UI views, and a proxy to agents' sandbox files so the browser
//! talks to the master only.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query as UrlQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::{Json, Router};
use futures::{Stream, StreamExt};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use crate::actor::{MasterEvent, MasterHandle, Query};
use crate::events::SharedEvent;
use crate::ui_json::PageQuery;

/// How often idle event streams carry a heartbeat.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// Routes under `/api/v1/ui` and `/api/v1/events`.
pub fn router() -> Router<MasterHandle> {
    Router::new()
        .route("/api/v1/events", get(sse))
        .route(
            "/api/v1/ui/overview",
            get(|State(h): State<MasterHandle>| query(h, Query::UiOverview)),
        )
        .route("/api/v1/ui/offers", paged(Query::UiOffers))
        .route("/api/v1/ui/tasks", paged(Query::UiTasks))
        .route("/api/v1/ui/agents", paged(Query::UiAgents))
        .route("/api/v1/ui/frameworks", paged(Query::UiFrameworks))
        .route("/api/v1/ui/roles", paged(Query::UiRoles))
        .route("/api/v1/ui/tasks/{framework}/{task}", get(task_detail))
        .route("/api/v1/ui/agents/{agent}/state", get(agent_state))
        .route("/api/v1/ui/agents/{agent}/files/{op}", get(agent_files))
}

async fn query(h: MasterHandle, q: Query) -> Response {
    match h.query(q).await {
        Some(v) => Json(v).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "master is shutting down").into_response(),
    }
}

/// The route of a paged, filtered view: the query string becomes a
/// [`PageQuery`] and the actor renders only the page asked for.
fn paged(view: fn(PageQuery) -> Query) -> MethodRouter<MasterHandle> {
    get(move |State(h): State<MasterHandle>, UrlQuery(q): UrlQuery<PageQuery>| query(h, view(q)))
}

async fn task_detail(
    State(h): State<MasterHandle>,
    Path((framework, task)): Path<(String, String)>,
) -> Response {
    match h
        .query(Query::UiTask(framework.clone(), task.clone()))
        .await
    {
        Some(Value::Null) => (
            StatusCode::NOT_FOUND,
            format!("task {task} of framework {framework} is not known"),
        )
            .into_response(),
        Some(v) => Json(v).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "master is shutting down").into_response(),
    }
}

/// Subscribes to the event bus: the snapshot and the receiver.
pub async fn subscribe(
    h: &MasterHandle,
    full_state: bool,
) -> Option<(Value, mpsc::Receiver<Arc<SharedEvent>>)> {
    let (reply, rx) = oneshot::channel();
    if !h.send(MasterEvent::OperatorSubscribe { full_state, reply }) {
        return None;
    }
    rx.await.ok()
}

/// Merges the event receiver with heartbeats.
fn with_heartbeats(rx: mpsc::Receiver<Arc<SharedEvent>>) -> impl Stream<Item = Arc<SharedEvent>> {
    let events = tokio_stream::wrappers::ReceiverStream::new(rx);
    let beat = SharedEvent::heartbeat();
    let beats = tokio_stream::wrappers::IntervalStream::new(tokio::time::interval_at(
        tokio::time::Instant::now() + HEARTBEAT,
        HEARTBEAT,
    ))
    .map(move |_| beat.clone());
    // End when the events end (the bus dropped a slow subscriber).
    futures::stream::select(
        events
            .map(Some)
            .chain(futures::stream::once(async { None })),
        beats.map(Some),
    )
    .take_while(|e| futures::future::ready(e.is_some()))
    .filter_map(futures::future::ready)
}

/// A streaming response of `content_type` made of `frames`.
fn streaming(
    content_type: &'static str,
    frames: impl Stream<Item = Bytes> + Send + 'static,
) -> Response {
    let mut resp = Response::new(Body::from_stream(frames.map(Ok::<Bytes, Infallible>)));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// The v1 operator API SUBSCRIBE: RecordIO JSON, SUBSCRIBED with the state
/// first. Events are written as the bus serialised them, once for everyone.
pub async fn operator_subscribe(h: MasterHandle) -> Response {
    let Some((snapshot, rx)) = subscribe(&h, true).await else {
        return (StatusCode::SERVICE_UNAVAILABLE, "master is shutting down").into_response();
    };
    let first = SharedEvent::new(
        &json!({"type": "SUBSCRIBED", "subscribed": {"get_state": snapshot, "heartbeat_interval_seconds": HEARTBEAT.as_secs_f64()}}),
    );
    let frames = futures::stream::once(async move { first.recordio() })
        .chain(with_heartbeats(rx).map(|ev| ev.recordio()));
    streaming("application/json", frames)
}

/// `GET /api/v1/events`: the same events as server-sent events, with the UI
/// overview and the recent offer events as the first (`SUBSCRIBED`) event.
async fn sse(State(h): State<MasterHandle>) -> Response {
    let Some((snapshot, rx)) = subscribe(&h, false).await else {
        return (StatusCode::SERVICE_UNAVAILABLE, "master is shutting down").into_response();
    };
    let first =
        SharedEvent::new(&json!({"type": "SUBSCRIBED", "subscribed": {"overview": snapshot}}));
    let frames = futures::stream::once(async move { first.sse() })
        .chain(with_heartbeats(rx).map(|ev| ev.sse()));
    streaming("text/event-stream", frames)
}

// === agent proxy ===

#[derive(Deserialize)]
struct FileParams {
    path: Option<String>,
    offset: Option<i64>,
    length: Option<i64>,
}

async fn agent_base(h: &MasterHandle, agent: &str) -> Result<String, Response> {
    match h.query(Query::AgentEndpoint(agent.to_owned())).await {
        Some(Value::String(s)) => Ok(s),
        Some(_) => {
            Err((StatusCode::NOT_FOUND, format!("agent {agent} is not known")).into_response())
        }
        None => Err((StatusCode::SERVICE_UNAVAILABLE, "master is shutting down").into_response()),
    }
}

async fn proxy_get(url: String) -> Response {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<Bytes>>();
    let uri: axum::http::Uri = match url.parse() {
        Ok(u) => u,
        Err(e) => {
            return (StatusCode::BAD_REQUEST, format!("invalid agent url: {e}")).into_response()
        }
    };
    let fut = client.get(uri);
    let resp = match tokio::time::timeout(Duration::from_secs(10), fut).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            return (StatusCode::BAD_GATEWAY, format!("agent unreachable: {e}")).into_response()
        }
        Err(_) => {
            return (
                StatusCode::GATEWAY_TIMEOUT,
                "agent did not answer within 10s",
            )
                .into_response()
        }
    };
    let status = resp.status();
    let ct = resp.headers().get(header::CONTENT_TYPE).cloned();
    let body = match resp.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return (
                StatusCode::BAD_GATEWAY,
                format!("agent answer broke off: {e}"),
            )
                .into_response()
        }
    };
    let mut out = Response::new(Body::from(body));
    *out.status_mut() = status;
    if let Some(ct) = ct {
        out.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    out
}

fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

async fn agent_state(State(h): State<MasterHandle>, Path(agent): Path<String>) -> Response {
    match agent_base(&h, &agent).await {
        Ok(base) => proxy_get(format!("{base}/state")).await,
        Err(r) => r,
    }
}

async fn agent_files(
    State(h): State<MasterHandle>,
    Path((agent, op)): Path<(String, String)>,
    UrlQuery(p): UrlQuery<FileParams>,
) -> Response {
    if !matches!(op.as_str(), "read" | "browse") {
        return (
            StatusCode::NOT_FOUND,
            format!("no files operation {op:?}: use read or browse"),
        )
            .into_response();
    }
    let base = match agent_base(&h, &agent).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut url = format!(
        "{base}/files/{op}?path={}",
        enc(p.path.as_deref().unwrap_or(""))
    );
    if let Some(o) = p.offset {
        url.push_str(&format!("&offset={o}"));
    }
    if let Some(l) = p.length {
        url.push_str(&format!("&length={l}"));
    }
    proxy_get(url).await
}

#[cfg(test)]
mod tests {
    use axum::http::Request;
    use http_body_util::BodyExt;
    use strata_proto::convert::resources_to_wire;
    use strata_proto::internal;
    use strata_proto::v1;
    use tower::ServiceExt;

    use super::*;
    use crate::core::{CoreConfig, MasterCore};

    /// Reads body frames until `buf` holds a whole server-sent event.
    async fn next_event(body: &mut Body, buf: &mut Vec<u8>) -> (String, Value) {
        loop {
            if let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
                let event: Vec<u8> = buf.drain(..end + 2).collect();
                let text = String::from_utf8(event).unwrap();
                let kind = text
                    .lines()
                    .find_map(|l| l.strip_prefix("event: "))
                    .unwrap();
                let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
                return (kind.to_owned(), serde_json::from_str(data).unwrap());
            }
            let frame = body.frame().await.unwrap().unwrap();
            buf.extend_from_slice(frame.data_ref().unwrap());
        }
    }

    async fn get_json(app: &Router, path: &str) -> Value {
        let resp = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&body).unwrap()
    }

    #[tokio::test]
    async fn browsers_get_the_snapshot_then_shared_events_and_every_list_is_paged() {
        let h = crate::actor::spawn(
            MasterCore::new(CoreConfig::default()),
            Duration::from_secs(1),
        );
        let app = router().with_state(h.clone());
        let resp = app
            .clone()
            .oneshot(Request::get("/api/v1/events").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/event-stream");
        let mut body = resp.into_body();
        let mut buf = Vec::new();
        let (kind, first) = next_event(&mut body, &mut buf).await;
        assert_eq!(kind, "SUBSCRIBED");
        assert!(first["subscribed"]["overview"]["recent_offer_events"].is_array());

        // An agent registers over its link: AGENT_ADDED arrives on the stream.
        let (sink, _commands) = mpsc::unbounded_channel();
        let (reply, registered) = oneshot::channel();
        let register = internal::Register {
            agent_info: Some(v1::AgentInfo {
                hostname: "sim-0".into(),
                resources: resources_to_wire(&"cpus:2;mem:1024".parse().unwrap()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(h.send(MasterEvent::AgentRegister {
            register,
            sink,
            reply
        }));
        registered.await.unwrap().unwrap();
        let (kind, ev) = next_event(&mut body, &mut buf).await;
        assert_eq!(kind, "AGENT_ADDED", "{ev}");

        for path in [
            "/api/v1/ui/agents?limit=5",
            "/api/v1/ui/offers?limit=5",
            "/api/v1/ui/frameworks?limit=5",
            "/api/v1/ui/roles?limit=5",
            "/api/v1/ui/tasks?limit=5",
        ] {
            let v = get_json(&app, path).await;
            assert_eq!(v["limit"], 5, "{path}: {v}");
            assert!(v["items"].is_array(), "{path}: {v}");
        }
        let v = get_json(&app, "/api/v1/ui/agents?q=SIM-").await;
        assert_eq!(v["items"][0]["hostname"], "sim-0");
        let v = get_json(&app, "/api/v1/ui/roles").await;
        assert!(v["history"]["samples"].is_array(), "{v}");
    }
}
