//! Validation of objects (names, labels, required fields, selectors) and of updates
//! (immutable fields). Problems are [`Cause`]s, answered as one 422 Invalid.

use serde_json::{json, Value};

use crate::selectors::{valid_label_value, LabelSelector};
use crate::status::Cause;

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

/// Whether `s` is an RFC 1123 label: at most 63 of `[a-z0-9-]`, alphanumeric at both ends.
pub fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.as_bytes()[0] != b'-'
        && s.as_bytes()[s.len() - 1] != b'-'
}

/// Whether `s` is an RFC 1123 subdomain: dot-separated labels, at most 253 characters.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

fn is_dns1035_label(s: &str) -> bool {
    is_dns1123_label(s) && s.as_bytes()[0].is_ascii_lowercase()
}

/// Which name rule a kind's objects follow.
fn name_rule(kind: &str) -> (fn(&str) -> bool, &'static str) {
    match kind {
        "Namespace" => (is_dns1123_label, DNS1123_LABEL_MSG),
        "Service" => (is_dns1035_label, DNS1035_LABEL_MSG),
        _ => (is_dns1123_subdomain, DNS1123_SUBDOMAIN_MSG),
    }
}

/// Checks a name (or a namespace name) for a kind.
pub fn name(kind: &str, field: &str, name: &str) -> Option<Cause> {
    let (ok, msg) = name_rule(kind);
    if ok(name) {
        None
    } else {
        Some(Cause::invalid(field, &json!(name), msg))
    }
}

/// The longest generated name prefix, so that prefix + 5 random characters is valid.
pub const MAX_GENERATED_PREFIX: usize = 58;

fn qualified_name(field: &str, key: &str, causes: &mut Vec<Cause>) {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if !is_dns1123_subdomain(p) {
            causes.push(Cause::invalid(
                field,
                &json!(key),
                "prefix part ".to_string() + DNS1123_SUBDOMAIN_MSG,
            ));
            return;
        }
    }
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
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if !ok {
        causes.push(Cause::invalid(
            field,
            &json!(key),
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        ));
    }
}

/// Checks `metadata`: name, labels, annotations, ownerReferences, finalizers.
pub fn metadata(kind: &str, meta: &Value, causes: &mut Vec<Cause>) {
    let n = meta.get("name").and_then(Value::as_str).unwrap_or("");
    if n.is_empty() {
        causes.push(Cause {
            reason: "FieldValueRequired",
            field: "metadata.name".into(),
            message: "Required value: name or generateName is required".into(),
        });
    } else if let Some(c) = name(kind, "metadata.name", n) {
        causes.push(c);
    }
    if let Some(labels) = meta.get("labels").and_then(Value::as_object) {
        for (k, v) in labels {
            qualified_name("metadata.labels", k, causes);
            let v = v.as_str().unwrap_or_default();
            if !valid_label_value(v) {
                causes.push(Cause::invalid(
                    "metadata.labels",
                    &json!(v),
                    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
                ));
            }
        }
    }
    if let Some(annotations) = meta.get("annotations").and_then(Value::as_object) {
        let mut total = 0;
        for (k, v) in annotations {
            qualified_name("metadata.annotations", k, causes);
            total += k.len() + v.as_str().map_or(0, str::len);
        }
        if total > 256 * 1024 {
            causes.push(Cause {
                reason: "FieldValueTooLong",
                field: "metadata.annotations".into(),
                message: "Too long: must have at most 262144 bytes".into(),
            });
        }
    }
    if let Some(refs) = meta.get("ownerReferences").and_then(Value::as_array) {
        let mut controllers = 0;
        for (i, r) in refs.iter().enumerate() {
            for f in ["apiVersion", "kind", "name", "uid"] {
                if r.get(f).and_then(Value::as_str).unwrap_or("").is_empty() {
                    causes.push(Cause::required(format!(
                        "metadata.ownerReferences[{i}].{f}"
                    )));
                }
            }
            if r.get("controller") == Some(&Value::Bool(true)) {
                controllers += 1;
            }
        }
        if controllers > 1 {
            causes.push(Cause::invalid(
                "metadata.ownerReferences",
                &json!(refs),
                "Only one reference can have Controller set to true",
            ));
        }
    }
}

fn required_str(
    value: &Value,
    pointer: &str,
    field: &str,
    causes: &mut Vec<Cause>,
) -> Option<String> {
    match value.pointer(pointer).and_then(Value::as_str) {
        Some(s) if !s.is_empty() => Some(s.to_string()),
        _ => {
            causes.push(Cause::required(field));
            None
        }
    }
}

fn port_number(value: &Value, field: &str, causes: &mut Vec<Cause>) {
    match value.as_i64() {
        Some(p) if (1..=65535).contains(&p) => {}
        Some(_) => causes.push(Cause::invalid(
            field,
            value,
            "must be between 1 and 65535, inclusive",
        )),
        None => causes.push(Cause::required(field)),
    }
}

/// Checks a pod spec at `path` (`spec` or `spec.template.spec`).
pub fn pod_spec(spec: &Value, path: &str, causes: &mut Vec<Cause>) {
    let containers = spec.get("containers").and_then(Value::as_array);
    match containers {
        None => causes.push(Cause::required(format!("{path}.containers"))),
        Some(list) if list.is_empty() => causes.push(Cause::required(format!("{path}.containers"))),
        Some(_) => {}
    }
    let mut names = std::collections::HashSet::new();
    for list in ["initContainers", "containers"] {
        for (i, c) in spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let at = format!("{path}.{list}[{i}]");
            if let Some(n) = required_str(c, "/name", &format!("{at}.name"), causes) {
                if !is_dns1123_label(&n) {
                    causes.push(Cause::invalid(
                        format!("{at}.name"),
                        &json!(n),
                        DNS1123_LABEL_MSG,
                    ));
                } else if !names.insert(n.clone()) {
                    causes.push(Cause::duplicate(format!("{at}.name"), &json!(n)));
                }
            }
            required_str(c, "/image", &format!("{at}.image"), causes);
            for (j, p) in c
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                port_number(
                    p.get("containerPort").unwrap_or(&Value::Null),
                    &format!("{at}.ports[{j}].containerPort"),
                    causes,
                );
            }
            if let Some(policy) = c.get("imagePullPolicy").and_then(Value::as_str) {
                if !["Always", "IfNotPresent", "Never"].contains(&policy) {
                    causes.push(Cause::not_supported(
                        format!("{at}.imagePullPolicy"),
                        &json!(policy),
                        &["Always", "IfNotPresent", "Never"],
                    ));
                }
            }
        }
    }
    if let Some(policy) = spec.get("restartPolicy").and_then(Value::as_str) {
        if !["Always", "OnFailure", "Never"].contains(&policy) {
            causes.push(Cause::not_supported(
                format!("{path}.restartPolicy"),
                &json!(policy),
                &["Always", "OnFailure", "Never"],
            ));
        }
    }
    if let Some(policy) = spec.get("dnsPolicy").and_then(Value::as_str) {
        let allowed = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
        if !allowed.contains(&policy) {
            causes.push(Cause::not_supported(
                format!("{path}.dnsPolicy"),
                &json!(policy),
                &allowed,
            ));
        }
    }
    let mut volumes = std::collections::HashSet::new();
    for (i, v) in spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(n) = required_str(v, "/name", &format!("{path}.volumes[{i}].name"), causes) {
            if !volumes.insert(n.clone()) {
                causes.push(Cause::duplicate(
                    format!("{path}.volumes[{i}].name"),
                    &json!(n),
                ));
            }
        }
    }
}

fn replicas(spec: &Value, causes: &mut Vec<Cause>) {
    if let Some(r) = spec.get("replicas") {
        if r.as_i64().is_some_and(|r| r < 0) {
            causes.push(Cause::invalid(
                "spec.replicas",
                r,
                "must be greater than or equal to 0",
            ));
        }
    }
}

/// A workload's `spec.selector` (a LabelSelector object) must select its template.
fn selector_matches_template(spec: &Value, causes: &mut Vec<Cause>) {
    let Some(selector) = spec.get("selector").filter(|s| !s.is_null()) else {
        causes.push(Cause::required("spec.selector"));
        return;
    };
    let parsed = match LabelSelector::from_object(selector) {
        Ok(s) => s,
        Err(e) => {
            causes.push(Cause::invalid("spec.selector", selector, e));
            return;
        }
    };
    if parsed.is_empty() {
        causes.push(Cause::invalid(
            "spec.selector",
            selector,
            "empty selector is invalid for deployment",
        ));
        return;
    }
    let template = spec.get("template").cloned().unwrap_or(Value::Null);
    if !parsed.matches_object(&template) {
        causes.push(Cause::invalid(
            "spec.template.metadata.labels",
            template.pointer("/metadata/labels").unwrap_or(&Value::Null),
            "`selector` does not match template `labels`",
        ));
    }
}

fn template_spec(spec: &Value, causes: &mut Vec<Cause>) {
    match spec.get("template") {
        Some(t) if t.is_object() => pod_spec(
            t.get("spec").unwrap_or(&Value::Null),
            "spec.template.spec",
            causes,
        ),
        _ => causes.push(Cause::required("spec.template")),
    }
}

/// Checks an object of `kind` (after defaulting).
pub fn object(kind: &str, object: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    metadata(
        kind,
        object.get("metadata").unwrap_or(&Value::Null),
        &mut causes,
    );
    let spec = object.get("spec").cloned().unwrap_or(Value::Null);
    match kind {
        "Pod" => pod_spec(&spec, "spec", &mut causes),
        "ReplicationController" => {
            replicas(&spec, &mut causes);
            template_spec(&spec, &mut causes);
            let selector = spec.get("selector").and_then(Value::as_object);
            match selector {
                Some(s) if !s.is_empty() => {
                    let labels = spec.pointer("/template/metadata/labels");
                    if !LabelSelector::from_map(s)
                        .matches_object(&json!({"metadata": {"labels": labels}}))
                    {
                        causes.push(Cause::invalid(
                            "spec.template.metadata.labels",
                            labels.unwrap_or(&Value::Null),
                            "`selector` does not match template `labels`",
                        ));
                    }
                }
                _ => causes.push(Cause::required("spec.selector")),
            }
        }
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => {
            replicas(&spec, &mut causes);
            template_spec(&spec, &mut causes);
            selector_matches_template(&spec, &mut causes);
            if kind != "ReplicaSet" && kind != "StatefulSet" {
                if let Some(p) = spec
                    .pointer("/template/spec/restartPolicy")
                    .and_then(Value::as_str)
                {
                    if p != "Always" {
                        causes.push(Cause::not_supported(
                            "spec.template.spec.restartPolicy",
                            &json!(p),
                            &["Always"],
                        ));
                    }
                }
            }
        }
        "Job" => {
            template_spec(&spec, &mut causes);
            if let Some(p) = spec
                .pointer("/template/spec/restartPolicy")
                .and_then(Value::as_str)
            {
                if !["OnFailure", "Never"].contains(&p) {
                    causes.push(Cause::not_supported(
                        "spec.template.spec.restartPolicy",
                        &json!(p),
                        &["OnFailure", "Never"],
                    ));
                }
            }
        }
        "CronJob" => {
            if spec
                .get("schedule")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                causes.push(Cause::required("spec.schedule"));
            }
            if spec.pointer("/jobTemplate/spec/template").is_none() {
                causes.push(Cause::required("spec.jobTemplate.spec.template"));
            }
        }
        "Service" => service(&spec, &mut causes),
        "ConfigMap" | "Secret" => {
            for field in ["data", "binaryData"] {
                for key in object
                    .get(field)
                    .and_then(Value::as_object)
                    .into_iter()
                    .flat_map(|m| m.keys())
                {
                    let ok = !key.is_empty()
                        && key.len() <= 253
                        && key
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
                    if !ok {
                        causes.push(Cause::invalid(
                            format!("{field}[{key}]"),
                            &json!(key),
                            "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                        ));
                    }
                }
            }
        }
        _ => {}
    }
    causes
}

fn service(spec: &Value, causes: &mut Vec<Cause>) {
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    let allowed = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
    if !allowed.contains(&ty) {
        causes.push(Cause::not_supported("spec.type", &json!(ty), &allowed));
    }
    let ports = spec.get("ports").and_then(Value::as_array);
    let headless = spec.get("clusterIP").and_then(Value::as_str) == Some("None");
    if ty != "ExternalName" && !headless && ports.is_none_or(|p| p.is_empty()) {
        causes.push(Cause::required("spec.ports"));
    }
    let mut names = std::collections::HashSet::new();
    let several = ports.is_some_and(|p| p.len() > 1);
    for (i, p) in ports.into_iter().flatten().enumerate() {
        port_number(
            p.get("port").unwrap_or(&Value::Null),
            &format!("spec.ports[{i}].port"),
            causes,
        );
        let n = p.get("name").and_then(Value::as_str).unwrap_or("");
        if several && n.is_empty() {
            causes.push(Cause::required(format!("spec.ports[{i}].name")));
        } else if !n.is_empty() && !names.insert(n.to_string()) {
            causes.push(Cause::duplicate(format!("spec.ports[{i}].name"), &json!(n)));
        }
        if let Some(np) = p.get("nodePort") {
            if ty == "ClusterIP" && np.as_i64().is_some_and(|n| n != 0) {
                causes.push(Cause::forbidden(
                    format!("spec.ports[{i}].nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
        }
    }
    if ty == "ExternalName"
        && spec
            .get("externalName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
    {
        causes.push(Cause::required("spec.externalName"));
    }
}

/// Checks an update of `kind` from `old` to `new`: fields that may not change.
pub fn update(kind: &str, old: &Value, new: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let same = |p: &str| old.pointer(p) == new.pointer(p);
    match kind {
        "Pod" => {
            // Only images, activeDeadlineSeconds, terminationGracePeriodSeconds and new
            // tolerations may change in a pod's spec.
            let mut a = old.get("spec").cloned().unwrap_or(Value::Null);
            let mut b = new.get("spec").cloned().unwrap_or(Value::Null);
            for spec in [&mut a, &mut b] {
                if let Some(s) = spec.as_object_mut() {
                    for f in [
                        "activeDeadlineSeconds",
                        "terminationGracePeriodSeconds",
                        "tolerations",
                    ] {
                        s.remove(f);
                    }
                    for list in ["containers", "initContainers"] {
                        if let Some(cs) = s.get_mut(list).and_then(Value::as_array_mut) {
                            for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                                c.remove("image");
                            }
                        }
                    }
                }
            }
            // Binding sets nodeName once.
            if old.pointer("/spec/nodeName").is_none() {
                if let Some(s) = b.as_object_mut() {
                    s.remove("nodeName");
                }
                if let Some(s) = a.as_object_mut() {
                    s.remove("nodeName");
                }
            }
            if a != b {
                causes.push(Cause::forbidden(
                    "spec",
                    "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
                ));
            }
        }
        "Service" => {
            let old_ip = old
                .pointer("/spec/clusterIP")
                .and_then(Value::as_str)
                .unwrap_or("");
            let new_ip = new
                .pointer("/spec/clusterIP")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !old_ip.is_empty() && old_ip != new_ip && !new_ip.is_empty() {
                causes.push(Cause::invalid(
                    "spec.clusterIPs[0]",
                    &json!(new_ip),
                    "may not change once set",
                ));
            }
        }
        "Deployment" | "ReplicaSet" | "DaemonSet" | "StatefulSet" if !same("/spec/selector") => {
            causes.push(Cause::immutable(
                "spec.selector",
                new.pointer("/spec/selector").unwrap_or(&Value::Null),
            ));
        }
        "Job" => {
            for (p, f) in [
                ("/spec/selector", "spec.selector"),
                ("/spec/template", "spec.template"),
                ("/spec/completions", "spec.completions"),
            ] {
                if !same(p) {
                    causes.push(Cause::immutable(f, new.pointer(p).unwrap_or(&Value::Null)));
                }
            }
        }
        "ConfigMap" | "Secret" => {
            if old.get("immutable") == Some(&Value::Bool(true)) {
                for f in ["data", "binaryData", "immutable"] {
                    if old.get(f) != new.get(f) {
                        causes.push(Cause::forbidden(
                            f,
                            "field is immutable when `immutable` is set",
                        ));
                    }
                }
            }
            if kind == "Secret" && old.get("type") != new.get("type") {
                causes.push(Cause::immutable(
                    "type",
                    new.get("type").unwrap_or(&Value::Null),
                ));
            }
        }
        "PersistentVolumeClaim" => {
            let strip = |v: &Value| {
                let mut s = v.get("spec").cloned().unwrap_or(Value::Null);
                if let Some(m) = s.as_object_mut() {
                    m.remove("resources");
                    m.remove("volumeName");
                }
                s
            };
            if strip(old) != strip(new) {
                causes.push(Cause::forbidden(
                    "spec",
                    "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
                ));
            }
        }
        _ => {}
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_dns1123_subdomain("web-1.example"));
        assert!(!is_dns1123_subdomain("Web"));
        assert!(!is_dns1123_subdomain("-a"));
        assert!(is_dns1123_label("default"));
        assert!(!is_dns1123_label("a.b"));
        assert!(name("Service", "metadata.name", "1abc").is_some());
        assert!(name("Pod", "metadata.name", "1abc").is_none());
    }

    #[test]
    fn pods_need_containers_with_names_and_images() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}, {"name": "c", "image": "x"}]}});
        let causes = object("Pod", &pod);
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            vec!["spec.containers[0].image", "spec.containers[1].name"]
        );
    }

    #[test]
    fn deployment_selector_must_match() {
        let d = json!({"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        let causes = object("Deployment", &d);
        assert_eq!(causes.len(), 1, "{causes:?}");
        assert_eq!(causes[0].field, "spec.template.metadata.labels");
    }
}
