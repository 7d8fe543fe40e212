//! The Strata master.
//!
//! It owns the registry of agents, frameworks, tasks and offers
//! ([`core::MasterCore`], a state machine without I/O), drives the allocator
//! (`strata-master-allocator`), keeps each agent's static and dynamic
//! reservations and persistent volumes in detail and carries out the
//! RESERVE, UNRESERVE, CREATE and DESTROY offer operations
//! ([`core::reservations`]; durable in the registry), and serves on one port:
//! * the Mesos v1 scheduler API (`POST /api/v1/scheduler`) and the operator
//!   endpoints (`/master/state`, `/metrics/snapshot`, ...) over HTTP/1.1;
//! * the internal `AgentLink` gRPC service over HTTP/2, for agents.
//!
//! It never depends on the agent crates or on any framework: agents are
//! reached only through `strata-proto`'s internal service, frameworks only
//! through the public scheduler API.

pub mod actor;
pub mod agent_link;
pub mod core;
pub mod events;
pub mod http;
pub mod operator_http;
pub mod registry;
pub mod roles_http;
pub mod state_json;
pub mod ui_json;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use strata_proto::internal::agent_link::agent_link_server::AgentLinkServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{error, info, warn};

pub use crate::actor::MasterHandle;
pub use crate::core::CoreConfig;

/// Everything `strata master` needs; built from flags or by tests directly.
#[derive(Debug, Clone)]
pub struct MasterConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Hostname advertised to frameworks and agents.
    pub hostname: String,
    /// Work directory: the embedded store (`store.redb`) lives here.
    pub work_dir: std::path::PathBuf,
    /// `zk://host:port[,host:port]/path` to run several masters with leader
    /// election through ZooKeeper; `None` for one master with the embedded store.
    pub zk: Option<String>,
    /// How often frameworks get HEARTBEAT events.
    pub framework_heartbeat_interval: Duration,
    /// Expected agent heartbeat period.
    pub agent_ping_timeout: Duration,
    /// Missed heartbeats before an agent is unreachable.
    pub max_agent_ping_timeouts: u32,
    /// Rescind offers not answered within this time (`None`: never). The
    /// default, 60 s, is far longer than any scheduler needs to decide, and
    /// short enough that a stuck framework cannot sit on resources others
    /// are waiting for.
    pub offer_timeout: Option<Duration>,
    /// Offer an agent's free resources only if they hold at least one of
    /// these bundles (Mesos's `--min_allocatable_resources`).
    pub min_allocatable_resources: Vec<strata_api::Resources>,
    /// Periodic allocation even without events (filters expire with time).
    pub allocation_interval: Duration,
}

impl MasterConfig {
    /// Mesos's defaults on `127.0.0.1:5050`.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            hostname: listen.ip().to_string(),
            work_dir: std::env::temp_dir().join(format!("strata-master-{}", listen.port())),
            zk: None,
            framework_heartbeat_interval: Duration::from_secs(15),
            agent_ping_timeout: Duration::from_secs(15),
            max_agent_ping_timeouts: 5,
            offer_timeout: Some(Duration::from_secs(60)),
            min_allocatable_resources: Vec::new(),
            allocation_interval: Duration::from_secs(1),
        }
    }

    /// The dev-cluster preset: quicker heartbeats and failure detection.
    pub fn dev(listen: SocketAddr) -> Self {
        Self {
            framework_heartbeat_interval: Duration::from_secs(5),
            agent_ping_timeout: Duration::from_secs(2),
            max_agent_ping_timeouts: 3,
            ..Self::new(listen)
        }
    }
}

/// A running master.
pub struct RunningMaster {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its actor while it leads.
    pub handle: MasterHandle,
    /// Completes when the server stops.
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// Binds, opens the store, campaigns for leadership and serves until
/// `shutdown` completes. While another master leads, this one redirects
/// scheduler calls to it (307) and answers 503 while no leader is known.
pub async fn start(
    config: MasterConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<RunningMaster> {
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) => v4,
        std::net::IpAddr::V6(_) => std::net::Ipv4Addr::LOCALHOST,
    };
    let backends = strata_store::open(config.zk.as_deref(), &config.work_dir)
        .await
        .map_err(|e| std::io::Error::other(format!("cannot open the master's store: {e}")))?;
    let core_config = CoreConfig {
        master_id: uuid::Uuid::new_v4().to_string(),
        hostname: config.hostname.clone(),
        ip,
        port: addr.port(),
        start_unix: unix_now(),
        framework_heartbeat_interval: config.framework_heartbeat_interval,
        agent_ping_timeout: config.agent_ping_timeout,
        max_agent_ping_timeouts: config.max_agent_ping_timeouts,
        offer_timeout: config.offer_timeout,
        min_allocatable_resources: config.min_allocatable_resources.clone(),
        ..CoreConfig::default()
    };
    let (current_tx, current_rx) = watch::channel(None);
    let handle = MasterHandle::new(current_rx);
    let follow = Follow {
        handle: handle.clone(),
        leader: backends.detector.leader(),
        me: format!("{ip}:{}", addr.port()),
    };
    tokio::spawn(lead(
        config.allocation_interval,
        core_config,
        backends,
        current_tx,
    ));
    let grpc = tonic::service::Routes::new(AgentLinkServer::new(
        agent_link::AgentLinkService::new(handle.clone()),
    ))
    .into_axum_router();
    let app = http::router(handle.clone())
        .merge(grpc)
        .layer(axum::middleware::from_fn_with_state(follow, follower_guard));
    info!(%addr, "master listening");
    let server = tokio::spawn(serve_until(listener, app, shutdown));
    Ok(RunningMaster {
        addr,
        handle,
        server,
    })
}

/// Campaigns, leads until leadership is lost (or the registry cannot be
/// written), and campaigns again, forever.
async fn lead(
    allocation_interval: Duration,
    base: CoreConfig,
    backends: strata_store::Backends,
    current: watch::Sender<Option<actor::ActorSender>>,
) {
    let info = serde_json::to_vec(&core::MasterCore::new(base.clone()).master_info())
        .expect("serializable");
    let backoff = Duration::from_secs(1);
    loop {
        let leadership = match backends.election.campaign(info.clone()).await {
            Ok(l) => l,
            Err(e) => {
                warn!(error = %e, "campaign for leadership failed; retrying");
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        let registry = match registry::load(backends.store.as_ref()).await {
            Ok(r) => r,
            Err(e) => {
                error!(error = %e, "cannot read the registry; giving leadership up");
                drop(leadership);
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        info!(master_id = %base.master_id, "elected: this master leads");
        let mut config = base.clone();
        config.start_unix = unix_now();
        let mut core = core::MasterCore::new(config);
        core.recover(Duration::ZERO, registry);
        let (tx, done) =
            actor::spawn_with_store(core, allocation_interval, Some(backends.store.clone()));
        current.send_replace(Some(tx));
        tokio::select! {
            _ = leadership.lost() => warn!("leadership lost: stepping down"),
            why = done => warn!(reason = %why.unwrap_or_default(), "the master actor stopped: stepping down"),
        }
        // Dropping the only sender stops the actor: frameworks' streams and
        // agents' links end, and they go looking for the new leader.
        current.send_replace(None);
        drop(leadership);
        tokio::time::sleep(backoff).await;
    }
}

/// What the follower guard needs.
#[derive(Clone)]
struct Follow {
    handle: MasterHandle,
    leader: watch::Receiver<Option<Vec<u8>>>,
    me: String,
}

impl Follow {
    /// `host:port` of the leading master, if it is another one.
    fn leader_addr(&self) -> Option<String> {
        let bytes = self.leader.borrow().clone()?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        let ip = v["address"]["ip"].as_str()?;
        let port = v["address"]["port"].as_u64()?;
        Some(format!("{ip}:{port}")).filter(|a| *a != self.me)
    }
}

/// Passes everything through while this master leads; otherwise redirects
/// to the leader (307, `Location: http://leader` for the scheduler API as
/// Mesos clients expect) or answers 503 while no leader is known.
async fn follower_guard(State(f): State<Follow>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if f.handle.leading()
        || path == "/health"
        || path == "/version"
        || path.starts_with("/strata.internal.")
    {
        return next.run(req).await;
    }
    let leader = f.leader_addr();
    match path.as_str() {
        "/master/state" | "/state" | "/master/state.json" | "/state.json" => axum::Json(serde_json::json!({
            "version": strata_proto::MESOS_COMPAT_VERSION,
            "pid": format!("master@{}", f.me),
            "leader": leader.as_ref().map(|l| format!("master@{l}")),
            "leader_info": f.leader.borrow().as_ref().and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok()),
            "elected_time": null,
            "activated_slaves": 0,
            "slaves": [],
            "frameworks": [],
            "completed_frameworks": [],
        }))
        .into_response(),
        _ => match leader {
            Some(l) => {
                let location = if path.starts_with("/api/v1/scheduler") {
                    format!("http://{l}")
                } else {
                    let pq = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
                    format!("http://{l}{pq}")
                };
                (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, location)]).into_response()
            }
            None => (StatusCode::SERVICE_UNAVAILABLE, "no leading master is known yet").into_response(),
        },
    }
}

/// Serves until `shutdown`, then lets open requests finish for at most a few
/// seconds: long-lived event streams would otherwise keep the process up.
async fn serve_until(
    listener: TcpListener,
    app: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (fired_tx, fired_rx) = tokio::sync::oneshot::channel::<()>();
    let graceful = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = fired_tx.send(());
    });
    tokio::select! {
        r = std::future::IntoFuture::into_future(graceful) => r,
        _ = async {
            if fired_rx.await.is_ok() {
                tokio::time::sleep(Duration::from_secs(3)).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => Ok(()),
    }
}

#[cfg(test)]
mod core_tests;
#[cfg(test)]
mod http_tests;
