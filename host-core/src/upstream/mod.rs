//! Where a request goes once a key is chosen — the provider adapters every host uses — built
//! from the configuration when it changes (off the request path): for each provider its kind,
//! base URL (an `env.NAME` reference read), extra headers, timeout and retry budget, and for
//! each key its secret and endpoint.
//!
//! - OpenAI and any OpenAI-compatible provider: `{base_url}/v1/…`, `Authorization: Bearer`.
//! - Azure OpenAI: `{endpoint}/openai/deployments/{deployment}/…?api-version=…`, `api-key`.
//! - vLLM, Ollama, SGLang: the key's `url` (or the provider's `base_url`), bearer only when the
//!   key has a value.
//! - Providers whose signing or protocol is not implemented (Bedrock, Vertex, Anthropic,
//!   Gemini, Cohere, …): a clear 501 naming the provider.
//!
//! Each of those is a [`ProviderAdapter`] ([`adapters`]); a native API is one more adapter,
//! for every host at once.

pub mod adapters;
pub mod custom;

use std::{collections::HashMap, sync::Arc, time::Duration};

use http::{HeaderName, HeaderValue};
use keyward_plugin_api::model::{key::Key, secret::Secret};

use self::adapters::{
    AzureOpenAi, Call, OpenAiCompatible, ProviderAdapter, SelfHosted, Unsupported,
};
use crate::config::{HostConfig, ProviderConfig, UnusableKind};

/// The upstream request timeout when the provider sets none: a whole answer (headers and a
/// non-streamed body) must arrive within it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stream may go without a byte when the provider sets no
/// `stream_idle_timeout_in_seconds`.
pub const DEFAULT_STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Retries with another key when the provider sets no `max_retries`.
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// The Azure OpenAI API version when the key sets none.
pub const DEFAULT_AZURE_API_VERSION: &str = "2024-10-21";

/// A provider's upstream settings.
#[derive(Clone, Debug)]
pub struct ProviderRoute {
    /// How it is called.
    pub adapter: Arc<dyn ProviderAdapter>,
    /// Its base URL, without a trailing `/`.
    pub base_url: Option<String>,
    /// Headers added to every request.
    pub extra_headers: Vec<(HeaderName, HeaderValue)>,
    /// The per-attempt timeout (headers and a whole non-streamed body).
    pub timeout: Duration,
    /// How long a stream may go without a byte.
    pub stream_idle_timeout: Duration,
    /// Retries with another key after a 429, 5xx, 401/403 or transport error.
    pub max_retries: u32,
    /// Its keys by id.
    pub keys: HashMap<String, KeyTarget>,
    /// What of it cannot be used, one line each (`key oa-1: value: env.OPENAI_API_KEY is not
    /// set`): named in the answer when no usable key can serve a request.
    pub unusable: Vec<String>,
    /// The ids of its keys that cannot be used (every key when the provider itself cannot):
    /// never called, whatever a selector answers.
    pub unusable_keys: Vec<String>,
    /// A custom provider's allowed request types and path overrides.
    pub requests: custom::RequestRules,
}

impl ProviderRoute {
    /// Whether the key may not be called (an `env.NAME` it or its provider reads is unset).
    pub fn is_unusable_key(&self, key_id: &str) -> bool {
        self.unusable_keys.iter().any(|id| id == key_id)
    }
}

/// What calling with one key needs.
#[derive(Clone, Debug)]
pub struct KeyTarget {
    /// The credential.
    pub secret: Secret,
    /// Azure: the resource endpoint and API version.
    pub azure: Option<(String, String)>,
    /// Self-hosted: the server URL.
    pub url: Option<String>,
    /// The credential header, built once (marked sensitive): `Authorization: Bearer …`, or
    /// Azure's `api-key`; `None` for a key without a value.
    pub auth: Option<(HeaderName, HeaderValue)>,
}

/// Every provider's route.
#[derive(Clone, Debug, Default)]
pub struct Routes {
    providers: HashMap<String, ProviderRoute>,
}

/// A resolved upstream request target.
#[derive(Debug)]
pub struct Target {
    /// The full URL.
    pub url: String,
    /// The credential header, if any.
    pub auth: Option<(HeaderName, HeaderValue)>,
    /// Whether the body's `model` is replaced by the provider model (Azure takes the
    /// deployment in the URL).
    pub replace_model: bool,
}

impl Routes {
    /// Builds every provider's route from the configuration.
    pub fn build(config: &HostConfig) -> Self {
        let providers = config
            .providers
            .iter()
            .map(|(name, provider)| (name.clone(), route(name, provider, config)))
            .collect();
        Self { providers }
    }

    /// A provider's route.
    pub fn provider(&self, name: &str) -> Option<&ProviderRoute> {
        self.providers.get(name)
    }
}

impl ProviderRoute {
    /// The target for `path` (`/v1/chat/completions`, …, or the custom provider's override
    /// for `kind` and `stream`) with `key` (of id `key_id`) serving `provider_model`; `Err` is
    /// why it cannot be called.
    pub fn target_for(
        &self,
        provider: &str,
        key_id: &str,
        key: &KeyTarget,
        provider_model: &str,
        (path, kind, stream): (&str, keyward_plugin_api::ffi::RequestKind, bool),
    ) -> Result<Target, String> {
        let (base_url, path) = match self.requests.path_override(kind, stream) {
            Some(custom::PathOverride::Url(url)) => (Some(url.as_str()), ""),
            Some(custom::PathOverride::Path(custom_path)) => {
                (self.base_url.as_deref(), custom_path.as_str())
            }
            None => (self.base_url.as_deref(), path),
        };
        self.adapter.target(&Call {
            provider,
            base_url,
            key_id,
            key,
            provider_model,
            path,
        })
    }
}

fn route(name: &str, provider: &ProviderConfig, config: &HostConfig) -> ProviderRoute {
    let network = &provider.network_config;
    let adapter = adapter_of(name, provider);
    // A configured base URL that reads an unset `env.NAME` is unknown: never the default one
    // instead.
    let base_url = if config.is_unusable_provider(name) {
        None
    } else {
        network
            .resolved_base_url
            .clone()
            .or_else(|| default_base_url(name).map(str::to_owned))
            .map(|u| u.trim_end_matches('/').to_owned())
    };
    let extra_headers = network
        .extra_headers
        .iter()
        .filter_map(|(n, v)| {
            Some((
                HeaderName::from_bytes(n.as_bytes()).ok()?,
                // A provider's extra headers may carry credentials: never printed.
                {
                    let mut value = HeaderValue::from_str(v).ok()?;
                    value.set_sensitive(true);
                    value
                },
            ))
        })
        .collect();
    let keys = provider
        .keys
        .iter()
        .map(|key| (key.id.clone(), key_target(key, adapter.as_ref())))
        .collect();
    ProviderRoute {
        adapter,
        base_url,
        extra_headers,
        timeout: network
            .default_request_timeout_in_seconds
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TIMEOUT),
        stream_idle_timeout: network
            .stream_idle_timeout_in_seconds
            .filter(|secs| *secs > 0)
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_STREAM_IDLE_TIMEOUT),
        max_retries: network.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
        keys,
        unusable: config
            .unusable_of(name)
            .map(|u| match u.kind {
                UnusableKind::Provider => format!("the provider: {}", u.reason),
                _ => format!("key {}: {}", u.id, u.reason),
            })
            .collect(),
        unusable_keys: provider
            .keys
            .iter()
            .filter(|key| config.is_unusable_key(name, &key.id))
            .map(|key| key.id.clone())
            .collect(),
        requests: custom::RequestRules::of(provider),
    }
}

fn adapter_of(name: &str, provider: &ProviderConfig) -> Arc<dyn ProviderAdapter> {
    let base_type = provider
        .other
        .get("custom_provider_config")
        .and_then(|c| c.get("base_provider_type"))
        .and_then(|t| t.as_str());
    match base_type.unwrap_or(name) {
        "azure" => Arc::new(AzureOpenAi),
        "vllm" | "ollama" | "sgl" => Arc::new(SelfHosted),
        "bedrock" | "bedrock_mantle" => Arc::new(Unsupported(format!(
            "provider {name}: AWS SigV4 request signing for Bedrock is not implemented in keyward yet"
        ))),
        "vertex" => Arc::new(Unsupported(format!(
            "provider {name}: Google OAuth request signing for Vertex is not implemented in keyward yet"
        ))),
        "anthropic" | "gemini" | "cohere" | "elevenlabs" | "deepgram" | "runway" | "runware"
        | "replicate" | "huggingface" => Arc::new(Unsupported(format!(
            "provider {name}: its native API is not implemented in keyward yet (OpenAI-compatible providers, Azure OpenAI, vLLM, Ollama and SGLang are)"
        ))),
        _ => Arc::new(OpenAiCompatible),
    }
}

/// The public API of a provider whose `network_config.base_url` is not set.
pub fn default_base_url(name: &str) -> Option<&'static str> {
    Some(match name {
        "openai" => "https://api.openai.com",
        "groq" => "https://api.groq.com/openai",
        "mistral" => "https://api.mistral.ai",
        "openrouter" => "https://openrouter.ai/api",
        "deepseek" => "https://api.deepseek.com",
        "xai" => "https://api.x.ai",
        "fireworks" => "https://api.fireworks.ai/inference",
        "perplexity" => "https://api.perplexity.ai",
        "cerebras" => "https://api.cerebras.ai",
        _ => return None,
    })
}

fn key_target(key: &Key, adapter: &dyn ProviderAdapter) -> KeyTarget {
    let exposed = |value: Option<&keyward_plugin_api::model::secret::EnvValue>| {
        value
            .map(|v| v.expose().to_owned())
            .filter(|v| !v.is_empty())
    };
    let azure = key.azure_key_config.as_ref().and_then(|azure| {
        let version = exposed(azure.api_version.as_ref())
            .unwrap_or_else(|| DEFAULT_AZURE_API_VERSION.to_owned());
        Some((exposed(azure.endpoint.as_ref())?, version))
    });
    let url = exposed(key.vllm_key_config.as_ref().and_then(|c| c.url.as_ref()))
        .or_else(|| exposed(key.ollama_key_config.as_ref().and_then(|c| c.url.as_ref())))
        .or_else(|| exposed(key.sgl_key_config.as_ref().and_then(|c| c.url.as_ref())));
    let secret = &key.value.value;
    KeyTarget {
        secret: secret.clone(),
        azure,
        url,
        auth: (!secret.is_empty())
            .then(|| adapter.credential(secret))
            .flatten(),
    }
}

#[cfg(test)]
mod tests {
    use super::adapters::join;

    #[test]
    fn joining_never_doubles_v1() {
        assert_eq!(
            join("http://h:1", "/v1/chat/completions"),
            "http://h:1/v1/chat/completions"
        );
        assert_eq!(
            join("http://h:1/v1/", "/v1/chat/completions"),
            "http://h:1/v1/chat/completions"
        );
        assert_eq!(
            join("https://openrouter.ai/api", "/v1/embeddings"),
            "https://openrouter.ai/api/v1/embeddings"
        );
    }
}
