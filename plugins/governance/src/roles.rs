//! The two role objects, sharing one [`Engine`]: [`GovernanceAuthorizer`]
//! (`VirtualKeyAuthorizer`) and [`GovernanceEnforcer`] (`UsageEnforcer`). Every method body
//! runs in its role's [`PanicGuard`]; the enforcer's mutating methods in `run_mutating`, so
//! after its `export_state` they answer `instance_retired`.
//!
//! The state both roles share travels through the **enforcer's** `export_state` /
//! `import_state`. The authorizer has no state of its own: its export retires only itself
//! (authorization is read-only, so it keeps answering) and returns `null`, and its import
//! accepts and ignores anything, so a host may swap the two roles together or apart.

use std::sync::Arc;

use abi_stable::std_types::{RResult, RStr, RString};
use keyward_plugin_api::{
    ffi::{
        Admission, AuthorizeRequest, KeywardError, Reservation, ReserveRequest, Settlement, Usage,
        UsageEnforcer, VirtualKeyAuthorizer,
    },
    guard::PanicGuard,
};

use crate::engine::Engine;

/// The virtual-key authorizer role.
#[derive(Debug)]
pub struct GovernanceAuthorizer {
    engine: Arc<Engine>,
    guard: PanicGuard,
}

/// The budget and rate-limit enforcer role.
#[derive(Debug)]
pub struct GovernanceEnforcer {
    engine: Arc<Engine>,
    guard: PanicGuard,
}

/// Both roles over one engine.
pub fn roles(engine: Engine) -> (GovernanceAuthorizer, GovernanceEnforcer) {
    let engine = Arc::new(engine);
    (
        GovernanceAuthorizer {
            engine: Arc::clone(&engine),
            guard: PanicGuard::new("governance authorizer"),
        },
        GovernanceEnforcer {
            engine,
            guard: PanicGuard::new("governance enforcer"),
        },
    )
}

impl GovernanceAuthorizer {
    /// The shared engine (tests, benches).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl GovernanceEnforcer {
    /// The shared engine (tests, benches).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

fn rresult<T>(result: Result<T, KeywardError>) -> RResult<T, KeywardError> {
    result.into()
}

impl VirtualKeyAuthorizer for GovernanceAuthorizer {
    fn authorize<'a>(
        &'a self,
        request: &AuthorizeRequest<'a>,
    ) -> RResult<Admission<'a>, KeywardError> {
        self.guard.run(|| rresult(self.engine.authorize(request)))
    }

    fn export_state(&self) -> RResult<RString, KeywardError> {
        self.guard.run(|| {
            self.guard.retire();
            RResult::ROk(RString::from("null"))
        })
    }

    fn import_state(&self, _state: RStr<'_>) -> RResult<(), KeywardError> {
        self.guard.run(|| RResult::ROk(()))
    }
}

impl UsageEnforcer for GovernanceEnforcer {
    fn reserve(&self, request: &ReserveRequest<'_>) -> RResult<Reservation, KeywardError> {
        self.guard
            .run_mutating(|| rresult(self.engine.reserve(request)))
    }

    fn settle(&self, request_id: u64, usage: &Usage) -> RResult<Settlement, KeywardError> {
        self.guard
            .run_mutating(|| rresult(self.engine.settle(request_id, usage)))
    }

    fn release(&self, request_id: u64) -> RResult<Settlement, KeywardError> {
        self.guard
            .run_mutating(|| rresult(self.engine.release(request_id)))
    }

    fn export_state(&self) -> RResult<RString, KeywardError> {
        self.guard.run(|| {
            self.guard.retire();
            rresult(self.engine.export_json().map(RString::from))
        })
    }

    fn import_state(&self, state: RStr<'_>) -> RResult<(), KeywardError> {
        self.guard
            .run_mutating(|| rresult(self.engine.import_json(state.as_str())))
    }

    fn snapshot_state(&self) -> RResult<RString, KeywardError> {
        self.guard
            .run(|| rresult(self.engine.export_json().map(RString::from)))
    }
}
