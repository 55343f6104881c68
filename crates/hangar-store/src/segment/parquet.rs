//! Sealed segments of compressed columns: Parquet files (`segments/<id>.parquet`).
//!
//! A compressed column stages its values in an ordinary Arrow IPC segment (the staging
//! journal and its recovery are unchanged); the commit that seals it writes the live rows
//! again as a Parquet file with the same three columns (`digest`, `crc32`, `value`, the
//! tensor extension metadata carried in the file's Arrow schema), and the index locates a
//! value by its row (`EntryKind::ParquetValue`: offset = row number, len = byte length).
//!
//! Pages: rows are grouped in *blocks* of `hangar.page_rows` rows (about
//! [`PAGE_TARGET`] bytes of values), each block written as one data page per column, and a
//! row group holds whole blocks. Reading a value decodes its block only (a row selection
//! over the page index), which the store then keeps in its page cache.
//!
//! The parquet crate checks no page checksums (it writes none), and a damaged page header
//! could claim any size: a store therefore checks a Parquet segment's whole-file CRC-32
//! against its index run before it decodes anything from it (see `Store`), and every
//! value's CRC-32 after decoding. A decoder panic (on bytes that passed both, which only
//! a fuzzer makes) is caught and reported as corruption.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    make_array, Array, ArrayRef, BinaryArray, FixedSizeBinaryArray, FixedSizeListArray,
    Int32Array, ListArray, RecordBatch, StringArray, StructArray,
};
use arrow_buffer::Buffer;
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
    RowSelector,
};
use parquet::arrow::ProjectionMask;
use parquet::file::metadata::PageIndexPolicy;

use super::format::{SegmentFormat, SEGMENT_FORMAT_KEY};
pub use super::parquet_write::ParquetSegmentWriter;
use super::read::SealedRow;
use crate::compression::Compression;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::mmap::MappedFile;

/// Bytes of values a block (one data page of the value column) aims at: small enough that
/// reading one sample decodes little, large enough for zstd to find the redundancy
/// between neighbouring samples.
pub const PAGE_TARGET: u64 = 64 << 10;
/// Most rows in a block (tiny values).
const MAX_PAGE_ROWS: u64 = 1 << 14;
/// Blocks per row group (~4 MiB of values). The writer buffers as many row groups as it
/// has threads and encodes them in parallel, so a group is small enough that a segment of
/// a few tens of MB still keeps every thread busy, and large enough that the footer stays
/// small (one entry per column per group).
pub(super) const BLOCKS_PER_GROUP: u64 = 64;
/// Schema-metadata key: the rows of a block.
pub const PAGE_ROWS_KEY: &str = "hangar.page_rows";
/// Schema-metadata key: the compression, as `Compression`'s display form.
pub const COMPRESSION_KEY: &str = "hangar.compression";

/// The Arrow schema of a Parquet segment: the segment format's, with the list items of
/// tensors nullable (never null in fact) as pyarrow's canonical tensor types have them:
/// pyarrow restores the tensor extension types from a Parquet file only when the storage
/// types match its own exactly.
pub fn parquet_schema(format: &SegmentFormat) -> arrow_schema::Schema {
    use arrow_schema::Field;
    let relax = |t: &DataType| -> DataType {
        match t {
            DataType::FixedSizeList(item, n) => {
                DataType::FixedSizeList(Arc::new(item.as_ref().clone().with_nullable(true)), *n)
            }
            DataType::List(item) => DataType::List(Arc::new(item.as_ref().clone().with_nullable(true))),
            other => other.clone(),
        }
    };
    let base = format.arrow_schema();
    let fields: Vec<Field> = base
        .fields()
        .iter()
        .map(|f| {
            let t = match f.data_type() {
                DataType::Struct(children) => DataType::Struct(
                    children
                        .iter()
                        .map(|c| c.as_ref().clone().with_data_type(relax(c.data_type())))
                        .collect(),
                ),
                t if f.name() == "value" => relax(t),
                t => t.clone(),
            };
            f.as_ref().clone().with_data_type(t)
        })
        .collect();
    arrow_schema::Schema::new_with_metadata(fields, base.metadata().clone())
}

/// The rows per block for values of `avg_len` bytes.
pub fn page_rows_for(avg_len: u64) -> u64 {
    (PAGE_TARGET / avg_len.max(1)).clamp(1, MAX_PAGE_ROWS)
}

fn pq_error(path: &Path, what: &str, e: impl std::fmt::Display) -> Error {
    Error::corrupt(path, format!("{what}: {e}"))
}

/// `data` as the byte container [`ParquetSegment::from_bytes`] takes (a copy).
pub fn bytes_of(data: &[u8]) -> bytes::Bytes {
    bytes::Bytes::copy_from_slice(data)
}

/// An open Parquet segment: its parsed footer and page index over the mapped file.
pub struct ParquetSegment {
    path: PathBuf,
    format: SegmentFormat,
    meta: ArrowReaderMetadata,
    data: bytes::Bytes,
    page_rows: u64,
    /// First row of each row group, then the row count.
    group_starts: Vec<u64>,
}

/// The file and its layout, not its bytes or footer.
impl std::fmt::Debug for ParquetSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetSegment")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("len", &self.data.len())
            .field("page_rows", &self.page_rows)
            .field("row_groups", &self.group_starts.len().saturating_sub(1))
            .finish()
    }
}

struct MapOwner(Arc<MappedFile>);

impl AsRef<[u8]> for MapOwner {
    fn as_ref(&self) -> &[u8] {
        self.0.bytes()
    }
}

/// Runs a decoder call, turning a panic into corruption of `path`.
fn guarded<T>(path: &Path, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(Error::corrupt(path, format!("{what}: the Parquet decoder failed"))))
}

impl ParquetSegment {
    /// Parses the footer of the mapped Parquet segment (whose whole-file CRC the caller
    /// has checked) and checks it is one libhangar wrote.
    pub fn open(map: Arc<MappedFile>) -> Result<ParquetSegment> {
        let path = map.path().to_path_buf();
        Self::from_bytes(&path, bytes::Bytes::from_owner(MapOwner(map)))
    }

    /// [`ParquetSegment::open`] over bytes held in memory (`path` names them in errors).
    pub fn from_bytes(path: &Path, data: bytes::Bytes) -> Result<ParquetSegment> {
        guarded(path, "footer", || Self::open_unguarded(path.to_path_buf(), data))
    }

    fn open_unguarded(path: PathBuf, data: bytes::Bytes) -> Result<ParquetSegment> {
        // The footer checked, then its pages and page index, then the page index loaded.
        let damaged = |d: String| Error::corrupt(&path, format!("damaged Parquet segment: {d}"));
        super::thrift::check_parquet_footer(data.len() as u64, &mut read_from(&data))
            .map_err(damaged)?;
        let bare = ArrowReaderMetadata::load(&data, ArrowReaderOptions::new())
            .map_err(|e| pq_error(&path, "not a readable Parquet segment", e))?;
        super::thrift::check_parquet_pages(bare.metadata(), data.len() as u64, true, &mut read_from(&data))
            .map_err(damaged)?;
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
        let meta = ArrowReaderMetadata::load(&data, options)
            .map_err(|e| pq_error(&path, "not a readable Parquet segment", e))?;
        let schema = meta.schema().clone();
        let md = schema.metadata();
        let format = md
            .get(SEGMENT_FORMAT_KEY)
            .ok_or_else(|| Error::corrupt(&path, "schema lacks the hangar segment format"))
            .and_then(|j| SegmentFormat::from_json(j).map_err(|e| Error::corrupt(&path, e.0)))?;
        let page_rows: u64 = md
            .get(PAGE_ROWS_KEY)
            .and_then(|s| s.parse().ok())
            .filter(|&r| (1..=MAX_PAGE_ROWS).contains(&r))
            .ok_or_else(|| Error::corrupt(&path, "schema lacks a valid hangar.page_rows"))?;
        let want = parquet_schema(&format);
        let same = schema.fields().len() == 3
            && schema
                .fields()
                .iter()
                .zip(want.fields())
                .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
        if !same {
            return Err(Error::corrupt(&path, "columns differ from the segment format's"));
        }
        let mut group_starts = vec![0u64];
        for rg in meta.metadata().row_groups() {
            let n = u64::try_from(rg.num_rows())
                .map_err(|_| Error::corrupt(&path, "negative row count"))?;
            let last = *group_starts.last().expect("starts with 0");
            group_starts.push(
                last.checked_add(n)
                    .ok_or_else(|| Error::corrupt(&path, "row count overflows"))?,
            );
        }
        Ok(ParquetSegment {
            path,
            format,
            meta,
            data,
            page_rows,
            group_starts,
        })
    }

    /// The segment's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The value format.
    pub fn format(&self) -> &SegmentFormat {
        &self.format
    }

    /// The compression its schema records (for a rewrite in the same compression).
    pub fn compression(&self) -> Compression {
        self.meta
            .schema()
            .metadata()
            .get(COMPRESSION_KEY)
            .and_then(|s| s.parse().ok())
            .unwrap_or(Compression::Zstd(crate::compression::DEFAULT_ZSTD_LEVEL))
    }

    /// Rows in the file.
    pub fn rows(&self) -> u64 {
        *self.group_starts.last().expect("starts with 0")
    }

    /// The block holding `row`: its row group, first row in the file, and length.
    fn block_of(&self, row: u64) -> Result<(usize, u64, u64)> {
        if row >= self.rows() {
            return Err(Error::corrupt(
                &self.path,
                format!("row {row} is past the {} rows of the segment", self.rows()),
            ));
        }
        let g = self.group_starts.partition_point(|&s| s <= row) - 1;
        let (start, end) = (self.group_starts[g], self.group_starts[g + 1]);
        let first = start + (row - start) / self.page_rows * self.page_rows;
        Ok((g, first, (end - first).min(self.page_rows)))
    }

    /// The first row of the block holding `row` (the page cache's key).
    pub fn block_start(&self, row: u64) -> Result<u64> {
        self.block_of(row).map(|(_, first, _)| first)
    }

    /// Decodes the `value` column of the block holding `row`.
    pub fn read_block(&self, row: u64) -> Result<DecodedBlock> {
        let (g, first, len) = self.block_of(row)?;
        let values = guarded(&self.path, "block", || {
            let batches = self.decode(g, first - self.group_starts[g], len, &[2])?;
            let columns: Vec<ArrayRef> = batches.iter().map(|b| b.column(0).clone()).collect();
            concat_arrays(&columns).map_err(|e| pq_error(&self.path, "block", e))
        })?;
        if values.len() as u64 != len {
            return Err(Error::corrupt(&self.path, format!("block at row {first} decoded short")));
        }
        let bytes = values.get_array_memory_size();
        Ok(DecodedBlock {
            first,
            values,
            bytes,
        })
    }

    /// Decodes `take` rows of `columns` from row `skip` of row group `group`, in batches
    /// of at most a block's rows: the reader reserves a batch's room before it decodes,
    /// and a row group's row count is the footer's claim.
    fn decode(&self, group: usize, skip: u64, take: u64, columns: &[usize]) -> Result<Vec<RecordBatch>> {
        let rows = self.group_starts[group + 1] - self.group_starts[group];
        let mut sel = Vec::new();
        if skip > 0 {
            sel.push(RowSelector::skip(skip as usize));
        }
        sel.push(RowSelector::select(take as usize));
        if skip + take < rows {
            sel.push(RowSelector::skip((rows - skip - take) as usize));
        }
        let mask = ProjectionMask::roots(self.meta.parquet_schema(), columns.iter().copied());
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(self.data.clone(), self.meta.clone())
            .with_row_groups(vec![group])
            .with_projection(mask)
            .with_row_selection(RowSelection::from(sel))
            .with_batch_size(take.clamp(1, MAX_PAGE_ROWS) as usize)
            .build()
            .map_err(|e| pq_error(&self.path, "bad row group", e))?;
        let batches = reader
            .map(|b| b.map_err(|e| pq_error(&self.path, "bad page", e)))
            .collect::<Result<Vec<_>>>()?;
        if batches.is_empty() {
            return Err(Error::corrupt(&self.path, "a block decoded to nothing"));
        }
        Ok(batches)
    }

    /// Every row's digest and (variable-shape tensors) shape, in row order (gc).
    pub fn sealed_rows(&self) -> Result<Vec<SealedRow>> {
        let mut out = Vec::new();
        let with_shape = matches!(self.format, SegmentFormat::VarTensor { .. });
        for g in 0..self.group_starts.len() - 1 {
            let rows = self.group_starts[g + 1] - self.group_starts[g];
            if rows == 0 {
                continue;
            }
            let cols: &[usize] = if with_shape { &[0, 2] } else { &[0] };
            let batches = guarded(&self.path, "row group", || self.decode(g, 0, rows, cols))?;
            let before = out.len();
            for batch in &batches {
                self.sealed_rows_of(batch, with_shape, &mut out)?;
            }
            // The reader stops quietly where the pages end: a row group holding fewer rows
            // than the footer claims would shift every later row's number.
            let got = (out.len() - before) as u64;
            if got != rows {
                return Err(Error::corrupt(
                    &self.path,
                    format!("row group {g} decoded to {got} of the {rows} rows its footer claims"),
                ));
            }
        }
        Ok(out)
    }

    /// The digests and shapes of one decoded batch of `sealed_rows`.
    fn sealed_rows_of(&self, batch: &RecordBatch, with_shape: bool, out: &mut Vec<SealedRow>) -> Result<()> {
        let digests = batch
            .column(0)
            .as_any()
            .downcast_ref::<FixedSizeBinaryArray>()
            .ok_or_else(|| Error::corrupt(&self.path, "digest column of another type"))?;
        let shapes = if with_shape {
            let s = batch
                .column(1)
                .as_any()
                .downcast_ref::<StructArray>()
                .and_then(|s| s.column(1).as_any().downcast_ref::<FixedSizeListArray>())
                .ok_or_else(|| Error::corrupt(&self.path, "value column of another type"))?;
            Some(s)
        } else {
            None
        };
        for i in 0..digests.len() {
            let digest = Digest::from_slice(digests.value(i))
                .ok_or_else(|| Error::corrupt(&self.path, "a digest of another length"))?;
            let shape = match shapes {
                Some(s) => {
                    let dims = s.value(i);
                    let dims = dims
                        .as_any()
                        .downcast_ref::<Int32Array>()
                        .ok_or_else(|| Error::corrupt(&self.path, "shape of another type"))?;
                    dims.values()
                        .iter()
                        .map(|&d| u64::try_from(d).map_err(|_| Error::corrupt(&self.path, "a negative dimension")))
                        .collect::<Result<Vec<u64>>>()?
                }
                None => Vec::new(),
            };
            out.push(SealedRow { digest, shape });
        }
        Ok(())
    }
}

/// [`super::thrift::ReadAt`] over bytes held in memory (borrowed, not copied).
fn read_from<'a>(
    data: &'a [u8],
) -> impl FnMut(u64, u64) -> std::result::Result<std::borrow::Cow<'a, [u8]>, String> + 'a {
    move |at, n| {
        usize::try_from(at)
            .ok()
            .zip(usize::try_from(n).ok())
            .and_then(|(a, n)| data.get(a..a.checked_add(n)?))
            .map(std::borrow::Cow::Borrowed)
            .ok_or_else(|| format!("bytes {at}..+{n} lie outside the file"))
    }
}

/// `arrays` (of one type) as one array; the array itself when there is one.
fn concat_arrays(arrays: &[ArrayRef]) -> std::result::Result<ArrayRef, arrow_schema::ArrowError> {
    if let [one] = arrays {
        return Ok(one.clone());
    }
    let data: Vec<_> = arrays.iter().map(|a| a.to_data()).collect();
    let len = arrays.iter().map(|a| a.len()).sum();
    let mut m = arrow_data::transform::MutableArrayData::new(data.iter().collect(), false, len);
    for (i, a) in arrays.iter().enumerate() {
        m.try_extend(i, 0, a.len())?;
    }
    Ok(make_array(m.freeze()))
}

/// The decoded `value` column of one block, as the page cache keeps it.
pub struct DecodedBlock {
    first: u64,
    values: ArrayRef,
    bytes: usize,
}

/// Where it starts and its size, not its values.
impl std::fmt::Debug for DecodedBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodedBlock")
            .field("first", &self.first)
            .field("rows", &self.values.len())
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl DecodedBlock {
    /// Memory it holds.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The bytes of the value in `row` (a row of this block), sharing the block's memory.
    pub fn value(&self, row: u64, path: &Path) -> Result<Buffer> {
        let bad = || Error::corrupt(path, format!("row {row} is not in its decoded block"));
        let i = row.checked_sub(self.first).ok_or_else(bad)? as usize;
        if i >= self.values.len() {
            return Err(bad());
        }
        let v = self.values.as_any();
        let flat = |child: ArrayRef| -> Result<Buffer> { primitive_bytes(&child).ok_or_else(bad) };
        if let Some(l) = v.downcast_ref::<FixedSizeListArray>() {
            return flat(l.value(i));
        }
        if let Some(s) = v.downcast_ref::<StructArray>() {
            let data = s.column(0).as_any().downcast_ref::<ListArray>().ok_or_else(bad)?;
            return flat(data.value(i));
        }
        if let Some(s) = v.downcast_ref::<StringArray>() {
            let o = s.value_offsets();
            let (a, b) = (o[i] as usize, o[i + 1] as usize);
            return Ok(s.values().slice_with_length(a, b - a));
        }
        if let Some(s) = v.downcast_ref::<BinaryArray>() {
            let o = s.value_offsets();
            let (a, b) = (o[i] as usize, o[i + 1] as usize);
            return Ok(s.values().slice_with_length(a, b - a));
        }
        Err(bad())
    }
}

/// The value bytes of a primitive array slice (no copy).
fn primitive_bytes(a: &ArrayRef) -> Option<Buffer> {
    let d = a.to_data();
    let width = d.data_type().primitive_width()?;
    let buf = d.buffers().first()?;
    let (start, len) = (d.offset().checked_mul(width)?, d.len().checked_mul(width)?);
    (start.checked_add(len)? <= buf.len()).then(|| buf.slice_with_length(start, len))
}
