//! Role weights and quota for operators: `/weights`, `/quota` (Mesos's
//! endpoints) and the v1 operator calls GET_WEIGHTS, UPDATE_WEIGHTS,
//! GET_QUOTA and UPDATE_QUOTA. Changes are written to the registry before
//! they are acknowledged.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::{json, Value};
use strata_api::Resources;
use strata_proto::convert::resources_from_wire;
use strata_proto::v1;
use tokio::sync::oneshot;

use crate::actor::{MasterEvent, MasterHandle};
use crate::core::{ApiError, MasterCore};

/// An operator change or read of roles.
#[derive(Debug, Clone)]
pub enum AdminOp {
    /// All weights.
    GetWeights,
    /// Set weights.
    SetWeights(Vec<(String, f64)>),
    /// All quotas.
    GetQuota,
    /// Set one role's quota.
    SetQuota(String, Resources, Option<Resources>),
    /// Remove one role's quota.
    RemoveQuota(String),
}

/// Carries out an admin operation on the core (called by the actor).
pub fn apply(core: &mut MasterCore, op: AdminOp) -> Result<Value, ApiError> {
    match op {
        AdminOp::GetWeights => Ok(weights_json(core)),
        AdminOp::SetWeights(w) => core.set_weights(&w).map(|()| weights_json(core)),
        AdminOp::GetQuota => Ok(quota_json(core)),
        AdminOp::SetQuota(role, g, l) => core.set_quota(&role, g, l).map(|()| quota_json(core)),
        AdminOp::RemoveQuota(role) => core.remove_quota(&role).map(|()| quota_json(core)),
    }
}

fn weights_json(core: &MasterCore) -> Value {
    json!(core
        .allocator
        .weights()
        .into_iter()
        .map(|(role, weight)| json!({"role": role, "weight": weight}))
        .collect::<Vec<_>>())
}

fn quota_json(core: &MasterCore) -> Value {
    let infos: Vec<Value> = core
        .allocator
        .quotas()
        .into_iter()
        .map(|(role, q)| {
            json!({
                "role": role,
                "guarantee": strata_proto::convert::resources_to_wire(&q.guarantee),
                "limit": q.limit.as_ref().map(strata_proto::convert::resources_to_wire),
                "consumed": crate::state_json::resources(&core.allocator.quota_consumed(&role)),
            })
        })
        .collect();
    json!({"status": {"infos": infos}})
}

/// Sends an admin operation to the actor and waits for its answer.
pub async fn run(h: &MasterHandle, op: AdminOp) -> Result<Value, ApiError> {
    let (reply, rx) = oneshot::channel();
    if !h.send(MasterEvent::Admin { op, reply }) {
        return Err(ApiError {
            status: 503,
            message: "this master is not leading".into(),
        });
    }
    rx.await.unwrap_or_else(|_| {
        Err(ApiError {
            status: 503,
            message: "the master stopped".into(),
        })
    })
}

fn answer(r: Result<Value, ApiError>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Reads resources given as Mesos Resource objects, a `{name: {value}}` map
/// (the v1 quota format) or text (`cpus:2;mem:1024`).
pub fn parse_resources(v: &Value, what: &str) -> Result<Resources, ApiError> {
    match v {
        Value::String(s) => s
            .parse()
            .map_err(|e| ApiError::bad_request(format!("invalid {what}: {e}"))),
        Value::Array(_) => {
            let list: Vec<v1::Resource> = serde_json::from_value(v.clone())
                .map_err(|e| ApiError::bad_request(format!("invalid {what}: {e}")))?;
            resources_from_wire(&list)
                .map_err(|e| ApiError::bad_request(format!("invalid {what}: {e}")))
        }
        Value::Object(map) => {
            let mut r = Resources::new();
            for (name, q) in map {
                let value = q["value"]
                    .as_f64()
                    .or_else(|| q.as_f64())
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "invalid {what}: {name} needs a non-negative value"
                        ))
                    })?;
                r.add_scalar(name, value);
            }
            Ok(r)
        }
        _ => Err(ApiError::bad_request(format!(
            "invalid {what}: expecting resources"
        ))),
    }
}

/// Parses `[{"role", "weight"}]`.
pub fn parse_weights(v: &Value) -> Result<Vec<(String, f64)>, ApiError> {
    let items = v
        .as_array()
        .ok_or_else(|| ApiError::bad_request("expecting an array of {\"role\", \"weight\"}"))?;
    items
        .iter()
        .map(|i| {
            let role = i["role"]
                .as_str()
                .ok_or_else(|| ApiError::bad_request("each weight needs a 'role'"))?;
            let weight = i["weight"].as_f64().ok_or_else(|| {
                ApiError::bad_request(format!("weight of role {role:?} must be a number"))
            })?;
            Ok((role.to_owned(), weight))
        })
        .collect()
}

/// `/weights` and `/quota`.
pub fn router() -> Router<MasterHandle> {
    Router::new()
        .route(
            "/weights",
            get(|State(h): State<MasterHandle>| async move { answer(run(&h, AdminOp::GetWeights).await) })
                .put(set_weights)
                .post(set_weights),
        )
        .route(
            "/quota",
            get(|State(h): State<MasterHandle>| async move { answer(run(&h, AdminOp::GetQuota).await) }).post(set_quota),
        )
        .route("/quota/{*role}", delete(remove_quota))
}

async fn set_weights(State(h): State<MasterHandle>, body: axum::body::Bytes) -> Response {
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return ApiError::bad_request(format!("invalid JSON: {e}")).into_response(),
    };
    match parse_weights(&v) {
        Ok(w) => answer(run(&h, AdminOp::SetWeights(w)).await),
        Err(e) => e.into_response(),
    }
}

async fn set_quota(State(h): State<MasterHandle>, body: axum::body::Bytes) -> Response {
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return ApiError::bad_request(format!("invalid JSON: {e}")).into_response(),
    };
    let Some(role) = v["role"].as_str() else {
        return ApiError::bad_request("expecting 'role' to be present").into_response();
    };
    let guarantee = match parse_resources(&v["guarantee"], "guarantee") {
        Ok(g) => g,
        Err(e) => return e.into_response(),
    };
    let limit = match v.get("limit").filter(|l| !l.is_null()) {
        Some(l) => match parse_resources(l, "limit") {
            Ok(l) => Some(l),
            Err(e) => return e.into_response(),
        },
        None => None,
    };
    answer(run(&h, AdminOp::SetQuota(role.to_owned(), guarantee, limit)).await)
}

async fn remove_quota(State(h): State<MasterHandle>, Path(role): Path<String>) -> Response {
    match run(&h, AdminOp::RemoveQuota(role)).await {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}
