//! Size bounds on every JSON document the management API takes, so a body within the request
//! limit cannot still bloat the saved configuration and every later write (13 names of 10 MB
//! once made a 136 MB configuration): a name at most [`MAX_NAME_CHARS`] characters, a
//! description [`MAX_DESCRIPTION_CHARS`], any other string [`MAX_TEXT_CHARS`], a list
//! [`MAX_LIST_ITEMS`] items, an object [`MAX_OBJECT_FIELDS`] fields, nesting [`MAX_DEPTH`]
//! levels. A document past one is a 400 naming the field's path and the bound.

use serde_json::Value;

use crate::http::error::ApiError;

/// The longest `name` (or `*_name`), in characters.
pub const MAX_NAME_CHARS: usize = 256;
/// The longest `description`, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 4_096;
/// The longest other string (a key's value, a CEL expression, a pricing patch), in characters.
pub const MAX_TEXT_CHARS: usize = 65_536;
/// The most items of a list (models, keys, provider configs, rules, …).
pub const MAX_LIST_ITEMS: usize = 10_000;
/// The most fields of an object (aliases, headers, …).
pub const MAX_OBJECT_FIELDS: usize = 10_000;
/// The deepest nesting of objects and lists.
pub const MAX_DEPTH: usize = 32;

/// Checks `document` against the bounds; the error names the first field past one.
pub fn check(document: &Value) -> Result<(), ApiError> {
    walk(document, &mut String::new(), "", 0)
}

/// The refusal for the field at `path`.
fn too(path: &str, what: String) -> Result<(), ApiError> {
    let param = if path.is_empty() { "body" } else { path };
    Err(ApiError::bad_request(param, format!("{param}: {what}")))
}

fn walk(value: &Value, path: &mut String, field: &str, depth: usize) -> Result<(), ApiError> {
    if depth > MAX_DEPTH {
        return too(path, format!("nested deeper than {MAX_DEPTH} levels"));
    }
    match value {
        Value::String(text) => {
            let (bound, kind) = if field == "name" || field.ends_with("_name") {
                (MAX_NAME_CHARS, "a name")
            } else if field == "description" {
                (MAX_DESCRIPTION_CHARS, "a description")
            } else {
                (MAX_TEXT_CHARS, "a text")
            };
            // Characters are counted only when the bytes could be past the bound.
            if text.len() > bound && text.chars().count() > bound {
                return too(path, format!("{kind} is at most {bound} characters"));
            }
        }
        Value::Array(items) => {
            if items.len() > MAX_LIST_ITEMS {
                return too(path, format!("a list is at most {MAX_LIST_ITEMS} items"));
            }
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(item, path, field, depth + 1)?;
                path.truncate(len);
            }
        }
        Value::Object(fields) => {
            if fields.len() > MAX_OBJECT_FIELDS {
                return too(
                    path,
                    format!("an object is at most {MAX_OBJECT_FIELDS} fields"),
                );
            }
            for (name, item) in fields {
                if name.chars().count() > MAX_NAME_CHARS {
                    return too(
                        path,
                        format!("a field name is at most {MAX_NAME_CHARS} characters"),
                    );
                }
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(name);
                walk(item, path, name, depth + 1)?;
                path.truncate(len);
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn refused(document: Value) -> (String, String) {
        let error = check(&document).unwrap_err();
        (
            error.param.clone().unwrap_or_default(),
            error.message.clone(),
        )
    }

    #[test]
    fn each_bound_names_the_field_past_it() {
        assert!(check(&json!({"name": "n".repeat(256), "description": "d".repeat(4096)})).is_ok());
        let (param, message) = refused(json!({"name": "n".repeat(257)}));
        assert_eq!(param, "name");
        assert!(message.contains("at most 256 characters"), "{message}");
        let (param, _) =
            refused(json!({"budgets": [{"id": "b", "description": "d".repeat(4097)}]}));
        assert_eq!(param, "budgets[0].description");
        let (param, _) = refused(json!({"keys": [{"provider_key_name": "k".repeat(300)}]}));
        assert_eq!(param, "keys[0].provider_key_name");
        let (param, _) = refused(json!({"allowed_models": vec!["m"; MAX_LIST_ITEMS + 1]}));
        assert_eq!(param, "allowed_models");
        let (param, _) = refused(json!({"value": "v".repeat(MAX_TEXT_CHARS + 1)}));
        assert_eq!(param, "value");
        // Characters, not bytes: 256 two-byte characters are a valid name.
        assert!(check(&json!({"name": "é".repeat(256)})).is_ok());
        let mut deep = json!(1);
        for _ in 0..40 {
            deep = json!([deep]);
        }
        assert!(check(&deep).is_err());
    }
}
