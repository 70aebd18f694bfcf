//! OAuth grants against a real store (SQLite; the same SQL runs on PostgreSQL in store.rs):
//! codes single use with PKCE S256 and exact redirect URIs, audience-bound access tokens,
//! rotating refresh tokens whose reuse revokes the grant, revocation, blocked people.

use odoo_warden::oauth::grants::{
    AccessRefusal, CodeRequest, Exchange, GrantError, Grants, Lifetimes, check_access,
};
use odoo_warden::store::{PersonRow, Store};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

const RESOURCE: &str = "https://warden.example/mcp";
const REDIRECT: &str = "http://127.0.0.1:33418/callback";
// RFC 7636, appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

async fn setup(lifetimes: Lifetimes) -> (Arc<Store>, Grants) {
    let store = Arc::new(Store::connect("sqlite::memory:").await.unwrap());
    let now = OffsetDateTime::now_utc();
    store
        .oauth_save_person(&PersonRow {
            id: "p1".into(),
            login: "alice".into(),
            uid: 7,
            name: "Alice".into(),
            profile: "assistant".into(),
            sealed_key: "v1.x".into(),
            key_version: 1,
            created_at: now,
            signed_in_at: now,
            blocked_at: None,
            blocked_reason: None,
        })
        .await
        .unwrap();
    let grants = Grants::new(store.clone(), lifetimes);
    (store, grants)
}

async fn code(grants: &Grants, client: &str) -> String {
    grants
        .new_code(&CodeRequest {
            client_id: client,
            person_id: "p1",
            redirect_uri: REDIRECT,
            challenge: CHALLENGE,
            resource: RESOURCE,
            scope: "mcp",
        })
        .await
        .unwrap()
}

fn exchange<'a>(code: &'a str) -> Exchange<'a> {
    Exchange {
        code,
        client_id: "c1",
        redirect_uri: REDIRECT,
        verifier: VERIFIER,
        resource: Some(RESOURCE),
    }
}

#[tokio::test]
async fn the_code_flow_issues_tokens_for_this_resource_only() {
    let (store, grants) = setup(Lifetimes::default()).await;
    let c = code(&grants, "c1").await;
    assert!(c.starts_with("owc_"));
    let issued = grants.exchange(&exchange(&c)).await.unwrap();
    assert!(issued.access_token.starts_with("owa_"));
    assert!(issued.refresh_token.starts_with("owr_"));
    assert_eq!(issued.expires_in, 900);
    assert!(!format!("{issued:?}").contains(&issued.access_token));
    let who = check_access(&store, &issued.access_token, RESOURCE)
        .await
        .unwrap();
    assert_eq!(
        (who.login.as_str(), who.uid, who.client_id.as_str()),
        ("alice", 7, "c1")
    );
    assert_eq!(who.grant_id, issued.grant_id);
    // Audience: a token for this resource is refused by another.
    assert_eq!(
        check_access(&store, &issued.access_token, "https://other.example/mcp").await,
        Err(AccessRefusal::WrongAudience)
    );
    assert_eq!(
        check_access(&store, "owa_notatoken", RESOURCE).await,
        Err(AccessRefusal::Unknown)
    );
    // A refresh token is no access token.
    assert_eq!(
        check_access(&store, &issued.refresh_token, RESOURCE).await,
        Err(AccessRefusal::Unknown)
    );
    // The store keeps hashes only.
    let Store::Sqlite(pool) = &*store else {
        unreachable!()
    };
    let dump: Vec<String> =
        sqlx::query_scalar("SELECT hash FROM oauth_tokens UNION ALL SELECT hash FROM oauth_codes")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(dump.len(), 3);
    for h in dump {
        assert_eq!(h.len(), 64);
        assert!(!h.contains("ow"));
    }
}

#[tokio::test]
async fn an_exchange_must_match_client_redirect_verifier_and_resource() {
    let (_, grants) = setup(Lifetimes::default()).await;
    for (tweak, expected) in [
        ("client", "invalid_grant"),
        ("redirect", "invalid_grant"),
        ("verifier", "invalid_grant"),
        ("resource", "invalid_target"),
    ] {
        let c = code(&grants, "c1").await;
        let mut x = exchange(&c);
        let other_verifier = "A".repeat(43);
        match tweak {
            "client" => x.client_id = "c2",
            // Exact match: a trailing slash is another URI.
            "redirect" => x.redirect_uri = "http://127.0.0.1:33418/callback/",
            "verifier" => x.verifier = &other_verifier,
            _ => x.resource = Some("https://other.example/mcp"),
        }
        let e = grants.exchange(&x).await.unwrap_err();
        assert_eq!(e.code(), expected, "{tweak}: {e}");
        // The code was spent by the failed attempt: it cannot be retried.
        let e = grants.exchange(&exchange(&c)).await.unwrap_err();
        assert!(e.to_string().contains("already used"), "{tweak}: {e}");
    }
    // Without `resource` the code's own is used.
    let c = code(&grants, "c1").await;
    let mut x = exchange(&c);
    x.resource = None;
    grants.exchange(&x).await.unwrap();
}

#[tokio::test]
async fn a_code_used_twice_revokes_what_it_gave() {
    let (store, grants) = setup(Lifetimes::default()).await;
    let c = code(&grants, "c1").await;
    let issued = grants.exchange(&exchange(&c)).await.unwrap();
    let again = grants.exchange(&exchange(&c)).await.unwrap_err();
    assert!(matches!(again, GrantError::InvalidGrant(_)), "{again:?}");
    assert_eq!(
        check_access(&store, &issued.access_token, RESOURCE).await,
        Err(AccessRefusal::Revoked)
    );
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_grant() {
    let (store, grants) = setup(Lifetimes::default()).await;
    let c = code(&grants, "c1").await;
    let first = grants.exchange(&exchange(&c)).await.unwrap();
    let second = grants
        .refresh(&first.refresh_token, "c1", Some(RESOURCE))
        .await
        .unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(second.grant_id, first.grant_id);
    // The old access token keeps working until it expires; the new one works.
    check_access(&store, &second.access_token, RESOURCE)
        .await
        .unwrap();
    // The spent refresh token again: the whole grant goes, new tokens included.
    let e = grants
        .refresh(&first.refresh_token, "c1", None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("already used"), "{e}");
    assert_eq!(
        check_access(&store, &second.access_token, RESOURCE).await,
        Err(AccessRefusal::Revoked)
    );
    let e = grants
        .refresh(&second.refresh_token, "c1", None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("revoked"), "{e}");
}

#[tokio::test]
async fn refresh_checks_client_and_resource() {
    let (_, grants) = setup(Lifetimes::default()).await;
    let c = code(&grants, "c1").await;
    let t = grants.exchange(&exchange(&c)).await.unwrap();
    let e = grants
        .refresh(&t.refresh_token, "c2", None)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_grant");
    let c = code(&grants, "c1").await;
    let t = grants.exchange(&exchange(&c)).await.unwrap();
    let e = grants
        .refresh(&t.refresh_token, "c1", Some("https://other.example/mcp"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_target");
    assert_eq!(
        grants
            .refresh("owk_abc_def", "c1", None)
            .await
            .unwrap_err()
            .code(),
        "invalid_grant"
    );
}

#[tokio::test]
async fn revocation_follows_rfc_7009() {
    let (store, grants) = setup(Lifetimes::default()).await;
    let c = code(&grants, "c1").await;
    let t = grants.exchange(&exchange(&c)).await.unwrap();
    // Another client's revocation changes nothing.
    grants.revoke(&t.access_token, "c2").await.unwrap();
    check_access(&store, &t.access_token, RESOURCE)
        .await
        .unwrap();
    grants.revoke(&t.access_token, "c1").await.unwrap();
    assert_eq!(
        check_access(&store, &t.access_token, RESOURCE).await,
        Err(AccessRefusal::Unknown)
    );
    // The grant ended with it: its refresh token is refused.
    let e = grants
        .refresh(&t.refresh_token, "c1", None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("revoked"), "{e}");
    // Revoking the refresh token ends the grant.
    let c = code(&grants, "c1").await;
    let t = grants.exchange(&exchange(&c)).await.unwrap();
    grants.revoke(&t.refresh_token, "c1").await.unwrap();
    assert_eq!(
        check_access(&store, &t.access_token, RESOURCE).await,
        Err(AccessRefusal::Revoked)
    );
    // Unknown tokens are not an error.
    grants.revoke("owa_nothing", "c1").await.unwrap();
    grants.revoke("garbage", "c1").await.unwrap();
}

#[tokio::test]
async fn blocked_people_and_expired_tokens_are_refused() {
    let (store, grants) = setup(Lifetimes {
        access: Duration::ZERO,
        refresh: Duration::from_secs(60),
    })
    .await;
    let c = code(&grants, "c1").await;
    let t = grants.exchange(&exchange(&c)).await.unwrap();
    assert_eq!(
        check_access(&store, &t.access_token, RESOURCE).await,
        Err(AccessRefusal::Expired)
    );
    store
        .oauth_block_person("alice", OffsetDateTime::now_utc(), "left")
        .await
        .unwrap();
    let e = grants
        .refresh(&t.refresh_token, "c1", None)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_grant");
    let c = code(&grants, "c1").await;
    let e = grants.exchange(&exchange(&c)).await.unwrap_err();
    assert!(e.to_string().contains("revoked by an operator"), "{e}");
}
