//! Each layer alone, driven with `oneshot` around an inner service that says whether it ran:
//! what it refuses, the answer, the [`Refusal`] it leaves in the response extensions, and what it
//! hands on in the request extensions.

use super::audit::AuditLayer;
use super::auth::AuthLayer;
use super::origin::OriginLayer;
use super::ratelimit::{ClientAddr, KeyRateLimitLayer};
use crate::audit::{AuditHandle, AuditLog};
use crate::auth::keys::{KeyRequest, create_key};
use crate::auth::{Principal, Refusal as KeyRefusal, Scope, Verifier};
use crate::refusal::{BodyStyle, Limit, Refusal};
use crate::store::Store;
use axum::body::Body;
use http::{Request, Response, StatusCode, header};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tower::{Layer, Service, ServiceExt, service_fn};

/// An inner service counting its calls; it answers 200 with what it found in the extensions.
fn inner(
    calls: Arc<AtomicUsize>,
) -> impl Service<
    Request<Body>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Body>, Infallible>> + Send,
> + Clone
+ Send
+ 'static {
    service_fn(move |req: Request<Body>| {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            let principal = req
                .extensions()
                .get::<Principal>()
                .map(|p| p.key_id.clone())
                .unwrap_or_default();
            let addr = req
                .extensions()
                .get::<ClientAddr>()
                .map(|a| a.0.to_string())
                .unwrap_or_default();
            let audited = req.extensions().get::<AuditHandle>().is_some();
            Ok::<_, Infallible>(Response::new(Body::from(format!(
                "{principal}|{addr}|{audited}"
            ))))
        }
    })
}

async fn body(r: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(r.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

async fn store() -> Arc<Store> {
    Arc::new(Store::connect("sqlite::memory:").await.unwrap())
}

#[tokio::test]
async fn auth_refuses_without_a_key_and_hands_the_principal_on() {
    let store = store().await;
    let verifier = Verifier::new(store.clone(), Duration::from_secs(60))
        .await
        .unwrap();
    let scopes = vec!["audit".to_string()];
    let key = create_key(
        &store,
        &KeyRequest {
            name: "auditor",
            scopes: &scopes,
            profile: None,
            expires_in: None,
        },
        &[],
    )
    .await
    .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));

    // No key: 401, the inner service never runs, the precise reason is in the extensions.
    let svc = AuthLayer::new(verifier.clone(), Scope::Audit).layer(inner(calls.clone()));
    let r = svc
        .oneshot(Request::builder().uri("/x").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
    assert_eq!(
        r.extensions().get::<Refusal>(),
        Some(&Refusal::Key(KeyRefusal::Missing))
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    // A valid key without the scope: 403, naming the scope.
    let svc = AuthLayer::new(verifier.clone(), Scope::Approve)
        .json_rpc()
        .layer(inner(calls.clone()));
    let r = svc
        .oneshot(
            Request::builder()
                .uri("/x")
                .header(
                    header::AUTHORIZATION,
                    format!("Bearer {}", key.token.expose()),
                )
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(matches!(
        r.extensions().get::<Refusal>(),
        Some(Refusal::Scope {
            needed: Scope::Approve,
            ..
        })
    ));
    let text = body(r).await;
    assert!(
        text.contains("\"jsonrpc\"") && text.contains("approve"),
        "{text}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    // The right scope: through, with the Principal in the request extensions.
    let svc = AuthLayer::new(verifier, Scope::Audit).layer(inner(calls.clone()));
    let r = svc
        .oneshot(
            Request::builder()
                .uri("/x")
                .header(
                    header::AUTHORIZATION,
                    format!("Bearer {}", key.token.expose()),
                )
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(body(r).await.starts_with(&key.view.id));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn origin_refuses_foreign_origins_before_any_work() {
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = OriginLayer::new(
        vec!["http://127.0.0.1:8808".into()],
        vec!["127.0.0.1:8808".into()],
    );
    let r = layer
        .layer(inner(calls.clone()))
        .oneshot(
            Request::builder()
                .uri("/mcp")
                .header(header::HOST, "127.0.0.1:8808")
                .header(header::ORIGIN, "https://evil.example")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.extensions().get::<Refusal>(),
        Some(&Refusal::ForeignOrigin("https://evil.example".into()))
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let r = layer
        .layer(inner(calls.clone()))
        .oneshot(
            Request::builder()
                .uri("/mcp")
                .header(header::HOST, "127.0.0.1:8808")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "no Origin: not a browser");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_key_limit_refuses_past_the_burst_with_retry_after() {
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = KeyRateLimitLayer::new(&[("p".to_string(), 1, 1)]);
    let request = || {
        let mut r = Request::builder().uri("/mcp").body(Body::empty()).unwrap();
        r.extensions_mut().insert(Principal {
            key_id: "k1".into(),
            name: "k".into(),
            scopes: vec![Scope::Mcp],
            profile: Some("p".into()),
            person: None,
        });
        r
    };
    let first = layer
        .layer(inner(calls.clone()))
        .oneshot(request())
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let second = layer
        .layer(inner(calls.clone()))
        .oneshot(request())
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = second.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert!(matches!(
        second.extensions().get::<Refusal>(),
        Some(Refusal::RateLimited { limit: Limit::Key(k), .. }) if k == "k1"
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_audit_layer_records_what_the_refusal_says() {
    let store = store().await;
    let log = AuditLog::start(store.clone(), "test".into());
    let layer = AuditLayer::new(log.clone());
    // An inner layer refuses: the record carries the refusal's kind and reason.
    let refusing = service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(
            Refusal::RateLimited {
                limit: Limit::Address,
                retry_after: 3,
            }
            .response(BodyStyle::Plain),
        )
    });
    let r = layer
        .layer(refusing)
        .oneshot(Request::builder().uri("/mcp").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // The inner service sees the audit handle (and the client address, when there is a peer).
    let calls = Arc::new(AtomicUsize::new(0));
    let mut req = Request::builder().uri("/mcp").body(Body::empty()).unwrap();
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo::<std::net::SocketAddr>(
            "192.0.2.7:4000".parse().unwrap(),
        ));
    let r = layer
        .layer(inner(calls.clone()))
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(body(r).await, "|192.0.2.7|true");
    assert!(log.flush(Duration::from_secs(5)).await);
    let rows = store.audit_range(1, 10).await.unwrap();
    assert_eq!(rows.len(), 2, "one record per request");
    assert_eq!(rows[0].record["kind"], "rate_limited");
    assert_eq!(rows[0].record["decision"], "refuse");
    assert_eq!(rows[0].record["reason"], "per-address rate limit");
    assert_eq!(rows[0].record["http_status"], 429);
    assert_eq!(rows[1].record["kind"], "request");
    assert_eq!(rows[1].record["client_ip"], "192.0.2.7");
}
