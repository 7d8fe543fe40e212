//! The state Marathon keeps besides app definitions: instances (tasks) and deployments,
//! and their JSON shapes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use strata_api::TaskState;
use strata_client::v1;
use tokio::time::Instant;

use crate::app::AppDefinition;
use crate::pathid::PathId;
use crate::time;

/// Why Marathon killed an instance (an instance killed on purpose is not a failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KillReason {
    /// Scaled down.
    Scale,
    /// Replaced by a newer version.
    Upgrade,
    /// Killed through the API.
    User,
    /// Killed through the API, scaling the app down.
    UserScale,
    /// Failed its health checks.
    Unhealthy,
    /// Its app was deleted.
    Delete,
    /// Marathon does not know the task.
    Unknown,
}

/// The result of one Marathon-side health check for one instance.
#[derive(Debug, Clone, Default)]
pub struct HealthState {
    /// Last result (`None` before the first).
    pub alive: Option<bool>,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// First success (ms).
    pub first_success: Option<u64>,
    /// Last success (ms).
    pub last_success: Option<u64>,
    /// Last failure (ms).
    pub last_failure: Option<u64>,
    /// Why it last failed.
    pub last_failure_cause: Option<String>,
}

mod state_serde {
    use serde::{Deserialize, Deserializer, Serializer};
    use strata_api::TaskState;

    pub fn serialize<S: Serializer>(s: &TaskState, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(s.as_mesos_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<TaskState, D::Error> {
        let s = String::deserialize(d)?;
        s.parse()
            .map_err(|_| serde::de::Error::custom(format!("unknown task state {s:?}")))
    }
}

/// One task of an app.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    /// The Mesos task id.
    pub task_id: String,
    /// The app.
    pub app_id: PathId,
    /// The agent it runs on.
    pub agent_id: String,
    /// The agent's hostname.
    pub host: String,
    /// The agent's attributes (for constraints).
    #[serde(default)]
    pub attributes: Vec<v1::Attribute>,
    /// Host ports.
    pub ports: Vec<u64>,
    /// The app version it was launched with.
    pub version: String,
    /// The app's `lastConfigChangeAt` it was launched with.
    pub config_version: String,
    /// When it was launched (ms).
    pub staged_at: u64,
    /// When it first ran (ms).
    pub started_at: Option<u64>,
    /// The last state heard.
    #[serde(with = "state_serde")]
    pub state: TaskState,
    /// The executor's health verdict (MESOS_* / COMMAND checks).
    #[serde(default)]
    pub mesos_healthy: Option<bool>,
    /// Set once Marathon decided to kill it.
    #[serde(default)]
    pub kill: Option<KillReason>,
    /// When the agent became unreachable (ms).
    #[serde(default)]
    pub unreachable_since: Option<u64>,
    /// When the last KILL was sent.
    #[serde(skip)]
    pub kill_sent_at: Option<Instant>,
    /// Marathon-side health results, one per app health check.
    #[serde(skip)]
    pub health: Vec<HealthState>,
    /// The last status message.
    #[serde(skip)]
    pub message: Option<String>,
}

impl Instance {
    /// Not terminal (still holds, or may hold, resources).
    pub fn is_active(&self) -> bool {
        !self.state.is_terminal()
    }

    /// Whether an update to `next` moves this instance on, rather than being a late
    /// duplicate of an update already heard. Terminal states always win. Otherwise a task
    /// only goes forward through STAGING, STARTING, RUNNING, KILLING; agents resend an
    /// update until it is acknowledged, so a STARTING can arrive after the RUNNING that
    /// followed it, and must not make a running instance count as staged again. After an
    /// unreachable spell, an instance that had run comes back with RUNNING or KILLING, not
    /// with STAGING or STARTING.
    pub fn accepts(&self, next: TaskState) -> bool {
        fn rank(s: TaskState) -> Option<u8> {
            match s {
                TaskState::Staging => Some(0),
                TaskState::Starting => Some(1),
                TaskState::Running => Some(2),
                TaskState::Killing => Some(3),
                _ => None,
            }
        }
        if next.is_terminal() {
            return true;
        }
        match (rank(self.state), rank(next)) {
            (Some(now), Some(then)) => then >= now,
            (None, Some(then)) => then >= 2 || self.started_at.is_none(),
            (_, None) => true,
        }
    }

    /// The task's JSON, in the shape marathon-python's `MarathonTask` accepts.
    pub fn to_json(&self, app: Option<&AppDefinition>) -> Value {
        let service_ports: Vec<u32> = app
            .map(AppDefinition::service_ports)
            .filter(|s| s.len() == self.ports.len())
            .unwrap_or_default();
        let mut v = json!({
            "id": self.task_id,
            "appId": self.app_id.to_string(),
            "host": self.host,
            "ports": self.ports,
            "servicePorts": service_ports,
            "slaveId": self.agent_id,
            "stagedAt": time::iso(self.staged_at),
            "startedAt": self.started_at.map(time::iso),
            "version": self.version,
            "state": self.state.as_mesos_str(),
            "ipAddresses": ip_addresses(&self.host),
            "localVolumes": [],
            "role": "*",
        });
        if let Some(app) = app.filter(|a| a.has_health_checks()) {
            let mut results = Vec::new();
            for (i, hc) in app.health_checks.iter().enumerate() {
                if hc.is_mesos() {
                    if let Some(alive) = self.mesos_healthy {
                        results.push(json!({
                            "alive": alive,
                            "consecutiveFailures": if alive { 0 } else { 1 },
                            "firstSuccess": null,
                            "lastFailure": null,
                            "lastSuccess": null,
                            "lastFailureCause": null,
                            "taskId": self.task_id,
                            "instanceId": self.task_id,
                        }));
                    }
                } else if let Some(h) = self.health.get(i).filter(|h| h.alive.is_some()) {
                    results.push(json!({
                        "alive": h.alive.unwrap_or(false),
                        "consecutiveFailures": h.consecutive_failures,
                        "firstSuccess": h.first_success.map(time::iso),
                        "lastFailure": h.last_failure.map(time::iso),
                        "lastSuccess": h.last_success.map(time::iso),
                        "lastFailureCause": h.last_failure_cause,
                        "taskId": self.task_id,
                        "instanceId": self.task_id,
                    }));
                }
            }
            v["healthCheckResults"] = json!(results);
        }
        v
    }
}

/// `[{"ipAddress", "protocol"}]` when the host is an IP address.
pub fn ip_addresses(host: &str) -> Value {
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => json!([{
            "ipAddress": ip.to_string(),
            "protocol": if ip.is_ipv4() { "IPv4" } else { "IPv6" },
        }]),
        Err(_) => json!([]),
    }
}

/// A step action of a deployment plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionKind {
    /// A new app is registered.
    StartApplication,
    /// The number of instances changes.
    ScaleApplication,
    /// Instances are replaced by a new configuration (rolling).
    RestartApplication,
    /// An app is removed: all its instances are killed.
    StopApplication,
}

impl ActionKind {
    /// Marathon's name.
    pub fn name(self) -> &'static str {
        match self {
            ActionKind::StartApplication => "StartApplication",
            ActionKind::ScaleApplication => "ScaleApplication",
            ActionKind::RestartApplication => "RestartApplication",
            ActionKind::StopApplication => "StopApplication",
        }
    }
}

/// A deployment: the plan that takes apps from `original` to `target`, one step at a time.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// The deployment id.
    pub id: String,
    /// The version it deploys.
    pub version: String,
    /// Steps of (action, app), done in order.
    pub steps: Vec<Vec<(ActionKind, PathId)>>,
    /// The step in progress (0-based; `steps.len()` when finished).
    pub current_step: usize,
    /// The apps before (absent = did not exist).
    pub original: BTreeMap<PathId, Option<AppDefinition>>,
    /// The apps after (absent = removed).
    pub target: BTreeMap<PathId, Option<AppDefinition>>,
}

impl Deployment {
    /// The apps it changes.
    pub fn affected_apps(&self) -> Vec<PathId> {
        self.target.keys().cloned().collect()
    }

    /// The first step that acts on `app`.
    pub fn step_of(&self, app: &PathId) -> Option<usize> {
        self.steps
            .iter()
            .position(|s| s.iter().any(|(_, a)| a == app))
    }

    fn steps_json(&self) -> Value {
        json!(self
            .steps
            .iter()
            .map(|s| json!({"actions": s.iter().map(|(k, a)| json!({"action": k.name(), "app": a.to_string()})).collect::<Vec<_>>()}))
            .collect::<Vec<_>>())
    }

    /// The `/v2/deployments` shape.
    pub fn to_json(&self) -> Value {
        let current: Vec<Value> = self
            .steps
            .get(self.current_step)
            .map(|s| {
                s.iter()
                    .map(|(k, a)| json!({"action": k.name(), "app": a.to_string(), "readinessCheckResults": []}))
                    .collect()
            })
            .unwrap_or_default();
        json!({
            "id": self.id,
            "version": self.version,
            "affectedApps": self.affected_apps().iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "affectedPods": [],
            "steps": self.steps_json(),
            "currentActions": current,
            "currentStep": (self.current_step + 1).min(self.steps.len().max(1)),
            "totalSteps": self.steps.len(),
        })
    }

    /// The plan as deployment events carry it (`original`, `target`, `steps`).
    pub fn plan_json(&self) -> Value {
        let group = |apps: &BTreeMap<PathId, Option<AppDefinition>>| {
            json!({
                "id": "/",
                "apps": apps.values().flatten().map(AppDefinition::to_api_json).collect::<Vec<_>>(),
                "groups": [],
                "dependencies": [],
                "version": self.version,
                "pods": [],
            })
        };
        json!({
            "id": self.id,
            "version": self.version,
            "original": group(&self.original),
            "target": group(&self.target),
            "steps": self.steps_json(),
        })
    }

    /// The current step's actions, as `currentStep` in deployment events.
    pub fn current_step_json(&self) -> Value {
        let actions: Vec<Value> = self
            .steps
            .get(self.current_step)
            .map(|s| {
                s.iter()
                    .map(|(k, a)| json!({"action": k.name(), "app": a.to_string()}))
                    .collect()
            })
            .unwrap_or_default();
        json!({ "actions": actions })
    }
}

/// An explicitly created group: its dependencies and version.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct GroupRecord {
    /// Ids this group's apps wait for.
    pub dependencies: Vec<String>,
    /// Last change.
    pub version: String,
}
