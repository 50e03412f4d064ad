//! Start-up: which configuration to use, the admin token, the plugins, and the usage restored
//! from the data directory.
//!
//! The data directory's `config.json` (the configuration as changed through the management API)
//! wins over `--config`, which seeds a fresh data directory; later edits to `--config` are
//! applied to it entry by entry at the next start ([`reseed`]). Relative plugin paths are
//! resolved against the directory of the file they were read from; with no `plugins` block the
//! default plugins next to the `keyward-host` executable are used.

use std::path::{Path, PathBuf};

use keyward_plugin_api::{hosts::SystemHost, model::secret::Secret};

use keyward_host_core::config::{HostConfig, PluginsBlock, resolve_path};

use crate::{
    cli::Args,
    service::{
        persist::{atomic_write, remove_leftovers},
        plugins::PluginHost,
        reseed::{self, SEED_COPY},
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
    // The data directory holds secrets: created 0700 (an existing one keeps its mode, and a
    // mode that lets others in is warned at start).
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(&args.data_dir)
        .map_err(|e| {
            format!(
                "cannot create the data directory {}: {e}",
                args.data_dir.display()
            )
        })?;
    if let Ok(metadata) = std::fs::metadata(&args.data_dir) {
        let mode = std::os::unix::fs::PermissionsExt::mode(&metadata.permissions()) & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                data_dir = %args.data_dir.display(),
                mode = format!("{mode:o}"),
                "the data directory holds secrets and others may read or enter it: chmod 700 it"
            );
        }
    }
    let removed = remove_leftovers(&args.data_dir).unwrap_or(0);
    if removed > 0 {
        tracing::warn!(
            removed,
            "removed temporary files left by an interrupted write"
        );
    }
    let (_, config, seeding) = load_config(args)?;

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
    .map_err(|e| format!("plugins: {e}{}", seeding.context(args)))?;
    seeding.commit(args)?;
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

/// The configuration the host uses — the one saved in the data directory (with the edits made
/// to `--config` since it was last seeded applied, [`reseed`]), else `--config` — with its
/// plugin paths made absolute. Nothing is written: what is to be saved is returned as a
/// [`Seeding`], committed once the plugins accept the configuration.
fn load_config(args: &Args) -> Result<(PathBuf, HostConfig, Seeding), String> {
    let saved = args.data_dir.join(SAVED_CONFIG);
    // `--config` is read once: its text when it is the source, its document for the seed.
    let file_text = std::fs::read_to_string(&args.config);
    let file = file_text
        .as_deref()
        .ok()
        .and_then(|text| file_document(text, &args.config));
    let source = if saved.exists() {
        saved.clone()
    } else {
        args.config.clone()
    };
    let mut seeding = Seeding {
        seed: file.clone(),
        merged: None,
    };
    let text = if saved.exists() {
        reseeded_text(args, &saved, file.as_ref(), &mut seeding)?
    } else {
        file_text.map_err(|e| format!("{}: {e}", args.config.display()))?
    };
    let loaded = HostConfig::parse(&text)
        .map_err(|e| format!("{}: {e}{}", source.display(), seeding.context(args)))?;
    tracing::info!(config = %source.display(), "configuration loaded");
    for warning in &loaded.warnings {
        tracing::warn!("{}: {warning}", source.display());
    }
    let mut config = loaded.config;
    let base = source.parent().map(Path::to_path_buf).unwrap_or_default();
    config.plugins = absolute_plugins(&config.plugins, &base)?;
    Ok((source, config, seeding))
}

/// What start-up saves once the plugins accept the configuration: the `--config` document as
/// seeded (the base of the next start's merge) and the merged configuration, when the file's
/// edits changed it.
struct Seeding {
    seed: Option<serde_json::Value>,
    merged: Option<String>,
}

impl Seeding {
    /// Writes the merged configuration, then the seeded copy (a crash between the two applies
    /// the same edits again at the next start, which changes nothing more).
    fn commit(&self, args: &Args) -> Result<(), String> {
        if let Some(merged) = &self.merged {
            let saved = args.data_dir.join(SAVED_CONFIG);
            atomic_write(&saved, merged.as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", saved.display()))?;
        }
        if let Some(file) = &self.seed {
            let path = args.data_dir.join(SEED_COPY);
            let text = serde_json::to_vec_pretty(file).unwrap_or_default();
            atomic_write(&path, &text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        Ok(())
    }

    /// Added to an error met while the file's edits are applied.
    fn context(&self, args: &Args) -> String {
        if self.merged.is_some() {
            format!(
                " (after applying the edits made to {} since it was last seeded; the saved configuration is unchanged)",
                args.config.display()
            )
        } else {
            String::new()
        }
    }
}

/// `--config`'s `text` (read from `path`) as JSON, its relative plugin paths made absolute (the
/// merged result is saved in the data directory, where they would not resolve); `None` when it
/// does not parse (the saved configuration is then used as it is).
fn file_document(text: &str, path: &Path) -> Option<serde_json::Value> {
    let mut document: serde_json::Value = serde_json::from_str(text).ok()?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    for block in ["plugins", "keyward_plugins"] {
        let Some(roles) = document
            .get_mut(block)
            .and_then(serde_json::Value::as_object_mut)
        else {
            continue;
        };
        for entry in roles.values_mut() {
            if let Some(path) = entry.get_mut("path")
                && let Some(relative) = path.as_str().filter(|p| Path::new(p).is_relative())
            {
                *path = resolve_path(&dir, Path::new(relative))
                    .display()
                    .to_string()
                    .into();
            }
        }
    }
    Some(document)
}

/// The saved configuration's text, with the edits made to `--config` since it was last seeded
/// applied when there are any (the merge is kept in `seeding`, to be saved).
fn reseeded_text(
    args: &Args,
    saved: &Path,
    file: Option<&serde_json::Value>,
    seeding: &mut Seeding,
) -> Result<String, String> {
    let text = std::fs::read_to_string(saved).map_err(|e| format!("{}: {e}", saved.display()))?;
    let Some(file) = file else {
        return Ok(text);
    };
    // Without a seeded copy (a data directory from before it was recorded), the file as it is
    // now becomes the base later edits are measured against.
    let Some(seeded) = std::fs::read_to_string(args.data_dir.join(SEED_COPY))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    else {
        return Ok(text);
    };
    if seeded == *file {
        return Ok(text);
    }
    let mut merged: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", saved.display()))?;
    let report = reseed::merge(&mut merged, &seeded, file);
    for entry in &report.kept {
        tracing::warn!(
            entry = %entry,
            config = %args.config.display(),
            "removed from the file, but changed through the management API since: kept"
        );
    }
    if report.is_empty() {
        return Ok(text);
    }
    tracing::info!(
        config = %args.config.display(),
        taken = ?report.taken,
        removed = ?report.removed,
        "applied the edits made to the file since it was last seeded"
    );
    let merged_text = serde_json::to_string_pretty(&merged).unwrap_or_default();
    seeding.merged = Some(merged_text.clone());
    Ok(merged_text)
}

/// `--check-config`: whether the host would start with this configuration and these plugins,
/// as `nginx -t` answers for nginx. Reads the configuration the host would use, loads each
/// plugin and has it check its part (its own `validate`, which builds nothing, or — a plugin
/// built against interface 0.3.0 — by building its roles and dropping them). Writes nothing
/// and starts nothing. Answers one line per plugin, or the first problem.
pub fn check_config(args: &Args) -> Result<Vec<String>, String> {
    let (source, config, _) = load_config(args)?;
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
