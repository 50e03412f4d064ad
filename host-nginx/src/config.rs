//! The shared configuration file: the same Bifrost-style `config.json` keyward-host reads, parsed
//! by the gateway core ([`keyward_host_core::config::HostConfig`]) with the same checks, the
//! same `env.NAME` resolution, the same role data (the selector gets the providers with secrets
//! redacted; the governance plugin gets the governance block and
//! `client.enforce_auth_on_inference`) and the same provider adapters
//! ([`keyward_host_core::upstream::Routes`]). What this file adds is only nginx's view of paths:
//! relative plugin paths are relative to the configuration file.

use std::path::{Path, PathBuf};

use keyward_host_core::{
    config::{HostConfig, PluginGroup, RoleData},
    models::ModelCatalog,
    upstream::Routes,
};

/// Everything the module takes from the configuration file. Its `Debug` prints the plugin
/// groups (paths, roles, option names) and the warnings, never the routes' keys or headers.
#[derive(Clone)]
pub struct SharedConfig {
    /// The plugin groups, in load order.
    pub groups: Vec<PluginGroup>,
    /// The directory relative plugin paths resolve against.
    pub dir: PathBuf,
    /// The data each role is built from.
    pub role_data: RoleData,
    /// Every provider's upstream (base URL, keys, credential header).
    pub routes: Routes,
    /// The models the configuration names (`GET /v1/models` candidates).
    pub catalog: ModelCatalog,
    /// One line per field keyward does not act on.
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for SharedConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedConfig")
            .field("groups", &self.groups)
            .field("dir", &self.dir)
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
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
        Self::parse_with(text, dir, &|name| std::env::var(name).ok())
    }

    /// [`parse`](Self::parse) with a custom environment lookup (for `env.NAME` values).
    pub fn parse_with(
        text: &str,
        dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let loaded = HostConfig::parse_with_env(text, env).map_err(|e| e.to_string())?;
        let config = loaded.config;
        if config.plugins.key_selection.is_none() {
            return Err("plugins: the block is required (key_selection and governance)".to_owned());
        }
        let groups = config.plugins.groups().map_err(|e| e.to_string())?;
        Ok(Self {
            groups,
            dir: dir.to_path_buf(),
            role_data: config.role_data(),
            routes: Routes::build(&config),
            catalog: ModelCatalog::build(&config),
            warnings: loaded.warnings,
        })
    }
}

#[cfg(test)]
mod tests;
