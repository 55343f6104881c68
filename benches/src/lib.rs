//! Shared pieces of the libhangar benchmarks: the seed workload's data.
//!
//! Real data is Fashion-MNIST (MIT licence) from the Debian package
//! `dataset-fashion-mnist`, read from its IDX files; the synthetic case is uniformly random
//! bytes (incompressible) with random labels.

use std::io::Read;
use std::path::Path;

/// Where the Debian package installs Fashion-MNIST.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Images (N × 784 u8) and labels (N i64) of the seed workload.
#[derive(Debug, Clone)]
pub struct SeedData {
    /// Where the data came from.
    pub source: String,
    /// Number of samples.
    pub n: usize,
    /// N × 784 bytes.
    pub images: Vec<u8>,
    /// N labels.
    pub labels: Vec<i64>,
}

fn read_gz(path: &Path) -> std::io::Result<Vec<u8>> {
    let f = std::fs::File::open(path)?;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(f).read_to_end(&mut out)?;
    Ok(out)
}

fn be32(b: &[u8], at: usize) -> usize {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

/// Reads the first `n` training images and labels of Fashion-MNIST (IDX format).
pub fn fashion_mnist(dir: &Path, n: usize) -> std::io::Result<SeedData> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let imgs = read_gz(&dir.join("train-images-idx3-ubyte.gz"))?;
    let labels = read_gz(&dir.join("train-labels-idx1-ubyte.gz"))?;
    if imgs.len() < 16 || be32(&imgs, 0) != 0x803 || labels.len() < 8 || be32(&labels, 0) != 0x801 {
        return Err(bad("not IDX image/label files"));
    }
    let count = be32(&imgs, 4).min(be32(&labels, 4));
    let (rows, cols) = (be32(&imgs, 8), be32(&imgs, 12));
    if rows * cols != 784 || n > count || imgs.len() < 16 + count * 784 || labels.len() < 8 + count
    {
        return Err(bad("unexpected IDX dimensions"));
    }
    Ok(SeedData {
        source: "fashion-mnist".into(),
        n,
        images: imgs[16..16 + n * 784].to_vec(),
        labels: labels[8..8 + n].iter().map(|&l| i64::from(l)).collect(),
    })
}

/// `n` random images and labels (incompressible), deterministic.
pub fn random(n: usize) -> SeedData {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut images = vec![0u8; n * 784];
    for chunk in images.chunks_mut(8) {
        let v = next().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    let labels = (0..n).map(|_| (next() % 10) as i64).collect();
    SeedData {
        source: "random".into(),
        n,
        images,
        labels,
    }
}

/// Loads `which` ("fashion", "random" or "auto": Fashion-MNIST when installed).
pub fn load(which: &str, n: usize) -> std::io::Result<SeedData> {
    let dir = Path::new(FASHION_MNIST_DIR);
    match which {
        "random" => Ok(random(n)),
        "fashion" => fashion_mnist(dir, n),
        _ if dir.join("train-images-idx3-ubyte.gz").exists() => fashion_mnist(dir, n),
        _ => Ok(random(n)),
    }
}

/// The value after `name` on the command line.
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// The release `hangar` tool to measure: `--hangar PATH`, `HANGAR_BIN`, or the `hangar`
/// beside this bench binary (the same target directory, wherever `CARGO_TARGET_DIR` put
/// it); an error saying how to build it when missing.
pub fn hangar_bin() -> Result<std::path::PathBuf, Box<dyn std::error::Error>> {
    let p = arg("--hangar")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HANGAR_BIN").map(std::path::PathBuf::from))
        .or_else(|| Some(std::env::current_exe().ok()?.with_file_name("hangar")))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/hangar"));
    if !p.is_file() {
        return Err(format!(
            "{} is missing: build it with `cargo build --release -p hangar-cli`",
            p.display()
        )
        .into());
    }
    Ok(p)
}

/// Bytes of the files under `path`.
pub fn du(path: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(path) {
        for e in rd.flatten() {
            let p = e.path();
            total += if p.is_dir() {
                du(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            };
        }
    }
    total
}

/// A small deterministic pseudo-random sequence (picks for random reads).
pub fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed | 1;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    }
}
