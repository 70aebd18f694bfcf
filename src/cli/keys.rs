//! `keys`: create, list and revoke API keys, directly in the store the config names (no server
//! needed); each change is recorded in the audit trail.

use odoo_warden::app;
use odoo_warden::audit;
use odoo_warden::auth::keys::{KeyRequest, KeyView, create_key};
use odoo_warden::store::Store;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (the only time it is shown)
    Create {
        #[arg(long)]
        name: String,
        /// mcp, audit, approve or admin (repeat or comma-separate; mcp stands alone)
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// The profile an mcp key acts as
        #[arg(long)]
        profile: Option<String>,
        /// e.g. 90d, 12h; default: never expires
        #[arg(long)]
        expires_in: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List keys (never their secrets)
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id
    Revoke { id: String },
}

pub async fn run(path: Option<PathBuf>, command: KeysCommand) -> anyhow::Result<ExitCode> {
    let config = super::load_config_without_secrets(&super::config_path(path))?;
    let store = app::open_store(&config).await?;
    match command {
        KeysCommand::Create {
            name,
            scopes,
            profile,
            expires_in,
            json,
        } => {
            let profiles: Vec<String> = config.profiles.keys().cloned().collect();
            let req = KeyRequest {
                name: &name,
                scopes: &scopes,
                profile: profile.as_deref(),
                expires_in: expires_in.as_deref(),
            };
            let created = create_key(&store, &req, &profiles)
                .await
                .map_err(|e| anyhow::anyhow!(e))?;
            record_cli(
                &store,
                audit::kind::KEY_CHANGE,
                format!(
                    "key {} created with the CLI ({}, scopes {}{})",
                    created.view.id,
                    created.view.name,
                    created.view.scopes.join(","),
                    created
                        .view
                        .profile
                        .as_deref()
                        .map(|p| format!(", profile {p}"))
                        .unwrap_or_default()
                ),
            )
            .await?;
            if json {
                let mut v = serde_json::to_value(&created.view)?;
                v["token"] = serde_json::json!(created.token.expose());
                println!("{v}");
            } else {
                println!(
                    "key {} ({}) created; it is shown this once:",
                    created.view.id,
                    created.view.scopes.join(",")
                );
                println!("{}", created.token.expose());
            }
        }
        KeysCommand::List { json } => {
            let keys: Vec<KeyView> = store
                .list_keys()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .iter()
                .map(KeyView::of)
                .collect();
            if json {
                println!("{}", serde_json::json!({"keys": keys}));
            } else {
                println!(
                    "{:<16}  {:<8}  {:<14}  {:<12}  {:<20}  name",
                    "id", "status", "scopes", "profile", "last used"
                );
                for k in keys {
                    println!(
                        "{:<16}  {:<8}  {:<14}  {:<12}  {:<20}  {}",
                        k.id,
                        k.status,
                        k.scopes.join(","),
                        k.profile.as_deref().unwrap_or("-"),
                        k.last_used_at
                            .map(|t| t.to_string())
                            .unwrap_or_else(|| "never".into())
                            .chars()
                            .take(19)
                            .collect::<String>(),
                        k.name
                    );
                }
            }
        }
        KeysCommand::Revoke { id } => {
            let done = store
                .revoke_key(&id, time::OffsetDateTime::now_utc())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if !done {
                anyhow::bail!("no active key with id {id}");
            }
            record_cli(
                &store,
                audit::kind::KEY_CHANGE,
                format!("key {id} revoked with the CLI"),
            )
            .await?;
            println!(
                "key {id} revoked (running instances stop accepting it within about a second)"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Records a change made by a command (no server involved) in the audit trail, naming the OS user.
async fn record_cli(store: &Store, kind: audit::Kind, reason: String) -> anyhow::Result<()> {
    let mut e = audit::Event::new(kind, &audit::cli_instance());
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    e.key_name = Some(format!("os user {user}"));
    e.decision = Some(audit::Decision::Allow);
    e.outcome = Some(audit::Outcome::Ok);
    e.reason = Some(reason);
    audit::record_direct(store, &e)
        .await
        .map(|_| ())
        .map_err(|err| {
            anyhow::anyhow!(
                "the change was made, but the audit trail did not take its record: {err}"
            )
        })
}
