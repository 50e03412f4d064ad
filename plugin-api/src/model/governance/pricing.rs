//! Model prices: dollars per token for input, output and (optionally) cached input, with the
//! policy for a model the table does not know — deny, or charge a configured default price. A
//! cost is never silently zero.
//!
//! ```
//! use keyward_plugin_api::model::governance::pricing::UnknownModelPricing;
//!
//! let deny: UnknownModelPricing = serde_json::from_str(r#""deny""#).unwrap();
//! assert_eq!(deny, UnknownModelPricing::Deny);
//! let price: UnknownModelPricing = serde_json::from_str(
//!     r#"{"input_cost_per_token": 0.000001, "output_cost_per_token": 0.000002}"#,
//! ).unwrap();
//! assert!(matches!(price, UnknownModelPricing::Price(_)));
//! ```

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// One model's price, in dollars per token (the field names of Bifrost's and LiteLLM's pricing
/// tables).
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelPrice {
    /// Dollars per prompt token.
    pub input_cost_per_token: f64,
    /// Dollars per completion token.
    pub output_cost_per_token: f64,
    /// Dollars per prompt token served from the provider's cache (the input price when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_token_cost: Option<f64>,
}

impl ModelPrice {
    /// Checks every price is a finite non-negative number. Returns `(field, reason)`.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let check = |field: &'static str, value: f64| {
            if value.is_finite() && value >= 0.0 {
                Ok(())
            } else {
                Err((field, format!("must be a non-negative number, got {value}")))
            }
        };
        check("input_cost_per_token", self.input_cost_per_token)?;
        check("output_cost_per_token", self.output_cost_per_token)?;
        if let Some(cached) = self.cache_read_input_token_cost {
            check("cache_read_input_token_cost", cached)?;
        }
        Ok(())
    }
}

/// What to do with a model that has no price: `"deny"` (the default) or a price object.
#[derive(Copy, Clone, Debug, Default, PartialEq)]
pub enum UnknownModelPricing {
    /// Deny requests for it wherever a budget applies (`model_blocked`).
    #[default]
    Deny,
    /// Charge this price.
    Price(ModelPrice),
}

impl Serialize for UnknownModelPricing {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Deny => serializer.serialize_str("deny"),
            Self::Price(price) => price.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for UnknownModelPricing {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Text(String),
            Price(ModelPrice),
        }
        match Form::deserialize(deserializer).map_err(|_| {
            de::Error::custom(
                "expected \"deny\" or a price {\"input_cost_per_token\", \"output_cost_per_token\"}",
            )
        })? {
            Form::Text(text) if text == "deny" => Ok(Self::Deny),
            // The text is not echoed: it may be a secret sent in the wrong field.
            Form::Text(_) => Err(de::Error::custom(
                "expected \"deny\" or a price object, got another string",
            )),
            Form::Price(price) => Ok(Self::Price(price)),
        }
    }
}
