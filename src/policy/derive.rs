//! What a policy hides once Odoo's field definitions are known: the fields it names, and every
//! field whose value Odoo derives from one of them.
//!
//! Odoo's `fields_get` names the sources of a computed (or related) field in its `depends`
//! attribute: `res.partner.email_formatted` <- `name`, `email`; `res.country.display_name` <-
//! `name`; `res.partner.commercial_company_name` <- `commercial_partner_id.name`. A field whose
//! sources include a hidden field carries that field's value, so it is hidden too, and so is
//! every field derived from it in turn (followed through relations, into other models).
//! `display_name` always shows the record's name: hiding `name` hides it whatever `depends` says.
//!
//! Where Odoo's dependency is wider than what reaches the assistant, a policy may state an
//! exception with its reason (`[models."res.partner".derived.display_name] ignore = ["email"]`);
//! see [`super::ModelPolicy::ignored_sources`].
//!
//! Pure: the caller loads the definitions ([`missing`] says which models are still needed), then
//! [`derive`] computes the hidden fields of every loaded model, with the reason for each.

use super::Policy;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

/// `fields_get` answers by model (with the attributes `type`, `relation`, `depends`, `related`).
pub type Schemas = HashMap<String, Arc<Map<String, Value>>>;

/// Why a field is hidden.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// The policy names it in `hidden_fields`.
    Listed,
    /// It is Odoo's `display_name`, which shows the record's hidden `name`.
    Name,
    /// Odoo computes it from the hidden field `source` (`model.field`).
    Derived { source: String },
    /// It depends on a model whose fields could not be checked (`model`): hidden to be safe.
    Unchecked { model: String },
}

impl Why {
    /// A clause for error messages: `"it is computed from the hidden field res.partner.email"`.
    pub fn explain(&self) -> String {
        match self {
            Why::Listed => "the policy hides it".into(),
            Why::Name => "it shows the record's name, which the policy hides".into(),
            Why::Derived { source } => {
                format!("Odoo computes it from the hidden field {source}")
            }
            Why::Unchecked { model } => format!(
                "it depends on fields of \"{model}\" that could not be checked against the policy"
            ),
        }
    }
}

/// The hidden fields of the loaded models.
#[derive(Debug, Clone, Default)]
pub struct Hidden {
    by_model: HashMap<String, BTreeMap<String, Why>>,
}

impl Hidden {
    /// Why `field` of `model` is hidden, or `None` when it is not.
    pub fn why(&self, model: &str, field: &str) -> Option<&Why> {
        self.by_model.get(model).and_then(|m| m.get(field))
    }

    pub fn is_hidden(&self, model: &str, field: &str) -> bool {
        self.why(model, field).is_some()
    }

    /// The hidden fields of one model, sorted.
    pub fn of(&self, model: &str) -> impl Iterator<Item = (&str, &Why)> {
        self.by_model
            .get(model)
            .into_iter()
            .flat_map(|m| m.iter().map(|(f, w)| (f.as_str(), w)))
    }

    /// Whether the model hides any field at all.
    pub fn any(&self, model: &str) -> bool {
        self.by_model.get(model).is_some_and(|m| !m.is_empty())
    }
}

/// The comodel of a relational field, from its definition.
fn relation(def: &Value) -> Option<&str> {
    def.get("relation")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
}

/// What a field is computed from: `depends`, or for a related field without it, its path.
fn sources(def: &Value) -> Vec<&str> {
    let depends: Vec<&str> = def
        .get("depends")
        .and_then(Value::as_array)
        .map(|d| d.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if depends.is_empty() {
        def.get("related")
            .and_then(Value::as_str)
            .into_iter()
            .collect()
    } else {
        depends
    }
}

/// Models whose definitions [`derive`] still needs to answer for `model`: those that the
/// dependency paths of its fields lead to, and of the fields those paths reach in turn, that
/// `schemas` lacks. Load them (a model Odoo does not have loads as an empty map) and ask again
/// until none is missing. Only paths actually reached are followed, not every field of every
/// model on the way.
pub fn missing(model: &str, schemas: &Schemas) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Some(start) = schemas.get(model) else {
        out.insert(model.to_string());
        return out;
    };
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    let mut queue: VecDeque<(&str, &str)> = start.keys().map(|f| (model, f.as_str())).collect();
    while let Some((m, f)) = queue.pop_front() {
        if !seen.insert((m, f)) {
            continue;
        }
        let Some(def) = schemas.get(m).and_then(|fields| fields.get(f)) else {
            continue;
        };
        for path in sources(def) {
            let mut current = m;
            let mut hops = path.split('.').peekable();
            while let Some(hop) = hops.next() {
                let Some(fields) = schemas.get(current) else {
                    out.insert(current.to_string());
                    break;
                };
                let Some((name, hop_def)) = fields.get_key_value(hop) else {
                    break;
                };
                queue.push_back((current, name.as_str()));
                if hops.peek().is_none() {
                    break;
                }
                match relation(hop_def) {
                    Some(next) => current = next,
                    None => break,
                }
            }
        }
    }
    out
}

/// A field of a model, as a node of the dependency graph.
type Node = (String, String);

/// The hidden fields of every model in `schemas` under `policy`: the listed ones, `display_name`
/// where `name` is listed, and (transitively) every field whose sources reach one of them. A
/// source path that leads into a model missing from `schemas` hides its field (fail closed).
pub fn derive(policy: &Policy, schemas: &Schemas) -> Hidden {
    // Reverse edges: for each field, the fields computed from it.
    let mut users: HashMap<Node, Vec<Node>> = HashMap::new();
    let mut unchecked: Vec<(Node, String)> = Vec::new();
    for (model, fields) in schemas {
        let mp = policy.model(model);
        for (name, def) in fields.iter() {
            let node: Node = (model.clone(), name.clone());
            let ignored = mp.map(|m| m.ignored_sources(name));
            for path in sources(def) {
                if ignored.is_some_and(|i| i.contains(path)) {
                    continue;
                }
                let mut current = model.as_str();
                let mut hops = path.split('.').peekable();
                while let Some(hop) = hops.next() {
                    users
                        .entry((current.to_string(), hop.to_string()))
                        .or_default()
                        .push(node.clone());
                    if hops.peek().is_none() {
                        break;
                    }
                    let Some(next) = schemas
                        .get(current)
                        .and_then(|f| f.get(hop))
                        .and_then(relation)
                    else {
                        break;
                    };
                    if !schemas.contains_key(next) {
                        unchecked.push((node.clone(), next.to_string()));
                        break;
                    }
                    current = next;
                }
            }
        }
    }

    let mut hidden = Hidden::default();
    let mut queue: VecDeque<Node> = VecDeque::new();
    let mark = |hidden: &mut Hidden, queue: &mut VecDeque<Node>, node: Node, why: Why| {
        let entry = hidden.by_model.entry(node.0.clone()).or_default();
        if !entry.contains_key(&node.1) {
            entry.insert(node.1.clone(), why);
            queue.push_back(node);
        }
    };
    for (model, mp) in policy.models() {
        for field in mp.hidden_fields() {
            mark(
                &mut hidden,
                &mut queue,
                (model.to_string(), field.clone()),
                Why::Listed,
            );
        }
        if mp.is_hidden("name") {
            mark(
                &mut hidden,
                &mut queue,
                (model.to_string(), "display_name".into()),
                Why::Name,
            );
        }
    }
    for (node, model) in unchecked {
        mark(&mut hidden, &mut queue, node, Why::Unchecked { model });
    }
    while let Some(node) = queue.pop_front() {
        let source = match hidden.why(&node.0, &node.1) {
            Some(Why::Derived { source }) => source.clone(),
            _ => format!("{}.{}", node.0, node.1),
        };
        if let Some(dependents) = users.get(&node) {
            for d in dependents.clone() {
                mark(
                    &mut hidden,
                    &mut queue,
                    d,
                    Why::Derived {
                        source: source.clone(),
                    },
                );
            }
        }
    }
    hidden
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schemas(models: Value) -> Schemas {
        models
            .as_object()
            .unwrap()
            .iter()
            .map(|(m, f)| (m.clone(), Arc::new(f.as_object().unwrap().clone())))
            .collect()
    }

    fn policy(text: &str) -> Policy {
        Policy::parse(text, "test.toml").unwrap_or_else(|p| panic!("{p:#?}"))
    }

    /// The recorded `fields_get ... depends` of Odoo 18/19 (trimmed to what the tests use).
    fn recorded() -> Schemas {
        schemas(json!({
            "res.partner": {
                "name": {"type": "char", "depends": []},
                "email": {"type": "char", "depends": []},
                "vat": {"type": "char", "depends": []},
                "ref": {"type": "char", "depends": []},
                "email_formatted": {"type": "char", "depends": ["name", "email"]},
                "email_normalized": {"type": "char", "depends": ["email"]},
                "complete_name": {"type": "char", "depends": ["is_company", "name", "parent_id.name", "type", "company_name", "commercial_company_name"]},
                "commercial_company_name": {"type": "char", "depends": ["company_name", "parent_id.is_company", "commercial_partner_id.name"]},
                "display_name": {"type": "char", "depends": ["complete_name", "email", "vat", "state_id", "country_id", "commercial_company_name", "name"]},
                "country_code": {"type": "char", "depends": ["country_id.code"], "related": "country_id.code"},
                "country_id": {"type": "many2one", "relation": "res.country", "depends": []},
                "parent_id": {"type": "many2one", "relation": "res.partner", "depends": []},
                "commercial_partner_id": {"type": "many2one", "relation": "res.partner", "depends": ["is_company", "parent_id.commercial_partner_id"]},
                "phone": {"type": "char", "depends": []}
            },
            "res.country": {
                "name": {"type": "char", "depends": []},
                "code": {"type": "char", "depends": []},
                "display_name": {"type": "char", "depends": ["name"]}
            }
        }))
    }

    fn hidden_of(h: &Hidden, model: &str) -> Vec<String> {
        h.of(model).map(|(f, _)| f.to_string()).collect()
    }

    #[test]
    fn computed_copies_of_a_hidden_field_are_hidden() {
        let p = policy(
            r#"
[models."res.partner"]
read = true
hidden_fields = ["email"]
"#,
        );
        let h = derive(&p, &recorded());
        assert_eq!(
            hidden_of(&h, "res.partner"),
            [
                "display_name",
                "email",
                "email_formatted",
                "email_normalized"
            ]
        );
        assert_eq!(
            h.why("res.partner", "email_normalized"),
            Some(&Why::Derived {
                source: "res.partner.email".into()
            })
        );
        assert_eq!(h.why("res.partner", "email"), Some(&Why::Listed));
        assert!(!h.is_hidden("res.partner", "name"));
        assert!(!h.is_hidden("res.partner", "phone"));
    }

    #[test]
    fn derivation_is_transitive_and_follows_relations() {
        // Hiding a country's code hides the partner's related country_code; hiding the
        // partner's name hides complete_name, commercial_company_name (through
        // commercial_partner_id.name) and display_name, and so everything computed from them.
        let p = policy(
            r#"
[models."res.partner"]
read = true
hidden_fields = ["name"]

[models."res.country"]
read = true
hidden_fields = ["code"]
"#,
        );
        let h = derive(&p, &recorded());
        assert_eq!(
            hidden_of(&h, "res.partner"),
            [
                "commercial_company_name",
                "complete_name",
                "country_code",
                "display_name",
                "email_formatted",
                "name"
            ]
        );
        assert_eq!(hidden_of(&h, "res.country"), ["code"]);
        assert_eq!(
            h.why("res.partner", "country_code"),
            Some(&Why::Derived {
                source: "res.country.code".into()
            })
        );
    }

    #[test]
    fn hiding_name_hides_display_name_whatever_depends_says() {
        let p = policy(
            r#"
[models."res.country"]
read = true
hidden_fields = ["name"]
"#,
        );
        let s = schemas(json!({"res.country": {
            "name": {"type": "char"}, "display_name": {"type": "char", "depends": []}}}));
        let h = derive(&p, &s);
        assert_eq!(h.why("res.country", "display_name"), Some(&Why::Name));
        // And with the recorded depends too.
        let h = derive(&p, &recorded());
        assert!(h.is_hidden("res.country", "display_name"));
    }

    #[test]
    fn a_stated_exception_removes_only_the_sources_it_names() {
        let with = |ignore: &str| {
            policy(&format!(
                r#"
[models."res.partner"]
read = true
hidden_fields = ["email", "vat"]

[models."res.partner".derived.display_name]
ignore = {ignore}
reason = "Odoo adds email and vat to a partner's display name only under context flags odoo-warden never passes"
"#
            ))
        };
        let h = derive(&with(r#"["email", "vat"]"#), &recorded());
        assert!(!h.is_hidden("res.partner", "display_name"));
        assert!(h.is_hidden("res.partner", "email_formatted"));
        assert!(h.is_hidden("res.partner", "email_normalized"));
        // Without vat in the exception, display_name stays hidden (it lists vat too).
        let h = derive(&with(r#"["email"]"#), &recorded());
        assert_eq!(
            h.why("res.partner", "display_name"),
            Some(&Why::Derived {
                source: "res.partner.vat".into()
            })
        );
    }

    #[test]
    fn missing_models_are_asked_for_and_fail_closed_until_loaded() {
        let p = policy(
            r#"
[models."res.partner"]
read = true

[models."res.country"]
read = true
hidden_fields = ["code"]
"#,
        );
        let mut s = recorded();
        s.remove("res.country");
        assert_eq!(
            missing("res.partner", &s).into_iter().collect::<Vec<_>>(),
            ["res.country"]
        );
        assert_eq!(
            missing("res.country", &s).into_iter().collect::<Vec<_>>(),
            ["res.country"]
        );
        // Not loaded: country_code cannot be checked, so it is hidden.
        let h = derive(&p, &s);
        assert_eq!(
            h.why("res.partner", "country_code"),
            Some(&Why::Unchecked {
                model: "res.country".into()
            })
        );
        assert!(!h.is_hidden("res.partner", "email_formatted"));
        let s = recorded();
        assert!(missing("res.partner", &s).is_empty());
        assert_eq!(
            h.why("res.partner", "country_code").map(Why::explain),
            Some(
                "it depends on fields of \"res.country\" that could not be checked against the policy"
                    .to_string()
            )
        );
        assert!(derive(&p, &s).is_hidden("res.partner", "country_code"));
    }

    #[test]
    fn only_paths_that_are_reached_ask_for_models() {
        let mut s = schemas(json!({
            "x.a": {"f": {"type": "char", "depends": ["b_id.x"]},
                    "b_id": {"type": "many2one", "relation": "x.b"}},
            "x.b": {"x": {"type": "char", "depends": []},
                    "y": {"type": "char", "depends": ["c_id.z"]},
                    "c_id": {"type": "many2one", "relation": "x.c"}}
        }));
        assert!(missing("x.a", &s).is_empty());
        assert_eq!(missing("x.b", &s).into_iter().collect::<Vec<_>>(), ["x.c"]);
        s.remove("x.b");
        assert_eq!(missing("x.a", &s).into_iter().collect::<Vec<_>>(), ["x.b"]);
    }

    #[test]
    fn nothing_hidden_means_nothing_derived() {
        let p = policy("[models.\"res.partner\"]\nread = true\n");
        let h = derive(&p, &recorded());
        assert!(!h.any("res.partner") && !h.any("res.country"));
    }

    #[test]
    fn dependency_cycles_terminate() {
        let p = policy("[models.\"x.a\"]\nread = true\nhidden_fields = [\"s\"]\n");
        let s = schemas(json!({"x.a": {
            "s": {"type": "char"},
            "f": {"type": "char", "depends": ["g"]},
            "g": {"type": "char", "depends": ["f", "s"]},
            "h": {"type": "char", "depends": ["h"]}
        }}));
        let h = derive(&p, &s);
        assert_eq!(hidden_of(&h, "x.a"), ["f", "g", "s"]);
    }
}
