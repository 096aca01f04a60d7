//! The file pipeline (etcd `file_pipeline.go`): a background thread keeps the next segment
//! ready as a locked, preallocated `0.tmp` / `1.tmp` so a cut only renames it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use crate::error::{Error, Result};
use crate::fileutil;

type Ready = Result<(PathBuf, File)>;

/// Hands out preallocated, locked temporary segment files, one at a time.
///
/// The allocator thread prepares a file, then blocks until [`FilePipeline::open`] takes it
/// (a rendezvous channel), so exactly one spare file exists at any time. Dropping the
/// pipeline removes the spare and joins the thread.
pub struct FilePipeline {
    rx: Option<Receiver<Ready>>,
    handle: Option<JoinHandle<()>>,
}

impl FilePipeline {
    /// Starts allocating `size`-byte files in `dir`.
    pub fn new(dir: &Path, size: u64) -> Result<Self> {
        let (tx, rx) = sync_channel(0);
        let dir = dir.to_owned();
        let handle = std::thread::Builder::new()
            .name("wal-file-pipeline".into())
            .spawn(move || run(&dir, size, &tx))
            .map_err(|e| Error::Pipeline {
                reason: format!("spawn allocator thread: {e}"),
            })?;
        Ok(Self {
            rx: Some(rx),
            handle: Some(handle),
        })
    }

    /// Takes the ready file (waiting for it if the thread is still allocating). The caller must
    /// rename it before the next call, or the following allocation reuses its name.
    pub fn open(&mut self) -> Result<(PathBuf, File)> {
        let rx = self.rx.as_ref().ok_or_else(|| Error::Pipeline {
            reason: "closed".into(),
        })?;
        rx.recv().map_err(|_| Error::Pipeline {
            reason: "allocator thread exited after an earlier error".into(),
        })?
    }
}

impl Drop for FilePipeline {
    fn drop(&mut self) {
        // Disconnecting wakes the thread's pending send, which then removes its spare file.
        drop(self.rx.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn alloc(dir: &Path, size: u64, count: u64) -> Ready {
    // count % 2 so the new file never has the name of the one just handed out.
    let path = dir.join(format!("{}.tmp", count % 2));
    let f = fileutil::open_locked(&path, true, false)?;
    // A stale tmp file from a crash may hold old records; start from zeros.
    f.set_len(0).map_err(|e| Error::io("truncate", &path, e))?;
    fileutil::preallocate(&f, &path, size)?;
    Ok((path, f))
}

fn run(dir: &Path, size: u64, tx: &SyncSender<Ready>) {
    let mut count = 0u64;
    loop {
        let ready = alloc(dir, size, count);
        let failed = ready.is_err();
        if let Err(e) = &ready {
            tracing::error!(dir = %dir.display(), error = %e, "failed to preallocate the next WAL segment");
        }
        match tx.send(ready) {
            Ok(()) if failed => return,
            Ok(()) => count += 1,
            Err(unsent) => {
                if let Ok((path, f)) = unsent.0 {
                    drop(f);
                    let _ = std::fs::remove_file(path);
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_one_spare_ready_and_removes_it_on_drop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut fp = FilePipeline::new(dir.path(), 4096).expect("pipeline");
        let (p0, f0) = fp.open().expect("first");
        assert_eq!(p0, dir.path().join("0.tmp"));
        assert_eq!(f0.metadata().expect("stat").len(), 4096);
        std::fs::rename(&p0, dir.path().join("a")).expect("rename");
        let (p1, _f1) = fp.open().expect("second");
        assert_eq!(p1, dir.path().join("1.tmp"));
        std::fs::rename(&p1, dir.path().join("b")).expect("rename");
        // The thread now prepares 0.tmp again, ahead of need.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !dir.path().join("0.tmp").exists() {
            assert!(std::time::Instant::now() < deadline, "spare never prepared");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        drop(fp);
        assert!(!dir.path().join("0.tmp").exists());
        assert!(!dir.path().join("1.tmp").exists());
    }
}
