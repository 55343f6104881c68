//! Status codes. Values are part of the ABI: never renumber, only add.

/// The result of every fallible call: `HANGAR_OK` (0) or a negative `HANGAR_E_*` code.
/// Details of the last failure on this thread: `hangar_last_error_message`.
#[allow(non_camel_case_types)]
pub type hangar_status = i32;

/// Success.
pub const HANGAR_OK: hangar_status = 0;
/// A required pointer argument was NULL.
pub const HANGAR_E_NULL_ARG: hangar_status = -1;
/// An argument was out of range or inconsistent (shape vs buffer length, bad name, ...).
pub const HANGAR_E_INVALID_ARGUMENT: hangar_status = -2;
/// A string argument was not valid UTF-8.
pub const HANGAR_E_INVALID_UTF8: hangar_status = -3;
/// A repository, branch, commit, column, sample or metadata key does not exist.
pub const HANGAR_E_NOT_FOUND: hangar_status = -4;
/// The thing to create exists already.
pub const HANGAR_E_ALREADY_EXISTS: hangar_status = -5;
/// Another writer holds the repository's writer lock.
pub const HANGAR_E_LOCKED: hangar_status = -6;
/// A concurrent update got there first, or the operation conflicts with the state.
pub const HANGAR_E_CONFLICT: hangar_status = -7;
/// A merge was refused for conflicts; `hangar_last_error_conflicts` gives the report.
pub const HANGAR_E_MERGE_CONFLICT: hangar_status = -8;
/// Stored data failed a checksum or could not be decoded.
pub const HANGAR_E_CORRUPT: hangar_status = -9;
/// The repository needs a feature this library does not have.
pub const HANGAR_E_UNSUPPORTED: hangar_status = -10;
/// The operating system reported an I/O error.
pub const HANGAR_E_IO: hangar_status = -11;
/// The checkout was closed.
pub const HANGAR_E_CLOSED: hangar_status = -12;
/// Commit or reset with nothing staged.
pub const HANGAR_E_NOTHING_TO_COMMIT: hangar_status = -13;
/// The staging area has uncommitted changes that the operation would lose.
pub const HANGAR_E_DIRTY_STAGING: hangar_status = -14;
/// An output buffer is too small; the message says how many bytes are needed.
pub const HANGAR_E_BUFFER_TOO_SMALL: hangar_status = -15;
/// A handle argument was freed already, or is a handle of another kind.
pub const HANGAR_E_WRONG_HANDLE: hangar_status = -16;
/// The value is on a remote and not fetched into this repository yet (a clone or fetch
/// without data); `hangar fetch-data` brings it.
pub const HANGAR_E_NOT_FETCHED: hangar_status = -17;
/// A remote could not be reached or refused the request (bad URL, missing bucket, wrong
/// credentials, server errors after bounded retries); nothing was changed locally.
pub const HANGAR_E_REMOTE: hangar_status = -18;
/// An internal error (a bug in libhangar: a panic, a lock left poisoned by one, a broken
/// invariant); the message has the details. Close the handles and reopen the repository.
pub const HANGAR_E_PANIC: hangar_status = -99;

/// The `HANGAR_E_*` name of a status, e.g. "HANGAR_E_LOCKED"; "HANGAR_E_UNKNOWN" for codes
/// this library does not define. The string is static: never free it.
#[no_mangle]
pub extern "C" fn hangar_status_name(status: hangar_status) -> *const std::ffi::c_char {
    let s: &'static std::ffi::CStr = match status {
        HANGAR_OK => c"HANGAR_OK",
        HANGAR_E_NULL_ARG => c"HANGAR_E_NULL_ARG",
        HANGAR_E_INVALID_ARGUMENT => c"HANGAR_E_INVALID_ARGUMENT",
        HANGAR_E_INVALID_UTF8 => c"HANGAR_E_INVALID_UTF8",
        HANGAR_E_NOT_FOUND => c"HANGAR_E_NOT_FOUND",
        HANGAR_E_ALREADY_EXISTS => c"HANGAR_E_ALREADY_EXISTS",
        HANGAR_E_LOCKED => c"HANGAR_E_LOCKED",
        HANGAR_E_CONFLICT => c"HANGAR_E_CONFLICT",
        HANGAR_E_MERGE_CONFLICT => c"HANGAR_E_MERGE_CONFLICT",
        HANGAR_E_CORRUPT => c"HANGAR_E_CORRUPT",
        HANGAR_E_UNSUPPORTED => c"HANGAR_E_UNSUPPORTED",
        HANGAR_E_IO => c"HANGAR_E_IO",
        HANGAR_E_CLOSED => c"HANGAR_E_CLOSED",
        HANGAR_E_NOTHING_TO_COMMIT => c"HANGAR_E_NOTHING_TO_COMMIT",
        HANGAR_E_DIRTY_STAGING => c"HANGAR_E_DIRTY_STAGING",
        HANGAR_E_NOT_FETCHED => c"HANGAR_E_NOT_FETCHED",
        HANGAR_E_REMOTE => c"HANGAR_E_REMOTE",
        HANGAR_E_BUFFER_TOO_SMALL => c"HANGAR_E_BUFFER_TOO_SMALL",
        HANGAR_E_WRONG_HANDLE => c"HANGAR_E_WRONG_HANDLE",
        HANGAR_E_PANIC => c"HANGAR_E_PANIC",
        _ => c"HANGAR_E_UNKNOWN",
    };
    s.as_ptr()
}
