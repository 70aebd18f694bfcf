//! `approvals`: list, approve and deny approval requests through the admin API (approve scope).

use super::admin_client::{AdminClient, Endpoint};
use odoo_warden::auth::Scope;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ApprovalsArgs {
    /// An odoo-warden key with the approve scope
    #[arg(long, env = "ODOO_WARDEN_KEY", hide_env_values = true, global = true)]
    key: Option<String>,
    /// Admin API base URL (default: http://<[server] admin_listen>)
    #[arg(long, global = true)]
    admin_url: Option<String>,
    #[command(subcommand)]
    command: ApprovalsCommand,
}

#[derive(clap::Subcommand)]
enum ApprovalsCommand {
    /// Requests (default: pending ones)
    List {
        #[arg(long, default_value = "pending")]
        status: String,
        #[arg(long)]
        json: bool,
    },
    /// Approve a request: the assistant may then run it once
    Approve {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Deny a request
    Deny {
        id: String,
        #[arg(long)]
        reason: String,
    },
}

pub async fn run(config: Option<PathBuf>, args: ApprovalsArgs) -> anyhow::Result<ExitCode> {
    let admin = AdminClient::new(config, args.key, args.admin_url, Scope::Approve)?;
    match args.command {
        ApprovalsCommand::List { status, json } => {
            let body = admin
                .get_json(Endpoint::ApprovalsList, &[("status", status)])
                .await?;
            if json {
                println!("{body}");
            } else {
                for a in body["approvals"].as_array().into_iter().flatten() {
                    println!(
                        "{}  {}  key {}  profile {}  {}  expires {}\n    {}",
                        a["id"].as_str().unwrap_or(""),
                        a["status"].as_str().unwrap_or(""),
                        a["key_id"].as_str().unwrap_or(""),
                        a["profile"].as_str().unwrap_or(""),
                        a["tool"].as_str().unwrap_or(""),
                        a["expires_at"].as_str().unwrap_or(""),
                        a["preview"].as_str().unwrap_or("").replace('\n', "\n    ")
                    );
                }
            }
        }
        ApprovalsCommand::Approve { id, reason } => {
            decide(&admin, Endpoint::Approve(&id), &id, reason).await?
        }
        ApprovalsCommand::Deny { id, reason } => {
            decide(&admin, Endpoint::Deny(&id), &id, Some(reason)).await?
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Approves or denies (`endpoint`) request `id`, and says what it now is.
async fn decide(
    admin: &AdminClient,
    endpoint: Endpoint<'_>,
    id: &str,
    reason: Option<String>,
) -> anyhow::Result<()> {
    let body = admin
        .send_json(endpoint, &serde_json::json!({"reason": reason}))
        .await?;
    println!("approval {id}: {}", body["status"].as_str().unwrap_or("?"));
    Ok(())
}
