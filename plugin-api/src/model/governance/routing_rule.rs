//! Bifrost's `governance.routing_rules`: a CEL condition and the weighted targets a matching
//! request is sent to instead (another provider, another model, a pinned key), with the rule's
//! own fallbacks. The shape is `$defs/routing_rule` of Bifrost's `config.schema.json`; the
//! checks are those Bifrost's routing-rule handler makes on save (`validateRoutingTargets`,
//! `validateRoutingFallbacks`, the scope checks). The expression itself is compiled, and the
//! scope's owner looked up, by the governance plugin, which knows the CEL subset and the keys.

use serde::{Deserialize, Serialize};

use super::serde_null::null_as_default;

/// How far the weights of a rule's targets may be from summing to 1 (Bifrost's tolerance).
pub const WEIGHT_SUM_TOLERANCE: f64 = 0.001;

/// The scopes a rule may have, most specific first (Bifrost's evaluation order).
pub const SCOPES: &[&str] = &["virtual_key", "team", "customer", "global"];

/// One entry of `governance.routing_rules`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RoutingRule {
    /// Its id.
    #[serde(default)]
    pub id: String,
    /// Its name, unique within its scope.
    #[serde(default)]
    pub name: String,
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether it is evaluated (absent or `null`: yes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The CEL condition (absent or blank: always matches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cel_expression: Option<String>,
    /// Whether the rules are evaluated again with this rule's target (absent: no).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_rule: Option<bool>,
    /// Where a matching request goes, by weight.
    #[serde(default, deserialize_with = "null_as_default")]
    pub targets: Vec<RoutingTarget>,
    /// Where it goes when the target fails, in order: `"provider/model"` (`"provider/"`: the
    /// model as requested) or `{provider, model?}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallbacks: Option<Vec<RoutingFallback>>,
    /// `global` (absent: global), `team`, `customer` or `virtual_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The team's, customer's or virtual key's id (ignored for `global`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_id: Option<String>,
    /// Evaluation order within the scope, lower first (absent: 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// Fields this model does not read (`query`, the UI builder's state), kept verbatim.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// One weighted target of a rule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RoutingTarget {
    /// The provider (absent: the request's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The model (absent: the request's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The provider key to use, by id (the API's form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The provider key to use, by name (the file's form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_key_name: Option<String>,
    /// Its share (absent: 1, the database's default in Bifrost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// Fields this model does not read, kept verbatim.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// One fallback of a rule: `"provider/model"` or an object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RoutingFallback {
    /// `"provider/model"`, or `"provider/"` for the model as requested.
    Text(String),
    /// `{provider, model?, key_id?}`.
    Object(FallbackTarget),
}

/// A fallback in its object form.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FallbackTarget {
    /// The provider.
    #[serde(default)]
    pub provider: String,
    /// The model (absent or empty: the model as requested).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Fields this model does not read (`key_id`, `provider_key_name`), kept verbatim.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// Where a rule applies.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum RuleScope<'a> {
    /// Every request.
    Global,
    /// The requests of one team's virtual keys.
    Team(&'a str),
    /// The requests of one customer's virtual keys (directly or through a team).
    Customer(&'a str),
    /// The requests of one virtual key.
    VirtualKey(&'a str),
}

impl RoutingFallback {
    /// `(provider, model)`: an empty model stands for the model as requested; `None` when the
    /// entry names no provider (`"gpt-4o"`, `"/gpt-4o"`).
    pub fn parts(&self) -> Option<(&str, &str)> {
        let (provider, model) = match self {
            Self::Text(text) => text.split_once('/')?,
            Self::Object(object) => (
                object.provider.as_str(),
                object.model.as_deref().unwrap_or(""),
            ),
        };
        (!provider.trim().is_empty()).then_some((provider, model))
    }
}

impl RoutingTarget {
    /// The key it pins, by id or by name.
    pub fn pinned_key(&self) -> Option<&str> {
        self.key_id
            .as_deref()
            .or(self.provider_key_name.as_deref())
            .filter(|k| !k.is_empty())
    }

    /// Its weight (absent: 1).
    pub fn share(&self) -> f64 {
        self.weight.unwrap_or(1.0)
    }
}

impl RoutingRule {
    /// Whether it is evaluated.
    pub fn is_enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }

    /// Whether a match evaluates the rules again with its target.
    pub fn is_chain_rule(&self) -> bool {
        self.chain_rule.unwrap_or(false)
    }

    /// Its scope, checked: `(field, reason)` when it is not one keyward knows or a scoped rule
    /// names no owner.
    pub fn checked_scope(&self) -> Result<RuleScope<'_>, (String, String)> {
        let scope_id = self.scope_id.as_deref().filter(|s| !s.trim().is_empty());
        let owner = || {
            scope_id.ok_or_else(|| {
                (
                    "scope_id".to_owned(),
                    "scope_id field is required when scope is not global".to_owned(),
                )
            })
        };
        match self.scope.as_deref().filter(|s| !s.is_empty()) {
            None | Some("global") => Ok(RuleScope::Global),
            Some("team") => owner().map(RuleScope::Team),
            Some("customer") => owner().map(RuleScope::Customer),
            Some("virtual_key") => owner().map(RuleScope::VirtualKey),
            Some("user") => Err((
                "scope".to_owned(),
                "scope \"user\" (Bifrost's enterprise user scope) is not supported: keyward has no users"
                    .to_owned(),
            )),
            Some(other) => Err((
                "scope".to_owned(),
                format!("invalid scope {other:?}: must be one of: global, team, customer, virtual_key"),
            )),
        }
    }

    /// Checks what Bifrost's handler checks on save, except the expression and the scope's
    /// owner (the governance plugin's). `(field path, reason)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.id.trim().is_empty() {
            return Err(("id".to_owned(), "id is required".to_owned()));
        }
        if self.name.trim().is_empty() {
            return Err(("name".to_owned(), "name field is required".to_owned()));
        }
        self.validate_targets()?;
        self.validate_fallbacks()?;
        self.checked_scope().map(|_| ())
    }

    fn validate_targets(&self) -> Result<(), (String, String)> {
        if self.targets.is_empty() {
            return Err((
                "targets".to_owned(),
                "at least one target is required".to_owned(),
            ));
        }
        let mut seen: Vec<(String, String, &str)> = Vec::with_capacity(self.targets.len());
        let mut sum = 0.0;
        for (i, target) in self.targets.iter().enumerate() {
            let at = |field: &str| format!("targets[{i}].{field}");
            for (field, value) in [
                ("provider", &target.provider),
                ("model", &target.model),
                ("key_id", &target.key_id),
                ("provider_key_name", &target.provider_key_name),
            ] {
                if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                    return Err((
                        at(field),
                        format!("{field} must not be empty (leave it out to keep the request's)"),
                    ));
                }
            }
            let weight = target.share();
            if !weight.is_finite() || weight < 0.0 {
                return Err((
                    at("weight"),
                    "each target weight must be positive".to_owned(),
                ));
            }
            if target.pinned_key().is_some() && target.provider.is_none() {
                return Err((
                    at("key_id"),
                    "key_id (or provider_key_name) requires provider to be set".to_owned(),
                ));
            }
            let identity = (
                target
                    .provider
                    .as_deref()
                    .unwrap_or("")
                    .to_ascii_lowercase(),
                target.model.as_deref().unwrap_or("").to_ascii_lowercase(),
                target.pinned_key().unwrap_or(""),
            );
            if seen.contains(&identity) {
                return Err((
                    format!("targets[{i}]"),
                    format!(
                        "duplicate target entry: provider={} model={} key_id={}",
                        identity.0, identity.1, identity.2
                    ),
                ));
            }
            seen.push(identity);
            sum += weight;
        }
        if (sum - 1.0).abs() > WEIGHT_SUM_TOLERANCE {
            return Err((
                "targets".to_owned(),
                format!("target weights must sum to 1, got {sum:.4}"),
            ));
        }
        Ok(())
    }

    fn validate_fallbacks(&self) -> Result<(), (String, String)> {
        for (i, fallback) in self.fallbacks.iter().flatten().enumerate() {
            if fallback.parts().is_none() {
                let shown = match fallback {
                    RoutingFallback::Text(text) => text.clone(),
                    RoutingFallback::Object(object) => object.provider.clone(),
                };
                return Err((
                    format!("fallbacks[{i}]"),
                    format!(
                        "{shown:?} is invalid: must name a provider (e.g. \"openai/gpt-4o\", or \"azure/\" for the model as requested)"
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn rule(json: &str) -> RoutingRule {
        serde_json::from_str(json).unwrap()
    }

    /// Bifrost's documented example (docs/providers/routing-rules, "config.json").
    const PREMIUM: &str = r#"{
        "id": "rule-uuid-123",
        "name": "Premium Tier Route",
        "description": "Route premium users to fast provider",
        "enabled": true,
        "cel_expression": "headers[\"x-tier\"] == \"premium\"",
        "targets": [
          { "provider": "openai", "model": "gpt-4o", "weight": 0.7 },
          { "provider": "azure",  "model": "gpt-4o", "weight": 0.3 }
        ],
        "fallbacks": ["groq/gpt-3.5-turbo"],
        "scope": "global",
        "scope_id": null,
        "priority": 10
    }"#;

    #[test]
    fn the_documented_example_reads_and_validates() {
        let premium = rule(PREMIUM);
        assert_eq!(premium.validate(), Ok(()));
        assert_eq!(premium.checked_scope(), Ok(RuleScope::Global));
        assert_eq!(premium.targets.len(), 2);
        assert_eq!(premium.priority, Some(10));
        assert!(premium.is_enabled() && !premium.is_chain_rule());
        let fallbacks = premium.fallbacks.as_deref().unwrap();
        assert_eq!(fallbacks[0].parts(), Some(("groq", "gpt-3.5-turbo")));
    }

    #[test]
    fn fallbacks_take_both_forms_and_an_empty_model_means_the_request_s() {
        let r = rule(
            r#"{"id": "r", "name": "n", "targets": [{"weight": 1}],
                "fallbacks": ["azure/", {"provider": "vertex", "model": "gemini-2.5-pro", "key_id": "k"},
                              "p/meta-llama/Llama-3.1-8B"]}"#,
        );
        let parts: Vec<_> = r.fallbacks.iter().flatten().map(|f| f.parts()).collect();
        assert_eq!(
            parts,
            [
                Some(("azure", "")),
                Some(("vertex", "gemini-2.5-pro")),
                Some(("p", "meta-llama/Llama-3.1-8B"))
            ]
        );
        assert_eq!(r.validate(), Ok(()));
        let kept = serde_json::to_value(&r).unwrap();
        assert_eq!(kept["fallbacks"][1]["key_id"], "k");
    }

    #[test]
    fn each_documented_save_check_names_its_field() {
        let cases = [
            (r#"{"id": "r", "targets": [{"weight": 1}]}"#, "name"),
            (r#"{"id": "r", "name": "n", "targets": []}"#, "targets"),
            (
                r#"{"id": "r", "name": "n", "targets": [{"provider": "a", "weight": 0.5}, {"provider": "b", "weight": 0.4}]}"#,
                "targets",
            ),
            (
                r#"{"id": "r", "name": "n", "targets": [{"provider": "a", "weight": -1}, {"weight": 2}]}"#,
                "targets[0].weight",
            ),
            (
                r#"{"id": "r", "name": "n", "targets": [{"key_id": "k", "weight": 1}]}"#,
                "targets[0].key_id",
            ),
            (
                r#"{"id": "r", "name": "n", "targets": [{"provider": "OpenAI", "model": "m", "weight": 0.5}, {"provider": "openai", "model": "M", "weight": 0.5}]}"#,
                "targets[1]",
            ),
            (
                r#"{"id": "r", "name": "n", "targets": [{"weight": 1}], "fallbacks": ["gpt-4o"]}"#,
                "fallbacks[0]",
            ),
            (
                r#"{"id": "r", "name": "n", "targets": [{"weight": 1}], "scope": "team"}"#,
                "scope_id",
            ),
            (
                r#"{"id": "r", "name": "n", "targets": [{"weight": 1}], "scope": "org", "scope_id": "x"}"#,
                "scope",
            ),
            (
                r#"{"id": "r", "name": "n", "targets": [{"weight": 1}], "scope": "user", "scope_id": "u"}"#,
                "scope",
            ),
            (
                r#"{"id": "r", "name": "n", "targets": [{"provider": "", "weight": 1}]}"#,
                "targets[0].provider",
            ),
        ];
        for (json, field) in cases {
            let error = rule(json).validate().unwrap_err();
            assert_eq!(error.0, field, "{json}: {error:?}");
        }
        let sum = rule(
            r#"{"id": "r", "name": "n", "targets": [{"provider": "a", "weight": 0.5}, {"provider": "b", "weight": 0.4}]}"#,
        )
        .validate()
        .unwrap_err();
        assert_eq!(sum.1, "target weights must sum to 1, got 0.9000");
    }

    #[test]
    fn a_scoped_rule_names_its_owner_and_a_global_one_ignores_scope_id() {
        let team = rule(
            r#"{"id": "r", "name": "n", "targets": [{"weight": 1}], "scope": "team", "scope_id": "team-ml-ops"}"#,
        );
        assert_eq!(team.checked_scope(), Ok(RuleScope::Team("team-ml-ops")));
        let global = rule(
            r#"{"id": "r", "name": "n", "targets": [{"weight": 1}], "scope": "global", "scope_id": "x"}"#,
        );
        assert_eq!(global.checked_scope(), Ok(RuleScope::Global));
    }

    #[test]
    fn unknown_fields_are_kept() {
        let r = rule(
            r#"{"id": "r", "name": "n", "targets": [{"weight": 1, "ttft_timeout_ms": 500}],
                "query": {"combinator": "and", "rules": []}}"#,
        );
        let back = serde_json::to_value(&r).unwrap();
        assert_eq!(back["query"]["combinator"], "and");
        assert_eq!(back["targets"][0]["ttft_timeout_ms"], 500);
    }
}
