//! The PostgreSQL backend. Times are `TIMESTAMPTZ`; scopes `TEXT[]`.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, Connection, PgPool, Row};
use time::OffsetDateTime;

use super::target::Redactor;
use super::{KeyRecord, NewKey, StoreError, insert_error, migrate, query_error};

const MAX_CONNECTIONS: u32 = 10;
/// How long to wait for the server to answer at start-up (an unreachable host otherwise hangs
/// for the operating system's TCP timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

const KEY_COLUMNS: &str =
    "id, name, secret_hash, scopes, profile, created_at, expires_at, revoked_at, last_used_at";

pub(super) async fn connect(
    options: PgConnectOptions,
    display: &str,
    redactor: &Redactor,
) -> Result<PgPool, StoreError> {
    // One plain connection first: the pool retries a refused connection until its timeout and
    // then reports only "timed out", where an operator needs the cause. It also runs the
    // migrations, holding the advisory lock, and is closed after.
    let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, options.connect())
        .await
        .map_err(|_| {
            StoreError::Connect(format!(
                "cannot connect to PostgreSQL at {display}: no answer within {} s — check \
                 [store] url, and that the server is running and reachable from here",
                CONNECT_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| StoreError::Connect(redactor.apply(connect_message(display, &e))))?;
    migrate::postgres(&mut conn, display)
        .await
        .map_err(|e| redact(e, redactor))?;
    // Closing ends the session, which releases the advisory lock if unlocking failed.
    let _ = conn.close().await;

    PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(|e| StoreError::Connect(redactor.apply(connect_message(display, &e))))
}

fn redact(e: StoreError, redactor: &Redactor) -> StoreError {
    match e {
        StoreError::Migrate(m) => StoreError::Migrate(redactor.apply(m)),
        StoreError::Connect(m) => StoreError::Connect(redactor.apply(m)),
        StoreError::Query(m) => StoreError::Query(redactor.apply(m)),
        StoreError::Conflict(m) => StoreError::Conflict(redactor.apply(m)),
        StoreError::InvalidUrl(m) => StoreError::InvalidUrl(redactor.apply(m)),
    }
}

fn connect_message(display: &str, e: &sqlx::Error) -> String {
    let (cause, hint) = match e {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => (
            io.to_string(),
            "check [store] url, and that the server is running and listening there",
        ),
        sqlx::Error::Io(io) => (io.to_string(), "check [store] url and the network"),
        sqlx::Error::Tls(tls) => (
            format!("TLS: {tls}"),
            "check [store] url (sslmode, sslrootcert) and the server's certificate",
        ),
        sqlx::Error::Database(db) => {
            let hint = match db.code().as_deref() {
                Some("28P01" | "28000") => "check the user and password in [store] url",
                Some("3D000") => "create the database, or fix its name in [store] url",
                _ => "check [store] url",
            };
            (db.message().to_owned(), hint)
        }
        sqlx::Error::PoolTimedOut => (
            "timed out waiting for a connection".to_owned(),
            "check [store] url, and that the server accepts more connections",
        ),
        other => (other.to_string(), "check [store] url"),
    };
    format!("cannot connect to PostgreSQL at {display}: {cause} — {hint}")
}

fn key_from_row(row: &PgRow) -> Result<KeyRecord, sqlx::Error> {
    Ok(KeyRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        secret_hash: row.try_get("secret_hash")?,
        scopes: row.try_get("scopes")?,
        profile: row.try_get("profile")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

pub(super) async fn ping(pool: &PgPool) -> Result<(), StoreError> {
    sqlx::query("SELECT 1")
        .execute(pool)
        .await
        .map(drop)
        .map_err(|e| query_error("ping", &e))
}

pub(super) async fn insert_key(pool: &PgPool, key: &NewKey) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_keys (id, name, secret_hash, scopes, profile, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&key.id)
    .bind(&key.name)
    .bind(&key.secret_hash)
    .bind(&key.scopes)
    .bind(&key.profile)
    .bind(super::stored_time(key.created_at))
    .bind(key.expires_at.map(super::stored_time))
    .execute(pool)
    .await
    .map(drop)
    .map_err(|e| insert_error(&key.id, &e))
}

pub(super) async fn get_key(pool: &PgPool, id: &str) -> Result<Option<KeyRecord>, StoreError> {
    sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
        .and_then(|row| row.as_ref().map(key_from_row).transpose())
        .map_err(|e| query_error("get key", &e))
}

pub(super) async fn list_keys(pool: &PgPool) -> Result<Vec<KeyRecord>, StoreError> {
    sqlx::query(&format!(
        "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at DESC, id DESC"
    ))
    .fetch_all(pool)
    .await
    .and_then(|rows| rows.iter().map(key_from_row).collect())
    .map_err(|e| query_error("list keys", &e))
}

pub(super) async fn revoke_key(
    pool: &PgPool,
    id: &str,
    at: OffsetDateTime,
) -> Result<bool, StoreError> {
    sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(at)
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(|e| query_error("revoke key", &e))
}

pub(super) async fn touch_key(
    pool: &PgPool,
    id: &str,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE api_keys SET last_used_at = $1 \
         WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
    )
    .bind(at)
    .bind(id)
    .execute(pool)
    .await
    .map(drop)
    .map_err(|e| query_error("touch key", &e))
}

pub(super) async fn revoked_since(
    pool: &PgPool,
    since: OffsetDateTime,
) -> Result<Vec<(String, OffsetDateTime)>, StoreError> {
    sqlx::query(
        "SELECT id, revoked_at FROM api_keys WHERE revoked_at >= $1 ORDER BY revoked_at, id",
    )
    .bind(since)
    .fetch_all(pool)
    .await
    .and_then(|rows| {
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("revoked_at")?)))
            .collect()
    })
    .map_err(|e| query_error("revoked since", &e))
}
