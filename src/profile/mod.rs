//! Per-profile state: the profile's logged-in Odoo user, its policy (swapped atomically on
//! reload, [`PolicyReloader`]), what is held from call to call (field definitions, the policy's
//! view of each model, access checks, the user's context) and its write budget. Tools act
//! through a [`ProfileState`]; nothing here knows about MCP or HTTP (docs/architecture.md).

mod budget;
pub mod effective;
mod reload;
pub mod view;

pub use budget::{BudgetExceeded, WriteBudget};
pub use reload::{PolicyReloader, load_policy};

use crate::odoo::{ErrorKind, Identity, OdooError, OdooUser, Operation, ServerInfo};
use crate::policy::Policy;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long model-level access checks and `fields_get` answers are reused (a policy reload reads
/// them again at once).
const CACHE_TTL: Duration = Duration::from_secs(300);

/// How long `get_context` reuses the user's name, time zone, language and companies.
const IDENTITY_TTL: Duration = Duration::from_secs(60);

/// A model's `fields_get` answer and when it was read.
type CachedFields = (Instant, u64, Arc<Map<String, Value>>);

/// A model's view, when it was built and for which policy generation.
type CachedView = (Instant, u64, Arc<view::ModelView>);

/// Access checks cached with the policy generation they were computed for.
type CachedAccess = (Instant, u64, Arc<Vec<ModelAccess>>);

/// Everything a tool needs to act for one profile: its logged-in Odoo user, its policy (swapped
/// atomically on reload) and caches.
pub struct ProfileState {
    pub name: String,
    pub user: OdooUser,
    pub server: ServerInfo,
    pub identity: Identity,
    /// Shared by a profile and every person acting through it: one reload reaches them all.
    policy: Arc<PolicyCell>,
    access: tokio::sync::Mutex<Option<CachedAccess>>,
    fields: RwLock<HashMap<String, CachedFields>>,
    /// Per model: its view under the policy generation it was built for.
    views: RwLock<HashMap<String, CachedView>>,
    /// The user as `get_context` reports it, refreshed after [`IDENTITY_TTL`].
    fresh_identity: tokio::sync::Mutex<(Instant, Arc<Identity>)>,
    write_budget: std::sync::OnceLock<WriteBudget>,
    /// A person's own session ([`ProfileState::for_person`]), not the profile's user.
    person: bool,
}

/// A profile's policy in force and how many times it was swapped.
struct PolicyCell {
    policy: RwLock<Arc<Policy>>,
    generation: AtomicU64,
}

/// Human names of common models (`ir.model` is unreadable to most users, so names cannot come
/// from Odoo); other models are shown by their technical name.
fn model_label(model: &str) -> String {
    let known = [
        ("res.partner", "Contact"),
        ("res.company", "Company"),
        ("res.country", "Country"),
        ("res.currency", "Currency"),
        ("res.users", "User"),
        ("product.product", "Product"),
        ("product.template", "Product Template"),
        ("product.category", "Product Category"),
        ("uom.uom", "Unit of Measure"),
        ("sale.order", "Sales Order"),
        ("sale.order.line", "Sales Order Line"),
        ("purchase.order", "Purchase Order"),
        ("purchase.order.line", "Purchase Order Line"),
        ("account.move", "Journal Entry"),
        ("account.move.line", "Journal Item"),
        ("crm.lead", "Lead/Opportunity"),
        ("project.project", "Project"),
        ("project.task", "Task"),
        ("stock.picking", "Transfer"),
        ("stock.move", "Stock Move"),
        ("stock.quant", "Quants"),
        ("ir.attachment", "Attachment"),
    ];
    known
        .iter()
        .find(|(m, _)| *m == model)
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| model.to_string())
}

/// A model with what this profile may do on it: the policy's operations that Odoo's own access
/// rights also grant the profile's user, and the allowlisted methods.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelAccess {
    pub model: String,
    pub name: String,
    pub operations: Vec<&'static str>,
    pub methods: Vec<String>,
}

impl ProfileState {
    /// Reads the user's identity once; the caller has logged the user in.
    pub async fn new(name: String, user: OdooUser, policy: Policy) -> Result<Self, OdooError> {
        let server = user.server_info().await?;
        let identity = user.whoami().await?;
        let fresh_identity = tokio::sync::Mutex::new((Instant::now(), Arc::new(identity.clone())));
        Ok(Self {
            name,
            user,
            server,
            identity,
            policy: Arc::new(PolicyCell {
                policy: RwLock::new(Arc::new(policy)),
                generation: AtomicU64::new(0),
            }),
            access: tokio::sync::Mutex::new(None),
            fields: RwLock::new(HashMap::new()),
            views: RwLock::new(HashMap::new()),
            fresh_identity,
            write_budget: std::sync::OnceLock::new(),
            person: false,
        })
    }

    /// The state of a person acting through this profile as their own Odoo user (`user`,
    /// logged in): this profile's policy (shared, so a reload reaches them) and write budget,
    /// with their own identity and caches (Odoo's answers depend on the user).
    pub async fn for_person(&self, user: OdooUser) -> Result<Self, OdooError> {
        let identity = user.whoami().await?;
        let fresh_identity = tokio::sync::Mutex::new((Instant::now(), Arc::new(identity.clone())));
        let state = Self {
            name: self.name.clone(),
            user,
            server: self.server.clone(),
            identity,
            policy: self.policy.clone(),
            access: tokio::sync::Mutex::new(None),
            fields: RwLock::new(HashMap::new()),
            views: RwLock::new(HashMap::new()),
            fresh_identity,
            write_budget: std::sync::OnceLock::new(),
            person: true,
        };
        if let Some(b) = self.write_budget.get() {
            state.set_write_budget(b.per_minute());
        }
        Ok(state)
    }

    /// Whether this is a person's own session (they signed in with OAuth).
    pub fn is_person(&self) -> bool {
        self.person
    }

    /// The policy in force. Calls hold their own `Arc`, so a reload never changes a call midway.
    pub fn policy(&self) -> Arc<Policy> {
        match self.policy.policy.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Swaps in a new (already validated) policy. Field definitions are read again too (a
    /// reload is also how an operator says "Odoo's modules changed").
    pub fn set_policy(&self, policy: Policy) {
        let new = Arc::new(policy);
        match self.policy.policy.write() {
            Ok(mut p) => *p = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
        self.policy.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut f) = self.fields.write() {
            f.clear();
        }
        if let Ok(mut v) = self.views.write() {
            v.clear();
        }
    }

    /// The user's identity for `get_context`: read again from Odoo once it is older than a
    /// minute (a time zone or company change shows), else from memory (no Odoo request).
    pub async fn current_identity(&self) -> Result<Arc<Identity>, OdooError> {
        let mut cached = self.fresh_identity.lock().await;
        if cached.0.elapsed() < IDENTITY_TTL {
            return Ok(cached.1.clone());
        }
        let identity = Arc::new(self.user.whoami().await?);
        *cached = (Instant::now(), identity.clone());
        Ok(identity)
    }

    /// Counts policy reloads: caches computed under another generation are stale.
    pub fn generation(&self) -> u64 {
        self.policy.generation.load(Ordering::SeqCst)
    }

    /// Sets the profile's write budget (writes per minute, per key); once.
    pub fn set_write_budget(&self, per_minute: u32) {
        if let Some(b) = WriteBudget::new(per_minute) {
            let _ = self.write_budget.set(b);
        }
    }

    /// Refuses a write over the key's budget, saying when to retry.
    pub fn check_write_budget(&self, key_id: &str) -> Result<(), BudgetExceeded> {
        match self.write_budget.get() {
            Some(b) => b.check(key_id).map_err(|retry_in| BudgetExceeded {
                per_minute: b.per_minute(),
                profile: self.name.clone(),
                retry_in,
            }),
            None => Ok(()),
        }
    }

    /// The cap on any read.
    pub fn max_records(&self) -> u64 {
        self.policy().max_records()
    }

    /// What this profile may do, model by model: the policy intersected with Odoo's access rights
    /// (one check per model and operation, run concurrently, cached).
    pub async fn model_access(&self) -> Result<Arc<Vec<ModelAccess>>, OdooError> {
        let mut guard = self.access.lock().await;
        let generation = self.generation();
        if let Some((at, g, list)) = guard.as_ref() {
            if at.elapsed() < CACHE_TTL && *g == generation {
                return Ok(list.clone());
            }
        }
        let pol = self.policy();
        let mut checks = Vec::new();
        for (model, mp) in pol.models() {
            for op in mp.operations() {
                let odoo_op = match op {
                    "read" => Operation::Read,
                    "create" => Operation::Create,
                    "update" => Operation::Write,
                    _ => Operation::Unlink,
                };
                checks
                    .push(async move { (model, op, self.user.check_access(model, odoo_op).await) });
            }
        }
        let mut granted: HashMap<&str, Vec<&'static str>> = HashMap::new();
        let mut missing: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for (model, op, r) in futures_util::future::join_all(checks).await {
            match r {
                Ok(true) => granted.entry(model).or_default().push(op),
                Ok(false) => {}
                // Not installed on this Odoo: not offered at all.
                Err(e) if e.kind == ErrorKind::NotFound => {
                    missing.insert(model);
                }
                Err(e) if e.kind == ErrorKind::Access => {}
                Err(e) => return Err(e),
            }
        }
        let mut out = Vec::new();
        for (model, mp) in pol.models() {
            if missing.contains(model) {
                continue;
            }
            let operations = granted.remove(model).unwrap_or_default();
            let methods: Vec<String> = mp.methods().map(str::to_string).collect();
            if operations.is_empty() && methods.is_empty() {
                continue;
            }
            out.push(ModelAccess {
                model: model.to_string(),
                name: model_label(model),
                operations,
                methods,
            });
        }
        let list = Arc::new(out);
        *guard = Some((Instant::now(), generation, list.clone()));
        Ok(list)
    }

    /// `fields_get` of a model, cached.
    pub async fn fields(&self, model: &str) -> Result<Arc<Map<String, Value>>, OdooError> {
        let generation = self.generation();
        if let Ok(cache) = self.fields.read() {
            if let Some((at, g, f)) = cache.get(model) {
                if at.elapsed() < CACHE_TTL && *g == generation {
                    return Ok(f.clone());
                }
            }
        }
        let f = Arc::new(self.user.fields_get(model, None).await?);
        if let Ok(mut cache) = self.fields.write() {
            cache.insert(model.to_string(), (Instant::now(), generation, f.clone()));
        }
        Ok(f)
    }
}
