//! The Odoo client against the emulator in both roles: Odoo 18 over /jsonrpc and Odoo 19 over
//! JSON-2 (plus /jsonrpc on 19, 17's access check, and SaaS versions). Every operation, every
//! error kind.

use crate::emulator;

use emulator::{Emulator, EmulatorConfig, api_key};
use odoo_warden::odoo::{
    ClientConfig, Credentials, ErrorKind, GroupedRead, OdooClient, OdooUser, Operation, Protocol,
    ProtocolChoice, SearchRead,
};
use odoo_warden::secret::Secret;
use serde_json::{Map, Value, json};
use std::time::Duration;

fn client(url: &str, protocol: ProtocolChoice) -> OdooClient {
    let mut c = ClientConfig::new(url.parse().unwrap(), "lab");
    c.protocol = protocol;
    c.timeout = Duration::from_secs(5);
    OdooClient::new(c).unwrap()
}

async fn login(emu: &Emulator, protocol: ProtocolChoice, who: &str) -> OdooUser {
    client(&emu.url(), protocol)
        .login(&Credentials::new(who, Secret::new(api_key(who))))
        .await
        .unwrap()
}

fn vals(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

/// Every role the client must play: (emulator, forced protocol, the protocol expected in use).
fn roles() -> Vec<(EmulatorConfig, ProtocolChoice, Protocol)> {
    vec![
        (
            EmulatorConfig::odoo18(),
            ProtocolChoice::Auto,
            Protocol::Jsonrpc,
        ),
        (
            EmulatorConfig::odoo19(),
            ProtocolChoice::Auto,
            Protocol::Json2,
        ),
        (
            EmulatorConfig::odoo19(),
            ProtocolChoice::Jsonrpc,
            Protocol::Jsonrpc,
        ),
    ]
}

#[tokio::test]
async fn detection_and_login() {
    for (cfg, choice, want) in roles() {
        let emu = Emulator::start(cfg).await;
        let c = client(&emu.url(), choice);
        let info = c.server_info().await.unwrap();
        assert_eq!(info.protocol, want);
        let reader = c
            .login(&Credentials::new(
                "mcp_reader",
                Secret::new(api_key("mcp_reader")),
            ))
            .await
            .unwrap();
        assert_eq!(reader.uid(), emu.uid("mcp_reader"));
        assert_eq!(reader.context().get("tz"), Some(&json!("Europe/Brussels")));
        let me = reader.whoami().await.unwrap();
        assert_eq!(
            (me.login.as_str(), me.name.as_str()),
            ("mcp_reader", "MCP Reader")
        );
        assert_eq!(me.company.as_ref().map(|c| c.id), Some(1));
        assert_eq!(me.companies.len(), 1);
        assert!(!me.share);
        let admin = c
            .login(&Credentials::new("admin", Secret::new(api_key("admin"))))
            .await
            .unwrap();
        assert_eq!(admin.uid(), 2);
    }
    // SaaS and older versions: the version string is parsed, the right transport chosen.
    for (v, want) in [
        ("saas~19.2", Protocol::Json2),
        ("17.0", Protocol::Jsonrpc),
        ("16.0", Protocol::Jsonrpc),
    ] {
        let emu = Emulator::start(EmulatorConfig::with_version(v)).await;
        let info = client(&emu.url(), ProtocolChoice::Auto)
            .server_info()
            .await
            .unwrap();
        assert_eq!((info.protocol, info.version.raw.as_str()), (want, v));
    }
}

#[tokio::test]
async fn reads() {
    for (cfg, choice, _) in roles() {
        let emu = Emulator::start(cfg).await;
        let reader = login(&emu, choice, "mcp_reader").await;
        let q = SearchRead::new(json!([]), ["name", "user_id", "state"]).order("id");
        let orders = reader.search_read("sale.order", &q).await.unwrap();
        assert_eq!(orders.len(), 3, "record rule: own orders only");
        assert_eq!(orders[0]["user_id"][0], json!(emu.uid("mcp_reader")));
        assert_eq!(
            reader
                .search_count("sale.order", &json!([]), &Map::new())
                .await
                .unwrap(),
            3
        );

        let writer = login(&emu, choice, "mcp_writer").await;
        assert_eq!(
            writer
                .search_count("sale.order", &json!([]), &Map::new())
                .await
                .unwrap(),
            24
        );
        let ids = writer
            .search("res.partner", &json!([["is_company", "=", true]]), Some(3))
            .await
            .unwrap();
        assert_eq!(ids.len(), 3);
        let rows = writer
            .read("res.partner", &[1], &["name", "display_name"])
            .await
            .unwrap();
        assert_eq!(rows[0]["name"], "My Company (San Francisco)");
        assert!(
            writer
                .read("res.partner", &[99_999_999], &["name"])
                .await
                .unwrap()
                .is_empty()
        );
        let mut ctx = Map::new();
        ctx.insert("active_test".into(), json!(false));
        let all = writer
            .search_count("res.partner", &json!([]), &ctx)
            .await
            .unwrap();
        let active = writer
            .search_count("res.partner", &json!([]), &Map::new())
            .await
            .unwrap();
        assert!(
            all > active,
            "active_test=False counts archived partners too"
        );

        let fields = reader.field_infos("res.partner", None).await.unwrap();
        let name = fields.iter().find(|(n, _)| n == "name").unwrap();
        assert_eq!(name.1.field_type, "char");
        let country = fields.iter().find(|(n, _)| n == "country_id").unwrap();
        assert_eq!(country.1.relation.as_deref(), Some("res.country"));
        let some = reader
            .fields_get(
                "sale.order",
                Some(&["name".to_string(), "state".to_string()]),
            )
            .await
            .unwrap();
        assert_eq!(some.len(), 2);
        assert!(some["state"]["selection"].is_array());

        let q = GroupedRead {
            domain: json!([]),
            groupby: vec!["state".into()],
            aggregates: vec!["amount_total:sum".into(), "__count".into()],
            limit: None,
            offset: None,
            order: None,
        };
        let groups = writer.grouped_read("sale.order", &q).await.unwrap();
        let total: i64 = groups.iter().map(|g| g["__count"].as_i64().unwrap()).sum();
        assert_eq!(total, 24);
        for g in &groups {
            assert!(
                g["state"].is_string() && g["amount_total:sum"].is_number(),
                "{g:?}"
            );
            assert_eq!(g.len(), 3, "one shape on every version: {g:?}");
        }

        assert!(
            writer
                .check_access("res.partner", Operation::Create)
                .await
                .unwrap()
        );
        assert!(
            !reader
                .check_access("res.partner", Operation::Create)
                .await
                .unwrap()
        );
        assert!(
            reader
                .check_access("sale.order", Operation::Read)
                .await
                .unwrap()
        );
        assert!(
            !writer
                .check_access("sale.order", Operation::Unlink)
                .await
                .unwrap()
        );
    }
}

#[tokio::test]
async fn writes_and_methods() {
    for (cfg, choice, _) in roles() {
        let emu = Emulator::start(cfg).await;
        let writer = login(&emu, choice, "mcp_writer").await;
        let ids = writer
            .create(
                "res.partner",
                vec![
                    vals(json!({"name": "Client test A"})),
                    vals(json!({"name": "Client test B", "email": "b@example.com"})),
                ],
            )
            .await
            .unwrap();
        assert_eq!(ids.len(), 2);
        assert!(
            writer
                .write(
                    "res.partner",
                    &ids[..1],
                    vals(json!({"phone": "+1 555 0100"}))
                )
                .await
                .unwrap()
        );
        let back = writer
            .read("res.partner", &ids, &["name", "phone"])
            .await
            .unwrap();
        assert_eq!(back[0]["phone"], "+1 555 0100");
        assert!(writer.unlink("res.partner", &ids).await.unwrap());
        assert!(
            writer
                .read("res.partner", &ids, &["name"])
                .await
                .unwrap()
                .is_empty()
        );

        // A public business method on records: confirm a draft quotation.
        let drafts = writer
            .search("sale.order", &json!([["state", "=", "draft"]]), Some(1))
            .await
            .unwrap();
        writer
            .call_method("sale.order", "action_confirm", &drafts, Map::new())
            .await
            .unwrap();
        let row = writer
            .read("sale.order", &drafts, &["state"])
            .await
            .unwrap();
        assert_eq!(row[0]["state"], "sale");
    }
}

#[tokio::test]
async fn every_error_kind() {
    for (cfg, choice, _) in roles() {
        let emu = Emulator::start(cfg).await;
        let reader = login(&emu, choice, "mcp_reader").await;
        let writer = login(&emu, choice, "mcp_writer").await;
        let admin = login(&emu, choice, "admin").await;
        let kind = |r: Result<Value, odoo_warden::odoo::OdooError>| r.unwrap_err();

        let e = reader
            .create("res.partner", vec![vals(json!({"name": "nope"}))])
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Access);
        assert_eq!(e.class.as_deref(), Some("odoo.exceptions.AccessError"));
        assert!(
            e.message
                .starts_with("You are not allowed to create 'Contact' (res.partner) records."),
            "{}",
            e.message
        );
        let e = reader
            .read("sale.order", &[24], &["name"])
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Access);

        let e = writer
            .write("res.partner", &[3], vals(json!({"parent_id": 3})))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Validation);
        let e = writer
            .create("sale.order", vec![Map::new()])
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Validation);
        let e = writer
            .write("res.partner", &[99_999_999], vals(json!({"name": "x"})))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Missing);
        let e = admin.unlink("sale.order", &[24]).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::User);
        let e = kind(
            writer
                .execute("no.such.model", "search_read", None, Map::new())
                .await,
        );
        assert_eq!(e.kind, ErrorKind::NotFound);
        let e = kind(
            writer
                .execute("res.partner", "no_such_method", None, Map::new())
                .await,
        );
        assert_eq!(e.kind, ErrorKind::NotFound);
        let e = writer
            .search("res.partner", &json!([["no_such_field", "=", 1]]), None)
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadRequest);
        assert!(e.message.contains("no_such_field"));
        let e = kind(
            writer
                .execute(
                    "res.partner",
                    "_compute_display_name",
                    Some(&[1]),
                    Map::new(),
                )
                .await,
        );
        assert_eq!(e.kind, ErrorKind::Access);

        // Credentials: a wrong key, a wrong login.
        let c = client(&emu.url(), choice);
        let e = c
            .login(&Credentials::new("mcp_reader", Secret::new("0000000000")))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Credentials);
        assert!(
            !e.to_string().contains("0000000000"),
            "the key never appears in errors"
        );
        let e = c
            .login(&Credentials::new(
                "mcp_writer",
                Secret::new(api_key("mcp_reader")),
            ))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Credentials);

        // A database that does not exist: not found, and no database host in the message.
        let mut cfg = ClientConfig::new(emu.url().parse().unwrap(), "no_such_db");
        cfg.protocol = choice;
        let e = OdooClient::new(cfg)
            .unwrap()
            .login(&Credentials::new(
                "mcp_reader",
                Secret::new(api_key("mcp_reader")),
            ))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
        assert!(
            !e.message.contains("127.0.0.1") && !e.message.contains("5433"),
            "{e}"
        );
    }
}

#[tokio::test]
async fn json2_on_odoo_18_is_a_clear_error() {
    let emu = Emulator::start(EmulatorConfig::odoo18()).await;
    let e = client(&emu.url(), ProtocolChoice::Json2)
        .server_info()
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadRequest);
    assert!(e.message.contains("JSON-2 needs Odoo 19"), "{e}");
}

#[tokio::test]
async fn transport_timeout_and_server_errors() {
    // Nobody listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = client(&format!("http://127.0.0.1:{port}"), ProtocolChoice::Auto)
        .server_info()
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transport);
    assert!(e.message.contains("cannot connect"), "{e}");

    // Accepts, never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let mut cfg = ClientConfig::new(format!("http://{addr}").parse().unwrap(), "lab");
    cfg.timeout = Duration::from_millis(300);
    let e = OdooClient::new(cfg)
        .unwrap()
        .server_info()
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout, "{e}");

    // A proxy in front of Odoo failing with an HTML page.
    let app = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::BAD_GATEWAY,
            [("content-type", "text/html")],
            "<html>bad gateway</html>",
        )
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    let e = client(&format!("http://{addr}"), ProtocolChoice::Auto)
        .server_info()
        .await
        .unwrap_err();
    // Odoo may or may not have carried the request out behind the proxy: a transport failure
    // (unknown outcome for a write), not an answer from Odoo.
    assert_eq!(e.kind, ErrorKind::Transport, "{e}");
    assert!(e.outcome_unknown(), "{e}");
    assert!(e.message.contains("502"), "{e}");
}

#[tokio::test]
async fn one_request_per_read_and_pooled_connections() {
    let emu = Emulator::start(EmulatorConfig::odoo19()).await;
    let reader = login(&emu, ProtocolChoice::Auto, "mcp_reader").await;
    let before = emu.requests();
    let q = SearchRead::new(json!([]), ["name"]).limit(5);
    for _ in 0..10 {
        reader.search_read("res.partner", &q).await.unwrap();
    }
    assert_eq!(
        emu.requests() - before,
        10,
        "no re-authentication, no extra round trip per read"
    );
}
