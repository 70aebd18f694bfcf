//! A profile's write budget: writes per minute, per key (`rate_limit.writes_per_minute`).

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;

/// A profile's write budget: writes per minute, per key. Only authenticated keys reach it, so it
/// holds at most one entry per key in the store and needs no sweeping.
pub struct WriteBudget {
    limiter: DefaultKeyedRateLimiter<String>,
    per_minute: u32,
}

impl WriteBudget {
    pub fn new(per_minute: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_minute)?;
        Some(Self {
            limiter: RateLimiter::keyed(Quota::per_minute(rate)),
            per_minute,
        })
    }

    /// Ok, or the seconds until this key may write again.
    pub fn check(&self, key_id: &str) -> Result<(), u64> {
        self.limiter.check_key(&key_id.to_string()).map_err(|nu| {
            let wait = nu.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }
}

/// A write refused by the budget: the message says when to retry.
#[derive(Debug, Clone)]
pub struct BudgetExceeded {
    pub per_minute: u32,
    pub profile: String,
    /// Seconds until this key may write again.
    pub retry_in: u64,
}

impl std::fmt::Display for BudgetExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "write budget exceeded: this key may make {} writes per minute under profile \"{}\"; retry in {} s",
            self.per_minute, self.profile, self.retry_in
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_budget() {
        let b = WriteBudget::new(2).unwrap();
        assert!(b.check("k").is_ok());
        assert!(b.check("k").is_ok());
        let wait = b.check("k").unwrap_err();
        assert!((1..=30).contains(&wait), "{wait}");
        assert!(b.check("other").is_ok(), "budgets are per key");
    }
}
