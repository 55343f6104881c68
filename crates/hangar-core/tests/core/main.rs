//! Integration tests of hangar-core: one binary, one module per area.
#![allow(clippy::unwrap_used)]

mod acceptance;
mod arrow_batches;
mod branches;
mod closed;
mod columns;
mod commits;
mod compression;
mod corruption;
mod deferred_view;
mod diffs;
mod gc;
mod gc_model;
mod lock;
mod merge_model;
mod merges;
mod metadata;
mod missing_files;
mod model;
mod model_support;
mod nested;
mod nested_model;
mod read_path;
mod regressions;
mod remote_model;
mod remotes;
mod repo;
mod samples;
mod servers;
mod staging;
mod tampering;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use hangar_core::{DType, ErrorKind, NdArraySpec, Repository, Result, TensorRef};

/// Copies a directory tree (replacing `to`): a repository as a killed process leaves it.
pub fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

pub fn new_repo() -> (tempfile::TempDir, Repository) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path(), "Tester", "tester@example.com", false).unwrap();
    (dir, repo)
}

pub fn kind<T: std::fmt::Debug>(r: Result<T>) -> ErrorKind {
    r.expect_err("expected an error").kind()
}

pub fn err_text<T: std::fmt::Debug>(r: Result<T>) -> String {
    r.expect_err("expected an error").to_string()
}

/// A repo with one commit: column "imgs" (u8 [2,3]) keys "a","b", 0, and "labels" (i64 [1]).
pub fn repo_with_commit() -> (tempfile::TempDir, Repository, hangar_core::CommitId) {
    let (dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let imgs = co
        .add_ndarray_column("imgs", NdArraySpec::with_shape(DType::U8, &[2, 3]))
        .unwrap();
    imgs.set("a", TensorRef::new(&[1u8, 2, 3, 4, 5, 6], &[2, 3]))
        .unwrap();
    imgs.set("b", TensorRef::new(&[6u8, 5, 4, 3, 2, 1], &[2, 3]))
        .unwrap();
    imgs.set(0u64, TensorRef::new(&[0u8; 6], &[2, 3])).unwrap();
    let labels = co
        .add_ndarray_column("labels", NdArraySpec::with_shape(DType::I64, &[1]))
        .unwrap();
    labels.set("a", TensorRef::new(&[7i64], &[1])).unwrap();
    let id = co.commit("first").unwrap();
    co.close().unwrap();
    (dir, repo, id)
}

/// Stages one of each change on top of `repo_with_commit`'s content: a sample added
/// ("imgs"/"dev_add"), one mutated ("imgs"/"a"), one deleted ("imgs"/"b") and a column
/// added ("devcol" with "k" = "v").
pub fn stage_one_of_each_change(co: &hangar_core::WriterCheckout) {
    let imgs = co.column("imgs").unwrap();
    imgs.set("dev_add", TensorRef::new(&[1u8; 6], &[2, 3]))
        .unwrap();
    imgs.set("a", TensorRef::new(&[9u8; 6], &[2, 3])).unwrap();
    imgs.delete("b").unwrap();
    co.add_str_column("devcol").unwrap().set("k", "v").unwrap();
}

/// The names of the repository's branches, sorted.
pub fn branch_names(repo: &Repository) -> Vec<String> {
    repo.branches()
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect()
}

pub fn u8s(v: &hangar_core::Value) -> Vec<u8> {
    match v {
        hangar_core::Value::Tensor(t) => t.as_bytes().to_vec(),
        other => panic!("not a tensor: {other:?}"),
    }
}

/// Runs a role of `child_process_entry` in a child process and waits until it prints
/// READY. The child is this same test binary, re-executed on one test.
pub fn spawn_child(role: &str, repo: &Path) -> (Child, u32) {
    spawn_child_with(role, repo, &[])
}

/// [`spawn_child`] with more environment variables for the child.
pub fn spawn_child_with(role: &str, repo: &Path, env: &[(&str, &str)]) -> (Child, u32) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_process_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HANGAR_TEST_CHILD", role)
        .env("HANGAR_TEST_REPO", repo)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    loop {
        match lines.next() {
            // libtest prints "test child_process_entry ... " before the child's output.
            Some(Ok(l)) if l.trim_end().ends_with("READY") => break,
            Some(Ok(l)) if l.contains("FAILED ") => panic!("child failed: {l}"),
            Some(Ok(_)) => continue,
            _ => panic!("child exited before READY"),
        }
    }
    (child, pid)
}

pub fn kill9(mut child: Child) {
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
}

/// Entry point of child processes (does nothing unless HANGAR_TEST_CHILD is set).
#[test]
fn child_process_entry() {
    let Ok(role) = std::env::var("HANGAR_TEST_CHILD") else {
        return;
    };
    let path = std::env::var("HANGAR_TEST_REPO").unwrap();
    let repo = Repository::open(&path).unwrap();
    let run = || -> Result<Option<hangar_core::WriterCheckout>> {
        match role.as_str() {
            "hold_writer" => Ok(Some(repo.checkout_writer()?)),
            "stage_plain" => {
                let co = repo.checkout_writer()?;
                let c =
                    co.add_ndarray_column("staged", NdArraySpec::with_shape(DType::U8, &[4]))?;
                for i in 0..100u64 {
                    c.set(i, TensorRef::new(&[i as u8; 4], &[4]))?;
                }
                co.metadata().set("note", "from the child")?;
                Ok(Some(co))
            }
            "stage_deferred" => {
                // Puts under a deferred view of the staging area, then READY: journalled,
                // never applied in memory.
                let co = repo.checkout_writer()?;
                co.defer_staging_view(true)?;
                let c =
                    co.add_ndarray_column("deferred", NdArraySpec::with_shape(DType::U8, &[4]))?;
                let bytes: Vec<u8> = (0..1000u32).flat_map(|i| [i as u8; 4]).collect();
                c.extend_from_buffer(0..1000u64, TensorRef::new(&bytes, &[1000, 4]))?;
                c.set("one", TensorRef::new(&[7u8; 4], &[4]))?;
                Ok(Some(co))
            }
            "stage_bulk_unfinished" => {
                let co = repo.checkout_writer()?;
                let c =
                    co.add_ndarray_column("durable", NdArraySpec::with_shape(DType::U8, &[4]))?;
                c.set("before", TensorRef::new(&[9u8; 4], &[4]))?;
                let session = co.bulk()?;
                c.set("in_session", TensorRef::new(&[8u8; 4], &[4]))?;
                std::mem::forget(session);
                Ok(Some(co))
            }
            "read_during_gc" => {
                // Opens a reader of HANGAR_TEST_COMMIT, then (once the parent creates
                // `<repo>.go`) reads column "extra" whole and writes what it found to
                // `<repo>.result`.
                let commit = std::env::var("HANGAR_TEST_COMMIT").unwrap();
                let co = repo.checkout_commit(&commit)?;
                let go = format!("{path}.go");
                let result = format!("{path}.result");
                std::thread::spawn(move || {
                    while !Path::new(&go).exists() {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                    let read = || -> Result<usize> {
                        // A new checkout refreshes the index: the gc's run replaces the
                        // runs this store had, which stay as its fallback.
                        drop(repo.checkout_branch("master")?);
                        let col = co.column("extra")?;
                        let mut n = 0;
                        for k in col.keys()? {
                            let v = col.get(k?)?;
                            let hangar_core::Value::Tensor(t) = v else {
                                panic!("not a tensor")
                            };
                            assert!(!t.as_bytes().is_empty());
                            n += 1;
                        }
                        Ok(n)
                    };
                    let text = match read() {
                        Ok(n) => format!("read {n}"),
                        Err(e) => format!("failed: {e}"),
                    };
                    std::fs::write(result, text).unwrap();
                });
                Ok(None)
            }
            other => panic!("unknown child role {other}"),
        }
    };
    match run() {
        Ok(co) => {
            println!("READY");
            std::thread::sleep(std::time::Duration::from_secs(120));
            drop(co);
        }
        Err(e) => println!("FAILED {e}"),
    }
}
