#!/usr/bin/env python3
"""Drives a fresh etcd-compatible server with the python `etcd3` client (pip package
python3-etcd3) and asserts exact results: put/get, prefix ranges, delete, txn, watch,
leases, compaction, status. Prints PASS and exits 0, or lists every failed section and
exits 1.
Run by cluster-tests/tests/python_client.rs against real etcd and against kv."""

import argparse
import sys
import threading
import time

try:
    import etcd3
    import grpc
except ImportError as e:  # the Rust test turns this into a clear failure
    print(f"IMPORT-ERROR: python etcd3 client not importable: {e}; pip install python3-etcd3")
    sys.exit(3)


def expect_grpc_error(call, code, details):
    try:
        call()
    except grpc.RpcError as e:
        check(e.code() == code and e.details() == details, f"error {code} {details!r}", (e.code(), e.details()))
        return
    raise AssertionError(f"expected error {code} {details!r}, call succeeded")


def check(cond, what, got=None):
    if not cond:
        raise AssertionError(f"{what}; got {got!r}")


def connect(endpoint):
    host, port = endpoint.rsplit(":", 1)
    return etcd3.client(host=host, port=int(port), timeout=5)


def kv_basic(c, st):
    r = c.put("/py/a", "1")
    base = r.header.revision
    check(base >= 2, "first put revision on a fresh server", base)
    r = c.put("/py/a", "2", prev_kv=True)
    check(r.header.revision == base + 1, "revision +1 per put", r.header.revision)
    check(r.prev_kv.value == b"1", "prev_kv value", r.prev_kv.value)
    value, meta = c.get("/py/a")
    check(value == b"2", "get value", value)
    check(meta.key == b"/py/a", "meta.key", meta.key)
    check(meta.create_revision == base, "create_revision", meta.create_revision)
    check(meta.mod_revision == base + 1, "mod_revision", meta.mod_revision)
    check(meta.version == 2, "version", meta.version)
    value, meta = c.get("/py/missing")
    check(value is None and meta is None, "missing key", (value, meta))
    c.put("/py/b", "3")
    c.put("/py/c", "4")
    got = [(m.key, v) for v, m in c.get_prefix("/py/")]
    check(got == [(b"/py/a", b"2"), (b"/py/b", b"3"), (b"/py/c", b"4")], "get_prefix", got)
    got = [m.key for _, m in c.get_prefix("/py/", sort_order="descend", sort_target="key")]
    check(got == [b"/py/c", b"/py/b", b"/py/a"], "get_prefix descending", got)
    got = [m.key for _, m in c.get_range("/py/a", "/py/c")]
    check(got == [b"/py/a", b"/py/b"], "get_range [a, c)", got)
    st["rev_before_delete"] = c.get("/py/c")[1].mod_revision


def delete(c, st):
    check(c.delete("/py/c") is True, "delete existing")
    check(c.delete("/py/c") is False, "delete missing")
    resp = c.delete_prefix("/py/b")
    check(resp.deleted == 1, "delete_prefix deleted", resp.deleted)


def txn(c, st):
    ok, responses = c.transaction(
        compare=[c.transactions.value("/py/a") == "2", c.transactions.version("/py/a") > 1],
        success=[c.transactions.put("/py/a", "3"), c.transactions.get("/py/a")],
        failure=[c.transactions.put("/py/failed", "x")],
    )
    check(ok is True, "txn succeeded", ok)
    check(len(responses) == 2, "txn response count", len(responses))
    check(responses[1][0][0] == b"3", "txn get sees its own put", responses[1])
    ok, responses = c.transaction(
        compare=[c.transactions.mod("/py/a") < 1],
        success=[c.transactions.put("/py/x", "no")],
        failure=[c.transactions.get("/py/a"), c.transactions.delete("/py/a")],
    )
    check(ok is False, "txn failed", ok)
    check(responses[0][0][0] == b"3", "txn failure get", responses[0])
    check(c.get("/py/a")[0] is None, "txn failure delete applied")
    check(c.get("/py/x")[0] is None, "txn success branch not applied")
    check(c.replace("/py/r", "nope", "new") is False, "replace on missing key")
    c.put("/py/r", "old")
    check(c.replace("/py/r", "old", "new") is True, "replace old->new")
    check(c.get("/py/r")[0] == b"new", "replace result")


def watch(c, st):
    rev_before_delete = st["rev_before_delete"]
    # Replay from history: the DELETE of /py/c at a known revision.
    events, cancel = c.watch("/py/c", start_revision=rev_before_delete)
    got = []
    for ev in events:
        got.append((type(ev).__name__, ev.key, ev.value, ev.mod_revision))
        if len(got) == 2:
            break
    cancel()
    check(got[0] == ("PutEvent", b"/py/c", b"4", rev_before_delete), "replayed put", got)
    check(got[1][0] == "DeleteEvent" and got[1][3] == rev_before_delete + 1, "replayed delete", got)

    # Live watch: events arrive in order with increasing revisions.
    seen = []
    done = threading.Event()

    def callback(resp):
        for ev in getattr(resp, "events", []):
            seen.append((type(ev).__name__, ev.key, ev.value))
        if len(seen) >= 3:
            done.set()

    wid = c.add_watch_prefix_callback("/py/live/", callback)
    time.sleep(0.5)
    c.put("/py/live/1", "a")
    c.put("/py/live/2", "b")
    c.delete("/py/live/1")
    check(done.wait(10), "live watch events within 10 s", seen)
    c.cancel_watch(wid)
    check(
        seen == [("PutEvent", b"/py/live/1", b"a"), ("PutEvent", b"/py/live/2", b"b"), ("DeleteEvent", b"/py/live/1", b"")],
        "live watch events",
        seen,
    )


def leases(c, st):
    lease = c.lease(60)
    check(lease.id != 0, "lease id", lease.id)
    check(lease.granted_ttl == 60, "granted ttl", lease.granted_ttl)
    check(0 < lease.remaining_ttl <= 60, "remaining ttl", lease.remaining_ttl)
    c.put("/py/lease/a", "1", lease=lease)
    c.put("/py/lease/b", "2", lease=lease.id)
    check(sorted(lease.keys) == [b"/py/lease/a", b"/py/lease/b"], "lease keys", lease.keys)
    check(c.get("/py/lease/a")[1].lease_id == lease.id, "kv lease id", c.get("/py/lease/a")[1].lease_id)
    refreshed = lease.refresh()
    check(refreshed[0].TTL == 60, "keep-alive TTL", refreshed[0].TTL)
    info = c.get_lease_info(lease.id)
    check(info.ID == lease.id and info.grantedTTL == 60 and 0 < info.TTL <= 60, "lease time-to-live", info)
    check(sorted(info.keys) == [b"/py/lease/a", b"/py/lease/b"], "time-to-live keys", info.keys)
    lease.revoke()
    check(c.get("/py/lease/a")[0] is None, "revoke deletes attached keys")
    check(lease.remaining_ttl == -1, "revoked lease ttl", lease.remaining_ttl)
    expect_grpc_error(
        lambda: c.put("/py/lease/c", "3", lease=lease.id),
        grpc.StatusCode.NOT_FOUND,
        "etcdserver: requested lease not found",
    )
    short = c.lease(1)
    check(short.granted_ttl in (1, 2), "short lease granted ttl", short.granted_ttl)
    c.put("/py/short", "x", lease=short)
    deadline = time.time() + 10
    while c.get("/py/short")[0] is not None and time.time() < deadline:
        time.sleep(0.2)
    check(c.get("/py/short")[0] is None, "short lease expired and deleted its key within 10 s")


def compaction(c, st):
    rev = c.put("/py/z", "1").header.revision
    c.put("/py/z", "2")
    c.compact(rev)
    expect_grpc_error(
        lambda: c.get("/py/z", revision=rev - 1),
        grpc.StatusCode.OUT_OF_RANGE,
        "etcdserver: mvcc: required revision has been compacted",
    )
    expect_grpc_error(
        lambda: c.get("/py/z", revision=rev + 100),
        grpc.StatusCode.OUT_OF_RANGE,
        "etcdserver: mvcc: required revision is a future revision",
    )
    check(c.get("/py/z", revision=rev)[0] == b"1", "read at the compaction revision")
    check(c.get("/py/z")[0] == b"2", "latest value after compaction")
    expect_grpc_error(lambda: c.put("", "v"), grpc.StatusCode.INVALID_ARGUMENT, "etcdserver: key is not provided")


def status(c, _st):
    s = c.status()
    check(s.version.count(".") == 2, "status version is semver", s.version)
    check(s.db_size > 0, "status db size", s.db_size)
    check(s.leader is not None, "status leader", s.leader)
    members = list(c.members)
    check(len(members) == 1, "one member", members)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True, help="host:port")
    args = ap.parse_args()
    c = connect(args.endpoint)
    st = {}
    failures = []
    # Sections run in order (later ones use keys of earlier ones); a failing section is
    # reported and the next one still runs, so one run shows every problem.
    for section in (kv_basic, delete, txn, watch, leases, compaction, status):
        try:
            section(c, st)
            print(f"ok   {section.__name__}")
        except AssertionError as e:
            failures.append(f"FAIL {section.__name__}: {e}")
        except Exception as e:  # noqa: BLE001
            failures.append(f"ERROR {section.__name__}: {type(e).__name__}: {e}")
    for f in failures:
        print(f)
    if failures:
        sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
