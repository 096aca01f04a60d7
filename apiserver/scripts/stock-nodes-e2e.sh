#!/usr/bin/env bash
# End to end with stock kubelet/kube-proxy v1.20.2: starts kv (or etcd), our apiserver with its
# in-process scheduler and controllers on https://10.213.0.1:6443 (token auth, --authorization-mode
# Node,RBAC, NodeRestriction: node1 may modify only its own Node), brings up 2 stock
# nodes with shared/stock-k8s/nodes-up.sh, runs a 4-replica busybox Deployment, then
# shared/stock-k8s/nodes-check.sh. SKIPs (exit 0) when the stock binaries are not cached.
#
#   apiserver/scripts/stock-nodes-e2e.sh [--store kv|etcd] [--bootstrap] [--keep]    (run as root)
#
# --bootstrap: the kubelets join with only a bootstrap token (TLS bootstrap: a CSR approved and
# signed by the apiserver's csrsigning controller, then the issued client certificate); the
# script binds system:bootstrappers as kubeadm does (kubeadm:kubelet-bootstrap, ...).
#
# Env: CARGO_TARGET_DIR (binaries apiserver, kv under $CARGO_TARGET_DIR/debug), KV_BIN, WORK (default
# /tmp/apiserver-e2e). --keep leaves everything running (stop: nodes-up.sh --down, kill PIDs in
# $WORK/pids). Logs: $WORK/*.log, /var/tmp/stock-k8s-nodes/logs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=$(cd "$here/../../../shared/stock-k8s" 2>/dev/null && pwd) || { echo "SKIP: shared/stock-k8s not found"; exit 0; }
bin=${STOCK_K8S_CACHE:-$HOME/.cache/stock-k8s}/kubernetes-1.20.2/_output/local/bin/linux/amd64
store=kv keep=0 bootstrap=0
while [ $# -gt 0 ]; do
  case $1 in --store) store=$2; shift ;; --keep) keep=1 ;; --bootstrap) bootstrap=1 ;; *) echo "unknown $1" >&2; exit 2 ;; esac
  shift
done
for b in kubelet kube-proxy; do
  [ -x "$bin/$b" ] || { echo "SKIP: stock $b not cached (run $shared/build.sh kubelet kube-proxy)"; exit 0; }
done
target=${CARGO_TARGET_DIR:-$here/../../target}
work=${WORK:-/tmp/apiserver-e2e}
rm -rf "$work"; mkdir -p "$work"
pids=()
cleanup() {
  [ "$keep" = 1 ] && { echo "kept running; PIDs: ${pids[*]}"; printf '%s\n' "${pids[@]}" > "$work/pids"; return; }
  "$shared/nodes-up.sh" --down >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

"$shared/nodes-up.sh" --bridge
client=http://127.0.0.1:23791 peer=http://127.0.0.1:23792
if [ "$store" = kv ]; then store_bin=${KV_BIN:-$target/debug/kv}; else store_bin=/usr/bin/etcd; fi
[ -x "$store_bin" ] || { echo "no store binary $store_bin (build kv or set KV_BIN)" >&2; exit 1; }
"$store_bin" --data-dir "$work/data" --listen-client-urls $client --advertise-client-urls $client \
  --listen-peer-urls $peer --initial-advertise-peer-urls $peer --initial-cluster default=$peer \
  > "$work/store.log" 2>&1 &
pids+=($!)
printf 'node1-token,system:node:node1,n1,"system:nodes"\nnode2-token,system:node:node2,n2,"system:nodes"\nadmin-token,admin,a1,"system:masters"\n' > "$work/tokens.csv"
tls_args=()
if [ "$bootstrap" = 1 ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/ca.key" -out "$work/ca.crt" -days 2 \
    -subj "/CN=e2e-cluster-ca" 2>/dev/null
  tls_args=(--client-ca-file "$work/ca.crt" --cluster-signing-cert-file "$work/ca.crt"
    --cluster-signing-key-file "$work/ca.key" --enable-bootstrap-token-auth)
fi
# An RSA serving certificate, as kubeadm makes (pods' busybox wget speaks only RSA key exchange).
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/serving.key" -out "$work/serving.crt" -days 2 \
  -subj "/CN=kube-apiserver" -addext "subjectAltName=IP:10.213.0.1,IP:10.96.0.1,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost" 2>/dev/null
"$target/debug/apiserver" --etcd-servers $client --insecure-port 18080 --secure-port 6443 \
  --bind-address 10.213.0.1 --token-auth-file "$work/tokens.csv" \
  --tls-cert-file "$work/serving.crt" --tls-private-key-file "$work/serving.key" \
  --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
  "${tls_args[@]}" > "$work/apiserver.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf http://127.0.0.1:18080/readyz >/dev/null && break; sleep 0.2; done
cat > "$work/admin.kubeconfig" <<Y
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://10.213.0.1:6443", insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: admin-token}}]
contexts: [{name: c, context: {cluster: c, user: admin}}]
current-context: c
Y
k() { kubectl --kubeconfig "$work/admin.kubeconfig" "$@"; }
step() { echo "=== $*"; }
if [ "$bootstrap" = 1 ]; then
  step "TLS bootstrap: the kubelets have only the bootstrap token abcdef.0123456789abcdef"
  kubectl -s http://127.0.0.1:18080 -n kube-system create secret generic bootstrap-token-abcdef \
    --type bootstrap.kubernetes.io/token --from-literal=token-id=abcdef \
    --from-literal=token-secret=0123456789abcdef --from-literal=usage-bootstrap-authentication=true \
    --from-literal=usage-bootstrap-signing=true
  # What kubeadm binds for joining nodes: bootstrap tokens may create CSRs, nodes renew theirs.
  kubectl -s http://127.0.0.1:18080 create clusterrolebinding kubeadm:kubelet-bootstrap \
    --clusterrole=system:node-bootstrapper --group=system:bootstrappers
  kubectl -s http://127.0.0.1:18080 create clusterrolebinding kubeadm:node-autoapprove-bootstrap \
    --clusterrole=system:certificates.k8s.io:certificatesigningrequests:nodeclient --group=system:bootstrappers
  kubectl -s http://127.0.0.1:18080 create clusterrolebinding kubeadm:node-autoapprove-certificate-rotation \
    --clusterrole=system:certificates.k8s.io:certificatesigningrequests:selfnodeclient --group=system:nodes
  "$shared/nodes-up.sh" --server https://10.213.0.1:6443 --bootstrap-token abcdef.0123456789abcdef \
    --proxy-token admin-token --nodes 2
  k get csr
  issued=$(k get csr -o jsonpath='{range .items[*]}{.spec.username}{" "}{.status.conditions[0].type}{" "}{.status.certificate}{"\n"}{end}' \
    | awk '$1 == "system:bootstrap:abcdef" && $2 == "Approved" && $3 != "" {n++} END {print n+0}')
  [ "$issued" -ge 2 ] || { echo "FAIL: expected 2 approved and issued kubelet CSRs, got $issued"; exit 1; }
  [ "$(k get nodes -o name | grep -c '^node/node[12]$')" = 2 ] || { echo "FAIL: the nodes did not register"; exit 1; }
  echo "TLS bootstrap ok: both kubelets got client certificates through CSRs and registered"
else
  "$shared/nodes-up.sh" --server https://10.213.0.1:6443 --token node1-token --token node2-token \
    --proxy-token admin-token --nodes 2
fi
k get nodes -o wide
step "authorization: Node,RBAC and NodeRestriction"
node1() { kubectl --server https://10.213.0.1:6443 --insecure-skip-tls-verify --token node1-token "$@"; }
if [ "$bootstrap" = 0 ]; then
  [ "$(node1 auth can-i patch nodes/node1 || true)" = yes ] || { echo "FAIL: node1 cannot patch itself"; exit 1; }
  if node1 label node node2 e2e=denied 2>"$work/denied.txt"; then echo "FAIL: node1 labelled node2"; exit 1; fi
  grep -q 'node "node1" is not allowed to modify node "node2"' "$work/denied.txt" \
    || { echo "FAIL: unexpected denial: $(cat "$work/denied.txt")"; exit 1; }
  if node1 get secrets -A >/dev/null 2>&1; then echo "FAIL: node1 listed all secrets"; exit 1; fi
  echo "node1 may modify only itself and read only what its pods use"
fi
step "deployment web: 4 replicas over both nodes"
k create deployment web --image=docker.io/local/busybox:1 --replicas=4 -- sleep 3600
k rollout status deployment/web --timeout=180s
k get pods -o wide
step "logs, exec"
k logs deployment/web
k exec deployment/web -- hostname
step "scale to 6, rolling update, undo"
k scale deployment/web --replicas=6
k rollout status deployment/web --timeout=180s
k set env deployment/web STEP=2
k rollout status deployment/web --timeout=300s
k rollout undo deployment/web
k rollout status deployment/web --timeout=300s
k rollout history deployment/web
k get rs
step "port-forward"
k run pf --image=docker.io/local/busybox:1 --command -- sh -c 'mkdir -p /www; echo hello-pf > /www/index.html; exec httpd -f -p 8080 -h /www'
k wait --for=condition=Ready pod/pf --timeout=60s
k port-forward pod/pf 18181:8080 > "$work/port-forward.log" 2>&1 & pf=$!
sleep 3; curl -s http://127.0.0.1:18181/index.html; kill $pf
step "static pod mirror"
man=${STOCK_NODES_WORK:-/var/tmp/stock-k8s-nodes}/node1/manifests
printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: static-web, namespace: default}\nspec:\n  containers: [{name: c, image: docker.io/local/busybox:1, imagePullPolicy: IfNotPresent, command: [sleep, "3600"]}]\n' > "$man/.static-web.tmp"
mv "$man/.static-web.tmp" "$man/static-web.yaml"
for _ in $(seq 60); do k get pod static-web-node1 >/dev/null 2>&1 && break; sleep 1; done
k get pod static-web-node1 -o wide
rm -f "$man/static-web.yaml"
step "nodes-check.sh"
rc=0
"$shared/nodes-check.sh" "$work/admin.kubeconfig" || rc=1
step "kill node2's kubelet: NotReady, unreachable taints, pods evicted and recreated on node1"
# DefaultTolerationSeconds gives every pod 300 s on a not-ready/unreachable node, as in kube;
# web tolerates them for 10 s so the eviction shows within the wait below.
k patch deployment web --type strategic -p '{"spec":{"template":{"spec":{"tolerations":[
  {"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":10},
  {"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":10}]}}}}'
k rollout status deployment web --timeout 120s
k get pods -l app=web -o jsonpath='{range .items[*]}{.metadata.name} {.spec.tolerations[*].tolerationSeconds}{"\n"}{end}'
read -r kpid _ < "${STOCK_NODES_WORK:-/var/tmp/stock-k8s-nodes}/pids/kubelet-node2.pid"
kill -9 "$kpid"
for _ in $(seq 120); do
  [ "$(k get node node2 -o jsonpath='{.spec.taints[?(@.effect=="NoExecute")].key}')" = node.kubernetes.io/unreachable ] && break
  sleep 1
done
k get nodes
k get node node2 -o jsonpath='{.spec.taints}{"\n"}'
for _ in $(seq 60); do [ "$(k get pods -l app=web -o wide --no-headers | grep -c 'Running.*node1')" = 6 ] && break; sleep 1; done
k get pods -o wide
[ "$(k get pods -l app=web -o wide --no-headers | grep -c 'Running.*node1')" = 6 ] || rc=1
exit $rc
