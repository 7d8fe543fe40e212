//! The containerizer's error type.

use std::io;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::sys::signal::Signal;

/// A `Result` whose error is the containerizer's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a containerizer operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The container id is empty, `.`/`..`, too long, or holds a character
    /// outside `[A-Za-z0-9._-]`; it names directories, so it must be safe as one.
    #[error("invalid container id {0:?}: use 1 to 200 characters from [A-Za-z0-9._-], not \".\" or \"..\"")]
    InvalidContainerId(String),

    /// A container from an earlier agent process could not be re-attached.
    #[error("cannot recover container {id:?}: {reason}")]
    Recover {
        /// The container id.
        id: String,
        /// Why not.
        reason: String,
    },

    /// A limit is negative or not a number.
    #[error("invalid limit {name} = {value}: must be a finite number >= 0")]
    InvalidLimit {
        /// Which limit (`cpus` or `mem_mb`).
        name: &'static str,
        /// The value given.
        value: f64,
    },

    /// The sandbox directory or its stdout/stderr files could not be created.
    #[error("failed to prepare sandbox {}: {}", path.display(), describe_io(source))]
    Sandbox {
        /// The directory or file that could not be created.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },

    /// The program could not be started.
    #[error("failed to spawn {program:?}: {}", describe_io(source))]
    Spawn {
        /// The program as given in the launch spec.
        program: String,
        /// What the operating system said.
        source: io::Error,
    },

    /// A cgroup with this container's id exists and still holds processes or
    /// children, so it belongs to a container that is still alive.
    #[error("container {id:?} already exists: its cgroup {} is in use", path.display())]
    ContainerExists {
        /// The container id.
        id: String,
        /// The cgroup directory that is in use.
        path: PathBuf,
    },

    /// A cgroup directory could not be created.
    #[error("failed to create cgroup {}: {}", path.display(), describe_io(source))]
    CgroupCreate {
        /// The cgroup directory.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },

    /// A value could not be written to a cgroup control file.
    #[error("failed to write {value:?} to {}: {}", path.display(), describe_io(source))]
    CgroupWrite {
        /// The control file.
        path: PathBuf,
        /// The value that was being written.
        value: String,
        /// What the operating system said.
        source: io::Error,
    },

    /// A cgroup directory could not be removed.
    #[error("failed to remove cgroup {}: {}", path.display(), describe_io(source))]
    CgroupRemove {
        /// The cgroup directory.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },

    /// A signal could not be delivered.
    #[error("failed to send {signal} to {target}: {}", errno.desc())]
    Signal {
        /// The signal.
        signal: Signal,
        /// What it was sent to, e.g. `process group 1234`.
        target: String,
        /// What the operating system said.
        errno: Errno,
    },

    /// Processes of the container survived repeated SIGKILLs.
    #[error("container {id:?} still has processes {pids:?} after repeated SIGKILL")]
    Unkillable {
        /// The container id.
        id: String,
        /// The pids still alive.
        pids: Vec<u32>,
    },

    /// No Docker engine answers on the configured socket.
    #[error("docker is unavailable: {0}")]
    DockerUnavailable(String),

    /// The image was missing (or a pull was forced) and could not be pulled.
    #[error("failed to pull image {image:?}: {message}")]
    ImagePull {
        /// The image as named in the launch spec.
        image: String,
        /// What Docker said.
        message: String,
    },

    /// A Docker launch spec asks for something Docker cannot do, e.g. port
    /// mappings without bridge networking.
    #[error("invalid docker launch: {0}")]
    InvalidDockerSpec(String),

    /// The Docker engine refused or failed an operation; the text names the
    /// operation, the container and what Docker said.
    #[error("docker: {0}")]
    Docker(String),
}

/// The operating system's description of an I/O error, without Rust's
/// "(os error N)" suffix, so messages read like the shell's.
pub(crate) fn describe_io(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => Errno::from_raw(code).desc().to_string(),
        None => e.to_string(),
    }
}
