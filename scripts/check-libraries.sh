#!/usr/bin/env bash
# Checks the five library crates as other Rust programs get them (scripts/test.sh runs this):
#
#   1. `cargo doc --no-deps` with rustdoc's warnings as errors (broken intra-doc links, missing
#      docs, bare URLs, invalid code blocks).
#   2. `cargo package` of each library crate, with verification: the packaged sources alone
#      (what crates.io would get) build. Workspace crates that are not on the registry yet are
#      taken from the packages built in the same run, as cargo does for several `-p`.
#   3. cargo-semver-checks of their public API against the newest release tag (`v*`), once one
#      exists: a change that breaks users needs a version bump. Before the first tag there is no
#      published API to compare with, and this step says so.
#
# Usage: scripts/check-libraries.sh [--no-verify] [--semver-only] [-p PACKAGE]...
#   --no-verify    package without building the packaged sources (quicker, weaker)
#   --semver-only  only step 3 (scripts/test-semver-gate.sh: steps 1 and 2 already ran)
#   -p PACKAGE     check only this library (repeatable; default: all five)
#
# cargo-semver-checks is the one scripts/install-test-deps.sh builds (CARGO_SEMVER_CHECKS);
# without it, this script builds the same pinned version into the cache.
# scripts/test-semver-gate.sh shows that step failing on a breaking change.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The packages other programs depend on (the `checkpoint` folder publishes as
# vmware-sources-checkpoint: `checkpoint` is taken on crates.io).
readonly ALL_LIBRARIES=(vsphere-client horizon-client vmware-sources-checkpoint cloudevent-encode binding-env)
# Pinned, as in scripts/install-test-deps.sh.
readonly SEMVER_CHECKS_VERSION=0.51.0

CACHE_DIR="${VMWARE_SOURCES_CACHE:-$HOME/.cache/vmware-sources}"
verify=(--locked)
semver_only=0
LIBRARIES=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    --no-verify) verify+=(--no-verify) ;;
    --semver-only) semver_only=1 ;;
    -p | --package)
        [[ $# -ge 2 ]] || { echo "check-libraries.sh: $1 needs a package name (one of: ${ALL_LIBRARIES[*]})" >&2; exit 2; }
        known=0
        for l in "${ALL_LIBRARIES[@]}"; do [[ "$l" == "$2" ]] && known=1; done
        [[ $known -eq 1 ]] || { echo "check-libraries.sh: $1 $2: not a library crate (one of: ${ALL_LIBRARIES[*]})" >&2; exit 2; }
        LIBRARIES+=("$2")
        shift
        ;;
    -h | --help)
        awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
        exit 0
        ;;
    *)
        echo "check-libraries.sh: unknown argument: $1 (see --help)" >&2
        exit 2
        ;;
    esac
    shift
done
if [[ ${#LIBRARIES[@]} -eq 0 ]]; then
    LIBRARIES=("${ALL_LIBRARIES[@]}")
fi

# vmware-sources-checkpoint's ConfigMap store uses k8s-openapi, which leaves the Kubernetes
# version to the final binary; a library built alone (its docs, its packaged sources) names one.
export K8S_OPENAPI_ENABLED_VERSION="${K8S_OPENAPI_ENABLED_VERSION:-1.35}"

packages=()
for p in "${LIBRARIES[@]}"; do
    packages+=(-p "$p")
done

echo "check-libraries: libraries ${LIBRARIES[*]}"
if [[ $semver_only -eq 0 ]]; then
    echo "check-libraries: cargo doc --no-deps (warnings are errors)"
    RUSTDOCFLAGS="${RUSTDOCFLAGS:-} -D warnings" cargo doc --no-deps --locked "${packages[@]}"

    echo "check-libraries: cargo package ${LIBRARIES[*]}"
    # --allow-dirty: CI checks out a clean tree, a developer may run this before committing.
    # The verification builds each package as its own workspace, so the workspace's dev profile
    # (no debug info for dependencies) does not apply: no debug info at all, which nothing here
    # reads, and a quicker build.
    CARGO_PROFILE_DEV_DEBUG=false cargo package --allow-dirty "${verify[@]}" "${packages[@]}"
    # Where cargo wrote them: target/package, or under CARGO_TARGET_DIR / build.target-dir.
    target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
    for p in "${LIBRARIES[@]}"; do
        crate=$(ls -t "$target_dir"/package/"$p"-[0-9]*.crate 2>/dev/null | head -n 1 || true)
        [[ -n "$crate" ]] || { echo "check-libraries: no package written for $p" >&2; exit 1; }
        printf 'check-libraries:   %s (%s files, %s)\n' "$(basename "$crate")" \
            "$(tar -tzf "$crate" | wc -l)" "$(du -h "$crate" | cut -f1)"
    done
fi

tag=$(git tag --list 'v*' --sort=-version:refname 2>/dev/null | head -n 1)
if [[ -z "$tag" ]]; then
    echo "check-libraries: no release tag (v*) yet: the public API is compared from the first one on"
    exit 0
fi
semver_checks="${CARGO_SEMVER_CHECKS:-$CACHE_DIR/semver-checks-$SEMVER_CHECKS_VERSION/bin/cargo-semver-checks}"
if [[ ! -x "$semver_checks" ]]; then
    # Built by the install script (which waits if another step is building it already).
    echo "check-libraries: cargo-semver-checks $SEMVER_CHECKS_VERSION is not in the cache: scripts/install-test-deps.sh --only-semver-checks"
    "$(pwd)/scripts/install-test-deps.sh" --only-semver-checks >/dev/null
    semver_checks="$CACHE_DIR/semver-checks-$SEMVER_CHECKS_VERSION/bin/cargo-semver-checks"
fi
echo "check-libraries: cargo semver-checks against $tag"
"$semver_checks" semver-checks check-release --baseline-rev "$tag" "${packages[@]}"
