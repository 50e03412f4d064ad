//! The per-request part of key selection, shared by the selectors: the virtual key's
//! allow-list, the keys that already failed in this request, a pinned key, and the typed
//! errors when nothing is left. Nothing here allocates except the errors.
//!
//! Failed keys are excluded. When that leaves no candidate, keys whose failures were all
//! transient are tried again — keys that were only rate-limited first, then keys with other
//! transient failures (5xx, timeouts); a key that failed its credentials (401/403) never is.

use abi_stable::std_types::RStr;

use super::index::ProviderIndex;
use crate::ffi::{ErrorCode, FailedKey, FailureKind, KeywardError, RequestKind, SelectRequest};

/// How eligible a candidate is for this request; lower is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// Not failed in this request.
    Fresh = 0,
    /// Failed, but only with 429s.
    RateLimited = 1,
    /// Failed with transient errors only (5xx, timeouts, others).
    Transient = 2,
    /// Failed its credentials, or not in the allow-list: never picked.
    Excluded = 3,
}

/// The tiers a pick may use, best first.
pub const USABLE_TIERS: [Tier; 3] = [Tier::Fresh, Tier::RateLimited, Tier::Transient];

/// The allow-list and failures of one request.
#[derive(Clone, Copy, Debug)]
pub struct Constraints<'r> {
    allowed: Option<&'r [RStr<'r>]>,
    failed: &'r [FailedKey<'r>],
}

impl<'r> Constraints<'r> {
    /// The constraints of `request`.
    #[inline]
    pub fn of(request: &SelectRequest<'r>) -> Self {
        Self {
            allowed: request
                .allowed_key_ids
                .as_ref()
                .map(|ids| ids.as_slice())
                .into_option(),
            failed: request.failed.as_slice(),
        }
    }

    /// Whether the request restricts nothing.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.allowed.is_none() && self.failed.is_empty()
    }

    /// The allow-list, if any.
    #[inline]
    pub fn allowed(&self) -> Option<&'r [RStr<'r>]> {
        self.allowed
    }

    /// Whether the allow-list admits `key_id`.
    #[inline]
    pub fn allows(&self, key_id: &str) -> bool {
        self.allowed
            .is_none_or(|ids| ids.iter().any(|id| id.as_str() == key_id))
    }

    /// How the key's failures in this request rank it (ignoring the allow-list).
    #[inline]
    pub fn failure_tier(&self, key_id: &str) -> Tier {
        let mut tier = Tier::Fresh;
        for failure in self.failed.iter().filter(|f| f.key_id.as_str() == key_id) {
            tier = match failure.failure {
                FailureKind::CREDENTIALS => return Tier::Excluded,
                FailureKind::RATE_LIMITED => tier.max(Tier::RateLimited),
                _ => Tier::Transient,
            };
        }
        tier
    }

    /// The key's tier: [`Tier::Excluded`] outside the allow-list, else its failure tier.
    #[inline]
    pub fn tier(&self, key_id: &str) -> Tier {
        if self.allows(key_id) {
            self.failure_tier(key_id)
        } else {
            Tier::Excluded
        }
    }
}

/// A table of candidate keys, as the shared pick logic sees it.
pub trait CandidateTable {
    /// How many candidates.
    fn len(&self) -> usize;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The key (position in [`ProviderIndex::keys`]) of the candidate at `position`.
    fn key_at(&self, position: usize) -> u32;
    /// The position of `key` in the table, if it is a candidate.
    fn position_of(&self, key: u32) -> Option<usize>;
    /// The candidate's weight for picking (all ones when every weight is zero).
    fn weight_at(&self, position: usize) -> u64;
}

/// Why a constrained pick found nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoPick {
    /// The allow-list admits none of the candidates.
    NoneAllowed,
    /// Every admitted candidate failed for good in this request.
    AllExcluded,
}

/// Calls `visit(position)` for each candidate the allow-list admits, once each: by walking a
/// short allow-list (looking each id up), or else the table.
fn for_each_admitted<T: CandidateTable, U>(
    table: &T,
    provider: &ProviderIndex<U>,
    constraints: &Constraints<'_>,
    mut visit: impl FnMut(usize, &str),
) {
    match constraints.allowed() {
        Some(ids) if ids.len() < table.len() => {
            for (i, id) in ids.iter().enumerate() {
                if ids[..i].iter().any(|earlier| earlier == id) {
                    continue;
                }
                if let Some(position) = provider
                    .key_by_id(id.as_str())
                    .and_then(|key| table.position_of(key))
                {
                    visit(position, id.as_str());
                }
            }
        }
        _ => {
            for position in 0..table.len() {
                let id = &*provider.keys()[table.key_at(position) as usize].id;
                if constraints.allows(id) {
                    visit(position, id);
                }
            }
        }
    }
}

/// Admitted candidates remembered between the two passes of [`weighted_scan`], on the stack.
const REMEMBERED: usize = 32;

/// A weighted pick among the admitted candidates of the best usable tier: two passes over the
/// admitted candidates (the second over the first's findings when they fit on the stack), no
/// allocation. `random_below(n)` returns a uniform value in `0..n`.
pub fn weighted_scan<T: CandidateTable, U>(
    table: &T,
    provider: &ProviderIndex<U>,
    constraints: &Constraints<'_>,
    mut random_below: impl FnMut(u64) -> u64,
) -> Result<usize, NoPick> {
    let mut counts = [0u64; 3];
    let mut weights = [0u64; 3];
    let mut admitted = 0usize;
    let mut remembered = [(0usize, Tier::Excluded); REMEMBERED];
    for_each_admitted(table, provider, constraints, |position, id| {
        let tier = constraints.failure_tier(id);
        if let Some(slot) = remembered.get_mut(admitted) {
            *slot = (position, tier);
        }
        admitted += 1;
        if tier != Tier::Excluded {
            counts[tier as usize] += 1;
            weights[tier as usize] += table.weight_at(position);
        }
    });
    let Some(tier) = USABLE_TIERS.into_iter().find(|t| counts[*t as usize] > 0) else {
        return Err(if admitted == 0 {
            NoPick::NoneAllowed
        } else {
            NoPick::AllExcluded
        });
    };
    let (count, weight) = (counts[tier as usize], weights[tier as usize]);
    let uniform = weight == 0;
    let mut target = random_below(if uniform { count } else { weight });
    let mut chosen = None;
    let mut consider = |position: usize, candidate_tier: Tier| {
        if chosen.is_some() || candidate_tier != tier {
            return;
        }
        let share = if uniform {
            1
        } else {
            table.weight_at(position)
        };
        if target < share {
            chosen = Some(position);
        } else {
            target -= share;
        }
    };
    if admitted <= REMEMBERED {
        for &(position, candidate_tier) in &remembered[..admitted] {
            consider(position, candidate_tier);
        }
    } else {
        for_each_admitted(table, provider, constraints, |position, id| {
            consider(position, constraints.failure_tier(id));
        });
    }
    chosen.ok_or(NoPick::AllExcluded)
}

/// Why a pinned key cannot serve the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinProblem {
    /// No key of the provider has that id or name.
    Unknown,
    /// The key exists but does not serve this model or request kind (or is disabled).
    NotCandidate,
    /// The virtual key's allow-list does not include it.
    NotAllowed,
    /// It failed its credentials earlier in this request.
    Excluded,
}

/// The table position of the pinned key (by id, else by name), if it may serve the request.
/// A pinned key that failed transiently is tried again: it is the only candidate.
pub fn pinned_position<T: CandidateTable, U>(
    table: &T,
    provider: &ProviderIndex<U>,
    constraints: &Constraints<'_>,
    pinned: &str,
) -> Result<usize, PinProblem> {
    let key = provider
        .key_by_id_or_name(pinned)
        .ok_or(PinProblem::Unknown)?;
    let position = table.position_of(key).ok_or(PinProblem::NotCandidate)?;
    let id = &*provider.keys()[key as usize].id;
    if !constraints.allows(id) {
        return Err(PinProblem::NotAllowed);
    }
    if constraints.failure_tier(id) == Tier::Excluded {
        return Err(PinProblem::Excluded);
    }
    Ok(position)
}

/// The provider has no keys, or is not configured: `no_keys`.
#[cold]
#[inline(never)]
pub fn no_keys_error(provider: &str, model: &str) -> KeywardError {
    KeywardError::new(
        ErrorCode::NO_KEYS,
        format!("provider `{provider}` cannot serve model `{model}`: it has no keys configured"),
    )
}

/// No key of the provider serves the model for this request kind: `model_not_supported`.
#[cold]
#[inline(never)]
pub fn unsupported_model_error<U>(
    provider: &ProviderIndex<U>,
    model: &str,
    kind: RequestKind,
) -> KeywardError {
    let why = if provider.enabled_keys() == 0 {
        "all of its keys are disabled"
    } else if kind.is_batch() {
        "no enabled key with use_for_batch_api allows it (models, blacklisted_models, aliases, deployments)"
    } else {
        "no enabled key allows it (models, blacklisted_models, aliases, deployments)"
    };
    KeywardError::new(
        ErrorCode::MODEL_NOT_SUPPORTED,
        format!(
            "provider `{}` cannot serve model `{model}`: {why}",
            provider.name()
        ),
    )
}

/// What a constrained pick that found nothing answers.
#[cold]
#[inline(never)]
pub fn no_pick_error(provider: &str, model: &str, why: NoPick, failed: usize) -> KeywardError {
    match why {
        NoPick::NoneAllowed => KeywardError::new(
            ErrorCode::MODEL_NOT_SUPPORTED,
            format!(
                "provider `{provider}` cannot serve model `{model}`: none of the keys that serve it is in the virtual key's allowed keys"
            ),
        ),
        NoPick::AllExcluded => KeywardError::new(
            ErrorCode::ALL_KEYS_EXCLUDED,
            format!(
                "provider `{provider}`, model `{model}`: every candidate key failed in this request ({failed} failures; credential failures are never retried)"
            ),
        ),
    }
}

/// The pinned key cannot serve the request: `pinned_key_unavailable` (or `all_keys_excluded`
/// when it failed its credentials in this request).
#[cold]
#[inline(never)]
pub fn pin_error(provider: &str, model: &str, pinned: &str, why: PinProblem) -> KeywardError {
    let (code, why) = match why {
        PinProblem::Unknown => (
            ErrorCode::PINNED_KEY_UNAVAILABLE,
            "no key has that id or name",
        ),
        PinProblem::NotCandidate => (
            ErrorCode::PINNED_KEY_UNAVAILABLE,
            "the key is disabled or does not serve this model or request kind",
        ),
        PinProblem::NotAllowed => (
            ErrorCode::PINNED_KEY_UNAVAILABLE,
            "the key is not in the virtual key's allowed keys",
        ),
        PinProblem::Excluded => (
            ErrorCode::ALL_KEYS_EXCLUDED,
            "the key failed its credentials earlier in this request",
        ),
    };
    KeywardError::new(
        code,
        format!(
            "provider `{provider}`, model `{model}`: pinned key `{pinned}` is unavailable: {why}"
        ),
    )
}

#[cfg(test)]
mod tests;
