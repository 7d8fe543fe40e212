//! The event bus behind `/v2/events`: every event is one compact JSON line with `eventType`
//! and `timestamp`, fanned out to every attached stream.

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::time;

/// One published event.
#[derive(Debug, Clone)]
pub struct MarathonEvent {
    /// `status_update_event`, `deployment_info`, ...
    pub event_type: String,
    /// The whole event as one line of JSON.
    pub json: String,
}

/// Publishes events to every `/v2/events` stream. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<MarathonEvent>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    /// A bus that buffers up to 4096 events per slow subscriber.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(4096);
        Self { tx }
    }

    /// Publishes `fields` (an object) as an event of `event_type`, adding `eventType` and
    /// `timestamp`.
    pub fn publish(&self, event_type: &str, fields: Value) {
        let mut v = match fields {
            Value::Object(m) => Value::Object(m),
            _ => json!({}),
        };
        v["eventType"] = json!(event_type);
        v["timestamp"] = json!(time::iso(time::now_ms()));
        let event = MarathonEvent {
            event_type: event_type.to_owned(),
            json: v.to_string(),
        };
        tracing::debug!(event_type, "event");
        let _ = self.tx.send(Arc::new(event));
    }

    /// A new subscription, receiving events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<MarathonEvent>> {
        self.tx.subscribe()
    }
}
