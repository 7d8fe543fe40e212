//! Who is offered next: the role tree and the ordering policy.
//!
//! [`Roles`] is the tree of roles (`eng`, `eng/backend`, ...) under an
//! unnamed root. Every node knows what its subtree holds (allocations and
//! unallocated reservations, as [quantities](Res::quantities)), its weight
//! and quota, and its clients: the frameworks in exactly that role, each
//! with what it holds in that role. A framework with several roles is a
//! client in each.
//!
//! [`Roles::find`] walks the tree for the next client to offer to, asking a
//! predicate about each candidate (filters, limits and headroom are the
//! allocator's business, not the tree's). The order of the walk is the
//! [`Sorter`]: weighted DRF (Mesos's hierarchical DRF: siblings by dominant
//! share of their subtree divided by weight, frameworks by their own dominant
//! share) or a seeded weighted random order. A role holding both frameworks
//! and child roles treats its own frameworks as one more child (Mesos's
//! virtual `role/.` leaf) with the role's weight.
//!
//! DRF order is kept incrementally in `BTreeSet`s keyed by `(share, name)`:
//! an allocation costs `O(depth x log siblings)`. A change of cluster total
//! changes every share at once; it only marks the tree dirty, and the order
//! is rebuilt before the next walk, so adding ten thousand agents costs one
//! rebuild.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use strata_api::{parent_role, FrameworkId};

use crate::res::Res;
use crate::{Role, SorterKind, Time};

/// Index of a node in [`Roles`]. Stable while the node exists; a pruned
/// node's index may be reused.
pub(crate) type RoleId = usize;

/// The unnamed root of the tree.
pub(crate) const ROOT: RoleId = 0;

/// A share usable as an ordered key. Shares are finite and non-negative, so
/// `total_cmp` orders them as numbers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Share(pub(crate) f64);

impl PartialEq for Share {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Share {}

impl PartialOrd for Share {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Share {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// An entry in a node's order: its own frameworks, or a child role (ties
/// between equal shares go by name, own frameworks first).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Entry {
    Own,
    Child(Role, RoleId),
}

/// Quota of one role, in quantities of scalars.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QuotaRes {
    pub(crate) guarantee: Res,
    pub(crate) limit: Option<Res>,
}

/// A framework as a client of one role.
#[derive(Debug, Clone, Default)]
pub(crate) struct Client {
    /// What it holds in this role, as quantities.
    pub(crate) allocation: Res,
    /// Its key in the role's framework order while active and not dirty.
    share: f64,
    pub(crate) active: bool,
    /// Since when it has wanted resources without being allocated any: set
    /// by the first allocation cycle that sees it active, reset by every
    /// allocation, cleared when it stops being active.
    pub(crate) wanting_since: Option<Time>,
}

#[derive(Debug, Clone)]
pub(crate) struct RoleNode {
    pub(crate) name: Role,
    pub(crate) parent: Option<RoleId>,
    pub(crate) depth: usize,
    children: usize,
    pub(crate) weight: f64,
    pub(crate) quota: Option<QuotaRes>,
    /// What the subtree's clients hold, as quantities.
    pub(crate) allocated: Res,
    /// What this node's own clients hold.
    own_allocated: Res,
    /// Unallocated reservations for roles in the subtree, as quantities.
    pub(crate) reserved_free: Res,
    /// How many agents hold a reservation for exactly this role.
    pub(crate) reservations: usize,
    pub(crate) clients: HashMap<FrameworkId, Client>,
    order: BTreeSet<(Share, Entry)>,
    fw_order: BTreeSet<(Share, FrameworkId)>,
    /// Key in the parent's order while active and not dirty.
    share: f64,
    /// Key of `Entry::Own` in this node's order.
    own_share: f64,
    /// Active clients in the subtree.
    pub(crate) active: usize,
    own_active: usize,
}

impl RoleNode {
    fn new(name: Role, parent: Option<RoleId>, depth: usize) -> Self {
        Self {
            name,
            parent,
            depth,
            children: 0,
            weight: 1.0,
            quota: None,
            allocated: Res::default(),
            own_allocated: Res::default(),
            reserved_free: Res::default(),
            reservations: 0,
            clients: HashMap::new(),
            order: BTreeSet::new(),
            fw_order: BTreeSet::new(),
            share: 0.0,
            own_share: 0.0,
            active: 0,
            own_active: 0,
        }
    }

    fn removable(&self) -> bool {
        self.children == 0
            && self.clients.is_empty()
            && self.reservations == 0
            && self.quota.is_none()
            && self.weight == 1.0
    }
}

/// The ordering policy: in which order one level's active entries are tried.
pub(crate) trait Sorter {
    /// Offers the entries to `try_entry`, best first, until it returns
    /// `Some`. Entries come in DRF order (lowest weighted share first, ties
    /// by name) with their weights.
    /// `uniform`: all weights are equal (frameworks within a role).
    fn choose<K: Copy, T>(
        &mut self,
        entries: impl ExactSizeIterator<Item = (K, f64)> + Clone,
        uniform: bool,
        try_entry: impl FnMut(&mut Self, K) -> Option<T>,
    ) -> Option<T>;
}

/// Weighted DRF: the order the entries come in.
#[derive(Debug, Clone, Default)]
pub(crate) struct Drf;

impl Sorter for Drf {
    fn choose<K: Copy, T>(
        &mut self,
        entries: impl ExactSizeIterator<Item = (K, f64)> + Clone,
        _uniform: bool,
        mut try_entry: impl FnMut(&mut Self, K) -> Option<T>,
    ) -> Option<T> {
        for (k, _) in entries {
            if let Some(t) = try_entry(self, k) {
                return Some(t);
            }
        }
        None
    }
}

/// Mesos's random sorter: a weighted random order (an entry of weight 2 is
/// twice as likely to come first as one of weight 1), drawn lazily so that
/// usually only the first pick is paid for. Deterministic for a seed and a
/// sequence of events.
#[derive(Debug, Clone)]
pub(crate) struct Random {
    state: u64,
}

impl Random {
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// SplitMix64: tiny, fast, and good enough to pick offers.
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Sorter for Random {
    fn choose<K: Copy, T>(
        &mut self,
        entries: impl ExactSizeIterator<Item = (K, f64)> + Clone,
        uniform: bool,
        mut try_entry: impl FnMut(&mut Self, K) -> Option<T>,
    ) -> Option<T> {
        // Equal weights: the first pick is an index, found without copying
        // the entries (the common case: it is taken).
        let mut skip = None;
        if uniform && entries.len() > 0 {
            let k = (self.next_u64() % entries.len() as u64) as usize;
            if let Some((key, _)) = entries.clone().nth(k) {
                if let Some(t) = try_entry(self, key) {
                    return Some(t);
                }
                skip = Some(k);
            }
        }
        let mut left: Vec<(K, f64)> = entries
            .enumerate()
            .filter(|(i, _)| Some(*i) != skip)
            .map(|(_, e)| e)
            .collect();
        while !left.is_empty() {
            let sum: f64 = left.iter().map(|(_, w)| w).sum();
            let mut point = self.next_f64() * sum;
            let mut pick = left.len() - 1;
            for (i, (_, w)) in left.iter().enumerate() {
                if point < *w {
                    pick = i;
                    break;
                }
                point -= w;
            }
            let (k, _) = left.swap_remove(pick);
            if let Some(t) = try_entry(self, k) {
                return Some(t);
            }
        }
        None
    }
}

/// The configured policy.
#[derive(Debug, Clone)]
pub(crate) enum Policy {
    Drf(Drf),
    Random(Random),
}

impl Policy {
    pub(crate) fn new(kind: &SorterKind) -> Self {
        match kind {
            SorterKind::Drf => Policy::Drf(Drf),
            SorterKind::Random { seed } => Policy::Random(Random::new(*seed)),
        }
    }
}

impl Roles {
    /// [`Roles::find`] with the configured policy.
    pub(crate) fn find_with<T, A>(
        &self,
        start: RoleId,
        policy: &mut Policy,
        accept: &mut A,
    ) -> Option<(FrameworkId, RoleId, T)>
    where
        A: FnMut(&FrameworkId, RoleId) -> Option<T>,
    {
        match policy {
            Policy::Drf(s) => self.find(start, s, accept),
            Policy::Random(s) => self.find(start, s, accept),
        }
    }
}

/// The role tree. See the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct Roles {
    nodes: Vec<Option<RoleNode>>,
    free_ids: Vec<RoleId>,
    index: HashMap<Role, RoleId>,
    /// The cluster total as quantities: the denominator of every share.
    total: Res,
    dirty: bool,
    /// Roles with a quota, by name.
    pub(crate) quota_roles: BTreeMap<Role, RoleId>,
}

impl Default for Roles {
    fn default() -> Self {
        Self {
            nodes: vec![Some(RoleNode::new(String::new(), None, 0))],
            free_ids: Vec::new(),
            index: HashMap::new(),
            total: Res::default(),
            dirty: false,
            quota_roles: BTreeMap::new(),
        }
    }
}

// === impl Roles: structure ===

impl Roles {
    pub(crate) fn id(&self, role: &str) -> Option<RoleId> {
        self.index.get(role).copied()
    }

    /// The node; `id` must be live (ids come from this tree and nodes in use
    /// are never pruned).
    pub(crate) fn node(&self, id: RoleId) -> &RoleNode {
        match self.nodes.get(id) {
            Some(Some(n)) => n,
            _ => unreachable!("role id {id} is not live"),
        }
    }

    fn node_mut(&mut self, id: RoleId) -> &mut RoleNode {
        slot(&mut self.nodes, id)
    }

    pub(crate) fn name(&self, id: RoleId) -> &str {
        &self.node(id).name
    }

    pub(crate) fn total(&self) -> &Res {
        &self.total
    }

    /// The node for `role` (a valid name), created with its ancestors.
    pub(crate) fn ensure(&mut self, role: &str) -> RoleId {
        if let Some(id) = self.id(role) {
            return id;
        }
        let parent = match parent_role(role) {
            Some(p) => self.ensure(p),
            None => ROOT,
        };
        let depth = self.node(parent).depth + 1;
        let node = RoleNode::new(role.to_owned(), Some(parent), depth);
        let id = match self.free_ids.pop() {
            Some(id) => {
                self.nodes[id] = Some(node);
                id
            }
            None => {
                self.nodes.push(Some(node));
                self.nodes.len() - 1
            }
        };
        self.node_mut(parent).children += 1;
        self.index.insert(role.to_owned(), id);
        id
    }

    /// Removes the node and then its ancestors while they hold nothing and
    /// configure nothing.
    pub(crate) fn prune(&mut self, mut id: RoleId) {
        while id != ROOT {
            let node = self.node(id);
            if !node.removable() {
                return;
            }
            let parent = node.parent.unwrap_or(ROOT);
            let name = node.name.clone();
            self.index.remove(&name);
            self.nodes[id] = None;
            self.free_ids.push(id);
            self.node_mut(parent).children -= 1;
            id = parent;
        }
    }

    /// `id` and its ancestors up to (not including) the root, deepest first.
    pub(crate) fn path(&self, id: RoleId) -> impl Iterator<Item = RoleId> + '_ {
        std::iter::successors(Some(id), |i| self.node(*i).parent).filter(|i| *i != ROOT)
    }

    /// Whether `role` is `ancestor` or below it.
    #[cfg(test)]
    pub(crate) fn is_within(&self, role: RoleId, ancestor: RoleId) -> bool {
        self.path(role).any(|i| i == ancestor)
    }

    /// Every live role (not the root) with its id, in name order.
    pub(crate) fn all(&self) -> BTreeMap<&str, RoleId> {
        self.index.iter().map(|(k, v)| (k.as_str(), *v)).collect()
    }

    pub(crate) fn set_weight(&mut self, id: RoleId, weight: f64) {
        self.node_mut(id).weight = weight;
        // Every key of this node changes; simplest to rebuild once.
        self.dirty = true;
    }

    pub(crate) fn set_quota(&mut self, id: RoleId, quota: Option<QuotaRes>) {
        let node = self.node_mut(id);
        node.quota = quota;
        let name = node.name.clone();
        if self.node(id).quota.is_some() {
            self.quota_roles.insert(name, id);
        } else {
            self.quota_roles.remove(&name);
        }
    }
}

/// The live node `id` of `nodes`, borrowed apart from the rest of the tree.
fn slot(nodes: &mut [Option<RoleNode>], id: RoleId) -> &mut RoleNode {
    match nodes.get_mut(id) {
        Some(Some(n)) => n,
        _ => unreachable!("role id {id} is not live"),
    }
}

// === impl Roles: clients and accounting ===

impl Roles {
    pub(crate) fn client(&self, role: RoleId, fw: &FrameworkId) -> Option<&Client> {
        self.node(role).clients.get(fw)
    }

    pub(crate) fn client_mut(&mut self, role: RoleId, fw: &FrameworkId) -> Option<&mut Client> {
        self.node_mut(role).clients.get_mut(fw)
    }

    /// Starts tracking `fw` in `role`, inactive and holding nothing.
    pub(crate) fn add_client(&mut self, role: RoleId, fw: &FrameworkId) {
        self.node_mut(role).clients.entry(fw.clone()).or_default();
    }

    /// Stops tracking `fw` in `role`; what it held there is forgotten (the
    /// caller has already returned it to the agents' free pools).
    pub(crate) fn remove_client(&mut self, role: RoleId, fw: &FrameworkId) {
        self.set_active(role, fw, false);
        let Some(client) = self.node_mut(role).clients.remove(fw) else {
            return;
        };
        if !client.allocation.is_empty() {
            self.node_mut(role)
                .own_allocated
                .subtract(&client.allocation);
            self.refile_own(role);
            self.add_to_path(role, &client.allocation, false);
        }
    }

    /// Makes the client eligible for [`Roles::find`] or hides it.
    pub(crate) fn set_active(&mut self, role: RoleId, fw: &FrameworkId, active: bool) {
        let dirty = self.dirty;
        let total = &self.total;
        let node = slot(&mut self.nodes, role);
        let Some(client) = node.clients.get_mut(fw) else {
            return;
        };
        if client.active == active {
            return;
        }
        client.active = active;
        if !active {
            client.wanting_since = None;
        }
        if !dirty {
            if active {
                client.share = client.allocation.dominant_share(total);
                node.fw_order.insert((Share(client.share), fw.clone()));
            } else {
                node.fw_order.remove(&(Share(client.share), fw.clone()));
            }
        }
        let own_before = node.own_active;
        if active {
            node.own_active += 1;
        } else {
            node.own_active -= 1;
        }
        if !dirty && (own_before == 0) != (node.own_active == 0) {
            if active {
                node.own_share = node.own_allocated.dominant_share(total) / node.weight;
                node.order.insert((Share(node.own_share), Entry::Own));
            } else {
                node.order.remove(&(Share(node.own_share), Entry::Own));
            }
        }
        // Up the tree: a node enters or leaves its parent's order when its
        // first client activates or its last one deactivates.
        let mut id = role;
        loop {
            let node = self.node_mut(id);
            let before = node.active;
            if active {
                node.active += 1;
            } else {
                node.active -= 1;
            }
            let after = node.active;
            let Some(parent) = node.parent else {
                break;
            };
            if !self.dirty && (before == 0) != (after == 0) {
                let node = self.node(id);
                let share = node.allocated.dominant_share(&self.total) / node.weight;
                let key = Entry::Child(node.name.clone(), id);
                let old = node.share;
                if active {
                    self.node_mut(id).share = share;
                    self.node_mut(parent).order.insert((Share(share), key));
                } else {
                    self.node_mut(parent).order.remove(&(Share(old), key));
                }
            }
            id = parent;
        }
    }

    /// `q` (quantities) was allocated to `fw` in `role` (`negative`: came
    /// back).
    pub(crate) fn allocated(&mut self, role: RoleId, fw: &FrameworkId, q: &Res) {
        self.change(role, fw, q, true);
    }

    pub(crate) fn unallocated(&mut self, role: RoleId, fw: &FrameworkId, q: &Res) {
        self.change(role, fw, q, false);
    }

    fn change(&mut self, role: RoleId, fw: &FrameworkId, q: &Res, add: bool) {
        let dirty = self.dirty;
        let total = &self.total;
        let node = slot(&mut self.nodes, role);
        let Some(client) = node.clients.get_mut(fw) else {
            return;
        };
        let refile = client.active && !dirty;
        if refile {
            node.fw_order.remove(&(Share(client.share), fw.clone()));
        }
        if add {
            client.allocation.add(q);
        } else {
            client.allocation.subtract(q);
        }
        if refile {
            client.share = client.allocation.dominant_share(total);
            node.fw_order.insert((Share(client.share), fw.clone()));
        }
        if add {
            node.own_allocated.add(q);
        } else {
            node.own_allocated.subtract(q);
        }
        self.refile_own(role);
        self.add_to_path(role, q, add);
    }

    fn refile_own(&mut self, role: RoleId) {
        if self.dirty {
            return;
        }
        let total = &self.total;
        let node = slot(&mut self.nodes, role);
        if node.own_active > 0 {
            node.order.remove(&(Share(node.own_share), Entry::Own));
            node.own_share = node.own_allocated.dominant_share(total) / node.weight;
            node.order.insert((Share(node.own_share), Entry::Own));
        }
    }

    /// Adds (or subtracts) `q` to the subtree allocation of `role` and its
    /// ancestors, re-keying each in its parent's order.
    fn add_to_path(&mut self, role: RoleId, q: &Res, add: bool) {
        let mut id = role;
        loop {
            let node = self.node_mut(id);
            if add {
                node.allocated.add(q);
            } else {
                node.allocated.subtract(q);
            }
            let Some(parent) = node.parent else {
                break;
            };
            self.rekey(id, parent);
            id = parent;
        }
    }

    fn rekey(&mut self, id: RoleId, parent: RoleId) {
        if self.dirty || self.node(id).active == 0 {
            return;
        }
        let node = self.node(id);
        let share = node.allocated.dominant_share(&self.total) / node.weight;
        let key = Entry::Child(node.name.clone(), id);
        let old = node.share;
        self.node_mut(id).share = share;
        let order = &mut self.node_mut(parent).order;
        order.remove(&(Share(old), key.clone()));
        order.insert((Share(share), key));
    }

    /// Unallocated reservations for `role` grew (or shrank) by `q`.
    pub(crate) fn reserved_free_changed(&mut self, role: RoleId, q: &Res, add: bool) {
        let mut id = Some(role);
        while let Some(i) = id {
            let node = self.node_mut(i);
            if add {
                node.reserved_free.add(q);
            } else {
                node.reserved_free.subtract(q);
            }
            id = node.parent;
        }
    }

    /// An agent with a reservation for `role` appeared (`false`: went).
    pub(crate) fn count_reservation(&mut self, role: RoleId, add: bool) {
        let node = self.node_mut(role);
        if add {
            node.reservations += 1;
        } else {
            node.reservations -= 1;
        }
    }

    pub(crate) fn add_total(&mut self, q: &Res) {
        if !q.is_empty() {
            self.total.add(q);
            self.dirty = true;
        }
    }

    pub(crate) fn remove_total(&mut self, q: &Res) {
        if !q.is_empty() {
            self.total.subtract(q);
            self.dirty = true;
        }
    }

    /// Rebuilds every order if a change of total or weight made them stale.
    pub(crate) fn refresh(&mut self) {
        if !self.dirty {
            return;
        }
        let total = self.total.clone();
        let mut keys: Vec<(RoleId, RoleId, Share, Entry)> = Vec::new();
        for (id, slot) in self.nodes.iter_mut().enumerate() {
            let Some(node) = slot else { continue };
            node.order.clear();
            node.fw_order.clear();
            for (fw, c) in &mut node.clients {
                c.share = c.allocation.dominant_share(&total);
                if c.active {
                    node.fw_order.insert((Share(c.share), fw.clone()));
                }
            }
            node.own_share = node.own_allocated.dominant_share(&total) / node.weight;
            if node.own_active > 0 {
                node.order.insert((Share(node.own_share), Entry::Own));
            }
            node.share = node.allocated.dominant_share(&total) / node.weight;
            if let (Some(parent), true) = (node.parent, node.active > 0) {
                keys.push((
                    parent,
                    id,
                    Share(node.share),
                    Entry::Child(node.name.clone(), id),
                ));
            }
        }
        for (parent, _, share, entry) in keys {
            self.node_mut(parent).order.insert((share, entry));
        }
        self.dirty = false;
    }
}

// === impl Roles: views ===

impl Roles {
    /// The weighted dominant share of the role's subtree.
    pub(crate) fn share(&self, id: RoleId) -> f64 {
        let node = self.node(id);
        node.allocated.dominant_share(&self.total) / node.weight
    }

    /// Starts the wait of every active client not waiting yet.
    pub(crate) fn mark_wanting(&mut self, now: Time) {
        for node in self.nodes.iter_mut().flatten() {
            if node.own_active == 0 {
                continue;
            }
            for c in node.clients.values_mut() {
                if c.active && c.wanting_since.is_none() {
                    c.wanting_since = Some(now);
                }
            }
        }
    }
}

// === impl Roles: the walk ===

impl Roles {
    /// The first active client in `start`'s subtree, in `sorter`'s order,
    /// for which `accept` returns `Some`, with that value. The tree must be
    /// [refreshed](Roles::refresh).
    pub(crate) fn find<S: Sorter, T, A>(
        &self,
        start: RoleId,
        sorter: &mut S,
        accept: &mut A,
    ) -> Option<(FrameworkId, RoleId, T)>
    where
        A: FnMut(&FrameworkId, RoleId) -> Option<T>,
    {
        debug_assert!(!self.dirty, "find on a stale order");
        let node = self.node(start);
        if node.active == 0 {
            return None;
        }
        let entries = node.order.iter().map(|(_, e)| {
            let weight = match e {
                Entry::Own => node.weight,
                Entry::Child(_, c) => self.node(*c).weight,
            };
            (e, weight)
        });
        sorter.choose(entries, false, |sorter, entry| match entry {
            Entry::Own => sorter.choose(
                node.fw_order.iter().map(|(_, fw)| (fw, 1.0)),
                true,
                |_, fw| accept(fw, start).map(|t| (fw.clone(), start, t)),
            ),
            Entry::Child(_, c) => self.find(*c, sorter, accept),
        })
    }
}

// === test support ===

#[cfg(test)]
impl Roles {
    /// Checks the tree against what the allocator says: which frameworks
    /// track which roles, each role's own unallocated reservations and the
    /// number of agents reserving for it. Panics on the first mismatch.
    pub(crate) fn assert_consistent(
        &self,
        clients: &HashMap<&FrameworkId, Vec<RoleId>>,
        reserved_free: &HashMap<RoleId, Res>,
        reservations: &HashMap<RoleId, usize>,
    ) {
        let live: Vec<RoleId> = (0..self.nodes.len())
            .filter(|i| self.nodes[*i].is_some())
            .collect();
        assert_eq!(self.index.len() + 1, live.len(), "role index size");
        for (name, id) in &self.index {
            assert_eq!(&self.node(*id).name, name, "role index of {name}");
        }
        for (name, id) in &self.quota_roles {
            assert_eq!(&self.node(*id).name, name, "quota index of {name}");
        }
        for &id in &live {
            let node = self.node(id);
            let name = &node.name;
            if id != ROOT {
                assert!(!node.removable(), "role {name} should have been pruned");
                let parent = node.parent.unwrap_or(ROOT);
                assert_eq!(node.depth, self.node(parent).depth + 1, "{name}: depth");
            }
            assert_eq!(
                node.quota.is_some(),
                self.quota_roles.contains_key(name) && id != ROOT,
                "{name}: quota index"
            );
            let expected: BTreeSet<&FrameworkId> = clients
                .iter()
                .filter(|(_, roles)| roles.contains(&id))
                .map(|(fw, _)| *fw)
                .collect();
            let actual: BTreeSet<&FrameworkId> = node.clients.keys().collect();
            assert_eq!(actual, expected, "{name}: clients");
            let children: Vec<RoleId> = live
                .iter()
                .copied()
                .filter(|c| self.node(*c).parent == Some(id))
                .collect();
            assert_eq!(node.children, children.len(), "{name}: child count");
            let mut own = Res::default();
            let mut own_active = 0;
            for c in node.clients.values() {
                own.add(&c.allocation);
                own_active += usize::from(c.active);
                if !c.active {
                    assert_eq!(c.wanting_since, None, "{name}: inactive client waiting");
                }
            }
            assert_eq!(node.own_allocated, own, "{name}: own allocation");
            assert_eq!(node.own_active, own_active, "{name}: own activity");
            let mut allocated = own;
            let mut active = own_active;
            let mut reserved = reserved_free.get(&id).cloned().unwrap_or_default();
            for c in &children {
                let child = self.node(*c);
                allocated.add(&child.allocated);
                active += child.active;
                reserved.add(&child.reserved_free);
            }
            assert_eq!(node.allocated, allocated, "{name}: subtree allocation");
            assert_eq!(node.active, active, "{name}: subtree activity");
            assert_eq!(
                node.reserved_free, reserved,
                "{name}: unallocated reservations"
            );
            assert_eq!(
                node.reservations,
                reservations.get(&id).copied().unwrap_or(0),
                "{name}: reservation count"
            );
            if self.dirty {
                continue;
            }
            let fw_order: BTreeSet<(Share, FrameworkId)> = node
                .clients
                .iter()
                .filter(|(_, c)| c.active)
                .map(|(fw, c)| (Share(c.allocation.dominant_share(&self.total)), fw.clone()))
                .collect();
            assert_eq!(
                node.fw_order.iter().collect::<Vec<_>>(),
                fw_order.iter().collect::<Vec<_>>(),
                "{name}: framework order"
            );
            let mut order: BTreeSet<(Share, Entry)> = BTreeSet::new();
            if own_active > 0 {
                order.insert((
                    Share(node.own_allocated.dominant_share(&self.total) / node.weight),
                    Entry::Own,
                ));
            }
            for c in &children {
                let child = self.node(*c);
                if child.active > 0 {
                    order.insert((Share(self.share(*c)), Entry::Child(child.name.clone(), *c)));
                }
            }
            assert_eq!(
                node.order.iter().collect::<Vec<_>>(),
                order.iter().collect::<Vec<_>>(),
                "{name}: role order"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::res::Names;

    fn fw(s: &str) -> FrameworkId {
        FrameworkId::from(s)
    }

    struct Tree {
        roles: Roles,
        names: Names,
    }

    impl Tree {
        fn new(total: &str) -> Self {
            let mut names = Names::default();
            let mut roles = Roles::default();
            roles.add_total(&names.res(&total.parse().unwrap()).quantities());
            Self { roles, names }
        }

        fn client(&mut self, role: &str, f: &str) {
            let id = self.roles.ensure(role);
            self.roles.add_client(id, &fw(f));
            self.roles.set_active(id, &fw(f), true);
        }

        fn give(&mut self, role: &str, f: &str, r: &str) {
            let id = self.roles.id(role).unwrap();
            let q = self.names.res(&r.parse().unwrap()).quantities();
            self.roles.allocated(id, &fw(f), &q);
        }

        /// The whole order: every active client, best first.
        fn order(&mut self, policy: &mut impl Sorter) -> Vec<String> {
            self.roles.refresh();
            let mut seen = Vec::new();
            while let Some((f, role, ())) = self.roles.find(ROOT, policy, &mut |f, role| {
                let key = format!("{}:{}", self.roles.name(role), f);
                (!seen.contains(&key)).then_some(())
            }) {
                seen.push(format!("{}:{}", self.roles.name(role), f));
            }
            seen
        }
    }

    #[test]
    fn frameworks_by_share_within_roles_by_weighted_share() {
        let mut t = Tree::new("cpus:100;mem:1000");
        t.client("a", "f1");
        t.client("a", "f2");
        t.client("b/x", "f3");
        t.client("b", "f4");
        // Ties by name: own frameworks of a role before its children.
        assert_eq!(t.order(&mut Drf), ["a:f1", "a:f2", "b:f4", "b/x:f3"]);
        t.give("a", "f1", "cpus:10");
        assert_eq!(t.order(&mut Drf), ["b:f4", "b/x:f3", "a:f2", "a:f1"]);
        t.give("b/x", "f3", "mem:50");
        // b holds 5% of mem, a 10% of cpus; within b, f4's own 0 beats b/x.
        assert_eq!(t.order(&mut Drf), ["b:f4", "b/x:f3", "a:f2", "a:f1"]);
        t.roles.set_weight(t.roles.id("a").unwrap(), 4.0);
        // a's 10% weighs 2.5% now.
        assert_eq!(t.order(&mut Drf), ["a:f2", "a:f1", "b:f4", "b/x:f3"]);
    }

    #[test]
    fn inactive_clients_are_skipped_and_empty_roles_pruned() {
        let mut t = Tree::new("cpus:10");
        t.client("a/b", "f1");
        let id = t.roles.id("a/b").unwrap();
        t.roles.set_active(id, &fw("f1"), false);
        assert!(t.order(&mut Drf).is_empty());
        t.roles.remove_client(id, &fw("f1"));
        t.roles.prune(id);
        assert_eq!(t.roles.id("a"), None);
        assert_eq!(t.roles.all().len(), 0);
    }

    #[test]
    fn random_order_is_seeded_and_weighted() {
        let mut t = Tree::new("cpus:10");
        for i in 0..5 {
            t.client("r", &format!("f{i}"));
        }
        let a = t.order(&mut Random::new(7));
        let b = t.order(&mut Random::new(7));
        assert_eq!(a, b, "same seed, same order");
        assert_eq!(a.len(), 5);
        let firsts: BTreeSet<String> = (0..40)
            .map(|s| t.order(&mut Random::new(s))[0].clone())
            .collect();
        assert!(firsts.len() > 2, "only {firsts:?} ever came first");
        // Weights: role heavy (weight 9) comes first about 90% of the time.
        let mut t = Tree::new("cpus:10");
        t.client("heavy", "h");
        t.client("light", "l");
        t.roles.set_weight(t.roles.id("heavy").unwrap(), 9.0);
        let heavy_first = (0..1000)
            .filter(|s| t.order(&mut Random::new(*s))[0] == "heavy:h")
            .count();
        assert!((820..980).contains(&heavy_first), "{heavy_first}");
    }
}
