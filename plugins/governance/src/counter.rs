//! One windowed counter (a budget in nano-dollars, a request count, a token count) that
//! reserves atomically and resets on its window.
//!
//! `used` is what admission checks: the usage settled in the current window **plus** every open
//! reservation. A reservation is a compare-and-swap loop that adds its amount only if the sum
//! stays within the limit, so no interleaving admits past it. `settled` is the part of `used`
//! that is final; a window reset swaps it out and subtracts it from `used`, so open
//! reservations carry into the new window (they settle there). Settling adds the actual usage
//! and removes the estimate; releasing removes the estimate.
//!
//! Ordering keeps `used >= settled` without locks: settlement changes `used` before it adds to
//! `settled`, and a reset only ever subtracts what it swapped out of `settled`. Window rolls
//! (rare) take a per-counter mutex; the request path only reads the window's end.

use std::sync::atomic::{AtomicU64, Ordering};

use keyward_plugin_api::model::governance::ResetDuration;
use parking_lot::Mutex;

/// A counter's window: its duration and alignment, and the current window's bounds.
#[derive(Debug)]
pub struct Window {
    duration: ResetDuration,
    calendar_aligned: bool,
    start: AtomicU64,
    end: AtomicU64,
    roll: Mutex<()>,
}

impl Window {
    /// A window of `duration` whose current period contains `started_at` (Unix nanoseconds):
    /// the calendar period of it when aligned, else a rolling window starting there.
    pub fn new(duration: ResetDuration, calendar_aligned: bool, started_at: u64) -> Self {
        let (start, end) = Self::bounds(&duration, calendar_aligned, started_at);
        Self {
            duration,
            calendar_aligned,
            start: AtomicU64::new(start),
            end: AtomicU64::new(end),
            roll: Mutex::new(()),
        }
    }

    fn bounds(duration: &ResetDuration, calendar_aligned: bool, at: u64) -> (u64, u64) {
        if calendar_aligned {
            if let Some(period) = duration.calendar_period(at) {
                return period;
            }
        }
        (at, duration.window_end(at))
    }

    /// When the current window started (the last reset), Unix nanoseconds.
    pub fn start(&self) -> u64 {
        self.start.load(Ordering::Acquire)
    }

    /// When the current window ends.
    pub fn end(&self) -> u64 {
        self.end.load(Ordering::Acquire)
    }

    /// The duration text.
    pub fn duration(&self) -> &ResetDuration {
        &self.duration
    }
}

/// A limit with its usage. Aligned to 128 bytes (two cache lines, for adjacent-line
/// prefetching) so counters of different keys never share a cache line: two threads reserving
/// on different keys do not slow each other down.
#[derive(Debug)]
#[repr(align(128))]
pub struct Counter {
    max: u64,
    used: AtomicU64,
    settled: AtomicU64,
    window: Window,
}

/// A counter's values, for state export and messages.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct CounterReading {
    /// The limit.
    pub max: u64,
    /// Settled usage in the current window.
    pub settled: u64,
    /// Settled usage plus open reservations.
    pub used: u64,
    /// The current window's start (last reset).
    pub window_start: u64,
    /// The current window's end (next reset).
    pub window_end: u64,
}

impl Counter {
    /// A counter of `max` with `settled` already used in the window containing `started_at`.
    pub fn new(max: u64, settled: u64, window: Window) -> Self {
        Self {
            max,
            used: AtomicU64::new(settled),
            settled: AtomicU64::new(settled),
            window,
        }
    }

    /// The limit.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The window.
    pub fn window(&self) -> &Window {
        &self.window
    }

    /// Resets the window if `now` is past its end.
    #[inline]
    pub fn roll_if_due(&self, now: u64) {
        if now >= self.window.end.load(Ordering::Acquire) {
            self.roll(now);
        }
    }

    #[cold]
    fn roll(&self, now: u64) {
        let _rolling = self.window.roll.lock();
        if now < self.window.end.load(Ordering::Acquire) {
            return;
        }
        let (start, end) = Window::bounds(&self.window.duration, self.window.calendar_aligned, now);
        let settled = self.settled.swap(0, Ordering::AcqRel);
        self.used.fetch_sub(settled, Ordering::AcqRel);
        self.window.start.store(start, Ordering::Release);
        self.window.end.store(end, Ordering::Release);
    }

    /// Whether the counter is at its limit now (used by provider choice to skip exhausted
    /// provider configs). A window that is due to reset is not exhausted.
    #[inline]
    pub fn is_exhausted(&self, now: u64) -> bool {
        now < self.window.end.load(Ordering::Acquire)
            && self.used.load(Ordering::Acquire) >= self.max
    }

    /// Adds `amount` if the total stays within the limit. On refusal returns what is in use.
    #[inline]
    pub fn try_reserve(&self, amount: u64, now: u64) -> Result<(), u64> {
        self.roll_if_due(now);
        let mut current = self.used.load(Ordering::Acquire);
        loop {
            let next = match current.checked_add(amount) {
                Some(next) if next <= self.max => next,
                _ => return Err(current),
            };
            match self.used.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => current = actual,
            }
        }
    }

    /// Adds `amount` whatever the limit (shadow mode, state import).
    pub fn force_reserve(&self, amount: u64, now: u64) {
        self.roll_if_due(now);
        saturating_add(&self.used, amount);
    }

    /// Replaces a reservation of `estimate` with `actual` final usage.
    #[inline]
    pub fn settle(&self, estimate: u64, actual: u64, now: u64) {
        self.roll_if_due(now);
        // Saturating: an absurd usage (u64::MAX tokens) fills the counter instead of wrapping
        // it round to a lower spend.
        if actual > estimate {
            saturating_add(&self.used, actual - estimate);
        } else if actual < estimate {
            saturating_sub(&self.used, estimate - actual);
        }
        saturating_add(&self.settled, actual);
    }

    /// Returns a reservation of `estimate`.
    #[inline]
    pub fn release(&self, estimate: u64) {
        saturating_sub(&self.used, estimate);
    }

    /// The values now.
    pub fn read(&self) -> CounterReading {
        CounterReading {
            max: self.max,
            settled: self.settled.load(Ordering::Acquire),
            used: self.used.load(Ordering::Acquire),
            window_start: self.window.start(),
            window_end: self.window.end(),
        }
    }

    /// Loads exported values: `settled` usage in a window that started at `window_start`
    /// (open reservations are re-applied separately). Used on a fresh instance only.
    pub fn restore(&self, settled: u64, window_start: u64) {
        let _rolling = self.window.roll.lock();
        let (start, end) = Window::bounds(
            &self.window.duration,
            self.window.calendar_aligned,
            window_start,
        );
        let open = self
            .used
            .load(Ordering::Acquire)
            .saturating_sub(self.settled.load(Ordering::Acquire));
        self.settled.store(settled, Ordering::Release);
        self.used
            .store(open.saturating_add(settled), Ordering::Release);
        self.window.start.store(start, Ordering::Release);
        self.window.end.store(end, Ordering::Release);
    }
}

/// `value += amount`, stopping at `u64::MAX`.
#[inline]
fn saturating_add(value: &AtomicU64, amount: u64) {
    let _ = value.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
        Some(v.saturating_add(amount))
    });
}

/// `value -= amount`, stopping at zero.
#[inline]
fn saturating_sub(value: &AtomicU64, amount: u64) {
    let _ = value.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
        Some(v.saturating_sub(amount))
    });
}

#[cfg(test)]
mod tests;
