//! [`RoleSlot`]: the swappable home of one role instance in a host.
//!
//! Calls take a lock-free snapshot ([`RoleSlot::load`], an `arc-swap` guard): a call in flight
//! finishes on the instance it started on while new calls see the new one, and a swap never
//! waits for calls. An instance that panicked (or reports itself poisoned) is marked poisoned
//! here too and fails closed until a new instance is stored.

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use abi_stable::std_types::RResult;
use arc_swap::{ArcSwap, Guard};

use crate::ffi::{ErrorCode, KeywardError};

/// One role instance plus where it came from.
#[derive(Debug)]
pub struct Instance<R> {
    role: R,
    origin: PathBuf,
    generation: u64,
    poisoned: AtomicBool,
}

impl<R> Instance<R> {
    /// The role object. Prefer [`Instance::call`], which fails closed on poison.
    pub fn role(&self) -> &R {
        &self.role
    }

    /// The plugin path this instance was built from.
    pub fn origin(&self) -> &std::path::Path {
        &self.origin
    }

    /// Which store into the slot this is (1 for the first).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether the instance panicked.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Relaxed)
    }

    /// Calls the role, failing closed when the instance is poisoned and marking it poisoned
    /// when the call reports a panic.
    #[inline]
    pub fn call<'s, T>(
        &'s self,
        method: impl FnOnce(&'s R) -> RResult<T, KeywardError>,
    ) -> Result<T, KeywardError> {
        if self.is_poisoned() {
            return Err(KeywardError::new(
                ErrorCode::PLUGIN_POISONED,
                format!(
                    "plugin {} is poisoned by an earlier panic; reload it",
                    self.origin.display()
                ),
            ));
        }
        let result = method(&self.role).into_result();
        if let Err(error) = &result
            && error.is_poison()
        {
            self.poisoned.store(true, Ordering::Relaxed);
        }
        result
    }
}

/// A swappable slot holding the current instance of one role.
#[derive(Debug)]
pub struct RoleSlot<R> {
    current: ArcSwap<Instance<R>>,
    generations: AtomicU64,
}

impl<R> RoleSlot<R> {
    /// A slot holding `role`, built from the plugin at `origin`.
    pub fn new(role: R, origin: PathBuf) -> Self {
        Self {
            current: ArcSwap::from_pointee(Instance {
                role,
                origin,
                generation: 1,
                poisoned: AtomicBool::new(false),
            }),
            generations: AtomicU64::new(1),
        }
    }

    /// A lock-free snapshot of the current instance. Hold it for the duration of one call (or
    /// of one request, when the result borrows from the instance).
    #[inline]
    pub fn load(&self) -> Guard<Arc<Instance<R>>> {
        self.current.load()
    }

    /// An owned handle on the current instance, for a request that outlives a guard.
    pub fn load_full(&self) -> Arc<Instance<R>> {
        self.current.load_full()
    }

    /// Publishes a new instance; returns the previous one (still serving the calls that hold
    /// it).
    pub fn store(&self, role: R, origin: PathBuf) -> Arc<Instance<R>> {
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        self.current.swap(Arc::new(Instance {
            role,
            origin,
            generation,
            poisoned: AtomicBool::new(false),
        }))
    }
}

#[cfg(test)]
mod tests;
