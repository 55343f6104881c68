//! Values waiting in memory to be written to a segment as one Arrow record batch, and the
//! record-batch message that carries them.
//!
//! The message is built here rather than through arrow-ipc's `RecordBatch` encoder: every
//! segment has one of four fixed schemas, so the flatbuffer header is small and its
//! buffer list is known, and the value bytes go from the pending buffers straight to the
//! file — no intermediate arrays, no copy into an encoder buffer. Arrow's own reader is
//! the judge in the tests (`tests/store/segments.rs`).

use arrow_ipc::{FieldNode, MessageHeader, MetadataVersion};

use super::format::SegmentFormat;
use crate::digest::Digest;

/// Buffers are padded to this alignment, as arrow-rs does by default.
pub const ALIGNMENT: usize = 64;

/// Rows of one [`SegmentFormat`] held in memory until they are written. The buffers are
/// kept between batches, so steady-state staging allocates nothing.
#[derive(Debug)]
pub struct PendingBatch {
    format: SegmentFormat,
    /// 32 bytes per row.
    digests: Vec<u8>,
    crcs: Vec<u32>,
    /// Value bytes, concatenated.
    data: Vec<u8>,
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
            data: Vec::new(),
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
        self.crcs.len()
    }

    /// True if there are no rows.
    pub fn is_empty(&self) -> bool {
        self.crcs.is_empty()
    }

    /// Bytes of value data held.
    pub fn data_len(&self) -> usize {
        self.data.len()
    }

    /// Empties the batch, keeping its buffers for reuse.
    pub fn clear(&mut self) {
        self.digests.clear();
        self.crcs.clear();
        self.data.clear();
        self.ends.clear();
        self.shapes.clear();
    }

    /// Reserves room for about `bytes` of values (to avoid growing by reallocation).
    pub fn reserve(&mut self, bytes: usize, rows: usize) {
        self.data.reserve(bytes);
        self.digests.reserve(rows * 32);
        self.crcs.reserve(rows);
        self.ends.reserve(rows);
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
        self.digests.extend_from_slice(&digest.0);
        self.crcs.push(crc);
        self.data.extend_from_slice(bytes);
        self.ends.push(self.data.len());
        self.crcs.len() - 1
    }

    /// The bytes of row `i`.
    pub fn value(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.data[start..self.ends[i]]
    }

    /// The digest of row `i`.
    pub fn digest(&self, i: usize) -> Digest {
        Digest::from_slice(&self.digests[i * 32..(i + 1) * 32]).expect("32 bytes per row")
    }

    /// The checksums, in row order.
    pub fn crcs(&self) -> &[u32] {
        &self.crcs
    }

    /// Start and length of each row's bytes within the batch's value data.
    pub fn spans(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.ends.iter().scan(0, |start, &end| {
            let s = (*start, end - *start);
            *start = end;
            Some(s)
        })
    }

    /// The rows as a [`BatchParts`] (what a segment writer appends).
    pub fn parts(&self) -> BatchParts<'_> {
        BatchParts {
            format: &self.format,
            digests: &self.digests,
            crcs: &self.crcs,
            data: ValueData::Whole(&self.data),
            ends: &self.ends,
            shapes: &self.shapes,
        }
    }

    /// Encodes the batch as an IPC record-batch message (see [`BatchParts::encode`]).
    pub fn encode(&self) -> Option<EncodedBatch<'_>> {
        self.parts().encode()
    }
}

/// The rows of one record batch, borrowed: from a [`PendingBatch`], or straight from a
/// caller's buffer of fixed-size values that lie end to end (written with no copy).
#[derive(Debug, Clone, Copy)]
pub struct BatchParts<'a> {
    /// The format of every row.
    pub format: &'a SegmentFormat,
    /// 32 bytes per row.
    pub digests: &'a [u8],
    /// CRC-32 of each row's bytes.
    pub crcs: &'a [u32],
    /// Value bytes, concatenated.
    pub data: ValueData<'a>,
    /// End offset in `data` of each row.
    pub ends: &'a [usize],
    /// For variable-shape tensors, `rank` dimensions per row.
    pub shapes: &'a [i32],
}

/// The value bytes of a batch: one slice holding them end to end, or each value's own
/// slice in row order (written with `writev`, never copied together).
#[derive(Debug, Clone, Copy)]
pub enum ValueData<'a> {
    /// The values, concatenated.
    Whole(&'a [u8]),
    /// The values, one slice each.
    Pieces(&'a [&'a [u8]]),
}

impl ValueData<'_> {
    /// Bytes in all.
    pub fn len(&self) -> usize {
        match self {
            ValueData::Whole(b) => b.len(),
            ValueData::Pieces(p) => p.iter().map(|b| b.len()).sum(),
        }
    }

    /// True if there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<'a> BatchParts<'a> {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.crcs.len()
    }

    /// The digest of row `i`.
    pub fn digest(&self, i: usize) -> Digest {
        Digest::from_slice(&self.digests[i * 32..(i + 1) * 32]).expect("32 bytes per row")
    }

    /// Start and length of each row's bytes within the batch's value data.
    pub fn spans(&self) -> impl Iterator<Item = (usize, usize)> + 'a {
        self.ends.iter().scan(0, |start, &end| {
            let s = (*start, end - *start);
            *start = end;
            Some(s)
        })
    }

    /// The body buffers of the record batch in Arrow's depth-first order, and the field
    /// nodes. Returns `None` if an offset would overflow Arrow's 32-bit offsets.
    fn layout(&self) -> Option<(Vec<FieldNode>, Vec<BodyBuffer<'a>>, usize)> {
        let n = self.rows() as i64;
        let digests: &[u8] = self.digests;
        let crcs: &[u8] = u32_bytes(self.crcs);
        let mut nodes = vec![FieldNode::new(n, 0), FieldNode::new(n, 0)];
        let mut bufs = vec![
            BodyBuffer::Empty,
            BodyBuffer::Bytes(digests),
            BodyBuffer::Empty,
            BodyBuffer::Bytes(crcs),
        ];
        let value_index;
        match self.format {
            SegmentFormat::FixedTensor { dtype, .. } => {
                nodes.push(FieldNode::new(n, 0));
                nodes.push(FieldNode::new((self.data.len() / dtype.size()) as i64, 0));
                bufs.extend([BodyBuffer::Empty, BodyBuffer::Empty]);
                value_index = bufs.len();
                bufs.push(BodyBuffer::values(self.data));
            }
            SegmentFormat::VarTensor { dtype, rank } => {
                let items = self.data.len() / dtype.size();
                nodes.push(FieldNode::new(n, 0)); // struct
                nodes.push(FieldNode::new(n, 0)); // data: list
                nodes.push(FieldNode::new(items as i64, 0)); // list items
                nodes.push(FieldNode::new(n, 0)); // shape: fixed-size list
                nodes.push(FieldNode::new(n * i64::from(*rank), 0)); // shape items
                let offsets = offsets_i32(self.ends, dtype.size())?;
                bufs.extend([
                    BodyBuffer::Empty,
                    BodyBuffer::Empty,
                    BodyBuffer::Owned(offsets),
                    BodyBuffer::Empty,
                ]);
                value_index = bufs.len();
                bufs.push(BodyBuffer::values(self.data));
                bufs.extend([
                    BodyBuffer::Empty,
                    BodyBuffer::Empty,
                    BodyBuffer::Bytes(i32_bytes(self.shapes)),
                ]);
            }
            SegmentFormat::Str | SegmentFormat::Bytes => {
                nodes.push(FieldNode::new(n, 0));
                let offsets = offsets_i32(self.ends, 1)?;
                bufs.extend([BodyBuffer::Empty, BodyBuffer::Owned(offsets)]);
                value_index = bufs.len();
                bufs.push(BodyBuffer::values(self.data));
            }
        }
        Some((nodes, bufs, value_index))
    }

    /// Encodes the batch as an IPC record-batch message: the framed header and the body
    /// buffers (to be written in order, each padded to [`ALIGNMENT`]). Also returns the
    /// offset of the value bytes within the body.
    pub fn encode(&self) -> Option<EncodedBatch<'a>> {
        let (nodes, bufs, value_index) = self.layout()?;
        let mut offsets = Vec::with_capacity(bufs.len());
        let mut body_len = 0usize;
        for b in &bufs {
            offsets.push(arrow_ipc::Buffer::new(body_len as i64, b.len() as i64));
            body_len += padded(b.len());
        }
        let values_at = offsets[value_index].offset() as u64;
        let mut fbb =
            flatbuffers::FlatBufferBuilder::with_capacity(256 + 16 * (nodes.len() + offsets.len()));
        let nodes_fb = fbb.create_vector(&nodes);
        let buffers_fb = fbb.create_vector(&offsets);
        let rb = {
            let mut b = arrow_ipc::RecordBatchBuilder::new(&mut fbb);
            b.add_length(self.rows() as i64);
            b.add_nodes(nodes_fb);
            b.add_buffers(buffers_fb);
            b.finish()
        };
        let message = {
            let mut m = arrow_ipc::MessageBuilder::new(&mut fbb);
            m.add_version(MetadataVersion::V5);
            m.add_header_type(MessageHeader::RecordBatch);
            m.add_header(rb.as_union_value());
            m.add_bodyLength(body_len as i64);
            m.finish()
        };
        fbb.finish(message, None);
        let meta = fbb.finished_data();
        let header_len = padded(8 + meta.len());
        let mut header = Vec::with_capacity(header_len);
        header.extend_from_slice(&0xFFFF_FFFFu32.to_le_bytes());
        header.extend_from_slice(&((header_len - 8) as i32).to_le_bytes());
        header.extend_from_slice(meta);
        header.resize(header_len, 0);
        Some(EncodedBatch {
            header,
            buffers: bufs,
            body_len,
            values_at,
        })
    }
}

/// A record-batch message ready to be written.
#[derive(Debug)]
pub struct EncodedBatch<'a> {
    /// Continuation marker, metadata length and the flatbuffer metadata, padded.
    pub header: Vec<u8>,
    /// Body buffers, each to be followed by padding to [`ALIGNMENT`].
    pub buffers: Vec<BodyBuffer<'a>>,
    /// Total body length, padding included.
    pub body_len: usize,
    /// Offset of the value bytes within the body.
    pub values_at: u64,
}

/// One buffer of a message body.
#[derive(Debug)]
pub enum BodyBuffer<'a> {
    /// A zero-length buffer (validity of a column without nulls).
    Empty,
    /// Borrowed bytes.
    Bytes(&'a [u8]),
    /// Bytes computed for this message (offsets).
    Owned(Vec<u8>),
    /// Borrowed slices that make one buffer, in order, and their total length.
    Pieces(&'a [&'a [u8]], usize),
}

impl<'a> BodyBuffer<'a> {
    fn values(data: ValueData<'a>) -> BodyBuffer<'a> {
        match data {
            ValueData::Whole(b) => BodyBuffer::Bytes(b),
            ValueData::Pieces(p) => BodyBuffer::Pieces(p, data.len()),
        }
    }

    /// The slices that make up the buffer, in order (appended to `out`).
    pub fn push_slices<'s>(&'s self, out: &mut Vec<std::io::IoSlice<'s>>) {
        match self {
            BodyBuffer::Empty => {}
            BodyBuffer::Bytes(b) => out.push(std::io::IoSlice::new(b)),
            BodyBuffer::Owned(v) => out.push(std::io::IoSlice::new(v)),
            BodyBuffer::Pieces(p, _) => out.extend(
                p.iter()
                    .filter(|b| !b.is_empty())
                    .map(|b| std::io::IoSlice::new(b)),
            ),
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        match self {
            BodyBuffer::Empty => 0,
            BodyBuffer::Bytes(b) => b.len(),
            BodyBuffer::Owned(v) => v.len(),
            BodyBuffer::Pieces(_, n) => *n,
        }
    }

    /// True for a zero-length buffer.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `n` rounded up to [`ALIGNMENT`].
pub fn padded(n: usize) -> usize {
    n.div_ceil(ALIGNMENT) * ALIGNMENT
}

fn offsets_i32(ends: &[usize], item_size: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity((ends.len() + 1) * 4);
    out.extend_from_slice(&0i32.to_le_bytes());
    for &e in ends {
        out.extend_from_slice(&i32::try_from(e / item_size).ok()?.to_le_bytes());
    }
    Some(out)
}

fn u32_bytes(v: &[u32]) -> &[u8] {
    bytemuck::cast_slice(v)
}

fn i32_bytes(v: &[i32]) -> &[u8] {
    bytemuck::cast_slice(v)
}
