//! A sealed segment's structural check (what verify runs on every segment).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hangar_store::internal::segment::writer::check_sealed_structure(
        std::path::Path::new("fuzz.arrow"),
        data,
    );
});
