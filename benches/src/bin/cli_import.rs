//! `hangar import` of the 60,000 Fashion-MNIST training images from the IDX file and from
//! one `.npy`, and of a directory of 10,000 PNG files, against the library's bulk path
//! (`extend_from_buffer` + commit) on the same images, in the same run.
//!
//! Build the tool first: `cargo build --release -p hangar-cli`. Needs the Debian package
//! `dataset-fashion-mnist`.
//!
//! Usage: cli_import [--hangar PATH] [--pngs 10000] [--runs 3] [--json FILE]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use hangar_benches::{arg, fashion_mnist, hangar_bin, FASHION_MNIST_DIR};
use hangar_core::{DType, NdArraySpec, Repository, TensorRef};
use serde_json::json;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn run(hangar: &Path, dir: &Path, args: &[&str]) -> Res<()> {
    let out = Command::new(hangar)
        .current_dir(dir)
        .env("HANGAR_USER_NAME", "bench")
        .env("HANGAR_USER_EMAIL", "bench@example.com")
        .args(args)
        .arg("--quiet")
        .output()?;
    if !out.status.success() {
        return Err(format!("hangar {args:?}: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(())
}

/// Seconds of the best of `runs` imports, each into a fresh repository.
fn time_cli(hangar: &Path, base: &Path, runs: usize, args: &[&str]) -> Res<f64> {
    let mut best = f64::MAX;
    for r in 0..runs {
        let dir = base.join(format!(
            "cli-{}-{r}",
            args.join("-")
                .replace(['/', '.'], "_")
                .chars()
                .take(40)
                .collect::<String>()
        ));
        std::fs::create_dir_all(&dir)?;
        run(hangar, &dir, &["init"])?;
        let t = Instant::now();
        run(hangar, &dir, args)?;
        best = best.min(t.elapsed().as_secs_f64());
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(best)
}

/// Seconds of the best of `runs` library bulk inserts (+ commit) of `images`.
fn time_library(base: &Path, runs: usize, images: &[u8], n: usize) -> Res<f64> {
    let mut best = f64::MAX;
    for r in 0..runs {
        let dir = base.join(format!("lib-{n}-{r}"));
        let repo = Repository::init(&dir, "bench", "bench@example.com", true)?;
        let t = Instant::now();
        let co = repo.checkout_writer()?;
        let c = co.add_ndarray_column("images", NdArraySpec::with_shape(DType::U8, &[28, 28]))?;
        let s = co.bulk()?;
        c.extend_from_buffer(
            0..n as u64,
            TensorRef::from_bytes(DType::U8, &[n, 28, 28], &images[..n * 784]),
        )?;
        s.finish()?;
        co.commit("import")?;
        co.close()?;
        best = best.min(t.elapsed().as_secs_f64());
        drop(repo);
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(best)
}

/// A `.npy` of `n` images, as numpy writes it.
fn write_npy(path: &Path, images: &[u8], n: usize) -> Res<()> {
    let mut dict = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': ({n}, 28, 28), }}");
    let total = (10 + dict.len() + 1).div_ceil(64) * 64;
    dict.push_str(&" ".repeat(total - 10 - dict.len() - 1));
    dict.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    b.extend_from_slice(dict.as_bytes());
    b.extend_from_slice(&images[..n * 784]);
    std::fs::write(path, b)?;
    Ok(())
}

fn main() -> Res<()> {
    let hangar = hangar_bin()?;
    let pngs: usize = arg("--pngs").map_or(Ok(10_000), |s| s.parse())?;
    let runs: usize = arg("--runs").map_or(Ok(3), |s| s.parse())?;
    let fm = Path::new(FASHION_MNIST_DIR);
    let idx = fm.join("train-images-idx3-ubyte.gz");
    if !idx.is_file() {
        return Err(format!(
            "{} is missing: apt-get install dataset-fashion-mnist",
            idx.display()
        )
        .into());
    }
    let data = fashion_mnist(fm, 60_000)?;
    let tmp = tempfile::tempdir()?;
    let base = tmp.path();
    let npy = base.join("train-images.npy");
    write_npy(&npy, &data.images, 60_000)?;
    // The PNGs are written by hangar itself (export --format png of the first images).
    let small = base.join("small.npy");
    write_npy(&small, &data.images, pngs)?;
    let src = base.join("png-source");
    std::fs::create_dir_all(&src)?;
    run(&hangar, &src, &["init"])?;
    run(
        &hangar,
        &src,
        &[
            "import",
            "images",
            small.to_str().ok_or("path")?,
            "--create",
            "-m",
            "src",
        ],
    )?;
    let png_dir = base.join("pngs");
    run(
        &hangar,
        &src,
        &[
            "export",
            "images",
            "-o",
            png_dir.to_str().ok_or("path")?,
            "--format",
            "png",
        ],
    )?;

    println!("hangar import vs the library's bulk path (best of {runs}, each into a fresh repository, through the commit)");
    let lib60 = time_library(base, runs, &data.images, 60_000)?;
    let lib_png = time_library(base, runs, &data.images, pngs)?;
    let idx_s = time_cli(
        &hangar,
        base,
        runs,
        &[
            "import",
            "images",
            idx.to_str().ok_or("path")?,
            "--create",
            "-m",
            "import",
        ],
    )?;
    let npy_s = time_cli(
        &hangar,
        base,
        runs,
        &[
            "import",
            "images",
            npy.to_str().ok_or("path")?,
            "--create",
            "-m",
            "import",
        ],
    )?;
    let png_s = time_cli(
        &hangar,
        base,
        runs,
        &[
            "import",
            "images",
            png_dir.to_str().ok_or("path")?,
            "--create",
            "--int-keys",
            "-m",
            "import",
        ],
    )?;
    let row = |what: &str, n: usize, s: f64, lib: f64| {
        println!(
            "  {what:<46} {:>8.3} s {:>10.0} records/s   {:>5.2}x the library's time",
            s,
            n as f64 / s,
            s / lib
        );
    };
    row(
        "library: extend_from_buffer of 60,000 images",
        60_000,
        lib60,
        lib60,
    );
    row(
        "hangar import train-images-idx3-ubyte.gz (IDX)",
        60_000,
        idx_s,
        lib60,
    );
    row("hangar import train-images.npy", 60_000, npy_s, lib60);
    row(
        &format!("library: extend_from_buffer of {pngs} images"),
        pngs,
        lib_png,
        lib_png,
    );
    row(
        &format!("hangar import of a directory of {pngs} PNGs"),
        pngs,
        png_s,
        lib_png,
    );
    if let Some(path) = arg("--json") {
        std::fs::write(
            path,
            serde_json::to_string_pretty(&json!({
                "library_60k_s": lib60, "idx_60k_s": idx_s, "npy_60k_s": npy_s,
                "library_png_s": lib_png, "png_s": png_s, "pngs": pngs,
            }))?,
        )?;
    }
    Ok(())
}
