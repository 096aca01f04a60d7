//! Membership through Debian's etcdctl, on kv and (the yardstick) on etcd 3.4.23: `member
//! add` a 4th member, start it with `--initial-cluster-state existing`, it catches up;
//! `member remove` it and it stops; `member add --learner`, the learner catches up, `member
//! promote` makes it a voter that serves linearizable reads; with a voter down, `member add`
//! is refused ("unhealthy cluster", etcd's `--strict-reconfig-check`).

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use cluster_tests::cluster::{keys_under, local_revision, read};
use cluster_tests::etcdctl::Etcdctl;
use cluster_tests::{bounded, client, Cluster, Kind, Server, ServerOpts};

/// Runs etcdctl; returns stdout, failing with the whole output on a non-zero exit.
async fn ctl(e: &Etcdctl, args: &[&str]) -> Result<String> {
    let (e, args): (Etcdctl, Vec<String>) = (e.clone(), args.iter().map(|a| a.to_string()).collect());
    let out = tokio::task::spawn_blocking(move || e.run(&args, None, Duration::from_secs(20))).await??;
    ensure!(out.code == Some(0), "etcdctl failed:\n{out}");
    Ok(out.stdout)
}

/// `member add`, retried while the server refuses it as unsafe (etcd wants every member
/// connected for a few seconds before a new voter may join: "unhealthy cluster").
async fn add_member(e: &Etcdctl, args: &[&str]) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut full = vec!["member", "add"];
    full.extend_from_slice(args);
    loop {
        match ctl(e, &full).await {
            Ok(out) => return Ok(out),
            Err(err) if Instant::now() < deadline && format!("{err:#}").contains("unhealthy cluster") => {
                tokio::time::sleep(Duration::from_millis(500)).await
            }
            Err(err) => return Err(err),
        }
    }
}

/// `member add` output: the new member's id and the `ETCD_INITIAL_CLUSTER` to start it with.
fn parse_add(out: &str) -> Result<(String, String)> {
    let id = out
        .split_whitespace()
        .skip_while(|w| *w != "Member")
        .nth(1)
        .context("no member id in `member add` output")?
        .to_string();
    let ic = out
        .lines()
        .find_map(|l| l.strip_prefix("ETCD_INITIAL_CLUSTER="))
        .context("no ETCD_INITIAL_CLUSTER in `member add` output")?
        .trim_matches('"')
        .to_string();
    Ok((id, ic))
}

/// Polls `member list` until `name` is listed as started; returns the list.
async fn listed(e: &Etcdctl, name: &str, timeout: Duration) -> Result<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let list = ctl(e, &["member", "list"]).await?;
        if list.lines().any(|l| l.contains(&format!(", started, {name},"))) {
            return Ok(list);
        }
        ensure!(
            Instant::now() < deadline,
            "{name} not listed as started after {timeout:?}:\n{list}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls until `m` (serializably) has applied revision `rev`.
async fn caught_up(m: &Server, rev: i64, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if local_revision(m).await.is_ok_and(|r| r >= rev) {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "{} did not reach revision {rev} in {timeout:?}",
            m.name()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn membership(kind: Kind) -> Result<()> {
    let mut c = Cluster::start(kind, 3, ServerOpts::default()).await?;
    let mut kv = c.members[0].kv().await?;
    for i in 0..100 {
        client::put(&mut kv, &format!("/m/{i:03}"), "before")
            .await
            .context("writing before the changes")?;
    }
    let scratch = c.members[0].scratch_dir().to_path_buf();
    let e = Etcdctl::new(&c.endpoints(), &scratch)?;

    // A 4th voting member.
    let mut n4 = c.new_member("n4")?;
    let out = add_member(&e, &["n4", &format!("--peer-urls={}", n4.peer_url())]).await?;
    let (id4, ic) = parse_add(&out)?;
    ensure!(
        ic.matches('=').count() == 4,
        "ETCD_INITIAL_CLUSTER should list 4 members: {ic}"
    );
    n4.join_with(&ic);
    n4.spawn()?;
    n4.wait_ready().await.context("n4 joins")?;
    let rev = client::current_revision(&mut kv).await?;
    caught_up(&n4, rev, Duration::from_secs(20)).await?;
    ensure!(
        keys_under(&n4, "/m/").await?.len() == 100,
        "n4 does not have the data written before it joined"
    );
    // A member publishes its name and client URLs through raft once it runs.
    let list = listed(&e, "n4", Duration::from_secs(10)).await?;
    ensure!(list.lines().count() == 4, "member list after add:\n{list}");
    c.members.push(n4);
    client::put(&mut kv, "/m/with-4", "x")
        .await
        .context("write with 4 members")?;

    // Remove it: it stops, and the three go on.
    ctl(&e, &["member", "remove", &id4]).await?;
    let n4 = c.members.last_mut().context("n4")?;
    n4.wait_exit(Duration::from_secs(20))
        .await
        .context("removed member n4 must stop")?;
    c.members.pop();
    let list = ctl(&e, &["member", "list"]).await?;
    ensure!(
        list.lines().count() == 3 && !list.contains("n4"),
        "member list after remove:\n{list}"
    );
    client::put(&mut kv, "/m/after-remove", "x")
        .await
        .context("write after remove")?;

    // A learner, then promoted.
    let mut n5 = c.new_member("n5")?;
    let out = add_member(&e, &["n5", "--learner", &format!("--peer-urls={}", n5.peer_url())]).await?;
    let (id5, ic) = parse_add(&out)?;
    n5.join_with(&ic);
    n5.spawn()?;
    let rev = client::current_revision(&mut kv).await?;
    caught_up(&n5, rev, Duration::from_secs(20))
        .await
        .context("learner catches up")?;
    let list = listed(&e, "n5", Duration::from_secs(10)).await?;
    let row = list.lines().find(|l| l.contains(", n5,")).context("n5 not listed")?;
    ensure!(
        row.trim_end().ends_with("true"),
        "n5 should be listed as a learner: {row}"
    );
    ensure!(
        read(&n5, "/m/000", false).await.is_err(),
        "a learner must not serve linearizable reads"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // Refused ("not in sync with leader") until the leader has seen it catch up.
        match ctl(&e, &["member", "promote", &id5]).await {
            Ok(out) if out.contains("promoted") => break,
            Ok(out) => bail!("unexpected `member promote` output: {out}"),
            Err(err) if Instant::now() < deadline => {
                eprintln!("promote not yet: {err:#}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(err) => return Err(err.context("promoting n5")),
        }
    }
    let list = ctl(&e, &["member", "list"]).await?;
    let row = list.lines().find(|l| l.contains(", n5,")).context("n5 not listed")?;
    ensure!(row.trim_end().ends_with("false"), "n5 should be a voter now: {row}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match read(&n5, "/m/after-remove", false).await {
            Ok(Some(v)) if v == b"x" => break,
            other => ensure!(
                Instant::now() < deadline,
                "promoted n5 does not serve linearizable reads: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.members.push(n5);
    c.wait_converged(Duration::from_secs(20)).await?;

    // With a voter down, adding another voter could cost the quorum: refused.
    c.members[1].kill()?;
    let e0 = Etcdctl::new(&c.members[0].endpoint(), &scratch)?;
    let n6 = c.new_member("n6")?;
    let refused = ctl(&e0, &["member", "add", "n6", &format!("--peer-urls={}", n6.peer_url())]).await;
    let msg = format!(
        "{:#}",
        refused.err().context("member add with a voter down was accepted")?
    );
    ensure!(
        msg.contains("etcdserver: unhealthy cluster"),
        "member add with a voter down: {msg}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_etcd() {
    bounded(Duration::from_secs(120), membership(Kind::Etcd))
        .await
        .expect("etcd");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_kv() {
    bounded(Duration::from_secs(120), membership(Kind::Kv))
        .await
        .expect("kv");
}
