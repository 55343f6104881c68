//! DESIGN §3 rule 10: no command deletes a file because an index or listing does not
//! mention it. Issue 11 item 1: with one `index/*.run` moved away, opening a writer
//! deleted every segment and pack that only the missing run listed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hangar_core::{DType, ErrorKind, NdArraySpec, Repository, TensorRef};

use crate::u8s;

/// Every data file (segments, packs, index runs) with its bytes.
fn data_files(hangar: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for sub in ["segments", "packs", "index"] {
        for e in std::fs::read_dir(hangar.join(sub)).unwrap() {
            let p = e.unwrap().path();
            out.insert(p.clone(), std::fs::read(&p).unwrap());
        }
    }
    out
}

fn runs(hangar: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(hangar.join("index"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// A repository whose index has two runs: a large first commit and a small second one
/// (too different in size to be merged), plus staged, uncommitted values.
fn two_runs() -> (tempfile::TempDir, BTreeMap<String, Vec<u8>>) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path(), "T", "t@x", false).unwrap();
    let co = repo.checkout_writer().unwrap();
    let imgs = co
        .add_ndarray_column("imgs", NdArraySpec::with_shape(DType::U8, &[80]))
        .unwrap();
    for i in 0..200u32 {
        imgs.set(u64::from(i), TensorRef::new(&[(i % 251) as u8; 80], &[80]))
            .unwrap();
    }
    co.commit("big").unwrap();
    imgs.set(7u64, TensorRef::new(&[255u8; 80], &[80])).unwrap();
    co.commit("small").unwrap();
    imgs.set(500u64, TensorRef::new(&[254u8; 80], &[80]))
        .unwrap();
    co.close().unwrap();
    let reader = repo.checkout().unwrap();
    let col = reader.column("imgs").unwrap();
    let mut expected = BTreeMap::new();
    for item in col.items().unwrap() {
        let (k, v) = item.unwrap();
        expected.insert(k.to_string(), u8s(&v));
    }
    (dir, expected)
}

fn check_moved_run_is_reported_and_nothing_deleted(which: usize, seq_text: &str) {
    let (dir, expected) = two_runs();
    let hangar = dir.path().join(".hangar");
    let all_runs = runs(&hangar);
    assert!(
        all_runs.len() >= 2,
        "the fixture needs two runs: {all_runs:?}"
    );
    let before = data_files(&hangar);
    let run = all_runs[which].clone();
    let aside = dir.path().join("moved-away.run");
    std::fs::rename(&run, &aside).unwrap();

    // Every way a writer opens refuses, naming the missing run; nothing is removed.
    let repo = Repository::open(dir.path()).unwrap();
    for attempt in 0..3 {
        let err = match attempt {
            0 => repo.checkout_writer().unwrap_err(),
            1 => repo.checkout_writer_branch("master").unwrap_err(),
            _ => Repository::open(dir.path())
                .unwrap()
                .checkout_writer()
                .unwrap_err(),
        };
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
        let text = err.to_string();
        assert!(text.contains(seq_text), "{text}");
        assert!(text.contains("Nothing was deleted"), "{text}");
    }
    let mut after = data_files(&hangar);
    after.insert(run.clone(), std::fs::read(&aside).unwrap());
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    assert!(before == after, "a data file changed");

    // verify names the missing run and lists what it located as unreferenced, kept.
    let report = repo.verify().unwrap();
    assert!(!report.is_ok());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.detail.contains(seq_text) && p.detail.contains("missing")),
        "{report}"
    );
    assert!(!report.unreferenced.is_empty(), "{report}");
    assert!(report.unreferenced.iter().all(|p| p.exists()));

    // Put back, everything is as it was: the writer opens, verify passes, data reads.
    std::fs::rename(&aside, &run).unwrap();
    let repo = Repository::open(dir.path()).unwrap();
    let report = repo.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert!(report.unreferenced.is_empty(), "{report}");
    let co = repo.checkout_writer().unwrap();
    let staged = co.column("imgs").unwrap();
    assert_eq!(u8s(&staged.get(500u64).unwrap()), vec![254u8; 80]);
    co.close().unwrap();
    let reader = repo.checkout().unwrap();
    let col = reader.column("imgs").unwrap();
    assert_eq!(col.len().unwrap(), expected.len());
    for item in col.items().unwrap() {
        let (k, v) = item.unwrap();
        assert_eq!(Some(&u8s(&v)), expected.get(&k.to_string()), "{k}");
    }
}

#[test]
fn a_missing_older_run_is_corruption_and_deletes_nothing() {
    check_moved_run_is_reported_and_nothing_deleted(0, "index run 0 is missing");
}

#[test]
fn a_missing_newest_run_is_corruption_and_deletes_nothing() {
    check_moved_run_is_reported_and_nothing_deleted(1, "index run 1 is missing");
}

#[test]
fn files_nothing_refers_to_are_kept_and_listed_not_deleted() {
    let (dir, _) = two_runs();
    let hangar = dir.path().join(".hangar");
    // Files no index run or journal refers to and the journal never reserved: a writer
    // cannot prove they are garbage, so it keeps them; verify lists them (not damage).
    let stray_segment = hangar.join("segments/0000abcd.arrow");
    let stray_pack = hangar.join("packs/0000abce.pack");
    std::fs::write(&stray_segment, b"not referenced").unwrap();
    std::fs::write(&stray_pack, b"not referenced either").unwrap();
    let repo = Repository::open(dir.path()).unwrap();
    let co = repo.checkout_writer().unwrap();
    co.column("imgs")
        .unwrap()
        .set(9u64, TensorRef::new(&[1u8; 80], &[80]))
        .unwrap();
    co.commit("after the strays").unwrap();
    co.reset_staging_area().ok();
    co.close().unwrap();
    assert_eq!(std::fs::read(&stray_segment).unwrap(), b"not referenced");
    assert_eq!(
        std::fs::read(&stray_pack).unwrap(),
        b"not referenced either"
    );
    let report = repo.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.unreferenced, vec![stray_segment, stray_pack]);
    assert!(report
        .to_string()
        .contains("2 unreferenced data files kept"));
    // New files never take the strays' ids.
    let co = repo.checkout_writer().unwrap();
    co.column("imgs")
        .unwrap()
        .set(10u64, TensorRef::new(&[2u8; 80], &[80]))
        .unwrap();
    co.commit("more").unwrap();
    co.close().unwrap();
    assert!(repo.verify().unwrap().is_ok());
}

#[test]
fn a_lost_journal_keeps_the_staging_segments_it_listed() {
    let (dir, _) = two_runs();
    let hangar = dir.path().join(".hangar");
    let before = data_files(&hangar);
    let journal = hangar.join("staging/journal");
    let aside = dir.path().join("journal.aside");
    std::fs::rename(&journal, &aside).unwrap();
    let repo = Repository::open(dir.path()).unwrap();
    // Without its journal the staging area starts empty (documented), but the open
    // segment holding the staged value stays on disk.
    let co = repo.checkout_writer().unwrap();
    assert!(!co.column("imgs").unwrap().contains(500u64).unwrap());
    co.close().unwrap();
    for (p, bytes) in &before {
        if p.starts_with(hangar.join("segments")) || p.starts_with(hangar.join("packs")) {
            assert_eq!(
                std::fs::read(p).ok().as_ref(),
                Some(bytes),
                "{}",
                p.display()
            );
        }
    }
    // Put back, the staged value is there again.
    std::fs::rename(&aside, &journal).unwrap();
    let co = Repository::open(dir.path())
        .unwrap()
        .checkout_writer()
        .unwrap();
    assert_eq!(
        u8s(&co.column("imgs").unwrap().get(500u64).unwrap()),
        vec![254u8; 80]
    );
    co.close().unwrap();
}

/// The staging segment that is still open (not sealed by a commit), after `two_runs`.
fn open_staging_segment(hangar: &Path) -> PathBuf {
    let sealed = hangar_store::internal::stage::journal_files(hangar).unwrap();
    let mut open: Vec<PathBuf> = std::fs::read_dir(hangar.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let id = u32::from_str_radix(p.file_stem().unwrap().to_str().unwrap(), 16).unwrap();
            sealed.created.contains(&id)
        })
        .collect();
    assert_eq!(open.len(), 1, "{open:?}");
    open.pop().unwrap()
}

#[test]
fn a_damaged_staging_area_is_reported_and_can_always_be_discarded() {
    for damage in ["truncate", "delete", "journal"] {
        let (dir, expected) = two_runs();
        let hangar = dir.path().join(".hangar");
        let seg = open_staging_segment(&hangar);
        match damage {
            "truncate" => {
                let len = std::fs::metadata(&seg).unwrap().len();
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&seg)
                    .unwrap()
                    .set_len(len / 2)
                    .unwrap();
            }
            "delete" => std::fs::remove_file(&seg).unwrap(),
            _ => {
                // A bad frame followed by good ones: damage, not a torn tail.
                let j = hangar.join("staging/journal");
                let mut b = std::fs::read(&j).unwrap();
                b[12] ^= 0xff;
                std::fs::write(&j, b).unwrap();
            }
        }
        let repo = Repository::open(dir.path()).unwrap();
        assert!(repo.checkout_writer().is_err(), "{damage}");
        let report = repo.verify().unwrap();
        assert!(!report.is_ok(), "{damage}: verify must report it");
        let damage_found = repo.staging_damage();
        assert!(!damage_found.is_empty(), "{damage}");
        assert!(
            damage_found
                .iter()
                .any(|p| p.detail.contains("reset") || p.detail.contains("journal")),
            "{damage}: {damage_found:?}"
        );
        let done = repo.discard_damaged_staging().unwrap();
        assert_eq!(done.branch, "master");
        if damage == "journal" {
            assert_eq!(done.changes, None);
        } else {
            assert!(done.changes.is_some_and(|n| n >= 1), "{damage}: {done:?}");
        }
        // Everything committed is intact, the staging area is empty and usable.
        let report = repo.verify().unwrap();
        assert!(report.is_ok(), "{damage}: {report}");
        let co = repo.checkout_writer().unwrap();
        assert!(matches!(co.status().unwrap(), hangar_core::Status::Clean));
        assert!(!co.column("imgs").unwrap().contains(500u64).unwrap());
        co.column("imgs")
            .unwrap()
            .set(501u64, TensorRef::new(&[3u8; 80], &[80]))
            .unwrap();
        co.commit("after the damage").unwrap();
        co.close().unwrap();
        let reader = repo.checkout().unwrap();
        let col = reader.column("imgs").unwrap();
        for (k, v) in &expected {
            let key: u64 = k.parse().unwrap();
            assert_eq!(&u8s(&col.get(key).unwrap()), v, "{damage} {k}");
        }
        assert!(repo.verify().unwrap().is_ok());
    }
}
