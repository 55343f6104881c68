use hangar_core::{ErrorKind, TensorRef};

use crate::{kind, repo_with_commit};

#[test]
fn every_use_of_a_closed_writer_is_a_clear_error() {
    let (_dir, repo, _) = repo_with_commit();
    let co = repo.checkout_writer().unwrap();
    let imgs = co.column("imgs").unwrap();
    let meta = co.metadata();
    co.close().unwrap();
    assert!(co.is_closed());
    let e = imgs.get("a").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Closed);
    assert!(e.to_string().contains("closed"), "{e}");
    assert_eq!(
        kind(imgs.set("z", TensorRef::new(&[0u8; 6], &[2, 3]))),
        ErrorKind::Closed
    );
    assert_eq!(kind(imgs.len()), ErrorKind::Closed);
    assert_eq!(kind(imgs.keys().map(|_| ())), ErrorKind::Closed);
    assert_eq!(kind(meta.get("x")), ErrorKind::Closed);
    assert_eq!(kind(co.column("imgs")), ErrorKind::Closed);
    assert_eq!(kind(co.add_str_column("s")), ErrorKind::Closed);
    assert_eq!(kind(co.commit("x")), ErrorKind::Closed);
    assert_eq!(kind(co.status()), ErrorKind::Closed);
    assert_eq!(kind(co.reset_staging_area()), ErrorKind::Closed);
    assert_eq!(kind(co.close()), ErrorKind::Closed);
    assert!(!repo.writer_lock_held().unwrap());
}

#[test]
fn dropping_the_writer_closes_its_columns() {
    let (_dir, repo, _) = repo_with_commit();
    let co = repo.checkout_writer().unwrap();
    let imgs = co.column("imgs").unwrap();
    drop(co);
    assert_eq!(kind(imgs.get("a")), ErrorKind::Closed);
    repo.checkout_writer().unwrap();
}

#[test]
fn every_use_of_a_closed_reader_is_a_clear_error() {
    let (_dir, repo, _) = repo_with_commit();
    let r = repo.checkout().unwrap();
    let col = r.column("imgs").unwrap();
    r.close().unwrap();
    assert_eq!(kind(col.get("a")), ErrorKind::Closed);
    assert_eq!(kind(col.len()), ErrorKind::Closed);
    assert_eq!(kind(r.column("imgs")), ErrorKind::Closed);
    assert_eq!(kind(r.metadata().len()), ErrorKind::Closed);
    assert_eq!(kind(r.close()), ErrorKind::Closed);
    repo.checkout()
        .unwrap()
        .column("imgs")
        .unwrap()
        .get("a")
        .unwrap();
}
