//! The behaviour table (`tests/behaviours/`): its cases, and the one check every host's runner
//! applies to what it observed.

use serde_json::Value;

/// The table.
pub fn cases() -> Vec<Value> {
    let table: Value = serde_json::from_str(include_str!("../behaviours/table.json")).unwrap();
    table["cases"].as_array().unwrap().clone()
}

/// The configuration, on the mock at `upstream`, with `plugins`.
pub fn config(upstream: &str, plugins: Value) -> Value {
    let text = include_str!("../behaviours/config.json").replace("{{UPSTREAM}}", upstream);
    let mut config: Value = serde_json::from_str(&text).unwrap();
    config["plugins"] = plugins;
    config
}

/// One step's request.
pub struct StepRequest {
    /// The method.
    pub method: String,
    /// The path.
    pub path: String,
    /// The headers.
    pub headers: Vec<(String, String)>,
    /// The body, byte for byte.
    pub body: Vec<u8>,
    /// The client leaves after this many events.
    pub leave_after_events: Option<usize>,
}

impl StepRequest {
    /// Reads a step's `request`.
    pub fn of(step: &Value) -> Self {
        let request = &step["request"];
        Self {
            method: request["method"].as_str().unwrap_or("POST").to_owned(),
            path: request["path"]
                .as_str()
                .unwrap_or("/v1/chat/completions")
                .to_owned(),
            headers: request["headers"]
                .as_object()
                .map(|h| {
                    h.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default(),
            body: request["body"]
                .as_str()
                .unwrap_or_default()
                .as_bytes()
                .to_vec(),
            leave_after_events: request["leave_after_events"].as_u64().map(|n| n as usize),
        }
    }
}

/// What a host did with one step.
#[derive(Debug)]
pub struct Observed {
    /// The status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Retry-After`.
    pub retry_after: Option<String>,
    /// The body the client read.
    pub body: Vec<u8>,
    /// What the mock upstream received.
    pub upstream: Vec<Value>,
    /// `settle:I/C/O`, `release`, or `None` when no session finished.
    pub charge: Option<String>,
}

/// The case's expectations for `host` (its `differences` applied), or why it is skipped.
pub fn expectations(case: &Value, step: &Value, host: &str) -> Result<Value, String> {
    if let Some(why) = case["skip"][host].as_str() {
        return Err(why.to_owned());
    }
    let mut expect = step["expect"].clone();
    if let Some(overrides) = case["differences"][host]["expect"].as_object() {
        for (field, value) in overrides {
            expect[field] = value.clone();
        }
    }
    Ok(expect)
}

/// What differs between `expect` and `observed` (empty: the step passed).
pub fn check(expect: &Value, request: &StepRequest, observed: &Observed) -> Vec<String> {
    let mut wrong = Vec::new();
    let body: Value = serde_json::from_slice(&observed.body).unwrap_or(Value::Null);
    let text = String::from_utf8_lossy(&observed.body);
    if expect["status"].as_u64() != Some(u64::from(observed.status)) {
        wrong.push(format!("status {} (body {text:.300})", observed.status));
    }
    if let Some(kind) = expect.get("type") {
        // The gateway's envelope always carries `event_id` and `status_code`.
        let envelope = body.get("event_id").is_some() && body.get("status_code").is_some();
        let seen = if envelope {
            body["type"].clone()
        } else {
            Value::Null
        };
        if &seen != kind || (kind.is_string() && body["error"]["type"] != *kind) {
            wrong.push(format!("type {seen} (body {text:.300})"));
        }
    }
    if let Some(param) = expect.get("param")
        && body["error"]["param"] != *param
    {
        wrong.push(format!("param {}", body["error"]["param"]));
    }
    let whole_seconds = observed
        .retry_after
        .as_deref()
        .is_some_and(|v| v.parse::<u64>().is_ok());
    if expect["retry_after"] == true && !whole_seconds {
        wrong.push(format!("retry-after {:?}", observed.retry_after));
    }
    if let Some(prefix) = expect["content_type"].as_str()
        && !observed
            .content_type
            .as_deref()
            .is_some_and(|c| c.starts_with(prefix))
    {
        wrong.push(format!("content type {:?}", observed.content_type));
    }
    if let Some(needle) = expect["body_contains"].as_str()
        && !text.contains(needle)
    {
        wrong.push(format!("body without {needle:?}: {text:.300}"));
    }
    if let Some(want) = expect.get("models") {
        let ids: Vec<Value> = body["data"]
            .as_array()
            .map(|data| data.iter().map(|m| m["id"].clone()).collect())
            .unwrap_or_default();
        if want.as_array() != Some(&ids) {
            wrong.push(format!("models {ids:?}"));
        }
    }
    let matches = |want: &Value, seen: &Value| {
        want.as_object()
            .unwrap()
            .iter()
            .all(|(field, value)| &seen[field] == value)
    };
    if let Some(want) = expect["upstream"].as_array()
        && (want.len() != observed.upstream.len()
            || !want
                .iter()
                .zip(&observed.upstream)
                .all(|(w, s)| matches(w, s)))
    {
        wrong.push(format!("upstream saw {:?}", observed.upstream));
    }
    if let Some(want) = expect["upstream_ends_with"].as_array() {
        let tail = observed
            .upstream
            .len()
            .checked_sub(want.len())
            .map(|start| &observed.upstream[start..]);
        if !tail.is_some_and(|tail| want.iter().zip(tail).all(|(w, s)| matches(w, s))) {
            wrong.push(format!("upstream saw {:?}", observed.upstream));
        }
    }
    if let Some(charge) = expect.get("charge") {
        let estimate = (request.body.len() as u64).div_ceil(4);
        if let Some(problem) = charge_problem(charge, observed.charge.as_deref(), estimate) {
            wrong.push(problem);
        }
    }
    wrong
}

fn charge_problem(want: &Value, seen: Option<&str>, estimate: u64) -> Option<String> {
    let settled = seen.and_then(|s| s.strip_prefix("settle:")).map(|s| {
        s.split('/')
            .map(|n| n.parse::<u64>().unwrap_or(u64::MAX))
            .collect::<Vec<_>>()
    });
    let fits = match (want, settled) {
        (Value::Null, None) => true,
        (Value::Null, Some(_)) => false,
        (_, None) => false,
        (want, Some(parts)) if parts.len() == 3 => {
            let input = match &want["input"] {
                Value::String(s) if s == "estimate" => Some(estimate),
                other => other.as_u64(),
            };
            let output_fits = match &want["output"] {
                Value::Array(range) => {
                    (range[0].as_u64().unwrap()..=range[1].as_u64().unwrap()).contains(&parts[2])
                }
                exact => exact.as_u64() == Some(parts[2]),
            };
            input == Some(parts[0]) && want["cached"].as_u64() == Some(parts[1]) && output_fits
        }
        _ => false,
    };
    (!fits).then(|| format!("charge {seen:?}, expected {want} (estimate {estimate})"))
}
