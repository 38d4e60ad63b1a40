#!/usr/bin/env bash
# Builds the `kn vsphere` plugin (the kn-vsphere binary) for Linux (amd64, arm64), macOS (amd64,
# arm64) and Windows (amd64), cross-compiled on this Linux machine, with a SHA256SUMS file.
#
# Usage:
#   scripts/build-cli.sh [--out DIR] [--platforms LIST] [--quick] [--target-dir DIR]
#
#   --out DIR          where the binaries go (default: target/cli)
#   --platforms LIST   comma-separated, of linux/amd64, linux/arm64, darwin/amd64, darwin/arm64,
#                      windows/amd64 (default: all five)
#   --quick            no optimisation, no link-time optimisation, parallel code generation:
#                      much faster builds, binaries twice as large (scripts/test-cli.sh uses
#                      it; a release does not)
#   --target-dir DIR   cargo's target directory (default: target/cli-build, or
#                      target/cli-quick with --quick, apart from the images' builds)
#
# Writes DIR/kn-vsphere-<os>-<arch> (.exe for Windows) and DIR/SHA256SUMS, which
# `sha256sum -c SHA256SUMS` checks (docs/operator-guide.md, "Install the kn plugin").
# `kn-vsphere version` prints the build date (SOURCE_DATE_EPOCH, default: the last commit's time)
# and the git revision (the commit, with -dirty for a modified work tree), passed to the build
# as KN_VSPHERE_BUILD_DATE and KN_VSPHERE_GIT_REVISION.
#
# How each platform links (what works on this machine, without any SDK download):
#   linux/*    static musl binaries, zig as the C compiler and linker (cargo-zigbuild);
#   windows/*  x86_64-pc-windows-gnu, zig's MinGW-w64 libraries (no DLL beyond Windows' own);
#   darwin/*   zig's Mach-O linker with its libSystem, and for the two frameworks rustls'
#              platform verifier calls (Security, CoreFoundation) the text stubs committed in
#              tools/macos-sdk-stubs (the symbols the binary uses, bound to the frameworks'
#              install names); minimum macOS 10.12 (amd64), 11.0 (arm64); arm64 ad-hoc signed.
#              When a dependency starts using another framework symbol, the link fails naming
#              it: add it to the stub (tools/macos-sdk-stubs/README.md).
# Needs: rustup's targets for the five (scripts/install-test-deps.sh adds them, or this script
# does), python3 (zig and cargo-zigbuild come from PyPI, pinned below, into the cache).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_DIR="${VMWARE_SOURCES_CACHE:-$HOME/.cache/vmware-sources}"
# The same zig toolchain as scripts/build-images.sh (one venv in the cache serves both).
readonly ZIGLANG_VERSION=0.17.0
readonly CARGO_ZIGBUILD_VERSION=0.24.0
readonly ALL_PLATFORMS="linux/amd64,linux/arm64,darwin/amd64,darwin/arm64,windows/amd64"

die() {
    printf 'build-cli.sh: error: %s\n' "$*" >&2
    exit 1
}
log() {
    printf 'build-cli.sh: %s\n' "$*" >&2
}

out="$REPO_ROOT/target/cli"
platforms=$ALL_PLATFORMS
quick=0
target_dir=""
while [[ $# -gt 0 ]]; do
    case "$1" in
    --out) out=${2:?--out needs a directory}; shift ;;
    --platforms) platforms=${2:?--platforms needs a list}; shift ;;
    --quick) quick=1 ;;
    --target-dir) target_dir=${2:?--target-dir needs a directory}; shift ;;
    -h | --help)
        sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

# triple PLATFORM: the Rust target; file PLATFORM: the binary's name.
triple() {
    case "$1" in
    linux/amd64) echo x86_64-unknown-linux-musl ;;
    linux/arm64) echo aarch64-unknown-linux-musl ;;
    darwin/amd64) echo x86_64-apple-darwin ;;
    darwin/arm64) echo aarch64-apple-darwin ;;
    windows/amd64) echo x86_64-pc-windows-gnu ;;
    *) die "unsupported platform '$1' (use: ${ALL_PLATFORMS//,/, })" ;;
    esac
}
binary_name() {
    local os=${1%/*} arch=${1#*/}
    if [[ $os == windows ]]; then
        echo "kn-vsphere-$os-$arch.exe"
    else
        echo "kn-vsphere-$os-$arch"
    fi
}

IFS=, read -r -a wanted <<<"$platforms"
[[ ${#wanted[@]} -gt 0 ]] || die "--platforms is empty"
for p in "${wanted[@]}"; do triple "$p" >/dev/null; done

cd "$REPO_ROOT"
if [[ -z "$target_dir" ]]; then
    target_dir="$REPO_ROOT/target/cli-build"
    [[ $quick -eq 0 ]] || target_dir="$REPO_ROOT/target/cli-quick"
fi
mkdir -p "$target_dir" "$out"
target_dir=$(cd "$target_dir" && pwd)
out=$(cd "$out" && pwd)

# What `kn-vsphere version` prints.
if [[ -z "${SOURCE_DATE_EPOCH:-}" ]]; then
    SOURCE_DATE_EPOCH=$(git -C "$REPO_ROOT" log -1 --format=%ct 2>/dev/null) ||
        die "not a git checkout: set SOURCE_DATE_EPOCH"
fi
build_date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
revision=${SOURCE_REVISION:-$(git -C "$REPO_ROOT" rev-parse --short=12 HEAD)}
if [[ -z "${SOURCE_REVISION:-}" ]] && ! git -C "$REPO_ROOT" diff --quiet HEAD -- 2>/dev/null; then
    revision+="-dirty"
fi

# zig and cargo-zigbuild in a venv under the cache (as scripts/build-images.sh installs them).
venv="$CACHE_DIR/zig-$ZIGLANG_VERSION-zigbuild-$CARGO_ZIGBUILD_VERSION"
if [[ ! -x "$venv/bin/cargo-zigbuild" ]]; then
    log "installing ziglang $ZIGLANG_VERSION and cargo-zigbuild $CARGO_ZIGBUILD_VERSION from PyPI into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    "$venv/bin/pip" install --quiet "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION" ||
        die "pip install ziglang cargo-zigbuild failed"
fi
export PATH="$venv/bin:$PATH"

installed_targets=$(rustup target list --installed) || die "rustup is needed"
cargo_home=${CARGO_HOME:-$HOME/.cargo}
profile_env=()
quick_config=()
if [[ $quick -eq 1 ]]; then
    # Not optimised either: a cold build of one platform took 175 cpu-s instead of 283
    # (darwin/amd64; the binary is twice as large), and what the quick builds are for (they link
    # for each platform, run, import only system libraries) does not depend on it.
    profile_env=(CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=0)
    # Nor the packages the release profile optimises for speed ([profile.release.package.NAME]
    # in Cargo.toml, which the variable above does not reach): vsphere-client at opt-level 3
    # cost ~18 of a platform's ~190 CPU seconds (x86_64, kn-vsphere from scratch).
    while read -r package; do
        quick_config+=(--config "profile.release.package.$package.opt-level=0")
    done < <(sed -n 's/^\[profile\.release\.package\.\([A-Za-z0-9_-]*\)\]$/\1/p' "$REPO_ROOT/Cargo.toml")
fi

build() {
    local platform=$1 t
    t=$(triple "$platform")
    if ! grep -qx "$t" <<<"$installed_targets"; then
        log "adding the Rust target $t (rustup)"
        rustup target add "$t" >&2 || die "rustup target add $t failed"
    fi
    local upper=${t//-/_}
    upper=${upper^^}
    # The checkout's, cargo's and the target directory's paths do not end up in the binary.
    local remap="--remap-path-prefix=$REPO_ROOT=/src --remap-path-prefix=$cargo_home=/cargo --remap-path-prefix=$target_dir=/target"
    local env=("CARGO_TARGET_${upper}_RUSTFLAGS=$remap")
    case "$platform" in
    darwin/amd64) env+=(SDKROOT="$REPO_ROOT/tools/macos-sdk-stubs" MACOSX_DEPLOYMENT_TARGET=10.12) ;;
    darwin/arm64) env+=(SDKROOT="$REPO_ROOT/tools/macos-sdk-stubs" MACOSX_DEPLOYMENT_TARGET=11.0) ;;
    esac
    log "building kn-vsphere for $platform ($t)"
    local start=$SECONDS
    env -u SOURCE_DATE_EPOCH "${env[@]}" "${profile_env[@]}" \
        KN_VSPHERE_BUILD_DATE="$build_date" KN_VSPHERE_GIT_REVISION="$revision" \
        cargo zigbuild "${quick_config[@]}" --release --locked --target "$t" --target-dir "$target_dir" \
        -p kn-vsphere --bin kn-vsphere ||
        die "building kn-vsphere for $platform failed"
    local suffix=""
    [[ $platform != windows/* ]] || suffix=".exe"
    cp "$target_dir/$t/release/kn-vsphere$suffix" "$out/$(binary_name "$platform")"
    log "kn-vsphere for $platform built in $((SECONDS - start))s: $out/$(binary_name "$platform")"
}

for p in "${wanted[@]}"; do
    build "$p"
done
(
    cd "$out"
    names=()
    for p in "${wanted[@]}"; do names+=("$(binary_name "$p")"); done
    sha256sum "${names[@]}" >SHA256SUMS.tmp
    mv SHA256SUMS.tmp SHA256SUMS
)
log "wrote $out/SHA256SUMS (kn-vsphere $build_date, revision $revision)"
cat "$out/SHA256SUMS"
