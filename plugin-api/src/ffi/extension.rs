//! Extension points of the per-request structs: how a request or an answer carries something
//! new within one `0.y` without changing its layout (which abi_stable would refuse).
//!
//! A per-request struct never gains a field in a patch release; it carries a list of
//! [`Extension`]s instead, each named by an [`ExtensionKey`]. A newer peer adds entries; an
//! older peer never looks at keys it does not know; an entry that is absent reads as the
//! default its key documents. Two shapes:
//!
//! - [`Extensions`]: a borrowed list (`RSlice`), for what the host sends (the requests and the
//!   usage) and for [`Admission`](super::Admission), which borrows from the request and the
//!   instance already. The host builds it on its stack: nothing is allocated.
//! - [`InlineExtensions`]: up to [`MAX_INLINE_EXTENSIONS`] numbers held inline, for structs that
//!   borrow nothing ([`Usage`](super::Usage), [`Reservation`](super::Reservation),
//!   [`Settlement`](super::Settlement)).
//!
//! Keys below [`ExtensionKey::PRIVATE_USE`] are assigned by the contract, each in the patch
//! release that adds it (docs/abi.md lists them); keys from it on are never assigned, for a
//! host and plugins of one deployment to agree on among themselves.

use abi_stable::{
    StableAbi,
    std_types::{RSlice, RStr},
};

/// The name of an extension: a `u32` newtype, never reused for another meaning.
#[repr(transparent)]
#[derive(StableAbi, Copy, Clone, PartialEq, Eq, Hash, Debug, Default, PartialOrd, Ord)]
pub struct ExtensionKey(pub u32);

impl ExtensionKey {
    /// The first key the contract never assigns: from here on, keys are private to one
    /// deployment's host and plugins.
    pub const PRIVATE_USE: Self = Self(0x8000_0000);

    /// Whether the contract leaves this key to deployments.
    pub const fn is_private_use(self) -> bool {
        self.0 >= Self::PRIVATE_USE.0
    }
}

/// The keys assigned by the contract (docs/abi.md, "Extension keys"): each says in which
/// structs it is sent, what it carries and what its absence means.
#[cfg(not(keyward_previous_patch))]
impl ExtensionKey {
    /// **0.3.2.** [`AuthorizeRequest`](super::AuthorizeRequest),
    /// [`ReserveRequest`](super::ReserveRequest): number `1` when the caller asked for a
    /// streamed answer. Absent: not a stream, or a host that does not say.
    pub const STREAM: Self = Self(1);
    /// **0.3.2.** [`AuthorizeRequest`](super::AuthorizeRequest): text, the request URL's query
    /// string as sent (no `?`, not decoded). Absent: none.
    pub const QUERY: Self = Self(2);
    /// **0.3.2.** [`ReserveRequest`](super::ReserveRequest): number, the request's
    /// [`RequestKind`](super::RequestKind). Absent: unknown (a price that depends on the request
    /// type applies to every type).
    pub const REQUEST_KIND: Self = Self(3);
    /// **0.3.2.** [`AuthorizeRequest`](super::AuthorizeRequest): number `1` when the host
    /// applies routing decisions ([`ROUTED_MODEL`](Self::ROUTED_MODEL),
    /// [`ROUTED_KEY`](Self::ROUTED_KEY), fallbacks naming a model), so routing rules may run for
    /// this authorization. Absent: they do not — an older host, which would send the requested
    /// model to the routed provider; or a host's fallback or probe authorization, which must
    /// not be routed again.
    pub const ROUTE: Self = Self(4);
    /// **0.3.2.** [`Admission`](super::Admission): text, the model to call instead of the one
    /// requested (a routing rule chose it); the host reserves, selects and sends with it.
    /// Absent: the model as requested.
    pub const ROUTED_MODEL: Self = Self(5);
    /// **0.3.2.** [`Admission`](super::Admission): text, the id of the routing rule that chose
    /// the provider and model, for logs. Absent: no rule matched.
    pub const ROUTING_RULE: Self = Self(6);
    /// **0.3.2.** [`Admission`](super::Admission): text, the provider key (id or name) the
    /// routing rule pins, used as a caller's pinned key would be. Absent: no pin.
    pub const ROUTED_KEY: Self = Self(7);
}

/// One entry of an [`Extensions`] list: a key with a number, a text, or both (its key says
/// which it uses; the other is `0` or empty).
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug, PartialEq, Eq)]
pub struct Extension<'a> {
    /// What this entry means.
    pub key: ExtensionKey,
    /// Its number, when its key carries one.
    pub number: u64,
    /// Its text, when its key carries one.
    pub text: RStr<'a>,
}

impl<'a> Extension<'a> {
    /// An entry carrying a number.
    pub const fn number(key: ExtensionKey, number: u64) -> Self {
        Self {
            key,
            number,
            text: RStr::from_str(""),
        }
    }

    /// An entry carrying a text.
    pub const fn text(key: ExtensionKey, text: &'a str) -> Self {
        Self {
            key,
            number: 0,
            text: RStr::from_str(text),
        }
    }
}

/// A borrowed list of extensions; empty when the peer sent none (always, from a peer built
/// before the keys existed).
#[repr(transparent)]
#[derive(StableAbi, Copy, Clone, Debug)]
pub struct Extensions<'a>(RSlice<'a, Extension<'a>>);

impl<'a> Extensions<'a> {
    /// No extension.
    pub const NONE: Extensions<'static> = Extensions(RSlice::EMPTY);

    /// The list `entries` (the first entry of a key wins when one repeats).
    pub const fn new(entries: &'a [Extension<'a>]) -> Self {
        Self(RSlice::from_slice(entries))
    }

    /// The entry for `key`, if the peer sent one.
    pub fn get(&self, key: ExtensionKey) -> Option<&'a Extension<'a>> {
        self.0.as_slice().iter().find(|entry| entry.key == key)
    }

    /// The number sent for `key`.
    pub fn number(&self, key: ExtensionKey) -> Option<u64> {
        self.get(key).map(|entry| entry.number)
    }

    /// The text sent for `key`.
    pub fn text(&self, key: ExtensionKey) -> Option<&'a str> {
        self.get(key).map(|entry| entry.text.as_str())
    }

    /// Every entry, in the order sent.
    pub fn as_slice(&self) -> &'a [Extension<'a>] {
        self.0.as_slice()
    }
}

impl Default for Extensions<'_> {
    fn default() -> Self {
        Extensions::NONE
    }
}

/// How many numbers an [`InlineExtensions`] holds at most.
pub const MAX_INLINE_EXTENSIONS: usize = 4;

/// Up to [`MAX_INLINE_EXTENSIONS`] `(key, number)` pairs held inline, for answers that borrow
/// nothing.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct InlineExtensions {
    len: u8,
    keys: [ExtensionKey; MAX_INLINE_EXTENSIONS],
    numbers: [u64; MAX_INLINE_EXTENSIONS],
}

impl InlineExtensions {
    /// No extension.
    pub const NONE: Self = Self {
        len: 0,
        keys: [ExtensionKey(0); MAX_INLINE_EXTENSIONS],
        numbers: [0; MAX_INLINE_EXTENSIONS],
    };

    /// Adds `key` with `number`; returns `false` (and keeps nothing) when full.
    pub fn push(&mut self, key: ExtensionKey, number: u64) -> bool {
        let index = usize::from(self.len);
        match (self.keys.get_mut(index), self.numbers.get_mut(index)) {
            (Some(slot_key), Some(slot_number)) => {
                *slot_key = key;
                *slot_number = number;
                self.len += 1;
                true
            }
            _ => false,
        }
    }

    /// The number held for `key`.
    pub fn number(&self, key: ExtensionKey) -> Option<u64> {
        let len = usize::from(self.len).min(MAX_INLINE_EXTENSIONS);
        self.keys[..len]
            .iter()
            .position(|held| *held == key)
            .map(|at| self.numbers[at])
    }

    /// Every `(key, number)` pair, in the order added.
    pub fn iter(&self) -> impl Iterator<Item = (ExtensionKey, u64)> + '_ {
        let len = usize::from(self.len).min(MAX_INLINE_EXTENSIONS);
        self.keys[..len]
            .iter()
            .copied()
            .zip(self.numbers[..len].iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_answers_the_first_entry_of_a_key_and_nothing_for_others() {
        let key = ExtensionKey(7);
        let entries = [
            Extension::number(key, 3),
            Extension::text(ExtensionKey(9), "nine"),
            Extension::number(key, 4),
        ];
        let list = Extensions::new(&entries);
        assert_eq!(list.number(key), Some(3));
        assert_eq!(list.text(ExtensionKey(9)), Some("nine"));
        assert_eq!(list.get(ExtensionKey(8)), None);
        assert_eq!(Extensions::NONE.number(key), None);
    }

    #[test]
    fn an_inline_list_keeps_what_fits_and_refuses_the_rest() {
        let mut inline = InlineExtensions::NONE;
        for key in 1..=4 {
            assert!(inline.push(ExtensionKey(key), u64::from(key) * 10));
        }
        assert!(!inline.push(ExtensionKey(5), 50));
        assert_eq!(inline.number(ExtensionKey(2)), Some(20));
        assert_eq!(inline.number(ExtensionKey(5)), None);
        assert_eq!(inline.iter().count(), 4);
        assert!(ExtensionKey(0x8000_0001).is_private_use());
        assert!(!ExtensionKey(1).is_private_use());
    }
}
