//! Free 127.0.0.1 TCP ports. A port handed out once is never handed out again by this
//! process, so tests running in parallel threads cannot collide with each other.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::sync::Mutex;

use anyhow::{Context, Result};

static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A port that was free a moment ago (bound then released) and is new to this process.
pub fn free_port() -> Result<u16> {
    for _ in 0..1000 {
        let l = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
        let port = l.local_addr().context("local_addr")?.port();
        drop(l);
        let mut used = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if used.insert(port) {
            return Ok(port);
        }
    }
    anyhow::bail!("no fresh free port after 1000 attempts")
}
