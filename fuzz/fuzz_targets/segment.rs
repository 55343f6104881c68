//! A sealed segment's structural check (what verify runs on every segment) and gc's
//! reading of its rows (digests and shapes, for a file no index run refers to).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz.arrow");
    let _ = hangar_store::internal::segment::writer::check_sealed_structure(path, data);
    let _ = hangar_store::internal::segment::read::sealed_rows(path, data);
});
