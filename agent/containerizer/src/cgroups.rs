//! Finding the host's cgroup hierarchies, and one container's cgroups in them.
//!
//! The control files are written directly: each limit is one small write to
//! cgroupfs, which is simpler to follow (and to debug on a host) than a
//! library's model of every controller.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tracing::debug;

use crate::error::{describe_io, Error, Result};
use crate::Limits;

/// The CFS period used for cpu quotas, in microseconds (the kernel default).
const CFS_PERIOD_US: u64 = 100_000;
/// The smallest quota the kernel accepts, in microseconds.
const MIN_CFS_QUOTA_US: u64 = 1_000;
/// `cpu.shares` per cpu, as in Mesos.
const CPU_SHARES_PER_CPU: f64 = 1024.0;
/// `cpu.weight` per cpu: one cpu gets the kernel's default weight.
const CPU_WEIGHT_PER_CPU: f64 = 100.0;

// === Isolation ===

/// The isolation a containerizer gives the processes it launches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Isolation {
    /// cgroup v1 with separate hierarchies; each container gets a cgroup under
    /// both of these directories.
    CgroupsV1 {
        /// The parent of the containers' cpu cgroups, e.g. `/sys/fs/cgroup/cpu/strata`.
        cpu: PathBuf,
        /// The parent of the containers' memory cgroups, e.g. `/sys/fs/cgroup/memory/strata`.
        memory: PathBuf,
    },
    /// The cgroup v2 unified hierarchy; each container gets one cgroup under
    /// this directory, which has the cpu and memory controllers enabled.
    CgroupsV2 {
        /// The parent of the containers' cgroups, e.g. `/sys/fs/cgroup/strata`.
        root: PathBuf,
    },
    /// No isolation: processes run in sandboxes without resource limits.
    None {
        /// Why no cgroups are used, e.g. `disabled by flag`.
        reason: String,
    },
}

impl Isolation {
    /// A one-line description for logs and the agent's state, e.g.
    /// `cgroups v1 (cpu, memory)` or `none: disabled by flag`.
    pub fn describe(&self) -> String {
        match self {
            Isolation::CgroupsV1 { .. } => "cgroups v1 (cpu, memory)".to_string(),
            Isolation::CgroupsV2 { .. } => "cgroups v2 (cpu, memory)".to_string(),
            Isolation::None { reason } => format!("none: {reason}"),
        }
    }

    /// True if containers get cgroups with cpu and memory limits.
    pub fn is_isolated(&self) -> bool {
        !matches!(self, Isolation::None { .. })
    }
}

// === Discovery ===

/// One cgroup filesystem mount, from `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CgroupMount {
    /// 1 for `cgroup`, 2 for `cgroup2`.
    pub(crate) version: u8,
    /// Which cgroup of the hierarchy is mounted (`/` unless a subtree is).
    pub(crate) root: String,
    pub(crate) mount_point: PathBuf,
    /// The super options; for v1 these name the hierarchy's controllers.
    pub(crate) options: Vec<String>,
}

impl CgroupMount {
    fn has(&self, controller: &str) -> bool {
        self.options.iter().any(|o| o == controller)
    }
}

/// The cgroup mounts listed in a `/proc/<pid>/mountinfo` text.
pub(crate) fn parse_mountinfo(text: &str) -> Vec<CgroupMount> {
    let mut mounts = Vec::new();
    for line in text.lines() {
        // "<id> <parent> <maj:min> <root> <mount point> <options> [optional...] - <fstype> <source> <super options>"
        let Some((before, after)) = line.split_once(" - ") else {
            continue;
        };
        let before: Vec<&str> = before.split(' ').collect();
        let after: Vec<&str> = after.split(' ').collect();
        if before.len() < 5 || after.len() < 3 {
            continue;
        }
        let version = match after[0] {
            "cgroup" => 1,
            "cgroup2" => 2,
            _ => continue,
        };
        mounts.push(CgroupMount {
            version,
            root: unescape_mount_field(before[3]),
            mount_point: PathBuf::from(unescape_mount_field(before[4])),
            options: after[2].split(',').map(str::to_string).collect(),
        });
    }
    mounts
}

/// Decodes the octal escapes (`\040` for a space) the kernel uses in mountinfo.
fn unescape_mount_field(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = std::str::from_utf8(&bytes[i + 1..i + 4]).ok();
            if let Some(b) = digits.and_then(|d| u8::from_str_radix(d, 8).ok()) {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One line of `/proc/self/cgroup`: the cgroup this process is in, per hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnCgroup {
    /// The v1 controllers of the hierarchy; empty for the v2 unified hierarchy.
    pub(crate) controllers: Vec<String>,
    pub(crate) path: String,
}

/// Parses a `/proc/<pid>/cgroup` text.
pub(crate) fn parse_proc_cgroup(text: &str) -> Vec<OwnCgroup> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            Some(OwnCgroup {
                controllers: controllers
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect(),
                path: path.to_string(),
            })
        })
        .collect()
}

/// The hierarchies the containerizer creates container cgroups in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Hierarchy {
    V1 {
        cpu: PathBuf,
        memory: PathBuf,
        /// A separately mounted cpuacct hierarchy, for cpu usage; `None` when
        /// cpuacct is mounted together with cpu (or not at all).
        cpuacct: Option<PathBuf>,
    },
    V2 {
        root: PathBuf,
    },
}

impl Hierarchy {
    /// Finds usable cgroups on this host and prepares `root_name` beneath them.
    /// Prefers a v2 unified hierarchy with the cpu and memory controllers, then
    /// v1. The error says, in one line, why neither can be used.
    pub(crate) fn detect(root_name: &str) -> std::result::Result<Hierarchy, String> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| format!("cannot read /proc/self/mountinfo: {}", describe_io(&e)))?;
        let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        Self::detect_in(
            &parse_mountinfo(&mountinfo),
            &parse_proc_cgroup(&own),
            root_name,
        )
    }

    pub(crate) fn detect_in(
        mounts: &[CgroupMount],
        own: &[OwnCgroup],
        root_name: &str,
    ) -> std::result::Result<Hierarchy, String> {
        let v2 = match detect_v2(mounts, root_name) {
            Ok(h) => return Ok(h),
            Err(reason) => reason,
        };
        let v1 = match detect_v1(mounts, own, root_name) {
            Ok(h) => return Ok(h),
            Err(reason) => reason,
        };
        Err(format!("{v2}; {v1}"))
    }

    pub(crate) fn isolation(&self) -> Isolation {
        match self {
            Hierarchy::V1 { cpu, memory, .. } => Isolation::CgroupsV1 {
                cpu: cpu.clone(),
                memory: memory.clone(),
            },
            Hierarchy::V2 { root } => Isolation::CgroupsV2 { root: root.clone() },
        }
    }

    /// The cgroups container `id` would have, whether or not they exist.
    pub(crate) fn paths(&self, id: &str) -> ContainerCgroups {
        match self {
            Hierarchy::V1 {
                cpu,
                memory,
                cpuacct,
            } => ContainerCgroups {
                version: Version::V1,
                cpu: cpu.join(id),
                memory: memory.join(id),
                cpuacct: cpuacct.as_ref().map(|p| p.join(id)),
            },
            Hierarchy::V2 { root } => ContainerCgroups {
                version: Version::V2,
                cpu: root.join(id),
                memory: root.join(id),
                cpuacct: None,
            },
        }
    }

    /// Ids of the containers that have a memory cgroup under the root.
    pub(crate) fn container_ids(&self) -> Vec<String> {
        let dir = match self {
            Hierarchy::V1 { memory, .. } => memory,
            Hierarchy::V2 { root } => root,
        };
        let Ok(entries) = fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut ids: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        ids
    }

    /// Creates the cgroups of container `id` and applies its limits. On error
    /// nothing is left behind.
    pub(crate) fn create(&self, id: &str, limits: &Limits) -> Result<ContainerCgroups> {
        let cgroups = match self {
            Hierarchy::V1 {
                cpu,
                memory,
                cpuacct,
            } => ContainerCgroups {
                version: Version::V1,
                cpu: cpu.join(id),
                memory: memory.join(id),
                cpuacct: cpuacct.as_ref().map(|p| p.join(id)),
            },
            Hierarchy::V2 { root } => ContainerCgroups {
                version: Version::V2,
                cpu: root.join(id),
                memory: root.join(id),
                cpuacct: None,
            },
        };
        let mut created = Vec::new();
        let result = (|| {
            for dir in cgroups.dirs() {
                make_container_dir(id, dir)?;
                created.push(dir.to_path_buf());
            }
            cgroups.apply_limits(limits)
        })();
        match result {
            Ok(()) => Ok(cgroups),
            Err(e) => {
                for dir in created {
                    let _ = fs::remove_dir(dir);
                }
                Err(e)
            }
        }
    }
}

fn make_container_dir(id: &str, dir: &Path) -> Result<()> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // A leftover of an earlier run that was not destroyed. If it is
            // empty it can be reused; if not, a live container owns it.
            if fs::remove_dir(dir).is_err() {
                return Err(Error::ContainerExists {
                    id: id.to_string(),
                    path: dir.to_path_buf(),
                });
            }
            fs::create_dir(dir).map_err(|source| Error::CgroupCreate {
                path: dir.to_path_buf(),
                source,
            })
        }
        Err(source) => Err(Error::CgroupCreate {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

fn detect_v2(mounts: &[CgroupMount], root_name: &str) -> std::result::Result<Hierarchy, String> {
    let v2: Vec<&CgroupMount> = mounts.iter().filter(|m| m.version == 2).collect();
    if v2.is_empty() {
        return Err("no cgroup2 filesystem is mounted".to_string());
    }
    let mut reasons = Vec::new();
    for mount in v2 {
        match prepare_v2(&mount.mount_point, root_name) {
            Ok(root) => return Ok(Hierarchy::V2 { root }),
            Err(reason) => reasons.push(reason),
        }
    }
    Err(reasons.join("; "))
}

fn prepare_v2(mount: &Path, root_name: &str) -> std::result::Result<PathBuf, String> {
    let controllers_file = mount.join("cgroup.controllers");
    let available = fs::read_to_string(&controllers_file).map_err(|e| {
        format!(
            "cannot read {}: {}",
            controllers_file.display(),
            describe_io(&e)
        )
    })?;
    let available: Vec<&str> = available.split_whitespace().collect();
    let missing: Vec<&str> = ["cpu", "memory"]
        .into_iter()
        .filter(|c| !available.contains(c))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "cgroup v2 at {} lacks the {} controller(s) (available: {:?})",
            mount.display(),
            missing.join(", "),
            available.join(" ")
        ));
    }
    // Controllers flow down only where every ancestor enables them.
    enable_v2_controllers(mount)?;
    let mut root = mount.to_path_buf();
    for name in root_name.split('/') {
        root.push(name);
        create_dir_if_missing(&root)?;
        enable_v2_controllers(&root)?;
    }
    probe(&root, &["memory.max", "cpu.max"])?;
    Ok(root)
}

fn enable_v2_controllers(dir: &Path) -> std::result::Result<(), String> {
    let file = dir.join("cgroup.subtree_control");
    let enabled = fs::read_to_string(&file).unwrap_or_default();
    let enabled: Vec<&str> = enabled.split_whitespace().collect();
    for controller in ["cpu", "memory"] {
        if enabled.contains(&controller) {
            continue;
        }
        let value = format!("+{controller}");
        fs::write(&file, &value).map_err(|e| {
            format!(
                "cannot enable the {controller} controller in {}: {}",
                file.display(),
                describe_io(&e)
            )
        })?;
    }
    Ok(())
}

fn detect_v1(
    mounts: &[CgroupMount],
    own: &[OwnCgroup],
    root_name: &str,
) -> std::result::Result<Hierarchy, String> {
    let find = |controller: &str| mounts.iter().find(|m| m.version == 1 && m.has(controller));
    let (Some(cpu_mount), Some(memory_mount)) = (find("cpu"), find("memory")) else {
        return Err("cgroup v1 has no cpu and memory hierarchies mounted".to_string());
    };
    let cpu = prepare_v1(cpu_mount, own, "cpu", root_name, "cpu.cfs_quota_us")?;
    let memory = prepare_v1(
        memory_mount,
        own,
        "memory",
        root_name,
        "memory.limit_in_bytes",
    )?;
    // cpuacct only reports usage; a host without it still isolates.
    let cpuacct = match find("cpuacct") {
        Some(m) if m.mount_point != cpu_mount.mount_point => {
            match prepare_v1(m, own, "cpuacct", root_name, "cpuacct.usage") {
                Ok(dir) => Some(dir),
                Err(reason) => {
                    debug!(%reason, "cpuacct unusable; cpu usage will not be reported");
                    None
                }
            }
        }
        _ => None,
    };
    Ok(Hierarchy::V1 {
        cpu,
        memory,
        cpuacct,
    })
}

/// Prepares `<mount>/<root_name>`, or failing that `<mount>/<our own cgroup>/<root_name>`
/// (where a container runtime lets us write only beneath our own cgroup).
fn prepare_v1(
    mount: &CgroupMount,
    own: &[OwnCgroup],
    controller: &str,
    root_name: &str,
    probe_file: &str,
) -> std::result::Result<PathBuf, String> {
    let mut candidates = vec![mount.mount_point.join(root_name)];
    let own_path = own
        .iter()
        .find(|c| c.controllers.iter().any(|name| name == controller))
        .map(|c| c.path.as_str());
    if let Some(path) = own_path {
        let relative = path
            .strip_prefix(mount.root.as_str())
            .unwrap_or(path)
            .trim_start_matches('/');
        if !relative.is_empty() {
            candidates.push(mount.mount_point.join(relative).join(root_name));
        }
    }
    let mut reasons = Vec::new();
    for dir in candidates {
        match create_dir_if_missing(&dir).and_then(|()| probe(&dir, &[probe_file])) {
            Ok(()) => return Ok(dir),
            Err(reason) => reasons.push(reason),
        }
    }
    Err(format!("cgroup v1 {controller}: {}", reasons.join("; ")))
}

fn create_dir_if_missing(dir: &Path) -> std::result::Result<(), String> {
    match fs::create_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!(
            "cannot create {}: {}",
            dir.display(),
            describe_io(&e)
        )),
    }
}

/// Checks that a child cgroup can be created under `dir` and carries the
/// control files the containerizer writes. The probe's name holds a `~`, which
/// no container id can, so it never collides with a container.
fn probe(dir: &Path, files: &[&str]) -> std::result::Result<(), String> {
    // Unique per call too: several containerizers may be probing at once.
    static PROBES: AtomicU64 = AtomicU64::new(0);
    let n = PROBES.fetch_add(1, Ordering::Relaxed);
    let probe = dir.join(format!("probe~{}~{n}", std::process::id()));
    fs::create_dir(&probe).map_err(|e| {
        format!(
            "cannot create a cgroup in {}: {}",
            dir.display(),
            describe_io(&e)
        )
    })?;
    let missing = files.iter().find(|f| !probe.join(f).exists());
    let _ = fs::remove_dir(&probe);
    match missing {
        Some(file) => Err(format!("cgroups in {} have no {file}", dir.display())),
        None => Ok(()),
    }
}

// === ContainerCgroups ===

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    V1,
    V2,
}

/// The cgroup directories of one container. For v2 `cpu` and `memory` are the
/// same directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContainerCgroups {
    pub(crate) version: Version,
    pub(crate) cpu: PathBuf,
    pub(crate) memory: PathBuf,
    pub(crate) cpuacct: Option<PathBuf>,
}

impl ContainerCgroups {
    /// Each distinct directory once.
    pub(crate) fn dirs(&self) -> Vec<&Path> {
        let mut dirs: Vec<&Path> = vec![&self.memory];
        if self.cpu != self.memory {
            dirs.push(&self.cpu);
        }
        if let Some(cpuacct) = &self.cpuacct {
            dirs.push(cpuacct);
        }
        dirs
    }

    fn apply_limits(&self, limits: &Limits) -> Result<()> {
        let mem_bytes =
            (limits.mem_mb > 0.0).then_some((limits.mem_mb * 1024.0 * 1024.0).round() as u64);
        let cpu_quota = (limits.cpus > 0.0)
            .then(|| ((limits.cpus * CFS_PERIOD_US as f64).round() as u64).max(MIN_CFS_QUOTA_US));
        match self.version {
            Version::V1 => {
                if let Some(bytes) = mem_bytes {
                    // Swap would let the task exceed its memory limit unnoticed.
                    write_optional(&self.memory.join("memory.swappiness"), "0");
                    write(
                        &self.memory.join("memory.limit_in_bytes"),
                        &bytes.to_string(),
                    )?;
                    write_optional(
                        &self.memory.join("memory.memsw.limit_in_bytes"),
                        &bytes.to_string(),
                    );
                }
                if let Some(quota) = cpu_quota {
                    let shares = ((limits.cpus * CPU_SHARES_PER_CPU).round() as u64).max(2);
                    write(&self.cpu.join("cpu.shares"), &shares.to_string())?;
                    write(
                        &self.cpu.join("cpu.cfs_period_us"),
                        &CFS_PERIOD_US.to_string(),
                    )?;
                    write(&self.cpu.join("cpu.cfs_quota_us"), &quota.to_string())?;
                }
            }
            Version::V2 => {
                if let Some(bytes) = mem_bytes {
                    write(&self.memory.join("memory.max"), &bytes.to_string())?;
                    write_optional(&self.memory.join("memory.swap.max"), "0");
                }
                if let Some(quota) = cpu_quota {
                    let weight = (limits.cpus * CPU_WEIGHT_PER_CPU)
                        .round()
                        .clamp(1.0, 10_000.0);
                    write(&self.cpu.join("cpu.weight"), &(weight as u64).to_string())?;
                    write(
                        &self.cpu.join("cpu.max"),
                        &format!("{quota} {CFS_PERIOD_US}"),
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Moves `pid` into every cgroup of the container. A process that already
    /// exited (a zombie the caller has not reaped) cannot be moved and needs
    /// not be.
    pub(crate) fn add_process(&self, pid: u32) -> Result<()> {
        for dir in self.dirs() {
            let file = dir.join("cgroup.procs");
            match fs::write(&file, pid.to_string()) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(Errno::ESRCH as i32) => return Ok(()),
                Err(source) => {
                    return Err(Error::CgroupWrite {
                        path: file,
                        value: pid.to_string(),
                        source,
                    })
                }
            }
        }
        Ok(())
    }

    /// The pids in the container's cgroups (zombies are not listed).
    pub(crate) fn procs(&self) -> Vec<u32> {
        let mut pids = BTreeSet::new();
        for dir in self.dirs() {
            if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
                pids.extend(text.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
            }
        }
        pids.into_iter().collect()
    }

    /// Sends `signal` to every process in the cgroups. Processes that exit
    /// meanwhile are skipped; any other failure is returned after trying all.
    pub(crate) fn signal_all(&self, signal: Signal) -> Result<()> {
        let mut first_error = None;
        for pid in self.procs() {
            match kill(Pid::from_raw(pid as i32), signal) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(errno) => {
                    first_error.get_or_insert(Error::Signal {
                        signal,
                        target: format!("pid {pid}"),
                        errno,
                    });
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Kills everything in the cgroup at once where the kernel can (v2 `cgroup.kill`),
    /// which also catches processes forked while we kill.
    pub(crate) fn kill_cgroup(&self) {
        if self.version == Version::V2 {
            write_optional(&self.memory.join("cgroup.kill"), "1");
        }
    }

    /// Removes the container's cgroup directories; missing ones are fine.
    pub(crate) fn remove(&self) -> Result<()> {
        for dir in self.dirs() {
            match fs::remove_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(Error::CgroupRemove {
                        path: dir.to_path_buf(),
                        source,
                    })
                }
            }
        }
        Ok(())
    }

    pub(crate) fn memory_limit_file(&self) -> PathBuf {
        match self.version {
            Version::V1 => self.memory.join("memory.limit_in_bytes"),
            Version::V2 => self.memory.join("memory.max"),
        }
    }

    /// How many processes the kernel OOM-killed in this cgroup, if it says.
    pub(crate) fn oom_kills(&self) -> Option<u64> {
        let file = match self.version {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        };
        let text = fs::read_to_string(self.memory.join(file)).ok()?;
        stat_value(&text, "oom_kill")
    }

    /// v1's count of times the memory limit was hit; `None` on v2 or if unreadable.
    pub(crate) fn memory_failcnt(&self) -> Option<u64> {
        match self.version {
            Version::V1 => fs::read_to_string(self.memory.join("memory.failcnt"))
                .ok()?
                .trim()
                .parse()
                .ok(),
            Version::V2 => None,
        }
    }

    /// Resident memory and cumulative cpu time; `None` if the memory figures
    /// cannot be read (e.g. the cgroup is gone).
    pub(crate) fn usage(&self) -> Option<(u64, f64)> {
        let memory_stat = fs::read_to_string(self.memory.join("memory.stat")).ok()?;
        match self.version {
            Version::V1 => {
                let rss = stat_value(&memory_stat, "total_rss")
                    .or_else(|| stat_value(&memory_stat, "rss"))?;
                let acct = self.cpuacct.as_ref().unwrap_or(&self.cpu);
                let cpu_ns = fs::read_to_string(acct.join("cpuacct.usage"))
                    .ok()
                    .and_then(|t| t.trim().parse::<u64>().ok())
                    .unwrap_or(0);
                Some((rss, cpu_ns as f64 / 1e9))
            }
            Version::V2 => {
                let anon = stat_value(&memory_stat, "anon")?;
                let cpu_usec = fs::read_to_string(self.cpu.join("cpu.stat"))
                    .ok()
                    .and_then(|t| stat_value(&t, "usage_usec"))
                    .unwrap_or(0);
                Some((anon, cpu_usec as f64 / 1e6))
            }
        }
    }
}

/// The value of `key` in a flat-keyed cgroup file ("key value" per line).
pub(crate) fn stat_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

fn write(path: &Path, value: &str) -> Result<()> {
    fs::write(path, value).map_err(|source| Error::CgroupWrite {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    })
}

/// Writes a setting that not every kernel or configuration has (swap
/// accounting, `cgroup.kill`); its absence only weakens isolation a little.
fn write_optional(path: &Path, value: &str) {
    if let Err(e) = fs::write(path, value) {
        debug!(path = %path.display(), value, error = %describe_io(&e), "optional cgroup setting not applied");
    }
}
