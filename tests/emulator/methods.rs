//! The public methods of the models: which exist on which version, how their arguments bind
//! (positional `execute_kw` vs keyword-only JSON-2), and what they do.

use serde_json::{Map, Value, json};

use super::Shared;
use super::db::{as_id, is_falsy};
use super::domain;
use super::errors::{Kind, OResult, OdooError};
use super::orm::{Cx, parse_order_unchecked};
use super::schema::{ModelDef, ModelKind, Op};
use super::web;

/// How the call arrived: `execute_kw` / `call_kw` (positional arguments) or JSON-2.
pub enum Args {
    Rpc {
        args: Vec<Value>,
        kwargs: Map<String, Value>,
    },
    Json2 {
        ids: Value,
        context: Value,
        kwargs: Map<String, Value>,
    },
}

type Params = &'static [(&'static str, Option<&'static str>)];

struct Sig {
    name: &'static str,
    qual: &'static str,
    params: Params,
    varkw: bool,
    api_model: bool,
    writes: bool,
}

const fn sig(name: &'static str, params: Params, api_model: bool, writes: bool) -> Sig {
    Sig {
        name,
        qual: "BaseModel",
        params,
        varkw: false,
        api_model,
        writes,
    }
}

const SEARCH_16: Params = &[
    ("args", None),
    ("offset", Some("0")),
    ("limit", Some("null")),
    ("order", Some("null")),
    ("count", Some("false")),
];
const SEARCH: Params = &[
    ("domain", None),
    ("offset", Some("0")),
    ("limit", Some("null")),
    ("order", Some("null")),
];
const SEARCH_COUNT_16: Params = &[("args", None), ("limit", Some("null"))];
const SEARCH_COUNT: Params = &[("domain", None), ("limit", Some("null"))];
const SEARCH_READ: Params = &[
    ("domain", Some("null")),
    ("fields", Some("null")),
    ("offset", Some("0")),
    ("limit", Some("null")),
    ("order", Some("null")),
];
/// `web_search_read` on 16: a `search_read` with the length of the whole result.
const WEB_SEARCH_READ_16: Params = &[
    ("domain", Some("null")),
    ("fields", Some("null")),
    ("offset", Some("0")),
    ("limit", Some("null")),
    ("order", Some("null")),
    ("count_limit", Some("null")),
];
/// `web_search_read` from 17: `search_fetch` then `web_read(specification)`.
const WEB_SEARCH_READ: Params = &[
    ("domain", None),
    ("specification", None),
    ("offset", Some("0")),
    ("limit", Some("null")),
    ("order", Some("null")),
    ("count_limit", Some("null")),
];
const READ: Params = &[
    ("fields", Some("null")),
    ("load", Some("\"_classic_read\"")),
];
const NAME_SEARCH_17: Params = &[
    ("name", Some("\"\"")),
    ("args", Some("null")),
    ("operator", Some("\"ilike\"")),
    ("limit", Some("100")),
];
const NAME_SEARCH: Params = &[
    ("name", Some("\"\"")),
    ("domain", Some("null")),
    ("operator", Some("\"ilike\"")),
    ("limit", Some("100")),
];
const READ_GROUP: Params = &[
    ("domain", None),
    ("fields", None),
    ("groupby", None),
    ("offset", Some("0")),
    ("limit", Some("null")),
    ("orderby", Some("false")),
    ("lazy", Some("true")),
];
const FORMATTED_READ_GROUP: Params = &[
    ("domain", Some("null")),
    ("groupby", Some("[]")),
    ("aggregates", Some("[]")),
    ("having", Some("[]")),
    ("offset", Some("0")),
    ("limit", Some("null")),
    ("order", Some("null")),
];

/// The method `name` on model `m` for this version, if it is a public method there.
fn lookup(shared: &Shared, m: &ModelDef, name: &str) -> Option<Sig> {
    let major = shared.reg.version.major;
    let s = match name {
        "search" => sig(
            "search",
            if major <= 16 { SEARCH_16 } else { SEARCH },
            true,
            false,
        ),
        "search_count" => sig(
            "search_count",
            if major <= 16 {
                SEARCH_COUNT_16
            } else {
                SEARCH_COUNT
            },
            true,
            false,
        ),
        "search_read" => Sig {
            varkw: true,
            ..sig("search_read", SEARCH_READ, true, false)
        },
        "read" => sig("read", READ, false, false),
        // addons/web/models/models.py, class Base.
        "web_search_read" => Sig {
            qual: "Base",
            ..sig(
                "web_search_read",
                if major <= 16 {
                    WEB_SEARCH_READ_16
                } else {
                    WEB_SEARCH_READ
                },
                true,
                false,
            )
        },
        "web_read" if major >= 17 => Sig {
            qual: "Base",
            ..sig("web_read", &[("specification", None)], false, false)
        },
        "create" => sig("create", &[("vals_list", None)], true, true),
        "write" => sig("write", &[("vals", None)], false, true),
        "unlink" => sig("unlink", &[], false, true),
        "copy" => sig("copy", &[("default", Some("null"))], false, true),
        "exists" => sig("exists", &[], false, false),
        "name_search" => sig(
            "name_search",
            if major <= 17 {
                NAME_SEARCH_17
            } else {
                NAME_SEARCH
            },
            true,
            false,
        ),
        "name_create" => sig("name_create", &[("name", None)], true, true),
        "name_get" if major <= 16 => sig("name_get", &[], false, false),
        "fields_get" => sig(
            "fields_get",
            &[("allfields", Some("null")), ("attributes", Some("null"))],
            true,
            false,
        ),
        "default_get" => sig(
            "default_get",
            if major >= 19 {
                &[("fields", None)]
            } else {
                &[("fields_list", None)]
            },
            true,
            false,
        ),
        "read_group" => sig("read_group", READ_GROUP, true, false),
        "formatted_read_group" if major >= 19 => {
            sig("formatted_read_group", FORMATTED_READ_GROUP, true, false)
        }
        "check_access_rights" if major <= 18 => sig(
            "check_access_rights",
            &[("operation", None), ("raise_exception", Some("true"))],
            true,
            false,
        ),
        "check_access_rule" if major <= 18 => {
            sig("check_access_rule", &[("operation", None)], false, false)
        }
        "has_access" if major >= 18 => sig("has_access", &[("operation", None)], false, false),
        "check_access" if major >= 18 => sig("check_access", &[("operation", None)], false, false),
        // 16: @api.model, for the calling user; 17+: on a user record.
        "has_group" if m.kind == ModelKind::Users => Sig {
            qual: if major >= 19 { "ResUsers" } else { "Users" },
            ..sig("has_group", &[("group_ext_id", None)], major <= 16, false)
        },
        "context_get" if m.kind == ModelKind::Users => Sig {
            qual: if major >= 19 { "ResUsers" } else { "Users" },
            ..sig("context_get", &[], true, false)
        },
        "action_confirm" | "action_cancel" | "action_draft" | "action_quotation_sent"
            if m.kind == ModelKind::SaleOrder =>
        {
            let name: &'static str = match name {
                "action_confirm" => "action_confirm",
                "action_cancel" => "action_cancel",
                "action_draft" => "action_draft",
                _ => "action_quotation_sent",
            };
            Sig {
                qual: "SaleOrder",
                ..sig(name, &[], false, true)
            }
        }
        _ => return None,
    };
    Some(s)
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn quote_list(names: &[&str]) -> String {
    let q: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    match q.len() {
        0 => String::new(),
        1 => q[0].clone(),
        2 => format!("{} and {}", q[0], q[1]),
        _ => format!("{}, and {}", q[..q.len() - 1].join(", "), q[q.len() - 1]),
    }
}

/// Binds `execute_kw` arguments the way Python calls `method(records, *args, **kwargs)`.
fn bind_rpc(
    s: &Sig,
    args: &[Value],
    kwargs: &Map<String, Value>,
) -> OResult<(Map<String, Value>, Map<String, Value>)> {
    let q = format!("{}.{}()", s.qual, s.name);
    let mut bound = Map::new();
    let mut extra = Map::new();
    for (i, a) in args.iter().enumerate() {
        if let Some((name, _)) = s.params.get(i) {
            bound.insert((*name).to_string(), a.clone());
        }
    }
    for (k, v) in kwargs {
        if s.params.iter().any(|(n, _)| n == k) {
            if bound.contains_key(k) {
                return Err(OdooError::type_error(format!(
                    "{q} got multiple values for argument '{k}'"
                )));
            }
            bound.insert(k.clone(), v.clone());
        } else if s.varkw {
            extra.insert(k.clone(), v.clone());
        } else {
            return Err(OdooError::type_error(format!(
                "{q} got an unexpected keyword argument '{k}'"
            )));
        }
    }
    if args.len() > s.params.len() {
        let required = s.params.iter().filter(|(_, d)| d.is_none()).count();
        let (min, max, given) = (1 + required, 1 + s.params.len(), 1 + args.len());
        return Err(OdooError::type_error(if min == max {
            format!(
                "{q} takes {} but {given} were given",
                plural(max, "positional argument")
            )
        } else {
            format!("{q} takes from {min} to {max} positional arguments but {given} were given")
        }));
    }
    let missing: Vec<&str> = s
        .params
        .iter()
        .filter(|(n, d)| d.is_none() && !bound.contains_key(*n))
        .map(|(n, _)| *n)
        .collect();
    if !missing.is_empty() {
        return Err(OdooError::type_error(format!(
            "{q} missing {} required positional {}: {}",
            missing.len(),
            if missing.len() == 1 {
                "argument"
            } else {
                "arguments"
            },
            quote_list(&missing)
        )));
    }
    apply_defaults(s, &mut bound);
    Ok((bound, extra))
}

/// Binds JSON-2 keyword arguments (`inspect.Signature.bind`): errors are a 422.
fn bind_json2(
    s: &Sig,
    kwargs: &Map<String, Value>,
) -> OResult<(Map<String, Value>, Map<String, Value>)> {
    let unprocessable = |msg: String| OdooError::new(Kind::UnprocessableEntity, msg);
    for (n, d) in s.params {
        if d.is_none() && !kwargs.contains_key(*n) {
            return Err(unprocessable(format!("missing a required argument: '{n}'")));
        }
    }
    let mut bound = Map::new();
    let mut extra = Map::new();
    for (k, v) in kwargs {
        if s.params.iter().any(|(n, _)| n == k) {
            bound.insert(k.clone(), v.clone());
        } else if s.varkw {
            extra.insert(k.clone(), v.clone());
        } else {
            return Err(unprocessable(format!(
                "got an unexpected keyword argument '{k}'"
            )));
        }
    }
    apply_defaults(s, &mut bound);
    Ok((bound, extra))
}

fn apply_defaults(s: &Sig, bound: &mut Map<String, Value>) {
    for (n, d) in s.params {
        if let Some(d) = d
            && !bound.contains_key(*n)
        {
            bound.insert(
                (*n).to_string(),
                serde_json::from_str(d).unwrap_or(Value::Null),
            );
        }
    }
}

fn ids_of(v: &Value) -> OResult<Vec<i64>> {
    match v {
        Value::Null | Value::Bool(false) => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                as_id(i).ok_or_else(|| {
                    OdooError::type_error(format!(
                        "'{}' object cannot be interpreted as an integer",
                        py_type(i)
                    ))
                })
            })
            .collect(),
        other => as_id(other).map(|i| vec![i]).ok_or_else(|| {
            OdooError::type_error(format!(
                "'{}' object cannot be interpreted as an integer",
                py_type(other)
            ))
        }),
    }
}

pub(super) fn py_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

pub(super) fn opt_usize(v: Option<&Value>) -> Option<usize> {
    match v {
        Some(Value::Number(n)) => n.as_u64().map(|u| u as usize).filter(|u| *u > 0),
        _ => None,
    }
}

pub(super) fn opt_str(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn str_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// Calls `model.method` as user `uid`. Unknown models and methods, private methods and
/// argument errors are reported the way the protocol and version report them.
pub fn execute(shared: &Shared, uid: i64, model: &str, method: &str, args: Args) -> OResult<Value> {
    let json2 = matches!(args, Args::Json2 { .. });
    let v19 = shared.reg.version.major >= 19;
    let Some(m) = shared.reg.model(model) else {
        return Err(if json2 {
            OdooError::new(
                Kind::NotFound,
                format!("the model '{model}' does not exist"),
            )
        } else {
            OdooError::user(format!("Object {model} doesn't exist"))
        });
    };
    if method.starts_with('_') {
        return Err(OdooError::access(if v19 {
            format!("Private methods (such as '{model}.{method}') cannot be called remotely.")
        } else {
            format!("Private methods (such as {method}) cannot be called remotely.")
        }));
    }
    let Some(s) = lookup(shared, m, method) else {
        return Err(if json2 {
            OdooError::new(
                Kind::NotFound,
                format!("The method '{model}.{method}' does not exist"),
            )
        } else if v19 {
            OdooError::new(
                Kind::AttributeError,
                format!("The method '{model}.{method}' does not exist"),
            )
        } else {
            OdooError::new(
                Kind::AttributeError,
                format!("The method '{method}' does not exist on the model '{model}'"),
            )
        });
    };

    let (ids, params, extra, context, single) = match args {
        Args::Rpc { args, mut kwargs } => {
            let context = kwargs.remove("context").unwrap_or(Value::Null);
            let (ids, rest): (Vec<i64>, &[Value]) = if s.api_model {
                (Vec::new(), &args[..])
            } else {
                let Some(first) = args.first() else {
                    return Err(OdooError::new(Kind::IndexError, "list index out of range"));
                };
                (ids_of(first)?, &args[1..])
            };
            let (params, extra) = bind_rpc(&s, rest, &kwargs)?;
            let single =
                s.name == "create" && params.get("vals_list").is_some_and(Value::is_object);
            (ids, params, extra, context, single)
        }
        Args::Json2 {
            ids,
            context,
            kwargs,
        } => {
            let ids = ids_of(&ids)?;
            if s.api_model && !ids.is_empty() {
                return Err(OdooError::new(
                    Kind::UnprocessableEntity,
                    format!("cannot call {model}.{method} with ids"),
                ));
            }
            let (params, extra) = bind_json2(&s, &kwargs)?;
            (ids, params, extra, context, false)
        }
    };

    let Some(user) = shared.users.iter().find(|u| u.uid == uid) else {
        return Err(OdooError::access_denied());
    };
    let context = match context {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let cx = Cx {
        reg: &shared.reg,
        uid,
        groups: &user.groups,
        context: &context,
    };
    if s.writes {
        let mut db = shared.db.write().unwrap_or_else(|e| e.into_inner());
        run_write(&cx, &mut db, m, &s, &ids, &params, single)
    } else {
        let db = shared.db.read().unwrap_or_else(|e| e.into_inner());
        run_read(&cx, &db, m, &s, &ids, &params, &extra, uid)
    }
}

fn operation(params: &Map<String, Value>) -> OResult<Op> {
    params
        .get("operation")
        .and_then(Value::as_str)
        .and_then(Op::parse)
        .ok_or_else(|| OdooError::value("Invalid access mode"))
}

#[allow(clippy::too_many_arguments)]
fn run_read(
    cx: &Cx,
    db: &super::db::Db,
    m: &ModelDef,
    s: &Sig,
    ids: &[i64],
    p: &Map<String, Value>,
    extra: &Map<String, Value>,
    uid: i64,
) -> OResult<Value> {
    let null = Value::Null;
    let get = |k: &str| p.get(k).unwrap_or(&null);
    match s.name {
        "search" | "search_count" => {
            let dom_v = p.get("domain").or_else(|| p.get("args")).unwrap_or(&null);
            let dom = cx.domain(m, dom_v)?;
            if s.name == "search_count" {
                let n = cx.search(db, m, &dom, 0, None, None)?.len();
                let n = opt_usize(p.get("limit")).map_or(n, |l| n.min(l));
                return Ok(json!(n));
            }
            let offset = opt_usize(p.get("offset")).unwrap_or(0);
            let ids = cx.search(
                db,
                m,
                &dom,
                offset,
                opt_usize(p.get("limit")),
                opt_str(p.get("order")),
            )?;
            if !is_falsy(get("count")) {
                return Ok(json!(ids.len()));
            }
            Ok(json!(ids))
        }
        "search_read" => {
            let dom = cx.domain(m, get("domain"))?;
            let fields = cx.read_fields(m, get("fields"))?;
            let offset = opt_usize(p.get("offset")).unwrap_or(0);
            let ids = cx.search(
                db,
                m,
                &dom,
                offset,
                opt_usize(p.get("limit")),
                opt_str(p.get("order")),
            )?;
            let classic = extra.get("load").is_none_or(|l| !is_falsy(l));
            let records = cx.read(db, m, &ids, &fields, classic)?;
            if let Some(k) = extra.keys().find(|k| *k != "load") {
                return Err(OdooError::type_error(format!(
                    "BaseModel.read() got an unexpected keyword argument '{k}'"
                )));
            }
            Ok(Value::Array(records))
        }
        "web_search_read" => web::web_search_read(cx, db, m, p),
        "web_read" => {
            let spec = web::specification(get("specification"), "items")?;
            Ok(Value::Array(web::web_read(cx, db, m, ids, spec)?))
        }
        "read" => {
            let fields = cx.read_fields(m, get("fields"))?;
            let classic = !is_falsy(get("load"));
            Ok(Value::Array(cx.read(db, m, ids, &fields, classic)?))
        }
        "exists" => {
            cx.check_acl(m, Op::Read)?;
            Ok(json!(
                ids.iter()
                    .filter(|i| db.exists(&m.name, **i))
                    .collect::<Vec<_>>()
            ))
        }
        "name_get" => {
            let fields = cx.read_fields(m, &json!(["display_name"]))?;
            let recs = cx.read(db, m, ids, &fields, true)?;
            Ok(Value::Array(
                recs.iter()
                    .map(|r| json!([r.get("id"), r.get("display_name")]))
                    .collect(),
            ))
        }
        "name_search" => {
            let dom_v = p.get("domain").or_else(|| p.get("args")).unwrap_or(&null);
            let dom = cx.domain(m, dom_v)?;
            let name = get("name").as_str().unwrap_or("");
            let operator = get("operator").as_str().unwrap_or("ilike");
            let rows = cx.name_search(db, m, name, &dom, operator, opt_usize(p.get("limit")))?;
            Ok(Value::Array(rows))
        }
        "fields_get" => Ok(cx.fields_get(m, get("allfields"), get("attributes"))),
        "default_get" => {
            let fields = p
                .get("fields_list")
                .or_else(|| p.get("fields"))
                .unwrap_or(&null);
            Ok(cx.default_get(db, m, fields))
        }
        "read_group" => read_group(cx, db, m, p),
        "formatted_read_group" => formatted_read_group(cx, db, m, p),
        "check_access_rights" => {
            let op = operation(p)?;
            if cx.acl_allows(m, op) {
                Ok(json!(true))
            } else if is_falsy(get("raise_exception")) {
                Ok(json!(false))
            } else {
                Err(cx.acl_error(m, op))
            }
        }
        "has_access" => {
            let op = operation(p)?;
            Ok(json!(cx.access(db, m, ids, op).is_ok()))
        }
        "check_access" | "check_access_rule" => {
            let op = operation(p)?;
            if s.name == "check_access" {
                cx.access(db, m, ids, op)?;
            } else {
                cx.check_rules(db, m, ids, op)?;
            }
            Ok(Value::Null)
        }
        "has_group" => {
            // The emulator answers for the calling user (the only one a profile asks about).
            let group = get("group_ext_id").as_str().unwrap_or("");
            Ok(json!(cx.has_group(group)))
        }
        "context_get" => {
            let user = db.row("res.users", uid);
            let field = |k: &str| {
                user.and_then(|r| r.get(k))
                    .cloned()
                    .unwrap_or(Value::Bool(false))
            };
            Ok(json!({"lang": field("lang"), "tz": field("tz"), "uid": uid}))
        }
        other => Err(OdooError::new(
            Kind::AttributeError,
            format!(
                "The method '{other}' does not exist on the model '{}'",
                m.name
            ),
        )),
    }
}

fn run_write(
    cx: &Cx,
    db: &mut super::db::Db,
    m: &ModelDef,
    s: &Sig,
    ids: &[i64],
    p: &Map<String, Value>,
    single: bool,
) -> OResult<Value> {
    match s.name {
        "create" => {
            let vals_list: Vec<Map<String, Value>> = match p.get("vals_list") {
                Some(Value::Object(v)) => vec![v.clone()],
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|i| {
                        i.as_object().cloned().ok_or_else(|| {
                            OdooError::value(format!(
                                "Invalid vals_list element: {}",
                                super::pyfmt::repr(i)
                            ))
                        })
                    })
                    .collect::<OResult<_>>()?,
                other => {
                    return Err(OdooError::type_error(format!(
                        "'{}' object is not iterable",
                        py_type(other.unwrap_or(&Value::Null))
                    )));
                }
            };
            let ids = cx.create(db, m, &vals_list)?;
            if single {
                Ok(json!(ids.first().copied().unwrap_or(0)))
            } else {
                Ok(json!(ids))
            }
        }
        "write" => {
            let Some(vals) = p.get("vals").and_then(Value::as_object) else {
                return Err(OdooError::value(format!(
                    "Invalid values for write: {}",
                    super::pyfmt::repr(p.get("vals").unwrap_or(&Value::Null))
                )));
            };
            cx.write(db, m, ids, vals)?;
            Ok(json!(true))
        }
        "unlink" => {
            cx.unlink(db, m, ids)?;
            Ok(json!(true))
        }
        "name_create" => {
            let name = p.get("name").cloned().unwrap_or(Value::Null);
            let mut vals = Map::new();
            vals.insert(m.rec_name.clone(), name);
            let ids = cx.create(db, m, &[vals])?;
            let id = ids.first().copied().unwrap_or(0);
            Ok(json!([id, cx.display_name(db, &m.name, id)]))
        }
        "copy" => {
            if ids.len() != 1 {
                return Err(OdooError::value(format!(
                    "Expected singleton: {}{}",
                    m.name,
                    super::pyfmt::repr_ids(ids)
                )));
            }
            cx.check_acl(m, Op::Read)?;
            let Some(row) = db.row(&m.name, ids[0]) else {
                return Err(cx.missing_error(m, ids));
            };
            cx.check_rules(db, m, ids, Op::Read)?;
            let mut vals = Map::new();
            for f in &m.fields {
                if f.ftype.is_x2many()
                    || !f.store
                    || matches!(
                        f.name.as_str(),
                        "id" | "create_uid" | "create_date" | "write_uid" | "write_date"
                    )
                {
                    continue;
                }
                if let Some(v) = row.get(&f.name) {
                    vals.insert(f.name.clone(), v.clone());
                }
            }
            match m.kind {
                ModelKind::SaleOrder => {
                    vals.remove("name");
                    vals.insert("state".into(), json!("draft"));
                }
                _ => {
                    if let Some(Value::String(n)) = vals.get(&m.rec_name).cloned() {
                        vals.insert(m.rec_name.clone(), json!(format!("{n} (copy)")));
                    }
                }
            }
            if let Some(Value::Object(overrides)) = p.get("default") {
                for (k, v) in overrides {
                    vals.insert(k.clone(), v.clone());
                }
            }
            let new = cx.create(db, m, &[vals])?;
            Ok(json!(new.first().copied().unwrap_or(0)))
        }
        "action_confirm" | "action_cancel" | "action_draft" | "action_quotation_sent" => {
            cx.set_order_state(db, m, ids, s.name)?;
            Ok(json!(true))
        }
        other => Err(OdooError::new(
            Kind::AttributeError,
            format!(
                "The method '{other}' does not exist on the model '{}'",
                m.name
            ),
        )),
    }
}

fn groupby_list(v: Option<&Value>) -> Vec<String> {
    str_list(v)
}

/// `read_group` (the 16-18 shape, still answered by 19).
fn read_group(cx: &Cx, db: &super::db::Db, m: &ModelDef, p: &Map<String, Value>) -> OResult<Value> {
    let null = Value::Null;
    let domain_v = p.get("domain").unwrap_or(&null);
    let dom = cx.domain(m, domain_v)?;
    let groupby = groupby_list(p.get("groupby"));
    let lazy = !is_falsy(p.get("lazy").unwrap_or(&Value::Bool(true)));
    let effective: Vec<String> = if lazy {
        groupby.iter().take(1).cloned().collect()
    } else {
        groupby.clone()
    };
    let base = |g: &str| g.split(':').next().unwrap_or(g).to_string();
    let mut aggregates = Vec::new();
    for spec in str_list(p.get("fields")) {
        if spec == "__count" || effective.iter().any(|g| base(g) == base(&spec)) {
            continue;
        }
        if let Some(a) = cx.parse_aggregate(m, &spec, true)? {
            aggregates.push(a);
        }
    }
    let mut groups = cx.group(db, m, &dom, &effective, &aggregates)?;
    let order = match opt_str(p.get("orderby")) {
        Some(o) => parse_order_unchecked(o),
        None => effective
            .iter()
            .map(|g| super::orm::OrderTerm {
                field: g.clone(),
                desc: false,
                nulls_first: None,
            })
            .collect(),
    };
    cx.sort_groups(db, &mut groups, &order, &aggregates);
    let offset = opt_usize(p.get("offset")).unwrap_or(0);
    let limit = opt_usize(p.get("limit")).unwrap_or(usize::MAX);
    let user_domain: Vec<Value> = domain_v.as_array().cloned().unwrap_or_default();
    let count_key = match (lazy, effective.first()) {
        (true, Some(g)) => format!("{}_count", base(g)),
        _ => "__count".to_string(),
    };
    let out: Vec<Value> = groups
        .iter()
        .skip(offset)
        .take(limit)
        .map(|g| {
            let mut obj = Map::new();
            let mut leaves: Vec<Value> = Vec::new();
            for (i, spec) in g.specs.iter().enumerate() {
                obj.insert(spec.spec.clone(), g.labels[i].clone());
                leaves.extend(cx.group_leaf(spec, &g.keys[i]));
            }
            obj.insert(count_key.clone(), json!(g.count));
            for (a, v) in aggregates.iter().zip(&g.values) {
                obj.insert(a.key.clone(), v.clone());
            }
            let group_domain =
                domain::and_all(&[domain::and_all(&split_leaves(&leaves)), user_domain.clone()]);
            obj.insert("__domain".into(), Value::Array(group_domain));
            if lazy && groupby.len() > 1 {
                obj.insert(
                    "__context".into(),
                    json!({"group_by": groupby[1..].to_vec()}),
                );
            }
            Value::Object(obj)
        })
        .collect();
    Ok(Value::Array(out))
}

/// Leaves of several group-bys as separate domains, for `expression.AND`.
fn split_leaves(leaves: &[Value]) -> Vec<Vec<Value>> {
    let mut out: Vec<Vec<Value>> = Vec::new();
    let mut pending: Vec<Value> = Vec::new();
    for l in leaves {
        pending.push(l.clone());
        if l.is_array() {
            // An '&'-prefixed range closes after its second leaf.
            let opens = pending.iter().filter(|x| x.is_string()).count();
            let closes = pending.iter().filter(|x| x.is_array()).count();
            if closes == opens + 1 {
                out.push(std::mem::take(&mut pending));
            }
        }
    }
    out
}

/// `formatted_read_group` (19+).
fn formatted_read_group(
    cx: &Cx,
    db: &super::db::Db,
    m: &ModelDef,
    p: &Map<String, Value>,
) -> OResult<Value> {
    let null = Value::Null;
    let dom = cx.domain(m, p.get("domain").unwrap_or(&null))?;
    let groupby = groupby_list(p.get("groupby"));
    let mut aggregates = Vec::new();
    for spec in str_list(p.get("aggregates")) {
        if spec != "__count" && !spec.contains(':') {
            return Err(OdooError::value(format!(
                "Invalid aggregate specification {}",
                super::pyfmt::repr_str(&spec)
            )));
        }
        if let Some(a) = cx.parse_aggregate(m, &spec, false)? {
            aggregates.push(a);
        }
    }
    let mut groups = cx.group(db, m, &dom, &groupby, &aggregates)?;
    // `having`: conditions on the aggregates.
    if let Some(Value::Array(having)) = p.get("having")
        && !having.is_empty()
    {
        groups.retain(|g| {
            having.iter().all(|cond| {
                let Some([Value::String(k), Value::String(op), target]) =
                    cond.as_array().map(|a| a.as_slice())
                else {
                    return true;
                };
                let value = if k == "__count" {
                    json!(g.count)
                } else {
                    aggregates
                        .iter()
                        .position(|a| a.key == *k)
                        .map(|i| g.values[i].clone())
                        .unwrap_or(Value::Null)
                };
                let (Some(a), Some(b)) = (value.as_f64(), target.as_f64()) else {
                    return value == *target;
                };
                match op.as_str() {
                    "=" => a == b,
                    "!=" => a != b,
                    ">" => a > b,
                    "<" => a < b,
                    ">=" => a >= b,
                    "<=" => a <= b,
                    _ => true,
                }
            })
        });
    }
    let order = match opt_str(p.get("order")) {
        Some(o) => parse_order_unchecked(o),
        None => groupby
            .iter()
            .map(|g| super::orm::OrderTerm {
                field: g.clone(),
                desc: false,
                nulls_first: None,
            })
            .collect(),
    };
    cx.sort_groups(db, &mut groups, &order, &aggregates);
    let offset = opt_usize(p.get("offset")).unwrap_or(0);
    let limit = opt_usize(p.get("limit")).unwrap_or(usize::MAX);
    let out: Vec<Value> = groups
        .iter()
        .skip(offset)
        .take(limit)
        .map(|g| {
            let mut obj = Map::new();
            let mut leaves: Vec<Vec<Value>> = Vec::new();
            for (i, spec) in g.specs.iter().enumerate() {
                obj.insert(spec.spec.clone(), g.labels[i].clone());
                leaves.push(cx.group_leaf(spec, &g.keys[i]));
            }
            obj.insert(
                "__extra_domain".into(),
                Value::Array(domain::and_all(&leaves)),
            );
            for (a, v) in aggregates.iter().zip(&g.values) {
                obj.insert(a.key.clone(), v.clone());
            }
            Value::Object(obj)
        })
        .collect();
    Ok(Value::Array(out))
}
