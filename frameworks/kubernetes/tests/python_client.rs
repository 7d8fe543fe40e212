//! The official Kubernetes Python client (`kubernetes` from PyPI) drives the server:
//! `tests/python/k8s_client.py` creates, lists, watches, patches and deletes pods and
//! services. It runs with `/work/main/.venv/bin/python` (the repository's venv; override
//! with `STRATA_VENV`) when that interpreter can `import kubernetes`; otherwise the test
//! is skipped loudly, or fails on CI.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{require, serve, server, TempDir};

fn python() -> Result<PathBuf, String> {
    let venv = match std::env::var_os("STRATA_VENV") {
        Some(v) => PathBuf::from(v),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv"),
    };
    let py = venv.join("bin").join("python");
    if !py.is_file() {
        return Err(format!("no venv python at {}", py.display()));
    }
    let ok = std::process::Command::new(&py)
        .args(["-c", "import kubernetes"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        return Err(format!(
            "{} cannot import kubernetes (pip install kubernetes into the venv)",
            py.display()
        ));
    }
    Ok(py)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_client() {
    let Some(py) = require(
        "strata-frameworks-kubernetes official_python_client",
        python(),
    ) else {
        return;
    };
    let dir = TempDir::new("python");
    let (url, _stop) = serve(server(&dir).await).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/k8s_client.py");
    let run = tokio::process::Command::new(py)
        .arg(&script)
        .arg(&url)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the python client finished within 120s")
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("OK"),
        "the python client failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
}
