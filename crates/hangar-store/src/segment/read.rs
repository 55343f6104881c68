//! Reading a sealed segment as a whole (gc): its format and each row's digest and shape,
//! from the file's own footer and record-batch headers (the layout libhangar writes; see
//! `batch.rs`), every offset checked against the bytes present.

use std::path::Path;

use super::format::{SegmentFormat, SEGMENT_FORMAT_KEY};
use crate::digest::Digest;
use crate::error::{Error, Result};

/// One row of a sealed segment: its value's digest and, for a variable-shape tensor,
/// its shape (empty otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRow {
    /// The value digest the row records.
    pub digest: Digest,
    /// The value's shape (variable-shape tensors only).
    pub shape: Vec<u64>,
}

/// The format and rows of the sealed segment `bytes` (read from `path`, named in
/// errors).
pub fn sealed_rows(path: &Path, bytes: &[u8]) -> Result<(SegmentFormat, Vec<SealedRow>)> {
    let bad = |d: String| Error::corrupt(path, d);
    // Magic, footer bounds, schema with the segment format, blocks inside the data.
    let super::writer::SealedFooter {
        footer,
        schema,
        footer_start,
    } = super::writer::checked_footer(path, bytes)?;
    let json = schema
        .metadata()
        .get(SEGMENT_FORMAT_KEY)
        .ok_or_else(|| bad("schema lacks the hangar segment format".into()))?;
    let format = SegmentFormat::from_json(json).map_err(|e| bad(e.to_string()))?;
    let rank = match &format {
        SegmentFormat::VarTensor { rank, .. } => usize::from(*rank),
        _ => 0,
    };
    let mut rows = Vec::new();
    for block in footer.recordBatches().into_iter().flatten() {
        let at = usize::try_from(block.offset()).map_err(|_| bad("negative block offset".into()))?;
        let meta_len = usize::try_from(block.metaDataLength())
            .map_err(|_| bad("negative metadata length".into()))?;
        // Continuation marker and length, then the flatbuffer message.
        let meta = at
            .checked_add(meta_len)
            .filter(|_| meta_len >= 8)
            .and_then(|end| bytes.get(at + 8..end))
            .ok_or_else(|| bad(format!("record batch header at {at} lies outside the file")))?;
        let message = arrow_ipc::root_as_message(meta)
            .map_err(|e| bad(format!("bad record batch header at {at}: {e}")))?;
        let batch = message
            .header_as_record_batch()
            .ok_or_else(|| bad(format!("block at {at} is not a record batch")))?;
        let n = usize::try_from(batch.length()).map_err(|_| bad("negative row count".into()))?;
        let buffers = batch
            .buffers()
            .ok_or_else(|| bad(format!("record batch at {at} has no buffers")))?;
        let body = at.saturating_add(meta_len);
        let buffer = |i: usize, want: usize| -> Result<&[u8]> {
            if i >= buffers.len() {
                return Err(bad(format!("record batch at {at} lacks buffer {i}")));
            }
            let b = buffers.get(i);
            let start = usize::try_from(b.offset())
                .ok()
                .and_then(|o| body.checked_add(o))
                .ok_or_else(|| bad(format!("buffer {i} of the batch at {at} is out of range")))?;
            if usize::try_from(b.length()).ok() != Some(want) {
                return Err(bad(format!(
                    "buffer {i} of the batch at {at} holds {} bytes where {want} belong",
                    b.length()
                )));
            }
            start
                .checked_add(want)
                .filter(|&end| end <= footer_start)
                .and_then(|end| bytes.get(start..end))
                .ok_or_else(|| bad(format!("buffer {i} of the batch at {at} is out of range")))
        };
        let digests = buffer(1, n.checked_mul(32).ok_or_else(|| bad("row count overflows".into()))?)?;
        let dims: Option<&[u8]> = if rank > 0 {
            let want = n
                .checked_mul(rank * 4)
                .ok_or_else(|| bad("row count overflows".into()))?;
            Some(buffer(buffers.len().saturating_sub(1), want)?)
        } else {
            None
        };
        for i in 0..n {
            let digest = Digest::from_slice(&digests[i * 32..(i + 1) * 32]).expect("32 bytes");
            let shape = match dims {
                Some(d) => d[i * rank * 4..(i + 1) * rank * 4]
                    .chunks_exact(4)
                    .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")))
                    .map(|v| u64::try_from(v).map_err(|_| bad("a negative dimension".into())))
                    .collect::<Result<Vec<u64>>>()?,
                None => Vec::new(),
            };
            rows.push(SealedRow { digest, shape });
        }
    }
    Ok((format, rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::segment::{PendingBatch, SegmentWriter};

    #[test]
    fn rows_and_shapes_read_back_and_damage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg.arrow");
        let format = SegmentFormat::VarTensor {
            dtype: DType::U8,
            rank: 2,
        };
        let mut w = SegmentWriter::create(&path, 1, format.clone()).unwrap();
        let mut want = Vec::new();
        for batch in 0..3u8 {
            let mut p = PendingBatch::new(format.clone());
            for i in 0..5u8 {
                let shape = [u64::from(i) + 1, 2];
                let bytes = vec![batch * 10 + i; (usize::from(i) + 1) * 2];
                let d = Digest::from_slice(&[batch * 10 + i; 32]).unwrap();
                p.push(d, crate::digest::crc32(&bytes), &shape, &bytes);
                want.push(SealedRow {
                    digest: d,
                    shape: shape.to_vec(),
                });
            }
            w.append(&p).unwrap();
        }
        w.seal().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let (f, rows) = sealed_rows(&path, &bytes).unwrap();
        assert_eq!(f, format);
        assert_eq!(rows, want);
        // Every truncation and every flipped byte: an error or the same rows, never a
        // panic.
        for cut in 0..bytes.len() {
            let _ = sealed_rows(&path, &bytes[..cut]);
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x5A;
            let _ = sealed_rows(&path, &b);
        }
    }
}
