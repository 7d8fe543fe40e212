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
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::{Stream, StreamExt};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{json, Value};
use strata_proto::recordio;
use tokio::sync::{mpsc, oneshot};

use crate::actor::{MasterEvent, MasterHandle, Query};
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
        .route("/api/v1/ui/offers", get(offers))
        .route(
            "/api/v1/ui/tasks",
            get(
                |State(h): State<MasterHandle>, UrlQuery(q): UrlQuery<PageQuery>| {
                    query(h, Query::UiTasks(q))
                },
            ),
        )
        .route(
            "/api/v1/ui/agents",
            get(
                |State(h): State<MasterHandle>, UrlQuery(q): UrlQuery<PageQuery>| {
                    query(h, Query::UiAgents(q))
                },
            ),
        )
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

/// `/api/v1/ui/offers?framework=&offset=&limit=`: a page of the outstanding
/// offers (all of them without `limit`, as before paging existed).
async fn offers(State(h): State<MasterHandle>, UrlQuery(q): UrlQuery<PageQuery>) -> Response {
    let Some(mut v) = h.query(Query::UiOffers).await else {
        return (StatusCode::SERVICE_UNAVAILABLE, "master is shutting down").into_response();
    };
    let mut items = match v["items"].take() {
        Value::Array(items) => items,
        _ => Vec::new(),
    };
    if let Some(f) = q.framework.as_deref().filter(|f| !f.is_empty()) {
        items.retain(|o| o["framework_id"] == f);
    }
    let total = items.len();
    let limit = q
        .limit
        .map_or(total, |l| l.clamp(1, crate::ui_json::MAX_LIMIT));
    let items: Vec<Value> = items.into_iter().skip(q.offset).take(limit).collect();
    Json(json!({"total": total, "offset": q.offset, "limit": limit, "items": items}))
        .into_response()
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
) -> Option<(Value, mpsc::Receiver<Arc<Value>>)> {
    let (reply, rx) = oneshot::channel();
    if !h.send(MasterEvent::OperatorSubscribe { full_state, reply }) {
        return None;
    }
    rx.await.ok()
}

/// Merges the event receiver with heartbeats.
fn with_heartbeats(rx: mpsc::Receiver<Arc<Value>>) -> impl Stream<Item = Arc<Value>> {
    let events = tokio_stream::wrappers::ReceiverStream::new(rx);
    let beats = tokio_stream::wrappers::IntervalStream::new(tokio::time::interval_at(
        tokio::time::Instant::now() + HEARTBEAT,
        HEARTBEAT,
    ))
    .map(|_| Arc::new(json!({"type": "HEARTBEAT"})));
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

/// The v1 operator API SUBSCRIBE: RecordIO JSON, SUBSCRIBED with the state first.
pub async fn operator_subscribe(h: MasterHandle) -> Response {
    let Some((snapshot, rx)) = subscribe(&h, true).await else {
        return (StatusCode::SERVICE_UNAVAILABLE, "master is shutting down").into_response();
    };
    let first = json!({"type": "SUBSCRIBED", "subscribed": {"get_state": snapshot, "heartbeat_interval_seconds": HEARTBEAT.as_secs_f64()}});
    let frames = futures::stream::once(async move { Arc::new(first) })
        .chain(with_heartbeats(rx))
        .map(|ev| {
            Ok::<Bytes, Infallible>(recordio::encode(&strata_proto::v1::json::to_ascii_json(
                &*ev,
            )))
        });
    let mut resp = Response::new(Body::from_stream(frames));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// `GET /api/v1/events`: the same events as server-sent events, with the UI
/// overview as the first (`SUBSCRIBED`) event.
async fn sse(State(h): State<MasterHandle>) -> Response {
    let Some((snapshot, rx)) = subscribe(&h, false).await else {
        return (StatusCode::SERVICE_UNAVAILABLE, "master is shutting down").into_response();
    };
    let first = Arc::new(json!({"type": "SUBSCRIBED", "subscribed": {"overview": snapshot}}));
    let stream = futures::stream::once(async move { first })
        .chain(with_heartbeats(rx))
        .map(|ev| {
            let kind = ev["type"].as_str().unwrap_or("message").to_owned();
            Ok::<Event, Infallible>(Event::default().event(kind).data(ev.to_string()))
        });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
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
