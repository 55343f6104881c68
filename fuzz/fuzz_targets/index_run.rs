//! An index run file: opening the index, looking digests up, and verifying it.
#![no_main]

use std::sync::OnceLock;

use hangar_store::Digest;
use libfuzzer_sys::fuzz_target;

fn dir() -> &'static std::path::Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("tempdir"))
        .path()
}

fuzz_target!(|data: &[u8]| {
    let index = dir().join("index");
    let _ = std::fs::remove_dir_all(&index);
    std::fs::create_dir_all(&index).expect("mkdir");
    std::fs::write(index.join("00000000-00000000.run"), data).expect("write");
    if let Ok(ix) = hangar_store::internal::index::Index::open(&index) {
        for seed in [&b""[..], b"a", data.get(..32).unwrap_or(b"")] {
            let _ = ix.lookup(&Digest::of_object(1, seed));
        }
        let _ = ix.verify();
    }
});
