//! Discovery: `/version`, `/api`, `/apis` (legacy and aggregated `apidiscovery.k8s.io/v2`
//! and `v2beta1`, chosen by the `Accept` header), `/api/v1` and `/apis/{group}/{version}`.

use serde_json::{json, Value};

use crate::resources::{group_versions, ResourceType, Sub, RESOURCES};

/// The Kubernetes version reported. kubectl's dispatcher runs the kubectl matching
/// `minor`, so this must be the kubectl studied (1.32).
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// The aggregated discovery versions a client accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregated {
    /// `apidiscovery.k8s.io/v2`.
    V2,
    /// `apidiscovery.k8s.io/v2beta1`.
    V2Beta1,
}

impl Aggregated {
    /// The aggregated format the `Accept` header asks for first, if any.
    pub fn from_accept(accept: &str) -> Option<Aggregated> {
        for part in accept.split(',') {
            let params: Vec<&str> = part.split(';').map(str::trim).collect();
            if !params.contains(&"as=APIGroupDiscoveryList")
                || !params.contains(&"g=apidiscovery.k8s.io")
            {
                continue;
            }
            if params.contains(&"v=v2") {
                return Some(Aggregated::V2);
            }
            if params.contains(&"v=v2beta1") {
                return Some(Aggregated::V2Beta1);
            }
        }
        None
    }

    fn version(self) -> &'static str {
        match self {
            Aggregated::V2 => "v2",
            Aggregated::V2Beta1 => "v2beta1",
        }
    }

    /// The response Content-Type that tells kubectl the body is aggregated.
    pub fn content_type(self) -> String {
        format!(
            "application/json;g=apidiscovery.k8s.io;v={};as=APIGroupDiscoveryList",
            self.version()
        )
    }
}

fn sub_verbs(sub: Sub) -> &'static [&'static str] {
    match sub {
        Sub::Status | Sub::Scale => &["get", "patch", "update"],
        Sub::Log => &["get"],
        Sub::Binding => &["create"],
        Sub::Finalize => &["update"],
    }
}

fn sub_kind(rt: &ResourceType, sub: Sub) -> (&'static str, &'static str, &'static str) {
    match sub {
        Sub::Scale => ("autoscaling", "v1", "Scale"),
        Sub::Binding => ("", "v1", "Binding"),
        _ => (rt.group, rt.version, rt.kind),
    }
}

fn aggregated_resource(rt: &ResourceType) -> Value {
    let subresources: Vec<Value> = rt
        .subresources
        .iter()
        .map(|&sub| {
            let (g, v, k) = sub_kind(rt, sub);
            json!({
                "subresource": sub.name(),
                "responseKind": { "group": g, "version": v, "kind": k },
                "verbs": sub_verbs(sub),
            })
        })
        .collect();
    let mut r = json!({
        "resource": rt.plural,
        "responseKind": { "group": rt.group, "version": rt.version, "kind": rt.kind },
        "scope": if rt.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": rt.singular,
        "verbs": rt.verbs(),
    });
    if !rt.short_names.is_empty() {
        r["shortNames"] = json!(rt.short_names);
    }
    if !rt.categories.is_empty() {
        r["categories"] = json!(rt.categories);
    }
    if !subresources.is_empty() {
        r["subresources"] = json!(subresources);
    }
    r
}

/// The aggregated document for `/api` (`legacy`) or `/apis`.
pub fn aggregated(format: Aggregated, legacy: bool) -> Value {
    let items: Vec<Value> = group_versions()
        .into_iter()
        .filter(|(g, _)| g.is_empty() == legacy)
        .map(|(group, version)| {
            let resources: Vec<Value> = RESOURCES
                .iter()
                .filter(|r| r.group == group && r.version == version)
                .map(aggregated_resource)
                .collect();
            let mut metadata = json!({ "creationTimestamp": null });
            if !group.is_empty() {
                metadata["name"] = json!(group);
            }
            json!({
                "metadata": metadata,
                "versions": [{ "version": version, "resources": resources, "freshness": "Current" }],
            })
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{}", format.version()),
        "metadata": {},
        "items": items,
    })
}

/// `/api` (legacy).
pub fn api_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{ "clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:8888" }],
    })
}

fn group(group: &str) -> Value {
    let versions: Vec<Value> = group_versions()
        .into_iter()
        .filter(|(g, _)| *g == group)
        .map(|(g, v)| json!({ "groupVersion": format!("{g}/{v}"), "version": v }))
        .collect();
    let preferred = versions.first().cloned().unwrap_or(Value::Null);
    json!({ "name": group, "versions": versions, "preferredVersion": preferred })
}

/// `/apis` (legacy).
pub fn api_groups() -> Value {
    let mut names: Vec<&str> = Vec::new();
    for (g, _) in group_versions() {
        if !g.is_empty() && !names.contains(&g) {
            names.push(g);
        }
    }
    json!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": names.into_iter().map(group).collect::<Vec<_>>(),
    })
}

/// `/apis/{group}`, if served.
pub fn api_group(name: &str) -> Option<Value> {
    group_versions().iter().any(|(g, _)| *g == name).then(|| {
        let mut g = group(name);
        g["kind"] = json!("APIGroup");
        g["apiVersion"] = json!("v1");
        g
    })
}

/// `/api/v1` or `/apis/{group}/{version}`, if served.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let kinds: Vec<&ResourceType> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if kinds.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for rt in kinds {
        let mut r = json!({
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": rt.verbs(),
        });
        if !rt.short_names.is_empty() {
            r["shortNames"] = json!(rt.short_names);
        }
        if !rt.categories.is_empty() {
            r["categories"] = json!(rt.categories);
        }
        resources.push(r);
        for &sub in rt.subresources {
            let (g, v, k) = sub_kind(rt, sub);
            let mut s = json!({
                "name": format!("{}/{}", rt.plural, sub.name()),
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": k,
                "verbs": sub_verbs(sub),
            });
            if g != rt.group || v != rt.version {
                s["group"] = json!(g);
                s["version"] = json!(v);
            }
            resources.push(s);
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_picks_the_aggregated_version() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(Aggregated::from_accept(kubectl), Some(Aggregated::V2));
        assert_eq!(Aggregated::from_accept("application/json"), None);
    }

    #[test]
    fn scale_names_its_group() {
        let list = resource_list("", "v1").unwrap();
        let scale = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "replicationcontrollers/scale")
            .unwrap();
        assert_eq!(scale["group"], "autoscaling");
        assert_eq!(scale["version"], "v1");
        let pods = &aggregated(Aggregated::V2, true)["items"][0]["versions"][0]["resources"];
        assert!(pods
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["resource"] == "pods" && r["shortNames"] == json!(["po"])));
    }
}
