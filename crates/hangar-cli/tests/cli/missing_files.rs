//! Issue 11 item 1, from the command line: with an index run moved away, every writer
//! command refuses with an error naming the run, no data file is deleted or changed,
//! `verify` names the run and lists what it located, and putting the run back restores
//! the repository.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::{fixture, history_repo, Env};

fn data_files(hangar: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    crate::repo_files(hangar, &["segments", "packs", "index"])
}

#[test]
fn a_missing_index_run_is_reported_and_no_writer_command_deletes_anything() {
    let env = Env::new();
    history_repo(&env);
    env.ok(&[
        "import",
        "images",
        &fixture("rows_u8.npy"),
        "--start",
        "100",
    ]);
    let hangar = env.path().join(".hangar");
    let before = data_files(&hangar);
    let newest = before
        .keys()
        .filter(|p| p.extension().is_some_and(|e| e == "run"))
        .max()
        .unwrap()
        .clone();
    let aside = env.path().join("aside.run");
    std::fs::rename(&newest, &aside).unwrap();
    let writer_commands: &[&[&str]] = &[
        &["status"],
        &["diff", "--staged"],
        &[
            "import",
            "images",
            &fixture("rows_u8.npy"),
            "--start",
            "200",
        ],
        &["commit", "-m", "more"],
        &["reset", "--yes"],
        &["checkout", "dev"],
        &["merge", "dev"],
        &["column", "create", "extra", "uint8", "2"],
    ];
    for args in writer_commands {
        let (_, e) = env.code(2, args);
        assert!(e.contains("is missing"), "hangar {args:?}: {e}");
        assert!(e.contains("Nothing was deleted"), "hangar {args:?}: {e}");
    }
    let mut after = data_files(&hangar);
    after.insert(newest.clone(), std::fs::read(&aside).unwrap());
    assert!(before == after, "a data file was removed or changed");

    let (out, _) = env.code(1, &["verify"]);
    assert!(
        out.contains("damaged: ") && out.contains("is missing"),
        "{out}"
    );
    assert!(out.contains("unreferenced (kept): "), "{out}");
    let (out, _) = env.code(1, &["verify", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["ok"], false);
    assert!(!doc["unreferenced"].as_array().unwrap().is_empty(), "{out}");

    std::fs::rename(&aside, &newest).unwrap();
    let out = env.ok(&["verify"]);
    assert!(out.contains("No problems found."), "{out}");
    assert!(!out.contains("unreferenced"), "{out}");
    let status = env.ok(&["status"]);
    assert!(status.contains("images"), "{status}");
    env.ok(&["commit", "-m", "after the restore"]);
    assert!(env.ok(&["verify"]).contains("No problems found."));
}

#[cfg(unix)]
#[test]
fn export_never_writes_through_a_symbolic_link() {
    let env = Env::new();
    env.init();
    env.ok(&["column", "create", "images", "uint8", "4", "4"]);
    env.ok(&["import", "images", &fixture("npy_dir"), "-m", "one"]);
    let victim = env.file("victim");
    std::fs::write(&victim, b"outside the export target").unwrap();
    let out = env.file("out");
    std::fs::create_dir(&out).unwrap();
    std::os::unix::fs::symlink(&victim, out.join("s0.npy")).unwrap();
    // Without --force the existing name is refused; with it the link itself is replaced.
    env.err(&["export", "images", "-o", out.to_str().unwrap()]);
    env.ok(&["export", "images", "-o", out.to_str().unwrap(), "--force"]);
    assert_eq!(
        std::fs::read(&victim).unwrap(),
        b"outside the export target"
    );
    assert!(!out.join("s0.npy").is_symlink());
    for single in ["one.npy", "one.npz", "one.parquet"] {
        let target = env.file(single);
        std::os::unix::fs::symlink(&victim, &target).unwrap();
        env.ok(&[
            "export",
            "images",
            "-o",
            target.to_str().unwrap(),
            "--force",
        ]);
        assert_eq!(
            std::fs::read(&victim).unwrap(),
            b"outside the export target"
        );
        assert!(!target.is_symlink(), "{single}");
    }
    // A nested sample's directory that is a link out of the target is refused.
    let src = env.file("nest_in");
    std::fs::create_dir_all(src.join("sa")).unwrap();
    std::fs::copy(fixture("npy_dir/s0.npy"), src.join("sa/x.npy")).unwrap();
    env.ok(&[
        "column",
        "create",
        "nest",
        "uint8",
        "4",
        "4",
        "--subsamples",
    ]);
    env.ok(&["import", "nest", src.to_str().unwrap(), "-m", "nested"]);
    let nested_out = env.file("nested");
    std::fs::create_dir(&nested_out).unwrap();
    let elsewhere = env.file("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, nested_out.join("sa")).unwrap();
    let e = env.err(&[
        "export",
        "nest",
        "-o",
        nested_out.to_str().unwrap(),
        "--force",
    ]);
    assert!(e.contains("symbolic link"), "{e}");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}
