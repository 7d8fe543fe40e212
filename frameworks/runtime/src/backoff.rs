//! Exponential backoff: `initial`, then `x factor` per failure, capped at `max`.

use std::time::Duration;

/// An exponential backoff. Pure: the caller decides when to sleep.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    factor: f64,
    failures: u32,
}

impl Backoff {
    /// A backoff starting at `initial`, multiplied by `factor` per failure, never above `max`.
    /// A factor below 1 is read as 1.
    pub fn new(initial: Duration, factor: f64, max: Duration) -> Self {
        Self {
            initial,
            max,
            factor: if factor.is_finite() && factor >= 1.0 {
                factor
            } else {
                1.0
            },
            failures: 0,
        }
    }

    /// Records a failure and returns how long to wait before the next attempt:
    /// `initial x factor^(failures-1)`, capped at `max`.
    pub fn next_delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        self.current()
    }

    /// The delay for the failures recorded so far (zero when there were none).
    pub fn current(&self) -> Duration {
        if self.failures == 0 {
            return Duration::ZERO;
        }
        let exp = (self.failures - 1).min(1000) as i32;
        let secs = self.initial.as_secs_f64() * self.factor.powi(exp);
        if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            self.max
        } else {
            Duration::from_secs_f64(secs)
        }
    }

    /// Failures recorded since the last reset.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Forgets the failures: the next delay is `initial` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_by_the_factor_and_caps() {
        let mut b = Backoff::new(Duration::from_secs(1), 2.0, Duration::from_secs(5));
        assert_eq!(b.current(), Duration::ZERO);
        assert_eq!(b.next_delay(), Duration::from_secs(1));
        assert_eq!(b.next_delay(), Duration::from_secs(2));
        assert_eq!(b.next_delay(), Duration::from_secs(4));
        assert_eq!(b.next_delay(), Duration::from_secs(5));
        assert_eq!(b.next_delay(), Duration::from_secs(5));
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_secs(1));
    }

    #[test]
    fn marathon_defaults() {
        let mut b = Backoff::new(Duration::from_secs(1), 1.15, Duration::from_secs(300));
        b.next_delay();
        let second = b.next_delay();
        assert!((second.as_secs_f64() - 1.15).abs() < 1e-9, "{second:?}");
        for _ in 0..100 {
            b.next_delay();
        }
        assert_eq!(b.current(), Duration::from_secs(300));
    }
}
