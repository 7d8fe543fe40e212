//! Marathon-side health checks (HTTP and TCP): one task per (instance, check), reporting
//! every result to the core. MESOS_HTTP / MESOS_TCP / COMMAND checks run in the executor
//! beside the task and arrive as `healthy` on status updates instead.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::app::HealthCheckDef;

/// One check result.
#[derive(Debug, Clone)]
pub struct HealthReport {
    /// The task checked.
    pub task_id: String,
    /// Which of the app's health checks.
    pub index: usize,
    /// Passed?
    pub ok: bool,
    /// Why it failed.
    pub cause: Option<String>,
}

/// Where to check.
#[derive(Debug, Clone)]
pub struct Target {
    /// Host (the agent's hostname).
    pub host: String,
    /// Port.
    pub port: u16,
}

/// Starts checking `target` per `check`, reporting to `tx`. Abort the handle to stop.
pub fn spawn(
    task_id: String,
    index: usize,
    check: HealthCheckDef,
    target: Target,
    tx: mpsc::UnboundedSender<HealthReport>,
) -> AbortHandle {
    tokio::spawn(async move {
        let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let interval = Duration::from_secs_f64(check.interval_seconds.max(0.1));
        let timeout = Duration::from_secs_f64(check.timeout_seconds.max(0.1));
        loop {
            let result = tokio::time::timeout(timeout, probe(&client, &check, &target)).await;
            let (ok, cause) = match result {
                Ok(Ok(())) => (true, None),
                Ok(Err(e)) => (false, Some(e)),
                Err(_) => (
                    false,
                    Some(format!("no answer within {}s", timeout.as_secs_f64())),
                ),
            };
            let report = HealthReport {
                task_id: task_id.clone(),
                index,
                ok,
                cause,
            };
            if tx.send(report).is_err() {
                return;
            }
            tokio::time::sleep(interval).await;
        }
    })
    .abort_handle()
}

async fn probe(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>,
    check: &HealthCheckDef,
    target: &Target,
) -> Result<(), String> {
    match check.protocol.as_str() {
        "HTTP" => {
            let path = check.path.as_deref().unwrap_or("/");
            let path = if path.starts_with('/') {
                path.to_owned()
            } else {
                format!("/{path}")
            };
            let uri: hyper::Uri = format!("http://{}:{}{path}", target.host, target.port)
                .parse()
                .map_err(|e| format!("bad health check URL: {e}"))?;
            let response = client
                .get(uri)
                .await
                .map_err(|e| format!("ConnectException: {e}"))?;
            let status = response.status().as_u16();
            if (200..400).contains(&status) || (check.ignore_http1xx && status < 200) {
                Ok(())
            } else {
                Err(format!("HTTP {status}"))
            }
        }
        "TCP" => tokio::net::TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map(drop)
            .map_err(|e| format!("ConnectException: {e}")),
        other => Err(format!("{other} checks are not run by Marathon")),
    }
}
