//! A model as the policy lets a profile see it: Odoo's field definitions, and the fields the
//! policy hides there, the ones it names and the ones Odoo derives from them (see
//! [`crate::policy::derive`]). Built once per model and policy generation, from cached
//! `fields_get` answers, and reused until the policy is reloaded or the definitions age out.

use super::ProfileState;
use crate::odoo::{ErrorKind, OdooError};
use crate::policy::derive::{self, Schemas, Why};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// How many models a model's dependencies may lead to before the rest are treated as hidden
/// (fail closed) rather than loaded.
const MAX_MODELS: usize = 100;

/// One model under one policy generation.
#[derive(Debug)]
pub struct ModelView {
    pub model: String,
    /// `fields_get` (empty when Odoo has no such model).
    pub fields: Arc<Map<String, Value>>,
    hidden: BTreeMap<String, Why>,
    /// Fields that name a record of another model by (model field, id field): `res_model` /
    /// `res_id` on `ir.attachment`, `model` / `res_id` on `mail.message`.
    pub references: Vec<(String, String)>,
}

impl ModelView {
    /// Why the policy hides `field` here, if it does.
    pub fn why_hidden(&self, field: &str) -> Option<&Why> {
        self.hidden.get(field)
    }

    pub fn is_hidden(&self, field: &str) -> bool {
        self.hidden.contains_key(field)
    }

    /// Every hidden field with why, by name.
    pub fn hidden(&self) -> impl Iterator<Item = (&str, &Why)> {
        self.hidden.iter().map(|(f, w)| (f.as_str(), w))
    }

    /// Whether a hidden field could match a search by name (Odoo's name search looks at text
    /// fields it chooses, which `fields_get` does not name): any hidden field that is not a list
    /// of other records or a file.
    pub fn hides_searchable(&self) -> bool {
        self.hidden
            .keys()
            .any(|f| !matches!(self.field_type(f), "one2many" | "many2many" | "binary"))
    }

    pub fn def(&self, field: &str) -> Option<&Value> {
        self.fields.get(field)
    }

    pub fn has(&self, field: &str) -> bool {
        self.fields.contains_key(field)
    }

    /// The field's type (`""` when unknown).
    pub fn field_type(&self, field: &str) -> &str {
        self.def(field)
            .and_then(|d| d.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// The comodel of a relational field.
    pub fn relation(&self, field: &str) -> Option<&str> {
        match self.field_type(field) {
            "many2one" | "one2many" | "many2many" => self
                .def(field)
                .and_then(|d| d.get("relation"))
                .and_then(Value::as_str),
            _ => None,
        }
    }

    /// The path a related field copies (`country_id.code`).
    pub fn related(&self, field: &str) -> Option<&str> {
        self.def(field)
            .and_then(|d| d.get("related"))
            .and_then(Value::as_str)
    }

    /// The reference pair `field` belongs to, if any.
    pub fn reference_of(&self, field: &str) -> Option<&(String, String)> {
        self.references
            .iter()
            .find(|(m, id)| m == field || id == field)
    }
}

/// The reference pairs of a model: each `many2one_reference` field with the char field its
/// `model_field` names, and `res_model` / `res_id` where Odoo does not describe the pair.
fn references(fields: &Map<String, Value>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = fields
        .iter()
        .filter(|(_, d)| d.get("type").and_then(Value::as_str) == Some("many2one_reference"))
        .filter_map(|(name, d)| {
            let model_field = d.get("model_field").and_then(Value::as_str)?;
            Some((model_field.to_string(), name.clone()))
        })
        .collect();
    if fields.contains_key("res_model") && !out.iter().any(|(m, _)| m == "res_model") {
        // Without a described id field, `res_model` alone still bounds which models are named.
        let id = if fields.contains_key("res_id") {
            "res_id"
        } else {
            ""
        };
        out.push(("res_model".into(), id.into()));
    }
    out
}

impl ProfileState {
    /// The view of `model` under the policy in force: its field definitions and the fields the
    /// policy hides (named or derived). The first call per model and policy generation loads the
    /// definitions of the models its fields depend on; later calls are a map lookup.
    pub async fn view(&self, model: &str) -> Result<Arc<ModelView>, OdooError> {
        let generation = self.generation();
        if let Some(v) = self.cached_view(model, generation) {
            return Ok(v);
        }
        let policy = self.policy();
        let mut schemas = Schemas::new();
        let mut wanted = vec![model.to_string()];
        let mut capped = false;
        while !wanted.is_empty() {
            let room = MAX_MODELS.saturating_sub(schemas.len());
            if wanted.len() > room {
                capped = true;
                wanted.truncate(room);
            }
            let loads = wanted.iter().map(|m| async move {
                match self.fields(m).await {
                    Ok(f) => Ok((m.clone(), f)),
                    // A model this Odoo does not have: nothing derives from it.
                    Err(e) if e.kind == ErrorKind::NotFound || e.kind == ErrorKind::User => {
                        Ok((m.clone(), Arc::new(Map::new())))
                    }
                    Err(e) => Err(e),
                }
            });
            for loaded in futures_util::future::join_all(loads).await {
                let (m, f) = loaded?;
                schemas.insert(m, f);
            }
            if capped {
                break;
            }
            wanted = derive::missing(model, &schemas).into_iter().collect();
        }
        if capped {
            tracing::warn!(
                odoo.model = model,
                "the fields of this model depend on more than {MAX_MODELS} models; fields depending on the rest are hidden"
            );
        }
        let hidden = derive::derive(&policy, &schemas);
        let fields = schemas.get(model).cloned().unwrap_or_default();
        let view = Arc::new(ModelView {
            model: model.to_string(),
            references: references(&fields),
            hidden: hidden
                .of(model)
                .map(|(f, w)| (f.to_string(), w.clone()))
                .collect(),
            fields,
        });
        if let Ok(mut cache) = self.views.write() {
            cache.insert(
                model.to_string(),
                (Instant::now(), generation, view.clone()),
            );
        }
        Ok(view)
    }

    /// The view of `model` if it is cached for the policy in force (no Odoo call).
    pub fn cached_view(&self, model: &str, generation: u64) -> Option<Arc<ModelView>> {
        let cache = self.views.read().ok()?;
        let (at, g, v) = cache.get(model)?;
        (*g == generation && at.elapsed() < super::CACHE_TTL).then(|| v.clone())
    }
}

impl ProfileState {
    /// Tool arguments as the audit trail and the approvals store keep them
    /// ([`crate::audit::redact`]): values of fields the policy hides, named or derived, and of
    /// name searches that could match such a field, are removed. Uses the views already built
    /// (the call built the ones it needed); where the call's model has none yet, no field value of
    /// that model is kept (fail closed).
    pub fn redact_arguments(&self, args: &Value) -> Value {
        self.redact(args, true)
    }

    /// As [`Self::redact_arguments`], without cutting long values (a preview cuts each value
    /// itself, noting its whole size).
    pub fn redact_values(&self, args: &Value) -> Value {
        self.redact(args, false)
    }

    fn redact(&self, args: &Value, cut: bool) -> Value {
        let pol = self.policy();
        let generation = self.generation();
        let model = args.get("model").and_then(Value::as_str).unwrap_or("");
        let view = self.cached_view(model, generation);
        let named = pol.model(model).is_some();
        let views: Vec<Arc<ModelView>> = match self.views.read() {
            Ok(cache) => cache
                .values()
                .filter(|(_, g, _)| *g == generation)
                .map(|(_, _, v)| v.clone())
                .collect(),
            Err(_) => Vec::new(),
        };
        let in_model = |f: &str| match &view {
            Some(v) => v.is_hidden(f),
            None => named && f != "id",
        };
        let anywhere = |f: &str| {
            pol.models().any(|(_, m)| m.is_hidden(f)) || views.iter().any(|v| v.is_hidden(f))
        };
        let search = |path: &str, operand: &Value| {
            let names = match operand {
                Value::String(_) => true,
                Value::Array(items) => items.iter().any(Value::is_string),
                _ => false,
            };
            names && !self.name_search_is_safe(&pol, generation, model, path)
        };
        crate::audit::redact(
            args,
            &crate::audit::Hidden {
                model: &in_model,
                any: &anywhere,
                search: &search,
                cut,
            },
        )
    }

    /// From cached views only: whether a text operand on `path` (from `model`) is a plain value
    /// or a name search that can reveal nothing (see `guard::check_domain`). Unknown: not safe.
    fn name_search_is_safe(
        &self,
        pol: &crate::policy::Policy,
        generation: u64,
        model: &str,
        path: &str,
    ) -> bool {
        let mut current = model.to_string();
        let mut hops = path.split('.').peekable();
        while let Some(hop) = hops.next() {
            let Some(view) = self.cached_view(&current, generation) else {
                return false;
            };
            if hops.peek().is_some() {
                match view.relation(hop) {
                    Some(next) => current = next.to_string(),
                    None => return false,
                }
                continue;
            }
            if hop == "display_name" || hop == "id" {
                return !view.hides_searchable();
            }
            let Some(target) = view.relation(hop) else {
                return true;
            };
            let readable = pol
                .model(target)
                .is_some_and(|m| m.allows(crate::policy::Op::Read) && !m.has_read_domain());
            return readable
                && self
                    .cached_view(target, generation)
                    .is_some_and(|v| !v.hides_searchable());
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reference_pairs_come_from_model_field_or_res_model() {
        let f = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            references(&f(json!({
                "model": {"type": "char"},
                "res_id": {"type": "many2one_reference", "model_field": "model"}
            }))),
            [("model".to_string(), "res_id".to_string())]
        );
        assert_eq!(
            references(&f(json!({
                "res_model": {"type": "char"},
                "res_id": {"type": "integer"}
            }))),
            [("res_model".to_string(), "res_id".to_string())]
        );
        assert_eq!(
            references(&f(json!({"res_model": {"type": "char"}}))),
            [("res_model".to_string(), String::new())]
        );
        assert!(references(&f(json!({"name": {"type": "char"}}))).is_empty());
    }
}
