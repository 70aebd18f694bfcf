//! The SQLite backend. Times are `INTEGER` Unix microseconds (UTC); scopes a JSON array in `TEXT`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use time::OffsetDateTime;

use super::audit::{self, AuditFilter, AuditInsert, AuditRow, AuditTally, ChainFn};
use super::{KeyRecord, NewKey, StoreError, insert_error, migrate, query_error};

/// Readers run concurrently under WAL; SQLite itself serialises the writers.
const MAX_CONNECTIONS: u32 = 8;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const KEY_COLUMNS: &str =
    "id, name, secret_hash, scopes, profile, created_at, expires_at, revoked_at, last_used_at";

pub(super) async fn connect(
    options: SqliteConnectOptions,
    memory: bool,
) -> Result<SqlitePool, StoreError> {
    let path = std::path::absolute(options.get_filename())
        .unwrap_or_else(|_| options.get_filename().to_path_buf());
    let display = if memory {
        "sqlite::memory:".to_owned()
    } else {
        path.display().to_string()
    };
    let options = options
        .create_if_missing(true)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
        .synchronous(SqliteSynchronous::Normal);
    let pool = if memory {
        // One connection that never closes: the database lives exactly as long as the pool.
        SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
    } else {
        // Switching a new file to WAL takes an exclusive lock that SQLite's busy handler does not
        // always wait for: several processes opening one new store at once (a CLI command while
        // the server starts) can see "database is locked". That is transient: retry briefly.
        let options = options.journal_mode(SqliteJournalMode::Wal);
        let mut delay = std::time::Duration::from_millis(20);
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            match SqlitePoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                // A pooled connection still inside a transaction (a COMMIT refused by a full disk
                // can leave the driver counting one SQLite already ended) would refuse every
                // later BEGIN: it is closed instead of handed out.
                .before_acquire(|conn, _| {
                    Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(conn)) })
                })
                .connect_with(options.clone())
                .await
            {
                Err(e) if is_locked(&e) && std::time::Instant::now() < deadline => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_millis(500));
                }
                other => break other,
            }
        }
    }
    .map_err(|e| open_error(&path, &e))?;
    migrate::sqlite(&pool, &display).await?;
    Ok(pool)
}

/// SQLITE_BUSY / SQLITE_LOCKED: another connection holds a lock for now.
fn is_locked(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some_and(|db| {
        let m = db.message();
        m.contains("database is locked")
            || m.contains("database table is locked")
            || m.contains("busy")
    })
}

/// Says what is wrong with the path, when that can be seen, rather than SQLite's bare
/// "unable to open database file".
fn open_error(path: &Path, e: &sqlx::Error) -> StoreError {
    let cause = match e.as_database_error() {
        Some(db) => db.message().to_owned(),
        None => e.to_string(),
    };
    let at = path.display();
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let message = if !parent.exists() {
        format!(
            "cannot open the SQLite store at {at}: the directory {} does not exist — create it, \
             or change [store] url",
            parent.display()
        )
    } else if !parent.is_dir() {
        format!(
            "cannot open the SQLite store at {at}: {} is not a directory — check [store] url",
            parent.display()
        )
    } else if path.is_dir() {
        format!("cannot open the SQLite store at {at}: it is a directory — check [store] url")
    } else {
        format!(
            "cannot open the SQLite store at {at}: {cause} — check that this user can write the \
             file and its directory (WAL mode creates -wal and -shm files beside it), \
             or change [store] url"
        )
    };
    StoreError::Connect(message)
}

/// Unix microseconds of `t` (already truncated by [`super::stored_time`] where it matters).
pub(super) fn micros(t: OffsetDateTime) -> i64 {
    let nanos = t.unix_timestamp_nanos().div_euclid(1_000);
    // `OffsetDateTime` spans years -9999..=9999, about 3.2e17 µs: always within i64.
    i64::try_from(nanos).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX })
}

fn from_micros(m: i64) -> Result<OffsetDateTime, sqlx::Error> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(m) * 1_000)
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

fn opt_from_micros(m: Option<i64>) -> Result<Option<OffsetDateTime>, sqlx::Error> {
    m.map(from_micros).transpose()
}

fn key_from_row(row: &SqliteRow) -> Result<KeyRecord, sqlx::Error> {
    let scopes: String = row.try_get("scopes")?;
    Ok(KeyRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        secret_hash: row.try_get("secret_hash")?,
        scopes: serde_json::from_str(&scopes).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        profile: row.try_get("profile")?,
        created_at: from_micros(row.try_get("created_at")?)?,
        expires_at: opt_from_micros(row.try_get("expires_at")?)?,
        revoked_at: opt_from_micros(row.try_get("revoked_at")?)?,
        last_used_at: opt_from_micros(row.try_get("last_used_at")?)?,
    })
}

pub(super) async fn ping(pool: &SqlitePool) -> Result<(), StoreError> {
    sqlx::query("SELECT 1")
        .execute(pool)
        .await
        .map(drop)
        .map_err(|e| query_error("ping", e))
}

pub(super) async fn insert_key(pool: &SqlitePool, key: &NewKey) -> Result<(), StoreError> {
    let scopes =
        serde_json::to_string(&key.scopes).map_err(|e| StoreError::Query(e.to_string()))?;
    sqlx::query(
        "INSERT INTO api_keys (id, name, secret_hash, scopes, profile, created_at, expires_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&key.id)
    .bind(&key.name)
    .bind(&key.secret_hash)
    .bind(scopes)
    .bind(&key.profile)
    .bind(micros(super::stored_time(key.created_at)))
    .bind(key.expires_at.map(|t| micros(super::stored_time(t))))
    .execute(pool)
    .await
    .map(drop)
    .map_err(|e| insert_error(&key.id, e))
}

pub(super) async fn get_key(pool: &SqlitePool, id: &str) -> Result<Option<KeyRecord>, StoreError> {
    sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?"))
        .bind(id)
        .fetch_optional(pool)
        .await
        .and_then(|row| row.as_ref().map(key_from_row).transpose())
        .map_err(|e| query_error("get key", e))
}

pub(super) async fn list_keys(pool: &SqlitePool) -> Result<Vec<KeyRecord>, StoreError> {
    sqlx::query(&format!(
        "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at DESC, id DESC"
    ))
    .fetch_all(pool)
    .await
    .and_then(|rows| rows.iter().map(key_from_row).collect())
    .map_err(|e| query_error("list keys", e))
}

pub(super) async fn revoke_key(
    pool: &SqlitePool,
    id: &str,
    at: OffsetDateTime,
) -> Result<bool, StoreError> {
    sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
        .bind(micros(at))
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(|e| query_error("revoke key", e))
}

pub(super) async fn touch_key(
    pool: &SqlitePool,
    id: &str,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let at = micros(at);
    sqlx::query(
        "UPDATE api_keys SET last_used_at = ? \
         WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
    )
    .bind(at)
    .bind(id)
    .bind(at)
    .execute(pool)
    .await
    .map(drop)
    .map_err(|e| query_error("touch key", e))
}

pub(super) async fn revoked_since(
    pool: &SqlitePool,
    since: OffsetDateTime,
) -> Result<Vec<(String, OffsetDateTime)>, StoreError> {
    sqlx::query("SELECT id, revoked_at FROM api_keys WHERE revoked_at >= ? ORDER BY revoked_at, id")
        .bind(micros(since))
        .fetch_all(pool)
        .await
        .and_then(|rows| {
            rows.iter()
                .map(|r| Ok((r.try_get("id")?, from_micros(r.try_get("revoked_at")?)?)))
                .collect()
        })
        .map_err(|e| query_error("revoked since", e))
}

// ---------------------------------------------------------------------------------------------
// Audit trail

const AUDIT_COLUMNS: &str = "seq, time, record, prev_hash, hash";

/// Records per INSERT statement (13 parameters each, far below SQLite's limit of 32766).
const AUDIT_CHUNK: usize = 64;

fn audit_from_row(row: &SqliteRow) -> Result<AuditRow, sqlx::Error> {
    let seq: i64 = row.try_get("seq")?;
    let text: String = row.try_get("record")?;
    Ok(AuditRow {
        seq,
        time: from_micros(row.try_get("time")?)?,
        record: audit::parse_record(seq, &text)?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

pub(super) async fn append_audit(
    pool: &SqlitePool,
    events: &[AuditInsert],
    chain: &ChainFn,
) -> Result<Vec<i64>, StoreError> {
    // The write lock from the start: the head read below cannot go stale before the inserts.
    // (A COMMIT refused by a full disk can leave the connection unusable: the pool's
    // `before_acquire` check closes it rather than hand it out again.)
    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(audit::map_append)?;
    let head = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *tx)
        .await
        .and_then(|r| {
            r.map(|r| Ok((r.try_get::<i64, _>(0)?, r.try_get::<String, _>(1)?)))
                .transpose()
        })
        .map_err(audit::map_append)?;
    // An error from here on drops `tx`, which rolls the whole batch back.
    let prepared = audit::prepare(events, head, chain)?;
    // Multi-row inserts: one statement per AUDIT_CHUNK records. A full chunk's SQL is always the
    // same and stays prepared; a shorter last chunk is prepared for the one use.
    for chunk in prepared.chunks(AUDIT_CHUNK) {
        let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new(
            "INSERT INTO audit_log (seq, time, kind, key_id, profile, person, model, \
             operation, decision, outcome, call_id, record, prev_hash, hash) ",
        );
        qb.push_values(chunk, |mut b, p| {
            let e = p.event;
            b.push_bind(p.seq)
                .push_bind(micros(super::stored_time(e.time)))
                .push_bind(e.kind.as_str())
                .push_bind(e.key_id.as_deref())
                .push_bind(e.profile.as_deref())
                .push_bind(e.person.as_deref())
                .push_bind(e.model.as_deref())
                .push_bind(e.operation.as_deref())
                .push_bind(e.decision.as_deref())
                .push_bind(e.outcome.as_deref())
                .push_bind(e.call_id.as_deref())
                .push_bind(p.text.as_str())
                .push_bind(p.prev_hash.as_str())
                .push_bind(p.hash.as_str());
        });
        qb.build()
            .persistent(chunk.len() == AUDIT_CHUNK)
            .execute(&mut *tx)
            .await
            .map_err(audit::map_append)?;
    }
    let ids: Vec<(i64, i64)> = prepared
        .iter()
        .flat_map(|p| p.event.record_ids.iter().map(move |id| (*id, p.seq)))
        .collect();
    for chunk in ids.chunks(AUDIT_CHUNK) {
        // A record id listed twice in one event is indexed once.
        let mut qb: QueryBuilder<'_, Sqlite> =
            QueryBuilder::new("INSERT OR IGNORE INTO audit_record_ids (record_id, seq) ");
        qb.push_values(chunk, |mut b, (id, seq)| {
            b.push_bind(*id).push_bind(*seq);
        });
        qb.build()
            .persistent(chunk.len() == AUDIT_CHUNK)
            .execute(&mut *tx)
            .await
            .map_err(audit::map_append)?;
    }
    tx.commit().await.map_err(audit::map_append)?;
    Ok(prepared.iter().map(|p| p.seq).collect())
}

/// `descending`: newest first, `cursor` an exclusive upper bound; else oldest first, `cursor` an
/// exclusive lower bound.
pub(super) async fn query_audit(
    pool: &SqlitePool,
    filter: &AuditFilter,
    cursor: Option<i64>,
    limit: u32,
    descending: bool,
) -> Result<Vec<AuditRow>, StoreError> {
    let mut qb: QueryBuilder<'_, Sqlite> =
        QueryBuilder::new(format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE 1 = 1"));
    if let Some(t) = filter.since {
        qb.push(" AND time >= ")
            .push_bind(micros(super::stored_time(t)));
    }
    if let Some(t) = filter.until {
        qb.push(" AND time < ")
            .push_bind(micros(super::stored_time(t)));
    }
    audit::push_filter(&mut qb, filter, cursor, limit, descending);
    qb.build()
        .fetch_all(pool)
        .await
        .and_then(|rows| rows.iter().map(audit_from_row).collect())
        .map_err(|e| query_error("query audit trail", e))
}

pub(super) async fn audit_range(
    pool: &SqlitePool,
    from_seq: i64,
    limit: u32,
) -> Result<Vec<AuditRow>, StoreError> {
    sqlx::query(&format!(
        "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq >= ? ORDER BY seq LIMIT ?"
    ))
    .bind(from_seq)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .and_then(|rows| rows.iter().map(audit_from_row).collect())
    .map_err(|e| query_error("read audit range", e))
}

pub(super) async fn audit_head(pool: &SqlitePool) -> Result<Option<(i64, String)>, StoreError> {
    sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(pool)
        .await
        .and_then(|r| r.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose())
        .map_err(|e| query_error("read audit head", e))
}

pub(super) async fn audit_tally(
    pool: &SqlitePool,
    since: OffsetDateTime,
) -> Result<Vec<AuditTally>, StoreError> {
    sqlx::query(
        "SELECT kind, decision, outcome, count(*) FROM audit_log WHERE time >= $1 GROUP BY kind, decision, outcome",
    )
    .bind(micros(super::stored_time(since)))
    .fetch_all(pool)
    .await
    .and_then(|rows| {
        rows.iter()
            .map(|r| {
                Ok(AuditTally {
                    kind: r.try_get(0)?,
                    decision: r.try_get(1)?,
                    outcome: r.try_get(2)?,
                    count: r.try_get(3)?,
                })
            })
            .collect()
    })
    .map_err(|e| query_error("count recent audit records", e))
}

pub(super) async fn audit_count(pool: &SqlitePool) -> Result<i64, StoreError> {
    sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(pool)
        .await
        .map_err(|e| query_error("count audit records", e))
}
