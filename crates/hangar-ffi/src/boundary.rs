//! The one place where C calls enter Rust: the last-error slot, the panic guard, the
//! registry of live handles, and the checked conversion of C arguments.

use std::any::Any;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{LazyLock, RwLock};

use hangar_core::{DType, ErrorKind, MergeConflicts, SampleKey};

use crate::status::*;
use crate::types::hangar_key;

/// An error on its way to the C caller: a status and the message behind it.
#[derive(Debug)]
pub(crate) struct FfiError {
    pub status: hangar_status,
    pub message: String,
    /// The report of a merge refused for conflicts, kept for `hangar_last_error_conflicts`.
    pub conflicts: Option<Box<MergeConflicts>>,
}

impl FfiError {
    pub fn new(status: hangar_status, message: impl Into<String>) -> FfiError {
        FfiError {
            status,
            message: message.into(),
            conflicts: None,
        }
    }
}

pub(crate) type FfiResult<T> = Result<T, FfiError>;

pub(crate) fn invalid(message: impl Into<String>) -> FfiError {
    FfiError::new(HANGAR_E_INVALID_ARGUMENT, message)
}

impl From<hangar_core::Error> for FfiError {
    fn from(e: hangar_core::Error) -> FfiError {
        let message = e.to_string();
        if let hangar_core::Error::MergeConflict(report) = e {
            return FfiError {
                status: HANGAR_E_MERGE_CONFLICT,
                message,
                conflicts: Some(report),
            };
        }
        let status = match e.kind() {
            ErrorKind::NotFound => HANGAR_E_NOT_FOUND,
            ErrorKind::AlreadyExists => HANGAR_E_ALREADY_EXISTS,
            ErrorKind::InvalidArgument => HANGAR_E_INVALID_ARGUMENT,
            ErrorKind::Locked => HANGAR_E_LOCKED,
            ErrorKind::Conflict => HANGAR_E_CONFLICT,
            ErrorKind::Corrupt => HANGAR_E_CORRUPT,
            ErrorKind::Unsupported => HANGAR_E_UNSUPPORTED,
            ErrorKind::Io => HANGAR_E_IO,
            ErrorKind::Closed => HANGAR_E_CLOSED,
            ErrorKind::NothingToCommit => HANGAR_E_NOTHING_TO_COMMIT,
            ErrorKind::DirtyStaging => HANGAR_E_DIRTY_STAGING,
            ErrorKind::Internal => HANGAR_E_PANIC,
            ErrorKind::NotFetched => HANGAR_E_NOT_FETCHED,
            ErrorKind::Remote => HANGAR_E_REMOTE,
            #[allow(unreachable_patterns)]
            _ => HANGAR_E_INVALID_ARGUMENT,
        };
        FfiError::new(status, message)
    }
}

thread_local! {
    static LAST_ERROR: RefCell<Option<FfiError>> = const { RefCell::new(None) };
}

/// Runs `body` for an entry point: clears this thread's last error, catches panics, and
/// records the error of a failing call.
pub(crate) fn guard(body: impl FnOnce() -> FfiResult<()>) -> hangar_status {
    LAST_ERROR.with(|l| *l.borrow_mut() = None);
    let err = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return HANGAR_OK,
        Ok(Err(e)) => e,
        Err(payload) => FfiError::new(
            HANGAR_E_PANIC,
            format!(
                "internal error (a bug in libhangar, please report it): {}",
                panic_message(&*payload)
            ),
        ),
    };
    let status = err.status;
    LAST_ERROR.with(|l| *l.borrow_mut() = Some(err));
    status
}

/// [`guard`] for an entry point with one output `out`: a NULL `out` fails before any work,
/// and the value `body` makes is written only when it succeeds.
pub(crate) fn guard_out<T>(out: *mut T, body: impl FnOnce() -> FfiResult<T>) -> hangar_status {
    guard(|| {
        check_out(out, "out")?;
        let value = body()?;
        write_out(out, value);
        Ok(())
    })
}

/// Like [`guard`] for functions that return no status (the `_free` functions): a panic is
/// swallowed and recorded, never unwound into C.
pub(crate) fn guard_void(body: impl FnOnce()) {
    // A function with no status (the `_free` functions) leaves the last error as it was:
    // bindings call them from destructors and garbage collectors, which run at any
    // moment — also between a failed call and the caller's reading of its message.
    let before = LAST_ERROR.with(|l| l.borrow_mut().take());
    let status = guard(|| {
        body();
        Ok(())
    });
    if status == HANGAR_OK {
        LAST_ERROR.with(|l| *l.borrow_mut() = before);
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-text payload".to_string()
    }
}

/// Reads this thread's last error without clearing it.
pub(crate) fn with_last_error<R>(f: impl FnOnce(Option<&FfiError>) -> R) -> R {
    LAST_ERROR.with(|l| f(l.borrow().as_ref()))
}

/// The kinds of handle, for telling a wrong or freed handle from a live one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Repo,
    Reader,
    Writer,
    Column,
    KeyIter,
    Buf,
    StrList,
    Diff,
    Conflicts,
    NdArraySpec,
    Log,
}

impl Kind {
    fn c_name(self) -> &'static str {
        match self {
            Kind::Repo => "hangar_repo",
            Kind::Reader => "hangar_reader",
            Kind::Writer => "hangar_writer",
            Kind::Column => "hangar_column",
            Kind::KeyIter => "hangar_key_iter",
            Kind::Buf => "hangar_buf",
            Kind::StrList => "hangar_strlist",
            Kind::Diff => "hangar_diff",
            Kind::Conflicts => "hangar_conflicts",
            Kind::NdArraySpec => "hangar_ndarray_spec",
            Kind::Log => "hangar_log",
        }
    }
}

/// A type handed to C as an opaque handle.
pub(crate) trait Handle: Sized + 'static {
    const KIND: Kind;
}

/// Every live handle by address. A lookup costs a shared lock and a tree search per call,
/// and buys detection of freed handles and handles of the wrong kind instead of a crash.
/// A B-tree, not a hash map: its nodes are reached from pointers to their start, so at
/// exit valgrind counts the registry as reachable (a hash table is reached through a
/// pointer into the middle of its allocation, which valgrind reports as possibly lost).
static LIVE: LazyLock<RwLock<BTreeMap<usize, Kind>>> = LazyLock::new(|| {
    hold_locks_across_fork();
    Default::default()
});

type Registry = BTreeMap<usize, Kind>;

thread_local! {
    /// The registry's write lock, held by the thread calling `fork` from just before the
    /// fork until just after it, in the parent and in the child.
    static HELD_FOR_FORK: RefCell<Option<std::sync::RwLockWriteGuard<'static, Registry>>> =
        const { RefCell::new(None) };
}

/// Makes `fork` wait for the registry to be free, and the child start with it free: a
/// child forked while another thread of the parent held the registry's lock (inside any
/// C call, for a moment) would otherwise wait forever on its first C call, as no thread
/// of the child will ever release it. Python forks often: PyTorch's `DataLoader`
/// workers, `multiprocessing`, and the package's bulk importer, while its bulk session
/// stores buffers from a background thread. The engine's thread pool is made anew in a
/// child (`hangar_store::par`); the lock on its record is held across the fork too.
fn hold_locks_across_fork() {
    extern "C" fn before() {
        let guard = LIVE.write().unwrap_or_else(|p| p.into_inner());
        // The engine's one other process-wide lock: its thread pool's record.
        hangar_core::hold_for_fork();
        // A thread that is exiting has no thread-locals left: the fork then goes ahead
        // without the lock, as it did before these handlers.
        let _ = HELD_FOR_FORK.try_with(|h| {
            if let Ok(mut h) = h.try_borrow_mut() {
                *h = Some(guard);
            }
        });
    }
    extern "C" fn after() {
        // Unlocking is an atomic store: allowed in the child, whose only thread this is.
        hangar_core::release_after_fork();
        let _ = HELD_FOR_FORK.try_with(|h| h.try_borrow_mut().map(|mut h| h.take()));
    }
    // SAFETY: the handlers are plain functions of this library, registered under its
    // `__dso_handle` (glibc's `pthread_atfork` is linked into the library from
    // libc_nonshared.a), so a `dlclose` of the library unregisters them; they neither
    // panic nor unwind (`try_with`, `try_borrow_mut`, and a lock that recovers from
    // poisoning).
    let failed = unsafe { libc::pthread_atfork(Some(before), Some(after), Some(after)) };
    // With no memory for the handlers, forks stay as they were: only the rare fork
    // during another thread's C call is exposed.
    let _ = failed;
}

fn live_kind(addr: usize) -> Option<Kind> {
    let map = LIVE.read().unwrap_or_else(|p| p.into_inner());
    map.get(&addr).copied()
}

/// Hands `value` to C as a new handle.
pub(crate) fn into_handle<T: Handle>(value: T) -> *mut T {
    let ptr = Box::into_raw(Box::new(value));
    LIVE.write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(ptr as usize, T::KIND);
    ptr
}

/// The handle behind `ptr`, checked: NULL, freed, and wrong-kind handles are errors.
///
/// The reference lives as long as the caller keeps the handle; the header's ownership
/// rules make the caller responsible for not freeing it concurrently.
pub(crate) fn handle<'a, T: Handle>(ptr: *const T, arg: &str) -> FfiResult<&'a T> {
    if ptr.is_null() {
        return Err(null_arg(arg));
    }
    match live_kind(ptr as usize) {
        Some(k) if k == T::KIND => {
            // SAFETY: the registry holds exactly the addresses of boxes we made for this
            // kind and have not freed.
            Ok(unsafe { &*ptr })
        }
        Some(k) => Err(FfiError::new(
            HANGAR_E_WRONG_HANDLE,
            format!(
                "{arg} is a {} handle where a {} is required",
                k.c_name(),
                T::KIND.c_name()
            ),
        )),
        None => Err(FfiError::new(
            HANGAR_E_WRONG_HANDLE,
            format!(
                "{arg} is not a live {} handle (already freed, or not a handle at all)",
                T::KIND.c_name()
            ),
        )),
    }
}

/// Frees a handle made by [`into_handle`]. NULL, already-freed and wrong-kind pointers are
/// ignored (the latter two are recorded as the thread's last error).
pub(crate) fn free_handle<T: Handle>(ptr: *mut T) {
    if ptr.is_null() {
        return;
    }
    let removed = {
        let mut map = LIVE.write().unwrap_or_else(|p| p.into_inner());
        match map.get(&(ptr as usize)) {
            Some(k) if *k == T::KIND => map.remove(&(ptr as usize)).is_some(),
            _ => false,
        }
    };
    if removed {
        // SAFETY: the pointer came from Box::into_raw in into_handle and was still live.
        drop(unsafe { Box::from_raw(ptr) });
    } else {
        LAST_ERROR.with(|l| {
            *l.borrow_mut() = Some(FfiError::new(
                HANGAR_E_WRONG_HANDLE,
                format!(
                    "free of a pointer that is not a live {} handle was ignored",
                    T::KIND.c_name()
                ),
            ))
        });
    }
}

pub(crate) fn null_arg(arg: &str) -> FfiError {
    FfiError::new(
        HANGAR_E_NULL_ARG,
        format!("{arg} is NULL; pass a valid pointer"),
    )
}

/// Writes an output only on success; a NULL output pointer is an error found before any
/// work is done (call [`check_out`] first).
pub(crate) fn write_out<T>(out: *mut T, value: T) {
    // SAFETY: checked non-NULL by check_out at the start of the call; the caller promises
    // it points to writable memory for a T.
    unsafe { out.write(value) }
}

pub(crate) fn check_out<T>(out: *mut T, arg: &str) -> FfiResult<()> {
    if out.is_null() {
        Err(null_arg(arg))
    } else {
        Ok(())
    }
}

/// A required NUL-terminated UTF-8 string argument.
pub(crate) fn text<'a>(ptr: *const c_char, arg: &str) -> FfiResult<&'a str> {
    if ptr.is_null() {
        return Err(null_arg(arg));
    }
    // SAFETY: the caller promises a NUL-terminated string that outlives the call.
    let c = unsafe { CStr::from_ptr(ptr) };
    c.to_str().map_err(|e| {
        FfiError::new(
            HANGAR_E_INVALID_UTF8,
            format!(
                "{arg} is not valid UTF-8 (invalid byte at offset {}); pass UTF-8 text",
                e.valid_up_to()
            ),
        )
    })
}

/// An optional string argument: NULL means "not given".
pub(crate) fn opt_text<'a>(ptr: *const c_char, arg: &str) -> FfiResult<Option<&'a str>> {
    if ptr.is_null() {
        Ok(None)
    } else {
        text(ptr, arg).map(Some)
    }
}

/// A byte range argument; `len == 0` accepts NULL.
pub(crate) fn bytes<'a>(ptr: *const u8, len: usize, arg: &str) -> FfiResult<&'a [u8]> {
    slice(ptr, len, arg)
}

/// An array argument of `n` elements; `n == 0` accepts NULL.
pub(crate) fn slice<'a, T>(ptr: *const T, n: usize, arg: &str) -> FfiResult<&'a [T]> {
    if n == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(null_arg(arg));
    }
    if n.checked_mul(std::mem::size_of::<T>())
        .is_none_or(|b| b > isize::MAX as usize)
    {
        return Err(invalid(format!("{arg}: {n} elements is impossible")));
    }
    // SAFETY: the caller promises `n` readable elements at `ptr` for the call's duration.
    Ok(unsafe { std::slice::from_raw_parts(ptr, n) })
}

/// A writable byte range argument.
pub(crate) fn bytes_mut<'a>(ptr: *mut u8, len: usize, arg: &str) -> FfiResult<&'a mut [u8]> {
    if len == 0 {
        return Ok(&mut []);
    }
    if ptr.is_null() {
        return Err(null_arg(arg));
    }
    if len > isize::MAX as usize {
        return Err(invalid(format!("{arg}: length {len} is impossible")));
    }
    // SAFETY: the caller promises `len` writable bytes at `ptr` for the call's duration.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

pub(crate) fn dtype(code: i32) -> FfiResult<DType> {
    u8::try_from(code)
        .ok()
        .and_then(DType::from_code)
        .ok_or_else(|| {
            invalid(format!(
                "unknown dtype code {code}; use one of the HANGAR_DTYPE_* constants (1 to 12)"
            ))
        })
}

/// A sample key from its C form: `text` when not NULL, else the integer `number`.
pub(crate) fn key(k: &hangar_key, arg: &str) -> FfiResult<SampleKey> {
    let key = match opt_text(k.text, arg)? {
        Some(s) => SampleKey::Str(s.to_string()),
        None => SampleKey::Int(k.number),
    };
    key.validate()?;
    Ok(key)
}

/// An optional subsample key (NULL pointer = none).
pub(crate) fn opt_key(k: *const hangar_key, arg: &str) -> FfiResult<Option<SampleKey>> {
    if k.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL, and the caller promises it points to a hangar_key.
    key(unsafe { &*k }, arg).map(Some)
}

/// A shape argument as `usize` dimensions.
pub(crate) fn shape(ptr: *const usize, ndim: usize, arg: &str) -> FfiResult<Vec<usize>> {
    let dims = slice(ptr, ndim, arg)?;
    let mut elements: usize = 1;
    for &d in dims {
        elements = elements.checked_mul(d).ok_or_else(|| {
            invalid(format!(
                "{arg}: the shape {dims:?} holds more elements than memory can address"
            ))
        })?;
    }
    Ok(dims.to_vec())
}

/// Copies `s` into a caller's buffer of `len` bytes as a NUL-terminated string, or fails
/// with `HANGAR_E_BUFFER_TOO_SMALL` naming the size needed.
pub(crate) fn copy_text_out(s: &str, buf: *mut c_char, len: usize, arg: &str) -> FfiResult<()> {
    let need = s.len() + 1;
    if len < need {
        return Err(FfiError::new(
            HANGAR_E_BUFFER_TOO_SMALL,
            format!("{arg} holds {len} bytes but {need} are needed (text and its NUL)"),
        ));
    }
    let out = bytes_mut(buf.cast(), len, arg)?;
    out[..s.len()].copy_from_slice(s.as_bytes());
    out[s.len()] = 0;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Not zero-sized: each handle needs an address of its own.
    struct Probe(#[allow(dead_code)] u64);
    impl Handle for Probe {
        const KIND: Kind = Kind::Buf;
    }

    /// Forks while two threads make, check and free handles without pause (so one of them
    /// nearly always holds the registry's lock) and a third enters the engine's thread
    /// pool: every child's own handle calls and parallel section finish. Without the fork
    /// handlers a child caught a lock held within a few forks and waited forever; a child
    /// not done within 20 s fails the test, not hangs it.
    #[test]
    fn a_child_forked_during_other_threads_calls_can_make_handles() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers: Vec<_> = (0..2)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let p = into_handle(Probe(7));
                        assert!(handle(p, "p").is_ok());
                        free_handle(p);
                    }
                })
            })
            .collect();
        // ...and one entering the engine's thread pool without pause (its record's lock).
        let pool_stop = Arc::clone(&stop);
        workers.push(std::thread::spawn(move || {
            while !pool_stop.load(Ordering::Relaxed) {
                hangar_core::run_parallel(|| ());
            }
        }));
        let mut stuck = 0;
        for _ in 0..200 {
            // SAFETY: the child only makes and frees a handle, then leaves with _exit
            // (no unwinding, no destructors, no other thread's state touched).
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                let p = into_handle(Probe(7));
                let ok = handle(p, "p").is_ok() && hangar_core::run_parallel(|| 6 * 7) == 42;
                free_handle(p);
                // SAFETY: ends the child at once.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) };
            }
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            let mut status = 0;
            loop {
                // SAFETY: waits for our own child without blocking.
                let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
                if r == pid {
                    assert!(
                        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                        "the child failed: status {status}"
                    );
                    break;
                }
                if std::time::Instant::now() > deadline {
                    // SAFETY: kills and reaps our own stuck child.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                        libc::waitpid(pid, &mut status, 0);
                    }
                    stuck += 1;
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            if stuck > 0 {
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(
            stuck, 0,
            "a forked child waited forever (on the handle registry or the thread pool's lock)"
        );
    }

    fn last() -> (hangar_status, String) {
        with_last_error(|e| {
            e.map_or((HANGAR_OK, String::new()), |e| {
                (e.status, e.message.clone())
            })
        })
    }

    #[test]
    fn a_panic_becomes_hangar_e_panic_with_its_message() {
        let st = guard(|| panic!("boom in the engine"));
        assert_eq!(st, HANGAR_E_PANIC);
        let (status, message) = last();
        assert_eq!(status, HANGAR_E_PANIC);
        assert!(message.contains("boom in the engine"), "{message}");
    }

    #[test]
    fn an_internal_error_of_the_engine_is_hangar_e_panic() {
        let st = guard(|| Err(hangar_core::Error::Internal("lock poisoned".into()).into()));
        assert_eq!(st, HANGAR_E_PANIC);
        assert!(last().1.contains("lock poisoned"));
    }

    #[test]
    fn each_call_clears_the_previous_error() {
        assert_eq!(guard(|| Err(invalid("first"))), HANGAR_E_INVALID_ARGUMENT);
        assert_eq!(last().1, "first");
        assert_eq!(guard(|| Ok(())), HANGAR_OK);
        assert_eq!(last(), (HANGAR_OK, String::new()));
    }

    #[test]
    fn freed_and_wrong_kind_handles_are_refused() {
        #[derive(Debug)]
        struct A;
        impl Handle for A {
            const KIND: Kind = Kind::Diff;
        }
        #[derive(Debug)]
        struct B;
        impl Handle for B {
            const KIND: Kind = Kind::Conflicts;
        }
        let a = into_handle(A);
        assert!(handle::<A>(a, "a").is_ok());
        let wrong = handle::<B>(a.cast::<B>(), "b").unwrap_err();
        assert_eq!(wrong.status, HANGAR_E_WRONG_HANDLE);
        assert!(wrong.message.contains("hangar_diff"), "{}", wrong.message);
        free_handle(a);
        assert_eq!(
            handle::<A>(a, "a").unwrap_err().status,
            HANGAR_E_WRONG_HANDLE
        );
        free_handle(a); // a second free is ignored
        assert_eq!(
            handle::<A>(std::ptr::null(), "a").unwrap_err().status,
            HANGAR_E_NULL_ARG
        );
    }

    #[test]
    fn text_arguments_are_checked() {
        assert_eq!(
            text(std::ptr::null(), "s").unwrap_err().status,
            HANGAR_E_NULL_ARG
        );
        let bad = c"a\xffb";
        assert_eq!(
            text(bad.as_ptr(), "s").unwrap_err().status,
            HANGAR_E_INVALID_UTF8
        );
        assert_eq!(text(c"ok".as_ptr(), "s").unwrap(), "ok");
        assert_eq!(dtype(0).unwrap_err().status, HANGAR_E_INVALID_ARGUMENT);
        assert_eq!(dtype(13).unwrap_err().status, HANGAR_E_INVALID_ARGUMENT);
        assert!(dtype(2).is_ok());
        let dims = [usize::MAX, 2];
        assert_eq!(
            shape(dims.as_ptr(), 2, "shape").unwrap_err().status,
            HANGAR_E_INVALID_ARGUMENT
        );
    }
}
