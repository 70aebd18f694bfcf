//! OAuth 2.1 state (src/oauth): registered clients, people who signed in, authorization codes,
//! grants and their tokens. The SQL is the same on both backends (`$N` parameters, times as Unix
//! microseconds); codes and tokens are kept as SHA-256 hashes only, a person's Odoo API key only
//! sealed (AES-256-GCM, by `oauth::seal`).
//!
//! Single use is decided by the database, so it holds across instances: a code or a refresh
//! token is taken by an `UPDATE ... WHERE used_at IS NULL` that only one caller can win.

use super::{Store, StoreError};
use sqlx::Row;
use time::OffsetDateTime;

/// Runs the same code against whichever pool the store has.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            Store::Sqlite($pool) => $body,
            Store::Postgres($pool) => $body,
        }
    };
}

fn micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000)).unwrap_or(i64::MAX)
}

fn time_of(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn q(what: &str, e: sqlx::Error) -> StoreError {
    StoreError::sql(format!("OAuth store: cannot {what}"), e)
}

/// A client registered with dynamic client registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRow {
    pub client_id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    /// `none`, `client_secret_post` or `client_secret_basic`.
    pub auth_method: String,
    /// SHA-256 (hex) of the client secret, for confidential clients.
    pub secret_hash: Option<String>,
    pub created_at: OffsetDateTime,
}

/// A person who signed in. `sealed_key` is their Odoo API key sealed by `oauth::seal`.
#[derive(Clone, PartialEq, Eq)]
pub struct PersonRow {
    pub id: String,
    pub login: String,
    pub uid: i64,
    pub name: String,
    pub profile: String,
    pub sealed_key: String,
    /// Changes whenever the sealed key does (per-person Odoo sessions are rebuilt).
    pub key_version: i64,
    pub created_at: OffsetDateTime,
    pub signed_in_at: OffsetDateTime,
    pub blocked_at: Option<OffsetDateTime>,
    pub blocked_reason: Option<String>,
}

impl std::fmt::Debug for PersonRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonRow")
            .field("id", &self.id)
            .field("login", &self.login)
            .field("uid", &self.uid)
            .field("profile", &self.profile)
            .field("sealed_key", &"[sealed]")
            .field("key_version", &self.key_version)
            .field("blocked_at", &self.blocked_at)
            .finish()
    }
}

/// An authorization code, by the hash of the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRow {
    pub hash: String,
    pub client_id: String,
    pub person_id: String,
    pub redirect_uri: String,
    /// The PKCE S256 code challenge.
    pub challenge: String,
    pub resource: String,
    pub scope: String,
    pub expires_at: OffsetDateTime,
}

/// What taking a code or a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken<T> {
    /// First use: it is now spent.
    Fresh(T),
    /// Spent before: a replay. The grant it led to (to revoke), if any.
    Reused { grant_id: Option<String> },
    /// No such code or token, or expired.
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRow {
    pub id: String,
    pub person_id: String,
    pub client_id: String,
    pub resource: String,
    pub scope: String,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub revoked_reason: Option<String>,
}

/// `access` or `refresh`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub hash: String,
    pub grant_id: String,
    pub kind: TokenKind,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// An access token with everything a call needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRow {
    pub expires_at: OffsetDateTime,
    pub grant: GrantRow,
    pub person: PersonRow,
}

const PERSON_COLUMNS: &str = "p.id, p.login, p.uid, p.name, p.profile, p.sealed_key, p.key_version, p.created_at, p.signed_in_at, p.blocked_at, p.blocked_reason";
const GRANT_COLUMNS: &str = "g.id, g.person_id, g.client_id, g.resource, g.scope, g.created_at, g.revoked_at, g.revoked_reason";

fn person_of<R: Row>(r: &R) -> Result<PersonRow, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(PersonRow {
        id: r.try_get("id")?,
        login: r.try_get("login")?,
        uid: r.try_get("uid")?,
        name: r.try_get("name")?,
        profile: r.try_get("profile")?,
        sealed_key: r.try_get("sealed_key")?,
        key_version: r.try_get("key_version")?,
        created_at: time_of(r.try_get("created_at")?),
        signed_in_at: time_of(r.try_get("signed_in_at")?),
        blocked_at: r.try_get::<Option<i64>, _>("blocked_at")?.map(time_of),
        blocked_reason: r.try_get("blocked_reason")?,
    })
}

fn grant_of<R: Row>(r: &R, prefix: &str) -> Result<GrantRow, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let c = |n: &str| format!("{prefix}{n}");
    Ok(GrantRow {
        id: r.try_get(c("id").as_str())?,
        person_id: r.try_get(c("person_id").as_str())?,
        client_id: r.try_get(c("client_id").as_str())?,
        resource: r.try_get(c("resource").as_str())?,
        scope: r.try_get(c("scope").as_str())?,
        created_at: time_of(r.try_get(c("created_at").as_str())?),
        revoked_at: r
            .try_get::<Option<i64>, _>(c("revoked_at").as_str())?
            .map(time_of),
        revoked_reason: r.try_get(c("revoked_reason").as_str())?,
    })
}

impl Store {
    pub async fn oauth_insert_client(&self, c: &ClientRow) -> Result<(), StoreError> {
        let uris = serde_json::to_string(&c.redirect_uris).unwrap_or_else(|_| "[]".into());
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO oauth_clients (client_id, name, redirect_uris, auth_method, secret_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&c.client_id)
        .bind(&c.name)
        .bind(&uris)
        .bind(&c.auth_method)
        .bind(&c.secret_hash)
        .bind(micros(c.created_at))
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(|e| q("register a client", e)))
    }

    pub async fn oauth_get_client(&self, id: &str) -> Result<Option<ClientRow>, StoreError> {
        on_pool!(self, pool => sqlx::query(
            "SELECT client_id, name, redirect_uris, auth_method, secret_hash, created_at \
             FROM oauth_clients WHERE client_id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(|e| q("read a client", e))?
        .map(|r| -> Result<ClientRow, sqlx::Error> {
            let uris: String = r.try_get("redirect_uris")?;
            Ok(ClientRow {
                client_id: r.try_get("client_id")?,
                name: r.try_get("name")?,
                redirect_uris: serde_json::from_str(&uris)
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                auth_method: r.try_get("auth_method")?,
                secret_hash: r.try_get("secret_hash")?,
                created_at: time_of(r.try_get("created_at")?),
            })
        })
        .transpose()
        .map_err(|e| q("decode a client", e)))
    }

    /// The person with this login, if they ever signed in.
    pub async fn oauth_person_by_login(
        &self,
        login: &str,
    ) -> Result<Option<PersonRow>, StoreError> {
        let sql = format!("SELECT {PERSON_COLUMNS} FROM oauth_people p WHERE p.login = $1");
        on_pool!(self, pool => sqlx::query(&sql)
            .bind(login)
            .fetch_optional(pool)
            .await
            .map_err(|e| q("read a person", e))?
            .map(|r| person_of(&r))
            .transpose()
            .map_err(|e| q("decode a person", e)))
    }

    pub async fn oauth_get_person(&self, id: &str) -> Result<Option<PersonRow>, StoreError> {
        let sql = format!("SELECT {PERSON_COLUMNS} FROM oauth_people p WHERE p.id = $1");
        on_pool!(self, pool => sqlx::query(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(|e| q("read a person", e))?
            .map(|r| person_of(&r))
            .transpose()
            .map_err(|e| q("decode a person", e)))
    }

    /// Every person who signed in, by login.
    pub async fn oauth_list_people(&self) -> Result<Vec<PersonRow>, StoreError> {
        let sql = format!("SELECT {PERSON_COLUMNS} FROM oauth_people p ORDER BY p.login");
        on_pool!(self, pool => sqlx::query(&sql)
            .fetch_all(pool)
            .await
            .map_err(|e| q("list people", e))?
            .iter()
            .map(person_of)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| q("decode a person", e)))
    }

    /// Stores a sign-in: a new person, or the same login signing in again (their uid, name,
    /// profile and sealed key are updated; their id, first sign-in and block stay).
    pub async fn oauth_save_person(&self, p: &PersonRow) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO oauth_people (id, login, uid, name, profile, sealed_key, key_version, created_at, signed_in_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (login) DO UPDATE SET uid = excluded.uid, name = excluded.name, \
             profile = excluded.profile, sealed_key = excluded.sealed_key, \
             key_version = excluded.key_version, signed_in_at = excluded.signed_in_at",
        )
        .bind(&p.id)
        .bind(&p.login)
        .bind(p.uid)
        .bind(&p.name)
        .bind(&p.profile)
        .bind(&p.sealed_key)
        .bind(p.key_version)
        .bind(micros(p.created_at))
        .bind(micros(p.signed_in_at))
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(|e| q("store a sign-in", e)))
    }

    /// Remembers a person who signed in to the console only (no sealed key, no profile), so that
    /// an operator can revoke them like anyone else; a person already known is left as is.
    pub async fn oauth_note_person(
        &self,
        id: &str,
        login: &str,
        uid: i64,
        name: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO oauth_people (id, login, uid, name, profile, sealed_key, key_version, created_at, signed_in_at) \
             VALUES ($1, $2, $3, $4, '', '', 0, $5, $5) ON CONFLICT (login) DO NOTHING",
        )
        .bind(id)
        .bind(login)
        .bind(uid)
        .bind(name)
        .bind(micros(at))
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(|e| q("note a console sign-in", e)))
    }

    /// Blocks a person (no new sign-ins) and revokes every grant they hold. `None` when no person
    /// has this login; else the number of grants revoked.
    pub async fn oauth_block_person(
        &self,
        login: &str,
        at: OffsetDateTime,
        reason: &str,
    ) -> Result<Option<u64>, StoreError> {
        let Some(person) = self.oauth_person_by_login(login).await? else {
            return Ok(None);
        };
        on_pool!(self, pool => {
            sqlx::query(
                "UPDATE oauth_people SET blocked_at = COALESCE(blocked_at, $2), blocked_reason = $3 WHERE id = $1",
            )
            .bind(&person.id)
            .bind(micros(at))
            .bind(reason)
            .execute(pool)
            .await
            .map_err(|e| q("block a person", e))?;
        });
        self.oauth_revoke_person_grants(&person.id, at, reason)
            .await
            .map(Some)
    }

    /// Lets a blocked person sign in again. `false` when no person has this login.
    pub async fn oauth_unblock_person(&self, login: &str) -> Result<bool, StoreError> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE oauth_people SET blocked_at = NULL, blocked_reason = NULL WHERE login = $1",
        )
        .bind(login)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0)
        .map_err(|e| q("unblock a person", e)))
    }

    /// Revokes every live grant of a person; the number revoked.
    pub async fn oauth_revoke_person_grants(
        &self,
        person_id: &str,
        at: OffsetDateTime,
        reason: &str,
    ) -> Result<u64, StoreError> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE oauth_grants SET revoked_at = $2, revoked_reason = $3 \
             WHERE person_id = $1 AND revoked_at IS NULL",
        )
        .bind(person_id)
        .bind(micros(at))
        .bind(reason)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| q("revoke a person's grants", e)))
    }

    pub async fn oauth_insert_code(&self, c: &CodeRow) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO oauth_codes (hash, client_id, person_id, redirect_uri, challenge, resource, scope, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&c.hash)
        .bind(&c.client_id)
        .bind(&c.person_id)
        .bind(&c.redirect_uri)
        .bind(&c.challenge)
        .bind(&c.resource)
        .bind(&c.scope)
        .bind(micros(c.expires_at))
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(|e| q("store an authorization code", e)))
    }

    /// Takes a code: the first caller gets it, later ones learn it was replayed.
    pub async fn oauth_take_code(
        &self,
        hash: &str,
        now: OffsetDateTime,
    ) -> Result<Taken<CodeRow>, StoreError> {
        on_pool!(self, pool => {
            let won = sqlx::query("UPDATE oauth_codes SET used_at = $2 WHERE hash = $1 AND used_at IS NULL")
                .bind(hash)
                .bind(micros(now))
                .execute(pool)
                .await
                .map_err(|e| q("take an authorization code", e))?
                .rows_affected()
                == 1;
            let row = sqlx::query(
                "SELECT hash, client_id, person_id, redirect_uri, challenge, resource, scope, expires_at, grant_id \
                 FROM oauth_codes WHERE hash = $1",
            )
            .bind(hash)
            .fetch_optional(pool)
            .await
            .map_err(|e| q("read an authorization code", e))?;
            let Some(r) = row else { return Ok(Taken::Missing) };
            let decode = |e| q("decode an authorization code", e);
            if !won {
                return Ok(Taken::Reused { grant_id: r.try_get("grant_id").map_err(decode)? });
            }
            let code = CodeRow {
                hash: r.try_get("hash").map_err(decode)?,
                client_id: r.try_get("client_id").map_err(decode)?,
                person_id: r.try_get("person_id").map_err(decode)?,
                redirect_uri: r.try_get("redirect_uri").map_err(decode)?,
                challenge: r.try_get("challenge").map_err(decode)?,
                resource: r.try_get("resource").map_err(decode)?,
                scope: r.try_get("scope").map_err(decode)?,
                expires_at: time_of(r.try_get("expires_at").map_err(decode)?),
            };
            if code.expires_at <= now {
                return Ok(Taken::Missing);
            }
            Ok(Taken::Fresh(code))
        })
    }

    /// Remembers which grant a code led to (a replayed code revokes it).
    pub async fn oauth_link_code(&self, hash: &str, grant_id: &str) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query("UPDATE oauth_codes SET grant_id = $2 WHERE hash = $1")
            .bind(hash)
            .bind(grant_id)
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(|e| q("link a code to its grant", e)))
    }

    pub async fn oauth_insert_grant(&self, g: &GrantRow) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO oauth_grants (id, person_id, client_id, resource, scope, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&g.id)
        .bind(&g.person_id)
        .bind(&g.client_id)
        .bind(&g.resource)
        .bind(&g.scope)
        .bind(micros(g.created_at))
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(|e| q("store a grant", e)))
    }

    /// Revokes a grant (its tokens stop working). `false` if it was already revoked or unknown.
    pub async fn oauth_revoke_grant(
        &self,
        id: &str,
        at: OffsetDateTime,
        reason: &str,
    ) -> Result<bool, StoreError> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE oauth_grants SET revoked_at = $2, revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(micros(at))
        .bind(reason)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(|e| q("revoke a grant", e)))
    }

    /// Grants revoked at or after `since` (id, person id); pollers evict their caches with it.
    pub async fn oauth_revoked_since(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<(String, String)>, StoreError> {
        super::bounded("poll revoked grants", async move {
            on_pool!(self, pool => sqlx::query(
            "SELECT id, person_id FROM oauth_grants WHERE revoked_at >= $1 ORDER BY revoked_at",
        )
        .bind(micros(since))
        .fetch_all(pool)
        .await
        .map_err(|e| q("poll revoked grants", e))?
        .iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("person_id")?)))
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(|e| q("decode revoked grants", e)))
        })
        .await
    }

    /// A grant by id, revoked or not.
    pub async fn oauth_grant(&self, id: &str) -> Result<Option<GrantRow>, StoreError> {
        let sql = format!("SELECT {GRANT_COLUMNS} FROM oauth_grants g WHERE g.id = $1");
        on_pool!(self, pool => sqlx::query(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(|e| q("read a grant", e))?
            .map(|r| grant_of(&r, ""))
            .transpose()
            .map_err(|e| q("decode a grant", e)))
    }

    /// The live grants of a person.
    pub async fn oauth_person_grants(&self, person_id: &str) -> Result<Vec<GrantRow>, StoreError> {
        let sql = format!(
            "SELECT {GRANT_COLUMNS} FROM oauth_grants g WHERE g.person_id = $1 AND g.revoked_at IS NULL ORDER BY g.created_at"
        );
        on_pool!(self, pool => sqlx::query(&sql)
            .bind(person_id)
            .fetch_all(pool)
            .await
            .map_err(|e| q("list a person's grants", e))?
            .iter()
            .map(|r| grant_of(r, ""))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| q("decode a grant", e)))
    }

    pub async fn oauth_insert_token(&self, t: &TokenRow) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO oauth_tokens (hash, grant_id, kind, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&t.hash)
        .bind(&t.grant_id)
        .bind(t.kind.as_str())
        .bind(micros(t.created_at))
        .bind(micros(t.expires_at))
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(|e| q("store a token", e)))
    }

    /// An access token by its hash, with its grant and person (revoked or expired included: the
    /// caller decides).
    pub async fn oauth_access(&self, hash: &str) -> Result<Option<AccessRow>, StoreError> {
        super::bounded("check an access token", async move {
        let sql = format!(
            "SELECT t.expires_at AS token_expires_at, {GRANT_COLUMNS_AS}, {PERSON_COLUMNS} \
             FROM oauth_tokens t JOIN oauth_grants g ON g.id = t.grant_id \
             JOIN oauth_people p ON p.id = g.person_id \
             WHERE t.hash = $1 AND t.kind = 'access'",
            GRANT_COLUMNS_AS = "g.id AS g_id, g.person_id AS g_person_id, g.client_id AS g_client_id, \
                g.resource AS g_resource, g.scope AS g_scope, g.created_at AS g_created_at, \
                g.revoked_at AS g_revoked_at, g.revoked_reason AS g_revoked_reason"
        );
        on_pool!(self, pool => sqlx::query(&sql)
            .bind(hash)
            .fetch_optional(pool)
            .await
            .map_err(|e| q("read an access token", e))?
            .map(|r| -> Result<AccessRow, sqlx::Error> {
                Ok(AccessRow {
                    expires_at: time_of(r.try_get("token_expires_at")?),
                    grant: grant_of(&r, "g_")?,
                    person: person_of(&r)?,
                })
            })
            .transpose()
            .map_err(|e| q("decode an access token", e)))
    })
        .await
    }

    /// Spends a refresh token: the first caller gets its grant, a replay learns which grant to
    /// revoke.
    pub async fn oauth_spend_refresh(
        &self,
        hash: &str,
        now: OffsetDateTime,
    ) -> Result<Taken<GrantRow>, StoreError> {
        let sql = format!(
            "SELECT t.expires_at AS token_expires_at, {GRANT_COLUMNS} FROM oauth_tokens t \
             JOIN oauth_grants g ON g.id = t.grant_id WHERE t.hash = $1 AND t.kind = 'refresh'"
        );
        on_pool!(self, pool => {
            let won = sqlx::query(
                "UPDATE oauth_tokens SET spent_at = $2 WHERE hash = $1 AND kind = 'refresh' AND spent_at IS NULL",
            )
            .bind(hash)
            .bind(micros(now))
            .execute(pool)
            .await
            .map_err(|e| q("spend a refresh token", e))?
            .rows_affected()
                == 1;
            let row = sqlx::query(&sql)
                .bind(hash)
                .fetch_optional(pool)
                .await
                .map_err(|e| q("read a refresh token", e))?;
            let Some(r) = row else { return Ok(Taken::Missing) };
            let decode = |e| q("decode a refresh token", e);
            let grant = grant_of(&r, "").map_err(decode)?;
            if !won {
                return Ok(Taken::Reused { grant_id: Some(grant.id) });
            }
            let expires: i64 = r.try_get("token_expires_at").map_err(decode)?;
            if time_of(expires) <= now {
                return Ok(Taken::Missing);
            }
            Ok(Taken::Fresh(grant))
        })
    }

    /// Deletes one access token (revocation of that token alone). `false` if unknown.
    pub async fn oauth_delete_access(&self, hash: &str) -> Result<bool, StoreError> {
        on_pool!(self, pool => sqlx::query("DELETE FROM oauth_tokens WHERE hash = $1 AND kind = 'access'")
            .bind(hash)
            .execute(pool)
            .await
            .map(|r| r.rows_affected() == 1)
            .map_err(|e| q("revoke an access token", e)))
    }

    /// The grant a refresh token belongs to, spent or not (for revocation).
    pub async fn oauth_refresh_grant(&self, hash: &str) -> Result<Option<String>, StoreError> {
        on_pool!(self, pool => sqlx::query("SELECT grant_id FROM oauth_tokens WHERE hash = $1 AND kind = 'refresh'")
            .bind(hash)
            .fetch_optional(pool)
            .await
            .map_err(|e| q("read a refresh token", e))?
            .map(|r| r.try_get("grant_id"))
            .transpose()
            .map_err(|e| q("decode a refresh token", e)))
    }

    /// Forgets codes and tokens that expired more than a day before `now` (a replay of one that
    /// old is refused as unknown either way).
    pub async fn oauth_purge(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let before = micros(now - time::Duration::days(1));
        on_pool!(self, pool => {
            let codes = sqlx::query("DELETE FROM oauth_codes WHERE expires_at < $1")
                .bind(before)
                .execute(pool)
                .await
                .map_err(|e| q("purge expired codes", e))?
                .rows_affected();
            let tokens = sqlx::query("DELETE FROM oauth_tokens WHERE expires_at < $1")
                .bind(before)
                .execute(pool)
                .await
                .map_err(|e| q("purge expired tokens", e))?
                .rows_affected();
            Ok(codes + tokens)
        })
    }
}
