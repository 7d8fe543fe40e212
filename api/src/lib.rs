//! Strata's domain types: identifiers, [`Resources`] (with the Mesos text form
//! `cpus:2;mem:512;ports:[31000-32000]`), roles and reservations
//! ([`RoleResources`], `cpus(analytics):4`), resources in full detail
//! ([`DetailedResources`]: static and dynamic reservations with their
//! principal and labels, persistent volumes), and [`TaskState`].
//!
//! This crate owns the vocabulary every other crate speaks. It does no I/O and
//! depends on no wire format: no prost, no serde, no tokio. Conversions to and
//! from the Mesos wire messages live in `strata-proto`.

mod duration;
mod ids;
mod reservation;
mod resources;
mod role;
mod task;

pub use duration::{format_duration, parse_duration};
pub use ids::{AgentId, ExecutorId, FrameworkId, OfferId, TaskId};
pub use reservation::{
    DetailedResources, Label, Persistence, Reservation, ReservationType, ResourceKind,
};
pub use resources::{Range, RangeSet, ResourceError, Resources};
pub use role::{
    parent_role, role_is_within, validate_role, RoleError, RoleResources, DEFAULT_ROLE,
};
pub use task::TaskState;
