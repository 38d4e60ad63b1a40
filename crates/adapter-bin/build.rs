//! Link settings of the adapter binaries.

fn main() {
    // A position-independent binary relocates its pointer tables when it starts. With RELR
    // (`-z pack-relative-relocs`, GNU ld 2.38+ and glibc 2.36+) those relocations take a few
    // KiB instead of the ~450 KiB the loader would otherwise read, and keep resident, at every
    // start. Only for glibc targets: the musl images are linked as they are.
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
