//! `hangar import`'s array readers: the first byte picks .npy (from a stream and from a
//! file), .npz, or IDX (plain or gzip'd); the rest is the file. Every read goes through
//! the same checks as an import (declared sizes against the bytes present and a limit of
//! 64 MiB per sample); nothing may panic or allocate past that.
#![no_main]

use std::io::Write;

use hangar_cli::formats::{idx, npy, npz};
use libfuzzer_sys::fuzz_target;

const LIMIT: u64 = 64 << 20;

fn file(name: &str, body: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path().join(name);
    std::fs::File::create(&p)
        .and_then(|mut f| f.write_all(body))
        .expect("write the input");
    (dir, p)
}

fn drain<R: std::io::Read>(mut r: hangar_cli::formats::RowReader<R>) {
    let mut buf = Vec::new();
    let batch = r.batch_rows();
    while let Ok(n) = r.next_rows(batch, &mut buf) {
        if n == 0 {
            let _ = r.finish();
            return;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 5 {
        0 => {
            let mut c = std::io::Cursor::new(body);
            if let Ok(h) = npy::read_header(&mut c) {
                if npy::data_len(&h) <= u128::from(LIMIT) {
                    let _ = npy::read_whole(&h, c, LIMIT, "fuzz");
                }
            }
        }
        1 => {
            let (_d, p) = file("x.npy", body);
            if let Ok((h, r)) = npy::open(&p) {
                if let Ok(rows) = npy::rows(&h, r, "fuzz") {
                    drain(rows);
                }
            }
        }
        2 => {
            let (_d, p) = file("x.npz", body);
            if let Ok(mut z) = npz::Npz::open(&p) {
                for name in z.names().unwrap_or_default().into_iter().take(8) {
                    let _ = z.header(&name);
                    let _ = z.read(&name, LIMIT);
                    if let Ok((_, rows)) = z.rows(&name, "fuzz") {
                        drain(rows);
                    }
                }
            }
        }
        _ => {
            let (_d, p) = file("x-idx3-ubyte", body);
            if let Ok((_, _, rows)) = idx::rows(&p) {
                drain(rows);
            }
        }
    }
});
