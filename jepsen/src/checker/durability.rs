//! Durability: every acknowledged write is in the final history at the revision it was
//! acknowledged with (later writes may overwrite it, but never erase it); no write appears that
//! nobody issued; every read's (value, mod_revision) matches the history; and after healing,
//! every member and a final linearizable read agree with the history's state at the revision
//! each of them read (a write still in flight at the end, e.g. a proposal delivered late after a
//! partition, may commit after the sentinel; the reference runs to the newest revision read).
//!
//! The final history is the reference watch log (see `watch`), which is itself replayed.

use crate::history::{Call, Kv, Op, Outcome, Ret, Value};
use crate::workload::client::Keys;
use crate::workload::watcher::WatchLog;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Clone, Debug, Default, Serialize)]
pub struct DurabilityReport {
    pub valid: bool,
    /// Writes acknowledged as applied (put ok, CAS succeeded, delete of an existing key).
    pub acked: usize,
    /// Acknowledged writes missing from the final history.
    pub lost: usize,
    /// `info` writes that turned out to have been applied.
    pub info_applied: usize,
    pub info_total: usize,
    pub problems: Vec<String>,
}

/// A register-level event of the final history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Change {
    key: usize,
    value: Option<Value>,
}

/// Final state of one member: register values read member-locally after convergence, at
/// revision `rev`.
#[derive(Clone, Debug, Serialize)]
pub struct MemberState {
    pub member: usize,
    pub kvs: Option<Vec<(usize, Kv)>>,
    pub rev: i64,
    pub error: Option<String>,
}

pub fn check(
    ops: &[Op],
    keys: &Keys,
    reference: &WatchLog,
    members: &[MemberState],
    final_read: Option<&Ret>,
) -> DurabilityReport {
    let mut r = DurabilityReport::default();
    if !reference.caught_up {
        r.problems
            .push("not checked: the reference watch replay did not reach the sentinel".into());
        return r;
    }
    let mut by_rev: BTreeMap<i64, Vec<Change>> = BTreeMap::new();
    for e in reference.events() {
        if let Some(key) = keys.parse(e.kv.key.as_bytes()) {
            by_rev
                .entry(e.rev())
                .or_default()
                .push(Change { key, value: e.kv.value });
        }
    }
    let written: HashMap<Value, &Op> = ops.iter().filter_map(|o| Some((o.call.written()?, o))).collect();
    let applied: HashMap<Value, i64> = by_rev
        .iter()
        .flat_map(|(rev, cs)| cs.iter().filter_map(move |c| Some((c.value?, *rev))))
        .collect();

    for op in ops {
        let Some(key) = op.call.key() else { continue };
        let is_write = !matches!(op.call, Call::Get { .. });
        if op.outcome == Some(Outcome::Info) && is_write {
            r.info_total += 1;
            if op.call.written().is_some_and(|v| applied.contains_key(&v)) {
                r.info_applied += 1;
            }
        }
        let (want, rev) = match (&op.call, &op.ret, op.outcome) {
            (_, Some(Ret::Put { rev, .. }), Some(Outcome::Ok)) => (Some(op.call.written()), *rev),
            (
                _,
                Some(Ret::Cas {
                    succeeded: true, rev, ..
                }),
                Some(Outcome::Ok),
            ) => (Some(op.call.written()), *rev),
            (_, Some(Ret::Delete { prev: Some(_), rev }), Some(Outcome::Ok)) => (Some(None), *rev),
            _ => (None, 0),
        };
        let Some(value) = want else { continue };
        r.acked += 1;
        let found = by_rev.get(&rev).is_some_and(|cs| cs.contains(&Change { key, value }));
        if !found {
            r.lost += 1;
            if r.problems.len() < 20 {
                let what = value.map_or("delete".to_string(), |v| format!("value {v}"));
                r.problems.push(format!(
                    "lost: op {} ({} k{key} {what}) acknowledged at revision {rev}, history has {:?}",
                    op.id,
                    op.call.name(),
                    by_rev.get(&rev)
                ));
            }
        }
    }

    // No phantom writes: every value in the history was written by an op that may have applied.
    for (rev, cs) in &by_rev {
        for c in cs {
            let Some(v) = c.value else { continue };
            match written.get(&v) {
                Some(op) if op.outcome != Some(Outcome::Fail) && op.call.key() == Some(c.key) => {}
                Some(op) => r.problems.push(format!(
                    "phantom: k{} = {v} at revision {rev}, but op {} was {:?} on {:?}",
                    c.key, op.id, op.outcome, op.call
                )),
                None => r
                    .problems
                    .push(format!("phantom: k{} = {v} at revision {rev} was never written", c.key)),
            }
        }
    }

    // Reads return real versions: (value, mod_revision) must match the history.
    let mut bad_reads = 0;
    for op in ops.iter().filter(|o| o.is_ok()) {
        let kvs: Vec<(usize, Kv)> = match (&op.call, &op.ret) {
            (Call::Get { key }, Some(Ret::Get { kv: Some(kv), .. })) => vec![(*key, *kv)],
            (_, Some(Ret::Range { kvs, .. })) => kvs.clone(),
            (_, Some(Ret::Cas { current: Some(kv), .. })) => op.call.key().map(|k| vec![(k, *kv)]).unwrap_or_default(),
            _ => continue,
        };
        for (key, kv) in kvs {
            let ok = by_rev.get(&kv.mod_rev).is_some_and(|cs| {
                cs.contains(&Change {
                    key,
                    value: Some(kv.value),
                })
            });
            if !ok {
                bad_reads += 1;
                if bad_reads <= 10 {
                    r.problems.push(format!(
                        "read op {} saw k{key} = {} at mod_revision {}, history has {:?}",
                        op.id,
                        kv.value,
                        kv.mod_rev,
                        by_rev.get(&kv.mod_rev)
                    ));
                }
            }
        }
    }

    // Final state: replay the history up to each read's revision; members and the final read
    // must agree with it.
    let state_at = |at: i64| {
        let mut state: BTreeMap<usize, Value> = BTreeMap::new();
        for c in by_rev.range(..=at).flat_map(|(_, cs)| cs) {
            match c.value {
                Some(v) => state.insert(c.key, v),
                None => state.remove(&c.key),
            };
        }
        state
    };
    let compare = |who: String, kvs: &[(usize, Kv)], at: i64, problems: &mut Vec<String>| {
        let got: BTreeMap<usize, Value> = kvs.iter().map(|(k, kv)| (*k, kv.value)).collect();
        let want = state_at(at);
        if got != want {
            problems.push(format!(
                "{who} final state {got:?} at revision {at} differs from the history's {want:?}"
            ));
        }
    };
    for m in members {
        match &m.kvs {
            Some(kvs) => compare(format!("member m{}", m.member), kvs, m.rev, &mut r.problems),
            None => r.problems.push(format!(
                "member m{} could not be read at the end: {}",
                m.member,
                m.error.as_deref().unwrap_or("?")
            )),
        }
    }
    match final_read {
        Some(Ret::Range { kvs, rev }) => compare("final linearizable read".into(), kvs, *rev, &mut r.problems),
        _ => r.problems.push("final linearizable read failed".into()),
    }
    r.valid = r.problems.is_empty() && r.lost == 0;
    r
}

/// `info` writes the final history shows had no effect, which the linearizability checker may
/// then treat as `fail` (each pending info op otherwise doubles its search space):
/// - a put / CAS whose unique value never appears in the history;
/// - a delete that cannot have caused any DELETE event of its key: every event is explained by
///   an acknowledged delete at its response revision, or committed (as bounded by an ok response
///   at that revision or later) before the info delete was invoked; so it never ran, or deleted
///   an absent key: no change.
///
/// Relies on the reference log, which is itself checked against every read and acknowledged
/// write; if the server lost an event, those checks (or the linearizability check) fail.
pub fn ineffective_info_writes(ops: &[Op], keys: &Keys, reference: &WatchLog) -> Vec<usize> {
    if !reference.caught_up {
        return Vec::new();
    }
    let mut values: std::collections::HashSet<Value> = std::collections::HashSet::new();
    let mut delete_revs: HashMap<usize, Vec<i64>> = HashMap::new();
    for e in reference.events() {
        match (keys.parse(e.kv.key.as_bytes()), e.kv.value) {
            (_, Some(v)) => {
                values.insert(v);
            }
            (Some(k), None) => delete_revs.entry(k).or_default().push(e.rev()),
            (None, None) => {}
        }
    }
    let acked_deletes: std::collections::HashSet<(usize, i64)> = ops
        .iter()
        .filter(|o| o.is_ok())
        .filter_map(|o| match (&o.call, &o.ret) {
            (Call::Delete { key }, Some(Ret::Delete { prev: Some(_), rev })) => Some((*key, *rev)),
            _ => None,
        })
        .collect();
    // An upper bound on when revision R committed: the earliest completion of an ok op whose
    // response revision is >= R (the member had applied R before answering).
    let mut by_rev: Vec<(i64, u64)> = ops
        .iter()
        .filter(|o| o.is_ok())
        .filter_map(|o| Some((o.ret.as_ref()?.rev(), o.complete?)))
        .collect();
    by_rev.sort_unstable();
    let mut suffix_min = vec![u64::MAX; by_rev.len() + 1];
    for i in (0..by_rev.len()).rev() {
        suffix_min[i] = suffix_min[i + 1].min(by_rev[i].1);
    }
    let committed_by = |rev: i64| suffix_min[by_rev.partition_point(|&(r, _)| r < rev)];
    // Per key: the commit bounds of DELETE events no acknowledged delete explains. Only an info
    // delete invoked before such a bound can have caused one.
    let unexplained: HashMap<usize, Vec<u64>> = delete_revs
        .iter()
        .map(|(k, revs)| {
            let bounds = revs
                .iter()
                .filter(|r| !acked_deletes.contains(&(*k, **r)))
                .map(|r| committed_by(*r))
                .collect();
            (*k, bounds)
        })
        .collect();
    ops.iter()
        .filter(|o| o.outcome == Some(Outcome::Info))
        .filter(|o| match &o.call {
            Call::Delete { key } => unexplained
                .get(key)
                .is_none_or(|bounds| bounds.iter().all(|&b| o.invoke >= b)),
            c => c.written().is_some_and(|v| !values.contains(&v)),
        })
        .map(|o| o.id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::watcher::{EvKv, Event, Response};

    fn keys() -> Keys {
        Keys {
            prefix: "p/".into(),
            count: 2,
        }
    }
    fn ev(key: usize, v: Option<u64>, rev: i64) -> Event {
        Event {
            delete: v.is_none(),
            kv: EvKv {
                key: format!("p/k{key}"),
                value: v,
                create_rev: rev,
                mod_rev: rev,
                version: 1,
            },
            prev: None,
        }
    }
    fn op(id: usize, call: Call, outcome: Outcome, ret: Option<Ret>) -> Op {
        Op {
            id,
            process: 0,
            member: Some(0),
            call,
            invoke: 0,
            complete: Some(1),
            outcome: Some(outcome),
            ret,
            error: None,
            anomaly: false,
        }
    }
    fn reference(events: Vec<Event>) -> WatchLog {
        WatchLog {
            responses: vec![Response {
                at: 0,
                member: 0,
                stream: 1,
                events,
            }],
            caught_up: true,
            ..Default::default()
        }
    }
    fn final_state(kvs: Vec<(usize, Kv)>, rev: i64) -> Vec<MemberState> {
        vec![MemberState {
            member: 0,
            kvs: Some(kvs),
            rev,
            error: None,
        }]
    }

    #[test]
    fn acknowledged_and_overwritten_writes_are_durable() {
        let ops = vec![
            op(
                0,
                Call::Put { key: 0, value: 1 },
                Outcome::Ok,
                Some(Ret::Put { prev: None, rev: 2 }),
            ),
            op(1, Call::Put { key: 0, value: 2 }, Outcome::Info, None),
            op(2, Call::Put { key: 1, value: 3 }, Outcome::Info, None),
        ];
        let r = reference(vec![ev(0, Some(1), 2), ev(0, Some(2), 3)]);
        let fin = vec![(0, Kv { value: 2, mod_rev: 3 })];
        let fr = Ret::Range {
            kvs: fin.clone(),
            rev: 3,
        };
        let rep = check(&ops, &keys(), &r, &final_state(fin, 3), Some(&fr));
        assert!(rep.valid, "{:?}", rep.problems);
        assert_eq!((rep.acked, rep.lost, rep.info_applied, rep.info_total), (1, 0, 1, 2));
    }

    /// An info write delivered late (after the sentinel, 3) is read by the final read at 4: the
    /// history up to 4 explains it. A member read at 3 must not show it; one that does is wrong.
    #[test]
    fn final_reads_are_compared_at_their_own_revision() {
        let ops = vec![
            op(
                0,
                Call::Put { key: 0, value: 1 },
                Outcome::Ok,
                Some(Ret::Put { prev: None, rev: 2 }),
            ),
            op(1, Call::Put { key: 0, value: 9 }, Outcome::Info, None),
        ];
        // Revision 3 is the sentinel (not a register), 4 the late write.
        let r = reference(vec![ev(0, Some(1), 2), ev(0, Some(9), 4)]);
        let late = vec![(0, Kv { value: 9, mod_rev: 4 })];
        let before = vec![(0, Kv { value: 1, mod_rev: 2 })];
        let fr = Ret::Range {
            kvs: late.clone(),
            rev: 4,
        };
        let members = vec![
            MemberState {
                member: 0,
                kvs: Some(before.clone()),
                rev: 3,
                error: None,
            },
            MemberState {
                member: 1,
                kvs: Some(late.clone()),
                rev: 4,
                error: None,
            },
        ];
        let rep = check(&ops, &keys(), &r, &members, Some(&fr));
        assert!(rep.valid, "{:?}", rep.problems);
        assert_eq!(rep.info_applied, 1);

        let wrong = vec![MemberState {
            member: 2,
            kvs: Some(late),
            rev: 3,
            error: None,
        }];
        let rep = check(&ops, &keys(), &r, &wrong, Some(&fr));
        assert!(
            rep.problems.iter().any(|p| p.starts_with("member m2 final state")),
            "{:?}",
            rep.problems
        );
    }

    #[test]
    fn info_writes_absent_from_the_history_are_resolved() {
        let del_ok = Ret::Delete { prev: Some(1), rev: 3 };
        let ops = vec![
            op(
                0,
                Call::Put { key: 0, value: 1 },
                Outcome::Ok,
                Some(Ret::Put { prev: None, rev: 2 }),
            ),
            op(1, Call::Delete { key: 0 }, Outcome::Ok, Some(del_ok)),
            op(2, Call::Delete { key: 0 }, Outcome::Info, None),
            op(3, Call::Put { key: 1, value: 7 }, Outcome::Info, None),
            op(4, Call::Put { key: 1, value: 8 }, Outcome::Info, None),
            op(5, Call::Delete { key: 1 }, Outcome::Info, None),
        ];
        // k1: value 8 applied, then an unexplained delete (by the info delete, op 5).
        let r = reference(vec![
            ev(0, Some(1), 2),
            ev(0, None, 3),
            ev(1, Some(8), 4),
            ev(1, None, 5),
        ]);
        assert_eq!(ineffective_info_writes(&ops, &keys(), &r), vec![2, 3]);
    }

    #[test]
    fn lost_write_phantom_and_divergence_are_reported() {
        let ops = vec![
            op(
                0,
                Call::Put { key: 0, value: 1 },
                Outcome::Ok,
                Some(Ret::Put { prev: None, rev: 2 }),
            ),
            op(1, Call::Put { key: 1, value: 5 }, Outcome::Fail, None),
        ];
        let r = reference(vec![ev(1, Some(5), 3)]);
        let fin = vec![(1, Kv { value: 5, mod_rev: 3 })];
        let fr = Ret::Range {
            kvs: fin.clone(),
            rev: 3,
        };
        let other = vec![
            MemberState {
                member: 0,
                kvs: Some(fin.clone()),
                rev: 3,
                error: None,
            },
            MemberState {
                member: 1,
                kvs: Some(vec![]),
                rev: 3,
                error: None,
            },
        ];
        let rep = check(&ops, &keys(), &r, &other, Some(&fr));
        assert!(!rep.valid);
        assert_eq!(rep.lost, 1);
        assert!(
            rep.problems.iter().any(|p| p.starts_with("phantom")),
            "{:?}",
            rep.problems
        );
        assert!(
            rep.problems.iter().any(|p| p.contains("member m1")),
            "{:?}",
            rep.problems
        );
    }

    #[test]
    fn read_of_a_value_at_the_wrong_revision_is_reported() {
        let ops = vec![
            op(
                0,
                Call::Put { key: 0, value: 1 },
                Outcome::Ok,
                Some(Ret::Put { prev: None, rev: 2 }),
            ),
            op(
                1,
                Call::Get { key: 0 },
                Outcome::Ok,
                Some(Ret::Get {
                    kv: Some(Kv { value: 1, mod_rev: 7 }),
                    rev: 7,
                }),
            ),
        ];
        let r = reference(vec![ev(0, Some(1), 2)]);
        let fin = vec![(0, Kv { value: 1, mod_rev: 2 })];
        let fr = Ret::Range {
            kvs: fin.clone(),
            rev: 2,
        };
        let rep = check(&ops, &keys(), &r, &final_state(fin, 2), Some(&fr));
        assert!(
            rep.problems.iter().any(|p| p.contains("mod_revision 7")),
            "{:?}",
            rep.problems
        );
    }
}
