#!/usr/bin/env bash
# Shows that scripts/check-libraries.sh's semver step guards the libraries' public API: there
# is no release tag yet, so this makes one in a scratch clone of HEAD and changes
# vmware-sources-checkpoint after it (scripts/test.sh runs this after check-libraries.sh):
#
#   1. an addition (a new public function), same version      → check-libraries.sh passes, for
#                                                                 all five libraries
#   2. a breaking change (a public function renamed away)      → it fails and names the function
#   3. the same breaking change with the version bumped to 0.2 → it passes
#
# Usage: scripts/test-semver-gate.sh [--keep]
#   --keep   leave the scratch clone (its path is printed) for a look
#
# The clone takes this checkout's committed HEAD and its working copy of check-libraries.sh.
# Its builds go to target/semver-gate here, which later runs reuse.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO_ROOT=$(pwd)

keep=0
while [[ $# -gt 0 ]]; do
    case "$1" in
    --keep) keep=1 ;;
    -h | --help)
        awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
        exit 0
        ;;
    *)
        echo "test-semver-gate.sh: unknown argument: $1 (see --help)" >&2
        exit 2
        ;;
    esac
    shift
done

readonly CRATE=vmware-sources-checkpoint
readonly CRATE_DIR=crates/checkpoint
readonly REMOVED=parse_go_duration

scratch=$(mktemp -d "${TMPDIR:-/tmp}/semver-gate.XXXXXX")
cleanup() {
    if [[ $keep -eq 1 ]]; then
        echo "test-semver-gate: scratch clone kept at $scratch/repo"
    else
        rm -rf "$scratch"
    fi
}
trap cleanup EXIT

fail() {
    echo "test-semver-gate: FAILED: $*" >&2
    exit 1
}

git_scratch() {
    git -C "$scratch/repo" -c user.name="semver gate" -c user.email="semver-gate@invalid" \
        -c commit.gpgsign=false -c tag.gpgsign=false "$@"
}

# check NAME [ARGS...]: runs check-libraries.sh --semver-only ARGS in the clone (its docs and
# packages were checked by scripts/check-libraries.sh just before); its output is in
# $scratch/NAME.log and on stdout, its exit status in $status.
check() {
    local name=$1
    shift
    echo "test-semver-gate: $name: scripts/check-libraries.sh --semver-only $*"
    set +e
    "$scratch/repo/scripts/check-libraries.sh" --semver-only "$@" 2>&1 | tee "$scratch/$name.log"
    status=${PIPESTATUS[0]}
    set -e
}

git clone --quiet --no-hardlinks "$REPO_ROOT" "$scratch/repo"
cp "$REPO_ROOT/scripts/check-libraries.sh" "$scratch/repo/scripts/check-libraries.sh"
git_scratch add -A
git_scratch commit --quiet --allow-empty -m "semver gate: baseline"
git_scratch tag v0.1.0
# One target directory for every run of this script: the dependencies build once.
export CARGO_TARGET_DIR="$REPO_ROOT/target/semver-gate"

lib="$scratch/repo/$CRATE_DIR/src/lib.rs"
grep -q "^pub use config::{.*\b$REMOVED\b" "$lib" ||
    fail "$CRATE_DIR/src/lib.rs no longer re-exports $REMOVED: pick another public item here"

# 1. An addition keeps the API compatible.
printf '\n/// Added by scripts/test-semver-gate.sh.\npub fn semver_gate_addition() {}\n' >>"$lib"
git_scratch commit --quiet -am "semver gate: an addition"
check addition
[[ $status -eq 0 ]] || fail "an added public function was reported as breaking (exit $status)"
grep -q "cargo semver-checks against v0.1.0" "$scratch/addition.log" ||
    fail "check-libraries.sh did not run the semver step against the scratch tag v0.1.0"
# Every library check-libraries.sh checks (its one list) went through cargo-semver-checks.
libraries=$(sed -n 's/^check-libraries: libraries //p' "$scratch/addition.log")
[[ $(wc -w <<<"$libraries") -eq 5 ]] || fail "check-libraries.sh checked '$libraries', not the five libraries"
for library in $libraries; do
    grep -q "Finished \[.*\] $library\$" "$scratch/addition.log" ||
        fail "cargo-semver-checks did not check $library"
done

# 2. Renaming a public function away breaks its users: the gate must stop it.
sed -i "s/^\(pub use config::{.*\)\b$REMOVED\b/\1$REMOVED as parse_duration/" "$lib"
grep -q "$REMOVED as parse_duration" "$lib" || fail "could not rename $REMOVED in $lib"
git_scratch commit --quiet -am "semver gate: a breaking rename"
check breaking -p "$CRATE"
[[ $status -ne 0 ]] || fail "the rename of $REMOVED passed check-libraries.sh"
grep -q "function_missing" "$scratch/breaking.log" &&
    grep -q "vmware_sources_checkpoint::$REMOVED\b" "$scratch/breaking.log" ||
    fail "check-libraries.sh failed, but not with cargo-semver-checks' function_missing for $REMOVED (see the output above)"

# 3. The same change is fine in a new minor (0.x) version.
manifest="$scratch/repo/$CRATE_DIR/Cargo.toml"
sed -i 's/^version\.workspace = true$/version = "0.2.0"/' "$manifest"
grep -q '^version = "0.2.0"' "$manifest" ||
    fail "$CRATE_DIR/Cargo.toml takes no 'version.workspace = true' to replace with 0.2.0"
# The workspace names it with a version requirement: that follows, and so does the lock file.
sed -i "/package = \"$CRATE\"/s/version = \"0\.1\.0\"/version = \"0.2.0\"/" "$scratch/repo/Cargo.toml"
grep -q "package = \"$CRATE\".*version = \"0.2.0\"" "$scratch/repo/Cargo.toml" ||
    fail "the workspace Cargo.toml does not name $CRATE with version 0.1.0 any more"
(cd "$scratch/repo" && cargo update --quiet --offline --workspace)
git_scratch commit --quiet -am "semver gate: version 0.2.0"
check bumped -p "$CRATE"
[[ $status -eq 0 ]] || fail "the breaking rename with the version bumped to 0.2.0 still failed (exit $status)"

echo "test-semver-gate: the semver step passed an addition, stopped a breaking rename of $REMOVED and passed it in 0.2.0"
