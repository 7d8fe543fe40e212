//! The skip-or-fail policy for tiers that need something the machine may lack.
//!
//! Locally a missing prerequisite (no cgroups, no Python venv) skips the test loudly: a
//! `SKIPPED: ...` line on stderr and a marker file under `<target>/strata-tests-skipped/`, which
//! `scripts/test.sh` lists in its summary (nextest hides the output of passing tests). On CI
//! (`CI=true`) a missing prerequisite fails the test: a green CI must mean the tier ran.

use std::path::PathBuf;

use crate::paths;

/// True when running under CI (`CI` set to `true` or `1`).
pub fn on_ci() -> bool {
    matches!(
        std::env::var("CI")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Ok("true") | Ok("1")
    )
}

/// The directory where skipped tests leave a marker for the summary of `scripts/test.sh`.
pub fn skipped_dir() -> PathBuf {
    paths::target_dir().join("strata-tests-skipped")
}

/// Returns the prerequisite, or skips (locally) / fails (on CI) the calling test.
///
/// Use as `let Some(x) = prereq::require("test name", check()) else { return };`.
pub fn require<T>(test: &str, found: Result<T, String>) -> Option<T> {
    match found {
        Ok(value) => Some(value),
        Err(reason) if on_ci() => {
            panic!("missing prerequisite on CI (CI=true), failing instead of skipping: {test}: {reason}")
        }
        Err(reason) => {
            eprintln!("\n========================================================================");
            eprintln!("SKIPPED: {test}: {reason}");
            eprintln!("========================================================================\n");
            let dir = skipped_dir();
            if std::fs::create_dir_all(&dir).is_ok() {
                let file = dir.join(test.replace(['/', ':', ' '], "_"));
                let _ = std::fs::write(file, format!("{test}: {reason}\n"));
            }
            None
        }
    }
}

/// The pymesos venv's Python, or skip/fail.
pub fn python(test: &str) -> Option<PathBuf> {
    require(test, paths::venv_python())
}

/// Which cgroup hierarchy the host offers for memory limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cgroups {
    /// `/sys/fs/cgroup/memory` (v1).
    V1,
    /// A unified v2 hierarchy with the memory controller.
    V2,
}

/// Checks that a writable memory cgroup hierarchy exists (v1 or v2).
pub fn cgroups_available() -> Result<Cgroups, String> {
    let root = std::path::Path::new("/sys/fs/cgroup");
    let (kind, dir) = if root.join("memory").join("memory.limit_in_bytes").exists() {
        (Cgroups::V1, root.join("memory"))
    } else if std::fs::read_to_string(root.join("cgroup.controllers"))
        .map(|c| c.split_whitespace().any(|c| c == "memory"))
        .unwrap_or(false)
    {
        (Cgroups::V2, root.to_path_buf())
    } else {
        return Err(
            "no memory cgroup: neither /sys/fs/cgroup/memory (v1) nor a cgroup2 \
                    hierarchy with the memory controller at /sys/fs/cgroup"
                .to_string(),
        );
    };
    let probe = dir.join(format!("strata-tests-probe-{}", std::process::id()));
    std::fs::create_dir(&probe).map_err(|e| {
        format!(
            "cannot create a cgroup under {} ({e}): not root, or read-only",
            dir.display()
        )
    })?;
    let _ = std::fs::remove_dir(&probe);
    Ok(kind)
}
