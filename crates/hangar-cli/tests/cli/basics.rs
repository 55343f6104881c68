//! init, status, commit, reset, writer-lock, verify, completions, help, exit codes, -C,
//! colours, broken pipes.

use std::io::Read;
use std::process::Stdio;

use crate::{fixture, Env};

#[test]
fn init_creates_a_repository_and_reports_an_existing_one() {
    let env = Env::new();
    let out = env.ok(&["init"]);
    assert!(
        out.contains("Initialized an empty hangar repository"),
        "{out}"
    );
    assert!(env.file(".hangar").is_dir());
    // Again: not an error (like the original), says so, changes nothing.
    let out = env.ok(&["init"]);
    assert!(out.contains("already exists"), "{out}");
    let v = env.json(&["init"]);
    assert_eq!(v["created"], false);
    // --overwrite starts over.
    env.ok(&["column", "create", "x", "uint8", "2"]);
    env.ok(&["commit", "-m", "c"]);
    let v = env.json(&["init", "--overwrite"]);
    assert_eq!(v["created"], true);
    let log = env.json(&["log"]);
    assert_eq!(log["commits"].as_array().unwrap().len(), 0);
}

#[test]
fn init_takes_the_user_from_flags_env_or_config_file() {
    let env = Env::new();
    // Flags win over the environment.
    env.ok(&["init", "--name", "Flag Name", "--email", "flag@example.com"]);
    env.ok(&["column", "create", "x", "uint8", "2"]);
    env.ok(&["commit", "-m", "c"]);
    let log = env.json(&["log"]);
    assert_eq!(log["commits"][0]["author"], "Flag Name");
    assert_eq!(log["commits"][0]["email"], "flag@example.com");

    // The config file, when neither flags nor environment say.
    let env = Env::new();
    let out = init_with_config(
        &env,
        Some("# me\nname = \"Config Name\"\nemail = \"cfg@example.com\"\n"),
    );
    assert!(out.status.success());
    env.ok(&["column", "create", "x", "uint8", "2"]);
    env.ok(&["commit", "-m", "c"]);
    assert_eq!(env.json(&["log"])["commits"][0]["author"], "Config Name");

    // A config file that is not TOML is an error naming the file, the line and the
    // form, and nothing is created.
    let env = Env::new();
    let out = init_with_config(&env, Some("name = Config Name\n"));
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("hangar.conf") && e.contains("line 1") && e.contains("name = \"Ada Lovelace\""),
        "{e}"
    );
    assert!(!env.file(".hangar").exists());

    // Nothing anywhere, no terminal: a clear error.
    let env = Env::new();
    let out = init_with_config(&env, None);
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("--name") && e.contains("HANGAR_USER_NAME"),
        "{e}"
    );
    assert!(!env.file(".hangar").exists());
}

/// `hangar init` with no name or email from flags or the environment, and `config` (if
/// any) as the config file.
fn init_with_config(env: &Env, config: Option<&str>) -> std::process::Output {
    let mut cmd = env.cmd();
    cmd.env_remove("HANGAR_USER_NAME")
        .env_remove("HANGAR_USER_EMAIL");
    if let Some(text) = config {
        let cfg = env.file("hangar.conf");
        std::fs::write(&cfg, text).unwrap();
        cmd.env("HANGAR_CONFIG", &cfg);
    }
    cmd.arg("init").output().unwrap()
}

#[test]
fn commands_outside_a_repository_say_to_init() {
    let env = Env::new();
    let e = env.err(&["status"]);
    assert!(
        e.contains("not a hangar repository") && e.contains("hangar init"),
        "{e}"
    );
}

#[test]
fn repository_found_from_subdirectories_with_dash_c_and_hangar_repo() {
    let env = Env::new();
    env.init();
    let sub = env.file("a/b");
    std::fs::create_dir_all(&sub).unwrap();
    let out = env.cmd().current_dir(&sub).arg("status").output().unwrap();
    assert!(out.status.success());
    let other = Env::new();
    let p = env.path().to_str().unwrap();
    assert!(other.ok(&["-C", p, "status"]).contains("On branch master"));
    let out = other
        .cmd()
        .env("HANGAR_REPO", p)
        .arg("status")
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn status_works_before_the_first_commit_and_lists_staged_changes() {
    let env = Env::new();
    env.init();
    let out = env.ok(&["status"]);
    assert!(out.contains("On branch master, no commits yet"), "{out}");
    assert!(out.contains("Nothing staged"), "{out}");
    env.ok(&["column", "create", "images", "uint8", "4", "4"]);
    env.ok(&["import", "images", &fixture("npy_dir")]);
    let out = env.ok(&["status"]);
    assert!(out.contains("column images added"), "{out}");
    assert!(out.contains("images: samples 3 added or changed"), "{out}");
    let v = env.json(&["status"]);
    assert_eq!(v["branch"], "master");
    assert_eq!(v["head"], serde_json::Value::Null);
    assert_eq!(v["clean"], false);
    assert_eq!(v["columns_added"][0], "images");
    assert_eq!(v["samples"][0]["column"], "images");
    assert_eq!(v["samples"][0]["added_or_changed"], 3);
    env.ok(&["commit", "-m", "c"]);
    let v = env.json(&["status"]);
    assert_eq!(v["clean"], true);
    assert_eq!(v["head"].as_str().unwrap().len(), 64);
}

#[test]
fn commit_messages_from_flags_and_nothing_to_commit_is_exit_1() {
    let env = Env::new();
    env.init();
    let (_, e) = env.code(1, &["commit", "-m", "nothing"]);
    assert!(e.contains("Nothing to commit"), "{e}");
    env.ok(&["column", "create", "x", "uint8", "2"]);
    let out = env.ok(&["commit", "-m", "first line", "-m", "second line"]);
    assert!(
        out.starts_with("[master ") && out.contains("] first line"),
        "{out}"
    );
    let log = env.json(&["log"]);
    assert_eq!(log["commits"][0]["message"], "first line\nsecond line");
    let v = env.json(&["column", "create", "y", "uint8", "2"]);
    assert_eq!(v["created"]["name"], "y");
    let v = env.json(&["commit", "-m", "again"]);
    assert_eq!(v["branch"], "master");
    assert_eq!(v["commit"], env.json(&["log"])["commits"][0]["id"]);
}

#[test]
fn commit_without_message_opens_the_editor() {
    let env = Env::new();
    env.init();
    env.ok(&["column", "create", "x", "uint8", "2"]);
    // An "editor" that checks the template and writes a message.
    let script = env.file("editor.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\ngrep -q '# On branch master' \"$1\" || exit 3\ngrep -q 'column x added' \"$1\" || exit 4\nprintf 'from the editor\\n# dropped\\n' > \"$1\"\n",
    )
    .unwrap();
    let editor = format!("sh {}", script.display());
    env.run_ok(env.cmd().env("EDITOR", &editor).arg("commit"));
    assert_eq!(
        env.json(&["log"])["commits"][0]["message"],
        "from the editor"
    );

    // An empty message aborts with exit 1 and commits nothing.
    env.ok(&["column", "create", "y", "uint8", "2"]);
    let empty = env.file("empty.sh");
    std::fs::write(
        &empty,
        "#!/bin/sh\nprintf '# only comments\\n\\n' > \"$1\"\n",
    )
    .unwrap();
    let out = env
        .cmd()
        .env("VISUAL", format!("sh {}", empty.display()))
        .arg("commit")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("message is empty"));
    assert_eq!(env.json(&["status"])["clean"], false);

    // A failing editor is an error; nothing is committed.
    let out = env
        .cmd()
        .env("EDITOR", "false")
        .arg("commit")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(env.json(&["log"])["commits"].as_array().unwrap().len(), 1);
}

#[test]
fn reset_needs_yes_without_a_terminal_and_reports_nothing_to_reset() {
    let env = Env::new();
    env.init();
    let (_, e) = env.code(1, &["reset", "--yes"]);
    assert!(e.contains("Nothing staged"), "{e}");
    env.ok(&["column", "create", "x", "uint8", "2"]);
    let e = env.err(&["reset"]);
    assert!(e.contains("--yes"), "{e}");
    assert_eq!(env.json(&["status"])["clean"], false);
    let v = env.json(&["reset", "--yes"]);
    assert_eq!(v["reset"], true);
    assert_eq!(env.json(&["status"])["clean"], true);
}

#[test]
fn writer_lock_status_and_force_release() {
    let env = Env::new();
    env.init();
    assert!(env
        .ok(&["writer-lock"])
        .contains("Writer lock is available"));
    let v = env.json(&["writer-lock"]);
    assert_eq!(v["held"], false);
    assert!(env
        .ok(&["writer-lock", "--force-release"])
        .contains("released"));
    let v = env.json(&["writer-lock", "--force-release"]);
    assert_eq!(v["released"], true);
}

#[test]
fn writer_lock_held_by_another_process_is_shown_blocks_writers_not_readers() {
    let env = Env::new();
    env.init();
    // Hold the lock from a child `hangar commit` waiting in its editor.
    let fifo_dir = env.file("wait");
    std::fs::create_dir(&fifo_dir).unwrap();
    let script = env.file("slow-editor.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ntouch {0}/started\nwhile [ ! -e {0}/go ]; do sleep 0.05; done\necho msg > \"$1\"\n",
            fifo_dir.display()
        ),
    )
    .unwrap();
    env.ok(&["column", "create", "x", "uint8", "2"]);
    env.ok(&["column", "create", "images", "uint8", "4", "4"]);
    env.ok(&["import", "images", &fixture("rows_u8.npy")]);
    env.ok(&["metadata", "set", "note", "staged while unlocked"]);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("hangar"))
        .current_dir(env.path())
        .env("HANGAR_USER_NAME", "T")
        .env("HANGAR_USER_EMAIL", "t@example.com")
        .env("EDITOR", format!("sh {}", script.display()))
        .arg("commit")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = fifo_dir.join("started");
    for _ in 0..400 {
        if started.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(started.exists(), "the editor started");
    let v = env.json(&["writer-lock"]);
    assert_eq!(v["held"], true);
    assert_eq!(v["holder"]["pid"], child.id());
    assert!(env
        .ok(&["writer-lock"])
        .contains(&format!("process {}", child.id())));
    let e = env.err(&["writer-lock", "--force-release"]);
    assert!(e.contains("refusing"), "{e}");
    // Commands that only read the staging area work beside the writer, as `git status`
    // does, and say a writer is active; changes still need the lock.
    let (out, note) = env.code(0, &["status"]);
    assert!(
        out.contains("Staged changes:") && out.contains("images"),
        "{out}"
    );
    assert!(
        note.contains(&format!("A writer is active (process {}", child.id())),
        "{note}"
    );
    let v = env.json(&["status"]);
    assert_eq!(v["writer_active"], true);
    assert_eq!(v["clean"], false);
    let v = env.json(&["column", "list"]);
    let names: Vec<_> = v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(names, ["images", "x"]);
    let v = env.json(&["diff", "--staged"]);
    assert!(v.to_string().contains("images"), "{v}");
    let (_, data) = crate::npy_data(&fixture("rows_u8.npy"));
    let out = env.ok(&["cat", "images", "3", "--staged"]);
    let want: Vec<String> = data[48..64].iter().map(|b| b.to_string()).collect();
    assert!(out.contains(&format!("[{}]", want.join(", "))), "{out}");
    assert!(env
        .ok(&["metadata", "get", "note", "--staged"])
        .contains("staged while unlocked"));
    let e = env.err(&["column", "create", "y", "uint8", "2"]);
    assert!(e.contains("writer lock"), "{e}");
    std::fs::write(fifo_dir.join("go"), b"").unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(env.json(&["writer-lock"])["held"], false);
}

#[test]
fn verify_passes_and_finds_damage_with_exit_1() {
    let env = Env::new();
    env.init();
    env.ok(&["column", "create", "images", "uint8", "4", "4"]);
    env.ok(&["import", "images", &fixture("rows_u8.npy")]);
    env.ok(&["commit", "-m", "c"]);
    let out = env.ok(&["verify"]);
    assert!(out.contains("No problems found"), "{out}");
    assert!(out.starts_with("Checked 1 branch, 1 commit, "), "{out}");
    let v = env.json(&["verify"]);
    assert_eq!(v["ok"], true);
    assert_eq!(v["values"], 10);
    // Flip one byte inside a stored value: 16-byte values are kept inline, in the
    // record table's leaf, in a pack.
    let (_, data) = crate::npy_data(&fixture("rows_u8.npy"));
    let first = &data[..16];
    let (seg, at) = walk(&env.file(".hangar/packs"))
        .into_iter()
        .find_map(|p| {
            let b = std::fs::read(&p).ok()?;
            b.windows(16).position(|w| w == first).map(|at| (p, at))
        })
        .expect("the first sample's bytes are in a pack");
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[at] ^= 0xff;
    std::fs::write(&seg, &bytes).unwrap();
    let (out, e) = env.code(1, &["verify"]);
    assert!(out.contains("damaged:"), "{out}");
    assert!(e.contains("problems"), "{e}");
    let (out, _) = env.code(1, &["verify", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], false);
    assert!(!v["problems"].as_array().unwrap().is_empty());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn usage_errors_exit_2_and_help_has_examples() {
    let env = Env::new();
    let (_, e) = env.code(2, &["frobnicate"]);
    assert!(e.contains("unrecognized subcommand"), "{e}");
    let (_, e) = env.code(2, &["log", "--bogus"]);
    assert!(e.contains("--bogus"), "{e}");
    for cmd in [
        "init",
        "status",
        "commit",
        "reset",
        "log",
        "summary",
        "show",
        "checkout",
        "diff",
        "merge",
        "import",
        "export",
        "cat",
        "verify",
        "writer-lock",
        "quickstart",
        "completions",
    ] {
        let out = env.ok(&[cmd, "--help"]);
        assert!(out.contains("Example"), "{cmd} --help has examples:\n{out}");
    }
    for sub in [
        ["column", "create"],
        ["column", "list"],
        ["column", "remove"],
        ["branch", "create"],
        ["branch", "delete"],
        ["branch", "list"],
    ] {
        let out = env.ok(&[sub[0], sub[1], "--help"]);
        assert!(
            out.contains("Example"),
            "{sub:?} --help has examples:\n{out}"
        );
    }
    let out = env.ok(&["--help"]);
    assert!(out.contains("Exit status"), "{out}");
    assert!(env.ok(&["--version"]).starts_with("hangar "));
    // No arguments: help, as a usage error.
    let (_, e) = env.code(2, &[]);
    assert!(e.contains("Usage"), "{e}");
}

#[test]
fn completions_for_each_shell() {
    let env = Env::new();
    for (shell, marker) in [
        (
            "bash",
            "complete -o nospace -o bashdefault -o nosort -F _clap_complete_hangar hangar",
        ),
        ("zsh", "#compdef hangar"),
        ("fish", "complete --keep-order --exclusive --command hangar"),
        ("elvish", "set edit:completion:arg-completer[hangar]"),
        (
            "powershell",
            "Register-ArgumentCompleter -Native -CommandName hangar",
        ),
    ] {
        let out = env.ok(&["completions", shell]);
        assert!(out.contains(marker), "{shell}: {out}");
        // Every script asks `hangar` itself for the words, so they follow the repository.
        assert!(out.contains("COMPLETE"), "{shell}: {out}");
    }
    env.code(2, &["completions", "tcsh"]);
}

/// What `hangar` offers for the last word of `words` (fish's protocol: one candidate a
/// line, its help after a tab), run in `env`'s directory.
fn complete(env: &Env, words: &[&str]) -> Vec<String> {
    let mut cmd = env.cmd();
    cmd.env("COMPLETE", "fish")
        .arg("--")
        .arg("hangar")
        .args(words);
    let out = env.run_ok(&mut cmd);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect()
}

#[test]
fn completion_offers_the_repositorys_branches_and_columns() {
    let env = Env::new();
    // Outside a repository: subcommands still complete, names give nothing.
    assert!(complete(&env, &["qu"]).contains(&"quickstart".to_string()));
    assert!(complete(&env, &["checkout", ""])
        .iter()
        .all(|c| c.starts_with('-')));
    env.init();
    env.ok(&["column", "create", "images", "uint8", "4", "4"]);
    env.ok(&["column", "create", "labels", "int64"]);
    env.ok(&["import", "images", &fixture("rows_u8.npy")]);
    env.ok(&["commit", "-m", "c"]);
    env.ok(&["branch", "create", "dev"]);
    env.ok(&["branch", "create", "data-fix"]);
    assert_eq!(complete(&env, &["checkout", "d"]), ["data-fix", "dev"]);
    assert_eq!(complete(&env, &["merge", "de"]), ["dev"]);
    assert_eq!(complete(&env, &["branch", "delete", "ma"]), ["master"]);
    assert!(complete(&env, &["log", "H"]).contains(&"HEAD".to_string()));
    assert_eq!(complete(&env, &["diff", "master", "da"]), ["data-fix"]);
    assert_eq!(complete(&env, &["cat", "im"]), ["images"]);
    assert_eq!(complete(&env, &["export", "l"]), ["labels"]);
    assert_eq!(complete(&env, &["rm", "la"]), ["labels"]);
    assert_eq!(complete(&env, &["cat", "images", "0", "de"]), ["dev"]);
    // A staged column is offered too (completion reads the staging area, without the
    // writer lock).
    env.ok(&["column", "create", "masks", "uint8", "2"]);
    assert_eq!(complete(&env, &["column", "remove", "m"]), ["masks"]);
}

#[test]
fn colours_only_when_asked_or_on_a_terminal() {
    let env = Env::new();
    env.init();
    let plain = env.ok(&["branch", "list"]);
    assert!(!plain.contains('\u{1b}'), "{plain:?}");
    let coloured = env.ok(&["--color", "always", "branch", "list"]);
    assert!(coloured.contains("\u{1b}["), "{coloured:?}");
    let out = env
        .cmd()
        .env("NO_COLOR", "1")
        .args(["branch", "list"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains('\u{1b}'));
    let never = env.ok(&["--color", "never", "branch", "list"]);
    assert!(!never.contains('\u{1b}'));
    // JSON never has colour.
    let j = env.ok(&["--color", "always", "branch", "list", "--json"]);
    assert!(!j.contains('\u{1b}'));
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let env = Env::new();
    env.init();
    env.ok(&["column", "create", "images", "uint8", "4", "4"]);
    env.ok(&["import", "images", &fixture("rows_u8.npy")]);
    for i in 0..3 {
        env.ok(&[
            "import",
            "images",
            &fixture("rows_u8.npy"),
            "--start",
            &format!("{}", 10 * (i + 1)),
        ]);
    }
    env.ok(&["commit", "-m", "c"]);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("hangar"))
        .current_dir(env.path())
        .args(["cat", "images", "0", "--limit", "100000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(err.is_empty(), "{err}");
}

/// Issue 12 item 11: -C is git's -C (relative paths are DIR's); HANGAR_REPO only names
/// the repository; a missing directory says so.
#[test]
fn dash_c_changes_directory_like_git() {
    let env = Env::new();
    std::fs::create_dir(env.file("repo")).unwrap();
    env.ok(&["-C", "repo", "init"]);
    assert!(env.file("repo/.hangar").is_dir());
    std::fs::copy(fixture("rows_u8.npy"), env.file("repo/rows.npy")).unwrap();
    env.ok(&[
        "-C", "repo", "import", "images", "rows.npy", "--create", "-m", "rows",
    ]);
    env.ok(&["-C", "repo", "export", "images", "-o", "out.npy"]);
    assert!(env.file("repo/out.npy").is_file());
    assert!(!env.file("out.npy").exists());
    // HANGAR_REPO selects the repository; paths stay the caller's.
    env.run_ok(
        env.cmd()
            .env("HANGAR_REPO", env.file("repo"))
            .args(["export", "images", "-o", "here.npy"]),
    );
    assert!(env.file("here.npy").is_file() && !env.file("repo/here.npy").exists());
    let (_, e) = env.code(2, &["-C", "/nonexistent/dir", "status"]);
    assert!(
        e.contains("/nonexistent/dir") && e.contains("does not exist"),
        "{e}"
    );
    // A file given relative to where the user stands, not to DIR: the error says where
    // it was looked for.
    std::fs::copy(fixture("rows_u8.npy"), env.file("mine.npy")).unwrap();
    let e = env.err(&["-C", "repo", "import", "images", "mine.npy"]);
    let repo = env.file("repo").canonicalize().unwrap();
    assert!(
        e.contains(&format!("relative paths are taken from {}", repo.display())),
        "{e}"
    );
    // Without -C, no such note.
    let e = env.run_err(env.cmd().env("HANGAR_REPO", env.file("repo")).args([
        "import",
        "images",
        "nowhere.npy",
    ]));
    assert!(
        e.contains("nowhere.npy") && !e.contains("-C directory"),
        "{e}"
    );
}

/// Issue 12 item 14: a subcommand's --help gives the global --color one entry.
#[test]
fn subcommand_help_is_not_padded_with_global_colour_text() {
    let env = Env::new();
    let help = env.ok(&["status", "--help"]);
    assert_eq!(help.matches("--color").count(), 1, "{help}");
    assert!(!help.contains("Possible values"), "{help}");
    assert!(help.contains("never"), "{help}");
}

/// Issue 12 item 13: init falls back to git's user.name / user.email.
#[test]
fn init_takes_the_identity_from_git_when_nothing_else_gives_it() {
    let env = Env::new();
    std::fs::write(
        env.file(".gitconfig"),
        "[user]\n\tname = Grace Hopper\n\temail = grace@example.com\n",
    )
    .unwrap();
    env.run_ok(
        env.cmd()
            .env_remove("HANGAR_USER_NAME")
            .env_remove("HANGAR_USER_EMAIL")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(["init"]),
    );
    let config = std::fs::read_to_string(env.file(".hangar/config.json")).unwrap();
    assert!(
        config.contains("Grace Hopper") && config.contains("grace@example.com"),
        "{config}"
    );
}
