//! Task lifecycle states, named as Mesos names them.

use std::fmt;
use std::str::FromStr;

/// The state of a task, as reported in status updates. The names and meanings
/// follow Mesos's `TaskState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskState {
    /// Accepted by the master, not yet started by an executor.
    Staging,
    /// The executor is starting the task.
    Starting,
    /// The task is running.
    Running,
    /// A kill was requested and the task is shutting down.
    Killing,
    /// The task exited with status 0.
    Finished,
    /// The task exited with a non-zero status or was killed by a limit.
    Failed,
    /// The task was killed on request.
    Killed,
    /// The task description was invalid and it was never launched.
    Error,
    /// The task was lost (its agent went away, for frameworks that are not
    /// partition-aware).
    Lost,
    /// The task was dropped before it started (partition-aware frameworks).
    Dropped,
    /// The task's agent is unreachable; the task may still be running.
    Unreachable,
    /// The task is known to be gone (its agent was removed).
    Gone,
    /// An operator marked the task's agent gone.
    GoneByOperator,
    /// The master does not know the task.
    Unknown,
}

impl TaskState {
    /// Every state, in Mesos's enum order.
    pub const ALL: [TaskState; 14] = [
        TaskState::Staging,
        TaskState::Starting,
        TaskState::Running,
        TaskState::Killing,
        TaskState::Finished,
        TaskState::Failed,
        TaskState::Killed,
        TaskState::Error,
        TaskState::Lost,
        TaskState::Dropped,
        TaskState::Unreachable,
        TaskState::Gone,
        TaskState::GoneByOperator,
        TaskState::Unknown,
    ];

    /// True for states after which the task will never run again. As in Mesos,
    /// `Unreachable` and `Unknown` are not terminal: the task may come back.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Finished
                | TaskState::Failed
                | TaskState::Killed
                | TaskState::Error
                | TaskState::Lost
                | TaskState::Dropped
                | TaskState::Gone
                | TaskState::GoneByOperator
        )
    }

    /// The Mesos wire name, e.g. `TASK_RUNNING`.
    pub fn as_mesos_str(self) -> &'static str {
        match self {
            TaskState::Staging => "TASK_STAGING",
            TaskState::Starting => "TASK_STARTING",
            TaskState::Running => "TASK_RUNNING",
            TaskState::Killing => "TASK_KILLING",
            TaskState::Finished => "TASK_FINISHED",
            TaskState::Failed => "TASK_FAILED",
            TaskState::Killed => "TASK_KILLED",
            TaskState::Error => "TASK_ERROR",
            TaskState::Lost => "TASK_LOST",
            TaskState::Dropped => "TASK_DROPPED",
            TaskState::Unreachable => "TASK_UNREACHABLE",
            TaskState::Gone => "TASK_GONE",
            TaskState::GoneByOperator => "TASK_GONE_BY_OPERATOR",
            TaskState::Unknown => "TASK_UNKNOWN",
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_mesos_str())
    }
}

impl FromStr for TaskState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaskState::ALL
            .into_iter()
            .find(|st| st.as_mesos_str() == s)
            .ok_or_else(|| format!("unknown task state {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_terminality_matches_mesos() {
        for st in TaskState::ALL {
            assert_eq!(st.as_mesos_str().parse::<TaskState>().unwrap(), st);
        }
        assert!(!TaskState::Running.is_terminal());
        assert!(!TaskState::Unreachable.is_terminal());
        assert!(TaskState::Finished.is_terminal());
        assert!(TaskState::Lost.is_terminal());
        assert!("TASK_BOGUS".parse::<TaskState>().is_err());
    }
}
