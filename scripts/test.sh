#!/usr/bin/env bash
# Sets up a fresh Debian machine and runs every test: fmt, clippy, unit, integration and
# interop tests (Debian's etcd 3.4.23 and etcdctl are started by the tests themselves).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kv-target}"
export CARGO_TERM_COLOR=never
# A fresh clone each run: incremental caches would only pile up (gigabytes per clone path).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# Each clean clone rebuilds the workspace's own test binaries under new hashes; drop the
# ones this run did not build, so the cached target dir stays the size of one build.
mkdir -p "$CARGO_TARGET_DIR/debug/deps"
run_start="$CARGO_TARGET_DIR/.run-start"
touch "$run_start"
prune_stale_test_binaries() {
  local f name
  for f in $(find "$CARGO_TARGET_DIR/debug/deps" -maxdepth 1 -type f -perm -u+x -name '*-????????????????' ! -newer "$run_start"); do
    name="${f%-*}"
    # Only when this run built a newer one of the same name.
    if [ -n "$(find "$(dirname "$f")" -maxdepth 1 -type f -perm -u+x -name "$(basename "$name")-????????????????" -newer "$run_start" -print -quit)" ]; then
      rm -f "$f"
    fi
  done
}
trap prune_stale_test_binaries EXIT
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace --bins
cargo test --workspace -- --test-threads=2
# The API server's integration tests once more, on our own store instead of Debian's etcd.
APISERVER_TEST_ETCD=kv cargo test -p apiserver --tests -- --test-threads=2
