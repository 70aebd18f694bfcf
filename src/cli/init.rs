//! `init`: a starter config and read-only policy, and the first admin and MCP keys.

use odoo_warden::app;
use odoo_warden::auth::keys::{KeyRequest, create_key};
use odoo_warden::config::Config;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct InitArgs {
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
    /// Also let people sign in with their own Odoo login and API key (OAuth 2.1): writes an
    /// [oauth] section and a fresh sealing key file (oauth.key, mode 0600) beside the config
    #[arg(long)]
    oauth: bool,
    /// The https URL people's assistants reach odoo-warden at (the OAuth issuer); written as
    /// [server] public_url
    #[arg(long)]
    public_url: Option<String>,
    #[arg(long)]
    json: bool,
}

/// The starter policy `init` writes: the shipped read-only policy.
const READ_ONLY_POLICY: &str = include_str!("../../policies/read-only.toml");

pub async fn run(args: InitArgs) -> anyhow::Result<ExitCode> {
    let InitArgs {
        odoo_url: url,
        odoo_database: database,
        odoo_login: login,
        odoo_api_key_env: key_env,
        output,
        force,
        oauth,
        public_url,
        json,
    } = args;
    let output = output.as_path();
    let policy_rel = Path::new("policies").join("assistant.toml");
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
    url::Url::parse(&url).map_err(|e| anyhow::anyhow!("--odoo-url \"{url}\": {e}"))?;
    let public_line = match &public_url {
        Some(u) => {
            url::Url::parse(u).map_err(|e| anyhow::anyhow!("--public-url \"{u}\": {e}"))?;
            format!("public_url = \"{u}\"\n")
        }
        None => String::new(),
    };
    let key_rel = Path::new("oauth.key");
    let key_path = output
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(key_rel))
        .unwrap_or_else(|| key_rel.to_path_buf());
    let oauth_section = if oauth {
        if key_path.exists() && !force {
            anyhow::bail!(
                "{} exists; pass --force to overwrite it",
                key_path.display()
            );
        }
        write_secret_file(&key_path, &odoo_warden::oauth::KeySeal::generate_base64())?;
        format!(
            r#"
# People sign in with their own Odoo login and API key (OAuth 2.1) and act as their own Odoo
# user; the profile below gives the policy. oauth.key seals their keys at rest: keep it secret,
# and the same on every instance sharing the store. See README.md, "Sign in as yourself".
[oauth]
enabled = true
key_file = "{key}"
default_profile = "assistant"   # remove to refuse people no rule matches
# [[oauth.profile_rules]]
# group = "sales_team.group_sale_manager"   # or: login = "alice"
# profile = "sales-manager"
"#,
            key = key_rel.display()
        )
    } else {
        "\n# People signing in as themselves (OAuth 2.1, for Claude.ai, ChatGPT, Claude Desktop):\n# run `odoo-warden init --oauth`, or see README.md, \"Sign in as yourself\".\n".to_string()
    };
    let text = format!(
        r#"# odoo-warden configuration (written by `odoo-warden init`). See README.md.
[server]
listen = "127.0.0.1:8808"
admin_listen = "127.0.0.1:8809"
{public_line}
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
{oauth_section}"#,
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

/// Writes a secret readable by its owner only.
fn write_secret_file(path: &Path, secret: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    f.write_all(format!("{secret}\n").as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}
