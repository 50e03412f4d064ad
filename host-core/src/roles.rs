//! The three roles of a gateway, built from the plugin groups: each group's module loaded (how is
//! the host's choice: a private copy, a reused module), instantiated with its merged
//! configuration, checked, and its roles handed out — and the one rule for calling a role while
//! a swap may be retiring it ([`call_with_retry`]).

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use keyward_plugin_api::{
    abi_stable::std_types::RResult,
    ffi::{
        AuthorizerBox, EnforcerBox, ErrorCode, HostHandle, KeySelectorBox, KeywardError, RoleMask,
        RoleSet,
    },
    loader::{LoadError, LoadedPlugin, RoleSlot},
};

use crate::config::{PluginGroup, RoleData};

/// How long [`call_with_retry`] waits for a swap to publish a retired instance's successor.
pub const RETIRED_RETRY_WINDOW: Duration = Duration::from_secs(1);

/// A role instance and the `.so` path it was built from.
pub type Built<R> = (R, PathBuf);

/// One instance of every role, not yet published.
pub struct BuiltRoles {
    /// The key selector.
    pub selector: Built<KeySelectorBox>,
    /// The authorizer.
    pub authorizer: Built<AuthorizerBox>,
    /// The enforcer.
    pub enforcer: Built<EnforcerBox>,
}

/// Every group's module and roles, built.
pub struct BuiltGroups {
    /// The roles.
    pub roles: BuiltRoles,
    /// Each group's loaded module, in load order, with the roles built from it.
    pub modules: Vec<(PathBuf, LoadedPlugin, RoleMask)>,
}

/// Why the roles could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A role has no plugin that provides it.
    #[error("plugins: {}", Self::MISSING_ROLE)]
    MissingRole,
    /// Loading, constructing or checking a plugin failed.
    #[error(transparent)]
    Load(#[from] LoadError),
}

impl BuildError {
    /// What [`BuildError::MissingRole`] says.
    pub const MISSING_ROLE: &str = "every role needs a plugin: key_selection, and governance (or authorization and enforcement)";
}

/// Builds one role set per group: the module from `load`, instantiated with the group's merged
/// configuration (`config_dir` resolves relative paths), then `check`ed (a reload rehearses
/// the enforcer's state transfer there).
pub fn build_groups<E: From<BuildError>>(
    groups: &[PluginGroup],
    config_dir: &std::path::Path,
    data: &RoleData,
    host: &HostHandle,
    mut load: impl FnMut(&std::path::Path) -> Result<LoadedPlugin, LoadError>,
    mut check: impl FnMut(&LoadedPlugin, &str, RoleMask) -> Result<(), E>,
) -> Result<BuiltGroups, E> {
    let mut modules = Vec::new();
    let mut sets = Vec::new();
    for group in groups {
        let path = group.path_in(config_dir);
        let module = load(&path).map_err(|e| E::from(BuildError::Load(e)))?;
        let config = group.config_json(data);
        let set = module
            .instantiate(&config, group.roles, host.clone())
            .map_err(|e| E::from(BuildError::Load(e)))?;
        check(&module, &config, group.roles)?;
        modules.push((path.clone(), module, group.roles));
        sets.push((path, set));
    }
    Ok(BuiltGroups {
        roles: distribute(sets).map_err(E::from)?,
        modules,
    })
}

fn distribute(sets: Vec<(PathBuf, RoleSet)>) -> Result<BuiltRoles, BuildError> {
    let (mut selector, mut authorizer, mut enforcer) = (None, None, None);
    for (path, set) in sets {
        if let Some(role) = set.key_selector.into_option() {
            selector = Some((role, path.clone()));
        }
        if let Some(role) = set.authorizer.into_option() {
            authorizer = Some((role, path.clone()));
        }
        if let Some(role) = set.enforcer.into_option() {
            enforcer = Some((role, path));
        }
    }
    match (selector, authorizer, enforcer) {
        (Some(selector), Some(authorizer), Some(enforcer)) => Ok(BuiltRoles {
            selector,
            authorizer,
            enforcer,
        }),
        _ => Err(BuildError::MissingRole),
    }
}

/// The live roles of a gateway, one swappable slot each.
pub struct Roles {
    /// The key selector.
    pub selector: RoleSlot<KeySelectorBox>,
    /// The authorizer.
    pub authorizer: RoleSlot<AuthorizerBox>,
    /// The enforcer.
    pub enforcer: RoleSlot<EnforcerBox>,
}

impl Roles {
    /// Slots holding freshly built roles.
    pub fn new(built: BuiltRoles) -> Arc<Self> {
        let BuiltRoles {
            selector,
            authorizer,
            enforcer,
        } = built;
        Arc::new(Self {
            selector: RoleSlot::new(selector.0, selector.1),
            authorizer: RoleSlot::new(authorizer.0, authorizer.1),
            enforcer: RoleSlot::new(enforcer.0, enforcer.1),
        })
    }
}

impl std::fmt::Debug for Roles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Roles")
            .field("selector", &self.selector.load().origin())
            .field("authorizer", &self.authorizer.load().origin())
            .field("enforcer", &self.enforcer.load().origin())
            .finish()
    }
}

/// Calls the slot's current instance, retrying while it answers `instance_retired` (a swap is
/// publishing its successor), for at most [`RETIRED_RETRY_WINDOW`].
pub fn call_with_retry<R, T>(
    slot: &RoleSlot<R>,
    method: impl for<'s> Fn(&'s R) -> RResult<T, KeywardError>,
) -> Result<T, KeywardError> {
    let deadline = Instant::now() + RETIRED_RETRY_WINDOW;
    loop {
        let instance = slot.load_full();
        match instance.call(&method) {
            Err(error)
                if error.code == ErrorCode::INSTANCE_RETIRED && Instant::now() < deadline =>
            {
                std::thread::yield_now();
            }
            other => return other,
        }
    }
}
