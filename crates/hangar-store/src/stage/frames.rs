//! Staging journal frames: their types, and how the store writes and reads its own.

use super::*;

pub(super) mod frame {
    pub const BASE: u8 = 1;
    pub const RECORD: u8 = 2;
    pub const SEGMENT_CREATED: u8 = 3;
    pub const BATCH_STORED: u8 = 4;
    pub const SEGMENT_SEALED: u8 = 5;
    pub const VALUE: u8 = 6;
    /// The highest index run sequence published when this journal was started: a run
    /// missing later is detected even if it was the newest.
    pub const INDEX_SEQ: u8 = 7;
    /// A file id taken before its segment or pack is created: if the process dies before
    /// the file's own frames or index run refer to it, the next writer open can prove the
    /// file is garbage of that interrupted write and delete it.
    pub const FILE_RESERVED: u8 = 8;

    /// True for the frames that say where staged values are (segments created, batches
    /// stored, segments sealed, write-through payloads): what a view opened without its
    /// values skips.
    pub fn is_value_frame(t: u8) -> bool {
        matches!(t, SEGMENT_CREATED | BATCH_STORED | SEGMENT_SEALED | VALUE)
    }
    /// A record of the layer above that the next record frame continues: one change too
    /// large for a frame, split. The frames of a group are written in one `write`, and
    /// a group the journal does not hold to its closing `RECORD` frame (a write cut
    /// short) is cut off whole at the next open: the change is all there or not at all.
    pub const RECORD_PART: u8 = 9;
}

/// The first frames of a new journal: its base, the index's highest run sequence, and
/// the reservations it carries over.
pub(super) fn journal_start(
    base: &[u8],
    index_seq: Option<u32>,
    reserved: &[(FileId, FileKind)],
) -> Vec<u8> {
    let mut out = Vec::new();
    push_frame(&mut out, frame::BASE, base);
    if let Some(seq) = index_seq {
        let mut e = Encoder::new();
        e.u32(seq);
        push_frame(&mut out, frame::INDEX_SEQ, e.as_slice());
    }
    for &(id, kind) in reserved {
        let mut e = Encoder::new();
        e.u32(id).u8(kind as u8);
        push_frame(&mut out, frame::FILE_RESERVED, e.as_slice());
    }
    out
}

/// Appends a `SEGMENT_CREATED` frame.
pub(super) fn push_segment_created(
    out: &mut Vec<u8>,
    id: FileId,
    header_len: u64,
    format: &SegmentFormat,
    compression: Compression,
) {
    let mut e = Encoder::new();
    e.u32(id).u64(header_len);
    format.encode(&mut e);
    // Compressed segments only (absent: uncompressed, as journals of earlier builds).
    if compression.is_compressed() {
        let (code, level) = compression.code();
        e.u8(code).u8(level);
    }
    push_frame(out, frame::SEGMENT_CREATED, e.as_slice());
}

/// Appends a `BATCH_STORED` frame; `end_crc` is the CRC-32 of the whole segment file
/// through this block (what resuming the segment continues from, instead of reading it).
pub(super) fn push_batch_stored(
    out: &mut Vec<u8>,
    id: FileId,
    block: &Block,
    rows: &[StoredRow],
    end_crc: Option<u32>,
) {
    let mut e = Encoder::with_capacity(44 + rows.len() * 56);
    e.u32(id)
        .u64(block.offset)
        .u32(block.meta_len)
        .u64(block.body_len)
        .varint(rows.len() as u64);
    for r in rows {
        e.digest(&r.digest).u64(r.offset).u64(r.len).u32(r.crc);
    }
    if let Some(crc) = end_crc {
        e.u32(crc);
    }
    push_frame(out, frame::BATCH_STORED, e.as_slice());
}

/// Appends a `SEGMENT_SEALED` frame.
pub(super) fn push_segment_sealed(out: &mut Vec<u8>, record: &FileRecord) {
    let mut e = Encoder::new();
    e.u32(record.id).u64(record.len).u32(record.crc);
    push_frame(out, frame::SEGMENT_SEALED, e.as_slice());
}

/// The shapes of a variable-shape tensor block's rows (`rank`, then `rank` dims per
/// row), read from the block's last body buffer; `None` for other formats.
pub(super) fn block_shapes(
    path: &std::path::Path,
    map: &crate::mmap::MappedFile,
    format: &SegmentFormat,
    block: &Block,
    rows: usize,
) -> Result<Option<(usize, Vec<u64>)>> {
    let SegmentFormat::VarTensor { rank, .. } = format else {
        return Ok(None);
    };
    let rank = usize::from(*rank);
    let len = rows * rank * 4;
    let start = block
        .end()
        .checked_sub(crate::segment::batch::padded(len) as u64)
        .ok_or_else(|| Error::corrupt(path, "a staging block too short for its shapes"))?;
    let bytes = map.slice(start, len as u64)?;
    let dims = bytes
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")))
        .map(|d| u64::try_from(d).map_err(|_| Error::corrupt(path, "a negative staged shape")))
        .collect::<Result<Vec<u64>>>()?;
    Ok(Some((rank, dims)))
}

/// Decodes a `BATCH_STORED` frame: the segment, the block, its rows and, when the frame
/// has it, the file's CRC-32 through the block.
pub(super) fn decode_batch_stored(body: &[u8]) -> DecodeResult<BatchStored> {
    let mut d = Decoder::new(body);
    let id = d.u32()?;
    let block = Block {
        offset: d.u64()?,
        meta_len: d.u32()?,
        body_len: d.u64()?,
    };
    let n = d.count(ROW_BYTES)?;
    // `count` checked that the frame holds n rows of fixed size: they are cut from one
    // slice (a writer's open decodes every staged value's row).
    let all = d.take(n * ROW_BYTES)?;
    let rows = all
        .chunks_exact(ROW_BYTES)
        .map(|r| {
            let (digest, r) = r.split_at(32);
            let (offset, r) = r.split_at(8);
            let (len, crc) = r.split_at(8);
            StoredRow {
                digest: Digest(digest.try_into().expect("32 bytes")),
                offset: u64::from_le_bytes(offset.try_into().expect("8 bytes")),
                len: u64::from_le_bytes(len.try_into().expect("8 bytes")),
                crc: u32::from_le_bytes(crc.try_into().expect("4 bytes")),
            }
        })
        .collect();
    let end_crc = if d.remaining() == 0 {
        None
    } else {
        Some(d.u32()?)
    };
    d.finish()?;
    Ok((id, block, rows, end_crc))
}

/// Bytes of one row of a `BATCH_STORED` frame: digest, offset, length, CRC-32.
const ROW_BYTES: usize = 32 + 8 + 8 + 4;

/// The number of rows a `BATCH_STORED` frame lists, read from its header alone.
pub(super) fn batch_stored_rows(body: &[u8]) -> DecodeResult<usize> {
    let mut d = Decoder::new(body);
    d.u32()?;
    d.u64()?;
    d.u32()?;
    d.u64()?;
    d.count(ROW_BYTES)
}

/// A decoded `BATCH_STORED` frame (see [`decode_batch_stored`]).
pub(super) type BatchStored = (FileId, Block, Vec<StoredRow>, Option<u32>);

/// The optional compression that ends a `SEGMENT_CREATED` or `VALUE` frame (absent:
/// uncompressed).
pub(super) fn decode_trailing_compression(d: &mut Decoder<'_>) -> DecodeResult<Compression> {
    if d.remaining() == 0 {
        return Ok(Compression::None);
    }
    let code = d.u8()?;
    let level = d.u8()?;
    let c = Compression::from_code(code, level)?;
    d.finish()?;
    Ok(c)
}
