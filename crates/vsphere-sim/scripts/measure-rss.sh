#!/usr/bin/env bash
# Measure the resident memory of the vsphere-sim binary holding a backlog.
#
#   crates/vsphere-sim/scripts/measure-rss.sh [BACKLOG] [debug|release]
#
# Builds the binary (cargo build -p vsphere-sim), starts it with --backlog BACKLOG (default
# 1000000), prints its /sim/stats, and VmRSS and VmHWM from /proc. For the memory while
# serving reads, see `cargo test -p vsphere-sim --test memory -- --nocapture`.
set -euo pipefail
backlog=${1:-1000000}
profile=${2:-debug}
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
if [ "$profile" = release ]; then
    cargo build -q -p vsphere-sim --release
    bin=target/release/vsphere-sim
else
    cargo build -q -p vsphere-sim
    bin=target/debug/vsphere-sim
fi
out=$(mktemp)
"$bin" --listen 127.0.0.1:0 --backlog "$backlog" >"$out" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 1 600); do
    grep -q serving "$out" && break
    sleep 0.1
done
line=$(head -n1 "$out")
echo "$line"
url=$(echo "$line" | grep -o 'http://[^ ]*')
hostport=${url#http://}; hostport=${hostport%/sdk}
exec 3<>"/dev/tcp/${hostport%:*}/${hostport#*:}"
printf 'GET /sim/stats HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$hostport" >&3
sed -n '/^events/,$p' <&3 | tr -d '\r'
exec 3<&-
grep -E '^(VmRSS|VmHWM)' "/proc/$pid/status" | awk -v n="$backlog" -v p="$profile" \
    '{printf "%s %.1f MiB (%s build, backlog %d)\n", $1, $2/1024, p, n}'
