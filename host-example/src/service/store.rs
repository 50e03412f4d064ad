//! The live configuration and how it changes: [`Store::update`] applies a change to a copy,
//! validates it, has the plugins build new instances from it (they validate it too), writes it to
//! the data directory atomically, and only then publishes the new plugins and the new
//! configuration. Any failure leaves the running configuration, the plugins and the file as they
//! were. Writers are serialized; readers take a lock-free snapshot. Failures are the core's
//! [`GatewayError`]s (a refused change is a 400 naming the field, anything else a 500).
//!
//! The data directory holds `config.json` (the configuration as changed through the API) and
//! `usage.json` (the enforcer's counters, snapshotted every second and on shutdown).

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use arc_swap::ArcSwap;
use keyward_plugin_api::{ffi::ErrorCode, loader::LoadError};

use keyward_host_core::{
    config::{HostConfig, PluginsBlock},
    error::GatewayError,
    models::ModelCatalog,
    upstream::Routes,
};

use crate::service::{
    persist::atomic_write,
    plugins::{PluginError, PluginHost, Prepared, ReloadReport},
};

/// The file the configuration is saved to, in the data directory.
pub const SAVED_CONFIG: &str = "config.json";
/// The file usage snapshots are saved to, in the data directory.
pub const SAVED_USAGE: &str = "usage.json";

/// The live configuration.
pub struct Store {
    current: ArcSwap<HostConfig>,
    routes: ArcSwap<Routes>,
    catalog: ArcSwap<ModelCatalog>,
    writer: tokio::sync::Mutex<()>,
    /// Held while usage is read and written, so a save that read older usage can never land
    /// after one that read newer (the snapshot in flight at shutdown and the final save).
    usage_writer: std::sync::Mutex<()>,
    plugins: Arc<PluginHost>,
    data_dir: PathBuf,
}

impl Store {
    /// A store publishing `config`, whose plugins are `plugins`.
    pub fn new(config: HostConfig, plugins: Arc<PluginHost>, data_dir: PathBuf) -> Self {
        Self {
            routes: ArcSwap::from_pointee(Routes::build(&config)),
            catalog: ArcSwap::from_pointee(ModelCatalog::build(&config)),
            current: ArcSwap::from_pointee(config),
            writer: tokio::sync::Mutex::new(()),
            usage_writer: std::sync::Mutex::new(()),
            plugins,
            data_dir,
        }
    }

    /// The current configuration.
    pub fn snapshot(&self) -> Arc<HostConfig> {
        self.current.load_full()
    }

    /// The models the current configuration names (`GET /v1/models` candidates).
    pub fn catalog(&self) -> Arc<ModelCatalog> {
        self.catalog.load_full()
    }

    /// The upstream routes of the current configuration.
    pub fn routes(&self) -> Arc<Routes> {
        self.routes.load_full()
    }

    /// The plugins.
    pub fn plugins(&self) -> &Arc<PluginHost> {
        &self.plugins
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Applies `change` to a copy of the configuration; see the module docs. `change` fails in
    /// its caller's error type `E`; the store's own failures ([`GatewayError`]) are converted to
    /// it.
    pub async fn update<T, E>(
        &self,
        change: impl FnOnce(&mut HostConfig) -> Result<T, E>,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<GatewayError>,
    {
        let _one_writer = self.writer.lock().await;
        let mut next = (*self.snapshot()).clone();
        let output = change(&mut next)?;
        next.prepare()
            .map_err(|e| GatewayError::bad_request(e.path, e.reason))?;
        let bytes = next.to_saved_json().map_err(|e| {
            GatewayError::internal(format!("cannot serialize the configuration: {e}"))
        })?;
        let data = next.role_data();
        let plugins = self.plugins.clone();
        let path = self.data_dir.join(SAVED_CONFIG);
        tokio::task::spawn_blocking(move || {
            build_save_publish(&plugins, &path, &bytes, |p| p.prepare(&data, false)).map_err(
                |failure| match failure {
                    SaveFailure::Plugins(error) => plugin_error(error),
                    SaveFailure::Write => GatewayError::internal(NOT_SAVED),
                },
            )
        })
        .await
        .map_err(|e| GatewayError::internal(format!("configuration update task failed: {e}")))??;
        self.routes.store(Arc::new(Routes::build(&next)));
        self.catalog.store(Arc::new(ModelCatalog::build(&next)));
        self.current.store(Arc::new(next));
        Ok(output)
    }

    /// Loads the plugin files again (a new build at the same path included), carries every
    /// role's state over and switches atomically. Serialized with configuration changes, so the
    /// two never interleave. On failure the old plugins keep serving.
    pub async fn reload_plugins(&self) -> Result<ReloadReport, PluginError> {
        let _one_writer = self.writer.lock().await;
        let data = self.snapshot().role_data();
        let plugins = self.plugins.clone();
        tokio::task::spawn_blocking(move || plugins.rebuild(&data, true))
            .await
            .unwrap_or_else(|e| Err(PluginError::Config(format!("reload task failed: {e}"))))
    }

    /// Switches the roles `change` names to the plugins it names (absolute paths; the other
    /// roles keep theirs, loaded again): loads and builds them, saves the configuration with
    /// the new `plugins` block (a restart keeps it), then carries every role's state over and
    /// switches atomically. On failure nothing changed: the old plugins keep serving and the
    /// saved configuration is the old one.
    pub async fn switch_plugins(&self, change: PluginsBlock) -> Result<ReloadReport, PluginError> {
        if let Some(role) = change.relative_path() {
            return Err(PluginError::Config(format!(
                "{role}.path: must be an absolute path (a running host has no configuration file to resolve it against)"
            )));
        }
        let _one_writer = self.writer.lock().await;
        let mut next = (*self.snapshot()).clone();
        next.plugins = next.plugins.replaced_by(&change);
        let bytes = next
            .to_saved_json()
            .map_err(|e| PluginError::Config(format!("cannot serialize the configuration: {e}")))?;
        let data = next.role_data();
        let plugins = self.plugins.clone();
        let block = next.plugins.clone();
        let path = self.data_dir.join(SAVED_CONFIG);
        let report = tokio::task::spawn_blocking(move || {
            build_save_publish(&plugins, &path, &bytes, |p| p.prepare_block(&block, &data)).map_err(
                |failure| match failure {
                    SaveFailure::Plugins(error) => error,
                    SaveFailure::Write => PluginError::Config(NOT_SAVED.to_owned()),
                },
            )
        })
        .await
        .unwrap_or_else(|e| Err(PluginError::Config(format!("reload task failed: {e}"))))?;
        self.current.store(Arc::new(next));
        Ok(report)
    }

    /// Writes the enforcer's usage to `usage.json`: read and written under one lock, so saves
    /// land in the order they read.
    pub fn save_usage(&self) -> Result<(), String> {
        let _one_at_a_time = self
            .usage_writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let usage = match self.plugins.snapshot_usage() {
            Ok(usage) => usage,
            Err(error) if error.code == ErrorCode::UNSUPPORTED => return Ok(()),
            Err(error) => return Err(format!("usage snapshot failed: {error}")),
        };
        atomic_write(&self.data_dir.join(SAVED_USAGE), usage.as_bytes())
            .map_err(|e| format!("cannot save usage: {e}"))
    }
}

/// What a failed save refuses with.
const NOT_SAVED: &str = "the configuration could not be saved; nothing was changed";

/// Why [`build_save_publish`] changed nothing.
enum SaveFailure {
    /// Building or publishing the roles failed.
    Plugins(PluginError),
    /// The configuration file could not be written (logged).
    Write,
}

/// A configuration change, in the one order that can fail without changing anything: build the
/// new roles with `prepare`, save `bytes` as the configuration, then publish the roles.
fn build_save_publish(
    plugins: &PluginHost,
    path: &Path,
    bytes: &[u8],
    prepare: impl FnOnce(&PluginHost) -> Result<Prepared, PluginError>,
) -> Result<ReloadReport, SaveFailure> {
    let prepared = prepare(plugins).map_err(SaveFailure::Plugins)?;
    atomic_write(path, bytes).map_err(|e| {
        tracing::error!(path = %path.display(), error = %e, "cannot save the configuration");
        SaveFailure::Write
    })?;
    plugins.commit(prepared).map_err(SaveFailure::Plugins)
}

/// A plugin's refusal of a configuration is the client's error (400, with the plugin's message
/// naming the field); anything else is the server's.
fn plugin_error(error: PluginError) -> GatewayError {
    match error {
        PluginError::Load(LoadError::Constructor { error, .. })
            if error.code == ErrorCode::INVALID_CONFIG =>
        {
            GatewayError::bad_request("body", error.message.to_string())
        }
        other => {
            tracing::error!(error = %other, "plugins could not be rebuilt");
            GatewayError::internal(format!("the plugins could not be rebuilt: {other}"))
        }
    }
}
