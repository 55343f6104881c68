//! # libhangar — the C ABI of hangar
//!
//! Thin `extern "C"` shims over `hangar-core`, built as `libhangar.so` / `libhangar.a`, with
//! the header `include/hangar.h` (at the repository's top level) generated from this crate by cbindgen. This is the only
//! crate of the workspace with `unsafe` code; every entry point goes through
//! `boundary::guard`, which clears the thread's last error, catches panics
//! (`HANGAR_E_PANIC`), and records the error of a failing call.
//!
//! How the crates fit together — what each may know, the path of a write and of a
//! read, the commit point, the invariants — is in `ARCHITECTURE.md` at the repository
//! root.
//!
//! The header's introduction (ownership, thread safety, errors) is in `cbindgen.toml`.
#![deny(missing_docs)]

mod arrow;
mod boundary;
mod checkout;
mod column;
mod conflicts;
mod gc;
mod log;
mod remote;
mod repo;
mod status;
mod types;
mod views;

pub use arrow::hangar_column_arrow_stream;
pub use checkout::*;
pub use column::*;
pub use conflicts::*;
pub use log::*;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_macros_agree_with_cargo_toml() {
        assert_eq!(
            HANGAR_VERSION_MAJOR.to_string(),
            env!("CARGO_PKG_VERSION_MAJOR")
        );
        assert_eq!(
            HANGAR_VERSION_MINOR.to_string(),
            env!("CARGO_PKG_VERSION_MINOR")
        );
        assert_eq!(
            HANGAR_VERSION_PATCH.to_string(),
            env!("CARGO_PKG_VERSION_PATCH")
        );
        // SAFETY: hangar_version returns a static NUL-terminated string.
        let v = unsafe { std::ffi::CStr::from_ptr(hangar_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn the_checked_in_header_declares_the_version_macros_of_cargo_toml() {
        let header = include_str!("../../../include/hangar.h");
        for (name, value) in [
            ("HANGAR_VERSION_MAJOR", env!("CARGO_PKG_VERSION_MAJOR")),
            ("HANGAR_VERSION_MINOR", env!("CARGO_PKG_VERSION_MINOR")),
            ("HANGAR_VERSION_PATCH", env!("CARGO_PKG_VERSION_PATCH")),
        ] {
            assert!(
                header.contains(&format!("#define {name} {value}\n")),
                "{name} is not {value} in include/hangar.h: run make -C crates/hangar-ffi header"
            );
        }
    }
}
