//! `hangar remote`, `push`, `clone`, `fetch`, `fetch-data`, `pull` over a `file://`
//! remote: the commands, their `--json` documents, and the not_fetched error; wrong
//! credentials against a real S3 server (s3s-fs).

use crate::Env;

/// Writes `n` images u8 [16,16] (256 bytes: stored in segments, not inline), image i
/// filled with `base + i`, as one .npy file; returns its path.
fn images_npy(env: &Env, name: &str, n: usize, base: u8) -> String {
    let dict = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': ({n}, 16, 16), }}");
    let mut header = dict.into_bytes();
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(&header);
    for i in 0..n {
        out.extend(std::iter::repeat_n(base + i as u8, 256));
    }
    let path = env.file(name);
    std::fs::write(&path, out).unwrap();
    path.to_str().unwrap().to_string()
}

/// Initializes `env`'s repository with an "images" column of [`images_npy`]'s `n`
/// images from `base`, committed as "first".
fn committed_images(env: &Env, n: usize, base: u8) {
    env.init();
    env.ok(&["column", "create", "images", "uint8", "16", "16"]);
    env.ok(&["import", "images", &images_npy(env, "a.npy", n, base)]);
    env.ok(&["commit", "-m", "first"]);
}

/// Pushes `src`'s master to a new `file://` remote "origin" and clones it (history and
/// records only) into a new environment; returns the remote's directory (kept while it
/// lives), its URL, that environment and the clone's path.
fn pushed_and_cloned(src: &Env) -> (tempfile::TempDir, String, Env, String) {
    let remote = tempfile::tempdir().unwrap();
    let url = format!("file://{}", remote.path().display());
    src.ok(&["remote", "add", "origin", &url]);
    src.ok(&["push", "origin", "master"]);
    let dst = Env::new();
    dst.ok(&["clone", &url, "copy"]);
    let copy = dst.path().join("copy").to_str().unwrap().to_string();
    (remote, url, dst, copy)
}

#[test]
fn push_clone_fetch_data_and_pull_from_the_command_line() {
    let src = Env::new();
    committed_images(&src, 5, 0);
    let remote = tempfile::tempdir().unwrap();
    let url = format!("file://{}", remote.path().display());
    src.ok(&["remote", "add", "origin", &url]);
    let list = src.json(&["remote", "list"]);
    assert_eq!(list["remotes"][0]["url"], url.as_str());
    let p = src.json(&["push", "origin"]);
    assert_eq!(p["up_to_date"], false);
    assert!(p["values"].as_u64().unwrap() > 0, "{p}");
    let again = src.json(&["push", "origin", "master"]);
    assert_eq!(again["up_to_date"], true);

    let dst = Env::new();
    let c = dst.json(&["clone", &url, "copy"]);
    assert_eq!(c["branches"][0]["branch"], "master");
    let copy = dst.path().join("copy");
    let copy = copy.to_str().unwrap();
    // The history is here, the images are not: a clear not_fetched error.
    dst.ok(&["-C", copy, "log"]);
    let (o, e) = dst.code(2, &["-C", copy, "cat", "images", "0", "--json"]);
    assert!(
        o.contains("not_fetched") || e.contains("not_fetched"),
        "{o}{e}"
    );
    let (_, e) = dst.code(2, &["-C", copy, "cat", "images", "0"]);
    assert!(e.contains("fetch-data"), "{e}");
    let v = dst.ok(&["-C", copy, "verify"]);
    assert!(v.contains("not fetched"), "{v}");
    // status and summary say how much is not here.
    let st = dst.json(&["-C", copy, "status"]);
    assert_eq!(
        st["not_fetched"],
        serde_json::json!([{"column": "images", "samples": 5}])
    );
    let st = dst.ok(&["-C", copy, "status"]);
    assert!(
        st.contains("images: 5 samples") && st.contains("fetch-data"),
        "{st}"
    );
    let su = dst.ok(&["-C", copy, "summary"]);
    assert!(su.contains("Not Fetched: 5"), "{su}");
    assert_eq!(src.json(&["status"])["not_fetched"], serde_json::json!([]));

    // A key that is not there (mistyped, or the str key where the int key exists) is an
    // error naming it, and nothing is fetched.
    for bad in [&["0", "77"][..], &["str:0"], &["0/1"]] {
        let mut args = vec!["-C", copy, "fetch-data", "origin", "master", "--keys"];
        args.extend_from_slice(bad);
        let e = dst.err(&args);
        assert!(
            e.contains("is not in") && e.contains("nothing was fetched"),
            "{e}"
        );
    }
    assert_eq!(
        dst.json(&["-C", copy, "status"])["not_fetched"],
        serde_json::json!([{"column": "images", "samples": 5}])
    );
    let f = dst.json(&["-C", copy, "fetch-data", "origin", "master", "--keys", "0"]);
    assert_eq!(f["values"], 1, "{f}");
    let su = dst.json(&["-C", copy, "summary"]);
    assert_eq!(
        su["not_fetched"],
        serde_json::json!([{"column": "images", "samples": 4}])
    );
    dst.ok(&["-C", copy, "cat", "images", "0"]);
    let f = dst.json(&[
        "-C",
        copy,
        "fetch-data",
        "origin",
        "origin/master",
        "--column",
        "images",
    ]);
    assert!(f["values"].as_u64().unwrap() >= 1, "{f}");
    dst.ok(&["-C", copy, "verify"]);
    let st = dst.json(&["-C", copy, "status"]);
    assert_eq!(st["not_fetched"], serde_json::json!([]));
    assert!(!dst.ok(&["-C", copy, "summary"]).contains("Not Fetched"));

    // A new commit at the source, pushed, then pulled (a fast-forward).
    src.ok(&["import", "images", &images_npy(&src, "b.npy", 8, 100)]);
    src.ok(&["commit", "-m", "second"]);
    src.ok(&["push", "origin", "master"]);
    let pulled = dst.json(&["-C", copy, "pull", "origin", "master"]);
    let head = src.ok(&["log", "--json"]);
    assert!(head.contains(pulled["head"].as_str().unwrap()), "{pulled}");

    // cat --remote: no clone, the value fetched on demand (the cache under XDG_CACHE_HOME).
    let cache = tempfile::tempdir().unwrap();
    let out = dst.run_ok(
        dst.cmd()
            .env("XDG_CACHE_HOME", cache.path())
            .args(["cat", "--remote", &url, "images", "3", "--raw"]),
    );
    assert_eq!(out.stdout, vec![3u8; 256]);
    assert!(cache.path().join("hangar/remotes").is_dir());
    // A cache directory that cannot be made: an error naming it and what to do.
    let not_a_dir = cache.path().join("file");
    std::fs::write(&not_a_dir, b"").unwrap();
    let e = dst.run_err(
        dst.cmd()
            .env("XDG_CACHE_HOME", &not_a_dir)
            .args(["cat", "--remote", &url, "images", "3"]),
    );
    assert!(
        e.contains("cannot create the cache directory") && e.contains("XDG_CACHE_HOME"),
        "{e}"
    );

    // Errors: an unknown remote, a bad URL, a bad range.
    let e = dst.err(&["-C", copy, "push", "nope", "master"]);
    assert!(e.contains("hangar remote add"), "{e}");
    let e = dst.err(&["-C", copy, "remote", "add", "x", "ftp://h/p"]);
    assert!(e.contains("file:///"), "{e}");
    let e = dst.err(&[
        "-C",
        copy,
        "fetch-data",
        "origin",
        "master",
        "--range",
        "9..1",
    ]);
    assert!(e.contains("--range"), "{e}");
    dst.ok(&["-C", copy, "remote", "remove", "origin"]);
    assert_eq!(
        dst.json(&["-C", copy, "remote", "list"])["remotes"],
        serde_json::json!([])
    );
}

/// `fetch-data --max-bytes` takes a size as users write one (coreutils' suffixes), stops
/// before going over it, and refuses what is not a size, fetching nothing.
#[test]
fn fetch_data_max_bytes_takes_sizes_with_suffixes() {
    let src = Env::new();
    committed_images(&src, 5, 0);
    let (_remote, _url, dst, copy) = pushed_and_cloned(&src);
    let copy = copy.as_str();
    let fetch = |size: &str| {
        let arg = format!("--max-bytes={size}");
        dst.json(&["-C", copy, "fetch-data", "origin", "master", &arg])
    };
    let not_fetched = || dst.json(&["-C", copy, "status"])["not_fetched"].clone();
    let images = |n: u64| serde_json::json!([{"column": "images", "samples": n}]);
    for bad in ["lots", "1.5", "12X", "-1"] {
        let arg = format!("--max-bytes={bad}");
        let (_, e) = dst.code(2, &["-C", copy, "fetch-data", "origin", "master", &arg]);
        assert!(
            e.contains("is not a size") && e.contains("100K"),
            "{bad}: {e}"
        );
    }
    assert_eq!(not_fetched(), images(5));
    // 0.6K = 614 bytes: two of the 256-byte images, not a third.
    let f = fetch("0.6K");
    assert_eq!(
        (&f["values"], &f["value_bytes"]),
        (&2.into(), &512.into()),
        "{f}"
    );
    assert_eq!(not_fetched(), images(3));
    let f = fetch("1KB");
    assert_eq!(f["values"], 3, "{f}");
    assert_eq!(not_fetched(), serde_json::json!([]));
    dst.ok(&["-C", copy, "verify"]);
}

/// S3 settings that could make no valid request (an endpoint without http://, a region
/// with a space, a bucket name with a space) are clear errors where they are given —
/// `remote add`, `clone`, `cat --remote`, the environment — never an internal error,
/// and nothing is created.
#[test]
fn s3_settings_that_make_no_request_are_clear_errors() {
    let env = Env::new();
    committed_images(&env, 1, 0);
    for (args, says) in [
        (&["--endpoint", "127.0.0.1:3900"][..], "not an http://"),
        (&["--endpoint", "http://h:1/a b"], "not an http://"),
        (&["--region", "us east"], "not a region name"),
    ] {
        let mut a = vec!["remote", "add", "x", "s3://bucket/p"];
        a.extend_from_slice(args);
        let e = env.err(&a);
        assert!(
            e.contains(says) && e.contains("given for this remote"),
            "{e}"
        );
    }
    let e = env.err(&["remote", "add", "x", "s3://b%20c/p"]);
    assert!(e.contains("bucket names are"), "{e}");
    assert_eq!(
        env.json(&["remote", "list"])["remotes"],
        serde_json::json!([])
    );
    let out = env.run_err(env.cmd().env("AWS_ENDPOINT_URL", "localhost:9").args([
        "clone",
        "s3://bucket/p",
        "copy",
    ]));
    assert!(
        out.contains("not an http://") && out.contains("environment"),
        "{out}"
    );
    assert!(!env.path().join("copy").exists());
    let out = env.run_err(env.cmd().env("AWS_REGION", "a b").args([
        "cat",
        "--remote",
        "s3://bucket/p",
        "images",
        "0",
        "--endpoint",
        "http://127.0.0.1:9",
    ]));
    assert!(out.contains("not a region name"), "{out}");
}

#[path = "../../../hangar-core/tests/core/servers.rs"]
#[allow(dead_code)]
mod servers;

/// Runs `hangar ARGS` with `AWS_SECRET_ACCESS_KEY` replaced; asserts exit 2 and returns stderr.
fn with_wrong_secret(env: &Env, args: &[&str]) -> String {
    env.run_err(
        env.cmd()
            .env("AWS_SECRET_ACCESS_KEY", "ff".repeat(32))
            .args(args),
    )
}

/// Credentials, region and endpoint from the AWS profile files (`~/.aws/credentials`,
/// `~/.aws/config`), as the `aws` command reads them, against a real S3 server: the
/// profile `AWS_PROFILE` names, else `default`; keys in the environment win over the
/// profile's; a profile that does not exist is a clear error.
#[test]
fn credentials_region_and_endpoint_come_from_the_aws_profile_files() {
    let server = servers::S3s::start("datasets");
    let src = Env::new();
    committed_images(&src, 3, 0);
    let wrong = "ff".repeat(32);
    let (id, secret) = (servers::ACCESS_KEY, servers::SECRET_KEY);
    let keys = [("AWS_ACCESS_KEY_ID", id), ("AWS_SECRET_ACCESS_KEY", secret)];
    let aws = src.path().join(".aws");
    std::fs::create_dir(&aws).unwrap();
    std::fs::write(
        aws.join("credentials"),
        format!(
            "[default]\naws_access_key_id = {id}\naws_secret_access_key = {wrong}\n\n\
             [ci]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n"
        ),
    )
    .unwrap();
    let ep = &server.endpoint;
    std::fs::write(
        aws.join("config"),
        format!(
            "[default]\nregion = us-east-1\nendpoint_url = {ep}\n\
             [profile ci]\nregion = us-east-1\nendpoint_url = {ep}\n"
        ),
    )
    .unwrap();
    // `hangar ARGS` with no AWS variables but AWS_PROFILE=profile (when given) and the
    // extra ones; the environment's HOME is `src`'s directory, where .aws is.
    let run = |profile: Option<&str>, extra: &[(&str, &str)], args: &[&str]| {
        let mut c = src.cmd();
        for k in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_REGION",
            "AWS_ENDPOINT_URL",
        ] {
            c.env_remove(k);
        }
        c.env_remove("AWS_PROFILE");
        if let Some(p) = profile {
            c.env("AWS_PROFILE", p);
        }
        c.envs(extra.iter().copied())
            .args(args)
            .output()
            .expect("runs")
    };
    let text = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).to_string();
    // No --endpoint or --region: both come from the profile.
    src.ok(&["remote", "add", "origin", "s3://datasets/fashion"]);
    // The default profile's secret is wrong: refused, saying what to check.
    let o = run(None, &[], &["push", "origin"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("AWS_SECRET_ACCESS_KEY"), "{}", text(&o));
    let bucket = server.root.path().join("datasets");
    assert_eq!(std::fs::read_dir(&bucket).unwrap().count(), 0);
    // ...but keys in the environment win over the profile's.
    let o = run(None, &keys, &["push", "origin", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    // Profile ci has the right ones: a new commit pushes with them alone.
    src.ok(&["import", "images", &images_npy(&src, "b.npy", 5, 50)]);
    src.ok(&["commit", "-m", "second"]);
    let o = run(Some("ci"), &[], &["push", "origin", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let pushed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(pushed["up_to_date"], false, "{pushed}");
    // No credentials anywhere (no variables, no profile files): refused before any
    // request, saying where to put them, rather than asking EC2's metadata service.
    std::fs::remove_dir_all(&aws).unwrap();
    let o = run(
        None,
        &[("AWS_ENDPOINT_URL", ep.as_str())],
        &["push", "origin"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let e = text(&o);
    assert!(
        e.contains("no credentials") && e.contains("AWS_ACCESS_KEY_ID") && e.contains("~/.aws"),
        "{e}"
    );
    assert!(!e.contains("169.254"), "{e}");
    // AWS_ENDPOINT_URL_S3 (the S3-specific variable) is an endpoint too, and a remote's
    // own --endpoint wins over it.
    let o = run(
        None,
        &[keys[0], keys[1], ("AWS_ENDPOINT_URL_S3", ep.as_str())],
        &["push", "origin"],
    );
    assert!(o.status.success(), "{}", text(&o));
    src.ok(&[
        "remote",
        "add",
        "direct",
        "s3://datasets/direct",
        "--endpoint",
        ep,
    ]);
    let o = run(
        None,
        &[
            keys[0],
            keys[1],
            ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9"),
        ],
        &["push", "direct"],
    );
    assert!(o.status.success(), "{}", text(&o));
    // A prefix written percent-encoded is the decoded text in the bucket's keys.
    src.ok(&[
        "remote",
        "add",
        "spaced",
        "s3://datasets/pre%20fix",
        "--endpoint",
        ep,
    ]);
    let o = run(None, &keys, &["push", "spaced"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        bucket.join("pre fix").is_dir(),
        "{:?}",
        std::fs::read_dir(&bucket).unwrap().collect::<Vec<_>>()
    );
    std::fs::create_dir(&aws).unwrap();
    // A profile that is in neither file: an error naming it and both files.
    let o = run(Some("nope"), &[], &["push", "origin"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let e = text(&o);
    assert!(
        e.contains("\"nope\"") && e.contains(".aws/credentials") && e.contains(".aws/config"),
        "{e}"
    );
}

#[test]
fn wrong_credentials_on_a_real_s3_server_are_refused_clearly_and_change_nothing() {
    let server = servers::S3s::start("datasets");
    let src = Env::new();
    committed_images(&src, 3, 0);
    let url = "s3://datasets/fashion";
    let ep = server.endpoint.as_str();
    src.ok(&[
        "remote",
        "add",
        "origin",
        url,
        "--endpoint",
        ep,
        "--region",
        "us-east-1",
    ]);
    // The text listing shows an S3 remote's own endpoint and region.
    let list = src.ok(&["remote", "list"]);
    assert!(
        list.contains(&format!("origin\t{url}\t(endpoint {ep}, region us-east-1)")),
        "{list}"
    );
    let before = crate::tree_files(&src.path().join(".hangar"));

    // A push with the wrong secret: refused, saying which credentials to check; nothing
    // is written on the server and nothing changes locally.
    let e = with_wrong_secret(&src, &["push", "origin"]);
    assert!(e.contains("AWS_SECRET_ACCESS_KEY"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
    assert_eq!(crate::tree_files(&src.path().join(".hangar")), before);
    let bucket = server.root.path().join("datasets");
    assert_eq!(std::fs::read_dir(&bucket).unwrap().count(), 0);

    // With the right ones it goes through; a clone with the wrong ones leaves no directory.
    src.ok(&["push", "origin"]);
    let dst = Env::new();
    let e = with_wrong_secret(
        &dst,
        &[
            "clone",
            url,
            "copy",
            "--endpoint",
            ep,
            "--region",
            "us-east-1",
        ],
    );
    assert!(e.contains("AWS_SECRET_ACCESS_KEY"), "{e}");
    assert!(!dst.path().join("copy").exists());
    dst.ok(&[
        "clone",
        url,
        "copy",
        "--endpoint",
        ep,
        "--region",
        "us-east-1",
    ]);
    let copy = dst.path().join("copy");
    let copy = copy.to_str().unwrap();
    dst.ok(&["-C", copy, "log"]);
    // fetch-data with the wrong secret: refused, the clone still verifies.
    let e = with_wrong_secret(&dst, &["-C", copy, "fetch-data", "origin", "master"]);
    assert!(e.contains("AWS_SECRET_ACCESS_KEY"), "{e}");
    dst.ok(&["-C", copy, "verify"]);
}

/// What the proxy of [`server_errors_and_timeouts_are_retried_or_reported_cleanly`] does.
const PASS: u8 = 0;
/// Every distinct request fails the first time it is sent (500 or 503), then passes.
const FLAKY: u8 = 1;
/// Every request gets a 500.
const DOWN: u8 = 2;
/// No request is ever answered.
const HANG: u8 = 3;
/// The first time each distinct GET is sent it is not answered; the rest pass.
const HANG_ONCE: u8 = 4;

#[test]
fn server_errors_and_timeouts_are_retried_or_reported_cleanly() {
    use servers::Fault;
    use std::sync::atomic::{AtomicU8, Ordering::SeqCst};
    use std::sync::Arc;
    let server = servers::S3s::start("datasets");
    let mode = Arc::new(AtomicU8::new(PASS));
    let m = mode.clone();
    let plan = move |n: usize, line: &str, first: bool| match m.load(SeqCst) {
        FLAKY if first => Fault::Status(if n.is_multiple_of(2) { 500 } else { 503 }),
        DOWN => Fault::Status(500),
        HANG => Fault::Hang,
        HANG_ONCE if first && line.starts_with("GET ") => Fault::Hang,
        _ => Fault::Pass,
    };
    let proxy = servers::FaultProxy::start(&server.endpoint, Arc::new(plan));
    let set = |m: u8| {
        proxy.forget_seen();
        mode.store(m, SeqCst);
    };
    let ep = proxy.endpoint.as_str();
    let url = "s3://datasets/flaky";
    let remote_args = ["--endpoint", ep, "--region", "us-east-1"];

    let src = Env::new();
    committed_images(&src, 40, 0);
    src.ok(&[&["remote", "add", "origin", url][..], &remote_args].concat());

    // Transient 500s and 503s (each request fails once): retried, the push completes and
    // a clone with data through the same faults holds every value.
    set(FLAKY);
    src.ok(&["push", "origin"]);
    let pushed_faults = proxy.faults();
    assert!(pushed_faults >= 3, "the push met {pushed_faults} faults");
    let dst = Env::new();
    set(FLAKY);
    dst.ok(&[&["clone", url, "copy", "--data"][..], &remote_args].concat());
    assert!(proxy.faults() > pushed_faults);
    let copy = dst.path().join("copy");
    let copy = copy.to_str().unwrap();
    dst.ok(&["-C", copy, "verify"]);
    assert_eq!(
        dst.ok(&["-C", copy, "cat", "images", "39"]),
        src.ok(&["cat", "images", "39"])
    );

    // A server that answers 500 to everything: a clear error after bounded retries;
    // nothing changes locally, and nothing acknowledged on the remote is lost.
    src.ok(&["import", "images", &images_npy(&src, "b.npy", 41, 100)]);
    src.ok(&["commit", "-m", "second"]);
    let head = src.json(&["log", "-n", "1"]);
    set(DOWN);
    let before = crate::tree_files(&src.path().join(".hangar"));
    let start = std::time::Instant::now();
    let (_, e) = src.code(2, &["push", "origin"]);
    assert!(e.contains("500") && e.contains(url), "{e}");
    assert!(!e.contains("panicked"), "{e}");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(60),
        "retries are bounded"
    );
    assert_eq!(crate::tree_files(&src.path().join(".hangar")), before);
    let (_, e) = dst.code(2, &["-C", copy, "fetch", "origin"]);
    assert!(e.contains("500"), "{e}");
    let (_, e) = dst.code(2, &[&["clone", url, "again"][..], &remote_args].concat());
    assert!(e.contains("500"), "{e}");
    assert!(!dst.path().join("again").exists());
    // The server is back: the push completes and the first commit is still there.
    set(PASS);
    src.ok(&["push", "origin"]);
    dst.ok(&["-C", copy, "pull", "origin"]);
    assert_eq!(dst.json(&["-C", copy, "log", "-n", "1"]), head);
    dst.ok(&["-C", copy, "fetch-data", "origin", "master"]);
    dst.ok(&["-C", copy, "verify"]);

    // A server that never answers: with HANGAR_REMOTE_TIMEOUT=1 each attempt gives up
    // after a second, and the command reports a timeout; a GET that hangs once is retried.
    let timed = |env: &Env, args: &[&str]| {
        let out = env
            .cmd()
            .env("HANGAR_REMOTE_TIMEOUT", "1")
            .args(args)
            .output()
            .expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    set(HANG);
    let start = std::time::Instant::now();
    let (code, e) = timed(&dst, &[&["clone", url, "hung"][..], &remote_args].concat());
    assert_eq!(code, Some(2), "{e}");
    assert!(e.contains("did not answer within 1 s"), "{e}");
    assert!(start.elapsed() < std::time::Duration::from_secs(60));
    assert!(!dst.path().join("hung").exists());
    set(HANG_ONCE);
    let (code, e) = timed(
        &dst,
        &[&["clone", url, "slow", "--data"][..], &remote_args].concat(),
    );
    assert_eq!(code, Some(0), "{e}");
    dst.ok(&["-C", "slow", "verify"]);
    // A bad timeout is refused, saying what to give.
    let (code, e) = {
        let out = dst
            .cmd()
            .env("HANGAR_REMOTE_TIMEOUT", "soon")
            .args(["-C", copy, "fetch", "origin"])
            .output()
            .expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    assert_ne!(code, Some(0));
    assert!(
        e.contains("HANGAR_REMOTE_TIMEOUT") && e.contains("seconds"),
        "{e}"
    );
}

#[test]
fn fetch_data_of_named_subsamples_from_the_command_line() {
    // A nested column of 256-byte subsamples (stored in segments, not inline): sample a
    // holds s0 and s1, sample b holds s2, each file one u8 [16,16] image.
    let src = Env::new();
    src.init();
    src.ok(&[
        "column",
        "create",
        "crops",
        "uint8",
        "16",
        "16",
        "--subsamples",
    ]);
    for (sample, sub, fill) in [("a", "s0", 10u8), ("a", "s1", 11), ("b", "s2", 12)] {
        std::fs::create_dir_all(src.file(&format!("nested/{sample}"))).unwrap();
        let one = images_npy(&src, "one.npy", 1, fill);
        let mut bytes = std::fs::read(&one).unwrap();
        // (1, 16, 16) -> (16, 16): the same header length, padded with a space.
        let at = bytes
            .windows(12)
            .position(|w| w == b"(1, 16, 16),")
            .unwrap();
        bytes.splice(at..at + 12, b"(16, 16),   ".iter().copied());
        std::fs::write(src.file(&format!("nested/{sample}/{sub}.npy")), bytes).unwrap();
    }
    src.ok(&["import", "crops", "nested"]);
    src.ok(&["commit", "-m", "nested"]);
    let (_remote, _url, dst, copy) = pushed_and_cloned(&src);
    let copy = copy.as_str();
    let fetch = |keys: &[&'static str]| {
        let mut args = vec!["-C", copy, "fetch-data", "origin", "master", "--keys"];
        args.extend_from_slice(keys);
        args
    };
    let e = dst.err(&fetch(&["a/s9"]));
    assert!(
        e.contains("subsample \"s9\" of sample \"a\" is not in"),
        "{e}"
    );
    let f = dst.json(&fetch(&["a/s1"]));
    assert_eq!(
        (f["values"].clone(), f["in_records"].clone()),
        (1.into(), 0.into()),
        "{f}"
    );
    dst.ok(&["-C", copy, "cat", "crops", "a/s1"]);
    let (_, e) = dst.code(2, &["-C", copy, "cat", "crops", "a/s0"]);
    assert!(e.contains("fetch-data"), "{e}");
    // A whole sample: every subsample it holds.
    let f = dst.json(&fetch(&["a", "b"]));
    assert_eq!(
        (f["values"].clone(), f["already_local"].clone()),
        (2.into(), 1.into()),
        "{f}"
    );
    assert_eq!(
        dst.json(&["-C", copy, "status"])["not_fetched"],
        serde_json::json!([])
    );
}

/// A remote can be given as a directory path, relative or absolute, as `git clone`
/// takes one: `remote add` keeps its absolute `file://` URL, `clone` of a relative path
/// works from another directory; a repository's directory given as a remote is refused
/// with what to do (exit 2, nothing left behind).
#[test]
fn a_remote_given_as_a_directory_path() {
    let src = Env::new();
    committed_images(&src, 3, 7);
    src.ok(&["remote", "add", "origin", "./shared"]);
    let list = src.json(&["remote", "list"]);
    let url = list["remotes"][0]["url"].as_str().unwrap().to_string();
    let abs = src.path().join("shared");
    assert_eq!(url, format!("file://{}", abs.display()));
    src.ok(&["push", "origin"]);

    let dst = Env::new();
    let src_name = src.path().file_name().unwrap().to_str().unwrap();
    let relative = format!("../{src_name}/shared");
    let c = dst.json(&["clone", &relative, "copy", "--data"]);
    assert_eq!(c["branches"][0]["branch"], "master");
    let copy = dst.path().join("copy");
    let shown = dst.ok(&["-C", copy.to_str().unwrap(), "cat", "images", "2", "--json"]);
    assert!(shown.contains("9"), "{shown}");

    let (_, e) = dst.code(2, &["clone", src.path().to_str().unwrap(), "copy2"]);
    assert!(
        e.contains("is a repository, not a remote") && e.contains("hangar push"),
        "{e}"
    );
    assert!(!dst.path().join("copy2").exists());
}

/// `-q` is git's: every command that changes something prints nothing on success (the
/// same commands without it say what they did); what a command is asked to show
/// (status, log, lists) still prints.
#[test]
fn quiet_commands_that_change_something_print_nothing() {
    let env = Env::new();
    let q = |args: &[&str]| {
        let mut a = vec!["-q"];
        a.extend_from_slice(args);
        let (out, err) = env.code(0, &a);
        assert_eq!((out.as_str(), err.as_str()), ("", ""), "hangar {a:?}");
    };
    q(&["init"]);
    q(&["column", "create", "images", "uint8", "16", "16"]);
    q(&["import", "images", &images_npy(&env, "a.npy", 4, 0)]);
    q(&["commit", "-m", "first"]);
    q(&["branch", "dev"]);
    q(&["checkout", "dev"]);
    q(&["rm", "images", "1"]);
    q(&["commit", "-m", "drop 1"]);
    q(&["checkout", "master"]);
    q(&["merge", "dev"]);
    q(&["branch", "-d", "dev"]);
    q(&["column", "create", "spare", "uint8", "2"]);
    q(&["column", "remove", "spare"]);
    q(&["metadata", "set", "note", "to be discarded"]);
    q(&["reset", "--yes"]);
    q(&["export", "images", "-o", "out.npy"]);
    let remote = tempfile::tempdir().unwrap();
    let url = format!("file://{}", remote.path().display());
    q(&["remote", "add", "origin", &url]);
    q(&["push", "origin", "master"]);
    q(&["fetch", "origin"]);
    q(&["fetch-data", "origin", "master"]);
    q(&["pull", "origin", "master"]);
    q(&["clone", &url, "copy"]);
    q(&["remote", "remove", "origin"]);
    q(&["gc", "--prune=now"]);
    q(&["writer-lock", "--force-release"]);
    // Asked to show something: printed with -q too.
    assert!(env.ok(&["-q", "status"]).contains("On branch master"));
    assert!(env.ok(&["-q", "log"]).contains("drop 1"));
    assert!(env.ok(&["-q", "branch"]).contains("master"));
    assert!(env.ok(&["-q", "gc", "--dry-run"]).contains("Dry run"));
    // Without -q the same commands say what they did.
    assert!(env
        .ok(&["branch", "topic"])
        .contains("Created branch topic"));
    assert!(env
        .ok(&["checkout", "topic"])
        .contains("Switched to branch topic"));
    assert!(env
        .ok(&["gc", "--prune=now"])
        .contains("Nothing to remove."));
}
