//! The garbage collector and the namespace controller: one background task that, after
//! every write (and each second), finishes what deletions started.
//!
//! * dependents whose owners (`metadata.ownerReferences`) are all gone are deleted
//!   (background propagation);
//! * owners deleted with `Foreground` lose their `foregroundDeletion` finalizer once their
//!   dependents are gone (their dependents are deleted first);
//! * owners deleted with `Orphan` have their references removed from their dependents,
//!   then lose their `orphan` finalizer;
//! * a terminating namespace has its objects deleted, then is removed itself;
//! * a pod whose graceful deletion period has passed is removed: until the pod executor
//!   exists nothing else would confirm that its containers stopped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::api::{Api, DeleteOptions, Propagation};
use crate::registry::ObjectRef;
use crate::resources::{self, RESOURCES};
use crate::status::ApiResult;

/// One thing to do, found by a scan and done in its own transaction.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    /// Delete an object (its owners are gone, or its namespace is terminating).
    Delete(ObjectRef),
    /// Remove the finalizer from an object.
    Unfinalize(ObjectRef, &'static str),
    /// Remove owner references to `uid` from an object.
    Disown(ObjectRef, String),
    /// Remove a namespace that has become empty.
    RemoveNamespace(String),
    /// Remove a pod whose grace period has passed.
    Expire(ObjectRef),
}

fn meta_str<'a>(o: &'a Value, field: &str) -> &'a str {
    o.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn has_finalizer(o: &Value, f: &str) -> bool {
    o.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|l| l.iter().any(|x| x == f))
}

fn owner_uids(o: &Value) -> Vec<String> {
    o.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("uid").and_then(Value::as_str).map(str::to_string))
        .collect()
}

async fn scan(api: &Api) -> Vec<Action> {
    let txn = api.registry.begin().await;
    let now = crate::api::timestamp_now();
    let mut actions = Vec::new();
    let mut dependents: HashMap<String, Vec<ObjectRef>> = HashMap::new();
    let mut terminating = Vec::new();
    let mut populated: HashMap<String, usize> = HashMap::new();
    for (rt, o) in txn.all() {
        let ns = meta_str(o, "namespace").to_string();
        let name = meta_str(o, "name").to_string();
        let at: ObjectRef = (resources::index(rt), ns.clone(), name.clone());
        if rt.namespaced {
            *populated.entry(ns.clone()).or_default() += 1;
        }
        if rt.kind == "Namespace" && o.pointer("/metadata/deletionTimestamp").is_some() {
            terminating.push(name.clone());
        }
        let owners = owner_uids(o);
        for uid in &owners {
            dependents.entry(uid.clone()).or_default().push(at.clone());
        }
        if !owners.is_empty() && owners.iter().all(|u| txn.by_uid(u).is_none()) {
            if o.pointer("/metadata/deletionTimestamp").is_none() {
                actions.push(Action::Delete(at.clone()));
            }
            continue;
        }
        if rt.kind == "Pod" {
            if let Some(ts) = o
                .pointer("/metadata/deletionTimestamp")
                .and_then(Value::as_str)
            {
                let due = ts
                    .parse::<k8s_openapi::jiff::Timestamp>()
                    .map(|t| t <= now)
                    .unwrap_or(true);
                let only_grace = o
                    .pointer("/metadata/finalizers")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty);
                if due && only_grace {
                    actions.push(Action::Expire(at.clone()));
                }
            }
        }
    }
    // Owners being deleted.
    for (rt, o) in txn.all() {
        if o.pointer("/metadata/deletionTimestamp").is_none() {
            continue;
        }
        let uid = meta_str(o, "uid");
        let at: ObjectRef = (
            resources::index(rt),
            meta_str(o, "namespace").into(),
            meta_str(o, "name").into(),
        );
        let deps = dependents.get(uid).cloned().unwrap_or_default();
        if has_finalizer(o, "orphan") {
            for d in &deps {
                actions.push(Action::Disown(d.clone(), uid.to_string()));
            }
            actions.push(Action::Unfinalize(at.clone(), "orphan"));
        }
        if has_finalizer(o, "foregroundDeletion") {
            if deps.is_empty() {
                actions.push(Action::Unfinalize(at.clone(), "foregroundDeletion"));
            } else {
                for d in deps {
                    let pending = txn
                        .get(&RESOURCES[d.0], &d.1, &d.2)
                        .is_some_and(|o| o.pointer("/metadata/deletionTimestamp").is_some());
                    if !pending {
                        actions.push(Action::Delete(d));
                    }
                }
            }
        }
    }
    // Terminating namespaces.
    for ns in terminating {
        if populated.get(&ns).copied().unwrap_or(0) == 0 {
            actions.push(Action::RemoveNamespace(ns));
            continue;
        }
        for (i, rt) in RESOURCES.iter().enumerate() {
            if !rt.namespaced {
                continue;
            }
            for ((n, name), o) in txn.list(rt, Some(&ns), None) {
                if o.pointer("/metadata/deletionTimestamp").is_none() {
                    actions.push(Action::Delete((i, n.clone(), name.clone())));
                }
            }
        }
    }
    actions.dedup();
    actions
}

async fn act(api: &Api, action: Action) -> ApiResult<()> {
    let mut txn = api.registry.begin().await;
    match action {
        Action::Delete((i, ns, name)) => {
            let rt = &RESOURCES[i];
            if txn.get(rt, &ns, &name).is_some() {
                let opts = DeleteOptions {
                    propagation: Some(Propagation::Background),
                    ..DeleteOptions::default()
                };
                api.delete_in(&mut txn, rt, &ns, &name, &opts).await?;
                tracing::info!(kind = rt.kind, namespace = %ns, name = %name, "garbage collected");
            }
        }
        Action::Expire((i, ns, name)) => {
            let rt = &RESOURCES[i];
            if txn.get(rt, &ns, &name).is_some() {
                txn.remove(rt, &ns, &name).await?;
                tracing::info!(namespace = %ns, name = %name, "pod grace period over: removed");
            }
        }
        Action::Unfinalize((i, ns, name), finalizer) => {
            let rt = &RESOURCES[i];
            if let Some(o) = txn.get(rt, &ns, &name) {
                let mut o = (*o).clone();
                let left: Vec<Value> = o
                    .pointer("/metadata/finalizers")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|f| *f != finalizer)
                    .cloned()
                    .collect();
                if left.is_empty() {
                    txn.remove(rt, &ns, &name).await?;
                    tracing::info!(kind = rt.kind, namespace = %ns, name = %name, finalizer, "deleted after its dependents");
                } else {
                    o["metadata"]["finalizers"] = json!(left);
                    txn.replace(rt, o).await?;
                }
            }
        }
        Action::Disown((i, ns, name), uid) => {
            let rt = &RESOURCES[i];
            if let Some(o) = txn.get(rt, &ns, &name) {
                let mut o = (*o).clone();
                if let Some(refs) = o
                    .pointer_mut("/metadata/ownerReferences")
                    .and_then(Value::as_array_mut)
                {
                    refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid.as_str()));
                    if refs.is_empty() {
                        if let Some(m) = o["metadata"].as_object_mut() {
                            m.remove("ownerReferences");
                        }
                    }
                    txn.replace(rt, o).await?;
                }
            }
        }
        Action::RemoveNamespace(ns) => {
            let rt = resources::find("", "v1", "namespaces").expect("served");
            let still_empty = RESOURCES
                .iter()
                .filter(|r| r.namespaced)
                .all(|r| txn.list(r, Some(&ns), None).next().is_none());
            if still_empty && txn.get(rt, "", &ns).is_some() {
                txn.remove(rt, "", &ns).await?;
                tracing::info!(namespace = %ns, "namespace deleted");
            }
        }
    }
    Ok(())
}

/// One pass: scans, then does what it found. Returns how many actions it took.
pub async fn collect(api: &Api) -> usize {
    let actions = scan(api).await;
    let n = actions.len();
    for action in actions {
        if let Err(e) = act(api, action).await {
            tracing::warn!(error = %e, "garbage collection step failed");
        }
    }
    n
}

/// Runs the collector until `shutdown` resolves.
pub async fn run(api: Arc<Api>, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = api.registry.changed.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        // Keep going while passes find work (one pass's deletions make the next's).
        for _ in 0..20 {
            if collect(&api).await == 0 {
                break;
            }
        }
    }
}
