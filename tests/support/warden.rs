//! odoo-warden in-process for integration tests: both listeners on loopback ports, keys on
//! demand. Included by `#[path]`: once for all the integration tests in
//! `tests/integration/main.rs` (`#[path = "../support/warden.rs"] mod warden;`), and by benches.

#![allow(dead_code)]

use odoo_warden::app::{self, Runtime};
use odoo_warden::auth::keys::{KeyRequest, create_key};
use odoo_warden::config::Config;
use std::collections::HashMap;

pub struct Warden {
    pub mcp_url: String,
    pub admin_url: String,
    pub rt: Runtime,
    pub config: Config,
    /// The listeners' TLS (`[server] tls_cert_file`), for tests that reload the certificate.
    pub tls: Option<odoo_warden::tls::Tls>,
    /// Told when the Warden is dropped: the listeners stop.
    _stop: tokio::sync::watch::Sender<bool>,
}

impl Drop for Warden {
    fn drop(&mut self) {
        let _ = self._stop.send(true);
    }
}

/// Starts odoo-warden from a config text; `env` stands in for the environment (Odoo API keys).
pub async fn start(text: &str, env: HashMap<String, String>) -> anyhow::Result<Warden> {
    let mut config = Config::parse_with_env(text, None, &move |v| env.get(v).cloned())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mcp = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    config.server.listen = mcp.local_addr()?;
    config.server.admin_listen = admin.local_addr()?;
    // HTTPS when the config names a certificate, as the binary does.
    let tls = config
        .server
        .tls
        .as_ref()
        .map(odoo_warden::tls::Tls::load)
        .transpose()?;
    let acceptor = || tls.as_ref().map(odoo_warden::tls::Tls::acceptor);
    let rt = app::build(&config).await?;
    let mcp_app = app::mcp_stack(&config, &rt);
    let admin_app = app::admin_stack(&config, &rt);
    // The listeners as the binary runs them (slow-client bounds included).
    let limits = config.server.connections;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(odoo_warden::listener::serve(
        mcp,
        mcp_app,
        limits,
        "mcp",
        stopped.clone(),
        acceptor(),
    ));
    tokio::spawn(odoo_warden::listener::serve(
        admin,
        admin_app,
        limits,
        "admin",
        stopped,
        acceptor(),
    ));
    let scheme = config.server.scheme();
    Ok(Warden {
        mcp_url: format!("{scheme}://{}/mcp", config.server.listen),
        admin_url: format!("{scheme}://{}", config.server.admin_listen),
        rt,
        config,
        tls,
        _stop: stop,
    })
}

/// A config for one Odoo emulator with the given profiles: `(profile, odoo login)`.
pub fn config_text(
    odoo_url: &str,
    store_url: &str,
    profiles: &[(&str, &str)],
    extra_profile: &str,
) -> String {
    let mut t = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nmax_body_bytes = 65536\n[store]\nurl = \"{store_url}\"\n[odoo]\nurl = \"{odoo_url}\"\ndatabase = \"lab\"\n"
    );
    for (name, login) in profiles {
        t.push_str(&format!(
            "[profiles.{name}]\nodoo_login = \"{login}\"\nodoo_api_key_env = \"KEY_{login}\"\n{extra_profile}\n"
        ));
    }
    t
}

/// The environment holding each emulator user's API key as `KEY_<login>`.
pub fn env_for(logins: &[&str]) -> HashMap<String, String> {
    logins
        .iter()
        .map(|l| (format!("KEY_{l}"), format!("<apikey:{l}>")))
        .collect()
}

impl Warden {
    /// Creates a key and returns its token.
    pub async fn key(
        &self,
        scopes: &[&str],
        profile: Option<&str>,
        expires_in: Option<&str>,
    ) -> (String, String) {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        let created = create_key(
            &self.rt.store,
            &KeyRequest {
                name: "test",
                scopes: &scopes,
                profile,
                expires_in,
            },
            &self.rt.profile_names,
        )
        .await
        .expect("key created");
        (created.view.id, created.token.expose().to_string())
    }
}
