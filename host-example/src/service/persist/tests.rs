use std::fs;

use super::{TEMP_SUFFIX, atomic_write, remove_leftovers};

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("keyward-persist-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn writes_replace_the_whole_file() {
    let dir = scratch("replace");
    let path = dir.join("config.json");
    atomic_write(&path, b"{\"a\":1}").unwrap();
    atomic_write(&path, b"{}").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"{}");
    let leftovers: Vec<_> = fs::read_dir(&dir).unwrap().flatten().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file stays behind");
}

#[test]
fn a_crash_before_the_rename_leaves_the_old_file_and_a_removable_leftover() {
    let dir = scratch("crash");
    let path = dir.join("config.json");
    atomic_write(&path, b"{\"old\":true}").unwrap();
    // A crash mid-write: a half-written temporary file, never renamed.
    fs::write(
        dir.join(format!(".config.json.1.1{TEMP_SUFFIX}")),
        b"{\"new\":tr",
    )
    .unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"{\"old\":true}");
    assert_eq!(remove_leftovers(&dir).unwrap(), 1);
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
}

#[test]
fn a_failed_write_leaves_the_old_file() {
    let dir = scratch("fail");
    let path = dir.join("config.json");
    atomic_write(&path, b"old").unwrap();
    // Writing to a path whose parent is a file fails before touching the target.
    let bad = path.join("child.json");
    assert!(atomic_write(&bad, b"new").is_err());
    assert_eq!(fs::read(&path).unwrap(), b"old");
}

#[test]
fn files_are_private_to_the_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("modes");
    let path = dir.join("data").join("config.json");
    atomic_write(&path, b"{\"virtual_keys\": []}").unwrap();
    let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600, "the configuration holds secrets");
    assert_eq!(mode(&dir.join("data")), 0o700);
}
