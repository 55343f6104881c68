//! End-to-end tests of the `hangar` binary: every command and option, exit codes, the
//! `--json` documents, import/export round trips, golden text outputs.
#![allow(clippy::unwrap_used, clippy::new_without_default)]

mod basics;
mod columns;
mod gc;
mod golden;
mod history;
mod holes;
mod io;
mod limits;
mod missing_files;
mod readme;
mod remotes;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// A fresh directory, the environment of a user with a name and email set, and nothing
/// inherited that changes behaviour (config, colours, editor, repository).
#[derive(Debug)]
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `hangar` run in the environment's directory.
    pub fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("hangar").expect("the hangar binary is built");
        c.current_dir(self.path())
            .env("HANGAR_USER_NAME", "Test User")
            .env("HANGAR_USER_EMAIL", "test@example.com")
            .env("HOME", self.path())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("HANGAR_CONFIG")
            .env_remove("HANGAR_REPO")
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("EDITOR")
            .env_remove("VISUAL")
            .env_remove("HANGAR_EDITOR")
            .env_remove("PAGER")
            .env_remove("HANGAR_PAGER");
        c
    }

    /// Runs `cmd` (from [`Env::cmd`], with whatever it adds), asserts exit 0, returns
    /// its output: for tests that need raw stdout, stderr, or their own environment.
    pub fn run_ok(&self, cmd: &mut Command) -> std::process::Output {
        let out = cmd.output().expect("runs");
        assert!(
            out.status.success(),
            "{cmd:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs `cmd` (from [`Env::cmd`], with its own environment), asserts exit 2 (an
    /// error, not an internal one), returns stderr.
    pub fn run_err(&self, cmd: &mut Command) -> String {
        let out = cmd.output().expect("runs");
        let e = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(2), "{cmd:?}: {e}");
        e
    }

    /// Runs `hangar ARGS`, asserts exit 0, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run_ok(self.cmd().args(args));
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Runs `hangar ARGS --json`, asserts exit 0, returns the parsed document.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let text = self.ok(&a);
        let v: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        assert_eq!(v["schema_version"], 1, "{text}");
        v
    }

    /// Runs `hangar ARGS`, asserts the exit code, returns (stdout, stderr).
    pub fn code(&self, code: i32, args: &[&str]) -> (String, String) {
        let out = self.cmd().args(args).output().expect("runs");
        let (o, e) = (
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        );
        assert_eq!(
            out.status.code(),
            Some(code),
            "hangar {args:?}:\nstdout: {o}\nstderr: {e}"
        );
        (o, e)
    }

    /// Asserts exit 2 and returns stderr (which must be one `error:` line).
    pub fn err(&self, args: &[&str]) -> String {
        let (_, e) = self.code(2, args);
        assert!(e.starts_with("error: "), "{e}");
        assert_eq!(e.trim_end().lines().count(), 1, "one line: {e}");
        e
    }

    /// `hangar init` here.
    pub fn init(&self) {
        self.ok(&["init"]);
    }

    /// A file in the environment's directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }
}

/// The files of `subs` (e.g. "segments", "packs", "index", "staging") under `hangar`, with
/// their bytes.
pub fn repo_files(hangar: &Path, subs: &[&str]) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    for sub in subs {
        for e in std::fs::read_dir(hangar.join(sub)).expect("listable") {
            let p = e.expect("entry").path();
            let bytes = std::fs::read(&p).expect("readable");
            out.insert(p, bytes);
        }
    }
    out
}

/// Every file under `dir` (recursively) with its bytes: a whole repository, to show
/// that a command changed nothing.
pub fn tree_files(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("listable") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let bytes = std::fs::read(&p).expect("readable");
                out.insert(p, bytes);
            }
        }
    }
    out
}

/// The fixtures directory (files made by numpy, pyarrow and Pillow).
pub fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// The data bytes of a little-endian C-order .npy file, and its shape.
pub fn npy_data(path: &str) -> (Vec<usize>, Vec<u8>) {
    let b = std::fs::read(path).expect("fixture exists");
    assert_eq!(&b[..6], b"\x93NUMPY");
    let len = u16::from_le_bytes([b[8], b[9]]) as usize;
    let header = std::str::from_utf8(&b[10..10 + len]).expect("text header");
    assert!(header.contains("'fortran_order': False"), "{header}");
    let shape_text = header
        .split("'shape': (")
        .nth(1)
        .expect("shape")
        .split(')')
        .next()
        .expect("shape");
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("dimension"))
        .collect();
    (shape, b[10 + len..].to_vec())
}

/// A repository with commits on master and dev and a merge, for history tests:
///
/// ```text
/// *   merge (master)
/// |\
/// * | m2: master changes
/// | * d1 (dev): dev changes
/// |/
/// * c1: first commit
/// ```
pub fn history_repo(env: &Env) {
    env.init();
    env.ok(&["column", "create", "images", "uint8", "4", "4"]);
    env.ok(&["import", "images", &fixture("npy_dir")]);
    env.ok(&["commit", "-m", "first commit"]);
    env.ok(&["branch", "create", "dev"]);
    env.ok(&["checkout", "dev"]);
    env.ok(&["import", "images", &fixture("rows_u8.npy")]);
    env.ok(&["commit", "-m", "dev changes"]);
    env.ok(&["checkout", "master"]);
    env.ok(&[
        "import",
        "captions",
        &fixture("tensors.parquet"),
        "--field",
        "caption",
        "--key-field",
        "id",
        "--create",
    ]);
    env.ok(&["commit", "-m", "master changes"]);
    env.ok(&["merge", "dev"]);
}
