//! Unit tests of the index.

use super::*;

fn entry(i: u32) -> IndexEntry {
    IndexEntry {
        digest: crate::ValueHeader::Bytes.digest(&i.to_le_bytes()),
        kind: if i.is_multiple_of(3) {
            EntryKind::Object(4)
        } else {
            EntryKind::Value
        },
        loc: Location {
            file: i % 7,
            offset: u64::from(i) * 10,
            len: 10,
            crc: i,
        },
    }
}

#[test]
fn publish_lookup_merge_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut idx = Index::open(dir.path()).unwrap();
    assert_eq!(idx.lookup(&entry(1).digest).unwrap(), None);
    for batch in 0..20u32 {
        let es: Vec<_> = (batch * 50..batch * 50 + 50).map(entry).collect();
        let files = vec![FileRecord {
            id: batch,
            kind: FileKind::Segment,
            len: 1,
            crc: 2,
        }];
        idx.publish(es, files).unwrap();
        assert!(
            idx.run_count() <= 6,
            "{} runs after {batch}",
            idx.run_count()
        );
    }
    let reopened = Index::open(dir.path()).unwrap();
    for i in 0..1000 {
        assert_eq!(
            reopened.lookup(&entry(i).digest).unwrap(),
            Some(entry(i)),
            "{i}"
        );
    }
    assert!(reopened.has_file(7) && !reopened.has_file(99));
    assert_eq!(reopened.files().len(), 20);
    assert!(reopened.verify().is_empty());
    let e = entry(3);
    let found = reopened
        .find_prefix(&e.digest.to_hex()[..6], EntryKind::Object(4))
        .unwrap();
    assert!(found.contains(&e));
    assert!(reopened
        .find_prefix(&e.digest.to_hex()[..6], EntryKind::Value)
        .unwrap()
        .iter()
        .all(|x| x.digest != e.digest));
}

#[test]
fn interpolation_search_agrees_with_bisection() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = 0x1234_5678_9abc_def1u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut digests: Vec<Digest> = (0..3000)
        .map(|i| {
            let mut d = [0u8; 32];
            for c in d.chunks_mut(8) {
                c.copy_from_slice(&next().to_le_bytes());
            }
            // Clusters sharing their first 8 bytes, and a skewed tail.
            if i % 7 == 0 {
                d[..8].copy_from_slice(&[0x42; 8]);
            }
            if i % 11 == 0 {
                d[..4].copy_from_slice(&[0xff; 4]);
            }
            Digest(d)
        })
        .collect();
    digests.sort();
    digests.dedup();
    let entries: Vec<IndexEntry> = digests
        .iter()
        .map(|d| IndexEntry {
            digest: *d,
            kind: EntryKind::Value,
            loc: Location {
                file: 1,
                offset: 0,
                len: 0,
                crc: 0,
            },
        })
        .collect();
    write_run(dir.path(), 0, 0, &entries, &[]).unwrap();
    let run = Run::open(&dir.path().join(run_name(0, 0)), 0, 0).unwrap();
    let mut probes: Vec<[u8; 32]> = digests.iter().map(|d| d.0).collect();
    for _ in 0..3000 {
        let mut d = [0u8; 32];
        for c in d.chunks_mut(8) {
            c.copy_from_slice(&next().to_le_bytes());
        }
        probes.push(d);
        let mut near = digests[(next() % digests.len() as u64) as usize].0;
        near[31] ^= 1;
        probes.push(near);
    }
    probes.extend([[0u8; 32], [0xff; 32], {
        let mut x = [0x42u8; 32];
        x[8..].fill(0);
        x
    }]);
    for p in probes {
        let want = digests.partition_point(|d| d.0 < p);
        assert_eq!(run.lower_bound(&p), want);
    }
}

#[test]
fn covered_runs_left_by_an_interrupted_merge_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), 0, 0, &[entry(1)], &[]).unwrap();
    write_run(dir.path(), 1, 1, &[entry(2)], &[]).unwrap();
    let mut both = vec![entry(1), entry(2)];
    both.sort_by_key(|e| e.digest);
    write_run(dir.path(), 0, 1, &both, &[]).unwrap();
    let mut idx = Index::open(dir.path()).unwrap();
    assert_eq!(idx.run_count(), 1);
    assert_eq!(idx.remove_covered_runs().unwrap(), 2);
    assert!(idx.lookup(&entry(2).digest).unwrap().is_some());
}

#[test]
fn damaged_runs_are_corrupt_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let es: Vec<_> = (0..40).map(entry).collect();
    write_run(
        dir.path(),
        0,
        0,
        &es,
        &[FileRecord {
            id: 1,
            kind: FileKind::Pack,
            len: 3,
            crc: 4,
        }],
    )
    .unwrap();
    let path = dir.path().join(run_name(0, 0));
    let good = fs::read(&path).unwrap();
    for cut in [0, 5, 11, 20, good.len() - 1] {
        fs::write(&path, &good[..cut]).unwrap();
        let err = Index::open(dir.path()).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Corrupt, "cut {cut}: {err}");
    }
    // A flipped bit in the header is caught at open; in an entry, when it is read.
    let mut undetected = 0;
    for byte in 0..good.len() {
        let mut bad = good.clone();
        bad[byte] ^= 0x10;
        fs::write(&path, &bad).unwrap();
        let caught = match Index::open(dir.path()) {
            Err(_) => true,
            Ok(idx) => !idx.verify().is_empty(),
        };
        if !caught {
            undetected += 1;
        }
    }
    assert_eq!(undetected, 0);
}

#[test]
fn merging_runs_keeps_one_entry_per_digest_the_newer_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut idx = Index::open(dir.path()).unwrap();
    let files = |id| {
        vec![FileRecord {
            id,
            kind: FileKind::Segment,
            len: 1,
            crc: 2,
        }]
    };
    let moved = |i: u32| IndexEntry {
        loc: Location {
            file: 9,
            ..entry(i).loc
        },
        ..entry(i)
    };
    idx.publish((0..100).map(entry).collect(), files(0)).unwrap();
    // Runs of similar size merge: one run with 0..150 left.
    idx.publish((50..150).map(moved).collect(), files(9)).unwrap();
    assert_eq!(idx.run_count(), 1);
    let reopened = Index::open(dir.path()).unwrap();
    for i in 0..150 {
        let want = if i < 50 { entry(i) } else { moved(i) };
        assert_eq!(reopened.lookup(&want.digest).unwrap(), Some(want), "{i}");
    }
    assert_eq!(reopened.runs[0].count, 150);
    let all: Vec<IndexEntry> = (0..150).map(|i| reopened.runs[0].entry(i).unwrap()).collect();
    assert!(all.windows(2).all(|w| w[0].digest < w[1].digest));
    assert!(reopened.verify().is_empty());
}

/// The entries of `run` in file order.
fn run_entries(run: &Run) -> Vec<IndexEntry> {
    (0..run.count).map(|i| run.entry(i).unwrap()).collect()
}

#[test]
fn runs_larger_than_a_write_slice_are_published_and_merged_whole() {
    // Both runs span several of the writer's slices, so the merge streams across slice
    // boundaries; they overlap in the middle, where the newer run's entries win.
    let dir = tempfile::tempdir().unwrap();
    let mut idx = Index::open(dir.path()).unwrap();
    let n = (WRITE_SLICE * 2 + 123) as u32;
    let moved = |i: u32| IndexEntry {
        loc: Location { file: 9, ..entry(i).loc },
        ..entry(i)
    };
    let files = |id| vec![FileRecord { id, kind: FileKind::Segment, len: 1, crc: 2 }];
    // Unsorted, with every entry given twice: a run holds each digest once.
    let mut first: Vec<IndexEntry> = (0..n).rev().map(entry).collect();
    first.extend((0..n).map(entry));
    idx.publish(first, files(0)).unwrap();
    assert_eq!(idx.runs[0].count, n as usize);
    idx.publish((n / 2..n + n / 2).map(moved).collect(), files(9)).unwrap();
    assert_eq!(idx.run_count(), 1, "runs of one size merge");
    let reopened = Index::open(dir.path()).unwrap();
    let all = run_entries(&reopened.runs[0]);
    assert_eq!(all.len(), (n + n / 2) as usize);
    assert!(all.windows(2).all(|w| w[0].digest < w[1].digest), "sorted, each digest once");
    for i in 0..n + n / 2 {
        let want = if i < n / 2 { entry(i) } else { moved(i) };
        assert_eq!(reopened.lookup(&want.digest).unwrap(), Some(want), "{i}");
    }
    assert!(reopened.verify().is_empty());
}

#[test]
fn a_merge_writes_a_digest_repeated_within_a_run_once() {
    // A run written by another build may repeat a digest; the merged run must not.
    let dir = tempfile::tempdir().unwrap();
    let mut older: Vec<IndexEntry> = (0..40).map(entry).collect();
    older.sort_by_key(|e| e.digest);
    let twice: Vec<IndexEntry> = older.iter().flat_map(|e| [*e, *e]).collect();
    write_run(dir.path(), 0, 0, &twice, &[]).unwrap();
    let mut newer: Vec<IndexEntry> = (30..60).map(entry).collect();
    newer.sort_by_key(|e| e.digest);
    write_run(dir.path(), 1, 1, &newer, &[]).unwrap();
    let mut idx = Index::open(dir.path()).unwrap();
    idx.merge_newest_two().unwrap();
    assert_eq!(idx.run_count(), 1);
    let all = run_entries(&idx.runs[0]);
    assert_eq!(all.len(), 60);
    assert!(all.windows(2).all(|w| w[0].digest < w[1].digest));
}

#[test]
fn digests_sharing_a_prefix_are_published_in_full_digest_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut idx = Index::open(dir.path()).unwrap();
    let with = |prefix: u8, tail: u8| IndexEntry {
        digest: {
            let mut d = [prefix; 32];
            d[31] = tail;
            d[20] = tail.wrapping_mul(37);
            Digest(d)
        },
        ..entry(u32::from(tail))
    };
    // Three groups of one prefix, given out of order, with repeats.
    let mut es = Vec::new();
    for tail in (0..50u8).rev() {
        for prefix in [9u8, 3, 200] {
            es.push(with(prefix, tail));
        }
    }
    es.extend((0..50u8).step_by(7).map(|t| with(3, t)));
    // Digests sharing their first 8 bytes (the key a publish sorts by).
    idx.publish(es, Vec::new()).unwrap();
    let all = run_entries(&idx.runs[0]);
    assert_eq!(all.len(), 150);
    assert!(all.windows(2).all(|w| w[0].digest < w[1].digest));
    for prefix in [9u8, 3, 200] {
        for tail in 0..50u8 {
            let e = with(prefix, tail);
            assert_eq!(idx.lookup(&e.digest).unwrap(), Some(e));
        }
    }
}
