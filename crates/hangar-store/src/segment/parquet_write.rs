//! Writing a Parquet segment (see `segment::parquet` for the layout and the reader).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    make_array, ArrayRef, BinaryArray, FixedSizeBinaryArray, FixedSizeListArray, Int32Array,
    ListArray, RecordBatch, StringArray, StructArray, UInt32Array,
};
use arrow_buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, SchemaRef};
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnChunk, ArrowRowGroupWriterFactory};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use rayon::prelude::*;

use super::format::{arrow_type, SegmentFormat};
use super::parquet::{page_rows_for, parquet_schema, BLOCKS_PER_GROUP, COMPRESSION_KEY, PAGE_ROWS_KEY};
use super::writer::StoredRow;
use crate::compression::Compression;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::index::{FileId, FileKind, FileRecord};

/// Writes a file's bytes through, keeping its CRC-32 and length.
struct CrcFile {
    file: File,
    crc: crc32fast::Hasher,
    len: u64,
    path: PathBuf,
}

impl Write for CrcFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.crc.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Rows gathered for the next block.
#[derive(Default)]
struct Block {
    digests: Vec<u8>,
    crcs: Vec<u32>,
    data: Vec<u8>,
    ends: Vec<usize>,
    shapes: Vec<i32>,
}

impl std::fmt::Debug for ParquetSegmentWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetSegmentWriter")
            .field("path", &self.path)
            .field("rows", &self.rows.len())
            .finish()
    }
}

/// Writes one Parquet segment (see the module docs). The caller reserved `id` in the
/// staging journal first, as for every data file.
///
/// Row groups of [`BLOCKS_PER_GROUP`] blocks are encoded (levels, byte-stream split,
/// compression) in parallel, as many at a time as the process pool has threads, and
/// written in order (encoding is nearly all of a compressed commit's extra work).
pub struct ParquetSegmentWriter {
    id: FileId,
    path: PathBuf,
    format: SegmentFormat,
    schema: SchemaRef,
    page_rows: u64,
    file: SerializedFileWriter<CrcFile>,
    factory: ArrowRowGroupWriterFactory,
    block: Block,
    /// The batches (one per block) of the row group being gathered.
    group: Vec<RecordBatch>,
    /// Gathered row groups waiting to be encoded.
    ready: Vec<Vec<RecordBatch>>,
    rows: Vec<StoredRow>,
}

impl ParquetSegmentWriter {
    /// Creates `path` for values of `format` (about `avg_len` bytes each, which sizes the
    /// blocks), compressed with `compression`.
    pub fn create(
        path: &Path,
        id: FileId,
        format: SegmentFormat,
        compression: Compression,
        avg_len: u64,
    ) -> Result<ParquetSegmentWriter> {
        let page_rows = page_rows_for(avg_len);
        let mut schema = parquet_schema(&format);
        schema
            .metadata
            .insert(PAGE_ROWS_KEY.to_string(), page_rows.to_string());
        schema
            .metadata
            .insert(COMPRESSION_KEY.to_string(), compression.to_string());
        let schema = Arc::new(schema);
        let codec = match compression {
            Compression::Zstd(l) => parquet::basic::Compression::ZSTD(
                parquet::basic::ZstdLevel::try_new(i32::from(l))
                    .map_err(|e| Error::InvalidArgument(e.to_string()))?,
            ),
            Compression::Lz4 => parquet::basic::Compression::LZ4_RAW,
            Compression::None => parquet::basic::Compression::UNCOMPRESSED,
        };
        // Elements per row of the value column's leaf (levels the writer counts).
        let levels = match &format {
            SegmentFormat::FixedTensor { shape, .. } => {
                SegmentFormat::fixed_elements(shape).unwrap_or(1).max(1)
            }
            SegmentFormat::VarTensor { dtype, .. } => (avg_len / dtype.size() as u64).max(1),
            _ => 1,
        };
        let batch = usize::try_from(page_rows.saturating_mul(levels)).unwrap_or(usize::MAX);
        // Tensor elements byte-stream split: Parquet has no 1- or 2-byte integer type, so
        // u8 and i16 elements are INT32 values whose high bytes are zero; split into one
        // stream per byte, zstd drops those streams almost for free (plain INT32: the
        // repository was 1.04x raw for Fashion-MNIST, split: 0.78x), and float
        // exponents compress apart from mantissas. pyarrow, DuckDB and Polars read it.
        let mut props = WriterProperties::builder();
        let leaf = match &format {
            SegmentFormat::FixedTensor { .. } => Some(vec!["value", "list", "item"]),
            SegmentFormat::VarTensor { .. } => Some(vec!["value", "data", "list", "item"]),
            _ => None,
        };
        if let Some(path) = leaf {
            let path = parquet::schema::types::ColumnPath::new(
                path.iter().map(|s| s.to_string()).collect(),
            );
            props = props.set_column_encoding(path, parquet::basic::Encoding::BYTE_STREAM_SPLIT);
        }
        let props = props
            .set_compression(codec)
            .set_dictionary_enabled(false)
            .set_statistics_enabled(EnabledStatistics::None)
            .set_data_page_row_count_limit(page_rows as usize)
            .set_data_page_size_limit(usize::MAX / 2)
            .set_write_batch_size(batch.clamp(1, 1 << 24))
            .set_created_by(format!("libhangar {}", env!("CARGO_PKG_VERSION")))
            .build();
        let file = crate::fsutil::open_no_follow(
            crate::fsutil::no_follow().write(true).create_new(true),
            "create",
            path,
        )?;
        let out = CrcFile {
            file,
            crc: crc32fast::Hasher::new(),
            len: 0,
            path: path.to_path_buf(),
        };
        // The ArrowWriter embeds the Arrow schema in the file's metadata; its lower-level
        // parts then encode row groups on several threads.
        let (file, factory) = ArrowWriter::try_new(out, schema.clone(), Some(props))
            .and_then(|w| w.into_serialized_writer())
            .map_err(|e| Error::InvalidArgument(format!("parquet writer: {e}")))?;
        Ok(ParquetSegmentWriter {
            id,
            path: path.to_path_buf(),
            format,
            schema,
            page_rows,
            file,
            factory,
            block: Block::default(),
            group: Vec::new(),
            ready: Vec::new(),
            rows: Vec::new(),
        })
    }

    /// The segment's value format.
    pub fn format(&self) -> &SegmentFormat {
        &self.format
    }

    /// Appends one value (its shape is used for variable-shape tensors only).
    pub fn push(&mut self, digest: Digest, crc: u32, shape: &[u64], bytes: &[u8]) -> Result<()> {
        let row = self.rows.len() as u64;
        self.rows.push(StoredRow {
            digest,
            offset: row,
            len: bytes.len() as u64,
            crc,
        });
        let b = &mut self.block;
        b.digests.extend_from_slice(&digest.0);
        b.crcs.push(crc);
        b.data.extend_from_slice(bytes);
        b.ends.push(b.data.len());
        if let SegmentFormat::VarTensor { .. } = self.format {
            for &d in shape {
                b.shapes.push(i32::try_from(d).map_err(|_| {
                    Error::InvalidArgument(format!("dimension {d} does not fit a segment"))
                })?);
            }
        }
        if b.crcs.len() as u64 >= self.page_rows {
            self.write_block()?;
        }
        Ok(())
    }

    fn write_block(&mut self) -> Result<()> {
        if self.block.crcs.is_empty() {
            return Ok(());
        }
        let block = std::mem::take(&mut self.block);
        let batch = build_batch(&self.path, &self.schema, &self.format, block)?;
        self.group.push(batch);
        if self.group.len() as u64 >= BLOCKS_PER_GROUP {
            self.ready.push(std::mem::take(&mut self.group));
            if self.ready.len() >= crate::par::threads() {
                self.write_groups()?;
            }
        }
        Ok(())
    }

    /// Encodes the gathered row groups in parallel and appends them to the file in order.
    fn write_groups(&mut self) -> Result<()> {
        let groups = std::mem::take(&mut self.ready);
        if groups.is_empty() {
            return Ok(());
        }
        // A column writer is made for its row group's index: the groups written so far.
        let first = self.file.flushed_row_groups().len();
        let (schema, factory) = (&self.schema, &self.factory);
        let encoded: Vec<parquet::errors::Result<Vec<ArrowColumnChunk>>> = crate::par::install(|| {
            groups
                .into_par_iter()
                .enumerate()
                .map(|(i, batches)| encode_group(schema, factory, first + i, &batches))
                .collect()
        });
        for chunks in encoded {
            let chunks = chunks.map_err(|e| write_error(&self.path, e))?;
            let mut rg = self
                .file
                .next_row_group()
                .map_err(|e| write_error(&self.path, e))?;
            for chunk in chunks {
                chunk
                    .append_to_row_group(&mut rg)
                    .map_err(|e| write_error(&self.path, e))?;
            }
            rg.close().map_err(|e| write_error(&self.path, e))?;
        }
        Ok(())
    }

    /// Writes the footer and fsyncs the file. Returns its record (for the index run) and
    /// where each value went (`offset` = its row).
    pub fn finish(mut self) -> Result<(FileRecord, Vec<StoredRow>)> {
        self.write_block()?;
        if !self.group.is_empty() {
            self.ready.push(std::mem::take(&mut self.group));
        }
        self.write_groups()?;
        let out = self
            .file
            .into_inner()
            .map_err(|e| write_error(&self.path, e))?;
        out.file.sync_all().ctx("fsync", &out.path)?;
        let record = FileRecord {
            id: self.id,
            kind: FileKind::Parquet,
            len: out.len,
            crc: out.crc.finalize(),
        };
        Ok((record, self.rows))
    }
}

fn write_error(path: &Path, e: parquet::errors::ParquetError) -> Error {
    match e {
        parquet::errors::ParquetError::External(inner) => match inner.downcast::<std::io::Error>() {
            Ok(io) => Error::io("write", path, *io),
            Err(other) => Error::InvalidArgument(format!("writing {}: {other}", path.display())),
        },
        e => Error::InvalidArgument(format!("writing {}: {e}", path.display())),
    }
}

/// Encodes one row group's batches: every column's pages, compressed, in memory.
fn encode_group(
    schema: &SchemaRef,
    factory: &ArrowRowGroupWriterFactory,
    index: usize,
    batches: &[RecordBatch],
) -> parquet::errors::Result<Vec<ArrowColumnChunk>> {
    let mut writers = factory.create_column_writers(index)?;
    for batch in batches {
        let mut w = writers.iter_mut();
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            for leaf in compute_leaves(field, column)? {
                let Some(writer) = w.next() else {
                    return Err(parquet::errors::ParquetError::General(
                        "more leaves than column writers".into(),
                    ));
                };
                writer.write(&leaf)?;
            }
        }
    }
    writers.into_iter().map(|w| w.close()).collect()
}

/// The Arrow batch of one block, in the segment schema.
fn build_batch(
    path: &Path,
    schema: &SchemaRef,
    format: &SegmentFormat,
    b: Block,
) -> Result<RecordBatch> {
    let bad = |e: arrow_schema::ArrowError| Error::InvalidArgument(format!("{}: {e}", path.display()));
    let n = b.crcs.len();
    let digest = FixedSizeBinaryArray::try_new(32, Buffer::from_vec(b.digests), None).map_err(bad)?;
    let crc = UInt32Array::new(ScalarBuffer::from(b.crcs), None);
    let offsets = |unit: usize| -> Result<OffsetBuffer<i32>> {
        let mut o = Vec::with_capacity(n + 1);
        o.push(0i32);
        for &end in &b.ends {
            o.push(i32::try_from(end / unit).map_err(|_| {
                Error::InvalidArgument("a block of values over 2 GiB does not fit a segment".into())
            })?);
        }
        Ok(OffsetBuffer::new(ScalarBuffer::from(o)))
    };
    let value_field = schema.field(2);
    let value: ArrayRef = match (format, value_field.data_type()) {
        (SegmentFormat::FixedTensor { dtype, .. }, DataType::FixedSizeList(item, size)) => {
            let child = primitive(arrow_type(*dtype), dtype.size(), b.data).map_err(bad)?;
            Arc::new(FixedSizeListArray::try_new(item.clone(), *size, child, None).map_err(bad)?)
        }
        (SegmentFormat::VarTensor { dtype, rank }, DataType::Struct(fields)) => {
            let offs = offsets(dtype.size())?;
            let child = primitive(arrow_type(*dtype), dtype.size(), b.data).map_err(bad)?;
            let DataType::List(item) = fields[0].data_type() else {
                return Err(Error::InvalidArgument("segment schema: no data list".into()));
            };
            let data = ListArray::try_new(item.clone(), offs, child, None).map_err(bad)?;
            let DataType::FixedSizeList(dim, _) = fields[1].data_type() else {
                return Err(Error::InvalidArgument("segment schema: no shape list".into()));
            };
            let dims = Int32Array::new(ScalarBuffer::from(b.shapes), None);
            let shape = FixedSizeListArray::try_new(dim.clone(), i32::from(*rank), Arc::new(dims), None)
                .map_err(bad)?;
            Arc::new(
                StructArray::try_new(fields.clone(), vec![Arc::new(data), Arc::new(shape)], None)
                    .map_err(bad)?,
            )
        }
        (SegmentFormat::Str, _) => Arc::new(
            StringArray::try_new(offsets(1)?, Buffer::from_vec(b.data), None).map_err(bad)?,
        ),
        (SegmentFormat::Bytes, _) => Arc::new(
            BinaryArray::try_new(offsets(1)?, Buffer::from_vec(b.data), None).map_err(bad)?,
        ),
        _ => return Err(Error::InvalidArgument("segment schema and format disagree".into())),
    };
    RecordBatch::try_new(schema.clone(), vec![Arc::new(digest), Arc::new(crc), value]).map_err(bad)
}

fn primitive(t: DataType, width: usize, data: Vec<u8>) -> std::result::Result<ArrayRef, arrow_schema::ArrowError> {
    let len = data.len() / width.max(1);
    let d = arrow_data::ArrayData::builder(t)
        .len(len)
        .add_buffer(Buffer::from_vec(data))
        .build()?;
    Ok(make_array(d))
}

