//! Composition root: builds the state from the configuration, assembles the HTTP stack in one
//! place, and runs the listener until shutdown.

use crate::config::{Config, Profile};
use crate::mcp::server::{McpServer, McpSettings, router};
use crate::mcp::tools::{ProfileState, Toolbox, default_models};
use crate::middleware::origin::{OriginLayer, allowed_hosts, loopback_origins};
use crate::middleware::request_id;
use crate::odoo::{ErrorKind, Identity, OdooClient, OdooError, ServerInfo};
use anyhow::{Context, bail};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Explains an Odoo error met at start-up in terms of the configuration to fix.
pub fn explain_odoo_error(profile: &Profile, config: &Config, e: &OdooError) -> String {
    let hint = match e.kind {
        ErrorKind::Transport | ErrorKind::Timeout => {
            format!(
                "check [odoo] url = \"{}\" and that Odoo is running",
                config.odoo.url
            )
        }
        ErrorKind::NotFound => format!(
            "check [odoo] database = \"{}\" (the databases are listed on Odoo's /web/database/selector page)",
            config.odoo.database
        ),
        ErrorKind::Credentials => format!(
            "check [profiles.{}] odoo_login = \"{}\" and its API key (Odoo: Preferences > Account Security > New API Key)",
            profile.name, profile.credentials.login
        ),
        ErrorKind::BadRequest => "check [odoo] url and protocol".to_string(),
        _ => "see Odoo's server log".to_string(),
    };
    format!("profile \"{}\": {}\n  hint: {hint}", profile.name, e)
}

/// A profile, logged in and checked.
pub struct ReadyProfile {
    pub state: Arc<ProfileState>,
}

/// Logs a profile in and reads who it is.
pub async fn connect_profile(
    client: &OdooClient,
    config: &Config,
    profile: &Profile,
) -> anyhow::Result<ReadyProfile> {
    let user = client
        .login(&profile.credentials)
        .await
        .map_err(|e| anyhow::anyhow!(explain_odoo_error(profile, config, &e)))?;
    let state = ProfileState::new(profile.name.clone(), user, default_models())
        .await
        .map_err(|e| anyhow::anyhow!(explain_odoo_error(profile, config, &e)))?;
    Ok(ReadyProfile {
        state: Arc::new(state),
    })
}

/// Whether an identity is an Odoo administrator.
pub fn privileged(identity: &Identity) -> Option<String> {
    if identity.uid == 1 || identity.uid == 2 {
        return Some(format!(
            "uid {} is Odoo's superuser/administrator account",
            identity.uid
        ));
    }
    let groups = identity.groups.as_ref()?;
    for g in ["base.group_system", "base.group_erp_manager"] {
        if groups.iter().any(|x| x == g) {
            return Some(format!("the user is in {g}"));
        }
    }
    None
}

/// The HTTP stack in front of `/mcp`, outermost first.
fn mcp_stack(config: &Config, server: Arc<McpServer>) -> Router {
    let mut origins = config.server.origins();
    origins.extend(loopback_origins(config.server.listen));
    let hosts = allowed_hosts(&config.server.public_url(), config.server.listen);
    let middleware = ServiceBuilder::new()
        // A request id first, so every later log line and refusal can carry it.
        .layer(SetRequestIdLayer::new(
            http::HeaderName::from_static(request_id::HEADER),
            request_id::Counter::default(),
        ))
        .layer(PropagateRequestIdLayer::new(http::HeaderName::from_static(
            request_id::HEADER,
        )))
        // Traces every request, refusals included.
        .layer(TraceLayer::new_for_http())
        // DNS-rebinding and cross-site protection before any work is done.
        .layer(OriginLayer::new(origins, hosts));
    router(server)
        // Bounded bodies: 413 once the body passes the limit, while it is read (Content-Length
        // or not).
        .layer(DefaultBodyLimit::max(config.server.max_body_bytes))
        .layer(middleware)
}

/// Refuses what this version cannot serve safely.
fn check_serveable(config: &Config) -> anyhow::Result<()> {
    let listen = config.server.listen;
    if !listen.ip().is_loopback() {
        bail!(
            "[server] listen = \"{listen}\" is not a loopback address. Until API keys protect /mcp, odoo-warden only listens on 127.0.0.1 or ::1; put a reverse proxy with authentication in front if clients are remote."
        );
    }
    Ok(())
}

/// Builds everything `serve` runs: checks the configuration, reaches Odoo, logs the profile in.
/// `config.server.listen` must be the bound address (not port 0).
pub async fn build(config: &Config) -> anyhow::Result<(Router, ServerInfo)> {
    check_serveable(config)?;
    if config.profiles.len() != 1 {
        bail!(
            "{} profiles are configured; until API keys choose a profile per key, configure exactly one [profiles.NAME]",
            config.profiles.len()
        );
    }
    let client =
        OdooClient::new(config.odoo.clone()).map_err(|e| anyhow::anyhow!("[odoo]: {e}"))?;
    let Some(profile) = config.profiles.values().next() else {
        bail!("no profile is configured");
    };
    let info = client
        .server_info()
        .await
        .map_err(|e| anyhow::anyhow!(explain_odoo_error(profile, config, &e)))?;
    let ready = connect_profile(&client, config, profile).await?;
    tracing::info!(
        profile = %profile.name,
        odoo.version = %info.version,
        odoo.protocol = info.protocol.as_str(),
        odoo.uid = ready.state.identity.uid,
        "profile ready"
    );
    if let Some(why) = privileged(&ready.state.identity) {
        tracing::warn!(profile = %profile.name, reason = %why, "this profile's Odoo user is an administrator; give it a least-privilege user");
    }
    let toolbox = Toolbox::new().map_err(|e| anyhow::anyhow!(e))?;
    let server = Arc::new(McpServer::new(
        toolbox,
        ready.state,
        McpSettings {
            request_timeout: config.server.request_timeout,
            client_request_timeout: Duration::from_secs(300),
        },
    ));
    Ok((mcp_stack(config, server), info))
}

/// Runs the MCP listener until `shutdown` completes, then drains in-flight requests.
pub async fn serve(
    mut config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    check_serveable(&config)?;
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} ([server] listen)",
                config.server.listen
            )
        })?;
    let local: SocketAddr = listener.local_addr()?;
    // With port 0 the public URL, and so the accepted Host values, follow the bound port.
    config.server.listen = local;
    let (app, _) = build(&config).await?;
    tracing::info!(address = %local, "odoo-warden listening; MCP endpoint at /mcp");
    // One line on stdout for people and scripts that wait for readiness.
    println!("odoo-warden listening on http://{local}/mcp");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .context("the MCP listener failed")?;
    Ok(())
}
