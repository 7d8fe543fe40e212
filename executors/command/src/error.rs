//! Why the command executor could not do its job.

use std::time::Duration;

/// A failure of the executor itself (the task's own failures are status
/// updates, not errors).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A required environment variable is unset or empty.
    #[error("missing environment variable {0}")]
    MissingEnv(&'static str),
    /// An environment variable has a value the executor cannot use.
    #[error("invalid environment variable {name}={value:?}: {reason}")]
    InvalidEnv {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The agent client could not be built (for example a malformed endpoint).
    #[error(transparent)]
    Client(#[from] strata_client::Error),
    /// The agent broke the executor protocol.
    #[error("the agent broke the executor protocol: {0}")]
    Protocol(String),
    /// The agent stayed unreachable for the whole recovery timeout.
    #[error("lost the agent at {endpoint} for {}s: {last_error}", .waited.as_secs())]
    AgentUnreachable {
        /// The agent's `host:port`.
        endpoint: String,
        /// How long re-subscribing was tried.
        waited: Duration,
        /// The last subscription error.
        last_error: String,
    },
    /// The async runtime could not be started.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
}
