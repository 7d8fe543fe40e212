//! Errors as Kubernetes `Status` objects: the reason and code kubectl and the client
//! libraries switch on (`NotFound` 404, `AlreadyExists` 409, `Conflict` 409, `Invalid` 422
//! with field causes, ...), and the message they print.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// The result of an API operation.
pub type ApiResult<T> = std::result::Result<T, ApiError>;

/// One field problem of an `Invalid` error (`details.causes[]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cause {
    /// `FieldValueInvalid`, `FieldValueRequired`, `FieldValueDuplicate`, `FieldValueForbidden`,
    /// `FieldValueNotSupported`, `FieldValueTooLong`, ...
    pub reason: &'static str,
    /// The field path, as `spec.containers[0].name`.
    pub field: String,
    /// What is wrong, as Kubernetes words it (`Required value`, `Invalid value: "X": ...`).
    pub message: String,
}

impl Cause {
    /// A required field that is missing.
    pub fn required(field: impl Into<String>) -> Cause {
        Cause {
            reason: "FieldValueRequired",
            field: field.into(),
            message: "Required value".into(),
        }
    }

    /// A field whose value is not allowed; `value` is shown JSON-encoded.
    pub fn invalid(field: impl Into<String>, value: &Value, detail: impl AsRef<str>) -> Cause {
        Cause {
            reason: "FieldValueInvalid",
            field: field.into(),
            message: format!("Invalid value: {}: {}", show(value), detail.as_ref()),
        }
    }

    /// A value that must be unique but is not.
    pub fn duplicate(field: impl Into<String>, value: &Value) -> Cause {
        Cause {
            reason: "FieldValueDuplicate",
            field: field.into(),
            message: format!("Duplicate value: {}", show(value)),
        }
    }

    /// A value outside a fixed set.
    pub fn not_supported(field: impl Into<String>, value: &Value, supported: &[&str]) -> Cause {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        Cause {
            reason: "FieldValueNotSupported",
            field: field.into(),
            message: format!(
                "Unsupported value: {}: supported values: {}",
                show(value),
                list.join(", ")
            ),
        }
    }

    /// A change or a field that is not allowed at all.
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Cause {
        Cause {
            reason: "FieldValueForbidden",
            field: field.into(),
            message: format!("Forbidden: {}", detail.into()),
        }
    }

    /// A field that may not change once set.
    pub fn immutable(field: impl Into<String>, value: &Value) -> Cause {
        Cause::invalid(field, value, "field is immutable")
    }

    fn text(&self) -> String {
        format!("{}: {}", self.field, self.message)
    }
}

fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// An API error: answered as a `Status` object with `code`, `reason` and `message`.
#[derive(Clone, Debug)]
pub struct ApiError {
    /// The HTTP status (and `Status.code`).
    pub code: StatusCode,
    /// `Status.reason`, a `StatusReason` name.
    pub reason: &'static str,
    /// The message kubectl prints after `Error from server (Reason): `.
    pub message: String,
    /// `Status.details`, if any.
    pub details: Option<Value>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code.as_u16(),
            self.reason,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

/// What an error names: the resource (plural), its group and the object's name.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    /// API group, "" for core.
    pub group: &'a str,
    /// The resource's plural name (`pods`), or `pods.apps` style with the group.
    pub plural: &'a str,
    /// The kind (`Pod`), for Invalid messages.
    pub kind: &'a str,
    /// The object's name.
    pub name: &'a str,
}

impl Subject<'_> {
    /// `pods` or `deployments.apps`, as Kubernetes qualifies resources in messages.
    fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    fn details(&self) -> Value {
        let mut d = json!({ "name": self.name, "kind": self.plural });
        if !self.group.is_empty() {
            d["group"] = json!(self.group);
        }
        d
    }
}

impl ApiError {
    fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    /// 404 NotFound for one object.
    pub fn not_found(subject: Subject<'_>) -> ApiError {
        ApiError {
            details: Some(subject.details()),
            ..ApiError::new(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("{} {:?} not found", subject.qualified(), subject.name),
            )
        }
    }

    /// 404 NotFound for a path that names no resource.
    pub fn no_route(path: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("the server could not find the requested resource (path {path})"),
        )
    }

    /// 409 AlreadyExists.
    pub fn already_exists(subject: Subject<'_>) -> ApiError {
        ApiError {
            details: Some(subject.details()),
            ..ApiError::new(
                StatusCode::CONFLICT,
                "AlreadyExists",
                format!("{} {:?} already exists", subject.qualified(), subject.name),
            )
        }
    }

    /// 409 Conflict: a stale resourceVersion (or another conflicting change).
    pub fn conflict(subject: Subject<'_>, why: &str) -> ApiError {
        ApiError {
            details: Some(subject.details()),
            ..ApiError::new(
                StatusCode::CONFLICT,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} {:?}: {why}",
                    subject.qualified(),
                    subject.name
                ),
            )
        }
    }

    /// 409 Conflict for a stale resourceVersion, worded as the real API server does.
    pub fn stale(subject: Subject<'_>) -> ApiError {
        ApiError::conflict(
            subject,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 422 Invalid with field causes.
    pub fn invalid(subject: Subject<'_>, causes: Vec<Cause>) -> ApiError {
        let list: Vec<String> = causes.iter().map(Cause::text).collect();
        let summary = if list.len() == 1 {
            list[0].clone()
        } else {
            format!("[{}]", list.join(", "))
        };
        let mut details = subject.details();
        details["kind"] = json!(subject.kind);
        details["causes"] = causes
            .iter()
            .map(|c| json!({ "reason": c.reason, "message": c.message, "field": c.field }))
            .collect();
        ApiError {
            details: Some(details),
            ..ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid",
                format!("{} {:?} is invalid: {summary}", subject.kind, subject.name),
            )
        }
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "Forbidden", message)
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed(method: &str, what: &str) -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!(
                "the server does not allow this method on the requested resource ({method} {what})"
            ),
        )
    }

    /// 406 NotAcceptable.
    pub fn not_acceptable(accept: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "NotAcceptable",
            format!("only the following media types are accepted: application/json, application/yaml (asked for {accept:?})"),
        )
    }

    /// 410 Gone (reason Expired): a resourceVersion older than the retained history.
    pub fn expired(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::GONE, "Expired", message)
    }

    /// 413 RequestEntityTooLarge.
    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!("request entity too large: limit is {limit} bytes"),
        )
    }

    /// 415 UnsupportedMediaType.
    pub fn unsupported_media_type(content_type: &str, supported: &[&str]) -> ApiError {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format ({content_type:?}): accepted media types include: {}",
                supported.join(", ")
            ),
        )
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", message)
    }

    /// 503 ServiceUnavailable (the store cannot answer now).
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            message,
        )
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code.as_u16(),
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

impl From<strata_store::Error> for ApiError {
    fn from(e: strata_store::Error) -> ApiError {
        match e {
            strata_store::Error::Unavailable(_) => ApiError::unavailable(e.to_string()),
            strata_store::Error::ValueTooLarge { .. } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                e.to_string(),
            ),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.code.is_server_error() {
            tracing::warn!(code = self.code.as_u16(), reason = self.reason, message = %self.message, "api error");
        } else {
            tracing::debug!(code = self.code.as_u16(), reason = self.reason, message = %self.message, "api error");
        }
        let body = serde_json::to_vec(&self.to_status()).unwrap_or_default();
        (
            self.code,
            [(http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}

/// The `Status` a successful delete of a kind answers with (other than pods and services,
/// which answer with the object).
pub fn success(subject: Subject<'_>, uid: &str) -> Value {
    let mut details = subject.details();
    details["uid"] = json!(uid);
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    })
}
