//! Configuration -> [`Policy`]: resolves budget and rate-limit references, builds one counter
//! per budget and per rate-limit cap (a limit shared by id is one counter), and precomputes
//! each provider config's reservation path. Every error names the JSON path.

use std::collections::{HashMap, HashSet};

use abi_stable::std_types::RStr;
use keyward_plugin_api::{
    ffi::KeywardError,
    model::{
        allow_lists::empty_list_allows_all,
        governance::{
            Budget, Customer, RateLimit, Team, VirtualKey, budget::BudgetOwner,
            duration::from_datetime, money::dollars_to_nanos,
        },
        weight::Weight,
    },
};
use rustc_hash::FxHashMap;

use super::{
    CounterId, CounterKind, KeyPolicy, LevelKind, Options, Path, Policy, ProviderPolicy, Step,
};
use crate::{
    config::{PluginConfig, invalid},
    counter::{Counter, Window},
    intern::intern,
    prices::PriceTable,
};

mod model_limits;
mod price_overrides;

type Result<T> = std::result::Result<T, KeywardError>;

/// The counters of one level (a provider config, a key, a team, a customer).
#[derive(Clone, Debug)]
struct Level {
    kind: LevelKind,
    owner: String,
    requests: Vec<usize>,
    tokens: Vec<usize>,
    budgets: Vec<usize>,
}

impl Level {
    fn of(&self, kind: CounterKind) -> &[usize] {
        match kind {
            CounterKind::Requests => &self.requests,
            CounterKind::Tokens => &self.tokens,
            CounterKind::Budget => &self.budgets,
        }
    }
}

/// What a level owns, borrowed from its document.
struct Limits<'c> {
    /// The level as a budget owner (what a top-level budget names).
    me: Option<BudgetOwner<'c>>,
    budget_id: Option<&'c str>,
    budgets: Vec<&'c Budget>,
    rate_limit_id: Option<&'c str>,
    rate_limit: Option<&'c RateLimit>,
    calendar_aligned: bool,
}

struct Builder<'c> {
    now: u64,
    budgets: HashMap<&'c str, (&'c Budget, String)>,
    /// The top-level budgets that name their owner, by owner.
    owned: OwnedBudgets<'c>,
    rate_limits: HashMap<&'c str, (&'c RateLimit, String)>,
    counters: Vec<Counter>,
    ids: Vec<CounterId>,
    index: FxHashMap<(String, &'static str), usize>,
}

impl<'c> Builder<'c> {
    fn counter(
        &mut self,
        limit_id: &str,
        kind: CounterKind,
        make: impl FnOnce() -> Counter,
    ) -> usize {
        let key = (limit_id.to_owned(), kind.as_str());
        if let Some(index) = self.index.get(&key) {
            return *index;
        }
        let index = self.counters.len();
        self.counters.push(make());
        self.ids.push(CounterId {
            limit_id: limit_id.to_owned(),
            kind,
        });
        self.index.insert(key, index);
        index
    }

    fn budget(
        &mut self,
        budget: &Budget,
        fallback_id: &str,
        aligned_by_owner: bool,
        path: &str,
    ) -> Result<usize> {
        budget
            .validate(aligned_by_owner)
            .map_err(|(field, reason)| invalid(&format!("{path}.{field}"), reason))?;
        let id = if budget.id.is_empty() {
            fallback_id
        } else {
            &budget.id
        };
        let now = self.now;
        Ok(self.counter(id, CounterKind::Budget, || {
            let start = budget.last_reset.map_or(now, from_datetime);
            Counter::new(
                dollars_to_nanos(budget.max_limit),
                dollars_to_nanos(budget.current_usage),
                Window::new(
                    budget.reset_duration.clone(),
                    budget.calendar_aligned || aligned_by_owner,
                    start,
                ),
            )
        }))
    }

    fn rate_limit(
        &mut self,
        limit: &RateLimit,
        fallback_id: &str,
        path: &str,
    ) -> Result<(Option<usize>, Option<usize>)> {
        limit
            .validate()
            .map_err(|(field, reason)| invalid(&format!("{path}.{field}"), reason))?;
        let id = if limit.id.is_empty() {
            fallback_id
        } else {
            &limit.id
        };
        let now = self.now;
        let requests = match (limit.request_max_limit, &limit.request_reset_duration) {
            (Some(max), Some(duration)) => Some(self.counter(id, CounterKind::Requests, || {
                let start = limit.request_last_reset.map_or(now, from_datetime);
                Counter::new(
                    max,
                    limit.request_current_usage,
                    Window::new(duration.clone(), false, start),
                )
            })),
            _ => None,
        };
        let tokens = match (limit.token_max_limit, &limit.token_reset_duration) {
            (Some(max), Some(duration)) => Some(self.counter(id, CounterKind::Tokens, || {
                let start = limit.token_last_reset.map_or(now, from_datetime);
                Counter::new(
                    max,
                    limit.token_current_usage,
                    Window::new(duration.clone(), false, start),
                )
            })),
            _ => None,
        };
        Ok((requests, tokens))
    }

    fn level(
        &mut self,
        kind: LevelKind,
        owner: String,
        owner_id: &str,
        limits: &Limits<'c>,
        path: &str,
    ) -> Result<Level> {
        let mut level = Level {
            kind,
            owner,
            requests: Vec::new(),
            tokens: Vec::new(),
            budgets: Vec::new(),
        };
        if let Some(id) = limits.budget_id {
            let (budget, budget_path) = self.budgets.get(id).cloned().ok_or_else(|| {
                invalid(
                    &format!("{path}.budget_id"),
                    format!("no budget with id {id:?} in budgets"),
                )
            })?;
            if let Ok(Some(owner)) = budget.owner() {
                if Some(owner) != limits.me {
                    return Err(invalid(
                        &format!("{path}.budget_id"),
                        format!(
                            "budget {id:?} names another owner ({budget_path}); a budget has one owner"
                        ),
                    ));
                }
            }
            let counter = self.budget(budget, id, limits.calendar_aligned, &budget_path)?;
            level.budgets.push(counter);
        }
        let owned = limits
            .me
            .and_then(|me| self.owned.get(&me))
            .cloned()
            .unwrap_or_default();
        for (budget, budget_path) in &owned {
            let counter = self.budget(budget, &budget.id, limits.calendar_aligned, budget_path)?;
            if !level.budgets.contains(&counter) {
                level.budgets.push(counter);
            }
        }
        for (i, budget) in limits.budgets.iter().enumerate() {
            let fallback = format!("{owner_id}/budgets/{i}");
            let counter = self.budget(
                budget,
                &fallback,
                limits.calendar_aligned,
                &format!("{path}.budgets[{i}]"),
            )?;
            if !level.budgets.contains(&counter) {
                level.budgets.push(counter);
            }
        }
        let add_rate = |level: &mut Level, (requests, tokens): (Option<usize>, Option<usize>)| {
            level.requests.extend(requests);
            level.tokens.extend(tokens);
        };
        if let Some(id) = limits.rate_limit_id {
            match (self.rate_limits.get(id).cloned(), limits.rate_limit) {
                (Some((limit, limit_path)), _) => {
                    let counters = self.rate_limit(limit, id, &limit_path)?;
                    add_rate(&mut level, counters);
                }
                // The current response shape carries both the id and the embedded limit.
                (None, Some(_)) => {}
                (None, None) => {
                    return Err(invalid(
                        &format!("{path}.rate_limit_id"),
                        format!("no rate limit with id {id:?} in rate_limits"),
                    ));
                }
            }
        }
        if let Some(limit) = limits.rate_limit {
            if level.requests.is_empty() && level.tokens.is_empty() {
                let fallback = format!("{owner_id}/rate_limit");
                let counters = self.rate_limit(limit, &fallback, &format!("{path}.rate_limit"))?;
                add_rate(&mut level, counters);
            }
        }
        Ok(level)
    }
}

fn path_through(levels: &[&Level]) -> Path {
    let mut steps = Vec::new();
    let mut seen = HashSet::new();
    for kind in [
        CounterKind::Requests,
        CounterKind::Tokens,
        CounterKind::Budget,
    ] {
        for level in levels {
            for &counter in level.of(kind) {
                if seen.insert(counter) {
                    steps.push(Step {
                        // Counters are far fewer than 2^32.
                        counter: u32::try_from(counter).unwrap_or(u32::MAX),
                        kind,
                        level: level.kind,
                        owner: level.owner.clone(),
                    });
                }
            }
        }
    }
    let has_budgets = steps.iter().any(|s| s.kind == CounterKind::Budget);
    Path { steps, has_budgets }
}

fn label(kind: &str, name: &str, id: &str) -> String {
    if name.is_empty() || name == id {
        format!("{kind} {id}")
    } else {
        format!("{kind} {name:?} ({id})")
    }
}

/// Each team's level and its customer's id.
type TeamLevels = HashMap<String, (Level, Option<String>)>;
/// Each customer's level.
type CustomerLevels = HashMap<String, Level>;

/// The top-level budgets that name their owner, by owner.
type OwnedBudgets<'c> = HashMap<BudgetOwner<'c>, Vec<(&'c Budget, String)>>;

fn owner_limits<'c>(
    me: Option<BudgetOwner<'c>>,
    budget_id: Option<&'c String>,
    single: Option<&'c Budget>,
    budgets: &'c [Budget],
    rate_limit_id: Option<&'c String>,
    rate_limit: Option<&'c RateLimit>,
) -> Limits<'c> {
    Limits {
        me,
        budget_id: budget_id.map(String::as_str).filter(|s| !s.is_empty()),
        budgets: single.into_iter().chain(budgets).collect(),
        rate_limit_id: rate_limit_id.map(String::as_str).filter(|s| !s.is_empty()),
        rate_limit,
        calendar_aligned: false,
    }
}

/// Compiles a parsed configuration; `now` (Unix nanoseconds) starts windows with no last reset.
pub fn compile(config: &PluginConfig, now: u64) -> Result<Policy> {
    let prices = PriceTable::build(
        config.use_default_pricing,
        &config.pricing,
        config.unknown_model_pricing,
    )
    .map_err(|reason| invalid("pricing", reason))?;
    for (model, price) in &config.pricing {
        price
            .validate()
            .map_err(|(field, reason)| invalid(&format!("pricing.{model}.{field}"), reason))?;
    }
    if let keyward_plugin_api::model::governance::UnknownModelPricing::Price(price) =
        &config.unknown_model_pricing
    {
        price.validate().map_err(|(field, reason)| {
            invalid(&format!("unknown_model_pricing.{field}"), reason)
        })?;
    }

    let empty = Vec::new();
    let budgets = config.budgets.as_ref().unwrap_or(&empty);
    let empty_limits = Vec::new();
    let rate_limits = config.rate_limits.as_ref().unwrap_or(&empty_limits);
    let mut builder = Builder {
        now,
        budgets: HashMap::new(),
        owned: HashMap::new(),
        rate_limits: HashMap::new(),
        counters: Vec::new(),
        ids: Vec::new(),
        index: FxHashMap::default(),
    };
    for (i, budget) in budgets.iter().enumerate() {
        if budget.id.is_empty() {
            return Err(invalid(&format!("budgets[{i}].id"), "must not be empty"));
        }
        if builder
            .budgets
            .insert(&budget.id, (budget, format!("budgets[{i}]")))
            .is_some()
        {
            return Err(invalid(
                &format!("budgets[{i}].id"),
                format!("duplicate budget id {:?}", budget.id),
            ));
        }
    }
    let mut warnings = Vec::new();
    for (i, budget) in budgets.iter().enumerate() {
        let path = format!("budgets[{i}]");
        if let Some(owner) = budget.owner().map_err(|reason| invalid(&path, reason))? {
            builder.owned.entry(owner).or_default().push((budget, path));
        }
    }
    for (i, limit) in rate_limits.iter().enumerate() {
        if limit.id.is_empty() {
            return Err(invalid(
                &format!("rate_limits[{i}].id"),
                "must not be empty",
            ));
        }
        if builder
            .rate_limits
            .insert(&limit.id, (limit, format!("rate_limits[{i}]")))
            .is_some()
        {
            return Err(invalid(
                &format!("rate_limits[{i}].id"),
                format!("duplicate rate limit id {:?}", limit.id),
            ));
        }
    }

    let empty_keys = Vec::new();
    let keys = config.virtual_keys.as_ref().unwrap_or(&empty_keys);
    let empty_allows_all =
        empty_list_allows_all(config.version).map_err(|reason| invalid("version", reason))?;
    if !empty_allows_all {
        warnings.extend(empty_allow_lists(keys));
    }

    // Customers and teams: top level first, then those embedded in keys and teams.
    let mut customers: HashMap<&str, (&Customer, String)> = HashMap::new();
    let mut teams: HashMap<&str, (&Team, String)> = HashMap::new();
    for (i, customer) in config.customers.iter().flatten().enumerate() {
        if customers
            .insert(&customer.id, (customer, format!("customers[{i}]")))
            .is_some()
        {
            return Err(invalid(
                &format!("customers[{i}].id"),
                format!("duplicate customer id {:?}", customer.id),
            ));
        }
    }
    for (i, team) in config.teams.iter().flatten().enumerate() {
        if teams
            .insert(&team.id, (team, format!("teams[{i}]")))
            .is_some()
        {
            return Err(invalid(
                &format!("teams[{i}].id"),
                format!("duplicate team id {:?}", team.id),
            ));
        }
    }
    for (i, key) in keys.iter().enumerate() {
        if let Some(team) = key.team.as_deref() {
            teams
                .entry(&team.id)
                .or_insert_with(|| (team, format!("virtual_keys[{i}].team")));
            if let Some(customer) = team.customer.as_deref() {
                customers
                    .entry(&customer.id)
                    .or_insert_with(|| (customer, format!("virtual_keys[{i}].team.customer")));
            }
        }
        if let Some(customer) = key.customer.as_deref() {
            customers
                .entry(&customer.id)
                .or_insert_with(|| (customer, format!("virtual_keys[{i}].customer")));
        }
    }
    for (j, team) in config.teams.iter().flatten().enumerate() {
        if let Some(customer) = team.customer.as_deref() {
            customers
                .entry(&customer.id)
                .or_insert_with(|| (customer, format!("teams[{j}].customer")));
        }
    }

    let mut customer_levels: HashMap<String, Level> = HashMap::new();
    let mut customer_ids: Vec<&str> = customers.keys().copied().collect();
    customer_ids.sort_unstable();
    for id in customer_ids {
        let (customer, path) = &customers[id];
        let mut limits = owner_limits(
            Some(BudgetOwner::Customer(&customer.id)),
            customer.budget_id.as_ref(),
            customer.budget.as_ref(),
            &customer.budgets,
            customer.rate_limit_id.as_ref(),
            customer.rate_limit.as_ref(),
        );
        limits.calendar_aligned = customer.calendar_aligned.unwrap_or(false);
        let level = builder.level(
            LevelKind::Customer,
            label("customer", &customer.name, &customer.id),
            &format!("customer/{}", customer.id),
            &limits,
            path,
        )?;
        customer_levels.insert(customer.id.clone(), level);
    }
    let mut team_levels: HashMap<String, (Level, Option<String>)> = HashMap::new();
    let mut team_ids: Vec<&str> = teams.keys().copied().collect();
    team_ids.sort_unstable();
    for id in team_ids {
        let (team, path) = &teams[id];
        let customer = team.customer_id.as_ref().filter(|c| !c.is_empty());
        if let Some(customer) = customer {
            if !customer_levels.contains_key(customer) {
                return Err(invalid(
                    &format!("{path}.customer_id"),
                    format!("no customer with id {customer:?}"),
                ));
            }
        }
        let mut limits = owner_limits(
            Some(BudgetOwner::Team(&team.id)),
            team.budget_id.as_ref(),
            team.budget.as_ref(),
            &team.budgets,
            team.rate_limit_id.as_ref(),
            team.rate_limit.as_ref(),
        );
        limits.calendar_aligned = team.calendar_aligned.unwrap_or(false);
        let level = builder.level(
            LevelKind::Team,
            label("team", &team.name, &team.id),
            &format!("team/{}", team.id),
            &limits,
            path,
        )?;
        team_levels.insert(team.id.clone(), (level, customer.cloned()));
    }

    let mut compiled = Vec::with_capacity(keys.len());
    let mut by_value = FxHashMap::default();
    let mut by_id = FxHashMap::default();
    for (i, key) in keys.iter().enumerate() {
        let path = format!("virtual_keys[{i}]");
        let policy = compile_key(
            &mut builder,
            &prices,
            key,
            &path,
            (&team_levels, &customer_levels),
            empty_allows_all,
        )?;
        if by_id.insert(key.id.clone().into_boxed_str(), i).is_some() {
            return Err(invalid(
                &format!("{path}.id"),
                format!("duplicate virtual key id {:?}", key.id),
            ));
        }
        // An unset `env.NAME` leaves this key out (no request can present it), not the
        // gateway: the rest is served, and the host lists it as unusable.
        let value = match key.resolved_value() {
            Ok(value) => value,
            Err(missing) => {
                warnings.push(format!(
                    "{path}.value: virtual key {:?} cannot be used: {missing}",
                    key.id
                ));
                compiled.push(policy);
                continue;
            }
        };
        if by_value.insert(value.into_boxed_str(), i).is_some() {
            return Err(invalid(
                &format!("{path}.value"),
                format!("virtual key {:?} has the same value as another key", key.id),
            ));
        }
        compiled.push(policy);
    }

    let empty_model_configs = Vec::new();
    let model_configs = config
        .model_configs
        .as_ref()
        .unwrap_or(&empty_model_configs);
    let empty_providers = Vec::new();
    let provider_entries = config.providers.as_ref().unwrap_or(&empty_providers);
    let key_index: HashMap<&str, usize> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.id.as_str(), i))
        .collect();
    let price_overrides = price_overrides::compile_price_overrides(
        config.pricing_overrides.as_deref().unwrap_or(&[]),
        keys,
        &mut warnings,
    )?;
    let model_limits = model_limits::compile_model_limits(
        &mut builder,
        model_configs,
        provider_entries,
        &mut compiled,
        &key_index,
    )?;
    name_owners(&mut compiled, keys, &teams, &customers);
    let routing = crate::routing::table::RoutingTable::compile(
        config.routing_rules.as_deref().unwrap_or(&[]),
        config.routing_chain_max_depth,
        &crate::routing::table::Owners {
            keys: keys.iter().map(|k| k.id.as_str()).collect(),
            teams: teams.keys().copied().collect(),
            customers: customers.keys().copied().collect(),
            providers: config
                .provider_models
                .as_ref()
                .map(|known| known.keys().map(String::as_str).collect()),
        },
        &mut warnings,
    )?;
    check_owners_exist(
        &builder.owned,
        keys,
        model_configs,
        &team_levels,
        &customer_levels,
    )?;

    Ok(Policy {
        warnings,
        options: Options {
            enforce_virtual_keys: config.enforce_virtual_keys,
            shadow_mode: config.shadow_mode,
            default_max_output_tokens: config.default_max_output_tokens,
        },
        keys: compiled,
        by_value,
        by_id,
        counters: builder.counters,
        counter_ids: builder.ids,
        counter_index: builder.index,
        prices,
        catalog: crate::catalog::ModelCatalog::build(config.provider_models.as_ref())
            .map_err(|reason| invalid("provider_models", reason))?,
        model_limits,
        price_overrides,
        routing,
    })
}

/// Gives each compiled key its team's and customer's ids and names (what routing rules read):
/// the key's team and that team's customer, or the key's own customer.
fn name_owners(
    compiled: &mut [KeyPolicy],
    keys: &[VirtualKey],
    teams: &HashMap<&str, (&Team, String)>,
    customers: &HashMap<&str, (&Customer, String)>,
) {
    for (policy, key) in compiled.iter_mut().zip(keys) {
        let team = key.team_id.as_deref().and_then(|id| teams.get(id));
        if let Some((team, _)) = team {
            policy.team_id.clone_from(&team.id);
            policy.team_name.clone_from(&team.name);
        }
        let customer_id = match team {
            Some((team, _)) => team.customer_id.as_deref(),
            None => key.customer_id.as_deref(),
        };
        if let Some((customer, _)) = customer_id.and_then(|id| customers.get(id)) {
            policy.customer_id.clone_from(&customer.id);
            policy.customer_name.clone_from(&customer.name);
        }
    }
}

/// In Bifrost v1.5 an empty allow-list allows nothing, where it allowed everything before: one
/// line for each, naming it, since a file written for v1.4 means the opposite.
fn empty_allow_lists(keys: &[VirtualKey]) -> Vec<String> {
    const HINT: &str = "since Bifrost v1.5 an empty list allows none: write [\"*\"] for all, or set \"version\": 1 for the older meaning";
    let mut lines = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        if key.provider_configs.is_empty() {
            lines.push(format!(
                "virtual_keys[{i}].provider_configs is empty: virtual key {:?} may call no provider ({HINT})",
                key.id
            ));
        }
        for (p, config) in key.provider_configs.iter().enumerate() {
            if config.allowed_models.is_empty() {
                lines.push(format!(
                    "virtual_keys[{i}].provider_configs[{p}].allowed_models is empty: no model of {} is allowed ({HINT})",
                    config.provider
                ));
            }
            if config.keys.is_empty() && config.allow_all_keys.is_none() {
                lines.push(format!(
                    "virtual_keys[{i}].provider_configs[{p}].key_ids is empty: no key of {} is allowed ({HINT})",
                    config.provider
                ));
            }
        }
    }
    lines
}

/// Every owner a top-level budget names exists (Bifrost refuses a budget whose owner does not).
fn check_owners_exist(
    owned: &OwnedBudgets<'_>,
    keys: &[VirtualKey],
    model_configs: &[keyward_plugin_api::model::governance::ModelConfig],
    teams: &HashMap<String, (Level, Option<String>)>,
    customers: &HashMap<String, Level>,
) -> Result<()> {
    for (owner, budgets) in owned {
        let (field, exists, shown) = match owner {
            BudgetOwner::VirtualKey(id) => (
                "virtual_key_id",
                keys.iter().any(|k| k.id == *id),
                format!("virtual key {id:?}"),
            ),
            BudgetOwner::Team(id) => ("team_id", teams.contains_key(*id), format!("team {id:?}")),
            BudgetOwner::Customer(id) => (
                "customer_id",
                customers.contains_key(*id),
                format!("customer {id:?}"),
            ),
            BudgetOwner::ProviderConfig(id) => (
                "provider_config_id",
                keys.iter()
                    .flat_map(|k| &k.provider_configs)
                    .any(|c| c.id == Some(*id)),
                format!("provider config with id {id}"),
            ),
            BudgetOwner::ModelConfig(id) => (
                "model_config_id",
                model_configs.iter().any(|c| c.id == *id),
                format!("model config {id:?}"),
            ),
        };
        if !exists {
            let path = budgets.first().map_or("budgets", |(_, path)| path.as_str());
            return Err(invalid(&format!("{path}.{field}"), format!("no {shown}")));
        }
    }
    Ok(())
}

fn compile_key<'c>(
    builder: &mut Builder<'c>,
    prices: &PriceTable,
    key: &'c VirtualKey,
    path: &str,
    (teams, customers): (&TeamLevels, &CustomerLevels),
    empty_allows_all: bool,
) -> Result<KeyPolicy> {
    key.validate()
        .map_err(|(field, reason)| invalid(&format!("{path}.{field}"), reason))?;
    let key_label = label("virtual key", &key.name, &key.id);
    let mut limits = owner_limits(
        Some(BudgetOwner::VirtualKey(&key.id)),
        key.budget_id.as_ref(),
        None,
        &key.budgets,
        key.rate_limit_id.as_ref(),
        key.rate_limit.as_ref(),
    );
    limits.calendar_aligned = key.calendar_aligned;
    let key_level = builder.level(
        LevelKind::VirtualKey,
        key_label.clone(),
        &format!("virtual_key/{}", key.id),
        &limits,
        path,
    )?;
    let mut upper: Vec<&Level> = vec![&key_level];
    if let Some(team_id) = &key.team_id {
        let (team, customer) = teams.get(team_id).ok_or_else(|| {
            invalid(
                &format!("{path}.team_id"),
                format!("no team with id {team_id:?}"),
            )
        })?;
        upper.push(team);
        if let Some(customer) = customer.as_ref().and_then(|c| customers.get(c)) {
            upper.push(customer);
        }
    } else if let Some(customer_id) = &key.customer_id {
        let customer = customers.get(customer_id).ok_or_else(|| {
            invalid(
                &format!("{path}.customer_id"),
                format!("no customer with id {customer_id:?}"),
            )
        })?;
        upper.push(customer);
    }

    let mut providers = Vec::with_capacity(key.provider_configs.len());
    for (p, config) in key.provider_configs.iter().enumerate() {
        let config_path = format!("{path}.provider_configs[{p}]");
        if key.provider_configs[..p]
            .iter()
            .any(|c| c.provider == config.provider)
        {
            return Err(invalid(
                &format!("{config_path}.provider"),
                format!("provider {:?} is configured twice", config.provider),
            ));
        }
        let mut limits = owner_limits(
            config.id.map(BudgetOwner::ProviderConfig),
            config.budget_id.as_ref(),
            None,
            &config.budgets,
            config.rate_limit_id.as_ref(),
            config.rate_limit.as_ref(),
        );
        limits.calendar_aligned = key.calendar_aligned;
        let level = builder.level(
            LevelKind::ProviderConfig,
            format!("provider config {} of {key_label}", config.provider),
            &format!("virtual_key/{}/provider/{}", key.id, config.provider),
            &limits,
            &config_path,
        )?;
        let own_counters = level
            .requests
            .iter()
            .chain(&level.tokens)
            .chain(&level.budgets)
            .map(|c| u32::try_from(*c).unwrap_or(u32::MAX))
            .collect();
        let mut levels = vec![&level];
        levels.extend(upper.iter().copied());
        let path = path_through(&levels);
        let always_priced = !path.has_budgets
            || prices.has_default()
            || (!config.allowed_models.is_empty()
                && config
                    .allowed_models
                    .iter()
                    .all(|m| m != "*" && prices.lookup(&config.provider, m).is_some()));
        let allowed_models = if empty_allows_all && config.allowed_models.is_empty() {
            vec!["*".to_owned()]
        } else {
            config.allowed_models.clone()
        };
        providers.push(ProviderPolicy {
            provider: config.provider.clone(),
            // A version 1 file had no null weight: an absent one was 1.
            weight: match config.weight {
                Some(weight) => Some(weight.units()),
                None if empty_allows_all => Some(Weight::ONE.units()),
                None => None,
            },
            allowed_models,
            blacklisted_models: config.blacklisted_models.clone(),
            key_ids: (!config.allows_all_keys(empty_allows_all)).then(|| {
                config
                    .keys
                    .iter()
                    .map(|k| RStr::from_str(intern(&k.key_id)))
                    .collect()
            }),
            own_counters,
            always_priced,
            path,
        });
    }
    let mut by_weight: Vec<usize> = (0..providers.len()).collect();
    by_weight.sort_by_key(|&i| std::cmp::Reverse(providers[i].weight));
    Ok(KeyPolicy {
        id: key.id.clone(),
        name: key.name.clone(),
        active: key.is_active,
        expires_at: key.expires_at.map(from_datetime),
        any_provider: empty_allows_all && providers.is_empty(),
        providers,
        by_weight,
        any_provider_path: path_through(&upper),
        model_configs: Default::default(),
        team_id: String::new(),
        team_name: String::new(),
        customer_id: String::new(),
        customer_name: String::new(),
    })
}
