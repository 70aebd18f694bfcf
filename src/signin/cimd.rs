//! Client ID metadata documents: a `client_id` that is an `https` URL names a JSON document, at
//! that URL, describing the client (`client_id`, `client_name`, `redirect_uris`). The document is
//! fetched with a timeout and a size cap, without following redirects, from an address checked
//! once and pinned for the connection (no private, loopback or link-local addresses unless
//! `[oauth] allow_private_client_metadata`), and cached for a few minutes.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest document read.
const MAX_DOCUMENT: usize = 16 * 1024;
/// How long a fetched document is reused.
const CACHE_FOR: Duration = Duration::from_secs(300);
const MAX_CACHED: usize = 1000;

/// What the authorization endpoint uses of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub client_name: String,
    pub redirect_uris: Vec<String>,
}

/// Whether a `client_id` names a metadata document: an `https` URL with a path.
pub fn is_document_url(client_id: &str) -> bool {
    client_id.starts_with("https://")
        && url::Url::parse(client_id).is_ok_and(|u| u.path() != "/" && u.host().is_some())
}

/// Fetches and caches documents.
pub struct Fetcher {
    allow_private: bool,
    roots: Vec<reqwest::Certificate>,
    cache: Mutex<HashMap<String, (Instant, Document)>>,
}

/// Addresses a document may not be fetched from (unless allowed): loopback, private,
/// link-local, unique-local, unspecified, multicast, documentation and shared ranges.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || o[0] == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

impl Fetcher {
    pub fn new(allow_private: bool) -> Result<Self, String> {
        Ok(Self {
            allow_private,
            roots: Vec::new(),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Also trusts this certificate authority (tests serve documents with their own CA).
    pub fn trusting(mut self, root: reqwest::Certificate) -> Self {
        self.roots.push(root);
        self
    }

    /// The document `url` names. `Err`: why the client cannot be used, for the person.
    pub async fn get(&self, url: &str) -> Result<Document, String> {
        if let Ok(cache) = self.cache.lock()
            && let Some((at, doc)) = cache.get(url)
            && at.elapsed() < CACHE_FOR
        {
            return Ok(doc.clone());
        }
        let doc = self.fetch(url).await.map_err(|why| {
            format!("the client's metadata document at {url} cannot be used: {why}")
        })?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            cache.insert(url.to_string(), (Instant::now(), doc.clone()));
        }
        Ok(doc)
    }

    async fn fetch(&self, url: &str) -> Result<Document, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
        let host = parsed
            .host_str()
            .ok_or("the URL has no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = parsed.port_or_known_default().unwrap_or(443);
        let addr = self.address(&host, port).await?;
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .no_proxy()
            .user_agent(concat!("odoo-warden/", env!("CARGO_PKG_VERSION")))
            .https_only(true)
            .resolve(&host, addr);
        for root in &self.roots {
            builder = builder.add_root_certificate(root.clone());
        }
        let client = builder
            .build()
            .map_err(|e| format!("cannot make an HTTP client ({e})"))?;
        let mut response = client
            .get(parsed.clone())
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    format!("no answer within {} s", FETCH_TIMEOUT.as_secs())
                } else {
                    "it could not be fetched (connection or TLS failed)".to_string()
                }
            })?;
        if !response.status().is_success() {
            return Err(format!(
                "it answered HTTP {} (redirects are not followed)",
                response.status().as_u16()
            ));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT as u64)
        {
            return Err(format!("it is larger than {MAX_DOCUMENT} bytes"));
        }
        let mut body = Vec::new();
        loop {
            let chunk = tokio::time::timeout(FETCH_TIMEOUT, response.chunk())
                .await
                .map_err(|_| format!("no answer within {} s", FETCH_TIMEOUT.as_secs()))?
                .map_err(|_| "the answer broke off".to_string())?;
            let Some(chunk) = chunk else { break };
            body.extend_from_slice(&chunk);
            if body.len() > MAX_DOCUMENT {
                return Err(format!("it is larger than {MAX_DOCUMENT} bytes"));
            }
        }
        parse(url, &body)
    }

    /// The one address the document is fetched from, checked.
    async fn address(&self, host: &str, port: u16) -> Result<SocketAddr, String> {
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::time::timeout(FETCH_TIMEOUT, tokio::net::lookup_host((host, port)))
                .await
                .map_err(|_| format!("{host} did not resolve in time"))?
                .map_err(|_| format!("{host} does not resolve"))?
                .collect(),
        };
        let first = addrs
            .first()
            .copied()
            .ok_or(format!("{host} has no address"))?;
        // Every address is checked: a name that also resolves inside is refused.
        if !self.allow_private && addrs.iter().any(|a| is_internal(a.ip())) {
            return Err(format!(
                "{host} resolves to an internal address ({}); documents are fetched from public addresses only ([oauth] allow_private_client_metadata allows others)",
                first.ip()
            ));
        }
        Ok(first)
    }
}

/// Reads a document: it must name itself (`client_id` equal to its URL) and carry redirect URIs
/// that could be registered; it may only describe a public client.
pub fn parse(url: &str, body: &[u8]) -> Result<Document, String> {
    let doc: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("it is not JSON ({e})"))?;
    let obj = doc.as_object().ok_or("it is not a JSON object")?;
    if obj.get("client_id").and_then(|v| v.as_str()) != Some(url) {
        return Err("its client_id is not its own URL".into());
    }
    let uris: Vec<String> = obj
        .get("redirect_uris")
        .and_then(|v| v.as_array())
        .ok_or("it has no redirect_uris")?
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or("redirect_uris holds a non-string")
        })
        .collect::<Result<_, _>>()?;
    if uris.is_empty() || uris.len() > 10 {
        return Err("it must list between 1 and 10 redirect_uris".into());
    }
    if let Some(why) = uris
        .iter()
        .find_map(|u| super::clients::redirect_uri_problem(u))
    {
        return Err(why);
    }
    match obj
        .get("token_endpoint_auth_method")
        .and_then(|v| v.as_str())
    {
        None | Some("none") => {}
        Some(m) => {
            return Err(format!(
                "token_endpoint_auth_method \"{m}\" is not supported for metadata documents (none)"
            ));
        }
    }
    Ok(Document {
        client_name: super::clients::clean_name(obj.get("client_name").and_then(|v| v.as_str())),
        redirect_uris: uris,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_urls() {
        assert!(is_document_url("https://app.example/oauth/client.json"));
        assert!(!is_document_url("https://app.example/"));
        assert!(!is_document_url("http://app.example/client.json"));
        assert!(!is_document_url("owcl_abc"));
    }

    #[test]
    fn internal_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["1.1.1.1", "93.184.216.34", "2606:4700::1111"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn documents_must_name_themselves_and_a_usable_redirect() {
        let url = "https://app.example/client.json";
        let ok = format!(
            r#"{{"client_id":"{url}","client_name":"App","redirect_uris":["https://app.example/cb"]}}"#
        );
        assert_eq!(
            parse(url, ok.as_bytes()).unwrap(),
            Document {
                client_name: "App".into(),
                redirect_uris: vec!["https://app.example/cb".into()]
            }
        );
        let other = ok.replace(url, "https://evil.example/client.json");
        assert!(
            parse(url, other.as_bytes())
                .unwrap_err()
                .contains("own URL")
        );
        let js = ok.replace("https://app.example/cb", "javascript:alert(1)");
        assert!(parse(url, js.as_bytes()).is_err());
        let http = ok.replace("https://app.example/cb", "http://app.example/cb");
        assert!(parse(url, http.as_bytes()).is_err());
        let secret = ok.replace(
            r#""client_name""#,
            r#""token_endpoint_auth_method":"client_secret_basic","client_name""#,
        );
        assert!(parse(url, secret.as_bytes()).is_err());
        assert!(parse(url, b"[1]").is_err());
        assert!(parse(url, b"not json").is_err());
    }

    #[tokio::test]
    async fn internal_hosts_are_refused_before_any_request() {
        let f = Fetcher::new(false).unwrap();
        let e = f.get("https://127.0.0.1:9/client.json").await.unwrap_err();
        assert!(e.contains("internal address"), "{e}");
        let e = f.get("https://localhost:9/client.json").await.unwrap_err();
        assert!(e.contains("internal address"), "{e}");
    }
}
