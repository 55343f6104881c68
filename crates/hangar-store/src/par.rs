//! The thread pool hangar's parallel work runs on: one per process, made on first use.
//!
//! A process forked from one that used a pool has none of its threads (fork copies only
//! the calling thread), yet inherits the pool's bookkeeping: work queued to it would
//! wait forever. That child is common — PyTorch's `DataLoader` forks its workers on
//! Linux, multiprocessing pools fork too — so a child gets a pool of its own: the pool is
//! remembered with the id of the process that made it, and a process with another id
//! makes a new one (the parent's is left alone: it cannot be shut down from here). Every
//! parallel section (`par_iter`, `rayon::join`, BLAKE3's `update_rayon`) runs inside
//! [`install`], never on rayon's global pool.

use std::sync::Mutex;

/// The pool and the process that made it. (The lock is held only to read or replace the
/// pair, never while a pool is built; the C library's fork handlers hold it across a
/// fork ([`hold_for_fork`]), so a child never finds it held by a thread it lacks.)
static CURRENT: Mutex<Current> = Mutex::new(None);

fn current() -> Current {
    *CURRENT.lock().unwrap_or_else(|e| e.into_inner())
}

type Current = Option<(u32, &'static rayon::ThreadPool)>;

thread_local! {
    /// The lock on [`CURRENT`], held by a thread calling `fork` across the fork.
    static HELD_FOR_FORK: std::cell::RefCell<Option<std::sync::MutexGuard<'static, Current>>> =
        const { std::cell::RefCell::new(None) };
}

/// For a handler run just before `fork` (the C library registers one): takes the lock
/// on the pool's record, so that no other thread holds it at the fork, where the child
/// would find it held forever and wait on its first parallel section. Release it with
/// [`release_after_fork`] in the parent and in the child, on the same thread. Never
/// panics.
pub fn hold_for_fork() {
    let guard = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
    // A thread that is exiting has no thread-locals left: the fork goes ahead unguarded.
    let _ = HELD_FOR_FORK.try_with(|h| {
        if let Ok(mut h) = h.try_borrow_mut() {
            *h = Some(guard);
        }
    });
}

/// Releases what [`hold_for_fork`] took (nothing if it took nothing). Never panics.
pub fn release_after_fork() {
    let _ = HELD_FOR_FORK.try_with(|h| h.try_borrow_mut().map(|mut h| h.take()));
}

/// This process's pool (made now if there is none, or only a parent's).
fn pool() -> Option<&'static rayon::ThreadPool> {
    let pid = std::process::id();
    if let Some((p, pool)) = current() {
        if p == pid {
            return Some(pool);
        }
    }
    let pool: &'static rayon::ThreadPool = Box::leak(Box::new(
        rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("hangar-par-{i}"))
            .build()
            .ok()?,
    ));
    let mut cur = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
    match *cur {
        // Another thread of this process made one meanwhile: use it (this one stays
        // idle; it happens at most once per thread racing at the start).
        Some((p, theirs)) if p == pid => Some(theirs),
        _ => {
            *cur = Some((pid, pool));
            Some(pool)
        }
    }
}

/// Runs `f` in this process's pool, so that the parallel sections in it use that pool.
/// (If no thread can be started at all, `f` runs on the calling thread.)
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    match pool() {
        Some(p) => p.install(f),
        None => f(),
    }
}

/// The number of threads in this process's pool (1 if it has none).
pub fn threads() -> usize {
    pool().map_or(1, |p| p.current_num_threads())
}

#[cfg(test)]
mod tests {
    #[test]
    fn parallel_work_runs_in_the_process_pool() {
        use rayon::prelude::*;
        let names: Vec<String> = super::install(|| {
            (0..64)
                .into_par_iter()
                .map(|_| std::thread::current().name().unwrap_or("").to_string())
                .collect()
        });
        assert!(
            names.iter().all(|n| n.starts_with("hangar-par-")),
            "{names:?}"
        );
        // The same pool each time.
        assert!(std::ptr::eq(super::pool().unwrap(), super::pool().unwrap()));
    }

    /// A child forked after the parent hashed in parallel hashes in parallel too (with
    /// rayon's global pool it waits forever: rayon-rs/rayon#708). The child reports
    /// through a pipe; the parent waits at most 60 s, so a regression fails, not hangs.
    #[test]
    #[allow(unsafe_code)]
    fn a_forked_child_gets_a_pool_of_its_own() {
        let data = vec![7u8; 4 << 20];
        let parent = crate::Digest::of_object(1, &data);
        let mut fds = [0i32; 2];
        // SAFETY: plain libc calls on valid pointers; the child only hashes, writes one
        // byte and exits without unwinding or running destructors.
        unsafe {
            assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
            let pid = libc::fork();
            assert!(pid >= 0);
            if pid == 0 {
                let ok = crate::Digest::of_object(1, &data) == parent;
                let b = [u8::from(ok)];
                libc::write(fds[1], b.as_ptr().cast(), 1);
                libc::_exit(0);
            }
            let mut p = libc::pollfd {
                fd: fds[0],
                events: libc::POLLIN,
                revents: 0,
            };
            let ready = libc::poll(&mut p, 1, 60_000);
            let mut b = [0u8];
            let got = if ready == 1 {
                libc::read(fds[0], b.as_mut_ptr().cast(), 1)
            } else {
                libc::kill(pid, libc::SIGKILL);
                0
            };
            let mut status = 0;
            libc::waitpid(pid, &mut status, 0);
            libc::close(fds[0]);
            libc::close(fds[1]);
            assert_eq!(
                got, 1,
                "the forked child did not finish hashing within 60 s"
            );
            assert_eq!(b[0], 1, "the forked child hashed to another digest");
        }
    }
}
