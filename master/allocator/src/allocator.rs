//! The allocator's state and its event handling.
//!
//! Bookkeeping invariants, checked after every step by the property tests:
//! on every agent the per-framework allocations are disjoint, lie within the
//! agent's total, and together with `free` make up exactly that total; the
//! sorter's allocation of a framework is the sum over agents of what it holds;
//! and every offer filter has an entry in the expiry queue and vice versa.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use strata_api::{AgentId, FrameworkId, Resources};

use crate::sorter::{DrfSorter, Sorter};
use crate::{Allocation, AllocatorConfig, Time};

/// `a ∩ b`: the smaller amount of every scalar, the common values of every
/// range set.
fn intersection(a: &Resources, b: &Resources) -> Resources {
    a.minus(&a.minus(b))
}

/// Sums a list of `(key, resources)` by key, so that a key listed twice is
/// not mistaken for a repeat of the same resources.
fn sum_by_key<K: Ord + Clone>(items: &[(K, Resources)]) -> BTreeMap<K, Resources> {
    let mut sums: BTreeMap<K, Resources> = BTreeMap::new();
    for (key, resources) in items {
        sums.entry(key.clone()).or_default().add(resources);
    }
    sums
}

// === state ===

#[derive(Debug, Clone)]
struct Agent {
    total: Resources,
    /// `total` minus every allocation on this agent.
    free: Resources,
    active: bool,
    /// Ordered so that a re-registration with a smaller total trims the same
    /// frameworks every time.
    allocations: BTreeMap<FrameworkId, Resources>,
    /// Offer filters by framework. Kept on the agent because `allocate` walks
    /// agents and asks "is this framework filtered here?" for each.
    filters: HashMap<FrameworkId, Vec<Filter>>,
}

/// A declined offer's `refuse_seconds`: until `until`, do not offer the
/// framework anything on this agent that `refused` contains.
#[derive(Debug, Clone)]
struct Filter {
    refused: Resources,
    until: Time,
}

impl Filter {
    fn refuses(&self, offer: &Resources, now: Time) -> bool {
        now < self.until && self.refused.contains(offer)
    }
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

#[derive(Debug, Clone)]
struct Framework {
    registration: Registration,
    suppressed: bool,
    /// Agents on which this framework holds an allocation.
    agents: HashSet<AgentId>,
    /// Agents on which this framework has offer filters.
    filtered_agents: HashSet<AgentId>,
}

impl Framework {
    fn new(registration: Registration) -> Self {
        Self {
            registration,
            suppressed: false,
            agents: HashSet::new(),
            filtered_agents: HashSet::new(),
        }
    }

    fn is_registered(&self) -> bool {
        self.registration != Registration::Pending
    }

    fn is_offerable(&self) -> bool {
        self.registration == Registration::Connected && !self.suppressed
    }
}

/// The DRF allocator. See the crate documentation.
///
/// Every method is an event or a read-only view except [`Allocator::allocate`],
/// which decides. Ids the allocator does not know are ignored, never a panic:
/// the master may race a removal against a late message.
#[derive(Debug, Clone)]
pub struct Allocator {
    config: AllocatorConfig,
    /// Ordered: `allocate` walks agents in id order, so a decision depends
    /// only on the events, never on hashing.
    agents: BTreeMap<AgentId, Agent>,
    frameworks: HashMap<FrameworkId, Framework>,
    sorter: DrfSorter,
    /// Every filter as `(until, agent, framework)`, soonest first, so expiry
    /// costs only the filters that expire.
    expiries: BTreeSet<(Time, AgentId, FrameworkId)>,
}

// === impl Allocator: events ===

impl Allocator {
    /// An allocator with no agents and no frameworks.
    pub fn new(config: AllocatorConfig) -> Self {
        Self {
            config,
            agents: BTreeMap::new(),
            frameworks: HashMap::new(),
            sorter: DrfSorter::default(),
            expiries: BTreeSet::new(),
        }
    }

    /// A new or re-registered agent, active from now on.
    ///
    /// `used` maps frameworks to resources already in use on the agent (tasks
    /// that survived a master or agent restart); they count as allocated to
    /// those frameworks, including frameworks that have not been added yet
    /// (they are tracked until [`Allocator::add_framework`] or
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
        if self.agents.contains_key(&agent) {
            self.replace_total(&agent, total);
        } else {
            self.sorter.add_total(&total);
            self.agents.insert(
                agent.clone(),
                Agent {
                    free: total.clone(),
                    total,
                    active: true,
                    allocations: BTreeMap::new(),
                    filters: HashMap::new(),
                },
            );
        }
        for (framework, wanted) in sum_by_key(used) {
            if !self.frameworks.contains_key(&framework) {
                self.frameworks
                    .insert(framework.clone(), Framework::new(Registration::Pending));
                self.sorter.add(&framework);
            }
            self.ensure_allocated(&agent, &framework, &wanted);
            self.forget_if_unused(&framework);
        }
    }

    /// Removes the agent and everything allocated on it: frameworks'
    /// allocations and the cluster total shrink accordingly, and filters on
    /// it are dropped.
    pub fn remove_agent(&mut self, agent: &AgentId) {
        let Some(removed) = self.agents.remove(agent) else {
            return;
        };
        self.sorter.remove_total(&removed.total);
        for (framework, allocation) in &removed.allocations {
            self.sorter.unallocated(framework, allocation);
            if let Some(f) = self.frameworks.get_mut(framework) {
                f.agents.remove(agent);
            }
        }
        for (framework, filters) in &removed.filters {
            for filter in filters {
                self.expiries
                    .remove(&(filter.until, agent.clone(), framework.clone()));
            }
            if let Some(f) = self.frameworks.get_mut(framework) {
                f.filtered_agents.remove(agent);
            }
        }
        for framework in removed.allocations.keys() {
            self.forget_if_unused(framework);
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

    /// A framework subscribed or re-subscribed; it is active from now on.
    ///
    /// `used` lists the resources of its tasks already running, by agent.
    /// Idempotent: for a known framework this activates it (suppression and
    /// filters are left as they are) and makes it hold at least `used` on
    /// each agent, without counting again what is already allocated to it
    /// (for instance reported by [`Allocator::add_agent`]). Unknown agents in
    /// `used` are skipped; the agent will report the tasks when it is added.
    pub fn add_framework(&mut self, framework: FrameworkId, used: &[(AgentId, Resources)]) {
        match self.frameworks.get_mut(&framework) {
            Some(f) => f.registration = Registration::Connected,
            None => {
                self.frameworks
                    .insert(framework.clone(), Framework::new(Registration::Connected));
                self.sorter.add(&framework);
            }
        }
        self.sync_sorter(&framework);
        for (agent, wanted) in sum_by_key(used) {
            self.ensure_allocated(&agent, &framework, &wanted);
        }
    }

    /// Forgets the framework: everything allocated to it returns to the free
    /// pool and its filters are dropped.
    pub fn remove_framework(&mut self, framework: &FrameworkId) {
        let Some(removed) = self.frameworks.remove(framework) else {
            return;
        };
        for agent_id in &removed.agents {
            if let Some(agent) = self.agents.get_mut(agent_id) {
                if let Some(allocation) = agent.allocations.remove(framework) {
                    agent.free.add(&allocation);
                }
            }
        }
        for agent_id in &removed.filtered_agents {
            if let Some(agent) = self.agents.get_mut(agent_id) {
                drop_filters(agent_id, agent, framework, &mut self.expiries);
            }
        }
        self.sorter.remove(framework);
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
        self.clear_filters(framework);
        self.sync_sorter(framework);
    }

    /// The framework reconnected and may be offered again (unless suppressed).
    pub fn activate_framework(&mut self, framework: &FrameworkId) {
        match self.frameworks.get_mut(framework) {
            Some(f) if f.is_registered() => f.registration = Registration::Connected,
            _ => return,
        }
        self.sync_sorter(framework);
    }

    /// SUPPRESS: the framework gets no offers until [`Allocator::revive`].
    /// Its allocation and share are unchanged.
    pub fn suppress(&mut self, framework: &FrameworkId) {
        match self.frameworks.get_mut(framework) {
            Some(f) if f.is_registered() => f.suppressed = true,
            _ => return,
        }
        self.sync_sorter(framework);
    }

    /// REVIVE: lifts suppression and clears all of the framework's offer
    /// filters.
    pub fn revive(&mut self, framework: &FrameworkId) {
        match self.frameworks.get_mut(framework) {
            Some(f) if f.is_registered() => f.suppressed = false,
            _ => return,
        }
        self.clear_filters(framework);
        self.sync_sorter(framework);
    }

    /// Resources allocated to `framework` on `agent` come back: a declined or
    /// rescinded offer, the unused part of an accepted offer, a finished task.
    /// Only what is actually allocated to the framework there is returned;
    /// the rest of `resources` is ignored.
    ///
    /// With `refuse_until: Some(t)`, a filter is installed: until `t`, the
    /// framework is not offered on this agent anything that `resources`
    /// contains (Mesos's `refuse_seconds`). A larger free pool is offered.
    ///
    /// Unknown agents and frameworks are ignored.
    pub fn recover(
        &mut self,
        agent: &AgentId,
        framework: &FrameworkId,
        resources: &Resources,
        refuse_until: Option<Time>,
    ) {
        let (Some(a), Some(f)) = (
            self.agents.get_mut(agent),
            self.frameworks.get_mut(framework),
        ) else {
            return;
        };
        // A pending framework has no scheduler that could have declined.
        if let (Some(until), true) = (refuse_until, f.is_registered()) {
            if add_filter(a, framework, resources, until) {
                self.expiries
                    .insert((until, agent.clone(), framework.clone()));
                f.filtered_agents.insert(agent.clone());
            }
        }
        self.release(agent, framework, resources);
    }

    /// Marks `resources` on `agent` allocated to `framework` without an offer,
    /// for tasks reported after the agent was added. Only what is free on the
    /// agent is counted. Unknown agents and frameworks are ignored.
    pub fn allocate_used(
        &mut self,
        agent: &AgentId,
        framework: &FrameworkId,
        resources: &Resources,
    ) {
        if !self.frameworks.contains_key(framework) {
            return;
        }
        let Some(a) = self.agents.get(agent) else {
            return;
        };
        let grant = intersection(resources, &a.free);
        self.grant(agent, framework, &grant);
    }

    // === impl Allocator: the decision ===

    /// Offers every active agent's free resources, if they reach the minimum
    /// in [`AllocatorConfig`], wholly to one framework: the connected,
    /// unsuppressed framework with the lowest dominant share (ties by id)
    /// that no unexpired filter keeps from them. Shares update after each
    /// agent, so frameworks take turns within one call. Agents are visited in
    /// id order.
    ///
    /// The returned resources count as allocated to their frameworks until
    /// [recovered](Allocator::recover). Filters that expired by `now` are
    /// dropped.
    pub fn allocate(&mut self, now: Time) -> Vec<Allocation> {
        self.expire_filters(now);
        let Self {
            config,
            agents,
            frameworks,
            sorter,
            ..
        } = self;
        let mut allocations = Vec::new();
        for (agent_id, agent) in agents.iter_mut() {
            if !agent.active || !is_allocatable(config, &agent.free) {
                continue;
            }
            let filters = &agent.filters;
            let free = &agent.free;
            let chosen = sorter
                .sorted()
                .find(|fw| {
                    filters
                        .get(*fw)
                        .is_none_or(|fs| !fs.iter().any(|f| f.refuses(free, now)))
                })
                .cloned();
            let Some(framework_id) = chosen else {
                continue;
            };
            let resources = std::mem::take(&mut agent.free);
            agent
                .allocations
                .entry(framework_id.clone())
                .or_default()
                .add(&resources);
            if let Some(f) = frameworks.get_mut(&framework_id) {
                f.agents.insert(agent_id.clone());
            }
            sorter.allocated(&framework_id, &resources);
            allocations.push(Allocation {
                framework_id,
                agent_id: agent_id.clone(),
                resources,
            });
        }
        allocations
    }

    // === impl Allocator: views ===

    /// The sum of all agents' totals, active or not. Range sets are merged
    /// across agents (ports 31000-32000 on two agents show once).
    pub fn total(&self) -> Resources {
        let mut total = Resources::new();
        for agent in self.agents.values() {
            total.add(&agent.total);
        }
        total
    }

    /// The sum of all allocations (offered or in use), merged as in
    /// [`Allocator::total`].
    pub fn allocated(&self) -> Resources {
        let mut allocated = Resources::new();
        for agent in self.agents.values() {
            for allocation in agent.allocations.values() {
                allocated.add(allocation);
            }
        }
        allocated
    }

    /// Everything allocated to `framework` across agents (empty if unknown).
    pub fn framework_allocated(&self, framework: &FrameworkId) -> Resources {
        let mut allocated = Resources::new();
        let Some(f) = self.frameworks.get(framework) else {
            return allocated;
        };
        for agent_id in &f.agents {
            if let Some(a) = self
                .agents
                .get(agent_id)
                .and_then(|a| a.allocations.get(framework))
            {
                allocated.add(a);
            }
        }
        allocated
    }

    /// The framework's dominant share: the largest fraction of any resource
    /// in the cluster total that is allocated to it (0 if unknown). Range
    /// sets count by their number of values, summed per agent.
    pub fn framework_share(&self, framework: &FrameworkId) -> f64 {
        self.sorter.share(framework)
    }

    /// The agent's free (unallocated) resources, or `None` if unknown.
    pub fn agent_free(&self, agent: &AgentId) -> Option<Resources> {
        self.agents.get(agent).map(|a| a.free.clone())
    }

    // === impl Allocator: bookkeeping ===

    /// Moves `resources` (which must be free on the agent) into the
    /// framework's allocation there.
    fn grant(&mut self, agent: &AgentId, framework: &FrameworkId, resources: &Resources) {
        if resources.is_empty() {
            return;
        }
        let (Some(a), Some(f)) = (
            self.agents.get_mut(agent),
            self.frameworks.get_mut(framework),
        ) else {
            return;
        };
        a.free.subtract(resources);
        a.allocations
            .entry(framework.clone())
            .or_default()
            .add(resources);
        f.agents.insert(agent.clone());
        self.sorter.allocated(framework, resources);
    }

    /// Returns to the free pool the part of `resources` that is allocated to
    /// `framework` on `agent`.
    fn release(&mut self, agent: &AgentId, framework: &FrameworkId, resources: &Resources) {
        let Some(a) = self.agents.get_mut(agent) else {
            return;
        };
        let Some(allocation) = a.allocations.get_mut(framework) else {
            return;
        };
        let back = intersection(allocation, resources);
        if back.is_empty() {
            return;
        }
        allocation.subtract(&back);
        if allocation.is_empty() {
            a.allocations.remove(framework);
            if let Some(f) = self.frameworks.get_mut(framework) {
                f.agents.remove(agent);
            }
        }
        a.free.add(&back);
        self.sorter.unallocated(framework, &back);
        self.forget_if_unused(framework);
    }

    /// Makes `framework` hold at least `wanted` on `agent`, taking what is
    /// missing from the agent's free pool as far as it goes.
    fn ensure_allocated(&mut self, agent: &AgentId, framework: &FrameworkId, wanted: &Resources) {
        let Some(a) = self.agents.get(agent) else {
            return;
        };
        let missing = match a.allocations.get(framework) {
            Some(held) => wanted.minus(held),
            None => wanted.clone(),
        };
        let grant = intersection(&missing, &a.free);
        self.grant(agent, framework, &grant);
    }

    /// Sets a known agent's total to `total`, trimming allocations that no
    /// longer fit.
    fn replace_total(&mut self, agent: &AgentId, total: Resources) {
        let Some(a) = self.agents.get_mut(agent) else {
            return;
        };
        self.sorter.remove_total(&a.total);
        self.sorter.add_total(&total);
        let mut remaining = total.clone();
        let mut excess = Vec::new();
        for (framework, allocation) in &a.allocations {
            let kept = intersection(allocation, &remaining);
            remaining.subtract(&kept);
            if kept != *allocation {
                excess.push((framework.clone(), allocation.minus(&kept)));
            }
        }
        a.total = total;
        a.active = true;
        for (framework, lost) in excess {
            self.release(agent, &framework, &lost);
        }
        // `release` put the trimmed parts into `free`; they are not part of
        // the new total, so free is what the kept allocations leave.
        if let Some(a) = self.agents.get_mut(agent) {
            a.free = remaining;
        }
    }

    /// Drops a framework that is known only through allocations once it has
    /// none left.
    fn forget_if_unused(&mut self, framework: &FrameworkId) {
        let unused = self.frameworks.get(framework).is_some_and(|f| {
            !f.is_registered() && f.agents.is_empty() && f.filtered_agents.is_empty()
        });
        if unused {
            self.frameworks.remove(framework);
            self.sorter.remove(framework);
        }
    }

    /// Tells the sorter whether the framework may be offered.
    fn sync_sorter(&mut self, framework: &FrameworkId) {
        match self.frameworks.get(framework) {
            Some(f) if f.is_offerable() => self.sorter.activate(framework),
            Some(_) => self.sorter.deactivate(framework),
            None => {}
        }
    }

    /// Drops all of the framework's filters.
    fn clear_filters(&mut self, framework: &FrameworkId) {
        let Some(f) = self.frameworks.get_mut(framework) else {
            return;
        };
        for agent_id in f.filtered_agents.drain() {
            if let Some(agent) = self.agents.get_mut(&agent_id) {
                drop_filters(&agent_id, agent, framework, &mut self.expiries);
            }
        }
    }

    fn expire_filters(&mut self, now: Time) {
        while self
            .expiries
            .first()
            .is_some_and(|(until, _, _)| *until <= now)
        {
            let Some((_, agent_id, framework)) = self.expiries.pop_first() else {
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

fn is_allocatable(config: &AllocatorConfig, free: &Resources) -> bool {
    !free.is_empty()
        && (free.cpus() >= config.min_allocatable_cpus || free.mem() >= config.min_allocatable_mem)
}

/// Adds a filter unless an existing one already refuses at least as much for
/// at least as long (a framework declining the same offer every cycle should
/// not pile them up). Returns whether it was added.
fn add_filter(
    agent: &mut Agent,
    framework: &FrameworkId,
    refused: &Resources,
    until: Time,
) -> bool {
    let filters = agent.filters.entry(framework.clone()).or_default();
    if filters
        .iter()
        .any(|f| f.until >= until && f.refused.contains(refused))
    {
        return false;
    }
    filters.push(Filter {
        refused: refused.clone(),
        until,
    });
    true
}

/// Removes all filters of `framework` on one agent, with their expiry keys.
/// The caller updates the framework's `filtered_agents`.
fn drop_filters(
    agent_id: &AgentId,
    agent: &mut Agent,
    framework: &FrameworkId,
    expiries: &mut BTreeSet<(Time, AgentId, FrameworkId)>,
) {
    if let Some(filters) = agent.filters.remove(framework) {
        for filter in filters {
            expiries.remove(&(filter.until, agent_id.clone(), framework.clone()));
        }
    }
}

// === test support ===

#[cfg(test)]
impl Allocator {
    /// Checks every bookkeeping invariant; panics with a description of the
    /// first one broken.
    pub(crate) fn assert_consistent(&self) {
        use crate::sorter::quantities;

        let mut per_framework: HashMap<&FrameworkId, Resources> = HashMap::new();
        let mut filter_keys = BTreeSet::new();
        for (agent_id, agent) in &self.agents {
            // Union and counted sum both equal the total: the allocations and
            // the free pool cover it exactly and do not overlap.
            let mut union = agent.free.clone();
            let mut counted = quantities(&agent.free);
            for (fw, allocation) in &agent.allocations {
                assert!(
                    !allocation.is_empty(),
                    "{agent_id}: empty allocation for {fw}"
                );
                let f = self
                    .frameworks
                    .get(fw)
                    .unwrap_or_else(|| panic!("{agent_id}: allocation for unknown {fw}"));
                assert!(
                    f.agents.contains(agent_id),
                    "{fw} does not index {agent_id}"
                );
                union.add(allocation);
                counted.add(&quantities(allocation));
                per_framework
                    .entry(fw)
                    .or_default()
                    .add(&quantities(allocation));
            }
            assert_eq!(union, agent.total, "{agent_id}: allocated + free != total");
            assert_eq!(
                counted,
                quantities(&agent.total),
                "{agent_id}: allocations overlap"
            );
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
                    filter_keys.insert((filter.until, agent_id.clone(), fw.clone()));
                }
            }
        }
        assert_eq!(
            filter_keys, self.expiries,
            "expiry queue out of step with filters"
        );
        for (fw, f) in &self.frameworks {
            for agent_id in &f.agents {
                let held = self
                    .agents
                    .get(agent_id)
                    .and_then(|a| a.allocations.get(fw));
                assert!(
                    held.is_some(),
                    "{fw} indexes {agent_id} but holds nothing there"
                );
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
            assert_eq!(
                self.sorter.is_active(fw),
                Some(f.is_offerable()),
                "{fw}: sorter activity"
            );
            let expected = per_framework.remove(fw).unwrap_or_default();
            assert_eq!(
                self.sorter.allocation(fw),
                Some(&expected),
                "{fw}: sorter allocation"
            );
        }
        assert!(
            per_framework.is_empty(),
            "allocations of forgotten frameworks"
        );
        self.sorter.assert_consistent();
    }

    /// How many filters are still kept though they expired by `now`.
    pub(crate) fn expired_filters(&self, now: Time) -> usize {
        self.agents
            .values()
            .flat_map(|a| a.filters.values().flatten())
            .filter(|f| f.until <= now)
            .count()
    }

    /// Whether the framework is subscribed, connected and not suppressed.
    pub(crate) fn is_offerable(&self, framework: &FrameworkId) -> bool {
        self.frameworks
            .get(framework)
            .is_some_and(Framework::is_offerable)
    }

    /// Whether the agent is known and active.
    pub(crate) fn is_agent_active(&self, agent: &AgentId) -> bool {
        self.agents.get(agent).is_some_and(|a| a.active)
    }

    /// Whether a filter would be installed by `recover` for this pair.
    pub(crate) fn accepts_filters(&self, agent: &AgentId, framework: &FrameworkId) -> bool {
        self.agents.contains_key(agent)
            && self
                .frameworks
                .get(framework)
                .is_some_and(Framework::is_registered)
    }
}
