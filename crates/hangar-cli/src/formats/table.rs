//! Parquet and Arrow IPC tables: one row per sample.
//!
//! Reading: the value column may be a fixed-shape tensor (`FixedSizeList`, with the
//! `arrow.fixed_shape_tensor` extension's shape when present), a variable-shape tensor
//! (`arrow.variable_shape_tensor`), a list (1-D, any length), a primitive (one number
//! per sample), a string or a binary column. Keys come from a key column (integers or
//! strings) or from the row number.
//!
//! Writing: columns `key` (int64 when every key is an integer, else utf8), `subkey` for
//! nested columns, and `value` as the canonical tensor extension types (uint8 storage with
//! field metadata `hangar.dtype = bool` for bool, which pyarrow cannot store as a tensor),
//! utf8 or binary.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write as _};
use std::path::Path;

use anyhow::{bail, ensure, Context as _};
use arrow_array::types::*;
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, FixedSizeListArray, GenericListArray, Int32Array,
    PrimitiveArray, RecordBatch, StringArray, StructArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use hangar_core::{DType, SampleKey};

use hangar_core::arrow_export::{
    DTYPE_KEY as HANGAR_DTYPE, EXTENSION_METADATA_KEY as EXT_META, EXTENSION_NAME_KEY as EXT_NAME,
    FIXED_SHAPE_TENSOR as FIXED, VARIABLE_SHAPE_TENSOR as VARIABLE,
};

/// One value read from a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Tensor {
        dtype: DType,
        shape: Vec<usize>,
        data: Vec<u8>,
    },
    Str(String),
    Bytes(Vec<u8>),
}

/// One row: key and subkey (when the table has key columns), value.
pub type Row = (Option<SampleKey>, Option<SampleKey>, Cell);

/// What the value column holds (the same kinds the Arrow export writes).
pub use hangar_core::arrow_export::ExportKind as ValueKind;

/// How a table's columns are used.
#[derive(Debug, Clone)]
pub struct Plan {
    pub value: usize,
    pub value_name: String,
    pub key: Option<usize>,
    pub subkey: Option<usize>,
    pub kind: ValueKind,
}

/// An open table file.
pub struct Table {
    pub schema: SchemaRef,
    pub rows: Option<u64>,
    reader: Box<dyn Iterator<Item = anyhow::Result<RecordBatch>>>,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("schema", &self.schema)
            .finish()
    }
}

pub fn is_table_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [".parquet", ".pq", ".arrow", ".ipc", ".feather", ".arrows"]
        .iter()
        .any(|e| n.ends_with(e))
}

/// Reads `len` bytes at `at`.
fn read_at(f: &mut File, at: u64, len: u64) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    f.seek(SeekFrom::Start(at))?;
    f.take(len).read_to_end(&mut buf)?;
    anyhow::ensure!(buf.len() as u64 == len, "the file ends early");
    Ok(buf)
}

/// The footer's metadata must lie inside the file and be Thrift whose decoding is
/// bounded by its bytes (see [`super::thrift`]).
fn check_parquet_footer(f: &mut File, len: u64) -> anyhow::Result<()> {
    anyhow::ensure!(len >= 12, "{len} bytes is too short for a Parquet file");
    let tail = read_at(f, len - 8, 8)?;
    anyhow::ensure!(
        &tail[4..] == b"PAR1",
        "it does not end with the Parquet magic (an encrypted file ends with PARE; those are not supported)"
    );
    let meta_len = u64::from(u32::from_le_bytes(tail[..4].try_into()?));
    anyhow::ensure!(
        meta_len + 12 <= len,
        "its footer claims {meta_len} bytes of metadata, the file holds {len} bytes"
    );
    let meta = read_at(f, len - 8 - meta_len, meta_len)?;
    super::thrift::check_struct(&meta)
        .map_err(|p| anyhow::anyhow!("its footer metadata is not valid: {p}"))?;
    Ok(())
}

/// Every page header of every column chunk must be such Thrift too, and the pages must
/// lie inside their chunk, inside the file.
fn check_parquet_pages(
    f: &mut File,
    meta: &parquet::file::metadata::ParquetMetaData,
    len: u64,
) -> anyhow::Result<()> {
    for (g, group) in meta.row_groups().iter().enumerate() {
        for (c, col) in group.columns().iter().enumerate() {
            // Not `byte_range()`: it panics on the negative offsets a damaged file holds.
            let start = col
                .dictionary_page_offset()
                .unwrap_or_else(|| col.data_page_offset());
            let size = col.compressed_size();
            let (Ok(start), Ok(size)) = (u64::try_from(start), u64::try_from(size)) else {
                anyhow::bail!(
                    "row group {g} column {c} claims a negative offset ({start}) or size ({size})"
                );
            };
            let end = start
                .checked_add(size)
                .filter(|e| *e <= len)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                    "row group {g} column {c} claims bytes {start}..+{size}, the file holds {len}"
                )
                })?;
            let mut pos = start;
            while pos < end {
                let mut window = 4u64 << 10;
                let (header, ints) = loop {
                    let want = window.min(end - pos);
                    let bytes = read_at(f, pos, want)?;
                    match super::thrift::check_struct(&bytes) {
                        Ok(v) => break v,
                        Err(super::thrift::Problem::Truncated)
                            if want < end - pos && window < 16 << 20 =>
                        {
                            window *= 16
                        }
                        Err(p) => anyhow::bail!(
                            "row group {g} column {c}: the page header at byte {pos} is not valid: {p}"
                        ),
                    }
                };
                let body = ints
                    .iter()
                    .find(|(id, _)| *id == 3)
                    .and_then(|(_, v)| u64::try_from(*v).ok())
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "row group {g} column {c}: the page header at byte {pos} has no valid size"
                        )
                    })?;
                pos = pos
                    .checked_add(header as u64 + body)
                    .filter(|p| *p <= end)
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "row group {g} column {c}: the page at byte {pos} runs past its column chunk"
                        )
                    })?;
            }
        }
    }
    f.seek(SeekFrom::Start(0))?;
    Ok(())
}

/// Opens a Parquet file, an Arrow IPC file (Feather v2) or an Arrow IPC stream, by content.
pub fn open(path: &Path) -> anyhow::Result<Table> {
    let mut f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut magic = [0u8; 6];
    let n = f.read(&mut magic)?;
    f.seek(SeekFrom::Start(0))?;
    if n >= 4 && &magic[..4] == b"PAR1" {
        let len = f.metadata()?.len();
        let damaged = || format!("{}: damaged Parquet file", path.display());
        check_parquet_footer(&mut f, len).with_context(damaged)?;
        let mut pages = f.try_clone()?;
        let b = guarded("Parquet", || {
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
                .context("not a readable Parquet file")
        })?;
        let meta = b.metadata();
        check_parquet_pages(&mut pages, meta, len).with_context(damaged)?;
        let rows = u64::try_from(meta.file_metadata().num_rows()).ok();
        // Batches of about BATCH_BYTES of values, from the sizes the row groups record
        // (a claim: the reader checks what it decodes; a lie only changes batch sizes).
        let bytes: i64 = meta
            .row_groups()
            .iter()
            .map(|g| g.total_byte_size().max(0))
            .fold(0i64, i64::saturating_add);
        let per_row = (bytes as u64) / rows.unwrap_or(1).max(1);
        let batch = (BATCH_BYTES / per_row.max(1)).clamp(1, 4096) as usize;
        let schema = b.schema().clone();
        let reader = b.with_batch_size(batch).build()?;
        return Ok(Table {
            schema,
            rows,
            reader: Box::new(checked("Parquet", reader)),
        });
    }
    let len = f.metadata()?.len();
    if n == 6 && &magic == b"ARROW1" {
        check_ipc_file_blocks(&mut f, len)
            .with_context(|| format!("{}: damaged Arrow IPC file", path.display()))?;
        let r = guarded("Arrow IPC", || {
            arrow_ipc::reader::FileReader::try_new(std::io::BufReader::new(f), None)
                .context("not a readable Arrow IPC file")
        })?;
        let schema = r.schema();
        return Ok(Table {
            schema,
            rows: None,
            reader: Box::new(checked("Arrow IPC", r)),
        });
    }
    check_ipc_stream_messages(&mut f, len).with_context(|| {
        format!(
            "{}: not a Parquet file or an Arrow IPC file or stream, or a damaged one",
            path.display()
        )
    })?;
    let r = guarded("Arrow IPC", || {
        arrow_ipc::reader::StreamReader::try_new(std::io::BufReader::new(f), None)
            .context("not a Parquet file or an Arrow IPC file or stream")
    })?;
    let schema = r.schema();
    Ok(Table {
        schema,
        rows: None,
        reader: Box::new(checked("Arrow IPC", r)),
    })
}

/// Bytes of values read per batch from a Parquet file.
const BATCH_BYTES: u64 = 4 << 20;

/// Checks an Arrow IPC file's footer before the arrow reader sees it: the reader
/// allocates each record batch's declared body length, so every block the footer lists
/// must lie inside the file (an allocation is never sized by what a file claims).
fn check_ipc_file_blocks(f: &mut File, len: u64) -> anyhow::Result<()> {
    anyhow::ensure!(len >= 18, "too short for an Arrow IPC file");
    let mut tail = [0u8; 10];
    f.seek(SeekFrom::End(-10))?;
    f.read_exact(&mut tail)?;
    anyhow::ensure!(&tail[4..] == b"ARROW1", "no ARROW1 trailer");
    let footer_len = i32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
    anyhow::ensure!(
        footer_len > 0 && u64::from(footer_len.unsigned_abs()) + 18 <= len,
        "its footer claims {footer_len} bytes in a file of {len}"
    );
    let mut footer = vec![0u8; footer_len as usize];
    f.seek(SeekFrom::End(-10 - i64::from(footer_len)))?;
    f.read_exact(&mut footer)?;
    let footer = arrow_ipc::root_as_footer(&footer)
        .map_err(|e| anyhow::anyhow!("unreadable footer: {e}"))?;
    let blocks = footer
        .recordBatches()
        .into_iter()
        .flatten()
        .chain(footer.dictionaries().into_iter().flatten());
    for b in blocks {
        let (at, meta, body) = (b.offset(), i64::from(b.metaDataLength()), b.bodyLength());
        anyhow::ensure!(
            at >= 0
                && meta >= 0
                && body >= 0
                && at as u128 + meta as u128 + body as u128 <= u128::from(len),
            "a record batch claims {body} bytes at offset {at}, past the end of the file ({len} bytes)"
        );
    }
    f.seek(SeekFrom::Start(0))?;
    Ok(())
}

/// Walks an Arrow IPC stream's messages before the arrow reader sees it, reading only
/// their headers: each message's metadata and body must lie inside the file (the reader
/// allocates the declared body length).
fn check_ipc_stream_messages(f: &mut File, len: u64) -> anyhow::Result<()> {
    let mut r = std::io::BufReader::new(&mut *f);
    let mut pos = 0u64;
    let mut word = [0u8; 4];
    while pos + 4 <= len {
        r.seek(SeekFrom::Start(pos))?;
        r.read_exact(&mut word)?;
        pos += 4;
        let mut meta_len = i32::from_le_bytes(word);
        if meta_len == -1 {
            // The continuation marker, then the length.
            anyhow::ensure!(pos + 4 <= len, "a message header is cut short");
            r.read_exact(&mut word)?;
            pos += 4;
            meta_len = i32::from_le_bytes(word);
        }
        if meta_len == 0 {
            break; // end of stream
        }
        anyhow::ensure!(
            meta_len > 0 && pos + u64::from(meta_len.unsigned_abs()) <= len,
            "a message claims {meta_len} bytes of metadata at offset {pos}, past the end of the file ({len} bytes)"
        );
        let mut meta = vec![0u8; meta_len as usize];
        r.read_exact(&mut meta)?;
        pos += meta.len() as u64;
        let msg = arrow_ipc::root_as_message(&meta)
            .map_err(|e| anyhow::anyhow!("unreadable message header at offset {pos}: {e}"))?;
        let body = msg.bodyLength();
        anyhow::ensure!(
            body >= 0 && u128::from(pos) + body as u128 <= u128::from(len),
            "a message claims a body of {body} bytes at offset {pos}, past the end of the file ({len} bytes)"
        );
        pos += body as u64;
    }
    drop(r);
    f.seek(SeekFrom::Start(0))?;
    Ok(())
}

/// Runs a decoding step of the arrow crates, turning a panic inside them (which a damaged
/// file can still provoke) into an error about the file.
fn guarded<T>(kind: &str, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    // The default hook would print the panic; this one is expected and reported as an
    // error, so the hook is silenced around the call.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    r.unwrap_or_else(|_| {
        Err(anyhow::anyhow!(
            "damaged {kind} data (its buffers are inconsistent)"
        ))
    })
}

/// Batches of an Arrow IPC or Parquet reader, each fully validated (offsets, lengths, UTF-8, child
/// data) before any of it is used, and decoded under [`guarded`].
fn checked(
    kind: &'static str,
    mut r: impl Iterator<Item = Result<RecordBatch, arrow_schema::ArrowError>> + 'static,
) -> impl Iterator<Item = anyhow::Result<RecordBatch>> {
    std::iter::from_fn(move || {
        let next = guarded(kind, || Ok(r.next()));
        match next {
            Err(e) => Some(Err(e)),
            Ok(None) => None,
            Ok(Some(Err(e))) => Some(Err(
                anyhow::Error::new(e).context(format!("damaged {kind} data"))
            )),
            Ok(Some(Ok(b))) => Some(
                b.columns()
                    .iter()
                    .try_for_each(|c| c.to_data().validate_full())
                    .map(|()| b)
                    .with_context(|| format!("damaged {kind} data (validation failed)")),
            ),
        }
    })
}

impl Table {
    /// The next batch of rows.
    pub fn next_batch(&mut self) -> Option<anyhow::Result<RecordBatch>> {
        self.reader.next()
    }
}

fn prim_dtype(dt: &DataType) -> Option<DType> {
    Some(match dt {
        DataType::Boolean => DType::Bool,
        DataType::UInt8 => DType::U8,
        DataType::UInt16 => DType::U16,
        DataType::UInt32 => DType::U32,
        DataType::UInt64 => DType::U64,
        DataType::Int8 => DType::I8,
        DataType::Int16 => DType::I16,
        DataType::Int32 => DType::I32,
        DataType::Int64 => DType::I64,
        DataType::Float16 => DType::F16,
        DataType::Float32 => DType::F32,
        DataType::Float64 => DType::F64,
        _ => return None,
    })
}

/// The dtype a field's elements are stored as, honouring `hangar.dtype = bool`.
fn leaf_dtype(field: &Field, dt: &DataType) -> Option<DType> {
    let d = prim_dtype(dt)?;
    if d == DType::U8 && field.metadata().get(HANGAR_DTYPE).map(String::as_str) == Some("bool") {
        return Some(DType::Bool);
    }
    Some(d)
}

/// `[n]` or `[n, m, ...]` of nested fixed-size lists, and the leaf type.
fn fixed_dims(dt: &DataType) -> Option<(Vec<usize>, DataType)> {
    match dt {
        DataType::FixedSizeList(child, n) => {
            let n = usize::try_from(*n).ok()?;
            match fixed_dims(child.data_type()) {
                Some((mut dims, leaf)) => {
                    dims.insert(0, n);
                    Some((dims, leaf))
                }
                None => prim_dtype(child.data_type()).map(|_| (vec![n], child.data_type().clone())),
            }
        }
        _ => None,
    }
}

fn ext_shape(field: &Field) -> anyhow::Result<Option<Vec<usize>>> {
    if field.metadata().get(EXT_NAME).map(String::as_str) != Some(FIXED) {
        return Ok(None);
    }
    let meta: serde_json::Value =
        serde_json::from_str(field.metadata().get(EXT_META).map_or("{}", String::as_str))
            .context("malformed arrow.fixed_shape_tensor metadata")?;
    if let Some(p) = meta.get("permutation").or_else(|| meta.get("permutations")) {
        if let Some(perm) = p.as_array() {
            let identity = perm
                .iter()
                .enumerate()
                .all(|(i, v)| v.as_u64() == Some(i as u64));
            ensure!(identity, "tensors with a dimension permutation are not supported; store them in row-major order");
        }
    }
    let shape = meta
        .get("shape")
        .and_then(|s| s.as_array())
        .context("arrow.fixed_shape_tensor metadata without a shape")?
        .iter()
        .map(|d| {
            d.as_u64()
                .map(|d| d as usize)
                .context("bad dimension in the tensor shape")
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Some(shape))
}

/// What a field holds, if it can be a sample column.
fn value_kind(field: &Field) -> anyhow::Result<Option<ValueKind>> {
    let dt = field.data_type();
    if let Some((dims, leaf)) = fixed_dims(dt) {
        let dtype = match dt {
            DataType::FixedSizeList(child, _) if dims.len() == 1 => leaf_dtype(child, &leaf),
            _ => prim_dtype(&leaf),
        }
        .expect("fixed_dims found a primitive leaf");
        let shape = match ext_shape(field)? {
            Some(s) => {
                ensure!(
                    s.iter().product::<usize>() == dims.iter().product::<usize>(),
                    "field {:?}: the tensor shape {} disagrees with its storage",
                    field.name(),
                    hangar_core::value::fmt_shape(&s)
                );
                s
            }
            None => dims,
        };
        return Ok(Some(ValueKind::Fixed { dtype, shape }));
    }
    Ok(match dt {
        DataType::List(c) | DataType::LargeList(c) => {
            leaf_dtype(c, c.data_type()).map(|dtype| ValueKind::Variable { dtype, rank: 1 })
        }
        DataType::Struct(fs)
            if field.metadata().get(EXT_NAME).map(String::as_str) == Some(VARIABLE) =>
        {
            let data = fs
                .iter()
                .find(|f| f.name() == "data")
                .context("variable_shape_tensor without a data field")?;
            let shape = fs
                .iter()
                .find(|f| f.name() == "shape")
                .context("variable_shape_tensor without a shape field")?;
            let dtype = match data.data_type() {
                DataType::List(c) | DataType::LargeList(c) => leaf_dtype(c, c.data_type()),
                _ => None,
            }
            .context("variable_shape_tensor data is not a list of numbers")?;
            let rank = match shape.data_type() {
                DataType::FixedSizeList(_, n) => usize::try_from(*n)?,
                _ => bail!("variable_shape_tensor shape is not a fixed-size list"),
            };
            Some(ValueKind::Variable { dtype, rank })
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(ValueKind::Str),
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => Some(ValueKind::Bytes),
        d => prim_dtype(d).map(|_| ValueKind::Fixed {
            dtype: leaf_dtype(field, d).expect("primitive"),
            shape: vec![],
        }),
    })
}

fn is_key_type(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Utf8
            | DataType::LargeUtf8
    )
}

/// Chooses the value column (`field`, or the only candidate besides the keys) and the
/// key columns (`key_field`, else a column named `key`; `subkey` likewise).
pub fn plan(schema: &Schema, field: Option<&str>, key_field: Option<&str>) -> anyhow::Result<Plan> {
    let index = |name: &str| -> anyhow::Result<usize> {
        schema.index_of(name).map_err(|_| {
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            anyhow::anyhow!("the table has no column {name:?}; its columns are {names:?}")
        })
    };
    let key = match key_field {
        Some(k) => Some(index(k)?),
        None => schema
            .index_of("key")
            .ok()
            .filter(|&i| field != Some("key") && is_key_type(schema.field(i).data_type())),
    };
    if let Some(k) = key {
        ensure!(
            is_key_type(schema.field(k).data_type()),
            "key column {:?} is {}; keys must be integers or strings",
            schema.field(k).name(),
            schema.field(k).data_type()
        );
    }
    let subkey = schema.index_of("subkey").ok().filter(|&i| {
        key.is_some() && field != Some("subkey") && is_key_type(schema.field(i).data_type())
    });
    let value = match field {
        Some(f) => index(f)?,
        None => {
            let mut candidates = Vec::new();
            for (i, f) in schema.fields().iter().enumerate() {
                if Some(i) == key || Some(i) == subkey {
                    continue;
                }
                if value_kind(f)?.is_some() {
                    candidates.push(i);
                }
            }
            match candidates.as_slice() {
                [one] => *one,
                [] => bail!("the table has no column of tensors, numbers, strings or bytes"),
                many => {
                    let names: Vec<&str> = many
                        .iter()
                        .map(|&i| schema.field(i).name().as_str())
                        .collect();
                    bail!("the table has several value columns {names:?}; choose one with --field")
                }
            }
        }
    };
    let f = schema.field(value);
    let kind = value_kind(f)?.with_context(|| {
        format!(
            "column {:?} has type {}, which is not tensors, numbers, strings or bytes",
            f.name(),
            f.data_type()
        )
    })?;
    Ok(Plan {
        value,
        value_name: f.name().clone(),
        key,
        subkey,
        kind,
    })
}

/// The elements of a primitive (or boolean) array as native bytes.
fn prim_bytes(arr: &dyn Array, dtype: DType) -> anyhow::Result<Vec<u8>> {
    ensure!(arr.null_count() == 0, "null elements inside a tensor");
    if let Some(b) = arr.as_any().downcast_ref::<BooleanArray>() {
        return Ok(b.values().iter().map(u8::from).collect());
    }
    let data = arr.to_data();
    let size = dtype.size();
    let buf = data
        .buffers()
        .first()
        .context("primitive array without data")?;
    let start = data.offset() * size;
    let end = start + data.len() * size;
    ensure!(end <= buf.len(), "array data shorter than its length");
    let bytes = buf.as_slice()[start..end].to_vec();
    if dtype == DType::Bool {
        ensure!(
            bytes.iter().all(|&b| b <= 1),
            "bool tensor with values other than 0 and 1"
        );
    }
    Ok(bytes)
}

/// The leaf values of nested fixed-size lists.
fn leaf_of(arr: ArrayRef) -> ArrayRef {
    match arr.as_any().downcast_ref::<FixedSizeListArray>() {
        Some(f) => leaf_of(
            f.values()
                .slice(f.value_offset_at(0), f.len() * f.value_length() as usize),
        ),
        None => arr,
    }
}

fn list_value(arr: &dyn Array, i: usize) -> Option<ArrayRef> {
    if let Some(l) = arr.as_any().downcast_ref::<GenericListArray<i32>>() {
        return Some(l.value(i));
    }
    arr.as_any()
        .downcast_ref::<GenericListArray<i64>>()
        .map(|l| l.value(i))
}

fn key_at(arr: &dyn Array, i: usize, what: &str) -> anyhow::Result<SampleKey> {
    ensure!(!arr.is_null(i), "row {i}: the {what} is null");
    macro_rules! int {
        ($t:ty) => {
            if let Some(a) = arr.as_any().downcast_ref::<PrimitiveArray<$t>>() {
                let v = i128::from(a.value(i));
                return u64::try_from(v).map(SampleKey::Int).map_err(|_| {
                    anyhow::anyhow!("row {i}: {what} {v} is negative; integer keys are 0 or more")
                });
            }
        };
    }
    int!(Int8Type);
    int!(Int16Type);
    int!(Int32Type);
    int!(Int64Type);
    int!(UInt8Type);
    int!(UInt16Type);
    int!(UInt32Type);
    int!(UInt64Type);
    // `int:N` / `str:NAME` are tagged keys (a mixed key column `hangar export` wrote);
    // a string key itself never contains ':'.
    let text = |v: &str| {
        if SampleKey::is_tagged(v) {
            SampleKey::parse(v).map_err(anyhow::Error::from)
        } else {
            Ok(SampleKey::Str(v.to_string()))
        }
    };
    if let Some(a) = arr.as_any().downcast_ref::<StringArray>() {
        return text(a.value(i));
    }
    if let Some(a) = arr.as_any().downcast_ref::<arrow_array::LargeStringArray>() {
        return text(a.value(i));
    }
    bail!("the {what} column is neither integers nor strings")
}

/// The rows of `batch` as (key, subkey, value); keys are `None` without a key column.
pub fn cells(batch: &RecordBatch, plan: &Plan) -> anyhow::Result<Vec<Row>> {
    let col = batch.column(plan.value).clone();
    let name = &plan.value_name;
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let key = plan
            .key
            .map(|k| key_at(batch.column(k).as_ref(), i, "key"))
            .transpose()?;
        let sub = plan
            .subkey
            .map(|k| key_at(batch.column(k).as_ref(), i, "subkey"))
            .transpose()?;
        ensure!(!col.is_null(i), "row {i} of column {name:?} is null");
        let cell = match &plan.kind {
            ValueKind::Str => {
                let s = if let Some(a) = col.as_any().downcast_ref::<StringArray>() {
                    a.value(i).to_string()
                } else if let Some(a) = col.as_any().downcast_ref::<arrow_array::LargeStringArray>()
                {
                    a.value(i).to_string()
                } else if let Some(a) = col.as_any().downcast_ref::<arrow_array::StringViewArray>()
                {
                    a.value(i).to_string()
                } else {
                    bail!("column {name:?}: unexpected string array")
                };
                Cell::Str(s)
            }
            ValueKind::Bytes => {
                let b = if let Some(a) = col.as_any().downcast_ref::<BinaryArray>() {
                    a.value(i).to_vec()
                } else if let Some(a) = col.as_any().downcast_ref::<arrow_array::LargeBinaryArray>()
                {
                    a.value(i).to_vec()
                } else if let Some(a) = col.as_any().downcast_ref::<arrow_array::BinaryViewArray>()
                {
                    a.value(i).to_vec()
                } else if let Some(a) = col
                    .as_any()
                    .downcast_ref::<arrow_array::FixedSizeBinaryArray>()
                {
                    a.value(i).to_vec()
                } else {
                    bail!("column {name:?}: unexpected binary array")
                };
                Cell::Bytes(b)
            }
            ValueKind::Fixed { dtype, shape } => {
                let data = match col.as_any().downcast_ref::<FixedSizeListArray>() {
                    Some(f) => prim_bytes(leaf_of(f.value(i)).as_ref(), *dtype),
                    None => prim_bytes(col.slice(i, 1).as_ref(), *dtype),
                }
                .with_context(|| format!("row {i} of column {name:?}"))?;
                Cell::Tensor {
                    dtype: *dtype,
                    shape: shape.clone(),
                    data,
                }
            }
            ValueKind::Variable { dtype, rank } => {
                if let Some(s) = col.as_any().downcast_ref::<StructArray>() {
                    let data_col = s
                        .column_by_name("data")
                        .context("variable_shape_tensor without data")?;
                    let shape_col = s
                        .column_by_name("shape")
                        .context("variable_shape_tensor without shape")?;
                    let values = list_value(data_col.as_ref(), i)
                        .context("variable_shape_tensor data is not a list")?;
                    let data = prim_bytes(values.as_ref(), *dtype)
                        .with_context(|| format!("row {i} of column {name:?}"))?;
                    let dims = shape_col
                        .as_any()
                        .downcast_ref::<FixedSizeListArray>()
                        .context("variable_shape_tensor shape is not a fixed-size list")?
                        .value(i);
                    let dims = dims
                        .as_any()
                        .downcast_ref::<Int32Array>()
                        .context("variable_shape_tensor shape is not int32")?;
                    let shape = dims
                        .values()
                        .iter()
                        .map(|&d| {
                            usize::try_from(d)
                                .map_err(|_| anyhow::anyhow!("row {i}: negative dimension {d}"))
                        })
                        .collect::<anyhow::Result<Vec<_>>>()?;
                    ensure!(
                        shape.len() == *rank,
                        "row {i}: shape of rank {} in a rank-{rank} column",
                        shape.len()
                    );
                    ensure!(
                        shape.iter().product::<usize>() * dtype.size() == data.len(),
                        "row {i} of column {name:?}: shape {} disagrees with its {} elements",
                        hangar_core::value::fmt_shape(&shape),
                        data.len() / dtype.size()
                    );
                    Cell::Tensor {
                        dtype: *dtype,
                        shape,
                        data,
                    }
                } else {
                    let values = list_value(col.as_ref(), i).context("unexpected list array")?;
                    let data = prim_bytes(values.as_ref(), *dtype)
                        .with_context(|| format!("row {i} of column {name:?}"))?;
                    Cell::Tensor {
                        dtype: *dtype,
                        shape: vec![values.len()],
                        data,
                    }
                }
            }
        };
        out.push((key, sub, cell));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Writing
// Writing: the Arrow mapping of an export lives in hangar_core::arrow_export.

pub use hangar_core::arrow_export::{export_schema, BatchBuilder, ExportKind};

/// A Parquet or Arrow IPC file being written.
pub enum TableWriter {
    Parquet(Box<parquet::arrow::ArrowWriter<File>>),
    Ipc(Box<arrow_ipc::writer::FileWriter<File>>),
    /// An Arrow IPC stream, to a file (synced at the end) or to stdout.
    Stream(
        Box<arrow_ipc::writer::StreamWriter<Box<dyn std::io::Write>>>,
        Option<File>,
    ),
}

impl std::fmt::Debug for TableWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TableWriter::Parquet(_) => "TableWriter::Parquet",
            TableWriter::Ipc(_) => "TableWriter::Ipc",
            TableWriter::Stream(..) => "TableWriter::Stream",
        })
    }
}

impl TableWriter {
    pub fn create(path: &Path, schema: &SchemaRef, parquet: bool) -> anyhow::Result<TableWriter> {
        let f = super::create_new(path)?;
        if parquet {
            // Row groups of about 64 MiB: what a reader (ours included) decodes at a time.
            let props = parquet::file::properties::WriterProperties::builder()
                .set_compression(parquet::basic::Compression::SNAPPY)
                .set_max_row_group_bytes(Some(64 << 20))
                .build();
            Ok(TableWriter::Parquet(Box::new(
                parquet::arrow::ArrowWriter::try_new(f, schema.clone(), Some(props))?,
            )))
        } else {
            Ok(TableWriter::Ipc(Box::new(
                arrow_ipc::writer::FileWriter::try_new(f, schema)?,
            )))
        }
    }

    /// An Arrow IPC stream to `path` (a new file; synced at the end), or to stdout when
    /// `path` is `None`.
    pub fn stream(path: Option<&Path>, schema: &SchemaRef) -> anyhow::Result<TableWriter> {
        let (sink, file): (Box<dyn std::io::Write>, Option<File>) = match path {
            Some(p) => {
                let f = super::create_new(p)?;
                let sync = f.try_clone()?;
                (Box::new(std::io::BufWriter::new(f)), Some(sync))
            }
            None => (Box::new(std::io::BufWriter::new(std::io::stdout())), None),
        };
        Ok(TableWriter::Stream(
            Box::new(arrow_ipc::writer::StreamWriter::try_new(sink, schema)?),
            file,
        ))
    }

    pub fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        match self {
            TableWriter::Parquet(w) => w.write(batch)?,
            TableWriter::Ipc(w) => w.write(batch)?,
            TableWriter::Stream(w, _) => w.write(batch)?,
        }
        Ok(())
    }

    /// Writes the footer and syncs the file.
    pub fn finish(self) -> anyhow::Result<()> {
        match self {
            TableWriter::Parquet(w) => {
                let f = w.into_inner()?;
                f.sync_all()?;
            }
            TableWriter::Ipc(mut w) => {
                w.finish()?;
                w.get_ref().sync_all()?;
            }
            TableWriter::Stream(mut w, file) => {
                w.finish()?;
                w.get_mut().flush()?;
                if let Some(f) = file {
                    f.sync_all()?;
                }
            }
        }
        Ok(())
    }
}

/// Every (key, subkey, cell) of a table file, for tests and small tables.
#[cfg(test)]
pub fn read_all(path: &Path) -> anyhow::Result<Vec<Row>> {
    let mut t = open(path)?;
    let p = plan(&t.schema, None, None)?;
    let mut out = Vec::new();
    while let Some(b) = t.next_batch() {
        out.extend(cells(&b?, &p)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(
        path: &Path,
        kind: &ExportKind,
        rows: Vec<(SampleKey, Option<SampleKey>, Cell)>,
        parquet: bool,
    ) {
        let int_keys = rows.iter().all(|r| matches!(r.0, SampleKey::Int(_)));
        let nested = rows
            .iter()
            .any(|r| r.1.is_some())
            .then(|| rows.iter().all(|r| matches!(r.1, Some(SampleKey::Int(_)))));
        let schema = export_schema(kind, int_keys, nested);
        let mut w = TableWriter::create(path, &schema, parquet).unwrap();
        let mut b = BatchBuilder::default();
        for (k, s, c) in rows {
            let v = match c {
                Cell::Tensor { dtype, shape, data } => hangar_core::Value::Tensor(
                    hangar_core::TensorRef::from_bytes(dtype, &shape, &data).into(),
                ),
                Cell::Str(s) => hangar_core::Value::Str(s),
                Cell::Bytes(b) => hangar_core::Value::Bytes(b),
            };
            b.push(k, s, &v);
        }
        w.write(&b.finish(&schema, kind).unwrap()).unwrap();
        w.finish().unwrap();
    }

    #[test]
    fn round_trips_every_kind() {
        let dir = tempfile::tempdir().unwrap();
        let t = |dtype: DType, shape: Vec<usize>, v: u8| Cell::Tensor {
            data: vec![v; shape.iter().product::<usize>() * dtype.size()],
            dtype,
            shape,
        };
        type Rows = Vec<(SampleKey, Option<SampleKey>, Cell)>;
        let cases: Vec<(ExportKind, Rows)> = vec![
            (
                ExportKind::Fixed {
                    dtype: DType::U8,
                    shape: vec![2, 3],
                },
                vec![
                    (SampleKey::Int(0), None, t(DType::U8, vec![2, 3], 1)),
                    (SampleKey::Int(5), None, t(DType::U8, vec![2, 3], 9)),
                ],
            ),
            (
                ExportKind::Fixed {
                    dtype: DType::Bool,
                    shape: vec![2],
                },
                vec![(SampleKey::Str("a".into()), None, t(DType::Bool, vec![2], 1))],
            ),
            (
                ExportKind::Fixed {
                    dtype: DType::F16,
                    shape: vec![],
                },
                vec![(SampleKey::Int(1), None, t(DType::F16, vec![], 3))],
            ),
            (
                ExportKind::Variable {
                    dtype: DType::I32,
                    rank: 2,
                },
                vec![
                    (SampleKey::Int(0), None, t(DType::I32, vec![1, 2], 4)),
                    (SampleKey::Int(1), None, t(DType::I32, vec![3, 1], 5)),
                ],
            ),
            (
                ExportKind::Str,
                vec![(SampleKey::Str("s".into()), None, Cell::Str("héllo".into()))],
            ),
            (
                ExportKind::Bytes,
                vec![
                    (
                        SampleKey::Str("k".into()),
                        Some(SampleKey::Str("sub".into())),
                        Cell::Bytes(vec![0, 255]),
                    ),
                    (
                        SampleKey::Str("k".into()),
                        Some(SampleKey::Int(3)),
                        Cell::Bytes(vec![1]),
                    ),
                ],
            ),
        ];
        for (i, (kind, rows)) in cases.into_iter().enumerate() {
            for parquet in [true, false] {
                let p = dir.path().join(format!(
                    "t{i}.{}",
                    if parquet { "parquet" } else { "arrow" }
                ));
                write(&p, &kind, rows.clone(), parquet);
                let back = read_all(&p).unwrap();
                assert_eq!(back.len(), rows.len());
                for ((k, s, c), (bk, bs, bc)) in rows.iter().zip(back) {
                    let bk = bk.unwrap();
                    // String keys come back as strings; integer keys as integers.
                    assert_eq!(&bk, k, "{kind:?}");
                    // Mixed subkeys are written as strings.
                    assert_eq!(
                        s.as_ref().map(ToString::to_string),
                        bs.map(|s| s.to_string())
                    );
                    assert_eq!(c, &bc, "{kind:?} parquet={parquet}");
                }
            }
        }
    }

    #[test]
    fn plan_errors_name_the_columns() {
        let schema = Schema::new(vec![
            Field::new("a", DataType::Float32, false),
            Field::new("b", DataType::Utf8, false),
        ]);
        let e = plan(&schema, None, None).unwrap_err().to_string();
        assert!(e.contains("--field"), "{e}");
        let e = plan(&schema, Some("zz"), None).unwrap_err().to_string();
        assert!(e.contains("\"a\""), "{e}");
        let p = plan(&schema, Some("a"), None).unwrap();
        assert_eq!(
            p.kind,
            ValueKind::Fixed {
                dtype: DType::F32,
                shape: vec![]
            }
        );
        let e = plan(&schema, Some("a"), Some("a")).unwrap_err().to_string();
        assert!(e.contains("keys must be integers or strings"), "{e}");
        let p = plan(&schema, Some("a"), Some("b")).unwrap();
        assert_eq!(p.key, Some(1));
    }
}
