//! Per-request types of the authorization and enforcement roles: the request a host authorizes
//! ([`AuthorizeRequest`]), the admission it gets back ([`Admission`]), the reservation it makes
//! ([`ReserveRequest`], [`Reservation`]) and the usage it settles ([`Usage`]).

use abi_stable::{
    StableAbi,
    std_types::{ROption, RSlice, RStr},
};

use super::{ErrorCode, Extensions, InlineExtensions, RequestKind};

/// One request header, name in lower case.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug)]
pub struct Header<'a> {
    /// Lower-case header name.
    pub name: RStr<'a>,
    /// Header value as sent.
    pub value: RStr<'a>,
}

/// What the host knows of a request's size before sending it upstream.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug, Default, PartialEq)]
pub struct UsageEstimate {
    /// Estimated prompt tokens (the host's estimate from the body).
    pub input_tokens: u64,
    /// The request's `max_tokens` / `max_completion_tokens`, if it set one. When absent the
    /// enforcer uses its configured default.
    pub max_output_tokens: ROption<u64>,
}

/// A virtual-key authorization request.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug)]
pub struct AuthorizeRequest<'a> {
    /// A host-unique id for this request, used again by reserve, settle and release.
    pub request_id: u64,
    /// The request headers: the authorizer finds the virtual key in them itself.
    pub headers: RSlice<'a, Header<'a>>,
    /// The provider the caller named (`provider/model`), or `RNone` to let the authorizer
    /// choose one by the virtual key's weights.
    pub provider: ROption<RStr<'a>>,
    /// The model, without a provider prefix.
    pub model: RStr<'a>,
    /// The request kind.
    pub kind: RequestKind,
    /// The size estimate.
    pub estimate: UsageEstimate,
    /// What a newer host adds (docs/abi.md, "Extension keys"); empty from an older one.
    pub extensions: Extensions<'a>,
}

/// How many fallback providers an [`Admission`] carries at most.
pub const MAX_FALLBACKS: usize = 7;

/// Providers to try, in order, if the chosen one fails. Inline, so an admission allocates
/// nothing.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug)]
pub struct Fallbacks<'a> {
    len: u8,
    providers: [RStr<'a>; MAX_FALLBACKS],
}

impl<'a> Fallbacks<'a> {
    /// No fallbacks.
    pub const EMPTY: Fallbacks<'static> = Fallbacks {
        len: 0,
        providers: [RStr::from_str(""); MAX_FALLBACKS],
    };

    /// Appends a provider; returns `false` (and drops it) when full.
    pub fn push(&mut self, provider: &'a str) -> bool {
        let index = usize::from(self.len);
        match self.providers.get_mut(index) {
            Some(slot) => {
                *slot = RStr::from_str(provider);
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// The providers, in order.
    pub fn as_slice(&self) -> &[RStr<'a>] {
        let len = usize::from(self.len).min(MAX_FALLBACKS);
        &self.providers[..len]
    }
}

impl Default for Fallbacks<'_> {
    fn default() -> Self {
        Fallbacks::EMPTY
    }
}

/// An admitted request: who it is, where it goes, which keys it may use.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug)]
pub struct Admission<'a> {
    /// The virtual key's `id`, or empty when none was sent and none is required.
    pub virtual_key_id: RStr<'a>,
    /// The provider to call.
    pub provider: RStr<'a>,
    /// The provider key ids the virtual key allows for this provider; `RNone` allows all
    /// (`allow_all_keys`, or no virtual key).
    pub allowed_key_ids: ROption<RSlice<'a, RStr<'a>>>,
    /// Other providers to try, in order, when the chosen one fails.
    pub fallbacks: Fallbacks<'a>,
    /// In shadow mode, what the decision would have been had it been enforced
    /// ([`ErrorCode::NONE`] when it would have admitted).
    pub would_deny: ErrorCode,
    /// What a newer authorizer adds; an older host ignores it.
    pub extensions: Extensions<'a>,
}

/// A reservation request: made after authorization, before the upstream call.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug)]
pub struct ReserveRequest<'a> {
    /// The same id the host gave [`AuthorizeRequest::request_id`].
    pub request_id: u64,
    /// The admitted virtual key's id (empty: no virtual key).
    pub virtual_key_id: RStr<'a>,
    /// The provider being called.
    pub provider: RStr<'a>,
    /// The model being called (as the caller named it).
    pub model: RStr<'a>,
    /// The size estimate.
    pub estimate: UsageEstimate,
    /// What a newer host adds; empty from an older one.
    pub extensions: Extensions<'a>,
}

/// A reservation held until settle or release.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug, PartialEq)]
pub struct Reservation {
    /// The request id it is held under.
    pub request_id: u64,
    /// The tokens reserved (input estimate plus max output tokens).
    pub reserved_tokens: u64,
    /// The cost reserved, in nano-dollars.
    pub reserved_cost_nanos: u64,
    /// In shadow mode, the limit that would have denied it ([`ErrorCode::NONE`] if none).
    pub would_deny: ErrorCode,
    /// What a newer enforcer adds; an older host ignores it.
    pub extensions: InlineExtensions,
}

/// The usage of a finished request, from the upstream's `usage` object.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug, Default, PartialEq)]
pub struct Usage {
    /// Prompt tokens, cached ones included.
    pub input_tokens: u64,
    /// Of which served from the provider's prompt cache.
    pub cached_input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// The cost in nano-dollars when the host knows it; `RNone` lets the enforcer price it.
    pub cost_nanos: ROption<u64>,
    /// Whether the upstream call succeeded.
    pub success: bool,
    /// Usage details a newer host adds (docs/abi.md, "Extension keys"); empty from an older one.
    pub extensions: InlineExtensions,
}

/// What a settlement did.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug, PartialEq)]
pub struct Settlement {
    /// The cost charged, in nano-dollars.
    pub charged_cost_nanos: u64,
    /// The tokens charged.
    pub charged_tokens: u64,
    /// `true` when this request id had already been settled or released: nothing was charged
    /// again (settlement is idempotent).
    pub duplicate: bool,
    /// What a newer enforcer adds; an older host ignores it.
    pub extensions: InlineExtensions,
}
