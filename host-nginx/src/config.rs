//! The shared configuration file: the same Bifrost-style `config.json` keyward-host reads, parsed
//! by the gateway core ([`keyward_host_core::config::HostConfig`]) with the same checks, the
//! same `env.NAME` resolution, the same role data (the selector gets the providers with secrets
//! redacted; the governance plugin gets the governance block and
//! `client.enforce_auth_on_inference`) and the same provider adapters
//! ([`keyward_host_core::upstream::Routes`]). What this file adds is only nginx's view of paths:
//! relative plugin paths are relative to the configuration file, and a role the file names no
//! plugin for gets the default plugin installed beside the module's own `.so` (as keyward-host
//! takes the one beside its executable).

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
    /// Cross-origin rules (`client.allowed_origins`, `client.allowed_headers`).
    pub cors: keyward_host_core::cors::CorsPolicy,
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
        let install_dir = module_dir().ok_or_else(|| {
            "cannot find the directory of the keyward module in /proc/self/maps".to_owned()
        })?;
        Self::parse_with(&text, dir, &install_dir, &|name| std::env::var(name).ok())
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses the configuration text: relative plugin paths resolve against `dir`, a role the
    /// text names no plugin for takes the default one in `install_dir`; `env` resolves
    /// `env.NAME` values.
    pub fn parse_with(
        text: &str,
        dir: &Path,
        install_dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let loaded = HostConfig::parse_with_env(text, env).map_err(|e| e.to_string())?;
        let config = loaded.config;
        let groups = config
            .plugins
            .resolved(dir, install_dir)
            .groups()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            groups,
            dir: dir.to_path_buf(),
            role_data: config.role_data(),
            routes: Routes::build(&config),
            catalog: ModelCatalog::build(&config),
            warnings: loaded.warnings,
            cors: keyward_host_core::cors::CorsPolicy::from_client(&config.client.other),
        })
    }
}

/// The directory of the `.so` this code was loaded from: the mapping of `/proc/self/maps` that
/// holds this function's address.
fn module_dir() -> Option<PathBuf> {
    let address = module_dir as fn() -> Option<PathBuf> as usize;
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (start, end) = fields.next()?.split_once('-')?;
        let start = usize::from_str_radix(start, 16).ok()?;
        let end = usize::from_str_radix(end, 16).ok()?;
        let path = fields.nth(4)?;
        (start <= address && address < end && path.starts_with('/'))
            .then(|| Path::new(path).parent().map(Path::to_path_buf))
            .flatten()
    })
}

#[cfg(test)]
mod tests;
