//! `policy check`: validates policy files, and with `--odoo` that the models and fields they name
//! exist on the live Odoo.

use odoo_warden::app;
use odoo_warden::config::Config;
use odoo_warden::odoo::OdooClient;
use odoo_warden::policy::{Op, Policy, check_files};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum PolicyCommand {
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

pub async fn run(path: Option<PathBuf>, command: PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Check { files, odoo, json } => check(path, files, odoo, json).await,
    }
}

async fn check(
    path: Option<PathBuf>,
    mut files: Vec<PathBuf>,
    odoo: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let config = if odoo {
        Some(super::load_config(path)?)
    } else if files.is_empty() {
        Some(super::load_config_without_secrets(&super::config_path(
            path,
        ))?)
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
        problems.extend(check_on_odoo(config, &files).await?);
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
    Ok(super::exit_code(ok))
}

/// What the live Odoo (as the config's first profile) says is wrong with `files`: models and
/// fields they name that Odoo does not have, and derived-field exceptions naming sources Odoo
/// does not compute the field from.
async fn check_on_odoo(config: &Config, files: &[PathBuf]) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
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
    for file in files {
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
            for op in [Op::Create, Op::Update] {
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
    Ok(problems)
}
