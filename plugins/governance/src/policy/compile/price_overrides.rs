//! Compiles `governance.pricing_overrides` into [`PriceOverrides`], each entry checked by path.

use keyward_plugin_api::{
    ffi::KeywardError,
    model::governance::{MatchType, OverrideScope, PricingOverride, VirtualKey},
};

use crate::{
    config::invalid,
    price_overrides::{PriceOverrides, request_type_bit},
    prices::PricePatch,
};

/// The overrides, and one warning per entry or field not applied.
pub(super) fn compile_price_overrides(
    entries: &[PricingOverride],
    keys: &[VirtualKey],
    warnings: &mut Vec<String>,
) -> Result<PriceOverrides, KeywardError> {
    let mut overrides = PriceOverrides::default();
    for (i, entry) in entries.iter().enumerate() {
        let path = format!("pricing_overrides[{i}]");
        let at = |(field, reason): (&str, String)| invalid(&format!("{path}.{field}"), reason);
        if entry.id.trim().is_empty() {
            return Err(invalid(&format!("{path}.id"), "must not be empty"));
        }
        let scope = entry.scope().map_err(at)?;
        let prefix = entry.checked_pattern().map_err(at)?;
        entry.checked_request_types().map_err(at)?;
        let fields = entry.patch().map_err(at)?;
        let (patch, unused) = PricePatch::read(&fields)
            .map_err(|(field, reason)| invalid(&format!("{path}.pricing_patch.{field}"), reason))?;
        if !unused.is_empty() {
            warnings.push(format!(
                "{path}.pricing_patch: {} not used (keyward prices input, output and cached input tokens)",
                unused.join(", ")
            ));
        }
        let known_key = |id: &str| {
            if keys.iter().any(|k| k.id == id) {
                Ok(())
            } else {
                Err(invalid(
                    &format!("{path}.virtual_key_id"),
                    format!("no virtual key with id {id:?}"),
                ))
            }
        };
        let wildcard = entry.match_type == MatchType::Wildcard;
        let set = match scope {
            OverrideScope::Global => &mut overrides.global,
            OverrideScope::Provider(provider) => {
                overrides.providers.entry(provider.into()).or_default()
            }
            OverrideScope::VirtualKey(vk) => {
                known_key(vk)?;
                overrides.keys.entry(vk.into()).or_default()
            }
            OverrideScope::VirtualKeyProvider(vk, provider) => {
                known_key(vk)?;
                overrides
                    .key_providers
                    .entry(vk.into())
                    .or_default()
                    .entry(provider.into())
                    .or_default()
            }
            OverrideScope::ProviderKey(_) | OverrideScope::VirtualKeyProviderKey(..) => {
                warnings.push(format!(
                    "{path}: scope_kind {:?} is not applied: keyward prices a request before its provider key is chosen",
                    entry.scope_kind
                ));
                continue;
            }
        };
        let types = entry
            .request_types
            .iter()
            .fold(0, |types, name| types | request_type_bit(name));
        set.insert(prefix, wildcard, patch, types);
        overrides.mark_used();
    }
    Ok(overrides)
}
