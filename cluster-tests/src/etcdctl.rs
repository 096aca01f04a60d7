//! Runs Debian's etcdctl (`ETCDCTL_API=3`) against a set of endpoints, bounded in time.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Result;

use crate::binary;
use crate::run::{self, Background, Output};

/// etcdctl bound to endpoints and a working directory (for relative paths like snapshots).
#[derive(Clone, Debug)]
pub struct Etcdctl {
    bin: PathBuf,
    endpoints: String,
    cwd: PathBuf,
}

impl Etcdctl {
    /// etcdctl for `endpoints` (`host:port[,host:port...]`), run in `cwd`.
    pub fn new(endpoints: &str, cwd: &Path) -> Result<Etcdctl> {
        Ok(Etcdctl {
            bin: binary::etcdctl()?,
            endpoints: endpoints.to_string(),
            cwd: cwd.to_path_buf(),
        })
    }

    /// The command line for `args` (global flags first; the environment is cleaned of
    /// ETCDCTL_* variables so the user's shell cannot change results).
    pub fn command(&self, args: &[String]) -> Command {
        let mut cmd = Command::new(&self.bin);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("ETCDCTL_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("ETCDCTL_API", "3")
            .current_dir(&self.cwd)
            .arg(format!("--endpoints={}", self.endpoints))
            .arg("--dial-timeout=3s")
            .arg("--command-timeout=8s")
            .args(args);
        cmd
    }

    /// Runs to completion (killed after `timeout`).
    pub fn run(&self, args: &[String], stdin: Option<&str>, timeout: Duration) -> Result<Output> {
        run::run(self.command(args), stdin, timeout)
    }

    /// Starts a long-running command (watch, keep-alive) in the background.
    pub fn spawn(&self, args: &[String]) -> Result<Background> {
        Background::spawn(self.command(args), None)
    }
}

/// Splits a command line like a shell would for simple cases: whitespace separates,
/// '...' and "..." quote (so `put "" v` passes an empty key).
pub fn split_args(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::split_args;

    #[test]
    fn splits_and_quotes() {
        assert_eq!(split_args(r#"put "" v"#), vec!["put", "", "v"]);
        assert_eq!(split_args("get  a --prefix"), vec!["get", "a", "--prefix"]);
        assert_eq!(split_args("put k 'a b'"), vec!["put", "k", "a b"]);
    }
}
