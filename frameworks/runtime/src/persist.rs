//! Persistence helpers: the framework id, kept in the store so that a restarted framework
//! re-subscribes as itself and gets its tasks back.

use std::sync::Arc;

use strata_client::v1;
use strata_store::Store;

use crate::Result;

/// Where a framework keeps its id: one store key.
#[derive(Clone)]
pub struct FrameworkIdStore {
    store: Arc<dyn Store>,
    key: String,
}

impl std::fmt::Debug for FrameworkIdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameworkIdStore")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl FrameworkIdStore {
    /// The id kept under `key` (for example `marathon/framework-id`).
    pub fn new(store: Arc<dyn Store>, key: impl Into<String>) -> Self {
        Self {
            store,
            key: key.into(),
        }
    }

    /// The saved id, if any.
    pub async fn load(&self) -> Result<Option<v1::FrameworkId>> {
        Ok(self
            .store
            .get(&self.key)
            .await?
            .and_then(|v| String::from_utf8(v.value).ok())
            .filter(|s| !s.is_empty())
            .map(|s| v1::framework_id(&s)))
    }

    /// Saves `id` (durable when this returns).
    pub async fn save(&self, id: &v1::FrameworkId) -> Result<()> {
        self.store
            .put(&self.key, id.value.as_bytes().to_vec())
            .await?;
        Ok(())
    }

    /// Forgets the id: the next subscription registers a new framework.
    pub async fn clear(&self) -> Result<()> {
        self.store.delete(&self.key, None).await?;
        Ok(())
    }
}
