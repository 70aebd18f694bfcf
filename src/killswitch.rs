//! The global kill switch: `open`, `read-only` (every write refused) or `closed` (every tool call
//! refused), with a reason.
//!
//! The switch lives in the store, so it survives restarts and every instance sharing the store
//! follows a change within about a second ([`KillSwitch::watch`]). SIGUSR1/SIGUSR2 close and reopen
//! *this* instance only ([`KillSwitch::set_local`]); the effective mode is the stricter of the two.

use crate::store::{KillSwitchRow, Store, StoreError};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use time::OffsetDateTime;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Open,
    ReadOnly,
    Closed,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Open => "open",
            Mode::ReadOnly => "read-only",
            Mode::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "open" => Some(Mode::Open),
            "read-only" | "read_only" | "readonly" => Some(Mode::ReadOnly),
            "closed" => Some(Mode::Closed),
            _ => None,
        }
    }
}

/// The switch's state with who set it and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct State {
    pub mode: Mode,
    pub reason: String,
    pub changed_by: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub changed_at: Option<OffsetDateTime>,
    /// Set by a signal on this instance only.
    pub local: bool,
}

impl State {
    fn open() -> Self {
        State {
            mode: Mode::Open,
            reason: String::new(),
            changed_by: String::new(),
            changed_at: None,
            local: false,
        }
    }

    /// The stable error code of a refusal in this mode.
    pub fn error_code(&self) -> &'static str {
        match self.mode {
            Mode::Open => "",
            Mode::ReadOnly => "kill_switch_read_only",
            Mode::Closed => "kill_switch_closed",
        }
    }
}

pub struct KillSwitch {
    store: Arc<Store>,
    shared: RwLock<State>,
    local: RwLock<Option<State>>,
    /// The mode in force, for those who follow changes (the MCP endpoint tells open sessions
    /// that their tool list changed).
    mode: tokio::sync::watch::Sender<Mode>,
}

impl KillSwitch {
    /// Reads the stored state (open when never set).
    pub async fn load(store: Arc<Store>) -> Result<Arc<KillSwitch>, StoreError> {
        let shared = match store.get_kill_switch().await? {
            Some(row) => from_row(&row),
            None => State::open(),
        };
        let (mode, _) = tokio::sync::watch::channel(shared.mode);
        Ok(Arc::new(KillSwitch {
            store,
            shared: RwLock::new(shared),
            local: RwLock::new(None),
            mode,
        }))
    }

    /// Follows the mode in force: the receiver sees every change (set here, by a signal, or by
    /// another instance).
    pub fn changes(&self) -> tokio::sync::watch::Receiver<Mode> {
        self.mode.subscribe()
    }

    fn publish(&self) {
        let mode = self.state().mode;
        self.mode.send_if_modified(|m| {
            let changed = *m != mode;
            *m = mode;
            changed
        });
    }

    /// The state in force: the stricter of the shared one and this instance's signal override.
    pub fn state(&self) -> State {
        let shared = self
            .shared
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|_| State {
                mode: Mode::Closed,
                reason: "kill switch state unreadable".into(),
                ..State::open()
            });
        match self.local.read().ok().and_then(|l| l.clone()) {
            Some(local) if local.mode > shared.mode => local,
            _ => shared,
        }
    }

    /// Sets the shared switch (persisted; other instances follow).
    pub async fn set(&self, mode: Mode, reason: &str, by: &str) -> Result<State, StoreError> {
        let row = KillSwitchRow {
            mode: mode.as_str().to_string(),
            reason: reason.to_string(),
            changed_by: by.to_string(),
            changed_at: OffsetDateTime::now_utc(),
        };
        self.store.set_kill_switch(&row).await?;
        let state = from_row(&row);
        if let Ok(mut s) = self.shared.write() {
            *s = state.clone();
        }
        self.publish();
        Ok(state)
    }

    /// This instance only (signals): `Some(mode)` overrides until cleared with `None`.
    pub fn set_local(&self, mode: Option<Mode>, reason: &str) {
        if let Ok(mut l) = self.local.write() {
            *l = mode.map(|mode| State {
                mode,
                reason: reason.to_string(),
                changed_by: "signal".into(),
                changed_at: Some(OffsetDateTime::now_utc()),
                local: true,
            });
        }
        self.publish();
    }

    /// Follows changes made by other instances (or the CLI), polling every `every`. A store that
    /// cannot be read leaves the last known state in force.
    pub fn watch(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(me) = weak.upgrade() else { return };
                match me.store.get_kill_switch().await {
                    Ok(Some(row)) => {
                        let state = from_row(&row);
                        let changed = me.shared.read().map(|s| *s != state).unwrap_or(true);
                        if changed {
                            tracing::warn!(mode = state.mode.as_str(), reason = %state.reason, by = %state.changed_by, "kill switch changed");
                            if let Ok(mut s) = me.shared.write() {
                                *s = state;
                            }
                            me.publish();
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the kill switch; keeping the last known state")
                    }
                }
            }
        })
    }
}

fn from_row(row: &KillSwitchRow) -> State {
    State {
        // An unknown stored mode is the strictest one: fail closed.
        mode: Mode::parse(&row.mode).unwrap_or(Mode::Closed),
        reason: row.reason.clone(),
        changed_by: row.changed_by.clone(),
        changed_at: Some(row.changed_at),
        local: false,
    }
}
