//! # hangar-store
//!
//! The storage layer of libhangar: append-only segment files in the Arrow IPC file
//! format, content digests (BLAKE3-256) and checksums (CRC-32), write-once packs of
//! metadata objects, a digest → location index, and the durable staging journal. It
//! knows nothing of commits, branches or schemas; `hangar-core` builds those on top.
//!
//! How the crates fit together — what each may know, the path of a write and of a
//! read, the commit point, the invariants — is in `ARCHITECTURE.md` at the repository
//! root.
//!
//! Principal types:
//! - [`Store`]: the read side — look a digest up, read a value zero-copy (a memory-mapped
//!   [`arrow_buffer::Buffer`]), read an object; `Send + Sync`.
//! - [`StoreWriter`]: the single writer — stage values, journal records, commit (seal
//!   segments, write a pack and an index run, then let the caller publish its ref), reset.
//! - [`ValueHeader`] and [`Digest`]: canonical value identity; [`DType`] element types.
//! - [`SegmentFormat`]: what one segment holds and its Arrow schema.
//!
//! ```
//! use std::sync::Arc;
//! use hangar_store::{DType, SegmentFormat, Store, StoreWriter, ValueHeader, ValueInput};
//!
//! # fn main() -> hangar_store::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! Store::create_layout(dir.path())?;
//! let store = Arc::new(Store::open(dir.path())?);
//! let (mut writer, _) = StoreWriter::open(store.clone(), |_| Ok(false), || b"base".to_vec())?;
//! let format = SegmentFormat::FixedTensor { dtype: DType::U8, shape: vec![4] };
//! let bytes = [1u8, 2, 3, 4];
//! let header = ValueHeader::Tensor { dtype: DType::U8, shape: &[4] };
//! let digest = writer.put_value(ValueInput { format: &format, compression: Default::default(), header, shape: &[4], bytes: &bytes })?;
//! writer.sync_point()?; // durable against a crash of this process from here on
//! let live = writer.staged_digests(); // the values staged records refer to
//! writer.commit(Vec::new(), &live, b"next base", || Ok::<(), hangar_store::Error>(()))?;
//! assert_eq!(store.read_value(&digest)?.unwrap().as_slice(), &bytes);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
// The modules are private: what other crates use is re-exported below. Items only the
// fuzz targets, the reliability suites and white-box tests reach (through `internal`,
// behind the `internal-api` feature) are unused without it.
#![cfg_attr(not(feature = "internal-api"), allow(dead_code, unused_imports))]

pub mod codec;
mod compression;

/// Declares modules private, or public (for [`internal`]) with the `internal-api` feature.
macro_rules! modules {
    ($($name:ident),* $(,)?) => {$(
        #[cfg(feature = "internal-api")]
        #[doc(hidden)]
        pub mod $name;
        #[cfg(not(feature = "internal-api"))]
        mod $name;
    )*};
}
modules!(
    digest, dtype, error, failpoint, fsutil, index, journal, mmap, pack, page_cache, par, segment,
    stage, store
);

pub use arrow_buffer::Buffer;
pub use compression::{Compression, DEFAULT_ZSTD_LEVEL};
pub use digest::{
    crc32, is_hex_prefix, Digest, DigestHasher, DigestMap, DigestSet, ValueHeader, ValueKind,
    HASH_PIECE,
};
pub use dtype::{DType, Element};
pub use error::{Error, ErrorKind, IoContext, Result};
pub use failpoint::hit as fail_point;
pub use index::{
    EntryKind, EntrySource, FileId, FileKind, FileRecord, IndexEntry, LiveEntries, Location,
};
pub use mmap::{keep_heap_pad, BigBytes};
pub use pack::{Object, ObjectSink, PackSpool};
pub use par::install as run_parallel;
pub use par::threads as parallel_threads;
pub use par::{hold_for_fork, release_after_fork};
/// The Thrift check run on a Parquet footer, page headers and page index before the
/// parquet crate decodes them (its work is then bounded by the bytes a file holds).
pub use segment::thrift::{
    check_parquet_footer, check_parquet_pages, check_struct as check_thrift_struct,
    Problem as ThriftProblem, ReadAt,
};
pub use segment::SegmentFormat;
pub use stage::{
    check_staging, staged_base, unreferenced_files, CommitStats, Discarded, ForeignValue, GcFile,
    GcOptions, GcReport, IngestStats, JournalEpoch, Live, PreparedCommit, Reachable, RecordFrame,
    Recovered, Savepoint, StagedBase, StoreWriter, ValueInput, DEFAULT_COMPACT_BELOW, MAX_RECORD,
};
pub use store::Store;

/// The Arrow field metadata a segment's columns carry: the extension names and keys of
/// the fixed- and variable-shape tensor extensions, the key holding a tensor's hangar
/// dtype, and the Arrow type of a dtype. Readers of exported tables recognize these.
pub mod arrow_meta {
    pub use crate::segment::format::{
        arrow_type, DTYPE_KEY, EXTENSION_METADATA_KEY, EXTENSION_NAME_KEY, FIXED_SHAPE_TENSOR,
        VARIABLE_SHAPE_TENSOR,
    };
}

/// Durable file operations hangar-core shares for the files it owns (refs, reflogs, the
/// repository's format and config files): atomic replace, directory fsync, opening
/// without following symbolic links, and the temporary-file naming every writer uses.
pub mod fs {
    pub use crate::fsutil::{
        check_real_dir, create_dir_durable, fsync_dir, is_symlink, is_temp_name, no_follow,
        open_no_follow, read_file, remove_orphan_temp_files, remove_temp_files, symlink_error,
        temp_path_for, write_atomic, TMP_MARKER,
    };
}

/// The store's modules as they are, for the fuzz targets, the reliability suites and
/// white-box tests: not a stable interface, and never enabled by a shipped crate (CI
/// checks that).
#[cfg(feature = "internal-api")]
#[doc(hidden)]
pub mod internal {
    pub use crate::{digest, failpoint, fsutil, index, journal, mmap, pack, segment, stage, store};
}
