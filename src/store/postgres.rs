//! The PostgreSQL backend. Times are `TIMESTAMPTZ`; scopes `TEXT[]`.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, Connection, PgPool, Postgres, QueryBuilder, Row};
use time::OffsetDateTime;

use super::audit::{self, AuditFilter, AuditInsert, AuditRow, AuditTally, ChainFn};
use super::target::Redactor;
use super::{KeyRecord, NewKey, StoreError, insert_error, migrate, query_error};

const MAX_CONNECTIONS: u32 = 10;
/// How long to wait for the server to answer at start-up (an unreachable host otherwise hangs
/// for the operating system's TCP timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a query waits for a connection: while the server is down, the bound on every wait.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Key for `pg_advisory_xact_lock` around an audit append: the bytes of "odoaudit" (the
/// migration lock is "odoowrdn").
const AUDIT_LOCK_KEY: i64 = 0x6f64_6f61_7564_6974;

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
        // A session left inside a transaction (a failed commit) is closed, never handed out.
        .before_acquire(|conn, _| {
            Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(conn)) })
        })
        // While the server does not answer, a connection given back is closed, not pinged.
        .after_release(|_, _| Box::pin(async move { Ok(!super::store_unanswered()) }))
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
        StoreError::Record(m) => StoreError::Record(redactor.apply(m)),
        // The driver's error stays the source unless it shows a secret: then only its
        // redacted text remains.
        sql @ StoreError::Sql { .. } => {
            let shown = sql.to_string();
            let redacted = redactor.apply(shown.clone());
            if redacted == shown {
                sql
            } else {
                StoreError::Query(redacted)
            }
        }
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
        .map_err(|e| query_error("ping", e))
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
    .map_err(|e| insert_error(&key.id, e))
}

pub(super) async fn get_key(pool: &PgPool, id: &str) -> Result<Option<KeyRecord>, StoreError> {
    sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
        .and_then(|row| row.as_ref().map(key_from_row).transpose())
        .map_err(|e| query_error("get key", e))
}

pub(super) async fn list_keys(pool: &PgPool) -> Result<Vec<KeyRecord>, StoreError> {
    sqlx::query(&format!(
        "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at DESC, id DESC"
    ))
    .fetch_all(pool)
    .await
    .and_then(|rows| rows.iter().map(key_from_row).collect())
    .map_err(|e| query_error("list keys", e))
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
        .map_err(|e| query_error("revoke key", e))
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
    .map_err(|e| query_error("touch key", e))
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
    .map_err(|e| query_error("revoked since", e))
}

// ---------------------------------------------------------------------------------------------
// Audit trail

const AUDIT_COLUMNS: &str = "seq, time, record, prev_hash, hash";

fn audit_from_row(row: &PgRow) -> Result<AuditRow, sqlx::Error> {
    let seq: i64 = row.try_get("seq")?;
    let text: String = row.try_get("record")?;
    Ok(AuditRow {
        seq,
        time: row.try_get("time")?,
        record: audit::parse_record(seq, &text)?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

pub(super) async fn append_audit(
    pool: &PgPool,
    events: &[AuditInsert],
    chain: &ChainFn,
) -> Result<Vec<i64>, StoreError> {
    let mut tx = pool.begin().await.map_err(audit::map_append)?;
    // Held until commit or rollback: appends from every instance extend the head one at a time.
    // The head is read after the lock is granted, by a statement of its own, so under READ
    // COMMITTED it sees the previous holder's committed rows.
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(AUDIT_LOCK_KEY)
        .execute(&mut *tx)
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

    // One statement for the whole batch, whatever its size: arrays, one element per record.
    let n = prepared.len();
    let mut seqs = Vec::with_capacity(n);
    let mut times = Vec::with_capacity(n);
    let mut kinds = Vec::with_capacity(n);
    let mut key_ids = Vec::with_capacity(n);
    let mut profiles = Vec::with_capacity(n);
    let mut people = Vec::with_capacity(n);
    let mut models = Vec::with_capacity(n);
    let mut operations = Vec::with_capacity(n);
    let mut decisions = Vec::with_capacity(n);
    let mut outcomes = Vec::with_capacity(n);
    let mut call_ids = Vec::with_capacity(n);
    let mut texts = Vec::with_capacity(n);
    let mut prev_hashes = Vec::with_capacity(n);
    let mut hashes = Vec::with_capacity(n);
    let mut id_records = Vec::new();
    let mut id_seqs = Vec::new();
    for p in &prepared {
        let e = p.event;
        seqs.push(p.seq);
        times.push(super::stored_time(e.time));
        kinds.push(e.kind.as_str());
        key_ids.push(e.key_id.as_deref());
        profiles.push(e.profile.as_deref());
        people.push(e.person.as_deref());
        models.push(e.model.as_deref());
        operations.push(e.operation.as_deref());
        decisions.push(e.decision.as_deref());
        outcomes.push(e.outcome.as_deref());
        call_ids.push(e.call_id.as_deref());
        texts.push(p.text.as_str());
        prev_hashes.push(p.prev_hash.as_str());
        hashes.push(p.hash.as_str());
        for id in &e.record_ids {
            id_records.push(*id);
            id_seqs.push(p.seq);
        }
    }
    sqlx::query(
        "INSERT INTO audit_log (seq, time, kind, key_id, profile, model, operation, decision, \
         outcome, call_id, record, prev_hash, hash, person) \
         SELECT * FROM UNNEST($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], \
         $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], \
         $12::text[], $13::text[], $14::text[])",
    )
    .bind(&seqs)
    .bind(&times)
    .bind(&kinds)
    .bind(&key_ids)
    .bind(&profiles)
    .bind(&models)
    .bind(&operations)
    .bind(&decisions)
    .bind(&outcomes)
    .bind(&call_ids)
    .bind(&texts)
    .bind(&prev_hashes)
    .bind(&hashes)
    .bind(&people)
    .execute(&mut *tx)
    .await
    .map_err(audit::map_append)?;
    if !id_records.is_empty() {
        // A record id listed twice in one event is indexed once.
        sqlx::query(
            "INSERT INTO audit_record_ids (record_id, seq) \
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[]) ON CONFLICT DO NOTHING",
        )
        .bind(&id_records)
        .bind(&id_seqs)
        .execute(&mut *tx)
        .await
        .map_err(audit::map_append)?;
    }
    tx.commit().await.map_err(audit::map_append)?;
    Ok(seqs)
}

/// `descending`: newest first, `cursor` an exclusive upper bound; else oldest first, `cursor` an
/// exclusive lower bound.
pub(super) async fn query_audit(
    pool: &PgPool,
    filter: &AuditFilter,
    cursor: Option<i64>,
    limit: u32,
    descending: bool,
) -> Result<Vec<AuditRow>, StoreError> {
    let mut qb: QueryBuilder<'_, Postgres> =
        QueryBuilder::new(format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE TRUE"));
    if let Some(t) = filter.since {
        qb.push(" AND time >= ").push_bind(super::stored_time(t));
    }
    if let Some(t) = filter.until {
        qb.push(" AND time < ").push_bind(super::stored_time(t));
    }
    audit::push_filter(&mut qb, filter, cursor, limit, descending);
    qb.build()
        .fetch_all(pool)
        .await
        .and_then(|rows| rows.iter().map(audit_from_row).collect())
        .map_err(|e| query_error("query audit trail", e))
}

pub(super) async fn audit_range(
    pool: &PgPool,
    from_seq: i64,
    limit: u32,
) -> Result<Vec<AuditRow>, StoreError> {
    sqlx::query(&format!(
        "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2"
    ))
    .bind(from_seq)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .and_then(|rows| rows.iter().map(audit_from_row).collect())
    .map_err(|e| query_error("read audit range", e))
}

pub(super) async fn audit_head(pool: &PgPool) -> Result<Option<(i64, String)>, StoreError> {
    sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(pool)
        .await
        .and_then(|r| r.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose())
        .map_err(|e| query_error("read audit head", e))
}

pub(super) async fn audit_tally(
    pool: &PgPool,
    since: OffsetDateTime,
) -> Result<Vec<AuditTally>, StoreError> {
    sqlx::query(
        "SELECT kind, decision, outcome, count(*) FROM audit_log WHERE time >= $1 GROUP BY kind, decision, outcome",
    )
    .bind(super::stored_time(since))
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

pub(super) async fn audit_count(pool: &PgPool) -> Result<i64, StoreError> {
    sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(pool)
        .await
        .map_err(|e| query_error("count audit records", e))
}
