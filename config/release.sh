#!/usr/bin/env bash
# Release step: fills the image placeholders of config/*.yaml and writes one
# manifest that users install with `kubectl apply -f release.yaml`.
#
# Usage:
#   config/release.sh CONTROLLER_IMAGE VSPHERE_ADAPTER_IMAGE HORIZON_ADAPTER_IMAGE [OUT]
# e.g.
#   config/release.sh ghcr.io/org/sources-controller@sha256:... \
#       ghcr.io/org/vsphere-adapter@sha256:... ghcr.io/org/horizon-adapter@sha256:... release.yaml
set -euo pipefail
if [[ $# -lt 3 ]]; then
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
controller=$1 vsphere=$2 horizon=$3 out=${4:-release.yaml}
dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
{
    first=1
    for f in "$dir"/*.yaml; do
        [[ $first -eq 1 ]] || printf -- '---\n'
        first=0
        sed -e "s#__SOURCES_CONTROLLER_IMAGE__#${controller}#g" \
            -e "s#__VSPHERE_ADAPTER_IMAGE__#${vsphere}#g" \
            -e "s#__HORIZON_ADAPTER_IMAGE__#${horizon}#g" "$f"
    done
} >"$out.tmp"
if grep -q '__[A-Z_]*_IMAGE__' "$out.tmp"; then
    echo "release.sh: unfilled image placeholder in $out" >&2
    exit 1
fi
mv "$out.tmp" "$out"
echo "wrote $out"
