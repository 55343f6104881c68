use hangar_store::Digest;

use super::conn::Conn;
use super::push::publish_ref;
use super::state;
use super::wire::{RefEntry, RefMode};
use super::RemoteSpec;
use crate::error::ErrorKind;

fn conn_at(dir: &std::path::Path) -> Conn {
    Conn::open(&RemoteSpec::new("r", &format!("file://{}", dir.display()))).unwrap()
}

#[test]
fn of_two_pushes_that_read_the_same_refs_one_lands_and_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let conn = conn_at(dir.path());
    // The local file system honours create-only writes.
    assert_eq!(state::ensure_marker(&conn).unwrap(), RefMode::Cas);
    let (a, b) = (Digest([1; 32]), Digest([2; 32]));
    publish_ref(&conn, RefMode::Cas, "r", "master", 3, &a).unwrap();
    let e = publish_ref(&conn, RefMode::Cas, "r", "master", 3, &b).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    let entries = state::list_entries(&conn).unwrap();
    assert_eq!(
        entries["master"],
        vec![RefEntry {
            seq: 3,
            commit: None
        }]
    );
    let body = conn.get("refs/master/0000000000000003").unwrap().unwrap();
    assert_eq!(
        super::wire::decode_ref_body(&body),
        Some(a),
        "the first stays"
    );
}

#[test]
fn without_create_only_writes_racing_pushes_both_stay() {
    let dir = tempfile::tempdir().unwrap();
    let conn = conn_at(dir.path());
    let (a, b) = (Digest([1; 32]), Digest([2; 32]));
    publish_ref(&conn, RefMode::PerCommit, "r", "master", 3, &a).unwrap();
    publish_ref(&conn, RefMode::PerCommit, "r", "master", 3, &b).unwrap();
    let entries = state::list_entries(&conn).unwrap();
    let commits: Vec<_> = entries["master"].iter().map(|e| e.commit).collect();
    assert_eq!(commits.len(), 2);
    assert!(commits.contains(&Some(a)) && commits.contains(&Some(b)));
}

#[test]
fn a_marker_of_another_layout_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(super::wire::MARKER),
        "{\"format\": \"libhangar-remote\", \"version\": 9, \"refs\": \"cas\"}",
    )
    .unwrap();
    let e = state::ensure_marker(&conn_at(dir.path())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote);
    assert!(e.to_string().contains("version 9"), "{e}");
}
