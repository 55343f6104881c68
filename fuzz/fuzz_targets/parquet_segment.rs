//! A Parquet segment (a compressed column's sealed values) handed straight to the
//! decoder: footer and schema checks, every block of the first rows, gc's reading of the
//! digest column. (A store checks the file's whole-file CRC-32 before this decoder sees
//! it; here it sees every input.)
//!
//! A panic inside the parquet crate that the segment's guard turns into a corruption
//! error (an inconsistent byte-stream-split page makes one) is what the store reports,
//! so it is not a finding: libFuzzer's abort-on-any-panic hook is replaced by a silent
//! one, and a panic that escapes still aborts in libfuzzer-sys's wrapper and fails the run.
#![no_main]

use libfuzzer_sys::fuzz_target;

static QUIET_PANICS: std::sync::Once = std::sync::Once::new();

fuzz_target!(|data: &[u8]| {
    QUIET_PANICS.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let path = std::path::Path::new("fuzz.parquet");
    let bytes = hangar_store::internal::segment::parquet::bytes_of(data);
    if let Ok(seg) =
        hangar_store::internal::segment::parquet::ParquetSegment::from_bytes(path, bytes)
    {
        let _ = seg.sealed_rows();
        for row in 0..seg.rows().min(64) {
            if let Ok(block) = seg.read_block(row) {
                let _ = block.value(row, path);
            }
        }
    }
});
