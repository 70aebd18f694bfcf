//! The token endpoint (code exchange, refresh) and RFC 7009 revocation.

use super::{Record, SignIn, oauth_error, oauth_json};
use crate::audit::{AuditHandle, kind};
use crate::oauth::grants::{Exchange, GrantError, Issued};
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

/// A form body; a parameter given twice is refused (RFC 6749 §3.2).
fn form(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, Response> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if out.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("the parameter {k} is given twice"),
            ));
        }
    }
    Ok(out)
}

fn grant_error(e: &GrantError) -> Response {
    match e {
        GrantError::Store(_) => oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the store cannot be reached; try again",
        ),
        other => oauth_error(StatusCode::BAD_REQUEST, other.code(), &other.to_string()),
    }
}

/// `POST /oauth/token`.
pub(super) async fn token(
    State(st): State<Arc<SignIn>>,
    audit: Option<axum::Extension<AuditHandle>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let audit = audit.map(|a| a.0);
    let form = match form(&headers, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let client_id = match st.clients.authenticate(&headers, &form).await {
        Ok(id) => id,
        Err(r) => {
            let rec = Record::new(
                kind::OAUTH_TOKEN,
                false,
                401,
                "client authentication failed",
            )
            .client(form.get("client_id").map(String::as_str).unwrap_or(""));
            if let Err(r) = st.record(audit.as_ref(), rec).await {
                return r;
            }
            return r;
        }
    };
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let resource = match form.get("resource") {
        None => None,
        Some(r) => match st.our_resource(Some(r)) {
            Ok(r) => Some(r),
            Err(why) => {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_target", &why);
            }
        },
    };
    let grant_type = get("grant_type");
    let issued: Result<Issued, GrantError> = match grant_type {
        "authorization_code" => {
            st.grants
                .exchange(&Exchange {
                    code: get("code"),
                    client_id: &client_id,
                    redirect_uri: get("redirect_uri"),
                    verifier: get("code_verifier"),
                    resource: resource.as_deref(),
                })
                .await
        }
        "refresh_token" => {
            st.grants
                .refresh(get("refresh_token"), &client_id, resource.as_deref())
                .await
        }
        other => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!(
                    "grant_type \"{}\" is not supported (authorization_code, refresh_token)",
                    other.chars().take(64).collect::<String>()
                ),
            );
        }
    };
    let what = if grant_type == "refresh_token" {
        "refresh"
    } else {
        "code exchange"
    };
    match issued {
        Ok(t) => {
            let mut rec = Record::new(
                kind::OAUTH_TOKEN,
                true,
                200,
                format!("tokens issued ({what}, grant {})", t.grant_id),
            )
            .client(&client_id);
            if let Ok(Some(g)) = st.store.oauth_grant(&t.grant_id).await
                && let Ok(Some(p)) = st.store.oauth_get_person(&g.person_id).await
            {
                rec.person = Some(p.login);
                rec.uid = Some(p.uid);
                rec.profile = Some(p.profile);
            }
            if let Err(r) = st.record(audit.as_ref(), rec).await {
                return r;
            }
            oauth_json(
                StatusCode::OK,
                json!({
                    "access_token": t.access_token,
                    "token_type": "Bearer",
                    "expires_in": t.expires_in,
                    "refresh_token": t.refresh_token,
                    "scope": t.scope,
                }),
            )
        }
        Err(e) => {
            let rec = Record::new(
                kind::OAUTH_TOKEN,
                false,
                if matches!(e, GrantError::Store(_)) {
                    503
                } else {
                    400
                },
                format!("{what} refused: {e}"),
            )
            .client(&client_id);
            if let Err(r) = st.record(audit.as_ref(), rec).await {
                return r;
            }
            grant_error(&e)
        }
    }
}

/// `POST /oauth/revoke` (RFC 7009): `200` whether or not the token was known.
pub(super) async fn revoke(
    State(st): State<Arc<SignIn>>,
    audit: Option<axum::Extension<AuditHandle>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let audit = audit.map(|a| a.0);
    let form = match form(&headers, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let client_id = match st.clients.authenticate(&headers, &form).await {
        Ok(id) => id,
        Err(r) => return r,
    };
    let Some(token) = form.get("token").filter(|t| !t.is_empty()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token is required",
        );
    };
    if let Err(e) = st.grants.revoke(token, &client_id).await {
        return grant_error(&e);
    }
    st.verifier.evict_token(token);
    let rec =
        Record::new(kind::OAUTH_TOKEN, true, 200, "token revoked by the client").client(&client_id);
    if let Err(r) = st.record(audit.as_ref(), rec).await {
        return r;
    }
    let mut r = StatusCode::OK.into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    r
}
