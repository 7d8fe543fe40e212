//! The object store: every object in memory (an index by kind, namespace and name, and
//! one by uid), written through to [`strata_store::Store`] (the durable source of truth,
//! reloaded at start), and a bounded log of changes from which watches are served.
//!
//! This API server is the only writer of its keys, so the memory copy is exact. All writes
//! go through one lock ([`Registry::begin`]): a handler reads, decides and writes inside it,
//! so read-modify-write sequences never race and the change log is in revision order.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;
use strata_store::{Revision, Store};
use tokio::sync::{broadcast, Mutex, MutexGuard, Notify};

use crate::resources::{self, ResourceType, RESOURCES};
use crate::status::{ApiError, ApiResult, Subject};

/// The store key prefix of everything this server writes.
pub const PREFIX: &str = "k8s/";

/// What happened to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeType {
    /// Created.
    Added,
    /// Updated.
    Modified,
    /// Removed.
    Deleted,
}

impl ChangeType {
    /// The watch event type.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Added => "ADDED",
            ChangeType::Modified => "MODIFIED",
            ChangeType::Deleted => "DELETED",
        }
    }
}

/// One write, as watches see it.
#[derive(Debug)]
pub struct Change {
    /// The revision of the write (the object's new resourceVersion).
    pub revision: Revision,
    /// The kind ([`resources::index`]).
    pub resource: usize,
    /// What happened.
    pub kind: ChangeType,
    /// The object after the write (for deletions: as it was, with the deletion's
    /// resourceVersion).
    pub object: Arc<Value>,
    /// The object before the write (modifications only), to tell watches whose selector it
    /// left or entered.
    pub previous: Option<Arc<Value>>,
}

struct Entry {
    object: Arc<Value>,
    /// The store's per-key version, for compare-and-swap.
    version: u64,
}

/// Where an object lives: kind index, namespace ("" when cluster-scoped), name.
pub type ObjectRef = (usize, String, String);

struct State {
    objects: Vec<BTreeMap<(String, String), Entry>>,
    uids: HashMap<String, ObjectRef>,
    log: VecDeque<Arc<Change>>,
    /// Watches may start at any revision >= this one; older ones get 410 Gone.
    compacted: Revision,
    revision: Revision,
}

/// The in-memory object store with write-through persistence and the change log.
pub struct Registry {
    store: Arc<dyn Store>,
    state: Mutex<State>,
    events: broadcast::Sender<Arc<Change>>,
    history: usize,
    /// Signalled after every write (the garbage collector waits on it).
    pub changed: Notify,
}

/// A watch's start: the changes after its revision that are already in the log, then a
/// receiver of the live ones.
pub struct WatchStart {
    /// Changes already made after the requested revision, oldest first.
    pub backlog: Vec<Arc<Change>>,
    /// Snapshot objects (when the watch starts from "now": resourceVersion absent or 0).
    pub initial: Vec<Arc<Value>>,
    /// Live changes.
    pub live: broadcast::Receiver<Arc<Change>>,
    /// The revision the watch is at after the backlog.
    pub revision: Revision,
}

fn strip_revision(object: &Value) -> Vec<u8> {
    let mut copy = object.clone();
    if let Some(meta) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    serde_json::to_vec(&copy).unwrap_or_default()
}

fn set_revision(object: &mut Value, revision: Revision) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert(
            "resourceVersion".into(),
            Value::String(revision.to_string()),
        );
    }
}

fn meta_str<'a>(object: &'a Value, field: &str) -> &'a str {
    object
        .get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn subject<'a>(rt: &'a ResourceType, name: &'a str) -> Subject<'a> {
    Subject {
        group: rt.group,
        plural: rt.plural,
        kind: rt.kind,
        name,
    }
}

impl Registry {
    /// Loads every object from the store. `history` is how many changes watches can
    /// resume from.
    pub async fn load(
        store: Arc<dyn Store>,
        history: usize,
    ) -> Result<Registry, strata_store::Error> {
        let revision = store.revision().await?;
        let mut objects: Vec<BTreeMap<(String, String), Entry>> =
            RESOURCES.iter().map(|_| BTreeMap::new()).collect();
        let mut uids = HashMap::new();
        let mut loaded = 0usize;
        for (index, rt) in RESOURCES.iter().enumerate() {
            for (key, versioned) in store.list(&rt.key_prefix()).await? {
                let mut object: Value = match serde_json::from_slice(&versioned.value) {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::warn!(key = %key, error = %e, "skipping an unreadable stored object");
                        continue;
                    }
                };
                set_revision(&mut object, versioned.mod_revision);
                let ns = meta_str(&object, "namespace").to_string();
                let name = meta_str(&object, "name").to_string();
                let uid = meta_str(&object, "uid").to_string();
                if !uid.is_empty() {
                    uids.insert(uid, (index, ns.clone(), name.clone()));
                }
                objects[index].insert(
                    (ns, name),
                    Entry {
                        object: Arc::new(object),
                        version: versioned.version,
                    },
                );
                loaded += 1;
            }
        }
        tracing::info!(
            objects = loaded,
            revision,
            "loaded the kubernetes objects from the store"
        );
        let (events, _) = broadcast::channel(4096);
        Ok(Registry {
            store,
            state: Mutex::new(State {
                objects,
                uids,
                log: VecDeque::new(),
                compacted: revision,
                revision,
            }),
            events,
            history: history.max(1),
            changed: Notify::new(),
        })
    }

    /// The durable store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Starts a read-modify-write: everything done through the [`Txn`] is serialized with
    /// every other write.
    pub async fn begin(&self) -> Txn<'_> {
        Txn {
            registry: self,
            state: self.state.lock().await,
        }
    }

    /// Starts a watch of kind `resource` from `revision` (`None`: from now, with the current
    /// objects as the initial events). A revision older than the retained log is 410 Gone.
    pub async fn watch(&self, resource: usize, from: Option<Revision>) -> ApiResult<WatchStart> {
        let state = self.state.lock().await;
        let live = self.events.subscribe();
        match from {
            None => {
                let initial = state.objects[resource]
                    .values()
                    .map(|e| e.object.clone())
                    .collect();
                Ok(WatchStart {
                    backlog: Vec::new(),
                    initial,
                    live,
                    revision: state.revision,
                })
            }
            Some(rv) if rv < state.compacted => Err(ApiError::expired(format!(
                "too old resource version: {rv} ({})",
                state.compacted
            ))),
            Some(rv) => {
                let backlog = state
                    .log
                    .iter()
                    .filter(|c| c.revision > rv && c.resource == resource)
                    .cloned()
                    .collect();
                Ok(WatchStart {
                    backlog,
                    initial: Vec::new(),
                    live,
                    revision: state.revision.max(rv),
                })
            }
        }
    }
}

/// A critical section over the object store (see [`Registry::begin`]).
pub struct Txn<'a> {
    registry: &'a Registry,
    state: MutexGuard<'a, State>,
}

impl Txn<'_> {
    /// The latest revision.
    pub fn revision(&self) -> Revision {
        self.state.revision
    }

    /// The oldest revision a watch may start from.
    pub fn compacted(&self) -> Revision {
        self.state.compacted
    }

    /// One object.
    pub fn get(&self, rt: &ResourceType, namespace: &str, name: &str) -> Option<Arc<Value>> {
        let ns = if rt.namespaced { namespace } else { "" };
        self.state.objects[resources::index(rt)]
            .get(&(ns.to_string(), name.to_string()))
            .map(|e| e.object.clone())
    }

    /// The objects of a kind, in one namespace or all, sorted by namespace and name,
    /// starting after `after` (a `(namespace, name)` continue position).
    pub fn list(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        after: Option<&(String, String)>,
    ) -> impl Iterator<Item = (&(String, String), &Arc<Value>)> + '_ {
        use std::ops::Bound;
        let map = &self.state.objects[resources::index(rt)];
        let lower = match after {
            Some(pos) => Bound::Excluded(pos.clone()),
            None => match namespace {
                Some(ns) if rt.namespaced => Bound::Included((ns.to_string(), String::new())),
                _ => Bound::Unbounded,
            },
        };
        let ns = namespace.filter(|_| rt.namespaced).map(str::to_string);
        map.range((lower, Bound::Unbounded))
            .take_while(move |((n, _), _)| ns.as_ref().is_none_or(|want| want == n))
            .map(|(k, e)| (k, &e.object))
    }

    /// Where the object with this uid lives, if it exists.
    pub fn by_uid(&self, uid: &str) -> Option<&ObjectRef> {
        self.state.uids.get(uid)
    }

    /// Every object (all kinds), for the garbage collector.
    pub fn all(&self) -> impl Iterator<Item = (&'static ResourceType, &Arc<Value>)> + '_ {
        self.state
            .objects
            .iter()
            .enumerate()
            .flat_map(|(i, m)| m.values().map(move |e| (&RESOURCES[i], &e.object)))
    }

    /// Stores a new object (its `metadata.name`/`namespace` say where); returns it with its
    /// resourceVersion. AlreadyExists if the name is taken.
    pub async fn create(&mut self, rt: &ResourceType, mut object: Value) -> ApiResult<Arc<Value>> {
        let ns = if rt.namespaced {
            meta_str(&object, "namespace").to_string()
        } else {
            String::new()
        };
        let name = meta_str(&object, "name").to_string();
        let index = resources::index(rt);
        if self.state.objects[index].contains_key(&(ns.clone(), name.clone())) {
            return Err(ApiError::already_exists(subject(rt, &name)));
        }
        let key = rt.key(&ns, &name);
        let written = match self
            .registry
            .store
            .compare_and_swap(&key, None, strip_revision(&object))
            .await
        {
            Ok(v) => v,
            Err(strata_store::Error::Conflict { .. }) => {
                return Err(ApiError::already_exists(subject(rt, &name)))
            }
            Err(e) => return Err(e.into()),
        };
        set_revision(&mut object, written.mod_revision);
        let object = Arc::new(object);
        let uid = meta_str(&object, "uid").to_string();
        if !uid.is_empty() {
            self.state
                .uids
                .insert(uid, (index, ns.clone(), name.clone()));
        }
        self.state.objects[index].insert(
            (ns, name),
            Entry {
                object: object.clone(),
                version: written.version,
            },
        );
        self.record(
            written.mod_revision,
            index,
            ChangeType::Added,
            object.clone(),
            None,
        );
        Ok(object)
    }

    /// Replaces an existing object (compare-and-swap on what this server last wrote).
    pub async fn replace(&mut self, rt: &ResourceType, mut object: Value) -> ApiResult<Arc<Value>> {
        let ns = if rt.namespaced {
            meta_str(&object, "namespace").to_string()
        } else {
            String::new()
        };
        let name = meta_str(&object, "name").to_string();
        let index = resources::index(rt);
        let pos = (ns.clone(), name.clone());
        let (version, previous) = match self.state.objects[index].get(&pos) {
            Some(e) => (e.version, e.object.clone()),
            None => return Err(ApiError::not_found(subject(rt, &name))),
        };
        let key = rt.key(&ns, &name);
        let written = self
            .registry
            .store
            .compare_and_swap(&key, Some(version), strip_revision(&object))
            .await?;
        set_revision(&mut object, written.mod_revision);
        let object = Arc::new(object);
        self.state.objects[index].insert(
            pos,
            Entry {
                object: object.clone(),
                version: written.version,
            },
        );
        self.record(
            written.mod_revision,
            index,
            ChangeType::Modified,
            object.clone(),
            Some(previous),
        );
        Ok(object)
    }

    /// Removes an object; returns it as it was, with the deletion's resourceVersion.
    pub async fn remove(
        &mut self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> ApiResult<Arc<Value>> {
        let ns = if rt.namespaced { namespace } else { "" };
        let index = resources::index(rt);
        let pos = (ns.to_string(), name.to_string());
        let version = match self.state.objects[index].get(&pos) {
            Some(e) => e.version,
            None => return Err(ApiError::not_found(subject(rt, name))),
        };
        let key = rt.key(ns, name);
        self.registry.store.delete(&key, Some(version)).await?;
        let revision = self
            .registry
            .store
            .revision()
            .await?
            .max(self.state.revision + 1);
        let entry = self.state.objects[index]
            .remove(&pos)
            .expect("checked above");
        let uid = meta_str(&entry.object, "uid").to_string();
        self.state.uids.remove(&uid);
        let mut object = (*entry.object).clone();
        set_revision(&mut object, revision);
        let object = Arc::new(object);
        self.record(revision, index, ChangeType::Deleted, object.clone(), None);
        Ok(object)
    }

    fn record(
        &mut self,
        revision: Revision,
        resource: usize,
        kind: ChangeType,
        object: Arc<Value>,
        previous: Option<Arc<Value>>,
    ) {
        let change = Arc::new(Change {
            revision,
            resource,
            kind,
            object,
            previous,
        });
        self.state.revision = self.state.revision.max(revision);
        self.state.log.push_back(change.clone());
        while self.state.log.len() > self.registry.history {
            if let Some(old) = self.state.log.pop_front() {
                self.state.compacted = self.state.compacted.max(old.revision);
            }
        }
        // No receivers is fine: nobody watches.
        let _ = self.registry.events.send(change);
        self.registry.changed.notify_one();
    }
}
