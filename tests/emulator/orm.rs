//! The ORM core: access rights, record rules, domain evaluation, computed values, ordering,
//! search and read. Changes live in `write`, grouping in `group`.
//!
//! Everything here runs under the database lock and never awaits. The messages of the errors
//! follow Odoo's wording, per version where the recordings show it differs.

use std::cmp::Ordering;
use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::db::{Db, Row, as_id, is_falsy};
use super::domain::{self, Dom, DomainError, IdSet, Leaf};
use super::errors::{Kind, OResult, OdooError};
use super::mail;
use super::pyfmt;
use super::resolve::Mode;
use super::schema::{
    self, FType, Field, ModelDef, ModelKind, Op, Registry, SALE_MANAGER, SALESMAN_ALL, SYSTEM_GROUP,
};

/// Who is calling, with which context.
pub struct Cx<'a> {
    pub reg: &'a Registry,
    pub uid: i64,
    pub groups: &'a [&'static str],
    pub context: &'a Map<String, Value>,
}

/// One `ORDER BY` term.
#[derive(Debug, Clone)]
pub struct OrderTerm {
    pub field: String,
    pub desc: bool,
    pub nulls_first: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub(super) enum SortKey {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
}

fn cmp_keys(a: &SortKey, b: &SortKey) -> Ordering {
    a.partial_cmp(b).unwrap_or(Ordering::Equal)
}

pub fn round_to(f: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (f * p).round() / p
}

pub(super) fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

impl<'a> Cx<'a> {
    // -----------------------------------------------------------------------------------------
    // Access rights and record rules

    pub fn has_group(&self, group: &str) -> bool {
        self.groups.contains(&group)
    }

    pub fn model(&self, name: &str) -> OResult<&'a ModelDef> {
        self.reg
            .model(name)
            .ok_or_else(|| OdooError::user(format!("Object {name} doesn't exist")))
    }

    pub fn acl_allows(&self, m: &ModelDef, op: Op) -> bool {
        let groups = m.acl_groups(op);
        groups.is_empty() || groups.iter().any(|g| self.has_group(g))
    }

    pub fn acl_error(&self, m: &ModelDef, op: Op) -> OdooError {
        let mut labels: Vec<String> = m
            .acl_groups(op)
            .iter()
            .map(|g| schema::group_label(g, &self.reg.version))
            .collect();
        labels.sort();
        labels.dedup();
        let allowed = if labels.is_empty() {
            "No group currently allows this operation.".to_string()
        } else {
            let lines: Vec<String> = labels.iter().map(|l| format!("\t- {l}")).collect();
            format!(
                "This operation is allowed for the following groups:\n{}",
                lines.join("\n")
            )
        };
        OdooError::access(format!(
            "You are not allowed to {} '{}' ({}) records.\n\n{}\n\nContact your administrator to request access if necessary.",
            op.verb(),
            m.description,
            m.name,
            allowed
        ))
    }

    pub fn check_acl(&self, m: &ModelDef, op: Op) -> OResult<()> {
        if self.acl_allows(m, op) {
            Ok(())
        } else {
            Err(self.acl_error(m, op))
        }
    }

    /// The record rules that apply to this user on this model, as one domain.
    pub fn rule_domain(&self, m: &ModelDef) -> Option<Dom> {
        match m.kind {
            ModelKind::SaleOrder | ModelKind::SaleOrderLine
                if !self.has_group(SALESMAN_ALL) && !self.has_group(SALE_MANAGER) =>
            {
                let path = if m.kind == ModelKind::SaleOrder {
                    "user_id"
                } else {
                    "order_id.user_id"
                };
                Some(Dom::Or(vec![
                    Dom::leaf(path, "=", json!(self.uid)),
                    Dom::leaf(path, "=", Value::Bool(false)),
                ]))
            }
            ModelKind::ApiKeys if !self.has_group(SYSTEM_GROUP) => {
                Some(Dom::leaf("user_id", "=", json!(self.uid)))
            }
            _ => None,
        }
    }

    fn user_name(&self, db: &Db) -> String {
        db.row("res.users", self.uid)
            .and_then(|r| r.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    }

    pub fn rule_error(&self, db: &Db, m: &ModelDef, op: Op) -> OdooError {
        OdooError::access(format!(
            "Uh-oh! Looks like you have stumbled upon some top-secret records.\n\nSorry, {} (id={}) doesn't have '{}' access to:\n- {} ({})\n\nIf you really, really need access, perhaps you can win over your friendly administrator with a batch of freshly baked cookies.",
            self.user_name(db),
            self.uid,
            op.name(),
            m.description,
            m.name
        ))
    }

    /// Raises the record-rule error if one of these (existing) records is out of reach.
    pub fn check_rules(&self, db: &Db, m: &ModelDef, ids: &[i64], op: Op) -> OResult<()> {
        if let Some(rule) = self.rule_domain(m) {
            let rule = self.resolve(db, m, &rule, self.rule_mode())?;
            for id in ids {
                if let Some(row) = db.row(&m.name, *id)
                    && !self.eval(db, m, *id, row, &rule)
                {
                    return Err(self.rule_error(db, m, op));
                }
            }
        }
        Ok(())
    }

    pub fn missing_error(&self, m: &ModelDef, ids: &[i64]) -> OdooError {
        OdooError::new(
            Kind::MissingError,
            format!(
                "Record does not exist or has been deleted.\n(Record: {}{}, User: {})",
                m.name,
                pyfmt::repr_ids(ids),
                self.uid
            ),
        )
    }

    pub(super) fn check_exist(&self, db: &Db, m: &ModelDef, ids: &[i64]) -> OResult<()> {
        let missing: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| !db.exists(&m.name, *id))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(self.missing_error(m, &missing))
        }
    }

    /// Can the user see this field at all (`groups=` on the field)?
    pub fn field_visible(&self, f: &Field) -> bool {
        match &f.groups {
            Some(g) => self.has_group(g),
            None => true,
        }
    }

    pub fn active_test(&self) -> bool {
        !matches!(self.context.get("active_test"), Some(Value::Bool(false)))
    }

    pub(super) fn invalid_field(m: &ModelDef, name: &str) -> OdooError {
        OdooError::value(format!(
            "Invalid field {} on model {}",
            pyfmt::repr_str(name),
            pyfmt::repr_str(&m.name)
        ))
    }

    // -----------------------------------------------------------------------------------------
    // Domains

    /// Parses a domain and checks its fields against the model.
    pub fn domain(&self, m: &ModelDef, v: &Value) -> OResult<Dom> {
        let v19 = self.reg.version.major >= 19;
        let mut dom = domain::parse(v).map_err(|e| match e {
            DomainError::Term(t) | DomainError::Malformed(t) => {
                if v19 {
                    OdooError::value(format!("Invalid domain: {}", pyfmt::repr(&t)))
                } else {
                    OdooError::value(format!("Invalid leaf {}", pyfmt::repr(&t)))
                }
            }
            DomainError::Operator(raw, op) => {
                let leaf = pyfmt::repr_tuple(&raw);
                if v19 {
                    OdooError::value(format!(
                        "Invalid operator {} in condition {leaf}",
                        pyfmt::repr_str(&op)
                    ))
                } else {
                    OdooError::value(format!("Invalid leaf {leaf}"))
                }
            }
        })?;
        let mut err: Option<OdooError> = None;
        dom.leaves_mut(&mut |leaf: &mut Leaf| {
            if err.is_some() {
                return;
            }
            if let Err(e) = self.check_leaf(m, leaf) {
                err = Some(e);
            }
        });
        match err {
            Some(e) => Err(e),
            None => Ok(dom),
        }
    }

    fn check_leaf(&self, m: &ModelDef, leaf: &mut Leaf) -> OResult<()> {
        let wording = if self.reg.version.major >= 19 {
            "condition"
        } else {
            "leaf"
        };
        let mut model = m;
        let parts: Vec<&str> = leaf.path.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            let Some(f) = model.field(part) else {
                return Err(OdooError::value(format!(
                    "Invalid field {}.{} in {wording} {}",
                    model.name,
                    part,
                    leaf.repr()
                )));
            };
            if i + 1 < parts.len() || leaf.op == "any" || leaf.op == "not any" {
                let Some(rel) = f.relation.as_deref().and_then(|r| self.reg.model(r)) else {
                    return Err(OdooError::value(format!(
                        "Invalid field {}.{} in {wording} {}",
                        model.name,
                        parts.get(i + 1).copied().unwrap_or(part),
                        leaf.repr()
                    )));
                };
                model = rel;
            }
        }
        if leaf.op == "any" || leaf.op == "not any" {
            let sub = self.domain(model, &leaf.value)?;
            leaf.sub = Some(Box::new(sub));
        }
        Ok(())
    }

    /// Evaluates a domain on one row. The domain must have gone through [`Cx::resolve`]:
    /// conditions through relations, name searches and hierarchies are ids by then.
    pub fn eval(&self, db: &Db, m: &ModelDef, id: i64, row: &Row, dom: &Dom) -> bool {
        match dom {
            Dom::Const(b) => *b,
            Dom::And(items) => items.iter().all(|d| self.eval(db, m, id, row, d)),
            Dom::Or(items) => items.iter().any(|d| self.eval(db, m, id, row, d)),
            Dom::Not(d) => !self.eval(db, m, id, row, d),
            Dom::Leaf(leaf) => self.eval_leaf(db, m, id, row, leaf),
            Dom::Ids(set) => self.eval_ids(db, m, id, row, set),
        }
    }

    /// `id in ids`, a many2one pointing at one of them, an x2many holding one; or the negation.
    fn eval_ids(&self, db: &Db, m: &ModelDef, id: i64, row: &Row, set: &IdSet) -> bool {
        let hit = if set.field == "id" {
            set.ids.contains(&id)
        } else {
            m.field(&set.field).is_some_and(|f| {
                self.related_ids(db, m, id, row, f)
                    .iter()
                    .any(|i| set.ids.contains(i))
            })
        };
        hit == set.positive
    }

    fn eval_leaf(&self, db: &Db, m: &ModelDef, id: i64, row: &Row, leaf: &Leaf) -> bool {
        let Some(f) = m.field(&leaf.path) else {
            return false;
        };
        let value = self.raw(db, m, id, row, f);
        let target = &leaf.value;
        match leaf.op.as_str() {
            "=" => self.matches_eq(f, &value, target),
            "!=" => !self.matches_eq(f, &value, target),
            "=?" => is_falsy(target) || self.matches_eq(f, &value, target),
            "in" => in_list(target)
                .iter()
                .any(|t| self.matches_eq(f, &value, t)),
            "not in" => !in_list(target)
                .iter()
                .any(|t| self.matches_eq(f, &value, t)),
            "<" | ">" | "<=" | ">=" => {
                compare(&value, target).is_some_and(|o| match leaf.op.as_str() {
                    "<" => o == Ordering::Less,
                    ">" => o == Ordering::Greater,
                    "<=" => o != Ordering::Greater,
                    _ => o != Ordering::Less,
                })
            }
            "like" | "ilike" | "=like" | "=ilike" | "not like" | "not ilike" => {
                let op = leaf.op.as_str();
                let negative = op.starts_with("not");
                let insensitive = op.contains("ilike");
                let pattern = match target {
                    Value::String(s) if op.starts_with('=') => s.clone(),
                    Value::String(s) => format!("%{s}%"),
                    Value::Bool(false) | Value::Null => {
                        let empty = texts(&value).is_empty();
                        return if negative { !empty } else { empty };
                    }
                    other => format!("%{}%", plain(other)),
                };
                let hit = texts(&value)
                    .iter()
                    .any(|t| domain::like(&pattern, t, insensitive));
                if negative { !hit } else { hit }
            }
            _ => false,
        }
    }

    fn matches_eq(&self, f: &Field, value: &Value, target: &Value) -> bool {
        if is_falsy(target) && !matches!(target, Value::Number(_)) {
            return is_falsy(value);
        }
        match f.ftype {
            FType::Many2one => as_id(value).is_some() && as_id(value) == as_id(target),
            FType::One2many | FType::Many2many => value
                .as_array()
                .is_some_and(|ids| ids.iter().any(|i| as_id(i) == as_id(target))),
            FType::Boolean => is_falsy(value) == is_falsy(target),
            _ => match (num(value), num(target)) {
                (Some(a), Some(b)) => a == b,
                _ => value == target,
            },
        }
    }

    /// Ids below (`child_of`) or above (`parent_of`) the given ones, themselves included,
    /// following the model's parent field (`_parent_name`).
    pub(super) fn hierarchy(
        &self,
        db: &Db,
        m: &ModelDef,
        start: &[i64],
        down: bool,
    ) -> HashSet<i64> {
        self.hierarchy_by(db, m, start, down, m.parent_field.as_deref())
    }

    /// [`Cx::hierarchy`] along the many2one `parent`, as superuser and archived records
    /// included (Odoo walks it with `sudo().with_context(active_test=False)`).
    pub(super) fn hierarchy_by(
        &self,
        db: &Db,
        m: &ModelDef,
        start: &[i64],
        down: bool,
        parent: Option<&str>,
    ) -> HashSet<i64> {
        let mut set: HashSet<i64> = start.iter().copied().collect();
        let Some(pf) = parent else {
            return set;
        };
        let Some(table) = db.table(&m.name) else {
            return set;
        };
        loop {
            let before = set.len();
            if down {
                for (id, row) in &table.rows {
                    if let Some(p) = row.get(pf).and_then(as_id)
                        && set.contains(&p)
                    {
                        set.insert(*id);
                    }
                }
            } else {
                let parents: Vec<i64> = set
                    .iter()
                    .filter_map(|id| table.rows.get(id))
                    .filter_map(|r| r.get(pf).and_then(as_id))
                    .collect();
                set.extend(parents);
            }
            if set.len() == before {
                return set;
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Values

    /// The value of a field as stored or computed: a many2one is its id or `false`.
    pub fn raw(&self, db: &Db, m: &ModelDef, id: i64, row: &Row, f: &Field) -> Value {
        if let Some(v) = self.computed(db, m, id, row, f) {
            return v;
        }
        match row.get(&f.name) {
            Some(v) => v.clone(),
            None => default_empty(m, f),
        }
    }

    fn computed(&self, db: &Db, m: &ModelDef, id: i64, row: &Row, f: &Field) -> Option<Value> {
        let name = f.name.as_str();
        if name == "id" {
            return Some(json!(id));
        }
        if name == "display_name" {
            return Some(json!(self.display_name_row(db, &m.name, id, row)));
        }
        if f.ftype == FType::One2many
            && let (Some(inv), Some(rel)) = (f.inverse.as_deref(), f.relation.as_deref())
        {
            return Some(Value::Array(
                self.inverse_ids(db, rel, inv, id)
                    .into_iter()
                    .map(|i| json!(i))
                    .collect(),
            ));
        }
        match (m.kind, name) {
            (ModelKind::Partner, "complete_name") => {
                Some(json!(self.display_name_row(db, &m.name, id, row)))
            }
            (ModelKind::Partner, "commercial_partner_id") => {
                Some(json!(self.commercial_partner(db, id, row)))
            }
            (ModelKind::Partner, "self") => Some(json!(id)),
            (ModelKind::Partner, "company_type") => Some(json!(if is_falsy(
                row.get("is_company").unwrap_or(&Value::Null)
            ) {
                "person"
            } else {
                "company"
            })),
            (ModelKind::Partner, "country_code") => Some(
                row.get("country_id")
                    .and_then(as_id)
                    .and_then(|c| db.row("res.country", c))
                    .and_then(|c| c.get("code").cloned())
                    .unwrap_or(Value::Bool(false)),
            ),
            (ModelKind::Partner, "email_formatted") => Some(email_formatted(row)),
            (ModelKind::Partner, "email_normalized") => Some(
                row.get("email")
                    .and_then(Value::as_str)
                    .and_then(mail::email_normalize)
                    .map_or(Value::Bool(false), Value::String),
            ),
            (ModelKind::Partner, "parent_name") => Some(
                row.get("parent_id")
                    .and_then(as_id)
                    .and_then(|p| db.row("res.partner", p))
                    .and_then(|p| p.get("name").cloned())
                    .unwrap_or(Value::Bool(false)),
            ),
            (ModelKind::Partner, "sale_order_count") => Some(json!(
                self.inverse_ids(db, "sale.order", "partner_id", id).len()
            )),
            (ModelKind::SaleOrder, "type_name") => {
                let state = row.get("state").and_then(Value::as_str).unwrap_or("draft");
                Some(json!(
                    if state == "draft" || state == "sent" || state == "cancel" {
                        "Quotation"
                    } else {
                        "Sales Order"
                    }
                ))
            }
            (ModelKind::SaleOrderLine, "state" | "currency_id" | "company_id") => {
                let order = row
                    .get("order_id")
                    .and_then(as_id)
                    .and_then(|o| db.row("sale.order", o))?;
                Some(order.get(name).cloned().unwrap_or(Value::Bool(false)))
            }
            (ModelKind::SaleOrderLine, "order_partner_id" | "salesman_id") => {
                let order = row
                    .get("order_id")
                    .and_then(as_id)
                    .and_then(|o| db.row("sale.order", o))?;
                let src = if name == "salesman_id" {
                    "user_id"
                } else {
                    "partner_id"
                };
                Some(order.get(src).cloned().unwrap_or(Value::Bool(false)))
            }
            _ => None,
        }
    }

    fn commercial_partner(&self, db: &Db, id: i64, row: &Row) -> i64 {
        let mut current = id;
        let mut current_row = row;
        for _ in 0..32 {
            if !is_falsy(current_row.get("is_company").unwrap_or(&Value::Null)) {
                return current;
            }
            match current_row
                .get("parent_id")
                .and_then(as_id)
                .and_then(|p| db.row("res.partner", p).map(|r| (p, r)))
            {
                Some((p, r)) => {
                    current = p;
                    current_row = r;
                }
                None => return current,
            }
        }
        current
    }

    /// Records of `model` whose many2one `field` points at `id`, in the model's order,
    /// archived ones left out.
    fn inverse_ids(&self, db: &Db, model: &str, field: &str, id: i64) -> Vec<i64> {
        let Some(table) = db.table(model) else {
            return Vec::new();
        };
        let Some(cm) = self.reg.model(model) else {
            return Vec::new();
        };
        let check_active = cm.has_field("active");
        let mut ids: Vec<i64> = table
            .rows
            .iter()
            .filter(|(_, r)| r.get(field).and_then(as_id) == Some(id))
            .filter(|(_, r)| !check_active || r.get("active") != Some(&Value::Bool(false)))
            .map(|(i, _)| *i)
            .collect();
        let order = parse_order_unchecked(&cm.order);
        self.sort(db, cm, &mut ids, &order);
        ids
    }

    /// Ids a relational field points at (one for a many2one, several for x2many).
    fn related_ids(&self, db: &Db, m: &ModelDef, id: i64, row: &Row, f: &Field) -> Vec<i64> {
        let v = self.raw(db, m, id, row, f);
        match v {
            Value::Array(items) => items.iter().filter_map(as_id).collect(),
            other => as_id(&other).into_iter().collect(),
        }
    }

    pub fn display_name(&self, db: &Db, model: &str, id: i64) -> String {
        match db.row(model, id) {
            Some(row) => self.display_name_row(db, model, id, row),
            None => String::new(),
        }
    }

    fn display_name_row(&self, db: &Db, model: &str, id: i64, row: &Row) -> String {
        let s = |r: &Row, k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        match model {
            "res.partner" => {
                let name = s(row, "name");
                if !is_falsy(row.get("is_company").unwrap_or(&Value::Null)) {
                    return name;
                }
                let parent = row
                    .get("parent_id")
                    .and_then(as_id)
                    .and_then(|p| db.row("res.partner", p).map(|r| (p, r)));
                let prefix = match parent {
                    Some((p, prow)) => {
                        let cp = self.commercial_partner(db, p, prow);
                        db.row("res.partner", cp)
                            .map(|r| {
                                if !is_falsy(r.get("is_company").unwrap_or(&Value::Null)) {
                                    s(r, "name")
                                } else {
                                    s(r, "company_name")
                                }
                            })
                            .filter(|n| !n.is_empty())
                            .unwrap_or_else(|| s(prow, "name"))
                    }
                    None => s(row, "company_name"),
                };
                if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}, {name}")
                }
            }
            "product.product" => {
                let code = s(row, "default_code");
                if code.is_empty() {
                    s(row, "name")
                } else {
                    format!("[{code}] {}", s(row, "name"))
                }
            }
            "res.country.state" => {
                let code = row
                    .get("country_id")
                    .and_then(as_id)
                    .and_then(|c| db.row("res.country", c))
                    .map(|c| s(c, "code"))
                    .unwrap_or_default();
                format!("{} ({code})", s(row, "name"))
            }
            "sale.order.line" => {
                let order = row
                    .get("order_id")
                    .and_then(as_id)
                    .map(|o| self.display_name(db, "sale.order", o))
                    .unwrap_or_default();
                let product = row
                    .get("product_id")
                    .and_then(as_id)
                    .and_then(|p| db.row("product.product", p))
                    .map(|p| s(p, "name"))
                    .unwrap_or_else(|| s(row, "name"));
                format!("{order} - {product}")
            }
            _ => {
                let rec_name = self
                    .reg
                    .model(model)
                    .map(|m| m.rec_name.as_str())
                    .unwrap_or("name");
                match row.get(rec_name) {
                    Some(Value::String(n)) => n.clone(),
                    _ => format!("{model},{id}"),
                }
            }
        }
    }

    /// A value as `read` returns it.
    pub fn render(
        &self,
        db: &Db,
        m: &ModelDef,
        id: i64,
        row: &Row,
        f: &Field,
        classic: bool,
    ) -> Value {
        let v = self.raw(db, m, id, row, f);
        if f.ftype == FType::Many2one {
            return match (as_id(&v), f.relation.as_deref()) {
                (Some(target), Some(rel)) if db.exists(rel, target) => {
                    if classic {
                        json!([target, self.display_name(db, rel, target)])
                    } else {
                        json!(target)
                    }
                }
                _ => Value::Bool(false),
            };
        }
        v
    }

    // -----------------------------------------------------------------------------------------
    // Ordering

    pub fn parse_order(&self, m: &ModelDef, order: Option<&str>) -> OResult<Vec<OrderTerm>> {
        let spec = match order {
            Some(s) if !s.trim().is_empty() => s,
            _ => m.order.as_str(),
        };
        let terms = parse_order_unchecked(spec);
        for t in &terms {
            if !m.has_field(&t.field) {
                return Err(Self::invalid_field(m, &t.field));
            }
        }
        if order.is_some_and(|o| !o.trim().is_empty()) && terms.is_empty() {
            return Err(OdooError::value(format!(
                "Invalid \"order\" specified ({}).",
                order.unwrap_or("")
            )));
        }
        Ok(terms)
    }

    fn sort_key(&self, db: &Db, m: &ModelDef, id: i64, row: &Row, f: &Field) -> SortKey {
        let v = self.raw(db, m, id, row, f);
        match (f.ftype, &v) {
            (FType::Many2one, _) => match (as_id(&v), f.relation.as_deref()) {
                (Some(t), Some(rel)) => SortKey::Str(self.display_name(db, rel, t).to_lowercase()),
                _ => SortKey::Null,
            },
            (FType::Boolean, _) => SortKey::Bool(!is_falsy(&v)),
            (_, Value::Number(n)) => SortKey::Num(n.as_f64().unwrap_or(0.0)),
            (_, Value::String(s)) => SortKey::Str(s.to_lowercase()),
            _ => SortKey::Null,
        }
    }

    pub fn sort(&self, db: &Db, m: &ModelDef, ids: &mut [i64], order: &[OrderTerm]) {
        let Some(table) = db.table(&m.name) else {
            return;
        };
        let empty = Row::new();
        let keyed: Vec<(i64, Vec<SortKey>)> = ids
            .iter()
            .map(|id| {
                let row = table.rows.get(id).unwrap_or(&empty);
                let keys = order
                    .iter()
                    .map(|t| match m.field(&t.field) {
                        Some(f) => self.sort_key(db, m, *id, row, f),
                        None => SortKey::Null,
                    })
                    .collect();
                (*id, keys)
            })
            .collect();
        let mut keyed = keyed;
        keyed.sort_by(|(_, a), (_, b)| compare_terms(a, b, order));
        for (slot, (id, _)) in ids.iter_mut().zip(keyed) {
            *slot = id;
        }
    }

    // -----------------------------------------------------------------------------------------
    // Search and read

    /// `search`: ids of the records matching, after access rights, `active_test` and rules.
    pub fn search(
        &self,
        db: &Db,
        m: &ModelDef,
        dom: &Dom,
        offset: usize,
        limit: Option<usize>,
        order: Option<&str>,
    ) -> OResult<Vec<i64>> {
        self.check_acl(m, Op::Read)?;
        let order = self.parse_order(m, order)?;
        let mut ids = self.filter(db, m, dom)?;
        self.sort(db, m, &mut ids, &order);
        let ids: Vec<i64> = ids
            .into_iter()
            .skip(offset)
            .take(limit.unwrap_or(usize::MAX))
            .collect();
        Ok(ids)
    }

    /// Ids matching the domain plus the implicit conditions, unordered.
    pub fn filter(&self, db: &Db, m: &ModelDef, dom: &Dom) -> OResult<Vec<i64>> {
        self.filter_in(db, m, dom, self.user_mode())
    }

    /// [`Cx::filter`] in a given mode: `active_test` adds `active = True` unless the domain
    /// names `active`; as the user, the record rules are added.
    pub fn filter_in(&self, db: &Db, m: &ModelDef, dom: &Dom, mode: Mode) -> OResult<Vec<i64>> {
        let mut parts = vec![self.resolve(db, m, dom, mode)?];
        if mode.active_test && m.has_field("active") && !dom.mentions("active") {
            parts.push(Dom::leaf("active", "=", Value::Bool(true)));
        }
        if !mode.sudo
            && let Some(rule) = self.rule_domain(m)
        {
            parts.push(self.resolve(db, m, &rule, mode.sudo())?);
        }
        let full = Dom::and(parts);
        let Some(table) = db.table(&m.name) else {
            return Ok(Vec::new());
        };
        Ok(table
            .rows
            .iter()
            .filter(|(id, row)| self.eval(db, m, **id, row, &full))
            .map(|(id, _)| *id)
            .collect())
    }

    /// The fields a `read` returns: the ones asked for, or all the user may see.
    pub fn read_fields(&self, m: &'a ModelDef, spec: &Value) -> OResult<Vec<&'a Field>> {
        let names: Vec<String> = match spec {
            Value::Array(items) if !items.is_empty() => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => pyfmt::repr(other),
                })
                .collect(),
            Value::String(s) if !s.is_empty() => vec![s.clone()],
            _ => {
                return Ok(m
                    .fields
                    .iter()
                    .filter(|f| f.name != "id" && self.field_visible(f))
                    .collect());
            }
        };
        let mut out: Vec<&Field> = Vec::new();
        let mut denied: Vec<&Field> = Vec::new();
        for name in &names {
            let Some(f) = m.field(name) else {
                return Err(Self::invalid_field(m, name));
            };
            if f.name == "id" || out.iter().any(|o| o.name == f.name) {
                continue;
            }
            if !self.field_visible(f) {
                denied.push(f);
            }
            out.push(f);
        }
        if !denied.is_empty() {
            let lines: Vec<String> = denied
                .iter()
                .map(|f| {
                    format!(
                        "- {} (allowed for groups '{}')",
                        f.name,
                        f.groups
                            .as_deref()
                            .map(|g| schema::group_label(g, &self.reg.version))
                            .unwrap_or_default()
                    )
                })
                .collect();
            return Err(OdooError::access(format!(
                "The requested operation can not be completed due to security restrictions.\n\nDocument type: {} ({})\nOperation: read\nUser: {}\nFields:\n{}",
                m.description,
                m.name,
                self.uid,
                lines.join("\n")
            )));
        }
        Ok(out)
    }

    /// `read`: records in the order of `ids`, missing ones left out.
    pub fn read(
        &self,
        db: &Db,
        m: &ModelDef,
        ids: &[i64],
        fields: &[&Field],
        classic: bool,
    ) -> OResult<Vec<Value>> {
        self.check_acl(m, Op::Read)?;
        let mut seen = HashSet::new();
        let existing: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| seen.insert(*id) && db.exists(&m.name, *id))
            .collect();
        self.check_rules(db, m, &existing, Op::Read)?;
        if !existing.is_empty() && self.reg.version.major >= 19 {
            // Odoo 19 fetches x2many fields with the comodel's access rights.
            for f in fields {
                if f.ftype.is_x2many()
                    && let Some(cm) = f.relation.as_deref().and_then(|r| self.reg.model(r))
                    && !self.acl_allows(cm, Op::Read)
                {
                    return Err(OdooError::access(format!(
                        "Failed to read field {}.{}\n{}",
                        m.name,
                        f.name,
                        self.acl_error(cm, Op::Read).message
                    )));
                }
            }
        }
        let mut out = Vec::with_capacity(existing.len());
        for id in existing {
            let Some(row) = db.row(&m.name, id) else {
                continue;
            };
            let mut rec = Map::with_capacity(fields.len() + 1);
            rec.insert("id".into(), json!(id));
            for f in fields {
                rec.insert(f.name.clone(), self.render(db, m, id, row, f, classic));
            }
            out.push(Value::Object(rec));
        }
        Ok(out)
    }

    /// `name_search`: `display_name <operator> name` (what `_search_display_name` makes of it:
    /// res.partner matches names, emails, references, VAT and registry numbers) within the
    /// domain, in the model's order. res.users first tries the exact login.
    pub fn name_search(
        &self,
        db: &Db,
        m: &ModelDef,
        name: &str,
        dom: &Dom,
        operator: &str,
        limit: Option<usize>,
    ) -> OResult<Vec<Value>> {
        self.check_acl(m, Op::Read)?;
        let op = if domain::OPERATORS.contains(&operator) {
            operator
        } else {
            "ilike"
        };
        let pairs = |ids: Vec<i64>| -> Vec<Value> {
            ids.into_iter()
                .map(|id| json!([id, self.display_name(db, &m.name, id)]))
                .collect()
        };
        if m.kind == ModelKind::Users && !name.is_empty() && !domain::NEGATIVE.contains(&op) {
            let login = Dom::and(vec![Dom::leaf("login", "=", json!(name)), dom.clone()]);
            let ids = self.search(db, m, &login, 0, Some(1), None)?;
            if !ids.is_empty() {
                return Ok(pairs(ids));
            }
        }
        let by_name = Dom::leaf("display_name", op, json!(name));
        let ids = self.search(db, m, &Dom::and(vec![by_name, dom.clone()]), 0, limit, None)?;
        Ok(pairs(ids))
    }

    pub fn fields_get(&self, m: &ModelDef, allfields: &Value, attributes: &Value) -> Value {
        let wanted: Option<Vec<&str>> = match allfields {
            Value::Array(a) if !a.is_empty() => Some(a.iter().filter_map(Value::as_str).collect()),
            _ => None,
        };
        let attrs: Option<Vec<&str>> = match attributes {
            Value::Array(a) if !a.is_empty() => Some(a.iter().filter_map(Value::as_str).collect()),
            Value::String(s) => Some(vec![s.as_str()]),
            _ => None,
        };
        let mut out = Map::new();
        for f in &m.fields {
            if !self.field_visible(f) {
                continue;
            }
            if let Some(w) = &wanted
                && !w.contains(&f.name.as_str())
            {
                continue;
            }
            let desc: Map<String, Value> = match &attrs {
                Some(a) => f
                    .attrs
                    .iter()
                    .filter(|(k, _)| a.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                None => f.attrs.clone(),
            };
            out.insert(f.name.clone(), Value::Object(desc));
        }
        Value::Object(out)
    }

    // -----------------------------------------------------------------------------------------
    // Access checks without a change

    /// `has_access` / `check_access` for an operation on some records (none: the model).
    pub fn access(&self, db: &Db, m: &ModelDef, ids: &[i64], op: Op) -> OResult<()> {
        self.check_acl(m, op)?;
        if op != Op::Create {
            self.check_exist(db, m, ids)?;
            self.check_rules(db, m, ids, op)?;
        }
        Ok(())
    }
}

pub(super) fn compare_terms(a: &[SortKey], b: &[SortKey], order: &[OrderTerm]) -> Ordering {
    for (i, t) in order.iter().enumerate() {
        let (x, y) = (&a[i], &b[i]);
        // PostgreSQL: NULLS LAST for ASC, NULLS FIRST for DESC, unless told otherwise.
        let nulls_first = t.nulls_first.unwrap_or(t.desc);
        let o = match (x == &SortKey::Null, y == &SortKey::Null) {
            (true, true) => Ordering::Equal,
            (true, false) => {
                if nulls_first {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (false, true) => {
                if nulls_first {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            _ => {
                let o = cmp_keys(x, y);
                if t.desc { o.reverse() } else { o }
            }
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

pub fn parse_order_unchecked(spec: &str) -> Vec<OrderTerm> {
    spec.split(',')
        .filter_map(|term| {
            let words: Vec<String> = term.split_whitespace().map(str::to_lowercase).collect();
            let field = term.split_whitespace().next()?.to_string();
            let desc = words.get(1).map(String::as_str) == Some("desc");
            let nulls_first = match (words.iter().position(|w| w == "nulls"), words.last()) {
                (Some(_), Some(w)) if w == "first" => Some(true),
                (Some(_), Some(w)) if w == "last" => Some(false),
                _ => None,
            };
            Some(OrderTerm {
                field,
                desc,
                nulls_first,
            })
        })
        .collect()
}

/// res.partner's `email_formatted`: `"Name" <email>` with the normalized address(es), the
/// email as it is when none is valid, `False` without email (`_compute_email_formatted`).
fn email_formatted(row: &Row) -> Value {
    let Some(email) = row
        .get("email")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
    else {
        return Value::Bool(false);
    };
    let name = match row.get("name") {
        Some(Value::String(n)) if !n.is_empty() => n.as_str(),
        _ => "False",
    };
    let normalized = mail::email_normalize_all(email);
    let address = if normalized.is_empty() {
        email.to_string()
    } else {
        normalized.join(",")
    };
    json!(mail::formataddr(name, &address))
}

fn default_empty(m: &ModelDef, f: &Field) -> Value {
    match (m.kind, f.name.as_str()) {
        (_, "active") => json!(true),
        (ModelKind::Partner, "type") => json!("contact"),
        _ => f.ftype.empty(),
    }
}

fn in_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    }
}

/// The strings a `like` condition looks at: the value (a relational field's, by then only
/// tested for emptiness, its ids).
fn texts(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Bool(false) | Value::Null => vec![],
        Value::Array(items) => items.iter().map(plain).collect(),
        other => vec![plain(other)],
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.as_str().cmp(y.as_str())),
        _ => None,
    }
}
