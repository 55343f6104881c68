//! Reading a sealed segment as a whole (gc): its format and each row's digest and shape.

use std::path::Path;

use arrow_array::{Array, FixedSizeBinaryArray, FixedSizeListArray, Int32Array, StructArray};

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
/// errors), decoded with arrow-rs one record batch at a time.
pub fn sealed_rows(path: &Path, bytes: &[u8]) -> Result<(SegmentFormat, Vec<SealedRow>)> {
    let bad = |d: String| Error::corrupt(path, d);
    super::check_sealed_structure(path, bytes)?;
    let reader = arrow_ipc::reader::FileReader::try_new(std::io::Cursor::new(bytes), None)
        .map_err(|e| bad(format!("not a readable Arrow IPC file: {e}")))?;
    let schema = reader.schema();
    let json = schema
        .metadata()
        .get(SEGMENT_FORMAT_KEY)
        .ok_or_else(|| bad("schema lacks the hangar segment format".into()))?;
    let format = SegmentFormat::from_json(json).map_err(|e| bad(e.to_string()))?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| bad(format!("unreadable record batch: {e}")))?;
        let digests = batch
            .column_by_name("digest")
            .and_then(|c| c.as_any().downcast_ref::<FixedSizeBinaryArray>())
            .filter(|c| c.value_length() == 32)
            .ok_or_else(|| bad("no digest column of 32-byte values".into()))?;
        let shapes = match &format {
            SegmentFormat::VarTensor { rank, .. } => {
                let shape = batch
                    .column_by_name("value")
                    .and_then(|c| c.as_any().downcast_ref::<StructArray>())
                    .and_then(|s| s.column_by_name("shape"))
                    .and_then(|c| c.as_any().downcast_ref::<FixedSizeListArray>())
                    .filter(|l| l.value_length() == i32::from(*rank))
                    .ok_or_else(|| bad("a variable-shape segment without its shapes".into()))?;
                let dims = shape
                    .values()
                    .as_any()
                    .downcast_ref::<Int32Array>()
                    .ok_or_else(|| bad("shapes that are not Int32".into()))?;
                Some((usize::from(*rank), dims.values().to_vec()))
            }
            _ => None,
        };
        for i in 0..batch.num_rows() {
            let digest = Digest::from_slice(digests.value(i)).expect("32-byte values");
            let shape = match &shapes {
                Some((rank, dims)) => dims
                    .get(i * rank..(i + 1) * rank)
                    .ok_or_else(|| bad("fewer shapes than rows".into()))?
                    .iter()
                    .map(|&d| u64::try_from(d).map_err(|_| bad("a negative dimension".into())))
                    .collect::<Result<Vec<u64>>>()?,
                None => Vec::new(),
            };
            rows.push(SealedRow { digest, shape });
        }
    }
    Ok((format, rows))
}
