#!/usr/bin/env bash
# etcd's auth walk-through with Debian's etcdctl against one endpoint ($1). The test runs it
# against kv and against a real etcd and compares the outputs line by line.
set -u
export ETCDCTL_API=3
E="etcdctl --endpoints=$1 --command-timeout=10s"
R="$E --user root:rootpw"
A="$E --user alice:alicepw"
$E user add root:rootpw
$E auth enable
$R role add app
$R role grant-permission app --prefix=true readwrite /app/
$R role grant-permission app read /ro
$R user add alice:alicepw
$R user grant-role alice app
$A put /app/x 1
$A put /other y
$A get /app/x --print-value-only
$A get /other
$A put /ro v
$A get /ro
$E --user alice:wrong get /app/x
$E --user nobody:x get /app/x
$E get /app/x
$R put /other rootval
$R get /other --print-value-only
printf 'value("/app/x") = "1"\n\nput /app/y 2\n\nput /other z\n\n' | $A txn
printf 'value("/other") = "1"\n\nput /app/y 2\n\n\n' | $A txn
timeout 3 $A watch /other
echo "watch-exit=$?"
# An allowed watch sees root's write.
timeout 4 $A watch /app/w &
wp=$!
sleep 1.5
$R put /app/w seen >/dev/null
wait $wp
echo "allowed-watch-exit=$?"
$R role get app
$R user list
$R user get alice
$R role list
$A user list
$R role revoke-permission app /ro
$R user revoke-role alice app
$A get /app/x
$R auth disable
$E get /other --print-value-only
