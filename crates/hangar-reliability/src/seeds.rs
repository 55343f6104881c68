//! `hangar-reliability fuzz-seeds DIR`: writes seed inputs for the fuzz targets in
//! `fuzz/` from a small real repository: its segments, packs, index runs, journal, and
//! every object (prefixed by the `decoders` target's selector byte).

use std::path::Path;

use hangar_core::{Compression, DType, NdArraySpec, Repository, TensorRef};

fn put(dir: &Path, target: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let d = dir.join(target);
    std::fs::create_dir_all(&d)?;
    std::fs::write(d.join(name), bytes)
}

/// Writes the seeds under `out/<target>/`; returns how many.
pub fn write(out: &Path) -> Result<usize, String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let root = tmp.path();
    let err = |e: hangar_core::Error| e.to_string();
    let repo = Repository::init(root, "seed", "s@example.com", false).map_err(err)?;
    let co = repo.checkout_writer().map_err(err)?;
    // "a" holds 80-byte values (stored in segments, so the segment target has seeds);
    // "b" and "v" hold values of at most 64 bytes (inline in record-table leaves).
    let a = co
        .add_ndarray_column("a", NdArraySpec::with_shape(DType::U8, &[80]))
        .map_err(err)?;
    let b = co
        .add_ndarray_column("b", NdArraySpec::with_shape(DType::U8, &[4]))
        .map_err(err)?;
    let v = co
        .add_ndarray_column(
            "v",
            NdArraySpec::with_shape(DType::F32, &[3, 3]).variable_shape(true),
        )
        .map_err(err)?;
    let n = co.add_nested_str_column("n").map_err(err)?;
    // Compressed columns: their committed values are Parquet segments (the
    // parquet_segment target's seeds), of a fixed-shape and a variable-shape tensor.
    let z = co
        .add_ndarray_column(
            "z",
            NdArraySpec::with_shape(DType::U8, &[80]).compression(Compression::Zstd(3)),
        )
        .map_err(err)?;
    let zv = co
        .add_ndarray_column(
            "zv",
            NdArraySpec::with_shape(DType::F32, &[8, 8])
                .variable_shape(true)
                .compression(Compression::Lz4),
        )
        .map_err(err)?;
    for i in 0..6u8 {
        a.set(u64::from(i), TensorRef::new(&[i; 80], &[80]))
            .map_err(err)?;
        b.set(u64::from(i), TensorRef::new(&[i; 4], &[4]))
            .map_err(err)?;
    }
    v.set("x", TensorRef::new(&[1.5f32; 2], &[1, 2]))
        .map_err(err)?;
    for i in 0..6u8 {
        z.set(u64::from(i), TensorRef::new(&[i + 100; 80], &[80]))
            .map_err(err)?;
        let rows = usize::from(i) + 3;
        zv.set(
            u64::from(i),
            TensorRef::new(&vec![f32::from(i); rows * 8], &[rows, 8]),
        )
        .map_err(err)?;
    }
    n.set_subsample("s", "t", "text").map_err(err)?;
    co.metadata().set("m", "meta").map_err(err)?;
    co.commit("seed").map_err(err)?;
    a.set(7u64, TensorRef::new(&[7u8; 80], &[80]))
        .map_err(err)?;
    b.set(7u64, TensorRef::new(&[7u8; 4], &[4])).map_err(err)?;
    let journal = std::fs::read(root.join(".hangar/staging/journal")).map_err(|e| e.to_string())?;
    co.close().map_err(err)?;
    let h = root.join(".hangar");
    let mut count = 0;
    let mut w = |target: &str, name: &str, bytes: &[u8]| -> Result<(), String> {
        count += 1;
        put(out, target, name, bytes).map_err(|e| e.to_string())
    };
    w("journal", "journal", &journal)?;
    let selectors = [
        ("refs/heads/master", 0u8),
        ("format", 1),
        ("config.json", 2),
        ("staging/journal", 3),
    ];
    for (rel, sel) in selectors {
        if let Ok(b) = std::fs::read(h.join(rel)) {
            let mut s = vec![sel];
            s.extend(&b);
            w(
                "repository",
                &format!("{sel}-{}", rel.replace('/', "_")),
                &s,
            )?;
        }
    }
    let store = hangar_store::Store::open(&h).map_err(|e| e.to_string())?;
    for (sub, target, sel) in [
        ("segments", "segment", 7u8),
        ("packs", "pack", 6),
        ("index", "index_run", 5),
    ] {
        let mut files: Vec<_> = std::fs::read_dir(h.join(sub))
            .map_err(|e| e.to_string())?
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        for (i, p) in files.iter().enumerate() {
            let b = std::fs::read(p).map_err(|e| e.to_string())?;
            let is_parquet = p.extension().is_some_and(|e| e == "parquet");
            w(
                if is_parquet {
                    "parquet_segment"
                } else {
                    target
                },
                &format!("{i}"),
                &b,
            )?;
            let mut s = vec![sel];
            s.extend(&b);
            w("repository", &format!("{sel}-{sub}-{i}"), &s)?;
            if sub == "packs" {
                let objects =
                    hangar_store::internal::pack::scan_pack(p, &b).map_err(|e| e.to_string())?;
                for (digest, ty) in objects {
                    if let Ok(Some((_, body))) = store.read_object(&digest) {
                        // The decoders target: 0 commit, 1 root, 2 schema, 3 tree node.
                        let sel = match ty {
                            4 => 0u8,
                            3 => 1,
                            1 => 2,
                            _ => 3,
                        };
                        let mut s = vec![sel];
                        s.extend(body.as_slice());
                        w("decoders", &digest.short(), &s)?;
                    }
                }
            }
        }
    }
    // Every target fuzz/run.sh starts from a repository file must have seeds: a target
    // without its corpus directory fails there with a message that hides the cause (as
    // when format v2 moved the seed repository's small values out of its segments).
    for target in [
        "journal",
        "repository",
        "segment",
        "parquet_segment",
        "pack",
        "index_run",
        "decoders",
    ] {
        if !out.join(target).is_dir() {
            return Err(format!(
                "no fuzz seeds for target {target}: the seed repository wrote no such file"
            ));
        }
    }
    Ok(count)
}
