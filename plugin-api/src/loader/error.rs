//! [`LoadError`]: every way loading or constructing a plugin can fail, each naming the path and
//! the cause.

use std::path::PathBuf;

use crate::ffi::KeywardError;

/// Why a plugin could not be loaded or constructed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file does not exist.
    #[error("plugin {path}: no such file")]
    NotFound {
        /// The path asked for.
        path: PathBuf,
    },
    /// The unique copy could not be written (disk full, permissions).
    #[error("plugin {path}: cannot copy to {copy}: {cause}")]
    Copy {
        /// The path asked for.
        path: PathBuf,
        /// Where the copy was to go.
        copy: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The file exists but the dynamic loader refused it (not a shared object, wrong
    /// architecture, missing dependency).
    #[error("plugin {path}: not a loadable shared object: {cause}")]
    NotASharedObject {
        /// The path asked for.
        path: PathBuf,
        /// The dynamic loader's message.
        cause: String,
    },
    /// The library loaded but exports no keyward root module.
    #[error(
        "plugin {path}: no keyward root module (symbol {symbol} missing); is it a keyward plugin?"
    )]
    MissingRootModule {
        /// The path asked for.
        path: PathBuf,
        /// The symbol looked for.
        symbol: String,
    },
    /// The plugin was built against an interface version this host cannot use.
    #[error(
        "plugin {path}: incompatible interface version: the host speaks {expected}, the plugin was built against {found}"
    )]
    IncompatibleVersion {
        /// The path asked for.
        path: PathBuf,
        /// The versions the host accepts (`0.3.x`: its own `0.y` line).
        expected: String,
        /// The plugin's interface version.
        found: String,
    },
    /// The plugin's root module or types do not have the layout this host expects.
    #[error("plugin {path}: layout mismatch with the host's interface: {details}")]
    LayoutMismatch {
        /// The path asked for.
        path: PathBuf,
        /// abi_stable's description of the first difference.
        details: String,
    },
    /// The plugin was built with an incompatible abi_stable or C ABI.
    #[error("plugin {path}: incompatible abi_stable build: {details}")]
    IncompatibleAbiStable {
        /// The path asked for.
        path: PathBuf,
        /// What differs.
        details: String,
    },
    /// The plugin's constructor refused the configuration, or panicked.
    #[error("plugin {path}: constructor failed: {error}")]
    Constructor {
        /// The path asked for.
        path: PathBuf,
        /// The plugin's typed error.
        error: KeywardError,
    },
    /// The plugin does not provide a role it was asked for.
    #[error("plugin {path} ({plugin}) does not provide the {role} role")]
    MissingRole {
        /// The path asked for.
        path: PathBuf,
        /// The plugin's name.
        plugin: String,
        /// The role asked for.
        role: &'static str,
    },
    /// State could not be carried from the old instance to the new one.
    #[error("plugin {path}: state transfer failed: {error}")]
    StateTransfer {
        /// The path of the new plugin.
        path: PathBuf,
        /// The typed error of export or import.
        error: KeywardError,
    },
}
