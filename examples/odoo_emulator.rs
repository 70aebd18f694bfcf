//! The Odoo emulator of the test suite as a standalone server, for end-to-end tests in other
//! languages and for benchmarks.
//!
//! ```text
//! odoo-emulator [--odoo-version 19.0] [--listen 127.0.0.1:0] [--database lab]
//!               [--service-time-ms 0] [--workers N]
//! ```
//!
//! `--service-time-ms N` makes every request wait N milliseconds before it is answered, the
//! round trip of a real Odoo (some 5-17 ms a request) for benchmarks; 0, the default, answers
//! at once. `--workers N` serves at most N requests at once (Odoo's worker processes); the
//! others wait their turn. Without it, there is no limit.
//!
//! Prints exactly one line, `listening on http://127.0.0.1:PORT`, once the port is bound, then
//! serves until it is killed (or gets Ctrl-C).

#[path = "../tests/emulator/mod.rs"]
mod emulator;

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: odoo-emulator [--odoo-version 19.0] [--listen 127.0.0.1:0] [--database lab] [--service-time-ms 0] [--workers N]";

struct Options {
    version: String,
    listen: SocketAddr,
    database: String,
    service_time: Duration,
    workers: Option<usize>,
}

fn parse_args() -> Result<Options, String> {
    let mut opts = Options {
        version: "19.0".to_string(),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        database: "lab".to_string(),
        service_time: Duration::ZERO,
        workers: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            match inline.clone().or_else(|| args.next()) {
                Some(v) => Ok(v),
                None => Err(format!("{name} needs a value\n{USAGE}")),
            }
        };
        match flag.as_str() {
            "--odoo-version" => opts.version = value("--odoo-version")?,
            "--listen" => {
                let v = value("--listen")?;
                opts.listen = v
                    .parse()
                    .map_err(|e| format!("--listen {v}: {e}\n{USAGE}"))?;
            }
            "--database" => opts.database = value("--database")?,
            "--service-time-ms" => {
                let v = value("--service-time-ms")?;
                let ms: u64 = v
                    .trim()
                    .parse()
                    .map_err(|e| format!("--service-time-ms {v}: {e}\n{USAGE}"))?;
                opts.service_time = Duration::from_millis(ms);
            }
            "--workers" => {
                let v = value("--workers")?;
                let n: usize = v.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    format!("--workers {v}: a number of workers, 1 or more\n{USAGE}")
                })?;
                opts.workers = Some(n);
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(opts)
}

#[tokio::main]
async fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let mut config = emulator::EmulatorConfig::with_version(&opts.version);
    config.database = opts.database;
    config.service_time = opts.service_time;
    config.workers = opts.workers;
    let odoo = match emulator::Emulator::start_on(config, opts.listen).await {
        Ok(e) => e,
        Err(err) => {
            eprintln!("cannot listen on {}: {err}", opts.listen);
            return ExitCode::from(1);
        }
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "listening on {}", odoo.url())
        .and_then(|_| out.flush())
        .is_err()
    {
        return ExitCode::from(1);
    }
    drop(out);
    let _ = tokio::signal::ctrl_c().await;
    odoo.shutdown().await;
    ExitCode::SUCCESS
}
