//! Remote crash consistency: a child process pushes commits to a `file://` remote, or
//! clones one with its data, and the parent kills it with SIGKILL at a random moment.
//! Then every promise is checked:
//!
//! - after a killed push: the remote never shows a ref to a missing or damaged object
//!   (a fresh clone with data of it succeeds and verifies), every push the child
//!   reported as acknowledged is in the remote branch's history, and the pushing
//!   repository verifies;
//! - after a killed clone: what was left opens and verifies (values not fetched yet are
//!   not damage), and resuming it (fetch, pull, fetch-data) completes to exactly the
//!   source's content, receiving less than a full clone when the kill came late;
//! - after a killed fetch (fetch, pull and fetch-data of the whole history into a clone
//!   that keeps following the remote while the push trials add commits): the same.
//!
//! Protocol of the push child (one line each, after the step): `COMMIT <id>`, then
//! `ACK <id>` once the push returned.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hangar_core::{DType, FetchDataOptions, NdArraySpec, RemoteSpec, Repository, TensorRef};

use crate::{fingerprint, read_content, Figures, Rng};

const VALUE_LEN: usize = 512;
const SAMPLES: u64 = 2000;

fn value(rng: &mut Rng) -> Vec<u8> {
    (0..VALUE_LEN).map(|_| rng.below(256) as u8).collect()
}

/// The source repository: one column of 2,000 values of 512 bytes, one commit, pushed.
fn setup(src: &Path, url: &str) -> hangar_core::Result<Repository> {
    let repo = Repository::init(src, "remote crash", "crash@example.com", true)?;
    let co = repo.checkout_writer()?;
    let col = co.add_ndarray_column("data", NdArraySpec::with_shape(DType::U8, &[VALUE_LEN]))?;
    let mut rng = Rng::new(7);
    let bulk = co.bulk()?;
    for k in 0..SAMPLES {
        col.set(k, TensorRef::new(&value(&mut rng), &[VALUE_LEN]))?;
    }
    bulk.finish()?;
    co.commit("start")?;
    co.close()?;
    repo.add_remote(&RemoteSpec::new("origin", url))?;
    repo.push("origin", "master")?;
    Ok(repo)
}

/// The push child: `rounds` times, change 50 samples, commit, push.
pub fn push_child(src: &Path, seed: u64, rounds: usize) -> hangar_core::Result<()> {
    let repo = Repository::open(src)?;
    let mut rng = Rng::new(seed);
    let mut out = std::io::stdout().lock();
    let mut say = |line: String| {
        if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
            std::process::exit(0);
        }
    };
    for r in 0..rounds {
        let co = repo.checkout_writer()?;
        let col = co.column("data")?;
        for _ in 0..50 {
            col.set(
                rng.below(SAMPLES * 2),
                TensorRef::new(&value(&mut rng), &[VALUE_LEN]),
            )?;
        }
        let id = co.commit(&format!("round {r}"))?;
        co.close()?;
        say(format!("COMMIT {}", id.to_hex()));
        repo.push("origin", "master")?;
        say(format!("ACK {}", id.to_hex()));
    }
    Ok(())
}

/// The clone child: clone with data.
pub fn clone_child(url: &str, dir: &Path) -> hangar_core::Result<()> {
    Repository::clone_from(
        dir,
        &RemoteSpec::new("origin", url),
        "clone",
        "clone@example.com",
        None,
        true,
    )?;
    Ok(())
}

/// The fetch child: in the clone at `dir`, fetch, pull master and fetch every value of
/// its history.
pub fn fetch_child(dir: &Path) -> hangar_core::Result<()> {
    let repo = Repository::open(dir)?;
    repo.fetch("origin", None)?;
    repo.pull("origin", "master", "follow")?;
    let all = FetchDataOptions {
        history: true,
        ..FetchDataOptions::default()
    };
    repo.fetch_data("origin", "master", &all)?;
    Ok(())
}

/// Runs `exe args`, kills it after `after`, returns its stdout lines and whether it was
/// killed (rather than finished).
fn run_killed(exe: &Path, args: &[&str], after: Duration) -> Result<(Vec<String>, bool), String> {
    let mut child = Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let reader = crate::report_lines(&mut child);
    let deadline = Instant::now() + after;
    let killed = match crate::wait_or_kill(&mut child, deadline) {
        Some(s) if s.success() => false,
        Some(s) => {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            return Err(format!("the child failed on its own ({s}): {err}"));
        }
        None => true,
    };
    Ok((reader.join().unwrap_or_default(), killed))
}

/// Clones `url` with all its data into `dir` and returns it (the remote's state,
/// checked) with the bytes received.
fn fresh_clone(url: &str, dir: &Path) -> Result<(Repository, u64), String> {
    let (repo, r) = Repository::clone_from(
        dir,
        &RemoteSpec::new("origin", url),
        "check",
        "check@example.com",
        None,
        false,
    )
    .map_err(|e| format!("a fresh clone of the remote failed: {e}"))?;
    let all = FetchDataOptions {
        history: true,
        ..FetchDataOptions::default()
    };
    let d = repo
        .fetch_data("origin", "master", &all)
        .map_err(|e| format!("fetching the data of a fresh clone failed: {e}"))?;
    let v = repo.verify().map_err(|e| e.to_string())?;
    if !v.is_ok() || v.not_fetched > 0 {
        return Err(format!(
            "a fresh clone does not verify: {v}: {:?}",
            v.problems
        ));
    }
    Ok((repo, r.bytes + d.bytes))
}

fn content_of(repo: &Repository) -> Result<String, String> {
    let co = repo.checkout().map_err(|e| e.to_string())?;
    Ok(fingerprint(&read_content(&co).map_err(|e| e.to_string())?))
}

/// Resumes a clone a kill interrupted: whatever step it reached, the repository left
/// is opened, the remote added if it is not, then fetch, pull and fetch-data. Returns
/// the bytes received.
fn resume(dir: &Path, url: &str) -> Result<(Repository, u64), String> {
    let repo = match Repository::open(dir) {
        Ok(r) => r,
        Err(_) => {
            // Killed inside `init`, before the repository existed: start over.
            std::fs::remove_dir_all(dir).map_err(|e| e.to_string())?;
            Repository::init(dir, "clone", "clone@example.com", false).map_err(|e| e.to_string())?
        }
    };
    let v = repo.verify().map_err(|e| e.to_string())?;
    if !v.is_ok() {
        return Err(format!(
            "the interrupted clone does not verify: {:?}",
            v.problems
        ));
    }
    if repo.remote("origin").is_err() {
        repo.add_remote(&RemoteSpec::new("origin", url))
            .map_err(|e| e.to_string())?;
    }
    let f = repo
        .fetch("origin", None)
        .map_err(|e| format!("fetch: {e}"))?;
    repo.pull("origin", "master", "resume")
        .map_err(|e| format!("pull: {e}"))?;
    let all = FetchDataOptions {
        history: true,
        ..FetchDataOptions::default()
    };
    let d = repo
        .fetch_data("origin", "master", &all)
        .map_err(|e| format!("fetch-data: {e}"))?;
    Ok((repo, f.bytes + d.bytes))
}

/// Temporary files in the directories a push writes outside the writer lock (tracking
/// refs and saved manifests): a killed push leaves its file there, the next one removes it.
fn temp_files(repo: &Path) -> usize {
    ["remotes/origin/refs", "remote-manifests"]
        .iter()
        .filter_map(|d| std::fs::read_dir(repo.join(".hangar").join(d)).ok())
        .flat_map(|rd| rd.flatten())
        .filter(|e| hangar_store::internal::fsutil::is_temp_name(&e.file_name().to_string_lossy()))
        .count()
}

/// The suite: `trials` kills of pushes and as many of clones.
pub fn run(exe: &Path, trials: usize, seed: u64) -> Figures {
    let mut figs = Figures::new("remote crash consistency (SIGKILL of push, clone and fetch)");
    let started = Instant::now();
    let mut rng = Rng::new(seed);
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => {
            figs.fail(format!("tempdir: {e}"));
            return figs;
        }
    };
    let remote_dir = tmp.path().join("remote");
    let url = format!("file://{}", remote_dir.display());
    let src = tmp.path().join("src");
    if let Err(e) = std::fs::create_dir_all(&remote_dir)
        .map_err(|e| e.to_string())
        .and_then(|_| setup(&src, &url).map(|_| ()).map_err(|e| e.to_string()))
    {
        figs.fail(format!("setup: {e}"));
        return figs;
    }
    // The follower: a clone without data that each fetch trial brings up to date.
    let follower = tmp.path().join("follower");
    if let Err(e) = Repository::clone_from(
        &follower,
        &RemoteSpec::new("origin", &url),
        "follower",
        "follower@example.com",
        None,
        false,
    ) {
        figs.fail(format!("setup: clone of the follower: {e}"));
        return figs;
    }
    let follower_s = follower.to_string_lossy().into_owned();
    let (mut push_killed, mut acks_checked, mut clone_killed, mut fetch_killed) = (0, 0, 0, 0);
    let (mut push_left_temp, mut temps_max) = (0, 0);
    let mut resume_ratios = Vec::new();
    for t in 0..trials {
        // A push killed at a random moment.
        let after = Duration::from_micros(1_000 + rng.below(400_000));
        let src_s = src.to_string_lossy().into_owned();
        let trial_seed = rng.next_u64().to_string();
        let (lines, killed) = match run_killed(
            exe,
            &["remote-child", "push", &src_s, &url, &trial_seed, "10"],
            after,
        ) {
            Ok(r) => r,
            Err(e) => {
                figs.fail(format!("push trial {t}: {e}"));
                break;
            }
        };
        push_killed += usize::from(killed);
        let temps = temp_files(&src);
        if killed && temps > 0 {
            push_left_temp += 1;
        }
        temps_max = temps_max.max(temps);
        let check = tmp.path().join(format!("check{t}"));
        match fresh_clone(&url, &check) {
            Err(e) => figs.fail(format!("push trial {t} ({} lines): {e}", lines.len())),
            Ok((clone, _)) => {
                let history: std::collections::HashSet<String> = match clone.log(Some("master")) {
                    Ok(l) => l.order().into_iter().map(|c| c.to_hex()).collect(),
                    Err(e) => {
                        figs.fail(format!("push trial {t}: log: {e}"));
                        continue;
                    }
                };
                for l in &lines {
                    if let Some(id) = l.strip_prefix("ACK ") {
                        acks_checked += 1;
                        if !history.contains(id) {
                            figs.fail(format!(
                                "push trial {t}: acknowledged push {id} is not on the remote"
                            ));
                        }
                    }
                }
            }
        }
        let _ = std::fs::remove_dir_all(&check);
        match Repository::open(&src).and_then(|r| r.verify()) {
            Ok(v) if v.is_ok() => {}
            Ok(v) => figs.fail(format!(
                "push trial {t}: the pushing repository does not verify: {:?}",
                v.problems
            )),
            Err(e) => figs.fail(format!("push trial {t}: the pushing repository: {e}")),
        }

        // A fetch into the follower killed at a random moment, then resumed.
        let after = Duration::from_micros(500 + rng.below(300_000));
        match run_killed(exe, &["remote-child", "fetch", &follower_s], after) {
            Err(e) => {
                figs.fail(format!("fetch trial {t}: {e}"));
                break;
            }
            Ok((_, killed)) => {
                fetch_killed += usize::from(killed);
                if let Err(e) = resume(&follower, &url).and_then(|(repo, _)| {
                    let check = tmp.path().join(format!("fref{t}"));
                    let (reference, _) = fresh_clone(&url, &check)?;
                    let same = content_of(&reference)? == content_of(&repo)?;
                    let _ = std::fs::remove_dir_all(&check);
                    let v = repo.verify().map_err(|e| e.to_string())?;
                    match (same, v.is_ok() && v.not_fetched == 0) {
                        (true, true) => Ok(()),
                        (false, _) => Err("the resumed follower's content differs from the \
                                           remote's"
                            .to_string()),
                        (true, false) => Err(format!("the resumed follower: {v}")),
                    }
                }) {
                    figs.fail(format!("fetch trial {t}: {e}"));
                }
            }
        }

        // A clone (with data) killed at a random moment, then resumed.
        let dir = tmp.path().join(format!("clone{t}"));
        let dir_s = dir.to_string_lossy().into_owned();
        let after = Duration::from_micros(500 + rng.below(120_000));
        match run_killed(exe, &["remote-child", "clone", &url, &dir_s], after) {
            Err(e) => {
                figs.fail(format!("clone trial {t}: {e}"));
                break;
            }
            Ok((_, killed)) => {
                clone_killed += usize::from(killed);
                if !dir.exists() {
                    continue; // killed before it made the directory
                }
                match resume(&dir, &url) {
                    Err(e) => figs.fail(format!("clone trial {t}: {e}")),
                    Ok((repo, received)) => {
                        let check = tmp.path().join(format!("ref{t}"));
                        match fresh_clone(&url, &check) {
                            Err(e) => figs.fail(format!("clone trial {t}: {e}")),
                            Ok((reference, full)) => {
                                match (content_of(&reference), content_of(&repo)) {
                                    (Ok(a), Ok(b)) if a == b => {}
                                    (Ok(_), Ok(_)) => figs.fail(format!(
                                        "clone trial {t}: the resumed clone's content differs \
                                         from the remote's"
                                    )),
                                    (Err(e), _) | (_, Err(e)) => {
                                        figs.fail(format!("clone trial {t}: {e}"))
                                    }
                                }
                                if killed && full > 0 {
                                    resume_ratios.push(received as f64 / full as f64);
                                }
                            }
                        }
                        match repo.verify() {
                            Ok(v) if v.is_ok() && v.not_fetched == 0 => {}
                            Ok(v) => figs.fail(format!("clone trial {t}: resumed clone: {v}")),
                            Err(e) => figs.fail(format!("clone trial {t}: {e}")),
                        }
                        let _ = std::fs::remove_dir_all(&check);
                    }
                }
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }
    resume_ratios.sort_by(|a, b| a.total_cmp(b));
    figs.add("push trials", trials);
    figs.add("pushes killed with SIGKILL", push_killed);
    figs.add("acknowledged pushes checked on the remote", acks_checked);
    figs.add(
        "killed pushes that left a temporary file (skipped by readers, removed by the next push)",
        push_left_temp,
    );
    figs.add("temporary files present at once, at most", temps_max);
    figs.add("clone trials", trials);
    figs.add("clones killed with SIGKILL", clone_killed);
    figs.add("fetch trials", trials);
    figs.add("fetches killed with SIGKILL", fetch_killed);
    if !resume_ratios.is_empty() {
        figs.add(
            "bytes received to resume a killed clone / by a whole clone (min, median, max)",
            format!(
                "{:.2}, {:.2}, {:.2}",
                resume_ratios[0],
                resume_ratios[resume_ratios.len() / 2],
                resume_ratios[resume_ratios.len() - 1]
            ),
        );
    }
    stopped_clone_keeps_what_it_stored(exe, tmp.path(), &mut figs);
    figs.add("time", format!("{:.1} s", started.elapsed().as_secs_f64()));
    figs
}

/// A clone with data stopped inside its last store keeps every store before it: six
/// values of 9 MiB (three bundles of two, one group) are stored at least every 32 MiB,
/// each store durable on its own; the clone child aborts before its second store of values
/// publishes it (the `ingest.before_index_run` failpoint's third hit: the first stores
/// the history), so the two values of that store are not here, the four before are, and
/// the resumed clone must download only those two. Before 2026-12-05 a group of bundles was
/// stored at once: this clone made one store, and a kill during it lost the whole 54 MiB.
fn stopped_clone_keeps_what_it_stored(exe: &Path, tmp: &Path, figs: &mut Figures) {
    const LEN: usize = 9 << 20;
    let check = || -> Result<String, String> {
        let remote = tmp.join("remote-big");
        let url = format!("file://{}", remote.display());
        std::fs::create_dir_all(&remote).map_err(|e| e.to_string())?;
        let src = Repository::init(tmp.join("src-big"), "big", "big@example.com", true)
            .map_err(|e| e.to_string())?;
        (|| -> hangar_core::Result<()> {
            let co = src.checkout_writer()?;
            let col = co.add_ndarray_column("big", NdArraySpec::with_shape(DType::U8, &[LEN]))?;
            for i in 0..6u64 {
                col.set(i, TensorRef::new(&vec![i as u8 + 1; LEN], &[LEN]))?;
            }
            co.commit("big values")?;
            co.close()?;
            src.add_remote(&RemoteSpec::new("origin", &url))?;
            src.push("origin", "master")?;
            Ok(())
        })()
        .map_err(|e| format!("setup: {e}"))?;
        let dir = tmp.join("clone-big");
        let status = Command::new(exe)
            .args(["remote-child", "clone", &url, &dir.to_string_lossy()])
            .env("HANGAR_FAILPOINTS", "ingest.before_index_run=crash@3")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("spawn: {e}"))?;
        if status.success() {
            return Err("the clone made one store of its values, not one per 32 MiB".into());
        }
        let stored = Repository::open(&dir)
            .and_then(|r| r.not_fetched(None))
            .map_err(|e| format!("the stopped clone: {e}"))?;
        if stored != vec![("big".to_string(), 2)] {
            return Err(format!(
                "the stopped clone lacks {stored:?}: the first store (4 values) was lost"
            ));
        }
        let (repo, received) = resume(&dir, &url)?;
        let v = repo.verify().map_err(|e| e.to_string())?;
        if !v.is_ok() || v.not_fetched != 0 || received > 2 * LEN as u64 + (1 << 20) {
            return Err(format!(
                "resumed after a stop with {stored:?} not fetched: {received} bytes received \
                 (at most the 2 values of the lost store expected), {v}"
            ));
        }
        Ok(format!(
            "{stored:?} not fetched after the stop, {:.1} MiB received to resume",
            received as f64 / 1048576.0
        ))
    };
    match check() {
        Ok(what) => figs.add("a clone stopped at its second store (of 6 × 9 MiB)", what),
        Err(e) => figs.fail(format!("stopped clone: {e}")),
    }
}
