//! The store against both backends: one table of cases, each run on a fresh SQLite file and on a
//! fresh database of a real, throwaway PostgreSQL server (tests/support/pg.rs, one for the whole
//! test process), plus the checks that belong to one backend (WAL mode; errors for bad paths,
//! unreachable servers, passwords).

use crate::pg;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use odoo_warden::store::{KeyRecord, NewKey, SCHEMA_VERSION, Store, StoreError, stored_time};
use sqlx::Executor;
use time::macros::datetime;
use time::{OffsetDateTime, UtcOffset};

// ---------------------------------------------------------------------------------------------
// Harness

/// A fresh, empty store location for one case.
#[derive(Clone)]
struct Ctx {
    url: String,
    backend: &'static str,
}

impl Ctx {
    async fn connect(&self) -> Store {
        let store = Store::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connect {}: {e}", self.url));
        assert_eq!(store.backend(), self.backend);
        store
    }
}

type Case = fn(Ctx) -> Pin<Box<dyn Future<Output = ()> + Send>>;

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        &[$((stringify!($name), |ctx| Box::pin($name(ctx)) as Pin<Box<dyn Future<Output = ()> + Send>>)),*]
    };
}

const CASES: &[(&str, Case)] = cases![
    migrations_are_idempotent,
    concurrent_connects_migrate_once,
    refuses_a_newer_schema,
    ping_and_backend,
    insert_then_get,
    duplicate_id_is_a_conflict,
    list_is_newest_first,
    revoke_semantics,
    touch_never_goes_backwards,
    revoked_since_is_inclusive_and_ordered,
    times_round_trip_exactly,
    times_order_across_the_epoch,
    scopes_round_trip,
    oauth_codes_are_single_use,
    oauth_refresh_rotation_and_reuse,
    oauth_blocking_a_person_revokes_their_grants,
    audit_records_are_found_by_person,
];

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "odoo-warden-store-{tag}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn run_cases(make: impl Fn(&str) -> Ctx) {
    for (name, case) in CASES {
        let started = Instant::now();
        let ctx = make(name);
        let backend = ctx.backend;
        // A panic names the case and the backend.
        let outcome = tokio::spawn(case(ctx)).await;
        if let Err(e) = outcome {
            panic!("case {name} failed on {backend}: {e}");
        }
        eprintln!("  {backend} {name}: ok in {:.0?}", started.elapsed());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backend() {
    let dir = TempDir::new("cases");
    let started = Instant::now();
    run_cases(|name| Ctx {
        url: format!("sqlite://{}/{name}.db", dir.0.display()),
        backend: "sqlite",
    })
    .await;
    eprintln!("sqlite: {} cases in {:.2?}", CASES.len(), started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backend() {
    let Some(server) = pg::shared() else {
        return;
    };
    let started = Instant::now();
    run_cases(|name| {
        // One server for the whole test process: database names carry this file's prefix.
        let database = format!("keys_{name}");
        server.create_database(&database);
        Ctx {
            url: server.url_for(&database),
            backend: "postgres",
        }
    })
    .await;
    eprintln!(
        "postgres: {} cases in {:.2?} (server start-up {:.2?})",
        CASES.len(),
        started.elapsed(),
        server.startup
    );
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn key(id: &str, created_at: OffsetDateTime) -> NewKey {
    NewKey {
        id: id.to_owned(),
        name: format!("key {id}"),
        secret_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$hash-of-{id}"),
        scopes: vec!["mcp".to_owned()],
        profile: Some("sales".to_owned()),
        created_at,
        expires_at: None,
    }
}

const T0: OffsetDateTime = datetime!(2026-07-28 09:00:00.000001 UTC);

fn us(n: i64) -> Duration {
    Duration::from_micros(n.unsigned_abs())
}

async fn applied_versions(store: &Store) -> Vec<i64> {
    let sql = "SELECT version FROM schema_migrations ORDER BY version";
    match store {
        Store::Sqlite(p) => sqlx::query_scalar(sql).fetch_all(p).await.unwrap(),
        Store::Postgres(p) => sqlx::query_scalar(sql).fetch_all(p).await.unwrap(),
    }
}

async fn exec(store: &Store, sql: &str) {
    match store {
        Store::Sqlite(p) => p.execute(sql).await.map(drop),
        Store::Postgres(p) => p.execute(sql).await.map(drop),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn ids(keys: &[KeyRecord]) -> Vec<&str> {
    keys.iter().map(|k| k.id.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// Cases, run on both backends

async fn migrations_are_idempotent(ctx: Ctx) {
    let store = ctx.connect().await;
    store.insert_key(&key("k1", T0)).await.unwrap();
    let all: Vec<i64> = (1..=SCHEMA_VERSION).collect();
    assert_eq!(applied_versions(&store).await, all);
    store.close().await;

    let again = ctx.connect().await;
    assert_eq!(
        applied_versions(&again).await,
        all,
        "a second connect re-applied a step"
    );
    assert!(
        again.get_key("k1").await.unwrap().is_some(),
        "data lost on reconnect"
    );
    let third = ctx.connect().await;
    assert_eq!(applied_versions(&third).await, all);

    // Every statement of a step ran, not just the first: the indexes are there.
    let indexes: Vec<String> = match &third {
        Store::Sqlite(p) => sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'api_keys' \
             AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name",
        )
        .fetch_all(p)
        .await
        .unwrap(),
        Store::Postgres(p) => sqlx::query_scalar(
            "SELECT indexname::text FROM pg_indexes WHERE tablename = 'api_keys' \
             AND indexname <> 'api_keys_pkey' ORDER BY 1",
        )
        .fetch_all(p)
        .await
        .unwrap(),
    };
    assert_eq!(indexes, ["api_keys_by_created", "api_keys_by_revoked"]);
}

async fn concurrent_connects_migrate_once(ctx: Ctx) {
    let (a, b, c, d) = tokio::join!(
        Store::connect(&ctx.url),
        Store::connect(&ctx.url),
        Store::connect(&ctx.url),
        Store::connect(&ctx.url),
    );
    let stores: Vec<Store> = [a, b, c, d]
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("concurrent connect: {e}")))
        .collect();
    let all: Vec<i64> = (1..=SCHEMA_VERSION).collect();
    assert_eq!(applied_versions(&stores[0]).await, all);
    // Every instance sees the same, usable store.
    stores[1].insert_key(&key("shared", T0)).await.unwrap();
    for s in &stores {
        assert!(s.get_key("shared").await.unwrap().is_some());
    }
}

async fn refuses_a_newer_schema(ctx: Ctx) {
    let store = ctx.connect().await;
    let future = SCHEMA_VERSION + 1;
    let now = match store {
        Store::Sqlite(_) => "0",
        Store::Postgres(_) => "now()",
    };
    exec(
        &store,
        &format!(
            "INSERT INTO schema_migrations (version, name, applied_at) \
             VALUES ({future}, 'from_the_future', {now})"
        ),
    )
    .await;
    store.close().await;
    match Store::connect(&ctx.url).await {
        Err(StoreError::Migrate(m)) => {
            assert!(m.contains("newer"), "{m}");
            assert!(m.contains(&future.to_string()), "{m}");
        }
        other => panic!("a newer schema was accepted: {other:?}"),
    }
}

async fn ping_and_backend(ctx: Ctx) {
    let store = ctx.connect().await;
    store.ping().await.unwrap();
    store.close().await;
    assert!(
        matches!(store.ping().await, Err(StoreError::Sql { .. })),
        "ping succeeded on a closed store, or lost the driver's error"
    );
}

async fn insert_then_get(ctx: Ctx) {
    let store = ctx.connect().await;
    assert!(store.get_key("nope").await.unwrap().is_none());

    let full = NewKey {
        id: "Ab12Cd34".into(),
        name: "Claude desktop (sales)".into(),
        secret_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$abcdefghijklmnop".into(),
        scopes: vec!["mcp".into()],
        profile: Some("sales".into()),
        created_at: T0,
        expires_at: Some(T0 + Duration::from_secs(90 * 86_400)),
    };
    store.insert_key(&full).await.unwrap();
    let bare = NewKey {
        id: "admin1".into(),
        name: "ops".into(),
        secret_hash: "$argon2id$v=19$x".into(),
        scopes: vec!["admin".into(), "audit".into()],
        profile: None,
        created_at: T0 + us(1),
        expires_at: None,
    };
    store.insert_key(&bare).await.unwrap();

    let got = store
        .get_key("Ab12Cd34")
        .await
        .unwrap()
        .expect("inserted key missing");
    assert_eq!(
        got,
        KeyRecord {
            id: full.id.clone(),
            name: full.name.clone(),
            secret_hash: full.secret_hash.clone(),
            scopes: full.scopes.clone(),
            profile: full.profile.clone(),
            created_at: full.created_at,
            expires_at: full.expires_at,
            revoked_at: None,
            last_used_at: None,
        }
    );
    let got = store.get_key("admin1").await.unwrap().unwrap();
    assert_eq!(got.profile, None);
    assert_eq!(got.expires_at, None);
    assert_eq!(got.scopes, ["admin", "audit"]);
    // Ids are exact, not case-folded or prefix-matched.
    assert!(store.get_key("ab12cd34").await.unwrap().is_none());
    assert!(store.get_key("Ab12").await.unwrap().is_none());
}

async fn duplicate_id_is_a_conflict(ctx: Ctx) {
    let store = ctx.connect().await;
    store.insert_key(&key("dup", T0)).await.unwrap();
    let mut second = key("dup", T0 + Duration::from_secs(5));
    second.name = "impostor".into();
    match store.insert_key(&second).await {
        Err(StoreError::Conflict(m)) => assert!(m.contains("dup"), "{m}"),
        other => panic!("duplicate id not a conflict: {other:?}"),
    }
    let kept = store.get_key("dup").await.unwrap().unwrap();
    assert_eq!(kept.name, "key dup", "the first key was overwritten");
    assert_eq!(store.list_keys().await.unwrap().len(), 1);
}

async fn list_is_newest_first(ctx: Ctx) {
    let store = ctx.connect().await;
    assert!(store.list_keys().await.unwrap().is_empty());
    let day = Duration::from_secs(86_400);
    for (id, at) in [
        ("middle", T0),
        ("oldest", T0 - day),
        ("newest", T0 + day),
        ("tie_a", T0 + us(1)),
        ("tie_b", T0 + us(1)),
        ("newest_by_1us", T0 + day + us(1)),
    ] {
        store.insert_key(&key(id, at)).await.unwrap();
    }
    let listed = store.list_keys().await.unwrap();
    assert_eq!(
        ids(&listed),
        [
            "newest_by_1us",
            "newest",
            "tie_b",
            "tie_a",
            "middle",
            "oldest"
        ]
    );
    // Revoked keys are listed too.
    store.revoke_key("oldest", T0).await.unwrap();
    assert_eq!(store.list_keys().await.unwrap().len(), 6);
}

async fn revoke_semantics(ctx: Ctx) {
    let store = ctx.connect().await;
    store.insert_key(&key("k", T0)).await.unwrap();
    store.insert_key(&key("other", T0)).await.unwrap();
    assert!(
        !store.revoke_key("unknown", T0).await.unwrap(),
        "revoked an unknown key"
    );

    let first = T0 + Duration::from_secs(60);
    assert!(store.revoke_key("k", first).await.unwrap());
    assert!(
        !store
            .revoke_key("k", first + Duration::from_secs(1))
            .await
            .unwrap()
    );
    let k = store.get_key("k").await.unwrap().unwrap();
    assert_eq!(
        k.revoked_at,
        Some(first),
        "the first revocation time must stay"
    );
    let other = store.get_key("other").await.unwrap().unwrap();
    assert_eq!(other.revoked_at, None, "revoked the wrong key");
}

async fn touch_never_goes_backwards(ctx: Ctx) {
    let store = ctx.connect().await;
    store.insert_key(&key("k", T0)).await.unwrap();
    store.insert_key(&key("untouched", T0)).await.unwrap();

    let t1 = T0 + Duration::from_secs(10);
    store.touch_key("k", t1).await.unwrap();
    assert_eq!(
        store.get_key("k").await.unwrap().unwrap().last_used_at,
        Some(t1)
    );

    store.touch_key("k", t1 - us(1)).await.unwrap();
    assert_eq!(
        store.get_key("k").await.unwrap().unwrap().last_used_at,
        Some(t1)
    );

    let t2 = t1 + us(1);
    store.touch_key("k", t2).await.unwrap();
    assert_eq!(
        store.get_key("k").await.unwrap().unwrap().last_used_at,
        Some(t2)
    );

    store.touch_key("no-such-key", t2).await.unwrap();
    let u = store.get_key("untouched").await.unwrap().unwrap();
    assert_eq!(u.last_used_at, None);
}

async fn revoked_since_is_inclusive_and_ordered(ctx: Ctx) {
    let store = ctx.connect().await;
    for id in ["a", "b", "c", "d"] {
        store.insert_key(&key(id, T0)).await.unwrap();
    }
    assert!(
        store
            .revoked_since(T0 - Duration::from_secs(3600))
            .await
            .unwrap()
            .is_empty()
    );
    let t1 = T0 + Duration::from_secs(1);
    let t2 = t1 + us(1);
    // Revoked in the other order than their times, to see the ordering come from the times.
    store.revoke_key("b", t2).await.unwrap();
    store.revoke_key("a", t1).await.unwrap();
    store
        .revoke_key("d", T0 - Duration::from_secs(86_400))
        .await
        .unwrap();

    let from = |t| {
        let store = store.clone();
        async move { store.revoked_since(t).await.unwrap() }
    };
    assert_eq!(
        from(t1).await,
        vec![("a".to_owned(), t1), ("b".to_owned(), t2)]
    );
    assert_eq!(from(t1 + us(1)).await, vec![("b".to_owned(), t2)]);
    assert_eq!(
        from(t2).await,
        vec![("b".to_owned(), t2)],
        "since is inclusive"
    );
    assert!(from(t2 + us(1)).await.is_empty());
    assert_eq!(from(T0 - Duration::from_secs(2 * 86_400)).await.len(), 3);
}

async fn times_round_trip_exactly(ctx: Ctx) {
    let store = ctx.connect().await;
    let samples = [
        datetime!(2026-07-28 12:34:56.123456 UTC),
        datetime!(2026-07-28 12:34:56.000001 UTC),
        datetime!(2026-07-28 12:34:56.999999 UTC),
        datetime!(1969-12-31 23:59:59.999999 UTC),
        datetime!(1970-01-01 00:00:00 UTC),
        datetime!(1900-02-28 01:02:03.456789 UTC),
        datetime!(0001-01-01 00:00:00 UTC),
        datetime!(9999-12-31 23:59:59.999999 UTC),
    ];
    for (i, t) in samples.iter().enumerate() {
        let id = format!("t{i}");
        let mut k = key(&id, *t);
        k.expires_at = Some(*t);
        store.insert_key(&k).await.unwrap();
        store.touch_key(&id, *t).await.unwrap();
        store.revoke_key(&id, *t).await.unwrap();
        let got = store.get_key(&id).await.unwrap().unwrap();
        for (what, v) in [
            ("created_at", Some(got.created_at)),
            ("expires_at", got.expires_at),
            ("last_used_at", got.last_used_at),
            ("revoked_at", got.revoked_at),
        ] {
            let v = v.unwrap_or_else(|| panic!("{what} lost for {t}"));
            assert_eq!(v, *t, "{what} changed");
            assert_eq!(v.offset(), UtcOffset::UTC, "{what} not read back in UTC");
        }
    }

    // Another offset: the same instant comes back, in UTC.
    let paris = datetime!(2026-03-01 12:00:00.5 +01:00);
    store.insert_key(&key("paris", paris)).await.unwrap();
    let got = store.get_key("paris").await.unwrap().unwrap();
    assert_eq!(got.created_at, paris);
    assert_eq!(got.created_at, datetime!(2026-03-01 11:00:00.5 UTC));
    assert_eq!(got.created_at.offset(), UtcOffset::UTC);

    // Nanoseconds: dropped, the same way on both backends.
    let fine = datetime!(2026-03-01 12:00:00.123456789 UTC);
    store.insert_key(&key("fine", fine)).await.unwrap();
    let got = store.get_key("fine").await.unwrap().unwrap();
    assert_eq!(got.created_at, datetime!(2026-03-01 12:00:00.123456 UTC));
    assert_eq!(got.created_at, stored_time(fine));
}

async fn times_order_across_the_epoch(ctx: Ctx) {
    let store = ctx.connect().await;
    let times = [
        ("pre_epoch_far", datetime!(1901-01-01 00:00:00 UTC)),
        ("pre_epoch_1us", datetime!(1969-12-31 23:59:59.999999 UTC)),
        ("epoch", datetime!(1970-01-01 00:00:00 UTC)),
        ("post_epoch_1us", datetime!(1970-01-01 00:00:00.000001 UTC)),
        ("y2k38_after", datetime!(2038-01-19 03:14:08 UTC)),
    ];
    for (id, t) in times.iter().rev() {
        store.insert_key(&key(id, *t)).await.unwrap();
        store.revoke_key(id, *t).await.unwrap();
    }
    let listed = store.list_keys().await.unwrap();
    let expected: Vec<&str> = times.iter().rev().map(|(id, _)| *id).collect();
    assert_eq!(ids(&listed), expected);
    let revoked = store
        .revoked_since(datetime!(1969-12-31 23:59:59.999999 UTC))
        .await
        .unwrap();
    let revoked: Vec<&str> = revoked.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        revoked,
        ["pre_epoch_1us", "epoch", "post_epoch_1us", "y2k38_after"]
    );
}

async fn scopes_round_trip(ctx: Ctx) {
    let store = ctx.connect().await;
    let lists: [&[&str]; 5] = [
        &[],
        &["mcp"],
        &["admin", "audit", "approve"],
        &[
            "with space",
            "comma,inside",
            "{braces}",
            "quote\"d",
            "back\\slash",
        ],
        &["NULL", "", "ünïcødé"],
    ];
    for (i, scopes) in lists.iter().enumerate() {
        let mut k = key(&format!("s{i}"), T0);
        k.scopes = scopes.iter().map(|s| s.to_string()).collect();
        store.insert_key(&k).await.unwrap();
        let got = store.get_key(&k.id).await.unwrap().unwrap();
        assert_eq!(got.scopes, k.scopes, "scopes changed");
    }
}

// ---------------------------------------------------------------------------------------------
// SQLite only

#[tokio::test]
async fn sqlite_is_in_wal_mode_with_the_documented_settings() {
    let dir = TempDir::new("wal");
    let path = dir.0.join("warden.db");
    let store = Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert!(path.is_file(), "the database file was not created");
    let Store::Sqlite(pool) = &store else {
        panic!("not sqlite")
    };
    // Several connections at once, so more than the first one is checked.
    let mut conns = Vec::new();
    for _ in 0..3 {
        conns.push(pool.acquire().await.unwrap());
    }
    for conn in &mut conns {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(fk, 1, "foreign keys off");
        let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(busy, 5000);
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(sync, 1, "synchronous is not NORMAL");
    }
    drop(conns);
    store.insert_key(&key("k", T0)).await.unwrap();
    assert!(
        dir.0.join("warden.db-wal").exists(),
        "no WAL file beside the database"
    );
}

#[tokio::test]
async fn sqlite_memory_store_keeps_its_data() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    store.insert_key(&key("m", T0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(store.get_key("m").await.unwrap().is_some());
    // Two memory stores are separate.
    let other = Store::connect("sqlite::memory:").await.unwrap();
    assert!(other.get_key("m").await.unwrap().is_none());
}

fn connect_error(url: &str) -> StoreError {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    match rt.block_on(Store::connect(url)) {
        Ok(_) => panic!("{url} opened"),
        Err(e) => e,
    }
}

#[test]
fn sqlite_unusable_paths_are_explained() {
    let dir = TempDir::new("bad");
    let missing_dir = dir.0.join("no/such/dir/warden.db");
    let e = connect_error(&format!("sqlite://{}", missing_dir.display()));
    let m = e.to_string();
    assert!(matches!(e, StoreError::Connect(_)), "{e:?}");
    assert!(m.contains(&missing_dir.display().to_string()), "{m}");
    assert!(
        m.contains("does not exist") && m.contains("[store] url"),
        "{m}"
    );

    let file = dir.0.join("plainfile");
    std::fs::write(&file, "x").unwrap();
    let under_file = file.join("warden.db");
    let m = connect_error(&format!("sqlite://{}", under_file.display())).to_string();
    assert!(
        m.contains("is not a directory") && m.contains("[store] url"),
        "{m}"
    );

    let m = connect_error(&format!("sqlite://{}", dir.0.display())).to_string();
    assert!(
        m.contains("is a directory") && m.contains("[store] url"),
        "{m}"
    );

    let garbage = dir.0.join("garbage.db");
    std::fs::write(&garbage, vec![b'z'; 8192]).unwrap();
    let e = connect_error(&format!("sqlite://{}", garbage.display()));
    let m = e.to_string();
    assert!(
        m.contains("garbage.db") && m.contains("not a database"),
        "{m}"
    );
}

#[test]
fn sqlite_unwritable_directory_is_explained() {
    if std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(true)
    {
        eprintln!("root ignores file permissions; covered by the path cases instead");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("ro");
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o500)).unwrap();
    let m = connect_error(&format!("sqlite://{}/warden.db", dir.0.display())).to_string();
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(
        m.contains("cannot open the SQLite store at") && m.contains("writ"),
        "{m}"
    );
}

#[test]
fn unsupported_urls_are_refused() {
    for url in [
        "",
        "odoo-warden.db",
        "mysql://u:pw1234@h/db",
        "sqlite://",
        "redis://h",
    ] {
        match connect_error(url) {
            StoreError::InvalidUrl(m) => {
                assert!(
                    m.contains("sqlite://") && m.contains("postgres://"),
                    "{url}: {m}"
                );
                assert!(!m.contains("pw1234"), "{m}");
            }
            other => panic!("{url}: {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL only

/// A port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn postgres_unreachable_is_explained_quickly() {
    let port = closed_port();
    let started = Instant::now();
    let e = connect_error(&format!(
        "postgres://warden:Sup3rS3cret@127.0.0.1:{port}/warden"
    ));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let m = e.to_string();
    assert!(matches!(e, StoreError::Connect(_)), "{e:?}");
    assert!(m.contains(&format!("127.0.0.1:{port}/warden")), "{m}");
    assert!(
        m.contains("cannot connect to PostgreSQL") && m.contains("[store] url"),
        "{m}"
    );
    assert!(m.to_lowercase().contains("refused"), "{m}");
    assert!(!m.contains("Sup3rS3cret") && !format!("{e:?}").contains("Sup3rS3cret"));
}

/// The password never appears, whatever goes wrong and however it was written.
#[test]
fn postgres_password_never_appears_in_errors() {
    let server = pg::shared();
    let closed = closed_port();
    let mut cases: Vec<(String, &str)> = vec![
        (
            format!("postgres://u:Pw_Unreach1@127.0.0.1:{closed}/db"),
            "Pw_Unreach1",
        ),
        (
            format!("postgresql://u:p%40ssW0rd%21@127.0.0.1:{closed}/db"),
            "p@ssW0rd!",
        ),
        (
            format!("postgres://u:p%40ssW0rd%21@127.0.0.1:{closed}/db"),
            "p%40ssW0rd%21",
        ),
        (
            format!("postgres://127.0.0.1:{closed}/db?user=u&password=QueryPw77"),
            "QueryPw77",
        ),
        (
            "postgres://u:BadPortPw9@127.0.0.1:notaport/db".to_owned(),
            "BadPortPw9",
        ),
        (
            "postgres://u:Unicode\u{e9}Pw@[::1/db".to_owned(),
            "Unicode\u{e9}Pw",
        ),
        (
            "postgres://u:SslPw5@127.0.0.1:1/db?sslmode=bogus".to_owned(),
            "SslPw5",
        ),
    ];
    if let Some(s) = &server {
        let port = s.port();
        // Reached, then refused by the server: unknown database, unknown role.
        cases.push((
            format!("postgres://postgres:DbPw123@127.0.0.1:{port}/no_such_db"),
            "DbPw123",
        ));
        cases.push((
            format!("postgres://nobody:RolePw456@127.0.0.1:{port}/postgres"),
            "RolePw456",
        ));
    }
    for (url, password) in &cases {
        let e = connect_error(url);
        let shown = format!("{e} / {e:?}");
        assert!(
            !shown.contains(password),
            "password in the error for {url}: {shown}"
        );
        assert!(
            shown.contains("[store] url") || shown.contains("PostgreSQL"),
            "{shown}"
        );
    }
    if let Some(s) = &server {
        let m = connect_error(&format!(
            "postgres://postgres:DbPw123@127.0.0.1:{}/no_such_db",
            s.port()
        ))
        .to_string();
        assert!(
            m.contains("no_such_db") && m.contains("create the database"),
            "{m}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// OAuth (store::oauth) and the audit trail's person column

fn person(login: &str) -> odoo_warden::store::PersonRow {
    odoo_warden::store::PersonRow {
        id: format!("p-{login}"),
        login: login.to_owned(),
        uid: 7,
        name: format!("Person {login}"),
        profile: "assistant".to_owned(),
        sealed_key: "v1.sealed".to_owned(),
        key_version: 1,
        created_at: T0,
        signed_in_at: T0,
        blocked_at: None,
        blocked_reason: None,
    }
}

fn grant(id: &str, person_id: &str) -> odoo_warden::store::GrantRow {
    odoo_warden::store::GrantRow {
        id: id.to_owned(),
        person_id: person_id.to_owned(),
        client_id: "client-1".to_owned(),
        resource: "http://127.0.0.1:8808/mcp".to_owned(),
        scope: "mcp".to_owned(),
        created_at: T0,
        revoked_at: None,
        revoked_reason: None,
    }
}

async fn oauth_codes_are_single_use(ctx: Ctx) {
    use odoo_warden::store::{CodeRow, Taken};
    let store = ctx.connect().await;
    store.oauth_save_person(&person("alice")).await.unwrap();
    let code = CodeRow {
        hash: "h1".into(),
        client_id: "client-1".into(),
        person_id: "p-alice".into(),
        redirect_uri: "http://127.0.0.1:9/cb".into(),
        challenge: "c".repeat(43),
        resource: "http://127.0.0.1:8808/mcp".into(),
        scope: "mcp".into(),
        expires_at: T0 + Duration::from_secs(60),
    };
    store.oauth_insert_code(&code).await.unwrap();
    // Concurrent takes: exactly one wins.
    let (a, b) = tokio::join!(
        store.oauth_take_code("h1", T0),
        store.oauth_take_code("h1", T0)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let fresh = [&a, &b]
        .iter()
        .filter(|t| matches!(t, Taken::Fresh(_)))
        .count();
    assert_eq!(fresh, 1, "{a:?} {b:?}");
    assert!(
        matches!(a, Taken::Fresh(ref c) if *c == code)
            || matches!(b, Taken::Fresh(ref c) if *c == code)
    );
    store
        .oauth_insert_grant(&grant("g1", "p-alice"))
        .await
        .unwrap();
    store.oauth_link_code("h1", "g1").await.unwrap();
    assert_eq!(
        store.oauth_take_code("h1", T0).await.unwrap(),
        Taken::Reused {
            grant_id: Some("g1".into())
        }
    );
    assert_eq!(
        store.oauth_take_code("nope", T0).await.unwrap(),
        Taken::Missing
    );
    // An expired code is missing, even on its first use.
    let mut late = code.clone();
    late.hash = "h2".into();
    store.oauth_insert_code(&late).await.unwrap();
    assert_eq!(
        store
            .oauth_take_code("h2", T0 + Duration::from_secs(61))
            .await
            .unwrap(),
        Taken::Missing
    );
}

async fn oauth_refresh_rotation_and_reuse(ctx: Ctx) {
    use odoo_warden::store::{Taken, TokenKind, TokenRow};
    let store = ctx.connect().await;
    store.oauth_save_person(&person("bob")).await.unwrap();
    store
        .oauth_insert_grant(&grant("g2", "p-bob"))
        .await
        .unwrap();
    for (hash, kind) in [("r1", TokenKind::Refresh), ("a1", TokenKind::Access)] {
        store
            .oauth_insert_token(&TokenRow {
                hash: hash.into(),
                grant_id: "g2".into(),
                kind,
                created_at: T0,
                expires_at: T0 + Duration::from_secs(3600),
            })
            .await
            .unwrap();
    }
    let access = store
        .oauth_access("a1")
        .await
        .unwrap()
        .expect("access token");
    assert_eq!(access.person.login, "bob");
    assert_eq!(access.grant.id, "g2");
    assert_eq!(access.expires_at, T0 + Duration::from_secs(3600));
    // A refresh token is not an access token, and the other way round.
    assert!(store.oauth_access("r1").await.unwrap().is_none());
    assert_eq!(
        store.oauth_spend_refresh("a1", T0).await.unwrap(),
        Taken::Missing
    );
    match store.oauth_spend_refresh("r1", T0).await.unwrap() {
        Taken::Fresh(g) => assert_eq!(g.id, "g2"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.oauth_spend_refresh("r1", T0).await.unwrap(),
        Taken::Reused {
            grant_id: Some("g2".into())
        }
    );
    assert_eq!(
        store.oauth_refresh_grant("r1").await.unwrap().as_deref(),
        Some("g2")
    );
    let at = T0 + Duration::from_secs(5);
    assert!(
        store
            .oauth_revoke_grant("g2", at, "refresh token reused")
            .await
            .unwrap()
    );
    assert!(!store.oauth_revoke_grant("g2", at, "again").await.unwrap());
    let revoked = store.oauth_access("a1").await.unwrap().unwrap().grant;
    assert_eq!(revoked.revoked_at, Some(at));
    assert_eq!(
        revoked.revoked_reason.as_deref(),
        Some("refresh token reused")
    );
    assert_eq!(
        store.oauth_revoked_since(at).await.unwrap(),
        vec![("g2".to_string(), "p-bob".to_string())]
    );
    assert!(
        store
            .oauth_revoked_since(at + Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.oauth_delete_access("a1").await.unwrap());
    assert!(store.oauth_access("a1").await.unwrap().is_none());
    // Expired a day ago: purged.
    assert_eq!(
        store
            .oauth_purge(T0 + Duration::from_secs(2 * 86_400))
            .await
            .unwrap(),
        1
    );
}

async fn oauth_blocking_a_person_revokes_their_grants(ctx: Ctx) {
    let store = ctx.connect().await;
    store.oauth_save_person(&person("carol")).await.unwrap();
    // Signing in again keeps the id and first sign-in, updates the rest.
    let mut again = person("carol");
    again.id = "p-other".into();
    again.key_version = 2;
    again.profile = "sales-manager".into();
    store.oauth_save_person(&again).await.unwrap();
    let stored = store.oauth_person_by_login("carol").await.unwrap().unwrap();
    assert_eq!(
        (
            stored.id.as_str(),
            stored.key_version,
            stored.profile.as_str()
        ),
        ("p-carol", 2, "sales-manager")
    );
    assert!(!format!("{stored:?}").contains("v1.sealed"));
    store
        .oauth_insert_grant(&grant("g3", "p-carol"))
        .await
        .unwrap();
    store
        .oauth_insert_grant(&grant("g4", "p-carol"))
        .await
        .unwrap();
    assert_eq!(store.oauth_person_grants("p-carol").await.unwrap().len(), 2);
    let at = T0 + Duration::from_secs(9);
    assert_eq!(
        store
            .oauth_block_person("carol", at, "left the company")
            .await
            .unwrap(),
        Some(2)
    );
    assert_eq!(
        store.oauth_block_person("nobody", at, "x").await.unwrap(),
        None
    );
    assert!(
        store
            .oauth_person_grants("p-carol")
            .await
            .unwrap()
            .is_empty()
    );
    let blocked = store.oauth_get_person("p-carol").await.unwrap().unwrap();
    assert_eq!(blocked.blocked_at, Some(at));
    assert_eq!(store.oauth_list_people().await.unwrap().len(), 1);
    assert!(store.oauth_unblock_person("carol").await.unwrap());
    assert_eq!(
        store
            .oauth_get_person("p-carol")
            .await
            .unwrap()
            .unwrap()
            .blocked_at,
        None
    );
}

async fn audit_records_are_found_by_person(ctx: Ctx) {
    use odoo_warden::audit::{Event, chain, kind};
    use odoo_warden::store::AuditFilter;
    let store = ctx.connect().await;
    let mut inserts = Vec::new();
    for who in [Some("alice"), None, Some("bob"), Some("alice")] {
        let mut e = Event::new(kind::TOOL_CALL, "i1");
        e.person = who.map(str::to_string);
        e.oauth_client = who.map(|_| "client-1".to_string());
        inserts.push(e.to_insert());
    }
    store.append_audit(&inserts, &chain).await.unwrap();
    let filter = AuditFilter {
        person: Some("alice".into()),
        ..AuditFilter::default()
    };
    let rows = store.query_audit(&filter, None, 10).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 4]);
    assert_eq!(rows[0].record["person"], "alice");
    assert_eq!(rows[0].record["oauth_client"], "client-1");
}
