//! The one error type that crosses the ABI: [`KeywardError`], a typed [`ErrorCode`] with the
//! HTTP status a host should answer, whether another attempt may succeed, and an optional
//! retry-after. Denials (401/402/403/429) and plugin failures (panics, poisoning, bad
//! configuration) are both `KeywardError`s, in the manner of pingora's error type.

use abi_stable::{
    StableAbi,
    std_types::{ROption, RString},
};

/// A typed error code. A newtype over `u32` rather than a Rust enum so that a code added by a
/// newer plugin is read safely by an older host (as [`ErrorCode::as_str`] = `"unknown_error"`).
#[repr(transparent)]
#[derive(StableAbi, Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct ErrorCode(pub u32);

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $name:ident = ($value:expr, $text:expr, $status:expr, $retryable:expr); )*) => {
        impl ErrorCode {
            $( $(#[$doc])* pub const $name: ErrorCode = ErrorCode($value); )*

            /// The snake_case error type used in error envelopes (`error.type`).
            pub fn as_str(self) -> &'static str {
                match self { $( Self::$name => $text, )* _ => "unknown_error" }
            }

            /// The HTTP status a host answers for this code when the plugin gave none.
            pub fn default_status(self) -> u16 {
                match self { $( Self::$name => $status, )* _ => 500 }
            }

            /// Whether another attempt (another key, provider or instance) may succeed.
            pub fn default_retryable(self) -> bool {
                match self { $( Self::$name => $retryable, )* _ => false }
            }

            /// Every code this build knows, for documentation and tests.
            pub const ALL: &'static [ErrorCode] = &[$( Self::$name, )*];
        }
    };
}

error_codes! {
    /// No error: used by [`crate::ffi::Admission::would_deny`] when shadow mode denied nothing.
    NONE = (0, "none", 200, false);
    /// An error the plugin could not classify.
    INTERNAL = (1, "internal_error", 500, false);

    /// Key selection: the provider has no keys at all.
    NO_KEYS = (100, "no_keys", 503, false);
    /// Key selection: no enabled key of the provider serves the model (allow-list, black-list,
    /// aliases, batch flag, virtual-key allow-list).
    MODEL_NOT_SUPPORTED = (101, "model_not_supported", 400, false);
    /// Key selection: every candidate key already failed in this request.
    ALL_KEYS_EXCLUDED = (102, "all_keys_excluded", 503, true);
    /// Key selection: the pinned key (by id or name) does not exist or is not a candidate.
    PINNED_KEY_UNAVAILABLE = (103, "pinned_key_unavailable", 400, false);

    /// Authorization: a virtual key is required and none was sent.
    VIRTUAL_KEY_REQUIRED = (200, "virtual_key_required", 401, false);
    /// Authorization: the virtual key is unknown.
    VIRTUAL_KEY_NOT_FOUND = (201, "virtual_key_not_found", 403, false);
    /// Authorization: the virtual key is inactive or expired.
    VIRTUAL_KEY_BLOCKED = (202, "virtual_key_blocked", 403, false);
    /// Authorization: the provider is not in the virtual key's provider configs.
    PROVIDER_BLOCKED = (203, "provider_blocked", 403, false);
    /// Authorization: the model is black-listed or not allowed.
    MODEL_BLOCKED = (204, "model_blocked", 403, false);

    /// Enforcement: a request-count limit is reached.
    REQUEST_LIMITED = (300, "request_limited", 429, true);
    /// Enforcement: a token limit is reached.
    TOKEN_LIMITED = (301, "token_limited", 429, true);
    /// Enforcement: a budget is exhausted (the message names the level).
    BUDGET_EXCEEDED = (302, "budget_exceeded", 402, false);
    /// Enforcement: settle or release named a request id with no reservation.
    UNKNOWN_RESERVATION = (303, "unknown_reservation", 404, false);

    /// Plugin health: a method panicked; the instance is now poisoned.
    PLUGIN_PANICKED = (900, "plugin_panicked", 503, false);
    /// Plugin health: the instance panicked earlier and fails closed until it is reloaded.
    PLUGIN_POISONED = (901, "plugin_poisoned", 503, false);
    /// Plugin health: the configuration (JSON) given at construction is invalid.
    INVALID_CONFIG = (902, "invalid_config", 400, false);
    /// Plugin health: the instance exported its state for a swap and no longer takes
    /// mutating calls; the host re-reads its slot and calls the new instance.
    INSTANCE_RETIRED = (903, "instance_retired", 503, true);
    /// Plugin health: the plugin does not provide what was asked (a role, a method).
    UNSUPPORTED = (904, "unsupported", 501, false);
    /// Plugin health: exported state could not be imported.
    INVALID_STATE = (905, "invalid_state", 400, false);
}

/// The error every fallible contract method returns.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct KeywardError {
    /// What went wrong.
    pub code: ErrorCode,
    /// The HTTP status the host answers with.
    pub http_status: u16,
    /// Whether another attempt (another key, provider, or after `retry_after_ms`) may succeed.
    pub retryable: bool,
    /// When the caller may try again, in milliseconds (a host sends `Retry-After` in seconds,
    /// rounded up).
    pub retry_after_ms: ROption<u64>,
    /// A human-readable message. Never contains a secret.
    pub message: RString,
}

impl KeywardError {
    /// An error with the code's default status and retryability.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            http_status: code.default_status(),
            retryable: code.default_retryable(),
            retry_after_ms: ROption::RNone,
            message: RString::from(message.into()),
        }
    }

    /// Sets the retry-after hint.
    pub fn with_retry_after_ms(mut self, millis: u64) -> Self {
        self.retry_after_ms = ROption::RSome(millis);
        self
    }

    /// Overrides the HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.http_status = status;
        self
    }

    /// `Retry-After` in whole seconds, rounded up, if any.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after_ms
            .into_option()
            .map(|ms| ms.div_ceil(1000))
    }

    /// Whether the error means the instance is unusable until reloaded.
    pub fn is_poison(&self) -> bool {
        matches!(
            self.code,
            ErrorCode::PLUGIN_PANICKED | ErrorCode::PLUGIN_POISONED
        )
    }
}

impl std::fmt::Display for KeywardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code.as_str(),
            self.http_status,
            self.message
        )
    }
}

impl std::error::Error for KeywardError {}
