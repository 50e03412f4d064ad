//! The shared configuration file: the same Bifrost-style `config.json` keyward-host reads.
//!
//! Only what the nginx module needs is taken from it: the `plugins` block (which `.so` provides
//! each role, and each plugin's own options), the `providers` block (merged into the key
//! selector's configuration, and the source of each key's value and each provider's upstream
//! base URL) and the `governance` block (merged into the governance plugin's configuration).
//! The merging mirrors keyward-host's `plugins.rs`: a plugin's `config` object, then the host's
//! data on top (`{"providers": …}` for key selection, the governance block's fields for
//! authorization and enforcement).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use keyward_plugin_api::{ffi::RoleMask, model::key::config::KeysConfig};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Where a role's plugin comes from and its own options (keyward-host's `PluginEntry`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginEntry {
    /// The `.so` path (relative paths are relative to the configuration file).
    pub path: PathBuf,
    /// The plugin's own options.
    #[serde(default)]
    pub config: Map<String, Value>,
}

/// The `plugins` block (keyward-host's `PluginsBlock`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsBlock {
    /// The key selector.
    #[serde(default)]
    pub key_selection: Option<PluginEntry>,
    /// One plugin for both authorization and enforcement.
    #[serde(default)]
    pub governance: Option<PluginEntry>,
    /// The authorizer, when not given by `governance`.
    #[serde(default)]
    pub authorization: Option<PluginEntry>,
    /// The enforcer, when not given by `governance`.
    #[serde(default)]
    pub enforcement: Option<PluginEntry>,
}

/// One `.so` and the roles built from it in one `instantiate` call.
#[derive(Clone, PartialEq)]
pub struct Group {
    /// The resolved plugin path.
    pub path: PathBuf,
    /// The roles asked of it.
    pub roles: RoleMask,
    /// The configuration JSON it is instantiated with.
    pub config_json: String,
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The configuration holds virtual-key values: never printed.
        f.debug_struct("Group")
            .field("path", &self.path)
            .field("roles", &self.roles.names())
            .finish_non_exhaustive()
    }
}

/// One provider's upstream and key values.
#[derive(Clone, Default)]
pub struct Provider {
    /// The upstream base URL, without a trailing `/`.
    pub base_url: Option<String>,
    /// Key id -> key value (the secret sent upstream). Never printed.
    pub keys: BTreeMap<String, String>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("base_url", &self.base_url)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Everything the module takes from the configuration file.
#[derive(Clone, Debug)]
pub struct SharedConfig {
    /// The plugin groups, in load order.
    pub groups: Vec<Group>,
    /// Provider name -> upstream and keys.
    pub providers: BTreeMap<String, Provider>,
}

/// The base URL used when a provider's `network_config.base_url` is not set.
pub fn default_base_url(provider: &str) -> Option<&'static str> {
    // The same list as keyward-host's proxy.
    Some(match provider {
        "openai" => "https://api.openai.com",
        "groq" => "https://api.groq.com/openai",
        "mistral" => "https://api.mistral.ai",
        "openrouter" => "https://openrouter.ai/api",
        "deepseek" => "https://api.deepseek.com",
        "xai" => "https://api.x.ai",
        "fireworks" => "https://api.fireworks.ai/inference",
        "perplexity" => "https://api.perplexity.ai",
        "cerebras" => "https://api.cerebras.ai",
        _ => return None,
    })
}

impl SharedConfig {
    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        Self::parse(&text, dir).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses the configuration text; relative plugin paths resolve against `dir`.
    pub fn parse(text: &str, dir: &Path) -> Result<Self, String> {
        Self::parse_with(text, dir, |name| std::env::var(name).ok())
    }

    /// [`parse`](Self::parse) with a custom environment lookup (for `env.NAME` key values).
    pub fn parse_with(
        text: &str,
        dir: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let root: Map<String, Value> =
            serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
        let providers_block = match root.get("providers") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(v @ Value::Object(_)) => v.clone(),
            Some(_) => return Err("providers: expected an object".to_owned()),
        };
        let governance_block = match root.get("governance") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => return Err("governance: expected an object".to_owned()),
        };
        let plugins: PluginsBlock = match root.get("plugins") {
            None | Some(Value::Null) => {
                return Err(
                    "plugins: the block is required (key_selection and governance)".to_owned(),
                );
            }
            Some(value) => {
                serde_json::from_value(value.clone()).map_err(|e| format!("plugins: {e}"))?
            }
        };

        let mut selection_data = Map::new();
        selection_data.insert("providers".to_owned(), providers_block.clone());
        let groups = groups(&plugins, dir, &selection_data, &governance_block)?;

        let keys_json = serde_json::json!({ "providers": providers_block }).to_string();
        let keys = KeysConfig::load_with(&keys_json, env).map_err(|e| e.to_string())?;
        let mut providers = BTreeMap::new();
        for (name, provider) in keys.providers {
            let base_url = providers_block
                .get(&name)
                .and_then(|p| p.get("network_config"))
                .and_then(|n| n.get("base_url"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .or_else(|| default_base_url(&name).map(str::to_owned))
                .map(|url| url.trim_end_matches('/').to_owned());
            let keys = provider
                .keys
                .into_iter()
                .map(|key| (key.id.clone(), key.value.expose().to_owned()))
                .collect();
            providers.insert(name, Provider { base_url, keys });
        }
        Ok(Self { groups, providers })
    }
}

fn groups(
    block: &PluginsBlock,
    dir: &Path,
    selection_data: &Map<String, Value>,
    governance_data: &Map<String, Value>,
) -> Result<Vec<Group>, String> {
    let mut entries: Vec<(PluginEntry, RoleMask)> = Vec::new();
    let mut add =
        |entry: &PluginEntry, roles: RoleMask| match entries.iter_mut().find(|(e, _)| e == entry) {
            Some((_, existing)) => *existing = existing.union(roles),
            None => entries.push((entry.clone(), roles)),
        };
    let selection = block
        .key_selection
        .as_ref()
        .ok_or("plugins: `key_selection` is required")?;
    add(selection, RoleMask::KEY_SELECTION);
    match (&block.governance, &block.authorization, &block.enforcement) {
        (Some(governance), None, None) => add(
            governance,
            RoleMask::AUTHORIZATION.union(RoleMask::ENFORCEMENT),
        ),
        (None, Some(authorization), Some(enforcement)) => {
            add(authorization, RoleMask::AUTHORIZATION);
            add(enforcement, RoleMask::ENFORCEMENT);
        }
        (Some(_), _, _) => {
            return Err("plugins: `governance` provides authorization and enforcement: do not also set them".to_owned());
        }
        _ => {
            return Err(
                "plugins: set `governance`, or both `authorization` and `enforcement`".to_owned(),
            );
        }
    }
    Ok(entries
        .into_iter()
        .map(|(entry, roles)| {
            let mut config = entry.config.clone();
            if roles.contains(RoleMask::KEY_SELECTION) {
                config.extend(selection_data.clone());
            }
            if roles.contains(RoleMask::AUTHORIZATION) || roles.contains(RoleMask::ENFORCEMENT) {
                config.extend(governance_data.clone());
            }
            let path = if entry.path.is_absolute() {
                entry.path.clone()
            } else {
                dir.join(&entry.path)
            };
            Group {
                path,
                roles,
                config_json: Value::Object(config).to_string(),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests;
