//! Field ownership (`metadata.managedFields`, FieldsV1) and server-side apply.
//!
//! Every write records which manager set which fields: an update moves the fields it
//! changed to its manager (operation `Update`); an apply (`application/apply-patch+yaml`)
//! owns exactly the fields of its configuration (operation `Apply`), removes the fields it
//! applied before and no longer does, and conflicts (409) with fields another manager owns
//! and the configuration changes, unless `force=true`.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use crate::openapi::Schemas;

/// A path in an object, in FieldsV1 segments: `f:spec`, `k:{"name":"c"}`, `v:"x"`, and
/// `.` for "the list item itself".
pub type FieldPath = Vec<String>;
/// A set of owned fields.
pub type FieldSet = BTreeSet<FieldPath>;

/// Metadata fields nobody owns.
const UNOWNED_META: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
];

fn child_schema<'a>(s: &'a Schemas, schema: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    let schema = s.resolve(schema?);
    schema
        .get("properties")
        .and_then(|p| p.get(key))
        .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()))
}

fn list_type(s: &Schemas, schema: Option<&Value>) -> (&'static str, Vec<String>) {
    let Some(schema) = schema else {
        return ("atomic", Vec::new());
    };
    let schema = if schema.get("x-kubernetes-list-type").is_some() {
        schema
    } else {
        s.resolve(schema)
    };
    match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("map") => (
            "map",
            schema
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|k| {
                    k.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        Some("set") => ("set", Vec::new()),
        _ => ("atomic", Vec::new()),
    }
}

fn item_key(item: &Value, keys: &[String]) -> Option<String> {
    let mut m = Map::new();
    for k in keys {
        if let Some(v) = item.get(k) {
            m.insert(k.clone(), v.clone());
        }
    }
    if m.is_empty() {
        None
    } else {
        Some(format!("k:{}", Value::Object(m)))
    }
}

/// The fields a value sets, with the object schema `schema`.
pub fn fields_of(s: &Schemas, schema: Option<&Value>, value: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    let Some(root) = value.as_object() else {
        return out;
    };
    for (k, v) in root {
        if matches!(k.as_str(), "apiVersion" | "kind" | "status") {
            continue;
        }
        let mut path = vec![format!("f:{k}")];
        if k == "metadata" {
            let Some(meta) = v.as_object() else { continue };
            for (mk, mv) in meta {
                if UNOWNED_META.contains(&mk.as_str()) {
                    continue;
                }
                path.push(format!("f:{mk}"));
                let ms = child_schema(s, child_schema(s, schema, "metadata"), mk);
                walk(s, ms, mv, &mut path, &mut out);
                path.pop();
            }
            continue;
        }
        walk(s, child_schema(s, schema, k), v, &mut path, &mut out);
    }
    out
}

fn walk(
    s: &Schemas,
    schema: Option<&Value>,
    value: &Value,
    path: &mut FieldPath,
    out: &mut FieldSet,
) {
    match value {
        Value::Object(m) if !m.is_empty() => {
            if schema.is_some_and(|sc| s.resolve(sc).get("x-kubernetes-int-or-string").is_some()) {
                out.insert(path.clone());
                return;
            }
            for (k, v) in m {
                path.push(format!("f:{k}"));
                walk(s, child_schema(s, schema, k), v, path, out);
                path.pop();
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let (ty, keys) = list_type(s, schema);
            let item_schema =
                schema.and_then(|sc| sc.get("items").or_else(|| s.resolve(sc).get("items")));
            match ty {
                "map" => {
                    for item in items {
                        let Some(id) = item_key(item, &keys) else {
                            out.insert(path.clone());
                            return;
                        };
                        path.push(id);
                        path.push(".".into());
                        out.insert(path.clone());
                        path.pop();
                        walk(s, item_schema, item, path, out);
                        path.pop();
                    }
                }
                "set" => {
                    for item in items {
                        path.push(format!("v:{item}"));
                        out.insert(path.clone());
                        path.pop();
                    }
                }
                _ => {
                    out.insert(path.clone());
                }
            }
        }
        _ => {
            out.insert(path.clone());
        }
    }
}

/// The value at a field path (`.` paths: the list item).
pub fn value_at<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = value;
    for seg in path {
        if seg == "." {
            continue;
        }
        cur = if let Some(k) = seg.strip_prefix("f:") {
            cur.get(k)?
        } else if let Some(id) = seg.strip_prefix("k:") {
            let keys: Map<String, Value> = serde_json::from_str(id).ok()?;
            cur.as_array()?
                .iter()
                .find(|item| keys.iter().all(|(k, v)| item.get(k) == Some(v)))?
        } else if let Some(v) = seg.strip_prefix("v:") {
            let want: Value = serde_json::from_str(v).ok()?;
            cur.as_array()?.iter().find(|x| **x == want)?
        } else {
            return None;
        };
    }
    Some(cur)
}

fn remove_at(value: &mut Value, path: &[String]) {
    let path: Vec<&String> = path.iter().filter(|s| s.as_str() != ".").collect();
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = value;
    for seg in parents {
        let next = if let Some(k) = seg.strip_prefix("f:") {
            cur.get_mut(k)
        } else if let Some(id) = seg.strip_prefix("k:") {
            let Ok(keys) = serde_json::from_str::<Map<String, Value>>(id) else {
                return;
            };
            cur.as_array_mut().and_then(|a| {
                a.iter_mut()
                    .find(|item| keys.iter().all(|(k, v)| item.get(k) == Some(v)))
            })
        } else {
            None
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    if let Some(k) = last.strip_prefix("f:") {
        if let Some(m) = cur.as_object_mut() {
            m.remove(k);
        }
    } else if let Some(id) = last.strip_prefix("k:") {
        if let (Ok(keys), Some(a)) = (
            serde_json::from_str::<Map<String, Value>>(id),
            cur.as_array_mut(),
        ) {
            a.retain(|item| !keys.iter().all(|(k, v)| item.get(k) == Some(v)));
        }
    } else if let Some(v) = last.strip_prefix("v:") {
        if let (Ok(want), Some(a)) = (serde_json::from_str::<Value>(v), cur.as_array_mut()) {
            a.retain(|x| *x != want);
        }
    }
}

/// FieldsV1 JSON for a set.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut cur = &mut root;
        for seg in path {
            cur = cur
                .entry(seg.clone())
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("only objects are inserted");
        }
    }
    Value::Object(root)
}

/// The set a FieldsV1 JSON describes.
pub fn from_fields_v1(v: &Value) -> FieldSet {
    fn go(v: &Value, path: &mut FieldPath, out: &mut FieldSet) {
        match v.as_object() {
            Some(m) if !m.is_empty() => {
                for (k, child) in m {
                    path.push(k.clone());
                    go(child, path, out);
                    path.pop();
                }
            }
            _ => {
                if !path.is_empty() {
                    out.insert(path.clone());
                }
            }
        }
    }
    let mut out = FieldSet::new();
    go(v, &mut Vec::new(), &mut out);
    out
}

/// One `managedFields` entry.
#[derive(Clone, Debug)]
pub struct Manager {
    /// The field manager's name.
    pub name: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// The apiVersion it wrote with.
    pub api_version: String,
    /// The subresource written through ("" for the main resource).
    pub subresource: String,
    /// When it last wrote.
    pub time: String,
    /// What it owns.
    pub fields: FieldSet,
}

/// The managers recorded on an object.
pub fn managers(object: &Value) -> Vec<Manager> {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| Manager {
            name: e
                .get("manager")
                .and_then(Value::as_str)
                .unwrap_or("")
                .into(),
            operation: e
                .get("operation")
                .and_then(Value::as_str)
                .unwrap_or("Update")
                .into(),
            api_version: e
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or("")
                .into(),
            subresource: e
                .get("subresource")
                .and_then(Value::as_str)
                .unwrap_or("")
                .into(),
            time: e.get("time").and_then(Value::as_str).unwrap_or("").into(),
            fields: from_fields_v1(e.get("fieldsV1").unwrap_or(&Value::Null)),
        })
        .collect()
}

/// Writes the managers into `metadata.managedFields`.
pub fn set_managers(object: &mut Value, managers: &[Manager]) {
    let entries: Vec<Value> = managers
        .iter()
        .filter(|m| !m.fields.is_empty())
        .map(|m| {
            let mut e = json!({
                "manager": m.name,
                "operation": m.operation,
                "apiVersion": m.api_version,
                "time": m.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&m.fields),
            });
            if !m.subresource.is_empty() {
                e["subresource"] = json!(m.subresource);
            }
            e
        })
        .collect();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        if entries.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(entries));
        }
    }
}

/// Who writes, and how.
pub struct Writer<'a> {
    /// The field manager.
    pub manager: &'a str,
    /// apiVersion of the write.
    pub api_version: &'a str,
    /// Subresource ("" or `status`, `scale`).
    pub subresource: &'a str,
    /// RFC 3339 time of the write.
    pub now: &'a str,
}

fn upsert<'m>(managers: &'m mut Vec<Manager>, w: &Writer<'_>, operation: &str) -> &'m mut Manager {
    let pos = managers.iter().position(|m| {
        m.name == w.manager && m.operation == operation && m.subresource == w.subresource
    });
    let i = match pos {
        Some(i) => i,
        None => {
            managers.push(Manager {
                name: w.manager.into(),
                operation: operation.into(),
                api_version: w.api_version.into(),
                subresource: w.subresource.into(),
                time: String::new(),
                fields: FieldSet::new(),
            });
            managers.len() - 1
        }
    };
    let m = &mut managers[i];
    m.time = w.now.into();
    m.api_version = w.api_version.into();
    m
}

/// Records an update (create, PUT, non-apply PATCH) from `old` to `new`: the changed
/// fields move to the writer; removed fields are owned by nobody.
pub fn record_update(
    s: &Schemas,
    schema: Option<&Value>,
    old: Option<&Value>,
    new: &mut Value,
    w: &Writer<'_>,
) {
    let mut list = old.map(managers).unwrap_or_default();
    let new_fields = fields_of(s, schema, new);
    let old_fields = old.map(|o| fields_of(s, schema, o)).unwrap_or_default();
    let changed: FieldSet = new_fields
        .iter()
        .filter(|p| old.and_then(|o| value_at(o, p)) != value_at(new, p))
        .cloned()
        .collect();
    let removed: FieldSet = old_fields.difference(&new_fields).cloned().collect();
    if changed.is_empty() && removed.is_empty() && old.is_some() {
        set_managers(new, &list);
        return;
    }
    for m in list.iter_mut() {
        m.fields
            .retain(|p| !changed.contains(p) && !removed.contains(p));
    }
    if !changed.is_empty() {
        upsert(&mut list, w, "Update").fields.extend(changed);
    }
    list.retain(|m| !m.fields.is_empty());
    set_managers(new, &list);
}

/// A field another manager owns with a different value.
#[derive(Debug, Clone)]
pub struct Conflict {
    /// The other manager.
    pub manager: String,
    /// The field, as `.spec.replicas`.
    pub field: String,
}

fn display_path(path: &[String]) -> String {
    let mut out = String::new();
    for seg in path {
        if seg == "." {
            continue;
        }
        if let Some(f) = seg.strip_prefix("f:") {
            out.push('.');
            out.push_str(f);
        } else if let Some(k) = seg.strip_prefix("k:") {
            out.push('[');
            out.push_str(k);
            out.push(']');
        } else if let Some(v) = seg.strip_prefix("v:") {
            out.push_str(&format!("[{v}]"));
        }
    }
    out
}

/// Server-side apply of `config` onto `live` (an empty object when creating): the merged
/// object (with managedFields), or the conflicts.
pub fn apply(
    s: &Schemas,
    schema: Option<&Value>,
    live: &Value,
    config: &Value,
    w: &Writer<'_>,
    force: bool,
) -> Result<Value, Vec<Conflict>> {
    let mut list = managers(live);
    let applied = fields_of(s, schema, config);
    let mut conflicts = Vec::new();
    for p in &applied {
        if p.last().map(String::as_str) == Some(".") {
            continue;
        }
        let current = value_at(live, p);
        if current.is_none() || current == value_at(config, p) {
            continue;
        }
        for m in &list {
            let mine = m.name == w.manager && m.operation == "Apply";
            if !mine && m.subresource == w.subresource && m.fields.contains(p) {
                conflicts.push(Conflict {
                    manager: m.name.clone(),
                    field: display_path(p),
                });
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflicts);
    }
    let previous: FieldSet = list
        .iter()
        .find(|m| m.name == w.manager && m.operation == "Apply" && m.subresource == w.subresource)
        .map(|m| m.fields.clone())
        .unwrap_or_default();
    for m in list.iter_mut() {
        let mine = m.name == w.manager && m.operation == "Apply";
        if !mine && force {
            m.fields.retain(|p| !applied.contains(p));
        }
    }
    let mut merged = live.clone();
    // Fields this manager applied before and no longer does go, unless someone else owns them.
    let mut dropped: Vec<&FieldPath> = previous.difference(&applied).collect();
    dropped.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in dropped {
        let owned_elsewhere = list
            .iter()
            .any(|m| !(m.name == w.manager && m.operation == "Apply") && m.fields.contains(p));
        if !owned_elsewhere {
            remove_at(&mut merged, p);
        }
    }
    merge(s, schema, &mut merged, config);
    // The manager's Update fields that it now applies move to its Apply entry.
    for m in list.iter_mut() {
        m.fields
            .retain(|p| !applied.contains(p) || (m.name == w.manager && m.operation == "Apply"));
    }
    upsert(&mut list, w, "Apply").fields = applied;
    list.retain(|m| !m.fields.is_empty());
    set_managers(&mut merged, &list);
    Ok(merged)
}

/// Merges an applied configuration into an object: maps by key, list-maps by their keys,
/// sets by value; atomic lists and scalars are replaced.
fn merge(s: &Schemas, schema: Option<&Value>, target: &mut Value, config: &Value) {
    match (target.as_object_mut(), config.as_object()) {
        (Some(t), Some(c)) => {
            for (k, v) in c {
                if v.is_null() {
                    t.remove(k);
                    continue;
                }
                let cs = child_schema(s, schema, k);
                match (t.get_mut(k), v) {
                    (Some(existing), Value::Object(_)) if existing.is_object() => {
                        merge(s, cs, existing, v)
                    }
                    (Some(existing), Value::Array(items)) if existing.is_array() => {
                        merge_list(s, cs, existing, items)
                    }
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        _ => *target = config.clone(),
    }
}

fn merge_list(s: &Schemas, schema: Option<&Value>, target: &mut Value, items: &[Value]) {
    let (ty, keys) = list_type(s, schema);
    let item_schema = schema.and_then(|sc| sc.get("items").or_else(|| s.resolve(sc).get("items")));
    let Some(list) = target.as_array_mut() else {
        return;
    };
    match ty {
        "map" if !keys.is_empty() => {
            for item in items {
                let id = item_key(item, &keys);
                let pos = list
                    .iter()
                    .position(|x| id.is_some() && item_key(x, &keys) == id);
                match pos {
                    Some(i) => merge(s, item_schema, &mut list[i], item),
                    None => list.push(item.clone()),
                }
            }
        }
        "set" => {
            for item in items {
                if !list.contains(item) {
                    list.push(item.clone());
                }
            }
        }
        _ => *list = items.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openapi::schemas;

    fn deploy() -> Option<&'static Value> {
        schemas().def("io.k8s.api.apps.v1.Deployment")
    }

    fn writer(manager: &str) -> Writer<'_> {
        Writer {
            manager,
            api_version: "apps/v1",
            subresource: "",
            now: "2025-01-01T00:00:00Z",
        }
    }

    #[test]
    fn fields_v1_round_trip() {
        let d = json!({"metadata": {"name": "d", "labels": {"a": "b"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        let set = fields_of(schemas(), deploy(), &d);
        let v1 = to_fields_v1(&set);
        assert_eq!(
            v1["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"c\"}"]["f:image"],
            json!({})
        );
        assert_eq!(from_fields_v1(&v1), set);
    }

    #[test]
    fn apply_conflicts_with_another_manager_and_force_wins() {
        let mut live = json!({"metadata": {"name": "d"}, "spec": {"replicas": 1}});
        let created = live.clone();
        record_update(
            schemas(),
            deploy(),
            None,
            &mut live,
            &writer("kubectl-create"),
        );
        let _ = created;
        let config = json!({"metadata": {"name": "d"}, "spec": {"replicas": 3}});
        let err = apply(
            schemas(),
            deploy(),
            &live,
            &config,
            &writer("kubectl"),
            false,
        )
        .unwrap_err();
        assert_eq!(err[0].manager, "kubectl-create");
        assert_eq!(err[0].field, ".spec.replicas");
        let merged = apply(
            schemas(),
            deploy(),
            &live,
            &config,
            &writer("kubectl"),
            true,
        )
        .unwrap();
        assert_eq!(merged["spec"]["replicas"], 3);
    }

    #[test]
    fn apply_removes_fields_it_no_longer_applies() {
        let live = json!({"metadata": {"name": "d"}});
        let v1 = json!({"metadata": {"name": "d", "labels": {"a": "1", "b": "2"}}});
        let once = apply(schemas(), deploy(), &live, &v1, &writer("kubectl"), false).unwrap();
        let v2 = json!({"metadata": {"name": "d", "labels": {"a": "1"}}});
        let twice = apply(schemas(), deploy(), &once, &v2, &writer("kubectl"), false).unwrap();
        assert_eq!(twice["metadata"]["labels"], json!({"a": "1"}));
    }
}
