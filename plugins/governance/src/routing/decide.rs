//! Routing a request: the rules of its scopes (virtual key, team, customer, global) are tried
//! in order, each scope's by priority, and the first whose expression matches decides — a
//! target drawn by weight gives the provider and model (what it leaves out stays as it was), a
//! pinned key and the rule's fallbacks. A matching chain rule starts the walk again from the
//! top with its target, at most once per rule and `routing_chain_max_depth` steps in all; the
//! last match decides everything. Nothing is allocated unless an expression reads `params`
//! (then the query string is decoded once per request).

use keyward_plugin_api::ffi::{Extension, Header};

use super::{
    cel::{MapVar, Var, Variables},
    table::{MAX_CHAIN_DEPTH, Rule, Target},
};
use crate::{
    engine::Engine,
    policy::{CounterKind, KeyPolicy, LevelKind, Step},
};

/// What routing reads of a request.
#[derive(Copy, Clone, Debug)]
pub struct RouteRequest<'a> {
    /// The provider the caller named, if any.
    pub provider: Option<&'a str>,
    /// The model as requested.
    pub model: &'a str,
    /// Bifrost's request type (`chat_completion`, `chat_completion_stream`, …; see
    /// [`request_type`](keyward_plugin_api::model::request_type::request_type)).
    pub request_type: &'static str,
    /// The request headers (lower-case names).
    pub headers: &'a [Header<'a>],
    /// The raw query string.
    pub query: &'a str,
}

/// What the matching rules decided.
#[derive(Copy, Clone, Debug)]
pub struct Decision<'a> {
    /// The provider to call (`None`: still the virtual key's choice).
    pub provider: Option<&'a str>,
    /// The model to call.
    pub model: &'a str,
    /// The rule that decided (its fallbacks, when it has any, replace the virtual key's).
    pub rule: &'a Rule,
    /// What the admission tells the host (rule id, model, pinned key).
    pub extensions: &'a [Extension<'static>],
}

/// The variables of one chain step.
struct StepVariables<'a, 'p> {
    engine: &'a Engine,
    key: Option<&'a KeyPolicy>,
    provider: &'a str,
    model: &'a str,
    request: RouteRequest<'a>,
    params: &'p [(String, String)],
}

impl Variables for StepVariables<'_, '_> {
    fn string(&self, var: Var) -> Option<&str> {
        let key = self.key;
        let of_key = |field: fn(&KeyPolicy) -> &str| Some(key.map_or("", field));
        match var {
            Var::Model => Some(self.model),
            Var::Provider => Some(self.provider),
            Var::RequestType => Some(self.request.request_type),
            Var::VirtualKeyId => of_key(|k| &k.id),
            Var::VirtualKeyName => of_key(|k| &k.name),
            Var::TeamId => of_key(|k| &k.team_id),
            Var::TeamName => of_key(|k| &k.team_name),
            Var::CustomerId => of_key(|k| &k.customer_id),
            Var::CustomerName => of_key(|k| &k.customer_name),
            Var::UserId => Some(""),
            // keyward does not classify requests: an expression reading it is unknown.
            Var::ComplexityTier => None,
            Var::BudgetUsed | Var::TokensUsed | Var::Request => None,
        }
    }

    fn number(&self, var: Var) -> Option<f64> {
        let kind = match var {
            Var::BudgetUsed => CounterKind::Budget,
            Var::TokensUsed => CounterKind::Tokens,
            Var::Request => CounterKind::Requests,
            _ => return None,
        };
        Some(
            self.engine
                .percent_used(self.key, self.provider, self.model, kind),
        )
    }

    fn lookup(&self, map: MapVar, key: &str) -> Option<&str> {
        match map {
            MapVar::Headers => self
                .request
                .headers
                .iter()
                .find(|h| h.name.as_str().eq_ignore_ascii_case(key))
                .map(|h| h.value.as_str()),
            MapVar::Params => self
                .params
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(key))
                .map(|(_, value)| value.as_str()),
        }
    }
}

impl Engine {
    /// Routes a request of virtual key `key` (`None`: no key, so only global rules apply), or
    /// `None` when no rule matches (or there are none, or no model is named yet).
    pub fn route<'a>(
        &'a self,
        key: Option<&'a KeyPolicy>,
        request: &RouteRequest<'a>,
    ) -> Option<Decision<'a>> {
        let table = &self.policy.routing;
        if table.is_empty() || request.model.is_empty() {
            return None;
        }
        let non_empty = |s: &'a str| (!s.is_empty()).then_some(s);
        let scopes = table.chain_of(
            key.map(|k| k.id.as_str()),
            key.and_then(|k| non_empty(&k.team_id)),
            key.and_then(|k| non_empty(&k.customer_id)),
        );
        let params = if table.reads_params {
            decode_query(request.query)
        } else {
            Vec::new()
        };
        let mut provider = request.provider;
        let mut model = request.model;
        // Which of `chain_models` the model is, when a chained rule chose it.
        let mut chained_model: Option<usize> = None;
        let mut decided: Option<(&'a Rule, &'a Target)> = None;
        // The chain rules fired so far: one per step, since a step that fires none ends the walk.
        let mut fired = [u32::MAX; MAX_CHAIN_DEPTH as usize];
        for step in 0..(table.max_depth as usize).min(fired.len()) {
            let variables = StepVariables {
                engine: self,
                key,
                provider: provider.unwrap_or(""),
                model,
                request: *request,
                params: &params,
            };
            let matched = scopes.iter().flat_map(|s| s.iter()).find(|&&index| {
                let rule = &table.rules[index as usize];
                !(rule.chain && fired[..step].contains(&index))
                    && rule.expression.matches(&variables)
            });
            let Some(&index) = matched else {
                break;
            };
            let rule = &table.rules[index as usize];
            let target = draw(rule);
            provider = target.provider.or(provider);
            if let Some(chosen) = target.model {
                model = chosen;
                chained_model = table.chain_models.iter().position(|m| *m == chosen);
            }
            decided = Some((rule, target));
            if !rule.chain {
                break;
            }
            fired[step] = index;
        }
        let (rule, target) = decided?;
        let answer = match (target.model, chained_model) {
            (None, Some(at)) => target.answers.get(1 + at),
            _ => target.answers.first(),
        }?;
        Some(Decision {
            provider,
            model,
            rule,
            extensions: answer,
        })
    }

    /// How much of the limits of `kind` a request to `(provider, model)` meets is used, in
    /// percent, the highest of them (Bifrost's `budget_used`, `tokens_used`, `request`): the
    /// model configs and the provider's own entry, and the virtual key's provider config. Open
    /// reservations count as used; `0` when none applies.
    pub fn percent_used(
        &self,
        key: Option<&KeyPolicy>,
        provider: &str,
        model: &str,
        kind: CounterKind,
    ) -> f64 {
        let now = self.now();
        let limits = &self.policy.model_limits;
        let matched = limits.matching(key.map(|k| &k.model_configs), provider, model);
        let own = key
            .and_then(|k| k.provider(provider))
            .map(|(_, config)| config.path.steps.as_slice())
            .unwrap_or(&[]);
        let steps = matched
            .all()
            .iter()
            .flat_map(|&i| limits.path(i).steps.iter())
            .chain(own.iter().filter(|s| s.level == LevelKind::ProviderConfig));
        steps
            .filter(|step: &&Step| step.kind == kind)
            .map(|step| {
                let reading = self.policy.counters[step.counter as usize].read();
                if now >= reading.window_end {
                    0.0
                } else if reading.max == 0 {
                    100.0
                } else {
                    reading.used as f64 * 100.0 / reading.max as f64
                }
            })
            .fold(0.0, f64::max)
    }
}

/// A target of `rule`, drawn by weight (uniformly when every weight is 0).
fn draw(rule: &Rule) -> &Target {
    let targets = &rule.targets;
    if targets.len() == 1 || rule.total_weight <= 0.0 {
        return &targets[fastrand::usize(..targets.len())];
    }
    let mut point = fastrand::f64() * rule.total_weight;
    for target in targets {
        if point < target.weight {
            return target;
        }
        point -= target.weight;
    }
    // Rounding left the point past the last share: the last target with one.
    targets
        .iter()
        .rev()
        .find(|t| t.weight > 0.0)
        .unwrap_or(&targets[0])
}

/// `a=1&b=x%20y` as decoded pairs (`+` is a space).
fn decode_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}
