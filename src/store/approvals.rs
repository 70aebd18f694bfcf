//! Four-eyes approvals: a write waiting for a person other than the requester.
//!
//! Status moves `pending` -> `approved` | `denied`, and `approved` -> `used` exactly once (an
//! atomic update); a pending or approved request past its expiry is `expired`.

use super::{Store, StoreError};
use serde_json::Value;
use sqlx::Row;
use time::OffsetDateTime;

/// A new approval request.
#[derive(Debug, Clone)]
pub struct NewApproval {
    pub id: String,
    pub key_id: String,
    pub profile: String,
    pub tool: String,
    /// The canonical payload (tool, arguments, key) the approval is bound to.
    pub payload: Value,
    /// SHA-256 of the canonical payload, hex.
    pub payload_hash: String,
    /// What the approver reads.
    pub preview: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// A stored approval request.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ApprovalRecord {
    pub id: String,
    pub key_id: String,
    pub profile: String,
    pub tool: String,
    pub payload: Value,
    pub payload_hash: String,
    pub preview: String,
    /// `pending`, `approved`, `denied` or `used` as stored; see [`ApprovalRecord::effective_status`].
    pub status: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
    /// The approver's key name and id.
    pub decided_by: Option<String>,
    pub reason: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub used_at: Option<OffsetDateTime>,
}

impl ApprovalRecord {
    /// The status as of `now`: a pending or approved request past its expiry is `expired`.
    pub fn effective_status(&self, now: OffsetDateTime) -> &str {
        match self.status.as_str() {
            "pending" | "approved" if self.expires_at <= now => "expired",
            s => s,
        }
    }
}

fn q(e: sqlx::Error, what: &str) -> StoreError {
    StoreError::sql(format!("approvals: cannot {what}"), e)
}

fn micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000)).unwrap_or(i64::MAX)
}

fn from_micros(m: i64) -> Result<OffsetDateTime, sqlx::Error> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(m) * 1_000)
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

fn sqlite_row(r: &sqlx::sqlite::SqliteRow) -> Result<ApprovalRecord, sqlx::Error> {
    let payload: String = r.try_get("payload")?;
    let opt = |c: &str| -> Result<Option<OffsetDateTime>, sqlx::Error> {
        r.try_get::<Option<i64>, _>(c)?.map(from_micros).transpose()
    };
    Ok(ApprovalRecord {
        id: r.try_get("id")?,
        key_id: r.try_get("key_id")?,
        profile: r.try_get("profile")?,
        tool: r.try_get("tool")?,
        payload: serde_json::from_str(&payload).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        payload_hash: r.try_get("payload_hash")?,
        preview: r.try_get("preview")?,
        status: r.try_get("status")?,
        created_at: from_micros(r.try_get("created_at")?)?,
        expires_at: from_micros(r.try_get("expires_at")?)?,
        decided_at: opt("decided_at")?,
        decided_by: r.try_get("decided_by")?,
        reason: r.try_get("reason")?,
        used_at: opt("used_at")?,
    })
}

fn pg_row(r: &sqlx::postgres::PgRow) -> Result<ApprovalRecord, sqlx::Error> {
    let payload: String = r.try_get("payload")?;
    Ok(ApprovalRecord {
        id: r.try_get("id")?,
        key_id: r.try_get("key_id")?,
        profile: r.try_get("profile")?,
        tool: r.try_get("tool")?,
        payload: serde_json::from_str(&payload).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        payload_hash: r.try_get("payload_hash")?,
        preview: r.try_get("preview")?,
        status: r.try_get("status")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        decided_at: r.try_get("decided_at")?,
        decided_by: r.try_get("decided_by")?,
        reason: r.try_get("reason")?,
        used_at: r.try_get("used_at")?,
    })
}

const COLUMNS: &str = "id, key_id, profile, tool, payload, payload_hash, preview, status, created_at, expires_at, decided_at, decided_by, reason, used_at";

impl Store {
    pub async fn insert_approval(&self, a: &NewApproval) -> Result<(), StoreError> {
        let payload = a.payload.to_string();
        let sql = |p: &str| {
            format!(
                "INSERT INTO approvals (id, key_id, profile, tool, payload, payload_hash, preview, status, created_at, expires_at) \
                 VALUES ({p}1, {p}2, {p}3, {p}4, {p}5, {p}6, {p}7, 'pending', {p}8, {p}9)"
            )
        };
        match self {
            Store::Sqlite(pool) => sqlx::query(&sql("?"))
                .bind(&a.id)
                .bind(&a.key_id)
                .bind(&a.profile)
                .bind(&a.tool)
                .bind(payload)
                .bind(&a.payload_hash)
                .bind(&a.preview)
                .bind(micros(a.created_at))
                .bind(micros(a.expires_at))
                .execute(pool)
                .await
                .map(|_| ())
                .map_err(|e| q(e, "store a request")),
            Store::Postgres(pool) => sqlx::query(&sql("$"))
                .bind(&a.id)
                .bind(&a.key_id)
                .bind(&a.profile)
                .bind(&a.tool)
                .bind(payload)
                .bind(&a.payload_hash)
                .bind(&a.preview)
                .bind(a.created_at)
                .bind(a.expires_at)
                .execute(pool)
                .await
                .map(|_| ())
                .map_err(|e| q(e, "store a request")),
        }
    }

    pub async fn get_approval(&self, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
        match self {
            Store::Sqlite(pool) => {
                let row = sqlx::query(&format!("SELECT {COLUMNS} FROM approvals WHERE id = ?1"))
                    .bind(id)
                    .fetch_optional(pool)
                    .await
                    .map_err(|e| q(e, "read a request"))?;
                row.as_ref()
                    .map(sqlite_row)
                    .transpose()
                    .map_err(|e| q(e, "decode a request"))
            }
            Store::Postgres(pool) => {
                let row = sqlx::query(&format!("SELECT {COLUMNS} FROM approvals WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(pool)
                    .await
                    .map_err(|e| q(e, "read a request"))?;
                row.as_ref()
                    .map(pg_row)
                    .transpose()
                    .map_err(|e| q(e, "decode a request"))
            }
        }
    }

    /// Requests, newest first; `pending` means pending and not expired.
    pub async fn list_approvals(
        &self,
        status: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ApprovalRecord>, StoreError> {
        let now = OffsetDateTime::now_utc();
        let pending_only = status == Some("pending");
        let all = match self {
            Store::Sqlite(pool) => {
                let rows = sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM approvals ORDER BY created_at DESC, id DESC LIMIT ?1"
                ))
                .bind(i64::from(limit) * if status.is_some() { 20 } else { 1 })
                .fetch_all(pool)
                .await
                .map_err(|e| q(e, "list requests"))?;
                rows.iter()
                    .map(sqlite_row)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| q(e, "decode requests"))?
            }
            Store::Postgres(pool) => {
                let rows = sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM approvals ORDER BY created_at DESC, id DESC LIMIT $1"
                ))
                .bind(i64::from(limit) * if status.is_some() { 20 } else { 1 })
                .fetch_all(pool)
                .await
                .map_err(|e| q(e, "list requests"))?;
                rows.iter()
                    .map(pg_row)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| q(e, "decode requests"))?
            }
        };
        Ok(all
            .into_iter()
            .filter(|a| match status {
                None => true,
                Some(_) if pending_only => a.effective_status(now) == "pending",
                Some(s) => a.effective_status(now) == s,
            })
            .take(limit as usize)
            .collect())
    }

    /// How many requests wait for a decision now (pending, not expired): one count.
    pub async fn count_pending_approvals(&self, now: OffsetDateTime) -> Result<i64, StoreError> {
        let sql = "SELECT count(*) FROM approvals WHERE status = 'pending' AND expires_at > $1";
        match self {
            Store::Sqlite(pool) => sqlx::query_scalar(sql)
                .bind(micros(now))
                .fetch_one(pool)
                .await
                .map_err(|e| q(e, "count waiting requests")),
            Store::Postgres(pool) => sqlx::query_scalar(sql)
                .bind(now)
                .fetch_one(pool)
                .await
                .map_err(|e| q(e, "count waiting requests")),
        }
    }

    /// Approves or denies a pending, unexpired request; `None` if it is not (any more) pending.
    pub async fn decide_approval(
        &self,
        id: &str,
        approve: bool,
        by: &str,
        reason: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Option<ApprovalRecord>, StoreError> {
        let status = if approve { "approved" } else { "denied" };
        let changed = match self {
            Store::Sqlite(pool) => sqlx::query(
                "UPDATE approvals SET status = ?1, decided_at = ?2, decided_by = ?3, reason = ?4 \
                 WHERE id = ?5 AND status = 'pending' AND expires_at > ?2",
            )
            .bind(status)
            .bind(micros(now))
            .bind(by)
            .bind(reason)
            .bind(id)
            .execute(pool)
            .await
            .map_err(|e| q(e, "decide a request"))?
            .rows_affected(),
            Store::Postgres(pool) => sqlx::query(
                "UPDATE approvals SET status = $1, decided_at = $2, decided_by = $3, reason = $4 \
                 WHERE id = $5 AND status = 'pending' AND expires_at > $2",
            )
            .bind(status)
            .bind(now)
            .bind(by)
            .bind(reason)
            .bind(id)
            .execute(pool)
            .await
            .map_err(|e| q(e, "decide a request"))?
            .rows_affected(),
        };
        if changed == 1 {
            self.get_approval(id).await
        } else {
            Ok(None)
        }
    }

    /// Uses an approved, unexpired request: true exactly once.
    pub async fn consume_approval(
        &self,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let changed = match self {
            Store::Sqlite(pool) => sqlx::query(
                "UPDATE approvals SET status = 'used', used_at = ?1 WHERE id = ?2 AND status = 'approved' AND expires_at > ?1",
            )
            .bind(micros(now)).bind(id)
            .execute(pool).await.map_err(|e| q(e, "use a request"))?.rows_affected(),
            Store::Postgres(pool) => sqlx::query(
                "UPDATE approvals SET status = 'used', used_at = $1 WHERE id = $2 AND status = 'approved' AND expires_at > $1",
            )
            .bind(now).bind(id)
            .execute(pool).await.map_err(|e| q(e, "use a request"))?.rows_affected(),
        };
        Ok(changed == 1)
    }

    /// Marks a request state's nonce used: true the first time, false if any instance sharing
    /// this store already used it. Expired nonces are forgotten on the way (a state is refused
    /// as expired before its nonce is looked at).
    pub async fn use_request_state(
        &self,
        nonce: &str,
        expires_at: u64,
    ) -> Result<bool, StoreError> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let expires_at = i64::try_from(expires_at).unwrap_or(i64::MAX);
        let inserted = match self {
            Store::Sqlite(pool) => {
                sqlx::query("DELETE FROM used_request_states WHERE expires_at < ?1")
                    .bind(now)
                    .execute(pool)
                    .await
                    .map_err(|e| state_err("forget expired ones", e))?;
                sqlx::query(
                    "INSERT INTO used_request_states (nonce, expires_at) VALUES (?1, ?2) ON CONFLICT (nonce) DO NOTHING",
                )
                .bind(nonce)
                .bind(expires_at)
                .execute(pool)
                .await
                .map_err(|e| state_err("record one as used", e))?
                .rows_affected()
            }
            Store::Postgres(pool) => {
                sqlx::query("DELETE FROM used_request_states WHERE expires_at < $1")
                    .bind(now)
                    .execute(pool)
                    .await
                    .map_err(|e| state_err("forget expired ones", e))?;
                sqlx::query(
                    "INSERT INTO used_request_states (nonce, expires_at) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING",
                )
                .bind(nonce)
                .bind(expires_at)
                .execute(pool)
                .await
                .map_err(|e| state_err("record one as used", e))?
                .rows_affected()
            }
        };
        Ok(inserted == 1)
    }
}

fn state_err(what: &str, e: sqlx::Error) -> StoreError {
    StoreError::sql(format!("request states: cannot {what}"), e)
}
