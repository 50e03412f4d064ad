//! Bifrost's routes for the governance lists keyward keeps as documents of the `governance`
//! block: `/api/governance/model-configs[/{id}]` (`model_configs`),
//! `/api/governance/pricing-overrides[/{id}]` (`pricing_overrides`),
//! `/api/governance/providers[/{name}]` (`providers`: a provider's own budget and rate limit,
//! named by the provider; `PUT` creates or updates, there is no `POST`, as in Bifrost) and the
//! routing rules, at `/api/routing/rules[/{id}]` and Bifrost's older alias
//! `/api/governance/routing-rules[/{id}]` (`routing_rules`). List (`{model_configs,
//! total_count}`; routing rules `{rules, count, total_count, limit, offset}`, filtered by `scope`
//! and `scope_id`, paged by `limit`, `offset` and a name `search`), read (`{model_config}`,
//! `{rule}`), create (an id is generated when missing — always, for a routing rule, as Bifrost
//! does; 409 when it exists), update (fields sent replace the stored ones, `null` clears),
//! delete. The governance plugin checks every change (a bad entry is refused naming its path)
//! before it is saved. A pricing override's `patch` object (Bifrost's API form) is stored as
//! its `pricing_patch` string, as Bifrost's file form has it. Deleting a model config deletes the
//! budgets that name it as their owner. A global routing rule keeps no `scope_id`.

use axum::{Json, Router, extract::State, routing::get};
use keyward_host_core::config::HostConfig;
use serde_json::{Map, Value, json};

use super::fresh_id;
use crate::http::api::apply_fields;
use crate::http::{
    error::ApiError,
    extract::{JsonBody, Path, RawQuery, truncate},
    state::AppState,
};

/// One list: its route, its field in the governance block, and its names in answers.
#[derive(Clone, Copy)]
struct List {
    field: &'static str,
    /// The list's name in a list answer.
    many: &'static str,
    one: &'static str,
    label: &'static str,
    /// The field that names an entry (`id`, or a provider entry's `name`).
    key: &'static str,
    /// Whether `PUT` creates a missing entry.
    upsert: bool,
    /// Whether the list answer is Bifrost's paged shape (`count`, `limit`, `offset`, filters)
    /// and a created entry always gets a fresh id (routing rules).
    paged: bool,
}

const MODEL_CONFIGS: List = List {
    field: "model_configs",
    many: "model_configs",
    one: "model_config",
    label: "Model config",
    key: "id",
    upsert: false,
    paged: false,
};
const PRICING_OVERRIDES: List = List {
    field: "pricing_overrides",
    many: "pricing_overrides",
    one: "pricing_override",
    label: "Pricing override",
    key: "id",
    upsert: false,
    paged: false,
};
const PROVIDERS: List = List {
    field: "providers",
    many: "providers",
    one: "provider",
    label: "Provider governance",
    key: "name",
    upsert: true,
    paged: false,
};
const ROUTING_RULES: List = List {
    field: "routing_rules",
    many: "rules",
    one: "rule",
    label: "Routing rule",
    key: "id",
    upsert: false,
    paged: true,
};

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for (path, list) in [
        ("/api/governance/model-configs", MODEL_CONFIGS),
        ("/api/governance/pricing-overrides", PRICING_OVERRIDES),
        ("/api/routing/rules", ROUTING_RULES),
        ("/api/governance/routing-rules", ROUTING_RULES),
    ] {
        router = router
            .route(
                path,
                get(move |state, query| list_all(state, query, list))
                    .post(move |state, body| create(state, body, list)),
            )
            .route(
                &format!("{path}/{{id}}"),
                get(move |state, id| read(state, id, list))
                    .put(move |state, id, body| update(state, id, body, list))
                    .delete(move |state, id| remove(state, id, list)),
            );
    }
    router
        .route(
            "/api/governance/providers",
            get(move |state, query| list_all(state, query, PROVIDERS)),
        )
        .route(
            "/api/governance/providers/{id}",
            get(move |state, id| read(state, id, PROVIDERS))
                .put(move |state, id, body| update(state, id, body, PROVIDERS))
                .delete(move |state, id| remove(state, id, PROVIDERS)),
        )
}

fn items(config: &HostConfig, list: List) -> &[Value] {
    config
        .governance
        .get(list.field)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn items_mut(config: &mut HostConfig, list: List) -> &mut Vec<Value> {
    let slot = config
        .governance
        .entry(list.field.to_owned())
        .or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    slot.as_array_mut().expect("made an array above")
}

/// Whether `item` is the entry named `id`.
fn is(item: &Value, list: List, id: &str) -> bool {
    item.get(list.key).and_then(Value::as_str) == Some(id)
}

fn not_found(list: List, id: &str) -> ApiError {
    ApiError::not_found(format!("{} not found: {}", list.label, truncate(id)))
}

/// The body as an entry: an object; a pricing override's `patch` object becomes its
/// `pricing_patch` string.
fn entry_of(body: Value, list: List) -> Result<Map<String, Value>, ApiError> {
    let Value::Object(mut fields) = body else {
        return Err(ApiError::bad_request(
            "body",
            "the body must be a JSON object",
        ));
    };
    if list.field == PRICING_OVERRIDES.field
        && let Some(patch) = fields.remove("patch")
    {
        if !patch.is_object() {
            return Err(ApiError::bad_request(
                "patch",
                "patch must be a JSON object",
            ));
        }
        fields.insert("pricing_patch".to_owned(), Value::String(patch.to_string()));
    }
    for stamp in ["created_at", "updated_at"] {
        fields.remove(stamp);
    }
    if list.paged
        && fields.get("scope").and_then(Value::as_str) == Some("global")
        && fields.get("scope_id").is_some_and(Value::is_string)
    {
        // Bifrost keeps no scope_id for a global rule: one sent is cleared (a `null` sent, or
        // none, leaves the stored rule as it is).
        fields.insert("scope_id".to_owned(), Value::Null);
    } else if list.paged && fields.get("scope_id") == Some(&Value::Null) {
        fields.remove("scope_id");
    }
    Ok(fields)
}

async fn list_all(
    State(state): State<AppState>,
    query: RawQuery,
    list: List,
) -> Result<Json<Value>, ApiError> {
    let config = state.store.snapshot();
    let all = items(&config, list);
    if !list.paged {
        return Ok(Json(json!({ list.many: all, "total_count": all.len() })));
    }
    let field_is = |item: &Value, field: &str, wanted: Option<&str>| {
        wanted.is_none_or(|w| {
            let value = item.get(field).and_then(Value::as_str).unwrap_or("");
            // A rule without a scope is global.
            value == w || (field == "scope" && value.is_empty() && w == "global")
        })
    };
    let search = query.get("search").map(|s| s.to_lowercase());
    let matching: Vec<&Value> = all
        .iter()
        .filter(|item| field_is(item, "scope", query.get("scope")))
        .filter(|item| field_is(item, "scope_id", query.get("scope_id")))
        .filter(|item| {
            search.as_deref().is_none_or(|s| {
                let name = item.get("name").and_then(Value::as_str).unwrap_or("");
                name.to_lowercase().contains(s)
            })
        })
        .collect();
    let number = |name: &str| -> Result<Option<usize>, ApiError> {
        query
            .get(name)
            .map(|text| {
                text.parse::<usize>().map_err(|_| {
                    ApiError::bad_request(
                        name,
                        format!("Invalid {name} parameter: must be a non-negative number"),
                    )
                })
            })
            .transpose()
    };
    let total = matching.len();
    let offset = number("offset")?.unwrap_or(0).min(total);
    let limit = number("limit")?.unwrap_or(total).min(total - offset);
    let page = &matching[offset..offset + limit];
    Ok(Json(json!({
        list.many: page,
        "count": page.len(),
        "total_count": total,
        "limit": limit,
        "offset": offset,
    })))
}

async fn read(
    State(state): State<AppState>,
    Path(id): Path<String>,
    list: List,
) -> Result<Json<Value>, ApiError> {
    let config = state.store.snapshot();
    let item = items(&config, list)
        .iter()
        .find(|i| is(i, list, &id))
        .cloned()
        .ok_or_else(|| not_found(list, &id))?;
    Ok(Json(json!({ list.one: item })))
}

async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Value>,
    list: List,
) -> Result<Json<Value>, ApiError> {
    let mut fields = entry_of(body, list)?;
    let id = match fields.get("id") {
        _ if list.paged => fresh_id(),
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        None => fresh_id(),
        Some(_) => return Err(ApiError::bad_request("id", "id must be a non-empty string")),
    };
    fields.insert("id".to_owned(), Value::String(id.clone()));
    let item = Value::Object(fields);
    let created = state
        .store
        .update(move |config| -> Result<_, ApiError> {
            if items(config, list).iter().any(|i| is(i, list, &id)) {
                return Err(ApiError::conflict(
                    "id",
                    format!(
                        "a {} with this id already exists",
                        list.one.replace('_', " ")
                    ),
                ));
            }
            items_mut(config, list).push(item.clone());
            Ok(item)
        })
        .await?;
    Ok(Json(json!({
        "message": format!("{} created successfully", list.label),
        list.one: created,
    })))
}

async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
    list: List,
) -> Result<Json<Value>, ApiError> {
    let changes = entry_of(body, list)?;
    let updated = state
        .store
        .update(move |config| -> Result<_, ApiError> {
            let all = items_mut(config, list);
            if list.upsert && !all.iter().any(|i| is(i, list, &id)) {
                all.push(json!({ list.key: id.clone() }));
            }
            let stored = all
                .iter_mut()
                .find(|i| is(i, list, &id))
                .ok_or_else(|| not_found(list, &id))?;
            if let Value::Object(fields) = stored {
                apply_fields(fields, changes, &[list.key]);
            }
            Ok(stored.clone())
        })
        .await?;
    Ok(Json(json!({
        "message": format!("{} updated successfully", list.label),
        list.one: updated,
    })))
}

async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    list: List,
) -> Result<Json<Value>, ApiError> {
    state
        .store
        .update(move |config| -> Result<_, ApiError> {
            let all = items_mut(config, list);
            let before = all.len();
            all.retain(|i| !is(i, list, &id));
            if all.len() == before {
                return Err(not_found(list, &id));
            }
            if list.field == MODEL_CONFIGS.field
                && let Some(Value::Array(budgets)) = config.governance.get_mut("budgets")
            {
                budgets.retain(|b| {
                    b.get("model_config_id").and_then(Value::as_str) != Some(id.as_str())
                });
            }
            Ok(())
        })
        .await?;
    Ok(Json(
        json!({ "message": format!("{} deleted successfully", list.label) }),
    ))
}
