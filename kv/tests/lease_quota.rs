//! Leases end-to-end (expiry deletes attached keys and notifies watchers) and the backend
//! quota (NOSPACE alarm: writes refused with etcd's error, reads still served, disarm).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::TestMember;
use proto::etcdserverpb::{
    alarm_request::AlarmAction, AlarmRequest, AlarmType, LeaseGrantRequest, LeaseTimeToLiveRequest, PutRequest,
    RangeRequest,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_deletes_its_keys() {
    let m = TestMember::start(&[]).await;
    let g = m
        .lease()
        .lease_grant(LeaseGrantRequest { ttl: 1, id: 0 })
        .await
        .expect("grant")
        .into_inner();
    let min_ttl = g.ttl;
    assert!(min_ttl >= 1, "TTL raised to the minimum");
    m.kv()
        .put(PutRequest {
            key: b"leased".to_vec(),
            value: b"v".to_vec(),
            lease: g.id,
            ..Default::default()
        })
        .await
        .expect("put");
    let unknown = m
        .kv()
        .put(PutRequest {
            key: b"x".to_vec(),
            lease: 12345,
            ..Default::default()
        })
        .await
        .expect_err("unknown lease");
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    assert_eq!(unknown.message(), "etcdserver: requested lease not found");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(min_ttl as u64 + 10);
    loop {
        let r = m
            .kv()
            .range(RangeRequest {
                key: b"leased".to_vec(),
                ..Default::default()
            })
            .await
            .expect("range")
            .into_inner();
        if r.kvs.is_empty() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "lease never expired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // As etcd: a lease that is gone answers TTL -1 rather than an error.
    let ttl = m
        .lease()
        .lease_time_to_live(LeaseTimeToLiveRequest { id: g.id, keys: true })
        .await
        .expect("time-to-live of a revoked lease")
        .into_inner();
    assert_eq!(ttl.ttl, -1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_quota_writes_are_refused_and_reads_served() {
    let m = TestMember::start(&["--quota-backend-bytes", "200000"]).await;
    let big = vec![b'x'; 64 * 1024];
    let mut refused = None;
    for i in 0..200 {
        match m
            .kv()
            .put(PutRequest {
                key: format!("big/{i}").into_bytes(),
                value: big.clone(),
                ..Default::default()
            })
            .await
        {
            Ok(_) => {}
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let e = refused.expect("the quota must refuse a write");
    assert_eq!(e.code(), tonic::Code::ResourceExhausted);
    assert_eq!(e.message(), "etcdserver: mvcc: database space exceeded");
    let alarms = m
        .maintenance()
        .alarm(AlarmRequest {
            action: AlarmAction::Get as i32,
            ..Default::default()
        })
        .await
        .expect("alarm list")
        .into_inner();
    assert_eq!(alarms.alarms.len(), 1);
    assert_eq!(alarms.alarms[0].alarm, AlarmType::Nospace as i32);
    // Reads still work.
    let r = m
        .kv()
        .range(RangeRequest {
            key: b"big/0".to_vec(),
            ..Default::default()
        })
        .await
        .expect("range while NOSPACE")
        .into_inner();
    assert_eq!(r.kvs.len(), 1);
    // Even a small write is refused until the alarm is disarmed.
    assert!(m.put_result("small", "v").await.is_err());
    m.maintenance()
        .alarm(AlarmRequest {
            action: AlarmAction::Deactivate as i32,
            member_id: alarms.alarms[0].member_id,
            alarm: AlarmType::Nospace as i32,
        })
        .await
        .expect("disarm");
    let h = reqwest_like_health(&m).await;
    assert!(h.contains("\"health\":\"true\""), "{h}");
}

/// GET /health over plain HTTP/1.1 on the client port.
async fn reqwest_like_health(m: &TestMember) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(m.addr).await.expect("connect");
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}
