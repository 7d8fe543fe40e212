//! The master's allocator: which framework is offered which agent's free
//! resources, by Dominant Resource Fairness.
//!
//! This crate owns the resource accounting behind offers: every agent's total,
//! what of it is allocated to which framework (offered or used by tasks), the
//! free remainder, frameworks' dominant shares, suppression and offer filters
//! (`refuse_seconds`). The master feeds it events ([`Allocator::add_agent`],
//! [`Allocator::recover`], [`Allocator::suppress`], ...) and calls one decision
//! method, [`Allocator::allocate`], whose [`Allocation`]s it turns into offers.
//!
//! It is pure and synchronous: it does no I/O, spawns nothing, never reads a
//! clock (time is the `now` argument, a [`Time`] since the master started) and
//! depends only on `strata-api`. Ordering policy sits behind a small internal
//! `Sorter` trait so weighted and hierarchical-role sorters can be added
//! without touching the event handling.

mod allocator;
mod sorter;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use allocator::Allocator;

use strata_api::{AgentId, FrameworkId, Resources};

/// A point in time, measured from the start of the master. The allocator never
/// reads a clock; callers pass this in.
pub type Time = std::time::Duration;

/// Tunables of the allocator.
#[derive(Debug, Clone)]
pub struct AllocatorConfig {
    /// An agent's free resources are offered only if they hold at least this
    /// many cpus or at least [`AllocatorConfig::min_allocatable_mem`] of memory.
    pub min_allocatable_cpus: f64,
    /// Memory in MB that makes an agent's free resources worth offering on its
    /// own (see [`AllocatorConfig::min_allocatable_cpus`]).
    pub min_allocatable_mem: f64,
}

impl Default for AllocatorConfig {
    /// Mesos's defaults: 0.01 cpus or 32 MB of memory.
    fn default() -> Self {
        Self {
            min_allocatable_cpus: 0.01,
            min_allocatable_mem: 32.0,
        }
    }
}

/// One decision of [`Allocator::allocate`]: all of an agent's free resources go
/// to one framework. The master turns each into a resource offer; the
/// resources stay allocated to the framework until they are
/// [recovered](Allocator::recover).
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    /// The framework to offer to.
    pub framework_id: FrameworkId,
    /// The agent the resources are on.
    pub agent_id: AgentId,
    /// What is offered.
    pub resources: Resources,
}
