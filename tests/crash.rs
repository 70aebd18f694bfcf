//! Crash mid-write (issue 19): `kill -9` of the real binary during a stream of concurrent writes,
//! at a random point, three rounds on one store. After each restart: the audit chain verifies
//! and names exactly the writes whose outcome went unrecorded; every record Odoo holds was
//! written under an intent on the trail; every write the client was told succeeded has its
//! outcome on the trail. Then two instances on one PostgreSQL, one killed mid-stream: the other
//! keeps writing, and the single chain stays intact.

#[path = "support/binary.rs"]
mod binary;
mod emulator;
#[path = "support/load.rs"]
mod load;
#[path = "support/pg.rs"]
#[allow(dead_code)]
mod pg;

use emulator::{Emulator, EmulatorConfig};
use load::{Answer, create, in_odoo, records};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const POLICY: &str = "[defaults]\nconfirm = \"none\"\n[models.\"res.partner\"]\nread = true\ncreate = { fields = [\"name\", \"is_company\"] }\n";

#[test]
fn a_kill_mid_write_loses_nothing_acknowledged_and_names_every_unknown_outcome() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = rt.block_on(Emulator::start(EmulatorConfig::odoo19()));
    let dir = std::env::temp_dir().join(format!("ow-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = binary::config_with(&dir, &emu.url(), POLICY);
    binary::unlimited(&cfg);
    let token = binary::key(&cfg);
    let auditor = binary::key_with_scope(&cfg, "audit");
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for round in 0..3u32 {
        let mut w = binary::serve(&cfg);
        let prefix = format!("crash-{round}-");
        let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let (url, token, prefix, acknowledged) = (
                    w.mcp_url.clone(),
                    token.clone(),
                    prefix.clone(),
                    acknowledged.clone(),
                );
                std::thread::spawn(move || {
                    let client = reqwest::blocking::Client::new();
                    for n in 0.. {
                        let name = format!("{prefix}{t}-{n}");
                        match create(&client, &url, &token, &name) {
                            Answer::Ok => {
                                acknowledged.lock().unwrap().insert(name);
                            }
                            Answer::None(_) => return n,
                            _ => {}
                        }
                    }
                    0
                })
            })
            .collect();
        // At a random point of the stream.
        std::thread::sleep(Duration::from_millis(300 + u64::from(rand_ms(round))));
        w.child.kill().unwrap();
        let _ = w.child.wait();
        let sent: u64 = writers.into_iter().map(|h| h.join().unwrap()).sum();
        let acknowledged = acknowledged.lock().unwrap().clone();
        assert!(
            acknowledged.len() > 5,
            "round {round}: too few writes before the kill ({sent} sent)"
        );

        // Restarted on the same store.
        let mut w = binary::serve(&cfg);
        let intents = records(&client, &w.admin_url, &auditor, "write_intent");
        let outcomes = records(&client, &w.admin_url, &auditor, "write_outcome");
        let name_of = |r: &Value| {
            r["arguments"]["records"][0]["name"]
                .as_str()
                .map(str::to_string)
        };
        let intent_calls: BTreeMap<String, String> = intents
            .iter()
            .filter_map(|r| Some((name_of(r)?, r["call_id"].as_str()?.to_string())))
            .filter(|(name, _)| name.starts_with(&prefix))
            .collect();
        let outcome_of: BTreeMap<String, String> = outcomes
            .iter()
            .filter_map(|r| {
                Some((
                    r["call_id"].as_str()?.to_string(),
                    r["outcome"].as_str()?.to_string(),
                ))
            })
            .collect();
        // Nothing reached Odoo without its intent on the trail.
        let odoo = in_odoo(&emu.url(), &prefix);
        let unrecorded: Vec<_> = odoo
            .iter()
            .filter(|n| !intent_calls.contains_key(*n))
            .collect();
        assert!(
            unrecorded.is_empty(),
            "round {round}: written without an intent: {unrecorded:?}"
        );
        // Everything acknowledged is on the trail as done.
        for name in &acknowledged {
            let call = &intent_calls[name];
            assert_eq!(
                outcome_of.get(call).map(String::as_str),
                Some("ok"),
                "round {round}: {name}"
            );
            assert!(
                odoo.contains(name),
                "round {round}: {name} acknowledged but not in Odoo"
            );
        }
        // The chain is whole, and names exactly the intents left without an outcome.
        let verify = load::verify(&client, &w.admin_url, &auditor);
        assert_eq!(verify["ok"], true, "round {round}: {verify}");
        let named: BTreeSet<String> = verify["unknown_outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|u| u["call_id"].as_str().map(str::to_string))
            .collect();
        let open: BTreeSet<String> = intent_calls
            .values()
            .filter(|c| !outcome_of.contains_key(*c))
            .cloned()
            .collect();
        // Over every round so far: exactly the intents without an outcome.
        let open_all: BTreeSet<String> = intents
            .iter()
            .filter_map(|r| r["call_id"].as_str().map(str::to_string))
            .filter(|c| !outcome_of.contains_key(c))
            .collect();
        assert!(
            open.is_subset(&named),
            "round {round}: {open:?} not named in {named:?}"
        );
        assert_eq!(named, open_all, "round {round}");
        eprintln!(
            "round {round}: {} acknowledged, {} in Odoo, {} without an outcome",
            acknowledged.len(),
            odoo.len(),
            open.len()
        );
        w.child.kill().unwrap();
        let _ = w.child.wait();
    }
}

/// Writers on `url` until `stop`; the names acknowledged.
fn writers(
    url: &str,
    token: &str,
    prefix: &str,
    count: usize,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Vec<std::thread::JoinHandle<BTreeSet<String>>> {
    (0..count)
        .map(|t| {
            let (url, token, prefix, stop) = (
                url.to_string(),
                token.to_string(),
                prefix.to_string(),
                stop.clone(),
            );
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::new();
                let mut acknowledged = BTreeSet::new();
                for n in 0.. {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    let name = format!("{prefix}{t}-{n}");
                    match create(&client, &url, &token, &name) {
                        Answer::Ok => {
                            acknowledged.insert(name);
                        }
                        Answer::None(_) => break,
                        _ => {}
                    }
                }
                acknowledged
            })
        })
        .collect()
}

#[test]
fn two_instances_on_postgresql_keep_one_chain_when_one_is_killed() {
    let Some(pg) = pg::shared() else {
        return;
    };
    pg.create_database("crash_two");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = rt.block_on(Emulator::start(EmulatorConfig::odoo19()));
    let dir = std::env::temp_dir().join(format!("ow-crash-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = binary::config_on(&dir, &emu.url(), POLICY, &pg.url_for("crash_two"));
    binary::unlimited(&cfg);
    let token = binary::key(&cfg);
    let auditor = binary::key_with_scope(&cfg, "audit");
    let mut a = binary::serve(&cfg);
    let mut b = binary::serve(&cfg);
    let stop_b = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let on_a = writers(
        &a.mcp_url,
        &token,
        "pg-a-",
        2,
        Arc::new(std::sync::atomic::AtomicBool::new(false)),
    );
    let on_b = writers(&b.mcp_url, &token, "pg-b-", 2, stop_b.clone());
    std::thread::sleep(Duration::from_millis(400 + u64::from(rand_ms(0))));
    a.child.kill().unwrap();
    let _ = a.child.wait();
    let acknowledged_a: BTreeSet<String> =
        on_a.into_iter().flat_map(|h| h.join().unwrap()).collect();
    // B goes on writing after A is gone.
    let before = records(
        &reqwest::blocking::Client::new(),
        &b.admin_url,
        &auditor,
        "write_outcome",
    )
    .len();
    std::thread::sleep(Duration::from_millis(500));
    stop_b.store(true, std::sync::atomic::Ordering::SeqCst);
    let acknowledged_b: BTreeSet<String> =
        on_b.into_iter().flat_map(|h| h.join().unwrap()).collect();
    let client = reqwest::blocking::Client::new();
    let outcomes = records(&client, &b.admin_url, &auditor, "write_outcome");
    assert!(
        outcomes.len() > before,
        "B stopped writing when A was killed"
    );
    let intents = records(&client, &b.admin_url, &auditor, "write_intent");
    let call_of = load::calls_by_name(&intents);
    let done: BTreeSet<String> = outcomes
        .iter()
        .filter(|r| r["outcome"] == "ok")
        .filter_map(|r| r["call_id"].as_str().map(str::to_string))
        .collect();
    for name in acknowledged_a.iter().chain(&acknowledged_b) {
        assert!(
            done.contains(&call_of[name]),
            "{name} acknowledged, its outcome not on the trail"
        );
    }
    for prefix in ["pg-a-", "pg-b-"] {
        for name in in_odoo(&emu.url(), prefix) {
            assert!(
                call_of.contains_key(&name),
                "{name} in Odoo without an intent"
            );
        }
    }
    let verify = load::verify(&client, &b.admin_url, &auditor);
    assert_eq!(verify["ok"], true, "{verify}");
    eprintln!(
        "two instances: A {} acknowledged before its kill, B {}; chain of {} records intact",
        acknowledged_a.len(),
        acknowledged_b.len(),
        verify["records"]
    );
    b.child.kill().unwrap();
    let _ = b.child.wait();
}

/// A kill point per round, 0-900 ms after the first 300 (from the clock: each run differs).
fn rand_ms(round: u32) -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (nanos / 1000 + round * 7919) % 900
}
