//! The kill switch's persisted state: one row, shared by every instance using the store.

use super::{Store, StoreError};
use sqlx::Row;
use time::OffsetDateTime;

/// The switch as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KillSwitchRow {
    /// `open`, `read-only` or `closed`.
    pub mode: String,
    pub reason: String,
    pub changed_by: String,
    pub changed_at: OffsetDateTime,
}

fn q(e: sqlx::Error, what: &str) -> StoreError {
    StoreError::sql(format!("kill switch: cannot {what}"), e)
}

impl Store {
    /// The stored state; `None` before the switch was ever set (open).
    pub async fn get_kill_switch(&self) -> Result<Option<KillSwitchRow>, StoreError> {
        super::bounded("read the kill switch", async move {
            match self {
                Store::Sqlite(pool) => {
                    let row = sqlx::query(
                        "SELECT mode, reason, changed_by, changed_at FROM kill_switch WHERE id = 1",
                    )
                    .fetch_optional(pool)
                    .await
                    .map_err(|e| q(e, "read"))?;
                    row.map(|r| -> Result<KillSwitchRow, sqlx::Error> {
                        let at: i64 = r.try_get("changed_at")?;
                        Ok(KillSwitchRow {
                            mode: r.try_get("mode")?,
                            reason: r.try_get("reason")?,
                            changed_by: r.try_get("changed_by")?,
                            changed_at: OffsetDateTime::from_unix_timestamp_nanos(
                                i128::from(at) * 1_000,
                            )
                            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                        })
                    })
                    .transpose()
                    .map_err(|e| q(e, "decode"))
                }
                Store::Postgres(pool) => {
                    let row = sqlx::query(
                        "SELECT mode, reason, changed_by, changed_at FROM kill_switch WHERE id = 1",
                    )
                    .fetch_optional(pool)
                    .await
                    .map_err(|e| q(e, "read"))?;
                    row.map(|r| -> Result<KillSwitchRow, sqlx::Error> {
                        Ok(KillSwitchRow {
                            mode: r.try_get("mode")?,
                            reason: r.try_get("reason")?,
                            changed_by: r.try_get("changed_by")?,
                            changed_at: r.try_get("changed_at")?,
                        })
                    })
                    .transpose()
                    .map_err(|e| q(e, "decode"))
                }
            }
        })
        .await
    }

    pub async fn set_kill_switch(&self, row: &KillSwitchRow) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(pool) => sqlx::query(
                "INSERT INTO kill_switch (id, mode, reason, changed_by, changed_at) VALUES (1, ?1, ?2, ?3, ?4) \
                 ON CONFLICT (id) DO UPDATE SET mode = excluded.mode, reason = excluded.reason, \
                 changed_by = excluded.changed_by, changed_at = excluded.changed_at",
            )
            .bind(&row.mode)
            .bind(&row.reason)
            .bind(&row.changed_by)
            .bind(i64::try_from(row.changed_at.unix_timestamp_nanos().div_euclid(1_000)).unwrap_or(i64::MAX))
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(|e| q(e, "write")),
            Store::Postgres(pool) => sqlx::query(
                "INSERT INTO kill_switch (id, mode, reason, changed_by, changed_at) VALUES (1, $1, $2, $3, $4) \
                 ON CONFLICT (id) DO UPDATE SET mode = excluded.mode, reason = excluded.reason, \
                 changed_by = excluded.changed_by, changed_at = excluded.changed_at",
            )
            .bind(&row.mode)
            .bind(&row.reason)
            .bind(&row.changed_by)
            .bind(row.changed_at)
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(|e| q(e, "write")),
        }
    }
}
