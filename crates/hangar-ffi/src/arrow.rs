//! Arrow C Data Interface export: a column's samples at a commit as an `ArrowArrayStream`,
//! readable by pyarrow, DuckDB, Arrow.jl and Arrow C++ without copying across the boundary.

use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, SchemaRef};
use hangar_core::arrow_export::{export_schema, BatchBuilder, ExportKind};
use hangar_core::{ReaderColumn, SampleKey};

use crate::boundary::{check_out, guard, handle, invalid};
use crate::column::{hangar_column, read_committed};
use crate::status::*;

/// Rows per record batch, and the value bytes at which a batch is cut early.
const BATCH_ROWS: usize = 4096;
const BATCH_BYTES: usize = 64 << 20;

struct ColumnBatches {
    col: ReaderColumn,
    keys: std::vec::IntoIter<(SampleKey, Option<SampleKey>)>,
    schema: SchemaRef,
    kind: ExportKind,
    sent_any: bool,
}

impl ColumnBatches {
    fn next_batch(&mut self) -> hangar_core::Result<Option<RecordBatch>> {
        let mut b = BatchBuilder::default();
        while b.len() < BATCH_ROWS && b.value_bytes() < BATCH_BYTES {
            let Some((k, sub)) = self.keys.next() else {
                break;
            };
            let v = read_committed(&self.col, k.clone(), sub.clone())?;
            b.push(k, sub, &v);
        }
        // An empty column still yields one (empty) batch, so readers see the schema in use.
        if b.is_empty() && self.sent_any {
            return Ok(None);
        }
        self.sent_any = true;
        b.finish(&self.schema, &self.kind).map(Some)
    }
}

impl Iterator for ColumnBatches {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_batch()
            .map_err(|e| ArrowError::ExternalError(Box::new(e)))
            .transpose()
    }
}

impl RecordBatchReader for ColumnBatches {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

/// Exports the samples of a reader column as an Arrow C stream (the Arrow C Data
/// Interface's `struct ArrowArrayStream`, defined above when not already defined) written
/// to `*out`. Columns: `key` (int64 when every key is an integer, else utf8, where integer
/// keys mixed in with string keys read `int:N`), `subkey` for nested columns, and `value`: `arrow.fixed_shape_tensor` / `arrow.variable_shape_tensor`
/// extension arrays for numeric columns, utf8 or binary for text. The caller owns the
/// stream and must call its `release` callback when done; it stays readable after the
/// checkout closes. Batches hold up to 4096 rows. Writer columns:
/// `HANGAR_E_INVALID_ARGUMENT` (commit first, then read the commit).
#[no_mangle]
pub extern "C" fn hangar_column_arrow_stream(
    column: *const hangar_column,
    out: *mut FFI_ArrowArrayStream,
) -> hangar_status {
    guard(|| {
        check_out(out, "out")?;
        let c = handle(column, "column")?;
        c.ensure_open()?;
        let Some(col) = c.reader_col() else {
            return Err(invalid(
                "Arrow streams export committed data: open the column from a reader checkout",
            ));
        };
        let schema = col.schema().clone();
        let nested = schema.is_nested();
        let mut keys = Vec::new();
        for k in col.keys()? {
            let k = k?;
            if nested {
                for s in col.subsample_keys(k.clone())? {
                    keys.push((k.clone(), Some(s)));
                }
            } else {
                keys.push((k, None));
            }
        }
        let is_int = |k: &SampleKey| matches!(k, SampleKey::Int(_));
        let int_keys = keys.iter().all(|(k, _)| is_int(k));
        let int_subkeys = nested.then(|| keys.iter().all(|(_, s)| s.as_ref().is_some_and(is_int)));
        let kind = ExportKind::for_schema(&schema);
        let batches = ColumnBatches {
            col: col.clone(),
            keys: keys.into_iter(),
            schema: export_schema(&kind, int_keys, int_subkeys),
            kind,
            sent_any: false,
        };
        let stream = FFI_ArrowArrayStream::new(Box::new(batches));
        // SAFETY: checked non-NULL; the caller provides space for one ArrowArrayStream,
        // whose previous contents (if any) are overwritten without being released, as the
        // C stream interface specifies for an output parameter.
        unsafe { std::ptr::write(out, stream) };
        Ok(())
    })
}
