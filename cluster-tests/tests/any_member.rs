//! Clients may talk to any member: Debian's etcdctl and the python `etcd3` client write,
//! read, txn, lease and watch through each member of a 3-member cluster (writes on followers
//! are forwarded to the leader) and see each other's writes through every other member. On
//! kv and (the yardstick) etcd 3.4.23.

use std::process::Command;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use cluster_tests::etcdctl::Etcdctl;
use cluster_tests::{binary, bounded, run, Cluster, Kind, ServerOpts};

async fn etcdctl(e: Etcdctl, args: &[&str], stdin: Option<&str>) -> Result<String> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let stdin = stdin.map(str::to_string);
    let out = tokio::task::spawn_blocking(move || e.run(&args, stdin.as_deref(), Duration::from_secs(20))).await??;
    ensure!(out.code == Some(0), "etcdctl failed:\n{out}");
    Ok(out.stdout)
}

async fn any_member(kind: Kind) -> Result<()> {
    let c = Cluster::start(kind, 3, ServerOpts::default()).await?;
    let leader = c.wait_leader(Duration::from_secs(5)).await?;
    let dir = c.members[0].scratch_dir().to_path_buf();
    let ctl: Vec<Etcdctl> = c
        .members
        .iter()
        .map(|m| Etcdctl::new(&m.endpoint(), &dir))
        .collect::<Result<_>>()?;
    for (i, e) in ctl.iter().enumerate() {
        let role = if i == leader { "leader" } else { "follower" };
        etcdctl(e.clone(), &["put", &format!("/ctl/{i}"), role], None)
            .await
            .with_context(|| format!("put through member {i} ({role})"))?;
        let txn = format!("val(\"/ctl/{i}\") = \"{role}\"\n\nput /ctl/txn/{i} yes\n\nput /ctl/txn/{i} no\n\n");
        let out = etcdctl(e.clone(), &["txn"], Some(&txn)).await?;
        ensure!(out.starts_with("SUCCESS"), "txn through member {i}: {out}");
        for (j, other) in ctl.iter().enumerate() {
            let got = etcdctl(other.clone(), &["get", "--prefix", "/ctl/", "--print-value-only"], None).await?;
            ensure!(
                got.lines().filter(|l| *l == "yes").count() == i + 1 && got.contains(role),
                "member {j} after writes through member {i}:\n{got}"
            );
        }
    }
    let mut cmd = Command::new(binary::python());
    cmd.arg(binary::script("any_member.py"));
    for m in &c.members {
        cmd.arg(m.endpoint());
    }
    let out = tokio::task::spawn_blocking(move || run::run(cmd, None, Duration::from_secs(60))).await??;
    ensure!(
        out.code == Some(0) && out.stdout.contains("PASS"),
        "python etcd3 through every member (exit 3 = `etcd3` not importable: pip install python3-etcd3):\n{out}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_member_etcd() {
    bounded(Duration::from_secs(120), any_member(Kind::Etcd))
        .await
        .expect("etcd");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_member_kv() {
    bounded(Duration::from_secs(120), any_member(Kind::Kv))
        .await
        .expect("kv");
}
