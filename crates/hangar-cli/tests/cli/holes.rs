//! Issue 11 items 3 and 5 from the command line: non-regular inputs, --start checks,
//! branch names that read as options, --branch returning, and OS errors.

use std::time::Duration;

use crate::{fixture, Env};

fn repo_with_images(env: &Env) {
    env.init();
    env.ok(&["column", "create", "images", "uint8", "4", "4"]);
    env.ok(&["import", "images", &fixture("npy_dir"), "-m", "first"]);
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_not_read_forever() {
    let env = Env::new();
    repo_with_images(&env);
    let fifo = env.file("pipe.npy");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let out = env
        .cmd()
        .args(["import", "images", fifo.to_str().unwrap()])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("not a regular file"), "{e}");
    // In a directory, a FIFO is left out like any file hangar does not import.
    let dir = env.file("dir");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(fixture("npy_dir/s0.npy"), dir.join("t0.npy")).unwrap();
    std::process::Command::new("mkfifo")
        .arg(dir.join("t1.npy"))
        .status()
        .unwrap();
    let out = env
        .cmd()
        .args(["import", "images", dir.to_str().unwrap()])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("images: 1 sample imported")
            && text.contains("1 file in the directories is not"),
        "{text}"
    );
}

#[test]
fn start_is_checked_and_explained() {
    let env = Env::new();
    repo_with_images(&env);
    // A whole-file import has no rows to key.
    let e = env.err(&[
        "import",
        "images",
        &fixture("npy_dir/s0.npy"),
        "--start",
        "700",
    ]);
    assert!(e.contains("--start 700 gives keys to rows"), "{e}");
    assert!(e.contains("--rows"), "{e}");
    // Rows past the largest integer key.
    let e = env.err(&[
        "import",
        "images",
        &fixture("rows_u8.npy"),
        "--start",
        "18446744073709551615",
    ]);
    assert!(e.contains("past the largest integer key"), "{e}");
    assert!(e.contains("use a smaller --start"), "{e}");
    // The largest start that fits works, and the keys end exactly at the largest key.
    let out = env.json(&["import", "images", &fixture("rows_u8.npy"), "--start", "0"]);
    let rows = out["columns"]["images"]["imported"].as_u64().unwrap();
    env.ok(&["reset", "--yes"]);
    let start = (u64::MAX - (rows - 1)).to_string();
    env.ok(&[
        "import",
        "images",
        &fixture("rows_u8.npy"),
        "--start",
        &start,
        "-m",
        "max",
    ]);
    env.ok(&["cat", "images", &u64::MAX.to_string()]);
}

#[test]
fn branch_names_that_read_as_options_are_refused() {
    let env = Env::new();
    repo_with_images(&env);
    for name in ["-rf", "--json", "-"] {
        let e = env.err(&["branch", "create", "--", name]);
        assert!(e.contains("may not start with '-'"), "{name}: {e}");
    }
    env.ok(&["branch", "create", "a-b"]);
}

#[test]
fn import_with_branch_returns_to_the_working_branch() {
    let env = Env::new();
    repo_with_images(&env);
    env.ok(&["branch", "create", "other"]);
    env.ok(&[
        "import",
        "images",
        &fixture("rows_u8.npy"),
        "--branch",
        "other",
        "-m",
        "rows on other",
    ]);
    let status = env.json(&["status"]);
    assert_eq!(status["branch"], "master", "{status}");
    // Without -m the imported samples stay staged on the other branch, and it says so.
    let (_, e) = env.code(
        0,
        &[
            "import",
            "images",
            &fixture("rows_u8.npy"),
            "--branch",
            "other",
            "--start",
            "100",
        ],
    );
    assert!(e.contains("stays on branch \"other\""), "{e}");
    assert_eq!(env.json(&["status"])["branch"], "other");
}

/// Segments, packs, index runs and the journal, with their bytes.
fn staging_files(env: &Env) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    crate::repo_files(
        &env.path().join(".hangar"),
        &["segments", "packs", "index", "staging"],
    )
}

#[test]
fn a_failed_import_leaves_the_staging_area_exactly_as_it_was() {
    let env = Env::new();
    repo_with_images(&env);
    env.ok(&[
        "import",
        "images",
        &fixture("rows_u8.npy"),
        "--start",
        "100",
    ]);
    let good = std::fs::read(fixture("npy_dir/s0.npy")).unwrap();
    let dir = env.file("mixed");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("a_good.npy"), &good).unwrap();
    std::fs::write(dir.join("b_cut.npy"), &good[..good.len() - 3]).unwrap();
    let cut_alone = env.file("cut.npy");
    std::fs::write(&cut_alone, &good[..good.len() - 3]).unwrap();
    let status_before = env.json(&["status"]);
    let files_before = staging_files(&env);
    for args in [
        vec!["import", "images", dir.to_str().unwrap()],
        vec!["import", "fresh", cut_alone.to_str().unwrap(), "--create"],
        vec!["import", "fresh", dir.to_str().unwrap(), "--create"],
    ] {
        let e = env.err(&args);
        assert!(
            e.contains("b_cut.npy") || e.contains("cut.npy"),
            "{args:?}: {e}"
        );
        assert_eq!(env.json(&["status"]), status_before, "{args:?}");
        assert!(
            staging_files(&env) == files_before,
            "{args:?}: files changed"
        );
    }
    // A failure on another branch (--branch) also returns the staging area there... and
    // the staged changes of master were not touched: the import is refused outright.
    env.ok(&["commit", "-m", "rows"]);
    env.ok(&["branch", "create", "other"]);
    let e = env.err(&[
        "import",
        "images",
        dir.to_str().unwrap(),
        "--branch",
        "other",
    ]);
    assert!(e.contains("b_cut.npy"), "{e}");
    assert_eq!(env.json(&["status"])["branch"], "master");
    assert!(env.ok(&["verify"]).contains("No problems found."));
}
