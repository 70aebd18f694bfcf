//! Odoo client for Odoo 16 to 20 over JSON-2 (19+) and `/jsonrpc` (16+).
//!
//! [`OdooClient`] is shared by everything that talks to one Odoo server: one connection pool, the
//! server's version and protocol detected once. [`OdooClient::login`] turns [`Credentials`] into an
//! [`OdooUser`], a handle that makes every call *as that Odoo user*: the client knows users, not
//! the profiles or keys that chose them.
//!
//! ```no_run
//! # async fn demo() -> Result<(), odoo_warden::odoo::OdooError> {
//! use odoo_warden::odoo::{ClientConfig, Credentials, OdooClient, SearchRead};
//! use odoo_warden::secret::Secret;
//! let client = OdooClient::new(ClientConfig::new("http://127.0.0.1:8069".parse().unwrap(), "prod"))?;
//! let user = client.login(&Credentials::new("mcp-bot", Secret::new("api-key"))).await?;
//! let partners = user
//!     .search_read("res.partner", &SearchRead::new(serde_json::json!([]), ["name"]).limit(5))
//!     .await?;
//! # Ok(()) }
//! ```

mod breaker;
pub mod dialect;
pub mod domain;
pub mod error;
mod transport;
pub mod version;

pub use breaker::{BreakerSettings, CircuitState};
pub use dialect::{GroupedRead, MethodCall, Operation, Protocol, ProtocolChoice};
pub use error::{ErrorKind, OdooError};
pub use version::OdooVersion;

use crate::secret::Secret;
use dialect::Dialect;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;
use transport::Http;
use url::Url;

/// Where Odoo is and how to talk to it.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub url: Url,
    pub database: String,
    pub protocol: ProtocolChoice,
    /// Applies to every call, connection included.
    pub timeout: Duration,
    /// When to stop sending requests to an Odoo that does not answer.
    pub circuit: BreakerSettings,
}

impl ClientConfig {
    pub fn new(url: Url, database: impl Into<String>) -> Self {
        Self {
            url,
            database: database.into(),
            protocol: ProtocolChoice::Auto,
            timeout: Duration::from_secs(30),
            circuit: BreakerSettings::default(),
        }
    }
}

/// An Odoo login and its API key.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub login: String,
    pub api_key: Secret,
}

impl Credentials {
    pub fn new(login: impl Into<String>, api_key: Secret) -> Self {
        Self {
            login: login.into(),
            api_key,
        }
    }
}

/// The server as detected: its version and the protocol in use.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub version: OdooVersion,
    pub protocol: Protocol,
}

/// A client for one Odoo server and database. Cheap to clone; clones share the pool and the
/// detected server.
#[derive(Clone)]
pub struct OdooClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    http: Http,
    choice: ProtocolChoice,
    server: OnceCell<(ServerInfo, Dialect)>,
}

impl std::fmt::Debug for OdooClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OdooClient")
            .field("database", &self.inner.http.database())
            .field("protocol", &self.inner.choice)
            .finish_non_exhaustive()
    }
}

impl OdooClient {
    pub fn new(config: ClientConfig) -> Result<Self, OdooError> {
        if !config.url.username().is_empty() || config.url.password().is_some() {
            return Err(OdooError::new(
                ErrorKind::BadRequest,
                "the Odoo URL must not carry a user name or password; use a profile's API key",
            ));
        }
        if !matches!(config.url.scheme(), "http" | "https") {
            return Err(OdooError::new(
                ErrorKind::BadRequest,
                format!(
                    "the Odoo URL must start with http:// or https://, not {}",
                    config.url.scheme()
                ),
            ));
        }
        Ok(Self {
            inner: Arc::new(ClientInner {
                http: Http::new(config.url, config.database, config.timeout, config.circuit)?,
                choice: config.protocol,
                server: OnceCell::new(),
            }),
        })
    }

    /// Detects (once) the server's version and the protocol to use: `GET /web/version`, else
    /// `common.version` over `/jsonrpc`. A failed detection is not cached.
    pub async fn server_info(&self) -> Result<ServerInfo, OdooError> {
        Ok(self.server().await?.0.clone())
    }

    async fn server(&self) -> Result<&(ServerInfo, Dialect), OdooError> {
        self.inner
            .server
            .get_or_try_init(|| async {
                let version = self.detect_version().await?;
                let protocol = match self.inner.choice {
                    ProtocolChoice::Auto if version.has_json2() => Protocol::Json2,
                    ProtocolChoice::Auto | ProtocolChoice::Jsonrpc => Protocol::Jsonrpc,
                    ProtocolChoice::Json2 if version.has_json2() => Protocol::Json2,
                    ProtocolChoice::Json2 => {
                        return Err(OdooError::new(
                            ErrorKind::BadRequest,
                            format!(
                                "[odoo] protocol = \"json2\" but this Odoo is {version}; JSON-2 needs Odoo 19 or later: use \"auto\" or \"jsonrpc\""
                            ),
                        ));
                    }
                };
                Ok((
                    ServerInfo {
                        version: version.clone(),
                        protocol,
                    },
                    Dialect::new(version),
                ))
            })
            .await
    }

    async fn detect_version(&self) -> Result<OdooVersion, OdooError> {
        let from_web = match self.inner.http.web_version().await {
            Ok(answer) => parse_version_answer(&answer, "version"),
            // Nobody there at all: no point asking /jsonrpc.
            Err(e) if matches!(e.kind, ErrorKind::Transport | ErrorKind::Timeout) => {
                return Err(e);
            }
            Err(_) => None,
        };
        if let Some(v) = from_web {
            return Ok(v);
        }
        let answer = self.inner.http.jsonrpc("common", "version", vec![]).await?;
        parse_version_answer(&answer, "server_version").ok_or_else(|| {
            OdooError::new(
                ErrorKind::Transport,
                "Odoo's common.version answer carries no version this client understands",
            )
        })
    }

    /// Asks Odoo for its version, live (readiness probes): `common.version` answers on every
    /// version without credentials.
    /// The circuit breaker in front of this Odoo ([`BreakerSettings`]).
    pub fn circuit(&self) -> CircuitState {
        self.inner.http.circuit()
    }

    pub async fn ping(&self) -> Result<(), OdooError> {
        self.inner
            .http
            .jsonrpc("common", "version", vec![])
            .await
            .map(|_| ())
    }

    /// Authenticates `credentials` and returns a handle that calls Odoo as that user. Fails with
    /// [`ErrorKind::Credentials`] when Odoo refuses the login or key.
    pub async fn login(&self, credentials: &Credentials) -> Result<OdooUser, OdooError> {
        let (info, _) = self.server().await?;
        let mut user = OdooUser {
            client: self.clone(),
            uid: 0,
            login: credentials.login.clone(),
            api_key: credentials.api_key.clone(),
            context: Map::new(),
            refused: Arc::default(),
        };
        match info.protocol {
            Protocol::Jsonrpc => {
                let db = self.inner.http.database().to_string();
                let answer = self
                    .inner
                    .http
                    .jsonrpc(
                        "common",
                        "authenticate",
                        vec![
                            json!(db),
                            json!(credentials.login),
                            json!(credentials.api_key.expose()),
                            json!({}),
                        ],
                    )
                    .await?;
                user.uid = match answer.as_i64() {
                    Some(uid) if uid > 0 => uid,
                    _ => {
                        return Err(OdooError::new(
                            ErrorKind::Credentials,
                            format!(
                                "Odoo refused the login \"{}\" with this API key (common.authenticate answered false): check the login and the API key",
                                credentials.login
                            ),
                        ));
                    }
                };
                let ctx = user
                    .execute("res.users", "context_get", None, Map::new())
                    .await?;
                user.context = base_context(&ctx);
            }
            Protocol::Json2 => {
                let ctx = user
                    .execute("res.users", "context_get", None, Map::new())
                    .await?;
                user.uid = ctx.get("uid").and_then(Value::as_i64).ok_or_else(|| {
                    OdooError::new(
                        ErrorKind::Transport,
                        "Odoo's context_get answer carries no uid",
                    )
                })?;
                user.context = base_context(&ctx);
                // A JSON-2 key identifies its user by itself: make sure it is the configured one.
                let rows = user.read("res.users", &[user.uid], &["login"]).await?;
                let login = rows
                    .first()
                    .and_then(|r| r.get("login"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if login != credentials.login {
                    return Err(OdooError::new(
                        ErrorKind::Credentials,
                        format!(
                            "the API key configured for login \"{}\" belongs to another Odoo user (\"{login}\")",
                            credentials.login
                        ),
                    ));
                }
            }
        }
        Ok(user)
    }
}

fn parse_version_answer(answer: &Value, key: &str) -> Option<OdooVersion> {
    answer
        .get(key)
        .and_then(Value::as_str)
        .and_then(OdooVersion::parse)
        .or_else(|| {
            let info = answer
                .get("version_info")
                .or_else(|| answer.get("server_version_info"))?;
            OdooVersion::from_info(info)
        })
}

/// The context every call carries: the user's language and time zone.
fn base_context(ctx: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    for key in ["lang", "tz"] {
        if let Some(v) = ctx.get(key).filter(|v| v.is_string()) {
            out.insert(key.to_string(), v.clone());
        }
    }
    out
}

/// Parameters of a `search_read`. Fields are always named: Odoo 19 refuses an all-fields read to
/// most users, and naming them keeps answers small.
#[derive(Debug, Clone)]
pub struct SearchRead {
    pub domain: Value,
    pub fields: Vec<String>,
    pub limit: u64,
    pub offset: u64,
    pub order: Option<String>,
    /// Extra context keys (already checked by the caller), merged over the user's context.
    pub context: Map<String, Value>,
    /// The many2one fields among `fields`, and whether their target's label is wanted
    /// ([`OdooUser::search_page`] asks Odoo 17+ for it only then).
    pub many2one: Vec<(String, bool)>,
}

impl SearchRead {
    /// Defaults to a limit of 80 records, Odoo's own page size.
    pub fn new<I, S>(domain: Value, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            domain,
            fields: fields.into_iter().map(Into::into).collect(),
            limit: 80,
            offset: 0,
            order: None,
            context: Map::new(),
            many2one: Vec::new(),
        }
    }

    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = limit;
        self
    }

    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    pub fn order(mut self, order: impl Into<String>) -> Self {
        self.order = Some(order.into());
        self
    }
}

/// A field as `fields_get` describes it.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct FieldInfo {
    #[serde(rename = "type")]
    pub field_type: String,
    #[serde(default)]
    pub string: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub readonly: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relation: Option<String>,
    /// `[[value, label], ...]` for selection fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// For a related field (and a field inherited through `_inherits`), the path it copies, such
    /// as `country_id.code`: its value is another model's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related: Option<String>,
}

/// The attributes asked of `fields_get`: what [`FieldInfo`] holds, what a computed field is
/// computed from (`depends`, so that the policy can follow derived data), and for a
/// `many2one_reference` the field naming its model (`model_field`).
pub const FIELD_ATTRIBUTES: [&str; 10] = [
    "string",
    "type",
    "required",
    "readonly",
    "relation",
    "selection",
    "help",
    "related",
    "depends",
    "model_field",
];

/// Who the client is logged in as.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Identity {
    pub uid: i64,
    pub name: String,
    pub login: String,
    pub tz: Option<String>,
    pub lang: Option<String>,
    pub company: Option<Company>,
    pub companies: Vec<Company>,
    /// The user's groups as XML ids (`base.group_user`), when the user may read them
    /// (`ir.model.data`, which most users may not).
    pub groups: Option<Vec<String>>,
    /// The user's groups by name (`Sales / User: Own Documents Only`): internal users may read
    /// `res.groups` names. Empty when even those are not readable.
    pub group_names: Vec<String>,
    /// A portal or public user.
    pub share: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Company {
    pub id: i64,
    pub name: String,
}

/// A logged-in Odoo user: every call made through it runs as that user.
#[derive(Clone)]
pub struct OdooUser {
    client: OdooClient,
    uid: i64,
    login: String,
    api_key: Secret,
    context: Map<String, Value>,
    /// Set once Odoo refuses this user's key on a call (shared by the user's copies): a person's
    /// session is then dropped and their grants end (`oauth::people`).
    refused: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for OdooUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OdooUser")
            .field("uid", &self.uid)
            .field("login", &self.login)
            .finish_non_exhaustive()
    }
}

impl OdooUser {
    pub fn uid(&self) -> i64 {
        self.uid
    }

    pub fn login(&self) -> &str {
        &self.login
    }

    /// Whether Odoo refused this user's key on some call since the login.
    pub fn key_refused(&self) -> bool {
        self.refused.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The context sent with every call (`lang`, `tz`).
    pub fn context(&self) -> &Map<String, Value> {
        &self.context
    }

    /// The same user with `extra` merged over its context for every call made through the copy
    /// (keys already checked by the caller).
    pub fn with_context(&self, extra: &Map<String, Value>) -> OdooUser {
        let mut user = self.clone();
        for (k, v) in extra {
            user.context.insert(k.clone(), v.clone());
        }
        user
    }

    pub async fn server_info(&self) -> Result<ServerInfo, OdooError> {
        self.client.server_info().await
    }

    /// Calls `model.method` as this user: `ids` for methods that act on records, keyword
    /// arguments for the rest. The user's context is merged under any `context` in `kwargs`.
    /// This is the one door to Odoo; the typed operations below go through it.
    pub async fn execute(
        &self,
        model: &str,
        method: &str,
        ids: Option<&[i64]>,
        kwargs: Map<String, Value>,
    ) -> Result<Value, OdooError> {
        self.execute_positional(model, method, ids, kwargs, &[])
            .await
    }

    /// As [`execute`](Self::execute); over `/jsonrpc`, the keyword arguments named in
    /// `positional` are sent positionally, in that order (for methods whose overrides do not keep
    /// the parameter name, such as `create(vals_list)` / `create(vals)`).
    async fn execute_positional(
        &self,
        model: &str,
        method: &str,
        ids: Option<&[i64]>,
        mut kwargs: Map<String, Value>,
        positional: &[&str],
    ) -> Result<Value, OdooError> {
        check_model_name(model)?;
        check_method_name(method)?;
        let (info, _) = self.client.server().await?;
        let mut context = self.context.clone();
        if let Some(Value::Object(extra)) = kwargs.remove("context") {
            context.extend(extra);
        }
        kwargs.insert("context".into(), Value::Object(context));
        let http = &self.client.inner.http;
        let answer = match info.protocol {
            Protocol::Json2 => {
                if let Some(ids) = ids {
                    kwargs.insert("ids".into(), json!(ids));
                }
                http.json2(&self.api_key, model, method, kwargs).await
            }
            Protocol::Jsonrpc => {
                let mut args = Vec::new();
                if let Some(ids) = ids {
                    args.push(json!(ids));
                }
                for name in positional {
                    args.push(kwargs.remove(*name).unwrap_or(Value::Null));
                }
                let db = http.database().to_string();
                http.jsonrpc(
                    "object",
                    "execute_kw",
                    vec![
                        json!(db),
                        json!(self.uid),
                        json!(self.api_key.expose()),
                        json!(model),
                        json!(method),
                        Value::Array(args),
                        Value::Object(kwargs),
                    ],
                )
                .await
            }
        };
        if let Err(e) = &answer
            && e.kind == ErrorKind::Credentials
        {
            self.refused
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        answer
    }

    /// The user's name, login, language, time zone, companies and (when readable) groups.
    pub async fn whoami(&self) -> Result<Identity, OdooError> {
        let (_, dialect) = self.client.server().await?;
        let groups_field = dialect.user_groups_field();
        let rows = self
            .read(
                "res.users",
                &[self.uid],
                &[
                    "name",
                    "login",
                    "tz",
                    "lang",
                    "company_id",
                    "company_ids",
                    "share",
                    groups_field,
                ],
            )
            .await?;
        let row = rows.into_iter().next().ok_or_else(|| {
            OdooError::new(
                ErrorKind::Missing,
                format!("Odoo has no user with id {}", self.uid),
            )
        })?;
        let company = many2one(row.get("company_id"));
        let company_ids = ids_of(row.get("company_ids"));
        let companies = if company_ids.is_empty() {
            company.iter().cloned().collect()
        } else {
            match self.read("res.company", &company_ids, &["name"]).await {
                Ok(rows) => rows
                    .iter()
                    .filter_map(|r| {
                        Some(Company {
                            id: r.get("id")?.as_i64()?,
                            name: r.get("name")?.as_str()?.to_string(),
                        })
                    })
                    .collect(),
                Err(e) if e.kind == ErrorKind::Access => company.iter().cloned().collect(),
                Err(e) => return Err(e),
            }
        };
        let group_ids = ids_of(row.get(groups_field));
        let groups = self.group_xml_ids(&group_ids).await?;
        let group_names = self.group_names(&group_ids).await?;
        Ok(Identity {
            uid: self.uid,
            name: str_of(row.get("name")).unwrap_or_default(),
            login: str_of(row.get("login")).unwrap_or_else(|| self.login.clone()),
            tz: str_of(row.get("tz")),
            lang: str_of(row.get("lang")),
            company,
            companies,
            groups,
            group_names,
            share: row.get("share").and_then(Value::as_bool).unwrap_or(false),
        })
    }

    /// XML ids of groups through `ir.model.data`; `None` when this user may not read it.
    async fn group_xml_ids(&self, group_ids: &[i64]) -> Result<Option<Vec<String>>, OdooError> {
        if group_ids.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let query = SearchRead::new(
            json!([["model", "=", "res.groups"], ["res_id", "in", group_ids]]),
            ["module", "name"],
        )
        .limit(10_000);
        match self.search_read("ir.model.data", &query).await {
            Ok(rows) => {
                let mut names: Vec<String> = rows
                    .iter()
                    .filter_map(|r| {
                        Some(format!(
                            "{}.{}",
                            r.get("module")?.as_str()?,
                            r.get("name")?.as_str()?
                        ))
                    })
                    .collect();
                names.sort();
                Ok(Some(names))
            }
            Err(e) if matches!(e.kind, ErrorKind::Access | ErrorKind::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Names of groups (their display names, with the application: `Sales / Administrator`),
    /// sorted; empty when this user may not read `res.groups`.
    async fn group_names(&self, group_ids: &[i64]) -> Result<Vec<String>, OdooError> {
        if group_ids.is_empty() {
            return Ok(Vec::new());
        }
        match self.read("res.groups", group_ids, &["display_name"]).await {
            Ok(rows) => {
                let mut names: Vec<String> = rows
                    .iter()
                    .filter_map(|r| r.get("display_name")?.as_str().map(str::to_string))
                    .collect();
                names.sort();
                Ok(names)
            }
            Err(e) if matches!(e.kind, ErrorKind::Access | ErrorKind::NotFound) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Whether this user belongs to the group with this XML id (`base.group_system`).
    /// Works for users who cannot read `ir.model.data`.
    pub async fn has_group(&self, xml_id: &str) -> Result<bool, OdooError> {
        let (_, dialect) = self.client.server().await?;
        let call = dialect.has_group(self.uid, xml_id);
        let answer = self
            .execute_positional(
                "res.users",
                call.method,
                call.ids.as_deref(),
                call.kwargs,
                &["group_ext_id"],
            )
            .await?;
        Ok(answer.as_bool().unwrap_or(false))
    }

    /// Field definitions of `model`, all fields or the ones named.
    pub async fn fields_get(
        &self,
        model: &str,
        fields: Option<&[String]>,
    ) -> Result<Map<String, Value>, OdooError> {
        let mut kwargs = Map::new();
        if let Some(fields) = fields {
            kwargs.insert("allfields".into(), json!(fields));
        }
        kwargs.insert("attributes".into(), json!(FIELD_ATTRIBUTES));
        match self.execute(model, "fields_get", None, kwargs).await? {
            Value::Object(map) => Ok(map),
            _ => Err(unexpected(model, "fields_get", "an object")),
        }
    }

    /// As [`fields_get`](Self::fields_get), typed.
    pub async fn field_infos(
        &self,
        model: &str,
        fields: Option<&[String]>,
    ) -> Result<Vec<(String, FieldInfo)>, OdooError> {
        let map = self.fields_get(model, fields).await?;
        Ok(map
            .into_iter()
            .filter_map(|(name, v)| serde_json::from_value(v).ok().map(|info| (name, info)))
            .collect())
    }

    pub async fn search_read(
        &self,
        model: &str,
        q: &SearchRead,
    ) -> Result<Vec<Map<String, Value>>, OdooError> {
        if q.fields.is_empty() {
            return Err(OdooError::new(
                ErrorKind::BadRequest,
                "search_read needs the fields to read named",
            ));
        }
        let mut kwargs = Map::new();
        kwargs.insert("domain".into(), q.domain.clone());
        kwargs.insert("fields".into(), json!(q.fields));
        kwargs.insert("limit".into(), json!(q.limit));
        if q.offset > 0 {
            kwargs.insert("offset".into(), json!(q.offset));
        }
        if let Some(order) = &q.order {
            kwargs.insert("order".into(), json!(order));
        }
        if !q.context.is_empty() {
            kwargs.insert("context".into(), Value::Object(q.context.clone()));
        }
        records(
            self.execute(model, "search_read", None, kwargs).await?,
            model,
            "search_read",
        )
    }

    /// A page of records and how many match in all, in one Odoo request (`web_search_read`,
    /// [`Dialect::search_page`]). An empty page past the first (`offset` > 0) says nothing of the
    /// total: then a `search_count` tells it (a second request, in that case only).
    pub async fn search_page(
        &self,
        model: &str,
        q: &SearchRead,
    ) -> Result<(Vec<Map<String, Value>>, u64), OdooError> {
        if q.fields.is_empty() {
            return Err(OdooError::new(
                ErrorKind::BadRequest,
                "web_search_read needs the fields to read named",
            ));
        }
        let (_, dialect) = self.client.server().await?;
        let mut call = dialect.search_page(q);
        if !q.context.is_empty() {
            call.kwargs
                .insert("context".into(), Value::Object(q.context.clone()));
        }
        let answer = self.execute(model, call.method, None, call.kwargs).await?;
        let (records, length) = dialect
            .normalize_page(q, answer)
            .ok_or_else(|| unexpected(model, call.method, "a page of records and its length"))?;
        if records.is_empty() && q.offset > 0 {
            let total = self.search_count(model, &q.domain, &q.context).await?;
            return Ok((records, total));
        }
        Ok((records, length))
    }

    pub async fn search_count(
        &self,
        model: &str,
        domain: &Value,
        context: &Map<String, Value>,
    ) -> Result<u64, OdooError> {
        let mut kwargs = Map::new();
        kwargs.insert("domain".into(), domain.clone());
        if !context.is_empty() {
            kwargs.insert("context".into(), Value::Object(context.clone()));
        }
        self.execute(model, "search_count", None, kwargs)
            .await?
            .as_u64()
            .ok_or_else(|| unexpected(model, "search_count", "a count"))
    }

    /// Ids matching `domain` (used to check that records lie inside a restriction).
    pub async fn search(
        &self,
        model: &str,
        domain: &Value,
        limit: Option<u64>,
    ) -> Result<Vec<i64>, OdooError> {
        let mut kwargs = Map::new();
        kwargs.insert("domain".into(), domain.clone());
        if let Some(limit) = limit {
            kwargs.insert("limit".into(), json!(limit));
        }
        let answer = self.execute(model, "search", None, kwargs).await?;
        Ok(ids_of(Some(&answer)))
    }

    /// Reads `fields` of records by id. Ids that do not exist (any more) are left out, as Odoo does.
    pub async fn read(
        &self,
        model: &str,
        ids: &[i64],
        fields: &[&str],
    ) -> Result<Vec<Map<String, Value>>, OdooError> {
        let mut kwargs = Map::new();
        kwargs.insert("fields".into(), json!(fields));
        records(
            self.execute(model, "read", Some(ids), kwargs).await?,
            model,
            "read",
        )
    }

    /// Grouped aggregates, one shape on every version (see [`Dialect::normalize_groups`]).
    pub async fn grouped_read(
        &self,
        model: &str,
        q: &GroupedRead,
    ) -> Result<Vec<Map<String, Value>>, OdooError> {
        let (_, dialect) = self.client.server().await?;
        let call = dialect.grouped_read(q);
        let answer = self
            .execute(model, call.method, call.ids.as_deref(), call.kwargs)
            .await?;
        if !answer.is_array() {
            return Err(unexpected(model, call.method, "a list of groups"));
        }
        Ok(dialect.normalize_groups(q, answer))
    }

    /// Creates records; returns their ids in order.
    pub async fn create(
        &self,
        model: &str,
        vals_list: Vec<Map<String, Value>>,
    ) -> Result<Vec<i64>, OdooError> {
        let n = vals_list.len();
        let mut kwargs = Map::new();
        kwargs.insert(
            "vals_list".into(),
            Value::Array(vals_list.into_iter().map(Value::Object).collect()),
        );
        let answer = self
            .execute_positional(model, "create", None, kwargs, &["vals_list"])
            .await?;
        let ids = match &answer {
            Value::Number(_) => ids_of(Some(&json!([answer]))),
            _ => ids_of(Some(&answer)),
        };
        if ids.len() != n {
            return Err(unexpected(model, "create", "one id per record"));
        }
        Ok(ids)
    }

    pub async fn write(
        &self,
        model: &str,
        ids: &[i64],
        vals: Map<String, Value>,
    ) -> Result<bool, OdooError> {
        let mut kwargs = Map::new();
        kwargs.insert("vals".into(), Value::Object(vals));
        let answer = self
            .execute_positional(model, "write", Some(ids), kwargs, &["vals"])
            .await?;
        Ok(answer.as_bool().unwrap_or(false))
    }

    pub async fn unlink(&self, model: &str, ids: &[i64]) -> Result<bool, OdooError> {
        let answer = self.execute(model, "unlink", Some(ids), Map::new()).await?;
        Ok(answer.as_bool().unwrap_or(false))
    }

    /// Calls a public business method on records (`sale.order.action_confirm`).
    pub async fn call_method(
        &self,
        model: &str,
        method: &str,
        ids: &[i64],
        kwargs: Map<String, Value>,
    ) -> Result<Value, OdooError> {
        self.execute(model, method, Some(ids), kwargs).await
    }

    /// Whether Odoo's access rights let this user perform `operation` on `model` at all.
    pub async fn check_access(&self, model: &str, operation: Operation) -> Result<bool, OdooError> {
        let (_, dialect) = self.client.server().await?;
        let call = dialect.access_check(operation);
        let answer = self
            .execute(model, call.method, call.ids.as_deref(), call.kwargs)
            .await?;
        Ok(answer.as_bool().unwrap_or(false))
    }
}

/// Model names as Odoo spells them (`res.partner`, `x_custom.model`); anything else never reaches a
/// URL path.
fn check_model_name(model: &str) -> Result<(), OdooError> {
    let ok = !model.is_empty()
        && model.len() <= 128
        && model
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_')
        && !model.starts_with('.')
        && !model.ends_with('.');
    if ok {
        Ok(())
    } else {
        Err(OdooError::new(
            ErrorKind::BadRequest,
            format!("\"{model}\" is not a valid Odoo model name"),
        ))
    }
}

/// Public method names only: Odoo refuses `_private` ones remotely, and so do we, before asking.
fn check_method_name(method: &str) -> Result<(), OdooError> {
    if method.starts_with('_') {
        return Err(OdooError::new(
            ErrorKind::Access,
            format!("private methods (such as {method}) cannot be called remotely"),
        ));
    }
    let ok = !method.is_empty()
        && method.len() <= 128
        && method
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(OdooError::new(
            ErrorKind::BadRequest,
            format!("\"{method}\" is not a valid Odoo method name"),
        ))
    }
}

fn unexpected(model: &str, method: &str, wanted: &str) -> OdooError {
    OdooError::new(
        ErrorKind::Transport,
        format!("Odoo's answer to {model}.{method} is not {wanted}"),
    )
}

fn records(answer: Value, model: &str, method: &str) -> Result<Vec<Map<String, Value>>, OdooError> {
    match answer {
        Value::Array(rows) => Ok(rows
            .into_iter()
            .filter_map(|r| match r {
                Value::Object(m) => Some(m),
                _ => None,
            })
            .collect()),
        _ => Err(unexpected(model, method, "a list of records")),
    }
}

fn ids_of(v: Option<&Value>) -> Vec<i64> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

fn str_of(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

/// `[id, "name"]` or `false`.
fn many2one(v: Option<&Value>) -> Option<Company> {
    let pair = v?.as_array()?;
    Some(Company {
        id: pair.first()?.as_i64()?,
        name: pair.get(1)?.as_str()?.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_any_call() {
        for ok in [
            "res.partner",
            "sale.order.line",
            "x_custom_model",
            "ir.model.data",
        ] {
            assert!(check_model_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Res.Partner",
            "res/partner",
            "../web",
            "res.partner?x=1",
            ".x",
            "x.",
        ] {
            assert!(check_model_name(bad).is_err(), "{bad}");
        }
        assert!(check_method_name("action_confirm").is_ok());
        assert_eq!(
            check_method_name("_compute_display_name").unwrap_err().kind,
            ErrorKind::Access
        );
        assert_eq!(
            check_method_name("a/b").unwrap_err().kind,
            ErrorKind::BadRequest
        );
    }
}
