//! The file formats of the `hangar` command-line tool, as a library: NumPy `.npy`/`.npz`,
//! IDX, PNG, JPEG, Parquet and Arrow IPC readers and writers. The tool itself is the
//! `hangar` binary; this library exists so the readers can be fuzzed and benchmarked
//! directly (every decoder checks what a header declares against the bytes present and
//! a limit before allocating). Not a stable API.
//!
//! How the crates fit together — what each may know, the path of a write and of a
//! read, the commit point, the invariants — is in `ARCHITECTURE.md` at the repository
//! root.

#![forbid(unsafe_code)]

pub mod formats;
