//! The safe loader: loads a plugin `.so` as a fresh module every time, with typed errors.
//!
//! abi_stable's `RootModule::load_from_file` caches the first module loaded for a type forever,
//! and `dlopen` hands back the already-loaded library for a path it has seen, so a rebuilt
//! plugin at the same path would never be picked up. [`load_plugin`] therefore copies each load
//! to a unique file, opens that copy with [`lib_header_from_path`] and checks it — the interface
//! version's `0.y` line, then the root module's layout with the older contract as the interface
//! ([`interface_versions_compatible`], docs/abi.md "Evolution") — with no per-type cache.
//!
//! **Nothing is ever unloaded** (abi_stable's rule: a type or vtable from the library may still
//! be referenced), so every load keeps its mapping for the life of the process: about
//! [`LoadReport::mapped_bytes`] per load — the size of the `.so`, an upper bound of what is
//! mapped (1.3 MB for a release build of the weighted selector, whose debug info is stripped). Reloads are for deployments and configuration changes, not per request.
//!
//! ```no_run
//! use keyward_plugin_api::{ffi::RoleMask, hosts::SystemHost, loader::load_plugin};
//!
//! let plugin = load_plugin("target/release/libkeyward_weighted_selector.so".as_ref())?;
//! let roles = plugin.instantiate(r#"{"providers": {}}"#, RoleMask::KEY_SELECTION, SystemHost::handle())?;
//! # Ok::<(), keyward_plugin_api::loader::LoadError>(())
//! ```

mod error;
mod slot;

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use abi_stable::{
    library::{LibraryError, lib_header_from_path},
    std_types::RStr,
};

pub use error::LoadError;
pub use slot::{Instance, RoleSlot};

use crate::ffi::{HostHandle, PluginInfo, PluginModRef, RoleMask, RoleSet};

/// A loaded plugin: its root module and what the loader learnt while loading it.
#[derive(Clone)]
pub struct LoadedPlugin {
    module: PluginModRef,
    report: LoadReport,
}

/// What a load did, for logs and the host's reload answer.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LoadReport {
    /// The path asked for.
    pub path: PathBuf,
    /// The unique copy that was opened (removed after opening; the mapping stays).
    pub loaded_copy: PathBuf,
    /// The plugin's name.
    pub name: String,
    /// The plugin's own version.
    pub plugin_version: String,
    /// The interface version the plugin was built against.
    pub interface_version: String,
    /// The interface version of this host.
    pub host_interface_version: String,
    /// The roles it can provide.
    pub roles: Vec<&'static str>,
    /// One line on what it does.
    pub description: String,
    /// Size of the shared object: an upper bound of what stays mapped for the rest of the
    /// process's life (sections that are not loaded, like debug info, are not mapped).
    pub mapped_bytes: u64,
    /// Time spent copying, opening and checking the library.
    pub load_time: Duration,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

impl LoadedPlugin {
    /// What the load did.
    pub fn report(&self) -> &LoadReport {
        &self.report
    }

    /// The plugin's description of itself.
    pub fn info(&self) -> PluginInfo {
        (self.module.describe())()
    }

    /// [`LoadError::MissingRole`] when the plugin does not provide one of `roles`.
    fn check_roles(&self, roles: RoleMask) -> Result<(), LoadError> {
        let provided = self.info().roles;
        for role in [
            RoleMask::KEY_SELECTION,
            RoleMask::AUTHORIZATION,
            RoleMask::ENFORCEMENT,
        ] {
            if roles.contains(role) && !provided.contains(role) {
                return Err(LoadError::MissingRole {
                    path: self.report.path.clone(),
                    plugin: self.report.name.clone(),
                    role: role.names().first().copied().unwrap_or("unknown"),
                });
            }
        }
        Ok(())
    }

    /// Builds the `roles` asked for from `config_json`. Fails with
    /// [`LoadError::MissingRole`] when the plugin does not provide one, and with
    /// [`LoadError::Constructor`] when the constructor refuses the configuration or panics.
    pub fn instantiate(
        &self,
        config_json: &str,
        roles: RoleMask,
        host: HostHandle,
    ) -> Result<RoleSet, LoadError> {
        self.check_roles(roles)?;
        let set = (self.module.instantiate())(RStr::from_str(config_json), roles, host)
            .into_result()
            .map_err(|error| LoadError::Constructor {
                path: self.report.path.clone(),
                error,
            })?;
        let missing = [
            (
                RoleMask::KEY_SELECTION,
                set.key_selector.is_some(),
                "key_selection",
            ),
            (
                RoleMask::AUTHORIZATION,
                set.authorizer.is_some(),
                "authorization",
            ),
            (RoleMask::ENFORCEMENT, set.enforcer.is_some(), "enforcement"),
        ]
        .into_iter()
        .find(|(role, built, _)| roles.contains(*role) && !built);
        match missing {
            Some((_, _, role)) => Err(LoadError::MissingRole {
                path: self.report.path.clone(),
                plugin: self.report.name.clone(),
                role,
            }),
            None => Ok(set),
        }
    }
}

impl LoadedPlugin {
    /// Checks `config_json` for `roles` without keeping anything: through the plugin's own
    /// `validate` when it exports one (0.3.1 and later: nothing is built), else — a plugin
    /// built against 0.3.0 — by building the roles with `host` and dropping them. The errors
    /// of [`instantiate`](Self::instantiate).
    pub fn validate(
        &self,
        config_json: &str,
        roles: RoleMask,
        host: HostHandle,
    ) -> Result<(), LoadError> {
        match self.module.validate() {
            Some(validate) => {
                self.check_roles(roles)?;
                validate(RStr::from_str(config_json), roles)
                    .into_result()
                    .map_err(|error| LoadError::Constructor {
                        path: self.report.path.clone(),
                        error,
                    })
            }
            None => self.instantiate(config_json, roles, host).map(drop),
        }
    }

    /// Whether this plugin's root module has `validate` (built against 0.3.1 or later; a
    /// plugin exported with `export_plugin!` and no `validate:` of its own checks by building).
    pub fn exports_validate(&self) -> bool {
        self.module.validate().is_some()
    }
}

static LOAD_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Loads the plugin at `path` as a new module, whatever was loaded before from that path.
pub fn load_plugin(path: &Path) -> Result<LoadedPlugin, LoadError> {
    load_plugin_in(path, &std::env::temp_dir())
}

/// Like [`load_plugin`], with the unique copies written under `copy_dir`.
pub fn load_plugin_in(path: &Path, copy_dir: &Path) -> Result<LoadedPlugin, LoadError> {
    let started = Instant::now();
    let metadata = std::fs::metadata(path).map_err(|_| LoadError::NotFound {
        path: path.to_path_buf(),
    })?;
    if !metadata.is_file() {
        return Err(LoadError::NotASharedObject {
            path: path.to_path_buf(),
            cause: "not a regular file".to_owned(),
        });
    }
    let private = PrivateCopy::create(path, copy_dir).map_err(|(copy, cause)| LoadError::Copy {
        path: path.to_path_buf(),
        copy,
        cause,
    })?;
    let copy = private.file.clone();
    let opened = lib_header_from_path(&copy);
    // The mapping outlives the file: the copy and its directory go whether or not it opened.
    drop(private);
    let header = opened.map_err(|error| classify(path, error))?;
    let plugin_interface = header.version_strings().version.to_string();
    check_interface_version(path, &plugin_interface)?;
    let module = checked_root_module(path, header, &plugin_interface)?;
    let info = (module.describe())();
    let report = LoadReport {
        path: path.to_path_buf(),
        loaded_copy: copy,
        name: info.name.to_string(),
        plugin_version: info.version.to_string(),
        interface_version: plugin_interface,
        host_interface_version: crate::INTERFACE_VERSION.to_owned(),
        roles: info.roles.names(),
        description: info.description.to_string(),
        mapped_bytes: metadata.len(),
        load_time: started.elapsed(),
    };
    tracing::info!(
        plugin = %report.name,
        path = %report.path.display(),
        interface = %report.interface_version,
        mapped_bytes = report.mapped_bytes,
        "plugin loaded (never unloaded)"
    );
    Ok(LoadedPlugin { module, report })
}

/// A plugin's private copy: a fresh directory under `base`, created by this process with mode
/// 0700 (an existing name is never reused: `mkdir` fails and another name is tried) and checked
/// to be ours and not a link, holding one file created exclusively (`O_CREAT | O_EXCL`, which
/// follows no link). A local user who races the copy can neither read, replace nor pre-place
/// the library that is loaded. Both are removed on drop (the mapping outlives them).
struct PrivateCopy {
    dir: PathBuf,
    file: PathBuf,
}

/// How many taken names a copy tries before giving up.
const PRIVATE_DIR_ATTEMPTS: u32 = 64;

impl PrivateCopy {
    fn create(source: &Path, base: &Path) -> Result<Self, (PathBuf, std::io::Error)> {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};

        let stem = source
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "plugin".to_owned());
        std::fs::create_dir_all(base).map_err(|e| (base.to_path_buf(), e))?;
        // Whoever may rename entries of `base` could swap our directory after the checks: it
        // must be ours, or writable by no one else, or sticky (like /tmp).
        let base_meta = std::fs::metadata(base).map_err(|e| (base.to_path_buf(), e))?;
        let mode = base_meta.permissions().mode();
        let others_write = mode & 0o022 != 0;
        let sticky = mode & 0o1000 != 0;
        let base_owner = base_meta.uid();
        let me = rustix::process::geteuid().as_raw();
        if others_write && !sticky || base_owner != me && base_owner != 0 {
            let error = std::io::Error::other(
                "the copy directory may be changed by another user (owned by someone else, or writable by others without the sticky bit)",
            );
            return Err((base.to_path_buf(), error));
        }
        let mut dir = None;
        for _ in 0..PRIVATE_DIR_ATTEMPTS {
            let candidate = base.join(unique_name("keyward-plugin"));
            match std::fs::DirBuilder::new().mode(0o700).create(&candidate) {
                Ok(()) => {
                    dir = Some(candidate);
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err((candidate, e)),
            }
        }
        let Some(dir) = dir else {
            let error = std::io::Error::other("every private directory name tried was taken");
            return Err((base.to_path_buf(), error));
        };
        let file = dir.join(format!("{stem}.so"));
        let this = Self { dir, file };
        let checked = std::fs::symlink_metadata(&this.dir).and_then(|meta| {
            let ours = meta.uid() == me;
            let private = meta.permissions().mode() & 0o077 == 0;
            if meta.is_dir() && ours && private {
                Ok(())
            } else {
                Err(std::io::Error::other(
                    "the private copy directory is not a directory of ours with mode 0700",
                ))
            }
        });
        checked
            .and_then(|()| {
                let mut out = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&this.file)?;
                let mut input = std::fs::File::open(source)?;
                std::io::copy(&mut input, &mut out)?;
                out.sync_data()
            })
            .map_err(|e| (this.file.clone(), e))?;
        Ok(this)
    }
}

impl Drop for PrivateCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// `prefix-PID-N-NANOS`: unique within the process, hard to guess outside it.
fn unique_name(prefix: &str) -> String {
    let n = LOAD_COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{nanos}", std::process::id())
}

/// The contract's version rule (docs/abi.md, "Evolution"): a plugin loads when it was built
/// against the same `0.y` as the host (from 1.0 on: the same major), whatever either's patch
/// level. Within that line the contract only grows at the end of its prefix types: what an
/// older plugin lacks reads as absent (each appended item documents what that means) and what a
/// newer plugin has beyond the host's contract is never read. abi_stable's own rule would also
/// accept any newer `0.y` and leave it to the layout check; ours refuses another line before
/// any of its layout is read, with [`LoadError::IncompatibleVersion`].
pub fn interface_versions_compatible(host: &str, plugin: &str) -> bool {
    match (parse_version(host), parse_version(plugin)) {
        (Some(host), Some(found)) if host.0 == 0 => found.0 == 0 && found.1 == host.1,
        (Some(host), Some(found)) => found.0 == host.0,
        _ => false,
    }
}

fn check_interface_version(path: &Path, plugin: &str) -> Result<(), LoadError> {
    if interface_versions_compatible(crate::INTERFACE_VERSION, plugin) {
        Ok(())
    } else {
        Err(LoadError::IncompatibleVersion {
            path: path.to_path_buf(),
            expected: compatible_line(crate::INTERFACE_VERSION),
            found: plugin.to_owned(),
        })
    }
}

/// The plugin's root module, once its layout is checked against the host's with the older of
/// the two as the interface. abi_stable's own check (`init_root_module`) takes the host's types
/// as the interface, so it accepts a plugin whose prefix types have *more* fields (a newer
/// plugin) and refuses one with fewer ("too many fields"): an older plugin. Within one `0.y`
/// the two contracts differ only by fields and methods appended to prefix types, and every
/// such field is read through an accessor that checks the plugin's own metadata (absent: `None`,
/// or the method's default), so the older side is the interface whichever it is. Everything
/// else (the per-request structs, field names, types, lifetimes) must match either way.
fn checked_root_module(
    path: &Path,
    header: &'static abi_stable::library::LibHeader,
    plugin_interface: &str,
) -> Result<PluginModRef, LoadError> {
    use abi_stable::{StableAbi, abi_stability::abi_checking::check_layout_compatibility};

    let Some(plugin_layout) = header.layout() else {
        return Err(LoadError::LayoutMismatch {
            path: path.to_path_buf(),
            details: "the plugin exports no layout of its root module to check".to_owned(),
        });
    };
    let host_layout = <PluginModRef as StableAbi>::LAYOUT;
    let (interface, implementation) =
        if minor_and_patch(plugin_interface) < minor_and_patch(crate::INTERFACE_VERSION) {
            (plugin_layout, host_layout)
        } else {
            (host_layout, plugin_layout)
        };
    check_layout_compatibility(interface, implementation).map_err(|errors| {
        LoadError::LayoutMismatch {
            path: path.to_path_buf(),
            details: first_lines(&errors.to_string(), 12),
        }
    })?;
    // SAFETY: `init_root_module_with_unchecked_layout` transmutes the plugin's root module to
    // the host's `PluginModRef` without checking layouts; the check just above compared the two
    // root-module layouts, recursively (every type reachable from it), and found them
    // compatible with the older contract as the interface. What that direction admits beyond
    // abi_stable's own check is a host type with more prefix fields than the plugin's, and
    // prefix fields beyond the plugin's are only reached through accessors that consult the
    // plugin's own field metadata (the module's `missing_field(option)`, methods' defaults).
    // The interface version (and so the `0.y` line) was checked before this call.
    #[allow(unsafe_code)]
    let module = unsafe { header.init_root_module_with_unchecked_layout::<PluginModRef>() };
    module.map_err(|error| classify(path, error))
}

/// `(minor, patch)` of `version` (`(3, 1)` for `0.3.1`; `(0, 0)` when it does not parse): which
/// of two compatible contracts is the older (within a `0.y` only the patch differs; from 1.0
/// on, the minor too).
fn minor_and_patch(version: &str) -> (u64, u64) {
    parse_version(version).map_or((0, 0), |(_, minor, patch)| (minor, patch))
}

/// `(major, minor, patch)` of a `x.y.z` version, a pre-release or build suffix ignored.
fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    let core = text.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|part| part.parse::<u64>().ok());
    let version = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(version)
}

/// `0.3.x` for `0.3.1`, `2.x.x` for `2.1.0`: what a plugin's version must match, for messages.
fn compatible_line(host: &str) -> String {
    match parse_version(host) {
        Some((0, minor, _)) => format!("0.{minor}.x"),
        Some((major, _, _)) => format!("{major}.x.x"),
        None => host.to_owned(),
    }
}

fn classify(path: &Path, error: LibraryError) -> LoadError {
    let path = path.to_path_buf();
    match error {
        LibraryError::OpenError { err, .. } => LoadError::NotASharedObject {
            path,
            cause: err.to_string(),
        },
        LibraryError::GetSymbolError { symbol, .. } => LoadError::MissingRootModule {
            path,
            symbol: String::from_utf8_lossy(&symbol)
                .trim_end_matches('\0')
                .to_owned(),
        },
        LibraryError::IncompatibleVersionNumber {
            expected_version,
            actual_version,
            ..
        } => LoadError::IncompatibleVersion {
            path,
            expected: expected_version.to_string(),
            found: actual_version.to_string(),
        },
        LibraryError::ParseVersionError(error) => LoadError::IncompatibleVersion {
            path,
            expected: crate::INTERFACE_VERSION.to_owned(),
            found: format!("unparsable ({error})"),
        },
        LibraryError::AbiInstability(details) => LoadError::LayoutMismatch {
            path,
            details: first_lines(&details.to_string(), 12),
        },
        LibraryError::RootModule { err, .. } => LoadError::Constructor {
            path,
            error: crate::ffi::KeywardError::new(
                crate::ffi::ErrorCode::PLUGIN_PANICKED,
                format!("root module initializer failed: {err}"),
            ),
        },
        LibraryError::InvalidAbiHeader(header) => LoadError::IncompatibleAbiStable {
            path,
            details: format!("abi_stable header {header:?}"),
        },
        LibraryError::InvalidCAbi { expected, found } => LoadError::IncompatibleAbiStable {
            path,
            details: format!("C ABI expected {expected}, found {found}"),
        },
        LibraryError::Many(errors) => match errors.into_iter().next() {
            Some(first) => classify(&path, first),
            None => LoadError::LayoutMismatch {
                path,
                details: "unspecified".to_owned(),
            },
        },
    }
}

fn first_lines(text: &str, n: usize) -> String {
    let mut out: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(n)
        .collect();
    if text.lines().filter(|l| !l.trim().is_empty()).count() > n {
        out.push("…");
    }
    out.join("\n")
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod private_copy_tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::PrivateCopy;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(super::unique_name(name));
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        dir
    }

    #[test]
    fn the_copy_lives_in_a_fresh_private_directory_and_goes_with_it() {
        let base = scratch("copy-base");
        let source = base.join("source.so");
        std::fs::write(&source, b"not really a library").unwrap();
        let copy = PrivateCopy::create(&source, &base).unwrap();
        let dir = std::fs::symlink_metadata(&copy.dir).unwrap();
        assert!(dir.is_dir());
        assert_eq!(dir.permissions().mode() & 0o777, 0o700);
        assert_eq!(dir.uid(), rustix::process::geteuid().as_raw());
        let file = std::fs::symlink_metadata(&copy.file).unwrap();
        assert_eq!(
            file.permissions().mode() & 0o077,
            0,
            "no one else reads the copy"
        );
        assert_eq!(std::fs::read(&copy.file).unwrap(), b"not really a library");
        let second = PrivateCopy::create(&source, &base).unwrap();
        assert_ne!(second.dir, copy.dir, "never the same directory twice");
        let (dir, file) = (copy.dir.clone(), copy.file.clone());
        drop(copy);
        assert!(!file.exists() && !dir.exists(), "both removed");
        drop(second);
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_copy_directory_others_may_change_is_refused() {
        let base = scratch("copy-open");
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o777)).unwrap();
        let source = base.join("source.so");
        std::fs::write(&source, b"x").unwrap();
        let (at, error) = PrivateCopy::create(&source, &base).map(|_| ()).unwrap_err();
        assert_eq!(at, base);
        assert!(error.to_string().contains("another user"), "{error}");
        // The sticky bit (as on /tmp) makes it safe: others cannot rename our entries.
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(PrivateCopy::create(&source, &base).is_ok());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
