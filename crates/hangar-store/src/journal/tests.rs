//! Tests of the staging journal: framing, torn tails, damage, and the scans recovery makes.

use super::*;

fn frames(n: u8) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        push_frame(&mut out, i, &vec![i; usize::from(i) * 3]);
    }
    out
}

#[test]
fn every_truncation_keeps_a_prefix_of_frames() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    Journal::create(&path, &frames(6)).unwrap();
    let full = std::fs::read(&path).unwrap();
    let (_, all) = Journal::open(&path).unwrap();
    assert_eq!(all.len(), 6);
    for cut in MAGIC.len()..full.len() {
        std::fs::write(&path, &full[..cut]).unwrap();
        let (mut j, got) = Journal::open(&path).unwrap();
        assert!(got.len() < 6 && got[..] == all[..got.len()], "cut {cut}");
        // Appending after a torn tail starts a clean frame.
        let mut more = Vec::new();
        push_frame(&mut more, 42, b"after");
        j.append(&more).unwrap();
        let reread = Journal::read(&path).unwrap();
        assert_eq!(reread.last().unwrap().body, b"after");
        assert_eq!(reread.len(), got.len() + 1);
    }
}

#[test]
fn frames_across_read_chunks_and_larger_than_a_chunk_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    // Sizes chosen to straddle the scan's 8 MiB chunks, one frame larger than a
    // chunk, many small ones between.
    let mut sizes = vec![SCAN_CHUNK - 5, 3, SCAN_CHUNK + 1234, 0];
    sizes.extend((0..5000).map(|i| i * 7 % 3001));
    sizes.push(SCAN_CHUNK / 2);
    let mut framed = Vec::new();
    for (i, n) in sizes.iter().enumerate() {
        push_frame(&mut framed, (i % 200) as u8, &vec![(i % 251) as u8; *n]);
    }
    Journal::create(&path, &framed).unwrap();
    let mut seen = 0usize;
    Journal::read_scan(&path, &mut |t, body| {
        assert_eq!(t, (seen % 200) as u8);
        assert_eq!(body.len(), sizes[seen], "frame {seen}");
        assert!(
            body.iter().all(|&b| b == (seen % 251) as u8),
            "frame {seen}"
        );
        seen += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, sizes.len());
    // An error from the callback stops the scan and is returned as it is.
    let mut calls = 0;
    let err = Journal::read_scan(&path, &mut |_, _| {
        calls += 1;
        Err(Error::InvalidArgument("stop".into()))
    })
    .unwrap_err();
    assert_eq!((calls, err.to_string().contains("stop")), (1, true));
}

#[test]
fn a_torn_frame_claiming_a_huge_length_is_cut_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let mut framed = frames(4);
    let good = MAGIC.len() + framed.len();
    // A header whose length claims 1 GiB, then a few bytes: a torn write (or
    // damage) that must not make the reader allocate what it claims.
    framed.extend_from_slice(&(1u32 << 30).to_le_bytes());
    framed.extend_from_slice(&[0; 4 + 1 + 10]);
    Journal::create(&path, &framed).unwrap();
    let (j, got) = Journal::open(&path).unwrap();
    assert_eq!(got.len(), 4);
    assert_eq!(j.len(), good as u64);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), good as u64);
}

/// What a scan gives: every frame and the valid length, or its error's kind.
type Scanned = std::result::Result<(Vec<Frame>, u64), crate::ErrorKind>;

/// Every frame and the valid length a scan gives, or its error's kind.
fn scanned(scan: impl FnOnce(&mut dyn FnMut(u8, &[u8]) -> Result<()>) -> Result<u64>) -> Scanned {
    let mut got = Vec::new();
    let valid = scan(&mut |frame_type, body| {
        got.push(Frame {
            frame_type,
            body: body.to_vec(),
        });
        Ok(())
    });
    valid.map(|v| (got, v)).map_err(|e| e.kind())
}

#[test]
fn a_mapped_journal_scans_as_the_file_does_every_pass() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let mut framed = frames(6);
    let mut full = MAGIC.to_vec();
    full.extend_from_slice(&framed);
    // Every truncation (torn tails), and damage in the middle.
    let mut cases: Vec<Vec<u8>> = (MAGIC.len()..=full.len())
        .map(|n| full[..n].to_vec())
        .collect();
    let mut damaged = full.clone();
    damaged[MAGIC.len() + FRAME_HEADER + 1 + 4] ^= 1;
    cases.push(damaged);
    cases.push(b"garbage!".to_vec());
    for (i, bytes) in cases.iter().enumerate() {
        std::fs::write(&path, bytes).unwrap();
        let streamed = scanned(|f| Journal::read_scan(&path, f));
        match Scans::open(&path, i % 2 == 0) {
            Ok(scans) => {
                assert_eq!(matches!(scans.whole, Held::Mapped(_)), i % 2 == 0);
                assert_eq!(scanned(|f| scans.scan(f)), streamed, "case {i}");
                assert_eq!(scanned(|f| scans.scan(f)), streamed, "case {i}, again");
            }
            Err(e) => assert_eq!(Err(e.kind()), streamed.map(|_| ()), "case {i}"),
        }
    }
    // The passes after the first trust the checksums it checked, but not the frame
    // lengths: a mapped journal changed in between (by something other than its
    // writer, which never writes while it replays) is Corrupt, never a panic.
    std::fs::write(&path, &full).unwrap();
    let scans = Scans::open(&path, true).unwrap();
    let first = scanned(|f| scans.scan(f)).unwrap();
    assert_eq!(first.0.len(), 6);
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.seek(SeekFrom::Start(MAGIC.len() as u64)).unwrap();
        f.write_all(&u32::MAX.to_le_bytes()).unwrap();
    }
    assert_eq!(scanned(|f| scans.scan(f)).map(|_| ()), Err(crate::ErrorKind::Corrupt));
    drop(scans);
    // A journal longer than what is read into memory is mapped by a reader as by the
    // writer, and its frames are slices of the map.
    push_frame(&mut framed, 9, &vec![7; KEEP_IN_MEMORY as usize]);
    Journal::create(&path, &framed).unwrap();
    for lock_held in [false, true] {
        let scans = Scans::open(&path, lock_held).unwrap();
        assert!(scans.map().is_some());
        let (got, valid) = scanned(|f| scans.scan(f)).unwrap();
        assert_eq!((got.len(), valid), (7, (MAGIC.len() + framed.len()) as u64));
        assert_eq!(got[6].body.len(), KEEP_IN_MEMORY as usize);
        let mut shared = Vec::new();
        scans
            .scan(&mut |_, body| {
                shared.push(scans.map().and_then(|m| m.share(body)));
                Ok(())
            })
            .unwrap();
        for (s, frame) in shared.iter().zip(&got) {
            assert_eq!(s.as_ref().unwrap().as_slice(), frame.body.as_slice());
        }
        assert_eq!(shared.iter().flatten().count(), 7);
        // Bytes from elsewhere are never taken for the map's.
        if let Some(map) = scans.map() {
            assert!(map.share(&got[6].body).is_none());
            assert!(map.share(b"").is_none_or(|b| b.is_empty()));
        }
    }
}

#[test]
fn the_first_frame_is_read_alone_and_only_when_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let mut framed = Vec::new();
    push_frame(&mut framed, 7, b"the base");
    let first_len = MAGIC.len() + framed.len();
    framed.extend_from_slice(&frames(5));
    Journal::create(&path, &framed).unwrap();
    let full = std::fs::read(&path).unwrap();
    let first = Frame {
        frame_type: 7,
        body: b"the base".to_vec(),
    };
    // Every truncation: the first frame exactly when the file holds all of it.
    for cut in MAGIC.len()..=full.len() {
        std::fs::write(&path, &full[..cut]).unwrap();
        let want = (cut >= first_len).then(|| first.clone());
        assert_eq!(Journal::first_frame(&path).unwrap(), want, "cut {cut}");
    }
    // Damage after the first frame is not looked at; damage in it gives none.
    let mut later = full.clone();
    *later.last_mut().unwrap() ^= 1;
    later[first_len + FRAME_HEADER] ^= 1;
    std::fs::write(&path, &later).unwrap();
    assert_eq!(Journal::first_frame(&path).unwrap(), Some(first));
    let mut bad = full.clone();
    bad[first_len - 1] ^= 1;
    std::fs::write(&path, &bad).unwrap();
    assert_eq!(Journal::first_frame(&path).unwrap(), None);
    // A first header claiming 1 GiB in a short file: none, and nothing that size read
    // or allocated (the claim is checked against the file's length first).
    let mut huge = MAGIC.to_vec();
    huge.extend_from_slice(&(1u32 << 30).to_le_bytes());
    huge.extend_from_slice(&[0; 4 + 1 + 10]);
    std::fs::write(&path, &huge).unwrap();
    assert_eq!(Journal::first_frame(&path).unwrap(), None);
    std::fs::write(&path, b"garbage!").unwrap();
    let e = Journal::first_frame(&path).unwrap_err();
    assert_eq!(e.kind(), crate::ErrorKind::Corrupt, "{e}");
}

#[test]
fn damage_in_the_middle_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    Journal::create(&path, &frames(6)).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[MAGIC.len() + FRAME_HEADER + 1 + 4] ^= 1; // inside frame 1's body
    std::fs::write(&path, &bytes).unwrap();
    let err = Journal::open(&path).unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::Corrupt, "{err}");
    std::fs::write(&path, b"garbage!").unwrap();
    assert_eq!(
        Journal::open(&path).unwrap_err().kind(),
        crate::ErrorKind::Corrupt
    );
}

thread_local! {
    /// Set by a test to make [`Journal::cut_to`]'s copy fail, as a full disk would.
    pub(super) static REFUSE_REWRITE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

/// A journal longer than [`KEEP_IN_MEMORY`]: six small frames (the part a cut keeps),
/// then a long one and a short one.
fn long_journal(path: &Path) -> (Vec<Frame>, u64) {
    let mut framed = frames(6);
    let keep = (MAGIC.len() + framed.len()) as u64;
    push_frame(&mut framed, 9, &vec![7; KEEP_IN_MEMORY as usize]);
    push_frame(&mut framed, 10, b"last");
    Journal::create(path, &framed).unwrap();
    (Journal::read(path).unwrap(), keep)
}

/// The frames of a journal mapped by a reader without the lock, as slices of its map.
fn reader_slices(path: &Path) -> Vec<arrow_buffer::Buffer> {
    let scans = Scans::open(path, false).unwrap();
    let mut shared = Vec::new();
    scans
        .scan(&mut |_, body| {
            shared.push(scans.map().and_then(|m| m.share(body)).unwrap());
            Ok(())
        })
        .unwrap();
    shared
}

fn no_temp_files(dir: &Path) {
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !fsutil::is_temp_name(n)), "{names:?}");
}

#[test]
fn a_long_journal_is_cut_into_a_new_file_and_a_readers_map_stays_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let (all, keep) = long_journal(&path);
    assert_eq!(all.len(), 8);
    // A reader without the lock (a `hangar status` beside the writer) maps the journal
    // and keeps its frames as slices of the map.
    let shared = reader_slices(&path);
    assert_eq!(shared.len(), 8);
    let before = inode(&path);
    // The writer rolls back below what the reader mapped.
    let (mut journal, got) = Journal::open(&path).unwrap();
    assert_eq!(got, all);
    journal.truncate(keep).unwrap();
    assert_ne!(inode(&path), before, "a long journal must not be cut in place");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), keep);
    assert_eq!(journal.len(), keep);
    // Every byte the reader holds reads as before: a cut in place would have ended this
    // test with SIGBUS here.
    for (s, frame) in shared.iter().zip(&all) {
        assert_eq!(s.as_slice(), frame.body.as_slice());
    }
    // The writer goes on appending to the new file, and it replays as cut and appended.
    let mut more = Vec::new();
    push_frame(&mut more, 11, b"after the cut");
    journal.append(&more).unwrap();
    journal.sync().unwrap();
    let mut expected = all[..6].to_vec();
    expected.push(Frame {
        frame_type: 11,
        body: b"after the cut".to_vec(),
    });
    assert_eq!(Journal::read(&path).unwrap(), expected);
    no_temp_files(dir.path());
    // Now short, the journal is cut in place (no reader maps a journal this short).
    let short = inode(&path);
    journal.truncate(keep).unwrap();
    assert_eq!(inode(&path), short);
    assert_eq!(Journal::read(&path).unwrap(), all[..6].to_vec());
    drop(shared);
}

#[test]
fn a_torn_tail_of_a_long_journal_is_cut_into_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let (all, _) = long_journal(&path);
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[0xAB; 50]).unwrap(); // a torn last frame
    }
    let len = std::fs::metadata(&path).unwrap().len();
    let shared = reader_slices(&path);
    let scans = Scans::open(&path, false).unwrap();
    let torn = scans.map().unwrap().bytes()[len as usize - 50..].to_vec();
    let before = inode(&path);
    let (journal, got) = Journal::open(&path).unwrap();
    assert_eq!(got, all);
    assert_ne!(inode(&path), before);
    assert_eq!(journal.len(), len - 50);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), len - 50);
    // The reader's map still holds the torn bytes it mapped, and every frame.
    assert_eq!(&scans.map().unwrap().bytes()[len as usize - 50..], &torn[..]);
    for (s, frame) in shared.iter().zip(&all) {
        assert_eq!(s.as_slice(), frame.body.as_slice());
    }
    no_temp_files(dir.path());
}

#[test]
fn a_long_journal_whose_copy_fails_is_cut_in_place_all_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let (all, keep) = long_journal(&path);
    let before = inode(&path);
    let (mut journal, _) = Journal::open(&path).unwrap();
    REFUSE_REWRITE.with(|r| r.set(true));
    let cut = journal.truncate(keep);
    REFUSE_REWRITE.with(|r| r.set(false));
    // A rolled-back change must not stay staged because a copy could not be made.
    cut.unwrap();
    assert_eq!(inode(&path), before);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), keep);
    assert_eq!(Journal::read(&path).unwrap(), all[..6].to_vec());
    no_temp_files(dir.path());
}
