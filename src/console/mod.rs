//! The web console on the admin listener (`/console/`, issue 18): server-rendered pages
//! (minijinja, HTML-escaped), usable without JavaScript. Sign-in with an `audit`, `approve` or
//! `admin` key (the form field `key`); a session cookie then (`console::session`); a CSRF token
//! in every form; a strict `Content-Security-Policy` and `X-Frame-Options: DENY` on every page.
//! What a page shows follows the key's scopes exactly as the admin API does (the trail needs
//! `audit`). Sign-ins, refusals and sign-outs are audited (`console_sign_in`).
//!
//! Served: sign-in, the audit trail (search, paging, a record's detail and chain position),
//! approvals (`approve`) and the kill switch (`admin`, in `console::operate`).

mod keys;
mod operate;
mod overview;
pub mod session;

use crate::audit::{AuditHandle, AuditLog, Decision, Outcome, Word, kind};
use crate::auth::failures::Failures;
use crate::auth::person;
use crate::auth::{Scope, Verifier};
use crate::config::RoleRule;
use crate::killswitch::KillSwitch;
use crate::oauth::people::PersonRefusal;
use crate::odoo::OdooClient;
use crate::profile::PolicyReloader;
use crate::store::{AuditFilter, AuditRow, Store};
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use minijinja::context;
use rand::RngCore;
use serde::Serialize;
use session::{Session, Sessions, same};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;

const SESSION_COOKIE: &str = "owarden_console";
/// Before sign-in: the cookie the sign-in form's CSRF token is bound to.
const PRE_COOKIE: &str = "owarden_console_pre";
const CSS: &str = include_str!("console.css");
const JS: &str = include_str!("console.js");
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// The pages' templates, compiled in.
const TEMPLATES: [(&str, &str); 11] = [
    ("base.html", include_str!("templates/base.html")),
    ("sign_in.html", include_str!("templates/sign_in.html")),
    ("message.html", include_str!("templates/message.html")),
    ("trail.html", include_str!("templates/trail.html")),
    ("record.html", include_str!("templates/record.html")),
    ("chain.html", include_str!("templates/chain.html")),
    ("approvals.html", include_str!("templates/approvals.html")),
    (
        "kill_switch.html",
        include_str!("templates/kill_switch.html"),
    ),
    ("keys.html", include_str!("templates/keys.html")),
    ("dashboard.html", include_str!("templates/dashboard.html")),
    ("profiles.html", include_str!("templates/profiles.html")),
];
/// Records per trail page.
const PAGE: u32 = 50;

/// Who a console record names.
#[derive(Clone, Copy)]
enum Actor<'a> {
    Nobody,
    /// A key: its id and name.
    Key(&'a str, &'a str),
    /// A person: their Odoo login and uid.
    Person(&'a str, i64),
}

impl<'a> Actor<'a> {
    fn of(s: &'a Session) -> Self {
        match &s.person {
            Some(p) => Actor::Person(&p.login, p.uid),
            None => Actor::Key(&s.key_id, &s.key_name),
        }
    }
}

/// What the console reads and acts on: the runtime's own handles.
pub struct Parts {
    pub store: Arc<Store>,
    pub verifier: Arc<Verifier>,
    pub audit: Arc<AuditLog>,
    pub kill: Arc<KillSwitch>,
    /// Every profile's state (their effective policies) and their reload.
    pub reloader: Arc<PolicyReloader>,
    /// Verifies people signing in with their Odoo login.
    pub odoo: OdooClient,
    /// `[[console.role_rules]]` (empty: people cannot sign in, only keys).
    pub roles: Vec<RoleRule>,
    /// How often a person's session is verified with Odoo again.
    pub recheck: std::time::Duration,
    /// Failed sign-ins with an Odoo credential (the OAuth page counts in the same).
    pub failures: Arc<Failures>,
    /// Cookies get `Secure` (the admin listener serves HTTPS).
    pub secure: bool,
}

pub struct Console {
    store: Arc<Store>,
    verifier: Arc<Verifier>,
    audit: Arc<AuditLog>,
    kill: Arc<KillSwitch>,
    reloader: Arc<PolicyReloader>,
    odoo: OdooClient,
    roles: Vec<RoleRule>,
    recheck: std::time::Duration,
    /// Failed person sign-ins, by login and address (shared with the OAuth sign-in page).
    failures: Arc<Failures>,
    /// The configured profiles (a new mcp key names one).
    profiles: Vec<String>,
    sessions: Sessions,
    env: minijinja::Environment<'static>,
    /// Cookies get `Secure` (the admin listener serves HTTPS).
    secure: bool,
    /// Binds the sign-in form's CSRF token to its cookie (this process only).
    pre_key: [u8; 32],
}

impl Console {
    pub fn new(parts: Parts) -> Result<Arc<Self>, String> {
        let Parts {
            store,
            verifier,
            audit,
            kill,
            reloader,
            odoo,
            roles,
            recheck,
            failures,
            secure,
        } = parts;
        let profiles = reloader.profiles().map(|p| p.name.clone()).collect();
        let mut env = minijinja::Environment::new();
        for (name, text) in TEMPLATES {
            env.add_template(name, text)
                .map_err(|e| format!("console template {name}: {e}"))?;
        }
        let mut pre_key = [0u8; 32];
        rand::rng().fill_bytes(&mut pre_key);
        Ok(Arc::new(Self {
            store,
            verifier,
            audit,
            kill,
            reloader,
            odoo,
            roles,
            recheck,
            failures,
            profiles,
            sessions: Sessions::default(),
            env,
            secure,
            pre_key,
        }))
    }

    fn render(&self, status: StatusCode, name: &str, ctx: minijinja::Value) -> Response {
        let html = self
            .env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, template = name, "a console page did not render");
                "<!doctype html><title>odoo-warden</title><p>This page cannot be shown; see odoo-warden's log.</p>".to_string()
            });
        let mut r = (status, html).into_response();
        secure_headers(r.headers_mut(), "text/html; charset=utf-8");
        r
    }

    fn cookie(&self, name: &str, value: &str, max_age: u64) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
        ))
        .ok()
    }

    fn pre_csrf(&self, cookie: &str) -> String {
        let Ok(mut m) = <Hmac<Sha256> as Mac>::new_from_slice(&self.pre_key) else {
            return String::new();
        };
        m.update(cookie.as_bytes());
        URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
    }

    /// The signed-in session of a request, if any; a session whose key was revoked or expired
    /// since, or whose person was revoked or is no longer accepted by Odoo, is ended here.
    async fn session(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let id = cookie_of(headers, SESSION_COOKIE)?;
        let mut s = self.sessions.get(&id)?;
        if let Some(p) = &s.person {
            // An operator's revocation ends it at once (one store read per page).
            match self.store.oauth_person_by_login(&p.login).await {
                Ok(Some(row)) if row.blocked_at.is_some() => {
                    self.sessions.close_key(&s.key_id);
                    return None;
                }
                Ok(_) => {}
                Err(_) => return None,
            }
            if p.checked.elapsed() >= self.recheck {
                match person::verify(&self.odoo, &self.store, &self.roles, &p.login, &p.api_key)
                    .await
                {
                    Ok(v) => {
                        self.sessions.rechecked(&id, v.roles.clone());
                        s.scopes = v.roles;
                    }
                    // Not decided: no page now, the session stays for when Odoo answers.
                    Err(PersonRefusal::Unavailable(_)) => return None,
                    Err(_) => {
                        self.sessions.close_key(&s.key_id);
                        return None;
                    }
                }
            }
            return Some((id, s));
        }
        match self.store.get_key(&s.key_id).await {
            Ok(Some(k))
                if k.revoked_at.is_none()
                    && k.expires_at.is_none_or(|e| e > OffsetDateTime::now_utc()) =>
            {
                Some((id, s))
            }
            // Revoked, expired or gone: every session of that key ends.
            Ok(_) => {
                self.sessions.close_key(&s.key_id);
                None
            }
            // Fail closed: a key that cannot be checked opens no page.
            Err(_) => None,
        }
    }

    /// Records a console sign-in event (the request's own record is claimed).
    async fn record(
        &self,
        handle: Option<&AuditHandle>,
        ok: bool,
        who: Actor<'_>,
        reason: String,
    ) -> bool {
        self.record_as(handle, kind::CONSOLE_SIGN_IN, ok, who, reason)
            .await
    }

    /// A signed-in person's action, done (`true` once the trail holds it durably).
    async fn done(
        &self,
        handle: Option<&AuditHandle>,
        s: &Session,
        what: crate::audit::Kind,
        reason: String,
    ) -> bool {
        self.record_as(handle, what, true, Actor::of(s), reason)
            .await
    }

    /// A signed-in person's action, refused.
    async fn refused(
        &self,
        handle: Option<&AuditHandle>,
        s: &Session,
        what: crate::audit::Kind,
        reason: String,
    ) {
        self.record_as(handle, what, false, Actor::of(s), reason)
            .await;
    }

    async fn record_as(
        &self,
        handle: Option<&AuditHandle>,
        what: crate::audit::Kind,
        ok: bool,
        who: Actor<'_>,
        reason: String,
    ) -> bool {
        let mut e = match handle {
            Some(h) => {
                h.update(|d| d.claimed = true);
                h.event(&self.audit, what)
            }
            None => self.audit.event(what),
        };
        match who {
            Actor::Nobody => {}
            Actor::Key(id, name) => {
                e.key_id = Some(id.to_string());
                e.key_name = Some(name.to_string());
            }
            Actor::Person(login, uid) => {
                e.key_id = None;
                e.key_name = None;
                e.person = Some(login.to_string());
                e.odoo_uid = Some(uid);
            }
        }
        e.decision = Some(if ok {
            Decision::Allow
        } else {
            Decision::Refuse
        });
        e.outcome = Some(if ok { Outcome::Ok } else { Outcome::Refused });
        e.reason = Some(reason);
        match self.audit.record_durable(e).await {
            Ok(_) => true,
            Err(err) => {
                tracing::error!(error = %err, kind = what.word(), "the audit trail did not take a console record");
                false
            }
        }
    }
}

fn secure_headers(h: &mut HeaderMap, content_type: &'static str) {
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
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
}

fn cookie_of(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, v)| *k == name && v.len() == 43)
        .map(|(_, v)| v.to_string())
}

/// A form posted by a signed-in session holding `scope`: the session and the form, once its
/// CSRF token is checked. A missing or wrong token is on the trail as `what` refused (`not_done`
/// says what was not done) and answered 403; no session, or not the scope, as [`require`].
async fn posted(
    c: &Console,
    headers: &HeaderMap,
    audit: Option<&AuditHandle>,
    scope: Scope,
    body: &[u8],
    what: crate::audit::Kind,
    not_done: &str,
) -> Result<(Session, HashMap<String, String>), Response> {
    let s = require(c, headers, audit, scope).await?;
    let form = form_of(body);
    if !same(&s.csrf, form.get("csrf").map(String::as_str).unwrap_or("")) {
        c.refused(
            audit,
            &s,
            what,
            format!("{not_done}: the form's CSRF token is missing or wrong"),
        )
        .await;
        return Err(forbidden_csrf(c, &s));
    }
    Ok((s, form))
}

fn form_of(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The context every signed-in page gets.
fn page_ctx(s: &Session, page: &str) -> minijinja::Value {
    context! {
        session => true,
        who => format!("{} ({})", s.key_name, s.scopes.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(", ")),
        csrf => s.csrf.clone(),
        can_audit => s.has(Scope::Audit),
        can_approve => s.has(Scope::Approve),
        can_admin => s.has(Scope::Admin),
        page => page,
    }
}

pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/console", get(|| async { see_other("/console/") }))
        .route("/console/", get(index))
        .route("/console/static/console.css", get(css))
        .route("/console/static/console.js", get(js))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/trail", get(trail))
        .route("/console/trail/export", get(export))
        .route("/console/trail/{seq}", get(record))
        .route("/console/chain", get(chain))
        .route("/console/approvals", get(operate::approvals))
        .route("/console/approvals/{id}", post(operate::decide))
        .route("/console/dashboard", get(overview::dashboard))
        .route("/console/profiles", get(overview::profiles))
        .route("/console/policy/reload", post(overview::reload))
        .route("/console/keys", get(keys::keys).post(keys::create))
        .route("/console/keys/{id}/revoke", post(keys::revoke))
        .route(
            "/console/kill-switch",
            get(operate::kill_switch).post(operate::set_kill_switch),
        )
        .with_state(console)
}

async fn css() -> Response {
    let mut r = CSS.into_response();
    secure_headers(r.headers_mut(), "text/css; charset=utf-8");
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=300"),
    );
    r
}

async fn js() -> Response {
    let mut r = JS.into_response();
    secure_headers(r.headers_mut(), "text/javascript; charset=utf-8");
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=300"),
    );
    r
}

async fn index(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    match c.session(&headers).await {
        Some((_, s)) if s.has(Scope::Audit) || s.has(Scope::Admin) => {
            see_other("/console/dashboard")
        }
        Some((_, s)) if s.has(Scope::Approve) => see_other("/console/approvals"),
        Some((_, s)) => c.render(
            StatusCode::OK,
            "message.html",
            context! { heading => "Signed in", message => "This key holds no scope the console's pages use yet (the audit trail needs the audit scope).", ..page_ctx(&s, "home") },
        ),
        None => to_sign_in(),
    }
}

async fn sign_in_page(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    sign_in_form(&c, &headers, StatusCode::OK, None)
}

fn sign_in_form(
    c: &Console,
    headers: &HeaderMap,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let pre = cookie_of(headers, PRE_COOKIE).unwrap_or_else(|| {
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        URL_SAFE_NO_PAD.encode(raw)
    });
    let mut r = c.render(
        status,
        "sign_in.html",
        context! { csrf => c.pre_csrf(&pre), error => error, people => !c.roles.is_empty() },
    );
    if let Some(v) = c.cookie(PRE_COOKIE, &pre, 3600) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn sign_in(
    State(c): State<Arc<Console>>,
    audit: Option<axum::Extension<AuditHandle>>,
    ip: Option<axum::Extension<crate::middleware::ratelimit::ClientAddr>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let audit = audit.map(|a| a.0);
    let form = form_of(&body);
    let csrf_ok = cookie_of(&headers, PRE_COOKIE).is_some_and(|pre| {
        same(
            &c.pre_csrf(&pre),
            form.get("csrf").map(String::as_str).unwrap_or(""),
        )
    });
    if !csrf_ok {
        c.record(
            audit.as_ref(),
            false,
            Actor::Nobody,
            "console sign-in refused: the form's CSRF token is missing or wrong".into(),
        )
        .await;
        return sign_in_form(
            &c,
            &headers,
            StatusCode::FORBIDDEN,
            Some(
                "This form could not be verified (it must be sent from the console's own page, with cookies enabled). Try again.",
            ),
        );
    }
    if form.contains_key("login") {
        // The client's address as the per-address limit saw it (behind trusted proxies, theirs).
        let ip = ip.map(|axum::Extension(a)| a.0);
        return sign_in_person(&c, audit.as_ref(), &headers, ip, &form).await;
    }
    let key = form.get("key").map(|k| k.trim()).unwrap_or("");
    let principal = match c.verifier.verify(key).await {
        Ok(p) if p.person.is_none() => p,
        Ok(_) | Err(_) => {
            c.record(
                audit.as_ref(),
                false,
                Actor::Nobody,
                "console sign-in refused: not a valid key".into(),
            )
            .await;
            return sign_in_form(
                &c,
                &headers,
                StatusCode::UNAUTHORIZED,
                Some("This key was not accepted: it is unknown, revoked, expired or mistyped."),
            );
        }
    };
    let scopes: Vec<Scope> = principal
        .scopes
        .iter()
        .copied()
        .filter(|s| matches!(s, Scope::Audit | Scope::Approve | Scope::Admin))
        .collect();
    if scopes.is_empty() {
        c.record(
            audit.as_ref(),
            false,
            Actor::Key(&principal.key_id, &principal.name),
            "console sign-in refused: the key holds none of the audit, approve and admin scopes"
                .into(),
        )
        .await;
        return sign_in_form(
            &c,
            &headers,
            StatusCode::FORBIDDEN,
            Some(
                "This key holds none of the audit, approve and admin scopes the console needs (an mcp key is for assistants).",
            ),
        );
    }
    if !c
        .record(
            audit.as_ref(),
            true,
            Actor::Key(&principal.key_id, &principal.name),
            "console sign-in".into(),
        )
        .await
    {
        return c.render(StatusCode::SERVICE_UNAVAILABLE, "message.html", context! { heading => "Not signed in", message => "The audit trail cannot take records right now, so nobody is signed in. Try again later.", is_error => true });
    }
    let id = c.sessions.open(
        principal.key_id.clone(),
        principal.name.clone(),
        scopes,
        None,
    );
    signed_in(&c, &id)
}

/// A person signs in with their Odoo login and API key (when `[[console.role_rules]]` exist):
/// verified with Odoo, failures limited per login and address, their roles from the rules.
async fn sign_in_person(
    c: &Console,
    audit: Option<&AuditHandle>,
    headers: &HeaderMap,
    ip: Option<std::net::IpAddr>,
    form: &HashMap<String, String>,
) -> Response {
    if c.roles.is_empty() {
        return sign_in_form(
            c,
            headers,
            StatusCode::BAD_REQUEST,
            Some(
                "Signing in with an Odoo login is not configured here ([[console.role_rules]]); sign in with a key.",
            ),
        );
    }
    let login = form
        .get("login")
        .map(|l| l.trim())
        .unwrap_or("")
        .to_string();
    if let Err(wait) = c.failures.try_attempt(&login, ip) {
        c.record(
            audit,
            false,
            Actor::Nobody,
            format!("console sign-in as \"{login}\" refused: too many failed sign-ins"),
        )
        .await;
        let message = format!(
            "Too many failed sign-ins: try again in {} minutes.",
            wait.as_secs().div_ceil(60).max(1)
        );
        return sign_in_form(c, headers, StatusCode::TOO_MANY_REQUESTS, Some(&message));
    }
    let api_key =
        crate::secret::Secret::new(form.get("odoo_api_key").map(|k| k.trim()).unwrap_or(""));
    let verified = person::verify(&c.odoo, &c.store, &c.roles, &login, &api_key).await;
    let p = match verified {
        Ok(p) => {
            c.failures.forgive(&login, ip);
            p
        }
        Err(refusal) => {
            let status = match &refusal {
                PersonRefusal::Credentials(_) => StatusCode::UNAUTHORIZED,
                PersonRefusal::NotAllowed(_) => StatusCode::FORBIDDEN,
                PersonRefusal::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            if !matches!(refusal, PersonRefusal::Credentials(_)) {
                // Not a guess of the credential: it does not count.
                c.failures.forgive(&login, ip);
            }
            let message = refusal.to_string();
            // Not verified: the login typed goes in the reason, not in `person`.
            c.record(
                audit,
                false,
                Actor::Nobody,
                format!("console sign-in as \"{login}\" refused: {message}"),
            )
            .await;
            return sign_in_form(c, headers, status, Some(&message));
        }
    };
    let roles = p
        .roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if !c
        .record(
            audit,
            true,
            Actor::Person(&p.login, p.uid),
            format!("console sign-in as {} ({roles})", p.login),
        )
        .await
    {
        return c.render(StatusCode::SERVICE_UNAVAILABLE, "message.html", context! { heading => "Not signed in", message => "The audit trail cannot take records right now, so nobody is signed in. Try again later.", is_error => true });
    }
    let id = c.sessions.open(
        format!("console-person:{}", p.login),
        format!("{} ({})", p.name, p.login),
        p.roles.clone(),
        Some(session::Person {
            login: p.login.clone(),
            uid: p.uid,
            api_key,
            checked: std::time::Instant::now(),
        }),
    );
    signed_in(c, &id)
}

/// The answer to a sign-in: to the console, with the session cookie, the sign-in cookie gone.
fn signed_in(c: &Console, id: &str) -> Response {
    let mut r = see_other("/console/");
    if let Some(v) = c.cookie(SESSION_COOKIE, id, session::ABSOLUTE.as_secs()) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    if let Some(v) = c.cookie(PRE_COOKIE, "", 0) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

async fn sign_out(
    State(c): State<Arc<Console>>,
    audit: Option<axum::Extension<AuditHandle>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    // Not revalidated: signing out must work while Odoo or the store cannot be asked.
    let Some((id, s)) =
        cookie_of(&headers, SESSION_COOKIE).and_then(|id| c.sessions.get(&id).map(|s| (id, s)))
    else {
        return to_sign_in();
    };
    let form = form_of(&body);
    if !same(&s.csrf, form.get("csrf").map(String::as_str).unwrap_or("")) {
        return forbidden_csrf(&c, &s);
    }
    c.sessions.close(&id);
    c.record(
        audit.map(|a| a.0).as_ref(),
        true,
        Actor::of(&s),
        "console sign-out".into(),
    )
    .await;
    let mut r = see_other("/console/sign-in");
    if let Some(v) = c.cookie(SESSION_COOKIE, "", 0) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// To the sign-in page: a request without a (live) session, recorded as refused for want of a
/// credential.
fn to_sign_in() -> Response {
    let mut r = see_other("/console/sign-in");
    r.extensions_mut()
        .insert(crate::refusal::Refusal::Key(crate::auth::Refusal::Missing));
    r
}

fn forbidden_csrf(c: &Console, s: &Session) -> Response {
    c.render(
        StatusCode::FORBIDDEN,
        "message.html",
        context! { heading => "Refused", message => "This form could not be verified (its CSRF token is missing or wrong); nothing was done. Reload the page and try again.", is_error => true, ..page_ctx(s, "") },
    )
}

/// A page needing `scope`: the session, or the answer to send instead.
/// The request's own audit record names the session's key.
async fn require(
    c: &Console,
    headers: &HeaderMap,
    audit: Option<&AuditHandle>,
    scope: Scope,
) -> Result<Session, Response> {
    require_any(c, headers, audit, &[scope]).await
}

/// The session of a request whose key holds one of `scopes` (else the sign-in page, or a 403
/// page naming them).
async fn require_any(
    c: &Console,
    headers: &HeaderMap,
    audit: Option<&AuditHandle>,
    scopes: &[Scope],
) -> Result<Session, Response> {
    let Some((_, s)) = c.session(headers).await else {
        return Err(to_sign_in());
    };
    if let Some(h) = audit {
        h.update(|d| match &s.person {
            Some(p) => {
                d.person = Some(p.login.clone());
                d.odoo_uid = Some(p.uid);
            }
            None => {
                d.key_id = Some(s.key_id.clone());
                d.key_name = Some(s.key_name.clone());
            }
        });
    }
    if !scopes.iter().any(|scope| s.has(*scope)) {
        let needed = scopes
            .iter()
            .map(|x| x.as_str())
            .collect::<Vec<_>>()
            .join(" or ");
        return Err(c.render(
            StatusCode::FORBIDDEN,
            "message.html",
            context! { heading => "Not allowed", message => format!("This page needs a key with the {needed} scope; you signed in with a key that does not hold it."), is_error => true, ..page_ctx(&s, "") },
        ));
    }
    Ok(s)
}

#[derive(Serialize)]
struct FilterField {
    name: &'static str,
    label: &'static str,
    value: String,
    hint: &'static str,
    options: Vec<&'static str>,
}

#[derive(Serialize)]
struct RowView {
    seq: i64,
    time: String,
    time_short: String,
    kind: String,
    who: String,
    profile: String,
    what: String,
    decision: String,
    outcome: String,
}

fn text(v: &serde_json::Value, k: &str) -> String {
    match v.get(k) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn row_view(row: &AuditRow) -> RowView {
    let r = &row.record;
    let time = row
        .time
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let who = match (text(r, "person"), text(r, "key_name"), text(r, "key_id")) {
        (p, _, _) if !p.is_empty() => format!("{p} (signed in)"),
        (_, n, id) if !id.is_empty() => format!("{n} ({id})"),
        _ => text(r, "client_ip"),
    };
    let mut what = [text(r, "tool"), text(r, "model"), text(r, "mcp_method")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" · ");
    if what.is_empty() {
        // Operator actions (keys, the kill switch, sign-ins) say what they did in their reason.
        let reason = text(r, "reason");
        what = match reason.char_indices().nth(120) {
            Some((cut, _)) => format!("{}…", &reason[..cut]),
            None => reason,
        };
    }
    RowView {
        seq: row.seq,
        time_short: time.get(..19).unwrap_or(&time).replace('T', " "),
        time,
        kind: text(r, "kind"),
        who,
        profile: text(r, "profile"),
        what,
        decision: text(r, "decision"),
        outcome: text(r, "outcome"),
    }
}

/// The trail's filters, from the query; empty fields are no filter.
fn parse_filters(q: &HashMap<String, String>) -> Result<AuditFilter, String> {
    let get = |k: &str| {
        q.get(k)
            .filter(|v| !v.trim().is_empty())
            .map(|v| v.trim().to_string())
    };
    let record_id = match get("record_id") {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .map_err(|_| format!("record id \"{v}\" is not a number"))?,
        ),
    };
    Ok(AuditFilter {
        since: crate::admin::parse_time("since", &get("since"))?,
        until: crate::admin::parse_time("until", &get("until"))?,
        key_id: get("key_id"),
        profile: get("profile"),
        person: get("person"),
        model: get("model"),
        operation: get("operation"),
        decision: crate::admin::word::<Decision>("decision", &get("decision"))?,
        outcome: crate::admin::word::<Outcome>("outcome", &get("outcome"))?,
        kind: crate::admin::word::<crate::audit::Kind>("kind", &get("kind"))?,
        record_id,
        call_id: get("call_id"),
    })
}

fn words<W: crate::audit::Word>() -> Vec<&'static str> {
    W::all().iter().map(|w| w.word()).collect()
}

async fn trail(
    State(c): State<Arc<Console>>,
    audit: Option<axum::Extension<AuditHandle>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let s = match require(&c, &headers, audit.as_ref().map(|a| &a.0), Scope::Audit).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q: HashMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let value = |k: &str| q.get(k).cloned().unwrap_or_default();
    let field = |name, label, hint, options| FilterField {
        name,
        label,
        value: value(name),
        hint,
        options,
    };
    let fields = vec![
        field("since", "Since", "2026-12-01T00:00:00Z", vec![]),
        field("until", "Until", "2026-12-02T00:00:00Z", vec![]),
        field("person", "Person (Odoo login)", "", vec![]),
        field("key_id", "Key id", "", vec![]),
        field("profile", "Profile", "", vec![]),
        field("model", "Model", "sale.order", vec![]),
        field("operation", "Operation", "read, create, update…", vec![]),
        field("kind", "Kind", "", words::<crate::audit::Kind>()),
        field("decision", "Decision", "", words::<Decision>()),
        field("outcome", "Outcome", "", words::<Outcome>()),
        field("record_id", "Record id", "42", vec![]),
    ];
    let filter = parse_filters(&q);
    let cursor = q.get("cursor").and_then(|v| v.parse::<i64>().ok());
    let (rows, error) = match &filter {
        Ok(f) => match c.store.query_audit_desc(f, cursor, PAGE).await {
            Ok(rows) => (rows, None),
            Err(e) => (
                Vec::new(),
                Some(format!("The trail cannot be read right now: {e}")),
            ),
        },
        Err(e) => (Vec::new(), Some(e.clone())),
    };
    let next = (rows.len() as u32 == PAGE).then(|| {
        let mut pairs: Vec<(String, String)> = q
            .iter()
            .filter(|(k, v)| k.as_str() != "cursor" && !v.is_empty())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        pairs.sort();
        if let Some(last) = rows.last() {
            pairs.push(("cursor".into(), last.seq.to_string()));
        }
        let qs: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        format!("/console/trail?{qs}")
    });
    let filtered = q.iter().any(|(k, v)| k != "cursor" && !v.is_empty());
    let export = |format: &str| {
        let mut pairs: Vec<(String, String)> = q
            .iter()
            .filter(|(k, v)| k.as_str() != "cursor" && k.as_str() != "format" && !v.is_empty())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        pairs.sort();
        pairs.push(("format".into(), format.into()));
        let qs: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        format!("/console/trail/export?{qs}")
    };
    let (export_csv, export_jsonl) = (export("csv"), export("jsonl"));
    let rows: Vec<RowView> = rows.iter().map(row_view).collect();
    c.render(
        if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK },
        "trail.html",
        context! { fields => fields, rows => rows, next => next, error => error, filtered => filtered, export_csv => export_csv, export_jsonl => export_jsonl, ..page_ctx(&s, "trail") },
    )
}

/// The trail's current filter as a download (every matching record, oldest first).
async fn export(
    State(c): State<Arc<Console>>,
    audit: Option<axum::Extension<AuditHandle>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let s = match require(&c, &headers, audit.as_ref().map(|a| &a.0), Scope::Audit).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q: HashMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let refuse = |message: String| {
        c.render(
            StatusCode::BAD_REQUEST,
            "message.html",
            context! { heading => "Not exported", message => message, is_error => true, ..page_ctx(&s, "trail") },
        )
    };
    let csv = match q.get("format").map(String::as_str) {
        None | Some("jsonl") => false,
        Some("csv") => true,
        Some(other) => return refuse(format!("format \"{other}\": use jsonl or csv")),
    };
    let filter = match parse_filters(&q) {
        Ok(f) => f,
        Err(e) => return refuse(e),
    };
    let mut r = crate::admin::export_response(c.store.clone(), filter, csv);
    let name = if csv {
        "audit-trail.csv"
    } else {
        "audit-trail.jsonl"
    };
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// The chain, verified now: up to which record, its head, a break named plainly.
async fn chain(
    State(c): State<Arc<Console>>,
    audit: Option<axum::Extension<AuditHandle>>,
    headers: HeaderMap,
) -> Response {
    let s = match require(&c, &headers, audit.as_ref().map(|a| &a.0), Scope::Audit).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let now = OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let short = now.get(..19).unwrap_or(&now).replace('T', " ");
    match crate::audit::verify(&c.store, None).await {
        Ok(report) => c.render(
            StatusCode::OK,
            "chain.html",
            context! { report => report, verified_at => now, verified_short => short, ..page_ctx(&s, "chain") },
        ),
        Err(e) => c.render(
            StatusCode::SERVICE_UNAVAILABLE,
            "chain.html",
            context! { error => format!("The trail cannot be read right now, so the chain was not verified: {e}"), ..page_ctx(&s, "chain") },
        ),
    }
}

async fn record(
    State(c): State<Arc<Console>>,
    audit: Option<axum::Extension<AuditHandle>>,
    headers: HeaderMap,
    Path(seq): Path<String>,
) -> Response {
    let s = match require(&c, &headers, audit.as_ref().map(|a| &a.0), Scope::Audit).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let not_found = |c: &Console| {
        c.render(
            StatusCode::NOT_FOUND,
            "message.html",
            context! { heading => "No such record", message => format!("The trail has no record {seq}."), is_error => true, ..page_ctx(&s, "trail") },
        )
    };
    let Some(n) = seq.parse::<i64>().ok().filter(|n| *n > 0) else {
        return not_found(&c);
    };
    let row = match c
        .store
        .query_audit(&AuditFilter::default(), Some(n - 1), 1)
        .await
    {
        Ok(rows) => rows.into_iter().find(|r| r.seq == n),
        Err(e) => {
            return c.render(
                StatusCode::SERVICE_UNAVAILABLE,
                "message.html",
                context! { heading => "Unavailable", message => format!("The trail cannot be read right now: {e}"), is_error => true, ..page_ctx(&s, "trail") },
            );
        }
    };
    let Some(row) = row else {
        return not_found(&c);
    };
    let labels = [
        ("time", "Time (UTC)"),
        ("kind", "Kind"),
        ("person", "Person"),
        ("oauth_client", "OAuth client"),
        ("key_name", "Key"),
        ("key_id", "Key id"),
        ("profile", "Profile"),
        ("odoo_uid", "Odoo uid"),
        ("client_ip", "Client address"),
        ("mcp_method", "MCP method"),
        ("protocol_version", "Protocol"),
        ("tool", "Tool"),
        ("model", "Model"),
        ("operation", "Operation"),
        ("record_ids", "Record ids"),
        ("arguments", "Arguments (redacted)"),
        ("decision", "Decision"),
        ("reason", "Reason"),
        ("confirmed_by", "Confirmed by"),
        ("outcome", "Outcome"),
        ("odoo_error_class", "Odoo error"),
        ("http_status", "HTTP status"),
        ("duration_ms", "Duration (ms)"),
        ("call_id", "Call"),
        ("request_id", "Request id"),
        ("instance", "Instance"),
    ];
    let items: Vec<(String, String)> = labels
        .iter()
        .filter_map(|(k, label)| {
            let v = text(&row.record, k);
            (!v.is_empty() && v != "[]").then(|| (label.to_string(), v))
        })
        .collect();
    let raw = serde_json::to_string_pretty(&row.record).unwrap_or_default();
    c.render(
        StatusCode::OK,
        "record.html",
        context! { seq => row.seq, hash => row.hash, prev_hash => row.prev_hash, items => items, raw => raw, ..page_ctx(&s, "trail") },
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_templates_parse() {
        use super::TEMPLATES;
        let mut env = minijinja::Environment::new();
        for (name, text) in TEMPLATES {
            if let Err(e) = env.add_template(name, text) {
                panic!("{name}: {e:#}");
            }
        }
    }
}
