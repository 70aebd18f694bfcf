//! The circuit breaker in front of Odoo: after `failures` requests in a row found Odoo
//! unreachable (the connection failed, it timed out, the answer broke off, a proxy answered 502,
//! 503 or 504), requests are refused at once for a cooldown instead of piling onto an Odoo that
//! is down; then one request goes through as a probe: an answer (any answer, errors included)
//! closes the circuit, a failure opens it again for twice as long (at most a minute). Refused
//! requests are certainly not carried out. The state is in `/metrics` (`odoo_circuit`) and in
//! `/readyz`.

use super::error::{ErrorKind, OdooError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest cooldown.
const MAX_COOLDOWN: Duration = Duration::from_secs(60);

/// `[odoo] circuit_failures` / `circuit_cooldown_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Failures in a row that open the circuit (0: never).
    pub failures: u32,
    /// The first cooldown.
    pub cooldown: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            failures: 5,
            cooldown: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// Requests go through; this many failed in a row.
    Closed { failures: u32 },
    /// Refused until `until`; `last` is the failure that opened it.
    Open {
        until: Instant,
        cooldown: Duration,
        failures: u32,
        last: String,
    },
    /// One probe is out; the others are refused.
    Probing {
        cooldown: Duration,
        failures: u32,
        last: String,
    },
}

/// What the breaker says now, for `/metrics` and `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed,
    Open,
    Probing,
}

impl CircuitState {
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::Probing => "probing",
        }
    }
}

pub(crate) struct Breaker {
    settings: BreakerSettings,
    phase: Mutex<Phase>,
}

/// A request let through; say how it went with [`Pass::done`]. Dropped without it (the caller
/// gave up), a probe hands the next request the chance to probe.
pub(crate) struct Pass {
    breaker: Arc<Breaker>,
    probe: bool,
    settled: bool,
}

impl Pass {
    /// `reachable`: Odoo answered (even with an error). `what`: the failure, in words.
    pub(crate) fn done(mut self, reachable: bool, what: &str) {
        self.settled = true;
        self.breaker.settle(self.probe, reachable, what);
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        if !self.settled && self.probe {
            self.breaker.abandon_probe();
        }
    }
}

/// Whether an error means Odoo could not be reached (rather than Odoo answering with an error).
pub(crate) fn unreachable(e: &OdooError) -> bool {
    matches!(e.kind, ErrorKind::Transport | ErrorKind::Timeout)
}

impl Breaker {
    pub(crate) fn new(settings: BreakerSettings) -> Arc<Self> {
        Arc::new(Self {
            settings,
            phase: Mutex::new(Phase::Closed { failures: 0 }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Phase> {
        match self.phase.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub(crate) fn state(&self) -> CircuitState {
        match &*self.lock() {
            Phase::Closed { .. } => CircuitState::Closed,
            Phase::Open { .. } => CircuitState::Open,
            Phase::Probing { .. } => CircuitState::Probing,
        }
    }

    /// Lets a request through, or refuses it (certainly not carried out) with why and when to
    /// retry.
    pub(crate) fn admit(self: &Arc<Self>) -> Result<Pass, OdooError> {
        let mut phase = self.lock();
        let pass = |probe| Pass {
            breaker: self.clone(),
            probe,
            settled: false,
        };
        match &*phase {
            Phase::Closed { .. } => Ok(pass(false)),
            Phase::Open {
                until,
                cooldown,
                failures,
                last,
            } => {
                let now = Instant::now();
                if now >= *until {
                    *phase = Phase::Probing {
                        cooldown: *cooldown,
                        failures: *failures,
                        last: last.clone(),
                    };
                    return Ok(pass(true));
                }
                Err(refusal(
                    *failures,
                    last,
                    Some(until.saturating_duration_since(now)),
                ))
            }
            Phase::Probing { failures, last, .. } => Err(refusal(*failures, last, None)),
        }
    }

    fn settle(&self, probe: bool, reachable: bool, what: &str) {
        let mut phase = self.lock();
        if reachable {
            if !matches!(*phase, Phase::Closed { failures: 0 }) {
                if !matches!(*phase, Phase::Closed { .. }) {
                    tracing::info!("Odoo answers again: the circuit is closed");
                }
                *phase = Phase::Closed { failures: 0 };
            }
            return;
        }
        let next = match &*phase {
            Phase::Closed { failures } => {
                let failures = failures + 1;
                if self.settings.failures > 0 && failures >= self.settings.failures {
                    tracing::warn!(
                        failures,
                        last = what,
                        cooldown_s = self.settings.cooldown.as_secs_f32(),
                        "Odoo unreachable: the circuit opens"
                    );
                    Phase::Open {
                        until: Instant::now() + self.settings.cooldown,
                        cooldown: self.settings.cooldown,
                        failures,
                        last: what.to_string(),
                    }
                } else {
                    Phase::Closed { failures }
                }
            }
            Phase::Probing {
                cooldown, failures, ..
            } if probe => {
                let cooldown = (*cooldown * 2).min(MAX_COOLDOWN);
                tracing::warn!(
                    last = what,
                    cooldown_s = cooldown.as_secs_f32(),
                    "Odoo still unreachable: the circuit stays open"
                );
                Phase::Open {
                    until: Instant::now() + cooldown,
                    cooldown,
                    failures: failures + 1,
                    last: what.to_string(),
                }
            }
            // A request let through before the circuit opened: it changes nothing now.
            other => other.clone(),
        };
        *phase = next;
    }

    fn abandon_probe(&self) {
        let mut phase = self.lock();
        if let Phase::Probing {
            cooldown,
            failures,
            last,
        } = &*phase
        {
            *phase = Phase::Open {
                until: Instant::now(),
                cooldown: *cooldown,
                failures: *failures,
                last: last.clone(),
            };
        }
    }
}

fn refusal(failures: u32, last: &str, retry_in: Option<Duration>) -> OdooError {
    let when = match retry_in {
        Some(d) => format!(
            "odoo-warden sends it nothing for {} s more, then tries again",
            d.as_secs_f32().ceil().max(1.0)
        ),
        None => "odoo-warden is checking whether it is back".to_string(),
    };
    let mut e = OdooError::new(
        ErrorKind::Transport,
        format!(
            "Odoo is unreachable ({failures} requests in a row failed, the last: {last}); {when}. Nothing was sent to Odoo: retry in a moment"
        ),
    );
    e.not_applied = true;
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(failures: u32, cooldown_ms: u64) -> Arc<Breaker> {
        Breaker::new(BreakerSettings {
            failures,
            cooldown: Duration::from_millis(cooldown_ms),
        })
    }

    #[test]
    fn opens_after_failures_in_a_row_and_probes_after_the_cooldown() {
        let b = breaker(3, 50);
        // An answer in between starts the count again.
        b.admit().unwrap().done(false, "reset");
        b.admit().unwrap().done(false, "reset");
        b.admit().unwrap().done(true, "");
        b.admit().unwrap().done(false, "reset");
        b.admit().unwrap().done(false, "reset");
        assert_eq!(b.state(), CircuitState::Closed);
        b.admit().unwrap().done(false, "connection refused");
        assert_eq!(b.state(), CircuitState::Open);
        let e = b.admit().err().unwrap();
        assert!(e.not_applied && !e.outcome_unknown());
        assert!(
            e.message
                .contains("3 requests in a row failed, the last: connection refused")
        );
        std::thread::sleep(Duration::from_millis(60));
        // One probe; the others wait for it.
        let probe = b.admit().unwrap();
        assert_eq!(b.state(), CircuitState::Probing);
        assert!(
            b.admit()
                .err()
                .unwrap()
                .message
                .contains("checking whether it is back")
        );
        // It fails: open again, for twice as long.
        probe.done(false, "timeout");
        assert_eq!(b.state(), CircuitState::Open);
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.admit().is_err(), "the second cooldown is longer");
        std::thread::sleep(Duration::from_millis(50));
        b.admit().unwrap().done(true, "");
        assert_eq!(b.state(), CircuitState::Closed);
        b.admit().unwrap().done(true, "");
    }

    #[test]
    fn an_abandoned_probe_lets_the_next_request_probe() {
        let b = breaker(1, 0);
        b.admit().unwrap().done(false, "reset");
        let probe = b.admit().unwrap();
        drop(probe);
        assert!(b.admit().is_ok());
    }

    #[test]
    fn zero_failures_never_opens() {
        let b = breaker(0, 50);
        for _ in 0..100 {
            b.admit().unwrap().done(false, "reset");
        }
        assert_eq!(b.state(), CircuitState::Closed);
    }
}
