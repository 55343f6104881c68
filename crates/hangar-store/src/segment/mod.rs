//! Segments: append-only Arrow IPC files of values.
//!
//! A segment holds values of one [`SegmentFormat`] as rows of three columns: `digest`
//! (FixedSizeBinary(32)), `crc32` (UInt32) and `value` — a FixedSizeList with the
//! canonical `arrow.fixed_shape_tensor` extension for fixed-shape tensors, a
//! `Struct<data: List, shape: FixedSizeList<Int32>>` with `arrow.variable_shape_tensor` for
//! variable-shape ones, Utf8 for str and Binary for bytes. Buffers are uncompressed and
//! 64-byte aligned, so a value is read straight from a memory map without decoding its
//! neighbours, and a typed slice over it is aligned. pyarrow opens a sealed segment as an
//! ordinary Arrow IPC file.

pub mod batch;
pub mod format;
pub mod parquet;
mod parquet_write;
pub mod thrift;
mod thrift_idl;
#[cfg(test)]
mod parquet_tests;
pub mod read;
pub mod writer;

pub use batch::{BatchParts, PendingBatch, ValueData};
pub use format::SegmentFormat;
pub use read::{sealed_rows, SealedRow};
pub use writer::{check_sealed_structure, Block, SegmentWriter, StoredRow};
