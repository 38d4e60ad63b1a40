#!/usr/bin/env bash
# Admission with the largest objects a namespace user may write (issue 22 item 3): 50
# VSphereBindings of the largest size the CRDs allow in one namespace, the sources-controller
# (bench profile) serving the webhooks of a real kube-apiserver: its RSS before and with them
# cached, and the latency of admitting a binding, a Deployment in their namespace (the binding
# webhook applies one) and a Deployment elsewhere (not called). Prints the figures.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
eval "$(scripts/install-test-deps.sh --env)"
export VCSIM_BIN ETCD_BIN KUBE_APISERVER_BIN KNATIVE_CRDS_DIR
exec cargo bench -p controller-bin --bench scale -- admission
