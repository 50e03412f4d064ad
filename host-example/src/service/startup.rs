//! Start-up: which configuration to use, the admin token, the plugins, and the usage restored
//! from the data directory.
//!
//! The data directory's `config.json` (the configuration as changed through the management API)
//! wins over `--config`, which only seeds a fresh data directory. Relative plugin paths are
//! resolved against the directory of the file they were read from; with no `plugins` block the
//! default plugins next to the `keyward-host` executable are used.

use std::path::{Path, PathBuf};

use keyward_plugin_api::{hosts::SystemHost, model::secret::Secret};

use keyward_host_core::config::{HostConfig, PluginsBlock};

use crate::{
    cli::Args,
    service::{
        persist::remove_leftovers,
        plugins::PluginHost,
        store::{SAVED_CONFIG, SAVED_USAGE},
    },
};

/// What start-up produced.
pub struct Started {
    /// The configuration in force.
    pub config: HostConfig,
    /// The running plugins.
    pub plugins: std::sync::Arc<PluginHost>,
    /// The management API's token (optional when `governance.auth_config` is enabled).
    pub admin_token: Option<Secret>,
    /// Bifrost's `governance.auth_config` credentials, when it is enabled.
    pub admin_basic: Option<(Secret, Secret)>,
}

/// Loads the configuration, the plugins and the saved usage.
pub fn start(args: &Args) -> Result<Started, String> {
    // The data directory holds secrets: created 0700 (an existing one keeps its mode).
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(&args.data_dir)
        .map_err(|e| {
            format!(
                "cannot create the data directory {}: {e}",
                args.data_dir.display()
            )
        })?;
    let removed = remove_leftovers(&args.data_dir).unwrap_or(0);
    if removed > 0 {
        tracing::warn!(
            removed,
            "removed temporary files left by an interrupted write"
        );
    }
    let (_, config) = load_config(args)?;

    let token_env = config.admin.token_env.clone();
    let admin_token = std::env::var(&token_env)
        .ok()
        .filter(|t| !t.is_empty())
        .map(Secret::new);
    let admin_basic = basic_credentials(&config)?;
    if admin_token.is_none() && admin_basic.is_none() {
        return Err(format!(
            "admin.token_env: the environment variable {token_env} (the management API token) is not set, and governance.auth_config is not enabled: the management API would have no credential"
        ));
    }

    // Each load makes its own private directory under it (plugin-api's loader).
    let copies = std::env::temp_dir();
    let (plugins, report) = PluginHost::start(
        &config.plugins,
        &config.role_data(),
        SystemHost::handle(),
        copies,
    )
    .map_err(|e| format!("plugins: {e}"))?;
    for plugin in &report.plugins {
        tracing::info!(
            plugin = %plugin.load.name,
            path = %plugin.load.path.display(),
            roles = ?plugin.serves,
            interface = %plugin.load.interface_version,
            "plugin ready"
        );
    }
    let usage = args.data_dir.join(SAVED_USAGE);
    if let Ok(text) = std::fs::read_to_string(&usage) {
        plugins
            .restore_usage(&text)
            .map_err(|e| format!("{}: cannot restore usage: {e}", usage.display()))?;
        tracing::info!(path = %usage.display(), "usage restored");
    }
    Ok(Started {
        config,
        plugins: std::sync::Arc::new(plugins),
        admin_token,
        admin_basic,
    })
}

/// The configuration the host uses — the one saved in the data directory, else `--config` —
/// with its plugin paths made absolute.
fn load_config(args: &Args) -> Result<(PathBuf, HostConfig), String> {
    let saved = args.data_dir.join(SAVED_CONFIG);
    let source = if saved.exists() {
        saved
    } else {
        args.config.clone()
    };
    let loaded = HostConfig::load(&source).map_err(|e| format!("{}: {e}", source.display()))?;
    tracing::info!(config = %source.display(), "configuration loaded");
    for warning in &loaded.warnings {
        tracing::warn!("{}: {warning}", source.display());
    }
    let mut config = loaded.config;
    let base = source.parent().map(Path::to_path_buf).unwrap_or_default();
    config.plugins = absolute_plugins(&config.plugins, &base)?;
    Ok((source, config))
}

/// `--check-config`: whether the host would start with this configuration and these plugins,
/// as `nginx -t` answers for nginx. Reads the configuration the host would use, loads each
/// plugin and has it check its part (its own `validate`, which builds nothing, or — a plugin
/// built against interface 0.3.0 — by building its roles and dropping them). Writes nothing
/// and starts nothing. Answers one line per plugin, or the first problem.
pub fn check_config(args: &Args) -> Result<Vec<String>, String> {
    let (source, config) = load_config(args)?;
    let groups = config
        .plugins
        .groups()
        .map_err(|e| format!("{}: plugins: {}", source.display(), e.0))?;
    let data = config.role_data();
    let mut lines = vec![format!("configuration {}: parsed", source.display())];
    for group in &groups {
        let plugin = keyward_plugin_api::loader::load_plugin(&group.entry.path)
            .map_err(|e| format!("plugins: {e}"))?;
        plugin
            .validate(
                &group.config_json(&data),
                group.roles,
                keyward_plugin_api::hosts::QuietHost::handle(),
            )
            .map_err(|e| format!("plugins: {e}"))?;
        let report = plugin.report();
        lines.push(format!(
            "{} from {}: {} {} (interface {}) accepts its configuration ({})",
            group.roles.names().join("+"),
            group.entry.path.display(),
            report.name,
            report.plugin_version,
            report.interface_version,
            if plugin.exports_validate() {
                "checked by its validate"
            } else {
                "checked by building its roles: it predates validate"
            }
        ));
    }
    Ok(lines)
}

/// Bifrost's `governance.auth_config` (`is_enabled`, `admin_username`, `admin_password`, each
/// credential a string or `"env.NAME"`): the management API's Basic credentials when enabled.
fn basic_credentials(config: &HostConfig) -> Result<Option<(Secret, Secret)>, String> {
    let Some(auth) = config.governance.get("auth_config") else {
        return Ok(None);
    };
    if auth.get("is_enabled").and_then(serde_json::Value::as_bool) != Some(true) {
        return Ok(None);
    }
    let field = |name: &str| -> Result<Secret, String> {
        let raw = auth
            .get(name)
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                format!("governance.auth_config.{name}: required when is_enabled is true")
            })?;
        keyward_plugin_api::model::secret::resolve_env_reference(raw)
            .map(Secret::new)
            .map_err(|missing| format!("governance.auth_config.{name}: {missing}"))
    };
    Ok(Some((field("admin_username")?, field("admin_password")?)))
}

fn absolute_plugins(block: &PluginsBlock, base: &Path) -> Result<PluginsBlock, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the executable: {e}"))?;
    let install_dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok(block.resolved(base, &install_dir))
}
