//! `audit`: query, verify and export the audit trail through the admin API (audit scope).

use super::admin_client::{AdminClient, Endpoint};
use odoo_warden::audit::KeptHead;
use odoo_warden::auth::Scope;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct AuditArgs {
    /// An odoo-warden key with the audit scope
    #[arg(long, env = "ODOO_WARDEN_KEY", hide_env_values = true, global = true)]
    key: Option<String>,
    /// Admin API base URL (default: http://<[server] admin_listen>)
    #[arg(long, global = true)]
    admin_url: Option<String>,
    #[command(subcommand)]
    command: AuditCommand,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(clap::Subcommand)]
enum AuditCommand {
    /// Records matching filters, newest first (--asc for oldest first)
    Query {
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
        #[arg(long = "key-id")]
        key_id: Option<String>,
        #[arg(long)]
        profile: Option<String>,
        /// A person's Odoo login (records made with their OAuth sign-in)
        #[arg(long)]
        person: Option<String>,
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        operation: Option<String>,
        #[arg(long)]
        decision: Option<String>,
        #[arg(long)]
        outcome: Option<String>,
        #[arg(long)]
        kind: Option<String>,
        #[arg(long = "record-id")]
        record_id: Option<i64>,
        #[arg(long, default_value = "50")]
        limit: u32,
        #[arg(long)]
        cursor: Option<i64>,
        #[arg(long)]
        asc: bool,
        #[arg(long)]
        json: bool,
    },
    /// Check the whole chain; fails if any record was changed, removed, inserted or reordered
    Verify {
        /// SEQ:HASH of a head printed by an earlier verify (or logged as "audit head"): also
        /// fails if that record is gone or different, which a chain cut at its end hides
        #[arg(long, value_name = "SEQ:HASH")]
        expect_head: Option<KeptHead>,
        #[arg(long)]
        json: bool,
    },
    /// Every record (filters as for query) as JSON lines or CSV, to stdout
    Export {
        #[arg(long, default_value = "jsonl")]
        format: String,
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
    },
}

pub async fn run(config: Option<PathBuf>, args: AuditArgs) -> anyhow::Result<ExitCode> {
    let admin = AdminClient::new(config, args.key, args.admin_url, Scope::Audit)?;
    match args.command {
        AuditCommand::Query {
            since,
            until,
            key_id,
            profile,
            person,
            model,
            operation,
            decision,
            outcome,
            kind,
            record_id,
            limit,
            cursor,
            asc,
            json,
        } => {
            let mut q: Vec<(&str, String)> = vec![
                ("limit", limit.to_string()),
                ("order", if asc { "asc" } else { "desc" }.into()),
            ];
            for (k, v) in [
                ("since", since),
                ("until", until),
                ("key_id", key_id),
                ("profile", profile),
                ("person", person),
                ("model", model),
                ("operation", operation),
                ("decision", decision),
                ("outcome", outcome),
                ("kind", kind),
            ] {
                if let Some(v) = v {
                    q.push((k, v));
                }
            }
            if let Some(r) = record_id {
                q.push(("record_id", r.to_string()));
            }
            if let Some(c) = cursor {
                q.push(("cursor", c.to_string()));
            }
            let body = admin.get_json(Endpoint::AuditQuery, &q).await?;
            if json {
                println!("{body}");
            } else {
                println!(
                    "{:>6}  {:<24}  {:<14}  {:<16}  {:<10}  {:<16}  {:<14}  {:<8}  {:<8}  reason",
                    "seq",
                    "time",
                    "kind",
                    "key",
                    "profile",
                    "model",
                    "operation",
                    "decision",
                    "outcome"
                );
                for r in body["records"].as_array().into_iter().flatten() {
                    let rec = &r["record"];
                    let s = |k: &str| rec[k].as_str().unwrap_or("-").to_string();
                    println!(
                        "{:>6}  {:<24}  {:<14}  {:<16}  {:<10}  {:<16}  {:<14}  {:<8}  {:<8}  {}",
                        r["seq"],
                        s("time").chars().take(24).collect::<String>(),
                        s("kind"),
                        rec["person"]
                            .as_str()
                            .map(|p| format!("person:{p}"))
                            .unwrap_or_else(|| s("key_id")),
                        s("profile"),
                        s("model"),
                        s("operation"),
                        s("decision"),
                        s("outcome"),
                        s("reason").chars().take(80).collect::<String>()
                    );
                }
                if let Some(next) = body["next_cursor"].as_i64() {
                    println!("more: --cursor {next}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify { expect_head, json } => {
            let query: Vec<(&str, String)> = expect_head
                .iter()
                .map(|k| ("expect_head", format!("{}:{}", k.seq, k.hash)))
                .collect();
            let report = admin.get_json(Endpoint::AuditVerify, &query).await?;
            let ok = report["ok"] == true;
            if json {
                println!("{report}");
            } else if ok {
                println!("ok: {} records, the chain is intact", report["records"]);
                if let (Some(seq), Some(hash)) =
                    (report["head_seq"].as_i64(), report["head_hash"].as_str())
                {
                    println!(
                        "head: {seq}:{hash}\n  keep it elsewhere; `audit verify --expect-head {seq}:{hash}` later also finds records removed from the end"
                    );
                }
                for u in report["unknown_outcomes"].as_array().into_iter().flatten() {
                    println!(
                        "note: the write with intent record {} (call {}) has an unknown outcome: check in Odoo whether the change was made",
                        u["seq"], u["call_id"]
                    );
                }
            } else {
                println!(
                    "FAIL at record {}: {}",
                    report["first_bad_seq"],
                    report["problem"].as_str().unwrap_or("")
                );
            }
            Ok(super::exit_code(ok))
        }
        AuditCommand::Export {
            format,
            since,
            until,
        } => {
            let mut q = vec![("format", format)];
            if let Some(s) = since {
                q.push(("since", s));
            }
            if let Some(u) = until {
                q.push(("until", u));
            }
            admin
                .get_to(Endpoint::AuditExport, &q, &mut std::io::stdout().lock())
                .await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
