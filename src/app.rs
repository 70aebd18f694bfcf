//! Composition root: builds the runtime from the configuration, assembles both HTTP stacks (MCP
//! and admin) each in one commented function, and runs the listeners until shutdown.

use crate::admin;
use crate::audit::AuditLog;
use crate::auth::{Scope, Verifier};
use crate::config::{Config, Profile};
use crate::confirm::ConfirmSettings;
use crate::killswitch::KillSwitch;
use crate::mcp::server::{Handles, McpServer, McpSettings, router};
use crate::mcp::tools::Toolbox;
use crate::middleware::audit::AuditLayer;
use crate::middleware::auth::AuthLayer;
use crate::middleware::origin::{OriginLayer, allowed_hosts, loopback_origins};
use crate::middleware::ratelimit::{KeyRateLimitLayer, per_ip_layer};
use crate::middleware::request_id;
use crate::odoo::{ErrorKind, Identity, OdooClient, OdooError, OdooUser, ServerInfo};
use crate::profile::{PolicyReloader, ProfileState, load_policy};
use crate::store::Store;
use anyhow::{Context, bail};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// How long a successful key verification is reused before argon2 runs again.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(30);
/// How often the store is polled for keys revoked elsewhere.
pub const REVOCATION_POLL: Duration = Duration::from_secs(1);

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

/// Why an Odoo user counts as an administrator, if it does: uid 1 or 2, or membership of
/// `base.group_system` / `base.group_erp_manager` (read from its groups, or asked with
/// `has_group` when the user cannot read group names).
pub async fn privileged(user: &OdooUser, identity: &Identity) -> Result<Option<String>, OdooError> {
    if identity.uid == 1 || identity.uid == 2 {
        return Ok(Some(format!(
            "uid {} is Odoo's superuser/administrator account",
            identity.uid
        )));
    }
    for g in ["base.group_system", "base.group_erp_manager"] {
        let member = match &identity.groups {
            Some(groups) => groups.iter().any(|x| x == g),
            None => user.has_group(g).await?,
        };
        if member {
            return Ok(Some(format!("the user is in {g}")));
        }
    }
    Ok(None)
}

/// A profile, logged in, identified and checked for privileges.
pub struct ReadyProfile {
    pub state: Arc<ProfileState>,
    /// Why its user is an administrator, when it is (and the profile allows it).
    pub privileged: Option<String>,
}

/// Logs a profile in, reads who it is, and refuses an administrator unless the profile says
/// `allow_privileged_user = true`.
pub async fn connect_profile(
    client: &OdooClient,
    config: &Config,
    profile: &Profile,
) -> anyhow::Result<ReadyProfile> {
    let explain = |e: OdooError| anyhow::anyhow!(explain_odoo_error(profile, config, &e));
    let policy = load_policy(profile)?;
    let user = client.login(&profile.credentials).await.map_err(explain)?;
    let state = ProfileState::new(profile.name.clone(), user, policy)
        .await
        .map_err(explain)?;
    let why = privileged(&state.user, &state.identity).await.map_err(|e| {
        anyhow::anyhow!(
            "profile \"{}\": cannot tell whether Odoo user \"{}\" is an administrator ({e}); refusing to start",
            profile.name,
            profile.credentials.login
        )
    })?;
    if let Some(why) = &why {
        if !profile.allow_privileged_user {
            bail!(
                "profile \"{}\": Odoo user \"{}\" is an administrator ({why}). odoo-warden calls Odoo as a least-privilege user: create a dedicated Odoo user with only the rights the assistant needs (e.g. Sales / User) and an API key for it. To accept an administrator anyway, set allow_privileged_user = true in [profiles.{}].",
                profile.name,
                profile.credentials.login,
                profile.name
            );
        }
        tracing::warn!(
            profile = %profile.name,
            odoo.login = %profile.credentials.login,
            reason = %why,
            "this profile acts as an Odoo administrator (allow_privileged_user = true)"
        );
    }
    Ok(ReadyProfile {
        state: Arc::new(state),
        privileged: why,
    })
}

/// Opens the store named by `[store] url`, applying migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<Store>> {
    let store = Store::connect(&config.store_url)
        .await
        .map_err(|e| anyhow::anyhow!("[store] url: {e}"))?;
    Ok(Arc::new(store))
}

/// Everything the listeners serve.
pub struct Runtime {
    pub odoo: OdooClient,
    pub store: Arc<Store>,
    pub audit: Arc<AuditLog>,
    pub kill: Arc<KillSwitch>,
    /// (profile, requests per minute, burst) for the per-key limit.
    pub key_limits: Vec<(String, u32, u32)>,
    pub reloader: Arc<PolicyReloader>,
    pub verifier: Arc<Verifier>,
    pub mcp: Arc<McpServer>,
    pub server: ServerInfo,
    pub profile_names: Vec<String>,
    /// The OAuth authorization server, when `[oauth]` is enabled.
    pub signin: Option<Arc<crate::signin::SignIn>>,
    /// Failed sign-ins with an Odoo credential (the OAuth page, the console).
    pub failures: Arc<crate::auth::failures::Failures>,
}

/// Builds the runtime: opens the store, reaches Odoo, logs every profile in and checks it.
/// Any failure stops start-up with an error naming what to fix.
pub async fn build(config: &Config) -> anyhow::Result<Runtime> {
    let store = open_store(config).await?;
    let audit = AuditLog::start(store.clone(), instance_name());
    let verifier = Verifier::new(store.clone(), KEY_CACHE_TTL)
        .await
        .map_err(|e| anyhow::anyhow!("key verification: {e}"))?;
    verifier.watch_revocations(REVOCATION_POLL);
    let client =
        OdooClient::new(config.odoo.clone()).map_err(|e| anyhow::anyhow!("[odoo]: {e}"))?;
    let Some(first) = config.profiles.values().next() else {
        bail!("no profile is configured");
    };
    let server = client
        .server_info()
        .await
        .map_err(|e| anyhow::anyhow!(explain_odoo_error(first, config, &e)))?;
    let mut profiles = HashMap::new();
    let mut entries = Vec::new();
    for profile in config.profiles.values() {
        let ready = connect_profile(&client, config, profile).await?;
        tracing::info!(
            profile = %profile.name,
            odoo.version = %server.version,
            odoo.protocol = server.protocol.as_str(),
            odoo.uid = ready.state.identity.uid,
            "profile ready"
        );
        ready
            .state
            .set_write_budget(profile.rate_limit.writes_per_minute);
        entries.push((ready.state.clone(), profile.clone()));
        profiles.insert(profile.name.clone(), ready.state);
    }
    let toolbox = Toolbox::new().map_err(|e| anyhow::anyhow!(e))?;
    let kill = KillSwitch::load(store.clone())
        .await
        .map_err(|e| anyhow::anyhow!("[store] url: cannot read the kill switch: {e}"))?;
    kill.watch(REVOCATION_POLL);
    let state = kill.state();
    if state.mode != crate::killswitch::Mode::Open {
        tracing::warn!(mode = state.mode.as_str(), reason = %state.reason, by = %state.changed_by, "the kill switch is thrown");
    }
    // Failed sign-ins with an Odoo credential, on the OAuth page and the console alike.
    let failures = Arc::new(crate::auth::failures::Failures::default());
    let signin = match &config.oauth {
        None => None,
        Some(oauth) => {
            let allow_privileged = config
                .profiles
                .values()
                .map(|p| (p.name.clone(), p.allow_privileged_user))
                .collect();
            let people = Arc::new(crate::oauth::people::People::new(
                client.clone(),
                store.clone(),
                oauth.clone(),
                profiles.clone(),
                allow_privileged,
            ));
            let signin = crate::signin::SignIn::new(
                &config.server.public_url(),
                store.clone(),
                people.clone(),
                verifier.clone(),
                audit.clone(),
                failures.clone(),
            )
            .map_err(|e| anyhow::anyhow!("[oauth]: {e}"))?;
            verifier.accept_oauth(signin.resource().to_string());
            tracing::info!(issuer = %config.server.public_url(), "OAuth sign-in enabled");
            Some((people, signin))
        }
    };
    let mcp = McpServer::new(
        toolbox,
        profiles,
        McpSettings {
            request_timeout: config.server.request_timeout,
            client_request_timeout: Duration::from_secs(300),
            confirm: ConfirmSettings {
                elicitation_timeout: config.confirm.elicitation_timeout,
                approval_ttl: time::Duration::try_from(config.confirm.approval_ttl)
                    .unwrap_or(time::Duration::hours(1)),
                approval_wait: config.confirm.approval_wait,
                without_elicitation: config.confirm.without_elicitation,
            },
            state_key: config.confirm.state_key,
        },
        Handles {
            audit: audit.clone(),
            store: store.clone(),
            kill: kill.clone(),
        },
    );
    let mcp = Arc::new(match &signin {
        Some((people, _)) => mcp.with_people(people.clone()),
        None => mcp,
    });
    let key_limits = config
        .profiles
        .values()
        .map(|p| (p.name.clone(), p.rate_limit.per_minute, p.rate_limit.burst))
        .collect();
    Ok(Runtime {
        odoo: client,
        store,
        audit,
        kill,
        key_limits,
        reloader: Arc::new(PolicyReloader::new(entries)),
        verifier,
        mcp,
        server,
        profile_names: config.profiles.keys().cloned().collect(),
        signin: signin.map(|(_, s)| s),
        failures,
    })
}

/// The HTTP stack in front of `/mcp`, outermost first. `config.server.listen` must be the bound
/// address (it decides the accepted Host values).
pub fn mcp_stack(config: &Config, rt: &Runtime) -> Router {
    let mut origins = config.server.origins();
    origins.extend(loopback_origins(
        config.server.listen,
        config.server.scheme(),
    ));
    let hosts = allowed_hosts(&config.server.public_url(), config.server.listen);
    let middleware = ServiceBuilder::new()
        // A request id first, so every later log line and refusal can carry it.
        .layer(tower::util::MapRequestLayer::new(strip_request_id))
        .layer(SetRequestIdLayer::new(
            http::HeaderName::from_static(request_id::HEADER),
            request_id::Counter::default(),
        ))
        .layer(PropagateRequestIdLayer::new(http::HeaderName::from_static(
            request_id::HEADER,
        )))
        // Traces every request, refusals included.
        .layer(TraceLayer::new_for_http())
        // Every request leaves an audit record, including the refusals of the layers below;
        // nothing is answered unrecorded.
        .layer(AuditLayer::new(rt.audit.clone()).trusting(config.limits.trusted_proxies.clone()))
        // DNS-rebinding and cross-site protection before any work is done (and before argon2).
        .layer(OriginLayer::new(origins, hosts))
        // Per client address, before authentication: caps key guessing and argon2 work (and,
        // with OAuth, sign-in attempts and registrations).
        .option_layer(per_ip_layer(
            config.limits.per_ip_per_minute,
            config.limits.per_ip_burst,
            config.limits.trusted_proxies.clone(),
        ));
    // `/mcp` wants a key with the mcp scope or a person's access token; the Principal travels on
    // in the request extensions. Then the per-key limit, from the profile's rate_limit.
    let mut mcp = router(rt.mcp.clone())
        .layer(KeyRateLimitLayer::new(&rt.key_limits))
        .layer(AuthLayer::new(rt.verifier.clone(), Scope::Mcp).json_rpc());
    // With OAuth: a 401 on /mcp names the resource metadata (RFC 9728 §5.1), and the
    // authorization server's routes sit beside /mcp, outside key authentication. Without it
    // those paths are 404 like any other (a 401 on /.well-known/oauth-* would send clients into
    // a flow this server does not offer).
    let app = match &rt.signin {
        Some(signin) => {
            if let Some(challenge) = signin.challenge() {
                mcp = mcp.layer(axum::middleware::map_response(
                    move |mut r: axum::response::Response| {
                        let challenge = challenge.clone();
                        async move {
                            if r.status() == http::StatusCode::UNAUTHORIZED {
                                r.headers_mut()
                                    .insert(http::header::WWW_AUTHENTICATE, challenge);
                            }
                            r
                        }
                    },
                ));
            }
            mcp.merge(crate::signin::router(signin.clone()))
        }
        None => mcp,
    };
    app.fallback(not_found)
        // Bounded bodies: 413 once the body passes the limit, while it is read.
        .layer(DefaultBodyLimit::max(config.server.max_body_bytes))
        .layer(middleware)
}

/// Paths the MCP listener does not serve: `404`, whoever asks.
async fn not_found() -> axum::response::Response {
    let body =
        serde_json::json!({"error": "not_found", "message": "not found: the MCP endpoint is /mcp"});
    let mut r = axum::response::Response::new(axum::body::Body::from(body.to_string()));
    *r.status_mut() = http::StatusCode::NOT_FOUND;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// The admin listener: health and readiness (no key), and the admin API (scoped keys).
pub fn admin_stack(config: &Config, rt: &Runtime) -> Router {
    // Per client address before the admin API's authentication, as on the MCP listener: caps
    // key guessing and the argon2 work it costs.
    let per_ip = ServiceBuilder::new().option_layer(per_ip_layer(
        config.limits.per_ip_per_minute,
        config.limits.per_ip_burst,
        config.limits.trusted_proxies.clone(),
    ));
    let console_per_ip = ServiceBuilder::new().option_layer(per_ip_layer(
        config.limits.per_ip_per_minute,
        config.limits.per_ip_burst,
        config.limits.trusted_proxies.clone(),
    ));
    let console = match crate::console::Console::new(crate::console::Parts {
        store: rt.store.clone(),
        verifier: rt.verifier.clone(),
        audit: rt.audit.clone(),
        kill: rt.kill.clone(),
        reloader: rt.reloader.clone(),
        odoo: rt.odoo.clone(),
        roles: config.console_roles.clone(),
        recheck: config.console_recheck,
        failures: rt.failures.clone(),
        secure: config.server.tls.is_some(),
    }) {
        Ok(c) => Some(crate::console::router(c).layer(console_per_ip)),
        Err(e) => {
            tracing::error!(error = %e, "the web console cannot be served");
            None
        }
    };
    let admin = admin::router(
        admin::AdminState {
            store: rt.store.clone(),
            verifier: rt.verifier.clone(),
            profiles: rt.profile_names.clone(),
            reloader: rt.reloader.clone(),
            audit: rt.audit.clone(),
            kill: rt.kill.clone(),
            odoo: rt.odoo.clone(),
        },
        per_ip,
    );
    // The web console beside the API, under the same request id, trace and audit layers.
    let admin = match console {
        Some(console) => admin.merge(console),
        None => admin,
    };
    admin.layer(
        ServiceBuilder::new()
            .layer(tower::util::MapRequestLayer::new(strip_request_id))
            .layer(SetRequestIdLayer::new(
                http::HeaderName::from_static(request_id::HEADER),
                request_id::Counter::default(),
            ))
            .layer(PropagateRequestIdLayer::new(http::HeaderName::from_static(
                request_id::HEADER,
            )))
            .layer(TraceLayer::new_for_http())
            // Admin requests are audited too (probes are not).
            .layer(
                AuditLayer::new(rt.audit.clone())
                    .trusting(config.limits.trusted_proxies.clone())
                    .skipping(&["/healthz", "/readyz", "/metrics"]),
            ),
    )
}

/// Request ids are ours: a client's `x-request-id` is dropped (it would flow into logs and the
/// audit trail unchecked), and [`request_id::Counter`] makes a new one.
fn strip_request_id<B>(mut req: http::Request<B>) -> http::Request<B> {
    req.headers_mut().remove(request_id::HEADER);
    req
}

/// Names this process in audit records: the host name and process id.
pub fn instance_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "odoo-warden".to_string());
    format!("{host}:{}", std::process::id())
}

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} ([server] {what})"))
}

/// How often expired OAuth codes and tokens are deleted.
const OAUTH_PURGE_EVERY: Duration = Duration::from_secs(3600);

/// How often the audit trail's head is logged (when it moved).
const HEAD_LOG_EVERY: Duration = Duration::from_secs(300);

/// Logs the trail's head (`SEQ:HASH`) if it moved since `last`.
async fn log_head(store: &crate::store::Store, last: &mut Option<i64>) {
    match store.audit_head().await {
        Ok(Some((seq, hash))) if *last != Some(seq) => {
            tracing::info!(target: "odoo_warden::audit", head = %format!("{seq}:{hash}"), "audit head");
            *last = Some(seq);
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read the audit trail's head"),
    }
}

/// Descriptors kept for everything but client connections (store, Odoo pool, logs, signals).
const RESERVED_DESCRIPTORS: u64 = 64;

/// The soft limit on open files (Linux: `/proc/self/limits`); `None` where it cannot be read.
fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The connection caps of the two listeners: as configured, lowered where the descriptor limit
/// would run out first (the MCP listener gets three quarters of what is left, the admin one a
/// quarter), so that a full listener refuses cleanly instead of failing to accept.
fn connection_limits(
    configured: crate::listener::Limits,
) -> (crate::listener::Limits, crate::listener::Limits) {
    let (mut mcp, mut admin) = (configured, configured);
    if let Some(limit) = open_files_limit() {
        let budget = limit.saturating_sub(RESERVED_DESCRIPTORS) as usize;
        let fit = |share: usize| (budget * share / 4).max(8);
        if configured.max_connections > fit(3) {
            tracing::warn!(
                configured = configured.max_connections,
                open_files_limit = limit,
                used = fit(3),
                "[server] max_connections is above what the descriptor limit allows; lowered (raise `ulimit -n` to allow more)"
            );
        }
        mcp.max_connections = configured.max_connections.min(fit(3));
        admin.max_connections = configured.max_connections.min(fit(1));
    }
    (mcp, admin)
}

/// Runs the MCP and admin listeners until `shutdown` completes, then drains in-flight requests.
pub async fn serve(
    mut config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // The certificate and key are read and checked before anything else (crate::tls).
    let tls = match &config.server.tls {
        Some(files) => {
            let tls = crate::tls::Tls::load(files)?;
            tracing::info!(cert_file = %files.cert.display(), sha256 = %tls.fingerprint(), "TLS on both listeners");
            Some(tls)
        }
        None => None,
    };
    let mcp_listener = bind(config.server.listen, "listen").await?;
    let admin_listener = bind(config.server.admin_listen, "admin_listen").await?;
    // With port 0 the public URL, and so the accepted Host values, follow the bound port.
    config.server.listen = mcp_listener.local_addr()?;
    config.server.admin_listen = admin_listener.local_addr()?;
    let rt = build(&config).await?;
    let mcp = mcp_stack(&config, &rt);
    let admin = admin_stack(&config, &rt);
    tracing::info!(address = %config.server.listen, admin = %config.server.admin_listen, "odoo-warden listening; MCP endpoint at /mcp");
    // One line each on stdout for people and scripts that wait for readiness.
    let scheme = config.server.scheme();
    println!(
        "odoo-warden admin listening on {scheme}://{}",
        config.server.admin_listen
    );
    println!(
        "odoo-warden listening on {scheme}://{}/mcp",
        config.server.listen
    );
    // SIGHUP reloads every profile's policy (validated first; a bad file changes nothing), and
    // the TLS certificate (likewise: a bad file keeps the one in force).
    #[cfg(unix)]
    {
        let reloader = rt.reloader.clone();
        let audit = rt.audit.clone();
        let tls = tls.clone();
        if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    let reason = match reloader.reload() {
                        Ok(done) => {
                            tracing::info!(profiles = ?done, "policies reloaded (SIGHUP)");
                            format!("policies reloaded by SIGHUP: {done:?}")
                        }
                        Err(problems) => {
                            tracing::error!(problems = ?problems, "policy reload refused (SIGHUP): the policies in force stay");
                            format!(
                                "policy reload by SIGHUP refused, the policies in force stay: {problems:?}"
                            )
                        }
                    };
                    let mut e = audit.event(crate::audit::kind::POLICY_RELOAD);
                    e.reason = Some(reason);
                    e.decision = Some(crate::audit::Decision::Allow);
                    e.outcome = Some(crate::audit::Outcome::Ok);
                    if let Err(err) = audit.record(e).await {
                        tracing::error!(error = %err, "the audit trail did not take a policy reload");
                    }
                    if let Some(tls) = &tls {
                        tls.reload_on_signal(&audit).await;
                    }
                }
            });
        }
    }
    // SIGUSR1 closes this instance, SIGUSR2 reopens it (the shared switch is unchanged).
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        for (kind, close) in [
            (SignalKind::user_defined1(), true),
            (SignalKind::user_defined2(), false),
        ] {
            let kill = rt.kill.clone();
            let audit = rt.audit.clone();
            if let Ok(mut sig) = signal(kind) {
                tokio::spawn(async move {
                    while sig.recv().await.is_some() {
                        let (mode, what) = if close {
                            (
                                Some(crate::killswitch::Mode::Closed),
                                "closed on this instance by SIGUSR1",
                            )
                        } else {
                            (None, "reopened on this instance by SIGUSR2")
                        };
                        kill.set_local(mode, what);
                        tracing::warn!(what, "kill switch");
                        let mut e = audit.event(crate::audit::kind::KILL_SWITCH_CHANGE);
                        e.reason = Some(what.to_string());
                        e.decision = Some(crate::audit::Decision::Allow);
                        e.outcome = Some(crate::audit::Outcome::Ok);
                        if let Err(err) = audit.record(e).await {
                            tracing::error!(error = %err, "the audit trail did not take a kill switch change");
                        }
                    }
                });
            }
        }
    }
    // The trail's head in the logs every few minutes: shipped elsewhere, these lines are the
    // kept heads `audit verify --expect-head` checks, which find records cut from the end.
    {
        let store = rt.store.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEAD_LOG_EVERY);
            let mut last = None;
            loop {
                tick.tick().await;
                log_head(&store, &mut last).await;
            }
        });
    }
    // OAuth codes and tokens past their expiry (by a day) are deleted hourly.
    if rt.signin.is_some() {
        let store = rt.store.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(OAUTH_PURGE_EVERY);
            loop {
                tick.tick().await;
                match store.oauth_purge(time::OffsetDateTime::now_utc()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(deleted = n, "expired OAuth codes and tokens purged"),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot purge expired OAuth codes and tokens")
                    }
                }
            }
        });
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    // Both listeners bound what a slow or idle client may hold (crate::listener), within the
    // process's descriptor limit.
    let (mcp_limits, admin_limits) = connection_limits(config.server.connections);
    let acceptor = || tls.as_ref().map(crate::tls::Tls::acceptor);
    let mcp_server = crate::listener::serve(
        mcp_listener,
        mcp,
        mcp_limits,
        "mcp",
        stop_rx.clone(),
        acceptor(),
    );
    let admin_server = crate::listener::serve(
        admin_listener,
        admin,
        admin_limits,
        "admin",
        stop_rx.clone(),
        acceptor(),
    );
    // After the signal: stop accepting at once, give in-flight calls up to the grace period.
    let grace = config.server.shutdown_grace;
    let deadline = async move {
        wait(stop_rx).await;
        tokio::time::sleep(grace).await;
    };
    let served = tokio::select! {
        _ = async { tokio::join!(mcp_server, admin_server) } => true,
        _ = deadline => {
            tracing::warn!(grace_secs = grace.as_secs(), "in-flight requests did not finish within the grace period; exiting");
            false
        }
    };
    // Flush what the requests recorded before exiting.
    if !rt.audit.flush(Duration::from_secs(10)).await {
        tracing::error!(
            queued = rt.audit.queue_depth(),
            "audit records still queued at exit"
        );
    }
    log_head(&rt.store, &mut None).await;
    tracing::info!(drained = served, "stopped");
    Ok(())
}
