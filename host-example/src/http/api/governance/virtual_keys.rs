//! `GET|POST /api/governance/virtual-keys`, `GET|PUT|DELETE /api/governance/virtual-keys/{vk_id}`.
//!
//! The list answers `{virtual_keys, count, total_count, limit, offset}` and takes `from_memory`,
//! `limit`, `offset`, `search` (case-insensitive, on the name), `customer_id`, `team_id`,
//! `sort_by` (`name`, `budget_spent`, `created_at`, `status`), `order` (`asc`, `desc`) and
//! `export`. As in Bifrost, it is paginated only when `limit`, `offset`, `search`,
//! `customer_id` or `team_id` is given: then `limit` is the page size (0 or absent:
//! [`DEFAULT_LIMIT`], clamped to [`MAX_LIMIT`]; with `export=true`, to [`MAX_EXPORT_LIMIT`]);
//! otherwise every key is listed and `limit` is their count.
//!
//! Every answer shows `value` redacted, except the answer to a create: as Bifrost does, it
//! carries the value in clear — the one the caller sent or the `sk-bf-…` one generated — because
//! it is shown nowhere else. A value that looks redacted is refused (`value`): a client never
//! stores a placeholder as a key.
//!
//! An update follows Bifrost: fields sent replace the stored ones, provider configs not listed
//! are removed, budgets sent without an id keep the id (and so the usage) of the stored budget
//! with the same `reset_duration`, and a redacted `value` sent back keeps the stored value.

use axum::{Json, Router, extract::State, routing::get};
use chrono::Utc;
use keyward_plugin_api::model::{
    governance::{GovernanceDocument, VirtualKey, virtual_key::ProviderConfigKey},
    secret::looks_redacted,
};
use serde_json::{Map, Value, json};

use super::{fresh_id, usage::UsageView};
use crate::{
    http::{
        error::ApiError,
        extract::{JsonBody, Path, RawQuery, parse_json, truncate},
        state::AppState,
    },
    service::governance::{document, set_document},
};
use keyward_host_core::config::HostConfig;

/// The page size of a paginated list when `limit` is absent or 0 (Bifrost's).
pub const DEFAULT_LIMIT: u64 = 25;
/// The largest page without `export=true` (Bifrost's).
pub const MAX_LIMIT: u64 = 100;
/// The largest page with `export=true`.
pub const MAX_EXPORT_LIMIT: u64 = 10_000;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/governance/virtual-keys", get(list).post(create))
        .route(
            "/api/governance/virtual-keys/{vk_id}",
            get(read).put(update).delete(remove),
        )
}

/// Sort keys of the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SortBy {
    Name,
    BudgetSpent,
    CreatedAt,
    Status,
}

async fn list(State(state): State<AppState>, query: RawQuery) -> Result<Json<Value>, ApiError> {
    let _from_memory = query.bool("from_memory", false)?;
    let export = query.bool("export", false)?;
    let offset = query.non_negative("offset")?.unwrap_or(0);
    let requested_limit = query.non_negative("limit")?;
    let paginated = ["limit", "offset", "search", "customer_id", "team_id"]
        .iter()
        .any(|name| query.get(name).is_some());
    let limit = match requested_limit {
        _ if !paginated => None,
        Some(limit) if limit > 0 => {
            Some(limit.min(if export { MAX_EXPORT_LIMIT } else { MAX_LIMIT }))
        }
        _ if export => Some(MAX_EXPORT_LIMIT),
        _ => Some(DEFAULT_LIMIT),
    };
    let sort_by = match query.get("sort_by") {
        None | Some("") => None,
        Some("name") => Some(SortBy::Name),
        Some("budget_spent") => Some(SortBy::BudgetSpent),
        Some("created_at") => Some(SortBy::CreatedAt),
        Some("status") => Some(SortBy::Status),
        Some(other) => {
            return Err(ApiError::bad_request(
                "sort_by",
                format!(
                    "sort_by must be one of name, budget_spent, created_at, status; got `{}`",
                    truncate(other)
                ),
            ));
        }
    };
    let descending = match query.get("order") {
        None | Some("") | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "order",
                format!("order must be asc or desc; got `{}`", truncate(other)),
            ));
        }
    };
    let search = query
        .get("search")
        .map(str::to_lowercase)
        .filter(|s| !s.is_empty());
    let team_id = query.get("team_id").filter(|s| !s.is_empty());
    let customer_id = query.get("customer_id").filter(|s| !s.is_empty());

    let config = state.store.snapshot();
    let documents = document(&config)?;
    let usage = UsageView::current(&state);
    let mut keys: Vec<VirtualKey> = documents
        .virtual_keys
        .iter()
        .filter(|vk| {
            search
                .as_ref()
                .is_none_or(|s| vk.name.to_lowercase().contains(s))
        })
        .filter(|vk| team_id.is_none_or(|t| vk.team_id.as_deref() == Some(t)))
        .filter(|vk| customer_id.is_none_or(|c| effective_customer(&documents, vk) == Some(c)))
        .map(|vk| embed(vk, &documents, &config, &usage))
        .collect();
    if let Some(sort_by) = sort_by {
        let now = Utc::now();
        keys.sort_by(|a, b| {
            let ordering = match sort_by {
                SortBy::Name => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
                SortBy::BudgetSpent => spent(a).total_cmp(&spent(b)),
                SortBy::CreatedAt => a.created_at.cmp(&b.created_at),
                SortBy::Status => a.is_usable_at(now).cmp(&b.is_usable_at(now)).reverse(),
            };
            ordering.then_with(|| a.id.cmp(&b.id))
        });
        if descending {
            keys.reverse();
        }
    }
    let total = keys.len() as u64;
    let page: Vec<VirtualKey> = keys
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX)))
        .collect();
    let count = page.len();
    Ok(Json(json!({
        "virtual_keys": page,
        "count": count,
        "total_count": total,
        "limit": limit.unwrap_or(count as u64),
        "offset": offset,
    })))
}

async fn read(
    State(state): State<AppState>,
    Path(vk_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({ "virtual_key": embedded_key(&state, &vk_id)? }),
    ))
}

/// The stored key `id` as responses show it (see [`embed`]).
pub fn embedded_key(state: &AppState, id: &str) -> Result<VirtualKey, ApiError> {
    let config = state.store.snapshot();
    let documents = document(&config)?;
    let vk = documents
        .virtual_keys
        .iter()
        .find(|k| k.id == id)
        .ok_or_else(|| not_found(id))?;
    Ok(embed(vk, &documents, &config, &UsageView::current(state)))
}

async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let Value::Object(mut fields) = body else {
        return Err(ApiError::bad_request(
            "body",
            "the body must be a JSON object",
        ));
    };
    fields
        .entry("id")
        .or_insert_with(|| Value::String(fresh_id()));
    if fields
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(|n| n.trim().is_empty())
    {
        return Err(ApiError::bad_request("name", "name is required"));
    }
    let now = Utc::now();
    let mut vk: VirtualKey = parse_json(Value::Object(fields).to_string().as_bytes())?;
    vk.created_at = Some(now);
    vk.updated_at = Some(now);
    let id = vk.id.clone();
    // The one answer that shows the value: the caller needs it to use the key.
    let value = vk.value.expose().to_owned();
    let created = state
        .store
        .update(move |config| -> Result<_, ApiError> {
            let mut documents = document(config)?;
            if documents.virtual_keys.iter().any(|k| k.id == vk.id) {
                return Err(ApiError::conflict(
                    "id",
                    "a virtual key with this id already exists",
                ));
            }
            assign_ids(&mut vk, None);
            check(&vk, &documents, config, None)?;
            documents.virtual_keys.push(vk);
            set_document(config, &documents)?;
            Ok(())
        })
        .await;
    created?;
    let mut shown = serde_json::to_value(embedded_key(&state, &id)?)
        .map_err(|e| ApiError::internal(format!("cannot show the virtual key: {e}")))?;
    shown["value"] = Value::String(value);
    Ok(Json(json!({
        "message": "Virtual key created successfully",
        "virtual_key": shown,
    })))
}

async fn update(
    State(state): State<AppState>,
    Path(vk_id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let Value::Object(changes) = body else {
        return Err(ApiError::bad_request(
            "body",
            "the body must be a JSON object",
        ));
    };
    let id = vk_id.clone();
    state
        .store
        .update(move |config| -> Result<_, ApiError> {
            let mut documents = document(config)?;
            let index = documents
                .virtual_keys
                .iter()
                .position(|k| k.id == vk_id)
                .ok_or_else(|| not_found(&vk_id))?;
            let stored = documents.virtual_keys[index].clone();
            let mut vk = apply_changes(&stored, without_views(changes, &stored, &documents))?;
            assign_ids(&mut vk, Some(&stored));
            // A body that changes nothing (a GET sent back) leaves the key as it was.
            if vk != stored {
                vk.updated_at = Some(Utc::now());
            }
            check(&vk, &documents, config, Some(&vk_id))?;
            documents.virtual_keys[index] = vk;
            set_document(config, &documents)?;
            Ok(())
        })
        .await?;
    Ok(Json(json!({
        "message": "Virtual key updated successfully",
        "virtual_key": embedded_key(&state, &id)?,
    })))
}

async fn remove(
    State(state): State<AppState>,
    Path(vk_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let removed = state
        .store
        .update(move |config| -> Result<_, ApiError> {
            let mut documents = document(config)?;
            let index = documents
                .virtual_keys
                .iter()
                .position(|k| k.id == vk_id)
                .ok_or_else(|| not_found(&vk_id))?;
            let removed = documents.virtual_keys.remove(index);
            documents
                .budgets
                .retain(|b| b.virtual_key_id.as_deref() != Some(removed.id.as_str()));
            set_document(config, &documents)?;
            Ok(removed)
        })
        .await?;
    Ok(Json(
        json!({ "message": "Virtual key deleted successfully", "virtual_key": removed }),
    ))
}

fn not_found(vk_id: &str) -> ApiError {
    ApiError::not_found(format!("virtual key not found: {}", truncate(vk_id)))
}

fn spent(vk: &VirtualKey) -> f64 {
    vk.budgets.iter().map(|b| b.current_usage).sum()
}

fn effective_customer<'d>(
    documents: &'d GovernanceDocument,
    vk: &'d VirtualKey,
) -> Option<&'d str> {
    vk.customer_id.as_deref().or_else(|| {
        let team = vk.team_id.as_deref()?;
        documents
            .teams
            .iter()
            .find(|t| t.id == team)?
            .customer_id
            .as_deref()
    })
}

/// The fields of an update without what responses add to a key as views: the embedded team
/// and customer, the top-level budgets and rate limits shown inside it (referenced by id or
/// naming it as owner), and the usage of its own budgets and rate limits (the enforcer's, not
/// settable). A key read with `GET` and sent back is thus the stored key.
fn without_views(
    mut changes: Map<String, Value>,
    stored: &VirtualKey,
    documents: &GovernanceDocument,
) -> Map<String, Value> {
    changes.remove("team");
    changes.remove("customer");
    let top_budgets: Vec<&str> = documents.budgets.iter().map(|b| b.id.as_str()).collect();
    let top_limits: Vec<&str> = documents
        .rate_limits
        .iter()
        .map(|l| l.id.as_str())
        .collect();
    let stored_json =
        keyward_plugin_api::model::secret::with_exposed_secrets(|| serde_json::to_value(stored))
            .unwrap_or(Value::Null);
    strip_limit_views(&mut changes, &stored_json, &top_budgets, &top_limits);
    if let Some(Value::Array(configs)) = changes.get_mut("provider_configs") {
        for config in configs.iter_mut() {
            let provider = config.get("provider").cloned();
            let previous = stored_json["provider_configs"]
                .as_array()
                .and_then(|all| all.iter().find(|c| c.get("provider") == provider.as_ref()))
                .cloned()
                .unwrap_or(Value::Null);
            if let Value::Object(fields) = config {
                strip_limit_views(fields, &previous, &top_budgets, &top_limits);
                // A key object's name and provider are shown, not stored: its id is the key.
                if let Some(Value::Array(keys)) = fields.get_mut("keys") {
                    for key in keys.iter_mut() {
                        if let Some(id) = key.get("key_id").cloned() {
                            *key = id;
                        }
                    }
                }
            }
        }
    }
    changes
}

/// In `fields` (a key's or a provider config's), drops budgets and a rate limit that are views
/// of top-level ones, and puts the stored usage back on the rest.
fn strip_limit_views(
    fields: &mut Map<String, Value>,
    stored: &Value,
    top_budgets: &[&str],
    top_limits: &[&str],
) {
    const BUDGET_USAGE: &[&str] = &["current_usage", "last_reset"];
    const LIMIT_USAGE: &[&str] = &[
        "token_current_usage",
        "token_last_reset",
        "request_current_usage",
        "request_last_reset",
    ];
    let restore_usage = |item: &mut Value, stored_item: Option<&Value>, usage: &[&str]| {
        if let Value::Object(object) = item {
            for field in usage {
                match stored_item.and_then(|s| s.get(*field)) {
                    Some(value) => object.insert((*field).to_owned(), value.clone()),
                    None => object.remove(*field),
                };
            }
        }
    };
    // The stored budget with the same id as a budget sent, if any.
    let stored_budget = |budget: &Value| {
        stored["budgets"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s.get("id") == budget.get("id")))
    };
    if let Some(Value::Array(budgets)) = fields.get_mut("budgets") {
        budgets.retain(|b| {
            let id = b.get("id").and_then(Value::as_str).unwrap_or("");
            stored_budget(b).is_some() || !top_budgets.contains(&id)
        });
        for budget in budgets.iter_mut() {
            let own = stored_budget(budget).cloned();
            restore_usage(budget, own.as_ref(), BUDGET_USAGE);
        }
    }
    if let Some(limit) = fields.get_mut("rate_limit") {
        let id = limit
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let own = stored["rate_limit"].get("id").and_then(Value::as_str) == Some(id.as_str());
        if !own && top_limits.contains(&id.as_str()) {
            fields.remove("rate_limit");
        } else {
            let stored_limit = own.then(|| &stored["rate_limit"]);
            restore_usage(limit, stored_limit, LIMIT_USAGE);
        }
    }
}

/// Merges the fields of an update into the stored key (see the module docs).
fn apply_changes(stored: &VirtualKey, changes: Map<String, Value>) -> Result<VirtualKey, ApiError> {
    let redacted_value = stored.value.redacted();
    let mut merged = match keyward_plugin_api::model::secret::with_exposed_secrets(|| {
        serde_json::to_value(stored)
    }) {
        Ok(Value::Object(fields)) => fields,
        _ => return Err(ApiError::internal("cannot read the stored virtual key")),
    };
    // Embedded objects are views, never stored.
    merged.remove("team");
    merged.remove("customer");
    let attaches = changes.contains_key("team_id") || changes.contains_key("customer_id");
    for (field, value) in changes {
        match field.as_str() {
            "id" | "created_at" | "updated_at" => {}
            "value" if value.as_str() == Some(redacted_value.as_str()) => {}
            _ => {
                merged.insert(field, value);
            }
        }
    }
    if attaches {
        // Attaching to one side detaches from the other unless both were sent (then `check`
        // refuses the pair).
        for side in ["team_id", "customer_id"] {
            if merged.get(side).is_some_and(Value::is_null) {
                merged.remove(side);
            }
        }
    }
    parse_json(Value::Object(merged).to_string().as_bytes())
}

/// Gives ids to budgets, rate limits and provider configs that came without one; an updated
/// budget without an id takes the id of the stored budget with the same `reset_duration`.
fn assign_ids(vk: &mut VirtualKey, stored: Option<&VirtualKey>) {
    let stored_budget_id = |budgets: &[keyward_plugin_api::model::governance::Budget],
                            duration: &str| {
        budgets
            .iter()
            .find(|b| b.reset_duration.as_str() == duration)
            .map(|b| b.id.clone())
    };
    for budget in &mut vk.budgets {
        if budget.id.is_empty() {
            budget.id = stored
                .and_then(|s| stored_budget_id(&s.budgets, budget.reset_duration.as_str()))
                .unwrap_or_else(fresh_id);
        }
    }
    if let Some(limit) = &mut vk.rate_limit
        && limit.id.is_empty()
    {
        limit.id = stored
            .and_then(|s| s.rate_limit.as_ref())
            .map(|l| l.id.clone())
            .unwrap_or_else(fresh_id);
    }
    let mut next_config_id = vk
        .provider_configs
        .iter()
        .filter_map(|c| c.id)
        .max()
        .unwrap_or(0);
    for config in &mut vk.provider_configs {
        let previous = stored.and_then(|s| {
            s.provider_configs
                .iter()
                .find(|p| p.provider == config.provider)
        });
        // A new config gets an id and its key's id; a stored one keeps what it had.
        match previous {
            Some(previous) => {
                config.id = config.id.or(previous.id);
                if config.virtual_key_id.is_none() {
                    config.virtual_key_id.clone_from(&previous.virtual_key_id);
                }
            }
            None => {
                if config.id.is_none() {
                    next_config_id += 1;
                    config.id = Some(next_config_id);
                }
                config.virtual_key_id = Some(vk.id.clone());
            }
        }
        for budget in &mut config.budgets {
            if budget.id.is_empty() {
                budget.id = previous
                    .and_then(|p| stored_budget_id(&p.budgets, budget.reset_duration.as_str()))
                    .unwrap_or_else(fresh_id);
            }
        }
        if let Some(limit) = &mut config.rate_limit
            && limit.id.is_empty()
        {
            limit.id = previous
                .and_then(|p| p.rate_limit.as_ref())
                .map(|l| l.id.clone())
                .unwrap_or_else(fresh_id);
        }
    }
}

/// The rules a virtual key must follow against the rest of the configuration.
fn check(
    vk: &VirtualKey,
    documents: &GovernanceDocument,
    config: &HostConfig,
    updating: Option<&str>,
) -> Result<(), ApiError> {
    vk.validate().map_err(|(path, reason)| {
        ApiError::bad_request(path.clone(), format!("{path}: {reason}"))
    })?;
    if vk.name.trim().is_empty() {
        return Err(ApiError::bad_request("name", "name is required"));
    }
    // Its own redacted form sent back was put back by `apply_changes`: what remains is another
    // key's, or a placeholder, never a value to store.
    let unchanged = documents
        .virtual_keys
        .iter()
        .any(|k| Some(k.id.as_str()) == updating && k.value == vk.value);
    if !unchanged && looks_redacted(vk.value.expose()) {
        return Err(ApiError::bad_request(
            "value",
            "value is a redacted placeholder (another key's, or not this key's current one); send the real value, or this key's redacted value back to keep it",
        ));
    }
    if documents
        .virtual_keys
        .iter()
        .any(|k| Some(k.id.as_str()) != updating && k.name == vk.name)
    {
        return Err(ApiError::conflict(
            "name",
            format!(
                "a virtual key named `{}` already exists",
                truncate(&vk.name)
            ),
        ));
    }
    if documents
        .virtual_keys
        .iter()
        .any(|k| Some(k.id.as_str()) != updating && k.value == vk.value)
    {
        return Err(ApiError::conflict(
            "value",
            "another virtual key already has this value",
        ));
    }
    if let Some(team) = &vk.team_id
        && !documents.teams.iter().any(|t| &t.id == team)
    {
        return Err(ApiError::bad_request(
            "team_id",
            format!("team not found: {}", truncate(team)),
        ));
    }
    if let Some(customer) = &vk.customer_id
        && !documents.customers.iter().any(|c| &c.id == customer)
    {
        return Err(ApiError::bad_request(
            "customer_id",
            format!("customer not found: {}", truncate(customer)),
        ));
    }
    for (p, provider_config) in vk.provider_configs.iter().enumerate() {
        for (k, key) in provider_config.keys.iter().enumerate() {
            if key.key_id == "*" {
                continue;
            }
            let exists = config
                .providers
                .get(&provider_config.provider)
                .is_some_and(|entry| entry.keys.iter().any(|pk| pk.id == key.key_id));
            if !exists {
                return Err(ApiError::bad_request(
                    format!("provider_configs[{p}].key_ids[{k}]"),
                    format!(
                        "provider key {} is not a key of provider {}",
                        truncate(&key.key_id),
                        truncate(&provider_config.provider)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The key as responses show it: embedded team (with its customer) and customer, every budget
/// that applies to it with current usage, its rate limit with current usage, and each provider
/// config's keys with their names.
fn embed(
    vk: &VirtualKey,
    documents: &GovernanceDocument,
    config: &HostConfig,
    usage: &UsageView,
) -> VirtualKey {
    let mut vk = vk.clone();
    let budget_by_id = |id: &str| documents.budgets.iter().find(|b| b.id == id).cloned();
    if let Some(id) = &vk.budget_id
        && !vk.budgets.iter().any(|b| &b.id == id)
        && let Some(budget) = budget_by_id(id)
    {
        vk.budgets.push(budget);
    }
    for budget in documents
        .budgets
        .iter()
        .filter(|b| b.virtual_key_id.as_deref() == Some(vk.id.as_str()))
    {
        if !vk.budgets.iter().any(|b| b.id == budget.id) {
            vk.budgets.push(budget.clone());
        }
    }
    if vk.rate_limit.is_none()
        && let Some(id) = &vk.rate_limit_id
    {
        vk.rate_limit = documents.rate_limits.iter().find(|l| &l.id == id).cloned();
    }
    for budget in &mut vk.budgets {
        usage.fill_budget(budget);
    }
    if let Some(limit) = &mut vk.rate_limit {
        usage.fill_rate_limit(limit);
    }
    for provider_config in &mut vk.provider_configs {
        if let Some(id) = &provider_config.budget_id
            && !provider_config.budgets.iter().any(|b| &b.id == id)
            && let Some(budget) = budget_by_id(id)
        {
            provider_config.budgets.push(budget);
        }
        if provider_config.rate_limit.is_none()
            && let Some(id) = &provider_config.rate_limit_id
        {
            provider_config.rate_limit =
                documents.rate_limits.iter().find(|l| &l.id == id).cloned();
        }
        for budget in &mut provider_config.budgets {
            usage.fill_budget(budget);
        }
        if let Some(limit) = &mut provider_config.rate_limit {
            usage.fill_rate_limit(limit);
        }
        let keys = config
            .providers
            .get(&provider_config.provider)
            .map(|p| p.keys.as_slice())
            .unwrap_or(&[]);
        provider_config.keys = provider_config
            .keys
            .iter()
            .map(|k| ProviderConfigKey {
                key_id: k.key_id.clone(),
                name: keys
                    .iter()
                    .find(|pk| pk.id == k.key_id)
                    .map(|pk| pk.name.clone())
                    .or_else(|| k.name.clone()),
                provider: Some(provider_config.provider.clone()),
            })
            .collect();
    }
    let customer_of = |id: &str| {
        documents
            .customers
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .map(|mut c| {
                if let Some(budget) = c.budget_id.as_deref().and_then(budget_by_id) {
                    c.budget = Some(budget);
                }
                if let Some(budget) = &mut c.budget {
                    usage.fill_budget(budget);
                }
                Box::new(c)
            })
    };
    if let Some(team_id) = &vk.team_id
        && let Some(mut team) = documents.teams.iter().find(|t| &t.id == team_id).cloned()
    {
        if let Some(budget) = team.budget_id.as_deref().and_then(budget_by_id) {
            team.budget = Some(budget);
        }
        if let Some(budget) = &mut team.budget {
            usage.fill_budget(budget);
        }
        team.customer = team.customer_id.as_deref().and_then(customer_of);
        vk.team = Some(Box::new(team));
    }
    if let Some(customer_id) = &vk.customer_id {
        vk.customer = customer_of(customer_id);
    }
    vk
}
