//! The agent's HTTP front: the Mesos v1 executor API, `/state`, the sandbox
//! file endpoints, `/health` and `/version`.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use serde::Deserialize;
use strata_api::{ExecutorId, FrameworkId};
use strata_proto::{recordio, v1};
use tokio::sync::{mpsc, oneshot};

use crate::actor::{AgentEvent, AgentHandle, CallError};
use crate::files;

fn error(status: u16, message: impl Into<String>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message.into(),
    )
        .into_response()
}

impl IntoResponse for CallError {
    fn into_response(self) -> Response {
        error(self.status, self.message)
    }
}

fn unavailable() -> Response {
    error(503, "agent is shutting down")
}

/// The agent's routes.
pub fn router(handle: AgentHandle) -> Router {
    Router::new()
        .route("/api/v1/executor", post(executor_api))
        .route("/state", get(state))
        .route("/state.json", get(state))
        .route("/slave(1)/state", get(state))
        .route("/slave(1)/state.json", get(state))
        .route("/files/browse", get(browse))
        .route("/files/browse.json", get(browse))
        .route("/files/read", get(read))
        .route("/files/read.json", get(read))
        .route("/files/download", get(download))
        .route("/monitor/statistics", get(statistics))
        .route("/monitor/statistics.json", get(statistics))
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/version", get(|| async { Json(serde_json::json!({"version": strata_proto::MESOS_COMPAT_VERSION, "strata_version": env!("CARGO_PKG_VERSION")})) }))
        .layer(DefaultBodyLimit::max(16 * 1024 * 1024))
        .with_state(handle)
}

async fn query(h: &AgentHandle) -> Option<serde_json::Value> {
    let (reply, rx) = oneshot::channel();
    h.send(AgentEvent::Query { reply });
    rx.await.ok()
}

async fn state(State(h): State<AgentHandle>) -> Response {
    match query(&h).await {
        Some(v) => Json(v).into_response(),
        None => unavailable(),
    }
}

/// `/monitor/statistics`: resource usage of every running container, in
/// Mesos's shape (`executor_id`, `framework_id`, `source`, `statistics`).
async fn statistics(State(h): State<AgentHandle>) -> Response {
    let (reply, rx) = oneshot::channel();
    h.send(AgentEvent::Containers { reply });
    let Ok(m) = rx.await else {
        return unavailable();
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let stats = |u: Option<strata_agent_containerizer::Usage>,
                 cpus_limit: Option<f64>,
                 mem_limit: Option<f64>| {
        let mut v = serde_json::json!({"timestamp": now});
        if let Some(u) = u {
            v["mem_rss_bytes"] = serde_json::json!(u.mem_rss_bytes);
            v["cpus_user_time_secs"] = serde_json::json!(u.cpu_seconds);
            v["cpus_system_time_secs"] = serde_json::json!(0.0);
        }
        if let Some(c) = cpus_limit {
            v["cpus_limit"] = serde_json::json!(c);
        }
        if let Some(mb) = mem_limit {
            v["mem_limit_bytes"] = serde_json::json!((mb * 1024.0 * 1024.0) as u64);
        }
        v
    };
    let mut out = Vec::new();
    for (fid, eid, source, c) in &m.processes {
        out.push(serde_json::json!({
            "framework_id": fid, "executor_id": eid, "executor_name": "", "source": source,
            "container_id": c.id, "statistics": stats(m.containerizer.usage(c), None, None),
        }));
    }
    if let Some(docker) = &m.docker {
        for (fid, tid, c) in &m.dockers {
            out.push(serde_json::json!({
                "framework_id": fid, "executor_id": tid, "executor_name": "docker", "source": tid,
                "container_id": c.id, "statistics": stats(docker.usage(c).await, None, None),
            }));
        }
    }
    Json(serde_json::Value::Array(out)).into_response()
}

async fn work_dir(h: &AgentHandle) -> Option<std::path::PathBuf> {
    let v = query(h).await?;
    v["flags"]["work_dir"].as_str().map(Into::into)
}

#[derive(Deserialize)]
struct FileParams {
    #[serde(default)]
    path: String,
    offset: Option<i64>,
    length: Option<i64>,
}

async fn browse(State(h): State<AgentHandle>, Query(p): Query<FileParams>) -> Response {
    let Some(root) = work_dir(&h).await else {
        return unavailable();
    };
    match files::browse(&root, &p.path) {
        Ok(v) => Json(v).into_response(),
        Err(e) => error(e.status, e.message),
    }
}

async fn read(State(h): State<AgentHandle>, Query(p): Query<FileParams>) -> Response {
    let Some(root) = work_dir(&h).await else {
        return unavailable();
    };
    match files::read(&root, &p.path, p.offset, p.length) {
        Ok(v) => Json(v).into_response(),
        Err(e) => error(e.status, e.message),
    }
}

async fn download(State(h): State<AgentHandle>, Query(p): Query<FileParams>) -> Response {
    let Some(root) = work_dir(&h).await else {
        return unavailable();
    };
    let file = match files::resolve(&root, &p.path) {
        Ok(f) => f,
        Err(e) => return error(e.status, e.message),
    };
    match tokio::fs::read(&file).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response(),
        Err(e) => error(400, format!("cannot read {:?}: {e}", p.path)),
    }
}

/// Tells the actor when an executor's event stream is dropped.
struct StreamGuard {
    handle: AgentHandle,
    framework_id: FrameworkId,
    executor_id: ExecutorId,
    generation: u64,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.handle.send(AgentEvent::ExecutorStreamClosed {
            framework_id: self.framework_id.clone(),
            executor_id: self.executor_id.clone(),
            generation: self.generation,
        });
    }
}

/// `POST /api/v1/executor`.
async fn executor_api(State(h): State<AgentHandle>, headers: HeaderMap, body: Bytes) -> Response {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(encoding) = v1::Encoding::from_header(ct).filter(|_| !ct.is_empty()) else {
        return error(
            415,
            "expecting a Content-Type of application/json or application/x-protobuf",
        );
    };
    let call: v1::ExecutorCall = match encoding.decode(&body) {
        Ok(c) => c,
        Err(e) => return error(400, e),
    };
    if call.r#type == Some(v1::ExecutorCallType::Subscribe as i32) {
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .and_then(v1::Encoding::from_header)
            .unwrap_or(encoding);
        let (Some(fid), Some(eid)) = (call.framework_id.clone(), call.executor_id.clone()) else {
            return error(
                400,
                "expecting 'framework_id' and 'executor_id' to be present",
            );
        };
        let (sink, events) = mpsc::unbounded_channel::<v1::ExecutorEvent>();
        let (reply, rx) = oneshot::channel();
        if !h.send(AgentEvent::ExecutorSubscribe { call, sink, reply }) {
            return unavailable();
        }
        let generation = match rx.await {
            Ok(Ok(g)) => g,
            Ok(Err(e)) => return e.into_response(),
            Err(_) => return unavailable(),
        };
        let guard = StreamGuard {
            handle: h,
            framework_id: FrameworkId(fid.value),
            executor_id: ExecutorId(eid.value),
            generation,
        };
        let stream =
            futures::stream::unfold((events, guard), move |(mut events, guard)| async move {
                let ev = events.recv().await?;
                Some((
                    Ok::<Bytes, Infallible>(recordio::encode(&accept.encode(&ev))),
                    (events, guard),
                ))
            })
            .boxed();
        let mut resp = Response::new(Body::from_stream(stream));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(accept.content_type()),
        );
        resp.headers_mut()
            .insert("Mesos-Stream-Id", HeaderValue::from_static(""));
        return resp;
    }
    let (reply, rx) = oneshot::channel();
    if !h.send(AgentEvent::ExecutorCall { call, reply }) {
        return unavailable();
    }
    match rx.await {
        Ok(Ok(())) => StatusCode::ACCEPTED.into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(_) => unavailable(),
    }
}
