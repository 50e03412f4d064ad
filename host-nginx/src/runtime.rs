//! The module's plugin host: one [`RoleSlot`] per role, built from the shared configuration
//! file, and the per-request sequence of `keyward-host`: authorize → reserve → select, then
//! settle (or release) when the response is done.
//!
//! nginx builds a new [`Runtime`] each time it reads its configuration (start and
//! `nginx -s reload`), in the master process, before forking the workers: every worker starts
//! from a copy of it and from then on has **its own plugin state** (counters, windows,
//! reservations). A reload loads the `.so` files again (a rebuilt plugin at the same path
//! included) into new workers while the old workers finish their requests on the old instances.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use keyward_host_core::{
    roles::{BuildError, Roles, build_groups, call_with_retry},
    upstream::{ProviderKind, Routes},
};
use keyward_plugin_api::{
    abi_stable::std_types::{ROption, RSlice, RStr},
    ffi::{
        AuthorizeRequest, ErrorCode, Header, HostHandle, KeySelectorExt, KeywardError,
        ReserveRequest, RoleMask, SelectRequest, Settlement, Usage, UsageEstimate,
    },
    loader::{LoadReport, LoadedPlugin, load_plugin},
};

use crate::{
    config::SharedConfig,
    envelope::{Denial, ExtraFields},
    request::{RequestInfo, kind_name},
};

/// The live plugins and provider data of one nginx configuration.
pub struct Runtime {
    roles: Arc<Roles>,
    routes: Routes,
    reports: Vec<LoadReport>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("roles", &self.roles)
            .field(
                "plugins",
                &self.reports.iter().map(|r| &r.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// An admitted request: where it goes and with which key.
#[derive(Clone, PartialEq)]
pub struct Admitted {
    /// The id reserve/settle/release use.
    pub request_id: u64,
    /// The virtual key's id (empty: none).
    pub virtual_key_id: String,
    /// The provider called.
    pub provider: String,
    /// The chosen key's id.
    pub key_id: String,
    /// The chosen key's value (the secret sent upstream). Never printed.
    pub key_value: String,
    /// The model id sent upstream.
    pub provider_model: String,
    /// The upstream base URL.
    pub base_url: String,
    /// `admit`, or `would_deny:<type>` in shadow mode.
    pub decision: String,
    /// The estimate reserved, charged when the response carries no usage.
    pub estimate: UsageEstimate,
}

impl std::fmt::Debug for Admitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admitted")
            .field("request_id", &self.request_id)
            .field("virtual_key_id", &self.virtual_key_id)
            .field("provider", &self.provider)
            .field("key_id", &self.key_id)
            .field("provider_model", &self.provider_model)
            .field("base_url", &self.base_url)
            .field("decision", &self.decision)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Loads every plugin of `config` and builds the roles. The error names the plugin path and
    /// the cause, never a secret.
    pub fn start(config: SharedConfig, host: HostHandle) -> Result<Self, String> {
        let no_check = |_: &LoadedPlugin, _: &str, _: RoleMask| Ok::<_, BuildError>(());
        let built = build_groups(
            &config.groups,
            &config.dir,
            &config.role_data,
            &host,
            load_plugin,
            no_check,
        )
        .map_err(|e| e.to_string())?;
        Ok(Self {
            roles: Roles::new(built.roles),
            routes: config.routes,
            reports: built
                .modules
                .iter()
                .map(|(_, module, _)| module.report().clone())
                .collect(),
            next_id: AtomicU64::new(u64::from(std::process::id()) << 32),
        })
    }

    /// What was loaded, for the error log.
    pub fn describe(&self) -> String {
        self.reports
            .iter()
            .map(|r| {
                format!(
                    "{} {} ({}) from {}",
                    r.name,
                    r.plugin_version,
                    r.roles.join("+"),
                    r.path.display()
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Gives this worker process its own request-id range (called after fork).
    pub fn reseed_request_ids(&self) {
        self.next_id
            .store(u64::from(std::process::id()) << 32, Ordering::Relaxed);
    }

    /// Authorizes, reserves and selects a key for one request.
    pub fn admit(&self, info: &RequestInfo, headers: &[Header<'_>]) -> Result<Admitted, Denial> {
        let request_id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let extra = |provider: Option<&str>| ExtraFields {
            provider: provider.map(str::to_owned),
            model_requested: Some(info.model.clone()),
            request_type: Some(kind_name(info.kind).to_owned()),
        };
        let deny = |error: KeywardError, provider: Option<&str>| {
            Denial::from(error).with_extra(extra(provider))
        };

        let request = AuthorizeRequest {
            request_id,
            headers: RSlice::from_slice(headers),
            provider: match &info.provider {
                Some(p) => ROption::RSome(RStr::from_str(p)),
                None => ROption::RNone,
            },
            model: RStr::from_str(&info.model),
            kind: info.kind,
            estimate: info.estimate,
        };
        let authorizer = self.roles.authorizer.load_full();
        let admission = authorizer
            .call(|a| a.authorize(&request))
            .map_err(|e| deny(e, info.provider.as_deref()))?;
        let provider = admission.provider.as_str().to_owned();
        let virtual_key_id = admission.virtual_key_id.as_str().to_owned();
        let mut would_deny = admission.would_deny;

        let reserve = ReserveRequest {
            request_id,
            virtual_key_id: RStr::from_str(&virtual_key_id),
            provider: RStr::from_str(&provider),
            model: RStr::from_str(&info.model),
            estimate: info.estimate,
        };
        let reservation = call_with_retry(&self.roles.enforcer, |e| e.reserve(&reserve))
            .map_err(|e| deny(e, Some(&provider)))?;
        if would_deny == ErrorCode::NONE {
            would_deny = reservation.would_deny;
        }

        let selection = SelectRequest {
            provider: RStr::from_str(&provider),
            model: RStr::from_str(&info.model),
            kind: info.kind,
            pinned_key: ROption::RNone,
            allowed_key_ids: admission.allowed_key_ids,
            failed: RSlice::EMPTY,
        };
        let selector = self.roles.selector.load_full();
        let choice = selector.call(|s| s.pick(&selection)).map(|c| {
            (
                c.key_id.as_str().to_owned(),
                c.provider_model.as_str().to_owned(),
            )
        });
        drop(authorizer);
        let (key_id, provider_model) = match choice {
            Ok(choice) => choice,
            Err(error) => {
                let _ = self.release(request_id);
                return Err(deny(error, Some(&provider)));
            }
        };
        let fail = |denial: Denial| {
            let _ = self.release(request_id);
            Err(denial.with_extra(extra(Some(&provider))))
        };
        let Some(route) = self.routes.provider(&provider) else {
            return fail(Denial::bad_request(
                "model",
                format!("provider {provider} is not configured"),
            ));
        };
        if let ProviderKind::Unsupported(reason) = &route.kind {
            return fail(Denial::new(501, "provider_not_supported", reason.clone()));
        }
        let Some(key) = route.keys.get(&key_id) else {
            return fail(Denial::new(
                500,
                "internal_error",
                format!(
                    "the selected key {key_id} of provider {provider} is not in the configuration"
                ),
            ));
        };
        let Some(base_url) = key.url.clone().or_else(|| route.base_url.clone()) else {
            return fail(Denial::new(
                500,
                "internal_error",
                format!("provider {provider} has no network_config.base_url"),
            ));
        };
        let key_value = key.secret.expose().to_owned();
        let decision = if would_deny == ErrorCode::NONE {
            "admit".to_owned()
        } else {
            format!("would_deny:{}", would_deny.as_str())
        };
        Ok(Admitted {
            request_id,
            virtual_key_id,
            provider,
            key_id,
            key_value,
            provider_model,
            base_url,
            decision,
            estimate: info.estimate,
        })
    }

    /// Charges the actual usage of a finished request.
    pub fn settle(&self, request_id: u64, usage: &Usage) -> Result<Settlement, KeywardError> {
        call_with_retry(&self.roles.enforcer, |e| e.settle(request_id, usage))
    }

    /// Returns a request's reservation (failed upstream, client gone).
    pub fn release(&self, request_id: u64) -> Result<Settlement, KeywardError> {
        call_with_retry(&self.roles.enforcer, |e| e.release(request_id))
    }
}
