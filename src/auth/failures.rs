//! Failed sign-ins with a person's Odoo credential (the OAuth sign-in page, the console), by
//! login and by client address, in a sliding window: past the limit, sign-ins wait. An attempt
//! counts before Odoo is asked and is forgiven when it succeeds.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed sign-ins allowed per login, and per client address, within [`FAILURE_WINDOW`].
pub const FAILURES_PER_LOGIN: usize = 5;
pub const FAILURES_PER_ADDRESS: usize = 20;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Failed sign-ins, by login and by client address.
#[derive(Default)]
pub struct Failures {
    seen: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Failures {
    fn keys(login: &str, ip: Option<IpAddr>) -> Vec<(String, usize)> {
        let mut keys = vec![(
            format!("login:{}", login.trim().to_lowercase()),
            FAILURES_PER_LOGIN,
        )];
        if let Some(ip) = ip {
            // An IPv6 client holds a whole /64: it counts as one address.
            let address = match ip {
                std::net::IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
                    let s = v6.segments();
                    format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                }
                other => other.to_string(),
            };
            keys.push((format!("ip:{address}"), FAILURES_PER_ADDRESS));
        }
        keys
    }

    /// Counts an attempt, unless the limit is reached: then when sign-ins may be tried again.
    /// One lock for both, so that concurrent attempts cannot all pass the check. A successful
    /// attempt is then [`forgiven`](Self::forgive).
    pub fn try_attempt(&self, login: &str, ip: Option<IpAddr>) -> Result<(), Duration> {
        let Ok(mut seen) = self.seen.lock() else {
            // Fail closed: a poisoned counter lets nobody guess.
            return Err(FAILURE_WINDOW);
        };
        if let Some(wait) = Self::blocked(&mut seen, login, ip) {
            return Err(wait);
        }
        Self::add(&mut seen, login, ip);
        Ok(())
    }

    /// When sign-ins may be tried again, if the limit is reached.
    fn blocked(
        seen: &mut HashMap<String, VecDeque<Instant>>,
        login: &str,
        ip: Option<IpAddr>,
    ) -> Option<Duration> {
        Self::keys(login, ip)
            .into_iter()
            .filter_map(|(key, limit)| {
                let times = seen.get_mut(&key)?;
                while times.front().is_some_and(|t| t.elapsed() > FAILURE_WINDOW) {
                    times.pop_front();
                }
                (times.len() >= limit)
                    .then(|| {
                        times
                            .front()
                            .map(|t| FAILURE_WINDOW.saturating_sub(t.elapsed()))
                    })
                    .flatten()
            })
            .max()
    }

    fn add(seen: &mut HashMap<String, VecDeque<Instant>>, login: &str, ip: Option<IpAddr>) {
        if seen.len() > 10_000 {
            seen.retain(|_, t| t.back().is_some_and(|t| t.elapsed() < FAILURE_WINDOW));
            // Still full (many addresses): addresses go first; logins keep their count.
            if seen.len() > 10_000 {
                seen.retain(|k, _| k.starts_with("login:"));
            }
        }
        for (key, _) in Self::keys(login, ip) {
            seen.entry(key).or_default().push_back(Instant::now());
        }
    }

    /// Takes back the attempt [`try_attempt`](Self::try_attempt) counted: it succeeded.
    pub fn forgive(&self, login: &str, ip: Option<IpAddr>) {
        let Ok(mut seen) = self.seen.lock() else {
            return;
        };
        for (key, _) in Self::keys(login, ip) {
            if let Some(times) = seen.get_mut(&key) {
                times.pop_back();
            }
        }
    }
}
