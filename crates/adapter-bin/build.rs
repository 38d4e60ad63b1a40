//! Link settings of the adapter binaries.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    // Only for glibc targets: the musl images are linked as they are.
    if os == "linux" && env == "gnu" {
        // A position-independent binary relocates its pointer tables when it starts. With RELR
        // (`-z pack-relative-relocs`, GNU ld 2.38+ and glibc 2.36+) those relocations take a few
        // KiB instead of the ~450 KiB the loader would otherwise read, and keep resident, at
        // every start.
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
        // ADAPTER_LINK_ORDER=0 links without it (to measure what it gains).
        let link_order = std::env::var("ADAPTER_LINK_ORDER").map_or(true, |v| v != "0");
        if release && link_order {
            // The functions the adapter runs, side by side at the start of the code, so the
            // pages the kernel maps around them are few (tools/link-order/generate.sh).
            let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
            let script = std::path::Path::new(&dir).join("link/hot-text.ld");
            println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
            // The vSphere adapter's linker map, which tools/link-order/generate.sh reads.
            if let Ok(map) = std::env::var("ADAPTER_LINK_MAP") {
                println!("cargo:rustc-link-arg-bin=vsphere-adapter=-Wl,-Map,{map}");
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link/hot-text.ld");
    println!("cargo:rerun-if-env-changed=ADAPTER_LINK_MAP");
    println!("cargo:rerun-if-env-changed=ADAPTER_LINK_ORDER");
}
