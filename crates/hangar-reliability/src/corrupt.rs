//! Corruption detection: for every kind of file the repository writes, flip single bits,
//! overwrite random 8-byte bursts, truncate, zero a 4 KiB block, append garbage, delete
//! the file, and swap two files of the same kind. After each mutation (of a copy) the
//! repository is opened, verified and every committed and staged sample is read. A
//! mutation is *detected* when open, verify, the writer open or a read reports it; a read
//! that returns different bytes is *silently wrong*. Files whose every byte is covered by
//! a checksum or digest must show 0 missed and 0 silently wrong; the others (config,
//! README, reflog, lock holder) must never make the library panic or return wrong data.
//!
//! Then every file in turn is moved away, every writer command is run (open the writer,
//! stage and commit, reset, switch branches), and the file is put back: no other segment
//! or pack may have been removed or changed, and every commit must read back exactly
//! (DESIGN §3 rule 10: nothing is deleted because an index or listing does not name it).

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use hangar_core::{Compression, DType, NdArraySpec, Repository, TensorRef};

use crate::crash::staged_content;
use crate::{copy_dir, read_content, Content, Figures, Rng};

/// Bytes of an "imgs" value: over 64, so they are stored in segments; the variable-shape
/// and text values (at most 64 bytes) are inline in the record tables' leaves (format
/// version 2), so damage to both kinds of file reaches values.
const IMG_LEN: usize = 80;

/// The original content: per commit id, then the staging area.
struct Truth {
    commits: BTreeMap<String, Content>,
    staged: Content,
    /// The staged state without the last write-through change, and where the journal's
    /// last write starts: damage from there on is indistinguishable from a write torn by a
    /// crash, and the reopen rule cuts it (like SQLite's WAL tail).
    staged_before_last: Content,
    last_frame_start: u64,
    /// Every staged state the journal acknowledged, oldest first: a damaged journal may
    /// come back as one of them (its tail cut, as after a crash), never as another state.
    prefixes: Vec<Content>,
    /// Segment files sealed by commits (the others are the open staging segment).
    sealed: Vec<String>,
}

fn build(dir: &Path) -> hangar_core::Result<Truth> {
    let repo = Repository::init(dir, "corrupt", "c@example.com", true)?;
    let co = repo.checkout_writer()?;
    let imgs = co.add_ndarray_column("imgs", NdArraySpec::with_shape(DType::U8, &[IMG_LEN]))?;
    let var = co.add_ndarray_column(
        "var",
        NdArraySpec::with_shape(DType::F32, &[4, 4]).variable_shape(true),
    )?;
    let text = co.add_str_column("text")?;
    // A compressed column: its commits seal Parquet segments.
    let zimgs = co.add_ndarray_column(
        "zimgs",
        NdArraySpec::with_shape(DType::U8, &[IMG_LEN]).compression(Compression::Zstd(3)),
    )?;
    let mut commits = BTreeMap::new();
    for round in 0..3u8 {
        for i in 0..24u8 {
            imgs.set(
                u64::from(i),
                TensorRef::new(&[i ^ round.wrapping_mul(91); IMG_LEN], &[IMG_LEN]),
            )?;
            let z: Vec<u8> = (0..IMG_LEN as u8)
                .map(|j| j.wrapping_mul(i) ^ round)
                .collect();
            zimgs.set(u64::from(i), TensorRef::new(&z, &[IMG_LEN]))?;
        }
        var.set(
            u64::from(round),
            TensorRef::new(&[f32::from(round); 6], &[2, 3]),
        )?;
        text.set(u64::from(round), format!("text {round}").as_str())?;
        co.metadata().set("round", &round.to_string())?;
        let id = co.commit(&format!("round {round}"))?;
        commits.insert(
            id.to_hex(),
            read_content(&repo.checkout_commit(&id.to_hex())?)?,
        );
    }
    // Staged, uncommitted write-through changes: the journal has payload frames.
    let sealed = std::fs::read_dir(dir.join(".hangar/segments"))
        .map_err(|e| hangar_core::Error::io("list", dir, e))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    let mut prefixes = vec![staged_content(&co)?];
    for i in 0..5u8 {
        imgs.set(
            u64::from(i),
            TensorRef::new(&[250 - i; IMG_LEN], &[IMG_LEN]),
        )?;
        prefixes.push(staged_content(&co)?);
    }
    let staged_before_last = staged_content(&co)?;
    let journal = dir.join(".hangar/staging/journal");
    let last_frame_start = std::fs::metadata(&journal)
        .map_err(|e| hangar_core::Error::io("stat", &journal, e))?
        .len();
    imgs.set(5u64, TensorRef::new(&[245u8; IMG_LEN], &[IMG_LEN]))?;
    let before_close = std::fs::metadata(&journal)
        .map_err(|e| hangar_core::Error::io("stat", &journal, e))?
        .len();
    let staged = staged_content(&co)?;
    prefixes.push(staged.clone());
    co.close()?;
    // Closing flushed the payloads into a segment and logged that in one more write:
    // damage from the start of the last write on is what a crash during it leaves.
    let after_close = std::fs::metadata(&journal).map_or(0, |m| m.len());
    let last_frame_start = if after_close > before_close {
        before_close
    } else {
        last_frame_start
    };
    Ok(Truth {
        commits,
        staged,
        staged_before_last,
        last_frame_start,
        prefixes,
        sealed,
    })
}

#[derive(Debug, Default)]
struct Probe {
    detected: bool,
    wrong: usize,
    /// The staging area came back without its last change (a torn tail, cut).
    cut_tail: bool,
}

fn probe(root: &Path, truth: &Truth, tail_damaged: bool, journal_damaged: bool) -> Probe {
    let mut p = Probe::default();
    let repo = match Repository::open(root) {
        Ok(r) => r,
        Err(_) => {
            p.detected = true;
            return p;
        }
    };
    if !repo.verify().is_ok_and(|r| r.is_ok()) {
        p.detected = true;
    }
    for (id, want) in &truth.commits {
        match repo.checkout_commit(id).and_then(|co| read_content(&co)) {
            Ok(got) => p.wrong += count_wrong(want, &got, &mut p.detected),
            Err(_) => p.detected = true,
        }
    }
    match repo
        .checkout_writer()
        .and_then(|co| staged_content(&co).map(|c| (c, co)))
    {
        Ok((got, co)) => {
            // The last frame cut as torn (losing at most what it recorded), or an
            // earlier acknowledged state: what a crash could also leave.
            if (tail_damaged && (got == truth.staged_before_last || got == truth.staged))
                || (journal_damaged && got != truth.staged && truth.prefixes.contains(&got))
            {
                p.cut_tail = true;
            } else {
                p.wrong += count_wrong(&truth.staged, &got, &mut p.detected);
            }
            let _ = co.close();
        }
        Err(_) => p.detected = true,
    }
    p
}

/// Values present in both with different digests are silently wrong; missing or extra
/// keys mean the damage was visible (reported as absence) and count as detected.
fn count_wrong(want: &Content, got: &Content, detected: &mut bool) -> usize {
    if want.len() != got.len() || want.keys().any(|k| !got.contains_key(k)) {
        *detected = true;
    }
    want.iter()
        .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
        .count()
}

/// The kind of a file, and whether every byte of it is covered by a checksum or digest
/// that `verify` or a read checks. The open staging segment is not: its values carry
/// CRCs checked on every read, its other bytes are rewritten when it is sealed.
fn kind_of(rel: &Path, sealed: &[String]) -> Option<(&'static str, bool)> {
    let s = rel.to_string_lossy();
    let leaf = rel
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Some(match () {
        _ if s.ends_with(".parquet") => ("Parquet segment (compressed column)", true),
        _ if s.contains("/segments/") && !sealed.contains(&leaf) => {
            ("segment (open, staging)", false)
        }
        _ if s.contains("/segments/") => ("segment (sealed)", true),
        _ if s.contains("/packs/") => ("pack (commits, record tables, schemas)", true),
        _ if s.contains("/index/") => ("index run", true),
        _ if s.ends_with("staging/journal") => ("staging journal", true),
        _ if s.contains("/logs/") => ("reflog", false),
        _ if s.contains("/refs/heads/") => ("branch ref", true),
        _ if s.ends_with("/format") => ("format file", false),
        _ if s.ends_with("config.json") => ("config.json", false),
        _ if s.ends_with("writer.lock") => ("writer.lock", false),
        _ if s.ends_with("README.txt") => ("README.txt", false),
        _ => return None,
    })
}

fn list(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                list(&p, root, out);
            } else if let Ok(rel) = p.strip_prefix(root) {
                out.push(rel.to_path_buf());
            }
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Tally {
    tried: usize,
    detected: usize,
    wrong: usize,
    panics: usize,
    cut_tail: usize,
    harmless: usize,
    covered: bool,
}

/// Runs the matrix with `flips` single-bit flips per file kind.
pub fn run(flips: usize, seed: u64) -> Figures {
    let mut figs = Figures::new("corruption detection (every file kind × mutation)");
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => {
            figs.fail(format!("tempdir: {e}"));
            return figs;
        }
    };
    let pristine = tmp.path().join("pristine");
    let truth = match std::fs::create_dir_all(&pristine)
        .map_err(|e| e.to_string())
        .and_then(|_| build(&pristine).map_err(|e| e.to_string()))
    {
        Ok(t) => t,
        Err(e) => {
            figs.fail(format!("building the repository: {e}"));
            return figs;
        }
    };
    let mut files = Vec::new();
    list(&pristine.join(".hangar"), &pristine, &mut files);
    files.sort();
    let mut by_kind: BTreeMap<&str, Vec<PathBuf>> = BTreeMap::new();
    for f in files {
        if let Some((k, _)) = kind_of(&f, &truth.sealed) {
            by_kind.entry(k).or_default().push(f);
        }
    }
    let mut rng = Rng::new(seed);
    let mut tallies: BTreeMap<(String, &str), Tally> = BTreeMap::new();
    let work = tmp.path().join("work");
    let mut trial = |rel: &Path,
                     kind: &str,
                     what: &'static str,
                     at: Option<u64>,
                     harmless: bool,
                     mutate: &dyn Fn(&Path) -> std::io::Result<()>,
                     figs: &mut Figures| {
        let tail_damaged =
            kind == "staging journal" && at.is_some_and(|a| a >= truth.last_frame_start);
        let _ = std::fs::remove_dir_all(&work);
        if let Err(e) = copy_dir(&pristine, &work).and_then(|_| mutate(&work)) {
            figs.fail(format!("mutating {}: {e}", rel.display()));
            return;
        }
        let covered = kind_of(rel, &truth.sealed).is_some_and(|(_, c)| c);
        let t = tallies.entry((kind.to_string(), what)).or_default();
        t.covered = covered;
        t.tried += 1;
        if harmless {
            // The same meaning in other bytes (a ref's hex digits in upper case, its
            // newline dropped): nothing to detect; reads are still checked below.
            t.harmless += 1;
        }
        let journal_damaged = kind == "staging journal";
        match catch_unwind(AssertUnwindSafe(|| {
            probe(&work, &truth, tail_damaged, journal_damaged)
        })) {
            Ok(p) if p.cut_tail && !p.detected => t.cut_tail += 1,
            Ok(p) if harmless && !p.detected && p.wrong == 0 => {}
            Ok(p) => {
                t.detected += usize::from(p.detected);
                t.wrong += p.wrong;
                if p.wrong > 0 {
                    figs.fail(format!(
                        "{what} in {}: {} reads returned wrong data",
                        rel.display(),
                        p.wrong
                    ));
                }
                if covered && !p.detected && !harmless {
                    figs.fail(format!(
                        "{what} in {} at byte {at:?} went undetected",
                        rel.display()
                    ));
                }
            }
            Err(_) => {
                t.panics += 1;
                figs.fail(format!(
                    "{what} in {} made the library panic",
                    rel.display()
                ));
            }
        }
    };
    for (kind, paths) in &by_kind {
        let bursts = (flips / 4).max(4);
        for i in 0..flips + bursts + 8 {
            let rel = &paths[rng.below(paths.len() as u64) as usize];
            let Ok(orig) = std::fs::read(pristine.join(rel)) else {
                continue;
            };
            if orig.is_empty() {
                continue;
            }
            let n = orig.len() as u64;
            let mut at_off: Option<u64> = None;
            let (what, bytes): (&'static str, Vec<u8>) = if i < flips {
                let bit = rng.below(n * 8) as usize;
                at_off = Some((bit / 8) as u64);
                let mut b = orig.clone();
                b[bit / 8] ^= 1 << (bit % 8);
                ("bit flip", b)
            } else if i < flips + bursts {
                let at = rng.below(n) as usize;
                at_off = Some(at as u64);
                let mut b = orig.clone();
                for j in at..(at + 8).min(b.len()) {
                    b[j] = rng.next_u64() as u8;
                }
                if b == orig {
                    continue;
                }
                ("random 8-byte burst", b)
            } else {
                match i - flips - bursts {
                    0 => ("truncated to 0", vec![]),
                    1 => {
                        at_off = Some(n - 1);
                        ("truncated by 1 byte", orig[..orig.len() - 1].to_vec())
                    }
                    2 => {
                        at_off = Some(n / 2);
                        ("truncated at half", orig[..orig.len() / 2].to_vec())
                    }
                    3 => {
                        let cut = rng.below(n);
                        at_off = Some(cut);
                        (
                            "truncated at a random length",
                            orig[..cut as usize].to_vec(),
                        )
                    }
                    4 => {
                        let mut b = orig.clone();
                        let at = (rng.below(n) as usize) & !4095;
                        for x in b.iter_mut().skip(at).take(4096) {
                            *x = 0;
                        }
                        if b == orig {
                            continue;
                        }
                        ("4 KiB zero-filled", b)
                    }
                    5 => {
                        at_off = Some(n);
                        let mut b = orig.clone();
                        b.extend((0..37).map(|_| rng.next_u64() as u8));
                        ("garbage appended", b)
                    }
                    6 => ("deleted", b"\0DELETE".to_vec()),
                    _ => ("swapped with a file of the same kind", b"\0SWAP".to_vec()),
                }
            };
            let other = paths.iter().find(|p| *p != rel).cloned();
            if what.starts_with("swapped") && other.is_none() {
                continue;
            }
            let rel_c = rel.clone();
            let same_ref = |b: &[u8]| {
                String::from_utf8_lossy(b)
                    .trim_end_matches('\n')
                    .to_ascii_lowercase()
            };
            let harmless = *kind == "branch ref"
                && !what.starts_with("swapped")
                && what != "deleted"
                && same_ref(&bytes) == same_ref(&orig);
            trial(
                rel,
                kind,
                what,
                at_off,
                harmless,
                &|root: &Path| {
                    let p = root.join(&rel_c);
                    match what {
                        "deleted" => std::fs::remove_file(&p),
                        w if w.starts_with("swapped") => {
                            let q = root.join(other.as_ref().expect("checked"));
                            let (a, b) = (std::fs::read(&p)?, std::fs::read(&q)?);
                            std::fs::write(&p, b)?;
                            std::fs::write(&q, a)
                        }
                        _ => std::fs::write(&p, &bytes),
                    }
                },
                &mut figs,
            );
        }
    }
    let (mut tried, mut detected, mut missed_covered, mut wrong, mut panics) = (0, 0, 0, 0, 0);
    for ((kind, what), t) in &tallies {
        tried += t.tried;
        detected += t.detected;
        wrong += t.wrong;
        panics += t.panics;
        if t.covered {
            missed_covered += t.tried - t.detected - t.panics - t.cut_tail - t.harmless;
        }
        let mut cut = String::new();
        if t.cut_tail > 0 {
            cut += &format!(
                ", {} came back as an earlier acknowledged state (tail cut as after a crash)",
                t.cut_tail
            );
        }
        if t.harmless > 0 {
            cut += &format!(", {} changed no meaning", t.harmless);
        }
        figs.add(
            &format!(
                "{kind}{} / {what}",
                if t.covered { "" } else { " (not checksummed)" }
            ),
            format!(
                "{} tried, {} detected, {} silently wrong{cut}",
                t.tried, t.detected, t.wrong
            ),
        );
    }
    moved_away(
        &pristine,
        &truth,
        &by_kind,
        &tmp.path().join("moved"),
        &mut figs,
    );
    figs.add("mutations tried", tried);
    figs.add("detected", detected);
    figs.add("missed in checksummed files", missed_covered);
    figs.add("silently wrong reads", wrong);
    figs.add("panics", panics);
    figs
}

/// Every segment and pack of the repository at `root`, with its bytes.
fn data_files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for sub in ["segments", "packs"] {
        if let Ok(rd) = std::fs::read_dir(root.join(".hangar").join(sub)) {
            for e in rd.flatten() {
                if let Ok(b) = std::fs::read(e.path()) {
                    out.insert(PathBuf::from(sub).join(e.file_name()), b);
                }
            }
        }
    }
    out
}

/// Runs every writer command once; each may fail (the file is missing), none may panic.
/// Returns how many were refused.
fn writer_commands(root: &Path) -> usize {
    let mut refused = 0;
    let mut run = |f: &dyn Fn() -> hangar_core::Result<()>| {
        if f().is_err() {
            refused += 1;
        }
    };
    let open = || Repository::open(root);
    run(&|| {
        let co = open()?.checkout_writer()?;
        staged_content(&co)?;
        co.close()
    });
    run(&|| {
        let co = open()?.checkout_writer()?;
        co.column("imgs")?
            .set(9999u64, TensorRef::new(&[7u8; IMG_LEN], &[IMG_LEN]))?;
        co.commit("while a file was away")?;
        co.close()
    });
    run(&|| {
        let co = open()?.checkout_writer()?;
        co.reset_staging_area()?;
        co.close()
    });
    run(&|| {
        let repo = open()?;
        repo.create_branch("moved-away-probe", None)?;
        let co = repo.checkout_writer_branch("moved-away-probe")?;
        co.close()?;
        repo.checkout_writer_branch("master")?.close()
    });
    refused
}

/// Moves each file away in turn, runs every writer command, puts it back, and checks
/// that nothing else was removed and every commit reads back exactly.
fn moved_away(
    pristine: &Path,
    truth: &Truth,
    by_kind: &BTreeMap<&str, Vec<PathBuf>>,
    work: &Path,
    figs: &mut Figures,
) {
    let before = data_files(pristine);
    let (mut tried, mut refused_total, mut lost, mut unreadable, mut panics) = (0, 0, 0, 0, 0);
    for (kind, paths) in by_kind {
        for rel in paths {
            let _ = std::fs::remove_dir_all(work);
            if let Err(e) = copy_dir(pristine, work) {
                figs.fail(format!("copying the repository: {e}"));
                return;
            }
            let path = work.join(rel);
            let aside = work.with_extension("aside");
            if let Err(e) = std::fs::rename(&path, &aside) {
                figs.fail(format!("moving {} away: {e}", rel.display()));
                continue;
            }
            tried += 1;
            let refused = match catch_unwind(AssertUnwindSafe(|| writer_commands(work))) {
                Ok(n) => n,
                Err(_) => {
                    panics += 1;
                    figs.fail(format!(
                        "a writer command panicked with {} moved away",
                        rel.display()
                    ));
                    continue;
                }
            };
            refused_total += refused;
            // The moved file aside, every other segment and pack must still be there as
            // it was.
            let after = data_files(work);
            let moved = rel.strip_prefix(".hangar").unwrap_or(rel);
            for (f, bytes) in &before {
                // The open staging segment is the staging area's own: a commit seals it and
                // a reset discards it, as they should.
                let staging_own = f.starts_with("segments")
                    && !truth
                        .sealed
                        .iter()
                        .any(|s| f.file_name().is_some_and(|n| n.to_string_lossy() == *s));
                if f != moved && !staging_own && after.get(f) != Some(bytes) {
                    lost += 1;
                    figs.fail(format!(
                        "{} ({kind}) moved away: a writer command removed or changed {}",
                        rel.display(),
                        f.display()
                    ));
                }
            }
            // Put it back (over whatever a command made in its place): every commit reads
            // back exactly.
            if let Err(e) = std::fs::rename(&aside, &path) {
                figs.fail(format!("putting {} back: {e}", rel.display()));
                continue;
            }
            let readable = Repository::open(work).is_ok_and(|repo| {
                truth.commits.iter().all(|(id, want)| {
                    repo.checkout_commit(id)
                        .and_then(|co| read_content(&co))
                        .is_ok_and(|got| &got == want)
                })
            });
            if !readable {
                unreadable += 1;
                figs.fail(format!(
                    "{} ({kind}) moved away and put back: a commit no longer reads back exactly",
                    rel.display()
                ));
            }
        }
    }
    figs.add(
        "files moved away, writer commands run, put back",
        format!(
            "{tried} files; {refused_total} of {} writer commands refused; {lost} other files removed or changed; {unreadable} repositories left unreadable; {panics} panics",
            tried * 4
        ),
    );
}
