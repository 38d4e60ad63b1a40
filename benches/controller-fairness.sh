#!/usr/bin/env bash
# Fairness under failure (issue 22 item 4): 500 VSphereSources that never become Ready in one
# namespace; how long a healthy source in another namespace waits to be reconciled (during the
# failing ones' first minute, and after), and the reconciles per second the failing ones cost
# once they back off. sources-controller (bench profile), real kube-apiserver. Prints the figures.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
eval "$(scripts/install-test-deps.sh --env)"
export VCSIM_BIN ETCD_BIN KUBE_APISERVER_BIN KNATIVE_CRDS_DIR
exec cargo bench -p controller-bin --bench scale -- fairness
