//! The env-backed values of a key: walking them by field path, resolving `env.NAME` references
//! (a missing variable names the key and the field, never a value), and keeping stored secrets
//! when an update sends their redacted form back.

use super::Key;
use crate::model::secret::{EnvValue, MissingEnvVar};

/// An `env.NAME` reference of a key whose variable is not set.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("key `{key}`: {field} reads environment variable {variable}, which is not set")]
pub struct KeyEnvError {
    /// The key's name (or id).
    pub key: String,
    /// The field path within the key, e.g. `azure_key_config.client_secret`.
    pub field: &'static str,
    /// The variable's name.
    pub variable: String,
}

macro_rules! for_each_env_value {
    ($key:expr, $visit:expr, $($m:tt)?) => {{
        let key = $key;
        let visit = $visit;
        visit("value", &$($m)? key.value);
        if let Some(c) = &$($m)? key.azure_key_config {
            for (field, value) in [
                ("azure_key_config.endpoint", &$($m)? c.endpoint),
                ("azure_key_config.api_version", &$($m)? c.api_version),
                ("azure_key_config.client_id", &$($m)? c.client_id),
                ("azure_key_config.client_secret", &$($m)? c.client_secret),
                ("azure_key_config.tenant_id", &$($m)? c.tenant_id),
            ] {
                if let Some(value) = value { visit(field, value); }
            }
        }
        if let Some(c) = &$($m)? key.vertex_key_config {
            for (field, value) in [
                ("vertex_key_config.project_id", &$($m)? c.project_id),
                ("vertex_key_config.project_number", &$($m)? c.project_number),
                ("vertex_key_config.region", &$($m)? c.region),
                ("vertex_key_config.auth_credentials", &$($m)? c.auth_credentials),
            ] {
                if let Some(value) = value { visit(field, value); }
            }
        }
        if let Some(c) = &$($m)? key.bedrock_key_config {
            for (field, value) in [
                ("bedrock_key_config.access_key", &$($m)? c.access_key),
                ("bedrock_key_config.secret_key", &$($m)? c.secret_key),
                ("bedrock_key_config.session_token", &$($m)? c.session_token),
                ("bedrock_key_config.region", &$($m)? c.region),
                ("bedrock_key_config.arn", &$($m)? c.arn),
            ] {
                if let Some(value) = value { visit(field, value); }
            }
        }
        if let Some(c) = &$($m)? key.vllm_key_config {
            if let Some(value) = &$($m)? c.url { visit("vllm_key_config.url", value); }
        }
        if let Some(c) = &$($m)? key.ollama_key_config {
            if let Some(value) = &$($m)? c.url { visit("ollama_key_config.url", value); }
        }
        if let Some(c) = &$($m)? key.sgl_key_config {
            if let Some(value) = &$($m)? c.url { visit("sgl_key_config.url", value); }
        }
    }};
}

impl Key {
    /// Calls `visit` with the field path and value of every env-backed field that is present.
    pub fn visit_env_values<'k>(&'k self, mut visit: impl FnMut(&'static str, &'k EnvValue)) {
        for_each_env_value!(self, &mut visit,);
    }

    /// Calls `visit` with the field path and value of every env-backed field, mutably.
    pub fn visit_env_values_mut(&mut self, mut visit: impl FnMut(&'static str, &mut EnvValue)) {
        for_each_env_value!(self, &mut visit, mut);
    }

    /// Reads every `env.NAME` reference from the process environment.
    pub fn resolve_env(&mut self) -> Result<(), KeyEnvError> {
        self.resolve_env_with(|name| std::env::var(name).ok())
    }

    /// [`resolve_env`](Self::resolve_env) with a custom lookup. Stops at the first missing
    /// variable, naming the key, the field and the variable.
    pub fn resolve_env_with(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), KeyEnvError> {
        let label = self.label().to_owned();
        let mut first_error = None;
        self.visit_env_values_mut(|field, value| {
            if first_error.is_some() {
                return;
            }
            if let Err(MissingEnvVar { variable }) = value.resolve_with(&lookup) {
                first_error = Some(KeyEnvError {
                    key: label.clone(),
                    field,
                    variable,
                });
            }
        });
        first_error.map_or(Ok(()), Err)
    }

    /// For an update: every env-backed field whose incoming value is the redacted form of the
    /// stored one (a client sending back what it read) takes the stored value instead.
    pub fn keep_stored_secrets(&mut self, stored: &Key) {
        let mut stored_values: Vec<(&'static str, &EnvValue)> = Vec::new();
        stored.visit_env_values(|field, value| stored_values.push((field, value)));
        self.visit_env_values_mut(|field, incoming| {
            let Some((_, kept)) = stored_values.iter().find(|(name, _)| *name == field) else {
                return;
            };
            if kept.value.is_redacted_form_of_self(incoming.expose()) {
                *incoming = (*kept).clone();
            }
        });
    }
}
