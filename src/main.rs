//! The `odoo-warden` command.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use odoo_warden::app;
use odoo_warden::auth::keys::{KeyRequest, KeyView, create_key};
use odoo_warden::config::Config;
use odoo_warden::odoo::OdooClient;
use odoo_warden::profile::ProfileState;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "odoo-warden",
    version,
    about = "A governance proxy that puts an MCP door in front of Odoo"
)]
struct Cli {
    /// Config file (default: $ODOO_WARDEN_CONFIG, else ./odoo-warden.toml)
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Log format: plain or json
    #[arg(long, global = true, default_value = "plain")]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the MCP endpoint and the admin listener
    Serve {
        /// Odoo URL; with --odoo-database and --odoo-login, runs without a config file (one
        /// profile "default", store sqlite://odoo-warden.db; the first start prints an MCP key)
        #[arg(long, requires_all = ["odoo_database", "odoo_login"])]
        odoo_url: Option<String>,
        #[arg(long)]
        odoo_database: Option<String>,
        #[arg(long)]
        odoo_login: Option<String>,
        /// Environment variable holding the Odoo API key
        #[arg(long, default_value = "ODOO_API_KEY")]
        odoo_api_key_env: String,
        /// Address to listen on (overrides the config)
        #[arg(long)]
        listen: Option<String>,
    },
    /// Write a starter config and print the first admin and MCP keys
    Init {
        #[arg(long)]
        odoo_url: String,
        #[arg(long)]
        odoo_database: String,
        #[arg(long)]
        odoo_login: String,
        /// Environment variable the config names for the Odoo API key
        #[arg(long, default_value = "ODOO_API_KEY")]
        odoo_api_key_env: String,
        /// Where to write the config
        #[arg(long, default_value = "odoo-warden.toml")]
        output: PathBuf,
        /// Overwrite an existing config file
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Check the configuration, the store, Odoo and each profile's Odoo user
    Doctor {
        #[arg(long)]
        json: bool,
    },
    /// Manage API keys (directly in the store named by the config)
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Policy files
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// The kill switch, through the admin API with an admin key (--key or $ODOO_WARDEN_KEY):
    /// `kill --mode read-only|closed --reason R`, `kill --off`, `kill --status`
    Kill {
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
    },
    /// Pending approvals, through the admin API with an approve key (--key or $ODOO_WARDEN_KEY)
    Approvals {
        /// An odoo-warden key with the approve scope
        #[arg(long, env = "ODOO_WARDEN_KEY", hide_env_values = true, global = true)]
        key: Option<String>,
        /// Admin API base URL (default: http://<[server] admin_listen>)
        #[arg(long, global = true)]
        admin_url: Option<String>,
        #[command(subcommand)]
        command: ApprovalsCommand,
    },
    /// The audit trail, through the admin API with an audit key (--key or $ODOO_WARDEN_KEY)
    Audit {
        /// An odoo-warden key with the audit scope
        #[arg(long, env = "ODOO_WARDEN_KEY", hide_env_values = true, global = true)]
        key: Option<String>,
        /// Admin API base URL (default: http://<[server] admin_listen>)
        #[arg(long, global = true)]
        admin_url: Option<String>,
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
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

#[derive(Subcommand)]
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
        expect_head: Option<odoo_warden::audit::KeptHead>,
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

#[derive(Subcommand)]
enum PolicyCommand {
    /// Validate policy files (default: every profile's policy in the config); reports every problem
    Check {
        files: Vec<PathBuf>,
        /// Also check against the live Odoo (as the config's first profile) that the models and
        /// fields named exist
        #[arg(long)]
        odoo: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
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

fn init_logs(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: journald, files and log shippers get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn load_config(cli_path: Option<PathBuf>) -> anyhow::Result<Config> {
    let path = cli_path.unwrap_or_else(Config::default_path);
    Config::load(&path).map_err(|e| anyhow::anyhow!("{e}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(&cli.log_format);
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve {
            odoo_url,
            odoo_database,
            odoo_login,
            odoo_api_key_env,
            listen,
        } => {
            let quick_start = odoo_url.is_some();
            let mut config = match (odoo_url, odoo_database, odoo_login) {
                (Some(url), Some(db), Some(login)) => {
                    Config::from_flags(&url, &db, &login, &odoo_api_key_env, listen.as_deref())
                        .map_err(|e| anyhow::anyhow!("{e}"))?
                }
                _ => load_config(cli.config)?,
            };
            if let Some(listen) = listen {
                config.server.listen = listen
                    .parse()
                    .map_err(|_| anyhow::anyhow!("--listen \"{listen}\" is not an address:port"))?;
            }
            if quick_start {
                first_key(&config).await?;
            }
            app::serve(config, shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Init {
            odoo_url,
            odoo_database,
            odoo_login,
            odoo_api_key_env,
            output,
            force,
            json,
        } => {
            init(
                &odoo_url,
                &odoo_database,
                &odoo_login,
                &odoo_api_key_env,
                &output,
                force,
                json,
            )
            .await
        }
        Command::Doctor { json } => doctor(cli.config, json).await,
        Command::Keys { command } => keys(cli.config, command).await,
        Command::Policy {
            command: PolicyCommand::Check { files, odoo, json },
        } => policy_check(cli.config, files, odoo, json).await,
        Command::Audit {
            key,
            admin_url,
            command,
        } => audit_cmd(cli.config, key, admin_url, command).await,
        Command::Approvals {
            key,
            admin_url,
            command,
        } => approvals_cmd(cli.config, key, admin_url, command).await,
        Command::Kill {
            mode,
            reason,
            off,
            status,
            json,
            key,
            admin_url,
        } => kill_cmd(cli.config, key, admin_url, mode, reason, off, status, json).await,
    }
}

/// Quick start: an empty store gets one MCP key for the flags' profile, printed once.
async fn first_key(config: &Config) -> anyhow::Result<()> {
    let store = app::open_store(config).await?;
    if !store
        .list_keys()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .is_empty()
    {
        return Ok(());
    }
    let profiles: Vec<String> = config.profiles.keys().cloned().collect();
    let req = KeyRequest {
        name: "first MCP key",
        scopes: &["mcp".to_string()],
        profile: profiles.first().map(String::as_str),
        expires_in: None,
    };
    let created = create_key(&store, &req, &profiles)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    println!(
        "first MCP key (shown once; give it to your MCP client as \"Authorization: Bearer ...\"):\n  {}",
        created.token.expose()
    );
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

async fn keys(path: Option<PathBuf>, command: KeysCommand) -> anyhow::Result<ExitCode> {
    let path = path.unwrap_or_else(Config::default_path);
    let config = Config::load_without_secrets(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
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
                odoo_warden::audit::kind::KEY_CHANGE,
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
                odoo_warden::audit::kind::KEY_CHANGE,
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

async fn init(
    url: &str,
    database: &str,
    login: &str,
    key_env: &str,
    output: &std::path::Path,
    force: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let policy_rel = std::path::Path::new("policies").join("assistant.toml");
    let policy_path = output
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(&policy_rel))
        .unwrap_or_else(|| policy_rel.clone());
    for path in [output, policy_path.as_path()] {
        if path.exists() && !force {
            anyhow::bail!("{} exists; pass --force to overwrite it", path.display());
        }
    }
    url::Url::parse(url).map_err(|e| anyhow::anyhow!("--odoo-url \"{url}\": {e}"))?;
    let text = format!(
        r#"# odoo-warden configuration (written by `odoo-warden init`). See README.md.
[server]
listen = "127.0.0.1:8808"
admin_listen = "127.0.0.1:8809"

[store]
url = "sqlite://odoo-warden.db"

[odoo]
url = "{url}"
database = "{database}"
protocol = "auto"

# What MCP keys act as. The Odoo API key is read from the environment, never from this file.
[profiles.assistant]
odoo_login = "{login}"
odoo_api_key_env = "{key_env}"
# Read-only to start with; see policies/sales-assistant.toml in odoo-warden's sources for writes.
policy = "{policy}"
"#,
        policy = policy_rel.display()
    );
    if let Some(dir) = policy_path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(&policy_path, READ_ONLY_POLICY)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", policy_path.display()))?;
    // Parse what we are about to write, so init never leaves a config serve would refuse (the
    // API key variable need not be set yet).
    let config = Config::parse_with_env(&text, Some(output), &|_| Some("placeholder".to_string()))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::write(output, &text)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", output.display()))?;
    let store = app::open_store(&config).await?;
    let profiles = vec!["assistant".to_string()];
    let admin = create_key(
        &store,
        &KeyRequest {
            name: "first admin key",
            scopes: &["admin".to_string()],
            profile: None,
            expires_in: None,
        },
        &profiles,
    )
    .await
    .map_err(|e| anyhow::anyhow!(e))?;
    let mcp = create_key(
        &store,
        &KeyRequest {
            name: "first MCP key",
            scopes: &["mcp".to_string()],
            profile: Some("assistant"),
            expires_in: None,
        },
        &profiles,
    )
    .await
    .map_err(|e| anyhow::anyhow!(e))?;
    if json {
        println!(
            "{}",
            serde_json::json!({"config": output, "admin_key": admin.token.expose(), "mcp_key": mcp.token.expose()})
        );
    } else {
        println!(
            "wrote {} and {} (a read-only policy) and created two keys; they are shown this once:",
            output.display(),
            policy_path.display()
        );
        println!(
            "  admin key (keys, kill switch; never give it to an assistant): {}",
            admin.token.expose()
        );
        println!(
            "  MCP key (for your MCP client, profile \"assistant\"):          {}",
            mcp.token.expose()
        );
        println!(
            "next: export {key_env}=<the Odoo user's API key>; odoo-warden doctor; odoo-warden serve"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The starter policy `init` writes: the shipped read-only policy.
const READ_ONLY_POLICY: &str = include_str!("../policies/read-only.toml");

/// One profile in the doctor's report.
#[derive(serde::Serialize)]
struct ProfileReport {
    profile: String,
    ok: bool,
    odoo_version: Option<String>,
    protocol: Option<String>,
    uid: Option<i64>,
    login: Option<String>,
    groups: Option<Vec<String>>,
    group_names: Vec<String>,
    privileged: Option<bool>,
    allow_privileged_user: bool,
    detail: String,
}

/// One line of the doctor's report.
#[derive(serde::Serialize)]
struct Check {
    check: String,
    ok: bool,
    detail: String,
}

async fn doctor(path: Option<PathBuf>, json: bool) -> anyhow::Result<ExitCode> {
    let mut checks = Vec::new();
    let mut profiles = Vec::new();
    let config = match load_config(path) {
        Ok(c) => {
            let detail = c
                .source
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            checks.push(Check {
                check: "config".into(),
                ok: true,
                detail,
            });
            Some(c)
        }
        Err(e) => {
            checks.push(Check {
                check: "config".into(),
                ok: false,
                detail: format!("{e:#}"),
            });
            None
        }
    };
    if let Some(config) = &config {
        match app::open_store(config).await {
            Ok(store) => checks.push(Check {
                check: "store".into(),
                ok: true,
                detail: store.backend().to_string(),
            }),
            Err(e) => checks.push(Check {
                check: "store".into(),
                ok: false,
                detail: format!("{e:#}"),
            }),
        }
        match OdooClient::new(config.odoo.clone()) {
            Err(e) => checks.push(Check {
                check: "odoo".into(),
                ok: false,
                detail: e.to_string(),
            }),
            Ok(client) => match client.server_info().await {
                Err(e) => checks.push(Check {
                    check: "odoo".into(),
                    ok: false,
                    detail: format!(
                        "{e}\n  hint: check [odoo] url = \"{}\" and that Odoo is running",
                        config.odoo.url
                    ),
                }),
                Ok(info) => {
                    checks.push(Check {
                        check: "odoo".into(),
                        ok: true,
                        detail: format!(
                            "Odoo {} at {}, protocol {}",
                            info.version,
                            config.odoo.url,
                            info.protocol.as_str()
                        ),
                    });
                    for profile in config.profiles.values() {
                        profiles.push(check_profile(&client, config, profile, &info).await);
                    }
                }
            },
        }
    }
    let ok = checks.iter().all(|c| c.ok) && profiles.iter().all(|p| p.ok);
    if json {
        println!(
            "{}",
            serde_json::json!({"ok": ok, "checks": checks, "profiles": profiles})
        );
    } else {
        for c in &checks {
            println!(
                "{} {}: {}",
                if c.ok { "ok  " } else { "FAIL" },
                c.check,
                c.detail
            );
        }
        for p in &profiles {
            println!(
                "{} profile {}: {}",
                if p.ok { "ok  " } else { "FAIL" },
                p.profile,
                p.detail
            );
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn check_profile(
    client: &OdooClient,
    config: &Config,
    profile: &odoo_warden::config::Profile,
    info: &odoo_warden::odoo::ServerInfo,
) -> ProfileReport {
    let mut r = ProfileReport {
        profile: profile.name.clone(),
        ok: false,
        odoo_version: Some(info.version.raw.clone()),
        protocol: Some(info.protocol.as_str().to_string()),
        uid: None,
        login: Some(profile.credentials.login.clone()),
        groups: None,
        group_names: Vec::new(),
        privileged: None,
        allow_privileged_user: profile.allow_privileged_user,
        detail: String::new(),
    };
    let user = match client.login(&profile.credentials).await {
        Ok(u) => u,
        Err(e) => {
            r.detail = app::explain_odoo_error(profile, config, &e);
            return r;
        }
    };
    let policy = match odoo_warden::profile::load_policy(profile) {
        Ok(p) => p,
        Err(e) => {
            r.detail = format!("{e:#}");
            return r;
        }
    };
    let state = match ProfileState::new(profile.name.clone(), user, policy).await {
        Ok(s) => s,
        Err(e) => {
            r.detail = app::explain_odoo_error(profile, config, &e);
            return r;
        }
    };
    let id = &state.identity;
    r.uid = Some(id.uid);
    r.groups = id.groups.clone();
    r.group_names = id.group_names.clone();
    match app::privileged(&state.user, id).await {
        Err(e) => r.detail = format!("cannot tell whether the user is an administrator: {e}"),
        Ok(Some(why)) => {
            r.privileged = Some(true);
            r.ok = profile.allow_privileged_user;
            r.detail = if r.ok {
                format!(
                    "logged in as {} (uid {}); ADMINISTRATOR ({why}), accepted by allow_privileged_user = true",
                    id.login, id.uid
                )
            } else {
                format!(
                    "logged in as {} (uid {}), but {why}: use a least-privilege Odoo user (or set allow_privileged_user = true)",
                    id.login, id.uid
                )
            };
        }
        Ok(None) => {
            r.privileged = Some(false);
            r.ok = true;
            // By name (readable by internal users), with XML ids where the user may read them.
            let names = if id.group_names.is_empty() {
                "none readable by this user".to_string()
            } else {
                id.group_names.join(", ")
            };
            let xml_ids = id
                .groups
                .as_ref()
                .map(|g| format!("; XML ids: {}", g.join(", ")))
                .unwrap_or_else(|| "; XML ids: not readable by this user (ir.model.data)".into());
            r.detail = format!(
                "logged in as {} (uid {}); groups: {names}{xml_ids}",
                id.login, id.uid
            );
        }
    }
    r
}

async fn policy_check(
    path: Option<PathBuf>,
    mut files: Vec<PathBuf>,
    odoo: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    use odoo_warden::policy::{Policy, check_files};
    let config = if odoo {
        Some(load_config(path)?)
    } else if files.is_empty() {
        let path = path.unwrap_or_else(Config::default_path);
        Some(Config::load_without_secrets(&path).map_err(|e| anyhow::anyhow!("{e}"))?)
    } else {
        None
    };
    if files.is_empty() {
        if let Some(c) = &config {
            files = c
                .profiles
                .values()
                .filter_map(|p| p.policy.clone())
                .collect();
        }
        if files.is_empty() {
            anyhow::bail!(
                "no policy files given and no profile names one (profiles without a policy use the built-in read-only policy)"
            );
        }
    }
    let mut problems: Vec<String> = check_files(&files)
        .iter()
        .map(ToString::to_string)
        .collect();
    let warnings: Vec<String> = files
        .iter()
        .filter_map(|f| Policy::load(f).ok())
        .flat_map(|p| p.warnings().to_vec())
        .map(|w| w.to_string())
        .collect();
    if odoo && problems.is_empty() {
        let config = config
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("--odoo needs the config"))?;
        let profile = config
            .profiles
            .values()
            .next()
            .ok_or_else(|| anyhow::anyhow!("--odoo needs a profile to log in with"))?;
        let client = OdooClient::new(config.odoo.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
        let user = client
            .login(&profile.credentials)
            .await
            .map_err(|e| anyhow::anyhow!(app::explain_odoo_error(profile, config, &e)))?;
        for file in &files {
            let Ok(policy) = Policy::load(file) else {
                continue;
            };
            for (model, mp) in policy.models() {
                let fields = match user.fields_get(model, None).await {
                    Ok(f) => f,
                    Err(e) => {
                        problems.push(format!("{}: models.\"{model}\": {e}", file.display()));
                        continue;
                    }
                };
                let mut named: Vec<&String> = mp.hidden_fields().iter().collect();
                for op in [
                    odoo_warden::policy::Op::Create,
                    odoo_warden::policy::Op::Update,
                ] {
                    if let Some(w) = mp.writable(op) {
                        named.extend(w.iter());
                    }
                }
                for f in named {
                    if !fields.contains_key(f.as_str()) {
                        problems.push(format!(
                            "{}: models.\"{model}\": Odoo has no field \"{f}\" on {model}",
                            file.display()
                        ));
                    }
                }
                // An exception names sources Odoo really lists for that field.
                for (field, exception) in mp.exceptions() {
                    let depends: Vec<&str> = fields
                        .get(field)
                        .and_then(|d| d.get("depends"))
                        .and_then(serde_json::Value::as_array)
                        .map(|d| d.iter().filter_map(serde_json::Value::as_str).collect())
                        .unwrap_or_default();
                    if !fields.contains_key(field) {
                        problems.push(format!(
                            "{}: models.\"{model}\".derived.{field}: Odoo has no field \"{field}\" on {model}",
                            file.display()
                        ));
                        continue;
                    }
                    for source in &exception.ignore {
                        if !depends.contains(&source.as_str()) {
                            problems.push(format!(
                                "{}: models.\"{model}\".derived.{field}.ignore: Odoo does not compute {field} from \"{source}\" (its sources: {})",
                                file.display(),
                                if depends.is_empty() { "none".to_string() } else { depends.join(", ") }
                            ));
                        }
                    }
                }
            }
        }
    }
    let ok = problems.is_empty();
    if json {
        println!(
            "{}",
            serde_json::json!({"ok": ok, "files": files, "problems": problems, "warnings": warnings})
        );
    } else if ok {
        for w in &warnings {
            println!("WARN {w}");
        }
        for f in &files {
            println!("ok   {}", f.display());
        }
        if odoo {
            println!(
                "models and fields exist on Odoo (methods cannot be checked without calling them)"
            );
        }
    } else {
        for p in &problems {
            println!("FAIL {p}");
        }
        for w in &warnings {
            println!("WARN {w}");
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Calls the admin API as the person holding `key`.
async fn admin_get(
    base: &str,
    key: &str,
    path: &str,
    query: &[(&str, String)],
) -> anyhow::Result<reqwest::Response> {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", base.trim_end_matches('/')))
        .bearer_auth(key)
        .query(query)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot reach the admin API at {base}: {}", e.without_url())
        })?;
    match r.status().as_u16() {
        200 => Ok(r),
        401 => anyhow::bail!(
            "the admin API refused the key (401): pass an odoo-warden key with --key or $ODOO_WARDEN_KEY"
        ),
        403 => anyhow::bail!(
            "the key lacks the audit scope (403): create one with `odoo-warden keys create --name you --scope audit`"
        ),
        s => {
            let body = r.text().await.unwrap_or_default();
            anyhow::bail!("the admin API answered {s}: {body}")
        }
    }
}

async fn audit_cmd(
    path: Option<PathBuf>,
    key: Option<String>,
    admin_url: Option<String>,
    command: AuditCommand,
) -> anyhow::Result<ExitCode> {
    let key =
        key.ok_or_else(|| anyhow::anyhow!("an audit key is needed: --key or $ODOO_WARDEN_KEY"))?;
    let base = match admin_url {
        Some(u) => u,
        None => {
            let path = path.unwrap_or_else(Config::default_path);
            let config = Config::load_without_secrets(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
            format!("http://{}", config.server.admin_listen)
        }
    };
    match command {
        AuditCommand::Query {
            since,
            until,
            key_id,
            profile,
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
            let body: serde_json::Value = admin_get(&base, &key, "/admin/v1/audit", &q)
                .await?
                .json()
                .await?;
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
                        s("key_id"),
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
            let report: serde_json::Value =
                admin_get(&base, &key, "/admin/v1/audit/verify", &query)
                    .await?
                    .json()
                    .await?;
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
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
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
            let mut r = admin_get(&base, &key, "/admin/v1/audit/export", &q).await?;
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            while let Some(chunk) = r.chunk().await? {
                out.write_all(&chunk)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The admin API's base URL: as given, else from the config's `admin_listen`.
fn admin_base(path: Option<PathBuf>, admin_url: Option<String>) -> anyhow::Result<String> {
    match admin_url {
        Some(u) => Ok(u),
        None => {
            let path = path.unwrap_or_else(Config::default_path);
            let config = Config::load_without_secrets(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok(format!("http://{}", config.server.admin_listen))
        }
    }
}

async fn approvals_cmd(
    path: Option<PathBuf>,
    key: Option<String>,
    admin_url: Option<String>,
    command: ApprovalsCommand,
) -> anyhow::Result<ExitCode> {
    let key =
        key.ok_or_else(|| anyhow::anyhow!("an approve key is needed: --key or $ODOO_WARDEN_KEY"))?;
    let base = admin_base(path, admin_url)?;
    match command {
        ApprovalsCommand::List { status, json } => {
            let body: serde_json::Value =
                admin_get(&base, &key, "/admin/v1/approvals", &[("status", status)])
                    .await?
                    .json()
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
            decide_cmd(&base, &key, &id, "approve", reason).await?
        }
        ApprovalsCommand::Deny { id, reason } => {
            decide_cmd(&base, &key, &id, "deny", Some(reason)).await?
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn decide_cmd(
    base: &str,
    key: &str,
    id: &str,
    action: &str,
    reason: Option<String>,
) -> anyhow::Result<()> {
    let r = reqwest::Client::new()
        .post(format!(
            "{}/admin/v1/approvals/{id}/{action}",
            base.trim_end_matches('/')
        ))
        .bearer_auth(key)
        .json(&serde_json::json!({"reason": reason}))
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot reach the admin API at {base}: {}", e.without_url())
        })?;
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    match status {
        200 => {
            println!("approval {id}: {}", body["status"].as_str().unwrap_or("?"));
            Ok(())
        }
        401 => anyhow::bail!(
            "the admin API refused the key (401): pass an odoo-warden key with --key or $ODOO_WARDEN_KEY"
        ),
        403 => anyhow::bail!(
            "{}",
            body["message"]
                .as_str()
                .unwrap_or("the key lacks the approve scope (403)")
        ),
        _ => anyhow::bail!(
            "{} ({status})",
            body["message"].as_str().unwrap_or("the admin API refused")
        ),
    }
}

#[allow(clippy::too_many_arguments)]
async fn kill_cmd(
    path: Option<PathBuf>,
    key: Option<String>,
    admin_url: Option<String>,
    mode: Option<String>,
    reason: Option<String>,
    off: bool,
    status: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let key =
        key.ok_or_else(|| anyhow::anyhow!("an admin key is needed: --key or $ODOO_WARDEN_KEY"))?;
    let base = admin_base(path, admin_url)?;
    let url = format!("{}/admin/v1/killswitch", base.trim_end_matches('/'));
    let http = reqwest::Client::new();
    let request = match (mode, off, status) {
        (Some(mode), false, false) => {
            let reason = reason
                .ok_or_else(|| anyhow::anyhow!("say why: --reason is required with --mode"))?;
            http.put(&url)
                .json(&serde_json::json!({"mode": mode, "reason": reason}))
        }
        (None, true, false) => http
            .put(&url)
            .json(&serde_json::json!({"mode": "open", "reason": "reopened"})),
        (None, false, _) => http.get(&url),
        _ => anyhow::bail!("use one of --mode M --reason R, --off, --status"),
    };
    let r = request.bearer_auth(&key).send().await.map_err(|e| {
        anyhow::anyhow!("cannot reach the admin API at {base}: {}", e.without_url())
    })?;
    let code = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    if code != 200 {
        anyhow::bail!(
            "{} ({code})",
            body["message"].as_str().unwrap_or("the admin API refused")
        );
    }
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

/// Records a change made by a command (no server involved) in the audit trail, naming the OS user.
async fn record_cli(
    store: &odoo_warden::store::Store,
    kind: &str,
    reason: String,
) -> anyhow::Result<()> {
    let mut e = odoo_warden::audit::Event::new(kind, &odoo_warden::audit::cli_instance());
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    e.key_name = Some(format!("os user {user}"));
    e.decision = Some("allow".into());
    e.outcome = Some("ok".into());
    e.reason = Some(reason);
    odoo_warden::audit::record_direct(store, &e)
        .await
        .map(|_| ())
        .map_err(|err| {
            anyhow::anyhow!(
                "the change was made, but the audit trail did not take its record: {err}"
            )
        })
}
