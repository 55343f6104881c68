//! Values staged but referred to by no staged record (overwritten, deleted, or left by
//! an interrupted import) are left out of the commit, and their bytes reclaimed when
//! they are worth it.

use std::collections::HashMap;
use std::fs::File;

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use hangar_store::internal::stage::unreferenced_files;
use hangar_store::{
    DType, Digest, DigestSet, Error, SegmentFormat, StoreWriter, ValueHeader, ValueInput,
};

use crate::{new_store, open_writer, put_u8};

fn segment_files(dir: &std::path::Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut out: Vec<_> = std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.path(), e.metadata().unwrap().len())
        })
        .collect();
    out.sort();
    out
}

fn value(i: u32, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i as usize * 31 + j) as u8).collect()
}

fn commit(w: &mut StoreWriter, live: &DigestSet, base: &[u8]) -> hangar_store::CommitStats {
    w.commit(Vec::new(), live, base, || Ok::<(), Error>(()))
        .unwrap()
}

#[test]
fn a_commit_leaves_out_and_reclaims_values_no_record_refers_to() {
    let (dir, store) = new_store();
    let (mut w, _) = open_writer(&store);
    let all: Vec<Digest> = (0..100)
        .map(|i| put_u8(&mut w, &[1024], &value(i, 1024)))
        .collect();
    w.sync_point().unwrap();
    w.flush().unwrap();
    let staged_bytes: u64 = segment_files(dir.path()).iter().map(|f| f.1).sum();
    assert!(staged_bytes >= 100 * 1024);
    // Half of them are referred to by a staged record.
    let live: DigestSet = all.iter().step_by(2).copied().collect();
    let stats = commit(&mut w, &live, b"b1");
    assert_eq!(stats.values, 50);
    assert_eq!(stats.values_dropped, 50);
    assert_eq!(stats.segments_rewritten, 1);
    for (i, d) in all.iter().enumerate() {
        let got = store.read_value(d).unwrap();
        if i % 2 == 0 {
            assert_eq!(got.unwrap().as_slice(), &value(i as u32, 1024)[..]);
        } else {
            assert!(got.is_none(), "dropped value {i} was committed");
        }
    }
    // The dead half is gone from disk, not just from the index.
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    let committed_bytes = files[0].1;
    assert!(
        committed_bytes < 60 * 1024,
        "{committed_bytes} bytes on disk for 50 KiB of live values ({staged_bytes} staged)"
    );
    assert!(
        store.verify_files().is_empty(),
        "{:?}",
        store.verify_files()
    );
    drop(w);
    let (w, _) = open_writer(&store);
    assert!(unreferenced_files(&store).unwrap().is_empty());
    assert_eq!(
        w.read_value(&all[0]).unwrap().unwrap().as_slice(),
        &value(0, 1024)[..]
    );
}

#[test]
fn a_small_dead_fraction_is_left_out_of_the_index_without_a_rewrite() {
    let (dir, store) = new_store();
    let (mut w, _) = open_writer(&store);
    let all: Vec<Digest> = (0..100)
        .map(|i| put_u8(&mut w, &[256], &value(i, 256)))
        .collect();
    w.sync_point().unwrap();
    let live: DigestSet = all[1..].iter().copied().collect();
    let stats = commit(&mut w, &live, b"b1");
    assert_eq!((stats.values, stats.values_dropped), (99, 1));
    assert_eq!(stats.segments_rewritten, 0);
    assert!(store.read_value(&all[0]).unwrap().is_none());
    assert!(store.read_value(&all[1]).unwrap().is_some());
    assert_eq!(segment_files(dir.path()).len(), 1);
    assert!(
        store.verify_files().is_empty(),
        "{:?}",
        store.verify_files()
    );
}

#[test]
fn nothing_live_retires_every_staging_segment() {
    let (dir, store) = new_store();
    let (mut w, _) = open_writer(&store);
    for i in 0..10 {
        put_u8(&mut w, &[64], &value(i, 64));
    }
    w.sync_point().unwrap();
    let stats = commit(&mut w, &DigestSet::default(), b"b1");
    assert_eq!((stats.values, stats.values_dropped), (0, 10));
    assert_eq!(stats.segments_rewritten, 1);
    assert!(segment_files(dir.path()).is_empty());
    drop(w);
    let (_, rec) = open_writer(&store);
    assert_eq!(rec.base, b"b1");
    assert!(unreferenced_files(&store).unwrap().is_empty());
}

/// A rewritten variable-shape segment keeps each value's shape in its Arrow shape
/// column, as pyarrow reads it.
#[test]
fn rewritten_variable_shape_values_keep_their_shapes() {
    let (dir, store) = new_store();
    let (mut w, _) = open_writer(&store);
    let format = SegmentFormat::VarTensor {
        dtype: DType::U8,
        rank: 2,
    };
    let shapes: [[u64; 2]; 6] = [[1, 3], [2, 2], [4, 1], [3, 3], [1, 1], [2, 5]];
    let mut digests = Vec::new();
    for (i, s) in shapes.iter().enumerate() {
        let bytes = value(i as u32, (s[0] * s[1]) as usize);
        let header = ValueHeader::Tensor {
            dtype: DType::U8,
            shape: s,
        };
        digests.push(
            w.put_value(ValueInput {
                format: &format,
                compression: Default::default(),
                header,
                shape: s,
                bytes: &bytes,
            })
            .unwrap(),
        );
    }
    w.sync_point().unwrap();
    // Drop the 2nd and 4th: over 1/8 of the bytes, so the segment is rewritten.
    let live: DigestSet = [0, 2, 4, 5].iter().map(|&i| digests[i]).collect();
    let stats = commit(&mut w, &live, b"b1");
    assert_eq!(stats.segments_rewritten, 1);
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 1);
    let reader =
        arrow_ipc::reader::FileReader::try_new(File::open(&files[0].0).unwrap(), None).unwrap();
    let mut seen = HashMap::new();
    for batch in reader {
        let batch = batch.unwrap();
        let d = batch.column(0).as_fixed_size_binary();
        let v = batch.column(2).as_struct();
        let data = v.column(0).as_list::<i32>();
        let shape = v.column(1).as_fixed_size_list();
        for row in 0..batch.num_rows() {
            let dims = shape.value(row);
            let dims = dims.as_primitive::<Int32Type>();
            let bytes = data.value(row);
            let bytes = bytes.as_primitive::<arrow_array::types::UInt8Type>();
            seen.insert(
                d.value(row).to_vec(),
                (dims.values().to_vec(), bytes.values().to_vec()),
            );
        }
    }
    assert_eq!(seen.len(), 4);
    for i in [0usize, 2, 4, 5] {
        let (dims, bytes) = &seen[&digests[i].0.to_vec()];
        assert_eq!(dims, &vec![shapes[i][0] as i32, shapes[i][1] as i32]);
        assert_eq!(
            bytes,
            &value(i as u32, (shapes[i][0] * shapes[i][1]) as usize)
        );
    }
}

/// A publish that fails after the rewrite keeps the staging area whole: the retired
/// segment stays until a commit lands, then goes.
/// Stages 20 values of 512 bytes (one staging segment) and commits with only the first
/// 10 live, so the commit rewrites the segment, then fails to move the ref. Returns the
/// values and the live ones.
fn rewrite_then_fail_to_publish(w: &mut StoreWriter) -> (Vec<Digest>, DigestSet) {
    let all: Vec<Digest> = (0..20).map(|i| put_u8(w, &[512], &value(i, 512))).collect();
    w.sync_point().unwrap();
    let live: DigestSet = all[..10].iter().copied().collect();
    w.commit(Vec::new(), &live, b"never", || {
        Err(Error::InvalidArgument("ref moved".into()))
    })
    .unwrap_err();
    (all, live)
}

#[test]
fn a_failed_publish_after_a_rewrite_keeps_everything_readable() {
    let (dir, store) = new_store();
    let (mut w, _) = open_writer(&store);
    let (all, live) = rewrite_then_fail_to_publish(&mut w);
    for (i, d) in all[..10].iter().enumerate() {
        assert_eq!(
            w.read_value(d).unwrap().unwrap().as_slice(),
            &value(i as u32, 512)[..]
        );
    }
    // A writer that reopens (the process ended) replays the old journal and still
    // reads every staged value, from the old segment or the rewritten one.
    std::mem::forget(w);
    let (mut w, _) = open_writer(&store);
    for (i, d) in all.iter().enumerate() {
        assert_eq!(
            w.read_value(d).unwrap().unwrap().as_slice(),
            &value(i as u32, 512)[..]
        );
    }
    let stats = commit(&mut w, &live, b"b1");
    assert_eq!(stats.values_dropped, 10);
    drop(w);
    let (_, rec) = open_writer(&store);
    assert_eq!(rec.base, b"b1");
    assert!(unreferenced_files(&store).unwrap().is_empty());
    for d in &all[10..] {
        assert!(store.read_value(d).unwrap().is_none());
    }
    let on_disk: u64 = segment_files(dir.path()).iter().map(|f| f.1).sum();
    assert!(
        on_disk < 20 * 512,
        "{on_disk} bytes on disk for 5 KiB of live values"
    );
}

#[test]
fn a_writer_goes_on_after_a_failed_commit_that_rewrote_a_segment() {
    // The same writer: it keeps the rewritten segment in its list, empty, so it must
    // leave it out of the next commit's index run...
    goes_on_after_a_rewrite(false);
    // ...and out of a journal compaction.
    goes_on_after_a_rewrite(true);
}

fn goes_on_after_a_rewrite(reopen: bool) {
    let (dir, store) = new_store();
    let (mut w, _) = open_writer(&store);
    let (all, _) = rewrite_then_fail_to_publish(&mut w);
    let more: Vec<Digest> = (20..30)
        .map(|i| put_u8(&mut w, &[512], &value(i, 512)))
        .collect();
    w.compact(&[]).unwrap();
    if reopen {
        // The compacted journal, replayed, must not name the retired segment.
        std::mem::forget(w);
        w = open_writer(&store).0;
    }
    for (i, d) in all[..10].iter().chain(&more).enumerate() {
        let i = if i < 10 { i } else { i + 10 };
        assert_eq!(
            w.read_value(d).unwrap().unwrap().as_slice(),
            &value(i as u32, 512)[..]
        );
    }
    let live: DigestSet = all[..10].iter().chain(&more).copied().collect();
    let stats = commit(&mut w, &live, b"b1");
    assert_eq!((stats.values, stats.segments_rewritten), (20, 0));
    drop(w);
    let (_, rec) = open_writer(&store);
    assert_eq!(rec.base, b"b1");
    assert!(unreferenced_files(&store).unwrap().is_empty());
    for (i, d) in all.iter().chain(&more).enumerate() {
        let got = store.read_value(d).unwrap();
        if (10..20).contains(&i) {
            assert!(got.is_none(), "dropped value {i} was committed");
        } else {
            assert_eq!(got.unwrap().as_slice(), &value(i as u32, 512)[..]);
        }
    }
    // The retired segment (all 20 first values) is gone; the rewritten one and the
    // one of the later values hold 10 values each.
    assert!(
        store.verify_files().is_empty(),
        "{:?}",
        store.verify_files()
    );
    let indexed: Vec<u32> = store
        .index()
        .unwrap()
        .files()
        .iter()
        .map(|f| f.id)
        .collect();
    assert!(
        !indexed.contains(&0),
        "the retired segment is indexed: {indexed:?}"
    );
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files.iter().all(|f| f.1 < 10 * 1024), "{files:?}");
}
