//! `governance.routing_rules`, compiled: each rule's expression, its weighted targets and its
//! fallbacks, indexed by scope (virtual key, team, customer, global) and sorted by priority
//! (lower first, file order among equals), with every answer the authorizer may lend the host
//! built beforehand, so a routed admission allocates nothing.
//!
//! Checked at build, each error naming `routing_rules[i].<field>`: Bifrost's save checks
//! ([`RoutingRule::validate`]), the expression (keyward's CEL subset, [`super::cel`]), the scope's
//! owner (a virtual key, team or customer of this configuration), unique ids, and names unique
//! within a scope. A fallback naming a provider the configuration does not know is dropped with a
//! warning, as Bifrost drops it when the request runs.

use std::collections::HashSet;

use keyward_plugin_api::{
    ffi::{Extension, ExtensionKey, Fallbacks, KeywardError, MAX_FALLBACKS},
    model::governance::{RoutingFallback, RoutingRule, RuleScope},
};
use rustc_hash::FxHashMap;

use super::cel::{Expression, MapVar};
use crate::{config::invalid, intern::intern};

/// `client.routing_chain_max_depth`'s default (Bifrost's).
pub const DEFAULT_CHAIN_DEPTH: u32 = 10;

/// The deepest chain keyward follows, whatever the configuration says (rules fired are tracked
/// on the stack).
pub const MAX_CHAIN_DEPTH: u32 = 32;

/// The most distinct models chain rules may choose (each target without a model keeps an
/// answer for each).
pub const MAX_CHAIN_MODELS: usize = 256;

/// One target of a compiled rule.
#[derive(Debug)]
pub struct Target {
    /// The provider it sends to (`None`: the request's).
    pub provider: Option<&'static str>,
    /// The model it sends (`None`: the request's).
    pub model: Option<&'static str>,
    /// The provider key it pins (id or name).
    pub pin: Option<&'static str>,
    /// Its share of the rule's total weight.
    pub weight: f64,
    /// The admission extensions for each model a request may end with: `[0]` for this
    /// target's own model (or, without one, the model as requested); `[1 + i]` for the model
    /// `chain_models[i]` an earlier chained rule chose.
    pub answers: Vec<Box<[Extension<'static>]>>,
}

/// One compiled rule.
#[derive(Debug)]
pub struct Rule {
    /// Its id.
    pub id: &'static str,
    /// Its condition.
    pub expression: Expression,
    /// Whether a match evaluates the rules again with its target.
    pub chain: bool,
    /// Its targets (at least one).
    pub targets: Vec<Target>,
    /// Their total weight (`0`: drawn uniformly).
    pub total_weight: f64,
    /// Its fallbacks, `provider` or `provider/model` (`provider/`: the model as requested);
    /// empty leaves the virtual key's own.
    pub fallbacks: Fallbacks<'static>,
}

/// Every rule, by scope.
#[derive(Debug, Default)]
pub struct RoutingTable {
    /// The rules, in file order.
    pub rules: Vec<Rule>,
    /// Global rules, by priority.
    pub global: Vec<u32>,
    /// Virtual-key rules by key id, by priority.
    pub by_key: FxHashMap<Box<str>, Vec<u32>>,
    /// Team rules by team id, by priority.
    pub by_team: FxHashMap<Box<str>, Vec<u32>>,
    /// Customer rules by customer id, by priority.
    pub by_customer: FxHashMap<Box<str>, Vec<u32>>,
    /// The models chained rules choose (what `Target::answers[1..]` are for).
    pub chain_models: Vec<&'static str>,
    /// How many chain steps a request may take.
    pub max_depth: u32,
    /// Whether an expression reads `params` (then the query string is decoded per request).
    pub reads_params: bool,
}

/// The owners a scope may name.
pub struct Owners<'c> {
    /// Virtual key ids.
    pub keys: HashSet<&'c str>,
    /// Team ids.
    pub teams: HashSet<&'c str>,
    /// Customer ids.
    pub customers: HashSet<&'c str>,
    /// Providers the host configures (`None`: not said, every fallback is kept).
    pub providers: Option<HashSet<&'c str>>,
}

impl RoutingTable {
    /// Whether any rule exists.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Compiles `rules`; warnings (fallbacks dropped) are appended to `warnings`.
    pub fn compile(
        rules: &[RoutingRule],
        max_depth: Option<u64>,
        owners: &Owners<'_>,
        warnings: &mut Vec<String>,
    ) -> Result<Self, KeywardError> {
        let max_depth = match max_depth {
            None => DEFAULT_CHAIN_DEPTH,
            Some(0) => {
                return Err(invalid(
                    "routing_chain_max_depth",
                    "must be at least 1 (client.routing_chain_max_depth)",
                ));
            }
            Some(depth) => u32::try_from(depth)
                .unwrap_or(u32::MAX)
                .min(MAX_CHAIN_DEPTH),
        };
        let mut table = Self {
            max_depth,
            ..Self::default()
        };
        let mut ids = HashSet::new();
        let mut names = HashSet::new();
        let mut scoped: Vec<(RuleScope<'_>, i64, u32)> = Vec::with_capacity(rules.len());
        let mut chain_models: Vec<&'static str> = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            let at = |field: &str| format!("routing_rules[{i}].{field}");
            rule.validate()
                .map_err(|(field, reason)| invalid(&at(&field), reason))?;
            if !ids.insert(rule.id.as_str()) {
                return Err(invalid(
                    &at("id"),
                    format!("duplicate routing rule id {:?}", rule.id),
                ));
            }
            let scope = rule
                .checked_scope()
                .map_err(|(field, reason)| invalid(&at(&field), reason))?;
            check_owner(scope, owners).map_err(|reason| invalid(&at("scope_id"), reason))?;
            if !names.insert((rule.name.as_str(), scope)) {
                return Err(invalid(
                    &at("name"),
                    format!(
                        "another routing rule in this scope is named {:?}",
                        rule.name
                    ),
                ));
            }
            let source = rule.cel_expression.as_deref().unwrap_or("");
            let expression = Expression::compile(source).map_err(|error| {
                invalid(
                    &at("cel_expression"),
                    format!("invalid CEL expression: {error}"),
                )
            })?;
            table.reads_params |= expression.reads_map(MapVar::Params);
            let chain = rule.is_chain_rule();
            for (t, target) in rule.targets.iter().enumerate() {
                if let (Some(provider), Some(known)) =
                    (target.provider.as_deref(), owners.providers.as_ref())
                    && !known.contains(provider)
                {
                    return Err(invalid(
                        &at(&format!("targets[{t}].provider")),
                        format!("provider {provider:?} is not configured"),
                    ));
                }
            }
            let targets: Vec<Target> = rule
                .targets
                .iter()
                .map(|target| Target {
                    provider: target.provider.as_deref().map(intern),
                    model: target.model.as_deref().map(intern),
                    pin: target.pinned_key().map(intern),
                    weight: target.share(),
                    answers: Vec::new(),
                })
                .collect();
            if chain {
                for model in targets.iter().filter_map(|t| t.model) {
                    if !chain_models.contains(&model) {
                        chain_models.push(model);
                    }
                }
            }
            let fallbacks = compile_fallbacks(rule, &at("fallbacks"), owners, warnings);
            let index = u32::try_from(table.rules.len()).unwrap_or(u32::MAX);
            table.rules.push(Rule {
                id: intern(&rule.id),
                expression,
                chain,
                total_weight: targets.iter().map(|t| t.weight).sum(),
                targets,
                fallbacks,
            });
            // A disabled rule is checked like the others but never evaluated.
            if rule.is_enabled() {
                scoped.push((scope, rule.priority.unwrap_or(0), index));
            }
        }
        // Priority ascending; file order among equals (Bifrost's order is undefined there).
        scoped.sort_by_key(|&(_, priority, index)| (priority, index));
        for (scope, _, index) in scoped {
            let list = match scope {
                RuleScope::Global => &mut table.global,
                RuleScope::VirtualKey(id) => table.by_key.entry(id.into()).or_default(),
                RuleScope::Team(id) => table.by_team.entry(id.into()).or_default(),
                RuleScope::Customer(id) => table.by_customer.entry(id.into()).or_default(),
            };
            list.push(index);
        }
        if chain_models.len() > MAX_CHAIN_MODELS {
            return Err(invalid(
                "routing_rules",
                format!(
                    "chain rules choose {} distinct models; at most {MAX_CHAIN_MODELS} are supported",
                    chain_models.len()
                ),
            ));
        }
        build_answers(&mut table.rules, &chain_models);
        table.chain_models = chain_models;
        Ok(table)
    }

    /// The rules a request of virtual key `key` (team `team`, customer `customer`) meets, most
    /// specific scope first, by priority within each.
    #[inline]
    pub fn chain_of<'a>(
        &'a self,
        key: Option<&str>,
        team: Option<&str>,
        customer: Option<&str>,
    ) -> [&'a [u32]; 4] {
        let scoped = |map: &'a FxHashMap<Box<str>, Vec<u32>>, id: Option<&str>| -> &'a [u32] {
            id.and_then(|id| map.get(id)).map_or(&[], Vec::as_slice)
        };
        [
            scoped(&self.by_key, key),
            scoped(&self.by_team, team),
            scoped(&self.by_customer, customer),
            &self.global,
        ]
    }
}

/// Fills every target's answers: rule id, model (when one is known), pinned key — for a target
/// without a model, one more answer for each model a chain rule may have chosen.
fn build_answers(rules: &mut [Rule], chain_models: &[&'static str]) {
    for rule in rules {
        let id = rule.id;
        for target in &mut rule.targets {
            let pin = target
                .pin
                .map(|key| Extension::text(ExtensionKey::ROUTED_KEY, key));
            let answer = |model: Option<&'static str>| -> Box<[Extension<'static>]> {
                let mut entries = vec![Extension::text(ExtensionKey::ROUTING_RULE, id)];
                if let Some(model) = model {
                    entries.push(Extension::text(ExtensionKey::ROUTED_MODEL, model));
                }
                entries.extend(pin);
                entries.into_boxed_slice()
            };
            let mut answers = vec![answer(target.model)];
            if target.model.is_none() {
                answers.extend(chain_models.iter().map(|&m| answer(Some(m))));
            }
            target.answers = answers;
        }
    }
}

fn check_owner(scope: RuleScope<'_>, owners: &Owners<'_>) -> Result<(), String> {
    let (kind, id, known) = match scope {
        RuleScope::Global => return Ok(()),
        RuleScope::VirtualKey(id) => ("virtual key", id, &owners.keys),
        RuleScope::Team(id) => ("team", id, &owners.teams),
        RuleScope::Customer(id) => ("customer", id, &owners.customers),
    };
    if known.contains(id) {
        Ok(())
    } else {
        Err(format!("{kind} {id:?} not found"))
    }
}

/// The rule's fallbacks as `provider[/model]` texts; entries naming a provider the host does
/// not configure, pins and entries past [`MAX_FALLBACKS`] are dropped with a warning.
fn compile_fallbacks(
    rule: &RoutingRule,
    path: &str,
    owners: &Owners<'_>,
    warnings: &mut Vec<String>,
) -> Fallbacks<'static> {
    let mut fallbacks = Fallbacks::EMPTY;
    let mut seen: HashSet<&str> = HashSet::new();
    for (i, fallback) in rule.fallbacks.iter().flatten().enumerate() {
        let Some((provider, model)) = fallback.parts() else {
            continue;
        };
        if owners
            .providers
            .as_ref()
            .is_some_and(|known| !known.contains(provider))
        {
            warnings.push(format!(
                "{path}[{i}]: provider {provider:?} is not configured; this fallback is dropped"
            ));
            continue;
        }
        if let RoutingFallback::Object(object) = fallback
            && (object.other.contains_key("key_id")
                || object.other.contains_key("provider_key_name"))
        {
            warnings.push(format!(
                "{path}[{i}]: a fallback's pinned key is not applied by keyward (the fallback uses the provider's keys)"
            ));
        }
        let text = format!("{provider}/{model}");
        if !seen.insert(intern(&text)) {
            continue;
        }
        if !fallbacks.push(intern(&text)) {
            warnings.push(format!(
                "{path}: only the first {MAX_FALLBACKS} fallbacks are used"
            ));
            break;
        }
    }
    fallbacks
}
