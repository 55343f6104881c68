use std::time::{Duration, Instant};

use hangar_core::ErrorKind;

use crate::{kill9, kind, new_repo, repo_with_commit, spawn_child};

#[test]
fn a_second_writer_in_the_same_process_is_locked() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let e = repo.checkout_writer().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Locked);
    let msg = e.to_string();
    assert!(
        msg.contains("Cannot acquire the writer lock") && msg.contains("only one writer checkout"),
        "{msg}"
    );
    assert!(msg.contains(&std::process::id().to_string()), "{msg}");
    // Its own: no advice to end the process.
    assert!(msg.contains("this program already has one open"), "{msg}");
    assert!(!msg.contains("end that process"), "{msg}");
    assert!(repo.writer_lock_held().unwrap());
    drop(co);
}

#[test]
fn readers_work_while_a_writer_is_open() {
    let (_dir, repo, id) = repo_with_commit();
    let co = repo.checkout_writer().unwrap();
    co.column("imgs").unwrap().delete("a").unwrap();
    let r = repo.checkout().unwrap();
    assert_eq!(r.commit_hash(), id);
    assert!(r.column("imgs").unwrap().contains("a").unwrap());
    co.close().unwrap();
}

#[test]
fn close_and_drop_release_the_lock() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    co.close().unwrap();
    assert!(!repo.writer_lock_held().unwrap());
    let co = repo.checkout_writer().unwrap();
    drop(co);
    assert!(!repo.writer_lock_held().unwrap());
    repo.checkout_writer().unwrap();
}

#[test]
fn force_release_refuses_while_the_holder_lives_and_clears_a_free_lock() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let e = repo.force_release_writer_lock().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Locked);
    assert!(
        e.to_string()
            .contains(&format!("process {}", std::process::id())),
        "{e}"
    );
    co.column_names().unwrap(); // the live writer is untouched
    co.close().unwrap();
    repo.force_release_writer_lock().unwrap();
    repo.checkout_writer().unwrap();
}

#[test]
fn a_writer_in_another_process_locks_until_it_is_killed() {
    let (dir, repo, _) = repo_with_commit();
    let (child, pid) = spawn_child("hold_writer", dir.path());
    let e = repo.checkout_writer().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Locked);
    assert!(e.to_string().contains(&format!("process {pid}")), "{e}");
    assert!(e.to_string().contains("end that process"), "{e}");
    let e = repo.force_release_writer_lock().unwrap_err();
    assert!(e.to_string().contains(&pid.to_string()), "{e}");
    // Readers are not blocked by the other process's writer.
    repo.checkout()
        .unwrap()
        .column("imgs")
        .unwrap()
        .get("a")
        .unwrap();
    kill9(child);
    // No manual step: the kernel released the lock with the process.
    let deadline = Instant::now() + Duration::from_secs(5);
    let co = loop {
        match repo.checkout_writer() {
            Ok(co) => break co,
            Err(e) if e.kind() == ErrorKind::Locked && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(co.column("imgs").unwrap().len().unwrap(), 3);
    assert_eq!(kind(repo.checkout_writer()), ErrorKind::Locked);
}
