//! One etcd watch stream, reduced to what the registry needs.
//!
//! `WatchStream` holds the request sender (etcd keeps the watch while it is
//! open) and yields batches of `mvccpb::Event`s. A canceled watch with a
//! compact_revision becomes `StorageError::Compacted` (→ 410 Gone upstream).

use proto::etcdserverpb::{WatchRequest, WatchResponse};
use proto::mvccpb::Event;
use tokio::sync::mpsc;
use tonic::Streaming;

use super::{Result, StorageError};

pub struct WatchStream {
    _requests: mpsc::Sender<WatchRequest>,
    inner: Streaming<WatchResponse>,
}

/// A batch of events, or a progress notification at `revision`.
pub struct WatchBatch {
    pub events: Vec<Event>,
    pub revision: i64,
}

impl WatchStream {
    /// Wait for etcd to confirm the watch (or refuse it as compacted).
    pub(crate) async fn start(
        requests: mpsc::Sender<WatchRequest>,
        mut inner: Streaming<WatchResponse>,
    ) -> Result<Self> {
        loop {
            let resp = inner
                .message()
                .await
                .map_err(|s| super::etcd3::map_status(&s))?
                .ok_or_else(|| StorageError::Unavailable("watch stream closed".into()))?;
            check_canceled(&resp)?;
            if resp.created {
                // Created responses may already carry nothing else; events follow.
                return Ok(Self {
                    _requests: requests,
                    inner,
                });
            }
        }
    }

    /// Next batch; `Ok(None)` when etcd closed the stream.
    pub async fn next(&mut self) -> Result<Option<WatchBatch>> {
        match self.inner.message().await {
            Ok(Some(resp)) => {
                check_canceled(&resp)?;
                let revision = resp.header.map(|h| h.revision).unwrap_or_default();
                Ok(Some(WatchBatch {
                    events: resp.events,
                    revision,
                }))
            }
            Ok(None) => Ok(None),
            Err(s) => Err(super::etcd3::map_status(&s)),
        }
    }
}

fn check_canceled(resp: &WatchResponse) -> Result<()> {
    if resp.compact_revision > 0 {
        return Err(StorageError::Compacted {
            requested: 0,
            compacted: resp.compact_revision,
        });
    }
    if resp.canceled {
        return Err(StorageError::Internal(format!(
            "watch canceled: {}",
            resp.cancel_reason
        )));
    }
    Ok(())
}
