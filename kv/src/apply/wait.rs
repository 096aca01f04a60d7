//! Proposals waiting for their entry to be applied, keyed by request ID; and the request-ID
//! generator (member ID prefix + time + counter, as etcd's `idutil`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::Response;
use crate::error::Result;

/// The outcome of an applied request: its response and the store revision after it.
pub type ApplyOutcome = Result<(Response, i64)>;

#[derive(Default)]
pub struct Wait {
    waiting: Mutex<HashMap<u64, oneshot::Sender<ApplyOutcome>>>,
}

impl Wait {
    pub fn register(&self, id: u64) -> oneshot::Receiver<ApplyOutcome> {
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().insert(id, tx);
        rx
    }

    pub fn cancel(&self, id: u64) {
        self.waiting.lock().remove(&id);
    }

    pub fn trigger(&self, id: u64, outcome: ApplyOutcome) {
        if let Some(tx) = self.waiting.lock().remove(&id) {
            let _ = tx.send(outcome);
        }
    }
}

/// Unique request IDs across members and restarts.
pub struct IdGen {
    next: AtomicU64,
}

impl IdGen {
    pub fn new(member_id: u64) -> IdGen {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let prefix = (member_id & 0xffff) << 48;
        let suffix = (ms & 0xff_ffff_ffff) << 8;
        IdGen {
            next: AtomicU64::new(prefix | suffix),
        }
    }

    pub fn next(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed) + 1
    }
}
