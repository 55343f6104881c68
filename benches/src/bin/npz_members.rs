//! `.npz` archives of many members through `hangar export` and `hangar import`: the time
//! per member must stay flat as the member count grows (it grew with the count before:
//! 500 members 0.13 s, 4,000 members 9.25 s). Prints, per size, the seconds and the
//! microseconds per member of each direction, and the ratio to the smallest size.
//!
//! Build the tool first: `cargo build --release -p hangar-cli`.
//! Usage: npz_members [--hangar PATH] [--sizes 500,4000,16000]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use hangar_benches::{arg, hangar_bin};
use hangar_core::{DType, NdArraySpec, Repository, TensorRef};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn run(bin: &Path, dir: &Path, args: &[&str]) -> Res<f64> {
    let t = Instant::now();
    let out = Command::new(bin).current_dir(dir).args(args).output()?;
    if !out.status.success() {
        return Err(format!("hangar {args:?}: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(t.elapsed().as_secs_f64())
}

fn main() -> Res<()> {
    let bin = hangar_bin()?;
    let sizes: Vec<usize> = arg("--sizes")
        .unwrap_or_else(|| "500,4000,16000".into())
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    println!("npz members: hangar export / import of N members of u8[28,28]");
    println!(
        "{:>8} {:>10} {:>12} {:>10} {:>12}",
        "members", "export s", "us/member", "import s", "us/member"
    );
    let mut first: Option<(f64, f64)> = None;
    for n in sizes {
        let tmp = tempfile::tempdir()?;
        let repo = Repository::init(tmp.path(), "bench", "b@example.com", false)?;
        let co = repo.checkout_writer()?;
        let col = co.add_ndarray_column("imgs", NdArraySpec::with_shape(DType::U8, &[28, 28]))?;
        let data: Vec<u8> = (0..n * 784).map(|i| (i % 251) as u8).collect();
        let session = co.bulk()?;
        col.extend_from_buffer(0..n as u64, TensorRef::new(&data, &[n, 28, 28]))?;
        session.finish()?;
        co.commit("members")?;
        co.close()?;
        let export = run(&bin, tmp.path(), &["-q", "export", "imgs", "-o", "all.npz"])?;
        let import = run(
            &bin,
            tmp.path(),
            &["-q", "import", "copy", "all.npz", "--create"],
        )?;
        let (e, i) = (export * 1e6 / n as f64, import * 1e6 / n as f64);
        let (e0, i0) = *first.get_or_insert((e, i));
        println!(
            "{n:>8} {export:>10.3} {e:>12.1} {import:>10.3} {i:>12.1}   per-member ratio to the first size: export {:.2}x, import {:.2}x",
            e / e0,
            i / i0
        );
    }
    Ok(())
}
