#!/usr/bin/env bash
# Installs, with pinned versions and a cache, the external tools the test
# suite needs that a fresh machine (Debian bookworm with Go, Rust, Python and
# gcc preinstalled) lacks.
#
# Usage:
#   scripts/install-test-deps.sh            # install (or reuse) everything
#   eval "$(scripts/install-test-deps.sh --env)"   # only the export lines
#
# Everything goes into ${VMWARE_SOURCES_CACHE:-$HOME/.cache/vmware-sources}.
# Each tool has a stamp file recording the pinned version it was built with;
# when the stamp matches and the binary exists, a second run is a no-op that
# only prints where the tool is.
#
# To add a tool (kube-apiserver, etcd, ...): write an `install_<tool>`
# function following `install_vcsim` below (pin its version in a readonly
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
        die "'go' was not found on PATH; it is needed to build vcsim ${VCSIM_VERSION}.
  Go is preinstalled on the project's machines; elsewhere install Go >= 1.22 (govmomi v0.46.3's go.mod)
  (hint: apt-get install golang-go, if your distribution's Go is recent enough)."
    fi
}

install_vcsim() {
    local bin="$BIN_DIR/vcsim"
    if stamp_ok vcsim "$VCSIM_VERSION" "$bin"; then
        log "vcsim ${VCSIM_VERSION} already installed: $bin"
    else
        require_go
        log "building vcsim ${VCSIM_VERSION} with $(go version) (about a minute with cold Go caches)"
        mkdir -p "$BIN_DIR"
        local start=$SECONDS
        # GOFLAGS=-mod=mod keeps a surrounding go.work/vendor setting from
        # interfering; GOTOOLCHAIN=local never downloads another toolchain.
        if ! GOPROXY=https://proxy.golang.org GOBIN="$BIN_DIR" GOTOOLCHAIN=local \
            GOFLAGS=-mod=mod go install "${VCSIM_MODULE}@${VCSIM_VERSION}"; then
            die "go install ${VCSIM_MODULE}@${VCSIM_VERSION} failed"
        fi
        [[ -x "$bin" ]] || die "go install succeeded but $bin is missing"
        write_stamp vcsim "$VCSIM_VERSION"
        log "vcsim ${VCSIM_VERSION} installed in $((SECONDS - start))s: $bin"
    fi
    ENV_LINES+=("export VCSIM_BIN=$bin")
}

main() {
    while [[ $# -gt 0 ]]; do
        case "$1" in
        --env) ENV_ONLY=1 ;;
        -h | --help)
            sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
            return 0
            ;;
        *) die "unknown argument: $1" ;;
        esac
        shift
    done

    mkdir -p "$CACHE_DIR"
    install_vcsim

    if [[ $ENV_ONLY -eq 0 ]]; then
        log "cache: $CACHE_DIR"
        log "add these to your environment (or eval \"\$($0 --env)\"):"
    fi
    printf '%s\n' "${ENV_LINES[@]}"
}

main "$@"
