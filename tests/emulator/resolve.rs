//! What Odoo's expression parser does to a domain before it runs it (`odoo/osv/expression.py`
//! on 18, the optimizations of `odoo/orm/domains.py` on 19):
//!
//! - a condition through a relation (`partner_id.name`) becomes `any` on the relation, and
//!   `any` / `not any` a search on the comodel whose ids replace the condition;
//! - a string compared with a relational field (`partner_id ilike "x"`, `child_ids = "x"`,
//!   `partner_id in ["a", "b"]`) is a name search on the comodel: a search on its
//!   `display_name`, which each model answers through `_search_display_name` (the OR of its
//!   `_rec_names_search` fields, res.partner's being `complete_name`, `email`, `ref`, `vat` and
//!   `company_registry`);
//! - `child_of` / `parent_of` walk the hierarchy from ids, or from the records a name finds.
//!
//! What comes out holds only conditions on the model's own fields and [`Dom::Ids`], which
//! `orm` evaluates row by row. The searches on a comodel run as the calling user, as Odoo's
//! `_search` does: read access on the comodel is checked and its record rules apply. A
//! many2one's comodel is searched with `active_test=False`; record rules themselves and the
//! hierarchy walk run as superuser.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::db::{Db, as_id, is_falsy};
use super::domain::{self, Dom, Leaf, NEGATIVE};
use super::errors::{OResult, OdooError};
use super::orm::Cx;
use super::schema::{FType, Field, ModelDef, ModelKind, Op};

/// How a search runs.
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    /// As superuser (`sudo()`): no access rights, no record rules.
    pub sudo: bool,
    /// `active_test`: archived records are left out unless the domain names `active`.
    pub active_test: bool,
}

impl Mode {
    /// The mode of the search on the comodel of `f`: Odoo searches a many2one's comodel with
    /// `active_test=False`, an x2many's with the caller's context.
    fn comodel(self, f: &Field) -> Mode {
        Mode {
            active_test: self.active_test && f.ftype != FType::Many2one,
            ..self
        }
    }

    pub(super) fn sudo(self) -> Mode {
        Mode { sudo: true, ..self }
    }
}

/// The string operand of a condition on a relational field, which makes it a name search.
struct Names {
    /// The operator of the search on the comodel's `display_name` (always positive).
    op: &'static str,
    /// The value for that search: a string, or a list of strings for `in`.
    value: Value,
    /// The values that are not strings, still compared as ids (`in` with a mixed list).
    others: Vec<Value>,
    positive: bool,
}

impl<'a> Cx<'a> {
    /// The mode of a search the user asked for.
    pub fn user_mode(&self) -> Mode {
        Mode {
            sudo: false,
            active_test: self.active_test(),
        }
    }

    /// The mode record rules are evaluated in: superuser.
    pub fn rule_mode(&self) -> Mode {
        self.user_mode().sudo()
    }

    /// Rewrites a checked domain of `m` into one [`Cx::eval`] evaluates on `m`'s rows alone.
    pub fn resolve(&self, db: &Db, m: &ModelDef, dom: &Dom, mode: Mode) -> OResult<Dom> {
        Ok(match dom {
            Dom::Const(_) | Dom::Ids(_) => dom.clone(),
            Dom::And(items) => Dom::And(self.resolve_all(db, m, items, mode)?),
            Dom::Or(items) => Dom::Or(self.resolve_all(db, m, items, mode)?),
            Dom::Not(d) => Dom::Not(Box::new(self.resolve(db, m, d, mode)?)),
            Dom::Leaf(leaf) => self.resolve_leaf(db, m, leaf, mode)?,
        })
    }

    fn resolve_all(&self, db: &Db, m: &ModelDef, items: &[Dom], mode: Mode) -> OResult<Vec<Dom>> {
        items.iter().map(|d| self.resolve(db, m, d, mode)).collect()
    }

    /// Ids of the records of `m` matching `dom`, searched in `mode`: Odoo's `_search` on a
    /// comodel, with its access check and record rules unless as superuser.
    pub fn search_set(
        &self,
        db: &Db,
        m: &ModelDef,
        dom: &Dom,
        mode: Mode,
    ) -> OResult<BTreeSet<i64>> {
        if !mode.sudo {
            self.check_acl(m, Op::Read)?;
        }
        Ok(self.filter_in(db, m, dom, mode)?.into_iter().collect())
    }

    fn resolve_leaf(&self, db: &Db, m: &ModelDef, leaf: &Leaf, mode: Mode) -> OResult<Dom> {
        let (head, rest) = match leaf.path.split_once('.') {
            Some((h, r)) => (h, Some(r)),
            None => (leaf.path.as_str(), None),
        };
        let Some(f) = m.field(head) else {
            return Ok(Dom::Leaf(leaf.clone()));
        };
        if let Some(rest) = rest {
            return self.resolve_path(db, f, rest, leaf, mode);
        }
        match leaf.op.as_str() {
            "child_of" | "parent_of" => return self.resolve_hierarchy(db, m, f, leaf, mode),
            "any" | "not any" => {
                let sub = leaf.sub.as_deref().cloned().unwrap_or(Dom::Const(true));
                return self.resolve_any(db, f, &sub, leaf.op == "any", mode);
            }
            _ => {}
        }
        if f.name == "display_name" && !f.store {
            let expansion = self.search_display_name(db, m, &leaf.op, &leaf.value, mode)?;
            return self.resolve(db, m, &expansion, mode);
        }
        if f.ftype.is_relational()
            && let Some(names) = self.names(f, leaf)?
        {
            return self.resolve_names(db, f, names, mode);
        }
        Ok(Dom::Leaf(leaf.clone()))
    }

    /// `partner_id.country_id.code = 'BE'` is `partner_id any [('country_id.code', '=',
    /// 'BE')]`, the operator kept as it is, negative ones too (`_anyfy_leaves`).
    fn resolve_path(
        &self,
        db: &Db,
        f: &Field,
        rest: &str,
        leaf: &Leaf,
        mode: Mode,
    ) -> OResult<Dom> {
        let sub = Dom::Leaf(Leaf {
            path: rest.to_string(),
            op: leaf.op.clone(),
            value: leaf.value.clone(),
            raw: leaf.raw.clone(),
            sub: leaf.sub.clone(),
        });
        self.resolve_any(db, f, &sub, true, mode)
    }

    /// `field any domain`: the field holds (a many2one: points at) one of the comodel's records
    /// matching the domain; `not any`: none (an empty many2one included).
    fn resolve_any(
        &self,
        db: &Db,
        f: &Field,
        sub: &Dom,
        positive: bool,
        mode: Mode,
    ) -> OResult<Dom> {
        let Some(comodel) = f.relation.as_deref().and_then(|r| self.reg.model(r)) else {
            return Ok(Dom::Const(false));
        };
        let ids = self.search_set(db, comodel, sub, mode.comodel(f))?;
        Ok(Dom::ids(&f.name, ids, positive))
    }

    /// Whether a condition on a relational field compares it with strings, and how Odoo then
    /// searches the comodel. A like operator with a non-string value compares its text
    /// (19's `_optimize_like_str`); with `False` it tests emptiness and stays as it is.
    fn names(&self, f: &Field, leaf: &Leaf) -> OResult<Option<Names>> {
        let op = leaf.op.as_str();
        let positive = !NEGATIVE.contains(&op);
        let value = &leaf.value;
        if op.ends_with("like") {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Bool(false) | Value::Null => return Ok(None),
                Value::Number(n) => n.to_string(),
                other => other.to_string(),
            };
            return Ok(Some(Names {
                op: like_op(domain::positive(op)),
                value: json!(text),
                others: Vec::new(),
                positive,
            }));
        }
        let set_op = match op {
            "=" | "!=" | "in" | "not in" | "=?" => true,
            "<" | ">" | "<=" | ">=" if value.is_string() => {
                if self.reg.version.major >= 19 {
                    return Err(OdooError::type_error(format!(
                        "Inequality not supported for relational field using a string in condition {}",
                        leaf.repr()
                    )));
                }
                // Odoo 18 reads an ill-formed `<` on a many2one as `in`.
                f.ftype == FType::Many2one
            }
            _ => false,
        };
        if !set_op {
            return Ok(None);
        }
        Ok(match value {
            Value::String(s) => Some(Names {
                op: "=",
                value: json!(s),
                others: Vec::new(),
                positive,
            }),
            Value::Array(items) if items.iter().any(Value::is_string) => {
                let (strings, others): (Vec<Value>, Vec<Value>) =
                    items.iter().cloned().partition(Value::is_string);
                Some(Names {
                    op: "in",
                    value: Value::Array(strings),
                    others,
                    positive,
                })
            }
            _ => None,
        })
    }

    /// A name search on the comodel replaces the condition: `field in ids` (positive), or
    /// `not in` (an empty many2one matches it, like `'|', (f, 'not in', ids), (f, '=', False)`;
    /// an x2many matches when none of its records is one of them).
    fn resolve_names(&self, db: &Db, f: &Field, names: Names, mode: Mode) -> OResult<Dom> {
        let Some(comodel) = f.relation.as_deref().and_then(|r| self.reg.model(r)) else {
            return Ok(Dom::Const(false));
        };
        let search = Dom::leaf("display_name", names.op, names.value);
        let ids = self.search_set(db, comodel, &search, mode.comodel(f))?;
        let found = Dom::ids(&f.name, ids, names.positive);
        if names.others.is_empty() {
            return Ok(found);
        }
        let op = if names.positive { "in" } else { "not in" };
        let rest = Dom::leaf(&f.name, op, Value::Array(names.others));
        Ok(if names.positive {
            Dom::Or(vec![found, rest])
        } else {
            Dom::And(vec![found, rest])
        })
    }

    /// `child_of` / `parent_of`: the records below (above) the given ones, themselves
    /// included. The value gives ids or names (a name search with `ilike`, as the user); the
    /// walk runs as superuser over archived records too. On a many2one to the model itself the
    /// many2one is the parent link and the result is a condition on `id`, as in Odoo.
    fn resolve_hierarchy(
        &self,
        db: &Db,
        m: &ModelDef,
        f: &Field,
        leaf: &Leaf,
        mode: Mode,
    ) -> OResult<Dom> {
        let comodel = if f.name == "id" {
            Some(m)
        } else {
            f.relation.as_deref().and_then(|r| self.reg.model(r))
        };
        let Some(comodel) = comodel else {
            return Ok(Dom::Const(false));
        };
        let start_mode = if f.name == "id" {
            mode
        } else {
            mode.comodel(f)
        };
        let start = self.hierarchy_start(db, comodel, &leaf.value, start_mode)?;
        if start.is_empty() {
            return Ok(Dom::Const(false));
        }
        let self_parent = comodel.name == m.name && f.ftype == FType::Many2one;
        let (parent, target) = if self_parent {
            (Some(f.name.as_str()), "id")
        } else {
            (comodel.parent_field.as_deref(), f.name.as_str())
        };
        let down = leaf.op == "child_of";
        let set = self.hierarchy_by(db, comodel, &start, down, parent);
        Ok(Dom::ids(target, set.into_iter().collect(), true))
    }

    /// The ids a hierarchy starts from: the numbers given (0 and `False` mean none), and the
    /// records each string finds by `display_name ilike`.
    fn hierarchy_start(
        &self,
        db: &Db,
        comodel: &ModelDef,
        value: &Value,
        mode: Mode,
    ) -> OResult<Vec<i64>> {
        let items = match value {
            Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        };
        let mut ids: Vec<i64> = items
            .iter()
            .filter_map(as_id)
            .filter(|id| *id != 0)
            .collect();
        let names: Vec<Dom> = items
            .iter()
            .filter_map(Value::as_str)
            .map(|name| Dom::leaf("display_name", "ilike", json!(name)))
            .collect();
        if !names.is_empty() {
            for id in self.search_set(db, comodel, &Dom::or(names), mode)? {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        Ok(ids)
    }

    /// Odoo's `_search_display_name(operator, value)`: the domain a search on `display_name`
    /// stands for. By default the OR of the conditions on the `_rec_names_search` fields (or
    /// `_rec_name`), their AND for a negative operator; `like ''` matches everything. Models
    /// that override it add their own conditions.
    pub fn search_display_name(
        &self,
        db: &Db,
        m: &ModelDef,
        op: &str,
        value: &Value,
        mode: Mode,
    ) -> OResult<Dom> {
        let negative = NEGATIVE.contains(&op);
        if op.ends_with("like") && !op.starts_with('=') && is_falsy(value) {
            return Ok(Dom::Const(!negative));
        }
        let fields: Vec<&str> = if m.rec_names_search.is_empty() {
            vec![m.rec_name.as_str()]
        } else {
            m.rec_names_search.iter().map(String::as_str).collect()
        };
        let mut alternatives: Vec<Dom> = fields
            .into_iter()
            .filter(|f| f.split('.').next().is_some_and(|head| m.has_field(head)))
            .filter(|f| *f != "display_name")
            .map(|f| Dom::leaf(f, op, value.clone()))
            .collect();
        if alternatives.is_empty() {
            // No `_rec_name`: 18 matches nothing, 19 does not restrict.
            return Ok(Dom::Const(self.reg.version.major >= 19));
        }
        match m.kind {
            ModelKind::Product => alternatives.extend(product_alternatives(op, value, negative)),
            ModelKind::Minor if m.name == "res.country.state" && !negative => {
                alternatives.extend(state_alternatives(op, value))
            }
            ModelKind::Users if matches!(op, "=" | "ilike") && !is_falsy(value) => {
                // A login finds its user and nothing else.
                let login = Dom::leaf("login", "=", value.clone());
                let users = self.search_set(db, m, &login, mode)?;
                if !users.is_empty() {
                    return Ok(Dom::ids("id", users, true));
                }
            }
            _ => {}
        }
        Ok(if negative {
            Dom::and(alternatives)
        } else {
            Dom::or(alternatives)
        })
    }
}

/// The like operators as static strings (the operator of a name search).
fn like_op(op: &str) -> &'static str {
    match op {
        "like" => "like",
        "=like" => "=like",
        "=ilike" => "=ilike",
        _ => "ilike",
    }
}

/// product.product also finds a product by barcode, and `= "[CODE] Name"` by its code.
fn product_alternatives(op: &str, value: &Value, negative: bool) -> Vec<Dom> {
    let mut out = Vec::new();
    if op == "=" || op == "in" || (op.ends_with("like") && !negative) {
        let barcodes = if op == "in" {
            value.clone()
        } else {
            json!([value])
        };
        out.push(Dom::leaf("barcode", "in", barcodes));
    }
    if op == "=" {
        let code = value
            .as_str()
            .and_then(|s| s.split_once('['))
            .and_then(|(_, rest)| rest.split_once(']'))
            .map(|(code, _)| code.to_string());
        if let Some(code) = code {
            out.push(Dom::leaf("default_code", "=", json!(code)));
        }
    }
    out
}

/// res.country.state also reads `Name (CC)`: the name, and the country by name or code.
fn state_alternatives(op: &str, value: &Value) -> Vec<Dom> {
    let one = |name: &str, op: &str| -> Option<Dom> {
        let (state, country) = name.trim_end().strip_suffix(')')?.rsplit_once('(')?;
        let (state, country) = (state.trim(), country.trim());
        if state.is_empty() || country.is_empty() {
            return None;
        }
        Some(Dom::And(vec![
            Dom::leaf("name", op, json!(state)),
            Dom::Or(vec![
                Dom::leaf("country_id.name", "ilike", json!(country)),
                Dom::leaf("country_id.code", "=", json!(country)),
            ]),
        ]))
    };
    match (op, value) {
        ("ilike" | "=", Value::String(s)) => one(s, op).into_iter().collect(),
        ("in", Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .filter_map(|s| one(s, "="))
            .collect(),
        _ => Vec::new(),
    }
}
