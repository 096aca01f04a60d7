//! Watch guarantees: each watcher's events, from its start revision to the end revision (the
//! sentinel's, or the newest a final read saw), must be exactly the reference log's (ordered,
//! unique, no gaps, resumed correctly after broken streams), no revision split across
//! responses, and `prev_kv` / kv metadata consistent with the replayed history, and progress
//! notifications (bookmarks) never ahead of the events delivered.
//!
//! The reference is a watcher opened from the run's first revision after all faults healed.

use crate::workload::watcher::{EvKv, Event, WatchLog};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Clone, Debug, Default, Serialize)]
pub struct WatchReport {
    pub valid: bool,
    pub watchers: usize,
    pub events: usize,
    pub breaks: usize,
    pub resumes: usize,
    /// Progress notifications checked (with `--watch-progress`).
    pub progress: usize,
    pub problems: Vec<String>,
}

fn describe(e: &Event) -> String {
    let op = if e.delete { "DELETE" } else { "PUT" };
    match e.kv.value {
        Some(v) => format!("{op} {}={v}@{}", e.kv.key, e.rev()),
        None => format!("{op} {}@{}", e.kv.key, e.rev()),
    }
}

/// Replays the reference: revision order, one state per key, correct prev_kv and metadata.
/// With `contiguous`, every revision from the first event to `target` must be present (true for
/// clusters the harness owns, where only the workload writes).
pub fn check_reference(reference: &WatchLog, target: i64, contiguous: bool, problems: &mut Vec<String>) {
    let mut state: HashMap<&str, &EvKv> = HashMap::new();
    let mut last_rev = 0;
    for e in reference.events() {
        let rev = e.rev();
        if rev < last_rev {
            problems.push(format!(
                "reference: out of order: {} after revision {last_rev}",
                describe(e)
            ));
        }
        if contiguous && last_rev > 0 && rev > last_rev + 1 {
            problems.push(format!("reference: revisions {}..{} missing", last_rev + 1, rev - 1));
        }
        last_rev = rev;
        let before = state.get(e.kv.key.as_str()).copied();
        let prev_ok = match (&e.prev, before) {
            (None, None) => true,
            (Some(p), Some(b)) => p == b,
            _ => false,
        };
        if !prev_ok {
            problems.push(format!(
                "reference: {} has prev_kv {:?}, replay says {:?}",
                describe(e),
                e.prev.as_ref().map(|p| (p.value, p.mod_rev)),
                before.map(|b| (b.value, b.mod_rev))
            ));
        }
        if e.delete {
            if before.is_none() {
                problems.push(format!("reference: {} deletes an absent key", describe(e)));
            }
            state.remove(e.kv.key.as_str());
        } else {
            let (want_version, want_create) = match before {
                Some(b) => (b.version + 1, b.create_rev),
                None => (1, rev),
            };
            if e.kv.version != want_version || e.kv.create_rev != want_create {
                problems.push(format!(
                    "reference: {} has version {} create_revision {}, expected {want_version} {want_create}",
                    describe(e),
                    e.kv.version,
                    e.kv.create_rev
                ));
            }
            state.insert(e.kv.key.as_str(), &e.kv);
        }
    }
    if !reference.caught_up || last_rev < target {
        problems.push(format!(
            "reference: ended at revision {last_rev}, before the end revision {target}"
        ));
    }
}

/// Checks one watcher against the reference events in `[log.start_rev, target]`.
pub fn check_watcher(log: &WatchLog, reference: &[&Event], target: i64, problems: &mut Vec<String>) {
    let w = log.id;
    // Atomic: a revision never spans two responses.
    let mut seen_in: BTreeMap<i64, usize> = BTreeMap::new();
    for (i, r) in log.responses.iter().enumerate() {
        for e in &r.events {
            if let Some(&j) = seen_in.get(&e.rev()) {
                if j != i {
                    problems.push(format!("watcher {w}: revision {} split across responses", e.rev()));
                }
            }
            seen_in.insert(e.rev(), i);
        }
    }
    let want: Vec<&Event> = reference
        .iter()
        .copied()
        .filter(|e| e.rev() >= log.start_rev && e.rev() <= target)
        .collect();
    let got: Vec<&Event> = log.events().filter(|e| e.rev() <= target).collect();
    let before = problems.len();
    for (i, g) in got.iter().enumerate() {
        if i > 0 && g.rev() < got[i - 1].rev() {
            problems.push(format!(
                "watcher {w}: out of order: {} after {}",
                describe(g),
                describe(got[i - 1])
            ));
        }
        if i > 0 && *g == got[i - 1] {
            problems.push(format!("watcher {w}: duplicate {}", describe(g)));
        }
        if g.rev() < log.start_rev {
            problems.push(format!(
                "watcher {w}: {} before its start revision {}",
                describe(g),
                log.start_rev
            ));
        }
    }
    if problems.len() == before {
        // Same multiset and order as the reference: find the first divergence.
        for i in 0..want.len().max(got.len()) {
            match (want.get(i), got.get(i)) {
                (Some(a), Some(b)) if a == b => continue,
                (Some(a), Some(b)) if a.rev() == b.rev() && a.kv.key == b.kv.key => {
                    problems.push(format!(
                        "watcher {w}: {} differs from reference {} (prev {:?} vs {:?})",
                        describe(b),
                        describe(a),
                        b.prev.as_ref().map(|p| p.value),
                        a.prev.as_ref().map(|p| p.value)
                    ));
                }
                (Some(a), _) => problems.push(format!(
                    "watcher {w}: missing {} (gap; {} events received, resumed {} times)",
                    describe(a),
                    got.len(),
                    log.resumes.len().saturating_sub(1)
                )),
                (None, Some(b)) => problems.push(format!("watcher {w}: unexpected {}", describe(b))),
                (None, None) => {}
            }
            break;
        }
    }
    if !log.caught_up {
        problems.push(format!("watcher {w}: never reached the end revision {target}"));
    }
    // Bookmarkable: a progress notification at R means every event up to R was delivered.
    for p in log.progress.iter().filter(|p| p.rev <= target) {
        let due = want.iter().filter(|e| e.rev() <= p.rev).count();
        if p.received < due {
            problems.push(format!(
                "watcher {w}: progress notification at revision {} from m{} after {} of the {due} events up to it",
                p.rev, p.member, p.received
            ));
            break;
        }
    }
}

/// Runs all watch checks.
pub fn check(reference: &WatchLog, logs: &[WatchLog], target: i64, contiguous: bool) -> WatchReport {
    let mut problems = Vec::new();
    check_reference(reference, target, contiguous, &mut problems);
    let ref_events: Vec<&Event> = reference.events().collect();
    // Against an incomplete reference, compare only the revisions it covers.
    let upto = if reference.caught_up {
        target
    } else {
        ref_events.last().map_or(0, |e| e.rev())
    };
    for log in logs {
        check_watcher(log, &ref_events, upto, &mut problems);
    }
    WatchReport {
        valid: problems.is_empty(),
        watchers: logs.len(),
        events: logs.iter().map(|l| l.events().count()).sum(),
        breaks: logs.iter().map(|l| l.breaks).sum(),
        resumes: logs.iter().map(|l| l.resumes.len().saturating_sub(1)).sum(),
        progress: logs.iter().map(|l| l.progress.len()).sum(),
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::watcher::Response;

    fn put(key: &str, v: u64, rev: i64, prev: Option<&Event>) -> Event {
        let (version, create_rev) = match prev {
            Some(p) if !p.delete => (p.kv.version + 1, p.kv.create_rev),
            _ => (1, rev),
        };
        Event {
            delete: false,
            kv: EvKv {
                key: key.into(),
                value: Some(v),
                create_rev,
                mod_rev: rev,
                version,
            },
            prev: prev.filter(|p| !p.delete).map(|p| p.kv.clone()),
        }
    }
    fn log(id: usize, start: i64, batches: Vec<Vec<Event>>) -> WatchLog {
        WatchLog {
            id,
            start_rev: start,
            responses: batches
                .into_iter()
                .map(|events| Response {
                    at: 0,
                    member: 0,
                    stream: 1,
                    events,
                })
                .collect(),
            resumes: vec![start],
            caught_up: true,
            ..Default::default()
        }
    }
    fn history() -> Vec<Event> {
        let a1 = put("a", 1, 2, None);
        let b2 = put("b", 2, 3, None);
        let a3 = put("a", 3, 4, Some(&a1));
        let del = Event {
            delete: true,
            kv: EvKv {
                key: "a".into(),
                value: None,
                create_rev: 0,
                mod_rev: 5,
                version: 0,
            },
            prev: Some(a3.kv.clone()),
        };
        vec![a1, b2, a3, del]
    }

    #[test]
    fn identical_watchers_are_valid() {
        let h = history();
        let reference = log(0, 2, vec![h.clone()]);
        let w1 = log(1, 2, vec![h[..2].to_vec(), h[2..].to_vec()]);
        let w2 = log(2, 4, vec![h[2..].to_vec()]);
        let r = check(&reference, &[w1, w2], 5, true);
        assert!(r.valid, "{:?}", r.problems);
    }

    #[test]
    fn gap_duplicate_and_reorder_are_reported() {
        let h = history();
        let reference = log(0, 2, vec![h.clone()]);
        let gap = log(1, 2, vec![vec![h[0].clone(), h[2].clone(), h[3].clone()]]);
        let dup = log(2, 2, vec![h[..2].to_vec(), h[1..].to_vec()]);
        let reorder = log(3, 2, vec![vec![h[1].clone(), h[0].clone(), h[2].clone(), h[3].clone()]]);
        for (w, what) in [(gap, "missing"), (dup, "duplicate"), (reorder, "out of order")] {
            let r = check(&reference, &[w], 5, true);
            assert!(!r.valid);
            assert!(r.problems.iter().any(|p| p.contains(what)), "{what}: {:?}", r.problems);
        }
    }

    #[test]
    fn early_progress_notification_is_reported() {
        use crate::workload::watcher::Progress;
        let h = history();
        let reference = log(0, 2, vec![h.clone()]);
        let mut w = log(1, 2, vec![h.clone()]);
        w.progress = vec![Progress {
            at: 0,
            member: 0,
            rev: 3,
            received: 2,
        }];
        assert!(check(&reference, std::slice::from_ref(&w), 5, true).valid);
        w.progress.push(Progress {
            at: 0,
            member: 0,
            rev: 4,
            received: 2,
        });
        let r = check(&reference, &[w], 5, true);
        assert!(r.problems.iter().any(|p| p.contains("progress")), "{:?}", r.problems);
    }

    #[test]
    fn wrong_prev_kv_is_reported() {
        let mut h = history();
        let reference = log(0, 2, vec![h.clone()]);
        h[2].prev = None;
        let r = check(&reference, &[log(1, 2, vec![h.clone()])], 5, true);
        assert!(r.problems.iter().any(|p| p.contains("differs")), "{:?}", r.problems);
        // The reference itself is replayed too.
        let r = check(&log(0, 2, vec![h]), &[], 5, true);
        assert!(r.problems.iter().any(|p| p.contains("prev_kv")), "{:?}", r.problems);
    }

    #[test]
    fn split_revision_and_missing_reference_revision_are_reported() {
        let h = history();
        let mut two = h[1].clone();
        two.kv.key = "c".into();
        let mut w = log(1, 2, vec![vec![h[0].clone(), h[1].clone()], vec![two]]);
        w.responses.push(Response {
            at: 0,
            member: 0,
            stream: 1,
            events: h[2..].to_vec(),
        });
        let mut problems = Vec::new();
        check_watcher(&w, &h.iter().collect::<Vec<_>>(), 5, &mut problems);
        assert!(problems.iter().any(|p| p.contains("split")), "{problems:?}");
        let reference = log(0, 2, vec![vec![h[0].clone(), h[2].clone()]]);
        let mut problems = Vec::new();
        check_reference(&reference, 4, true, &mut problems);
        assert!(problems.iter().any(|p| p.contains("missing")), "{problems:?}");
    }
}
