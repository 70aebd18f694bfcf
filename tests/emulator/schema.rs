//! Models, fields, groups and access-control lists: the parts of an Odoo database that do not
//! change while the emulator runs.
//!
//! res.partner and sale.order take their field definitions from the recordings (embedded
//! copies in `data/`); the other models have a small hand-written field table. Any model that
//! a relational field points to and that has no table of its own becomes a "minor" model with
//! `name` and `display_name` only, readable by internal users.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use super::version::Version;

pub const DATA_18: &str = include_str!("data/odoo18.json");
pub const DATA_19: &str = include_str!("data/odoo19.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FType {
    Char,
    Text,
    Html,
    Integer,
    Float,
    Monetary,
    Boolean,
    Date,
    Datetime,
    Selection,
    Many2one,
    One2many,
    Many2many,
    Binary,
    Json,
    Properties,
    Reference,
    /// An integer id of a record of the model another field names (`model_field`).
    Many2oneReference,
    Other,
}

impl FType {
    pub fn parse(s: &str) -> FType {
        match s {
            "char" => FType::Char,
            "text" => FType::Text,
            "html" => FType::Html,
            "integer" => FType::Integer,
            "float" => FType::Float,
            "monetary" => FType::Monetary,
            "boolean" => FType::Boolean,
            "date" => FType::Date,
            "datetime" => FType::Datetime,
            "selection" => FType::Selection,
            "many2one" => FType::Many2one,
            "one2many" => FType::One2many,
            "many2many" => FType::Many2many,
            "binary" => FType::Binary,
            "json" => FType::Json,
            "properties" => FType::Properties,
            "reference" => FType::Reference,
            "many2one_reference" => FType::Many2oneReference,
            _ => FType::Other,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            FType::Char => "char",
            FType::Text => "text",
            FType::Html => "html",
            FType::Integer => "integer",
            FType::Float => "float",
            FType::Monetary => "monetary",
            FType::Boolean => "boolean",
            FType::Date => "date",
            FType::Datetime => "datetime",
            FType::Selection => "selection",
            FType::Many2one => "many2one",
            FType::One2many => "one2many",
            FType::Many2many => "many2many",
            FType::Binary => "binary",
            FType::Json => "json",
            FType::Properties => "properties",
            FType::Reference => "reference",
            FType::Many2oneReference => "many2one_reference",
            FType::Other => "char",
        }
    }
    pub fn is_x2many(self) -> bool {
        matches!(self, FType::One2many | FType::Many2many)
    }
    pub fn is_relational(self) -> bool {
        matches!(self, FType::Many2one | FType::One2many | FType::Many2many)
    }
    pub fn is_numeric(self) -> bool {
        matches!(self, FType::Integer | FType::Float | FType::Monetary)
    }
    /// What `read` shows for a field that holds nothing.
    pub fn empty(self) -> Value {
        match self {
            FType::Integer | FType::Many2oneReference => json!(0),
            FType::Float | FType::Monetary => json!(0.0),
            FType::One2many | FType::Many2many | FType::Properties => json!([]),
            _ => Value::Bool(false),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub ftype: FType,
    pub string: String,
    pub relation: Option<String>,
    /// one2many: the many2one on the comodel that points back.
    pub inverse: Option<String>,
    pub required: bool,
    pub readonly: bool,
    pub store: bool,
    pub selection: Vec<(String, String)>,
    /// Group (XML id) a user needs to see and read the field.
    pub groups: Option<String>,
    /// The complete `fields_get` description, keys sorted as Odoo sends them.
    pub attrs: Map<String, Value>,
}

impl Field {
    pub fn new(name: &str, ftype: FType, string: &str) -> Field {
        Field {
            name: name.to_string(),
            ftype,
            string: string.to_string(),
            relation: None,
            inverse: None,
            required: false,
            readonly: false,
            store: true,
            selection: Vec::new(),
            groups: None,
            attrs: Map::new(),
        }
    }
    fn rel(mut self, model: &str) -> Field {
        self.relation = Some(model.to_string());
        self
    }
    fn inv(mut self, field: &str) -> Field {
        self.inverse = Some(field.to_string());
        self
    }
    fn req(mut self) -> Field {
        self.required = true;
        self
    }
    fn ro(mut self) -> Field {
        self.readonly = true;
        self
    }
    fn computed(mut self) -> Field {
        self.readonly = true;
        self.store = false;
        self
    }
    /// A `many2one_reference`'s model field, as `fields_get` describes it (`model_field`).
    fn model_field(mut self, field: &str) -> Field {
        self.attrs
            .insert("model_field".into(), serde_json::json!(field));
        self
    }
    fn sel(mut self, options: &[(&str, &str)]) -> Field {
        self.selection = options
            .iter()
            .map(|(v, l)| (v.to_string(), l.to_string()))
            .collect();
        self
    }

    /// Builds a field from a recorded `fields_get` entry.
    fn from_recorded(def: &Map<String, Value>) -> Field {
        let s = |k: &str| def.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let b = |k: &str| def.get(k).and_then(Value::as_bool).unwrap_or(false);
        let name = s("name");
        let ftype = FType::parse(&s("type"));
        let selection = def
            .get("selection")
            .and_then(Value::as_array)
            .map(|opts| {
                opts.iter()
                    .filter_map(|o| {
                        let pair = o.as_array()?;
                        Some((
                            pair.first()?.as_str()?.to_string(),
                            pair.get(1)
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut attrs = Map::new();
        for (k, v) in def {
            if k != "name" && !k.starts_with('_') {
                attrs.insert(k.clone(), v.clone());
            }
        }
        Field {
            relation: def
                .get("relation")
                .and_then(Value::as_str)
                .map(str::to_string),
            inverse: None,
            required: b("required"),
            readonly: b("readonly"),
            store: !b("readonly") || STORED_READONLY.contains(&name.as_str()),
            selection,
            groups: def
                .get("_groups")
                .and_then(Value::as_str)
                .map(str::to_string),
            string: s("string"),
            ftype,
            name,
            attrs,
        }
    }
}

/// Read-only fields that are nevertheless stored columns (for `store`, `sortable`, `groupable`).
const STORED_READONLY: &[&str] = &[
    "id",
    "create_date",
    "create_uid",
    "write_date",
    "write_uid",
    "complete_name",
    "commercial_partner_id",
    "commercial_company_name",
    "email_normalized",
    "state",
    "amount_untaxed",
    "amount_tax",
    "amount_total",
    "currency_id",
    "invoice_status",
    "partner_share",
    "customer_rank",
    "supplier_rank",
    "phone_sanitized",
];

/// Fields that copy another model's (`related=`, or inherited through `_inherits`), as Odoo's
/// `fields_get` names them in `related`: (model, field, path). A related field depends on its
/// path and nothing else (`Field.get_depends`).
const RELATED: &[(&str, &str, &str)] = &[
    ("res.partner", "country_code", "country_id.code"),
    ("res.partner", "parent_name", "parent_id.name"),
    ("res.users", "name", "partner_id.name"),
    ("res.users", "email", "partner_id.email"),
    ("sale.order.line", "company_id", "order_id.company_id"),
    ("sale.order.line", "currency_id", "order_id.currency_id"),
    ("sale.order.line", "order_partner_id", "order_id.partner_id"),
    ("sale.order.line", "salesman_id", "order_id.user_id"),
    ("sale.order.line", "state", "order_id.state"),
];

/// What a computed field is computed from, as `fields_get` reports it in `depends`: Odoo's
/// `registry.field_depends[field]`, the `@api.depends` of every override of the compute
/// method in method resolution order, duplicates kept (`contact_address` names `country_id`
/// twice). Columns: model, field, up to 18, from 19. Odoo's lists are copied except for
/// fields the emulator does not have (said on the entry); related fields are in `RELATED`,
/// and a `display_name` missing here depends on the model's `_rec_name`.
#[rustfmt::skip]
const DEPENDS: &[(&str, &str, &[&str], &[&str])] = &[
    // `_compute_display_name` of res.partner, then the base one (`_rec_name`).
    ("res.partner", "display_name",
        &["complete_name", "email", "vat", "state_id", "country_id", "commercial_company_name", "name"],
        &["complete_name", "email", "vat", "state_id", "country_id", "commercial_company_name", "name"]),
    ("res.partner", "complete_name",
        &["is_company", "name", "parent_id.name", "type", "company_name", "commercial_company_name"],
        &["is_company", "name", "parent_id.name", "type", "company_name", "commercial_company_name"]),
    ("res.partner", "commercial_company_name",
        &["company_name", "parent_id.is_company", "commercial_partner_id.name"],
        &["company_name", "parent_id.is_company", "commercial_partner_id.name"]),
    ("res.partner", "commercial_partner_id",
        &["is_company", "parent_id.commercial_partner_id"],
        &["is_company", "parent_id.commercial_partner_id"]),
    ("res.partner", "company_type", &["is_company"], &["is_company"]),
    // `_display_address_depends()`: the address format's fields, then country, company, state.
    ("res.partner", "contact_address",
        &["street", "street2", "zip", "city", "state_id", "country_id", "country_id", "company_name", "state_id"],
        &["street", "street2", "zip", "city", "state_id", "country_id", "country_id", "company_name", "state_id"]),
    ("res.partner", "email_formatted", &["name", "email"], &["name", "email"]),
    ("res.partner", "email_normalized", &["email"], &["email"]),
    ("res.partner", "partner_share", &["user_ids.share", "user_ids.active"], &["user_ids.share", "user_ids.active"]),
    // 19 has no `mobile` any more.
    ("res.partner", "phone_sanitized", &["country_id", "mobile", "phone"], &["phone", "country_id"]),
    // `[code] name`; Odoo also names `product_tmpl_id`, which the emulator does not have.
    ("product.product", "display_name", &["name", "default_code", "name"], &["name", "default_code", "name"]),
    // `Name (CC)`, from the state's country.
    ("res.country.state", "display_name", &["country_id", "name"], &["country_id", "name"]),
    // `S00001 - [CODE] Product`.
    ("sale.order.line", "display_name",
        &["order_partner_id", "order_id", "product_id", "name"],
        &["order_partner_id", "order_id", "product_id", "name"]),
    // What the emulator computes the amounts from; Odoo also names `discount` and the taxes.
    ("sale.order.line", "price_subtotal", &["product_uom_qty", "price_unit"], &["product_uom_qty", "price_unit"]),
    ("sale.order.line", "price_tax", &["product_uom_qty", "price_unit"], &["product_uom_qty", "price_unit"]),
    ("sale.order.line", "price_total", &["product_uom_qty", "price_unit"], &["product_uom_qty", "price_unit"]),
    ("sale.order", "amount_untaxed",
        &["order_line.price_subtotal", "currency_id", "company_id"],
        &["order_line.price_subtotal", "currency_id", "company_id", "payment_term_id"]),
    ("sale.order", "amount_tax",
        &["order_line.price_subtotal", "currency_id", "company_id"],
        &["order_line.price_subtotal", "currency_id", "company_id", "payment_term_id"]),
    ("sale.order", "amount_total",
        &["order_line.price_subtotal", "currency_id", "company_id"],
        &["order_line.price_subtotal", "currency_id", "company_id", "payment_term_id"]),
    ("sale.order", "type_name", &["state"], &["state"]),
    ("sale.order", "partner_invoice_id", &["partner_id"], &["partner_id"]),
    ("sale.order", "partner_shipping_id", &["partner_id"], &["partner_id"]),
    ("sale.order", "user_id", &["partner_id"], &["partner_id"]),
    ("sale.order", "currency_id", &["pricelist_id", "company_id"], &["pricelist_id", "company_id"]),
    ("sale.order", "team_id", &["partner_id", "user_id"], &["user_id"]),
];

/// `fields_get`'s `depends` for a field: its related path, its compute method's
/// dependencies, or nothing for a plain field.
fn field_depends(version: &Version, m: &ModelDef, f: &Field) -> Vec<String> {
    let owned = |paths: &[&str]| paths.iter().map(|p| p.to_string()).collect();
    if let Some((_, _, path)) = RELATED
        .iter()
        .find(|(model, field, _)| *model == m.name && *field == f.name)
    {
        return owned(&[path]);
    }
    if let Some((_, _, up_to_18, from_19)) = DEPENDS
        .iter()
        .find(|(model, field, _, _)| *model == m.name && *field == f.name)
    {
        return owned(if version.major >= 19 {
            from_19
        } else {
            up_to_18
        });
    }
    if f.name == "display_name" && m.has_field(&m.rec_name) {
        // The base `_compute_display_name` depends on `_rec_name`.
        return vec![m.rec_name.clone()];
    }
    Vec::new()
}

/// Completes a field's `fields_get` description with the attributes that every field has.
fn complete_attrs(f: &mut Field) {
    let mut a = std::mem::take(&mut f.attrs);
    if !a.contains_key("change_default") {
        let groupable = f.store
            && !matches!(
                f.ftype,
                FType::Binary
                    | FType::One2many
                    | FType::Many2many
                    | FType::Html
                    | FType::Text
                    | FType::Json
                    | FType::Properties
            );
        a.insert("change_default".into(), json!(false));
        a.insert("company_dependent".into(), json!(false));
        a.insert(
            "default_export_compatible".into(),
            json!(f.name == "name" || f.required),
        );
        a.insert("depends".into(), json!([]));
        a.insert("exportable".into(), json!(true));
        a.insert("groupable".into(), json!(groupable));
        a.insert("manual".into(), json!(false));
        a.insert("name".into(), json!(f.name));
        a.insert("searchable".into(), json!(true));
        a.insert(
            "sortable".into(),
            json!(f.store && !f.ftype.is_x2many() && f.ftype != FType::Binary),
        );
        a.insert("store".into(), json!(f.store));
        if f.ftype.is_relational() {
            a.insert("context".into(), json!({}));
            a.insert("domain".into(), json!([]));
        }
        if let Some(inv) = &f.inverse {
            a.insert("relation_field".into(), json!(inv));
        }
        if matches!(f.ftype, FType::Char | FType::Text | FType::Html) {
            a.insert("translate".into(), json!(false));
        }
        if f.ftype == FType::Char {
            a.insert("trim".into(), json!(true));
        }
        if f.ftype == FType::Monetary {
            a.insert("currency_field".into(), json!("currency_id"));
        }
        if f.ftype.is_numeric() {
            a.insert("aggregator".into(), json!("sum"));
        }
    }
    a.insert("readonly".into(), json!(f.readonly));
    a.insert("required".into(), json!(f.required));
    a.insert("string".into(), json!(f.string));
    a.insert("type".into(), json!(f.ftype.name()));
    if let Some(r) = &f.relation {
        a.insert("relation".into(), json!(r));
    }
    if f.ftype == FType::Selection {
        let opts: Vec<Value> = f.selection.iter().map(|(v, l)| json!([v, l])).collect();
        a.insert("selection".into(), Value::Array(opts));
    }
    let sorted: BTreeMap<String, Value> = a.into_iter().collect();
    f.attrs = sorted.into_iter().collect();
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Read,
    Write,
    Create,
    Unlink,
}

impl Op {
    pub fn parse(s: &str) -> Option<Op> {
        match s {
            "read" => Some(Op::Read),
            "write" => Some(Op::Write),
            "create" => Some(Op::Create),
            "unlink" => Some(Op::Unlink),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Write => "write",
            Op::Create => "create",
            Op::Unlink => "unlink",
        }
    }
    /// The verb of the access-rights message.
    pub fn verb(self) -> &'static str {
        match self {
            Op::Read => "access",
            Op::Write => "modify",
            Op::Create => "create",
            Op::Unlink => "delete",
        }
    }
    fn index(self) -> usize {
        match self {
            Op::Read => 0,
            Op::Write => 1,
            Op::Create => 2,
            Op::Unlink => 3,
        }
    }
}

/// Behaviour that sets a model apart from the generic one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    Partner,
    SaleOrder,
    SaleOrderLine,
    Product,
    Company,
    Country,
    Users,
    ApiKeys,
    IrModel,
    ConfigParameter,
    Minor,
}

#[derive(Debug, Clone)]
pub struct ModelDef {
    pub name: String,
    pub description: String,
    pub kind: ModelKind,
    pub fields: Vec<Field>,
    pub index: HashMap<String, usize>,
    /// `_order`
    pub order: String,
    /// The field holding the record's name (`_rec_name`).
    pub rec_name: String,
    /// `_rec_names_search`: the fields a search on `display_name` (and so `name_search`, and
    /// a string compared with a relational field) looks at; empty: `_rec_name`.
    pub rec_names_search: Vec<String>,
    /// `_parent_name` for `child_of` / `parent_of`.
    pub parent_field: Option<String>,
    pub transient: bool,
    /// Has `create_uid`, `create_date`, `write_uid`, `write_date` (`_log_access`).
    pub log_access: bool,
    /// Groups (XML ids) granted each operation, in the order read, write, create, unlink.
    /// An empty list grants the operation to everybody (like an ACL without a group).
    acl: [Vec<&'static str>; 4],
}

impl ModelDef {
    fn new(name: &str, description: &str, kind: ModelKind, order: &str) -> ModelDef {
        ModelDef {
            name: name.to_string(),
            description: description.to_string(),
            kind,
            fields: Vec::new(),
            index: HashMap::new(),
            order: order.to_string(),
            rec_name: "name".to_string(),
            rec_names_search: Vec::new(),
            parent_field: None,
            transient: false,
            log_access: kind != ModelKind::ApiKeys,
            acl: [
                INTERNAL.to_vec(),
                SYSTEM.to_vec(),
                SYSTEM.to_vec(),
                SYSTEM.to_vec(),
            ],
        }
    }
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.index.get(name).map(|i| &self.fields[*i])
    }
    pub fn has_field(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }
    pub fn acl_groups(&self, op: Op) -> &[&'static str] {
        &self.acl[op.index()]
    }
    fn acl(
        mut self,
        read: &[&'static str],
        write: &[&'static str],
        create: &[&'static str],
        unlink: &[&'static str],
    ) -> Self {
        self.acl = [
            read.to_vec(),
            write.to_vec(),
            create.to_vec(),
            unlink.to_vec(),
        ];
        self
    }
    fn push(&mut self, f: Field) {
        if let Some(i) = self.index.get(&f.name) {
            self.fields[*i] = f;
        } else {
            self.index.insert(f.name.clone(), self.fields.len());
            self.fields.push(f);
        }
    }
    fn with_fields(mut self, fields: Vec<Field>) -> Self {
        for f in fields {
            self.push(f);
        }
        self
    }
    fn ensure_base_fields(&mut self) {
        if !self.has_field("id") {
            let id = Field::new("id", FType::Integer, "ID").ro();
            self.index.clear();
            self.fields.insert(0, id);
            for (i, f) in self.fields.iter().enumerate() {
                self.index.insert(f.name.clone(), i);
            }
        }
        if !self.has_field("display_name") {
            self.push(Field::new("display_name", FType::Char, "Display Name").computed());
        }
        if !self.log_access {
            return;
        }
        for (name, ftype, label, rel) in [
            (
                "create_uid",
                FType::Many2one,
                "Created by",
                Some("res.users"),
            ),
            ("create_date", FType::Datetime, "Created on", None),
            (
                "write_uid",
                FType::Many2one,
                "Last Updated by",
                Some("res.users"),
            ),
            ("write_date", FType::Datetime, "Last Updated on", None),
        ] {
            if !self.has_field(name) {
                let mut f = Field::new(name, ftype, label).ro();
                f.relation = rel.map(str::to_string);
                self.push(f);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Groups

pub struct GroupInfo {
    pub xmlid: &'static str,
    pub id: i64,
    pub name: &'static str,
    /// Full name as Odoo 16-18 shows it in access errors ("Category/Name").
    pub full18: &'static str,
    /// Full name as Odoo 19 shows it.
    pub full19: &'static str,
}

pub const USER: &str = "base.group_user";
pub const ERP_MANAGER: &str = "base.group_erp_manager";
pub const SYSTEM_GROUP: &str = "base.group_system";
pub const PARTNER_MANAGER: &str = "base.group_partner_manager";
pub const SALESMAN: &str = "sales_team.group_sale_salesman";
pub const SALESMAN_ALL: &str = "sales_team.group_sale_salesman_all_leads";
pub const SALE_MANAGER: &str = "sales_team.group_sale_manager";
pub const STOCK_MANAGER: &str = "stock.group_stock_manager";
pub const PRODUCT_MANAGER: &str = "product.group_product_manager";

const INTERNAL: &[&str] = &[USER];
const SYSTEM: &[&str] = &[SYSTEM_GROUP];

#[rustfmt::skip]
pub const GROUPS: &[GroupInfo] = &[
    GroupInfo { xmlid: USER, id: 1, name: "Internal User", full18: "User types/Internal User", full19: "Role / User" },
    GroupInfo { xmlid: ERP_MANAGER, id: 2, name: "Access Rights", full18: "Administration/Access Rights", full19: "Access Rights" },
    GroupInfo { xmlid: "base.group_sanitize_override", id: 3, name: "Sanitize HTML override", full18: "Extra Rights/Sanitize HTML override", full19: "Sanitize HTML override" },
    GroupInfo { xmlid: SYSTEM_GROUP, id: 4, name: "Settings", full18: "Administration/Settings", full19: "Role / Administrator" },
    GroupInfo { xmlid: "base.group_multi_company", id: 5, name: "Multi Companies", full18: "Technical/Multi Companies", full19: "Multi Companies" },
    GroupInfo { xmlid: "base.group_no_one", id: 7, name: "Technical Features", full18: "Extra Rights/Technical Features", full19: "Technical Features" },
    GroupInfo { xmlid: "base.group_allow_export", id: 8, name: "Access to export feature", full18: "Extra Rights/Access to export feature", full19: "Access to export feature" },
    GroupInfo { xmlid: PARTNER_MANAGER, id: 9, name: "Contact Creation", full18: "Extra Rights/Contact Creation", full19: "Contact/Creation" },
    GroupInfo { xmlid: "mail.group_mail_canned_response_admin", id: 13, name: "Canned Response Administrator", full18: "Extra Rights/Canned Response Administrator", full19: "Canned Response Administrator" },
    GroupInfo { xmlid: "mail.group_mail_template_editor", id: 14, name: "Mail Template Editor", full18: "Extra Rights/Mail Template Editor", full19: "Mail Template Editor" },
    GroupInfo { xmlid: "product.group_product_variant", id: 19, name: "Manage Product Variants", full18: "Technical/Manage Product Variants", full19: "Manage Product Variants" },
    GroupInfo { xmlid: PRODUCT_MANAGER, id: 20, name: "Product Creation", full18: "Extra Rights/Product Creation", full19: "Product/Creation" },
    GroupInfo { xmlid: SALESMAN, id: 21, name: "User: Own Documents Only", full18: "Sales/User: Own Documents Only", full19: "Sales/User: Own Documents Only" },
    GroupInfo { xmlid: SALESMAN_ALL, id: 22, name: "User: All Documents", full18: "Sales/User: All Documents", full19: "Sales/User: All Documents" },
    GroupInfo { xmlid: SALE_MANAGER, id: 23, name: "Administrator", full18: "Sales/Administrator", full19: "Sales/Administrator" },
    GroupInfo { xmlid: "account.group_account_invoice", id: 26, name: "Invoicing", full18: "Accounting/Invoicing", full19: "Accounting / Invoicing" },
    GroupInfo { xmlid: "account.group_account_manager", id: 29, name: "Administrator", full18: "Accounting/Administrator", full19: "Accounting / Administrator" },
    GroupInfo { xmlid: "account.group_validate_bank_account", id: 35, name: "Validate bank account", full18: "Accounting/Validate bank account", full19: "Validate bank account" },
    GroupInfo { xmlid: "spreadsheet_dashboard.group_dashboard_manager", id: 36, name: "Admin", full18: "Dashboard/Admin", full19: "Dashboard / Admin" },
    GroupInfo { xmlid: "stock.group_stock_user", id: 39, name: "User", full18: "Inventory/User", full19: "Inventory/User" },
    GroupInfo { xmlid: STOCK_MANAGER, id: 40, name: "Administrator", full18: "Inventory/Administrator", full19: "Inventory/Administrator" },
    GroupInfo { xmlid: "stock.group_production_lot", id: 41, name: "Manage Lots / Serial Numbers", full18: "Technical/Manage Lots / Serial Numbers", full19: "Manage Lots / Serial Numbers" },
    GroupInfo { xmlid: "sale_management.group_sale_order_template", id: 56, name: "Quotation Templates", full18: "Technical/Quotation Templates", full19: "Quotation Templates" },
    GroupInfo { xmlid: "api_doc.group_allow_doc", id: 57, name: "API Docs", full18: "Technical/API Docs", full19: "API Docs" },
];

pub fn group(xmlid: &str) -> Option<&'static GroupInfo> {
    GROUPS.iter().find(|g| g.xmlid == xmlid)
}

/// The group's name as this version prints it in access errors.
pub fn group_label(xmlid: &str, version: &Version) -> String {
    match group(xmlid) {
        Some(g) if version.major >= 19 => g.full19.to_string(),
        Some(g) => g.full18.to_string(),
        None => xmlid.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Registry

pub struct Registry {
    pub version: Version,
    pub database: String,
    pub models: HashMap<String, ModelDef>,
}

impl Registry {
    pub fn model(&self, name: &str) -> Option<&ModelDef> {
        self.models.get(name)
    }

    pub fn build(version: Version, database: &str) -> Registry {
        let data = recorded_data(&version);
        let mut models: HashMap<String, ModelDef> = HashMap::new();
        for m in hand_written(&version) {
            models.insert(m.name.clone(), m);
        }
        models.insert("res.partner".into(), partner_model(&data));
        models.insert("sale.order".into(), sale_order_model(&data));

        // Every model a relational field points to exists, at least as a minor model.
        let mut wanted: Vec<String> = Vec::new();
        for m in models.values() {
            for f in &m.fields {
                if let Some(r) = &f.relation
                    && !models.contains_key(r)
                    && !wanted.contains(r)
                {
                    wanted.push(r.clone());
                }
            }
        }
        for r in wanted {
            models.insert(r.clone(), minor_model(&r));
        }
        for m in models.values_mut() {
            m.ensure_base_fields();
            let depends: Vec<Vec<String>> = m
                .fields
                .iter()
                .map(|f| field_depends(&version, m, f))
                .collect();
            for (f, depends) in m.fields.iter_mut().zip(depends) {
                complete_attrs(f);
                f.attrs.insert("depends".into(), json!(depends));
                if let Some((_, _, path)) = RELATED
                    .iter()
                    .find(|(model, field, _)| *model == m.name && *field == f.name)
                {
                    f.attrs.insert("related".into(), json!(path));
                }
            }
        }
        Registry {
            version,
            database: database.to_string(),
            models,
        }
    }
}

/// The embedded copy of the recordings for this version's family.
pub fn recorded_data(version: &Version) -> Value {
    let text = if version.major >= 19 {
        DATA_19
    } else {
        DATA_18
    };
    serde_json::from_str(text).unwrap_or(Value::Null)
}

fn recorded_fields(data: &Value, model: &str) -> Vec<Field> {
    let full: Map<String, Value> = data
        .pointer(&format!("/full_attrs/{model}"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    data.pointer(&format!("/models/{model}"))
        .and_then(Value::as_array)
        .map(|defs| {
            defs.iter()
                .filter_map(Value::as_object)
                .map(|d| {
                    let mut f = Field::from_recorded(d);
                    if let Some(all) = full.get(&f.name).and_then(Value::as_object) {
                        f.attrs = all.clone();
                        f.store = all.get("store").and_then(Value::as_bool).unwrap_or(f.store);
                    }
                    f
                })
                .collect()
        })
        .unwrap_or_default()
}

fn partner_model(data: &Value) -> ModelDef {
    let mut m = ModelDef::new(
        "res.partner",
        "Contact",
        ModelKind::Partner,
        "complete_name asc, id desc",
    )
    .acl(
        INTERNAL,
        &[PARTNER_MANAGER, STOCK_MANAGER, SALE_MANAGER],
        &[PARTNER_MANAGER, STOCK_MANAGER, SALE_MANAGER],
        &[PARTNER_MANAGER, STOCK_MANAGER, SALE_MANAGER],
    );
    m.parent_field = Some("parent_id".into());
    m.rec_names_search = ["complete_name", "email", "ref", "vat", "company_registry"]
        .iter()
        .map(|f| f.to_string())
        .collect();
    for mut f in recorded_fields(data, "res.partner") {
        match f.name.as_str() {
            "child_ids" => f.inverse = Some("parent_id".into()),
            "user_ids" => f.inverse = Some("partner_id".into()),
            "sale_order_ids" => f.inverse = Some("partner_id".into()),
            "bank_ids" => f.inverse = Some("partner_id".into()),
            _ => {}
        }
        m.push(f);
    }
    m
}

fn sale_order_model(data: &Value) -> ModelDef {
    let mut m = ModelDef::new(
        "sale.order",
        "Sales Order",
        ModelKind::SaleOrder,
        "date_order desc, id desc",
    )
    .acl(&[SALESMAN], &[SALESMAN], &[SALESMAN], &[SALE_MANAGER]);
    for mut f in recorded_fields(data, "sale.order") {
        if f.name == "order_line" {
            f.inverse = Some("order_id".into());
        }
        m.push(f);
    }
    m
}

fn minor_model(name: &str) -> ModelDef {
    let description = match name {
        "discuss.channel.rtc.session" => "Mail RTC session".to_string(),
        "res.currency" => "Currency".to_string(),
        "res.groups" => "Access Groups".to_string(),
        "res.country.state" => "Country state".to_string(),
        "stock.location" => "Inventory Locations".to_string(),
        "account.account" => "Account".to_string(),
        _ => name
            .split('.')
            .map(|w| {
                let mut c = w.chars();
                match c.next() {
                    Some(first) => first.to_uppercase().collect::<String>() + c.as_str(),
                    None => String::new(),
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
    };
    let mut m = ModelDef::new(name, &description, ModelKind::Minor, "name, id")
        .with_fields(vec![Field::new("name", FType::Char, "Name")]);
    if name == "discuss.channel.rtc.session" {
        m = m.acl(SYSTEM, SYSTEM, SYSTEM, SYSTEM);
    }
    m
}

fn hand_written(version: &Version) -> Vec<ModelDef> {
    let groups_field = if version.major >= 19 {
        "group_ids"
    } else {
        "groups_id"
    };
    let lang_selection = [("en_US", "English (US)")];
    let tz_selection = [("Europe/Brussels", "Europe/Brussels"), ("UTC", "UTC")];
    vec![
        ModelDef::new(
            "sale.order.line",
            "Sales Order Line",
            ModelKind::SaleOrderLine,
            "order_id, sequence, id",
        )
        .acl(&[SALESMAN], &[SALESMAN], &[SALESMAN], &[SALESMAN])
        .search_names(&["name", "order_id.name"])
        .with_fields(vec![
            Field::new("order_id", FType::Many2one, "Order Reference")
                .rel("sale.order")
                .req(),
            Field::new("sequence", FType::Integer, "Sequence"),
            Field::new("product_id", FType::Many2one, "Product").rel("product.product"),
            Field::new("name", FType::Text, "Description").req(),
            Field::new("product_uom_qty", FType::Float, "Quantity").req(),
            Field::new("price_unit", FType::Float, "Unit Price").req(),
            Field::new("price_subtotal", FType::Monetary, "Subtotal").ro(),
            Field::new("price_tax", FType::Float, "Total Tax").ro(),
            Field::new("price_total", FType::Monetary, "Total").ro(),
            Field::new("currency_id", FType::Many2one, "Currency")
                .rel("res.currency")
                .ro(),
            Field::new("company_id", FType::Many2one, "Company")
                .rel("res.company")
                .ro(),
            Field::new("order_partner_id", FType::Many2one, "Customer")
                .rel("res.partner")
                .ro(),
            Field::new("salesman_id", FType::Many2one, "Salesperson")
                .rel("res.users")
                .ro(),
            Field::new("state", FType::Selection, "Order Status")
                .ro()
                .sel(SALE_STATES),
        ]),
        ModelDef::new(
            "product.product",
            "Product Variant",
            ModelKind::Product,
            "default_code, name, id",
        )
        .acl(
            INTERNAL,
            &[PRODUCT_MANAGER, SALE_MANAGER, STOCK_MANAGER],
            &[PRODUCT_MANAGER, SALE_MANAGER, STOCK_MANAGER],
            &[PRODUCT_MANAGER, SALE_MANAGER, STOCK_MANAGER],
        )
        .with_fields(vec![
            Field::new("name", FType::Char, "Name").req(),
            Field::new("default_code", FType::Char, "Internal Reference"),
            Field::new("barcode", FType::Char, "Barcode"),
            Field::new("active", FType::Boolean, "Active"),
            Field::new("type", FType::Selection, "Product Type")
                .req()
                .sel(&[
                    ("consu", "Goods"),
                    ("service", "Service"),
                    ("combo", "Combo"),
                ]),
            Field::new("list_price", FType::Float, "Sales Price"),
            Field::new("standard_price", FType::Float, "Cost"),
            Field::new("sale_ok", FType::Boolean, "Can be Sold"),
            Field::new("purchase_ok", FType::Boolean, "Can be Purchased"),
            Field::new("categ_id", FType::Many2one, "Product Category").rel("product.category"),
            Field::new("uom_id", FType::Many2one, "Unit").rel("uom.uom"),
            Field::new("description_sale", FType::Text, "Sales Description"),
            Field::new("company_id", FType::Many2one, "Company").rel("res.company"),
            Field::new("currency_id", FType::Many2one, "Currency")
                .rel("res.currency")
                .ro(),
        ]),
        ModelDef::new(
            "res.company",
            "Companies",
            ModelKind::Company,
            "sequence, name",
        )
        .acl(&[], &[ERP_MANAGER], &[ERP_MANAGER], &[ERP_MANAGER])
        .with_fields(vec![
            Field::new("name", FType::Char, "Company Name").req(),
            Field::new("partner_id", FType::Many2one, "Partner")
                .rel("res.partner")
                .req(),
            Field::new("currency_id", FType::Many2one, "Currency")
                .rel("res.currency")
                .req(),
            Field::new("sequence", FType::Integer, "Sequence"),
            Field::new("parent_id", FType::Many2one, "Parent Company").rel("res.company"),
            Field::new("child_ids", FType::One2many, "Branches")
                .rel("res.company")
                .inv("parent_id"),
            Field::new("email", FType::Char, "Email"),
            Field::new("phone", FType::Char, "Phone"),
            Field::new("country_id", FType::Many2one, "Country").rel("res.country"),
            Field::new("active", FType::Boolean, "Active"),
        ]),
        // Points at other records by model name (the indirection odoo-warden's policy bounds).
        ModelDef::new("ir.attachment", "Attachment", ModelKind::Minor, "id desc")
            .acl(&[], INTERNAL, INTERNAL, INTERNAL)
            .with_fields(vec![
                Field::new("name", FType::Char, "Name").req(),
                Field::new("res_model", FType::Char, "Resource Model"),
                Field::new("res_id", FType::Many2oneReference, "Resource ID")
                    .model_field("res_model"),
            ]),
        ModelDef::new("res.country", "Country", ModelKind::Country, "name, id")
            .acl(&[], SYSTEM, SYSTEM, SYSTEM)
            .search_names(&["name", "code"])
            .with_fields(vec![
                Field::new("name", FType::Char, "Country Name").req(),
                Field::new("code", FType::Char, "Country Code"),
                Field::new("phone_code", FType::Integer, "Country Calling Code"),
                Field::new("currency_id", FType::Many2one, "Currency").rel("res.currency"),
                Field::new("state_ids", FType::One2many, "States")
                    .rel("res.country.state")
                    .inv("country_id"),
            ]),
        ModelDef::new(
            "res.country.state",
            "Country state",
            ModelKind::Minor,
            "code, id",
        )
        .acl(&[], SYSTEM, SYSTEM, SYSTEM)
        .search_names(&["name", "code"])
        .with_fields(vec![
            Field::new("name", FType::Char, "State Name").req(),
            Field::new("code", FType::Char, "State Code").req(),
            Field::new("country_id", FType::Many2one, "Country")
                .rel("res.country")
                .req(),
        ]),
        ModelDef::new("res.users", "User", ModelKind::Users, "name, login")
            .acl(INTERNAL, &[ERP_MANAGER], &[ERP_MANAGER], &[ERP_MANAGER])
            .with_fields(vec![
                Field::new("name", FType::Char, "Name").req(),
                Field::new("login", FType::Char, "Login").req(),
                Field::new("active", FType::Boolean, "Active"),
                Field::new("partner_id", FType::Many2one, "Related Partner")
                    .rel("res.partner")
                    .req(),
                Field::new("email", FType::Char, "Email"),
                Field::new("company_id", FType::Many2one, "Company")
                    .rel("res.company")
                    .req(),
                Field::new("company_ids", FType::Many2many, "Companies").rel("res.company"),
                Field::new(groups_field, FType::Many2many, "Groups").rel("res.groups"),
                Field::new("tz", FType::Selection, "Timezone").sel(&tz_selection),
                Field::new("lang", FType::Selection, "Language").sel(&lang_selection),
                Field::new("share", FType::Boolean, "Share User").ro(),
                Field::new("login_date", FType::Datetime, "Latest authentication").ro(),
            ]),
        ModelDef::new("res.groups", "Access Groups", ModelKind::Minor, "name, id").with_fields(
            vec![
                Field::new("name", FType::Char, "Name").req(),
                Field::new("full_name", FType::Char, "Group Name").ro(),
            ],
        ),
        ModelDef::new(
            "res.users.apikeys",
            "Users API Keys",
            ModelKind::ApiKeys,
            "id",
        )
        .acl(INTERNAL, SYSTEM, INTERNAL, INTERNAL)
        .with_fields(vec![
            Field::new("name", FType::Char, "Description").req().ro(),
            Field::new("user_id", FType::Many2one, "User")
                .rel("res.users")
                .req()
                .ro(),
            Field::new("scope", FType::Char, "Scope").ro(),
            Field::new("create_date", FType::Datetime, "Creation Date").ro(),
            Field::new("expiration_date", FType::Datetime, "Expiration Date").ro(),
            Field::new("display_name", FType::Char, "Display Name").computed(),
        ]),
        ModelDef::new("ir.model", "Models", ModelKind::IrModel, "model")
            .acl(&[ERP_MANAGER], SYSTEM, SYSTEM, SYSTEM)
            .search_names(&["name", "model"])
            .with_fields(vec![
                Field::new("name", FType::Char, "Model Description").req(),
                Field::new("model", FType::Char, "Model").req(),
                Field::new("info", FType::Text, "Information"),
                Field::new("state", FType::Selection, "Type")
                    .sel(&[("manual", "Custom Object"), ("base", "Base Object")]),
                Field::new("transient", FType::Boolean, "Transient Model"),
                Field::new("modules", FType::Char, "In Apps").computed(),
            ]),
        ModelDef::new(
            "ir.config_parameter",
            "System Parameter",
            ModelKind::ConfigParameter,
            "key",
        )
        .acl(SYSTEM, SYSTEM, SYSTEM, SYSTEM)
        .with_fields(vec![
            Field::new("key", FType::Char, "Key").req(),
            Field::new("value", FType::Text, "Value").req(),
        ])
        .rec("key"),
    ]
}

pub const SALE_STATES: &[(&str, &str)] = &[
    ("draft", "Quotation"),
    ("sent", "Quotation Sent"),
    ("sale", "Sales Order"),
    ("cancel", "Cancelled"),
];

impl ModelDef {
    fn rec(mut self, field: &str) -> Self {
        self.rec_name = field.to_string();
        self
    }
    fn search_names(mut self, fields: &[&str]) -> Self {
        self.rec_names_search = fields.iter().map(|f| f.to_string()).collect();
        self
    }
}
