//! The one charging rule, for every host and route. Given the upstream's status, what the
//! [`UsageMeter`](crate::usage::UsageMeter) read, and what was reserved:
//!
//! | answer | charged |
//! | --- | --- |
//! | 2xx with `usage` | the usage, as reported |
//! | 2xx without `usage` — a complete answer that reports none, a stream cut short, a client that left mid-stream | the prompt estimate plus the output delivered (estimated from the text sent), never less |
//! | non-2xx with `usage` | the usage, as reported |
//! | non-2xx without `usage` | nothing: the reservation is released |
//! | no answer (connect error, timeout before the headers) | nothing: released |
//!
//! The delivered-output estimate is capped at the request's output cap (`max_tokens` and its
//! kin): that cap is a true worst case, the upstream cannot deliver more. The prompt estimate
//! (one token per four body bytes) is not, and a reported usage is never capped.

use keyward_plugin_api::ffi::{Usage, UsageEstimate};

use crate::usage::Metered;

/// What to tell the enforcer about a finished request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Charge {
    /// Settle: charge this usage.
    Settle(Usage),
    /// Release the reservation: nothing was used.
    Release,
}

impl std::fmt::Display for Charge {
    /// `settle:<input>/<cached input>/<output>` or `release`: the form both hosts log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Settle(usage) => write!(
                f,
                "settle:{}/{}/{}",
                usage.input_tokens, usage.cached_input_tokens, usage.output_tokens
            ),
            Self::Release => f.write_str("release"),
        }
    }
}

/// The charge for an answer of `status` whose body was `metered`, reserved as `estimate`.
pub fn charge(status: u16, metered: &Metered, estimate: &UsageEstimate) -> Charge {
    let success = (200..300).contains(&status);
    if let Some(mut usage) = metered.usage {
        usage.success = success;
        return Charge::Settle(usage);
    }
    if !success {
        return Charge::Release;
    }
    let cap = estimate.max_output_tokens.into_option().unwrap_or(u64::MAX);
    Charge::Settle(Usage {
        extensions: Default::default(),
        input_tokens: estimate.input_tokens,
        cached_input_tokens: 0,
        output_tokens: metered.delivered_output_tokens.min(cap),
        cost_nanos: None.into(),
        success: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate(input: u64, cap: Option<u64>) -> UsageEstimate {
        UsageEstimate {
            input_tokens: input,
            max_output_tokens: cap.into(),
        }
    }

    fn usage(input: u64, output: u64) -> Usage {
        Usage {
            extensions: Default::default(),
            input_tokens: input,
            cached_input_tokens: 0,
            output_tokens: output,
            cost_nanos: None.into(),
            success: true,
        }
    }

    fn metered(usage: Option<Usage>, delivered: u64) -> Metered {
        Metered {
            usage,
            delivered_output_tokens: delivered,
        }
    }

    #[test]
    fn the_table() {
        let reserved = estimate(10, Some(100));
        let cases = [
            // (status, reported usage, delivered, expected)
            (200, Some(usage(7, 900)), 3, Charge::Settle(usage(7, 900))),
            (200, None, 40, Charge::Settle(usage(10, 40))),
            (200, None, 4_000, Charge::Settle(usage(10, 100))),
            (200, None, 0, Charge::Settle(usage(10, 0))),
            (400, None, 30, Charge::Release),
            (404, None, 30, Charge::Release),
            (422, None, 30, Charge::Release),
            (429, None, 30, Charge::Release),
            (503, None, 30, Charge::Release),
        ];
        for (status, reported, delivered, expected) in cases {
            assert_eq!(
                charge(status, &metered(reported, delivered), &reserved),
                expected,
                "status {status}, usage {reported:?}, delivered {delivered}"
            );
        }
    }

    #[test]
    fn a_failed_answer_that_reports_usage_is_charged_it_as_unsuccessful() {
        let Charge::Settle(charged) =
            charge(400, &metered(Some(usage(12, 0)), 0), &estimate(10, None))
        else {
            panic!("a reported usage is charged");
        };
        assert_eq!(charged.input_tokens, 12);
        assert!(!charged.success);
    }

    #[test]
    fn without_an_output_cap_the_delivered_output_is_charged_whole() {
        assert_eq!(
            charge(200, &metered(None, 5_000), &estimate(1, None)),
            Charge::Settle(usage(1, 5_000))
        );
    }
}
