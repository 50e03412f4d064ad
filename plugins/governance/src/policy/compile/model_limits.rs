//! Compiles `governance.model_configs` and `governance.providers` into
//! [`ModelLimits`](crate::model_limits::ModelLimits): one level per entry (its budgets — those
//! naming it as owner, `budget_ids`, `budget_id` — and its rate limit), a path through it, and
//! the tables requests are matched with.

use std::collections::HashMap;

use keyward_plugin_api::model::governance::{
    ModelConfig, ModelConfigScope, ProviderGovernance, budget::BudgetOwner,
};

use super::{Builder, Limits, Result, label, path_through};
use crate::{
    config::invalid,
    model_limits::{ModelLimits, ModelTable},
    policy::{KeyPolicy, LevelKind},
};

/// Builds the model-level and provider-level limits; a virtual-key-scoped model config goes to
/// its key's table in `keys`.
pub(super) fn compile_model_limits<'c>(
    builder: &mut Builder<'c>,
    model_configs: &'c [ModelConfig],
    providers: &'c [ProviderGovernance],
    keys: &mut [KeyPolicy],
    key_index: &HashMap<&str, usize>,
) -> Result<ModelLimits> {
    let mut limits = ModelLimits::default();
    for (i, entry) in providers.iter().enumerate() {
        let path = format!("providers[{i}]");
        if entry.name.trim().is_empty() {
            return Err(invalid(&format!("{path}.name"), "must not be empty"));
        }
        let own = Limits {
            me: None,
            budget_id: entry.budget_id.as_deref().filter(|s| !s.is_empty()),
            budgets: Vec::new(),
            rate_limit_id: entry.rate_limit_id.as_deref().filter(|s| !s.is_empty()),
            rate_limit: None,
            calendar_aligned: false,
        };
        let level = builder.level(
            LevelKind::Provider,
            format!("provider {:?}", entry.name),
            &format!("provider/{}", entry.name),
            &own,
            &path,
        )?;
        let index = limits.add(path_through(&[&level]), format!("provider/{}", entry.name));
        if limits
            .providers
            .insert(entry.name.as_str().into(), index)
            .is_some()
        {
            return Err(invalid(
                &format!("{path}.name"),
                format!("provider {:?} is listed twice", entry.name),
            ));
        }
    }
    let mut ids = HashMap::new();
    for (i, config) in model_configs.iter().enumerate() {
        let path = format!("model_configs[{i}]");
        config
            .validate()
            .map_err(|(field, reason)| invalid(&format!("{path}.{field}"), reason))?;
        if ids.insert(config.id.as_str(), i).is_some() {
            return Err(invalid(
                &format!("{path}.id"),
                format!("duplicate model config id {:?}", config.id),
            ));
        }
        let mut budgets = Vec::new();
        for (b, id) in config.budget_ids.iter().enumerate() {
            let (budget, budget_path) =
                builder.budgets.get(id.as_str()).cloned().ok_or_else(|| {
                    invalid(
                        &format!("{path}.budget_ids[{b}]"),
                        format!("no budget with id {id:?} in budgets"),
                    )
                })?;
            match budget.owner() {
                Ok(Some(BudgetOwner::ModelConfig(owner))) if owner == config.id => {}
                Ok(None) => {}
                _ => {
                    return Err(invalid(
                        &format!("{path}.budget_ids[{b}]"),
                        format!(
                            "budget {id:?} names another owner ({budget_path}); a budget has one owner"
                        ),
                    ));
                }
            }
            budgets.push(budget);
        }
        let own = Limits {
            me: Some(BudgetOwner::ModelConfig(&config.id)),
            budget_id: config.budget_id.as_deref().filter(|s| !s.is_empty()),
            budgets,
            rate_limit_id: config.rate_limit_id.as_deref().filter(|s| !s.is_empty()),
            rate_limit: None,
            calendar_aligned: config.calendar_aligned,
        };
        let scope = config
            .checked_scope()
            .map_err(|(field, reason)| invalid(&format!("{path}.{field}"), reason))?;
        let on = config.provider.as_deref().unwrap_or("every provider");
        let level = builder.level(
            LevelKind::ModelConfig,
            format!(
                "{} ({} on {on})",
                label("model config", "", &config.id),
                config.model_name
            ),
            &format!("model_config/{}", config.id),
            &own,
            &path,
        )?;
        let index = limits.add(path_through(&[&level]), config.id.clone());
        let table: &mut ModelTable = match scope {
            ModelConfigScope::Global => &mut limits.global,
            ModelConfigScope::VirtualKey(id) => {
                let key = key_index.get(id).ok_or_else(|| {
                    invalid(
                        &format!("{path}.scope_id"),
                        format!("no virtual key with id {id:?}"),
                    )
                })?;
                &mut keys[*key].model_configs
            }
        };
        if !table.insert(config.provider.as_deref(), &config.model_name, index) {
            return Err(invalid(
                &path,
                format!(
                    "another model config has the same scope, model_name ({:?}) and provider",
                    config.model_name
                ),
            ));
        }
    }
    Ok(limits)
}
