//! `Repository::gc`: what it keeps (branches, recent reflog entries, staged changes,
//! what open readers may read), what it removes, rewrites and refuses.

use std::time::Duration;

use hangar_core::gc::{GcOptions, GcReport};
use hangar_core::{DType, ErrorKind, NdArraySpec, Repository, TensorRef};

use crate::{kill9, kind, new_repo, spawn_child_with, u8s};

/// A 200-byte value (stored in a segment, not inline) that differs per `i`.
fn big(i: u32) -> Vec<u8> {
    (0..200u32).map(|j| (i * 7 + j) as u8).collect()
}

fn now() -> GcOptions {
    GcOptions {
        prune_expire: Some(Duration::ZERO),
        ..GcOptions::default()
    }
}

/// master holds "keep" (values 0..10); branch "doomed" adds "extra" (values 100..150)
/// and is then deleted. Returns the doomed branch's head.
fn repo_with_deleted_branch() -> (tempfile::TempDir, Repository, String) {
    let (dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = co
        .add_ndarray_column("keep", NdArraySpec::with_shape(DType::U8, &[200]))
        .unwrap();
    for i in 0..10 {
        c.set(i as u64, TensorRef::new(&big(i), &[200])).unwrap();
    }
    co.commit("keep").unwrap();
    co.close().unwrap();
    repo.create_branch("doomed", None).unwrap();
    let co = repo.checkout_writer_branch("doomed").unwrap();
    let c = co
        .add_ndarray_column("extra", NdArraySpec::with_shape(DType::U8, &[200]))
        .unwrap();
    for i in 100..150 {
        c.set(i as u64, TensorRef::new(&big(i), &[200])).unwrap();
    }
    let doomed = co.commit("extra").unwrap();
    co.close().unwrap();
    drop(repo.checkout_writer_branch("master").unwrap());
    repo.remove_branch("doomed", true).unwrap();
    (dir, repo, doomed.to_hex())
}

fn assert_master_intact(repo: &Repository) {
    let co = repo.checkout().unwrap();
    let c = co.column("keep").unwrap();
    for i in 0..10u32 {
        assert_eq!(u8s(&c.get(i as u64).unwrap()), big(i));
    }
    let report = repo.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

fn removed_bytes(r: &GcReport) -> u64 {
    r.removed.iter().chain(&r.rewritten).map(|f| f.bytes).sum()
}

#[test]
fn a_deleted_branch_is_kept_while_its_reflog_entry_is_young_and_removed_after() {
    let (_dir, repo, doomed) = repo_with_deleted_branch();
    let before = repo.disk_usage().unwrap();

    // The default grace (two weeks) keeps the deleted branch's commit.
    let r = repo.gc(&GcOptions::default()).unwrap();
    assert!(r.removed.is_empty() && r.rewritten.is_empty(), "{r:?}");
    assert_eq!(r.dead_entries, 0);
    assert!(repo.checkout_commit(&doomed).is_ok());
    // So does --prune=never.
    let never = GcOptions {
        prune_expire: None,
        ..GcOptions::default()
    };
    assert!(repo.gc(&never).unwrap().removed.is_empty());

    // A dry run says what --prune=now would remove and changes nothing.
    let dry = repo
        .gc(&GcOptions {
            dry_run: true,
            ..now()
        })
        .unwrap();
    assert!(dry.dry_run);
    assert!(
        !dry.removed.is_empty() && dry.bytes_removed > 50 * 200,
        "{dry:?}"
    );
    assert!(dry.dead_entries >= 50, "{dry:?}");
    assert!(dry.removed.iter().all(|f| f.path.exists()));
    assert_eq!(repo.disk_usage().unwrap(), before);
    assert!(repo.checkout_commit(&doomed).is_ok());

    let r = repo.gc(&now()).unwrap();
    assert_eq!(r.removed.len(), dry.removed.len(), "{r:?}");
    assert_eq!(r.bytes_removed, dry.bytes_removed);
    assert_eq!(r.bytes_removed, removed_bytes(&r));
    assert!(r.deferred.is_empty() && r.kept.is_empty(), "{r:?}");
    assert!(r.removed.iter().all(|f| !f.path.exists()));
    assert!(repo.disk_usage().unwrap() + r.bytes_removed <= before + 4096);
    assert_eq!(kind(repo.checkout_commit(&doomed)), ErrorKind::NotFound);
    assert_master_intact(&repo);
    assert!(repo.verify().unwrap().unreferenced.is_empty());

    // Nothing left to do; the removed values can be stored again.
    let again = repo.gc(&now()).unwrap();
    assert!(
        again.removed.is_empty() && again.dead_entries == 0,
        "{again:?}"
    );
    let co = repo.checkout_writer().unwrap();
    let c = co
        .add_ndarray_column("extra", NdArraySpec::with_shape(DType::U8, &[200]))
        .unwrap();
    c.set(100u64, TensorRef::new(&big(100), &[200])).unwrap();
    co.commit("again").unwrap();
    co.close().unwrap();
    let co = repo.checkout().unwrap();
    assert_eq!(
        u8s(&co.column("extra").unwrap().get(100u64).unwrap()),
        big(100)
    );
    drop(co);
    assert_master_intact(&repo);
}

#[test]
fn open_readers_defer_deletion_and_keep_reading() {
    let (dir, repo, doomed) = repo_with_deleted_branch();
    // A reader of the doomed commit through this handle.
    let reader = repo.checkout_commit(&doomed).unwrap();
    let r = repo.gc(&now()).unwrap();
    assert!(r.removed.is_empty() && !r.deferred.is_empty(), "{r:?}");
    assert_eq!(r.bytes_removed, 0);
    assert!(r.deferred.iter().all(|f| f.path.exists()));
    let extra = reader.column("extra").unwrap();
    for i in 100..150u32 {
        assert_eq!(u8s(&extra.get(i as u64).unwrap()), big(i));
    }
    drop(extra);
    drop(reader);
    // The deferred files are garbage no index run refers to; the next gc proves it from
    // their contents and removes them.
    let unreferenced = repo.verify().unwrap().unreferenced;
    assert_eq!(unreferenced.len(), r.deferred.len(), "{unreferenced:?}");
    let r2 = repo.gc(&now()).unwrap();
    assert_eq!(r2.removed.len(), r.deferred.len(), "{r2:?}");
    assert!(r2.kept.is_empty());
    assert_master_intact(&repo);
    assert!(repo.verify().unwrap().unreferenced.is_empty());

    // Another handle (another store, as another process would have) defers too.
    let (_dir2, repo2, doomed2) = repo_with_deleted_branch();
    let other = Repository::open(_dir2.path()).unwrap();
    let reader = other.checkout_commit(&doomed2).unwrap();
    let r = repo2.gc(&now()).unwrap();
    assert!(r.removed.is_empty() && !r.deferred.is_empty(), "{r:?}");
    let extra = reader.column("extra").unwrap();
    assert_eq!(u8s(&extra.get(120u64).unwrap()), big(120));
    drop((extra, reader, other));
    assert!(!repo2.gc(&now()).unwrap().removed.is_empty());
    assert_master_intact(&repo2);
    drop(dir);
}

/// Stores again what the doomed branch stored: the same column (so the same schema and
/// record-table objects) with the same values, commits, and checks through a fresh
/// handle, after a gc with nothing open, that every value reads.
fn store_the_doomed_values_again(repo: &Repository) {
    let co = repo.checkout_writer().unwrap();
    let c = co
        .add_ndarray_column("extra", NdArraySpec::with_shape(DType::U8, &[200]))
        .unwrap();
    for i in 100..150 {
        c.set(i as u64, TensorRef::new(&big(i), &[200])).unwrap();
    }
    drop(c);
    co.commit("the same values again").unwrap();
    co.close().unwrap();
}

fn assert_doomed_values_read_again(dir: &std::path::Path) {
    let fresh = Repository::open(dir).unwrap();
    let r = fresh.gc(&now()).unwrap();
    assert!(r.kept.is_empty() && r.deferred.is_empty(), "{r:?}");
    let report = fresh.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert!(report.unreferenced.is_empty(), "{report}");
    let fresh = Repository::open(dir).unwrap();
    let co = fresh.checkout().unwrap();
    let extra = co.column("extra").unwrap();
    for i in 100..150u32 {
        assert_eq!(u8s(&extra.get(i as u64).unwrap()), big(i));
    }
    assert_master_intact(&fresh);
}

/// A gc that defers its deletions (a reader is open) leaves the condemned files in place
/// and their old index runs mapped for that reader. A value or object put again
/// afterwards must be stored again, not deduplicated against those files: the next gc
/// deletes them (or, finding live content no index run locates, keeps them stranded),
/// and the new commit would refer to what the repository no longer holds.
#[test]
fn content_put_again_after_a_deferring_gc_is_stored_again() {
    // The reader and the writer share a handle.
    let (dir, repo, doomed) = repo_with_deleted_branch();
    let reader = repo.checkout_commit(&doomed).unwrap();
    let r = repo.gc(&now()).unwrap();
    assert!(!r.deferred.is_empty(), "{r:?}");
    store_the_doomed_values_again(&repo);
    drop((reader, repo));
    assert_doomed_values_read_again(dir.path());

    // The reader holds another handle (as another process would); the writer's handle
    // mapped the index runs before the gc and finds them retired when it refreshes.
    let (dir, repo, doomed) = repo_with_deleted_branch();
    let other = Repository::open(dir.path()).unwrap();
    let reader = other.checkout_commit(&doomed).unwrap();
    let gc_handle = Repository::open(dir.path()).unwrap();
    let r = gc_handle.gc(&now()).unwrap();
    assert!(!r.deferred.is_empty(), "{r:?}");
    drop(gc_handle);
    store_the_doomed_values_again(&repo);
    drop((reader, other, repo));
    assert_doomed_values_read_again(dir.path());
}

#[test]
fn a_writer_blocks_gc_and_staged_values_are_kept() {
    let (_dir, repo, _) = repo_with_deleted_branch();
    let co = repo.checkout_writer().unwrap();
    assert_eq!(kind(repo.gc(&now())), ErrorKind::Locked);
    // Stage a value the deleted branch stored: deduplicated against its segment.
    let c = co
        .add_ndarray_column("staged", NdArraySpec::with_shape(DType::U8, &[200]))
        .unwrap();
    c.set("s", TensorRef::new(&big(120), &[200])).unwrap();
    drop(c);
    co.close().unwrap();
    let r = repo.gc(&now()).unwrap();
    // The segment holding it is mostly dead: rewritten, the one staged value moved.
    assert!(!r.removed.is_empty() || !r.rewritten.is_empty(), "{r:?}");
    let co = repo.checkout_writer().unwrap();
    co.commit("staged").unwrap();
    co.close().unwrap();
    let co = repo.checkout().unwrap();
    assert_eq!(
        u8s(&co.column("staged").unwrap().get("s").unwrap()),
        big(120)
    );
    drop(co);
    assert_master_intact(&repo);
}

/// Variable-shape value `i` of column "v": its rows (of 5) and bytes.
fn var_value(i: u32) -> (usize, Vec<u8>) {
    let rows = 2 + (i as usize % 30);
    (
        rows,
        (0..rows * 5).map(|j| (i as usize * 3 + j) as u8).collect(),
    )
}

/// Commits on `branch`, in columns "f" (u8 [200]) and "v" (u8, variable shape up to
/// [40, 40]), value `i` of each for every `i` of `keys`.
fn commit_fixed_and_var(repo: &Repository, branch: &str, keys: impl IntoIterator<Item = u32>) {
    let co = repo.checkout_writer_branch(branch).unwrap();
    let fixed = co
        .add_ndarray_column("f", NdArraySpec::with_shape(DType::U8, &[200]))
        .unwrap();
    let var = co
        .add_ndarray_column(
            "v",
            NdArraySpec::with_shape(DType::U8, &[40, 40]).variable_shape(true),
        )
        .unwrap();
    for i in keys {
        fixed
            .set(i as u64, TensorRef::new(&big(i), &[200]))
            .unwrap();
        let (rows, v) = var_value(i);
        var.set(i as u64, TensorRef::new(&v, &[rows, 5])).unwrap();
    }
    drop((fixed, var));
    co.commit(branch).unwrap();
    co.close().unwrap();
}

#[test]
fn mostly_dead_files_are_rewritten_with_their_live_values_and_shapes() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    co.add_str_column("s").unwrap().set("x", "x").unwrap();
    co.commit("base").unwrap();
    co.close().unwrap();
    // A branch writes 40 fixed-shape and 40 variable-shape values...
    repo.create_branch("tmp", None).unwrap();
    commit_fixed_and_var(&repo, "tmp", 0..40);
    // ...of which master then stores 3 of each again (deduplicated: same files).
    commit_fixed_and_var(&repo, "master", [3, 17, 31]);
    repo.remove_branch("tmp", true).unwrap();

    let r = repo.gc(&now()).unwrap();
    let segments: Vec<_> = r
        .rewritten
        .iter()
        .filter(|f| f.path.extension().is_some_and(|e| e == "arrow"))
        .collect();
    assert_eq!(segments.len(), 2, "{r:?}");
    assert!(
        r.written.len() >= 2 && r.written.iter().all(|p| p.exists()),
        "{r:?}"
    );
    assert!(r.rewritten.iter().all(|f| !f.path.exists()));
    let co = repo.checkout().unwrap();
    let (fixed, var) = (co.column("f").unwrap(), co.column("v").unwrap());
    assert_eq!(fixed.len().unwrap(), 3);
    for i in [3u32, 17, 31] {
        assert_eq!(u8s(&fixed.get(i as u64).unwrap()), big(i));
        let (rows, want) = var_value(i);
        match var.get(i as u64).unwrap() {
            hangar_core::Value::Tensor(t) => {
                assert_eq!(t.shape(), &[rows, 5]);
                assert_eq!(t.as_bytes(), &want[..]);
            }
            other => panic!("{other:?}"),
        }
    }
    drop((fixed, var, co));
    assert_master_intact_without_keep(&repo);
    // The rewritten files are not rewritten again.
    let again = repo.gc(&now()).unwrap();
    assert!(
        again.rewritten.is_empty() && again.removed.is_empty(),
        "{again:?}"
    );
}

fn assert_master_intact_without_keep(repo: &Repository) {
    let report = repo.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert!(report.unreferenced.is_empty(), "{:?}", report.unreferenced);
}

#[test]
fn unreferenced_files_go_only_when_their_contents_prove_them_garbage() {
    let (_dir, repo, _) = repo_with_deleted_branch();
    let hangar = repo.hangar_dir().to_path_buf();
    let packs = hangar.join("packs");
    let first_pack = std::fs::read_dir(&packs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pack"))
        .unwrap();
    // A copy of a live pack under an id no index run knows: every object in it is also
    // where the index says, so it is garbage.
    let copy = packs.join("000000f0.pack");
    std::fs::copy(&first_pack, &copy).unwrap();
    // Bytes that are not a pack: not provably garbage, kept.
    let junk = packs.join("000000f1.pack");
    std::fs::write(&junk, b"not a pack at all").unwrap();
    let r = repo.gc(&GcOptions::default()).unwrap();
    assert!(r.removed.iter().any(|f| f.path == copy), "{r:?}");
    assert!(!copy.exists());
    assert_eq!(r.kept.len(), 1, "{r:?}");
    assert_eq!(r.kept[0].path, junk);
    assert!(
        r.kept[0].why.contains("not a readable pack"),
        "{}",
        r.kept[0].why
    );
    assert!(junk.exists());

    // A missing index run: gc refuses before deleting anything.
    std::fs::remove_file(&junk).unwrap();
    let run = std::fs::read_dir(hangar.join("index"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .next()
        .unwrap();
    let moved = hangar.join("run.moved");
    std::fs::rename(&run, &moved).unwrap();
    let files_before = std::fs::read_dir(&packs).unwrap().count();
    let e = repo.gc(&now()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.to_string().contains("missing"), "{e}");
    assert_eq!(std::fs::read_dir(&packs).unwrap().count(), files_before);
    std::fs::rename(&moved, &run).unwrap();
    assert_master_intact(&repo);
}

#[test]
fn a_reader_in_another_process_keeps_reading_through_a_gc() {
    let (dir, repo, doomed) = repo_with_deleted_branch();
    let (child, _) = spawn_child_with(
        "read_during_gc",
        dir.path(),
        &[("HANGAR_TEST_COMMIT", &doomed)],
    );
    let r = repo.gc(&now()).unwrap();
    assert!(r.removed.is_empty() && !r.deferred.is_empty(), "{r:?}");
    // The child reads its (now unreachable) commit whole, after the gc.
    let base = dir.path().display().to_string();
    std::fs::write(format!("{base}.go"), b"").unwrap();
    let result = format!("{base}.result");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !std::path::Path::new(&result).exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let text = std::fs::read_to_string(&result).unwrap();
    kill9(child);
    assert_eq!(text, "read 50");
    // With the reader gone the next gc removes what it deferred.
    let r2 = repo.gc(&now()).unwrap();
    assert_eq!(r2.removed.len(), r.deferred.len(), "{r2:?}");
    assert_master_intact(&repo);
    let _ = std::fs::remove_file(format!("{base}.go"));
    let _ = std::fs::remove_file(result);
}

/// Values of `n` samples of 200 bytes from `seed` on, end to end.
fn buffer(seed: u32, n: u32) -> Vec<u8> {
    (seed..seed + n).flat_map(big).collect()
}

/// A commit indexes exactly the values its records refer to: with nothing replaced it
/// keeps every staged value without collecting them; once a staged record is replaced or
/// removed — by a single put, a bulk put over staged keys, a batch naming a key twice, a
/// delete, a column deleted, and after a writer reopens over such a journal — the values
/// left without a record stay out of it (gc then finds nothing dead).
#[test]
fn a_commit_keeps_exactly_the_staged_values_its_records_refer_to() {
    fn spec() -> NdArraySpec {
        NdArraySpec::with_shape(DType::U8, &[200])
    }
    type Stage = fn(&hangar_core::WriterCheckout, &hangar_core::WriterColumn);
    // What to stage, and (key, value seed) pairs the commit then holds.
    type Case = (&'static str, Stage, Vec<(u64, u32)>);
    let cases: Vec<Case> = vec![
        (
            "nothing replaced",
            |_, c| {
                c.extend_from_buffer(0..100u64, TensorRef::new(&buffer(0, 100), &[100, 200]))
                    .unwrap();
                c.set(100u64, TensorRef::new(&big(500), &[200])).unwrap();
            },
            vec![(0, 0), (99, 99), (100, 500)],
        ),
        (
            "a put over a staged key",
            |_, c| {
                c.set(1u64, TensorRef::new(&big(1), &[200])).unwrap();
                c.set(1u64, TensorRef::new(&big(2), &[200])).unwrap();
            },
            vec![(1, 2)],
        ),
        (
            "a bulk put over staged keys",
            |_, c| {
                c.extend_from_buffer(0..100u64, TensorRef::new(&buffer(0, 100), &[100, 200]))
                    .unwrap();
                c.extend_from_buffer(50..150u64, TensorRef::new(&buffer(1000, 100), &[100, 200]))
                    .unwrap();
            },
            vec![(0, 0), (49, 49), (50, 1000), (149, 1099)],
        ),
        (
            "a batch naming a key twice",
            |_, c| {
                let keys = (0..100u64).chain([7]);
                c.extend_from_buffer(keys, TensorRef::new(&buffer(0, 101), &[101, 200]))
                    .unwrap();
            },
            vec![(7, 100), (8, 8)],
        ),
        (
            "a delete",
            |_, c| {
                c.extend_from_buffer(0..100u64, TensorRef::new(&buffer(0, 100), &[100, 200]))
                    .unwrap();
                c.delete(5u64).unwrap();
            },
            vec![(4, 4), (6, 6)],
        ),
        (
            "a column deleted",
            |co, c| {
                let other = co.add_ndarray_column("other", spec()).unwrap();
                other
                    .extend_from_buffer(0..100u64, TensorRef::new(&buffer(3000, 100), &[100, 200]))
                    .unwrap();
                co.delete_column("other").unwrap();
                c.set(0u64, TensorRef::new(&big(0), &[200])).unwrap();
            },
            vec![(0, 0)],
        ),
    ];
    for (what, stage, expect) in cases {
        for reopen in [false, true] {
            let (_dir, repo) = new_repo();
            let co = repo.checkout_writer().unwrap();
            let c = co.add_ndarray_column("c", spec()).unwrap();
            stage(&co, &c);
            let co = if reopen {
                // The staging area rebuilt from its journal by a new writer.
                co.close().unwrap();
                repo.checkout_writer().unwrap()
            } else {
                co
            };
            co.commit(what).unwrap();
            let c = co.column("c").unwrap();
            for (key, value) in &expect {
                assert_eq!(u8s(&c.get(*key).unwrap()), big(*value), "{what}, key {key}");
            }
            co.close().unwrap();
            let r = repo.gc(&now()).unwrap();
            assert_eq!(r.dead_entries, 0, "{what} (reopened: {reopen}): {r:?}");
            assert!(repo.verify().unwrap().is_ok(), "{what}");
        }
    }
}
