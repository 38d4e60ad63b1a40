#!/usr/bin/env bash
# The project's test command: what a developer runs before pushing, and what
# CI runs (.ci/run execs this script).
#
# Steps, in order, stopping at the first failure:
#   1. scripts/install-test-deps.sh   pinned external tools (vcsim, govc, pyVmomi, etcd, kube-apiserver,
#                                     kn, cargo-semver-checks, ...), cached
#   2. cargo fmt --all -- --check
#   3. tools/catalogue/regenerate.sh --check   the vim25 catalogue is current
#   4. cargo clippy --workspace --all-targets -- -D warnings
#   5. scripts/test-images.sh                  the release images: built twice (same digests),
#                                              read by skopeo and umoci, started with runc
#   6. scripts/run-tests.py                    cargo test --workspace, several test binaries
#                                              at once (TEST_JOBS, default 3), and the doc
#                                              tests; builds benches and examples too. With
#                                              RELEASE_IMAGES: release.yaml names the images
#                                              step 5 built, by digest
#   7. scripts/check-libraries.sh              the library crates' docs and packages
#   8. scripts/test-semver-gate.sh             check-libraries.sh's semver step, against a
#                                              scratch tag: passes an addition, stops a break
#
# SKIP_IMAGES=1 leaves step 5 out (a developer's quick run; the release tests then use fixed
# references). CI never sets it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO_ROOT=$(pwd)

FMT_ARGS=(--check)
if [[ "${CI:-}" == "true" ]]; then
    export CARGO_TERM_COLOR=never
    # A fresh clone builds everything once: incremental caches would only cost disk and time.
    export CARGO_INCREMENTAL=0
    # rustfmt colours its diff even into a pipe unless told not to.
    FMT_ARGS+=(--color never)
fi

CURRENT_STEP=""
STEP_START=$SECONDS
SUMMARY=()
TEST_TOTALS=""
TEST_LOG=""

banner() {
    printf '\n==> %s\n' "$*"
}

# step NAME: starts a step (the previous one succeeded).
step() {
    finish_step
    CURRENT_STEP=$1
    STEP_START=$SECONDS
    banner "$CURRENT_STEP"
}

finish_step() {
    if [[ -n "$CURRENT_STEP" ]]; then
        SUMMARY+=("ok   $((SECONDS - STEP_START))s  $CURRENT_STEP")
    fi
    CURRENT_STEP=""
}

on_exit() {
    local rc=$?
    if [[ $rc -ne 0 && -n "$CURRENT_STEP" ]]; then
        SUMMARY+=("FAIL $((SECONDS - STEP_START))s  $CURRENT_STEP")
    fi
    if [[ ${#SUMMARY[@]} -gt 0 ]]; then
        banner "summary"
        printf '  %s\n' "${SUMMARY[@]}"
    fi
    if [[ $rc -ne 0 ]]; then
        printf '\nscripts/test.sh: FAILED (exit %d) in: %s\n' "$rc" "${CURRENT_STEP:-setup}" >&2
    elif [[ -n "$TEST_TOTALS" ]]; then
        # Last line of the run: the totals of `cargo test --workspace`.
        printf '\n%s\n' "$TEST_TOTALS"
    fi
    if [[ -n "$TEST_LOG" ]]; then
        rm -f "$TEST_LOG"
    fi
    exit "$rc"
}
trap on_exit EXIT

step "install test dependencies (scripts/install-test-deps.sh)"
deps_env=$("$REPO_ROOT/scripts/install-test-deps.sh" --env)
printf '%s\n' "$deps_env"
eval "$deps_env"
export VCSIM_BIN

step "cargo fmt --all -- --check"
cargo fmt --all -- "${FMT_ARGS[@]}"

step "tools/catalogue/regenerate.sh --check"
REGENERATE="$REPO_ROOT/tools/catalogue/regenerate.sh"
if [[ ! -x "$REGENERATE" ]]; then
    if [[ -e "$REGENERATE" ]]; then
        echo "tools/catalogue/regenerate.sh exists but is not executable" >&2
    else
        echo "tools/catalogue/regenerate.sh is missing" >&2
    fi
    exit 1
fi
"$REGENERATE" --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

if [[ "${SKIP_IMAGES:-}" == "1" && "${CI:-}" != "true" ]]; then
    echo "SKIP_IMAGES=1: the release images are not built; the release tests use fixed references"
else
    step "scripts/test-images.sh (release images: reproducible, readable, start)"
    IMAGES_DIR="$REPO_ROOT/target/images-test"
    rm -rf "$IMAGES_DIR"
    "$REPO_ROOT/scripts/test-images.sh" --out "$IMAGES_DIR"
    export RELEASE_IMAGES="$IMAGES_DIR"
fi

step "cargo test --workspace (scripts/run-tests.py)"
TEST_LOG=$(mktemp "${TMPDIR:-/tmp}/vmware-sources-test.XXXXXX")
"$REPO_ROOT/scripts/run-tests.py" 2>&1 | tee "$TEST_LOG"
# Totals over every test binary and the doctests, as one closing line.
read -r passed failed ignored < <(
    awk '/^test result: /{
            for (i = 1; i <= NF; i++) {
                if ($(i+1) ~ /^passed/)  p += $i
                if ($(i+1) ~ /^failed/)  f += $i
                if ($(i+1) ~ /^ignored/) g += $i
            }
        } END { print p + 0, f + 0, g + 0 }' "$TEST_LOG"
)
if [[ $passed -eq 0 ]]; then
    echo "cargo test ran no test" >&2
    exit 1
fi
TEST_TOTALS=$(printf 'tests: %d passed, %d failed, %d skipped' "$passed" "$failed" "$ignored")

step "scripts/check-libraries.sh (library docs and packages)"
"$REPO_ROOT/scripts/check-libraries.sh"

step "scripts/test-semver-gate.sh (the semver step stops a breaking change)"
"$REPO_ROOT/scripts/test-semver-gate.sh"


finish_step
banner "all steps passed"
