//! Labels of other records in a read's answer. A many2one value is `[id, display name of the
//! target]`, and a group of `read_group` by a many2one is labelled the same way: Odoo computes
//! that name with superuser rights, so it would show the name of a record the policy does not let
//! the key read. A label reaches the assistant only where the policy lets the key read the
//! target's display name: the target model is readable (or says `labels = true`), its
//! `display_name` is not hidden, and the record lies inside its read domain. Other labels become
//! `"<model>,<id>"`, Odoo's own name for a record without one.

use super::view::ModelView;
use super::{ProfileState, ToolError, guard};
use crate::policy::{self, Op, Policy};
use serde_json::{Map, Value, json};
use std::collections::{BTreeSet, HashMap};

/// What may be shown of a comodel's labels.
enum Rule {
    Keep,
    Strip,
    /// Only for records inside this domain (one `search` tells which).
    Within(Value),
}

async fn rule(p: &ProfileState, pol: &Policy, comodel: &str) -> Result<Rule, ToolError> {
    let Some(mp) = pol.model(comodel) else {
        return Ok(Rule::Strip);
    };
    let view = p.view(comodel).await.map_err(ToolError::from)?;
    if view.is_hidden("display_name") {
        return Ok(Rule::Strip);
    }
    if mp.labels_allowed() {
        return Ok(Rule::Keep);
    }
    if !mp.allows(Op::Read) {
        return Ok(Rule::Strip);
    }
    match guard::restriction(p, pol, mp, comodel, Op::Read, None).await {
        Ok(r) if r.as_array().is_some_and(Vec::is_empty) => Ok(Rule::Keep),
        Ok(r) => Ok(Rule::Within(r)),
        // Too many referenced records to tell: show none of the labels.
        Err(ToolError::Denied(_)) => Ok(Rule::Strip),
        Err(other) => Err(other),
    }
}

/// What may be shown of the labels of a read's many2one values, decided before the read (so that
/// Odoo is not even asked for a label that cannot be shown) and applied after it.
pub struct Plan {
    rules: HashMap<String, Rule>,
    /// (key, comodel): the many2one fields (or groupby specs) whose values carry labels.
    fields: Vec<(String, String)>,
}

/// Decides the labels of the many2one values under `keys` (field names, or groupby specs such as
/// `partner_id`).
pub async fn plan(
    p: &ProfileState,
    pol: &Policy,
    view: &ModelView,
    keys: &[String],
) -> Result<Plan, ToolError> {
    let mut rules: HashMap<String, Rule> = HashMap::new();
    let mut fields = Vec::new();
    for key in keys {
        let field = key.split(':').next().unwrap_or(key);
        if view.field_type(field) != "many2one" {
            continue;
        }
        let Some(comodel) = view.relation(field) else {
            continue;
        };
        if !rules.contains_key(comodel) {
            rules.insert(comodel.to_string(), rule(p, pol, comodel).await?);
        }
        fields.push((key.clone(), comodel.to_string()));
    }
    Ok(Plan { rules, fields })
}

impl Plan {
    /// The many2one fields, and whether a label may (perhaps) be shown for each.
    pub fn many2one(&self) -> Vec<(String, bool)> {
        self.fields
            .iter()
            .map(|(key, comodel)| {
                let shown = !matches!(self.rules.get(comodel), Some(Rule::Strip) | None);
                (key.clone(), shown)
            })
            .collect()
    }

    /// Replaces, in `rows`, the labels the policy does not let the key see with
    /// `"<model>,<id>"`. Costs one Odoo `search` per comodel with a read domain (to tell which
    /// records lie inside it); none otherwise.
    pub async fn apply(
        &self,
        p: &ProfileState,
        rows: &mut [Map<String, Value>],
    ) -> Result<(), ToolError> {
        if self.fields.is_empty() {
            return Ok(());
        }
        let mut inside: HashMap<&str, BTreeSet<i64>> = HashMap::new();
        for (comodel, r) in &self.rules {
            let Rule::Within(restriction) = r else {
                continue;
            };
            let ids: BTreeSet<i64> = self
                .fields
                .iter()
                .filter(|(_, c)| c == comodel)
                .flat_map(|(key, _)| rows.iter().filter_map(|row| target_id(row.get(key))))
                .collect();
            if ids.is_empty() {
                continue;
            }
            let ids: Vec<i64> = ids.into_iter().collect();
            let domain = policy::and(restriction, &json!([["id", "in", ids]]));
            let found = p
                .user
                .search(comodel, &domain, None)
                .await
                .map_err(ToolError::from)?;
            inside.insert(comodel.as_str(), found.into_iter().collect());
        }
        for row in rows.iter_mut() {
            for (key, comodel) in &self.fields {
                let Some(id) = target_id(row.get(key)) else {
                    continue;
                };
                let keep = match self.rules.get(comodel) {
                    Some(Rule::Keep) => true,
                    Some(Rule::Within(_)) => inside
                        .get(comodel.as_str())
                        .is_some_and(|s| s.contains(&id)),
                    Some(Rule::Strip) | None => false,
                };
                if !keep {
                    row.insert(key.clone(), json!([id, format!("{comodel},{id}")]));
                }
            }
        }
        Ok(())
    }
}

/// [`plan`] and [`Plan::apply`] at once, for rows already read.
pub async fn sanitize(
    p: &ProfileState,
    pol: &Policy,
    view: &ModelView,
    rows: &mut [Map<String, Value>],
    keys: &[String],
) -> Result<(), ToolError> {
    plan(p, pol, view, keys).await?.apply(p, rows).await
}

/// The id of a `[id, label]` value.
fn target_id(v: Option<&Value>) -> Option<i64> {
    match v?.as_array()?.as_slice() {
        [id, _] => id.as_i64(),
        _ => None,
    }
}
