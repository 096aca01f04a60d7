//! Runs short-lived client processes (etcdctl, python) with a deadline, capturing stdout
//! and stderr; [`Background`] keeps one running (e.g. `etcdctl watch`) until told to stop.
//! Every child is killed and reaped when its handle is dropped.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::signal;

/// What a finished client process printed and how it ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// Everything written to stdout (lossy UTF-8).
    pub stdout: String,
    /// Everything written to stderr (lossy UTF-8).
    pub stderr: String,
    /// Exit code; `None` if ended by a signal.
    pub code: Option<i32>,
    /// True if the harness had to stop the process (deadline or [`Background::stop`]).
    pub stopped: bool,
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "exit: {:?}{}",
            self.code,
            if self.stopped { " (stopped by harness)" } else { "" }
        )?;
        writeln!(f, "stdout:\n{}", indent(&self.stdout))?;
        write!(f, "stderr:\n{}", indent(&self.stderr))
    }
}

fn indent(s: &str) -> String {
    if s.is_empty() {
        return "    <empty>".to_string();
    }
    s.lines().map(|l| format!("    |{l}")).collect::<Vec<_>>().join("\n")
}

/// Runs `cmd` to completion, feeding `stdin`; kills it (and marks `stopped`) at `timeout`.
pub fn run(cmd: Command, stdin: Option<&str>, timeout: Duration) -> Result<Output> {
    let mut bg = Background::spawn(cmd, stdin)?;
    bg.wait(timeout)
}

/// A running child whose output is collected by reader threads.
pub struct Background {
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
    what: String,
}

impl Background {
    /// Spawns `cmd` with piped stdio; writes `stdin` (if any) and closes it.
    pub fn spawn(mut cmd: Command, stdin: Option<&str>) -> Result<Background> {
        let what = format!("{cmd:?}");
        cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().with_context(|| format!("spawning {what}"))?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes()).context("writing stdin")?;
        }
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        if let Some(p) = child.stdout.take() {
            readers.push(reader(p, stdout.clone()));
        }
        if let Some(p) = child.stderr.take() {
            readers.push(reader(p, stderr.clone()));
        }
        Ok(Background {
            child,
            stdout,
            stderr,
            readers,
            what,
        })
    }

    /// The stdout collected so far.
    pub fn stdout_so_far(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// Waits until stdout holds at least `lines` lines or `timeout` passes; true if it does.
    pub fn wait_lines(&self, lines: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.stdout_so_far().lines().count() >= lines {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until stdout has not grown for `idle` (or, before any output, for `first`);
    /// returns at `max` regardless.
    pub fn wait_quiet(&self, first: Duration, idle: Duration, max: Duration) {
        let start = Instant::now();
        let mut len = 0;
        let mut changed = start;
        while start.elapsed() < max {
            let now_len = self.stdout.lock().unwrap_or_else(|e| e.into_inner()).len();
            if now_len != len {
                len = now_len;
                changed = Instant::now();
            }
            let limit = if len == 0 { first } else { idle };
            if changed.elapsed() >= limit {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the child to exit by itself; kills it at `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Result<Output> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().context("try_wait")? {
                return Ok(self.collect(status.code(), false));
            }
            if Instant::now() >= deadline {
                return self.stop();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the child (SIGTERM, then SIGKILL after 2 s) and returns its output.
    pub fn stop(&mut self) -> Result<Output> {
        let pid = self.child.id();
        if self.child.try_wait().context("try_wait")?.is_none() {
            signal::send(pid, signal::Sig::Term)?;
            let deadline = Instant::now() + Duration::from_secs(2);
            while self.child.try_wait().context("try_wait")?.is_none() {
                if Instant::now() >= deadline {
                    let _ = self.child.kill();
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let status = self.child.wait().with_context(|| format!("reaping {}", self.what))?;
        Ok(self.collect(status.code(), true))
    }

    fn collect(&mut self, code: Option<i32>, stopped: bool) -> Output {
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        let take = |b: &Arc<Mutex<Vec<u8>>>| {
            String::from_utf8_lossy(&b.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
        };
        Output {
            stdout: take(&self.stdout),
            stderr: take(&self.stderr),
            code,
            stopped,
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn reader(mut pipe: impl Read + Send + 'static, buf: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&chunk[..n]),
            }
        }
    })
}
