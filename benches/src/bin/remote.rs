//! Push and clone through a remote, against the limit measured in the same run: the
//! same bytes uploaded and downloaded with `object_store` directly.
//!
//! The data: the first N (default 60,000) Fashion-MNIST training images (u8 [28,28]) and
//! their labels, in one commit. Figures: push (first, then again unchanged), clone
//! without data, clone with data, `fetch-data` of 1,000 random samples (bytes received
//! per byte wanted), streaming reads of 2,000 random samples twice (uncached reads/s, the
//! second pass's cache hits), each with its ratio to the direct transfer (upload from memory;
//! download into a local file, fsynced, as a clone's data lands).
//!
//! Usage: remote --url s3://bucket/prefix --endpoint http://127.0.0.1:3900 [--region R]
//!               [--n 60000] [--json FILE]
//!        remote --url file:///dir
//! (S3 credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.)
//! `benches/compare/remote.sh` starts a single-node Garage on loopback and runs this.

use std::time::Instant;

use hangar_benches::arg;
use hangar_core::{DType, FetchDataOptions, NdArraySpec, RemoteSpec, Repository, SampleKey};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::json;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn direct_store(
    url: &str,
    endpoint: Option<&str>,
    region: Option<&str>,
) -> Res<(Box<dyn ObjectStore>, String)> {
    let u = url::Url::parse(url)?;
    if u.scheme() == "file" {
        let path = u.to_file_path().map_err(|()| "bad file URL")?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(path)?.with_fsync(true);
        return Ok((Box::new(fs), "direct".into()));
    }
    hangar_core::remote::install_tls_provider();
    let mut b = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(u.host_str().unwrap_or_default());
    if let Some(e) = endpoint {
        b = b.with_endpoint(e).with_client_options(
            object_store::ClientOptions::new().with_allow_http(e.starts_with("http://")),
        );
    }
    if let Some(r) = region {
        b = b.with_region(r);
    }
    Ok((
        Box::new(b.build()?),
        format!("{}/direct", u.path().trim_matches('/')),
    ))
}

fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

fn main() -> Res<()> {
    let url = arg("--url").ok_or("give --url s3://bucket/prefix or file:///dir")?;
    let endpoint = arg("--endpoint");
    let region = arg("--region");
    let n: usize = arg("--n").map_or(Ok(60_000), |v| v.parse())?;
    // Fashion-MNIST has 60,000 training images; beyond that, random bytes.
    let data = hangar_benches::load(if n > 60_000 { "random" } else { "auto" }, n)?;
    let raw_bytes = data.images.len() + data.labels.len() * 8;
    println!(
        "remote benchmark: {n} samples of {} ({:.1} MB) to {url}",
        data.source,
        raw_bytes as f64 / 1e6
    );

    // `--only-bare`: push and clone without data only (for the 1M-sample clone target).
    let only_bare = std::env::args().any(|a| a == "--only-bare");
    // The limit: the same bytes up and down with object_store directly, in 64 MiB
    // objects, one at a time.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (direct, prefix) = direct_store(&url, endpoint.as_deref(), region.as_deref())?;
    let mut payload = data.images.clone();
    payload.extend(data.labels.iter().flat_map(|l| l.to_le_bytes()));
    let chunks: Vec<Vec<u8>> = payload.chunks(64 << 20).map(|c| c.to_vec()).collect();
    let t = Instant::now();
    for (i, c) in chunks.iter().enumerate().filter(|_| !only_bare) {
        let p = object_store::path::Path::from(format!("{prefix}/{i}"));
        rt.block_on(direct.put(&p, PutPayload::from(c.clone())))?;
    }
    let direct_up = secs(t);
    // Downloading a file: the bytes land in a local file, fsynced (as a clone's do).
    let work = tempfile::tempdir()?;
    let t = Instant::now();
    let mut got = 0;
    let mut file = std::fs::File::create(work.path().join("download"))?;
    for i in (0..chunks.len()).filter(|_| !only_bare) {
        let p = object_store::path::Path::from(format!("{prefix}/{i}"));
        let b = rt.block_on(async { direct.get(&p).await?.bytes().await })?;
        std::io::Write::write_all(&mut file, &b)?;
        got += b.len();
    }
    file.sync_all()?;
    let direct_down = secs(t);
    assert!(only_bare || got == payload.len());

    let src = Repository::init(work.path().join("src"), "Bench", "bench@example.com", false)?;
    let co = src.checkout_writer()?;
    let images = co.add_ndarray_column("images", NdArraySpec::with_shape(DType::U8, &[28, 28]))?;
    let labels = co.add_ndarray_column("labels", NdArraySpec::with_shape(DType::I64, &[1]))?;
    let session = co.bulk()?;
    images.extend_from_buffer(
        0..n as u64,
        hangar_core::TensorRef::new(&data.images, &[n, 28, 28]),
    )?;
    labels.extend_from_buffer(
        0..n as u64,
        hangar_core::TensorRef::new(&data.labels, &[n, 1]),
    )?;
    session.finish()?;
    co.commit("seed")?;
    co.close()?;
    let spec = RemoteSpec {
        name: "origin".into(),
        url: format!("{}/{}", url.trim_end_matches('/'), std::process::id()),
        endpoint: endpoint.clone(),
        region: region.clone(),
    };
    src.add_remote(&spec)?;
    let t = Instant::now();
    let pushed = src.push("origin", "master")?;
    let push = secs(t);
    let t = Instant::now();
    let again = src.push("origin", "master")?;
    let push_again = secs(t);
    assert!(again.up_to_date);

    let t = Instant::now();
    let (bare, _) = Repository::clone_from(
        work.path().join("bare"),
        &spec,
        "Bench",
        "bench@example.com",
        None,
        false,
    )?;
    let clone_bare = secs(t);
    if only_bare {
        println!(
            "push: {push:.3} s ({} bytes); push again {:.1} ms; clone without data: {:.1} ms",
            pushed.bytes,
            push_again * 1e3,
            clone_bare * 1e3
        );
        return Ok(());
    }
    let t = Instant::now();
    Repository::clone_from(
        work.path().join("full"),
        &spec,
        "Bench",
        "bench@example.com",
        None,
        true,
    )?;
    let clone_full = secs(t);

    // 1,000 random samples of the images.
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let keys: Vec<SampleKey> = (0..1000)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            SampleKey::Int(s % n as u64)
        })
        .collect();
    let t = Instant::now();
    let fd = bare.fetch_data(
        "origin",
        "master",
        &FetchDataOptions {
            columns: vec!["images".into()],
            keys: Some(keys),
            ..FetchDataOptions::default()
        },
    )?;
    let fetch_1000 = secs(t);

    // Streaming reads: no clone, 2,000 random samples (uncached), then the same again.
    let stream = Repository::open_remote(work.path().join("stream"), &spec, 1 << 30)?;
    let reader = stream.checkout()?;
    let col = reader.column("images")?;
    let picks: Vec<u64> = (0..2000)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s % n as u64
        })
        .collect();
    let t = Instant::now();
    for k in &picks {
        col.get(*k)?;
    }
    let first_epoch = secs(t);
    let after_first = stream.stream_stats()?.unwrap_or_default();
    let t = Instant::now();
    for k in &picks {
        col.get(*k)?;
    }
    let second_epoch = secs(t);
    let after_second = stream.stream_stats()?.unwrap_or_default();
    let second_hits = after_second.hits - after_first.hits;
    // The same 2,000 samples through a fresh reader, as a dataloader reads them: batches
    // of 256, each prefetched at once (what the C ABI's batch get does) and then read.
    let batched = Repository::open_remote(work.path().join("stream-batched"), &spec, 1 << 30)?;
    let breader = batched.checkout()?;
    let bcol = breader.column("images")?;
    let t = Instant::now();
    for chunk in picks.chunks(256) {
        let keys: Vec<hangar_core::SampleKey> = chunk.iter().map(|&k| k.into()).collect();
        bcol.prefetch(&keys)?;
        for k in chunk {
            bcol.get(*k)?;
        }
    }
    let batched_epoch = secs(t);

    let mb = |b: f64, s: f64| b / 1e6 / s;
    println!("direct object_store: upload {direct_up:.3} s ({:.0} MB/s), download {direct_down:.3} s ({:.0} MB/s)", mb(payload.len() as f64, direct_up), mb(payload.len() as f64, direct_down));
    println!(
        "push: {push:.3} s ({} bytes) = {:.2} of the direct upload's throughput",
        pushed.bytes,
        direct_up / push
    );
    println!("push again, unchanged: {:.1} ms", push_again * 1e3);
    println!("clone without data: {:.1} ms", clone_bare * 1e3);
    println!(
        "clone with data: {clone_full:.3} s = {:.2} of the direct download's throughput",
        direct_down / clone_full
    );
    println!(
        "fetch-data of 1,000 samples: {:.1} ms, {} values, {} bytes received for {} wanted ({:.2}x)",
        fetch_1000 * 1e3,
        fd.values,
        fd.bytes,
        fd.value_bytes,
        fd.bytes as f64 / fd.value_bytes.max(1) as f64
    );
    println!(
        "streaming reads (open_remote): 2,000 random samples {:.0} reads/s uncached ({} fetched); \
         the same again {:.0} reads/s, cache hits {:.1}%",
        picks.len() as f64 / first_epoch,
        after_first.misses,
        picks.len() as f64 / second_epoch,
        100.0 * second_hits as f64 / picks.len() as f64
    );
    println!(
        "streaming reads in batches of 256 (prefetched): {:.0} reads/s uncached = {:.0}x one by one",
        picks.len() as f64 / batched_epoch,
        first_epoch / batched_epoch
    );
    if let Some(path) = arg("--json") {
        std::fs::write(
            path,
            serde_json::to_string_pretty(&json!({
                "n": n, "source": data.source, "raw_bytes": raw_bytes,
                "direct_upload_s": direct_up, "direct_download_s": direct_down,
                "push_s": push, "push_bytes": pushed.bytes, "push_ratio": direct_up / push,
                "push_again_s": push_again, "clone_bare_s": clone_bare,
                "clone_full_s": clone_full, "clone_ratio": direct_down / clone_full,
                "fetch_1000_s": fetch_1000, "fetch_1000_bytes": fd.bytes,
                "fetch_1000_value_bytes": fd.value_bytes,
                "stream_uncached_reads_per_s": picks.len() as f64 / first_epoch,
                "stream_cached_reads_per_s": picks.len() as f64 / second_epoch,
                "stream_second_epoch_hit_rate": second_hits as f64 / picks.len() as f64,
                "stream_batched_uncached_reads_per_s": picks.len() as f64 / batched_epoch,
            }))?,
        )?;
    }
    Ok(())
}
