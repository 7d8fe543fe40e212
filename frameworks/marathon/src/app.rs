//! The app definition: Marathon's app JSON read with Marathon's defaults and validation,
//! kept in the store, and written back in the shape marathon-python accepts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use strata_frameworks_runtime::Constraint;

use crate::pathid::PathId;

/// Every key marathon-python's `MarathonApp` accepts; any other key in an app breaks it
/// (clients.md 2.3), so input keys outside this list are refused and output never has one.
pub const APP_KEYS: &[&str] = &[
    "acceptedResourceRoles",
    "args",
    "backoffFactor",
    "backoffSeconds",
    "cmd",
    "constraints",
    "container",
    "cpus",
    "dependencies",
    "deployments",
    "disk",
    "env",
    "executor",
    "healthChecks",
    "id",
    "role",
    "instances",
    "killSelection",
    "labels",
    "lastTaskFailure",
    "maxLaunchDelaySeconds",
    "mem",
    "ports",
    "requirePorts",
    "storeUrls",
    "taskRateLimit",
    "tasks",
    "tasksRunning",
    "tasksStaged",
    "tasksHealthy",
    "taskKillGracePeriodSeconds",
    "tasksUnhealthy",
    "upgradeStrategy",
    "unreachableStrategy",
    "uris",
    "user",
    "version",
    "versionInfo",
    "ipAddress",
    "fetch",
    "taskStats",
    "readinessChecks",
    "readinessCheckResults",
    "secrets",
    "portDefinitions",
    "residency",
    "gpus",
    "networks",
];

/// Keys that describe state, not configuration: accepted in input and ignored.
const READ_ONLY_KEYS: &[&str] = &[
    "deployments",
    "lastTaskFailure",
    "tasks",
    "tasksRunning",
    "tasksStaged",
    "tasksHealthy",
    "tasksUnhealthy",
    "taskStats",
    "readinessCheckResults",
    "version",
    "versionInfo",
    "taskRateLimit",
];

/// One port of the app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortDefinition {
    /// The service port (0 = assign one).
    pub port: u32,
    /// `tcp`, `udp` or `udp,tcp`.
    pub protocol: String,
    /// The port's name (`$PORT_NAME` in the task's environment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// One health check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckDef {
    /// HTTP, HTTPS, TCP, COMMAND, MESOS_HTTP, MESOS_HTTPS or MESOS_TCP.
    pub protocol: String,
    /// The HTTP path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Which of the task's ports to check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_index: Option<u32>,
    /// A fixed port to check instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// The COMMAND check's command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandCheck>,
    /// Failures are ignored this long after the task starts, until the first success.
    pub grace_period_seconds: f64,
    /// Time between checks.
    pub interval_seconds: f64,
    /// A check that takes longer fails.
    pub timeout_seconds: f64,
    /// Failures in a row after which the task is killed (0 = never).
    pub max_consecutive_failures: u32,
    /// Wait before the first check (Mesos checks).
    pub delay_seconds: f64,
    /// Whether 1xx answers count as neither success nor failure.
    pub ignore_http1xx: bool,
}

impl HealthCheckDef {
    /// Whether the agent (the executor) runs this check rather than Marathon.
    pub fn is_mesos(&self) -> bool {
        matches!(
            self.protocol.as_str(),
            "MESOS_HTTP" | "MESOS_HTTPS" | "MESOS_TCP" | "COMMAND"
        )
    }
}

/// The command of a COMMAND health check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandCheck {
    /// The shell command.
    pub value: String,
}

/// How many instances must stay healthy, and how many may be added, during an upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStrategy {
    /// Fraction of `instances` that stays healthy (0..=1).
    pub minimum_health_capacity: f64,
    /// Fraction of `instances` that may run on top during the upgrade (0..=1).
    pub maximum_over_capacity: f64,
}

/// When an unreachable instance is replaced and when it is forgotten.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnreachableStrategy {
    /// Treat unreachable as lost: replace at once.
    Disabled,
    /// Replace after `inactive_after`, forget after `expunge_after` (seconds).
    Enabled {
        /// Seconds before a replacement is launched.
        inactive_after_seconds: f64,
        /// Seconds before the instance is forgotten.
        expunge_after_seconds: f64,
    },
}

impl Serialize for UnreachableStrategy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            UnreachableStrategy::Disabled => s.serialize_str("disabled"),
            UnreachableStrategy::Enabled {
                inactive_after_seconds,
                expunge_after_seconds,
            } => json!({
                "inactiveAfterSeconds": inactive_after_seconds,
                "expungeAfterSeconds": expunge_after_seconds,
            })
            .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for UnreachableStrategy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let mut problems = Vec::new();
        Ok(parse_unreachable(Some(&v), &mut problems))
    }
}

/// When the app's configuration and scale last changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    /// The last change of anything (a scale included).
    pub last_scaling_at: String,
    /// The last change that needs new tasks.
    pub last_config_change_at: String,
}

/// An app, with every default applied. Serialises to the stored form, which is also the
/// base of the API form ([`AppDefinition::to_api_json`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppDefinition {
    /// The app's path id.
    pub id: PathId,
    /// Shell command.
    pub cmd: Option<String>,
    /// Command as argv (no shell).
    pub args: Option<Vec<String>>,
    /// User to run as.
    pub user: Option<String>,
    /// Environment.
    pub env: BTreeMap<String, String>,
    /// Instances to keep running.
    pub instances: u32,
    /// CPUs per instance.
    pub cpus: f64,
    /// Memory (MB) per instance.
    pub mem: f64,
    /// Disk (MB) per instance.
    pub disk: f64,
    /// GPUs per instance.
    pub gpus: f64,
    /// Custom executor (unused: tasks run under the command executor).
    pub executor: String,
    /// Placement constraints as `[field, operator, value?]`.
    pub constraints: Vec<Vec<String>>,
    /// URIs to fetch into the sandbox.
    pub uris: Vec<String>,
    /// URIs with options (`fetch`).
    pub fetch: Vec<Value>,
    /// Unused, kept for clients.
    pub store_urls: Vec<String>,
    /// Initial relaunch delay after a failure.
    pub backoff_seconds: f64,
    /// Relaunch delay multiplier per failure.
    pub backoff_factor: f64,
    /// Relaunch delay cap.
    pub max_launch_delay_seconds: f64,
    /// Container (DOCKER or MESOS), as given.
    pub container: Option<Value>,
    /// Health checks.
    pub health_checks: Vec<HealthCheckDef>,
    /// Readiness checks, as given.
    pub readiness_checks: Vec<Value>,
    /// Apps or groups this app waits for in deployments (absolute ids).
    pub dependencies: Vec<String>,
    /// Rolling upgrade limits.
    pub upgrade_strategy: UpgradeStrategy,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Roles whose resources may be used.
    pub accepted_resource_roles: Option<Vec<String>>,
    /// The version (timestamp of the last change).
    pub version: String,
    /// Timestamps of the last changes.
    pub version_info: VersionInfo,
    /// YOUNGEST_FIRST or OLDEST_FIRST.
    pub kill_selection: String,
    /// Handling of unreachable instances.
    pub unreachable_strategy: UnreachableStrategy,
    /// Seconds between SIGTERM and SIGKILL when a task is killed.
    pub task_kill_grace_period_seconds: Option<f64>,
    /// Secrets, as given.
    pub secrets: BTreeMap<String, Value>,
    /// Ports; `port` is the service port (assigned when 0 was asked for).
    pub port_definitions: Vec<PortDefinition>,
    /// Host ports must equal the service ports.
    pub require_ports: bool,
    /// The role.
    pub role: String,
    /// Networks, as given.
    pub networks: Vec<Value>,
    /// Residency, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residency: Option<Value>,
    /// IP-per-task settings, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<Value>,
}

impl AppDefinition {
    /// The parsed constraints (validated when the app was accepted).
    pub fn parsed_constraints(&self) -> Vec<Constraint> {
        self.constraints
            .iter()
            .filter_map(|c| Constraint::parse(&c[0], &c[1], c.get(2).map(String::as_str)).ok())
            .collect()
    }

    /// Whether any health check decides readiness.
    pub fn has_health_checks(&self) -> bool {
        !self.health_checks.is_empty()
    }

    /// The Docker container's host port requests from `container.portMappings` (or
    /// `container.docker.portMappings`), when the container networking is BRIDGE/USER.
    pub fn container_port_mappings(&self) -> Vec<Value> {
        let Some(c) = &self.container else {
            return Vec::new();
        };
        let from = c
            .get("portMappings")
            .or_else(|| c.get("docker").and_then(|d| d.get("portMappings")));
        from.and_then(Value::as_array).cloned().unwrap_or_default()
    }

    /// How many host ports a task needs.
    pub fn port_count(&self) -> usize {
        let mappings = self.container_port_mappings();
        if !mappings.is_empty() {
            mappings.len()
        } else {
            self.port_definitions.len()
        }
    }

    /// The service ports (what `ports` shows).
    pub fn service_ports(&self) -> Vec<u32> {
        let mappings = self.container_port_mappings();
        if !mappings.is_empty() {
            return mappings
                .iter()
                .map(|m| m.get("servicePort").and_then(Value::as_u64).unwrap_or(0) as u32)
                .collect();
        }
        self.port_definitions.iter().map(|p| p.port).collect()
    }

    /// The app in the API's shape, without the state-derived keys (tasks, counts, ...).
    pub fn to_api_json(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or_else(|_| json!({}));
        if let Some(obj) = v.as_object_mut() {
            obj.insert("ports".into(), json!(self.service_ports()));
        }
        v
    }

    /// Whether a change from `self` to `other` needs new tasks (anything but the number
    /// of instances and the version).
    pub fn config_differs(&self, other: &AppDefinition) -> bool {
        let strip = |a: &AppDefinition| {
            let mut a = a.clone();
            a.instances = 0;
            a.version.clear();
            a.version_info = VersionInfo {
                last_scaling_at: String::new(),
                last_config_change_at: String::new(),
            };
            a
        };
        strip(self) != strip(other)
    }
}

// === parsing ===

/// Validation problems as (JSON path, error).
pub type Problems = Vec<(String, String)>;

/// Reads an app from JSON (the complete, merged object), relative ids taken from `base`.
/// `version` is the version to stamp it with. All problems are reported at once.
pub fn parse_app(
    value: &Value,
    base: &PathId,
    prefix: &str,
    version: &str,
) -> Result<AppDefinition, Problems> {
    let mut p: Problems = Vec::new();
    let Some(obj) = value.as_object() else {
        return Err(vec![(path(prefix, ""), "error.expected.jsobject".into())]);
    };
    for key in obj.keys() {
        if !APP_KEYS.contains(&key.as_str()) {
            p.push((path(prefix, key), "error.unknown.property".into()));
        }
    }
    let id = match obj.get("id").and_then(Value::as_str) {
        Some(s) => match PathId::parse(s, base) {
            Ok(id) if id.is_root() => {
                p.push((path(prefix, "id"), "the root group is not an app id".into()));
                PathId::root()
            }
            Ok(id) => id,
            Err(e) => {
                p.push((path(prefix, "id"), e));
                PathId::root()
            }
        },
        None => {
            p.push((path(prefix, "id"), "error.path.missing".into()));
            PathId::root()
        }
    };
    let ctx = Ctx { obj, prefix };
    let cmd = ctx.opt_string("cmd", &mut p);
    let args = ctx.opt_string_list("args", &mut p);
    let container = match obj.get("container") {
        None | Some(Value::Null) => None,
        Some(c) => parse_container(c, &path(prefix, "container"), &mut p),
    };
    let both = cmd.is_some() && args.is_some();
    let neither = cmd.is_none() && args.is_none() && container.is_none();
    if both || neither {
        p.push((
            path(prefix, ""),
            "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."
                .into(),
        ));
    }
    if let Some(a) = &args {
        if a.is_empty() && container.is_none() {
            p.push((
                path(prefix, "args"),
                "error.minLength: args must not be empty".into(),
            ));
        }
    }
    let instances = ctx.number("instances", 1.0, 0.0, None, &mut p);
    if instances.fract() != 0.0 {
        p.push((path(prefix, "instances"), "error.expected.int".into()));
    }
    let cpus = ctx.number("cpus", 1.0, 0.0, None, &mut p);
    let mem = ctx.number("mem", 128.0, 0.0, None, &mut p);
    let disk = ctx.number("disk", 0.0, 0.0, None, &mut p);
    let gpus = ctx.number("gpus", 0.0, 0.0, None, &mut p);
    let env = ctx.string_map("env", &mut p);
    let labels = ctx.string_map("labels", &mut p);
    let constraints =
        parse_constraints(obj.get("constraints"), &path(prefix, "constraints"), &mut p);
    let uris = ctx.opt_string_list("uris", &mut p).unwrap_or_default();
    let fetch = ctx.array("fetch", &mut p);
    for (i, f) in fetch.iter().enumerate() {
        if f.get("uri").and_then(Value::as_str).is_none() {
            p.push((
                format!("{}/{i}/uri", path(prefix, "fetch")),
                "error.path.missing".into(),
            ));
        }
    }
    let store_urls = ctx.opt_string_list("storeUrls", &mut p).unwrap_or_default();
    let backoff_seconds = ctx.number("backoffSeconds", 1.0, 0.0, None, &mut p);
    let backoff_factor = ctx.number("backoffFactor", 1.15, 1.0, None, &mut p);
    let max_launch_delay_seconds = ctx.number("maxLaunchDelaySeconds", 300.0, 0.0, None, &mut p);
    let user = ctx.opt_string("user", &mut p);
    let executor = ctx.opt_string("executor", &mut p).unwrap_or_default();
    let require_ports = ctx.bool("requirePorts", false, &mut p);
    let port_definitions = parse_ports(obj, prefix, &mut p);
    let mappings = container
        .as_ref()
        .and_then(|c| {
            c.get("portMappings")
                .or_else(|| c.get("docker").and_then(|d| d.get("portMappings")))
        })
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let port_count = if mappings > 0 {
        mappings
    } else {
        port_definitions.len()
    };
    let health_checks = parse_health_checks(
        obj.get("healthChecks"),
        &path(prefix, "healthChecks"),
        port_count,
        &mut p,
    );
    let readiness_checks = ctx.array("readinessChecks", &mut p);
    let dependencies = ctx
        .opt_string_list("dependencies", &mut p)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|d| match PathId::parse(&d, &id.parent()) {
            Ok(d) => Some(d.to_string()),
            Err(e) => {
                p.push((path(prefix, "dependencies"), e));
                None
            }
        })
        .collect();
    let upgrade_strategy = parse_upgrade(
        obj.get("upgradeStrategy"),
        &path(prefix, "upgradeStrategy"),
        &mut p,
    );
    let accepted_resource_roles = ctx.opt_string_list("acceptedResourceRoles", &mut p);
    let kill_selection = match ctx.opt_string("killSelection", &mut p) {
        None => "YOUNGEST_FIRST".to_owned(),
        Some(s) if s == "YOUNGEST_FIRST" || s == "OLDEST_FIRST" => s,
        Some(_) => {
            p.push((
                path(prefix, "killSelection"),
                "error.expected.enum: YOUNGEST_FIRST or OLDEST_FIRST".into(),
            ));
            "YOUNGEST_FIRST".into()
        }
    };
    let mut up = Vec::new();
    let unreachable_strategy = parse_unreachable(obj.get("unreachableStrategy"), &mut up);
    p.extend(
        up.into_iter()
            .map(|(k, e)| (format!("{}{k}", path(prefix, "unreachableStrategy")), e)),
    );
    let task_kill_grace_period_seconds = match obj.get("taskKillGracePeriodSeconds") {
        None | Some(Value::Null) => None,
        Some(_) => Some(ctx.number("taskKillGracePeriodSeconds", 0.0, 0.0, None, &mut p)),
    };
    let secrets = match obj.get("secrets") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(m)) => m.clone().into_iter().collect(),
        Some(_) => {
            p.push((path(prefix, "secrets"), "error.expected.jsobject".into()));
            BTreeMap::new()
        }
    };
    let role = ctx.opt_string("role", &mut p).unwrap_or_else(|| "*".into());
    let networks = match obj.get("networks") {
        None | Some(Value::Null) => {
            vec![json!({"mode": if container.is_some() { "container/bridge" } else { "host" }})]
        }
        Some(Value::Array(a)) => a.clone(),
        Some(_) => {
            p.push((path(prefix, "networks"), "error.expected.jsarray".into()));
            Vec::new()
        }
    };
    let residency = obj.get("residency").filter(|v| !v.is_null()).cloned();
    let ip_address = obj.get("ipAddress").filter(|v| !v.is_null()).cloned();
    if !p.is_empty() {
        return Err(p);
    }
    Ok(AppDefinition {
        id,
        cmd,
        args,
        user,
        env,
        instances: instances as u32,
        cpus,
        mem,
        disk,
        gpus,
        executor,
        constraints,
        uris,
        fetch,
        store_urls,
        backoff_seconds,
        backoff_factor,
        max_launch_delay_seconds,
        container,
        health_checks,
        readiness_checks,
        dependencies,
        upgrade_strategy,
        labels,
        accepted_resource_roles,
        version: version.to_owned(),
        version_info: VersionInfo {
            last_scaling_at: version.to_owned(),
            last_config_change_at: version.to_owned(),
        },
        kill_selection,
        unreachable_strategy,
        task_kill_grace_period_seconds,
        secrets,
        port_definitions,
        require_ports,
        role,
        networks,
        residency,
        ip_address,
    })
}

fn path(prefix: &str, key: &str) -> String {
    if key.is_empty() {
        if prefix.is_empty() {
            "/".into()
        } else {
            prefix.into()
        }
    } else {
        format!("{prefix}/{key}")
    }
}

struct Ctx<'a> {
    obj: &'a Map<String, Value>,
    prefix: &'a str,
}

impl Ctx<'_> {
    fn present(&self, key: &str) -> Option<&Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    fn number(&self, key: &str, default: f64, min: f64, max: Option<f64>, p: &mut Problems) -> f64 {
        match self.present(key) {
            None => default,
            Some(v) => match v.as_f64() {
                Some(n) if n.is_finite() && n >= min && max.is_none_or(|m| n <= m) => n,
                Some(_) => {
                    let bound = match max {
                        Some(m) => format!("error.range: must be between {min} and {m}"),
                        None => format!("error.min: must be greater than or equal to {min}"),
                    };
                    p.push((path(self.prefix, key), bound));
                    default
                }
                None => {
                    p.push((path(self.prefix, key), "error.expected.jsnumber".into()));
                    default
                }
            },
        }
    }

    fn bool(&self, key: &str, default: bool, p: &mut Problems) -> bool {
        match self.present(key) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                p.push((path(self.prefix, key), "error.expected.jsboolean".into()));
                default
            }
        }
    }

    fn opt_string(&self, key: &str, p: &mut Problems) -> Option<String> {
        match self.present(key) {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                p.push((path(self.prefix, key), "error.expected.jsstring".into()));
                None
            }
        }
    }

    fn opt_string_list(&self, key: &str, p: &mut Problems) -> Option<Vec<String>> {
        match self.present(key) {
            None => None,
            Some(Value::Array(a)) => {
                let mut out = Vec::new();
                for (i, v) in a.iter().enumerate() {
                    match v.as_str() {
                        Some(s) => out.push(s.to_owned()),
                        None => p.push((
                            format!("{}/{i}", path(self.prefix, key)),
                            "error.expected.jsstring".into(),
                        )),
                    }
                }
                Some(out)
            }
            Some(_) => {
                p.push((path(self.prefix, key), "error.expected.jsarray".into()));
                None
            }
        }
    }

    fn string_map(&self, key: &str, p: &mut Problems) -> BTreeMap<String, String> {
        match self.present(key) {
            None => BTreeMap::new(),
            Some(Value::Object(m)) => {
                let mut out = BTreeMap::new();
                for (k, v) in m {
                    match v {
                        Value::String(s) => {
                            out.insert(k.clone(), s.clone());
                        }
                        Value::Number(n) => {
                            out.insert(k.clone(), n.to_string());
                        }
                        Value::Bool(b) => {
                            out.insert(k.clone(), b.to_string());
                        }
                        _ => p.push((
                            format!("{}/{k}", path(self.prefix, key)),
                            "error.expected.jsstring (secret references are not supported)".into(),
                        )),
                    }
                }
                out
            }
            Some(_) => {
                p.push((path(self.prefix, key), "error.expected.jsobject".into()));
                BTreeMap::new()
            }
        }
    }

    fn array(&self, key: &str, p: &mut Problems) -> Vec<Value> {
        match self.present(key) {
            None => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(_) => {
                p.push((path(self.prefix, key), "error.expected.jsarray".into()));
                Vec::new()
            }
        }
    }
}

fn parse_constraints(v: Option<&Value>, at: &str, p: &mut Problems) -> Vec<Vec<String>> {
    let list = match v {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(a)) => a,
        Some(_) => {
            p.push((at.into(), "error.expected.jsarray".into()));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (i, c) in list.iter().enumerate() {
        let at = format!("{at}/{i}");
        let parts: Option<Vec<String>> = c.as_array().map(|a| {
            a.iter()
                .map(|x| match x {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        });
        match parts {
            Some(parts) if parts.len() == 2 || parts.len() == 3 => {
                match Constraint::parse(&parts[0], &parts[1], parts.get(2).map(String::as_str)) {
                    Ok(_) => out.push(parts),
                    Err(e) => p.push((at, e)),
                }
            }
            _ => p.push((
                at,
                "a constraint is [field, operator] or [field, operator, value]".into(),
            )),
        }
    }
    out
}

fn parse_ports(obj: &Map<String, Value>, prefix: &str, p: &mut Problems) -> Vec<PortDefinition> {
    let ports = obj.get("ports").filter(|v| !v.is_null());
    let defs = obj.get("portDefinitions").filter(|v| !v.is_null());
    // A GET answer carries both (`ports` derived from `portDefinitions`): the definitions win.
    if let (Some(ports), None) = (ports, defs) {
        let Some(a) = ports.as_array() else {
            p.push((path(prefix, "ports"), "error.expected.jsarray".into()));
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, v) in a.iter().enumerate() {
            match v.as_u64().filter(|n| *n <= 65535) {
                Some(n) => out.push(PortDefinition {
                    port: n as u32,
                    protocol: "tcp".into(),
                    name: None,
                    labels: BTreeMap::new(),
                }),
                None => p.push((
                    format!("{prefix}/ports/{i}"),
                    "error.expected.port (0-65535)".into(),
                )),
            }
        }
        return out;
    }
    let Some(defs) = defs else {
        // Marathon's default: one port, assigned.
        return vec![PortDefinition {
            port: 0,
            protocol: "tcp".into(),
            name: None,
            labels: BTreeMap::new(),
        }];
    };
    let Some(a) = defs.as_array() else {
        p.push((
            path(prefix, "portDefinitions"),
            "error.expected.jsarray".into(),
        ));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, d) in a.iter().enumerate() {
        let at = format!("{prefix}/portDefinitions/{i}");
        let Some(o) = d.as_object() else {
            p.push((at, "error.expected.jsobject".into()));
            continue;
        };
        for k in o.keys() {
            if !["port", "protocol", "name", "labels"].contains(&k.as_str()) {
                p.push((format!("{at}/{k}"), "error.unknown.property".into()));
            }
        }
        let port = match o.get("port") {
            None | Some(Value::Null) => 0,
            Some(v) => match v.as_u64().filter(|n| *n <= 65535) {
                Some(n) => n as u32,
                None => {
                    p.push((format!("{at}/port"), "error.expected.port (0-65535)".into()));
                    0
                }
            },
        };
        let protocol = match o.get("protocol").and_then(Value::as_str) {
            None => "tcp".to_owned(),
            Some(s @ ("tcp" | "udp" | "udp,tcp")) => s.to_owned(),
            Some(_) => {
                p.push((
                    format!("{at}/protocol"),
                    "error.expected.enum: tcp, udp or udp,tcp".into(),
                ));
                "tcp".into()
            }
        };
        let name = o.get("name").and_then(Value::as_str).map(str::to_owned);
        let labels = o
            .get("labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| v.to_string()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(PortDefinition {
            port,
            protocol,
            name,
            labels,
        });
    }
    out
}

fn parse_health_checks(
    v: Option<&Value>,
    at: &str,
    ports: usize,
    p: &mut Problems,
) -> Vec<HealthCheckDef> {
    let list = match v {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(a)) => a,
        Some(_) => {
            p.push((at.into(), "error.expected.jsarray".into()));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (i, hc) in list.iter().enumerate() {
        let prefix = format!("{at}/{i}");
        let Some(obj) = hc.as_object() else {
            p.push((prefix, "error.expected.jsobject".into()));
            continue;
        };
        let ctx = Ctx {
            obj,
            prefix: &prefix,
        };
        let protocol = ctx
            .opt_string("protocol", p)
            .unwrap_or_else(|| "HTTP".into());
        const PROTOCOLS: &[&str] = &[
            "HTTP",
            "HTTPS",
            "TCP",
            "COMMAND",
            "MESOS_HTTP",
            "MESOS_HTTPS",
            "MESOS_TCP",
        ];
        if protocol == "HTTPS" || protocol == "MESOS_HTTPS" {
            p.push((
                format!("{prefix}/protocol"),
                format!(
                    "{protocol} health checks are not supported (no TLS client); use HTTP or TCP"
                ),
            ));
        } else if !PROTOCOLS.contains(&protocol.as_str()) {
            p.push((
                format!("{prefix}/protocol"),
                format!("error.expected.enum: one of {}", PROTOCOLS.join(", ")),
            ));
        }
        let command = match obj.get("command") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(CommandCheck { value: s.clone() }),
            Some(Value::Object(o)) => match o.get("value").and_then(Value::as_str) {
                Some(s) => Some(CommandCheck {
                    value: s.to_owned(),
                }),
                None => {
                    p.push((
                        format!("{prefix}/command/value"),
                        "error.path.missing".into(),
                    ));
                    None
                }
            },
            Some(_) => {
                p.push((
                    format!("{prefix}/command"),
                    "error.expected.jsstring".into(),
                ));
                None
            }
        };
        if protocol == "COMMAND" && command.is_none() {
            p.push((
                format!("{prefix}/command"),
                "a COMMAND health check needs a command".into(),
            ));
        }
        let port = obj.get("port").and_then(Value::as_u64).map(|n| n as u32);
        let network = protocol != "COMMAND";
        let port_index = if network && port.is_none() {
            let idx = ctx.number("portIndex", 0.0, 0.0, None, p) as u32;
            if idx as usize >= ports {
                p.push((
                    format!("{prefix}/portIndex"),
                    format!("Health check port indices must address an element of the ports array or container port mappings (index {idx}, {ports} port(s))"),
                ));
            }
            Some(idx)
        } else {
            obj.get("portIndex")
                .and_then(Value::as_u64)
                .map(|n| n as u32)
        };
        let path_v = if protocol.ends_with("HTTP") || protocol.ends_with("HTTPS") {
            Some(ctx.opt_string("path", p).unwrap_or_else(|| "/".into()))
        } else {
            ctx.opt_string("path", p)
        };
        out.push(HealthCheckDef {
            protocol,
            path: path_v,
            port_index,
            port,
            command,
            grace_period_seconds: ctx.number("gracePeriodSeconds", 300.0, 0.0, None, p),
            interval_seconds: ctx.number("intervalSeconds", 60.0, 0.0, None, p),
            timeout_seconds: ctx.number("timeoutSeconds", 20.0, 0.0, None, p),
            max_consecutive_failures: ctx.number("maxConsecutiveFailures", 3.0, 0.0, None, p)
                as u32,
            delay_seconds: ctx.number("delaySeconds", 15.0, 0.0, None, p),
            ignore_http1xx: ctx.bool("ignoreHttp1xx", false, p),
        });
    }
    out
}

fn parse_upgrade(v: Option<&Value>, at: &str, p: &mut Problems) -> UpgradeStrategy {
    let default = UpgradeStrategy {
        minimum_health_capacity: 1.0,
        maximum_over_capacity: 1.0,
    };
    match v {
        None | Some(Value::Null) => default,
        Some(Value::Object(obj)) => {
            for k in obj.keys() {
                if k != "minimumHealthCapacity" && k != "maximumOverCapacity" {
                    p.push((format!("{at}/{k}"), "error.unknown.property".into()));
                }
            }
            let ctx = Ctx { obj, prefix: at };
            UpgradeStrategy {
                minimum_health_capacity: ctx.number(
                    "minimumHealthCapacity",
                    1.0,
                    0.0,
                    Some(1.0),
                    p,
                ),
                maximum_over_capacity: ctx.number("maximumOverCapacity", 1.0, 0.0, Some(1.0), p),
            }
        }
        Some(_) => {
            p.push((at.into(), "error.expected.jsobject".into()));
            default
        }
    }
}

fn parse_unreachable(v: Option<&Value>, p: &mut Problems) -> UnreachableStrategy {
    let default = UnreachableStrategy::Enabled {
        inactive_after_seconds: 0.0,
        expunge_after_seconds: 0.0,
    };
    match v {
        None | Some(Value::Null) => default,
        Some(Value::String(s)) if s == "disabled" => UnreachableStrategy::Disabled,
        Some(Value::Object(obj)) => {
            let ctx = Ctx { obj, prefix: "" };
            let inactive = ctx.number("inactiveAfterSeconds", 0.0, 0.0, None, p);
            let expunge = ctx.number("expungeAfterSeconds", 0.0, 0.0, None, p);
            if expunge < inactive {
                p.push((
                    "/expungeAfterSeconds".into(),
                    "expungeAfterSeconds must be greater than or equal to inactiveAfterSeconds"
                        .into(),
                ));
            }
            UnreachableStrategy::Enabled {
                inactive_after_seconds: inactive,
                expunge_after_seconds: expunge,
            }
        }
        Some(_) => {
            p.push((
                "".into(),
                "expected \"disabled\" or {inactiveAfterSeconds, expungeAfterSeconds}".into(),
            ));
            default
        }
    }
}

fn parse_container(c: &Value, at: &str, p: &mut Problems) -> Option<Value> {
    let Some(obj) = c.as_object() else {
        p.push((at.into(), "error.expected.jsobject".into()));
        return None;
    };
    for k in obj.keys() {
        if !["type", "docker", "portMappings", "volumes"].contains(&k.as_str()) {
            p.push((format!("{at}/{k}"), "error.unknown.property".into()));
        }
    }
    let kind = obj.get("type").and_then(Value::as_str).unwrap_or("DOCKER");
    if kind != "DOCKER" && kind != "MESOS" {
        p.push((
            format!("{at}/type"),
            "error.expected.enum: DOCKER or MESOS".into(),
        ));
    }
    if kind == "DOCKER"
        && obj
            .get("docker")
            .and_then(|d| d.get("image"))
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        p.push((format!("{at}/docker/image"), "error.path.missing".into()));
    }
    let mut out = obj.clone();
    out.insert("type".into(), json!(kind));
    Some(Value::Object(out))
}

/// Overlays the keys of `update` on `base` (an app's stored JSON) for PUT/PATCH: keys not
/// given keep their value; `null` resets a key to its default; giving `cmd` drops `args`
/// (and the reverse), `ports` drops `portDefinitions` (and the reverse), `uris` drops
/// `fetch` (and the reverse).
pub fn merge_update(base: &Value, update: &Value) -> Value {
    let mut merged = base.as_object().cloned().unwrap_or_default();
    if let Some(u) = update.as_object() {
        let exclusive = [
            ("cmd", "args"),
            ("ports", "portDefinitions"),
            ("uris", "fetch"),
        ];
        for (a, b) in exclusive {
            if u.get(a).is_some_and(|v| !v.is_null()) && !u.contains_key(b) {
                merged.remove(b);
            }
            if u.get(b).is_some_and(|v| !v.is_null()) && !u.contains_key(a) {
                merged.remove(a);
            }
        }
        merged.remove("ports");
        for (k, v) in u {
            if READ_ONLY_KEYS.contains(&k.as_str()) {
                continue;
            }
            if v.is_null() {
                merged.remove(k);
            } else {
                merged.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<AppDefinition, Problems> {
        parse_app(&v, &PathId::root(), "", "2024-01-01T00:00:00.000Z")
    }

    #[test]
    fn marathon_defaults_apply() {
        let app = parse(json!({"id": "web", "cmd": "sleep 1"})).unwrap();
        assert_eq!(app.id.to_string(), "/web");
        assert_eq!(app.instances, 1);
        assert_eq!(app.cpus, 1.0);
        assert_eq!(app.mem, 128.0);
        assert_eq!(app.disk, 0.0);
        assert_eq!(app.port_definitions.len(), 1);
        assert_eq!(app.port_definitions[0].port, 0);
        assert_eq!(app.backoff_factor, 1.15);
        assert_eq!(app.upgrade_strategy.minimum_health_capacity, 1.0);
        assert_eq!(app.kill_selection, "YOUNGEST_FIRST");
    }

    #[test]
    fn health_check_defaults() {
        let app = parse(json!({"id": "/web", "cmd": "x", "healthChecks": [{"protocol": "HTTP"}]}))
            .unwrap();
        let hc = &app.health_checks[0];
        assert_eq!(hc.grace_period_seconds, 300.0);
        assert_eq!(hc.interval_seconds, 60.0);
        assert_eq!(hc.timeout_seconds, 20.0);
        assert_eq!(hc.max_consecutive_failures, 3);
        assert_eq!(hc.port_index, Some(0));
        assert_eq!(hc.path.as_deref(), Some("/"));
    }

    #[test]
    fn api_json_has_only_keys_marathon_python_accepts() {
        let app = parse(json!({"id": "/web", "cmd": "x", "healthChecks": [{"protocol": "TCP"}], "ports": [0, 0]})).unwrap();
        let v = app.to_api_json();
        for k in v.as_object().unwrap().keys() {
            assert!(APP_KEYS.contains(&k.as_str()), "unexpected key {k}");
        }
        for pd in v["portDefinitions"].as_array().unwrap() {
            for k in pd.as_object().unwrap().keys() {
                assert!(
                    ["port", "protocol", "name", "labels"].contains(&k.as_str()),
                    "{k}"
                );
            }
        }
        for k in v["upgradeStrategy"].as_object().unwrap().keys() {
            assert!(["minimumHealthCapacity", "maximumOverCapacity"].contains(&k.as_str()));
        }
        assert_eq!(v["ports"], json!([0, 0]));
    }

    #[test]
    fn cmd_with_args_and_neither_are_refused() {
        let e = parse(json!({"id": "/a", "cmd": "x", "args": ["y"]})).unwrap_err();
        assert_eq!(e[0].0, "/");
        assert!(e[0].1.contains("'cmd' or 'args'"));
        let e = parse(json!({"id": "/a"})).unwrap_err();
        assert!(e[0].1.contains("'cmd' or 'args'"));
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let e = parse(json!({
            "id": "/Bad_Id", "cmd": "x", "cpus": -1, "mem": "lots", "instances": 1.5,
            "constraints": [["hostname", "NEAR"]], "bogus": 1,
            "healthChecks": [{"protocol": "HTTP", "portIndex": 3}],
            "upgradeStrategy": {"minimumHealthCapacity": 2},
        }))
        .unwrap_err();
        let paths: Vec<&str> = e.iter().map(|(p, _)| p.as_str()).collect();
        for want in [
            "/id",
            "/cpus",
            "/mem",
            "/instances",
            "/constraints/0",
            "/bogus",
            "/healthChecks/0/portIndex",
            "/upgradeStrategy/minimumHealthCapacity",
        ] {
            assert!(paths.contains(&want), "{want} missing from {paths:?}");
        }
    }

    #[test]
    fn updates_merge_and_exclusive_keys_replace_each_other() {
        let app =
            parse(json!({"id": "/a", "cmd": "x", "instances": 2, "env": {"A": "1"}})).unwrap();
        let base = serde_json::to_value(&app).unwrap();
        let merged = merge_update(&base, &json!({"instances": 5}));
        let next = parse(merged).unwrap();
        assert_eq!(next.instances, 5);
        assert_eq!(next.env.get("A").map(String::as_str), Some("1"));
        assert!(!app.config_differs(&next));
        let merged = merge_update(&base, &json!({"args": ["sleep", "1"]}));
        let next = parse(merged).unwrap();
        assert_eq!(next.cmd, None);
        assert!(app.config_differs(&next));
    }

    #[test]
    fn stored_form_round_trips() {
        let app = parse(json!({"id": "/a", "cmd": "x", "unreachableStrategy": "disabled", "container": {"type": "DOCKER", "docker": {"image": "busybox"}}})).unwrap();
        let back: AppDefinition =
            serde_json::from_value(serde_json::to_value(&app).unwrap()).unwrap();
        assert_eq!(back, app);
    }
}
