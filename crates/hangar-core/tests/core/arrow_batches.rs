//! A flat column's samples as Arrow record batches (`arrow_export::ColumnBatches`, behind
//! the C ABI's Arrow C stream): every sample once, in key order, values intact, no copy
//! where the values lie one after another in a segment, and damage reported.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int64Type, UInt8Type};
use arrow_array::RecordBatch;
use hangar_core::arrow_export::ColumnBatches;
use hangar_core::{DType, ErrorKind, NdArraySpec, TensorRef};

use crate::new_repo;

fn all(b: ColumnBatches) -> Vec<RecordBatch> {
    b.collect::<hangar_core::Result<Vec<_>>>().unwrap()
}

#[test]
fn contiguous_values_are_exported_from_the_mapped_segment() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = co
        .add_ndarray_column("v", NdArraySpec::with_shape(DType::F32, &[24]))
        .unwrap();
    // 96-byte values: stored in a segment (values of at most 64 bytes are inline).
    let n = 10_000usize;
    let data: Vec<f32> = (0..n * 24).map(|i| i as f32).collect();
    c.extend_from_buffer(0..n as u64, TensorRef::new(&data, &[n, 24]))
        .unwrap();
    co.commit("v").unwrap();
    co.close().unwrap();
    let r = repo.checkout().unwrap();
    let col = r.column("v").unwrap();
    let batches = all(ColumnBatches::new(&col, 4096, 64 << 20).unwrap());
    assert_eq!(
        batches
            .iter()
            .map(RecordBatch::num_rows)
            .collect::<Vec<_>>(),
        [4096, 4096, 1808]
    );
    let mut next = 0i64;
    for b in &batches {
        let keys = b.column(0).as_primitive::<Int64Type>();
        let values = b.column(1).as_fixed_size_list();
        let floats = values.values().as_primitive::<Float32Type>();
        for i in 0..b.num_rows() {
            assert_eq!(keys.value(i), next);
            assert_eq!(floats.value(i * 24 + 2), (next * 24 + 2) as f32);
            next += 1;
        }
        // The batch's values are the segment's bytes where the zero-copy view of its
        // first sample points: nothing was copied.
        let first = col.get_view(keys.value(0) as u64).unwrap();
        assert_eq!(
            floats.values().inner().as_ptr(),
            first.as_bytes().as_ptr(),
            "batch values were copied"
        );
    }
    assert_eq!(next, n as i64);
}

#[test]
fn scattered_and_shared_values_are_gathered_and_text_batches_are_cut_by_size() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = co
        .add_ndarray_column("img", NdArraySpec::with_shape(DType::U8, &[4]))
        .unwrap();
    // Written in reverse key order, and keys 50.. share one value: not contiguous.
    for i in (0..100u64).rev() {
        let v = if i >= 50 { 255 } else { i as u8 };
        c.set(i, TensorRef::new(&[v; 4], &[4])).unwrap();
    }
    let t = co.add_str_column("text").unwrap();
    for i in 0..20u64 {
        t.set(i, "x".repeat(100 + i as usize).as_str()).unwrap();
    }
    t.set("name", "a string key").unwrap();
    co.commit("scattered").unwrap();
    co.close().unwrap();
    let r = repo.checkout().unwrap();
    let batches = all(ColumnBatches::new(&r.column("img").unwrap(), 30, 1 << 20).unwrap());
    assert_eq!(batches.len(), 4);
    let got: Vec<u8> = batches
        .iter()
        .flat_map(|b| {
            let v = b.column(1).as_fixed_size_list().values().clone();
            v.as_primitive::<UInt8Type>().values().to_vec()
        })
        .collect();
    let want: Vec<u8> = (0..100u64)
        .flat_map(|i| [if i >= 50 { 255 } else { i as u8 }; 4])
        .collect();
    assert_eq!(got, want);

    // Text: cut once a batch holds 500 bytes; string keys with the integers as int:N.
    let batches = all(ColumnBatches::new(&r.column("text").unwrap(), 1000, 500).unwrap());
    assert!(batches.len() >= 4, "{} batches", batches.len());
    let mut keys = Vec::new();
    for b in &batches {
        let k = b.column(0).as_string::<i32>();
        let v = b.column(1).as_string::<i32>();
        for i in 0..b.num_rows() {
            keys.push(k.value(i).to_string());
            if k.value(i) == "name" {
                assert_eq!(v.value(i), "a string key");
            } else {
                assert_eq!(
                    v.value(i).len(),
                    100 + k.value(i)[4..].parse::<usize>().unwrap()
                );
            }
        }
    }
    let mut want: Vec<String> = (0..20).map(|i| format!("int:{i}")).collect();
    want.push("name".into());
    assert_eq!(keys, want);
}

#[test]
fn empty_and_nested_columns_and_damaged_values() {
    let (dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    co.add_ndarray_column("empty", NdArraySpec::with_shape(DType::U8, &[2]))
        .unwrap();
    co.add_ndarray_column(
        "nested",
        NdArraySpec::with_shape(DType::U8, &[2]).contains_subsamples(true),
    )
    .unwrap();
    let c = co
        .add_ndarray_column("v", NdArraySpec::with_shape(DType::U8, &[80]))
        .unwrap();
    let data: Vec<u8> = (0..80 * 100).map(|i| (i / 80) as u8).collect();
    c.extend_from_buffer(0..100u64, TensorRef::new(&data, &[100, 80]))
        .unwrap();
    co.commit("kinds").unwrap();
    co.close().unwrap();
    let r = repo.checkout().unwrap();
    let empty = all(ColumnBatches::new(&r.column("empty").unwrap(), 10, 1 << 20).unwrap());
    assert_eq!(empty.len(), 1, "an empty column still shows its schema");
    assert_eq!(empty[0].num_rows(), 0);
    let e = ColumnBatches::new(&r.column("nested").unwrap(), 10, 1 << 20).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    drop(r);

    // One flipped byte inside a value: the batch holding it fails with Corrupt.
    flip_a_byte_of_value(dir.path(), 42);
    let r = repo.checkout().unwrap();
    let mut b = ColumnBatches::new(&r.column("v").unwrap(), 30, 1 << 20).unwrap();
    assert!(b.next().unwrap().is_ok(), "samples 0..30 are intact");
    let e = b.next().unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.to_string().contains("sample 42"), "{e}");
}

/// String keys read in key order ("s0", "s1", "s10", ...) are not in the segment's order,
/// so each batch is gathered (the parallel copy): every value lands in its row, and a
/// damaged one fails its batch naming its sample.
#[test]
fn gathered_batches_keep_key_order_and_catch_damaged_values() {
    let (dir, repo) = new_repo();
    let keys = string_keyed_column(&repo, "v", NdArraySpec::with_shape(DType::U8, &[80]));
    let r = repo.checkout().unwrap();
    let batches = all(ColumnBatches::new(&r.column("v").unwrap(), 64, 1 << 20).unwrap());
    check_in_key_order(&batches, &keys);
    drop(r);
    flip_a_byte_of_value(dir.path(), 142);
    let r = repo.checkout().unwrap();
    let e = ColumnBatches::new(&r.column("v").unwrap(), 64, 1 << 20)
        .unwrap()
        .find_map(|b| b.err())
        .expect("a batch fails");
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.to_string().contains("s142"), "{e}");
}

/// Flips one byte inside the stored value whose 80 bytes all equal `fill`, in the
/// largest segment of the repository at `dir`.
fn flip_a_byte_of_value(dir: &std::path::Path, fill: u8) {
    let seg = std::fs::read_dir(dir.join(".hangar/segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = bytes
        .windows(80)
        .position(|w| w.iter().all(|&b| b == fill))
        .unwrap_or_else(|| panic!("a value of {fill}s is in the segment"));
    bytes[at + 5] ^= 1;
    std::fs::write(&seg, bytes).unwrap();
}

/// Commits column `name` of u8[80] samples `s0`..`s299`, sample `s{i}` holding
/// `i as u8` 80 times; returns the keys in insertion order.
fn string_keyed_column(
    repo: &hangar_core::Repository,
    name: &str,
    spec: NdArraySpec,
) -> Vec<String> {
    let co = repo.checkout_writer().unwrap();
    let c = co.add_ndarray_column(name, spec).unwrap();
    let data: Vec<u8> = (0..80 * 300).map(|i| (i / 80) as u8).collect();
    let keys: Vec<String> = (0..300).map(|i| format!("s{i}")).collect();
    c.extend_from_buffer(
        keys.iter().map(String::as_str),
        TensorRef::new(&data, &[300, 80]),
    )
    .unwrap();
    co.commit(name).unwrap();
    co.close().unwrap();
    keys
}

/// Batches of string-keyed samples `s{i}` whose values are `i as u8` 80 times: every
/// sample once, in key order ("s0", "s1", "s10", ...), each value in its row.
fn check_in_key_order(batches: &[RecordBatch], keys: &[String]) {
    let mut sorted = keys.to_vec();
    sorted.sort();
    let mut row = 0;
    for b in batches {
        let k = b.column(0).as_string::<i32>();
        let v = b.column(1).as_fixed_size_list();
        for i in 0..b.num_rows() {
            assert_eq!(k.value(i), sorted[row]);
            let n: u8 = sorted[row][1..].parse::<u16>().unwrap() as u8;
            let vals = v.value(i);
            let vals = vals.as_primitive::<UInt8Type>();
            assert!(vals.values().iter().all(|&x| x == n), "row {row}");
            row += 1;
        }
    }
    assert_eq!(row, keys.len());
}

/// The same through a zstd column (Parquet segments): each value decoded, checked and
/// gathered into its row.
#[test]
fn gathered_batches_of_a_compressed_column() {
    let (_dir, repo) = new_repo();
    let keys = string_keyed_column(
        &repo,
        "z",
        NdArraySpec::with_shape(DType::U8, &[80]).compression(hangar_core::Compression::Zstd(3)),
    );
    let r = repo.checkout().unwrap();
    let batches = all(ColumnBatches::new(&r.column("z").unwrap(), 64, 1 << 20).unwrap());
    check_in_key_order(&batches, &keys);
}
