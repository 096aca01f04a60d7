//! Checks a recorded write history against what a server holds after a crash: the model
//! for `tests/crash.rs`. Pure functions over plain data, so the checks are unit-tested
//! with histories that must be rejected (lost write, wrong value, reused revision, ...).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{ensure, Context, Result};

/// One write: key, value and the revision it was (or is reported to be) committed at.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Write {
    /// Revision (`header.revision` of the Put; `mod_revision` when read back).
    pub revision: i64,
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// What the clients recorded: acknowledged writes, and writes whose fate is unknown (in
/// flight when the server died: each may or may not have been committed).
#[derive(Clone, Debug, Default)]
pub struct Recorded {
    /// Acknowledged writes (each to a distinct key, written once).
    pub acked: Vec<Write>,
    /// Unacknowledged attempts: key -> value.
    pub unknown: BTreeMap<String, String>,
}

/// Checks, for write-once keys:
/// - acknowledged revisions are distinct;
/// - every acknowledged write is `stored` with its value and revision;
/// - every stored key was acknowledged or in flight (with the value attempted);
/// - the `replay` (watch from revision 1) is in strictly increasing revision order and
///   equals the stored history exactly.
pub fn check_after_crash(rec: &Recorded, stored: &[Write], replay: &[Write]) -> Result<()> {
    let revs: BTreeSet<i64> = rec.acked.iter().map(|a| a.revision).collect();
    ensure!(
        revs.len() == rec.acked.len(),
        "two acknowledged writes share a revision"
    );
    let by_key: BTreeMap<&str, &Write> = stored.iter().map(|w| (w.key.as_str(), w)).collect();
    for a in &rec.acked {
        let s = by_key
            .get(a.key.as_str())
            .with_context(|| format!("acknowledged write lost: {a:?}"))?;
        ensure!(*s == a, "acknowledged {a:?} stored as {s:?}");
    }
    let acked: BTreeSet<&str> = rec.acked.iter().map(|a| a.key.as_str()).collect();
    for s in stored {
        if !acked.contains(s.key.as_str()) {
            ensure!(
                rec.unknown.get(&s.key) == Some(&s.value),
                "stored {s:?} was neither acknowledged nor in flight (in flight: {:?})",
                rec.unknown
            );
        }
    }
    ensure!(
        replay.windows(2).all(|w| w[0].revision < w[1].revision),
        "watch replay is not in strictly increasing revision order: {replay:?}"
    );
    let mut sorted = stored.to_vec();
    sorted.sort();
    ensure!(
        replay == sorted.as_slice(),
        "watch replay differs from the stored history:\nreplay ({}): {replay:?}\nstored ({}): {sorted:?}",
        replay.len(),
        sorted.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(revision: i64, key: &str, value: &str) -> Write {
        Write {
            revision,
            key: key.into(),
            value: value.into(),
        }
    }

    fn rec() -> Recorded {
        Recorded {
            acked: vec![w(2, "a", "1"), w(3, "b", "2")],
            unknown: [("c".to_string(), "3".to_string())].into_iter().collect(),
        }
    }

    #[test]
    fn accepts_acked_plus_committed_in_flight() {
        let stored = [w(2, "a", "1"), w(3, "b", "2"), w(4, "c", "3")];
        check_after_crash(&rec(), &stored, &stored).expect("valid");
        let stored = [w(2, "a", "1"), w(3, "b", "2")];
        check_after_crash(&rec(), &stored, &stored).expect("in-flight write may be lost");
    }

    #[test]
    fn rejects_broken_histories() {
        let ok = [w(2, "a", "1"), w(3, "b", "2")];
        let lost = [w(2, "a", "1")];
        assert!(check_after_crash(&rec(), &lost, &lost).is_err(), "lost write");
        let wrong_value = [w(2, "a", "1"), w(3, "b", "X")];
        assert!(
            check_after_crash(&rec(), &wrong_value, &wrong_value).is_err(),
            "wrong value"
        );
        let wrong_rev = [w(2, "a", "1"), w(4, "b", "2")];
        assert!(
            check_after_crash(&rec(), &wrong_rev, &wrong_rev).is_err(),
            "wrong revision"
        );
        let phantom = [w(2, "a", "1"), w(3, "b", "2"), w(4, "z", "9")];
        assert!(check_after_crash(&rec(), &phantom, &phantom).is_err(), "phantom write");
        assert!(check_after_crash(&rec(), &ok, &[w(2, "a", "1")]).is_err(), "replay gap");
        assert!(
            check_after_crash(&rec(), &ok, &[w(3, "b", "2"), w(2, "a", "1")]).is_err(),
            "replay order"
        );
        let dup = [w(2, "a", "1"), w(2, "a", "1"), w(3, "b", "2")];
        assert!(check_after_crash(&rec(), &ok, &dup).is_err(), "duplicate event");
        let mut reused = rec();
        reused.acked[1].revision = 2;
        assert!(check_after_crash(&reused, &ok, &ok).is_err(), "reused revision");
    }
}
