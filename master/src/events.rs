//! The operator event bus: what changed in the master, pushed to operator
//! API subscribers (`POST /api/v1/operator` SUBSCRIBE, RecordIO) and to
//! browsers (`GET /api/v1/events`, server-sent events), so that views update
//! from events instead of re-reading `/master/state`.
//!
//! Events follow the Mesos v1 operator API (`TASK_ADDED`, `TASK_UPDATED`,
//! `AGENT_ADDED`, `AGENT_REMOVED`, `FRAMEWORK_ADDED`, `FRAMEWORK_UPDATED`,
//! `FRAMEWORK_REMOVED`), plus Strata's offer events (`OFFER_MADE`,
//! `OFFER_ACCEPTED`, `OFFER_DECLINED`, `OFFER_RESCINDED`) that show the
//! offer flow. Building an event costs nothing when nobody listens.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::mpsc;

/// Events kept for late subscribers of the offer timeline.
const RECENT: usize = 500;
/// Events queued per subscriber before it is dropped as too slow.
pub const SUBSCRIBER_BUFFER: usize = 4096;

/// Per-framework offer counters, for the UI.
#[derive(Debug, Default, Clone, Copy)]
pub struct OfferCounts {
    /// Offers made.
    pub received: u64,
    /// Offers accepted.
    pub accepted: u64,
    /// Offers declined.
    pub declined: u64,
    /// Offers rescinded.
    pub rescinded: u64,
}

/// Subscribers and the recent offer timeline.
#[derive(Default)]
pub struct EventBus {
    subscribers: Vec<mpsc::Sender<Arc<Value>>>,
    recent_offers: VecDeque<Arc<Value>>,
    /// Offer counters by framework id.
    pub offer_counts: BTreeMap<String, OfferCounts>,
}

impl EventBus {
    /// True when someone listens (callers skip building events otherwise).
    pub fn active(&self) -> bool {
        !self.subscribers.is_empty()
    }

    /// Adds a subscriber; it receives every event from now on.
    pub fn subscribe(&mut self) -> mpsc::Receiver<Arc<Value>> {
        let (tx, rx) = mpsc::channel(SUBSCRIBER_BUFFER);
        self.subscribers.push(tx);
        rx
    }

    /// The most recent offer events, oldest first.
    pub fn recent_offers(&self) -> Vec<Value> {
        self.recent_offers.iter().map(|v| (**v).clone()).collect()
    }

    /// Sends `{"type": kind, <kind lower-case>: body}` to every subscriber.
    /// A subscriber whose queue is full is dropped (it can re-subscribe).
    pub fn emit(&mut self, kind: &str, body: Value) {
        let is_offer = kind.starts_with("OFFER_");
        if self.subscribers.is_empty() && !is_offer {
            return;
        }
        let mut ev = serde_json::Map::new();
        ev.insert("type".into(), json!(kind));
        ev.insert(kind.to_lowercase(), body);
        let ev = Arc::new(Value::Object(ev));
        if is_offer {
            self.recent_offers.push_back(ev.clone());
            while self.recent_offers.len() > RECENT {
                self.recent_offers.pop_front();
            }
        }
        self.subscribers.retain(|s| s.try_send(ev.clone()).is_ok());
    }

    /// Counts an offer event for a framework.
    pub fn count(&mut self, framework_id: &str, f: impl FnOnce(&mut OfferCounts)) {
        f(self
            .offer_counts
            .entry(framework_id.to_owned())
            .or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_reach_subscribers_and_slow_ones_are_dropped() {
        let mut bus = EventBus::default();
        bus.emit("TASK_ADDED", json!({}));
        let mut rx = bus.subscribe();
        bus.emit("TASK_ADDED", json!({"task": {"id": "t"}}));
        let ev = rx.try_recv().unwrap();
        assert_eq!(ev["type"], "TASK_ADDED");
        assert_eq!(ev["task_added"]["task"]["id"], "t");
        for _ in 0..SUBSCRIBER_BUFFER + 1 {
            bus.emit("HEARTBEAT", json!({}));
        }
        assert!(!bus.active(), "a subscriber that stops reading is dropped");
        bus.emit("OFFER_MADE", json!({"offer": {}}));
        assert_eq!(bus.recent_offers().len(), 1);
    }
}
