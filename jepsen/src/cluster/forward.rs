//! Loopback TCP forwarders: clients in the host namespace connect to 127.0.0.1:port and each
//! connection is relayed to a member's client port inside the namespaces.
//!
//! Owner: the [`Forwarder`]'s accept task; dropping it stops accepting and closes relays.

use super::netns::Net;
use anyhow::Result;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

#[derive(Debug)]
pub struct Forwarder {
    pub local: SocketAddr,
    task: JoinHandle<()>,
}

impl Forwarder {
    pub async fn start(net: Arc<Net>, target: SocketAddr) -> Result<Forwarder> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let local = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let mut relays = tokio::task::JoinSet::new();
            loop {
                let mut inbound = match listener.accept().await {
                    Ok((s, _)) => s,
                    Err(_) => {
                        // E.g. out of descriptors: keep serving once some are freed.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = inbound.set_nodelay(true);
                let net = net.clone();
                relays.spawn(async move {
                    if let Ok(mut outbound) = net.dial(target, Duration::from_secs(2)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                while relays.try_join_next().is_some() {}
            }
        });
        Ok(Forwarder { local, task })
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.task.abort();
    }
}
