#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian 12 machine (idempotent).
# apt: protoc, Debian's librocksdb (linked, not compiled), libclang for bindgen, libssl-dev,
# the reference etcd 3.4.23 + etcdctl, and the Python etcd3 client for interop tests.
set -euo pipefail
need=(protobuf-compiler librocksdb-dev libclang-dev libsnappy-dev liblz4-dev libzstd-dev
      libbz2-dev zlib1g-dev etcd-server etcd-client curl jq openssl libssl-dev pkg-config)
missing=()
for p in "${need[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The reference etcd must not run as a system service on our ports (the package may start
# one); etcd processes that tests started themselves are left alone.
if command -v systemctl >/dev/null 2>&1; then systemctl stop etcd >/dev/null 2>&1 || true; fi
if command -v service >/dev/null 2>&1; then service etcd stop >/dev/null 2>&1 || true; fi
python3 -c 'import etcd3' >/dev/null 2>&1 || pip install -q python3-etcd3 >/dev/null
command -v cargo >/dev/null || { echo "cargo not found: install a Rust toolchain (rustup)" >&2; exit 1; }
