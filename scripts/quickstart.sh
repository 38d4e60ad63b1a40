#!/usr/bin/env bash
# The first thing to run: vCenter events from a simulated vCenter, no vCenter and no cluster
# needed. Installs govmomi's vcsim (pinned, cached; see scripts/install-test-deps.sh), starts it
# on a free loopback port, prints its event history with the vsphere-events example, then
# follows new events until Ctrl-C.
#
#   scripts/quickstart.sh            # history, then follow
#   scripts/quickstart.sh --no-follow
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

follow=(--follow)
if [[ "${1:-}" == "--no-follow" ]]; then
    follow=()
fi

eval "$(scripts/install-test-deps.sh --env)"
cargo build --quiet -p vsphere-client --example vsphere-events

out=$(mktemp)
"$VCSIM_BIN" -l 127.0.0.1:0 -username user -password pass >"$out" 2>/dev/null &
sim=$!
trap 'kill "$sim" 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 50); do
    grep -q GOVC_URL "$out" && break
    sleep 0.1
done
url=$(grep -o 'https://[^ ]*' "$out" | sed 's#//user:pass@#//#')
if [[ -z "$url" ]]; then
    echo "vcsim did not start" >&2
    exit 1
fi
echo "vcsim is serving $url (user 'user', password 'pass'); its certificate is self-signed, hence --insecure" >&2
target/debug/examples/vsphere-events --url "$url" --insecure --username user --password pass \
    --since 2000-01-01T00:00:00Z "${follow[@]}"
