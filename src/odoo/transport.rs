//! The two wire protocols: `/jsonrpc` (`execute_kw`, Odoo 16+) and JSON-2 (`/json/2`, Odoo 19+).
//! Both answer with a [`serde_json::Value`] or an [`OdooError`]; nothing above this module sees
//! HTTP.

use super::breaker::{Breaker, BreakerSettings, CircuitState, unreachable};
use super::error::{ErrorKind, OdooError};
use crate::secret::Secret;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use url::Url;

/// Answers larger than this are refused rather than buffered.
const MAX_BODY: usize = 64 * 1024 * 1024;

pub(crate) struct Http {
    client: reqwest::Client,
    base: Url,
    database: String,
    timeout: Duration,
    next_id: AtomicU64,
    breaker: Arc<Breaker>,
}

impl Http {
    pub(crate) fn new(
        base: Url,
        database: String,
        timeout: Duration,
        circuit: BreakerSettings,
    ) -> Result<Self, OdooError> {
        let client = reqwest::Client::builder()
            // One pool shared by every profile and session; keep-alive connections are reused.
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .timeout(timeout)
            // A redirect means "not this endpoint" (Odoo 18 sends /json/2 to its login page):
            // report it instead of following it.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("odoo-warden/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                OdooError::new(
                    ErrorKind::Transport,
                    format!("cannot build the HTTP client: {e}"),
                )
            })?;
        Ok(Self {
            client,
            base,
            database,
            timeout,
            next_id: AtomicU64::new(1),
            breaker: Breaker::new(circuit),
        })
    }

    pub(crate) fn circuit(&self) -> CircuitState {
        self.breaker.state()
    }

    /// Runs one request through the circuit breaker: refused at once while it is open; else
    /// its outcome (Odoo reachable or not) is counted.
    async fn guarded<T>(
        &self,
        request: impl std::future::Future<Output = Result<T, OdooError>>,
    ) -> Result<T, OdooError> {
        let pass = match self.breaker.admit() {
            Ok(p) => p,
            Err(e) => {
                crate::metrics::odoo_refused_by_circuit();
                return Err(e);
            }
        };
        let result = request.await;
        match &result {
            Err(e) if unreachable(e) => pass.done(false, &e.message),
            _ => pass.done(true, ""),
        }
        crate::metrics::odoo_circuit(self.breaker.state());
        result
    }

    pub(crate) fn database(&self) -> &str {
        &self.database
    }

    fn url(&self, path: &str) -> Url {
        // `join` with an absolute path replaces the base path; keep a base path (Odoo behind
        // a prefix) by joining relative to it.
        let mut base = self.base.clone();
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        base.join(path.trim_start_matches('/'))
            .unwrap_or_else(|_| self.base.clone())
    }

    /// `POST /jsonrpc` with `{"method": "call", "params": {"service", "method", "args"}}`.
    pub(crate) async fn jsonrpc(
        &self,
        service: &str,
        method: &str,
        args: Vec<Value>,
    ) -> Result<Value, OdooError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({
            "jsonrpc": "2.0",
            "method": "call",
            "params": {"service": service, "method": method, "args": args},
            "id": id,
        });
        let url = self.url("/jsonrpc");
        let started = std::time::Instant::now();
        let (status, answer) = self
            .guarded(async {
                let response = self.send(self.client.post(url.clone()).json(&body)).await?;
                read_json(response, &url).await
            })
            .await?;
        // execute_kw's Odoo method is its fifth argument.
        let label = body["params"]["args"]
            .get(4)
            .and_then(Value::as_str)
            .unwrap_or(method);
        crate::metrics::odoo_call(label, started.elapsed().as_secs_f64());
        if !status.is_success() {
            return Err(OdooError::new(
                kind_for_http(status),
                format!("Odoo answered HTTP {} on /jsonrpc", status.as_u16()),
            ));
        }
        decode_jsonrpc(answer)
    }

    /// `POST /json/2/<model>/<method>` with keyword arguments as the JSON body.
    pub(crate) async fn json2(
        &self,
        api_key: &Secret,
        model: &str,
        method: &str,
        body: Map<String, Value>,
    ) -> Result<Value, OdooError> {
        let url = self.url(&format!("/json/2/{model}/{method}"));
        let mut auth =
            HeaderValue::from_str(&format!("bearer {}", api_key.expose())).map_err(|_| {
                OdooError::new(
                    ErrorKind::Credentials,
                    "the Odoo API key contains characters that cannot be sent in a header",
                )
            })?;
        auth.set_sensitive(true);
        let mut request = self
            .client
            .post(url.clone())
            .header(header::AUTHORIZATION, auth)
            .json(&Value::Object(body));
        if !self.database.is_empty() {
            request = request.header("X-Odoo-Database", &self.database);
        }
        let started = std::time::Instant::now();
        let (status, answer) = self
            .guarded(async {
                let response = self.send(request).await?;
                read_json(response, &url).await
            })
            .await?;
        crate::metrics::odoo_call(method, started.elapsed().as_secs_f64());
        if status.is_success() {
            Ok(answer)
        } else {
            Err(OdooError::from_json2_error(status.as_u16(), &answer))
        }
    }

    /// `GET /web/version` (Odoo 16.? and later): `{"version_info": [...], "version": "18.0"}`.
    pub(crate) async fn web_version(&self) -> Result<Value, OdooError> {
        let url = self.url("/web/version");
        let (status, answer) = self
            .guarded(async {
                let response = self.send(self.client.get(url.clone())).await?;
                read_json(response, &url).await
            })
            .await?;
        if status.is_success() {
            Ok(answer)
        } else {
            Err(OdooError::new(
                kind_for_http(status),
                format!("Odoo answered HTTP {} on /web/version", status.as_u16()),
            ))
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, OdooError> {
        request.send().await.map_err(|e| self.transport_error(e))
    }

    fn transport_error(&self, e: reqwest::Error) -> OdooError {
        if e.is_connect() {
            let mut err = OdooError::new(
                ErrorKind::Transport,
                format!(
                    "cannot connect to Odoo at {}: is the URL right and is Odoo running?",
                    self.base
                ),
            );
            err.not_applied = true;
            return err;
        }
        if e.is_timeout() {
            return OdooError::new(
                ErrorKind::Timeout,
                format!(
                    "Odoo at {} did not answer within {} s",
                    self.base,
                    self.timeout.as_secs_f32()
                ),
            );
        }
        OdooError::new(
            ErrorKind::Transport,
            format!(
                "the request to Odoo at {} failed: {}",
                self.base,
                e.without_url()
            ),
        )
    }
}

fn kind_for_http(status: StatusCode) -> ErrorKind {
    match status.as_u16() {
        401 => ErrorKind::Credentials,
        403 => ErrorKind::Access,
        404 => ErrorKind::NotFound,
        408 | 504 => ErrorKind::Timeout,
        400..=499 => ErrorKind::BadRequest,
        _ => ErrorKind::Server,
    }
}

/// Reads a JSON answer, refusing oversized bodies and explaining non-JSON ones (login redirects,
/// HTML error pages) in words an operator can act on.
async fn read_json(
    mut response: reqwest::Response,
    url: &Url,
) -> Result<(StatusCode, Value), OdooError> {
    let status = response.status();
    let path = url.path().to_string();
    if status.is_redirection() {
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let message = if location.contains("/web/login") {
            if path.starts_with("/json/2") || path.contains("/json/2/") {
                format!(
                    "Odoo redirected {path} to its login page: this server does not serve the JSON-2 API (Odoo 19 or later); set [odoo] protocol = \"jsonrpc\" or \"auto\""
                )
            } else {
                format!("Odoo redirected {path} to its login page")
            }
        } else {
            format!(
                "Odoo answered {path} with a redirect (HTTP {})",
                status.as_u16()
            )
        };
        return Err(OdooError::new(ErrorKind::BadRequest, message));
    }
    if let Some(len) = response.content_length() {
        if len > MAX_BODY as u64 {
            return Err(too_large(&path));
        }
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(too_large(&path));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) if e.is_timeout() => {
                return Err(OdooError::new(
                    ErrorKind::Timeout,
                    format!("Odoo stopped answering {path} before the end of its answer"),
                ));
            }
            Err(e) => {
                return Err(OdooError::new(
                    ErrorKind::Transport,
                    format!(
                        "reading Odoo's answer to {path} failed: {}",
                        e.without_url()
                    ),
                ));
            }
        }
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(value) if is_json || status.is_success() => Ok((status, value)),
        _ => Err(non_json_error(status, &path, &body)),
    }
}

fn too_large(path: &str) -> OdooError {
    OdooError::new(
        ErrorKind::Server,
        format!(
            "Odoo's answer to {path} is larger than {} MiB; ask for fewer records or fields",
            MAX_BODY / 1024 / 1024
        ),
    )
}

fn non_json_error(status: StatusCode, path: &str, body: &[u8]) -> OdooError {
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    let code = status.as_u16();
    let message = if code == 415 {
        format!("Odoo refused the request to {path} as the wrong content type (HTTP 415)")
    } else if code == 404 && text.contains("No database is selected") {
        format!(
            "Odoo found no database for {path} (HTTP 404): check [odoo] database against the databases this Odoo serves"
        )
    } else if code == 404 {
        format!("Odoo has no {path} (HTTP 404): is the URL an Odoo server, and of which version?")
    } else if text.trim() == "Invalid JSON data" {
        format!("Odoo could not parse the request to {path} as JSON (HTTP {code})")
    } else if matches!(code, 502 | 503) || status.is_success() {
        // A proxy's page while Odoo restarts, or a page where the answer should be: Odoo may
        // have carried the request out or not.
        return OdooError::new(
            ErrorKind::Transport,
            format!(
                "Odoo (or a proxy in front of it) answered {path} with HTTP {code} and a page that is not JSON: Odoo may be restarting or unreachable"
            ),
        );
    } else {
        format!(
            "Odoo answered {path} with HTTP {code} and a body that is not JSON: is the URL an Odoo server?"
        )
    };
    OdooError::new(kind_for_http(status), message)
}

/// A JSON-RPC 2.0 answer: `result` (absent means null) or `error`.
fn decode_jsonrpc(answer: Value) -> Result<Value, OdooError> {
    let Value::Object(mut map) = answer else {
        return Err(OdooError::new(
            ErrorKind::Transport,
            "Odoo's /jsonrpc answer is not a JSON object",
        ));
    };
    if let Some(error) = map.get("error") {
        return Err(OdooError::from_jsonrpc_error(error));
    }
    Ok(map.remove("result").unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonrpc_without_result_is_null() {
        assert_eq!(
            decode_jsonrpc(json!({"jsonrpc": "2.0", "id": 9})).unwrap(),
            Value::Null
        );
        assert_eq!(
            decode_jsonrpc(json!({"jsonrpc": "2.0", "id": 1, "result": false})).unwrap(),
            json!(false)
        );
        let e = decode_jsonrpc(json!({"jsonrpc": "2.0", "id": 1, "error": {"code": 200, "message": "Odoo Server Error", "data": {"name": "odoo.exceptions.MissingError", "message": "Record does not exist or has been deleted."}}})).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Missing);
        assert!(decode_jsonrpc(json!([1])).is_err());
    }

    #[test]
    fn url_keeps_a_base_path() {
        let h = Http::new(
            Url::parse("http://odoo.test:8069/prefix").unwrap(),
            "lab".into(),
            Duration::from_secs(1),
            BreakerSettings::default(),
        )
        .unwrap();
        assert_eq!(
            h.url("/jsonrpc").as_str(),
            "http://odoo.test:8069/prefix/jsonrpc"
        );
        let h = Http::new(
            Url::parse("http://odoo.test:8069").unwrap(),
            "lab".into(),
            Duration::from_secs(1),
            BreakerSettings::default(),
        )
        .unwrap();
        assert_eq!(
            h.url("/json/2/res.partner/search").as_str(),
            "http://odoo.test:8069/json/2/res.partner/search"
        );
    }
}
