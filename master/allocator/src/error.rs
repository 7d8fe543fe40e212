//! Errors of the allocator's configuration and reservation calls. Events
//! about unknown agents or frameworks are not errors (the master may race a
//! removal against a late message); bad requests are.
//!
//! Written out by hand rather than with `thiserror` so that this crate keeps
//! depending on `strata-api` alone.

use std::fmt;

use strata_api::{AgentId, FrameworkId, Resources, RoleError};

use crate::Role;

/// Resources as text, "nothing" when empty.
fn shown(r: &Resources) -> String {
    if r.is_empty() {
        "nothing".to_owned()
    } else {
        r.to_string()
    }
}

/// Why [`Allocator::set_weight`](crate::Allocator::set_weight) refused.
#[derive(Debug, Clone, PartialEq)]
pub enum WeightError {
    /// The role name is not valid.
    InvalidRole(RoleError),
    /// Weights must be finite and positive.
    InvalidWeight {
        /// The role.
        role: Role,
        /// The weight asked for.
        weight: f64,
    },
}

impl fmt::Display for WeightError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WeightError::InvalidRole(e) => e.fmt(f),
            WeightError::InvalidWeight { role, weight } => write!(
                f,
                "invalid weight {weight} for role {role}: weights must be finite and positive"
            ),
        }
    }
}

impl std::error::Error for WeightError {}

impl From<RoleError> for WeightError {
    fn from(e: RoleError) -> Self {
        WeightError::InvalidRole(e)
    }
}

/// Why [`Allocator::set_quota`](crate::Allocator::set_quota) refused.
#[derive(Debug, Clone, PartialEq)]
pub enum QuotaError {
    /// The role name is not valid.
    InvalidRole(RoleError),
    /// `*` holds no quota (as in Mesos).
    DefaultRole,
    /// Quota guarantees and limits are scalars (cpus, mem, disk, gpus, ...).
    NotScalar {
        /// The role.
        role: Role,
        /// The offending resources.
        resources: Resources,
    },
    /// The guarantee asks for more than the limit allows.
    GuaranteeAboveLimit {
        /// The role.
        role: Role,
        /// Its guarantee.
        guarantee: Resources,
        /// Its limit.
        limit: Resources,
    },
    /// The guarantees of a role and its descendants exceed that role's limit.
    ExceedsLimit {
        /// The role whose limit would be exceeded.
        role: Role,
        /// What is guaranteed within it.
        guaranteed: Resources,
        /// Its limit.
        limit: Resources,
    },
    /// All guarantees together would exceed the cluster.
    ExceedsCluster {
        /// What all guarantees together would come to.
        guaranteed: Resources,
        /// The cluster's total.
        total: Resources,
    },
}

impl fmt::Display for QuotaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuotaError::InvalidRole(e) => e.fmt(f),
            QuotaError::DefaultRole => f.write_str("quota cannot be set for the default role '*'"),
            QuotaError::NotScalar { role, resources } => write!(
                f,
                "quota for role {role} names non-scalar resources ({resources}); only scalars can be guaranteed or limited"
            ),
            QuotaError::GuaranteeAboveLimit {
                role,
                guarantee,
                limit,
            } => write!(
                f,
                "quota guarantee of role {role} ({guarantee}) exceeds its limit ({limit})"
            ),
            QuotaError::ExceedsLimit {
                role,
                guaranteed,
                limit,
            } => write!(
                f,
                "guarantees within role {role} ({guaranteed}) would exceed its limit ({limit})"
            ),
            QuotaError::ExceedsCluster { guaranteed, total } => write!(
                f,
                "quota guarantees ({guaranteed}) would exceed the cluster's total resources ({total})"
            ),
        }
    }
}

impl std::error::Error for QuotaError {}

impl From<RoleError> for QuotaError {
    fn from(e: RoleError) -> Self {
        QuotaError::InvalidRole(e)
    }
}

/// What a reservation call asked for and what it found instead.
#[derive(Debug, Clone, PartialEq)]
pub struct Shortfall {
    /// The agent.
    pub agent: AgentId,
    /// The role reserved or unreserved for.
    pub role: Role,
    /// What was asked for.
    pub requested: Resources,
    /// What was there to take: free and unreserved (or allocated to the
    /// framework) for a reservation; reserved for the role and free (or
    /// allocated to the framework) for an unreservation; the dynamically
    /// reserved part for a refused unreservation of static resources.
    pub available: Resources,
}

/// A role's quota limit that a reservation would exceed.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitExceeded {
    /// The role whose limit would be exceeded.
    pub role: Role,
    /// What it would consume.
    pub consumed: Resources,
    /// Its limit.
    pub limit: Resources,
}

/// Why a reservation or unreservation was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum ReservationError {
    /// The role name is not valid.
    InvalidRole(RoleError),
    /// Nothing can be reserved for `*`: it means unreserved.
    DefaultRole,
    /// Reserving or unreserving nothing.
    Empty,
    /// The agent is not known.
    UnknownAgent(AgentId),
    /// The framework is not known.
    UnknownFramework(FrameworkId),
    /// The framework holds nothing in the role on the agent (a RESERVE or
    /// UNRESERVE must work on resources offered to it for that role).
    RoleNotHeld {
        /// The framework.
        framework: FrameworkId,
        /// The role.
        role: Role,
        /// The agent.
        agent: AgentId,
    },
    /// The unreserved resources to reserve are not free (or, for an offer
    /// operation, not allocated to the framework) on the agent.
    NotAvailable(Box<Shortfall>),
    /// The resources to unreserve are not reserved for the role and
    /// unallocated (or, for an offer operation, allocated to the framework).
    NotReserved(Box<Shortfall>),
    /// Static reservations (from the agent's configured resources) cannot be
    /// unreserved; `available` is the dynamic part.
    Static(Box<Shortfall>),
    /// The reservation would push a role past its quota limit.
    ExceedsLimit(Box<LimitExceeded>),
}

impl fmt::Display for ReservationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReservationError::InvalidRole(e) => e.fmt(f),
            ReservationError::DefaultRole => {
                f.write_str("resources cannot be reserved for the default role '*'")
            }
            ReservationError::Empty => f.write_str("no resources to reserve or unreserve"),
            ReservationError::UnknownAgent(a) => write!(f, "unknown agent {a}"),
            ReservationError::UnknownFramework(fw) => write!(f, "unknown framework {fw}"),
            ReservationError::RoleNotHeld {
                framework,
                role,
                agent,
            } => write!(
                f,
                "framework {framework} holds no resources in role {role} on agent {agent}"
            ),
            ReservationError::NotAvailable(s) => write!(
                f,
                "cannot reserve {} on agent {}: only {} is available unreserved",
                s.requested,
                s.agent,
                shown(&s.available)
            ),
            ReservationError::NotReserved(s) => write!(
                f,
                "cannot unreserve {} for role {} on agent {}: only {} is reserved and available",
                s.requested,
                s.role,
                s.agent,
                shown(&s.available)
            ),
            ReservationError::Static(s) => write!(
                f,
                "cannot unreserve {} for role {} on agent {}: static reservations cannot be unreserved (dynamically reserved: {})",
                s.requested,
                s.role,
                s.agent,
                shown(&s.available)
            ),
            ReservationError::ExceedsLimit(e) => write!(
                f,
                "reservation would bring role {} to {}, beyond its quota limit {}",
                e.role, e.consumed, e.limit
            ),
        }
    }
}

impl std::error::Error for ReservationError {}

impl From<RoleError> for ReservationError {
    fn from(e: RoleError) -> Self {
        ReservationError::InvalidRole(e)
    }
}
