//! The virtual key: who a caller is, which providers, models and provider keys it may use, and
//! the budgets and rate limits that apply to it and to each of its provider configs.
//!
//! Input accepts both shapes of `GET /api/governance/virtual-keys`: the current one
//! (`budgets[]`) and the older one (a single `budget`, and provider `keys` definitions that are
//! ignored). Output is the current shape with `value` redacted.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::{
    budget::Budget, mcp::McpConfig, org::Customer, org::Team, rate_limit::RateLimit,
    serde_null::null_as_default,
};
use crate::model::{secret::Secret, weight::Weight};

/// The prefix of generated (and header-discoverable) virtual-key values.
pub const VIRTUAL_KEY_PREFIX: &str = "sk-bf-";

/// The virtual key a request carries, given its headers as `(lower-case name, value)` pairs:
/// `x-bf-vk` (any non-empty value, and it wins), else an `sk-bf-` value in `Authorization:
/// Bearer` (scheme case-insensitive), `x-api-key`, `api-key` or `x-goog-api-key` (the first one
/// found). Allocates nothing.
pub fn find_virtual_key<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<&'a str> {
    let mut found = None;
    for (name, value) in headers {
        let value = value.trim();
        match name {
            "x-bf-vk" if !value.is_empty() => return Some(value),
            "authorization" if found.is_none() => {
                found = strip_bearer(value).filter(|v| v.starts_with(VIRTUAL_KEY_PREFIX));
            }
            "x-api-key" | "api-key" | "x-goog-api-key"
                if found.is_none() && value.starts_with(VIRTUAL_KEY_PREFIX) =>
            {
                found = Some(value);
            }
            _ => {}
        }
    }
    found
}

fn strip_bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim_start())
}

/// A fresh virtual-key value: `sk-bf-` and a random UUID.
pub fn generate_value() -> Secret {
    Secret::new(format!("{VIRTUAL_KEY_PREFIX}{}", uuid::Uuid::new_v4()))
}

/// Bifrost's virtual-key document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "VirtualKeyWire")]
pub struct VirtualKey {
    /// The key's id.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// The value callers send (`sk-bf-…`); serializes redacted.
    pub value: Secret,
    /// Free text.
    pub description: String,
    /// Whether the key is usable.
    pub is_active: bool,
    /// When the key stops working, if ever.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// The team it belongs to (exclusive with `customer_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    /// The customer it belongs to directly (exclusive with `team_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// The providers it may call; empty allows every provider.
    pub provider_configs: Vec<ProviderConfig>,
    /// The MCP clients and tools it may use.
    pub mcp_configs: Vec<McpConfig>,
    /// A budget referenced by id (`config.json` style).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_id: Option<String>,
    /// Its own budgets.
    pub budgets: Vec<Budget>,
    /// A rate limit referenced by id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_id: Option<String>,
    /// Its own rate limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Whether its budgets reset on UTC calendar boundaries.
    pub calendar_aligned: bool,
    /// Bifrost's hash of the configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
    /// Creation time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last update time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// The user who created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by_user_id: Option<String>,
    /// The team, embedded (responses carry it; input may).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<Box<Team>>,
    /// The customer, embedded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<Box<Customer>>,
    /// Fields this model does not read (Bifrost's, or newer ones), kept verbatim so that a
    /// document read and written back loses nothing.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl VirtualKey {
    /// Checks what serde cannot: `team_id` and `customer_id` are exclusive, and every budget and
    /// rate limit is valid. Returns `(field path below the key, reason)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.id.is_empty() {
            return Err(("id".to_owned(), "must not be empty".to_owned()));
        }
        if self.team_id.is_some() && self.customer_id.is_some() {
            return Err((
                "customer_id".to_owned(),
                "team_id and customer_id are exclusive: a key belongs to a team or a customer, not both"
                    .to_owned(),
            ));
        }
        for (i, budget) in self.budgets.iter().enumerate() {
            budget
                .validate(self.calendar_aligned)
                .map_err(|(field, reason)| (format!("budgets[{i}].{field}"), reason))?;
        }
        if let Some(limit) = &self.rate_limit {
            limit
                .validate()
                .map_err(|(field, reason)| (format!("rate_limit.{field}"), reason))?;
        }
        for (p, config) in self.provider_configs.iter().enumerate() {
            if config.provider.is_empty() {
                return Err((
                    format!("provider_configs[{p}].provider"),
                    "must not be empty".to_owned(),
                ));
            }
            for (i, budget) in config.budgets.iter().enumerate() {
                budget
                    .validate(self.calendar_aligned)
                    .map_err(|(field, reason)| {
                        (
                            format!("provider_configs[{p}].budgets[{i}].{field}"),
                            reason,
                        )
                    })?;
            }
            if let Some(limit) = &config.rate_limit {
                limit.validate().map_err(|(field, reason)| {
                    (format!("provider_configs[{p}].rate_limit.{field}"), reason)
                })?;
            }
        }
        Ok(())
    }

    /// The value callers send: `value` itself, or — in Bifrost's `"env.NAME"` form — the
    /// environment variable it names (a missing variable is an error naming it).
    pub fn resolved_value(&self) -> Result<String, crate::model::secret::MissingEnvVar> {
        crate::model::secret::resolve_env_reference(self.value.expose())
    }

    /// Whether the key is active and not expired at `now`.
    pub fn is_usable_at(&self, now: DateTime<Utc>) -> bool {
        self.is_active && self.expires_at.is_none_or(|expiry| now < expiry)
    }
}

/// One provider a virtual key may call, with its model filters, provider keys and limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProviderConfig {
    /// The row id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// The owning virtual key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_key_id: Option<String>,
    /// The provider, e.g. `openai`.
    pub provider: String,
    /// The weight for choosing a provider when the request names none; `null` (Bifrost v1.5's
    /// default) keeps the provider reachable by `provider/model` but out of the weighted
    /// choice.
    #[serde(default)]
    pub weight: Option<Weight>,
    /// Models allowed; empty (or `"*"`) allows every model.
    #[serde(default, deserialize_with = "null_as_default")]
    pub allowed_models: Vec<String>,
    /// Models denied, whatever `allowed_models` says.
    #[serde(default, deserialize_with = "null_as_default")]
    pub blacklisted_models: Vec<String>,
    /// Whether every provider key may serve it. Absent: true when `keys` is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_all_keys: Option<bool>,
    /// The provider keys allowed: Bifrost's `key_ids` (the file's form) or `keys` (the API's).
    #[serde(flatten)]
    pub keys: KeyList,
    /// A budget referenced by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_id: Option<String>,
    /// Its own budgets.
    #[serde(default, deserialize_with = "null_as_default")]
    pub budgets: Vec<Budget>,
    /// A rate limit referenced by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_id: Option<String>,
    /// Its own rate limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Fields this model does not read (Bifrost's, or newer ones), kept verbatim so that a
    /// document read and written back loses nothing.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl ProviderConfig {
    /// Whether every provider key may serve this config: `allow_all_keys`, else `key_ids`
    /// holding `"*"`; an empty `key_ids` allows none (Bifrost v1.5) unless `empty_allows_all`
    /// (a file of `"version": 1`).
    pub fn allows_all_keys(&self, empty_allows_all: bool) -> bool {
        self.allow_all_keys.unwrap_or(
            self.keys.iter().any(|k| k.key_id == "*") || (empty_allows_all && self.keys.is_empty()),
        )
    }

    /// Whether the model passes the allow-list and the black-list (exact names; `"*"` in the
    /// allow-list allows everything, an empty one nothing unless `empty_allows_all`).
    pub fn allows_model(&self, model: &str, empty_allows_all: bool) -> bool {
        let allowed = (empty_allows_all && self.allowed_models.is_empty())
            || self.allowed_models.iter().any(|m| m == "*" || m == model);
        allowed && !self.blacklisted_models.iter().any(|m| m == model)
    }
}

/// The provider keys a provider config allows. Read from Bifrost's `key_ids` (ids: the
/// configuration file's form; it wins when both are given) or `keys` (key objects or ids: the
/// management API's form). Written as `key_ids` when the configuration is saved (under
/// [`with_exposed_secrets`](crate::model::secret::with_exposed_secrets)), so the saved file
/// stays a valid Bifrost file, and as `keys` objects (id, name, provider) in responses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyList(pub Vec<ProviderConfigKey>);

impl std::ops::Deref for KeyList {
    type Target = Vec<ProviderConfigKey>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for KeyList {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl FromIterator<ProviderConfigKey> for KeyList {
    fn from_iter<I: IntoIterator<Item = ProviderConfigKey>>(keys: I) -> Self {
        KeyList(keys.into_iter().collect())
    }
}

impl<'de> Deserialize<'de> for KeyList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Forms {
            #[serde(default, deserialize_with = "null_as_default")]
            key_ids: Option<Vec<ProviderConfigKey>>,
            #[serde(default, deserialize_with = "null_as_default")]
            keys: Option<Vec<ProviderConfigKey>>,
        }
        let forms = Forms::deserialize(deserializer)?;
        Ok(KeyList(forms.key_ids.or(forms.keys).unwrap_or_default()))
    }
}

impl Serialize for KeyList {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1))?;
        if crate::model::secret::exposing_secrets() {
            let ids: Vec<&str> = self.0.iter().map(|k| k.key_id.as_str()).collect();
            map.serialize_entry("key_ids", &ids)?;
        } else {
            map.serialize_entry("keys", &self.0)?;
        }
        map.end()
    }
}

/// A provider key a provider config allows: the key's id (`key_id`) and what the response shows
/// of it. Read from a string (the id) or an object; secrets in the object are not kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProviderConfigKey {
    /// The provider key's id (the `id` of `/api/keys`).
    pub key_id: String,
    /// The key's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The key's provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

impl<'de> Deserialize<'de> for ProviderConfigKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Id(String),
            Object {
                key_id: String,
                #[serde(default)]
                name: Option<String>,
                #[serde(default)]
                provider: Option<String>,
            },
        }
        Ok(
            match Form::deserialize(deserializer).map_err(|_| {
                serde::de::Error::custom(
                    "expected a provider key id (string) or a key object with a \"key_id\"",
                )
            })? {
                Form::Id(key_id) => Self {
                    key_id,
                    name: None,
                    provider: None,
                },
                Form::Object {
                    key_id,
                    name,
                    provider,
                } => Self {
                    key_id,
                    name,
                    provider,
                },
            },
        )
    }
}

/// The input form of a virtual key: both shapes, every optional field defaulted.
#[derive(Deserialize)]
struct VirtualKeyWire {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    value: Option<Secret>,
    #[serde(default, deserialize_with = "null_as_default")]
    description: String,
    #[serde(default = "default_true")]
    is_active: bool,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    team_id: Option<String>,
    #[serde(default)]
    customer_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    provider_configs: Vec<ProviderConfig>,
    #[serde(default, deserialize_with = "null_as_default")]
    mcp_configs: Vec<McpConfig>,
    #[serde(default)]
    budget_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    budgets: Vec<Budget>,
    /// The older shape's single budget.
    #[serde(default)]
    budget: Option<Budget>,
    #[serde(default)]
    rate_limit_id: Option<String>,
    #[serde(default)]
    rate_limit: Option<RateLimit>,
    #[serde(default)]
    calendar_aligned: bool,
    #[serde(default)]
    config_hash: Option<String>,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    created_by_user_id: Option<String>,
    #[serde(default)]
    team: Option<Box<Team>>,
    #[serde(default)]
    customer: Option<Box<Customer>>,
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
}

fn default_true() -> bool {
    true
}

/// Empty strings from Go (`"team_id": ""`) mean absent.
fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

impl From<VirtualKeyWire> for VirtualKey {
    fn from(wire: VirtualKeyWire) -> Self {
        let mut budgets = wire.budgets;
        if let Some(budget) = wire.budget {
            if !budgets
                .iter()
                .any(|b| !b.id.is_empty() && b.id == budget.id)
            {
                budgets.insert(0, budget);
            }
        }
        Self {
            id: wire.id,
            name: wire.name,
            value: wire
                .value
                .filter(|v| !v.is_empty())
                .unwrap_or_else(generate_value),
            description: wire.description,
            is_active: wire.is_active,
            expires_at: wire.expires_at,
            team_id: non_empty(wire.team_id),
            customer_id: non_empty(wire.customer_id),
            provider_configs: wire.provider_configs,
            mcp_configs: wire.mcp_configs,
            budget_id: non_empty(wire.budget_id),
            budgets,
            rate_limit_id: non_empty(wire.rate_limit_id),
            rate_limit: wire.rate_limit,
            calendar_aligned: wire.calendar_aligned,
            config_hash: wire.config_hash,
            created_at: wire.created_at,
            updated_at: wire.updated_at,
            created_by_user_id: wire.created_by_user_id,
            team: wire.team,
            customer: wire.customer,
            other: wire.other,
        }
    }
}
