//! Golden outputs: `log --graph`, `summary` and `diff` text, with commit ids, times,
//! paths and sizes replaced by placeholders. `HANGAR_BLESS=1` rewrites the golden files.

use std::collections::HashMap;
use std::path::Path;

use regex::Regex;

use crate::{history_repo, Env};

/// Replaces what differs between runs: ids (numbered by first appearance), times, the
/// repository path and sizes.
fn normalize(text: &str, env: &Env) -> String {
    let mut ids: HashMap<String, usize> = HashMap::new();
    let hex = Regex::new(r"\b[0-9a-f]{64}\b|\b[0-9a-f]{16}\b").unwrap();
    let text = text.replace(
        env.path().canonicalize().unwrap().to_str().unwrap(),
        "<DIR>",
    );
    let text = hex
        .replace_all(&text, |c: &regex::Captures<'_>| {
            let full = c[0].to_string();
            let short = full[..16].to_string();
            let n = ids.len() + 1;
            let id = *ids.entry(short).or_insert(n);
            format!("<id{id}>")
        })
        .into_owned();
    let compact = Regex::new(r"\d\d[A-Z][a-z]{2}\d{4} \d\d:\d\d:\d\d").unwrap();
    let asctime = Regex::new(r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}").unwrap();
    let size = Regex::new(r"Disk Usage: .*").unwrap();
    let text = compact.replace_all(&text, "<time>");
    let text = asctime.replace_all(&text, "<time>");
    size.replace_all(&text, "Disk Usage: <size>").into_owned()
}

fn check(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cli/golden")
        .join(name);
    if std::env::var_os("HANGAR_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} is missing; run with HANGAR_BLESS=1", path.display()));
    assert_eq!(
        actual, want,
        "{name} differs from its golden file (HANGAR_BLESS=1 rewrites it)"
    );
}

#[test]
fn golden_log_graph() {
    let env = Env::new();
    history_repo(&env);
    check(
        "log_graph.txt",
        &normalize(&env.ok(&["log", "--graph"]), &env),
    );
    check(
        "log_oneline.txt",
        &normalize(&env.ok(&["log", "--oneline"]), &env),
    );
}

#[test]
fn golden_summary() {
    let env = Env::new();
    history_repo(&env);
    check("summary.txt", &normalize(&env.ok(&["summary"]), &env));
}

#[test]
fn golden_diff() {
    let env = Env::new();
    history_repo(&env);
    let first = env.json(&["log"])["commits"][3]["id"]
        .as_str()
        .unwrap()
        .to_string();
    check(
        "diff.txt",
        &normalize(&env.ok(&["diff", &first, "master"]), &env),
    );
    env.ok(&["column", "remove", "captions"]);
    env.ok(&[
        "import",
        "images",
        &crate::fixture("rows_u8.npy"),
        "--start",
        "3",
        "--overwrite",
    ]);
    check(
        "diff_staged.txt",
        &normalize(&env.ok(&["diff", "--staged"]), &env),
    );
}
