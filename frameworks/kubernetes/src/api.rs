//! The API operations, independent of HTTP: create, get, list, update, patch, delete (with
//! graceful deletion, finalizers and propagation policies), the `status`, `scale` and
//! `binding` subresources. Each write runs inside one [`Txn`], so it reads, checks and
//! writes atomically.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use crate::managed::{self, Writer};
use crate::openapi::{self, schemas};
use crate::registry::{Registry, Txn};
use crate::resources::{self, ResourceType, Sub};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::{self, ApiError, ApiResult, Cause, Subject};
use crate::{defaults, validation};

/// The first service cluster IP range: inside 127.0.0.0/8, so one machine needs no
/// iptables (see DESIGN.md decision 7).
const SERVICE_NET: [u8; 2] = [127, 100];
/// The node port range.
const NODE_PORTS: std::ops::RangeInclusive<i64> = 30000..=32767;
/// Namespaces that always exist and may not be deleted.
pub const SYSTEM_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

/// The current time (jiff without its `std` feature has no clock of its own).
pub fn timestamp_now() -> k8s_openapi::jiff::Timestamp {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    k8s_openapi::jiff::Timestamp::from_second(since_epoch.as_secs() as i64)
        .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)
}

/// The current time as Kubernetes writes it (RFC 3339, seconds, UTC).
pub fn now() -> String {
    k8s_openapi::jiff::fmt::strtime::format("%Y-%m-%dT%H:%M:%SZ", crate::api::timestamp_now())
        .unwrap_or_default()
}

fn now_plus(seconds: i64) -> String {
    let t = crate::api::timestamp_now()
        .checked_add(k8s_openapi::jiff::SignedDuration::from_secs(seconds))
        .unwrap_or_else(|_| crate::api::timestamp_now());
    k8s_openapi::jiff::fmt::strtime::format("%Y-%m-%dT%H:%M:%SZ", t).unwrap_or_default()
}

/// How unknown fields are treated (`fieldValidation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    /// Dropped silently.
    Ignore,
    /// Dropped, with a `Warning` header.
    Warn,
    /// Rejected (400).
    Strict,
}

impl FieldValidation {
    /// Parses the parameter (absent = Warn, the API server's default).
    pub fn parse(v: Option<&str>) -> ApiResult<FieldValidation> {
        match v {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported: {other}; supported values are Ignore, Warn and Strict"
            ))),
        }
    }
}

/// Options of every write.
#[derive(Clone, Debug)]
pub struct WriteOptions {
    /// `dryRun=All`: check everything, store nothing.
    pub dry_run: bool,
    /// `fieldManager` (or one derived from the User-Agent).
    pub field_manager: String,
    /// `fieldValidation`.
    pub field_validation: FieldValidation,
    /// `force` (server-side apply).
    pub force: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            dry_run: false,
            field_manager: "unknown".into(),
            field_validation: FieldValidation::Warn,
            force: false,
        }
    }
}

/// What a write produced.
#[derive(Debug)]
pub struct Written {
    /// The object as stored (or as it would be, on a dry run).
    pub object: Arc<Value>,
    /// Whether it was created (201) rather than updated (200).
    pub created: bool,
    /// Warnings for the `Warning` header.
    pub warnings: Vec<String>,
}

/// A PATCH body's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json`.
    Json,
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

/// `propagationPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    /// Delete now, collect dependents afterwards.
    Background,
    /// Delete dependents first, then the owner.
    Foreground,
    /// Leave dependents, without their owner reference.
    Orphan,
}

/// Options of a delete.
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    /// `propagationPolicy` (None: the kind's default, background).
    pub propagation: Option<Propagation>,
    /// `gracePeriodSeconds`.
    pub grace_period: Option<i64>,
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub resource_version: Option<String>,
    /// `dryRun=All`.
    pub dry_run: bool,
}

impl DeleteOptions {
    /// Reads a DeleteOptions body (JSON) over the query's options.
    pub fn merge_body(&mut self, body: &Value) -> ApiResult<()> {
        if let Some(p) = body.get("propagationPolicy").and_then(Value::as_str) {
            self.propagation = Some(parse_propagation(p)?);
        }
        if body.get("orphanDependents") == Some(&Value::Bool(true)) {
            self.propagation = Some(Propagation::Orphan);
        }
        if let Some(g) = body.get("gracePeriodSeconds").and_then(Value::as_i64) {
            self.grace_period = Some(g);
        }
        if let Some(uid) = body.pointer("/preconditions/uid").and_then(Value::as_str) {
            self.uid = Some(uid.into());
        }
        if let Some(rv) = body
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
        {
            self.resource_version = Some(rv.into());
        }
        if body
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|x| x == "All"))
        {
            self.dry_run = true;
        }
        Ok(())
    }
}

/// Parses `Background`, `Foreground` or `Orphan`.
pub fn parse_propagation(p: &str) -> ApiResult<Propagation> {
    match p {
        "Background" => Ok(Propagation::Background),
        "Foreground" => Ok(Propagation::Foreground),
        "Orphan" => Ok(Propagation::Orphan),
        other => Err(ApiError::bad_request(format!(
            "propagationPolicy {other:?} is not supported: use Background, Foreground or Orphan"
        ))),
    }
}

/// What a list asks for.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// `limit` (0 = all).
    pub limit: usize,
    /// `continue`.
    pub continue_token: Option<String>,
}

/// One page of a list.
pub struct ListPage {
    /// The objects.
    pub items: Vec<Arc<Value>>,
    /// The list's resourceVersion.
    pub revision: u64,
    /// The continue token, when more remain.
    pub continue_token: Option<String>,
    /// How many more remain, when paged.
    pub remaining: Option<usize>,
}

fn subject<'a>(rt: &'a ResourceType, name: &'a str) -> Subject<'a> {
    Subject {
        group: rt.group,
        plural: rt.plural,
        kind: rt.kind,
        name,
    }
}

fn meta(object: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    object
        .get("metadata")
        .and_then(Value::as_object)
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

fn meta_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = json!({});
    }
    object["metadata"]
        .as_object_mut()
        .expect("just made an object")
}

fn meta_str<'a>(object: &'a Value, field: &str) -> &'a str {
    meta(object)
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn finalizers(object: &Value) -> Vec<String> {
    meta(object)
        .get("finalizers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect()
}

/// The random suffix of a generated name.
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(5)
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// The API server's operations over the [`Registry`].
pub struct Api {
    /// The objects.
    pub registry: Registry,
}

/// Checks `apiVersion` and `kind` of a body against the endpoint, filling them in when
/// absent.
fn check_type(rt: &ResourceType, object: &mut Value) -> ApiResult<()> {
    let Some(map) = object.as_object_mut() else {
        return Err(ApiError::bad_request(format!(
            "the body of the request must be a {} object",
            rt.kind
        )));
    };
    let want = rt.api_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("apiVersion".into(), json!(want));
        }
        Some(v) if v == want => {}
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({want})"
            )))
        }
    }
    match map.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("kind".into(), json!(rt.kind));
        }
        Some(k) if k == rt.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({}) of {}",
                rt.kind, rt.plural
            )))
        }
    }
    if !map.get("metadata").is_none_or(Value::is_object) {
        return Err(ApiError::bad_request(format!(
            "{} in version {:?} cannot be handled as a {}: metadata must be an object",
            rt.kind, rt.version, rt.kind
        )));
    }
    Ok(())
}

/// Unknown fields by `fieldValidation`, then the typed round trip.
fn decode(
    rt: &ResourceType,
    object: Value,
    validation: FieldValidation,
    warnings: &mut Vec<String>,
) -> ApiResult<Value> {
    if validation != FieldValidation::Ignore {
        if let Some(schema) = schemas().of(rt) {
            let unknown = openapi::unknown_fields(schema, &object);
            if !unknown.is_empty() {
                match validation {
                    FieldValidation::Strict => {
                        let list: Vec<String> = unknown
                            .iter()
                            .map(|f| format!("unknown field {f:?}"))
                            .collect();
                        return Err(ApiError::bad_request(format!(
                            "strict decoding error: {}",
                            list.join(", ")
                        )));
                    }
                    _ => warnings.extend(unknown.iter().map(|f| format!("unknown field {f:?}"))),
                }
            }
        }
    }
    (rt.check)(&object).map_err(|e| {
        ApiError::bad_request(format!(
            "{} in version {:?} cannot be handled as a {}: {e}",
            rt.kind, rt.version, rt.kind
        ))
    })
}

/// Everything outside `metadata` and `status`: what `metadata.generation` counts changes of.
fn spec_part(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(m) = copy.as_object_mut() {
        for f in ["metadata", "status", "apiVersion", "kind"] {
            m.remove(f);
        }
    }
    copy
}

impl Api {
    /// The server over a loaded registry.
    pub fn new(registry: Registry) -> Api {
        Api { registry }
    }

    /// Creates the namespaces that always exist, when missing.
    pub async fn bootstrap(&self) -> ApiResult<()> {
        let ns = resources::find("", "v1", "namespaces").expect("namespaces are served");
        let mut txn = self.registry.begin().await;
        for name in SYSTEM_NAMESPACES {
            if txn.get(ns, "", name).is_none() {
                let object =
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
                let opts = WriteOptions {
                    field_manager: "kube-apiserver".into(),
                    ..WriteOptions::default()
                };
                self.create_in(&mut txn, ns, "", object, &opts).await?;
                tracing::info!(namespace = name, "created namespace");
            }
        }
        Ok(())
    }

    // === reads ===

    /// One object.
    pub async fn get(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> ApiResult<Arc<Value>> {
        let txn = self.registry.begin().await;
        txn.get(rt, namespace, name)
            .ok_or_else(|| ApiError::not_found(subject(rt, name)))
    }

    /// A page of objects (`namespace` None = all namespaces).
    pub async fn list(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        opts: &ListOptions,
    ) -> ApiResult<ListPage> {
        let txn = self.registry.begin().await;
        let after = match &opts.continue_token {
            Some(token) => Some(decode_continue(token)?),
            None => None,
        };
        let mut items = Vec::new();
        let mut continue_token = None;
        let mut remaining = None;
        let mut iter = txn
            .list(rt, namespace, after.as_ref())
            .filter(|(_, o)| opts.labels.matches_object(o) && opts.fields.matches(o));
        for (pos, object) in iter.by_ref() {
            items.push(object.clone());
            if opts.limit > 0 && items.len() == opts.limit {
                continue_token = Some(encode_continue(pos, txn.revision()));
                break;
            }
        }
        if continue_token.is_some() {
            let rest = iter.count();
            if rest == 0 {
                continue_token = None;
            } else {
                remaining = Some(rest);
            }
        }
        Ok(ListPage {
            items,
            revision: txn.revision(),
            continue_token,
            remaining,
        })
    }

    // === create ===

    /// Creates an object (POST to a collection).
    pub async fn create(
        &self,
        rt: &ResourceType,
        namespace: &str,
        object: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        let mut txn = self.registry.begin().await;
        self.create_in(&mut txn, rt, namespace, object, opts).await
    }

    async fn create_in(
        &self,
        txn: &mut Txn<'_>,
        rt: &ResourceType,
        namespace: &str,
        mut object: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        check_type(rt, &mut object)?;
        let mut warnings = Vec::new();
        // Server-set metadata the client may send (kubectl sends creationTimestamp: null).
        {
            let m = meta_mut(&mut object);
            for f in [
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "uid",
                "generation",
                "selfLink",
                "managedFields",
            ] {
                m.remove(f);
            }
            if m.get("resourceVersion")
                .and_then(Value::as_str)
                .is_some_and(|rv| !rv.is_empty())
            {
                return Err(ApiError::bad_request(
                    "resourceVersion should not be set on objects to be created",
                ));
            }
            m.remove("resourceVersion");
        }
        self.place(rt, namespace, &mut object)?;
        let mut object = decode(rt, object, opts.field_validation, &mut warnings)?;
        // generateName.
        {
            let m = meta_mut(&mut object);
            let name = m.get("name").and_then(Value::as_str).unwrap_or("");
            let generate = m.get("generateName").and_then(Value::as_str).unwrap_or("");
            if name.is_empty() && !generate.is_empty() {
                let prefix: String = generate
                    .chars()
                    .take(validation::MAX_GENERATED_PREFIX)
                    .collect();
                let name = format!("{prefix}{}", random_suffix());
                m.insert("name".into(), json!(name));
            }
        }
        let name = meta_str(&object, "name").to_string();
        // The namespace must exist and not be terminating.
        if rt.namespaced {
            if let Some(c) = validation::name("Namespace", "metadata.namespace", namespace) {
                return Err(ApiError::invalid(subject(rt, &name), vec![c]));
            }
            let ns_rt = resources::find("", "v1", "namespaces").expect("served");
            match txn.get(ns_rt, "", namespace) {
                None => {
                    return Err(ApiError::not_found(Subject {
                        group: "",
                        plural: "namespaces",
                        kind: "Namespace",
                        name: namespace,
                    }))
                }
                Some(ns) if ns.pointer("/metadata/deletionTimestamp").is_some() => {
                    return Err(ApiError::forbidden(format!(
                        "{} {:?} is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                        rt.plural, name
                    )))
                }
                Some(_) => {}
            }
        }
        if rt.kind == "Pod" {
            let spec = object.get_mut("spec").and_then(Value::as_object_mut);
            if let Some(spec) = spec {
                if !spec.contains_key("serviceAccountName") && !spec.contains_key("serviceAccount")
                {
                    spec.insert("serviceAccountName".into(), json!("default"));
                }
            }
            // A new pod's status is the server's: it starts Pending.
            if let Some(m) = object.as_object_mut() {
                m.insert("status".into(), json!({}));
            }
        }
        defaults::apply(rt.kind, &mut object);
        if rt.kind == "Namespace" {
            let labels = meta_mut(&mut object)
                .entry("labels")
                .or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                l.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
        }
        let mut causes = validation::object(rt.kind, &object);
        if rt.kind == "Service" {
            self.allocate_service(txn, &mut object, None, &mut causes);
        }
        if !causes.is_empty() {
            return Err(ApiError::invalid(subject(rt, &name), causes));
        }
        if txn.get(rt, namespace, &name).is_some() {
            return Err(ApiError::already_exists(subject(rt, &name)));
        }
        {
            let m = meta_mut(&mut object);
            m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
            m.insert("creationTimestamp".into(), json!(now()));
            if rt.has_generation() {
                m.insert("generation".into(), json!(1));
            }
        }
        if rt.kind == "Job" {
            job_selector(&mut object);
        }
        let now = now();
        managed::record_update(
            schemas(),
            schemas().of(rt),
            None,
            &mut object,
            &Writer {
                manager: &opts.field_manager,
                api_version: &rt.api_version(),
                subresource: "",
                now: &now,
            },
        );
        if opts.dry_run {
            return Ok(Written {
                object: Arc::new(object),
                created: true,
                warnings,
            });
        }
        let stored = txn.create(rt, object).await?;
        tracing::info!(kind = rt.kind, namespace, name = %name, "created");
        if rt.kind == "Namespace" {
            // Every namespace has a default service account.
            let sa = resources::find("", "v1", "serviceaccounts").expect("served");
            if txn.get(sa, &name, "default").is_none() {
                let object = json!({"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": "default", "namespace": name}});
                let sa_opts = WriteOptions {
                    field_manager: "kube-controller-manager".into(),
                    ..WriteOptions::default()
                };
                Box::pin(self.create_in(txn, sa, &name, object, &sa_opts)).await?;
            }
        }
        Ok(Written {
            object: stored,
            created: true,
            warnings,
        })
    }

    /// Puts the object in the request's namespace (or none, for cluster-scoped kinds).
    fn place(&self, rt: &ResourceType, namespace: &str, object: &mut Value) -> ApiResult<()> {
        let m = meta_mut(object);
        if rt.namespaced {
            match m.get("namespace").and_then(Value::as_str) {
                Some(ns) if !ns.is_empty() && ns != namespace => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ))
                }
                _ => {
                    m.insert("namespace".into(), json!(namespace));
                }
            }
        } else {
            m.remove("namespace");
        }
        Ok(())
    }

    /// Allocates a service's cluster IP and node ports (keeping `old`'s on updates).
    fn allocate_service(
        &self,
        txn: &Txn<'_>,
        object: &mut Value,
        old: Option<&Value>,
        causes: &mut Vec<Cause>,
    ) {
        let svc_rt = resources::find("", "v1", "services").expect("served");
        let me = (
            meta_str(object, "namespace").to_string(),
            meta_str(object, "name").to_string(),
        );
        let mut ips = std::collections::HashSet::new();
        let mut ports = std::collections::HashSet::new();
        for (pos, s) in txn.list(svc_rt, None, None) {
            if *pos == me {
                continue;
            }
            if let Some(ip) = s.pointer("/spec/clusterIP").and_then(Value::as_str) {
                ips.insert(ip.to_string());
            }
            for p in s
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(np) = p.get("nodePort").and_then(Value::as_i64) {
                    ports.insert(np);
                }
            }
        }
        let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
            return;
        };
        let ty = spec
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_string();
        if ty == "ExternalName" {
            return;
        }
        let old_ip = old
            .and_then(|o| o.pointer("/spec/clusterIP"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let requested = spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let ip = if !requested.is_empty() {
            if requested != "None" && old_ip.as_deref() != Some(requested.as_str()) {
                if requested.parse::<std::net::Ipv4Addr>().is_err() {
                    causes.push(Cause::invalid(
                        "spec.clusterIPs[0]",
                        &json!(requested),
                        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                    ));
                } else if ips.contains(&requested) {
                    causes.push(Cause::invalid(
                        "spec.clusterIPs",
                        &json!([requested]),
                        "failed to allocate IP: provided IP is already allocated",
                    ));
                }
            }
            requested
        } else if let Some(old_ip) = old_ip {
            old_ip
        } else {
            let mut found = None;
            'outer: for a in 0u8..=255 {
                for b in 1u8..=254 {
                    let candidate = format!("{}.{}.{a}.{b}", SERVICE_NET[0], SERVICE_NET[1]);
                    if !ips.contains(&candidate) {
                        found = Some(candidate);
                        break 'outer;
                    }
                }
            }
            match found {
                Some(ip) => ip,
                None => {
                    causes.push(Cause::invalid(
                        "spec.clusterIPs",
                        &json!([]),
                        "failed to allocate IP: range is full",
                    ));
                    return;
                }
            }
        };
        spec.insert("clusterIP".into(), json!(ip));
        spec.insert("clusterIPs".into(), json!([ip]));
        if ty == "NodePort" || ty == "LoadBalancer" {
            let old_ports: Vec<&Value> = old
                .and_then(|o| o.pointer("/spec/ports"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .collect();
            if let Some(list) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for (i, p) in list.iter_mut().enumerate() {
                    let Some(p) = p.as_object_mut() else { continue };
                    match p.get("nodePort").and_then(Value::as_i64) {
                        Some(np) if np != 0 => {
                            let was = old_ports
                                .iter()
                                .any(|o| o.get("nodePort").and_then(Value::as_i64) == Some(np));
                            if !was && (!NODE_PORTS.contains(&np) || ports.contains(&np)) {
                                let why = if ports.contains(&np) {
                                    "provided port is already allocated"
                                } else {
                                    "provided port is not in the valid range. The range of valid ports is 30000-32767"
                                };
                                causes.push(Cause::invalid(
                                    format!("spec.ports[{i}].nodePort"),
                                    &json!(np),
                                    why,
                                ));
                            }
                            ports.insert(np);
                        }
                        _ => {
                            let port = p.get("port").cloned();
                            let kept = old_ports
                                .iter()
                                .find(|o| o.get("port") == port.as_ref())
                                .and_then(|o| o.get("nodePort").and_then(Value::as_i64));
                            let np =
                                kept.or_else(|| NODE_PORTS.clone().find(|n| !ports.contains(n)));
                            if let Some(np) = np {
                                ports.insert(np);
                                p.insert("nodePort".into(), json!(np));
                            }
                        }
                    }
                }
            }
        }
    }

    // === update ===

    /// Replaces an object (PUT), or its status (`sub` = Status).
    pub async fn update(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        sub: Option<Sub>,
        object: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        let mut txn = self.registry.begin().await;
        let current = txn
            .get(rt, namespace, name)
            .ok_or_else(|| ApiError::not_found(subject(rt, name)))?;
        self.update_in(&mut txn, rt, &current, sub, object, opts, None)
            .await
    }

    /// The common path of PUT and PATCH: `object` is the full new object.
    #[allow(clippy::too_many_arguments)]
    async fn update_in(
        &self,
        txn: &mut Txn<'_>,
        rt: &ResourceType,
        current: &Arc<Value>,
        sub: Option<Sub>,
        mut object: Value,
        opts: &WriteOptions,
        applied: Option<&Value>,
    ) -> ApiResult<Written> {
        let name = meta_str(current, "name").to_string();
        let namespace = meta_str(current, "namespace").to_string();
        check_type(rt, &mut object)?;
        {
            let body_name = meta_str(&object, "name");
            if !body_name.is_empty() && body_name != name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({body_name}) does not match the name on the URL ({name})"
                )));
            }
        }
        self.place(rt, &namespace, &mut object)?;
        // Optimistic concurrency: a resourceVersion in the body must be the current one.
        let current_rv = meta_str(current, "resourceVersion").to_string();
        match meta(&object).get("resourceVersion").and_then(Value::as_str) {
            Some(rv) if !rv.is_empty() && rv != current_rv => {
                return Err(ApiError::stale(subject(rt, &name)));
            }
            _ => {}
        }
        let mut warnings = Vec::new();
        let mut object = decode(rt, object, opts.field_validation, &mut warnings)?;
        // System metadata is the server's.
        {
            let cur = meta(current).clone();
            let m = meta_mut(&mut object);
            m.insert("name".into(), json!(name));
            for f in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ] {
                match cur.get(f) {
                    Some(v) => m.insert(f.into(), v.clone()),
                    None => m.remove(f),
                };
            }
            m.insert("resourceVersion".into(), json!(current_rv));
            // An apply computed the managed fields; any other write starts from the
            // stored ones (record_update then moves what changed).
            if applied.is_none() {
                match cur.get("managedFields") {
                    Some(mf) => m.insert("managedFields".into(), mf.clone()),
                    None => m.remove("managedFields"),
                };
            }
        }
        match sub {
            Some(Sub::Status) => {
                // Only the status changes through /status.
                let mut merged = (**current).clone();
                merged["status"] = object.get("status").cloned().unwrap_or(json!({}));
                object = merged;
            }
            // A binding sets the node and the PodScheduled condition together.
            Some(Sub::Binding) => {}
            _ if rt.has(Sub::Status) => {
                // The main resource never changes the status of kinds with /status.
                match current.get("status") {
                    Some(s) => object["status"] = s.clone(),
                    None => {
                        if let Some(m) = object.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            _ => {}
        }
        defaults::apply(rt.kind, &mut object);
        if rt.kind == "Namespace" {
            if let Some(l) = meta_mut(&mut object)
                .entry("labels")
                .or_insert_with(|| json!({}))
                .as_object_mut()
            {
                l.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
        }
        let mut causes = validation::object(rt.kind, &object);
        causes.extend(validation::update(rt.kind, current, &object));
        if rt.kind == "Service" {
            self.allocate_service(txn, &mut object, Some(current), &mut causes);
        }
        if !causes.is_empty() {
            return Err(ApiError::invalid(subject(rt, &name), causes));
        }
        // A deleting object takes no new finalizers... and may lose them all.
        if current.pointer("/metadata/deletionTimestamp").is_some() {
            let old: Vec<String> = finalizers(current);
            let new = finalizers(&object);
            if new.iter().any(|f| !old.contains(f)) {
                return Err(ApiError::invalid(
                    subject(rt, &name),
                    vec![Cause::forbidden(
                        "metadata.finalizers",
                        "no new finalizers can be added if the object is being deleted",
                    )],
                ));
            }
        }
        if rt.has_generation() && spec_part(current) != spec_part(&object) {
            let generation = current
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            meta_mut(&mut object).insert("generation".into(), json!(generation + 1));
        }
        let now = now();
        let subresource = sub.map(Sub::name).unwrap_or("");
        let writer = Writer {
            manager: &opts.field_manager,
            api_version: &rt.api_version(),
            subresource,
            now: &now,
        };
        match applied {
            Some(_) => {}
            None => managed::record_update(
                schemas(),
                schemas().of(rt),
                Some(current),
                &mut object,
                &writer,
            ),
        }
        if object == **current {
            return Ok(Written {
                object: current.clone(),
                created: false,
                warnings,
            });
        }
        if opts.dry_run {
            return Ok(Written {
                object: Arc::new(object),
                created: false,
                warnings,
            });
        }
        // A deleting object whose last finalizer went is removed.
        if object.pointer("/metadata/deletionTimestamp").is_some()
            && finalizers(&object).is_empty()
            && rt.kind != "Namespace"
        {
            let removed = txn.remove(rt, &namespace, &name).await?;
            tracing::info!(kind = rt.kind, namespace = %namespace, name = %name, "deleted after its last finalizer");
            return Ok(Written {
                object: removed,
                created: false,
                warnings,
            });
        }
        let stored = txn.replace(rt, object).await?;
        tracing::debug!(kind = rt.kind, namespace = %namespace, name = %name, "updated");
        Ok(Written {
            object: stored,
            created: false,
            warnings,
        })
    }

    // === patch ===

    /// Patches an object (or its status or scale).
    #[allow(clippy::too_many_arguments)]
    pub async fn patch(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        sub: Option<Sub>,
        kind: PatchType,
        patch: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        let mut txn = self.registry.begin().await;
        let current = match txn.get(rt, namespace, name) {
            Some(c) => c,
            None if kind == PatchType::Apply && sub.is_none() => {
                return self
                    .apply_create(&mut txn, rt, namespace, name, patch, opts)
                    .await;
            }
            None => return Err(ApiError::not_found(subject(rt, name))),
        };
        if sub == Some(Sub::Scale) {
            let scale = scale_of(rt, &current);
            let patched = patch_value(
                rt,
                kind,
                &scale,
                &patch,
                schemas().def("io.k8s.api.autoscaling.v1.Scale"),
            )?;
            return self.set_scale(&mut txn, rt, &current, &patched, opts).await;
        }
        if kind == PatchType::Apply {
            let mut config = patch;
            check_type(rt, &mut config)?;
            let config_name = meta_str(&config, "name");
            if !config_name.is_empty() && config_name != name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({config_name}) does not match the name on the URL ({name})"
                )));
            }
            let now = now();
            let writer = Writer {
                manager: &opts.field_manager,
                api_version: &rt.api_version(),
                subresource: sub.map(Sub::name).unwrap_or(""),
                now: &now,
            };
            let merged = managed::apply(
                schemas(),
                schemas().of(rt),
                &current,
                &config,
                &writer,
                opts.force,
            )
            .map_err(|conflicts| apply_conflict(rt, name, &conflicts))?;
            return self
                .update_in(&mut txn, rt, &current, sub, merged, opts, Some(&config))
                .await;
        }
        let patched = patch_value(rt, kind, &current, &patch, schemas().of(rt))?;
        self.update_in(&mut txn, rt, &current, sub, patched, opts, None)
            .await
    }

    async fn apply_create(
        &self,
        txn: &mut Txn<'_>,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        mut config: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        check_type(rt, &mut config)?;
        let m = meta_mut(&mut config);
        match m.get("name").and_then(Value::as_str) {
            Some(n) if n != name => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )))
            }
            _ => {
                m.insert("name".into(), json!(name));
            }
        }
        let now = now();
        let writer = Writer {
            manager: &opts.field_manager,
            api_version: &rt.api_version(),
            subresource: "",
            now: &now,
        };
        let merged = managed::apply(
            schemas(),
            schemas().of(rt),
            &json!({}),
            &config,
            &writer,
            true,
        )
        .map_err(|c| apply_conflict(rt, name, &c))?;
        let managed_fields = merged.pointer("/metadata/managedFields").cloned();
        let mut written = self.create_in(txn, rt, namespace, merged, opts).await?;
        // The create recorded an Update by the same manager; it is an Apply.
        if let Some(mf) = managed_fields {
            let mut object = (*written.object).clone();
            meta_mut(&mut object).insert("managedFields".into(), mf);
            if !opts.dry_run {
                written.object = txn.replace(rt, object).await?;
            } else {
                written.object = Arc::new(object);
            }
        }
        Ok(written)
    }

    // === scale ===

    /// The `autoscaling/v1` Scale of an object.
    pub async fn get_scale(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> ApiResult<Value> {
        let current = self.get(rt, namespace, name).await?;
        Ok(scale_of(rt, &current))
    }

    /// PUT of a Scale.
    pub async fn update_scale(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        scale: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        let mut txn = self.registry.begin().await;
        let current = txn
            .get(rt, namespace, name)
            .ok_or_else(|| ApiError::not_found(subject(rt, name)))?;
        self.set_scale(&mut txn, rt, &current, &scale, opts).await
    }

    async fn set_scale(
        &self,
        txn: &mut Txn<'_>,
        rt: &ResourceType,
        current: &Arc<Value>,
        scale: &Value,
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        let name = meta_str(current, "name").to_string();
        let replicas = match scale.pointer("/spec/replicas") {
            None | Some(Value::Null) => 0,
            Some(v) => v.as_i64().ok_or_else(|| {
                ApiError::bad_request(format!("Scale in version \"v1\" cannot be handled as a Scale: spec.replicas: invalid type: {v}, expected i32"))
            })?,
        };
        if replicas < 0 {
            return Err(ApiError::invalid(
                Subject {
                    group: "autoscaling",
                    plural: "scale",
                    kind: "Scale",
                    name: &name,
                },
                vec![Cause::invalid(
                    "spec.replicas",
                    &json!(replicas),
                    "must be greater than or equal to 0",
                )],
            ));
        }
        let rv = scale
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !rv.is_empty() && rv != meta_str(current, "resourceVersion") {
            return Err(ApiError::stale(subject(rt, &name)));
        }
        let mut object = (**current).clone();
        object["spec"]["replicas"] = json!(replicas);
        if let Some(m) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        let opts = WriteOptions {
            field_validation: FieldValidation::Ignore,
            ..opts.clone()
        };
        let mut written = self
            .update_in(txn, rt, current, Some(Sub::Scale), object, &opts, None)
            .await?;
        written.object = Arc::new(scale_of(rt, &written.object));
        Ok(written)
    }

    // === binding ===

    /// Binds a pod to a node (`pods/binding`, or a Binding posted to `bindings`).
    pub async fn bind(
        &self,
        namespace: &str,
        pod_name: &str,
        binding: &Value,
        opts: &WriteOptions,
    ) -> ApiResult<Value> {
        let pods = resources::find("", "v1", "pods").expect("served");
        let node = binding
            .pointer("/target/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        if node.is_empty() {
            return Err(ApiError::invalid(
                Subject {
                    group: "",
                    plural: "bindings",
                    kind: "Binding",
                    name: pod_name,
                },
                vec![Cause::required("target.name")],
            ));
        }
        let mut txn = self.registry.begin().await;
        let current = txn
            .get(pods, namespace, pod_name)
            .ok_or_else(|| ApiError::not_found(subject(pods, pod_name)))?;
        let assigned = current
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !assigned.is_empty() {
            return Err(ApiError::conflict(
                subject(pods, pod_name),
                &format!("pod {pod_name} is already assigned to node {assigned:?}"),
            ));
        }
        let mut object = (*current).clone();
        object["spec"]["nodeName"] = json!(node);
        let conditions = object["status"]
            .as_object_mut()
            .map(|s| s.entry("conditions").or_insert_with(|| json!([])));
        if let Some(Value::Array(list)) = conditions {
            list.retain(|c| c.get("type") != Some(&json!("PodScheduled")));
            list.push(json!({"type": "PodScheduled", "status": "True", "lastTransitionTime": now(), "lastProbeTime": null}));
        }
        // Binding writes the status too, through the main resource.
        let opts = WriteOptions {
            field_validation: FieldValidation::Ignore,
            ..opts.clone()
        };
        self.update_in(
            &mut txn,
            pods,
            &current,
            Some(Sub::Binding),
            object,
            &opts,
            None,
        )
        .await?;
        Ok(
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
        )
    }

    // === delete ===

    /// Deletes an object: returns the HTTP status (200 when gone, 202 when deletion is
    /// pending on finalizers or a grace period) and the body.
    pub async fn delete(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<(StatusCode, Value)> {
        let mut txn = self.registry.begin().await;
        self.delete_in(&mut txn, rt, namespace, name, opts).await
    }

    /// [`Api::delete`] inside a transaction (the garbage collector's entry point too).
    pub async fn delete_in(
        &self,
        txn: &mut Txn<'_>,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<(StatusCode, Value)> {
        let current = txn
            .get(rt, namespace, name)
            .ok_or_else(|| ApiError::not_found(subject(rt, name)))?;
        let uid = meta_str(&current, "uid").to_string();
        if let Some(want) = &opts.uid {
            if *want != uid {
                return Err(ApiError::conflict(
                    subject(rt, name),
                    &format!("Precondition failed: UID in precondition: {want}, UID in object meta: {uid}"),
                ));
            }
        }
        if let Some(want) = &opts.resource_version {
            let rv = meta_str(&current, "resourceVersion");
            if want != rv {
                return Err(ApiError::conflict(
                    subject(rt, name),
                    &format!("Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {rv}"),
                ));
            }
        }
        if rt.kind == "Namespace" && SYSTEM_NAMESPACES.contains(&name) {
            return Err(ApiError::forbidden(format!(
                "namespaces {name:?} is forbidden: this namespace may not be deleted"
            )));
        }
        let answer = |object: &Value, gone: bool| -> (StatusCode, Value) {
            let code = if gone {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            };
            let returns_object = matches!(rt.kind, "Pod" | "Service" | "Namespace") || !gone;
            if returns_object {
                (code, object.clone())
            } else {
                (code, status::success(subject(rt, name), &uid))
            }
        };
        let mut object = (*current).clone();
        let deleting = current.pointer("/metadata/deletionTimestamp").is_some();
        let mut fins = finalizers(&current);
        let propagation = opts.propagation.unwrap_or(Propagation::Background);
        // Namespaces: Terminating until the namespace controller has emptied them.
        if rt.kind == "Namespace" {
            if !deleting {
                meta_mut(&mut object).insert("deletionTimestamp".into(), json!(now()));
                meta_mut(&mut object).insert("deletionGracePeriodSeconds".into(), json!(0));
                object["status"]["phase"] = json!("Terminating");
                if propagation == Propagation::Orphan {
                    fins.push("orphan".into());
                    meta_mut(&mut object).insert("finalizers".into(), json!(fins));
                }
                if opts.dry_run {
                    return Ok(answer(&object, false));
                }
                let stored = txn.replace(rt, object).await?;
                tracing::info!(namespace = name, "namespace terminating");
                return Ok((StatusCode::OK, (*stored).clone()));
            }
            return Ok((StatusCode::OK, (*current).clone()));
        }
        let mut changed = false;
        match propagation {
            Propagation::Foreground
                if !fins.iter().any(|f| f == "foregroundDeletion") && !deleting =>
            {
                fins.push("foregroundDeletion".into());
                changed = true;
            }
            Propagation::Orphan if !fins.iter().any(|f| f == "orphan") && !deleting => {
                fins.push("orphan".into());
                changed = true;
            }
            _ => {}
        }
        // Graceful deletion of pods bound to a node: the node's executor finishes it.
        let mut grace = 0;
        if rt.kind == "Pod" && !deleting {
            let bound = !current
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty();
            let phase = current
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("");
            if bound && phase != "Succeeded" && phase != "Failed" {
                grace = opts
                    .grace_period
                    .or_else(|| {
                        current
                            .pointer("/spec/terminationGracePeriodSeconds")
                            .and_then(Value::as_i64)
                    })
                    .unwrap_or(30)
                    .max(0);
            }
        }
        if fins.is_empty() && grace == 0 {
            if opts.dry_run {
                return Ok(answer(&current, true));
            }
            let removed = txn.remove(rt, namespace, name).await?;
            tracing::info!(kind = rt.kind, namespace, name, "deleted");
            return Ok(answer(&removed, true));
        }
        if deleting && !changed {
            // Already being deleted: a shorter grace period may speed it up.
            if let (Some(g), "Pod") = (opts.grace_period, rt.kind) {
                if g == 0 && fins.is_empty() && !opts.dry_run {
                    let removed = txn.remove(rt, namespace, name).await?;
                    return Ok(answer(&removed, true));
                }
            }
            return Ok(answer(&current, false));
        }
        {
            let m = meta_mut(&mut object);
            m.insert("deletionTimestamp".into(), json!(now_plus(grace)));
            m.insert("deletionGracePeriodSeconds".into(), json!(grace));
            if !fins.is_empty() {
                m.insert("finalizers".into(), json!(fins));
            }
        }
        if opts.dry_run {
            return Ok(answer(&object, false));
        }
        let stored = txn.replace(rt, object).await?;
        tracing::info!(kind = rt.kind, namespace, name, grace, finalizers = ?fins, "deletion pending");
        Ok(answer(&stored, false))
    }

    /// Deletes every matching object of a collection.
    pub async fn delete_collection(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        list: &ListOptions,
        opts: &DeleteOptions,
    ) -> ApiResult<Value> {
        let mut txn = self.registry.begin().await;
        let names: Vec<(String, String)> = txn
            .list(rt, namespace, None)
            .filter(|(_, o)| list.labels.matches_object(o) && list.fields.matches(o))
            .map(|(pos, _)| pos.clone())
            .collect();
        let mut items = Vec::new();
        for (ns, name) in names {
            match self.delete_in(&mut txn, rt, &ns, &name, opts).await {
                Ok((_, body)) if body.get("kind") != Some(&json!("Status")) => items.push(body),
                Ok(_) => {}
                Err(e) if e.code == StatusCode::NOT_FOUND => {}
                Err(e) => return Err(e),
            }
        }
        Ok(json!({
            "kind": format!("{}List", rt.kind),
            "apiVersion": rt.api_version(),
            "metadata": { "resourceVersion": txn.revision().to_string() },
            "items": items,
        }))
    }
}

/// A Job without `manualSelector` selects its pods by its uid: the selector and the
/// template's labels are generated, as the real API server does.
fn job_selector(job: &mut Value) {
    if job.pointer("/spec/manualSelector") == Some(&Value::Bool(true)) {
        return;
    }
    let uid = meta_str(job, "uid").to_string();
    let name = meta_str(job, "name").to_string();
    if let Some(spec) = job.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert(
            "selector".into(),
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
        );
    }
    if let Some(template) = job
        .pointer_mut("/spec/template")
        .and_then(Value::as_object_mut)
    {
        let meta = template.entry("metadata").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            let labels = meta.entry("labels").or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                l.insert("batch.kubernetes.io/controller-uid".into(), json!(uid));
                l.insert("batch.kubernetes.io/job-name".into(), json!(name));
                l.insert("controller-uid".into(), json!(uid));
                l.insert("job-name".into(), json!(name));
            }
        }
    }
}

/// Applies a JSON, merge or strategic patch to an object.
pub fn patch_value(
    rt: &ResourceType,
    kind: PatchType,
    current: &Value,
    patch: &Value,
    schema: Option<&Value>,
) -> ApiResult<Value> {
    let mut target = current.clone();
    match kind {
        PatchType::Json => crate::patch::json_patch(&mut target, patch).map_err(|e| {
            ApiError::invalid(
                subject(rt, meta_str(current, "name")),
                vec![Cause::invalid(
                    "",
                    patch,
                    format!("the server rejected our request due to an error in our request: {e}"),
                )],
            )
        })?,
        PatchType::Merge => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("a merge patch must be a JSON object"));
            }
            crate::patch::merge_patch(&mut target, patch)
        }
        PatchType::Strategic => {
            crate::patch::strategic_merge(schemas(), &mut target, patch, schema)
                .map_err(ApiError::bad_request)?
        }
        PatchType::Apply => {
            return Err(ApiError::bad_request(
                "apply patches are only for whole objects",
            ));
        }
    }
    Ok(target)
}

fn apply_conflict(rt: &ResourceType, name: &str, conflicts: &[managed::Conflict]) -> ApiError {
    let lines: Vec<String> = conflicts
        .iter()
        .map(|c| format!("conflict with {:?}: {}", c.manager, c.field))
        .collect();
    let message = if lines.len() == 1 {
        format!("Apply failed with 1 conflict: {}", lines[0])
    } else {
        format!(
            "Apply failed with {} conflicts: {}",
            lines.len(),
            lines.join("\n")
        )
    };
    let mut e = ApiError::conflict(subject(rt, name), &message);
    e.message = message;
    if let Some(d) = e.details.as_mut() {
        d["causes"] = conflicts
            .iter()
            .map(|c| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {:?}", c.manager), "field": c.field}))
            .collect();
    }
    e
}

/// The Scale view of a scalable object.
pub fn scale_of(rt: &ResourceType, object: &Value) -> Value {
    let m = meta(object);
    let selector = match object.pointer("/spec/selector") {
        Some(Value::Object(sel)) if rt.kind == "ReplicationController" => {
            LabelSelector::from_map(sel).to_string()
        }
        Some(sel) => LabelSelector::from_object(sel)
            .map(|s| s.to_string())
            .unwrap_or_default(),
        None => String::new(),
    };
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m.get("name"),
            "namespace": m.get("namespace"),
            "uid": m.get("uid"),
            "resourceVersion": m.get("resourceVersion"),
            "creationTimestamp": m.get("creationTimestamp"),
        },
        "spec": { "replicas": object.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0) },
        "status": {
            "replicas": object.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": selector,
        },
    })
}

fn encode_continue(pos: &(String, String), revision: u64) -> String {
    use base64::Engine as _;
    let token = json!({ "v": "meta.k8s.io/v1", "rv": revision, "start": [pos.0, pos.1] });
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token.to_string())
}

fn decode_continue(token: &str) -> ApiResult<(String, String)> {
    use base64::Engine as _;
    let bad = || ApiError::bad_request(format!("continue key is not valid: {token:?}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let start = v.get("start").and_then(Value::as_array).ok_or_else(bad)?;
    match (
        start.first().and_then(Value::as_str),
        start.get(1).and_then(Value::as_str),
    ) {
        (Some(ns), Some(name)) => Ok((ns.to_string(), name.to_string())),
        _ => Err(bad()),
    }
}
