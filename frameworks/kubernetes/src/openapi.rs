//! The OpenAPI v3 documents (`/openapi/v3` and one per group-version) and the schema
//! lookups the server itself makes: unknown-field detection (`fieldValidation`) and the
//! list strategies of strategic-merge patches.
//!
//! The schemas are the Kubernetes definitions as k8s-openapi compiles them, extracted by
//! `gen/openapi.py` into `src/openapi/schemas.json` (regenerate it when the k8s-openapi
//! version changes).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use crate::resources::{ResourceType, RESOURCES};

const SCHEMAS_JSON: &str = include_str!("openapi/schemas.json");
const REF_PREFIX: &str = "#/components/schemas/";

/// The Kubernetes definitions, by name (`io.k8s.api.core.v1.Pod`).
pub struct Schemas {
    defs: Map<String, Value>,
    hash: String,
}

/// The definitions (parsed once).
pub fn schemas() -> &'static Schemas {
    static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let mut root: Value =
            serde_json::from_str(SCHEMAS_JSON).expect("src/openapi/schemas.json is valid JSON");
        let defs = match root.get_mut("definitions").map(Value::take) {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        // FNV-1a: a stable content hash for the documents' `?hash=` cache key.
        let mut h: u64 = 0xcbf29ce484222325;
        for b in SCHEMAS_JSON.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
        Schemas {
            defs,
            hash: format!("{h:016X}"),
        }
    })
}

impl Schemas {
    /// One definition.
    pub fn def(&self, name: &str) -> Option<&Value> {
        self.defs.get(name)
    }

    /// Follows a `$ref` (or `allOf: [{$ref}]`) to the definition it names.
    pub fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        let target = schema
            .get("$ref")
            .or_else(|| schema.pointer("/allOf/0/$ref"))
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix(REF_PREFIX));
        match target.and_then(|t| self.defs.get(t)) {
            Some(def) => def,
            None => schema,
        }
    }

    /// The definition of a kind, by its `x-kubernetes-group-version-kind`.
    pub fn kind(&self, group: &str, version: &str, kind: &str) -> Option<(&str, &Value)> {
        self.defs.iter().find_map(|(name, def)| {
            let gvks = def.get("x-kubernetes-group-version-kind")?.as_array()?;
            gvks.iter()
                .any(|g| g["group"] == group && g["version"] == version && g["kind"] == kind)
                .then_some((name.as_str(), def))
        })
    }

    /// The schema of a resource type.
    pub fn of(&self, rt: &ResourceType) -> Option<&Value> {
        self.kind(rt.group, rt.version, rt.kind).map(|(_, d)| d)
    }

    /// The (unresolved) schema of property `field` of an object schema.
    pub fn property<'a>(&'a self, schema: &'a Value, field: &str) -> Option<&'a Value> {
        self.resolve(schema).get("properties")?.get(field)
    }

    /// The names of every definition reachable from `roots`.
    fn reachable(&self, roots: impl IntoIterator<Item = String>) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<String> = roots.into_iter().collect();
        while let Some(name) = todo.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            if let Some(def) = self.defs.get(&name) {
                collect_refs(def, &mut todo);
            }
        }
        seen
    }
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                if let Some(name) = r.strip_prefix(REF_PREFIX) {
                    out.push(name.to_string());
                }
            }
            for v in m.values() {
                collect_refs(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// The fields of `value` that the schema does not know, as paths
/// (`spec.containers[0].imagePullPolice`).
pub fn unknown_fields(schema: &Value, value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk_unknown(schemas(), schema, value, String::new(), &mut out);
    out
}

fn walk_unknown(s: &Schemas, schema: &Value, value: &Value, path: String, out: &mut Vec<String>) {
    let schema = s.resolve(schema);
    if schema.get("x-kubernetes-int-or-string").is_some() {
        return;
    }
    match value {
        Value::Object(map) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, v) in map {
                    let at = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    match props.get(k) {
                        Some(p) => walk_unknown(s, p, v, at, out),
                        None => out.push(at),
                    }
                }
            } else if let Some(extra) = schema.get("additionalProperties") {
                if extra.is_object() {
                    for (k, v) in map {
                        walk_unknown(s, extra, v, format!("{path}[{k}]"), out);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    walk_unknown(s, item, v, format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// `/openapi/v3`: where each group-version's document is.
pub fn index() -> Value {
    let hash = &schemas().hash;
    let mut paths = Map::new();
    for (group, version) in crate::resources::group_versions() {
        let p = doc_path(group, version);
        paths.insert(
            p.clone(),
            json!({ "serverRelativeURL": format!("/openapi/v3/{p}?hash={hash}") }),
        );
    }
    json!({ "paths": paths })
}

fn doc_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The document of one group-version (`api/v1`, `apis/apps/v1`), or None.
pub fn document(path: &str) -> Option<&'static Value> {
    static DOCS: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    DOCS.get_or_init(|| {
        crate::resources::group_versions()
            .into_iter()
            .map(|(g, v)| (doc_path(g, v), build_document(g, v)))
            .collect()
    })
    .get(path.trim_matches('/'))
}

fn parameter(name: &str) -> Value {
    json!({
        "name": name,
        "in": "query",
        "description": format!("{name} (see the Kubernetes API conventions)"),
        "schema": { "type": "string", "uniqueItems": true },
    })
}

fn build_document(group: &str, version: &str) -> Value {
    let s = schemas();
    let kinds: Vec<&ResourceType> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    let mut roots: Vec<String> = kinds
        .iter()
        .filter_map(|r| {
            s.kind(r.group, r.version, r.kind)
                .map(|(n, _)| n.to_string())
        })
        .collect();
    for extra in [
        "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
        "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
        "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent",
        "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta",
    ] {
        roots.push(extra.to_string());
    }
    if kinds.iter().any(|r| r.has(crate::resources::Sub::Scale)) {
        roots.push("io.k8s.api.autoscaling.v1.Scale".into());
    }
    let mut components = Map::new();
    for name in s.reachable(roots) {
        if let Some(def) = s.def(&name) {
            components.insert(name, def.clone());
        }
    }
    let mut paths = Map::new();
    for r in kinds {
        let Some((def, _)) = s.kind(r.group, r.version, r.kind) else {
            continue;
        };
        let gvk = json!({ "group": r.group, "version": r.version, "kind": r.kind });
        let base = format!("/{}", doc_path(group, version));
        let (collection, item) = if r.namespaced {
            (
                format!("{base}/namespaces/{{namespace}}/{}", r.plural),
                format!("{base}/namespaces/{{namespace}}/{}/{{name}}", r.plural),
            )
        } else {
            (
                format!("{base}/{}", r.plural),
                format!("{base}/{}/{{name}}", r.plural),
            )
        };
        let body = json!({
            "content": { "application/json": { "schema": { "$ref": format!("{REF_PREFIX}{def}") } } },
            "required": true,
        });
        let ok = json!({ "200": { "description": "OK", "content": { "application/json": {
            "schema": { "$ref": format!("{REF_PREFIX}{def}") } } } } });
        let op = |action: &str, params: &[&str], with_body: bool| {
            let mut o = json!({
                "description": format!("{action} {}", r.kind),
                "operationId": format!("{action}{}", r.kind),
                "parameters": params.iter().map(|p| parameter(p)).collect::<Vec<_>>(),
                "responses": ok,
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
            });
            if with_body {
                o["requestBody"] = body.clone();
            }
            o
        };
        let write = ["dryRun", "fieldManager", "fieldValidation"];
        paths.insert(
            collection,
            json!({
                "get": op("list", &["labelSelector", "fieldSelector", "limit", "continue", "watch", "resourceVersion", "timeoutSeconds"], false),
                "post": op("post", &write, true),
            }),
        );
        let mut patch = op(
            "patch",
            &["dryRun", "fieldManager", "fieldValidation", "force"],
            true,
        );
        patch["requestBody"] = json!({ "content": {
            "application/apply-patch+yaml": { "schema": { "type": "object" } },
            "application/json-patch+json": { "schema": { "type": "object" } },
            "application/merge-patch+json": { "schema": { "type": "object" } },
            "application/strategic-merge-patch+json": { "schema": { "type": "object" } },
        }, "required": true });
        paths.insert(
            item,
            json!({
                "get": op("get", &[], false),
                "put": op("put", &write, true),
                "patch": patch,
                "delete": op("delete", &["dryRun", "gracePeriodSeconds", "propagationPolicy"], false),
            }),
        );
    }
    json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes", "version": "v1.32.0" },
        "paths": paths,
        "components": { "schemas": components },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_schema() {
        for r in RESOURCES {
            assert!(schemas().of(r).is_some(), "no schema for {}", r.kind);
        }
    }

    #[test]
    fn unknown_fields_are_found_with_their_path() {
        let s = schemas()
            .of(crate::resources::find("", "v1", "pods").unwrap())
            .unwrap();
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "i", "imagePullPolice": "x",
                "resources": {"limits": {"cpu": "1"}}}], "bogus": 1}});
        let mut found = unknown_fields(s, &pod);
        found.sort();
        assert_eq!(
            found,
            vec!["spec.bogus", "spec.containers[0].imagePullPolice"]
        );
    }

    #[test]
    fn documents_declare_field_validation_for_each_kind() {
        let doc = document("api/v1").unwrap();
        let item = &doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
        assert_eq!(item["x-kubernetes-group-version-kind"]["kind"], "Pod");
        assert!(item["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation"));
        assert!(doc["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"].is_object());
        assert!(document("apis/apps/v1").is_some());
    }
}
