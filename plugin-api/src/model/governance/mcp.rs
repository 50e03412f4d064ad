//! A virtual key's MCP configs: which MCP clients (tool servers) it may use and which of their
//! tools. Connection strings and headers are env-backed values that redact themselves.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::serde_null::null_as_default;
use crate::model::secret::EnvValue;

/// One MCP client a virtual key may use.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct McpConfig {
    /// The row id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// The owning virtual key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_key_id: Option<String>,
    /// The MCP client's row id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_client_id: Option<u64>,
    /// The MCP client, embedded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_client: Option<McpClient>,
    /// The tools this key may execute (`["*"]`: all).
    #[serde(default, deserialize_with = "null_as_default")]
    pub tools_to_execute: Vec<String>,
    /// Fields this model does not read (Bifrost's, or newer ones), kept verbatim so that a
    /// document read and written back loses nothing.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// An MCP client (tool server) definition.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct McpClient {
    /// The client's id.
    #[serde(default)]
    pub client_id: String,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Whether it runs in code mode.
    #[serde(default)]
    pub is_code_mode_client: bool,
    /// The HTTP/SSE connection string (may embed credentials: redacted on output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_string: Option<EnvValue>,
    /// How to start a stdio server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdio_config: Option<McpStdioConfig>,
    /// TLS settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<McpTlsConfig>,
    /// The OAuth configuration it uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_config_id: Option<String>,
    /// Headers sent to the server (values redacted on output).
    #[serde(default, deserialize_with = "null_as_default")]
    pub headers: BTreeMap<String, EnvValue>,
    /// The tools it offers for execution.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tools_to_execute: Vec<String>,
    /// The tools executed without confirmation.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tools_to_auto_execute: Vec<String>,
    /// Per-tool prices, as Bifrost sends them.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tool_pricing: serde_json::Map<String, serde_json::Value>,
    /// Whether every virtual key may use it.
    #[serde(default)]
    pub allow_on_all_virtual_keys: bool,
    /// Header names forwarded per user.
    #[serde(default, deserialize_with = "null_as_default")]
    pub per_user_header_keys: Vec<String>,
    /// Whether it is disabled.
    #[serde(default)]
    pub disabled: bool,
}

/// How to start a stdio MCP server.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct McpStdioConfig {
    /// The command.
    #[serde(default)]
    pub command: String,
    /// Its arguments.
    #[serde(default, deserialize_with = "null_as_default")]
    pub args: Vec<String>,
    /// Environment variable names passed through.
    #[serde(default, deserialize_with = "null_as_default")]
    pub envs: Vec<String>,
}

/// TLS settings of an MCP connection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct McpTlsConfig {
    /// Skip certificate verification.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// A CA certificate, PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert_pem: Option<String>,
}
