#!/usr/bin/env bash
# Proves the release images: reproducible, readable by other tools, and able to start.
#
# Usage: scripts/test-images.sh [--platforms linux/amd64[,linux/arm64]] [--keep DIR] [--images DIR]
#
#   --keep DIR     work in DIR and leave it there (default: a temporary directory, removed)
#   --images DIR   skip step 1 and test the images scripts/build-images.sh wrote to DIR
#   --out DIR      copy the images of the first build there (what scripts/build-images.sh
#                  writes: layouts, tarballs, digests), e.g. for config/release.sh --images
#
#   1. builds the images (scripts/build-images.sh) twice: once in this checkout (checking the
#      amd64 adapter's link order with tools/link-order/check.sh), once in a copy
#      of the work tree at another path; both digests files and every tarball must be
#      byte-identical. What that proves: the same sources, Cargo.lock, toolchain and
#      SOURCE_DATE_EPOCH give the same images wherever the checkout lies. The second build
#      compiles every workspace crate and links every binary again (the copy's crates are other
#      packages to cargo), but shares the first build's target directory, so it reuses the
#      dependencies' compiled artifacts: build-images.sh keeps the checkout's path out of their
#      flags. (Whether rustc compiles a dependency the same way twice is not what this checks.)
#   2. reads every image with tools that are not ours: skopeo (the OCI layout and the
#      docker-archive tarball, which is what `docker load` reads) and umoci (unpacks the
#      layout into an OCI runtime bundle, translating the image config: user, entrypoint,
#      working directory, environment).
#   3. runs each linux/amd64 image's entrypoint with runc (a real OCI runtime, from Debian), as
#      the image's user 65532, with a read-only root, no capabilities and only a tmpfs at /tmp:
#        vsphere-adapter --simulate   prints a vSphere CloudEvent, then exits 0 on SIGTERM
#        horizon-adapter --simulate   prints a Horizon CloudEvent, then exits 0 on SIGTERM
#        sources-controller --help    exits 0 and names its environment (VSPHERE_ADAPTER)
#        list-vms                     lists the VMs of govmomi's vcsim (on the host's loopback,
#                                     so this one shares the host's network namespace)
#        kn-vsphere version           (when the workspace has it) prints the revision it was
#                                     built from (SOURCE_REVISION), not "unknown"
#      and, with linux/arm64, runs each arm64 binary from its unpacked image under
#      qemu-aarch64-static (Debian's qemu-user-static) the same way.
#
# Needs what scripts/install-test-deps.sh installs: runc, umoci, skopeo, musl-tools, the musl
# Rust targets (and qemu-user-static, zig for arm64). Run as root (runc).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
platforms="linux/amd64"
keep=""
images=""
out=""
while [[ $# -gt 0 ]]; do
    case "$1" in
    --platforms) platforms=$2; shift ;;
    --keep) keep=$2; shift ;;
    --images) images=$2; shift ;;
    --out) out=$2; shift ;;
    -h | --help)
        sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) echo "test-images.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

die() {
    printf 'test-images.sh: FAIL: %s\n' "$*" >&2
    exit 1
}
log() {
    printf 'test-images.sh: %s\n' "$*" >&2
}

CACHE_DIR="${VMWARE_SOURCES_CACHE:-$HOME/.cache/vmware-sources}"
VCSIM_BIN=${VCSIM_BIN:-$CACHE_DIR/bin/vcsim}
[[ -x "$VCSIM_BIN" ]] || die "vcsim is missing ($VCSIM_BIN): run scripts/install-test-deps.sh"
for tool in runc umoci skopeo python3; do
    command -v "$tool" >/dev/null || die "$tool is missing: run scripts/install-test-deps.sh"
done
[[ $(id -u) -eq 0 ]] || die "runc needs root here"

work=${keep:-$(mktemp -d "${TMPDIR:-/tmp}/vmware-sources-images.XXXXXX")}
mkdir -p "$work"
containers=()
vcsim_pid=""
cleanup() {
    local c
    if [[ -n "$vcsim_pid" ]]; then
        kill "$vcsim_pid" 2>/dev/null || true
        wait "$vcsim_pid" 2>/dev/null || true
    fi
    for c in "${containers[@]}"; do
        runc delete --force "$c" >/dev/null 2>&1 || true
    done
    if [[ -z "$keep" ]]; then
        rm -rf "$work"
    fi
}
trap cleanup EXIT

# The same inputs for both builds (the copy is no git checkout).
SOURCE_DATE_EPOCH=$(git -C "$REPO_ROOT" log -1 --format=%ct)
SOURCE_REVISION=$(git -C "$REPO_ROOT" rev-parse HEAD)
if [[ -n "$(git -C "$REPO_ROOT" status --porcelain --untracked-files=no)" ]]; then
    SOURCE_REVISION+="-dirty"
fi
export SOURCE_DATE_EPOCH SOURCE_REVISION

# 1. Two builds.
if [[ -n "$images" ]]; then
    log "testing the images in $images (not rebuilt: reproducibility is not checked)"
    rm -rf "$work/a"
    cp -a "$images" "$work/a"
else
start=$SECONDS
log "build 1 of 2: $REPO_ROOT (target/)"
# With the vSphere adapter's linker map: its link order is checked against it below. (A new
# path each run: the adapter's build script then runs, and the adapter links, again.)
ADAPTER_LINK_MAP="$work/vsphere-adapter.map" \
    "$REPO_ROOT/scripts/build-images.sh" --platforms "$platforms" --out "$work/a"
build1=$((SECONDS - start))
# The link order still names the functions the amd64 image's adapter has (crates/adapter-bin/
# build.rs links it there): a list gone stale after renames or dependency updates fails here,
# and tools/link-order/generate.sh makes a new one.
if [[ ",$platforms," == *",linux/amd64,"* ]]; then
    MAP="$work/vsphere-adapter.map" "$REPO_ROOT/tools/link-order/check.sh" ||
        die "crates/adapter-bin/link/hot-text.ld is stale: run tools/link-order/generate.sh"
fi

target_dir=$(cd "$REPO_ROOT" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
log "build 2 of 2: a copy of the work tree at $work/src, into the same target directory"
start=$SECONDS
mkdir -p "$work/src"
# Tracked and untracked-but-not-ignored files: what the first build compiled.
# Extracted with new modification times (-m): cargo then compiles every workspace crate again
# instead of taking the copy's sources for the ones it built from this checkout.
(cd "$REPO_ROOT" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [[ -e "$f" ]] && printf '%s\0' "$f"; done |
    tar --null -T - -cf -) | tar -xmf - -C "$work/src"
"$work/src/scripts/build-images.sh" --platforms "$platforms" --out "$work/b" --target-dir "$target_dir" \
    2>&1 | tee "$work/build2.log" >&2
build2=$((SECONDS - start))

diff -u "$work/a/digests" "$work/b/digests" || die "the two builds gave different digests"
while read -r name digest; do
    cmp "$work/a/$name.tar" "$work/b/$name.tar" || die "$name.tar differs between the builds"
done <"$work/a/digests"
log "reproducible: both builds gave the same digests and tarballs (build 1: ${build1}s, build 2: ${build2}s)"
# A second build that compiled nothing would prove nothing: every image's package was compiled
# again, from the copy.
for pkg in adapter-bin controller-bin examples vsphere-client; do
    grep -q "Compiling $pkg v.* ($work/src/" "$work/build2.log" ||
        die "build 2 did not compile $pkg from the copy (see $work/build2.log)"
done
rm -rf "$work/src" "$work/b"
fi

if [[ -n "$out" ]]; then
    rm -rf "$out"
    mkdir -p "$(dirname "$out")"
    cp -a "$work/a" "$out"
fi

tag=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"])' \
    "$work/a/sources-controller/index.json")

# 2. Other tools read them.
while read -r name digest; do
    skopeo inspect --raw "oci:$work/a/$name:$tag" >/dev/null || die "skopeo cannot read the layout of $name"
    skopeo inspect --raw "docker-archive:$work/a/$name.tar" >/dev/null ||
        die "skopeo cannot read $name.tar as a docker archive"
    # skopeo copies (and verifies every blob of) the tarball Docker's way.
    rm -rf "$work/copy"
    skopeo copy --quiet "docker-archive:$work/a/$name.tar" "oci:$work/copy:check" ||
        die "skopeo cannot copy $name.tar"
    log "$name: $digest: skopeo reads its layout and its docker archive"
done <"$work/a/digests"
rm -rf "$work/copy"

# edit_config BUNDLE PYTHON [ARG...]: runs the Python statements on the bundle's config.json,
# loaded as `c`, with the extra arguments in `args`, and saves it.
edit_config() {
    local dir=$1 code=$2
    shift 2
    python3 -c '
import json, sys
path, code, args = sys.argv[1], sys.argv[2], sys.argv[3:]
c = json.load(open(path))
exec(code)
json.dump(c, open(path, "w"), indent=1)
' "$dir/config.json" "$code" "$@"
}

# bundle NAME REF: unpacks the image with umoci into $work/bundle-NAME and hardens its config:
# read-only root, no capabilities, a tmpfs at /tmp, no terminal.
bundle() {
    local name=$1 ref=$2
    local dir="$work/bundle-$name"
    rm -rf "$dir"
    umoci unpack --image "$ref" "$dir" >/dev/null || die "umoci cannot unpack $ref"
    edit_config "$dir" '
p = c["process"]
assert p["user"]["uid"] == 65532 and p["user"]["gid"] == 65532, "image user is %s, not 65532" % p["user"]
p["terminal"] = False
p["capabilities"] = {k: [] for k in ("bounding", "effective", "inheritable", "permitted", "ambient")}
p["noNewPrivileges"] = True
c["root"]["readonly"] = True
c["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                    "options": ["nosuid", "nodev", "mode=1777", "size=16m"]})
' || die "the bundle of $name is not as the image should make it"
    printf '%s\n' "$dir"
}

# host_network BUNDLE: the container joins the host's network namespace (to reach a server on
# the host's loopback).
host_network() {
    edit_config "$1" 'c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "network"]'
}

# set_env BUNDLE NAME=VALUE...: adds environment variables.
set_env() {
    local dir=$1
    shift
    edit_config "$dir" 'c["process"]["env"] += args' "$@"
}

# start_vcsim: govmomi's vCenter simulator on a free loopback port; sets VCSIM_URL.
start_vcsim() {
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$VCSIM_BIN" -l "127.0.0.1:$port" >"$work/vcsim.log" 2>&1 &
    vcsim_pid=$!
    VCSIM_URL="https://127.0.0.1:$port/sdk"
    local i
    for ((i = 0; i < 300; i++)); do
        grep -q "export GOVC_URL" "$work/vcsim.log" 2>/dev/null && return 0
        kill -0 "$vcsim_pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$work/vcsim.log" >&2
    die "vcsim did not start"
}

# set_args BUNDLE ARGS...: the entrypoint (from the image) followed by ARGS.
set_args() {
    local dir=$1
    shift
    edit_config "$dir" 'c["process"]["args"] = c["process"]["args"][:1] + args' "$@"
}

# wait_for FILE REGEX PID: until a line of FILE matches, or the process PID exits.
wait_for() {
    local file=$1 regex=$2 pid=$3 i
    for ((i = 0; i < 600; i++)); do
        grep -Eqs "$regex" "$file" && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    grep -Eqs "$regex" "$file"
}

# run_until_event NAME CONTAINER BUNDLE REGEX: runs the bundle with runc until its standard
# output has a line matching REGEX, then stops it with SIGTERM; it must exit 0.
run_until_event() {
    local name=$1 id=$2 dir=$3 regex=$4
    containers+=("$id")
    runc run --bundle "$dir" "$id" </dev/null >"$work/$id.out" 2>"$work/$id.err" &
    local pid=$!
    if ! wait_for "$work/$id.out" "$regex" "$pid"; then
        runc kill "$id" KILL 2>/dev/null || true
        wait "$pid" || true
        tail -n 20 "$work/$id.err" >&2
        die "$name printed no line matching $regex"
    fi
    runc kill "$id" TERM
    local rc=0
    wait "$pid" || rc=$?
    [[ $rc -eq 0 ]] || { tail -n 20 "$work/$id.err" >&2; die "$name exited $rc after SIGTERM"; }
    log "$name: $(grep -Em1 "$regex" "$work/$id.out" | cut -c1-160)…"
}

# run_to_exit NAME CONTAINER BUNDLE REGEX: runs the bundle to its end; it must exit 0 and print
# a line matching REGEX.
run_to_exit() {
    local name=$1 id=$2 dir=$3 regex=$4
    containers+=("$id")
    local rc=0
    runc run --bundle "$dir" "$id" </dev/null >"$work/$id.out" 2>"$work/$id.err" || rc=$?
    [[ $rc -eq 0 ]] || { cat "$work/$id.err" >&2; die "$name exited $rc"; }
    grep -Eq "$regex" "$work/$id.out" || { cat "$work/$id.out" >&2; die "$name printed nothing matching $regex"; }
    log "$name: exit 0, $(grep -Em1 "$regex" "$work/$id.out" | cut -c1-160)"
}

VSPHERE_EVENT='"specversion":"1.0".*"type":"com\.vmware\.vsphere\.[A-Za-z]+\.v0"'
HORIZON_EVENT='"specversion":"1.0".*"type":"com\.vmware\.horizon\.'

# 3. Start them (amd64 with runc). The multi-platform index is not a ref umoci unpacks, so
# with several platforms each image is unpacked from its manifest through a temporary ref.
platform_ref() {
    local name=$1 arch=$2
    local layout="$work/a/$name"
    python3 - "$layout/index.json" "$tag" "$arch" <<'PY'
import json, sys, os
path, tag, arch = sys.argv[1:]
index = json.load(open(path))
top = index["manifests"][0]
if top["mediaType"].endswith("index.v1+json"):
    blob = os.path.join(os.path.dirname(path), "blobs", *top["digest"].split(":"))
    manifests = json.load(open(blob))["manifests"]
    m = next(m for m in manifests if m["platform"]["architecture"] == arch)
    m = dict(m, annotations={"org.opencontainers.image.ref.name": f"{tag}-{arch}"})
    index["manifests"].append(m)
    json.dump(index, open(path, "w"))
    print(f"{tag}-{arch}")
else:
    assert top["platform"]["architecture"] == arch
    print(tag)
PY
}

suffix=$$
while read -r name digest; do
    ref="$work/a/$name:$(platform_ref "$name" amd64)"
    dir=$(bundle "$name" "$ref")
    case "$name" in
    vsphere-adapter)
        set_args "$dir" --simulate --simulate-rate 20 --checkpoint-file /tmp/checkpoint.json
        run_until_event "$name" "vs-test-$suffix-$name" "$dir" "$VSPHERE_EVENT"
        ;;
    horizon-adapter)
        set_args "$dir" --simulate --checkpoint-file /tmp/checkpoint.json
        run_until_event "$name" "vs-test-$suffix-$name" "$dir" "$HORIZON_EVENT"
        ;;
    sources-controller)
        set_args "$dir" --help
        run_to_exit "$name" "vs-test-$suffix-$name" "$dir" 'VSPHERE_ADAPTER'
        ;;
    list-vms)
        [[ -n "$vcsim_pid" ]] || start_vcsim
        host_network "$dir"
        set_env "$dir" "VC_URL=$VCSIM_URL" VC_INSECURE=true VC_USERNAME=user VC_PASSWORD=pass \
            VC_SECRET_PATH=/nonexistent
        run_to_exit "$name" "vs-test-$suffix-$name" "$dir" $'^DC0_H0_VM0\tpoweredOn\tDC0_H0$'
        ;;
    kn-vsphere)
        # The release build says what it was built from.
        set_args "$dir" version
        run_to_exit "$name" "vs-test-$suffix-$name" "$dir" "^Git Revision: *$SOURCE_REVISION\$"
        ;;
    *) die "no start check for image $name" ;;
    esac
done <"$work/a/digests"

# arm64: the binaries from the unpacked images under qemu's user-mode emulation.
if [[ ",$platforms," == *,linux/arm64,* ]]; then
    qemu=$(command -v qemu-aarch64-static) || die "qemu-aarch64-static is missing (qemu-user-static)"
    while read -r name digest; do
        ref="$work/a/$name:$(platform_ref "$name" arm64)"
        dir="$work/arm64-$name"
        rm -rf "$dir"
        umoci unpack --image "$ref" "$dir" >/dev/null || die "umoci cannot unpack $ref"
        bin="$dir/rootfs/$name"
        file_machine=$(python3 -c 'import sys; d=open(sys.argv[1],"rb").read(20); print(int.from_bytes(d[18:20],"little"))' "$bin")
        [[ $file_machine == 183 ]] || die "$name's arm64 image holds a binary for ELF machine $file_machine"
        case "$name" in
        vsphere-adapter | horizon-adapter)
            regex=$VSPHERE_EVENT
            [[ $name == horizon-adapter ]] && regex=$HORIZON_EVENT
            (cd "$work" && exec "$qemu" "$bin" --simulate --checkpoint-file "$work/$name-arm64.json" </dev/null \
                >"$work/$name-arm64.out" 2>"$work/$name-arm64.err") &
            pid=$!
            if ! wait_for "$work/$name-arm64.out" "$regex" "$pid"; then
                kill -KILL "$pid" 2>/dev/null || true
                tail -n 20 "$work/$name-arm64.err" >&2
                die "$name (arm64) printed no event"
            fi
            kill -TERM "$pid"
            rc=0
            wait "$pid" || rc=$?
            [[ $rc -eq 0 ]] || die "$name (arm64) exited $rc after SIGTERM"
            log "$name (arm64, qemu): $(grep -Em1 "$regex" "$work/$name-arm64.out" | cut -c1-120)…"
            ;;
        list-vms)
            [[ -n "$vcsim_pid" ]] || start_vcsim
            env VC_URL="$VCSIM_URL" VC_INSECURE=true VC_USERNAME=user VC_PASSWORD=pass \
                VC_SECRET_PATH=/nonexistent "$qemu" "$bin" </dev/null >"$work/$name-arm64.out" ||
                die "$name (arm64) failed"
            grep -q $'^DC0_H0_VM0\tpoweredOn\tDC0_H0$' "$work/$name-arm64.out" ||
                die "$name (arm64) did not list vcsim's VMs"
            log "$name (arm64, qemu): listed $(wc -l <"$work/$name-arm64.out") VMs"
            ;;
        *)
            "$qemu" "$bin" --help </dev/null >"$work/$name-arm64.out" || die "$name (arm64) --help failed"
            log "$name (arm64, qemu): --help exit 0"
            ;;
        esac
    done <"$work/a/digests"
fi

while read -r name digest; do
    printf 'image %-20s %s %8d bytes (tar)\n' "$name" "$digest" "$(stat -c %s "$work/a/$name.tar")"
done <"$work/a/digests"
if [[ -n "$images" ]]; then log "all images read and started (not rebuilt here)"; else log "all images reproducible, read and started"; fi
