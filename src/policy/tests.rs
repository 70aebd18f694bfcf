use super::*;
use serde_json::json;

const FILE: &str = "policies/test.toml";

fn parse(text: &str) -> Policy {
    Policy::parse(text, FILE).unwrap_or_else(|p| panic!("{text}\n{p:#?}"))
}

/// The problems of `text`, displayed.
fn problems(text: &str) -> Vec<String> {
    match Policy::parse(text, FILE) {
        Ok(_) => panic!("{text}\nparsed without problems"),
        Err(p) => p.iter().map(ToString::to_string).collect(),
    }
}

fn one_problem(text: &str) -> String {
    let p = problems(text);
    assert_eq!(p.len(), 1, "{text}\n{p:#?}");
    p[0].clone()
}

// ---- shipped policies ----

#[test]
fn every_shipped_policy_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 2, "{paths:?}");
    for path in &paths {
        if let Err(p) = Policy::load(path) {
            panic!("{}: {p:#?}", path.display());
        }
    }
    assert!(check_files(&paths).is_empty());
}

#[test]
fn read_only_default_reads_and_never_writes() {
    let p = Policy::read_only_default();
    assert_eq!(p.source(), "policies/read-only.toml (built in)");
    assert_eq!(p.max_records(), 200);
    assert_eq!(p.models().count(), 21);
    assert!(p.allows_anywhere(Op::Read));
    for op in [Op::Create, Op::Update, Op::Delete] {
        assert!(!p.allows_anywhere(op), "{op}");
    }
    assert!(!p.any_methods());
    assert!(p.is_visible("sale.order") && p.is_visible("res.partner"));
    assert!(!p.is_visible("res.users") && !p.is_visible("ir.attachment"));
    let partner = p.model("res.partner").unwrap();
    assert!(partner.is_hidden("bank_ids"));
    assert_eq!(partner.operations(), vec!["read"]);
    // Sorted by name.
    let names: Vec<&str> = p.models().map(|(n, _)| n).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[test]
fn sales_assistant_means_what_its_comments_say() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/sales-assistant.toml");
    let p = Policy::load(&path).unwrap();
    assert_eq!(p.default_confirm(), Confirm::User);
    assert!(p.allows_anywhere(Op::Create) && p.allows_anywhere(Op::Update));
    assert!(!p.allows_anywhere(Op::Delete));
    assert!(p.any_methods());

    let partner = p.model("res.partner").unwrap();
    assert_eq!(partner.operations(), vec!["read", "create", "update"]);
    assert!(partner.is_hidden("vat") && partner.is_hidden("credit_limit"));
    assert!(partner.may_write(Op::Update, "email"));
    assert!(!partner.may_write(Op::Update, "vat"));
    assert!(!partner.may_write(Op::Update, "company_id"));
    assert!(!partner.may_write(Op::Delete, "email"));
    assert_eq!(partner.confirm(Op::Update, Confirm::None), Confirm::User);

    let order = p.model("sale.order").unwrap();
    assert_eq!(
        order.restriction(Op::Read),
        json!([["state", "!=", "cancel"]])
    );
    assert_eq!(
        order.restriction(Op::Update),
        json!([
            "&",
            ["state", "!=", "cancel"],
            ["state", "in", ["draft", "sent"]]
        ])
    );
    assert_eq!(order.restriction(Op::Create), json!([]));
    assert_eq!(order.restriction(Op::Delete), json!([[0, "=", 1]]));
    assert_eq!(
        order.method_restriction(),
        json!([["state", "!=", "cancel"]])
    );
    assert_eq!(order.confirm(Op::Create, Confirm::User), Confirm::Approver);
    assert_eq!(order.method("action_confirm"), Some(Confirm::Approver));
    assert_eq!(order.method("action_cancel"), None);
    assert_eq!(order.methods().collect::<Vec<_>>(), vec!["action_confirm"]);
    assert!(order.writable(Op::Create).unwrap().contains("order_line"));

    let line = p.model("sale.order.line").unwrap();
    assert!(line.allows(Op::Create) && line.allows(Op::Update) && !line.allows(Op::Delete));
}

// ---- the model API ----

#[test]
fn model_policy_semantics() {
    let p = parse(
        r#"
[defaults]
max_records = 50
confirm = "approver"

[models."res.partner"]
read = { domain = [["active", "=", true], ["customer_rank", ">", 0]] }
hidden_fields = ["vat"]
create = true
update = { domain = [["is_company", "=", false]] }
delete = { domain = ["|", ["email", "=", false], ["phone", "=", false]], confirm = "none" }
methods.action_archive = true
methods.message_subscribe = { confirm = "user" }

[models."res.bank"]
update = { fields = ["name"] }

[models."res.users"]
read = false
hidden_fields = ["password"]

[models."project.task"]
methods.action_open = true
"#,
    );
    assert_eq!(p.source(), FILE);
    assert_eq!(p.max_records(), 50);
    assert_eq!(p.default_confirm(), Confirm::Approver);

    let partner = p.model("res.partner").unwrap();
    assert_eq!(partner.name(), "res.partner");
    assert_eq!(
        partner.operations(),
        vec!["read", "create", "update", "delete"]
    );
    let read = json!(["&", ["active", "=", true], ["customer_rank", ">", 0]]);
    assert_eq!(partner.restriction(Op::Read), read);
    assert_eq!(
        partner.restriction(Op::Update),
        json!(["&", read[0], read[1], read[2], ["is_company", "=", false]])
    );
    assert_eq!(
        partner.restriction(Op::Delete),
        json!([
            "&",
            "&",
            ["active", "=", true],
            ["customer_rank", ">", 0],
            "|",
            ["email", "=", false],
            ["phone", "=", false]
        ])
    );
    assert_eq!(partner.writable(Op::Create), None);
    assert_eq!(partner.writable(Op::Update), None);
    assert!(partner.may_write(Op::Create, "name"));
    assert!(!partner.may_write(Op::Create, "vat"));
    assert!(!partner.may_write(Op::Create, "id"));
    assert_eq!(partner.confirm(Op::Read, Confirm::User), Confirm::None);
    assert_eq!(partner.confirm(Op::Create, Confirm::User), Confirm::User);
    assert_eq!(partner.confirm(Op::Delete, Confirm::User), Confirm::None);
    // `method` uses the file's default; `method_confirm` the one given.
    assert_eq!(partner.method("action_archive"), Some(Confirm::Approver));
    assert_eq!(
        partner.method_confirm("action_archive", Confirm::None),
        Some(Confirm::None)
    );
    assert_eq!(
        partner.method_confirm("message_subscribe", Confirm::None),
        Some(Confirm::User)
    );
    assert_eq!(partner.method_confirm("unlink", Confirm::None), None);
    assert_eq!(
        partner.referenced_fields().into_iter().collect::<Vec<_>>(),
        vec![
            "active",
            "customer_rank",
            "email",
            "is_company",
            "phone",
            "vat"
        ]
    );

    // Writes without read: allowed, reads refused; the restriction still stands alone.
    let bank = p.model("res.bank").unwrap();
    assert!(!bank.allows(Op::Read) && bank.allows(Op::Update));
    assert_eq!(bank.operations(), vec!["update"]);
    assert_eq!(bank.restriction(Op::Update), json!([]));
    assert_eq!(bank.restriction(Op::Read), json!([[0, "=", 1]]));
    assert_eq!(
        bank.writable(Op::Update)
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        vec!["name"]
    );
    assert!(p.is_visible("res.bank"));

    // Named but allowing nothing: invisible, and every question answered strictly.
    let users = p.model("res.users").unwrap();
    assert!(!p.is_visible("res.users"));
    assert!(users.operations().is_empty());
    assert_eq!(users.writable(Op::Create), Some(&BTreeSet::new()));
    assert_eq!(users.writable(Op::Update), Some(&BTreeSet::new()));
    assert_eq!(users.writable(Op::Read), Some(&BTreeSet::new()));
    assert_eq!(users.restriction(Op::Update), json!([[0, "=", 1]]));
    assert_eq!(users.confirm(Op::Delete, Confirm::None), Confirm::Approver);

    // Only a method: visible, no CRUD.
    assert!(p.is_visible("project.task"));
    assert!(p.any_methods());
    assert!(!p.is_visible("res.country"));
    assert!(p.model("res.country").is_none());
}

#[test]
fn defaults_when_the_file_says_nothing() {
    let p = parse("");
    assert_eq!(p.max_records(), 200);
    assert_eq!(p.default_confirm(), Confirm::User);
    assert_eq!(p.models().count(), 0);
    for op in Op::ALL {
        assert!(!p.allows_anywhere(op));
    }
}

#[test]
fn confirm_and_op_names() {
    assert_eq!(
        [Confirm::None, Confirm::User, Confirm::Approver].map(Confirm::as_str),
        ["none", "user", "approver"]
    );
    assert_eq!(
        serde_json::to_value(Confirm::Approver).unwrap(),
        json!("approver")
    );
    assert_eq!(
        serde_json::from_value::<Confirm>(json!("none")).unwrap(),
        Confirm::None
    );
    assert_eq!(
        Op::ALL.map(Op::as_str),
        ["read", "create", "update", "delete"]
    );
    assert!(Confirm::None < Confirm::User && Confirm::User < Confirm::Approver);
}

// ---- every validation rule, located by file, model and key ----

#[test]
fn problem_display() {
    let cases = [
        (
            Some("res.partner"),
            Some("update.fields"),
            "policies/test.toml: models.\"res.partner\".update.fields: m",
        ),
        (
            Some("res.partner"),
            None,
            "policies/test.toml: models.\"res.partner\": m",
        ),
        (
            None,
            Some("defaults.confirm"),
            "policies/test.toml: defaults.confirm: m",
        ),
        (None, None, "policies/test.toml: m"),
    ];
    for (model, key, want) in cases {
        let p = Problem {
            file: FILE.into(),
            model: model.map(Into::into),
            key: key.map(Into::into),
            message: "m".into(),
        };
        assert_eq!(p.to_string(), want);
    }
}

#[test]
fn validation_rules_table() {
    let m = "[models.\"res.partner\"]\n";
    let cases: Vec<(String, &str)> = vec![
        // TOML syntax: one problem with line and column.
        (
            "[defaults]\nmax_records = = 3\n".into(),
            "policies/test.toml: not valid TOML: line 2, column 15:",
        ),
        // Top level.
        (
            "[default]\nconfirm = \"user\"\n".into(),
            "policies/test.toml: default: unknown key",
        ),
        (
            "defaults = 3\n".into(),
            "policies/test.toml: defaults: must be a table, not an integer",
        ),
        (
            "models = [1]\n".into(),
            "policies/test.toml: models: must be a table, not a list",
        ),
        // Defaults.
        (
            "[defaults]\nmax_records = 0\n".into(),
            "policies/test.toml: defaults.max_records: must be between 1 and 10000, not 0",
        ),
        (
            "[defaults]\nmax_records = 10001\n".into(),
            "policies/test.toml: defaults.max_records: must be between 1 and 10000, not 10001",
        ),
        (
            "[defaults]\nmax_records = \"5\"\n".into(),
            "policies/test.toml: defaults.max_records: must be an integer, not a string",
        ),
        (
            "[defaults]\nconfirm = \"admin\"\n".into(),
            "policies/test.toml: defaults.confirm: \"admin\" is not a confirmation (use \"none\", \"user\" or \"approver\")",
        ),
        (
            "[defaults]\nconfirm = true\n".into(),
            "policies/test.toml: defaults.confirm: a boolean is not a confirmation",
        ),
        (
            "[defaults]\nmax_rows = 5\n".into(),
            "policies/test.toml: defaults.max_rows: unknown key (allowed in [defaults]: max_records, confirm)",
        ),
        // Model names and shapes.
        (
            "[models.\"Res.Partner\"]\nread = true\n".into(),
            "policies/test.toml: models.\"Res.Partner\": is not a model name",
        ),
        (
            "[models.\".res\"]\nread = true\n".into(),
            "policies/test.toml: models.\".res\": is not a model name",
        ),
        (
            "[models.\"res.\"]\nread = true\n".into(),
            "policies/test.toml: models.\"res.\": is not a model name",
        ),
        (
            "[models.\"res..partner\"]\nread = true\n".into(),
            "policies/test.toml: models.\"res..partner\": is not a model name",
        ),
        (
            "[models]\n\"res.partner\" = true\n".into(),
            "policies/test.toml: models.\"res.partner\": must be a table, not a boolean",
        ),
        (
            format!("{m}reed = true\n"),
            "policies/test.toml: models.\"res.partner\".reed: unknown key (allowed: read, hidden_fields, derived, labels, create, update, delete, methods)",
        ),
        (
            "[models.sale.order]\nread = true\n".into(),
            "policies/test.toml: models.\"sale\".order: unknown key (allowed: read, hidden_fields, derived, labels, create, update, delete, methods); a model name with dots must be quoted, as in [models.\"sale.order\"]",
        ),
        // Rule shapes and keys at every level.
        (
            format!("{m}read = \"yes\"\n"),
            "policies/test.toml: models.\"res.partner\".read: must be true, false or a table { domain }, not a string",
        ),
        (
            format!("{m}read = {{ fields = [\"name\"] }}\n"),
            "policies/test.toml: models.\"res.partner\".read.fields: unknown key (read takes domain)",
        ),
        (
            format!("{m}create = {{ domain = [] }}\n"),
            "policies/test.toml: models.\"res.partner\".create.domain: unknown key (create takes fields, confirm)",
        ),
        (
            format!("{m}delete = {{ fields = [\"name\"] }}\n"),
            "policies/test.toml: models.\"res.partner\".delete.fields: unknown key (delete takes domain, confirm)",
        ),
        (
            format!("{m}update = {{ confirmation = \"user\" }}\n"),
            "policies/test.toml: models.\"res.partner\".update.confirmation: unknown key (update takes fields, domain, confirm)",
        ),
        (
            format!("{m}update = {{ confirm = \"nobody\" }}\n"),
            "policies/test.toml: models.\"res.partner\".update.confirm: \"nobody\" is not a confirmation",
        ),
        (
            format!("{m}delete = 1\n"),
            "policies/test.toml: models.\"res.partner\".delete: must be true, false or a table { domain, confirm }, not an integer",
        ),
        // Hidden fields.
        (
            format!("{m}hidden_fields = \"vat\"\n"),
            "policies/test.toml: models.\"res.partner\".hidden_fields: must be a list of field names, not a string",
        ),
        (
            format!("{m}hidden_fields = [\"Vat\"]\n"),
            "policies/test.toml: models.\"res.partner\".hidden_fields: \"Vat\" is not a field name",
        ),
        (
            format!("{m}hidden_fields = [\"bank_ids.acc_number\"]\n"),
            "policies/test.toml: models.\"res.partner\".hidden_fields: \"bank_ids.acc_number\" is not a field name",
        ),
        (
            format!("{m}hidden_fields = [1]\n"),
            "policies/test.toml: models.\"res.partner\".hidden_fields: must list field names, found an integer",
        ),
        (
            format!("{m}hidden_fields = [\"id\"]\n"),
            "policies/test.toml: models.\"res.partner\".hidden_fields: \"id\" cannot be hidden",
        ),
        // Writable fields.
        (
            format!("{m}hidden_fields = [\"vat\"]\nupdate = {{ fields = [\"name\", \"vat\"] }}\n"),
            "policies/test.toml: models.\"res.partner\".update.fields: \"vat\" is also hidden",
        ),
        (
            format!("{m}create = {{ fields = [\"id\", \"name\"] }}\n"),
            "policies/test.toml: models.\"res.partner\".create.fields: \"id\" cannot be writable",
        ),
        (
            format!("{m}create = {{ fields = [\"name;\"] }}\n"),
            "policies/test.toml: models.\"res.partner\".create.fields: \"name;\" is not a field name",
        ),
        (
            format!("{m}create = {{ fields = [] }}\n"),
            "policies/test.toml: models.\"res.partner\".create.fields: an empty list allows no field; to refuse the operation say false",
        ),
        (
            format!("{m}update = {{ fields = \"name\" }}\n"),
            "policies/test.toml: models.\"res.partner\".update.fields: must be a list of field names, not a string",
        ),
        // Domains.
        (
            format!("{m}read = {{ domain = [[\"state\", \"~\", 1]] }}\n"),
            "policies/test.toml: models.\"res.partner\".read.domain: domain term 0: unknown operator \"~\"",
        ),
        (
            format!("{m}read = {{ domain = [\"|\", [\"a\", \"=\", 1]] }}\n"),
            "policies/test.toml: models.\"res.partner\".read.domain: domain ends before its operators have all their terms",
        ),
        (
            format!("{m}read = {{ domain = \"state = 1\" }}\n"),
            "policies/test.toml: models.\"res.partner\".read.domain: domain must be a list",
        ),
        (
            format!(
                "{m}hidden_fields = [\"vat\"]\nread = {{ domain = [[\"vat\", \"!=\", false]] }}\n"
            ),
            "policies/test.toml: models.\"res.partner\".read.domain: \"vat\" uses the hidden field \"vat\"",
        ),
        (
            format!(
                "{m}hidden_fields = [\"bank_ids\"]\ndelete = {{ domain = [\"!\", [\"bank_ids.acc_number\", \"=\", \"x\"]] }}\n"
            ),
            "policies/test.toml: models.\"res.partner\".delete.domain: \"bank_ids.acc_number\" uses the hidden field \"bank_ids\"",
        ),
        (
            format!("{m}update = {{ domain = [[\"a\", \"=\", nan]] }}\n"),
            "policies/test.toml: models.\"res.partner\".update.domain: a domain cannot hold nan or inf",
        ),
        // Methods.
        (
            format!("{m}methods.write = true\n"),
            "policies/test.toml: models.\"res.partner\".methods.write: cannot be allowlisted: use the create/update/delete rules",
        ),
        (
            format!("{m}methods.unlink = true\n"),
            "policies/test.toml: models.\"res.partner\".methods.unlink: cannot be allowlisted: use the create/update/delete rules",
        ),
        (
            format!("{m}methods.create = true\n"),
            "policies/test.toml: models.\"res.partner\".methods.create: cannot be allowlisted: use the create/update/delete rules",
        ),
        (
            format!("{m}methods.search_read = true\n"),
            "policies/test.toml: models.\"res.partner\".methods.search_read: cannot be allowlisted: use the read rule",
        ),
        (
            format!("{m}methods.copy = true\n"),
            "policies/test.toml: models.\"res.partner\".methods.copy: cannot be allowlisted: it creates records",
        ),
        (
            format!("{m}methods.sudo = true\n"),
            "policies/test.toml: models.\"res.partner\".methods.sudo: cannot be allowlisted: it would run as the superuser",
        ),
        (
            format!("{m}methods._compute_name = true\n"),
            "policies/test.toml: models.\"res.partner\".methods._compute_name: private methods (leading _) cannot be allowlisted",
        ),
        (
            format!("{m}methods.\"action-go\" = true\n"),
            "policies/test.toml: models.\"res.partner\".methods.\"action-go\": is not a method name",
        ),
        (
            format!("{m}methods.action_go = {{ confirm = \"maybe\" }}\n"),
            "policies/test.toml: models.\"res.partner\".methods.action_go.confirm: \"maybe\" is not a confirmation",
        ),
        (
            format!("{m}methods.action_go = {{ args = [] }}\n"),
            "policies/test.toml: models.\"res.partner\".methods.action_go.args: unknown key (a method rule takes confirm and arguments)",
        ),
        (
            format!("{m}methods.action_go = \"yes\"\n"),
            "policies/test.toml: models.\"res.partner\".methods.action_go: must be true, false or { confirm = \"...\", arguments = [...] }, not a string",
        ),
        (
            format!("{m}methods.action_go = {{ arguments = \"force\" }}\n"),
            "policies/test.toml: models.\"res.partner\".methods.action_go.arguments: must be a list of keyword argument names, not a string",
        ),
        (
            format!("{m}methods.action_go = {{ arguments = [\"context\"] }}\n"),
            "policies/test.toml: models.\"res.partner\".methods.action_go.arguments: \"context\" cannot be allowlisted",
        ),
        (
            format!("{m}methods.action_go = {{ arguments = [\"Force\"] }}\n"),
            "policies/test.toml: models.\"res.partner\".methods.action_go.arguments: \"Force\" is not an argument name",
        ),
        (
            format!("{m}labels = \"yes\"\n"),
            "policies/test.toml: models.\"res.partner\".labels: must be true or false",
        ),
        (
            format!("{m}derived = 1\n"),
            "policies/test.toml: models.\"res.partner\".derived: must be a table",
        ),
        (
            format!("{m}derived.display_name = {{ ignore = [\"email\"] }}\n"),
            "policies/test.toml: models.\"res.partner\".derived.display_name: needs a reason",
        ),
        (
            format!(
                "{m}derived.display_name = {{ reason = \"email is only shown with show_email\" }}\n"
            ),
            "policies/test.toml: models.\"res.partner\".derived.display_name: needs ignore",
        ),
        (
            format!(
                "{m}derived.display_name = {{ ignore = [], reason = \"email is only shown with show_email\" }}\n"
            ),
            "policies/test.toml: models.\"res.partner\".derived.display_name.ignore: must be a non-empty list",
        ),
        (
            format!("{m}derived.display_name = {{ ignore = [\"email\"], reason = \"no\" }}\n"),
            "policies/test.toml: models.\"res.partner\".derived.display_name.reason: must say, in a sentence, why",
        ),
        (
            format!(
                "{m}derived.display_name = {{ ignore = [\"name\"], reason = \"the name is not shown here\" }}\n"
            ),
            "policies/test.toml: models.\"res.partner\".derived.display_name.ignore: display_name shows the record's name",
        ),
        (
            format!(
                "{m}derived.display_name = {{ ignore = [\"Email\"], reason = \"email is only shown with show_email\" }}\n"
            ),
            "policies/test.toml: models.\"res.partner\".derived.display_name.ignore: must list sources as Odoo's fields_get `depends` names them",
        ),
        (
            format!(
                "{m}hidden_fields = [\"email_formatted\"]\nderived.email_formatted = {{ ignore = [\"email\"], reason = \"email is only shown with show_email\" }}\n"
            ),
            "policies/test.toml: models.\"res.partner\".derived.email_formatted: \"email_formatted\" is itself hidden",
        ),
        (
            format!(
                "{m}derived.display_name = {{ ignore = [\"email\"], reason = \"email is only shown with show_email\", because = 1 }}\n"
            ),
            "policies/test.toml: models.\"res.partner\".derived.display_name.because: unknown key (an exception takes ignore and reason)",
        ),
        (
            format!("{m}methods = [\"action_go\"]\n"),
            "policies/test.toml: models.\"res.partner\".methods: must be a table such as methods.action_confirm = true, not a list",
        ),
    ];
    for (text, want) in cases {
        let got = one_problem(&text);
        assert!(got.starts_with(want), "{text}\n got: {got}\nwant: {want}");
    }
}

#[test]
fn problems_carry_model_and_key_as_fields() {
    let p = Policy::parse(
        "[models.\"res.partner\"]\nhidden_fields = [\"vat\"]\nupdate = { fields = [\"vat\"] }\n",
        FILE,
    )
    .unwrap_err();
    assert_eq!(
        p,
        vec![Problem {
            file: FILE.into(),
            model: Some("res.partner".into()),
            key: Some("update.fields".into()),
            message: "\"vat\" is also hidden".into(),
        }]
    );
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let got = problems(
        r#"
colour = "blue"
[defaults]
max_records = 0
confirm = "sometimes"

[models."res.partner"]
hidden_fields = ["vat", "Bad"]
read = { domain = [["vat", "=", "x"]] }
create = { fields = ["vat", "id"], confirm = "later" }
delete = { domain = ["|"] }
methods.unlink = true
methods._private = true
extra = 1

[models."BAD"]
read = true
"#,
    );
    let want = [
        "defaults.confirm: \"sometimes\"",
        "defaults.max_records: must be between",
        "models.\"BAD\": is not a model name",
        "models.\"res.partner\".hidden_fields: \"Bad\" is not a field name",
        "models.\"res.partner\".create.confirm: \"later\"",
        "models.\"res.partner\".create.fields: \"vat\" is also hidden",
        "models.\"res.partner\".create.fields: \"id\" cannot be writable",
        "models.\"res.partner\".delete.domain: domain ends before",
        "models.\"res.partner\".extra: unknown key",
        "models.\"res.partner\".methods._private: private methods",
        "models.\"res.partner\".methods.unlink: cannot be allowlisted",
        "models.\"res.partner\".read.domain: \"vat\" uses the hidden field",
        "colour: unknown key",
    ];
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for w in want {
        assert!(
            got.iter().any(|g| g.contains(w)),
            "missing {w:?} in {got:#?}"
        );
    }
    assert!(got.iter().all(|g| g.starts_with("policies/test.toml: ")));
}

#[test]
fn check_files_reports_every_file_and_unreadable_ones() {
    let dir = std::env::temp_dir().join(format!("owpolicy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    let bad = dir.join("bad.toml");
    std::fs::write(&good, "[models.\"res.partner\"]\nread = true\n").unwrap();
    std::fs::write(&bad, "[defaults]\nmax_records = 0\nconfirm = \"x\"\n").unwrap();
    let missing = dir.join("missing.toml");
    let got = check_files(&[good.clone(), bad.clone(), missing.clone()]);
    let shown: Vec<String> = got.iter().map(ToString::to_string).collect();
    assert_eq!(got.len(), 3, "{shown:#?}");
    assert!(got[..2].iter().all(|p| p.file == bad.display().to_string()));
    assert_eq!(got[2].file, missing.display().to_string());
    assert!(
        shown[2].contains("cannot read the policy file"),
        "{}",
        shown[2]
    );
    assert!(check_files(std::slice::from_ref(&good)).is_empty());
    let loaded = Policy::load(&good).unwrap();
    assert_eq!(loaded.source(), good.display().to_string());
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---- caller checks ----

#[test]
fn context_keys_are_allowlisted() {
    let ok = [
        json!({}),
        json!({"lang": "fr_FR", "tz": "Europe/Brussels"}),
        json!({"allowed_company_ids": [1, 2], "active_test": false}),
        json!({"default_partner_id": 7}),
    ];
    for c in ok {
        assert_eq!(check_context(c.as_object().unwrap()), Ok(()), "{c}");
    }
    let refused = [
        (json!({"uid": 1}), "context key `uid` is not allowed"),
        (
            json!({"lang": "en_US", "su": true}),
            "context key `su` is not allowed",
        ),
        (
            json!({"install_mode": true}),
            "context key `install_mode` is not allowed",
        ),
        (
            json!({"tracking_disable": true}),
            "context key `tracking_disable` is not allowed",
        ),
        (
            json!({"default_": 1}),
            "context key `default_` is not allowed",
        ),
        (
            json!({"default_X": 1}),
            "context key `default_X` is not allowed",
        ),
        (json!({"lang": 3}), "context key `lang` must be a string"),
        (json!({"tz": null}), "context key `tz` must be a string"),
        (
            json!({"active_test": "no"}),
            "context key `active_test` must be true or false",
        ),
        (
            json!({"allowed_company_ids": [1, "2"]}),
            "context key `allowed_company_ids` must be a list of company ids",
        ),
        (
            json!({"allowed_company_ids": 1}),
            "context key `allowed_company_ids` must be a list of company ids",
        ),
    ];
    for (c, want) in refused {
        let e = check_context(c.as_object().unwrap()).unwrap_err();
        assert!(e.starts_with(want), "{c}: {e}");
    }
}

#[test]
fn default_context_keys_cannot_bypass_the_create_allowlist() {
    let p = parse(
        r#"
[models."res.partner"]
read = true
hidden_fields = ["vat"]
create = { fields = ["name", "email"] }
[models."res.country"]
read = true
"#,
    );
    let partner = p.model("res.partner").unwrap();
    let ctx = |v: Value| v.as_object().unwrap().clone();
    assert_eq!(
        check_context_for(&ctx(json!({"default_name": "x", "lang": "en_US"})), partner),
        Ok(())
    );
    let e = check_context_for(&ctx(json!({"default_vat": "BE1"})), partner).unwrap_err();
    assert_eq!(
        e,
        "context key `default_vat` is not allowed: `vat` is not writable on `res.partner`"
    );
    let e = check_context_for(&ctx(json!({"default_credit_limit": 1})), partner).unwrap_err();
    assert!(e.contains("`credit_limit` is not writable"), "{e}");
    // A model without a create rule accepts no default_ key at all.
    let country = p.model("res.country").unwrap();
    assert!(check_context_for(&ctx(json!({"default_name": "x"})), country).is_err());
    assert_eq!(
        check_context_for(&ctx(json!({"tz": "UTC"})), country),
        Ok(())
    );
    // The general checks still apply.
    assert!(
        check_context_for(&ctx(json!({"uid": 1})), partner)
            .unwrap_err()
            .contains("`uid`")
    );
}

#[test]
fn exceptions_labels_method_arguments_and_warnings() {
    let p = parse(
        r#"
[models."res.partner"]
read = true
hidden_fields = ["email", "vat"]
labels = true
methods.action_go = { confirm = "none", arguments = ["force", "date"] }
methods.toggle_active = true

[models."res.partner".derived.display_name]
ignore = ["email", "vat"]
reason = "Odoo adds email and vat to a partner's name only under show_email/show_vat"

[models."res.users"]
labels = true
"#,
    );
    let partner = p.model("res.partner").unwrap();
    assert!(partner.labels_allowed());
    let ignored: Vec<&str> = partner
        .ignored_sources("display_name")
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(ignored, ["email", "vat"]);
    assert!(partner.ignored_sources("email_formatted").is_empty());
    let (field, e) = partner.exceptions().next().unwrap();
    assert_eq!(field, "display_name");
    assert!(e.reason.contains("show_email"));
    let args: Vec<&str> = partner
        .method_arguments("action_go")
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(args, ["date", "force"]);
    assert!(partner.method_arguments("toggle_active").is_empty());
    assert!(partner.method_arguments("unknown").is_empty());
    assert_eq!(
        partner.method_confirm("action_go", Confirm::Approver),
        Some(Confirm::None)
    );
    // A model that only lends its labels is named but not visible.
    let users = p.model("res.users").unwrap();
    assert!(users.labels_allowed() && !p.is_visible("res.users"));
    assert!(!p.model("res.partner").unwrap().is_hidden("display_name"));
    // Generic methods are allowed with a warning naming them.
    let warnings: Vec<String> = p.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with(
            "policies/test.toml: models.\"res.partner\".methods.toggle_active: reads or writes records generically"
        ),
        "{warnings:?}"
    );
    assert!(
        parse("[models.\"res.partner\"]\nread = true\n")
            .warnings()
            .is_empty()
    );
}
