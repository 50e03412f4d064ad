//! `GET /api/governance/budgets` (`{budgets, count}`) and `GET /api/governance/rate-limits`
//! (`{rate_limits, count}`): every budget and rate limit of the configuration — referenced by id
//! or embedded in a key, provider config, team or customer — with its current usage.

use axum::{Json, Router, extract::State, routing::get};
use keyward_plugin_api::model::governance::{Budget, RateLimit};
use serde_json::{Value, json};

use super::usage::UsageView;
use crate::{
    http::{error::ApiError, state::AppState},
    service::governance::document,
};

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/governance/budgets", get(budgets))
        .route("/api/governance/rate-limits", get(rate_limits))
}

async fn budgets(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let documents = document(&state.store.snapshot())?;
    let mut all: Vec<Budget> = documents.budgets.clone();
    for vk in &documents.virtual_keys {
        all.extend(vk.budgets.iter().cloned());
        for config in &vk.provider_configs {
            all.extend(config.budgets.iter().cloned());
        }
    }
    for team in &documents.teams {
        all.extend(team.all_budgets().cloned());
    }
    for customer in &documents.customers {
        all.extend(customer.all_budgets().cloned());
    }
    let view = UsageView::current(&state);
    for budget in &mut all {
        view.fill_budget(budget);
    }
    Ok(Json(json!({ "budgets": all, "count": all.len() })))
}

async fn rate_limits(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let documents = document(&state.store.snapshot())?;
    let mut all: Vec<RateLimit> = documents.rate_limits.clone();
    for vk in &documents.virtual_keys {
        all.extend(vk.rate_limit.iter().cloned());
        for config in &vk.provider_configs {
            all.extend(config.rate_limit.iter().cloned());
        }
    }
    for team in &documents.teams {
        all.extend(team.rate_limit.iter().cloned());
    }
    for customer in &documents.customers {
        all.extend(customer.rate_limit.iter().cloned());
    }
    let view = UsageView::current(&state);
    for limit in &mut all {
        view.fill_rate_limit(limit);
    }
    Ok(Json(json!({ "rate_limits": all, "count": all.len() })))
}
