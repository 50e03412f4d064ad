use super::{ModelMap, hash_name, same_name};

#[test]
fn every_name_is_found_and_others_are_not() {
    let names: Vec<String> = (0..500)
        .map(|i| match i % 3 {
            0 => format!("m{i}"),
            1 => format!("model-with-a-medium-{i}"),
            _ => format!("a-much-longer-model-name-that-spans-several-words-{i}"),
        })
        .collect();
    let map = ModelMap::new(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str().into(), i))
            .collect(),
    );
    for (i, name) in names.iter().enumerate() {
        assert_eq!(map.get(name), Some(&i), "{name}");
    }
    for other in ["", "m", "m1000", "model-with-a-medium-1000", "gpt-4o"] {
        assert_eq!(map.get(other), None, "{other}");
    }
    assert_eq!(map.iter().count(), 500);
}

#[test]
fn the_hash_and_comparison_see_every_byte_of_a_name() {
    assert_ne!(hash_name(b"gpt-4o"), hash_name(b"gpt-4o\0"));
    assert_ne!(
        hash_name(b"gpt-4o-mini-2024"),
        hash_name(b"gpt-4o-mini-2025")
    );
    assert!(same_name("claude-3-5-sonnet", "claude-3-5-sonnet"));
    assert!(!same_name("claude-3-5-sonnet", "claude-3-5-sonnex"));
    assert!(!same_name("gpt-4o-mini", "gpt-4o-mine"));
    assert!(!same_name("abc", "abd"));
}
