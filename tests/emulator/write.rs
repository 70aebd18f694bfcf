//! Changes: `create`, `write`, `unlink` with their checks (access rights, record rules,
//! required fields, selection values, foreign keys, recursion) and defaults, one2many and
//! many2many commands, and the sale order state changes.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::db::{Db, Row, as_id, is_falsy, now_string};
use super::errors::{OResult, OdooError};
use super::orm::{Cx, num, round_to};
use super::pyfmt;
use super::schema::{FType, Field, ModelDef, ModelKind, Op};

/// Column values of a `create`/`write`, and the one2many commands to run afterwards.
type Converted = (Row, Vec<(String, Vec<Value>)>);

/// Applies many2many commands (or a plain list of ids) to the current ids.
fn apply_m2m_commands(mut ids: Vec<i64>, value: &Value) -> Option<Vec<i64>> {
    let Value::Array(items) = value else {
        return if is_falsy(value) {
            Some(Vec::new())
        } else {
            None
        };
    };
    if items.iter().all(|i| as_id(i).is_some()) {
        return Some(items.iter().filter_map(as_id).collect());
    }
    for cmd in items {
        let parts = cmd.as_array()?;
        let code = parts.first().and_then(as_id)?;
        let target = parts.get(1).and_then(as_id).unwrap_or(0);
        match code {
            3 | 2 => ids.retain(|i| *i != target),
            4 => {
                if !ids.contains(&target) {
                    ids.push(target);
                }
            }
            5 => ids.clear(),
            6 => {
                ids = parts
                    .get(2)
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(as_id).collect())
                    .unwrap_or_default();
            }
            _ => return None,
        }
    }
    Some(ids)
}

impl Cx<'_> {
    fn required_error(&self, m: &ModelDef, f: &Field) -> OdooError {
        if self.reg.version.major >= 19 {
            OdooError::validation(format!(
                "The operation cannot be completed: Missing required value for the field '{}' ({}).\nModel: '{}' ({})\n- create/update: a mandatory field is not set\n- delete: another model requires the record being deleted, you can archive it instead\n",
                f.string, f.name, m.description, m.name
            ))
        } else {
            OdooError::validation(format!(
                "The operation cannot be completed:\n- Create/update: a mandatory field is not set.\n- Delete: another model requires the record being deleted. If possible, archive it instead.\n\nModel: {} ({})\nField: {} ({})\n",
                m.description, m.name, f.string, f.name
            ))
        }
    }

    /// Checks and converts the values of a `create` or `write`. Returns the column values and
    /// the one2many commands to run once the record exists.
    fn convert_vals(
        &self,
        db: &Db,
        m: &ModelDef,
        vals: &Map<String, Value>,
        current: Option<&Row>,
    ) -> OResult<Converted> {
        let mut out = Row::new();
        let mut o2m = Vec::new();
        for (key, value) in vals {
            if matches!(
                key.as_str(),
                "id" | "create_uid" | "create_date" | "write_uid" | "write_date" | "display_name"
            ) {
                continue;
            }
            let Some(f) = m.field(key) else {
                return Err(Self::invalid_field(m, key));
            };
            match f.ftype {
                FType::Selection => {
                    let ok = is_falsy(value)
                        || value
                            .as_str()
                            .is_some_and(|s| f.selection.iter().any(|(v, _)| v == s));
                    if !ok {
                        return Err(OdooError::value(format!(
                            "Wrong value for {}.{}: {}",
                            m.name,
                            f.name,
                            pyfmt::repr(value)
                        )));
                    }
                    out.insert(
                        key.clone(),
                        if is_falsy(value) {
                            Value::Bool(false)
                        } else {
                            value.clone()
                        },
                    );
                }
                FType::Many2one => {
                    if is_falsy(value) {
                        out.insert(key.clone(), Value::Bool(false));
                        continue;
                    }
                    let Some(target) = as_id(value) else {
                        return Err(OdooError::value(format!(
                            "Wrong value for {}.{}: {}",
                            m.name,
                            f.name,
                            pyfmt::repr(value)
                        )));
                    };
                    let rel = f.relation.as_deref().unwrap_or("");
                    if !db.exists(rel, target) {
                        return Err(self.required_error(m, f));
                    }
                    out.insert(key.clone(), json!(target));
                }
                FType::One2many if f.inverse.is_some() => {
                    o2m.push((key.clone(), value.as_array().cloned().unwrap_or_default()));
                }
                FType::One2many | FType::Many2many => {
                    let existing: Vec<i64> = current
                        .and_then(|r| r.get(key))
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(as_id).collect())
                        .unwrap_or_default();
                    let ids = apply_m2m_commands(existing, value).ok_or_else(|| {
                        OdooError::value(format!(
                            "Wrong value for {}.{}: {}",
                            m.name,
                            f.name,
                            pyfmt::repr(value)
                        ))
                    })?;
                    out.insert(
                        key.clone(),
                        Value::Array(ids.into_iter().map(|i| json!(i)).collect()),
                    );
                }
                FType::Boolean => {
                    out.insert(key.clone(), json!(!is_falsy(value)));
                }
                _ => {
                    out.insert(
                        key.clone(),
                        if value.is_null() {
                            Value::Bool(false)
                        } else {
                            value.clone()
                        },
                    );
                }
            }
        }
        Ok((out, o2m))
    }

    fn defaults(&self, db: &Db, m: &ModelDef, row: &mut Row, next_id: i64) {
        let now = now_string();
        let mut set = |k: &str, v: Value| {
            if m.has_field(k) && !row.contains_key(k) {
                row.insert(k.to_string(), v);
            }
        };
        set("active", json!(true));
        match m.kind {
            ModelKind::Partner => {
                set("type", json!("contact"));
                set("is_company", json!(false));
                set(
                    "lang",
                    self.context.get("lang").cloned().unwrap_or(json!("en_US")),
                );
                set("customer_rank", json!(0));
                set("supplier_rank", json!(0));
                set("color", json!(0));
                set("autopost_bills", json!("ask"));
                set("trust", json!("normal"));
                set("company_id", Value::Bool(false));
            }
            ModelKind::SaleOrder => {
                set("name", json!(format!("S{next_id:05}")));
                set("state", json!("draft"));
                set("date_order", json!(now));
                set("user_id", json!(self.uid));
                set("company_id", json!(1));
                set("currency_id", json!(1));
                set("team_id", json!(1));
                set("pricelist_id", json!(1));
                set("picking_policy", json!("direct"));
                set("invoice_status", json!("no"));
                set("require_signature", json!(true));
                set("locked", json!(false));
                set("amount_untaxed", json!(0.0));
                set("amount_tax", json!(0.0));
                set("amount_total", json!(0.0));
                if let Some(p) = row.get("partner_id").cloned() {
                    if !row.contains_key("partner_invoice_id") {
                        row.insert("partner_invoice_id".into(), p.clone());
                    }
                    if !row.contains_key("partner_shipping_id") {
                        row.insert("partner_shipping_id".into(), p);
                    }
                }
            }
            ModelKind::SaleOrderLine => {
                set("sequence", json!(10));
                set("product_uom_qty", json!(1.0));
                let product = row.get("product_id").and_then(as_id);
                if let Some(p) = product.and_then(|p| db.row("product.product", p)) {
                    let price = p.get("list_price").cloned().unwrap_or(json!(0.0));
                    let name = self.display_name(db, "product.product", product.unwrap_or(0));
                    if !row.contains_key("price_unit") {
                        row.insert("price_unit".into(), price);
                    }
                    if !row.contains_key("name") {
                        row.insert("name".into(), json!(name));
                    }
                }
                self.line_amounts(row);
            }
            ModelKind::Product => {
                set("type", json!("consu"));
                set("sale_ok", json!(true));
                set("purchase_ok", json!(true));
                set("list_price", json!(1.0));
                set("standard_price", json!(0.0));
                set("categ_id", json!(1));
                set("uom_id", json!(1));
                set("currency_id", json!(1));
            }
            ModelKind::Users => {
                set("company_id", json!(1));
                set("company_ids", json!([1]));
                set("share", json!(false));
                set("tz", json!("Europe/Brussels"));
                set("lang", json!("en_US"));
            }
            _ => {}
        }
        if m.log_access {
            for (k, v) in [
                ("create_uid", json!(self.uid)),
                ("create_date", json!(now)),
                ("write_uid", json!(self.uid)),
                ("write_date", json!(now)),
            ] {
                row.insert(k.into(), v);
            }
        } else if m.has_field("create_date") && !row.contains_key("create_date") {
            row.insert("create_date".into(), json!(now));
        }
    }

    fn line_amounts(&self, row: &mut Row) {
        let qty = row.get("product_uom_qty").and_then(num).unwrap_or(1.0);
        let price = row.get("price_unit").and_then(num).unwrap_or(0.0);
        let subtotal = round_to(qty * price, 2);
        let tax = if self.reg.version.major >= 19 {
            round_to(subtotal * 0.15, 2)
        } else {
            0.0
        };
        row.insert("price_subtotal".into(), json!(subtotal));
        row.insert("price_tax".into(), json!(tax));
        row.insert("price_total".into(), json!(round_to(subtotal + tax, 2)));
    }

    fn check_required(&self, m: &ModelDef, row: &Row) -> OResult<()> {
        for f in &m.fields {
            if f.required
                && f.ftype != FType::Boolean
                && f.store
                && is_falsy(row.get(&f.name).unwrap_or(&Value::Null))
                && !matches!(row.get(&f.name), Some(Value::Number(_)))
            {
                return Err(self.required_error(m, f));
            }
        }
        if m.kind == ModelKind::Partner
            && row.get("type").and_then(Value::as_str) == Some("contact")
            && is_falsy(row.get("name").unwrap_or(&Value::Null))
        {
            return Err(OdooError::validation(
                "The operation cannot be completed: Contacts require a name",
            ));
        }
        Ok(())
    }

    /// `create`: one record per dict; nothing is stored unless all of them pass.
    pub fn create(
        &self,
        db: &mut Db,
        m: &ModelDef,
        vals_list: &[Map<String, Value>],
    ) -> OResult<Vec<i64>> {
        self.check_acl(m, Op::Create)?;
        let mut prepared = Vec::with_capacity(vals_list.len());
        let first_id = db.table_mut(&m.name).next_id.max(1);
        let rule = match self.rule_domain(m) {
            Some(rule) => Some(self.resolve(db, m, &rule, self.rule_mode())?),
            None => None,
        };
        for (next_id, vals) in (first_id..).zip(vals_list) {
            let (mut row, o2m) = self.convert_vals(db, m, vals, None)?;
            self.defaults(db, m, &mut row, next_id);
            self.check_required(m, &row)?;
            if let Some(rule) = &rule
                && !self.eval(db, m, next_id, &row, rule)
            {
                return Err(self.rule_error(db, m, Op::Create));
            }
            prepared.push((next_id, row, o2m));
        }
        let mut ids = Vec::with_capacity(prepared.len());
        for (id, row, o2m) in prepared {
            db.table_mut(&m.name).insert(id, row);
            ids.push(id);
            self.run_o2m(db, m, id, o2m)?;
            self.after_change(db, m, id);
        }
        Ok(ids)
    }

    /// Runs one2many commands (`(0, 0, vals)`, `(1, id, vals)`, `(2, id)`, ...) for a record.
    fn run_o2m(
        &self,
        db: &mut Db,
        m: &ModelDef,
        id: i64,
        o2m: Vec<(String, Vec<Value>)>,
    ) -> OResult<()> {
        for (field, commands) in o2m {
            let Some(f) = m.field(&field) else { continue };
            let (Some(rel), Some(inv)) = (f.relation.as_deref(), f.inverse.as_deref()) else {
                continue;
            };
            let Some(cm) = self.reg.model(rel) else {
                continue;
            };
            for cmd in commands {
                let parts = cmd.as_array().cloned().unwrap_or_default();
                let code = parts.first().and_then(as_id).unwrap_or(-1);
                let target = parts.get(1).and_then(as_id).unwrap_or(0);
                let vals = parts
                    .get(2)
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                match code {
                    0 => {
                        let mut v = vals;
                        v.insert(inv.to_string(), json!(id));
                        self.create_sudo(db, cm, &v)?;
                    }
                    1 => {
                        let (changes, _) = self.convert_vals(db, cm, &vals, db.row(rel, target))?;
                        if let Some(r) = db.table_mut(rel).rows.get_mut(&target) {
                            r.extend(changes);
                        }
                        if cm.kind == ModelKind::SaleOrderLine
                            && let Some(r) = db.table_mut(rel).rows.get_mut(&target)
                        {
                            self.line_amounts(r);
                        }
                    }
                    2 => {
                        db.table_mut(rel).rows.remove(&target);
                    }
                    3 => {
                        if let Some(r) = db.table_mut(rel).rows.get_mut(&target) {
                            r.insert(inv.to_string(), Value::Bool(false));
                        }
                    }
                    4 => {
                        if let Some(r) = db.table_mut(rel).rows.get_mut(&target) {
                            r.insert(inv.to_string(), json!(id));
                        }
                    }
                    5 | 6 => {
                        let keep: Vec<i64> = if code == 6 {
                            parts
                                .get(2)
                                .and_then(Value::as_array)
                                .map(|a| a.iter().filter_map(as_id).collect())
                                .unwrap_or_default()
                        } else {
                            Vec::new()
                        };
                        for (rid, r) in db.table_mut(rel).rows.iter_mut() {
                            if r.get(inv).and_then(as_id) == Some(id) && !keep.contains(rid) {
                                r.insert(inv.to_string(), Value::Bool(false));
                            } else if keep.contains(rid) {
                                r.insert(inv.to_string(), json!(id));
                            }
                        }
                    }
                    _ => {
                        return Err(OdooError::value(format!(
                            "Wrong value for {}.{}: {}",
                            m.name,
                            field,
                            pyfmt::repr(&cmd)
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    fn create_sudo(&self, db: &mut Db, m: &ModelDef, vals: &Map<String, Value>) -> OResult<i64> {
        let next_id = db.table_mut(&m.name).next_id.max(1);
        let (mut row, _) = self.convert_vals(db, m, vals, None)?;
        self.defaults(db, m, &mut row, next_id);
        self.check_required(m, &row)?;
        db.table_mut(&m.name).insert(next_id, row);
        Ok(next_id)
    }

    /// Keeps stored totals in step after a change.
    fn after_change(&self, db: &mut Db, m: &ModelDef, id: i64) {
        let order_id = match m.kind {
            ModelKind::SaleOrder => Some(id),
            ModelKind::SaleOrderLine => db
                .row(&m.name, id)
                .and_then(|r| r.get("order_id"))
                .and_then(as_id),
            _ => None,
        };
        let Some(order_id) = order_id else { return };
        let lines: Vec<(f64, f64)> = db
            .table("sale.order.line")
            .map(|t| {
                t.rows
                    .values()
                    .filter(|r| r.get("order_id").and_then(as_id) == Some(order_id))
                    .map(|r| {
                        (
                            r.get("price_subtotal").and_then(num).unwrap_or(0.0),
                            r.get("price_tax").and_then(num).unwrap_or(0.0),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        if m.kind == ModelKind::SaleOrder && lines.is_empty() {
            return;
        }
        let untaxed = round_to(lines.iter().map(|l| l.0).sum(), 2);
        let tax = round_to(lines.iter().map(|l| l.1).sum(), 2);
        if let Some(order) = db.table_mut("sale.order").rows.get_mut(&order_id) {
            order.insert("amount_untaxed".into(), json!(untaxed));
            order.insert("amount_tax".into(), json!(tax));
            order.insert("amount_total".into(), json!(round_to(untaxed + tax, 2)));
        }
    }

    pub fn write(
        &self,
        db: &mut Db,
        m: &ModelDef,
        ids: &[i64],
        vals: &Map<String, Value>,
    ) -> OResult<()> {
        self.check_acl(m, Op::Write)?;
        self.check_exist(db, m, ids)?;
        self.check_rules(db, m, ids, Op::Write)?;
        let mut changes = Vec::with_capacity(ids.len());
        for id in ids {
            let (row, o2m) = self.convert_vals(db, m, vals, db.row(&m.name, *id))?;
            changes.push((*id, row, o2m));
        }
        if let Some(pf) = m.parent_field.as_deref()
            && let Some(new_parent) = vals.get(pf).and_then(as_id)
        {
            let below = self.hierarchy(db, m, ids, true);
            if below.contains(&new_parent) {
                return Err(OdooError::validation(if m.kind == ModelKind::Partner {
                    "You cannot create recursive Partner hierarchies.".to_string()
                } else {
                    format!("You cannot create recursive {} hierarchies.", m.description)
                }));
            }
        }
        let now = now_string();
        for (id, row, o2m) in changes {
            let uid = self.uid;
            if let Some(r) = db.table_mut(&m.name).rows.get_mut(&id) {
                r.extend(row);
                if m.log_access {
                    r.insert("write_uid".into(), json!(uid));
                    r.insert("write_date".into(), json!(now));
                }
                if m.kind == ModelKind::SaleOrderLine {
                    self.line_amounts(r);
                }
            }
            self.run_o2m(db, m, id, o2m)?;
            self.after_change(db, m, id);
        }
        Ok(())
    }

    pub fn unlink(&self, db: &mut Db, m: &ModelDef, ids: &[i64]) -> OResult<()> {
        self.check_acl(m, Op::Unlink)?;
        self.check_exist(db, m, ids)?;
        self.check_rules(db, m, ids, Op::Unlink)?;
        if m.kind == ModelKind::SaleOrder {
            for id in ids {
                let state = db
                    .row(&m.name, *id)
                    .and_then(|r| r.get("state"))
                    .and_then(Value::as_str)
                    .unwrap_or("draft");
                if state != "draft" && state != "cancel" {
                    return Err(OdooError::user(
                        "You can not delete a sent quotation or a confirmed sales order. You must first cancel it.",
                    ));
                }
            }
        }
        // Foreign keys: restrict, cascade or set null, as the real schema does.
        const RESTRICT: &[(&str, &str)] = &[
            ("sale.order", "partner_id"),
            ("sale.order", "partner_invoice_id"),
            ("sale.order", "partner_shipping_id"),
            ("res.users", "partner_id"),
            ("res.company", "partner_id"),
            ("sale.order.line", "product_id"),
        ];
        const CASCADE: &[(&str, &str)] = &[
            ("sale.order.line", "order_id"),
            ("res.users.apikeys", "user_id"),
        ];
        let doomed: HashSet<i64> = ids.iter().copied().collect();
        let mut cascades: Vec<(String, Vec<i64>)> = Vec::new();
        let mut nulls: Vec<(String, String, Vec<i64>)> = Vec::new();
        for other in self.reg.models.values() {
            for f in &other.fields {
                if f.ftype != FType::Many2one || f.relation.as_deref() != Some(m.name.as_str()) {
                    continue;
                }
                let Some(table) = db.table(&other.name) else {
                    continue;
                };
                let hits: Vec<i64> = table
                    .rows
                    .iter()
                    .filter(|(rid, r)| {
                        !(other.name == m.name && doomed.contains(rid))
                            && r.get(&f.name)
                                .and_then(as_id)
                                .is_some_and(|t| doomed.contains(&t))
                    })
                    .map(|(rid, _)| *rid)
                    .collect();
                if hits.is_empty() {
                    continue;
                }
                let key = (other.name.as_str(), f.name.as_str());
                if RESTRICT.contains(&key) {
                    return Err(self.required_error(other, f));
                } else if CASCADE.contains(&key) {
                    cascades.push((other.name.clone(), hits));
                } else {
                    nulls.push((other.name.clone(), f.name.clone(), hits));
                }
            }
        }
        for id in ids {
            db.table_mut(&m.name).rows.remove(id);
        }
        for (model, hits) in cascades {
            for id in hits {
                db.table_mut(&model).rows.remove(&id);
            }
        }
        for (model, field, hits) in nulls {
            for id in hits {
                if let Some(r) = db.table_mut(&model).rows.get_mut(&id) {
                    r.insert(field.clone(), Value::Bool(false));
                }
            }
        }
        Ok(())
    }

    /// `sale.order.action_confirm` and friends: change the state of orders.
    pub fn set_order_state(
        &self,
        db: &mut Db,
        m: &ModelDef,
        ids: &[i64],
        action: &str,
    ) -> OResult<()> {
        self.check_acl(m, Op::Write)?;
        self.check_exist(db, m, ids)?;
        self.check_rules(db, m, ids, Op::Write)?;
        let state_of = |db: &Db, id: i64| -> String {
            db.row(&m.name, id)
                .and_then(|r| r.get("state"))
                .and_then(Value::as_str)
                .unwrap_or("draft")
                .to_string()
        };
        let (allowed, target): (&[&str], &str) = match action {
            "action_confirm" => (&["draft", "sent"], "sale"),
            "action_cancel" => (&["draft", "sent", "sale"], "cancel"),
            "action_quotation_sent" => (&["draft", "sent"], "sent"),
            _ => (&["cancel", "sent"], "draft"),
        };
        let blocked: Vec<String> = ids
            .iter()
            .filter(|id| !allowed.contains(&state_of(db, **id).as_str()))
            .map(|id| self.display_name(db, &m.name, *id))
            .collect();
        if !blocked.is_empty() {
            return Err(OdooError::user(match action {
                "action_confirm" => format!(
                    "The following orders are not in a state requiring confirmation: {}",
                    blocked.join(", ")
                ),
                "action_cancel" => {
                    "You cannot cancel a locked order. Please unlock it first.".to_string()
                }
                "action_quotation_sent" => {
                    "Only draft orders can be marked as sent directly.".to_string()
                }
                _ => format!(
                    "Only cancelled or sent orders can be set back to quotation: {}",
                    blocked.join(", ")
                ),
            }));
        }
        let now = now_string();
        for id in ids {
            if let Some(r) = db.table_mut(&m.name).rows.get_mut(id) {
                r.insert("state".into(), json!(target));
                if target == "sale" {
                    r.insert("date_order".into(), json!(now));
                    r.insert("invoice_status".into(), json!("to invoice"));
                }
                r.insert("write_uid".into(), json!(self.uid));
                r.insert("write_date".into(), json!(now));
            }
        }
        Ok(())
    }

    /// `default_get`: the defaults of the fields asked for.
    pub fn default_get(&self, db: &Db, m: &ModelDef, fields: &Value) -> Value {
        let mut row = Row::new();
        let next = db.table(&m.name).map(|t| t.next_id).unwrap_or(1);
        self.defaults(db, m, &mut row, next);
        let wanted: Vec<&str> = fields
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut out = Map::new();
        for name in wanted {
            if matches!(
                name,
                "create_uid" | "create_date" | "write_uid" | "write_date"
            ) {
                continue;
            }
            if let Some(v) = row.get(name) {
                out.insert(name.to_string(), v.clone());
            }
        }
        Value::Object(out)
    }
}
