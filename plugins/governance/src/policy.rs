//! The compiled, immutable policy an instance decides with: virtual keys indexed by value and
//! by id, each provider config with its precomputed reservation path (every counter a request
//! through it touches, in decision order), the counters themselves, and the prices.
//!
//! Nothing here changes after construction except the counters' atomics, so the request path
//! reads it without locks and borrows from it without allocating.

mod compile;

use abi_stable::std_types::RStr;
use rustc_hash::FxHashMap;

pub use compile::compile;

use crate::{counter::Counter, prices::PriceTable};

/// The plugin options.
#[derive(Copy, Clone, Debug)]
pub struct Options {
    /// Whether a virtual key is required.
    pub enforce_virtual_keys: bool,
    /// Admit everything, reporting what would have been denied.
    pub shadow_mode: bool,
    /// Output tokens reserved when a request sets no `max_tokens`.
    pub default_max_output_tokens: u64,
}

/// What a counter limits.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CounterKind {
    /// A budget, in nano-dollars.
    Budget,
    /// A request count.
    Requests,
    /// A token count.
    Tokens,
}

/// The level a limit belongs to, for messages.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LevelKind {
    /// A provider config of a virtual key.
    ProviderConfig,
    /// A virtual key.
    VirtualKey,
    /// A team.
    Team,
    /// A customer.
    Customer,
    /// A model config (`governance.model_configs`).
    ModelConfig,
    /// A provider's own limits (`governance.providers`).
    Provider,
}

impl LevelKind {
    /// The level's name in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProviderConfig => "provider config",
            Self::VirtualKey => "virtual key",
            Self::Team => "team",
            Self::Customer => "customer",
            Self::ModelConfig => "model config",
            Self::Provider => "provider",
        }
    }
}

/// A counter's identity: its limit's id and kind (the key of exported state).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterId {
    /// The budget's or rate limit's id.
    pub limit_id: String,
    /// What it counts.
    pub kind: CounterKind,
}

/// One counter a request through a provider config touches.
#[derive(Clone, Debug)]
pub struct Step {
    /// The counter's index in [`Policy::counters`].
    pub counter: u32,
    /// What it counts.
    pub kind: CounterKind,
    /// Whose limit it is.
    pub level: LevelKind,
    /// The owner's id and name, for messages (`team "eng" (t-1)`).
    pub owner: String,
}

/// Every counter a request touches, requests first, then tokens, then budgets, each from the
/// provider config up to the customer. A counter shared by two levels appears once.
#[derive(Clone, Debug, Default)]
pub struct Path {
    /// The steps in decision order.
    pub steps: Vec<Step>,
    /// Whether any step is a budget (then the model must have a price).
    pub has_budgets: bool,
}

/// A provider config, compiled.
#[derive(Debug)]
pub struct ProviderPolicy {
    /// The provider's name.
    pub provider: String,
    /// The weight, in units; `None` (`weight: null`) keeps the config out of the weighted
    /// choice and out of the fallbacks: it serves `provider/model`, or a bare model name that
    /// no weighted config may serve.
    pub weight: Option<u32>,
    /// Allowed models (`"*"`: all; empty: none — a version 1 file's empty list is `["*"]`).
    pub allowed_models: Vec<String>,
    /// Denied models.
    pub blacklisted_models: Vec<String>,
    /// The allowed provider key ids; `None` allows all.
    pub key_ids: Option<Vec<RStr<'static>>>,
    /// The counters of this config's own limits (to skip it when exhausted).
    pub own_counters: Vec<u32>,
    /// Whether every model this config allows has a price (or no budget applies), so
    /// authorization need not look prices up.
    pub always_priced: bool,
    /// The reservation path.
    pub path: Path,
}

impl ProviderPolicy {
    /// Whether the model passes the allow-list and black-list.
    #[inline]
    pub fn allows_model(&self, model: &str) -> bool {
        self.allowed_models.iter().any(|m| m == "*" || m == model)
            && !self.blacklisted_models.iter().any(|m| m == model)
    }
}

/// A virtual key, compiled.
#[derive(Debug)]
pub struct KeyPolicy {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Whether it is active.
    pub active: bool,
    /// When it expires (Unix nanoseconds), if ever.
    pub expires_at: Option<u64>,
    /// Its provider configs, in configuration order; empty allows no provider unless
    /// `any_provider` (a version 1 file).
    pub providers: Vec<ProviderPolicy>,
    /// Whether any provider may be called: a key with no provider configs in a version 1 file
    /// (in Bifrost v1.5 no provider configs allow no provider).
    pub any_provider: bool,
    /// Indices into `providers`, heaviest first (the fallback order).
    pub by_weight: Vec<usize>,
    /// The path of a request when the key has no provider configs.
    pub any_provider_path: Path,
    /// Its scoped model configs (`scope: "virtual_key"`).
    pub model_configs: crate::model_limits::ModelTable,
    /// Its team's id (empty: no team), for routing rules.
    pub team_id: String,
    /// Its team's name.
    pub team_name: String,
    /// Its customer's id (its own, or its team's; empty: none), for routing rules.
    pub customer_id: String,
    /// Its customer's name.
    pub customer_name: String,
}

impl KeyPolicy {
    /// The provider config for `provider`.
    #[inline]
    pub fn provider(&self, provider: &str) -> Option<(usize, &ProviderPolicy)> {
        self.providers
            .iter()
            .enumerate()
            .find(|(_, p)| p.provider == provider)
    }

    /// The path through provider config `index` (`None`: the key has none).
    #[inline]
    pub fn path(&self, index: Option<usize>) -> &Path {
        match index.and_then(|i| self.providers.get(i)) {
            Some(provider) => &provider.path,
            None => &self.any_provider_path,
        }
    }

    /// `name (id)` for messages.
    pub fn label(&self) -> String {
        if self.name.is_empty() || self.name == self.id {
            format!("virtual key {}", self.id)
        } else {
            format!("virtual key {:?} ({})", self.name, self.id)
        }
    }
}

/// The whole compiled policy.
#[derive(Debug)]
pub struct Policy {
    /// What the configuration asks that is not enforced, one line each (logged at build).
    pub warnings: Vec<String>,
    /// The options.
    pub options: Options,
    /// The virtual keys.
    pub keys: Vec<KeyPolicy>,
    /// Key index by value.
    pub by_value: FxHashMap<Box<str>, usize>,
    /// Key index by id.
    pub by_id: FxHashMap<Box<str>, usize>,
    /// Every counter.
    pub counters: Vec<Counter>,
    /// Their identities (same order).
    pub counter_ids: Vec<CounterId>,
    /// Counter index by identity.
    pub counter_index: FxHashMap<(String, &'static str), usize>,
    /// The prices.
    pub prices: PriceTable,
    /// Which provider serves a bare model name.
    pub catalog: crate::catalog::ModelCatalog,
    /// Model-level and provider-level limits.
    pub model_limits: crate::model_limits::ModelLimits,
    /// Scoped price patches (`pricing_overrides`).
    pub price_overrides: crate::price_overrides::PriceOverrides,
    /// Routing rules (`routing_rules`).
    pub routing: crate::routing::table::RoutingTable,
}

impl Policy {
    /// The price of `model` on `provider` for virtual key `key_id` (empty: none) and a request
    /// of `types`: the override that applies, else the table's.
    #[inline]
    pub fn price_of(
        &self,
        key_id: &str,
        provider: &str,
        model: &str,
        types: crate::price_overrides::RequestTypes,
    ) -> Option<crate::prices::Price> {
        self.price_overrides
            .price(&self.prices, key_id, provider, model, types)
    }
}

impl CounterKind {
    /// The kind's name in exported state.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Budget => "budget",
            Self::Requests => "requests",
            Self::Tokens => "tokens",
        }
    }
}

impl Policy {
    /// The counter of `limit_id` and `kind`, if it still exists.
    pub fn counter_of(&self, limit_id: &str, kind: &str) -> Option<usize> {
        self.counter_index
            .get(&(limit_id.to_owned(), kind_static(kind)?))
            .copied()
    }
}

fn kind_static(kind: &str) -> Option<&'static str> {
    [
        CounterKind::Budget,
        CounterKind::Requests,
        CounterKind::Tokens,
    ]
    .into_iter()
    .map(CounterKind::as_str)
    .find(|k| *k == kind)
}
