//! Per-request types of the key-selection role: what the host asks ([`SelectRequest`]), what
//! the selector answers (a pointer to one of its [`KeyRecord`]s), and the host's view of that
//! answer ([`KeyChoice`]). Nothing is allocated or copied on the way: the answer is one pointer,
//! returned in a register.

use abi_stable::{
    StableAbi,
    std_types::{ROption, RSlice, RStr},
};

use super::Extensions;

/// What kind of request is being served. A `u8` newtype, not a Rust enum, so kinds added later
/// are read safely by older plugins (they fall into "not batch").
#[repr(transparent)]
#[derive(StableAbi, Copy, Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct RequestKind(pub u8);

impl RequestKind {
    /// Anything not listed below.
    pub const OTHER: Self = Self(0);
    /// `POST /v1/chat/completions`.
    pub const CHAT_COMPLETION: Self = Self(1);
    /// `POST /v1/completions`.
    pub const TEXT_COMPLETION: Self = Self(2);
    /// `POST /v1/embeddings`.
    pub const EMBEDDING: Self = Self(3);
    /// Batch API requests: only keys with `use_for_batch_api` serve them.
    pub const BATCH: Self = Self(4);
    /// `POST /v1/responses`.
    pub const RESPONSES: Self = Self(5);
    /// Image generation.
    pub const IMAGE: Self = Self(6);
    /// Speech and transcription.
    pub const AUDIO: Self = Self(7);

    /// Whether only batch-enabled keys may serve this request.
    pub fn is_batch(self) -> bool {
        self == Self::BATCH
    }
}

/// Why a key failed earlier in the same request. A `u8` newtype, like [`RequestKind`].
#[repr(transparent)]
#[derive(StableAbi, Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct FailureKind(pub u8);

impl FailureKind {
    /// Any other failure (connection refused, malformed answer).
    pub const OTHER: Self = Self(0);
    /// The upstream answered 429.
    pub const RATE_LIMITED: Self = Self(1);
    /// The upstream answered 5xx.
    pub const SERVER_ERROR: Self = Self(2);
    /// The upstream answered 401 or 403: the key is excluded for the rest of the request,
    /// whatever else happens.
    pub const CREDENTIALS: Self = Self(3);
    /// The upstream did not answer in time.
    pub const TIMEOUT: Self = Self(4);

    /// Whether the key may be tried again in the same request once every other candidate
    /// failed too. Credential failures are final; transient ones are not.
    pub fn is_transient(self) -> bool {
        self != Self::CREDENTIALS
    }
}

/// A key that already failed in this request.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug)]
pub struct FailedKey<'a> {
    /// The key's `id`.
    pub key_id: RStr<'a>,
    /// Why it failed.
    pub failure: FailureKind,
}

/// A key-selection request.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug)]
pub struct SelectRequest<'a> {
    /// The provider, e.g. `openai`, `azure`.
    pub provider: RStr<'a>,
    /// The model the caller sent (without the `provider/` prefix); aliases are resolved by the
    /// selector and reported in [`KeyChoice::provider_model`].
    pub model: RStr<'a>,
    /// The request kind.
    pub kind: RequestKind,
    /// A key pinned by the caller, by `id` or by `name`. A pinned key must still be a candidate.
    pub pinned_key: ROption<RStr<'a>>,
    /// The key ids a virtual key allows; `RNone` allows every key of the provider.
    pub allowed_key_ids: ROption<RSlice<'a, RStr<'a>>>,
    /// Keys that already failed in this request, in the order they failed.
    pub failed: RSlice<'a, FailedKey<'a>>,
    /// What a newer host adds (docs/abi.md, "Extension keys"); empty from an older one.
    pub extensions: Extensions<'a>,
}

impl<'a> SelectRequest<'a> {
    /// A request for `provider` and `model` with no pin, no allow-list and no failures.
    pub fn new(provider: &'a str, model: &'a str, kind: RequestKind) -> Self {
        Self {
            provider: RStr::from_str(provider),
            model: RStr::from_str(model),
            kind,
            pinned_key: ROption::RNone,
            allowed_key_ids: ROption::RNone,
            failed: RSlice::EMPTY,
            extensions: Extensions::NONE,
        }
    }
}

/// A key as a selector answers it: built when the selector is configured, borrowing strings the
/// instance owns (its configuration never changes), one per key and table, so that a pick
/// returns a pointer to it. One cache line: the three names and a word for the selector's own
/// use (hosts ignore it; the weighted selector keeps the record's alias-table column there, so
/// one line serves both the draw and the answer).
#[repr(C, align(64))]
#[derive(StableAbi, Copy, Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord<'a> {
    /// The key's `id`.
    pub key_id: RStr<'a>,
    /// The model id to send upstream when the key maps the requested model (alias or
    /// deployment); empty: the requested model as sent.
    pub provider_model: RStr<'a>,
    /// The key's `name`.
    pub key_name: RStr<'a>,
    /// The selector's own word; hosts ignore it.
    pub selector_word: u64,
}

impl<'a> KeyRecord<'a> {
    /// A record for a key that serves the requested model under `provider_model` (`None`, or
    /// an empty name: as requested — so an alias or deployment mapped to an empty id, which no
    /// upstream could serve, sends the requested model).
    pub fn new(
        key_id: &'a str,
        key_name: &'a str,
        provider_model: Option<&'a str>,
        selector_word: u64,
    ) -> Self {
        Self {
            key_id: RStr::from_str(key_id),
            provider_model: RStr::from_str(provider_model.unwrap_or_default()),
            key_name: RStr::from_str(key_name),
            selector_word,
        }
    }

    /// The host's view of this record as the answer to `request`.
    #[inline]
    pub fn choice(&self, request: &SelectRequest<'a>) -> KeyChoice<'a> {
        KeyChoice {
            key_id: self.key_id,
            key_name: self.key_name,
            provider_model: if self.provider_model.is_empty() {
                request.model
            } else {
                self.provider_model
            },
        }
    }
}

/// The key a selector chose, as the host reads it ([`KeySelectorExt::pick`]): borrowed from
/// the selector's [`KeyRecord`] and from the request.
///
/// [`KeySelectorExt::pick`]: super::KeySelectorExt::pick
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug, PartialEq)]
pub struct KeyChoice<'a> {
    /// The chosen key's `id`.
    pub key_id: RStr<'a>,
    /// The chosen key's `name`.
    pub key_name: RStr<'a>,
    /// The model id to send upstream: the alias or deployment the key maps the requested model
    /// to, or the requested model itself.
    pub provider_model: RStr<'a>,
}
