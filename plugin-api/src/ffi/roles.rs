//! The three roles a plugin may provide, each a `#[sabi_trait]` trait object, each replaceable
//! on its own:
//!
//! 1. [`KeySelector`]: pick one provider key for a request.
//! 2. [`VirtualKeyAuthorizer`]: admit or deny a request by its virtual key.
//! 3. [`UsageEnforcer`]: reserve, settle and release budget and rate-limit usage.
//!
//! Every method is called with the instance shared by many threads. No method may panic across
//! the boundary: implementations wrap their bodies in [`crate::guard::PanicGuard::run`], which
//! turns a panic into [`ErrorCode::PLUGIN_PANICKED`](super::ErrorCode) and poisons the instance.
//!
//! **State for hot swaps.** `export_state` returns the instance's mutable state (counters,
//! windows, reservations) as JSON text and *retires* the instance: from then on its mutating
//! calls answer [`ErrorCode::INSTANCE_RETIRED`](super::ErrorCode), which is retryable, so the
//! host re-reads its slot and calls the new instance. `import_state` loads such a text into a
//! fresh instance before it is published. JSON is used here and at construction only, never per
//! request.

// Scoped allowances for the `#[sabi_trait]` expansion in this module, and nothing else here:
// it defines trait impls inside a const item (non_local_definitions), and its generated vtable
// shims and `Send`/`Sync` impls are `unsafe` code written by abi_stable, not by us.
#![allow(non_local_definitions, unsafe_code)]

use abi_stable::{
    sabi_trait,
    std_types::{RBox, ROption, RResult, RStr, RString},
};

use super::{
    Admission, AuthorizeRequest, ErrorCode, KeyChoice, KeyRecord, KeywardError, Reservation,
    ReserveRequest, SelectRequest, Settlement, Usage,
};

/// Key selection: given provider, model, request kind, an optional pinned key, an optional
/// allow-list and the keys that already failed, pick one provider key.
#[sabi_trait]
pub trait KeySelector: Send + Sync {
    /// Picks a key: returns the chosen key's record, owned by the instance (whose configuration
    /// never changes: a reconfiguration builds a new instance), or `None` after writing why
    /// into `error`. Runs on every request (and again on every retry), so it must not
    /// allocate, lock or serialize; the answer is one pointer, returned in a register (a
    /// returned `RResult` of a whole choice cost a third of a pick in copies). Hosts call it
    /// through [`KeySelectorExt::pick`], passing `error` as `RNone`; a `Some` answer wins over
    /// anything written to `error`, and `None` with nothing written reads as an internal error.
    fn select<'a>(
        &'a self,
        request: &SelectRequest<'a>,
        error: &mut ROption<KeywardError>,
    ) -> Option<&'a KeyRecord<'a>>;

    /// Exports the mutable selection state (e.g. round-robin cursors) as JSON and retires the
    /// instance. A stateless selector returns `"null"`.
    fn export_state(&self) -> RResult<RString, KeywardError>;

    /// Imports state exported by a previous instance (possibly another plugin or version: an
    /// unknown shape is ignored, not an error, when the state is only an optimization).
    #[sabi(last_prefix_field)]
    fn import_state(&self, state: RStr<'_>) -> RResult<(), KeywardError>;
}

/// The host's way to call [`KeySelector::select`]: the record resolved against the request into
/// a [`KeyChoice`], or the selector's error, as an `RResult` (what
/// [`Instance::call`](crate::loader::Instance::call) takes).
///
/// ```
/// use keyward_plugin_api::{
///     abi_stable::std_types::{ROption, RResult, RStr, RString},
///     ffi::{KeyRecord, KeySelector, KeySelectorExt, KeywardError, RequestKind, SelectRequest},
/// };
///
/// struct One(KeyRecord<'static>);
/// impl KeySelector for One {
///     fn select<'a>(
///         &'a self,
///         _: &SelectRequest<'a>,
///         _: &mut ROption<KeywardError>,
///     ) -> Option<&'a KeyRecord<'a>> {
///         Some(&self.0)
///     }
///     fn export_state(&self) -> RResult<RString, KeywardError> {
///         RResult::ROk("null".into())
///     }
///     fn import_state(&self, _: RStr<'_>) -> RResult<(), KeywardError> {
///         RResult::ROk(())
///     }
/// }
///
/// let selector = One(KeyRecord::new("k1", "first", None, 0));
/// let request = SelectRequest::new("openai", "gpt-4o", RequestKind::CHAT_COMPLETION);
/// let choice = selector.pick(&request).unwrap();
/// assert_eq!(choice.key_id.as_str(), "k1");
/// assert_eq!(choice.provider_model.as_str(), "gpt-4o");
/// ```
pub trait KeySelectorExt: KeySelector {
    /// Picks a key (see [`KeySelector::select`]).
    #[inline]
    fn pick<'a>(&'a self, request: &SelectRequest<'a>) -> RResult<KeyChoice<'a>, KeywardError> {
        let mut error = ROption::RNone;
        match self.select(request, &mut error) {
            Some(record) => RResult::ROk(record.choice(request)),
            None => RResult::RErr(error.into_option().unwrap_or_else(|| {
                KeywardError::new(
                    ErrorCode::INTERNAL,
                    "the key selector answered neither a key nor an error",
                )
            })),
        }
    }
}

impl<T: KeySelector + ?Sized> KeySelectorExt for T {}

/// Virtual-key authorization: find the virtual key in the headers and admit the request with a
/// decision, or deny it with a status, an error type, a message and an optional retry-after.
#[sabi_trait]
pub trait VirtualKeyAuthorizer: Send + Sync {
    /// Authorizes one request. Runs on every request: no allocation on the admit path.
    fn authorize<'a>(
        &'a self,
        request: &AuthorizeRequest<'a>,
    ) -> RResult<Admission<'a>, KeywardError>;

    /// Exports mutable state (if any) as JSON and retires the instance.
    fn export_state(&self) -> RResult<RString, KeywardError>;

    /// Imports state exported by a previous instance.
    #[sabi(last_prefix_field)]
    fn import_state(&self, state: RStr<'_>) -> RResult<(), KeywardError>;
}

/// Budget and rate-limit enforcement: reserve before the upstream call, settle with the actual
/// usage after it, release when it failed or was cancelled.
#[sabi_trait]
pub trait UsageEnforcer: Send + Sync {
    /// Reserves a request slot and the estimated tokens and cost at every level, atomically, or
    /// denies with 429 (`request_limited`, `token_limited`) or 402 (`budget_exceeded`).
    fn reserve(&self, request: &ReserveRequest<'_>) -> RResult<Reservation, KeywardError>;

    /// Replaces the reservation's estimate with the actual usage. Idempotent per request id.
    fn settle(&self, request_id: u64, usage: &Usage) -> RResult<Settlement, KeywardError>;

    /// Returns the reservation (the request failed or was cancelled). Idempotent per request id.
    fn release(&self, request_id: u64) -> RResult<Settlement, KeywardError>;

    /// Exports counters, windows and open reservations as JSON and retires the instance.
    fn export_state(&self) -> RResult<RString, KeywardError>;

    /// Imports state exported by a previous instance, open reservations included.
    #[sabi(last_prefix_field)]
    fn import_state(&self, state: RStr<'_>) -> RResult<(), KeywardError>;

    /// Returns the same JSON as `export_state` **without** retiring the instance, for periodic
    /// usage snapshots (a host persists them so a restart loses no usage). Added in 0.1.1 after
    /// the last prefix method: a plugin built before it gets this default, which answers
    /// `unsupported`.
    fn snapshot_state(&self) -> RResult<RString, KeywardError> {
        RResult::RErr(KeywardError::new(
            crate::ffi::ErrorCode::UNSUPPORTED,
            "this enforcer cannot snapshot its state without retiring",
        ))
    }
}

/// A boxed key selector as it crosses the ABI.
pub type KeySelectorBox = KeySelector_TO<'static, RBox<()>>;
/// A boxed authorizer as it crosses the ABI.
pub type AuthorizerBox = VirtualKeyAuthorizer_TO<'static, RBox<()>>;
/// A boxed enforcer as it crosses the ABI.
pub type EnforcerBox = UsageEnforcer_TO<'static, RBox<()>>;
