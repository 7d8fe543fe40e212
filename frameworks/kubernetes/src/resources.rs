//! The kinds this API server serves: names, scope, verbs, short names, categories and
//! subresources (what discovery publishes), and the k8s-openapi type each is checked
//! against.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use k8s_openapi::api::{apps, batch, coordination, core, events};

/// A subresource of a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sub {
    /// `/status`: reads the object, writes only its status.
    Status,
    /// `/scale`: an `autoscaling/v1` `Scale` view of `spec.replicas`.
    Scale,
    /// `/log`: a pod's container log (text).
    Log,
    /// `/binding`: assigns a pod to a node.
    Binding,
    /// `/finalize`: a namespace's `spec.finalizers`.
    Finalize,
}

impl Sub {
    /// The path segment.
    pub fn name(self) -> &'static str {
        match self {
            Sub::Status => "status",
            Sub::Scale => "scale",
            Sub::Log => "log",
            Sub::Binding => "binding",
            Sub::Finalize => "finalize",
        }
    }

    /// Parses a path segment.
    pub fn parse(segment: &str) -> Option<Sub> {
        Some(match segment {
            "status" => Sub::Status,
            "scale" => Sub::Scale,
            "log" => Sub::Log,
            "binding" => Sub::Binding,
            "finalize" => Sub::Finalize,
            _ => return None,
        })
    }
}

/// Checks a JSON object against a k8s-openapi type by a round trip through it: the
/// result has exact types (int32 is a number, times are RFC 3339, quantities strings)
/// and no unknown fields.
pub type TypedCheck = fn(&Value) -> Result<Value, String>;

/// One kind the server serves.
#[derive(Debug)]
pub struct ResourceType {
    /// API group, "" for core.
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// Plural resource name, the path segment (`pods`).
    pub plural: &'static str,
    /// Singular (`pod`).
    pub singular: &'static str,
    /// Kind (`Pod`).
    pub kind: &'static str,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Short names (`po`).
    pub short_names: &'static [&'static str],
    /// Categories (`all`).
    pub categories: &'static [&'static str],
    /// Subresources.
    pub subresources: &'static [Sub],
    /// Round trip through the k8s-openapi type.
    pub check: TypedCheck,
    /// Field selectors accepted besides `metadata.name` and `metadata.namespace`.
    pub fields: &'static [&'static str],
}

impl ResourceType {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether the kind has the subresource.
    pub fn has(&self, sub: Sub) -> bool {
        self.subresources.contains(&sub)
    }

    /// The verbs of the main resource.
    pub fn verbs(&self) -> &'static [&'static str] {
        if self.kind == "Binding" {
            return &["create"];
        }
        &[
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }

    /// The store key prefix of this kind's objects: `k8s/<group>/<version>/<plural>/`.
    pub fn key_prefix(&self) -> String {
        let group = if self.group.is_empty() {
            "core"
        } else {
            self.group
        };
        format!("k8s/{group}/{}/{}/", self.version, self.plural)
    }

    /// The store key of one object.
    pub fn key(&self, namespace: &str, name: &str) -> String {
        if self.namespaced {
            format!("{}{namespace}/{name}", self.key_prefix())
        } else {
            format!("{}{name}", self.key_prefix())
        }
    }

    /// Whether the kind has a `spec` that `metadata.generation` tracks.
    pub fn has_generation(&self) -> bool {
        self.has(Sub::Status) && self.kind != "Namespace" && self.kind != "Node"
    }
}

fn check<T: DeserializeOwned + Serialize>(value: &Value) -> Result<Value, String> {
    let typed: T = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." || path.is_empty() {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        }
    })?;
    serde_json::to_value(&typed).map_err(|e| e.to_string())
}

const POD_FIELDS: &[&str] = &[
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
];
const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];
const EVENTS_V1_FIELDS: &[&str] = &[
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "reason",
    "reportingController",
    "type",
];

macro_rules! kind {
    ($group:expr, $version:expr, $plural:expr, $singular:expr, $kind:expr, $ty:ty,
     namespaced: $ns:expr, short: $short:expr, categories: $cat:expr, subs: $subs:expr,
     fields: $fields:expr) => {
        ResourceType {
            group: $group,
            version: $version,
            plural: $plural,
            singular: $singular,
            kind: $kind,
            namespaced: $ns,
            short_names: $short,
            categories: $cat,
            subresources: $subs,
            check: check::<$ty>,
            fields: $fields,
        }
    };
}

/// Every kind served, in discovery order.
pub static RESOURCES: &[ResourceType] = &[
    // === core/v1 ===
    kind!("", "v1", "namespaces", "namespace", "Namespace", core::v1::Namespace,
        namespaced: false, short: &["ns"], categories: &[], subs: &[Sub::Status, Sub::Finalize],
        fields: &["status.phase"]),
    kind!("", "v1", "pods", "pod", "Pod", core::v1::Pod,
        namespaced: true, short: &["po"], categories: &["all"],
        subs: &[Sub::Status, Sub::Log, Sub::Binding], fields: POD_FIELDS),
    kind!("", "v1", "bindings", "binding", "Binding", core::v1::Binding,
        namespaced: true, short: &[], categories: &[], subs: &[], fields: &[]),
    kind!("", "v1", "replicationcontrollers", "replicationcontroller", "ReplicationController",
        core::v1::ReplicationController,
        namespaced: true, short: &["rc"], categories: &["all"], subs: &[Sub::Status, Sub::Scale],
        fields: &["status.replicas"]),
    kind!("", "v1", "services", "service", "Service", core::v1::Service,
        namespaced: true, short: &["svc"], categories: &["all"], subs: &[Sub::Status], fields: &[]),
    kind!("", "v1", "endpoints", "endpoints", "Endpoints", core::v1::Endpoints,
        namespaced: true, short: &["ep"], categories: &[], subs: &[], fields: &[]),
    kind!("", "v1", "nodes", "node", "Node", core::v1::Node,
        namespaced: false, short: &["no"], categories: &[], subs: &[Sub::Status],
        fields: &["spec.unschedulable"]),
    kind!("", "v1", "events", "event", "Event", core::v1::Event,
        namespaced: true, short: &["ev"], categories: &[], subs: &[], fields: EVENT_FIELDS),
    kind!("", "v1", "configmaps", "configmap", "ConfigMap", core::v1::ConfigMap,
        namespaced: true, short: &["cm"], categories: &[], subs: &[], fields: &[]),
    kind!("", "v1", "secrets", "secret", "Secret", core::v1::Secret,
        namespaced: true, short: &[], categories: &[], subs: &[], fields: &["type"]),
    kind!("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount",
        core::v1::ServiceAccount,
        namespaced: true, short: &["sa"], categories: &[], subs: &[], fields: &[]),
    kind!("", "v1", "persistentvolumes", "persistentvolume", "PersistentVolume",
        core::v1::PersistentVolume,
        namespaced: false, short: &["pv"], categories: &[], subs: &[Sub::Status], fields: &[]),
    kind!("", "v1", "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim",
        core::v1::PersistentVolumeClaim,
        namespaced: true, short: &["pvc"], categories: &[], subs: &[Sub::Status], fields: &[]),
    kind!("", "v1", "limitranges", "limitrange", "LimitRange", core::v1::LimitRange,
        namespaced: true, short: &["limits"], categories: &[], subs: &[], fields: &[]),
    kind!("", "v1", "resourcequotas", "resourcequota", "ResourceQuota", core::v1::ResourceQuota,
        namespaced: true, short: &["quota"], categories: &[], subs: &[Sub::Status], fields: &[]),
    // === apps/v1 ===
    kind!("apps", "v1", "deployments", "deployment", "Deployment", apps::v1::Deployment,
        namespaced: true, short: &["deploy"], categories: &["all"], subs: &[Sub::Status, Sub::Scale],
        fields: &[]),
    kind!("apps", "v1", "replicasets", "replicaset", "ReplicaSet", apps::v1::ReplicaSet,
        namespaced: true, short: &["rs"], categories: &["all"], subs: &[Sub::Status, Sub::Scale],
        fields: &[]),
    kind!("apps", "v1", "daemonsets", "daemonset", "DaemonSet", apps::v1::DaemonSet,
        namespaced: true, short: &["ds"], categories: &["all"], subs: &[Sub::Status], fields: &[]),
    kind!("apps", "v1", "statefulsets", "statefulset", "StatefulSet", apps::v1::StatefulSet,
        namespaced: true, short: &["sts"], categories: &["all"], subs: &[Sub::Status, Sub::Scale],
        fields: &[]),
    // === batch/v1 ===
    kind!("batch", "v1", "jobs", "job", "Job", batch::v1::Job,
        namespaced: true, short: &[], categories: &["all"], subs: &[Sub::Status],
        fields: &["status.successful"]),
    kind!("batch", "v1", "cronjobs", "cronjob", "CronJob", batch::v1::CronJob,
        namespaced: true, short: &["cj"], categories: &["all"], subs: &[Sub::Status], fields: &[]),
    // === events.k8s.io/v1 ===
    kind!("events.k8s.io", "v1", "events", "event", "Event", events::v1::Event,
        namespaced: true, short: &[], categories: &[], subs: &[], fields: EVENTS_V1_FIELDS),
    // === coordination.k8s.io/v1 ===
    kind!("coordination.k8s.io", "v1", "leases", "lease", "Lease", coordination::v1::Lease,
        namespaced: true, short: &[], categories: &[], subs: &[], fields: &[]),
];

/// The `(group, version)` pairs served, core first, in discovery order.
pub fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for r in RESOURCES {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

/// The kind served at `group/version/plural`.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The kind with `apiVersion` and `kind`.
pub fn find_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.api_version() == api_version && r.kind == kind)
}

/// The index of a kind in [`RESOURCES`], its identity in the object store.
pub fn index(rt: &ResourceType) -> usize {
    RESOURCES
        .iter()
        .position(|r| std::ptr::eq(r, rt))
        .expect("a ResourceType from RESOURCES")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fit_the_store_alphabet() {
        for r in RESOURCES {
            let key = r.key("default", "web-1.x");
            assert!(key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/._:-".contains(c)));
        }
    }

    #[test]
    fn typed_check_reports_the_path() {
        let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "ports": [{"containerPort": "x"}]}]}});
        let err = (find("", "v1", "pods").unwrap().check)(&pod).unwrap_err();
        assert!(
            err.contains("spec.containers[0].ports[0].containerPort"),
            "{err}"
        );
    }
}
