//! The build script of the `*-previous` packages: compiles the shared sources at the contract's
//! previous patch level (`cfg(keyward_previous_patch)`, under which what the current patch
//! appended is left out). See `contract-levels/README.md`.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(keyward_previous_patch)");
    println!("cargo::rustc-cfg=keyward_previous_patch");
}
