//! Configuration: TOML parsed into a raw form (`deny_unknown_fields`), then validated into the
//! runtime [`Config`]. Every error names the file, the key and what to do.
//!
//! Secrets never live in the file: a profile names the environment variable or the file that
//! holds its Odoo API key.

use crate::confirm::WithoutElicitation;
use crate::odoo::{ClientConfig, Credentials, ProtocolChoice};
use crate::secret::Secret;
use serde::Deserialize;
use sha2::Digest;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

/// A configuration error, written for the operator who has to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn err(msg: impl Into<String>) -> ConfigError {
    ConfigError(msg.into())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    store: RawStore,
    odoo: RawOdoo,
    #[serde(default)]
    profiles: BTreeMap<String, RawProfile>,
    #[serde(default)]
    confirm: RawConfirm,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    oauth: RawOauth,
    #[serde(default)]
    console: RawConsole,
}

/// `[console]`: who may sign in to the web console as themselves.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConsole {
    #[serde(default)]
    role_rules: Vec<RawRoleRule>,
    /// How often a signed-in person's Odoo key and roles are verified with Odoo again.
    #[serde(default = "default_recheck_secs")]
    recheck_secs: u64,
}

impl Default for RawConsole {
    fn default() -> Self {
        Self {
            role_rules: Vec::new(),
            recheck_secs: default_recheck_secs(),
        }
    }
}

fn default_recheck_secs() -> u64 {
    crate::auth::person::RECHECK.as_secs()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoleRule {
    group: Option<String>,
    login: Option<String>,
    roles: Vec<String>,
}

/// `[[console.role_rules]]`: people matching get these console roles (every matching rule's
/// roles, together).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRule {
    pub matcher: RuleMatch,
    pub roles: Vec<crate::auth::Scope>,
}

/// `[oauth]`: people sign in with their own Odoo login and API key (issue 17).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOauth {
    #[serde(default)]
    enabled: bool,
    key_env: Option<String>,
    key_file: Option<PathBuf>,
    default_profile: Option<String>,
    #[serde(default)]
    profile_rules: Vec<RawProfileRule>,
    access_token_ttl_secs: Option<u64>,
    refresh_token_ttl_days: Option<u64>,
    /// Client ID metadata documents may be fetched from private and loopback addresses.
    #[serde(default)]
    allow_private_client_metadata: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfileRule {
    group: Option<String>,
    login: Option<String>,
    profile: String,
}

/// OAuth sign-in, when `[oauth] enabled = true`.
#[derive(Debug, Clone)]
pub struct OauthConfig {
    /// Seals people's Odoo API keys at rest (and authenticates the sign-in form).
    pub seal: crate::oauth::KeySeal,
    /// The profile of people no rule matches; `None`: they are refused.
    pub default_profile: Option<String>,
    /// First match wins.
    pub rules: Vec<ProfileRule>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub allow_private_client_metadata: bool,
}

/// `[[oauth.profile_rules]]`: people matching get `profile`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileRule {
    pub matcher: RuleMatch,
    pub profile: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleMatch {
    /// Membership of the Odoo group with this XML id (`sales_team.group_sale_manager`).
    Group(String),
    /// This Odoo login.
    Login(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    /// Requests per minute from one client address, before authentication (caps key guessing
    /// and argon2 work).
    #[serde(default = "default_per_ip")]
    per_ip_per_minute: u32,
    #[serde(default = "default_per_ip_burst")]
    per_ip_burst: u32,
    /// Proxies whose `X-Forwarded-For` is believed (addresses or CIDR ranges).
    #[serde(default)]
    trusted_proxies: Vec<String>,
}

impl Default for RawLimits {
    fn default() -> Self {
        Self {
            per_ip_per_minute: default_per_ip(),
            per_ip_burst: default_per_ip_burst(),
            trusted_proxies: Vec::new(),
        }
    }
}

fn default_per_ip() -> u32 {
    1200
}
fn default_per_ip_burst() -> u32 {
    120
}

/// `[limits]`: the per-address limit and the proxies trusted for `X-Forwarded-For`.
#[derive(Debug, Clone)]
pub struct LimitsConfig {
    pub per_ip_per_minute: u32,
    pub per_ip_burst: u32,
    pub trusted_proxies: Vec<(std::net::IpAddr, u8)>,
}

/// A profile's limits: requests and writes per minute for each of its keys.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub per_minute: u32,
    pub burst: u32,
    pub writes_per_minute: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            per_minute: 600,
            burst: 60,
            writes_per_minute: 30,
        }
    }
}

/// Parses `10.0.0.0/8`, `192.168.1.7`, `::1`, `fd00::/8`.
fn parse_cidr(s: &str) -> Option<(std::net::IpAddr, u8)> {
    let (addr, bits) = match s.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let ip: std::net::IpAddr = addr.trim().parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        Some(b) => b.trim().parse::<u8>().ok().filter(|b| *b <= max)?,
        None => max,
    };
    Some((ip, bits))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfirm {
    #[serde(default = "default_elicitation_timeout")]
    elicitation_timeout_secs: u64,
    #[serde(default = "default_approval_ttl")]
    approval_ttl_secs: u64,
    /// How long a call that asked for an approval waits for the decision before answering
    /// `pending_approval` (0: answer at once; the assistant calls again with the approval id).
    #[serde(default)]
    approval_wait_secs: u64,
    #[serde(default)]
    without_elicitation: WithoutElicitation,
    /// Environment variable holding the secret that seals MRTR state (needed when several
    /// instances serve one client; otherwise a random key per process).
    state_key_env: Option<String>,
}

impl Default for RawConfirm {
    fn default() -> Self {
        Self {
            elicitation_timeout_secs: default_elicitation_timeout(),
            approval_ttl_secs: default_approval_ttl(),
            approval_wait_secs: 0,
            without_elicitation: WithoutElicitation::default(),
            state_key_env: None,
        }
    }
}

fn default_elicitation_timeout() -> u64 {
    120
}
fn default_approval_ttl() -> u64 {
    3600
}

/// `[confirm]`: how writes are confirmed.
#[derive(Debug, Clone)]
pub struct ConfirmConfig {
    pub elicitation_timeout: Duration,
    pub approval_ttl: Duration,
    pub approval_wait: Duration,
    pub without_elicitation: WithoutElicitation,
    pub state_key: Option<[u8; 32]>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    #[serde(default = "default_listen")]
    listen: String,
    #[serde(default = "default_admin_listen")]
    admin_listen: String,
    public_url: Option<String>,
    #[serde(default)]
    allowed_origins: Vec<String>,
    #[serde(default = "default_max_body")]
    max_body_bytes: usize,
    #[serde(default = "default_request_timeout")]
    request_timeout_secs: u64,
    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish.
    #[serde(default = "default_shutdown_grace")]
    shutdown_grace_secs: u64,
    /// Slow clients (both listeners): see `crate::listener`.
    #[serde(default = "default_header_read_timeout")]
    header_read_timeout_secs: u64,
    #[serde(default = "default_body_read_timeout")]
    body_read_timeout_secs: u64,
    #[serde(default = "default_idle_timeout")]
    idle_timeout_secs: u64,
    #[serde(default = "default_max_connections")]
    max_connections: usize,
    /// HTTPS on both listeners (PEM files; both or neither): see `crate::tls`.
    tls_cert_file: Option<PathBuf>,
    tls_key_file: Option<PathBuf>,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            admin_listen: default_admin_listen(),
            public_url: None,
            allowed_origins: Vec::new(),
            max_body_bytes: default_max_body(),
            request_timeout_secs: default_request_timeout(),
            shutdown_grace_secs: default_shutdown_grace(),
            header_read_timeout_secs: default_header_read_timeout(),
            body_read_timeout_secs: default_body_read_timeout(),
            idle_timeout_secs: default_idle_timeout(),
            max_connections: default_max_connections(),
            tls_cert_file: None,
            tls_key_file: None,
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:8808".into()
}
fn default_admin_listen() -> String {
    "127.0.0.1:8809".into()
}
fn default_max_body() -> usize {
    1024 * 1024
}
fn default_request_timeout() -> u64 {
    // Longer than the default elicitation timeout (120 s): a call waits for its user.
    300
}
fn default_shutdown_grace() -> u64 {
    30
}
fn default_header_read_timeout() -> u64 {
    10
}
fn default_body_read_timeout() -> u64 {
    30
}
fn default_idle_timeout() -> u64 {
    60
}
fn default_max_connections() -> usize {
    1024
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    #[serde(default = "default_store_url")]
    url: String,
}

impl Default for RawStore {
    fn default() -> Self {
        Self {
            url: default_store_url(),
        }
    }
}

fn default_store_url() -> String {
    "sqlite://odoo-warden.db".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOdoo {
    url: String,
    database: String,
    #[serde(default)]
    protocol: ProtocolChoice,
    #[serde(default = "default_odoo_timeout")]
    timeout_secs: u64,
    /// Requests in a row that find Odoo unreachable before the circuit opens (0: never).
    #[serde(default = "default_circuit_failures")]
    circuit_failures: u32,
    /// How long an open circuit refuses requests before it tries one (doubling, at most 60 s).
    #[serde(default = "default_circuit_cooldown")]
    circuit_cooldown_secs: u64,
}

fn default_odoo_timeout() -> u64 {
    30
}
fn default_circuit_failures() -> u32 {
    crate::odoo::BreakerSettings::default().failures
}
fn default_circuit_cooldown() -> u64 {
    crate::odoo::BreakerSettings::default().cooldown.as_secs()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    odoo_login: String,
    odoo_api_key_env: Option<String>,
    odoo_api_key_file: Option<PathBuf>,
    policy: Option<PathBuf>,
    rate_limit: Option<RawRateLimit>,
    /// Accept an Odoo administrator as this profile's user (logged as a warning at every start).
    #[serde(default)]
    allow_privileged_user: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    pub per_minute: Option<u32>,
    pub burst: Option<u32>,
    pub writes_per_minute: Option<u32>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: Option<PathBuf>,
    pub server: ServerConfig,
    pub store_url: String,
    pub odoo: ClientConfig,
    pub profiles: BTreeMap<String, Profile>,
    pub confirm: ConfirmConfig,
    pub limits: LimitsConfig,
    /// `None` unless `[oauth] enabled = true`.
    pub oauth: Option<OauthConfig>,
    /// `[[console.role_rules]]`: empty, nobody signs in to the console as a person.
    pub console_roles: Vec<RoleRule>,
    /// `[console] recheck_secs`: a person's session is verified with Odoo again this often.
    pub console_recheck: Duration,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    /// As configured; see [`ServerConfig::public_url`].
    pub configured_public_url: Option<Url>,
    /// Further origins accepted on `/mcp` (scheme://host[:port], lower case), besides the public
    /// URL's.
    pub allowed_origins: Vec<String>,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub shutdown_grace: Duration,
    /// What a client may hold on each listener.
    pub connections: crate::listener::Limits,
    /// HTTPS on both listeners when set (the files are read by `crate::tls::Tls::load`).
    pub tls: Option<crate::tls::TlsFiles>,
}

impl ServerConfig {
    /// The URL clients use: as configured, else derived from the listen address (call after
    /// binding when the port is 0).
    pub fn public_url(&self) -> Url {
        if let Some(u) = &self.configured_public_url {
            return u.clone();
        }
        let ip = self.listen.ip();
        let host = if ip.is_unspecified() {
            "127.0.0.1".to_string()
        } else if ip.is_ipv6() {
            format!("[{ip}]")
        } else {
            ip.to_string()
        };
        // A host and a port always make a valid URL; fall back to loopback defensively.
        #[allow(clippy::expect_used)]
        Url::parse(&format!(
            "{}://{host}:{}",
            self.scheme(),
            self.listen.port()
        ))
        .unwrap_or_else(|_| Url::parse("http://127.0.0.1").expect("static URL parses"))
    }

    /// How the listeners speak: `https` with TLS configured, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// Every origin accepted on `/mcp`: the public URL's and the configured ones.
    pub fn origins(&self) -> Vec<String> {
        let mut out = vec![origin_of(&self.public_url())];
        out.extend(self.allowed_origins.iter().cloned());
        out
    }
}

/// What a key acts as: an Odoo user and (later) a policy and rate limits.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub credentials: Credentials,
    pub policy: Option<PathBuf>,
    pub rate_limit: RateLimit,
    pub allow_privileged_user: bool,
}

impl Config {
    /// The config path: `--config`, else `$ODOO_WARDEN_CONFIG`, else `./odoo-warden.toml`.
    pub fn default_path() -> PathBuf {
        std::env::var_os("ODOO_WARDEN_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("odoo-warden.toml"))
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            err(format!(
                "cannot read the config file {}: {e}\n  hint: pass --config PATH, set ODOO_WARDEN_CONFIG, or run `odoo-warden serve --odoo-url ... --odoo-database ... --odoo-login ...` without a file",
                path.display()
            ))
        })?;
        Self::parse(&text, Some(path))
    }

    /// Loads the file for commands that never call Odoo (`keys`): the profiles' Odoo API keys need
    /// not be available, and are not read.
    pub fn load_without_secrets(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            err(format!(
                "cannot read the config file {}: {e}",
                path.display()
            ))
        })?;
        let mut config =
            Self::parse_with_env(&text, Some(path), &|_| Some("not-read".to_string()))?;
        for p in config.profiles.values_mut() {
            p.credentials.api_key = Secret::new("");
        }
        Ok(config)
    }

    pub fn parse(text: &str, source: Option<&Path>) -> Result<Self, ConfigError> {
        Self::parse_with_env(text, source, &|var| std::env::var(var).ok())
    }

    /// As [`parse`](Self::parse), reading environment variables through `env`.
    pub fn parse_with_env(
        text: &str,
        source: Option<&Path>,
        env: &Env,
    ) -> Result<Self, ConfigError> {
        let name = source
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "config".into());
        let raw: RawConfig = toml::from_str(text).map_err(|e| err(format!("{name}: {e}")))?;
        let base_dir = source.and_then(Path::parent).map(Path::to_path_buf);
        compile(raw, source.map(Path::to_path_buf), base_dir.as_deref(), env)
    }

    /// A one-profile configuration from command-line flags (the quick start).
    pub fn from_flags(
        odoo_url: &str,
        database: &str,
        login: &str,
        api_key_env: &str,
        listen: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let mut profiles = BTreeMap::new();
        profiles.insert(
            "default".to_string(),
            RawProfile {
                odoo_login: login.to_string(),
                odoo_api_key_env: Some(api_key_env.to_string()),
                odoo_api_key_file: None,
                policy: None,
                rate_limit: None,
                allow_privileged_user: false,
            },
        );
        let mut server = RawServer::default();
        if let Some(listen) = listen {
            server.listen = listen.to_string();
        }
        let raw = RawConfig {
            server,
            store: RawStore::default(),
            odoo: RawOdoo {
                url: odoo_url.to_string(),
                database: database.to_string(),
                protocol: ProtocolChoice::Auto,
                timeout_secs: default_odoo_timeout(),
                circuit_failures: default_circuit_failures(),
                circuit_cooldown_secs: default_circuit_cooldown(),
            },
            profiles,
            confirm: RawConfirm::default(),
            limits: RawLimits::default(),
            oauth: RawOauth::default(),
            console: RawConsole::default(),
        };
        compile(raw, None, None, &|var| std::env::var(var).ok())
    }
}

/// A variable name no environment holds (it contains NUL): answered only when secrets are not to
/// be read at all.
const NO_SECRETS_PROBE: &str = "\0odoo-warden-no-secrets";

/// How configuration reads environment variables (injectable for tests).
pub type Env = dyn Fn(&str) -> Option<String>;

fn compile(
    raw: RawConfig,
    source: Option<PathBuf>,
    base_dir: Option<&Path>,
    env: &Env,
) -> Result<Config, ConfigError> {
    let listen: SocketAddr = raw.server.listen.parse().map_err(|_| {
        err(format!(
            "[server] listen = \"{}\" is not an address:port such as \"127.0.0.1:8808\"",
            raw.server.listen
        ))
    })?;
    let admin_listen: SocketAddr = raw.server.admin_listen.parse().map_err(|_| {
        err(format!(
            "[server] admin_listen = \"{}\" is not an address:port such as \"127.0.0.1:8809\"",
            raw.server.admin_listen
        ))
    })?;
    let public_url = match &raw.server.public_url {
        Some(u) => Some(
            Url::parse(u)
                .map_err(|e| err(format!("[server] public_url = \"{u}\" is not a URL: {e}")))?,
        ),
        None => None,
    };
    let mut allowed_origins = Vec::new();
    for o in &raw.server.allowed_origins {
        let url = Url::parse(o).map_err(|e| {
            err(format!("[server] allowed_origins: \"{o}\" is not an origin such as \"https://claude.ai\": {e}"))
        })?;
        allowed_origins.push(origin_of(&url));
    }
    if raw.server.max_body_bytes < 1024 {
        return Err(err("[server] max_body_bytes must be at least 1024"));
    }
    if raw.server.request_timeout_secs == 0 {
        return Err(err("[server] request_timeout_secs must be at least 1"));
    }
    for (key, v) in [
        (
            "header_read_timeout_secs",
            raw.server.header_read_timeout_secs,
        ),
        ("body_read_timeout_secs", raw.server.body_read_timeout_secs),
        ("idle_timeout_secs", raw.server.idle_timeout_secs),
    ] {
        if v == 0 || v > 3600 {
            return Err(err(format!(
                "[server] {key} must be between 1 and 3600 seconds, not {v}"
            )));
        }
    }
    let tls = match (raw.server.tls_cert_file, raw.server.tls_key_file) {
        (Some(cert), Some(key)) => Some(crate::tls::TlsFiles {
            cert: resolve(base_dir, cert),
            key: resolve(base_dir, key),
        }),
        (None, None) => None,
        (Some(_), None) => {
            return Err(err(
                "[server] tls_cert_file is set without tls_key_file: add tls_key_file = \"PATH\" (the certificate's private key, PEM), or remove tls_cert_file to serve plain HTTP",
            ));
        }
        (None, Some(_)) => {
            return Err(err(
                "[server] tls_key_file is set without tls_cert_file: add tls_cert_file = \"PATH\" (the certificate chain, PEM, the server's certificate first), or remove tls_key_file to serve plain HTTP",
            ));
        }
    };
    if raw.server.max_connections < 8 {
        return Err(err(format!(
            "[server] max_connections must be at least 8, not {}",
            raw.server.max_connections
        )));
    }

    let url = Url::parse(&raw.odoo.url).map_err(|e| {
        err(format!(
            "[odoo] url = \"{}\" is not a URL: {e}",
            raw.odoo.url
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(err(format!(
            "[odoo] url must start with http:// or https://, not \"{}\"",
            raw.odoo.url
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(err(
            "[odoo] url must not carry a user name or password; profiles hold the Odoo credentials",
        ));
    }
    if raw.odoo.database.trim().is_empty() {
        return Err(err("[odoo] database must name the Odoo database"));
    }
    if raw.odoo.timeout_secs == 0 {
        return Err(err("[odoo] timeout_secs must be at least 1"));
    }
    if !(1..=60).contains(&raw.odoo.circuit_cooldown_secs) {
        return Err(err(format!(
            "[odoo] circuit_cooldown_secs = {}: use 1 to 60 (seconds an unreachable Odoo is left alone before one request tries it)",
            raw.odoo.circuit_cooldown_secs
        )));
    }
    let odoo = ClientConfig {
        url,
        database: raw.odoo.database,
        protocol: raw.odoo.protocol,
        timeout: Duration::from_secs(raw.odoo.timeout_secs),
        circuit: crate::odoo::BreakerSettings {
            failures: raw.odoo.circuit_failures,
            cooldown: Duration::from_secs(raw.odoo.circuit_cooldown_secs),
        },
    };

    if raw.profiles.is_empty() {
        return Err(err(
            "no profile is configured: add a [profiles.NAME] table with odoo_login and odoo_api_key_env (or odoo_api_key_file)",
        ));
    }
    if raw.confirm.elicitation_timeout_secs == 0 || raw.confirm.approval_ttl_secs == 0 {
        return Err(err(
            "[confirm] elicitation_timeout_secs and approval_ttl_secs must be at least 1",
        ));
    }
    let state_key = match &raw.confirm.state_key_env {
        None => None,
        Some(var) => {
            let secret = env(var).ok_or_else(|| {
                err(format!("[confirm] state_key_env = \"{var}\", but the environment variable {var} is not set"))
            })?;
            if secret.trim().len() < 32 {
                return Err(err(format!(
                    "[confirm] state_key_env: {var} must hold at least 32 characters of random secret"
                )));
            }
            let digest: [u8; 32] = sha2::Sha256::digest(secret.trim().as_bytes()).into();
            Some(digest)
        }
    };
    if raw.limits.per_ip_per_minute == 0 || raw.limits.per_ip_burst == 0 {
        return Err(err(
            "[limits] per_ip_per_minute and per_ip_burst must be at least 1",
        ));
    }
    let mut trusted_proxies = Vec::new();
    for p in &raw.limits.trusted_proxies {
        trusted_proxies.push(parse_cidr(p).ok_or_else(|| {
            err(format!("[limits] trusted_proxies: \"{p}\" is not an address or a CIDR range such as 10.0.0.0/8"))
        })?);
    }
    let limits = LimitsConfig {
        per_ip_per_minute: raw.limits.per_ip_per_minute,
        per_ip_burst: raw.limits.per_ip_burst,
        trusted_proxies,
    };
    if raw.confirm.elicitation_timeout_secs >= raw.server.request_timeout_secs {
        return Err(err(format!(
            "[confirm] elicitation_timeout_secs ({}) must be shorter than [server] request_timeout_secs ({}): a call must not be stopped while its user is confirming",
            raw.confirm.elicitation_timeout_secs, raw.server.request_timeout_secs
        )));
    }
    if raw.confirm.approval_wait_secs > 0
        && (raw.confirm.approval_wait_secs >= raw.server.request_timeout_secs
            || raw.confirm.approval_wait_secs >= raw.confirm.approval_ttl_secs)
    {
        return Err(err(format!(
            "[confirm] approval_wait_secs ({}) must be shorter than [server] request_timeout_secs ({}) and [confirm] approval_ttl_secs ({}): a call must not be stopped, nor its approval expire, while it waits for the decision",
            raw.confirm.approval_wait_secs,
            raw.server.request_timeout_secs,
            raw.confirm.approval_ttl_secs
        )));
    }
    let confirm = ConfirmConfig {
        elicitation_timeout: Duration::from_secs(raw.confirm.elicitation_timeout_secs),
        approval_ttl: Duration::from_secs(raw.confirm.approval_ttl_secs),
        approval_wait: Duration::from_secs(raw.confirm.approval_wait_secs),
        without_elicitation: raw.confirm.without_elicitation,
        state_key,
    };
    let mut profiles = BTreeMap::new();
    for (name, p) in raw.profiles {
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(err(format!(
                "[profiles.{name}]: profile names use only letters, digits, '-' and '_'"
            )));
        }
        if p.odoo_login.trim().is_empty() {
            return Err(err(format!("[profiles.{name}] odoo_login is empty")));
        }
        let defaults = RateLimit::default();
        let rate_limit = match &p.rate_limit {
            None => defaults,
            Some(r) => RateLimit {
                per_minute: r.per_minute.unwrap_or(defaults.per_minute),
                burst: r.burst.unwrap_or(defaults.burst),
                writes_per_minute: r.writes_per_minute.unwrap_or(defaults.writes_per_minute),
            },
        };
        if rate_limit.per_minute == 0 || rate_limit.burst == 0 || rate_limit.writes_per_minute == 0
        {
            return Err(err(format!(
                "[profiles.{name}] rate_limit: per_minute, burst and writes_per_minute must be at least 1"
            )));
        }
        let api_key = read_secret(&name, &p, base_dir, env)?;
        let policy = p.policy.map(|path| resolve(base_dir, path));
        profiles.insert(
            name.clone(),
            Profile {
                name,
                credentials: Credentials::new(p.odoo_login, api_key),
                policy,
                rate_limit,
                allow_privileged_user: p.allow_privileged_user,
            },
        );
    }
    let oauth = compile_oauth(
        raw.oauth,
        &profiles,
        listen,
        public_url.as_ref(),
        base_dir,
        env,
    )?;
    if !(1..=86_400).contains(&raw.console.recheck_secs) {
        return Err(err(format!(
            "[console] recheck_secs = {}: use 1 to 86400 (seconds between checks of a signed-in person's Odoo key)",
            raw.console.recheck_secs
        )));
    }
    let console_recheck = Duration::from_secs(raw.console.recheck_secs);
    let console_roles = compile_console_roles(raw.console)?;
    Ok(Config {
        source,
        oauth,
        console_roles,
        console_recheck,
        server: ServerConfig {
            listen,
            admin_listen,
            configured_public_url: public_url,
            allowed_origins,
            max_body_bytes: raw.server.max_body_bytes,
            request_timeout: Duration::from_secs(raw.server.request_timeout_secs),
            shutdown_grace: Duration::from_secs(raw.server.shutdown_grace_secs),
            connections: crate::listener::Limits {
                header_read_timeout: Duration::from_secs(raw.server.header_read_timeout_secs),
                body_read_timeout: Duration::from_secs(raw.server.body_read_timeout_secs),
                idle_timeout: Duration::from_secs(raw.server.idle_timeout_secs),
                max_connections: raw.server.max_connections,
            },
            tls,
        },
        store_url: raw.store.url,
        confirm,
        limits,
        odoo,
        profiles,
    })
}

/// A rule's matcher: exactly one of an Odoo group XML id or a login.
fn rule_match(
    at: &str,
    group: Option<String>,
    login: Option<String>,
) -> Result<RuleMatch, ConfigError> {
    match (group, login) {
        (Some(g), None)
            if g.split_once('.')
                .is_some_and(|(m, n)| !m.is_empty() && !n.is_empty()) =>
        {
            Ok(RuleMatch::Group(g))
        }
        (Some(g), None) => Err(err(format!(
            "{at}: group = \"{g}\" is not an Odoo group XML id such as \"sales_team.group_sale_manager\""
        ))),
        (None, Some(l)) if !l.trim().is_empty() => Ok(RuleMatch::Login(l.trim().to_string())),
        (None, Some(_)) => Err(err(format!("{at}: login is empty"))),
        _ => Err(err(format!(
            "{at} needs exactly one of group (an Odoo group XML id) or login"
        ))),
    }
}

fn compile_console_roles(raw: RawConsole) -> Result<Vec<RoleRule>, ConfigError> {
    use crate::auth::Scope;
    let mut rules = Vec::new();
    for (i, r) in raw.role_rules.into_iter().enumerate() {
        let at = format!("[[console.role_rules]] #{}", i + 1);
        let matcher = rule_match(&at, r.group, r.login)?;
        let mut roles = Vec::new();
        for role in &r.roles {
            match Scope::parse(role) {
                Some(s @ (Scope::Audit | Scope::Approve | Scope::Admin)) => {
                    if !roles.contains(&s) {
                        roles.push(s);
                    }
                }
                _ => {
                    return Err(err(format!(
                        "{at}: role \"{role}\" is not a console role (use audit, approve or admin; assistants sign in through OAuth, not the console)"
                    )));
                }
            }
        }
        if roles.is_empty() {
            return Err(err(format!(
                "{at}: roles is empty: name at least one of audit, approve, admin"
            )));
        }
        rules.push(RoleRule { matcher, roles });
    }
    Ok(rules)
}

fn compile_oauth(
    raw: RawOauth,
    profiles: &BTreeMap<String, Profile>,
    listen: SocketAddr,
    public_url: Option<&Url>,
    base_dir: Option<&Path>,
    env: &Env,
) -> Result<Option<OauthConfig>, ConfigError> {
    if !raw.enabled {
        return Ok(None);
    }
    let known = |what: &str, name: &str| {
        if profiles.contains_key(name) {
            Ok(())
        } else {
            Err(err(format!(
                "[oauth] {what} = \"{name}\" names no profile (configured: {})",
                profiles.keys().cloned().collect::<Vec<_>>().join(", ")
            )))
        }
    };
    if let Some(p) = &raw.default_profile {
        known("default_profile", p)?;
    }
    let mut rules = Vec::new();
    for (i, r) in raw.profile_rules.into_iter().enumerate() {
        let at = format!("[[oauth.profile_rules]] #{}", i + 1);
        known(&format!("{at} profile"), &r.profile)?;
        let matcher = rule_match(&at, r.group, r.login)?;
        rules.push(ProfileRule {
            matcher,
            profile: r.profile,
        });
    }
    if rules.is_empty() && raw.default_profile.is_none() {
        return Err(err(
            "[oauth] gives nobody a profile: set default_profile, or add [[oauth.profile_rules]]",
        ));
    }
    let key_text = match (&raw.key_env, &raw.key_file) {
        (Some(_), Some(_)) => {
            return Err(err("[oauth] sets both key_env and key_file: keep one"));
        }
        (None, None) => {
            return Err(err(
                "[oauth] needs key_env (an environment variable) or key_file holding 32 random bytes in base64, which seal people's Odoo keys (make one with `openssl rand -base64 32`); the key never goes in the config file",
            ));
        }
        // Commands that never serve (`keys`) do not read it.
        _ if env(NO_SECRETS_PROBE).is_some() => crate::oauth::KeySeal::generate_base64(),
        (Some(var), None) => env(var).ok_or_else(|| {
            err(format!(
                "[oauth] key_env = \"{var}\", but the environment variable {var} is not set"
            ))
        })?,
        (None, Some(file)) => {
            let path = resolve(base_dir, file.clone());
            std::fs::read_to_string(&path).map_err(|e| {
                err(format!(
                    "[oauth] key_file: cannot read {}: {e}",
                    path.display()
                ))
            })?
        }
    };
    let seal = crate::oauth::KeySeal::from_base64(&key_text)
        .map_err(|e| err(format!("[oauth] key_env/key_file: {e}")))?;
    let access = raw.access_token_ttl_secs.unwrap_or(900);
    if !(60..=3600).contains(&access) {
        return Err(err(
            "[oauth] access_token_ttl_secs must be between 60 and 3600 (access tokens are short-lived; refresh tokens renew them)",
        ));
    }
    let refresh_days = raw.refresh_token_ttl_days.unwrap_or(30);
    if !(1..=365).contains(&refresh_days) {
        return Err(err(
            "[oauth] refresh_token_ttl_days must be between 1 and 365",
        ));
    }
    // OAuth 2.1: the issuer is HTTPS, except on a loopback address (local testing).
    match public_url {
        Some(u) if u.scheme() == "https" => {}
        Some(u) if is_loopback_url(u) => {}
        Some(u) => {
            return Err(err(format!(
                "[oauth] needs an https [server] public_url (OAuth clients refuse a plain-http authorization server; \"{u}\" is neither https nor loopback): serve TLS ([server] tls_cert_file) or put a TLS reverse proxy in front and set public_url to its https URL"
            )));
        }
        None if listen.ip().is_loopback() => {}
        None => {
            return Err(err(format!(
                "[oauth] needs [server] public_url when listening on {listen}: it is the issuer people's clients are sent to (an https URL)"
            )));
        }
    }
    Ok(Some(OauthConfig {
        seal,
        default_profile: raw.default_profile,
        rules,
        access_ttl: Duration::from_secs(access),
        refresh_ttl: Duration::from_secs(refresh_days * 86_400),
        allow_private_client_metadata: raw.allow_private_client_metadata,
    }))
}

fn is_loopback_url(u: &Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn resolve(base_dir: Option<&Path>, path: PathBuf) -> PathBuf {
    match base_dir {
        Some(dir) if path.is_relative() && !dir.as_os_str().is_empty() => dir.join(path),
        _ => path,
    }
}

fn read_secret(
    name: &str,
    p: &RawProfile,
    base_dir: Option<&Path>,
    env: &Env,
) -> Result<Secret, ConfigError> {
    let value = match (&p.odoo_api_key_env, &p.odoo_api_key_file) {
        (Some(_), Some(_)) => {
            return Err(err(format!(
                "[profiles.{name}] sets both odoo_api_key_env and odoo_api_key_file: keep one"
            )));
        }
        (None, None) => {
            return Err(err(format!(
                "[profiles.{name}] needs odoo_api_key_env (an environment variable holding the Odoo API key) or odoo_api_key_file; the key itself never goes in the config file"
            )));
        }
        (Some(var), None) => env(var).ok_or_else(|| {
            err(format!(
                "[profiles.{name}] odoo_api_key_env = \"{var}\", but the environment variable {var} is not set"
            ))
        })?,
        // `load_without_secrets` answers this probe (no real variable can be named so): the key
        // file is then not read either.
        (None, Some(_)) if env(NO_SECRETS_PROBE).is_some() => "not-read".to_string(),
        (None, Some(file)) => {
            let path = resolve(base_dir, file.clone());
            std::fs::read_to_string(&path).map_err(|e| {
                err(format!("[profiles.{name}] odoo_api_key_file: cannot read {}: {e}", path.display()))
            })?
        }
    };
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err(err(format!("[profiles.{name}]: the Odoo API key is empty")));
    }
    Ok(Secret::new(value))
}

/// `scheme://host[:port]` of a URL, lower case, default ports left out (as browsers send Origin).
pub fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization().to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[server]
listen = "127.0.0.1:8808"
allowed_origins = ["https://Claude.ai"]

[odoo]
url = "http://127.0.0.1:8069"
database = "prod"

[profiles.sales]
odoo_login = "mcp-bot"
odoo_api_key_env = "OW_TEST_KEY"
"#;

    fn env(var: &str) -> Option<String> {
        (var == "OW_TEST_KEY").then(|| " k3y\n".to_string())
    }

    #[test]
    fn parses_and_validates() {
        let c = Config::parse_with_env(BASE, None, &env).unwrap();
        assert_eq!(c.server.listen.port(), 8808);
        assert_eq!(
            c.server.origins(),
            vec!["http://127.0.0.1:8808", "https://claude.ai"]
        );
        assert_eq!(c.profiles["sales"].credentials.api_key.expose(), "k3y");
        assert_eq!(c.odoo.timeout, Duration::from_secs(30));
        assert_eq!(c.store_url, "sqlite://odoo-warden.db");
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (
                BASE.replace("listen = \"127.0.0.1:8808\"", "listen = \"nowhere\""),
                "[server] listen",
            ),
            (
                BASE.replace("database = \"prod\"", "database = \"\""),
                "[odoo] database",
            ),
            (
                BASE.replace("OW_TEST_KEY", "OW_OTHER_KEY"),
                "OW_OTHER_KEY is not set",
            ),
            (
                BASE.replace("[odoo]", "[odoo]\nbogus = 1"),
                "unknown field `bogus`",
            ),
            (
                BASE.replace("url = \"http://127.0.0.1:8069\"", "url = \"ftp://x\""),
                "[odoo] url",
            ),
            (
                BASE.replace(
                    "odoo_login = \"mcp-bot\"",
                    "odoo_login = \"mcp-bot\"\nodoo_api_key = \"inline\"",
                ),
                "unknown field `odoo_api_key`",
            ),
            ("[odoo\nurl=1".to_string(), "line 1"),
            (
                BASE.replace("[profiles.sales]", "[profiles.\"a b\"]"),
                "profile names",
            ),
            (
                format!("{BASE}\n[confirm]\napproval_wait_secs = 300\n"),
                "[confirm] approval_wait_secs (300) must be shorter",
            ),
            (
                format!("{BASE}\n[[console.role_rules]]\nlogin = \"ana\"\nroles = [\"mcp\"]\n"),
                "role \"mcp\" is not a console role",
            ),
            (
                format!("{BASE}\n[[console.role_rules]]\ngroup = \"nodot\"\nroles = [\"audit\"]\n"),
                "[[console.role_rules]] #1: group = \"nodot\" is not an Odoo group XML id",
            ),
            (
                format!("{BASE}\n[[console.role_rules]]\nlogin = \"ana\"\nroles = []\n"),
                "roles is empty",
            ),
            (
                format!(
                    "{BASE}\n[[console.role_rules]]\nlogin = \"ana\"\ngroup = \"a.b\"\nroles = [\"audit\"]\n"
                ),
                "needs exactly one of group",
            ),
            (
                format!("{BASE}\n[console]\nrecheck_secs = 0\n"),
                "[console] recheck_secs = 0",
            ),
        ];
        for (text, want) in cases {
            let e = Config::parse_with_env(&text, None, &env)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{want:?} not in {e:?}");
        }
    }

    const OAUTH_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    fn oauth_env(var: &str) -> Option<String> {
        match var {
            "OW_OAUTH" => Some(OAUTH_KEY.to_string()),
            "OW_SHORT" => Some("c2hvcnQ=".to_string()),
            _ => env(var),
        }
    }

    #[test]
    fn oauth_is_off_unless_enabled_and_its_rules_are_checked() {
        let c = Config::parse_with_env(BASE, None, &env).unwrap();
        assert!(c.oauth.is_none(), "off by default");
        let on = format!(
            "{BASE}\n[oauth]\nenabled = true\nkey_env = \"OW_OAUTH\"\ndefault_profile = \"sales\"\n[[oauth.profile_rules]]\ngroup = \"sales_team.group_sale_manager\"\nprofile = \"sales\"\n[[oauth.profile_rules]]\nlogin = \"alice\"\nprofile = \"sales\"\n"
        );
        let c = Config::parse_with_env(&on, None, &oauth_env).unwrap();
        let o = c.oauth.unwrap();
        assert_eq!(o.default_profile.as_deref(), Some("sales"));
        assert_eq!(
            o.rules
                .iter()
                .map(|r| r.matcher.clone())
                .collect::<Vec<_>>(),
            vec![
                RuleMatch::Group("sales_team.group_sale_manager".into()),
                RuleMatch::Login("alice".into())
            ]
        );
        assert_eq!(o.access_ttl, Duration::from_secs(900));
        assert!(
            !format!("{o:?}").contains(OAUTH_KEY),
            "the key never prints"
        );
        // `enabled = false` with the rest present: off.
        let off = on.replace("enabled = true", "enabled = false");
        assert!(
            Config::parse_with_env(&off, None, &oauth_env)
                .unwrap()
                .oauth
                .is_none()
        );

        let cases = [
            (on.replace("key_env = \"OW_OAUTH\"\n", ""), "needs key_env"),
            (on.replace("OW_OAUTH", "OW_UNSET"), "OW_UNSET is not set"),
            (on.replace("OW_OAUTH", "OW_SHORT"), "32 random bytes"),
            (
                on.replace("default_profile = \"sales\"", "default_profile = \"nope\""),
                "default_profile = \"nope\" names no profile",
            ),
            (
                on.replace(
                    "group = \"sales_team.group_sale_manager\"",
                    "group = \"managers\"",
                ),
                "not an Odoo group XML id",
            ),
            (
                on.replace("login = \"alice\"\n", ""),
                "needs exactly one of group",
            ),
            (
                on.replace(
                    "[server]\n",
                    "[server]\npublic_url = \"http://warden.example.com\"\n",
                ),
                "needs an https [server] public_url",
            ),
            (
                on.replace("127.0.0.1:8808", "0.0.0.0:8808"),
                "needs [server] public_url",
            ),
            (
                format!("{BASE}\n[oauth]\nenabled = true\nkey_env = \"OW_OAUTH\"\n"),
                "gives nobody a profile",
            ),
            (
                on.replace("enabled = true", "enabled = true\nsurprise = 1"),
                "unknown field `surprise`",
            ),
        ];
        for (text, want) in cases {
            let e = Config::parse_with_env(&text, None, &oauth_env)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{want:?} not in {e:?}");
        }
        // An https public URL is accepted on any listen address.
        let public = on.replace("127.0.0.1:8808", "0.0.0.0:8808").replace(
            "[server]\n",
            "[server]\npublic_url = \"https://warden.example.com\"\n",
        );
        assert!(
            Config::parse_with_env(&public, None, &oauth_env)
                .unwrap()
                .oauth
                .is_some()
        );
    }

    #[test]
    fn tls_files_come_in_pairs() {
        let with = |lines: &str| BASE.replace("[server]\n", &format!("[server]\n{lines}\n"));
        let only_cert = Config::parse_with_env(&with("tls_cert_file = \"c.pem\""), None, &env)
            .unwrap_err()
            .to_string();
        assert!(
            only_cert.contains("tls_cert_file is set without tls_key_file")
                && only_cert.contains("add tls_key_file"),
            "{only_cert}"
        );
        let only_key = Config::parse_with_env(&with("tls_key_file = \"k.pem\""), None, &env)
            .unwrap_err()
            .to_string();
        assert!(
            only_key.contains("tls_key_file is set without tls_cert_file")
                && only_key.contains("add tls_cert_file"),
            "{only_key}"
        );

        // Neither: plain HTTP.
        let plain = Config::parse_with_env(BASE, None, &env).unwrap();
        assert_eq!(plain.server.tls, None);
        assert_eq!(plain.server.public_url().scheme(), "http");

        // Both: paths relative to the config file; the derived public URL and origin are https.
        let both = with("tls_cert_file = \"tls/cert.pem\"\ntls_key_file = \"/etc/ow/key.pem\"");
        let c = Config::parse_with_env(&both, Some(Path::new("/srv/ow/odoo-warden.toml")), &env)
            .unwrap();
        assert_eq!(
            c.server.tls,
            Some(crate::tls::TlsFiles {
                cert: PathBuf::from("/srv/ow/tls/cert.pem"),
                key: PathBuf::from("/etc/ow/key.pem"),
            })
        );
        assert_eq!(c.server.public_url().as_str(), "https://127.0.0.1:8808/");
        assert_eq!(
            c.server.origins(),
            vec!["https://127.0.0.1:8808", "https://claude.ai"]
        );
        // A configured public URL (a proxy's name) stays as it is.
        let proxied = both.replace(
            "[server]\n",
            "[server]\npublic_url = \"https://mcp.example.com\"\n",
        );
        let c = Config::parse_with_env(&proxied, None, &env).unwrap();
        assert_eq!(c.server.public_url().as_str(), "https://mcp.example.com/");
    }
}
