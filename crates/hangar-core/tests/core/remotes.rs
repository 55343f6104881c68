//! Remotes over `file://` (the object-store protocol, with no server): push, clone with
//! and without data, fetch-data of exactly the values asked for, `NotFetched`, pull,
//! refused and racing pushes, damage on the remote, bad URLs.

use std::path::Path;

use hangar_core::{
    DType, ErrorKind, FetchDataOptions, MergeOutcome, NdArraySpec, RemoteSpec, Repository,
    SampleKey, TensorRef,
};

use crate::{kind, new_repo, u8s};

fn url_of(dir: &Path) -> String {
    format!("file://{}", dir.display())
}

/// A repository with 20 images (u8 [16,16], stored in segments) and 20 labels (inline),
/// committed once, and pushed to `spec` (added as "origin").
fn pushed_to(spec: &RemoteSpec) -> (tempfile::TempDir, Repository) {
    let (dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let imgs = co
        .add_ndarray_column("imgs", NdArraySpec::with_shape(DType::U8, &[16, 16]))
        .unwrap();
    let labels = co
        .add_ndarray_column("labels", NdArraySpec::with_shape(DType::I64, &[1]))
        .unwrap();
    for i in 0..20u64 {
        imgs.set(i, TensorRef::new(&[i as u8; 256], &[16, 16]))
            .unwrap();
        labels
            .set(i, TensorRef::new(&[i as i64 * 10], &[1]))
            .unwrap();
    }
    co.commit("first").unwrap();
    co.close().unwrap();
    repo.add_remote(spec).unwrap();
    let r = repo.push("origin", "master").unwrap();
    assert!(!r.up_to_date);
    assert_eq!((r.commits, r.values), (1, 20), "{r}");
    (dir, repo)
}

/// [`pushed_to`] a `file://` remote at a fresh directory.
fn pushed() -> (tempfile::TempDir, Repository, tempfile::TempDir, String) {
    let remote_dir = tempfile::tempdir().unwrap();
    let url = url_of(remote_dir.path());
    let (dir, repo) = pushed_to(&RemoteSpec::new("origin", &url));
    (dir, repo, remote_dir, url)
}

fn clone_spec(spec: &RemoteSpec, data: bool) -> (tempfile::TempDir, Repository) {
    let dir = tempfile::tempdir().unwrap();
    let (repo, _) =
        Repository::clone_from(dir.path(), spec, "Cloner", "cloner@example.com", None, data)
            .unwrap();
    (dir, repo)
}

pub(crate) fn clone(url: &str, data: bool) -> (tempfile::TempDir, Repository) {
    clone_spec(&RemoteSpec::new("origin", url), data)
}

/// Value `i` of the pushes of many bundles: 4 KiB, distinct per `i`.
fn four_kib(i: u64) -> Vec<u8> {
    let mut v = vec![(i % 251) as u8; 4096];
    v[..8].copy_from_slice(&i.to_le_bytes());
    v
}

/// A repository with one commit of [`four_kib`] values `0..n` under keys `0..n` in
/// column "v".
fn committed_four_kib(n: u64) -> (tempfile::TempDir, Repository) {
    let (dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let col = co
        .add_ndarray_column("v", NdArraySpec::with_shape(DType::U8, &[4096]))
        .unwrap();
    let all: Vec<u8> = (0..n).flat_map(four_kib).collect();
    col.extend_from_buffer(0..n, TensorRef::new(&all, &[n as usize, 4096]))
        .unwrap();
    co.commit(&format!("{} MB", n * 4096 / 1_000_000)).unwrap();
    co.close().unwrap();
    (dir, repo)
}

/// No ref on the remote `spec` names a commit: a clone finds none (the remote itself
/// may have been set up by a push that failed).
fn assert_no_commit_published(spec: &RemoteSpec) {
    let into = tempfile::tempdir().unwrap();
    match Repository::clone_from(
        into.path().join("c"),
        spec,
        "C",
        "c@example.com",
        None,
        false,
    ) {
        Ok((copy, _)) => assert!(
            copy.branches().unwrap().iter().all(|b| b.head.is_none()),
            "{:?}",
            copy.branches()
        ),
        Err(e) => assert_eq!(e.kind(), ErrorKind::NotFound, "{e}"),
    }
}

#[test]
fn clone_without_data_reads_inline_values_and_says_not_fetched_for_the_rest() {
    let (_d, src, _r, url) = pushed();
    let (_c, repo) = clone(&url, false);
    assert_eq!(
        repo.branch_head("master").unwrap(),
        src.branch_head("master").unwrap()
    );
    let co = repo.checkout().unwrap();
    // Labels are 8 bytes: inline in the record table, so they came with the history.
    let labels = co.column("labels").unwrap();
    assert_eq!(labels.len().unwrap(), 20);
    let imgs = co.column("imgs").unwrap();
    assert_eq!(imgs.len().unwrap(), 20);
    let e = imgs.get(3u64).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFetched, "{e}");
    assert!(e.to_string().contains("fetch-data"), "{e}");
    // A partial clone verifies: unfetched values are not corruption.
    let v = repo.verify().unwrap();
    assert!(v.is_ok(), "{:?}", v.problems);
    assert_eq!(v.not_fetched, 20);
    // How much is not here, per column (labels are inline: all here).
    assert_eq!(
        repo.not_fetched(None).unwrap(),
        vec![("imgs".to_string(), 20)]
    );
    assert_eq!(
        repo.summary(None).unwrap().not_fetched,
        vec![("imgs".to_string(), 20)]
    );
    assert!(src.not_fetched(None).unwrap().is_empty());

    // Fetch exactly two samples' values.
    let opts = FetchDataOptions {
        keys: Some(vec![SampleKey::Int(3), SampleKey::Int(7)]),
        ..FetchDataOptions::default()
    };
    let r = repo.fetch_data("origin", "master", &opts).unwrap();
    assert_eq!(r.values, 2, "{r}");
    assert!(r.bytes <= 2 * 2 * 256, "{r}");
    // The two samples' labels live in their records: here already, and said so.
    assert_eq!((r.already_local, r.in_records), (0, 2), "{r}");
    assert!(
        r.to_string()
            .contains("2 small values held in the record tables"),
        "{r}"
    );
    // A column of small values only: nothing to fetch, every sample accounted for.
    let labels_only = FetchDataOptions {
        columns: vec!["labels".into()],
        ..FetchDataOptions::default()
    };
    let r = repo.fetch_data("origin", "master", &labels_only).unwrap();
    assert_eq!((r.values, r.bytes, r.in_records), (0, 0, 20), "{r}");
    let co = repo.checkout().unwrap();
    let imgs = co.column("imgs").unwrap();
    assert_eq!(u8s(&imgs.get(3u64).unwrap()), vec![3u8; 256]);
    assert_eq!(u8s(&imgs.get(7u64).unwrap()), vec![7u8; 256]);
    assert_eq!(imgs.get(4u64).unwrap_err().kind(), ErrorKind::NotFetched);
    assert_eq!(
        repo.not_fetched(Some("master")).unwrap(),
        vec![("imgs".to_string(), 18)]
    );
    // Again: nothing to do.
    let r = repo.fetch_data("origin", "master", &opts).unwrap();
    assert_eq!((r.values, r.already_local), (0, 2));
    // A range, with a byte budget that stops after two values.
    let opts = FetchDataOptions {
        range: Some(10..20),
        max_bytes: Some(2 * 256),
        columns: vec!["imgs".into()],
        ..FetchDataOptions::default()
    };
    let r = repo.fetch_data("origin", "origin/master", &opts).unwrap();
    assert_eq!((r.values, r.skipped), (2, 8), "{r}");
    let v = repo.verify().unwrap();
    assert!(v.is_ok(), "{:?}", v.problems);
    assert_eq!(v.not_fetched, 16);
}

#[test]
fn fetch_data_of_named_samples_and_subsamples_and_a_missing_key_refused() {
    // A flat column and a nested one of 100-byte values (stored, not inline).
    let (_dir, src) = new_repo();
    let co = src.checkout_writer().unwrap();
    let flat = co
        .add_ndarray_column("flat", NdArraySpec::with_shape(DType::U8, &[100]))
        .unwrap();
    let nested = co
        .add_ndarray_column(
            "nested",
            NdArraySpec::with_shape(DType::U8, &[100]).contains_subsamples(true),
        )
        .unwrap();
    for i in 0..4u64 {
        flat.set(i, TensorRef::new(&[i as u8; 100], &[100]))
            .unwrap();
        for (j, sub) in ["a", "b", "c"].into_iter().enumerate() {
            let v = [100 + 10 * i as u8 + j as u8; 100]; // every value distinct
            nested
                .set_subsample(i, sub, TensorRef::new(&v, &[100]))
                .unwrap();
        }
    }
    drop((flat, nested));
    co.commit("two columns").unwrap();
    co.close().unwrap();
    let remote_dir = tempfile::tempdir().unwrap();
    let url = url_of(remote_dir.path());
    src.add_remote(&RemoteSpec::new("origin", &url)).unwrap();
    src.push("origin", "master").unwrap();
    let (_c, repo) = clone(&url, false);
    let strict =
        |keys: Option<Vec<SampleKey>>, subsamples: Vec<(SampleKey, SampleKey)>| FetchDataOptions {
            columns: vec!["nested".into()],
            keys,
            subsamples,
            require_keys: true,
            ..FetchDataOptions::default()
        };
    // A key the column lacks: refused before anything is fetched, naming it.
    let e = repo
        .fetch_data(
            "origin",
            "master",
            &strict(Some(vec![SampleKey::Int(1), SampleKey::Int(9)]), vec![]),
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(
        e.to_string().contains("sample 9 is not in column nested"),
        "{e}"
    );
    let missing_sub = vec![(SampleKey::Int(2), SampleKey::from("z"))];
    let e = repo
        .fetch_data("origin", "master", &strict(None, missing_sub))
        .unwrap_err();
    assert!(e.to_string().contains("subsample \"z\" of sample 2"), "{e}");
    assert_eq!(
        repo.not_fetched(None)
            .unwrap()
            .iter()
            .map(|c| c.1)
            .sum::<u64>(),
        16
    );
    // Sample 1 whole (its three subsamples) and subsample b of sample 2: four values.
    let opts = strict(
        Some(vec![SampleKey::Int(1)]),
        vec![(SampleKey::Int(2), SampleKey::from("b"))],
    );
    let r = repo.fetch_data("origin", "master", &opts).unwrap();
    assert_eq!(r.values, 4, "{r}");
    let co = repo.checkout().unwrap();
    let nested = co.column("nested").unwrap();
    for sub in ["a", "b", "c"] {
        assert!(nested.get_subsample(1u64, sub).is_ok(), "1/{sub}");
    }
    assert_eq!(
        u8s(&nested.get_subsample(2u64, "b").unwrap()),
        vec![121; 100]
    );
    for sub in ["a", "c"] {
        let e = nested.get_subsample(2u64, sub).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFetched, "2/{sub}: {e}");
    }
    assert_eq!(
        co.column("flat").unwrap().get(1u64).unwrap_err().kind(),
        ErrorKind::NotFetched
    );
    // Without require_keys a missing key is no error (the CLI's bare digits name both
    // the int and the str key, whichever exists).
    let lenient = FetchDataOptions {
        keys: Some(vec![SampleKey::Int(3), SampleKey::Int(9)]),
        ..FetchDataOptions::default()
    };
    let r = repo.fetch_data("origin", "master", &lenient).unwrap();
    assert_eq!(r.values, 4, "flat 3 and nested 3's three subsamples: {r}");
    let v = repo.verify().unwrap();
    assert!(v.is_ok(), "{:?}", v.problems);
    assert_eq!(v.not_fetched, 16 - 8);
}

#[test]
fn clone_with_data_is_complete_and_a_second_push_compares_refs_only() {
    let (_d, src, _r, url) = pushed();
    let (_c, repo) = clone(&url, true);
    let co = repo.checkout().unwrap();
    let imgs = co.column("imgs").unwrap();
    for i in 0..20u64 {
        assert_eq!(u8s(&imgs.get(i).unwrap()), vec![i as u8; 256]);
    }
    let v = repo.verify().unwrap();
    assert!(v.is_ok() && v.not_fetched == 0, "{v:?}");
    let r = src.push("origin", "master").unwrap();
    assert!(r.up_to_date, "{r}");
    assert_eq!(r.bytes, 0);
}

#[test]
fn clone_with_data_brings_every_value_kind_back_exactly() {
    // Variable-shape tensors, str and bytes of more than 64 bytes (stored in segments,
    // so received into new segments, one per format) and small ones (inline).
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let var = co
        .add_ndarray_column(
            "var",
            NdArraySpec::with_shape(DType::F32, &[40, 8]).variable_shape(true),
        )
        .unwrap();
    let text = co.add_str_column("text").unwrap();
    let blobs = co.add_bytes_column("blobs").unwrap();
    let mut want_var = Vec::new();
    for i in 0..30u64 {
        let rows = 1 + (i as usize * 7) % 40;
        let v: Vec<f32> = (0..rows * 8)
            .map(|j| (i * 1000) as f32 + j as f32)
            .collect();
        var.set(i, TensorRef::new(&v, &[rows, 8])).unwrap();
        want_var.push((rows, v));
        text.set(i, "t".repeat(i as usize * 5).as_str()).unwrap();
        blobs
            .set(
                i,
                hangar_core::ValueRef::Bytes(&vec![i as u8; i as usize * 9]),
            )
            .unwrap();
    }
    drop((var, text, blobs));
    co.commit("kinds").unwrap();
    co.close().unwrap();
    let remote_dir = tempfile::tempdir().unwrap();
    let url = url_of(remote_dir.path());
    repo.add_remote(&RemoteSpec::new("origin", &url)).unwrap();
    repo.push("origin", "master").unwrap();
    let (_cdir, cloned) = clone(&url, true);
    let report = cloned.verify().unwrap();
    assert!(
        report.is_ok() && report.not_fetched == 0,
        "{:?}",
        report.problems
    );
    let co = cloned.checkout().unwrap();
    let (var, text, blobs) = (
        co.column("var").unwrap(),
        co.column("text").unwrap(),
        co.column("blobs").unwrap(),
    );
    for i in 0..30u64 {
        let (rows, v) = &want_var[i as usize];
        match var.get(i).unwrap() {
            hangar_core::Value::Tensor(t) => {
                assert_eq!(t.shape(), &[*rows, 8]);
                assert_eq!(t.as_bytes(), bytemuck_f32(v));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            text.get(i).unwrap(),
            hangar_core::Value::Str("t".repeat(i as usize * 5))
        );
        assert_eq!(
            blobs.get(i).unwrap(),
            hangar_core::Value::Bytes(vec![i as u8; i as usize * 9])
        );
    }
}

fn bytemuck_f32(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn a_push_killed_while_moving_its_tracking_ref_leaves_nothing_that_breaks_the_next() {
    let (dir, src, _r, _url) = pushed();
    let head = src.branch_head("master").unwrap().unwrap();
    let refs = dir.path().join(".hangar/remotes/origin/refs");
    let manifests = dir.path().join(".hangar/remote-manifests");
    // What a SIGKILL between the temporary file's creation and its rename leaves (a
    // process that has exited), beside one a running push is still writing (ours).
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let marker = hangar_store::internal::fsutil::TMP_MARKER;
    let torn = refs.join(format!(".master{marker}{dead}-60"));
    std::fs::write(&torn, b"").unwrap();
    let torn_manifest = manifests.join(format!(".{}{marker}{dead}-3", "ab".repeat(32)));
    std::fs::write(&torn_manifest, b"half a manif").unwrap();
    let live = refs.join(format!(".master{marker}{}-61", std::process::id()));
    std::fs::write(&live, b"").unwrap();

    let tracking = src.tracking_refs().unwrap();
    assert_eq!(tracking.len(), 1, "{tracking:?}");
    assert_eq!(
        (tracking[0].branch.as_str(), tracking[0].head),
        ("master", head)
    );
    assert!(src.verify().unwrap().is_ok());

    let co = src.checkout_writer().unwrap();
    co.column("imgs")
        .unwrap()
        .set(0u64, TensorRef::new(&[7u8; 256], &[16, 16]))
        .unwrap();
    let second = co.commit("second").unwrap();
    co.close().unwrap();
    src.push("origin", "master").unwrap();
    assert!(
        !torn.exists() && !torn_manifest.exists(),
        "what the killed push left stayed"
    );
    assert!(live.exists(), "a running push's temporary file was removed");
    assert_eq!(src.tracking_refs().unwrap()[0].head, second);
}

#[test]
fn an_incremental_push_uploads_only_the_change_and_pull_fast_forwards() {
    let (_d, src, _r, url) = pushed();
    let (_c, repo) = clone(&url, true);
    let co = src.checkout_writer().unwrap();
    co.column("imgs")
        .unwrap()
        .set(5u64, TensorRef::new(&[99u8; 256], &[16, 16]))
        .unwrap();
    let second = co.commit("second").unwrap();
    co.close().unwrap();
    let r = src.push("origin", "master").unwrap();
    assert_eq!((r.commits, r.values), (1, 1), "{r}");

    let (fetched, outcome) = repo.pull("origin", "master", "merge").unwrap();
    assert_eq!(fetched.branches, vec![("master".to_string(), second)]);
    assert!(
        matches!(outcome, MergeOutcome::FastForward { .. }),
        "{outcome:?}"
    );
    assert_eq!(repo.branch_head("master").unwrap(), Some(second));
    let co = repo.checkout().unwrap();
    assert_eq!(
        co.column("imgs").unwrap().get(5u64).unwrap_err().kind(),
        ErrorKind::NotFetched
    );
    repo.fetch_data("origin", "master", &FetchDataOptions::default())
        .unwrap();
    let co = repo.checkout().unwrap();
    assert_eq!(
        u8s(&co.column("imgs").unwrap().get(5u64).unwrap()),
        vec![99u8; 256]
    );
}

#[test]
fn a_push_that_would_lose_remote_commits_is_refused_until_merged() {
    let (_d, src, _r, url) = pushed();
    let (_c, other) = clone(&url, false);
    // The clone pushes first.
    let co = other.checkout_writer().unwrap();
    co.column("labels")
        .unwrap()
        .set(100u64, TensorRef::new(&[1i64], &[1]))
        .unwrap();
    co.commit("theirs").unwrap();
    co.close().unwrap();
    other.push("origin", "master").unwrap();
    // Then the source, from the old head: refused.
    let co = src.checkout_writer().unwrap();
    co.column("labels")
        .unwrap()
        .set(200u64, TensorRef::new(&[2i64], &[1]))
        .unwrap();
    co.commit("ours").unwrap();
    co.close().unwrap();
    let e = src.push("origin", "master").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(e.to_string().contains("hangar pull"), "{e}");
    // Pull merges (a merge commit), then the push goes through.
    let (_, outcome) = src.pull("origin", "master", "merge theirs").unwrap();
    assert!(
        matches!(outcome, MergeOutcome::Merged { .. }),
        "{outcome:?}"
    );
    src.push("origin", "master").unwrap();
    let (_, outcome) = other.pull("origin", "master", "m").unwrap();
    assert!(
        matches!(outcome, MergeOutcome::FastForward { .. }),
        "{outcome:?}"
    );
    let co = other.checkout().unwrap();
    let labels = co.column("labels").unwrap();
    assert!(labels.contains(100u64).unwrap() && labels.contains(200u64).unwrap());
}

#[test]
fn on_a_server_that_overwrites_racing_pushes_both_stay_as_two_heads() {
    // A remote marked for servers without create-only writes (Garage 2.5): each push's
    // ref entry is named by its commit, so two pushes from the same base both stay.
    let remote_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        remote_dir.path().join("hangar-remote.json"),
        "{\"format\": \"libhangar-remote\", \"version\": 1, \"refs\": \"per-commit\"}",
    )
    .unwrap();
    let url = url_of(remote_dir.path());
    let (_a, a) = new_repo();
    let co = a.checkout_writer().unwrap();
    co.add_str_column("s").unwrap().set("k", "base").unwrap();
    co.commit("base").unwrap();
    co.close().unwrap();
    a.add_remote(&RemoteSpec::new("origin", &url)).unwrap();
    a.push("origin", "master").unwrap();
    let (_b, b) = clone(&url, true);
    for (repo, text) in [(&a, "from_a"), (&b, "from_b")] {
        let co = repo.checkout_writer().unwrap();
        co.column("s").unwrap().set(text, text).unwrap();
        co.commit(text).unwrap();
        co.close().unwrap();
    }
    // Simulate the race: both read the remote before either wrote its ref entry. Here
    // they run one after the other, so b is refused...
    a.push("origin", "master").unwrap();
    assert_eq!(kind(b.push("origin", "master")), ErrorKind::Conflict);
    // ...and the race itself is reproduced by writing b's entry at a's sequence number,
    // as a push that listed the refs before a's entry landed would have.
    let entries: Vec<String> = std::fs::read_dir(remote_dir.path().join("refs/master"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries.len(), 2, "{entries:?}");
    // b uploads its objects with a push to another branch, then names its commit on
    // master at a's sequence number.
    b.create_branch("side", Some("master")).unwrap();
    b.push("origin", "side").unwrap();
    let b_head = b.branch_head("master").unwrap().unwrap();
    std::fs::write(
        remote_dir
            .path()
            .join(format!("refs/master/{:016x}-{}", 1, b_head.to_hex())),
        format!("{}\n", b_head.to_hex()),
    )
    .unwrap();
    let r = a.fetch("origin", None).unwrap();
    let diverged: Vec<_> = r.diverged.iter().filter(|(b, _)| b == "master").collect();
    assert_eq!(diverged.len(), 1, "{r}");
    // A push over a diverged branch is refused until the heads are merged.
    assert_eq!(kind(a.push("origin", "master")), ErrorKind::Conflict);
    // Pull merges every head, then the push joins them.
    a.pull("origin", "master", "merge the racing push").unwrap();
    a.push("origin", "master").unwrap();
    let r = b.fetch("origin", Some("master")).unwrap();
    assert!(r.diverged.is_empty(), "{r}");
}

#[test]
fn a_damaged_bundle_on_the_remote_is_refused_and_nothing_is_stored() {
    let (_d, _src, remote_dir, url) = pushed();
    let (_c, repo) = clone(&url, false);
    for e in std::fs::read_dir(remote_dir.path().join("values")).unwrap() {
        let p = e.unwrap().path();
        let mut b = std::fs::read(&p).unwrap();
        b[256 * 4 + 3] ^= 1; // inside sample 4's bytes
        std::fs::write(&p, b).unwrap();
    }
    let opts = FetchDataOptions {
        keys: Some(vec![SampleKey::Int(4)]),
        ..FetchDataOptions::default()
    };
    let e = repo.fetch_data("origin", "master", &opts).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote, "{e}");
    assert!(e.to_string().contains("damaged"), "{e}");
    let co = repo.checkout().unwrap();
    assert_eq!(
        co.column("imgs").unwrap().get(4u64).unwrap_err().kind(),
        ErrorKind::NotFetched
    );
    // A whole-bundle read (the clone with data) is refused too.
    let dir = tempfile::tempdir().unwrap();
    let e = Repository::clone_from(
        dir.path(),
        &RemoteSpec::new("origin", &url),
        "C",
        "c@example.com",
        None,
        true,
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote, "{e}");
}

#[test]
fn bad_urls_unknown_remotes_and_empty_remotes_are_clear_errors() {
    let (_d, repo) = new_repo();
    for bad in [
        "not a url",
        "http://example.com/x",
        "s3:///nobucket",
        "ftp://host/x",
    ] {
        let e = repo.add_remote(&RemoteSpec::new("x", bad)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}: {e}");
    }
    assert_eq!(
        kind(repo.add_remote(&RemoteSpec::new("bad/name", "file:///tmp"))),
        ErrorKind::InvalidArgument
    );
    let e = repo.push("nope", "master").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("hangar remote add"), "{e}");
    let empty = tempfile::tempdir().unwrap();
    repo.add_remote(&RemoteSpec::new("origin", &url_of(empty.path())))
        .unwrap();
    assert_eq!(
        kind(repo.add_remote(&RemoteSpec::new("origin", "file:///x"))),
        ErrorKind::AlreadyExists
    );
    let e = repo.fetch("origin", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    // Nothing to push before the first commit.
    assert_eq!(kind(repo.push("origin", "master")), ErrorKind::NotFound);
    assert_eq!(repo.remotes().unwrap().len(), 1);
    repo.remove_remote("origin").unwrap();
    assert!(repo.remotes().unwrap().is_empty());
    // An S3 endpoint nobody listens on: a Remote error after bounded retries.
    repo.add_remote(&s3_bucket_at("dead", "http://127.0.0.1:9"))
        .unwrap();
    crate::servers::s3_env();
    let e = repo.fetch("dead", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote, "{e}");
    // An https endpoint that does not speak TLS: the client (rustls with ring) starts a
    // handshake, which fails as a Remote error, not a panic.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for mut c in listener.incoming().flatten() {
            let mut hello = [0u8; 5];
            let _ = std::io::Read::read_exact(&mut c, &mut hello);
            // A TLS record starts with the handshake type 22 and version 3.x.
            let _ = tx.send(hello[..2] == [22, 3]);
            let _ = std::io::Write::write_all(&mut c, b"HTTP/1.1 400 not TLS\r\n\r\n");
        }
    });
    repo.add_remote(&s3_bucket_at("tls", &format!("https://127.0.0.1:{port}")))
        .unwrap();
    let e = repo.fetch("tls", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote, "{e}");
    assert_eq!(
        rx.recv_timeout(std::time::Duration::from_secs(5)),
        Ok(true),
        "the client sent a TLS ClientHello"
    );
}

/// Over plain HTTP each request asks for a connection of its own (`Connection: close`):
/// on a kept-alive connection to a server that sends a response's head and body as two
/// segments (Garage, s3s-fs), the client's delayed ACK holds the body back ~40 ms.
#[test]
fn requests_over_plain_http_close_their_connection() {
    let (_d, repo) = new_repo();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for c in listener.incoming().flatten() {
            let mut reader = std::io::BufReader::new(c.try_clone().unwrap());
            let mut head = Vec::new();
            loop {
                let mut line = String::new();
                if std::io::BufRead::read_line(&mut reader, &mut line).unwrap_or(0) == 0
                    || line == "\r\n"
                {
                    break;
                }
                head.push(line.trim_end().to_ascii_lowercase());
            }
            let _ = tx.send(head);
            let mut c = c;
            let _ = std::io::Write::write_all(
                &mut c,
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    repo.add_remote(&s3_bucket_at("lan", &format!("http://127.0.0.1:{port}")))
        .unwrap();
    crate::servers::s3_env();
    assert!(repo.fetch("lan", None).is_err());
    let head = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
    assert!(head[0].starts_with("get "), "{head:?}");
    assert!(head.iter().any(|l| l == "connection: close"), "{head:?}");
}

/// Remote `name`: `s3://bucket/prefix` at `endpoint` (region us-east-1).
fn s3_bucket_at(name: &str, endpoint: &str) -> RemoteSpec {
    RemoteSpec {
        name: name.into(),
        url: "s3://bucket/prefix".into(),
        endpoint: Some(endpoint.into()),
        region: Some("us-east-1".into()),
    }
}

/// The same flows against a real S3 server with conditional writes (s3s-fs): the remote
/// is marked for create-only ref entries, a clone without data reads what it fetched,
/// and a push from a stale base is refused.
#[test]
fn s3s_fs_push_clone_fetch_data_and_a_refused_stale_push() {
    let server = crate::servers::S3s::start("datasets");
    let spec = RemoteSpec {
        name: "origin".into(),
        url: "s3://datasets/fashion".into(),
        endpoint: Some(server.endpoint.clone()),
        region: Some("us-east-1".into()),
    };
    let (_d, src) = pushed_to(&spec);
    let marker = std::fs::read_to_string(
        server
            .root
            .path()
            .join("datasets/fashion/hangar-remote.json"),
    )
    .unwrap();
    assert!(marker.contains("\"cas\""), "{marker}");
    let (_c, repo) = clone_spec(&spec, false);
    let co = repo.checkout().unwrap();
    assert_eq!(
        co.column("imgs").unwrap().get(1u64).unwrap_err().kind(),
        ErrorKind::NotFetched
    );
    let opts = FetchDataOptions {
        range: Some(0..5),
        ..FetchDataOptions::default()
    };
    let r = repo.fetch_data("origin", "master", &opts).unwrap();
    assert_eq!(r.values, 5, "{r}");
    let co = repo.checkout().unwrap();
    assert_eq!(
        u8s(&co.column("imgs").unwrap().get(4u64).unwrap()),
        vec![4u8; 256]
    );
    assert!(repo.verify().unwrap().is_ok());
    // Both change master; the clone pushes first, the source is refused, pulls, pushes.
    for (r, k) in [(&repo, 50u64), (&src, 60u64)] {
        let co = r.checkout_writer().unwrap();
        co.column("labels")
            .unwrap()
            .set(k, TensorRef::new(&[k as i64], &[1]))
            .unwrap();
        co.commit("change").unwrap();
        co.close().unwrap();
    }
    repo.push("origin", "master").unwrap();
    assert_eq!(kind(src.push("origin", "master")), ErrorKind::Conflict);
    src.pull("origin", "master", "merge").unwrap();
    src.push("origin", "master").unwrap();
    let (_e, full) = clone_spec(&spec, true);
    let co = full.checkout().unwrap();
    let labels = co.column("labels").unwrap();
    assert!(labels.contains(50u64).unwrap() && labels.contains(60u64).unwrap());
    let v = full.verify().unwrap();
    assert!(v.is_ok() && v.not_fetched == 0, "{v:?}");
    // The server gone: a Remote error after bounded retries; nothing local changes.
    let (_f, other) = new_repo();
    other.add_remote(&spec).unwrap();
    drop(server);
    let e = other.fetch("origin", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote, "{e}");
}

/// Garage 2.5 answers 200 to a create-only PUT on an existing key and overwrites it. The
/// remote is marked per-commit, and pushers racing from several clones — each retrying
/// after a refusal with pull + push — lose no acknowledged push: every commit a push
/// reported as landed is in the final history, and every sample with it.
#[test]
fn garage_racing_pushers_lose_no_acknowledged_push() {
    let server = crate::servers::Garage::start("datasets");
    let spec = RemoteSpec {
        name: "origin".into(),
        url: "s3://datasets/race".into(),
        endpoint: Some(server.endpoint.clone()),
        region: Some("garage".into()),
    };
    let (_d, src) = pushed_to(&spec);
    assert_eq!(src.remote_ref_mode("origin").unwrap(), Some("per-commit"));
    let clones: Vec<_> = (0..3).map(|_| clone_spec(&spec, false)).collect();
    let acked = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for (w, (_dir, repo)) in clones.iter().enumerate() {
            let acked = &acked;
            s.spawn(move || {
                for round in 0..3u64 {
                    let key = 1000 + w as u64 * 100 + round;
                    let co = repo.checkout_writer().unwrap();
                    co.column("labels")
                        .unwrap()
                        .set(key, TensorRef::new(&[key as i64], &[1]))
                        .unwrap();
                    co.commit(&format!("pusher {w} round {round}")).unwrap();
                    co.close().unwrap();
                    let mut tries = 0;
                    loop {
                        match repo.push("origin", "master") {
                            Ok(r) => {
                                acked.lock().unwrap().push((r.head, key));
                                break;
                            }
                            Err(e) if e.kind() == ErrorKind::Conflict && tries < 30 => {
                                tries += 1;
                                eprintln!("pusher {w} round {round}: refused, pulling");
                                repo.pull("origin", "master", "merge racing pushes")
                                    .unwrap();
                            }
                            Err(e) => panic!("pusher {w}: {e}"),
                        }
                    }
                }
            });
        }
    });
    let acked = acked.into_inner().unwrap();
    assert_eq!(acked.len(), 9);
    src.pull("origin", "master", "merge everything").unwrap();
    let history: std::collections::HashSet<_> = src
        .log(Some("master"))
        .unwrap()
        .order()
        .into_iter()
        .collect();
    let co = src.checkout().unwrap();
    let labels = co.column("labels").unwrap();
    for (commit, key) in &acked {
        assert!(
            history.contains(commit),
            "acknowledged push {commit} was lost"
        );
        assert!(labels.contains(*key).unwrap(), "sample {key} was lost");
    }
    let v = src.verify().unwrap();
    assert!(v.is_ok(), "{:?}", v.problems);
}

/// A 3-node Garage cluster (replication factor 3) with one node killed during a push:
/// the push completes, or fails cleanly and a retry completes; a clone with data
/// through another node then has every sample.
#[test]
fn garage_cluster_push_survives_a_node_killed_mid_push() {
    let mut nodes = crate::servers::Garage::cluster(3, "datasets");
    let spec_at = |i: usize, nodes: &[crate::servers::Garage]| RemoteSpec {
        name: "origin".into(),
        url: "s3://datasets/cluster".into(),
        endpoint: Some(nodes[i].endpoint.clone()),
        region: Some("garage".into()),
    };
    let (_d, repo) = committed_four_kib(3000);
    repo.add_remote(&spec_at(0, &nodes)).unwrap();
    let victim = nodes.pop().unwrap();
    let killer = std::thread::spawn(move || {
        let mut victim = victim;
        std::thread::sleep(std::time::Duration::from_millis(40));
        victim.kill();
        victim
    });
    let t = std::time::Instant::now();
    let first = repo.push("origin", "master");
    eprintln!(
        "push: {:?} in {:?}",
        first.as_ref().map(|r| r.bytes),
        t.elapsed()
    );
    let _victim = killer.join().unwrap();
    if let Err(e) = &first {
        assert_eq!(
            e.kind(),
            ErrorKind::Remote,
            "a failed push fails cleanly: {e}"
        );
        repo.push("origin", "master").unwrap();
    }
    // Through the second node.
    let (_c, copy) = clone_spec(&spec_at(1, &nodes), true);
    let co = copy.checkout().unwrap();
    let col = co.column("v").unwrap();
    assert_eq!(col.len().unwrap(), 3000);
    for i in [0u64, 1234, 2999] {
        assert_eq!(u8s(&col.get(i).unwrap()), four_kib(i));
    }
    let v = copy.verify().unwrap();
    assert!(v.is_ok() && v.not_fetched == 0, "{v}");
}

/// A repository opened through the `file://` remote at `url` (as "origin"), in a fresh
/// directory, with a streaming cache of `cache_bytes`.
fn streaming(url: &str, cache_bytes: u64) -> (tempfile::TempDir, Repository) {
    let cache_dir = tempfile::tempdir().unwrap();
    let spec = RemoteSpec::new("origin", url);
    let repo = Repository::open_remote(cache_dir.path(), &spec, cache_bytes).unwrap();
    (cache_dir, repo)
}

/// Streaming reads: a repository opened through a remote holds no values, fetches each
/// on its first read (checked), serves repeats from a bounded cache, from many threads,
/// and sees new pushes when opened again.
#[test]
fn open_remote_streams_values_into_a_bounded_cache() {
    let (_d, src, remote_dir, url) = pushed();
    let (cache_dir, repo) = streaming(&url, 10 * 256);
    let spec = RemoteSpec::new("origin", &url);
    let co = repo.checkout().unwrap();
    let imgs = co.column("imgs").unwrap();
    for i in 0..5u64 {
        assert_eq!(u8s(&imgs.get(i).unwrap()), vec![i as u8; 256]);
    }
    for i in 0..5u64 {
        assert_eq!(
            imgs.get_view(i).unwrap().as_slice::<u8>().unwrap(),
            &[i as u8; 256][..]
        );
    }
    let s = repo.stream_stats().unwrap().unwrap();
    assert_eq!(
        (s.misses, s.hits, s.bytes_fetched),
        (5, 5, 5 * 256),
        "{s:?}"
    );
    // Nothing was stored: the values live in the cache only.
    assert_eq!(repo.verify().unwrap().not_fetched, 20);
    // The cache stays within its bound.
    std::thread::scope(|sc| {
        for t in 0..4u64 {
            let imgs = &imgs;
            sc.spawn(move || {
                for i in 0..20u64 {
                    let k = (i + t * 5) % 20;
                    assert_eq!(u8s(&imgs.get(k).unwrap()), vec![k as u8; 256]);
                }
            });
        }
    });
    let s = repo.stream_stats().unwrap().unwrap();
    assert!(s.cached_bytes <= 10 * 256, "{s:?}");
    assert_eq!(s.hits + s.misses, 10 + 80);
    // A new push is seen by the next open.
    let co = src.checkout_writer().unwrap();
    co.column("imgs")
        .unwrap()
        .set(3u64, TensorRef::new(&[77u8; 256], &[16, 16]))
        .unwrap();
    co.commit("change 3").unwrap();
    co.close().unwrap();
    src.push("origin", "master").unwrap();
    drop(repo);
    let repo = Repository::open_remote(cache_dir.path(), &spec, 1 << 20).unwrap();
    let co = repo.checkout().unwrap();
    assert_eq!(
        u8s(&co.column("imgs").unwrap().get(3u64).unwrap()),
        vec![77u8; 256]
    );
    // A worker process opens the same directory without fetching or writing anything,
    // with its own cache; a directory with no such remote is refused.
    let before = files_under(&cache_dir.path().join(".hangar"));
    let worker = Repository::open_remote_cache(cache_dir.path(), "origin", 1 << 20).unwrap();
    let wco = worker.checkout().unwrap();
    assert_eq!(
        u8s(&wco.column("imgs").unwrap().get(3u64).unwrap()),
        vec![77u8; 256]
    );
    assert_eq!(worker.stream_stats().unwrap().unwrap().misses, 1);
    assert_eq!(files_under(&cache_dir.path().join(".hangar")), before);
    assert_eq!(
        kind(Repository::open_remote_cache(cache_dir.path(), "nope", 0)),
        ErrorKind::NotFound
    );
    // A damaged value on the remote is an error, never data.
    for e in std::fs::read_dir(remote_dir.path().join("values")).unwrap() {
        let p = e.unwrap().path();
        let mut b = std::fs::read(&p).unwrap();
        for x in b.iter_mut() {
            *x ^= 0xff;
        }
        std::fs::write(&p, b).unwrap();
    }
    let e = co.column("imgs").unwrap().get(9u64).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote, "{e}");
    // Another remote's directory is refused.
    let other = RemoteSpec::new("origin", "file:///elsewhere");
    assert_eq!(
        kind(Repository::open_remote(cache_dir.path(), &other, 1 << 20)),
        ErrorKind::AlreadyExists
    );
}

/// Every file below `dir` with its bytes.
fn files_under(dir: &std::path::Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Streaming reads through a server that fails: transient 500s are retried and the read
/// returns the value; while the server is down a read is a `Remote` error (never
/// `NotFetched`, never wrong data), values already cached still read, and once it is
/// back the same checkout reads again.
#[test]
fn streaming_reads_ride_out_server_errors() {
    use crate::servers::{Fault, FaultProxy, S3s};
    use std::sync::atomic::{AtomicU8, Ordering::SeqCst};
    use std::sync::Arc;
    let server = S3s::start("datasets");
    // 0: pass; 1: each distinct request fails once with a 503; 2: every request a 500.
    let mode = Arc::new(AtomicU8::new(0));
    let m = mode.clone();
    let proxy = FaultProxy::start(
        &server.endpoint,
        Arc::new(
            move |_n: usize, _line: &str, first: bool| match m.load(SeqCst) {
                1 if first => Fault::Status(503),
                2 => Fault::Status(500),
                _ => Fault::Pass,
            },
        ),
    );
    let spec = RemoteSpec {
        name: "origin".into(),
        url: "s3://datasets/stream".into(),
        endpoint: Some(proxy.endpoint.clone()),
        region: Some("us-east-1".into()),
    };
    let (_d, _src) = pushed_to(&spec);
    let cache_dir = tempfile::tempdir().unwrap();
    mode.store(1, SeqCst);
    let repo = Repository::open_remote(cache_dir.path(), &spec, 1 << 20).unwrap();
    let co = repo.checkout().unwrap();
    let imgs = co.column("imgs").unwrap();
    // Requests for neighbouring samples may share one byte range: several reads.
    let before = proxy.faults();
    for i in 0..4u64 {
        assert_eq!(u8s(&imgs.get(i).unwrap()), vec![i as u8; 256]);
    }
    assert!(proxy.faults() > before, "no read met a fault");
    mode.store(2, SeqCst);
    let e = imgs.get(10u64).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote, "{e}");
    assert!(e.to_string().contains("500"), "{e}");
    assert_eq!(u8s(&imgs.get(2u64).unwrap()), vec![2u8; 256]);
    mode.store(0, SeqCst);
    assert_eq!(u8s(&imgs.get(10u64).unwrap()), vec![10u8; 256]);
}

/// Five pushes make five bundles, downloaded in groups while earlier groups are checked
/// and stored: a clone with data holds every value; a damaged bundle in the last group
/// stops the fetch with an error and stores none of it, and once it is repaired the
/// fetch completes.
#[test]
fn values_of_many_bundles_arrive_in_groups_and_a_damaged_one_stops_the_fetch() {
    let (_d, src, remote_dir, url) = pushed();
    for round in 1..5u64 {
        let co = src.checkout_writer().unwrap();
        let imgs = co.column("imgs").unwrap();
        for i in 0..10u64 {
            let k = round * 100 + i;
            imgs.set(k, TensorRef::new(&[(k % 251) as u8; 256], &[16, 16]))
                .unwrap();
        }
        co.commit(&format!("round {round}")).unwrap();
        co.close().unwrap();
        src.push("origin", "master").unwrap();
    }
    let bundles: Vec<_> = std::fs::read_dir(remote_dir.path().join("values"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(bundles.len(), 5);
    let (_c, full) = clone(&url, true);
    let co = full.checkout().unwrap();
    let imgs = co.column("imgs").unwrap();
    assert_eq!(imgs.len().unwrap(), 60);
    for k in [3u64, 104, 209, 305, 400] {
        assert_eq!(u8s(&imgs.get(k).unwrap()), vec![(k % 251) as u8; 256]);
    }
    let v = full.verify().unwrap();
    assert!(v.is_ok() && v.not_fetched == 0, "{v:?}");

    // The bundle the last group reads (groups follow the bundles' order) is damaged.
    let (_e, bare) = clone(&url, false);
    let last = bundles
        .iter()
        .max_by_key(|p| p.file_name().unwrap().to_owned())
        .unwrap();
    let good = std::fs::read(last).unwrap();
    let mut bad = good.clone();
    bad[100] ^= 0x40;
    std::fs::write(last, &bad).unwrap();
    let all = FetchDataOptions {
        history: true,
        ..FetchDataOptions::default()
    };
    let e = bare.fetch_data("origin", "master", &all).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote, "{e}");
    assert!(bare.verify().unwrap().is_ok());
    std::fs::write(last, &good).unwrap();
    let r = bare.fetch_data("origin", "master", &all).unwrap();
    assert_eq!(r.values + r.already_local, 60, "{r}");
    let v = bare.verify().unwrap();
    assert!(v.is_ok() && v.not_fetched == 0, "{v:?}");
}

/// A batch read through a remote fetches what it lacks at once: `prefetch` brings every
/// value of the keys that is neither stored nor cached (each checked) into the cache,
/// and the reads that follow are hits. Absent keys are skipped; a repository not opened
/// through a remote, or a damaged value, is handled as a single read is.
#[test]
fn prefetch_brings_a_batch_into_the_streaming_cache_at_once() {
    let (_d, src, remote_dir, url) = pushed();
    let (_cache, repo) = streaming(&url, 1 << 20);
    let co = repo.checkout().unwrap();
    let imgs = co.column("imgs").unwrap();
    assert_eq!(u8s(&imgs.get(3u64).unwrap()), vec![3u8; 256]);
    let keys: Vec<SampleKey> = (0..10u64).chain([100, 101]).map(SampleKey::Int).collect();
    // 0..10 exist (3 is cached already); 100 and 101 are absent.
    assert_eq!(imgs.prefetch(&keys).unwrap(), 9);
    let s = repo.stream_stats().unwrap().unwrap();
    assert_eq!(
        (s.misses, s.hits, s.bytes_fetched),
        (10, 0, 10 * 256),
        "{s:?}"
    );
    for i in 0..10u64 {
        assert_eq!(u8s(&imgs.get(i).unwrap()), vec![i as u8; 256]);
    }
    let s = repo.stream_stats().unwrap().unwrap();
    assert_eq!((s.misses, s.hits), (10, 10), "{s:?}");
    // Nothing left to fetch; inline columns and plain repositories fetch nothing.
    assert_eq!(imgs.prefetch(&keys).unwrap(), 0);
    assert_eq!(co.column("labels").unwrap().prefetch(&keys).unwrap(), 0);
    let plain = src.checkout().unwrap();
    assert_eq!(plain.column("imgs").unwrap().prefetch(&keys).unwrap(), 0);
    // A damaged value on the remote: the prefetch fails, nothing of it is cached.
    for e in std::fs::read_dir(remote_dir.path().join("values")).unwrap() {
        let p = e.unwrap().path();
        let mut b = std::fs::read(&p).unwrap();
        b[256 * 15 + 1] ^= 1; // sample 15's bytes
        std::fs::write(&p, b).unwrap();
    }
    let later: Vec<SampleKey> = (14..17u64).map(SampleKey::Int).collect();
    let e = imgs.prefetch(&later).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote, "{e}");
    assert_eq!(imgs.get(15u64).unwrap_err().kind(), ErrorKind::Remote);
}

/// The streaming cache evicts the least recently used value: one read again stays.
#[test]
fn the_streaming_cache_keeps_what_was_used_recently() {
    let (_d, _src, _remote_dir, url) = pushed();
    let (_cache, repo) = streaming(&url, 3 * 256);
    let co = repo.checkout().unwrap();
    let imgs = co.column("imgs").unwrap();
    let stats = || {
        let s = repo.stream_stats().unwrap().unwrap();
        (s.hits, s.misses)
    };
    for k in [0u64, 1, 2, 0] {
        imgs.get(k).unwrap();
    }
    assert_eq!(stats(), (1, 3));
    imgs.get(3u64).unwrap(); // evicts 1, the least recently used, not 0
    imgs.get(0u64).unwrap();
    assert_eq!(stats(), (2, 4));
    imgs.get(1u64).unwrap();
    assert_eq!(stats(), (2, 5));
    assert!(repo.stream_stats().unwrap().unwrap().cached_bytes <= 3 * 256);
    // Many hits on one value keep the bookkeeping bounded and the value cached.
    for _ in 0..1000 {
        imgs.get(1u64).unwrap();
    }
    assert_eq!(stats(), (1002, 5));
}

/// A push uploads its value bundles while it assembles the next ones: a push of several
/// bundles lands whole; when the server fails an upload part way, the push fails with
/// that error and no ref names it (a clone finds nothing yet), and once the server
/// answers again the same push lands and a clone with data holds every value.
#[test]
fn a_push_of_many_bundles_fails_whole_on_a_failed_upload_and_lands_on_retry() {
    use crate::servers::{Fault, FaultProxy, S3s};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;
    let server = S3s::start("datasets");
    let failing = Arc::new(AtomicBool::new(true));
    let value_puts = Arc::new(AtomicUsize::new(0));
    let (f, puts) = (failing.clone(), value_puts.clone());
    let proxy = FaultProxy::start(
        &server.endpoint,
        Arc::new(move |_n: usize, line: &str, _first: bool| {
            // While `failing`, every upload of a value bundle after the first gets a 500.
            if line.starts_with("PUT ") && line.contains("/values/") {
                let n = puts.fetch_add(1, SeqCst);
                if n >= 1 && f.load(SeqCst) {
                    return Fault::Status(500);
                }
            }
            Fault::Pass
        }),
    );
    let spec = RemoteSpec {
        name: "origin".into(),
        url: "s3://datasets/pipelined".into(),
        endpoint: Some(proxy.endpoint.clone()),
        region: Some("us-east-1".into()),
    };
    // 10,000 distinct values of 4 KiB: 41 MB, three bundles.
    let (_d, repo) = committed_four_kib(10_000);
    repo.add_remote(&spec).unwrap();

    let e = repo.push("origin", "master").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote, "{e}");
    assert!(e.to_string().contains("500"), "{e}");
    assert!(proxy.faults() > 0);
    assert_no_commit_published(&spec);

    failing.store(false, SeqCst);
    let r = repo.push("origin", "master").unwrap();
    assert_eq!((r.commits, r.values), (1, 10_000), "{r}");
    assert!(
        value_puts.load(SeqCst) >= 4,
        "three bundles, one failed before"
    );
    let (_c, copy) = clone_spec(&spec, true);
    let co = copy.checkout().unwrap();
    let col = co.column("v").unwrap();
    assert_eq!(col.len().unwrap(), 10_000);
    for i in [0u64, 4095, 4096, 9999] {
        assert_eq!(u8s(&col.get(i).unwrap()), four_kib(i));
    }
    let v = copy.verify().unwrap();
    assert!(v.is_ok() && v.not_fetched == 0, "{v}");
}

/// A remote given as a directory path (as `git clone` takes one) is kept as its
/// `file://` URL and works like it; a repository's own directory given as a remote is
/// refused with what to do instead; a name that is neither a URL nor a directory is
/// still refused as a bad URL.
#[test]
fn a_directory_path_is_a_remote_and_a_repository_is_not_one() {
    let (_d, src, remote_dir, url) = pushed();
    let path = remote_dir.path().to_str().unwrap();
    let (_c, copy) = clone(path, true);
    assert_eq!(
        copy.branch_head("master").unwrap(),
        src.branch_head("master").unwrap()
    );
    assert_eq!(copy.remote("origin").unwrap().url, url);
    let co = copy.checkout().unwrap();
    assert_eq!(
        u8s(&co.column("imgs").unwrap().get(3u64).unwrap()),
        vec![3u8; 256]
    );
    let (_e, other) = new_repo();
    other
        .add_remote(&RemoteSpec::new("mirror", &format!("{path}/./")))
        .unwrap();
    assert!(other.remote("mirror").unwrap().url.starts_with("file:///"));
    assert_eq!(other.fetch("mirror", None).unwrap().branches.len(), 1);

    let into = tempfile::tempdir().unwrap();
    let repo_dir = src.path().to_str().unwrap().to_string();
    let e = Repository::clone_from(
        into.path().join("x"),
        &RemoteSpec::new("origin", &repo_dir),
        "C",
        "c@example.com",
        None,
        false,
    )
    .map(|_| ())
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("is a repository, not a remote") && msg.contains("hangar push"),
        "{msg}"
    );
    assert!(
        !into.path().join("x").exists(),
        "a failed clone leaves nothing"
    );
    let e = other
        .add_remote(&RemoteSpec::new("typo", "no-such-dir-or-url"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
}

/// A value damaged here stops a push of several bundles part way (its CRC is checked as
/// it is read into its bundle, while earlier bundles upload): the push fails as
/// corruption, naming the file, and no ref on the remote names it.
#[test]
fn a_push_stops_at_a_value_damaged_here_and_publishes_nothing() {
    let remote_dir = tempfile::tempdir().unwrap();
    let url = url_of(remote_dir.path());
    let (_d, repo) = committed_four_kib(10_000);
    // A byte of a late value (keys are stored in order): in the push's last bundle.
    let segments = repo.path().join(".hangar/segments");
    let seg = std::fs::read_dir(&segments)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = bytes.len() * 9 / 10;
    bytes[at] ^= 0x5a;
    std::fs::write(&seg, &bytes).unwrap();

    repo.add_remote(&RemoteSpec::new("origin", &url)).unwrap();
    let e = repo.push("origin", "master").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.to_string().contains("segments"), "{e}");
    assert_no_commit_published(&RemoteSpec::new("origin", &url));
}
