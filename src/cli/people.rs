//! `people`: people who signed in with OAuth, through the admin API: list them (audit or admin
//! key), revoke one (their grants end within about a second on every instance, and they cannot
//! sign in again) or restore one (admin key).

use super::admin_client::{AdminClient, Endpoint};
use odoo_warden::auth::Scope;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct PeopleArgs {
    /// An odoo-warden key: audit or admin scope to list, admin to revoke or restore
    #[arg(long, env = "ODOO_WARDEN_KEY", hide_env_values = true, global = true)]
    key: Option<String>,
    /// Admin API base URL (default: http://<[server] admin_listen>)
    #[arg(long, global = true)]
    admin_url: Option<String>,
    #[command(subcommand)]
    command: PeopleCommand,
}

#[derive(clap::Subcommand)]
enum PeopleCommand {
    /// Everyone who signed in, with their profile and active grants
    List {
        #[arg(long)]
        json: bool,
    },
    /// End every grant of this Odoo login and block new sign-ins
    Revoke { login: String },
    /// Let a revoked Odoo login sign in again
    Restore { login: String },
}

pub async fn run(config: Option<PathBuf>, args: PeopleArgs) -> anyhow::Result<ExitCode> {
    let needs = match args.command {
        PeopleCommand::List { .. } => Scope::Audit,
        _ => Scope::Admin,
    };
    let admin = AdminClient::new(config, args.key, args.admin_url, needs)?;
    match args.command {
        PeopleCommand::List { json } => {
            let body = admin.get_json(Endpoint::PeopleList, &[]).await?;
            if json {
                println!("{body}");
                return Ok(ExitCode::SUCCESS);
            }
            let people = body["people"].as_array().cloned().unwrap_or_default();
            if people.is_empty() {
                println!("nobody has signed in with OAuth");
            }
            for p in people {
                let state = match p["revoked_at"].as_str() {
                    Some(at) => format!("REVOKED {at}"),
                    None => format!("{} active grant(s)", p["active_grants"]),
                };
                println!(
                    "{}  uid {}  profile {}  last sign-in {}  {}",
                    p["login"].as_str().unwrap_or(""),
                    p["uid"],
                    p["profile"].as_str().unwrap_or(""),
                    p["last_sign_in"].as_str().unwrap_or(""),
                    state
                );
            }
        }
        PeopleCommand::Revoke { login } => {
            let body = admin
                .send_json(Endpoint::PeopleRevoke(&login), &json!({}))
                .await?;
            println!(
                "{login} revoked: {} grant(s) ended; new sign-ins are refused until `people restore {login}`",
                body["grants_revoked"]
            );
        }
        PeopleCommand::Restore { login } => {
            admin
                .send_json(Endpoint::PeopleRestore(&login), &json!({}))
                .await?;
            println!("{login} may sign in again");
        }
    }
    Ok(ExitCode::SUCCESS)
}
