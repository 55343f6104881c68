//! Writes a small repository holding one column of every kind (used by CI to check that
//! pyarrow reads the segments): `cargo run -p hangar-core --example every_kind -- DIR`.

use hangar_core::{DType, NdArraySpec, Repository, Result, TensorRef, ValueRef};

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
    let id = co.commit("every kind of column")?;
    co.close()?;
    println!("{} {}", repo.hangar_dir().display(), id.to_hex());
    Ok(())
}
