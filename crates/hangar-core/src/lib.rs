//! # hangar-core
//!
//! Version control for tensor data: repositories, checkouts, columns, samples, a
//! durable staging area, commits and history, built on [`hangar_store`].
//!
//! How the crates fit together — what each may know, the path of a write and of a
//! read, the commit point, the invariants — is in `ARCHITECTURE.md` at the repository
//! root.
//!
//! Principal types:
//! - [`Repository`]: `init`, `open`, checkouts, `log`, `summary`, `verify`,
//!   `force_release_writer_lock`. `Send + Sync`.
//! - [`WriterCheckout`]: the single writer (an OS lock across processes) on the staging
//!   area: create and delete columns, set and delete samples, metadata, `commit`,
//!   `reset_staging_area`, bulk sessions.
//! - [`ReaderCheckout`]: an immutable view of one commit, usable from many threads.
//! - [`WriterColumn`] / [`ReaderColumn`]: dict-like access to samples
//!   ([`SampleKey`] → [`Value`]).
//!
//! ```
//! use hangar_core::{DType, NdArraySpec, Repository, TensorRef};
//!
//! # fn main() -> hangar_core::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let repo = Repository::init(dir.path(), "Rick Izzo", "rick@example.com", false)?;
//! let co = repo.checkout_writer()?;
//! let images = co.add_ndarray_column("images", NdArraySpec::with_shape(DType::U8, &[28, 28]))?;
//! let pixels = vec![7u8; 28 * 28];
//! images.set("0", TensorRef::new(&pixels, &[28, 28]))?;
//! assert_eq!(images.len()?, 1);
//! let commit = co.commit("first commit")?;
//! co.close()?;
//!
//! let reader = repo.checkout_commit(&commit.to_hex())?;
//! let img = reader.column("images")?.get_view("0")?; // zero-copy, memory-mapped
//! assert_eq!(img.as_slice::<u8>()?, &pixels[..]);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod arrow_export;
pub mod branch;
pub mod checkout;
pub mod commit;
pub mod diff;
pub mod error;
mod format;
pub mod gc;
pub mod history;
pub mod key;
mod lock;
pub mod merge;
pub mod names;
mod objects;
mod overlay;
mod puts;
mod refs;
pub mod remote;
pub mod repo;
pub mod schema;
mod shared;
mod staging;
pub mod timefmt;
mod tree;
pub mod value;
pub mod verify;

pub use branch::{Branch, DiscardedStaging};
pub use checkout::column::{Column, CommitRecords, RecordSource, StagedRecords, StagingRecords};
pub use checkout::reader::{ReaderCheckout, ReaderColumn, ReaderMetadata};
pub use checkout::staged::{StagedColumn, StagedView};
pub use checkout::writer::{BulkSession, Status, WriterCheckout, WriterColumn, WriterMetadata};
pub use checkout::ColumnInfo;
pub use commit::{CommitId, CommitInfo};
pub use diff::{
    ColumnDiff, Diff, DiffCounts, DiffEnd, DiffKey, KeyTotals, MetadataDiff, SchemaChange,
};
pub use error::{Error, ErrorKind, Result};
pub use format::FORMAT_VERSION;
pub use hangar_store::codec::DecodeError;
/// Runs parallel work on this process's thread pool (safe in a forked child).
pub use hangar_store::run_parallel;
/// Fork handlers' halves for the process-wide lock of hangar's thread pool (the C library
/// registers them with `pthread_atfork`).
pub use hangar_store::{hold_for_fork, release_after_fork};
pub use hangar_store::{keep_heap_pad, BigBytes, Compression, DType, Digest};
pub use history::{GraphRow, Log, LogEntry, Summary};
pub use key::SampleKey;
pub use merge::{
    Conflict, ConflictKind, ConflictScope, MergeConflicts, MergeOutcome, MergeStrategy,
};
pub use remote::{
    FetchDataOptions, FetchDataReport, FetchReport, PushReport, RemoteSpec, StreamStats,
    TrackingRef,
};
pub use repo::Repository;
pub use schema::{ColumnKind, ColumnSchema, NdArraySpec};
pub use staging::StagedChanges;
pub use value::{Tensor, TensorRef, Value, ValueRef};
pub use verify::{Problem, VerifyReport};

/// The README's Rust example, compiled as a doc test so it cannot rot.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// Decoders of the repository's objects, for the fuzz targets: not part of the API (their
/// use outside this crate is unsupported), compiled only with the `internal-api` feature.
#[cfg(feature = "internal-api")]
#[doc(hidden)]
pub mod internal {
    pub use crate::objects::{CommitObject, ObjectType, Root};
    pub use crate::remote::decoders as remote;
    pub use crate::tree::Node;
}

/// The Thrift check run on a Parquet footer, page headers and page index before the
/// parquet crate decodes them, so its work is bounded by the bytes a file holds (the
/// store's, for its Parquet segments; `hangar import` runs it on the files it reads).
pub mod parquet_thrift {
    pub use hangar_store::{
        check_parquet_footer, check_parquet_pages, check_thrift_struct as check_struct, ReadAt,
        ThriftProblem as Problem,
    };
}
