//! The HTTP side: routing, the JSON-RPC and JSON-2 envelopes, web sessions, and the HTML pages
//! Odoo (werkzeug) answers with when a request does not fit a route.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::db::{UserAuth, as_id, is_falsy};
use super::errors::{DEBUG_PLACEHOLDER, Kind, OResult, OdooError, missing_database};
use super::methods::{self, Args};
use super::schema::{ERP_MANAGER, SYSTEM_GROUP};
use super::{Session, Shared, pyfmt};

const MAX_BODY: usize = 64 * 1024 * 1024;
const JSON_CT: &str = "application/json; charset=utf-8";
const HTML_CT: &str = "text/html; charset=utf-8";

pub async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    // A worker serves the request from here to its answer; with none free, it waits.
    let _worker = match &shared.workers {
        Some(w) => w.acquire().await.ok(),
        None => None,
    };
    if !shared.service_time.is_zero() {
        // The time a real Odoo spends on a request, without holding a thread.
        tokio::time::sleep(shared.service_time).await;
    }
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return html(
                413,
                &werkzeug_page(
                    413,
                    "Request Entity Too Large",
                    "The data value transmitted exceeds the capacity limit.",
                ),
            );
        }
    };
    route(
        &shared,
        &parts.method,
        parts.uri.path(),
        &parts.headers,
        &body,
    )
}

fn route(
    shared: &Shared,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let major = shared.reg.version.major;
    match path {
        "/jsonrpc" => json_route(shared, path, headers, body, Route::JsonRpc),
        "/web/session/authenticate" => json_route(shared, path, headers, body, Route::Authenticate),
        "/web/session/get_session_info" => {
            json_route(shared, path, headers, body, Route::SessionInfo)
        }
        "/web/session/destroy" => json_route(shared, path, headers, body, Route::Destroy),
        "/web/webclient/version_info" => {
            json_route(shared, path, headers, body, Route::VersionInfo)
        }
        "/web/database/list" => json_route(shared, path, headers, body, Route::DatabaseList),
        "/web/dataset/call_kw" => json_route(shared, path, headers, body, Route::CallKw),
        p if p.starts_with("/web/dataset/call_kw/") => json_route(
            shared,
            "/web/dataset/call_kw/<path:path>",
            headers,
            body,
            Route::CallKw,
        ),
        "/web/version" | "/json/version" if major >= 19 => json_response(
            200,
            &json!({"version_info": shared.reg.version.info, "version": shared.reg.version.version}),
            &[],
        ),
        "/web/health" => respond(
            200,
            "application/json",
            Body::from(r#"{"status": "pass"}"#),
            &[],
        ),
        "/web/login" => html(200, LOGIN_PAGE),
        p if major >= 19 && (p == "/json/2" || p.starts_with("/json/2/")) => {
            json2(shared, method, p, headers, body)
        }
        p if major == 18 && p.starts_with("/json/") => {
            // Odoo 18 has no JSON-2: /json/<path> is the web client's route (auth=user).
            let has_session =
                session_cookie(headers).is_some_and(|sid| session_uid(shared, &sid).is_some());
            if has_session && method == Method::POST {
                html(
                    400,
                    &werkzeug_page(400, "Bad Request", "Session expired (invalid CSRF token)"),
                )
            } else {
                let location = format!("/web/login?redirect={}", url_quote(&format!("{p}?")));
                respond(
                    303,
                    HTML_CT,
                    Body::from(redirect_page(&location)),
                    &[(header::LOCATION, location.clone())],
                )
            }
        }
        _ => html(
            404,
            &werkzeug_page(
                404,
                "Not Found",
                "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.",
            ),
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Responses

fn respond(
    status: u16,
    content_type: &str,
    body: Body,
    extra: &[(header::HeaderName, String)],
) -> Response {
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, content_type);
    for (name, value) in extra {
        builder = builder.header(name, value.as_str());
    }
    builder
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

fn json_response(status: u16, value: &Value, extra: &[(header::HeaderName, String)]) -> Response {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    respond(status, JSON_CT, Body::from(bytes), extra)
}

fn html(status: u16, page: &str) -> Response {
    respond(status, HTML_CT, Body::from(page.to_string()), &[])
}

/// werkzeug's default error page.
fn werkzeug_page(code: u16, title: &str, description: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=en>\n<title>{code} {title}</title>\n<h1>{title}</h1>\n<p>{description}</p>\n"
    )
}

fn redirect_page(location: &str) -> String {
    let escaped = html_escape(location);
    format!(
        "<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n<p>You should be redirected automatically to the target URL: <a href=\"{escaped}\">{escaped}</a>. If not, click the link.\n"
    )
}

const LOGIN_PAGE: &str = "<!DOCTYPE html>\n<html>\n<head><title>Odoo</title></head>\n<body><form method=\"post\" action=\"/web/login\"><input name=\"login\"/><input name=\"password\" type=\"password\"/></form></body>\n</html>\n";

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn url_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `mimetype` of the request (Content-Type without parameters, lower case).
fn mimetype(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// The page Odoo answers when the request's type does not fit the route's (`type='json'`...).
fn type_mismatch(status: u16, headers: &HeaderMap, rule: &str, route_type: &str) -> Response {
    let inferred = match mimetype(headers).as_str() {
        "application/json" | "application/json-rpc" => "json",
        _ => "http",
    };
    let mut text = format!(
        "Request inferred type is compatible with [&#39;{inferred}&#39;] but &#39;{}&#39; is type=&#39;{route_type}&#39;.",
        html_escape(rule)
    );
    if status == 415 {
        text.push_str("<br><br>Please verify the Content-Type request header and try again.");
        return html(415, &werkzeug_page(415, "Unsupported Media Type", &text));
    }
    html(status, &werkzeug_page(status, "Bad Request", &text))
}

// ---------------------------------------------------------------------------------------------
// JSON-RPC

enum Route {
    JsonRpc,
    Authenticate,
    SessionInfo,
    Destroy,
    VersionInfo,
    DatabaseList,
    CallKw,
}

fn error_data(shared: &Shared, err: &OdooError) -> Value {
    let mut data = Map::new();
    let arguments = if err.kind.is_http() {
        json!([err.message, err.kind.http_status()])
    } else {
        json!([err.message])
    };
    data.insert("name".into(), json!(err.kind.class()));
    if shared.reg.version.major < 19 {
        data.insert("debug".into(), json!(DEBUG_PLACEHOLDER));
    }
    data.insert("message".into(), json!(err.message));
    data.insert("arguments".into(), arguments);
    data.insert("context".into(), json!({}));
    if shared.reg.version.major >= 19 {
        data.insert("debug".into(), json!(DEBUG_PLACEHOLDER));
    }
    Value::Object(data)
}

fn rpc_envelope(
    shared: &Shared,
    id: Value,
    outcome: OResult<Value>,
    extra: &[(header::HeaderName, String)],
) -> Response {
    let mut body = Map::new();
    body.insert("jsonrpc".into(), json!("2.0"));
    match outcome {
        Ok(result) => {
            body.insert("id".into(), id);
            // Odoo leaves `result` out when it is None.
            if !result.is_null() {
                body.insert("result".into(), result);
            }
            json_response(200, &Value::Object(body), extra)
        }
        Err(err) => {
            let expired = err.kind == Kind::SessionExpired;
            body.insert("id".into(), if expired { Value::Null } else { id });
            body.insert(
                "error".into(),
                json!({
                    "code": if expired { 100 } else { shared.reg.version.jsonrpc_error_code() },
                    "message": if expired { "Odoo Session Expired" } else { "Odoo Server Error" },
                    "data": error_data(shared, &err),
                }),
            );
            json_response(200, &Value::Object(body), &[])
        }
    }
}

fn session_expired() -> OdooError {
    OdooError::new(Kind::SessionExpired, "Session expired")
}

fn json_route(
    shared: &Shared,
    rule: &str,
    headers: &HeaderMap,
    body: &Bytes,
    route: Route,
) -> Response {
    if !matches!(
        mimetype(headers).as_str(),
        "application/json" | "application/json-rpc"
    ) {
        return type_mismatch(400, headers, rule, "json");
    }
    let request: Map<String, Value> = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => o,
        _ => return respond(400, HTML_CT, Body::from("Invalid JSON data"), &[]),
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let params = match request.get("params") {
        Some(Value::Object(p)) => p.clone(),
        _ => Map::new(),
    };
    let sid = session_cookie(headers);
    let uid = sid.as_deref().and_then(|s| session_uid(shared, s));
    match route {
        Route::JsonRpc => rpc_envelope(shared, id, dispatch_rpc(shared, &params), &[]),
        Route::Authenticate => {
            let outcome = web_authenticate(shared, &params);
            match outcome {
                Ok(uid) => {
                    let sid = new_session(shared, Some(uid));
                    let info = session_info(shared, uid);
                    rpc_envelope(shared, id, Ok(info), &[(header::SET_COOKIE, cookie(&sid))])
                }
                Err(e) => rpc_envelope(shared, id, Err(e), &[]),
            }
        }
        Route::SessionInfo => match (uid, sid) {
            (Some(uid), Some(sid)) => rpc_envelope(
                shared,
                id,
                Ok(session_info(shared, uid)),
                &[(header::SET_COOKIE, cookie(&sid))],
            ),
            _ => rpc_envelope(shared, id, Err(session_expired()), &[]),
        },
        Route::Destroy => match (uid, sid) {
            (Some(_), Some(sid)) => {
                if let Ok(mut sessions) = shared.sessions.lock() {
                    sessions.remove(&sid);
                }
                let fresh = new_session(shared, None);
                rpc_envelope(
                    shared,
                    id,
                    Ok(Value::Null),
                    &[(header::SET_COOKIE, cookie(&fresh))],
                )
            }
            _ => rpc_envelope(shared, id, Err(session_expired()), &[]),
        },
        Route::VersionInfo | Route::DatabaseList => {
            let result = if matches!(route, Route::VersionInfo) {
                shared.reg.version.rpc_version()
            } else {
                json!([shared.reg.database])
            };
            let extra = match sid.filter(|s| session_exists(shared, s)) {
                Some(_) => Vec::new(),
                None => vec![(header::SET_COOKIE, cookie(&new_session(shared, None)))],
            };
            rpc_envelope(shared, id, Ok(result), &extra)
        }
        Route::CallKw => {
            let Some(uid) = uid else {
                return rpc_envelope(shared, id, Err(session_expired()), &[]);
            };
            rpc_envelope(shared, id, call_kw(shared, uid, &params), &[])
        }
    }
}

/// `TypeError` for a Python function called with too few / too many positional arguments.
fn arity(function: &str, names: &[&str], optional: usize, given: usize) -> OResult<()> {
    let required = names.len() - optional;
    if given > names.len() {
        return Err(OdooError::type_error(if optional == 0 {
            format!(
                "{function}() takes {} positional argument{} but {given} {} given",
                names.len(),
                if names.len() == 1 { "" } else { "s" },
                if given == 1 { "was" } else { "were" }
            )
        } else {
            format!(
                "{function}() takes from {required} to {} positional arguments but {given} were given",
                names.len()
            )
        }));
    }
    if given < required {
        let missing: Vec<String> = names[given..required]
            .iter()
            .map(|n| format!("'{n}'"))
            .collect();
        let list = match missing.len() {
            1 => missing[0].clone(),
            2 => format!("{} and {}", missing[0], missing[1]),
            _ => format!(
                "{}, and {}",
                missing[..missing.len() - 1].join(", "),
                missing[missing.len() - 1]
            ),
        };
        return Err(OdooError::type_error(format!(
            "{function}() missing {} required positional argument{}: {list}",
            missing.len(),
            if missing.len() == 1 { "" } else { "s" }
        )));
    }
    Ok(())
}

fn check_db(shared: &Shared, db: &Value) -> OResult<()> {
    let name = match db {
        Value::String(s) => s.clone(),
        other => pyfmt::repr(other),
    };
    if name == shared.reg.database {
        Ok(())
    } else {
        Err(missing_database(&name))
    }
}

fn find_user<'a>(shared: &'a Shared, login: &str) -> Option<&'a UserAuth> {
    shared.users.iter().find(|u| u.login == login)
}

/// `common.authenticate` / `common.login`: the password or an API key.
fn credentials(shared: &Shared, login: &Value, secret: &Value, api_key: bool) -> Option<i64> {
    let user = find_user(shared, login.as_str()?)?;
    let secret = secret.as_str()?;
    if secret == user.password() || (api_key && shared.key_works(user, secret)) {
        Some(user.uid)
    } else {
        None
    }
}

fn dispatch_rpc(shared: &Shared, params: &Map<String, Value>) -> OResult<Value> {
    let names = ["service", "method", "args"];
    let present = names
        .iter()
        .take_while(|n| params.contains_key(**n))
        .count();
    if present < names.len() {
        arity("RPC.jsonrpc", &names, 0, present)?;
    }
    let service = params.get("service").and_then(Value::as_str).unwrap_or("");
    let method = params.get("method").and_then(Value::as_str).unwrap_or("");
    let args: Vec<Value> = match params.get("args") {
        Some(Value::Array(a)) => a.clone(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => {
            return Err(OdooError::type_error(format!(
                "dispatch_rpc() argument after * must be an iterable, not {}",
                match other {
                    Value::Object(_) => "dict",
                    Value::String(_) => "str",
                    Value::Bool(_) => "bool",
                    _ => "int",
                }
            )));
        }
    };
    let arg = |i: usize| args.get(i).cloned().unwrap_or(Value::Null);
    match service {
        "common" => match method {
            "version" => Ok(shared.reg.version.rpc_version()),
            "about" => {
                let text = json!("See http://openerp.com");
                if args.first().is_some_and(|a| !is_falsy(a)) {
                    Ok(json!([text, shared.reg.version.version]))
                } else {
                    Ok(text)
                }
            }
            "login" => {
                arity("exp_login", &["db", "login", "password"], 0, args.len())?;
                check_db(shared, &arg(0))?;
                Ok(credentials(shared, &arg(1), &arg(2), true).map_or(json!(false), |u| json!(u)))
            }
            "authenticate" => {
                arity(
                    "exp_authenticate",
                    &["db", "login", "password", "user_agent_env"],
                    0,
                    args.len(),
                )?;
                check_db(shared, &arg(0))?;
                Ok(credentials(shared, &arg(1), &arg(2), true).map_or(json!(false), |u| json!(u)))
            }
            other => Err(OdooError::new(
                Kind::Exception,
                format!("Method not found: {other}"),
            )),
        },
        "db" => match method {
            "list" => Ok(json!([shared.reg.database])),
            "server_version" => Ok(json!(shared.reg.version.version)),
            "db_exist" => Ok(json!(arg(0).as_str() == Some(shared.reg.database.as_str()))),
            "list_lang" => Ok(json!([["en_US", "English (US)"]])),
            "create_database"
            | "duplicate_database"
            | "drop"
            | "dump"
            | "restore"
            | "rename"
            | "change_admin_password"
            | "migrate_databases" => Err(OdooError::access_denied()),
            other => Err(OdooError::new(
                Kind::KeyError,
                format!("Method not found: {other}"),
            )),
        },
        "object" => match method {
            "execute_kw" | "execute" => {
                if args.len() < 3 {
                    return Err(OdooError::new(
                        Kind::ValueError,
                        format!(
                            "not enough values to unpack (expected 3, got {})",
                            args.len()
                        ),
                    ));
                }
                check_db(shared, &arg(0))?;
                let uid = match &args[1] {
                    v if as_id(v).is_some() => as_id(v).unwrap_or(0),
                    Value::String(s) => s.trim().parse::<i64>().map_err(|_| {
                        OdooError::value(format!(
                            "invalid literal for int() with base 10: {}",
                            pyfmt::repr_str(s)
                        ))
                    })?,
                    other => {
                        return Err(OdooError::type_error(format!(
                            "int() argument must be a string, a bytes-like object or a real number, not '{}'",
                            if other.is_null() { "NoneType" } else { "list" }
                        )));
                    }
                };
                let secret = arg(2);
                let user = shared.users.iter().find(|u| u.uid == uid);
                let ok = user.is_some_and(|u| {
                    secret
                        .as_str()
                        .is_some_and(|s| s == u.password() || shared.key_works(u, s))
                });
                if !ok {
                    return Err(OdooError::access_denied());
                }
                let rest = &args[3..];
                let (model, method, call_args, kwargs) = if method == "execute_kw" {
                    arity(
                        "execute_kw",
                        &["db", "uid", "obj", "method", "args", "kw"],
                        1,
                        rest.len() + 2,
                    )?;
                    (
                        rest[0].clone(),
                        rest[1].clone(),
                        rest[2].clone(),
                        rest.get(3).cloned().unwrap_or(Value::Null),
                    )
                } else {
                    if rest.len() < 2 {
                        arity(
                            "execute",
                            &["db", "uid", "obj", "method"],
                            0,
                            rest.len() + 2,
                        )?;
                    }
                    (
                        rest[0].clone(),
                        rest[1].clone(),
                        Value::Array(rest[2..].to_vec()),
                        Value::Null,
                    )
                };
                let model = model.as_str().unwrap_or("").to_string();
                let method = method.as_str().unwrap_or("").to_string();
                let args = match call_args {
                    Value::Array(a) => a,
                    Value::Null => Vec::new(),
                    other => vec![other],
                };
                let kwargs = match kwargs {
                    Value::Object(k) => k,
                    _ => Map::new(),
                };
                methods::execute(shared, uid, &model, &method, Args::Rpc { args, kwargs })
            }
            other => Err(OdooError::new(
                Kind::NameError,
                format!("Method not available {other}"),
            )),
        },
        other => Err(OdooError::new(Kind::KeyError, other.to_string())),
    }
}

fn web_authenticate(shared: &Shared, params: &Map<String, Value>) -> OResult<i64> {
    let names = ["db", "login", "password"];
    let present = names
        .iter()
        .take_while(|n| params.contains_key(**n))
        .count();
    if present < names.len() {
        arity(
            "Session.authenticate",
            &["self", "db", "login", "password"],
            0,
            present + 1,
        )?;
    }
    let null = Value::Null;
    check_db(shared, params.get("db").unwrap_or(&null))?;
    // A web session needs the password: API keys are for RPC only.
    credentials(
        shared,
        params.get("login").unwrap_or(&null),
        params.get("password").unwrap_or(&null),
        false,
    )
    .ok_or_else(OdooError::access_denied)
}

fn call_kw(shared: &Shared, uid: i64, params: &Map<String, Value>) -> OResult<Value> {
    let names = ["model", "method", "args", "kwargs"];
    let present = names
        .iter()
        .take_while(|n| params.contains_key(**n))
        .count();
    if present < names.len() {
        arity(
            "DataSet.call_kw",
            &["self", "model", "method", "args", "kwargs"],
            0,
            present + 1,
        )?;
    }
    let model = params.get("model").and_then(Value::as_str).unwrap_or("");
    let method = params.get("method").and_then(Value::as_str).unwrap_or("");
    let args = match params.get("args") {
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    let kwargs = match params.get("kwargs") {
        Some(Value::Object(k)) => k.clone(),
        _ => Map::new(),
    };
    methods::execute(shared, uid, model, method, Args::Rpc { args, kwargs })
}

// ---------------------------------------------------------------------------------------------
// Web sessions

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == "session_id")
        .map(|(_, v)| v.to_string())
}

fn session_uid(shared: &Shared, sid: &str) -> Option<i64> {
    shared.sessions.lock().ok()?.get(sid).and_then(|s| s.uid)
}

fn session_exists(shared: &Shared, sid: &str) -> bool {
    shared
        .sessions
        .lock()
        .map(|s| s.contains_key(sid))
        .unwrap_or(false)
}

fn new_session(shared: &Shared, uid: Option<i64>) -> String {
    let sid = hex::encode(rand::random::<[u8; 20]>());
    if let Ok(mut sessions) = shared.sessions.lock() {
        if sessions.len() > 10_000 {
            // Anonymous sessions pile up when clients never send the cookie back.
            sessions.retain(|_, s| s.uid.is_some());
        }
        sessions.insert(sid.clone(), Session { uid });
    }
    sid
}

fn cookie(sid: &str) -> String {
    let expires = time::OffsetDateTime::now_utc() + time::Duration::days(365);
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "session_id={sid}; Expires={}, {:02} {} {} {:02}:{:02}:{:02} GMT; Max-Age=604800; HttpOnly; Path=/",
        DAYS[expires.weekday().number_days_from_monday() as usize],
        expires.day(),
        MONTHS[(u8::from(expires.month()) as usize).saturating_sub(1)],
        expires.year(),
        expires.hour(),
        expires.minute(),
        expires.second()
    )
}

/// `ir.http.session_info()` for a user: the recorded Odoo 18 answer, filled in.
fn session_info(shared: &Shared, uid: i64) -> Value {
    let mut info = shared.session_template.clone();
    let user = shared.users.iter().find(|u| u.uid == uid);
    let has = |g: &str| user.is_some_and(|u| u.has(g));
    let db = shared.db.read().unwrap_or_else(|e| e.into_inner());
    let row = db.row("res.users", uid);
    let text = |k: &str| {
        row.and_then(|r| r.get(k))
            .cloned()
            .unwrap_or(Value::Bool(false))
    };
    let partner_id = row
        .and_then(|r| r.get("partner_id"))
        .and_then(as_id)
        .unwrap_or(0);
    let partner = db.row("res.partner", partner_id);
    let partner_name = partner
        .and_then(|p| p.get("name"))
        .cloned()
        .unwrap_or(Value::Bool(false));
    let partner_write = partner
        .and_then(|p| p.get("write_date"))
        .cloned()
        .unwrap_or(Value::Bool(false));
    let login = user.map(|u| u.login.as_str()).unwrap_or("");
    let settings_id = match login {
        "admin" => 1,
        "demo" => 2,
        "mcp_reader" => 3,
        _ => 4,
    };
    let is_admin = has(ERP_MANAGER);
    let is_system = has(SYSTEM_GROUP);
    let version = &shared.reg.version;
    let mut set = |pointer: &str, value: Value| {
        if let Some(slot) = info.pointer_mut(pointer) {
            *slot = value;
        }
    };
    set("/uid", json!(uid));
    set("/is_system", json!(is_system));
    set("/is_admin", json!(is_admin));
    set(
        "/user_context",
        json!({"lang": text("lang"), "tz": text("tz"), "uid": uid}),
    );
    set("/db", json!(shared.reg.database));
    set("/user_settings/id", json!(settings_id));
    set("/user_settings/user_id/id", json!(uid));
    set("/server_version", json!(version.version));
    set("/server_version_info", version.info.clone());
    set("/name", text("name"));
    set("/username", json!(login));
    set("/partner_write_date", partner_write.clone());
    set("/partner_display_name", partner_name.clone());
    set("/partner_id", json!(partner_id));
    set(
        "/websocket_worker_version",
        json!(format!("{}-2", version.serie)),
    );
    set("/storeData/Store/self/id", json!(partner_id));
    set("/storeData/Store/settings/id", json!(settings_id));
    set("/storeData/Store/settings/user_id/id", json!(uid));
    set(
        "/storeData/res.partner/1",
        json!({
            "active": true,
            "id": partner_id,
            "isAdmin": is_admin,
            "isInternalUser": true,
            "name": partner_name,
            "notification_preference": "email",
            "userId": uid,
            "write_date": partner_write,
        }),
    );
    if login == "admin" {
        set("/display_switch_company_menu", json!(true));
        set(
            "/user_companies/allowed_companies",
            json!({
                "1": {"id": 1, "name": "My Company (San Francisco)", "sequence": 0, "child_ids": [], "parent_id": false},
                "2": {"id": 2, "name": "My Company (Chicago)", "sequence": 10, "child_ids": [], "parent_id": false},
            }),
        );
    }
    info
}

// ---------------------------------------------------------------------------------------------
// JSON-2 (19+)

const WRONG_DB_PAGE: &str = "<!DOCTYPE html>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>No database is selected and the requested URL was not found in the server-wide controllers.</p>\n<p>Please verify the hostname, <a href=/web/login>login</a> and try again.</p>\n\n<!-- Alternatively, use the X-Odoo-Database header. -->\n";

fn json2_error(err: &OdooError) -> Response {
    let arguments = if err.kind.is_http() {
        json!([err.message, err.kind.http_status()])
    } else {
        json!([err.message])
    };
    let body = json!({
        "name": err.kind.class(),
        "message": err.message,
        "arguments": arguments,
        "context": {},
        "debug": DEBUG_PLACEHOLDER,
    });
    let extra = if err.kind == Kind::Unauthorized {
        vec![(header::WWW_AUTHENTICATE, "Bearer ".to_string())]
    } else {
        Vec::new()
    };
    json_response(err.kind.http_status(), &body, &extra)
}

fn json2(
    shared: &Shared,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    if let Some(db) = headers.get("x-odoo-database")
        && db.to_str().ok() != Some(shared.reg.database.as_str())
    {
        return html(404, WRONG_DB_PAGE);
    }
    let segments: Vec<&str> = path
        .trim_start_matches("/json/2")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let is_json = mimetype(headers) == "application/json";
    let model_route = segments.len() == 2 && method == Method::POST;
    if !is_json {
        let rule = if model_route {
            "/json/2/<__model__>/<__method__>"
        } else {
            "/json/2"
        };
        return type_mismatch(415, headers, rule, "json2");
    }
    if !model_route {
        return json2_error(&OdooError::new(
            Kind::NotFound,
            "Did you mean POST /json/2/<model>/<method>?",
        ));
    }
    let uid = match bearer_user(shared, headers) {
        Ok(uid) => uid,
        Err(e) => return json2_error(&e),
    };
    let mut params: Map<String, Value> = if body.is_empty() {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(o)) => o,
            Ok(_) => Map::new(),
            Err(_) => {
                let text = String::from_utf8_lossy(body);
                return json2_error(&OdooError::new(
                    Kind::BadRequest,
                    format!(
                        "could not parse the body as json: {}",
                        pyfmt::python_json_error(&text)
                    ),
                ));
            }
        }
    };
    let ids = params.remove("ids").unwrap_or(Value::Null);
    let context = params.remove("context").unwrap_or(Value::Null);
    match methods::execute(
        shared,
        uid,
        segments[0],
        segments[1],
        Args::Json2 {
            ids,
            context,
            kwargs: params,
        },
    ) {
        Ok(v) => json_response(200, &v, &[]),
        Err(e) => json2_error(&e),
    }
}

fn bearer_user(shared: &Shared, headers: &HeaderMap) -> OResult<i64> {
    let unauthenticated = || {
        OdooError::new(
            Kind::Unauthorized,
            "User not authenticated, use an API Key with a Bearer Authorization header.",
        )
    };
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthenticated)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(unauthenticated)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(unauthenticated());
    }
    let token = token.trim();
    shared
        .users
        .iter()
        .find(|u| shared.key_works(u, token))
        .map(|u| u.uid)
        .ok_or_else(|| OdooError::new(Kind::Unauthorized, "Invalid apikey"))
}
