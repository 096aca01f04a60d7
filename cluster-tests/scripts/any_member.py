#!/usr/bin/env python3
"""Drives every member of a 3-member cluster with the python `etcd3` client (pip package
python3-etcd3): a put, a txn and a lease through each member (followers forward writes to
the leader) must be readable through every other member, and a watch opened on one member
sees the writes made through the others. Prints PASS and exits 0, or the failure and exits 1.
Usage: any_member.py HOST:PORT HOST:PORT ... (run by cluster-tests/tests/any_member.rs)."""

import sys
import threading

try:
    import etcd3
except ImportError as e:
    print(f"IMPORT-ERROR: python etcd3 client not importable: {e}; pip install python3-etcd3")
    sys.exit(3)


def connect(endpoint):
    host, port = endpoint.rsplit(":", 1)
    return etcd3.client(host=host, port=int(port), timeout=10)


def main(endpoints):
    clients = [connect(e) for e in endpoints]
    n = len(clients)
    # A watch on the last member collects every write made below.
    events, got_all = [], threading.Event()
    watched = clients[-1]
    it, cancel = watched.watch_prefix("/any/")
    expected = 3 * n

    def collect():
        for ev in it:
            events.append((ev.key.decode(), ev.value.decode()))
            if len(events) >= expected:
                got_all.set()
                return

    threading.Thread(target=collect, daemon=True).start()
    for i, c in enumerate(clients):
        c.put(f"/any/put/{i}", f"via-{i}")
        ok, _ = c.transaction(
            compare=[c.transactions.version(f"/any/txn/{i}") == 0],
            success=[c.transactions.put(f"/any/txn/{i}", f"txn-{i}")],
            failure=[],
        )
        if not ok:
            raise AssertionError(f"txn through member {i} took the failure branch")
        lease = c.lease(60)
        c.put(f"/any/lease/{i}", f"lease-{i}", lease=lease)
        for j, other in enumerate(clients):
            for key, want in ((f"/any/put/{i}", f"via-{i}"), (f"/any/txn/{i}", f"txn-{i}"), (f"/any/lease/{i}", f"lease-{i}")):
                value, meta = other.get(key)
                if value is None or value.decode() != want:
                    raise AssertionError(f"{key} written through member {i} reads {value!r} through member {j}")
            if j != i:
                ttl = other.get_lease_info(lease.id).TTL
                if not 0 < ttl <= 60:
                    raise AssertionError(f"lease {lease.id:x} granted through member {i} has TTL {ttl} on member {j}")
    if not got_all.wait(10):
        raise AssertionError(f"watch on the last member saw {len(events)} of {expected} events: {events}")
    cancel()
    print("PASS")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except Exception as e:  # noqa: BLE001 - any failure is reported the same way
        print(f"FAIL: {e!r}")
        sys.exit(1)
