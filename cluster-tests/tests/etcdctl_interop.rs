//! etcdctl interop: the same etcdctl command tables run against the subject (`kv`, or
//! whatever `KV_BIN` names) and against a real etcd 3.4.23 started by the test; outputs are
//! compared step by step after normalising only what rightly differs (see
//! `cluster_tests::normalize`). Adding a command is adding one line to a table.

use std::time::Duration;

use anyhow::Context;
use cluster_tests::interop::{
    assert_no_mismatches, compare, ctl, finish, finish_after, sleep_ms, start, until_lines, watch, Side, Step,
};
use cluster_tests::{bounded, Kind, Server, ServerOpts};

/// Starts a fresh reference etcd and a fresh subject, runs `steps` on both, fails with
/// every differing step.
async fn check(group: &str, steps: Vec<Step>) {
    let result = bounded(Duration::from_secs(58), async {
        let (r, s) = tokio::join!(
            Server::start(Kind::Etcd, ServerOpts::default()),
            Server::start(Kind::Kv, ServerOpts::default())
        );
        let reference = r.context("starting the reference etcd")?;
        let subject = s.context("starting the subject (kv)")?;
        let mut rs = Side::new(&reference).await.context("reference side")?;
        let mut ss = Side::new(&subject).await.context("subject side")?;
        let mismatches = compare(&mut rs, &mut ss, &steps)?;
        drop((reference, subject));
        Ok(mismatches)
    })
    .await;
    let mismatches = result.expect("interop harness failed");
    assert_no_mismatches(group, &mismatches);
}

const TXN_SUCCESS: &str =
    "value(\"/t/a\") = \"1\"\nmod(\"/t/b\") > \"0\"\n\nput /t/a 10\nget /t --prefix\ndel /t/b\n\nput /t/failed yes\n\n";
const TXN_FAILURE: &str = "value(\"/t/a\") = \"nope\"\n\nput /t/a 11\n\nget /t/a\nput /t/f 1\n\n";
const TXN_VERSION_CREATE: &str =
    "version(\"/t/a\") = \"2\"\ncreate(\"/t/a\") < \"100\"\nvalue(\"/t/missing\") != \"x\"\n\nget /t/a\n\n\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_kv_commands() {
    check(
        "kv commands",
        vec![
            ctl("put /a 1"),
            ctl("put /b 2 -w json"),
            ctl("put /a 3 --prev-kv"),
            ctl("put /a 4 --prev-kv -w json"),
            ctl("put /c/x 5"),
            ctl("put /c/y 6"),
            ctl("put /c/z 7"),
            ctl("get /a"),
            ctl("get /a -w json"),
            ctl("get /a -w fields"),
            ctl("get /nope"),
            ctl("get /nope -w json"),
            ctl("get / --prefix"),
            ctl("get / --prefix -w json"),
            ctl("get /a --rev 2"),
            ctl("get /a --rev 3 -w json"),
            ctl("get / --prefix --rev 4"),
            ctl("get / --prefix --limit 2"),
            ctl("get / --prefix --limit 2 -w json"),
            ctl("get / --prefix --sort-by=MODIFY --order=DESCEND"),
            ctl("get / --prefix --sort-by=VALUE --order=ASCEND --limit 3 -w json"),
            ctl("get / --prefix --sort-by=VERSION --order=DESCEND"),
            ctl("get / --prefix --sort-by=CREATE --order=DESCEND --keys-only"),
            ctl("get / --prefix --sort-by=KEY --order=DESCEND"),
            ctl("get / --prefix --keys-only"),
            ctl("get / --prefix --keys-only -w json"),
            ctl("get / --prefix --print-value-only"),
            ctl("get /a /c"),
            ctl("get /a /c/y -w json"),
            ctl("get --from-key /b"),
            ctl("get --from-key /b --limit 1 -w json"),
            ctl("put /a --ignore-value"),
            ctl("get /a -w json"),
            ctl("del /c --prefix --prev-kv"),
            ctl("del /c --prefix -w json"),
            ctl("del /nope"),
            ctl("del /b --prev-kv -w json"),
            ctl("put /t/a 1"),
            ctl("put /t/b 2"),
            ctl("txn").stdin(TXN_SUCCESS),
            ctl("txn -w json").stdin(TXN_FAILURE),
            ctl("txn").stdin(TXN_VERSION_CREATE),
            ctl("txn -i").stdin(TXN_FAILURE),
            ctl("get / --prefix -w json"),
            ctl("get / --prefix --consistency=s -w json"),
            ctl("get --from-key \"\" --keys-only"),
            ctl("put /stdin").stdin("value from stdin"),
            ctl("get /stdin --print-value-only"),
            ctl("put '/u/ключ with space' 'значение\tx'"),
            ctl("get /u --prefix -w json"),
            ctl("get /u --prefix"),
            ctl("put /d/a 1"),
            ctl("put /d/b 2"),
            ctl("put /d/c 3"),
            ctl("del /d/a /d/c --prev-kv"),
            ctl("del --from-key /d"),
            ctl("get / --prefix --sort-by=MODIFY --order=ASCEND -w json"),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_watch_commands() {
    check(
        "watch commands",
        vec![
            ctl("put /w/a 1"),
            ctl("put /w/b 2"),
            ctl("put /w/a 3"),
            ctl("del /w/b"),
            ctl("txn").stdin("\nput /w/c 4\nput /w/d 5\ndel /w/a\n\n\n"),
            watch("watch /w --prefix --rev 1"),
            watch("watch /w --prefix --rev 1 --prev-kv"),
            watch("watch /w/a --rev 3"),
            watch("watch /w/c --rev 1 -w json"),
            until_lines("watch /w --prefix --rev 100", 0),
            start("live", "watch /w --prefix --prev-kv -w json"),
            start("live-text", "watch /w/c --prev-kv"),
            ctl("put /w/c 6"),
            ctl("put /w/e 7"),
            ctl("del /w --prefix"),
            finish("live"),
            finish("live-text"),
            ctl("compaction 5"),
            ctl("watch /w --prefix --rev 2"),
            // From 6, not 5: etcd 3.4 drops the DELETE at the compaction revision itself
            // (etcd #19179); kv need not copy that bug.
            watch("watch /w --prefix --rev 6"),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_lease_commands() {
    let granted = r"lease ([0-9a-f]+) granted";
    check(
        "lease commands",
        vec![
            ctl("lease grant 100").capture_id("L1", granted),
            ctl("lease grant 300").capture_id("L2", granted),
            ctl("put /l/a 1 --lease={L1}"),
            ctl("put /l/b 2 --lease={L1}"),
            ctl("put /l/c 3 --lease={L2}"),
            ctl("get /l --prefix -w json"),
            ctl("lease timetolive {L1}"),
            ctl("lease timetolive {L1} --keys"),
            ctl("lease timetolive {L1} --keys -w json"),
            ctl("lease keep-alive --once {L1}"),
            ctl("lease keep-alive --once {L2} -w json"),
            until_lines("lease keep-alive {L2}", 1),
            ctl("lease list").sorted(),
            ctl("put /l/c 4 --ignore-lease"),
            ctl("get /l/c -w json"),
            start("w", "watch /l --prefix --prev-kv"),
            ctl("lease revoke {L1}"),
            finish("w"),
            ctl("get /l --prefix"),
            ctl("lease timetolive {L1}"),
            ctl("lease revoke {L1}"),
            ctl("lease list").sorted(),
            ctl("lease grant 1").capture_id("L3", granted),
            ctl("lease timetolive {L3}"),
            ctl("put /e 1 --lease={L3}"),
            start("expiry", "watch /e"),
            finish_after("expiry", 2),
            ctl("get /e -w json"),
            ctl("lease timetolive {L3}"),
            ctl("lease list").sorted(),
            sleep_ms(10),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_maintenance_commands() {
    check(
        "maintenance commands",
        vec![
            ctl("put /m 1"),
            ctl("put /m 2"),
            ctl("put /n 3"),
            ctl("endpoint status"),
            ctl("endpoint status -w json"),
            ctl("endpoint health"),
            ctl("endpoint health -w json"),
            ctl("endpoint health --cluster"),
            ctl("endpoint status --cluster -w json").known_difference(
                "etcdctl 3.4 sends :authority as the whole URL (http://host:port) for per-endpoint \
                 maintenance calls; the h2 crate resets such streams as malformed",
            ),
            ctl("endpoint hashkv"),
            ctl("endpoint hashkv -w json"),
            ctl("alarm list"),
            ctl("alarm disarm"),
            ctl("member list"),
            ctl("member list -w json"),
            ctl("snapshot save snap.db"),
            ctl("compaction 3"),
            ctl("compaction --physical 4"),
            ctl("endpoint hashkv -w json"),
            ctl("defrag"),
            ctl("get / --prefix -w json"),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_error_cases() {
    let granted = r"lease ([0-9a-f]+) granted";
    check(
        "error cases",
        vec![
            ctl("put \"\" v"),
            ctl("get \"\""),
            ctl("del \"\""),
            ctl("put /a 1"),
            ctl("put /a 2"),
            ctl("put /a 3"),
            ctl("put /a 4"),
            ctl("get /a --rev 1000"),
            ctl("compaction 1000"),
            ctl("compaction 3"),
            ctl("compaction 3"),
            ctl("compaction 2"),
            ctl("get /a --rev 2"),
            ctl("get /a --rev 3"),
            ctl("del /a --prefix --prev-kv"),
            ctl("put /missing --ignore-value"),
            ctl("put /missing v --ignore-lease"),
            ctl("lease revoke 1234"),
            ctl("lease timetolive 1234"),
            ctl("lease keep-alive --once 1234"),
            ctl("put /x y --lease=1234"),
            ctl("lease grant 60").capture_id("L1", granted),
            ctl("lease revoke {L1}"),
            ctl("lease revoke {L1}"),
            ctl("put /x y --lease={L1}"),
            ctl("txn").stdin("\n\nput \"\" v\n\n\n"),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_lock_and_election() {
    check(
        "lock and election (v3lockpb.Lock, v3electionpb.Election services)",
        vec![
            ctl("lock mylock echo locked"),
            until_lines("lock held", 1).capture_id("K1", r"held/([0-9a-f]+)"),
            until_lines("elect e1 p1", 2).capture_id("E1", r"e1/([0-9a-f]+)"),
            ctl("get --prefix held --keys-only"),
            ctl("get --prefix e1 --keys-only"),
            until_lines("elect e2 p2", 2).capture_id("E2", r"e2/([0-9a-f]+)"),
        ],
    )
    .await;
}
