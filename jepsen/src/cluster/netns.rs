//! Private network namespaces for the members: one namespace per member plus a hub namespace
//! holding a bridge; partitions are blackhole routes inside member namespaces, which cut
//! traffic in both directions between chosen members while clients (via the hub) still reach
//! everyone.
//!
//! Owner: [`Net`] creates every namespace and veth it uses (named `jp<pid>h`, `jp<pid>m<i>`;
//! addresses in 10.77.0.0/24 exist only inside them) and deletes them on drop. Veth ends are
//! created directly inside the namespaces, so nothing is added to the host's namespace.

use anyhow::{bail, Context, Result};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

const IP: &str = "/usr/sbin/ip";

/// Runs `ip args…` synchronously.
fn ip_sync(args: &[&str]) -> Result<()> {
    let out = std::process::Command::new(IP)
        .args(args)
        .output()
        .context("running ip")?;
    if !out.status.success() {
        bail!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// Runs `ip args…` without blocking the runtime.
async fn ip(args: Vec<String>) -> Result<()> {
    let out = tokio::process::Command::new(IP)
        .args(&args)
        .output()
        .await
        .context("running ip")?;
    if !out.status.success() {
        bail!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// The namespaces of one run.
#[derive(Debug)]
pub struct Net {
    prefix: String,
    members: usize,
    created: Vec<String>,
}

impl Net {
    /// Deletes namespaces (and kills the members inside them) left by earlier runs of this
    /// harness whose process is gone.
    pub fn clean_stale() {
        let Ok(out) = std::process::Command::new(IP).args(["netns", "list"]).output() else {
            return;
        };
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            let Some(rest) = name.strip_prefix("jp") else {
                continue;
            };
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            // `jp<pid>[n<k>]h` or `jp<pid>[n<k>]m<i>` (k: the process's k-th Net).
            let tail = rest[digits.len()..].trim_start_matches(|c: char| c == 'n' || c.is_ascii_digit());
            let ours = !digits.is_empty() && (tail == "h" || tail.starts_with('m'));
            if ours && !std::path::Path::new(&format!("/proc/{digits}")).exists() {
                // Members left running by a harness that was SIGKILLed live in this namespace.
                if let Ok(out) = std::process::Command::new(IP).args(["netns", "pids", name]).output() {
                    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                        if let Ok(pid) = pid.parse::<i32>() {
                            let pid = nix::unistd::Pid::from_raw(pid);
                            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                        }
                    }
                }
                let _ = ip_sync(&["netns", "del", name]);
            }
        }
    }

    /// Creates the hub with its bridge and one namespace per member.
    pub fn create(members: usize) -> Result<Net> {
        Self::clean_stale();
        // Several Nets may live in one process (tests run in parallel threads).
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let prefix = match k {
            0 => format!("jp{}", std::process::id()),
            k => format!("jp{}n{k}", std::process::id()),
        };
        let mut net = Net {
            prefix,
            members,
            created: Vec::new(),
        };
        let hub = net.hub();
        ip_sync(&["netns", "add", &hub]).context("creating a network namespace (needs root)")?;
        net.created.push(hub.clone());
        ip_sync(&["-n", &hub, "link", "set", "lo", "up"])?;
        ip_sync(&["-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        ip_sync(&["-n", &hub, "addr", "add", "10.77.0.254/24", "dev", "br0"])?;
        ip_sync(&["-n", &hub, "link", "set", "br0", "up"])?;
        for i in 0..members {
            let ns = net.member_ns(i);
            ip_sync(&["netns", "add", &ns])?;
            net.created.push(ns.clone());
            let veth = format!("v{i}");
            ip_sync(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip_sync(&[
                "-n", &hub, "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ])?;
            ip_sync(&["-n", &hub, "link", "set", &veth, "master", "br0", "up"])?;
            let addr = format!("{}/24", Self::addr(i));
            ip_sync(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
            ip_sync(&["-n", &ns, "link", "set", "eth0", "up"])?;
        }
        Ok(net)
    }

    pub fn hub(&self) -> String {
        format!("{}h", self.prefix)
    }

    pub fn member_ns(&self, i: usize) -> String {
        format!("{}m{i}", self.prefix)
    }

    /// Member `i`'s address inside its namespace.
    pub fn addr(i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, 0, u8::try_from(i + 1).unwrap_or(250))
    }

    /// Cuts every link between members of different groups, both directions.
    pub async fn partition(&self, groups: &[Vec<usize>]) -> Result<()> {
        for (gi, g) in groups.iter().enumerate() {
            for (hi, h) in groups.iter().enumerate() {
                if gi == hi {
                    continue;
                }
                for &a in g {
                    for &b in h {
                        let dst = format!("{}/32", Self::addr(b));
                        let ns = self.member_ns(a);
                        ip(vec![
                            "-n".into(),
                            ns,
                            "route".into(),
                            "add".into(),
                            "blackhole".into(),
                            dst,
                        ])
                        .await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Removes every blackhole route.
    pub async fn heal(&self) -> Result<()> {
        for i in 0..self.members {
            let ns = self.member_ns(i);
            ip(vec![
                "-n".into(),
                ns,
                "route".into(),
                "flush".into(),
                "type".into(),
                "blackhole".into(),
            ])
            .await?;
        }
        Ok(())
    }

    /// Opens a TCP connection from inside the hub namespace (on a fresh OS thread, which is
    /// the only thread that ever enters the namespace).
    pub async fn dial(&self, addr: SocketAddr, timeout: Duration) -> std::io::Result<tokio::net::TcpStream> {
        let path = format!("/var/run/netns/{}", self.hub());
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let res = (|| -> std::io::Result<std::net::TcpStream> {
                let f = std::fs::File::open(&path)?;
                nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)?;
                let s = std::net::TcpStream::connect_timeout(&addr, timeout)?;
                s.set_nonblocking(true)?;
                s.set_nodelay(true)?;
                Ok(s)
            })();
            let _ = tx.send(res);
        });
        let s = rx.await.map_err(|_| std::io::Error::other("dialer thread died"))??;
        tokio::net::TcpStream::from_std(s)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in self.created.drain(..).rev() {
            let _ = ip_sync(&["netns", "del", &ns]);
        }
    }
}
