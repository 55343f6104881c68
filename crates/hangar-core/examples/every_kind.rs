//! Writes a small repository holding one column of every kind (used by CI to check that
//! pyarrow reads the segments, and the Arrow C stream): `cargo run -p hangar-core
//! --example every_kind -- DIR`. The first columns hold values of at most 64 bytes, kept
//! inline in the record tables (format version 2); the `*_big` columns hold larger ones
//! of every kind, which are stored in Arrow IPC segments, and the `*_zstd` and `*_lz4`
//! columns the same values compressed, in Parquet segments.

use hangar_core::{
    ColumnSchema, Compression, DType, NdArraySpec, Repository, Result, TensorRef, ValueRef,
    WriterCheckout,
};

fn main() -> Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/every-kind-repo".into());
    let repo = Repository::init(&dir, "CI", "ci@example.com", true)?;
    let co = repo.checkout_writer()?;
    let fixed = co.add_ndarray_column("images", NdArraySpec::with_shape(DType::U8, &[2, 3]))?;
    let var = co.add_ndarray_column(
        "fields",
        NdArraySpec::with_shape(DType::F32, &[4, 8]).variable_shape(true),
    )?;
    let flags = co.add_ndarray_column("flags", NdArraySpec::with_shape(DType::Bool, &[3]))?;
    let half = co.add_ndarray_column("half", NdArraySpec::with_shape(DType::F16, &[2]))?;
    let text = co.add_str_column("captions")?;
    let blobs = co.add_bytes_column("blobs")?;
    for i in 0..5u8 {
        fixed.set(
            u64::from(i),
            TensorRef::new(&[i, i + 1, i + 2, i + 3, i + 4, i + 5], &[2, 3]),
        )?;
        let f: Vec<f32> = (0..usize::from(i) + 1).map(|x| x as f32 + 0.5).collect();
        var.set(u64::from(i), TensorRef::new(&f, &[1, f.len()]))?;
        flags.set(
            u64::from(i),
            TensorRef::from_bools(&[i % 2 == 0, true, false], &[3]),
        )?;
        half.set(
            u64::from(i),
            TensorRef::new(&[half::f16::from_f32(f32::from(i)), half::f16::ONE], &[2]),
        )?;
        text.set(u64::from(i), format!("caption {i} ✓").as_str())?;
        blobs.set(u64::from(i), ValueRef::Bytes(&[i, 0, 255]))?;
    }
    // Larger values of every kind, uncompressed (Arrow IPC segments) and compressed
    // (Parquet segments).
    big_columns(&co, "big", Compression::None, 0)?;
    big_columns(&co, "zstd", Compression::Zstd(3), 5)?;
    big_columns(&co, "lz4", Compression::Lz4, 10)?;
    let id = co.commit("every kind of column")?;
    co.close()?;
    println!("{} {}", repo.hangar_dir().display(), id.to_hex());
    Ok(())
}

/// Columns of every kind holding values over 64 bytes (stored in segments), named
/// `<kind>_<suffix>`, with compression `c`.
fn big_columns(co: &WriterCheckout, suffix: &str, c: Compression, salt: u8) -> Result<()> {
    let images_big = co.add_ndarray_column(
        &format!("images_{suffix}"),
        NdArraySpec::with_shape(DType::U8, &[8, 10]).compression(c),
    )?;
    let fields_big = co.add_ndarray_column(
        &format!("fields_{suffix}"),
        NdArraySpec::with_shape(DType::F32, &[4, 8])
            .variable_shape(true)
            .compression(c),
    )?;
    let flags_big = co.add_ndarray_column(
        &format!("flags_{suffix}"),
        NdArraySpec::with_shape(DType::Bool, &[80]).compression(c),
    )?;
    let half_big = co.add_ndarray_column(
        &format!("half_{suffix}"),
        NdArraySpec::with_shape(DType::F16, &[40]).compression(c),
    )?;
    let text_big = co.add_column(
        &format!("captions_{suffix}"),
        ColumnSchema::str().with_compression(c),
    )?;
    let blobs_big = co.add_column(
        &format!("blobs_{suffix}"),
        ColumnSchema::bytes().with_compression(c),
    )?;
    for i in 0..5u8 {
        // Other values per set of columns (equal values would be stored once).
        let v = i + salt;
        let px: Vec<u8> = (0..80u8)
            .map(|j| v.wrapping_mul(7).wrapping_add(j))
            .collect();
        images_big.set(u64::from(i), TensorRef::new(&px, &[8, 10]))?;
        let rows = 3 + usize::from(i % 2);
        let f: Vec<f32> = (0..rows * 8)
            .map(|x| x as f32 * 0.25 + f32::from(v))
            .collect();
        fields_big.set(u64::from(i), TensorRef::new(&f, &[rows, 8]))?;
        let bits: Vec<bool> = (0..80)
            .map(|j| (j + usize::from(i)) % (3 + usize::from(salt)) == 0)
            .collect();
        flags_big.set(u64::from(i), TensorRef::from_bools(&bits, &[80]))?;
        let h: Vec<half::f16> = (0..40)
            .map(|j| half::f16::from_f32(j as f32 + f32::from(v)))
            .collect();
        half_big.set(u64::from(i), TensorRef::new(&h, &[40]))?;
        text_big.set(
            u64::from(i),
            format!("caption {v} ✓ {}", "long ".repeat(14)).as_str(),
        )?;
        let b: Vec<u8> = (0..70u8).map(|j| j ^ v).collect();
        blobs_big.set(u64::from(i), ValueRef::Bytes(&b))?;
    }
    Ok(())
}
