//! The embedded backend: one redb file under the work dir, and a single-node election.
//!
//! Crash safety comes from redb: every write is one redb write transaction committed with
//! `Durability::Immediate` (fsynced, copy-on-write pages, checksummed commit slots), so a
//! `kill -9` at any instant leaves the file at the last acknowledged write.
//!
//! Damage is detected at open, never papered over: an empty file, a file redb cannot read
//! (including the damage on which redb 2 panics rather than returning an error: the panic
//! is caught), a failed integrity check (redb verifies every page checksum) or a file
//! without this crate's format marker is [`Error::Corrupt`] naming the file. A brand-new store is
//! initialised under a temporary name and renamed into place, so a crash during the very
//! first open cannot leave a half-made file that later looks corrupt.
//!
//! Layout: table `kv` maps each key to a record (format byte 1, version, create revision,
//! mod revision as little-endian u64s, then the value); table `meta` holds `format` (1) and
//! `revision`, the counter every write bumps inside its own transaction.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, Durability, ReadableTable, TableDefinition};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tracing::{debug, info, warn};

use crate::key::{validate_key, validate_value};
use crate::{
    Error, LeaderDetector, LeaderElection, Leadership, LeadershipHandle, Result, Revision, Store,
    Versioned,
};

/// The embedded store's file name inside the work dir.
pub const FILE_NAME: &str = "store.redb";

const KV: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const META_FORMAT: &str = "format";
const META_REVISION: &str = "revision";
const FORMAT: u64 = 1;
const RECORD_V1: u8 = 1;
const RECORD_HEADER_LEN: usize = 1 + 3 * 8;

// === EmbeddedStore ===

/// A [`Store`] in one redb file. Cheap to share behind an `Arc`; one process at a time may
/// open a given file (redb locks it).
pub struct EmbeddedStore {
    db: Arc<Database>,
    path: Arc<PathBuf>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl EmbeddedStore {
    /// Opens the store file at `path`, creating it if it does not exist (its directory must).
    /// A damaged file is [`Error::Corrupt`]; a file another process holds open is
    /// [`Error::Backend`].
    pub async fn open(path: impl Into<PathBuf>) -> Result<EmbeddedStore> {
        let path = path.into();
        let opened_path = path.clone();
        let db = match tokio::task::spawn_blocking(move || open_file(&opened_path)).await {
            Ok(opened) => opened?,
            // redb 2 asserts on some damaged files (a truncated region, garbage lengths)
            // instead of returning an error: that is a damaged file too.
            Err(e) if e.is_panic() => {
                let reason = panic_message(e.into_panic());
                return Err(corrupt(&path, format!("redb cannot read it: {reason}")));
            }
            Err(e) => return Err(Error::Backend(format!("opening {}: {e}", path.display()))),
        };
        Ok(EmbeddedStore {
            db: Arc::new(db),
            path: Arc::new(path),
        })
    }

    /// Opens `work_dir/store.redb`, creating the directory if needed.
    pub async fn open_in(work_dir: &Path) -> Result<EmbeddedStore> {
        tokio::fs::create_dir_all(work_dir)
            .await
            .map_err(|source| Error::Io {
                path: work_dir.to_path_buf(),
                source,
            })?;
        EmbeddedStore::open(work_dir.join(FILE_NAME)).await
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the blocking pool: redb calls block on disk (fsync on every commit).
    async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Database, &Path) -> Result<T> + Send + 'static,
    {
        let db = self.db.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || f(&db, &path))
            .await
            .map_err(|e| {
                Error::Backend(format!("store task on {} failed: {e}", self.path.display()))
            })?
    }

    async fn write(&self, key: &str, expect: Expect, value: Vec<u8>) -> Result<Versioned> {
        validate_key(key)?;
        validate_value(key, &value)?;
        let key = key.to_string();
        self.blocking(move |db, path| {
            let txn = begin_write(db, path)?;
            let written = {
                let mut kv = txn.open_table(KV).map_err(|e| redb_error(path, e))?;
                let mut meta = txn.open_table(META).map_err(|e| redb_error(path, e))?;
                let current = match kv.get(key.as_str()).map_err(|e| redb_error(path, e))? {
                    Some(raw) => Some(decode(path, &key, raw.value())?),
                    None => None,
                };
                expect.check(&key, current.as_ref().map(|c| c.version))?;
                let revision = next_revision(path, &mut meta)?;
                let written = Versioned {
                    value,
                    version: current.as_ref().map_or(1, |c| c.version + 1),
                    create_revision: current.as_ref().map_or(revision, |c| c.create_revision),
                    mod_revision: revision,
                };
                kv.insert(key.as_str(), encode(&written).as_slice())
                    .map_err(|e| redb_error(path, e))?;
                written
            };
            txn.commit().map_err(|e| redb_error(path, e))?;
            debug!(key = %key, version = written.version, revision = written.mod_revision, "store write");
            Ok(written)
        })
        .await
    }
}

/// What a write requires of the current version.
#[derive(Clone, Copy)]
enum Expect {
    Anything,
    Absent,
    Version(u64),
}

impl Expect {
    fn from_cas(expected: Option<u64>) -> Expect {
        match expected {
            None => Expect::Absent,
            Some(v) => Expect::Version(v),
        }
    }

    fn check(self, key: &str, actual: Option<u64>) -> Result<()> {
        let expected = match self {
            Expect::Anything => return Ok(()),
            Expect::Absent => None,
            Expect::Version(v) => Some(v),
        };
        if expected == actual {
            Ok(())
        } else {
            Err(Error::Conflict {
                key: key.to_string(),
                expected,
                actual,
            })
        }
    }
}

/// A write transaction that is on disk (fsynced) when its commit returns: that is what
/// makes an acknowledged write survive `kill -9` and power loss.
fn begin_write(db: &Database, path: &Path) -> Result<redb::WriteTransaction> {
    let mut txn = db.begin_write().map_err(|e| redb_error(path, e))?;
    txn.set_durability(Durability::Immediate);
    Ok(txn)
}

fn next_revision(path: &Path, meta: &mut redb::Table<&str, u64>) -> Result<Revision> {
    let current = meta
        .get(META_REVISION)
        .map_err(|e| redb_error(path, e))?
        .map_or(0, |v| v.value());
    let next = current + 1;
    meta.insert(META_REVISION, next)
        .map_err(|e| redb_error(path, e))?;
    Ok(next)
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>> {
        validate_key(key)?;
        let key = key.to_string();
        self.blocking(move |db, path| {
            let txn = db.begin_read().map_err(|e| redb_error(path, e))?;
            let kv = txn.open_table(KV).map_err(|e| redb_error(path, e))?;
            let raw = kv.get(key.as_str()).map_err(|e| redb_error(path, e))?;
            raw.map(|raw| decode(path, &key, raw.value())).transpose()
        })
        .await
    }

    async fn put(&self, key: &str, value: Vec<u8>) -> Result<Versioned> {
        self.write(key, Expect::Anything, value).await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<u64>,
        value: Vec<u8>,
    ) -> Result<Versioned> {
        self.write(key, Expect::from_cas(expected), value).await
    }

    async fn delete(&self, key: &str, expected: Option<u64>) -> Result<bool> {
        validate_key(key)?;
        let key = key.to_string();
        self.blocking(move |db, path| {
            let txn = begin_write(db, path)?;
            {
                let mut kv = txn.open_table(KV).map_err(|e| redb_error(path, e))?;
                let current = match kv.get(key.as_str()).map_err(|e| redb_error(path, e))? {
                    Some(raw) => Some(decode(path, &key, raw.value())?),
                    None => None,
                };
                if let Some(expected) = expected {
                    Expect::Version(expected).check(&key, current.as_ref().map(|c| c.version))?;
                }
                if current.is_none() {
                    // Nothing to delete: no write, no new revision (the transaction aborts).
                    return Ok(false);
                }
                kv.remove(key.as_str()).map_err(|e| redb_error(path, e))?;
                let mut meta = txn.open_table(META).map_err(|e| redb_error(path, e))?;
                next_revision(path, &mut meta)?;
            }
            txn.commit().map_err(|e| redb_error(path, e))?;
            debug!(key = %key, "store delete");
            Ok(true)
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<(String, Versioned)>> {
        let prefix = prefix.to_string();
        self.blocking(move |db, path| {
            let txn = db.begin_read().map_err(|e| redb_error(path, e))?;
            let kv = txn.open_table(KV).map_err(|e| redb_error(path, e))?;
            let mut out = Vec::new();
            for entry in kv
                .range::<&str>(prefix.as_str()..)
                .map_err(|e| redb_error(path, e))?
            {
                let (key, raw) = entry.map_err(|e| redb_error(path, e))?;
                let key = key.value();
                if !key.starts_with(prefix.as_str()) {
                    break;
                }
                out.push((key.to_string(), decode(path, key, raw.value())?));
            }
            Ok(out)
        })
        .await
    }

    async fn revision(&self) -> Result<Revision> {
        self.blocking(|db, path| {
            let txn = db.begin_read().map_err(|e| redb_error(path, e))?;
            let meta = txn.open_table(META).map_err(|e| redb_error(path, e))?;
            let revision = meta
                .get(META_REVISION)
                .map_err(|e| redb_error(path, e))?
                .map_or(0, |v| v.value());
            Ok(revision)
        })
        .await
    }
}

// === opening and checking the file ===

fn open_file(path: &Path) -> Result<Database> {
    let io_error = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() == 0 => {
            return Err(corrupt(
                path,
                "the file is empty (truncated?); restore it from a backup or remove it to start with an empty store",
            ))
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_file(path)?,
        Err(e) => return Err(io_error(e)),
    }

    let mut db = Database::open(path).map_err(|e| open_error(path, e))?;
    match db.check_integrity() {
        Ok(true) => {}
        // redb rolled the file back to its last intact commit. Acknowledged writes are
        // fsynced before they are acknowledged, so this only happens after outside damage:
        // say so loudly rather than carry on silently.
        Ok(false) => warn!(
            path = %path.display(),
            "store file failed its integrity check and was repaired to its last intact commit"
        ),
        Err(e) => return Err(open_error(path, e)),
    }
    check_format(path, &db)?;
    info!(path = %path.display(), "opened embedded store");
    Ok(db)
}

/// Creates an initialised store under a temporary name, then renames it into place.
fn create_file(path: &Path) -> Result<()> {
    let io_error = |p: &Path, source| Error::Io {
        path: p.to_path_buf(),
        source,
    };
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".new");
    let tmp = path.with_file_name(tmp_name);
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(&tmp, e)),
    }
    {
        let db = Database::create(&tmp).map_err(|e| open_error(&tmp, e))?;
        let txn = begin_write(&db, &tmp)?;
        {
            let mut meta = txn.open_table(META).map_err(|e| redb_error(&tmp, e))?;
            meta.insert(META_FORMAT, FORMAT)
                .map_err(|e| redb_error(&tmp, e))?;
            meta.insert(META_REVISION, 0)
                .map_err(|e| redb_error(&tmp, e))?;
            txn.open_table(KV).map_err(|e| redb_error(&tmp, e))?;
        }
        txn.commit().map_err(|e| redb_error(&tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| io_error(path, e))?;
    // The rename itself must survive a crash, or a later open would create a second,
    // empty store in place of one that acknowledged writes.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error(dir, e))?;
    }
    info!(path = %path.display(), "created embedded store");
    Ok(())
}

fn check_format(path: &Path, db: &Database) -> Result<()> {
    let txn = db.begin_read().map_err(|e| redb_error(path, e))?;
    let meta = match txn.open_table(META) {
        Ok(meta) => meta,
        Err(redb::TableError::TableDoesNotExist(_)) => {
            return Err(corrupt(
                path,
                "not a strata store (its meta table is missing)",
            ))
        }
        Err(e) => return Err(redb_error(path, e)),
    };
    match meta
        .get(META_FORMAT)
        .map_err(|e| redb_error(path, e))?
        .map(|v| v.value())
    {
        Some(FORMAT) => {}
        Some(other) => {
            return Err(corrupt(
                path,
                format!("unsupported store format {other} (this build reads format {FORMAT})"),
            ))
        }
        None => {
            return Err(corrupt(
                path,
                "not a strata store (its format marker is missing)",
            ))
        }
    }
    match txn.open_table(KV) {
        Ok(_) => Ok(()),
        Err(redb::TableError::TableDoesNotExist(_)) => Err(corrupt(
            path,
            "not a strata store (its kv table is missing)",
        )),
        Err(e) => Err(redb_error(path, e)),
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(message) => message.to_string(),
            Err(_) => "it panicked".to_string(),
        },
    }
}

fn corrupt(path: &Path, reason: impl Into<String>) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Errors met while opening: a file redb cannot make sense of is corrupt.
fn open_error(path: &Path, e: impl Into<redb::Error>) -> Error {
    match e.into() {
        redb::Error::Io(source) if source.kind() == std::io::ErrorKind::InvalidData => corrupt(
            path,
            format!("not a redb file, or its header is damaged ({source})"),
        ),
        redb::Error::Io(source) if source.kind() == std::io::ErrorKind::UnexpectedEof => corrupt(
            path,
            format!("shorter than its header says, truncated? ({source})"),
        ),
        redb::Error::UpgradeRequired(version) => corrupt(
            path,
            format!("written in redb file format {version}, which this build cannot read"),
        ),
        other => redb_error(path, other),
    }
}

fn redb_error(path: &Path, e: impl Into<redb::Error>) -> Error {
    match e.into() {
        redb::Error::Corrupted(reason) => corrupt(path, reason),
        redb::Error::Io(source) => Error::Io {
            path: path.to_path_buf(),
            source,
        },
        redb::Error::DatabaseAlreadyOpen => Error::Backend(format!(
            "store file {} is already open (by another strata process?)",
            path.display()
        )),
        other => Error::Backend(format!("store file {}: {other}", path.display())),
    }
}

// === records ===

fn encode(v: &Versioned) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD_HEADER_LEN + v.value.len());
    out.push(RECORD_V1);
    out.extend_from_slice(&v.version.to_le_bytes());
    out.extend_from_slice(&v.create_revision.to_le_bytes());
    out.extend_from_slice(&v.mod_revision.to_le_bytes());
    out.extend_from_slice(&v.value);
    out
}

fn decode(path: &Path, key: &str, raw: &[u8]) -> Result<Versioned> {
    if raw.len() < RECORD_HEADER_LEN || raw[0] != RECORD_V1 {
        return Err(corrupt(
            path,
            format!("the record of key {key:?} is malformed"),
        ));
    }
    let u64_at = |at: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&raw[at..at + 8]);
        u64::from_le_bytes(bytes)
    };
    Ok(Versioned {
        version: u64_at(1),
        create_revision: u64_at(9),
        mod_revision: u64_at(17),
        value: raw[RECORD_HEADER_LEN..].to_vec(),
    })
}

// === LocalLeader ===

/// The single-node election and detector of the embedded backend. A campaign wins as soon
/// as no other contender in this process leads (at once, normally); the detector reports the
/// current leader's info. Leadership is never lost, only resigned.
pub struct LocalLeader {
    slot: Arc<Semaphore>,
    leader: Arc<watch::Sender<Option<Vec<u8>>>>,
}

impl LocalLeader {
    /// A new election with no leader.
    pub fn new() -> LocalLeader {
        LocalLeader {
            slot: Arc::new(Semaphore::new(1)),
            leader: Arc::new(watch::Sender::new(None)),
        }
    }
}

impl Default for LocalLeader {
    fn default() -> Self {
        LocalLeader::new()
    }
}

#[async_trait]
impl LeaderElection for LocalLeader {
    async fn campaign(&self, info: Vec<u8>) -> Result<Leadership> {
        let permit = self
            .slot
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Backend("local election closed".to_string()))?;
        self.leader.send_replace(Some(info));
        info!("elected leader (embedded store: single node)");
        Ok(Leadership::new(LocalLeadership {
            leader: self.leader.clone(),
            _permit: permit,
        }))
    }
}

impl LeaderDetector for LocalLeader {
    fn leader(&self) -> watch::Receiver<Option<Vec<u8>>> {
        self.leader.subscribe()
    }
}

struct LocalLeadership {
    leader: Arc<watch::Sender<Option<Vec<u8>>>>,
    // Released after `drop` below clears the info, so the next contender publishes its own.
    _permit: OwnedSemaphorePermit,
}

#[async_trait]
impl LeadershipHandle for LocalLeadership {
    async fn lost(&self) {
        std::future::pending::<()>().await
    }
}

impl Drop for LocalLeadership {
    fn drop(&mut self) {
        self.leader.send_replace(None);
    }
}
