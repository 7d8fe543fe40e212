//! The `/v2` REST API, `/ping` and `/metrics`, as Marathon 1.x answers them.
//!
//! Paths are normalised first (marathon-python sends `/v2/apps//web`), then routed. App
//! ids may contain slashes, so `/v2/apps/...` and `/v2/groups/...` are parsed here.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::Mutex;
use tower::ServiceExt as _;

use crate::app::{merge_update, parse_app, AppDefinition};
use crate::core::{Core, DeploymentRef};
use crate::error::ApiError;
use crate::events::EventBus;
use crate::model::GroupRecord;
use crate::pathid::PathId;

/// What the HTTP handlers share: the core (one owner at a time) and the event bus.
#[derive(Clone)]
pub struct ApiState {
    pub(crate) core: Arc<Mutex<Core>>,
    pub(crate) events: EventBus,
}

type Reply = Result<Response, ApiError>;

/// The API router. Every request's path is normalised (repeated slashes collapse) before
/// routing.
pub fn router(state: ApiState) -> Router {
    let inner = Router::new()
        .route("/ping", any(ping))
        .route("/metrics", any(metrics))
        .route("/v2/info", any(info))
        .route("/v2/leader", any(leader))
        .route("/v2/apps", any(apps_root))
        .route("/v2/apps/{*rest}", any(apps_path))
        .route("/v2/tasks", any(tasks_root))
        .route("/v2/tasks/delete", any(tasks_delete))
        .route("/v2/deployments", any(deployments_root))
        .route("/v2/deployments/{id}", any(deployment_one))
        .route("/v2/queue", any(queue))
        .route("/v2/queue/{*rest}", any(queue_path))
        .route("/v2/groups", any(groups_root))
        .route("/v2/groups/{*rest}", any(groups_path))
        .route("/v2/events", any(events))
        .route("/v2/eventSubscriptions", any(event_subscriptions))
        .fallback(not_found)
        .with_state(state);
    Router::new().fallback(move |req: Request| {
        let inner = inner.clone();
        async move {
            let req = normalize(req);
            match inner.oneshot(req).await {
                Ok(r) => r,
                Err(e) => match e {},
            }
        }
    })
}

fn normalize(mut req: Request) -> Request {
    let uri = req.uri().clone();
    let path = uri.path();
    if !path.contains("//") && (path.len() <= 1 || !path.ends_with('/')) {
        return req;
    }
    let mut collapsed = String::with_capacity(path.len());
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        collapsed.push('/');
        collapsed.push_str(seg);
    }
    if collapsed.is_empty() {
        collapsed.push('/');
    }
    let pq = match uri.query() {
        Some(q) => format!("{collapsed}?{q}"),
        None => collapsed,
    };
    if let Ok(p) = pq.parse() {
        let mut parts = uri.into_parts();
        parts.path_and_query = Some(p);
        if let Ok(u) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = u;
        }
    }
    req
}

// === helpers ===

struct Query(Vec<(String, String)>);

impl Query {
    fn of(req: &Request) -> Query {
        Query(parse_query(req.uri().query().unwrap_or("")))
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
    }

    fn all(&self, k: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(a, _)| a == k)
            .flat_map(|(_, v)| v.split(','))
            .collect()
    }

    fn flag(&self, k: &str) -> bool {
        self.get(k)
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
    }
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn body_json(req: Request) -> Result<Value, ApiError> {
    let bytes = axum::body::to_bytes(req.into_body(), 4 << 20)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("cannot read the body: {e}"),
            )
        })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError {
        status: StatusCode::BAD_REQUEST,
        body: json!({"message": "Invalid JSON", "details": [{"path": "/", "errors": [e.to_string()]}]}),
    })
}

fn ok(v: Value) -> Reply {
    Ok((StatusCode::OK, axum::Json(v)).into_response())
}

fn encoding(e: serde_json::Error) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("encoding the reply: {e}"))
}

/// `{"<field>": [items...]}`, each item serialized as soon as it is made: a list of
/// thousands of apps or tasks never exists as one tree of JSON values.
fn ok_list(field: &str, items: impl Iterator<Item = Value>) -> Reply {
    let mut body = Vec::with_capacity(64 * 1024);
    body.extend_from_slice(b"{");
    serde_json::to_writer(&mut body, field).map_err(encoding)?;
    body.extend_from_slice(b":[");
    for (i, item) in items.enumerate() {
        if i > 0 {
            body.push(b',');
        }
        serde_json::to_writer(&mut body, &item).map_err(encoding)?;
    }
    body.extend_from_slice(b"]}");
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

fn deployment_reply(status: StatusCode, r: &DeploymentRef) -> Reply {
    let mut resp = (
        status,
        axum::Json(json!({"deploymentId": r.id, "version": r.version})),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&r.id) {
        resp.headers_mut().insert("Marathon-Deployment-Id", v);
    }
    Ok(resp)
}

fn method_not_allowed() -> Reply {
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed",
    ))
}

fn app_id(s: &str) -> Result<PathId, ApiError> {
    PathId::absolute(s).map_err(|e| ApiError::invalid(&[("/id".into(), e)]))
}

fn client_ip(req: &Request) -> String {
    req.headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned()
}

async fn not_found() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "not found").into_response()
}

// === misc ===

async fn ping() -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], "pong").into_response()
}

async fn metrics(State(s): State<ApiState>) -> Response {
    let core = s.core.lock().await;
    let active = core.instances.values().filter(|i| i.is_active()).count();
    let running = core
        .instances
        .values()
        .filter(|i| i.state == strata_api::TaskState::Running)
        .count();
    let mut counters = serde_json::Map::new();
    for (k, v) in &core.counters {
        counters.insert(format!("marathon.{k}.counter"), json!({"count": v}));
    }
    let body = json!({
        "version": "4.0.0",
        "gauges": {
            "marathon.apps.active.gauge": {"value": core.apps.len()},
            "marathon.deployments.active.gauge": {"value": core.deployments.len()},
            "marathon.instances.active.gauge": {"value": active},
            "marathon.instances.running.gauge": {"value": running},
            "marathon.instances.launch-queue.gauge": {"value": core.queue.values().sum::<u32>()},
            "marathon.groups.active.gauge": {"value": core.groups.len()},
            "marathon.mesos.subscribed.gauge": {"value": u8::from(core.subscribed)},
            "marathon.store.pending-instance-writes.gauge": {"value": core.pending_writes()},
        },
        "counters": counters,
        "histograms": {},
        "meters": {},
        "timers": {},
    });
    axum::Json(body).into_response()
}

async fn info(State(s): State<ApiState>) -> Response {
    let core = s.core.lock().await;
    let id = &core.identity;
    let port: u16 = id
        .leader
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    axum::Json(json!({
        "name": "marathon",
        "version": "1.11.0",
        "buildref": "strata",
        "elected": true,
        "leader": id.leader,
        "frameworkId": core.framework_id,
        "event_subscriber": null,
        "http_config": {"http_port": port, "https_port": 8443, "assets_path": null},
        "marathon_config": {
            "master": id.master,
            "framework_name": "marathon",
            "hostname": id.leader.rsplit_once(':').map(|(h, _)| h).unwrap_or("127.0.0.1"),
            "checkpoint": true,
            "failover_timeout": 604800,
            "mesos_role": "*",
            "mesos_user": "root",
            "webui_url": null,
        },
        "zookeeper_config": {
            "zk": id.store_url,
            "zk_timeout": 10000,
            "zk_session_timeout": 10000,
            "zk_max_versions": 50,
        },
    }))
    .into_response()
}

async fn leader(State(s): State<ApiState>, req: Request) -> Reply {
    let core = s.core.lock().await;
    match *req.method() {
        Method::GET => ok(json!({"leader": core.identity.leader})),
        Method::DELETE => ok(json!({"message": "Leadership abdicated"})),
        _ => method_not_allowed(),
    }
}

async fn event_subscriptions(req: Request) -> Reply {
    match *req.method() {
        Method::GET => ok(json!({"callbackUrls": []})),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "http callback subscriptions are not supported; use /v2/events",
        )),
    }
}

// === apps ===

async fn apps_root(State(s): State<ApiState>, req: Request) -> Reply {
    let q = Query::of(&req);
    match *req.method() {
        Method::GET => {
            let core = s.core.lock().await;
            let embed = q.all("embed");
            let tasks = embed.iter().any(|e| e.ends_with(".tasks"));
            let failures = embed
                .iter()
                .any(|e| e.ends_with(".lastTaskFailure") || e.ends_with(".failures"));
            let id_filter = q.get("id").map(str::to_owned);
            let cmd_filter = q.get("cmd").map(str::to_owned);
            let label_filter = q.get("label").map(parse_label_selector);
            let apps = core
                .apps
                .values()
                .filter(|a| {
                    id_filter
                        .as_ref()
                        .is_none_or(|f| a.id.to_string().contains(f.as_str()))
                })
                .filter(|a| {
                    cmd_filter
                        .as_ref()
                        .is_none_or(|f| a.cmd.as_deref().is_some_and(|c| c.contains(f.as_str())))
                })
                .filter(|a| {
                    label_filter.as_ref().is_none_or(|sel| {
                        sel.iter().all(|(k, v)| match v {
                            Some(v) => a.labels.get(k) == Some(v),
                            None => a.labels.contains_key(k),
                        })
                    })
                })
                .map(|a| core.app_json(a, tasks, failures));
            ok_list("apps", apps)
        }
        Method::POST => {
            let ip = client_ip(&req);
            let force = q.flag("force");
            let body = body_json(req).await?;
            if body.is_array() {
                return Err(ApiError::invalid(&[(
                    "/".into(),
                    "expected one app object; use PUT /v2/apps for several".into(),
                )]));
            }
            let mut core = s.core.lock().await;
            let version = core.next_version();
            let mut app = parse_app(&body, &PathId::root(), "", &version)
                .map_err(|p| ApiError::invalid(&p))?;
            if core.apps.contains_key(&app.id) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!("An app with id [{}] already exists.", app.id),
                ));
            }
            if core.apps.keys().any(|a| a.is_within(&app.id)) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!("A group with id [{}] already exists.", app.id),
                ));
            }
            core.assign_service_ports(&mut app);
            let id = app.id.clone();
            let r = core
                .deploy(
                    vec![(id.clone(), Some(app.clone()))],
                    force,
                    version,
                    Vec::new(),
                )
                .await?;
            core.events.publish(
                "api_post_event",
                json!({"clientIp": ip, "uri": format!("/v2/apps{id}"), "appDefinition": app.to_api_json()}),
            );
            core.reconcile().await;
            let body = core.app_json(&app, true, false);
            let mut resp = (StatusCode::CREATED, axum::Json(body)).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("/v2/apps{id}")) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            if let Ok(v) = HeaderValue::from_str(&r.id) {
                resp.headers_mut().insert("Marathon-Deployment-Id", v);
            }
            Ok(resp)
        }
        Method::PUT | Method::PATCH => {
            let ip = client_ip(&req);
            let force = q.flag("force");
            let body = body_json(req).await?;
            let Some(list) = body.as_array() else {
                return Err(ApiError::invalid(&[(
                    "/".into(),
                    "expected a list of apps".into(),
                )]));
            };
            let mut core = s.core.lock().await;
            let version = core.next_version();
            let mut changes = Vec::new();
            let mut problems = Vec::new();
            for (i, item) in list.iter().enumerate() {
                let Some(id) = item.get("id").and_then(Value::as_str) else {
                    problems.push((format!("/{i}/id"), "error.path.missing".to_owned()));
                    continue;
                };
                let id = match PathId::absolute(id) {
                    Ok(id) => id,
                    Err(e) => {
                        problems.push((format!("/{i}/id"), e));
                        continue;
                    }
                };
                match updated_app(&core, &id, item, &version, &format!("/{i}")) {
                    Ok(app) => changes.push((id, Some(app))),
                    Err(p) => problems.extend(p),
                }
            }
            if !problems.is_empty() {
                return Err(ApiError::invalid(&problems));
            }
            for (_, app) in changes.iter_mut() {
                if let Some(app) = app {
                    core.assign_service_ports(app);
                }
            }
            let posted: Vec<Value> = changes
                .iter()
                .filter_map(|(_, a)| a.as_ref().map(AppDefinition::to_api_json))
                .collect();
            let r = core.deploy(changes, force, version, Vec::new()).await?;
            for a in posted {
                core.events.publish(
                    "api_post_event",
                    json!({"clientIp": ip, "uri": "/v2/apps", "appDefinition": a}),
                );
            }
            core.reconcile().await;
            deployment_reply(StatusCode::OK, &r)
        }
        _ => method_not_allowed(),
    }
}

fn parse_label_selector(s: &str) -> Vec<(String, Option<String>)> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| match p.split_once("==").or_else(|| p.split_once('=')) {
            Some((k, v)) => (k.trim().to_owned(), Some(v.trim().to_owned())),
            None => (p.trim().to_owned(), None),
        })
        .collect()
}

/// The app after applying `body` (PUT/PATCH semantics: a partial update) to what exists.
fn updated_app(
    core: &Core,
    id: &PathId,
    body: &Value,
    version: &str,
    prefix: &str,
) -> Result<AppDefinition, Vec<(String, String)>> {
    if !body.is_object() {
        return Err(vec![(
            if prefix.is_empty() {
                "/".into()
            } else {
                prefix.to_owned()
            },
            "error.expected.jsobject".into(),
        )]);
    }
    let existing = core.apps.get(id);
    let base = existing
        .map(|a| serde_json::to_value(a).unwrap_or_default())
        .unwrap_or_else(|| json!({}));
    let mut merged = merge_update(&base, body);
    merged["id"] = json!(id.to_string());
    let mut app = parse_app(&merged, &PathId::root(), prefix, version)?;
    if let Some(old) = existing {
        if !old.config_differs(&app) {
            app.version_info.last_config_change_at = old.version_info.last_config_change_at.clone();
        }
    }
    Ok(app)
}

async fn apps_path(State(s): State<ApiState>, req: Request) -> Reply {
    let path = req.uri().path().trim_start_matches("/v2/apps").to_owned();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let core = s.core.lock().await;
    let whole = PathId::absolute(&path).ok();
    let is_app = whole.as_ref().is_some_and(|id| core.apps.contains_key(id));
    drop(core);
    if !is_app {
        let n = segs.len();
        if n >= 2 && segs[n - 1] == "restart" {
            return app_restart(s, &segs[..n - 1].join("/"), req).await;
        }
        if n >= 2 && segs[n - 1] == "tasks" {
            return app_tasks(s, &segs[..n - 1].join("/"), None, req).await;
        }
        if n >= 3 && segs[n - 2] == "tasks" {
            return app_tasks(
                s,
                &segs[..n - 2].join("/"),
                Some(segs[n - 1].to_owned()),
                req,
            )
            .await;
        }
        if n >= 2 && segs[n - 1] == "versions" {
            return app_versions(s, &segs[..n - 1].join("/"), None).await;
        }
        if n >= 3 && segs[n - 2] == "versions" {
            return app_versions(s, &segs[..n - 2].join("/"), Some(segs[n - 1])).await;
        }
    }
    app_one(s, &path, req).await
}

async fn app_one(s: ApiState, path: &str, req: Request) -> Reply {
    let id = app_id(path)?;
    let q = Query::of(&req);
    let force = q.flag("force");
    match *req.method() {
        Method::GET => {
            let core = s.core.lock().await;
            let app = core
                .apps
                .get(&id)
                .ok_or_else(|| ApiError::app_not_found(&id))?;
            ok(json!({"app": core.app_json(app, true, true)}))
        }
        Method::PUT | Method::PATCH => {
            let ip = client_ip(&req);
            let body = body_json(req).await?;
            let mut core = s.core.lock().await;
            let version = core.next_version();
            // {"version": v} alone rolls the app back to a stored version.
            let rollback = body
                .as_object()
                .filter(|o| o.len() == 1)
                .and_then(|o| o.get("version"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            let mut app = match rollback {
                Some(v) => {
                    let mut old = core.version(&id, &v).await?.ok_or_else(|| {
                        ApiError::new(
                            StatusCode::NOT_FOUND,
                            format!("Version '{v}' of app '{id}' does not exist"),
                        )
                    })?;
                    old.version = version.clone();
                    old.version_info = crate::app::VersionInfo {
                        last_scaling_at: version.clone(),
                        last_config_change_at: version.clone(),
                    };
                    old
                }
                None => updated_app(&core, &id, &body, &version, "")
                    .map_err(|p| ApiError::invalid(&p))?,
            };
            core.assign_service_ports(&mut app);
            let created = !core.apps.contains_key(&id);
            let r = core
                .deploy(
                    vec![(id.clone(), Some(app.clone()))],
                    force,
                    version,
                    Vec::new(),
                )
                .await?;
            core.events.publish(
                "api_post_event",
                json!({"clientIp": ip, "uri": format!("/v2/apps{id}"), "appDefinition": app.to_api_json()}),
            );
            core.reconcile().await;
            deployment_reply(
                if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                &r,
            )
        }
        Method::DELETE => {
            let mut core = s.core.lock().await;
            if !core.apps.contains_key(&id) {
                return Err(ApiError::app_not_found(&id));
            }
            let version = core.next_version();
            let r = core
                .deploy(vec![(id.clone(), None)], force, version, Vec::new())
                .await?;
            core.delete_versions(&id).await;
            core.reconcile().await;
            deployment_reply(StatusCode::OK, &r)
        }
        _ => method_not_allowed(),
    }
}

async fn app_restart(s: ApiState, path: &str, req: Request) -> Reply {
    if req.method() != Method::POST {
        return method_not_allowed();
    }
    let id = app_id(path)?;
    let force = Query::of(&req).flag("force");
    let mut core = s.core.lock().await;
    let mut app = core
        .apps
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::app_not_found(&id))?;
    let version = core.next_version();
    app.version = version.clone();
    app.version_info.last_scaling_at = version.clone();
    app.version_info.last_config_change_at = version.clone();
    let r = core
        .deploy(vec![(id, Some(app))], force, version, Vec::new())
        .await?;
    core.reconcile().await;
    deployment_reply(StatusCode::OK, &r)
}

async fn app_tasks(s: ApiState, path: &str, task: Option<String>, req: Request) -> Reply {
    let id = app_id(path)?;
    let q = Query::of(&req);
    let scale = q.flag("scale");
    let force = q.flag("force");
    let mut core = s.core.lock().await;
    if !core.apps.contains_key(&id) {
        return Err(ApiError::app_not_found(&id));
    }
    match (req.method().clone(), task) {
        (Method::GET, None) => ok(json!({"tasks": core.app_tasks_json(&id)})),
        (Method::GET, Some(t)) => {
            let inst = core.instances.get(&t).filter(|i| i.app_id == id);
            match inst {
                Some(i) => ok(json!({"task": i.to_json(core.apps.get(&id))})),
                None => Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("Task '{t}' does not exist"),
                )),
            }
        }
        (Method::DELETE, None) => {
            let host = q.get("host").map(str::to_owned);
            let ids: Vec<String> = core
                .instances
                .of_app(&id)
                .filter(|i| i.is_active())
                .filter(|i| host.as_ref().is_none_or(|h| &i.host == h))
                .map(|i| i.task_id.clone())
                .collect();
            let (killed, r) = core.kill_tasks(&ids, scale, force).await?;
            core.reconcile().await;
            match r {
                Some(r) => deployment_reply(StatusCode::OK, &r),
                None => ok(json!({ "tasks": killed })),
            }
        }
        (Method::DELETE, Some(t)) => {
            if !core
                .instances
                .get(&t)
                .is_some_and(|i| i.app_id == id && i.is_active())
            {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("Task '{t}' does not exist"),
                ));
            }
            let (killed, r) = core
                .kill_tasks(std::slice::from_ref(&t), scale, force)
                .await?;
            core.reconcile().await;
            match r {
                Some(r) => deployment_reply(StatusCode::OK, &r),
                None => ok(json!({"task": killed.into_iter().next()})),
            }
        }
        _ => method_not_allowed(),
    }
}

async fn app_versions(s: ApiState, path: &str, version: Option<&str>) -> Reply {
    let id = app_id(path)?;
    let core = s.core.lock().await;
    if !core.apps.contains_key(&id) {
        return Err(ApiError::app_not_found(&id));
    }
    match version {
        None => ok(json!({"versions": core.versions(&id).await?})),
        Some(v) => match core.version(&id, v).await? {
            Some(app) => ok(app.to_api_json()),
            None => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("Version '{v}' of app '{id}' does not exist"),
            )),
        },
    }
}

// === tasks ===

async fn tasks_root(State(s): State<ApiState>, req: Request) -> Reply {
    if req.method() != Method::GET {
        return method_not_allowed();
    }
    let q = Query::of(&req);
    let statuses: Vec<String> = q
        .all("status")
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let plain = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/plain") && !a.contains("json"));
    let core = s.core.lock().await;
    let tasks: Vec<&crate::model::Instance> = core
        .instances
        .values()
        .filter(|i| i.is_active())
        .filter(|i| {
            statuses.is_empty()
                || statuses.iter().any(|s| match s.as_str() {
                    "running" => i.state == strata_api::TaskState::Running,
                    "staging" => matches!(
                        i.state,
                        strata_api::TaskState::Staging | strata_api::TaskState::Starting
                    ),
                    _ => false,
                })
        })
        .collect();
    if plain {
        // Marathon's text form: one line per app and service port, `app port host:port...`.
        let mut by_app: BTreeMap<&PathId, Vec<&crate::model::Instance>> = BTreeMap::new();
        for t in &tasks {
            by_app.entry(&t.app_id).or_default().push(t);
        }
        let mut out = String::new();
        for (app, insts) in by_app {
            let sp = core
                .apps
                .get(app)
                .map(AppDefinition::service_ports)
                .unwrap_or_default();
            for (i, port) in sp.iter().enumerate() {
                out.push_str(&format!("{}\t{port}\t", app.task_prefix()));
                for t in &insts {
                    if let Some(p) = t.ports.get(i) {
                        out.push_str(&format!("{}:{p}\t", t.host));
                    }
                }
                out.push('\n');
            }
        }
        return Ok(([(header::CONTENT_TYPE, "text/plain")], out).into_response());
    }
    ok_list(
        "tasks",
        tasks.iter().map(|i| i.to_json(core.apps.get(&i.app_id))),
    )
}

async fn tasks_delete(State(s): State<ApiState>, req: Request) -> Reply {
    if req.method() != Method::POST {
        return method_not_allowed();
    }
    let q = Query::of(&req);
    let (scale, force) = (q.flag("scale"), q.flag("force"));
    let body = body_json(req).await?;
    let ids: Vec<String> = match body.get("ids").and_then(Value::as_array) {
        Some(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        None => {
            return Err(ApiError::invalid(&[(
                "/ids".into(),
                "error.path.missing".into(),
            )]))
        }
    };
    let mut core = s.core.lock().await;
    let (killed, r) = core.kill_tasks(&ids, scale, force).await?;
    core.reconcile().await;
    match r {
        Some(r) => deployment_reply(StatusCode::OK, &r),
        None => ok(json!({ "tasks": killed })),
    }
}

// === deployments ===

async fn deployments_root(State(s): State<ApiState>, req: Request) -> Reply {
    if req.method() != Method::GET {
        return method_not_allowed();
    }
    let core = s.core.lock().await;
    ok(json!(core
        .deployments
        .iter()
        .map(|d| d.to_json())
        .collect::<Vec<_>>()))
}

async fn deployment_one(
    State(s): State<ApiState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    req: Request,
) -> Reply {
    let force = Query::of(&req).flag("force");
    let mut core = s.core.lock().await;
    match *req.method() {
        Method::GET => match core.deployments.get(&id) {
            Some(d) => ok(d.to_json()),
            None => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("DeploymentPlan {id} does not exist"),
            )),
        },
        Method::DELETE => {
            let r = core.cancel_deployment(&id, force).await?;
            core.reconcile().await;
            match r {
                Some(r) => deployment_reply(StatusCode::OK, &r),
                None => Ok(StatusCode::ACCEPTED.into_response()),
            }
        }
        _ => method_not_allowed(),
    }
}

// === queue ===

async fn queue(State(s): State<ApiState>) -> Reply {
    let core = s.core.lock().await;
    ok(core.queue_json())
}

async fn queue_path(State(s): State<ApiState>, req: Request) -> Reply {
    let path = req.uri().path().trim_start_matches("/v2/queue").to_owned();
    let Some(app) = path.strip_suffix("/delay") else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not found"));
    };
    if req.method() != Method::DELETE {
        return method_not_allowed();
    }
    let id = app_id(app)?;
    let mut core = s.core.lock().await;
    if !core.reset_delay(&id) {
        return Err(ApiError::app_not_found(&id));
    }
    core.reconcile().await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// === groups ===

fn group_json(core: &Core, id: &PathId) -> Value {
    let mut child_groups: BTreeSet<PathId> = BTreeSet::new();
    let depth = id.segments().len();
    let mut apps = Vec::new();
    for (app_id, app) in &core.apps {
        if !app_id.is_within(id) || app_id == id {
            continue;
        }
        if app_id.segments().len() == depth + 1 {
            apps.push(core.app_json(app, false, false));
        } else {
            child_groups.insert(
                PathId::absolute(&format!("/{}", app_id.segments()[..=depth].join("/")))
                    .unwrap_or_default(),
            );
        }
    }
    for g in core.groups.keys() {
        if g.is_within(id) && g.segments().len() == depth + 1 {
            child_groups.insert(g.clone());
        }
    }
    let record = core.groups.get(id).cloned().unwrap_or_default();
    let version = if record.version.is_empty() {
        core.apps
            .values()
            .filter(|a| a.id.is_within(id))
            .map(|a| a.version.clone())
            .max()
            .unwrap_or_else(|| crate::time::iso(0))
    } else {
        record.version
    };
    json!({
        "id": id.to_string(),
        "apps": apps,
        "groups": child_groups.iter().map(|g| group_json(core, g)).collect::<Vec<_>>(),
        "dependencies": record.dependencies,
        "version": version,
        "pods": [],
    })
}

fn group_exists(core: &Core, id: &PathId) -> bool {
    id.is_root()
        || core.groups.contains_key(id)
        || core.apps.keys().any(|a| a.is_within(id) && a != id)
}

/// Collects the apps and groups of a group body, ids resolved against `base`.
fn collect_group(
    body: &Value,
    base: &PathId,
    version: &str,
    prefix: &str,
    apps: &mut Vec<AppDefinition>,
    groups: &mut BTreeMap<PathId, GroupRecord>,
    problems: &mut Vec<(String, String)>,
) {
    let id = match body.get("id").and_then(Value::as_str) {
        Some(s) => match PathId::parse(s, &base.parent()) {
            Ok(id) => id,
            Err(e) => {
                problems.push((format!("{prefix}/id"), e));
                return;
            }
        },
        None => base.clone(),
    };
    let dependencies: Vec<String> = body
        .get("dependencies")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter_map(|d| PathId::parse(d, &id.parent()).ok())
                .map(|d| d.to_string())
                .collect()
        })
        .unwrap_or_default();
    if !id.is_root() {
        groups.insert(
            id.clone(),
            GroupRecord {
                dependencies,
                version: version.to_owned(),
            },
        );
    }
    if let Some(list) = body.get("apps").and_then(Value::as_array) {
        for (i, a) in list.iter().enumerate() {
            let mut a = a.clone();
            if let Some(rel) = a.get("id").and_then(Value::as_str) {
                match PathId::parse(rel, &id) {
                    Ok(full) => a["id"] = json!(full.to_string()),
                    Err(e) => {
                        problems.push((format!("{prefix}/apps/{i}/id"), e));
                        continue;
                    }
                }
            }
            match parse_app(&a, &id, &format!("{prefix}/apps/{i}"), version) {
                Ok(app) => apps.push(app),
                Err(p) => problems.extend(p),
            }
        }
    }
    if let Some(list) = body.get("groups").and_then(Value::as_array) {
        for (i, g) in list.iter().enumerate() {
            let mut g = g.clone();
            let child = match g.get("id").and_then(Value::as_str) {
                Some(rel) => PathId::parse(rel, &id),
                None => Err("error.path.missing".to_owned()),
            };
            match child {
                Ok(c) => {
                    g["id"] = json!(c.to_string());
                    collect_group(
                        &g,
                        &c,
                        version,
                        &format!("{prefix}/groups/{i}"),
                        apps,
                        groups,
                        problems,
                    );
                }
                Err(e) => problems.push((format!("{prefix}/groups/{i}/id"), e)),
            }
        }
    }
}

async fn groups_root(State(s): State<ApiState>, req: Request) -> Reply {
    group_request(s, "/", req).await
}

async fn groups_path(State(s): State<ApiState>, req: Request) -> Reply {
    let path = req.uri().path().trim_start_matches("/v2/groups").to_owned();
    let path = path
        .strip_suffix("/versions")
        .map(str::to_owned)
        .unwrap_or(path);
    group_request(s, &path, req).await
}

async fn group_request(s: ApiState, path: &str, req: Request) -> Reply {
    let id = PathId::absolute(path).map_err(|e| ApiError::invalid(&[("/id".into(), e)]))?;
    let q = Query::of(&req);
    let force = q.flag("force");
    match req.method().clone() {
        Method::GET => {
            let core = s.core.lock().await;
            if !group_exists(&core, &id) {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("Group '{id}' does not exist"),
                ));
            }
            if req.uri().path().ends_with("/versions") {
                return ok(json!([group_json(&core, &id)["version"]]));
            }
            ok(group_json(&core, &id))
        }
        method @ (Method::POST | Method::PUT | Method::PATCH) => {
            let body = body_json(req).await?;
            let mut core = s.core.lock().await;
            let version = core.next_version();
            // POST on a parent creates the group named in the body.
            let gid = if method == Method::POST {
                match body.get("id").and_then(Value::as_str) {
                    Some(rel) => PathId::parse(rel, &id)
                        .map_err(|e| ApiError::invalid(&[("/id".into(), e)]))?,
                    None => id.clone(),
                }
            } else {
                id.clone()
            };
            if method == Method::POST && !gid.is_root() && group_exists(&core, &gid) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!("Group {gid} is already created. Use PUT to change this group."),
                ));
            }
            if let Some(factor) = body.get("scaleBy").and_then(Value::as_f64) {
                let changes: Vec<(PathId, Option<AppDefinition>)> = core
                    .apps
                    .values()
                    .filter(|a| a.id.is_within(&gid))
                    .map(|a| {
                        let mut a = a.clone();
                        a.instances = (a.instances as f64 * factor).ceil().max(0.0) as u32;
                        a.version = version.clone();
                        a.version_info.last_scaling_at = version.clone();
                        (a.id.clone(), Some(a))
                    })
                    .collect();
                let r = core.deploy(changes, force, version, Vec::new()).await?;
                core.reconcile().await;
                return deployment_reply(StatusCode::OK, &r);
            }
            let mut body = body;
            body["id"] = json!(gid.to_string());
            let mut apps = Vec::new();
            let mut groups = BTreeMap::new();
            let mut problems = Vec::new();
            collect_group(
                &body,
                &gid,
                &version,
                "",
                &mut apps,
                &mut groups,
                &mut problems,
            );
            if !problems.is_empty() {
                return Err(ApiError::invalid(&problems));
            }
            let mut changes: Vec<(PathId, Option<AppDefinition>)> = Vec::new();
            let given: BTreeSet<PathId> = apps.iter().map(|a| a.id.clone()).collect();
            for mut app in apps {
                if let Some(old) = core.apps.get(&app.id) {
                    // PUT changes existing apps as an update.
                    let as_update = serde_json::to_value(&app).unwrap_or_default();
                    let mut merged = app.clone();
                    if let Ok(u) = updated_app(&core, &app.id, &as_update, &version, "") {
                        merged = u;
                    }
                    if !old.config_differs(&merged) {
                        merged.version_info.last_config_change_at =
                            old.version_info.last_config_change_at.clone();
                    }
                    app = merged;
                }
                core.assign_service_ports(&mut app);
                changes.push((app.id.clone(), Some(app)));
            }
            if method != Method::POST && body.get("apps").is_some() {
                // The body describes the whole group: apps it no longer lists go.
                for a in core
                    .apps
                    .keys()
                    .filter(|a| a.is_within(&gid) && !given.contains(*a))
                {
                    changes.push((a.clone(), None));
                }
            }
            let previous: Vec<(PathId, Option<GroupRecord>)> = groups
                .keys()
                .map(|g| (g.clone(), core.groups.get(g).cloned()))
                .collect();
            for (g, r) in &groups {
                core.groups.insert(g.clone(), r.clone());
            }
            let writes = Core::group_writes(&groups, &[]);
            let result = core.deploy(changes, force, version.clone(), writes).await;
            let r = match result {
                Ok(r) => r,
                Err(e) => {
                    for (g, old) in previous {
                        match old {
                            Some(o) => core.groups.insert(g, o),
                            None => core.groups.remove(&g),
                        };
                    }
                    return Err(e);
                }
            };
            core.events.publish(
                "group_change_success",
                json!({"groupId": gid.to_string(), "version": version}),
            );
            core.reconcile().await;
            deployment_reply(
                if method == Method::POST {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                &r,
            )
        }
        Method::DELETE => {
            let mut core = s.core.lock().await;
            if !group_exists(&core, &id) {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("Group '{id}' does not exist"),
                ));
            }
            let version = core.next_version();
            let changes: Vec<(PathId, Option<AppDefinition>)> = core
                .apps
                .keys()
                .filter(|a| a.is_within(&id))
                .map(|a| (a.clone(), None))
                .collect();
            let removed: Vec<PathId> = core
                .groups
                .keys()
                .filter(|g| g.is_within(&id))
                .cloned()
                .collect();
            let writes = Core::group_writes(&BTreeMap::new(), &removed);
            let r = core.deploy(changes, force, version, writes).await?;
            for g in removed {
                core.groups.remove(&g);
            }
            core.reconcile().await;
            deployment_reply(StatusCode::OK, &r)
        }
        _ => method_not_allowed(),
    }
}

// === events ===

async fn events(State(s): State<ApiState>, req: Request) -> Response {
    let q = Query::of(&req);
    let filter: Vec<String> = q.all("event_type").into_iter().map(str::to_owned).collect();
    let remote = client_ip(&req);
    let rx = s.events.subscribe();
    s.events
        .publish("event_stream_attached", json!({"remoteAddress": remote}));
    let detach = DetachOnDrop {
        events: s.events.clone(),
        remote,
    };
    let stream = futures::stream::unfold(
        (rx, filter, detach),
        |(mut rx, filter, detach)| async move {
            loop {
                match tokio::time::timeout(Duration::from_secs(15), rx.recv()).await {
                    // A blank line keeps proxies and clients from timing the stream out.
                    Err(_) => {
                        return Some((
                            Ok::<_, Infallible>(Bytes::from_static(b"\n")),
                            (rx, filter, detach),
                        ))
                    }
                    Ok(Ok(event)) => {
                        if !filter.is_empty() && !filter.contains(&event.event_type) {
                            continue;
                        }
                        let chunk =
                            format!("event: {}\ndata: {}\n\n", event.event_type, event.json);
                        return Some((Ok(Bytes::from(chunk)), (rx, filter, detach)));
                    }
                    Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(n))) => {
                        tracing::warn!(
                            missed = n,
                            "event stream subscriber lagged; events dropped"
                        );
                    }
                    Ok(Err(_)) => return None,
                }
            }
        },
    );
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

struct DetachOnDrop {
    events: EventBus,
    remote: String,
}

impl Drop for DetachOnDrop {
    fn drop(&mut self) {
        self.events.publish(
            "event_stream_detached",
            json!({"remoteAddress": self.remote}),
        );
    }
}
