//! The master's HTTP front: the Mesos v1 scheduler API and the operator
//! endpoints. Handlers validate and decode, then talk to the actor.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use strata_api::FrameworkId;
use strata_proto::{recordio, v1};
use tokio::sync::{mpsc, oneshot};

use crate::actor::{MasterEvent, MasterHandle, Query};
use crate::core::{ApiError, Subscribed};
use crate::state_json;

/// Bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.message,
        )
            .into_response()
    }
}

fn unavailable() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "master is shutting down").into_response()
}

/// The master's HTTP routes (scheduler API and operator endpoints).
pub fn router(handle: MasterHandle) -> Router {
    let json_query = |q: Query| {
        move |State(h): State<MasterHandle>| async move {
            match h.query(q).await {
                Some(v) => Json(v).into_response(),
                None => unavailable(),
            }
        }
    };
    Router::new()
        .route("/api/v1/scheduler", post(scheduler))
        .route("/api/v1/operator", post(operator))
        .route("/master/state", get(json_query(Query::State)))
        .route("/master/state.json", get(json_query(Query::State)))
        .route("/state", get(json_query(Query::State)))
        .route("/state.json", get(json_query(Query::State)))
        .route("/master/slaves", get(json_query(Query::Slaves)))
        .route("/master/slaves/", get(json_query(Query::Slaves)))
        .route("/slaves", get(json_query(Query::Slaves)))
        .route("/master/frameworks", get(json_query(Query::Frameworks)))
        .route("/master/frameworks/", get(json_query(Query::Frameworks)))
        .route("/frameworks", get(json_query(Query::Frameworks)))
        .route("/master/tasks", get(json_query(Query::Tasks)))
        .route("/master/tasks/", get(json_query(Query::Tasks)))
        .route("/tasks", get(json_query(Query::Tasks)))
        .route("/metrics/snapshot", get(json_query(Query::Metrics)))
        .route("/master/health", get(health))
        .route("/health", get(health))
        .route("/version", get(version))
        .route("/master/redirect", get(redirect))
        .merge(crate::operator_http::router())
        .merge(crate::roles_http::router())
        .merge(strata_ui::router())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(handle)
}

async fn health() -> StatusCode {
    StatusCode::OK
}

async fn version() -> Json<serde_json::Value> {
    Json(state_json::version())
}

/// This master is always the leader until HA lands: redirect to itself.
async fn redirect(headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:5050");
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, format!("//{host}"))],
    )
        .into_response()
}

fn encoding_of(
    headers: &HeaderMap,
    name: header::HeaderName,
) -> Result<Option<v1::Encoding>, ApiError> {
    match headers.get(&name) {
        None => Ok(None),
        Some(v) => {
            let s = v.to_str().unwrap_or("");
            v1::Encoding::from_header(s)
                .map(Some)
                .ok_or_else(|| ApiError {
                    status: if name == header::ACCEPT { 406 } else { 415 },
                    message: format!(
                    "unsupported {name} {s:?}: expecting application/json or application/x-protobuf"
                ),
                })
        }
    }
}

/// `POST /api/v1/scheduler`.
async fn scheduler(State(h): State<MasterHandle>, headers: HeaderMap, body: Bytes) -> Response {
    match scheduler_inner(h, headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn scheduler_inner(
    h: MasterHandle,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let content = encoding_of(&headers, header::CONTENT_TYPE)?.ok_or_else(|| ApiError {
        status: 415,
        message: "expecting a Content-Type of application/json or application/x-protobuf".into(),
    })?;
    let call: v1::SchedulerCall = content.decode(&body).map_err(ApiError::bad_request)?;
    let kind = call
        .r#type
        .ok_or_else(|| ApiError::bad_request("expecting 'type' to be present"))?;
    if kind == v1::SchedulerCallType::Subscribe as i32 {
        let accept = encoding_of(&headers, header::ACCEPT)?.unwrap_or(content);
        return subscribe(h, call, accept).await;
    }
    let stream_id = headers
        .get("mesos-stream-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::bad_request(
                "all non-subscribe calls must include the 'Mesos-Stream-Id' header",
            )
        })?;
    let (reply, rx) = oneshot::channel();
    if !h.send(MasterEvent::Call {
        stream_id,
        call,
        reply,
    }) {
        return Ok(unavailable());
    }
    match rx.await {
        Ok(Ok(())) => Ok(StatusCode::ACCEPTED.into_response()),
        Ok(Err(e)) => Err(e),
        Err(_) => Ok(unavailable()),
    }
}

/// Tells the actor when a framework's event stream is dropped (the client
/// went away, or the master ended the stream).
struct StreamGuard {
    handle: MasterHandle,
    framework_id: FrameworkId,
    stream_id: String,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.handle.send(MasterEvent::FrameworkDisconnected {
            framework_id: self.framework_id.clone(),
            stream_id: std::mem::take(&mut self.stream_id),
        });
    }
}

async fn subscribe(
    h: MasterHandle,
    call: v1::SchedulerCall,
    encoding: v1::Encoding,
) -> Result<Response, ApiError> {
    let (sink, events) = mpsc::unbounded_channel::<v1::SchedulerEvent>();
    let (reply, rx) = oneshot::channel();
    if !h.send(MasterEvent::Subscribe { call, sink, reply }) {
        return Ok(unavailable());
    }
    let outcome = match rx.await {
        Ok(r) => r?,
        Err(_) => return Ok(unavailable()),
    };
    let (guard, stream_id) = match outcome {
        Subscribed::Ok {
            framework_id,
            stream_id,
        } => (
            Some(StreamGuard {
                handle: h,
                framework_id,
                stream_id: stream_id.clone(),
            }),
            stream_id,
        ),
        Subscribed::Refused => (None, String::new()),
    };
    let stream = futures::stream::unfold((events, guard), move |(mut events, guard)| async move {
        let ev = events.recv().await?;
        let frame = recordio::encode(&encoding.encode(&ev));
        Some((Ok::<Bytes, Infallible>(frame), (events, guard)))
    })
    .boxed();
    let mut resp = Response::new(Body::from_stream(stream));
    let hdrs = resp.headers_mut();
    hdrs.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(encoding.content_type()),
    );
    hdrs.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&stream_id) {
        hdrs.insert("Mesos-Stream-Id", v);
    }
    Ok(resp)
}

/// `POST /api/v1/operator`: the read-only calls of the v1 operator API,
/// weights, quota and reservations.
async fn operator(State(h): State<MasterHandle>, headers: HeaderMap, body: Bytes) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.contains("json"));
    if !is_json {
        return ApiError {
            status: 415,
            message: "the operator API accepts application/json only".into(),
        }
        .into_response();
    }
    let call: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return ApiError::bad_request(format!("invalid JSON: {e}")).into_response(),
    };
    let kind = call.get("type").and_then(|t| t.as_str()).unwrap_or("");
    if kind == "SUBSCRIBE" {
        return crate::operator_http::operator_subscribe(h).await;
    }
    match kind {
        "GET_WEIGHTS" => {
            return match crate::roles_http::run(&h, crate::roles_http::AdminOp::GetWeights).await {
                Ok(v) => Json(
                    serde_json::json!({"type": "GET_WEIGHTS", "get_weights": {"weight_infos": v}}),
                )
                .into_response(),
                Err(e) => e.into_response(),
            };
        }
        "UPDATE_WEIGHTS" => {
            let w = match crate::roles_http::parse_weights(&call["update_weights"]["weight_infos"])
            {
                Ok(w) => w,
                Err(e) => return e.into_response(),
            };
            return match crate::roles_http::run(&h, crate::roles_http::AdminOp::SetWeights(w)).await
            {
                Ok(_) => StatusCode::OK.into_response(),
                Err(e) => e.into_response(),
            };
        }
        "GET_QUOTA" => {
            return match crate::roles_http::run(&h, crate::roles_http::AdminOp::GetQuota).await {
                Ok(v) => {
                    Json(serde_json::json!({"type": "GET_QUOTA", "get_quota": v})).into_response()
                }
                Err(e) => e.into_response(),
            };
        }
        "RESERVE_RESOURCES" | "UNRESERVE_RESOURCES" => {
            let reserve = kind == "RESERVE_RESOURCES";
            let body = if reserve {
                &call["reserve_resources"]
            } else {
                &call["unreserve_resources"]
            };
            let (agent, resources) = match crate::roles_http::parse_reservation_call(body) {
                Ok(x) => x,
                Err(e) => return e.into_response(),
            };
            let op = if reserve {
                crate::roles_http::AdminOp::Reserve(agent, resources)
            } else {
                crate::roles_http::AdminOp::Unreserve(agent, resources)
            };
            return match crate::roles_http::run(&h, op).await {
                Ok(_) => StatusCode::ACCEPTED.into_response(),
                Err(e) => e.into_response(),
            };
        }
        "UPDATE_QUOTA" => {
            let configs = call["update_quota"]["quota_configs"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for c in configs {
                let Some(role) = c["role"].as_str() else {
                    return ApiError::bad_request("each quota config needs a 'role'")
                        .into_response();
                };
                let g = match crate::roles_http::parse_resources(&c["guarantees"], "guarantees") {
                    Ok(g) => g,
                    Err(e) => return e.into_response(),
                };
                let l = match c.get("limits").filter(|l| !l.is_null()) {
                    Some(l) => match crate::roles_http::parse_resources(l, "limits") {
                        Ok(l) => Some(l),
                        Err(e) => return e.into_response(),
                    },
                    None => None,
                };
                if let Err(e) = crate::roles_http::run(
                    &h,
                    crate::roles_http::AdminOp::SetQuota(role.to_owned(), g, l),
                )
                .await
                {
                    return e.into_response();
                }
            }
            return StatusCode::OK.into_response();
        }
        _ => {}
    }
    let q = |q| async move { h.query(q).await.unwrap_or_default() };
    let v = match kind {
        "GET_HEALTH" => serde_json::json!({"type": "GET_HEALTH", "get_health": {"healthy": true}}),
        "GET_VERSION" => {
            serde_json::json!({"type": "GET_VERSION", "get_version": {"version_info": state_json::version()}})
        }
        "GET_STATE" => serde_json::json!({"type": "GET_STATE", "get_state": q(Query::State).await}),
        "GET_AGENTS" => {
            serde_json::json!({"type": "GET_AGENTS", "get_agents": q(Query::Slaves).await})
        }
        "GET_FRAMEWORKS" => {
            serde_json::json!({"type": "GET_FRAMEWORKS", "get_frameworks": q(Query::Frameworks).await})
        }
        "GET_TASKS" => serde_json::json!({"type": "GET_TASKS", "get_tasks": q(Query::Tasks).await}),
        "GET_METRICS" => {
            serde_json::json!({"type": "GET_METRICS", "get_metrics": q(Query::Metrics).await})
        }
        "" => return ApiError::bad_request("expecting 'type' to be present").into_response(),
        other => {
            return ApiError::bad_request(format!("operator call {other:?} is not supported"))
                .into_response()
        }
    };
    Json(v).into_response()
}
