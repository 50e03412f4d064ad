//! [`KeptFields`]: the fields of a provider key's document that keyward does not read, kept
//! verbatim so that saving the configuration loses nothing. keyward cannot tell whether such a
//! field holds a secret (a newer Bifrost's credential field, say), so every string in it
//! serializes redacted, like a key's value, except under
//! [`with_exposed_secrets`](super::secret::with_exposed_secrets) (writing the configuration to
//! disk). An update that sends a redacted string back keeps the stored one (keyward-host's key
//! routes restore them).

use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use super::secret::{exposing_secrets, redact_strings};

/// Fields kept verbatim, serialized with their strings redacted outside
/// [`with_exposed_secrets`](super::secret::with_exposed_secrets).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct KeptFields(pub Map<String, Value>);

impl KeptFields {
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Their names, each after `prefix` (for the warning naming them).
    pub fn names(&self, prefix: &str) -> Vec<String> {
        self.0
            .keys()
            .map(|name| format!("{prefix}{name}"))
            .collect()
    }
}

impl Serialize for KeptFields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if exposing_secrets() {
            self.0.serialize(serializer)
        } else {
            // Every field is taken for a secret.
            redact_strings(&Value::Object(self.0.clone()), &|_| true).serialize(serializer)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::KeptFields;
    use crate::model::secret::with_exposed_secrets;

    #[test]
    fn strings_are_redacted_except_when_writing_to_disk() {
        let kept: KeptFields = serde_json::from_value(json!({
            "role_arn": "arn:aws:iam::123456789012:role/gateway",
            "nested": {"token": "abc", "n": 3, "list": ["long-secret-value-1"]}
        }))
        .unwrap();
        let shown = serde_json::to_value(&kept).unwrap();
        assert_eq!(shown["role_arn"], format!("{}eway", "*".repeat(34)));
        assert_eq!(shown["nested"]["token"], "***");
        assert_eq!(shown["nested"]["n"], 3);
        assert_eq!(
            shown["nested"]["list"][0],
            format!("{}ue-1", "*".repeat(15))
        );
        let saved = with_exposed_secrets(|| serde_json::to_value(&kept).unwrap());
        assert_eq!(saved["role_arn"], "arn:aws:iam::123456789012:role/gateway");
        assert_eq!(
            kept.names("keys[0]."),
            ["keys[0].nested", "keys[0].role_arn"]
        );
    }
}
