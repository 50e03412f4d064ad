//! The host's plugins: one [`RoleSlot`] per role, built from the configuration's `plugins` block,
//! and the reload that swaps them without failing a request or losing usage.
//!
//! A reload (new `.so` files) and a reconfiguration (same files, new configuration from the
//! management API) are the same operation: build new instances, carry each role's state from the
//! old instance to the new one, publish. For the enforcer the transfer is first rehearsed from a
//! non-retiring snapshot into a scratch instance, so a state the new plugin cannot read aborts
//! the reload while the old instances keep serving. Then `export_state` retires the old
//! instance; calls that reach it in the short window before the new one is published answer
//! `instance_retired` and are retried on the slot ([`call_with_retry`]).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Arc,
    time::Instant,
};

use keyward_host_core::{
    config::{PluginGroup, PluginsBlock, PluginsBlockError, RoleData},
    roles::{BuildError, Built, BuiltGroups, BuiltRoles, Roles, build_groups},
};
use keyward_plugin_api::{
    abi_stable::std_types::{RResult, RStr},
    ffi::{ErrorCode, HostHandle, KeywardError, RoleMask},
    loader::{Instance, LoadError, LoadReport, LoadedPlugin, RoleSlot, load_plugin_in},
};
use parking_lot::Mutex;
use serde::Serialize;

pub use keyward_host_core::roles::call_with_retry;

/// What a reload did, for the API answer and the logs.
#[derive(Clone, Debug, Serialize)]
pub struct ReloadReport {
    /// Each plugin loaded (or reused) and the roles built from it.
    pub plugins: Vec<ReloadedPlugin>,
    /// Time the whole reload took.
    pub took_ms: f64,
}

/// New instances of every role, built but not yet published.
pub struct Prepared {
    roles: BuiltRoles,
    modules: BTreeMap<PathBuf, LoadedPlugin>,
    report: Vec<ReloadedPlugin>,
    started: Instant,
    /// The role groups the instances were built from, when they replace the current ones.
    groups: Option<Vec<PluginGroup>>,
}

/// One plugin of a [`ReloadReport`].
#[derive(Clone, Debug, Serialize)]
pub struct ReloadedPlugin {
    /// The roles this host built from it (`roles`, from the load report, is what it provides).
    pub serves: Vec<&'static str>,
    /// The load report (paths, versions, mapping cost).
    #[serde(flatten)]
    pub load: LoadReport,
}

/// The live plugins of a host.
pub struct PluginHost {
    /// The live roles.
    pub roles: Arc<Roles>,
    host: HostHandle,
    copy_dir: PathBuf,
    /// Which `.so` provides which roles: replaced by a reload that names other plugins.
    groups: Mutex<Vec<PluginGroup>>,
    modules: Mutex<BTreeMap<PathBuf, LoadedPlugin>>,
    swap: Mutex<()>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("groups", &*self.groups.lock())
            .finish_non_exhaustive()
    }
}

/// Why the plugins could not be built or swapped.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The `plugins` block is incomplete.
    #[error("plugins: {0}")]
    Config(String),
    /// Loading, constructing or transferring state failed.
    #[error(transparent)]
    Load(#[from] LoadError),
}

impl From<PluginsBlockError> for PluginError {
    fn from(error: PluginsBlockError) -> Self {
        Self::Config(error.0)
    }
}

impl From<BuildError> for PluginError {
    fn from(error: BuildError) -> Self {
        match error {
            BuildError::Load(error) => Self::Load(error),
            BuildError::MissingRole => Self::Config(BuildError::MISSING_ROLE.to_owned()),
        }
    }
}

impl PluginHost {
    /// Loads every plugin of `block` and builds the roles from `data`.
    pub fn start(
        block: &PluginsBlock,
        data: &RoleData,
        host: HostHandle,
        copy_dir: PathBuf,
    ) -> Result<(Self, ReloadReport), PluginError> {
        let groups = block.groups()?;
        // Start-up made the paths absolute (or relative to the working directory, as the user
        // wrote them): nothing more to resolve here.
        let no_check = |_: &LoadedPlugin, _: &str, _: RoleMask| Ok::<_, PluginError>(());
        let load = |path: &Path| load_plugin_in(path, &copy_dir);
        let started = Instant::now();
        let Prepared {
            roles,
            modules,
            report,
            started,
            ..
        } = prepared(
            build_groups(&groups, Path::new(""), data, &host, load, no_check)?,
            started,
        );
        let this = Self {
            roles: Roles::new(roles),
            host,
            copy_dir,
            groups: Mutex::new(groups),
            modules: Mutex::new(modules),
            swap: Mutex::new(()),
        };
        Ok((
            this,
            ReloadReport {
                plugins: report,
                took_ms: elapsed_ms(started),
            },
        ))
    }

    /// Rebuilds every role from `data` and publishes them: [`prepare`](Self::prepare) then
    /// [`commit`](Self::commit).
    pub fn rebuild(
        &self,
        data: &RoleData,
        reload_files: bool,
    ) -> Result<ReloadReport, PluginError> {
        let prepared = self.prepare(data, reload_files)?;
        self.commit(prepared)
    }

    /// Builds new instances of every role from `data` without publishing them. With
    /// `reload_files`, the `.so` files are loaded again (picking up new builds at the same
    /// paths); otherwise the loaded modules are reused (a configuration change). Fails — with
    /// nothing changed — when a plugin refuses the configuration or the enforcer's state could
    /// not be carried over.
    pub fn prepare(&self, data: &RoleData, reload_files: bool) -> Result<Prepared, PluginError> {
        let groups = self.groups.lock().clone();
        self.prepare_groups(&groups, data, reload_files)
    }

    /// Builds new instances from the plugins `block` names (their files loaded again) without
    /// publishing them; [`commit`](Self::commit) then makes `block` the host's plugins.
    pub fn prepare_block(
        &self,
        block: &PluginsBlock,
        data: &RoleData,
    ) -> Result<Prepared, PluginError> {
        let groups = block.groups()?;
        let mut prepared = self.prepare_groups(&groups, data, true)?;
        prepared.groups = Some(groups);
        Ok(prepared)
    }

    fn prepare_groups(
        &self,
        groups: &[PluginGroup],
        data: &RoleData,
        reload_files: bool,
    ) -> Result<Prepared, PluginError> {
        let modules = self.modules.lock();
        let load = |path: &Path| match (reload_files, modules.get(path)) {
            (false, Some(module)) => Ok(module.clone()),
            _ => load_plugin_in(path, &self.copy_dir),
        };
        let rehearse = |module: &LoadedPlugin, config: &str, roles: RoleMask| {
            if roles.contains(RoleMask::ENFORCEMENT) {
                self.rehearse_enforcer_transfer(module, config, roles)
            } else {
                Ok(())
            }
        };
        let started = Instant::now();
        let built = build_groups(groups, Path::new(""), data, &self.host, load, rehearse)?;
        Ok(prepared(built, started))
    }

    /// Publishes prepared instances, carrying each role's state from the current instance.
    pub fn commit(&self, prepared: Prepared) -> Result<ReloadReport, PluginError> {
        let _one_at_a_time = self.swap.lock();
        let Prepared {
            roles:
                BuiltRoles {
                    selector,
                    authorizer,
                    enforcer,
                },
            modules,
            report,
            started,
            groups,
        } = prepared;
        transfer(
            &self.roles.selector,
            selector,
            |old| old.export_state(),
            |new, s| new.import_state(s),
        )?;
        transfer(
            &self.roles.authorizer,
            authorizer,
            |old| old.export_state(),
            |new, s| new.import_state(s),
        )?;
        transfer(
            &self.roles.enforcer,
            enforcer,
            |old| old.export_state(),
            |new, s| new.import_state(s),
        )?;
        self.modules.lock().extend(modules);
        if let Some(groups) = groups {
            *self.groups.lock() = groups;
        }
        Ok(ReloadReport {
            plugins: report,
            took_ms: elapsed_ms(started),
        })
    }

    /// Imports persisted usage into the current enforcer (at start, before serving).
    pub fn restore_usage(&self, state: &str) -> Result<(), KeywardError> {
        self.roles
            .enforcer
            .load()
            .call(|e| e.import_state(RStr::from_str(state)))
    }

    /// A snapshot of the enforcer's usage, without retiring it.
    pub fn snapshot_usage(&self) -> Result<String, KeywardError> {
        call_with_retry(&self.roles.enforcer, |e| e.snapshot_state()).map(|s| s.into_string())
    }

    fn rehearse_enforcer_transfer(
        &self,
        module: &LoadedPlugin,
        config: &str,
        roles: RoleMask,
    ) -> Result<(), PluginError> {
        let snapshot = match self.roles.enforcer.load().call(|e| e.snapshot_state()) {
            Ok(snapshot) => snapshot,
            // An enforcer that cannot snapshot is transferred without rehearsal.
            Err(error) if error.code == ErrorCode::UNSUPPORTED => return Ok(()),
            Err(error) => return Err(state_error(module, error)),
        };
        let scratch = module.instantiate(config, roles, self.host.clone())?;
        let Some(enforcer) = scratch.enforcer.into_option() else {
            return Ok(());
        };
        enforcer
            .import_state(snapshot.as_rstr())
            .into_result()
            .map_err(|error| state_error(module, error))
    }
}

/// The built groups as a [`Prepared`] swap, with one report line per plugin.
fn prepared(built: BuiltGroups, started: Instant) -> Prepared {
    let mut modules = BTreeMap::new();
    let mut report = Vec::new();
    for (path, module, roles) in built.modules {
        report.push(ReloadedPlugin {
            serves: roles.names(),
            load: module.report().clone(),
        });
        modules.insert(path, module);
    }
    Prepared {
        roles: built.roles,
        modules,
        report,
        started,
        groups: None,
    }
}

fn state_error(module: &LoadedPlugin, error: KeywardError) -> PluginError {
    PluginError::Load(LoadError::StateTransfer {
        path: module.report().path.clone(),
        error,
    })
}

fn transfer<R>(
    slot: &RoleSlot<R>,
    (new, path): Built<R>,
    export: impl Fn(&R) -> RResult<keyward_plugin_api::abi_stable::std_types::RString, KeywardError>,
    import: impl Fn(&R, RStr<'_>) -> RResult<(), KeywardError>,
) -> Result<(), PluginError> {
    let old: Arc<Instance<R>> = slot.load_full();
    let state_error = |error| {
        PluginError::Load(LoadError::StateTransfer {
            path: path.clone(),
            error,
        })
    };
    // A poisoned instance has no trustworthy state: the new one starts empty.
    if !old.is_poisoned() {
        let state = old.call(export).map_err(state_error)?;
        if let Err(error) = import(&new, state.as_rstr()).into_result() {
            // The old instance is retired already: publish the new one (availability first)
            // and report the lost state.
            tracing::error!(path = %path.display(), %error, "state import failed after export; the new instance starts without it");
            slot.store(new, path.clone());
            return Err(state_error(error));
        }
    }
    slot.store(new, path);
    Ok(())
}

fn elapsed_ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}
