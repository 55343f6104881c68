//! # libhangar — the C ABI of hangar
//!
//! Thin `extern "C"` shims over `hangar-core`, built as `libhangar.so` / `libhangar.a`, with
//! the header `include/hangar.h` generated from this crate by cbindgen. This is the only
//! crate of the workspace with `unsafe` code; every entry point goes through
//! [`boundary::guard`], which clears the thread's last error, catches panics
//! (`HANGAR_E_PANIC`), and records the error of a failing call.
//!
//! The header's introduction (ownership, thread safety, errors) is in `cbindgen.toml`.

mod arrow;
mod boundary;
mod checkout;
mod column;
mod conflicts;
mod repo;
mod status;
mod types;

pub use arrow::hangar_column_arrow_stream;
pub use checkout::*;
pub use column::*;
pub use conflicts::*;
pub use repo::*;
pub use status::*;
pub use types::*;

/// Every handle is `Send + Sync`, which is what lets the header promise that calls through
/// `const` handle pointers may come from several threads at once.
#[cfg(test)]
#[allow(dead_code)]
fn handles_are_thread_safe() {
    fn check<T: Send + Sync>() {}
    check::<hangar_repo>();
    check::<hangar_reader>();
    check::<hangar_writer>();
    check::<hangar_column>();
    check::<hangar_key_iter>();
    check::<hangar_diff>();
    check::<hangar_conflicts>();
    check::<hangar_ndarray_spec>();
    check::<hangar_buf>();
    check::<hangar_strlist>();
}
