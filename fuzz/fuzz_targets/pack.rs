//! A pack of objects: the scan verify and the index rebuild run.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hangar_store::internal::pack::scan_pack(std::path::Path::new("fuzz.pack"), data);
});
