//! The Mesos side: registers with the master as the framework `kubernetes` (through
//! `strata-client` only), keeps its framework id in the store so that a restart
//! re-subscribes as the same framework, and — having nothing to schedule until the pod
//! scheduler exists — declines every offer with a long filter and suppresses offers.
//!
//! A master that is unreachable never stops the API server: this loop retries with
//! exponential backoff for as long as the process runs.

use std::sync::Arc;
use std::time::Duration;

use strata_client::{calls, v1, SchedulerClient};
use strata_store::Store;

/// The store key holding the framework id.
pub const FRAMEWORK_ID_KEY: &str = "k8s/framework/id";
/// How long declined offers stay away.
const REFUSE_SECONDS: f64 = 3600.0;
/// How long the master keeps the framework's tasks while it is away (a week).
const FAILOVER_TIMEOUT: f64 = 7.0 * 24.0 * 3600.0;

fn event_type(event: &v1::SchedulerEvent) -> Option<v1::SchedulerEventType> {
    event
        .r#type
        .and_then(|t| v1::SchedulerEventType::try_from(t).ok())
}

async fn stored_id(store: &dyn Store) -> Option<v1::FrameworkId> {
    match store.get(FRAMEWORK_ID_KEY).await {
        Ok(Some(v)) => String::from_utf8(v.value)
            .ok()
            .filter(|s| !s.is_empty())
            .map(|s| v1::framework_id(&s)),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the stored framework id");
            None
        }
    }
}

/// Why a subscription ended.
enum Ended {
    /// The stream closed or broke: subscribe again with the same id.
    Disconnected,
    /// The master no longer knows the framework: subscribe as a new one.
    Removed,
}

async fn session(client: &SchedulerClient, store: &dyn Store, user: &str) -> Result<Ended, String> {
    let id = stored_id(store).await;
    let info = v1::FrameworkInfo {
        user: user.to_string(),
        name: "kubernetes".into(),
        id: id.clone(),
        failover_timeout: Some(FAILOVER_TIMEOUT),
        checkpoint: Some(true),
        ..Default::default()
    };
    let mut sub = client
        .subscribe(info, id.clone())
        .await
        .map_err(|e| e.to_string())?;
    let mut framework_id = id;
    while let Some(event) = sub.events.next_event().await {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "bad event from the master");
                continue;
            }
        };
        match event_type(&event) {
            Some(v1::SchedulerEventType::Subscribed) => {
                let Some(fid) = event.subscribed.and_then(|s| s.framework_id) else {
                    return Err("SUBSCRIBED without a framework id".into());
                };
                if framework_id.as_ref() != Some(&fid) {
                    if let Err(e) = store
                        .put(FRAMEWORK_ID_KEY, fid.value.clone().into_bytes())
                        .await
                    {
                        tracing::warn!(error = %e, "cannot store the framework id");
                    }
                }
                tracing::info!(framework_id = %fid.value, master = %sub.master, "registered with the master as framework kubernetes");
                // Nothing to schedule yet: no offers, please.
                if let Err(e) = client
                    .call(&sub.stream_id, calls::suppress(&fid, Vec::new()))
                    .await
                {
                    tracing::warn!(error = %e, "suppress failed");
                }
                framework_id = Some(fid);
            }
            Some(v1::SchedulerEventType::Offers) => {
                let (Some(fid), Some(offers)) = (&framework_id, event.offers) else {
                    continue;
                };
                let ids: Vec<v1::OfferId> =
                    offers.offers.into_iter().filter_map(|o| o.id).collect();
                if ids.is_empty() {
                    continue;
                }
                tracing::debug!(offers = ids.len(), "declining offers: nothing to schedule");
                let call = calls::decline(fid, ids, Some(calls::refuse_seconds(REFUSE_SECONDS)));
                if let Err(e) = client.call(&sub.stream_id, call).await {
                    tracing::warn!(error = %e, "decline failed");
                }
            }
            Some(v1::SchedulerEventType::Error) => {
                let message = event.error.map(|e| e.message).unwrap_or_default();
                tracing::warn!(message = %message, "the master sent an error");
                if message.contains("removed")
                    || message.contains("not registered")
                    || message.contains("torn down")
                {
                    let _ = store.delete(FRAMEWORK_ID_KEY, None).await;
                    return Ok(Ended::Removed);
                }
                return Ok(Ended::Disconnected);
            }
            _ => {}
        }
    }
    Ok(Ended::Disconnected)
}

/// Keeps the framework registered with the master at `master` until the task is dropped.
pub async fn run(master: String, store: Arc<dyn Store>) {
    let client = match SchedulerClient::new(&master) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(master = %master, error = %e, "invalid master address: not registering with mesos");
            return;
        }
    };
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let mut backoff = Duration::from_millis(500);
    loop {
        match session(&client, store.as_ref(), &user).await {
            Ok(Ended::Disconnected) => {
                tracing::info!(master = %master, "subscription ended; subscribing again");
                backoff = Duration::from_millis(500);
            }
            Ok(Ended::Removed) => {
                tracing::warn!("the master removed the framework; registering anew");
                backoff = Duration::from_millis(500);
            }
            Err(e) => {
                tracing::warn!(master = %master, error = %e, retry_in = ?backoff, "cannot subscribe to the master");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}
