//! Criterion micro-benchmarks of the engine's hot paths (run: cargo bench -p hangar-benches).
#![allow(clippy::unwrap_used)] // a benchmark: failing loudly is the right thing

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use hangar_core::{DType, NdArraySpec, Repository, TensorRef};
use hangar_store::{Digest, ValueHeader};

const N: usize = 20_000;

fn data() -> Vec<u8> {
    hangar_benches::random(N).images
}

/// An image column (u8[784]) of a writer.
fn images(co: &hangar_core::WriterCheckout) -> hangar_core::WriterColumn {
    co.add_ndarray_column("i", NdArraySpec::with_shape(DType::U8, &[784]))
        .unwrap()
}

/// A fresh repository (kept alive by its directory) for one iteration.
fn fresh_repo() -> (tempfile::TempDir, Repository) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path(), "b", "b@x", false).unwrap();
    (dir, repo)
}

fn hashing(c: &mut Criterion) {
    let d = data();
    let mut g = c.benchmark_group("digest");
    g.throughput(Throughput::Bytes(784));
    g.bench_function("value digest of one u8[784] sample", |b| {
        b.iter(|| {
            ValueHeader::Tensor {
                dtype: DType::U8,
                shape: &[784],
            }
            .digest(black_box(&d[..784]))
        })
    });
    g.finish();

    // 64 record-table leaves of a typical size (64 entries of a 9-byte key and a 66-byte
    // inline record, ~4.9 KiB): the group a commit's tree builder hashes at once, one by
    // one and side by side (`Digest::of_objects`), against BLAKE3 over the same bytes as
    // one input (its widest SIMD use: the limit).
    let leaves: Vec<Vec<u8>> = (0..64usize)
        .map(|i| d[i * 97..i * 97 + 4_800 + 13 * (i % 16)].to_vec())
        .collect();
    let refs: Vec<&[u8]> = leaves.iter().map(Vec::as_slice).collect();
    let all: Vec<u8> = leaves.concat();
    let mut g = c.benchmark_group("leaf digests");
    g.throughput(Throughput::Bytes(all.len() as u64));
    g.bench_function("64 leaves, one by one", |b| {
        b.iter(|| {
            refs.iter()
                .map(|l| Digest::of_object(2, black_box(l)))
                .collect::<Vec<_>>()
        })
    });
    g.bench_function("64 leaves, side by side", |b| {
        let mut out = Vec::with_capacity(64);
        b.iter(|| {
            out.clear();
            Digest::of_objects(2, black_box(&refs), &mut out);
        })
    });
    g.bench_function("the same bytes as one BLAKE3 input (limit)", |b| {
        b.iter(|| blake3::hash(black_box(&all)))
    });
    g.finish();
}

fn inserts(c: &mut Criterion) {
    let d = data();
    let mut g = c.benchmark_group("insert");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    for (name, bulk) in [
        ("per-sample set, write-through", false),
        ("per-sample set, bulk session", true),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched(
                fresh_repo,
                |(dir, repo)| {
                    let co = repo.checkout_writer().unwrap();
                    let col = images(&co);
                    let session = bulk.then(|| co.bulk().unwrap());
                    for i in 0..N {
                        col.set(i as u64, TensorRef::new(&d[i * 784..(i + 1) * 784], &[784]))
                            .unwrap();
                    }
                    if let Some(s) = session {
                        s.finish().unwrap();
                    }
                    dir
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.bench_function("extend_from_buffer + commit", |b| {
        b.iter_batched(
            fresh_repo,
            |(dir, repo)| {
                let co = repo.checkout_writer().unwrap();
                let col = images(&co);
                col.extend_from_buffer(0..N as u64, TensorRef::new(&d, &[N, 784]))
                    .unwrap();
                co.commit("c").unwrap();
                dir
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn reads(c: &mut Criterion) {
    let d = data();
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path(), "b", "b@x", false).unwrap();
    let co = repo.checkout_writer().unwrap();
    let col = images(&co);
    col.extend_from_buffer(0..N as u64, TensorRef::new(&d, &[N, 784]))
        .unwrap();
    co.commit("c").unwrap();
    co.close().unwrap();
    let r = repo.checkout().unwrap().column("i").unwrap();
    let mut g = c.benchmark_group("read");
    g.throughput(Throughput::Elements(1));
    let mut k = 0u64;
    g.bench_function("random sample, owned copy", |b| {
        b.iter(|| {
            k = (k + 7919) % N as u64;
            black_box(r.get(k).unwrap());
        })
    });
    g.bench_function("random sample, zero-copy view", |b| {
        b.iter(|| {
            k = (k + 7919) % N as u64;
            black_box(r.get_view(k).unwrap());
        })
    });
    g.finish();
}

criterion_group!(benches, hashing, inserts, reads);
criterion_main!(benches);
