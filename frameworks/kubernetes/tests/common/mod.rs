//! Helpers shared by the integration tests: a server over an embedded store in a fresh
//! directory, requests through the router, and the skip-or-fail policy for tests that need
//! tools the machine may lack.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::Value;
use strata_frameworks_kubernetes::AppState;
use tower::ServiceExt as _;

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory under the system temp dir.
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("strata-k8s-{tag}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Opens the embedded store in `dir`.
pub async fn store(dir: &Path) -> Arc<dyn strata_store::Store> {
    strata_store::open(None, dir)
        .await
        .expect("open store")
        .store
}

/// A server state over a fresh embedded store.
pub async fn server(dir: &TempDir) -> AppState {
    strata_frameworks_kubernetes::open(store(dir.path()).await)
        .await
        .expect("open server")
}

/// A response: status, headers and the body as JSON (or as a string when not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
    pub text: String,
}

/// Sends one request through the router.
pub async fn call(
    state: &AppState,
    method: &str,
    uri: &str,
    content_type: Option<&str>,
    body: &str,
) -> Reply {
    call_with(
        state,
        method,
        uri,
        &[("content-type", content_type.unwrap_or(""))],
        body,
    )
    .await
}

/// Sends one request with extra headers (an empty value is skipped).
pub async fn call_with(
    state: &AppState,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        if !v.is_empty() {
            req = req.header(*k, *v);
        }
    }
    let req = req.body(Body::from(body.to_string())).expect("request");
    let resp = strata_frameworks_kubernetes::router(state.clone())
        .oneshot(req)
        .await
        .expect("infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

/// True when running under CI (`CI` set to `true` or `1`).
pub fn on_ci() -> bool {
    matches!(
        std::env::var("CI")
            .map(|v| v.to_ascii_lowercase())
            .as_deref(),
        Ok("true") | Ok("1")
    )
}

/// The target directory (for the skipped-tests markers `scripts/test.sh` lists).
fn target_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// Returns the prerequisite, or skips loudly (locally) / fails (on CI) the calling test.
pub fn require<T>(test: &str, found: Result<T, String>) -> Option<T> {
    match found {
        Ok(v) => Some(v),
        Err(reason) if on_ci() => {
            panic!("missing prerequisite on CI (CI=true), failing instead of skipping: {test}: {reason}")
        }
        Err(reason) => {
            eprintln!("\n========================================================================");
            eprintln!("SKIPPED: {test}: {reason}");
            eprintln!("========================================================================\n");
            let dir = target_dir().join("strata-tests-skipped");
            if std::fs::create_dir_all(&dir).is_ok() {
                let _ = std::fs::write(
                    dir.join(test.replace(['/', ':', ' '], "_")),
                    format!("{test}: {reason}\n"),
                );
            }
            None
        }
    }
}

/// Serves the router on a free loopback port (with the garbage collector running) until
/// the returned sender is dropped. Returns the base URL.
pub async fn serve(state: AppState) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (gc_tx, gc_rx) = tokio::sync::oneshot::channel::<()>();
    strata_frameworks_kubernetes::spawn_controllers(&state, async move {
        let _ = gc_rx.await;
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, strata_frameworks_kubernetes::router(state))
            .with_graceful_shutdown(async move {
                let _ = rx.await;
                drop(gc_tx);
            })
            .await;
    });
    (format!("http://{addr}"), tx)
}
