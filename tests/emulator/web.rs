//! The web client's read methods (`addons/web/models/models.py`, class `Base`):
//! `web_search_read` (16: a `search_read`; 17+: `search_fetch` then `web_read(specification)`)
//! with the `length` the pager shows, and `web_read` (17+).

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::db::{Db, as_id, is_falsy};
use super::domain::Dom;
use super::errors::{OResult, OdooError};
use super::methods::{opt_str, opt_usize, py_type};
use super::orm::Cx;
use super::schema::{FType, ModelDef};

/// `web_search_read`: one page of records and the length of the whole result, in one call.
pub fn web_search_read(cx: &Cx, db: &Db, m: &ModelDef, p: &Map<String, Value>) -> OResult<Value> {
    let null = Value::Null;
    let get = |k: &str| p.get(k).unwrap_or(&null);
    let offset = opt_usize(p.get("offset")).unwrap_or(0);
    let limit = opt_usize(p.get("limit"));
    let order = opt_str(p.get("order"));
    let v16 = cx.reg.version.major <= 16;
    // 17+: `specification.keys()` is evaluated before anything runs.
    let spec = if v16 {
        None
    } else {
        Some(specification(get("specification"), "keys")?)
    };
    let dom = cx.domain(m, get("domain"))?;
    let ids = cx.search(db, m, &dom, offset, limit, order)?;
    let records = match spec {
        // 16: `search_read(domain, fields, offset, limit, order)`, which reads nothing (and
        // checks no field) when nothing matches.
        None => {
            if ids.is_empty() {
                Vec::new()
            } else {
                let fields = cx.read_fields(m, get("fields"))?;
                cx.read(db, m, &ids, &fields, true)?
            }
        }
        // 17+: `search_fetch` checks the field names even when nothing matches.
        Some(spec) => {
            if !spec.is_empty() {
                let names: Vec<Value> = spec.keys().map(|k| json!(k)).collect();
                cx.read_fields(m, &Value::Array(names))?;
            }
            web_read(cx, db, m, &ids, spec)?
        }
    };
    if records.is_empty() {
        // Even past the end of a non-empty result: Odoo answers 0 without counting.
        return Ok(json!({"length": 0, "records": []}));
    }
    let current = records.len() + offset;
    let count_limit = opt_usize(p.get("count_limit"));
    let count_limit_reached = count_limit.is_some_and(|c| c <= current);
    let force = cx
        .context
        .get("force_search_count")
        .is_some_and(|v| !is_falsy(v));
    let length = match limit {
        Some(l) if (records.len() == l && !count_limit_reached) || force => {
            // `search_count(domain, limit=count_limit)`
            let n = cx.search(db, m, &dom, 0, None, None)?.len();
            count_limit.map_or(n, |c| n.min(c))
        }
        _ => current,
    };
    Ok(json!({"length": length, "records": records}))
}

/// The specification argument: a dict, or the AttributeError Python raises on `.keys()` /
/// `.items()` of anything else.
pub fn specification<'v>(v: &'v Value, method: &str) -> OResult<&'v Map<String, Value>> {
    match v {
        Value::Object(spec) => Ok(spec),
        other => Err(OdooError::new(
            super::errors::Kind::AttributeError,
            format!("'{}' object has no attribute '{method}'", py_type(other)),
        )),
    }
}

/// `key in field_spec`, then `field_spec[key]`, with Python's errors for what is not a dict.
fn spec_get<'v>(field_spec: &'v Value, key: &str) -> OResult<Option<&'v Value>> {
    match field_spec {
        Value::Object(o) => Ok(o.get(key)),
        Value::Array(items) => {
            if items.iter().any(|i| i.as_str() == Some(key)) {
                Err(OdooError::type_error(
                    "list indices must be integers or slices, not str",
                ))
            } else {
                Ok(None)
            }
        }
        Value::String(s) => {
            if s.contains(key) {
                Err(OdooError::type_error(
                    "string indices must be integers, not 'str'",
                ))
            } else {
                Ok(None)
            }
        }
        other => Err(OdooError::type_error(format!(
            "argument of type '{}' is not iterable",
            py_type(other)
        ))),
    }
}

/// A nested `fields` specification: a dict.
fn sub_spec(v: &Value) -> OResult<&Map<String, Value>> {
    match v {
        Value::Object(o) => Ok(o),
        other => Err(OdooError::type_error(format!(
            "'{}' object is not iterable",
            py_type(other)
        ))),
    }
}

/// Python's `values[:limit]` on a list of `len` items.
fn py_prefix(len: usize, limit: &Value) -> OResult<usize> {
    let Some(n) = limit.as_i64() else {
        return Err(OdooError::type_error(
            "slice indices must be integers or None or have an __index__ method",
        ));
    };
    Ok(if n >= 0 {
        len.min(n as usize)
    } else {
        len.saturating_sub(n.unsigned_abs() as usize)
    })
}

fn ids_in(v: &Value) -> Vec<i64> {
    v.as_array()
        .map(|items| items.iter().filter_map(as_id).collect())
        .unwrap_or_default()
}

/// Distinct ids in order of appearance (a recordset union).
fn union<I: IntoIterator<Item = i64>>(ids: I) -> Vec<i64> {
    let mut seen = HashSet::new();
    ids.into_iter().filter(|i| seen.insert(*i)).collect()
}

/// `web_read(specification)` on the records `ids`: `read(list(spec), load=None)` (only the
/// ids when the spec names nothing else), then relational fields per their sub-specification:
/// a many2one with `fields` becomes a dict (its `display_name` computed as superuser, the other
/// subfields read as the user), an x2many with `fields` a list of dicts, `order` sorts it and
/// `limit` bounds what is read.
pub fn web_read(
    cx: &Cx,
    db: &Db,
    m: &ModelDef,
    ids: &[i64],
    spec: &Map<String, Value>,
) -> OResult<Vec<Value>> {
    let only_ids = spec.is_empty() || (spec.len() == 1 && spec.contains_key("id"));
    let mut values: Vec<Map<String, Value>> = if only_ids {
        // Not even a read: the records need not exist, and no access is checked.
        ids.iter()
            .map(|id| {
                let mut row = Map::new();
                row.insert("id".into(), json!(id));
                row
            })
            .collect()
    } else {
        let names: Vec<Value> = spec.keys().map(|k| json!(k)).collect();
        let fields = cx.read_fields(m, &Value::Array(names))?;
        cx.read(db, m, ids, &fields, false)?
            .into_iter()
            .filter_map(|v| match v {
                Value::Object(o) => Some(o),
                _ => None,
            })
            .collect()
    };
    if values.is_empty() {
        return Ok(Vec::new());
    }
    for (name, field_spec) in spec {
        let Some(f) = m.field(name) else {
            continue;
        };
        let Some(cm) = f.relation.as_deref().and_then(|r| cx.reg.model(r)) else {
            continue;
        };
        match f.ftype {
            FType::Many2one => {
                let Some(sub) = spec_get(field_spec, "fields")? else {
                    continue;
                };
                let sub = sub_spec(sub)?;
                let targets = union(
                    values
                        .iter()
                        .filter_map(|v| v.get(name.as_str()).and_then(as_id)),
                );
                let mut extra = sub.clone();
                extra.remove("display_name");
                let mut data: HashMap<i64, Map<String, Value>> =
                    web_read(cx, db, cm, &targets, &extra)?
                        .into_iter()
                        .filter_map(|v| match v {
                            Value::Object(o) => Some((o.get("id").and_then(as_id)?, o)),
                            _ => None,
                        })
                        .collect();
                if sub.contains_key("display_name") {
                    // `co_records.sudo()`: no access rights, no record rules.
                    for t in &targets {
                        if let Some(row) = data.get_mut(t) {
                            row.insert(
                                "display_name".into(),
                                json!(cx.display_name(db, &cm.name, *t)),
                            );
                        }
                    }
                }
                for v in values.iter_mut() {
                    let Some(t) = v.get(name.as_str()).and_then(as_id) else {
                        continue;
                    };
                    let dict = data.get(&t).cloned().unwrap_or_else(|| {
                        let mut row = Map::new();
                        row.insert("id".into(), json!(t));
                        row
                    });
                    v.insert(name.clone(), Value::Object(dict));
                }
            }
            FType::One2many | FType::Many2many => {
                if is_falsy(field_spec) {
                    continue;
                }
                let all = union(
                    values
                        .iter()
                        .flat_map(|v| ids_in(v.get(name.as_str()).unwrap_or(&Value::Null))),
                );
                if let Some(order) = spec_get(field_spec, "order")?
                    && !is_falsy(order)
                {
                    // A search on the comodel, as the user (record rules drop what they
                    // hide); 19 keeps archived co-records, 17 and 18 do not.
                    let mut context = cx.context.clone();
                    if cx.reg.version.major >= 19 {
                        context.insert("active_test".into(), json!(false));
                    }
                    let ordered_cx = Cx {
                        reg: cx.reg,
                        uid: cx.uid,
                        groups: cx.groups,
                        context: &context,
                    };
                    let sorted = ordered_cx.search(
                        db,
                        cm,
                        &Dom::leaf("id", "in", json!(all)),
                        0,
                        None,
                        order.as_str(),
                    )?;
                    let rank: HashMap<i64, usize> =
                        sorted.iter().enumerate().map(|(i, id)| (*id, i)).collect();
                    for v in values.iter_mut() {
                        let mut list: Vec<i64> =
                            ids_in(v.get(name.as_str()).unwrap_or(&Value::Null))
                                .into_iter()
                                .filter(|id| rank.contains_key(id))
                                .collect();
                        list.sort_by_key(|id| rank.get(id).copied().unwrap_or(usize::MAX));
                        v.insert(name.clone(), json!(list));
                    }
                }
                let Some(sub) = spec_get(field_spec, "fields")? else {
                    continue;
                };
                let sub = sub_spec(sub)?;
                let to_read = match spec_get(field_spec, "limit")? {
                    Some(limit) if !limit.is_null() => {
                        let mut chosen = Vec::new();
                        for v in &values {
                            let list = ids_in(v.get(name.as_str()).unwrap_or(&Value::Null));
                            let n = py_prefix(list.len(), limit)?;
                            chosen.extend_from_slice(&list[..n]);
                        }
                        union(chosen)
                    }
                    _ => union(
                        values
                            .iter()
                            .flat_map(|v| ids_in(v.get(name.as_str()).unwrap_or(&Value::Null))),
                    ),
                };
                let data: HashMap<i64, Value> = web_read(cx, db, cm, &to_read, sub)?
                    .into_iter()
                    .filter_map(|v| Some((v.get("id").and_then(as_id)?, v)))
                    .collect();
                for v in values.iter_mut() {
                    let list: Vec<Value> = ids_in(v.get(name.as_str()).unwrap_or(&Value::Null))
                        .into_iter()
                        .map(|id| data.get(&id).cloned().unwrap_or_else(|| json!({"id": id})))
                        .collect();
                    v.insert(name.clone(), Value::Array(list));
                }
            }
            // reference / many2one_reference sub-specifications are not modelled: the value
            // stays what `read` gives.
            _ => {}
        }
    }
    Ok(values.into_iter().map(Value::Object).collect())
}
