//! A profile's effective policy, model by model, as a person reads it (the console's profiles
//! page, `GET /admin/v1/profiles`): what the policy allows for each operation with its domain,
//! writable fields and confirmation; what Odoo's access rights grant the profile's user; the
//! allowlisted methods; and every hidden field with why (named by the policy, or derived by Odoo
//! from one it names). The policy's part needs nothing; Odoo's part uses the cached access
//! checks and model views, and when Odoo cannot answer it is left out and the reason given.

use super::ProfileState;
use crate::policy::Op;
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Serialize)]
pub struct EffectiveProfile {
    pub name: String,
    /// The profile's Odoo user (people signed in through this profile act as themselves).
    pub odoo_login: String,
    pub odoo_uid: i64,
    pub policy_source: String,
    pub max_records: u64,
    pub default_confirm: &'static str,
    pub models: Vec<EffectiveModel>,
    /// Why Odoo's part (access rights, derived hidden fields) is missing, when it is.
    pub odoo_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EffectiveModel {
    pub model: String,
    pub name: String,
    pub operations: Vec<EffectiveOp>,
    pub methods: Vec<EffectiveMethod>,
    pub hidden: Vec<HiddenField>,
    /// `labels = true`: other models may show any of its records' display names.
    pub labels: bool,
    /// `derived.<field>` exceptions the policy states.
    pub exceptions: Vec<StatedException>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EffectiveOp {
    pub operation: &'static str,
    pub allowed: bool,
    /// Whether Odoo's access rights grant it to the profile's user (`None`: not asked, or Odoo
    /// could not answer).
    pub odoo_grants: Option<bool>,
    /// The records it reaches, as one normalised domain (`[]`: every record the Odoo user sees).
    pub domain: Value,
    /// Create and update: the writable fields (`None`: any field that is not hidden).
    pub fields: Option<Vec<String>>,
    pub confirm: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct EffectiveMethod {
    pub name: String,
    pub confirm: &'static str,
    pub arguments: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HiddenField {
    pub field: String,
    pub why: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatedException {
    pub field: String,
    pub ignore: Vec<String>,
    pub reason: String,
}

impl ProfileState {
    /// The effective policy in force now.
    pub async fn effective(&self) -> EffectiveProfile {
        let policy = self.policy();
        let default = policy.default_confirm();
        let mut odoo_error = None;
        let access = match self.model_access().await {
            Ok(a) => Some(a),
            Err(e) => {
                odoo_error = Some(e.to_string());
                None
            }
        };
        // Each model's view (Odoo's field definitions, cached), all at once.
        let views =
            futures_util::future::join_all(policy.models().map(|(m, _)| self.view(m))).await;
        let mut models = Vec::new();
        for ((model, mp), view) in policy.models().zip(views) {
            let granted = access.as_ref().map(|list| {
                list.iter()
                    .find(|a| a.model == model)
                    .map(|a| a.operations.clone())
                    .unwrap_or_default()
            });
            let operations = Op::ALL
                .iter()
                .map(|op| {
                    let allowed = mp.allows(*op);
                    EffectiveOp {
                        operation: op.as_str(),
                        allowed,
                        odoo_grants: match &granted {
                            Some(g) if allowed => Some(g.contains(&op.as_str())),
                            _ => None,
                        },
                        domain: if allowed {
                            mp.restriction(*op)
                        } else {
                            Value::Array(Vec::new())
                        },
                        fields: match op {
                            Op::Create | Op::Update if allowed => {
                                mp.writable(*op).map(|s| s.iter().cloned().collect())
                            }
                            _ => Some(Vec::new()),
                        },
                        confirm: if allowed {
                            mp.confirm(*op, default).as_str()
                        } else {
                            "-"
                        },
                    }
                })
                .collect();
            let methods = mp
                .methods()
                .map(|m| EffectiveMethod {
                    name: m.to_string(),
                    confirm: mp.method_confirm(m, default).map_or("-", |c| c.as_str()),
                    arguments: mp.method_arguments(m).iter().cloned().collect(),
                })
                .collect();
            // Named fields always; with Odoo, the ones it derives from them too.
            let hidden = match view {
                Ok(view) => view
                    .hidden()
                    .map(|(field, why)| HiddenField {
                        field: field.to_string(),
                        why: why.explain(),
                    })
                    .collect(),
                Err(e) => {
                    odoo_error.get_or_insert_with(|| e.to_string());
                    mp.hidden_fields()
                        .iter()
                        .map(|f| HiddenField {
                            field: f.clone(),
                            why: "the policy hides it".into(),
                        })
                        .collect()
                }
            };
            models.push(EffectiveModel {
                model: model.to_string(),
                name: super::model_label(model),
                operations,
                methods,
                hidden,
                labels: mp.labels_allowed(),
                exceptions: mp
                    .exceptions()
                    .map(|(field, e)| StatedException {
                        field: field.to_string(),
                        ignore: e.ignore.iter().cloned().collect(),
                        reason: e.reason.clone(),
                    })
                    .collect(),
            });
        }
        EffectiveProfile {
            name: self.name.clone(),
            odoo_login: self.identity.login.clone(),
            odoo_uid: self.identity.uid,
            policy_source: policy.source().to_string(),
            max_records: policy.max_records(),
            default_confirm: default.as_str(),
            models,
            odoo_error,
        }
    }
}
