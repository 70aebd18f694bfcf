//! Every difference between Odoo versions that the client absorbs, in one place.
//!
//! Callers speak one vocabulary (a grouped read, a model-level access check, the user's groups);
//! [`Dialect`] turns it into the method names and parameters of the server at hand, and turns the
//! answers back into one shape.

use super::version::OdooVersion;
use serde_json::{Map, Value, json};

/// The transport a client uses. `Auto` picks JSON-2 on Odoo 19+ and `/jsonrpc` before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolChoice {
    #[default]
    Auto,
    Json2,
    Jsonrpc,
}

/// The transport in use once the server is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Json2,
    Jsonrpc,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json2 => "json2",
            Self::Jsonrpc => "jsonrpc",
        }
    }
}

/// A model-level operation, as Odoo's access checks name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Read,
    Write,
    Create,
    Unlink,
}

impl Operation {
    pub const ALL: [Operation; 4] = [Self::Read, Self::Write, Self::Create, Self::Unlink];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Create => "create",
            Self::Unlink => "unlink",
        }
    }
}

/// What the client needs to know about the server's version.
#[derive(Debug, Clone)]
pub struct Dialect {
    pub version: OdooVersion,
}

/// A prepared Odoo method call: the method name and keyword arguments (and record ids for methods
/// that act on records).
#[derive(Debug, Clone)]
pub struct MethodCall {
    pub method: &'static str,
    pub ids: Option<Vec<i64>>,
    pub kwargs: Map<String, Value>,
}

impl Dialect {
    pub fn new(version: OdooVersion) -> Self {
        Self { version }
    }

    /// `check_access_rights(operation, raise_exception=False)` on 16-17, `has_access(operation)`
    /// on an empty recordset from 18 on (where `check_access_rights` is deprecated, then gone).
    pub fn access_check(&self, operation: Operation) -> MethodCall {
        let mut kwargs = Map::new();
        kwargs.insert("operation".into(), json!(operation.as_str()));
        if self.version.major >= 18 {
            MethodCall {
                method: "has_access",
                ids: Some(Vec::new()),
                kwargs,
            }
        } else {
            kwargs.insert("raise_exception".into(), json!(false));
            MethodCall {
                method: "check_access_rights",
                ids: None,
                kwargs,
            }
        }
    }

    /// `res.users.has_group(group_ext_id)`: a model method answering for the caller on 16, a
    /// method on a user record from 17 on.
    pub fn has_group(&self, uid: i64, xml_id: &str) -> MethodCall {
        let mut kwargs = Map::new();
        kwargs.insert("group_ext_id".into(), json!(xml_id));
        MethodCall {
            method: "has_group",
            ids: (self.version.major >= 17).then(|| vec![uid]),
            kwargs,
        }
    }

    /// The field on `res.users` holding the user's groups: `groups_id` before 19, `group_ids` after.
    pub fn user_groups_field(&self) -> &'static str {
        if self.version.major >= 19 {
            "group_ids"
        } else {
            "groups_id"
        }
    }

    /// A grouped read. `aggregates` use the 19 spelling (`"amount_total:sum"`, `"__count"`).
    /// 16-18: `read_group(domain, fields, groupby, offset, limit, orderby, lazy=False)`;
    /// 19+: `formatted_read_group(domain, groupby, aggregates, offset, limit, order)`.
    pub fn grouped_read(&self, q: &GroupedRead) -> MethodCall {
        let mut kwargs = Map::new();
        kwargs.insert("domain".into(), q.domain.clone());
        kwargs.insert("groupby".into(), json!(q.groupby));
        if let Some(limit) = q.limit {
            kwargs.insert("limit".into(), json!(limit));
        }
        if let Some(offset) = q.offset {
            kwargs.insert("offset".into(), json!(offset));
        }
        if self.version.major >= 19 {
            let mut aggregates: Vec<&str> = q.aggregates.iter().map(String::as_str).collect();
            if !aggregates.contains(&"__count") {
                aggregates.push("__count");
            }
            kwargs.insert("aggregates".into(), json!(aggregates));
            if let Some(order) = &q.order {
                kwargs.insert("order".into(), json!(order));
            }
            MethodCall {
                method: "formatted_read_group",
                ids: None,
                kwargs,
            }
        } else {
            // `__count` is not a field before 19; `lazy=False` makes Odoo answer `__count` for
            // every group whatever the number of groupby levels.
            let fields: Vec<&str> = q
                .aggregates
                .iter()
                .map(String::as_str)
                .filter(|a| *a != "__count")
                .collect();
            kwargs.insert("fields".into(), json!(fields));
            kwargs.insert("lazy".into(), json!(false));
            if let Some(order) = &q.order {
                kwargs.insert("orderby".into(), json!(order));
            }
            MethodCall {
                method: "read_group",
                ids: None,
                kwargs,
            }
        }
    }

    /// A page of records and the number of records matching in all, in one request:
    /// `web_search_read` (16: with `fields`; 17+: with a `specification`, where a many2one asks
    /// for its target's `display_name` only when `many2one` says its label is wanted). Odoo counts
    /// (`search_count`) inside the same request, only when the page came back full.
    pub fn search_page(&self, q: &super::SearchRead) -> MethodCall {
        let mut kwargs = Map::new();
        kwargs.insert("domain".into(), q.domain.clone());
        if self.version.major >= 17 {
            let mut spec = Map::new();
            for f in &q.fields {
                let labelled = q.many2one.iter().any(|(m, label)| m == f && *label);
                let sub = if labelled {
                    json!({"fields": {"display_name": {}}})
                } else {
                    json!({})
                };
                spec.insert(f.clone(), sub);
            }
            kwargs.insert("specification".into(), Value::Object(spec));
        } else {
            kwargs.insert("fields".into(), json!(q.fields));
        }
        kwargs.insert("offset".into(), json!(q.offset));
        kwargs.insert("limit".into(), json!(q.limit));
        if let Some(order) = &q.order {
            kwargs.insert("order".into(), json!(order));
        }
        MethodCall {
            method: "web_search_read",
            ids: None,
            kwargs,
        }
    }

    /// Turns a `web_search_read` answer into records shaped as `search_read` shapes them (a
    /// many2one as `[id, label]`, `[id, false]` where no label was asked for, or `false`) and the
    /// length. `None`: not the answer's shape.
    pub fn normalize_page(
        &self,
        q: &super::SearchRead,
        answer: Value,
    ) -> Option<(Vec<Map<String, Value>>, u64)> {
        let Value::Object(mut answer) = answer else {
            return None;
        };
        let length = answer.get("length")?.as_u64()?;
        let Value::Array(rows) = answer.remove("records")? else {
            return None;
        };
        let mut records = Vec::with_capacity(rows.len());
        for row in rows {
            let Value::Object(mut row) = row else {
                return None;
            };
            if self.version.major >= 17 {
                for (field, _) in &q.many2one {
                    let Some(v) = row.get_mut(field) else {
                        continue;
                    };
                    *v = match v.take() {
                        Value::Object(target) => {
                            let id = target.get("id").cloned().unwrap_or(Value::Bool(false));
                            let label = target
                                .get("display_name")
                                .cloned()
                                .unwrap_or(Value::Bool(false));
                            json!([id, label])
                        }
                        Value::Number(id) => json!([id, false]),
                        other => other,
                    };
                }
            }
            records.push(row);
        }
        Some((records, length))
    }

    /// Turns a grouped read's answer into one shape: each group holds its groupby values under the
    /// groupby names, `__count`, and each aggregate under its spec (`"amount_total:sum"`).
    pub fn normalize_groups(&self, q: &GroupedRead, answer: Value) -> Vec<Map<String, Value>> {
        let Value::Array(rows) = answer else {
            return Vec::new();
        };
        rows.into_iter()
            .filter_map(|row| match row {
                Value::Object(map) => Some(map),
                _ => None,
            })
            .map(|mut row| {
                let mut out = Map::new();
                for g in &q.groupby {
                    out.insert(g.clone(), row.remove(g).unwrap_or(Value::Bool(false)));
                }
                let count = row.remove("__count").unwrap_or_else(|| json!(0));
                out.insert("__count".into(), count);
                for spec in &q.aggregates {
                    if spec == "__count" {
                        continue;
                    }
                    // 19 answers under the spec; 16-18 under the field (or alias) name.
                    let value = row
                        .remove(spec)
                        .or_else(|| {
                            let field = spec.split(':').next().unwrap_or(spec);
                            row.remove(field)
                        })
                        .unwrap_or(Value::Null);
                    out.insert(spec.clone(), value);
                }
                out
            })
            .collect()
    }
}

/// A grouped read in the client's one vocabulary.
#[derive(Debug, Clone)]
pub struct GroupedRead {
    pub domain: Value,
    pub groupby: Vec<String>,
    pub aggregates: Vec<String>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
    pub order: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialect(v: &str) -> Dialect {
        Dialect::new(OdooVersion::parse(v).unwrap())
    }

    #[test]
    fn access_check_by_version() {
        assert_eq!(
            dialect("16.0").access_check(Operation::Create).method,
            "check_access_rights"
        );
        assert_eq!(
            dialect("17.0").access_check(Operation::Read).method,
            "check_access_rights"
        );
        let c = dialect("18.0").access_check(Operation::Read);
        assert_eq!((c.method, c.ids), ("has_access", Some(vec![])));
        assert_eq!(
            dialect("saas~19.2").access_check(Operation::Unlink).method,
            "has_access"
        );
    }

    #[test]
    fn grouped_read_by_version() {
        let q = GroupedRead {
            domain: json!([]),
            groupby: vec!["state".into()],
            aggregates: vec!["amount_total:sum".into(), "__count".into()],
            limit: Some(10),
            offset: None,
            order: Some("state".into()),
        };
        let c18 = dialect("18.0").grouped_read(&q);
        assert_eq!(c18.method, "read_group");
        assert_eq!(c18.kwargs["fields"], json!(["amount_total:sum"]));
        assert_eq!(c18.kwargs["lazy"], json!(false));
        assert_eq!(c18.kwargs["orderby"], json!("state"));
        let c19 = dialect("19.0").grouped_read(&q);
        assert_eq!(c19.method, "formatted_read_group");
        assert_eq!(
            c19.kwargs["aggregates"],
            json!(["amount_total:sum", "__count"])
        );
        assert_eq!(c19.kwargs["order"], json!("state"));

        // Both answers normalise to the same shape.
        let a18 = json!([{"state": "draft", "__count": 4, "amount_total": 5470.0, "__domain": []}]);
        let a19 = json!([{"state": "draft", "__extra_domain": [], "amount_total:sum": 5470.0, "__count": 4}]);
        let n18 = dialect("18.0").normalize_groups(&q, a18);
        let n19 = dialect("19.0").normalize_groups(&q, a19);
        assert_eq!(n18, n19);
        assert_eq!(
            Value::Object(n18[0].clone()),
            json!({"state": "draft", "__count": 4, "amount_total:sum": 5470.0})
        );
    }
}
