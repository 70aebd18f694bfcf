//! Reading `[store] url`: which backend, its connect options, how to name it in messages, and
//! which strings (the password) must never appear in one.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

use super::StoreError;

const URL_HELP: &str = "use sqlite://PATH (relative to the working directory), \
     sqlite:///ABSOLUTE/PATH, or postgres://USER:PASSWORD@HOST:PORT/DATABASE";

pub(super) enum Target {
    Sqlite {
        options: SqliteConnectOptions,
        memory: bool,
    },
    Postgres {
        options: PgConnectOptions,
        /// `host:port/database`, safe to print.
        display: String,
        redactor: Redactor,
    },
}

/// Replaces every secret taken from the URL with `[redacted]`.
#[derive(Debug, Default)]
pub(super) struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    fn add(&mut self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let decoded = percent_decode(secret);
        for s in [secret.to_owned(), decoded] {
            if !s.is_empty() && !self.secrets.contains(&s) {
                self.secrets.push(s);
            }
        }
        // Longest first, so a secret containing another is replaced whole.
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    pub(super) fn apply(&self, message: String) -> String {
        let mut message = message;
        for s in &self.secrets {
            if message.contains(s.as_str()) {
                message = message.replace(s.as_str(), "[redacted]");
            }
        }
        message
    }
}

pub(super) fn parse(url: &str) -> Result<Target, StoreError> {
    let scheme = url
        .split_once(':')
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    match scheme.as_str() {
        "sqlite" => parse_sqlite(url),
        "postgres" | "postgresql" => parse_postgres(url),
        "" => Err(StoreError::InvalidUrl(format!(
            "[store] url has no scheme: {URL_HELP}"
        ))),
        other => Err(StoreError::InvalidUrl(format!(
            "[store] url has the unsupported scheme \"{}\": {URL_HELP}",
            other.escape_debug()
        ))),
    }
}

fn parse_sqlite(url: &str) -> Result<Target, StoreError> {
    let rest = &url["sqlite:".len()..];
    let memory = rest.starts_with(":memory:") || rest.contains("mode=memory");
    if !memory
        && rest
            .trim_start_matches('/')
            .split('?')
            .next()
            .unwrap_or("")
            .is_empty()
    {
        return Err(StoreError::InvalidUrl(format!(
            "[store] url \"{url}\" names no SQLite file: {URL_HELP}"
        )));
    }
    let options = SqliteConnectOptions::from_str(url).map_err(|e| {
        StoreError::InvalidUrl(format!(
            "[store] url \"{url}\" is not a valid SQLite URL ({e}): {URL_HELP}"
        ))
    })?;
    Ok(Target::Sqlite { options, memory })
}

fn parse_postgres(url: &str) -> Result<Target, StoreError> {
    let mut redactor = Redactor::default();
    for secret in postgres_secrets(url) {
        redactor.add(secret);
    }
    let options = PgConnectOptions::from_str(url).map_err(|e| {
        StoreError::InvalidUrl(redactor.apply(format!(
            "[store] url is not a valid PostgreSQL URL ({e}): \
             expected postgres://USER:PASSWORD@HOST:PORT/DATABASE"
        )))
    })?;
    let host = match options.get_socket() {
        Some(dir) => dir.display().to_string(),
        None => options.get_host().to_owned(),
    };
    let database = options
        .get_database()
        .unwrap_or_else(|| options.get_username());
    let display = redactor.apply(format!("{host}:{}/{database}", options.get_port()));
    Ok(Target::Postgres {
        options,
        display,
        redactor,
    })
}

/// The password of a PostgreSQL URL, wherever it may be: the userinfo part and any `password`
/// query parameter. Works on malformed URLs too (it must, to redact the error about them).
fn postgres_secrets(url: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    // The userinfo ends at the last '@' before the query; a password may hold '/', ':' or '#'
    // when the URL was written without percent-encoding, so do not stop at those.
    if let Some(at) = before_query.rfind('@') {
        if let Some((_, password)) = before_query[..at].split_once(':') {
            out.push(password);
        }
    }
    if let Some(query) = query {
        for pair in query.split(['&', '#']) {
            if let Some((k, v)) = pair.split_once('=') {
                if k.eq_ignore_ascii_case("password") {
                    out.push(v);
                }
            }
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(hi * 16 + lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_passwords() {
        assert_eq!(
            postgres_secrets("postgres://u:p%40ss@h:5432/db"),
            ["p%40ss"]
        );
        assert_eq!(postgres_secrets("postgres://u:a/b@c@h/db"), ["a/b@c"]);
        assert_eq!(
            postgres_secrets("postgresql://h/db?user=u&password=xyz&sslmode=require"),
            ["xyz"]
        );
        assert!(postgres_secrets("postgres://u@h/db").is_empty());
    }

    #[test]
    fn redacts_raw_and_decoded() {
        let mut r = Redactor::default();
        r.add("p%40ss");
        assert_eq!(
            r.apply("x p@ss y p%40ss".into()),
            "x [redacted] y [redacted]"
        );
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%2"), "a b%2");
        assert_eq!(percent_decode("%41%zz%"), "A%zz%");
    }

    #[test]
    fn schemes() {
        assert!(matches!(
            parse("sqlite::memory:"),
            Ok(Target::Sqlite { memory: true, .. })
        ));
        assert!(matches!(
            parse("sqlite://x.db"),
            Ok(Target::Sqlite { memory: false, .. })
        ));
        assert!(matches!(parse("sqlite://"), Err(StoreError::InvalidUrl(_))));
        assert!(
            matches!(parse("mysql://u:pw@h/db"), Err(StoreError::InvalidUrl(m)) if !m.contains("pw"))
        );
        assert!(matches!(
            parse("odoo-warden.db"),
            Err(StoreError::InvalidUrl(_))
        ));
        match parse("postgres://u:hunter2@db.example:6543/warden") {
            Ok(Target::Postgres { display, .. }) => assert_eq!(display, "db.example:6543/warden"),
            _ => panic!("postgres URL not parsed"),
        }
        match parse("postgres://u:hunter2@db.example:notaport/warden") {
            Err(StoreError::InvalidUrl(m)) => assert!(!m.contains("hunter2"), "{m}"),
            _ => panic!("bad port accepted"),
        }
    }
}
