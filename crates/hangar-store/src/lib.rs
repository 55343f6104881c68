//! # hangar-store
//!
//! The storage layer of libhangar: append-only segment files in the Arrow IPC file
//! format, content digests (BLAKE3-256) and checksums (CRC-32), write-once packs of
//! metadata objects, a digest → location index, and the durable staging journal. It
//! knows nothing of commits, branches or schemas; `hangar-core` builds those on top.
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
//! let digest = writer.put_value(ValueInput { format: &format, header, shape: &[4], bytes: &bytes })?;
//! writer.sync_point()?; // durable against a crash of this process from here on
//! let live = writer.staged_digests(); // the values staged records refer to
//! writer.commit(Vec::new(), &live, b"next base", || Ok::<(), hangar_store::Error>(()))?;
//! assert_eq!(store.read_value(&digest)?.unwrap().as_slice(), &bytes);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod codec;
pub mod digest;
pub mod dtype;
pub mod error;
pub mod failpoint;
pub mod fsutil;
pub mod index;
pub mod journal;
pub mod mmap;
pub mod pack;
pub mod segment;
pub mod stage;
pub mod store;

pub use arrow_buffer::Buffer;
pub use digest::{crc32, Digest, DigestMap, DigestSet, ValueHeader, ValueKind};
pub use dtype::{DType, Element};
pub use error::{Error, ErrorKind, Result};
pub use index::{EntryKind, FileId, FileKind, FileRecord, IndexEntry, Location};
pub use mmap::BigBytes;
pub use pack::{Object, ObjectSink, PackSpool};
pub use segment::SegmentFormat;
pub use stage::{
    CommitStats, Discarded, PreparedCommit, Recovered, Savepoint, StoreWriter, ValueInput,
};
pub use store::Store;
