//! tools/call `search_records` through odoo-warden against the Odoo emulator, next to the same
//! query sent to the emulator directly (`web_search_read` over JSON-2, as odoo-warden sends it).
//!
//! `cargo bench --bench throughput [-- --seconds N --concurrency C --rounds R --full-only]`
//!
//! Reports, for each path: sequential latency (median, p99) with one client, and throughput with
//! C concurrent clients, as the median of R rounds (this machine's neighbours make single rounds
//! vary by a fifth). The difference of the medians is what odoo-warden adds per call (budget:
//! under 1 ms; README "Performance"). "release binary" is `odoo-warden serve` as shipped, in its
//! own process, logging at info to a file: that row is the throughput budget's figure (10,000
//! tools/call/s). The other rows run the stack inside this process, sharing its runtime with the
//! emulator and the load generator: they compare the request-level audit layer and the limits on
//! and off (tool calls always record themselves).

#[path = "../tests/emulator/mod.rs"]
mod emulator;
#[path = "../tests/support/warden.rs"]
mod warden;

use emulator::{Emulator, EmulatorConfig, api_key};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

struct Args {
    seconds: f64,
    concurrency: usize,
    rounds: usize,
    /// Only the full-stack throughput (for a profiler).
    full_only: bool,
}

fn args() -> Args {
    let argv: Vec<String> = std::env::args().collect();
    // `cargo bench` passes --bench; under `cargo test` this binary only proves it still runs.
    let seconds = if argv.iter().any(|a| a == "--bench") {
        5.0
    } else {
        0.2
    };
    let mut a = Args {
        seconds,
        concurrency: 16,
        rounds: 5,
        full_only: false,
    };
    let mut i = 1;
    while i < argv.len() {
        match argv[i].as_str() {
            "--seconds" => {
                a.seconds = argv
                    .get(i + 1)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(a.seconds);
                i += 1;
            }
            "--concurrency" => {
                a.concurrency = argv
                    .get(i + 1)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(a.concurrency);
                i += 1;
            }
            "--rounds" => {
                a.rounds = argv
                    .get(i + 1)
                    .and_then(|v| v.parse().ok())
                    .filter(|r| *r > 0)
                    .unwrap_or(a.rounds);
                i += 1;
            }
            "--full-only" => a.full_only = true,
            _ => {}
        }
        i += 1;
    }
    a
}

/// One way of issuing the query.
#[derive(Clone)]
enum Path {
    Direct { url: String, key: String },
    Warden { url: String, token: String },
}

impl Path {
    fn request(&self, http: &reqwest::Client) -> reqwest::RequestBuilder {
        match self {
            Path::Direct { url, key } => http
                .post(format!("{url}/json/2/res.partner/web_search_read"))
                .header("authorization", format!("bearer {key}"))
                .header("x-odoo-database", "lab")
                .json(&json!({"domain": [["is_company", "=", true]], "specification": {"name": {}, "email": {}}, "offset": 0, "limit": 5,
                              "context": {"lang": "en_US", "tz": "Europe/Brussels"}})),
            Path::Warden { url, token } => http
                .post(url)
                .bearer_auth(token)
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", "tools/call")
                .header("mcp-name", "search_records")
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
                    "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                              "io.modelcontextprotocol/clientCapabilities": {}},
                    "name": "search_records",
                    "arguments": {"model": "res.partner", "domain": [["is_company", "=", true]], "fields": ["name", "email"], "limit": 5}}})),
        }
    }

    async fn once(&self, http: &reqwest::Client) -> bool {
        match self.request(http).send().await {
            Ok(r) if r.status().is_success() => match r.json::<Value>().await {
                Ok(v) => v.get("error").is_none() && v["result"]["isError"] != json!(true),
                Err(_) => false,
            },
            _ => false,
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn latency(path: &Path, seconds: f64) -> (Duration, Duration, usize) {
    let http = reqwest::Client::new();
    for _ in 0..50 {
        path.once(&http).await;
    }
    let mut samples = Vec::new();
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < end {
        let t = Instant::now();
        assert!(path.once(&http).await, "a benchmark request failed");
        samples.push(t.elapsed());
    }
    samples.sort();
    (
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples.len(),
    )
}

/// Calls per second with `concurrency` clients for `seconds`.
async fn throughput_round(path: &Path, seconds: f64, concurrency: usize) -> (f64, u64) {
    let http = reqwest::Client::new();
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, path, ok, failed) = (http.clone(), path.clone(), ok.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                if path.once(&http).await {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let n = ok.load(Ordering::Relaxed);
    (
        n as f64 / start.elapsed().as_secs_f64(),
        failed.load(Ordering::Relaxed),
    )
}

/// Throughput over `a.rounds` rounds: the median, the lowest and highest, and failed calls.
struct Rate {
    median: f64,
    low: f64,
    high: f64,
    failed: u64,
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>8.0} /s  (rounds {:.0}..{:.0}, {} failed)",
            self.median, self.low, self.high, self.failed
        )
    }
}

async fn throughput(path: &Path, a: &Args) -> Rate {
    let mut rates = Vec::with_capacity(a.rounds);
    let mut failed = 0;
    for _ in 0..a.rounds {
        let (r, f) = throughput_round(path, a.seconds / a.rounds as f64, a.concurrency).await;
        rates.push(r);
        failed += f;
    }
    rates.sort_by(f64::total_cmp);
    Rate {
        median: rates[rates.len() / 2],
        low: rates[0],
        high: rates[rates.len() - 1],
        failed,
    }
}

/// `odoo-warden serve` (the release binary under `cargo bench`) in its own process, against the
/// emulator, with a fresh SQLite store, limits far above the load, logs at info into a file.
struct Binary {
    child: std::process::Child,
    dir: std::path::PathBuf,
    url: String,
    token: String,
}

impl Binary {
    fn start(odoo_url: &str) -> Binary {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let dir = std::env::temp_dir().join(format!("ow-bench-bin-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let config = dir.join("odoo-warden.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n\
                 [store]\nurl = \"sqlite://{}/bench.db\"\n\
                 [odoo]\nurl = \"{odoo_url}\"\ndatabase = \"lab\"\n\
                 [limits]\nper_ip_per_minute = 1000000000\nper_ip_burst = 1000000\n\
                 [profiles.bench]\nodoo_login = \"mcp_writer\"\nodoo_api_key_env = \"BENCH_ODOO_KEY\"\n\
                 rate_limit = {{ per_minute = 1000000000, burst = 1000000, writes_per_minute = 1000 }}\n",
                dir.display()
            ),
        )
        .expect("config");
        let bin = env!("CARGO_BIN_EXE_odoo-warden");
        let out = Command::new(bin)
            .args([
                "keys",
                "create",
                "--name",
                "bench",
                "--scope",
                "mcp",
                "--profile",
                "bench",
                "--json",
                "--config",
            ])
            .arg(&config)
            .env("RUST_LOG", "warn")
            .output()
            .expect("odoo-warden keys create runs");
        let created: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "keys create printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let token = created["token"].as_str().expect("a token").to_string();
        let log = std::fs::File::create(dir.join("odoo-warden.log")).expect("log file");
        let mut child = Command::new(bin)
            .args(["serve", "--config"])
            .arg(&config)
            .env("BENCH_ODOO_KEY", api_key("mcp_writer"))
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("odoo-warden serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let url = std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| {
                l.strip_prefix("odoo-warden listening on ")
                    .map(str::to_string)
            })
            .expect("odoo-warden prints its address");
        Binary {
            child,
            dir,
            url,
            token,
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let emu = Emulator::start(EmulatorConfig::odoo19()).await;
        // A file-backed SQLite store (WAL), as odoo-warden runs by default.
        let dir = std::env::temp_dir().join(format!("ow-bench-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let store_url = format!("sqlite://{}/bench.db", dir.display());
        // Limits on, but far above what the benchmark sends: their cost is measured, not their refusals.
        let mut text = warden::config_text(
            &emu.url(),
            &store_url,
            &[("bench", "mcp_writer")],
            "rate_limit = { per_minute = 1000000000, burst = 1000000, writes_per_minute = 1000 }",
        );
        text.push_str("[limits]\nper_ip_per_minute = 1000000000\nper_ip_burst = 1000000\n");
        let w = warden::start(&text, warden::env_for(&["mcp_writer"])).await.expect("odoo-warden starts");
        let (_, token) = w.key(&["mcp"], Some("bench"), None).await;
        let key = api_key("mcp_writer");

        // Key verification: cached (the common case) and a cache miss (one argon2id check).
        assert!(w.rt.verifier.verify(&token).await.is_ok());
        let n = 100_000;
        let t = Instant::now();
        for _ in 0..n {
            let _ = w.rt.verifier.verify(&token).await;
        }
        let cached = t.elapsed() / n;
        let parsed = odoo_warden::auth::key::parse_token(&token).expect("token parses");
        let record = w.rt.store.get_key(&parsed.id).await.expect("store").expect("key");
        let t = Instant::now();
        for _ in 0..10 {
            assert!(odoo_warden::auth::key::verify_secret(parsed.secret.expose(), &record.secret_hash));
        }
        let miss = t.elapsed() / 10;
        println!("key verification     cached: {:.2} µs (budget 20 µs)   cache miss (argon2id): {:.1} ms", cached.as_secs_f64() * 1e6, miss.as_secs_f64() * 1e3);

        let direct = Path::Direct { url: emu.url(), key };
        let warden = Path::Warden { url: w.mcp_url.clone(), token };
        if a.full_only {
            println!("throughput ({} clients)  warden: {}  [audit on, limits on: the full stack]", a.concurrency, throughput(&warden, &a).await);
            return;
        }
        println!("search_records (res.partner, 5 records), Odoo emulator 19.0 in-process; latency {} s per path, throughput {} rounds of {:.1} s", a.seconds, a.rounds, a.seconds / a.rounds as f64);
        let (d50, d99, dn) = latency(&direct, a.seconds).await;
        let (w50, w99, wn) = latency(&warden, a.seconds).await;
        println!("sequential latency   direct: median {:>7.1} µs  p99 {:>7.1} µs  ({dn} calls)", d50.as_secs_f64() * 1e6, d99.as_secs_f64() * 1e6);
        println!("sequential latency   warden: median {:>7.1} µs  p99 {:>7.1} µs  ({wn} calls)", w50.as_secs_f64() * 1e6, w99.as_secs_f64() * 1e6);
        println!("added by odoo-warden: median {:.1} µs (budget 1000 µs)", (w50.as_secs_f64() - d50.as_secs_f64()) * 1e6);
        println!("throughput ({} clients)  direct: {}", a.concurrency, throughput(&direct, &a).await);
        println!("throughput ({} clients)  warden: {}  [audit on, limits on: the full stack, in this process]", a.concurrency, throughput(&warden, &a).await);
        {
            let bin = Binary::start(&emu.url());
            let path = Path::Warden { url: bin.url.clone(), token: bin.token.clone() };
            let (b50, _, _) = latency(&path, a.seconds).await;
            println!("sequential latency   warden: median {:>7.1} µs  [release binary]", b50.as_secs_f64() * 1e6);
            println!("throughput ({} clients)  warden: {}  [release binary: audit on, limits on, logs at info] (budget 10000 /s)", a.concurrency, throughput(&path, &a).await);
        }

        // The MCP core and its tools (each call still records itself) behind the key check, without
        // the request-level audit layer, and with or without the limiters: what the layers cost.
        let client = odoo_warden::odoo::OdooClient::new(w.config.odoo.clone()).expect("client");
        let profile = &w.config.profiles["bench"];
        let user = client.login(&profile.credentials).await.expect("login");
        let state = odoo_warden::profile::ProfileState::new("bench".into(), user, odoo_warden::policy::Policy::read_only_default())
            .await
            .expect("profile");
        let mut profiles = std::collections::HashMap::new();
        profiles.insert("bench".to_string(), std::sync::Arc::new(state));
        let unaudited = std::sync::Arc::new(odoo_warden::mcp::server::McpServer::new(
            odoo_warden::mcp::tools::Toolbox::new().expect("toolbox"),
            profiles,
            odoo_warden::mcp::server::McpSettings {
                request_timeout: Duration::from_secs(60),
                client_request_timeout: Duration::from_secs(60),
                confirm: Default::default(),
                state_key: None,
            },
            odoo_warden::mcp::server::Handles {
                audit: w.rt.audit.clone(),
                store: w.rt.store.clone(),
                kill: w.rt.kill.clone(),
            },
        ));
        let auth = odoo_warden::middleware::auth::AuthLayer::new(w.rt.verifier.clone(), odoo_warden::auth::Scope::Mcp);
        let Path::Warden { token, .. } = &warden else { unreachable!() };
        // No audit layer, no limits: the core, the tools, the profile and the key check.
        let bare = odoo_warden::mcp::server::router(unaudited.clone()).layer(auth.clone());
        // No audit layer, limits on (not hit): the cost of the two limiters.
        let limited = odoo_warden::mcp::server::router(unaudited)
            .layer(odoo_warden::middleware::ratelimit::KeyRateLimitLayer::new(&w.rt.key_limits))
            .layer(auth)
            .layer(tower::util::option_layer(odoo_warden::middleware::ratelimit::per_ip_layer(1_000_000_000, 1_000_000, Vec::new())));
        for (label, app) in [("no audit layer, limits off", bare), ("no audit layer, limits on", limited)] {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
            tokio::spawn(async move {
                axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await
            });
            let off = Path::Warden { url, token: token.clone() };
            let (o50, _, _) = latency(&off, a.seconds).await;
            println!("sequential latency   warden: median {:>7.1} µs  [{label}]", o50.as_secs_f64() * 1e6);
            println!("throughput ({} clients)  warden: {}  [{label}]", a.concurrency, throughput(&off, &a).await);
        }
        println!("audit records written: {}", w.rt.store.audit_count().await.unwrap_or(-1));
    });
}
