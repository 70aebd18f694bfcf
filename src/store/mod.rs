//! The store: API keys and the audit trail (see `audit.rs`); approvals and kill-switch state are
//! later migrations (README, "Production": upgrading).
//!
//! One [`Store`] value, chosen by the scheme of `[store] url`:
//!
//! - `sqlite://PATH` (relative to the working directory; `sqlite:///ABSOLUTE/PATH` for an absolute
//!   one), created if missing, opened in WAL mode with foreign keys on, `busy_timeout` 5 s and
//!   `synchronous = NORMAL`. `sqlite::memory:` gives a private in-memory store (tests).
//! - `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (or `postgresql://`), for several instances
//!   behind a load balancer sharing keys (and later the audit chain, approvals and kill switch).
//!
//! Migrations (see `migrate.rs`) are applied by [`Store::connect`] before it returns.
//!
//! Representation, identical in meaning on both backends:
//!
//! - Times are UTC at microsecond precision: `TIMESTAMPTZ` on PostgreSQL, `INTEGER` Unix
//!   microseconds on SQLite. Both sort and compare as time does. Sub-microsecond digits of a value
//!   handed to the store are dropped (see [`stored_time`]); everything read back is in UTC.
//! - Scopes are an ordered list of strings: `TEXT[]` on PostgreSQL, a JSON array in `TEXT` on SQLite.
//!
//! Every error is written for an operator and names what to check; no message ever contains the
//! password of a PostgreSQL URL.

mod approvals;
mod audit;
mod killswitch;
mod migrate;
mod oauth;
mod postgres;
mod sqlite;
mod target;

use std::fmt;
use std::sync::Arc;

use time::OffsetDateTime;

pub use approvals::{ApprovalRecord, NewApproval};
pub use audit::{AuditFilter, AuditInsert, AuditRow, AuditTally, ChainFn, MAX_HASH_LEN};
pub use killswitch::KillSwitchRow;
pub use migrate::SCHEMA_VERSION;
pub use oauth::{AccessRow, ClientRow, CodeRow, GrantRow, PersonRow, Taken, TokenKind, TokenRow};

/// The store, on one of its two backends. Cloning is cheap (the pools are shared).
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// What can go wrong. Every message is complete and meant to be shown to an operator as it is.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or reached.
    #[error("{0}")]
    Connect(String),
    /// The schema could not be brought up to date.
    #[error("{0}")]
    Migrate(String),
    /// A query failed after the store was open.
    #[error("{0}")]
    Query(String),
    /// The database refused or failed a query: what was being done, and the driver's error
    /// (kept as the source, for logs and `Error::source`).
    #[error("{what}: {source}")]
    Sql {
        what: String,
        #[source]
        source: Arc<sqlx::Error>,
    },
    /// The row already exists (for keys: the id is taken).
    #[error("{0}")]
    Conflict(String),
    /// `[store] url` is not a URL this store understands.
    #[error("{0}")]
    InvalidUrl(String),
    /// The store cannot take this record (it does not serialise, or its hash is malformed),
    /// whatever the state of the database.
    #[error("{0}")]
    Record(String),
}

impl StoreError {
    pub fn sql(what: impl Into<String>, source: sqlx::Error) -> Self {
        StoreError::Sql {
            what: what.into(),
            source: Arc::new(source),
        }
    }

    /// Whether the store refused what it was given (a value past a limit or breaking a
    /// constraint: PostgreSQL's classes 22, 23 and 54; SQLite's TOOBIG, CONSTRAINT, MISMATCH and
    /// RANGE), rather than being unable to take anything now (down, unreachable, full, locked,
    /// read-only after a failover). Only the first is worth setting a record aside for: the
    /// second passes, and the same records go in when it does.
    pub fn refuses_record(&self) -> bool {
        match self {
            StoreError::Record(_) => true,
            StoreError::Sql { source, .. } => source.as_database_error().is_some_and(|db| {
                let code = db.code().unwrap_or_default();
                if db
                    .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                    .is_some()
                {
                    matches!(code.get(..2), Some("22" | "23" | "54"))
                } else {
                    // SQLite's extended result code; its low byte is the primary one.
                    code.parse::<i32>()
                        .is_ok_and(|c| matches!(c & 0xff, 18 | 19 | 20 | 25))
                }
            }),
            _ => false,
        }
    }
}

/// Errors compare by kind and message (the driver's error has no equality of its own).
impl PartialEq for StoreError {
    fn eq(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
            && self.to_string() == other.to_string()
    }
}

impl Eq for StoreError {}

/// A key to insert. `secret_hash` is the argon2id PHC string of the secret, never the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct NewKey {
    pub id: String,
    pub name: String,
    pub secret_hash: String,
    pub scopes: Vec<String>,
    pub profile: Option<String>,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
}

/// A stored key. `Debug` leaves `secret_hash` out.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub id: String,
    pub name: String,
    pub secret_hash: String,
    pub scopes: Vec<String>,
    pub profile: Option<String>,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
    pub last_used_at: Option<OffsetDateTime>,
}

impl fmt::Debug for NewKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewKey")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("secret_hash", &"[redacted]")
            .field("scopes", &self.scopes)
            .field("profile", &self.profile)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("secret_hash", &"[redacted]")
            .field("scopes", &self.scopes)
            .field("profile", &self.profile)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .field("last_used_at", &self.last_used_at)
            .finish()
    }
}

/// `t` as the store keeps it and gives it back: in UTC, truncated to whole microseconds.
pub fn stored_time(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    let micros = t.nanosecond() / 1_000;
    // A nanosecond field below 1e9 stays valid after truncation, so this never falls back.
    t.replace_nanosecond(micros * 1_000).unwrap_or(t)
}

impl Store {
    /// Opens the store named by `url` and applies pending migrations.
    ///
    /// `sqlite://PATH`, `sqlite::memory:`, `postgres://...` or `postgresql://...`; see the module
    /// documentation for what each does.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        match target::parse(url)? {
            target::Target::Sqlite { options, memory } => {
                sqlite::connect(options, memory).await.map(Store::Sqlite)
            }
            target::Target::Postgres {
                options,
                display,
                redactor,
            } => postgres::connect(options, &display, &redactor)
                .await
                .map(Store::Postgres),
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// One round trip to the database (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(pool) => sqlite::ping(pool).await,
            Store::Postgres(pool) => postgres::ping(pool).await,
        }
    }

    /// Closes every connection; later calls fail. For an orderly shutdown.
    pub async fn close(&self) {
        match self {
            Store::Sqlite(pool) => pool.close().await,
            Store::Postgres(pool) => pool.close().await,
        }
    }

    /// Stores a new key. An id already in use is [`StoreError::Conflict`].
    pub async fn insert_key(&self, key: &NewKey) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(pool) => sqlite::insert_key(pool, key).await,
            Store::Postgres(pool) => postgres::insert_key(pool, key).await,
        }
    }

    /// The key with this id, revoked or expired ones included.
    pub async fn get_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        bounded("read a key", async move {
            match self {
                Store::Sqlite(pool) => sqlite::get_key(pool, id).await,
                Store::Postgres(pool) => postgres::get_key(pool, id).await,
            }
        })
        .await
    }

    /// Every key, newest first (by `created_at`, then by id, descending).
    pub async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        match self {
            Store::Sqlite(pool) => sqlite::list_keys(pool).await,
            Store::Postgres(pool) => postgres::list_keys(pool).await,
        }
    }

    /// Marks the key revoked at `at`. `false` when no such key exists or it was already revoked
    /// (the first revocation time is kept).
    pub async fn revoke_key(&self, id: &str, at: OffsetDateTime) -> Result<bool, StoreError> {
        let at = stored_time(at);
        match self {
            Store::Sqlite(pool) => sqlite::revoke_key(pool, id, at).await,
            Store::Postgres(pool) => postgres::revoke_key(pool, id, at).await,
        }
    }

    /// Records a use of the key at `at`. Never moves `last_used_at` backwards, so concurrent
    /// instances may call it in any order. An unknown id is not an error.
    pub async fn touch_key(&self, id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        let at = stored_time(at);
        match self {
            Store::Sqlite(pool) => sqlite::touch_key(pool, id, at).await,
            Store::Postgres(pool) => postgres::touch_key(pool, id, at).await,
        }
    }

    /// Ids and revocation times of keys revoked at or after `since`, oldest revocation first.
    ///
    /// Other instances poll this to evict their verification caches. `revoked_at` is the
    /// revoking instance's clock, and a revocation becomes visible only when its transaction
    /// commits, so a poller should ask from a little before its previous poll (a few seconds of
    /// overlap), not from the exact time of it; seeing a revocation twice is harmless.
    pub async fn revoked_since(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<(String, OffsetDateTime)>, StoreError> {
        bounded("poll revoked keys", async move {
            let since = stored_time(since);
            match self {
                Store::Sqlite(pool) => sqlite::revoked_since(pool, since).await,
                Store::Postgres(pool) => postgres::revoked_since(pool, since).await,
            }
        })
        .await
    }
}

/// How long a store call on the request path or a poller may take: a server that stops
/// answering without closing the connection (a dead host, a partition) otherwise holds the call
/// until the operating system gives up on the connection, many minutes later.
const CALL_BOUND: std::time::Duration = std::time::Duration::from_secs(10);

/// `call`, or an error saying it did not finish within [`CALL_BOUND`] (dropping it: a
/// connection left mid-query is not handed out again).
async fn bounded<T>(
    what: &str,
    call: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(CALL_BOUND, call).await {
        Ok(answer) => {
            if answer.is_ok() {
                UNANSWERED.store(false, std::sync::atomic::Ordering::Relaxed);
            }
            answer
        }
        Err(_) => {
            UNANSWERED.store(true, std::sync::atomic::Ordering::Relaxed);
            Err(StoreError::Query(format!(
                "the store did not answer within {} s ({what}): check that it is up and \
                 reachable",
                CALL_BOUND.as_secs()
            )))
        }
    }
}

/// Set when a bounded call ran out of time (the server stopped answering), cleared when one
/// succeeds. Meanwhile a PostgreSQL connection given back to the pool is closed rather than
/// pinged: to a server gone silent the ping would wait for the operating system to give up on
/// the connection (many minutes), holding its place in the pool, until none is left for a
/// server that answers again.
static UNANSWERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(crate) fn store_unanswered() -> bool {
    UNANSWERED.load(std::sync::atomic::Ordering::Relaxed)
}

/// A query failure, with what was being done.
fn query_error(what: &str, e: sqlx::Error) -> StoreError {
    StoreError::sql(format!("store query failed ({what})"), e)
}

/// An insert failure: a unique violation on the key id is a conflict, the rest a query failure.
fn insert_error(id: &str, e: sqlx::Error) -> StoreError {
    match e.as_database_error() {
        Some(db) if db.is_unique_violation() => {
            StoreError::Conflict(format!("a key with id {id} already exists"))
        }
        _ => query_error("insert key", e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn stored_time_truncates_to_utc_micros() {
        let t = datetime!(2026-03-01 12:00:00.123456789 +02:00);
        assert_eq!(stored_time(t), datetime!(2026-03-01 10:00:00.123456 UTC));
        let before_epoch = datetime!(1960-01-01 00:00:00.999999999 UTC);
        assert_eq!(
            stored_time(before_epoch),
            datetime!(1960-01-01 00:00:00.999999 UTC)
        );
    }

    /// A record the store refuses is told apart from a store that cannot take anything now.
    #[tokio::test]
    async fn refused_records_are_told_from_a_failing_store() {
        let dir = std::env::temp_dir().join(format!("ow-refuses-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (v TEXT NOT NULL CHECK (length(v) < 4))")
            .execute(&pool)
            .await
            .unwrap();
        let refused = sqlx::query("INSERT INTO t VALUES ('too long')")
            .execute(&pool)
            .await
            .unwrap_err();
        assert!(StoreError::sql("append", refused).refuses_record());
        // Another process holds the write lock: the store, not the record, fails.
        let other = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let mut holder = other.acquire().await.unwrap();
        sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut *holder)
            .await
            .unwrap();
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .busy_timeout(std::time::Duration::from_millis(50));
        let mut c = sqlx::ConnectOptions::connect(&options).await.unwrap();
        let locked = sqlx::query("INSERT INTO t VALUES ('ok')")
            .execute(&mut c)
            .await
            .unwrap_err();
        assert!(!StoreError::sql("append", locked).refuses_record());
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(!StoreError::sql("append", io).refuses_record());
        assert!(!StoreError::sql("append", sqlx::Error::PoolTimedOut).refuses_record());
        assert!(StoreError::Record("bad hash".into()).refuses_record());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn debug_hides_the_hash() {
        let t = datetime!(2026-01-01 00:00 UTC);
        let rec = KeyRecord {
            id: "abc".into(),
            name: "n".into(),
            secret_hash: "$argon2id$v=19$secretstuff".into(),
            scopes: vec!["mcp".into()],
            profile: None,
            created_at: t,
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
        };
        let shown = format!("{rec:?}");
        assert!(!shown.contains("secretstuff"), "{shown}");
        assert!(shown.contains("abc"));
        let new = NewKey {
            id: "abc".into(),
            name: "n".into(),
            secret_hash: "$argon2id$v=19$secretstuff".into(),
            scopes: vec![],
            profile: None,
            created_at: t,
            expires_at: None,
        };
        assert!(!format!("{new:?}").contains("secretstuff"));
    }
}

#[cfg(test)]
mod send_check {
    use super::*;

    fn assert_send<T: Send>(_: T) {}

    /// Handlers and spawned tasks need every future of the store to be `Send`.
    #[allow(dead_code, clippy::diverging_sub_expression)]
    fn futures_are_send(store: Store, key: NewKey, events: Vec<AuditInsert>, filter: AuditFilter) {
        let t = OffsetDateTime::UNIX_EPOCH;
        assert_send(Store::connect("sqlite::memory:"));
        assert_send(async move {
            let _ = store.ping().await;
            let _ = store.insert_key(&key).await;
            let _ = store.get_key("x").await;
            let _ = store.list_keys().await;
            let _ = store.revoke_key("x", t).await;
            let _ = store.touch_key("x", t).await;
            let _ = store.revoked_since(t).await;
            let chain = |_: &str, _: i64, _: &serde_json::Value| String::new();
            let _ = store.append_audit(&events, &chain).await;
            let _ = store.query_audit(&filter, None, 1).await;
            let _ = store.query_audit_desc(&filter, None, 1).await;
            let _ = store.audit_range(1, 1).await;
            let _ = store.audit_head().await;
            let _ = store.audit_count().await;
            store.close().await;
        });
    }
}
