//! Compressed columns: values sealed as Parquet segments read back exactly, through
//! reopen, history, diff, gc and verify; damage to a Parquet segment is detected.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hangar_core::gc::GcOptions;
use hangar_core::{ColumnSchema, Compression, DType, NdArraySpec, Repository, TensorRef, Value};

use crate::{new_repo, u8s};

fn files_with(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join(".hangar/segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

/// An image-like value: mostly zeros, some structure (compresses like Fashion-MNIST).
fn image(i: u32) -> Vec<u8> {
    (0..784u32)
        .map(|j| {
            if (j + i).is_multiple_of(5) {
                (i * 31 + j) as u8
            } else {
                0
            }
        })
        .collect()
}

fn var_tensor(i: u32) -> (Vec<f32>, Vec<usize>) {
    let shape = vec![(i % 7 + 3) as usize, 5];
    let data = (0..shape[0] * 5)
        .map(|j| (i * 100 + j as u32) as f32)
        .collect();
    (data, shape)
}

fn text(i: u32) -> String {
    format!(
        "sample {i}: {}",
        "the quick brown fox ".repeat((i % 9 + 4) as usize)
    )
}

fn blob(i: u32) -> Vec<u8> {
    (0..(100 + i % 50)).map(|j| (j * i) as u8).collect()
}

/// Columns of every kind, each compressed: images (zstd, put one by one and as one
/// buffer), variable-shape f32 (lz4), str and bytes (zstd), and small inline values.
fn fill(repo: &Repository, range: std::ops::Range<u32>) {
    let co = repo.checkout_writer().unwrap();
    let have = co.column("images").is_ok();
    if !have {
        co.add_ndarray_column(
            "images",
            NdArraySpec::with_shape(DType::U8, &[28, 28]).compression(Compression::Zstd(3)),
        )
        .unwrap();
        co.add_ndarray_column(
            "fields",
            NdArraySpec::with_shape(DType::F32, &[10, 5])
                .variable_shape(true)
                .compression(Compression::Lz4),
        )
        .unwrap();
        co.add_column(
            "notes",
            ColumnSchema::str().with_compression(Compression::Zstd(9)),
        )
        .unwrap();
        co.add_column(
            "blobs",
            ColumnSchema::bytes().with_compression(Compression::Zstd(1)),
        )
        .unwrap();
        co.add_ndarray_column(
            "small",
            NdArraySpec::with_shape(DType::U8, &[16]).compression(Compression::Zstd(3)),
        )
        .unwrap();
    }
    let images = co.column("images").unwrap();
    let half = range.start + (range.end - range.start) / 2;
    for i in range.start..half {
        images
            .set(i as u64, TensorRef::new(&image(i), &[28, 28]))
            .unwrap();
    }
    let rest: Vec<u8> = (half..range.end).flat_map(image).collect();
    let n = (range.end - half) as usize;
    images
        .extend_from_buffer(
            (half..range.end).map(u64::from),
            TensorRef::new(&rest, &[n, 28, 28]),
        )
        .unwrap();
    let fields = co.column("fields").unwrap();
    let notes = co.column("notes").unwrap();
    let blobs = co.column("blobs").unwrap();
    let small = co.column("small").unwrap();
    for i in range.clone() {
        let (d, s) = var_tensor(i);
        fields.set(i as u64, TensorRef::new(&d, &s)).unwrap();
        notes.set(i as u64, text(i).as_str()).unwrap();
        blobs.set(i as u64, &Value::Bytes(blob(i))).unwrap();
        small
            .set(i as u64, TensorRef::new(&[i as u8; 16], &[16]))
            .unwrap();
    }
    co.commit(&format!("samples {range:?}")).unwrap();
    co.close().unwrap();
}

fn check(repo: &Repository, commit: Option<&str>, range: std::ops::Range<u32>) {
    let co = match commit {
        Some(c) => repo.checkout_commit(c).unwrap(),
        None => repo.checkout().unwrap(),
    };
    let (images, fields, notes, blobs, small) = (
        co.column("images").unwrap(),
        co.column("fields").unwrap(),
        co.column("notes").unwrap(),
        co.column("blobs").unwrap(),
        co.column("small").unwrap(),
    );
    assert_eq!(images.len().unwrap(), range.len());
    for i in range {
        assert_eq!(u8s(&images.get(i as u64).unwrap()), image(i), "image {i}");
        let (d, s) = var_tensor(i);
        match fields.get(i as u64).unwrap() {
            Value::Tensor(t) => {
                assert_eq!(t.shape(), &s[..]);
                assert_eq!(t.as_bytes(), bytemuck_f32(&d));
            }
            v => panic!("not a tensor: {v:?}"),
        }
        assert_eq!(notes.get(i as u64).unwrap(), Value::Str(text(i)));
        assert_eq!(blobs.get(i as u64).unwrap(), Value::Bytes(blob(i)));
        assert_eq!(u8s(&small.get(i as u64).unwrap()), vec![i as u8; 16]);
    }
}

fn bytemuck_f32(d: &[f32]) -> Vec<u8> {
    d.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn compressed_columns_read_back_exactly_through_reopen_history_and_diff() {
    let (dir, repo) = new_repo();
    fill(&repo, 0..300);
    let first = repo.resolve("master").unwrap().to_hex();
    // The commit sealed Parquet segments and retired their staging Arrow segments.
    assert!(!files_with(dir.path(), "parquet").is_empty());
    assert!(
        files_with(dir.path(), "arrow").is_empty(),
        "{:?}",
        files_with(dir.path(), "arrow")
    );
    let format = std::fs::read_to_string(dir.path().join(".hangar/format")).unwrap();
    assert!(format.contains("parquet-segments"), "{format}");
    check(&repo, None, 0..300);

    // A second commit changes some samples and adds more.
    fill(&repo, 250..400);
    drop(repo);
    let repo = Repository::open(dir.path()).unwrap();
    check(&repo, Some(&first), 0..300);
    let co = repo.checkout().unwrap();
    assert_eq!(co.column("images").unwrap().len().unwrap(), 400);
    drop(co);
    let diff = repo.diff(&first, "master").unwrap();
    let images = diff.columns.iter().find(|c| c.name == "images").unwrap();
    assert_eq!(images.added.len(), 100);
    assert!(images.mutated.is_empty(), "rewritten with equal values");
    // The schema names its compression, and its digest covers it.
    let co = repo.checkout().unwrap();
    let schema = co.column("images").unwrap().schema().unwrap();
    assert_eq!(schema.compression(), Compression::Zstd(3));
    assert!(schema.to_string().contains("zstd:3"), "{schema}");
    let plain = NdArraySpec::with_shape(DType::U8, &[28, 28])
        .into_schema()
        .unwrap();
    assert_ne!(plain.digest(), schema.digest());
    assert_eq!(ColumnSchema::decode(&schema.encode()).unwrap(), schema);
    drop(co);
    let report = repo.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

#[test]
fn the_page_cache_keeps_to_its_budget() {
    let (_dir, repo) = new_repo();
    fill(&repo, 0..2000);
    let repo2 = Repository::open(repo.path()).unwrap();
    repo2.set_page_cache_budget(256 << 10).unwrap();
    check(&repo2, None, 0..2000);
    let (budget, used) = repo2.page_cache_usage().unwrap();
    assert_eq!(budget, 256 << 10);
    assert!(used <= budget && used > 0, "{used} of {budget}");
    // No cache at all still reads everything.
    repo2.set_page_cache_budget(0).unwrap();
    assert_eq!(repo2.page_cache_usage().unwrap().1, 0);
    check(&repo2, None, 0..2000);
}

#[test]
fn every_flipped_byte_of_a_parquet_segment_is_detected() {
    let (dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = co
        .add_ndarray_column(
            "images",
            NdArraySpec::with_shape(DType::U8, &[28, 28]).compression(Compression::Zstd(3)),
        )
        .unwrap();
    for i in 0..40 {
        c.set(i as u64, TensorRef::new(&image(i), &[28, 28]))
            .unwrap();
    }
    co.commit("images").unwrap();
    co.close().unwrap();
    drop(repo);
    let seg = files_with(dir.path(), "parquet").pop().unwrap();
    let good = std::fs::read(&seg).unwrap();
    let step = (good.len() / 400).max(1);
    for at in (0..good.len()).step_by(step) {
        let mut bad = good.clone();
        bad[at] ^= 0x41;
        std::fs::write(&seg, &bad).unwrap();
        let repo = Repository::open(dir.path()).unwrap();
        let co = repo.checkout().unwrap();
        let c = co.column("images").unwrap();
        // Every read fails (the whole-file checksum is checked before decoding); none
        // returns other bytes.
        for i in 0..40u32 {
            match c.get(i as u64) {
                Ok(v) => panic!("flip at {at}: read {i} returned {} bytes", u8s(&v).len()),
                Err(e) => assert!(e.to_string().contains("checksum"), "flip at {at}: {e}"),
            }
        }
        drop(co);
        let report = repo.verify().unwrap();
        assert!(!report.is_ok(), "flip at {at} passed verify");
    }
    std::fs::write(&seg, &good).unwrap();
    let repo = Repository::open(dir.path()).unwrap();
    assert!(repo.verify().unwrap().is_ok());
}

#[test]
fn gc_rewrites_and_removes_parquet_segments() {
    let (dir, repo) = new_repo();
    fill(&repo, 0..200);
    repo.create_branch("doomed", None).unwrap();
    let co = repo.checkout_writer_branch("doomed").unwrap();
    let images = co.column("images").unwrap();
    for i in 1000..1600u32 {
        images
            .set(i as u64, TensorRef::new(&image(i), &[28, 28]))
            .unwrap();
    }
    co.commit("doomed images").unwrap();
    co.close().unwrap();
    drop(repo.checkout_writer_branch("master").unwrap());
    repo.remove_branch("doomed", true).unwrap();
    let before = files_with(dir.path(), "parquet");
    let report = repo
        .gc(&GcOptions {
            prune_expire: Some(Duration::ZERO),
            ..GcOptions::default()
        })
        .unwrap();
    assert!(
        !report.removed.is_empty() || !report.rewritten.is_empty(),
        "{report:?}"
    );
    let after = files_with(dir.path(), "parquet");
    assert_ne!(before, after);
    check(&repo, None, 0..200);
    let report = repo.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert!(report.unreferenced.is_empty(), "{:?}", report.unreferenced);
}

#[test]
fn a_commit_with_a_compressed_column_lists_the_parquet_feature() {
    let (dir, repo) = new_repo();
    let format = dir.path().join(".hangar/format");
    assert!(!std::fs::read_to_string(&format)
        .unwrap()
        .contains("parquet-segments"));
    fill(&repo, 0..10);
    let text = std::fs::read_to_string(&format).unwrap();
    assert!(text.contains("parquet-segments"), "{text}");
    // The column arrived without the feature listed (a clone, an earlier journal): the
    // next commit that may write Parquet segments lists it again.
    std::fs::write(&format, text.replace(",\n    \"parquet-segments\"", "")).unwrap();
    assert!(!std::fs::read_to_string(&format)
        .unwrap()
        .contains("parquet-segments"));
    fill(&repo, 10..20);
    assert!(std::fs::read_to_string(&format)
        .unwrap()
        .contains("parquet-segments"));
    // A build that does not know the feature refuses the repository, naming it.
    let text = std::fs::read_to_string(&format).unwrap();
    std::fs::write(
        &format,
        text.replace("parquet-segments", "parquet-segments-v9"),
    )
    .unwrap();
    let e = Repository::open(dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("parquet-segments-v9") && e.contains("upgrade"),
        "{e}"
    );
}
