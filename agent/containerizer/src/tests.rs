//! Tests with real processes and, where the host has them, real cgroups.
//! Tests that need cgroups print `SKIPPED: no usable cgroups: <reason>` on
//! hosts without them instead of passing silently.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::cgroups::{
    parse_mountinfo, parse_proc_cgroup, stat_value, CgroupMount, Hierarchy, OwnCgroup,
};
use crate::mesos::{live_group_members, parse_proc_stat, proc_stat, ProcStat};
use crate::{
    Container, Containerizer, ContainerizerConfig, Error, Isolation, LaunchSpec, Limits,
    Termination,
};

// === Helpers ===

/// A cgroups root of its own, so tests never touch a real agent's containers.
const TEST_CGROUPS_ROOT: &str = "strata-test";

fn unique(name: &str) -> String {
    format!("test-{}-{name}", std::process::id())
}

fn sandbox(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("strata-containerizer-{}", unique(name)));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn spec(name: &str, program: &str, args: &[&str]) -> LaunchSpec {
    LaunchSpec {
        container_id: unique(name),
        sandbox: sandbox(name),
        program: program.to_string(),
        args: args.iter().map(|a| a.to_string()).collect(),
        env: Vec::new(),
        limits: Limits {
            cpus: 0.5,
            mem_mb: 64.0,
        },
    }
}

fn sh(name: &str, script: &str) -> LaunchSpec {
    spec(name, "/bin/sh", &["-c", script])
}

/// Whatever isolation the host offers; tests using it hold either way.
fn any_containerizer() -> Containerizer {
    let containerizer = Containerizer::new(ContainerizerConfig {
        cgroups_root: TEST_CGROUPS_ROOT.to_string(),
        enable_cgroups: true,
    });
    eprintln!("isolation: {}", containerizer.isolation().describe());
    containerizer
}

/// A containerizer with cgroups, or `None` after announcing the skip loudly.
fn cgroups_or_skip() -> Option<Containerizer> {
    let containerizer = any_containerizer();
    match containerizer.isolation() {
        Isolation::None { reason } => {
            eprintln!("SKIPPED: no usable cgroups: {reason}");
            println!("SKIPPED: no usable cgroups: {reason}");
            None
        }
        _ => Some(containerizer),
    }
}

async fn wait(containerizer: &Containerizer, container: &Container) -> Termination {
    tokio::time::timeout(Duration::from_secs(60), containerizer.wait(container))
        .await
        .expect("the container did not exit within 60s")
}

async fn launch(containerizer: &Containerizer, spec: LaunchSpec) -> (Container, Cleanup) {
    let container = containerizer.launch(spec).await.expect("launch");
    let cleanup = Cleanup(container.clone());
    (container, cleanup)
}

/// Kills a test's container and removes its cgroups even when the test fails
/// half-way (`Drop` cannot await, so this is a blocking copy of `destroy`).
struct Cleanup(Container);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let container = &self.0;
        for _ in 0..250 {
            let _ = killpg(Pid::from_raw(container.pid as i32), Signal::SIGKILL);
            let mut alive = live_group_members(container.pid);
            if let Some(cgroups) = container.cgroups() {
                cgroups.kill_cgroup();
                let _ = cgroups.signal_all(Signal::SIGKILL);
                alive.extend(cgroups.procs());
            }
            if alive.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for dir in container.cgroup_dirs() {
            for _ in 0..100 {
                match std::fs::remove_dir(&dir) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    _ => break,
                }
            }
        }
        let _ = std::fs::remove_dir_all(&container.sandbox);
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn is_dead(pid: u32) -> bool {
    proc_stat(pid).is_none_or(|s| matches!(s.state, 'Z' | 'X'))
}

// === Processes ===

#[tokio::test]
async fn exit_code_and_output_go_to_the_sandbox() {
    let containerizer = any_containerizer();
    let spec = sh("exit3", "echo out; echo err >&2; exit 3");
    let (container, _cleanup) = launch(&containerizer, spec).await;

    let termination = wait(&containerizer, &container).await;

    assert_eq!(
        termination,
        Termination {
            exit_code: Some(3),
            signal: None,
            oom_killed: false,
            message: "exited with status 3".to_string(),
        }
    );
    assert_eq!(read(&container.sandbox.join("stdout")), "out\n");
    assert_eq!(read(&container.sandbox.join("stderr")), "err\n");
    // A second wait gives the same answer.
    assert_eq!(wait(&containerizer, &container).await, termination);
    containerizer.destroy(&container).await.expect("destroy");
}

#[tokio::test]
async fn output_is_appended_not_truncated() {
    let containerizer = any_containerizer();
    let first = sh("append", "echo one");
    let sandbox = first.sandbox.clone();
    std::fs::create_dir_all(&sandbox).unwrap();
    std::fs::write(sandbox.join("stdout"), "zero\n").unwrap();
    let (container, _cleanup) = launch(&containerizer, first).await;
    wait(&containerizer, &container).await;
    containerizer.destroy(&container).await.expect("destroy");
    assert_eq!(read(&sandbox.join("stdout")), "zero\none\n");
}

#[tokio::test]
async fn environment_is_exactly_the_given_one_plus_path() {
    let containerizer = any_containerizer();
    let mut spec = spec("env", "/usr/bin/env", &[]);
    spec.env = vec![
        ("FOO".to_string(), "bar baz".to_string()),
        ("EMPTY".to_string(), String::new()),
    ];
    let (container, _cleanup) = launch(&containerizer, spec).await;
    wait(&containerizer, &container).await;

    let mut lines: Vec<String> = read(&container.sandbox.join("stdout"))
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    let agent_path = std::env::var("PATH").expect("the test runner has a PATH");
    assert_eq!(
        lines,
        vec![
            "EMPTY=".to_string(),
            "FOO=bar baz".to_string(),
            format!("PATH={agent_path}"),
        ]
    );
    containerizer.destroy(&container).await.expect("destroy");
}

#[tokio::test]
async fn a_given_path_is_kept_and_used_to_find_the_program() {
    let containerizer = any_containerizer();
    let mut spec = spec("path", "env", &[]);
    spec.env = vec![("PATH".to_string(), "/nonexistent:/usr/bin:/bin".to_string())];
    let (container, _cleanup) = launch(&containerizer, spec).await;
    let termination = wait(&containerizer, &container).await;
    assert_eq!(termination.exit_code, Some(0), "{termination:?}");
    assert_eq!(
        read(&container.sandbox.join("stdout")),
        "PATH=/nonexistent:/usr/bin:/bin\n"
    );
    containerizer.destroy(&container).await.expect("destroy");
}

#[tokio::test]
async fn working_directory_is_the_sandbox() {
    let containerizer = any_containerizer();
    let (container, _cleanup) = launch(&containerizer, spec("cwd", "/bin/pwd", &["-P"])).await;
    wait(&containerizer, &container).await;
    let expected = std::fs::canonicalize(&container.sandbox).unwrap();
    assert_eq!(
        read(&container.sandbox.join("stdout")),
        format!("{}\n", expected.display())
    );
    containerizer.destroy(&container).await.expect("destroy");
}

#[tokio::test]
async fn the_process_leads_its_own_process_group() {
    let containerizer = any_containerizer();
    let (container, _cleanup) = launch(&containerizer, spec("pgrp", "/bin/sleep", &["30"])).await;

    let stat = proc_stat(container.pid).expect("the process is running");
    assert_eq!(stat.pgrp, container.pid);
    let ours = proc_stat(std::process::id()).unwrap();
    assert_ne!(ours.pgrp, container.pid);

    containerizer.destroy(&container).await.expect("destroy");
    let termination = wait(&containerizer, &container).await;
    assert_eq!(termination.signal, Some(9));
    assert_eq!(termination.message, "killed by signal 9 (SIGKILL)");
}

#[tokio::test]
async fn signal_reaches_the_process() {
    let containerizer = any_containerizer();
    let (container, _cleanup) =
        launch(&containerizer, spec("sigterm", "/bin/sleep", &["30"])).await;

    containerizer
        .signal(&container, Signal::SIGTERM)
        .expect("signal");
    let termination = wait(&containerizer, &container).await;

    assert_eq!(termination.signal, Some(15));
    assert_eq!(termination.exit_code, None);
    assert_eq!(termination.message, "killed by signal 15 (SIGTERM)");
    // Signalling a container whose processes are gone is not an error.
    containerizer
        .signal(&container, Signal::SIGTERM)
        .expect("signal after exit");
    containerizer.destroy(&container).await.expect("destroy");
}

#[tokio::test]
async fn destroy_kills_the_whole_process_group_including_grandchildren() {
    check_destroy_kills_tree(&any_containerizer(), "tree").await;
}

#[tokio::test]
async fn destroy_kills_grandchildren_without_cgroups_too() {
    let containerizer = Containerizer::new(ContainerizerConfig {
        cgroups_root: TEST_CGROUPS_ROOT.to_string(),
        enable_cgroups: false,
    });
    check_destroy_kills_tree(&containerizer, "tree-noiso").await;
}

async fn check_destroy_kills_tree(containerizer: &Containerizer, name: &str) {
    let (container, _cleanup) = launch(containerizer, sh(name, "sleep 1000 & sleep 1000")).await;

    // The shell and both sleeps.
    let mut members = Vec::new();
    for _ in 0..250 {
        members = live_group_members(container.pid);
        if members.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(members.len(), 3, "group members: {members:?}");
    let cgroup_dirs = container.cgroup_dirs();
    for dir in &cgroup_dirs {
        assert!(dir.is_dir(), "{} exists while running", dir.display());
    }

    containerizer.destroy(&container).await.expect("destroy");

    for pid in &members {
        assert!(is_dead(*pid), "pid {pid} survived destroy");
    }
    for dir in &cgroup_dirs {
        assert!(!dir.exists(), "{} was not removed", dir.display());
    }
    assert_eq!(wait(containerizer, &container).await.signal, Some(9));
    // Destroying again is harmless.
    containerizer
        .destroy(&container)
        .await
        .expect("second destroy");
}

// === Errors ===

#[tokio::test]
async fn invalid_container_ids_are_rejected() {
    let containerizer = any_containerizer();
    for id in ["../x", "", ".", "..", "a/b", "a b", "naïve", "x\n"] {
        let mut spec = sh("badid", "exit 0");
        spec.container_id = id.to_string();
        let err = containerizer.launch(spec).await.expect_err(id);
        assert!(matches!(err, Error::InvalidContainerId(_)), "{id:?}: {err}");
        assert!(
            err.to_string()
                .starts_with(&format!("invalid container id {id:?}")),
            "{err}"
        );
    }
    assert_eq!(
        Error::InvalidContainerId("../x".into())
            .to_string()
            .split(':')
            .next(),
        Some("invalid container id \"../x\"")
    );
}

#[tokio::test]
async fn a_nonexistent_program_is_a_clear_error_and_leaves_no_cgroup() {
    let containerizer = any_containerizer();
    let spec = spec("nope", "/nope", &[]);
    let id = spec.container_id.clone();
    let sandbox = spec.sandbox.clone();
    let err = containerizer.launch(spec).await.expect_err("spawn fails");
    let _ = std::fs::remove_dir_all(sandbox);
    assert_eq!(
        err.to_string(),
        "failed to spawn \"/nope\": No such file or directory"
    );
    let leftovers: Vec<PathBuf> = match containerizer.isolation() {
        Isolation::CgroupsV1 { cpu, memory } => vec![cpu.join(&id), memory.join(&id)],
        Isolation::CgroupsV2 { root } => vec![root.join(&id)],
        Isolation::None { .. } => vec![],
    };
    for dir in leftovers {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

#[tokio::test]
async fn invalid_limits_are_rejected() {
    let containerizer = any_containerizer();
    for (cpus, mem_mb) in [(-1.0, 32.0), (1.0, f64::NAN), (f64::INFINITY, 32.0)] {
        let mut spec = sh("badlimits", "exit 0");
        spec.limits = Limits { cpus, mem_mb };
        let err = containerizer.launch(spec).await.expect_err("invalid");
        assert!(matches!(err, Error::InvalidLimit { .. }), "{err}");
    }
}

// === Isolation ===

#[tokio::test]
async fn disabled_by_flag_runs_unisolated_and_says_so() {
    let containerizer = Containerizer::new(ContainerizerConfig {
        cgroups_root: TEST_CGROUPS_ROOT.to_string(),
        enable_cgroups: false,
    });
    assert_eq!(
        containerizer.isolation(),
        &Isolation::None {
            reason: "disabled by flag".to_string()
        }
    );
    assert_eq!(
        containerizer.isolation().describe(),
        "none: disabled by flag"
    );

    let (container, _cleanup) = launch(&containerizer, sh("noiso", "sleep 30")).await;
    assert_eq!(containerizer.memory_limit_file(&container), None);
    assert_eq!(containerizer.usage(&container), None);
    assert!(!containerizer.oom_killed(&container));
    containerizer.destroy(&container).await.expect("destroy");
    assert_eq!(wait(&containerizer, &container).await.signal, Some(9));
}

#[tokio::test]
async fn an_invalid_cgroups_root_means_no_isolation() {
    let containerizer = Containerizer::new(ContainerizerConfig {
        cgroups_root: "../escape".to_string(),
        enable_cgroups: true,
    });
    let Isolation::None { reason } = containerizer.isolation() else {
        panic!(
            "isolated under an invalid root: {:?}",
            containerizer.isolation()
        );
    };
    assert!(reason.starts_with("invalid cgroups root"), "{reason}");
}

#[tokio::test]
async fn limits_are_written_and_the_process_is_in_its_cgroups() {
    let Some(containerizer) = cgroups_or_skip() else {
        return;
    };
    let (container, _cleanup) = launch(&containerizer, spec("limits", "/bin/sleep", &["30"])).await;

    let limit_file = containerizer
        .memory_limit_file(&container)
        .expect("isolated");
    assert_eq!(read(&limit_file).trim(), (64u64 << 20).to_string());
    let cgroups = container.cgroups().expect("isolated");
    match containerizer.isolation() {
        Isolation::CgroupsV1 { .. } => {
            assert_eq!(read(&cgroups.cpu.join("cpu.cfs_quota_us")).trim(), "50000");
            assert_eq!(
                read(&cgroups.cpu.join("cpu.cfs_period_us")).trim(),
                "100000"
            );
            assert_eq!(read(&cgroups.cpu.join("cpu.shares")).trim(), "512");
            assert_eq!(read(&cgroups.memory.join("memory.swappiness")).trim(), "0");
        }
        Isolation::CgroupsV2 { .. } => {
            assert_eq!(read(&cgroups.cpu.join("cpu.max")).trim(), "50000 100000");
            assert_eq!(read(&cgroups.cpu.join("cpu.weight")).trim(), "50");
        }
        Isolation::None { .. } => unreachable!(),
    }
    for dir in container.cgroup_dirs() {
        let procs = read(&dir.join("cgroup.procs"));
        assert!(
            procs.lines().any(|l| l == container.pid.to_string()),
            "pid {} not in {}: {procs:?}",
            container.pid,
            dir.display()
        );
    }

    containerizer.destroy(&container).await.expect("destroy");
    for dir in container.cgroup_dirs() {
        assert!(!dir.exists(), "{} was not removed", dir.display());
    }
    assert_eq!(containerizer.usage(&container), None);
}

#[tokio::test]
async fn exceeding_the_memory_limit_is_an_oom_kill() {
    let Some(containerizer) = cgroups_or_skip() else {
        return;
    };
    // The shell holds the 200 MB command substitution in its own memory. It
    // first sleeps past launch's window before the move into the cgroup (see
    // `Containerizer::launch`): memory touched earlier is charged elsewhere.
    let mut spec = sh(
        "oom",
        "sleep 0.2; x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived; sleep 1",
    );
    spec.limits.mem_mb = 32.0;
    let (container, _cleanup) = launch(&containerizer, spec).await;

    let termination = wait(&containerizer, &container).await;

    assert!(termination.oom_killed, "{termination:?}");
    assert_eq!(termination.signal, Some(9), "{termination:?}");
    assert_eq!(
        termination.message,
        "killed by signal 9 (memory limit exceeded)"
    );
    assert_eq!(read(&container.sandbox.join("stdout")), "");
    containerizer.destroy(&container).await.expect("destroy");
    // Remembered after the cgroup is gone.
    assert!(containerizer.oom_killed(&container));
}

#[tokio::test]
async fn staying_under_the_limit_is_not_an_oom_kill() {
    let Some(containerizer) = cgroups_or_skip() else {
        return;
    };
    let (container, _cleanup) = launch(
        &containerizer,
        sh(
            "nooom",
            "x=$(head -c 2000000 /dev/zero | tr '\\0' a); exit 0",
        ),
    )
    .await;
    let termination = wait(&containerizer, &container).await;
    assert_eq!(termination.exit_code, Some(0), "{termination:?}");
    assert!(!termination.oom_killed);
    containerizer.destroy(&container).await.expect("destroy");
}

#[tokio::test]
async fn usage_reports_memory_and_cpu_from_the_cgroup() {
    let Some(containerizer) = cgroups_or_skip() else {
        return;
    };
    let (container, _cleanup) = launch(
        &containerizer,
        sh(
            "usage",
            // The sleep first: see the OOM test.
            "sleep 0.2; x=$(head -c 20000000 /dev/zero | tr '\\0' a); sleep 30",
        ),
    )
    .await;

    let mut usage = None;
    for _ in 0..500 {
        usage = containerizer.usage(&container);
        if usage.is_some_and(|u| u.mem_rss_bytes > 15_000_000) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let usage = usage.expect("usage of an isolated container");
    assert!(usage.mem_rss_bytes > 15_000_000, "{usage:?}");
    assert!(usage.mem_rss_bytes < 64 << 20, "{usage:?}");
    assert!(usage.cpu_seconds > 0.0, "{usage:?}");
    containerizer.destroy(&container).await.expect("destroy");
}

#[tokio::test]
async fn a_live_container_id_cannot_be_launched_twice() {
    let Some(containerizer) = cgroups_or_skip() else {
        return;
    };
    let first = spec("twice", "/bin/sleep", &["30"]);
    let second = first.clone();
    let (container, _cleanup) = launch(&containerizer, first).await;

    let err = containerizer.launch(second).await.expect_err("in use");
    assert!(matches!(err, Error::ContainerExists { .. }), "{err}");
    // The live container is untouched.
    assert!(!is_dead(container.pid));
    containerizer.destroy(&container).await.expect("destroy");
}

// === Parsers ===

#[test]
fn mountinfo_lists_cgroup_mounts() {
    let text = "\
24 30 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
25 24 0:23 / /sys/fs/cgroup/unified rw,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
26 24 0:24 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:5 - cgroup cgroup rw,cpu,cpuacct
27 24 0:25 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
28 24 0:26 / /mnt/with\\040space rw - cgroup cgroup rw,pids
29 30 8:1 / / rw - ext4 /dev/sda1 rw
";
    assert_eq!(
        parse_mountinfo(text),
        vec![
            CgroupMount {
                version: 2,
                root: "/".into(),
                mount_point: "/sys/fs/cgroup/unified".into(),
                options: vec!["rw".into(), "nsdelegate".into()],
            },
            CgroupMount {
                version: 1,
                root: "/".into(),
                mount_point: "/sys/fs/cgroup/cpu,cpuacct".into(),
                options: vec!["rw".into(), "cpu".into(), "cpuacct".into()],
            },
            CgroupMount {
                version: 1,
                root: "/docker/abc".into(),
                mount_point: "/sys/fs/cgroup/memory".into(),
                options: vec!["rw".into(), "memory".into()],
            },
            CgroupMount {
                version: 1,
                root: "/".into(),
                mount_point: "/mnt/with space".into(),
                options: vec!["rw".into(), "pids".into()],
            },
        ]
    );
}

#[test]
fn proc_cgroup_lists_own_cgroups() {
    let text = "4:memory:/process_api/a1\n2:cpu,cpuacct:/\n0::/user.slice\n";
    assert_eq!(
        parse_proc_cgroup(text),
        vec![
            OwnCgroup {
                controllers: vec!["memory".into()],
                path: "/process_api/a1".into()
            },
            OwnCgroup {
                controllers: vec!["cpu".into(), "cpuacct".into()],
                path: "/".into()
            },
            OwnCgroup {
                controllers: vec![],
                path: "/user.slice".into()
            },
        ]
    );
}

#[test]
fn proc_stat_survives_odd_command_names() {
    assert_eq!(
        parse_proc_stat("42 (a) b (c)) S 1 42 42 0 -1"),
        Some(ProcStat {
            state: 'S',
            pgrp: 42
        })
    );
    assert_eq!(
        parse_proc_stat("7 (sleep) Z 1 5 5"),
        Some(ProcStat {
            state: 'Z',
            pgrp: 5
        })
    );
    assert_eq!(parse_proc_stat("garbage"), None);
}

#[test]
fn flat_keyed_cgroup_files() {
    let oom_control = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
    assert_eq!(stat_value(oom_control, "oom_kill"), Some(2));
    assert_eq!(stat_value(oom_control, "oom"), None);
    let events = "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n";
    assert_eq!(stat_value(events, "oom_kill"), Some(1));
}

#[test]
fn termination_messages() {
    fn check(raw_status: i32, oom: bool, expect: &str) {
        let t = Termination::new(Ok(ExitStatus::from_raw(raw_status)), oom);
        assert_eq!(t.message, expect);
        assert_eq!(t.oom_killed, oom);
    }
    check(0, false, "exited with status 0");
    check(3 << 8, false, "exited with status 3");
    check(
        1 << 8,
        true,
        "exited with status 1 after a process in it was killed for exceeding the memory limit",
    );
    check(9, true, "killed by signal 9 (memory limit exceeded)");
    check(15, false, "killed by signal 15 (SIGTERM)");
    let lost = Termination::new(Err("reaper stopped".into()), false);
    assert_eq!(lost.exit_code, None);
    assert_eq!(lost.message, "lost track of the process: reaper stopped");
}

#[test]
fn isolation_descriptions() {
    assert_eq!(
        Isolation::CgroupsV1 {
            cpu: "/sys/fs/cgroup/cpu/strata".into(),
            memory: "/sys/fs/cgroup/memory/strata".into(),
        }
        .describe(),
        "cgroups v1 (cpu, memory)"
    );
    assert_eq!(
        Isolation::CgroupsV2 {
            root: "/sys/fs/cgroup/strata".into()
        }
        .describe(),
        "cgroups v2 (cpu, memory)"
    );
}

#[test]
fn without_cgroup_mounts_the_reason_names_both_versions() {
    assert_eq!(
        Hierarchy::detect_in(&[], &[], "strata"),
        Err(
            "no cgroup2 filesystem is mounted; cgroup v1 has no cpu and memory hierarchies mounted"
                .to_string()
        )
    );
}

#[test]
fn a_directory_that_is_not_cgroupfs_is_not_used() {
    let fake = sandbox("fakecgroupfs");
    std::fs::create_dir_all(fake.join("cpu")).unwrap();
    std::fs::create_dir_all(fake.join("memory")).unwrap();
    let mount = |name: &str| CgroupMount {
        version: 1,
        root: "/".into(),
        mount_point: fake.join(name),
        options: vec!["rw".into(), name.into()],
    };
    let result = Hierarchy::detect_in(&[mount("cpu"), mount("memory")], &[], "strata");
    let _ = std::fs::remove_dir_all(&fake);
    let reason = result.expect_err("a plain directory has no control files");
    assert!(
        reason.contains(&format!(
            "cgroups in {} have no cpu.cfs_quota_us",
            fake.join("cpu/strata").display()
        )),
        "{reason}"
    );
}
