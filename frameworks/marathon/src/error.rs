//! Errors: the crate's [`Error`] and the HTTP answers in Marathon's shape.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// What can stop `strata marathon`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The durable store failed.
    #[error("store: {0}")]
    Store(#[from] strata_store::Error),
    /// The framework SDK failed (master address, client).
    #[error("framework runtime: {0}")]
    Runtime(#[from] strata_frameworks_runtime::Error),
    /// The HTTP listener failed.
    #[error("http server on {addr}: {source}")]
    Http {
        /// The address.
        addr: std::net::SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Stored state could not be read back.
    #[error("stored state under {key:?} is unreadable: {reason}")]
    Corrupt {
        /// The store key.
        key: String,
        /// Why.
        reason: String,
    },
}

/// The result of the crate's fallible operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An HTTP error answer: `{"message": ..., "details": [{"path", "errors"}]}` and, for
/// deployment conflicts, `"deployments": [{"id"}]`.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// The body.
    pub body: Value,
}

impl ApiError {
    /// An error with only a message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({ "message": message.into() }),
        }
    }

    /// 404 for an app id.
    pub fn app_not_found(id: &impl std::fmt::Display) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("App '{id}' does not exist"))
    }

    /// 422 with Marathon's validation details.
    pub fn invalid(problems: &[(String, String)]) -> Self {
        let mut by_path: Vec<(String, Vec<String>)> = Vec::new();
        for (path, error) in problems {
            match by_path.iter_mut().find(|(p, _)| p == path) {
                Some((_, errors)) => errors.push(error.clone()),
                None => by_path.push((path.clone(), vec![error.clone()])),
            }
        }
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: json!({
                "message": "Object is not valid",
                "details": by_path
                    .into_iter()
                    .map(|(path, errors)| json!({"path": path, "errors": errors}))
                    .collect::<Vec<_>>(),
            }),
        }
    }

    /// 409: the apps are locked by running deployments.
    pub fn locked(deployments: &[String]) -> Self {
        let first = deployments.first().cloned().unwrap_or_default();
        Self {
            status: StatusCode::CONFLICT,
            body: json!({
                "message": format!(
                    "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/{first}'."
                ),
                "deployments": deployments.iter().map(|id| json!({"id": id})).collect::<Vec<_>>(),
            }),
        }
    }

    /// 503 when the store fails: nothing was changed.
    pub fn store(e: &strata_store::Error) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("could not persist the change, nothing was changed: {e}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}
