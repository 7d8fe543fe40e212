//! The HTTP front: path routing (`/api/v1/...`, `/apis/{group}/{version}/...`, discovery,
//! OpenAPI), content negotiation (JSON, YAML, Table), request decoding, and watches
//! streamed as newline-delimited JSON events.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use crate::api::{
    parse_propagation, Api, DeleteOptions, FieldValidation, ListOptions, PatchType, WriteOptions,
};
use crate::discovery::{self, Aggregated};
use crate::registry::{Change, ChangeType};
use crate::resources::{self, ResourceType, Sub};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::{ApiError, ApiResult};
use crate::table::{self, Include};

/// The largest request body accepted (the real API server's limit is 3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;
/// How long a watch lasts without `timeoutSeconds`.
pub const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// What the router serves from.
pub struct Server {
    /// The API operations and objects.
    pub api: Arc<Api>,
    /// Request bodies larger than this are refused (413).
    pub max_body: usize,
}

/// The shared state of the router.
pub type AppState = Arc<Server>;

/// The API server's router. Every request goes through one dispatcher that parses the
/// path, so trailing slashes and the legacy `/watch/` prefix need no routes of their own.
pub fn router(state: AppState) -> Router {
    Router::new().fallback(dispatch).with_state(state)
}

// === request parsing ===

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_params(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

fn header<'a>(headers: &'a HeaderMap, name: &http::HeaderName) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The response encoding the `Accept` header asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Json,
    Yaml,
    Table,
}

fn encoding(headers: &HeaderMap) -> Encoding {
    let accept = header(headers, &http::header::ACCEPT);
    for part in accept.split(',') {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        if params.contains(&"as=Table") {
            return Encoding::Table;
        }
        match params.first().copied().unwrap_or("") {
            "application/yaml" => return Encoding::Yaml,
            "application/json" | "*/*" => return Encoding::Json,
            _ => {}
        }
    }
    Encoding::Json
}

async fn read_body(body: Body, limit: usize) -> ApiResult<Bytes> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::too_large(limit))
}

fn parse_body(bytes: &[u8], content_type: &str) -> ApiResult<Value> {
    let media = media_type(content_type);
    let value: Value = match media.as_str() {
        "" | "application/json" | "*/*" | "text/plain" | "application/x-www-form-urlencoded" => {
            serde_json::from_slice(bytes).map_err(|e| {
                ApiError::bad_request(format!(
                    "the body of the request could not be decoded as JSON: {e}"
                ))
            })?
        }
        "application/vnd.kubernetes.protobuf" => crate::protobuf::decode(bytes).map_err(|e| {
            ApiError::bad_request(format!(
                "the body of the request could not be decoded as protobuf: {e}"
            ))
        })?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => serde_yaml_ng::from_slice(bytes)
            .map_err(|e| {
                ApiError::bad_request(format!(
                    "the body of the request could not be decoded as YAML: {e}"
                ))
            })?,
        other => {
            return Err(ApiError::unsupported_media_type(
                other,
                &[
                    "application/json",
                    "application/yaml",
                    "application/vnd.kubernetes.protobuf",
                ],
            ))
        }
    };
    Ok(value)
}

fn parse_patch(bytes: &[u8], content_type: &str) -> ApiResult<(PatchType, Value)> {
    let kind = match media_type(content_type).as_str() {
        "application/json-patch+json" => PatchType::Json,
        "application/merge-patch+json" => PatchType::Merge,
        "application/strategic-merge-patch+json" => PatchType::Strategic,
        "application/apply-patch+yaml" | "application/apply-patch+json" => PatchType::Apply,
        other => {
            return Err(ApiError::unsupported_media_type(
                other,
                &[
                    "application/json-patch+json",
                    "application/merge-patch+json",
                    "application/strategic-merge-patch+json",
                    "application/apply-patch+yaml",
                ],
            ))
        }
    };
    let value: Value = if kind == PatchType::Apply {
        serde_yaml_ng::from_slice(bytes)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
    } else {
        serde_json::from_slice(bytes).map_err(|e| {
            ApiError::bad_request(format!(
                "the body of the request could not be decoded as JSON: {e}"
            ))
        })?
    };
    if kind == PatchType::Apply && !value.is_object() {
        return Err(ApiError::bad_request("an apply patch must be an object"));
    }
    Ok((kind, value))
}

// === responses ===

fn encode(value: &Value, enc: Encoding) -> (Vec<u8>, &'static str) {
    match enc {
        Encoding::Yaml => (
            serde_yaml_ng::to_string(value)
                .unwrap_or_default()
                .into_bytes(),
            "application/yaml",
        ),
        _ => (
            serde_json::to_vec(value).unwrap_or_default(),
            "application/json",
        ),
    }
}

fn respond(code: StatusCode, value: &Value, enc: Encoding, warnings: &[String]) -> Response {
    let (body, content_type) = encode(value, enc);
    let mut response = (code, [(http::header::CONTENT_TYPE, content_type)], body).into_response();
    for w in warnings {
        let text = format!("299 - {:?}", w.replace('"', "'"));
        if let Ok(v) = HeaderValue::from_str(&text) {
            response.headers_mut().append(http::header::WARNING, v);
        }
    }
    response
}

fn object_response(
    rt: &ResourceType,
    code: StatusCode,
    object: &Value,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    warnings: &[String],
) -> Response {
    let enc = encoding(headers);
    if enc == Encoding::Table && object.get("kind").and_then(Value::as_str) == Some(rt.kind) {
        let meta = json!({ "resourceVersion": object.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!("")) });
        let t = table::table(
            rt.kind,
            [object],
            meta,
            Include::parse(q.get("includeObject").map(String::as_str)),
            crate::api::timestamp_now(),
        );
        return respond(code, &t, Encoding::Json, warnings);
    }
    respond(
        code,
        object,
        if enc == Encoding::Table {
            Encoding::Json
        } else {
            enc
        },
        warnings,
    )
}

// === routing ===

/// What a resource path names.
struct Target {
    rt: &'static ResourceType,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<Sub>,
    watch: bool,
}

fn resolve(group: &str, version: &str, rest: &[String]) -> ApiResult<Option<Target>> {
    let mut rest = rest;
    let mut watch = false;
    if rest.first().map(String::as_str) == Some("watch") {
        watch = true;
        rest = &rest[1..];
    }
    let target =
        |plural: &str, ns: Option<&String>, name: Option<&String>, sub: Option<&String>| {
            let rt = resources::find(group, version, plural)?;
            let sub = match sub {
                Some(s) => Some(Sub::parse(s).filter(|s| rt.has(*s))?),
                None => None,
            };
            if ns.is_some() && !rt.namespaced {
                return None;
            }
            Some(Target {
                rt,
                namespace: ns.cloned(),
                name: name.cloned(),
                sub,
                watch,
            })
        };
    let r: Vec<&String> = rest.iter().collect();
    let found = match r.as_slice() {
        [] => return Ok(None),
        [ns_kw, name] if ns_kw.as_str() == "namespaces" && group.is_empty() => {
            target("namespaces", None, Some(name), None)
        }
        [ns_kw, name, sub]
            if ns_kw.as_str() == "namespaces"
                && group.is_empty()
                && matches!(sub.as_str(), "status" | "finalize") =>
        {
            target("namespaces", None, Some(name), Some(sub))
        }
        [ns_kw, ns, plural] if ns_kw.as_str() == "namespaces" => {
            target(plural, Some(ns), None, None)
        }
        [ns_kw, ns, plural, name] if ns_kw.as_str() == "namespaces" => {
            target(plural, Some(ns), Some(name), None)
        }
        [ns_kw, ns, plural, name, sub] if ns_kw.as_str() == "namespaces" => {
            target(plural, Some(ns), Some(name), Some(sub))
        }
        [plural] => target(plural, None, None, None),
        [plural, name] => target(plural, None, Some(name), None).filter(|t| !t.rt.namespaced),
        [plural, name, sub] => {
            target(plural, None, Some(name), Some(sub)).filter(|t| !t.rt.namespaced)
        }
        _ => None,
    };
    Ok(found)
}

async fn dispatch(
    State(server): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match handle(&server, &method, &uri, &headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle(
    server: &Server,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let segments: Vec<String> = uri
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let q = query_params(uri);
    let accept = header(headers, &http::header::ACCEPT);
    let get_only = |value: Value| -> ApiResult<Response> {
        if method != Method::GET && method != Method::HEAD {
            return Err(ApiError::method_not_allowed(method.as_str(), uri.path()));
        }
        Ok(respond(StatusCode::OK, &value, Encoding::Json, &[]))
    };
    match seg.as_slice() {
        [] => get_only(
            json!({ "paths": ["/api", "/api/v1", "/apis", "/openapi/v3", "/version", "/healthz", "/livez", "/readyz"] }),
        ),
        ["version"] => get_only(discovery::version()),
        ["healthz"] | ["livez"] | ["readyz"] => Ok((StatusCode::OK, "ok").into_response()),
        ["api"] | ["apis"] => {
            let legacy = seg[0] == "api";
            match Aggregated::from_accept(accept) {
                Some(format) if method == Method::GET => {
                    let doc = discovery::aggregated(format, legacy);
                    Ok((
                        StatusCode::OK,
                        [(http::header::CONTENT_TYPE, format.content_type())],
                        serde_json::to_vec(&doc).unwrap_or_default(),
                    )
                        .into_response())
                }
                _ => get_only(if legacy {
                    discovery::api_versions()
                } else {
                    discovery::api_groups()
                }),
            }
        }
        ["openapi", "v3"] => get_only(crate::openapi::index()),
        ["openapi", "v3", ..] => match crate::openapi::document(&segments[2..].join("/")) {
            Some(doc) => get_only(doc.clone()),
            None => Err(ApiError::no_route(uri.path())),
        },
        ["apis", group] => match discovery::api_group(group) {
            Some(g) => get_only(g),
            None => Err(ApiError::no_route(uri.path())),
        },
        ["api", version, ..] => {
            resource(
                server,
                method,
                uri,
                headers,
                body,
                &q,
                "",
                version,
                &segments[2..],
            )
            .await
        }
        ["apis", group, version, ..] => {
            resource(
                server,
                method,
                uri,
                headers,
                body,
                &q,
                group,
                version,
                &segments[3..],
            )
            .await
        }
        _ => Err(ApiError::no_route(uri.path())),
    }
}

fn write_options(
    method: &Method,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> ApiResult<WriteOptions> {
    let manager = match q.get("fieldManager") {
        Some(m) if !m.is_empty() => m.clone(),
        _ => {
            let ua = header(headers, &http::header::USER_AGENT);
            let prefix = ua.split('/').next().unwrap_or("").trim();
            if prefix.is_empty() {
                "unknown".to_string()
            } else {
                prefix.to_string()
            }
        }
    };
    if manager.len() > 128 {
        return Err(ApiError::bad_request(
            "fieldManager: Too long: may not be more than 128 bytes",
        ));
    }
    let dry_run = match q.get("dryRun").map(String::as_str) {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "dryRun: Unsupported value: {other:?}: supported values: \"All\""
            )))
        }
    };
    let force = q.get("force").map(String::as_str) == Some("true");
    if force && *method != Method::PATCH {
        return Err(ApiError::bad_request(
            "force: Forbidden: may not be specified for non-apply patch",
        ));
    }
    Ok(WriteOptions {
        dry_run,
        field_manager: manager,
        field_validation: FieldValidation::parse(q.get("fieldValidation").map(String::as_str))?,
        force,
    })
}

fn list_options(rt: &ResourceType, q: &HashMap<String, String>) -> ApiResult<ListOptions> {
    let labels = LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
    let fields = FieldSelector::parse(
        q.get("fieldSelector").map(String::as_str).unwrap_or(""),
        rt.fields,
    )
    .map_err(ApiError::bad_request)?;
    let limit = match q.get("limit").map(String::as_str) {
        None | Some("") => 0,
        Some(l) => l
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("limit: invalid value {l:?}")))?
            .max(0) as usize,
    };
    Ok(ListOptions {
        labels,
        fields,
        limit,
        continue_token: q.get("continue").filter(|c| !c.is_empty()).cloned(),
    })
}

fn delete_options(q: &HashMap<String, String>, body: &[u8]) -> ApiResult<DeleteOptions> {
    let mut opts = DeleteOptions::default();
    if let Some(p) = q.get("propagationPolicy").filter(|p| !p.is_empty()) {
        opts.propagation = Some(parse_propagation(p)?);
    }
    if q.get("orphanDependents").map(String::as_str) == Some("true") {
        opts.propagation = Some(crate::api::Propagation::Orphan);
    }
    if let Some(g) = q.get("gracePeriodSeconds").filter(|g| !g.is_empty()) {
        opts.grace_period = Some(g.parse().map_err(|_| {
            ApiError::bad_request(format!("gracePeriodSeconds: invalid value {g:?}"))
        })?);
    }
    opts.dry_run = q.get("dryRun").map(String::as_str) == Some("All");
    if !body.iter().all(u8::is_ascii_whitespace) {
        let v: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("the DeleteOptions body could not be decoded: {e}"))
        })?;
        opts.merge_body(&v)?;
    }
    Ok(opts)
}

#[allow(clippy::too_many_arguments)]
async fn resource(
    server: &Server,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
    q: &HashMap<String, String>,
    group: &str,
    version: &str,
    rest: &[String],
) -> ApiResult<Response> {
    if rest.is_empty() {
        if *method != Method::GET {
            return Err(ApiError::method_not_allowed(method.as_str(), uri.path()));
        }
        return match discovery::resource_list(group, version) {
            Some(list) => Ok(respond(StatusCode::OK, &list, Encoding::Json, &[])),
            None => Err(ApiError::no_route(uri.path())),
        };
    }
    let Some(t) = resolve(group, version, rest)? else {
        return Err(ApiError::no_route(uri.path()));
    };
    let api = &server.api;
    let rt = t.rt;
    let ns = t.namespace.clone().unwrap_or_default();
    let watch = t.watch || matches!(q.get("watch").map(String::as_str), Some("true") | Some("1"));
    let content_type = header(headers, &http::header::CONTENT_TYPE).to_string();
    match (&t.name, t.sub, method.clone()) {
        // --- collections ---
        (None, None, Method::GET) => {
            let opts = list_options(rt, q)?;
            if watch {
                return watch_stream(server, &t, opts, q, headers).await;
            }
            let page = api.list(rt, t.namespace.as_deref(), &opts).await?;
            let mut meta = json!({ "resourceVersion": page.revision.to_string() });
            if let Some(c) = &page.continue_token {
                meta["continue"] = json!(c);
            }
            if let Some(r) = page.remaining {
                meta["remainingItemCount"] = json!(r);
            }
            if encoding(headers) == Encoding::Table {
                let t = table::table(
                    rt.kind,
                    page.items.iter().map(|o| &**o),
                    meta,
                    Include::parse(q.get("includeObject").map(String::as_str)),
                    crate::api::timestamp_now(),
                );
                return Ok(respond(StatusCode::OK, &t, Encoding::Json, &[]));
            }
            let list = json!({
                "kind": format!("{}List", rt.kind),
                "apiVersion": rt.api_version(),
                "metadata": meta,
                "items": page.items.iter().map(|o| &**o).collect::<Vec<_>>(),
            });
            Ok(respond(StatusCode::OK, &list, encoding(headers), &[]))
        }
        (None, None, Method::POST) => {
            if t.namespace.is_none() && rt.namespaced {
                return Err(ApiError::method_not_allowed("POST", uri.path()));
            }
            let bytes = read_body(body, server.max_body).await?;
            let object = parse_body(&bytes, &content_type)?;
            let opts = write_options(method, q, headers)?;
            if rt.kind == "Binding" {
                let pod = object
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let status = api.bind(&ns, &pod, &object, &opts).await?;
                return Ok(respond(StatusCode::CREATED, &status, Encoding::Json, &[]));
            }
            let written = api.create(rt, &ns, object, &opts).await?;
            Ok(object_response(
                rt,
                StatusCode::CREATED,
                &written.object,
                headers,
                q,
                &written.warnings,
            ))
        }
        (None, None, Method::DELETE) => {
            let bytes = read_body(body, server.max_body).await?;
            let opts = delete_options(q, &bytes)?;
            let list = list_options(rt, q)?;
            let result = api
                .delete_collection(rt, t.namespace.as_deref(), &list, &opts)
                .await?;
            Ok(respond(StatusCode::OK, &result, encoding(headers), &[]))
        }
        // --- one object ---
        (Some(name), None, Method::GET) => {
            if watch {
                let mut opts = list_options(rt, q)?;
                opts.fields.0.push(crate::selectors::FieldReq {
                    field: "metadata.name".into(),
                    negated: false,
                    value: name.clone(),
                });
                return watch_stream(server, &t, opts, q, headers).await;
            }
            let object = api.get(rt, &ns, name).await?;
            Ok(object_response(
                rt,
                StatusCode::OK,
                &object,
                headers,
                q,
                &[],
            ))
        }
        (Some(name), None | Some(Sub::Status) | Some(Sub::Finalize), Method::PUT) => {
            let bytes = read_body(body, server.max_body).await?;
            let object = parse_body(&bytes, &content_type)?;
            let opts = write_options(method, q, headers)?;
            let sub = if t.sub == Some(Sub::Finalize) {
                None
            } else {
                t.sub
            };
            let written = api.update(rt, &ns, name, sub, object, &opts).await?;
            Ok(object_response(
                rt,
                StatusCode::OK,
                &written.object,
                headers,
                q,
                &written.warnings,
            ))
        }
        (Some(name), None | Some(Sub::Status), Method::PATCH) => {
            let bytes = read_body(body, server.max_body).await?;
            let (kind, patch) = parse_patch(&bytes, &content_type)?;
            let mut opts = write_options(method, q, headers)?;
            if kind != PatchType::Apply && opts.force {
                return Err(ApiError::bad_request(
                    "force: Forbidden: may not be specified for non-apply patch",
                ));
            }
            if kind == PatchType::Apply && q.get("fieldManager").is_none_or(|m| m.is_empty()) {
                return Err(ApiError::bad_request(
                    "PATCH, application/apply-patch+yaml: fieldManager is required for apply requests",
                ));
            }
            if opts.field_validation == FieldValidation::Warn && kind == PatchType::Apply {
                opts.field_validation = FieldValidation::Warn;
            }
            let written = api.patch(rt, &ns, name, t.sub, kind, patch, &opts).await?;
            let code = if written.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(object_response(
                rt,
                code,
                &written.object,
                headers,
                q,
                &written.warnings,
            ))
        }
        (Some(name), None, Method::DELETE) => {
            let bytes = read_body(body, server.max_body).await?;
            let opts = delete_options(q, &bytes)?;
            let (code, answer) = api.delete(rt, &ns, name, &opts).await?;
            Ok(respond(
                code,
                &answer,
                if encoding(headers) == Encoding::Yaml {
                    Encoding::Yaml
                } else {
                    Encoding::Json
                },
                &[],
            ))
        }
        (Some(name), Some(Sub::Status), Method::GET) => {
            let object = api.get(rt, &ns, name).await?;
            Ok(object_response(
                rt,
                StatusCode::OK,
                &object,
                headers,
                q,
                &[],
            ))
        }
        // --- scale ---
        (Some(name), Some(Sub::Scale), Method::GET) => {
            let scale = api.get_scale(rt, &ns, name).await?;
            Ok(respond(
                StatusCode::OK,
                &scale,
                encoding_plain(headers),
                &[],
            ))
        }
        (Some(name), Some(Sub::Scale), Method::PUT) => {
            let bytes = read_body(body, server.max_body).await?;
            let scale = parse_body(&bytes, &content_type)?;
            let opts = write_options(method, q, headers)?;
            let written = api.update_scale(rt, &ns, name, scale, &opts).await?;
            Ok(respond(
                StatusCode::OK,
                &written.object,
                encoding_plain(headers),
                &[],
            ))
        }
        (Some(name), Some(Sub::Scale), Method::PATCH) => {
            let bytes = read_body(body, server.max_body).await?;
            let (kind, patch) = parse_patch(&bytes, &content_type)?;
            let opts = write_options(method, q, headers)?;
            let written = api
                .patch(rt, &ns, name, Some(Sub::Scale), kind, patch, &opts)
                .await?;
            Ok(respond(
                StatusCode::OK,
                &written.object,
                encoding_plain(headers),
                &[],
            ))
        }
        // --- pods ---
        (Some(name), Some(Sub::Log), Method::GET) => {
            let pod = api.get(rt, &ns, name).await?;
            let containers: Vec<String> = pod
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
                .collect();
            let container = match q.get("container").filter(|c| !c.is_empty()) {
                Some(c) if containers.contains(c) => c.clone(),
                Some(c) => {
                    return Err(ApiError::bad_request(format!(
                        "container {c} is not valid for pod {name}"
                    )))
                }
                None if containers.len() == 1 => containers[0].clone(),
                None => {
                    return Err(ApiError::bad_request(format!(
                        "a container name must be specified for pod {name}, choose one of: [{}]",
                        containers.join(" ")
                    )))
                }
            };
            Err(ApiError::bad_request(format!(
                "container {container:?} in pod {name:?} is waiting to start: no pod executor runs this pod yet, so it has no logs"
            )))
        }
        (Some(name), Some(Sub::Binding), Method::POST) => {
            let bytes = read_body(body, server.max_body).await?;
            let binding = parse_body(&bytes, &content_type)?;
            let opts = write_options(method, q, headers)?;
            let status = api.bind(&ns, name, &binding, &opts).await?;
            Ok(respond(StatusCode::CREATED, &status, Encoding::Json, &[]))
        }
        (_, _, m) => Err(ApiError::method_not_allowed(m.as_str(), uri.path())),
    }
}

fn encoding_plain(headers: &HeaderMap) -> Encoding {
    match encoding(headers) {
        Encoding::Yaml => Encoding::Yaml,
        _ => Encoding::Json,
    }
}

// === watch ===

struct WatchFilter {
    resource: usize,
    namespace: Option<String>,
    opts: ListOptions,
}

impl WatchFilter {
    fn matches(&self, object: &Value) -> bool {
        if let Some(ns) = &self.namespace {
            if object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                != Some(ns.as_str())
            {
                return false;
            }
        }
        self.opts.labels.matches_object(object) && self.opts.fields.matches(object)
    }

    /// The event type a change shows as to this watch, if any.
    fn event(&self, change: &Change) -> Option<&'static str> {
        if change.resource != self.resource {
            return None;
        }
        let now = self.matches(&change.object);
        match change.kind {
            ChangeType::Added => now.then_some("ADDED"),
            ChangeType::Deleted => now.then_some("DELETED"),
            ChangeType::Modified => {
                let was = change.previous.as_deref().is_some_and(|p| self.matches(p));
                match (was, now) {
                    (true, true) => Some("MODIFIED"),
                    (false, true) => Some("ADDED"),
                    (true, false) => Some("DELETED"),
                    (false, false) => None,
                }
            }
        }
    }
}

struct EventEncoder {
    kind: &'static str,
    table: bool,
    include: Include,
}

impl EventEncoder {
    fn line(&self, ty: &str, object: &Value) -> Bytes {
        let object = if self.table && ty != "ERROR" && ty != "BOOKMARK" {
            let meta = json!({ "resourceVersion": object.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!("")) });
            table::table(
                self.kind,
                [object],
                meta,
                self.include,
                crate::api::timestamp_now(),
            )
        } else {
            object.clone()
        };
        let mut line =
            serde_json::to_vec(&json!({ "type": ty, "object": object })).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    }
}

async fn watch_stream(
    server: &Server,
    t: &Target,
    opts: ListOptions,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let rt = t.rt;
    let from = match q.get("resourceVersion").map(String::as_str) {
        None | Some("") | Some("0") => None,
        Some(rv) => Some(rv.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!(
                "resourceVersion: Invalid value: {rv:?}: must be an unsigned integer"
            ))
        })?),
    };
    let send_initial = q.get("sendInitialEvents").map(String::as_str) == Some("true");
    let from = if send_initial { None } else { from };
    let bookmarks = q.get("allowWatchBookmarks").map(String::as_str) == Some("true");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_WATCH_TIMEOUT);
    let filter = WatchFilter {
        resource: resources::index(rt),
        namespace: t.namespace.clone(),
        opts,
    };
    let encoder = EventEncoder {
        kind: rt.kind,
        table: encoding(headers) == Encoding::Table,
        include: Include::parse(q.get("includeObject").map(String::as_str)),
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    match server.api.registry.watch(filter.resource, from).await {
        Err(e) => {
            // A too-old resourceVersion is an ERROR event (code 410), as informers expect.
            let line = encoder.line("ERROR", &e.to_status());
            let _ = tx.try_send(line);
        }
        Ok(start) => {
            let kind = rt.kind;
            let api_version = rt.api_version();
            tokio::spawn(async move {
                let deadline = tokio::time::sleep(timeout);
                tokio::pin!(deadline);
                let mut last = start.revision;
                for object in &start.initial {
                    if filter.matches(object)
                        && tx.send(encoder.line("ADDED", object)).await.is_err()
                    {
                        return;
                    }
                }
                if send_initial {
                    let bookmark = json!({"kind": kind, "apiVersion": api_version, "metadata": {
                        "resourceVersion": last.to_string(),
                        "annotations": {"k8s.io/initial-events-end": "true"}}});
                    if tx.send(encoder.line("BOOKMARK", &bookmark)).await.is_err() {
                        return;
                    }
                }
                for change in &start.backlog {
                    last = last.max(change.revision);
                    if let Some(ty) = filter.event(change) {
                        if tx.send(encoder.line(ty, &change.object)).await.is_err() {
                            return;
                        }
                    }
                }
                let mut live = start.live;
                let floor = start.revision;
                let mut bookmark_tick = tokio::time::interval(Duration::from_secs(60));
                bookmark_tick.tick().await;
                loop {
                    tokio::select! {
                        _ = &mut deadline => return,
                        _ = tx.closed() => return,
                        _ = bookmark_tick.tick(), if bookmarks => {
                            let b = json!({"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": last.to_string()}});
                            if tx.send(encoder.line("BOOKMARK", &b)).await.is_err() {
                                return;
                            }
                        }
                        received = live.recv() => match received {
                            Ok(change) => {
                                // Changes already covered by the snapshot or backlog are skipped.
                                if change.revision <= floor {
                                    continue;
                                }
                                last = last.max(change.revision);
                                if let Some(ty) = filter.event(&change) {
                                    if tx.send(encoder.line(ty, &change.object)).await.is_err() {
                                        return;
                                    }
                                }
                            }
                            Err(broadcast::error::RecvError::Lagged(n)) => {
                                tracing::warn!(missed = n, kind, "watch fell behind: closing it with 410");
                                let e = ApiError::expired(format!("the watch fell {n} events behind; re-list and watch again"));
                                let _ = tx.send(encoder.line("ERROR", &e.to_status())).await;
                                return;
                            }
                            Err(broadcast::error::RecvError::Closed) => return,
                        },
                    }
                }
            });
        }
    }
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Ok((
        StatusCode::OK,
        [
            (http::header::CONTENT_TYPE, "application/json"),
            (http::header::CACHE_CONTROL, "no-cache, private"),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("app%3Dweb%2Ctier%21%3Ddb"),
            "app=web,tier!=db"
        );
        assert_eq!(percent_decode("a+b%"), "a b%");
    }
}
