//! The staging journal's frame reader, as a writer open replays it; and the journal
//! held whole for the replay's two passes (`Scans`, mapped or read) reads exactly what
//! the streamed reader does, on both passes; and the first frame read alone (the staged
//! base) is the scan's first.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn dir() -> &'static std::path::Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("tempdir"))
        .path()
}

fuzz_target!(|data: &[u8]| {
    let path = dir().join("journal");
    std::fs::write(&path, data).expect("write");
    use hangar_store::internal::journal::{Journal, Scans};
    let collect = |scan: &mut dyn FnMut(
        &mut dyn FnMut(u8, &[u8]) -> hangar_store::Result<()>,
    ) -> hangar_store::Result<u64>| {
        let mut frames = Vec::new();
        let valid = scan(&mut |t, body| {
            frames.push((t, body.to_vec()));
            Ok(())
        });
        valid.map(|v| (frames, v)).map_err(|e| e.kind())
    };
    let streamed = collect(&mut |f| Journal::read_scan(&path, f));
    // Held both ways: mapped (as the writer holds it) and read into memory (as a
    // read-only view does); the second pass skips the checksums the first checked.
    for lock_held in [true, false] {
        match Scans::open(&path, lock_held) {
            Ok(scans) => {
                for _ in 0..2 {
                    assert_eq!(collect(&mut |f| scans.scan(f)), streamed);
                }
            }
            Err(e) => assert_eq!(Err(e.kind()), streamed.as_ref().map(|_| ()).map_err(|k| *k)),
        }
    }
    // The first frame alone: the scan's first whenever the scan reads any, none when the
    // scan reads none; a first frame the scan does not pass on only beside damage later
    // in the journal (which the scan reports and the first-frame read never reaches).
    let first = Journal::first_frame(&path).map_err(|e| e.kind());
    match (&first, &streamed) {
        (Ok(f), Ok((frames, _))) => assert_eq!(
            f.as_ref().map(|f| (f.frame_type, f.body.clone())),
            frames.first().cloned()
        ),
        (Ok(Some(_)), Err(kind)) => assert_eq!(*kind, hangar_store::ErrorKind::Corrupt),
        (Ok(None), Err(_)) => {}
        (Err(kind), _) => assert_eq!(Err(*kind), streamed.as_ref().map(|_| ()).map_err(|k| *k)),
    }
    let _ = Journal::read(&path);
    let _ = Journal::open(&path);
});
