//! The audit trail's storage (docs/architecture.md, `audit` and `store`): an append-only, hash-chained log.
//!
//! The store does not know how a record is hashed: [`Store::append_audit`] takes the chain
//! function from the audit module, calls it for each record with the previous record's hash, the
//! record's seq and its JSON, and stores what it returns. What it guarantees is the shape of the
//! chain: seqs 1, 2, 3... without gaps, each record's `prev_hash` the `hash` of the record before
//! it (`""` before the first), one chain however many instances append, and a batch stored whole
//! or not at all.
//!
//! - PostgreSQL: each append takes a transaction-level advisory lock, reads the head (the record
//!   with the highest seq) and inserts after it; the lock is released at commit or rollback, so
//!   instances append one after another and none forks the chain.
//! - SQLite: each append is a `BEGIN IMMEDIATE` transaction, which holds the database's write
//!   lock from the start.
//!
//! The record is kept as the exact JSON text `serde_json` writes for it (compact, keys in the
//! order of the value, this crate builds serde_json with `preserve_order`), in a `TEXT` column on
//! both backends, and parsed back from that text when read; parsing then writing it gives the
//! same text again, so a hash recomputed from a read record matches (`float_roundtrip` is on, so
//! floats survive exactly; the audit tests check this). The indexed columns are copies made for
//! queries; the record is the content.

use serde_json::Value;
use time::OffsetDateTime;

use super::{Store, StoreError, postgres, sqlite};

/// The longest hash the store accepts from a chain function (the schema checks it too).
pub const MAX_HASH_LEN: usize = 256;

/// One audit record to append. `record` is the full event as JSON (the audit module's canonical
/// content); the other fields are copies of some of its values, stored in indexed columns for
/// queries.
#[derive(Debug, Clone)]
pub struct AuditInsert {
    pub time: OffsetDateTime,
    /// "request", "tool_call", "write_intent", "write_outcome", "auth_failure", ...
    pub kind: String,
    pub key_id: Option<String>,
    pub profile: Option<String>,
    /// The person's Odoo login (OAuth), when there is one.
    pub person: Option<String>,
    pub model: Option<String>,
    pub operation: Option<String>,
    /// "allow" | "deny" | ...
    pub decision: Option<String>,
    /// "ok" | "error" | "refused" | ...
    pub outcome: Option<String>,
    /// Links a write_intent to its write_outcome.
    pub call_id: Option<String>,
    pub record_ids: Vec<i64>,
    pub record: Value,
}

/// A stored audit record. `time` is the indexed copy, in UTC at microsecond precision (see
/// [`super::stored_time`]); `record` is parsed from the stored text.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    pub seq: i64,
    pub time: OffsetDateTime,
    pub record: Value,
    pub prev_hash: String,
    pub hash: String,
}

/// How many records since a time have one kind, decision and outcome (the dashboard).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditTally {
    pub kind: String,
    pub decision: Option<String>,
    pub outcome: Option<String>,
    pub count: i64,
}

/// Which records a query returns: every given field must match (`since` inclusive, `until`
/// exclusive, `record_id` any of the record's ids); `Default` matches everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    pub key_id: Option<String>,
    pub profile: Option<String>,
    pub person: Option<String>,
    pub model: Option<String>,
    pub operation: Option<String>,
    pub decision: Option<String>,
    pub outcome: Option<String>,
    pub kind: Option<String>,
    pub record_id: Option<i64>,
    pub call_id: Option<String>,
}

/// The chain function: `(prev_hash, seq, record) -> hash`.
pub type ChainFn = dyn Fn(&str, i64, &Value) -> String + Send + Sync;

/// A record ready to insert: its seq, text and hashes computed.
pub(super) struct Prepared<'a> {
    pub seq: i64,
    pub event: &'a AuditInsert,
    pub text: String,
    pub prev_hash: String,
    pub hash: String,
}

/// Chains `events` after the head `(seq, hash)` (`None`: the trail is empty).
pub(super) fn prepare<'a>(
    events: &'a [AuditInsert],
    head: Option<(i64, String)>,
    chain: &ChainFn,
) -> Result<Vec<Prepared<'a>>, StoreError> {
    let (mut seq, mut prev) = head.unwrap_or((0, String::new()));
    let mut out = Vec::with_capacity(events.len());
    for event in events {
        seq += 1;
        let text = serde_json::to_string(&event.record).map_err(|e| {
            StoreError::Record(format!(
                "cannot append to the audit trail: the record of a {} event does not serialise \
                 as JSON ({e}); nothing of this batch was stored",
                event.kind
            ))
        })?;
        let hash = chain(&prev, seq, &event.record);
        if hash.is_empty() || hash.len() > MAX_HASH_LEN {
            return Err(StoreError::Record(format!(
                "cannot append to the audit trail: the chain function returned a hash of {} \
                 bytes for seq {seq} (1 to {MAX_HASH_LEN} expected); nothing of this batch was \
                 stored",
                hash.len()
            )));
        }
        out.push(Prepared {
            seq,
            event,
            text,
            prev_hash: std::mem::replace(&mut prev, hash.clone()),
            hash,
        });
    }
    Ok(out)
}

/// Parses a stored record's text.
pub(super) fn parse_record(seq: i64, text: &str) -> Result<Value, sqlx::Error> {
    serde_json::from_str(text).map_err(|e| {
        sqlx::Error::Decode(format!("audit record {seq} is not valid JSON: {e}").into())
    })
}

/// A failed append keeps the driver's error (see [`StoreError::refuses_record`]).
pub(super) fn map_append(e: sqlx::Error) -> StoreError {
    StoreError::sql(
        "cannot append to the audit trail (nothing of this batch was stored; check that the \
         store is reachable, has space and is not locked)",
        e,
    )
}

impl Store {
    /// Appends `events` in order as ONE transaction, each chained to the previous record:
    /// `hash = chain(prev_hash, seq, &event.record)`, where `prev_hash` is the hash of the record
    /// with the previous seq (`""` before the first record) and `seq` is 1, 2, 3... without gaps.
    ///
    /// The chain head is read and extended under a lock (PostgreSQL: a transaction-level
    /// advisory lock; SQLite: `BEGIN IMMEDIATE`), so any number of instances appending to one
    /// database never fork the chain. Returns the seqs assigned, in the order of `events`.
    /// Either all are committed or none. `chain` is called with the lock held: keep it quick.
    /// A hash that is empty or longer than [`MAX_HASH_LEN`] bytes fails the whole batch.
    pub async fn append_audit(
        &self,
        events: &[AuditInsert],
        chain: &ChainFn,
    ) -> Result<Vec<i64>, StoreError> {
        super::bounded("append to the audit trail", async move {
            if events.is_empty() {
                return Ok(Vec::new());
            }
            match self {
                Store::Sqlite(pool) => sqlite::append_audit(pool, events, chain).await,
                Store::Postgres(pool) => postgres::append_audit(pool, events, chain).await,
            }
        })
        .await
    }

    /// Records matching `filter`, in seq order, strictly after `after_seq` (a cursor), at most
    /// `limit`.
    pub async fn query_audit(
        &self,
        filter: &AuditFilter,
        after_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditRow>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        match self {
            Store::Sqlite(pool) => sqlite::query_audit(pool, filter, after_seq, limit, false).await,
            Store::Postgres(pool) => {
                postgres::query_audit(pool, filter, after_seq, limit, false).await
            }
        }
    }

    /// Newest first variant for "latest N": same filter, in descending seq order, strictly
    /// before `before_seq` when given, at most `limit`.
    pub async fn query_audit_desc(
        &self,
        filter: &AuditFilter,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditRow>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        match self {
            Store::Sqlite(pool) => sqlite::query_audit(pool, filter, before_seq, limit, true).await,
            Store::Postgres(pool) => {
                postgres::query_audit(pool, filter, before_seq, limit, true).await
            }
        }
    }

    /// Every record in seq order from `from_seq` (inclusive), at most `limit` (for verify,
    /// paging).
    pub async fn audit_range(
        &self,
        from_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditRow>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        match self {
            Store::Sqlite(pool) => sqlite::audit_range(pool, from_seq, limit).await,
            Store::Postgres(pool) => postgres::audit_range(pool, from_seq, limit).await,
        }
    }

    /// Seq and hash of the last record (the highest seq); `None` when the trail is empty.
    pub async fn audit_head(&self) -> Result<Option<(i64, String)>, StoreError> {
        match self {
            Store::Sqlite(pool) => sqlite::audit_head(pool).await,
            Store::Postgres(pool) => postgres::audit_head(pool).await,
        }
    }

    /// Records at or after `since`, counted by kind, decision and outcome (one query, on the
    /// time index).
    pub async fn audit_tally(&self, since: OffsetDateTime) -> Result<Vec<AuditTally>, StoreError> {
        match self {
            Store::Sqlite(pool) => sqlite::audit_tally(pool, since).await,
            Store::Postgres(pool) => postgres::audit_tally(pool, since).await,
        }
    }

    /// How many records the trail holds (counted, not taken from the head's seq, so a deleted
    /// row shows).
    pub async fn audit_count(&self) -> Result<i64, StoreError> {
        match self {
            Store::Sqlite(pool) => sqlite::audit_count(pool).await,
            Store::Postgres(pool) => postgres::audit_count(pool).await,
        }
    }
}

/// The part of an audit query both backends share, after the time bounds (which differ: SQLite
/// stores microseconds): the equality filters, the record id, the cursor, the order and the limit.
pub(super) fn push_filter<'a, DB>(
    qb: &mut sqlx::QueryBuilder<'a, DB>,
    filter: &AuditFilter,
    cursor: Option<i64>,
    limit: u32,
    descending: bool,
) where
    DB: sqlx::Database,
    String: 'a + sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: 'a + sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    for (column, value) in [
        ("kind", &filter.kind),
        ("key_id", &filter.key_id),
        ("profile", &filter.profile),
        ("person", &filter.person),
        ("model", &filter.model),
        ("operation", &filter.operation),
        ("decision", &filter.decision),
        ("outcome", &filter.outcome),
        ("call_id", &filter.call_id),
    ] {
        if let Some(v) = value {
            qb.push(format_args!(" AND {column} = "))
                .push_bind(v.clone());
        }
    }
    if let Some(id) = filter.record_id {
        qb.push(" AND seq IN (SELECT seq FROM audit_record_ids WHERE record_id = ")
            .push_bind(id)
            .push(")");
    }
    if let Some(c) = cursor {
        qb.push(if descending {
            " AND seq < "
        } else {
            " AND seq > "
        })
        .push_bind(c);
    }
    qb.push(if descending {
        " ORDER BY seq DESC LIMIT "
    } else {
        " ORDER BY seq LIMIT "
    })
    .push_bind(i64::from(limit));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(record: Value) -> AuditInsert {
        AuditInsert {
            time: OffsetDateTime::UNIX_EPOCH,
            kind: "request".into(),
            key_id: None,
            profile: None,
            person: None,
            model: None,
            operation: None,
            decision: None,
            outcome: None,
            call_id: None,
            record_ids: vec![],
            record,
        }
    }

    #[test]
    fn prepare_chains_from_the_head() {
        let events = [event(json!({"a": 1})), event(json!({"b": 2}))];
        let chain = |prev: &str, seq: i64, _: &Value| format!("{prev}>{seq}");
        let first = prepare(&events, None, &chain).unwrap();
        assert_eq!(
            first
                .iter()
                .map(|p| (p.seq, p.prev_hash.as_str(), p.hash.as_str()))
                .collect::<Vec<_>>(),
            [(1, "", ">1"), (2, ">1", ">1>2")]
        );
        assert_eq!(first[0].text, r#"{"a":1}"#);
        let later = prepare(&events, Some((7, "h7".into())), &chain).unwrap();
        assert_eq!((later[0].seq, later[0].prev_hash.as_str()), (8, "h7"));
        assert_eq!((later[1].seq, later[1].prev_hash.as_str()), (9, "h7>8"));
    }

    #[test]
    fn prepare_refuses_empty_and_huge_hashes() {
        let events = [event(json!(1)), event(json!(2))];
        let empty =
            |_: &str, seq: i64, _: &Value| if seq == 2 { String::new() } else { "h".into() };
        assert!(
            matches!(prepare(&events, None, &empty), Err(StoreError::Record(m)) if m.contains("seq 2"))
        );
        let huge = |_: &str, _: i64, _: &Value| "x".repeat(MAX_HASH_LEN + 1);
        assert!(prepare(&events, None, &huge).is_err());
        let max = |_: &str, _: i64, _: &Value| "x".repeat(MAX_HASH_LEN);
        assert!(prepare(&events, None, &max).is_ok());
    }
}
