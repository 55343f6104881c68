//! gc under crashes: a repository holding garbage of every kind gc removes (a deleted
//! branch's values and objects, segments mostly dead to be rewritten, values staged
//! against a dead segment, the leftovers of an interrupted commit) is collected by a
//! child process that is killed with SIGKILL at a random moment or aborts at each of
//! gc's failpoints. After each, the parent checks that the repository opens and
//! verifies, that every commit of the kept branch and every staged value reads exactly
//! as before, that a gc run to completion then succeeds, leaves nothing unreferenced and
//! removes the deleted branch's commit.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hangar_core::gc::GcOptions;
use hangar_core::{DType, NdArraySpec, Repository, TensorRef};
use hangar_store::internal::failpoint::GC_POINTS;

use crate::{fingerprint, read_content, staged_content, Figures, Rng};

const LEN: usize = 200;

fn value(i: u64) -> Vec<u8> {
    (0..LEN as u64)
        .map(|j| (i.wrapping_mul(0x9E37_79B9) >> (j % 24)) as u8 ^ j as u8)
        .collect()
}

/// What the parent expects to read after any crash: the kept branch's commits with
/// their content fingerprints, the staged content, and the deleted branch's head.
struct Expect {
    commits: Vec<(String, String)>,
    staged: String,
    doomed: String,
}

fn setup(dir: &Path) -> hangar_core::Result<Expect> {
    let repo = Repository::init(dir, "gc test", "gc@example.com", true)?;
    let spec = || NdArraySpec::with_shape(DType::U8, &[LEN]);
    let co = repo.checkout_writer()?;
    let data = co.add_ndarray_column("data", spec())?;
    for i in 0..500u64 {
        data.set(i, TensorRef::new(&value(i), &[LEN]))?;
    }
    co.add_str_column("notes")?.set("n", "kept")?;
    drop(data);
    co.commit("start")?;
    co.close()?;
    // A branch whose 30,000 values and objects become garbage.
    repo.create_branch("doomed", None)?;
    let co = repo.checkout_writer_branch("doomed")?;
    let data = co.column("data")?;
    for i in 10_000..40_000u64 {
        data.set(i, TensorRef::new(&value(i), &[LEN]))?;
    }
    drop(data);
    let doomed = co.commit("doomed")?.to_hex();
    co.close()?;
    // Back on master: 100 of the doomed values committed again (deduplicated: their
    // segment becomes mostly dead, so it is rewritten), 20 more staged.
    let co = repo.checkout_writer_branch("master")?;
    let data = co.column("data")?;
    for i in 10_000..10_100u64 {
        data.set(i, TensorRef::new(&value(i), &[LEN]))?;
    }
    drop(data);
    co.commit("reuse")?;
    let data = co.column("data")?;
    for i in 10_100..10_120u64 {
        data.set(i, TensorRef::new(&value(i), &[LEN]))?;
    }
    drop(data);
    let staged = fingerprint(&staged_content(&co)?);
    co.close()?;
    repo.remove_branch("doomed", true)?;
    let mut commits = Vec::new();
    for e in repo.log(Some("master"))?.entries {
        let id = e.commit.id.to_hex();
        let content = read_content(&repo.checkout_commit(&id)?)?;
        commits.push((id, fingerprint(&content)));
    }
    Ok(Expect {
        commits,
        staged,
        doomed,
    })
}

/// The child: one `gc --prune=now`.
pub fn child(dir: &Path) -> hangar_core::Result<()> {
    let repo = Repository::open(dir)?;
    let opts = GcOptions {
        prune_expire: Some(Duration::ZERO),
        ..GcOptions::default()
    };
    repo.gc(&opts)?;
    Ok(())
}

fn check(dir: &Path, ex: &Expect) -> Result<usize, String> {
    let repo = Repository::open(dir).map_err(|e| format!("open: {e}"))?;
    let report = repo.verify().map_err(|e| format!("verify: {e}"))?;
    if !report.is_ok() {
        return Err(format!("verify after the crash: {:?}", report.problems));
    }
    let left = report.unreferenced.len();
    let same = |repo: &Repository| -> Result<(), String> {
        for (id, fp) in &ex.commits {
            let co = repo
                .checkout_commit(id)
                .map_err(|e| format!("commit {id}: {e}"))?;
            let got = fingerprint(&read_content(&co).map_err(|e| format!("read {id}: {e}"))?);
            if &got != fp {
                return Err(format!("commit {id} reads differently"));
            }
        }
        let co = repo.checkout_writer().map_err(|e| format!("writer: {e}"))?;
        let staged = fingerprint(&staged_content(&co).map_err(|e| format!("staged: {e}"))?);
        co.close().map_err(|e| format!("close: {e}"))?;
        if staged != ex.staged {
            return Err("the staged values differ".into());
        }
        Ok(())
    };
    same(&repo)?;
    // A gc run to completion finishes the job.
    let opts = GcOptions {
        prune_expire: Some(Duration::ZERO),
        ..GcOptions::default()
    };
    let r = repo
        .gc(&opts)
        .map_err(|e| format!("gc after the crash: {e}"))?;
    if !r.deferred.is_empty() || !r.kept.is_empty() {
        return Err(format!("gc after the crash left files: {r:?}"));
    }
    let report = repo.verify().map_err(|e| format!("verify: {e}"))?;
    if !report.is_ok() || !report.unreferenced.is_empty() {
        return Err(format!(
            "verify after the completing gc: {:?} {:?}",
            report.problems, report.unreferenced
        ));
    }
    if repo.checkout_commit(&ex.doomed).is_ok() {
        return Err("the deleted branch's commit survived a completed gc".into());
    }
    same(&repo)?;
    Ok(left)
}

/// Runs `trials` SIGKILL trials and `point_reps` aborts at each of gc's failpoints.
pub fn run(exe: &Path, trials: usize, point_reps: usize, seed: u64) -> Figures {
    let mut figs = Figures::new("gc under crashes (SIGKILL and failpoints)");
    let started = Instant::now();
    let mut rng = Rng::new(seed ^ 0x6C);
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => {
            figs.fail(format!("tempdir: {e}"));
            return figs;
        }
    };
    let template = tmp.path().join("template");
    let ex = match setup(&template) {
        Ok(ex) => ex,
        Err(e) => {
            figs.fail(format!("setup: {e}"));
            return figs;
        }
    };
    // How long an uninterrupted child takes (process start included): kills land
    // anywhere in it.
    let timed = tmp.path().join("timed");
    let t0 = Instant::now();
    let full = crate::copy_dir(&template, &timed)
        .map_err(|e| e.to_string())
        .and_then(|_| {
            Command::new(exe)
                .args(["gc-child", &timed.to_string_lossy()])
                .env_remove("HANGAR_FAILPOINTS")
                .status()
                .map_err(|e| e.to_string())
        });
    let span = t0.elapsed();
    match full {
        Ok(s) if s.success() => {}
        other => {
            figs.fail(format!("an uninterrupted gc child failed: {other:?}"));
            return figs;
        }
    }
    let mut jobs: Vec<Option<&str>> = vec![None; trials];
    for p in GC_POINTS {
        jobs.extend(std::iter::repeat_n(Some(*p), point_reps));
    }
    let (mut killed, mut finished, mut left_total, mut left_max) = (0, 0, 0usize, 0usize);
    let mut checked = 0usize;
    let mut reached = std::collections::BTreeMap::<&str, usize>::new();
    for (i, point) in jobs.iter().enumerate() {
        let dir = tmp.path().join(format!("trial{i}"));
        if let Err(e) = crate::copy_dir(&template, &dir) {
            figs.fail(format!("copy: {e}"));
            return figs;
        }
        let mut cmd = Command::new(exe);
        cmd.args(["gc-child", &dir.to_string_lossy()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match point {
            Some(p) => cmd.env("HANGAR_FAILPOINTS", format!("{p}=crash")),
            None => cmd.env_remove("HANGAR_FAILPOINTS"),
        };
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                figs.fail(format!("spawn: {e}"));
                return figs;
            }
        };
        let deadline = Instant::now()
            + match point {
                None => span.mul_f64(rng.below(1000) as f64 / 800.0),
                Some(_) => Duration::from_secs(30),
            };
        let status = crate::wait_or_kill(&mut child, deadline);
        use std::os::unix::process::ExitStatusExt;
        match (point, status) {
            (_, None) => killed += 1,
            (Some(p), Some(s)) if s.signal() == Some(6) => *reached.entry(p).or_default() += 1,
            (_, Some(s)) if s.success() => finished += 1,
            (_, Some(s)) => {
                figs.fail(format!("trial {i}: the gc child failed on its own ({s})"));
                continue;
            }
        }
        match check(&dir, &ex) {
            Ok(left) => {
                checked += ex.commits.len();
                left_total += left;
                left_max = left_max.max(left);
            }
            Err(e) => figs.fail(format!("trial {i} (point {point:?}): {e}")),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    let covered = GC_POINTS
        .iter()
        .filter(|p| reached.contains_key(*p))
        .count();
    if point_reps > 0 && covered < GC_POINTS.len() {
        figs.fail(format!(
            "gc failpoints never reached: {:?}",
            GC_POINTS
                .iter()
                .filter(|p| !reached.contains_key(*p))
                .collect::<Vec<_>>()
        ));
    }
    figs.add("trials", jobs.len());
    figs.add("killed with SIGKILL at a random moment", killed);
    figs.add("aborted at a failpoint", reached.values().sum::<usize>());
    figs.add("finished before the kill", finished);
    figs.add(
        "failpoints reached / defined",
        format!("{covered} / {}", GC_POINTS.len()),
    );
    figs.add(
        "unreferenced files after a crash (total / most at once), removed by the next gc",
        format!("{left_total} / {left_max}"),
    );
    figs.add(
        "kept-branch commits checked bit-identical (twice each)",
        checked,
    );
    figs.add(
        "an uninterrupted gc child",
        format!("{:.0} ms", span.as_secs_f64() * 1e3),
    );
    figs.add("time", format!("{:.1} s", started.elapsed().as_secs_f64()));
    figs
}
