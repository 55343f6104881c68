//! The staging journal's frame reader, as a writer open replays it.
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
    let _ = hangar_store::internal::journal::Journal::read(&path);
    let _ = hangar_store::internal::journal::Journal::open(&path);
});
