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

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hangar_core::{Compression, DType, NdArraySpec, Repository, TensorRef, WriterCheckout};
use hangar_store::internal::failpoint::POINTS;

pub use crate::staged_content;
use crate::{fingerprint, Content, Figures, Rng};

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

struct Child<'a> {
    out: std::io::StdoutLock<'a>,
}

impl Child<'_> {
    fn say(&mut self, line: &str) {
        // A failed write means the parent is gone: stop at once.
        if writeln!(self.out, "{line}")
            .and_then(|_| self.out.flush())
            .is_err()
        {
            std::process::exit(0);
        }
    }
}

fn value_for(rng: &mut Rng, col: &str) -> (Vec<u8>, String) {
    let n = rng.next_u64();
    if col != "notes" {
        let bytes: Vec<u8> = (0..DATA_LEN)
            .map(|i| (n >> (i % 8 * 8)) as u8 ^ i as u8)
            .collect();
        (
            bytes.clone(),
            blake3::hash(&bytes).to_hex()[..32].to_string(),
        )
    } else {
        let s = format!("note {n:x}");
        (
            s.clone().into_bytes(),
            blake3::hash(s.as_bytes()).to_hex()[..32].to_string(),
        )
    }
}

fn put(co: &WriterCheckout, col: &str, key: u64, bytes: &[u8]) -> hangar_core::Result<()> {
    let c = co.column(col)?;
    if col != "notes" {
        c.set(key, TensorRef::new(bytes, &[DATA_LEN]))
    } else {
        c.set(key, std::str::from_utf8(bytes).unwrap_or_default())
    }
}

/// The child: runs `steps` random operations on the repository at `dir`.
pub fn child(dir: &Path, seed: u64, steps: usize) -> hangar_core::Result<()> {
    let stdout = std::io::stdout();
    let mut say = Child { out: stdout.lock() };
    let mut rng = Rng::new(seed);
    let repo = Repository::open(dir)?;
    let mut co = repo.checkout_writer()?;
    let mut model = staged_content(&co)?;
    for _ in 0..steps {
        let branch = co.branch_name()?;
        match rng.below(100) {
            0..=39 => {
                let col = COLUMNS[rng.below(COLUMNS.len() as u64) as usize];
                let key = rng.below(KEYS);
                let (bytes, d) = value_for(&mut rng, col);
                say.say(&format!("BEGIN SET {col} {key} {d}"));
                put(&co, col, key, &bytes)?;
                model.insert((col.to_string(), key.to_string()), d);
                say.say("END");
            }
            40..=49 => {
                let Some(((col, key), _)) = model
                    .iter()
                    .nth(rng.below(model.len() as u64) as usize)
                    .map(|(k, v)| (k.clone(), v.clone()))
                else {
                    continue;
                };
                say.say(&format!("BEGIN DEL {col} {key}"));
                let k: u64 = key.parse().unwrap_or(0);
                co.column(&col)?.delete(k)?;
                model.remove(&(col, key));
                say.say("END");
            }
            50..=64 => {
                say.say("BEGIN BULK");
                let bulk = co.bulk()?;
                let n = 20 + rng.below(150);
                let mut items = Vec::new();
                for _ in 0..n {
                    let col = COLUMNS[rng.below(COLUMNS.len() as u64) as usize];
                    let key = rng.below(KEYS);
                    let (bytes, d) = value_for(&mut rng, col);
                    put(&co, col, key, &bytes)?;
                    say.say(&format!("ITEM {col} {key} {d}"));
                    items.push(((col.to_string(), key.to_string()), d));
                }
                bulk.finish()?;
                model.extend(items);
                say.say("END");
            }
            65..=84 => {
                if !co.status()?.is_dirty() {
                    continue;
                }
                say.say(&format!("BEGIN COMMIT {}", fingerprint(&model)));
                let id = co.commit(&format!("step on {branch}"))?;
                say.say(&format!("END COMMIT {}", id.to_hex()));
            }
            85..=89 => {
                let to = BRANCHES[rng.below(3) as usize];
                if to == branch || repo.branch_head(to).is_err() {
                    continue;
                }
                if co.status()?.is_dirty() {
                    // git's checkout: the staged changes come along where they apply
                    // unchanged, else the switch is refused and nothing changes.
                    say.say(&format!("BEGIN CARRY {to}"));
                    co.close()?;
                    match repo.switch_writer_branch(to) {
                        Ok(c) => {
                            co = c;
                            model = staged_content(&co)?;
                            let head = co.commit_hash()?.map(|c| c.to_hex()).unwrap_or_default();
                            say.say(&format!("END CARRY {head} {}", fingerprint(&model)));
                        }
                        Err(e) if e.kind() == hangar_core::ErrorKind::DirtyStaging => {
                            co = repo.checkout_writer()?;
                            say.say("END REFUSED");
                        }
                        Err(e) => return Err(e),
                    }
                    continue;
                }
                say.say(&format!("BEGIN SWITCH {to}"));
                co.close()?;
                co = repo.checkout_writer_branch(to)?;
                model = staged_content(&co)?;
                let head = co.commit_hash()?.map(|c| c.to_hex()).unwrap_or_default();
                say.say(&format!("END SWITCH {head} {}", fingerprint(&model)));
            }
            90..=91 => {
                let name = BRANCHES[1 + rng.below(2) as usize];
                if repo.branch_head(name).is_ok() {
                    continue;
                }
                say.say(&format!("BEGIN BRANCH {name}"));
                repo.create_branch(name, None)?;
                say.say("END");
            }
            92..=95 => {
                // `checkout -b`: a new branch at the head, the staged changes moving along
                // (names of their own, so it keeps happening; switches and merges then
                // take the staging area back to the three named branches).
                let name = format!("nb{}", rng.below(1_000_000));
                if repo.branch_head(&name).is_ok() {
                    continue;
                }
                say.say(&format!("BEGIN NEWBRANCH {name}"));
                co.close()?;
                co = repo.checkout_writer_new_branch(&name, None)?;
                say.say("END NEWBRANCH");
            }
            _ => {
                if co.status()?.is_dirty() {
                    continue;
                }
                let from = BRANCHES[rng.below(3) as usize];
                if from == branch || repo.branch_head(from).is_err() {
                    continue;
                }
                say.say(&format!("BEGIN MERGE {from}"));
                match co.merge(&format!("merge {from}"), from) {
                    Ok(outcome) => {
                        model = staged_content(&co)?;
                        say.say(&format!(
                            "END MERGE {} {}",
                            outcome.head().to_hex(),
                            fingerprint(&model)
                        ));
                    }
                    Err(e) if e.kind() == hangar_core::ErrorKind::Conflict => {
                        say.say("END CONFLICT")
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    co.close()
}

/// What the parent knows from the child's report.
#[derive(Debug, Default, Clone)]
struct Expect {
    branch: String,
    head: String,
    staged: Content,
    commits: Vec<(String, String)>,
    in_flight: Option<(String, Vec<String>)>,
    bulk: Vec<((String, String), String)>,
}

impl Expect {
    /// Ends the operation in flight, returning its first argument.
    fn take_first_arg(&mut self) -> String {
        self.in_flight
            .take()
            .and_then(|(_, a)| a.first().cloned())
            .unwrap_or_default()
    }

    /// Applies one reported line. After a branch switch or a merge the staging area is
    /// the new head's content, read back from the repository (committed data).
    fn apply(&mut self, line: &str, repo: &Repository) -> Result<(), String> {
        let w: Vec<&str> = line.split(' ').collect();
        match w.as_slice() {
            ["BEGIN", "BULK"] => {
                self.bulk.clear();
                self.in_flight = Some(("BULK".into(), vec![]));
            }
            ["BEGIN", op, rest @ ..] => {
                self.in_flight =
                    Some((op.to_string(), rest.iter().map(|s| s.to_string()).collect()))
            }
            ["ITEM", col, key, d] => self
                .bulk
                .push(((col.to_string(), key.to_string()), d.to_string())),
            ["END", "COMMIT", id] => {
                let fp = self.take_first_arg();
                self.commits.push((id.to_string(), fp));
                self.head = id.to_string();
            }
            ["END", "SWITCH", head, fp] => {
                let to = self.take_first_arg();
                self.branch = to;
                self.head = head.to_string();
                self.commits.push((head.to_string(), fp.to_string()));
                self.staged = head_content(repo, head)?;
            }
            ["END", "MERGE", head, fp] => {
                self.in_flight = None;
                self.head = head.to_string();
                self.commits.push((head.to_string(), fp.to_string()));
                self.staged = head_content(repo, head)?;
            }
            ["END", "CONFLICT"] | ["END", "REFUSED"] => self.in_flight = None,
            ["END", "CARRY", head, fp] => {
                let to = self.take_first_arg();
                let next = carried(repo, &self.head, head, &self.staged)?;
                if fingerprint(&next) != *fp {
                    return Err(format!(
                        "the staging area carried to {to} is not the staged changes applied to its head"
                    ));
                }
                self.branch = to;
                self.head = head.to_string();
                self.staged = next;
            }
            ["END", "NEWBRANCH"] => {
                if let Some((_, a)) = self.in_flight.take() {
                    self.branch = a[0].clone();
                }
            }
            ["END"] => {
                if let Some((op, a)) = self.in_flight.take() {
                    match op.as_str() {
                        "SET" => {
                            self.staged
                                .insert((a[0].clone(), a[1].clone()), a[2].clone());
                        }
                        "DEL" => {
                            self.staged.remove(&(a[0].clone(), a[1].clone()));
                        }
                        "BULK" => self.staged.extend(self.bulk.drain(..)),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// `staged` (over commit `base`) moved onto commit `target`: its changes from `base`
/// applied to `target`'s content (what a switch that carries them makes).
fn carried(
    repo: &Repository,
    base: &str,
    target: &str,
    staged: &Content,
) -> Result<Content, String> {
    let before = head_content(repo, base)?;
    let mut next = head_content(repo, target)?;
    for (k, d) in staged {
        if before.get(k) != Some(d) {
            next.insert(k.clone(), d.clone());
        }
    }
    for k in before.keys() {
        if !staged.contains_key(k) {
            next.remove(k);
        }
    }
    Ok(next)
}

fn head_content(repo: &Repository, head: &str) -> Result<Content, String> {
    if head.is_empty() {
        return Ok(Content::new());
    }
    repo.checkout_commit(head)
        .and_then(|co| crate::read_content(&co))
        .map_err(|e| format!("reading {head}: {e}"))
}

/// Checks the repository after the child died; returns the failures and the state the
/// next trial starts from.
fn check_after(
    dir: &Path,
    start: &Expect,
    lines: &[String],
    figs: &mut Figures,
    counts: &mut Counts,
) -> Option<Expect> {
    let fail = |figs: &mut Figures, what: String| {
        figs.fail(what);
        None
    };
    let repo = match Repository::open(dir) {
        Ok(r) => r,
        Err(e) => return fail(figs, format!("open after the crash: {e}")),
    };
    let mut ex = start.clone();
    ex.commits.clear();
    for l in lines {
        if let Err(e) = ex.apply(l, &repo) {
            return fail(figs, e);
        }
    }
    let ex = &ex;
    match repo.verify() {
        Ok(rep) if rep.is_ok() => {}
        Ok(rep) => return fail(figs, format!("verify after the crash: {rep}")),
        Err(e) => return fail(figs, format!("verify after the crash: {e}")),
    }
    for (id, fp) in &ex.commits {
        counts.commits_checked += 1;
        let got = repo
            .checkout_commit(id)
            .and_then(|co| crate::read_content(&co));
        match got {
            Ok(c) if fingerprint(&c) == *fp => {}
            Ok(_) => {
                return fail(
                    figs,
                    format!("commit {id} does not hold what was committed"),
                )
            }
            Err(e) => return fail(figs, format!("reported commit {id} is unreadable: {e}")),
        }
    }
    let co = match repo.checkout_writer() {
        Ok(co) => co,
        Err(e) => return fail(figs, format!("writer lock after the crash: {e}")),
    };
    let (branch, head, staged) = match (|| {
        Ok::<_, hangar_core::Error>((
            co.branch_name()?,
            co.commit_hash()?.map(|c| c.to_hex()).unwrap_or_default(),
            staged_content(&co)?,
        ))
    })() {
        Ok(x) => x,
        Err(e) => return fail(figs, format!("reading the staging area: {e}")),
    };
    let _ = co.close();
    // The writer's open deleted what the crash left half-written (every file's id is
    // reserved in the journal before the file is made); nothing unreferenced remains,
    // and nothing else was deleted (verify passes again).
    match repo.verify() {
        Ok(rep) if rep.is_ok() && rep.unreferenced.is_empty() => {}
        Ok(rep) => {
            return fail(
                figs,
                format!(
                    "after the writer reopened: {rep}; unreferenced: {:?}",
                    rep.unreferenced
                ),
            )
        }
        Err(e) => return fail(figs, format!("verify after the writer reopened: {e}")),
    }
    counts.staged_checked += ex.staged.len() as u64;
    let op = ex.in_flight.as_ref().map(|(o, _)| o.as_str());
    counts.new_branches += lines.iter().filter(|l| *l == "END NEWBRANCH").count() as u64;
    counts.new_branches_cut += u64::from(op == Some("NEWBRANCH"));
    counts.carries += lines.iter().filter(|l| l.starts_with("END CARRY")).count() as u64;
    counts.carries_refused += lines.iter().filter(|l| *l == "END REFUSED").count() as u64;
    counts.carries_cut += u64::from(op == Some("CARRY"));
    let args = ex
        .in_flight
        .as_ref()
        .map(|(_, a)| a.clone())
        .unwrap_or_default();
    let mut next = ex.clone();
    next.in_flight = None;
    next.bulk.clear();
    next.branch = branch.clone();
    next.head = head.clone();
    next.staged = staged.clone();
    match op {
        Some("SWITCH") if branch != ex.branch => {
            if branch != args[0] {
                return fail(
                    figs,
                    format!("staging on {branch}, expected {} or {}", ex.branch, args[0]),
                );
            }
            return Some(next);
        }
        Some("COMMIT") if head != ex.head => {
            let fp = &args[0];
            let content = repo
                .checkout_commit(&head)
                .and_then(|c| crate::read_content(&c));
            // The commit holds what the child was committing, and the staging area is
            // clean on it.
            if !matches!(&content, Ok(c) if fingerprint(c) == *fp && *c == staged) {
                return fail(
                    figs,
                    format!("the commit in flight landed as {head} with other content"),
                );
            }
            return Some(next);
        }
        Some("MERGE") if head != ex.head => return Some(next),
        Some("CARRY") if branch != ex.branch => {
            // Cut after the journal moved: on the new branch, at its head, with the
            // staged changes applied to it.
            let want = carried(&repo, &ex.head, &head, &ex.staged);
            let at_head = repo
                .branch_head(&args[0])
                .ok()
                .flatten()
                .map(|c| c.to_hex());
            if branch != args[0] || at_head.as_deref() != Some(head.as_str()) {
                return fail(
                    figs,
                    format!(
                        "staging on {branch} at {head}, expected {} or {} at its head",
                        ex.branch, args[0]
                    ),
                );
            }
            if !matches!(&want, Ok(w) if *w == staged) {
                return fail(
                    figs,
                    format!("the staging area carried to {branch} in flight is not the staged changes applied to its head"),
                );
            }
            return Some(next);
        }
        _ => {}
    }
    // A new branch in flight: the staging area is on either branch, with the same head
    // and every staged change (checked below).
    let moved = op == Some("NEWBRANCH") && branch == args[0];
    if (branch != ex.branch && !moved) || head != ex.head {
        return fail(
            figs,
            format!(
                "staging area on {branch} at {head}, expected {} at {}",
                ex.branch, ex.head
            ),
        );
    }
    // Keys an unfinished operation touched may hold the old or the new value.
    let mut touched: Vec<(String, String)> = Vec::new();
    match op {
        Some("SET") | Some("DEL") => touched.push((args[0].clone(), args[1].clone())),
        Some("BULK") => touched.extend(ex.bulk.iter().map(|(k, _)| k.clone())),
        _ => {}
    }
    let mut want = ex.staged.clone();
    let mut got = staged.clone();
    for k in &touched {
        want.remove(k);
        got.remove(k);
    }
    if want != got {
        let missing = want.iter().filter(|(k, v)| got.get(*k) != Some(v)).count();
        let extra = got.keys().filter(|k| !want.contains_key(*k)).count();
        return fail(figs, format!(
            "staging area differs from what the child reported durable: {missing} missing or changed, {extra} unexpected"
        ));
    }
    Some(next)
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
        let stdout = child.stdout.take().expect("piped");
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
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
