//! Strata's public clients of the Mesos v1 HTTP APIs, usable by any framework,
//! executor or tool:
//!
//! * [`SchedulerClient`]: SUBSCRIBE (following a redirect to the leading
//!   master) into an [`EventStream`] decoded record by record, and calls on
//!   the subscription; [`calls`] builds the common calls.
//! * [`ExecutorClient`]: SUBSCRIBE, UPDATE and MESSAGE against the local agent,
//!   configured from the `MESOS_*` variables the agent sets.
//! * [`OperatorClient`]: JSON reads of `/master/state` and friends.
//!
//! All speak JSON over one HTTP stack (hyper-util's pooled HTTP/1.1 client).
//!
//! This crate depends only on `strata-api` and `strata-proto` among Strata's
//! crates. It never depends on the master or the agent: it must work against
//! a real Mesos, and everything it knows comes from the wire.

pub mod calls;
mod error;
mod executor;
mod operator;
mod scheduler;
mod stream;
mod transport;

pub use error::{Error, Result};
pub use executor::ExecutorClient;
pub use operator::OperatorClient;
pub use scheduler::{SchedulerClient, Subscription};
/// The wire messages, re-exported so users of the clients need no other crate.
pub use strata_proto::v1;
pub use stream::{EventStream, ExecutorEventStream, StreamEvent};

#[cfg(test)]
mod tests;
