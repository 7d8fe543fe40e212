//! Label selectors (equality- and set-based) and field selectors, parsed from the query
//! string and matched against objects.

use std::collections::BTreeMap;

use serde_json::Value;

/// One requirement of a label selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelReq {
    /// `k=v`, `k==v`.
    Eq(String, String),
    /// `k!=v` (also true when the label is absent).
    NotEq(String, String),
    /// `k in (a,b)`.
    In(String, Vec<String>),
    /// `k notin (a,b)` (also true when the label is absent).
    NotIn(String, Vec<String>),
    /// `k`.
    Exists(String),
    /// `!k`.
    NotExists(String),
    /// `k>n`.
    Gt(String, i64),
    /// `k<n`.
    Lt(String, i64),
}

/// A parsed label selector: all requirements must hold. Empty matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector(pub Vec<LabelReq>);

impl LabelSelector {
    /// Parses the `labelSelector` query syntax.
    pub fn parse(text: &str) -> Result<LabelSelector, String> {
        let mut reqs = Vec::new();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            reqs.push(parse_requirement(part)?);
        }
        Ok(LabelSelector(reqs))
    }

    /// From a `metav1.LabelSelector` object (`matchLabels` + `matchExpressions`).
    pub fn from_object(selector: &Value) -> Result<LabelSelector, String> {
        let mut reqs = Vec::new();
        if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in labels {
                reqs.push(LabelReq::Eq(
                    k.clone(),
                    v.as_str().unwrap_or_default().into(),
                ));
            }
        }
        if let Some(exprs) = selector.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e
                    .get("key")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|v| {
                        v.iter()
                            .filter_map(|s| s.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let op = e.get("operator").and_then(Value::as_str).unwrap_or("");
                reqs.push(match op {
                    "In" => LabelReq::In(key, values),
                    "NotIn" => LabelReq::NotIn(key, values),
                    "Exists" => LabelReq::Exists(key),
                    "DoesNotExist" => LabelReq::NotExists(key),
                    other => {
                        return Err(format!("{other:?} is not a valid label selector operator"))
                    }
                });
            }
        }
        Ok(LabelSelector(reqs))
    }

    /// From a map selector (`spec.selector` of services and replication controllers).
    pub fn from_map(map: &serde_json::Map<String, Value>) -> LabelSelector {
        LabelSelector(
            map.iter()
                .map(|(k, v)| LabelReq::Eq(k.clone(), v.as_str().unwrap_or_default().into()))
                .collect(),
        )
    }

    /// Whether an object's labels satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            LabelReq::Eq(k, v) => labels.get(k) == Some(v),
            LabelReq::NotEq(k, v) => labels.get(k) != Some(v),
            LabelReq::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            LabelReq::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
            LabelReq::Exists(k) => labels.contains_key(k),
            LabelReq::NotExists(k) => !labels.contains_key(k),
            LabelReq::Gt(k, n) => labels
                .get(k)
                .and_then(|l| l.parse::<i64>().ok())
                .is_some_and(|l| l > *n),
            LabelReq::Lt(k, n) => labels
                .get(k)
                .and_then(|l| l.parse::<i64>().ok())
                .is_some_and(|l| l < *n),
        })
    }

    /// Whether the object's `metadata.labels` satisfy the selector.
    pub fn matches_object(&self, object: &Value) -> bool {
        self.0.is_empty() || self.matches(&labels_of(object))
    }

    /// Whether it selects everything.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|r| match r {
                LabelReq::Eq(k, v) => format!("{k}={v}"),
                LabelReq::NotEq(k, v) => format!("{k}!={v}"),
                LabelReq::In(k, vs) => format!("{k} in ({})", vs.join(",")),
                LabelReq::NotIn(k, vs) => format!("{k} notin ({})", vs.join(",")),
                LabelReq::Exists(k) => k.clone(),
                LabelReq::NotExists(k) => format!("!{k}"),
                LabelReq::Gt(k, n) => format!("{k}>{n}"),
                LabelReq::Lt(k, n) => format!("{k}<{n}"),
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// An object's `metadata.labels`.
pub fn labels_of(object: &Value) -> BTreeMap<String, String> {
    object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn valid_key(key: &str) -> Result<(), String> {
    let name = key.rsplit('/').next().unwrap_or(key);
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && key.len() - name.len() <= 254;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "unable to parse requirement: invalid label key {key:?}"
        ))
    }
}

fn parse_set(rest: &str) -> Result<Vec<String>, String> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("found {rest:?}, expected: '('"))?;
    Ok(inner
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect())
}

fn parse_requirement(part: &str) -> Result<LabelReq, String> {
    if let Some(key) = part.strip_prefix('!') {
        let key = key.trim();
        valid_key(key)?;
        return Ok(LabelReq::NotExists(key.to_string()));
    }
    // Set-based: "k in (..)", "k notin (..)".
    let words: Vec<&str> = part.splitn(2, char::is_whitespace).collect();
    if words.len() == 2 {
        let rest = words[1].trim_start();
        for (op, notin) in [("notin", true), ("in", false)] {
            if let Some(set) = rest.strip_prefix(op) {
                if set.trim_start().starts_with('(') {
                    let key = words[0].trim();
                    valid_key(key)?;
                    let values = parse_set(set)?;
                    return Ok(if notin {
                        LabelReq::NotIn(key.into(), values)
                    } else {
                        LabelReq::In(key.into(), values)
                    });
                }
            }
        }
    }
    for (op, make) in [
        ("!=", LabelReq::NotEq as fn(String, String) -> LabelReq),
        ("==", LabelReq::Eq),
        ("=", LabelReq::Eq),
    ] {
        if let Some((k, v)) = part.split_once(op) {
            let (k, v) = (k.trim(), v.trim());
            valid_key(k)?;
            if !v.is_empty() && !valid_label_value(v) {
                return Err(format!(
                    "unable to parse requirement: invalid label value: {v:?}"
                ));
            }
            return Ok(make(k.into(), v.into()));
        }
    }
    for (op, gt) in [(">", true), ("<", false)] {
        if let Some((k, v)) = part.split_once(op) {
            let (k, v) = (k.trim(), v.trim());
            valid_key(k)?;
            let n: i64 = v
                .parse()
                .map_err(|_| format!("unable to parse requirement: {v:?} is not an integer"))?;
            return Ok(if gt {
                LabelReq::Gt(k.into(), n)
            } else {
                LabelReq::Lt(k.into(), n)
            });
        }
    }
    let key = part.trim();
    valid_key(key)?;
    Ok(LabelReq::Exists(key.to_string()))
}

/// Whether `v` is a valid label value (empty, or at most 63 characters of
/// `[A-Za-z0-9._-]` starting and ending with an alphanumeric).
pub fn valid_label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && v.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && v.chars().last().is_some_and(|c| c.is_ascii_alphanumeric()))
}

/// One requirement of a field selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldReq {
    /// The dotted field path (`status.phase`).
    pub field: String,
    /// `!=` rather than `=`.
    pub negated: bool,
    /// The value compared with.
    pub value: String,
}

/// A parsed field selector: all requirements must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector(pub Vec<FieldReq>);

impl FieldSelector {
    /// Parses `f=v,f!=v`, accepting only the fields in `allowed` besides
    /// `metadata.name` and `metadata.namespace`.
    pub fn parse(text: &str, allowed: &[&str]) -> Result<FieldSelector, String> {
        let mut reqs = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (field, negated, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, false, v)
            } else {
                return Err(format!(
                    "invalid field selector: {part:?}: expected field=value or field!=value"
                ));
            };
            let field = field.trim();
            if !matches!(field, "metadata.name" | "metadata.namespace") && !allowed.contains(&field)
            {
                return Err(format!(r#"field label not supported: {field}"#));
            }
            reqs.push(FieldReq {
                field: field.to_string(),
                negated,
                value: value.trim().to_string(),
            });
        }
        Ok(FieldSelector(reqs))
    }

    /// Whether the object satisfies every requirement. A missing field is "".
    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|r| {
            let actual = field_value(object, &r.field);
            (actual == r.value) != r.negated
        })
    }

    /// The single `metadata.name=x` this selector pins, if any (a fast path for lists).
    pub fn exact_name(&self) -> Option<&str> {
        self.0
            .iter()
            .find(|r| r.field == "metadata.name" && !r.negated)
            .map(|r| r.value.as_str())
    }

    /// Whether it selects everything.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The string form of a field for field selectors ("" when absent, `source` for events is
/// `source.component`).
pub fn field_value(object: &Value, field: &str) -> String {
    let path = match field {
        "source" => "source.component",
        other => other,
    };
    let mut cur = object;
    for seg in path.split('.') {
        match cur.get(seg) {
            Some(next) => cur = next,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[track_caller]
    fn check(selector: &str, cases: &[(&[(&str, &str)], bool)]) {
        let s = LabelSelector::parse(selector).unwrap();
        for (l, want) in cases {
            assert_eq!(s.matches(&labels(l)), *want, "{selector} on {l:?}");
        }
    }

    #[test]
    fn equality_selectors() {
        check(
            "app=web",
            &[
                (&[("app", "web")], true),
                (&[("app", "db")], false),
                (&[], false),
            ],
        );
        check(
            "app==web,tier!=db",
            &[
                (&[("app", "web")], true),
                (&[("app", "web"), ("tier", "db")], false),
                (&[("app", "web"), ("tier", "fe")], true),
            ],
        );
        check("app", &[(&[("app", "")], true), (&[], false)]);
        check("!app", &[(&[("app", "x")], false), (&[], true)]);
    }

    #[test]
    fn set_selectors() {
        check(
            "env in (prod, qa),tier notin (db)",
            &[
                (&[("env", "prod")], true),
                (&[("env", "dev")], false),
                (&[("env", "qa"), ("tier", "db")], false),
                (&[("env", "qa"), ("tier", "fe")], true),
            ],
        );
        check("n>3", &[(&[("n", "4")], true), (&[("n", "3")], false)]);
    }

    #[test]
    fn bad_selectors_are_errors() {
        assert!(LabelSelector::parse("a b c").is_err());
        assert!(LabelSelector::parse("x in a").is_err());
        assert!(LabelSelector::parse("k=v v").is_err());
    }

    #[test]
    fn field_selectors() {
        let pod = json!({"metadata": {"name": "p", "namespace": "default"},
            "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        let allowed = &["spec.nodeName", "status.phase"];
        let ok = |s: &str| FieldSelector::parse(s, allowed).unwrap().matches(&pod);
        assert!(ok("metadata.name=p"));
        assert!(ok(
            "spec.nodeName=n1,status.phase!=Succeeded,status.phase!=Failed"
        ));
        assert!(!ok("status.phase=Pending"));
        assert!(FieldSelector::parse("spec.foo=1", allowed).is_err());
        assert!(FieldSelector::parse("spec.nodeName=", allowed)
            .unwrap()
            .matches(&json!({"spec": {}})));
    }
}
