//! The last hour of Odoo latency, minute by minute, for the console's dashboard: Prometheus
//! histograms count since start; this keeps sixty one-minute slots (count, sum, max and the same
//! buckets), reused as the clock moves on. Lock-free; a slot being reset while another thread
//! records into it can lose that one sample (the figures are for people, not billing).

use std::sync::atomic::{AtomicU64, Ordering};

/// Bucket upper bounds in microseconds (1 ms .. 20 s, as the Prometheus histogram), then +Inf.
const BOUNDS_US: [u64; 14] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000, 20_000_000,
];

struct Slot {
    /// The Unix minute this slot holds (`u64::MAX`: never used).
    minute: AtomicU64,
    count: AtomicU64,
    sum_us: AtomicU64,
    max_us: AtomicU64,
    buckets: [AtomicU64; BOUNDS_US.len() + 1],
}

impl Slot {
    fn new() -> Self {
        Self {
            minute: AtomicU64::new(u64::MAX),
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// Sixty one-minute slots.
pub struct Window {
    slots: [Slot; 60],
}

/// The last hour, summed.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Summary {
    pub count: u64,
    pub mean_ms: f64,
    /// The upper bound of the bucket holding the 95th percentile (`None`: beyond 20 s).
    pub p95_ms: Option<f64>,
    pub max_ms: f64,
}

impl Default for Window {
    fn default() -> Self {
        Self {
            slots: std::array::from_fn(|_| Slot::new()),
        }
    }
}

fn unix_minute(now: std::time::SystemTime) -> u64 {
    now.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 60)
        .unwrap_or(0)
}

impl Window {
    /// Records one call that took `seconds`, at `now`.
    pub fn record(&self, seconds: f64, now: std::time::SystemTime) {
        let minute = unix_minute(now);
        let slot = &self.slots[(minute % 60) as usize];
        let held = slot.minute.load(Ordering::Acquire);
        if held != minute
            && slot
                .minute
                .compare_exchange(held, minute, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            slot.count.store(0, Ordering::Relaxed);
            slot.sum_us.store(0, Ordering::Relaxed);
            slot.max_us.store(0, Ordering::Relaxed);
            for b in &slot.buckets {
                b.store(0, Ordering::Relaxed);
            }
        }
        let us = if seconds.is_finite() && seconds > 0.0 {
            (seconds * 1e6) as u64
        } else {
            0
        };
        slot.count.fetch_add(1, Ordering::Relaxed);
        slot.sum_us.fetch_add(us, Ordering::Relaxed);
        slot.max_us.fetch_max(us, Ordering::Relaxed);
        let i = BOUNDS_US
            .iter()
            .position(|b| us <= *b)
            .unwrap_or(BOUNDS_US.len());
        slot.buckets[i].fetch_add(1, Ordering::Relaxed);
    }

    /// The sixty minutes up to `now` (the current one included).
    pub fn last_hour(&self, now: std::time::SystemTime) -> Summary {
        let minute = unix_minute(now);
        let (mut count, mut sum, mut max) = (0u64, 0u64, 0u64);
        let mut buckets = [0u64; BOUNDS_US.len() + 1];
        for slot in &self.slots {
            let m = slot.minute.load(Ordering::Acquire);
            if m == u64::MAX || m > minute || minute - m >= 60 {
                continue;
            }
            count += slot.count.load(Ordering::Relaxed);
            sum += slot.sum_us.load(Ordering::Relaxed);
            max = max.max(slot.max_us.load(Ordering::Relaxed));
            for (total, b) in buckets.iter_mut().zip(&slot.buckets) {
                *total += b.load(Ordering::Relaxed);
            }
        }
        if count == 0 {
            return Summary::default();
        }
        let wanted = count.saturating_mul(95).div_ceil(100);
        let mut seen = 0;
        let mut p95_ms = None;
        for (i, n) in buckets.iter().enumerate() {
            seen += n;
            if seen >= wanted {
                p95_ms = BOUNDS_US.get(i).map(|b| *b as f64 / 1000.0);
                break;
            }
        }
        Summary {
            count,
            mean_ms: sum as f64 / count as f64 / 1000.0,
            p95_ms,
            max_ms: max as f64 / 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    #[test]
    fn sums_the_last_sixty_minutes_and_forgets_older_ones() {
        let w = Window::default();
        let t0 = UNIX_EPOCH + Duration::from_secs(60 * 1_000_000);
        for _ in 0..90 {
            w.record(0.004, t0);
        }
        for _ in 0..10 {
            w.record(0.2, t0 + Duration::from_secs(60 * 30));
        }
        let s = w.last_hour(t0 + Duration::from_secs(60 * 30));
        assert_eq!(s.count, 100);
        assert!((s.mean_ms - (90.0 * 4.0 + 10.0 * 200.0) / 100.0).abs() < 0.01);
        assert_eq!(s.p95_ms, Some(250.0));
        assert!((s.max_ms - 200.0).abs() < 0.01);
        // An hour after t0, its minute is gone; the slot is reused for the new minute.
        let later = t0 + Duration::from_secs(60 * 60);
        assert_eq!(w.last_hour(later).count, 10);
        w.record(0.001, later);
        let s = w.last_hour(later);
        assert_eq!(s.count, 11);
        assert_eq!(s.p95_ms, Some(250.0));
        assert_eq!(
            Window::default().last_hour(SystemTime::now()),
            Summary::default()
        );
    }
}
