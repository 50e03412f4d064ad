//! Finds where a top-level field's value sits in a JSON object, without building a tree, so the
//! proxy can rewrite `model` (and add `stream_options`) by splicing bytes instead of parsing and
//! re-serializing the whole request body.

use std::ops::Range;

/// The byte range of the value of the top-level field `key` of the JSON object in `json`, if it
/// has one. Keys are compared as written (a key spelled with escapes is not matched).
pub(crate) fn top_level_value(json: &[u8], key: &str) -> Option<Range<usize>> {
    let mut at = skip_whitespace(json, 0);
    if json.get(at) != Some(&b'{') {
        return None;
    }
    at += 1;
    loop {
        at = skip_whitespace(json, at);
        match json.get(at)? {
            b'}' => return None,
            b',' => at += 1,
            b'"' => {
                let key_end = string_end(json, at)?;
                let name = &json[at + 1..key_end - 1];
                at = skip_whitespace(json, key_end);
                if json.get(at) != Some(&b':') {
                    return None;
                }
                let value_start = skip_whitespace(json, at + 1);
                let value_end = value_end(json, value_start)?;
                if name == key.as_bytes() {
                    return Some(value_start..value_end);
                }
                at = value_end;
            }
            _ => return None,
        }
    }
}

fn skip_whitespace(json: &[u8], mut at: usize) -> usize {
    while matches!(json.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at += 1;
    }
    at
}

/// The index just past the string starting at `at` (which is a `"`).
fn string_end(json: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    loop {
        match json.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// The index just past the value starting at `at`.
fn value_end(json: &[u8], at: usize) -> Option<usize> {
    match json.get(at)? {
        b'"' => string_end(json, at),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = at;
            loop {
                match json.get(i)? {
                    b'"' => {
                        i = string_end(json, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            let mut i = at;
            while let Some(byte) = json.get(i) {
                if matches!(byte, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                i += 1;
            }
            (i > at).then_some(i)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::top_level_value;

    fn value<'a>(json: &'a str, key: &str) -> Option<&'a str> {
        top_level_value(json.as_bytes(), key).map(|r| &json[r])
    }

    #[test]
    fn finds_top_level_values_of_every_type() {
        let json = r#" { "messages": [{"role": "user", "model": "inner"}], "model" : "gpt-4o", "n": 2, "s": {"a": "}"}, "t": true } "#;
        assert_eq!(value(json, "model"), Some("\"gpt-4o\""));
        assert_eq!(value(json, "n"), Some("2"));
        assert_eq!(value(json, "s"), Some(r#"{"a": "}"}"#));
        assert_eq!(value(json, "t"), Some("true"));
        assert_eq!(value(json, "missing"), None);
    }

    #[test]
    fn escaped_quotes_do_not_end_strings() {
        let json = r#"{"prompt": "say \"model\": x", "model": "m\"1"}"#;
        assert_eq!(value(json, "model"), Some(r#""m\"1""#));
    }

    #[test]
    fn malformed_documents_give_none_not_a_panic() {
        for json in [
            "",
            "[]",
            "{",
            r#"{"model""#,
            r#"{"model": "#,
            r#"{"a": [1, 2"#,
            r#"{"model": "x"#,
            "{,,,}",
            r#"{"a":}"#,
        ] {
            let _ = top_level_value(json.as_bytes(), "model");
        }
        assert_eq!(value(r#"{"model": }"#, "model"), None);
    }
}
