use hangar_core::ErrorKind;

use crate::{kind, new_repo};

#[test]
fn metadata_is_staged_committed_and_versioned() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let m = co.metadata();
    assert_eq!(m.len().unwrap(), 0);
    m.set("source", "fashion-mnist").unwrap();
    m.set("note", "héllo").unwrap();
    assert_eq!(kind(m.set("bad key", "x")), ErrorKind::InvalidArgument);
    assert_eq!(m.get("source").unwrap(), "fashion-mnist");
    assert_eq!(m.keys().unwrap(), ["note", "source"]);
    let first = co.commit("meta").unwrap();
    m.set("source", "mnist").unwrap();
    m.delete("note").unwrap();
    assert_eq!(kind(m.delete("note")), ErrorKind::NotFound);
    assert_eq!(kind(m.get("note")), ErrorKind::NotFound);
    assert_eq!(m.try_get("note").unwrap(), None);
    co.commit("meta 2").unwrap();
    co.close().unwrap();
    let old = repo.checkout_commit(&first.to_hex()).unwrap().metadata();
    assert_eq!(
        (
            old.get("source").unwrap().as_str(),
            old.get("note").unwrap().as_str()
        ),
        ("fashion-mnist", "héllo")
    );
    let new = repo.checkout().unwrap().metadata();
    assert_eq!(new.keys().unwrap(), ["source"]);
    assert_eq!(new.get("source").unwrap(), "mnist");
    assert_eq!(new.len().unwrap(), 1);
}
