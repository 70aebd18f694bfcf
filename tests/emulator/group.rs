//! Grouping: `read_group` and `formatted_read_group` share the buckets, aggregates and date
//! granularities built here; `methods` shapes the answer per API.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Value, json};

use super::db::{Db, Row, as_id, is_falsy};
use super::domain::Dom;
use super::errors::{OResult, OdooError};
use super::orm::{Cx, OrderTerm, SortKey, compare_terms, num, round_to};
use super::pyfmt;
use super::schema::{FType, Field, ModelDef, Op};

impl<'a> Cx<'a> {
    /// The groups of `read_group` / `formatted_read_group` before formatting.
    pub fn group(
        &self,
        db: &Db,
        m: &'a ModelDef,
        dom: &Dom,
        groupby: &[String],
        aggregates: &[Aggregate<'a>],
    ) -> OResult<Vec<Group<'a>>> {
        self.check_acl(m, Op::Read)?;
        let specs: Vec<GroupSpec> = groupby
            .iter()
            .map(|g| self.group_spec(m, g))
            .collect::<OResult<_>>()?;
        let ids = self.filter(db, m, dom)?;
        let mut buckets: BTreeMap<String, (Vec<Value>, Vec<i64>)> = BTreeMap::new();
        let empty = Row::new();
        for id in ids {
            let row = db.row(&m.name, id).unwrap_or(&empty);
            let keys: Vec<Value> = specs
                .iter()
                .map(|s| self.group_key(db, m, id, row, s))
                .collect();
            let k = Value::Array(keys.clone()).to_string();
            buckets
                .entry(k)
                .or_insert_with(|| (keys, Vec::new()))
                .1
                .push(id);
        }
        if specs.is_empty() && buckets.is_empty() {
            // Without group-by there is always exactly one group, even an empty one.
            buckets.insert(String::new(), (Vec::new(), Vec::new()));
        }
        let mut groups = Vec::with_capacity(buckets.len());
        for (_, (keys, ids)) in buckets {
            let mut values = Vec::with_capacity(aggregates.len());
            for a in aggregates {
                values.push(self.aggregate(db, m, &ids, a));
            }
            let labels: Vec<Value> = specs
                .iter()
                .zip(&keys)
                .map(|(s, k)| self.group_label(db, s, k))
                .collect();
            groups.push(Group {
                keys,
                labels,
                count: ids.len(),
                values,
                specs: specs.clone(),
            });
        }
        Ok(groups)
    }

    fn group_spec(&self, m: &'a ModelDef, spec: &str) -> OResult<GroupSpec<'a>> {
        let (name, gran) = match spec.split_once(':') {
            Some((n, g)) => (n, Some(g.to_string())),
            None => (spec, None),
        };
        let f = m.field(name).ok_or_else(|| Self::invalid_field(m, name))?;
        let gran = match (f.ftype, gran) {
            (FType::Date | FType::Datetime, None) => Some("month".to_string()),
            (FType::Date | FType::Datetime, Some(g)) => {
                if !["day", "week", "month", "quarter", "year"].contains(&g.as_str()) {
                    return Err(OdooError::value(format!(
                        "Invalid date/time granularity {}",
                        pyfmt::repr_str(&g)
                    )));
                }
                Some(g)
            }
            (_, Some(_)) => return Err(Self::invalid_field(m, spec)),
            (_, None) => None,
        };
        if f.ftype.is_x2many() && f.inverse.is_some() {
            return Err(OdooError::value(format!(
                "Field {} of type one2many cannot be grouped",
                pyfmt::repr_str(&f.name)
            )));
        }
        Ok(GroupSpec {
            spec: spec.to_string(),
            field: f,
            gran,
        })
    }

    fn group_key(&self, db: &Db, m: &ModelDef, id: i64, row: &Row, s: &GroupSpec) -> Value {
        let v = self.raw(db, m, id, row, s.field);
        match (&s.gran, &v) {
            (Some(g), Value::String(date)) => json!(bucket_start(date, g)),
            (_, v) if s.field.ftype == FType::Many2one => {
                as_id(v).map(|i| json!(i)).unwrap_or(Value::Bool(false))
            }
            (_, Value::Null) => Value::Bool(false),
            _ => v,
        }
    }

    fn group_label(&self, db: &Db, s: &GroupSpec, key: &Value) -> Value {
        match (&s.gran, key) {
            (Some(g), Value::String(start)) => json!(bucket_label(start, g)),
            _ if s.field.ftype == FType::Many2one => {
                match (as_id(key), s.field.relation.as_deref()) {
                    (Some(id), Some(rel)) => json!([id, self.display_name(db, rel, id)]),
                    _ => Value::Bool(false),
                }
            }
            _ => key.clone(),
        }
    }

    /// The condition that selects a group's records for one group-by.
    pub fn group_leaf(&self, s: &GroupSpec, key: &Value) -> Vec<Value> {
        match (&s.gran, key) {
            (Some(g), Value::String(start)) => {
                let (from, to) = bucket_range(start, g, s.field.ftype == FType::Datetime);
                vec![
                    json!("&"),
                    json!([s.field.name, ">=", from]),
                    json!([s.field.name, "<", to]),
                ]
            }
            _ => vec![json!([s.field.name, "=", key])],
        }
    }

    pub fn parse_aggregate(
        &self,
        m: &'a ModelDef,
        spec: &str,
        default_sum: bool,
    ) -> OResult<Option<Aggregate<'a>>> {
        if spec == "__count" {
            return Ok(Some(Aggregate {
                key: spec.to_string(),
                field: None,
                func: "count".into(),
            }));
        }
        // "alias:func(field)", "field:func" or just "field".
        let (key, rest) = match spec.split_once(':') {
            Some((k, r)) => (k.to_string(), Some(r.to_string())),
            None => (spec.to_string(), None),
        };
        let (fname, func) = match rest {
            Some(r) => match r.split_once('(') {
                Some((func, field)) => (field.trim_end_matches(')').to_string(), func.to_string()),
                None => (key.clone(), r),
            },
            None => (key.clone(), String::new()),
        };
        let f = m
            .field(&fname)
            .ok_or_else(|| Self::invalid_field(m, &fname))?;
        let func = if func.is_empty() {
            if !default_sum || !f.ftype.is_numeric() {
                return Ok(None);
            }
            "sum".to_string()
        } else {
            func
        };
        const FUNCS: &[&str] = &[
            "sum",
            "avg",
            "min",
            "max",
            "count",
            "count_distinct",
            "bool_and",
            "bool_or",
            "array_agg",
            "recordset",
        ];
        if !FUNCS.contains(&func.as_str()) {
            return Err(OdooError::value(format!(
                "Invalid aggregation function {}.",
                pyfmt::repr_str(&func)
            )));
        }
        Ok(Some(Aggregate {
            key: if default_sum { key } else { spec.to_string() },
            field: Some(f),
            func,
        }))
    }

    fn aggregate(&self, db: &Db, m: &ModelDef, ids: &[i64], a: &Aggregate) -> Value {
        let Some(f) = a.field else {
            return json!(ids.len());
        };
        let empty = Row::new();
        let values: Vec<Value> = ids
            .iter()
            .map(|id| {
                let row = db.row(&m.name, *id).unwrap_or(&empty);
                self.raw(db, m, *id, row, f)
            })
            .collect();
        let nums: Vec<f64> = values.iter().filter_map(num).collect();
        let digits = if f.ftype == FType::Monetary { 2 } else { 6 };
        let float = |x: f64| -> Value {
            if f.ftype == FType::Integer {
                json!(x.round() as i64)
            } else {
                json!(round_to(x, digits))
            }
        };
        match a.func.as_str() {
            "sum" => float(nums.iter().sum()),
            "avg" if nums.is_empty() => Value::Bool(false),
            "avg" => json!(round_to(nums.iter().sum::<f64>() / nums.len() as f64, 6)),
            "min" | "max" => {
                let pick = if a.func == "min" { f64::min } else { f64::max };
                match nums.iter().copied().reduce(pick) {
                    Some(x) => float(x),
                    None => values
                        .iter()
                        .filter(|v| !is_falsy(v))
                        .map(|v| v.to_string())
                        .reduce(|x, y| if (a.func == "min") == (x < y) { x } else { y })
                        .and_then(|s| serde_json::from_str(&s).ok())
                        .unwrap_or(Value::Bool(false)),
                }
            }
            "count" => json!(values.iter().filter(|v| !is_falsy(v)).count()),
            "count_distinct" => {
                let set: HashSet<String> = values
                    .iter()
                    .filter(|v| !is_falsy(v))
                    .map(|v| v.to_string())
                    .collect();
                json!(set.len())
            }
            "bool_and" => json!(values.iter().all(|v| !is_falsy(v))),
            "bool_or" => json!(values.iter().any(|v| !is_falsy(v))),
            _ => Value::Array(values),
        }
    }

    pub fn sort_groups(
        &self,
        db: &Db,
        groups: &mut [Group],
        order: &[OrderTerm],
        aggregates: &[Aggregate],
    ) {
        let key_of = |g: &Group, t: &OrderTerm| -> SortKey {
            if t.field == "__count" {
                return SortKey::Num(g.count as f64);
            }
            if let Some(i) = g
                .specs
                .iter()
                .position(|s| s.spec == t.field || s.field.name == t.field)
            {
                let s = &g.specs[i];
                let k = &g.keys[i];
                if s.field.ftype == FType::Many2one {
                    return match (as_id(k), s.field.relation.as_deref()) {
                        (Some(id), Some(rel)) => {
                            SortKey::Str(self.display_name(db, rel, id).to_lowercase())
                        }
                        _ => SortKey::Null,
                    };
                }
                return value_key(k);
            }
            if let Some(i) = aggregates.iter().position(|a| a.key == t.field) {
                return value_key(&g.values[i]);
            }
            SortKey::Null
        };
        groups.sort_by(|a, b| {
            let ka: Vec<SortKey> = order.iter().map(|t| key_of(a, t)).collect();
            let kb: Vec<SortKey> = order.iter().map(|t| key_of(b, t)).collect();
            compare_terms(&ka, &kb, order)
        });
    }
}

#[derive(Debug, Clone)]
pub struct GroupSpec<'a> {
    pub spec: String,
    pub field: &'a Field,
    pub gran: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Aggregate<'a> {
    /// The key the value is reported under.
    pub key: String,
    pub field: Option<&'a Field>,
    pub func: String,
}

#[derive(Debug, Clone)]
pub struct Group<'a> {
    pub keys: Vec<Value>,
    pub labels: Vec<Value>,
    pub count: usize,
    pub values: Vec<Value>,
    pub specs: Vec<GroupSpec<'a>>,
}

fn value_key(v: &Value) -> SortKey {
    match v {
        Value::Number(n) => SortKey::Num(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => SortKey::Str(s.to_lowercase()),
        Value::Bool(true) => SortKey::Bool(true),
        _ => SortKey::Null,
    }
}

// Date buckets for grouping by day / week / month / quarter / year.

fn ymd(date: &str) -> Option<(i32, u32, u32)> {
    let d = date.get(..10)?;
    let mut it = d.split('-');
    let (y, m, d): (i32, u32, u32) = (
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    );
    ((1..=9999).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d)).then_some((y, m, d))
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 (proleptic Gregorian).
fn day_number(y: i32, m: u32, d: u32) -> i64 {
    let (y, m) = if m <= 2 { (y - 1, m + 12) } else { (y, m) };
    let era = y.div_euclid(400);
    let yoe = (y - era * 400) as i64;
    let doy = (153 * (m as i64 - 3) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era as i64 * 146097 + doe - 719468
}

fn from_day_number(n: i64) -> (i32, u32, u32) {
    let z = n + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

fn bucket_start(date: &str, gran: &str) -> String {
    let Some((y, m, d)) = ymd(date) else {
        return date.to_string();
    };
    let (y, m, d) = match gran {
        "day" => (y, m, d),
        "week" => {
            let n = day_number(y, m, d);
            // ISO weeks start on Monday; 1970-01-01 was a Thursday.
            let weekday = (n + 3).rem_euclid(7);
            from_day_number(n - weekday)
        }
        "quarter" => (y, (m - 1) / 3 * 3 + 1, 1),
        "year" => (y, 1, 1),
        _ => (y, m, 1),
    };
    format!("{y:04}-{m:02}-{d:02}")
}

fn bucket_label(start: &str, gran: &str) -> String {
    let Some((y, m, d)) = ymd(start) else {
        return start.to_string();
    };
    let month = MONTHS[(m as usize).saturating_sub(1).min(11)];
    match gran {
        "day" => format!("{d:02} {} {y}", &month[..3]),
        "week" => {
            let n = day_number(y, m, d);
            let jan4 = day_number(y, 1, 4);
            let week1 = jan4 - (jan4 + 3).rem_euclid(7);
            let (wy, wn) = if n < week1 {
                let pj4 = day_number(y - 1, 1, 4);
                (y - 1, (n - (pj4 - (pj4 + 3).rem_euclid(7))) / 7 + 1)
            } else {
                (y, (n - week1) / 7 + 1)
            };
            format!("W{wn} {wy}")
        }
        "quarter" => format!("Q{} {y}", (m - 1) / 3 + 1),
        "year" => format!("{y}"),
        _ => format!("{month} {y}"),
    }
}

fn bucket_range(start: &str, gran: &str, datetime: bool) -> (String, String) {
    let Some((y, m, d)) = ymd(start) else {
        return (start.to_string(), start.to_string());
    };
    let n = day_number(y, m, d);
    let end = match gran {
        "day" => from_day_number(n + 1),
        "week" => from_day_number(n + 7),
        "quarter" => {
            let nm = m + 3;
            if nm > 12 {
                (y + 1, nm - 12, 1)
            } else {
                (y, nm, 1)
            }
        }
        "year" => (y + 1, 1, 1),
        _ => from_day_number(n + days_in_month(y, m) as i64),
    };
    let fmt = |(y, m, d): (i32, u32, u32)| {
        if datetime {
            format!("{y:04}-{m:02}-{d:02} 00:00:00")
        } else {
            format!("{y:04}-{m:02}-{d:02}")
        }
    };
    (fmt((y, m, d)), fmt(end))
}
