#!/usr/bin/env bash
# Installs, with pinned versions and a cache, the external tools the test
# suite needs that a fresh machine (Debian bookworm with Go, Rust, Python and
# gcc preinstalled) lacks.
#
# Usage:
#   scripts/install-test-deps.sh            # install (or reuse) everything
#   eval "$(scripts/install-test-deps.sh --env)"   # only the export lines
#   scripts/install-test-deps.sh --only-semver-checks   # cargo-semver-checks alone
#                                       (what scripts/check-libraries.sh asks for when it is missing)
#
# Everything goes into ${VMWARE_SOURCES_CACHE:-$HOME/.cache/vmware-sources}.
# Each tool has a stamp file recording the pinned version it was built with;
# when the stamp matches and the binary exists, a second run is a no-op that
# only prints where the tool is.
#
# To add a tool (kube-apiserver, etcd, ...): write an `install_<tool>`
# function following `go_install` below (pin its version in a readonly
# variable, use `stamp_ok`/`write_stamp`, append an `export NAME=path` line to
# ENV_LINES) and call it from `main`.
set -euo pipefail

CACHE_DIR="${VMWARE_SOURCES_CACHE:-$HOME/.cache/vmware-sources}"
BIN_DIR="$CACHE_DIR/bin"
STAMP_DIR="$CACHE_DIR/stamps"

# govmomi's vCenter simulator.
#
# v0.46.3 is the newest govmomi release in which vcsim is a package of the
# main module (github.com/vmware/govmomi). Later releases moved vcsim into a
# nested module (github.com/vmware/govmomi/vcsim) that the Go module proxy
# does not serve, so `go install ...@latest` fails there.
#
# Do NOT use Debian's golang-github-vmware-govmomi / govmomi 0.24 package: its
# vcsim event collector is broken (govmomi#2134) and the event tests fail.
readonly VCSIM_MODULE="github.com/vmware/govmomi/vcsim"
readonly VCSIM_VERSION="v0.46.3"

# govc, built from the same govmomi module and version as vcsim, and pyVmomi, in a venv: real
# clients pointed at vsphere-sim (crates/vsphere-sim/tests/it/clients.rs).
readonly GOVC_MODULE="github.com/vmware/govmomi/govc"
# The pyVmomi release and wheel tools/catalogue pins (PyPI, checked by its sha256).
readonly PYVMOMI_VERSION="9.1.1.0"
readonly PYVMOMI_SHA256="76af3cba85573769daf4e6760aace32e7af34e1bbf343895b8c4798b6bc0e2d2"

# kube-apiserver and etcd, for the controller's integration tests
# (crates/kube-harness starts them on loopback, envtest style).
#
# kube-apiserver: `go install k8s.io/kubernetes/cmd/kube-apiserver@vX` fails
# because k8s.io/kubernetes' go.mod replaces its k8s.io/* staging modules with
# local directories (and requires them at v0.0.0). We build in a throw-away
# module under the cache that requires k8s.io/kubernetes at KUBE_VERSION and
# replaces every staging module with its published v0.<minor>.<patch> tag.
# v1.35.4's go.mod asks for go 1.25.0, which the machine's Go 1.26 builds.
readonly KUBE_VERSION="v1.35.4"
readonly KUBE_STAGING_VERSION="v0.35.4"
# etcd: the server module's etcdmain package, wrapped in a one-line main in a
# throw-away module (the go.etcd.io/etcd/v3 root module also has replace
# directives). Debian's etcd-server would also do; we build from Go so that
# the version is pinned the same way on every machine.
readonly ETCD_MODULE="go.etcd.io/etcd/server/v3"
readonly ETCD_VERSION="v3.6.8"
# Knative's CRDs (Addressable types for sink resolution tests), copied from
# the Go modules' config/ directories. The proxy serves only a few Knative
# versions: serving v0.42.2 and v0.51.0; eventing v0.42.2 (newer eventing
# versions answer 403). sum.golang.org has no entry for eventing v0.42.2, so
# that download skips the checksum database and is checked against the h1:
# hash pinned here instead.
readonly KNATIVE_EVENTING_VERSION="v0.42.2"
readonly KNATIVE_EVENTING_SUM="h1:eDfEmOTiqb/GikfwUPb6O6VvXkpqtpHCzihxP6D4Fek="
readonly KNATIVE_SERVING_VERSION="v0.51.0"
# The Knative client, `kn`, to check that `kn vsphere ...` runs our plugin
# (crates/kn-vsphere). The proxy's version list for knative.dev/client
# answers 403 (so `go install ...@v0.42.0` fails looking for deprecations),
# but exact versions are served: v0.42.0 is Knative 1.15's client.
readonly KN_MODULE="knative.dev/client/cmd/kn"
readonly KN_VERSION="v0.42.0"

# The release images (scripts/build-images.sh, scripts/test-images.sh): Rust's musl target for
# static binaries, and from Debian: musl-gcc (the C parts of ring and mimalloc), runc (the OCI
# runtime that starts the images; crun 1.8 refuses this machine's hybrid cgroup layout), umoci
# (unpacks an image into a runtime bundle) and skopeo (reads the layouts and docker archives).
# The pinned .debs are kept in the cache, so a machine can reinstall them after the Debian
# mirror has moved on to a newer point release.
# arm64: Rust's aarch64 musl target (cross-compiled with zig, which scripts/build-images.sh
# installs from PyPI into the cache) and qemu-user-static, which runs the arm64 binaries here.
readonly RUST_IMAGE_TARGETS=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl)
readonly DEBIAN_PACKAGES=(
    "musl-tools=1.2.3-1"
    "runc=1.1.5+ds1-1+deb12u1"
    "umoci=0.4.7+ds-3+b7"
    "skopeo=1.9.3+ds1-1+b10"
    "qemu-user-static=1:7.2+dfsg-7+deb12u18+b3"
)

# cargo-semver-checks, which scripts/check-libraries.sh runs against the newest release tag and
# scripts/test-semver-gate.sh runs against a scratch one. Built from crates.io with its own
# Cargo.lock (--locked); 0.51.0 reads the rustdoc JSON of Rust 1.95 (rust-toolchain.toml).
readonly SEMVER_CHECKS_VERSION=0.51.0

ENV_LINES=()
ENV_ONLY=0

log() {
    # Progress goes to stderr so `--env` output stays eval-able.
    printf 'install-test-deps: %s\n' "$*" >&2
}

die() {
    printf 'install-test-deps: error: %s\n' "$*" >&2
    exit 1
}

# stamp_ok NAME VERSION BINARY: true when BINARY exists and the stamp for NAME
# records VERSION.
stamp_ok() {
    local name=$1 version=$2 binary=$3
    [[ -x "$binary" ]] || return 1
    [[ -f "$STAMP_DIR/$name" ]] || return 1
    [[ "$(cat "$STAMP_DIR/$name")" == "$version" ]]
}

write_stamp() {
    local name=$1 version=$2
    mkdir -p "$STAMP_DIR"
    printf '%s\n' "$version" >"$STAMP_DIR/$name.tmp"
    mv "$STAMP_DIR/$name.tmp" "$STAMP_DIR/$name"
}

require_go() {
    if ! command -v go >/dev/null 2>&1; then
        die "'go' was not found on PATH; it is needed to build vcsim and govc ${VCSIM_VERSION}.
  Go is preinstalled on the project's machines; elsewhere install Go >= 1.22 (govmomi v0.46.3's go.mod)
  (hint: apt-get install golang-go, if your distribution's Go is recent enough)."
    fi
}

# go_install NAME MODULE ENV_VAR: `go install MODULE@VCSIM_VERSION` (a command of the govmomi
# module) into BIN_DIR/NAME, stamped, and an `export ENV_VAR=path` line.
go_install() {
    local name=$1 module=$2 env_var=$3
    local bin="$BIN_DIR/$name"
    if stamp_ok "$name" "$VCSIM_VERSION" "$bin"; then
        log "$name ${VCSIM_VERSION} already installed: $bin"
    else
        require_go
        log "building $name ${VCSIM_VERSION} with $(go version) (about a minute with cold Go caches)"
        mkdir -p "$BIN_DIR"
        local start=$SECONDS
        # GOFLAGS=-mod=mod keeps a surrounding go.work/vendor setting from
        # interfering; GOTOOLCHAIN=local never downloads another toolchain. Pure Go (no C
        # compiler run for the runtime's cgo parts) and no symbol tables or DWARF, like the
        # other Go tools here: a quicker first build, the same program.
        if ! GOPROXY=https://proxy.golang.org GOBIN="$BIN_DIR" GOTOOLCHAIN=local \
            GOFLAGS="-mod=mod $GO_NO_DWARF" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" \
            "${module}@${VCSIM_VERSION}"; then
            die "go install ${module}@${VCSIM_VERSION} failed"
        fi
        [[ -x "$bin" ]] || die "go install succeeded but $bin is missing"
        write_stamp "$name" "$VCSIM_VERSION"
        log "$name ${VCSIM_VERSION} installed in $((SECONDS - start))s: $bin"
    fi
    ENV_LINES+=("export $env_var=$bin")
}

install_vcsim() {
    go_install vcsim "$VCSIM_MODULE" VCSIM_BIN
}

install_govc() {
    go_install govc "$GOVC_MODULE" GOVC_BIN
}

# pyVmomi in its own venv under the cache; PYVMOMI_PYTHON is that venv's python.
install_pyvmomi() {
    local venv="$CACHE_DIR/pyvmomi-$PYVMOMI_VERSION"
    local python="$venv/bin/python"
    if stamp_ok pyvmomi "$PYVMOMI_VERSION" "$python" && "$python" -c 'import pyVim.connect' 2>/dev/null; then
        log "pyvmomi ${PYVMOMI_VERSION} already installed: $python"
    else
        command -v python3 >/dev/null 2>&1 ||
            die "'python3' was not found on PATH; it is needed for pyvmomi ${PYVMOMI_VERSION} (apt-get install python3 python3-venv)"
        log "installing pyvmomi ${PYVMOMI_VERSION} from PyPI into a venv"
        local start=$SECONDS
        rm -rf "$venv"
        python3 -m venv "$venv" ||
            die "python3 -m venv $venv failed (on Debian: apt-get install python3-venv)"
        mkdir -p "$CACHE_DIR/build"
        printf 'pyvmomi==%s --hash=sha256:%s\n' "$PYVMOMI_VERSION" "$PYVMOMI_SHA256" \
            >"$CACHE_DIR/build/pyvmomi-requirements.txt"
        if ! "$python" -m pip install --quiet --disable-pip-version-check --no-deps \
            --only-binary=:all: --require-hashes -r "$CACHE_DIR/build/pyvmomi-requirements.txt"; then
            die "pip install pyvmomi==${PYVMOMI_VERSION} into $venv failed"
        fi
        "$python" -c 'import pyVim.connect' || die "pyvmomi ${PYVMOMI_VERSION} does not import in $venv"
        write_stamp pyvmomi "$PYVMOMI_VERSION"
        log "pyvmomi ${PYVMOMI_VERSION} installed in $((SECONDS - start))s: $python"
    fi
    ENV_LINES+=("export PYVMOMI_PYTHON=$python")
}

# go_build_env: the environment every Go build here uses. GOFLAGS=-mod=mod
# keeps a surrounding go.work/vendor setting from interfering;
# GOTOOLCHAIN=local never downloads another toolchain; GOWORK=off ignores a
# go.work above the cache. The builds link with -s -w (no symbol table, no DWARF), so the
# compiler writes no DWARF either (GO_NO_DWARF): less work for a cold build, the same program.
readonly GO_NO_DWARF=-gcflags=all=-dwarf=false
go_build_env() {
    env GOPROXY=https://proxy.golang.org GOTOOLCHAIN=local GOFLAGS="-mod=mod $GO_NO_DWARF" GOWORK=off "$@"
}

install_kube_apiserver() {
    local bin="$BIN_DIR/kube-apiserver"
    local stamp="$KUBE_VERSION+$KUBE_STAGING_VERSION"
    if stamp_ok kube-apiserver "$stamp" "$bin"; then
        log "kube-apiserver ${KUBE_VERSION} already installed: $bin"
    else
        require_go
        log "building kube-apiserver ${KUBE_VERSION} with $(go version) (10-25 minutes on 2 cores with cold Go caches)"
        mkdir -p "$BIN_DIR"
        local start=$SECONDS
        local mod="$CACHE_DIR/build/kube-apiserver-$KUBE_VERSION"
        rm -rf "$mod"
        mkdir -p "$mod"
        local kmod
        kmod=$(cd "$mod" && go_build_env go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" |
            sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p') ||
            die "go mod download k8s.io/kubernetes@${KUBE_VERSION} failed"
        [[ -f "$kmod" ]] || die "no go.mod for k8s.io/kubernetes@${KUBE_VERSION} (got '$kmod')"
        {
            printf 'module vmware-sources.local/kube-apiserver-build\n\n'
            grep -E '^go [0-9]' "$kmod"
            grep -E '^godebug ' "$kmod" || true
            printf '\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$KUBE_VERSION"
            # Every `k8s.io/X => ./staging/src/k8s.io/X` becomes the published tag.
            sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/src/k8s\.io/[a-z0-9-]*$#\t\1 => \1 '"$KUBE_STAGING_VERSION"'#p' "$kmod"
            printf ')\n'
        } >"$mod/go.mod"
        grep -q 'k8s.io/apiserver =>' "$mod/go.mod" || die "could not derive the staging replaces from $kmod"
        printf 'package tools\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver"\n' >"$mod/tools.go"
        local ldflags="-s -w"
        ldflags+=" -X k8s.io/component-base/version.gitVersion=${KUBE_VERSION}"
        ldflags+=" -X k8s.io/component-base/version.gitMajor=1"
        ldflags+=" -X k8s.io/component-base/version.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2)"
        ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=${KUBE_VERSION}"
        if ! (cd "$mod" && go_build_env go mod tidy && go_build_env CGO_ENABLED=0 go build -trimpath \
            -ldflags "$ldflags" -o "$bin.tmp" k8s.io/kubernetes/cmd/kube-apiserver); then
            die "building k8s.io/kubernetes/cmd/kube-apiserver@${KUBE_VERSION} in $mod failed"
        fi
        mv "$bin.tmp" "$bin"
        write_stamp kube-apiserver "$stamp"
        log "kube-apiserver ${KUBE_VERSION} installed in $((SECONDS - start))s: $bin"
    fi
    ENV_LINES+=("export KUBE_APISERVER_BIN=$bin")
}

install_etcd() {
    local bin="$BIN_DIR/etcd"
    if stamp_ok etcd "$ETCD_VERSION" "$bin"; then
        log "etcd ${ETCD_VERSION} already installed: $bin"
    else
        require_go
        log "building etcd ${ETCD_VERSION} with $(go version) (a few minutes with cold Go caches)"
        mkdir -p "$BIN_DIR"
        local start=$SECONDS
        local mod="$CACHE_DIR/build/etcd-$ETCD_VERSION"
        rm -rf "$mod"
        mkdir -p "$mod"
        printf 'module vmware-sources.local/etcd-build\n\ngo 1.24\n\nrequire %s %s\n' \
            "$ETCD_MODULE" "$ETCD_VERSION" >"$mod/go.mod"
        cat >"$mod/main.go" <<'GO'
// Command etcd is etcd's own server main (go.etcd.io/etcd/server/v3/etcdmain).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
        if ! (cd "$mod" && go_build_env go mod tidy && go_build_env CGO_ENABLED=0 go build -trimpath \
            -ldflags "-s -w" -o "$bin.tmp" .); then
            die "building ${ETCD_MODULE}/etcdmain@${ETCD_VERSION} in $mod failed (Debian's etcd-server package is the documented fallback: apt-get install etcd-server, then ETCD_BIN=/usr/bin/etcd)"
        fi
        mv "$bin.tmp" "$bin"
        write_stamp etcd "$ETCD_VERSION"
        log "etcd ${ETCD_VERSION} installed in $((SECONDS - start))s: $bin"
    fi
    ENV_LINES+=("export ETCD_BIN=$bin")
}

# Knative's published CRDs (Serving's Service/Route, Eventing's Broker/Channel
# and their duck types), copied from the Go modules' config/ directories into
# the cache; the harness installs them for sink resolution tests.
install_knative_crds() {
    local dir="$CACHE_DIR/knative-crds"
    local stamp="eventing-$KNATIVE_EVENTING_VERSION+serving-$KNATIVE_SERVING_VERSION"
    if [[ -f "$STAMP_DIR/knative-crds" && "$(cat "$STAMP_DIR/knative-crds")" == "$stamp" && -d "$dir" ]]; then
        log "Knative CRDs ($stamp) already installed: $dir"
    else
        require_go
        log "downloading Knative CRDs ($stamp)"
        local tmp="$CACHE_DIR/build/knative-crds"
        rm -rf "$tmp" "$dir.tmp"
        mkdir -p "$tmp" "$dir.tmp"
        printf 'module vmware-sources.local/knative-crds\n\ngo 1.24\n' >"$tmp/go.mod"
        local m v json src sum f
        for m in eventing serving; do
            if [[ $m == eventing ]]; then v=$KNATIVE_EVENTING_VERSION; else v=$KNATIVE_SERVING_VERSION; fi
            json=$(cd "$tmp" && go_build_env GONOSUMDB=knative.dev/eventing go mod download -json "knative.dev/$m@$v") ||
                die "go mod download knative.dev/$m@$v failed: $json"
            src=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$json")
            sum=$(sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p' <<<"$json")
            if [[ $m == eventing && "$sum" != "$KNATIVE_EVENTING_SUM" ]]; then
                die "knative.dev/eventing@$v has hash '$sum', expected $KNATIVE_EVENTING_SUM"
            fi
            [[ -d "$src/config/core" ]] || die "knative.dev/$m@$v has no config/core directory"
            # Every CustomResourceDefinition under config/core (serving keeps
            # them in 300-resources/, eventing in resources/).
            while IFS= read -r f; do
                cp "$f" "$dir.tmp/$m-$(basename "$f")"
            done < <(grep -rl --include='*.yaml' '^kind: CustomResourceDefinition' "$src/config/core" | sort)
        done
        chmod -R u+w "$dir.tmp"
        rm -rf "$dir"
        mv "$dir.tmp" "$dir"
        write_stamp knative-crds "$stamp"
        log "Knative CRDs installed: $dir"
    fi
    ENV_LINES+=("export KNATIVE_CRDS_DIR=$dir")
}

install_kn() {
    local bin="$BIN_DIR/kn"
    if stamp_ok kn "$KN_VERSION" "$bin"; then
        log "kn ${KN_VERSION} already installed: $bin"
    else
        require_go
        log "building kn ${KN_VERSION} with $(go version) (a few minutes with cold Go caches)"
        mkdir -p "$BIN_DIR"
        local start=$SECONDS
        # A throw-away module that requires the pinned version, like
        # kube-apiserver (see KN_VERSION for why not `go install`).
        local mod="$CACHE_DIR/build/kn-$KN_VERSION"
        rm -rf "$mod"
        mkdir -p "$mod"
        local kmod
        kmod=$(cd "$mod" && go_build_env go mod download -json "knative.dev/client@${KN_VERSION}" |
            sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p') ||
            die "go mod download knative.dev/client@${KN_VERSION} failed"
        [[ -f "$kmod" ]] || die "no go.mod for knative.dev/client@${KN_VERSION} (got '$kmod')"
        {
            printf 'module vmware-sources.local/kn-build\n\n'
            grep -E '^go [0-9]' "$kmod"
            printf '\nrequire knative.dev/client %s\n' "$KN_VERSION"
        } >"$mod/go.mod"
        printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$KN_MODULE" >"$mod/tools.go"
        if ! (cd "$mod" && go_build_env go mod tidy && go_build_env CGO_ENABLED=0 go build -trimpath \
            -ldflags "-s -w -X knative.dev/client/pkg/kn/commands/version.Version=${KN_VERSION}" \
            -o "$bin.tmp" "$KN_MODULE"); then
            die "building ${KN_MODULE}@${KN_VERSION} in $mod failed"
        fi
        mv "$bin.tmp" "$bin"
        write_stamp kn "$KN_VERSION"
        log "kn ${KN_VERSION} installed in $((SECONDS - start))s: $bin"
    fi
    ENV_LINES+=("export KN_BIN=$bin")
}

install_rust_targets() {
    local triple installed
    installed=$(rustup target list --installed 2>/dev/null) || die "rustup is needed to add Rust targets"
    for triple in "${RUST_IMAGE_TARGETS[@]}"; do
        if grep -qx "$triple" <<<"$installed"; then
            log "Rust target $triple already installed"
        else
            log "adding the Rust target $triple (rustup)"
            rustup target add "$triple" >&2 || die "rustup target add $triple failed"
        fi
    done
}

# deb_installed NAME VERSION: whether dpkg has NAME at VERSION.
deb_installed() {
    [[ "$(dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null)" == "install ok installed $2" ]]
}

install_debian_packages() {
    local missing=() spec name version
    for spec in "${DEBIAN_PACKAGES[@]}"; do
        name=${spec%%=*} version=${spec#*=}
        if deb_installed "$name" "$version"; then
            log "$name $version already installed"
        else
            missing+=("$spec")
        fi
    done
    [[ ${#missing[@]} -gt 0 ]] || return 0
    command -v apt-get >/dev/null || die "apt-get is needed for: ${missing[*]}"
    [[ $(id -u) -eq 0 ]] || die "installing ${missing[*]} needs root (apt-get)"
    local debs="$CACHE_DIR/debs" files=() file updated=0
    mkdir -p "$debs"
    for spec in "${missing[@]}"; do
        name=${spec%%=*} version=${spec#*=}
        # Debian's file names spell the epoch's colon as %3a.
        file=$(find "$debs" -maxdepth 1 -name "${name}_${version//:/%3a}_*.deb" | head -n 1)
        if [[ -z "$file" ]]; then
            log "downloading $spec (Debian)"
            if ! (cd "$debs" && apt-get download "$spec" >&2); then
                if [[ $updated -eq 0 ]]; then
                    apt-get update >&2 || die "apt-get update failed"
                    updated=1
                fi
                (cd "$debs" && apt-get download "$spec" >&2) ||
                    die "apt-get download $spec failed: is the pin still in Debian bookworm? (apt-cache policy $name)"
            fi
            file=$(find "$debs" -maxdepth 1 -name "${name}_${version//:/%3a}_*.deb" | head -n 1)
            [[ -n "$file" ]] || die "apt-get download $spec wrote no ${name}_${version}_*.deb"
        fi
        files+=("$file")
    done
    log "installing ${missing[*]} (their dependencies come from the Debian mirror)"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${files[@]}" >&2; then
        [[ $updated -eq 1 ]] || apt-get update >&2 || die "apt-get update failed"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${files[@]}" >&2 ||
            die "apt-get install ${missing[*]} failed"
    fi
    for spec in "${missing[@]}"; do
        deb_installed "${spec%%=*}" "${spec#*=}" || die "${spec%%=*} is not at ${spec#*=} after installing it"
    done
}

install_semver_checks() {
    local root="$CACHE_DIR/semver-checks-$SEMVER_CHECKS_VERSION"
    local bin="$root/bin/cargo-semver-checks" lock
    # One build at a time: scripts/check-libraries.sh asks for it (here) when it is missing, and
    # scripts/test.sh runs check-libraries.sh and the semver gate (which runs it too) at once:
    # the second waits for the first and then finds it built.
    mkdir -p "$CACHE_DIR"
    exec {lock}>"$CACHE_DIR/semver-checks.lock"
    if ! flock -n "$lock"; then
        log "waiting for another build of cargo-semver-checks ${SEMVER_CHECKS_VERSION} to finish"
        flock "$lock"
    fi
    if stamp_ok semver-checks "$SEMVER_CHECKS_VERSION" "$bin"; then
        log "cargo-semver-checks ${SEMVER_CHECKS_VERSION} already installed: $bin"
    else
        log "building cargo-semver-checks ${SEMVER_CHECKS_VERSION} from crates.io (once; several minutes on 2 cores)"
        local start=$SECONDS
        mkdir -p "$CACHE_DIR/build"
        # Its own target directory under the cache: a later run of this script reuses it.
        # Its release profile asks for fat LTO in one codegen unit, which takes about twice as
        # long to build on two cores; a tool that runs for seconds needs neither that nor
        # LLVM's optimisations: unoptimised it builds in 236 CPU seconds instead of 526
        # (opt-level 1) or 621 (its own profile), and its 202 checks of a crate take 0.2-0.43 s
        # instead of 0.06-0.2 (rustdoc, which it runs first, is most of its time either way).
        if ! CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
            CARGO_PROFILE_RELEASE_OPT_LEVEL=0 \
            cargo install --locked --quiet --version "$SEMVER_CHECKS_VERSION" --root "$root" \
            --target-dir "$CACHE_DIR/build/semver-checks-target" cargo-semver-checks >&2; then
            die "cargo install cargo-semver-checks@${SEMVER_CHECKS_VERSION} failed"
        fi
        [[ -x "$bin" ]] || die "cargo install wrote no $bin"
        rm -rf "$CACHE_DIR/build/semver-checks-target"
        write_stamp semver-checks "$SEMVER_CHECKS_VERSION"
        log "cargo-semver-checks ${SEMVER_CHECKS_VERSION} installed in $((SECONDS - start))s: $bin"
    fi
    exec {lock}>&-
    ENV_LINES+=("export CARGO_SEMVER_CHECKS=$bin")
}

# ---- kn vsphere binaries for five platforms (scripts/build-cli.sh, scripts/test-cli.sh) -------
# Rust's targets for the `kn vsphere` plugin's macOS (amd64, arm64) and Windows (amd64) builds;
# the Linux ones are RUST_IMAGE_TARGETS' musl targets. The linker for all five is zig (the
# venv scripts/build-images.sh and scripts/build-cli.sh install from PyPI into the cache); `file`
# (Debian) reads the binaries in the test. Pinned by the toolchain (rust-toolchain.toml).
readonly RUST_CLI_TARGETS=(x86_64-apple-darwin aarch64-apple-darwin x86_64-pc-windows-gnu)
readonly CLI_DEBIAN_PACKAGES=("file=1:5.44-3")

install_cli_targets() {
    local triple installed spec
    installed=$(rustup target list --installed 2>/dev/null) || die "rustup is needed to add Rust targets"
    for triple in "${RUST_CLI_TARGETS[@]}"; do
        if grep -qx "$triple" <<<"$installed"; then
            log "Rust target $triple already installed"
        else
            log "adding the Rust target $triple (rustup)"
            rustup target add "$triple" >&2 || die "rustup target add $triple failed"
        fi
    done
    for spec in "${CLI_DEBIAN_PACKAGES[@]}"; do
        if deb_installed "${spec%%=*}" "${spec#*=}"; then
            log "${spec%%=*} ${spec#*=} already installed"
        else
            [[ $(id -u) -eq 0 ]] || die "installing $spec needs root (apt-get)"
            log "installing $spec (Debian)"
            DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$spec" >&2 ||
                { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$spec" >&2; } ||
                die "apt-get install $spec failed"
        fi
    done
}
# ---- end of the kn vsphere binaries' dependencies ---------------------------------------------


main() {
    local only_semver_checks=0
    while [[ $# -gt 0 ]]; do
        case "$1" in
        --env) ENV_ONLY=1 ;;
        --only-semver-checks) only_semver_checks=1 ;;
        -h | --help)
            awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
            return 0
            ;;
        *) die "unknown argument: $1" ;;
        esac
        shift
    done

    mkdir -p "$CACHE_DIR"
    if [[ $only_semver_checks -eq 1 ]]; then
        install_semver_checks
        printf '%s\n' "${ENV_LINES[@]}"
        return 0
    fi
    install_vcsim
    install_govc
    install_pyvmomi
    install_etcd
    install_kube_apiserver
    install_knative_crds
    install_kn
    install_rust_targets
    install_debian_packages
    install_semver_checks
    install_cli_targets

    if [[ $ENV_ONLY -eq 0 ]]; then
        log "cache: $CACHE_DIR"
        log "add these to your environment (or eval \"\$($0 --env)\"):"
    fi
    printf '%s\n' "${ENV_LINES[@]}"
}

main "$@"
