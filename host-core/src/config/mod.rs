//! The host's configuration: Bifrost's `config.json` shape (`providers`, `governance`,
//! `client`, …) plus two keyward blocks, `plugins` (which `.so` provides each role) and `admin`
//! (where the management API's token comes from).
//!
//! [`HostConfig::parse`] reports every error with the JSON path and the reason, and returns the
//! fields keyward does not support as [`warnings`](Loaded::warnings) — reported once at start,
//! never silently ignored, and kept as they are when the configuration is saved again.
//! `examples/quickstart.json` is a complete example; `docs/host.md` documents every field.

mod plugins;
mod supported;

use std::{collections::BTreeMap, path::Path};

use keyward_plugin_api::model::{
    allow_lists::empty_list_allows_all, key::Key, secret::resolve_env_reference_with,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use self::plugins::{
    DEFAULT_GOVERNANCE, DEFAULT_SELECTOR, PluginEntry, PluginGroup, PluginsBlock,
    PluginsBlockError, RoleData, resolve_path,
};

/// The whole configuration document. Its `Debug` names what it holds, never a value (the
/// governance block holds virtual-key values, headers and plugin options may hold secrets).
#[derive(Clone, Default, Deserialize, Serialize)]
pub struct HostConfig {
    /// Provider name -> provider (keys, network settings).
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderConfig>,
    /// The governance block, given as is to the governance plugin (virtual keys, teams,
    /// customers, budgets, rate limits).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub governance: Map<String, Value>,
    /// Client settings.
    #[serde(default)]
    pub client: ClientConfig,
    /// Which plugin provides each role: keyward's object, read from `plugins` or from
    /// `keyward_plugins` (where it goes when `plugins` holds Bifrost's own array).
    #[serde(default, deserialize_with = "plugins_block")]
    pub plugins: PluginsBlock,
    /// The block as given under `keyward_plugins` (moved into `plugins` by
    /// [`parse`](Self::parse); saved back under that name).
    #[serde(default, skip_serializing)]
    keyward_plugins: Option<PluginsBlock>,
    /// Where the block is saved: `keyward_plugins` when it was read from there, or when
    /// `plugins` holds Bifrost's array.
    #[serde(skip)]
    plugins_under_keyward_name: bool,
    /// Bifrost's own `plugins` array (its built-in and Go plugins), kept verbatim for saving.
    #[serde(skip)]
    bifrost_plugins: Option<Value>,
    /// Management API authentication.
    #[serde(default)]
    pub admin: AdminConfig,
    /// Every other top-level field, kept for saving (and reported when unsupported).
    #[serde(flatten)]
    pub other: Map<String, Value>,
    /// What cannot be used because an `env.NAME` it needs is not set (found by
    /// [`prepare`](Self::prepare)): the host starts without it, `/health` lists it, and a
    /// request that needs it is told which entry and why.
    #[serde(skip)]
    pub unusable: Vec<Unusable>,
}

/// What an [`Unusable`] entry is (serialized `provider_key`, `provider`, `virtual_key`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnusableKind {
    /// A provider key: never picked.
    ProviderKey,
    /// A provider (its `base_url`): none of its keys is picked.
    Provider,
    /// A virtual key: it matches no request.
    VirtualKey,
}

/// An entry of the configuration the gateway serves without: its kind, its id, and why —
/// never a secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unusable {
    /// What it is.
    pub kind: UnusableKind,
    /// The provider, for a provider key or a provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The entry's id (a provider's name).
    pub id: String,
    /// Why, e.g. `env.OPENAI_API_KEY is not set`.
    pub reason: String,
    /// Where it is in the configuration (`providers.openai.keys[0]`).
    pub path: String,
}

impl std::fmt::Debug for HostConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let providers: BTreeMap<&str, Vec<&str>> = self
            .providers
            .iter()
            .map(|(name, p)| {
                (
                    name.as_str(),
                    p.keys.iter().map(|k| k.id.as_str()).collect(),
                )
            })
            .collect();
        f.debug_struct("HostConfig")
            .field("providers (key ids)", &providers)
            .field(
                "governance (fields)",
                &self.governance.keys().collect::<Vec<_>>(),
            )
            .field("plugins", &self.plugins.paths())
            .field("other (fields)", &self.other.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// One provider.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ProviderConfig {
    /// Its keys.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub keys: Vec<Key>,
    /// Network settings.
    #[serde(default, skip_serializing_if = "NetworkConfig::is_empty")]
    pub network_config: NetworkConfig,
    /// Every other field, kept for saving.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A provider's network settings.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct NetworkConfig {
    /// The upstream base URL (`https://api.openai.com` for `openai` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Headers added to every upstream request.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra_headers: BTreeMap<String, String>,
    /// Upstream request timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_request_timeout_in_seconds: Option<u64>,
    /// How long a streamed answer may go without a byte before it is cut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_idle_timeout_in_seconds: Option<u64>,
    /// Retries with another key after a 429 or 5xx.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// Every other field, kept for saving.
    #[serde(flatten)]
    pub other: Map<String, Value>,
    /// `base_url` with an `env.NAME` reference read (set by [`HostConfig::prepare`]; never
    /// saved: the file keeps the reference).
    #[serde(skip)]
    pub resolved_base_url: Option<String>,
}

impl NetworkConfig {
    fn is_empty(&self) -> bool {
        self.base_url.is_none()
            && self.extra_headers.is_empty()
            && self.default_request_timeout_in_seconds.is_none()
            && self.stream_idle_timeout_in_seconds.is_none()
            && self.max_retries.is_none()
            && self.other.is_empty()
    }
}

/// Client settings keyward uses.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ClientConfig {
    /// Require a virtual key on every inference request.
    #[serde(default)]
    pub enforce_auth_on_inference: bool,
    /// The largest request body accepted, in MiB (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_request_body_size_mb: Option<u64>,
    /// Every other field, kept for saving.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl ClientConfig {
    /// Whether inference requires a virtual key: `enforce_auth_on_inference`, or the deprecated
    /// `enforce_governance_header` it replaced (Bifrost reads either).
    pub fn requires_virtual_key(&self) -> bool {
        self.enforce_auth_on_inference
            || self.other.get("enforce_governance_header") == Some(&Value::Bool(true))
    }
}

/// Where the admin token comes from.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// The environment variable holding the management API's bearer token.
    #[serde(default = "default_token_env")]
    pub token_env: String,
    /// Who may read `GET /metrics` (it names virtual keys and their spend).
    #[serde(default, skip_serializing_if = "MetricsAccess::is_open")]
    pub metrics: MetricsAccess,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            token_env: default_token_env(),
            metrics: MetricsAccess::Open,
        }
    }
}

/// Who may read `GET /metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricsAccess {
    /// Anyone who reaches the port (the default, for a scraper on a private network).
    #[default]
    Open,
    /// Only the management API's credentials (the admin token, or `governance.auth_config`'s
    /// Basic credentials): a scraper sends `Authorization: Bearer <admin token>`.
    Admin,
}

impl MetricsAccess {
    fn is_open(&self) -> bool {
        *self == Self::Open
    }
}

fn default_token_env() -> String {
    "KEYWARD_ADMIN_TOKEN".to_owned()
}

/// A configuration error: where, and why.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ConfigError {
    /// The JSON path of the offending field (`providers.openai.keys[1].weight`), or the file.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

impl ConfigError {
    fn new(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// A parsed configuration and what it contained that keyward does not support.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The configuration.
    pub config: HostConfig,
    /// One line per unsupported field, naming it.
    pub warnings: Vec<String>,
}

impl HostConfig {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(path.display().to_string(), e.to_string()))?;
        Self::parse(&text)
    }

    /// Parses a configuration document, resolves `env.NAME` values, generates missing key ids
    /// and checks cross-field rules.
    pub fn parse(text: &str) -> Result<Loaded, ConfigError> {
        Self::parse_with_env(text, &|name| std::env::var(name).ok())
    }

    /// [`parse`](Self::parse) with a custom environment lookup for `env.NAME` values.
    pub fn parse_with_env(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Loaded, ConfigError> {
        let document: Value = serde_json::from_str(text).map_err(|e| {
            ConfigError::new(
                format!("line {}, column {}", e.line(), e.column()),
                e.to_string(),
            )
        })?;
        if !document.is_object() {
            return Err(ConfigError::new(
                "$",
                "the configuration must be a JSON object",
            ));
        }
        let warnings = supported::unsupported_fields(&document);
        let mut config: HostConfig = serde_path_to_error::deserialize(&document).map_err(|e| {
            ConfigError::new(
                json_path(&e.path().to_string()),
                keyward_plugin_api::model::secret::without_input_values(&e.inner().to_string()),
            )
        })?;
        config.bifrost_plugins = document
            .get("plugins")
            .filter(|plugins| plugins.is_array())
            .cloned();
        if let Some(block) = config.keyward_plugins.take() {
            if config.plugins != PluginsBlock::default() {
                return Err(ConfigError::new(
                    "keyward_plugins",
                    "the plugins block is given twice (under plugins and keyward_plugins): keep one",
                ));
            }
            config.plugins = block;
            config.plugins_under_keyward_name = true;
        }
        config.plugins_under_keyward_name |= config.bifrost_plugins.is_some();
        config.prepare_with_env(env)?;
        let mut warnings = warnings;
        for (provider, entry) in &config.providers {
            for (index, key) in entry.keys.iter().enumerate() {
                warnings.extend(key.unread_fields().into_iter().map(|field| {
                    format!(
                        "providers.{provider}.keys[{index}].{field}: not supported by keyward, kept as it is (shown redacted)"
                    )
                }));
            }
        }
        // Virtual keys are the governance plugin's to warn about (it leaves them out).
        warnings.extend(
            config
                .unusable
                .iter()
                .filter(|u| u.kind != UnusableKind::VirtualKey)
                .map(|u| {
                    format!(
                        "{}: cannot be used, {}; served without it",
                        u.path, u.reason
                    )
                }),
        );
        Ok(Loaded { config, warnings })
    }

    /// Resolves environment references, fills missing ids, and checks uniqueness rules.
    pub fn prepare(&mut self) -> Result<(), ConfigError> {
        self.prepare_with_env(&|name| std::env::var(name).ok())
    }

    /// The file's top-level `version` (what an empty allow-list means:
    /// [`empty_list_allows_all`]), checked; absent is the default, 2. Every role is given it.
    pub fn allow_list_version(&self) -> Result<u64, ConfigError> {
        let version = match self.other.get("version") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
            Some(other) => {
                return Err(ConfigError::new(
                    "version",
                    format!("must be 1 or 2, got {other}"),
                ));
            }
        };
        empty_list_allows_all(version).map_err(|reason| ConfigError::new("version", reason))?;
        Ok(version.unwrap_or(2))
    }

    /// [`prepare`](Self::prepare) with a custom environment lookup.
    pub fn prepare_with_env(
        &mut self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        self.allow_list_version()?;
        // An unset `env.NAME` makes its entry unusable, not the whole gateway (Bifrost keeps
        // serving too): each is recorded here, and the rest starts.
        let mut unusable = Vec::new();
        for (provider, entry) in &mut self.providers {
            if let Some(url) = &entry.network_config.base_url {
                match resolve_env_reference_with(url, env) {
                    Ok(resolved) => entry.network_config.resolved_base_url = Some(resolved),
                    Err(missing) => unusable.push(Unusable {
                        kind: UnusableKind::Provider,
                        provider: Some(provider.clone()),
                        id: provider.clone(),
                        reason: format!("network_config.base_url: {missing}"),
                        path: format!("providers.{provider}.network_config.base_url"),
                    }),
                }
            }
        }
        let mut names: BTreeMap<String, String> = BTreeMap::new();
        let mut ids: BTreeMap<String, String> = BTreeMap::new();
        for (provider, entry) in &mut self.providers {
            for (index, key) in entry.keys.iter_mut().enumerate() {
                let at = format!("providers.{provider}.keys[{index}]");
                if key.id.is_empty() {
                    key.id = uuid::Uuid::new_v4().to_string();
                }
                if let Err(error) = key.resolve_env_with(env) {
                    unusable.push(Unusable {
                        kind: UnusableKind::ProviderKey,
                        provider: Some(provider.clone()),
                        id: key.id.clone(),
                        reason: format!("{}: env.{} is not set", error.field, error.variable),
                        path: at.clone(),
                    });
                }
                if let Some(other) = ids.insert(key.id.clone(), at.clone()) {
                    return Err(ConfigError::new(
                        format!("{at}.id"),
                        format!("duplicate key id `{}` (also at {other})", key.id),
                    ));
                }
                if !key.name.is_empty()
                    && let Some(other) = names.insert(key.name.clone(), at.clone())
                {
                    return Err(ConfigError::new(
                        format!("{at}.name"),
                        format!(
                            "key names must be unique across providers: `{}` is also at {other}",
                            key.name
                        ),
                    ));
                }
            }
        }
        unusable.extend(self.unusable_virtual_keys(env));
        self.unusable = unusable;
        Ok(())
    }

    /// Virtual keys whose `value` names an unset `env.NAME` (the governance plugin leaves them
    /// out and says so; the host lists them).
    fn unusable_virtual_keys(&self, env: &dyn Fn(&str) -> Option<String>) -> Vec<Unusable> {
        let Some(Value::Array(keys)) = self.governance.get("virtual_keys") else {
            return Vec::new();
        };
        keys.iter()
            .enumerate()
            .filter_map(|(i, key)| {
                let value = key.get("value")?.as_str()?;
                let missing = resolve_env_reference_with(value, env).err()?;
                Some(Unusable {
                    kind: UnusableKind::VirtualKey,
                    provider: None,
                    id: key
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    reason: format!("value: {missing}"),
                    path: format!("governance.virtual_keys[{i}]"),
                })
            })
            .collect()
    }

    /// Whether the provider key (or its whole provider) is unusable.
    pub fn is_unusable_key(&self, provider: &str, key_id: &str) -> bool {
        self.unusable_of(provider).any(|u| {
            u.kind == UnusableKind::Provider
                || (u.kind == UnusableKind::ProviderKey && u.id == key_id)
        })
    }

    /// Whether the provider itself (its `base_url`) is unusable.
    pub fn is_unusable_provider(&self, provider: &str) -> bool {
        self.unusable_of(provider)
            .any(|u| u.kind == UnusableKind::Provider)
    }

    /// The unusable entries of `provider` (the provider itself and its keys).
    pub fn unusable_of<'a>(&'a self, provider: &'a str) -> impl Iterator<Item = &'a Unusable> {
        self.unusable
            .iter()
            .filter(move |u| u.provider.as_deref() == Some(provider))
    }

    /// The data each role is built from: the selector gets the providers (secrets redacted:
    /// it needs none), the governance plugin gets the governance block and whether a virtual
    /// key is required.
    pub fn role_data(&self) -> RoleData {
        let providers: Map<String, Value> = self
            .providers
            .iter()
            .map(|(name, provider)| {
                // An unusable key stays in the list (its id is known) but is never picked.
                let keys: Vec<Value> = provider
                    .keys
                    .iter()
                    .map(|key| {
                        let mut value = serde_json::to_value(key).unwrap_or(Value::Null);
                        if self.is_unusable_key(name, &key.id)
                            && let Some(object) = value.as_object_mut()
                        {
                            object.insert("enabled".to_owned(), Value::Bool(false));
                        }
                        value
                    })
                    .collect();
                (name.clone(), serde_json::json!({ "keys": keys }))
            })
            .collect();
        // Both roles read the file's allow-list semantics (prepare checked the value).
        let version = Value::from(self.allow_list_version().unwrap_or(2));
        let mut key_selection = Map::new();
        key_selection.insert("providers".to_owned(), Value::Object(providers));
        key_selection.insert("version".to_owned(), version.clone());
        let mut governance = self.governance.clone();
        governance
            .entry("enforce_virtual_keys")
            .or_insert(Value::Bool(self.client.requires_virtual_key()));
        if let Some(depth) = self.client.other.get("routing_chain_max_depth") {
            governance.insert("routing_chain_max_depth".to_owned(), depth.clone());
        }
        governance.insert("version".to_owned(), version);
        governance.insert("provider_models".to_owned(), self.provider_models());
        RoleData {
            key_selection,
            governance,
        }
    }

    /// What the configuration says of each provider's models, for the model catalog the
    /// governance plugin routes bare model names with: the models its enabled, usable keys name
    /// (explicit `models` entries, aliases) and whether one allows every model.
    fn provider_models(&self) -> Value {
        let providers: Map<String, Value> = self
            .providers
            .iter()
            .map(|(name, provider)| {
                let usable = provider
                    .keys
                    .iter()
                    .filter(|k| k.is_enabled() && !self.is_unusable_key(name, &k.id));
                let mut models = std::collections::BTreeSet::new();
                let mut any_model = false;
                for key in usable {
                    any_model |= key.allows_every_model();
                    models.extend(key.named_models().cloned());
                }
                (
                    name.clone(),
                    serde_json::json!({"models": models, "any_model": any_model}),
                )
            })
            .collect();
        Value::Object(providers)
    }

    /// The configuration as saved in the data directory: secrets in clear (literal values) or
    /// as their environment variable, so a restart rebuilds the same configuration.
    pub fn to_saved_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut value =
            keyward_plugin_api::model::secret::with_exposed_secrets(|| serde_json::to_value(self))?;
        // Bifrost's `plugins` array goes back as it came; keyward's block then (or when it was
        // read from there) under `keyward_plugins`.
        if self.plugins_under_keyward_name
            && let Value::Object(fields) = &mut value
        {
            if let Some(block) = fields.remove("plugins") {
                fields.insert("keyward_plugins".to_owned(), block);
            }
            if let Some(array) = &self.bifrost_plugins {
                fields.insert("plugins".to_owned(), array.clone());
            }
        }
        serde_json::to_vec_pretty(&value)
    }
}

/// Turns serde_path_to_error's `providers.openai.keys[1].weight` form into ours (the same, with
/// `$` for the root).
fn json_path(path: &str) -> String {
    if path.is_empty() || path == "." {
        "$".to_owned()
    } else {
        path.to_owned()
    }
}

fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// Reads the `plugins` block: keyward's object form; Bifrost's array form (its built-in and Go
/// plugins) is reported as unsupported and yields no plugins.
fn plugins_block<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<PluginsBlock, D::Error> {
    let value = Value::deserialize(deserializer)?;
    match value {
        Value::Array(_) | Value::Null => Ok(PluginsBlock::default()),
        other => serde_json::from_value(other).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests;
