//! `Store` on ZooKeeper: one persistent znode per key under `<path>/store`.
//!
//! A key's znode holds a 13-byte header then the value. Znodes with empty data are
//! directories made for deeper keys (`a` when only `a/b` is stored); they are not keys, and
//! emptied ones are removed again. The header lets a key live on a znode that already
//! existed as a directory (`a` written after `a/b`), or survive as a directory when deleted
//! while it has children, and still report version 1 on creation:
//!
//! - byte 0: `0x01`;
//! - bytes 1..5: `base`, big-endian u32: key version = znode version - base + 1 (0 for a
//!   key whose znode was created with it);
//! - bytes 5..13: the create revision, big-endian u64: 0 = the znode's czxid; `u64::MAX`
//!   = "the mzxid of version 1" (a key written onto a directory: its zxid is only known
//!   after the write, so the next writer, which reads that mzxid, stores it).
//!
//! Every write is read-then-conditional-write (`setData` with the znode version just
//! read), retried when another writer got in between, so compare-and-swap is atomic.

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{self, StreamExt, TryStreamExt};
use tracing::debug;
use zookeeper_async::{Acl, CreateMode, Stat, ZkError};

use super::ensure_path;
use super::session::{unexpected, ZkClient};
use crate::key::{validate_key, validate_value};
use crate::{Error, Result, Revision, Store, Versioned};

const TAG: u8 = 0x01;
const HEADER_LEN: usize = 13;
const CREATE_REV_IS_CZXID: u64 = 0;
const CREATE_REV_IS_FIRST_MZXID: u64 = u64::MAX;
/// A write retried this often without winning reports contention instead of looping on.
const MAX_ATTEMPTS: usize = 1000;
/// ZooKeeper's default `jute.maxbuffer`: a request larger than this makes the server drop
/// the connection.
const DEFAULT_JUTE_MAXBUFFER: usize = 0xfffff;
/// Concurrent reads while walking a subtree in `list`.
const LIST_CONCURRENCY: usize = 32;

/// The store of the ZooKeeper backend.
pub(crate) struct ZkStore {
    client: Arc<ZkClient>,
    /// `<path>/store`.
    root: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Header {
    base: u32,
    create_revision: u64,
}

/// What a znode under the root holds.
enum Node {
    Key { header: Header, value: Vec<u8> },
    Directory,
}

#[derive(Clone, Copy)]
enum Expect {
    Anything,
    Absent,
    Version(u64),
}

impl ZkStore {
    pub(crate) fn new(client: Arc<ZkClient>, path: &str) -> ZkStore {
        ZkStore {
            client,
            root: format!("{path}/store"),
        }
    }

    fn znode(&self, key: &str) -> String {
        format!("{}/{key}", self.root)
    }

    // --- single calls ---

    async fn read(&self, path: &str) -> Result<Option<(Node, Stat)>> {
        let owned = path.to_string();
        let result = self
            .client
            .call(
                "getData",
                |zk| async move { zk.get_data(&owned, false).await },
            )
            .await?;
        match result {
            Ok((data, stat)) => Ok(Some((parse(path, data)?, stat))),
            Err(ZkError::NoNode) => Ok(None),
            Err(e) => Err(unexpected("getData", path, e)),
        }
    }

    async fn children(&self, path: &str) -> Result<Option<Vec<String>>> {
        let owned = path.to_string();
        let result = self
            .client
            .call("getChildren", |zk| async move {
                zk.get_children(&owned, false).await
            })
            .await?;
        match result {
            Ok(children) => Ok(Some(children)),
            Err(ZkError::NoNode) => Ok(None),
            Err(e) => Err(unexpected("getChildren", path, e)),
        }
    }

    /// `Ok(Err(NodeExists))`: created by someone else meanwhile; `Ok(Err(NoNode))`: no parent.
    async fn create(
        &self,
        path: &str,
        data: Vec<u8>,
    ) -> Result<std::result::Result<Stat, ZkError>> {
        let owned = path.to_string();
        let len = data.len();
        let result = self
            .client
            .call("create", |zk| async move {
                zk.create2(
                    &owned,
                    data,
                    Acl::open_unsafe().clone(),
                    CreateMode::Persistent,
                )
                .await
            })
            .await
            .map_err(|e| explain_large_write(e, path, len))?;
        match result {
            Ok((_, stat)) => Ok(Ok(stat)),
            Err(e @ (ZkError::NodeExists | ZkError::NoNode)) => Ok(Err(e)),
            Err(e) => Err(unexpected("create", path, e)),
        }
    }

    /// `Ok(None)`: the znode changed (or vanished) since it was read at `version`.
    async fn set(&self, path: &str, data: Vec<u8>, version: i32) -> Result<Option<Stat>> {
        let owned = path.to_string();
        let len = data.len();
        let result = self
            .client
            .call("setData", |zk| async move {
                zk.set_data(&owned, data, Some(version)).await
            })
            .await
            .map_err(|e| explain_large_write(e, path, len))?;
        match result {
            Ok(stat) => Ok(Some(stat)),
            Err(ZkError::BadVersion | ZkError::NoNode) => Ok(None),
            Err(e) => Err(unexpected("setData", path, e)),
        }
    }

    /// `Ok(false)`: the znode changed, vanished or gained children since it was read.
    async fn remove(&self, path: &str, version: i32) -> Result<bool> {
        let owned = path.to_string();
        let result = self
            .client
            .call("delete", |zk| async move {
                zk.delete(&owned, Some(version)).await
            })
            .await?;
        match result {
            Ok(()) => Ok(true),
            Err(ZkError::BadVersion | ZkError::NoNode | ZkError::NotEmpty) => Ok(false),
            Err(e) => Err(unexpected("delete", path, e)),
        }
    }

    // --- operations ---

    async fn write(&self, key: &str, expect: Expect, value: Vec<u8>) -> Result<Versioned> {
        validate_key(key)?;
        validate_value(key, &value)?;
        let path = self.znode(key);
        for _ in 0..MAX_ATTEMPTS {
            match self.read(&path).await? {
                None => {
                    if let Expect::Version(v) = expect {
                        return Err(conflict(key, Some(v), None));
                    }
                    let header = Header {
                        base: 0,
                        create_revision: CREATE_REV_IS_CZXID,
                    };
                    match self.create(&path, encode(header, &value)).await? {
                        Ok(stat) => return Ok(versioned(header, value, &stat)),
                        Err(ZkError::NoNode) => {
                            let parent = &path[..path.rfind('/').unwrap_or(0)];
                            ensure_path(&self.client, parent).await?;
                        }
                        // Created by someone else meanwhile: read it again.
                        Err(_) => {}
                    }
                }
                Some((Node::Directory, stat)) => {
                    if let Expect::Version(v) = expect {
                        return Err(conflict(key, Some(v), None));
                    }
                    let header = Header {
                        base: u32::try_from(stat.version + 1).unwrap_or(u32::MAX),
                        create_revision: CREATE_REV_IS_FIRST_MZXID,
                    };
                    if let Some(stat) = self
                        .set(&path, encode(header, &value), stat.version)
                        .await?
                    {
                        return Ok(versioned(header, value, &stat));
                    }
                }
                Some((Node::Key { header, .. }, stat)) => {
                    let current = key_version(header, &stat);
                    match expect {
                        Expect::Absent => return Err(conflict(key, None, Some(current))),
                        Expect::Version(v) if v != current => {
                            return Err(conflict(key, Some(v), Some(current)))
                        }
                        _ => {}
                    }
                    let header = Header {
                        base: header.base,
                        create_revision: create_revision(header, &stat),
                    };
                    if let Some(stat) = self
                        .set(&path, encode(header, &value), stat.version)
                        .await?
                    {
                        return Ok(versioned(header, value, &stat));
                    }
                }
            }
            debug!(key, "zookeeper write raced with another writer; retrying");
        }
        Err(contention(key))
    }

    /// Removes emptied directory znodes above a deleted key, up to (not including) the root.
    async fn prune(&self, path: &str) -> Result<()> {
        let mut path = path.to_string();
        while let Some(at) = path.rfind('/') {
            path.truncate(at);
            if path.len() <= self.root.len() {
                return Ok(());
            }
            match self.read(&path).await? {
                Some((Node::Directory, stat)) if stat.num_children == 0 => {
                    if !self.remove(&path, stat.version).await? {
                        return Ok(());
                    }
                }
                _ => return Ok(()),
            }
        }
        Ok(())
    }

    fn key_of(&self, path: &str) -> String {
        path[self.root.len() + 1..].to_string()
    }
}

#[async_trait]
impl Store for ZkStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>> {
        validate_key(key)?;
        Ok(match self.read(&self.znode(key)).await? {
            Some((Node::Key { header, value }, stat)) => Some(versioned(header, value, &stat)),
            _ => None,
        })
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
        let expect = match expected {
            None => Expect::Absent,
            Some(v) => Expect::Version(v),
        };
        self.write(key, expect, value).await
    }

    async fn delete(&self, key: &str, expected: Option<u64>) -> Result<bool> {
        validate_key(key)?;
        let path = self.znode(key);
        for _ in 0..MAX_ATTEMPTS {
            let (header, stat) = match self.read(&path).await? {
                Some((Node::Key { header, .. }, stat)) => (header, stat),
                _ => {
                    return match expected {
                        Some(v) => Err(conflict(key, Some(v), None)),
                        None => Ok(false),
                    }
                }
            };
            let current = key_version(header, &stat);
            if let Some(v) = expected {
                if v != current {
                    return Err(conflict(key, Some(v), Some(current)));
                }
            }
            if stat.num_children == 0 {
                if self.remove(&path, stat.version).await? {
                    self.prune(&path).await?;
                    return Ok(true);
                }
            } else if self.set(&path, Vec::new(), stat.version).await?.is_some() {
                // Keys below keep the znode: it stays on as a directory.
                return Ok(true);
            }
        }
        Err(contention(key))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<(String, Versioned)>> {
        // Only the znodes under the prefix's last complete segment can match.
        let (dir, partial) = match prefix.rfind('/') {
            Some(at) => {
                let dir = &prefix[..at];
                if validate_key(dir).is_err() {
                    // No valid key starts with this prefix.
                    return Ok(Vec::new());
                }
                (dir, &prefix[at + 1..])
            }
            None => ("", prefix),
        };
        let dir_path = if dir.is_empty() {
            self.root.clone()
        } else {
            self.znode(dir)
        };
        let Some(children) = self.children(&dir_path).await? else {
            return Ok(Vec::new());
        };
        let mut frontier: Vec<String> = children
            .into_iter()
            .filter(|c| c.starts_with(partial))
            .map(|c| format!("{dir_path}/{c}"))
            .collect();
        let mut out = Vec::new();
        // Breadth-first, with the reads of one level in flight together. Not a snapshot:
        // ZooKeeper has no multi-node read, so writes made during the walk may or may not
        // show.
        while !frontier.is_empty() {
            let nodes: Vec<(String, Option<(Node, Stat)>)> = stream::iter(frontier)
                .map(|path| async move {
                    let node = self.read(&path).await?;
                    Ok::<_, Error>((path, node))
                })
                .buffered(LIST_CONCURRENCY)
                .try_collect()
                .await?;
            let mut parents = Vec::new();
            for (path, node) in nodes {
                let Some((node, stat)) = node else { continue };
                if let Node::Key { header, value } = node {
                    out.push((self.key_of(&path), versioned(header, value, &stat)));
                }
                if stat.num_children > 0 {
                    parents.push(path);
                }
            }
            frontier = stream::iter(parents)
                .map(|path| async move {
                    let children = self.children(&path).await?.unwrap_or_default();
                    Ok::<_, Error>(
                        children
                            .into_iter()
                            .map(|c| format!("{path}/{c}"))
                            .collect::<Vec<_>>(),
                    )
                })
                .buffered(LIST_CONCURRENCY)
                .try_collect::<Vec<_>>()
                .await?
                .into_iter()
                .flatten()
                .collect();
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    async fn revision(&self) -> Result<Revision> {
        // A fence: an empty setData on the root directory gets the next zxid, which is
        // above the zxid of every write acknowledged before and below that of every later
        // write. No root yet means nothing was ever written.
        let root = self.root.clone();
        let result = self
            .client
            .call("setData", |zk| async move {
                zk.set_data(&root, Vec::new(), None).await
            })
            .await?;
        match result {
            Ok(stat) => Ok(zxid(stat.mzxid)),
            Err(ZkError::NoNode) => Ok(0),
            Err(e) => Err(unexpected("setData", &self.root, e)),
        }
    }
}

// --- encoding ---

fn parse(path: &str, data: Vec<u8>) -> Result<Node> {
    if data.is_empty() {
        return Ok(Node::Directory);
    }
    if data.len() < HEADER_LEN || data[0] != TAG {
        return Err(Error::Backend(format!(
            "znode {path} does not hold a strata store value (written by another program?)"
        )));
    }
    let mut base = [0u8; 4];
    base.copy_from_slice(&data[1..5]);
    let mut create_revision = [0u8; 8];
    create_revision.copy_from_slice(&data[5..13]);
    Ok(Node::Key {
        header: Header {
            base: u32::from_be_bytes(base),
            create_revision: u64::from_be_bytes(create_revision),
        },
        value: data[HEADER_LEN..].to_vec(),
    })
}

fn encode(header: Header, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + value.len());
    out.push(TAG);
    out.extend_from_slice(&header.base.to_be_bytes());
    out.extend_from_slice(&header.create_revision.to_be_bytes());
    out.extend_from_slice(value);
    out
}

fn key_version(header: Header, stat: &Stat) -> u64 {
    (i64::from(stat.version) - i64::from(header.base) + 1).max(1) as u64
}

/// The create revision to keep in the header of the next write over `stat`.
fn create_revision(header: Header, stat: &Stat) -> u64 {
    match header.create_revision {
        CREATE_REV_IS_FIRST_MZXID => zxid(stat.mzxid),
        other => other,
    }
}

fn versioned(header: Header, value: Vec<u8>, stat: &Stat) -> Versioned {
    Versioned {
        value,
        version: key_version(header, stat),
        create_revision: match header.create_revision {
            CREATE_REV_IS_CZXID => zxid(stat.czxid),
            CREATE_REV_IS_FIRST_MZXID => zxid(stat.mzxid),
            other => other,
        },
        mod_revision: zxid(stat.mzxid),
    }
}

fn zxid(z: i64) -> Revision {
    u64::try_from(z).unwrap_or(0)
}

fn conflict(key: &str, expected: Option<u64>, actual: Option<u64>) -> Error {
    Error::Conflict {
        key: key.to_string(),
        expected,
        actual,
    }
}

fn contention(key: &str) -> Error {
    Error::Unavailable(format!(
        "key {key:?} changed {MAX_ATTEMPTS} times while being written; giving up"
    ))
}

/// A server with the default `jute.maxbuffer` drops the connection on a request over
/// ~1 MiB: say so instead of reporting a bare connection loss.
fn explain_large_write(e: Error, path: &str, len: usize) -> Error {
    match e {
        Error::Unavailable(reason) if len + path.len() + 64 > DEFAULT_JUTE_MAXBUFFER => {
            Error::Backend(format!(
                "zookeeper refused a {len}-byte write to {path} ({reason}); \
                 run its servers with -Djute.maxbuffer=4194304 to store values up to 1 MiB"
            ))
        }
        other => other,
    }
}
