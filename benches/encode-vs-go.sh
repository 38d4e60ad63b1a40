#!/usr/bin/env bash
# Side-by-side throughput of the per-page event pipeline, ours against the Go adapter's, on the
# same machine and the same 100-event ReadNextEvents page (real-vCenter style, with config specs,
# faults and EventEx arguments):
#
#   ours: vsphere-client decode + cloudevent-encode payload per event (release build, 1 thread)
#   go:   govmomi SOAP decode + encoding/json or encoding/xml per event (tools/golden-go bench,
#         govmomi at the Go project's pinned version; GOMAXPROCS=1)
#
#   benches/encode-vs-go.sh [SECONDS] [PAGE.xml]
#
# Each side runs ROUNDS times (default 5), interleaved, and the best rate of each is compared
# (the machine may be shared). The last two lines read `json: ours <N> events/s, go <M> events/s, ratio <R>` and the same for
# `xml:`. Needs cargo and Go (https://go.dev/dl/; modules from GOPROXY, default
# https://proxy.golang.org, checked against tools/golden-go/go.sum).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-3}
page=${2:-$root/crates/cloudevent-encode/tests/golden/bench-page-100.xml}
command -v go >/dev/null 2>&1 || { echo "encode-vs-go.sh: go not found; install Go from https://go.dev/dl/" >&2; exit 1; }
command -v cargo >/dev/null 2>&1 || { echo "encode-vs-go.sh: cargo not found" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "building ours (cargo, release) ..." >&2
(cd "$root" && cargo build --quiet --release -p cloudevent-encode --example encode-bench)
target_dir=$(cd "$root" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
ours_bin="$target_dir/release/examples/encode-bench"

echo "building go (tools/golden-go) ..." >&2
(cd "$root/tools/golden-go" && GOPROXY=${GOPROXY:-https://proxy.golang.org} GOFLAGS=-mod=readonly go build -o "$tmp/golden-go" .)

rounds=${ROUNDS:-5}
echo "page: $page (${seconds}s per measurement, one core each, best of $rounds interleaved rounds)" >&2
ours="" go=""
for _ in $(seq "$rounds"); do
    o=$("$ours_bin" --seconds "$seconds" "$page")
    g=$(GOMAXPROCS=1 "$tmp/golden-go" bench -seconds "$seconds" "$page")
    echo "$o"
    echo "$g"
    ours+="$o"$'\n'
    go+="$g"$'\n'
done

rate() { # rate WHO ENCODING TEXT: the best of the rounds
    printf '%s\n' "$3" | awk -v who="$1" -v enc="$2" '$1 == who && $2 == enc && $3 > best { best = $3 } END { print best }'
}
for enc in json xml; do
    o=$(rate ours "$enc" "$ours")
    g=$(rate go "$enc" "$go")
    r=$(awk -v o="$o" -v g="$g" 'BEGIN { printf "%.1f", o / g }')
    echo "$enc: ours $o events/s, go $g events/s, ratio $r"
done
