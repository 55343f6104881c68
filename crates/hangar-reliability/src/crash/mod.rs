//! Crash consistency: a child process runs a random workload (per-sample sets, deletes,
//! bulk sessions, commits, branch switches (with staged changes too), branch creation,
//! `checkout -b` with staged changes, merges; on an uncompressed
//! column, a compressed one whose commits seal Parquet segments, and inline values) and reports on stdout
//! what has become durable; the parent kills it with SIGKILL at a random moment, or lets
//! it abort at a named failpoint, then reopens the repository and checks every promise:
//! it opens, `verify` passes, the writer lock is free (and after the writer reopened, no
//! unreferenced data file is left), every reported commit is present
//! with exactly its content, and every reported staged change is in the staging area.
//!
//! Protocol (one line each, written after the step it reports has returned):
//! `BEGIN <op> ...` before an operation, `END ...` after it. Ops: `SET col key digest`,
//! `DEL col key`, `BULK` (then `ITEM col key digest|-` lines, applied at `END`),
//! `COMMIT fingerprint` (`END COMMIT id`), `SWITCH branch` (`END SWITCH head fingerprint`),
//! `MERGE branch` (`END MERGE head fingerprint` or `END CONFLICT`), `BRANCH name`,
//! `NEWBRANCH name` (a new branch at the head, taking the staged changes: `END NEWBRANCH`),
//! `CARRY branch` (a switch with changes staged: `END CARRY head fingerprint` when they
//! came along, `END REFUSED` when what they touch differs there).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hangar_core::{Compression, DType, NdArraySpec, Repository, TensorRef, WriterCheckout};
use hangar_store::internal::failpoint::POINTS;

pub use crate::staged_content;
use crate::{fingerprint, Content, Figures, Rng};

mod check;
mod child;
use check::{check_after, Expect};
pub use child::child;

/// "zdata" holds values like "data" in a zstd column: its commits seal Parquet segments.
const COLUMNS: [&str; 3] = ["data", "notes", "zdata"];
const BRANCHES: [&str; 3] = ["master", "dev", "exp"];
const KEYS: u64 = 300;
/// Bytes of a "data" value: over 64, so these values go to segments (format version 2
/// keeps values of at most 64 bytes inline in their records, as the "notes" are).
pub const DATA_LEN: usize = 96;

/// Makes the repository every trial of a chain works on: two columns and a first commit.
pub fn setup(dir: &Path) -> hangar_core::Result<()> {
    let repo = Repository::init(dir, "crash test", "crash@example.com", true)?;
    let co = repo.checkout_writer()?;
    let data = co.add_ndarray_column("data", NdArraySpec::with_shape(DType::U8, &[DATA_LEN]))?;
    co.add_str_column("notes")?;
    co.add_ndarray_column(
        "zdata",
        NdArraySpec::with_shape(DType::U8, &[DATA_LEN]).compression(Compression::Zstd(3)),
    )?;
    data.set(0u64, TensorRef::new(&[0u8; DATA_LEN], &[DATA_LEN]))?;
    co.commit("start")?;
    co.close()
}

/// Keeps a failing trial's repository and the child's report for analysis, under
/// `$HANGAR_RELIABILITY_KEEP` (when set).
fn keep_failure(dir: &Path, lines: &[String], trial: usize) -> String {
    let Some(keep) = std::env::var_os("HANGAR_RELIABILITY_KEEP") else {
        return String::new();
    };
    let to = Path::new(&keep).join(format!("trial-{trial}"));
    let copied = crate::copy_dir(dir, &to)
        .and_then(|_| std::fs::write(to.join("child-report.txt"), lines.join("\n")));
    match copied {
        Ok(()) => format!(" (kept in {})", to.display()),
        Err(e) => format!(" (could not keep it: {e})"),
    }
}

fn start_chain(dir: &Path) -> hangar_core::Result<Expect> {
    std::fs::create_dir_all(dir).map_err(|e| hangar_core::Error::io("create", dir, e))?;
    setup(dir)?;
    let repo = Repository::open(dir)?;
    let co = repo.checkout_writer()?;
    let ex = Expect {
        branch: co.branch_name()?,
        head: co.commit_hash()?.map(|c| c.to_hex()).unwrap_or_default(),
        staged: staged_content(&co)?,
        ..Expect::default()
    };
    co.close()?;
    Ok(ex)
}

#[derive(Debug, Default)]
struct Counts {
    commits_checked: u64,
    staged_checked: u64,
    /// `checkout -b` with staged changes: reported done, and in flight at the crash.
    new_branches: u64,
    new_branches_cut: u64,
    /// Switches with staged changes (git's checkout): carried, refused, cut by the crash.
    carries: u64,
    carries_refused: u64,
    carries_cut: u64,
}

/// Runs `trials` SIGKILL trials and `point_reps` aborts at each failpoint; `exe` is the
/// `hangar-reliability` binary (it runs the child side).
pub fn run(exe: &Path, trials: usize, point_reps: usize, seed: u64) -> Figures {
    let mut figs = Figures::new("crash consistency (SIGKILL and failpoints)");
    let started = Instant::now();
    let mut rng = Rng::new(seed);
    let mut counts = Counts::default();
    let mut killed = 0;
    let mut exited = 0;
    let mut reached = std::collections::BTreeMap::<&str, usize>::new();
    let mut jobs: Vec<Option<&str>> = vec![None; trials];
    for p in POINTS {
        jobs.extend(std::iter::repeat_n(Some(*p), point_reps));
    }
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => {
            figs.fail(format!("tempdir: {e}"));
            return figs;
        }
    };
    let mut state: Option<Expect> = None;
    let mut chain = 0;
    for (i, point) in jobs.iter().enumerate() {
        if state.is_none() || i % 25 == 0 {
            chain += 1;
            let dir = tmp.path().join(format!("chain{chain}"));
            match start_chain(&dir) {
                Ok(s) => state = Some(s),
                Err(e) => {
                    figs.fail(format!("setup: {e}"));
                    return figs;
                }
            }
        }
        let dir = tmp.path().join(format!("chain{chain}"));
        let trial_seed = rng.next_u64();
        let mut cmd = Command::new(exe);
        cmd.args([
            "crash-child",
            &dir.to_string_lossy(),
            &trial_seed.to_string(),
            "2000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
        match point {
            Some(p) => {
                cmd.env(
                    "HANGAR_FAILPOINTS",
                    format!("{p}=crash@{}", 1 + rng.below(3)),
                );
            }
            None => {
                cmd.env_remove("HANGAR_FAILPOINTS");
            }
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                figs.fail(format!("spawn: {e}"));
                return figs;
            }
        };
        let reader = crate::report_lines(&mut child);
        let deadline = Instant::now()
            + match point {
                None => Duration::from_micros(2_000 + rng.below(200_000)),
                Some(_) => Duration::from_secs(20),
            };
        let status = crate::wait_or_kill(&mut child, deadline);
        let lines = reader.join().unwrap_or_default();
        use std::os::unix::process::ExitStatusExt;
        match (point, status) {
            (_, None) => killed += 1,
            (Some(p), Some(s)) if s.signal() == Some(6) => *reached.entry(p).or_default() += 1,
            (_, Some(s)) if s.success() => exited += 1,
            (_, Some(s)) => {
                figs.fail(format!(
                    "trial {i}: the child failed on its own ({s}); last line {:?}",
                    lines.last()
                ));
                state = None;
                continue;
            }
        }
        let start = state.clone().expect("set above");
        let before = figs.failures.len();
        state = check_after(&dir, &start, &lines, &mut figs, &mut counts);
        if figs.failures.len() > before {
            let last = figs.failures.pop().unwrap_or_default();
            let kept = keep_failure(&dir, &lines, i);
            figs.fail(format!(
                "trial {i} (seed {trial_seed}, point {point:?}): {last}{kept}"
            ));
            state = None;
        }
    }
    let covered = POINTS.iter().filter(|p| reached.contains_key(*p)).count();
    if point_reps > 0 && covered < POINTS.len() {
        let missed: Vec<_> = POINTS
            .iter()
            .filter(|p| !reached.contains_key(*p))
            .collect();
        figs.fail(format!("failpoints never reached: {missed:?}"));
    }
    figs.add("trials", jobs.len());
    figs.add("killed with SIGKILL at a random moment", killed);
    figs.add("aborted at a failpoint", reached.values().sum::<usize>());
    figs.add("finished before the kill", exited);
    figs.add(
        "failpoints reached / defined",
        format!("{covered} / {}", POINTS.len()),
    );
    figs.add(
        "reported commits checked bit-identical",
        counts.commits_checked,
    );
    figs.add("reported staged values checked", counts.staged_checked);
    figs.add(
        "new branches taking the staged changes (checkout -b): done / cut by the crash",
        format!("{} / {}", counts.new_branches, counts.new_branches_cut),
    );
    figs.add(
        "switches with staged changes: carried / refused (they differ there) / cut by the crash",
        format!(
            "{} / {} / {}",
            counts.carries, counts.carries_refused, counts.carries_cut
        ),
    );
    figs.add("time", format!("{:.1} s", started.elapsed().as_secs_f64()));
    figs
}
