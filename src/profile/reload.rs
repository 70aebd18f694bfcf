//! Loading a profile's policy file, and reloading every profile's at once (SIGHUP, the admin
//! API): all validated first, then swapped in.

use super::ProfileState;
use crate::config::Profile;
use crate::policy::Policy;
use std::sync::Arc;

/// A profile's policy: its file, or the built-in read-only default (`policies/read-only.toml`).
pub fn load_policy(profile: &Profile) -> anyhow::Result<Policy> {
    let policy = match &profile.policy {
        None => Ok(Policy::read_only_default()),
        Some(path) => Policy::load(path).map_err(|problems| {
            anyhow::anyhow!(
                "[profiles.{}] policy = \"{}\" has {} problem(s):\n  {}",
                profile.name,
                path.display(),
                problems.len(),
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n  ")
            )
        }),
    }?;
    for w in policy.warnings() {
        tracing::warn!(profile = %profile.name, "policy: {w}");
    }
    Ok(policy)
}

/// Reloads every profile's policy: all files are validated first; only if every one is valid are
/// they swapped in (each atomically); otherwise the policies in force stay and the problems are
/// returned.
pub struct PolicyReloader {
    entries: Vec<(Arc<ProfileState>, Profile)>,
}

impl PolicyReloader {
    /// Reloads these profiles, each from its `[profiles.NAME]` section.
    pub fn new(entries: Vec<(Arc<ProfileState>, Profile)>) -> Self {
        Self { entries }
    }

    /// The profiles it reloads, in the config's order.
    pub fn profiles(&self) -> impl Iterator<Item = &Arc<ProfileState>> {
        self.entries.iter().map(|(state, _)| state)
    }

    /// Ok: the reloaded profiles and their policy sources. Err: every problem found.
    pub fn reload(&self) -> Result<Vec<(String, String)>, Vec<String>> {
        let mut loaded = Vec::new();
        let mut problems = Vec::new();
        for (state, profile) in &self.entries {
            match load_policy(profile) {
                Ok(p) => loaded.push((state, p)),
                Err(e) => problems.push(format!("{e:#}")),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut done = Vec::new();
        for (state, policy) in loaded {
            done.push((state.name.clone(), policy.source().to_string()));
            state.set_policy(policy);
        }
        Ok(done)
    }

    /// Reloads and logs the outcome (SIGHUP).
    pub fn reload_and_log(&self, by: &str) {
        match self.reload() {
            Ok(done) => tracing::info!(by, profiles = ?done, "policies reloaded"),
            Err(problems) => tracing::error!(
                by,
                problems = ?problems,
                "policy reload refused: the policies in force stay"
            ),
        }
    }
}
