//! The one error type of the clients.

/// The result of every client operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong talking to a master or an agent. Each message names the
/// peer (`"master at 127.0.0.1:5050"`) and the problem.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An address could not be used to build a request URI.
    #[error("invalid address {address:?}: {reason}")]
    InvalidAddress {
        /// The address as given.
        address: String,
        /// Why it was refused.
        reason: String,
    },
    /// A required environment variable is unset or empty.
    #[error("missing environment variable {0}")]
    MissingEnv(&'static str),
    /// The peer could not be reached, or the connection failed mid-request.
    #[error("cannot reach {peer}: {reason}")]
    Transport {
        /// Who we were talking to.
        peer: String,
        /// The transport error with its causes.
        reason: String,
    },
    /// The peer did not answer within the request timeout.
    #[error("{peer} did not answer within {seconds}s")]
    Timeout {
        /// Who we were talking to.
        peer: String,
        /// The timeout that expired.
        seconds: u64,
    },
    /// The peer answered with a status outside 2xx.
    #[error("{peer} answered {status}{}", detail(.body))]
    Status {
        /// Who answered.
        peer: String,
        /// The HTTP status code.
        status: u16,
        /// The body of the answer (the server's message), trimmed.
        body: String,
    },
    /// The peer redirected in a way we do not follow (a second redirect, or
    /// no usable `Location`).
    #[error("{peer} redirected to {location:?}, which is not followed")]
    Redirect {
        /// Who redirected.
        peer: String,
        /// The `Location` header, if any.
        location: String,
    },
    /// The peer's answer broke the protocol (a missing header, a malformed
    /// stream, a body that does not decode).
    #[error("{peer} sent an invalid answer: {reason}")]
    Protocol {
        /// Who answered.
        peer: String,
        /// What was wrong with it.
        reason: String,
    },
}

/// Formats an error with its chain of causes, as `outer: inner: root`.
pub(crate) fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// `": message"`, or nothing for an empty body.
fn detail(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}
