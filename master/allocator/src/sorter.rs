//! Framework ordering. The allocator asks a [`Sorter`] who should be offered
//! next and tells it about every change in allocation; the policy (plain DRF
//! today, weighted or hierarchical by role later) lives entirely behind it.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

use strata_api::{FrameworkId, Resources};

/// The ordering policy the allocator consults.
///
/// Clients are frameworks. A client is known (it may hold an allocation and
/// has a share) from `add` until `remove`; only active clients are returned by
/// `sorted`. The allocator passes real resources; a sorter that needs plain
/// quantities derives them itself.
pub(crate) trait Sorter {
    /// Starts tracking `client`, inactive and with nothing allocated.
    /// Does nothing if it is already tracked.
    fn add(&mut self, client: &FrameworkId);
    /// Stops tracking `client` and forgets its allocation.
    fn remove(&mut self, client: &FrameworkId);
    /// Makes `client` eligible for `sorted`.
    fn activate(&mut self, client: &FrameworkId);
    /// Hides `client` from `sorted`; its allocation still counts.
    fn deactivate(&mut self, client: &FrameworkId);
    /// `resources` were allocated to `client`.
    fn allocated(&mut self, client: &FrameworkId, resources: &Resources);
    /// `resources` previously allocated to `client` came back.
    fn unallocated(&mut self, client: &FrameworkId, resources: &Resources);
    /// An agent holding `resources` joined the cluster.
    fn add_total(&mut self, resources: &Resources);
    /// An agent holding `resources` left the cluster.
    fn remove_total(&mut self, resources: &Resources);
    /// The client's current share (0 for an unknown client).
    fn share(&self, client: &FrameworkId) -> f64;
    /// Active clients, the one to offer to first coming first.
    fn sorted(&mut self) -> impl Iterator<Item = &FrameworkId> + '_;
}

/// Resources reduced to amounts for share arithmetic: scalars as they are and
/// each range set as a scalar holding its number of values.
///
/// Range sets cannot be summed across agents (every agent may own ports
/// 31000-32000, and a union would count them once), so shares are computed
/// on these per-agent counts instead.
pub(crate) fn quantities(resources: &Resources) -> Resources {
    let mut q = Resources::new();
    for (name, amount) in resources.scalars() {
        q.add_scalar(name, amount);
    }
    for (name, set) in resources.range_sets() {
        q.add_scalar(name, set.count() as f64);
    }
    q
}

/// A share usable as an ordered key. Shares are finite and non-negative, so
/// `total_cmp` orders them as numbers.
#[derive(Debug, Clone, Copy)]
struct Share(f64);

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

#[derive(Debug, Clone, Default)]
struct Client {
    /// Allocation as quantities (see [`quantities`]).
    allocation: Resources,
    /// The share this client is filed under in `order` while it is active
    /// and the sorter is not dirty.
    share: f64,
    active: bool,
}

/// Dominant Resource Fairness: the active client with the smallest dominant
/// share comes first, ties broken by framework id.
///
/// The order is kept incrementally in a `BTreeSet` keyed by `(share, id)`, so
/// an allocation costs `O(log n)`. A change of cluster total changes every
/// share at once; that only marks the order dirty and it is rebuilt on the
/// next `sorted`, so adding ten thousand agents costs one rebuild, not ten
/// thousand.
#[derive(Debug, Clone, Default)]
pub(crate) struct DrfSorter {
    total: Resources,
    clients: HashMap<FrameworkId, Client>,
    order: BTreeSet<(Share, FrameworkId)>,
    dirty: bool,
}

impl DrfSorter {
    fn file(&mut self, client: &FrameworkId) {
        let Some(c) = self.clients.get_mut(client) else {
            return;
        };
        c.share = c.allocation.dominant_share(&self.total);
        if c.active && !self.dirty {
            self.order.insert((Share(c.share), client.clone()));
        }
    }

    fn unfile(&mut self, client: &FrameworkId) {
        let Some(c) = self.clients.get(client) else {
            return;
        };
        if c.active && !self.dirty {
            self.order.remove(&(Share(c.share), client.clone()));
        }
    }

    fn rebuild(&mut self) {
        self.order.clear();
        for (id, c) in &mut self.clients {
            c.share = c.allocation.dominant_share(&self.total);
            if c.active {
                self.order.insert((Share(c.share), id.clone()));
            }
        }
        self.dirty = false;
    }

    /// Checks the internal bookkeeping; used by tests after every event.
    #[cfg(test)]
    pub(crate) fn assert_consistent(&self) {
        if self.dirty {
            return;
        }
        let expected: BTreeSet<(Share, FrameworkId)> = self
            .clients
            .iter()
            .filter(|(_, c)| c.active)
            .map(|(id, c)| (Share(c.allocation.dominant_share(&self.total)), id.clone()))
            .collect();
        assert_eq!(
            self.order.iter().collect::<Vec<_>>(),
            expected.iter().collect::<Vec<_>>(),
            "drf order out of date"
        );
    }

    /// Whether `client` is tracked and active; used by tests.
    #[cfg(test)]
    pub(crate) fn is_active(&self, client: &FrameworkId) -> Option<bool> {
        self.clients.get(client).map(|c| c.active)
    }

    /// The client's allocation in quantities; used by tests.
    #[cfg(test)]
    pub(crate) fn allocation(&self, client: &FrameworkId) -> Option<&Resources> {
        self.clients.get(client).map(|c| &c.allocation)
    }
}

impl Sorter for DrfSorter {
    fn add(&mut self, client: &FrameworkId) {
        self.clients.entry(client.clone()).or_default();
    }

    fn remove(&mut self, client: &FrameworkId) {
        self.unfile(client);
        self.clients.remove(client);
    }

    fn activate(&mut self, client: &FrameworkId) {
        match self.clients.get_mut(client) {
            Some(c) if !c.active => c.active = true,
            _ => return,
        }
        self.file(client);
    }

    fn deactivate(&mut self, client: &FrameworkId) {
        self.unfile(client);
        if let Some(c) = self.clients.get_mut(client) {
            c.active = false;
        }
    }

    fn allocated(&mut self, client: &FrameworkId, resources: &Resources) {
        self.unfile(client);
        if let Some(c) = self.clients.get_mut(client) {
            c.allocation.add(&quantities(resources));
        }
        self.file(client);
    }

    fn unallocated(&mut self, client: &FrameworkId, resources: &Resources) {
        self.unfile(client);
        if let Some(c) = self.clients.get_mut(client) {
            c.allocation.subtract(&quantities(resources));
        }
        self.file(client);
    }

    fn add_total(&mut self, resources: &Resources) {
        self.total.add(&quantities(resources));
        self.dirty = true;
    }

    fn remove_total(&mut self, resources: &Resources) {
        self.total.subtract(&quantities(resources));
        self.dirty = true;
    }

    fn share(&self, client: &FrameworkId) -> f64 {
        // Computed afresh: the cached share is stale while the sorter is dirty.
        self.clients
            .get(client)
            .map_or(0.0, |c| c.allocation.dominant_share(&self.total))
    }

    fn sorted(&mut self) -> impl Iterator<Item = &FrameworkId> + '_ {
        if self.dirty {
            self.rebuild();
        }
        self.order.iter().map(|(_, id)| id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fw(s: &str) -> FrameworkId {
        FrameworkId::from(s)
    }

    fn res(s: &str) -> Resources {
        s.parse().unwrap()
    }

    fn order(s: &mut DrfSorter) -> Vec<String> {
        s.sorted().map(|id| id.to_string()).collect()
    }

    #[test]
    fn orders_by_dominant_share_then_id() {
        let mut s = DrfSorter::default();
        s.add_total(&res("cpus:10;mem:100"));
        for id in ["b", "a", "c"] {
            s.add(&fw(id));
            s.activate(&fw(id));
        }
        assert_eq!(order(&mut s), ["a", "b", "c"]);
        // a is mem-dominant at 0.5, b cpu-dominant at 0.3.
        s.allocated(&fw("a"), &res("cpus:1;mem:50"));
        s.allocated(&fw("b"), &res("cpus:3;mem:10"));
        assert_eq!(order(&mut s), ["c", "b", "a"]);
        s.unallocated(&fw("a"), &res("cpus:1;mem:40"));
        assert_eq!(order(&mut s), ["c", "a", "b"]);
        s.assert_consistent();
    }

    #[test]
    fn inactive_clients_keep_their_share_but_are_not_sorted() {
        let mut s = DrfSorter::default();
        s.add_total(&res("cpus:10"));
        s.add(&fw("a"));
        s.activate(&fw("a"));
        s.allocated(&fw("a"), &res("cpus:5"));
        s.deactivate(&fw("a"));
        assert!(order(&mut s).is_empty());
        assert_eq!(s.share(&fw("a")), 0.5);
        s.activate(&fw("a"));
        assert_eq!(order(&mut s), ["a"]);
        s.assert_consistent();
    }

    #[test]
    fn a_new_total_reorders() {
        let mut s = DrfSorter::default();
        s.add_total(&res("cpus:10;mem:100"));
        for id in ["a", "b"] {
            s.add(&fw(id));
            s.activate(&fw(id));
        }
        s.allocated(&fw("a"), &res("cpus:4"));
        s.allocated(&fw("b"), &res("mem:30"));
        assert_eq!(order(&mut s), ["b", "a"]);
        // Ten times the cpus makes a's 4 cpus the smaller share.
        s.add_total(&res("cpus:90"));
        assert_eq!(order(&mut s), ["a", "b"]);
        s.assert_consistent();
    }

    #[test]
    fn ranges_count_per_agent() {
        let agent = res("cpus:1;ports:[1-100]");
        let mut s = DrfSorter::default();
        s.add_total(&agent);
        s.add_total(&agent);
        s.add(&fw("a"));
        s.allocated(&fw("a"), &res("ports:[1-100]"));
        // Half of the 200 ports in the cluster, not all of a 100-port union.
        assert_eq!(s.share(&fw("a")), 0.5);
    }
}
