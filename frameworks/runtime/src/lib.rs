//! The framework SDK shared by Strata's frameworks (Marathon, Kubernetes, batch).
//!
//! It owns the parts every Mesos framework rewrites otherwise:
//!
//! * [`driver`]: the subscription loop over `strata-client`'s
//!   [`SchedulerClient`](strata_client::SchedulerClient): subscribe, re-subscribe with
//!   exponential backoff when the stream breaks or heartbeats stop, keep the framework id
//!   (persisted through [`FrameworkIdStore`]) and hand events to the framework; a cloneable
//!   [`Scheduler`] handle sends calls (accept, decline, kill, reconcile, acknowledge, revive).
//! * [`offers`]: reading an offer into exact [`Resources`](strata_api::Resources) and claiming
//!   cpus/mem/disk and host ports from it, reporting which resource fell short.
//! * [`constraints`]: Marathon-style placement constraints (UNIQUE, CLUSTER, GROUP_BY, LIKE,
//!   UNLIKE, MAX_PER, IS) over the hostname and agent attributes.
//! * [`reconcile`]: when to send explicit and implicit task reconciliation.
//! * [`backoff`]: exponential backoff, for re-subscription and for relaunching failed tasks.
//!
//! Frameworks are reconcilers: they keep desired state in the store, observe the cluster
//! through the events this crate delivers, and act through [`Scheduler`]. This crate, like
//! every framework, sees the cluster **only through `strata-client`** (the public Mesos v1
//! scheduler API): it never depends on the master's or the agent's internals, so everything
//! here works against a real Mesos master too.

pub mod backoff;
pub mod constraints;
pub mod driver;
pub mod offers;
pub mod persist;
pub mod reconcile;

pub use backoff::Backoff;
pub use constraints::{Constraint, Operator, Placement};
pub use driver::{DriverConfig, Event, Scheduler};
pub use offers::{Claim, OfferView, PortRequest, ResourceRequest, Shortfall};
pub use persist::FrameworkIdStore;
pub use reconcile::{ReconcileKind, ReconcileSchedule};

/// Re-exported wire messages, so frameworks need no other crate for them.
pub use strata_client::v1;

/// What can go wrong in the SDK.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call was made while no subscription is open (the driver is re-subscribing).
    #[error("not subscribed to the master")]
    NotSubscribed,
    /// The master (or the connection to it) failed the call.
    #[error(transparent)]
    Client(#[from] strata_client::Error),
    /// The durable store failed.
    #[error(transparent)]
    Store(#[from] strata_store::Error),
}

/// The result of SDK calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;
