//! The task's process: spawning the command the way Mesos does, signalling
//! its process group, and describing how it ended.

use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{ExitStatus, Stdio};

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use strata_client::v1;
use tokio::process::{Child, Command};

/// The running command, leader of its own process group.
#[derive(Debug)]
pub(crate) struct TaskProcess {
    child: Child,
    group: Pid,
    reaped: bool,
}

/// Builds the command of a task: `/bin/sh -c value` for shell commands (the
/// default), else `value` exec'd with `arguments[1..]` and `arguments[0]` as
/// `argv[0]`, as Mesos does.
pub(crate) fn command(task: &v1::TaskInfo, sandbox: Option<&Path>) -> Result<Command, String> {
    let info = task.command.as_ref().ok_or("the task has no command")?;
    let value = info
        .value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or("the task's command has no value")?;
    let mut command = if info.shell.unwrap_or(true) {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(value);
        c
    } else {
        let mut c = Command::new(value);
        if let Some((argv0, args)) = info.arguments.split_first() {
            c.arg0(argv0).args(args);
        }
        c
    };
    let variables = info.environment.iter().flat_map(|e| &e.variables);
    for var in variables {
        let is_value = matches!(
            var.r#type.map(v1::EnvironmentVariableType::try_from),
            None | Some(Ok(
                v1::EnvironmentVariableType::Value | v1::EnvironmentVariableType::Unknown
            ))
        );
        if is_value {
            command.env(&var.name, var.value.as_deref().unwrap_or(""));
        } else {
            tracing::warn!(name = %var.name, "ignoring a secret environment variable: secrets are not supported");
        }
    }
    if let Some(id) = &task.task_id {
        command.env("MESOS_TASK_ID", &id.value);
    }
    if let Some(dir) = sandbox {
        command.current_dir(dir);
    }
    // Its own process group, so a kill reaches everything the command started
    // and nothing else (not this executor, not the agent).
    command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    Ok(command)
}

/// A one-line description of the command for the log.
pub(crate) fn describe(task: &v1::TaskInfo) -> String {
    let Some(info) = &task.command else {
        return String::new();
    };
    let value = info.value.as_deref().unwrap_or("");
    if info.shell.unwrap_or(true) {
        value.to_owned()
    } else {
        format!("{value:?} with arguments {:?}", info.arguments)
    }
}

impl TaskProcess {
    pub(crate) fn spawn(mut command: Command) -> std::io::Result<Self> {
        let child = command.spawn()?;
        let pid = child.id().ok_or_else(|| {
            std::io::Error::other("the command exited before it could be tracked")
        })?;
        Ok(Self {
            child,
            group: Pid::from_raw(pid as i32),
            reaped: false,
        })
    }

    /// The leader's pid, which is also the process group id.
    pub(crate) fn pid(&self) -> i32 {
        self.group.as_raw()
    }

    /// Waits for the command to exit. Cancel-safe.
    pub(crate) async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        let status = self.child.wait().await;
        if status.is_ok() {
            self.reaped = true;
            // The command is done; whatever it left behind in its group would
            // outlive the container, so it goes too.
            self.signal(Signal::SIGKILL);
        }
        status
    }

    /// Sends `signal` to the whole process group. A group that is already
    /// gone is not an error.
    pub(crate) fn signal(&self, signal: Signal) {
        match killpg(self.group, signal) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => {
                tracing::warn!(pgid = self.group.as_raw(), %signal, error = %e, "cannot signal the task")
            }
        }
    }
}

impl Drop for TaskProcess {
    /// An executor that stops tracking its task (it gives up, or errs) must
    /// not leave the task running.
    fn drop(&mut self) {
        if !self.reaped {
            self.signal(Signal::SIGKILL);
        }
    }
}

/// How the command ended, as Mesos's command executor reports it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    pub(crate) state: v1::TaskState,
    pub(crate) message: String,
}

/// The terminal state and message for an exit. A command we were killing
/// ends TASK_KILLED however it exits.
pub(crate) fn outcome(status: ExitStatus, killed_by_us: bool) -> Outcome {
    let (clean, message) = match (status.code(), status.signal()) {
        (Some(code), _) => (code == 0, format!("Command exited with status {code}")),
        (None, Some(signal)) => (
            false,
            format!("Command terminated with signal {}", signal_name(signal)),
        ),
        (None, None) => (false, "Command terminated for an unknown reason".to_owned()),
    };
    let state = if killed_by_us {
        v1::TaskState::TaskKilled
    } else if clean {
        v1::TaskState::TaskFinished
    } else {
        v1::TaskState::TaskFailed
    };
    Outcome { state, message }
}

/// `SIGKILL` for 9; the number for signals nix does not name.
pub(crate) fn signal_name(signal: i32) -> String {
    Signal::try_from(signal)
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|_| format!("{signal}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: ExitStatus, killed: bool, state: v1::TaskState, message: &str) {
        assert_eq!(
            outcome(status, killed),
            Outcome {
                state,
                message: message.into()
            }
        );
    }

    #[test]
    fn outcomes_match_mesos() {
        use v1::TaskState::*;
        let exited = |code: i32| ExitStatus::from_raw(code << 8);
        let signalled = ExitStatus::from_raw;
        check(
            exited(0),
            false,
            TaskFinished,
            "Command exited with status 0",
        );
        check(exited(3), false, TaskFailed, "Command exited with status 3");
        check(
            signalled(9),
            false,
            TaskFailed,
            "Command terminated with signal SIGKILL",
        );
        check(
            signalled(15),
            true,
            TaskKilled,
            "Command terminated with signal SIGTERM",
        );
        check(
            exited(143),
            true,
            TaskKilled,
            "Command exited with status 143",
        );
    }

    #[test]
    fn shell_false_passes_arguments_after_argv0() {
        let task = v1::TaskInfo {
            command: Some(v1::CommandInfo {
                shell: Some(false),
                value: Some("/bin/echo".into()),
                arguments: vec!["echo".into(), "a".into(), "b".into()],
                ..Default::default()
            }),
            ..Default::default()
        };
        let cmd = command(&task, None).unwrap();
        let std = cmd.as_std();
        assert_eq!(std.get_program(), "/bin/echo");
        assert_eq!(std.get_args().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(
            describe(&task),
            r#""/bin/echo" with arguments ["echo", "a", "b"]"#
        );
    }

    #[test]
    fn a_task_without_a_command_value_is_refused() {
        let e = command(&v1::TaskInfo::default(), None).unwrap_err();
        assert_eq!(e, "the task has no command");
    }
}
