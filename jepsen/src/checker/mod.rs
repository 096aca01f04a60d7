//! Checkers over a finished run: per-key linearizability ([`linear`]), watch guarantees
//! ([`watch`]) and durability of acknowledged writes ([`durability`]).

pub mod durability;
pub mod linear;
pub mod watch;

use crate::history::Op;
use linear::KeyVerdict;
use serde::Serialize;
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Serialize)]
pub struct Counterexample {
    pub key: usize,
    pub ops: Vec<Op>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct LinearReport {
    pub valid: bool,
    pub keys: usize,
    pub invalid_keys: Vec<usize>,
    pub unknown_keys: Vec<usize>,
    pub counterexamples: Vec<Counterexample>,
    pub check_ms: u128,
    /// Info writes the final history showed to be ineffective (checked as `fail`).
    pub info_resolved: usize,
}

/// Checks every key (in parallel threads) within `budget`.
pub fn check_linear(ops: &[Op], keys: usize, budget: Duration) -> LinearReport {
    let start = Instant::now();
    let deadline = start + budget;
    let per_key = linear::split_by_key(ops, keys);
    let verdicts: Vec<KeyVerdict> = std::thread::scope(|s| {
        let handles: Vec<_> = per_key
            .iter()
            .map(|kops| s.spawn(move || linear::check_key(kops, Some(deadline))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(KeyVerdict::Unknown))
            .collect()
    });
    let mut r = LinearReport {
        keys,
        ..Default::default()
    };
    for (key, v) in verdicts.into_iter().enumerate() {
        match v {
            KeyVerdict::Valid => {}
            KeyVerdict::Unknown => r.unknown_keys.push(key),
            KeyVerdict::Invalid(ids) => {
                r.invalid_keys.push(key);
                let ops = ids.iter().filter_map(|&i| ops.get(i).cloned()).collect();
                r.counterexamples.push(Counterexample { key, ops });
            }
        }
    }
    r.valid = r.invalid_keys.is_empty() && r.unknown_keys.is_empty();
    r.check_ms = start.elapsed().as_millis();
    r
}
