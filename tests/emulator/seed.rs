//! The demo database the recordings were made on, as far as they show it.
//!
//! Ids, names, e-mails, countries, owners, states and amounts that appear in the recordings are
//! reproduced exactly; the rest (other contacts' names, dates, products, lines) is made up to be
//! consistent with them: the counts (43 active and 4 archived contacts on 18, 46 in all on 19),
//! the orderings (by name, by `complete_name`), the group-by totals, and the next ids handed out.

use serde_json::{Map, Value, json};

use super::db::{Db, Row, UserAuth};
use super::schema::{FType, ModelKind, Registry, recorded_data};

const US: i64 = 233;
const BE: i64 = 20;
const SM: i64 = 203;
const CREATED: &str = "2026-11-24 11:28:29";
const WRITTEN: &str = "2026-11-24 11:29:03";

/// One contact: its id on 18 and on 19 (0: absent), name, parent (18 id), company flag, e-mail,
/// phone, country on 18 and 19, active, `company_name`, `customer_rank`, `company_id`.
struct P {
    id18: i64,
    id19: i64,
    name: &'static str,
    parent18: i64,
    company: bool,
    email: &'static str,
    phone: &'static str,
    country18: i64,
    country19: i64,
    active: bool,
    company_name: &'static str,
    rank: i64,
    company_id: i64,
    write_date: &'static str,
}

#[allow(clippy::too_many_arguments)]
const fn p(
    id18: i64,
    id19: i64,
    name: &'static str,
    parent18: i64,
    company: bool,
    email: &'static str,
    phone: &'static str,
    country: i64,
) -> P {
    P {
        id18,
        id19,
        name,
        parent18,
        company,
        email,
        phone,
        country18: country,
        country19: country,
        active: true,
        company_name: "",
        rank: 0,
        company_id: 0,
        write_date: WRITTEN,
    }
}

const fn archived(mut c: P) -> P {
    c.active = false;
    c
}

const fn yourcompany(mut c: P) -> P {
    c.company_name = "YourCompany";
    c.company_id = 1;
    c
}

const fn customer(mut c: P) -> P {
    c.rank = 1;
    c
}

const fn written(mut c: P, at: &'static str) -> P {
    c.write_date = at;
    c
}

const fn country19(mut c: P, country: i64) -> P {
    c.country19 = country;
    c
}

/// Partner 3 (Mitchell Admin) is not here: its full record comes from the recordings.
#[rustfmt::skip]
const PARTNERS: &[P] = &[
    written(p(1, 1, "My Company (San Francisco)", 0, true, "info@yourcompany.com", "+1 555-555-5556", US), "2026-11-24 11:29:03"),
    archived(p(2, 2, "OdooBot", 0, false, "odoobot@example.com", "", 0)),
    archived(p(4, 4, "Public user", 0, false, "", "", 0)),
    // 19 has no default user template: the next contacts move down by one.
    archived(p(5, 0, "Default User Template", 0, false, "", "", 0)),
    archived(p(6, 5, "Portal User Template", 0, false, "", "", 0)),
    yourcompany(p(7, 6, "Marc Demo", 0, false, "mark.brown23@example.com", "(441)-695-2334", US)),
    yourcompany(p(8, 7, "Joel Willis", 0, false, "joel.willis63@example.com", "(683)-556-5104", US)),
    written(p(9, 8, "Wood Corner", 0, true, "wood.corner26@example.com", "(623)-853-7197", US), "2026-11-24 11:28:56"),
    written(customer(p(10, 9, "Deco Addict", 0, true, "deco_addict@yourcompany.example.com", "(603)-996-3829", US)), "2026-11-24 11:31:05"),
    written(country19(p(11, 10, "Gemini Furniture", 0, true, "gemini_furniture@fake.geminifurniture.com", "(941)-284-4875", US), SM), "2026-11-24 11:29:12"),
    written(p(12, 11, "Ready Mat", 0, true, "ready.mat28@example.com", "(803)-873-6126", US), "2026-11-24 11:31:05"),
    p(13, 12, "The Jackson Group", 0, true, "jackson.group82@example.com", "(334)-502-1024", US),
    p(14, 13, "Jeffrey Kelly", 13, false, "jeffrey.kelly72@example.com", "(470)-261-3241", US),
    customer(p(15, 15, "Azure Interior", 0, true, "azure.Interior24@example.com", "(870)-931-0505", US)),
    p(16, 16, "Lumber Inc", 0, true, "lumber-inv92@example.com", "(828)-316-0593", US),
    p(17, 17, "Willie Burke", 9, false, "willie.burke80@example.com", "(846)-523-2111", US),
    p(18, 18, "Ron Gibson", 9, false, "ron.gibson76@example.com", "(976)-397-4091", US),
    p(19, 19, "Douglas Fletcher", 10, false, "douglas.fletcher51@example.com", "(132)-553-7242", US),
    p(20, 20, "Floyd Steward", 10, false, "floyd.steward34@example.com", "(145)-138-3401", US),
    p(21, 21, "Edith Sanchez", 11, false, "edith.sanchez68@example.com", "(938)-175-2048", US),
    p(22, 22, "Billy Fox", 12, false, "billy.fox45@example.com", "(915)-498-5611", US),
    p(23, 23, "Jesse Brown", 11, false, "jesse.brown74@example.com", "(829)-386-3277", US),
    p(24, 24, "Travis Mendoza", 11, false, "travis.mendoza24@example.com", "(840)-944-8661", US),
    p(25, 25, "Julie Richards", 12, false, "julie.richards84@example.com", "(225)-148-7811", US),
    p(26, 26, "Edwin Hansen", 12, false, "edwin.hansen58@example.com", "(943)-352-2555", US),
    p(27, 27, "Brandon Freeman", 15, false, "brandon.freeman55@example.com", "(355)-687-3262", US),
    p(28, 28, "Gordon Owens", 13, false, "gordon.owens47@example.com", "(336)-723-6569", US),
    p(29, 29, "Lorraine Douglas", 13, false, "lorraine.douglas35@example.com", "(443)-648-9155", US),
    p(30, 30, "Toni Rhodes", 16, false, "toni.rhodes11@example.com", "(198)-539-4948", BE),
    p(31, 31, "Soham Palmer", 12, false, "soham.palmer15@example.com", "(379)-167-2040", US),
    p(32, 32, "Oscar Morgan", 11, false, "oscar.morgan11@example.com", "(561)-239-1744", US),
    p(33, 33, "Tom Ruiz", 9, false, "tom.ruiz89@example.com", "(102)-834-1602", US),
    p(34, 34, "Colleen Diaz", 15, false, "colleen.diaz83@example.com", "(255)-595-8393", US),
    p(35, 35, "Nicole Ford", 15, false, "nicole.ford75@example.com", "(946)-638-6034", US),
    p(36, 36, "Addison Olson", 10, false, "addison.olson28@example.com", "(223)-399-7637", US),
    p(37, 37, "Kim Snyder", 12, false, "kim.snyder96@example.com", "(215)-379-4865", US),
    p(38, 38, "Jeff Lawson", 12, false, "jeff.lawson52@example.com", "(461)-493-5321", US),
    p(39, 39, "Theodore Gardner", 12, false, "theodore.gardner36@example.com", "(186)-612-6561", US),
    p(40, 40, "Chester Reed", 1, false, "chester.reed79@example.com", "(979)-904-8902", US),
    p(41, 41, "Dwayne Newman", 1, false, "dwayne.newman28@example.com", "(614)-177-4937", US),
    p(42, 42, "Rachel Perry", 0, false, "rachel.perry19@example.com", "", 0),
    p(43, 43, "Sandra Neal", 0, false, "sandra.neal80@example.com", "", 0),
    written(p(44, 44, "MCP Reader", 0, false, "", "", 0), "2026-11-24 11:31:05"),
    written(p(45, 45, "MCP Writer", 0, false, "", "", 0), "2026-11-24 11:31:05"),
    p(46, 46, "My Company (Chicago)", 0, true, "chicago@yourcompany.com", "+1 312 349 3030", US),
    p(47, 14, "Ethan Young", 16, false, "ethan.young61@example.com", "(322)-559-4512", US),
];

/// The VAT numbers of the demo companies (18 ids). Their contacts carry the same number:
/// Odoo copies a company's commercial fields (`vat`, `company_registry`) to its contacts.
const VATS: &[(i64, &str)] = &[
    (9, "US12345672"),
    (10, "US12345673"),
    (11, "US12345674"),
    (12, "US12345675"),
    (13, "US12345676"),
    (15, "US12345677"),
    (16, "US12345678"),
];

/// The VAT number of a contact: its own company's, or its parent company's.
fn vat_of(c: &P) -> Value {
    let company = if c.parent18 == 0 { c.id18 } else { c.parent18 };
    VATS.iter()
        .find(|(id, _)| *id == company)
        .map_or(Value::Bool(false), |(_, vat)| json!(vat))
}

/// uid on 18 and 19 (0: absent), name, login, partner (18 id), active, share, groups by id
/// (18 numbering, as recorded for the three lab users).
struct U {
    id18: i64,
    id19: i64,
    name: &'static str,
    login: &'static str,
    partner18: i64,
    active: bool,
    share: bool,
    group_ids: &'static [i64],
}

#[rustfmt::skip]
const ADMIN_GROUPS: &[i64] = &[
    2, 8, 36, 23, 40, 29, 3, 13, 9, 1, 26, 14, 41, 19, 5, 20, 56, 4, 7, 39, 22, 21, 35,
];
const READER_GROUPS: &[i64] = &[1, 41, 19, 56, 7, 21];
const WRITER_GROUPS: &[i64] = &[9, 1, 41, 19, 56, 7, 22, 21];

#[rustfmt::skip]
const USERS: &[U] = &[
    U { id18: 1, id19: 1, name: "OdooBot", login: "__system__", partner18: 2, active: false, share: false, group_ids: &[1, 2, 4] },
    U { id18: 2, id19: 2, name: "Mitchell Admin", login: "admin", partner18: 3, active: true, share: false, group_ids: ADMIN_GROUPS },
    U { id18: 3, id19: 3, name: "Public user", login: "public", partner18: 4, active: false, share: true, group_ids: &[] },
    U { id18: 4, id19: 0, name: "Default User Template", login: "default", partner18: 5, active: false, share: false, group_ids: &[1] },
    U { id18: 5, id19: 4, name: "Portal User Template", login: "portaltemplate", partner18: 6, active: false, share: true, group_ids: &[] },
    U { id18: 6, id19: 5, name: "Marc Demo", login: "demo", partner18: 7, active: true, share: false, group_ids: &[1, 7, 21] },
    U { id18: 7, id19: 6, name: "Joel Willis", login: "portal", partner18: 8, active: true, share: true, group_ids: &[] },
    U { id18: 8, id19: 7, name: "MCP Reader", login: "mcp_reader", partner18: 44, active: true, share: false, group_ids: READER_GROUPS },
    U { id18: 9, id19: 8, name: "MCP Writer", login: "mcp_writer", partner18: 45, active: true, share: false, group_ids: WRITER_GROUPS },
];

/// Sale orders: id, customer (18 id), salesperson (18 uid), state, total on 18, total on 19, date.
#[rustfmt::skip]
const ORDERS: &[(i64, i64, i64, &str, f64, f64, &str)] = &[
    (1, 10, 8, "draft", 1740.0, 2001.0, "2026-10-24 11:29:00"),
    (2, 12, 8, "draft", 2947.5, 3389.63, "2026-10-24 11:29:00"),
    (3, 12, 8, "draft", 377.5, 434.13, "2026-11-24 11:29:15"),
    (4, 11, 2, "sale", 2240.0, 2284.91, "2026-11-24 11:29:05"),
    (5, 10, 6, "draft", 405.0, 465.75, "2026-11-19 11:29:05"),
    (6, 16, 2, "sale", 750.0, 765.04, "2026-11-18 11:29:05"),
    (7, 11, 2, "sale", 1706.0, 1740.21, "2026-11-17 11:29:05"),
    (8, 11, 6, "sale", 462.0, 471.26, "2026-11-16 11:29:05"),
    (9, 11, 6, "sale", 654.0, 667.11, "2026-11-15 11:29:05"),
    (10, 11, 6, "sale", 751.0, 766.06, "2026-11-14 11:29:05"),
    (11, 11, 6, "sale", 1096.5, 1118.49, "2026-11-13 11:29:05"),
    (12, 11, 6, "sale", 556.0, 567.15, "2026-11-12 11:29:05"),
    (13, 11, 6, "sale", 415.5, 423.83, "2026-11-11 11:29:05"),
    (14, 11, 6, "sale", 1582.0, 1613.72, "2026-11-10 11:29:05"),
    (15, 11, 6, "sale", 1541.5, 1572.41, "2026-11-09 11:29:05"),
    (16, 11, 6, "sale", 1186.5, 1210.29, "2026-11-08 11:29:05"),
    (17, 11, 6, "sale", 951.0, 970.07, "2026-11-07 11:29:05"),
    (18, 11, 6, "sale", 831.0, 847.66, "2026-11-06 11:29:05"),
    (19, 8, 2, "sent", 1740.0, 2001.0, "2026-11-05 11:29:05"),
    (20, 8, 2, "sale", 2947.5, 3006.6, "2026-11-04 11:29:05"),
    (21, 11, 6, "sale", 2175.0, 2218.61, "2026-11-03 11:29:05"),
    (22, 11, 6, "sale", 1475.0, 1504.58, "2026-11-02 11:29:05"),
    (23, 11, 6, "sale", 4350.0, 4437.22, "2026-11-01 11:29:05"),
    (24, 11, 6, "sale", 1990.0, 2029.91, "2026-10-31 11:29:05"),
];

/// id, name, internal reference, sales price, type.
#[rustfmt::skip]
const PRODUCTS: &[(i64, &str, &str, f64, &str)] = &[
    (1, "Office Chair", "FURN_7777", 70.0, "consu"),
    (2, "Desk Combination", "FURN_7800", 450.0, "consu"),
    (3, "Large Cabinet", "E-COM07", 320.0, "consu"),
    (4, "Cabinet with Doors", "E-COM11", 140.0, "consu"),
    (5, "Corner Desk Right Sit", "E-COM06", 147.0, "consu"),
    (6, "Large Desk", "E-COM09", 1799.0, "consu"),
    (7, "Storage Box", "E-COM08", 79.0, "consu"),
    (8, "Drawer Black", "FURN_8900", 25.0, "consu"),
    (9, "Acoustic Bloc Screens", "FURN_6666", 295.0, "consu"),
    (10, "Virtual Home Staging", "", 38.25, "service"),
];

/// id, name, code, calling code, currency.
#[rustfmt::skip]
const COUNTRIES: &[(i64, &str, &str, i64, i64)] = &[
    (20, "Belgium", "BE", 32, 125),
    (57, "Germany", "DE", 49, 125),
    (75, "France", "FR", 33, 125),
    (104, "India", "IN", 91, 20),
    (203, "San Marino", "SM", 378, 125),
    (231, "United Kingdom", "GB", 44, 142),
    (233, "United States", "US", 1, 1),
];

fn row(pairs: Vec<(&str, Value)>) -> Row {
    let mut r = Map::new();
    for (k, v) in pairs {
        r.insert(k.to_string(), v);
    }
    r
}

fn falsy_str(s: &str) -> Value {
    if s.is_empty() {
        Value::Bool(false)
    } else {
        json!(s)
    }
}

fn opt_id(id: i64) -> Value {
    if id == 0 {
        Value::Bool(false)
    } else {
        json!(id)
    }
}

fn round2(f: f64) -> f64 {
    (f * 100.0).round() / 100.0
}

/// Users who can log in, with their groups as XML ids.
pub fn users(reg: &Registry) -> Vec<UserAuth> {
    let v19 = reg.version.major >= 19;
    USERS
        .iter()
        .filter(|u| u.active && !u.share)
        .filter_map(|u| {
            let uid = if v19 { u.id19 } else { u.id18 };
            if uid == 0 {
                return None;
            }
            let mut groups: Vec<&'static str> = u
                .group_ids
                .iter()
                .filter_map(|gid| super::schema::GROUPS.iter().find(|g| g.id == *gid))
                .map(|g| g.xmlid)
                .collect();
            if v19 && u.login == "admin" {
                groups.push("api_doc.group_allow_doc");
            }
            Some(UserAuth {
                uid,
                login: u.login.to_string(),
                groups,
            })
        })
        .collect()
}

pub fn seed(reg: &Registry) -> Db {
    let v19 = reg.version.major >= 19;
    let mut db = Db::default();
    let pid = |id18: i64| -> i64 {
        if !v19 {
            return id18;
        }
        PARTNERS
            .iter()
            .find(|c| c.id18 == id18)
            .map(|c| c.id19)
            .unwrap_or(id18)
    };
    let uid_of = |id18: i64| -> i64 {
        if !v19 {
            return id18;
        }
        USERS
            .iter()
            .find(|u| u.id18 == id18)
            .map(|u| if u.id19 == 0 { 2 } else { u.id19 })
            .unwrap_or(id18)
    };

    // Currencies, countries, states, companies.
    for (id, name) in [(1, "USD"), (20, "INR"), (125, "EUR"), (142, "GBP")] {
        db.table_mut("res.currency")
            .insert(id, row(vec![("name", json!(name))]));
    }
    for (id, name, code, phone, currency) in COUNTRIES {
        db.table_mut("res.country").insert(
            *id,
            row(vec![
                ("name", json!(name)),
                ("code", json!(code)),
                ("phone_code", json!(phone)),
                ("currency_id", json!(currency)),
            ]),
        );
    }
    for (id, name, model, res_id) in [
        (1, "partner-contract.pdf", "res.partner", 9),
        (2, "payslip-2026-10.pdf", "hr.payslip", 4),
        (3, "standalone-note.txt", "", 0),
    ] {
        let (m, r) = if model.is_empty() {
            (json!(false), json!(0))
        } else {
            (json!(model), json!(res_id))
        };
        db.table_mut("ir.attachment").insert(
            id,
            row(vec![("name", json!(name)), ("res_model", m), ("res_id", r)]),
        );
    }
    db.table_mut("res.country.state").insert(
        47,
        row(vec![
            ("name", json!("Pennsylvania")),
            ("code", json!("PA")),
            ("country_id", json!(US)),
        ]),
    );
    db.table_mut("res.country.state").insert(
        13,
        row(vec![
            ("name", json!("California")),
            ("code", json!("CA")),
            ("country_id", json!(US)),
        ]),
    );
    db.table_mut("res.company").insert(
        1,
        row(vec![
            ("name", json!("My Company (San Francisco)")),
            ("partner_id", json!(1)),
            ("currency_id", json!(1)),
            ("sequence", json!(0)),
            ("email", json!("info@yourcompany.com")),
            ("phone", json!("+1 555-555-5556")),
            ("country_id", json!(US)),
            ("active", json!(true)),
        ]),
    );
    db.table_mut("res.company").insert(
        2,
        row(vec![
            ("name", json!("My Company (Chicago)")),
            ("partner_id", json!(46)),
            ("currency_id", json!(1)),
            ("sequence", json!(10)),
            ("email", json!("chicago@yourcompany.com")),
            ("phone", json!("+1 312 349 3030")),
            ("country_id", json!(US)),
            ("active", json!(true)),
        ]),
    );
    for g in super::schema::GROUPS {
        db.table_mut("res.groups").insert(
            g.id,
            row(vec![
                ("name", json!(g.name)),
                ("full_name", json!(if v19 { g.full19 } else { g.full18 })),
            ]),
        );
    }

    // Contacts.
    for c in PARTNERS {
        let id = if v19 { c.id19 } else { c.id18 };
        if id == 0 {
            continue;
        }
        let parent = if c.parent18 == 0 { 0 } else { pid(c.parent18) };
        let country = if v19 { c.country19 } else { c.country18 };
        db.table_mut("res.partner").insert(
            id,
            row(vec![
                ("name", json!(c.name)),
                ("parent_id", opt_id(parent)),
                ("is_company", json!(c.company)),
                ("email", falsy_str(c.email)),
                ("phone", falsy_str(c.phone)),
                ("vat", vat_of(c)),
                ("country_id", opt_id(country)),
                ("active", json!(c.active)),
                ("company_name", falsy_str(c.company_name)),
                ("customer_rank", json!(c.rank)),
                ("company_id", opt_id(c.company_id)),
                ("type", json!("contact")),
                ("lang", json!("en_US")),
                ("tz", json!("Europe/Brussels")),
                ("color", json!(0)),
                ("autopost_bills", json!("ask")),
                ("trust", json!("normal")),
                ("create_uid", json!(1)),
                ("create_date", json!(CREATED)),
                ("write_uid", json!(1)),
                ("write_date", json!(c.write_date)),
            ]),
        );
    }
    let data = recorded_data(&reg.version);
    if let Some(full) = data.get("partner3").and_then(Value::as_object) {
        let r = load_full_record(reg, &mut db, "res.partner", full);
        db.table_mut("res.partner").insert(3, r);
    }
    // The recorder created and deleted contacts before recording: ids run on from there.
    db.table_mut("res.partner").next_id = if v19 { 48 } else { 52 };

    // Users and their API keys.
    for u in USERS {
        let uid = if v19 { u.id19 } else { u.id18 };
        if uid == 0 {
            continue;
        }
        let mut group_ids: Vec<Value> = u.group_ids.iter().map(|g| json!(g)).collect();
        if v19 && u.login == "admin" {
            group_ids.push(json!(57));
        }
        let groups_field = if v19 { "group_ids" } else { "groups_id" };
        let companies = if u.login == "admin" {
            json!([2, 1])
        } else {
            json!([1])
        };
        db.table_mut("res.users").insert(
            uid,
            row(vec![
                ("name", json!(u.name)),
                ("login", json!(u.login)),
                ("active", json!(u.active)),
                ("partner_id", json!(pid(u.partner18))),
                ("company_id", json!(1)),
                ("company_ids", companies),
                (groups_field, Value::Array(group_ids)),
                ("tz", json!("Europe/Brussels")),
                ("lang", json!("en_US")),
                ("share", json!(u.share)),
                ("create_uid", json!(1)),
                ("create_date", json!(CREATED)),
                ("write_uid", json!(1)),
                ("write_date", json!("2026-11-24 11:31:05")),
            ]),
        );
    }
    for (id, login) in [(1, "admin"), (2, "mcp_reader"), (3, "mcp_writer")] {
        let uid = USERS
            .iter()
            .find(|u| u.login == login)
            .map(|u| if v19 { u.id19 } else { u.id18 })
            .unwrap_or(2);
        db.table_mut("res.users.apikeys").insert(
            id,
            row(vec![
                ("name", json!("mcp-lab")),
                ("user_id", json!(uid)),
                ("scope", json!(false)),
                ("create_date", json!("2026-11-24 11:31:05")),
                ("expiration_date", json!(false)),
            ]),
        );
    }

    // Products, orders, order lines.
    db.table_mut("product.category")
        .insert(1, row(vec![("name", json!("All"))]));
    db.table_mut("uom.uom")
        .insert(1, row(vec![("name", json!("Units"))]));
    for (id, name, code, price, ptype) in PRODUCTS {
        db.table_mut("product.product").insert(
            *id,
            row(vec![
                ("name", json!(name)),
                ("default_code", falsy_str(code)),
                ("active", json!(true)),
                ("type", json!(ptype)),
                ("list_price", json!(price)),
                ("standard_price", json!(round2(price * 0.6))),
                ("sale_ok", json!(true)),
                ("purchase_ok", json!(true)),
                ("categ_id", json!(1)),
                ("uom_id", json!(1)),
                ("currency_id", json!(1)),
                ("create_uid", json!(1)),
                ("create_date", json!(CREATED)),
                ("write_uid", json!(1)),
                ("write_date", json!(WRITTEN)),
            ]),
        );
    }
    db.table_mut("crm.team")
        .insert(1, row(vec![("name", json!("Sales"))]));
    db.table_mut("product.pricelist")
        .insert(1, row(vec![("name", json!("Default"))]));
    for (id, partner18, user18, state, total18, total19, date) in ORDERS {
        let partner = pid(*partner18);
        let total = if v19 { *total19 } else { *total18 };
        let untaxed = if v19 { round2(total / 1.15) } else { total };
        let tax = round2(total - untaxed);
        db.table_mut("sale.order").insert(
            *id,
            row(vec![
                ("name", json!(format!("S{id:05}"))),
                ("partner_id", json!(partner)),
                ("partner_invoice_id", json!(partner)),
                ("partner_shipping_id", json!(partner)),
                ("user_id", json!(uid_of(*user18))),
                ("state", json!(state)),
                ("date_order", json!(date)),
                ("amount_untaxed", json!(untaxed)),
                ("amount_tax", json!(tax)),
                ("amount_total", json!(total)),
                ("currency_id", json!(1)),
                ("company_id", json!(1)),
                ("team_id", json!(1)),
                ("pricelist_id", json!(1)),
                ("picking_policy", json!("direct")),
                (
                    "invoice_status",
                    json!(if *state == "sale" { "to invoice" } else { "no" }),
                ),
                ("require_signature", json!(true)),
                ("locked", json!(false)),
                ("create_uid", json!(uid_of(*user18))),
                ("create_date", json!(date)),
                ("write_uid", json!(uid_of(*user18))),
                ("write_date", json!(date)),
            ]),
        );
        let (product, pname, code, _, _) = PRODUCTS[((*id - 1) % 9) as usize];
        db.table_mut("sale.order.line").insert(
            *id,
            row(vec![
                ("order_id", json!(id)),
                ("sequence", json!(10)),
                ("product_id", json!(product)),
                ("name", json!(format!("[{code}] {pname}"))),
                ("product_uom_qty", json!(1.0)),
                ("price_unit", json!(untaxed)),
                ("price_subtotal", json!(untaxed)),
                ("price_tax", json!(tax)),
                ("price_total", json!(total)),
                ("create_uid", json!(uid_of(*user18))),
                ("create_date", json!(date)),
                ("write_uid", json!(uid_of(*user18))),
                ("write_date", json!(date)),
            ]),
        );
    }

    // Technical models.
    let mut names: Vec<(&String, &String)> = reg
        .models
        .values()
        .map(|m| (&m.description, &m.name))
        .collect();
    names.sort();
    for (i, (description, model)) in names.into_iter().enumerate() {
        db.table_mut("ir.model").insert(
            i as i64 + 1,
            row(vec![
                ("name", json!(description)),
                ("model", json!(model)),
                ("state", json!("base")),
                ("transient", json!(false)),
                ("info", json!(false)),
                ("modules", json!("base")),
            ]),
        );
    }
    for (id, key, value) in [
        (1, "web.base.url", "http://localhost:8069"),
        (2, "database.uuid", "9f1c3a52-6b7e-11ef-8a4c-0242ac120002"),
        (3, "database.create_date", "2026-11-24 11:28:20"),
        (4, "base.login_cooldown_duration", "60"),
    ] {
        db.table_mut("ir.config_parameter")
            .insert(id, row(vec![("key", json!(key)), ("value", json!(value))]));
    }
    db
}

/// Turns a record as `read` returned it into a stored row; the names of many2one targets that
/// the emulator has no table for become rows of those (minor) models.
fn load_full_record(reg: &Registry, db: &mut Db, model: &str, full: &Map<String, Value>) -> Row {
    let mut out = Map::new();
    let Some(def) = reg.model(model) else {
        return out;
    };
    for (key, value) in full {
        if key == "id" {
            continue;
        }
        let Some(field) = def.field(key) else {
            continue;
        };
        if field.ftype == FType::Many2one {
            match value.as_array().map(|a| a.as_slice()) {
                Some([id, name]) => {
                    let id = id.as_i64().unwrap_or(0);
                    if let Some(rel) = &field.relation
                        && reg.model(rel).map(|m| m.kind) == Some(ModelKind::Minor)
                        && !db.exists(rel, id)
                    {
                        db.table_mut(rel)
                            .insert(id, row(vec![("name", name.clone())]));
                    }
                    out.insert(key.clone(), json!(id));
                }
                _ => {
                    out.insert(key.clone(), Value::Bool(false));
                }
            }
        } else {
            out.insert(key.clone(), value.clone());
        }
    }
    out
}
