//! Version-control benchmarks: diff and merge of two branches of a 100,000-sample column
//! differing in 1,000 samples, branch creation, checkout of any commit, log over many
//! commits, and (`--scale`) on N-sample columns: a writer opening N staged samples, a commit
//! of 10 changed samples and its diff.
//!
//! Usage: vc [--samples 100000] [--changes 1000] [--commits 10000]
//!           [--scale 100000,1000000,10000000 | --million] [--json FILE]

use std::time::Instant;

use hangar_core::{DType, NdArraySpec, Repository, TensorRef};
use serde_json::json;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn arg(name: &str, default: usize) -> Res<usize> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(args
            .get(i + 1)
            .ok_or(format!("{name} needs a value"))?
            .parse()?),
        None => Ok(default),
    }
}

fn timed<T>(
    label: &str,
    figures: &mut serde_json::Map<String, serde_json::Value>,
    key: &str,
    f: impl FnOnce() -> Res<T>,
) -> Res<T> {
    let t = Instant::now();
    let out = f()?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    println!("{label:<62} {ms:>10.2} ms");
    figures.insert(key.into(), json!(ms));
    Ok(out)
}

/// An empty repository at `dir` (replacing anything there).
fn bench_repo(dir: impl AsRef<std::path::Path>) -> Res<Repository> {
    Ok(Repository::init(dir, "bench", "bench@example.com", true)?)
}

/// A repository with `n` samples (u8[16]) on master, then `changes / 2` different samples
/// changed on master and on a branch `dev` each.
fn two_branches(dir: &std::path::Path, n: usize, changes: usize) -> Res<Repository> {
    let repo = bench_repo(dir)?;
    let co = repo.checkout_writer()?;
    let c = co.add_ndarray_column("samples", NdArraySpec::with_shape(DType::U8, &[16]))?;
    let data: Vec<u8> = (0..n * 16).map(|i| (i * 7 % 251) as u8).collect();
    let s = co.bulk()?;
    c.extend_from_buffer(0..n as u64, TensorRef::new(&data, &[n, 16]))?;
    s.finish()?;
    co.commit("base")?;
    co.close()?;
    repo.create_branch("dev", None)?;
    for (branch, offset) in [("master", 0usize), ("dev", 1)] {
        let co = repo.checkout_writer_branch(branch)?;
        let c = co.column("samples")?;
        for i in 0..changes / 2 {
            let key = ((i * 2 + offset) * (n / changes).max(1)) % n;
            c.set(
                key as u64,
                TensorRef::new(&[(i % 200) as u8 + 1; 16], &[16]),
            )?;
        }
        co.commit(&format!("{branch} changes"))?;
        co.close()?;
    }
    Ok(repo)
}

/// Bytes this process has passed to write(2) and friends so far (`wchar` of
/// /proc/self/io): what a commit writes, whatever the file.
fn bytes_written() -> Res<u64> {
    let io = std::fs::read_to_string("/proc/self/io")?;
    let line = io
        .lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .ok_or("no wchar in /proc/self/io")?;
    Ok(line.trim().parse()?)
}

/// On a column of `m` samples (u8[16]): a commit of 10 changed samples (its time and the
/// bytes it writes), and the diff of the two commits.
fn small_change_at_scale(
    dir: &std::path::Path,
    m: usize,
    fig: &mut serde_json::Map<String, serde_json::Value>,
) -> Res<()> {
    println!("a {m}-sample column (u8[16]): commit 10 changed samples, diff the two commits");
    let repo = bench_repo(dir.join(format!("scale-{m}")))?;
    let co = repo.checkout_writer()?;
    let c = co.add_ndarray_column("v", NdArraySpec::with_shape(DType::U8, &[16]))?;
    let chunk = 1_000_000usize;
    let s = co.bulk()?;
    for start in (0..m).step_by(chunk) {
        let len = chunk.min(m - start);
        let data: Vec<u8> = (start * 16..(start + len) * 16)
            .map(|i| (i * 13 % 251) as u8)
            .collect();
        c.extend_from_buffer(
            start as u64..(start + len) as u64,
            TensorRef::new(&data, &[len, 16]),
        )?;
    }
    s.finish()?;
    co.close()?;
    // The staged area of m samples, opened by a new writer (the journal replayed into
    // the staging overlay), as a commit after `hangar import` opens it.
    let co = timed(
        &format!("  writer open over {m} staged samples"),
        fig,
        &format!("writer_open_staged_ms_{m}"),
        || Ok(repo.checkout_writer()?),
    )?;
    let c = co.column("v")?;
    let a = co.commit("a")?;
    let stride = (m / 10) as u64;
    for i in 0..10u64 {
        c.set(i * stride + 7, TensorRef::new(&[7u8; 16], &[16]))?;
    }
    let before = bytes_written()?;
    let b = timed(
        &format!("  commit of 10 changed samples (N = {m})"),
        fig,
        &format!("commit10_ms_{m}"),
        || Ok(co.commit("b")?),
    )?;
    let written = bytes_written()? - before;
    println!(
        "{:<62} {:>10.1} KB",
        "    written by that commit",
        written as f64 / 1e3
    );
    fig.insert(format!("commit10_bytes_{m}"), json!(written));
    co.close()?;
    let d = timed(
        &format!("  diff of the two commits (N = {m})"),
        fig,
        &format!("diff10_ms_{m}"),
        || Ok(repo.diff(&a.to_hex(), &b.to_hex())?),
    )?;
    if d.counts().samples_mutated != 10 {
        return Err(format!("diff found {} changes, not 10", d.counts().samples_mutated).into());
    }
    Ok(())
}

fn main() -> Res<()> {
    let (n, changes, commits) = (
        arg("--samples", 100_000)?,
        arg("--changes", 1_000)?,
        arg("--commits", 10_000)?,
    );
    let mut fig = serde_json::Map::new();
    let tmp = tempfile::tempdir()?;
    println!("two branches of a {n}-sample column differing in {changes} samples");
    let repo = two_branches(&tmp.path().join("branches"), n, changes)?;
    let diff = timed("diff master -> dev", &mut fig, "diff_ms", || {
        Ok(repo.diff("master", "dev")?)
    })?;
    let c = diff.counts();
    println!("  ({} mutated samples found)", c.samples_mutated);
    timed(
        "merge dev into master (three-way, no conflicts)",
        &mut fig,
        "merge_ms",
        || Ok(repo.merge("merge", "master", "dev")?),
    )?;
    timed("create a branch", &mut fig, "create_branch_ms", || {
        Ok(repo.create_branch("another", Some("dev"))?)
    })?;
    let first = repo
        .log(Some("master"))?
        .entries
        .last()
        .map(|e| e.commit.id)
        .ok_or("no commits")?;
    timed(
        "reader checkout of the first commit + read one sample",
        &mut fig,
        "checkout_commit_ms",
        || {
            let r = repo.checkout_commit(&first.to_hex())?;
            Ok(r.column("samples")?.get(12_345u64 % n as u64)?)
        },
    )?;
    timed(
        "writer checkout of another branch (switch)",
        &mut fig,
        "checkout_writer_branch_ms",
        || Ok(repo.checkout_writer_branch("another")?.close()?),
    )?;

    println!("log over {commits} commits");
    let repo = bench_repo(tmp.path().join("history"))?;
    let co = repo.checkout_writer()?;
    let c = co.add_ndarray_column("c", NdArraySpec::with_shape(DType::U8, &[4]))?;
    let t = Instant::now();
    for i in 0..commits {
        c.set(
            i as u64 % 64,
            TensorRef::new(&(i as u32).to_le_bytes(), &[4]),
        )?;
        co.commit(&format!("commit {i}"))?;
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "{:<62} {:>10.2} ms per commit",
        "  (making the commits)",
        s * 1e3 / commits as f64
    );
    fig.insert("commit_ms_each".into(), json!(s * 1e3 / commits as f64));
    co.close()?;
    let log = timed("log (structured)", &mut fig, "log_ms", || {
        Ok(repo.log(None)?)
    })?;
    timed("log drawn as a graph", &mut fig, "log_graph_ms", || {
        Ok(log.graph_lines())
    })?;

    let scales: Vec<usize> = if std::env::args().any(|a| a == "--million") {
        vec![1_000_000]
    } else {
        match std::env::args().position(|a| a == "--scale") {
            Some(i) => std::env::args()
                .nth(i + 1)
                .ok_or("--scale needs sizes, e.g. 100000,1000000")?
                .split(',')
                .map(|s| s.trim().replace('_', "").parse())
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        }
    };
    for m in scales {
        small_change_at_scale(tmp.path(), m, &mut fig)?;
    }
    if let Some(i) = std::env::args().position(|a| a == "--json") {
        let path = std::env::args().nth(i + 1).ok_or("--json needs a file")?;
        std::fs::write(
            path,
            serde_json::to_string_pretty(&serde_json::Value::Object(fig))?,
        )?;
    }
    Ok(())
}
