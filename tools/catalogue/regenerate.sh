#!/usr/bin/env bash
# Regenerate crates/vsphere-client/src/catalogue/generated.rs from the pinned inputs.
#
#   tools/catalogue/regenerate.sh           fetch the inputs (once) and rewrite generated.rs
#   tools/catalogue/regenerate.sh --check   fail if generated.rs is not what the inputs give
#
# Inputs, cached under ${VMWARE_SOURCES_CACHE:-$HOME/.cache/vmware-sources}/catalogue/:
#   * the pyVmomi wheel (pip download, hash-pinned);
#   * govmomi's vim25/types/{types.go,enum.go,if.go} (go mod download, checked by the Go
#     checksum database), copied out of the Go module cache.
# Needs python3; pip and go only when the cache is empty.
set -euo pipefail

PYVMOMI_VERSION=9.1.1.0
PYVMOMI_WHEEL=pyvmomi-${PYVMOMI_VERSION}-py3-none-any.whl
PYVMOMI_SHA256=76af3cba85573769daf4e6760aace32e7af34e1bbf343895b8c4798b6bc0e2d2
GOVMOMI_MODULE=github.com/vmware/govmomi
GOVMOMI_VERSION=v0.24.1-0.20210127152625-854ba4efe87e
GO_FILES=(types.go enum.go if.go)

die() {
    echo "regenerate.sh: error: $*" >&2
    exit 1
}
log() {
    echo "regenerate.sh: $*" >&2
}

check=0
case "${1:-}" in
"") ;;
--check) check=1 ;;
-h | --help)
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
*) die "unknown argument '$1' (usage: $0 [--check])" ;;
esac

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GENERATOR="$ROOT/tools/catalogue/generate.py"
OUTPUT="$ROOT/crates/vsphere-client/src/catalogue/generated.rs"
CACHE="${VMWARE_SOURCES_CACHE:-$HOME/.cache/vmware-sources}/catalogue"
GOVMOMI_CACHE="$CACHE/govmomi@$GOVMOMI_VERSION"

command -v python3 >/dev/null 2>&1 || die "python3 not found; install Python 3 (standard library only is needed)"
mkdir -p "$CACHE"

work=$(mktemp -d "${TMPDIR:-/tmp}/vmware-sources-catalogue.XXXXXX")
trap 'rm -rf "$work"' EXIT

sha256_of() {
    python3 -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"
}

# --- pyVmomi wheel -------------------------------------------------------------------------
wheel="$CACHE/$PYVMOMI_WHEEL"
if [[ -f "$wheel" && "$(sha256_of "$wheel")" != "$PYVMOMI_SHA256" ]]; then
    log "cached $PYVMOMI_WHEEL has the wrong sha256; fetching it again"
    rm -f "$wheel"
fi
if [[ ! -f "$wheel" ]]; then
    if python3 -m pip --version >/dev/null 2>&1; then
        pip=(python3 -m pip)
    elif command -v pip3 >/dev/null 2>&1; then
        pip=(pip3)
    elif command -v pip >/dev/null 2>&1; then
        pip=(pip)
    else
        die "pip not found (needed once to download pyvmomi==$PYVMOMI_VERSION); install pip, e.g. 'python3 -m ensurepip --user' or your distribution's python3-pip"
    fi
    log "downloading pyvmomi==$PYVMOMI_VERSION into $CACHE"
    echo "pyvmomi==$PYVMOMI_VERSION --hash=sha256:$PYVMOMI_SHA256" >"$work/requirements.txt"
    "${pip[@]}" download --quiet --no-deps --only-binary=:all: --require-hashes \
        -r "$work/requirements.txt" -d "$work/wheel" ||
        die "pip download of pyvmomi==$PYVMOMI_VERSION failed"
    [[ -f "$work/wheel/$PYVMOMI_WHEEL" ]] || die "pip did not produce $PYVMOMI_WHEEL"
    mv "$work/wheel/$PYVMOMI_WHEEL" "$wheel"
fi

# --- govmomi vim25/types ---------------------------------------------------------------------
have_go_files() {
    local f
    for f in "${GO_FILES[@]}"; do
        [[ -f "$GOVMOMI_CACHE/vim25/types/$f" ]] || return 1
    done
}
if ! have_go_files; then
    command -v go >/dev/null 2>&1 ||
        die "go not found (needed once to download $GOVMOMI_MODULE@$GOVMOMI_VERSION); install Go from https://go.dev/dl/"
    log "downloading $GOVMOMI_MODULE@$GOVMOMI_VERSION"
    # Outside any module, so the command works from anywhere.
    json=$(cd "$work" && GOPROXY=https://proxy.golang.org GOFLAGS=-mod=mod \
        go mod download -json "$GOVMOMI_MODULE@$GOVMOMI_VERSION") ||
        die "go mod download of $GOVMOMI_MODULE@$GOVMOMI_VERSION failed: $json"
    dir=$(printf '%s' "$json" | python3 -c 'import json, sys; d = json.load(sys.stdin); sys.exit(d.get("Error")) if d.get("Error") else print(d["Dir"])') ||
        die "go mod download reported no Dir: $json"
    rm -rf "$GOVMOMI_CACHE.tmp"
    mkdir -p "$GOVMOMI_CACHE.tmp/vim25/types"
    for f in "${GO_FILES[@]}"; do
        [[ -f "$dir/vim25/types/$f" ]] || die "$dir/vim25/types/$f missing from the downloaded module"
        cp "$dir/vim25/types/$f" "$GOVMOMI_CACHE.tmp/vim25/types/$f"
        chmod u+w "$GOVMOMI_CACHE.tmp/vim25/types/$f" # the Go module cache is read-only
    done
    rm -rf "$GOVMOMI_CACHE"
    mv "$GOVMOMI_CACHE.tmp" "$GOVMOMI_CACHE"
fi

# --- generate ----------------------------------------------------------------------------------
# The module is #[rustfmt::skip]: the generator's layout is the committed layout.
generated="$work/generated.rs"
python3 "$GENERATOR" --wheel "$wheel" --govmomi "$GOVMOMI_CACHE" --out "$generated" ||
    die "generate.py failed"

if [[ $check -eq 1 ]]; then
    if [[ ! -f "$OUTPUT" ]]; then
        die "${OUTPUT#"$ROOT"/} is missing; run tools/catalogue/regenerate.sh"
    fi
    if ! cmp -s "$generated" "$OUTPUT"; then
        diff -u "$OUTPUT" "$generated" | head -n 40 | cut -c1-200 >&2 || true
        die "${OUTPUT#"$ROOT"/} is out of date with tools/catalogue/generate.py and its inputs; run tools/catalogue/regenerate.sh"
    fi
    log "${OUTPUT#"$ROOT"/} is up to date"
else
    if [[ -f "$OUTPUT" ]] && cmp -s "$generated" "$OUTPUT"; then
        log "${OUTPUT#"$ROOT"/} unchanged"
    else
        cp "$generated" "$OUTPUT"
        log "wrote ${OUTPUT#"$ROOT"/}"
    fi
fi
