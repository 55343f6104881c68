//! Torn writes: every truncation of the staging journal, of a `journal.next` left by a
//! commit that stopped before its commit point, and of temporary files; and every length
//! of a partial batch at the end of the open segment. Each case reopens a copy of the
//! repository and checks the reopen rules of docs/format.md: the staged state is the
//! last fully written operation's, the last commit is intact, `verify` passes, and work
//! continues (a new change commits).

use std::path::{Path, PathBuf};

use hangar_core::{CommitId, Repository, TensorRef};
use hangar_store::internal::failpoint;

use crate::crash::{setup, staged_content, DATA_LEN};
use crate::{copy_dir, Content, Figures};

fn s<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// The repository every case starts from (two columns and a first commit), and where the
/// damaged copies go.
struct Base {
    tmp: tempfile::TempDir,
    dir: PathBuf,
    repo: Repository,
    head: Option<CommitId>,
}

impl Base {
    fn new() -> Result<Base, String> {
        let tmp = tempfile::tempdir().map_err(s)?;
        let dir = tmp.path().join("base");
        std::fs::create_dir_all(&dir).map_err(s)?;
        setup(&dir).map_err(s)?;
        let repo = Repository::open(&dir).map_err(s)?;
        let head = repo.branch_head("master").map_err(s)?;
        Ok(Base {
            tmp,
            dir,
            repo,
            head,
        })
    }

    /// Copies the base, lets `damage` change the copy, reopens it with [`reopen`], and
    /// removes it. The outer error is a broken harness, the inner one a broken promise.
    fn reopen_damaged(
        &self,
        tag: &str,
        damage: impl FnOnce(&Path) -> Result<(), String>,
    ) -> Result<(Result<Content, String>, PathBuf), String> {
        let dir = self.tmp.path().join(tag);
        copy_dir(&self.dir, &dir).map_err(s)?;
        damage(&dir)?;
        let result = reopen(&dir, self.head);
        Ok((result, dir))
    }
}

/// Runs one case; a broken harness is reported as a failure of the case.
fn case(
    figs: &mut Figures,
    name: &str,
    run: impl FnOnce(&mut Figures) -> Result<usize, String>,
) -> usize {
    match run(figs) {
        Ok(n) => n,
        Err(e) => {
            figs.fail(format!("{name} case: {e}"));
            0
        }
    }
}

/// Reopens `dir` and checks it; returns the staged content.
fn reopen(dir: &Path, head: Option<hangar_core::CommitId>) -> Result<Content, String> {
    let repo = Repository::open(dir).map_err(|e| format!("open: {e}"))?;
    if repo.branch_head("master").map_err(s)? != head {
        return Err("the branch head changed".into());
    }
    let co = repo.checkout_writer().map_err(|e| format!("writer: {e}"))?;
    let staged = staged_content(&co).map_err(|e| format!("staged: {e}"))?;
    let rep = repo.verify().map_err(s)?;
    if !rep.is_ok() {
        return Err(format!("verify: {rep}"));
    }
    // Work continues: one more change commits.
    co.column("data")
        .and_then(|c| c.set(999u64, TensorRef::new(&[9u8; DATA_LEN], &[DATA_LEN])))
        .and_then(|_| co.commit("after reopening"))
        .map_err(|e| format!("continuing after reopen: {e}"))?;
    co.close().map_err(s)?;
    Ok(staged)
}

struct Case {
    name: &'static str,
    trials: usize,
}

/// Runs every case.
pub fn run() -> Figures {
    let mut figs = Figures::new("torn writes (every truncation offset of small cases)");
    let mut cases = Vec::new();
    for (name, f) in [
        (
            "staging journal truncated at every offset",
            journal as fn(&mut Figures) -> usize,
        ),
        (
            "partial batch of every length after the open segment's end",
            segment_tail,
        ),
        (
            "a bulk session's journal write cut at every offset",
            bulk_write,
        ),
        (
            "journal.next truncated at every offset (commit stopped before its commit point)",
            journal_next,
        ),
        (
            "temporary files of every length left by an interrupted write",
            temp_files,
        ),
    ] {
        let trials = f(&mut figs);
        cases.push(Case { name, trials });
    }
    failpoint::clear();
    let mut total = 0;
    for c in &cases {
        figs.add(c.name, format!("{} reopenings", c.trials));
        total += c.trials;
    }
    figs.add("reopenings in all", total);
    figs
}

fn journal(figs: &mut Figures) -> usize {
    case(figs, "journal", |figs| {
        let base = Base::new()?;
        let jpath = base.dir.join(".hangar/staging/journal");
        // Each write-through operation appends to the journal; record its end and state.
        let co = base.repo.checkout_writer().map_err(s)?;
        let mut marks: Vec<(u64, Content)> =
            vec![(file_len(&jpath)?, staged_content(&co).map_err(s)?)];
        for i in 0..8u8 {
            let data = co.column("data").map_err(s)?;
            data.set(u64::from(i), TensorRef::new(&[i; DATA_LEN], &[DATA_LEN]))
                .map_err(s)?;
            marks.push((file_len(&jpath)?, staged_content(&co).map_err(s)?));
            co.column("notes")
                .map_err(s)?
                .set(u64::from(i), "x")
                .map_err(s)?;
            marks.push((file_len(&jpath)?, staged_content(&co).map_err(s)?));
        }
        co.column("data").map_err(s)?.delete(3u64).map_err(s)?;
        marks.push((file_len(&jpath)?, staged_content(&co).map_err(s)?));
        drop(co);
        let full = marks.last().map_or(0, |m| m.0);
        // The journal starts with its magic and base frame; the store's own opening
        // frames (index sequence) follow. A cut after the base frame loses at most those,
        // which acknowledge no staged change: the staging area is the empty first mark.
        let head = std::fs::read(&jpath).map_err(s)?;
        let base_end = head.get(8..12).map_or(u64::MAX, |b| {
            8 + 9 + u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        });
        for cut in 0..=full {
            let (result, dir) = base.reopen_damaged(&format!("cut{cut}"), |d| {
                truncate(&d.join(".hangar/staging/journal"), cut)
            })?;
            let expected = marks
                .iter()
                .rev()
                .find(|(end, _)| *end <= cut)
                .or_else(|| marks.first().filter(|_| cut >= base_end));
            match (result, expected) {
                (Ok(staged), Some((_, want))) if staged == *want => {}
                (Ok(_), Some((end, _))) => figs.fail(format!(
                    "journal cut at {cut}: staged state is not the one at {end}"
                )),
                // Inside the header and base frame nothing was acknowledged yet: a clear
                // Corrupt error is the promised outcome.
                (Err(e), None) if e.contains("corrupt") => {}
                (r, _) => figs.fail(format!("journal cut at {cut}: {:?}", r.map(|_| ()))),
            }
            std::fs::remove_dir_all(&dir).map_err(s)?;
        }
        Ok(full as usize + 1)
    })
}

fn segment_tail(figs: &mut Figures) -> usize {
    case(figs, "segment", |figs| {
        let base = Base::new()?;
        let co = base.repo.checkout_writer().map_err(s)?;
        let bulk = co.bulk().map_err(s)?;
        for k in 0..40u64 {
            co.column("data")
                .map_err(s)?
                .set(k, TensorRef::new(&[k as u8; DATA_LEN], &[DATA_LEN]))
                .map_err(s)?;
        }
        bulk.finish().map_err(s)?;
        let want = staged_content(&co).map_err(s)?;
        drop(co);
        let seg = newest(&base.dir.join(".hangar/segments"))?;
        let seg_name = seg.file_name().unwrap_or_default().to_owned();
        let tail: Vec<u8> = (0..700u32).map(|i| (i * 7 + 3) as u8).collect();
        let mut n = 0;
        for len in (1..=tail.len()).step_by(3) {
            let (result, dir) = base.reopen_damaged(&format!("tail{len}"), |d| {
                let p = d.join(".hangar/segments").join(&seg_name);
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&p)
                    .map_err(s)?;
                std::io::Write::write_all(&mut f, &tail[..len]).map_err(s)
            })?;
            match result {
                Ok(staged) if staged == want => {}
                Ok(_) => figs.fail(format!("segment tail of {len}: staged state changed")),
                Err(e) => figs.fail(format!("segment tail of {len}: {e}")),
            }
            std::fs::remove_dir_all(&dir).map_err(s)?;
            n += 1;
        }
        Ok(n)
    })
}

/// A bulk session ends with one journal write holding its segment frames and its changes.
/// A crash may cut that write anywhere: every prefix must reopen to a state whose every
/// staged value is readable, each key holding its value from before or after the session.
/// (A cut that kept changes but not the segment frames locating their values once left
/// "value … is neither staged nor stored": the crash suite found it.)
fn bulk_write(figs: &mut Figures) -> usize {
    case(figs, "bulk", |figs| {
        let base = Base::new()?;
        let jpath = base.dir.join(".hangar/staging/journal");
        let co = base.repo.checkout_writer().map_err(s)?;
        let before = staged_content(&co).map_err(s)?;
        let start = file_len(&jpath)?;
        let bulk = co.bulk().map_err(s)?;
        for k in 0..16u64 {
            co.column("data")
                .map_err(s)?
                .set(k, TensorRef::new(&[k as u8 ^ 0x5a; DATA_LEN], &[DATA_LEN]))
                .map_err(s)?;
            co.column("notes").map_err(s)?.set(k, "bulk").map_err(s)?;
        }
        bulk.finish().map_err(s)?;
        let after = staged_content(&co).map_err(s)?;
        drop(co);
        let end = file_len(&jpath)?;
        for cut in start..=end {
            let (result, dir) = base.reopen_damaged(&format!("bulk{cut}"), |d| {
                truncate(&d.join(".hangar/staging/journal"), cut)
            })?;
            match result {
                Ok(staged) => {
                    let stray = staged
                        .iter()
                        .filter(|(k, v)| before.get(*k) != Some(v) && after.get(*k) != Some(v))
                        .count();
                    if stray > 0 {
                        figs.fail(format!(
                            "bulk write cut at {cut}: {stray} values from neither state"
                        ));
                    }
                }
                Err(e) => figs.fail(format!("bulk write cut at {cut}: {e}")),
            }
            std::fs::remove_dir_all(&dir).map_err(s)?;
        }
        Ok((end - start) as usize + 1)
    })
}

fn journal_next(figs: &mut Figures) -> usize {
    case(figs, "journal.next", |figs| {
        let base = Base::new()?;
        let co = base.repo.checkout_writer().map_err(s)?;
        co.column("data")
            .map_err(s)?
            .set(5u64, TensorRef::new(&[5u8; DATA_LEN], &[DATA_LEN]))
            .map_err(s)?;
        let want = staged_content(&co).map_err(s)?;
        // Stop the commit right after journal.next is written (before the ref moves).
        failpoint::set("commit.after_next_journal", "eio").map_err(s)?;
        let r = co.commit("stopped");
        failpoint::clear();
        if r.is_ok() {
            return Err("the commit did not stop at the failpoint".into());
        }
        drop(co);
        let full = file_len(&base.dir.join(".hangar/staging/journal.next"))?;
        for cut in 0..=full {
            let (result, dir) = base.reopen_damaged(&format!("next{cut}"), |d| {
                truncate(&d.join(".hangar/staging/journal.next"), cut)
            })?;
            match result {
                Ok(staged) if staged == want => {
                    if dir.join(".hangar/staging/journal.next").exists() {
                        figs.fail(format!("journal.next cut at {cut} was kept"));
                    }
                }
                Ok(_) => figs.fail(format!("journal.next cut at {cut}: staged state changed")),
                Err(e) => figs.fail(format!("journal.next cut at {cut}: {e}")),
            }
            std::fs::remove_dir_all(&dir).map_err(s)?;
        }
        Ok(full as usize + 1)
    })
}

fn temp_files(figs: &mut Figures) -> usize {
    case(figs, "temporary-file", |figs| {
        let base = Base::new()?;
        let want = {
            let co = base.repo.checkout_writer().map_err(s)?;
            let c = staged_content(&co).map_err(s)?;
            co.close().map_err(s)?;
            c
        };
        let h = base.dir.join(".hangar");
        let sources = [
            (newest(&h.join("packs"))?, ".hangar/packs"),
            (newest(&h.join("index"))?, ".hangar/index"),
            (h.join("refs/heads/master"), ".hangar/refs/heads"),
        ];
        let mut n = 0;
        for (src, dir_rel) in sources {
            let bytes = std::fs::read(&src).map_err(s)?;
            let name = src
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let temp_name = format!(".{name}{}999-1", hangar_store::internal::fsutil::TMP_MARKER);
            let step = (bytes.len() / 40).max(1);
            for len in (0..=bytes.len()).step_by(step) {
                let (result, dir) = base.reopen_damaged(&format!("tmp{n}"), |d| {
                    std::fs::write(d.join(dir_rel).join(&temp_name), &bytes[..len]).map_err(s)
                })?;
                match result {
                    Ok(staged) if staged == want => {
                        if dir.join(dir_rel).join(&temp_name).exists() {
                            figs.fail(format!("temporary {name} of {len} bytes was not removed"));
                        }
                    }
                    Ok(_) => {
                        figs.fail(format!("temporary {name} of {len} bytes changed the state"))
                    }
                    Err(e) => figs.fail(format!("temporary {name} of {len} bytes: {e}")),
                }
                std::fs::remove_dir_all(&dir).map_err(s)?;
                n += 1;
            }
        }
        Ok(n)
    })
}

fn file_len(p: &Path) -> Result<u64, String> {
    std::fs::metadata(p)
        .map(|m| m.len())
        .map_err(|e| format!("{}: {e}", p.display()))
}

fn truncate(p: &Path, len: u64) -> Result<(), String> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(p)
        .and_then(|f| f.set_len(len))
        .map_err(|e| format!("truncate {}: {e}", p.display()))
}

fn newest(dir: &Path) -> Result<PathBuf, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(s)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            !p.to_string_lossy()
                .contains(hangar_store::internal::fsutil::TMP_MARKER)
        })
        .collect();
    files.sort();
    files
        .pop()
        .ok_or_else(|| format!("no file in {}", dir.display()))
}
