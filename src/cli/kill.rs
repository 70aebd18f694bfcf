//! `kill`: the kill switch through the admin API: set it (admin scope) or show it.

use super::admin_client::{AdminClient, Endpoint};
use odoo_warden::auth::Scope;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct KillArgs {
    #[arg(long, value_parser = ["read-only", "closed"], conflicts_with_all = ["off", "status"])]
    mode: Option<String>,
    #[arg(long, requires = "mode")]
    reason: Option<String>,
    /// Reopen (mode open)
    #[arg(long, conflicts_with = "status")]
    off: bool,
    /// Show the switch
    #[arg(long)]
    status: bool,
    #[arg(long)]
    json: bool,
    #[arg(long, env = "ODOO_WARDEN_KEY", hide_env_values = true)]
    key: Option<String>,
    #[arg(long)]
    admin_url: Option<String>,
}

pub async fn run(config: Option<PathBuf>, args: KillArgs) -> anyhow::Result<ExitCode> {
    let KillArgs {
        mode,
        reason,
        off,
        status,
        json,
        key,
        admin_url,
    } = args;
    let admin = AdminClient::new(config, key, admin_url, Scope::Admin)?;
    let body = match (mode, off, status) {
        (Some(mode), false, false) => {
            let reason = reason
                .ok_or_else(|| anyhow::anyhow!("say why: --reason is required with --mode"))?;
            admin
                .send_json(Endpoint::KillSet, &json!({"mode": mode, "reason": reason}))
                .await?
        }
        (None, true, false) => {
            admin
                .send_json(
                    Endpoint::KillSet,
                    &json!({"mode": "open", "reason": "reopened"}),
                )
                .await?
        }
        (None, false, _) => admin.get_json(Endpoint::KillStatus, &[]).await?,
        _ => anyhow::bail!("use one of --mode M --reason R, --off, --status"),
    };
    if json {
        println!("{body}");
    } else {
        println!(
            "kill switch: {}{}{}",
            body["mode"].as_str().unwrap_or("?"),
            body["reason"]
                .as_str()
                .filter(|r| !r.is_empty())
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
            body["changed_by"]
                .as_str()
                .filter(|r| !r.is_empty())
                .map(|b| format!(", set by {b}"))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}
