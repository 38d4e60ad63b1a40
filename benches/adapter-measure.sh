#!/usr/bin/env bash
# End-to-end figures of the vSphere adapter against the vCenter simulator, all on loopback:
#
#   catch-up   EVENTS (default 100,000) backlogged events delivered to a local sink, from adapter
#              start until the sink has them all (count and ids checked): events/s, and the
#              adapter's user+sys CPU seconds (/proc/<pid>/stat)
#   latency    the simulator generating LATENCY_RATE (10) events/s for LATENCY_SECS (60) s while
#              the adapter tails: sink receive time minus the event's ce-time (createdTime),
#              p50 and p99
#   idle       the simulator generating nothing: SOAP requests the adapter makes per minute over
#              IDLE_SECS (120) s (the simulator's request count, GET /sim/stats)
#   rss        VmRSS of the adapter at the end of the idle phase, and its peak (VmHWM) at the end
#              of the catch-up
#   binary     the stripped release vsphere-adapter
#   slow sink  SLOW_EVENTS (default 20,000) backlogged events into a sink that answers after
#              SINK_LATENCY_MS (5) ms, a fresh simulator and adapter: events/s
#   failing    FAIL_EVENTS (default 20,000) into a sink answering 503 to SINK_FAIL_RATE (0.3) of
#              requests at random (each retried on its own): events/s, requests per event
#   rising     RISING_EVENTS (default 5,000) into a sink whose answers take 1 ms with one request
#              in progress, rising linearly to 50 ms with 64 or more (a broker that queues):
#              events/s, requests in progress at the sink (p50, max: the concurrency the
#              adapter settles at) and the sink's p99 hold
#   busy       FAIL_EVENTS into a sink answering 429 to SINK_FAIL_RATE of requests: events/s,
#              requests per delivered event, requests in progress (p50). The refusals are at
#              random, so no sender can make fewer than 1 / (1 - rate) requests per event
#   full       RISING_EVENTS into a broker at its capacity: 2 ms per event, 429 at once to a
#              request that comes while 8 are in progress: events/s, requests per event
#
# The adapter delivers up to DELIVERY_CONCURRENCY events at once (its default unless set here),
# as many as its adaptive limit allows.
#   benches/adapter-measure.sh                 # from the repository root; takes ~5 minutes
#   MIX=compact benches/adapter-measure.sh     # small events only (default: realistic)
#   ADAPTER_FEATURES=--no-default-features benches/adapter-measure.sh   # without --simulate
#   ADAPTER_BIN=target/x86_64-unknown-linux-musl/release/vsphere-adapter benches/adapter-measure.sh
#                                              # another build of the adapter (the image's)
#   TRACING=1 benches/adapter-measure.sh       # tracing on: every adapter exports a span per event
#                                              # (K_OBSERVABILITY_CONFIG, sampling rate
#                                              # TRACING_SAMPLING_RATE, default 1) to a local OTLP
#                                              # receiver (the otlp-receiver example of adapter-bin)
#
# One adapter process and one simulator run through the phases in order (catch-up, latency,
# idle); the sink is the bench-sink example of adapter-bin (202 at once). Payloads are JSON
# (VSPHERE_PAYLOAD_ENCODING=application/json), pages of PAGE_SIZE (default 100, as the adapter) events. The adapter
# starts from a checkpoint file dated before the backlog, with VSPHERE_CHECKPOINT_CONFIG
# {"maxAge":"24h"}. The last lines read:
#
#   catch-up: <N> events/s, <C> cpu-s
#   latency: p50 <A> ms, p99 <B> ms
#   idle requests: <R>/min
#   rss: idle <X> MiB, catch-up <Y> MiB
#   binary: <Z> MiB
#   catch-up (sink 5 ms): <N> events/s, <L> requests in progress (p50)
#   catch-up (sink failing 30%): <N> events/s, <Q> requests per event
#   catch-up (sink 1 -> 50 ms under load): <N> events/s, <L> requests in progress (p50, max <M>), sink p99 <P> ms
#   catch-up (sink answering 429 to 30%): <N> events/s, <Q> requests per event, <L> requests in progress (p50)
#   catch-up (sink at capacity 8, 2 ms): <N> events/s, <Q> requests per event, <L> requests in progress (p50)
#   tracing: <S> spans received by the end of the catch-up, <T> in all   (TRACING=1 only)
#
# Needs cargo, curl, python3 and strip. The machine may be shared: figures are one run's.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
events=${EVENTS:-100000}
mix=${MIX:-realistic}
page_size=${PAGE_SIZE:-100}
latency_rate=${LATENCY_RATE:-10}
latency_secs=${LATENCY_SECS:-60}
idle_secs=${IDLE_SECS:-120}
catchup_timeout=${CATCHUP_TIMEOUT_SECS:-900}
slow_events=${SLOW_EVENTS:-20000}
sink_latency_ms=${SINK_LATENCY_MS:-5}
fail_events=${FAIL_EVENTS:-20000}
sink_fail_rate=${SINK_FAIL_RATE:-0.3}
rising_events=${RISING_EVENTS:-5000}
concurrency_env=()
[ -n "${DELIVERY_CONCURRENCY:-}" ] && concurrency_env=(DELIVERY_CONCURRENCY="$DELIVERY_CONCURRENCY")
tracing=${TRACING:-0}
tracing_sampling_rate=${TRACING_SAMPLING_RATE:-1}
tracing_example=()
[ "$tracing" = 1 ] && tracing_example=(--example otlp-receiver)
backlog_span=3600

for tool in cargo curl python3 strip; do
    command -v "$tool" >/dev/null 2>&1 || { echo "adapter-measure.sh: $tool not found" >&2; exit 1; }
done
case $mix in
    # The realistic mix includes events of a type no vSphere release has (the adapter must
    # deliver those too); vsphere-sim makes them only when asked.
    realistic) mix_flags=(--unknown-event-types) ;;
    compact) mix_flags=(--compact-events) ;;
    *) echo "adapter-measure.sh: MIX must be realistic or compact, not $mix" >&2; exit 1 ;;
esac

echo "building (cargo, release) ..." >&2
adapter_features=${ADAPTER_FEATURES:-}
(cd "$root" && cargo build --quiet --release -p vsphere-sim --bins)
# shellcheck disable=SC2086 # ADAPTER_FEATURES holds cargo flags
(cd "$root" && cargo build --quiet --release -p adapter-bin --bins --example bench-sink "${tracing_example[@]}" $adapter_features)
target_dir=$(cd "$root" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
# ADAPTER_BIN measures another build of the adapter (e.g. the musl binary of an image).
adapter_bin=${ADAPTER_BIN:-$target_dir/release/vsphere-adapter}
sim_bin=$target_dir/release/vsphere-sim
sink_bin=$target_dir/release/examples/bench-sink
otlp_bin=$target_dir/release/examples/otlp-receiver

tmp=$(mktemp -d)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { # die MESSAGE: say why, show the logs' tails, stop
    echo "adapter-measure.sh: $1" >&2
    local f
    for f in "$tmp"/*.log; do
        [ -e "$f" ] || continue
        echo "--- tail of $(basename "$f")" >&2
        tail -n 15 "$f" >&2
    done
    exit 1
}

wait_for_line() { # wait_for_line FILE REGEX: the first matching line, within 30 s
    local i line
    for i in $(seq 300); do
        line=$(grep -m1 -E "$2" "$1" 2>/dev/null || true)
        if [ -n "$line" ]; then
            echo "$line"
            return 0
        fi
        [ "$i" -lt 300 ] && sleep 0.1
    done
    die "no line matching '$2' in $(basename "$1") after 30 s"
}

sink_stats() { # sink_stats PYTHON-EXPR over d, the sink's /stats JSON
    curl -fsS "$sink_url/stats" | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"
}

sim_stat() { # sim_stat NAME: a counter from the simulator's GET /sim/stats
    curl -fsS "$sim_base/sim/stats" | awk -v k="$1" '$1 == k { print $2 }'
}

proc_kib() { # proc_kib FIELD: VmRSS or VmHWM of the adapter, KiB
    awk -v k="$1:" '$1 == k { print $2 }' "/proc/$adapter_pid/status"
}

cpu_seconds() { # the adapter's user+sys CPU seconds
    local ticks
    ticks=$(getconf CLK_TCK)
    # Fields after the ")" that ends the command name: utime and stime are the 12th and 13th.
    sed 's/^.*) //' "/proc/$adapter_pid/stat" | awk -v hz="$ticks" '{ printf "%.2f", ($12 + $13) / hz }'
}

adapter_alive() {
    kill -0 "$adapter_pid" 2>/dev/null || die "the adapter exited"
}

# --- the sink
"$sink_bin" --listen 127.0.0.1:0 >"$tmp/sink.log" 2>&1 &
pids+=("$!")
sink_url=$(wait_for_line "$tmp/sink.log" 'listening on' | sed 's/.*listening on //; s:/$::')

# --- with TRACING=1, the OTLP receiver every adapter exports its spans to
tracing_env=()
if [ "$tracing" = 1 ]; then
    "$otlp_bin" --listen 127.0.0.1:0 >"$tmp/otlp.log" 2>&1 &
    pids+=("$!")
    otlp_url=$(wait_for_line "$tmp/otlp.log" 'listening on' | sed 's/.*listening on //; s:/$::')
    tracing_env=(K_OBSERVABILITY_CONFIG="{\"Tracing\":{\"protocol\":\"http/protobuf\",\"endpoint\":\"$otlp_url/v1/traces\",\"sampling_rate\":$tracing_sampling_rate}}")
fi

# --- the simulator, with the backlog ending now and spanning an hour before
checkpoint_time=$(date -u -d "@$(( $(date +%s) - backlog_span - 60 ))" +%Y-%m-%dT%H:%M:%SZ)
"$sim_bin" --listen 127.0.0.1:0 --backlog "$events" --backlog-span-secs "$backlog_span" \
    --no-login-events "${mix_flags[@]}" >"$tmp/sim.log" 2>&1 &
pids+=("$!")
sim_url=$(wait_for_line "$tmp/sim.log" 'vsphere-sim serving' | awk '{ print $3 }')
sim_base=${sim_url%/sdk}
[ "$(sim_stat events)" = "$events" ] || die "the simulator does not hold $events events"

# --- the adapter, resuming from before the backlog
printf '{"lastEventKeyTimestamp":"%s"}\n' "$checkpoint_time" >"$tmp/checkpoint.json"
echo "setup: $events backlogged events, $mix event mix (MIX=realistic|compact), JSON payloads, page size $page_size, checkpoint at $checkpoint_time, adapter features: ${adapter_features:-default}, concurrency ${DELIVERY_CONCURRENCY:-default}, tracing: $([ "$tracing" = 1 ] && echo "on, sampling rate $tracing_sampling_rate" || echo off)"
start_ns=$(date +%s%N)
VC_URL=$sim_url VC_USERNAME=administrator@vsphere.local VC_PASSWORD='VMware1!' \
    VC_SECRET_PATH=$tmp/no-secret K_SINK=$sink_url/ \
    VSPHERE_PAYLOAD_ENCODING=application/json VSPHERE_PAGE_SIZE=$page_size \
    VSPHERE_CHECKPOINT_FILE=$tmp/checkpoint.json VSPHERE_CHECKPOINT_CONFIG='{"maxAge":"24h"}' \
    METRICS_ADDRESS=127.0.0.1:0 NAMESPACE=bench NAME=adapter-measure \
    env "${concurrency_env[@]}" "${tracing_env[@]}" "$adapter_bin" >"$tmp/adapter.log" 2>&1 &
adapter_pid=$!
pids+=("$adapter_pid")

deadline=$(( $(date +%s) + catchup_timeout ))
while :; do
    count=$(curl -fsS "$sink_url/count")
    [ "$count" -ge "$events" ] && break
    adapter_alive
    [ "$(date +%s)" -lt "$deadline" ] || die "the sink has $count of $events events after ${catchup_timeout}s"
    sleep 0.2
done
catchup_cpu=$(cpu_seconds)
catchup_hwm_kib=$(proc_kib VmHWM)
sleep 1 # anything beyond the backlog (duplicates) would show now
read -r got distinct min_id max_id other last_ns < <(sink_stats 'd["count"], d["distinct_ids"], d["min_id"], d["max_id"], d["other_ids"], d["last_unix_ns"]')
if ! { [ "$got" = "$events" ] && [ "$distinct" = "$events" ] && [ "$min_id" = 1 ] && [ "$max_id" = "$events" ] && [ "$other" = 0 ]; }; then
    die "the sink got $got events, $distinct distinct ids $min_id..$max_id ($other not numeric); expected $events, ids 1..$events"
fi
catchup_wall=$(python3 -c "print(f'{($last_ns - $start_ns) / 1e9:.3f}')")
catchup_rate=$(python3 -c "print(round($events / $catchup_wall))")
[ "$tracing" = 1 ] && catchup_spans=$(curl -fsS "$otlp_url/count")
echo "checked: all $events events, ids 1..$events once each, the last after ${catchup_wall}s"

# --- latency: events generated at a steady rate while the adapter tails
curl -fsS -X POST "$sink_url/reset" >/dev/null
echo "latency: $latency_rate events/s for ${latency_secs}s ..." >&2
curl -fsS -X POST "$sim_base/sim/rate?per-sec=$latency_rate" >/dev/null
sleep "$latency_secs"
curl -fsS -X POST "$sim_base/sim/rate?per-sec=0" >/dev/null
sleep 2
adapter_alive
read -r lat_n lat_count lat_p50 lat_p99 lat_max < <(sink_stats 'd["latency_ms"]["n"], d["count"], "%.1f %.1f %.1f" % (d["latency_ms"]["p50"], d["latency_ms"]["p99"], d["latency_ms"]["max"])')
generated=$(( $(sim_stat events) - events ))
[ "$lat_count" = "$generated" ] || die "the simulator generated $generated events but the sink got $lat_count"
[ "$lat_n" -gt 0 ] || die "no event with a ce-time reached the sink"
echo "checked: $lat_n events generated at $latency_rate/s over ${latency_secs}s all delivered, latency max $lat_max ms"

# --- idle: nothing generated; count the adapter's SOAP requests
sleep 3
requests_before=$(sim_stat requests)
echo "idle: counting SOAP requests for ${idle_secs}s ..." >&2
sleep "$idle_secs"
requests_after=$(sim_stat requests)
adapter_alive
idle_rss_kib=$(proc_kib VmRSS)
idle_per_min=$(python3 -c "print(f'{($requests_after - $requests_before) * 60 / $idle_secs:.1f}')")
echo "checked: $(( requests_after - requests_before )) SOAP requests in ${idle_secs}s idle"

# --- binary
cp "$adapter_bin" "$tmp/vsphere-adapter.stripped"
strip "$tmp/vsphere-adapter.stripped"
binary_bytes=$(stat -c %s "$tmp/vsphere-adapter.stripped")

kill "$adapter_pid" 2>/dev/null || true

# --- catch-up into a slow sink and into a failing one: fresh simulator, sink and adapter each
extra_catchup() { # extra_catchup NAME EVENTS SINK-FLAGS...: prints events/s
    local name=$1 n=$2
    shift 2
    local dir="$tmp/$name"
    mkdir -p "$dir"
    "$sink_bin" --listen 127.0.0.1:0 "$@" >"$dir/sink.log" 2>&1 &
    local sink_pid=$!
    pids+=("$sink_pid")
    local url
    url=$(wait_for_line "$dir/sink.log" 'listening on' | sed 's/.*listening on //; s:/$::')
    local cp_time
    cp_time=$(date -u -d "@$(( $(date +%s) - backlog_span - 60 ))" +%Y-%m-%dT%H:%M:%SZ)
    "$sim_bin" --listen 127.0.0.1:0 --backlog "$n" --backlog-span-secs "$backlog_span" \
        --no-login-events "${mix_flags[@]}" >"$dir/sim.log" 2>&1 &
    local sim_pid=$!
    pids+=("$sim_pid")
    local surl
    surl=$(wait_for_line "$dir/sim.log" 'vsphere-sim serving' | awk '{ print $3 }')
    printf '{"lastEventKeyTimestamp":"%s"}\n' "$cp_time" >"$dir/checkpoint.json"
    local t0
    t0=$(date +%s%N)
    VC_URL=$surl VC_USERNAME=administrator@vsphere.local VC_PASSWORD='VMware1!' \
        VC_SECRET_PATH=$dir/no-secret K_SINK=$url/ \
        VSPHERE_PAYLOAD_ENCODING=application/json VSPHERE_PAGE_SIZE=$page_size \
        VSPHERE_CHECKPOINT_FILE=$dir/checkpoint.json VSPHERE_CHECKPOINT_CONFIG='{"maxAge":"24h"}' \
        METRICS_ADDRESS=127.0.0.1:0 NAMESPACE=bench NAME=adapter-measure \
        env "${concurrency_env[@]}" "${tracing_env[@]}" "$adapter_bin" >"$dir/adapter.log" 2>&1 &
    local apid=$!
    pids+=("$apid")
    local deadline=$(( $(date +%s) + catchup_timeout )) count
    while :; do
        count=$(curl -fsS "$url/count")
        [ "$count" -ge "$n" ] && break
        kill -0 "$apid" 2>/dev/null || die "$name: the adapter exited"
        [ "$(date +%s)" -lt "$deadline" ] || die "$name: the sink has $count of $n events after ${catchup_timeout}s"
        sleep 0.2
    done
    sleep 1
    local got distinct last refused load_p50 load_max service_p99
    read -r got distinct last refused load_p50 load_max service_p99 < <(curl -fsS "$url/stats" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["count"], d["distinct_ids"], d["last_unix_ns"], d["refused"], d["in_progress"]["p50"], d["in_progress"]["max"], d["service_ms"]["p99"])')
    [ "$distinct" = "$n" ] || die "$name: $distinct distinct ids of $n"
    local wall cpu
    wall=$(python3 -c "print(f'{($last - $t0) / 1e9:.3f}')")
    cpu=$(sed 's/^.*) //' "/proc/$apid/stat" | awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($12 + $13) / hz }')
    echo "checked: $name: all $n events ($got deliveries, $refused refused) in ${wall}s, adapter $cpu cpu-s, requests in progress at the sink p50 $load_p50 max $load_max" >&2
    kill "$apid" "$sim_pid" "$sink_pid" 2>/dev/null || true
    # events/s, requests per delivered event, requests in progress (p50, max), sink hold p99 ms
    python3 -c "print(round($n / $wall), f'{($got + $refused) / $got:.2f}', '$load_p50', '$load_max', '$service_p99')"
}
echo "catch-up into a sink answering after ${sink_latency_ms} ms ..." >&2
read -r slow_rate _ slow_load _ _ < <(extra_catchup slow "$slow_events" --latency-ms "$sink_latency_ms")
echo "catch-up into a sink failing ${sink_fail_rate} of requests ..." >&2
read -r fail_rate fail_requests _ _ _ < <(extra_catchup failing "$fail_events" --fail-rate "$sink_fail_rate")
fail_pct=$(python3 -c "print(round($sink_fail_rate * 100))")
echo "catch-up into a sink whose latency rises from 1 ms to 50 ms with 64 requests in progress ..." >&2
read -r rising_rate _ rising_load rising_load_max rising_p99 < <(extra_catchup rising "$rising_events" \
    --latency-ms 1 --latency-under-load-ms 50 --load-requests 64)
echo "catch-up into a sink answering 429 to ${sink_fail_rate} of requests ..." >&2
read -r busy_rate busy_requests busy_load _ _ < <(extra_catchup busy "$fail_events" \
    --fail-rate "$sink_fail_rate" --fail-status 429)
echo "catch-up into a sink at its capacity (2 ms per event, 429 beyond 8 in progress) ..." >&2
read -r full_rate full_requests full_load _ _ < <(extra_catchup full "$rising_events" \
    --latency-ms 2 --capacity 8 --fail-status 429)

mib() { python3 -c "print(f'{$1 / 1048576:.1f}')"; }
echo "catch-up: $catchup_rate events/s, $catchup_cpu cpu-s"
echo "latency: p50 $lat_p50 ms, p99 $lat_p99 ms"
echo "idle requests: $idle_per_min/min"
echo "rss: idle $(mib "$idle_rss_kib * 1024") MiB, catch-up $(mib "$catchup_hwm_kib * 1024") MiB"
echo "binary: $(mib "$binary_bytes") MiB"
echo "catch-up (sink ${sink_latency_ms} ms): $slow_rate events/s, $slow_load requests in progress (p50)"
echo "catch-up (sink failing ${fail_pct}%): $fail_rate events/s, $fail_requests requests per event"
echo "catch-up (sink 1 -> 50 ms under load): $rising_rate events/s, $rising_load requests in progress (p50, max $rising_load_max), sink p99 $rising_p99 ms"
echo "catch-up (sink answering 429 to ${fail_pct}%): $busy_rate events/s, $busy_requests requests per event, $busy_load requests in progress (p50)"
echo "catch-up (sink at capacity 8, 2 ms): $full_rate events/s, $full_requests requests per event, $full_load requests in progress (p50)"
if [ "$tracing" = 1 ]; then
    sleep 6 # the exporters' last batches (every 5 s)
    echo "tracing: $catchup_spans spans received by the end of the catch-up, $(curl -fsS "$otlp_url/count") in all"
fi
