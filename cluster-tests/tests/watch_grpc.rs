//! Watch semantics at the gRPC level (what etcdctl hides: created/canceled responses,
//! watch IDs, compact_revision, progress notifications, filters, several watchers on one
//! stream): one scenario runs on a real etcd and on the subject; the transcripts of watch
//! responses are compared line by line. Event batching into responses may rightly differ,
//! so events are flattened to one line each; that no revision is split across responses
//! (atomicity) is checked separately on both servers.

use std::time::Duration;

use anyhow::{Context, Result};
use cluster_tests::client::{self, prefix_end, WatchSession};
use cluster_tests::{bounded, Kind, Server, ServerOpts};
use proto::etcdserverpb::kv_client::KvClient;
use proto::etcdserverpb::request_op::Request;
use proto::etcdserverpb::watch_create_request::FilterType;
use proto::etcdserverpb::{
    CompactionRequest, DeleteRangeRequest, PutRequest, RequestOp, TxnRequest, WatchCreateRequest, WatchResponse,
};
use proto::mvccpb::KeyValue;
use tonic::transport::Channel;

const SETTLE: Duration = Duration::from_millis(1500);

fn kv_text(kv: &KeyValue) -> String {
    format!(
        "{}={}@c{}/m{}/v{}{}",
        String::from_utf8_lossy(&kv.key),
        String::from_utf8_lossy(&kv.value),
        kv.create_revision,
        kv.mod_revision,
        kv.version,
        if kv.lease != 0 { "/lease" } else { "" }
    )
}

/// One line per event, one line per non-event response.
fn render(r: &WatchResponse) -> Vec<String> {
    let hdr = r.header.as_ref().map_or(0, |h| h.revision);
    let mut out = Vec::new();
    if r.created || r.canceled || r.events.is_empty() {
        out.push(format!(
            "resp wid={} hdr={hdr} created={} canceled={} compact={} reason={:?} fragment={} events={}",
            r.watch_id,
            r.created,
            r.canceled,
            r.compact_revision,
            r.cancel_reason,
            r.fragment,
            r.events.len()
        ));
    }
    for e in &r.events {
        let kind = if e.r#type == 1 { "DELETE" } else { "PUT" };
        let prev = e.prev_kv.as_ref().map_or("-".to_string(), kv_text);
        let kv = e.kv.as_ref().map_or("-".to_string(), kv_text);
        out.push(format!("event wid={} hdr={hdr} {kind} {kv} prev={prev}", r.watch_id));
    }
    out
}

/// Records transcript lines and invariant violations.
#[derive(Default)]
struct Transcript {
    lines: Vec<String>,
    violations: Vec<String>,
}

impl Transcript {
    fn step(&mut self, name: &str, responses: &[WatchResponse], sort: bool) {
        self.lines.push(format!("## {name}"));
        let mut lines: Vec<String> = responses.iter().flat_map(render).collect();
        if sort {
            lines.sort();
        }
        self.lines.extend(lines);
        // Atomic: a revision's events never span two responses of one watcher.
        let mut seen: Vec<(i64, i64, usize)> = Vec::new();
        for (i, r) in responses.iter().enumerate() {
            for e in &r.events {
                let rev = e.kv.as_ref().map_or(0, |k| k.mod_revision);
                if let Some((_, _, j)) = seen.iter().find(|(w, rv, _)| *w == r.watch_id && *rv == rev) {
                    if *j != i {
                        self.violations
                            .push(format!("{name}: revision {rev} split across responses"));
                    }
                } else {
                    seen.push((r.watch_id, rev, i));
                }
            }
        }
    }
}

fn events_through(rev: i64) -> impl Fn(&[WatchResponse]) -> bool {
    move |rs| {
        rs.iter()
            .flat_map(|r| &r.events)
            .any(|e| e.kv.as_ref().is_some_and(|k| k.mod_revision >= rev))
    }
}

fn watch_req(key: &str, prefix: bool, start: i64) -> WatchCreateRequest {
    WatchCreateRequest {
        key: key.into(),
        range_end: if prefix { prefix_end(key.as_bytes()) } else { Vec::new() },
        start_revision: start,
        ..Default::default()
    }
}

async fn put(kv: &mut KvClient<Channel>, k: &str, v: &str) -> Result<i64> {
    client::put(kv, k, v).await
}

async fn del(kv: &mut KvClient<Channel>, k: &str) -> Result<()> {
    kv.delete_range(DeleteRangeRequest {
        key: k.into(),
        ..Default::default()
    })
    .await?;
    Ok(())
}

async fn scenario(server: &Server) -> Result<Transcript> {
    let ch = server.channel().await?;
    let mut kv = KvClient::new(ch.clone());
    let mut t = Transcript::default();

    // History: r2..r7, with a two-put txn at r4.
    put(&mut kv, "/w/a", "1").await?;
    put(&mut kv, "/w/b", "2").await?;
    let put_op = |k: &str, v: &str| RequestOp {
        request: Some(Request::RequestPut(PutRequest {
            key: k.into(),
            value: v.into(),
            ..Default::default()
        })),
    };
    kv.txn(TxnRequest {
        success: vec![put_op("/w/c", "3"), put_op("/w/a", "4")],
        ..Default::default()
    })
    .await?;
    del(&mut kv, "/w/b").await?;
    put(&mut kv, "/x/other", "9").await?;
    del(&mut kv, "/w/a").await?;

    // Replay with prev_kv on a prefix.
    let mut s1 = WatchSession::open(
        ch.clone(),
        WatchCreateRequest {
            prev_kv: true,
            ..watch_req("/w/", true, 2)
        },
    )
    .await?;
    let r = s1.until(SETTLE * 3, events_through(7)).await?;
    t.step("replay /w/ from 2 with prev_kv", &r, false);

    // A second watcher on the same stream from "now", then one write seen by both.
    s1.create(watch_req("/w/c", false, 0)).await?;
    let r = s1.until(SETTLE, |rs| rs.iter().any(|r| r.created)).await?;
    t.step("second watcher /w/c from now", &r, false);
    put(&mut kv, "/w/c", "5").await?;
    let r = s1
        .until(SETTLE * 2, |rs| {
            rs.iter()
                .filter(|r| {
                    r.events
                        .iter()
                        .any(|e| e.kv.as_ref().is_some_and(|k| k.mod_revision == 8))
                })
                .count()
                >= 2
        })
        .await?;
    t.step("live put seen by both watchers", &r, true);

    // Progress request with every watcher synced.
    s1.progress().await?;
    let r = s1.until(SETTLE, |rs| !rs.is_empty()).await?;
    t.step("progress request", &r, false);

    // Cancel the second watcher; later writes only reach the first.
    s1.cancel(1).await?;
    let r = s1.until(SETTLE, |rs| rs.iter().any(|r| r.canceled)).await?;
    t.step("cancel watcher 1", &r, false);
    put(&mut kv, "/w/c", "6").await?;
    let r = s1.until(SETTLE, events_through(9)).await?;
    let extra = s1.until(Duration::from_millis(300), |_| false).await?;
    t.step("after cancel", &[r, extra].concat(), false);

    // Filters: NOPUT leaves only deletes.
    let mut s2 = WatchSession::open(
        ch.clone(),
        WatchCreateRequest {
            filters: vec![FilterType::Noput as i32],
            ..watch_req("/w/", true, 2)
        },
    )
    .await?;
    let r = s2.until(SETTLE, events_through(7)).await?;
    let extra = s2.until(Duration::from_millis(300), |_| false).await?;
    t.step("NOPUT filter replay", &[r, extra].concat(), false);

    // Start revision in the future: nothing before it.
    let mut s3 = WatchSession::open(ch.clone(), watch_req("/w/", true, 11)).await?;
    put(&mut kv, "/w/d", "7").await?; // r10
    put(&mut kv, "/w/d", "8").await?; // r11
    let r = s3.until(SETTLE, events_through(11)).await?;
    let extra = s3.until(Duration::from_millis(300), |_| false).await?;
    t.step("future start revision 11", &[r, extra].concat(), false);

    // Compacted start revision: created, then canceled with the compact revision.
    kv.compact(CompactionRequest {
        revision: 5,
        physical: true,
    })
    .await
    .context("compact")?;
    let mut s4 = WatchSession::open(ch.clone(), watch_req("/w/", true, 3)).await?;
    let r = s4.until(SETTLE, |rs| rs.iter().any(|r| r.canceled)).await?;
    t.step("start below the compaction point", &r, false);

    // Client-chosen watch IDs, and a duplicate.
    let mut s5 = WatchSession::open(
        ch.clone(),
        WatchCreateRequest {
            watch_id: 100,
            ..watch_req("/w/", true, 0)
        },
    )
    .await?;
    s5.create(WatchCreateRequest {
        watch_id: 100,
        ..watch_req("/w/", true, 0)
    })
    .await?;
    let r = s5.until(SETTLE, |rs| rs.len() >= 2).await?;
    t.step("client-chosen watch id 100, twice", &r, false);
    Ok(t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_semantics_match_etcd() {
    let (reference, subject) = bounded(Duration::from_secs(55), async {
        let (r, s) = tokio::join!(
            Server::start(Kind::Etcd, ServerOpts::default()),
            Server::start(Kind::Kv, ServerOpts::default())
        );
        let (r, s) = (r.context("starting etcd")?, s.context("starting the subject (kv)")?);
        let (rt, st) = tokio::join!(scenario(&r), scenario(&s));
        Ok((rt.context("scenario on etcd")?, st.context("scenario on the subject")?))
    })
    .await
    .expect("watch harness");
    assert!(
        reference.violations.is_empty(),
        "etcd broke an invariant?! {:?}",
        reference.violations
    );
    if std::env::var_os("CTEST_TRACE").is_some() {
        eprintln!("etcd transcript:\n{}", reference.lines.join("\n"));
    }
    let mut report = String::new();
    let n = reference.lines.len().max(subject.lines.len());
    for i in 0..n {
        let (a, b) = (reference.lines.get(i), subject.lines.get(i));
        let mark = if a == b { "  " } else { "!!" };
        report.push_str(&format!(
            "{mark} etcd: {}\n{mark} kv:   {}\n",
            a.map_or("<none>", |s| s.as_str()),
            b.map_or("<none>", |s| s.as_str())
        ));
    }
    assert!(
        reference.lines == subject.lines && subject.violations.is_empty(),
        "watch transcripts differ (!! marks differing lines); subject invariant violations: {:?}\n{report}",
        subject.violations
    );
}
