//! Unit tests of the store's writer.

#![allow(clippy::unwrap_used)]
use super::*;
use crate::dtype::DType;

fn writer(store: &Arc<Store>) -> StoreWriter {
    StoreWriter::open(store.clone(), |_| Ok(false), || b"base".to_vec())
        .unwrap()
        .0
}

fn put(w: &mut StoreWriter, byte: u8) -> Digest {
    let format = SegmentFormat::FixedTensor {
        dtype: DType::U8,
        shape: vec![4],
    };
    let header = ValueHeader::Tensor {
        dtype: DType::U8,
        shape: &[4],
    };
    let bytes = [byte; 4];
    let digest = header.digest(&bytes);
    w.put_value(ValueInput {
        format: &format,
        compression: Default::default(),
        header,
        shape: &[4],
        bytes: &bytes,
    })
    .unwrap();
    w.sync_point().unwrap();
    digest
}

fn new_store() -> (tempfile::TempDir, Arc<Store>) {
    let dir = tempfile::tempdir().unwrap();
    Store::create_layout(dir.path()).unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    (dir, store)
}

#[test]
fn reserved_files_never_recorded_are_deleted_and_nothing_else() {
    let (dir, store) = new_store();
    let mut w = writer(&store);
    let d = put(&mut w, 1);
    w.flush().unwrap();
    // A write interrupted after reserving its ids and creating the files, before any
    // frame or index run recorded them.
    let seg = w.reserve_file(FileKind::Segment).unwrap();
    let pack = w.reserve_file(FileKind::Pack).unwrap();
    fs::write(segment_path(dir.path(), seg), b"half a segment").unwrap();
    fs::write(pack_path(dir.path(), pack), b"half a pack").unwrap();
    // A file nobody reserved: nothing proves it is garbage.
    let stray = segment_path(dir.path(), 0x77);
    fs::write(&stray, b"stray").unwrap();
    drop(w);
    let journal = journal_files(dir.path()).unwrap();
    assert!(journal.reserved.contains(&seg) && journal.reserved.contains(&pack));
    let mut w = writer(&store);
    assert!(!segment_path(dir.path(), seg).exists());
    assert!(!pack_path(dir.path(), pack).exists());
    assert_eq!(fs::read(&stray).unwrap(), b"stray");
    assert!(
        w.read_value(&d).unwrap().is_some(),
        "the staged value survives"
    );
    assert_eq!(unreferenced_files(&store).unwrap(), vec![stray.clone()]);
    // New ids go past every id in use, the stray's and the reserved ones.
    assert!(w.next_file > 0x77);
    let next = w.reserve_file(FileKind::Segment).unwrap();
    assert!(next > seg.max(pack).max(0x77));
}

#[test]
fn contiguous_values_are_taken_only_when_all_are_new_and_fixed_shape() {
    let (_dir, store) = new_store();
    let mut w = writer(&store);
    let format = SegmentFormat::FixedTensor {
        dtype: DType::U8,
        shape: vec![4],
    };
    let header = ValueHeader::Tensor {
        dtype: DType::U8,
        shape: &[4],
    };
    let bytes: Vec<u8> = (0..32).collect();
    let sums: Vec<(Digest, u32)> = bytes
        .chunks(4)
        .map(|b| (header.digest(b), crc32(b)))
        .collect();
    // Not fixed-shape, or a repeat inside the batch: declined, nothing staged.
    assert!(!w
        .put_contiguous_values(&SegmentFormat::Bytes, Default::default(), &bytes, &sums)
        .unwrap());
    let mut repeat = sums.clone();
    repeat[7] = repeat[0];
    assert!(!w.put_contiguous_values(&format, Default::default(), &bytes, &repeat).unwrap());
    assert!(!w.contains_value(&sums[0].0).unwrap());
    // Bytes that do not divide into the values: refused.
    let err = w
        .put_contiguous_values(&format, Default::default(), &bytes[..31], &sums)
        .unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument, "{err}");
    // All new: taken, and every value reads back.
    assert!(w.put_contiguous_values(&format, Default::default(), &bytes, &sums).unwrap());
    for (i, (d, _)) in sums.iter().enumerate() {
        assert_eq!(
            w.read_value(d).unwrap().unwrap().as_slice(),
            &bytes[i * 4..][..4]
        );
    }
    // Once one of them is staged, the same values are declined (the caller then
    // deduplicates them one by one).
    assert!(!w.put_contiguous_values(&format, Default::default(), &bytes, &sums).unwrap());
}

#[test]
fn buffered_values_reach_the_journal_only_with_a_record_that_refers_to_them() {
    let (dir, store) = new_store();
    let mut w = writer(&store);
    w.set_buffered(true).unwrap();
    let journal = dir.path().join(STAGING_DIR).join(JOURNAL);
    let format = SegmentFormat::FixedTensor {
        dtype: DType::U8,
        shape: vec![1 << 20],
    };
    let header = ValueHeader::Tensor {
        dtype: DType::U8,
        shape: &[1 << 20],
    };
    // Past the flush size (16 MiB) without a record: the batch went to its segment,
    // but the journal holds no frame that locates a value yet (only the reservation
    // of the segment's id, which a reopened writer deletes unless a frame or an index
    // run refers to it), so a crash here leaves no value the staging area does not
    // refer to.
    for i in 0..20u8 {
        let bytes = vec![i; 1 << 20];
        w.put_value(ValueInput {
            format: &format,
            compression: Default::default(),
            header,
            shape: &[1 << 20],
            bytes: &bytes,
        })
        .unwrap();
    }
    let early = Journal::read(&journal).unwrap();
    assert!(
        !early.iter().any(|f| matches!(
            f.frame_type,
            frame::SEGMENT_CREATED | frame::BATCH_STORED | frame::VALUE
        )),
        "{:?}",
        early.iter().map(|f| f.frame_type).collect::<Vec<_>>()
    );
    let before = fs::metadata(&journal).unwrap().len();
    assert!(fs::read_dir(dir.path().join("segments")).unwrap().count() > 0);
    // The record that refers to them brings them in, in the same write.
    w.record(b"the change").unwrap();
    assert!(fs::metadata(&journal).unwrap().len() > before);
    let frames = Journal::read(&journal).unwrap();
    let last = frames.last().unwrap();
    assert_eq!(
        (last.frame_type, last.body.as_slice()),
        (frame::RECORD, &b"the change"[..])
    );
    assert!(frames.iter().any(|f| f.frame_type == frame::BATCH_STORED));
}

#[test]
fn a_large_write_through_value_goes_to_its_segment_not_into_a_journal_frame() {
    let (dir, store) = new_store();
    let journal = dir.path().join(STAGING_DIR).join(JOURNAL);
    let mut w = writer(&store);
    let n = FLUSH_BYTES + 5;
    let format = SegmentFormat::FixedTensor {
        dtype: DType::U8,
        shape: vec![n as u64],
    };
    let header = ValueHeader::Tensor {
        dtype: DType::U8,
        shape: &[n as u64],
    };
    let bytes: Vec<u8> = (0..n).map(|i| (i % 253) as u8).collect();
    let d = w
        .put_value(ValueInput {
            format: &format,
            compression: Default::default(),
            header,
            shape: &[n as u64],
            bytes: &bytes,
        })
        .unwrap();
    w.record(b"the change").unwrap();
    w.sync_point().unwrap();
    let frames = Journal::read(&journal).unwrap();
    assert!(frames.iter().all(|f| f.frame_type != frame::VALUE));
    assert!(frames.iter().all(|f| f.body.len() < 1 << 20));
    assert!(frames.iter().any(|f| f.frame_type == frame::BATCH_STORED));
    drop(w);
    let (w, rec) =
        StoreWriter::open(store.clone(), |_| Ok(false), || b"base".to_vec()).unwrap();
    assert_eq!(rec.records, [&b"the change"[..]]);
    assert_eq!(w.read_value(&d).unwrap().unwrap().as_slice(), &bytes[..]);
}

#[test]
fn a_record_group_is_replayed_whole_or_cut_off_whole() {
    let (dir, store) = new_store();
    let journal = dir.path().join(STAGING_DIR).join(JOURNAL);
    let open = || StoreWriter::open(store.clone(), |_| Ok(false), || b"base".to_vec()).unwrap();
    let (mut w, _) = open();
    w.record(b"before").unwrap();
    w.sync_point().unwrap();
    let before = fs::metadata(&journal).unwrap().len();
    let parts = [b"part 1".to_vec(), b"part 2".to_vec(), b"part 3".to_vec()];
    w.record_group(&parts).unwrap();
    w.sync_point().unwrap();
    drop(w);
    let frames = Journal::read(&journal).unwrap();
    let kinds: Vec<u8> = frames.iter().rev().take(3).map(|f| f.frame_type).collect();
    assert_eq!(
        kinds,
        [frame::RECORD, frame::RECORD_PART, frame::RECORD_PART]
    );
    let (w, rec) = open();
    assert_eq!(
        rec.records,
        [&b"before"[..], b"part 1", b"part 2", b"part 3"]
    );
    drop(w);
    // The write cut short after each complete part frame: the group is cut off
    // whole, the journal goes back to where it started, and later records follow.
    let full = fs::read(&journal).unwrap();
    let frame_len = |body: &[u8]| (crate::journal::FRAME_HEADER + body.len()) as u64;
    for cut_after in 1..=2u64 {
        let len = before + cut_after * frame_len(b"part 1");
        fs::write(&journal, &full[..len as usize]).unwrap();
        let (mut w, rec) = open();
        assert_eq!(rec.records, [&b"before"[..]], "cut after part {cut_after}");
        assert_eq!(fs::metadata(&journal).unwrap().len(), before);
        w.record(b"after").unwrap();
        w.sync_point().unwrap();
        drop(w);
        assert_eq!(open().1.records, [&b"before"[..], b"after"]);
    }
    // A part larger than a frame may hold is refused, and nothing is journalled.
    let (mut w, _) = open();
    let len = fs::metadata(&journal).unwrap().len();
    let huge = vec![0u8; MAX_RECORD + 1];
    assert!(matches!(
        w.record_group(&[b"small".to_vec(), huge]),
        Err(Error::InvalidArgument(_))
    ));
    w.sync_point().unwrap();
    assert_eq!(fs::metadata(&journal).unwrap().len(), len);
}

#[test]
fn reset_reserves_what_it_deletes_so_a_crash_in_between_leaves_provable_garbage() {
    let (dir, store) = new_store();
    let mut w = writer(&store);
    put(&mut w, 2);
    w.flush().unwrap();
    let seg = w.files[0].id;
    let path = segment_path(dir.path(), seg);
    let saved = fs::read(&path).unwrap();
    assert_eq!(w.reset(b"base2").unwrap(), 1);
    assert!(!path.exists());
    // As if the process died after the new journal was written, before the delete.
    fs::write(&path, &saved).unwrap();
    assert!(journal_files(dir.path()).unwrap().reserved.contains(&seg));
    drop(w);
    let w = writer(&store);
    assert!(
        !path.exists(),
        "the reset's leftover is deleted at the next open"
    );
    assert_eq!(w.staged_values(), 0);
    assert!(unreferenced_files(&store).unwrap().is_empty());
}

#[test]
fn a_commit_records_the_index_sequence_and_a_missing_run_stops_the_writer() {
    let (dir, store) = new_store();
    let mut w = writer(&store);
    put(&mut w, 3);
    w.commit::<Error>(Vec::new(), &w.staged_digests(), b"next", || Ok(()))
        .unwrap();
    assert_eq!(journal_files(dir.path()).unwrap().index_seq, Some(0));
    drop(w);
    let run = fs::read_dir(dir.path().join(INDEX_DIR))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let seg_files: Vec<_> = fs::read_dir(dir.path().join(SEGMENTS_DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(seg_files.len(), 1);
    fs::rename(&run, dir.path().join("aside")).unwrap();
    store.refresh().unwrap();
    let err = StoreWriter::open(store.clone(), |_| Ok(false), || b"x".to_vec()).unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("index run 0 is missing"), "{err}");
    assert!(seg_files.iter().all(|p| p.exists()));
    assert_eq!(store.missing_runs().len(), 1);
    fs::rename(dir.path().join("aside"), &run).unwrap();
    store.refresh().unwrap();
    assert!(store.missing_runs().is_empty());
    writer(&store);
}
