use abi_stable::std_types::RStr;

use super::*;

fn header<'a>(name: &'a str, value: &'a str) -> Header<'a> {
    Header {
        name: RStr::from_str(name),
        value: RStr::from_str(value),
    }
}

#[test]
fn reads_every_documented_header() {
    for (name, value) in [
        ("x-bf-vk", "sk-bf-one"),
        ("authorization", "Bearer sk-bf-one"),
        ("authorization", "bearer  sk-bf-one"),
        ("x-api-key", "sk-bf-one"),
        ("api-key", "sk-bf-one"),
        ("x-goog-api-key", "sk-bf-one"),
    ] {
        assert_eq!(
            find_virtual_key(&[header(name, value)]),
            Some("sk-bf-one"),
            "{name}"
        );
    }
}

#[test]
fn x_bf_vk_accepts_old_keys_and_wins() {
    let headers = [
        header("authorization", "Bearer sk-bf-two"),
        header("x-bf-vk", "legacy"),
    ];
    assert_eq!(find_virtual_key(&headers), Some("legacy"));
}

#[test]
fn provider_keys_are_not_virtual_keys() {
    let headers = [
        header("authorization", "Bearer sk-proj-123"),
        header("x-api-key", "sk-ant-123"),
        header("content-type", "application/json"),
    ];
    assert_eq!(find_virtual_key(&headers), None);
}
