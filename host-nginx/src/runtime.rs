//! The module's plugin host: one [`RoleSlot`] per role, built from the shared configuration
//! file, and the per-request sequence of `keyward-host`: authorize → reserve → select, then
//! settle (or release) when the response is done.
//!
//! nginx builds a new [`Runtime`] each time it reads its configuration (start and
//! `nginx -s reload`), in the master process, before forking the workers: every worker starts
//! from a copy of it and from then on has **its own plugin state** (counters, windows,
//! reservations). A reload loads the `.so` files again (a rebuilt plugin at the same path
//! included) into new workers while the old workers finish their requests on the old instances.

use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicU64, Ordering},
};

use keyward_plugin_api::{
    abi_stable::std_types::{ROption, RResult, RSlice, RStr},
    ffi::{
        AuthorizeRequest, AuthorizerBox, EnforcerBox, ErrorCode, Header, HostHandle,
        KeySelectorBox, KeySelectorExt, KeywardError, ReserveRequest, SelectRequest, Settlement,
        Usage, UsageEstimate,
    },
    loader::{LoadReport, RoleSlot, load_plugin},
};

use crate::{
    config::{Provider, SharedConfig},
    envelope::{Denial, ExtraFields},
    request::{RequestInfo, kind_name},
};

/// The live plugins and provider data of one nginx configuration.
pub struct Runtime {
    selector: RoleSlot<KeySelectorBox>,
    authorizer: RoleSlot<AuthorizerBox>,
    enforcer: RoleSlot<EnforcerBox>,
    providers: BTreeMap<String, Provider>,
    reports: Vec<LoadReport>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("providers", &self.providers)
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

/// How often a call is retried on `instance_retired` before giving up (nothing swaps a slot in
/// place in nginx, where a reload builds new workers, so this is only a safety net).
const RETIRED_RETRIES: usize = 100;

impl Runtime {
    /// Loads every plugin of `config` and builds the roles. The error names the plugin path and
    /// the cause, never a secret.
    pub fn start(config: SharedConfig, host: HostHandle) -> Result<Self, String> {
        let (mut selector, mut authorizer, mut enforcer) = (None, None, None);
        let mut reports = Vec::new();
        for group in &config.groups {
            let plugin = load_plugin(&group.path).map_err(|e| e.to_string())?;
            let set = plugin
                .instantiate(&group.config_json, group.roles, host.clone())
                .map_err(|e| e.to_string())?;
            reports.push(plugin.report().clone());
            let origin = || group.path.clone();
            if let Some(role) = set.key_selector.into_option() {
                selector = Some(RoleSlot::new(role, origin()));
            }
            if let Some(role) = set.authorizer.into_option() {
                authorizer = Some(RoleSlot::new(role, origin()));
            }
            if let Some(role) = set.enforcer.into_option() {
                enforcer = Some(RoleSlot::new(role, origin()));
            }
        }
        match (selector, authorizer, enforcer) {
            (Some(selector), Some(authorizer), Some(enforcer)) => Ok(Self {
                selector,
                authorizer,
                enforcer,
                providers: config.providers,
                reports,
                next_id: AtomicU64::new(u64::from(std::process::id()) << 32),
            }),
            _ => Err("every role needs a plugin: key_selection, and governance (or authorization and enforcement)".to_owned()),
        }
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

        let authorizer = self.authorizer.load_full();
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
        let reservation = call_retrying(&self.enforcer, |e| e.reserve(&reserve))
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
        let selector = self.selector.load_full();
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
        let Some(upstream) = self.providers.get(&provider) else {
            let _ = self.release(request_id);
            return Err(Denial::bad_request(
                "model",
                format!("provider {provider} is not configured"),
            )
            .with_extra(extra(Some(&provider))));
        };
        let Some(base_url) = upstream.base_url.clone() else {
            let _ = self.release(request_id);
            return Err(Denial::new(
                500,
                "internal_error",
                format!("provider {provider} has no network_config.base_url"),
            )
            .with_extra(extra(Some(&provider))));
        };
        let Some(key_value) = upstream.keys.get(&key_id).cloned() else {
            let _ = self.release(request_id);
            return Err(Denial::new(
                500,
                "internal_error",
                format!(
                    "the selected key {key_id} of provider {provider} is not in the configuration"
                ),
            )
            .with_extra(extra(Some(&provider))));
        };
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
        call_retrying(&self.enforcer, |e| e.settle(request_id, usage))
    }

    /// Returns a request's reservation (failed upstream, client gone).
    pub fn release(&self, request_id: u64) -> Result<Settlement, KeywardError> {
        call_retrying(&self.enforcer, |e| e.release(request_id))
    }
}

/// Calls the slot's current instance, retrying while it answers `instance_retired`.
fn call_retrying<R, T>(
    slot: &RoleSlot<R>,
    method: impl for<'s> Fn(&'s R) -> RResult<T, KeywardError>,
) -> Result<T, KeywardError> {
    let mut attempts = 0;
    loop {
        let instance = slot.load_full();
        match instance.call(&method) {
            Err(error)
                if error.code == ErrorCode::INSTANCE_RETIRED && attempts < RETIRED_RETRIES =>
            {
                attempts += 1;
                std::thread::yield_now();
            }
            other => return other,
        }
    }
}
