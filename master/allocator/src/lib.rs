//! The master's allocator: which framework is offered which agent's free
//! resources, by hierarchical weighted Dominant Resource Fairness with quota
//! and reservations.
//!
//! This crate owns the resource accounting behind offers: every agent's total
//! (unreserved and reserved for roles), what of it is allocated to which
//! framework in which role (offered or used by tasks), the free remainder;
//! the role tree with weights and quota; frameworks' shares, per-role
//! suppression and offer filters (`refuse_seconds`); and how long everyone
//! has waited for an offer. The master feeds it events
//! ([`Allocator::add_agent`], [`Allocator::decline`], [`Allocator::set_quota`],
//! [`Allocator::reserve`], ...) and calls one decision method,
//! [`Allocator::allocate`], whose [`Allocation`]s it turns into offers.
//!
//! It is pure and synchronous: it does no I/O, spawns nothing, never reads a
//! clock (time is the `now` argument, a [`Time`] since the master started) and
//! depends only on `strata-api`. The ordering policy (weighted DRF or a seeded
//! random order, [`SorterKind`]) sits behind a small internal `Sorter` trait.
//!
//! # Roles
//!
//! Roles are hierarchical (`eng/backend` lies in `eng`); names follow
//! [`strata_api::validate_role`]. Frameworks that name no role are in `*`, a
//! top-level role like any other except that it can hold no quota and no
//! reservations. Sibling roles share by dominant share divided by weight
//! ([`Allocator::set_weight`]), frameworks within a role by dominant share.
//!
//! # One allocation cycle
//!
//! Agents are visited in id order; on each active one:
//!
//! 1. every reservation's free part goes to the framework with the lowest
//!    share among the reservation's role and its descendants;
//! 2. roles whose quota guarantee is not met yet (lowest share first) are
//!    offered unreserved resources up to what they still miss (resource kinds
//!    the guarantee does not name come along, as far as headroom allows);
//! 3. what is left goes to the framework with the lowest share, walking the
//!    role tree from the top, unless it is held back as headroom for unmet
//!    guarantees (Mesos's rule: non-quota offers never leave the cluster with
//!    less unallocated unreserved resources than unmet guarantees need).
//!
//! Quota limits cap every offer of unreserved resources. Offers respect
//! suppression, filters and [`AllocatorConfig::min_allocatable_resources`].

mod allocator;
mod error;
mod quota;
mod res;
mod sorter;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod scenarios;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

pub use allocator::Allocator;
pub use error::{LimitExceeded, QuotaError, ReservationError, Shortfall, WeightError};
pub use strata_api::{RoleError, RoleResources, DEFAULT_ROLE};

use strata_api::{AgentId, FrameworkId, ResourceError, Resources};

/// A point in time, measured from the start of the master. The allocator never
/// reads a clock; callers pass this in.
pub type Time = std::time::Duration;

/// A role name such as `eng/backend` or `*` ([`DEFAULT_ROLE`]). Every method
/// taking one checks it with [`strata_api::validate_role`].
pub type Role = String;

/// Which ordering policy decides who is offered next.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SorterKind {
    /// Weighted hierarchical Dominant Resource Fairness (Mesos's default).
    #[default]
    Drf,
    /// A weighted random order, drawn from a generator seeded with `seed`:
    /// the same seed and the same events give the same offers.
    Random {
        /// Seed of the generator.
        seed: u64,
    },
}

/// How long declined resources are refused (Mesos's `Filters.refuse_seconds`
/// and its bounds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferFilters {
    /// Used when a decline names no `refuse_seconds`, or a negative or
    /// non-finite one.
    pub default_refuse: Duration,
    /// Longer requests are cut to this.
    pub max_refuse: Duration,
}

impl Default for OfferFilters {
    /// Mesos's values: 5 seconds by default, at most 365 days.
    fn default() -> Self {
        Self {
            default_refuse: Duration::from_secs(5),
            max_refuse: Duration::from_secs(365 * 24 * 60 * 60),
        }
    }
}

impl OfferFilters {
    /// The refusal a decline's `refuse_seconds` asks for: the default for
    /// `None`, a negative, NaN or infinite value; capped at
    /// [`OfferFilters::max_refuse`]. Zero means no filter.
    pub fn refuse(&self, refuse_seconds: Option<f64>) -> Duration {
        match refuse_seconds {
            Some(s) if s.is_finite() && s >= 0.0 => {
                if s >= self.max_refuse.as_secs_f64() {
                    self.max_refuse
                } else {
                    Duration::from_secs_f64(s)
                }
            }
            _ => self.default_refuse,
        }
    }
}

/// Tunables of the allocator.
#[derive(Debug, Clone)]
pub struct AllocatorConfig {
    /// An agent's free resources are offered only if they hold at least this
    /// many cpus or at least [`AllocatorConfig::min_allocatable_mem`] of memory
    /// (unless [`AllocatorConfig::min_allocatable_resources`] is set).
    pub min_allocatable_cpus: f64,
    /// Memory in MB that makes an agent's free resources worth offering on its
    /// own (see [`AllocatorConfig::min_allocatable_cpus`]).
    pub min_allocatable_mem: f64,
    /// Mesos's `--min_allocatable_resources`: when not empty, an offer is
    /// made only if it contains at least one of these bundles, and the two
    /// thresholds above are not used. See [`parse_min_allocatable`].
    pub min_allocatable_resources: Vec<Resources>,
    /// The ordering policy.
    pub sorter: SorterKind,
    /// Default and maximum of `refuse_seconds` (see [`Allocator::decline`]).
    pub offer_filters: OfferFilters,
}

impl Default for AllocatorConfig {
    /// Mesos's defaults: 0.01 cpus or 32 MB of memory, DRF, filters of 5 s
    /// by default and at most 365 days.
    fn default() -> Self {
        Self {
            min_allocatable_cpus: 0.01,
            min_allocatable_mem: 32.0,
            min_allocatable_resources: Vec::new(),
            sorter: SorterKind::Drf,
            offer_filters: OfferFilters::default(),
        }
    }
}

/// Parses Mesos's `--min_allocatable_resources` form: bundles separated by
/// `|`, each in the resource text form, e.g. `cpus:0.01|mem:32` (either is
/// enough) or `cpus:1;mem:256|gpus:1`.
pub fn parse_min_allocatable(text: &str) -> Result<Vec<Resources>, ResourceError> {
    text.split('|')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect()
}

/// One decision of [`Allocator::allocate`]: resources of one agent offered to
/// one framework in one role. The master turns each into a resource offer;
/// the resources stay allocated to the framework until they are
/// [recovered](Allocator::recover_role).
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    /// The framework to offer to.
    pub framework_id: FrameworkId,
    /// The agent the resources are on.
    pub agent_id: AgentId,
    /// The role the resources are allocated to (Mesos's
    /// `AllocationInfo.role`); `*` for frameworks without roles.
    pub role: Role,
    /// Everything offered, reserved or not.
    pub resources: Resources,
    /// The part of `resources` that is reserved, by the role it is reserved
    /// for (that role is `role` or one of its ancestors). Empty when nothing
    /// is reserved.
    pub reserved: BTreeMap<Role, Resources>,
}

impl Allocation {
    /// The offered resources with their reservations, as
    /// [`Allocator::recover_role`] and [`Allocator::decline`] take them.
    pub fn tagged(&self) -> RoleResources {
        let mut reserved = Resources::new();
        let mut tagged = RoleResources::new();
        for (role, r) in &self.reserved {
            reserved.add(r);
            // Roles in an allocation come from the allocator and are valid.
            let _ = tagged.add_reserved(role, r);
        }
        tagged.add_unreserved(&self.resources.minus(&reserved));
        tagged
    }
}

/// A role's quota: what it is guaranteed and what it may never exceed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Quota {
    /// Offered to the role (and its descendants) before anyone gets more
    /// than their fair share, and kept free for it as headroom.
    pub guarantee: Resources,
    /// Never allocated beyond; resource kinds it does not name are not
    /// limited. `None`: no limit.
    pub limit: Option<Resources>,
}

/// Who is waiting, in [`Allocator::starvation`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Starving {
    /// A framework: the shortest wait over its active roles.
    Framework(FrameworkId),
    /// A role: the shortest wait over the active frameworks in it and its
    /// descendants.
    Role(Role),
}
