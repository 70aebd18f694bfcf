//! Creating, listing and revoking keys: one implementation for the CLI and the admin API.

use super::key::{KeyError, Scope, generate, parse_scopes};
use crate::secret::Secret;
use crate::store::{KeyRecord, NewKey, Store, StoreError};
use time::OffsetDateTime;

/// A key as shown to people: never its secret nor its hash.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub profile: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// `active`, `expired` or `revoked`.
    pub status: &'static str,
}

impl KeyView {
    pub fn of(r: &KeyRecord) -> Self {
        let now = OffsetDateTime::now_utc();
        let status = if r.revoked_at.is_some() {
            "revoked"
        } else if r.expires_at.is_some_and(|e| e <= now) {
            "expired"
        } else {
            "active"
        };
        Self {
            id: r.id.clone(),
            name: r.name.clone(),
            scopes: r.scopes.clone(),
            profile: r.profile.clone(),
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            last_used_at: r.last_used_at,
            status,
        }
    }
}

/// A new key: its description and the token, to show once.
pub struct CreatedKey {
    pub view: KeyView,
    pub token: Secret,
}

/// What a key request asks for.
pub struct KeyRequest<'a> {
    pub name: &'a str,
    pub scopes: &'a [String],
    pub profile: Option<&'a str>,
    /// `90d`, `12h`, `30m`; none: never expires.
    pub expires_in: Option<&'a str>,
}

/// Parses `90d`, `12h`, `30m`, `45s`.
pub fn parse_duration(s: &str) -> Result<time::Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| format!("\"{s}\" is not a duration such as 90d, 12h or 30m"))?;
    if n <= 0 {
        return Err(format!("\"{s}\": a duration must be positive"));
    }
    let seconds = match unit {
        "d" => n.checked_mul(86_400),
        "h" => n.checked_mul(3_600),
        "m" => n.checked_mul(60),
        _ => Some(n),
    };
    if seconds.is_none_or(|s| s > 100 * 366 * 86_400) {
        return Err(format!("\"{s}\": at most 100 years"));
    }
    match unit {
        "d" => Ok(time::Duration::days(n)),
        "h" => Ok(time::Duration::hours(n)),
        "m" => Ok(time::Duration::minutes(n)),
        "s" => Ok(time::Duration::seconds(n)),
        _ => Err(format!("\"{s}\" is not a duration such as 90d, 12h or 30m")),
    }
}

/// Validates a request and stores the new key. `profiles` are the configured profile names.
/// Why a key was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateKeyError {
    /// The request itself: what to change.
    #[error("{0}")]
    Invalid(String),
    #[error("the key store failed: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Creates a key (its secret exists in clear only in the answer).
pub async fn create_key(
    store: &Store,
    req: &KeyRequest<'_>,
    profiles: &[String],
) -> Result<CreatedKey, CreateKeyError> {
    let invalid = CreateKeyError::Invalid;
    let name = req.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(invalid(
            "a key needs a name of 1 to 100 characters (who or what uses it)".into(),
        ));
    }
    let scopes = parse_scopes(req.scopes).map_err(invalid)?;
    let profile = req.profile.map(str::trim).filter(|p| !p.is_empty());
    if scopes.contains(&Scope::Mcp) {
        let Some(p) = profile else {
            return Err(invalid(
                "an mcp key needs a profile (--profile): the profile it acts as".into(),
            ));
        };
        if !profiles.iter().any(|x| x == p) {
            return Err(invalid(format!(
                "profile \"{p}\" is not configured (configured: {})",
                if profiles.is_empty() {
                    "none".to_string()
                } else {
                    profiles.join(", ")
                }
            )));
        }
    } else if profile.is_some() {
        return Err(invalid(
            "only mcp keys act as a profile; leave the profile (--profile) out for audit, approve and admin keys"
                .into(),
        ));
    }
    let now = OffsetDateTime::now_utc();
    let expires_at = match req.expires_in {
        Some(d) => Some(
            now.checked_add(parse_duration(d).map_err(invalid)?)
                .ok_or_else(|| invalid(format!("expires_in \"{d}\" is out of range")))?,
        ),
        None => None,
    };
    let generated = tokio::task::spawn_blocking(generate)
        .await
        .map_err(|e| KeyError::Worker(e.to_string()))??;
    let new = NewKey {
        id: generated.id.clone(),
        name: name.to_string(),
        secret_hash: generated.secret_hash,
        scopes: scopes.iter().map(|s| s.as_str().to_string()).collect(),
        profile: profile.map(str::to_string),
        created_at: now,
        expires_at,
    };
    store.insert_key(&new).await?;
    let record = store
        .get_key(&new.id)
        .await?
        .ok_or_else(|| StoreError::Query("the new key was not found after storing it".into()))?;
    Ok(CreatedKey {
        view: KeyView::of(&record),
        token: generated.token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90d").unwrap(), time::Duration::days(90));
        assert_eq!(parse_duration("12h").unwrap(), time::Duration::hours(12));
        assert_eq!(parse_duration("1s").unwrap(), time::Duration::seconds(1));
        for bad in ["", "d", "0d", "-1d", "5y", "1.5d", "90"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
