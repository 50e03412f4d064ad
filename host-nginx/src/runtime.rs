//! The module's gateway: one [`Roles`] built from the shared configuration file, the provider
//! adapters, and the gateway core's [`Session`] for each request: authorize → reserve → select
//! (the one attempt nginx makes), then — from the response filters — meter the answer and finish
//! (settle or release, by the core's charging rule).
//!
//! nginx builds a new [`Runtime`] each time it reads its configuration (start and
//! `nginx -s reload`), in the master process, before forking the workers: every worker starts
//! from a copy of it and from then on has **its own plugin state** (counters, windows,
//! reservations). A reload loads the `.so` files again (a rebuilt plugin at the same path
//! included) into new workers while the old workers finish their requests on the old instances.

use std::sync::Arc;

use keyward_host_core::{
    admission::check_key,
    error::GatewayError,
    models::{ModelCatalog, list_models},
    request::{InferenceRequest, kind_of},
    roles::{BuildError, Roles, build_groups},
    session::{AttemptContext, RequestIds, Session},
    upstream::Routes,
};
use keyward_plugin_api::{
    ffi::{Header, HostHandle, RoleMask},
    loader::{LoadReport, LoadedPlugin, load_plugin},
};

use crate::config::SharedConfig;

/// The live plugins and provider data of one nginx configuration.
pub struct Runtime {
    roles: Arc<Roles>,
    routes: Routes,
    catalog: ModelCatalog,
    ids: RequestIds,
    reports: Vec<LoadReport>,
    /// Cross-origin rules, the same as keyward-host's.
    pub cors: keyward_host_core::cors::CorsPolicy,
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

/// An admitted request: its session, and where the one upstream attempt goes.
pub struct Admitted {
    /// The session (taken when it finishes).
    pub session: Option<Session>,
    /// The chosen key's id.
    pub key_id: String,
    /// The chosen key's value (the secret sent upstream). Never printed.
    pub key_value: String,
    /// The provider called.
    pub provider: String,
    /// The model id sent upstream.
    pub provider_model: String,
    /// The provider's (or self-hosted key's) base URL.
    pub base_url: String,
    /// The full upstream URL of the attempt (`$keyward_upstream_url`).
    pub upstream_url: String,
    /// The admitted virtual key's id.
    pub virtual_key_id: String,
    /// The request id of the reservation.
    pub request_id: String,
    /// `admit`, or `would_deny:<type>` in shadow mode.
    pub decision: String,
    /// The routing rule that chose the provider and model (empty: none).
    pub routing_rule: String,
    /// The body to send upstream instead of the caller's, when it changes.
    pub new_body: Option<Vec<u8>>,
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
            catalog: config.catalog,
            cors: config.cors,
            ids: RequestIds::for_this_process(),
            reports: built
                .modules
                .iter()
                .map(|(_, module, _)| module.report().clone())
                .collect(),
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
        self.ids.reseed();
    }

    /// Refuses, from the headers alone, a request to `path` whose virtual key is missing (where
    /// required), unknown or inactive.
    pub fn check_key(&self, path: &str, headers: &[Header<'_>]) -> Result<(), GatewayError> {
        check_key(&self.roles, &self.ids, headers, kind_of(path))
    }

    /// The `GET /v1/models` answer for a caller presenting `headers`.
    pub fn models(&self, headers: &[Header<'_>]) -> Result<Vec<u8>, GatewayError> {
        list_models(&self.roles, &self.ids, headers, &self.catalog)
    }

    /// Parses, admits and makes the one upstream attempt of a request to `path` (with the URL's
    /// `query` string, for routing rules).
    pub fn admit(
        &self,
        path: &str,
        query: Option<&str>,
        body: &[u8],
        headers: &[Header<'_>],
    ) -> Result<Admitted, GatewayError> {
        let request = InferenceRequest::parse(kind_of(path), body)?.with_query(query);
        let mut session = Session::admit(self.roles.clone(), &self.ids, headers, request)?;
        let context = AttemptContext {
            routes: &self.routes,
            path,
            headers,
            ids: &self.ids,
        };
        let attempt = session.next_attempt(&context)?;
        let Some(base_url) = attempt.base_url.map(str::to_owned) else {
            return Err(GatewayError::internal(format!(
                "provider {} has no network_config.base_url",
                attempt.provider
            ))
            .with_extra(session.request().extra(Some(&attempt.provider))));
        };
        Ok(Admitted {
            new_body: session.upstream_body(body, &attempt),
            key_id: attempt.key_id,
            key_value: attempt.secret.expose().to_owned(),
            provider: attempt.provider,
            provider_model: attempt.provider_model,
            base_url,
            upstream_url: attempt.url,
            virtual_key_id: session.virtual_key_id().to_owned(),
            request_id: session.request_id().to_string(),
            decision: session.decision().into_owned(),
            routing_rule: session.routing_rule().unwrap_or_default().to_owned(),
            session: Some(session),
        })
    }
}
