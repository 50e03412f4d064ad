//! The provider adapters: how one kind of provider is called with one key — the URL and the
//! credential header. The core holds one per configured provider; a native API (Anthropic's
//! Messages, Bedrock's Converse, Vertex) is one more implementation of [`ProviderAdapter`],
//! for every host at once (request, response and stream translation join the trait with the
//! first adapter that needs them).

use http::{HeaderName, HeaderValue};
use keyward_plugin_api::model::secret::Secret;

use super::{KeyTarget, Target};

/// One attempt's inputs to an adapter.
#[derive(Debug)]
pub struct Call<'a> {
    /// The provider's name.
    pub provider: &'a str,
    /// The provider's base URL, without a trailing `/`.
    pub base_url: Option<&'a str>,
    /// The chosen key's id.
    pub key_id: &'a str,
    /// The chosen key.
    pub key: &'a KeyTarget,
    /// The model id sent upstream.
    pub provider_model: &'a str,
    /// The route's path (`/v1/chat/completions`, …).
    pub path: &'a str,
}

/// How a kind of provider is called.
pub trait ProviderAdapter: Send + Sync + std::fmt::Debug {
    /// Why the provider cannot be called at all (answered 501 `provider_not_supported` before a
    /// key is chosen); `None` when it can.
    fn unsupported(&self) -> Option<&str> {
        None
    }

    /// The credential header for a key's secret, built once when the configuration loads.
    fn credential(&self, secret: &Secret) -> Option<(HeaderName, HeaderValue)> {
        sensitive(
            http::header::AUTHORIZATION,
            &format!("Bearer {}", secret.expose()),
        )
    }

    /// The upstream target of an attempt; `Err` is why it cannot be built (a configuration
    /// gap, never a secret).
    fn target(&self, call: &Call<'_>) -> Result<Target, String>;
}

/// OpenAI's API, or a server compatible with it: `{base_url}/v1/…`, `Authorization: Bearer`.
#[derive(Debug)]
pub struct OpenAiCompatible;

impl ProviderAdapter for OpenAiCompatible {
    fn target(&self, call: &Call<'_>) -> Result<Target, String> {
        let base = call
            .base_url
            .ok_or_else(|| format!("provider {} has no network_config.base_url", call.provider))?;
        Ok(Target {
            url: join(base, call.path),
            auth: call.key.auth.clone(),
            replace_model: true,
        })
    }
}

/// A self-hosted server (vLLM, Ollama, SGLang) at the key's `url`, else the provider's base
/// URL; a bearer only when the key has a value.
#[derive(Debug)]
pub struct SelfHosted;

impl ProviderAdapter for SelfHosted {
    fn target(&self, call: &Call<'_>) -> Result<Target, String> {
        let base = call.key.url.as_deref().or(call.base_url).ok_or_else(|| {
            format!(
                "key {} of {} has no url (and the provider no base_url)",
                call.key_id, call.provider
            )
        })?;
        Ok(Target {
            url: join(base, call.path),
            auth: call.key.auth.clone(),
            replace_model: true,
        })
    }
}

/// Azure OpenAI: `{endpoint}/openai/deployments/{deployment}/…?api-version=…` with `api-key`;
/// the deployment is in the URL, so the body keeps the caller's model.
#[derive(Debug)]
pub struct AzureOpenAi;

impl ProviderAdapter for AzureOpenAi {
    fn credential(&self, secret: &Secret) -> Option<(HeaderName, HeaderValue)> {
        sensitive(HeaderName::from_static("api-key"), secret.expose())
    }

    fn target(&self, call: &Call<'_>) -> Result<Target, String> {
        let (endpoint, version) = call.key.azure.as_ref().ok_or_else(|| {
            format!(
                "key {} of {} has no azure_key_config.endpoint",
                call.key_id, call.provider
            )
        })?;
        let operation = call.path.strip_prefix("/v1").unwrap_or(call.path);
        Ok(Target {
            url: format!(
                "{}/openai/deployments/{}{operation}?api-version={version}",
                endpoint.trim_end_matches('/'),
                call.provider_model
            ),
            auth: call.key.auth.clone(),
            replace_model: false,
        })
    }
}

/// A provider whose API is not implemented: the reason, answered with 501.
#[derive(Debug)]
pub struct Unsupported(pub String);

impl ProviderAdapter for Unsupported {
    fn unsupported(&self) -> Option<&str> {
        Some(&self.0)
    }

    fn target(&self, _call: &Call<'_>) -> Result<Target, String> {
        Err(self.0.clone())
    }
}

fn sensitive(name: HeaderName, value: &str) -> Option<(HeaderName, HeaderValue)> {
    let mut value = HeaderValue::from_str(value).ok()?;
    value.set_sensitive(true);
    Some((name, value))
}

/// `base` + `path`, without doubling a `/v1` the base already ends with.
pub(super) fn join(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    match (base.ends_with("/v1"), path.strip_prefix("/v1")) {
        (true, Some(rest)) => format!("{base}{rest}"),
        _ => format!("{base}{path}"),
    }
}
