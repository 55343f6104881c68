//! The README's command-line walkthrough ("Using it from the command line"), run as a
//! user runs it: the shell block as written, with this build's `hangar` first on `PATH`
//! (the `cargo install` line is what put it there). Its data is Debian's
//! `dataset-fashion-mnist`, which `.ci/run` installs; without it the test says so and
//! passes, as the walkthrough cannot run either.

use std::path::Path;

use crate::Env;

const FASHION: &str = "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz";

/// The first ```sh block after `heading` in `text`, its lines as written.
fn shell_block<'a>(text: &'a str, heading: &str) -> Vec<&'a str> {
    let after = &text[text.find(heading).expect("the README has the section")..];
    let body = &after[after.find("```sh\n").expect("a shell block") + 6..];
    body[..body.find("```").expect("the block ends")]
        .lines()
        .collect()
}

#[test]
fn the_readme_command_line_walkthrough_runs_as_written() {
    if !Path::new(FASHION).exists() {
        eprintln!("skipped: {FASHION} is absent (apt install dataset-fashion-mnist)");
        return;
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let lines = shell_block(&readme, "## Using it from the command line");
    let script: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !l.trim_start().starts_with("cargo install"))
        .collect();
    assert!(
        script
            .iter()
            .any(|l| l.contains("train-labels-idx1-ubyte.gz")),
        "the walkthrough imports the labels: {script:?}"
    );
    let env = Env::new();
    let bin = Path::new(env!("CARGO_BIN_EXE_hangar")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // `set -ex`: the first failing command fails the test, and the trace says which.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("set -ex\n{}", script.join("\n")))
        .current_dir(env.path())
        .env("PATH", path)
        .env("HOME", env.path())
        .env_remove("HANGAR_REPO")
        .env_remove("HANGAR_CONFIG")
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .expect("sh runs");
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "stdout:\n{o}\nstderr:\n{e}");
    // What it built: both columns of all 60,000 samples, and the branch.
    let mydata = env.path().join("mydata");
    let repo = mydata.to_str().unwrap();
    let status = env.json(&["-C", repo, "status"]);
    assert_eq!(status["branch"], "relabel", "{status}");
    for column in ["images", "labels"] {
        env.ok(&["-C", repo, "cat", column, "59999"]);
    }
    assert!(mydata.join("images.parquet").exists());
}
