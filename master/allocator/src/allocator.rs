//! The allocator's state and its event handling.
//!
//! Bookkeeping invariants, checked after every step by the property tests
//! (`assert_consistent`): on every agent and in every pool (unreserved, and
//! each role's reservation) the holdings are disjoint, lie within the pool's
//! total, and together with the free part make up exactly that total; the
//! role tree's allocation of every client is the sum over agents of what it
//! holds; the tree's unallocated reservations are the sum of the agents'
//! free reserved pools; and every offer filter has an entry in the expiry
//! queue and vice versa.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use strata_api::{validate_role, AgentId, FrameworkId, Resources, RoleError, RoleResources};

use crate::error::{LimitExceeded, QuotaError, ReservationError, Shortfall, WeightError};
use crate::quota::{self, QuotaCycle, Unsatisfiable};
use crate::res::{Names, Res, CPUS, MEM};
use crate::sorter::{Policy, QuotaRes, RoleId, Roles};
use crate::{Allocation, AllocatorConfig, Quota, Role, Starving, Time, DEFAULT_ROLE};

// === pools ===

/// Where resources on an agent come from: unreserved (`None`) or reserved
/// for a role.
type Pool = Option<RoleId>;

/// Resources of one agent by pool: the allocator's role-tagged bundle.
#[derive(Debug, Clone, Default, PartialEq)]
struct Pools {
    unreserved: Res,
    /// Sorted by role id; never an empty bundle.
    reserved: Vec<(RoleId, Res)>,
}

impl Pools {
    fn get(&self, pool: Pool) -> Option<&Res> {
        match pool {
            None => Some(&self.unreserved),
            Some(role) => self
                .reserved
                .binary_search_by_key(&role, |(r, _)| *r)
                .ok()
                .map(|i| &self.reserved[i].1),
        }
    }

    fn add(&mut self, pool: Pool, r: &Res) {
        if r.is_empty() {
            return;
        }
        match pool {
            None => self.unreserved.add(r),
            Some(role) => match self.reserved.binary_search_by_key(&role, |(k, _)| *k) {
                Ok(i) => self.reserved[i].1.add(r),
                Err(i) => self.reserved.insert(i, (role, r.clone())),
            },
        }
    }

    fn subtract(&mut self, pool: Pool, r: &Res) {
        match pool {
            None => self.unreserved.subtract(r),
            Some(role) => {
                if let Ok(i) = self.reserved.binary_search_by_key(&role, |(k, _)| *k) {
                    self.reserved[i].1.subtract(r);
                    if self.reserved[i].1.is_empty() {
                        self.reserved.remove(i);
                    }
                }
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = (Pool, &Res)> {
        std::iter::once((None, &self.unreserved))
            .filter(|(_, r)| !r.is_empty())
            .chain(self.reserved.iter().map(|(k, r)| (Some(*k), r)))
    }

    fn is_empty(&self) -> bool {
        self.unreserved.is_empty() && self.reserved.is_empty()
    }

    /// Everything, merged.
    fn sum(&self) -> Res {
        let mut out = self.unreserved.clone();
        for (_, r) in &self.reserved {
            out.add(r);
        }
        out
    }

    /// Quantities summed per pool (ranges in different pools counted apart).
    fn quantities(&self) -> Res {
        let mut out = self.unreserved.quantities();
        for (_, r) in &self.reserved {
            out.add(&r.quantities());
        }
        out
    }
}

// === state ===

/// What one framework holds in one role on one agent.
#[derive(Debug, Clone)]
struct Holding {
    framework: FrameworkId,
    role: RoleId,
    pools: Pools,
}

#[derive(Debug, Clone)]
struct Agent {
    total: Pools,
    /// `total` minus every holding, per pool.
    free: Pools,
    /// The part of each reservation that came with the agent's configured
    /// resources (static); the rest of `total.reserved` is dynamic.
    static_reserved: Vec<(RoleId, Res)>,
    active: bool,
    /// Sorted by `(framework, role)` so that a re-registration with a
    /// smaller total trims the same holdings every time.
    holdings: Vec<Holding>,
    /// Offer filters by framework. Kept on the agent because `allocate` walks
    /// agents and asks "is this framework filtered here?" for each.
    filters: HashMap<FrameworkId, Vec<Filter>>,
}

impl Agent {
    fn holding_index(&self, fw: &FrameworkId, role: RoleId) -> Result<usize, usize> {
        self.holdings
            .binary_search_by(|h| (&h.framework, h.role).cmp(&(fw, role)))
    }

    fn holding(&self, fw: &FrameworkId, role: RoleId) -> Option<&Holding> {
        self.holding_index(fw, role).ok().map(|i| &self.holdings[i])
    }

    fn static_part(&self, role: RoleId) -> Res {
        self.static_reserved
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    }

    fn has_allocatable(&self, minimum: &Minimum) -> bool {
        self.free.iter().any(|(_, r)| minimum.allows(r))
    }
}

/// A declined offer's `refuse_seconds`: until `until`, do not offer the
/// framework anything in `role` on this agent that `refused` contains.
#[derive(Debug, Clone)]
struct Filter {
    role: RoleId,
    refused: Res,
    until: Time,
}

impl Filter {
    fn refuses(&self, role: RoleId, offer: &Res, now: Time) -> bool {
        self.role == role && now < self.until && self.refused.contains(offer)
    }
}

fn refused(
    filters: &HashMap<FrameworkId, Vec<Filter>>,
    fw: &FrameworkId,
    role: RoleId,
    offer: &Res,
    now: Time,
) -> bool {
    filters
        .get(fw)
        .is_some_and(|fs| fs.iter().any(|f| f.refuses(role, offer, now)))
}

/// Where a framework stands with the master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Registration {
    /// Known only because a re-registering agent reported its tasks; waits
    /// for `add_framework` (the framework has not re-subscribed yet).
    Pending,
    /// Subscribed and connected: may be offered.
    Connected,
    /// Subscribed but disconnected (failover window): keeps its allocation.
    Disconnected,
}

/// A framework's standing in one role.
#[derive(Debug, Clone)]
struct FwRole {
    id: RoleId,
    /// In the framework's subscription. A role it left is kept while it
    /// still holds resources in it, but is never offered.
    subscribed: bool,
    suppressed: bool,
}

#[derive(Debug, Clone)]
struct Framework {
    registration: Registration,
    roles: BTreeMap<Role, FwRole>,
    /// Agents on which this framework holds something.
    agents: HashSet<AgentId>,
    /// Agents on which this framework has offer filters.
    filtered_agents: HashSet<AgentId>,
}

impl Framework {
    fn new(registration: Registration) -> Self {
        Self {
            registration,
            roles: BTreeMap::new(),
            agents: HashSet::new(),
            filtered_agents: HashSet::new(),
        }
    }

    fn is_registered(&self) -> bool {
        self.registration != Registration::Pending
    }

    fn offerable_in(&self, role: &FwRole) -> bool {
        self.registration == Registration::Connected && role.subscribed && !role.suppressed
    }
}

/// [`AllocatorConfig`]'s minimum offer, in the allocator's units.
#[derive(Debug, Clone)]
struct Minimum {
    cpus: i64,
    mem: i64,
    any_of: Vec<Res>,
}

impl Minimum {
    /// Which of the minimum's alternatives `u` meets, as bits; `None` when
    /// the minimum is such that this does not decide (a zero threshold or an
    /// empty alternative makes any non-empty bundle enough).
    ///
    /// Used to remember free pools nobody can take: an offer cut by quota
    /// from `u` reaches the minimum only through an alternative `u` meets,
    /// so a pool meeting no more alternatives than one nobody could take
    /// cannot be taken either.
    fn signature(&self, u: &Res) -> Option<u64> {
        if self.any_of.is_empty() {
            if self.cpus <= 0 || self.mem <= 0 {
                return None;
            }
            return Some(
                u64::from(u.scalar(CPUS) >= self.cpus) | u64::from(u.scalar(MEM) >= self.mem) << 1,
            );
        }
        if self.any_of.len() > 64 || self.any_of.iter().any(Res::is_empty) {
            return None;
        }
        Some(
            self.any_of
                .iter()
                .enumerate()
                .fold(0, |bits, (i, m)| bits | u64::from(u.contains(m)) << i),
        )
    }

    fn allows(&self, r: &Res) -> bool {
        if r.is_empty() {
            return false;
        }
        if self.any_of.is_empty() {
            r.scalar(CPUS) >= self.cpus || r.scalar(MEM) >= self.mem
        } else {
            self.any_of.iter().any(|m| r.contains(m))
        }
    }
}

fn threshold(v: f64) -> i64 {
    // Resources hold thousandths; round the threshold up so that an amount
    // passes exactly when it is at least the configured value.
    (v * 1000.0 - 1e-6).ceil().max(0.0) as i64
}

/// The allocator. See the crate documentation.
///
/// Every method is an event, a configuration call or a read-only view except
/// [`Allocator::allocate`], which decides. Events about ids the allocator
/// does not know are ignored, never a panic: the master may race a removal
/// against a late message. Configuration and reservation calls return an
/// error for bad input and change nothing then.
#[derive(Debug, Clone)]
pub struct Allocator {
    config: AllocatorConfig,
    minimum: Minimum,
    names: Names,
    /// Ordered: `allocate` walks agents in id order, so a decision depends
    /// only on the events, never on hashing.
    agents: BTreeMap<AgentId, Agent>,
    frameworks: HashMap<FrameworkId, Framework>,
    roles: Roles,
    policy: Policy,
    /// Every filter as `(until, agent, framework, role)`, soonest first, so
    /// expiry costs only the filters that expire.
    expiries: BTreeSet<(Time, AgentId, FrameworkId, RoleId)>,
    /// Tests turn off the skipping of dead free pools to check that it never
    /// changes a decision.
    #[cfg(test)]
    pub(crate) skip_dead_pools: bool,
}

/// Sums a list of `(key, resources)` by key, so that a key listed twice is
/// not mistaken for a repeat of the same resources.
fn sum_by_key<K: Ord + Clone>(items: impl IntoIterator<Item = (K, Res)>) -> BTreeMap<K, Res> {
    let mut sums: BTreeMap<K, Res> = BTreeMap::new();
    for (key, r) in items {
        sums.entry(key).or_default().add(&r);
    }
    sums
}

fn validate_all<'a>(roles: impl IntoIterator<Item = &'a str>) -> Result<(), RoleError> {
    roles.into_iter().try_for_each(validate_role)
}

// === impl Allocator: agents ===

impl Allocator {
    /// An allocator with no agents and no frameworks.
    pub fn new(config: AllocatorConfig) -> Self {
        let mut names = Names::default();
        let minimum = Minimum {
            cpus: threshold(config.min_allocatable_cpus),
            mem: threshold(config.min_allocatable_mem),
            any_of: config
                .min_allocatable_resources
                .iter()
                .map(|r| names.res(r))
                .collect(),
        };
        Self {
            policy: Policy::new(&config.sorter),
            config,
            minimum,
            names,
            agents: BTreeMap::new(),
            frameworks: HashMap::new(),
            roles: Roles::default(),
            expiries: BTreeSet::new(),
            #[cfg(test)]
            skip_dead_pools: true,
        }
    }

    /// A new or re-registered agent, active from now on, with everything
    /// unreserved (see [`Allocator::add_agent_with_reservations`]).
    ///
    /// `used` maps frameworks to resources already in use on the agent (tasks
    /// that survived a master or agent restart), in role `*`; they count as
    /// allocated to those frameworks, including frameworks that have not been
    /// added yet (they are tracked until [`Allocator::add_framework`] or
    /// [`Allocator::remove_framework`]). Used resources beyond the agent's
    /// total are not counted.
    ///
    /// For an agent already known, `total` replaces the old total (existing
    /// allocations are trimmed to fit it, lowest framework id first keeping
    /// the most) and each framework is made to hold at least what `used` says.
    pub fn add_agent(
        &mut self,
        agent: AgentId,
        total: Resources,
        used: &[(FrameworkId, Resources)],
    ) {
        let used: Vec<(FrameworkId, &str, &Resources)> = used
            .iter()
            .map(|(fw, r)| (fw.clone(), DEFAULT_ROLE, r))
            .collect();
        self.add_agent_checked(agent, &RoleResources::from(total), &used);
    }

    /// [`Allocator::add_agent`] for an agent whose total includes static
    /// reservations (its `--resources` say `cpus(analytics):4`): reserved
    /// resources are offered only to frameworks in that role or below it.
    ///
    /// `used` gives each framework's tasks with the role they run in; they
    /// are counted from the reservations of that role and its ancestors
    /// (nearest first) before unreserved resources. For a known agent,
    /// dynamic reservations made through [`Allocator::reserve`] are kept as
    /// far as the new unreserved total allows.
    ///
    /// Fails, changing nothing, if a role in `used` is not a valid name.
    pub fn add_agent_with_reservations(
        &mut self,
        agent: AgentId,
        total: &RoleResources,
        used: &[(FrameworkId, Role, Resources)],
    ) -> Result<(), RoleError> {
        validate_all(used.iter().map(|(_, role, _)| role.as_str()))?;
        let used: Vec<(FrameworkId, &str, &Resources)> = used
            .iter()
            .map(|(fw, role, r)| (fw.clone(), role.as_str(), r))
            .collect();
        self.add_agent_checked(agent, total, &used);
        Ok(())
    }

    fn add_agent_checked(
        &mut self,
        agent: AgentId,
        total: &RoleResources,
        used: &[(FrameworkId, &str, &Resources)],
    ) {
        let mut pools = Pools {
            unreserved: self.names.res(total.unreserved()),
            reserved: Vec::new(),
        };
        let mut statics = Vec::new();
        for (role, r) in total.reserved() {
            let id = self.roles.ensure(role);
            let r = self.names.res(r);
            pools.add(Some(id), &r);
            statics.push((id, r));
        }
        statics.sort_by_key(|(id, _)| *id);
        if self.agents.contains_key(&agent) {
            self.replace_total(&agent, pools, statics);
        } else {
            self.roles.add_total(&pools.quantities());
            for (id, r) in &pools.reserved {
                self.roles.count_reservation(*id, true);
                self.roles.reserved_free_changed(*id, &r.quantities(), true);
            }
            self.agents.insert(
                agent.clone(),
                Agent {
                    free: pools.clone(),
                    total: pools,
                    static_reserved: statics,
                    active: true,
                    holdings: Vec::new(),
                    filters: HashMap::new(),
                },
            );
        }
        let wanted = sum_by_key(
            used.iter()
                .map(|(fw, role, r)| ((fw.clone(), role.to_string()), self.names.known(r))),
        );
        for ((fw, role), wanted) in wanted {
            if !self.frameworks.contains_key(&fw) {
                self.frameworks
                    .insert(fw.clone(), Framework::new(Registration::Pending));
            }
            let rid = self.framework_role(&fw, &role);
            self.ensure_allocated(&agent, &fw, rid, &wanted);
            self.tidy(&fw);
        }
    }

    /// Removes the agent and everything allocated on it: frameworks'
    /// allocations and the cluster total shrink accordingly, and filters and
    /// reservations on it are dropped.
    pub fn remove_agent(&mut self, agent: &AgentId) {
        let Some(removed) = self.agents.remove(agent) else {
            return;
        };
        self.roles.remove_total(&removed.total.quantities());
        for (id, r) in &removed.free.reserved {
            self.roles
                .reserved_free_changed(*id, &r.quantities(), false);
        }
        for h in &removed.holdings {
            self.roles
                .unallocated(h.role, &h.framework, &h.pools.quantities());
            if let Some(f) = self.frameworks.get_mut(&h.framework) {
                f.agents.remove(agent);
            }
        }
        for (framework, filters) in &removed.filters {
            for filter in filters {
                self.expiries.remove(&(
                    filter.until,
                    agent.clone(),
                    framework.clone(),
                    filter.role,
                ));
            }
            if let Some(f) = self.frameworks.get_mut(framework) {
                f.filtered_agents.remove(agent);
            }
        }
        let touched: BTreeSet<&FrameworkId> = removed
            .holdings
            .iter()
            .map(|h| &h.framework)
            .chain(removed.filters.keys())
            .collect();
        for fw in touched {
            self.tidy(fw);
        }
        for (id, _) in &removed.total.reserved {
            self.roles.count_reservation(*id, false);
            self.roles.prune(*id);
        }
    }

    /// The agent is unreachable: it keeps its accounting but is not offered
    /// until [`Allocator::activate_agent`].
    pub fn deactivate_agent(&mut self, agent: &AgentId) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.active = false;
        }
    }

    /// The agent is reachable again and may be offered.
    pub fn activate_agent(&mut self, agent: &AgentId) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.active = true;
        }
    }

    /// Sets a known agent's total, keeping dynamic reservations that still
    /// fit and trimming holdings that no longer do.
    fn replace_total(&mut self, agent_id: &AgentId, mut total: Pools, statics: Vec<(RoleId, Res)>) {
        let Some(a) = self.agents.get_mut(agent_id) else {
            return;
        };
        for (id, r) in &a.total.reserved {
            let dynamic = r.minus(&a.static_part(*id));
            let kept = dynamic.intersection(&total.unreserved);
            total.unreserved.subtract(&kept);
            total.add(Some(*id), &kept);
        }
        self.roles.remove_total(&a.total.quantities());
        self.roles.add_total(&total.quantities());
        for (id, r) in &a.free.reserved {
            self.roles
                .reserved_free_changed(*id, &r.quantities(), false);
        }
        let old_pools: Vec<RoleId> = a.total.reserved.iter().map(|(id, _)| *id).collect();
        for (id, _) in &total.reserved {
            self.roles.count_reservation(*id, true);
        }
        let mut remaining = total.clone();
        let mut lost: Vec<(FrameworkId, RoleId, Res)> = Vec::new();
        for h in &mut a.holdings {
            let mut trimmed = Res::default();
            let mut kept_pools = Pools::default();
            for (pool, r) in h.pools.iter() {
                let kept = remaining
                    .get(pool)
                    .map(|free| r.intersection(free))
                    .unwrap_or_default();
                remaining.subtract(pool, &kept);
                kept_pools.add(pool, &kept);
                trimmed.add(&r.minus(&kept).quantities());
            }
            if !trimmed.is_empty() {
                lost.push((h.framework.clone(), h.role, trimmed));
            }
            h.pools = kept_pools;
        }
        let emptied: Vec<FrameworkId> = a
            .holdings
            .iter()
            .filter(|h| h.pools.is_empty())
            .map(|h| h.framework.clone())
            .collect();
        a.holdings.retain(|h| !h.pools.is_empty());
        a.total = total;
        a.free = remaining;
        a.static_reserved = statics;
        a.active = true;
        for (id, r) in &a.free.reserved {
            self.roles.reserved_free_changed(*id, &r.quantities(), true);
        }
        for fw in &emptied {
            let still = self
                .agents
                .get(agent_id)
                .is_some_and(|a| a.holdings.iter().any(|h| h.framework == *fw));
            if let (false, Some(f)) = (still, self.frameworks.get_mut(fw)) {
                f.agents.remove(agent_id);
            }
        }
        for (fw, role, q) in &lost {
            self.roles.unallocated(*role, fw, q);
        }
        for (fw, _, _) in &lost {
            self.tidy(fw);
        }
        for id in old_pools {
            self.roles.count_reservation(id, false);
            self.roles.prune(id);
        }
    }
}

// === impl Allocator: frameworks ===

impl Allocator {
    /// A framework subscribed or re-subscribed in role `*`; it is active from
    /// now on. See [`Allocator::add_framework_with_roles`]; this is that call
    /// with roles `["*"]` and `used` in `*`.
    pub fn add_framework(&mut self, framework: FrameworkId, used: &[(AgentId, Resources)]) {
        let used: Vec<(AgentId, &str, &Resources)> = used
            .iter()
            .map(|(a, r)| (a.clone(), DEFAULT_ROLE, r))
            .collect();
        self.add_framework_checked(framework, &[DEFAULT_ROLE], &used);
    }

    /// A framework subscribed or re-subscribed with `roles` (Mesos's
    /// MULTI_ROLE `FrameworkInfo.roles`; empty means `["*"]`); it is active
    /// from now on, and is offered in each role separately.
    ///
    /// `used` lists the resources of its tasks already running, by agent and
    /// role; they are counted from the reservations of that role and its
    /// ancestors (nearest first) before unreserved resources, as far as they
    /// are free. Idempotent: for a known framework this activates it, makes
    /// it hold at least `used` without counting twice what it already holds,
    /// and updates its roles: roles it keeps keep their suppression and
    /// filters, roles it leaves lose theirs and are no longer offered (what
    /// it still holds in them stays allocated until recovered). Unknown
    /// agents in `used` are skipped.
    ///
    /// Fails, changing nothing, if any role is not a valid name.
    pub fn add_framework_with_roles(
        &mut self,
        framework: FrameworkId,
        roles: &[String],
        used: &[(AgentId, Role, Resources)],
    ) -> Result<(), RoleError> {
        validate_all(roles.iter().map(String::as_str))?;
        validate_all(used.iter().map(|(_, role, _)| role.as_str()))?;
        let roles: Vec<&str> = if roles.is_empty() {
            vec![DEFAULT_ROLE]
        } else {
            roles.iter().map(String::as_str).collect()
        };
        let used: Vec<(AgentId, &str, &Resources)> = used
            .iter()
            .map(|(a, role, r)| (a.clone(), role.as_str(), r))
            .collect();
        self.add_framework_checked(framework, &roles, &used);
        Ok(())
    }

    fn add_framework_checked(
        &mut self,
        framework: FrameworkId,
        roles: &[&str],
        used: &[(AgentId, &str, &Resources)],
    ) {
        let wanted: BTreeSet<&str> = roles.iter().copied().collect();
        let f = self
            .frameworks
            .entry(framework.clone())
            .or_insert_with(|| Framework::new(Registration::Connected));
        f.registration = Registration::Connected;
        let left: Vec<(Role, RoleId)> = f
            .roles
            .iter_mut()
            .filter(|(name, _)| !wanted.contains(name.as_str()))
            .filter(|(_, r)| r.subscribed)
            .map(|(name, r)| {
                r.subscribed = false;
                r.suppressed = false;
                (name.clone(), r.id)
            })
            .collect();
        for (_, id) in &left {
            self.clear_filters(&framework, Some(*id));
        }
        for role in &wanted {
            let _ = self.framework_role(&framework, role);
            if let Some(r) = self
                .frameworks
                .get_mut(&framework)
                .and_then(|f| f.roles.get_mut(*role))
            {
                if !r.subscribed {
                    r.subscribed = true;
                    r.suppressed = false;
                }
            }
        }
        self.sync(&framework);
        let wanted = sum_by_key(
            used.iter()
                .map(|(a, role, r)| ((a.clone(), role.to_string()), self.names.known(r))),
        );
        for ((agent, role), wanted) in wanted {
            if !self.agents.contains_key(&agent) {
                continue;
            }
            let rid = self.framework_role(&framework, &role);
            self.ensure_allocated(&agent, &framework, rid, &wanted);
        }
        self.tidy(&framework);
    }

    /// Forgets the framework: everything allocated to it returns to the free
    /// pools and its filters are dropped.
    pub fn remove_framework(&mut self, framework: &FrameworkId) {
        let Some(removed) = self.frameworks.remove(framework) else {
            return;
        };
        for agent_id in &removed.agents {
            let Some(agent) = self.agents.get_mut(agent_id) else {
                continue;
            };
            let mut i = 0;
            while i < agent.holdings.len() {
                if agent.holdings[i].framework != *framework {
                    i += 1;
                    continue;
                }
                let h = agent.holdings.remove(i);
                for (pool, r) in h.pools.iter() {
                    agent.free.add(pool, r);
                    if let Some(id) = pool {
                        self.roles.reserved_free_changed(id, &r.quantities(), true);
                    }
                }
            }
        }
        for agent_id in &removed.filtered_agents {
            if let Some(agent) = self.agents.get_mut(agent_id) {
                drop_filters(agent_id, agent, framework, None, &mut self.expiries);
            }
        }
        for r in removed.roles.values() {
            self.roles.remove_client(r.id, framework);
            self.roles.prune(r.id);
        }
    }

    /// The framework disconnected (failover window): it keeps its allocation
    /// and gets no offers until [`Allocator::activate_framework`] or
    /// [`Allocator::add_framework`].
    ///
    /// Its filters are dropped: they were set by a scheduler instance that is
    /// gone, and whichever instance reconnects decides afresh.
    pub fn deactivate_framework(&mut self, framework: &FrameworkId) {
        match self.frameworks.get_mut(framework) {
            Some(f) if f.is_registered() => f.registration = Registration::Disconnected,
            _ => return,
        }
        self.clear_filters(framework, None);
        self.sync(framework);
    }

    /// The framework reconnected and may be offered again (in roles not
    /// suppressed).
    pub fn activate_framework(&mut self, framework: &FrameworkId) {
        match self.frameworks.get_mut(framework) {
            Some(f) if f.is_registered() => f.registration = Registration::Connected,
            _ => return,
        }
        self.sync(framework);
    }

    /// SUPPRESS without roles: the framework gets no offers in any of its
    /// roles until revived. Its allocation and shares are unchanged.
    pub fn suppress(&mut self, framework: &FrameworkId) {
        self.set_suppressed(framework, None, true);
    }

    /// REVIVE without roles: lifts suppression in every role and clears all
    /// of the framework's offer filters.
    pub fn revive(&mut self, framework: &FrameworkId) {
        self.set_suppressed(framework, None, false);
    }

    /// SUPPRESS with roles: no offers in these roles until revived. Roles the
    /// framework is not subscribed to are ignored. Fails, changing nothing,
    /// if a role is not a valid name.
    pub fn suppress_roles(
        &mut self,
        framework: &FrameworkId,
        roles: &[String],
    ) -> Result<(), RoleError> {
        validate_all(roles.iter().map(String::as_str))?;
        self.set_suppressed(framework, Some(roles), true);
        Ok(())
    }

    /// REVIVE with roles: lifts suppression in these roles and clears the
    /// framework's filters for them. Roles the framework is not subscribed
    /// to are ignored. Fails, changing nothing, if a role is not a valid
    /// name.
    pub fn revive_roles(
        &mut self,
        framework: &FrameworkId,
        roles: &[String],
    ) -> Result<(), RoleError> {
        validate_all(roles.iter().map(String::as_str))?;
        self.set_suppressed(framework, Some(roles), false);
        Ok(())
    }

    fn set_suppressed(
        &mut self,
        framework: &FrameworkId,
        roles: Option<&[String]>,
        suppressed: bool,
    ) {
        let Some(f) = self
            .frameworks
            .get_mut(framework)
            .filter(|f| f.is_registered())
        else {
            return;
        };
        let mut changed = Vec::new();
        for (name, r) in f.roles.iter_mut().filter(|(_, r)| r.subscribed) {
            if roles.is_none_or(|rs| rs.iter().any(|x| x == name)) {
                r.suppressed = suppressed;
                changed.push(r.id);
            }
        }
        if !suppressed {
            match roles {
                None => self.clear_filters(framework, None),
                Some(_) => {
                    for id in changed {
                        self.clear_filters(framework, Some(id));
                    }
                }
            }
        }
        self.sync(framework);
    }

    /// The framework's entry for `role` (a valid name), created (not
    /// subscribed) with its client in the role tree if missing.
    fn framework_role(&mut self, fw: &FrameworkId, role: &str) -> RoleId {
        if let Some(r) = self.frameworks.get(fw).and_then(|f| f.roles.get(role)) {
            return r.id;
        }
        let id = self.roles.ensure(role);
        self.roles.add_client(id, fw);
        if let Some(f) = self.frameworks.get_mut(fw) {
            f.roles.insert(
                role.to_owned(),
                FwRole {
                    id,
                    subscribed: false,
                    suppressed: false,
                },
            );
        }
        id
    }

    /// Tells the role tree in which roles the framework may be offered.
    fn sync(&mut self, fw: &FrameworkId) {
        let Some(f) = self.frameworks.get(fw) else {
            return;
        };
        for r in f.roles.values() {
            self.roles.set_active(r.id, fw, f.offerable_in(r));
        }
    }

    /// Drops roles the framework left once it holds nothing in them, and a
    /// framework known only through allocations once it has none left.
    fn tidy(&mut self, fw: &FrameworkId) {
        let Some(f) = self.frameworks.get(fw) else {
            return;
        };
        let gone: Vec<(Role, RoleId)> = f
            .roles
            .iter()
            .filter(|(_, r)| !r.subscribed)
            .filter(|(_, r)| {
                self.roles
                    .client(r.id, fw)
                    .is_none_or(|c| c.allocation.is_empty())
            })
            .map(|(name, r)| (name.clone(), r.id))
            .collect();
        let forget = !f.is_registered() && f.agents.is_empty() && f.filtered_agents.is_empty();
        for (name, id) in gone {
            if let Some(f) = self.frameworks.get_mut(fw) {
                f.roles.remove(&name);
            }
            self.roles.remove_client(id, fw);
            self.roles.prune(id);
        }
        if forget {
            self.remove_framework(fw);
        }
    }
}

// === impl Allocator: recovery and filters ===

impl Allocator {
    /// Resources allocated to `framework` on `agent` come back: a declined or
    /// rescinded offer, the unused part of an accepted offer, a finished task.
    /// Only what is actually allocated to the framework there is returned
    /// (from its roles in name order, unreserved before reserved); the rest
    /// of `resources` is ignored. Exact for frameworks in `*` only; see
    /// [`Allocator::recover_role`].
    ///
    /// With `refuse_until: Some(t)`, a filter is installed in each of the
    /// framework's roles: until `t`, it is not offered on this agent anything
    /// that `resources` contains (Mesos's `refuse_seconds`). A larger free
    /// pool is offered. The time is taken as given; [`Allocator::decline`]
    /// applies the default and the cap.
    ///
    /// Unknown agents and frameworks are ignored.
    pub fn recover(
        &mut self,
        agent: &AgentId,
        framework: &FrameworkId,
        resources: &Resources,
        refuse_until: Option<Time>,
    ) {
        let Some(f) = self.frameworks.get(framework) else {
            return;
        };
        if !self.agents.contains_key(agent) {
            return;
        }
        let roles: Vec<RoleId> = f.roles.values().map(|r| r.id).collect();
        // A pending framework has no scheduler that could have declined.
        let filtered: Vec<RoleId> = match (refuse_until, f.is_registered()) {
            (Some(_), true) => f
                .roles
                .values()
                .filter(|r| r.subscribed)
                .map(|r| r.id)
                .collect(),
            _ => Vec::new(),
        };
        let mut remaining = self.names.known(resources);
        if let Some(until) = refuse_until {
            for role in filtered {
                self.install_filter(agent, framework, role, remaining.clone(), until);
            }
        }
        let mut returns: Vec<(RoleId, Pool, Res)> = Vec::new();
        let a = &self.agents[agent];
        for role in roles {
            let Some(h) = a.holding(framework, role) else {
                continue;
            };
            for (pool, held) in h.pools.iter() {
                let back = held.intersection(&remaining);
                if !back.is_empty() {
                    remaining.subtract(&back);
                    returns.push((role, pool, back));
                }
            }
        }
        for (role, pool, back) in returns {
            self.release(agent, framework, role, pool, &back);
        }
        self.tidy(framework);
    }

    /// Resources allocated to `framework` in `role` on `agent` come back,
    /// each part to the pool its tag names (as in [`Allocation::tagged`]).
    /// Only what the framework holds there is returned. No filter is
    /// installed; see [`Allocator::decline`].
    ///
    /// Unknown agents, frameworks and roles are ignored.
    pub fn recover_role(
        &mut self,
        agent: &AgentId,
        framework: &FrameworkId,
        role: &str,
        resources: &RoleResources,
    ) {
        let Some(rid) = self
            .frameworks
            .get(framework)
            .and_then(|f| f.roles.get(role))
            .map(|r| r.id)
        else {
            return;
        };
        let Some(h) = self
            .agents
            .get(agent)
            .and_then(|a| a.holding(framework, rid))
        else {
            return;
        };
        let mut returns: Vec<(Pool, Res)> = Vec::new();
        let unreserved = self.names.known(resources.unreserved());
        returns.push((None, h.pools.unreserved.intersection(&unreserved)));
        for (tag, r) in resources.reserved() {
            let Some(pool) = self.roles.id(tag) else {
                continue;
            };
            if let Some(held) = h.pools.get(Some(pool)) {
                returns.push((Some(pool), held.intersection(&self.names.known(r))));
            }
        }
        for (pool, back) in returns {
            if !back.is_empty() {
                self.release(agent, framework, rid, pool, &back);
            }
        }
        self.tidy(framework);
    }

    /// DECLINE (or the unused part of an ACCEPT): [`Allocator::recover_role`]
    /// plus an offer filter. Until `now + refuse`, the framework is not
    /// offered in `role` on this agent anything that `resources` (all tags
    /// together) contains. `refuse` comes from `refuse_seconds` through
    /// [`OfferFilters::refuse`](crate::OfferFilters::refuse): the configured
    /// default (5 s) when `None`, negative or not finite, capped at the
    /// configured maximum (365 days); zero installs no filter.
    pub fn decline(
        &mut self,
        agent: &AgentId,
        framework: &FrameworkId,
        role: &str,
        resources: &RoleResources,
        refuse_seconds: Option<f64>,
        now: Time,
    ) {
        let refuse = self.config.offer_filters.refuse(refuse_seconds);
        let filtered = self
            .frameworks
            .get(framework)
            .filter(|f| f.is_registered())
            .and_then(|f| f.roles.get(role))
            .filter(|r| r.subscribed)
            .map(|r| r.id);
        if let (Some(rid), true, true) = (
            filtered,
            refuse > Duration::ZERO,
            self.agents.contains_key(agent),
        ) {
            let refused = self.names.known(&resources.total());
            self.install_filter(agent, framework, rid, refused, now + refuse);
        }
        self.recover_role(agent, framework, role, resources);
    }

    /// Marks `resources` on `agent` allocated to `framework` in `*` without
    /// an offer, for tasks reported after the agent was added. Only what is
    /// free on the agent is counted. Unknown agents and frameworks are
    /// ignored.
    pub fn allocate_used(
        &mut self,
        agent: &AgentId,
        framework: &FrameworkId,
        resources: &Resources,
    ) {
        self.allocate_used_checked(agent, framework, DEFAULT_ROLE, resources);
    }

    /// [`Allocator::allocate_used`] in `role`: counted from the reservations
    /// of the role and its ancestors (nearest first), then from unreserved
    /// resources. Fails, changing nothing, if `role` is not a valid name.
    pub fn allocate_used_role(
        &mut self,
        agent: &AgentId,
        framework: &FrameworkId,
        role: &str,
        resources: &Resources,
    ) -> Result<(), RoleError> {
        validate_role(role)?;
        self.allocate_used_checked(agent, framework, role, resources);
        Ok(())
    }

    fn allocate_used_checked(
        &mut self,
        agent: &AgentId,
        framework: &FrameworkId,
        role: &str,
        resources: &Resources,
    ) {
        if !self.frameworks.contains_key(framework) || !self.agents.contains_key(agent) {
            return;
        }
        let wanted = self.names.known(resources);
        let rid = self.framework_role(framework, role);
        self.take_free(agent, framework, rid, wanted);
        self.tidy(framework);
    }

    fn install_filter(
        &mut self,
        agent: &AgentId,
        framework: &FrameworkId,
        role: RoleId,
        refused: Res,
        until: Time,
    ) {
        let (Some(a), Some(f)) = (
            self.agents.get_mut(agent),
            self.frameworks.get_mut(framework),
        ) else {
            return;
        };
        let filters = a.filters.entry(framework.clone()).or_default();
        // A framework declining the same offer every cycle should not pile
        // filters up.
        if filters
            .iter()
            .any(|f| f.role == role && f.until >= until && f.refused.contains(&refused))
        {
            return;
        }
        filters.push(Filter {
            role,
            refused,
            until,
        });
        self.expiries
            .insert((until, agent.clone(), framework.clone(), role));
        f.filtered_agents.insert(agent.clone());
    }

    /// Drops the framework's filters (in one role, or all).
    fn clear_filters(&mut self, framework: &FrameworkId, role: Option<RoleId>) {
        let Some(f) = self.frameworks.get_mut(framework) else {
            return;
        };
        let agents: Vec<AgentId> = f.filtered_agents.iter().cloned().collect();
        for agent_id in agents {
            let Some(agent) = self.agents.get_mut(&agent_id) else {
                continue;
            };
            drop_filters(&agent_id, agent, framework, role, &mut self.expiries);
            if !agent.filters.contains_key(framework) {
                if let Some(f) = self.frameworks.get_mut(framework) {
                    f.filtered_agents.remove(&agent_id);
                }
            }
        }
    }

    fn expire_filters(&mut self, now: Time) {
        while self
            .expiries
            .first()
            .is_some_and(|(until, _, _, _)| *until <= now)
        {
            let Some((_, agent_id, framework, _)) = self.expiries.pop_first() else {
                break;
            };
            let Some(agent) = self.agents.get_mut(&agent_id) else {
                continue;
            };
            let Some(filters) = agent.filters.get_mut(&framework) else {
                continue;
            };
            // Later keys of this pair that are also due are popped by this
            // loop and find nothing left to drop.
            filters.retain(|f| f.until > now);
            if filters.is_empty() {
                agent.filters.remove(&framework);
                if let Some(f) = self.frameworks.get_mut(&framework) {
                    f.filtered_agents.remove(&agent_id);
                }
            }
        }
    }
}

/// Removes the filters of `framework` (in `role`, or all) on one agent, with
/// their expiry keys. The caller updates the framework's `filtered_agents`.
fn drop_filters(
    agent_id: &AgentId,
    agent: &mut Agent,
    framework: &FrameworkId,
    role: Option<RoleId>,
    expiries: &mut BTreeSet<(Time, AgentId, FrameworkId, RoleId)>,
) {
    let Some(filters) = agent.filters.get_mut(framework) else {
        return;
    };
    filters.retain(|f| {
        let drop = role.is_none_or(|r| r == f.role);
        if drop {
            expiries.remove(&(f.until, agent_id.clone(), framework.clone(), f.role));
        }
        !drop
    });
    if filters.is_empty() {
        agent.filters.remove(framework);
    }
}

// === impl Allocator: roles, weights and quota ===

impl Allocator {
    /// Sets the weight of `role` (Mesos's UPDATE_WEIGHTS; default 1): among
    /// siblings, a role of weight 2 is offered until its dominant share is
    /// twice that of a role of weight 1.
    pub fn set_weight(&mut self, role: &str, weight: f64) -> Result<(), WeightError> {
        validate_role(role)?;
        if !weight.is_finite() || weight <= 0.0 {
            return Err(WeightError::InvalidWeight {
                role: role.to_owned(),
                weight,
            });
        }
        let id = self.roles.ensure(role);
        self.roles.set_weight(id, weight);
        self.roles.prune(id);
        Ok(())
    }

    /// The weight of `role` (1 unless set).
    pub fn weight(&self, role: &str) -> f64 {
        self.roles
            .id(role)
            .map_or(1.0, |id| self.roles.node(id).weight)
    }

    /// Every weight that is not 1, by role name (Mesos's GET_WEIGHTS).
    pub fn weights(&self) -> Vec<(Role, f64)> {
        self.roles
            .all()
            .into_iter()
            .map(|(name, id)| (name.to_owned(), self.roles.node(id).weight))
            .filter(|(_, w)| *w != 1.0)
            .collect()
    }

    /// Sets the quota of `role` (Mesos's UPDATE_QUOTA): `guarantee` is
    /// offered to the role and its descendants before anyone gets more than
    /// a fair share and is held back for them from other roles; `limit`
    /// (kinds it names) is never exceeded by allocations of unreserved
    /// resources nor by reservations. An empty guarantee with no limit
    /// removes the quota.
    ///
    /// Refused, changing nothing: invalid names and `*`; non-scalar
    /// resources; a guarantee above the limit; guarantees (with those of
    /// descendants, which a role's guarantee covers) above the limit of the
    /// role or of an ancestor; all guarantees together above the cluster's
    /// current total. Quantities cannot be negative or NaN: [`Resources`]
    /// refuses them.
    pub fn set_quota(
        &mut self,
        role: &str,
        guarantee: Resources,
        limit: Option<Resources>,
    ) -> Result<(), QuotaError> {
        validate_role(role)?;
        if role == DEFAULT_ROLE {
            return Err(QuotaError::DefaultRole);
        }
        for r in std::iter::once(&guarantee).chain(limit.as_ref()) {
            if r.range_sets().next().is_some() {
                return Err(QuotaError::NotScalar {
                    role: role.to_owned(),
                    resources: r.clone(),
                });
            }
        }
        if let Some(l) = &limit {
            if guarantee
                .scalars()
                .any(|(name, g)| l.scalar(name) < g && l.scalars().any(|(n, _)| n == name))
            {
                return Err(QuotaError::GuaranteeAboveLimit {
                    role: role.to_owned(),
                    guarantee,
                    limit: l.clone(),
                });
            }
        }
        if guarantee.is_empty() && limit.is_none() {
            return self.remove_quota(role);
        }
        let quota = QuotaRes {
            guarantee: self.names.res(&guarantee),
            limit: limit.as_ref().map(|l| self.names.res(l)),
        };
        let id = self.roles.ensure(role);
        if let Err(e) = quota::check(&self.roles, id, Some(&quota), self.roles.total()) {
            self.roles.prune(id);
            return Err(match e {
                Unsatisfiable::Limit {
                    role,
                    guaranteed,
                    limit,
                } => QuotaError::ExceedsLimit {
                    role: self.roles.name(role).to_owned(),
                    guaranteed: self.names.resources(&guaranteed),
                    limit: self.names.resources(&limit),
                },
                Unsatisfiable::Cluster { guaranteed } => QuotaError::ExceedsCluster {
                    guaranteed: self.names.resources(&guaranteed),
                    total: self.names.resources(&self.roles.total().scalar_part()),
                },
            });
        }
        self.roles.set_quota(id, Some(quota));
        Ok(())
    }

    /// Removes the quota of `role` (nothing to do if it has none). Fails only
    /// for an invalid name.
    pub fn remove_quota(&mut self, role: &str) -> Result<(), QuotaError> {
        validate_role(role)?;
        if let Some(id) = self.roles.id(role) {
            self.roles.set_quota(id, None);
            self.roles.prune(id);
        }
        Ok(())
    }

    /// The quota of `role`, if it has one (Mesos's GET_QUOTA).
    pub fn quota(&self, role: &str) -> Option<Quota> {
        let q = self.roles.node(self.roles.id(role)?).quota.as_ref()?;
        Some(Quota {
            guarantee: self.names.resources(&q.guarantee),
            limit: q.limit.as_ref().map(|l| self.names.resources(l)),
        })
    }

    /// Every quota, by role name.
    pub fn quotas(&self) -> Vec<(Role, Quota)> {
        self.roles
            .quota_roles
            .keys()
            .filter_map(|name| Some((name.clone(), self.quota(name)?)))
            .collect()
    }

    /// What counts against the quota of `role`: everything allocated to it
    /// and its descendants plus their unallocated reservations, as
    /// quantities (range sets as counts).
    pub fn quota_consumed(&self, role: &str) -> Resources {
        self.roles.id(role).map_or_else(Resources::new, |id| {
            let node = self.roles.node(id);
            self.names
                .resources(&node.allocated.plus(&node.reserved_free))
        })
    }

    /// The dominant share of `role` and its descendants divided by the
    /// role's weight: what DRF compares between sibling roles (0 if
    /// unknown).
    pub fn role_share(&self, role: &str) -> f64 {
        self.roles.id(role).map_or(0.0, |id| self.roles.share(id))
    }

    /// Every role the allocator tracks (with frameworks, allocations,
    /// reservations, a weight or a quota, or below one that has), in name
    /// order.
    pub fn roles(&self) -> Vec<Role> {
        self.roles.all().into_keys().map(str::to_owned).collect()
    }
}

// === impl Allocator: reservations ===

impl Allocator {
    /// Dynamically reserves `resources` on `agent` for `role` out of its free
    /// unreserved resources (the operator's RESERVE). From then on they are
    /// offered only to frameworks in `role` or below it, and count against
    /// the role's quota.
    ///
    /// Refused, changing nothing: invalid names and `*`, nothing to reserve,
    /// an unknown agent, resources not free and unreserved there, or a
    /// reservation that would push the role or an ancestor past its quota
    /// limit.
    pub fn reserve(
        &mut self,
        agent: &AgentId,
        role: &str,
        resources: &Resources,
    ) -> Result<(), ReservationError> {
        let r = self.reservation_request(agent, role, resources)?;
        let a = &self.agents[agent];
        if !a.free.unreserved.contains(&r) {
            return Err(ReservationError::NotAvailable(Box::new(Shortfall {
                agent: agent.clone(),
                role: role.to_owned(),
                requested: resources.clone(),
                available: self.names.resources(&a.free.unreserved),
            })));
        }
        self.check_limits(role, &r)?;
        let id = self.roles.ensure(role);
        let Some(a) = self.agents.get_mut(agent) else {
            return Ok(());
        };
        if a.total.get(Some(id)).is_none() {
            self.roles.count_reservation(id, true);
        }
        a.free.subtract(None, &r);
        a.free.add(Some(id), &r);
        a.total.subtract(None, &r);
        a.total.add(Some(id), &r);
        self.roles.reserved_free_changed(id, &r.quantities(), true);
        Ok(())
    }

    /// Undoes dynamic reservations of `role` on `agent` that are not
    /// allocated (the operator's UNRESERVE): the resources become unreserved
    /// and free.
    ///
    /// Refused, changing nothing: invalid names and `*`, nothing to
    /// unreserve, an unknown agent, resources not reserved for the role and
    /// free, or static reservations.
    pub fn unreserve(
        &mut self,
        agent: &AgentId,
        role: &str,
        resources: &Resources,
    ) -> Result<(), ReservationError> {
        let r = self.reservation_request(agent, role, resources)?;
        let a = &self.agents[agent];
        let id = self.roles.id(role);
        let free = id
            .and_then(|id| a.free.get(Some(id)))
            .cloned()
            .unwrap_or_default();
        if !free.contains(&r) {
            return Err(ReservationError::NotReserved(Box::new(Shortfall {
                agent: agent.clone(),
                role: role.to_owned(),
                requested: resources.clone(),
                available: self.names.resources(&free),
            })));
        }
        let Some(id) = id else {
            return Ok(());
        };
        self.check_dynamic(agent, id, role, &r, resources)?;
        let Some(a) = self.agents.get_mut(agent) else {
            return Ok(());
        };
        a.free.subtract(Some(id), &r);
        a.free.add(None, &r);
        a.total.subtract(Some(id), &r);
        a.total.add(None, &r);
        let gone = a.total.get(Some(id)).is_none();
        self.roles.reserved_free_changed(id, &r.quantities(), false);
        if gone {
            self.roles.count_reservation(id, false);
            self.roles.prune(id);
        }
        Ok(())
    }

    /// The RESERVE offer operation: `framework` reserves for `role` (one of
    /// its roles) unreserved resources it was allocated in that role on
    /// `agent`. They stay allocated to it, now reserved.
    ///
    /// Refused, changing nothing: invalid names and `*`, nothing to
    /// reserve, an unknown agent or framework, a role the framework holds
    /// nothing in on the agent, or resources not among its unreserved
    /// allocation there.
    pub fn reserve_allocated(
        &mut self,
        agent: &AgentId,
        framework: &FrameworkId,
        role: &str,
        resources: &Resources,
    ) -> Result<(), ReservationError> {
        let r = self.reservation_request(agent, role, resources)?;
        let (rid, i) = self.held(agent, framework, role)?;
        let a = &self.agents[agent];
        let held = &a.holdings[i].pools.unreserved;
        if !held.contains(&r) {
            return Err(ReservationError::NotAvailable(Box::new(Shortfall {
                agent: agent.clone(),
                role: role.to_owned(),
                requested: resources.clone(),
                available: self.names.resources(held),
            })));
        }
        let Some(a) = self.agents.get_mut(agent) else {
            return Ok(());
        };
        if a.total.get(Some(rid)).is_none() {
            self.roles.count_reservation(rid, true);
        }
        let h = &mut a.holdings[i];
        h.pools.subtract(None, &r);
        h.pools.add(Some(rid), &r);
        a.total.subtract(None, &r);
        a.total.add(Some(rid), &r);
        Ok(())
    }

    /// The UNRESERVE offer operation: `framework` unreserves dynamically
    /// reserved resources of `role` that it was allocated in `role` on
    /// `agent`. They stay allocated to it, now unreserved.
    ///
    /// Refused, changing nothing: as [`Allocator::reserve_allocated`], and
    /// for resources not among its allocation of the role's reservation, or
    /// static reservations.
    pub fn unreserve_allocated(
        &mut self,
        agent: &AgentId,
        framework: &FrameworkId,
        role: &str,
        resources: &Resources,
    ) -> Result<(), ReservationError> {
        let r = self.reservation_request(agent, role, resources)?;
        let (rid, i) = self.held(agent, framework, role)?;
        let held = self.agents[agent].holdings[i]
            .pools
            .get(Some(rid))
            .cloned()
            .unwrap_or_default();
        if !held.contains(&r) {
            return Err(ReservationError::NotReserved(Box::new(Shortfall {
                agent: agent.clone(),
                role: role.to_owned(),
                requested: resources.clone(),
                available: self.names.resources(&held),
            })));
        }
        self.check_dynamic(agent, rid, role, &r, resources)?;
        let Some(a) = self.agents.get_mut(agent) else {
            return Ok(());
        };
        let h = &mut a.holdings[i];
        h.pools.subtract(Some(rid), &r);
        h.pools.add(None, &r);
        a.total.subtract(Some(rid), &r);
        a.total.add(None, &r);
        if a.total.get(Some(rid)).is_none() {
            self.roles.count_reservation(rid, false);
        }
        Ok(())
    }

    /// Common checks of the reservation calls; the resources in the
    /// allocator's units.
    fn reservation_request(
        &self,
        agent: &AgentId,
        role: &str,
        resources: &Resources,
    ) -> Result<Res, ReservationError> {
        validate_role(role)?;
        if role == DEFAULT_ROLE {
            return Err(ReservationError::DefaultRole);
        }
        if resources.is_empty() {
            return Err(ReservationError::Empty);
        }
        if !self.agents.contains_key(agent) {
            return Err(ReservationError::UnknownAgent(agent.clone()));
        }
        // Names never seen are on no agent: keep them so that containment
        // checks fail.
        let known = self.names.known(resources);
        if self.names.resources(&known) != *resources {
            return Err(ReservationError::NotAvailable(Box::new(Shortfall {
                agent: agent.clone(),
                role: role.to_owned(),
                requested: resources.clone(),
                available: Resources::new(),
            })));
        }
        Ok(known)
    }

    /// The framework's role id and its holding's index on the agent.
    fn held(
        &self,
        agent: &AgentId,
        framework: &FrameworkId,
        role: &str,
    ) -> Result<(RoleId, usize), ReservationError> {
        let f = self
            .frameworks
            .get(framework)
            .ok_or_else(|| ReservationError::UnknownFramework(framework.clone()))?;
        let not_held = || ReservationError::RoleNotHeld {
            framework: framework.clone(),
            role: role.to_owned(),
            agent: agent.clone(),
        };
        let rid = f.roles.get(role).ok_or_else(not_held)?.id;
        let i = self.agents[agent]
            .holding_index(framework, rid)
            .map_err(|_| not_held())?;
        Ok((rid, i))
    }

    fn check_dynamic(
        &self,
        agent: &AgentId,
        id: RoleId,
        role: &str,
        r: &Res,
        resources: &Resources,
    ) -> Result<(), ReservationError> {
        let a = &self.agents[agent];
        let total = a.total.get(Some(id)).cloned().unwrap_or_default();
        let dynamic = total.minus(&a.static_part(id));
        if !dynamic.contains(r) {
            return Err(ReservationError::Static(Box::new(Shortfall {
                agent: agent.clone(),
                role: role.to_owned(),
                requested: resources.clone(),
                available: self.names.resources(&dynamic),
            })));
        }
        Ok(())
    }

    /// Whether reserving `r` for `role` keeps it and its ancestors within
    /// their quota limits.
    fn check_limits(&self, role: &str, r: &Res) -> Result<(), ReservationError> {
        let q = r.quantities();
        let mut name = Some(role);
        while let Some(n) = name {
            if let Some(id) = self.roles.id(n) {
                let node = self.roles.node(id);
                if let Some(limit) = node.quota.as_ref().and_then(|q| q.limit.as_ref()) {
                    let consumed = node
                        .allocated
                        .plus(&node.reserved_free)
                        .plus(&q)
                        .scalar_part();
                    if limit.scalars().any(|(k, l)| consumed.scalar(k) > l) {
                        return Err(ReservationError::ExceedsLimit(Box::new(LimitExceeded {
                            role: n.to_owned(),
                            consumed: self.names.resources(&consumed),
                            limit: self.names.resources(limit),
                        })));
                    }
                }
            }
            name = strata_api::parent_role(n);
        }
        Ok(())
    }
}

// === impl Allocator: the decision ===

impl Allocator {
    /// Offers the free resources of every active agent (in id order), as
    /// described in the crate documentation: reservations to their roles,
    /// then unmet quota guarantees, then by weighted hierarchical DRF (or the
    /// configured random order). Unreserved resources usually go wholly to
    /// one framework; quota limits and headroom can cut an offer, and the
    /// rest is then offered on. Shares update after each offer, so
    /// frameworks take turns within one call. An offer is made only to a
    /// connected framework in a subscribed, unsuppressed role that no
    /// unexpired filter keeps from it, and only if it reaches the configured
    /// minimum.
    ///
    /// Returns one [`Allocation`] per agent, framework and role. The
    /// resources count as allocated until recovered. Filters that expired by
    /// `now` are dropped.
    pub fn allocate(&mut self, now: Time) -> Vec<Allocation> {
        self.expire_filters(now);
        self.roles.refresh();
        self.roles.mark_wanting(now);
        let mut quota = (!self.roles.quota_roles.is_empty())
            .then(|| QuotaCycle::new(&self.roles, self.headroom()));
        let candidates: Vec<AgentId> = self
            .agents
            .iter()
            .filter(|(_, a)| a.active && a.has_allocatable(&self.minimum))
            .map(|(id, _)| id.clone())
            .collect();
        let mut allocations = Vec::new();
        let mut offers = Vec::new();
        let mut dead = Vec::new();
        for agent_id in candidates {
            self.allocate_agent(&agent_id, now, quota.as_mut(), &mut dead, &mut offers);
            for (framework_id, role, pools) in offers.drain(..) {
                allocations.push(self.allocation(&agent_id, framework_id, role, &pools));
            }
        }
        allocations
    }

    /// One agent's part of [`Allocator::allocate`].
    ///
    /// `dead` holds the [signatures](Minimum::signature) of unreserved free
    /// pools for which the fair-share walk found nobody, on agents without
    /// filters. Within a cycle, offers of unreserved resources only shrink
    /// as unreserved resources are granted (limits fill up, the surplus and
    /// what goes toward guarantees only fall), so later pools of no larger
    /// signature are skipped without a walk: roles at their limits cost
    /// one walk per cycle, not one per agent. A grant of reserved resources
    /// can raise the surplus and forgets them.
    fn allocate_agent(
        &mut self,
        agent_id: &AgentId,
        now: Time,
        mut quota: Option<&mut QuotaCycle>,
        dead: &mut Vec<u64>,
        offers: &mut Vec<(FrameworkId, RoleId, Pools)>,
    ) {
        // Reservations go to their roles.
        let pools: Vec<RoleId> = self.agents[agent_id]
            .free
            .reserved
            .iter()
            .map(|(id, _)| *id)
            .collect();
        for pool in pools {
            let a = &self.agents[agent_id];
            let Some(free) = a.free.get(Some(pool)) else {
                continue;
            };
            if !self.minimum.allows(free) {
                continue;
            }
            let (roles, minimum, filters, cycle) =
                (&self.roles, &self.minimum, &a.filters, quota.as_deref());
            let found = roles.find_with(pool, &mut self.policy, &mut |fw, role| {
                let mut x = free.clone();
                if let Some(c) = cycle {
                    c.cap_limits(roles, role, Some(pool), &mut x);
                }
                (minimum.allows(&x) && !refused(filters, fw, role, &x, now)).then_some(x)
            });
            if let Some((fw, role, x)) = found {
                dead.clear();
                self.offer(
                    agent_id,
                    fw,
                    role,
                    Some(pool),
                    &x,
                    now,
                    quota.as_deref_mut(),
                    offers,
                );
            }
        }
        // Unmet guarantees come before fair shares.
        if let Some(cycle) = quota.as_deref_mut() {
            loop {
                let a = &self.agents[agent_id];
                let u = &a.free.unreserved;
                if !self.minimum.allows(u) {
                    break;
                }
                let (roles, minimum, filters, policy) =
                    (&self.roles, &self.minimum, &a.filters, &mut self.policy);
                let c: &QuotaCycle = cycle;
                let found = c.hungry().filter(|h| c.could_use(*h, u)).find_map(|h| {
                    roles.find_with(h, policy, &mut |fw, role| {
                        let x = c.guarantee_offer(roles, role, u)?;
                        (minimum.allows(&x) && !refused(filters, fw, role, &x, now)).then_some(x)
                    })
                });
                let Some((fw, role, x)) = found else {
                    break;
                };
                self.offer(agent_id, fw, role, None, &x, now, Some(&mut *cycle), offers);
            }
        }
        // Fair shares.
        loop {
            let a = &self.agents[agent_id];
            let u = &a.free.unreserved;
            if !self.minimum.allows(u) {
                break;
            }
            let signature = self.minimum.signature(u);
            #[cfg(test)]
            let signature = signature.filter(|_| self.skip_dead_pools);
            if signature.is_some_and(|s| dead.iter().any(|d| s & !d == 0)) {
                break;
            }
            let (roles, minimum, filters, cycle) =
                (&self.roles, &self.minimum, &a.filters, quota.as_deref());
            let found = roles.find_with(crate::sorter::ROOT, &mut self.policy, &mut |fw, role| {
                let x = match cycle {
                    Some(c) => c.fair_offer(roles, role, u),
                    None => u.clone(),
                };
                (minimum.allows(&x) && !refused(filters, fw, role, &x, now)).then_some(x)
            });
            let Some((fw, role, x)) = found else {
                if let (Some(s), true) = (signature, a.filters.is_empty()) {
                    dead.push(s);
                }
                break;
            };
            self.offer(
                agent_id,
                fw,
                role,
                None,
                &x,
                now,
                quota.as_deref_mut(),
                offers,
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn offer(
        &mut self,
        agent: &AgentId,
        fw: FrameworkId,
        role: RoleId,
        pool: Pool,
        x: &Res,
        now: Time,
        quota: Option<&mut QuotaCycle>,
        offers: &mut Vec<(FrameworkId, RoleId, Pools)>,
    ) {
        let q = x.quantities();
        self.grant_quantities(agent, &fw, role, pool, x, &q);
        if let Some(c) = quota {
            c.charge(&self.roles, role, pool, &q);
        }
        if let Some(c) = self.roles.client_mut(role, &fw) {
            c.wanting_since = Some(now);
        }
        match offers.iter_mut().find(|(f, r, _)| *f == fw && *r == role) {
            Some((_, _, pools)) => pools.add(pool, x),
            None => {
                let mut pools = Pools::default();
                pools.add(pool, x);
                offers.push((fw, role, pools));
            }
        }
    }

    fn allocation(
        &self,
        agent: &AgentId,
        framework_id: FrameworkId,
        role: RoleId,
        pools: &Pools,
    ) -> Allocation {
        Allocation {
            framework_id,
            agent_id: agent.clone(),
            role: self.roles.name(role).to_owned(),
            resources: self.names.resources(&pools.sum()),
            reserved: pools
                .reserved
                .iter()
                .map(|(id, r)| (self.roles.name(*id).to_owned(), self.names.resources(r)))
                .collect(),
        }
    }

    /// Available headroom: free unreserved scalars on active agents.
    fn headroom(&self) -> Res {
        let mut sum = Res::default();
        for a in self.agents.values().filter(|a| a.active) {
            sum.add(&a.free.unreserved.scalar_part());
        }
        sum
    }
}

// === impl Allocator: views ===

impl Allocator {
    /// The sum of all agents' totals, reserved or not, active or not. Range
    /// sets are merged across agents (ports 31000-32000 on two agents show
    /// once).
    pub fn total(&self) -> Resources {
        let mut total = Res::default();
        for agent in self.agents.values() {
            total.add(&agent.total.sum());
        }
        self.names.resources(&total)
    }

    /// The sum of all allocations (offered or in use), merged as in
    /// [`Allocator::total`].
    pub fn allocated(&self) -> Resources {
        let mut allocated = Res::default();
        for agent in self.agents.values() {
            for h in &agent.holdings {
                allocated.add(&h.pools.sum());
            }
        }
        self.names.resources(&allocated)
    }

    /// Everything allocated to `framework` across agents and roles (empty if
    /// unknown).
    pub fn framework_allocated(&self, framework: &FrameworkId) -> Resources {
        let mut allocated = Res::default();
        if let Some(f) = self.frameworks.get(framework) {
            for agent_id in &f.agents {
                if let Some(a) = self.agents.get(agent_id) {
                    for h in a.holdings.iter().filter(|h| h.framework == *framework) {
                        allocated.add(&h.pools.sum());
                    }
                }
            }
        }
        self.names.resources(&allocated)
    }

    /// The framework's dominant share over all its roles: the largest
    /// fraction of any resource in the cluster total that is allocated to it
    /// (0 if unknown). Range sets count by their number of values, summed
    /// per agent.
    pub fn framework_share(&self, framework: &FrameworkId) -> f64 {
        let Some(f) = self.frameworks.get(framework) else {
            return 0.0;
        };
        let mut q = Res::default();
        for r in f.roles.values() {
            if let Some(c) = self.roles.client(r.id, framework) {
                q.add(&c.allocation);
            }
        }
        q.dominant_share(self.roles.total())
    }

    /// The agent's free (unallocated) resources, reserved or not, or `None`
    /// if unknown.
    pub fn agent_free(&self, agent: &AgentId) -> Option<Resources> {
        self.agents
            .get(agent)
            .map(|a| self.names.resources(&a.free.sum()))
    }

    /// The agent's total with its reservations, or `None` if unknown.
    pub fn agent_total(&self, agent: &AgentId) -> Option<RoleResources> {
        self.agents.get(agent).map(|a| self.tagged(&a.total))
    }

    /// The agent's free resources with their reservations, or `None` if
    /// unknown.
    pub fn agent_free_tagged(&self, agent: &AgentId) -> Option<RoleResources> {
        self.agents.get(agent).map(|a| self.tagged(&a.free))
    }

    fn tagged(&self, pools: &Pools) -> RoleResources {
        let mut out = RoleResources::from(self.names.resources(&pools.unreserved));
        for (id, r) in &pools.reserved {
            // Tracked roles have valid names.
            let _ = out.add_reserved(self.roles.name(*id), &self.names.resources(r));
        }
        out
    }

    /// How long each active framework and role has wanted resources without
    /// being allocated any, as of `now`.
    ///
    /// A framework (in one role) wants resources while it is connected,
    /// subscribed to the role and not suppressed in it; the wait starts at
    /// the first allocation cycle that finds it so and restarts at every
    /// allocation it receives. A framework's figure is the shortest over its
    /// roles; a role's the shortest over the frameworks in it and below it.
    /// Frameworks that keep declining with filters still count as waiting:
    /// they asked for offers by not suppressing. Frameworks first (by id),
    /// then roles (by name).
    pub fn starvation(&self, now: Time) -> Vec<(Starving, Duration)> {
        let mut frameworks: BTreeMap<&FrameworkId, Duration> = BTreeMap::new();
        let mut roles: BTreeMap<&str, Duration> = BTreeMap::new();
        for (_, id) in self.roles.all() {
            for (fw, c) in self.roles.node(id).clients.iter().filter(|(_, c)| c.active) {
                let wait = c
                    .wanting_since
                    .map_or(Duration::ZERO, |s| now.saturating_sub(s));
                let e = frameworks.entry(fw).or_insert(wait);
                *e = (*e).min(wait);
                for a in self.roles.path(id) {
                    let e = roles.entry(self.roles.name(a)).or_insert(wait);
                    *e = (*e).min(wait);
                }
            }
        }
        frameworks
            .into_iter()
            .map(|(fw, d)| (Starving::Framework(fw.clone()), d))
            .chain(
                roles
                    .into_iter()
                    .map(|(r, d)| (Starving::Role(r.to_owned()), d)),
            )
            .collect()
    }
}

// === impl Allocator: bookkeeping ===

impl Allocator {
    fn grant_quantities(
        &mut self,
        agent: &AgentId,
        fw: &FrameworkId,
        role: RoleId,
        pool: Pool,
        x: &Res,
        q: &Res,
    ) {
        if x.is_empty() {
            return;
        }
        let (Some(a), Some(f)) = (self.agents.get_mut(agent), self.frameworks.get_mut(fw)) else {
            return;
        };
        a.free.subtract(pool, x);
        match a.holding_index(fw, role) {
            Ok(i) => a.holdings[i].pools.add(pool, x),
            Err(i) => {
                let mut pools = Pools::default();
                pools.add(pool, x);
                a.holdings.insert(
                    i,
                    Holding {
                        framework: fw.clone(),
                        role,
                        pools,
                    },
                );
            }
        }
        if !f.agents.contains(agent) {
            f.agents.insert(agent.clone());
        }
        self.roles.allocated(role, fw, q);
        if let Some(id) = pool {
            self.roles.reserved_free_changed(id, q, false);
        }
    }

    /// Moves `x` (which must be free in `pool` on the agent) into the
    /// framework's holding in `role` there.
    fn grant(&mut self, agent: &AgentId, fw: &FrameworkId, role: RoleId, pool: Pool, x: &Res) {
        self.grant_quantities(agent, fw, role, pool, x, &x.quantities());
    }

    /// Returns `x` (which must be held in `pool`) from the framework's
    /// holding in `role` on the agent to the free pool.
    fn release(&mut self, agent: &AgentId, fw: &FrameworkId, role: RoleId, pool: Pool, x: &Res) {
        let Some(a) = self.agents.get_mut(agent) else {
            return;
        };
        let Ok(i) = a.holding_index(fw, role) else {
            return;
        };
        a.holdings[i].pools.subtract(pool, x);
        if a.holdings[i].pools.is_empty() {
            a.holdings.remove(i);
            if !a.holdings.iter().any(|h| h.framework == *fw) {
                if let Some(f) = self.frameworks.get_mut(fw) {
                    f.agents.remove(agent);
                }
            }
        }
        a.free.add(pool, x);
        let q = x.quantities();
        self.roles.unallocated(role, fw, &q);
        if let Some(id) = pool {
            self.roles.reserved_free_changed(id, &q, true);
        }
    }

    /// Moves what is free of `wanted` into the framework's holding in
    /// `role`: from the reservations of the role and its ancestors, nearest
    /// first, then unreserved.
    fn take_free(&mut self, agent: &AgentId, fw: &FrameworkId, role: RoleId, mut wanted: Res) {
        let Some(a) = self.agents.get(agent) else {
            return;
        };
        let mut takes: Vec<(Pool, Res)> = Vec::new();
        let pools = self.roles.path(role).map(Some).chain(std::iter::once(None));
        for pool in pools {
            if let Some(free) = a.free.get(pool) {
                let take = wanted.intersection(free);
                if !take.is_empty() {
                    wanted.subtract(&take);
                    takes.push((pool, take));
                }
            }
        }
        for (pool, take) in takes {
            self.grant(agent, fw, role, pool, &take);
        }
    }

    /// Makes `framework` hold at least `wanted` in `role` on `agent`, taking
    /// what is missing from the free pools as far as they go.
    fn ensure_allocated(&mut self, agent: &AgentId, fw: &FrameworkId, role: RoleId, wanted: &Res) {
        let Some(a) = self.agents.get(agent) else {
            return;
        };
        let missing = match a.holding(fw, role) {
            Some(h) => wanted.minus(&h.pools.sum()),
            None => wanted.clone(),
        };
        self.take_free(agent, fw, role, missing);
    }
}

// === test support ===

#[cfg(test)]
impl Allocator {
    /// Checks every bookkeeping invariant; panics with a description of the
    /// first one broken.
    pub(crate) fn assert_consistent(&self) {
        let mut per_client: HashMap<(FrameworkId, RoleId), Res> = HashMap::new();
        let mut reserved_free: HashMap<RoleId, Res> = HashMap::new();
        let mut reservations: HashMap<RoleId, usize> = HashMap::new();
        let mut total_q = Res::default();
        let mut filter_keys = BTreeSet::new();
        for (agent_id, agent) in &self.agents {
            total_q.add(&agent.total.quantities());
            for (id, r) in &agent.total.reserved {
                assert!(!r.is_empty(), "{agent_id}: empty reserved pool");
                *reservations.entry(*id).or_default() += 1;
            }
            for (id, s) in &agent.static_reserved {
                assert!(
                    agent.total.get(Some(*id)).is_some_and(|t| t.contains(s)),
                    "{agent_id}: static reservation beyond the reserved total"
                );
            }
            for (id, r) in &agent.free.reserved {
                reserved_free.entry(*id).or_default().add(&r.quantities());
            }
            let pools: BTreeSet<Pool> = agent
                .total
                .iter()
                .map(|(p, _)| p)
                .chain(agent.free.iter().map(|(p, _)| p))
                .collect();
            for (pool, _) in agent.free.iter() {
                assert!(
                    agent.total.get(pool).is_some(),
                    "{agent_id}: free pool {pool:?} without a total"
                );
            }
            for pool in pools {
                // Union and counted sum both equal the total: the holdings and
                // the free part cover the pool exactly and do not overlap.
                let mut union = agent.free.get(pool).cloned().unwrap_or_default();
                let mut counted = union.quantities();
                for h in &agent.holdings {
                    if let Some(r) = h.pools.get(pool) {
                        union.add(r);
                        counted.add(&r.quantities());
                    }
                }
                let total = agent.total.get(pool).cloned().unwrap_or_default();
                assert_eq!(
                    union, total,
                    "{agent_id} pool {pool:?}: allocated + free != total"
                );
                assert_eq!(
                    counted,
                    total.quantities(),
                    "{agent_id} pool {pool:?}: holdings overlap"
                );
            }
            for w in agent.holdings.windows(2) {
                assert!(
                    (&w[0].framework, w[0].role) < (&w[1].framework, w[1].role),
                    "{agent_id}: holdings unsorted"
                );
            }
            for h in &agent.holdings {
                assert!(
                    !h.pools.is_empty(),
                    "{agent_id}: empty holding for {}",
                    h.framework
                );
                for (pool, _) in h.pools.iter() {
                    if let Some(p) = pool {
                        assert!(
                            self.roles.is_within(h.role, p),
                            "{agent_id}: {} holds another role's reservation",
                            h.framework
                        );
                    }
                }
                let f = self
                    .frameworks
                    .get(&h.framework)
                    .unwrap_or_else(|| panic!("{agent_id}: holding of unknown {}", h.framework));
                assert!(
                    f.agents.contains(agent_id),
                    "{} does not index {agent_id}",
                    h.framework
                );
                assert!(
                    f.roles.values().any(|r| r.id == h.role),
                    "{}: holding in a role it does not track",
                    h.framework
                );
                per_client
                    .entry((h.framework.clone(), h.role))
                    .or_default()
                    .add(&h.pools.quantities());
            }
            for (fw, filters) in &agent.filters {
                assert!(
                    !filters.is_empty(),
                    "{agent_id}: empty filter list for {fw}"
                );
                let f = self
                    .frameworks
                    .get(fw)
                    .unwrap_or_else(|| panic!("{agent_id}: filter for unknown {fw}"));
                assert!(f.is_registered(), "{fw} is pending but has filters");
                assert!(
                    f.filtered_agents.contains(agent_id),
                    "{fw} does not index filters on {agent_id}"
                );
                for filter in filters {
                    assert!(
                        f.roles
                            .values()
                            .any(|r| r.id == filter.role && r.subscribed),
                        "{fw}: filter for a role it is not subscribed to"
                    );
                    filter_keys.insert((filter.until, agent_id.clone(), fw.clone(), filter.role));
                }
            }
        }
        assert_eq!(
            filter_keys, self.expiries,
            "expiry queue out of step with filters"
        );
        assert_eq!(&total_q, self.roles.total(), "role tree total");
        for (fw, f) in &self.frameworks {
            for agent_id in &f.agents {
                let holds = self
                    .agents
                    .get(agent_id)
                    .is_some_and(|a| a.holdings.iter().any(|h| h.framework == *fw));
                assert!(holds, "{fw} indexes {agent_id} but holds nothing there");
            }
            for agent_id in &f.filtered_agents {
                let has = self
                    .agents
                    .get(agent_id)
                    .is_some_and(|a| a.filters.contains_key(fw));
                assert!(has, "{fw} indexes filters on {agent_id} but has none");
            }
            if !f.is_registered() {
                assert!(
                    !f.agents.is_empty(),
                    "pending {fw} holds nothing and should be forgotten"
                );
            }
            for (name, r) in &f.roles {
                assert_eq!(self.roles.id(name), Some(r.id), "{fw}: role id of {name}");
                let c = self
                    .roles
                    .client(r.id, fw)
                    .unwrap_or_else(|| panic!("{fw} has no client in {name}"));
                assert_eq!(c.active, f.offerable_in(r), "{fw} in {name}: activity");
                let expected = per_client.remove(&(fw.clone(), r.id)).unwrap_or_default();
                assert_eq!(c.allocation, expected, "{fw} in {name}: client allocation");
                if !r.subscribed {
                    assert!(
                        !c.allocation.is_empty(),
                        "{fw} keeps {name}, left and empty"
                    );
                    assert!(!r.suppressed, "{fw}: left role {name} suppressed");
                }
            }
        }
        assert!(
            per_client.is_empty(),
            "holdings of untracked clients: {per_client:?}"
        );
        self.roles.assert_consistent(
            &self
                .frameworks
                .iter()
                .map(|(fw, f)| (fw, f.roles.values().map(|r| r.id).collect()))
                .collect(),
            &reserved_free,
            &reservations,
        );
    }

    /// How many filters are still kept though they expired by `now`.
    pub(crate) fn expired_filters(&self, now: Time) -> usize {
        self.agents
            .values()
            .flat_map(|a| a.filters.values().flatten())
            .filter(|f| f.until <= now)
            .count()
    }

    /// Whether the framework is connected and offerable in some role.
    pub(crate) fn is_offerable(&self, framework: &FrameworkId) -> bool {
        self.frameworks
            .get(framework)
            .is_some_and(|f| f.roles.values().any(|r| f.offerable_in(r)))
    }

    /// Whether the framework may be offered in `role`.
    pub(crate) fn is_offerable_in(&self, framework: &FrameworkId, role: &str) -> bool {
        self.frameworks
            .get(framework)
            .is_some_and(|f| f.roles.get(role).is_some_and(|r| f.offerable_in(r)))
    }

    /// Whether the agent is known and active.
    pub(crate) fn is_agent_active(&self, agent: &AgentId) -> bool {
        self.agents.get(agent).is_some_and(|a| a.active)
    }

    /// The roles in which `recover(.., Some(t))` installs filters for this
    /// pair.
    pub(crate) fn filter_roles(&self, agent: &AgentId, framework: &FrameworkId) -> Vec<Role> {
        if !self.agents.contains_key(agent) {
            return Vec::new();
        }
        self.frameworks
            .get(framework)
            .filter(|f| f.is_registered())
            .map(|f| {
                f.roles
                    .iter()
                    .filter(|(_, r)| r.subscribed)
                    .map(|(n, _)| n.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What the framework holds on the agent, by role, with reservations.
    pub(crate) fn holdings_of(
        &self,
        agent: &AgentId,
        framework: &FrameworkId,
    ) -> Vec<(Role, RoleResources)> {
        let Some(a) = self.agents.get(agent) else {
            return Vec::new();
        };
        a.holdings
            .iter()
            .filter(|h| h.framework == *framework)
            .map(|h| (self.roles.name(h.role).to_owned(), self.tagged(&h.pools)))
            .collect()
    }

    /// The framework's subscribed roles.
    pub(crate) fn subscribed_roles(&self, framework: &FrameworkId) -> Vec<Role> {
        self.frameworks
            .get(framework)
            .map(|f| {
                f.roles
                    .iter()
                    .filter(|(_, r)| r.subscribed)
                    .map(|(n, _)| n.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}
