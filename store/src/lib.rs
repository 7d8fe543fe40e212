//! Strata's durable state and leader election, behind three small traits.
//!
//! This crate owns everything a Strata process writes that must survive it: the [`Store`]
//! trait (get, put, compare-and-swap on a per-key version, delete, list by prefix, and a
//! cluster-wide monotonic [`Revision`]), and master election ([`LeaderElection`],
//! [`LeaderDetector`]). Two backends implement them, chosen by [`open`]:
//!
//! - **embedded** (the default, [`embedded`]): one redb file, `<work_dir>/store.redb`,
//!   crash-safe (every write is fsynced before it is acknowledged), single node: a campaign
//!   wins at once;
//! - **ZooKeeper** (`zk://host:port[,host:port]/path`): several masters, one leader.
//!
//! Both pass one conformance suite (`tests/conformance.rs`). The crate knows nothing of
//! Strata's domain: values are bytes, keys are paths. It depends on no other Strata crate
//! (in particular never on the master, the agent or a framework).
//!
//! # ZooKeeper layout
//!
//! Everything lives under the URL's `<path>` (created if missing, as persistent znodes):
//!
//! - `<path>/json.info_NNNNNNNNNN`: one EPHEMERAL_SEQUENTIAL znode per contender, holding
//!   its MasterInfo JSON. The lowest sequence number leads; each contender watches its
//!   predecessor. Detectors take the lowest `json.info_` child and read it. These are Mesos's
//!   own names, so pymesos, mesoshttp and avmesos-cli find the leader from the same URL.
//! - `<path>/store/<key>`: one persistent znode per key (`a/b` → `<path>/store/a/b`, parents
//!   created as needed). The data is a 13-byte header then the value; znodes with empty
//!   data are only parents. Key version = znode version + 1 (a new key is version 1; the
//!   header keeps that true when a key reuses a znode that was a parent).
//!
//! Revisions are zxids, ZooKeeper's transaction ids: `mod_revision` is the znode's `mzxid`,
//! `create_revision` its `czxid`. zxids are assigned by the ZooKeeper leader to every write
//! in one total order and only grow (the high 32 bits are the ZooKeeper leader's epoch), so
//! revisions strictly increase across writes, restarts and ZooKeeper leader changes.
//! [`Store::revision`] is a fence: an empty `setData` on `<path>/store`, whose `mzxid` is
//! above every write acknowledged before the call and below every later one (0 while
//! `<path>/store` does not exist, i.e. nothing was ever written). It costs one ZooKeeper
//! write.
//!
//! Values up to [`MAX_VALUE_LEN`] need the ZooKeeper servers to run with
//! `-Djute.maxbuffer=4194304` (the default limit, 1 MiB - 1 byte for a whole request, is
//! just too small for a full 1 MiB value plus its key and header).
//!
//! A ZooKeeper outage never hangs a call: each waits at most
//! [`ZkOptions::operation_timeout`] and fails with [`Error::Unavailable`]. A session that
//! ZooKeeper reports expired, or that has had no answer from ZooKeeper for 2/3 of
//! [`ZkOptions::session_timeout`] (a heartbeat runs every quarter of it), is lost:
//! [`Leadership::lost`] resolves, the session is closed (its `json.info_` znode goes) and the
//! next call opens a new one. Since ZooKeeper expires a session only a full session timeout
//! after it last heard from it, a leader steps down before anyone else can be elected.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub mod embedded;
mod error;
mod key;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
mod zk;

pub use error::{Error, Result};

/// A cluster-wide write counter: strictly increasing with every write to the store, never
/// reused, usable as a Kubernetes `resourceVersion`. 0 means "nothing written yet".
///
/// Embedded: 1, 2, 3, ... ZooKeeper: the zxid of the write (see the crate docs).
pub type Revision = u64;

/// The largest value a store accepts, in bytes (1 MiB).
pub const MAX_VALUE_LEN: usize = 1 << 20;

/// A stored value with its versions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned {
    /// The bytes stored.
    pub value: Vec<u8>,
    /// Per-key version: 1 when the key is created, +1 on every write to it. A key deleted
    /// and created again starts at 1 again.
    pub version: u64,
    /// The revision of the write that created the key.
    pub create_revision: Revision,
    /// The revision of the latest write to the key.
    pub mod_revision: Revision,
}

/// Durable key-value state.
///
/// Keys are non-empty `/`-separated paths of segments made of `[A-Za-z0-9._:-]`, with no
/// empty segment (no leading, trailing or doubled `/`) and no `.` or `..` segment, at most
/// 1024 bytes: `master/frameworks/abc-0001`. A key may also be a path prefix of another key
/// (`a` and `a/b` are independent keys). Values are at most [`MAX_VALUE_LEN`] bytes. A
/// broken rule is [`Error::InvalidKey`] / [`Error::ValueTooLarge`].
///
/// Every write is durable when the call returns. Each call is atomic on its own key.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The value stored under `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<Versioned>>;

    /// Writes `value` under `key` whatever is there (create or overwrite).
    async fn put(&self, key: &str, value: Vec<u8>) -> Result<Versioned>;

    /// Writes `value` under `key` only if the key is at the expected version.
    ///
    /// `expected`: `None` = the key must not exist; `Some(v)` = its version must be `v`.
    /// Otherwise [`Error::Conflict`] carrying the version actually found.
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<u64>,
        value: Vec<u8>,
    ) -> Result<Versioned>;

    /// Deletes `key`; `expected`: `None` = unconditionally, `Some(v)` = only at version `v`
    /// ([`Error::Conflict`] otherwise, also when the key is absent). Returns whether the key
    /// existed. Keys below it (`key/...`) are untouched.
    async fn delete(&self, key: &str, expected: Option<u64>) -> Result<bool>;

    /// Every key starting with `prefix` (a plain string prefix, `""` = all), sorted by key.
    async fn list(&self, prefix: &str) -> Result<Vec<(String, Versioned)>>;

    /// The latest revision: at least the `mod_revision` of every write that completed before
    /// the call, and less than that of every write that starts after it returns. 0 on a
    /// store never written to.
    async fn revision(&self) -> Result<Revision>;
}

/// Becoming the leader.
#[async_trait]
pub trait LeaderElection: Send + Sync + 'static {
    /// Campaigns with `info` (the MasterInfo JSON, published to [`LeaderDetector`]s while
    /// this contender leads). Resolves when this contender leads.
    ///
    /// ZooKeeper: fails with [`Error::Unavailable`] when the session is lost while waiting
    /// (campaign again). Dropping the future withdraws the candidacy.
    async fn campaign(&self, info: Vec<u8>) -> Result<Leadership>;
}

/// Following the leader.
pub trait LeaderDetector: Send + Sync + 'static {
    /// The current leader's info (`None` while there is none); updates live while the
    /// detector is alive.
    fn leader(&self) -> tokio::sync::watch::Receiver<Option<Vec<u8>>>;
}

/// Being the leader: held by the contender that won a [`LeaderElection::campaign`].
///
/// Dropping it is [`Leadership::resign`].
pub struct Leadership {
    inner: Box<dyn LeadershipHandle>,
}

/// What a backend's leadership does; cleanup happens in the implementor's `Drop`.
#[async_trait]
pub(crate) trait LeadershipHandle: Send + Sync + 'static {
    async fn lost(&self);
}

impl Leadership {
    pub(crate) fn new(inner: impl LeadershipHandle) -> Leadership {
        Leadership {
            inner: Box::new(inner),
        }
    }

    /// Resolves when leadership is lost: the ZooKeeper session expired, ZooKeeper did not
    /// answer for 2/3 of the session timeout, or the leader's znode was deleted.
    /// Never resolves for the embedded backend. Once it resolves, stop acting as leader
    /// (and campaign again).
    pub async fn lost(&self) {
        self.inner.lost().await
    }

    /// Gives leadership up: the next contender leads and detectors see it.
    pub fn resign(self) {
        drop(self)
    }
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership").finish_non_exhaustive()
    }
}

/// The three handles a process gets from [`open`].
#[derive(Clone)]
pub struct Backends {
    /// Durable state.
    pub store: Arc<dyn Store>,
    /// Campaigning to lead.
    pub election: Arc<dyn LeaderElection>,
    /// Who leads now.
    pub detector: Arc<dyn LeaderDetector>,
}

/// ZooKeeper timing (ignored by the embedded backend).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZkOptions {
    /// The session timeout asked of ZooKeeper. Keep it within what the servers grant
    /// (2 to 20 x their tickTime: 4 s to 40 s by default): a server that grants less would
    /// expire sessions before this client gives them up. Leadership is lost when the session expires, or when
    /// ZooKeeper has not answered for 2/3 of this (so before ZooKeeper can expire the
    /// session and elect another contender).
    pub session_timeout: Duration,
    /// The longest any single call waits for ZooKeeper (connecting included) before
    /// failing with [`Error::Unavailable`].
    pub operation_timeout: Duration,
}

impl Default for ZkOptions {
    /// Mesos's defaults: a 10 s session; calls give up after 5 s.
    fn default() -> Self {
        ZkOptions {
            session_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(5),
        }
    }
}

/// Opens the backends named by `url`:
/// `zk://host:port[,host:port]/path` → ZooKeeper under `/path` (connects now, so an
/// unreachable ZooKeeper is [`Error::Unavailable`]); `None` or `""` → the embedded store
/// at `work_dir/store.redb` (the directory is created if needed). Any other URL is
/// [`Error::InvalidUrl`]: nothing silently falls back to the embedded store.
pub async fn open(url: Option<&str>, work_dir: &Path) -> Result<Backends> {
    open_with(url, work_dir, ZkOptions::default()).await
}

/// [`open`] with explicit ZooKeeper timing.
pub async fn open_with(url: Option<&str>, work_dir: &Path, zk: ZkOptions) -> Result<Backends> {
    match url {
        None | Some("") => {
            let store = Arc::new(embedded::EmbeddedStore::open_in(work_dir).await?);
            let leader = Arc::new(embedded::LocalLeader::new());
            Ok(Backends {
                store,
                election: leader.clone(),
                detector: leader,
            })
        }
        Some(url) => zk::open(url, zk).await,
    }
}

/// A detector that follows the leader through ZooKeeper (`zk://host:port[,host:port]/path`),
/// for agents and clients that never campaign. It does not fail when ZooKeeper is down: it
/// reports `None` until it can read a leader.
pub async fn detector(url: &str) -> Result<Arc<dyn LeaderDetector>> {
    detector_with(url, ZkOptions::default()).await
}

/// [`detector`] with explicit ZooKeeper timing.
pub async fn detector_with(url: &str, zk: ZkOptions) -> Result<Arc<dyn LeaderDetector>> {
    Ok(Arc::new(zk::ZkDetector::start(url, zk)?))
}
