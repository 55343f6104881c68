//! log, summary, show, branch, checkout, diff, merge.

use serde_json::json;

use crate::{fixture, history_repo, Env};

#[test]
fn log_forms() {
    let env = Env::new();
    env.init();
    let (out, e) = env.code(0, &["log"]);
    assert!(out.is_empty() && e.contains("No commits yet"), "{out} {e}");
    history_repo(&env);
    let v = env.json(&["log"]);
    let commits = v["commits"].as_array().unwrap();
    assert_eq!(commits.len(), 4);
    assert_eq!(commits[0]["message"], "Merge branch 'dev' into master");
    assert_eq!(commits[0]["parents"].as_array().unwrap().len(), 2);
    assert_eq!(commits[0]["branch_heads"], json!(["master"]));
    assert_eq!(commits[3]["message"], "first commit");
    assert_eq!(
        v["heads"]["dev"],
        commits
            .iter()
            .find(|c| c["message"] == "dev changes")
            .unwrap()["id"]
    );
    assert!(commits[0]["time"].as_str().unwrap().ends_with('Z'));

    let lines: Vec<String> = env.ok(&["log"]).lines().map(String::from).collect();
    assert_eq!(lines.len(), 4);
    assert!(
        lines[0].contains("(master)") && lines[0].contains("(Test User)"),
        "{}",
        lines[0]
    );
    let one = env.ok(&["log", "--oneline", "-n", "2"]);
    assert_eq!(one.lines().count(), 2);
    assert!(!one.contains("Test User"), "{one}");
    // -n 0 prints nothing, and does not claim there are no commits.
    assert_eq!(
        env.code(0, &["log", "-n", "0"]),
        (String::new(), String::new())
    );
    let dev = env.json(&["log", "dev"]);
    assert_eq!(dev["commits"].as_array().unwrap().len(), 2);
    let graph = env.ok(&["log", "--graph"]);
    assert!(graph.contains("|\\") && graph.contains("|/"), "{graph}");
    let e = env.err(&["log", "nosuchbranch"]);
    assert!(e.contains("nosuchbranch"), "{e}");
}

#[test]
fn summary_before_the_first_commit_succeeds() {
    let env = Env::new();
    env.init();
    let text = env.ok(&["summary"]);
    assert!(
        text.contains("Repository Info")
            && text.contains("No commits have been made in the repository"),
        "{text}"
    );
    let v = env.json(&["summary"]);
    assert!(
        v["commit"].is_null() && v["columns"] == serde_json::json!([]),
        "{v}"
    );
    assert_eq!(v["metadata_keys"], 0);
    // A named revision that does not exist yet is still an error.
    let e = env.err(&["summary", "master"]);
    assert!(e.contains("no commits"), "{e}");
}

#[test]
fn summary_and_show() {
    let env = Env::new();
    history_repo(&env);
    let text = env.ok(&["summary"]);
    assert!(
        text.contains("Summary of Contents") && text.contains("Column Name: images"),
        "{text}"
    );
    let v = env.json(&["summary", "dev"]);
    assert_eq!(v["commit"]["message"], "dev changes");
    let images = v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "images")
        .unwrap()
        .clone();
    assert_eq!(images["num_samples"], 13);
    assert!(v["disk_usage_bytes"].as_u64().unwrap() > 0);

    let first = env.json(&["log"])["commits"][3]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let show = env.ok(&["show", &first[..10]]);
    assert!(show.starts_with(&format!("commit {first}")), "{show}");
    assert!(
        show.contains("Author: Test User <test@example.com>"),
        "{show}"
    );
    assert!(show.contains("    first commit"), "{show}");
    assert!(show.contains("Diff from nothing (no commit)"), "{show}");
    assert!(show.contains("column images added"), "{show}");
    let merge = env.ok(&["show", "master"]);
    assert!(merge.contains("Merge: "), "{merge}");
    // Alone, as git's: HEAD (master here).
    assert_eq!(env.ok(&["show"]), merge);
    let v = env.json(&["show", "dev"]);
    assert_eq!(v["commit"]["message"], "dev changes");
    assert_eq!(v["diff"]["counts"]["samples_added"], 10);
    assert_eq!(v["diff"]["columns"][0]["added"][0], 0);
    let e = env.err(&["show", "zzzz"]);
    assert!(e.contains("zzzz"), "{e}");
}

#[test]
fn branches() {
    let env = Env::new();
    env.init();
    let e = env.err(&["branch", "create", "dev"]);
    assert!(e.contains("no commits"), "{e}");
    history_repo(&env);
    let out = env.ok(&["branch", "list"]);
    assert!(out.lines().any(|l| l.starts_with("* master")), "{out}");
    assert!(out.lines().any(|l| l.starts_with("  dev")), "{out}");
    let first = env.json(&["log"])["commits"][3]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let v = env.json(&["branch", "create", "old", &first[..8]]);
    assert_eq!(v["head"], first);
    let e = env.err(&["branch", "create", "old"]);
    assert!(e.contains("already exists"), "{e}");
    let e = env.err(&["branch", "create", "x", "0123456789abcdef"]);
    assert!(e.contains("0123456789abcdef"), "{e}");
    let e = env.err(&["branch", "create", "bad name"]);
    assert!(e.contains("not suitable"), "{e}");
    let v = env.json(&["branch", "list"]);
    let names: Vec<&str> = v["branches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dev", "master", "old"]);
    assert_eq!(v["branches"][1]["current"], true);
    // Deleting: merged branches go; the current one and unmerged ones are refused.
    env.ok(&["branch", "create", "side"]);
    env.ok(&["checkout", "side"]);
    env.ok(&["column", "create", "extra", "str"]);
    env.ok(&["commit", "-m", "side work"]);
    env.ok(&["checkout", "master"]);
    let e = env.err(&["branch", "delete", "side"]);
    assert!(
        e.contains("not fully merged") || e.contains("--force"),
        "{e}"
    );
    let e = env.err(&["branch", "delete", "master"]);
    assert!(e.contains("master"), "{e}");
    assert!(env
        .ok(&["branch", "delete", "side", "--force"])
        .contains("Deleted branch side"));
    let v = env.json(&["branch", "delete", "dev"]);
    assert_eq!(v["deleted"], "dev");
}

#[test]
fn checkout_switches_and_refuses_with_staged_changes() {
    let env = Env::new();
    history_repo(&env);
    let out = env.ok(&["checkout", "dev"]);
    assert!(out.contains("Switched to branch dev"), "{out}");
    assert_eq!(env.json(&["status"])["branch"], "dev");
    // master has a column of that name dev lacks: the change would overwrite it.
    env.ok(&["column", "create", "captions", "str"]);
    let e = env.err(&["checkout", "master"]);
    assert!(
        e.contains("touch what differs there (column \"captions\")"),
        "{e}"
    );
    assert_eq!(env.json(&["status"])["branch"], "dev");
    env.ok(&["reset", "--yes"]);
    let v = env.json(&["checkout", "master"]);
    assert_eq!(v["branch"], "master");
    let e = env.err(&["checkout", "nope"]);
    assert!(e.contains("nope"), "{e}");
}

#[test]
fn branch_alone_lists_and_branch_name_creates_as_git_does() {
    let env = Env::new();
    history_repo(&env);
    assert_eq!(env.ok(&["branch"]), env.ok(&["branch", "list"]));
    let master = env.json(&["log"])["commits"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let first = env.json(&["log"])["commits"][3]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(env
        .ok(&["branch", "topic"])
        .contains(&format!("Created branch topic at {}", &master[..16])));
    let v = env.json(&["branch", "old", &first[..8]]);
    assert_eq!(
        (v["created"].as_str(), v["head"].as_str()),
        (Some("old"), Some(first.as_str()))
    );
    // A name spelled as a subcommand is the subcommand; `create` makes such a branch.
    env.ok(&["branch", "create", "list"]);
    let names: Vec<String> = env.json(&["branch"])["branches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["dev", "list", "master", "old", "topic"]);
    let e = env.err(&["branch", "topic"]);
    assert!(e.contains("already exists"), "{e}");
    let (_, e) = env.code(2, &["branch", "x", "y", "z"]);
    assert!(e.contains("Usage: hangar branch"), "{e}");
    // -d / -D NAME delete, as git's: -d refuses an unmerged branch, -D forces.
    env.ok(&["checkout", "topic"]);
    env.ok(&["column", "create", "extra", "str"]);
    env.ok(&["commit", "-m", "topic work"]);
    env.ok(&["checkout", "master"]);
    let e = env.err(&["branch", "-d", "topic"]);
    assert!(e.contains("--force"), "{e}");
    assert!(env
        .ok(&["branch", "-D", "topic"])
        .contains("Deleted branch topic"));
    assert_eq!(env.json(&["branch", "--delete", "old"])["deleted"], "old");
    let (_, e) = env.code(2, &["branch", "-d"]);
    assert!(e.contains("NAME"), "{e}");
    let (_, e) = env.code(2, &["branch", "-d", "list", "master"]);
    assert!(e.contains("cannot be used with"), "{e}");
}

#[test]
fn column_metadata_and_remote_alone_list_as_git_remote_does() {
    let env = Env::new();
    history_repo(&env);
    env.ok(&["metadata", "set", "source", "tests"]);
    env.ok(&["commit", "-m", "metadata"]);
    let (out, err) = env.code(0, &["remote"]);
    assert_eq!(out, "");
    assert!(
        err.contains("No remotes; `hangar remote add NAME URL`"),
        "{err}"
    );
    assert_eq!(env.code(0, &["remote", "-q"]).1, "", "-q: no note");
    env.ok(&["remote", "add", "origin", env.file("r").to_str().unwrap()]);
    for (alone, list) in [("column", "list"), ("metadata", "list"), ("remote", "list")] {
        let out = env.ok(&[alone]);
        assert!(!out.is_empty(), "{alone}");
        assert_eq!(out, env.ok(&[alone, list]), "{alone}");
        assert_eq!(env.json(&[alone]), env.json(&[alone, list]), "{alone}");
    }
    assert!(env.ok(&["metadata"]).contains("source: tests"));
}

#[test]
fn checkout_b_creates_a_branch_and_takes_the_staged_changes_along() {
    let env = Env::new();
    history_repo(&env);
    let head = env.json(&["status"])["head"].as_str().unwrap().to_string();
    env.ok(&["column", "create", "notes", "str"]);
    // Sample 3 came from dev with the merge: HEAD~1 lacks it. A start where the staged
    // changes touch what differs: refused, naming it, nothing created or lost.
    env.ok(&["rm", "images", "3"]);
    let e = env.err(&["checkout", "-b", "exp", "HEAD~1"]);
    assert!(
        e.contains("touch what differs there (column \"images\", sample 3)")
            && e.contains("\"master\""),
        "{e}"
    );
    let e = env.err(&["checkout", "-b", "dev"]);
    assert!(e.contains("already exists"), "{e}");
    let e = env.err(&["checkout", "-b", "bad name"]);
    assert!(e.contains("not suitable"), "{e}");
    assert_eq!(
        env.json(&["branch"])["branches"].as_array().unwrap().len(),
        2
    );
    let st = env.json(&["status"]);
    assert_eq!(
        (st["branch"].as_str(), st["clean"].as_bool()),
        (Some("master"), Some(false)),
        "{st}"
    );
    // From the head: the changes move to the new branch; master keeps its head.
    let out = env.ok(&["checkout", "-b", "exp"]);
    assert!(out.contains("Switched to a new branch exp"), "{out}");
    let st = env.json(&["status"]);
    assert_eq!(
        (st["branch"].as_str(), st["head"].as_str()),
        (Some("exp"), Some(head.as_str()))
    );
    assert_eq!(st["clean"], false, "{st}");
    env.ok(&["commit", "-m", "notes on exp"]);
    let cols = |rev: &str| -> Vec<String> {
        env.json(&["summary", rev])["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(cols("exp").contains(&"notes".to_string()));
    assert!(!cols("master").contains(&"notes".to_string()));
    assert_eq!(env.json(&["log", "master"])["commits"][0]["id"], head);
    // Clean: any start; --json says it created the branch.
    let v = env.json(&["checkout", "-b", "back", "HEAD~1"]);
    assert_eq!(
        (v["branch"].as_str(), v["created"].as_bool()),
        (Some("back"), Some(true))
    );
    assert_eq!(v["head"], head);
    assert_eq!(env.json(&["checkout", "master"])["created"], false);
    // An unknown branch without -b: the error says how to make it.
    let e = env.err(&["checkout", "nope"]);
    assert!(e.contains("hangar checkout -b nope"), "{e}");
    assert!(e.contains("branches: back, dev, exp, master"), "{e}");
}

#[test]
fn diff_forms() {
    let env = Env::new();
    history_repo(&env);
    let first = env.json(&["log"])["commits"][3]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Two revisions: from A to B.
    let v = env.json(&["diff", &first, "dev"]);
    assert_eq!(v["from"], first);
    assert_eq!(v["counts"]["samples_added"], 10);
    let back = env.json(&["diff", "dev", &first]);
    assert_eq!(back["counts"]["samples_deleted"], 10);
    assert_eq!(back["counts"]["samples_added"], 0);
    // One revision: from the current branch to it.
    let v = env.json(&["diff", &first]);
    assert_eq!(v["counts"]["columns_deleted"], 1, "{v}");
    assert!(
        v["counts"]["samples_deleted"].as_u64().unwrap() >= 10,
        "{v}"
    );
    // Text, shortened and --all.
    let text = env.ok(&["diff", &first, "dev"]);
    assert!(text.contains("added: 10") && text.contains("+ 0"), "{text}");
    let big = env.ok(&["diff", &first, "dev", "--all"]);
    assert!(big.contains("+ 9"), "{big}");
    // Staged.
    let none = env.ok(&["diff", "--staged"]);
    assert!(none.contains("no changes"), "{none}");
    env.ok(&[
        "import",
        "images",
        &fixture("rows_u8.npy"),
        "--start",
        "100",
    ]);
    let v = env.json(&["diff", "--staged"]);
    assert_eq!(v["to"], "staged");
    assert_eq!(v["counts"]["samples_added"], 10);
    // Alone, as git's `diff`: what is staged.
    assert_eq!(env.json(&["diff"]), v);
    assert_eq!(env.ok(&["diff"]), env.ok(&["diff", "--staged"]));
    let e = env.err(&["diff", "--staged", "dev"]);
    assert!(e.contains("--staged"), "{e}");
    // Past 20 keys of a kind, text shows the first 20 and counts the rest; --all and
    // --json list every key.
    for start in ["200", "300"] {
        env.ok(&[
            "import",
            "images",
            &fixture("rows_u8.npy"),
            "--start",
            start,
        ]);
    }
    let text = env.ok(&["diff", "--staged"]);
    assert!(text.contains("added: 30"), "{text}");
    assert!(text.contains("+ 100") && text.contains("+ 209"), "{text}");
    assert!(
        !text.contains("+ 300") && text.contains("... and 10 more"),
        "{text}"
    );
    let all = env.ok(&["diff", "--staged", "--all"]);
    assert!(all.contains("+ 309") && !all.contains("more"), "{all}");
    let v = env.json(&["diff", "--staged"]);
    assert_eq!(v["counts"]["samples_added"], 30);
    assert_eq!(v["columns"][0]["added"].as_array().map(Vec::len), Some(30));
    // Between commits alike.
    let text = env.ok(&["diff", &first, "dev"]);
    assert!(
        text.contains("added: 10") && !text.contains("more"),
        "{text}"
    );
    // And `show` of the commit that adds the 30.
    env.ok(&["commit", "-m", "thirty"]);
    let text = env.ok(&["show"]);
    assert!(
        text.contains("added: 30") && text.contains("... and 10 more"),
        "{text}"
    );
    assert!(!text.contains("+ 300"), "{text}");
    let all = env.ok(&["show", "--all"]);
    assert!(all.contains("+ 309") && !all.contains("more"), "{all}");
    let v = env.json(&["show"]);
    assert_eq!(v["diff"]["counts"]["samples_added"], 30);
    assert_eq!(
        v["diff"]["columns"][0]["added"].as_array().map(Vec::len),
        Some(30)
    );
}

#[test]
fn diff_before_the_first_commit_is_all_added() {
    let env = Env::new();
    env.init();
    env.ok(&["column", "create", "images", "uint8", "4", "4"]);
    env.ok(&["import", "images", &fixture("npy_dir")]);
    let v = env.json(&["diff", "--staged"]);
    assert_eq!(v["from"], serde_json::Value::Null);
    assert_eq!(v["counts"]["columns_added"], 1);
    assert_eq!(v["columns"][0]["added"], json!(["s0", "s1", "s2"]));
}

#[test]
fn merge_outcomes_and_conflicts() {
    let env = Env::new();
    env.init();
    env.ok(&["column", "create", "images", "uint8", "4", "4"]);
    env.ok(&["import", "images", &fixture("npy_dir")]);
    env.ok(&["commit", "-m", "base"]);
    env.ok(&["branch", "create", "dev"]);
    // Up to date.
    let v = env.json(&["merge", "dev"]);
    assert_eq!(v["outcome"], "up_to_date");
    // Fast-forward.
    env.ok(&["checkout", "dev"]);
    env.ok(&["import", "images", &fixture("rows_u8.npy")]);
    env.ok(&["commit", "-m", "dev rows"]);
    env.ok(&["checkout", "master"]);
    let out = env.ok(&["merge", "dev"]);
    assert!(out.contains("Fast-forward"), "{out}");
    // Three-way: master and dev change different keys.
    env.ok(&["checkout", "dev"]);
    env.ok(&["import", "images", &fixture("rows_u8.npy"), "--start", "50"]);
    env.ok(&["commit", "-m", "dev more"]);
    env.ok(&["checkout", "master"]);
    env.ok(&["import", "images", &fixture("rows_u8.npy"), "--start", "80"]);
    env.ok(&["commit", "-m", "master more"]);
    let v = env.json(&["merge", "dev", "-m", "bring dev in"]);
    assert_eq!(v["outcome"], "merged");
    assert!(v["base"].is_string());
    assert_eq!(env.json(&["log"])["commits"][0]["message"], "bring dev in");
    // A conflict: both change sample s0 differently.
    env.ok(&["checkout", "dev"]);
    std::fs::copy(fixture("npy_dir/s2.npy"), env.file("s0.npy")).unwrap();
    env.ok(&[
        "import",
        "images",
        env.file("s0.npy").to_str().unwrap(),
        "--overwrite",
    ]);
    env.ok(&["commit", "-m", "dev s0"]);
    env.ok(&["checkout", "master"]);
    std::fs::create_dir(env.file("m")).unwrap();
    std::fs::copy(fixture("npy_dir/s1.npy"), env.file("m/s0.npy")).unwrap();
    env.ok(&[
        "import",
        "images",
        env.file("m/s0.npy").to_str().unwrap(),
        "--overwrite",
    ]);
    env.ok(&["commit", "-m", "master s0"]);
    let head_before = env.json(&["log"])["commits"][0]["id"].clone();
    let (out, err) = env.code(1, &["merge", "dev"]);
    assert!(
        out.contains("stopped: 1 conflict; nothing was changed"),
        "{out}"
    );
    assert!(
        err.contains("`hangar merge dev --strategy ours|theirs`"),
        "{err}"
    );
    let (_, err) = env.code(1, &["merge", "dev", "-q"]);
    assert_eq!(err, "", "-q: no notes");
    assert!(
        out.contains("WHERE") && out.contains("\"s0\"") && out.contains("changed in both"),
        "{out}"
    );
    let (out, _) = env.code(1, &["merge", "dev", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["outcome"], "conflict");
    let c = v["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "s0")
        .expect("s0 conflict")
        .clone();
    assert_eq!(c["scope"], "sample");
    assert_eq!(c["column"], "images");
    assert_eq!(c["kind"], "changed_in_both");
    assert_eq!(c["ours"].as_str().unwrap().len(), 64);
    assert_ne!(c["ours"], c["theirs"]);
    assert_eq!(env.json(&["log"])["commits"][0]["id"], head_before);
    // Issue 12 item 13: --strategy settles the conflict by taking one side, and says so.
    let (_, e) = env.code(2, &["merge", "dev", "--strategy", "mine"]);
    assert!(e.contains("refuse") && e.contains("theirs"), "{e}");
    let out = env.ok(&["merge", "dev", "--strategy", "theirs"]);
    assert!(
        out.contains("Merged dev into master")
            && out.contains("1 conflict settled by taking dev's side"),
        "{out}"
    );
    assert!(out.contains("\"s0\""), "{out}");
    let d = env.json(&["diff", "dev", "master"]);
    assert!(
        !d.to_string().contains("\"s0\""),
        "s0 is dev's after the merge: {d}"
    );
    let log = env.json(&["log"]);
    assert_eq!(log["commits"][0]["parents"].as_array().unwrap().len(), 2);
    // Merging with staged changes is refused.
    env.ok(&["column", "create", "tmp", "str"]);
    let e = env.err(&["merge", "dev"]);
    assert!(e.contains("commit or reset"), "{e}");
}

/// Issue 12 item 7: every command that takes a revision reads HEAD, ~N, ^N, prefixes
/// and branch names, and an unknown one lists the branches without changing its case.
#[test]
fn revisions_everywhere() {
    let env = Env::new();
    history_repo(&env);
    let log = env.json(&["log"]);
    let ids: Vec<String> = log["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    let show = env.json(&["show", "HEAD"]);
    assert_eq!(show["commit"]["id"], ids[0].as_str(), "{show}");
    let parent = env.json(&["show", "HEAD~1"]);
    assert_eq!(parent["commit"]["id"], ids[1].as_str(), "{parent}");
    assert!(!env.ok(&["diff", "HEAD~1", "HEAD"]).is_empty());
    env.ok(&["summary", "HEAD^"]);
    env.ok(&["log", "master~1"]);
    env.ok(&["show", &ids[2][..8].to_ascii_uppercase()]);
    for args in [
        &["diff", "master", "nosuch"][..],
        &["log", "nosuch"],
        &["summary", "nosuch"],
        &["show", "Master"],
    ] {
        let e = env.err(args);
        let named = args.last().unwrap();
        assert!(
            e.contains(&format!("no branch or commit named \"{named}\""))
                && e.contains("branches: "),
            "{args:?}: {e}"
        );
    }
}

/// Issue 12 item 14: a log cut short by -n does not end on a dangling graph connector.
#[test]
fn log_cut_short_ends_on_a_commit() {
    let env = Env::new();
    history_repo(&env);
    let out = env.ok(&["log", "-n1", "--graph"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with('*') && out.contains("Merge"), "{out}");
    let out = env.ok(&["log", "-n3", "--graph"]);
    assert!(out.lines().last().unwrap().contains("dev changes"), "{out}");
}

/// Issue 12 item 9: under --json every path prints one document on stdout, errors
/// included (kind, message, exit code), and the text still goes to stderr.
#[test]
fn json_errors_are_documents() {
    let env = Env::new();
    history_repo(&env);
    let (out, e) = env.code(2, &["--json", "log", "nosuch"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!(v["error"]["kind"], "not_found", "{v}");
    assert_eq!(v["error"]["exit_code"], 2);
    assert!(v["error"]["message"].as_str().unwrap().contains("nosuch"));
    assert!(e.contains("error:"), "{e}");
    let (out, _) = env.code(1, &["--json", "commit", "-m", "nothing"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!(v["error"]["kind"], "nothing_to_commit", "{v}");
    assert_eq!(v["error"]["exit_code"], 1);
    // A command that printed its own document prints no second one.
    let (out, _) = env.code(1, &["--json", "reset", "--yes"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("exactly one JSON document");
    assert!(v.get("error").is_none() || v.get("reset").is_none(), "{v}");
}

/// Issue 12 item 13: a pager for long output, as git does it (log, diff and show on a
/// terminal; `-p` forces one, `--no-pager` refuses it; HANGAR_PAGER, PAGER, less).
#[test]
fn the_pager_takes_the_output_when_asked_and_only_then() {
    let env = Env::new();
    history_repo(&env);
    let plain = env.ok(&["log"]);
    assert!(
        plain.contains("commit") || plain.contains("Author"),
        "{plain}"
    );
    let run = |vars: &[(&str, &str)], args: &[&str]| {
        let mut c = env.cmd();
        for (k, v) in vars {
            c.env(k, v);
        }
        let out = env.run_ok(c.args(args));
        String::from_utf8(out.stdout).unwrap()
    };
    // Forced: the output goes through the pager (here one that upper-cases it).
    let paged = run(&[("PAGER", "tr a-z A-Z")], &["-p", "log"]);
    assert_eq!(paged, plain.to_uppercase());
    // HANGAR_PAGER wins over PAGER; `cat` or an empty value means no pager.
    let paged = run(
        &[("PAGER", "false"), ("HANGAR_PAGER", "tr a-z A-Z")],
        &["--paginate", "log"],
    );
    assert_eq!(paged, plain.to_uppercase());
    assert_eq!(run(&[("PAGER", "cat")], &["-p", "log"]), plain);
    assert_eq!(
        run(
            &[("HANGAR_PAGER", ""), ("PAGER", "tr a-z A-Z")],
            &["-p", "log"]
        ),
        plain
    );
    // Not a terminal and not forced: no pager, even for log.
    assert_eq!(run(&[("PAGER", "tr a-z A-Z")], &["log"]), plain);
    // A pager that cannot start is not used: the output is not lost.
    assert_eq!(
        run(&[("PAGER", "/nonexistent/pager -R")], &["-p", "log"]),
        plain
    );
    // --json is never paged.
    let json = run(&[("PAGER", "tr a-z A-Z")], &["-p", "log", "--json"]);
    assert!(json.contains("\"commits\""), "{json}");
    // A pager that quits early ends the command quietly (exit 0).
    run(&[("PAGER", "head -c 5 >/dev/null")], &["-p", "log"]);
    // -p and --no-pager together are refused.
    let (_, e) = env.code(2, &["-p", "--no-pager", "log"]);
    assert!(e.contains("--no-pager"), "{e}");
    assert_eq!(env.ok(&["--no-pager", "log"]), plain);
}

#[test]
fn checkout_takes_the_staged_changes_along_where_they_apply_unchanged() {
    let env = Env::new();
    history_repo(&env);
    let master = env.json(&["status"])["head"].as_str().unwrap().to_string();
    env.ok(&["branch", "same"]);
    env.ok(&["branch", "old", "HEAD~1"]);
    // Sample 3 came from dev with the merge, unchanged; HEAD~1 lacks it.
    env.ok(&["rm", "images", "3"]);
    env.ok(&["metadata", "set", "k", "v"]);
    let staged = |branch: &str| {
        let st = env.json(&["status"]);
        assert_eq!(st["branch"], branch, "{st}");
        assert_eq!(st["clean"], false, "{st}");
    };
    // A branch at the same commit: they come along.
    let v = env.json(&["checkout", "same"]);
    assert_eq!(
        (v["branch"].as_str(), v["staged"].as_bool()),
        (Some("same"), Some(true))
    );
    staged("same");
    // A branch where what they touch differs: refused, naming it; nothing changes.
    let e = env.err(&["checkout", "old"]);
    assert!(
        e.contains("Unable to check out branch \"old\"")
            && e.contains("(column \"images\", sample 3)")
            && e.contains("commit or reset them first"),
        "{e}"
    );
    staged("same");
    // dev holds sample 3 as the merge does, and no metadata: they come along.
    let out = env.ok(&["checkout", "dev"]);
    assert!(out.contains("the staged changes came along"), "{out}");
    staged("dev");
    let dev_before = env.json(&["status"])["head"].as_str().unwrap().to_string();
    env.ok(&["commit", "-m", "on dev"]);
    // Committed on dev only: master and same keep sample 3, dev lost it.
    let has_3 = |rev: &str| {
        let out = env
            .cmd()
            .args(["cat", "images", "3", rev])
            .output()
            .unwrap();
        out.status.success()
    };
    assert!(!has_3("dev") && has_3("master") && has_3("same") && has_3(&dev_before));
    assert_eq!(env.json(&["log", "master"])["commits"][0]["id"], master);
    assert_eq!(
        env.json(&["metadata", "list"])["metadata"]["k"],
        "v",
        "on dev"
    );
    // Clean: any branch.
    assert_eq!(env.json(&["checkout", "old"])["staged"], false);
}
