use hangar_core::{DType, ErrorKind, NdArraySpec, Status, TensorRef};

use crate::{copy_dir, kill9, kind, new_repo, repo_with_commit, spawn_child, u8s};

/// Everything the staging area holds: every column's samples and the status.
fn staged_summary(co: &hangar_core::WriterCheckout) -> Vec<String> {
    let mut out = vec![format!("{:?}", co.status().unwrap())];
    for name in co.column_names().unwrap() {
        for item in co.column(&name).unwrap().items().unwrap() {
            let (k, v) = item.unwrap();
            out.push(format!("{name} {k} {:?}", u8s(&v)));
        }
    }
    out
}

fn segment_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join(".hangar/segments"))
        .unwrap()
        .count()
}

#[test]
fn staged_changes_survive_close_and_reopen() {
    let (_dir, repo, _) = repo_with_commit();
    let co = repo.checkout_writer().unwrap();
    co.column("imgs")
        .unwrap()
        .set("new", TensorRef::new(&[3u8; 6], &[2, 3]))
        .unwrap();
    co.column("imgs").unwrap().delete("b").unwrap();
    co.delete_column("labels").unwrap();
    co.add_str_column("texts")
        .unwrap()
        .set("t", "staged")
        .unwrap();
    co.metadata().set("m", "x").unwrap();
    co.close().unwrap();
    let co = repo.checkout_writer().unwrap();
    let imgs = co.column("imgs").unwrap();
    assert_eq!(u8s(&imgs.get("new").unwrap()), [3; 6]);
    assert!(!imgs.contains("b").unwrap());
    assert_eq!(imgs.len().unwrap(), 3);
    assert!(!co.has_column("labels").unwrap());
    assert_eq!(
        co.column("texts")
            .unwrap()
            .get("t")
            .unwrap()
            .into_str()
            .unwrap(),
        "staged"
    );
    assert_eq!(co.metadata().get("m").unwrap(), "x");
    let Status::Dirty(changes) = co.status().unwrap() else {
        panic!("expected dirty")
    };
    assert_eq!(changes.columns_added, ["texts"]);
    assert_eq!(changes.columns_deleted, ["labels"]);
    assert_eq!(
        changes
            .samples
            .iter()
            .find(|s| s.0 == "imgs")
            .map(|s| (s.1, s.2)),
        Some((1, 1))
    );
    assert_eq!(changes.metadata_changes, 1);
}

#[test]
fn status_works_before_the_first_commit() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    assert_eq!(co.status().unwrap(), Status::Clean);
    assert_eq!(co.commit_hash().unwrap(), None);
    co.add_ndarray_column("c", NdArraySpec::with_shape(DType::U8, &[1]))
        .unwrap()
        .set("k", TensorRef::new(&[1u8], &[1]))
        .unwrap();
    let Status::Dirty(ch) = co.status().unwrap() else {
        panic!()
    };
    assert_eq!(
        (ch.columns_added.as_slice(), ch.samples.as_slice()),
        (&["c".to_string()][..], &[("c".to_string(), 1, 0)][..])
    );
    co.commit("first").unwrap();
    assert_eq!(co.status().unwrap(), Status::Clean);
}

#[test]
fn reset_discards_staged_changes_and_their_data() {
    let (dir, repo, head) = repo_with_commit();
    let before = segment_files(dir.path());
    let co = repo.checkout_writer().unwrap();
    assert_eq!(kind(co.reset_staging_area()), ErrorKind::NothingToCommit);
    let imgs = co.column("imgs").unwrap();
    for i in 0..50u8 {
        imgs.set(format!("n{i}"), TensorRef::new(&[i; 6], &[2, 3]))
            .unwrap();
    }
    imgs.delete("a").unwrap();
    co.add_str_column("extra").unwrap();
    // imgs' 6-byte values are inline; these 100-byte ones go to a staging segment.
    let big = co
        .add_ndarray_column("extra_big", NdArraySpec::with_shape(DType::U8, &[100]))
        .unwrap();
    for i in 0..20u8 {
        big.set(u64::from(i), TensorRef::new(&[i; 100], &[100]))
            .unwrap();
    }
    co.flush().unwrap();
    assert!(segment_files(dir.path()) > before);
    assert_eq!(co.reset_staging_area().unwrap(), Some(head));
    assert_eq!(segment_files(dir.path()), before);
    assert_eq!(co.status().unwrap(), Status::Clean);
    assert!(!co.has_column("extra").unwrap() && !co.has_column("extra_big").unwrap());
    let imgs = co.column("imgs").unwrap();
    assert_eq!(imgs.len().unwrap(), 3);
    assert!(imgs.contains("a").unwrap() && !imgs.contains("n1").unwrap());
    co.close().unwrap();
    assert!(repo.verify().unwrap().is_ok());
    let co = repo.checkout_writer().unwrap();
    assert_eq!(co.status().unwrap(), Status::Clean);
}

#[test]
fn reset_before_the_first_commit_empties_the_staging_area() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    co.add_str_column("s").unwrap();
    assert_eq!(co.reset_staging_area().unwrap(), None);
    assert!(co.column_names().unwrap().is_empty());
}

#[test]
fn write_through_changes_survive_kill_9() {
    let (dir, repo, _) = repo_with_commit();
    let (child, _) = spawn_child("stage_plain", dir.path());
    kill9(child);
    let co = repo.checkout_writer().unwrap();
    let c = co.column("staged").unwrap();
    assert_eq!(c.len().unwrap(), 100);
    for i in [0u64, 42, 99] {
        assert_eq!(u8s(&c.get(i).unwrap()), [i as u8; 4]);
    }
    assert_eq!(co.metadata().get("note").unwrap(), "from the child");
    co.commit("rescued").unwrap();
    co.close().unwrap();
    assert!(repo.verify().unwrap().is_ok());
}

#[test]
fn an_unfinished_bulk_session_loses_only_its_own_writes_on_kill_9() {
    let (dir, repo, _) = repo_with_commit();
    let (child, _) = spawn_child("stage_bulk_unfinished", dir.path());
    kill9(child);
    let co = repo.checkout_writer().unwrap();
    let c = co.column("durable").unwrap();
    assert!(c.contains("before").unwrap());
    assert!(!c.contains("in_session").unwrap());
}

#[test]
fn a_torn_journal_tail_is_ignored() {
    let (dir, repo, _) = repo_with_commit();
    let co = repo.checkout_writer().unwrap();
    co.column("labels")
        .unwrap()
        .set("z", TensorRef::new(&[5i64], &[1]))
        .unwrap();
    co.close().unwrap();
    let journal = dir.path().join(".hangar/staging/journal");
    let mut bytes = std::fs::read(&journal).unwrap();
    bytes.extend_from_slice(&[0x30, 0, 0, 0, 1, 2, 3]); // half a frame
    std::fs::write(&journal, &bytes).unwrap();
    let co = repo.checkout_writer().unwrap();
    assert_eq!(
        u8s(&co.column("labels").unwrap().get("z").unwrap()),
        5i64.to_le_bytes()
    );
    co.column("labels")
        .unwrap()
        .set("y", TensorRef::new(&[6i64], &[1]))
        .unwrap();
    co.commit("after a torn tail").unwrap();
}

#[test]
fn a_large_journal_is_compacted_and_replays_the_same_state() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    co.set_journal_compaction_threshold(1 << 20).unwrap();
    let c = co
        .add_ndarray_column("big", NdArraySpec::with_shape(DType::U8, &[4096]))
        .unwrap();
    let mut v = vec![0u8; 4096];
    // 8 MiB of write-through payloads pass through the journal: compaction kicks in.
    for i in 0..2000u32 {
        v[..4].copy_from_slice(&i.to_le_bytes());
        c.set(u64::from(i % 50), TensorRef::new(&v, &[4096]))
            .unwrap();
    }
    let journal = repo.hangar_dir().join("staging/journal");
    assert!(std::fs::metadata(&journal).unwrap().len() < 3 << 20);
    co.close().unwrap();
    let co = repo.checkout_writer().unwrap();
    let c = co.column("big").unwrap();
    assert_eq!(c.len().unwrap(), 50);
    let got = c.get(49u64).unwrap().into_tensor().unwrap();
    assert_eq!(&got.as_bytes()[..4], &1999u32.to_le_bytes());
    co.commit("after compaction").unwrap();
    co.close().unwrap();
    assert!(repo.verify().unwrap().is_ok());
}

#[test]
fn all_or_nothing_undoes_every_staged_change_of_a_failed_run() {
    let (dir, repo, _) = repo_with_commit();
    let co = repo.checkout_writer().unwrap();
    co.column("imgs")
        .unwrap()
        .set("before", TensorRef::new(&[3u8; 6], &[2, 3]))
        .unwrap();
    let hangar = dir.path().join(".hangar");
    let listing = |sub: &str| -> Vec<(std::path::PathBuf, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(hangar.join(sub))
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                let b = std::fs::read(&p).unwrap();
                (p, b)
            })
            .collect();
        v.sort();
        v
    };
    co.flush().unwrap();
    let staged_before = staged_summary(&co);
    let (segs, packs) = (listing("segments"), listing("packs"));
    let journal = std::fs::read(hangar.join("staging/journal")).unwrap();
    for bulk in [false, true] {
        let r: hangar_core::Result<()> = co.all_or_nothing(|| {
            let session = if bulk { Some(co.bulk()?) } else { None };
            let imgs = co.column("imgs")?;
            // Enough data to write batches to the segment and a new one.
            for i in 0..3000u64 {
                imgs.set(i + 1000, TensorRef::new(&[(i % 251) as u8; 6], &[2, 3]))?;
            }
            imgs.delete("a")?;
            let big =
                co.add_ndarray_column("big", NdArraySpec::with_shape(DType::U8, &[1 << 16]))?;
            for i in 0..300u64 {
                big.set(i, TensorRef::new(&vec![(i % 7) as u8; 1 << 16], &[1 << 16]))?;
            }
            co.metadata().set("m", "x")?;
            co.flush()?;
            if let Some(s) = session {
                s.finish()?;
            }
            Err(hangar_core::Error::InvalidArgument("the run failed".into()))
        });
        assert_eq!(r.unwrap_err().to_string(), "the run failed");
        assert_eq!(staged_summary(&co), staged_before, "bulk {bulk}");
        assert_eq!(listing("segments"), segs, "bulk {bulk}: segments");
        assert_eq!(listing("packs"), packs);
        assert_eq!(
            std::fs::read(hangar.join("staging/journal")).unwrap(),
            journal
        );
    }
    // The writer goes on as if nothing happened, and a new one sees the same.
    co.column("imgs")
        .unwrap()
        .set("after", TensorRef::new(&[4u8; 6], &[2, 3]))
        .unwrap();
    co.commit("after a failed run").unwrap();
    co.close().unwrap();
    let report = repo.verify().unwrap();
    assert!(report.is_ok() && report.unreferenced.is_empty(), "{report}");
    let reader = repo.checkout().unwrap();
    let imgs = reader.column("imgs").unwrap();
    assert!(imgs.contains("before").unwrap() && imgs.contains("after").unwrap());
    assert!(imgs.contains("a").unwrap() && !imgs.contains(1000u64).unwrap());
    assert!(!reader.column_names().unwrap().contains(&"big".to_string()));
    // A success keeps everything.
    let co = repo.checkout_writer().unwrap();
    co.all_or_nothing(|| {
        co.column("imgs")?
            .set("kept", TensorRef::new(&[5u8; 6], &[2, 3]))
    })
    .unwrap();
    assert!(co.column("imgs").unwrap().contains("kept").unwrap());
    co.close().unwrap();
}

fn segment_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir.join(".hangar/segments"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

/// Overwritten and deleted staged values are never sealed into the commit: only what a
/// staged record refers to reaches the repository's files (issue 11, item 3).
#[test]
fn a_commit_keeps_only_values_a_staged_record_refers_to() {
    let (dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = co
        .add_ndarray_column("imgs", NdArraySpec::with_shape(DType::U8, &[4096]))
        .unwrap();
    let n = co
        .add_ndarray_column(
            "n",
            NdArraySpec::with_shape(DType::U8, &[3, 3])
                .variable_shape(true)
                .contains_subsamples(true),
        )
        .unwrap();
    let v = |round: u8, i: u32| vec![round.wrapping_mul(97) ^ i as u8; 4096];
    for round in 0..4u8 {
        for i in 0..50u32 {
            c.set(i, TensorRef::new(&v(round, i), &[4096])).unwrap();
        }
        for s in 0..5u32 {
            let sub = [round, s as u8, 7, 7, 7, 7];
            n.set_subsample(s, 0u32, TensorRef::new(&sub, &[2, 3]))
                .unwrap();
            n.set_subsample(s, 1u32, TensorRef::new(&sub[..3], &[1, 3]))
                .unwrap();
        }
    }
    for i in 40..50u32 {
        c.delete(i).unwrap();
    }
    n.delete(4u32).unwrap();
    let staged = segment_bytes(dir.path());
    co.commit("last round only").unwrap();
    let committed = segment_bytes(dir.path());
    // 40 live values of 4 KiB (plus a few small ones) out of 200 staged.
    assert!(
        committed < 40 * 4096 * 5 / 4,
        "{committed} bytes on disk for 160 KiB of live values ({staged} staged)"
    );
    co.close().unwrap();
    let r = repo.checkout().unwrap();
    let imgs = r.column("imgs").unwrap();
    assert_eq!(imgs.len().unwrap(), 40);
    for i in 0..40u32 {
        assert_eq!(u8s(&imgs.get(i).unwrap()), v(3, i));
    }
    let n = r.column("n").unwrap();
    assert_eq!(n.len().unwrap(), 4);
    for s in 0..4u32 {
        let sub = [3, s as u8, 7, 7, 7, 7];
        assert_eq!(u8s(&n.get_subsample(s, 0u32).unwrap()), sub);
        assert_eq!(u8s(&n.get_subsample(s, 1u32).unwrap()), sub[..3]);
    }
    let report = repo.verify().unwrap();
    assert!(report.is_ok() && report.unreferenced.is_empty(), "{report}");
}

#[test]
fn a_batch_put_writes_its_values_once_and_survives_kill_at_return() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = co
        .add_ndarray_column("big", NdArraySpec::with_shape(DType::U8, &[1024]))
        .unwrap();
    let n = 2000usize;
    let data: Vec<u8> = (0..n * 1024).map(|i| (i / 1024 + i % 7) as u8).collect();
    c.extend_from_buffer(0..n as u64, TensorRef::new(&data, &[n, 1024]))
        .unwrap();
    // Outside a bulk session too, the values reach the journal only as locations in
    // their segment: 2 MB of values, a journal of a few dozen bytes per sample.
    let journal = repo.hangar_dir().join("staging/journal");
    let len = std::fs::metadata(&journal).unwrap().len();
    assert!(
        len < 200 * n as u64,
        "journal of {len} bytes for {n} samples"
    );
    // Acknowledged on return: a copy of the repository taken now (what kill -9 leaves)
    // holds every sample.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(repo.path(), copy.path());
    co.close().unwrap();
    let repo = hangar_core::Repository::open(copy.path()).unwrap();
    let co = repo.checkout_writer().unwrap();
    let c = co.column("big").unwrap();
    assert_eq!(c.len().unwrap(), n);
    assert_eq!(u8s(&c.get(1999u64).unwrap()), data[1999 * 1024..].to_vec());
    co.commit("batch").unwrap();
}

#[test]
fn a_put_too_large_for_one_journal_frame_survives_reopening_whole() {
    // 1.3M inline samples of 48 bytes in one call: a change of ~80 MB, journalled as
    // parts of at most 64 MiB in one group (one frame could not hold a change past
    // 2 GiB, and such a put was cut off as a torn tail at the next open).
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = co
        .add_ndarray_column("small", NdArraySpec::with_shape(DType::U8, &[48]))
        .unwrap();
    let n = 1_300_000usize;
    let data: Vec<u8> = (0..n * 48).map(|i| (i / 48 % 251) as u8).collect();
    c.extend_from_buffer(0..n as u64, TensorRef::new(&data, &[n, 48]))
        .unwrap();
    let journal = repo.hangar_dir().join("staging/journal");
    let frames = hangar_store::internal::journal::Journal::read(&journal).unwrap();
    // Record parts (type 9) closed by a record (type 2).
    let parts = frames.iter().filter(|f| f.frame_type == 9).count();
    assert!(parts >= 1, "{parts} record parts");
    assert!(frames
        .iter()
        .all(|f| f.body.len() <= (64 << 20) + (1 << 10)));
    let copy = tempfile::tempdir().unwrap();
    copy_dir(repo.path(), copy.path());
    co.close().unwrap();
    let repo = hangar_core::Repository::open(copy.path()).unwrap();
    let co = repo.checkout_writer().unwrap();
    let c = co.column("small").unwrap();
    assert_eq!(c.len().unwrap(), n);
    for k in [0usize, 700_000, n - 1] {
        assert_eq!(
            u8s(&c.get(k as u64).unwrap()),
            data[k * 48..(k + 1) * 48].to_vec()
        );
    }
    co.commit("large").unwrap();
    assert_eq!(
        repo.checkout()
            .unwrap()
            .column("small")
            .unwrap()
            .len()
            .unwrap(),
        n
    );
}

/// Every file under `.hangar` with its bytes (to show a view changed nothing on disk).
fn hangar_files(dir: &std::path::Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![dir.join(".hangar")];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Stages `big(1)` under "through" (write-through: its bytes in the journal) and
/// `big(2..12)` under 100..110 (a batch put, written to the open segment).
fn stage_big_values(col: &hangar_core::WriterColumn) {
    col.set("through", TensorRef::new(&big(1), &[100])).unwrap();
    let batch: Vec<u8> = (2..12).flat_map(big).collect();
    col.extend_from_buffer(
        (0..10u64).map(|i| i + 100),
        TensorRef::new(&batch, &[10, 100]),
    )
    .unwrap();
}

fn big(i: u8) -> Vec<u8> {
    (0..100u8)
        .map(|j| j.wrapping_mul(i).wrapping_add(i))
        .collect()
}

#[test]
fn a_staged_view_reads_a_live_writers_staging_area_and_changes_nothing() {
    let (dir, repo, head) = repo_with_commit();
    let co = repo.checkout_writer().unwrap();
    // A write-through value (its bytes in the journal), values a batch put wrote to
    // the open segment, an inline one, a deletion and metadata.
    let col = co
        .add_ndarray_column("big", NdArraySpec::with_shape(DType::U8, &[100]))
        .unwrap();
    stage_big_values(&col);
    co.column("imgs").unwrap().delete("b").unwrap();
    co.metadata().set("m", "staged").unwrap();
    let before = hangar_files(dir.path());

    let view = repo.staged_view().unwrap();
    assert!(view.writer_active());
    assert_eq!(view.branch_name().unwrap(), "master");
    assert_eq!(view.commit_hash().unwrap(), Some(head));
    assert_eq!(view.status().unwrap(), co.status().unwrap());
    assert_eq!(view.diff_staged().unwrap(), co.diff_staged().unwrap());
    let names: Vec<_> = view
        .columns()
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["big", "imgs", "labels"]);
    assert!(view.columns().unwrap().iter().all(|c| !c.writable));
    let vb = view.column("big").unwrap();
    assert_eq!(vb.len().unwrap(), 11);
    assert_eq!(u8s(&vb.get("through").unwrap()), big(1));
    for i in 0..10u8 {
        assert_eq!(u8s(&vb.get(u64::from(i) + 100).unwrap()), big(i + 2));
    }
    assert!(!view.column("imgs").unwrap().contains("b").unwrap());
    assert_eq!(view.metadata("m").unwrap().as_deref(), Some("staged"));
    assert_eq!(kind(view.column("nope")), ErrorKind::NotFound);
    // A column outlives its view, as a reader column outlives its checkout.
    drop(view);
    assert_eq!(u8s(&vb.get(105u64).unwrap()), big(7));
    drop(vb);
    assert_eq!(
        hangar_files(dir.path()),
        before,
        "a view changed nothing on disk"
    );

    // The writer goes on; a view sees what it acknowledged since, and its commit.
    col.set("later", TensorRef::new(&big(20), &[100])).unwrap();
    let view = repo.staged_view().unwrap();
    assert_eq!(
        u8s(&view.column("big").unwrap().get("later").unwrap()),
        big(20)
    );
    let id = co.commit("with the big column").unwrap();
    co.close().unwrap();
    assert_eq!(
        u8s(&view.column("big").unwrap().get("later").unwrap()),
        big(20)
    );
    let view = repo.staged_view().unwrap();
    assert!(!view.writer_active());
    assert_eq!(view.commit_hash().unwrap(), Some(id));
    assert_eq!(view.status().unwrap(), Status::Clean);
    assert_eq!(view.column("big").unwrap().len().unwrap(), 12);
}

#[test]
fn a_staged_view_of_a_new_repository_and_of_a_torn_journal() {
    let (dir, repo) = new_repo();
    let view = repo.staged_view().unwrap();
    assert_eq!(view.branch_name().unwrap(), "master");
    assert_eq!(view.commit_hash().unwrap(), None);
    assert_eq!(view.status().unwrap(), Status::Clean);
    assert!(view.columns().unwrap().is_empty());
    drop(view);

    let co = repo.checkout_writer().unwrap();
    let col = co
        .add_ndarray_column("big", NdArraySpec::with_shape(DType::U8, &[100]))
        .unwrap();
    col.set("a", TensorRef::new(&big(3), &[100])).unwrap();
    col.extend_from_buffer(
        [1u64, 2],
        TensorRef::new(&[big(4), big(5)].concat(), &[2, 100]),
    )
    .unwrap();
    co.close().unwrap();
    // Half a frame at the end, as a writer in the middle of a write leaves it: the view
    // reads up to the last whole frame and does not cut the file.
    let journal = dir.path().join(".hangar/staging/journal");
    let mut bytes = std::fs::read(&journal).unwrap();
    bytes.extend_from_slice(&[0x30, 0, 0, 0, 1, 2, 3]);
    std::fs::write(&journal, &bytes).unwrap();
    let view = repo.staged_view().unwrap();
    assert!(!view.writer_active());
    assert_eq!(u8s(&view.column("big").unwrap().get("a").unwrap()), big(3));
    assert_eq!(u8s(&view.column("big").unwrap().get(2u64).unwrap()), big(5));
    assert_eq!(std::fs::read(&journal).unwrap(), bytes);
    // The open segment cut back under the view (its writer rolled back): a read of what
    // is gone is an error naming the file, never a fault of a mapped page.
    let seg = std::fs::read_dir(dir.path().join(".hangar/segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(std::fs::metadata(&seg).unwrap().len() - 150)
        .unwrap();
    let e = view.column("big").unwrap().get(2u64).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.to_string().contains("beyond"), "{e}");
}

#[test]
fn a_records_view_shows_the_staging_area_and_refuses_only_staged_stored_values() {
    let (_dir, repo, _) = repo_with_commit();
    let co = repo.checkout_writer().unwrap();
    let col = co
        .add_ndarray_column("big", NdArraySpec::with_shape(DType::U8, &[100]))
        .unwrap();
    col.set("old", TensorRef::new(&big(30), &[100])).unwrap();
    co.commit("a stored value").unwrap();
    // Staged: a write-through value, values a batch put wrote to a segment, a value
    // kept in its record, metadata.
    stage_big_values(&col);
    co.column("imgs")
        .unwrap()
        .set("c", TensorRef::new(&[3u8; 6], &[2, 3]))
        .unwrap();
    co.metadata().set("m", "staged").unwrap();

    let full = repo.staged_view().unwrap();
    let view = repo.staged_records_view().unwrap();
    assert_eq!(view.status().unwrap(), full.status().unwrap());
    assert_eq!(view.diff_staged().unwrap(), full.diff_staged().unwrap());
    let names = |v: &hangar_core::StagedView| -> Vec<String> {
        v.columns().unwrap().into_iter().map(|c| c.name).collect()
    };
    assert_eq!(names(&view), names(&full));
    assert_eq!(view.metadata("m").unwrap().as_deref(), Some("staged"));
    let vb = view.column("big").unwrap();
    assert_eq!(vb.len().unwrap(), 12);
    assert!(vb.contains("through").unwrap() && vb.contains(105u64).unwrap());
    // Committed values, and staged ones kept in their records, read as usual...
    assert_eq!(u8s(&vb.get("old").unwrap()), big(30));
    let c = view.column("imgs").unwrap().get("c").unwrap();
    assert_eq!(u8s(&c), [3u8; 6]);
    // ...a staged value in a segment or the journal is refused, saying why.
    for key in ["through".into(), hangar_core::SampleKey::from(105u64)] {
        let e = vb.get(key).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        assert!(e.to_string().contains("without its values"), "{e}");
    }
    // The full view reads them.
    assert_eq!(
        u8s(&full.column("big").unwrap().get("through").unwrap()),
        big(1)
    );
    assert_eq!(
        u8s(&full.column("big").unwrap().get(105u64).unwrap()),
        big(7)
    );
}
