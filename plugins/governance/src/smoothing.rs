//! Optional per-second request smoothing per virtual key: a GCRA limiter (`governor`) next to
//! the windowed limits, so a key with 600 requests a minute cannot spend them in one second.
//! It runs on the host's clock ([`HostClock`]), is checked last in a reservation (after every
//! counter was taken, so a refusal gives them back and nothing else needs undoing), and is
//! answered as `request_limited` with the limiter's retry-after. GCRA state is not exported:
//! after a swap each key starts with a full burst.

use std::{collections::BTreeMap, num::NonZeroU32};

use governor::{
    Quota, RateLimiter,
    clock::Clock,
    middleware::NoOpMiddleware,
    nanos::Nanos,
    state::{InMemoryState, NotKeyed},
};
use keyward_plugin_api::ffi::{HostHandle, KeywardError};

use crate::config::{SmoothingConfig, SmoothingRate, invalid};

/// `governor`'s clock on top of the host's: Unix nanoseconds as [`Nanos`].
#[derive(Clone)]
pub struct HostClock(pub HostHandle);

impl Clock for HostClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.0.now_unix_nanos())
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, HostClock, NoOpMiddleware<Nanos>>;

/// One key's limiter and its rate, for messages.
pub struct KeySmoothing {
    limiter: Limiter,
    /// Requests per second.
    pub per_second: u32,
    /// Burst.
    pub burst: u32,
}

/// The limiters, by key index.
#[derive(Default)]
pub struct Smoothing {
    keys: Vec<Option<KeySmoothing>>,
}

impl std::fmt::Debug for Smoothing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smoothing")
            .field("keys", &self.keys.iter().filter(|k| k.is_some()).count())
            .finish()
    }
}

/// The host's clock may be coarse (keyward-host's moves once per kernel tick, up to 10 ms): a
/// GCRA on a clock that stands still admits only its burst until the clock moves. So the burst
/// is at least [`CLOCK_GRANULARITY_MS`] worth of requests, which keeps the configured rate
/// reachable whatever the tick.
fn clock_granularity_burst(per_second: NonZeroU32) -> NonZeroU32 {
    let per_tick = per_second.get().div_ceil(1_000 / CLOCK_GRANULARITY_MS);
    NonZeroU32::new(per_tick).unwrap_or(NonZeroU32::MIN)
}

/// The clock resolution the smoothing burst allows for, in milliseconds.
pub const CLOCK_GRANULARITY_MS: u32 = 10;

fn rate(value: u32, path: &str) -> Result<NonZeroU32, KeywardError> {
    NonZeroU32::new(value).ok_or_else(|| invalid(path, "must be at least 1"))
}

impl Smoothing {
    /// Builds the limiters for `key_ids` (in key index order).
    pub fn build(
        config: Option<&SmoothingConfig>,
        key_ids: &[&str],
        host: &HostHandle,
    ) -> Result<Self, KeywardError> {
        let Some(config) = config else {
            return Ok(Self::default());
        };
        let overrides: &BTreeMap<String, SmoothingRate> = &config.virtual_keys;
        for id in overrides.keys() {
            if !key_ids.contains(&id.as_str()) {
                return Err(invalid(
                    &format!("smoothing.virtual_keys.{id}"),
                    format!("no virtual key with id {id:?}"),
                ));
            }
        }
        let default = config
            .requests_per_second
            .map(|requests_per_second| SmoothingRate {
                requests_per_second,
                burst: config.burst,
            });
        let mut keys = Vec::with_capacity(key_ids.len());
        for id in key_ids {
            let (chosen, path) = match overrides.get(*id) {
                Some(rate) => (Some(*rate), format!("smoothing.virtual_keys.{id}")),
                None => (default, "smoothing".to_owned()),
            };
            keys.push(match chosen {
                None => None,
                Some(chosen) => {
                    let per_second = rate(
                        chosen.requests_per_second,
                        &format!("{path}.requests_per_second"),
                    )?;
                    let burst = rate(
                        chosen.burst.unwrap_or(chosen.requests_per_second),
                        &format!("{path}.burst"),
                    )?
                    .max(clock_granularity_burst(per_second));
                    let quota = Quota::per_second(per_second).allow_burst(burst);
                    Some(KeySmoothing {
                        limiter: RateLimiter::direct_with_clock(quota, HostClock(host.clone())),
                        per_second: per_second.get(),
                        burst: burst.get(),
                    })
                }
            });
        }
        Ok(Self { keys })
    }

    /// Takes one request of key `key`; on refusal, the milliseconds until one is allowed and
    /// the key's rate.
    #[inline]
    pub fn check(&self, key: u32, host: &HostHandle) -> Result<(), (u64, &KeySmoothing)> {
        let Some(Some(smoothing)) = self.keys.get(key as usize) else {
            return Ok(());
        };
        smoothing.limiter.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(Nanos::from(host.now_unix_nanos()));
            let millis = u64::try_from(wait.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
            (millis.max(1), smoothing)
        })
    }
}

#[cfg(test)]
mod tests;
