//! The Rust half of the C ABI overhead benchmark (benches/ffi/run.sh runs both halves):
//! the seed workload's per-sample and batch operations through hangar-core directly,
//! printed as `op ns_per_sample` lines for the same operations that ffi_bench.c makes
//! through libhangar. Usage: ffi_rust [N] [ROUNDS]

use std::time::Instant;

use hangar_core::{
    DType, NdArraySpec, Repository, SampleKey, TensorRef, WriterCheckout, WriterColumn,
};

const PIXELS: usize = 28 * 28;

/// The same deterministic images as ffi_bench.c.
fn image(i: usize, out: &mut [u8]) {
    for (p, px) in out.iter_mut().enumerate() {
        *px = ((p * 31 + i * 17) % 251) as u8;
    }
}

/// A new repository with an empty images column, as ffi_bench.c's `fresh`.
fn fresh_column() -> (tempfile::TempDir, WriterCheckout, WriterColumn) {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repository::init(dir.path(), "bench", "b@example.com", false).expect("init");
    let co = repo.checkout_writer().expect("writer");
    let col = co
        .add_ndarray_column("images", NdArraySpec::with_shape(DType::U8, &[28, 28]))
        .expect("column");
    (dir, co, col)
}

fn best(rounds: usize, n: usize, mut f: impl FnMut() -> f64) -> f64 {
    (0..rounds).map(|_| f()).fold(f64::MAX, f64::min) / n as f64 * 1e9
}

fn main() -> hangar_core::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(50_000);
    let rounds = args.get(1).copied().unwrap_or(3);
    let mut data = vec![0u8; n * PIXELS];
    for (i, img) in data.chunks_exact_mut(PIXELS).enumerate() {
        image(i, img);
    }
    let keys: Vec<SampleKey> = (0..n as u64).map(SampleKey::Int).collect();

    let put = best(rounds, n, || {
        let (_dir, _co, col) = fresh_column();
        let t = Instant::now();
        for (i, img) in data.chunks_exact(PIXELS).enumerate() {
            col.set(i as u64, TensorRef::new(img, &[28, 28]))
                .expect("set");
        }
        t.elapsed().as_secs_f64()
    });
    let bulk_put = best(rounds, n, || {
        let (_dir, co, col) = fresh_column();
        let t = Instant::now();
        let session = co.bulk().expect("bulk");
        for (i, img) in data.chunks_exact(PIXELS).enumerate() {
            col.set(i as u64, TensorRef::new(img, &[28, 28]))
                .expect("set");
        }
        session.finish().expect("finish");
        t.elapsed().as_secs_f64()
    });
    let batch_put = best(rounds, n, || {
        let (_dir, _co, col) = fresh_column();
        let t = Instant::now();
        col.extend_from_buffer(keys.iter(), TensorRef::new(&data, &[n, 28, 28]))
            .expect("batch");
        t.elapsed().as_secs_f64()
    });

    // One committed repository for the reads.
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repository::init(dir.path(), "bench", "b@example.com", false)?;
    let co = repo.checkout_writer()?;
    co.add_ndarray_column("images", NdArraySpec::with_shape(DType::U8, &[28, 28]))?
        .extend_from_buffer(keys.iter(), TensorRef::new(&data, &[n, 28, 28]))?;
    co.commit("data")?;
    co.close()?;
    let reader = repo.checkout()?;
    let col = reader.column("images")?;
    let mut buf = vec![0u8; PIXELS];
    let get = best(rounds, n, || {
        let t = Instant::now();
        for i in 0..n as u64 {
            buf.copy_from_slice(col.get_view(i).expect("get").as_bytes());
        }
        t.elapsed().as_secs_f64()
    });
    let mut sum = 0usize;
    let view = best(rounds, n, || {
        let t = Instant::now();
        for i in 0..n as u64 {
            sum += col.get_view(i).expect("view").as_bytes()[0] as usize;
        }
        t.elapsed().as_secs_f64()
    });
    let mut found = 0usize;
    let contains = best(rounds, n, || {
        let t = Instant::now();
        for i in 0..n as u64 {
            found += usize::from(col.contains(i).expect("contains"));
        }
        t.elapsed().as_secs_f64()
    });
    let mut out = vec![0u8; n * PIXELS];
    let batch_get = best(rounds, n, || {
        let t = Instant::now();
        for (i, dst) in out.chunks_exact_mut(PIXELS).enumerate() {
            dst.copy_from_slice(col.get_view(i as u64).expect("get").as_bytes());
        }
        t.elapsed().as_secs_f64()
    });
    assert_eq!(out, data, "batch read back differs");
    assert!(found == n * rounds && sum > 0);
    for (op, ns) in [
        ("put", put),
        ("bulk_put", bulk_put),
        ("batch_put", batch_put),
        ("get", get),
        ("view", view),
        ("contains", contains),
        ("batch_get", batch_get),
    ] {
        println!("{op} {ns:.1}");
    }
    Ok(())
}
