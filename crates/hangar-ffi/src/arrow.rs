//! Arrow C Data Interface export: a column's samples at a commit as an `ArrowArrayStream`,
//! readable by pyarrow, DuckDB, Arrow.jl and Arrow C++ without copying across the boundary.

use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, SchemaRef};
use hangar_core::arrow_export::{export_schema, BatchBuilder, ColumnBatches, ExportKind};
use hangar_core::{ReaderColumn, SampleKey};

use crate::boundary::{check_out, guard, handle, invalid};
use crate::column::{hangar_column, read_committed};
use crate::status::*;

/// Rows per record batch, and the value bytes at which a batch is cut early.
const BATCH_ROWS: usize = 4096;
const BATCH_BYTES: usize = 64 << 20;

/// The samples of a nested column, read key by key (flat columns use
/// [`hangar_core::arrow_export::ColumnBatches`]).
struct NestedBatches {
    col: ReaderColumn,
    keys: std::vec::IntoIter<(SampleKey, Option<SampleKey>)>,
    schema: SchemaRef,
    kind: ExportKind,
    sent_any: bool,
}

impl NestedBatches {
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

impl Iterator for NestedBatches {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_batch()
            .map_err(|e| ArrowError::ExternalError(Box::new(e)))
            .transpose()
    }
}

impl RecordBatchReader for NestedBatches {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

/// A flat column's batches as a `RecordBatchReader`.
struct FlatBatches(ColumnBatches);

impl Iterator for FlatBatches {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0
            .next()
            .map(|r| r.map_err(|e| ArrowError::ExternalError(Box::new(e))))
    }
}

impl RecordBatchReader for FlatBatches {
    fn schema(&self) -> SchemaRef {
        self.0.schema()
    }
}

/// Exports the samples of a reader column as an Arrow C stream (the Arrow C Data
/// Interface's `struct ArrowArrayStream`, defined above when not already defined) written
/// to `*out`. Columns: `key` (int64 when every key is an integer, else utf8, where integer
/// keys mixed in with string keys read `int:N`), `subkey` for nested columns, and `value`: `arrow.fixed_shape_tensor` / `arrow.variable_shape_tensor`
/// extension arrays for numeric columns, utf8 or binary for text. The caller owns the
/// stream and must call its `release` callback when done; it stays readable after the
/// checkout closes. Batches hold up to 4096 rows (fewer once they hold 64 MiB); the values of a fixed-shape numeric
/// column that lie in one segment in key order (as an import or a batch put writes them)
/// are exported without copying: the batch maps the segment file. Writer columns:
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
        let schema = col.schema()?;
        let stream = if schema.is_nested() {
            let mut keys = Vec::new();
            for k in col.keys()? {
                let k = k?;
                for s in col.subsample_keys(k.clone())? {
                    keys.push((k.clone(), Some(s)));
                }
            }
            let is_int = |k: &SampleKey| matches!(k, SampleKey::Int(_));
            let int_keys = keys.iter().all(|(k, _)| is_int(k));
            let int_subkeys = keys.iter().all(|(_, s)| s.as_ref().is_some_and(is_int));
            let kind = ExportKind::for_schema(&schema);
            FFI_ArrowArrayStream::new(Box::new(NestedBatches {
                col: col.clone(),
                keys: keys.into_iter(),
                schema: export_schema(&kind, int_keys, Some(int_subkeys)),
                kind,
                sent_any: false,
            }))
        } else {
            FFI_ArrowArrayStream::new(Box::new(FlatBatches(ColumnBatches::new(
                col,
                BATCH_ROWS,
                BATCH_BYTES,
            )?)))
        };
        // SAFETY: checked non-NULL; the caller provides space for one ArrowArrayStream,
        // whose previous contents (if any) are overwritten without being released, as the
        // C stream interface specifies for an output parameter.
        unsafe { std::ptr::write(out, stream) };
        Ok(())
    })
}
