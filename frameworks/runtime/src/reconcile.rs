//! When to reconcile task state with the master.
//!
//! Mesos's advice: after every (re-)subscription, reconcile *explicitly* (name every task the
//! framework believes is live; the master answers for each, TASK_LOST / TASK_UNKNOWN for those
//! it does not know), and then *implicitly* now and then (an empty list: the master answers
//! with every task it knows, which finds tasks the framework forgot). Unanswered explicit
//! reconciliation is repeated. [`ReconcileSchedule`] is the pure timer for that; the
//! framework sends the calls with [`Scheduler::reconcile`](crate::Scheduler::reconcile).

use std::time::Duration;

use tokio::time::Instant;

/// Which reconciliation is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileKind {
    /// Name every task believed live.
    Explicit,
    /// Ask for every task the master knows (an empty task list).
    Implicit,
}

/// The reconciliation timer of one framework.
#[derive(Debug, Clone)]
pub struct ReconcileSchedule {
    explicit_interval: Duration,
    implicit_interval: Duration,
    next_explicit: Option<Instant>,
    next_implicit: Option<Instant>,
}

impl ReconcileSchedule {
    /// Explicit reconciliation every `explicit_interval` and implicit every
    /// `implicit_interval`, both starting at the next subscription.
    pub fn new(explicit_interval: Duration, implicit_interval: Duration) -> Self {
        Self {
            explicit_interval,
            implicit_interval,
            next_explicit: None,
            next_implicit: None,
        }
    }

    /// A subscription opened at `now`: explicit reconciliation is due at once, implicit
    /// right after it.
    pub fn subscribed(&mut self, now: Instant) {
        self.next_explicit = Some(now);
        self.next_implicit = Some(now);
    }

    /// The subscription was lost: nothing is due until the next one.
    pub fn disconnected(&mut self) {
        self.next_explicit = None;
        self.next_implicit = None;
    }

    /// What is due at `now` (explicit first), rescheduling it.
    pub fn due(&mut self, now: Instant) -> Option<ReconcileKind> {
        if self.next_explicit.is_some_and(|t| t <= now) {
            self.next_explicit = Some(now + self.explicit_interval);
            return Some(ReconcileKind::Explicit);
        }
        if self.next_implicit.is_some_and(|t| t <= now) {
            self.next_implicit = Some(now + self.implicit_interval);
            return Some(ReconcileKind::Implicit);
        }
        None
    }

    /// When something is due next, if subscribed.
    pub fn next_due(&self) -> Option<Instant> {
        match (self.next_explicit, self.next_implicit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn explicit_then_implicit_then_on_their_intervals() {
        let mut s = ReconcileSchedule::new(Duration::from_secs(10), Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(s.due(t0), None);
        s.subscribed(t0);
        assert_eq!(s.due(t0), Some(ReconcileKind::Explicit));
        assert_eq!(s.due(t0), Some(ReconcileKind::Implicit));
        assert_eq!(s.due(t0), None);
        assert_eq!(s.next_due(), Some(t0 + Duration::from_secs(10)));
        assert_eq!(
            s.due(t0 + Duration::from_secs(10)),
            Some(ReconcileKind::Explicit)
        );
        assert_eq!(
            s.due(t0 + Duration::from_secs(60)),
            Some(ReconcileKind::Explicit)
        );
        assert_eq!(
            s.due(t0 + Duration::from_secs(60)),
            Some(ReconcileKind::Implicit)
        );
        s.disconnected();
        assert_eq!(s.due(t0 + Duration::from_secs(1000)), None);
    }
}
