//! Issue 11 item 2: what a file declares is checked against the bytes it holds and a
//! limit before anything is allocated; damaged tables never panic; a panic is one line
//! and exit 3.

use std::io::Write;
use std::time::Duration;

use crate::{fixture, Env};

/// A `.npy` file of u8 elements of `shape` followed by `data` (the header written by the
/// tool's own .npy writer).
fn npy(shape: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = hangar_cli::formats::npy::header_bytes(hangar_core::DType::U8, shape);
    out.extend_from_slice(data);
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn run(env: &Env, args: &[&str]) -> (Option<i32>, String) {
    let out = env
        .cmd()
        .args(args)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn declared_sizes_are_checked_against_the_bytes_present() {
    let env = Env::new();
    env.init();
    // 2^62 empty rows in 128 bytes.
    let f = env.file("huge.npy");
    std::fs::write(&f, npy(&[1 << 62, 0], b"")).unwrap();
    env.ok(&["column", "create", "v", "uint8", "4", "--variable-shape"]);
    let status = env.json(&["status"]);
    let (code, e) = run(&env, &["import", "v", f.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{e}");
    assert!(
        e.contains("declares 4611686018427387904 rows") && e.contains("128 bytes"),
        "{e}"
    );
    // Data past the declared array.
    let f = env.file("trailing.npy");
    std::fs::write(&f, npy(&[2, 2], b"\x01\x02\x03\x04extra")).unwrap();
    let e = env.err(&["import", "t", f.to_str().unwrap(), "--create"]);
    assert!(e.contains("past the array"), "{e}");
    // A gzip'd IDX file that declares far more than its bytes can hold.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&[0, 0, 8, 3, 0, 0, 0xea, 0x60, 0, 0, 0, 28, 0, 0, 0, 28])
        .unwrap();
    let f = env.file("bomb-idx3-ubyte.gz");
    std::fs::write(&f, gz.finish().unwrap()).unwrap();
    let e = env.err(&["import", "i", f.to_str().unwrap(), "--create"]);
    assert!(e.contains("gzip can hold"), "{e}");
    // ...and one that holds more than it declares.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&[0, 0, 8, 1, 0, 0, 0, 2, 7, 8, 9, 9, 9])
        .unwrap();
    let f = env.file("extra-idx1-ubyte.gz");
    std::fs::write(&f, gz.finish().unwrap()).unwrap();
    let e = env.err(&["import", "i", f.to_str().unwrap(), "--create"]);
    assert!(e.contains("past the array"), "{e}");
    // A JPEG whose frame header claims 16000x16000 pixels in a few hundred bytes.
    let mut jpg = std::fs::read(fixture("images/gray.jpg")).unwrap();
    let sof = jpg.windows(2).position(|w| w == [0xff, 0xc0]).unwrap();
    jpg[sof + 5..sof + 9].copy_from_slice(&[0x3e, 0x80, 0x3e, 0x80]);
    let f = env.file("forged.jpg");
    std::fs::write(&f, &jpg).unwrap();
    let e = env.err(&["import", "j", f.to_str().unwrap(), "--create"]);
    assert!(e.contains("16000x16000") && e.contains("truncated"), "{e}");
    // A PNG whose header (checksum fixed up) claims 16000x16000.
    let mut png = std::fs::read(fixture("images/gray.png")).unwrap();
    png[16..24].copy_from_slice(&[0, 0, 0x3e, 0x80, 0, 0, 0x3e, 0x80]);
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    let f = env.file("forged.png");
    std::fs::write(&f, &png).unwrap();
    let e = env.err(&["import", "p", f.to_str().unwrap(), "--create"]);
    assert!(e.contains("16000x16000") && e.contains("can hold"), "{e}");
    // A palette PNG whose palette is 8 bytes, not whole RGB entries (the png crate
    // panicked expanding it; found by fuzzing), checksums right: a clear refusal.
    let chunk = |kind: &[u8], body: &[u8]| {
        let mut c = (body.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(body);
        c.extend_from_slice(&crc32(&c[4..]).to_be_bytes());
        c
    };
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &[0, 0, 0, 6, 0, 0, 0, 4, 4, 3, 0, 0, 0]));
    png.extend(chunk(b"PLTE", &[148, 233, 149, 53, 230, 129, 193, 159]));
    png.extend(chunk(
        b"IDAT",
        &[
            120, 156, 99, 12, 98, 148, 99, 80, 100, 14, 98, 112, 46, 103, 99, 84, 252, 96, 12, 0,
            18, 36, 2, 238,
        ],
    ));
    png.extend(chunk(b"IEND", &[]));
    let f = env.file("palette.png");
    std::fs::write(&f, &png).unwrap();
    let e = env.err(&["import", "q", f.to_str().unwrap(), "--create"]);
    assert!(e.contains("palette (PLTE chunk) is 8 bytes"), "{e}");
    // The per-sample limit, configurable.
    let e = env.run_err(env.cmd().env("HANGAR_MAX_SAMPLE_BYTES", "10").args([
        "import",
        "s",
        &fixture("npy_dir/s0.npy"),
        "--create",
        "--whole",
    ]));
    assert!(
        e.contains("limit of 10 bytes") && e.contains("HANGAR_MAX_SAMPLE_BYTES"),
        "{e}"
    );
    let e = env.run_err(env.cmd().env("HANGAR_MAX_SAMPLE_BYTES", "lots").args([
        "import",
        "s",
        &fixture("npy_dir/s0.npy"),
        "--create",
    ]));
    assert!(e.contains("is not a size"), "{e}");
    // None of it staged anything.
    assert_eq!(env.json(&["status"]), status);
}

/// The input is read (decompressed) a batch ahead on a thread of its own while the
/// previous batch is staged: a stream that fails after several batches were read and
/// staged is still one clear error, and the import stages nothing; an intact one of
/// several batches arrives whole and in order.
#[test]
fn an_input_that_fails_midway_through_its_batches_stages_nothing() {
    let env = Env::new();
    env.init();
    // 40,000 rows of 1,024 bytes (39 MiB: three read batches), each row distinct.
    let (rows, width) = (40_000usize, 1024usize);
    let mut idx = vec![0u8, 0, 8, 2];
    idx.extend_from_slice(&(rows as u32).to_be_bytes());
    idx.extend_from_slice(&(width as u32).to_be_bytes());
    for r in 0..rows {
        let mut row = vec![(r % 251) as u8; width];
        row[..4].copy_from_slice(&(r as u32).to_le_bytes());
        idx.extend_from_slice(&row);
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&idx).unwrap();
    let whole = gz.finish().unwrap();
    let cut = env.file("cut-idx2-ubyte.gz");
    std::fs::write(&cut, &whole[..whole.len() * 9 / 10]).unwrap();
    let (code, e) = run(&env, &["import", "v", cut.to_str().unwrap(), "--create"]);
    assert_eq!(code, Some(2), "{e}");
    assert!(
        e.contains("cut-idx2-ubyte.gz") && e.contains("cannot read the data"),
        "{e}"
    );
    assert_eq!(env.json(&["status"])["clean"], true);
    let good = env.file("good-idx2-ubyte.gz");
    std::fs::write(&good, &whole).unwrap();
    env.ok(&["import", "v", good.to_str().unwrap(), "--create"]);
    for r in [0usize, 16_383, 16_384, 39_999] {
        let out = env.run_ok(
            env.cmd()
                .args(["cat", "v", &r.to_string(), "--raw", "--staged"]),
        );
        assert_eq!(
            out.stdout,
            idx[12 + r * width..12 + (r + 1) * width],
            "row {r}"
        );
    }
}

#[test]
fn a_parquet_footer_that_would_spin_the_decoder_is_refused() {
    let env = Env::new();
    env.init();
    // Found by the import_files fuzz target: 610 bytes whose footer metadata holds lists
    // claiming 2^31 booleans, over which the parquet crate's skipper loops for hours.
    // Refused from the footer's own bytes, at once.
    let e = env.err(&[
        "import",
        "p",
        &fixture("bool_list_bomb.parquet"),
        "--create",
    ]);
    assert!(
        e.contains("damaged Parquet file") && e.contains("booleans"),
        "{e}"
    );
    // A footer claiming more metadata than the file holds.
    let mut bad = std::fs::read(fixture("bool_list_bomb.parquet")).unwrap();
    let n = bad.len();
    bad[n - 8..n - 4].copy_from_slice(&(1u32 << 30).to_le_bytes());
    let f = env.file("claims.parquet");
    std::fs::write(&f, &bad).unwrap();
    let e = env.err(&["import", "p", f.to_str().unwrap(), "--create"]);
    assert!(e.contains("claims 1073741824 bytes of metadata"), "{e}");
    // Found next: a column chunk with a negative offset, on which the parquet crate's
    // byte_range() panics.
    let e = env.err(&[
        "import",
        "p",
        &fixture("negative_offset.parquet"),
        "--create",
    ]);
    assert!(
        e.contains("damaged Parquet file") && e.contains("negative"),
        "{e}"
    );
    let status = env.ok(&["status"]);
    assert!(status.contains("Nothing staged"), "{status}");
}

#[test]
fn damaged_arrow_files_are_errors_never_panics() {
    let env = Env::new();
    env.init();
    // Found by the import_files fuzz target: a footer block claiming 1.4 PB, which the
    // arrow reader would have allocated. Refused from the footer, before any read.
    let e = env.err(&["import", "o", &fixture("oversized_block.arrow"), "--create"]);
    assert!(e.contains("past the end of the file"), "{e}");
    let good = std::fs::read(fixture("tensors.arrow")).unwrap();
    let stream = std::fs::read(fixture("scores.arrows")).unwrap();
    let mut codes = std::collections::BTreeMap::new();
    for (name, orig) in [("t.arrow", &good), ("s.arrows", &stream)] {
        for i in 0..150usize {
            let mut bad = orig.clone();
            let at = (i * 7919) % bad.len();
            bad[at] ^= 1 << (i % 8);
            let f = env.file(name);
            std::fs::write(&f, &bad).unwrap();
            let (code, e) = run(
                &env,
                &["import", &format!("c{i}"), f.to_str().unwrap(), "--create"],
            );
            assert!(
                matches!(code, Some(0 | 2)),
                "byte {at} of {name}: {code:?} {e}"
            );
            assert!(!e.contains("panicked"), "{e}");
            *codes.entry(code).or_insert(0) += 1;
        }
    }
    assert!(codes.get(&Some(2)).is_some_and(|&n| n > 0), "{codes:?}");
}

#[test]
fn a_panic_is_one_line_and_exit_3() {
    let env = Env::new();
    let out = env
        .cmd()
        .env("HANGAR_DEBUG_PANIC", "1")
        .args(["status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.starts_with("error: internal error"), "{e}");
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
}

#[test]
fn cat_of_a_huge_sample_prints_a_summary_without_statistics() {
    let env = Env::new();
    env.init();
    let n = (64 << 20) + 16;
    let f = env.file("big.npy");
    std::fs::write(&f, npy(&[n], &vec![7u8; n])).unwrap();
    env.ok(&[
        "import",
        "big",
        f.to_str().unwrap(),
        "--create",
        "--whole",
        "-m",
        "big",
    ]);
    let out = env.ok(&["cat", "big", "big"]);
    assert!(
        out.contains("not computed for samples over 64 MiB"),
        "{out}"
    );
    assert!(out.contains("[7, 7, 7"), "{out}");
    let small = env.ok(&["cat", "big", "big"]);
    assert!(!small.contains("min 7, max 7") || small.contains("not computed"));
}

/// A compressed file holds more rows than bytes: Debian's gzip'd Fashion-MNIST labels
/// are 60,000 one-byte rows in 29,491 bytes. Such files import whole and exactly (the
/// bound of rows by file length is for rows of no bytes only), while a deflated .npz
/// member whose header declares more than the member holds is still refused before
/// anything is staged.
#[test]
fn compressed_inputs_with_more_rows_than_bytes_import_exactly() {
    let env = Env::new();
    env.init();
    let labels: Vec<u8> = (0..20_000u32).map(|i| (i % 7 + i / 5000) as u8).collect();
    let exported = |column: &str| {
        let out = env.file(&format!("{column}-out.npy"));
        env.ok(&["export", column, "-o", out.to_str().unwrap(), "--force"]);
        let a = hangar_cli::formats::npy::read_owned(std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(a.shape, [labels.len()]);
        a.data
    };
    // A gzip'd IDX file of u8 labels.
    let mut idx = vec![0, 0, 8, 1];
    idx.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    idx.extend_from_slice(&labels);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&idx).unwrap();
    let gz = gz.finish().unwrap();
    assert!(gz.len() < labels.len() / 4, "{} bytes", gz.len());
    let f = env.file("train-labels-idx1-ubyte.gz");
    std::fs::write(&f, &gz).unwrap();
    env.ok(&[
        "import",
        "--create",
        "labels",
        f.to_str().unwrap(),
        "-m",
        "gz",
    ]);
    assert_eq!(exported("labels"), labels);
    // A deflated .npz member, as numpy.savez_compressed writes it.
    let member = |declared: usize, data: &[u8]| {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        z.start_file("tags.npy", opts).unwrap();
        z.write_all(&npy(&[declared], data)).unwrap();
        z.finish().unwrap().into_inner()
    };
    let npz = member(labels.len(), &labels);
    assert!(npz.len() < labels.len() / 4, "{} bytes", npz.len());
    let f = env.file("tags.npz");
    std::fs::write(&f, &npz).unwrap();
    env.ok(&[
        "import",
        "--create",
        "--by-name",
        f.to_str().unwrap(),
        "-m",
        "npz",
    ]);
    assert_eq!(exported("tags"), labels);
    // A member whose header declares 10,000,000 rows over 20,000 bytes.
    let f = env.file("short.npz");
    std::fs::write(&f, member(10_000_000, &labels)).unwrap();
    let before = env.json(&["status"]);
    let e = env.err(&["import", "tags", f.to_str().unwrap(), "--overwrite"]);
    assert!(
        e.contains("declares 10000000 bytes") && e.contains("member holds 20000"),
        "{e}"
    );
    assert_eq!(env.json(&["status"]), before, "nothing staged");
    assert_eq!(exported("tags"), labels);
}
