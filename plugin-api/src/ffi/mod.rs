//! The ABI contract: every type here is `#[repr(C)]` and derives
//! [`StableAbi`](abi_stable::StableAbi), checked by abi_stable when a plugin is loaded. Types
//! that may grow are newtypes over integers (never raw Rust enums), and the root module and the
//! role traits are prefix types that only ever grow at the end. The rules: `docs/abi.md`.

mod error;
mod extension;
mod governance;
mod host;
mod roles;
mod root;
mod selection;

pub use error::{ErrorCode, KeywardError};
pub use extension::{Extension, ExtensionKey, Extensions, InlineExtensions, MAX_INLINE_EXTENSIONS};
pub use governance::{
    Admission, AuthorizeRequest, Fallbacks, Header, MAX_FALLBACKS, Reservation, ReserveRequest,
    Settlement, Usage, UsageEstimate,
};
pub use host::{HostHandle, HostServices, HostServices_TO, LogLevel};
pub use roles::{
    AuthorizerBox, EnforcerBox, KeySelector, KeySelector_TO, KeySelectorBox, KeySelectorExt,
    UsageEnforcer, UsageEnforcer_TO, VirtualKeyAuthorizer, VirtualKeyAuthorizer_TO,
};
pub use root::{PluginInfo, PluginMod, PluginModRef, RoleMask, RoleSet};
pub use selection::{FailedKey, FailureKind, KeyChoice, KeyRecord, RequestKind, SelectRequest};
