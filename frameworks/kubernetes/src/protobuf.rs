//! Request bodies in the Kubernetes protobuf encoding (`application/vnd.kubernetes.protobuf`).
//!
//! kubectl's `create <kind>` generators (`create namespace`, `create configmap`,
//! `create secret`, `create deployment`, `create service`, `create job`, ...) send their
//! object as protobuf and do not fall back to JSON. This decodes the envelope (`k8s\0` +
//! `runtime.Unknown`) and the messages those commands fill in, into the JSON form the rest
//! of the server works on. Field numbers are those of the Kubernetes API's `generated.proto`
//! files; fields of messages not described here are skipped, which loses nothing a
//! generator sets. Responses are always JSON, which every client accepts.

use base64::Engine as _;
use serde_json::{json, Map, Value};

/// How a field's bytes become JSON.
#[derive(Clone, Copy, Debug)]
enum Ty {
    Str,
    Bool,
    Int,
    /// A nested message (by name in [`MESSAGES`]).
    Msg(&'static str),
    /// `map<string, string>`.
    MapStr,
    /// `map<string, bytes>`.
    MapBytes,
    /// `map<string, Quantity>`.
    MapQuantity,
    /// `resource.Quantity` (`string = 1`).
    Quantity,
    /// `intstr.IntOrString` (`type = 1`, `intVal = 2`, `strVal = 3`).
    IntOrString,
    /// `meta.v1.Time` (`seconds = 1`, `nanos = 2`).
    Time,
}

/// One field: number, JSON name, type, repeated.
type Field = (u64, &'static str, Ty, bool);

const fn f(n: u64, name: &'static str, ty: Ty) -> Field {
    (n, name, ty, false)
}

const fn r(n: u64, name: &'static str, ty: Ty) -> Field {
    (n, name, ty, true)
}

use Ty::*;

/// The messages decoded (others are skipped).
static MESSAGES: &[(&str, &[Field])] = &[
    ("TypeMeta", &[f(1, "apiVersion", Str), f(2, "kind", Str)]),
    (
        "ObjectMeta",
        &[
            f(1, "name", Str),
            f(2, "generateName", Str),
            f(3, "namespace", Str),
            f(5, "uid", Str),
            f(6, "resourceVersion", Str),
            f(7, "generation", Int),
            f(8, "creationTimestamp", Time),
            f(11, "labels", MapStr),
            f(12, "annotations", MapStr),
            r(13, "ownerReferences", Msg("OwnerReference")),
            r(14, "finalizers", Str),
        ],
    ),
    (
        "OwnerReference",
        &[
            f(1, "kind", Str),
            f(3, "name", Str),
            f(4, "uid", Str),
            f(5, "apiVersion", Str),
            f(6, "controller", Bool),
            f(7, "blockOwnerDeletion", Bool),
        ],
    ),
    (
        "LabelSelector",
        &[
            f(1, "matchLabels", MapStr),
            r(2, "matchExpressions", Msg("LabelSelectorRequirement")),
        ],
    ),
    (
        "LabelSelectorRequirement",
        &[f(1, "key", Str), f(2, "operator", Str), r(3, "values", Str)],
    ),
    (
        "Namespace",
        &[
            f(1, "metadata", Msg("ObjectMeta")),
            f(2, "spec", Msg("NamespaceSpec")),
        ],
    ),
    ("NamespaceSpec", &[r(1, "finalizers", Str)]),
    (
        "ConfigMap",
        &[
            f(1, "metadata", Msg("ObjectMeta")),
            f(2, "data", MapStr),
            f(3, "binaryData", MapBytes),
            f(4, "immutable", Bool),
        ],
    ),
    (
        "Secret",
        &[
            f(1, "metadata", Msg("ObjectMeta")),
            f(2, "data", MapBytes),
            f(3, "type", Str),
            f(4, "stringData", MapStr),
            f(5, "immutable", Bool),
        ],
    ),
    (
        "ServiceAccount",
        &[
            f(1, "metadata", Msg("ObjectMeta")),
            r(3, "imagePullSecrets", Msg("LocalObjectReference")),
            f(4, "automountServiceAccountToken", Bool),
        ],
    ),
    ("LocalObjectReference", &[f(1, "name", Str)]),
    (
        "Service",
        &[
            f(1, "metadata", Msg("ObjectMeta")),
            f(2, "spec", Msg("ServiceSpec")),
        ],
    ),
    (
        "ServiceSpec",
        &[
            r(1, "ports", Msg("ServicePort")),
            f(2, "selector", MapStr),
            f(3, "clusterIP", Str),
            f(4, "type", Str),
            r(5, "externalIPs", Str),
            f(7, "sessionAffinity", Str),
            f(10, "externalName", Str),
            f(17, "ipFamilyPolicy", Str),
            r(18, "clusterIPs", Str),
            r(19, "ipFamilies", Str),
        ],
    ),
    (
        "ServicePort",
        &[
            f(1, "name", Str),
            f(2, "protocol", Str),
            f(3, "port", Int),
            f(4, "targetPort", IntOrString),
            f(5, "nodePort", Int),
            f(6, "appProtocol", Str),
        ],
    ),
    (
        "PodTemplateSpec",
        &[
            f(1, "metadata", Msg("ObjectMeta")),
            f(2, "spec", Msg("PodSpec")),
        ],
    ),
    (
        "PodSpec",
        &[
            r(2, "containers", Msg("Container")),
            f(3, "restartPolicy", Str),
            f(4, "terminationGracePeriodSeconds", Int),
            f(5, "activeDeadlineSeconds", Int),
            f(6, "dnsPolicy", Str),
            f(7, "nodeSelector", MapStr),
            f(8, "serviceAccountName", Str),
            f(10, "nodeName", Str),
            f(11, "hostNetwork", Bool),
            r(15, "imagePullSecrets", Msg("LocalObjectReference")),
            f(16, "hostname", Str),
            f(17, "subdomain", Str),
            f(19, "schedulerName", Str),
            r(20, "initContainers", Msg("Container")),
            f(24, "priorityClassName", Str),
        ],
    ),
    (
        "Container",
        &[
            f(1, "name", Str),
            f(2, "image", Str),
            r(3, "command", Str),
            r(4, "args", Str),
            f(5, "workingDir", Str),
            r(6, "ports", Msg("ContainerPort")),
            r(7, "env", Msg("EnvVar")),
            f(8, "resources", Msg("ResourceRequirements")),
            f(13, "terminationMessagePath", Str),
            f(14, "imagePullPolicy", Str),
            f(16, "stdin", Bool),
            f(17, "stdinOnce", Bool),
            f(18, "tty", Bool),
            f(20, "terminationMessagePolicy", Str),
        ],
    ),
    (
        "ContainerPort",
        &[
            f(1, "name", Str),
            f(2, "hostPort", Int),
            f(3, "containerPort", Int),
            f(4, "protocol", Str),
            f(5, "hostIP", Str),
        ],
    ),
    ("EnvVar", &[f(1, "name", Str), f(2, "value", Str)]),
    (
        "ResourceRequirements",
        &[f(1, "limits", MapQuantity), f(2, "requests", MapQuantity)],
    ),
    (
        "ResourceQuota",
        &[
            f(1, "metadata", Msg("ObjectMeta")),
            f(2, "spec", Msg("ResourceQuotaSpec")),
        ],
    ),
    (
        "ResourceQuotaSpec",
        &[f(1, "hard", MapQuantity), r(2, "scopes", Str)],
    ),
    (
        "Deployment",
        &[
            f(1, "metadata", Msg("ObjectMeta")),
            f(2, "spec", Msg("DeploymentSpec")),
        ],
    ),
    (
        "DeploymentSpec",
        &[
            f(1, "replicas", Int),
            f(2, "selector", Msg("LabelSelector")),
            f(3, "template", Msg("PodTemplateSpec")),
            f(4, "strategy", Msg("DeploymentStrategy")),
            f(5, "minReadySeconds", Int),
            f(6, "revisionHistoryLimit", Int),
            f(7, "paused", Bool),
            f(9, "progressDeadlineSeconds", Int),
        ],
    ),
    (
        "DeploymentStrategy",
        &[
            f(1, "type", Str),
            f(2, "rollingUpdate", Msg("RollingUpdateDeployment")),
        ],
    ),
    (
        "RollingUpdateDeployment",
        &[
            f(1, "maxUnavailable", IntOrString),
            f(2, "maxSurge", IntOrString),
        ],
    ),
    (
        "Job",
        &[
            f(1, "metadata", Msg("ObjectMeta")),
            f(2, "spec", Msg("JobSpec")),
        ],
    ),
    (
        "JobSpec",
        &[
            f(1, "parallelism", Int),
            f(2, "completions", Int),
            f(3, "activeDeadlineSeconds", Int),
            f(4, "selector", Msg("LabelSelector")),
            f(5, "manualSelector", Bool),
            f(6, "template", Msg("PodTemplateSpec")),
            f(7, "backoffLimit", Int),
            f(8, "ttlSecondsAfterFinished", Int),
            f(9, "completionMode", Str),
            f(10, "suspend", Bool),
        ],
    ),
    (
        "CronJob",
        &[
            f(1, "metadata", Msg("ObjectMeta")),
            f(2, "spec", Msg("CronJobSpec")),
        ],
    ),
    (
        "CronJobSpec",
        &[
            f(1, "schedule", Str),
            f(2, "startingDeadlineSeconds", Int),
            f(3, "concurrencyPolicy", Str),
            f(4, "suspend", Bool),
            f(5, "jobTemplate", Msg("JobTemplateSpec")),
            f(6, "successfulJobsHistoryLimit", Int),
            f(7, "failedJobsHistoryLimit", Int),
            f(8, "timeZone", Str),
        ],
    ),
    (
        "JobTemplateSpec",
        &[
            f(1, "metadata", Msg("ObjectMeta")),
            f(2, "spec", Msg("JobSpec")),
        ],
    ),
    (
        "Scale",
        &[
            f(1, "metadata", Msg("ObjectMeta")),
            f(2, "spec", Msg("ScaleSpec")),
        ],
    ),
    ("ScaleSpec", &[f(1, "replicas", Int)]),
];

/// Pointer fields (`*int32`, `*bool`, ...): their zero value is meaningful.
const KEEP_ZERO: &[&str] = &[
    "replicas",
    "parallelism",
    "completions",
    "backoffLimit",
    "terminationGracePeriodSeconds",
    "activeDeadlineSeconds",
    "automountServiceAccountToken",
    "immutable",
    "startingDeadlineSeconds",
    "successfulJobsHistoryLimit",
    "failedJobsHistoryLimit",
    "revisionHistoryLimit",
    "progressDeadlineSeconds",
    "manualSelector",
    "ttlSecondsAfterFinished",
    "suspend",
    "maxSurge",
    "maxUnavailable",
    "controller",
    "blockOwnerDeletion",
];

fn is_zero(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty() || s == "1970-01-01T00:00:00Z",
        Value::Number(n) => n.as_i64() == Some(0),
        Value::Bool(b) => !b,
        _ => false,
    }
}

/// The magic prefix of every Kubernetes protobuf body.
const MAGIC: &[u8] = b"k8s\0";

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint too long".into())
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = usize::try_from(self.varint()?).map_err(|_| "length too large")?;
        let end = self.pos.checked_add(len).ok_or("length overflow")?;
        let out = self.buf.get(self.pos..end).ok_or("truncated field")?;
        self.pos = end;
        Ok(out)
    }

    /// The next (field number, wire type, payload) until the end.
    fn next(&mut self) -> Result<Option<(u64, Payload<'a>)>, String> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let payload = match key & 7 {
            0 => Payload::Varint(self.varint()?),
            1 => {
                self.pos += 8;
                Payload::Skipped
            }
            2 => Payload::Bytes(self.bytes()?),
            5 => {
                self.pos += 4;
                Payload::Skipped
            }
            other => return Err(format!("unsupported wire type {other}")),
        };
        if self.pos > self.buf.len() {
            return Err("truncated field".into());
        }
        Ok(Some((key >> 3, payload)))
    }
}

enum Payload<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Skipped,
}

fn utf8(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| "invalid UTF-8 in a string field".to_string())
}

fn fields_of(message: &str) -> Option<&'static [Field]> {
    MESSAGES
        .iter()
        .find(|(n, _)| *n == message)
        .map(|(_, f)| *f)
}

/// A `map<string, X>` entry: key = 1, value = 2.
fn map_entry(b: &[u8]) -> Result<(String, Option<&[u8]>), String> {
    let mut r = Reader { buf: b, pos: 0 };
    let (mut key, mut value) = (String::new(), None);
    while let Some((n, p)) = r.next()? {
        match (n, p) {
            (1, Payload::Bytes(k)) => key = utf8(k)?,
            (2, Payload::Bytes(v)) => value = Some(v),
            _ => {}
        }
    }
    Ok((key, value))
}

fn scalar(ty: Ty, p: Payload<'_>) -> Result<Option<Value>, String> {
    Ok(match (ty, p) {
        (Str, Payload::Bytes(b)) => Some(json!(utf8(b)?)),
        (Bool, Payload::Varint(v)) => Some(json!(v != 0)),
        (Int, Payload::Varint(v)) => Some(json!(v as i64)),
        (Quantity, Payload::Bytes(b)) => {
            let mut r = Reader { buf: b, pos: 0 };
            let mut s = String::new();
            while let Some((n, p)) = r.next()? {
                if let (1, Payload::Bytes(v)) = (n, p) {
                    s = utf8(v)?;
                }
            }
            Some(json!(s))
        }
        (IntOrString, Payload::Bytes(b)) => {
            let mut r = Reader { buf: b, pos: 0 };
            let (mut is_str, mut int, mut string) = (false, 0i64, String::new());
            while let Some((n, p)) = r.next()? {
                match (n, p) {
                    (1, Payload::Varint(v)) => is_str = v == 1,
                    (2, Payload::Varint(v)) => int = i64::from(v as i32),
                    (3, Payload::Bytes(v)) => string = utf8(v)?,
                    _ => {}
                }
            }
            Some(if is_str { json!(string) } else { json!(int) })
        }
        (Time, Payload::Bytes(b)) => {
            let mut r = Reader { buf: b, pos: 0 };
            let mut seconds = 0i64;
            while let Some((n, p)) = r.next()? {
                if let (1, Payload::Varint(v)) = (n, p) {
                    seconds = v as i64;
                }
            }
            let t =
                k8s_openapi::jiff::Timestamp::from_second(seconds).map_err(|e| e.to_string())?;
            Some(json!(k8s_openapi::jiff::fmt::strtime::format(
                "%Y-%m-%dT%H:%M:%SZ",
                t
            )
            .map_err(|e| e.to_string())?))
        }
        (Msg(name), Payload::Bytes(b)) => Some(message(name, b)?),
        _ => None,
    })
}

fn message(name: &str, buf: &[u8]) -> Result<Value, String> {
    let fields = fields_of(name).unwrap_or(&[]);
    let mut out = Map::new();
    let mut r = Reader { buf, pos: 0 };
    while let Some((n, payload)) = r.next()? {
        let Some(&(_, json_name, ty, repeated)) = fields.iter().find(|f| f.0 == n) else {
            continue;
        };
        match ty {
            MapStr | MapBytes | MapQuantity => {
                let Payload::Bytes(b) = payload else { continue };
                let (k, v) = map_entry(b)?;
                let v = v.unwrap_or(&[]);
                let value = match ty {
                    MapStr => json!(utf8(v)?),
                    MapBytes => json!(base64::engine::general_purpose::STANDARD.encode(v)),
                    _ => scalar(Quantity, Payload::Bytes(v))?.unwrap_or(json!("")),
                };
                let slot = out.entry(json_name).or_insert_with(|| json!({}));
                if let Some(m) = slot.as_object_mut() {
                    m.insert(k, value);
                }
            }
            _ => {
                let Some(value) = scalar(ty, payload)? else {
                    continue;
                };
                // Go marshals every non-pointer field, set or not: a zero value of a
                // non-pointer field means "unset".
                if !repeated && is_zero(&value) && !KEEP_ZERO.contains(&json_name) {
                    continue;
                }
                if repeated {
                    let slot = out.entry(json_name).or_insert_with(|| json!([]));
                    if let Some(list) = slot.as_array_mut() {
                        list.push(value);
                    }
                } else {
                    out.insert(json_name.to_string(), value);
                }
            }
        }
    }
    Ok(Value::Object(out))
}

/// Decodes a protobuf request body into the object's JSON form.
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or("the body does not start with the Kubernetes protobuf prefix")?;
    let mut r = Reader { buf: rest, pos: 0 };
    let mut type_meta = json!({});
    let mut raw: &[u8] = &[];
    while let Some((n, p)) = r.next()? {
        match (n, p) {
            (1, Payload::Bytes(b)) => type_meta = message("TypeMeta", b)?,
            (2, Payload::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    let kind = type_meta
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if fields_of(&kind).is_none() {
        return Err(format!(
            "protobuf bodies of kind {kind:?} are not supported: send JSON (kubectl: use `create -f`)"
        ));
    }
    let mut object = message(&kind, raw)?;
    if let Some(m) = object.as_object_mut() {
        m.insert("kind".into(), json!(kind));
        if let Some(v) = type_meta.get("apiVersion") {
            m.insert("apiVersion".into(), v.clone());
        }
    }
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn field(n: u64, bytes: &[u8], out: &mut Vec<u8>) {
        varint(n << 3 | 2, out);
        varint(bytes.len() as u64, out);
        out.extend_from_slice(bytes);
    }

    #[test]
    fn decodes_a_namespace_and_a_configmap() {
        let mut meta = Vec::new();
        field(1, b"team-a", &mut meta);
        let mut ns = Vec::new();
        field(1, &meta, &mut ns);
        let mut tm = Vec::new();
        field(1, b"v1", &mut tm);
        field(2, b"Namespace", &mut tm);
        let mut body = MAGIC.to_vec();
        field(1, &tm, &mut body);
        field(2, &ns, &mut body);
        assert_eq!(
            decode(&body).unwrap(),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
        );

        let mut entry = Vec::new();
        field(1, b"a", &mut entry);
        field(2, b"b", &mut entry);
        let mut cm = Vec::new();
        field(1, &meta, &mut cm);
        field(2, &entry, &mut cm);
        let mut tm = Vec::new();
        field(1, b"v1", &mut tm);
        field(2, b"ConfigMap", &mut tm);
        let mut body = MAGIC.to_vec();
        field(1, &tm, &mut body);
        field(2, &cm, &mut body);
        assert_eq!(decode(&body).unwrap()["data"], json!({"a": "b"}));
        assert!(decode(b"junk").is_err());
    }
}
