//! Quota arithmetic: guarantees, limits and headroom.
//!
//! A role's *consumption* is what its subtree holds plus the unallocated
//! reservations of roles in it (reserved resources are the role's whether
//! used or not, as in Mesos). Its *unmet* guarantee is `guarantee -
//! consumption`, per scalar, floored at zero.
//!
//! Guarantees nest: a role's guarantee covers its descendants', so what the
//! cluster must keep free for a quota role and everything below it is
//! `req(R) = max(unmet(R), Σ req(nearest quota descendants))`, and the
//! *required headroom* is the sum of `req` over the topmost quota roles. The
//! *available headroom* is what is free and unreserved on active agents.
//!
//! An offer of `x` to a role moves consumption along its path. The amount by
//! which it lowers the required headroom is `min(x, toward(R))`, where
//! `toward` walks the path bottom-up: `d = req(Q) - max(0, Σ req(children of
//! Q) - d_below)`. What goes toward guarantees may always be offered; the
//! rest only out of the surplus `available - required`. That is Mesos's
//! headroom rule, and it is what holds unused guarantees back from roles
//! without quota.
//!
//! [`QuotaCycle`] is built at the start of an allocation cycle and kept up to
//! date, along one path per offer, until its end.

use std::collections::{BTreeSet, HashMap};

use crate::res::{Name, Res};
use crate::sorter::{QuotaRes, RoleId, Roles, Share};
use crate::Role;

#[derive(Debug, Clone)]
struct QEntry {
    id: RoleId,
    /// Index of the nearest ancestor with quota.
    parent: Option<usize>,
    guarantee: Res,
    limit: Option<Res>,
    consumed: Res,
    req: Res,
    /// `Σ req` over the nearest quota descendants.
    child_sum: Res,
    /// Key in `hungry`, while hungry.
    hungry_key: Option<(Share, Role)>,
}

impl QEntry {
    fn unmet(&self) -> Res {
        self.guarantee.scalars_minus(&self.consumed)
    }
}

/// Quota state during one allocation cycle. See the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct QuotaCycle {
    entries: Vec<QEntry>,
    by_role: HashMap<RoleId, usize>,
    /// Required headroom: `Σ req` over the topmost quota roles.
    required: Res,
    /// Available headroom: free unreserved scalars on active agents.
    avail: Res,
    /// Roles with an unmet guarantee and someone to offer to, lowest
    /// weighted share first.
    hungry: BTreeSet<(Share, Role, usize)>,
}

impl QuotaCycle {
    /// The cycle's starting state; `avail` is the free unreserved scalars on
    /// active agents.
    pub(crate) fn new(roles: &Roles, avail: Res) -> Self {
        let ids: Vec<RoleId> = roles.quota_roles.values().copied().collect();
        let by_role: HashMap<RoleId, usize> =
            ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let mut entries: Vec<QEntry> = ids
            .iter()
            .map(|id| {
                let node = roles.node(*id);
                let quota = node.quota.clone().unwrap_or(QuotaRes {
                    guarantee: Res::default(),
                    limit: None,
                });
                QEntry {
                    id: *id,
                    parent: roles
                        .path(*id)
                        .skip(1)
                        .find_map(|a| by_role.get(&a).copied()),
                    guarantee: quota.guarantee,
                    limit: quota.limit,
                    consumed: node.allocated.plus(&node.reserved_free).scalar_part(),
                    req: Res::default(),
                    child_sum: Res::default(),
                    hungry_key: None,
                }
            })
            .collect();
        let mut required = Res::default();
        let mut deepest_first: Vec<usize> = (0..entries.len()).collect();
        deepest_first.sort_by_key(|i| std::cmp::Reverse(roles.node(entries[*i].id).depth));
        for i in deepest_first {
            let req = entries[i].unmet().scalars_max(&entries[i].child_sum);
            match entries[i].parent {
                Some(p) => entries[p].child_sum.add(&req),
                None => required.add(&req),
            }
            entries[i].req = req;
        }
        let mut cycle = Self {
            entries,
            by_role,
            required,
            avail,
            hungry: BTreeSet::new(),
        };
        for i in 0..cycle.entries.len() {
            cycle.rekey(roles, i);
        }
        cycle
    }

    fn rekey(&mut self, roles: &Roles, i: usize) {
        let e = &mut self.entries[i];
        if let Some((share, name)) = e.hungry_key.take() {
            self.hungry.remove(&(share, name, i));
        }
        let node = roles.node(e.id);
        if node.active > 0 && !e.unmet().is_empty() {
            let key = (Share(roles.share(e.id)), node.name.clone());
            self.hungry.insert((key.0, key.1.clone(), i));
            e.hungry_key = Some(key);
        }
    }

    /// Hungry roles, in the order they are offered to.
    pub(crate) fn hungry(&self) -> impl Iterator<Item = RoleId> + '_ {
        self.hungry.iter().map(|(_, _, i)| self.entries[*i].id)
    }

    /// Whether unreserved `u` holds anything a hungry role still misses.
    pub(crate) fn could_use(&self, role: RoleId, u: &Res) -> bool {
        self.by_role.get(&role).is_some_and(|i| {
            self.entries[*i]
                .unmet()
                .scalars()
                .any(|(n, _)| u.scalar(n) > 0)
        })
    }

    fn surplus(&self, n: Name) -> i64 {
        (self.avail.scalar(n) - self.required.scalar(n)).max(0)
    }

    /// Quota entries on `role`'s path, deepest first.
    fn path<'a>(
        &'a self,
        roles: &'a Roles,
        role: RoleId,
    ) -> impl Iterator<Item = (RoleId, usize)> + 'a {
        roles
            .path(role)
            .filter_map(|id| self.by_role.get(&id).map(|i| (id, *i)))
    }

    /// How much of an offer to `role` would go toward unmet guarantees.
    fn toward(&self, roles: &Roles, role: RoleId) -> Res {
        let mut d = Res::default();
        for (_, i) in self.path(roles, role) {
            let e = &self.entries[i];
            d = e.req.scalars_minus(&e.child_sum.scalars_minus(&d));
        }
        d
    }

    /// Cuts `x` to what the limits on `role`'s path still allow. Roles at
    /// or above `pool` (the role a reservation is for) are skipped: their
    /// consumption already counts the reservation.
    pub(crate) fn cap_limits(
        &self,
        roles: &Roles,
        role: RoleId,
        pool: Option<RoleId>,
        x: &mut Res,
    ) {
        for id in roles.path(role) {
            if Some(id) == pool {
                break;
            }
            let Some(i) = self.by_role.get(&id) else {
                continue;
            };
            let e = &self.entries[*i];
            if let Some(limit) = &e.limit {
                for (n, l) in limit.scalars() {
                    let room = (l - e.consumed.scalar(n)).max(0);
                    if x.scalar(n) > room {
                        x.set_scalar(n, room);
                    }
                }
            }
        }
    }

    /// The stage-1 offer of unreserved `u` to `role`: the kinds its
    /// guarantees name, up to what they miss; other kinds out of the surplus;
    /// all within limits. `None` if nothing goes toward a guarantee.
    pub(crate) fn guarantee_offer(&self, roles: &Roles, role: RoleId, u: &Res) -> Option<Res> {
        let mut x = u.clone();
        self.cap_limits(roles, role, None, &mut x);
        let toward = self.toward(roles, role);
        let mut guaranteed: Vec<Name> = Vec::new();
        for (_, i) in self.path(roles, role) {
            guaranteed.extend(self.entries[i].guarantee.scalars().map(|(n, _)| n));
        }
        let mut useful = false;
        let amounts: Vec<(Name, i64)> = x.scalars().collect();
        for (n, m) in amounts {
            let cap = if guaranteed.contains(&n) {
                toward.scalar(n)
            } else {
                self.surplus(n)
            };
            let v = m.min(cap);
            if guaranteed.contains(&n) && v > 0 {
                useful = true;
            }
            if v < m {
                x.set_scalar(n, v);
            }
        }
        useful.then_some(x)
    }

    /// The stage-2 offer of unreserved `u` to `role`: within limits, and
    /// beyond what goes toward its guarantees only out of the surplus.
    pub(crate) fn fair_offer(&self, roles: &Roles, role: RoleId, u: &Res) -> Res {
        let mut x = u.clone();
        self.cap_limits(roles, role, None, &mut x);
        if self.required.is_empty() {
            return x;
        }
        let toward = self.toward(roles, role);
        for (n, _) in self.required.scalars() {
            let allowed = toward.scalar(n) + self.surplus(n);
            if x.scalar(n) > allowed {
                x.set_scalar(n, allowed);
            }
        }
        x
    }

    /// `q` (quantities) was allocated to `role`, from the reservation of
    /// `pool` or (`None`) unreserved.
    pub(crate) fn charge(&mut self, roles: &Roles, role: RoleId, pool: Option<RoleId>, q: &Res) {
        let q = q.scalar_part();
        let mut below_pool = true;
        let path: Vec<(RoleId, usize)> = self.path(roles, role).collect();
        for id in roles.path(role) {
            if Some(id) == pool {
                below_pool = false;
            }
            if !below_pool {
                break;
            }
            if let Some(i) = self.by_role.get(&id) {
                self.entries[*i].consumed.add(&q);
            }
        }
        for (_, i) in &path {
            let e = &self.entries[*i];
            let new = e.unmet().scalars_max(&e.child_sum);
            if new == e.req {
                continue;
            }
            let old = std::mem::replace(&mut self.entries[*i].req, new.clone());
            let sum = match self.entries[*i].parent {
                Some(p) => &mut self.entries[p].child_sum,
                None => &mut self.required,
            };
            sum.subtract(&old);
            sum.add(&new);
        }
        if pool.is_none() {
            self.avail.subtract(&q);
        }
        for (_, i) in path {
            self.rekey(roles, i);
        }
    }
}

/// Why a set of quotas is not satisfiable.
#[derive(Debug)]
pub(crate) enum Unsatisfiable {
    /// Guarantees within the role exceed its limit.
    Limit {
        role: RoleId,
        guaranteed: Res,
        limit: Res,
    },
    /// All guarantees together exceed the cluster.
    Cluster { guaranteed: Res },
}

/// Checks that every quota's guarantees fit, with `changed`'s quota replaced
/// by `quota`: for every quota role, `E(R) = max(guarantee(R), Σ E(nearest
/// quota descendants))` within its limit, and `Σ E(topmost)` within the
/// cluster's `total`.
pub(crate) fn check(
    roles: &Roles,
    changed: RoleId,
    quota: Option<&QuotaRes>,
    total: &Res,
) -> Result<(), Unsatisfiable> {
    let mut ids: Vec<RoleId> = roles
        .quota_roles
        .values()
        .copied()
        .filter(|id| *id != changed)
        .collect();
    if quota.is_some() {
        ids.push(changed);
    }
    let quota_of = |id: RoleId| -> Option<&QuotaRes> {
        if id == changed {
            quota
        } else {
            roles.node(id).quota.as_ref()
        }
    };
    ids.sort_by_key(|id| std::cmp::Reverse(roles.node(*id).depth));
    let mut sums: HashMap<RoleId, Res> = HashMap::new();
    let mut top = Res::default();
    for id in ids {
        let Some(q) = quota_of(id) else { continue };
        let e = q
            .guarantee
            .scalars_max(&sums.remove(&id).unwrap_or_default());
        if let Some(limit) = &q.limit {
            if limit.scalars().any(|(n, l)| e.scalar(n) > l) {
                return Err(Unsatisfiable::Limit {
                    role: id,
                    guaranteed: e,
                    limit: limit.clone(),
                });
            }
        }
        let parent = roles.path(id).skip(1).find(|a| {
            *a == changed && quota.is_some() || *a != changed && roles.node(*a).quota.is_some()
        });
        match parent {
            Some(p) => sums.entry(p).or_default().add(&e),
            None => top.add(&e),
        }
    }
    if top.scalars().any(|(n, g)| g > total.scalar(n)) {
        return Err(Unsatisfiable::Cluster { guaranteed: top });
    }
    Ok(())
}
