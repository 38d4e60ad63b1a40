#!/usr/bin/env bash
# Captures crates/vsphere-client/tests/fixtures/vcsim-read-next-events.xml: the raw SOAP
# response of a ReadNextEvents call (maxCount 1000) against a fresh govmomi vcsim, reading the
# whole history vcsim logs while it builds its default inventory (VmBeingCreatedEvent with a
# full configSpec, VmInstanceUuidAssignedEvent, VmPoweredOnEvent, ...).
#
# Rerun (from the repository root, with the vcsim that scripts/install-test-deps.sh installs,
# govmomi v0.46.3):
#
#   eval "$(scripts/install-test-deps.sh --env)"      # exports VCSIM_BIN
#   tools/capture-vcsim-fixture.sh                     # or: tools/capture-vcsim-fixture.sh OUT.xml
#
# Needs bash, curl, sed and grep. The capture differs from run to run only in times, UUIDs and
# the like; tests/it/decode.rs asserts properties of the page (types, order, shapes), not exact values.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/crates/vsphere-client/tests/fixtures/vcsim-read-next-events.xml}
vcsim=${VCSIM_BIN:-$(command -v vcsim || true)}
[[ -n "$vcsim" && -x "$vcsim" ]] || {
    echo "capture-vcsim-fixture: set VCSIM_BIN (scripts/install-test-deps.sh --env)" >&2
    exit 1
}

tmp=$(mktemp -d)
"$vcsim" -l 127.0.0.1:0 -tls=false -username user -password pass >"$tmp/stdout" 2>"$tmp/stderr" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT

# vcsim prints `export GOVC_URL=http://user:pass@127.0.0.1:PORT/sdk ...` once it listens.
for _ in $(seq 100); do
    grep -q 'GOVC_URL=' "$tmp/stdout" 2>/dev/null && break
    sleep 0.1
done
hostport=$(sed -n 's|.*GOVC_URL=[a-z]*://[^@]*@\([^/]*\)/sdk.*|\1|p' "$tmp/stdout" | head -n1)
[[ -n "$hostport" ]] || {
    echo "capture-vcsim-fixture: vcsim did not start:" >&2
    cat "$tmp/stdout" "$tmp/stderr" >&2
    exit 1
}
sdk="http://$hostport/sdk"

# soap BODY: POST an envelope around BODY, keeping the session cookie; prints the response.
soap() {
    curl -sS --fail-with-body -b "$tmp/cookies" -c "$tmp/cookies" \
        -H 'Content-Type: text/xml; charset=utf-8' -H 'SOAPAction: "urn:vim25/6.5"' \
        --data-binary @- "$sdk" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>$1</soapenv:Body></soapenv:Envelope>
XML
}

# first_text XML ELEMENT: the text of the first <ELEMENT ...>text</ELEMENT>.
first_text() {
    printf '%s' "$1" | grep -o "<$2[ >][^<]*</$2>" | head -n1 | sed 's/^<[^>]*>//; s/<.*//'
}

sc=$(soap '<RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></RetrieveServiceContent>')
root_folder=$(first_text "$sc" rootFolder)
session_manager=$(first_text "$sc" sessionManager)
event_manager=$(first_text "$sc" eventManager)
[[ -n "$root_folder" && -n "$session_manager" && -n "$event_manager" ]] || {
    echo "capture-vcsim-fixture: unexpected ServiceContent: $sc" >&2
    exit 1
}

soap "<Login xmlns=\"urn:vim25\"><_this type=\"SessionManager\">$session_manager</_this><userName>user</userName><password>pass</password></Login>" >/dev/null

created=$(soap "<CreateCollectorForEvents xmlns=\"urn:vim25\"><_this type=\"EventManager\">$event_manager</_this><filter><entity><entity type=\"Folder\">$root_folder</entity><recursion>all</recursion></entity></filter></CreateCollectorForEvents>")
collector=$(first_text "$created" returnval)
[[ -n "$collector" ]] || {
    echo "capture-vcsim-fixture: CreateCollectorForEvents failed: $created" >&2
    exit 1
}

soap "<ReadNextEvents xmlns=\"urn:vim25\"><_this type=\"EventHistoryCollector\">$collector</_this><maxCount>1000</maxCount></ReadNextEvents>" >"$tmp/page.xml"
grep -q 'ReadNextEventsResponse' "$tmp/page.xml" || {
    echo "capture-vcsim-fixture: ReadNextEvents failed:" >&2
    cat "$tmp/page.xml" >&2
    exit 1
}
mkdir -p "$(dirname "$out")"
cp "$tmp/page.xml" "$out"
echo "capture-vcsim-fixture: wrote $out ($(wc -c <"$out") bytes, $(grep -o '<returnval ' "$out" | wc -l) events)" >&2
