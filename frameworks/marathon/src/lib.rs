//! The Marathon framework: long-running apps from Marathon app JSON.
//!
//! `strata marathon` serves Marathon's REST API (`/v2/apps`, `/v2/tasks`, `/v2/deployments`,
//! `/v2/groups`, `/v2/queue`, `/v2/events`, `/v2/info`, `/ping`, `/metrics`) in the shapes
//! marathon-python and curl users expect, and keeps every app's instances running:
//!
//! * [`app`]: the app JSON with Marathon's defaults and validation (422 with
//!   `message` + `details[{path, errors}]`), and its API form;
//! * [`core`]: apps, groups, deployments (plans of steps; rolling restarts within
//!   `upgradeStrategy`, gated on health), instances, relaunch backoff, the launch queue and
//!   offer matching (resources, ports, constraints; an app's instances spread over the
//!   agents offered) — a reconciler re-run after every event, planning only the apps that
//!   event changed;
//! * [`index`]: instances and deployments indexed by app, and the record of which apps'
//!   instances changed, kept in step by construction;
//! * [`health`]: HTTP and TCP health checks run by Marathon; MESOS_HTTP / MESOS_TCP /
//!   COMMAND checks go into `TaskInfo.health_check` and are run by the command executor;
//! * [`http`]: the router; [`events`]: the SSE event bus.
//!
//! Apps, versions, groups, deployments, instances and the framework id live in
//! `strata-store` under `marathon/`, so a restarted Marathon re-subscribes with its
//! framework id, reconciles its tasks and carries on without restarting healthy ones.
//!
//! Like every Strata framework it sees the cluster **only through `strata-client`** (via
//! `strata-frameworks-runtime`): the public Mesos v1 scheduler API, never the master's or
//! the agent's internals.

pub mod app;
pub mod core;
pub mod error;
pub mod events;
pub mod health;
pub mod http;
pub mod index;
pub mod launch;
pub mod model;
pub mod pathid;
pub mod time;
pub mod writer;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use strata_client::v1;
use strata_frameworks_runtime::{DriverConfig, Event, FrameworkIdStore, Scheduler};
use strata_store::Store;
use tokio::sync::{mpsc, watch, Mutex};
use tokio::task::JoinHandle;
use tracing::{info, warn};

pub use crate::error::{ApiError, Error, Result};
pub use crate::http::{router, ApiState};

use crate::core::{Core, Identity, FRAMEWORK_ID_KEY};
use crate::events::EventBus;

/// How `strata marathon` runs.
#[derive(Debug, Clone)]
pub struct MarathonConfig {
    /// Where the API listens (Marathon's default port is 8080).
    pub listen: SocketAddr,
    /// The Mesos master (`host:port`).
    pub master: String,
    /// Directory of the embedded store (when `store_url` is not given).
    pub work_dir: PathBuf,
    /// `zk://host:port/path` to keep state in ZooKeeper instead.
    pub store_url: Option<String>,
}

impl MarathonConfig {
    /// Defaults: listen on 127.0.0.1:8080, state under `work_dir`.
    pub fn new(master: impl Into<String>, work_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            master: master.into(),
            work_dir: work_dir.into(),
            store_url: None,
        }
    }
}

/// Runs Marathon until `shutdown` resolves. The framework stays registered with the
/// master (its tasks keep running) so a restart picks them up again.
pub async fn run(
    config: MarathonConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let marathon = Marathon::start(config).await?;
    shutdown.await;
    marathon.stop().await;
    Ok(())
}

/// A running Marathon (API server, framework driver and reconciler).
pub struct Marathon {
    addr: SocketAddr,
    state: ApiState,
    scheduler: Scheduler,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
    control: JoinHandle<()>,
}

impl Marathon {
    /// Opens the store, binds the API, subscribes to the master and starts reconciling.
    pub async fn start(config: MarathonConfig) -> Result<Marathon, Error> {
        let backends = strata_store::open(config.store_url.as_deref(), &config.work_dir).await?;
        let store = backends.store;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Http {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Http {
            addr: config.listen,
            source,
        })?;
        let (health_tx, mut health_rx) = mpsc::unbounded_channel();
        let (failed_tx, mut failed_rx) = mpsc::unbounded_channel();
        let events = EventBus::new();
        let identity = Identity {
            leader: addr.to_string(),
            master: config.master.clone(),
            store_url: config.store_url.clone(),
        };
        let core = Core::load(
            store.clone(),
            events.clone(),
            identity,
            health_tx,
            failed_tx,
        )
        .await?;
        let driver = DriverConfig::new(config.master.clone(), framework_info(addr));
        let ids = FrameworkIdStore::new(store.clone(), FRAMEWORK_ID_KEY);
        let (scheduler, mut driver_rx) = Scheduler::start(driver, Some(ids)).await?;
        let core = Arc::new(Mutex::new(core));
        {
            let mut c = core.lock().await;
            c.set_scheduler(Some(scheduler.clone()));
            c.reconcile().await;
        }
        let (stop, mut stop_rx) = watch::channel(false);
        let control_core = core.clone();
        let control = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    event = driver_rx.recv() => {
                        let Some(event) = event else { break };
                        let mut c = control_core.lock().await;
                        match event {
                            Event::Subscribed { framework_id, .. } => c.on_subscribed(framework_id.value).await,
                            Event::Offers(offers) => c.on_offers(offers).await,
                            Event::Update(status) => c.on_update(status).await,
                            Event::Disconnected { reason } => {
                                warn!(%reason, "disconnected from the master");
                                c.on_disconnected();
                            }
                            Event::Error(message) => warn!(%message, "master error"),
                            Event::Failure { agent_id, executor_id, status } => info!(
                                agent = ?agent_id.map(|a| a.value),
                                executor = ?executor_id.map(|e| e.value),
                                ?status,
                                "failure reported by the master"
                            ),
                            Event::Rescind(_) | Event::Message { .. } => {}
                        }
                    }
                    Some(report) = health_rx.recv() => control_core.lock().await.on_health(report).await,
                    Some(ids) = failed_rx.recv() => control_core.lock().await.on_launch_failed(ids).await,
                    _ = tick.tick() => control_core.lock().await.tick().await,
                    _ = stop_rx.changed() => break,
                }
            }
        });
        let state = ApiState { core, events };
        let app = router(state.clone());
        let mut server_stop = stop.subscribe();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = server_stop.changed().await;
            });
            if let Err(e) = serve.await {
                warn!(error = %e, "marathon http server failed");
            }
        });
        info!(%addr, master = %config.master, "marathon started");
        Ok(Marathon {
            addr,
            state,
            scheduler,
            stop,
            server,
            control,
        })
    }

    /// The address the API listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API state (for an in-process router).
    pub fn state(&self) -> ApiState {
        self.state.clone()
    }

    /// Stops serving and disconnects from the master (tasks keep running).
    /// When this returns, the store is closed (a new Marathon may open it).
    pub async fn stop(self) {
        let Marathon {
            state,
            scheduler,
            stop,
            mut server,
            control,
            ..
        } = self;
        let _ = stop.send(true);
        scheduler.stop();
        control.abort();
        let _ = control.await;
        // Event streams never end on their own: give open requests a moment, then cut them.
        if tokio::time::timeout(Duration::from_secs(5), &mut server)
            .await
            .is_err()
        {
            server.abort();
            let _ = server.await;
        }
        scheduler.stopped().await;
        state.core.lock().await.close_writer().await;
        drop(state);
        info!("marathon stopped");
    }
}

impl ApiState {
    /// A state over `store` with no master behind it: the API answers, nothing launches.
    /// For router tests.
    pub async fn offline(store: Arc<dyn Store>) -> Result<ApiState, Error> {
        let (health_tx, _) = mpsc::unbounded_channel();
        let (failed_tx, _) = mpsc::unbounded_channel();
        let events = EventBus::new();
        let identity = Identity {
            leader: "127.0.0.1:8080".into(),
            master: "127.0.0.1:5050".into(),
            store_url: None,
        };
        let core = Core::load(store, events.clone(), identity, health_tx, failed_tx).await?;
        Ok(ApiState {
            core: Arc::new(Mutex::new(core)),
            events,
        })
    }
}

fn framework_info(addr: SocketAddr) -> v1::FrameworkInfo {
    let capability = |c: v1::FrameworkCapabilityType| v1::FrameworkCapability {
        r#type: Some(c as i32),
    };
    v1::FrameworkInfo {
        user: std::env::var("USER").unwrap_or_else(|_| "root".into()),
        name: "marathon".into(),
        failover_timeout: Some(604_800.0),
        checkpoint: Some(true),
        role: Some("*".into()),
        hostname: Some(addr.ip().to_string()),
        webui_url: Some(format!("http://{addr}")),
        capabilities: vec![
            capability(v1::FrameworkCapabilityType::PartitionAware),
            capability(v1::FrameworkCapabilityType::TaskKillingState),
        ],
        ..Default::default()
    }
}
