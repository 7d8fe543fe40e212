//! Defaulting: the fields the real API server fills in and kubectl, `describe` and the
//! client libraries expect to find (pod `restartPolicy`, `dnsPolicy`, container
//! `terminationMessagePath`, `imagePullPolicy`, service `type`, replicas, strategies, ...).

use serde_json::{json, Map, Value};

fn obj(value: &mut Value) -> Option<&mut Map<String, Value>> {
    value.as_object_mut()
}

/// Sets `map[key]` when it is absent or null.
fn default(map: &mut Map<String, Value>, key: &str, value: Value) {
    match map.get(key) {
        None | Some(Value::Null) => {
            map.insert(key.to_string(), value);
        }
        _ => {}
    }
}

/// The object at `map[key]`, created empty when absent.
fn child<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = map.entry(key.to_string()).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    slot.as_object_mut().expect("just made an object")
}

/// Applies the defaults of the kind to a new or updated object.
pub fn apply(kind: &str, object: &mut Value) {
    let Some(root) = obj(object) else { return };
    match kind {
        "Namespace" => {
            let spec = child(root, "spec");
            default(spec, "finalizers", json!(["kubernetes"]));
            let status = child(root, "status");
            default(status, "phase", json!("Active"));
        }
        "Pod" => {
            pod_spec(child(root, "spec"));
            let qos = qos_class(root.get("spec").unwrap_or(&Value::Null));
            let status = child(root, "status");
            default(status, "phase", json!("Pending"));
            default(status, "qosClass", json!(qos));
        }
        "ReplicationController" => {
            // The labels default to the template's labels, as the selector does.
            let template_labels = root
                .get("spec")
                .and_then(|s| s.pointer("/template/metadata/labels"))
                .cloned();
            if let Some(labels) = template_labels {
                let meta = child(root, "metadata");
                let empty = meta
                    .get("labels")
                    .and_then(Value::as_object)
                    .is_none_or(|l| l.is_empty());
                if empty {
                    meta.insert("labels".into(), labels);
                }
            }
            let spec = child(root, "spec");
            default(spec, "replicas", json!(1));
            default(spec, "minReadySeconds", json!(0));
            if let Some(template) = spec.get_mut("template").and_then(obj) {
                // The selector defaults to the template's labels.
                let labels = template
                    .get("metadata")
                    .and_then(|m| m.get("labels"))
                    .cloned();
                pod_template(template);
                if let Some(labels) = labels {
                    default(spec, "selector", labels);
                }
            }
            default(child(root, "status"), "replicas", json!(0));
        }
        "Service" => service(root),
        "Deployment" => {
            let spec = child(root, "spec");
            default(spec, "replicas", json!(1));
            default(spec, "revisionHistoryLimit", json!(10));
            default(spec, "progressDeadlineSeconds", json!(600));
            let strategy = child(spec, "strategy");
            default(strategy, "type", json!("RollingUpdate"));
            if strategy.get("type") == Some(&json!("RollingUpdate")) {
                let ru = child(strategy, "rollingUpdate");
                default(ru, "maxUnavailable", json!("25%"));
                default(ru, "maxSurge", json!("25%"));
            }
            template_of(spec);
        }
        "ReplicaSet" => {
            let spec = child(root, "spec");
            default(spec, "replicas", json!(1));
            default(spec, "minReadySeconds", json!(0));
            template_of(spec);
            default(child(root, "status"), "replicas", json!(0));
        }
        "DaemonSet" => {
            let spec = child(root, "spec");
            default(spec, "revisionHistoryLimit", json!(10));
            let strategy = child(spec, "updateStrategy");
            default(strategy, "type", json!("RollingUpdate"));
            if strategy.get("type") == Some(&json!("RollingUpdate")) {
                let ru = child(strategy, "rollingUpdate");
                default(ru, "maxUnavailable", json!(1));
                default(ru, "maxSurge", json!(0));
            }
            template_of(spec);
            let status = child(root, "status");
            for f in [
                "currentNumberScheduled",
                "desiredNumberScheduled",
                "numberMisscheduled",
                "numberReady",
            ] {
                default(status, f, json!(0));
            }
        }
        "StatefulSet" => {
            let spec = child(root, "spec");
            default(spec, "replicas", json!(1));
            default(spec, "podManagementPolicy", json!("OrderedReady"));
            default(spec, "revisionHistoryLimit", json!(10));
            let strategy = child(spec, "updateStrategy");
            default(strategy, "type", json!("RollingUpdate"));
            if strategy.get("type") == Some(&json!("RollingUpdate")) {
                default(child(strategy, "rollingUpdate"), "partition", json!(0));
            }
            let retention = child(spec, "persistentVolumeClaimRetentionPolicy");
            default(retention, "whenDeleted", json!("Retain"));
            default(retention, "whenScaled", json!("Retain"));
            template_of(spec);
            default(child(root, "status"), "replicas", json!(0));
            default(child(root, "status"), "availableReplicas", json!(0));
        }
        "Job" => {
            let spec = child(root, "spec");
            default(spec, "parallelism", json!(1));
            default(spec, "backoffLimit", json!(6));
            default(spec, "completionMode", json!("NonIndexed"));
            default(spec, "suspend", json!(false));
            default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
            if spec.get("completions").is_none() && spec.get("parallelism") == Some(&json!(1)) {
                spec.insert("completions".into(), json!(1));
            }
            default(spec, "manualSelector", json!(false));
            template_of(spec);
        }
        "CronJob" => {
            let spec = child(root, "spec");
            default(spec, "concurrencyPolicy", json!("Allow"));
            default(spec, "suspend", json!(false));
            default(spec, "successfulJobsHistoryLimit", json!(3));
            default(spec, "failedJobsHistoryLimit", json!(1));
            if let Some(jt) = spec.get_mut("jobTemplate").and_then(obj) {
                let jspec = child(jt, "spec");
                default(jspec, "backoffLimit", json!(6));
                default(jspec, "completionMode", json!("NonIndexed"));
                default(jspec, "suspend", json!(false));
                default(jspec, "podReplacementPolicy", json!("TerminatingOrFailed"));
                template_of(jspec);
            }
        }
        "Secret" => {
            default(root, "type", json!("Opaque"));
            // stringData is write-only: merged into data (base64), never stored.
            if let Some(Value::Object(string_data)) = root.remove("stringData") {
                let data = child(root, "data");
                for (k, v) in string_data {
                    if let Some(s) = v.as_str() {
                        use base64::Engine as _;
                        let encoded = base64::engine::general_purpose::STANDARD.encode(s);
                        data.insert(k, json!(encoded));
                    }
                }
            }
        }
        "PersistentVolume" => {
            let spec = child(root, "spec");
            default(spec, "persistentVolumeReclaimPolicy", json!("Retain"));
            default(spec, "volumeMode", json!("Filesystem"));
            default(child(root, "status"), "phase", json!("Pending"));
        }
        "PersistentVolumeClaim" => {
            let spec = child(root, "spec");
            default(spec, "volumeMode", json!("Filesystem"));
            default(child(root, "status"), "phase", json!("Pending"));
        }
        "Node" => {
            let status = child(root, "status");
            let info = child(status, "nodeInfo");
            // The Python client requires all ten NodeSystemInfo fields.
            for f in [
                "architecture",
                "bootID",
                "containerRuntimeVersion",
                "kernelVersion",
                "kubeProxyVersion",
                "kubeletVersion",
                "machineID",
                "operatingSystem",
                "osImage",
                "systemUUID",
            ] {
                default(info, f, json!(""));
            }
        }
        _ => {}
    }
}

fn template_of(spec: &mut Map<String, Value>) {
    if let Some(template) = spec.get_mut("template").and_then(obj) {
        pod_template(template);
    }
}

fn pod_template(template: &mut Map<String, Value>) {
    pod_spec(child(template, "spec"));
}

/// Pod spec defaults (pods and every pod template).
pub fn pod_spec(spec: &mut Map<String, Value>) {
    default(spec, "restartPolicy", json!("Always"));
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    default(spec, "schedulerName", json!("default-scheduler"));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    default(spec, "securityContext", json!({}));
    default(spec, "enableServiceLinks", json!(true));
    default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    default(spec, "priority", json!(0));
    if let Some(sa) = spec.get("serviceAccountName").cloned() {
        default(spec, "serviceAccount", sa);
    } else if let Some(sa) = spec.get("serviceAccount").cloned() {
        default(spec, "serviceAccountName", sa);
    }
    for list in ["containers", "initContainers"] {
        if let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in containers.iter_mut().filter_map(obj) {
                container(c);
            }
        }
    }
    if let Some(volumes) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
        for v in volumes.iter_mut().filter_map(obj) {
            if let Some(cm) = v.get_mut("configMap").and_then(obj) {
                default(cm, "defaultMode", json!(420));
            }
            if let Some(secret) = v.get_mut("secret").and_then(obj) {
                default(secret, "defaultMode", json!(420));
            }
        }
    }
}

fn container(c: &mut Map<String, Value>) {
    default(c, "terminationMessagePath", json!("/dev/termination-log"));
    default(c, "terminationMessagePolicy", json!("File"));
    default(c, "resources", json!({}));
    let image = c.get("image").and_then(Value::as_str).unwrap_or("");
    default(c, "imagePullPolicy", json!(pull_policy(image)));
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(obj) {
            default(p, "protocol", json!("TCP"));
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe).and_then(obj) {
            default(p, "timeoutSeconds", json!(1));
            default(p, "periodSeconds", json!(10));
            default(p, "successThreshold", json!(1));
            default(p, "failureThreshold", json!(3));
            if let Some(http) = p.get_mut("httpGet").and_then(obj) {
                default(http, "path", json!("/"));
                default(http, "scheme", json!("HTTP"));
            }
        }
    }
}

/// `Always` for `:latest` or untagged images, `IfNotPresent` otherwise.
pub fn pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn service(root: &mut Map<String, Value>) {
    let spec = child(root, "spec");
    default(spec, "type", json!("ClusterIP"));
    let external_name = spec.get("type") == Some(&json!("ExternalName"));
    if !external_name {
        default(spec, "sessionAffinity", json!("None"));
        default(spec, "internalTrafficPolicy", json!("Cluster"));
        default(spec, "ipFamilies", json!(["IPv4"]));
        default(spec, "ipFamilyPolicy", json!("SingleStack"));
    }
    if matches!(
        spec.get("type").and_then(Value::as_str),
        Some("NodePort") | Some("LoadBalancer")
    ) {
        default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(obj) {
            default(p, "protocol", json!("TCP"));
            if let Some(port) = p.get("port").cloned() {
                if !external_name {
                    default(p, "targetPort", port);
                }
            }
        }
    }
    let status = child(root, "status");
    default(status, "loadBalancer", json!({}));
}

/// The pod's quality-of-service class from its containers' requests and limits.
pub fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|l| spec.get(*l).and_then(Value::as_array))
        .flatten()
        .collect();
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for c in &containers {
        let requests = c.pointer("/resources/requests").and_then(Value::as_object);
        let limits = c.pointer("/resources/limits").and_then(Value::as_object);
        let has = |m: Option<&Map<String, Value>>, r: &str| m.is_some_and(|m| m.contains_key(r));
        for r in ["cpu", "memory"] {
            if has(requests, r) || has(limits, r) {
                any = true;
            }
            let limit = limits.and_then(|l| l.get(r));
            let request = requests.and_then(|q| q.get(r)).or(limit);
            if limit.is_none() || request != limit {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_get_what_kubectl_expects() {
        let mut pod = json!({"spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}]}});
        apply("Pod", &mut pod);
        assert_eq!(pod["spec"]["restartPolicy"], "Always");
        assert_eq!(pod["spec"]["dnsPolicy"], "ClusterFirst");
        assert_eq!(pod["spec"]["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(
            pod["spec"]["containers"][0]["terminationMessagePath"],
            "/dev/termination-log"
        );
        assert_eq!(pod["spec"]["containers"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(pod["status"]["phase"], "Pending");
        assert_eq!(pod["status"]["qosClass"], "BestEffort");
    }

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(pull_policy("busybox:1.36"), "IfNotPresent");
        assert_eq!(pull_policy("busybox"), "Always");
        assert_eq!(pull_policy("localhost:5000/busybox"), "Always");
        assert_eq!(pull_policy("busybox:latest"), "Always");
    }

    #[test]
    fn qos() {
        let spec =
            json!({"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]});
        assert_eq!(qos_class(&spec), "Guaranteed");
        let spec = json!({"containers": [{"resources": {"requests": {"cpu": "1"}}}]});
        assert_eq!(qos_class(&spec), "Burstable");
    }
}
