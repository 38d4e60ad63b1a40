#!/usr/bin/env bash
# Controller measurements against a real kube-apiserver (installed by
# scripts/install-test-deps.sh): with SCALE_SOURCES VSphereSources (default 100) in one
# namespace, the time until all are Ready, the controller's RSS (VmRSS, VmHWM), its CPU and the
# API requests per source, its CPU over a quiet window (SCALE_QUIET_SECONDS, 30), and a new
# healthy source's latency while every source resyncs. A run that does not finish within
# SCALE_DEADLINE_SECONDS (300) prints how many were Ready and exits non-zero; the controller is
# killed on every exit path. The other modes: benches/controller-admission.sh, -fairness.sh.
# The module doc of crates/controller-bin/benches/scale.rs says more. Run from anywhere.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
eval "$(scripts/install-test-deps.sh --env)"
export VCSIM_BIN ETCD_BIN KUBE_APISERVER_BIN KNATIVE_CRDS_DIR
exec cargo bench -p controller-bin --bench scale
