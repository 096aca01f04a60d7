//! Safe signal delivery to child processes (via `nix`; the workspace denies unsafe code).

use anyhow::{Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The signals the harness sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sig {
    /// Graceful shutdown request.
    Term,
    /// Crash: no chance to flush anything.
    Kill,
    /// Freeze the process (it keeps its sockets open but answers nothing).
    Stop,
    /// Thaw a stopped process.
    Cont,
}

/// Sends `sig` to the process `pid` (a child this process spawned).
pub fn send(pid: u32, sig: Sig) -> Result<()> {
    let signal = match sig {
        Sig::Term => Signal::SIGTERM,
        Sig::Kill => Signal::SIGKILL,
        Sig::Stop => Signal::SIGSTOP,
        Sig::Cont => Signal::SIGCONT,
    };
    let raw = i32::try_from(pid).context("pid out of range")?;
    kill(Pid::from_raw(raw), signal).with_context(|| format!("kill({pid}, {signal})"))
}
