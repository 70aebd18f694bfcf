//! Idle memory of the real binary (budget: under 30 MB): resident set size after start,
//! and again after a burst of requests that each cost an argon2id verification (19 MiB of working
//! memory apiece), which must be handed back.
//!
//! `cargo bench --bench idle_memory` (Linux: reads /proc).

#[path = "../tests/emulator/mod.rs"]
mod emulator;

use emulator::{Emulator, EmulatorConfig};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("field in /proc status")
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let emu = Emulator::start(EmulatorConfig::odoo19()).await;
        let dir = std::env::temp_dir().join(format!("ow-mem-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n[store]\nurl = \"sqlite://{}/mem.db\"\n[odoo]\nurl = \"{}\"\ndatabase = \"lab\"\n[profiles.default]\nodoo_login = \"mcp_reader\"\nodoo_api_key_env = \"MEM_ODOO_KEY\"\n",
            dir.display(),
            emu.url()
        );
        std::fs::write(dir.join("odoo-warden.toml"), config).expect("config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_odoo-warden"))
            .args(["serve", "--config"])
            .arg(dir.join("odoo-warden.toml"))
            .env("MEM_ODOO_KEY", "<apikey:mcp_reader>")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("odoo-warden starts");
        let pid = child.id();
        let stdout = child.stdout.take().expect("stdout");
        let url = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("odoo-warden listening on ").map(str::to_string))
            .expect("odoo-warden prints its address");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let idle = rss_kib(pid, "VmRSS:");
        let client = reqwest::Client::new();
        for i in 0..50 {
            let _ = client
                .post(&url)
                .bearer_auth(format!("owk_{:0>16}_{}", i, "b".repeat(32)))
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = rss_kib(pid, "VmRSS:");
        let peak = rss_kib(pid, "VmHWM:");
        // `cargo test --all-targets` runs this too, on the debug binary: a smoke run only.
        let note = if std::env::args().any(|a| a == "--bench") {
            "budget 30 MB idle"
        } else {
            "debug build: not the budget's figure"
        };
        println!(
            "idle memory (RSS): {:.1} MB after start, {:.1} MB after 50 argon2id verifications (peak {:.1} MB; {note})",
            idle as f64 / 1024.0,
            after as f64 / 1024.0,
            peak as f64 / 1024.0
        );
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&dir);
    });
}
