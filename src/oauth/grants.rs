//! Grants and their tokens, transport-free: authorization codes (single use, PKCE S256, exact
//! redirect URI, bound to the resource), access tokens (opaque, short-lived, audience-bound),
//! refresh tokens that rotate (a spent one presented again revokes the whole grant), revocation
//! (RFC 7009), and the check of an access token on each request.
//!
//! Errors carry the RFC 6749 error code the token endpoint answers with and a description an
//! assistant's client (or its developer) can act on; none contains a token.

use super::token::{self, Kind};
use crate::store::{CodeRow, GrantRow, Store, StoreError, Taken, TokenKind, TokenRow};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// How long an authorization code may wait for its exchange.
pub const CODE_TTL: Duration = Duration::from_secs(60);

/// Lifetimes of what a grant issues.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub access: Duration,
    pub refresh: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            access: Duration::from_secs(15 * 60),
            refresh: Duration::from_secs(30 * 86_400),
        }
    }
}

/// Tokens issued by an exchange or a refresh. `Debug` leaves the tokens out.
pub struct Issued {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub scope: String,
    pub grant_id: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("grant_id", &self.grant_id)
            .finish_non_exhaustive()
    }
}

/// Why the token endpoint refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// `invalid_grant`: the code or refresh token is unknown, expired, spent, revoked, or was
    /// issued for another client, redirect URI or PKCE verifier.
    #[error("{0}")]
    InvalidGrant(String),
    /// `invalid_target`: the `resource` is not the one the grant is for.
    #[error("{0}")]
    InvalidTarget(String),
    /// `invalid_request`: a parameter is malformed.
    #[error("{0}")]
    InvalidRequest(String),
    /// The store could not be asked: refuse (fail closed), `server_error` / 503.
    #[error("{0}")]
    Store(StoreError),
}

impl GrantError {
    /// The RFC 6749 `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            GrantError::InvalidGrant(_) => "invalid_grant",
            GrantError::InvalidTarget(_) => "invalid_target",
            GrantError::InvalidRequest(_) => "invalid_request",
            GrantError::Store(_) => "server_error",
        }
    }
}

impl From<StoreError> for GrantError {
    fn from(e: StoreError) -> Self {
        GrantError::Store(e)
    }
}

/// What a new authorization code is for.
#[derive(Debug, Clone)]
pub struct CodeRequest<'a> {
    pub client_id: &'a str,
    pub person_id: &'a str,
    pub redirect_uri: &'a str,
    pub challenge: &'a str,
    pub resource: &'a str,
    pub scope: &'a str,
}

/// An exchange at the token endpoint (`grant_type=authorization_code`).
#[derive(Debug, Clone)]
pub struct Exchange<'a> {
    pub code: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub verifier: &'a str,
    /// RFC 8707: if given, must be the resource the code was issued for.
    pub resource: Option<&'a str>,
}

/// Issues and checks grants against the store.
pub struct Grants {
    store: Arc<Store>,
    lifetimes: Lifetimes,
}

fn after(now: OffsetDateTime, d: Duration) -> OffsetDateTime {
    now + time::Duration::try_from(d).unwrap_or(time::Duration::MAX)
}

impl Grants {
    pub fn new(store: Arc<Store>, lifetimes: Lifetimes) -> Self {
        Self { store, lifetimes }
    }

    /// A new authorization code (after the person signed in and allowed the client).
    pub async fn new_code(&self, r: &CodeRequest<'_>) -> Result<String, GrantError> {
        if !token::challenge_is_valid(r.challenge) {
            return Err(GrantError::InvalidRequest(
                "code_challenge must be an S256 challenge: 43 characters of base64url".into(),
            ));
        }
        let (code, hash) = token::generate(Kind::Code);
        self.store
            .oauth_insert_code(&CodeRow {
                hash,
                client_id: r.client_id.to_string(),
                person_id: r.person_id.to_string(),
                redirect_uri: r.redirect_uri.to_string(),
                challenge: r.challenge.to_string(),
                resource: r.resource.to_string(),
                scope: r.scope.to_string(),
                expires_at: after(OffsetDateTime::now_utc(), CODE_TTL),
            })
            .await?;
        Ok(code)
    }

    /// Exchanges a code for tokens. A code is used once: presented again, the grant it led to
    /// is revoked (RFC 6749 §4.1.2).
    pub async fn exchange(&self, x: &Exchange<'_>) -> Result<Issued, GrantError> {
        let refused = |why: &str| GrantError::InvalidGrant(why.to_string());
        if Kind::of(x.code) != Some(Kind::Code) {
            return Err(refused(
                "the authorization code is not one this server issued",
            ));
        }
        let now = OffsetDateTime::now_utc();
        let code = match self
            .store
            .oauth_take_code(&token::hash(x.code), now)
            .await?
        {
            Taken::Fresh(c) => c,
            Taken::Reused { grant_id } => {
                if let Some(g) = grant_id {
                    self.store
                        .oauth_revoke_grant(&g, now, "authorization code used twice")
                        .await?;
                }
                return Err(refused(
                    "the authorization code was already used; the tokens issued for it are revoked: sign in again",
                ));
            }
            Taken::Missing => {
                return Err(refused(
                    "the authorization code is unknown or expired (codes last 60 s): sign in again",
                ));
            }
        };
        if code.client_id != x.client_id {
            return Err(refused(
                "the authorization code was issued to another client",
            ));
        }
        if code.redirect_uri != x.redirect_uri {
            return Err(refused(
                "redirect_uri differs from the one of the authorization request",
            ));
        }
        if !token::pkce_matches(x.verifier, &code.challenge) {
            return Err(refused(
                "code_verifier does not match the code_challenge (PKCE S256)",
            ));
        }
        if let Some(resource) = x.resource
            && resource != code.resource
        {
            return Err(GrantError::InvalidTarget(format!(
                "the code was issued for the resource {}, not {resource}",
                code.resource
            )));
        }
        self.live_person(&code.person_id).await?;
        let grant = GrantRow {
            id: format!("g_{}", &token::generate(Kind::Code).1[..24]),
            person_id: code.person_id.clone(),
            client_id: code.client_id.clone(),
            resource: code.resource.clone(),
            scope: code.scope.clone(),
            created_at: now,
            revoked_at: None,
            revoked_reason: None,
        };
        self.store.oauth_insert_grant(&grant).await?;
        self.store.oauth_link_code(&code.hash, &grant.id).await?;
        self.issue(&grant, now).await
    }

    /// Rotates a refresh token: a new access token and a new refresh token; the presented one is
    /// spent. A spent refresh token presented again revokes the whole grant (it was stolen, or
    /// the client lost track: either way the person signs in again).
    pub async fn refresh(
        &self,
        refresh_token: &str,
        client_id: &str,
        resource: Option<&str>,
    ) -> Result<Issued, GrantError> {
        let refused = |why: &str| GrantError::InvalidGrant(why.to_string());
        if Kind::of(refresh_token) != Some(Kind::Refresh) {
            return Err(refused("the refresh token is not one this server issued"));
        }
        let now = OffsetDateTime::now_utc();
        let grant = match self
            .store
            .oauth_spend_refresh(&token::hash(refresh_token), now)
            .await?
        {
            Taken::Fresh(g) => g,
            Taken::Reused { grant_id } => {
                if let Some(g) = grant_id {
                    self.store
                        .oauth_revoke_grant(&g, now, "a spent refresh token was used again")
                        .await?;
                }
                return Err(refused(
                    "this refresh token was already used: the grant is revoked; sign in again",
                ));
            }
            Taken::Missing => return Err(refused("the refresh token is unknown or expired")),
        };
        if grant.client_id != client_id {
            return Err(refused("the refresh token was issued to another client"));
        }
        if grant.revoked_at.is_some() {
            return Err(refused("the grant was revoked: sign in again"));
        }
        if let Some(resource) = resource
            && resource != grant.resource
        {
            return Err(GrantError::InvalidTarget(format!(
                "the grant is for the resource {}, not {resource}",
                grant.resource
            )));
        }
        self.live_person(&grant.person_id).await?;
        self.issue(&grant, now).await
    }

    /// RFC 7009: an access token is deleted and, like a refresh token, revokes its grant. A token that is
    /// unknown, or was issued to another client, changes nothing (and is not an error).
    pub async fn revoke(&self, token_text: &str, client_id: &str) -> Result<(), GrantError> {
        let now = OffsetDateTime::now_utc();
        let hash = token::hash(token_text);
        match Kind::of(token_text) {
            // The grant ends too (RFC 7009 §2.1 allows it): a revoked grant reaches every
            // instance's token cache within about a second, a deleted token only its expiry.
            Some(Kind::Access) => {
                if let Some(a) = self.store.oauth_access(&hash).await?
                    && a.grant.client_id == client_id
                {
                    self.store.oauth_delete_access(&hash).await?;
                    self.store
                        .oauth_revoke_grant(&a.grant.id, now, "revoked by the client")
                        .await?;
                }
            }
            Some(Kind::Refresh) => {
                if let Some(grant_id) = self.store.oauth_refresh_grant(&hash).await? {
                    let grant = self.store.oauth_grant(&grant_id).await?;
                    if grant.is_some_and(|g| g.client_id == client_id) {
                        self.store
                            .oauth_revoke_grant(&grant_id, now, "revoked by the client")
                            .await?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn live_person(&self, person_id: &str) -> Result<(), GrantError> {
        match self.store.oauth_get_person(person_id).await? {
            Some(p) if p.blocked_at.is_none() => Ok(()),
            Some(_) => Err(GrantError::InvalidGrant(
                "this person's access was revoked by an operator".into(),
            )),
            None => Err(GrantError::InvalidGrant("unknown person".into())),
        }
    }

    async fn issue(&self, grant: &GrantRow, now: OffsetDateTime) -> Result<Issued, GrantError> {
        let (access, access_hash) = token::generate(Kind::Access);
        let (refresh, refresh_hash) = token::generate(Kind::Refresh);
        for (hash, kind, ttl) in [
            (access_hash, TokenKind::Access, self.lifetimes.access),
            (refresh_hash, TokenKind::Refresh, self.lifetimes.refresh),
        ] {
            self.store
                .oauth_insert_token(&TokenRow {
                    hash,
                    grant_id: grant.id.clone(),
                    kind,
                    created_at: now,
                    expires_at: after(now, ttl),
                })
                .await?;
        }
        Ok(Issued {
            access_token: access,
            refresh_token: refresh,
            expires_in: self.lifetimes.access.as_secs(),
            scope: grant.scope.clone(),
            grant_id: grant.id.clone(),
        })
    }
}

/// The person behind a valid access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonAccess {
    pub person_id: String,
    pub login: String,
    pub uid: i64,
    pub profile: String,
    pub key_version: i64,
    pub grant_id: String,
    pub client_id: String,
    pub expires_at: OffsetDateTime,
}

/// Why an access token was refused. Every variant but `StoreUnavailable` answers the same 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessRefusal {
    Unknown,
    Expired,
    Revoked,
    Blocked,
    /// Issued for another resource (RFC 8707 audience).
    WrongAudience,
    StoreUnavailable,
}

impl AccessRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessRefusal::Unknown => "unknown_token",
            AccessRefusal::Expired => "token_expired",
            AccessRefusal::Revoked => "grant_revoked",
            AccessRefusal::Blocked => "person_blocked",
            AccessRefusal::WrongAudience => "wrong_audience",
            AccessRefusal::StoreUnavailable => "store_unavailable",
        }
    }
}

/// Checks an access token for `resource` (this server's `/mcp` URL): one indexed store read.
pub async fn check_access(
    store: &Store,
    token_text: &str,
    resource: &str,
) -> Result<PersonAccess, AccessRefusal> {
    if Kind::of(token_text) != Some(Kind::Access) {
        return Err(AccessRefusal::Unknown);
    }
    let row = store
        .oauth_access(&token::hash(token_text))
        .await
        .map_err(|_| AccessRefusal::StoreUnavailable)?
        .ok_or(AccessRefusal::Unknown)?;
    if row.grant.revoked_at.is_some() {
        return Err(AccessRefusal::Revoked);
    }
    if row.person.blocked_at.is_some() {
        return Err(AccessRefusal::Blocked);
    }
    if row.expires_at <= OffsetDateTime::now_utc() {
        return Err(AccessRefusal::Expired);
    }
    if row.grant.resource != resource {
        return Err(AccessRefusal::WrongAudience);
    }
    Ok(PersonAccess {
        person_id: row.person.id,
        login: row.person.login,
        uid: row.person.uid,
        profile: row.person.profile,
        key_version: row.person.key_version,
        grant_id: row.grant.id,
        client_id: row.grant.client_id,
        expires_at: row.expires_at,
    })
}
