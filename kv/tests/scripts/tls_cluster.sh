#!/usr/bin/env bash
# The seeds' TLS setup, scripted: a CA and server, peer and client certificates made with
# openssl; a 3-member kv cluster on https client and peer URLs with --client-cert-auth and
# --peer-client-cert-auth; etcdctl --cacert/--cert/--key and curl against every member; a
# member with a certificate from another CA is kept out; client-certificate common-name auth.
# Usage: tls_cluster.sh KV_BIN WORKDIR PEER1 PEER2 PEER3 CLIENT1 CLIENT2 CLIENT3 APIPORT
# (free ports chosen by the caller). Prints PASS last, or exits non-zero.
set -euo pipefail
KV=$1; W=$2
PEER=(0 "$3" "$4" "$5"); CLIENT=(0 "$6" "$7" "$8"); APIPORT=$9
export ETCDCTL_API=3
P=$W/pki; mkdir -p "$P"
fail() { echo "FAIL: $*"; exit 1; }
cd "$P"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 2 -subj "/CN=test-ca" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca-key.pem -out other-ca.pem -days 2 -subj "/CN=other-ca" 2>/dev/null
mk() { # name cn usages keytype ca
  printf "[ext]\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=%s\n" "$3" > "$1.cnf"
  if [ "$4" = ec ]; then openssl ecparam -name prime256v1 -genkey -noout -out "$1-key.pem"
  else openssl genrsa -traditional -out "$1-key.pem" 2048 2>/dev/null; fi
  openssl req -new -key "$1-key.pem" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA "$5.pem" -CAkey "$5-key.pem" -CAcreateserial -out "$1.pem" -days 2 \
    -extfile "$1.cnf" -extensions ext 2>/dev/null; }
mk server server serverAuth,clientAuth rsa ca
mk peer peer serverAuth,clientAuth ec ca
mk client root clientAuth rsa ca
mk alice alice clientAuth ec ca
mk rogue peer serverAuth,clientAuth ec other-ca
cd "$W"
IC="a=https://127.0.0.1:${PEER[1]},b=https://127.0.0.1:${PEER[2]},c=https://127.0.0.1:${PEER[3]}"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
start() { # name i peercert
  "$KV" --name "$1" --data-dir "$W/$1" \
    --listen-client-urls "https://127.0.0.1:${CLIENT[$2]}" --advertise-client-urls "https://127.0.0.1:${CLIENT[$2]}" \
    --listen-peer-urls "https://127.0.0.1:${PEER[$2]}" --initial-advertise-peer-urls "https://127.0.0.1:${PEER[$2]}" \
    --initial-cluster "$IC" --initial-cluster-token tls-test \
    --cert-file "$P/server.pem" --key-file "$P/server-key.pem" --trusted-ca-file "$P/ca.pem" --client-cert-auth \
    --peer-cert-file "$P/$3.pem" --peer-key-file "$P/$3-key.pem" --peer-trusted-ca-file "$P/ca.pem" \
    --peer-client-cert-auth > "$W/$1.log" 2>&1 &
  pids+=($!); }
start a 1 peer; start b 2 peer; start c 3 peer
EPS="https://127.0.0.1:${CLIENT[1]},https://127.0.0.1:${CLIENT[2]},https://127.0.0.1:${CLIENT[3]}"
E="etcdctl --cacert $P/ca.pem --cert $P/client.pem --key $P/client-key.pem --command-timeout=5s"
for _ in $(seq 1 30); do $E --endpoints="$EPS" --command-timeout=2s endpoint health >/dev/null 2>&1 && break; sleep 0.3; done
$E --endpoints="$EPS" endpoint health || fail "cluster not healthy over TLS"
for i in 1 2 3; do
  $E --endpoints="https://127.0.0.1:${CLIENT[$i]}" put "k$i" "v$i" >/dev/null || fail "put on member $i"
done
for i in 1 2 3; do
  v=$($E --endpoints="https://127.0.0.1:${CLIENT[$i]}" get k1 --print-value-only) || fail "get on member $i"
  [ "$v" = v1 ] || fail "member $i reads $v"
  h=$(curl -sf --cacert "$P/ca.pem" --cert "$P/client.pem" --key "$P/client-key.pem" "https://127.0.0.1:${CLIENT[$i]}/health") \
    || fail "curl /health on member $i"
  echo "$h" | grep -q '"health":"true"' || fail "member $i health: $h"
done
echo "cluster over TLS: ok"
if curl -sf --cacert "$P/ca.pem" "https://127.0.0.1:${CLIENT[1]}/health" >/dev/null 2>&1; then
  fail "a client without a certificate was served"
fi
if etcdctl --endpoints="127.0.0.1:${CLIENT[1]}" --dial-timeout=2s --command-timeout=3s get k1 >/dev/null 2>&1; then
  fail "a plain-text client was served on the TLS port"
fi
echo "clients without certificates refused: ok"
# Member c comes back with a peer certificate from another CA: kept out.
kill -9 "${pids[2]}"; sleep 0.5
start c 3 rogue
# c may have been the leader: like any client, retry while the majority elects a new one.
wrote=""
for _ in 1 2 3 4 5 6; do
  if $E --endpoints="https://127.0.0.1:${CLIENT[1]}" put while-rogue yes >/dev/null 2>&1; then wrote=1; break; fi
  sleep 1
done
[ -n "$wrote" ] || fail "majority stopped writing"
sleep 3
v=$($E --endpoints="https://127.0.0.1:${CLIENT[3]}" get while-rogue --consistency=s --print-value-only 2>/dev/null || true)
[ -z "$v" ] || fail "the member with a foreign certificate received data"
grep -q "UnknownIssuer" "$W/a.log" "$W/b.log" || fail "the refusal was not logged"
n=$(cat "$W/a.log" "$W/b.log" | grep -c "rejected TLS connection" || true)
[ "$n" -le 6 ] || fail "refusals logged $n times (should be once per peer and reason)"
echo "foreign-CA member kept out: ok"
# Client-certificate common-name auth: CN=alice is the user when no --user is given.
R="$E --endpoints=https://127.0.0.1:${CLIENT[1]} --user root:rootpw"
$E --endpoints="https://127.0.0.1:${CLIENT[1]}" user add root:rootpw >/dev/null || fail "user add root"
$E --endpoints="https://127.0.0.1:${CLIENT[1]}" auth enable >/dev/null || fail "auth enable"
$R role add app >/dev/null && $R role grant-permission app --prefix=true readwrite /app/ >/dev/null || fail "role"
$R user add alice --new-user-password=x >/dev/null && $R user grant-role alice app >/dev/null || fail "user alice"
AL="etcdctl --cacert $P/ca.pem --cert $P/alice.pem --key $P/alice-key.pem --endpoints=https://127.0.0.1:${CLIENT[1]}"
$AL put /app/a 1 >/dev/null || fail "alice (by certificate) cannot write /app/"
if $AL put /other 1 >/dev/null 2>&1; then fail "alice (by certificate) wrote outside /app/"; fi
out=$($AL put /other 1 2>&1 || true)
echo "$out" | grep -q "etcdserver: permission denied" || fail "expected permission denied, got: $out"
echo "common-name auth: ok"
# The project's apiserver reaches the TLS cluster with kube-apiserver's --etcd-* flags.
API="$(dirname "$KV")/apiserver"
if [ -x "$API" ]; then
  "$API" --etcd-servers "https://127.0.0.1:${CLIENT[1]},https://127.0.0.1:${CLIENT[2]}" \
    --etcd-cafile "$P/ca.pem" --etcd-certfile "$P/client.pem" --etcd-keyfile "$P/client-key.pem" \
    --insecure-port $APIPORT --secure-port 0 --controllers= --scheduler=false > "$W/apiserver.log" 2>&1 &
  pids+=($!)
  ok=""
  for _ in $(seq 1 50); do
    if curl -sf "http://127.0.0.1:$APIPORT/readyz" >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.3
  done
  [ -n "$ok" ] || fail "apiserver not ready over etcd TLS: $(tail -3 "$W/apiserver.log")"
  kill -0 "${pids[-1]}" 2>/dev/null || fail "the apiserver exited (port $APIPORT taken?): $(tail -5 "$W/apiserver.log")"
  # Under load a read may time out: retry a few times, keeping the last answer for the report.
  for _ in 1 2 3 4 5; do
    got=$($R get /registry/namespaces/default --keys-only 2>&1 || true)
    echo "$got" | grep -q /registry/namespaces/default && break
    sleep 1
  done
  echo "$got" | grep -q /registry/namespaces/default \
    || fail "apiserver did not store its namespaces in the TLS cluster: get said: $got; apiserver log: $(tail -8 "$W/apiserver.log")"
  echo "apiserver over etcd TLS: ok"
else
  echo "apiserver binary not built next to kv: skipped that step"
fi
echo PASS
