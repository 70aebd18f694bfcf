//! `search_records` through odoo-warden next to the same Odoo call made directly, where each Odoo
//! request costs what it costs on a real server: the share of Odoo's own throughput a customer
//! keeps behind odoo-warden, at 1, 4 and 16 clients.
//!
//! ```text
//! cargo bench --bench versus_odoo                        # the emulator as Odoo 18 and 19
//! cargo bench --bench versus_odoo -- --service-time-ms 17 --workers 2 --seconds 3
//! ODOO_API_KEY=... cargo bench --bench versus_odoo -- \
//!     --odoo-url https://odoo.example.com --odoo-database prod --odoo-login mcp-bot
//! ```
//!
//! Against the emulator, every Odoo request waits `--service-time-ms` (default 5) and at most
//! `--workers` (default 2) are served at once, as on a small Odoo. With `--odoo-url`, the same
//! rows are measured against that Odoo: odoo-warden runs in this process with the built-in
//! read-only policy, as the given user (its API key from `ODOO_API_KEY`, or the variable
//! `--odoo-key-env` names), and the direct path sends that user's key to Odoo itself.
//!
//! Both paths read the same page (`--model`, default `res.partner`; `--fields`, default
//! `name,email`; `--limit`, default 20) with the same `web_search_read` call (the one request
//! odoo-warden makes: the page and the total). Each row alternates the two paths over
//! `--rounds` rounds (default 3) and reports the median rate; the median latency is over every
//! call of the row. Under `cargo test` it runs for a moment and checks that a call through
//! odoo-warden costs the emulator one request.

#[path = "../tests/emulator/mod.rs"]
mod emulator;
#[path = "../tests/support/warden.rs"]
mod warden;

use emulator::{Emulator, EmulatorConfig, api_key};
use odoo_warden::odoo::{OdooClient, Protocol};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

struct Args {
    seconds: f64,
    rounds: usize,
    clients: Vec<usize>,
    service_time: Duration,
    workers: usize,
    model: String,
    fields: Vec<String>,
    limit: u64,
    odoo: Option<RealOdoo>,
    /// `cargo bench` (not `cargo test`).
    bench: bool,
}

struct RealOdoo {
    url: String,
    database: String,
    login: String,
    key_env: String,
}

const USAGE: &str = "usage: cargo bench --bench versus_odoo -- [--seconds S] [--rounds R] \
[--clients 1,4,16] [--service-time-ms 5] [--workers 2] [--model res.partner] [--fields name,email] \
[--limit 20] [--odoo-url URL --odoo-database DB --odoo-login LOGIN [--odoo-key-env ODOO_API_KEY]]";

fn args() -> Result<Args, String> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let bench = argv.iter().any(|a| a == "--bench");
    let mut a = Args {
        seconds: if bench { 2.0 } else { 0.2 },
        rounds: if bench { 3 } else { 1 },
        clients: if bench { vec![1, 4, 16] } else { vec![1, 4] },
        service_time: Duration::from_millis(5),
        workers: 2,
        model: "res.partner".into(),
        fields: vec!["name".into(), "email".into()],
        limit: 20,
        odoo: None,
        bench,
    };
    let (mut url, mut database, mut login) = (None, None, None);
    let mut key_env = "ODOO_API_KEY".to_string();
    let mut it = argv.into_iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value\n{USAGE}"));
        fn num<T: std::str::FromStr>(name: &str, v: String) -> Result<T, String> {
            v.trim()
                .parse()
                .map_err(|_| format!("{name} {v}: not a number\n{USAGE}"))
        }
        match arg.as_str() {
            "--bench" => {}
            "--seconds" => a.seconds = num("--seconds", value("--seconds")?)?,
            "--rounds" => a.rounds = num::<usize>("--rounds", value("--rounds")?)?.max(1),
            "--clients" => {
                a.clients = value("--clients")?
                    .split(',')
                    .map(|c| num::<usize>("--clients", c.to_string()).map(|c| c.max(1)))
                    .collect::<Result<_, _>>()?;
            }
            "--service-time-ms" => {
                a.service_time =
                    Duration::from_millis(num("--service-time-ms", value("--service-time-ms")?)?)
            }
            "--workers" => a.workers = num::<usize>("--workers", value("--workers")?)?.max(1),
            "--model" => a.model = value("--model")?,
            "--fields" => {
                a.fields = value("--fields")?
                    .split(',')
                    .map(|f| f.trim().to_string())
                    .filter(|f| !f.is_empty())
                    .collect()
            }
            "--limit" => a.limit = num("--limit", value("--limit")?)?,
            "--odoo-url" => url = Some(value("--odoo-url")?),
            "--odoo-database" => database = Some(value("--odoo-database")?),
            "--odoo-login" => login = Some(value("--odoo-login")?),
            "--odoo-key-env" => key_env = value("--odoo-key-env")?,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    match (url, database, login) {
        (None, None, None) => {}
        (Some(url), Some(database), Some(login)) => {
            a.odoo = Some(RealOdoo {
                url: url.trim_end_matches('/').to_string(),
                database,
                login,
                key_env,
            })
        }
        _ => {
            return Err(format!(
                "--odoo-url, --odoo-database and --odoo-login go together\n{USAGE}"
            ));
        }
    }
    if a.fields.is_empty() {
        return Err(format!("--fields names no field\n{USAGE}"));
    }
    Ok(a)
}

/// One way of reading the page.
#[derive(Clone)]
enum Path {
    /// The `web_search_read` request, as odoo-warden sends it, sent to Odoo by this process.
    Direct {
        url: String,
        headers: Vec<(&'static str, String)>,
        body: Value,
    },
    Warden {
        url: String,
        token: String,
        body: Value,
    },
}

impl Path {
    fn direct(
        odoo_url: &str,
        database: &str,
        key: &str,
        protocol: Protocol,
        uid: i64,
        mut kwargs: Map<String, Value>,
        model: &str,
    ) -> Path {
        match protocol {
            Protocol::Json2 => Path::Direct {
                url: format!("{odoo_url}/json/2/{model}/web_search_read"),
                headers: vec![
                    ("authorization", format!("bearer {key}")),
                    ("x-odoo-database", database.to_string()),
                ],
                body: Value::Object(kwargs),
            },
            Protocol::Jsonrpc => {
                let context = kwargs.remove("context").unwrap_or(json!({}));
                kwargs.insert("context".into(), context);
                Path::Direct {
                    url: format!("{odoo_url}/jsonrpc"),
                    headers: Vec::new(),
                    body: json!({"jsonrpc": "2.0", "id": 1, "method": "call", "params": {
                        "service": "object", "method": "execute_kw",
                        "args": [database, uid, key, model, "web_search_read", [], kwargs]}}),
                }
            }
        }
    }

    fn warden(url: &str, token: &str, a: &Args) -> Path {
        Path::Warden {
            url: url.to_string(),
            token: token.to_string(),
            body: json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
                "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                          "io.modelcontextprotocol/clientCapabilities": {}},
                "name": "search_records",
                "arguments": {"model": a.model, "domain": [], "fields": a.fields, "limit": a.limit}}}),
        }
    }

    /// One call; `Err` says what went wrong.
    async fn once(&self, http: &reqwest::Client) -> Result<(), String> {
        let request = match self {
            Path::Direct { url, headers, body } => {
                let mut r = http.post(url).json(body);
                for (name, value) in headers {
                    r = r.header(*name, value);
                }
                r
            }
            Path::Warden { url, token, body } => http
                .post(url)
                .bearer_auth(token)
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", "tools/call")
                .header("mcp-name", "search_records")
                .json(body),
        };
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let v: Value = response.json().await.map_err(|e| e.to_string())?;
        let failed = !status.is_success()
            || v.get("error").is_some()
            || v["result"]["isError"] == json!(true);
        if failed {
            return Err(format!("HTTP {status}: {v}"));
        }
        Ok(())
    }
}

/// Calls per second and every call's latency, with `clients` clients for `seconds`.
async fn run(path: &Path, clients: usize, seconds: f64) -> Result<(f64, Vec<Duration>), String> {
    let http = reqwest::Client::new();
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, path) = (http.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            while Instant::now() < end {
                let t = Instant::now();
                path.once(&http).await?;
                samples.push(t.elapsed());
            }
            Ok::<_, String>(samples)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.map_err(|e| e.to_string())??);
    }
    Ok((all.len() as f64 / start.elapsed().as_secs_f64(), all))
}

fn median_f(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn median_d(v: &mut [Duration]) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

struct Row {
    clients: usize,
    direct: f64,
    warden: f64,
    direct_p50: Duration,
    warden_p50: Duration,
}

/// Each row: the two paths alternated over the rounds.
async fn measure(a: &Args, direct: &Path, warden: &Path) -> Result<Vec<Row>, String> {
    // Warm both paths: connections, caches, Odoo's own.
    run(direct, 1, 0.2).await?;
    run(warden, 1, 0.2).await?;
    let mut rows = Vec::new();
    let slice = a.seconds / a.rounds as f64;
    for &clients in &a.clients {
        let (mut d_rates, mut w_rates) = (Vec::new(), Vec::new());
        let (mut d_lat, mut w_lat) = (Vec::new(), Vec::new());
        for _ in 0..a.rounds {
            let (rate, lat) = run(direct, clients, slice).await?;
            d_rates.push(rate);
            d_lat.extend(lat);
            let (rate, lat) = run(warden, clients, slice).await?;
            w_rates.push(rate);
            w_lat.extend(lat);
        }
        rows.push(Row {
            clients,
            direct: median_f(d_rates),
            warden: median_f(w_rates),
            direct_p50: median_d(&mut d_lat),
            warden_p50: median_d(&mut w_lat),
        });
    }
    Ok(rows)
}

fn print(rows: &[Row]) {
    println!(
        "{:>7}  {:>14}  {:>14}  {:>15}  {:>10}  {:>10}  {:>9}",
        "clients",
        "direct calls/s",
        "warden calls/s",
        "share of direct",
        "p50 direct",
        "p50 warden",
        "added"
    );
    for r in rows {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{:>7}  {:>14.1}  {:>14.1}  {:>15.2}  {:>7.2} ms  {:>7.2} ms  {:>6.2} ms",
            r.clients,
            r.direct,
            r.warden,
            r.warden / r.direct,
            ms(r.direct_p50),
            ms(r.warden_p50),
            ms(r.warden_p50) - ms(r.direct_p50),
        );
    }
}

fn warden_config(odoo_url: &str, database: &str, login: &str, store: &str) -> String {
    // The built-in read-only policy; limits far above the load (their cost is measured, not
    // their refusals).
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[store]\nurl = \"{store}\"\n\
         [odoo]\nurl = \"{odoo_url}\"\ndatabase = \"{database}\"\n\
         [limits]\nper_ip_per_minute = 1000000000\nper_ip_burst = 1000000\n\
         [profiles.bench]\nodoo_login = \"{login}\"\nodoo_api_key_env = \"BENCH_ODOO_KEY\"\n\
         rate_limit = {{ per_minute = 1000000000, burst = 1000000 }}\n"
    )
}

/// odoo-warden in this process in front of `odoo_url`, and the direct path to the same Odoo.
async fn paths(
    a: &Args,
    odoo_url: &str,
    database: &str,
    login: &str,
    key: &str,
    store: &str,
) -> Result<(warden::Warden, Path, Path, String), String> {
    let mut env = HashMap::new();
    env.insert("BENCH_ODOO_KEY".to_string(), key.to_string());
    let w = warden::start(&warden_config(odoo_url, database, login, store), env)
        .await
        .map_err(|e| format!("odoo-warden did not start: {e}"))?;
    let (_, token) = w.key(&["mcp"], Some("bench"), None).await;
    let client = OdooClient::new(w.config.odoo.clone()).map_err(|e| e.to_string())?;
    let user = client
        .login(&w.config.profiles["bench"].credentials)
        .await
        .map_err(|e| e.to_string())?;
    let info = user.server_info().await.map_err(|e| e.to_string())?;
    // The call odoo-warden makes for this page: 16 names `fields`, 17+ a `specification`.
    let mut kwargs = Map::new();
    kwargs.insert("domain".into(), json!([]));
    if info.version.major >= 17 {
        let spec: Map<String, Value> = a.fields.iter().map(|f| (f.clone(), json!({}))).collect();
        kwargs.insert("specification".into(), Value::Object(spec));
    } else {
        kwargs.insert("fields".into(), json!(a.fields));
    }
    kwargs.insert("offset".into(), json!(0));
    kwargs.insert("limit".into(), json!(a.limit));
    kwargs.insert("context".into(), Value::Object(user.context().clone()));
    let direct = Path::direct(
        odoo_url,
        database,
        key,
        info.protocol,
        user.uid(),
        kwargs,
        &a.model,
    );
    let through = Path::warden(&w.mcp_url, &token, a);
    Ok((w, direct, through, info.version.to_string()))
}

async fn main_async(a: Args) -> Result<(), String> {
    let store_dir = std::env::temp_dir().join(format!("ow-versus-{}", std::process::id()));
    std::fs::create_dir_all(&store_dir).map_err(|e| e.to_string())?;
    let store = format!("sqlite://{}/bench.db?mode=rwc", store_dir.display());
    let result = async {
        if let Some(odoo) = &a.odoo {
            let key = std::env::var(&odoo.key_env).map_err(|_| {
                format!(
                    "set {} to the API key of the Odoo user {:?}",
                    odoo.key_env, odoo.login
                )
            })?;
            let (_w, direct, through, version) =
                paths(&a, &odoo.url, &odoo.database, &odoo.login, &key, &store).await?;
            println!(
                "search_records {} ({} records, {}) against Odoo {version} at {}; {} rounds of {:.1} s per row",
                a.model, a.limit, a.fields.join("+"), odoo.url, a.rounds, a.seconds / a.rounds as f64
            );
            print(&measure(&a, &direct, &through).await?);
            return Ok(());
        }
        for version in ["18.0", "19.0"] {
            let emu = Emulator::start(
                EmulatorConfig::with_version(version)
                    .with_service_time(a.service_time)
                    .with_workers(a.workers),
            )
            .await;
            let (_w, direct, through, _) = paths(
                &a,
                &emu.url(),
                "lab",
                "mcp_reader",
                &api_key("mcp_reader"),
                &format!("sqlite://{}/bench-{version}.db?mode=rwc", store_dir.display()),
            )
            .await?;
            // What one call through odoo-warden costs the emulator, once warm (the first call
            // reads the model's field definitions).
            let http = reqwest::Client::new();
            through.once(&http).await?;
            emu.reset_requests();
            let calls = 20;
            for _ in 0..calls {
                through.once(&http).await?;
            }
            let per_call = emu.requests() as f64 / calls as f64;
            println!(
                "search_records {} ({} records, {}) against the Odoo emulator as {version}: {} ms per request, {} workers; {} rounds of {:.1} s per row; Odoo requests per call: direct 1, through odoo-warden {per_call:.2}",
                a.model, a.limit, a.fields.join("+"), a.service_time.as_millis(), a.workers, a.rounds, a.seconds / a.rounds as f64
            );
            if !a.bench && per_call != 1.0 {
                return Err(format!("a search_records call cost Odoo {per_call} requests, not 1"));
            }
            print(&measure(&a, &direct, &through).await?);
        }
        Ok(())
    }
    .await;
    let _ = std::fs::remove_dir_all(&store_dir);
    result
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("no tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(main_async(a)) {
        eprintln!("versus_odoo: {e}");
        std::process::exit(1);
    }
}
