//! The recorded history: one [`Op`] per client request, holding its invoke and completion
//! (ok / fail / info) with monotonic timestamps in nanoseconds since the run started.
//!
//! Owner: [`Recorder`] is shared by every client task; checkers read the frozen `Vec<Op>`.
//! Invariant: every write carries a value unique within the run, so a value names its write.

use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::time::Instant;

/// A register value; written to etcd as its decimal string. Unique per write in a run.
pub type Value = u64;

/// The value recorded when a member returns bytes that are not one of our decimal values.
pub const FOREIGN_VALUE: Value = u64::MAX;

/// A key's value together with its `mod_revision`, as a read returned it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kv {
    pub value: Value,
    pub mod_rev: i64,
}

/// What a client asked for. `key` indexes the run's small key space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "kebab-case")]
pub enum Call {
    /// Range(key), linearizable unless the op is an anomaly read.
    Get { key: usize },
    /// Put(key, value) with `prev_kv`.
    Put { key: usize, value: Value },
    /// Txn(If value(key) == expect (or version == 0 when `expect` is None), Then Put, Else Range).
    CasValue {
        key: usize,
        expect: Option<Value>,
        value: Value,
    },
    /// Txn(If mod_revision(key) == rev, Then Put, Else Range); `expect` is the value the client
    /// read together with `rev` (None for rev 0), which is what the register model compares.
    CasRev {
        key: usize,
        rev: i64,
        expect: Option<Value>,
        value: Value,
    },
    /// DeleteRange(key) with `prev_kv`.
    Delete { key: usize },
    /// Range over the whole key space in one request.
    Range,
}

impl Call {
    /// The value this call writes, if it writes one.
    pub fn written(&self) -> Option<Value> {
        match self {
            Call::Put { value, .. } | Call::CasValue { value, .. } | Call::CasRev { value, .. } => Some(*value),
            _ => None,
        }
    }

    /// The key this call touches (None for Range).
    pub fn key(&self) -> Option<usize> {
        match self {
            Call::Get { key }
            | Call::Put { key, .. }
            | Call::CasValue { key, .. }
            | Call::CasRev { key, .. }
            | Call::Delete { key } => Some(*key),
            Call::Range => None,
        }
    }

    /// Short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            Call::Get { .. } => "get",
            Call::Put { .. } => "put",
            Call::CasValue { .. } => "cas-value",
            Call::CasRev { .. } => "cas-rev",
            Call::Delete { .. } => "delete",
            Call::Range => "range",
        }
    }
}

/// What came back for an `ok` op. `rev` is the response header revision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "r", rename_all = "kebab-case")]
pub enum Ret {
    Get {
        kv: Option<Kv>,
        rev: i64,
    },
    Put {
        prev: Option<Value>,
        rev: i64,
    },
    /// `current` is the Else-branch read when the compare failed.
    Cas {
        succeeded: bool,
        current: Option<Kv>,
        rev: i64,
    },
    Delete {
        prev: Option<Value>,
        rev: i64,
    },
    Range {
        kvs: Vec<(usize, Kv)>,
        rev: i64,
    },
}

impl Ret {
    pub fn rev(&self) -> i64 {
        match self {
            Ret::Get { rev, .. }
            | Ret::Put { rev, .. }
            | Ret::Cas { rev, .. }
            | Ret::Delete { rev, .. }
            | Ret::Range { rev, .. } => *rev,
        }
    }
}

/// Jepsen's completion types: `ok` happened, `fail` certainly did not, `info` unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Ok,
    Fail,
    Info,
}

/// One request: invoke at `invoke` ns, completed at `complete` ns (None while pending).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Op {
    pub id: usize,
    pub process: usize,
    /// Index of the member the request was sent to (None for external endpoints mode).
    pub member: Option<usize>,
    pub call: Call,
    pub invoke: u64,
    pub complete: Option<u64>,
    pub outcome: Option<Outcome>,
    pub ret: Option<Ret>,
    pub error: Option<String>,
    /// True for the `--anomaly stale-reads` serializable reads recorded as linearizable.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub anomaly: bool,
}

impl Op {
    pub fn is_ok(&self) -> bool {
        self.outcome == Some(Outcome::Ok)
    }

    /// Latency in ns of a completed op.
    pub fn latency(&self) -> Option<u64> {
        self.complete.map(|c| c.saturating_sub(self.invoke))
    }
}

/// A fault the nemesis injected, `start`..`end` in ns since the run started.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fault {
    pub kind: String,
    pub detail: String,
    pub start: u64,
    pub end: Option<u64>,
}

/// Thread-safe recorder handed to every client and the nemesis.
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    ops: Mutex<Vec<Op>>,
    faults: Mutex<Vec<Fault>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    pub fn new() -> Self {
        Recorder {
            start: Instant::now(),
            ops: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
        }
    }

    /// Nanoseconds since the run started (monotonic clock).
    pub fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Records an invocation and returns its id.
    pub fn invoke(&self, process: usize, member: Option<usize>, call: Call, anomaly: bool) -> usize {
        let invoke = self.now();
        let mut ops = self.ops.lock().unwrap_or_else(|e| e.into_inner());
        let id = ops.len();
        ops.push(Op {
            id,
            process,
            member,
            call,
            invoke,
            complete: None,
            outcome: None,
            ret: None,
            error: None,
            anomaly,
        });
        id
    }

    /// Records the completion of op `id`.
    pub fn complete(&self, id: usize, outcome: Outcome, ret: Option<Ret>, error: Option<String>) {
        let now = self.now();
        let mut ops = self.ops.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(op) = ops.get_mut(id) {
            op.complete = Some(now);
            op.outcome = Some(outcome);
            op.ret = ret;
            op.error = error;
        }
    }

    /// Starts a fault; returns its index for [`Recorder::fault_end`].
    pub fn fault_start(&self, kind: &str, detail: String) -> usize {
        let start = self.now();
        let mut f = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        f.push(Fault {
            kind: kind.to_string(),
            detail,
            start,
            end: None,
        });
        f.len() - 1
    }

    pub fn fault_end(&self, idx: usize) {
        let now = self.now();
        let mut f = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(x) = f.get_mut(idx) {
            x.end = Some(now);
        }
    }

    /// Snapshot of the history; ops still pending become `info` at the current time.
    pub fn ops(&self) -> Vec<Op> {
        let ops = self.ops.lock().unwrap_or_else(|e| e.into_inner());
        ops.iter()
            .cloned()
            .map(|mut op| {
                if op.outcome.is_none() {
                    op.outcome = Some(Outcome::Info);
                    op.error = Some("pending at end of run".into());
                }
                op
            })
            .collect()
    }

    pub fn faults(&self) -> Vec<Fault> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Reads back a `history.jsonl` written by the report (invoke and completion events).
pub fn load_jsonl(text: &str) -> anyhow::Result<Vec<Op>> {
    use anyhow::Context;
    let mut ops: Vec<Op> = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).with_context(|| format!("line {}", n + 1))?;
        let id = v["id"].as_u64().context("id")? as usize;
        let typ = v["type"].as_str().context("type")?;
        if typ == "invoke" {
            if ops.len() <= id {
                ops.resize_with(id + 1, || Op {
                    id: 0,
                    process: 0,
                    member: None,
                    call: Call::Range,
                    invoke: 0,
                    complete: None,
                    outcome: None,
                    ret: None,
                    error: None,
                    anomaly: false,
                });
            }
            ops[id] = Op {
                id,
                process: v["process"].as_u64().unwrap_or(0) as usize,
                member: v["member"].as_u64().map(|m| m as usize),
                call: serde_json::from_value(v["call"].clone()).context("call")?,
                invoke: v["time"].as_u64().unwrap_or(0),
                complete: None,
                outcome: None,
                ret: None,
                error: None,
                anomaly: v["anomaly"].as_bool().unwrap_or(false),
            };
        } else {
            let op = ops.get_mut(id).context("completion before invoke")?;
            op.complete = v["time"].as_u64();
            op.outcome = Some(match typ {
                "ok" => Outcome::Ok,
                "fail" => Outcome::Fail,
                _ => Outcome::Info,
            });
            op.ret = serde_json::from_value(v["ret"].clone()).ok();
            op.error = v["error"].as_str().map(String::from);
        }
    }
    Ok(ops)
}
