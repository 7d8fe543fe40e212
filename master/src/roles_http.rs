//! Role weights, quota and reservations for operators: `/weights`,
//! `/quota`, `/master/reserve` and `/master/unreserve` (Mesos's endpoints)
//! and the v1 operator calls GET_WEIGHTS, UPDATE_WEIGHTS, GET_QUOTA,
//! UPDATE_QUOTA, RESERVE_RESOURCES and UNRESERVE_RESOURCES. Changes are
//! written to the registry before they are acknowledged.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use strata_api::{AgentId, Resources};
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
    /// Dynamically reserve resources on an agent.
    Reserve(AgentId, Vec<v1::Resource>),
    /// Undo dynamic reservations on an agent.
    Unreserve(AgentId, Vec<v1::Resource>),
}

/// Carries out an admin operation on the core (called by the actor).
pub fn apply(core: &mut MasterCore, op: AdminOp) -> Result<Value, ApiError> {
    match op {
        AdminOp::GetWeights => Ok(weights_json(core)),
        AdminOp::SetWeights(w) => core.set_weights(&w).map(|()| weights_json(core)),
        AdminOp::GetQuota => Ok(quota_json(core)),
        AdminOp::SetQuota(role, g, l) => core.set_quota(&role, g, l).map(|()| quota_json(core)),
        AdminOp::RemoveQuota(role) => core.remove_quota(&role).map(|()| quota_json(core)),
        AdminOp::Reserve(agent, resources) => core
            .operator_reserve(&agent, &resources)
            .map(|()| Value::Null),
        AdminOp::Unreserve(agent, resources) => core
            .operator_unreserve(&agent, &resources)
            .map(|()| Value::Null),
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
        .route("/master/reserve", post(reserve_form))
        .route("/reserve", post(reserve_form))
        .route("/master/unreserve", post(unreserve_form))
        .route("/unreserve", post(unreserve_form))
}

/// The agent id and resources of a RESERVE_RESOURCES or
/// UNRESERVE_RESOURCES call (`{"agent_id": {"value"}, "resources": [..]}`).
pub fn parse_reservation_call(v: &Value) -> Result<(AgentId, Vec<v1::Resource>), ApiError> {
    let agent = v["agent_id"]["value"]
        .as_str()
        .ok_or_else(|| ApiError::bad_request("expecting 'agent_id.value' to be present"))?;
    let resources: Vec<v1::Resource> = serde_json::from_value(v["resources"].clone())
        .map_err(|e| ApiError::bad_request(format!("invalid 'resources': {e}")))?;
    Ok((AgentId(agent.to_owned()), resources))
}

/// `POST /master/reserve` and `/master/unreserve`: Mesos's form endpoints,
/// `slaveId=<agent id>&resources=<JSON array of Resource>` (in the body or
/// the query string). 202 when done, 409 when the resources are not there.
async fn reserve_form(
    State(h): State<MasterHandle>,
    uri: axum::http::Uri,
    body: axum::body::Bytes,
) -> Response {
    form_op(h, uri, body, AdminOp::Reserve).await
}

async fn unreserve_form(
    State(h): State<MasterHandle>,
    uri: axum::http::Uri,
    body: axum::body::Bytes,
) -> Response {
    form_op(h, uri, body, AdminOp::Unreserve).await
}

async fn form_op(
    h: MasterHandle,
    uri: axum::http::Uri,
    body: axum::body::Bytes,
    op: fn(AgentId, Vec<v1::Resource>) -> AdminOp,
) -> Response {
    let text = format!(
        "{}&{}",
        uri.query().unwrap_or(""),
        String::from_utf8_lossy(&body)
    );
    let fields = parse_form(&text);
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let Some(agent) = field("slaveId").or_else(|| field("agentId")) else {
        return ApiError::bad_request("missing 'slaveId'").into_response();
    };
    let Some(resources) = field("resources") else {
        return ApiError::bad_request("missing 'resources'").into_response();
    };
    let resources: Vec<v1::Resource> = match serde_json::from_str(resources) {
        Ok(r) => r,
        Err(e) => {
            return ApiError::bad_request(format!(
                "'resources' must be a JSON array of Resource objects: {e}"
            ))
            .into_response()
        }
    };
    match run(&h, op(AgentId(agent.clone()), resources)).await {
        Ok(_) => StatusCode::ACCEPTED.into_response(),
        Err(e) => e.into_response(),
    }
}

/// Splits `a=1&b=x%20y` into decoded pairs (`+` is a space).
fn parse_form(text: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = |b: u8| (b as char).to_digit(16);
                    match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                        (Some(hi), Some(lo)) => {
                            out.push((hi * 16 + lo) as u8);
                            i += 2;
                        }
                        _ => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use strata_proto::convert::resources_to_wire;
    use strata_proto::internal;
    use tower::ServiceExt;

    use super::*;
    use crate::core::CoreConfig;

    /// A master with one agent (cpus:4;mem:1024), behind the real router.
    fn app() -> (axum::Router, String) {
        let mut core = MasterCore::new(CoreConfig::default());
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        std::mem::forget(rx);
        let session = core.new_session();
        let agent = core
            .register_agent(
                std::time::Duration::ZERO,
                internal::Register {
                    agent_info: Some(v1::AgentInfo {
                        hostname: "127.0.0.1".into(),
                        resources: resources_to_wire(&"cpus:4;mem:1024".parse().unwrap()),
                        ..Default::default()
                    }),
                    http_endpoint: "http://127.0.0.1:5051".into(),
                    ..Default::default()
                },
                session,
                tx,
            )
            .unwrap();
        let handle = crate::actor::spawn(core, std::time::Duration::from_secs(1));
        (crate::http::router(handle), agent.to_string())
    }

    async fn send(app: &axum::Router, req: Request<Body>) -> (StatusCode, String) {
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn reserved(cpus: f64) -> Value {
        json!([{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus},
                "reservations": [{"type": "DYNAMIC", "role": "eng", "principal": "ops"}]}])
    }

    async fn reserved_cpus(app: &axum::Router) -> Value {
        let (_, body) = send(
            app,
            Request::get("/master/slaves").body(Body::empty()).unwrap(),
        )
        .await;
        let v: Value = serde_json::from_str(&body).unwrap();
        v["slaves"][0]["reserved_resources"]["eng"]["cpus"].clone()
    }

    #[tokio::test]
    async fn operators_reserve_and_unreserve_through_the_v1_api_and_the_form_endpoints() {
        let (app, agent) = app();
        let call = |kind: &str, field: &str, cpus: f64| {
            let body = json!({"type": kind, field: {"agent_id": {"value": agent}, "resources": reserved(cpus)}});
            Request::post("/api/v1/operator")
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap()
        };
        let (status, body) = send(&app, call("RESERVE_RESOURCES", "reserve_resources", 2.0)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(reserved_cpus(&app).await, json!(2.0));
        let (status, body) = send(&app, call("RESERVE_RESOURCES", "reserve_resources", 9.0)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(body.contains("cannot reserve"), "{body}");

        // Mesos's form endpoint, URL-encoded.
        let form = format!(
            "slaveId={agent}&resources={}",
            reserved(1.0)
                .to_string()
                .replace('%', "%25")
                .replace(' ', "+")
                .replace('"', "%22")
                .replace('&', "%26")
        );
        let (status, body) = send(
            &app,
            Request::post("/master/unreserve")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(form))
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(reserved_cpus(&app).await, json!(1.0));
        let (status, body) = send(
            &app,
            Request::post("/master/reserve")
                .body(Body::from(format!("slaveId={agent}&resources=[nope")))
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (status, _) = send(
            &app,
            call("UNRESERVE_RESOURCES", "unreserve_resources", 1.0),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(reserved_cpus(&app).await, Value::Null);
    }

    #[test]
    fn forms_decode_plus_and_percent_escapes() {
        assert_eq!(
            parse_form("a=x+y%2Fz&b=%zz&c"),
            vec![
                ("a".into(), "x y/z".into()),
                ("b".into(), "%zz".into()),
                ("c".into(), String::new())
            ]
        );
    }
}
