//! An in-process member on a random loopback port, and clients for it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use clap::Parser;
use kv::config::Flags;
use kv::member::Member;
use proto::etcdserverpb::{
    kv_client::KvClient, lease_client::LeaseClient, maintenance_client::MaintenanceClient, watch_client::WatchClient,
};
use tonic::transport::Channel;

pub struct TestMember {
    pub member: Arc<Member>,
    pub addr: SocketAddr,
    pub channel: Channel,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl TestMember {
    pub async fn start(extra: &[&str]) -> TestMember {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let data_s = data.to_string_lossy().to_string();
        let mut args = vec![
            "kv",
            "--name",
            "t",
            "--data-dir",
            &data_s,
            "--listen-client-urls",
            "http://127.0.0.1:0",
            "--listen-peer-urls",
            "http://127.0.0.1:0",
            "--initial-advertise-peer-urls",
            "http://127.0.0.1:1",
            "--initial-cluster",
            "t=http://127.0.0.1:1",
            "--heartbeat-interval",
            "10",
            "--election-timeout",
            "100",
        ];
        args.extend_from_slice(extra);
        let cfg = Flags::try_parse_from(args)
            .expect("flags")
            .into_config()
            .expect("config");
        let metrics = Arc::new(kv::metrics::Metrics::new().expect("metrics"));
        let addrs = cfg.listen_client.clone();
        let member = kv::member::start(cfg, metrics).await.expect("start member");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (bound, _h) = kv::server::serve_clients(member.clone(), &addrs, async move {
            let _ = stopped.await;
        })
        .await
        .expect("serve");
        let addr = bound[0];
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        // Wait for the single member to lead.
        for _ in 0..200 {
            if member.raft.status().is_leader {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        TestMember {
            member,
            addr,
            channel,
            _dir: dir,
            _stop: stop,
        }
    }

    pub fn kv(&self) -> KvClient<Channel> {
        KvClient::new(self.channel.clone())
    }
    pub fn watch(&self) -> WatchClient<Channel> {
        WatchClient::new(self.channel.clone())
    }
    pub fn lease(&self) -> LeaseClient<Channel> {
        LeaseClient::new(self.channel.clone())
    }
    pub fn maintenance(&self) -> MaintenanceClient<Channel> {
        MaintenanceClient::new(self.channel.clone())
    }

    pub async fn put(&self, key: &str, value: &str) -> i64 {
        let r = self
            .kv()
            .put(proto::etcdserverpb::PutRequest {
                key: key.into(),
                value: value.into(),
                ..Default::default()
            })
            .await
            .expect("put")
            .into_inner();
        r.header.expect("header").revision
    }

    pub async fn put_result(&self, key: &str, value: &str) -> Result<i64, tonic::Status> {
        let r = self
            .kv()
            .put(proto::etcdserverpb::PutRequest {
                key: key.into(),
                value: value.into(),
                ..Default::default()
            })
            .await?
            .into_inner();
        Ok(r.header.map(|h| h.revision).unwrap_or(0))
    }
}
