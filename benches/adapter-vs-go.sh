#!/usr/bin/env bash
# The vSphere adapter against the Go project's, side by side on one machine in one run: each
# catches up on the same backlog of the vCenter simulator into the same local sink, with its
# checkpoint in a ConfigMap of a real kube-apiserver (the Go adapter cannot run without one), and
# the figures are its CPU seconds (user+sys, /proc/<pid>/stat) and peak RSS (VmHWM).
#
#   benches/adapter-vs-go.sh
#   GO_PROJECT_DIR=~/src/sources-for-knative benches/adapter-vs-go.sh   # a checkout of the Go project
#   ADAPTER_BINS="glibc=target/release/vsphere-adapter musl=target/x86_64-unknown-linux-musl/release/vsphere-adapter" \
#       benches/adapter-vs-go.sh                                         # several builds of ours
#
#   EVENTS   backlogged events per catch-up (default 20,000)
#   ROUNDS   catch-ups per adapter, interleaved (default 3)
#
# The Go adapter is built from the Go project (github.com/vmware-tanzu/sources-for-knative) at
# the pinned commit below, with its vendored modules (`go build -mod=vendor`: nothing is fetched,
# which matters because the Go module proxy refuses that module, 403). GO_PROJECT_DIR names a
# checkout of it; without one the script clones it from GitHub into the cache. Either way the
# checkout must be at the pinned commit. GO_ADAPTER_BIN names a Go adapter built already.
#
# Both adapters read the same event mix: the realistic one without event types unknown to
# vSphere (vsphere-sim --unknown-event-types), on which the Go adapter panics (a nil pointer in
# getEventDetails; that is one of the faults this project fixes). Payloads are JSON, the sink
# answers 202 at once (bench-sink), each delivery is checked (every id once). The Go adapter
# delivers one event at a time; ours with its default concurrency.
#
# The last lines read:
#   go:           <C1>-<C2> cpu-s (<U> us/event), peak RSS <R1>-<R2> MiB, <N> events/s (best)
#   ours <name>:  <C1>-<C2> cpu-s (<U> us/event), peak RSS <R1>-<R2> MiB, <N> events/s (best)
#   ours <name>:  <X1>-<X2>x less CPU than go (worst and best pairs of rounds)
#
# Needs cargo, go, git (without GO_PROJECT_DIR or GO_ADAPTER_BIN), curl and python3; the
# kube-apiserver and etcd of scripts/install-test-deps.sh. The machine may be shared: the
# rounds are interleaved so a burst of other load hits both sides.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly GO_PROJECT_URL=https://github.com/vmware-tanzu/sources-for-knative
readonly GO_PROJECT_COMMIT=d0a3b31714f5860abe5914e1571de3c0bbbdd741 # main, 2023-12-13 (v1.x, knative 1.12)
events=${EVENTS:-20000}
rounds=${ROUNDS:-3}
cache=${VMWARE_SOURCES_CACHE:-$HOME/.cache/vmware-sources}

die() {
    echo "adapter-vs-go.sh: $1" >&2
    local f
    for f in "${tmp:-/nonexistent}"/*.log; do
        [ -e "$f" ] || continue
        echo "--- tail of $(basename "$f")" >&2
        tail -n 8 "$f" >&2
    done
    exit 1
}
for tool in cargo curl python3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found"
done
[[ $events =~ ^[1-9][0-9]*$ ]] || die "EVENTS must be a positive number, not '$events'"
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive number, not '$rounds'"

# --- the Go adapter
go_bin=${GO_ADAPTER_BIN:-}
if [ -z "$go_bin" ]; then
    go_bin=$cache/go-vsphere-adapter-$GO_PROJECT_COMMIT
    if [ ! -x "$go_bin" ]; then
        command -v go >/dev/null 2>&1 || die "go not found (https://go.dev/dl/); it builds the Go adapter"
        src=${GO_PROJECT_DIR:-}
        if [ -z "$src" ]; then
            command -v git >/dev/null 2>&1 || die "git not found; or set GO_PROJECT_DIR to a checkout of $GO_PROJECT_URL"
            src=$cache/sources-for-knative
            [ -d "$src/.git" ] || git clone --quiet "$GO_PROJECT_URL" "$src" ||
                die "cannot clone $GO_PROJECT_URL; set GO_PROJECT_DIR to a checkout of it (commit $GO_PROJECT_COMMIT)"
            git -C "$src" checkout --quiet "$GO_PROJECT_COMMIT" || die "the clone in $src has no commit $GO_PROJECT_COMMIT"
        fi
        head=$(git -C "$src" rev-parse HEAD 2>/dev/null || true)
        [ "$head" = "$GO_PROJECT_COMMIT" ] ||
            die "GO_PROJECT_DIR ($src) is at '${head:-not a git checkout}', not the pinned $GO_PROJECT_COMMIT (git -C $src checkout $GO_PROJECT_COMMIT)"
        echo "building the Go adapter (go build -mod=vendor, $GO_PROJECT_COMMIT) ..." >&2
        mkdir -p "$cache"
        (cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=vendor go build -trimpath -o "$go_bin.tmp" ./cmd/vsphere-adapter) ||
            die "go build of $src/cmd/vsphere-adapter failed"
        mv "$go_bin.tmp" "$go_bin"
    fi
fi
[ -x "$go_bin" ] || die "GO_ADAPTER_BIN ($go_bin) is not an executable"

# --- ours, the simulator, the sink and the API server
eval "$("$root/scripts/install-test-deps.sh" --env 2>/dev/null)" || die "scripts/install-test-deps.sh --env failed; run scripts/install-test-deps.sh"
export ETCD_BIN KUBE_APISERVER_BIN
echo "building (cargo, release) ..." >&2
(cd "$root" && cargo build --quiet --release -p vsphere-sim --bins)
(cd "$root" && cargo build --quiet --release -p adapter-bin --bins --example bench-sink)
(cd "$root" && cargo build --quiet --release -p kube-harness --example serve)
target_dir=$(cd "$root" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
ours=()
for spec in ${ADAPTER_BINS:-"release=$target_dir/release/vsphere-adapter"}; do
    [[ $spec == *=* ]] || die "ADAPTER_BINS takes NAME=PATH words, not '$spec'"
    [ -x "${spec#*=}" ] || die "ADAPTER_BINS: ${spec#*=} is not an executable"
    ours+=("$spec")
done
sim_bin=$target_dir/release/vsphere-sim
sink_bin=$target_dir/release/examples/bench-sink
serve_bin=$target_dir/release/examples/serve

tmp=$(mktemp -d)
pids=()
serve_fd=
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    # The API server runs until its standard input closes.
    [ -n "$serve_fd" ] && exec {serve_fd}>&-
    [ -n "${serve_pid:-}" ] && wait "$serve_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for_line() { # wait_for_line FILE REGEX: the first matching line, within 60 s
    local i line
    for i in $(seq 600); do
        line=$(grep -m1 -E "$2" "$1" 2>/dev/null || true)
        [ -n "$line" ] && { echo "$line"; return 0; }
        sleep 0.1
    done
    die "no line matching '$2' in $(basename "$1") after 60 s"
}

exec {serve_fd}> >(exec "$serve_bin" >"$tmp/serve.log" 2>&1)
serve_pid=$!
kubeconfig=$(wait_for_line "$tmp/serve.log" '^kubeconfig ' | awk '{ print $2 }')
read -r api_server api_token < <(python3 - "$kubeconfig" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
print(re.search(r"server:\s*(\S+)", text).group(1), re.search(r"token:\s*(\S+)", text).group(1))
EOF
)
"$sink_bin" --listen 127.0.0.1:0 >"$tmp/sink.log" 2>&1 &
pids+=("$!")
sink_url=$(wait_for_line "$tmp/sink.log" 'listening on' | sed 's/.*listening on //; s:/$::')
mkdir -p "$tmp/secret"
printf %s administrator@vsphere.local >"$tmp/secret/username"
printf %s 'VMware1!' >"$tmp/secret/password"

run=0
catch_up() { # catch_up BIN: one catch-up of a fresh backlog; sets got_cpu (s), got_hwm (KiB), got_wall (s)
    local bin=$1
    run=$((run + 1))
    local dir=$tmp/run-$run
    mkdir -p "$dir"
    "$sim_bin" --listen 127.0.0.1:0 --backlog "$events" --backlog-span-secs 3600 --no-login-events \
        >"$dir/sim.log" 2>&1 &
    local sim_pid=$!
    pids+=("$sim_pid")
    local sim_url
    sim_url=$(wait_for_line "$dir/sim.log" 'vsphere-sim serving' | awk '{ print $3 }')
    # The checkpoint, in the Go project's ConfigMap shape, dated before the backlog.
    local configmap=checkpoint-$run cp_time
    cp_time=$(date -u -d "@$(( $(date +%s) - 3600 - 60 ))" +%Y-%m-%dT%H:%M:%SZ)
    python3 -c 'import json, sys; print(json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": sys.argv[1], "namespace": "default"},
        "data": {"checkpoint": json.dumps({"lastEventKeyTimestamp": sys.argv[2]})}}))' "$configmap" "$cp_time" |
        curl -fsSk -o /dev/null -H "Authorization: Bearer $api_token" -H 'Content-Type: application/json' \
            -X POST "$api_server/api/v1/namespaces/default/configmaps" -d @- ||
        die "cannot create the ConfigMap $configmap"
    curl -fsS -X POST "$sink_url/reset" >/dev/null
    local t0
    t0=$(date +%s%N)
    KUBECONFIG=$kubeconfig VC_URL=$sim_url VC_INSECURE=true VC_SECRET_PATH=$tmp/secret K_SINK=$sink_url/ \
        NAMESPACE=default NAME=adapter-vs-go VSPHERE_KVSTORE_CONFIGMAP=$configmap \
        VSPHERE_CHECKPOINT_CONFIG='{"maxAge":"24h"}' VSPHERE_PAYLOAD_ENCODING=application/json \
        METRICS_ADDRESS=127.0.0.1:0 "$bin" >"$dir/adapter.log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    local deadline=$(( $(date +%s) + 600 )) count
    while :; do
        count=$(curl -fsS "$sink_url/count")
        [ "$count" -ge "$events" ] && break
        kill -0 "$pid" 2>/dev/null || die "run $run: the adapter ($bin) exited after $count of $events events (its log: $dir/adapter.log)"
        [ "$(date +%s)" -lt "$deadline" ] || die "run $run: the sink has $count of $events events after 600 s"
        sleep 0.05
    done
    local ticks cpu hwm
    ticks=$(getconf CLK_TCK)
    cpu=$(sed 's/^.*) //' "/proc/$pid/stat" | awk -v hz="$ticks" '{ printf "%.2f", ($12 + $13) / hz }')
    hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$pid/status")
    kill "$pid" "$sim_pid" 2>/dev/null || true
    wait "$pid" "$sim_pid" 2>/dev/null || true
    local got distinct min_id max_id last
    read -r got distinct min_id max_id last < <(curl -fsS "$sink_url/stats" |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["count"], d["distinct_ids"], d["min_id"], d["max_id"], d["last_unix_ns"])')
    [ "$got" = "$events" ] && [ "$distinct" = "$events" ] && [ "$min_id" = 1 ] && [ "$max_id" = "$events" ] ||
        die "run $run: the sink got $got events, $distinct distinct ids $min_id..$max_id; expected ids 1..$events once each"
    got_cpu=$cpu
    got_hwm=$hwm
    got_wall=$(python3 -c "print(f'{($last - $t0) / 1e9:.3f}')")
}

echo "setup: $events backlogged events (realistic mix, known types), JSON payloads, ConfigMap checkpoint, $rounds rounds, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
declare -A cpus hwms walls
names=(go)
for spec in "${ours[@]}"; do names+=("${spec%%=*}"); done
for r in $(seq "$rounds"); do
    for name in "${names[@]}"; do
        bin=$go_bin
        for spec in "${ours[@]}"; do [ "${spec%%=*}" = "$name" ] && bin=${spec#*=}; done
        catch_up "$bin"
        echo "round $r: $name: $events events in ${got_wall}s, $got_cpu cpu-s, peak RSS $got_hwm KiB" >&2
        cpus[$name]+="$got_cpu "
        hwms[$name]+="$got_hwm "
        walls[$name]+="$got_wall "
    done
done

python3 - "$events" "${names[@]}" <<EOF
import sys
events = int(sys.argv[1])
names = sys.argv[2:]
cpus = {$(for n in "${names[@]}"; do printf '"%s": [%s], ' "$n" "$(echo ${cpus[$n]} | tr ' ' ',')"; done)}
hwms = {$(for n in "${names[@]}"; do printf '"%s": [%s], ' "$n" "$(echo ${hwms[$n]} | tr ' ' ',')"; done)}
walls = {$(for n in "${names[@]}"; do printf '"%s": [%s], ' "$n" "$(echo ${walls[$n]} | tr ' ' ',')"; done)}
for n in names:
    label = "go:" if n == "go" else f"ours {n}:"
    c = cpus[n]
    print(f"{label:<14}{min(c):.2f}-{max(c):.2f} cpu-s ({min(c) / events * 1e6:.0f}-{max(c) / events * 1e6:.0f} us/event), "
          f"peak RSS {min(hwms[n]) / 1024:.1f}-{max(hwms[n]) / 1024:.1f} MiB, {events / min(walls[n]):.0f} events/s (best)")
for n in names[1:]:
    worst = min(g / o for g, o in zip(cpus["go"], cpus[n]))
    best = max(g / o for g, o in zip(cpus["go"], cpus[n]))
    print(f"{'ours ' + n + ':':<14}{worst:.1f}-{best:.1f}x less CPU than go (worst and best round)")
EOF
