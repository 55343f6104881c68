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

#[test]
fn push_clone_fetch_data_and_pull_from_the_command_line() {
    let src = Env::new();
    src.init();
    src.ok(&["column", "create", "images", "uint8", "16", "16"]);
    src.ok(&["import", "images", &images_npy(&src, "a.npy", 5, 0)]);
    src.ok(&["commit", "-m", "first"]);
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

#[path = "../../../hangar-core/tests/core/servers.rs"]
#[allow(dead_code)]
mod servers;

/// Runs `hangar ARGS` with `AWS_SECRET_ACCESS_KEY` replaced; asserts exit 2 and returns stderr.
fn with_wrong_secret(env: &Env, args: &[&str]) -> String {
    let out = env
        .cmd()
        .env("AWS_SECRET_ACCESS_KEY", "ff".repeat(32))
        .args(args)
        .output()
        .expect("runs");
    let e = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "hangar {args:?}: {e}");
    e
}

#[test]
fn wrong_credentials_on_a_real_s3_server_are_refused_clearly_and_change_nothing() {
    let server = servers::S3s::start("datasets");
    let src = Env::new();
    src.init();
    src.ok(&["column", "create", "images", "uint8", "16", "16"]);
    src.ok(&["import", "images", &images_npy(&src, "a.npy", 3, 0)]);
    src.ok(&["commit", "-m", "first"]);
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
    let before = crate::repo_files(&src.path().join(".hangar"), &[]);

    // A push with the wrong secret: refused, saying which credentials to check; nothing
    // is written on the server and nothing changes locally.
    let e = with_wrong_secret(&src, &["push", "origin"]);
    assert!(e.contains("AWS_SECRET_ACCESS_KEY"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
    assert_eq!(crate::repo_files(&src.path().join(".hangar"), &[]), before);
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
