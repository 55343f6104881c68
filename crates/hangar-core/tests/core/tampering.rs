//! Files changed by hand or replaced by symbolic links (issue 11 items 4 and 5): never
//! followed, never written through, always reported.

use std::path::Path;

use hangar_core::{DType, ErrorKind, NdArraySpec, Repository, TensorRef};

fn repo_with_two_branches() -> (tempfile::TempDir, Repository) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path(), "T", "t@x", false).unwrap();
    let co = repo.checkout_writer().unwrap();
    let c = co
        .add_ndarray_column("c", NdArraySpec::with_shape(DType::U8, &[4]))
        .unwrap();
    c.set("a", TensorRef::new(&[1u8; 4], &[4])).unwrap();
    co.commit("one").unwrap();
    co.close().unwrap();
    repo.create_branch("dev", None).unwrap();
    let co = repo.checkout_writer_branch("dev").unwrap();
    co.column("c")
        .unwrap()
        .set("b", TensorRef::new(&[2u8; 4], &[4]))
        .unwrap();
    co.commit("two").unwrap();
    co.close().unwrap();
    (dir, repo)
}

#[test]
fn swapped_refs_are_reported_by_verify() {
    let (dir, repo) = repo_with_two_branches();
    assert!(repo.verify().unwrap().is_ok());
    let heads = dir.path().join(".hangar/refs/heads");
    let (m, d) = (
        std::fs::read(heads.join("master")).unwrap(),
        std::fs::read(heads.join("dev")).unwrap(),
    );
    std::fs::write(heads.join("master"), &d).unwrap();
    std::fs::write(heads.join("dev"), &m).unwrap();
    let report = repo.verify().unwrap();
    assert!(!report.is_ok());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.detail.contains("\"master\"") && p.detail.contains("changed outside")),
        "{report}"
    );
    // Swapped back, all is well again.
    std::fs::write(heads.join("master"), &m).unwrap();
    std::fs::write(heads.join("dev"), &d).unwrap();
    assert!(repo.verify().unwrap().is_ok());
}

#[cfg(unix)]
fn link_to_outside(path: &Path, outside: &Path) {
    if path.is_dir() {
        std::fs::rename(path, path.with_extension("real")).unwrap();
    } else {
        std::fs::copy(path, outside).ok();
        let _ = std::fs::remove_file(path);
    }
    if !outside.exists() {
        std::fs::write(outside, b"outside, must not change").unwrap();
    }
    std::os::unix::fs::symlink(outside, path).unwrap();
}

#[cfg(unix)]
#[test]
fn symlinks_in_the_repository_are_refused_and_never_written_through() {
    for (rel, what) in [
        ("writer.lock", "writer"),
        ("staging/journal", "writer"),
        ("logs/refs/heads/dev", "commit"),
        ("refs/heads/master", "read"),
        ("segments", "open"),
        ("index", "open"),
    ] {
        let (dir, _) = repo_with_two_branches();
        let hangar = dir.path().join(".hangar");
        let outside_dir = tempfile::tempdir().unwrap();
        let outside = outside_dir.path().join("victim");
        std::fs::write(&outside, b"outside, must not change").unwrap();
        let path = hangar.join(rel);
        if path.is_dir() {
            let real = outside_dir.path().join("dir");
            std::fs::rename(&path, &real).unwrap();
            std::os::unix::fs::symlink(&real, &path).unwrap();
        } else {
            link_to_outside(&path, &outside);
        }
        let before = std::fs::read(&outside).unwrap();
        let result: hangar_core::Result<()> = (|| {
            let repo = Repository::open(dir.path())?;
            match what {
                "read" => {
                    repo.checkout_branch("master")?;
                }
                "commit" => {
                    let co = repo.checkout_writer()?;
                    co.column("c")?.set("z", TensorRef::new(&[9u8; 4], &[4]))?;
                    co.commit("through a link?")?;
                }
                _ => {
                    repo.checkout_writer()?;
                }
            }
            Ok(())
        })();
        let err = result.expect_err(rel);
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{rel}: {err}");
        assert!(err.to_string().contains("symbolic link"), "{rel}: {err}");
        assert_eq!(std::fs::read(&outside).unwrap(), before, "{rel}");
    }
}
