//! `hangar import`'s table and image readers: the first byte picks Parquet / Arrow IPC
//! file / Arrow IPC stream (opened by content, every batch validated and turned into
//! cells), PNG or JPEG (probed, then decoded as an import does); the rest is the file.
//! No panic may escape, and no image past its plausibility checks may be decoded.
//!
//! A panic inside the Parquet or Arrow reader that `table`'s guard turns into an error
//! (as `hangar import` reports it: exit 2 with a message) is what users see, so it is not
//! a finding here: libFuzzer's abort-on-any-panic hook is replaced by a silent one, and a
//! panic that escapes still aborts in libfuzzer-sys's wrapper and fails the run.
#![no_main]

use std::io::Write;

use hangar_cli::formats::{image, table};
use libfuzzer_sys::fuzz_target;

static QUIET_PANICS: std::sync::Once = std::sync::Once::new();

fuzz_target!(|data: &[u8]| {
    QUIET_PANICS.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let name = match which % 3 {
        0 => "x.parquet",
        1 => "x.png",
        _ => "x.jpg",
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path().join(name);
    std::fs::File::create(&p)
        .and_then(|mut f| f.write_all(body))
        .expect("write the input");
    match which % 3 {
        0 => {
            let Ok(mut t) = table::open(&p) else { return };
            let plan = table::plan(&t.schema, None, None);
            for _ in 0..64 {
                let Some(Ok(batch)) = t.next_batch() else {
                    break;
                };
                if let Ok(plan) = &plan {
                    let _ = table::cells(&batch, plan);
                }
            }
        }
        1 => {
            if let Ok((_, shape)) = image::probe_png(&p) {
                if shape.iter().product::<usize>() <= 16 << 20 {
                    let _ = image::read_png(&p);
                }
            }
        }
        _ => {
            if let Ok((_, shape)) = image::probe_jpeg(&p) {
                if shape.iter().product::<usize>() <= 16 << 20 {
                    let _ = image::read_jpeg(&p);
                }
            }
        }
    }
});
