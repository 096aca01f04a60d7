#!/usr/bin/env bash
# Sets up a fresh Debian machine, builds, and runs the main job: a single-node `kv` on
# 127.0.0.1:2379 and the `apiserver` on http://127.0.0.1:8080 using it, so that `kubectl get
# pods` works with no configuration. Data lives in ./run-data (override with KV_DATA_DIR).
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kv-target}"
cargo build --release --bins
bin="$CARGO_TARGET_DIR/release"
data="${KV_DATA_DIR:-$PWD/run-data}"
mkdir -p "$data"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
"$bin/kv" --name default --data-dir "$data/kv" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster default=http://127.0.0.1:2380 &
pids+=($!)
for _ in $(seq 1 50); do curl -sf http://127.0.0.1:2379/health >/dev/null && break; sleep 0.2; done
if [ -x "$bin/apiserver" ]; then
  "$bin/apiserver" --etcd-servers http://127.0.0.1:2379 --insecure-port 8080 &
  pids+=($!)
  echo "kv on 127.0.0.1:2379, apiserver on http://127.0.0.1:8080 — try: kubectl get pods -A"
else
  echo "kv on 127.0.0.1:2379 (no apiserver binary in this build)"
fi
wait -n "${pids[@]}"
