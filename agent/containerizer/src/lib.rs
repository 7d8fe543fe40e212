//! Runs task processes on an agent: each in its own sandbox directory (its
//! working directory, holding its `stdout` and `stderr`), its own process
//! group, and, where the host has usable cgroups (v1 or v2), its own cgroups
//! with cpu and memory limits. This crate owns launching, signalling, waiting
//! for and destroying those processes, detecting the isolation the host
//! offers, and reading a container's usage and OOM kills from its cgroups.
//!
//! Of the workspace's crates it depends only on `strata-api`: never on the
//! master, the agent, or the wire formats in `strata-proto`. The agent translates tasks into
//! [`LaunchSpec`]s and reports [`Termination`]s back as status updates.
//!
//! It has two containerizers, each in its own module with its types
//! re-exported at the crate root:
//! - [`mesos`] forks processes directly (Mesos calls this the "mesos"
//!   containerizer): [`Containerizer`] runs a [`LaunchSpec`].
//! - [`docker`] runs tasks that name an image as Docker containers through
//!   the engine's API (bollard, unix socket only): [`DockerContainerizer`]
//!   runs a [`DockerLaunchSpec`], streams the container's output into the
//!   sandbox, and finds its containers again after an agent restart.
//!
//! Both share [`Limits`], [`Termination`], [`Usage`] and [`Error`].
//!
//! Nothing silently falls back: if cgroups are disabled or unusable,
//! [`Containerizer::isolation`] says so with [`Isolation::None`] and a reason,
//! and the agent advertises that; if no Docker engine answers,
//! [`DockerContainerizer::connect`] fails with [`Error::DockerUnavailable`]
//! saying why.

mod cgroups;
pub mod docker;
mod error;
pub mod mesos;

#[cfg(test)]
mod tests;

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;

pub use cgroups::Isolation;
pub use docker::{
    DockerConfig, DockerContainer, DockerContainerizer, DockerLaunchSpec, DockerNetwork,
    PortMapping, RecoveredContainer, VolumeMount,
};
pub use error::{Error, Result};
pub use mesos::{Container, Containerizer, ContainerizerConfig};

/// The resources a container may use. A limit of zero means "no limit" for
/// that resource; negative or non-finite limits are rejected at launch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// CPU time as a number of cpus; becomes both a proportional weight and
    /// a hard CFS quota of `cpus` x 100ms per 100ms period.
    pub cpus: f64,
    /// Memory in MiB (1 MiB = 1,048,576 bytes), without swap; a container
    /// exceeding it is OOM-killed by the kernel.
    pub mem_mb: f64,
}

impl Limits {
    fn validate(&self) -> Result<()> {
        for (name, value) in [("cpus", self.cpus), ("mem_mb", self.mem_mb)] {
            if !value.is_finite() || value < 0.0 {
                return Err(Error::InvalidLimit { name, value });
            }
        }
        Ok(())
    }
}

/// What to run in a new container.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchSpec {
    /// Unique among live containers; names the container's cgroups, so only
    /// `[A-Za-z0-9._-]` is allowed (and not `.` or `..`).
    pub container_id: String,
    /// The working directory; created if missing. The process's stdout and
    /// stderr are appended to `sandbox/stdout` and `sandbox/stderr`, and its
    /// stdin is `/dev/null`.
    pub sandbox: PathBuf,
    /// The program, executed directly (no shell). A name without a slash is
    /// looked up in the child's `PATH`.
    pub program: String,
    /// The program's arguments, not including the program itself.
    pub args: Vec<String>,
    /// The child's complete environment; the agent's `PATH` is added only if
    /// this has none. Nothing else of the agent's environment is inherited.
    pub env: Vec<(String, String)>,
    /// The container's resource limits.
    pub limits: Limits,
}

/// How a container's process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Termination {
    /// The exit status, if the process exited by itself.
    pub exit_code: Option<i32>,
    /// The signal number, if a signal killed the process.
    pub signal: Option<i32>,
    /// True if the kernel OOM-killed a process of the container for exceeding
    /// its memory limit (not necessarily the main process).
    pub oom_killed: bool,
    /// A sentence for status updates, e.g. `exited with status 3` or
    /// `killed by signal 9 (memory limit exceeded)`.
    pub message: String,
}

impl Termination {
    /// Describes an exit status, or the reason it could not be learnt.
    fn new(status: std::result::Result<ExitStatus, String>, oom_killed: bool) -> Self {
        let status = match status {
            Ok(status) => status,
            Err(reason) => {
                return Termination {
                    exit_code: None,
                    signal: None,
                    oom_killed,
                    message: format!("lost track of the process: {reason}"),
                }
            }
        };
        let exit_code = status.code();
        let signal = status.signal();
        let message = match (exit_code, signal) {
            (Some(code), _) if oom_killed => format!(
                "exited with status {code} after a process in it was killed for exceeding the memory limit"
            ),
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(sig)) if oom_killed => {
                format!("killed by signal {sig} (memory limit exceeded)")
            }
            (None, Some(sig)) => match nix::sys::signal::Signal::try_from(sig) {
                Ok(name) => format!("killed by signal {sig} ({name})"),
                Err(_) => format!("killed by signal {sig}"),
            },
            (None, None) => format!("ended with {status}"),
        };
        Termination {
            exit_code,
            signal,
            oom_killed,
            message,
        }
    }
}

/// A container's resource usage, read from its cgroups (directly, or through
/// the Docker engine).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// Resident anonymous memory (v1 `total_rss`, v2 `anon`), in bytes.
    pub mem_rss_bytes: u64,
    /// CPU time used by all of the container's processes, including exited
    /// ones, in seconds. Zero on a v1 host without the cpuacct controller.
    pub cpu_seconds: f64,
}
