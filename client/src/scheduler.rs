//! The v1 scheduler API client: `POST /api/v1/scheduler`.

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use strata_proto::v1;
use tokio::sync::RwLock;

use crate::error::{Error, Result};
use crate::stream::EventStream;
use crate::transport::{self, Http, Peer, STREAM_ID};

const PATH: &str = "/api/v1/scheduler";
const DEFAULT_MASTER_PORT: u16 = 5050;

/// A client of one master's scheduler API. Cheap to clone; clones share the
/// connection pool and the current leader's address.
#[derive(Clone, Debug)]
pub struct SchedulerClient {
    http: Http,
    /// The master the calls go to: the one given, or the leader a SUBSCRIBE
    /// was redirected to (or found in ZooKeeper).
    master: Arc<RwLock<String>>,
    /// For `zk://` masters: the URL, and the detector once started.
    zk: Option<Arc<ZkLeader>>,
}

/// A `zk://` master URL and its detector, started on first use.
struct ZkLeader {
    url: String,
    detector: tokio::sync::OnceCell<Arc<dyn strata_store::LeaderDetector>>,
}

impl std::fmt::Debug for ZkLeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZkLeader")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// An open subscription: the stream id to send with every call, and the events.
#[derive(Debug)]
pub struct Subscription {
    /// The `Mesos-Stream-Id` the master assigned.
    pub stream_id: String,
    /// The master (`host:port`) that accepted the subscription.
    pub master: String,
    /// The events, starting with SUBSCRIBED. The stream has no idle
    /// timeout: a framework that must notice a silent master watches for
    /// HEARTBEAT events (every `heartbeat_interval_seconds`).
    pub events: EventStream<v1::SchedulerEvent>,
}

impl SchedulerClient {
    /// A client of the master at `master`: `"host:port"`, `"host"` (port
    /// 5050) or `"http://host:port"`.
    /// `"zk://host:port[,host:port]/path"` follows the leading master
    /// through ZooKeeper, as Mesos clients do: every SUBSCRIBE goes to the
    /// leader of the moment.
    pub fn new(master: &str) -> Result<Self> {
        if master.starts_with("zk://") {
            return Ok(Self {
                http: Http::new(),
                master: Arc::new(RwLock::new(String::new())),
                zk: Some(Arc::new(ZkLeader {
                    url: master.to_owned(),
                    detector: tokio::sync::OnceCell::new(),
                })),
            });
        }
        let authority = transport::normalize_authority(master, Some(DEFAULT_MASTER_PORT))?;
        Ok(Self {
            http: Http::new(),
            master: Arc::new(RwLock::new(authority)),
            zk: None,
        })
    }

    /// For `zk://` clients: the leading master's `host:port`, waiting up to
    /// 30 s for one to be elected.
    async fn leader_from_zk(&self) -> Result<Option<String>> {
        let Some(zk) = &self.zk else { return Ok(None) };
        let url = &zk.url;
        let detector = zk
            .detector
            .get_or_try_init(|| async {
                strata_store::detector(url)
                    .await
                    .map_err(|e| Error::InvalidAddress {
                        address: url.clone(),
                        reason: e.to_string(),
                    })
            })
            .await?;
        let mut rx = detector.leader();
        let info = tokio::time::timeout(Duration::from_secs(30), rx.wait_for(|l| l.is_some()))
            .await
            .map_err(|_| Error::Timeout {
                peer: url.clone(),
                seconds: 30,
            })?
            .map_err(|_| Error::Protocol {
                peer: url.clone(),
                reason: "the detector stopped".into(),
            })?
            .clone()
            .unwrap_or_default();
        let v: serde_json::Value = serde_json::from_slice(&info).map_err(|e| Error::Protocol {
            peer: url.clone(),
            reason: format!("the leader's MasterInfo is not JSON: {e}"),
        })?;
        match (v["address"]["ip"].as_str(), v["address"]["port"].as_u64()) {
            (Some(ip), Some(port)) => Ok(Some(format!("{ip}:{port}"))),
            _ => Err(Error::Protocol {
                peer: url.clone(),
                reason: "the leader's MasterInfo has no address".into(),
            }),
        }
    }

    /// Changes how long a request waits for its answer (30 s by default).
    /// For SUBSCRIBE this bounds the wait for the response head only.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.http.set_timeout(timeout);
        self
    }

    /// The master (`host:port`) calls currently go to.
    pub async fn master(&self) -> String {
        self.master.read().await.clone()
    }

    /// Subscribes a framework. `framework_id` is given when re-subscribing
    /// (it is also set as `framework_info.id` when that is empty). Follows one
    /// redirect to the leading master, which later calls then go to.
    pub async fn subscribe(
        &self,
        mut framework_info: v1::FrameworkInfo,
        framework_id: Option<v1::FrameworkId>,
    ) -> Result<Subscription> {
        if framework_info.id.is_none() {
            framework_info.id.clone_from(&framework_id);
        }
        let call = v1::SchedulerCall {
            framework_id,
            r#type: Some(v1::SchedulerCallType::Subscribe as i32),
            subscribe: Some(v1::CallSubscribe {
                framework_info: Some(framework_info),
                suppressed_roles: Vec::new(),
            }),
            ..Default::default()
        };
        let body = v1::Encoding::Json.encode(&call);

        if let Some(leader) = self.leader_from_zk().await? {
            *self.master.write().await = leader;
        }
        let mut authority = self.master().await;
        let mut redirected = false;
        let response = loop {
            let peer = master_peer(&authority);
            let request =
                self.http
                    .json_request(Method::POST, &authority, PATH, Some(body.clone()), None)?;
            let response = self.http.send(&peer, request).await?;
            if !transport::is_redirect(&response) {
                break self.http.expect_success(&peer, response).await?;
            }
            let location = transport::location(&response);
            match transport::redirect_authority(&location) {
                Some(leader) if !redirected => {
                    tracing::info!(from = %authority, to = %leader, "following redirect to the leading master");
                    authority = leader;
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

        let peer = master_peer(&authority);
        let stream_id = response
            .headers()
            .get(STREAM_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| Error::Protocol {
                peer: peer.to_string(),
                reason: "no Mesos-Stream-Id header on the subscription".into(),
            })?;
        if redirected {
            *self.master.write().await = authority.clone();
        }
        Ok(Subscription {
            stream_id,
            master: authority,
            events: EventStream::new(peer, response.into_body()),
        })
    }

    /// Sends a call on an open subscription. Any 2xx (Mesos answers 202)
    /// is success; anything else is [`Error::Status`] with the master's message.
    pub async fn call(&self, stream_id: &str, call: v1::SchedulerCall) -> Result<()> {
        let authority = self.master().await;
        let peer = master_peer(&authority);
        let body = v1::Encoding::Json.encode(&call);
        let request =
            self.http
                .json_request(Method::POST, &authority, PATH, Some(body), Some(stream_id))?;
        let response = self.http.send(&peer, request).await?;
        let response = self.http.expect_success(&peer, response).await?;
        // Drain the (empty) body so the connection goes back to the pool.
        self.http.read_body(&peer, response).await?;
        Ok(())
    }
}

fn master_peer(authority: &str) -> Peer {
    Peer {
        role: "master",
        authority: authority.to_owned(),
    }
}
