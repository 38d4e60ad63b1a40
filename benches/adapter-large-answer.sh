#!/usr/bin/env bash
# The vSphere adapter's peak memory when one event is large: the simulator holds a backlog of
# 20 events, one of them (key 10) with a message of SIZE bytes, for each SIZE in SIZES; a fresh
# adapter (default settings but JSON payloads, so VC_MAX_RESPONSE_BYTES is its default unless
# set) delivers them to a local sink. Prints per size the adapter's peak RSS (VmHWM), its peak
# anonymous memory (RssAnon, sampled every 20 ms) and how the event arrived (whole, or as far as
# it reads when its answer exceeds the limit). What it is for: the adapter Deployment's memory
# limit (128 MiB, crates/controller-bin/src/resources.rs) must hold the largest answer the
# adapter reads plus its decoding and encoding.
#
#   benches/adapter-large-answer.sh                       # from the repository root
#   SIZES="8388608 33554432" benches/adapter-large-answer.sh
#   ADAPTER_BIN=... SIM_BIN=... SINK_BIN=... benches/adapter-large-answer.sh   # other builds
#
# Output, one line per size:
#   size <MiB> MiB: <whole|as far as it reads>, peak RSS <X> MiB, peak anon <Y> MiB
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sizes=${SIZES:-"8388608 16777216 24000000 31457280"}

if [ -z "${ADAPTER_BIN:-}" ] || [ -z "${SIM_BIN:-}" ] || [ -z "${SINK_BIN:-}" ]; then
    echo "building (cargo, release) ..." >&2
    (cd "$root" && cargo build --quiet --release -p vsphere-sim --bins)
    (cd "$root" && cargo build --quiet --release -p adapter-bin --bins --example bench-sink)
fi
target_dir=$(cd "$root" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
adapter_bin=${ADAPTER_BIN:-$target_dir/release/vsphere-adapter}
sim_bin=${SIM_BIN:-$target_dir/release/vsphere-sim}
sink_bin=${SINK_BIN:-$target_dir/release/examples/bench-sink}

tmp=$(mktemp -d)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    [ -n "${KEEP:-}" ] || rm -rf "$tmp"; [ -n "${KEEP:-}" ] && echo "kept $tmp" >&2 || true
}
trap cleanup EXIT

wait_for_line() { # wait_for_line FILE REGEX: the first matching line, within 30 s
    local i line
    for i in $(seq 300); do
        line=$(grep -m1 -E "$2" "$1" 2>/dev/null || true)
        [ -n "$line" ] && { echo "$line"; return 0; }
        sleep 0.1
    done
    echo "adapter-large-answer.sh: no line matching '$2' in $1" >&2
    tail -n 20 "$1" >&2
    exit 1
}

for size in $sizes; do
    pids=()
    "$sink_bin" --listen 127.0.0.1:0 >"$tmp/sink.log" 2>&1 &
    pids+=("$!")
    sink_url=$(wait_for_line "$tmp/sink.log" 'listening on' | sed 's/.*listening on //; s:/$::')
    "$sim_bin" --listen 127.0.0.1:0 --backlog 20 --backlog-span-secs 600 --no-login-events \
        --inflate-event "10=$size" >"$tmp/sim.log" 2>&1 &
    pids+=("$!")
    sim_url=$(wait_for_line "$tmp/sim.log" 'vsphere-sim serving' | awk '{ print $3 }')
    checkpoint_time=$(date -u -d "@$(( $(date +%s) - 700 ))" +%Y-%m-%dT%H:%M:%SZ)
    printf '{"lastEventKeyTimestamp":"%s"}\n' "$checkpoint_time" >"$tmp/cp.json"
    VC_URL=$sim_url VC_USERNAME=administrator@vsphere.local VC_PASSWORD='VMware1!' \
        VC_SECRET_PATH=$tmp/no-secret K_SINK=$sink_url/ VSPHERE_PAYLOAD_ENCODING=application/json \
        VSPHERE_CHECKPOINT_FILE=$tmp/cp.json VSPHERE_CHECKPOINT_CONFIG='{"maxAge":"24h"}' \
        METRICS_ADDRESS=127.0.0.1:0 NAMESPACE=bench NAME=large-answer \
        "$adapter_bin" >"$tmp/adapter.log" 2>&1 &
    adapter=$!
    pids+=("$adapter")
    peak_anon=0
    deadline=$(( $(date +%s) + ${TIMEOUT_SECS:-300} ))
    while :; do
        anon=$(awk '$1 == "RssAnon:" { print $2 }' "/proc/$adapter/status" 2>/dev/null || echo 0)
        [ "${anon:-0}" -gt "$peak_anon" ] && peak_anon=$anon
        count=$(curl -fsS "$sink_url/count" || echo 0)
        [ "$count" -ge 20 ] && break
        kill -0 "$adapter" 2>/dev/null || { echo "the adapter exited:" >&2; tail -n 20 "$tmp/adapter.log" >&2; exit 1; }
        [ "$(date +%s)" -lt "$deadline" ] || { echo "the sink has $count of 20 events after 300 s" >&2; exit 1; }
        sleep 0.02
    done
    hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$adapter/status")
    how=whole
    grep -q "too large to read" "$tmp/adapter.log" && how="as far as it reads"
    python3 -c "print(f'size {$size / 1048576:.0f} MiB: $how, peak RSS {$hwm / 1024:.1f} MiB, peak anon {$peak_anon / 1024:.1f} MiB')"
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
done
