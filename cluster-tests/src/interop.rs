//! Differential testing engine: runs one table of etcdctl steps against a reference server
//! (real etcd) and a subject (kv), step by step, and reports every step whose normalised
//! output differs, showing both raw and normalised outputs.
//!
//! A step's arguments may use `{VAR}` placeholders filled from earlier captures on the same
//! side (e.g. a lease ID); captured IDs are registered with that side's [`Normaliser`].

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context, Result};
use proto::etcdserverpb::kv_client::KvClient;
use proto::etcdserverpb::RangeRequest;
use regex::Regex;

use crate::etcdctl::{split_args, Etcdctl};
use crate::normalize::{Normalised, Normaliser};
use crate::run::{Background, Output};
use crate::server::Server;

/// Deadline for one etcdctl invocation.
const STEP_TIMEOUT: Duration = Duration::from_secs(12);
/// Deadline for a whole table (keeps each test under a minute even if the subject hangs).
const TABLE_DEADLINE: Duration = Duration::from_secs(40);
/// How long a watch-like step waits for its expected lines.
const LINES_TIMEOUT: Duration = Duration::from_secs(8);

/// What a step does.
#[derive(Clone, Debug)]
enum Action {
    /// Run etcdctl to completion.
    Run,
    /// Run a long-running etcdctl (watch), then stop it: after this many stdout lines, or
    /// (`None`) once the reference went quiet and the subject printed as many lines.
    UntilLines(Option<usize>),
    /// Start etcdctl in the background under a name.
    Start(String),
    /// Stop the named background command (line rule as for `UntilLines`) and compare.
    Finish(String, Option<usize>),
    /// Pause (e.g. to let a lease tick), nothing compared.
    Sleep(Duration),
}

/// One row of a command table.
#[derive(Clone, Debug)]
pub struct Step {
    action: Action,
    args: String,
    stdin: Option<String>,
    captures: Vec<(String, Regex)>,
    sort_lines: bool,
    /// A difference of `kv` from etcd that is known and tracked (with why): reported, not
    /// failed, while it differs; the test fails once it matches so the marker goes.
    known_difference: Option<String>,
}

/// Run `etcdctl <args>` and compare its output.
pub fn ctl(args: &str) -> Step {
    Step {
        action: Action::Run,
        args: args.into(),
        stdin: None,
        captures: Vec::new(),
        sort_lines: false,
        known_difference: None,
    }
}

/// Run a watch-like `etcdctl <args>` until the reference's output settles (no new line for
/// a moment) and the subject printed as many lines; then stop both and compare.
pub fn watch(args: &str) -> Step {
    Step {
        action: Action::UntilLines(None),
        ..ctl(args)
    }
}

/// Like [`watch`] but stop after exactly `lines` stdout lines (for events that come late,
/// such as a lease expiring).
pub fn until_lines(args: &str, lines: usize) -> Step {
    Step {
        action: Action::UntilLines(Some(lines)),
        ..ctl(args)
    }
}

/// Start `etcdctl <args>` in the background as `name` (compared at [`finish`]).
pub fn start(name: &str, args: &str) -> Step {
    Step {
        action: Action::Start(name.into()),
        ..ctl(args)
    }
}

/// Stop background `name` once settled (as for [`watch`]) and compare.
pub fn finish(name: &str) -> Step {
    Step {
        action: Action::Finish(name.into(), None),
        ..ctl("")
    }
}

/// Stop background `name` once it printed `lines` lines and compare.
pub fn finish_after(name: &str, lines: usize) -> Step {
    Step {
        action: Action::Finish(name.into(), Some(lines)),
        ..ctl("")
    }
}

/// Sleep on both sides.
pub fn sleep_ms(ms: u64) -> Step {
    Step {
        action: Action::Sleep(Duration::from_millis(ms)),
        ..ctl("")
    }
}

impl Step {
    /// Feed this text on stdin.
    pub fn stdin(mut self, s: &str) -> Step {
        self.stdin = Some(s.into());
        self
    }

    /// Capture a hex ID from stdout with `re` (one group) into `{var}`; registered with the
    /// side's normaliser as `<var>`.
    pub fn capture_id(mut self, var: &str, re: &str) -> Step {
        self.captures.push((var.into(), Regex::new(re).expect("capture regex")));
        self
    }

    /// Marks a known, tracked difference of `kv` from etcd at this step (see the field).
    pub fn known_difference(mut self, why: &str) -> Step {
        self.known_difference = Some(why.into());
        self
    }

    /// Compare stdout as a sorted set of lines (for outputs etcd prints in map order).
    pub fn sorted(mut self) -> Step {
        self.sort_lines = true;
        self
    }

    fn label(&self) -> String {
        match &self.action {
            Action::Run => format!("etcdctl {}", self.args),
            Action::UntilLines(Some(n)) => {
                format!("etcdctl {} (stopped after {n} lines)", self.args)
            }
            Action::UntilLines(None) => format!("etcdctl {} (stopped once settled)", self.args),
            Action::Start(name) => format!("[{name}] etcdctl {} &", self.args),
            Action::Finish(name, n) => format!("[{name}] stopped and collected ({n:?} lines)"),
            Action::Sleep(d) => format!("sleep {d:?}"),
        }
    }
}

/// Waits for `lines` stdout lines (then a grace period, so extra lines show up), or without
/// a count until the output has been quiet for a while (first output allowed 3 s).
fn settle(bg: &Background, lines: Option<usize>) {
    match lines {
        Some(n) => {
            bg.wait_lines(n, LINES_TIMEOUT);
            std::thread::sleep(Duration::from_millis(300));
        }
        None => {
            bg.wait_quiet(Duration::from_millis(3000), Duration::from_millis(700), LINES_TIMEOUT);
        }
    }
}

/// One server as seen through etcdctl, with its normaliser and captured variables.
pub struct Side {
    /// "etcd" or "kv" (for messages).
    pub label: String,
    ctl: Etcdctl,
    norm: Normaliser,
    vars: HashMap<String, String>,
    background: HashMap<String, (String, Background)>,
}

impl Side {
    /// Prepares etcdctl for `server`; registers its IDs and URLs with the normaliser.
    pub async fn new(server: &Server) -> Result<Side> {
        let mut kv = KvClient::new(server.channel().await?);
        let req = RangeRequest {
            key: b"cluster-tests/ids".to_vec(),
            ..Default::default()
        };
        let resp = kv
            .range(req)
            .await
            .context("Range for member/cluster IDs")?
            .into_inner();
        let header = resp.header.context("Range response without header")?;
        let mut norm = Normaliser::new();
        norm.id(header.member_id, "member-id");
        norm.id(header.cluster_id, "cluster-id");
        norm.token(server.client_url(), "<client-url>");
        norm.token(server.peer_url(), "<peer-url>");
        norm.token(server.endpoint(), "<endpoint>");
        norm.token(server.scratch_dir().display().to_string(), "<scratch>");
        let ctl = Etcdctl::new(&server.endpoint(), server.scratch_dir())?;
        Ok(Side {
            label: server.kind().label().to_string(),
            ctl,
            norm,
            vars: HashMap::new(),
            background: HashMap::new(),
        })
    }

    fn expand(&self, args: &str) -> Vec<String> {
        let mut s = args.to_string();
        for (k, v) in &self.vars {
            s = s.replace(&format!("{{{k}}}"), v);
        }
        split_args(&s)
    }

    /// Executes one step and returns the raw output when it produces one to compare;
    /// `expect_lines` is the reference's stdout line count, when known (the subject waits
    /// for as many lines as the reference printed).
    fn exec(&mut self, step: &Step, expect_lines: Option<usize>) -> Result<Option<Output>> {
        let out = match &step.action {
            Action::Run => self
                .ctl
                .run(&self.expand(&step.args), step.stdin.as_deref(), STEP_TIMEOUT)?,
            Action::UntilLines(n) => {
                let mut bg = self.ctl.spawn(&self.expand(&step.args))?;
                settle(&bg, n.or(expect_lines));
                bg.stop()?
            }
            Action::Start(name) => {
                let bg = self.ctl.spawn(&self.expand(&step.args))?;
                self.background.insert(name.clone(), (step.args.clone(), bg));
                // etcdctl prints nothing when a watch is created: give it time to connect.
                std::thread::sleep(Duration::from_millis(700));
                return Ok(None);
            }
            Action::Finish(name, n) => {
                let (_, mut bg) = self
                    .background
                    .remove(name)
                    .with_context(|| format!("no background {name}"))?;
                settle(&bg, n.or(expect_lines));
                bg.stop()?
            }
            Action::Sleep(d) => {
                std::thread::sleep(*d);
                return Ok(None);
            }
        };
        for (var, re) in &step.captures {
            if let Some(hex) = re.captures(&out.stdout).and_then(|c| c.get(1)) {
                let hex = hex.as_str().to_string();
                if let Ok(id) = u64::from_str_radix(&hex, 16) {
                    self.norm.id(id, var);
                }
                self.vars.insert(var.clone(), hex);
            }
        }
        Ok(Some(out))
    }

    fn normalise(&self, step: &Step, out: &Output) -> Normalised {
        let mut n = self.norm.output(out);
        if step.sort_lines {
            let mut lines: Vec<&str> = n.stdout.lines().collect();
            lines.sort_unstable();
            n.stdout = lines.join("\n");
        }
        n
    }
}

/// A step whose outputs differ.
#[derive(Debug)]
pub struct Mismatch {
    /// Index in the table.
    pub index: usize,
    /// The step, as a command line.
    pub step: String,
    /// Human-readable report (both raw outputs, both normalised outputs).
    pub report: String,
}

/// Runs `steps` on both sides, reference first for each step; returns all mismatches.
/// Errors only if the harness itself fails (spawn failure), never for differing output.
pub fn compare(reference: &mut Side, subject: &mut Side, steps: &[Step]) -> Result<Vec<Mismatch>> {
    let mut mismatches = Vec::new();
    let started = std::time::Instant::now();
    for (index, step) in steps.iter().enumerate() {
        if started.elapsed() > TABLE_DEADLINE {
            mismatches.push(Mismatch {
                index,
                step: step.label(),
                report: format!("table aborted before step {index}: {TABLE_DEADLINE:?} deadline passed"),
            });
            break;
        }
        let r = reference.exec(step, None)?;
        let s = subject.exec(step, r.as_ref().map(|o| o.stdout.lines().count()))?;
        let (Some(r), Some(s)) = (r, s) else { continue };
        let missing: Vec<&String> = step
            .captures
            .iter()
            .map(|(v, _)| v)
            .filter(|v| reference.vars.contains_key(*v) && !subject.vars.contains_key(*v))
            .collect();
        let (rn, sn) = (reference.normalise(step, &r), subject.normalise(step, &s));
        if std::env::var_os("CTEST_TRACE").is_some() {
            eprintln!("step {index}: {}\n{rn}", step.label());
        }
        let differs = rn != sn || !missing.is_empty();
        if let (Some(why), "kv") = (&step.known_difference, subject.label.as_str()) {
            if differs {
                eprintln!("step {index}: {}: known difference ({why})", step.label());
            } else {
                mismatches.push(Mismatch {
                    index,
                    step: step.label(),
                    report: format!(
                        "step {index} is marked as a known difference ({why}) but now matches etcd: remove the marker"
                    ),
                });
            }
            continue;
        }
        if differs {
            let mut report = String::new();
            let _ = writeln!(report, "step {index}: {}", step.label());
            if let Some(stdin) = &step.stdin {
                let _ = writeln!(report, "stdin:\n{stdin}");
            }
            if !missing.is_empty() {
                let _ = writeln!(report, "could not capture {missing:?} from {} output", subject.label);
            }
            let _ = writeln!(report, "--- {} (expected), normalised ---\n{rn}", reference.label);
            let _ = writeln!(report, "--- {} (got), normalised ---\n{sn}", subject.label);
            let _ = writeln!(report, "--- {} raw ---\n{r}", reference.label);
            let _ = writeln!(report, "--- {} raw ---\n{s}", subject.label);
            mismatches.push(Mismatch {
                index,
                step: step.label(),
                report,
            });
        }
    }
    Ok(mismatches)
}

/// Panics with every mismatch, for use at the end of a test.
pub fn assert_no_mismatches(group: &str, mismatches: &[Mismatch]) {
    if mismatches.is_empty() {
        return;
    }
    let mut msg = format!(
        "{group}: {} etcdctl step(s) differ between etcd and the subject:\n",
        mismatches.len()
    );
    for m in mismatches {
        let _ = writeln!(msg, "  - step {}: {}", m.index, m.step);
    }
    for m in mismatches {
        let _ = writeln!(msg, "\n=================\n{}", m.report);
    }
    panic!("{msg}");
}
