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
//!
//! An event is serialised once, whatever the number of subscribers: they all
//! receive the same [`SharedEvent`], and each wire framing (a server-sent
//! event, a RecordIO record) is built once, by the first subscriber that
//! writes it, and shared by the others.
//!
//! The bus also keeps what only the UI needs and the master's state does not
//! hold: per-framework offer counters and the recent history of role shares.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// Events kept for late subscribers of the offer timeline.
const RECENT: usize = 500;
/// Events queued per subscriber before it is dropped as too slow.
pub const SUBSCRIBER_BUFFER: usize = 4096;
/// How often role shares are sampled for the roles page's chart.
pub const ROLE_SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Role share samples kept: ten minutes' worth.
const ROLE_SAMPLES: usize = 120;

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

// === SharedEvent ===

/// One event as compact ASCII JSON (`{"type": KIND, "<kind>": body}`),
/// shared by every subscriber, with its wire framings built on first use.
#[derive(Debug)]
pub struct SharedEvent {
    kind: String,
    /// Its number on the bus (0 for events outside it: snapshots, heartbeats).
    seq: u64,
    json: Bytes,
    sse: OnceLock<Bytes>,
    recordio: OnceLock<Bytes>,
}

impl SharedEvent {
    /// Serialises `event` (an object with a string `type`).
    pub fn new(event: &Value) -> Self {
        Self::numbered(event, 0)
    }

    fn numbered(event: &Value, seq: u64) -> Self {
        // ASCII-only, so RecordIO lengths are the same in bytes and characters.
        let json = strata_proto::v1::json::to_ascii_json(event);
        Self {
            kind: event["type"].as_str().unwrap_or("message").to_owned(),
            seq,
            json: Bytes::from(json),
            sse: OnceLock::new(),
            recordio: OnceLock::new(),
        }
    }

    /// `{"type": "HEARTBEAT"}`, sent on idle streams.
    pub fn heartbeat() -> Arc<Self> {
        Arc::new(Self::new(&json!({"type": "HEARTBEAT"})))
    }

    /// The event's type, e.g. `TASK_ADDED`.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The event as JSON.
    pub fn json(&self) -> &Bytes {
        &self.json
    }

    /// The event parsed back (for tests and diagnostics).
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or_default()
    }

    /// Its number on the bus: events are numbered from 1 in the order they
    /// were emitted; 0 for events outside the bus.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The event as a server-sent event: `id: SEQ` (for numbered events),
    /// `event: KIND`, `data: JSON` (compact JSON has no newlines, so one data
    /// line carries it).
    pub fn sse(&self) -> Bytes {
        self.sse
            .get_or_init(|| {
                let mut out = Vec::with_capacity(self.json.len() + self.kind.len() + 40);
                if self.seq > 0 {
                    out.extend_from_slice(format!("id: {}\n", self.seq).as_bytes());
                }
                out.extend_from_slice(b"event: ");
                out.extend_from_slice(self.kind.as_bytes());
                out.extend_from_slice(b"\ndata: ");
                out.extend_from_slice(&self.json);
                out.extend_from_slice(b"\n\n");
                Bytes::from(out)
            })
            .clone()
    }

    /// The event as one RecordIO record (`<length>\n<json>`).
    pub fn recordio(&self) -> Bytes {
        self.recordio
            .get_or_init(|| strata_proto::recordio::encode(&self.json))
            .clone()
    }
}

// === EventBus ===

/// Role shares at one moment.
#[derive(Debug, Clone)]
pub struct RoleSample {
    /// When (unix seconds).
    pub at: f64,
    /// Each role's weighted DRF share.
    pub shares: Vec<(String, f64)>,
}

/// A rendered view kept for a short while, for many readers.
#[derive(Debug, Clone)]
pub struct Cached {
    /// When it was rendered (master time).
    pub at: Duration,
    /// The view.
    pub value: Value,
}

/// Subscribers, the recent offer timeline, and UI-only history.
#[derive(Default)]
pub struct EventBus {
    subscribers: Vec<mpsc::Sender<Arc<SharedEvent>>>,
    seq: u64,
    /// The UI overview as last rendered (see `ui_json::overview_cached`).
    pub overview: Option<Cached>,
    recent_offers: VecDeque<Arc<Value>>,
    /// Offer counters by framework id.
    pub offer_counts: BTreeMap<String, OfferCounts>,
    role_samples: VecDeque<RoleSample>,
    last_role_sample: Option<Duration>,
}

impl EventBus {
    /// True when someone listens (callers skip building events otherwise).
    pub fn active(&self) -> bool {
        !self.subscribers.is_empty()
    }

    /// Adds a subscriber; it receives every event from now on.
    pub fn subscribe(&mut self) -> mpsc::Receiver<Arc<SharedEvent>> {
        let (tx, rx) = mpsc::channel(SUBSCRIBER_BUFFER);
        self.subscribers.push(tx);
        rx
    }

    /// The number of the latest event sent to subscribers (0: none yet).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The most recent offer events, oldest first.
    pub fn recent_offers(&self) -> Vec<Value> {
        self.recent_offers.iter().map(|v| (**v).clone()).collect()
    }

    /// Sends `{"type": kind, <kind lower-case>: body}` to every subscriber,
    /// serialised once. A subscriber whose queue is full is dropped (it can
    /// re-subscribe).
    pub fn emit(&mut self, kind: &str, body: Value) {
        let is_offer = kind.starts_with("OFFER_");
        if self.subscribers.is_empty() && !is_offer {
            return;
        }
        let mut ev = serde_json::Map::new();
        ev.insert("type".into(), json!(kind));
        ev.insert(kind.to_lowercase(), body);
        let ev = Value::Object(ev);
        if !self.subscribers.is_empty() {
            self.seq += 1;
            let shared = Arc::new(SharedEvent::numbered(&ev, self.seq));
            self.subscribers
                .retain(|s| s.try_send(shared.clone()).is_ok());
        }
        if is_offer {
            self.recent_offers.push_back(Arc::new(ev));
            while self.recent_offers.len() > RECENT {
                self.recent_offers.pop_front();
            }
        }
    }

    /// Counts an offer event for a framework.
    pub fn count(&mut self, framework_id: &str, f: impl FnOnce(&mut OfferCounts)) {
        f(self
            .offer_counts
            .entry(framework_id.to_owned())
            .or_default());
    }

    /// True when the next role share sample is due at `now` (master time).
    pub fn role_sample_due(&self, now: Duration) -> bool {
        self.last_role_sample
            .is_none_or(|t| now.saturating_sub(t) >= ROLE_SAMPLE_EVERY)
    }

    /// Keeps a sample of role shares taken at `now` (master time), dropping
    /// samples older than ten minutes' worth.
    pub fn record_role_sample(&mut self, now: Duration, sample: RoleSample) {
        self.last_role_sample = Some(now);
        self.role_samples.push_back(sample);
        while self.role_samples.len() > ROLE_SAMPLES {
            self.role_samples.pop_front();
        }
    }

    /// Role share samples, oldest first.
    pub fn role_samples(&self) -> impl Iterator<Item = &RoleSample> {
        self.role_samples.iter()
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
        assert_eq!(ev.kind(), "TASK_ADDED");
        assert_eq!(ev.value()["task_added"]["task"]["id"], "t");
        for _ in 0..SUBSCRIBER_BUFFER + 1 {
            bus.emit("HEARTBEAT", json!({}));
        }
        assert!(!bus.active(), "a subscriber that stops reading is dropped");
        bus.emit("OFFER_MADE", json!({"offer": {}}));
        assert_eq!(bus.recent_offers().len(), 1);
    }

    #[test]
    fn every_subscriber_gets_the_same_bytes() {
        let mut bus = EventBus::default();
        let mut rxs: Vec<_> = (0..3).map(|_| bus.subscribe()).collect();
        bus.emit(
            "TASK_UPDATED",
            json!({"state": "TASK_RUNNING", "note": "caf\u{e9}"}),
        );
        let got: Vec<Arc<SharedEvent>> = rxs.iter_mut().map(|r| r.try_recv().unwrap()).collect();
        assert!(
            got.iter().all(|e| Arc::ptr_eq(e, &got[0])),
            "one event, shared"
        );
        // Built once, then the same buffer for everyone.
        let a = got[0].sse();
        let b = got[1].sse();
        assert_eq!(a.as_ptr(), b.as_ptr());
        let json = std::str::from_utf8(got[0].json()).unwrap();
        assert!(json.is_ascii() && json.contains(r"caf\u00e9"), "{json}");
        assert_eq!(got[0].seq(), 1);
        assert_eq!(bus.seq(), 1);
        assert_eq!(
            a,
            format!("id: 1\nevent: TASK_UPDATED\ndata: {json}\n\n").as_bytes()
        );
        assert_eq!(
            got[2].recordio(),
            format!("{}\n{json}", json.len()).as_bytes()
        );
    }

    #[test]
    fn role_samples_are_taken_every_few_seconds_and_bounded() {
        let mut bus = EventBus::default();
        let sample = |at| RoleSample {
            at,
            shares: vec![("eng".into(), 0.5)],
        };
        assert!(bus.role_sample_due(Duration::ZERO));
        bus.record_role_sample(Duration::ZERO, sample(0.0));
        assert!(!bus.role_sample_due(Duration::from_secs(1)));
        assert!(bus.role_sample_due(ROLE_SAMPLE_EVERY));
        for i in 1..=(ROLE_SAMPLES as u64 + 10) {
            bus.record_role_sample(ROLE_SAMPLE_EVERY * i as u32, sample(i as f64));
        }
        assert_eq!(bus.role_samples().count(), ROLE_SAMPLES);
        assert_eq!(bus.role_samples().next().unwrap().at, 11.0);
    }
}
