//! The third host: a minimal gateway on the core alone (`keyward-host-core`), in process, with a
//! blocking HTTP client for the upstream — what a new host (Pingora, Envoy, …) has to write.
//! It runs the same behaviour table as keyward-host and the nginx module
//! (`tests/behaviours/`), so the core, not a host, is what the table checks.

use std::{io::Read, path::Path, sync::Arc};

use keyward_host_core::{
    admission::check_key,
    config::HostConfig,
    error::GatewayError,
    models::{ModelCatalog, list_models},
    request::{InferenceRequest, kind_of},
    roles::{BuildError, Roles, build_groups},
    session::{
        AttemptContext, Outcome, RequestIds, Session, failure_of_status, timed_out, unreachable,
        upstream_error,
    },
    upstream::Routes,
};
use keyward_plugin_api::{
    abi_stable::std_types::RStr,
    ffi::{FailureKind, Header, RoleMask},
    hosts::SystemHost,
    loader::{LoadedPlugin, load_plugin},
};

/// An answer of the test host.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<u64>,
    /// The body the client read.
    pub body: Vec<u8>,
    /// The session's outcome, when one finished.
    pub outcome: Option<Outcome>,
}

/// The gateway: roles, provider adapters, request ids, an upstream client.
pub struct TestHost {
    roles: Arc<Roles>,
    routes: Routes,
    ids: RequestIds,
    catalog: ModelCatalog,
    agent: ureq::Agent,
}

impl TestHost {
    /// Builds the gateway from a configuration document.
    pub fn start(config_text: &str) -> Result<Self, String> {
        let config = HostConfig::parse(config_text)
            .map_err(|e| e.to_string())?
            .config;
        let groups = config.plugins.groups().map_err(|e| e.to_string())?;
        let no_check = |_: &LoadedPlugin, _: &str, _: RoleMask| Ok::<_, BuildError>(());
        let built = build_groups(
            &groups,
            // Plugin paths as written: absolute, or relative to the working directory.
            Path::new(""),
            &config.role_data(),
            &SystemHost::handle(),
            load_plugin,
            no_check,
        )
        .map_err(|e| e.to_string())?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Ok(Self {
            roles: Roles::new(built.roles),
            routes: Routes::build(&config),
            catalog: ModelCatalog::build(&config),
            ids: RequestIds::for_this_process(),
            agent,
        })
    }

    /// Serves one request; with `leave_after_events`, the client stops reading (and leaves)
    /// after that many server-sent events.
    pub fn handle(
        &self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
        leave_after_events: Option<usize>,
    ) -> Answer {
        let pairs: Vec<Header<'_>> = headers
            .iter()
            .map(|(name, value)| Header {
                name: RStr::from_str(name),
                value: RStr::from_str(value),
            })
            .collect();
        if method == "GET" && path == "/v1/models" {
            return match list_models(&self.roles, &self.ids, &pairs, &self.catalog) {
                Ok(body) => Answer {
                    status: 200,
                    content_type: Some("application/json".to_owned()),
                    retry_after: None,
                    body,
                    outcome: None,
                },
                Err(error) => refused(&error),
            };
        }
        if let Err(error) = check_key(&self.roles, &self.ids, &pairs, kind_of(path)) {
            return refused(&error);
        }
        let query = path.split_once('?').map(|(_, query)| query);
        let request = match InferenceRequest::parse(kind_of(path), body) {
            Ok(request) => request.with_query(query),
            Err(error) => return refused(&error),
        };
        let mut session = match Session::admit(self.roles.clone(), &self.ids, &pairs, request) {
            Ok(session) => session,
            Err(error) => return refused(&error),
        };
        let context = AttemptContext {
            routes: &self.routes,
            path,
            headers: &pairs,
            ids: &self.ids,
        };
        loop {
            let attempt = match session.next_attempt(&context) {
                Ok(attempt) => attempt,
                Err(error) => return refused(&error),
            };
            let upstream_body = session
                .upstream_body(body, &attempt)
                .unwrap_or_else(|| body.to_vec());
            let mut call = self
                .agent
                .post(&attempt.url)
                .config()
                .timeout_global(Some(attempt.timeout))
                .build()
                .header("content-type", "application/json");
            for (name, value) in attempt.extra_headers.iter().chain(attempt.auth.iter()) {
                call = call.header(name.as_str(), value.to_str().unwrap_or_default());
            }
            let mut response = match call.send(&upstream_body[..]) {
                Ok(response) => response,
                Err(ureq::Error::Timeout(_)) => {
                    let error = timed_out(&attempt.provider, attempt.timeout.as_secs());
                    session.attempt_failed(&attempt.key_id, FailureKind::TIMEOUT, error);
                    continue;
                }
                Err(_) => {
                    let error = unreachable(&attempt.provider);
                    session.attempt_failed(&attempt.key_id, FailureKind::OTHER, error);
                    continue;
                }
            };
            let status = response.status().as_u16();
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let content_type = header("content-type");
            let retry_after = header("retry-after").and_then(|v| v.trim().parse().ok());
            let mut reader = response.body_mut().as_reader();
            if let Some(failure) = failure_of_status(status) {
                let mut text = Vec::new();
                let _ = reader.read_to_end(&mut text);
                let refusal = upstream_error(&attempt.provider, status, retry_after, &text);
                session.attempt_failed(&attempt.key_id, failure, refusal);
                continue;
            }
            // Relay: the client reads what the meter is fed, chunk by chunk.
            let mut meter = session.respond(content_type.as_deref().map(str::as_bytes));
            let mut delivered = Vec::new();
            let mut chunk = [0u8; 512];
            loop {
                if leave_after_events.is_some_and(|n| events(&delivered) >= n) {
                    break; // the client left
                }
                match reader.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        meter.feed(&chunk[..n]);
                        delivered.extend_from_slice(&chunk[..n]);
                    }
                }
            }
            return Answer {
                status,
                content_type,
                retry_after: None,
                body: delivered,
                outcome: Some(session.finish(status, meter.finish())),
            };
        }
    }
}

fn events(delivered: &[u8]) -> usize {
    delivered.windows(2).filter(|w| w == b"\n\n").count()
}

fn refused(error: &GatewayError) -> Answer {
    Answer {
        status: error.status,
        content_type: Some("application/json".to_owned()),
        retry_after: error.retry_after_secs,
        body: error.body(),
        outcome: None,
    }
}
