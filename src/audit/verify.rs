//! Checking the chain: every record's hash, every link, no gap in the sequence.

use super::chain;
use crate::store::{Store, StoreError};
use std::collections::BTreeMap;

/// What `verify` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyReport {
    pub ok: bool,
    pub records: i64,
    /// The first record that breaks the chain, and how.
    pub first_bad_seq: Option<i64>,
    pub problem: Option<String>,
    /// Writes whose outcome is unknown: an intent without an outcome (a crash between the two),
    /// or an outcome recorded as unknown (Odoo timed out, the call was cut off).
    pub unknown_outcomes: Vec<UnknownOutcome>,
    /// The last record's seq and hash: keep them (an export does) to detect, later, the removal
    /// of records at the end, which leaves a consistent but shorter chain.
    pub head_seq: Option<i64>,
    pub head_hash: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct UnknownOutcome {
    pub seq: i64,
    pub call_id: String,
}

const PAGE: u32 = 5000;

/// A record's seq and hash, kept outside the store (from an earlier verify, an export, or the
/// `audit head` lines odoo-warden logs): the trail must still hold that very record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptHead {
    pub seq: i64,
    pub hash: String,
}

impl std::str::FromStr for KeptHead {
    type Err = String;

    /// `SEQ:HASH`, as `audit verify` prints it.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("expected SEQ:HASH (as `audit verify` prints the head), got {s:?}");
        let (seq, hash) = s.split_once(':').ok_or_else(bad)?;
        let seq: i64 = seq.trim().parse().map_err(|_| bad())?;
        let hash = hash.trim().to_ascii_lowercase();
        if seq < 1 || hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        Ok(KeptHead { seq, hash })
    }
}

/// Walks the whole trail in order and recomputes the chain; with `kept`, also checks that the
/// trail still holds that record (a chain cut at the end, or rewritten from some record on, is
/// consistent in itself: only a hash kept elsewhere shows it).
pub async fn verify(store: &Store, kept: Option<&KeptHead>) -> Result<VerifyReport, StoreError> {
    let mut expected_seq = 1i64;
    let mut prev_hash = String::new();
    let mut count = 0i64;
    let mut open_intents: BTreeMap<String, i64> = BTreeMap::new();
    loop {
        let rows = store.audit_range(expected_seq, PAGE).await?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            let bad = |problem: String| VerifyReport {
                ok: false,
                records: count,
                first_bad_seq: Some(row.seq),
                problem: Some(problem),
                unknown_outcomes: Vec::new(),
                head_seq: None,
                head_hash: None,
            };
            if row.seq != expected_seq {
                return Ok(VerifyReport {
                    first_bad_seq: Some(expected_seq),
                    ..bad(format!(
                        "record {expected_seq} is missing (the next record is {}): records were removed",
                        row.seq
                    ))
                });
            }
            if row.prev_hash != prev_hash {
                return Ok(bad(format!(
                    "record {} does not follow record {}: records were inserted, removed or reordered",
                    row.seq,
                    row.seq - 1
                )));
            }
            if chain(&prev_hash, row.seq, &row.record) != row.hash {
                return Ok(bad(format!(
                    "record {} was changed after it was written",
                    row.seq
                )));
            }
            if let Some(k) = kept.filter(|k| k.seq == row.seq && k.hash != row.hash) {
                return Ok(bad(format!(
                    "record {} is not the record whose hash was kept ({}…): the trail was cut and written again, or rewritten, at or before record {}",
                    k.seq,
                    &k.hash[..12],
                    k.seq
                )));
            }
            let kind = row
                .record
                .get("kind")
                .and_then(|k| k.as_str())
                .and_then(super::Kind::parse);
            if let Some(call) = row.record.get("call_id").and_then(|c| c.as_str()) {
                match kind {
                    Some(super::Kind::WriteIntent) => {
                        open_intents.insert(call.to_string(), row.seq);
                    }
                    // An outcome recorded as unknown (timeout, cut off) leaves the write open.
                    Some(super::Kind::WriteOutcome)
                        if row.record.get("outcome").and_then(|o| o.as_str())
                            != Some("unknown") =>
                    {
                        open_intents.remove(call);
                    }
                    _ => {}
                }
            }
            prev_hash = row.hash;
            expected_seq += 1;
            count += 1;
        }
    }
    // A trail whose last records were removed still ends with a consistent chain: only a head
    // kept elsewhere reveals it.
    if let Some(k) = kept.filter(|k| k.seq >= expected_seq) {
        return Ok(VerifyReport {
            ok: false,
            records: count,
            first_bad_seq: Some(expected_seq),
            problem: Some(format!(
                "the trail ends at record {}, but record {} was kept as a head: records {} to {} (at least) were removed",
                expected_seq - 1,
                k.seq,
                expected_seq,
                k.seq
            )),
            unknown_outcomes: Vec::new(),
            head_seq: None,
            head_hash: None,
        });
    }
    Ok(VerifyReport {
        ok: true,
        records: count,
        first_bad_seq: None,
        problem: None,
        unknown_outcomes: open_intents
            .into_iter()
            .map(|(call_id, seq)| UnknownOutcome { seq, call_id })
            .collect(),
        head_seq: (count > 0).then_some(expected_seq - 1),
        head_hash: (count > 0).then_some(prev_hash),
    })
}

#[cfg(test)]
mod tests {
    use super::KeptHead;

    #[test]
    fn kept_heads_parse_as_verify_prints_them() {
        let hash = "ab".repeat(32);
        let k: KeptHead = format!("42:{}", hash.to_uppercase()).parse().unwrap();
        assert_eq!(k, KeptHead { seq: 42, hash });
        for bad in [
            "",
            "42",
            "x:ab",
            "0:ab",
            "-1:ab",
            "42:abc",
            &format!("42:{}", "g".repeat(64)),
        ] {
            let e = bad.parse::<KeptHead>().unwrap_err();
            assert!(e.contains("SEQ:HASH"), "{bad}: {e}");
        }
    }
}
