//! One member process (etcd or kv, same flags): start, SIGKILL, SIGSTOP/SIGCONT, restart.
//!
//! Owner: the [`Member`] owns its child; on drop a paused child is continued, killed and
//! reaped, so no process outlives the harness, also on error paths.

use anyhow::{Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::PathBuf;
use std::process::Stdio;
use tokio::process::{Child, Command};

#[derive(Debug)]
pub struct Member {
    pub name: String,
    /// Network namespace to run in (via `ip netns exec`, which execs, so the pid is the
    /// member's own).
    pub netns: Option<String>,
    pub bin: PathBuf,
    pub args: Vec<String>,
    pub log: PathBuf,
    child: Option<Child>,
    paused: bool,
    crashes: Vec<String>,
}

impl Member {
    pub fn new(name: String, netns: Option<String>, bin: PathBuf, args: Vec<String>, log: PathBuf) -> Self {
        Member {
            name,
            netns,
            bin,
            args,
            log,
            child: None,
            paused: false,
            crashes: Vec::new(),
        }
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    fn pid(&self) -> Option<Pid> {
        let id = self.child.as_ref()?.id()?;
        Some(Pid::from_raw(i32::try_from(id).ok()?))
    }

    pub fn start(&mut self) -> Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("/usr/sbin/ip");
                c.args(["netns", "exec", ns]).arg(&self.bin);
                c
            }
            None => Command::new(&self.bin),
        };
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log));
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        self.child = Some(child);
        self.paused = false;
        Ok(())
    }

    /// SIGKILL and reap.
    pub async fn kill(&mut self) {
        if let Some(pid) = self.pid() {
            let _ = kill(pid, Signal::SIGKILL);
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.wait().await;
        }
        self.paused = false;
    }

    pub fn pause(&mut self) {
        if let Some(pid) = self.pid() {
            if kill(pid, Signal::SIGSTOP).is_ok() {
                self.paused = true;
            }
        }
    }

    pub fn resume(&mut self) {
        if let Some(pid) = self.pid() {
            let _ = kill(pid, Signal::SIGCONT);
        }
        self.paused = false;
    }

    /// Some(status) if the child exited on its own (not by [`Member::kill`]); reaps it and
    /// remembers it in `crashes`.
    pub fn exited(&mut self) -> Option<String> {
        let c = self.child.as_mut()?;
        match c.try_wait() {
            Ok(Some(st)) => {
                self.child = None;
                self.crashes.push(st.to_string());
                Some(st.to_string())
            }
            _ => None,
        }
    }

    /// Exits the harness did not cause, so far.
    pub fn crashes(&self) -> &[String] {
        &self.crashes
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            let _ = kill(pid, Signal::SIGCONT);
            if kill(pid, Signal::SIGKILL).is_ok() {
                let _ = nix::sys::wait::waitpid(pid, None);
            }
        }
    }
}
