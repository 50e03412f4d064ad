//! Secrets that redact themselves, and env-backed values.
//!
//! [`Secret`] prints and serializes as its redacted form (see [`redact`]) everywhere — `Debug`,
//! `Display`, `Serialize` — so a response or a log line cannot leak it by accident. The one way
//! to serialize the real value is [`with_exposed_secrets`], used by the persistence layer.
//!
//! [`EnvValue`] is Bifrost's env-backed value: `{"value", "env_var", "from_env"}` as an object,
//! or a string: `"env.NAME"` (read from the environment by [`EnvValue::resolve`]) or a literal.
//!
//! [`without_input_values`] takes the input's values out of a parse error's text, so that a
//! secret sent in the wrong field is not echoed by the error naming that field.
//!
//! ```
//! use keyward_plugin_api::model::secret::{Secret, redact};
//!
//! // 48 characters: 12 may be shown, the public prefix `sk-proj-` and the last 4.
//! let key = Secret::new("sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD");
//! assert_eq!(format!("{key}"), format!("sk-proj-{}ABCD", "*".repeat(36)));
//! // 28 characters: 7 may be shown, `sk-` and the last 4.
//! assert_eq!(redact("sk-openai-primary-0123456789"), format!("sk-{}6789", "*".repeat(21)));
//! assert_eq!(redact("sk-0123456"), "**********");
//! assert_eq!(redact(""), "");
//! ```
//!
//! # The redacted form
//!
//! A value keeps its length (every hidden character is one `*`) and shows at most a quarter of
//! its characters (rounded down), never more than a public prefix and 4 more:
//!
//! - values under [`REDACTION_MIN_SHOWN_LEN`] (12) characters show nothing: all `*`;
//! - a known public prefix ([`PUBLIC_PREFIXES`]: `sk-bf-` of virtual keys, `sk-proj-`,
//!   `sk-ant-`, `sk-`, …; the longest that fits in the quarter) is shown as it is;
//! - then as many of the value's last characters as the quarter leaves, up to
//!   [`REDACTION_TAIL`] (4): a generated virtual key (`sk-bf-` + a UUID, 42 characters) shows as
//!   `sk-bf-` + 32 `*` + its last 4.
//!
//! The form is its own redaction (`redact(redact(x)) == redact(x)`), which is how
//! [`looks_redacted`] recognises it when a client sends it back.

use std::{cell::Cell, fmt};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// Values shorter than this (in characters) are redacted to `*` only.
pub const REDACTION_MIN_SHOWN_LEN: usize = 12;

/// The most characters of a value's end a redacted form shows.
pub const REDACTION_TAIL: usize = 4;

/// The public prefixes a redacted form may show: they name the kind of a key, the same for every
/// key of that kind. `sk-bf-` is [`VIRTUAL_KEY_PREFIX`](crate::model::governance::virtual_key::VIRTUAL_KEY_PREFIX).
pub const PUBLIC_PREFIXES: &[&str] = &[
    crate::model::governance::virtual_key::VIRTUAL_KEY_PREFIX,
    "sk-proj-",
    "sk-svcacct-",
    "sk-admin-",
    "sk-ant-api03-",
    "sk-ant-admin01-",
    "sk-ant-",
    "sk-or-v1-",
    "sk-",
];

/// The redacted form of a secret (see the module docs): the same length, at most a quarter of
/// the characters shown — a public prefix, then up to 4 of the last ones — and nothing of a
/// value under 12 characters.
pub fn redact(secret: &str) -> String {
    let count = secret.chars().count();
    if count < REDACTION_MIN_SHOWN_LEN {
        return "*".repeat(count);
    }
    let shown = count / 4;
    let prefix = PUBLIC_PREFIXES
        .iter()
        .filter(|p| secret.starts_with(**p) && p.chars().count() <= shown)
        .max_by_key(|p| p.chars().count())
        .copied()
        .unwrap_or("");
    let prefix_len = prefix.chars().count();
    let tail_len = (shown - prefix_len).min(REDACTION_TAIL);
    let tail: String = secret.chars().skip(count - tail_len).collect();
    format!(
        "{prefix}{}{tail}",
        "*".repeat(count - prefix_len - tail_len)
    )
}

/// `value` with the strings redacted that sit (at any depth) under a field `is_secret` names
/// — for documents keyward keeps without knowing all their fields.
pub fn redact_strings(
    value: &serde_json::Value,
    is_secret: &dyn Fn(&str) -> bool,
) -> serde_json::Value {
    fn walk(
        value: &serde_json::Value,
        is_secret: &dyn Fn(&str) -> bool,
        secret: bool,
    ) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::String(text) if secret => Value::String(redact(text)),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| walk(v, is_secret, secret)).collect())
            }
            Value::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(name, v)| (name.clone(), walk(v, is_secret, secret || is_secret(name))))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    walk(value, is_secret, false)
}

thread_local! {
    static EXPOSE: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with [`Secret`]s serializing their real value on this thread (for writing the
/// configuration to disk). Everywhere else they serialize redacted.
pub fn with_exposed_secrets<T>(f: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            EXPOSE.with(|e| e.set(self.0));
        }
    }
    let _reset = Reset(EXPOSE.with(|e| e.replace(true)));
    f()
}

/// Whether this thread is inside [`with_exposed_secrets`].
pub fn exposing_secrets() -> bool {
    EXPOSE.with(Cell::get)
}

/// A secret string. Never printed or serialized in clear except under
/// [`with_exposed_secrets`].
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The real value, for sending upstream.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The redacted form.
    pub fn redacted(&self) -> String {
        redact(&self.0)
    }

    /// Whether `candidate` is this secret's redacted form, as a client sends it back unchanged
    /// in an update (then the stored secret is kept).
    pub fn is_redacted_form_of_self(&self, candidate: &str) -> bool {
        !self.0.is_empty() && candidate != self.0 && candidate == redact(&self.0)
    }
}

/// Whether `candidate` looks like a redacted value: it is its own redaction (the current form,
/// see the module docs), or it has the form keyward showed before (4 characters, 24 `*`, 4
/// characters), so that a client sending that back is refused rather than storing it as a secret.
pub fn looks_redacted(candidate: &str) -> bool {
    if candidate.is_empty() {
        return false;
    }
    if redact(candidate) == candidate {
        return true;
    }
    const LEGACY_STARS: usize = 24;
    let chars: Vec<char> = candidate.chars().collect();
    chars.len() == 8 + LEGACY_STARS && chars[4..4 + LEGACY_STARS].iter().all(|c| *c == '*')
}

/// What stands in an error message for a value taken out of it.
const NOT_SHOWN: &str = "(not shown)";

/// A parse error's text (serde's, or a parser's own) without the input values it shows, so that
/// a secret sent in the wrong field never comes back in an answer, a log line or a metric.
///
/// - serde's `invalid type: string "…", expected …` and `invalid value: …` keep what the input
///   is (`a string`, `integer`, `map`, …) and what was expected, never the value itself:
///   `invalid type: a string (not shown), expected a sequence`,
///   `invalid type: integer (not shown), expected a string`;
/// - ``unknown variant `…` `` and ``unknown field `…` `` keep the expected list:
///   ``unknown variant (not shown), expected `exact` or `wildcard` ``;
/// - ``missing field `name` `` and ``duplicate field `name` `` name fields of the schema, not
///   of the input: kept;
/// - any other message keeps its last `expected …` part (the schema's) and loses every `"…"`
///   and `` `…` `` before it: `invalid duration (not shown): expected a number followed by a
///   unit …`.
pub fn without_input_values(reason: &str) -> String {
    if reason.starts_with("missing field `") || reason.starts_with("duplicate field `") {
        return reason.to_owned();
    }
    for prefix in [
        "invalid type: ",
        "invalid value: ",
        "unknown variant ",
        "unknown field ",
    ] {
        if let Some(rest) = reason.strip_prefix(prefix) {
            // The input ends where serde's own text resumes: the input may itself hold
            // `, expected `, the schema never does, so the last one is serde's.
            let end = [", expected ", ", there are no "]
                .iter()
                .filter_map(|marker| rest.rfind(marker))
                .max()
                .unwrap_or(rest.len());
            let (input, schema) = rest.split_at(end);
            return format!("{prefix}{}{schema}", what_it_was(input));
        }
    }
    let (input, schema) = reason.split_at(schema_start(reason));
    let mut out = String::with_capacity(reason.len());
    let mut chars = input.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                // A quoted value ends at the first quote not escaped by a backslash.
                let mut escaped = false;
                for c in chars.by_ref() {
                    if c == '"' && !escaped {
                        break;
                    }
                    escaped = c == '\\' && !escaped;
                }
                out.push_str(NOT_SHOWN);
            }
            '`' => {
                chars.by_ref().find(|c| *c == '`');
                out.push_str(NOT_SHOWN);
            }
            other => out.push(other),
        }
    }
    out.push_str(schema);
    out
}

/// What serde says the input was (`string "…"`, ``integer `…` ``, `map`), without its value.
fn what_it_was(input: &str) -> String {
    if input.starts_with("string \"") {
        return format!("a string {NOT_SHOWN}");
    }
    match input.find(['"', '`']) {
        Some(at) => {
            let kind = input[..at].trim_end();
            if kind.is_empty() {
                NOT_SHOWN.to_owned()
            } else {
                format!("{kind} {NOT_SHOWN}")
            }
        }
        None => input.to_owned(),
    }
}

/// Where the schema's part of a message begins: its last `expected` that starts the message or
/// follows `, ` or `: ` outside a quoted value (the message's length when there is none).
fn schema_start(message: &str) -> usize {
    let mut start = message.len();
    let mut quoted = false;
    let mut backticked = false;
    let mut escaped = false;
    for (at, c) in message.char_indices() {
        match c {
            '"' if !backticked && !escaped => quoted = !quoted,
            '`' if !quoted => backticked = !backticked,
            'e' if !quoted && !backticked => {
                let boundary =
                    at == 0 || message[..at].ends_with(", ") || message[..at].ends_with(": ");
                if boundary && message[at..].starts_with("expected") {
                    start = at;
                }
            }
            _ => {}
        }
        escaped = c == '\\' && !escaped;
    }
    start
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.redacted())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if EXPOSE.with(Cell::get) {
            serializer.serialize_str(&self.0)
        } else {
            serializer.serialize_str(&self.redacted())
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// A value that may come from the environment: Bifrost's `{"value", "env_var", "from_env"}`.
///
/// It serializes as that object with the value redacted and `env_var` in Bifrost's reference
/// form (`"env.NAME"`; input takes that or the bare name); under [`with_exposed_secrets`] (writing
/// the configuration to disk) a literal value is written in clear, but an environment-backed one
/// is written as its variable only, so a secret read from the environment never lands on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvValue {
    /// The value (resolved from the environment when `from_env`).
    pub value: Secret,
    /// The environment variable it comes from, if any.
    pub env_var: String,
    /// Whether it comes from the environment.
    pub from_env: bool,
}

impl Serialize for EnvValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let from_env = self.from_env && !self.env_var.is_empty();
        let mut object = serializer.serialize_struct("EnvValue", 3)?;
        if from_env && EXPOSE.with(Cell::get) {
            object.serialize_field("value", "")?;
        } else {
            object.serialize_field("value", &self.value)?;
        }
        if self.env_var.is_empty() {
            object.skip_field("env_var")?;
        } else {
            // As Bifrost writes it: the reference, `env.NAME`.
            object.serialize_field("env_var", &format!("env.{}", self.env_var))?;
        }
        object.serialize_field("from_env", &from_env)?;
        object.end()
    }
}

/// An `env.NAME` reference whose variable is not set — or a `vault.PATH` reference (Bifrost's
/// vault store), which keyward cannot read: the value is then unknown, never the reference
/// itself used as the secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingEnvVar {
    /// The variable's name (or the whole `vault.PATH` reference).
    pub variable: String,
}

impl fmt::Display for MissingEnvVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.variable.starts_with(VAULT_PREFIX) {
            write!(
                f,
                "vault reference {} cannot be read: keyward has no vault store (set the value or an env.NAME)",
                self.variable
            )
        } else {
            write!(f, "environment variable {} is not set", self.variable)
        }
    }
}

impl std::error::Error for MissingEnvVar {}

/// The prefix of Bifrost's vault references (`vault.secret/path#field`).
pub const VAULT_PREFIX: &str = "vault.";

/// A vault reference keyward cannot read, as the error naming it.
fn unreadable_vault(text: &str) -> Option<MissingEnvVar> {
    (text.starts_with(VAULT_PREFIX) && text.len() > VAULT_PREFIX.len()).then(|| MissingEnvVar {
        variable: text.to_owned(),
    })
}

impl EnvValue {
    /// A literal value.
    pub fn literal(value: impl Into<String>) -> Self {
        Self {
            value: Secret::new(value),
            env_var: String::new(),
            from_env: false,
        }
    }

    /// A reference to the environment variable `name`, not yet resolved.
    pub fn from_env_var(name: impl Into<String>) -> Self {
        Self {
            value: Secret::default(),
            env_var: name.into(),
            from_env: true,
        }
    }

    /// The value to use.
    pub fn expose(&self) -> &str {
        self.value.expose()
    }

    /// Reads the environment variable when the value comes from the environment. A missing
    /// variable is an error naming it (callers add which field and key it belongs to).
    pub fn resolve(&mut self) -> Result<(), MissingEnvVar> {
        self.resolve_with(|name| std::env::var(name).ok())
    }

    /// [`resolve`](Self::resolve) with a custom lookup (tests, alternate sources).
    pub fn resolve_with(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), MissingEnvVar> {
        if !self.from_env || self.env_var.is_empty() {
            return match unreadable_vault(self.value.expose()) {
                Some(vault) => Err(vault),
                None => Ok(()),
            };
        }
        match lookup(&self.env_var) {
            Some(value) => {
                self.value = Secret::new(value);
                Ok(())
            }
            None => Err(MissingEnvVar {
                variable: self.env_var.clone(),
            }),
        }
    }
}

/// The variable named by Bifrost's `"env.NAME"` form, if `text` is one.
pub fn env_reference(text: &str) -> Option<&str> {
    text.strip_prefix("env.").filter(|name| !name.is_empty())
}

/// `text` itself, or — in the `"env.NAME"` form — the environment variable it names (a missing
/// variable is an error naming it). For plain strings that accept the form (URLs, credentials).
pub fn resolve_env_reference(text: &str) -> Result<String, MissingEnvVar> {
    resolve_env_reference_with(text, |name| std::env::var(name).ok())
}

/// [`resolve_env_reference`] with a custom lookup (tests, alternate sources).
pub fn resolve_env_reference_with(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, MissingEnvVar> {
    if let Some(vault) = unreadable_vault(text) {
        return Err(vault);
    }
    match env_reference(text) {
        Some(name) => lookup(name).ok_or_else(|| MissingEnvVar {
            variable: name.to_owned(),
        }),
        None => Ok(text.to_owned()),
    }
}

impl<'de> Deserialize<'de> for EnvValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Text(String),
            Object {
                #[serde(default)]
                value: Option<String>,
                #[serde(default)]
                env_var: Option<String>,
                #[serde(default)]
                from_env: Option<bool>,
            },
        }
        let form = Form::deserialize(deserializer).map_err(|_| {
            de::Error::custom(
                "expected a string (a value or \"env.NAME\") or an object {\"value\", \"env_var\", \"from_env\"}",
            )
        })?;
        Ok(match form {
            Form::Text(text) => match env_reference(&text) {
                Some(name) => EnvValue::from_env_var(name),
                None => EnvValue::literal(text),
            },
            Form::Object {
                value,
                env_var,
                from_env,
            } => {
                // Bifrost writes the reference (`env.NAME`); the bare name is read too.
                let env_var = env_var.unwrap_or_default();
                let env_var = env_reference(&env_var)
                    .map(str::to_owned)
                    .unwrap_or(env_var);
                let value = value.unwrap_or_default();
                // `{"value": "env.NAME"}` is the same reference as the string form.
                match env_reference(&value) {
                    Some(name) if env_var.is_empty() => EnvValue::from_env_var(name),
                    _ => EnvValue {
                        from_env: from_env.unwrap_or(!env_var.is_empty()),
                        value: Secret::new(value),
                        env_var,
                    },
                }
            }
        })
    }
}

#[cfg(test)]
mod tests;
