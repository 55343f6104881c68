//! Values waiting in memory to be written to a segment as one Arrow record batch.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BinaryArray, FixedSizeBinaryArray, FixedSizeListArray, Float16Array, Float32Array,
    Float64Array, Int16Array, Int32Array, Int64Array, Int8Array, ListArray, RecordBatch,
    StringArray, StructArray, UInt16Array, UInt32Array, UInt64Array, UInt8Array,
};
use arrow_buffer::{Buffer, MutableBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::DataType;

use super::format::SegmentFormat;
use crate::digest::Digest;
use crate::dtype::DType;
use crate::error::{Error, Result};

/// Rows of one [`SegmentFormat`] held in memory until they are written.
#[derive(Debug)]
pub struct PendingBatch {
    format: SegmentFormat,
    digests: Vec<Digest>,
    crcs: Vec<u32>,
    /// Value bytes, concatenated. 64-byte aligned, so typed views are aligned.
    data: MutableBuffer,
    /// End offset in `data` of each row.
    ends: Vec<usize>,
    /// For variable-shape tensors, `rank` dimensions per row.
    shapes: Vec<i32>,
}

impl PendingBatch {
    /// An empty batch.
    pub fn new(format: SegmentFormat) -> Self {
        PendingBatch {
            format,
            digests: Vec::new(),
            crcs: Vec::new(),
            data: MutableBuffer::new(0),
            ends: Vec::new(),
            shapes: Vec::new(),
        }
    }

    /// The format of every row.
    pub fn format(&self) -> &SegmentFormat {
        &self.format
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.digests.len()
    }

    /// True if there are no rows.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Bytes of value data held.
    pub fn data_len(&self) -> usize {
        self.data.len()
    }

    /// Appends a row and returns its index. `shape` is required for variable-shape
    /// tensors (and ignored otherwise); the caller has validated value and shape.
    pub fn push(&mut self, digest: Digest, crc: u32, shape: &[u64], bytes: &[u8]) -> usize {
        if let SegmentFormat::VarTensor { rank, .. } = self.format {
            for i in 0..usize::from(rank) {
                let d = shape.get(i).copied().unwrap_or(0);
                self.shapes.push(i32::try_from(d).unwrap_or(i32::MAX));
            }
        }
        self.digests.push(digest);
        self.crcs.push(crc);
        self.data.extend_from_slice(bytes);
        self.ends.push(self.data.len());
        self.digests.len() - 1
    }

    /// The bytes of row `i`.
    pub fn value(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.data.as_slice()[start..self.ends[i]]
    }

    /// The digests, in row order.
    pub fn digests(&self) -> &[Digest] {
        &self.digests
    }

    /// The checksums, in row order.
    pub fn crcs(&self) -> &[u32] {
        &self.crcs
    }

    /// Start and length of each row's bytes within the batch's value data.
    pub fn spans(&self) -> Vec<(usize, usize)> {
        let mut start = 0;
        self.ends
            .iter()
            .map(|&end| {
                let s = (start, end - start);
                start = end;
                s
            })
            .collect()
    }

    /// Converts the rows into an Arrow record batch with the format's schema.
    pub fn into_record_batch(self) -> Result<RecordBatch> {
        let schema = self.format.arrow_schema();
        let n = self.digests.len();
        let arrow_err = |e: arrow_schema::ArrowError| {
            Error::InvalidArgument(format!("cannot build a segment batch: {e}"))
        };
        let mut digest_bytes = MutableBuffer::with_capacity(n * 32);
        for d in &self.digests {
            digest_bytes.extend_from_slice(&d.0);
        }
        let digests = FixedSizeBinaryArray::try_new(32, Buffer::from(digest_bytes), None)
            .map_err(arrow_err)?;
        let crcs = UInt32Array::new(ScalarBuffer::from(self.crcs), None);
        let value_field = schema.field(2).clone();
        let data = Buffer::from(self.data);
        let value: ArrayRef = match (&self.format, value_field.data_type()) {
            (SegmentFormat::FixedTensor { dtype, .. }, DataType::FixedSizeList(item, size)) => {
                let values = primitive(*dtype, data)?;
                Arc::new(
                    FixedSizeListArray::try_new(item.clone(), *size, values, None)
                        .map_err(arrow_err)?,
                )
            }
            (SegmentFormat::VarTensor { dtype, rank }, DataType::Struct(fields)) => {
                let item_size = dtype.size();
                let mut offsets = Vec::with_capacity(n + 1);
                offsets.push(0i32);
                for &end in &self.ends {
                    let items = i32::try_from(end / item_size).map_err(|_| {
                        Error::InvalidArgument("segment batch exceeds 2^31 elements".into())
                    })?;
                    offsets.push(items);
                }
                let values = primitive(*dtype, data)?;
                let item = match fields[0].data_type() {
                    DataType::List(item) => item.clone(),
                    _ => unreachable_schema()?,
                };
                let list = ListArray::try_new(
                    item,
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    values,
                    None,
                )
                .map_err(arrow_err)?;
                let shape_item = match fields[1].data_type() {
                    DataType::FixedSizeList(item, _) => item.clone(),
                    _ => unreachable_schema()?,
                };
                let shapes = FixedSizeListArray::try_new(
                    shape_item,
                    i32::from(*rank),
                    Arc::new(Int32Array::new(ScalarBuffer::from(self.shapes), None)),
                    None,
                )
                .map_err(arrow_err)?;
                Arc::new(
                    StructArray::try_new(
                        fields.clone(),
                        vec![Arc::new(list), Arc::new(shapes)],
                        None,
                    )
                    .map_err(arrow_err)?,
                )
            }
            (SegmentFormat::Str, _) => {
                let offsets = byte_offsets(&self.ends)?;
                Arc::new(StringArray::try_new(offsets, data, None).map_err(arrow_err)?)
            }
            (SegmentFormat::Bytes, _) => {
                let offsets = byte_offsets(&self.ends)?;
                Arc::new(BinaryArray::try_new(offsets, data, None).map_err(arrow_err)?)
            }
            _ => unreachable_schema()?,
        };
        RecordBatch::try_new(schema, vec![Arc::new(digests), Arc::new(crcs), value])
            .map_err(arrow_err)
    }
}

fn unreachable_schema<T>() -> Result<T> {
    Err(Error::InvalidArgument(
        "segment schema does not match its format".into(),
    ))
}

fn byte_offsets(ends: &[usize]) -> Result<OffsetBuffer<i32>> {
    let mut offsets = Vec::with_capacity(ends.len() + 1);
    offsets.push(0i32);
    for &e in ends {
        offsets.push(
            i32::try_from(e)
                .map_err(|_| Error::InvalidArgument("segment batch exceeds 2 GiB".into()))?,
        );
    }
    Ok(OffsetBuffer::new(ScalarBuffer::from(offsets)))
}

fn primitive(dtype: DType, data: Buffer) -> Result<ArrayRef> {
    let items = data.len() / dtype.size();
    macro_rules! arr {
        ($t:ty) => {
            Arc::new(<$t>::new(ScalarBuffer::new(data, 0, items), None)) as ArrayRef
        };
    }
    Ok(match dtype {
        DType::Bool | DType::I8 => arr!(Int8Array),
        DType::U8 => arr!(UInt8Array),
        DType::U16 => arr!(UInt16Array),
        DType::U32 => arr!(UInt32Array),
        DType::U64 => arr!(UInt64Array),
        DType::I16 => arr!(Int16Array),
        DType::I32 => arr!(Int32Array),
        DType::I64 => arr!(Int64Array),
        DType::F16 => arr!(Float16Array),
        DType::F32 => arr!(Float32Array),
        DType::F64 => arr!(Float64Array),
    })
}

/// Index of the IPC body buffer that holds the value bytes, in the depth-first buffer
/// order of the segment schema (digest: validity, values; crc32: validity, values; then
/// the value column).
pub fn value_buffer_index(format: &SegmentFormat) -> usize {
    match format {
        // list validity, item validity, item values
        SegmentFormat::FixedTensor { .. } => 6,
        // struct validity, list validity, list offsets, item validity, item values
        SegmentFormat::VarTensor { .. } => 8,
        // validity, offsets, values
        SegmentFormat::Str | SegmentFormat::Bytes => 6,
    }
}
