#!/usr/bin/env bash
# The project's test command: what a developer runs before pushing, and what
# CI runs (.ci/run execs this script).
#
# Steps, in order, stopping at the first failure:
#   1. scripts/install-test-deps.sh   pinned external tools (vcsim, govc, pyVmomi, etcd, kube-apiserver,
#                                     kn, cargo-semver-checks, ...), cached
#   2. cargo fmt --all -- --check
#   3. tools/catalogue/regenerate.sh --check   the vim25 catalogue is current
#   4. cargo clippy --workspace --all-targets -- -D warnings   (started before step 1, beside
#                                              the install; joined here)
#   5. scripts/test-images.sh                  the release images: built twice (same digests),
#                                              read by skopeo and umoci, started with runc
#   6. cargo test, built                       every test target (scripts/run-tests.py
#                                              --build-only), benches and examples built too,
#                                              and the doc tests run (cargo test --doc)
#   7. cargo test, run                         the test binaries, several at once
#                                              (scripts/run-tests.py; TEST_JOBS, default 3).
#                                              With RELEASE_IMAGES: release.yaml names the
#                                              images step 5 built, by digest.
#      While they run, at the lowest CPU priority (nice 19, their scheduling group's too: see
#      background()), so that they only take what the waiting tests leave idle, each with its
#      own log:
#        scripts/check-libraries.sh            the library crates' docs and packages
#        scripts/test-semver-gate.sh           check-libraries.sh's semver step, against a
#                                              scratch tag: passes an addition, stops a break
#      and, started already after step 3 (the builds of steps 4 to 6 leave a core idle at
#      times, and a fresh machine has five cross builds to make):
#        scripts/test-cli.sh                   the kn vsphere binaries for five platforms: built,
#                                              run (Linux) or checked by file type (others)
#      Their logs are printed when the tests are done; each is a step of its own in the
#      summary, which gives wall time and the CPU seconds each step used.
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
STEP_CPU=0
SUMMARY=()
TEST_TOTALS=""
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vmware-sources-test.XXXXXX")
BACKGROUND=()
BACKGROUND_STARTED=0

banner() {
    printf '\n==> %s\n' "$*"
}

# cpu_centis: user+sys CPU of this shell's finished children so far, in hundredths of a second.
cpu_centis() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%d", ($16 + $17) * 100 / hz }' "/proc/$$/stat"
}

# step NAME: starts a step (the previous one succeeded).
step() {
    finish_step
    CURRENT_STEP=$1
    STEP_START=$SECONDS
    STEP_CPU=$(cpu_centis)
    banner "$CURRENT_STEP"
}

# summary_line STATUS SECONDS CPU-CENTIS NAME
summary_line() {
    SUMMARY+=("$(printf '%-4s %5ss %6s cpu-s  %s' "$1" "$2" "$(awk -v c="$3" 'BEGIN { printf "%.0f", c / 100 }')" "$4")")
}

finish_step() {
    if [[ -n "$CURRENT_STEP" ]]; then
        summary_line ok "$((SECONDS - STEP_START))" "$(($(cpu_centis) - STEP_CPU))" "$CURRENT_STEP"
    fi
    CURRENT_STEP=""
}

on_exit() {
    local rc=$?
    local job pgid
    for job in "${BACKGROUND[@]}"; do
        # A background step still running when an earlier step failed: its process group.
        pgid=$(cat "${job##*:}.pgid" 2>/dev/null || true)
        [[ -z "$pgid" ]] || kill -- "-$pgid" 2>/dev/null || true
    done
    # Their output lives in $WORK: let them end before it goes (they are not this shell's
    # children, see background: their status files say they ended), ten seconds at most.
    for job in "${BACKGROUND[@]}"; do
        for _ in {1..20}; do
            [[ ! -e "${job##*:}.pgid" || -e "${job##*:}.status" ]] && break
            sleep 0.5
        done
    done
    if [[ $rc -ne 0 && -n "$CURRENT_STEP" ]]; then
        summary_line FAIL "$((SECONDS - STEP_START))" "$(($(cpu_centis) - STEP_CPU))" "$CURRENT_STEP"
    fi
    if [[ ${#SUMMARY[@]} -gt 0 ]]; then
        banner "summary (wall time, CPU seconds)"
        printf '  %s\n' "${SUMMARY[@]}"
    fi
    if [[ $rc -ne 0 ]]; then
        printf '\nscripts/test.sh: FAILED (exit %d) in: %s\n' "$rc" "${CURRENT_STEP:-setup}" >&2
    elif [[ -n "$TEST_TOTALS" ]]; then
        # Last line of the run: the totals of the tests.
        printf '\n%s\n' "$TEST_TOTALS"
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap on_exit EXIT

# background NAME COMMAND...: starts COMMAND at the lowest CPU priority (BACKGROUND_NICE, default
# 19), its output in a log. Where the kernel schedules each session as a group
# (/proc/sys/kernel/sched_autogroup_enabled), a niceness only ranks processes inside their
# session, and setsid below gives the step a session of its own: so the session's group is
# given the niceness as well, or the step would share the CPU equally with the foreground.
#
# The step is not a child of this shell but of a subshell that has exited: bash reaps a finished
# child at once and adds its CPU time to this shell's, which would count a background step's CPU
# into whichever step was running when it ended. Its end is known by its status file.
background() {
    local name=$1
    shift
    # BACKGROUND's entries are NAME:LOG.
    [[ $name != *:* ]] || { echo "scripts/test.sh: a background step's name has no ':' ($name)" >&2; exit 2; }
    # Numbered by a counter, not by BACKGROUND's length, which a joined step shortens: a later
    # step then took an earlier one's log and status file, and was taken as ended at once.
    BACKGROUND_STARTED=$((BACKGROUND_STARTED + 1))
    local log="$WORK/background-$BACKGROUND_STARTED.log"
    local niceness=${BACKGROUND_NICE:-19}
    (
        (
            echo "$BASHPID" >"$log.pid"
            start=$SECONDS
            set +e
            # Its own process group (setsid keeps the pid when not a group leader), so that a
            # failure elsewhere can stop all of it. Its session's scheduling group gets the
            # niceness too (/proc/self/autogroup; where there is none, the write fails and
            # nice alone ranks the step).
            # (The single quotes are the inner bash's: it expands $1 and ${@:2}.)
            setsid bash -c 'echo "$1" >/proc/self/autogroup 2>/dev/null; exec nice -n "$1" "${@:2}"' \
                background-step "$niceness" "$@" >"$log" 2>&1 &
            echo "$!" >"$log.pgid"
            wait "$!"
            rc=$?
            # Wall seconds and this job's CPU (its children's user+sys), for the summary. The
            # pid is taken here: inside $(...) BASHPID would name the command substitution's own
            # subshell, which has no children (the summary then read 0 cpu-s).
            me=$BASHPID
            printf '%s %s %s\n' "$rc" "$((SECONDS - start))" \
                "$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%d", ($16 + $17) * 100 / hz }' "/proc/$me/stat")" \
                >"$log.status.tmp"
            mv "$log.status.tmp" "$log.status"
        ) &
    )
    BACKGROUND+=("$name:$log")
}

# await_background LOG: waits until the background step logging to LOG has ended: its status
# file is there, or the subshell that would write it is gone (then the step counts as failed).
await_background() {
    local pid
    until [[ -e "$1.status" ]]; do
        pid=$(cat "$1.pid" 2>/dev/null || true)
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            [[ -e "$1.status" ]] || echo "scripts/test.sh: a background step ended without its status ($1)" >&2
            return 0
        fi
        sleep 1
    done
}

# join_background NAME: waits for the background step NAME (started by `background`), prints its
# log and adds it to the summary as a step; fails when it failed.
join_background() {
    local want=$1 job name log rc secs cpu rest=()
    for job in "${BACKGROUND[@]}"; do
        name=${job%%:*}
        if [[ $name != "$want" ]]; then
            rest+=("$job")
            continue
        fi
        log=${job#*:}
        await_background "$log"
        banner "$name (its output)"
        cat "$log"
        read -r rc secs cpu <"$log.status" || { rc=1 secs=0 cpu=0; }
        if [[ $rc -ne 0 ]]; then
            # The failed step, for on_exit's summary line and message.
            CURRENT_STEP=$name
            STEP_START=$((SECONDS - secs))
            STEP_CPU=$(($(cpu_centis) - cpu))
            BACKGROUND=("${rest[@]}")
            return 1
        fi
        summary_line ok "$secs" "$cpu" "$name"
    done
    BACKGROUND=("${rest[@]}")
}

# wait_background: prints each background step's log and adds it to the summary; fails when one
# failed.
wait_background() {
    local job name log rc secs cpu failed=""
    for job in "${BACKGROUND[@]}"; do
        name=${job%%:*}
        log=${job#*:}
        await_background "$log"
        banner "$name (ran in the background; its output)"
        cat "$log"
        read -r rc secs cpu <"$log.status" || { rc=1 secs=0 cpu=0; }
        if [[ $rc -eq 0 ]]; then
            summary_line ok "$secs" "$cpu" "$name, in the background"
        else
            summary_line FAIL "$secs" "$cpu" "$name, in the background"
            failed+="${failed:+, }$name"
        fi
    done
    BACKGROUND=()
    if [[ -n "$failed" ]]; then
        echo "scripts/test.sh: failed in the background: $failed" >&2
        return 1
    fi
}

# Clippy needs nothing the installer brings (rustup fetches the pinned toolchain): on a fresh
# machine it runs beside the install (Go and cargo builds of the tools, ~14 minutes, with a core
# idle at times), at normal priority; it is joined, its output shown, before the images.
CLIPPY="cargo clippy --workspace --all-targets -- -D warnings"
BACKGROUND_NICE=0 background "$CLIPPY" cargo clippy --workspace --all-targets -- -D warnings

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

# The kn vsphere cross builds start now, in the background at the lowest priority: on a fresh
# machine they compile every dependency five times, which fits into the CPU the builds below
# leave idle (clippy's and the images' single-threaded phases: linking, fat LTO) and the tests'
# waits. With their dependencies cached (per Cargo.lock and toolchain) only the workspace's crates
# are compiled.
background "scripts/test-cli.sh (kn vsphere for five platforms)" \
    "$REPO_ROOT/scripts/test-cli.sh"

finish_step
if ! join_background "$CLIPPY"; then
    exit 1
fi

if [[ "${SKIP_IMAGES:-}" == "1" && "${CI:-}" != "true" ]]; then
    echo "SKIP_IMAGES=1: the release images are not built; the release tests use fixed references"
else
    step "scripts/test-images.sh (release images: reproducible, readable, start)"
    IMAGES_DIR="$REPO_ROOT/target/images-test"
    rm -rf "$IMAGES_DIR"
    "$REPO_ROOT/scripts/test-images.sh" --out "$IMAGES_DIR"
    export RELEASE_IMAGES="$IMAGES_DIR"
fi

step "cargo test: build every test target, run the doc tests"
TEST_LIST="$WORK/test-binaries.json"
"$REPO_ROOT/scripts/run-tests.py" --build-only --list "$TEST_LIST"
TEST_LOG="$WORK/tests.log"
cargo test --workspace --doc 2>&1 | tee "$TEST_LOG"

step "cargo test: run the test binaries (scripts/run-tests.py)"
# Cargo is not needed from here on by the tests (they run from the list), so the background
# steps may hold its build lock.
background "scripts/check-libraries.sh (library docs and packages)" \
    "$REPO_ROOT/scripts/check-libraries.sh"
background "scripts/test-semver-gate.sh (the semver step stops a breaking change)" \
    "$REPO_ROOT/scripts/test-semver-gate.sh"
tests_rc=0
"$REPO_ROOT/scripts/run-tests.py" --list "$TEST_LIST" --no-doc 2>&1 | tee -a "$TEST_LOG" || tests_rc=$?
# Totals over every test binary and the doc tests, as one closing line.
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
[[ $tests_rc -eq 0 ]] || exit "$tests_rc"
finish_step

if ! wait_background; then
    CURRENT_STEP="the steps in the background"
    exit 1
fi

banner "all steps passed"
