use hangar_core::{ErrorKind, Repository};

use crate::{err_text, kind, new_repo, repo_with_commit, u8s};

#[test]
fn init_creates_a_repository_with_an_unborn_master() {
    let (dir, repo) = new_repo();
    assert!(dir.path().join(".hangar/format").is_file());
    assert_eq!(
        repo.branches().unwrap(),
        vec![hangar_core::Branch {
            name: "master".to_string(),
            head: None
        }]
    );
    assert!(!repo.writer_lock_held().unwrap());
    let user = repo.user().unwrap();
    assert_eq!(
        (user.name.as_str(), user.email.as_str()),
        ("Tester", "tester@example.com")
    );
    let reopened = Repository::open(dir.path()).unwrap();
    assert_eq!(reopened.path(), repo.path());
    assert!(reopened.log(None).unwrap().entries.is_empty());
}

#[test]
fn init_over_an_existing_repository_is_already_exists_and_keeps_it() {
    let (dir, _repo, id) = repo_with_commit();
    let e = Repository::init(dir.path(), "X", "x@y", false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
    assert!(e.to_string().contains("remove_old"), "{e}");
    let repo = Repository::open(dir.path()).unwrap();
    assert_eq!(repo.branch_head("master").unwrap(), Some(id));
    assert_eq!(
        u8s(&repo
            .checkout()
            .unwrap()
            .column("imgs")
            .unwrap()
            .get("a")
            .unwrap()),
        [1, 2, 3, 4, 5, 6]
    );
}

#[test]
fn init_with_remove_old_starts_over_unless_a_writer_is_open() {
    let (dir, repo, _) = repo_with_commit();
    let co = repo.checkout_writer().unwrap();
    assert_eq!(
        kind(Repository::init(dir.path(), "X", "x@y", true)),
        ErrorKind::Locked
    );
    co.close().unwrap();
    let fresh = Repository::init(dir.path(), "X", "x@y", true).unwrap();
    assert_eq!(fresh.branch_head("master").unwrap(), None);
    assert_eq!(fresh.user().unwrap().name, "X");
}

#[test]
fn open_without_a_repository_is_not_found_and_says_to_run_init() {
    let dir = tempfile::tempdir().unwrap();
    let e = Repository::open(dir.path()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("init"), "{e}");
    assert!(!dir.path().join(".hangar").exists());
}

#[test]
fn init_rejects_a_missing_identity() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        kind(Repository::init(dir.path(), "", "a@b", false)),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(Repository::init(dir.path(), "A", "  ", false)),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(Repository::init(dir.path(), "A\nB", "a@b", false)),
        ErrorKind::InvalidArgument
    );
    assert!(!dir.path().join(".hangar").exists());
}

#[test]
fn a_newer_format_or_unknown_feature_is_refused() {
    let (dir, _repo) = new_repo();
    let format = dir.path().join(".hangar/format");
    let original = std::fs::read_to_string(&format).unwrap();
    // Opening with `from` replaced by `to` in the format file is refused as Unsupported;
    // returns the message.
    let refused = |from: &str, to: &str| {
        std::fs::write(&format, original.replace(from, to)).unwrap();
        let e = Repository::open(dir.path()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        e.to_string()
    };
    let msg = refused("\"version\": 2", "\"version\": 99");
    assert!(msg.contains("upgrade"), "{msg}");
    // Version 1 (a development build's, before small values were kept inline) reads
    // differently: refused with its version named and what to do, never misread.
    let msg = refused("\"version\": 2", "\"version\": 1");
    assert!(
        msg.contains("format version 1")
            && msg.contains("reads version 2")
            && msg.contains("hangar export"),
        "{msg}"
    );
    let msg = refused(
        "\"staging-journal\"",
        "\"staging-journal\", \"time-travel\"",
    );
    assert!(msg.contains("time-travel"), "{msg}");
    std::fs::write(&format, original).unwrap();
    Repository::open(dir.path()).unwrap();
}

#[test]
fn reading_before_the_first_commit_is_not_found() {
    let (_dir, repo) = new_repo();
    let e = err_text(repo.checkout());
    assert!(e.contains("no commits yet"), "{e}");
    // The summary answers, as the original did.
    let s = repo.summary(None).unwrap();
    assert!(s.commit.is_none() && s.columns.is_empty() && s.metadata_keys == 0);
    assert!(
        s.to_string()
            .contains("No commits have been made in the repository"),
        "{s}"
    );
    assert_eq!(kind(repo.summary(Some("master"))), ErrorKind::NotFound);
    assert_eq!(kind(repo.checkout_branch("dev")), ErrorKind::NotFound);
    assert_eq!(kind(repo.checkout_commit("abcd")), ErrorKind::NotFound);
    assert_eq!(
        kind(repo.checkout_commit("xyz")),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn disk_usage_counts_the_repository_files() {
    let (_dir, repo, _) = repo_with_commit();
    let n = repo.disk_usage().unwrap();
    assert!(n > 1000, "{n}");
    let s = repo.summary(None).unwrap();
    assert_eq!(s.disk_usage, n);
}
