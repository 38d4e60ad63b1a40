#!/usr/bin/env bash
# Is crates/adapter-bin/link/hot-text.ld still current? Builds the release vSphere adapter with
# a linker map and prints the share of the sections the list names that the linker found; fails
# under MIN_SHARE (default 0.8). Functions renamed or moved since the list was generated are not
# placed (they only cost memory): when the share drops, run tools/link-order/generate.sh.
#
#   tools/link-order/check.sh                 # from the repository root
#   MAP=path/to/adapter.map tools/link-order/check.sh   # use a map a release build wrote
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ld=$root/crates/adapter-bin/link/hot-text.ld
min=${MIN_SHARE:-0.8}
map=${MAP:-}
if [ -z "$map" ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    map=$tmp/adapter.map
    echo "building the release adapter with a linker map ..." >&2
    (cd "$root" && ADAPTER_LINK_MAP=$map cargo build --quiet --release -p adapter-bin --bin vsphere-adapter)
    if [ ! -s "$map" ]; then
        # Up to date: cargo did not link again; link once more to get the map.
        touch "$root/crates/adapter-bin/src/bin/vsphere-adapter.rs"
        (cd "$root" && ADAPTER_LINK_MAP=$map cargo build --quiet --release -p adapter-bin --bin vsphere-adapter)
    fi
fi
[ -s "$map" ] || { echo "check.sh: the linker wrote no map" >&2; exit 1; }
python3 "$root/tools/link-order/matched.py" "$map" "$ld" --min "$min"
