//! Link settings of the adapter binaries.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    if os == "linux" && env == "gnu" {
        // A position-independent binary relocates its pointer tables when it starts. With RELR
        // (`-z pack-relative-relocs`, GNU ld 2.38+ and glibc 2.36+) those relocations take a few
        // KiB instead of the ~450 KiB the loader would otherwise read, and keep resident, at
        // every start. (The x86_64 musl images are linked at a fixed address, see
        // scripts/build-images.sh: nothing to relocate.)
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    // The link order goes where GNU ld links: glibc builds, and the x86_64 musl images
    // (scripts/build-images.sh links them with musl-gcc). The arm64 images are linked by zig's
    // lld, with which it was never measured, so they are linked as they are.
    let gnu_ld = os == "linux" && (env == "gnu" || (env == "musl" && arch == "x86_64"));
    // ADAPTER_LINK_ORDER=0 links without it (to measure what it gains).
    let link_order = std::env::var("ADAPTER_LINK_ORDER").map_or(true, |v| v != "0");
    if gnu_ld && release && link_order {
        // The functions the adapter runs, side by side at the start of the code, so the pages
        // the kernel maps around them are few (tools/link-order/generate.sh).
        // Linked from a copy in OUT_DIR, not from the checkout: cargo gives a workspace crate
        // the same OUT_DIR whichever checkout it is built from (scripts/test-images.sh builds a
        // copy of the work tree into the same target directory), and keeps this script's
        // output while link/hot-text.ld is not newer, so a path into the checkout could name a
        // copy that is gone (`ld: cannot open linker script file`).
        let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
        let out = std::env::var("OUT_DIR").unwrap_or_default();
        let source = std::path::Path::new(&dir).join("link/hot-text.ld");
        let script = std::path::Path::new(&out).join("hot-text.ld");
        if let Err(e) = std::fs::copy(&source, &script) {
            panic!(
                "cannot copy {} to {}: {e}",
                source.display(),
                script.display()
            );
        }
        println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
        // The vSphere adapter's linker map, which tools/link-order/generate.sh reads and
        // tools/link-order/check.sh checks the list against (scripts/test-images.sh).
        if let Ok(map) = std::env::var("ADAPTER_LINK_MAP") {
            println!("cargo:rustc-link-arg-bin=vsphere-adapter=-Wl,-Map,{map}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link/hot-text.ld");
    println!("cargo:rerun-if-env-changed=ADAPTER_LINK_MAP");
    println!("cargo:rerun-if-env-changed=ADAPTER_LINK_ORDER");
}
