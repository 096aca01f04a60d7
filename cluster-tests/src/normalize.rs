//! Normalises etcdctl output so that two servers can be compared line by line. It rewrites
//! ONLY what rightly differs between two correct servers: member/cluster/lease IDs (as
//! registered tokens), endpoints and URLs, raft term/index, db size, server version,
//! KV hashes, durations, remaining lease TTLs, and etcdctl's own log-line noise. Keys,
//! values, revisions, versions, counts, errors and exit codes are left untouched.

use std::sync::OnceLock;

use regex::Regex;

use crate::run::Output;

/// A per-server normaliser: fixed rules plus the literal tokens registered for that server.
#[derive(Clone, Debug, Default)]
pub struct Normaliser {
    tokens: Vec<(String, String)>,
}

/// Normalised output of one command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Normalised {
    /// stdout after normalisation.
    pub stdout: String,
    /// stderr after normalisation.
    pub stderr: String,
    /// Exit code, `None` when the harness stopped the command (watch) or a signal ended it.
    pub code: Option<i32>,
}

impl std::fmt::Display for Normalised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "exit: {:?}", self.code)?;
        writeln!(f, "stdout:")?;
        for l in self.stdout.lines() {
            writeln!(f, "    |{l}")?;
        }
        writeln!(f, "stderr:")?;
        for l in self.stderr.lines() {
            writeln!(f, "    |{l}")?;
        }
        Ok(())
    }
}

struct Rule {
    re: Regex,
    with: &'static str,
}

fn rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        let r = |re: &str, with: &'static str| Rule { re: Regex::new(re).expect("static regex"), with };
        vec![
            // Raft bookkeeping and physical size: depend on the implementation.
            // Zero stays visible: etcdctl divides by dbSize, and a zero term/index is wrong.
            r(r#""(raft_term|raftTerm|raftIndex|raftAppliedIndex|dbSize|dbSizeInUse|dbSizeQuota)":[1-9]\d*"#, r#""$1":<n>"#),
            // Server version string (StatusResponse.version): kv reports its emulated etcd.
            r(r#""version":"\d+\.\d+\.\d+[^"]*""#, r#""version":"<version>""#),
            // KV hash: depends on the storage encoding.
            r(r#""hash":\d+"#, r#""hash":<hash>"#),
            r(r"(?m)^(<endpoint\d*>), \d+$", "$1, <hash>"),
            // `endpoint status` simple line: endpoint, id, version, db size, leader, learner,
            // raft term, raft index, raft applied index, errors.
            r(
                r"(?m)^(<endpoint\d*>, <[a-z0-9-]+>), [^,]+, [1-9][0-9.]* [kMGT]?B, (true|false), (true|false), \d+, \d+, \d+, ",
                "$1, <version>, <db-size>, $2, $3, <raft-term>, <raft-index>, <raft-applied>, ",
            ),
            // Timings.
            r(r"took = [0-9.]+[a-zµ]*s\b", "took = <duration>"),
            r(r#""took":"[^"]*""#, r#""took":"<duration>""#),
            // Remaining lease TTL ticks down between the two runs; granted TTL stays exact,
            // and a non-positive remaining TTL (expired) is kept as is.
            r(r"remaining\([1-9]\d*s\)", "remaining(<ttl>)"),
            r(r#""ttl":[1-9]\d*"#, r#""ttl":<ttl>"#),
        ]
    })
}

fn log_line() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r#"^\{"level":"#).expect("static regex"))
}

impl Normaliser {
    /// An empty normaliser (fixed rules only).
    pub fn new() -> Normaliser {
        Normaliser::default()
    }

    /// Replace every occurrence of `literal` by `placeholder`.
    pub fn token(&mut self, literal: impl Into<String>, placeholder: impl Into<String>) {
        let literal = literal.into();
        if !literal.is_empty() {
            self.tokens.push((literal, placeholder.into()));
        }
    }

    /// Register a 64-bit ID (member, cluster, lease) in every form etcdctl prints it:
    /// decimal (JSON), `%x` (member list) and `%016x` (leases), as `<name>`. A small ID
    /// (below 2^32, e.g. a sequential lease ID) is replaced only in its padded hex form and
    /// in JSON ID fields, so that it cannot rewrite an unrelated number such as a value.
    pub fn id(&mut self, id: u64, name: &str) {
        let ph = format!("<{name}>");
        self.token(format!("{id:016x}"), ph.clone());
        if id >= 1 << 32 {
            self.token(format!("{id:x}"), ph.clone());
            self.token(id.to_string(), ph);
        } else {
            for field in ["lease", "id", "ID", "leader", "member_id", "cluster_id"] {
                self.token(format!("\"{field}\":{id}"), format!("\"{field}\":{ph}"));
            }
        }
    }

    /// Normalise one text (stdout or stderr).
    pub fn text(&self, s: &str) -> String {
        let mut lines = Vec::new();
        for line in s.lines() {
            lines.push(if log_line().is_match(line) {
                summarise_log_line(line)
            } else {
                line.to_string()
            });
        }
        let mut out = lines.join("\n");
        let mut tokens = self.tokens.clone();
        tokens.sort_by_key(|t| std::cmp::Reverse(t.0.len()));
        for (lit, ph) in &tokens {
            out = replace_token(&out, lit, ph);
        }
        for rule in rules() {
            out = rule.re.replace_all(&out, rule.with).into_owned();
        }
        sort_key_lists(&out)
    }

    /// Normalise a whole command result.
    pub fn output(&self, o: &Output) -> Normalised {
        Normalised {
            stdout: self.text(&o.stdout),
            stderr: self.text(&o.stderr),
            code: if o.stopped { None } else { o.code },
        }
    }
}

/// Replaces `lit` only where it is not part of a longer run of alphanumerics, so an ID
/// never rewrites the middle of a base64 value or a larger number.
fn replace_token(s: &str, lit: &str, ph: &str) -> String {
    let bytes = s.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric();
    let lit_starts_word = lit.as_bytes().first().is_some_and(|&b| word(b));
    let lit_ends_word = lit.as_bytes().last().is_some_and(|&b| word(b));
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for (pos, _) in s.match_indices(lit) {
        let end = pos + lit.len();
        let before_ok = pos == 0 || !lit_starts_word || !word(bytes[pos - 1]);
        let after_ok = end == bytes.len() || !lit_ends_word || !word(bytes[end]);
        if before_ok && after_ok {
            out.push_str(&s[last..pos]);
            out.push_str(ph);
            last = end;
        }
    }
    out.push_str(&s[last..]);
    out
}

/// etcd keeps a lease's attached keys in a Go map, so `lease timetolive --keys` lists them
/// in random order: sort the text form `attached keys([a b])` and the JSON `"keys":[...]`.
fn sort_key_lists(s: &str) -> String {
    static TEXT: OnceLock<Regex> = OnceLock::new();
    static JSON: OnceLock<Regex> = OnceLock::new();
    let text = TEXT.get_or_init(|| Regex::new(r"attached keys\(\[([^\]]*)\]\)").expect("static regex"));
    let json = JSON.get_or_init(|| Regex::new(r#""keys":\[([^\]]*)\]"#).expect("static regex"));
    let s = text.replace_all(s, |c: &regex::Captures<'_>| {
        let mut items: Vec<&str> = c[1].split(' ').collect();
        items.sort_unstable();
        format!("attached keys([{}])", items.join(" "))
    });
    json.replace_all(&s, |c: &regex::Captures<'_>| {
        let mut items: Vec<&str> = c[1].split(',').collect();
        items.sort_unstable();
        format!(r#""keys":[{}]"#, items.join(","))
    })
    .into_owned()
}

/// etcdctl's zap log lines carry timestamps, client UUIDs and timings; keep level, message
/// and the error (which holds the gRPC code and etcd's error string).
fn summarise_log_line(line: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
        return line.to_string();
    };
    let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
    let mut s = format!("log[{}] {}", field("level"), field("msg"));
    let err = field("error");
    if !err.is_empty() {
        s.push_str(&format!(" error={err}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm() -> Normaliser {
        let mut n = Normaliser::new();
        n.id(0xbdae9bbc11dd390d, "member");
        n.id(15118495548433857066, "cluster");
        n.id(0x390da20ae3a1f209, "L1");
        n.token("http://127.0.0.1:23791", "<client-url>");
        n.token("127.0.0.1:23791", "<endpoint>");
        n
    }

    #[test]
    fn ids_raft_fields_and_endpoints_are_normalised() {
        let n = norm();
        let a = n.text(r#"{"header":{"cluster_id":15118495548433857066,"member_id":13668033151171901709,"revision":3,"raft_term":2}}"#);
        assert_eq!(
            a,
            r#"{"header":{"cluster_id":<cluster>,"member_id":<member>,"revision":3,"raft_term":<n>}}"#
        );
        assert_eq!(
            n.text("lease 390da20ae3a1f209 granted with TTL(60s)"),
            "lease <L1> granted with TTL(60s)"
        );
        assert_eq!(
            n.text("127.0.0.1:23791, bdae9bbc11dd390d, 3.4.23, 20 kB, true, false, 2, 7, 7, "),
            "<endpoint>, <member>, <version>, <db-size>, true, false, <raft-term>, <raft-index>, <raft-applied>, "
        );
        assert_eq!(n.text("127.0.0.1:23791, 1827592406"), "<endpoint>, <hash>");
    }

    #[test]
    fn differing_values_are_not_hidden() {
        let n = norm();
        let etcd = r#"{"header":{"revision":3,"raft_term":2},"kvs":[{"key":"YQ==","create_revision":2,"mod_revision":2,"version":1,"value":"MQ=="}],"count":1}"#;
        let other_value = etcd.replace("MQ==", "Mg==");
        let other_rev = etcd.replace(r#""mod_revision":2"#, r#""mod_revision":3"#);
        let other_term = etcd.replace(r#""raft_term":2"#, r#""raft_term":7"#);
        assert_ne!(
            n.text(etcd),
            n.text(&other_value),
            "a different value must stay visible"
        );
        assert_ne!(
            n.text(etcd),
            n.text(&other_rev),
            "a different revision must stay visible"
        );
        assert_eq!(n.text(etcd), n.text(&other_term), "raft term rightly differs");
        assert_ne!(n.text("foo\nbar"), n.text("foo\nbaz"));
        assert_ne!(
            n.text("remaining(-1s)"),
            n.text("remaining(5s)"),
            "expired vs alive must differ"
        );
    }

    #[test]
    fn a_token_does_not_rewrite_part_of_a_larger_word() {
        let mut n = Normaliser::new();
        n.id(0x390d_a20a_e3a1_f209, "L1");
        assert_eq!(n.text("lease 390da20ae3a1f209 granted"), "lease <L1> granted");
        assert_eq!(n.text("value 9390da20ae3a1f209"), "value 9390da20ae3a1f209");
        assert_eq!(n.text(r#"{"lease":4111120202511544841}"#), r#"{"lease":<L1>}"#);
    }

    #[test]
    fn a_small_id_only_replaces_id_positions() {
        let mut n = Normaliser::new();
        n.id(1, "L1");
        assert_eq!(n.text("lease 0000000000000001 granted"), "lease <L1> granted");
        assert_eq!(
            n.text(r#"{"lease":1,"value":"1","version":1}"#),
            r#"{"lease":<L1>,"value":"1","version":1}"#
        );
        assert_eq!(n.text("/a\n1"), "/a\n1");
    }

    #[test]
    fn lease_key_lists_are_order_insensitive_but_not_content_insensitive() {
        let n = Normaliser::new();
        assert_eq!(n.text("attached keys([/b /a])"), n.text("attached keys([/a /b])"));
        assert_eq!(
            n.text(r#""keys":["Yg==","YQ=="]}"#),
            n.text(r#""keys":["YQ==","Yg=="]}"#)
        );
        assert_ne!(n.text("attached keys([/b /a])"), n.text("attached keys([/a])"));
        assert_ne!(
            n.text(r#""keys":["Yg==","YQ=="]}"#),
            n.text(r#""keys":["YQ==","Yw=="]}"#)
        );
    }

    #[test]
    fn log_lines_keep_level_message_and_error() {
        let n = Normaliser::new();
        let line = r#"{"level":"warn","ts":"2026-11-24T00:10:25.624Z","caller":"clientv3/retry_interceptor.go:62","msg":"retrying of unary invoker failed","target":"endpoint://client-e0b2/127.0.0.1:23791","attempt":0,"error":"rpc error: code = NotFound desc = etcdserver: requested lease not found"}"#;
        assert_eq!(
            n.text(line),
            "log[warn] retrying of unary invoker failed error=rpc error: code = NotFound desc = etcdserver: requested lease not found"
        );
    }
}
