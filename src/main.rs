//! The `odoo-warden` command.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use odoo_warden::app;
use odoo_warden::config::Config;
use odoo_warden::odoo::OdooClient;
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
    /// Run the MCP endpoint
    Serve {
        /// Odoo URL; with --odoo-database and --odoo-login, runs without a config file
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
    /// Check the configuration, Odoo and each profile's Odoo user
    Doctor {
        #[arg(long)]
        json: bool,
    },
}

fn init_logs(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn load_config(cli_path: Option<PathBuf>) -> Result<Config, String> {
    let path = cli_path.unwrap_or_else(Config::default_path);
    Config::load(&path).map_err(|e| e.to_string())
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
            let mut config = match (odoo_url, odoo_database, odoo_login) {
                (Some(url), Some(db), Some(login)) => {
                    Config::from_flags(&url, &db, &login, &odoo_api_key_env, listen.as_deref())
                        .map_err(|e| anyhow::anyhow!("{e}"))?
                }
                _ => load_config(cli.config).map_err(|e| anyhow::anyhow!(e))?,
            };
            if let Some(listen) = listen {
                config.server.listen = listen
                    .parse()
                    .map_err(|_| anyhow::anyhow!("--listen \"{listen}\" is not an address:port"))?;
            }
            app::serve(config, shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor { json } => doctor(cli.config, json).await,
    }
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

/// One line of the doctor's report.
#[derive(serde::Serialize)]
struct Check {
    check: String,
    ok: bool,
    detail: String,
}

async fn doctor(path: Option<PathBuf>, json: bool) -> anyhow::Result<ExitCode> {
    let mut checks = Vec::new();
    let config = match load_config(path) {
        Ok(c) => {
            checks.push(Check {
                check: "config".into(),
                ok: true,
                detail: c
                    .source
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            });
            Some(c)
        }
        Err(e) => {
            checks.push(Check {
                check: "config".into(),
                ok: false,
                detail: e,
            });
            None
        }
    };
    if let Some(config) = &config {
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
                        let name = format!("profile {}", profile.name);
                        match app::connect_profile(&client, config, profile).await {
                            Err(e) => checks.push(Check {
                                check: name,
                                ok: false,
                                detail: format!("{e:#}"),
                            }),
                            Ok(ready) => {
                                let id = &ready.state.identity;
                                match app::privileged(id) {
                                    Some(why) => checks.push(Check {
                                        check: name,
                                        ok: false,
                                        detail: format!("logged in as {} (uid {}), but {why}: use a least-privilege Odoo user", id.login, id.uid),
                                    }),
                                    None => checks.push(Check {
                                        check: name,
                                        ok: true,
                                        detail: format!(
                                            "logged in as {} (uid {}); groups: {}",
                                            id.login,
                                            id.uid,
                                            id.groups.as_ref().map(|g| g.join(", ")).unwrap_or_else(|| "not readable by this user".into())
                                        ),
                                    }),
                                }
                            }
                        }
                    }
                }
            },
        }
    }
    let ok = checks.iter().all(|c| c.ok);
    if json {
        println!("{}", serde_json::json!({"ok": ok, "checks": checks}));
    } else {
        for c in &checks {
            println!(
                "{} {}: {}",
                if c.ok { "ok  " } else { "FAIL" },
                c.check,
                c.detail
            );
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
