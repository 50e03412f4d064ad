//! [`BodyBudget`]: how much memory the inference routes' request bodies may hold at once. A body
//! is read whole (it is parsed, and sent again on a retry), so many large uploads at once could
//! exhaust the host's memory: each request holds its declared `Content-Length` (or, without
//! one, the body limit) from the budget until it is answered. A request that finds the budget
//! spent waits up to [`BodyBudget::WAIT`] for room, then is answered 503 `gateway_busy`; a
//! declared length over the body limit is refused before a byte is read.

use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

use keyward_host_core::error::GatewayError;

/// The memory request bodies may hold at once, in KiB.
#[derive(Debug)]
pub struct BodyBudget {
    kib: Semaphore,
    max_body_bytes: usize,
}

/// How many bodies of the largest size the budget holds at once.
pub const LARGEST_BODIES_AT_ONCE: usize = 4;

/// The smallest budget, whatever the body limit.
pub const MIN_BUDGET_BYTES: usize = 64 << 20;

fn kib(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)
}

impl BodyBudget {
    /// How long a request waits for room before it is refused.
    pub const WAIT: Duration = Duration::from_secs(10);

    /// A budget of [`LARGEST_BODIES_AT_ONCE`] bodies of `max_body_bytes`, at least
    /// [`MIN_BUDGET_BYTES`].
    pub fn new(max_body_bytes: usize) -> Self {
        let total = max_body_bytes
            .saturating_mul(LARGEST_BODIES_AT_ONCE)
            .max(MIN_BUDGET_BYTES);
        Self {
            kib: Semaphore::new(kib(total) as usize),
            max_body_bytes,
        }
    }

    /// Holds room for a body of `declared` bytes (`None`: no `Content-Length`, the limit), or
    /// answers why not: 413 when it declares more than the limit, 503 when no room came in time.
    pub async fn hold(&self, declared: Option<u64>) -> Result<SemaphorePermit<'_>, GatewayError> {
        let limit = self.max_body_bytes;
        let bytes = match declared {
            Some(declared) if declared > limit as u64 => {
                return Err(GatewayError::new(
                    413,
                    "payload_too_large",
                    "the request body is larger than the configured limit (client.max_request_body_size_mb)",
                ));
            }
            Some(declared) => usize::try_from(declared).unwrap_or(limit),
            None => limit,
        };
        match tokio::time::timeout(Self::WAIT, self.kib.acquire_many(kib(bytes))).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(GatewayError::new(
                503,
                "gateway_busy",
                "the gateway holds as many request bodies as its memory budget allows; retry shortly",
            )
            .retryable()),
        }
    }
}
