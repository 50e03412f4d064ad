//! The plugin side of "panics never cross the ABI".
//!
//! Every role method body runs inside [`PanicGuard::run`]: a panic is caught, the instance is
//! marked poisoned and the call returns [`ErrorCode::PLUGIN_PANICKED`]; every later call returns
//! [`ErrorCode::PLUGIN_POISONED`] until the host reloads the plugin (fail closed). The guard
//! also carries the retirement flag that [`export_state`](crate::ffi::KeySelector::export_state)
//! sets for hot swaps. Retiring waits for the state-changing calls already past the check to
//! finish ([`PanicGuard::retire`]), so an export sees every change the old instance accepted:
//! none lands after the state was taken.
//!
//! ```
//! use keyward_plugin_api::{abi_stable::std_types::RResult, ffi::ErrorCode, guard::PanicGuard};
//!
//! let guard = PanicGuard::new("example");
//! let ok: RResult<u32, _> = guard.run(|| RResult::ROk(7));
//! assert_eq!(ok.unwrap(), 7);
//! let failed: RResult<u32, _> = guard.run(|| panic!("boom"));
//! assert_eq!(failed.unwrap_err().code, ErrorCode::PLUGIN_PANICKED);
//! assert_eq!(guard.run(|| RResult::ROk(7)).unwrap_err().code, ErrorCode::PLUGIN_POISONED);
//! ```

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
};

use abi_stable::std_types::{ROption, RResult};

use crate::ffi::{ErrorCode, KeywardError};

/// Catches panics, poisons the instance, and tracks retirement after a state export.
#[derive(Debug)]
pub struct PanicGuard {
    role: &'static str,
    poisoned: AtomicBool,
    retired: AtomicBool,
    /// State-changing calls in progress (see [`retire`](Self::retire)), counted per thread
    /// stripe so that threads do not share a counter's cache line.
    changing: [InFlight; STRIPES],
}

/// How many counters the calls in progress are spread over.
const STRIPES: usize = 16;

/// A counter on its own cache line.
#[derive(Debug)]
#[repr(align(64))]
struct InFlight(AtomicUsize);

/// The stripe of the calling thread: assigned round-robin on first use.
fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    STRIPE.with(|s| *s)
}

impl PanicGuard {
    /// A guard for an instance of `role` (used in messages).
    pub const fn new(role: &'static str) -> Self {
        Self {
            role,
            poisoned: AtomicBool::new(false),
            retired: AtomicBool::new(false),
            changing: [const { InFlight(AtomicUsize::new(0)) }; STRIPES],
        }
    }

    /// Runs `body`, turning a panic into a typed error and poisoning the instance.
    #[inline]
    pub fn run<T>(
        &self,
        body: impl FnOnce() -> RResult<T, KeywardError>,
    ) -> RResult<T, KeywardError> {
        if self.poisoned.load(Ordering::Relaxed) {
            return RResult::RErr(self.poisoned_error());
        }
        match catch_unwind(AssertUnwindSafe(body)) {
            Ok(result) => result,
            Err(payload) => {
                self.poisoned.store(true, Ordering::Relaxed);
                let cause = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic payload".to_owned());
                RResult::RErr(KeywardError::new(
                    ErrorCode::PLUGIN_PANICKED,
                    format!(
                        "the {} plugin panicked ({cause}); it fails closed until reloaded",
                        self.role
                    ),
                ))
            }
        }
    }

    /// Like [`run`](Self::run), for methods that answer a reference and report failures
    /// through an out-parameter (as [`KeySelector::select`](crate::ffi::KeySelector::select)):
    /// the error, or the panic turned into one, is written to `error` and `None` returned.
    #[inline]
    pub fn run_answer<'a, T>(
        &self,
        error: &mut ROption<KeywardError>,
        body: impl FnOnce() -> Result<&'a T, KeywardError>,
    ) -> Option<&'a T> {
        match self.run(|| body().into()) {
            RResult::ROk(answer) => Some(answer),
            RResult::RErr(failure) => {
                *error = ROption::RSome(failure);
                None
            }
        }
    }

    /// Like [`run`](Self::run), but also refuses with [`ErrorCode::INSTANCE_RETIRED`] once the
    /// instance exported its state. For methods that change state.
    #[inline]
    pub fn run_mutating<T>(
        &self,
        body: impl FnOnce() -> RResult<T, KeywardError>,
    ) -> RResult<T, KeywardError> {
        // Counted before the check (both sequentially consistent, like `retire`'s): either
        // `retire` sees this call in progress and waits for it, or this call sees the flag.
        let mine = &self.changing[stripe()].0;
        mine.fetch_add(1, Ordering::SeqCst);
        if self.retired.load(Ordering::SeqCst) {
            mine.fetch_sub(1, Ordering::SeqCst);
            return RResult::RErr(KeywardError::new(
                ErrorCode::INSTANCE_RETIRED,
                format!("this {} instance was retired by a state export", self.role),
            ));
        }
        // `run` catches panics: the count always comes back down.
        let answer = self.run(body);
        mine.fetch_sub(1, Ordering::SeqCst);
        answer
    }

    /// Marks the instance retired (called by `export_state`), then waits until no
    /// state-changing call is in progress: when it returns, every change the instance accepted
    /// is in its state and no other will be accepted.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::SeqCst);
        for counter in &self.changing {
            while counter.0.load(Ordering::SeqCst) != 0 {
                std::hint::spin_loop();
                std::thread::yield_now();
            }
        }
    }

    /// Whether the instance was retired.
    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    /// Whether a method panicked.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Relaxed)
    }

    fn poisoned_error(&self) -> KeywardError {
        KeywardError::new(
            ErrorCode::PLUGIN_POISONED,
            format!(
                "the {} plugin panicked earlier and fails closed until reloaded",
                self.role
            ),
        )
    }
}

#[cfg(test)]
mod tests;
