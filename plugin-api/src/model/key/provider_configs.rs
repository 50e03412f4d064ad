//! The per-provider parts of a key: Azure, Vertex, Bedrock, Hugging Face, Replicate, vLLM,
//! Ollama and SGLang. Secret-bearing fields are [`EnvValue`]s; `deployments` maps (the legacy
//! form of aliases) map a model name to a deployment id.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::null_as_default;
use crate::model::{kept::KeptFields, secret::EnvValue};

/// A legacy deployments map: model name -> deployment (provider model id).
pub type Deployments = BTreeMap<String, String>;

/// Azure OpenAI: endpoint, deployments, API version and Entra ID (service principal) fields.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AzureKeyConfig {
    /// The resource endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<EnvValue>,
    /// Model name -> deployment name.
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub deployments: Deployments,
    /// The API version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<EnvValue>,
    /// Entra ID client id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<EnvValue>,
    /// Entra ID client secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<EnvValue>,
    /// Entra ID tenant id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<EnvValue>,
    /// OAuth scopes.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub scopes: Vec<String>,
    /// Fields keyward does not read, kept verbatim (shown redacted).
    #[serde(flatten, skip_serializing_if = "KeptFields::is_empty")]
    pub other: KeptFields,
}

/// Google Vertex AI.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VertexKeyConfig {
    /// The GCP project id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<EnvValue>,
    /// The GCP project number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_number: Option<EnvValue>,
    /// The region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<EnvValue>,
    /// Service-account credentials (JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_credentials: Option<EnvValue>,
    /// Model name -> deployment (endpoint) id.
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub deployments: Deployments,
    /// Fields keyward does not read, kept verbatim (shown redacted).
    #[serde(flatten, skip_serializing_if = "KeptFields::is_empty")]
    pub other: KeptFields,
}

/// AWS Bedrock.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BedrockKeyConfig {
    /// The access key id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key: Option<EnvValue>,
    /// The secret access key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<EnvValue>,
    /// A session token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<EnvValue>,
    /// The region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<EnvValue>,
    /// A role or inference-profile ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<EnvValue>,
    /// Model name -> inference profile or deployment id.
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub deployments: Deployments,
    /// S3 buckets for batch jobs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_s3_config: Option<BatchS3Config>,
    /// Fields keyward does not read, kept verbatim (shown redacted).
    #[serde(flatten, skip_serializing_if = "KeptFields::is_empty")]
    pub other: KeptFields,
}

/// Where Bedrock batch jobs read and write.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BatchS3Config {
    /// The buckets.
    #[serde(deserialize_with = "null_as_default")]
    pub buckets: Vec<S3Bucket>,
    /// Fields keyward does not read, kept verbatim (shown redacted).
    #[serde(flatten, skip_serializing_if = "KeptFields::is_empty")]
    pub other: KeptFields,
}

/// One S3 bucket for batch jobs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct S3Bucket {
    /// The bucket name.
    pub bucket_name: String,
    /// The key prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Whether this is the default bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_default: Option<bool>,
    /// Fields keyward does not read, kept verbatim (shown redacted).
    #[serde(flatten, skip_serializing_if = "KeptFields::is_empty")]
    pub other: KeptFields,
}

/// Hugging Face inference endpoints.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HuggingfaceKeyConfig {
    /// Model name -> endpoint id.
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub deployments: Deployments,
    /// Fields keyward does not read, kept verbatim (shown redacted).
    #[serde(flatten, skip_serializing_if = "KeptFields::is_empty")]
    pub other: KeptFields,
}

/// Replicate.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplicateKeyConfig {
    /// Model name -> deployment id.
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub deployments: Deployments,
    /// Whether to call the deployments endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_deployments_endpoint: Option<bool>,
    /// Fields keyward does not read, kept verbatim (shown redacted).
    #[serde(flatten, skip_serializing_if = "KeptFields::is_empty")]
    pub other: KeptFields,
}

/// A vLLM server. With `model_name`, the key serves that model only.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VllmKeyConfig {
    /// The server URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<EnvValue>,
    /// The one model the server serves, if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    /// Fields keyward does not read, kept verbatim (shown redacted).
    #[serde(flatten, skip_serializing_if = "KeptFields::is_empty")]
    pub other: KeptFields,
}

/// An Ollama server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OllamaKeyConfig {
    /// The server URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<EnvValue>,
    /// Fields keyward does not read, kept verbatim (shown redacted).
    #[serde(flatten, skip_serializing_if = "KeptFields::is_empty")]
    pub other: KeptFields,
}

/// An SGLang server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SglKeyConfig {
    /// The server URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<EnvValue>,
    /// Fields keyward does not read, kept verbatim (shown redacted).
    #[serde(flatten, skip_serializing_if = "KeptFields::is_empty")]
    pub other: KeptFields,
}
