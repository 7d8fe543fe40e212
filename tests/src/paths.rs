//! Where the things the tests drive live: the workspace, the `strata` binary, the Python venv.

use std::path::{Path, PathBuf};

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent directory")
        .to_path_buf()
}

/// Cargo's target directory: `CARGO_TARGET_DIR` if set (relative to the workspace), else `target/`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// The `strata` binary: `$STRATA_BIN`, else `<target>/debug/strata`.
///
/// Tests do not build it themselves (cargo builds a test's own package only), so a missing
/// binary is a setup error with a fix to print, not something to skip.
pub fn strata_bin() -> PathBuf {
    let path = match std::env::var_os("STRATA_BIN") {
        Some(bin) => PathBuf::from(bin),
        None => target_dir().join("debug").join("strata"),
    };
    if !path.is_file() {
        panic!(
            "the strata binary is missing at {}: run `cargo build -p strata` first \
             (scripts/test.sh does), or point STRATA_BIN at one",
            path.display()
        );
    }
    path
}

/// The virtualenv that `scripts/setup-python.sh` creates: `$STRATA_VENV`, else `<repo>/.venv`.
pub fn venv_dir() -> PathBuf {
    match std::env::var_os("STRATA_VENV") {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root().join(".venv"),
    }
}

/// The venv's interpreter, or why it cannot be used.
pub fn venv_python() -> Result<PathBuf, String> {
    let python = venv_dir().join("bin").join("python");
    if !python.exists() {
        return Err(format!(
            "no Python venv at {}: run scripts/setup-python.sh",
            venv_dir().display()
        ));
    }
    let probe = std::process::Command::new(&python)
        .args(["-c", "import pymesos, http_parser"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !probe.status.success() {
        return Err(format!(
            "{} cannot import pymesos ({}): run scripts/setup-python.sh",
            python.display(),
            String::from_utf8_lossy(&probe.stderr).trim()
        ));
    }
    Ok(python)
}

/// A file under `tests/python/`.
pub fn python_script(name: &str) -> PathBuf {
    workspace_root().join("tests").join("python").join(name)
}
