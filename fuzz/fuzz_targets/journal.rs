//! The staging journal's frame reader, as a writer open replays it; and the journal
//! held in memory for the replay's two passes (`Scans`) reads exactly what the streamed
//! reader does.
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
    match Scans::open(&path) {
        Ok(scans) => {
            for _ in 0..2 {
                assert_eq!(collect(&mut |f| scans.scan(f)), streamed);
            }
        }
        Err(e) => assert_eq!(Err(e.kind()), streamed.map(|_| ())),
    }
    let _ = Journal::read(&path);
    let _ = Journal::open(&path);
});
