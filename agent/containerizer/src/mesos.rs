//! The default containerizer: forks the task's program directly, in its own
//! process group, inside per-container cgroups (Mesos's "mesos" containerizer).

use std::fs::{self, OpenOptions};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::cgroups::{ContainerCgroups, Hierarchy, Isolation};
use crate::error::{describe_io, Error, Result};
use crate::{LaunchSpec, Termination, Usage};

/// How many rounds of SIGKILL [`Containerizer::destroy`] sends before giving up.
const KILL_ROUNDS: u32 = 250;
/// The pause between rounds; with [`KILL_ROUNDS`], destroy gives up after about 5s.
const KILL_INTERVAL: Duration = Duration::from_millis(20);
/// How many times launch rescans the new process group for members to move.
const ADOPT_ROUNDS: u32 = 10;
/// Container ids name directories; longer ones are surely a mistake.
const MAX_ID_LEN: usize = 200;

/// How the containerizer isolates containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerizerConfig {
    /// The cgroup, beneath each hierarchy's mount point, under which container
    /// cgroups are created; `strata` by default. May be nested (`a/b`).
    pub cgroups_root: String,
    /// False turns cgroups off: containers run without limits and
    /// [`Isolation::None`] says `disabled by flag`.
    pub enable_cgroups: bool,
}

impl Default for ContainerizerConfig {
    fn default() -> Self {
        ContainerizerConfig {
            cgroups_root: "strata".to_string(),
            enable_cgroups: true,
        }
    }
}

/// Launches and controls task processes. Cheap to clone: clones share one
/// detected isolation.
#[derive(Debug, Clone)]
pub struct Containerizer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    isolation: Isolation,
    hierarchy: Option<Hierarchy>,
}

/// How the process ended, as the reaper task saw it, or why it could not see.
type Exit = std::result::Result<ExitStatus, String>;

/// A launched container. Cheap to clone; clones refer to the same processes.
/// Dropping it neither kills nor waits for them: call [`Containerizer::destroy`].
#[derive(Debug, Clone)]
pub struct Container {
    /// The container id from the launch spec.
    pub id: String,
    /// The pid of the launched process, which is also its process group id.
    pub pid: u32,
    /// The sandbox directory.
    pub sandbox: PathBuf,
    cgroups: Option<ContainerCgroups>,
    exit: watch::Receiver<Option<Exit>>,
    /// Set when an OOM kill was seen, so the answer survives removal of the cgroup.
    oom_seen: Arc<AtomicBool>,
}

impl Container {
    fn exit_status(&self) -> Option<ExitStatus> {
        self.exit
            .borrow()
            .as_ref()
            .and_then(|e| e.as_ref().ok().copied())
    }

    /// The container's cgroup directories (empty if not isolated).
    #[cfg(test)]
    pub(crate) fn cgroup_dirs(&self) -> Vec<PathBuf> {
        self.cgroups
            .iter()
            .flat_map(|c| c.dirs())
            .map(Path::to_path_buf)
            .collect()
    }

    #[cfg(test)]
    pub(crate) fn cgroups(&self) -> Option<&ContainerCgroups> {
        self.cgroups.as_ref()
    }
}

// === impl Containerizer ===

impl Containerizer {
    /// Detects the host's cgroups and prepares `config.cgroups_root` in them.
    /// Never fails: without usable cgroups it runs unisolated, says why in
    /// [`Containerizer::isolation`], and logs a warning.
    pub fn new(config: ContainerizerConfig) -> Self {
        let detected = if !config.enable_cgroups {
            Err("disabled by flag".to_string())
        } else if !is_valid_root(&config.cgroups_root) {
            Err(format!(
                "invalid cgroups root {:?}: use names from [A-Za-z0-9._-] separated by '/'",
                config.cgroups_root
            ))
        } else {
            Hierarchy::detect(&config.cgroups_root)
        };
        let (isolation, hierarchy) = match detected {
            Ok(hierarchy) => (hierarchy.isolation(), Some(hierarchy)),
            Err(reason) => (Isolation::None { reason }, None),
        };
        match &isolation {
            Isolation::None { reason } => warn!(
                %reason,
                "containers will run WITHOUT cgroup isolation: no cpu or memory limits are enforced"
            ),
            isolation => {
                info!(isolation = %isolation.describe(), ?isolation, "containerizer ready")
            }
        }
        Containerizer {
            inner: Arc::new(Inner {
                isolation,
                hierarchy,
            }),
        }
    }

    /// The isolation containers get on this host.
    pub fn isolation(&self) -> &Isolation {
        &self.inner.isolation
    }

    /// Starts `spec.program` in its own process group with the sandbox as its
    /// working directory, inside freshly created cgroups carrying the limits.
    ///
    /// The cgroups are created and limited before the process starts, and the
    /// process is moved into them right after it starts, together with any
    /// process it forked meanwhile (found through its process group). Moving
    /// the child between fork and exec would need `unsafe` `pre_exec`, so a
    /// short window remains in which the program runs outside its cgroups;
    /// memory it touches then stays charged to the agent's cgroup. If the move
    /// fails, the process is killed and its cgroups removed: a container never
    /// runs less isolated than [`Containerizer::isolation`] says.
    pub async fn launch(&self, spec: LaunchSpec) -> Result<Container> {
        validate_container_id(&spec.container_id)?;
        spec.limits.validate()?;
        let id = spec.container_id;

        tokio::fs::create_dir_all(&spec.sandbox)
            .await
            .map_err(|source| Error::Sandbox {
                path: spec.sandbox.clone(),
                source,
            })?;
        let stdout = open_append(&spec.sandbox.join("stdout"))?;
        let stderr = open_append(&spec.sandbox.join("stderr"))?;

        let cgroups = match &self.inner.hierarchy {
            Some(hierarchy) => Some(hierarchy.create(&id, &spec.limits)?),
            None => None,
        };

        let mut command = std::process::Command::new(&spec.program);
        command
            .args(&spec.args)
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&spec.sandbox)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0);
        if !spec.env.iter().any(|(k, _)| k == "PATH") {
            if let Some(path) = std::env::var_os("PATH") {
                command.env("PATH", path);
            }
        }
        let mut child = match tokio::process::Command::from(command).spawn() {
            Ok(child) => child,
            Err(source) => {
                if let Some(cgroups) = &cgroups {
                    let _ = cgroups.remove();
                }
                return Err(Error::Spawn {
                    program: spec.program,
                    source,
                });
            }
        };
        // Nothing reaps the child before the reaper task below starts, so its
        // pid cannot be reused while we move it; for the same reason `id`
        // cannot be `None` here.
        let Some(pid) = child.id() else {
            if let Some(cgroups) = &cgroups {
                let _ = cgroups.remove();
            }
            return Err(Error::Spawn {
                program: spec.program,
                source: std::io::Error::other("the process was reaped before it could be tracked"),
            });
        };
        if let Some(cgroups) = &cgroups {
            if let Err(e) = adopt_process_group(cgroups, pid) {
                let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
                let _ = child.wait().await;
                let _ = cgroups.remove();
                return Err(e);
            }
        }

        let (exit_tx, exit_rx) = watch::channel(None);
        tokio::spawn(async move {
            let exit = child.wait().await.map_err(|e| describe_io(&e));
            exit_tx.send_replace(Some(exit));
        });

        info!(
            container_id = %id,
            pid,
            program = %spec.program,
            sandbox = %spec.sandbox.display(),
            cpus = spec.limits.cpus,
            mem_mb = spec.limits.mem_mb,
            isolated = cgroups.is_some(),
            "container launched"
        );
        Ok(Container {
            id,
            pid,
            sandbox: spec.sandbox,
            cgroups,
            exit: exit_rx,
            oom_seen: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Re-attaches to a container launched by an earlier agent process (after
    /// an agent restart). The process is no longer the agent's child, so its
    /// exit is noticed by polling and its exit status is unknown. Fails if
    /// `pid` is gone or is not in the container's cgroups.
    pub fn recover(&self, id: &str, pid: u32, sandbox: PathBuf) -> Result<Container> {
        validate_container_id(id)?;
        let alive = |pid: u32| proc_stat(pid).is_some_and(|s| !matches!(s.state, 'Z' | 'X'));
        if !alive(pid) {
            return Err(Error::Recover {
                id: id.to_string(),
                reason: format!("process {pid} is gone"),
            });
        }
        let cgroups = self
            .inner
            .hierarchy
            .as_ref()
            .map(|h| h.paths(id))
            .filter(|c| c.memory.exists());
        if let Some(c) = &cgroups {
            if !c.procs().contains(&pid) {
                return Err(Error::Recover {
                    id: id.to_string(),
                    reason: format!("process {pid} is not in the container's cgroups"),
                });
            }
        } else if proc_stat(pid).is_none_or(|s| s.pgrp != pid) {
            return Err(Error::Recover {
                id: id.to_string(),
                reason: format!("process {pid} does not lead its own process group"),
            });
        }
        let (exit_tx, exit_rx) = watch::channel(None);
        tokio::spawn(async move {
            while alive(pid) {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            exit_tx.send_replace(Some(Err(
                "the process exited while it was not the agent's child; its exit status is unknown"
                    .to_string(),
            )));
        });
        info!(container_id = %id, pid, "container recovered");
        Ok(Container {
            id: id.to_string(),
            pid,
            sandbox,
            cgroups,
            exit: exit_rx,
            oom_seen: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Ids of containers that have cgroups under this agent's root, known to
    /// the agent or not (for removing orphans after a restart).
    pub fn cgroup_container_ids(&self) -> Vec<String> {
        self.inner
            .hierarchy
            .as_ref()
            .map(Hierarchy::container_ids)
            .unwrap_or_default()
    }

    /// Kills everything in the cgroups of container `id`, which the agent no
    /// longer knows, and removes them.
    pub async fn destroy_orphan(&self, id: &str) -> Result<()> {
        validate_container_id(id)?;
        let Some(cgroups) = self.inner.hierarchy.as_ref().map(|h| h.paths(id)) else {
            return Ok(());
        };
        for _ in 0..KILL_ROUNDS {
            cgroups.kill_cgroup();
            let _ = cgroups.signal_all(Signal::SIGKILL);
            if cgroups.procs().is_empty() && cgroups.remove().is_ok() {
                info!(container_id = %id, "orphan container removed");
                return Ok(());
            }
            tokio::time::sleep(KILL_INTERVAL).await;
        }
        cgroups.remove()
    }

    /// Waits until the container's main process exits and says how it ended.
    /// Does not block the runtime: the process is reaped by a task spawned at
    /// launch. Takes `&Container` (so the agent can wait in one task while
    /// another signals or destroys), may be called any number of times, and
    /// does not remove the cgroups: call [`Containerizer::destroy`] after it.
    pub async fn wait(&self, container: &Container) -> Termination {
        let mut exit = container.exit.clone();
        let status = match exit.wait_for(Option::is_some).await {
            Ok(exit) => match &*exit {
                Some(exit) => exit.clone(),
                None => Err("no exit status was recorded".to_string()),
            },
            Err(_) => Err(
                "the task reaping it stopped before it exited (was its runtime shut down?)"
                    .to_string(),
            ),
        };
        let termination = Termination::new(status, self.oom_killed(container));
        info!(
            container_id = %container.id,
            pid = container.pid,
            message = %termination.message,
            "container process ended"
        );
        termination
    }

    /// Sends `signal` to the container's process group and to every process
    /// in its cgroups (which catches descendants that left the group). A
    /// container whose processes are all gone is not an error.
    pub fn signal(&self, container: &Container, signal: Signal) -> Result<()> {
        let pgid = container.pid;
        match killpg(Pid::from_raw(pgid as i32), signal) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(errno) => {
                return Err(Error::Signal {
                    signal,
                    target: format!("process group {pgid} of container {:?}", container.id),
                    errno,
                })
            }
        }
        let Some(cgroups) = &container.cgroups else {
            return Ok(());
        };
        // Group members already got the signal; a second one could be handled twice.
        for pid in cgroups.procs() {
            if proc_stat(pid).is_some_and(|stat| stat.pgrp == pgid) {
                continue;
            }
            match kill(Pid::from_raw(pid as i32), signal) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(errno) => {
                    return Err(Error::Signal {
                        signal,
                        target: format!("pid {pid} of container {:?}", container.id),
                        errno,
                    })
                }
            }
        }
        Ok(())
    }

    /// Kills every process of the container with SIGKILL (its process group
    /// and everything in its cgroups, repeatedly until none is left, for at
    /// most about 5 seconds), then removes its cgroups. Idempotent. The
    /// sandbox is left in place.
    pub async fn destroy(&self, container: &Container) -> Result<()> {
        // The OOM counter goes away with the cgroup; remember it first.
        let _ = self.oom_killed(container);
        let pgid = container.pid;
        let mut survivors = Vec::new();
        for _ in 0..KILL_ROUNDS {
            let _ = killpg(Pid::from_raw(pgid as i32), Signal::SIGKILL);
            if let Some(cgroups) = &container.cgroups {
                cgroups.kill_cgroup();
                let _ = cgroups.signal_all(Signal::SIGKILL);
            }
            survivors = live_group_members(pgid);
            if let Some(cgroups) = &container.cgroups {
                survivors.extend(cgroups.procs());
            }
            survivors.sort_unstable();
            survivors.dedup();
            if survivors.is_empty() {
                break;
            }
            tokio::time::sleep(KILL_INTERVAL).await;
        }
        if !survivors.is_empty() {
            warn!(container_id = %container.id, pids = ?survivors, "container processes survived SIGKILL");
            return Err(Error::Unkillable {
                id: container.id.clone(),
                pids: survivors,
            });
        }
        if let Some(cgroups) = &container.cgroups {
            // The kernel may need a moment after the last exit before the
            // cgroup can be removed.
            let mut rounds = 0;
            while let Err(e) = cgroups.remove() {
                rounds += 1;
                if rounds >= KILL_ROUNDS {
                    warn!(container_id = %container.id, error = %e, "container cgroup not removed");
                    return Err(e);
                }
                tokio::time::sleep(KILL_INTERVAL).await;
            }
        }
        info!(container_id = %container.id, pid = pgid, "container destroyed");
        Ok(())
    }

    /// The control file holding the container's memory limit in bytes
    /// (v1 `memory.limit_in_bytes`, v2 `memory.max`); `None` if not isolated.
    pub fn memory_limit_file(&self, container: &Container) -> Option<PathBuf> {
        container
            .cgroups
            .as_ref()
            .map(ContainerCgroups::memory_limit_file)
    }

    /// True if the kernel OOM-killed a process of this container: the
    /// cgroup's `oom_kill` counter (v1 `memory.oom_control`, v2
    /// `memory.events`) is positive or, on v1 kernels without that counter,
    /// the memory limit was hit and the main process died of SIGKILL. Once
    /// seen, stays true after the cgroup is removed.
    pub fn oom_killed(&self, container: &Container) -> bool {
        if container.oom_seen.load(Ordering::Relaxed) {
            return true;
        }
        let Some(cgroups) = &container.cgroups else {
            return false;
        };
        let oom = match cgroups.oom_kills() {
            Some(kills) => kills > 0,
            None => {
                let sigkilled = container
                    .exit_status()
                    .is_some_and(|s| s.signal() == Some(Signal::SIGKILL as i32));
                sigkilled && cgroups.memory_failcnt().is_some_and(|n| n > 0)
            }
        };
        if oom {
            container.oom_seen.store(true, Ordering::Relaxed);
        }
        oom
    }

    /// Resident memory and cumulative cpu time of the container, from its
    /// cgroups; `None` if it is not isolated or its cgroups are gone.
    pub fn usage(&self, container: &Container) -> Option<Usage> {
        let (mem_rss_bytes, cpu_seconds) = container.cgroups.as_ref()?.usage()?;
        Some(Usage {
            mem_rss_bytes,
            cpu_seconds,
        })
    }
}

/// Moves process `pid` and the members of its process group into `cgroups`.
/// Children forked before the move stay where they were born, so the group is
/// rescanned until no new member turns up (bounded: a fork bomb this early is
/// still contained by the process group, which destroy kills).
fn adopt_process_group(cgroups: &ContainerCgroups, pid: u32) -> Result<()> {
    cgroups.add_process(pid)?;
    let mut adopted = vec![pid];
    for _ in 0..ADOPT_ROUNDS {
        // Only the new process's own tree can hold members it forked this
        // early; scanning all of /proc for every launch would cost O(processes).
        let members = match descendants(pid) {
            Some(d) => d
                .into_iter()
                .filter(|p| {
                    proc_stat(*p).is_some_and(|s| s.pgrp == pid && !matches!(s.state, 'Z' | 'X'))
                })
                .collect(),
            None => live_group_members(pid),
        };
        let new: Vec<u32> = members
            .into_iter()
            .filter(|p| !adopted.contains(p))
            .collect();
        if new.is_empty() {
            break;
        }
        for member in new {
            cgroups.add_process(member)?;
            adopted.push(member);
        }
    }
    Ok(())
}

fn open_append(path: &Path) -> Result<fs::File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| Error::Sandbox {
            path: path.to_path_buf(),
            source,
        })
}

fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_ID_LEN
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn is_valid_root(root: &str) -> bool {
    root.split('/').all(is_valid_name)
}

/// Checks that `id` is safe as a directory name.
pub(crate) fn validate_container_id(id: &str) -> Result<()> {
    if is_valid_name(id) {
        Ok(())
    } else {
        Err(Error::InvalidContainerId(id.to_string()))
    }
}

// === /proc ===

/// The fields of `/proc/<pid>/stat` the containerizer needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcStat {
    pub(crate) state: char,
    pub(crate) pgrp: u32,
}

pub(crate) fn proc_stat(pid: u32) -> Option<ProcStat> {
    parse_proc_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Parses "pid (comm) state ppid pgrp ..."; the command name may itself hold
/// spaces and parentheses, so the fields start after the last ')'.
pub(crate) fn parse_proc_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some(ProcStat { state, pgrp })
}

/// True while any process (a zombie included) is in group `pgid`: a
/// signal-0 probe, which costs one syscall however many processes exist.
pub(crate) fn group_exists(pgid: u32) -> bool {
    !matches!(killpg(Pid::from_raw(pgid as i32), None), Err(Errno::ESRCH))
}

/// The descendants of `pid` found through `/proc/<pid>/task/*/children`
/// (cheap: it visits only the process tree below `pid`). `None` when the
/// kernel does not provide those files.
pub(crate) fn descendants(pid: u32) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    let mut stack = vec![pid];
    while let Some(p) = stack.pop() {
        let tasks = fs::read_dir(format!("/proc/{p}/task")).ok()?;
        for task in tasks.flatten() {
            let Ok(text) = fs::read_to_string(task.path().join("children")) else {
                if p == pid {
                    return None;
                }
                continue;
            };
            for child in text
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok())
            {
                if !out.contains(&child) {
                    out.push(child);
                    stack.push(child);
                }
            }
        }
    }
    Some(out)
}

/// The processes in group `pgid` that have not exited (zombies excluded).
/// The common case, an empty group, costs one syscall; only a group that
/// still has members is looked up in `/proc`.
pub(crate) fn live_group_members(pgid: u32) -> Vec<u32> {
    if !group_exists(pgid) {
        return Vec::new();
    }
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            proc_stat(pid).is_some_and(|s| s.pgrp == pgid && !matches!(s.state, 'Z' | 'X'))
        })
        .collect()
}
