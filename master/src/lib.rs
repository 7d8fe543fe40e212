//! The Strata master.
//!
//! It owns the registry of agents, frameworks, tasks and offers
//! ([`core::MasterCore`], a state machine without I/O), drives the allocator
//! (`strata-master-allocator`), and serves on one port:
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
pub mod state_json;
pub mod ui_json;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use strata_proto::internal::agent_link::agent_link_server::AgentLinkServer;
use tokio::net::TcpListener;
use tracing::info;

pub use crate::actor::MasterHandle;
pub use crate::core::CoreConfig;

/// Everything `strata master` needs; built from flags or by tests directly.
#[derive(Debug, Clone)]
pub struct MasterConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Hostname advertised to frameworks and agents.
    pub hostname: String,
    /// Work directory (durable state will live here).
    pub work_dir: std::path::PathBuf,
    /// How often frameworks get HEARTBEAT events.
    pub framework_heartbeat_interval: Duration,
    /// Expected agent heartbeat period.
    pub agent_ping_timeout: Duration,
    /// Missed heartbeats before an agent is unreachable.
    pub max_agent_ping_timeouts: u32,
    /// Rescind offers not answered within this time.
    pub offer_timeout: Option<Duration>,
    /// Periodic allocation even without events (filters expire with time).
    pub allocation_interval: Duration,
}

impl MasterConfig {
    /// Mesos's defaults on `127.0.0.1:5050`.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            hostname: listen.ip().to_string(),
            work_dir: std::env::temp_dir().join("strata-master"),
            framework_heartbeat_interval: Duration::from_secs(15),
            agent_ping_timeout: Duration::from_secs(15),
            max_agent_ping_timeouts: 5,
            offer_timeout: None,
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
    /// Its actor.
    pub handle: MasterHandle,
    /// Completes when the server stops.
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Binds, starts the actor and serves until `shutdown` completes.
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
    let start_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let master_id = uuid::Uuid::new_v4().to_string();
    let core_config = CoreConfig {
        master_id,
        hostname: config.hostname.clone(),
        ip,
        port: addr.port(),
        start_unix,
        framework_heartbeat_interval: config.framework_heartbeat_interval,
        agent_ping_timeout: config.agent_ping_timeout,
        max_agent_ping_timeouts: config.max_agent_ping_timeouts,
        offer_timeout: config.offer_timeout,
        ..CoreConfig::default()
    };
    let handle = actor::spawn(
        core::MasterCore::new(core_config),
        config.allocation_interval,
    );
    let grpc = tonic::service::Routes::new(AgentLinkServer::new(
        agent_link::AgentLinkService::new(handle.clone()),
    ))
    .into_axum_router();
    let app = http::router(handle.clone()).merge(grpc);
    info!(%addr, "master listening");
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    });
    Ok(RunningMaster {
        addr,
        handle,
        server,
    })
}

#[cfg(test)]
mod core_tests;
#[cfg(test)]
mod http_tests;
