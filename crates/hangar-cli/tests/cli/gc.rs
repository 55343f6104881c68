//! `hangar gc`: grace period, --prune, --dry-run, --json, errors.

use crate::Env;

/// Writes `rows` × 100 bytes of u8 (row i filled from `seed + i`) as a `.npy` file.
fn write_rows(env: &Env, name: &str, rows: usize, seed: u8) -> String {
    let mut header =
        format!("{{'descr': '|u1', 'fortran_order': False, 'shape': ({rows}, 100), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for i in 0..rows {
        bytes.extend((0..100u8).map(|j| seed.wrapping_add(i as u8).wrapping_mul(3) ^ j));
    }
    let path = env.file(name);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

#[test]
fn gc_removes_a_deleted_branch_after_the_grace_period_only() {
    let env = Env::new();
    env.init();
    env.ok(&["column", "create", "big", "uint8", "100"]);
    let a = write_rows(&env, "a.npy", 20, 0);
    env.ok(&["import", "big", &a]);
    env.ok(&["commit", "-m", "keep"]);
    env.ok(&["branch", "create", "tmp"]);
    env.ok(&["checkout", "tmp"]);
    let b = write_rows(&env, "b.npy", 30, 100);
    env.ok(&["import", "big", &b, "--start", "100"]);
    env.ok(&["commit", "-m", "tmp"]);
    env.ok(&["checkout", "master"]);
    env.ok(&["branch", "delete", "tmp", "--force"]);

    // The reflog entry of the deletion is young: nothing goes, and gc says what kept it
    // (the deleted branch's one commit) and how to let it go.
    let (out, note) = env.code(0, &["gc"]);
    assert!(out.contains("Nothing to remove"), "{out}");
    assert!(
        note.contains("Kept 1 commit that only reflog entries younger than 2.weeks name")
            && note.contains("--prune=now"),
        "{note}"
    );
    let v = env.json(&["gc", "--prune", "never"]);
    assert_eq!(v["removed"].as_array().unwrap().len(), 0);
    assert_eq!(v["reflog_only_commits"], 1, "{v}");
    let (_, never) = env.code(0, &["gc", "--prune", "never"]);
    assert!(
        never.contains("`--prune=never` keeps every commit"),
        "{never}"
    );
    // Quiet, the note goes too.
    assert_eq!(env.code(0, &["gc", "-q"]), (String::new(), String::new()));

    let dry = env.json(&["gc", "--prune=now", "--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    let would: Vec<String> = dry["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    assert!(!would.is_empty(), "{dry}");
    assert!(would.iter().all(|p| std::path::Path::new(p).exists()));
    assert!(dry["bytes_removed"].as_u64().unwrap() >= 30 * 100);
    let text = env.ok(&["gc", "--prune=now", "-n"]);
    assert!(
        text.contains("would be removed") && text.contains("Nothing was changed"),
        "{text}"
    );

    let done = env.json(&["gc", "--prune=now"]);
    assert_eq!(done["dry_run"], false);
    assert_eq!(done["reflog_only_commits"], 0, "{done}");
    assert_eq!(done["bytes_removed"], dry["bytes_removed"]);
    assert!(would.iter().all(|p| !std::path::Path::new(p).exists()));
    assert!(env.ok(&["verify"]).contains("No problems found"));
    assert_eq!(env.json(&["cat", "big", "0"])["key"], 0);
    let (out, note) = env.code(0, &["gc"]);
    assert!(
        out.contains("Nothing to remove") && note.is_empty(),
        "{out}{note}"
    );
}

#[test]
fn gc_refuses_bad_options_clearly() {
    let env = Env::new();
    env.init();
    let e = env.err(&["gc", "--prune", "soon"]);
    assert!(
        e.contains("--prune \"soon\"") && e.contains("2.weeks"),
        "{e}"
    );
    let e = env.err(&["gc", "--compact-below", "3"]);
    assert!(
        e.contains("--compact-below") && e.contains("fraction"),
        "{e}"
    );
}
