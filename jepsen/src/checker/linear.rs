//! Per-key linearizability of a register with compare-and-set: the Wing–Gong search with
//! Lowe's memoisation (as in Knossos' and Porcupine's checkers), plus counterexample shrinking.
//!
//! The history is split by key (P-compositionality: a history of independent registers is
//! linearizable iff each key's sub-history is). For one key, call/return entries sit in a
//! doubly linked list in time order; the search linearizes the first pending call whose model
//! step agrees with its output, lifts it out of the list, and backtracks when it meets a return
//! it cannot pass. A cache of (linearized-set bitset, state) prunes repeated configurations.
//! `info` ops return at +infinity: they may take effect any time after their invoke, or never
//! (never is equivalent to last, as nothing observes the state after the end).

use crate::history::{Call, Op, Outcome, Ret, Value};
use std::collections::HashSet;
use std::time::Instant;

/// What a per-key operation did to the register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    Read,
    Write(Value),
    /// Compare-and-set: `expect` None means "key absent".
    Cas {
        expect: Option<Value>,
        value: Value,
    },
    Delete,
}

/// What it returned. `Unknown` is an `info` op's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// A read's value.
    Read(Option<Value>),
    /// The previous value returned by a put or delete with `prev_kv`.
    Prev(Option<Value>),
    CasOk,
    /// Compare failed; the Else branch saw `current`.
    CasFail {
        current: Option<Value>,
    },
    Unknown,
}

/// One operation on one key, with its real-time interval. `ret == u64::MAX` for info ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyOp {
    /// Id of the history op this came from.
    pub id: usize,
    pub input: Input,
    pub output: Output,
    pub call: u64,
    pub ret: u64,
}

/// The register model; None when the output is impossible in `state`.
pub fn step(state: Option<Value>, input: Input, output: Output) -> Option<Option<Value>> {
    match (input, output) {
        (Input::Read, Output::Read(v)) => (v == state).then_some(state),
        (Input::Read, _) => Some(state),
        (Input::Write(v), Output::Prev(p)) => (p == state).then_some(Some(v)),
        (Input::Write(v), _) => Some(Some(v)),
        (Input::Delete, Output::Prev(p)) => (p == state).then_some(None),
        (Input::Delete, _) => Some(None),
        (Input::Cas { expect, value }, Output::CasOk) => (state == expect).then_some(Some(value)),
        (Input::Cas { expect, .. }, Output::CasFail { current }) => {
            (state != expect && current == state).then_some(state)
        }
        (Input::Cas { expect, value }, _) => Some(if state == expect { Some(value) } else { state }),
    }
}

/// Result of checking one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyVerdict {
    Valid,
    /// History op ids of a small non-linearizable sub-history, in real-time order.
    Invalid(Vec<usize>),
    /// The search hit its deadline.
    Unknown,
}

/// Splits a recorded history into per-key op lists over `keys` registers.
pub fn split_by_key(ops: &[Op], keys: usize) -> Vec<Vec<KeyOp>> {
    let mut out: Vec<Vec<KeyOp>> = vec![Vec::new(); keys];
    for op in ops {
        let outcome = op.outcome.unwrap_or(Outcome::Info);
        if outcome == Outcome::Fail {
            continue;
        }
        let ok = outcome == Outcome::Ok;
        let call = op.invoke;
        let ret = if ok { op.complete.unwrap_or(u64::MAX) } else { u64::MAX };
        let mut push = |key: usize, input: Input, output: Output| {
            if let Some(v) = out.get_mut(key) {
                v.push(KeyOp {
                    id: op.id,
                    input,
                    output,
                    call,
                    ret,
                });
            }
        };
        match (&op.call, if ok { op.ret.as_ref() } else { None }) {
            (Call::Get { key }, Some(Ret::Get { kv, .. })) => {
                push(*key, Input::Read, Output::Read(kv.map(|k| k.value)))
            }
            (Call::Range, Some(Ret::Range { kvs, .. })) => {
                for key in 0..keys {
                    let v = kvs.iter().find(|(k, _)| *k == key).map(|(_, kv)| kv.value);
                    push(key, Input::Read, Output::Read(v));
                }
            }
            (Call::Get { .. } | Call::Range, _) => {} // unknown reads constrain nothing
            (Call::Put { key, value }, r) => {
                let output = match r {
                    Some(Ret::Put { prev, .. }) => Output::Prev(*prev),
                    _ => Output::Unknown,
                };
                push(*key, Input::Write(*value), output)
            }
            (Call::CasValue { key, expect, value } | Call::CasRev { key, expect, value, .. }, r) => {
                let output = match r {
                    Some(Ret::Cas { succeeded: true, .. }) => Output::CasOk,
                    Some(Ret::Cas {
                        succeeded: false,
                        current,
                        ..
                    }) => Output::CasFail {
                        current: current.map(|k| k.value),
                    },
                    _ => Output::Unknown,
                };
                push(
                    *key,
                    Input::Cas {
                        expect: *expect,
                        value: *value,
                    },
                    output,
                )
            }
            (Call::Delete { key }, r) => {
                let output = match r {
                    Some(Ret::Delete { prev, .. }) => Output::Prev(*prev),
                    _ => Output::Unknown,
                };
                push(*key, Input::Delete, output)
            }
        }
    }
    out
}

const NIL: usize = usize::MAX;

/// A fixed pseudo-random 128-bit key for op index `i` (two splitmix64 outputs).
fn zobrist_key(i: u64) -> u128 {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let a = mix(i.wrapping_mul(2).wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let b = mix(i.wrapping_mul(2).wrapping_add(2).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    (u128::from(a) << 64) | u128::from(b)
}

/// Wing–Gong–Lowe search. Returns Some(true/false), or None past `deadline`.
pub fn is_linearizable(ops: &[KeyOp], deadline: Option<Instant>) -> Option<bool> {
    let n = ops.len();
    if n == 0 {
        return Some(true);
    }
    // Entries: (time, is_return, op). Calls sort before returns at equal times (more concurrency).
    let mut entries: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * n);
    for (i, op) in ops.iter().enumerate() {
        entries.push((op.call, false, i));
        entries.push((op.ret.max(op.call), true, i));
    }
    entries.sort();
    let m = entries.len();
    let head = m;
    let mut next = vec![NIL; m + 1];
    let mut prev = vec![NIL; m + 1];
    let mut matched = vec![NIL; m];
    let mut call_node = vec![NIL; n];
    for (idx, &(_, is_ret, op)) in entries.iter().enumerate() {
        if is_ret {
            matched[call_node[op]] = idx;
        } else {
            call_node[op] = idx;
        }
    }
    next[head] = 0;
    for i in 0..m {
        prev[i] = if i == 0 { head } else { i - 1 };
        next[i] = if i + 1 < m { i + 1 } else { NIL };
    }
    let unlink = |next: &mut [usize], prev: &mut [usize], x: usize| {
        let (p, q) = (prev[x], next[x]);
        next[p] = q;
        if q != NIL {
            prev[q] = p;
        }
    };
    let relink = |next: &mut [usize], prev: &mut [usize], x: usize| {
        let (p, q) = (prev[x], next[x]);
        next[p] = x;
        if q != NIL {
            prev[q] = x;
        }
    };

    // The set of linearized ops is kept as a 128-bit Zobrist hash (XOR of a random key per
    // op), so a cache entry is O(1) in size and time; a false "seen" needs a 128-bit collision.
    let zobrist: Vec<u128> = (0..n as u64).map(zobrist_key).collect();
    let mut linearized: u128 = 0;
    let mut cache: HashSet<(u128, Option<Value>)> = HashSet::new();
    let mut stack: Vec<(usize, Option<Value>)> = Vec::new();
    let mut state: Option<Value> = None;
    let mut entry = next[head];
    let mut steps: u64 = 0;
    while next[head] != NIL {
        steps += 1;
        if steps & 4095 == 0 {
            if let Some(d) = deadline {
                if Instant::now() > d {
                    return None;
                }
            }
        }
        let (_, is_ret, op) = entries[entry];
        if !is_ret {
            let o = &ops[op];
            if let Some(new_state) = step(state, o.input, o.output) {
                linearized ^= zobrist[op];
                if cache.insert((linearized, new_state)) {
                    stack.push((entry, state));
                    state = new_state;
                    unlink(&mut next, &mut prev, entry);
                    unlink(&mut next, &mut prev, matched[entry]);
                    entry = next[head];
                    continue;
                }
                linearized ^= zobrist[op];
            }
            entry = next[entry];
        } else {
            // A return whose call is still pending: backtrack.
            let Some((e, s)) = stack.pop() else {
                return Some(false);
            };
            let op = entries[e].2;
            linearized ^= zobrist[op];
            state = s;
            relink(&mut next, &mut prev, matched[e]);
            relink(&mut next, &mut prev, e);
            entry = next[e];
        }
    }
    Some(true)
}

/// Checks one key and, if it is not linearizable, shrinks it to a small counterexample.
pub fn check_key(ops: &[KeyOp], deadline: Option<Instant>) -> KeyVerdict {
    let ops = prepare(ops);
    match is_linearizable(&ops, deadline) {
        Some(true) => KeyVerdict::Valid,
        None => KeyVerdict::Unknown,
        Some(false) => KeyVerdict::Invalid(shrink(&ops)),
    }
}

/// Sound and complete simplifications for info writes (values are unique per write, and every
/// completed op observes the state it was linearized in):
/// - an info put/CAS whose value no op references (observes, or expects in a CAS) is dropped:
///   if it took effect, only other info ops could have run before it was overwritten, and
///   those can be moved to the end; conversely a dropped op can always go last;
/// - an info write whose value is observed must precede its first observer, so its return
///   time becomes that observer's return time.
///
/// Without this, k unobserved info writes make 2^k equivalent search configurations.
pub fn prepare(ops: &[KeyOp]) -> Vec<KeyOp> {
    let mut ops = ops.to_vec();
    let info_value = |o: &KeyOp| match (o.input, o.output) {
        (Input::Write(v) | Input::Cas { value: v, .. }, Output::Unknown) if o.ret == u64::MAX => Some(v),
        _ => None,
    };
    // Values some op references: observed by a completed op, or expected by any CAS.
    let referenced = |ops: &[KeyOp]| -> HashSet<Value> {
        let mut set = HashSet::new();
        for o in ops {
            if let Input::Cas { expect: Some(v), .. } = o.input {
                set.insert(v);
            }
            if o.ret != u64::MAX {
                match (o.input, o.output) {
                    (_, Output::Read(Some(v)) | Output::Prev(Some(v))) => {
                        set.insert(v);
                    }
                    (_, Output::CasFail { current: Some(v) }) => {
                        set.insert(v);
                    }
                    _ => {}
                }
            }
        }
        set
    };
    loop {
        let refs = referenced(&ops);
        let before = ops.len();
        ops.retain(|o| info_value(o).is_none_or(|v| refs.contains(&v)));
        if ops.len() == before {
            break;
        }
    }
    // First completed observer of each value.
    let mut first: std::collections::HashMap<Value, u64> = std::collections::HashMap::new();
    for o in ops.iter().filter(|o| o.ret != u64::MAX) {
        let seen = match (o.input, o.output) {
            (_, Output::Read(x) | Output::Prev(x)) => x,
            (_, Output::CasFail { current }) => current,
            (Input::Cas { expect, .. }, Output::CasOk) => expect,
            _ => None,
        };
        if let Some(v) = seen {
            let e = first.entry(v).or_insert(o.ret);
            *e = (*e).min(o.ret);
        }
    }
    for o in &mut ops {
        if let Some(v) = info_value(o) {
            if let Some(&t) = first.get(&v) {
                o.ret = t.max(o.call);
            }
        }
    }
    ops
}

/// The sub-history as seen at time `t`: ops invoked by `t`; those returning after `t` become
/// pending (reads dropped, writes unknown). Prefixes of a linearizable history are linearizable.
fn prefix_at(ops: &[KeyOp], t: u64) -> Vec<KeyOp> {
    ops.iter()
        .filter(|o| o.call <= t)
        .filter_map(|o| {
            if o.ret <= t {
                Some(*o)
            } else if o.input == Input::Read {
                None
            } else {
                Some(KeyOp {
                    output: Output::Unknown,
                    ret: u64::MAX,
                    ..*o
                })
            }
        })
        .collect()
}

/// Values an op depends on having been written (reads, CAS expectations, prev values).
fn references(o: &KeyOp, v: Option<Value>) -> bool {
    let by_output = match o.output {
        Output::Read(x) | Output::Prev(x) => x == v,
        Output::CasFail { current } => current == v,
        _ => false,
    };
    let by_input = matches!(o.input, Input::Cas { expect, .. } if expect == v);
    by_output || by_input
}

/// Definite writes (completed puts, CASes that applied, deletes) of a sub-history, for the
/// shrinking rule: dropping write `w` is sound if every remaining op `r` that references `w`'s
/// value is *dominated*: some remaining definite write starts after `w` returns and returns
/// before `r` is invoked, so `r` never observes `w` itself (another delete in between still
/// gives it "absent"). Used for deletes, whose "absent" value has many writers.
struct Dominators {
    /// (call, ret, writes Some value), sorted by call, with suffix minima of ret.
    by_call: Vec<(u64, u64, bool)>,
    suffix_min_any: Vec<u64>,
    suffix_min_some: Vec<u64>,
}

impl Dominators {
    fn new(ops: &[KeyOp]) -> Self {
        let mut by_call: Vec<(u64, u64, bool)> = ops
            .iter()
            .filter(|o| o.ret != u64::MAX)
            .filter_map(|o| match (o.input, o.output) {
                (Input::Write(_), _) | (Input::Cas { .. }, Output::CasOk) => Some((o.call, o.ret, true)),
                (Input::Delete, _) => Some((o.call, o.ret, false)),
                _ => None,
            })
            .collect();
        by_call.sort_unstable();
        let n = by_call.len();
        let (mut any, mut some) = (vec![u64::MAX; n + 1], vec![u64::MAX; n + 1]);
        for i in (0..n).rev() {
            let (_, ret, is_some) = by_call[i];
            any[i] = any[i + 1].min(ret);
            some[i] = if is_some { some[i + 1].min(ret) } else { some[i + 1] };
        }
        Dominators {
            by_call,
            suffix_min_any: any,
            suffix_min_some: some,
        }
    }

    /// Is there a definite write (of a Some value if `need_some`) strictly between `w` and `r`?
    fn between(&self, w: &KeyOp, r: &KeyOp, need_some: bool) -> bool {
        if w.ret == u64::MAX {
            return false;
        }
        let first = self.by_call.partition_point(|&(call, _, _)| call <= w.ret);
        let min_ret = if need_some {
            self.suffix_min_some[first]
        } else {
            self.suffix_min_any[first]
        };
        min_ret < r.call
    }
}

/// Shrinks a non-linearizable key history: cut to the earliest non-linearizable prefix, then
/// drop blocks of ops while it stays non-linearizable. Every step is sound (if the smaller
/// history is non-linearizable, so is the larger): reads and failed CASes have no effect,
/// outputs may be forgotten, and writes go only under the [`Dominators`] rule. ~10 s at most.
fn shrink(ops: &[KeyOp]) -> Vec<usize> {
    let limit = Instant::now() + std::time::Duration::from_secs(10);
    let bad = |h: &[KeyOp]| is_linearizable(h, Some(limit)) == Some(false);
    let mut times: Vec<u64> = ops.iter().map(|o| o.ret).filter(|&r| r != u64::MAX).collect();
    times.sort_unstable();
    times.dedup();
    let mut cur: Vec<KeyOp> = ops.to_vec();
    // Binary search the earliest return time whose prefix is already non-linearizable.
    let (mut lo, mut hi) = (0usize, times.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if bad(&prefix_at(ops, times[mid])) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    if lo < times.len() {
        let p = prefix_at(ops, times[lo]);
        if bad(&p) {
            cur = p;
        }
    }
    // Forget prev outputs (a weakening: still non-linearizable means still a witness), so
    // that writes stop referencing each other in a chain and can be dropped below.
    let forget = |o: &KeyOp| KeyOp {
        output: if matches!(o.output, Output::Prev(_)) {
            Output::Unknown
        } else {
            o.output
        },
        ..*o
    };
    let all_forgotten: Vec<KeyOp> = cur.iter().map(forget).collect();
    if bad(&all_forgotten) {
        cur = all_forgotten;
    } else {
        for i in 0..cur.len() {
            if matches!(cur[i].output, Output::Prev(_)) && Instant::now() < limit {
                let mut t = cur.clone();
                t[i] = forget(&t[i]);
                if bad(&t) {
                    cur = t;
                }
            }
        }
    }
    // The value an op may have written (Some(None) for a delete); None if it has no effect.
    let writes_value = |o: &KeyOp| match (o.input, o.output) {
        (Input::Cas { .. }, Output::CasFail { .. }) | (Input::Read, _) => None,
        (Input::Write(v) | Input::Cas { value: v, .. }, _) => Some(Some(v)),
        (Input::Delete, _) => Some(None),
    };
    // Blocks from the end backwards (references point back in time, so dropping late ops
    // frees earlier writers), halving the block size, until a pass at size 1 changes nothing.
    let mut block = cur.len().div_ceil(2).max(1);
    loop {
        let mut changed = false;
        let mut end = cur.len();
        while end > 0 && Instant::now() < limit {
            let start = end.saturating_sub(block);
            let rest: Vec<KeyOp> = cur[..start].iter().chain(&cur[end..]).copied().collect();
            let dom = Dominators::new(&rest);
            let sound = cur[start..end].iter().all(|w| match writes_value(w) {
                None => true,
                // The writer of a value some remaining op references stays (the counterexample
                // shows where each value came from); a delete may go if it is dominated.
                Some(Some(v)) => !rest.iter().any(|r| references(r, Some(v))),
                Some(None) => rest
                    .iter()
                    .filter(|r| references(r, None))
                    .all(|r| dom.between(w, r, false)),
            });
            if sound && bad(&rest) {
                cur = rest;
                changed = true;
            }
            end = start;
        }
        if Instant::now() >= limit || (block == 1 && !changed) {
            break;
        }
        block = block.div_ceil(2).max(1);
        if block > 1 && block == cur.len().div_ceil(2) && !changed {
            block = block.div_ceil(2);
        }
    }
    cur.sort_by_key(|o| (o.call, o.id));
    let mut ids: Vec<usize> = cur.iter().map(|o| o.id).collect();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(id: usize, call: u64, ret: u64, input: Input, output: Output) -> KeyOp {
        KeyOp {
            id,
            input,
            output,
            call,
            ret,
        }
    }
    fn w(id: usize, c: u64, r: u64, v: Value, prev: Option<Value>) -> KeyOp {
        op(id, c, r, Input::Write(v), Output::Prev(prev))
    }
    fn wi(id: usize, c: u64, v: Value) -> KeyOp {
        op(id, c, u64::MAX, Input::Write(v), Output::Unknown)
    }
    fn rd(id: usize, c: u64, r: u64, v: Option<Value>) -> KeyOp {
        op(id, c, r, Input::Read, Output::Read(v))
    }
    fn cas(id: usize, c: u64, r: u64, expect: Option<Value>, value: Value, ok: bool) -> KeyOp {
        let output = if ok {
            Output::CasOk
        } else {
            Output::CasFail { current: None }
        };
        op(id, c, r, Input::Cas { expect, value }, output)
    }
    fn lin(h: &[KeyOp]) -> bool {
        let raw = is_linearizable(h, None).expect("no deadline");
        let prepared = is_linearizable(&prepare(h), None).expect("no deadline");
        assert_eq!(raw, prepared, "prepare changed the verdict");
        raw
    }

    #[test]
    fn empty_and_sequential_histories_are_valid() {
        assert!(lin(&[]));
        assert!(lin(&[rd(0, 0, 1, None), w(1, 2, 3, 1, None), rd(2, 4, 5, Some(1))]));
        let h = [
            w(0, 0, 1, 1, None),
            cas(1, 2, 3, Some(1), 2, true),
            op(
                2,
                4,
                5,
                Input::Cas {
                    expect: Some(1),
                    value: 3,
                },
                Output::CasFail { current: Some(2) },
            ),
            op(3, 6, 7, Input::Delete, Output::Prev(Some(2))),
            rd(4, 8, 9, None),
            cas(5, 10, 11, None, 4, true),
            rd(6, 12, 13, Some(4)),
        ];
        assert!(lin(&h));
    }

    #[test]
    fn concurrent_ops_may_take_effect_in_either_order() {
        // Two overlapping writes; reads after both see the later-linearized one.
        let h = [w(0, 0, 10, 1, None), w(1, 1, 9, 2, Some(1)), rd(2, 11, 12, Some(2))];
        assert!(lin(&h));
        // A read overlapping a write may see old or new.
        assert!(lin(&[w(0, 0, 10, 1, None), rd(1, 2, 3, None), rd(2, 4, 5, Some(1))]));
    }

    #[test]
    fn stale_read_is_invalid() {
        let h = [w(0, 0, 1, 1, None), w(1, 2, 3, 2, Some(1)), rd(2, 4, 5, Some(1))];
        assert!(!lin(&h));
        let KeyVerdict::Invalid(ce) = check_key(&h, None) else {
            panic!("expected invalid")
        };
        assert_eq!(ce, vec![0, 1, 2]);
    }

    #[test]
    fn read_going_back_in_time_is_invalid() {
        // Concurrent write; one read sees the new value, a later read the old one.
        let h = [w(0, 0, 100, 1, None), rd(1, 1, 2, Some(1)), rd(2, 3, 4, None)];
        assert!(!lin(&h));
    }

    #[test]
    fn lost_write_is_invalid() {
        // Acknowledged write, then reads keep seeing the initial empty register.
        let h = [w(0, 0, 1, 7, None), rd(1, 5, 6, None)];
        assert!(!lin(&h));
        // Also with a put whose prev_kv skips an acknowledged write.
        let h = [w(0, 0, 1, 1, None), w(1, 2, 3, 2, Some(1)), w(2, 4, 5, 3, Some(1))];
        assert!(!lin(&h));
    }

    #[test]
    fn cas_anomalies_are_invalid() {
        // Two CASes from the same expected value both succeed without an intervening write.
        let h = [
            w(0, 0, 1, 1, None),
            cas(1, 2, 10, Some(1), 2, true),
            cas(2, 3, 11, Some(1), 3, true),
        ];
        assert!(!lin(&h));
        // CAS succeeds although the register held another value.
        let h = [w(0, 0, 1, 1, None), cas(1, 2, 3, Some(5), 2, true)];
        assert!(!lin(&h));
        // CAS fails although the register held exactly the expected value.
        let h = [
            w(0, 0, 1, 1, None),
            op(
                1,
                2,
                3,
                Input::Cas {
                    expect: Some(1),
                    value: 2,
                },
                Output::CasFail { current: Some(1) },
            ),
        ];
        assert!(!lin(&h));
    }

    #[test]
    fn info_write_may_apply_later_or_never() {
        // Info write observed long after its invoke: fine.
        let h = [
            wi(0, 0, 1),
            rd(1, 5, 6, None),
            rd(2, 10, 11, Some(1)),
            rd(3, 12, 13, Some(1)),
        ];
        assert!(lin(&h));
        // Info write never observed: fine (never happened).
        let h = [w(0, 0, 1, 1, None), wi(1, 2, 2), rd(2, 10, 11, Some(1))];
        assert!(lin(&h));
        // But it cannot take effect before it was invoked.
        let h = [rd(0, 0, 1, Some(2)), wi(1, 2, 2)];
        assert!(!lin(&h));
        // And once seen, it cannot be un-applied.
        let h = [wi(0, 0, 2), rd(1, 5, 6, Some(2)), rd(2, 7, 8, None)];
        assert!(!lin(&h));
    }

    #[test]
    fn info_cas_applies_only_if_compare_holds() {
        // CAS(1->2) with unknown outcome, value 2 seen later: needs 1 at that point. OK.
        let h = [
            w(0, 0, 1, 1, None),
            op(
                1,
                2,
                u64::MAX,
                Input::Cas {
                    expect: Some(1),
                    value: 2,
                },
                Output::Unknown,
            ),
            rd(2, 5, 6, Some(2)),
        ];
        assert!(lin(&h));
        // Register held 3 for the CAS's whole life: it cannot have produced 2.
        let h = [
            w(0, 0, 1, 3, None),
            op(
                1,
                2,
                u64::MAX,
                Input::Cas {
                    expect: Some(1),
                    value: 2,
                },
                Output::Unknown,
            ),
            rd(2, 5, 6, Some(2)),
        ];
        assert!(!lin(&h));
    }

    #[test]
    fn shrinking_keeps_only_the_violation() {
        // Lots of valid traffic, then a stale read at the end.
        let mut h = Vec::new();
        let mut t = 0;
        let mut prev = None;
        for v in 1..=200u64 {
            h.push(w(h.len(), t, t + 1, v, prev));
            h.push(rd(h.len(), t + 2, t + 3, Some(v)));
            prev = Some(v);
            t += 4;
        }
        h.push(rd(h.len(), t, t + 1, Some(150)));
        let KeyVerdict::Invalid(ce) = check_key(&h, None) else {
            panic!("expected invalid")
        };
        assert!(ce.len() <= 4, "counterexample too big: {ce:?}");
        assert!(ce.contains(&(h.len() - 1)));
        // The write of 150 must be in it, as the stale read references it.
        assert!(ce.contains(&(2 * 149)));
    }

    #[test]
    fn shrinking_drops_deletes_that_cannot_explain_a_stale_absent_read() {
        // put / delete churn, then a final put completes and a later read sees the key absent.
        let mut h = Vec::new();
        let mut t = 0;
        for v in 1..=100u64 {
            h.push(w(h.len(), t, t + 1, v, None));
            h.push(op(h.len(), t + 2, t + 3, Input::Delete, Output::Prev(Some(v))));
            h.push(rd(h.len(), t + 4, t + 5, None));
            t += 6;
        }
        h.push(w(h.len(), t, t + 1, 1000, None));
        h.push(rd(h.len(), t + 2, t + 3, None));
        let KeyVerdict::Invalid(ce) = check_key(&h, None) else {
            panic!("expected invalid")
        };
        assert_eq!(ce, vec![h.len() - 2, h.len() - 1]);
    }

    #[test]
    fn scales_to_thousands_of_concurrent_ops() {
        // 10 clients, 50,000 ops on one key with overlapping intervals and some info writes.
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut h = Vec::new();
        let mut state: Option<Value> = None;
        let mut clock: u64 = 0;
        let mut next_val = 1;
        // Simulate a linearizable register: each op's linearization point is inside its
        // interval; intervals of different clients overlap.
        for _ in 0..50_000 {
            clock += 10;
            let call = clock - rng.gen_range(0..8);
            let ret = clock + rng.gen_range(1..8);
            let id = h.len();
            match rng.gen_range(0..10) {
                0..=3 => h.push(rd(id, call, ret, state)),
                4..=6 => {
                    let v = next_val;
                    next_val += 1;
                    if rng.gen_range(0..50) == 0 {
                        h.push(wi(id, call, v));
                        if rng.gen_bool(0.5) {
                            state = Some(v);
                        }
                    } else {
                        h.push(w(id, call, ret, v, state));
                        state = Some(v);
                    }
                }
                _ => {
                    let v = next_val;
                    next_val += 1;
                    let expect = if rng.gen_bool(0.7) { state } else { Some(0) };
                    let ok = expect == state;
                    let output = if ok {
                        Output::CasOk
                    } else {
                        Output::CasFail { current: state }
                    };
                    h.push(op(id, call, ret, Input::Cas { expect, value: v }, output));
                    if ok {
                        state = Some(v);
                    }
                }
            }
        }
        let start = Instant::now();
        assert_eq!(check_key(&h, None), KeyVerdict::Valid);
        assert!(start.elapsed().as_secs() < 20, "too slow: {:?}", start.elapsed());
        // Corrupt one late read: now invalid, quickly.
        let last_read = h.iter().rposition(|o| o.input == Input::Read).expect("has reads");
        h[last_read].output = Output::Read(Some(u64::MAX - 1));
        assert_eq!(is_linearizable(&prepare(&h), None), Some(false));
    }

    #[test]
    fn split_by_key_maps_history_ops() {
        use crate::history::Kv;
        let mk = |id, call, outcome, ret| Op {
            id,
            process: 0,
            member: None,
            call,
            invoke: id as u64 * 10,
            complete: Some(id as u64 * 10 + 5),
            outcome: Some(outcome),
            ret,
            error: None,
            anomaly: false,
        };
        let ops = vec![
            mk(
                0,
                Call::Put { key: 0, value: 1 },
                Outcome::Ok,
                Some(Ret::Put { prev: None, rev: 2 }),
            ),
            mk(1, Call::Put { key: 1, value: 2 }, Outcome::Info, None),
            mk(2, Call::Get { key: 1 }, Outcome::Fail, None),
            mk(
                3,
                Call::Range,
                Outcome::Ok,
                Some(Ret::Range {
                    kvs: vec![(0, Kv { value: 1, mod_rev: 2 })],
                    rev: 3,
                }),
            ),
        ];
        let per = split_by_key(&ops, 2);
        assert_eq!(per[0].len(), 2);
        assert_eq!(per[1].len(), 2);
        assert_eq!(per[1][0].ret, u64::MAX);
        assert_eq!(per[1][1].output, Output::Read(None));
    }
}
