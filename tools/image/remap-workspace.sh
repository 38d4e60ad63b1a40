#!/bin/sh
# RUSTC_WORKSPACE_WRAPPER for scripts/build-images.sh: runs rustc for the workspace's own crates
# with REMAP_WORKSPACE_FLAGS added (the checkout's path remapped to /src). Dependencies are
# compiled without it, so their artifacts do not depend on where the checkout is.
# Usage (by cargo): remap-workspace.sh RUSTC ARGS...
rustc=$1
shift
# shellcheck disable=SC2086 # the flags are words, as in RUSTFLAGS
exec "$rustc" "$@" $REMAP_WORKSPACE_FLAGS
