//! Plain data types shared by C and Rust, the owned buffer and string-list handles, the
//! version and the last-error accessors.

use std::ffi::{c_char, CString};

use crate::boundary::{
    copy_text_out, free_handle, guard_void, handle, into_handle, null_arg, with_last_error,
    write_out, FfiError, Handle, Kind,
};
use crate::conflicts::hangar_conflicts;
use crate::status::*;

/// `bool`, one byte per element holding 0 or 1.
pub const HANGAR_DTYPE_BOOL: i32 = 1;
/// `uint8_t`
pub const HANGAR_DTYPE_U8: i32 = 2;
/// `uint16_t`
pub const HANGAR_DTYPE_U16: i32 = 3;
/// `uint32_t`
pub const HANGAR_DTYPE_U32: i32 = 4;
/// `uint64_t`
pub const HANGAR_DTYPE_U64: i32 = 5;
/// `int8_t`
pub const HANGAR_DTYPE_I8: i32 = 6;
/// `int16_t`
pub const HANGAR_DTYPE_I16: i32 = 7;
/// `int32_t`
pub const HANGAR_DTYPE_I32: i32 = 8;
/// `int64_t`
pub const HANGAR_DTYPE_I64: i32 = 9;
/// IEEE 754 half precision, 2 bytes.
pub const HANGAR_DTYPE_F16: i32 = 10;
/// `float`
pub const HANGAR_DTYPE_F32: i32 = 11;
/// `double`
pub const HANGAR_DTYPE_F64: i32 = 12;

/// A column of numeric arrays.
pub const HANGAR_KIND_NDARRAY: i32 = 1;
/// A column of UTF-8 strings.
pub const HANGAR_KIND_STR: i32 = 2;
/// A column of byte strings.
pub const HANGAR_KIND_BYTES: i32 = 3;

/// Library version, major part. Equal to `hangar_version()`'s first number.
pub const HANGAR_VERSION_MAJOR: u32 = 0;
/// Library version, minor part.
pub const HANGAR_VERSION_MINOR: u32 = 1;
/// Library version, patch part.
pub const HANGAR_VERSION_PATCH: u32 = 0;

/// Length of a commit id in hexadecimal digits; buffers for one need this plus one byte.
pub const HANGAR_COMMIT_ID_LEN: usize = 64;

/// A sample key: a string when `text` is not NULL (NUL-terminated UTF-8), otherwise the
/// non-negative integer `number`. The integer 5 and the string "5" are different keys.
///
/// Passed in, `text` is borrowed for the call. Handed out (key iterators), `text` points
/// into the iterator and lives until its next `_next` call or its `_free`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct hangar_key {
    /// The string key, or NULL for an integer key.
    pub text: *const c_char,
    /// The integer key (ignored when `text` is not NULL).
    pub number: u64,
}

/// A zero-copy view of one numeric sample, filled by `hangar_column_view`.
///
/// `data` and `shape` are borrowed from the reader checkout and stay valid until it is
/// closed or freed. `data` is aligned for `dtype` and holds `nbytes` bytes in C (row-major)
/// order.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct hangar_view {
    /// The elements.
    pub data: *const std::ffi::c_void,
    /// Bytes at `data`.
    pub nbytes: usize,
    /// A `HANGAR_DTYPE_*` code.
    pub dtype: i32,
    /// Number of dimensions.
    pub ndim: usize,
    /// `ndim` dimension sizes.
    pub shape: *const usize,
}

/// A value handed to libhangar (`hangar_column_update`, `hangar_column_append`): for a
/// numeric column, `kind` `HANGAR_KIND_NDARRAY`, a `HANGAR_DTYPE_*` code in `dtype` and
/// `ndim` sizes at `shape`, with `nbytes` bytes of elements in C order at `data`; for a str
/// column (`HANGAR_KIND_STR`, UTF-8 text, no NUL needed) or a bytes column
/// (`HANGAR_KIND_BYTES`), `nbytes` bytes at `data`, `dtype`, `shape` and `ndim` ignored.
/// Only read during the call: the data is copied.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct hangar_value {
    /// A `HANGAR_KIND_*` code: the column's kind.
    pub kind: i32,
    /// A `HANGAR_DTYPE_*` code (numeric values).
    pub dtype: i32,
    /// The value's bytes.
    pub data: *const std::ffi::c_void,
    /// Bytes at `data`.
    pub nbytes: usize,
    /// `ndim` dimension sizes (numeric values).
    pub shape: *const usize,
    /// Number of dimensions (numeric values).
    pub ndim: usize,
}

/// An owned byte buffer from libhangar (text is NUL-terminated; the NUL is not counted in
/// the length). Read it with `hangar_buf_data`/`hangar_buf_len`, free it with
/// `hangar_buf_free`.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct hangar_buf {
    bytes: Vec<u8>,
    len: usize,
}

impl Handle for hangar_buf {
    const KIND: Kind = Kind::Buf;
}

impl hangar_buf {
    pub(crate) fn from_text(s: String) -> hangar_buf {
        let len = s.len();
        let mut bytes = s.into_bytes();
        bytes.push(0);
        hangar_buf { bytes, len }
    }

    pub(crate) fn from_bytes(mut bytes: Vec<u8>) -> hangar_buf {
        let len = bytes.len();
        // A NUL after byte data too, so a str sample can be used as a C string directly.
        bytes.push(0);
        hangar_buf { bytes, len }
    }
}

/// `s` as a new buffer handle.
pub(crate) fn new_text(s: String) -> *mut hangar_buf {
    into_handle(hangar_buf::from_text(s))
}

/// Hands `s` out as a new buffer through `out` (an optional output, checked by the caller).
pub(crate) fn text_out(out: *mut *mut hangar_buf, s: String) {
    write_out(out, new_text(s));
}

/// The buffer's bytes (valid until `hangar_buf_free`); NULL for a NULL or invalid handle.
#[no_mangle]
pub extern "C" fn hangar_buf_data(buf: *const hangar_buf) -> *const u8 {
    let mut p = std::ptr::null();
    guard_void(|| {
        if let Ok(b) = handle(buf, "buf") {
            p = b.bytes.as_ptr();
        }
    });
    p
}

/// The buffer's length in bytes, not counting the NUL that follows; 0 for NULL.
#[no_mangle]
pub extern "C" fn hangar_buf_len(buf: *const hangar_buf) -> usize {
    let mut n = 0;
    guard_void(|| {
        if let Ok(b) = handle(buf, "buf") {
            n = b.len;
        }
    });
    n
}

/// Frees a buffer. NULL is accepted and ignored.
#[no_mangle]
pub extern "C" fn hangar_buf_free(buf: *mut hangar_buf) {
    guard_void(|| free_handle(buf));
}

/// An owned list of strings (column names, branch names, metadata keys).
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct hangar_strlist {
    items: Vec<CString>,
}

impl Handle for hangar_strlist {
    const KIND: Kind = Kind::StrList;
}

impl hangar_strlist {
    pub(crate) fn new(items: impl IntoIterator<Item = String>) -> hangar_strlist {
        hangar_strlist {
            items: items
                .into_iter()
                .map(|s| CString::new(s).unwrap_or_else(|_| c"<name with NUL>".to_owned()))
                .collect(),
        }
    }
}

/// `items` as a new string-list handle.
pub(crate) fn new_strlist(items: impl IntoIterator<Item = String>) -> *mut hangar_strlist {
    into_handle(hangar_strlist::new(items))
}

/// Number of strings in the list; 0 for NULL.
#[no_mangle]
pub extern "C" fn hangar_strlist_len(list: *const hangar_strlist) -> usize {
    let mut n = 0;
    guard_void(|| {
        if let Ok(l) = handle(list, "list") {
            n = l.items.len();
        }
    });
    n
}

/// String `index` of the list, NUL-terminated UTF-8, borrowed until `hangar_strlist_free`;
/// NULL when `index` is out of range or the list is invalid.
#[no_mangle]
pub extern "C" fn hangar_strlist_get(list: *const hangar_strlist, index: usize) -> *const c_char {
    let mut p = std::ptr::null();
    guard_void(|| {
        if let Ok(l) = handle(list, "list") {
            if let Some(s) = l.items.get(index) {
                p = s.as_ptr();
            }
        }
    });
    p
}

/// Frees a string list. NULL is accepted and ignored.
#[no_mangle]
pub extern "C" fn hangar_strlist_free(list: *mut hangar_strlist) {
    guard_void(|| free_handle(list));
}

/// The library version as static text, e.g. "0.1.0". Never free it.
#[no_mangle]
pub extern "C" fn hangar_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The status of the last failed call on this thread (`HANGAR_OK` if the last call
/// succeeded). Every call that returns a status resets it, except the
/// `hangar_last_error_*` functions; the `_free` functions (no status) leave it as it was,
/// so a destructor or garbage collector that frees a handle between a failed call and
/// the reading of its message does not erase the message.
#[no_mangle]
pub extern "C" fn hangar_last_error_status() -> hangar_status {
    with_last_error(|e| e.map_or(HANGAR_OK, |e| e.status))
}

/// Copies the message of the last failed call on this thread into `buf` (`len` bytes,
/// NUL-terminated), truncating if needed. `needed`, when not NULL, receives the full size
/// including the NUL; call with `buf = NULL, len = 0` to ask for it. Returns `HANGAR_OK`,
/// or `HANGAR_E_BUFFER_TOO_SMALL` when the message was truncated (still NUL-terminated).
/// An empty message means the last call that returns a status succeeded. Does not reset
/// the last error.
#[no_mangle]
pub extern "C" fn hangar_last_error_message(
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> hangar_status {
    with_last_error(|e| {
        let msg = e.map_or("", |e| e.message.as_str());
        let need = msg.len() + 1;
        if !needed.is_null() {
            write_out(needed, need);
        }
        if buf.is_null() || len == 0 {
            return if len == 0 {
                HANGAR_E_BUFFER_TOO_SMALL
            } else {
                HANGAR_E_NULL_ARG
            };
        }
        let n = msg.len().min(len - 1);
        // SAFETY: the caller promises `len` writable bytes at `buf`; n + 1 <= len.
        unsafe {
            std::ptr::copy_nonoverlapping(msg.as_ptr(), buf.cast::<u8>(), n);
            *buf.add(n) = 0;
        }
        if n < msg.len() {
            HANGAR_E_BUFFER_TOO_SMALL
        } else {
            HANGAR_OK
        }
    })
}

/// When the last failed call on this thread was a merge refused with
/// `HANGAR_E_MERGE_CONFLICT`, writes a new conflict report to `*out` (free it with
/// `hangar_conflicts_free`). Otherwise returns `HANGAR_E_NOT_FOUND`. Does not reset the
/// last error.
#[no_mangle]
pub extern "C" fn hangar_last_error_conflicts(out: *mut *mut hangar_conflicts) -> hangar_status {
    if out.is_null() {
        return HANGAR_E_NULL_ARG;
    }
    let report = with_last_error(|e| e.and_then(|e| e.conflicts.clone()));
    match report {
        Some(r) => {
            write_out(out, into_handle(hangar_conflicts::new(*r)));
            HANGAR_OK
        }
        None => HANGAR_E_NOT_FOUND,
    }
}

/// Copies `s` out through a caller buffer; used by every `char *out, size_t len` function.
pub(crate) fn text_into(s: &str, buf: *mut c_char, len: usize, arg: &str) -> Result<(), FfiError> {
    if buf.is_null() {
        return Err(null_arg(arg));
    }
    copy_text_out(s, buf, len, arg)
}
