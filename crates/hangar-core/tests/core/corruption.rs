//! Damaged files: every decoder returns an error, never panics, never returns wrong data,
//! and verify names the damaged file.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use hangar_core::{DType, ErrorKind, NdArraySpec, Repository, TensorRef, Value};

use crate::copy_dir;

fn build() -> (tempfile::TempDir, BTreeMap<(String, String), Value>) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path(), "T", "t@x", false).unwrap();
    let co = repo.checkout_writer().unwrap();
    let imgs = co
        .add_ndarray_column("imgs", NdArraySpec::with_shape(DType::U8, &[80]))
        .unwrap();
    let var = co
        .add_ndarray_column(
            "var",
            NdArraySpec::with_shape(DType::F32, &[4, 4]).variable_shape(true),
        )
        .unwrap();
    let text = co.add_str_column("text").unwrap();
    // imgs' values (80 bytes) are stored in segments; var's, text's and labels' (at
    // most 64 bytes) are inline in the record tables, so damage to either reaches values.
    let labels = co
        .add_ndarray_column("labels", NdArraySpec::with_shape(DType::U8, &[1]))
        .unwrap();
    for i in 0..40u8 {
        labels
            .set(u64::from(i), TensorRef::new(&[i % 10], &[1]))
            .unwrap();
    }
    for i in 0..12u8 {
        imgs.set(
            format!("k{i}"),
            TensorRef::new(&[i.wrapping_mul(37); 80], &[80]),
        )
        .unwrap();
    }
    var.set("v", TensorRef::new(&[1.5f32; 6], &[2, 3])).unwrap();
    text.set("t", "some text").unwrap();
    co.metadata().set("m", "meta").unwrap();
    co.commit("one").unwrap();
    imgs.set("k0", TensorRef::new(&[200u8; 80], &[80])).unwrap();
    co.commit("two").unwrap();
    co.close().unwrap();
    let reader = repo.checkout().unwrap();
    let mut expected = BTreeMap::new();
    for name in ["imgs", "var", "text", "labels"] {
        let c = reader.column(name).unwrap();
        for item in c.items().unwrap() {
            let (k, v) = item.unwrap();
            expected.insert((name.to_string(), k.to_string()), v);
        }
    }
    (dir, expected)
}

fn files(hangar: &Path, sub: &str) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(hangar.join(sub))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[derive(Debug, Default)]
struct Outcome {
    detected: bool,
    wrong_reads: usize,
}

/// Opens the damaged repository, reads everything, verifies. Panics propagate to the caller.
fn probe(root: &Path, expected: &BTreeMap<(String, String), Value>) -> Outcome {
    let mut out = Outcome::default();
    let repo = match Repository::open(root) {
        Ok(r) => r,
        Err(_) => {
            out.detected = true;
            return out;
        }
    };
    match repo.verify() {
        Ok(report) if report.is_ok() => {}
        _ => out.detected = true,
    }
    if let Ok(reader) = repo.checkout() {
        for ((col, key), want) in expected {
            let got = reader.column(col).and_then(|c| c.get(key.as_str()));
            match got {
                Ok(v) if &v == want => {}
                Ok(_) => out.wrong_reads += 1,
                Err(e) => {
                    out.detected = true;
                    assert!(
                        matches!(
                            e.kind(),
                            ErrorKind::Corrupt
                                | ErrorKind::NotFound
                                | ErrorKind::Io
                                | ErrorKind::Unsupported
                                | ErrorKind::InvalidArgument
                        ),
                        "unexpected error kind for damage: {e}"
                    );
                }
            }
        }
    }
    out
}

/// Flips bits and truncates one file; returns (mutations, detected, wrong reads).
fn mutate_file(
    pristine: &Path,
    work: &Path,
    rel: &Path,
    expected: &BTreeMap<(String, String), Value>,
    samples: usize,
) -> (usize, usize, usize) {
    let original = std::fs::read(pristine.join(rel)).unwrap();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ original.len() as u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut mutations: Vec<Vec<u8>> = Vec::new();
    for _ in 0..samples {
        let bit = (next() % (original.len() as u64 * 8)) as usize;
        let mut b = original.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        mutations.push(b);
    }
    for cut in [
        0,
        1,
        original.len() / 3,
        original.len() / 2,
        original.len().saturating_sub(1),
    ] {
        mutations.push(original[..cut].to_vec());
    }
    let (mut detected, mut wrong) = (0, 0);
    for m in &mutations {
        copy_dir(pristine, work);
        std::fs::write(work.join(rel), m).unwrap();
        let root = work.parent().unwrap();
        let outcome = catch_unwind(AssertUnwindSafe(|| probe(root, expected)))
            .unwrap_or_else(|_| panic!("a damaged {} made the library panic", rel.display()));
        detected += usize::from(outcome.detected);
        wrong += outcome.wrong_reads;
    }
    (mutations.len(), detected, wrong)
}

#[test]
fn damaged_checksummed_files_are_always_detected_and_never_give_wrong_data() {
    let (dir, expected) = build();
    let pristine = dir.path().join(".hangar");
    let scratch = tempfile::tempdir().unwrap();
    let work = scratch.path().join(".hangar");
    let mut targets: Vec<PathBuf> = Vec::new();
    for sub in ["segments", "packs", "index"] {
        for f in files(&pristine, sub) {
            targets.push(f.strip_prefix(&pristine).unwrap().to_path_buf());
        }
    }
    assert!(targets.len() >= 5, "{targets:?}");
    for rel in &targets {
        let (n, detected, wrong) = mutate_file(&pristine, &work, rel, &expected, 60);
        assert_eq!(wrong, 0, "{}: wrong data returned", rel.display());
        assert_eq!(
            detected,
            n,
            "{}: {} of {n} mutations went unnoticed",
            rel.display(),
            n - detected
        );
    }
}

#[test]
fn damaged_small_files_never_panic_or_give_wrong_data() {
    let (dir, expected) = build();
    let pristine = dir.path().join(".hangar");
    let scratch = tempfile::tempdir().unwrap();
    let work = scratch.path().join(".hangar");
    for rel in [
        "refs/heads/master",
        "format",
        "config.json",
        "staging/journal",
    ] {
        let (_, _, wrong) = mutate_file(&pristine, &work, Path::new(rel), &expected, 40);
        assert_eq!(wrong, 0, "{rel}: wrong data returned");
    }
}

/// The bytes of sample k5 of column imgs, as a reader checkout reads them.
fn k5_bytes(dir: &Path) -> Vec<u8> {
    let repo = Repository::open(dir).unwrap();
    let co = repo.checkout().unwrap();
    let view = co.column("imgs").unwrap().get_view("k5").unwrap();
    view.as_bytes().to_vec()
}

/// Flips a byte of the value `want` (80 bytes) where a segment stores it: that segment,
/// the value's offset in it and the file's new bytes.
fn flip_stored_byte(hangar: &Path, want: &[u8]) -> (PathBuf, usize, Vec<u8>) {
    let mut hit = None;
    for f in files(hangar, "segments") {
        let bytes = std::fs::read(&f).unwrap();
        if let Some(pos) = bytes.windows(80).position(|w| w == want) {
            hit = Some((f, pos));
        }
    }
    let (seg, pos) = hit.unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[pos + 3] ^= 0x01;
    std::fs::write(&seg, &bytes).unwrap();
    (seg, pos, bytes)
}

#[test]
fn a_flipped_value_byte_is_reported_by_verify_and_by_reads_of_that_sample_only() {
    let (dir, expected) = build();
    let hangar = dir.path().join(".hangar");
    let want = k5_bytes(dir.path());
    let (seg, _, _) = flip_stored_byte(&hangar, &want);
    let repo = Repository::open(dir.path()).unwrap();
    let report = repo.verify().unwrap();
    assert!(!report.is_ok());
    assert!(report.problems.iter().any(|p| p.path == seg), "{report}");
    let imgs = repo.checkout().unwrap().column("imgs").unwrap();
    let e = imgs.get("k5").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt);
    assert!(e.to_string().contains("checksum"), "{e}");
    assert_eq!(
        &imgs.get("k6").unwrap(),
        &expected[&("imgs".to_string(), "k6".to_string())]
    );
}

#[test]
fn a_missing_segment_is_reported() {
    let (dir, _) = build();
    let hangar = dir.path().join(".hangar");
    let seg = files(&hangar, "segments").into_iter().next().unwrap();
    std::fs::remove_file(&seg).unwrap();
    let repo = Repository::open(dir.path()).unwrap();
    let report = repo.verify().unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.path == seg && p.detail.contains("missing")),
        "{report}"
    );
}

#[test]
fn a_value_rewritten_with_a_matching_crc_is_caught_by_verify_recomputing_its_digest() {
    // A CRC is no defence against a deliberate change: rewrite k5's bytes in its
    // segment and the CRC its index entry holds (with the entry's own checksum). Reads
    // see nothing wrong; verify, which hashes every value (small ones side by side with
    // the others of their column), must name k5 and only k5.
    let (dir, _) = build();
    let hangar = dir.path().join(".hangar");
    let want = vec![5u8.wrapping_mul(37); 80];
    let (seg, pos, bytes) = flip_stored_byte(&hangar, &want);
    let new_crc = hangar_store::crc32(&bytes[pos..pos + 80]);
    let (old_crc, mut patched) = (hangar_store::crc32(&want), 0);
    for run in files(&hangar, "index") {
        let mut b = std::fs::read(&run).unwrap();
        for i in 0..b.len().saturating_sub(63) {
            let e = &b[i..i + 64];
            if hangar_store::crc32(&e[..60]).to_le_bytes() == e[60..64]
                && e[48..56] == 80u64.to_le_bytes()
                && e[56..60] == old_crc.to_le_bytes()
            {
                b[i + 56..i + 60].copy_from_slice(&new_crc.to_le_bytes());
                let crc = hangar_store::crc32(&b[i..i + 60]);
                b[i + 60..i + 64].copy_from_slice(&crc.to_le_bytes());
                patched += 1;
            }
        }
        std::fs::write(&run, &b).unwrap();
    }
    assert_eq!(patched, 1, "k5's index entry");
    assert_eq!(
        k5_bytes(dir.path()),
        &bytes[pos..pos + 80],
        "the rewritten bytes read back"
    );
    let repo = Repository::open(dir.path()).unwrap();
    let report = repo.verify().unwrap();
    let hashing: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.detail.contains("does not hash to its digest"))
        .collect();
    assert_eq!(hashing.len(), 1, "{report}");
    assert_eq!(hashing[0].path, seg, "{report}");
    assert!(
        hashing[0].detail.contains("column \"imgs\"") && hashing[0].detail.contains("k5"),
        "{report}"
    );
    // Besides: the segment's whole-file checksum (kept in the index run's header).
    assert!(report.problems.iter().all(|p| p.path == seg), "{report}");
    assert_eq!(report.problems.len(), 2, "{report}");
}
