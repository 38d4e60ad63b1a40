#!/usr/bin/env bash
# Regenerates crates/adapter-bin/link/hot-text.ld: the functions the vSphere adapter runs, placed
# together at the start of the code.
#
# Why: an idle adapter's memory is mostly its code. The kernel maps a binary's code in blocks of
# 64 KiB around each page that runs (fault-around), so a few hundred functions spread over 5 MiB
# keep most of it resident (4 MiB). Placed side by side, they take about 1.8 MiB
# (benches/adapter-measure.sh, "rss: idle").
#
# How: builds the release adapter with a linker map (ADAPTER_LINK_MAP), runs it under valgrind's
# callgrind through start-up, a catch-up of CATCHUP_EVENTS (3000) backlogged events, tailing at 5
# events/s, /metrics and the probes, and a few idle seconds, once with JSON and once with XML
# payloads (then the same natively under `perf record -e page-faults`), then once with the
# ConfigMap checkpoint against a real API server (its extra functions are placed after the rest),
# maps every executed address to its function's section through the map, and writes those
# sections as patterns
# (the hash of Rust's legacy symbol names replaced by *, so the list survives unrelated changes).
# Functions missing from the list only cost memory, never correctness: re-run after large
# changes to the adapter's code.
#
#   tools/link-order/generate.sh        # from the repository root; ~10 minutes
#
# Needs cargo, valgrind, curl and python3; perf, when it may record page faults, adds what a
# native run touches first. Runs add up (the list keeps what it already placed first, unless
# FRESH=1): run it twice after large changes.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
events=${CATCHUP_EVENTS:-3000}
out=$root/crates/adapter-bin/link/hot-text.ld
for tool in cargo valgrind curl python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "generate.sh: $tool not found" >&2; exit 1; }
done

tmp=$(mktemp -d)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

echo "building the release adapter with a linker map ..." >&2
(cd "$root" && ADAPTER_LINK_MAP=$tmp/adapter.map cargo build --quiet --release \
    -p adapter-bin -p vsphere-sim --bins --example bench-sink)
target_dir=$(cd "$root" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
rel=$target_dir/release
[ -s "$tmp/adapter.map" ] || {
    # Up to date: cargo did not link again, so force a link that writes the map.
    touch "$root/crates/adapter-bin/build.rs"
    (cd "$root" && ADAPTER_LINK_MAP=$tmp/adapter.map cargo build --quiet --release -p adapter-bin --bin vsphere-adapter)
}
[ -s "$tmp/adapter.map" ] || { echo "generate.sh: the linker wrote no map" >&2; exit 1; }

wait_for_line() { # wait_for_line FILE REGEX
    local i
    for i in $(seq 300); do
        grep -m1 -E "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "generate.sh: no line matching '$2' in $1" >&2
    exit 1
}

profile() { # profile ENCODING RUNNER...: one run of the adapter under RUNNER
    "$rel/examples/bench-sink" --listen 127.0.0.1:0 >"$tmp/sink.log" 2>&1 &
    local sink_pid=$!
    pids+=("$sink_pid")
    local sink_url sim_url sim_base checkpoint_time
    sink_url=$(wait_for_line "$tmp/sink.log" 'listening on' | sed 's/.*listening on //; s:/$::')
    "$rel/vsphere-sim" --listen 127.0.0.1:0 --backlog "$events" --backlog-span-secs 3600 \
        --no-login-events >"$tmp/sim.log" 2>&1 &
    local sim_pid=$!
    pids+=("$sim_pid")
    sim_url=$(wait_for_line "$tmp/sim.log" 'vsphere-sim serving' | awk '{ print $3 }')
    sim_base=${sim_url%/sdk}
    checkpoint_time=$(date -u -d "@$(( $(date +%s) - 3660 ))" +%Y-%m-%dT%H:%M:%SZ)
    local checkpoint
    checkpoint=$(printf '{"lastEventKeyTimestamp":"%s"}' "$checkpoint_time")
    local store=(VSPHERE_CHECKPOINT_FILE="$tmp/checkpoint.json")
    if [ -n "${kubeconfig:-}" ]; then
        # The ConfigMap checkpoint, as in a cluster (replaced before each run).
        api_request DELETE /api/v1/namespaces/default/configmaps/link-order >/dev/null 2>&1 || true
        api_request POST /api/v1/namespaces/default/configmaps \
            "{\"metadata\":{\"name\":\"link-order\"},\"data\":{\"checkpoint\":$(printf '%s' "$checkpoint" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')}}" >/dev/null
        store=(VSPHERE_KVSTORE_CONFIGMAP=link-order KUBECONFIG="$kubeconfig")
    else
        printf '%s\n' "$checkpoint" >"$tmp/checkpoint.json"
    fi
    env VC_URL="$sim_url" VC_USERNAME=administrator@vsphere.local VC_PASSWORD='VMware1!' \
        VC_SECRET_PATH="$tmp/no-secret" K_SINK="$sink_url/" VSPHERE_PAYLOAD_ENCODING="$1" \
        "${store[@]}" VSPHERE_CHECKPOINT_CONFIG='{"maxAge":"24h","period":"1s"}' \
        METRICS_ADDRESS=127.0.0.1:0 NAMESPACE=default NAME=link-order \
        "${@:2}" "$rel/vsphere-adapter" >"$tmp/adapter.log" 2>&1 &
    local adapter_pid=$!
    pids+=("$adapter_pid")
    local deadline=$(( $(date +%s) + 600 ))
    until [ "$(curl -fsS "$sink_url/count")" -ge "$events" ]; do
        kill -0 "$adapter_pid" 2>/dev/null || { tail "$tmp/adapter.log" >&2; exit 1; }
        [ "$(date +%s)" -lt "$deadline" ] || { echo "generate.sh: catch-up too slow" >&2; exit 1; }
        sleep 0.5
    done
    # What Kubernetes and Prometheus call while the adapter idles.
    local metrics_addr
    metrics_addr=$(grep -m1 'serving /metrics' "$tmp/adapter.log" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["address"])')
    local path
    for path in metrics healthz readyz metrics; do
        curl -fsS "http://$metrics_addr/$path" >/dev/null
    done
    curl -fsS -X POST "$sim_base/sim/rate?per-sec=5" >/dev/null
    sleep 8
    curl -fsS -X POST "$sim_base/sim/rate?per-sec=0" >/dev/null
    sleep 4
    kill -TERM "$adapter_pid"
    wait "$adapter_pid" || true
    kill "$sim_pid" "$sink_pid"
    wait "$sim_pid" "$sink_pid" 2>/dev/null || true
    pids=()
}

api_request() { # api_request METHOD PATH [JSON]: a request to the API server as its admin
    local server token
    server=$(awk '$1 == "server:" { print $2; exit }' "$kubeconfig")
    token=$(awk '$1 == "token:" { print $2; exit }' "$kubeconfig")
    curl -fsS -k -X "$1" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        ${3:+--data "$3"} "$server$2"
}

echo "profiling under callgrind (JSON, then XML payloads) ..." >&2
profiles=()
for encoding in json xml; do
    profile "application/$encoding" \
        valgrind --tool=callgrind --demangle=no --callgrind-out-file="$tmp/$encoding.cg"
    profiles+=("$tmp/$encoding.cg")
done
# In a cluster the checkpoint goes to a ConfigMap: the same with a real API server
# (scripts/install-test-deps.sh provides it, as for the tests).
echo "profiling under callgrind with a ConfigMap checkpoint ..." >&2
"$root/scripts/install-test-deps.sh" >&2
(cd "$root" && cargo build --quiet --release -p kube-harness --example serve)
mkfifo "$tmp/hold"
"$rel/examples/serve" <"$tmp/hold" >"$tmp/serve.log" 2>&1 &
serve_pid=$!
exec 3>"$tmp/hold"
kubeconfig=$(wait_for_line "$tmp/serve.log" '^kubeconfig ' | cut -d' ' -f2)
profile application/json \
    valgrind --tool=callgrind --demangle=no --callgrind-out-file="$tmp/configmap.cg"
exec 3>&-
wait "$serve_pid" || true
kubeconfig=
# Native runs: the code pages they fault in, where they differ from the runs under valgrind.
if perf record -q -e page-faults -c 1 -o "$tmp/probe.data" true 2>/dev/null; then
    echo "profiling page faults natively (JSON, then XML payloads) ..." >&2
    for encoding in json xml; do
        profile "application/$encoding" \
            perf record -q -e page-faults -c 1 -d -o "$tmp/$encoding.perf"
        perf script -i "$tmp/$encoding.perf" --show-mmap-events -F addr >"$tmp/$encoding.faults" 2>/dev/null
        profiles+=("$tmp/$encoding.faults")
    done
else
    echo "perf cannot record page faults here: callgrind profiles only" >&2
fi

# The file-checkpoint runs first, then what the ConfigMap checkpoint adds.
python3 "$root/tools/link-order/hot_sections.py" "$tmp/adapter.map" vsphere-adapter \
    "${profiles[@]}" --then "$tmp/configmap.cg" >"$tmp/hot-text.ld"
mv "$tmp/hot-text.ld" "$out"
echo "wrote $out ($(grep -c '^    \*' "$out") patterns); rebuild to use it" >&2
