//! The Marathon core: desired state (apps, groups, deployments) and observed state
//! (instances), and the reconciler between them.
//!
//! Every change (an API call, a status update, an offer, a health result, a timer tick)
//! ends with [`Core::reconcile`], which compares an app's effective definition with its
//! instances and decides kills and launches, and moves deployments forward. It does so
//! only for the apps that changed since the last pass: those with an instance added,
//! changed or removed (the [`Instances`] index records them), those a deployment or API
//! write touched, and those with unreachable instances (whose fate depends on the clock).
//! Everything else is as it was, so a status update costs about the size of its own app,
//! not of the whole state. Launches wait in the queue for offers ([`Core::on_offers`]),
//! which spreads each app's instances over the agents offered.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use strata_api::TaskState;
use strata_client::v1;
use strata_frameworks_runtime::{
    constraints, Backoff, OfferView, Placement, PortRequest, ReconcileKind, ReconcileSchedule,
    ResourceRequest, Scheduler,
};
use strata_store::Store;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::app::{AppDefinition, HealthCheckDef, UnreachableStrategy};
use crate::error::ApiError;
use crate::events::EventBus;
use crate::health::{self, HealthReport};
use crate::index::{Deployments, Instances};
use crate::writer::{Acknowledger, InstanceWriter};
use crate::model::{ActionKind, Deployment, GroupRecord, HealthState, Instance, KillReason};
use crate::pathid::PathId;
use crate::time;

const PREFIX: &str = "marathon";
/// How often a KILL is repeated for an instance that does not die.
const KILL_RETRY: Duration = Duration::from_secs(10);
/// How often REVIVE is repeated while launches wait.
const REVIVE_INTERVAL: Duration = Duration::from_secs(5);
/// The first service port handed out for `port: 0`.
const SERVICE_PORT_BASE: u32 = 10_000;

fn key(kind: &str, rest: &str) -> String {
    format!("{PREFIX}/{kind}/{rest}")
}

/// The framework-id key.
pub const FRAMEWORK_ID_KEY: &str = "marathon/framework-id";

/// Per-app state that is not persisted: relaunch backoff, last failure, offer statistics.
#[derive(Debug)]
pub struct AppRuntime {
    backoff: Backoff,
    delay_until: Option<Instant>,
    last_failure: Option<Value>,
    since: Option<u64>,
    processed: u64,
    unused: u64,
    last_used_at: Option<u64>,
    last_unused_at: Option<u64>,
    reasons: BTreeMap<&'static str, u64>,
}

impl AppRuntime {
    fn new(app: &AppDefinition) -> Self {
        Self {
            backoff: backoff_of(app),
            delay_until: None,
            last_failure: None,
            since: None,
            processed: 0,
            unused: 0,
            last_used_at: None,
            last_unused_at: None,
            reasons: BTreeMap::new(),
        }
    }
}

fn backoff_of(app: &AppDefinition) -> Backoff {
    Backoff::new(
        Duration::from_secs_f64(app.backoff_seconds),
        app.backoff_factor,
        Duration::from_secs_f64(app.max_launch_delay_seconds),
    )
}

/// What the server says about itself on `/v2/info` and `/v2/leader`.
#[derive(Debug, Clone)]
pub struct Identity {
    /// `host:port` of the API.
    pub leader: String,
    /// The master as configured.
    pub master: String,
    /// The store URL, if any.
    pub store_url: Option<String>,
}

/// The whole Marathon state. Owned by one `tokio::sync::Mutex`; every handler and the event
/// loop take turns.
pub struct Core {
    /// Target app definitions.
    pub apps: BTreeMap<PathId, AppDefinition>,
    /// Explicit groups.
    pub groups: BTreeMap<PathId, GroupRecord>,
    /// Instances by task id, indexed by app.
    pub instances: Instances,
    /// Running deployments, oldest first, indexed by app.
    pub deployments: Deployments,
    /// Launches wanted now, per app.
    pub queue: BTreeMap<PathId, u32>,
    /// Apps the next [`Core::reconcile`] must plan again (besides those whose instances
    /// changed, which [`Instances::take_touched`] gives).
    dirty: BTreeSet<PathId>,
    runtime: BTreeMap<PathId, AppRuntime>,
    store: Arc<dyn Store>,
    /// Instance records go to the store through this, outside the lock.
    writer: InstanceWriter,
    /// Acknowledgements go to the master through this, once what they report is stored.
    acks: Option<Acknowledger>,
    scheduler: Option<Scheduler>,
    /// The event bus.
    pub events: EventBus,
    /// The framework id, once subscribed.
    pub framework_id: Option<String>,
    /// Whether a subscription is open.
    pub subscribed: bool,
    reconcile_schedule: ReconcileSchedule,
    last_version_ms: u64,
    health_tx: mpsc::UnboundedSender<HealthReport>,
    health_checks: HashMap<String, Vec<AbortHandle>>,
    last_revive: Option<Instant>,
    /// Who we are.
    pub identity: Identity,
    /// Counters for `/metrics`.
    pub counters: BTreeMap<&'static str, u64>,
    launch_failures: mpsc::UnboundedSender<Vec<String>>,
}

/// What a deploying API call answers.
#[derive(Debug, Clone)]
pub struct DeploymentRef {
    /// The deployment id.
    pub id: String,
    /// The version deployed.
    pub version: String,
}

impl Core {
    /// A core over `store`, loading what it holds.
    pub async fn load(
        store: Arc<dyn Store>,
        events: EventBus,
        identity: Identity,
        health_tx: mpsc::UnboundedSender<HealthReport>,
        launch_failures: mpsc::UnboundedSender<Vec<String>>,
    ) -> crate::Result<Core> {
        let mut core = Core {
            apps: BTreeMap::new(),
            groups: BTreeMap::new(),
            instances: Instances::new(),
            deployments: Deployments::new(),
            queue: BTreeMap::new(),
            dirty: BTreeSet::new(),
            runtime: BTreeMap::new(),
            writer: InstanceWriter::start(store.clone()),
            acks: None,
            store,
            scheduler: None,
            events,
            framework_id: None,
            subscribed: false,
            reconcile_schedule: ReconcileSchedule::new(
                Duration::from_secs(30),
                Duration::from_secs(120),
            ),
            last_version_ms: 0,
            health_tx,
            health_checks: HashMap::new(),
            last_revive: None,
            identity,
            counters: BTreeMap::new(),
            launch_failures,
        };
        for (k, v) in core.store.list(&format!("{PREFIX}/apps/")).await? {
            let app: AppDefinition = decode(&k, &v.value)?;
            core.last_version_ms = core
                .last_version_ms
                .max(time::parse_iso(&app.version).unwrap_or(0));
            core.apps.insert(app.id.clone(), app);
        }
        for (k, v) in core.store.list(&format!("{PREFIX}/groups/")).await? {
            let id = k
                .rsplit('/')
                .next()
                .and_then(PathId::from_store_key)
                .ok_or_else(|| crate::Error::Corrupt {
                    key: k.clone(),
                    reason: "bad group key".into(),
                })?;
            core.groups.insert(id, decode(&k, &v.value)?);
        }
        for (k, v) in core.store.list(&format!("{PREFIX}/tasks/")).await? {
            let inst: Instance = decode(&k, &v.value)?;
            core.instances.insert(inst);
        }
        for (k, v) in core.store.list(&format!("{PREFIX}/deployments/")).await? {
            core.deployments.push(decode(&k, &v.value)?);
        }
        // The first pass plans everything (the loaded instances' apps are touched already).
        core.dirty.extend(core.apps.keys().cloned());
        let deployed: Vec<PathId> = core
            .deployments
            .iter()
            .flat_map(|d| d.target.keys().cloned())
            .collect();
        core.dirty.extend(deployed);
        if let Ok(Some(v)) = core.store.get(FRAMEWORK_ID_KEY).await {
            core.framework_id = String::from_utf8(v.value).ok();
        }
        for app in core.apps.values() {
            core.runtime.insert(app.id.clone(), AppRuntime::new(app));
        }
        info!(
            apps = core.apps.len(),
            instances = core.instances.len(),
            deployments = core.deployments.len(),
            "marathon state loaded"
        );
        Ok(core)
    }

    /// Attaches the scheduler handle (absent in offline router tests).
    pub fn set_scheduler(&mut self, scheduler: Option<Scheduler>) {
        self.acks = scheduler.clone().map(Acknowledger::start);
        self.scheduler = scheduler;
    }

    /// Instance records queued for the store and not yet written.
    pub fn pending_writes(&self) -> usize {
        self.writer.pending()
    }

    /// A fresh version: now, strictly after every version handed out before.
    pub fn next_version(&mut self) -> String {
        let ms = time::now_ms().max(self.last_version_ms + 1);
        self.last_version_ms = ms;
        time::iso(ms)
    }

    fn bump(&mut self, name: &'static str) {
        self.bump_by(name, 1);
    }

    fn bump_by(&mut self, name: &'static str, n: u64) {
        *self.counters.entry(name).or_default() += n;
    }

    /// Makes the next [`Core::reconcile`] plan `app` again.
    fn mark_dirty(&mut self, app: &PathId) {
        if !self.dirty.contains(app) {
            self.dirty.insert(app.clone());
        }
    }

    /// Makes the next [`Core::reconcile`] plan every app `d` changes.
    fn mark_deployment_dirty(&mut self, d: &Deployment) {
        for app in d.target.keys() {
            self.mark_dirty(app);
        }
    }

    // === persistence ===

    async fn write_all(&self, writes: Vec<(String, Option<Vec<u8>>)>) -> Result<(), ApiError> {
        // Applied in order; on a failure the keys already written get their old values back,
        // so a failed API call leaves nothing half-written.
        let mut undo: Vec<(String, Option<Vec<u8>>)> = Vec::new();
        for (k, v) in writes {
            let old = match self.store.get(&k).await {
                Ok(old) => old.map(|o| o.value),
                Err(e) => {
                    self.rollback(undo).await;
                    return Err(ApiError::store(&e));
                }
            };
            let result = match v {
                Some(bytes) => self.store.put(&k, bytes).await.map(drop),
                None => self.store.delete(&k, None).await.map(drop),
            };
            if let Err(e) = result {
                self.rollback(undo).await;
                return Err(ApiError::store(&e));
            }
            undo.push((k, old));
        }
        Ok(())
    }

    async fn rollback(&self, undo: Vec<(String, Option<Vec<u8>>)>) {
        for (k, old) in undo.into_iter().rev() {
            let r = match old {
                Some(v) => self.store.put(&k, v).await.map(drop),
                None => self.store.delete(&k, None).await.map(drop),
            };
            if let Err(e) = r {
                warn!(key = %k, error = %e, "could not undo a partial write");
            }
        }
    }

    /// Queues the instance's record for the store (see [`crate::writer`]).
    fn persist_instance(&self, inst: &Instance) {
        let bytes = serde_json::to_vec(inst).unwrap_or_default();
        self.writer.put(key("tasks", &inst.task_id), bytes);
    }

    fn forget_instance(&mut self, task_id: &str) -> Option<Instance> {
        if let Some(handles) = self.health_checks.remove(task_id) {
            for h in handles {
                h.abort();
            }
        }
        self.writer.delete(key("tasks", task_id));
        self.instances.remove(task_id)
    }

    /// Writes the queued instance records and stops the writer, which holds the store
    /// open until then.
    pub async fn close_writer(&mut self) {
        self.writer.close().await;
    }

    async fn persist_deployment(&self, d: &Deployment) {
        let bytes = serde_json::to_vec(d).unwrap_or_default();
        if let Err(e) = self.store.put(&key("deployments", &d.id), bytes).await {
            warn!(deployment = %d.id, error = %e, "could not persist a deployment");
        }
    }

    async fn delete_deployment_record(&self, id: &str) {
        if let Err(e) = self.store.delete(&key("deployments", id), None).await {
            warn!(deployment = %id, error = %e, "could not delete a deployment record");
        }
    }

    // === reading ===

    /// Deployments touching `app`.
    pub fn deployments_of(&self, app: &PathId) -> Vec<&Deployment> {
        self.deployments.of_app(app).collect()
    }

    /// The definition the reconciler works toward for `app` now: the original while the
    /// app's step of a running deployment has not started, else the target.
    fn effective(&self, app: &PathId) -> Option<&AppDefinition> {
        for d in self.deployments.of_app(app) {
            if let Some(step) = d.step_of(app) {
                if d.current_step < step {
                    return d.original.get(app).and_then(Option::as_ref);
                }
            }
        }
        self.apps.get(app)
    }

    fn is_healthy(inst: &Instance, app: &AppDefinition) -> Option<bool> {
        let mut all = Some(true);
        for (i, hc) in app.health_checks.iter().enumerate() {
            let alive = if hc.is_mesos() {
                inst.mesos_healthy
            } else {
                inst.health.get(i).and_then(|h| h.alive)
            };
            match alive {
                Some(true) => {}
                Some(false) => return Some(false),
                None => all = None,
            }
        }
        all
    }

    fn is_ready(inst: &Instance, app: &AppDefinition) -> bool {
        inst.state == TaskState::Running
            && (!app.has_health_checks() || Self::is_healthy(inst, app) == Some(true))
    }

    fn inactive_unreachable(inst: &Instance, app: Option<&AppDefinition>, now_ms: u64) -> bool {
        let Some(since) = inst.unreachable_since else {
            return false;
        };
        let after = match app.map(|a| a.unreachable_strategy) {
            Some(UnreachableStrategy::Enabled {
                inactive_after_seconds,
                ..
            }) => inactive_after_seconds,
            _ => 0.0,
        };
        now_ms.saturating_sub(since) as f64 >= after * 1000.0
    }

    /// Counts for an app: (staged, running, healthy, unhealthy).
    pub fn counts(&self, app: &AppDefinition) -> (u32, u32, u32, u32) {
        let (mut staged, mut running, mut healthy, mut unhealthy) = (0, 0, 0, 0);
        for inst in self.instances.of_app(&app.id).filter(|i| i.is_active()) {
            match inst.state {
                TaskState::Staging | TaskState::Starting => staged += 1,
                TaskState::Running => running += 1,
                _ => {}
            }
            if app.has_health_checks() {
                match Self::is_healthy(inst, app) {
                    Some(true) => healthy += 1,
                    Some(false) => unhealthy += 1,
                    None => {}
                }
            }
        }
        (staged, running, healthy, unhealthy)
    }

    /// The app's API JSON with counts, deployments and, as asked, tasks and last failure.
    pub fn app_json(&self, app: &AppDefinition, tasks: bool, failure: bool) -> Value {
        let mut v = app.to_api_json();
        let (staged, running, healthy, unhealthy) = self.counts(app);
        v["tasksStaged"] = json!(staged);
        v["tasksRunning"] = json!(running);
        v["tasksHealthy"] = json!(healthy);
        v["tasksUnhealthy"] = json!(unhealthy);
        v["deployments"] = json!(self
            .deployments_of(&app.id)
            .iter()
            .map(|d| json!({"id": d.id}))
            .collect::<Vec<_>>());
        if tasks {
            v["tasks"] = json!(self.app_tasks_json(&app.id));
        }
        if failure {
            if let Some(f) = self
                .runtime
                .get(&app.id)
                .and_then(|r| r.last_failure.clone())
            {
                v["lastTaskFailure"] = f;
            }
        }
        v
    }

    /// The app's active tasks as JSON.
    pub fn app_tasks_json(&self, app: &PathId) -> Vec<Value> {
        let def = self.apps.get(app);
        self.instances
            .of_app(app)
            .filter(|i| i.is_active())
            .map(|i| i.to_json(def))
            .collect()
    }

    /// The `/v2/queue` entries.
    pub fn queue_json(&self) -> Value {
        let now = Instant::now();
        let mut out = Vec::new();
        for (id, count) in &self.queue {
            let Some(app) = self.effective(id) else {
                continue;
            };
            let rt = self.runtime.get(id);
            let left = rt
                .and_then(|r| r.delay_until)
                .map(|t| t.saturating_duration_since(now).as_secs_f64())
                .unwrap_or(0.0);
            let reasons: Vec<Value> = [
                "UnfulfilledRole",
                "UnfulfilledConstraint",
                "NoCorrespondingReservationFound",
                "AgentMaintenance",
                "InsufficientCpus",
                "InsufficientMemory",
                "InsufficientDisk",
                "InsufficientGpus",
                "InsufficientPorts",
                "DeclinedScarceResources",
            ]
            .iter()
            .map(|r| {
                let declined = rt.and_then(|rt| rt.reasons.get(r)).copied().unwrap_or(0);
                json!({"reason": r, "declined": declined, "processed": rt.map_or(0, |rt| rt.processed)})
            })
            .collect();
            out.push(json!({
                "count": count,
                "delay": {"timeLeftSeconds": left.ceil() as u64, "overdue": left <= 0.0},
                "since": rt.and_then(|r| r.since).map(time::iso),
                "app": self.app_json(app, false, false),
                "processedOffersSummary": {
                    "processedOffersCount": rt.map_or(0, |r| r.processed),
                    "unusedOffersCount": rt.map_or(0, |r| r.unused),
                    "lastUnusedOfferAt": rt.and_then(|r| r.last_unused_at).map(time::iso),
                    "lastUsedOfferAt": rt.and_then(|r| r.last_used_at).map(time::iso),
                    "rejectSummaryLastOffers": reasons,
                    "rejectSummaryLaunchAttempt": reasons,
                },
                "lastUnusedOffers": [],
            }));
        }
        json!({ "queue": out })
    }

    /// Resets an app's relaunch delay.
    pub fn reset_delay(&mut self, id: &PathId) -> bool {
        match self.runtime.get_mut(id) {
            Some(rt) => {
                rt.backoff.reset();
                rt.delay_until = None;
                true
            }
            None => false,
        }
    }

    // === deploying ===

    /// Makes `changes` (app id → new definition, or `None` to remove) the target and
    /// starts a deployment for them. 409 when a running deployment touches one of the apps
    /// and `force` is false; with `force`, those deployments are cancelled.
    pub async fn deploy(
        &mut self,
        changes: Vec<(PathId, Option<AppDefinition>)>,
        force: bool,
        version: String,
        extra_writes: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<DeploymentRef, ApiError> {
        let mut original = BTreeMap::new();
        let mut target = BTreeMap::new();
        for (id, def) in changes {
            let before = self.apps.get(&id).cloned();
            if before.is_none() && def.is_none() {
                continue;
            }
            if before == def {
                continue;
            }
            original.insert(id.clone(), before);
            target.insert(id, def);
        }
        let mut conflicts: Vec<String> = Vec::new();
        for id in target.keys() {
            for d in self.deployments.of_app(id) {
                if !conflicts.contains(&d.id) {
                    conflicts.push(d.id.clone());
                }
            }
        }
        if !conflicts.is_empty() && !force {
            return Err(ApiError::locked(&conflicts));
        }
        let steps = plan_steps(&original, &target, &self.groups);
        let deployment = Deployment {
            id: uuid::Uuid::new_v4().to_string(),
            version: version.clone(),
            steps,
            current_step: 0,
            original,
            target,
        };
        // Persist everything first: the new versions, the apps, the deployment.
        let mut writes = extra_writes;
        for (id, def) in &deployment.target {
            match def {
                Some(def) => {
                    let bytes = serde_json::to_vec(def).unwrap_or_default();
                    writes.push((
                        key("versions", &format!("{}/{}", id.store_key(), def.version)),
                        Some(bytes.clone()),
                    ));
                    writes.push((key("apps", &id.store_key()), Some(bytes)));
                }
                None => writes.push((key("apps", &id.store_key()), None)),
            }
        }
        if !deployment.steps.is_empty() {
            writes.push((
                key("deployments", &deployment.id),
                Some(serde_json::to_vec(&deployment).unwrap_or_default()),
            ));
        }
        for id in &conflicts {
            writes.push((key("deployments", id), None));
        }
        self.write_all(writes).await?;
        // Then apply in memory.
        for id in &conflicts {
            if let Some(d) = self.deployments.remove(id) {
                self.mark_deployment_dirty(&d);
                info!(deployment = %d.id, "deployment cancelled by a forced change");
                self.events.publish(
                    "deployment_failed",
                    json!({"id": d.id, "plan": d.plan_json()}),
                );
            }
        }
        for (id, def) in &deployment.target {
            self.mark_dirty(id);
            match def {
                Some(def) => {
                    let config_changed = deployment
                        .original
                        .get(id)
                        .and_then(Option::as_ref)
                        .is_none_or(|o| {
                            o.version_info.last_config_change_at
                                != def.version_info.last_config_change_at
                        });
                    let rt = self
                        .runtime
                        .entry(id.clone())
                        .or_insert_with(|| AppRuntime::new(def));
                    if config_changed {
                        rt.backoff = backoff_of(def);
                        rt.delay_until = None;
                    }
                    self.apps.insert(id.clone(), def.clone());
                }
                None => {
                    self.apps.remove(id);
                }
            }
        }
        let reference = DeploymentRef {
            id: deployment.id.clone(),
            version,
        };
        if deployment.steps.is_empty() {
            return Ok(reference);
        }
        info!(
            deployment = %deployment.id,
            apps = ?deployment.affected_apps(),
            steps = deployment.steps.len(),
            "deployment started"
        );
        self.bump("deployments");
        self.events.publish(
            "deployment_info",
            json!({"plan": deployment.plan_json(), "currentStep": deployment.current_step_json()}),
        );
        self.deployments.push(deployment);
        Ok(reference)
    }

    /// Cancels a deployment: `force` just stops it (apps stay at its target); otherwise a
    /// new deployment rolls its apps back to where they were.
    pub async fn cancel_deployment(
        &mut self,
        id: &str,
        force: bool,
    ) -> Result<Option<DeploymentRef>, ApiError> {
        let Some(d) = self.deployments.get(id).cloned() else {
            return Err(ApiError::new(
                http::StatusCode::NOT_FOUND,
                format!("DeploymentPlan {id} does not exist"),
            ));
        };
        if force {
            self.write_all(vec![(key("deployments", id), None)]).await?;
            self.deployments.remove(id);
            self.mark_deployment_dirty(&d);
            self.events.publish(
                "deployment_failed",
                json!({"id": d.id, "plan": d.plan_json()}),
            );
            return Ok(None);
        }
        let version = self.next_version();
        let changes: Vec<(PathId, Option<AppDefinition>)> = d
            .original
            .iter()
            .map(|(id, def)| {
                let def = def.clone().map(|mut a| {
                    a.version = version.clone();
                    a.version_info.last_scaling_at = version.clone();
                    a
                });
                (id.clone(), def)
            })
            .collect();
        let reference = self.deploy(changes, true, version, Vec::new()).await?;
        Ok(Some(reference))
    }

    // === the reconciler ===

    /// Compares each app that changed since the last pass with its instances: kills what
    /// must go, queues what must start, and moves forward the deployments of those apps.
    /// Apps that did not change keep their queue entries: nothing they depend on moved.
    pub async fn reconcile(&mut self) {
        let now_ms = time::now_ms();
        let mut ids = std::mem::take(&mut self.dirty);
        ids.extend(self.instances.take_touched());
        if ids.is_empty() {
            return;
        }
        self.bump("reconcile_passes");
        self.bump_by("reconcile_apps_planned", ids.len() as u64);
        let mut kills: Vec<(String, KillReason)> = Vec::new();
        let mut newly_waiting = false;
        for id in &ids {
            let (k, launches) = self.plan_app(id, now_ms);
            kills.extend(k);
            if launches > 0 {
                newly_waiting |= self.queue.insert(id.clone(), launches).is_none();
                if let Some(rt) = self.runtime.get_mut(id) {
                    rt.since.get_or_insert(now_ms);
                }
            } else {
                self.queue.remove(id);
                if let Some(rt) = self.runtime.get_mut(id) {
                    rt.since = None;
                }
            }
        }
        for (task_id, reason) in kills {
            self.kill(&task_id, reason).await;
        }
        if newly_waiting {
            self.revive(true);
        }
        self.advance_deployments(&ids).await;
        self.forget_removed_apps(&ids);
    }

    /// Kills and launches for one app.
    fn plan_app(&self, id: &PathId, now_ms: u64) -> (Vec<(String, KillReason)>, u32) {
        let mut kills = Vec::new();
        let active: Vec<&Instance> = self
            .instances
            .of_app(id)
            .filter(|i| i.is_active())
            .collect();
        let Some(app) = self.effective(id) else {
            for i in active.iter().filter(|i| i.kill.is_none()) {
                kills.push((i.task_id.clone(), KillReason::Delete));
            }
            return (kills, 0);
        };
        let live: Vec<&Instance> = active
            .iter()
            .copied()
            .filter(|i| i.kill.is_none() && !Self::inactive_unreachable(i, Some(app), now_ms))
            .collect();
        let config = &app.version_info.last_config_change_at;
        let mut current: Vec<&Instance> = live
            .iter()
            .copied()
            .filter(|i| &i.config_version == config)
            .collect();
        let mut outdated: Vec<&Instance> = live
            .iter()
            .copied()
            .filter(|i| &i.config_version != config)
            .collect();
        let n = app.instances as usize;
        let ready = |i: &Instance| Self::is_ready(i, app);
        // Instances that should go first: not ready, then by kill selection.
        let order = |v: &mut Vec<&Instance>| {
            let youngest_first = app.kill_selection != "OLDEST_FIRST";
            v.sort_by(|a, b| {
                ready(a).cmp(&ready(b)).then_with(|| {
                    if youngest_first {
                        b.staged_at.cmp(&a.staged_at)
                    } else {
                        a.staged_at.cmp(&b.staged_at)
                    }
                })
            });
        };
        order(&mut current);
        order(&mut outdated);
        if current.len() > n {
            for i in current.drain(..current.len() - n) {
                kills.push((i.task_id.clone(), KillReason::Scale));
            }
        }
        if outdated.is_empty() {
            return (kills, (n - current.len()) as u32);
        }
        if n == 0 {
            for i in &outdated {
                kills.push((i.task_id.clone(), KillReason::Scale));
            }
            return (kills, 0);
        }
        // A rolling upgrade: keep at least minimumHealthCapacity x n ready, run at most
        // (1 + maximumOverCapacity) x n.
        let min_healthy = (n as f64 * app.upgrade_strategy.minimum_health_capacity).ceil() as usize;
        let max_capacity =
            (n as f64 * (1.0 + app.upgrade_strategy.maximum_over_capacity)).floor() as usize;
        let mut ready_total = current.iter().filter(|i| ready(i)).count()
            + outdated.iter().filter(|i| ready(i)).count();
        let mut remaining_old = outdated.len();
        let mut killed_any = false;
        for i in &outdated {
            let victim_ready = ready(i);
            let over_capacity = current.len() + remaining_old > max_capacity.max(n);
            if victim_ready && ready_total <= min_healthy && !over_capacity {
                continue;
            }
            kills.push((i.task_id.clone(), KillReason::Upgrade));
            killed_any = true;
            remaining_old -= 1;
            if victim_ready {
                ready_total -= 1;
            }
        }
        let want_new = n.saturating_sub(current.len());
        let room = max_capacity.saturating_sub(current.len() + remaining_old);
        let launches = want_new.min(room);
        // Something is still changing: a kill under way, or a new instance not ready yet.
        let in_flight =
            active.iter().any(|i| i.kill.is_some()) || current.iter().any(|i| !ready(i));
        if launches == 0 && want_new > 0 && !killed_any && !in_flight && remaining_old > 0 {
            // minimumHealthCapacity 1 with no room above: make room for one new instance.
            if let Some(i) = outdated.first() {
                kills.push((i.task_id.clone(), KillReason::Upgrade));
            }
        }
        (kills, launches as u32)
    }

    fn converged(&self, app: &AppDefinition) -> bool {
        let config = &app.version_info.last_config_change_at;
        let mut current = 0;
        for i in self.instances.of_app(&app.id).filter(|i| i.is_active()) {
            if i.kill.is_some() || &i.config_version != config {
                return false;
            }
            if !Self::is_ready(i, app) {
                return false;
            }
            current += 1;
        }
        current == app.instances as usize
    }

    fn action_done(&self, kind: ActionKind, app: &PathId) -> bool {
        match kind {
            ActionKind::StartApplication => true,
            ActionKind::StopApplication => !self.instances.of_app(app).any(Instance::is_active),
            ActionKind::ScaleApplication | ActionKind::RestartApplication => {
                match self.apps.get(app) {
                    Some(def) => self.converged(def),
                    None => true,
                }
            }
        }
    }

    /// Moves forward the deployments that change one of `apps` (only those can have
    /// finished a step since the last pass), oldest first.
    async fn advance_deployments(&mut self, apps: &BTreeSet<PathId>) {
        let mut candidates: BTreeSet<(String, String)> = BTreeSet::new();
        for app in apps {
            for d in self.deployments.of_app(app) {
                candidates.insert((d.version.clone(), d.id.clone()));
            }
        }
        for (_, id) in candidates {
            let mut advanced = false;
            while let Some(step) = self
                .deployments
                .get(&id)
                .and_then(|d| d.steps.get(d.current_step))
            {
                if !step.iter().all(|(k, a)| self.action_done(*k, a)) {
                    break;
                }
                let Some(d) = self.deployments.advance(&id) else {
                    break;
                };
                advanced = true;
                self.events.publish(
                    "deployment_step_success",
                    json!({"plan": d.plan_json(), "currentStep": d.current_step_json()}),
                );
                if d.current_step < d.steps.len() {
                    self.events.publish(
                        "deployment_info",
                        json!({"plan": d.plan_json(), "currentStep": d.current_step_json()}),
                    );
                }
            }
            let finished = self
                .deployments
                .get(&id)
                .is_some_and(|d| d.current_step >= d.steps.len());
            if !advanced && !finished {
                continue;
            }
            let Some(d) = self.deployments.get(&id).cloned() else {
                continue;
            };
            // The next step's apps now work toward their targets.
            self.mark_deployment_dirty(&d);
            if d.current_step >= d.steps.len() {
                self.delete_deployment_record(&d.id).await;
                self.deployments.remove(&d.id);
                info!(deployment = %d.id, "deployment finished");
                self.events.publish(
                    "deployment_success",
                    json!({"id": d.id, "plan": d.plan_json()}),
                );
                for (app, def) in &d.target {
                    if def.is_none() {
                        self.events
                            .publish("app_terminated_event", json!({"appId": app.to_string()}));
                    }
                }
                continue;
            }
            self.persist_deployment(&d).await;
        }
    }

    /// Drops the runtime state of those of `apps` that are gone (no definition, no
    /// instance, no deployment).
    fn forget_removed_apps(&mut self, apps: &BTreeSet<PathId>) {
        for app in apps {
            if !self.apps.contains_key(app)
                && !self.instances.has_app(app)
                && !self.deployments.touches(app)
            {
                self.runtime.remove(app);
            }
        }
    }

    /// Kills one instance (again, if it did not die within [`KILL_RETRY`]).
    async fn kill(&mut self, task_id: &str, reason: KillReason) {
        let (first, snapshot) = {
            let Some(mut inst) = self.instances.get_mut(task_id) else {
                return;
            };
            let first = inst.kill.is_none();
            inst.kill.get_or_insert(reason);
            inst.kill_sent_at = Some(Instant::now());
            (first, inst.clone())
        };
        let grace = self
            .apps
            .get(&snapshot.app_id)
            .and_then(|a| a.task_kill_grace_period_seconds)
            .map(Duration::from_secs_f64);
        let (tid, aid) = (snapshot.task_id.clone(), snapshot.agent_id.clone());
        if first {
            info!(task_id = %tid, ?reason, "killing task");
            self.persist_instance(&snapshot);
        }
        if let Some(s) = self.scheduler.clone() {
            tokio::spawn(async move {
                if let Err(e) = s
                    .kill(v1::task_id(&tid), Some(v1::agent_id(&aid)), grace)
                    .await
                {
                    debug!(task_id = %tid, error = %e, "KILL not sent; retried later");
                }
            });
        }
    }

    /// Kills a task through the API; `scale` lowers the app's instances.
    pub async fn kill_tasks(
        &mut self,
        task_ids: &[String],
        scale: bool,
        force: bool,
    ) -> Result<(Vec<Value>, Option<DeploymentRef>), ApiError> {
        let mut killed = Vec::new();
        let mut per_app: BTreeMap<PathId, u32> = BTreeMap::new();
        for t in task_ids {
            let Some(inst) = self.instances.get(t).filter(|i| i.is_active()) else {
                continue;
            };
            killed.push(inst.to_json(self.apps.get(&inst.app_id)));
            *per_app.entry(inst.app_id.clone()).or_default() += 1;
        }
        let mut reference = None;
        if scale && !per_app.is_empty() {
            let version = self.next_version();
            let changes = per_app
                .iter()
                .filter_map(|(id, n)| {
                    let mut def = self.apps.get(id)?.clone();
                    def.instances = def.instances.saturating_sub(*n);
                    def.version = version.clone();
                    def.version_info.last_scaling_at = version.clone();
                    Some((id.clone(), Some(def)))
                })
                .collect();
            reference = Some(self.deploy(changes, force, version, Vec::new()).await?);
        }
        let reason = if scale {
            KillReason::UserScale
        } else {
            KillReason::User
        };
        for t in task_ids {
            if self.instances.get(t).is_some_and(|i| i.is_active()) {
                self.kill(t, reason).await;
            }
        }
        Ok((killed, reference))
    }

    // === offers ===

    /// Places queued launches on `offers`; launches and declines through the scheduler.
    pub async fn on_offers(&mut self, offers: Vec<v1::Offer>) {
        let Some(scheduler) = self.scheduler.clone() else {
            return;
        };
        let placed = self.place_on_offers(&offers);
        let mut declines = Vec::new();
        for (offer, tasks) in offers.iter().zip(placed) {
            let offer_id = offer.id.clone().unwrap_or_default();
            if tasks.is_empty() {
                declines.push(offer_id);
                continue;
            }
            for t in &tasks {
                if let Some(inst) = t
                    .task_id
                    .as_ref()
                    .and_then(|id| self.instances.get(&id.value))
                {
                    self.persist_instance(inst);
                }
            }
            let ids: Vec<String> = tasks
                .iter()
                .filter_map(|t| t.task_id.as_ref().map(|i| i.value.clone()))
                .collect();
            info!(offer = %offer_id.value, host = %offer.hostname, tasks = ?ids, "launching");
            self.bump("tasks_launched");
            let s = scheduler.clone();
            let failures = self.launch_failures.clone();
            // A task the master runs must be known after a restart: its record first.
            let recorded = self.writer.barrier();
            tokio::spawn(async move {
                let _ = recorded.await;
                if let Err(e) = s
                    .launch(vec![offer_id], tasks, Some(Duration::from_secs(1)))
                    .await
                {
                    warn!(error = %e, "ACCEPT failed; the tasks will be replaced");
                    let _ = failures.send(ids);
                }
            });
        }
        if !declines.is_empty() {
            let refuse = if self.queue.is_empty() { 10.0 } else { 1.0 };
            let s = scheduler.clone();
            tokio::spawn(async move {
                let _ = s
                    .decline(declines, Some(Duration::from_secs_f64(refuse)))
                    .await;
            });
        }
    }

    /// Places queued launches on `offers` (recording the instances) and returns the tasks
    /// for each offer, in the offers' order. Apps are served in queue order; each instance
    /// of an app goes to the offer whose agent holds the fewest of that app's instances so
    /// far, and among those to the one with the most cpus left (then the earlier offer), so
    /// with several agents offered an app spreads over them instead of filling one agent
    /// first, and apps served one after the other do not all start on the same agent.
    /// Constraints are checked per placement as before; an offer that cannot take an
    /// instance is not tried again for that app.
    fn place_on_offers(&mut self, offers: &[v1::Offer]) -> Vec<Vec<v1::TaskInfo>> {
        let now = Instant::now();
        let now_ms = time::now_ms();
        let mut views: Vec<OfferView> = offers.iter().map(OfferView::new).collect();
        let mut tasks: Vec<Vec<v1::TaskInfo>> = vec![Vec::new(); offers.len()];
        let waiting: Vec<PathId> = self.queue.keys().cloned().collect();
        for id in waiting {
            let Some(app) = self.effective(&id).cloned() else {
                continue;
            };
            let rt = self
                .runtime
                .entry(id.clone())
                .or_insert_with(|| AppRuntime::new(&app));
            if rt.delay_until.is_some_and(|t| t > now) {
                continue;
            }
            let mut load: HashMap<String, usize> = HashMap::new();
            for i in self.instances.of_app(&id).filter(|i| i.is_active()) {
                *load.entry(i.agent_id.clone()).or_default() += 1;
            }
            // Per offer: tried for this app, still open to it, used by it.
            let mut tried = vec![false; views.len()];
            let mut open = vec![true; views.len()];
            let mut used = vec![false; views.len()];
            while self.queue.get(&id).copied().unwrap_or(0) > 0 {
                let app_load = |k: usize| {
                    load.get(&views[k].agent_id.value)
                        .copied()
                        .unwrap_or(0)
                };
                let Some(k) = (0..views.len())
                    .filter(|k| open[*k])
                    .min_by(|a, b| {
                        app_load(*a)
                            .cmp(&app_load(*b))
                            .then_with(|| {
                                let free = |k: usize| views[k].remaining.scalar("cpus");
                                free(*b).total_cmp(&free(*a))
                            })
                            .then_with(|| a.cmp(b))
                    })
                else {
                    break;
                };
                tried[k] = true;
                match self.place(&app, &mut views[k]) {
                    Ok(task) => {
                        tasks[k].push(task);
                        used[k] = true;
                        *load.entry(views[k].agent_id.value.clone()).or_default() += 1;
                        if let Some(n) = self.queue.get_mut(&id) {
                            *n -= 1;
                        }
                    }
                    Err(reason) => {
                        open[k] = false;
                        if let Some(rt) = self.runtime.get_mut(&id) {
                            *rt.reasons.entry(reason).or_default() += 1;
                        }
                    }
                }
            }
            if let Some(rt) = self.runtime.get_mut(&id) {
                for k in (0..views.len()).filter(|k| tried[*k]) {
                    rt.processed += 1;
                    if used[k] {
                        rt.last_used_at = Some(now_ms);
                    } else {
                        rt.unused += 1;
                        rt.last_unused_at = Some(now_ms);
                    }
                }
            }
        }
        self.queue.retain(|_, n| *n > 0);
        tasks
    }

    /// Builds one task of `app` on the offer (recording the instance), or says why not.
    fn place(
        &mut self,
        app: &AppDefinition,
        view: &mut OfferView,
    ) -> Result<v1::TaskInfo, &'static str> {
        if let Some(roles) = &app.accepted_resource_roles {
            if !roles.iter().any(|r| r == "*") {
                return Err("UnfulfilledRole");
            }
        }
        let mappings = app.container_port_mappings();
        let ports: Vec<PortRequest> = if !mappings.is_empty() {
            mappings
                .iter()
                .map(|m| match m.get("hostPort").and_then(Value::as_u64) {
                    Some(p) if p > 0 => PortRequest::Exact(p),
                    _ => PortRequest::Any,
                })
                .collect()
        } else {
            app.port_definitions
                .iter()
                .map(|p| {
                    if app.require_ports && p.port > 0 {
                        PortRequest::Exact(p.port as u64)
                    } else {
                        PortRequest::Any
                    }
                })
                .collect()
        };
        let request = ResourceRequest {
            cpus: app.cpus,
            mem: app.mem,
            disk: app.disk,
            gpus: app.gpus,
            ports,
        };
        if let Some(s) = view.shortfalls(&request).first() {
            return Err(s.marathon_reason());
        }
        let constraints = app.parsed_constraints();
        if !constraints.is_empty() {
            let placed: Vec<Placement<'_>> = self
                .instances
                .of_app(&app.id)
                .filter(|i| i.is_active() && i.kill.is_none())
                .map(|i| Placement {
                    hostname: &i.host,
                    attributes: &i.attributes,
                })
                .collect();
            if !constraints::all_met(&constraints, &view.placement(), &placed) {
                return Err("UnfulfilledConstraint");
            }
        }
        let claim = view.claim(&request).map_err(|s| s[0].marathon_reason())?;
        let task_id = format!("{}.{}", app.id.task_prefix(), uuid::Uuid::new_v4());
        let task = crate::launch::task_info(app, &task_id, view, &claim.ports, claim.to_wire());
        let inst = Instance {
            task_id: task_id.clone(),
            app_id: app.id.clone(),
            agent_id: view.agent_id.value.clone(),
            host: view.hostname.clone(),
            attributes: view.attributes.clone(),
            ports: claim.ports.clone(),
            version: app.version.clone(),
            config_version: app.version_info.last_config_change_at.clone(),
            staged_at: time::now_ms(),
            started_at: None,
            state: TaskState::Staging,
            mesos_healthy: None,
            kill: None,
            unreachable_since: None,
            kill_sent_at: None,
            health: vec![HealthState::default(); app.health_checks.len()],
            message: None,
        };
        self.instances.insert(inst);
        Ok(task)
    }

    fn revive(&mut self, now_needed: bool) {
        let Some(s) = self.scheduler.clone() else {
            return;
        };
        let due = now_needed
            || self
                .last_revive
                .is_none_or(|t| t.elapsed() >= REVIVE_INTERVAL);
        if !due {
            return;
        }
        self.last_revive = Some(Instant::now());
        tokio::spawn(async move {
            let _ = s.revive().await;
        });
    }

    /// Launches that the master never accepted: forget the instances so they are replaced.
    pub async fn on_launch_failed(&mut self, task_ids: Vec<String>) {
        for t in task_ids {
            if self
                .instances
                .get(&t)
                .is_some_and(|i| i.state == TaskState::Staging)
            {
                self.forget_instance(&t);
            }
        }
        self.reconcile().await;
    }

    // === status updates ===

    /// A subscription opened.
    pub async fn on_subscribed(&mut self, framework_id: String) {
        self.framework_id = Some(framework_id);
        self.subscribed = true;
        self.reconcile_schedule.subscribed(Instant::now());
        self.last_revive = None;
        // After a restart, Marathon-side checks of running instances start again.
        let running: Vec<Instance> = self
            .instances
            .values()
            .filter(|i| {
                i.state == TaskState::Running && !self.health_checks.contains_key(&i.task_id)
            })
            .cloned()
            .collect();
        for inst in running {
            let app = self.apps.get(&inst.app_id).cloned();
            if let Some(app) = app.as_ref() {
                if inst.health.len() != app.health_checks.len() {
                    if let Some(mut i) = self.instances.get_mut(&inst.task_id) {
                        i.health
                            .resize(app.health_checks.len(), HealthState::default());
                    }
                }
            }
            self.start_health_checks(&inst, app.as_ref());
        }
        self.tick().await;
    }

    /// The subscription was lost.
    pub fn on_disconnected(&mut self) {
        self.subscribed = false;
        self.reconcile_schedule.disconnected();
    }

    /// A task status update: update the instance, publish, and acknowledge once persisted.
    pub async fn on_update(&mut self, status: v1::TaskStatus) {
        let task_id = status
            .task_id
            .as_ref()
            .map(|t| t.value.clone())
            .unwrap_or_default();
        let state = status.task_state();
        let now_ms = time::now_ms();
        let Some(known) = self.instances.get(&task_id) else {
            if !state.is_terminal() && !task_id.is_empty() {
                warn!(
                    task_id,
                    "status for a task Marathon does not know; killing it"
                );
                if let Some(s) = self.scheduler.clone() {
                    let agent = status.agent_id.clone();
                    let tid = task_id.clone();
                    tokio::spawn(async move {
                        let _ = s.kill(v1::task_id(&tid), agent, None).await;
                    });
                }
            }
            self.acknowledge(&status);
            return;
        };
        if !known.accepts(state) {
            debug!(
                task_id,
                state = state.as_mesos_str(),
                current = known.state.as_mesos_str(),
                "late duplicate status ignored"
            );
            self.bump("status_updates_stale");
            self.acknowledge(&status);
            return;
        }
        let Some(mut inst) = self.instances.get_mut(&task_id) else {
            return;
        };
        let previous = inst.state;
        let state_changed = previous != state;
        inst.message = status.message.clone();
        if let Some(a) = &status.agent_id {
            inst.agent_id = a.value.clone();
        }
        let mut health_changed = None;
        if let Some(h) = status.healthy {
            if inst.mesos_healthy != Some(h) {
                health_changed = Some(h);
            }
            inst.mesos_healthy = Some(h);
        }
        inst.state = state;
        if state == TaskState::Running {
            inst.started_at.get_or_insert(now_ms);
            inst.unreachable_since = None;
        }
        if state == TaskState::Unreachable {
            inst.unreachable_since.get_or_insert(now_ms);
        }
        let snapshot = inst.clone();
        drop(inst);
        let app = self.apps.get(&snapshot.app_id).cloned();
        if state_changed {
            info!(task_id, state = state.as_mesos_str(), message = ?status.message, "task status");
            self.events.publish(
                "status_update_event",
                json!({
                    "slaveId": snapshot.agent_id,
                    "taskId": task_id,
                    "taskStatus": state.as_mesos_str(),
                    "message": status.message.clone().unwrap_or_default(),
                    "appId": snapshot.app_id.to_string(),
                    "host": snapshot.host,
                    "ports": snapshot.ports,
                    "ipAddresses": crate::model::ip_addresses(&snapshot.host),
                    "version": snapshot.version,
                }),
            );
        }
        if let Some(alive) = health_changed {
            self.events.publish(
                "health_status_changed_event",
                json!({
                    "appId": snapshot.app_id.to_string(),
                    "taskId": task_id,
                    "instanceId": task_id,
                    "version": snapshot.version,
                    "alive": alive,
                }),
            );
        }
        if state.is_terminal() {
            self.on_terminal(snapshot, &status, app.as_ref()).await;
        } else {
            // STARTING is not worth a disk write: a restarted Marathon shows the instance
            // STAGING until reconciliation reports where it is.
            let worth_writing = state_changed && state != TaskState::Starting;
            if worth_writing || health_changed.is_some() {
                self.persist_instance(&snapshot);
            }
            if state == TaskState::Running && state_changed {
                self.start_health_checks(&snapshot, app.as_ref());
            }
        }
        self.acknowledge(&status);
        self.reconcile().await;
    }

    async fn on_terminal(
        &mut self,
        inst: Instance,
        status: &v1::TaskStatus,
        app: Option<&AppDefinition>,
    ) {
        self.forget_instance(&inst.task_id);
        let state = inst.state;
        if inst.kill.is_some() {
            return;
        }
        // Not killed by Marathon: a failure. Lost tasks (agent gone, launch refused) are
        // replaced at once; tasks that failed are replaced after the app's backoff.
        let reason = status
            .reason
            .and_then(|r| v1::TaskStatusReason::try_from(r).ok());
        let lost = matches!(
            state,
            TaskState::Lost
                | TaskState::Gone
                | TaskState::GoneByOperator
                | TaskState::Dropped
                | TaskState::Unknown
        ) || reason == Some(v1::TaskStatusReason::ReasonInvalidOffers);
        self.bump("tasks_failed");
        let failure = json!({
            "appId": inst.app_id.to_string(),
            "host": inst.host,
            "message": status.message.clone().unwrap_or_default(),
            "taskId": inst.task_id,
            "instanceId": inst.task_id,
            "slaveId": inst.agent_id,
            "state": state.as_mesos_str(),
            "timestamp": time::iso(time::now_ms()),
            "version": inst.version,
        });
        let Some(app) = app else {
            return;
        };
        let rt = self
            .runtime
            .entry(inst.app_id.clone())
            .or_insert_with(|| AppRuntime::new(app));
        rt.last_failure = Some(failure);
        if !lost {
            let delay = rt.backoff.next_delay();
            rt.delay_until = Some(Instant::now() + delay);
            info!(app = %inst.app_id, task_id = %inst.task_id, delay_secs = delay.as_secs_f64(), "task failed; relaunch delayed");
        }
    }

    fn acknowledge(&self, status: &v1::TaskStatus) {
        if status.uuid.is_none() {
            return;
        }
        if let Some(acks) = &self.acks {
            // Only once what the update changed is on disk: until then the agent resends it.
            acks.acknowledge(self.writer.barrier(), status.clone());
        }
    }

    // === health ===

    fn start_health_checks(&mut self, inst: &Instance, app: Option<&AppDefinition>) {
        let Some(app) = app else {
            return;
        };
        if app.version_info.last_config_change_at != inst.config_version {
            // The instance runs an older configuration; its checks are those of that one.
        }
        let mut handles = Vec::new();
        for (index, hc) in app.health_checks.iter().enumerate() {
            if hc.is_mesos() {
                continue;
            }
            let Some(port) = check_port(hc, &inst.ports) else {
                continue;
            };
            handles.push(health::spawn(
                inst.task_id.clone(),
                index,
                hc.clone(),
                health::Target {
                    host: inst.host.clone(),
                    port,
                },
                self.health_tx.clone(),
            ));
        }
        if !handles.is_empty() {
            if let Some(old) = self.health_checks.insert(inst.task_id.clone(), handles) {
                for h in old {
                    h.abort();
                }
            }
        }
    }

    /// One Marathon-side health check result.
    pub async fn on_health(&mut self, report: HealthReport) {
        let now_ms = time::now_ms();
        let Some(app_id) = self.instances.get(&report.task_id).map(|i| &i.app_id) else {
            return;
        };
        let Some(app) = self.apps.get(app_id).cloned() else {
            return;
        };
        let Some(hc) = app.health_checks.get(report.index).cloned() else {
            return;
        };
        let Some(mut inst) = self.instances.get_mut(&report.task_id) else {
            return;
        };
        if inst.health.len() < app.health_checks.len() {
            inst.health
                .resize(app.health_checks.len(), HealthState::default());
        }
        let started = inst.started_at.unwrap_or(inst.staged_at);
        let h = &mut inst.health[report.index];
        let before = h.alive;
        let mut kill = false;
        if report.ok {
            h.alive = Some(true);
            h.consecutive_failures = 0;
            h.first_success.get_or_insert(now_ms);
            h.last_success = Some(now_ms);
        } else {
            let in_grace = h.first_success.is_none()
                && (now_ms.saturating_sub(started) as f64) < hc.grace_period_seconds * 1000.0;
            if in_grace {
                return;
            }
            h.alive = Some(false);
            h.consecutive_failures += 1;
            h.last_failure = Some(now_ms);
            h.last_failure_cause = report.cause.clone();
            kill = hc.max_consecutive_failures > 0
                && h.consecutive_failures >= hc.max_consecutive_failures;
        }
        let after = h.alive;
        let snapshot = inst.clone();
        drop(inst);
        let hc_json = serde_json::to_value(&hc).unwrap_or_default();
        if !report.ok {
            self.events.publish(
                "failed_health_check_event",
                json!({"appId": snapshot.app_id.to_string(), "taskId": snapshot.task_id, "instanceId": snapshot.task_id, "healthCheck": hc_json}),
            );
        }
        if before != after {
            self.events.publish(
                "health_status_changed_event",
                json!({
                    "appId": snapshot.app_id.to_string(),
                    "taskId": snapshot.task_id,
                    "instanceId": snapshot.task_id,
                    "version": snapshot.version,
                    "alive": after.unwrap_or(false),
                }),
            );
        }
        if kill && snapshot.kill.is_none() {
            warn!(task_id = %snapshot.task_id, cause = ?report.cause, "task failed its health check; killing it");
            self.events.publish(
                "unhealthy_task_kill_event",
                json!({
                    "appId": snapshot.app_id.to_string(),
                    "taskId": snapshot.task_id,
                    "instanceId": snapshot.task_id,
                    "version": snapshot.version,
                    "reason": report.cause.unwrap_or_default(),
                    "host": snapshot.host,
                    "slaveId": snapshot.agent_id,
                }),
            );
            self.kill(&snapshot.task_id, KillReason::Unhealthy).await;
        }
        if before != after || kill {
            self.reconcile().await;
        }
    }

    // === timers ===

    /// Once a second: reconciliation with the master, kill retries, unreachable instances,
    /// relaunch delays, REVIVE while launches wait.
    pub async fn tick(&mut self) {
        let now = Instant::now();
        let now_ms = time::now_ms();
        if let Some(kind) = self.reconcile_schedule.due(now) {
            if let Some(s) = self.scheduler.clone() {
                let tasks: Vec<(v1::TaskId, Option<v1::AgentId>)> = match kind {
                    ReconcileKind::Explicit => self
                        .instances
                        .values()
                        .map(|i| (v1::task_id(&i.task_id), Some(v1::agent_id(&i.agent_id))))
                        .collect(),
                    ReconcileKind::Implicit => Vec::new(),
                };
                let explicit_empty = kind == ReconcileKind::Explicit && tasks.is_empty();
                if !explicit_empty {
                    debug!(?kind, tasks = tasks.len(), "reconciling");
                    tokio::spawn(async move {
                        let _ = s.reconcile(tasks).await;
                    });
                }
            }
        }
        let retries: Vec<(String, KillReason)> = self
            .instances
            .killing()
            .filter_map(|i| {
                let reason = i.kill?;
                let due = i
                    .kill_sent_at
                    .is_none_or(|t| now.duration_since(t) >= KILL_RETRY);
                (due && i.is_active() && i.unreachable_since.is_none())
                    .then(|| (i.task_id.clone(), reason))
            })
            .collect();
        for (t, r) in retries {
            self.kill(&t, r).await;
        }
        // Unreachable instances past expungeAfterSeconds are forgotten.
        let expunge: Vec<String> = self
            .instances
            .unreachable()
            .filter(|i| {
                let Some(since) = i.unreachable_since else {
                    return false;
                };
                let after = match self.apps.get(&i.app_id).map(|a| a.unreachable_strategy) {
                    Some(UnreachableStrategy::Enabled {
                        expunge_after_seconds,
                        ..
                    }) => expunge_after_seconds,
                    _ => 0.0,
                };
                now_ms.saturating_sub(since) as f64 >= after * 1000.0
            })
            .map(|i| i.task_id.clone())
            .collect();
        for t in expunge {
            info!(task_id = %t, "unreachable instance expunged");
            self.forget_instance(&t);
        }
        // Whether an unreachable instance still counts depends on the clock
        // (inactiveAfterSeconds): its app is planned again on every tick.
        let unreachable_apps: BTreeSet<PathId> = self
            .instances
            .unreachable()
            .map(|i| i.app_id.clone())
            .collect();
        self.dirty.extend(unreachable_apps);
        if !self.queue.is_empty() {
            self.revive(false);
        }
        self.reconcile().await;
    }
}

fn check_port(hc: &HealthCheckDef, ports: &[u64]) -> Option<u16> {
    if let Some(p) = hc.port {
        return u16::try_from(p).ok();
    }
    ports
        .get(hc.port_index.unwrap_or(0) as usize)
        .and_then(|p| u16::try_from(*p).ok())
}

fn decode<T: serde::de::DeserializeOwned>(key: &str, bytes: &[u8]) -> crate::Result<T> {
    serde_json::from_slice(bytes).map_err(|e| crate::Error::Corrupt {
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

/// The steps that take `original` to `target`: removals first, then apps by dependency
/// level; a new app gets StartApplication then ScaleApplication, a changed one
/// RestartApplication (configuration) or ScaleApplication (instances only).
pub fn plan_steps(
    original: &BTreeMap<PathId, Option<AppDefinition>>,
    target: &BTreeMap<PathId, Option<AppDefinition>>,
    groups: &BTreeMap<PathId, GroupRecord>,
) -> Vec<Vec<(ActionKind, PathId)>> {
    let mut steps = Vec::new();
    let stops: Vec<(ActionKind, PathId)> = target
        .iter()
        .filter(|(_, t)| t.is_none())
        .map(|(id, _)| (ActionKind::StopApplication, id.clone()))
        .collect();
    if !stops.is_empty() {
        steps.push(stops);
    }
    let changed: BTreeMap<&PathId, &AppDefinition> = target
        .iter()
        .filter_map(|(id, t)| t.as_ref().map(|t| (id, t)))
        .collect();
    // Dependency level among the changed apps (a dependency on a group covers its apps).
    let mut level: BTreeMap<&PathId, usize> = BTreeMap::new();
    fn level_of<'a>(
        id: &'a PathId,
        changed: &BTreeMap<&'a PathId, &'a AppDefinition>,
        groups: &BTreeMap<PathId, GroupRecord>,
        level: &mut BTreeMap<&'a PathId, usize>,
        depth: usize,
    ) -> usize {
        if let Some(l) = level.get(id) {
            return *l;
        }
        if depth > changed.len() {
            return 0; // a cycle: give up ordering
        }
        let mut l = 0;
        if let Some(app) = changed.get(id) {
            // The app's own dependencies and those of every group around it.
            let inherited = groups
                .iter()
                .filter(|(g, _)| id.is_within(g))
                .flat_map(|(_, r)| r.dependencies.iter());
            let all: Vec<&String> = app.dependencies.iter().chain(inherited).collect();
            for dep in all {
                let Ok(dep) = PathId::absolute(dep) else {
                    continue;
                };
                let deps: Vec<&'a PathId> = changed
                    .keys()
                    .copied()
                    .filter(|c| *c != id && c.is_within(&dep))
                    .collect();
                for d in deps {
                    l = l.max(level_of(d, changed, groups, level, depth + 1) + 1);
                }
            }
        }
        level.insert(id, l);
        l
    }
    for id in changed.keys() {
        level_of(id, &changed, groups, &mut level, 0);
    }
    let max_level = level.values().copied().max().unwrap_or(0);
    for l in 0..=max_level {
        let at: Vec<&PathId> = level
            .iter()
            .filter(|(_, v)| **v == l)
            .map(|(k, _)| *k)
            .collect();
        if at.is_empty() {
            continue;
        }
        let starts: Vec<(ActionKind, PathId)> = at
            .iter()
            .filter(|id| original.get(**id).is_none_or(Option::is_none))
            .map(|id| (ActionKind::StartApplication, (*id).clone()))
            .collect();
        if !starts.is_empty() {
            steps.push(starts);
        }
        let mut actions = Vec::new();
        for id in at {
            let new = changed[id];
            let kind = match original.get(id).and_then(Option::as_ref) {
                None => ActionKind::ScaleApplication,
                Some(old)
                    if old.version_info.last_config_change_at
                        != new.version_info.last_config_change_at =>
                {
                    ActionKind::RestartApplication
                }
                Some(_) => ActionKind::ScaleApplication,
            };
            actions.push((kind, id.clone()));
        }
        steps.push(actions);
    }
    steps
}

// === API helpers ===

impl Core {
    /// The stored versions of an app, newest first.
    pub async fn versions(&self, id: &PathId) -> Result<Vec<String>, ApiError> {
        let prefix = key("versions", &format!("{}/", id.store_key()));
        let mut out: Vec<String> = self
            .store
            .list(&prefix)
            .await
            .map_err(|e| ApiError::store(&e))?
            .into_iter()
            .filter_map(|(k, _)| k.rsplit('/').next().map(str::to_owned))
            .collect();
        out.sort();
        out.reverse();
        Ok(out)
    }

    /// One stored version of an app.
    pub async fn version(
        &self,
        id: &PathId,
        version: &str,
    ) -> Result<Option<AppDefinition>, ApiError> {
        let k = key("versions", &format!("{}/{version}", id.store_key()));
        let Ok(Some(v)) = self.store.get(&k).await else {
            return Ok(None);
        };
        decode(&k, &v.value)
            .map(Some)
            .map_err(|e| ApiError::new(http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
    }

    /// Forgets an app's stored versions (after it is deleted).
    pub async fn delete_versions(&self, id: &PathId) {
        let prefix = key("versions", &format!("{}/", id.store_key()));
        if let Ok(list) = self.store.list(&prefix).await {
            for (k, _) in list {
                let _ = self.store.delete(&k, None).await;
            }
        }
    }

    /// Gives every `port: 0` definition a free service port (10000 and up).
    pub fn assign_service_ports(&self, app: &mut AppDefinition) {
        let mut used: BTreeSet<u32> = self
            .apps
            .values()
            .filter(|a| a.id != app.id)
            .flat_map(|a| a.port_definitions.iter().map(|p| p.port))
            .collect();
        used.extend(app.port_definitions.iter().map(|p| p.port));
        let mut next = SERVICE_PORT_BASE;
        for p in app.port_definitions.iter_mut().filter(|p| p.port == 0) {
            while used.contains(&next) {
                next += 1;
            }
            p.port = next;
            used.insert(next);
        }
    }

    /// The store writes that record `groups` (and forget `removed`).
    pub fn group_writes(
        groups: &BTreeMap<PathId, GroupRecord>,
        removed: &[PathId],
    ) -> Vec<(String, Option<Vec<u8>>)> {
        let mut out: Vec<(String, Option<Vec<u8>>)> = groups
            .iter()
            .map(|(id, g)| {
                (
                    key("groups", &id.store_key()),
                    Some(serde_json::to_vec(g).unwrap_or_default()),
                )
            })
            .collect();
        out.extend(
            removed
                .iter()
                .map(|id| (key("groups", &id.store_key()), None)),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use strata_api::Resources;
    use strata_proto::convert::{resources_to_wire, task_state_to_wire};

    use super::*;
    use crate::app::parse_app;

    /// A core over an embedded store in a directory removed on drop; no master behind it.
    struct Fixture {
        core: Core,
        dir: std::path::PathBuf,
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    async fn fixture() -> Fixture {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "strata-marathon-core-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let store = strata_store::open(None, &dir).await.unwrap().store;
        let identity = Identity {
            leader: "127.0.0.1:8080".into(),
            master: "127.0.0.1:5050".into(),
            store_url: None,
        };
        let (health_tx, _) = mpsc::unbounded_channel();
        let (failed_tx, _) = mpsc::unbounded_channel();
        let core = Core::load(store, EventBus::new(), identity, health_tx, failed_tx)
            .await
            .unwrap();
        Fixture { core, dir }
    }

    fn id(s: &str) -> PathId {
        PathId::absolute(s).unwrap()
    }

    /// Deploys an app the way the API does, and reconciles.
    async fn deploy(core: &mut Core, app: serde_json::Value) {
        let version = core.next_version();
        let mut def = parse_app(&app, &PathId::root(), "", &version).unwrap();
        core.assign_service_ports(&mut def);
        core.deploy(vec![(def.id.clone(), Some(def))], false, version, Vec::new())
            .await
            .unwrap();
        core.reconcile().await;
    }

    fn offer(n: u32, host: &str, resources: &str) -> v1::Offer {
        let r: Resources = resources.parse().unwrap();
        v1::Offer {
            id: Some(v1::offer_id(&format!("O{n}"))),
            agent_id: Some(v1::agent_id(&format!("agent-{host}"))),
            hostname: host.into(),
            resources: resources_to_wire(&r),
            ..Default::default()
        }
    }

    fn status(task_id: &str, state: TaskState) -> v1::TaskStatus {
        v1::TaskStatus {
            task_id: Some(v1::task_id(task_id)),
            state: task_state_to_wire(state),
            ..Default::default()
        }
    }

    fn tasks_of(core: &Core, app: &str) -> Vec<String> {
        core.instances
            .of_app(&id(app))
            .map(|i| i.task_id.clone())
            .collect()
    }

    fn planned(core: &Core) -> u64 {
        core.counters
            .get("reconcile_apps_planned")
            .copied()
            .unwrap_or(0)
    }

    /// Instances of `app` per agent, in offer order.
    fn per_agent(core: &Core, app: &str) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for i in core.instances.of_app(&id(app)) {
            *out.entry(i.host.clone()).or_default() += 1;
        }
        out
    }

    const ROOMY: &str = "cpus:8;mem:8192;disk:1000;ports:[31000-31999]";

    #[tokio::test]
    async fn a_status_update_plans_only_its_own_app() {
        let mut f = fixture().await;
        let core = &mut f.core;
        deploy(core, json!({"id": "/a", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 2})).await;
        deploy(core, json!({"id": "/b", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 1})).await;
        assert_eq!(core.queue.get(&id("/a")), Some(&2));
        assert_eq!(core.queue.get(&id("/b")), Some(&1));
        let placed = core.place_on_offers(&[offer(1, "h1", ROOMY)]);
        assert_eq!(placed[0].len(), 3);
        core.reconcile().await;
        assert!(core.queue.is_empty(), "{:?}", core.queue);
        assert_eq!(core.deployments.len(), 2);

        // Change B behind the reconciler's back: if B were planned, it would queue 4.
        core.apps.get_mut(&id("/b")).unwrap().instances = 5;
        let before = planned(core);
        let a = tasks_of(core, "/a");
        core.on_update(status(&a[0], TaskState::Running)).await;
        assert_eq!(planned(core) - before, 1, "only /a is planned");
        assert!(!core.queue.contains_key(&id("/b")), "{:?}", core.queue);
        // Nothing changed since: a tick plans nothing.
        let before = planned(core);
        core.tick().await;
        assert_eq!(planned(core), before);

        // The second instance of /a runs: /a's deployment is done, /b's is not.
        core.on_update(status(&a[1], TaskState::Running)).await;
        let open: Vec<&PathId> = core.deployments.iter().flat_map(|d| d.target.keys()).collect();
        assert_eq!(open, vec![&id("/b")]);
        // A real change to /b (through a deployment) is planned.
        let mut b = core.apps[&id("/b")].clone();
        b.instances = 3;
        let version = core.next_version();
        b.version = version.clone();
        core.deploy(vec![(id("/b"), Some(b))], true, version, Vec::new())
            .await
            .unwrap();
        core.reconcile().await;
        assert_eq!(core.queue.get(&id("/b")), Some(&2));
        core.instances.check_indexes().unwrap();
    }

    #[tokio::test]
    async fn deployments_finish_as_their_apps_converge_and_stopped_apps_are_forgotten() {
        let mut f = fixture().await;
        let core = &mut f.core;
        deploy(core, json!({"id": "/web", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 3})).await;
        core.place_on_offers(&[offer(1, "h1", ROOMY), offer(2, "h2", ROOMY)]);
        for t in tasks_of(core, "/web") {
            assert_eq!(core.deployments.len(), 1);
            core.on_update(status(&t, TaskState::Running)).await;
        }
        assert!(core.deployments.is_empty());
        // Delete: every instance is killed; once all are gone the deployment finishes.
        let version = core.next_version();
        core.deploy(vec![(id("/web"), None)], false, version, Vec::new())
            .await
            .unwrap();
        core.reconcile().await;
        let tasks = tasks_of(core, "/web");
        assert!(core
            .instances
            .of_app(&id("/web"))
            .all(|i| i.kill == Some(KillReason::Delete)));
        for t in tasks {
            assert_eq!(core.deployments.len(), 1);
            core.on_update(status(&t, TaskState::Killed)).await;
        }
        assert!(core.deployments.is_empty());
        assert!(core.instances.is_empty());
        assert!(!core.runtime.contains_key(&id("/web")));
    }

    #[tokio::test]
    async fn late_duplicate_updates_do_not_move_an_instance_back() {
        let mut f = fixture().await;
        let core = &mut f.core;
        deploy(core, json!({"id": "/a", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 1})).await;
        core.place_on_offers(&[offer(1, "h1", ROOMY)]);
        let t = tasks_of(core, "/a").remove(0);
        let state = |core: &Core| core.instances.get(&t).map(|i| i.state);
        core.on_update(status(&t, TaskState::Starting)).await;
        core.on_update(status(&t, TaskState::Running)).await;
        assert!(core.deployments.is_empty());
        // The agent resends STARTING (and STAGING) after RUNNING: ignored.
        core.on_update(status(&t, TaskState::Starting)).await;
        core.on_update(status(&t, TaskState::Staging)).await;
        assert_eq!(state(core), Some(TaskState::Running));
        assert_eq!(core.counts(&core.apps[&id("/a")]), (0, 1, 0, 0));
        assert_eq!(core.counters.get("status_updates_stale"), Some(&2));
        // Unreachable and back: a stale STARTING does not count as coming back.
        core.on_update(status(&t, TaskState::Unreachable)).await;
        core.on_update(status(&t, TaskState::Starting)).await;
        assert_eq!(state(core), Some(TaskState::Unreachable));
        core.on_update(status(&t, TaskState::Running)).await;
        assert_eq!(state(core), Some(TaskState::Running));
        // KILLING is not undone by a late RUNNING; a terminal state always wins.
        core.on_update(status(&t, TaskState::Killing)).await;
        core.on_update(status(&t, TaskState::Running)).await;
        assert_eq!(state(core), Some(TaskState::Killing));
        core.on_update(status(&t, TaskState::Failed)).await;
        assert_eq!(state(core), None);
    }

    #[test]
    fn which_updates_an_instance_accepts() {
        use TaskState::*;
        let inst = |state: TaskState, started: bool| Instance {
            task_id: "t".into(),
            app_id: id("/a"),
            agent_id: "a".into(),
            host: "h".into(),
            attributes: Vec::new(),
            ports: Vec::new(),
            version: "v".into(),
            config_version: "v".into(),
            staged_at: 0,
            started_at: started.then_some(1),
            state,
            mesos_healthy: None,
            kill: None,
            unreachable_since: None,
            kill_sent_at: None,
            health: Vec::new(),
            message: None,
        };
        // (current, has run, update, accepted)
        let cases = [
            (Staging, false, Starting, true),
            (Starting, false, Running, true),
            (Staging, false, Running, true),
            (Running, true, Running, true),
            (Running, true, Starting, false),
            (Running, true, Staging, false),
            (Starting, false, Staging, false),
            (Killing, true, Running, false),
            (Killing, true, Killed, true),
            (Running, true, Finished, true),
            (Staging, false, Failed, true),
            (Running, true, Unreachable, true),
            (Unreachable, true, Running, true),
            (Unreachable, true, Starting, false),
            (Unreachable, false, Starting, true),
            (Unreachable, true, Lost, true),
        ];
        for (current, started, update, want) in cases {
            assert_eq!(
                inst(current, started).accepts(update),
                want,
                "{current:?} (has run: {started}) <- {update:?}"
            );
        }
    }

    #[tokio::test]
    async fn instances_spread_over_the_agents_offered() {
        let mut f = fixture().await;
        let core = &mut f.core;
        deploy(core, json!({"id": "/a", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 10})).await;
        let placed = core.place_on_offers(&[offer(1, "h1", ROOMY), offer(2, "h2", ROOMY)]);
        assert_eq!((placed[0].len(), placed[1].len()), (5, 5));
        assert_eq!(per_agent(core, "/a"), BTreeMap::from([("h1".into(), 5), ("h2".into(), 5)]));

        // Scaled up: the new instances go to the agent the app has fewest on first.
        let mut def = core.apps[&id("/a")].clone();
        def.instances = 14;
        let version = core.next_version();
        def.version = version.clone();
        core.deploy(vec![(id("/a"), Some(def))], true, version, Vec::new())
            .await
            .unwrap();
        core.reconcile().await;
        let placed = core.place_on_offers(&[offer(3, "h1", ROOMY), offer(4, "h3", ROOMY)]);
        assert_eq!((placed[0].len(), placed[1].len()), (0, 4));

        // An offer that runs out passes the rest to the others.
        deploy(core, json!({"id": "/b", "cmd": "sleep 1000", "cpus": 1, "mem": 16, "instances": 6})).await;
        let small = "cpus:1;mem:8192;disk:1000;ports:[31000-31999]";
        let placed = core.place_on_offers(&[offer(5, "h4", small), offer(6, "h5", ROOMY)]);
        assert_eq!((placed[0].len(), placed[1].len()), (1, 5));
        assert!(core.queue.is_empty(), "{:?}", core.queue);
        core.instances.check_indexes().unwrap();
    }

    #[tokio::test]
    async fn apps_placed_one_after_the_other_spread_over_the_agents_too() {
        let mut f = fixture().await;
        let core = &mut f.core;
        for app in ["/c1", "/c2", "/c3", "/c4"] {
            deploy(core, json!({"id": app, "cmd": "sleep 1000", "cpus": 0.5, "mem": 16, "instances": 2,
                "portDefinitions": []}))
            .await;
        }
        let offers: Vec<v1::Offer> = (1..=4).map(|n| offer(n, &format!("h{n}"), ROOMY)).collect();
        let placed = core.place_on_offers(&offers);
        // Eight instances, four agents: two each, and every app on two different agents.
        assert_eq!(placed.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 2, 2, 2]);
        for app in ["/c1", "/c2", "/c3", "/c4"] {
            assert_eq!(per_agent(core, app).len(), 2, "{app}");
        }
    }

    #[tokio::test]
    async fn constraints_still_decide_where_instances_go() {
        let mut f = fixture().await;
        let core = &mut f.core;
        deploy(core, json!({"id": "/pinned", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 4,
            "constraints": [["hostname", "CLUSTER", "h2"]]}))
        .await;
        deploy(core, json!({"id": "/unique", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 3,
            "constraints": [["hostname", "UNIQUE"]]}))
        .await;
        let placed = core.place_on_offers(&[offer(1, "h1", ROOMY), offer(2, "h2", ROOMY)]);
        assert_eq!(per_agent(core, "/pinned"), BTreeMap::from([("h2".into(), 4)]));
        assert_eq!(
            per_agent(core, "/unique"),
            BTreeMap::from([("h1".into(), 1), ("h2".into(), 1)])
        );
        assert_eq!((placed[0].len(), placed[1].len()), (1, 5));
        // The third /unique instance waits, and the queue says why.
        assert_eq!(core.queue.get(&id("/unique")), Some(&1));
        let rt = &core.runtime[&id("/unique")];
        assert_eq!(rt.reasons.get("UnfulfilledConstraint"), Some(&2));
        assert_eq!((rt.processed, rt.unused), (2, 0));
    }
}
