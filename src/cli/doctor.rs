//! `doctor`: checks the configuration, the store, Odoo, and each profile's Odoo user and policy.

use odoo_warden::app;
use odoo_warden::config::{Config, Profile};
use odoo_warden::odoo::{OdooClient, ServerInfo};
use odoo_warden::profile::{ProfileState, load_policy};
use std::path::PathBuf;
use std::process::ExitCode;

/// One profile in the doctor's report.
#[derive(serde::Serialize)]
struct ProfileReport {
    profile: String,
    ok: bool,
    odoo_version: Option<String>,
    protocol: Option<String>,
    uid: Option<i64>,
    login: Option<String>,
    groups: Option<Vec<String>>,
    group_names: Vec<String>,
    privileged: Option<bool>,
    allow_privileged_user: bool,
    detail: String,
}

/// One line of the doctor's report.
#[derive(serde::Serialize)]
struct Check {
    check: String,
    ok: bool,
    detail: String,
}

pub async fn run(path: Option<PathBuf>, json: bool) -> anyhow::Result<ExitCode> {
    let mut checks = Vec::new();
    let mut profiles = Vec::new();
    let config = match super::load_config(path) {
        Ok(c) => {
            let detail = c
                .source
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            checks.push(Check {
                check: "config".into(),
                ok: true,
                detail,
            });
            Some(c)
        }
        Err(e) => {
            checks.push(Check {
                check: "config".into(),
                ok: false,
                detail: format!("{e:#}"),
            });
            None
        }
    };
    if let Some(config) = &config {
        // The certificate and key as `serve` would read them (both parse, the key matches).
        if let Some(files) = &config.server.tls {
            checks.push(match odoo_warden::tls::Tls::load(files) {
                Ok(tls) => Check {
                    check: "tls".into(),
                    ok: true,
                    detail: format!("{} (sha256 {})", files.cert.display(), tls.fingerprint()),
                },
                Err(e) => Check {
                    check: "tls".into(),
                    ok: false,
                    detail: e.to_string(),
                },
            });
        }
        match app::open_store(config).await {
            Ok(store) => checks.push(Check {
                check: "store".into(),
                ok: true,
                detail: store.backend().to_string(),
            }),
            Err(e) => checks.push(Check {
                check: "store".into(),
                ok: false,
                detail: format!("{e:#}"),
            }),
        }
        match OdooClient::new(config.odoo.clone()) {
            Err(e) => checks.push(Check {
                check: "odoo".into(),
                ok: false,
                detail: e.to_string(),
            }),
            Ok(client) => match client.server_info().await {
                Err(e) => checks.push(Check {
                    check: "odoo".into(),
                    ok: false,
                    detail: format!(
                        "{e}\n  hint: check [odoo] url = \"{}\" and that Odoo is running",
                        config.odoo.url
                    ),
                }),
                Ok(info) => {
                    checks.push(Check {
                        check: "odoo".into(),
                        ok: true,
                        detail: format!(
                            "Odoo {} at {}, protocol {}",
                            info.version,
                            config.odoo.url,
                            info.protocol.as_str()
                        ),
                    });
                    for profile in config.profiles.values() {
                        profiles.push(check_profile(&client, config, profile, &info).await);
                    }
                }
            },
        }
    }
    let ok = checks.iter().all(|c| c.ok) && profiles.iter().all(|p| p.ok);
    if json {
        println!(
            "{}",
            serde_json::json!({"ok": ok, "checks": checks, "profiles": profiles})
        );
    } else {
        for c in &checks {
            println!(
                "{} {}: {}",
                if c.ok { "ok  " } else { "FAIL" },
                c.check,
                c.detail
            );
        }
        for p in &profiles {
            println!(
                "{} profile {}: {}",
                if p.ok { "ok  " } else { "FAIL" },
                p.profile,
                p.detail
            );
        }
    }
    Ok(super::exit_code(ok))
}

async fn check_profile(
    client: &OdooClient,
    config: &Config,
    profile: &Profile,
    info: &ServerInfo,
) -> ProfileReport {
    let mut r = ProfileReport {
        profile: profile.name.clone(),
        ok: false,
        odoo_version: Some(info.version.raw.clone()),
        protocol: Some(info.protocol.as_str().to_string()),
        uid: None,
        login: Some(profile.credentials.login.clone()),
        groups: None,
        group_names: Vec::new(),
        privileged: None,
        allow_privileged_user: profile.allow_privileged_user,
        detail: String::new(),
    };
    let user = match client.login(&profile.credentials).await {
        Ok(u) => u,
        Err(e) => {
            r.detail = app::explain_odoo_error(profile, config, &e);
            return r;
        }
    };
    let policy = match load_policy(profile) {
        Ok(p) => p,
        Err(e) => {
            r.detail = format!("{e:#}");
            return r;
        }
    };
    let state = match ProfileState::new(profile.name.clone(), user, policy).await {
        Ok(s) => s,
        Err(e) => {
            r.detail = app::explain_odoo_error(profile, config, &e);
            return r;
        }
    };
    let id = &state.identity;
    r.uid = Some(id.uid);
    r.groups = id.groups.clone();
    r.group_names = id.group_names.clone();
    match app::privileged(&state.user, id).await {
        Err(e) => r.detail = format!("cannot tell whether the user is an administrator: {e}"),
        Ok(Some(why)) => {
            r.privileged = Some(true);
            r.ok = profile.allow_privileged_user;
            r.detail = if r.ok {
                format!(
                    "logged in as {} (uid {}); ADMINISTRATOR ({why}), accepted by allow_privileged_user = true",
                    id.login, id.uid
                )
            } else {
                format!(
                    "logged in as {} (uid {}), but {why}: use a least-privilege Odoo user (or set allow_privileged_user = true)",
                    id.login, id.uid
                )
            };
        }
        Ok(None) => {
            r.privileged = Some(false);
            r.ok = true;
            // By name (readable by internal users), with XML ids where the user may read them.
            let names = if id.group_names.is_empty() {
                "none readable by this user".to_string()
            } else {
                id.group_names.join(", ")
            };
            let xml_ids = id
                .groups
                .as_ref()
                .map(|g| format!("; XML ids: {}", g.join(", ")))
                .unwrap_or_else(|| "; XML ids: not readable by this user (ir.model.data)".into());
            r.detail = format!(
                "logged in as {} (uid {}); groups: {names}{xml_ids}",
                id.login, id.uid
            );
        }
    }
    r
}
