//! The records: one table of rows per model, plus who may log in.
//!
//! A row holds stored values as Odoo keeps them in its columns: a many2one is the id (or
//! `false`), a many2many is the list of ids. Computed values (display names, one2many lists)
//! are worked out when read.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

pub type Row = Map<String, Value>;

#[derive(Debug, Clone, Default)]
pub struct Table {
    pub rows: BTreeMap<i64, Row>,
    pub next_id: i64,
}

impl Table {
    pub fn insert(&mut self, id: i64, row: Row) {
        self.rows.insert(id, row);
        if id >= self.next_id {
            self.next_id = id + 1;
        }
    }
}

#[derive(Debug, Default)]
pub struct Db {
    pub tables: HashMap<String, Table>,
}

impl Db {
    pub fn table(&self, model: &str) -> Option<&Table> {
        self.tables.get(model)
    }
    pub fn table_mut(&mut self, model: &str) -> &mut Table {
        self.tables
            .entry(model.to_string())
            .or_insert_with(|| Table {
                rows: BTreeMap::new(),
                next_id: 1,
            })
    }
    pub fn row(&self, model: &str, id: i64) -> Option<&Row> {
        self.tables.get(model).and_then(|t| t.rows.get(&id))
    }
    pub fn exists(&self, model: &str, id: i64) -> bool {
        self.row(model, id).is_some()
    }
}

/// A user who can authenticate: the credentials are the fixture placeholders.
#[derive(Debug, Clone)]
pub struct UserAuth {
    pub uid: i64,
    pub login: String,
    pub groups: Vec<&'static str>,
}

impl UserAuth {
    pub fn has(&self, group: &str) -> bool {
        self.groups.contains(&group)
    }
    pub fn password(&self) -> String {
        format!("<password:{}>", self.login)
    }
    pub fn api_key(&self) -> String {
        format!("<apikey:{}>", self.login)
    }
}

pub fn as_id(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        _ => None,
    }
}

pub fn is_falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

pub fn now_string() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}
