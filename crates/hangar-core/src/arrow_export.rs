//! The Arrow form of a column's samples, shared by `hangar export` (Parquet, Arrow IPC)
//! and the C ABI's Arrow C stream: a `key` column (plus `subkey` for nested columns) and a
//! `value` column holding tensors as the canonical `arrow.fixed_shape_tensor` /
//! `arrow.variable_shape_tensor` extension types, strings as Utf8 and bytes as Binary.

use std::sync::Arc;

use arrow_array::types::*;
use arrow_array::{
    ArrayRef, BinaryArray, FixedSizeListArray, GenericListArray, Int32Array, Int64Array,
    PrimitiveArray, RecordBatch, StringArray, StructArray,
};
use arrow_buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use hangar_store::arrow_meta::{
    arrow_type, DTYPE_KEY as HANGAR_DTYPE, EXTENSION_METADATA_KEY as EXT_META,
    EXTENSION_NAME_KEY as EXT_NAME, FIXED_SHAPE_TENSOR as FIXED, VARIABLE_SHAPE_TENSOR as VARIABLE,
};

/// The field-metadata keys and canonical extension names this form uses (Arrow's
/// `ARROW:extension:name` / `ARROW:extension:metadata`, the fixed- and variable-shape
/// tensor extensions, and the key holding a tensor's hangar dtype): what a reader of
/// such a table (`hangar import` of a Parquet or Arrow file) recognizes.
pub use hangar_store::arrow_meta::{
    DTYPE_KEY, EXTENSION_METADATA_KEY, EXTENSION_NAME_KEY, FIXED_SHAPE_TENSOR,
    VARIABLE_SHAPE_TENSOR,
};

use crate::checkout::{bad_value, decode_key, decode_record};
use crate::error::{Error, Result};
use crate::schema::Held;
use crate::{ColumnKind, ColumnSchema, DType, ReaderColumn, SampleKey, Value};

/// What the exported value column holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportKind {
    /// Tensors of one shape: `arrow.fixed_shape_tensor` over a fixed-size list.
    Fixed {
        /// Element type.
        dtype: DType,
        /// The shape of every value.
        shape: Vec<usize>,
    },
    /// Tensors of one rank and varying shape: `arrow.variable_shape_tensor`.
    Variable {
        /// Element type.
        dtype: DType,
        /// The rank of every value.
        rank: usize,
    },
    /// UTF-8 strings.
    Str,
    /// Byte strings.
    Bytes,
}

fn element_field(name: &str, dtype: DType) -> Field {
    let f = Field::new(name, arrow_type(dtype), true);
    if dtype == DType::Bool {
        f.with_metadata(std::collections::HashMap::from([(
            HANGAR_DTYPE.to_string(),
            "bool".to_string(),
        )]))
    } else {
        f
    }
}

fn key_type(int: bool) -> DataType {
    if int {
        DataType::Int64
    } else {
        DataType::Utf8
    }
}

/// The schema of an export: integer key columns when every key is an integer;
/// `subkeys` is `Some(all integers)` for nested columns.
pub fn export_schema(kind: &ExportKind, int_keys: bool, subkeys: Option<bool>) -> SchemaRef {
    let mut fields = vec![Field::new("key", key_type(int_keys), false)];
    if let Some(int) = subkeys {
        fields.push(Field::new("subkey", key_type(int), false));
    }
    let value = match kind {
        ExportKind::Fixed { dtype, shape } if shape.is_empty() => element_field("value", *dtype),
        ExportKind::Fixed { dtype, shape } => {
            let n = shape.iter().product::<usize>() as i32;
            let meta = serde_json::json!({ "shape": shape }).to_string();
            let mut md: std::collections::HashMap<String, String> = [
                (EXT_NAME.to_string(), FIXED.to_string()),
                (EXT_META.to_string(), meta),
            ]
            .into();
            if *dtype == DType::Bool {
                md.insert(HANGAR_DTYPE.into(), "bool".into());
            }
            Field::new(
                "value",
                DataType::FixedSizeList(Arc::new(element_field("item", *dtype)), n),
                false,
            )
            .with_metadata(md)
        }
        ExportKind::Variable { dtype, rank } => {
            let data = Field::new(
                "data",
                DataType::List(Arc::new(element_field("item", *dtype))),
                true,
            );
            let shape = Field::new(
                "shape",
                DataType::FixedSizeList(
                    Arc::new(Field::new("item", DataType::Int32, true)),
                    *rank as i32,
                ),
                true,
            );
            let mut md: std::collections::HashMap<String, String> = [
                (EXT_NAME.to_string(), VARIABLE.to_string()),
                (EXT_META.to_string(), "{}".to_string()),
            ]
            .into();
            if *dtype == DType::Bool {
                md.insert(HANGAR_DTYPE.into(), "bool".into());
            }
            Field::new(
                "value",
                DataType::Struct(Fields::from(vec![data, shape])),
                false,
            )
            .with_metadata(md)
        }
        ExportKind::Str => Field::new("value", DataType::Utf8, false),
        ExportKind::Bytes => Field::new("value", DataType::Binary, false),
    };
    fields.push(value);
    Arc::new(Schema::new(fields))
}

/// A primitive array over `buf` (not copied). `buf` must be aligned to the element size
/// (callers copy into an aligned buffer otherwise).
fn prim_array(dtype: DType, buf: Buffer) -> ArrayRef {
    let n = buf.len() / dtype.size();
    macro_rules! p {
        ($t:ty) => {
            Arc::new(PrimitiveArray::<$t>::new(
                ScalarBuffer::new(buf, 0, n),
                None,
            )) as ArrayRef
        };
    }
    match dtype {
        DType::Bool | DType::U8 => p!(UInt8Type),
        DType::U16 => p!(UInt16Type),
        DType::U32 => p!(UInt32Type),
        DType::U64 => p!(UInt64Type),
        DType::I8 => p!(Int8Type),
        DType::I16 => p!(Int16Type),
        DType::I32 => p!(Int32Type),
        DType::I64 => p!(Int64Type),
        DType::F16 => p!(Float16Type),
        DType::F32 => p!(Float32Type),
        DType::F64 => p!(Float64Type),
    }
}

/// Rows gathered for one record batch.
#[derive(Debug, Default)]
pub struct BatchBuilder {
    keys: Vec<SampleKey>,
    subkeys: Vec<SampleKey>,
    data: Vec<u8>,
    shapes: Vec<i32>,
    offsets: Vec<i32>,
    strings: Vec<String>,
    blobs: Vec<Vec<u8>>,
    value_bytes: usize,
}

impl BatchBuilder {
    /// True when no row is gathered.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Rows gathered.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Bytes of values gathered (to keep batches below Arrow's 2 GiB offsets).
    pub fn value_bytes(&self) -> usize {
        self.value_bytes
    }

    /// Adds a row: the sample's key, its subsample key (nested columns) and its value.
    pub fn push(&mut self, key: SampleKey, subkey: Option<SampleKey>, value: &Value) {
        self.keys.push(key);
        if let Some(s) = subkey {
            self.subkeys.push(s);
        }
        match value {
            Value::Tensor(t) => {
                let (shape, data) = (t.shape(), t.as_bytes());
                if self.offsets.is_empty() {
                    self.offsets.push(0);
                }
                self.value_bytes += data.len();
                self.data.extend_from_slice(data);
                let last = *self.offsets.last().expect("starts with 0");
                let n = shape.iter().product::<usize>() as i32;
                self.offsets.push(last + n);
                self.shapes.extend(shape.iter().map(|&d| d as i32));
            }
            Value::Str(s) => {
                self.value_bytes += s.len();
                self.strings.push(s.clone());
            }
            Value::Bytes(b) => {
                self.value_bytes += b.len();
                self.blobs.push(b.clone());
            }
        }
    }

    /// Makes the record batch and empties the builder.
    pub fn finish(&mut self, schema: &SchemaRef, kind: &ExportKind) -> Result<RecordBatch> {
        let b = std::mem::take(self);
        let n = b.keys.len();
        let mut cols = vec![key_array(schema.field(0), &b.keys)?];
        if schema.fields().len() == 3 {
            cols.push(key_array(schema.field(1), &b.subkeys)?);
        }
        let value_field = schema.field(schema.fields().len() - 1);
        let value: ArrayRef = match (kind, value_field.data_type()) {
            (ExportKind::Fixed { dtype, shape }, _) if shape.is_empty() => {
                prim_array(*dtype, aligned(b.data))
            }
            (ExportKind::Fixed { dtype, .. }, DataType::FixedSizeList(item, size)) => {
                fixed_list(item, *size, prim_array(*dtype, aligned(b.data)))?
            }
            (ExportKind::Variable { dtype, rank }, DataType::Struct(fields)) => {
                let DataType::List(item) = fields[0].data_type() else {
                    return Err(mismatch());
                };
                let offsets = if b.offsets.is_empty() {
                    vec![0]
                } else {
                    b.offsets
                };
                let data = GenericListArray::<i32>::try_new(
                    item.clone(),
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    prim_array(*dtype, aligned(b.data)),
                    None,
                )
                .map_err(arrow_err)?;
                let DataType::FixedSizeList(sitem, _) = fields[1].data_type() else {
                    return Err(mismatch());
                };
                let shapes = FixedSizeListArray::try_new(
                    sitem.clone(),
                    *rank as i32,
                    Arc::new(Int32Array::from(b.shapes)),
                    None,
                )
                .map_err(arrow_err)?;
                Arc::new(
                    StructArray::try_new(
                        fields.clone(),
                        vec![Arc::new(data), Arc::new(shapes)],
                        None,
                    )
                    .map_err(arrow_err)?,
                )
            }
            (ExportKind::Str, _) => Arc::new(StringArray::from_iter_values(b.strings.iter())),
            (ExportKind::Bytes, _) => Arc::new(BinaryArray::from_iter_values(b.blobs.iter())),
            _ => return Err(mismatch()),
        };
        cols.push(value);
        let batch = RecordBatch::try_new(schema.clone(), cols).map_err(arrow_err)?;
        if batch.num_rows() != n {
            return Err(mismatch());
        }
        Ok(batch)
    }
}

fn fixed_list(item: &FieldRef, size: i32, values: ArrayRef) -> Result<ArrayRef> {
    Ok(Arc::new(
        FixedSizeListArray::try_new(item.clone(), size, values, None).map_err(arrow_err)?,
    ))
}

/// Gathered bytes as a buffer any element type can view: moved when the vector happens
/// to be aligned to 8 bytes (the allocator's usual answer), else copied once.
fn aligned(bytes: Vec<u8>) -> Buffer {
    if (bytes.as_ptr() as usize).is_multiple_of(8) {
        Buffer::from_vec(bytes)
    } else {
        crate::checkout::owned_copy(&bytes)
    }
}

fn key_array(field: &Field, keys: &[SampleKey]) -> Result<ArrayRef> {
    if field.data_type() == &DataType::Int64 {
        let v: Vec<i64> = keys
            .iter()
            .map(|k| match k {
                SampleKey::Int(i) => i64::try_from(*i).map_err(|_| {
                    Error::InvalidArgument(format!("key {i} does not fit an int64 key column"))
                }),
                SampleKey::Str(_) => Err(Error::InvalidArgument(
                    "string key in an integer key column".into(),
                )),
            })
            .collect::<Result<_>>()?;
        Ok(Arc::new(Int64Array::from(v)))
    } else {
        Ok(Arc::new(StringArray::from_iter_values(
            // A utf8 key column holds string keys as they are and, when integer keys
            // are mixed in, those as `int:N` (a string key never contains ':'), so the
            // integer key 3 and the string key "3" stay apart and read back as themselves.
            keys.iter().map(|k| match k {
                SampleKey::Int(i) => format!("int:{i}"),
                SampleKey::Str(s) => s.clone(),
            }),
        )))
    }
}

fn mismatch() -> Error {
    Error::InvalidArgument("the export schema does not match the column's values".into())
}

fn arrow_err(e: arrow_schema::ArrowError) -> Error {
    Error::InvalidArgument(format!("building an Arrow batch failed: {e}"))
}

impl ExportKind {
    /// The export form of a column with `schema`.
    pub fn for_schema(schema: &ColumnSchema) -> ExportKind {
        match (schema.kind(), schema.dtype()) {
            (ColumnKind::Str, _) => ExportKind::Str,
            (ColumnKind::Bytes, _) => ExportKind::Bytes,
            (ColumnKind::NdArray, Some(dtype)) if schema.variable_shape() => ExportKind::Variable {
                dtype,
                rank: schema.shape().len(),
            },
            (ColumnKind::NdArray, dtype) => ExportKind::Fixed {
                dtype: dtype.expect("ndarray columns have a dtype"),
                shape: schema.shape().to_vec(),
            },
        }
    }
}

/// A flat reader column's samples as Arrow record batches of the [`export_schema`] form,
/// read in key order a batch at a time (one path down the record table per batch, then
/// its leaves; memory bounded by the batch, not the column).
///
/// The values of a fixed-shape numeric column are not copied when a batch's samples lie
/// one after another in one segment (as an import or a batch put writes them, read back
/// in key order): the batch's value buffer is then a slice of the mapped segment file,
/// kept mapped for as long as the batch lives. Otherwise they are gathered with one copy.
/// Every value's CRC-32 is checked either way.
#[derive(Debug)]
pub struct ColumnBatches {
    col: ReaderColumn,
    schema: SchemaRef,
    kind: ExportKind,
    rows: usize,
    max_bytes: usize,
    /// The raw key the next batch starts after.
    after: Option<Vec<u8>>,
    sent_any: bool,
    done: bool,
}

impl ColumnBatches {
    /// Batches of up to `rows` samples of a flat column, cut early once they hold
    /// `max_bytes` of values (a batch holds at least one sample); `InvalidArgument` for a
    /// nested column.
    pub fn new(col: &ReaderColumn, rows: usize, max_bytes: usize) -> Result<ColumnBatches> {
        if col.nested() {
            return Err(Error::InvalidArgument(format!(
                "column {:?} is nested: read its samples with their subkeys",
                col.name()
            )));
        }
        // Integer keys sort before string keys: the keys are all integers exactly when
        // the last one is.
        let int_keys = match col.last_raw_key()? {
            Some(k) => matches!(decode_key(col.shared(), &k)?, SampleKey::Int(_)),
            None => true,
        };
        let kind = ExportKind::for_schema(col.schema_ref());
        let rows = match &kind {
            ExportKind::Fixed { dtype, shape } => {
                let sample_bytes = shape.iter().product::<usize>() * dtype.size();
                rows.min(max_bytes / sample_bytes.max(1))
            }
            _ => rows,
        };
        Ok(ColumnBatches {
            col: col.clone(),
            schema: export_schema(&kind, int_keys, None),
            kind,
            rows: rows.max(1),
            max_bytes,
            after: None,
            sent_any: false,
            done: false,
        })
    }

    /// The schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The next batch; `None` after the last. An empty column yields one empty batch, so
    /// readers see the schema in use.
    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if self.done {
            return Ok(None);
        }
        let records = self
            .col
            .raw_records_after(self.after.as_deref(), self.rows)?;
        if records.len() < self.rows {
            self.done = true;
        }
        if records.is_empty() && self.sent_any {
            return Ok(None);
        }
        self.sent_any = true;
        self.after = records.last().map(|(k, _)| k.clone());
        let shared = self.col.shared();
        let keys = records
            .iter()
            .map(|(k, _)| decode_key(shared, k))
            .collect::<Result<Vec<_>>>()?;
        let value = match &self.kind {
            ExportKind::Fixed { dtype, shape } => {
                let sample_bytes = shape.iter().product::<usize>() * dtype.size();
                let buf = self.fixed_values(&keys, &records, sample_bytes, *dtype)?;
                let values = prim_array(*dtype, buf);
                match self.schema.field(1).data_type() {
                    DataType::FixedSizeList(item, size) => fixed_list(item, *size, values)?,
                    _ => values,
                }
            }
            _ => {
                let mut b = BatchBuilder::default();
                for (key, (raw_key, raw)) in keys.iter().zip(&records) {
                    if !b.is_empty() && b.value_bytes() >= self.max_bytes {
                        self.done = false; // the rest comes in the next batch
                        break;
                    }
                    let v = self.col.value_of_record(key, raw)?;
                    b.push(key.clone(), None, &v);
                    self.after = Some(raw_key.clone());
                }
                return b.finish(&self.schema, &self.kind).map(Some);
            }
        };
        let cols = vec![key_array(self.schema.field(0), &keys)?, value];
        RecordBatch::try_new(self.schema.clone(), cols)
            .map(Some)
            .map_err(arrow_err)
    }

    /// The values of a batch of a fixed-shape numeric column as one buffer: a slice of
    /// the mapped segment when they are contiguous in one, else one copy. The index
    /// lookups, CRC checks and the copy run on the process's thread pool: a batch's
    /// thousands of index searches (each a few cache misses in a large run) and checks
    /// were most of a scan's time on one core.
    fn fixed_values(
        &self,
        keys: &[SampleKey],
        records: &[(Vec<u8>, Vec<u8>)],
        sample_bytes: usize,
        dtype: DType,
    ) -> Result<Buffer> {
        use rayon::prelude::*;
        let shared = self.col.shared();
        let (store, name) = (&shared.store, self.col.name());
        let corrupt = |key: &SampleKey, detail: String| bad_value(shared, name, key, &detail);
        // Each record's value: inline bytes, or the digest of a stored value.
        let mut digests = Vec::with_capacity(records.len());
        let mut inline = Vec::new();
        for (_, raw) in records {
            match decode_record(shared, name, self.col.schema_ref(), raw)?.held {
                Held::Inline(b) => inline.extend_from_slice(&b),
                Held::Stored(d) => digests.push(d),
            }
        }
        // Records are canonical: in a fixed-shape column either every value is inline
        // (decoding checked its length) or none is.
        if digests.is_empty() || !inline.is_empty() {
            // Mixed cannot decode; if it ever did, the copy below would lose the inline
            // values, so refuse it rather than return a short batch.
            if !digests.is_empty() {
                return Err(corrupt(&keys[0], "inline and stored values mixed".into()));
            }
            return Ok(aligned(inline));
        }
        // The index's read lock is taken once for the lookups, not once a lookup (two
        // threads taking it in turn kept its cache line moving between the cores), and
        // released before anything below could take it again.
        let entries: Vec<Result<Option<hangar_store::IndexEntry>>> = {
            let index = store.index()?;
            let index = &*index;
            crate::run_parallel(|| digests.par_iter().map(|d| Ok(index.lookup(d)?)).collect())
        };
        // Where each value is: (file, offset, CRC) in a mapped Arrow segment, or the
        // bytes decoded (and CRC-checked) from a Parquet segment (compressed columns).
        enum Src {
            Mapped(hangar_store::FileId, u64, u32),
            Decoded(Buffer),
        }
        let mut locs = Vec::with_capacity(digests.len());
        let mut maps = std::collections::HashMap::new();
        for ((key, digest), entry) in keys.iter().zip(&digests).zip(entries) {
            let entry = entry?.filter(|e| e.kind.is_value()).ok_or_else(|| {
                corrupt(
                    key,
                    format!("value {} is referenced but not stored", digest.short()),
                )
            })?;
            let loc = entry.loc;
            if loc.len != sample_bytes as u64 {
                return Err(corrupt(
                    key,
                    format!(
                        "stored value has {} bytes, its shape needs {sample_bytes}",
                        loc.len
                    ),
                ));
            }
            if entry.kind == hangar_store::EntryKind::ParquetValue {
                // read_entry checks the CRC after decoding.
                locs.push(Src::Decoded(store.read_entry(&entry)?));
                continue;
            }
            if let std::collections::hash_map::Entry::Vacant(v) = maps.entry(loc.file) {
                v.insert(store.map_file(loc.file, hangar_store::FileKind::Segment)?);
            }
            locs.push(Src::Mapped(loc.file, loc.offset, loc.crc));
        }
        // Checks a mapped value's CRC and hands its bytes to `to` (in parallel).
        let checked = |i: usize, src: &Src, to: &mut dyn FnMut(&[u8])| -> Result<()> {
            match src {
                Src::Mapped(file, offset, crc) => {
                    let bytes = maps[file].slice(*offset, sample_bytes as u64)?;
                    if hangar_store::crc32(bytes) != *crc {
                        return Err(corrupt(
                            &keys[i],
                            format!("checksum mismatch for value {}", digests[i].short()),
                        ));
                    }
                    to(bytes);
                }
                Src::Decoded(b) => to(b),
            }
            Ok(())
        };
        let contiguous = locs.windows(2).all(|w| match (&w[0], &w[1]) {
            (Src::Mapped(f0, o0, _), Src::Mapped(f1, o1, _)) => {
                f1 == f0 && *o1 == o0 + sample_bytes as u64
            }
            _ => false,
        });
        if let (true, Some(Src::Mapped(file, start, _))) = (contiguous, locs.first()) {
            let buf = maps[file].buffer(*start, (locs.len() * sample_bytes) as u64)?;
            if (buf.as_ptr() as usize).is_multiple_of(dtype.size()) {
                crate::run_parallel(|| {
                    locs.par_iter()
                        .enumerate()
                        .try_for_each(|(i, src)| checked(i, src, &mut |_| ()))
                })?;
                return Ok(buf);
            }
        }
        // Zeroed by the allocator (fresh pages), then each value copied into its place.
        let mut out = vec![0u8; locs.len() * sample_bytes];
        crate::run_parallel(|| {
            out.par_chunks_mut(sample_bytes)
                .zip(&locs)
                .enumerate()
                .try_for_each(|(i, (dst, src))| {
                    checked(i, src, &mut |b: &[u8]| dst.copy_from_slice(b))
                })
        })?;
        Ok(aligned(out))
    }
}

impl Iterator for ColumnBatches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_batch().transpose()
    }
}
