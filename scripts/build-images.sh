#!/usr/bin/env bash
# Builds the project's container images without a container engine: static (musl) release
# binaries, assembled by tools/image/oci_image.py into OCI image layouts and `docker load`-able
# tarballs, reproducibly (same sources and toolchain, same digests).
#
# Usage:
#   scripts/build-images.sh [--out DIR] [--tag TAG] [--repository PREFIX] [--platforms LIST]
#                           [--target-dir DIR] [--no-build]
#
#   --out DIR          where the images go (default: target/images)
#   --tag TAG          the tag in the layouts and tarballs (default: the workspace version)
#   --repository P     the name prefix in the tarballs (default: vmware-sources), so that
#                      `docker load -i DIR/vsphere-adapter.tar` gives vmware-sources/vsphere-adapter:TAG
#   --platforms LIST   linux/amd64 (default), or linux/amd64,linux/arm64 for multi-platform
#                      images (arm64 is cross-compiled with zig, see below)
#   --target-dir DIR   cargo's target directory (default: cargo's own, target/)
#   --no-build         assemble from binaries already built (same options)
#
# Writes DIR/<image>/ (OCI layout), DIR/<image>.tar and DIR/digests (one `<image> sha256:<digest>`
# line each, the manifest's digest, or the image index's with several platforms), which
# `config/release.sh --images DIR` reads. The images: sources-controller, vsphere-adapter,
# horizon-adapter (the three release.yaml runs), list-vms (the bound Job of
# samples/vsphere-binding-job), and kn-vsphere when the workspace has that binary.
#
# What each image holds: its static binary at /<name> (the entrypoint), /etc/passwd and /etc/group
# with the user nonroot (65532, which the image runs as), a CA bundle at
# /etc/ssl/certs/ca-certificates.crt (Mozilla's, from the hash-pinned certifi wheel on PyPI),
# /tmp and /home/nonroot. No shell, no libc, no package manager.
#
# Needs: rustup's x86_64-unknown-linux-musl target (added here when missing), Debian's
# musl-tools (musl-gcc, for the C parts of ring and mimalloc), python3 with pip; for arm64
# also rustup's aarch64-unknown-linux-musl target and zig + cargo-zigbuild (both from PyPI, pinned
# below, installed here into the cache). scripts/install-test-deps.sh installs all of them.
#
# Reproducibility: the binaries are built with --locked and with the source and cargo home paths
# remapped (--remap-path-prefix, -ffile-prefix-map), so the checkout's location does not matter;
# image timestamps are SOURCE_DATE_EPOCH (default: the last commit's time) and the revision label
# SOURCE_REVISION (default: the commit, with -dirty for a modified work tree). The digests still
# depend on the Rust toolchain, musl-gcc, zig and zlib versions; scripts/test-images.sh builds
# twice in two checkouts and compares.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_DIR="${VMWARE_SOURCES_CACHE:-$HOME/.cache/vmware-sources}"

# Mozilla's CA bundle, as packaged on PyPI (certifi keeps every release).
readonly CERTIFI_VERSION=2026.10.18
readonly CERTIFI_SHA256=73191c47aaa79da394e8fee2dbc2ec827432cab56311122c9e47abf79e390f62
# The arm64 cross toolchain: zig as C compiler and linker for aarch64 musl.
readonly ZIGLANG_VERSION=0.17.0
readonly CARGO_ZIGBUILD_VERSION=0.24.0

die() {
    printf 'build-images.sh: error: %s\n' "$*" >&2
    exit 1
}
log() {
    printf 'build-images.sh: %s\n' "$*" >&2
}

out="$REPO_ROOT/target/images"
tag=""
repository="vmware-sources"
platforms="linux/amd64"
target_dir=""
build=1
while [[ $# -gt 0 ]]; do
    case "$1" in
    --out) out=$2; shift ;;
    --tag) tag=$2; shift ;;
    --repository) repository=$2; shift ;;
    --platforms) platforms=$2; shift ;;
    --target-dir) target_dir=$2; shift ;;
    --no-build) build=0 ;;
    -h | --help)
        sed -n '2,39p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

cd "$REPO_ROOT"
command -v python3 >/dev/null || die "python3 is needed"
if [[ -z "$tag" ]]; then
    tag=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
    [[ -n "$tag" ]] || die "no version in Cargo.toml's [workspace.package]; pass --tag"
fi
if [[ -z "${SOURCE_DATE_EPOCH:-}" ]]; then
    SOURCE_DATE_EPOCH=$(git -C "$REPO_ROOT" log -1 --format=%ct 2>/dev/null) ||
        die "not a git checkout: set SOURCE_DATE_EPOCH"
fi
[[ -n "$target_dir" ]] || target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
mkdir -p "$target_dir"
target_dir=$(cd "$target_dir" && pwd)

# The commit, with -dirty when the work tree differs from it (SOURCE_REVISION overrides).
if [[ -z "${SOURCE_REVISION:-}" ]]; then
    SOURCE_REVISION=$(git -C "$REPO_ROOT" rev-parse HEAD 2>/dev/null) || die "not a git checkout: set SOURCE_REVISION"
    if [[ -n "$(git -C "$REPO_ROOT" status --porcelain --untracked-files=no)" ]]; then
        SOURCE_REVISION+="-dirty"
    fi
fi
# What `kn-vsphere version` prints: the commit's time and the revision.
KN_VSPHERE_BUILD_DATE=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)

# The images: NAME PACKAGE EXPOSED-PORT (the command line tools expose none).
images=(
    "sources-controller controller-bin 9090"
    "vsphere-adapter adapter-bin 9090"
    "horizon-adapter adapter-bin 9090"
    "list-vms examples -"
)
# kn-vsphere, when the workspace has it.
kn_package=$(cargo metadata --format-version 1 --no-deps | python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    if any(t["name"] == "kn-vsphere" and "bin" in t["kind"] for t in p["targets"]):
        print(p["name"])')
if [[ -n "$kn_package" ]]; then
    images+=("kn-vsphere $kn_package -")
fi

ca_bundle() {
    local dir="$CACHE_DIR/image/certifi-$CERTIFI_VERSION"
    if [[ ! -f "$dir/cacert.pem" ]]; then
        log "downloading certifi $CERTIFI_VERSION (Mozilla's CA bundle) from PyPI"
        local tmp
        tmp=$(mktemp -d)
        printf 'certifi==%s --hash=sha256:%s\n' "$CERTIFI_VERSION" "$CERTIFI_SHA256" >"$tmp/req.txt"
        python3 -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
            -r "$tmp/req.txt" -d "$tmp" || die "pip download certifi==$CERTIFI_VERSION failed"
        mkdir -p "$dir"
        python3 - "$tmp"/certifi-*.whl "$dir/cacert.pem" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2] + ".tmp", "wb") as out:
    out.write(z.read("certifi/cacert.pem"))
PY
        mv "$dir/cacert.pem.tmp" "$dir/cacert.pem"
        rm -rf "$tmp"
    fi
    printf '%s\n' "$dir/cacert.pem"
}

# zig_env: puts zig and cargo-zigbuild (a virtualenv in the cache) on PATH.
zig_env() {
    local venv="$CACHE_DIR/zig-$ZIGLANG_VERSION-zigbuild-$CARGO_ZIGBUILD_VERSION"
    if [[ ! -x "$venv/bin/cargo-zigbuild" ]]; then
        log "installing ziglang $ZIGLANG_VERSION and cargo-zigbuild $CARGO_ZIGBUILD_VERSION from PyPI into $venv"
        rm -rf "$venv"
        python3 -m venv "$venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
        "$venv/bin/pip" install --quiet "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION" ||
            die "pip install ziglang cargo-zigbuild failed"
    fi
    export PATH="$venv/bin:$PATH"
}

# rust_target PLATFORM: the Rust target triple of an image platform.
rust_target() {
    case "$1" in
    linux/amd64) echo x86_64-unknown-linux-musl ;;
    linux/arm64) echo aarch64-unknown-linux-musl ;;
    *) die "unsupported platform $1 (linux/amd64, linux/arm64)" ;;
    esac
}

cargo_home=${CARGO_HOME:-$HOME/.cargo}
build_platform() {
    local platform=$1 triple
    triple=$(rust_target "$platform")
    if ! rustup target list --installed | grep -qx "$triple"; then
        log "adding the Rust target $triple (rustup)"
        rustup target add "$triple" || die "rustup target add $triple failed"
    fi
    local upper=${triple//-/_}
    upper=${upper^^}
    # Paths in the binaries: the checkout becomes /src, cargo's home /cargo, the target
    # directory /target. Only the workspace's own crates are compiled from the checkout, so its
    # remapping goes to them alone, through RUSTC_WORKSPACE_WRAPPER: the dependencies' flags
    # (RUSTFLAGS, CFLAGS) then do not name the checkout, and a build of another checkout into
    # the same target directory reuses their artifacts (scripts/test-images.sh's second build).
    # Cargo hashes the wrapper as named into the workspace crates' metadata (and so their
    # symbols): it is named as a command on PATH, never by its path, which differs by checkout.
    # Later prefixes win: a target directory inside the checkout still becomes /target.
    local rustflags="--remap-path-prefix=$cargo_home=/cargo --remap-path-prefix=$target_dir=/target"
    # x86_64: a static executable at a fixed address rather than a static PIE, so nothing is
    # relocated at start: the loader neither reads the ~450 KiB of relocations nor writes to the
    # ~380 KiB of pointer tables they patch (README, "What keeps the adapter small").
    [[ $triple == x86_64-unknown-linux-musl ]] && rustflags+=" -C relocation-model=static"
    local cflags="-ffile-prefix-map=$cargo_home=/cargo -ffile-prefix-map=$target_dir=/target"
    # mimalloc prints its build time (__DATE__, __TIME__): gcc would take it from
    # SOURCE_DATE_EPOCH, zig's clang takes the clock. Fixed values for both; SOURCE_DATE_EPOCH is
    # then kept away from cargo, whose build scripts would rebuild on every new commit time.
    cflags+=' -Wno-builtin-macro-redefined -D__DATE__="Jan-01-1970" -D__TIME__="00:00:00"'
    cflags+=' -D__TIMESTAMP__="reproducible"'
    local packages=() p
    for p in "${images[@]}"; do
        read -r _ pkg _ <<<"$p"
        [[ " ${packages[*]} " == *" -p $pkg "* ]] || packages+=(-p "$pkg")
    done
    local bins=() name
    for p in "${images[@]}"; do
        read -r name _ _ <<<"$p"
        bins+=(--bin "$name")
    done
    local cmd=(cargo build)
    if [[ $platform == linux/arm64 ]]; then
        zig_env
        cmd=(cargo zigbuild)
    else
        command -v musl-gcc >/dev/null ||
            die "musl-gcc was not found: it compiles the C parts (ring, mimalloc) for musl (Debian: apt-get install musl-tools)"
    fi
    log "building ${bins[*]} for $triple (release profile)"
    env -u SOURCE_DATE_EPOCH "CARGO_TARGET_${upper}_RUSTFLAGS=$rustflags" "CFLAGS_${triple//-/_}=$cflags" \
        PATH="$REPO_ROOT/tools/image:$PATH" RUSTC_WORKSPACE_WRAPPER=vmware-sources-rustc-remap \
        REMAP_WORKSPACE_FLAGS="--remap-path-prefix=$REPO_ROOT=/src --remap-path-prefix=$target_dir=/target" \
        KN_VSPHERE_BUILD_DATE="$KN_VSPHERE_BUILD_DATE" KN_VSPHERE_GIT_REVISION="$SOURCE_REVISION" \
        "${cmd[@]}" --release --locked --target "$triple" --target-dir "$target_dir" \
        "${packages[@]}" "${bins[@]}"
}

IFS=, read -r -a platform_list <<<"$platforms"
if [[ $build -eq 1 ]]; then
    for platform in "${platform_list[@]}"; do
        build_platform "$platform"
    done
fi

cacert=$(ca_bundle)
mkdir -p "$out"
: >"$out/digests.tmp"
for spec in "${images[@]}"; do
    read -r name _ port <<<"$spec"
    args=(--name "$name" --tag "$tag" --repository "$repository" --ca-bundle "$cacert"
        --created "$SOURCE_DATE_EPOCH" --out "$out"
        --label "org.opencontainers.image.source=https://github.com/vmware-sources/vmware-sources"
        --label "org.opencontainers.image.revision=$SOURCE_REVISION")
    [[ $port == - ]] || args+=(--port "$port")
    for platform in "${platform_list[@]}"; do
        bin="$target_dir/$(rust_target "$platform")/release/$name"
        [[ -f "$bin" ]] || die "$bin is missing (build without --no-build first)"
        args+=(--binary "$platform=$bin")
    done
    python3 "$REPO_ROOT/tools/image/oci_image.py" "${args[@]}" | tee -a "$out/digests.tmp"
done
mv "$out/digests.tmp" "$out/digests"
log "images in $out (digests: $out/digests)"
