//! The authorization endpoint: a server-rendered sign-in and consent page (no JavaScript).
//!
//! `GET /oauth/authorize` checks the request (client, exact redirect URI, PKCE S256, resource)
//! and shows the form; a request in error is shown to the person, never redirected. The request
//! travels in the hidden `request` field, sealed with an HMAC under a key derived from the
//! operator's OAuth key (any instance sharing it accepts the form, and nothing in it can be
//! changed); it lasts ten minutes. The hidden `csrf` field is an HMAC of a random
//! `SameSite=Strict`, `HttpOnly` cookie. `POST` checks both, then: `decision=deny` answers the
//! client `access_denied`; `decision=allow` verifies `login` and `odoo_api_key` against Odoo
//! (failures are rate limited per login and per address, and audited), stores the person and
//! sends the client its code. Only the person's own answers (deny, allow) are redirected
//! (RFC 6749 §4.1.2.1, RFC 9700 §4.11.2).

use super::clients::Client;
use super::{Record, SignIn};
use crate::audit::{AuditHandle, kind};
use crate::middleware::ratelimit::ClientAddr;
use crate::oauth::grants::CodeRequest;
use crate::oauth::people::PersonRefusal;
use crate::secret::Secret;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;

/// How long a served form can be submitted.
const FORM_TTL_SECS: i64 = 600;
/// The CSRF cookie.
const COOKIE: &str = "owarden_signin";

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;padding:2rem 1rem;color:#1d2330}main{max-width:30rem;margin:auto;background:#fff;padding:1.5rem 2rem;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.15)}h1{font-size:1.1rem;color:#714b67}dt{font-weight:600;margin-top:.6rem}dd{margin:0}label{display:block;font-weight:600;margin-top:1rem}input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem;border:1px solid #9aa0aa;border-radius:4px}.hint,.small{font-size:.85rem;color:#555}.error{background:#fdecea;border-left:4px solid #c0392b;padding:.5rem .8rem}.buttons{display:flex;gap:.8rem;margin-top:1.2rem}button{font-size:1rem;padding:.55rem 1.4rem;border-radius:4px;border:0;background:#714b67;color:#fff;cursor:pointer}button.secondary{background:#e4e6ea;color:#1d2330}code{word-break:break-all}";

/// The page template, rendered with HTML escaping.
pub(super) struct Pages {
    env: minijinja::Environment<'static>,
    /// `'sha256-...'` of [`STYLE`], for the Content-Security-Policy.
    style_hash: String,
}

impl Pages {
    pub fn new() -> Result<Self, String> {
        let mut env = minijinja::Environment::new();
        env.add_template("page.html", include_str!("page.html"))
            .map_err(|e| format!("the sign-in page template: {e}"))?;
        Ok(Self {
            env,
            style_hash: format!("'sha256-{}'", STANDARD.encode(Sha256::digest(STYLE))),
        })
    }

    fn render(&self, ctx: minijinja::Value) -> String {
        self.env
            .get_template("page.html")
            .and_then(|t| t.render(ctx))
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "the sign-in page did not render");
                "<!doctype html><title>odoo-warden</title><p>The sign-in page cannot be shown; see odoo-warden's log.</p>".to_string()
            })
    }
}

/// An authorization request, as checked by `GET` and sealed into the form.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AuthRequest {
    client_id: String,
    client_name: String,
    redirect_uri: String,
    challenge: String,
    state: Option<String>,
    resource: String,
    scope: String,
    /// Unix seconds after which the form is refused.
    exp: i64,
}

fn mac(key: &[u8; 32], purpose: &str, data: &str) -> Vec<u8> {
    let mut m = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return Vec::new(),
    };
    m.update(purpose.as_bytes());
    m.update(b"\n");
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

fn mac_matches(key: &[u8; 32], purpose: &str, data: &str, tag_b64: &str) -> bool {
    let Ok(tag) = URL_SAFE_NO_PAD.decode(tag_b64) else {
        return false;
    };
    let Ok(mut m) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        return false;
    };
    m.update(purpose.as_bytes());
    m.update(b"\n");
    m.update(data.as_bytes());
    m.verify_slice(&tag).is_ok()
}

impl SignIn {
    fn form_key(&self) -> &[u8; 32] {
        self.people.config().seal.form_key()
    }

    fn seal_request(&self, r: &AuthRequest) -> String {
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(r).unwrap_or_default());
        let tag = URL_SAFE_NO_PAD.encode(mac(self.form_key(), "authorize-request", &body));
        format!("{body}.{tag}")
    }

    fn open_request(&self, sealed: &str) -> Option<AuthRequest> {
        let (body, tag) = sealed.split_once('.')?;
        if !mac_matches(self.form_key(), "authorize-request", body, tag) {
            return None;
        }
        let r: AuthRequest = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
        (r.exp >= OffsetDateTime::now_utc().unix_timestamp()).then_some(r)
    }

    fn csrf_for(&self, cookie: &str) -> String {
        URL_SAFE_NO_PAD.encode(mac(self.form_key(), "csrf", cookie))
    }
}

/// The CSRF cookie's value, if the browser sent one.
fn cookie_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, v)| *k == COOKIE && v.len() == 43)
        .map(|(_, v)| v.to_string())
}

fn new_cookie() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    URL_SAFE_NO_PAD.encode(raw)
}

/// What a page shows.
struct View<'a> {
    request: Option<(&'a AuthRequest, String)>,
    login: &'a str,
    error: Option<String>,
    problem: Option<String>,
}

/// The origin (or, for a private-use scheme, the scheme) a redirect URI goes to: shown to the
/// person, and allowed as the form's target in the CSP.
fn redirect_target(uri: &str) -> (String, String) {
    match url::Url::parse(uri) {
        // CSP host sources cannot name IPv6 literals: the scheme stands in for them.
        Ok(u) if matches!(u.host(), Some(url::Host::Ipv6(_))) => (
            u.host_str().unwrap_or("").to_string(),
            format!("{}:", u.scheme()),
        ),
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {
            let origin = u.origin().ascii_serialization();
            (u.host_str().unwrap_or("").to_string(), origin)
        }
        Ok(u) => (
            format!("the app ({}:)", u.scheme()),
            format!("{}:", u.scheme()),
        ),
        Err(_) => (String::new(), String::new()),
    }
}

impl SignIn {
    fn page(&self, status: StatusCode, view: View<'_>, cookie: Option<&str>) -> Response {
        let refresh_days = self.people.config().refresh_ttl.as_secs() / 86_400;
        let (client_name, redirect_host, sealed, form_target) = match &view.request {
            Some((r, sealed)) => {
                let (host, target) = redirect_target(&r.redirect_uri);
                (r.client_name.clone(), host, sealed.clone(), target)
            }
            None => (String::new(), String::new(), String::new(), String::new()),
        };
        let csrf = cookie.map(|c| self.csrf_for(c)).unwrap_or_default();
        let html = self.pages.render(minijinja::context! {
            style => STYLE,
            problem => view.problem,
            error => view.error,
            client_name => client_name,
            redirect_host => redirect_host,
            request => sealed,
            csrf => csrf,
            login => view.login,
            refresh_days => refresh_days,
            issuer => self.issuer,
        });
        let mut r = (status, html).into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        // The form posts here and is then redirected to the client: both are allowed targets.
        let csp = format!(
            "default-src 'none'; style-src {}; form-action 'self' {form_target}; frame-ancestors 'none'; base-uri 'none'",
            self.pages.style_hash
        );
        if let Ok(v) = HeaderValue::from_str(csp.trim()) {
            h.insert(header::CONTENT_SECURITY_POLICY, v);
        }
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(c) = cookie {
            let secure = if self.secure_cookies { "; Secure" } else { "" };
            let value = format!(
                "{COOKIE}={c}; Path=/oauth; HttpOnly; SameSite=Strict; Max-Age=3600{secure}"
            );
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(header::SET_COOKIE, v);
            }
        }
        r
    }

    fn problem_page(&self, status: StatusCode, problem: String) -> Response {
        self.page(
            status,
            View {
                request: None,
                login: "",
                error: None,
                problem: Some(problem),
            },
            None,
        )
    }
}

/// A 303 to the client's redirect URI with these parameters (plus `state` and `iss`).
fn redirect(r: &AuthRequest, issuer: &str, params: &[(&str, &str)]) -> Response {
    let mut url = match url::Url::parse(&r.redirect_uri) {
        Ok(u) => u,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
        if let Some(s) = &r.state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", issuer);
    }
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(url.as_str()) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The query's parameters; a parameter given twice is refused (RFC 6749 §3.1).
fn params(query: Option<&str>) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if out.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(format!("the parameter {k} is given twice"));
        }
    }
    Ok(out)
}

/// `GET /oauth/authorize`.
pub(super) async fn show(
    State(st): State<Arc<SignIn>>,
    audit: Option<axum::Extension<AuditHandle>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let audit = audit.map(|a| a.0);
    let q = match params(query.as_deref()) {
        Ok(q) => q,
        Err(why) => return st.refuse_page(audit.as_ref(), "", why).await,
    };
    let client_id = q.get("client_id").cloned().unwrap_or_default();
    if client_id.is_empty() {
        return st
            .refuse_page(audit.as_ref(), "", "the request names no client_id".into())
            .await;
    }
    let client: Client = match st.clients.find(&client_id).await {
        Ok(c) => c,
        Err(why) => return st.refuse_page(audit.as_ref(), &client_id, why).await,
    };
    let redirect_uri = match q.get("redirect_uri") {
        Some(u) if client.redirect_uris.iter().any(|r| r == u) => u.clone(),
        Some(_) => {
            let why = format!(
                "the redirect URI is not one {} registered (they must match exactly)",
                client.name
            );
            return st.refuse_page(audit.as_ref(), &client_id, why).await;
        }
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => {
            return st
                .refuse_page(
                    audit.as_ref(),
                    &client_id,
                    "redirect_uri is required (the client registered several)".into(),
                )
                .await;
        }
    };
    let mut request = AuthRequest {
        client_id: client.id.clone(),
        client_name: client.name.clone(),
        redirect_uri,
        challenge: q.get("code_challenge").cloned().unwrap_or_default(),
        state: q.get("state").map(|s| s.chars().take(2048).collect()),
        resource: st.resource.clone(),
        scope: "mcp".into(),
        exp: OffsetDateTime::now_utc().unix_timestamp() + FORM_TTL_SECS,
    };
    // From here on the redirect URI is the client's own: errors go back to it.
    let bad = |error: &str, why: String| (error.to_string(), why);
    let checked = (|| {
        if q.get("response_type").map(String::as_str) != Some("code") {
            return Err(bad(
                "unsupported_response_type",
                "response_type must be code".into(),
            ));
        }
        if q.get("code_challenge_method").map(String::as_str) != Some("S256") {
            return Err(bad(
                "invalid_request",
                "PKCE is required: code_challenge_method must be S256".into(),
            ));
        }
        if !crate::oauth::token::challenge_is_valid(&request.challenge) {
            return Err(bad(
                "invalid_request",
                "code_challenge must be an S256 challenge (43 characters of base64url)".into(),
            ));
        }
        st.our_resource(q.get("resource").map(String::as_str))
            .map_err(|why| bad("invalid_target", why))
    })();
    match checked {
        Ok(resource) => request.resource = resource,
        // Shown, not redirected: anyone may register a client, and an error answered with a
        // redirect without the person's involvement would make this an open redirector
        // (RFC 9700 §4.11.2).
        Err((error, why)) => {
            return st
                .refuse_page(audit.as_ref(), &client_id, format!("{why} ({error})"))
                .await;
        }
    }
    let cookie = cookie_of(&headers).unwrap_or_else(new_cookie);
    let sealed = st.seal_request(&request);
    if let Some(h) = &audit {
        h.update(|d| d.oauth_client = Some(client_id.chars().take(300).collect()));
    }
    st.page(
        StatusCode::OK,
        View {
            request: Some((&request, sealed)),
            login: "",
            error: None,
            problem: None,
        },
        Some(&cookie),
    )
}

impl SignIn {
    /// An error page for a request that cannot be sent back to its client, audited.
    async fn refuse_page(
        &self,
        audit: Option<&AuditHandle>,
        client_id: &str,
        why: String,
    ) -> Response {
        let rec = Record::new(
            kind::OAUTH_SIGN_IN,
            false,
            400,
            format!("authorization request refused: {why}"),
        )
        .client(client_id);
        if let Err(r) = self.record(audit, rec).await {
            return r;
        }
        self.problem_page(StatusCode::BAD_REQUEST, why)
    }
}

/// `POST /oauth/authorize`: the person's answer.
pub(super) async fn submit(
    State(st): State<Arc<SignIn>>,
    audit: Option<axum::Extension<AuditHandle>>,
    ip: Option<axum::Extension<ClientAddr>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let audit = audit.map(|a| a.0);
    let ip = ip.map(|i| i.0);
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    let Some(request) = st.open_request(field("request")) else {
        return st
            .refuse_page(
                audit.as_ref(),
                "",
                "this sign-in form has expired (forms last 10 minutes) or was altered".into(),
            )
            .await;
    };
    let cookie = cookie_of(&headers);
    let csrf_ok = cookie
        .as_deref()
        .is_some_and(|c| mac_matches(st.form_key(), "csrf", c, field("csrf")));
    if !csrf_ok {
        return st
            .refuse_page(
                audit.as_ref(),
                &request.client_id,
                "this sign-in form could not be verified: it must be sent from the page odoo-warden served, with cookies enabled".into(),
            )
            .await;
    }
    let login = field("login").trim().chars().take(256).collect::<String>();
    let again = |status: StatusCode, error: String| {
        st.page(
            status,
            View {
                request: Some((&request, st.seal_request(&request))),
                login: &login,
                error: Some(error),
                problem: None,
            },
            cookie.as_deref(),
        )
    };
    let mut rec =
        Record::new(kind::OAUTH_SIGN_IN, false, 200, String::new()).client(&request.client_id);
    if !login.is_empty() {
        rec.person = Some(login.clone());
    }
    match field("decision") {
        "deny" => {
            rec.status = 303;
            rec.decision = crate::audit::Decision::Deny;
            rec.reason = "the person denied the client".into();
            if let Err(r) = st.record(audit.as_ref(), rec).await {
                return r;
            }
            return redirect(
                &request,
                &st.issuer,
                &[
                    ("error", "access_denied"),
                    ("error_description", "the person denied access"),
                ],
            );
        }
        "allow" => {}
        _ => {
            return again(StatusCode::BAD_REQUEST, "choose Allow or Deny".into());
        }
    }
    if let Err(wait) = st.failures.try_attempt(&login, ip.as_ref().map(|a| a.0)) {
        rec.status = 429;
        rec.reason = "sign-in refused: too many failed sign-ins".into();
        if let Err(r) = st.record(audit.as_ref(), rec).await {
            return r;
        }
        return again(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many failed sign-ins: try again in {} minutes.",
                wait.as_secs().div_ceil(60).max(1)
            ),
        );
    }
    let key = Secret::new(field("odoo_api_key").trim());
    let person = match st.people.sign_in(&login, key).await {
        Ok(p) => {
            st.failures.forgive(&login, ip.as_ref().map(|a| a.0));
            p
        }
        Err(refusal) => {
            let (status, message) = match refusal {
                PersonRefusal::Credentials(m) => (StatusCode::OK, m),
                // Not a guess of the credential: it does not count.
                PersonRefusal::NotAllowed(m) => {
                    st.failures.forgive(&login, ip.as_ref().map(|a| a.0));
                    (StatusCode::OK, m)
                }
                PersonRefusal::Unavailable(m) => {
                    st.failures.forgive(&login, ip.as_ref().map(|a| a.0));
                    (StatusCode::SERVICE_UNAVAILABLE, m)
                }
            };
            rec.status = status.as_u16();
            rec.reason = format!("sign-in refused: {message}");
            if let Err(r) = st.record(audit.as_ref(), rec).await {
                return r;
            }
            return again(status, message);
        }
    };
    let code = st
        .grants
        .new_code(&CodeRequest {
            client_id: &request.client_id,
            person_id: &person.id,
            redirect_uri: &request.redirect_uri,
            challenge: &request.challenge,
            resource: &request.resource,
            scope: &request.scope,
        })
        .await;
    let code = match code {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot store an authorization code");
            return again(
                StatusCode::SERVICE_UNAVAILABLE,
                "odoo-warden cannot reach its store right now; try again in a moment".into(),
            );
        }
    };
    let mut rec = Record::new(
        kind::OAUTH_SIGN_IN,
        true,
        303,
        format!(
            "signed in and allowed \"{}\" (redirect {})",
            request.client_name,
            redirect_target(&request.redirect_uri).0
        ),
    )
    .client(&request.client_id);
    rec.person = Some(person.login.clone());
    rec.uid = Some(person.uid);
    rec.profile = Some(person.profile.clone());
    if let Err(r) = st.record(audit.as_ref(), rec).await {
        return r;
    }
    redirect(&request, &st.issuer, &[("code", &code)])
}
