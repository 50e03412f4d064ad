//! Teams (`/api/governance/teams`) and customers (`/api/governance/customers`): full CRUD, in
//! Bifrost's shapes (`{teams, count}`, `{message, team}`, `{team}`; the same for customers).
//! A team or customer still referenced by a virtual key (or a customer by a team) cannot be
//! deleted: 409, naming who references it.

use axum::{Json, Router, extract::State, routing::get};
use chrono::Utc;
use keyward_plugin_api::model::governance::{Customer, Team};
use serde_json::{Map, Value, json};

use super::fresh_id;
use crate::{
    http::{
        error::ApiError,
        extract::{JsonBody, Path, RawQuery, parse_json, truncate},
        state::AppState,
    },
    service::governance::{document, set_document},
};

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/governance/teams", get(list_teams).post(create_team))
        .route(
            "/api/governance/teams/{team_id}",
            get(read_team).put(update_team).delete(delete_team),
        )
        .route(
            "/api/governance/customers",
            get(list_customers).post(create_customer),
        )
        .route(
            "/api/governance/customers/{customer_id}",
            get(read_customer)
                .put(update_customer)
                .delete(delete_customer),
        )
}

async fn list_teams(
    State(state): State<AppState>,
    query: RawQuery,
) -> Result<Json<Value>, ApiError> {
    let documents = document(&state.store.snapshot())?;
    let customer = query.get("customer_id").filter(|c| !c.is_empty());
    let teams: Vec<&Team> = documents
        .teams
        .iter()
        .filter(|t| customer.is_none_or(|c| t.customer_id.as_deref() == Some(c)))
        .collect();
    Ok(Json(json!({ "teams": teams, "count": teams.len() })))
}

async fn read_team(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let documents = document(&state.store.snapshot())?;
    let team = documents
        .teams
        .iter()
        .find(|t| t.id == id)
        .ok_or_else(|| team_not_found(&id))?;
    Ok(Json(json!({ "team": team })))
}

async fn create_team(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let mut team: Team = new_document(body, "Team")?;
    team.created_at = Some(Utc::now());
    team.updated_at = team.created_at;
    let saved = state
        .store
        .update(move |config| -> Result<_, ApiError> {
            let mut documents = document(config)?;
            if documents.teams.iter().any(|t| t.id == team.id) {
                return Err(ApiError::conflict(
                    "id",
                    "a team with this id already exists",
                ));
            }
            check_customer(&documents.customers, team.customer_id.as_deref())?;
            fill_ids(&mut team.budget, &mut team.budgets, &mut team.rate_limit);
            documents.teams.push(team.clone());
            set_document(config, &documents)?;
            Ok(team)
        })
        .await?;
    Ok(Json(
        json!({ "message": "Team created successfully", "team": saved }),
    ))
}

async fn update_team(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let saved = state
        .store
        .update(move |config| -> Result<_, ApiError> {
            let mut documents = document(config)?;
            let index = documents
                .teams
                .iter()
                .position(|t| t.id == id)
                .ok_or_else(|| team_not_found(&id))?;
            let mut team: Team = merge(&documents.teams[index], body)?;
            // A body that changes nothing (a GET sent back) leaves the team as it was.
            if team != documents.teams[index] {
                team.updated_at = Some(Utc::now());
            }
            check_customer(&documents.customers, team.customer_id.as_deref())?;
            fill_ids(&mut team.budget, &mut team.budgets, &mut team.rate_limit);
            documents.teams[index] = team.clone();
            set_document(config, &documents)?;
            Ok(team)
        })
        .await?;
    Ok(Json(
        json!({ "message": "Team updated successfully", "team": saved }),
    ))
}

async fn delete_team(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state
        .store
        .update(move |config| -> Result<_, ApiError> {
            let mut documents = document(config)?;
            let index = documents
                .teams
                .iter()
                .position(|t| t.id == id)
                .ok_or_else(|| team_not_found(&id))?;
            if let Some(vk) = documents
                .virtual_keys
                .iter()
                .find(|k| k.team_id.as_deref() == Some(id.as_str()))
            {
                return Err(ApiError::conflict(
                    "team_id",
                    format!(
                        "team {} is used by virtual key {}",
                        truncate(&id),
                        truncate(&vk.id)
                    ),
                ));
            }
            documents.teams.remove(index);
            documents
                .budgets
                .retain(|b| b.team_id.as_deref() != Some(id.as_str()));
            set_document(config, &documents)?;
            Ok(())
        })
        .await?;
    Ok(Json(json!({ "message": "Team deleted successfully" })))
}

async fn list_customers(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let documents = document(&state.store.snapshot())?;
    Ok(Json(
        json!({ "customers": documents.customers, "count": documents.customers.len() }),
    ))
}

async fn read_customer(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let documents = document(&state.store.snapshot())?;
    let customer = documents
        .customers
        .iter()
        .find(|c| c.id == id)
        .ok_or_else(|| customer_not_found(&id))?;
    Ok(Json(json!({ "customer": customer })))
}

async fn create_customer(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let mut customer: Customer = new_document(body, "Customer")?;
    customer.created_at = Some(Utc::now());
    customer.updated_at = customer.created_at;
    let saved = state
        .store
        .update(move |config| -> Result<_, ApiError> {
            let mut documents = document(config)?;
            if documents.customers.iter().any(|c| c.id == customer.id) {
                return Err(ApiError::conflict(
                    "id",
                    "a customer with this id already exists",
                ));
            }
            fill_ids(
                &mut customer.budget,
                &mut customer.budgets,
                &mut customer.rate_limit,
            );
            documents.customers.push(customer.clone());
            set_document(config, &documents)?;
            Ok(customer)
        })
        .await?;
    Ok(Json(
        json!({ "message": "Customer created successfully", "customer": saved }),
    ))
}

async fn update_customer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let saved = state
        .store
        .update(move |config| -> Result<_, ApiError> {
            let mut documents = document(config)?;
            let index = documents
                .customers
                .iter()
                .position(|c| c.id == id)
                .ok_or_else(|| customer_not_found(&id))?;
            let mut customer: Customer = merge(&documents.customers[index], body)?;
            if customer != documents.customers[index] {
                customer.updated_at = Some(Utc::now());
            }
            fill_ids(
                &mut customer.budget,
                &mut customer.budgets,
                &mut customer.rate_limit,
            );
            documents.customers[index] = customer.clone();
            set_document(config, &documents)?;
            Ok(customer)
        })
        .await?;
    Ok(Json(
        json!({ "message": "Customer updated successfully", "customer": saved }),
    ))
}

async fn delete_customer(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state
        .store
        .update(move |config| -> Result<_, ApiError> {
            let mut documents = document(config)?;
            let index = documents
                .customers
                .iter()
                .position(|c| c.id == id)
                .ok_or_else(|| customer_not_found(&id))?;
            let referrer = documents
                .virtual_keys
                .iter()
                .find(|k| k.customer_id.as_deref() == Some(id.as_str()))
                .map(|k| format!("virtual key {}", truncate(&k.id)))
                .or_else(|| {
                    documents
                        .teams
                        .iter()
                        .find(|t| t.customer_id.as_deref() == Some(id.as_str()))
                        .map(|t| format!("team {}", truncate(&t.id)))
                });
            if let Some(referrer) = referrer {
                return Err(ApiError::conflict(
                    "customer_id",
                    format!("customer {} is used by {referrer}", truncate(&id)),
                ));
            }
            documents.customers.remove(index);
            set_document(config, &documents)?;
            Ok(())
        })
        .await?;
    Ok(Json(json!({ "message": "Customer deleted successfully" })))
}

fn team_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("team not found: {}", truncate(id)))
}

fn customer_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("customer not found: {}", truncate(id)))
}

fn check_customer(customers: &[Customer], customer_id: Option<&str>) -> Result<(), ApiError> {
    match customer_id {
        Some(id) if !customers.iter().any(|c| c.id == id) => Err(ApiError::bad_request(
            "customer_id",
            format!("customer not found: {}", truncate(id)),
        )),
        _ => Ok(()),
    }
}

/// A document from a create body: an object with a non-empty `name`; an id is generated when
/// absent.
fn new_document<T: serde::de::DeserializeOwned>(body: Value, kind: &str) -> Result<T, ApiError> {
    let Value::Object(mut fields) = body else {
        return Err(ApiError::bad_request(
            "body",
            "the body must be a JSON object",
        ));
    };
    if fields
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(|n| n.trim().is_empty())
    {
        return Err(ApiError::bad_request(
            "name",
            format!("{kind} name is required"),
        ));
    }
    fields
        .entry("id")
        .or_insert_with(|| Value::String(fresh_id()));
    parse_json(Value::Object(fields).to_string().as_bytes())
}

/// The stored document with the body's fields replacing its own (the id is kept).
fn merge<T: serde::Serialize + serde::de::DeserializeOwned>(
    stored: &T,
    body: Value,
) -> Result<T, ApiError> {
    let Value::Object(changes) = body else {
        return Err(ApiError::bad_request(
            "body",
            "the body must be a JSON object",
        ));
    };
    let mut merged: Map<String, Value> = match serde_json::to_value(stored) {
        Ok(Value::Object(fields)) => fields,
        _ => return Err(ApiError::internal("cannot read the stored document")),
    };
    for (field, value) in changes {
        if !matches!(
            field.as_str(),
            "id" | "created_at" | "updated_at" | "customer"
        ) {
            merged.insert(field, value);
        }
    }
    if merged
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(|n| n.trim().is_empty())
    {
        return Err(ApiError::bad_request("name", "name must not be empty"));
    }
    parse_json(Value::Object(merged).to_string().as_bytes())
}

fn fill_ids(
    budget: &mut Option<keyward_plugin_api::model::governance::Budget>,
    budgets: &mut [keyward_plugin_api::model::governance::Budget],
    rate_limit: &mut Option<keyward_plugin_api::model::governance::RateLimit>,
) {
    for budget in budget.iter_mut().chain(budgets.iter_mut()) {
        if budget.id.is_empty() {
            budget.id = fresh_id();
        }
    }
    if let Some(limit) = rate_limit
        && limit.id.is_empty()
    {
        limit.id = fresh_id();
    }
}
