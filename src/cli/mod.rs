//! The `odoo-warden` command line: the clap definitions and the dispatch, one module per command
//! group. Commands that talk to a running server go through [`admin_client::AdminClient`], the
//! one place that builds admin API requests and explains its refusals.

mod admin_client;
mod approvals;
mod audit;
mod doctor;
mod init;
mod keys;
mod kill;
mod people;
mod policy;
mod serve;

use clap::{Parser, Subcommand};
use odoo_warden::config::Config;
use std::path::{Path, PathBuf};
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
    Serve(serve::ServeArgs),
    /// Write a starter config and print the first admin and MCP keys
    Init(init::InitArgs),
    /// Check the configuration, the store, Odoo and each profile's Odoo user
    Doctor {
        #[arg(long)]
        json: bool,
    },
    /// Manage API keys (directly in the store named by the config)
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Policy files
    Policy {
        #[command(subcommand)]
        command: policy::PolicyCommand,
    },
    /// The kill switch, through the admin API with an admin key (--key or $ODOO_WARDEN_KEY):
    /// `kill --mode read-only|closed --reason R`, `kill --off`, `kill --status`
    Kill(kill::KillArgs),
    /// Pending approvals, through the admin API with an approve key (--key or $ODOO_WARDEN_KEY)
    Approvals(approvals::ApprovalsArgs),
    /// The audit trail, through the admin API with an audit key (--key or $ODOO_WARDEN_KEY)
    Audit(audit::AuditArgs),
    /// People signed in with OAuth, through the admin API: `people list` (audit or admin key),
    /// `people revoke LOGIN`, `people restore LOGIN` (admin key)
    People(people::PeopleArgs),
}

/// Runs the command named on the command line; the process's exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(&cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(cli.config, args).await,
        Command::Init(args) => init::run(args).await,
        Command::Doctor { json } => doctor::run(cli.config, json).await,
        Command::Keys { command } => keys::run(cli.config, command).await,
        Command::Policy { command } => policy::run(cli.config, command).await,
        Command::Kill(args) => kill::run(cli.config, args).await,
        Command::Approvals(args) => approvals::run(cli.config, args).await,
        Command::Audit(args) => audit::run(cli.config, args).await,
        Command::People(args) => people::run(cli.config, args).await,
    }
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

/// The config file to use: `--config`, else the default path.
fn config_path(cli_path: Option<PathBuf>) -> PathBuf {
    cli_path.unwrap_or_else(Config::default_path)
}

/// The whole config, with the secrets it names read from the environment.
fn load_config(cli_path: Option<PathBuf>) -> anyhow::Result<Config> {
    Config::load(&config_path(cli_path)).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The config without its secrets: for commands that only need the store or the addresses.
fn load_config_without_secrets(path: &Path) -> anyhow::Result<Config> {
    Config::load_without_secrets(path).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Success, or failure when a check failed.
fn exit_code(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
