#!/usr/bin/env bash
# Regenerate the goldens of crates/cloudevent-encode from the SOAP fixtures in this directory,
# with tools/golden-go (govmomi at the Go project's pinned version, encoding/xml and
# encoding/json of each decoded event, as the Go adapter sends them).
#
#   crates/cloudevent-encode/tests/golden/regenerate.sh
#
# Writes, for every fixture NAME.xml here, NAME.golden.jsonl: one JSON line per event and
# encoding ({"index","id","type","eventclass","datacontenttype","data"}, or {"index","unknown"}
# where govmomi does not know the type). allfields.xml (one event of every govmomi event type,
# every Go field filled) is itself generated first by the same program. The other fixtures are
# hand-written (vcenter-*.xml) or captured from vcsim (vcsim-*.xml) and are inputs.
#
# Needs Go (https://go.dev/dl/); modules come from GOPROXY (default https://proxy.golang.org)
# and are checked against tools/golden-go/go.sum.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../../.." && pwd)
gotool="$root/tools/golden-go"
command -v go >/dev/null 2>&1 || {
    echo "regenerate.sh: go not found; install Go from https://go.dev/dl/" >&2
    exit 1
}
export GOPROXY=${GOPROXY:-https://proxy.golang.org} GOFLAGS=-mod=readonly
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
(cd "$gotool" && go build -o "$bin/golden-go" .)
govmomi=$(cd "$gotool" && go list -m -f '{{.Dir}}' github.com/vmware/govmomi)

"$bin/golden-go" allfields -types-go "$govmomi/vim25/types/types.go" -out "$here/allfields.xml"
"$bin/golden-go" golden -out "$here" "$here"/*.xml
