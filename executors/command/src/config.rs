//! The executor's configuration: what the agent passes in the environment,
//! as a plain struct that tests build directly.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::Error;

/// How long the executor keeps re-subscribing to a lost agent when the
/// framework checkpoints (the agent may be restarting and recovering).
pub const CHECKPOINT_RECOVERY_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How long it keeps re-subscribing when the framework does not checkpoint.
pub const RECOVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// The shutdown grace period when the agent sets none.
pub const DEFAULT_SHUTDOWN_GRACE_PERIOD: Duration = Duration::from_secs(5);
/// How long the executor waits for the terminal update's acknowledgement
/// before exiting anyway.
pub const TERMINAL_ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything the command executor needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorConfig {
    /// The agent's `host:port` (`MESOS_AGENT_ENDPOINT`).
    pub agent_endpoint: String,
    /// `MESOS_FRAMEWORK_ID`.
    pub framework_id: String,
    /// `MESOS_EXECUTOR_ID`.
    pub executor_id: String,
    /// `MESOS_AGENT_ID` (or the older `MESOS_SLAVE_ID`), put on status updates.
    pub agent_id: Option<String>,
    /// The task's working directory (`MESOS_SANDBOX`, else `MESOS_DIRECTORY`);
    /// `None` runs it in the executor's own working directory.
    pub sandbox: Option<PathBuf>,
    /// `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD`: the time between SHUTDOWN and
    /// the agent destroying the container.
    pub shutdown_grace_period: Duration,
    /// How long to keep re-subscribing after losing the agent before killing
    /// the task and giving up.
    pub recovery_timeout: Duration,
    /// How long to wait for the terminal update's acknowledgement.
    pub terminal_ack_timeout: Duration,
}

impl ExecutorConfig {
    /// A configuration with the defaults of a non-checkpointing framework.
    pub fn new(agent_endpoint: &str, framework_id: &str, executor_id: &str) -> Self {
        Self {
            agent_endpoint: agent_endpoint.to_owned(),
            framework_id: framework_id.to_owned(),
            executor_id: executor_id.to_owned(),
            agent_id: None,
            sandbox: None,
            shutdown_grace_period: DEFAULT_SHUTDOWN_GRACE_PERIOD,
            recovery_timeout: RECOVERY_TIMEOUT,
            terminal_ack_timeout: TERMINAL_ACK_TIMEOUT,
        }
    }

    /// Reads the variables the agent sets for an executor.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `var`.
    /// Empty values count as unset.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let get = |name: &str| var(name).filter(|v| !v.is_empty());
        let required = |name: &'static str| get(name).ok_or(Error::MissingEnv(name));

        let mut config = Self::new(
            &required("MESOS_AGENT_ENDPOINT")?,
            &required("MESOS_FRAMEWORK_ID")?,
            &required("MESOS_EXECUTOR_ID")?,
        );
        config.agent_id = get("MESOS_AGENT_ID").or_else(|| get("MESOS_SLAVE_ID"));
        config.sandbox = get("MESOS_SANDBOX")
            .or_else(|| get("MESOS_DIRECTORY"))
            .map(PathBuf::from);
        if let Some(value) = get("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD") {
            config.shutdown_grace_period =
                strata_api::parse_duration(&value).map_err(|reason| Error::InvalidEnv {
                    name: "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
                    value,
                    reason,
                })?;
        }
        if matches!(get("MESOS_CHECKPOINT").as_deref(), Some("1" | "true")) {
            config.recovery_timeout = CHECKPOINT_RECOVERY_TIMEOUT;
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<ExecutorConfig, Error> {
        ExecutorConfig::from_vars(|name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    const BASE: [(&str, &str); 3] = [
        ("MESOS_AGENT_ENDPOINT", "127.0.0.1:5051"),
        ("MESOS_FRAMEWORK_ID", "F"),
        ("MESOS_EXECUTOR_ID", "E"),
    ];

    #[test]
    fn defaults_when_only_the_required_variables_are_set() {
        assert_eq!(
            from(&BASE).unwrap(),
            ExecutorConfig::new("127.0.0.1:5051", "F", "E")
        );
    }

    #[test]
    fn agent_variables_are_read() {
        let mut vars = BASE.to_vec();
        vars.extend([
            ("MESOS_SLAVE_ID", "A-S0"),
            ("MESOS_DIRECTORY", "/var/sandbox"),
            ("MESOS_CHECKPOINT", "1"),
            ("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "7secs"),
        ]);
        let c = from(&vars).unwrap();
        assert_eq!(c.agent_id.as_deref(), Some("A-S0"));
        assert_eq!(c.sandbox, Some(PathBuf::from("/var/sandbox")));
        assert_eq!(c.recovery_timeout, CHECKPOINT_RECOVERY_TIMEOUT);
        assert_eq!(c.shutdown_grace_period, Duration::from_secs(7));

        vars.push(("MESOS_CHECKPOINT", "0"));
        vars.retain(|(k, v)| *k != "MESOS_CHECKPOINT" || *v == "0");
        assert_eq!(from(&vars).unwrap().recovery_timeout, RECOVERY_TIMEOUT);
    }

    #[test]
    fn problems_name_the_variable() {
        assert_eq!(
            from(&BASE[..2]).unwrap_err().to_string(),
            "missing environment variable MESOS_EXECUTOR_ID"
        );
        let mut vars = BASE.to_vec();
        vars.push(("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "soon"));
        let e = from(&vars).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "invalid environment variable MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD=\"soon\""
            ),
            "{e}"
        );
    }
}
