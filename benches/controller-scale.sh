#!/usr/bin/env bash
# Controller measurements (issue: control plane part 1): RSS idle and with 100 VSphereSources
# reconciled, and the time to reconcile them, against a real kube-apiserver (installed by
# scripts/install-test-deps.sh). Prints the figures; run from anywhere.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
eval "$(scripts/install-test-deps.sh --env)"
export VCSIM_BIN ETCD_BIN KUBE_APISERVER_BIN KNATIVE_CRDS_DIR
exec cargo bench -p controller-bin --bench scale
