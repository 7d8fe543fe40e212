//! Instances and deployments, indexed by app.
//!
//! The reconciler looks at one app at a time, so both collections answer "what belongs to
//! this app" without a scan. The indexes are private and every change goes through a
//! method that updates them, so they can never disagree with the records: an instance
//! changed through [`Instances::get_mut`] is taken out and put back when the guard drops,
//! and a deployment can only move to its next step ([`Deployments::advance`]).
//!
//! [`Instances`] also remembers which apps had an instance change since the reconciler
//! last asked ([`Instances::take_touched`]): those are the apps it has to plan again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::{Deref, DerefMut};

use crate::model::{Deployment, Instance};
use crate::pathid::PathId;

// === Instances ===

/// Instances by task id, with the task ids of each app, of the instances Marathon is
/// killing and of the unreachable ones.
#[derive(Debug, Default)]
pub struct Instances {
    by_id: BTreeMap<String, Instance>,
    by_app: BTreeMap<PathId, BTreeSet<String>>,
    killing: BTreeSet<String>,
    unreachable: BTreeSet<String>,
    touched: BTreeSet<PathId>,
}

impl Instances {
    /// No instances.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many instances there are (terminal ones are removed, so all are active or
    /// unreachable).
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// One instance.
    pub fn get(&self, task_id: &str) -> Option<&Instance> {
        self.by_id.get(task_id)
    }

    /// Whether `task_id` is known.
    pub fn contains_key(&self, task_id: &str) -> bool {
        self.by_id.contains_key(task_id)
    }

    /// Every instance, by task id.
    pub fn values(&self) -> impl Iterator<Item = &Instance> + '_ {
        self.by_id.values()
    }

    /// The instances of `app`, by task id.
    pub fn of_app<'a>(&'a self, app: &PathId) -> impl Iterator<Item = &'a Instance> + 'a {
        self.by_app
            .get(app)
            .into_iter()
            .flatten()
            .filter_map(|t| self.by_id.get(t))
    }

    /// Whether `app` has any instance.
    pub fn has_app(&self, app: &PathId) -> bool {
        self.by_app.contains_key(app)
    }

    /// The instances Marathon decided to kill.
    pub fn killing(&self) -> impl Iterator<Item = &Instance> + '_ {
        self.killing.iter().filter_map(|t| self.by_id.get(t))
    }

    /// The instances whose agent is unreachable.
    pub fn unreachable(&self) -> impl Iterator<Item = &Instance> + '_ {
        self.unreachable.iter().filter_map(|t| self.by_id.get(t))
    }

    /// Adds or replaces an instance (by its task id).
    pub fn insert(&mut self, inst: Instance) -> Option<Instance> {
        let old = self.remove(&inst.task_id);
        let id = inst.task_id.clone();
        self.by_app
            .entry(inst.app_id.clone())
            .or_default()
            .insert(id.clone());
        if inst.kill.is_some() {
            self.killing.insert(id.clone());
        }
        if inst.unreachable_since.is_some() {
            self.unreachable.insert(id.clone());
        }
        self.touched.insert(inst.app_id.clone());
        self.by_id.insert(id, inst);
        old
    }

    /// Removes an instance.
    pub fn remove(&mut self, task_id: &str) -> Option<Instance> {
        let inst = self.by_id.remove(task_id)?;
        if let Some(ids) = self.by_app.get_mut(&inst.app_id) {
            ids.remove(task_id);
            if ids.is_empty() {
                self.by_app.remove(&inst.app_id);
            }
        }
        self.killing.remove(task_id);
        self.unreachable.remove(task_id);
        self.touched.insert(inst.app_id.clone());
        Some(inst)
    }

    /// One instance to change. The indexes follow whatever the change is (even of the task
    /// id or the app) when the guard drops, and the app counts as touched.
    pub fn get_mut(&mut self, task_id: &str) -> Option<InstanceMut<'_>> {
        let inst = self.remove(task_id)?;
        Some(InstanceMut {
            set: self,
            inst: Some(inst),
        })
    }

    /// The apps whose instances changed since the last call.
    pub fn take_touched(&mut self) -> BTreeSet<PathId> {
        std::mem::take(&mut self.touched)
    }

    /// Whether the indexes match the records (for tests).
    #[cfg(test)]
    pub(crate) fn check_indexes(&self) -> Result<(), String> {
        let mut by_app: BTreeMap<PathId, BTreeSet<String>> = BTreeMap::new();
        for (id, inst) in &self.by_id {
            if id != &inst.task_id {
                return Err(format!("{id} is filed under the wrong key"));
            }
            by_app
                .entry(inst.app_id.clone())
                .or_default()
                .insert(id.clone());
        }
        if by_app != self.by_app {
            return Err(format!(
                "by app: index {:?}, records {by_app:?}",
                self.by_app
            ));
        }
        let killing: BTreeSet<String> = self
            .by_id
            .values()
            .filter(|i| i.kill.is_some())
            .map(|i| i.task_id.clone())
            .collect();
        if killing != self.killing {
            return Err(format!("killing: {:?} vs {killing:?}", self.killing));
        }
        let unreachable: BTreeSet<String> = self
            .by_id
            .values()
            .filter(|i| i.unreachable_since.is_some())
            .map(|i| i.task_id.clone())
            .collect();
        if unreachable != self.unreachable {
            return Err(format!(
                "unreachable: {:?} vs {unreachable:?}",
                self.unreachable
            ));
        }
        Ok(())
    }
}

/// An instance being changed; it goes back into [`Instances`], re-indexed, when dropped.
pub struct InstanceMut<'a> {
    set: &'a mut Instances,
    inst: Option<Instance>,
}

impl Deref for InstanceMut<'_> {
    type Target = Instance;

    fn deref(&self) -> &Instance {
        self.inst.as_ref().expect("present until the guard drops")
    }
}

impl DerefMut for InstanceMut<'_> {
    fn deref_mut(&mut self) -> &mut Instance {
        self.inst.as_mut().expect("present until the guard drops")
    }
}

impl Drop for InstanceMut<'_> {
    fn drop(&mut self) {
        if let Some(inst) = self.inst.take() {
            self.set.insert(inst);
        }
    }
}

// === Deployments ===

/// Where a deployment sorts: oldest version first, then by id.
type Order = (String, String);

/// Running deployments, oldest first, with the deployments touching each app.
#[derive(Debug, Default)]
pub struct Deployments {
    by_order: BTreeMap<Order, Deployment>,
    order_of: HashMap<String, Order>,
    by_app: BTreeMap<PathId, BTreeSet<Order>>,
}

impl Deployments {
    /// No deployments.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many are running.
    pub fn len(&self) -> usize {
        self.by_order.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.by_order.is_empty()
    }

    /// All of them, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Deployment> + '_ {
        self.by_order.values()
    }

    /// One by id.
    pub fn get(&self, id: &str) -> Option<&Deployment> {
        self.by_order.get(self.order_of.get(id)?)
    }

    /// Those changing `app` (it is in their target), oldest first.
    pub fn of_app<'a>(&'a self, app: &PathId) -> impl Iterator<Item = &'a Deployment> + 'a {
        self.by_app
            .get(app)
            .into_iter()
            .flatten()
            .filter_map(|o| self.by_order.get(o))
    }

    /// Whether a deployment changes `app`.
    pub fn touches(&self, app: &PathId) -> bool {
        self.by_app.contains_key(app)
    }

    /// Adds one (replacing a deployment with the same id).
    pub fn push(&mut self, d: Deployment) {
        self.remove(&d.id);
        let order = (d.version.clone(), d.id.clone());
        for app in d.target.keys() {
            self.by_app
                .entry(app.clone())
                .or_default()
                .insert(order.clone());
        }
        self.order_of.insert(d.id.clone(), order.clone());
        self.by_order.insert(order, d);
    }

    /// Removes one.
    pub fn remove(&mut self, id: &str) -> Option<Deployment> {
        let order = self.order_of.remove(id)?;
        let d = self.by_order.remove(&order)?;
        for app in d.target.keys() {
            if let Some(set) = self.by_app.get_mut(app) {
                set.remove(&order);
                if set.is_empty() {
                    self.by_app.remove(app);
                }
            }
        }
        Some(d)
    }

    /// Moves one to its next step; the deployment as it is now.
    pub fn advance(&mut self, id: &str) -> Option<&Deployment> {
        let d = self.by_order.get_mut(self.order_of.get(id)?)?;
        d.current_step += 1;
        Some(d)
    }
}

#[cfg(test)]
mod tests {
    use strata_api::TaskState;

    use super::*;
    use crate::model::KillReason;

    /// xorshift64*: a fixed sequence, so a failure is reproducible from the seed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn app(n: u64) -> PathId {
        PathId::absolute(&format!("/app-{n}")).unwrap()
    }

    fn instance(task: u64, app_n: u64) -> Instance {
        Instance {
            task_id: format!("t{task}"),
            app_id: app(app_n),
            agent_id: "a1".into(),
            host: "h".into(),
            attributes: Vec::new(),
            ports: Vec::new(),
            version: "v".into(),
            config_version: "v".into(),
            staged_at: 0,
            started_at: None,
            state: TaskState::Staging,
            mesos_healthy: None,
            kill: None,
            unreachable_since: None,
            kill_sent_at: None,
            health: Vec::new(),
            message: None,
        }
    }

    /// The index answers of a full rescan of the records.
    fn rescan(set: &Instances, app_id: &PathId) -> Vec<String> {
        set.values()
            .filter(|i| &i.app_id == app_id)
            .map(|i| i.task_id.clone())
            .collect()
    }

    #[test]
    fn after_random_changes_the_instance_indexes_equal_a_rescan() {
        for seed in 1..=10u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let mut set = Instances::new();
            for _ in 0..1_000 {
                let task = rng.below(60);
                let t = format!("t{task}");
                match rng.below(7) {
                    0 | 1 => {
                        set.insert(instance(task, rng.below(6)));
                    }
                    2 => {
                        set.remove(&t);
                    }
                    3 => {
                        if let Some(mut i) = set.get_mut(&t) {
                            i.app_id = app(rng.below(6));
                        }
                    }
                    4 => {
                        if let Some(mut i) = set.get_mut(&t) {
                            i.kill = if rng.below(2) == 0 {
                                Some(KillReason::Scale)
                            } else {
                                None
                            };
                            i.state = TaskState::Running;
                        }
                    }
                    5 => {
                        if let Some(mut i) = set.get_mut(&t) {
                            i.unreachable_since = (rng.below(2) == 0).then_some(7);
                        }
                    }
                    _ => {
                        // A new task id through the guard is a move.
                        let to = rng.below(60);
                        if set.get(&format!("t{to}")).is_none() {
                            if let Some(mut i) = set.get_mut(&t) {
                                i.task_id = format!("t{to}");
                            }
                        }
                    }
                }
                set.check_indexes()
                    .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            }
            for a in 0..6 {
                let ids: Vec<String> = set.of_app(&app(a)).map(|i| i.task_id.clone()).collect();
                assert_eq!(ids, rescan(&set, &app(a)), "seed {seed}");
                assert_eq!(set.has_app(&app(a)), !ids.is_empty(), "seed {seed}");
            }
        }
    }

    #[test]
    fn every_change_touches_the_apps_it_concerns() {
        let mut set = Instances::new();
        set.insert(instance(1, 1));
        set.insert(instance(2, 2));
        assert_eq!(set.take_touched(), BTreeSet::from([app(1), app(2)]));
        assert!(set.take_touched().is_empty());
        set.get_mut("t1").unwrap().state = TaskState::Running;
        assert_eq!(set.take_touched(), BTreeSet::from([app(1)]));
        // Moving an instance to another app touches both.
        set.get_mut("t2").unwrap().app_id = app(3);
        assert_eq!(set.take_touched(), BTreeSet::from([app(2), app(3)]));
        set.remove("t1");
        assert_eq!(set.take_touched(), BTreeSet::from([app(1)]));
        assert!(set.get_mut("nope").is_none());
        assert!(set.take_touched().is_empty());
    }

    fn deployment(id: &str, version: &str, apps: &[u64]) -> Deployment {
        Deployment {
            id: id.into(),
            version: version.into(),
            steps: vec![apps
                .iter()
                .map(|a| (crate::model::ActionKind::ScaleApplication, app(*a)))
                .collect()],
            current_step: 0,
            original: apps.iter().map(|a| (app(*a), None)).collect(),
            target: apps.iter().map(|a| (app(*a), None)).collect(),
        }
    }

    #[test]
    fn after_random_changes_the_deployment_index_equals_a_rescan() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let mut d = Deployments::new();
        for step in 0..3_000u64 {
            let id = format!("d{}", rng.below(40));
            match rng.below(4) {
                0 | 1 => {
                    let apps: Vec<u64> = (0..1 + rng.below(3)).map(|_| rng.below(8)).collect();
                    d.push(deployment(&id, &format!("v{:05}", rng.below(100)), &apps));
                }
                2 => {
                    d.remove(&id);
                }
                _ => {
                    d.advance(&id);
                }
            }
            let all: Vec<&Deployment> = d.iter().collect();
            assert!(
                all.windows(2)
                    .all(|w| (&w[0].version, &w[0].id) < (&w[1].version, &w[1].id)),
                "step {step}: not oldest first"
            );
            for a in 0..8 {
                let indexed: Vec<&str> = d.of_app(&app(a)).map(|x| x.id.as_str()).collect();
                let scanned: Vec<&str> = all
                    .iter()
                    .filter(|x| x.target.contains_key(&app(a)))
                    .map(|x| x.id.as_str())
                    .collect();
                assert_eq!(indexed, scanned, "step {step}, app {a}");
                assert_eq!(d.touches(&app(a)), !scanned.is_empty());
            }
            for x in &all {
                assert_eq!(d.get(&x.id).map(|y| &y.version), Some(&x.version));
            }
            assert_eq!(d.len(), all.len());
        }
    }
}
