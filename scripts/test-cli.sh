#!/usr/bin/env bash
# Builds the `kn vsphere` binaries for the five platforms (scripts/build-cli.sh --quick) and
# checks them: the SHA256SUMS file; the Linux ones run (arm64 under qemu-aarch64-static) with
# `--help` and `version` (the build date and git revision the build was given, not `unknown`),
# and through the real `kn` from its plugins directory, as the install instructions put it; the
# macOS and Windows ones by file type (`file`) and by what they import (system libraries only),
# their minimum macOS version and, for arm64 macOS, the ad-hoc code signature.
#
# Usage:
#   scripts/test-cli.sh [--dir DIR] [--no-build]
#
#   --dir DIR    where the binaries are built and checked (default: target/cli-test)
#   --no-build   check what DIR already holds
#
# The builds go to a target directory in the cache (~/.cache/vmware-sources/cli-build/<key of
# Cargo.lock and the toolchain>), so the dependencies of the five targets compile once.
#
# Needs what scripts/build-cli.sh needs, plus `file`, `sha256sum`, qemu-aarch64-static and kn
# (scripts/install-test-deps.sh installs them; kn from KN_BIN or the cache).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_DIR="${VMWARE_SOURCES_CACHE:-$HOME/.cache/vmware-sources}"

dir="$REPO_ROOT/target/cli-test"
build=1
while [[ $# -gt 0 ]]; do
    case "$1" in
    --dir) dir=${2:?--dir needs a directory}; shift ;;
    --no-build) build=0 ;;
    -h | --help)
        awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
        exit 0
        ;;
    *) echo "test-cli.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

passed=0
failed=0
ok() {
    passed=$((passed + 1))
    printf 'ok: %s\n' "$*"
}
fail() {
    failed=$((failed + 1))
    printf 'FAILED: %s\n' "$*"
}
# check NAME COMMAND...: a check that passes when COMMAND succeeds.
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else fail "$name"; fi
}

for tool in file sha256sum python3; do
    command -v "$tool" >/dev/null || { echo "test-cli.sh: $tool is needed" >&2; exit 1; }
done
qemu=$(command -v qemu-aarch64-static || true)
[[ -n "$qemu" ]] || { echo "test-cli.sh: qemu-aarch64-static is needed (scripts/install-test-deps.sh)" >&2; exit 1; }
kn=${KN_BIN:-$CACHE_DIR/bin/kn}
[[ -x "$kn" ]] || { echo "test-cli.sh: kn not found ($kn): run scripts/install-test-deps.sh" >&2; exit 1; }

# The values build-cli.sh embeds (the same defaults: the last commit's time and the commit).
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$REPO_ROOT" log -1 --format=%ct)}
export SOURCE_REVISION=${SOURCE_REVISION:-test-$(git -C "$REPO_ROOT" rev-parse --short=12 HEAD)}
build_date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$REPO_ROOT/Cargo.toml")

start=$SECONDS
if [[ $build -eq 1 ]]; then
    # The five cross builds' dependencies are compiled once per Cargo.lock and toolchain and kept
    # in the cache (a fresh checkout then compiles only the workspace's crates); other keys'
    # directories are removed.
    # (The profile is part of the key: build-cli.sh --quick changing it leaves no stale artifacts.)
    key=$( (cat "$REPO_ROOT/Cargo.lock" "$REPO_ROOT/rust-toolchain.toml"; echo "build-cli.sh --quick: opt-level 0, per-package overrides too") |
        sha256sum | cut -c1-16)
    cli_target="$CACHE_DIR/cli-build/$key"
    mkdir -p "$CACHE_DIR/cli-build"
    find "$CACHE_DIR/cli-build" -mindepth 1 -maxdepth 1 -type d ! -name "$key" -exec rm -rf {} +
    "$REPO_ROOT/scripts/build-cli.sh" --quick --out "$dir" --target-dir "$cli_target"
fi
echo "build: $((SECONDS - start))s"

check "SHA256SUMS lists the five binaries and matches them" \
    bash -c "cd '$dir' && [[ \$(wc -l <SHA256SUMS) -eq 5 ]] && sha256sum --quiet -c SHA256SUMS"

# file_is NAME PATTERN: `file`'s description of the binary matches PATTERN (an extended regex).
file_is() {
    local what
    what=$(file -b "$dir/$1")
    if grep -Eq "$2" <<<"$what"; then
        ok "$1: $what"
    else
        fail "$1: '$what' does not match /$2/"
    fi
}
file_is kn-vsphere-linux-amd64 '^ELF 64-bit LSB (pie )?executable, x86-64, .*(statically|static-pie) linked'
file_is kn-vsphere-linux-arm64 '^ELF 64-bit LSB (pie )?executable, ARM aarch64, .*(statically|static-pie) linked'
file_is kn-vsphere-darwin-amd64 '^Mach-O 64-bit x86_64 executable'
file_is kn-vsphere-darwin-arm64 '^Mach-O 64-bit arm64 executable'
file_is kn-vsphere-windows-amd64.exe '^PE32\+ executable \(console\) x86-64.*MS Windows'

# run_plugin NAME [RUNNER]: --help and version of a Linux binary.
run_plugin() {
    local name=$1 runner=${2:-}
    local bin="$dir/$name" help version
    if help=$($runner "$bin" --help 2>&1) && grep -q "Knative plugin to create Knative compatible Event Sources" <<<"$help"; then
        ok "$name --help"
    else
        fail "$name --help: $help"
    fi
    version=$($runner "$bin" version 2>&1) || true
    local want
    want=$(printf 'Version:      v%s\nBuild Date:   %s\nGit Revision: %s' "$version_wanted" "$build_date" "$SOURCE_REVISION")
    if [[ "$version" == "$want" ]]; then
        ok "$name version: $(tr '\n' ' ' <<<"$version")"
    else
        fail "$name version: got '$version', want '$want'"
    fi
}
version_wanted=$version
run_plugin kn-vsphere-linux-amd64
run_plugin kn-vsphere-linux-arm64 "$qemu"

# The install instructions: the binary as kn-vsphere in kn's plugins directory, not on PATH.
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
mkdir -p "$home/.config/kn/plugins"
cp "$dir/kn-vsphere-linux-amd64" "$home/.config/kn/plugins/kn-vsphere"
via_kn=$(HOME=$home PATH=/usr/bin:/bin "$kn" vsphere version 2>&1) || true
if grep -qx "Git Revision: $SOURCE_REVISION" <<<"$via_kn"; then
    ok "kn vsphere version runs the plugin from ~/.config/kn/plugins"
else
    fail "kn vsphere version from the plugins directory: $via_kn"
fi
listed=$(HOME=$home PATH=/usr/bin:/bin "$kn" plugin list 2>&1) || true
if grep -q "kn-vsphere" <<<"$listed"; then ok "kn plugin list shows kn-vsphere"; else fail "kn plugin list: $listed"; fi

# What the macOS and Windows binaries import, their minimum macOS and the arm64 signature.
imports=$(python3 - "$dir" <<'PY'
import struct, sys, os
d = sys.argv[1]
def macho(path):
    data = open(path, "rb").read()
    magic, cpu, _, _, ncmds, _, _, _ = struct.unpack("<IiiIIIII", data[:32])
    assert magic == 0xFEEDFACF, "not a 64-bit Mach-O"
    off, dylibs, minos, signed = 32, [], None, False
    for _ in range(ncmds):
        cmd, size = struct.unpack("<II", data[off:off + 8])
        if cmd in (0xC, 0x80000018):  # LC_LOAD_DYLIB, LC_LOAD_WEAK_DYLIB
            name_off = struct.unpack("<I", data[off + 8:off + 12])[0]
            dylibs.append(data[off + name_off:off + size].split(b"\0")[0].decode())
        elif cmd in (0x32, 0x24):  # LC_BUILD_VERSION; LC_VERSION_MIN_MACOSX (before 10.14)
            at = off + (12 if cmd == 0x32 else 8)
            m = struct.unpack("<I", data[at:at + 4])[0]
            minos = f"{m >> 16}.{(m >> 8) & 0xFF}"
        elif cmd == 0x1D:  # LC_CODE_SIGNATURE
            signed = True
        off += size
    return dylibs, minos, signed
def pe_imports(path):
    data = open(path, "rb").read()
    pe = struct.unpack("<I", data[0x3C:0x40])[0]
    nsec = struct.unpack("<H", data[pe + 6:pe + 8])[0]
    opt_size = struct.unpack("<H", data[pe + 20:pe + 22])[0]
    opt = pe + 24
    import_rva = struct.unpack("<I", data[opt + 120:opt + 124])[0]  # PE32+ data directory 1
    sections = []
    for i in range(nsec):
        s = opt + opt_size + 40 * i
        vsize, va, rsize, raw = struct.unpack("<IIII", data[s + 8:s + 24])
        sections.append((va, max(vsize, rsize), raw))
    def at(rva):
        for va, size, raw in sections:
            if va <= rva < va + size:
                return rva - va + raw
        raise ValueError(hex(rva))
    names, off = [], at(import_rva)
    while True:
        name_rva = struct.unpack("<I", data[off + 12:off + 16])[0]
        if name_rva == 0:
            return names
        n = at(name_rva)
        names.append(data[n:data.index(b"\0", n)].decode().lower())
        off += 20
for arch in ("amd64", "arm64"):
    dylibs, minos, signed = macho(os.path.join(d, f"kn-vsphere-darwin-{arch}"))
    print(f"darwin-{arch} minos={minos} signed={signed} imports={','.join(dylibs)}")
print("windows-amd64 imports=" + ",".join(pe_imports(os.path.join(d, "kn-vsphere-windows-amd64.exe"))))
PY
) || { fail "reading the Mach-O and PE headers"; imports=""; }
echo "$imports"
system_only() {
    local line=$1
    local libs=${line##*imports=}
    [[ -n "$libs" ]] || return 1
    local lib
    IFS=, read -r -a list <<<"$libs"
    for lib in "${list[@]}"; do
        case "$lib" in
        /usr/lib/* | /System/Library/Frameworks/*) ;;
        # Windows' own DLLs (no MinGW runtime DLL may be needed).
        kernel32.dll | ntdll.dll | ws2_32.dll | advapi32.dll | bcrypt.dll | bcryptprimitives.dll | \
            crypt32.dll | secur32.dll | ncrypt.dll | userenv.dll | shell32.dll | ole32.dll | \
            oleaut32.dll | user32.dll | msvcrt.dll | ucrtbase.dll | api-ms-win-*) ;;
        *) echo "  not a system library: $lib"; return 1 ;;
        esac
    done
}
darwin_amd64=$(grep '^darwin-amd64 ' <<<"$imports" || true)
darwin_arm64=$(grep '^darwin-arm64 ' <<<"$imports" || true)
windows=$(grep '^windows-amd64 ' <<<"$imports" || true)
check "darwin-amd64 imports system libraries only" system_only "$darwin_amd64"
check "darwin-arm64 imports system libraries only" system_only "$darwin_arm64"
check "windows-amd64 imports Windows DLLs only" system_only "$windows"
check "darwin-amd64 runs on macOS 10.12 and later" grep -q 'minos=10.12 ' <<<"$darwin_amd64"
check "darwin-arm64 runs on macOS 11.0 and later, ad-hoc signed" grep -q 'minos=11.0 signed=True ' <<<"$darwin_arm64"

echo "test-cli.sh: $((SECONDS - start))s"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
