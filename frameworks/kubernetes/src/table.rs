//! Server-side printing: `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` turns a
//! get, a list or each watch event into a `meta.k8s.io/v1` Table with the columns kubectl
//! prints for the kind (`-o wide` shows the priority-1 columns too).

use serde_json::{json, Value};

/// How each row carries its object (`includeObject`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Include {
    /// No object.
    None,
    /// `PartialObjectMetadata` (the default).
    Metadata,
    /// The whole object.
    Object,
}

impl Include {
    /// Parses the `includeObject` parameter.
    pub fn parse(v: Option<&str>) -> Include {
        match v {
            Some("None") => Include::None,
            Some("Object") => Include::Object,
            _ => Include::Metadata,
        }
    }
}

/// Kubernetes' short human duration (`5m`, `2d3h`, `<invalid>`).
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    let s = seconds.max(0);
    if s < 120 {
        return format!("{s}s");
    }
    let m = s / 60;
    if m < 10 {
        return if s % 60 == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{}s", s % 60)
        };
    }
    if m < 180 {
        return format!("{m}m");
    }
    let h = m / 60;
    if h < 8 {
        return if m % 60 == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        };
    }
    if h < 48 {
        return format!("{h}h");
    }
    let d = h / 24;
    if h < 24 * 8 {
        return if h % 24 == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{}h", h % 24)
        };
    }
    if h < 24 * 365 * 2 {
        return format!("{d}d");
    }
    let y = d / 365;
    if h < 24 * 365 * 8 {
        return if d % 365 == 0 {
            format!("{y}y")
        } else {
            format!("{y}y{}d", d % 365)
        };
    }
    format!("{y}y")
}

/// Seconds since an RFC 3339 timestamp.
pub fn seconds_since(ts: &str, now: k8s_openapi::jiff::Timestamp) -> Option<i64> {
    let t: k8s_openapi::jiff::Timestamp = ts.parse().ok()?;
    Some(now.as_second() - t.as_second())
}

fn age(object: &Value, now: k8s_openapi::jiff::Timestamp) -> Value {
    since(object.pointer("/metadata/creationTimestamp"), now)
}

fn since(ts: Option<&Value>, now: k8s_openapi::jiff::Timestamp) -> Value {
    match ts
        .and_then(Value::as_str)
        .and_then(|t| seconds_since(t, now))
    {
        Some(s) => json!(human_duration(s)),
        None => json!("<unknown>"),
    }
}

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn n(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn or_none(text: String) -> Value {
    if text.is_empty() {
        json!("<none>")
    } else {
        json!(text)
    }
}

fn map_selector(v: Option<&Value>) -> String {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn label_selector(v: Option<&Value>) -> String {
    let Some(v) = v else { return String::new() };
    let mut parts: Vec<String> = Vec::new();
    if let Some(m) = v.get("matchLabels") {
        let text = map_selector(Some(m));
        if !text.is_empty() {
            parts.push(text);
        }
    }
    for e in v
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = s(e, "/key");
        let values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        parts.push(match s(e, "/operator") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            _ => format!("!{key}"),
        });
    }
    parts.join(",")
}

fn containers_and_images(template_spec: Option<&Value>) -> (Value, Value) {
    let cs: Vec<&Value> = template_spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let names: Vec<&str> = cs.iter().map(|c| s(c, "/name")).collect();
    let images: Vec<&str> = cs.iter().map(|c| s(c, "/image")).collect();
    (or_none(names.join(",")), or_none(images.join(",")))
}

type Column = (&'static str, &'static str, &'static str, i64);

const NAME: Column = ("Name", "string", "name", 0);
const AGE: Column = ("Age", "string", "", 0);

fn pod_status(pod: &Value) -> String {
    if pod.pointer("/metadata/deletionTimestamp").is_some() {
        return "Terminating".into();
    }
    let mut reason = s(pod, "/status/reason").to_string();
    if reason.is_empty() {
        reason = s(pod, "/status/phase").to_string();
    }
    for c in pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let waiting = s(c, "/state/waiting/reason");
        let terminated = s(c, "/state/terminated/reason");
        if !waiting.is_empty() {
            reason = waiting.to_string();
        } else if !terminated.is_empty() {
            reason = terminated.to_string();
        }
    }
    if reason.is_empty() {
        "Unknown".into()
    } else {
        reason
    }
}

fn pod_ready(pod: &Value) -> String {
    let total = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let ready = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c.get("ready") == Some(&Value::Bool(true)))
        .count();
    format!("{ready}/{total}")
}

fn service_ports(svc: &Value) -> String {
    svc.pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let port = n(p, "/port");
            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_i64) {
                Some(np) => format!("{port}:{np}/{proto}"),
                None => format!("{port}/{proto}"),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn endpoints(ep: &Value) -> String {
    let mut all = Vec::new();
    for subset in ep
        .get("subsets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let ports: Vec<i64> = subset
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| n(p, "/port"))
            .collect();
        for a in subset
            .get("addresses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let ip = s(a, "/ip");
            if ports.is_empty() {
                all.push(ip.to_string());
            }
            for p in &ports {
                all.push(format!("{ip}:{p}"));
            }
        }
    }
    if all.len() > 3 {
        let more = all.len() - 3;
        all.truncate(3);
        format!("{} + {more} more...", all.join(","))
    } else {
        all.join(",")
    }
}

fn node_status(node: &Value) -> String {
    let ready = node
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| s(c, "/type") == "Ready");
    let mut status = match ready.map(|c| s(c, "/status")) {
        Some("True") => "Ready".to_string(),
        Some("False") => "NotReady".to_string(),
        _ => "Unknown".to_string(),
    };
    if node.pointer("/spec/unschedulable") == Some(&Value::Bool(true)) {
        status.push_str(",SchedulingDisabled");
    }
    status
}

fn node_roles(node: &Value) -> String {
    let mut roles: Vec<&str> = node
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
        .collect();
    roles.sort();
    roles.join(",")
}

fn node_address(node: &Value, kind: &str) -> String {
    node.pointer("/status/addresses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|a| s(a, "/type") == kind)
        .map(|a| s(a, "/address").to_string())
        .unwrap_or_default()
}

fn count(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::Object(m)) => m.len() as i64,
        Some(Value::Array(a)) => a.len() as i64,
        _ => 0,
    }
}

fn job_status(job: &Value) -> &'static str {
    let conditions: Vec<&Value> = job
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| s(c, "/status") == "True")
        .collect();
    for (ty, label) in [
        ("Failed", "Failed"),
        ("Complete", "Complete"),
        ("Suspended", "Suspended"),
        ("FailureTarget", "FailureTarget"),
        ("SuccessCriteriaMet", "SuccessCriteriaMet"),
    ] {
        if conditions.iter().any(|c| s(c, "/type") == ty) {
            return label;
        }
    }
    if job.pointer("/metadata/deletionTimestamp").is_some() {
        "Terminating"
    } else {
        "Running"
    }
}

fn access_modes(v: Option<&Value>) -> String {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|m| match m {
            "ReadWriteOnce" => "RWO",
            "ReadOnlyMany" => "ROX",
            "ReadWriteMany" => "RWX",
            "ReadWriteOncePod" => "RWOP",
            other => other,
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The columns and one row's cells for a kind.
fn columns(kind: &str) -> Vec<Column> {
    match kind {
        "Pod" => vec![
            NAME,
            ("Ready", "string", "", 0),
            ("Status", "string", "", 0),
            ("Restarts", "string", "", 0),
            AGE,
            ("IP", "string", "", 1),
            ("Node", "string", "", 1),
            ("Nominated Node", "string", "", 1),
            ("Readiness Gates", "string", "", 1),
        ],
        "ReplicationController" | "ReplicaSet" => vec![
            NAME,
            ("Desired", "integer", "", 0),
            ("Current", "integer", "", 0),
            ("Ready", "integer", "", 0),
            AGE,
            ("Containers", "string", "", 1),
            ("Images", "string", "", 1),
            ("Selector", "string", "", 1),
        ],
        "Service" => vec![
            NAME,
            ("Type", "string", "", 0),
            ("Cluster-IP", "string", "", 0),
            ("External-IP", "string", "", 0),
            ("Port(s)", "string", "", 0),
            AGE,
            ("Selector", "string", "", 1),
        ],
        "Endpoints" => vec![NAME, ("Endpoints", "string", "", 0), AGE],
        "Node" => vec![
            NAME,
            ("Status", "string", "", 0),
            ("Roles", "string", "", 0),
            AGE,
            ("Version", "string", "", 0),
            ("Internal-IP", "string", "", 1),
            ("External-IP", "string", "", 1),
            ("OS-Image", "string", "", 1),
            ("Kernel-Version", "string", "", 1),
            ("Container-Runtime", "string", "", 1),
        ],
        "Namespace" => vec![NAME, ("Status", "string", "", 0), AGE],
        "Deployment" => vec![
            NAME,
            ("Ready", "string", "", 0),
            ("Up-to-date", "integer", "", 0),
            ("Available", "integer", "", 0),
            AGE,
            ("Containers", "string", "", 1),
            ("Images", "string", "", 1),
            ("Selector", "string", "", 1),
        ],
        "DaemonSet" => vec![
            NAME,
            ("Desired", "integer", "", 0),
            ("Current", "integer", "", 0),
            ("Ready", "integer", "", 0),
            ("Up-to-date", "integer", "", 0),
            ("Available", "integer", "", 0),
            ("Node Selector", "string", "", 0),
            AGE,
            ("Containers", "string", "", 1),
            ("Images", "string", "", 1),
            ("Selector", "string", "", 1),
        ],
        "StatefulSet" => vec![
            NAME,
            ("Ready", "string", "", 0),
            AGE,
            ("Containers", "string", "", 1),
            ("Images", "string", "", 1),
        ],
        "Job" => vec![
            NAME,
            ("Status", "string", "", 0),
            ("Completions", "string", "", 0),
            ("Duration", "string", "", 0),
            AGE,
            ("Containers", "string", "", 1),
            ("Images", "string", "", 1),
            ("Selector", "string", "", 1),
        ],
        "CronJob" => vec![
            NAME,
            ("Schedule", "string", "", 0),
            ("Timezone", "string", "", 0),
            ("Suspend", "boolean", "", 0),
            ("Active", "integer", "", 0),
            ("Last Schedule", "string", "", 0),
            AGE,
            ("Containers", "string", "", 1),
            ("Images", "string", "", 1),
            ("Selector", "string", "", 1),
        ],
        "ConfigMap" => vec![NAME, ("Data", "string", "", 0), AGE],
        "Secret" => vec![
            NAME,
            ("Type", "string", "", 0),
            ("Data", "string", "", 0),
            AGE,
        ],
        "ServiceAccount" => vec![NAME, ("Secrets", "string", "", 0), AGE],
        "Event" => vec![
            ("Last Seen", "string", "", 0),
            ("Type", "string", "", 0),
            ("Reason", "string", "", 0),
            ("Object", "string", "", 0),
            ("Subobject", "string", "", 1),
            ("Source", "string", "", 1),
            ("Message", "string", "", 0),
            ("First Seen", "string", "", 1),
            ("Count", "string", "", 1),
            ("Name", "string", "", 1),
        ],
        "PersistentVolume" => vec![
            NAME,
            ("Capacity", "string", "", 0),
            ("Access Modes", "string", "", 0),
            ("Reclaim Policy", "string", "", 0),
            ("Status", "string", "", 0),
            ("Claim", "string", "", 0),
            ("StorageClass", "string", "", 0),
            ("VolumeAttributesClass", "string", "", 0),
            ("Reason", "string", "", 0),
            AGE,
            ("VolumeMode", "string", "", 1),
        ],
        "PersistentVolumeClaim" => vec![
            NAME,
            ("Status", "string", "", 0),
            ("Volume", "string", "", 0),
            ("Capacity", "string", "", 0),
            ("Access Modes", "string", "", 0),
            ("StorageClass", "string", "", 0),
            ("VolumeAttributesClass", "string", "", 0),
            AGE,
            ("VolumeMode", "string", "", 1),
        ],
        "ResourceQuota" => vec![
            NAME,
            AGE,
            ("Request", "string", "", 0),
            ("Limit", "string", "", 0),
        ],
        "Lease" => vec![NAME, ("Holder", "string", "", 0), AGE],
        _ => vec![NAME, AGE],
    }
}

fn cells(kind: &str, o: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
    let name = json!(s(o, "/metadata/name"));
    match kind {
        "Pod" => {
            let restarts: i64 = o
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| n(c, "/restartCount"))
                .sum();
            let gates = o
                .pointer("/spec/readinessGates")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            vec![
                name,
                json!(pod_ready(o)),
                json!(pod_status(o)),
                json!(restarts.to_string()),
                age(o, now),
                or_none(s(o, "/status/podIP").into()),
                or_none(s(o, "/spec/nodeName").into()),
                or_none(s(o, "/status/nominatedNodeName").into()),
                if gates == 0 {
                    json!("<none>")
                } else {
                    json!(format!("0/{gates}"))
                },
            ]
        }
        "ReplicationController" | "ReplicaSet" => {
            let (c, i) = containers_and_images(o.pointer("/spec/template/spec"));
            let selector = if kind == "ReplicationController" {
                map_selector(o.pointer("/spec/selector"))
            } else {
                label_selector(o.pointer("/spec/selector"))
            };
            vec![
                name,
                json!(n(o, "/spec/replicas")),
                json!(n(o, "/status/replicas")),
                json!(n(o, "/status/readyReplicas")),
                age(o, now),
                c,
                i,
                or_none(selector),
            ]
        }
        "Service" => {
            let ty = s(o, "/spec/type");
            let cluster_ip = s(o, "/spec/clusterIP");
            let mut external: Vec<String> = o
                .pointer("/spec/externalIPs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            for ing in o
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let ip = s(ing, "/ip");
                let host = s(ing, "/hostname");
                external.push(if ip.is_empty() { host } else { ip }.to_string());
            }
            let external = match ty {
                "ExternalName" => s(o, "/spec/externalName").to_string(),
                "LoadBalancer" if external.is_empty() => "<pending>".into(),
                _ => external.join(","),
            };
            vec![
                name,
                json!(ty),
                or_none(cluster_ip.into()),
                or_none(external),
                or_none(service_ports(o)),
                age(o, now),
                or_none(map_selector(o.pointer("/spec/selector"))),
            ]
        }
        "Endpoints" => vec![name, or_none(endpoints(o)), age(o, now)],
        "Node" => vec![
            name,
            json!(node_status(o)),
            or_none(node_roles(o)),
            age(o, now),
            json!(s(o, "/status/nodeInfo/kubeletVersion")),
            or_none(node_address(o, "InternalIP")),
            or_none(node_address(o, "ExternalIP")),
            json!(if s(o, "/status/nodeInfo/osImage").is_empty() {
                "<unknown>"
            } else {
                s(o, "/status/nodeInfo/osImage")
            }),
            json!(if s(o, "/status/nodeInfo/kernelVersion").is_empty() {
                "<unknown>"
            } else {
                s(o, "/status/nodeInfo/kernelVersion")
            }),
            json!(
                if s(o, "/status/nodeInfo/containerRuntimeVersion").is_empty() {
                    "<unknown>"
                } else {
                    s(o, "/status/nodeInfo/containerRuntimeVersion")
                }
            ),
        ],
        "Namespace" => vec![name, json!(s(o, "/status/phase")), age(o, now)],
        "Deployment" => {
            let (c, i) = containers_and_images(o.pointer("/spec/template/spec"));
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    n(o, "/status/readyReplicas"),
                    n(o, "/spec/replicas")
                )),
                json!(n(o, "/status/updatedReplicas")),
                json!(n(o, "/status/availableReplicas")),
                age(o, now),
                c,
                i,
                or_none(label_selector(o.pointer("/spec/selector"))),
            ]
        }
        "DaemonSet" => {
            let (c, i) = containers_and_images(o.pointer("/spec/template/spec"));
            vec![
                name,
                json!(n(o, "/status/desiredNumberScheduled")),
                json!(n(o, "/status/currentNumberScheduled")),
                json!(n(o, "/status/numberReady")),
                json!(n(o, "/status/updatedNumberScheduled")),
                json!(n(o, "/status/numberAvailable")),
                or_none(map_selector(o.pointer("/spec/template/spec/nodeSelector"))),
                age(o, now),
                c,
                i,
                or_none(label_selector(o.pointer("/spec/selector"))),
            ]
        }
        "StatefulSet" => {
            let (c, i) = containers_and_images(o.pointer("/spec/template/spec"));
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    n(o, "/status/readyReplicas"),
                    n(o, "/spec/replicas")
                )),
                age(o, now),
                c,
                i,
            ]
        }
        "Job" => {
            let (c, i) = containers_and_images(o.pointer("/spec/template/spec"));
            let completions = match o.pointer("/spec/completions").and_then(Value::as_i64) {
                Some(total) => format!("{}/{total}", n(o, "/status/succeeded")),
                None => format!(
                    "{}/1 of {}",
                    n(o, "/status/succeeded"),
                    n(o, "/spec/parallelism")
                ),
            };
            let duration = match (
                o.pointer("/status/startTime").and_then(Value::as_str),
                o.pointer("/status/completionTime").and_then(Value::as_str),
            ) {
                (Some(start), Some(end)) => {
                    match (seconds_since(start, now), seconds_since(end, now)) {
                        (Some(a), Some(b)) => human_duration(a - b),
                        _ => String::new(),
                    }
                }
                (Some(start), None) => seconds_since(start, now)
                    .map(human_duration)
                    .unwrap_or_default(),
                _ => String::new(),
            };
            vec![
                name,
                json!(job_status(o)),
                json!(completions),
                json!(duration),
                age(o, now),
                c,
                i,
                or_none(label_selector(o.pointer("/spec/selector"))),
            ]
        }
        "CronJob" => {
            let (c, i) = containers_and_images(o.pointer("/spec/jobTemplate/spec/template/spec"));
            vec![
                name,
                json!(s(o, "/spec/schedule")),
                or_none(s(o, "/spec/timeZone").into()),
                json!(o.pointer("/spec/suspend") == Some(&Value::Bool(true))),
                json!(count(o.pointer("/status/active"))),
                match o.pointer("/status/lastScheduleTime") {
                    Some(t) => since(Some(t), now),
                    None => json!("<none>"),
                },
                age(o, now),
                c,
                i,
                or_none(label_selector(o.pointer("/spec/jobTemplate/spec/selector"))),
            ]
        }
        "ConfigMap" => vec![
            name,
            json!((count(o.get("data")) + count(o.get("binaryData"))).to_string()),
            age(o, now),
        ],
        "Secret" => vec![
            name,
            json!(s(o, "/type")),
            json!(count(o.get("data")).to_string()),
            age(o, now),
        ],
        "ServiceAccount" => vec![
            name,
            json!(count(o.get("secrets")).to_string()),
            age(o, now),
        ],
        "Event" => {
            let last = o
                .get("lastTimestamp")
                .filter(|v| !v.is_null())
                .or_else(|| o.get("eventTime"))
                .or_else(|| o.pointer("/metadata/creationTimestamp"));
            let first = o
                .get("firstTimestamp")
                .filter(|v| !v.is_null())
                .or_else(|| o.get("eventTime"))
                .or_else(|| o.pointer("/metadata/creationTimestamp"));
            let object = format!(
                "{}/{}",
                s(o, "/involvedObject/kind").to_lowercase(),
                s(o, "/involvedObject/name")
            );
            vec![
                since(last, now),
                json!(s(o, "/type")),
                json!(s(o, "/reason")),
                json!(object),
                json!(s(o, "/involvedObject/fieldPath")),
                json!(s(o, "/source/component")),
                json!(s(o, "/message")),
                since(first, now),
                json!(o
                    .get("count")
                    .and_then(Value::as_i64)
                    .unwrap_or(1)
                    .to_string()),
                name,
            ]
        }
        "PersistentVolume" => {
            let claim = match o.pointer("/spec/claimRef") {
                Some(r) => format!("{}/{}", s(r, "/namespace"), s(r, "/name")),
                None => String::new(),
            };
            vec![
                name,
                json!(s(o, "/spec/capacity/storage")),
                json!(access_modes(o.pointer("/spec/accessModes"))),
                json!(s(o, "/spec/persistentVolumeReclaimPolicy")),
                json!(s(o, "/status/phase")),
                json!(claim),
                json!(s(o, "/spec/storageClassName")),
                or_none(s(o, "/spec/volumeAttributesClassName").into()),
                json!(s(o, "/status/reason")),
                age(o, now),
                json!(s(o, "/spec/volumeMode")),
            ]
        }
        "PersistentVolumeClaim" => vec![
            name,
            json!(s(o, "/status/phase")),
            json!(s(o, "/spec/volumeName")),
            json!(s(o, "/status/capacity/storage")),
            json!(access_modes(o.pointer("/status/accessModes"))),
            json!(s(o, "/spec/storageClassName")),
            or_none(s(o, "/spec/volumeAttributesClassName").into()),
            age(o, now),
            json!(s(o, "/spec/volumeMode")),
        ],
        "ResourceQuota" => {
            let pairs = |only: fn(&str) -> bool| {
                let hard = o
                    .pointer("/status/hard")
                    .or_else(|| o.pointer("/spec/hard"));
                let used = o.pointer("/status/used");
                hard.and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| only(k))
                    .map(|(k, v)| {
                        let u = used
                            .and_then(|u| u.get(k))
                            .and_then(Value::as_str)
                            .unwrap_or("0");
                        format!("{k}: {u}/{}", v.as_str().unwrap_or(""))
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            vec![
                name,
                age(o, now),
                json!(pairs(|k| !k.starts_with("limits."))),
                json!(pairs(|k| k.starts_with("limits."))),
            ]
        }
        "Lease" => vec![
            name,
            or_none(s(o, "/spec/holderIdentity").into()),
            age(o, now),
        ],
        _ => vec![name, age(o, now)],
    }
}

fn row_object(o: &Value, include: Include) -> Value {
    match include {
        Include::None => Value::Null,
        Include::Object => o.clone(),
        Include::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": o.get("metadata").cloned().unwrap_or(json!({})),
        }),
    }
}

/// A Table of `objects` of `kind`.
pub fn table<'a>(
    kind: &str,
    objects: impl IntoIterator<Item = &'a Value>,
    list_meta: Value,
    include: Include,
    now: k8s_openapi::jiff::Timestamp,
) -> Value {
    let defs: Vec<Value> = columns(kind)
        .into_iter()
        .map(|(name, ty, format, priority)| {
            json!({ "name": name, "type": ty, "format": format, "description": column_description(name), "priority": priority })
        })
        .collect();
    let rows: Vec<Value> = objects
        .into_iter()
        .map(|o| {
            let mut row = json!({ "cells": cells(kind, o, now) });
            if include != Include::None {
                row["object"] = row_object(o, include);
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": defs,
        "rows": rows,
    })
}

fn column_description(name: &str) -> &'static str {
    match name {
        "Name" => "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
        "Age" => "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(600), "10m");
        assert_eq!(human_duration(3 * 3600 + 60), "3h1m");
        assert_eq!(human_duration(30 * 3600), "30h");
        assert_eq!(human_duration(3 * 86400 + 3600), "3d1h");
        assert_eq!(human_duration(-5), "<invalid>");
    }

    #[test]
    fn pod_rows() {
        let now: k8s_openapi::jiff::Timestamp = "2025-01-01T00:10:00Z".parse().unwrap();
        let pod = json!({"metadata": {"name": "p", "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Pending"}});
        let t = table("Pod", [&pod], json!({}), Include::Metadata, now);
        assert_eq!(
            t["rows"][0]["cells"],
            json!(["p", "0/1", "Pending", "0", "10m", "<none>", "<none>", "<none>", "<none>"])
        );
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["columnDefinitions"].as_array().unwrap().len(), 9);
    }

    #[test]
    fn service_rows() {
        let now: k8s_openapi::jiff::Timestamp = "2025-01-01T00:00:05Z".parse().unwrap();
        let svc = json!({"metadata": {"name": "web", "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"type": "NodePort", "clusterIP": "127.1.0.5", "selector": {"app": "web"},
                "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}});
        let t = table("Service", [&svc], json!({}), Include::None, now);
        assert_eq!(
            t["rows"][0]["cells"],
            json!([
                "web",
                "NodePort",
                "127.1.0.5",
                "<none>",
                "80:30080/TCP",
                "5s",
                "app=web"
            ])
        );
    }
}
