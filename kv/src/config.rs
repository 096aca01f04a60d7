//! Command-line flags with etcd's names, defaults and `ETCD_*` environment variables, and
//! their parsing into a checked `Config`. A bad flag or value is one line on stderr and exit
//! code 1, as etcd does.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// etcd's default backend quota (2 GiB) when `--quota-backend-bytes` is 0.
pub const DEFAULT_QUOTA_BYTES: i64 = 2 * 1024 * 1024 * 1024;

/// The etcd API version this member reports to clients (kube-apiserver enables watch
/// progress requests only for ≥ 3.5.13).
pub const ETCD_VERSION: &str = "3.5.17";
pub const ETCD_CLUSTER_VERSION: &str = "3.5.0";

#[derive(Parser, Debug, Clone)]
#[command(
    name = "kv",
    about = "An etcd-v3-compatible key-value store",
    disable_version_flag = true
)]
pub struct Flags {
    /// Human-readable name for this member.
    #[arg(long, env = "ETCD_NAME", default_value = "default")]
    pub name: String,
    /// Path to the data directory (default: ${name}.etcd).
    #[arg(long = "data-dir", env = "ETCD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Path to the dedicated WAL directory.
    #[arg(long = "wal-dir", env = "ETCD_WAL_DIR")]
    pub wal_dir: Option<PathBuf>,
    /// URLs to listen on for client traffic.
    #[arg(
        long = "listen-client-urls",
        env = "ETCD_LISTEN_CLIENT_URLS",
        default_value = "http://localhost:2379"
    )]
    pub listen_client_urls: String,
    /// Client URLs advertised to the rest of the cluster.
    #[arg(
        long = "advertise-client-urls",
        env = "ETCD_ADVERTISE_CLIENT_URLS",
        default_value = "http://localhost:2379"
    )]
    pub advertise_client_urls: String,
    /// URLs to listen on for peer traffic.
    #[arg(
        long = "listen-peer-urls",
        env = "ETCD_LISTEN_PEER_URLS",
        default_value = "http://localhost:2380"
    )]
    pub listen_peer_urls: String,
    /// This member's peer URLs advertised to the rest of the cluster.
    #[arg(
        long = "initial-advertise-peer-urls",
        env = "ETCD_INITIAL_ADVERTISE_PEER_URLS",
        default_value = "http://localhost:2380"
    )]
    pub initial_advertise_peer_urls: String,
    /// Initial cluster configuration for bootstrapping (name=url,...).
    #[arg(long = "initial-cluster", env = "ETCD_INITIAL_CLUSTER")]
    pub initial_cluster: Option<String>,
    /// Initial cluster state ('new' or 'existing').
    #[arg(
        long = "initial-cluster-state",
        env = "ETCD_INITIAL_CLUSTER_STATE",
        default_value = "new"
    )]
    pub initial_cluster_state: String,
    /// Initial cluster token for the etcd cluster during bootstrap.
    #[arg(
        long = "initial-cluster-token",
        env = "ETCD_INITIAL_CLUSTER_TOKEN",
        default_value = "etcd-cluster"
    )]
    pub initial_cluster_token: String,
    /// Number of committed transactions to trigger a snapshot to disk.
    #[arg(long = "snapshot-count", env = "ETCD_SNAPSHOT_COUNT", default_value_t = 100_000)]
    pub snapshot_count: u64,
    /// Time (in milliseconds) of a heartbeat interval.
    #[arg(long = "heartbeat-interval", env = "ETCD_HEARTBEAT_INTERVAL", default_value_t = 100)]
    pub heartbeat_interval: u64,
    /// Time (in milliseconds) for an election to timeout.
    #[arg(long = "election-timeout", env = "ETCD_ELECTION_TIMEOUT", default_value_t = 1000)]
    pub election_timeout: u64,
    /// Raise alarms when backend size exceeds the given quota (0 defaults to 2 GiB).
    #[arg(long = "quota-backend-bytes", env = "ETCD_QUOTA_BACKEND_BYTES", default_value_t = 0)]
    pub quota_backend_bytes: i64,
    /// Interpret 'auto-compaction-retention' one of: periodic|revision.
    #[arg(
        long = "auto-compaction-mode",
        env = "ETCD_AUTO_COMPACTION_MODE",
        default_value = "periodic"
    )]
    pub auto_compaction_mode: String,
    /// Auto compaction retention (hours if unitless for periodic; revisions for revision; 0 = off).
    #[arg(
        long = "auto-compaction-retention",
        env = "ETCD_AUTO_COMPACTION_RETENTION",
        default_value = "0"
    )]
    pub auto_compaction_retention: String,
    /// Maximum number of operations permitted in a transaction.
    #[arg(long = "max-txn-ops", env = "ETCD_MAX_TXN_OPS", default_value_t = 128)]
    pub max_txn_ops: u32,
    /// Maximum client request size in bytes the server will accept.
    #[arg(
        long = "max-request-bytes",
        env = "ETCD_MAX_REQUEST_BYTES",
        default_value_t = 1_572_864
    )]
    pub max_request_bytes: u32,
    /// Entries kept behind a snapshot for slow followers; one further behind gets a snapshot.
    #[arg(
        long = "snapshot-catchup-entries",
        env = "ETCD_SNAPSHOT_CATCHUP_ENTRIES",
        default_value_t = 5000,
        alias = "experimental-snapshot-catchup-entries"
    )]
    pub snapshot_catchup_entries: u64,
    /// Maximum number of snapshot files to retain (0 is unlimited).
    #[arg(long = "max-snapshots", env = "ETCD_MAX_SNAPSHOTS", default_value_t = 5)]
    pub max_snapshots: usize,
    /// Maximum number of wal files to retain (0 is unlimited).
    #[arg(long = "max-wals", env = "ETCD_MAX_WALS", default_value_t = 5)]
    pub max_wals: usize,
    /// Duration of periodic watch progress notifications.
    #[arg(
        long = "watch-progress-notify-interval",
        env = "ETCD_WATCH_PROGRESS_NOTIFY_INTERVAL",
        default_value = "10m",
        alias = "experimental-watch-progress-notify-interval"
    )]
    pub watch_progress_notify_interval: String,
    /// Disables fsync, unsafe, will cause data loss.
    #[arg(long = "unsafe-no-fsync", env = "ETCD_UNSAFE_NO_FSYNC", default_value_t = false)]
    pub unsafe_no_fsync: bool,
    /// Reject reconfiguration requests that would cause quorum loss.
    #[arg(
        long = "strict-reconfig-check",
        env = "ETCD_STRICT_RECONFIG_CHECK",
        default_value_t = true,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub strict_reconfig_check: bool,
    /// Enable the raft Pre-Vote algorithm.
    #[arg(long = "pre-vote", env = "ETCD_PRE_VOTE", default_value_t = true, action = clap::ArgAction::Set)]
    pub pre_vote: bool,
    /// Currently only supports 'zap' for structured logging.
    #[arg(long, env = "ETCD_LOGGER", default_value = "zap")]
    pub logger: String,
    /// Configures log level: debug, info, warn, error, panic, or fatal.
    #[arg(long = "log-level", env = "ETCD_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Path to the client server TLS cert file.
    #[arg(long = "cert-file", env = "ETCD_CERT_FILE")]
    pub cert_file: Option<PathBuf>,
    /// Path to the client server TLS key file.
    #[arg(long = "key-file", env = "ETCD_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// Path to the client server TLS trusted CA cert file.
    #[arg(long = "trusted-ca-file", env = "ETCD_TRUSTED_CA_FILE")]
    pub trusted_ca_file: Option<PathBuf>,
    /// Enable client cert authentication.
    #[arg(long = "client-cert-auth", env = "ETCD_CLIENT_CERT_AUTH", default_value_t = false)]
    pub client_cert_auth: bool,
    /// Client TLS using generated certificates.
    #[arg(long = "auto-tls", env = "ETCD_AUTO_TLS", default_value_t = false)]
    pub auto_tls: bool,
    /// Path to the peer server TLS cert file.
    #[arg(long = "peer-cert-file", env = "ETCD_PEER_CERT_FILE")]
    pub peer_cert_file: Option<PathBuf>,
    /// Path to the peer server TLS key file.
    #[arg(long = "peer-key-file", env = "ETCD_PEER_KEY_FILE")]
    pub peer_key_file: Option<PathBuf>,
    /// Path to the peer server TLS trusted CA file.
    #[arg(long = "peer-trusted-ca-file", env = "ETCD_PEER_TRUSTED_CA_FILE")]
    pub peer_trusted_ca_file: Option<PathBuf>,
    /// Enable peer client cert authentication.
    #[arg(
        long = "peer-client-cert-auth",
        env = "ETCD_PEER_CLIENT_CERT_AUTH",
        default_value_t = false
    )]
    pub peer_client_cert_auth: bool,
    /// Peer TLS using generated certificates.
    #[arg(long = "peer-auto-tls", env = "ETCD_PEER_AUTO_TLS", default_value_t = false)]
    pub peer_auto_tls: bool,
    /// Comma-separated list of supported TLS cipher suites (TLS 1.2; TLS 1.3 suites always on).
    #[arg(long = "cipher-suites", env = "ETCD_CIPHER_SUITES", default_value = "")]
    pub cipher_suites: String,
    /// Minimum TLS version supported by etcd (TLS1.2 or TLS1.3).
    #[arg(long = "tls-min-version", env = "ETCD_TLS_MIN_VERSION", default_value = "TLS1.2")]
    pub tls_min_version: String,
    /// Maximum TLS version supported by etcd (empty means the newest).
    #[arg(long = "tls-max-version", env = "ETCD_TLS_MAX_VERSION", default_value = "")]
    pub tls_max_version: String,
    /// The validity period of the self-signed certificates, in years.
    #[arg(
        long = "self-signed-cert-validity",
        env = "ETCD_SELF_SIGNED_CERT_VALIDITY",
        default_value_t = 1
    )]
    pub self_signed_cert_validity: u32,
    /// Specify auth token type and its options ('simple' or 'jwt').
    #[arg(long = "auth-token", env = "ETCD_AUTH_TOKEN", default_value = "simple")]
    pub auth_token: String,
    /// Time (in seconds) of the auth-token-ttl.
    #[arg(long = "auth-token-ttl", env = "ETCD_AUTH_TOKEN_TTL", default_value_t = 300)]
    pub auth_token_ttl: u64,
    /// Specify bcrypt algorithm cost factor for auth password hashing.
    #[arg(long = "bcrypt-cost", env = "ETCD_BCRYPT_COST", default_value_t = 10)]
    pub bcrypt_cost: u32,
    /// Print the version and exit.
    #[arg(long, default_value_t = false)]
    pub version: bool,
}

/// A member of the initial cluster as named by `--initial-cluster`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialMember {
    pub name: String,
    pub peer_urls: Vec<String>,
}

/// `--auth-token`: simple, or jwt with its options (checked when parsed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthToken {
    Simple,
    Jwt(String),
}

/// One address to listen on, with or without TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    pub addr: SocketAddr,
    pub tls: bool,
}

/// Checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub name: String,
    pub auth_token_ttl: Duration,
    pub auth_token: AuthToken,
    pub bcrypt_cost: u32,
    pub client_tls: crate::tls::TlsSide,
    pub peer_tls: crate::tls::TlsSide,
    pub tls_common: crate::tls::TlsCommon,
    pub data_dir: PathBuf,
    pub wal_dir: PathBuf,
    pub snap_dir: PathBuf,
    pub listen_client: Vec<Listen>,
    pub advertise_client_urls: Vec<String>,
    pub listen_peer: Vec<Listen>,
    pub advertise_peer_urls: Vec<String>,
    pub initial_cluster: Vec<InitialMember>,
    pub new_cluster: bool,
    pub cluster_token: String,
    pub snapshot_count: u64,
    pub snapshot_catchup_entries: u64,
    pub heartbeat: Duration,
    pub election_ticks: usize,
    pub quota_bytes: i64,
    pub compaction: Compaction,
    pub max_txn_ops: usize,
    pub max_request_bytes: usize,
    pub max_snapshots: usize,
    pub max_wals: usize,
    pub progress_notify_interval: Duration,
    pub unsafe_no_fsync: bool,
    pub strict_reconfig_check: bool,
    pub pre_vote: bool,
    pub log_level: String,
}

/// Auto compaction as configured.
#[derive(Debug, Clone, PartialEq)]
pub enum Compaction {
    Off,
    /// Keep this much history (time).
    Periodic(Duration),
    /// Keep this many revisions.
    Revision(i64),
}

/// A configuration error: printed as one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

/// `http://host:port` or `https://host:port` → addresses to bind.
pub fn parse_listen_url(url: &str) -> Result<Vec<Listen>, ConfigError> {
    let (rest, tls) = if let Some(r) = url.strip_prefix("http://") {
        (r, false)
    } else if let Some(r) = url.strip_prefix("https://") {
        (r, true)
    } else {
        return Err(ConfigError(format!("URL scheme must be http or https: {url}")));
    };
    let hostport = rest.trim_end_matches('/');
    if hostport.contains('/') {
        return Err(ConfigError(format!("URL must not contain a path: {url}")));
    }
    let addrs: Vec<Listen> = hostport
        .to_socket_addrs()
        .map_err(|e| ConfigError(format!("invalid URL {url}: {e}")))?
        .filter(|a| a.is_ipv4() || !hostport.starts_with("localhost"))
        .map(|addr| Listen { addr, tls })
        .collect();
    if addrs.is_empty() {
        return Err(ConfigError(format!("URL {url} resolves to no address")));
    }
    Ok(addrs)
}

/// The host parts of URLs (names for auto-TLS certificates).
pub fn url_hosts(urls: &[String]) -> Vec<String> {
    urls.iter()
        .filter_map(|u| {
            let rest = u.split_once("://").map(|(_, r)| r)?;
            let hostport = rest.trim_end_matches('/');
            let host = match hostport.rsplit_once(':') {
                Some((h, _)) => h,
                None => hostport,
            };
            Some(host.trim_start_matches('[').trim_end_matches(']').to_string())
        })
        .collect()
}

fn parse_duration(s: &str) -> Result<Duration, ConfigError> {
    let s = s.trim();
    let bad = || ConfigError(format!("invalid duration {s:?}"));
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|i| s.split_at(i))
        .unwrap_or((s, ""));
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" | "" => n * 3600.0,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs_f64(secs))
}

impl Flags {
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let data_dir = self
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{}.etcd", self.name)));
        let member_dir = data_dir.join("member");
        let wal_dir = self.wal_dir.clone().unwrap_or_else(|| member_dir.join("wal"));
        let mut listen_client = Vec::new();
        for u in split_list(&self.listen_client_urls) {
            listen_client.extend(parse_listen_url(&u)?);
        }
        let mut listen_peer = Vec::new();
        for u in split_list(&self.listen_peer_urls) {
            listen_peer.extend(parse_listen_url(&u)?);
        }
        let advertise_peer_urls = split_list(&self.initial_advertise_peer_urls);
        let initial_cluster_str = self.initial_cluster.clone().unwrap_or_else(|| {
            format!(
                "{}={}",
                self.name,
                advertise_peer_urls.join(&format!(",{}=", self.name))
            )
        });
        let mut initial_cluster: Vec<InitialMember> = Vec::new();
        for part in split_list(&initial_cluster_str) {
            let (name, url) = part
                .split_once('=')
                .ok_or_else(|| ConfigError(format!("--initial-cluster: {part:?} is not name=url")))?;
            if !url.starts_with("http://") && !url.starts_with("https://") {
                return Err(ConfigError(format!("--initial-cluster: invalid URL {url:?}")));
            }
            match initial_cluster.iter_mut().find(|m| m.name == name) {
                Some(m) => m.peer_urls.push(url.to_string()),
                None => initial_cluster.push(InitialMember {
                    name: name.to_string(),
                    peer_urls: vec![url.to_string()],
                }),
            }
        }
        let new_cluster = match self.initial_cluster_state.as_str() {
            "new" => true,
            "existing" => false,
            other => {
                return Err(ConfigError(format!(
                    "invalid value {other:?} for flag -initial-cluster-state: must be one of new, existing"
                )))
            }
        };
        if self.heartbeat_interval == 0 || self.election_timeout < 5 * self.heartbeat_interval {
            return Err(ConfigError(format!(
                "--election-timeout[{}ms] should be at least as 5 times as --heartbeat-interval[{}ms]",
                self.election_timeout, self.heartbeat_interval
            )));
        }
        if self.election_timeout > 50_000 {
            return Err(ConfigError(format!(
                "--election-timeout[{}ms] is too long, and should be set less than 50 seconds",
                self.election_timeout
            )));
        }
        let quota_bytes = match self.quota_backend_bytes {
            0 => DEFAULT_QUOTA_BYTES,
            n if n < 0 => return Err(ConfigError(format!("invalid --quota-backend-bytes {n}"))),
            n => n,
        };
        let compaction =
            match (
                self.auto_compaction_mode.as_str(),
                self.auto_compaction_retention.trim(),
            ) {
                (_, "0") | (_, "") => Compaction::Off,
                ("periodic", r) => Compaction::Periodic(parse_duration(r)?),
                ("revision", r) => Compaction::Revision(r.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    ConfigError(format!("invalid --auto-compaction-retention {r:?} for revision mode"))
                })?),
                (m, _) => {
                    return Err(ConfigError(format!(
                        "unknown auto-compaction-mode {m:?}: must be periodic or revision"
                    )))
                }
            };
        if !matches!(
            self.log_level.as_str(),
            "debug" | "info" | "warn" | "error" | "panic" | "fatal"
        ) {
            return Err(ConfigError(format!(
                "invalid --log-level {:?}: must be one of debug, info, warn, error, panic, fatal",
                self.log_level
            )));
        }
        if self.logger != "zap" {
            return Err(ConfigError(format!("unknown logger option {:?}", self.logger)));
        }
        if self.max_txn_ops == 0 {
            return Err(ConfigError("--max-txn-ops must be positive".into()));
        }
        let client_tls = crate::tls::TlsSide {
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
            trusted_ca_file: self.trusted_ca_file.clone(),
            client_cert_auth: self.client_cert_auth,
            auto_tls: self.auto_tls,
        };
        let peer_tls = crate::tls::TlsSide {
            cert_file: self.peer_cert_file.clone(),
            key_file: self.peer_key_file.clone(),
            trusted_ca_file: self.peer_trusted_ca_file.clone(),
            client_cert_auth: self.peer_client_cert_auth,
            auto_tls: self.peer_auto_tls,
        };
        for (what, listens, side) in [
            ("client", &listen_client, &client_tls),
            ("peer", &listen_peer, &peer_tls),
        ] {
            if listens.iter().any(|l| l.tls) && !side.configured() {
                let flags = if what == "client" {
                    "--cert-file, --key-file"
                } else {
                    "--peer-cert-file, --peer-key-file"
                };
                return Err(ConfigError(format!(
                    "TLS key/cert ({flags}) must be provided for {what} urls with HTTPS scheme"
                )));
            }
        }
        let auth_token = match self
            .auth_token
            .split_once(',')
            .unwrap_or((self.auth_token.as_str(), ""))
        {
            ("simple", _) => AuthToken::Simple,
            ("jwt", opts) => {
                crate::auth::token::Jwt::from_options(opts).map_err(|e| ConfigError(format!("--auth-token: {e}")))?;
                AuthToken::Jwt(opts.to_string())
            }
            (other, _) => {
                return Err(ConfigError(format!(
                    "unknown token type {other:?}: must be simple or jwt"
                )))
            }
        };
        if !(4..=31).contains(&self.bcrypt_cost) {
            return Err(ConfigError(format!(
                "invalid bcrypt-cost {}: must be between 4 and 31",
                self.bcrypt_cost
            )));
        }
        Ok(Config {
            name: self.name.clone(),
            auth_token_ttl: Duration::from_secs(self.auth_token_ttl.max(1)),
            auth_token,
            bcrypt_cost: self.bcrypt_cost,
            client_tls,
            peer_tls,
            tls_common: crate::tls::TlsCommon {
                cipher_suites: split_list(&self.cipher_suites),
                min_version: self.tls_min_version.clone(),
                max_version: self.tls_max_version.clone(),
                self_signed_validity_years: self.self_signed_cert_validity,
            },
            snap_dir: member_dir.join("snap"),
            data_dir,
            wal_dir,
            listen_client,
            advertise_client_urls: split_list(&self.advertise_client_urls),
            listen_peer,
            advertise_peer_urls,
            initial_cluster,
            new_cluster,
            cluster_token: self.initial_cluster_token,
            snapshot_count: self.snapshot_count.max(1),
            snapshot_catchup_entries: self.snapshot_catchup_entries,
            heartbeat: Duration::from_millis(self.heartbeat_interval),
            election_ticks: (self.election_timeout / self.heartbeat_interval) as usize,
            quota_bytes,
            compaction,
            max_txn_ops: self.max_txn_ops as usize,
            max_request_bytes: self.max_request_bytes as usize,
            max_snapshots: self.max_snapshots,
            max_wals: self.max_wals,
            progress_notify_interval: parse_duration(&self.watch_progress_notify_interval)?,
            unsafe_no_fsync: self.unsafe_no_fsync,
            strict_reconfig_check: self.strict_reconfig_check,
            pre_vote: self.pre_vote,
            log_level: self.log_level,
        })
    }
}

impl Config {
    /// Checks what only matters when bootstrapping a new member (a member restarted with its
    /// data dir ignores `--initial-cluster`, as etcd does).
    pub fn validate_bootstrap(&self) -> Result<(), ConfigError> {
        let me = self
            .initial_cluster
            .iter()
            .find(|m| m.name == self.name)
            .ok_or_else(|| {
                ConfigError(format!(
                    "couldn't find local name {:?} in the initial cluster configuration",
                    self.name
                ))
            })?;
        let mut mine = me.peer_urls.clone();
        mine.sort();
        let mut adv = self.advertise_peer_urls.clone();
        adv.sort();
        if mine != adv {
            return Err(ConfigError(format!(
                "--initial-cluster has {}={} but missing from --initial-advertise-peer-urls={} (resolved urls mismatch)",
                self.name,
                me.peer_urls.join(","),
                self.advertise_peer_urls.join(",")
            )));
        }
        Ok(())
    }

    /// etcd's minimum lease TTL: ceil(1.5 × election timeout), in seconds.
    pub fn min_lease_ttl(&self) -> i64 {
        let ms = self.heartbeat.as_millis() as i64 * self.election_ticks as i64 * 3 / 2;
        (ms + 999) / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        let mut v = vec!["kv"];
        v.extend_from_slice(args);
        Flags::try_parse_from(v)
            .map_err(|e| ConfigError(e.to_string()))?
            .into_config()
    }

    #[test]
    fn defaults_match_etcd() {
        let c = parse(&[]).expect("defaults");
        assert_eq!(c.data_dir, PathBuf::from("default.etcd"));
        assert_eq!(c.wal_dir, PathBuf::from("default.etcd/member/wal"));
        assert_eq!(c.quota_bytes, DEFAULT_QUOTA_BYTES);
        assert_eq!((c.max_txn_ops, c.max_request_bytes), (128, 1_572_864));
        assert_eq!(c.election_ticks, 10);
        assert_eq!(c.min_lease_ttl(), 2);
        assert_eq!(c.initial_cluster.len(), 1);
        assert_eq!(c.progress_notify_interval, Duration::from_secs(600));
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(parse(&["--initial-cluster-state", "maybe"]).is_err());
        assert!(parse(&["--listen-client-urls", "ftp://x:1"]).is_err());
        assert!(parse(&["--heartbeat-interval", "100", "--election-timeout", "200"]).is_err());
        assert!(
            parse(&["--name", "n2"]).is_ok(),
            "the default initial cluster follows --name"
        );
        let orphan = parse(&["--name", "n2", "--initial-cluster", "n1=http://127.0.0.1:2380"]).expect("parses");
        assert!(
            orphan.validate_bootstrap().is_err(),
            "bootstrap needs the local name in the cluster"
        );
        assert!(parse(&["--name", "n2"]).expect("parses").validate_bootstrap().is_ok());
        assert!(parse(&["--auto-compaction-mode", "revision", "--auto-compaction-retention", "x"]).is_err());
        assert!(parse(&["--no-such-flag"]).is_err());
        let c = parse(&["--auto-compaction-retention", "90m"]).expect("periodic");
        assert_eq!(c.compaction, Compaction::Periodic(Duration::from_secs(5400)));
    }
}
