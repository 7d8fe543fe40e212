//! PATCH bodies: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge
//! patch (lists merged by the key the Kubernetes schema names, `$patch`,
//! `$setElementOrder`, `$retainKeys`, `$deleteFromPrimitiveList`).

use serde_json::{Map, Value};

use crate::openapi::Schemas;

// === JSON merge patch ===

/// Applies an RFC 7386 merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let t = target.as_object_mut().expect("made an object");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

// === JSON patch ===

fn tokens(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| format!("invalid JSON pointer {pointer:?}: must start with '/'"))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn parent<'a>(doc: &'a mut Value, path: &[String], pointer: &str) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for t in path {
        cur = match cur {
            Value::Object(m) => m.get_mut(t),
            Value::Array(a) => t.parse::<usize>().ok().and_then(move |i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| format!("doc is missing path: {pointer:?}"))?;
    }
    Ok(cur)
}

fn json_get(doc: &Value, pointer: &str) -> Result<Value, String> {
    doc.pointer(pointer)
        .cloned()
        .ok_or_else(|| format!("doc is missing path: {pointer:?}"))
}

fn json_remove(doc: &mut Value, pointer: &str) -> Result<Value, String> {
    let toks = tokens(pointer)?;
    let (last, path) = toks
        .split_last()
        .ok_or_else(|| "cannot remove the whole document".to_string())?;
    match parent(doc, path, pointer)? {
        Value::Object(m) => m
            .remove(last)
            .ok_or_else(|| format!("doc is missing key: {pointer:?}")),
        Value::Array(a) => {
            let i: usize = last
                .parse()
                .map_err(|_| format!("invalid array index in {pointer:?}"))?;
            if i >= a.len() {
                return Err(format!("array index out of bounds in {pointer:?}"));
            }
            Ok(a.remove(i))
        }
        _ => Err(format!("doc is missing path: {pointer:?}")),
    }
}

fn json_add(doc: &mut Value, pointer: &str, value: Value) -> Result<(), String> {
    let toks = tokens(pointer)?;
    let Some((last, path)) = toks.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent(doc, path, pointer)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
                return Ok(());
            }
            let i: usize = last
                .parse()
                .map_err(|_| format!("invalid array index in {pointer:?}"))?;
            if i > a.len() {
                return Err(format!("array index out of bounds in {pointer:?}"));
            }
            a.insert(i, value);
            Ok(())
        }
        _ => Err(format!("doc is missing path: {pointer:?}")),
    }
}

/// Applies an RFC 6902 JSON patch (a list of operations).
pub fn json_patch(doc: &mut Value, patch: &Value) -> Result<(), String> {
    let ops = patch
        .as_array()
        .ok_or_else(|| "a JSON patch must be a list of operations".to_string())?;
    for (i, op) in ops.iter().enumerate() {
        let name = op.get("op").and_then(Value::as_str).unwrap_or("");
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("operation {i}: missing \"path\""))?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| format!("operation {i} ({name}): missing \"value\""))
        };
        let from = || {
            op.get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("operation {i} ({name}): missing \"from\""))
        };
        match name {
            "add" => json_add(doc, path, value()?)?,
            "remove" => {
                json_remove(doc, path)?;
            }
            "replace" => {
                json_get(doc, path)?;
                if path.is_empty() {
                    *doc = value()?;
                } else {
                    json_remove(doc, path)?;
                    json_add(doc, path, value()?)?;
                }
            }
            "move" => {
                let v = json_remove(doc, from()?)?;
                json_add(doc, path, v)?;
            }
            "copy" => {
                let v = json_get(doc, from()?)?;
                json_add(doc, path, v)?;
            }
            "test" => {
                if json_get(doc, path)? != value()? {
                    return Err(format!("testing value {path:?} failed"));
                }
            }
            other => return Err(format!("unexpected operation {other:?} (operation {i})")),
        }
    }
    Ok(())
}

// === Strategic merge patch ===

/// How a list field merges.
enum ListStrategy<'a> {
    /// Replaced whole.
    Replace,
    /// Objects merged by a key field.
    MergeByKey(&'a str),
    /// Primitive values merged as a set.
    MergePrimitives,
}

fn list_strategy<'a>(schemas: &'a Schemas, field_schema: Option<&'a Value>) -> ListStrategy<'a> {
    let Some(fs) = field_schema else {
        return ListStrategy::Replace;
    };
    let strategy = fs
        .get("x-kubernetes-patch-strategy")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !strategy.split(',').any(|s| s == "merge") {
        return ListStrategy::Replace;
    }
    match fs
        .get("x-kubernetes-patch-merge-key")
        .and_then(Value::as_str)
    {
        Some(key) => ListStrategy::MergeByKey(key),
        None => {
            let _ = schemas;
            ListStrategy::MergePrimitives
        }
    }
}

fn is_directive(k: &str) -> bool {
    k.starts_with('$')
}

/// A patch value as a plain value: directives removed, nulls dropped from maps.
fn strip(value: &Value) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, v)| !is_directive(k) && !v.is_null())
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|v| v.get("$patch").is_none())
                .map(strip)
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Applies a strategic merge patch to `target`, whose schema is `schema`.
pub fn strategic_merge(
    schemas: &Schemas,
    target: &mut Value,
    patch: &Value,
    schema: Option<&Value>,
) -> Result<(), String> {
    let Value::Object(p) = patch else {
        return Err("a strategic merge patch must be a JSON object".into());
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let schema = schema.map(|s| schemas.resolve(s));
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            *target = strip(patch);
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Object(Map::new());
            return Ok(());
        }
        Some("merge") | None => {}
        Some(other) => return Err(format!("unknown patch type {other:?}")),
    }
    let t = target.as_object_mut().expect("made an object");
    if let Some(retain) = p.get("$retainKeys").and_then(Value::as_array) {
        let keep: Vec<&str> = retain.iter().filter_map(Value::as_str).collect();
        t.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (k, v) in p {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(remove)) = (t.get_mut(field), v.as_array()) {
                list.retain(|x| !remove.contains(x));
            }
            continue;
        }
        if is_directive(k) {
            continue;
        }
        let field_schema = schema.and_then(|s| {
            s.get("properties")
                .and_then(|props| props.get(k))
                .or_else(|| s.get("additionalProperties").filter(|a| a.is_object()))
        });
        match v {
            Value::Null => {
                t.remove(k);
            }
            Value::Object(_) => {
                let slot = t.entry(k.clone()).or_insert(Value::Object(Map::new()));
                if v.get("$patch").and_then(Value::as_str) == Some("delete") {
                    t.remove(k);
                } else {
                    strategic_merge(schemas, slot, v, field_schema)?;
                }
            }
            Value::Array(items) => {
                let merged = merge_list(schemas, t.get(k), items, field_schema)?;
                t.insert(k.clone(), merged);
            }
            scalar => {
                t.insert(k.clone(), scalar.clone());
            }
        }
    }
    // Ordering directives last, once the lists hold their final elements.
    for (k, v) in p {
        if let Some(field) = k.strip_prefix("$setElementOrder/") {
            let field_schema = schema.and_then(|s| s.get("properties").and_then(|p| p.get(field)));
            let key = match list_strategy(schemas, field_schema) {
                ListStrategy::MergeByKey(key) => Some(key),
                _ => None,
            };
            if let (Some(Value::Array(list)), Some(order)) = (t.get_mut(field), v.as_array()) {
                let position = |item: &Value| {
                    order.iter().position(|o| match key {
                        Some(key) => o.get(key).is_some() && o.get(key) == item.get(key),
                        None => o == item,
                    })
                };
                let mut indexed: Vec<(usize, usize, Value)> = list
                    .drain(..)
                    .enumerate()
                    .map(|(i, item)| (position(&item).unwrap_or(usize::MAX), i, item))
                    .collect();
                indexed.sort_by_key(|(p, i, _)| (*p, *i));
                list.extend(indexed.into_iter().map(|(_, _, item)| item));
            }
        }
    }
    Ok(())
}

fn merge_list(
    schemas: &Schemas,
    current: Option<&Value>,
    patch: &[Value],
    field_schema: Option<&Value>,
) -> Result<Value, String> {
    let current: Vec<Value> = current
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let item_schema = field_schema.and_then(|f| f.get("items"));
    // `[{"$patch": "replace"}, ...]` replaces the list with the other elements.
    if patch
        .iter()
        .any(|e| e.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        return Ok(Value::Array(
            patch
                .iter()
                .filter(|e| e.get("$patch").is_none())
                .map(strip)
                .collect(),
        ));
    }
    match list_strategy(schemas, field_schema) {
        ListStrategy::Replace => Ok(strip(&Value::Array(patch.to_vec()))),
        ListStrategy::MergePrimitives => {
            let mut out = current;
            for v in patch {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
            Ok(Value::Array(out))
        }
        ListStrategy::MergeByKey(key) => {
            let mut out = current;
            for item in patch {
                let Some(id) = item.get(key) else {
                    return Err(format!(
                        "map: {item} does not contain declared merge key: {key}"
                    ));
                };
                let position = out.iter().position(|o| o.get(key) == Some(id));
                if item.get("$patch").and_then(Value::as_str) == Some("delete") {
                    out.retain(|o| o.get(key) != Some(id));
                    continue;
                }
                match position {
                    Some(i) => strategic_merge(schemas, &mut out[i], item, item_schema)?,
                    None => out.push(strip(item)),
                }
            }
            Ok(Value::Array(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openapi::schemas;
    use serde_json::json;

    fn pod_schema() -> &'static Value {
        schemas().def("io.k8s.api.core.v1.Pod").unwrap()
    }

    #[test]
    fn merge_patch_deletes_with_null() {
        let mut v = json!({"a": {"b": 1, "c": 2}, "l": [1, 2]});
        merge_patch(&mut v, &json!({"a": {"b": null, "d": 3}, "l": [3]}));
        assert_eq!(v, json!({"a": {"c": 2, "d": 3}, "l": [3]}));
    }

    #[test]
    fn json_patch_operations() {
        let mut v = json!({"metadata": {"labels": {"a": "1"}}, "list": [1, 2]});
        json_patch(
            &mut v,
            &json!([
                {"op": "add", "path": "/metadata/labels/b~1c", "value": "2"},
                {"op": "replace", "path": "/metadata/labels/a", "value": "9"},
                {"op": "add", "path": "/list/-", "value": 3},
                {"op": "remove", "path": "/list/0"},
                {"op": "test", "path": "/list/0", "value": 2},
                {"op": "copy", "from": "/list", "path": "/copy"},
            ]),
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"metadata": {"labels": {"a": "9", "b/c": "2"}}, "list": [2, 3], "copy": [2, 3]})
        );
        assert!(json_patch(
            &mut v,
            &json!([{"op": "replace", "path": "/nope", "value": 1}])
        )
        .is_err());
        assert!(json_patch(
            &mut v,
            &json!([{"op": "test", "path": "/list/0", "value": 7}])
        )
        .is_err());
    }

    #[test]
    fn strategic_merge_merges_containers_by_name() {
        let mut pod = json!({"spec": {"containers": [
            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "b:1"}]}});
        let patch = json!({"spec": {
            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
            "containers": [{"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "2"}]}]}});
        strategic_merge(schemas(), &mut pod, &patch, Some(pod_schema())).unwrap();
        assert_eq!(
            pod,
            json!({"spec": {"containers": [
            {"name": "b", "image": "b:1"},
            {"name": "a", "image": "a:2", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}]}})
        );
    }

    #[test]
    fn strategic_merge_directives() {
        let mut pod = json!({"metadata": {"finalizers": ["x"], "labels": {"a": "1", "b": "2"}},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "tolerations": [{"key": "k"}]}});
        let patch = json!({"metadata": {"finalizers": ["y"], "labels": {"a": null}},
            "spec": {"containers": [{"name": "a", "$patch": "delete"}], "tolerations": [{"key": "j"}]}});
        strategic_merge(schemas(), &mut pod, &patch, Some(pod_schema())).unwrap();
        assert_eq!(
            pod,
            json!({"metadata": {"finalizers": ["x", "y"], "labels": {"b": "2"}},
            "spec": {"containers": [{"name": "b"}], "tolerations": [{"key": "j"}]}})
        );
        let patch = json!({"spec": {"containers": [{"$patch": "replace"}, {"name": "z"}]}});
        strategic_merge(schemas(), &mut pod, &patch, Some(pod_schema())).unwrap();
        assert_eq!(pod["spec"]["containers"], json!([{"name": "z"}]));
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}});
        strategic_merge(schemas(), &mut pod, &patch, Some(pod_schema())).unwrap();
        assert_eq!(pod["metadata"]["finalizers"], json!(["y"]));
    }

    #[test]
    fn strategic_merge_service_ports_by_port() {
        let svc = schemas().def("io.k8s.api.core.v1.Service").unwrap();
        let mut s = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}]}});
        strategic_merge(
            schemas(),
            &mut s,
            &json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}]}}),
            Some(svc),
        )
        .unwrap();
        assert_eq!(
            s,
            json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}]}})
        );
    }
}
