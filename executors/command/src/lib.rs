//! The command executor: runs one command task under the Mesos v1 Executor
//! API, as Mesos's own `mesos-executor` does.
//!
//! The agent starts it (`strata executor command`) in the sandbox, as its own
//! process group, with the `MESOS_*` variables of [`ExecutorConfig::from_env`].
//! It subscribes, launches the one task it is given (`/bin/sh -c` unless
//! `shell` is false) in a process group of its own, reports STARTING, RUNNING
//! and the terminal state, kills the task on KILL or SHUTDOWN (SIGTERM, then
//! SIGKILL after the grace period), keeps every status update until the agent
//! acknowledges it and re-subscribes with them if the agent goes away. It
//! exits once the terminal update is acknowledged. A task with a
//! `health_check` (HTTP, TCP or COMMAND) is checked beside it as Mesos does:
//! changes of health are reported as TASK_RUNNING updates with `healthy` set
//! and reason REASON_TASK_HEALTH_CHECK_STATUS_UPDATED, and a task that fails
//! `consecutive_failures` checks in a row is killed. The command's `uris`
//! (absolute local paths, `file://` and `http://`) are fetched into the
//! sandbox before it starts.
//!
//! This crate talks to the agent only through `strata-client`'s
//! [`ExecutorClient`](strata_client::ExecutorClient), over the public API. It
//! never depends on the agent's internals: a real Mesos agent could run it.

mod config;
mod error;
mod executor;
mod fetch;
mod health;
mod process;

pub use config::{
    ExecutorConfig, CHECKPOINT_RECOVERY_TIMEOUT, DEFAULT_SHUTDOWN_GRACE_PERIOD, RECOVERY_TIMEOUT,
    TERMINAL_ACK_TIMEOUT,
};
pub use error::Error;

use strata_client::{v1, ExecutorClient};

/// How long a call to the agent may take before it counts as failed.
const AGENT_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs the executor configured by `config` until its task is over and
/// reported. Returns the process exit code (0 once the terminal update is
/// acknowledged, or after waiting for that in vain); an error means the
/// executor could not do its job (and has killed the task).
pub async fn run(config: ExecutorConfig) -> Result<i32, Error> {
    let client = ExecutorClient::new(
        &config.agent_endpoint,
        v1::framework_id(&config.framework_id),
        v1::executor_id(&config.executor_id),
    )?
    .with_request_timeout(AGENT_REQUEST_TIMEOUT);
    tracing::info!(
        framework_id = %config.framework_id,
        executor_id = %config.executor_id,
        agent = %config.agent_endpoint,
        "command executor starting"
    );
    executor::Executor::new(config, client).run().await
}

/// [`run`] with the configuration the agent passes in the environment.
pub async fn run_from_env() -> Result<i32, Error> {
    run(ExecutorConfig::from_env()?).await
}

/// The whole executor process: a single-threaded runtime (the executor is
/// one loop and should stay a few megabytes resident) running
/// [`run_from_env`]. Returns the exit code; errors are logged and exit 1.
/// The caller installs the `tracing` subscriber (to stderr, which the agent
/// points at the sandbox's `stderr` file).
pub fn main_entry() -> i32 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(2)
        .build()
        .map_err(Error::Runtime);
    let result = runtime.and_then(|rt| rt.block_on(run_from_env()));
    match result {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = %e, "command executor failed");
            1
        }
    }
}
