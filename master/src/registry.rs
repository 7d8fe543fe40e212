//! The registry: who belongs to the cluster, written through the store
//! before the change is acknowledged, so that a restarted or newly elected
//! master knows its agents, its frameworks (with their failover timeouts)
//! and the frameworks that were removed for good.
//!
//! Layout in the store (JSON values):
//! ```text
//! master/agents/<agent id>                {"info": AgentInfo, "endpoint": "http://...",
//!                                          "checkpointed_resources": [Resource]}
//! master/frameworks/<framework id>        FrameworkInfo
//! master/removed_frameworks/<framework id> {"removed_time": unix seconds}
//! ```
//! Ids that do not fit the store's key alphabet are hex-encoded (`x-<hex>`).

use serde::{Deserialize, Serialize};
use strata_api::{AgentId, FrameworkId};
use strata_proto::v1;
use strata_store::Store;

/// A change the actor must make durable before it answers.
#[derive(Debug, Clone)]
pub enum RegistryOp {
    /// An agent was admitted (or its info changed).
    PutAgent(AgentId, AgentRecord),
    /// A framework subscribed (or its info changed).
    PutFramework(FrameworkId, v1::FrameworkInfo),
    /// A framework was removed for good.
    RemoveFramework(FrameworkId, f64),
    /// A role's weight was set.
    PutWeight(String, f64),
    /// A role's quota was set: guarantee and optional limit, in text form.
    PutQuota(String, String, Option<String>),
    /// A role's quota was removed.
    RemoveQuota(String),
}

/// A role's quota as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QuotaRecord {
    /// Guaranteed resources (`cpus:2;mem:1024`).
    pub guarantee: String,
    /// Limit, if any.
    pub limit: Option<String>,
}

/// An admitted agent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentRecord {
    /// Its AgentInfo.
    pub info: v1::AgentInfo,
    /// Its HTTP endpoint.
    pub endpoint: String,
    /// Its dynamic reservations and persistent volumes (Mesos's
    /// checkpointed resources), with where each volume is mounted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checkpointed_resources: Vec<v1::Resource>,
}

#[derive(Serialize, Deserialize)]
struct Removed {
    removed_time: f64,
}

/// What a master finds in the registry when it starts leading.
#[derive(Debug, Default)]
pub struct Registry {
    /// Admitted agents.
    pub agents: Vec<(AgentId, AgentRecord)>,
    /// Frameworks that have not been removed.
    pub frameworks: Vec<v1::FrameworkInfo>,
    /// Frameworks removed for good.
    pub removed_frameworks: Vec<FrameworkId>,
    /// Role weights.
    pub weights: Vec<(String, f64)>,
    /// Role quotas.
    pub quotas: Vec<(String, QuotaRecord)>,
}

fn key_part(id: &str) -> String {
    let plain = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
    if plain && !id.starts_with("x-") {
        id.to_owned()
    } else {
        let hex: String = id.bytes().map(|b| format!("{b:02x}")).collect();
        format!("x-{hex}")
    }
}

fn from_key_part(part: &str) -> String {
    match part.strip_prefix("x-") {
        Some(hex) if hex.len() % 2 == 0 => {
            let bytes: Option<Vec<u8>> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
                .collect();
            bytes
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_else(|| part.to_owned())
        }
        _ => part.to_owned(),
    }
}

/// Applies one change to the store.
pub async fn apply(store: &dyn Store, op: &RegistryOp) -> strata_store::Result<()> {
    match op {
        RegistryOp::PutAgent(id, rec) => {
            let v = serde_json::to_vec(rec).expect("serializable");
            store
                .put(&format!("master/agents/{}", key_part(id.as_str())), v)
                .await?;
        }
        RegistryOp::PutFramework(id, info) => {
            let v = serde_json::to_vec(info).expect("serializable");
            store
                .put(&format!("master/frameworks/{}", key_part(id.as_str())), v)
                .await?;
        }
        RegistryOp::PutWeight(role, w) => {
            store
                .put(
                    &format!("master/weights/{}", key_part(role)),
                    serde_json::to_vec(w).expect("serializable"),
                )
                .await?;
        }
        RegistryOp::PutQuota(role, guarantee, limit) => {
            let rec = QuotaRecord {
                guarantee: guarantee.clone(),
                limit: limit.clone(),
            };
            store
                .put(
                    &format!("master/quota/{}", key_part(role)),
                    serde_json::to_vec(&rec).expect("serializable"),
                )
                .await?;
        }
        RegistryOp::RemoveQuota(role) => {
            store
                .delete(&format!("master/quota/{}", key_part(role)), None)
                .await?;
        }
        RegistryOp::RemoveFramework(id, when) => {
            let v = serde_json::to_vec(&Removed {
                removed_time: *when,
            })
            .expect("serializable");
            store
                .put(
                    &format!("master/removed_frameworks/{}", key_part(id.as_str())),
                    v,
                )
                .await?;
            store
                .delete(
                    &format!("master/frameworks/{}", key_part(id.as_str())),
                    None,
                )
                .await?;
        }
    }
    Ok(())
}

/// Reads the registry.
pub async fn load(store: &dyn Store) -> strata_store::Result<Registry> {
    let mut reg = Registry::default();
    for (key, v) in store.list("master/agents/").await? {
        let id = from_key_part(key.trim_start_matches("master/agents/"));
        match serde_json::from_slice::<AgentRecord>(&v.value) {
            Ok(rec) => reg.agents.push((AgentId(id), rec)),
            Err(e) => {
                tracing::warn!(%key, error = %e, "unreadable agent record in the registry ignored")
            }
        }
    }
    for (key, v) in store.list("master/frameworks/").await? {
        match serde_json::from_slice::<v1::FrameworkInfo>(&v.value) {
            Ok(info) => reg.frameworks.push(info),
            Err(e) => {
                tracing::warn!(%key, error = %e, "unreadable framework record in the registry ignored")
            }
        }
    }
    for (key, v) in store.list("master/weights/").await? {
        if let Ok(w) = serde_json::from_slice::<f64>(&v.value) {
            reg.weights
                .push((from_key_part(key.trim_start_matches("master/weights/")), w));
        }
    }
    for (key, v) in store.list("master/quota/").await? {
        if let Ok(q) = serde_json::from_slice::<QuotaRecord>(&v.value) {
            reg.quotas
                .push((from_key_part(key.trim_start_matches("master/quota/")), q));
        }
    }
    for (key, _) in store.list("master/removed_frameworks/").await? {
        reg.removed_frameworks.push(FrameworkId(from_key_part(
            key.trim_start_matches("master/removed_frameworks/"),
        )));
    }
    Ok(reg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_ids_are_hex_encoded_and_decoded() {
        for id in ["abc-0001", "with/slash", "x-lookalike", "spaces here", "é"] {
            let k = key_part(id);
            assert!(
                k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')),
                "{k}"
            );
            assert_eq!(from_key_part(&k), id);
        }
    }

    #[tokio::test]
    async fn the_registry_round_trips_through_the_embedded_store() {
        let dir = std::env::temp_dir().join(format!("strata-registry-{}", std::process::id()));
        let b = strata_store::open(None, &dir).await.unwrap();
        let store = b.store.as_ref();
        let fw = v1::FrameworkInfo {
            id: Some(v1::framework_id("F1")),
            name: "f".into(),
            failover_timeout: Some(60.0),
            ..Default::default()
        };
        apply(store, &RegistryOp::PutFramework("F1".into(), fw.clone()))
            .await
            .unwrap();
        apply(store, &RegistryOp::PutFramework("F2".into(), fw.clone()))
            .await
            .unwrap();
        apply(store, &RegistryOp::RemoveFramework("F2".into(), 1.0))
            .await
            .unwrap();
        let rec = AgentRecord {
            info: v1::AgentInfo {
                hostname: "h".into(),
                ..Default::default()
            },
            endpoint: "http://h:5051".into(),
            checkpointed_resources: Vec::new(),
        };
        apply(store, &RegistryOp::PutAgent("A-S0".into(), rec))
            .await
            .unwrap();
        let reg = load(store).await.unwrap();
        assert_eq!(reg.frameworks, vec![fw]);
        assert_eq!(reg.removed_frameworks, vec![FrameworkId::from("F2")]);
        assert_eq!(reg.agents[0].0, AgentId::from("A-S0"));
        drop(b);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
