//! A small JSON client for the operator endpoints (`/master/state`,
//! `/api/v1/operator`, ...), used by tests and tools.

use std::time::Duration;

use http::Method;

use crate::error::{Error, Result};
use crate::transport::{self, Http, Peer};

/// Reads JSON from a master's or agent's HTTP endpoints. Cheap to clone.
#[derive(Clone, Debug)]
pub struct OperatorClient {
    http: Http,
    peer: Peer,
}

impl OperatorClient {
    /// A client of the server at `base` (`"host:port"` or `"http://host:port"`).
    pub fn new(base: &str) -> Result<Self> {
        let authority = transport::normalize_authority(base, None)?;
        Ok(Self {
            http: Http::new(),
            peer: Peer {
                role: "server",
                authority,
            },
        })
    }

    /// Changes how long a request waits for its answer (30 s by default).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.http.set_timeout(timeout);
        self
    }

    /// `GET path` (for example `/master/state`), parsed as JSON. Follows one
    /// redirect; an empty body reads as `{}`.
    pub async fn get_json(&self, path: &str) -> Result<serde_json::Value> {
        self.json(Method::GET, path, None).await
    }

    /// `POST path` with a JSON body (for example a v1 operator call to
    /// `/api/v1/operator`), the answer parsed as JSON. Follows one redirect;
    /// an empty body reads as `{}`.
    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value> {
        let bytes = serde_json::to_vec(body).map_err(|e| Error::Protocol {
            peer: self.peer.to_string(),
            reason: format!("cannot encode the request: {e}"),
        })?;
        self.json(Method::POST, path, Some(bytes)).await
    }

    async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<serde_json::Value> {
        let mut peer = self.peer.clone();
        let mut redirected = false;
        let response = loop {
            let request = self.http.json_request(
                method.clone(),
                &peer.authority,
                path,
                body.clone(),
                None,
            )?;
            let response = self.http.send(&peer, request).await?;
            if !transport::is_redirect(&response) {
                break self.http.expect_success(&peer, response).await?;
            }
            let location = transport::location(&response);
            match transport::redirect_authority(&location) {
                Some(next) if !redirected => {
                    peer.authority = next;
                    redirected = true;
                }
                _ => {
                    return Err(Error::Redirect {
                        peer: peer.to_string(),
                        location,
                    })
                }
            }
        };
        let bytes = self.http.read_body(&peer, response).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Object(Default::default()));
        }
        serde_json::from_slice(&bytes).map_err(|e| Error::Protocol {
            peer: peer.to_string(),
            reason: format!("invalid JSON: {e}"),
        })
    }
}
