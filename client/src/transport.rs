//! The HTTP plumbing the clients share: one pooled hyper-util client
//! ([`Http`]: HTTP/1.1, keep-alive) for the scheduler and operator clients, a
//! bare HTTP/1.1 connection ([`Http1`]) for the executor client, request
//! timeouts, and the mapping of answers to [`Error`]s.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, ACCEPT, CONTENT_TYPE, LOCATION};
use http::{Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::error::{with_causes, Error, Result};

/// How long a request may wait for its answer unless a client is told otherwise.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The most of an error body we keep for [`Error::Status`].
const MAX_ERROR_BODY: usize = 4096;

/// The header Mesos uses to tie calls to a subscription.
pub(crate) const STREAM_ID: HeaderName = HeaderName::from_static("mesos-stream-id");

/// Who a request goes to, for error messages: `master at 127.0.0.1:5050`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Peer {
    pub(crate) role: &'static str,
    pub(crate) authority: String,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.role, self.authority)
    }
}

/// Turns `"host:port"`, `"http://host:port"` or `"http://host:port/"` into
/// `host:port`, adding `default_port` when the address has none.
pub(crate) fn normalize_authority(address: &str, default_port: Option<u16>) -> Result<String> {
    let invalid = |reason: &str| Error::InvalidAddress {
        address: address.to_owned(),
        reason: reason.to_owned(),
    };
    let trimmed = address.trim();
    if trimmed.starts_with("https://") {
        return Err(invalid("https is not supported"));
    }
    let rest = trimmed.strip_prefix("http://").unwrap_or(trimmed);
    let host_port = rest.split('/').next().unwrap_or("");
    if host_port.is_empty() {
        return Err(invalid("no host"));
    }
    let authority: http::uri::Authority = host_port
        .parse()
        .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
    match (authority.port_u16(), default_port) {
        (Some(_), _) => Ok(authority.as_str().to_owned()),
        (None, Some(port)) => Ok(format!("{}:{port}", authority.host())),
        (None, None) => Err(invalid("no port")),
    }
}

/// The authority a redirect points to. Mesos sends `//host:port/api/v1/scheduler`;
/// `http://host:port` and a bare `host:port` are accepted too.
pub(crate) fn redirect_authority(location: &str) -> Option<String> {
    let rest = location
        .strip_prefix("http://")
        .or_else(|| location.strip_prefix("//"))
        .unwrap_or(location);
    let host_port = rest.split('/').next()?;
    if host_port.is_empty() {
        return None;
    }
    host_port.parse::<http::uri::Authority>().ok()?;
    Some(host_port.to_owned())
}

/// A pooled HTTP/1.1 client with a per-request timeout.
#[derive(Clone, Debug)]
pub(crate) struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl Http {
    pub(crate) fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Self {
            client,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub(crate) fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// A JSON request to `http://{authority}{path}`. A body is sent with
    /// `Content-Type: application/json`; `accept_json` adds the `Accept`
    /// header Mesos wants on streaming subscriptions.
    pub(crate) fn json_request(
        &self,
        method: Method,
        authority: &str,
        path: &str,
        body: Option<Vec<u8>>,
        stream_id: Option<&str>,
    ) -> Result<Request<Full<Bytes>>> {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("http://{authority}{path}"))
            .header(ACCEPT, "application/json");
        if body.is_some() {
            builder = builder.header(CONTENT_TYPE, "application/json");
        }
        if let Some(id) = stream_id {
            builder = builder.header(STREAM_ID, id);
        }
        builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| Error::InvalidAddress {
                address: authority.to_owned(),
                reason: e.to_string(),
            })
    }

    /// Sends a request and waits (within the timeout) for the response head.
    pub(crate) async fn send(
        &self,
        peer: &Peer,
        request: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>> {
        match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(Error::Transport {
                peer: peer.to_string(),
                reason: with_causes(&e),
            }),
            Err(_) => Err(self.timeout_error(peer)),
        }
    }

    /// Reads a whole (short) body within the timeout.
    pub(crate) async fn read_body(
        &self,
        peer: &Peer,
        response: Response<Incoming>,
    ) -> Result<Bytes> {
        match tokio::time::timeout(self.timeout, response.into_body().collect()).await {
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(e)) => Err(Error::Transport {
                peer: peer.to_string(),
                reason: with_causes(&e),
            }),
            Err(_) => Err(self.timeout_error(peer)),
        }
    }

    /// Passes a 2xx response through; turns anything else into
    /// [`Error::Status`] carrying the server's message.
    pub(crate) async fn expect_success(
        &self,
        peer: &Peer,
        response: Response<Incoming>,
    ) -> Result<Response<Incoming>> {
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let body = self.read_body(peer, response).await.unwrap_or_default();
        let end = body.len().min(MAX_ERROR_BODY);
        Err(Error::Status {
            peer: peer.to_string(),
            status,
            body: String::from_utf8_lossy(&body[..end]).trim().to_owned(),
        })
    }

    fn timeout_error(&self, peer: &Peer) -> Error {
        Error::Timeout {
            peer: peer.to_string(),
            seconds: self.timeout.as_secs().max(1),
        }
    }
}

/// A minimal HTTP/1.1 client for one peer, without hyper-util's pool: one
/// idle keep-alive connection is kept for the next call, a busy one makes a
/// new connection. The executor client uses it instead of [`Http`] so that
/// the `strata-executor` binary links no HTTP/2 code and stays small (every
/// command task runs one).
#[derive(Clone, Debug)]
pub(crate) struct Http1 {
    idle: std::sync::Arc<
        std::sync::Mutex<Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>>,
    >,
    timeout: Duration,
}

impl Http1 {
    pub(crate) fn new() -> Self {
        Self {
            idle: Default::default(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub(crate) fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    async fn connect(
        &self,
        peer: &Peer,
    ) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
        let transport = |reason: String| Error::Transport {
            peer: peer.to_string(),
            reason,
        };
        let tcp = tokio::net::TcpStream::connect(&peer.authority)
            .await
            .map_err(|e| transport(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                .await
                .map_err(|e| transport(with_causes(&e)))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    async fn ready_sender(
        &self,
        peer: &Peer,
    ) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
        let cached = self.idle.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut sender) = cached {
            if sender.ready().await.is_ok() {
                return Ok(sender);
            }
        }
        self.connect(peer).await
    }

    /// Sends a short call and reads its whole answer; the connection is kept
    /// for the next call. Non-2xx answers become [`Error::Status`].
    pub(crate) async fn call(&self, peer: &Peer, request: Request<Full<Bytes>>) -> Result<Bytes> {
        let work = async {
            let mut sender = self.ready_sender(peer).await?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| Error::Transport {
                    peer: peer.to_string(),
                    reason: with_causes(&e),
                })?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| Error::Transport {
                    peer: peer.to_string(),
                    reason: with_causes(&e),
                })?
                .to_bytes();
            *self.idle.lock().unwrap_or_else(|e| e.into_inner()) = Some(sender);
            if !status.is_success() {
                let end = body.len().min(MAX_ERROR_BODY);
                return Err(Error::Status {
                    peer: peer.to_string(),
                    status: status.as_u16(),
                    body: String::from_utf8_lossy(&body[..end]).trim().to_owned(),
                });
            }
            Ok(body)
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout {
                peer: peer.to_string(),
                seconds: self.timeout.as_secs().max(1),
            }),
        }
    }

    /// Sends a request whose answer is a stream, on a connection of its own;
    /// the timeout bounds the wait for the response head. Non-2xx answers
    /// become [`Error::Status`].
    pub(crate) async fn stream(
        &self,
        peer: &Peer,
        request: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>> {
        let work = async {
            let mut sender = self.connect(peer).await?;
            sender
                .send_request(request)
                .await
                .map_err(|e| Error::Transport {
                    peer: peer.to_string(),
                    reason: with_causes(&e),
                })
        };
        let response = match tokio::time::timeout(self.timeout, work).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(Error::Timeout {
                    peer: peer.to_string(),
                    seconds: self.timeout.as_secs().max(1),
                })
            }
        };
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let body = tokio::time::timeout(self.timeout, response.into_body().collect())
            .await
            .ok()
            .and_then(|r| r.ok())
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let end = body.len().min(MAX_ERROR_BODY);
        Err(Error::Status {
            peer: peer.to_string(),
            status,
            body: String::from_utf8_lossy(&body[..end]).trim().to_owned(),
        })
    }
}

/// Builds a JSON request to `http://{authority}{path}` with `Accept` and
/// `Content-Type: application/json`.
pub(crate) fn json_post(
    authority: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<Request<Full<Bytes>>> {
    Request::builder()
        .method(Method::POST)
        .uri(format!("http://{authority}{path}"))
        .header(http::header::HOST, authority)
        .header(ACCEPT, "application/json")
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| Error::InvalidAddress {
            address: authority.to_owned(),
            reason: e.to_string(),
        })
}

/// The `Location` header of a redirect, as text.
pub(crate) fn location(response: &Response<Incoming>) -> String {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// True for the statuses after which Mesos clients retry at the `Location`.
pub(crate) fn is_redirect(response: &Response<Incoming>) -> bool {
    matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_normalize_to_host_port() {
        let n = |a| normalize_authority(a, Some(5050));
        assert_eq!(n("127.0.0.1:5050").unwrap(), "127.0.0.1:5050");
        assert_eq!(n("http://127.0.0.1:5051/").unwrap(), "127.0.0.1:5051");
        assert_eq!(n("localhost").unwrap(), "localhost:5050");
        assert!(n("https://x:1").is_err());
        assert!(n("").is_err());
        assert!(normalize_authority("host", None)
            .unwrap_err()
            .to_string()
            .contains("no port"));
    }

    #[test]
    fn redirect_locations_in_every_mesos_form() {
        let r = redirect_authority;
        assert_eq!(
            r("//10.0.0.2:5050/api/v1/scheduler").as_deref(),
            Some("10.0.0.2:5050")
        );
        assert_eq!(r("http://10.0.0.2:5050").as_deref(), Some("10.0.0.2:5050"));
        assert_eq!(r("10.0.0.2:5050").as_deref(), Some("10.0.0.2:5050"));
        assert_eq!(r(""), None);
    }
}
