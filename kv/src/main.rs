//! The `kv` binary: etcd's flags in, a serving member out; SIGTERM/SIGINT stop it cleanly.

use std::sync::Arc;

use clap::Parser;
use kv::config::{Flags, ETCD_VERSION};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let flags = match Flags::try_parse() {
        Ok(f) => f,
        Err(e) => {
            use clap::error::ErrorKind;
            match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = e.print();
                    std::process::exit(0);
                }
                _ => {
                    let msg = e.to_string();
                    let first = msg
                        .lines()
                        .next()
                        .unwrap_or("invalid arguments")
                        .trim_start_matches("error: ");
                    eprintln!("kv: {first}");
                    std::process::exit(1);
                }
            }
        }
    };
    if flags.version {
        println!("kv Version: {}", env!("CARGO_PKG_VERSION"));
        println!("etcd API Version: {ETCD_VERSION}");
        return;
    }
    let cfg = match flags.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kv: {e}");
            std::process::exit(1);
        }
    };
    let level = match cfg.log_level.as_str() {
        "debug" => "debug",
        "warn" => "warn",
        "error" | "panic" | "fatal" => "error",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KV_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // One crypto provider for every TLS user in the process (rustls refuses to guess).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kv: cannot start runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(cfg)) {
        eprintln!("kv: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cfg: kv::config::Config) -> anyhow::Result<()> {
    let metrics = Arc::new(kv::metrics::Metrics::new()?);
    metrics.server_version.with_label_values(&[ETCD_VERSION]).set(1);
    let addrs = cfg.listen_client.clone();
    let member = kv::member::start(cfg, metrics).await?;
    let (bound, server) = kv::server::serve_clients(member.clone(), &addrs, shutdown_signal()).await?;
    for a in &bound {
        tracing::info!(address = %a, "serving client traffic (gRPC and HTTP)");
    }
    server.await?;
    // Make every applied write durable before leaving, and keep the database open to the
    // end: closing it on another thread while exit() tears down RocksDB's statics crashes.
    let backend = member.store.backend();
    if let Err(e) = backend.sync() {
        tracing::error!(error = %e, "final sync failed");
    }
    // Memtables to disk, so the next start opens the database without replaying its WAL.
    if let Err(e) = backend.flush_memtables() {
        tracing::warn!(error = %e, "final flush failed");
    }
    std::mem::forget(backend);
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("received signal; shutting down");
}
