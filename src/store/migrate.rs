//! Schema migrations: an ordered list of steps, each with its SQL for both backends, applied once
//! each, in order, every one inside its own transaction, and recorded in `schema_migrations`.
//!
//! Adding a table later (approvals, kill switch, used request states) means appending a
//! [`Migration`] with the next version; never edit or reorder one that has shipped. Each step's name is recorded and
//! checked, so a database migrated by a different build with the same version numbers is refused
//! rather than silently trusted, and so is one migrated by a newer odoo-warden.
//!
//! Concurrency: several instances may start at once against one database.
//! - PostgreSQL: the whole run holds a session-level advisory lock on a dedicated connection, so
//!   one instance migrates while the others wait, then find nothing left to do. The connection is
//!   closed afterwards (on error too, by being dropped), which releases the lock.
//! - SQLite: each step runs in a `BEGIN IMMEDIATE` transaction (the write lock, waited for up to
//!   `busy_timeout`) and re-checks inside it whether another process applied it meanwhile.

use sqlx::{Connection, Executor, PgConnection, Row, SqlitePool};

use super::StoreError;

/// One step of the schema.
pub(super) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

/// The schema version this build brings a database to.
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// Key for `pg_advisory_lock`: the bytes of "odoowrdn".
const PG_LOCK_KEY: i64 = 0x6f64_6f6f_7772_646e;

pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "api_keys",
        // Times are Unix microseconds (UTC); scopes a JSON array of strings.
        sqlite: "
        CREATE TABLE api_keys (
            id           TEXT    NOT NULL PRIMARY KEY,
            name         TEXT    NOT NULL,
            secret_hash  TEXT    NOT NULL,
            scopes       TEXT    NOT NULL,
            profile      TEXT,
            created_at   INTEGER NOT NULL,
            expires_at   INTEGER,
            revoked_at   INTEGER,
            last_used_at INTEGER
        ) STRICT;
        CREATE INDEX api_keys_by_created ON api_keys (created_at DESC, id DESC);
        CREATE INDEX api_keys_by_revoked ON api_keys (revoked_at) WHERE revoked_at IS NOT NULL;
    ",
        postgres: "
        CREATE TABLE api_keys (
            id           TEXT        NOT NULL PRIMARY KEY,
            name         TEXT        NOT NULL,
            secret_hash  TEXT        NOT NULL,
            scopes       TEXT[]      NOT NULL,
            profile      TEXT,
            created_at   TIMESTAMPTZ NOT NULL,
            expires_at   TIMESTAMPTZ,
            revoked_at   TIMESTAMPTZ,
            last_used_at TIMESTAMPTZ
        );
        CREATE INDEX api_keys_by_created ON api_keys (created_at DESC, id DESC);
        CREATE INDEX api_keys_by_revoked ON api_keys (revoked_at) WHERE revoked_at IS NOT NULL;
    ",
    },
    Migration {
        version: 2,
        name: "audit_log",
        // The audit trail (docs/architecture.md, `audit`). `record` is the event's JSON text exactly as it was
        // hashed; the other columns copy some of its values for indexed queries. `seq` is assigned
        // by the store, 1, 2, 3... (the rowid on SQLite). Every filter column has an index on
        // (column, seq, time): an equality filter pages in seq order straight off the index, and a
        // time range is checked inside the index without visiting the table. No foreign key from
        // audit_record_ids: tampering (a deleted row) must stay possible to commit, so that verify
        // can find it.
        sqlite: "
        CREATE TABLE audit_log (
            seq       INTEGER NOT NULL PRIMARY KEY,
            time      INTEGER NOT NULL,
            kind      TEXT    NOT NULL,
            key_id    TEXT,
            profile   TEXT,
            model     TEXT,
            operation TEXT,
            decision  TEXT,
            outcome   TEXT,
            call_id   TEXT,
            record    TEXT    NOT NULL,
            prev_hash TEXT    NOT NULL,
            hash      TEXT    NOT NULL CHECK (length(hash) BETWEEN 1 AND 256)
        ) STRICT;
        CREATE INDEX audit_by_time      ON audit_log (time, seq);
        CREATE INDEX audit_by_kind      ON audit_log (kind, seq, time);
        CREATE INDEX audit_by_key       ON audit_log (key_id, seq, time) WHERE key_id IS NOT NULL;
        CREATE INDEX audit_by_profile   ON audit_log (profile, seq, time) WHERE profile IS NOT NULL;
        CREATE INDEX audit_by_model     ON audit_log (model, seq, time) WHERE model IS NOT NULL;
        CREATE INDEX audit_by_operation ON audit_log (operation, seq, time)
            WHERE operation IS NOT NULL;
        CREATE INDEX audit_by_decision  ON audit_log (decision, seq, time)
            WHERE decision IS NOT NULL;
        CREATE INDEX audit_by_outcome   ON audit_log (outcome, seq, time) WHERE outcome IS NOT NULL;
        CREATE INDEX audit_by_call      ON audit_log (call_id, seq) WHERE call_id IS NOT NULL;
        CREATE TABLE audit_record_ids (
            record_id INTEGER NOT NULL,
            seq       INTEGER NOT NULL,
            PRIMARY KEY (record_id, seq)
        ) STRICT, WITHOUT ROWID;
    ",
        postgres: "
        CREATE TABLE audit_log (
            seq       BIGINT      NOT NULL PRIMARY KEY,
            time      TIMESTAMPTZ NOT NULL,
            kind      TEXT        NOT NULL,
            key_id    TEXT,
            profile   TEXT,
            model     TEXT,
            operation TEXT,
            decision  TEXT,
            outcome   TEXT,
            call_id   TEXT,
            record    TEXT        NOT NULL,
            prev_hash TEXT        NOT NULL,
            hash      TEXT        NOT NULL CHECK (length(hash) BETWEEN 1 AND 256)
        );
        CREATE INDEX audit_by_time      ON audit_log (time, seq);
        CREATE INDEX audit_by_kind      ON audit_log (kind, seq, time);
        CREATE INDEX audit_by_key       ON audit_log (key_id, seq, time) WHERE key_id IS NOT NULL;
        CREATE INDEX audit_by_profile   ON audit_log (profile, seq, time) WHERE profile IS NOT NULL;
        CREATE INDEX audit_by_model     ON audit_log (model, seq, time) WHERE model IS NOT NULL;
        CREATE INDEX audit_by_operation ON audit_log (operation, seq, time)
            WHERE operation IS NOT NULL;
        CREATE INDEX audit_by_decision  ON audit_log (decision, seq, time)
            WHERE decision IS NOT NULL;
        CREATE INDEX audit_by_outcome   ON audit_log (outcome, seq, time) WHERE outcome IS NOT NULL;
        CREATE INDEX audit_by_call      ON audit_log (call_id, seq) WHERE call_id IS NOT NULL;
        CREATE TABLE audit_record_ids (
            record_id BIGINT NOT NULL,
            seq       BIGINT NOT NULL,
            PRIMARY KEY (record_id, seq)
        );
    ",
    },
    Migration {
        version: 3,
        name: "approvals",
        // RECONSTRUCTED by the audit-store helper after it overwrote this file by mistake:
        // derived from the queries in approvals.rs; the original author should check it.
        sqlite: "
        CREATE TABLE approvals (
            id           TEXT    NOT NULL PRIMARY KEY,
            key_id       TEXT    NOT NULL,
            profile      TEXT    NOT NULL,
            tool         TEXT    NOT NULL,
            payload      TEXT    NOT NULL,
            payload_hash TEXT    NOT NULL,
            preview      TEXT    NOT NULL,
            status       TEXT    NOT NULL,
            created_at   INTEGER NOT NULL,
            expires_at   INTEGER NOT NULL,
            decided_at   INTEGER,
            decided_by   TEXT,
            reason       TEXT,
            used_at      INTEGER
        ) STRICT;
        CREATE INDEX approvals_by_created ON approvals (created_at DESC, id DESC);
    ",
        postgres: "
        CREATE TABLE approvals (
            id           TEXT        NOT NULL PRIMARY KEY,
            key_id       TEXT        NOT NULL,
            profile      TEXT        NOT NULL,
            tool         TEXT        NOT NULL,
            payload      TEXT        NOT NULL,
            payload_hash TEXT        NOT NULL,
            preview      TEXT        NOT NULL,
            status       TEXT        NOT NULL,
            created_at   TIMESTAMPTZ NOT NULL,
            expires_at   TIMESTAMPTZ NOT NULL,
            decided_at   TIMESTAMPTZ,
            decided_by   TEXT,
            reason       TEXT,
            used_at      TIMESTAMPTZ
        );
        CREATE INDEX approvals_by_created ON approvals (created_at DESC, id DESC);
    ",
    },
    Migration {
        version: 4,
        name: "kill_switch",
        // One row (id = 1): the switch every instance follows.
        sqlite: "
        CREATE TABLE kill_switch (
            id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
            mode       TEXT    NOT NULL,
            reason     TEXT    NOT NULL,
            changed_by TEXT    NOT NULL,
            changed_at INTEGER NOT NULL
        ) STRICT;
    ",
        postgres: "
        CREATE TABLE kill_switch (
            id         INTEGER     NOT NULL PRIMARY KEY CHECK (id = 1),
            mode       TEXT        NOT NULL,
            reason     TEXT        NOT NULL,
            changed_by TEXT        NOT NULL,
            changed_at TIMESTAMPTZ NOT NULL
        );
    ",
    },
    Migration {
        version: 5,
        name: "used_request_states",
        // Nonces of multi-round-trip request states already accepted, until they expire: a
        // state is accepted once across every instance sharing the store. `expires_at` in Unix
        // seconds on both backends (it comes from the sealed state).
        sqlite: "
        CREATE TABLE used_request_states (
            nonce      TEXT    NOT NULL PRIMARY KEY,
            expires_at INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX used_request_states_by_expiry ON used_request_states (expires_at);
    ",
        postgres: "
        CREATE TABLE used_request_states (
            nonce      TEXT   NOT NULL PRIMARY KEY,
            expires_at BIGINT NOT NULL
        );
        CREATE INDEX used_request_states_by_expiry ON used_request_states (expires_at);
    ",
    },    Migration {
        version: 6,
        name: "oauth",
        // OAuth 2.1 (src/oauth): clients registered dynamically, people who signed in (their
        // Odoo API key sealed with AES-256-GCM, never in clear), authorization codes, grants and
        // their tokens. Codes and tokens are kept only as SHA-256 hashes. Times are Unix
        // microseconds on both backends (these tables are internal, not for auditors).
        sqlite: "
        CREATE TABLE oauth_clients (
            client_id    TEXT   NOT NULL PRIMARY KEY,
            name         TEXT   NOT NULL,
            redirect_uris TEXT  NOT NULL,
            auth_method  TEXT   NOT NULL,
            secret_hash  TEXT,
            created_at   INTEGER NOT NULL
        ) STRICT;
        CREATE TABLE oauth_people (
            id           TEXT   NOT NULL PRIMARY KEY,
            login        TEXT   NOT NULL UNIQUE,
            uid          INTEGER NOT NULL,
            name         TEXT   NOT NULL,
            profile      TEXT   NOT NULL,
            sealed_key   TEXT   NOT NULL,
            key_version  INTEGER NOT NULL,
            created_at   INTEGER NOT NULL,
            signed_in_at INTEGER NOT NULL,
            blocked_at   INTEGER,
            blocked_reason TEXT
        ) STRICT;
        CREATE TABLE oauth_codes (
            hash         TEXT   NOT NULL PRIMARY KEY,
            client_id    TEXT   NOT NULL,
            person_id    TEXT   NOT NULL,
            redirect_uri TEXT   NOT NULL,
            challenge    TEXT   NOT NULL,
            resource     TEXT   NOT NULL,
            scope        TEXT   NOT NULL,
            expires_at   INTEGER NOT NULL,
            used_at      INTEGER,
            grant_id     TEXT
        ) STRICT;
        CREATE INDEX oauth_codes_by_expiry ON oauth_codes (expires_at);
        CREATE TABLE oauth_grants (
            id           TEXT   NOT NULL PRIMARY KEY,
            person_id    TEXT   NOT NULL,
            client_id    TEXT   NOT NULL,
            resource     TEXT   NOT NULL,
            scope        TEXT   NOT NULL,
            created_at   INTEGER NOT NULL,
            revoked_at   INTEGER,
            revoked_reason TEXT
        ) STRICT;
        CREATE INDEX oauth_grants_by_person ON oauth_grants (person_id);
        CREATE INDEX oauth_grants_by_revoked ON oauth_grants (revoked_at) WHERE revoked_at IS NOT NULL;
        CREATE TABLE oauth_tokens (
            hash         TEXT   NOT NULL PRIMARY KEY,
            grant_id     TEXT   NOT NULL,
            kind         TEXT   NOT NULL CHECK (kind IN ('access', 'refresh')),
            created_at   INTEGER NOT NULL,
            expires_at   INTEGER NOT NULL,
            spent_at     INTEGER
        ) STRICT;
        CREATE INDEX oauth_tokens_by_grant ON oauth_tokens (grant_id);
        CREATE INDEX oauth_tokens_by_expiry ON oauth_tokens (expires_at);
    ",
        postgres: "
        CREATE TABLE oauth_clients (
            client_id    TEXT   NOT NULL PRIMARY KEY,
            name         TEXT   NOT NULL,
            redirect_uris TEXT  NOT NULL,
            auth_method  TEXT   NOT NULL,
            secret_hash  TEXT,
            created_at   BIGINT  NOT NULL
        );
        CREATE TABLE oauth_people (
            id           TEXT   NOT NULL PRIMARY KEY,
            login        TEXT   NOT NULL UNIQUE,
            uid          BIGINT  NOT NULL,
            name         TEXT   NOT NULL,
            profile      TEXT   NOT NULL,
            sealed_key   TEXT   NOT NULL,
            key_version  BIGINT  NOT NULL,
            created_at   BIGINT  NOT NULL,
            signed_in_at BIGINT  NOT NULL,
            blocked_at   BIGINT ,
            blocked_reason TEXT
        );
        CREATE TABLE oauth_codes (
            hash         TEXT   NOT NULL PRIMARY KEY,
            client_id    TEXT   NOT NULL,
            person_id    TEXT   NOT NULL,
            redirect_uri TEXT   NOT NULL,
            challenge    TEXT   NOT NULL,
            resource     TEXT   NOT NULL,
            scope        TEXT   NOT NULL,
            expires_at   BIGINT  NOT NULL,
            used_at      BIGINT ,
            grant_id     TEXT
        );
        CREATE INDEX oauth_codes_by_expiry ON oauth_codes (expires_at);
        CREATE TABLE oauth_grants (
            id           TEXT   NOT NULL PRIMARY KEY,
            person_id    TEXT   NOT NULL,
            client_id    TEXT   NOT NULL,
            resource     TEXT   NOT NULL,
            scope        TEXT   NOT NULL,
            created_at   BIGINT  NOT NULL,
            revoked_at   BIGINT ,
            revoked_reason TEXT
        );
        CREATE INDEX oauth_grants_by_person ON oauth_grants (person_id);
        CREATE INDEX oauth_grants_by_revoked ON oauth_grants (revoked_at) WHERE revoked_at IS NOT NULL;
        CREATE TABLE oauth_tokens (
            hash         TEXT   NOT NULL PRIMARY KEY,
            grant_id     TEXT   NOT NULL,
            kind         TEXT   NOT NULL CHECK (kind IN ('access', 'refresh')),
            created_at   BIGINT  NOT NULL,
            expires_at   BIGINT  NOT NULL,
            spent_at     BIGINT 
        );
        CREATE INDEX oauth_tokens_by_grant ON oauth_tokens (grant_id);
        CREATE INDEX oauth_tokens_by_expiry ON oauth_tokens (expires_at);
    ",
    },
    Migration {
        version: 7,
        name: "audit_person",
        // The person (Odoo login) of a record made with an OAuth token, for queries by person.
        sqlite: "
        ALTER TABLE audit_log ADD COLUMN person TEXT;
        CREATE INDEX audit_by_person ON audit_log (person, seq, time) WHERE person IS NOT NULL;
    ",
        postgres: "
        ALTER TABLE audit_log ADD COLUMN person TEXT;
        CREATE INDEX audit_by_person ON audit_log (person, seq, time) WHERE person IS NOT NULL;
    ",
    },
];

const SQLITE_BOOKKEEPING: &str = "
    CREATE TABLE IF NOT EXISTS schema_migrations (
        version    INTEGER NOT NULL PRIMARY KEY,
        name       TEXT    NOT NULL,
        applied_at INTEGER NOT NULL
    ) STRICT";

const POSTGRES_BOOKKEEPING: &str = "
    CREATE TABLE IF NOT EXISTS schema_migrations (
        version    BIGINT      NOT NULL PRIMARY KEY,
        name       TEXT        NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )";

fn failed(store: &str, what: &str, e: &sqlx::Error) -> StoreError {
    let cause = match e.as_database_error() {
        Some(db) => db.message().to_owned(),
        None => e.to_string(),
    };
    StoreError::Migrate(format!(
        "cannot migrate the store at {store} ({what}): {cause} — check that the [store] url \
         user may create tables there, and that no other program changed its schema"
    ))
}

/// Checks what is recorded as applied against [`MIGRATIONS`]: refuses a newer or foreign schema.
fn check_applied(store: &str, applied: &[(i64, String)]) -> Result<(), StoreError> {
    for (version, name) in applied {
        match MIGRATIONS.iter().find(|m| m.version == *version) {
            Some(m) if m.name == name => {}
            Some(m) => {
                return Err(StoreError::Migrate(format!(
                    "the store at {store} records schema step {version} as \"{name}\", but this \
                     odoo-warden's step {version} is \"{}\" — it was set up by an incompatible \
                     build; point [store] url at a database of its own",
                    m.name
                )));
            }
            None => {
                return Err(StoreError::Migrate(format!(
                    "the store at {store} has schema version {version}, newer than this \
                     odoo-warden knows ({SCHEMA_VERSION}) — upgrade odoo-warden, or point [store] \
                     url at another database"
                )));
            }
        }
    }
    Ok(())
}

pub(super) async fn sqlite(pool: &SqlitePool, store: &str) -> Result<(), StoreError> {
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| failed(store, "opening a connection", &e))?;
    (&mut *conn)
        .execute(SQLITE_BOOKKEEPING)
        .await
        .map_err(|e| failed(store, "creating schema_migrations", &e))?;
    let applied = sqlx::query("SELECT version, name FROM schema_migrations ORDER BY version")
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| failed(store, "reading schema_migrations", &e))?
        .iter()
        .map(|r| Ok((r.try_get::<i64, _>(0)?, r.try_get::<String, _>(1)?)))
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(|e| failed(store, "reading schema_migrations", &e))?;
    check_applied(store, &applied)?;

    for m in MIGRATIONS {
        if applied.iter().any(|(v, _)| *v == m.version) {
            continue;
        }
        let what = format!("step {} \"{}\"", m.version, m.name);
        let mut tx = conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| failed(store, &what, &e))?;
        // Another process may have applied it while we waited for the write lock.
        let done: Option<String> =
            sqlx::query_scalar("SELECT name FROM schema_migrations WHERE version = ?")
                .bind(m.version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| failed(store, &what, &e))?;
        if let Some(name) = done {
            check_applied(store, &[(m.version, name)])?;
            tx.rollback().await.map_err(|e| failed(store, &what, &e))?;
            continue;
        }
        (&mut *tx)
            .execute(m.sqlite)
            .await
            .map_err(|e| failed(store, &what, &e))?;
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)")
            .bind(m.version)
            .bind(m.name)
            .bind(super::sqlite::micros(time::OffsetDateTime::now_utc()))
            .execute(&mut *tx)
            .await
            .map_err(|e| failed(store, &what, &e))?;
        tx.commit().await.map_err(|e| failed(store, &what, &e))?;
    }
    Ok(())
}

pub(super) async fn postgres(conn: &mut PgConnection, store: &str) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(PG_LOCK_KEY)
        .execute(&mut *conn)
        .await
        .map_err(|e| failed(store, "taking the migration lock", &e))?;
    (&mut *conn)
        .execute(POSTGRES_BOOKKEEPING)
        .await
        .map_err(|e| failed(store, "creating schema_migrations", &e))?;
    let applied = sqlx::query("SELECT version, name FROM schema_migrations ORDER BY version")
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| failed(store, "reading schema_migrations", &e))?
        .iter()
        .map(|r| Ok((r.try_get::<i64, _>(0)?, r.try_get::<String, _>(1)?)))
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(|e| failed(store, "reading schema_migrations", &e))?;
    check_applied(store, &applied)?;

    for m in MIGRATIONS {
        if applied.iter().any(|(v, _)| *v == m.version) {
            continue;
        }
        let what = format!("step {} \"{}\"", m.version, m.name);
        let mut tx = conn.begin().await.map_err(|e| failed(store, &what, &e))?;
        (&mut *tx)
            .execute(m.postgres)
            .await
            .map_err(|e| failed(store, &what, &e))?;
        sqlx::query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)")
            .bind(m.version)
            .bind(m.name)
            .execute(&mut *tx)
            .await
            .map_err(|e| failed(store, &what, &e))?;
        tx.commit().await.map_err(|e| failed(store, &what, &e))?;
    }

    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(PG_LOCK_KEY)
        .execute(&mut *conn)
        .await
        .map_err(|e| failed(store, "releasing the migration lock", &e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_strictly_increase_from_one() {
        assert_eq!(MIGRATIONS[0].version, 1);
        for pair in MIGRATIONS.windows(2) {
            assert_eq!(pair[1].version, pair[0].version + 1, "{}", pair[1].name);
        }
    }

    #[test]
    fn refuses_newer_and_foreign_schemas() {
        assert!(check_applied("s", &[(1, "api_keys".into())]).is_ok());
        let newer = check_applied("s", &[(SCHEMA_VERSION + 1, "future".into())]);
        assert!(matches!(newer, Err(StoreError::Migrate(m)) if m.contains("newer")));
        let foreign = check_applied("s", &[(1, "something_else".into())]);
        assert!(matches!(foreign, Err(StoreError::Migrate(m)) if m.contains("incompatible")));
    }
}
