//! `serve`: the MCP endpoint and the admin listener, from the config or (quick start) from flags.

use odoo_warden::app;
use odoo_warden::auth::keys::{KeyRequest, create_key};
use odoo_warden::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ServeArgs {
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
}

pub async fn run(config_path: Option<PathBuf>, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let ServeArgs {
        odoo_url,
        odoo_database,
        odoo_login,
        odoo_api_key_env,
        listen,
    } = args;
    let quick_start = odoo_url.is_some();
    let mut config = match (odoo_url, odoo_database, odoo_login) {
        (Some(url), Some(db), Some(login)) => {
            Config::from_flags(&url, &db, &login, &odoo_api_key_env, listen.as_deref())
                .map_err(|e| anyhow::anyhow!("{e}"))?
        }
        _ => super::load_config(config_path)?,
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

/// Resolves on Ctrl-C or SIGTERM.
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
