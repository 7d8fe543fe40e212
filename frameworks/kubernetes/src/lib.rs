//! Strata's Kubernetes framework, part one: an API server that kubectl and the Kubernetes
//! client libraries accept (`strata kubernetes`, port 8888).
//!
//! This crate owns the Kubernetes API surface and its objects: discovery (legacy and
//! aggregated) and the OpenAPI v3 documents, CRUD + list + watch of the served kinds
//! ([`resources::RESOURCES`], object types from `k8s-openapi`), defaulting and validation,
//! JSON / merge / strategic-merge patches and server-side apply, Table output, `Status`
//! errors, and the deletion machinery (graceful deletion, finalizers, owner references
//! with background / foreground / orphan propagation, namespace termination). Objects
//! live in `strata-store` under `k8s/` with the store's revision as their
//! resourceVersion; an in-memory copy and change log serve reads and watches.
//!
//! It registers with the master as the framework `kubernetes` and sees the cluster only
//! through `strata-client`, as any third-party framework does: it never depends on the
//! master's or the agent's internals. Scheduling pods onto offers, the pod executor and
//! the controllers are the next issue.
//!
//! Code map: [`http`] (routing, negotiation, watch streams) → [`api`] (the operations) →
//! [`registry`] (memory + store + change log). Beside them: [`discovery`], [`openapi`],
//! [`table`], [`patch`], [`managed`] (managedFields, server-side apply), [`defaults`],
//! [`validation`], [`selectors`], [`gc`] (garbage collector, namespace controller) and
//! [`framework`] (the Mesos subscription).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub mod api;
pub mod defaults;
pub mod discovery;
pub mod framework;
pub mod gc;
pub mod http;
pub mod managed;
pub mod openapi;
pub mod patch;
pub mod protobuf;
pub mod registry;
pub mod resources;
pub mod selectors;
pub mod status;
pub mod table;
pub mod validation;

pub use http::{router, AppState, Server};

/// How many changes a watch can resume from (older resourceVersions get 410 Gone).
pub const WATCH_HISTORY: usize = 10_000;

/// What `strata kubernetes` needs.
#[derive(Clone, Debug)]
pub struct KubernetesConfig {
    /// Where the API server listens (`127.0.0.1:8888`).
    pub listen: SocketAddr,
    /// The Mesos master (`host:port`) to register with.
    pub master: String,
    /// The directory of the embedded store (`<work_dir>/store.redb`).
    pub work_dir: PathBuf,
    /// `zk://host:port/path` to keep the objects in ZooKeeper instead.
    pub store_url: Option<String>,
}

impl KubernetesConfig {
    /// The defaults: port 8888 on loopback, the master on 127.0.0.1:5050.
    pub fn new(work_dir: impl Into<PathBuf>) -> KubernetesConfig {
        KubernetesConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8888)),
            master: "127.0.0.1:5050".into(),
            work_dir: work_dir.into(),
            store_url: None,
        }
    }
}

/// Why the API server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store could not be opened or read.
    #[error("kubernetes store: {0}")]
    Store(#[from] strata_store::Error),
    /// The namespaces that must exist could not be created.
    #[error("cannot create the system namespaces: {0}")]
    Bootstrap(#[from] status::ApiError),
    /// The listening address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The server failed while serving.
    #[error("kubernetes api server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// Loads the objects from `store` and creates the system namespaces: the state
/// [`router`] serves.
pub async fn open(store: Arc<dyn strata_store::Store>) -> Result<AppState, Error> {
    open_with_history(store, WATCH_HISTORY).await
}

/// [`open`] keeping `history` changes for watches to resume from.
pub async fn open_with_history(
    store: Arc<dyn strata_store::Store>,
    history: usize,
) -> Result<AppState, Error> {
    let registry = registry::Registry::load(store, history).await?;
    let api = Arc::new(api::Api::new(registry));
    api.bootstrap().await?;
    Ok(Arc::new(Server {
        api,
        max_body: http::MAX_BODY,
    }))
}

/// Runs the garbage collector and namespace controller for `state` until `shutdown`.
pub fn spawn_controllers(
    state: &AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(gc::run(state.api.clone(), shutdown))
}

/// Runs `strata kubernetes`: the API server on `config.listen`, its controllers, and the
/// framework's subscription to the master, until `shutdown` resolves.
pub async fn run(
    config: KubernetesConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let backends = strata_store::open(config.store_url.as_deref(), &config.work_dir).await?;
    let store = backends.store.clone();
    let state = open(store.clone()).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
    let local = listener.local_addr().map_err(Error::Serve)?;
    tracing::info!(listen = %local, master = %config.master, "kubernetes api server listening");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let controllers = spawn_controllers(&state, stopped(stop_rx.clone()));
    let framework = tokio::spawn(framework::run(config.master.clone(), store));
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(stopped(stop_rx))
        .await
        .map_err(Error::Serve);
    framework.abort();
    let _ = controllers.await;
    tracing::info!("kubernetes api server stopped");
    served
}
