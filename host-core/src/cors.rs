//! Cross-origin requests (CORS), as Bifrost answers them from `client.allowed_origins` (default
//! `["*"]`) and `client.allowed_headers`:
//!
//! - an origin is allowed when it is a local one with a port (`http://localhost:3000`,
//!   `https://127.0.0.1:8443`, `http://0.0.0.0:5173`, always), listed exactly, matched by a
//!   pattern whose `*` stands for one DNS label (`https://*.example.com`), or when the list
//!   holds `"*"`;
//! - an allowed origin is echoed in `Access-Control-Allow-Origin` (never a literal `*`), with
//!   the methods, the headers (Bifrost's defaults plus `allowed_headers`), a max age of a day,
//!   `Vary: Origin`, and `Access-Control-Allow-Credentials: true` when the origin is trusted by
//!   name (listed, local, or the list has no `"*"`);
//! - a preflight (`OPTIONS` with `Access-Control-Request-Method`) is answered by the gateway
//!   itself: 200 for an allowed origin, 403 otherwise; other requests are served either way,
//!   with the headers only for an allowed origin.

use serde_json::Value;

/// The methods a preflight allows.
pub const ALLOWED_METHODS: &str = "GET, POST, PUT, DELETE, PATCH, OPTIONS, HEAD";
/// The headers always allowed (Bifrost's defaults).
pub const DEFAULT_HEADERS: &[&str] = &[
    "Content-Type",
    "Authorization",
    "X-Requested-With",
    "X-Stainless-Timeout",
    "X-Api-Key",
    "X-Bf-Vk",
];
/// `Access-Control-Max-Age`, seconds.
pub const MAX_AGE_SECONDS: &str = "86400";

/// The CORS rules of a configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorsPolicy {
    origins: Vec<String>,
    extra_headers: Vec<String>,
}

impl Default for CorsPolicy {
    fn default() -> Self {
        Self {
            origins: vec!["*".to_owned()],
            extra_headers: Vec::new(),
        }
    }
}

/// What to answer a request that carries an `Origin`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CorsAnswer {
    /// Not a cross-origin request (no `Origin`): nothing to add.
    NotCors,
    /// A preflight for a refused origin: answer 403 and nothing else.
    RefusedPreflight,
    /// A request from a refused origin: serve it without CORS headers.
    Refused,
    /// An allowed origin: add these headers; a preflight is answered 200 with them alone.
    Allowed {
        /// Whether this is a preflight (answer it here, 200).
        preflight: bool,
        /// The response headers to add.
        headers: Vec<(&'static str, String)>,
    },
}

fn strings(value: Option<&Value>) -> Option<Vec<String>> {
    value.and_then(Value::as_array).map(|items| {
        items
            .iter()
            .filter_map(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
}

fn is_local(origin: &str) -> bool {
    [
        "http://localhost:",
        "https://localhost:",
        "http://127.0.0.1:",
        "https://127.0.0.1:",
        "http://0.0.0.0:",
    ]
    .iter()
    .any(|prefix| {
        origin
            .strip_prefix(prefix)
            .is_some_and(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Whether `origin` matches `pattern`, where each `*` stands for one DNS label.
fn matches_pattern(pattern: &str, origin: &str) -> bool {
    let Some((head, tail)) = pattern.split_once('*') else {
        return false;
    };
    let Some(rest) = origin.strip_prefix(head) else {
        return false;
    };
    // The label: one or more characters other than `/` and `.`, then the rest of the pattern.
    let label_end = rest.find(['/', '.']).unwrap_or(rest.len());
    label_end > 0
        && (1..=label_end).any(|end| {
            let after = &rest[end..];
            if tail.contains('*') {
                matches_pattern(tail, after)
            } else {
                after == tail
            }
        })
}

/// The answer to a refused preflight: 403 `origin_not_allowed`, in the envelope.
pub fn refused_preflight() -> crate::error::GatewayError {
    crate::error::GatewayError::new(
        403,
        "origin_not_allowed",
        "this origin is not in client.allowed_origins",
    )
}

impl CorsPolicy {
    /// The policy of a `client` block (`allowed_origins`, `allowed_headers`).
    pub fn from_client(client: &serde_json::Map<String, Value>) -> Self {
        Self {
            origins: strings(client.get("allowed_origins")).unwrap_or_else(|| vec!["*".to_owned()]),
            extra_headers: strings(client.get("allowed_headers")).unwrap_or_default(),
        }
    }

    fn any_origin(&self) -> bool {
        self.origins.iter().any(|o| o == "*")
    }

    fn listed(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == origin)
    }

    /// Whether `origin` may call the gateway from a browser.
    pub fn allows(&self, origin: &str) -> bool {
        is_local(origin)
            || self.any_origin()
            || self.listed(origin)
            || self
                .origins
                .iter()
                .any(|pattern| pattern.contains('*') && matches_pattern(pattern, origin))
    }

    /// What to answer a request with `method`, `Origin: origin` (if any) and
    /// `Access-Control-Request-Method` / `-Headers` (a preflight's).
    pub fn answer(
        &self,
        method: &str,
        origin: Option<&str>,
        request_method: Option<&str>,
        request_headers: Option<&str>,
    ) -> CorsAnswer {
        let Some(origin) = origin.map(str::trim).filter(|o| !o.is_empty()) else {
            return CorsAnswer::NotCors;
        };
        let preflight = method.eq_ignore_ascii_case("OPTIONS") && request_method.is_some();
        if !self.allows(origin) {
            return if preflight {
                CorsAnswer::RefusedPreflight
            } else {
                CorsAnswer::Refused
            };
        }
        let credentialed = !self.any_origin() || is_local(origin) || self.listed(origin);
        let wildcard_headers = self.extra_headers.iter().any(|h| h == "*");
        let allowed_headers = match (wildcard_headers, credentialed, request_headers) {
            (true, true, Some(asked)) if !asked.trim().is_empty() => asked.trim().to_owned(),
            (true, false, _) => "*".to_owned(),
            _ => {
                let mut names: Vec<&str> = DEFAULT_HEADERS.to_vec();
                for extra in self.extra_headers.iter().filter(|h| *h != "*") {
                    if !names.iter().any(|n| n.eq_ignore_ascii_case(extra)) {
                        names.push(extra);
                    }
                }
                names.join(", ")
            }
        };
        let mut headers = vec![
            ("access-control-allow-origin", origin.to_owned()),
            ("access-control-allow-methods", ALLOWED_METHODS.to_owned()),
            ("access-control-allow-headers", allowed_headers),
            ("access-control-max-age", MAX_AGE_SECONDS.to_owned()),
            ("vary", "Origin".to_owned()),
        ];
        if credentialed {
            headers.push(("access-control-allow-credentials", "true".to_owned()));
        }
        CorsAnswer::Allowed { preflight, headers }
    }
}

#[cfg(test)]
mod tests;
