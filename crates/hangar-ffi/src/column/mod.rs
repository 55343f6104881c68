//! Columns and their samples: put, get (copy, owned buffer, zero-copy view), contains,
//! delete, key iteration, batches, nested subsamples.

use std::ffi::{c_char, c_void, CString};

use hangar_core::{
    ColumnKind, ColumnSchema, ReaderColumn, SampleKey, TensorRef, Value, ValueRef, WriterColumn,
};

use crate::boundary::{
    bytes, bytes_mut, check_out, dtype, free_handle, guard, guard_out, guard_void, handle,
    into_handle, invalid, key, opt_key, shape, slice, write_out, FfiError, FfiResult, Handle, Kind,
};
use crate::checkout::ViewArena;
use crate::status::*;
use crate::types::{
    hangar_buf, hangar_key, hangar_value, hangar_view, new_text, text_into, HANGAR_KIND_BYTES,
    HANGAR_KIND_NDARRAY, HANGAR_KIND_STR,
};

/// Evaluates `$body` with `$c` bound to the column, whichever checkout it came from: both
/// are `hangar_core::Column`s, with the same read methods.
macro_rules! each_col {
    ($col:expr, $c:ident => $body:expr) => {
        match $col {
            Col::Reader { col: $c, .. } => $body,
            Col::Writer($c) => $body,
        }
    };
}

#[derive(Debug)]
enum Col {
    Reader { col: ReaderColumn, views: ViewArena },
    Writer(WriterColumn),
}

/// A column of a reader checkout (read-only) or of the writer checkout (read-write). May be
/// shared by threads (writer-column calls run one at a time). Usable until its checkout
/// closes; freed with `hangar_column_free`.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct hangar_column {
    col: Col,
}

impl Handle for hangar_column {
    const KIND: Kind = Kind::Column;
}

impl hangar_column {
    pub(crate) fn reader(col: ReaderColumn, views: ViewArena) -> hangar_column {
        hangar_column {
            col: Col::Reader { col, views },
        }
    }

    pub(crate) fn writer(col: WriterColumn) -> hangar_column {
        hangar_column {
            col: Col::Writer(col),
        }
    }

    /// `HANGAR_E_CLOSED` once the column's checkout is closed: every call on the handle
    /// says so, the ones answered from what the handle holds included.
    pub(crate) fn ensure_open(&self) -> FfiResult<()> {
        each_col!(&self.col, c => c.ensure_open())?;
        Ok(())
    }

    pub(crate) fn schema(&self) -> FfiResult<ColumnSchema> {
        Ok(each_col!(&self.col, c => c.schema()?))
    }

    fn name(&self) -> FfiResult<&str> {
        self.ensure_open()?;
        Ok(each_col!(&self.col, c => c.name()))
    }

    fn writer_col(&self) -> FfiResult<&WriterColumn> {
        match &self.col {
            Col::Writer(c) => Ok(c),
            Col::Reader { col, .. } => Err(FfiError::new(
                HANGAR_E_INVALID_ARGUMENT,
                format!(
                    "column {:?} belongs to a reader checkout, which is read-only; open it from the writer checkout to change it",
                    col.name()
                ),
            )),
        }
    }

    pub(crate) fn reader_col(&self) -> Option<&ReaderColumn> {
        match &self.col {
            Col::Reader { col, .. } => Some(col),
            Col::Writer(_) => None,
        }
    }

    pub(crate) fn read(&self, k: SampleKey, sub: Option<SampleKey>) -> FfiResult<Value> {
        Ok(match (&self.col, sub) {
            (Col::Reader { col, .. }, sub) => read_committed(col, k, sub)?,
            (Col::Writer(c), None) => c.get(k)?,
            (Col::Writer(c), Some(s)) => c.get_subsample(k, s)?,
        })
    }

    fn keys(&self) -> FfiResult<Vec<SampleKey>> {
        Ok(each_col!(&self.col, c => c.keys()?.collect::<Result<Vec<_>, _>>()?))
    }
}

/// A sample (or subsample) of a reader column. Numeric samples of a commit are read as
/// zero-copy views, so whoever copies them out copies once.
pub(crate) fn read_committed(
    col: &ReaderColumn,
    k: SampleKey,
    sub: Option<SampleKey>,
) -> hangar_core::Result<Value> {
    let numeric = col.schema()?.kind() == ColumnKind::NdArray;
    match sub {
        None if numeric => col.get_view(k).map(Value::Tensor),
        Some(s) if numeric => col.get_subsample_view(k, s).map(Value::Tensor),
        None => col.get(k),
        Some(s) => col.get_subsample(k, s),
    }
}

fn kind_code(kind: ColumnKind) -> i32 {
    match kind {
        ColumnKind::NdArray => HANGAR_KIND_NDARRAY,
        ColumnKind::Str => HANGAR_KIND_STR,
        ColumnKind::Bytes => HANGAR_KIND_BYTES,
    }
}

/// Frees a column handle. NULL is accepted and ignored.
#[no_mangle]
pub extern "C" fn hangar_column_free(column: *mut hangar_column) {
    guard_void(|| free_handle(column));
}

/// Copies the column's name into `buf` (`len` bytes, NUL-terminated).
#[no_mangle]
pub extern "C" fn hangar_column_name(
    column: *const hangar_column,
    buf: *mut c_char,
    len: usize,
) -> hangar_status {
    guard(|| text_into(handle(column, "column")?.name()?, buf, len, "buf"))
}

/// The column's schema: `*kind` a `HANGAR_KIND_*` code, `*nested` whether it holds
/// subsamples, `*variable_shape` whether sample shapes may vary (numeric columns), and
/// `*dtype` a `HANGAR_DTYPE_*` code (0 for text columns). Any output may be NULL.
#[no_mangle]
pub extern "C" fn hangar_column_schema(
    column: *const hangar_column,
    kind: *mut i32,
    nested: *mut bool,
    variable_shape: *mut bool,
    dtype_out: *mut i32,
) -> hangar_status {
    guard(|| {
        let s = handle(column, "column")?.schema()?;
        if !kind.is_null() {
            write_out(kind, kind_code(s.kind()));
        }
        if !nested.is_null() {
            write_out(nested, s.is_nested());
        }
        if !variable_shape.is_null() {
            write_out(variable_shape, s.variable_shape());
        }
        if !dtype_out.is_null() {
            write_out(dtype_out, s.dtype().map_or(0, |d| i32::from(d.code())));
        }
        Ok(())
    })
}

/// Copies the column's compression into `buf` (`len` bytes, NUL-terminated): `"none"`,
/// `"zstd:<level>"` or `"lz4"`.
#[no_mangle]
pub extern "C" fn hangar_column_compression(
    column: *const hangar_column,
    buf: *mut c_char,
    len: usize,
) -> hangar_status {
    guard(|| {
        let s = handle(column, "column")?.schema()?;
        text_into(&s.compression().to_string(), buf, len, "buf")
    })
}

/// The column's shape (for variable-shape columns, the maximum in each dimension).
/// `*ndim` receives the number of dimensions; `shape` (may be NULL to ask only for ndim)
/// receives the sizes and must hold `cap >= ndim` entries.
#[no_mangle]
pub extern "C" fn hangar_column_shape(
    column: *const hangar_column,
    shape_out: *mut usize,
    cap: usize,
    ndim: *mut usize,
) -> hangar_status {
    guard(|| {
        check_out(ndim, "ndim")?;
        let s = handle(column, "column")?.schema()?;
        fill_shape(s.shape(), shape_out, cap)?;
        write_out(ndim, s.shape().len());
        Ok(())
    })
}

fn fill_shape(dims: &[usize], out: *mut usize, cap: usize) -> FfiResult<()> {
    if out.is_null() {
        return Ok(());
    }
    if cap < dims.len() {
        return Err(FfiError::new(
            HANGAR_E_BUFFER_TOO_SMALL,
            format!(
                "shape holds {cap} entries but the array has {} dimensions",
                dims.len()
            ),
        ));
    }
    // SAFETY: non-NULL, and the caller promises `cap` writable entries.
    let dst = unsafe { std::slice::from_raw_parts_mut(out, dims.len()) };
    dst.copy_from_slice(dims);
    Ok(())
}

/// The number of samples (for nested columns: of sample keys, not subsamples).
#[no_mangle]
pub extern "C" fn hangar_column_len(
    column: *const hangar_column,
    out: *mut usize,
) -> hangar_status {
    guard_out(out, || {
        Ok(each_col!(&handle(column, "column")?.col, c => c.len()?))
    })
}

/// The total number of subsamples of a nested column.
#[no_mangle]
pub extern "C" fn hangar_column_num_subsamples(
    column: *const hangar_column,
    out: *mut usize,
) -> hangar_status {
    guard_out(out, || {
        Ok(each_col!(&handle(column, "column")?.col, c => c.num_subsamples()?))
    })
}

/// Whether sample `key` (or, when `subkey` is not NULL, its subsample `subkey`) exists.
#[no_mangle]
pub extern "C" fn hangar_column_contains(
    column: *const hangar_column,
    sample: hangar_key,
    subkey: *const hangar_key,
    out: *mut bool,
) -> hangar_status {
    guard_out(out, || {
        let c = handle(column, "column")?;
        let k = key(&sample, "key")?;
        let sub = opt_key(subkey, "subkey")?;
        Ok(each_col!(&c.col, c => match sub {
            None => c.contains(k)?,
            Some(s) => c.contains_subsample(k, s)?,
        }))
    })
}

/// What `hangar_column_info` reports about one sample.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct hangar_sample_info {
    /// A `HANGAR_KIND_*` code.
    pub kind: i32,
    /// A `HANGAR_DTYPE_*` code (0 for str and bytes).
    pub dtype: i32,
    /// Number of dimensions (0 for str and bytes).
    pub ndim: usize,
    /// Bytes `hangar_column_get` writes for this sample.
    pub nbytes: usize,
}

fn value_parts(v: &Value) -> (i32, i32, &[usize], &[u8]) {
    match v {
        Value::Tensor(t) => (
            HANGAR_KIND_NDARRAY,
            i32::from(t.dtype().code()),
            t.shape(),
            t.as_bytes(),
        ),
        Value::Str(s) => (HANGAR_KIND_STR, 0, &[], s.as_bytes()),
        Value::Bytes(b) => (HANGAR_KIND_BYTES, 0, &[], b.as_slice()),
    }
}

/// Describes sample `key` (or subsample `subkey`): kind, dtype, ndim and the bytes needed
/// to get it into `*info`, and, when `shape` is not NULL (`cap >= ndim` entries), its shape.
#[no_mangle]
pub extern "C" fn hangar_column_info(
    column: *const hangar_column,
    sample: hangar_key,
    subkey: *const hangar_key,
    info: *mut hangar_sample_info,
    shape_out: *mut usize,
    cap: usize,
) -> hangar_status {
    guard(|| {
        check_out(info, "info")?;
        let c = handle(column, "column")?;
        let v = c.read(key(&sample, "key")?, opt_key(subkey, "subkey")?)?;
        describe(&v, info, shape_out, cap)
    })
}

/// Copies sample `key` (or subsample `subkey`) into `buf` (`len` bytes): a numeric array's
/// elements in C order, or a str/bytes value's bytes (no NUL added). `*written` (may be
/// NULL) receives the byte count. `HANGAR_E_BUFFER_TOO_SMALL` (nothing written) when `len`
/// is less than the `nbytes` that `hangar_column_info` reports.
#[no_mangle]
pub extern "C" fn hangar_column_get(
    column: *const hangar_column,
    sample: hangar_key,
    subkey: *const hangar_key,
    buf: *mut c_void,
    len: usize,
    written: *mut usize,
) -> hangar_status {
    guard(|| {
        let c = handle(column, "column")?;
        let k = key(&sample, "key")?;
        let sub = opt_key(subkey, "subkey")?;
        let v = c.read(k, sub)?;
        let (_, _, _, data) = value_parts(&v);
        copy_into(data, buf, len)?;
        if !written.is_null() {
            write_out(written, data.len());
        }
        Ok(())
    })
}

/// An array argument of `n` keys, each checked.
pub(crate) fn keys_arg(keys: *const hangar_key, n: usize, arg: &str) -> FfiResult<Vec<SampleKey>> {
    slice(keys, n, arg)?.iter().map(|k| key(k, arg)).collect()
}

/// Fills `*info` (and the shape, when `shape_out` is not NULL) from `v`, as
/// `hangar_column_info` reports a sample; `HANGAR_E_BUFFER_TOO_SMALL`, with nothing
/// written, when `cap` is less than its number of dimensions.
fn describe(
    v: &Value,
    info: *mut hangar_sample_info,
    shape_out: *mut usize,
    cap: usize,
) -> FfiResult<()> {
    let (kind, dt, dims, data) = value_parts(v);
    fill_shape(dims, shape_out, cap)?;
    write_out(
        info,
        hangar_sample_info {
            kind,
            dtype: dt,
            ndim: dims.len(),
            nbytes: data.len(),
        },
    );
    Ok(())
}

/// A value's bytes, owned: an array's elements or the text's bytes.
fn value_bytes(v: Value) -> Vec<u8> {
    match v {
        Value::Tensor(t) => t.as_bytes().to_vec(),
        Value::Str(s) => s.into_bytes(),
        Value::Bytes(b) => b,
    }
}

fn copy_into(data: &[u8], buf: *mut c_void, len: usize) -> FfiResult<()> {
    if len < data.len() {
        return Err(FfiError::new(
            HANGAR_E_BUFFER_TOO_SMALL,
            format!("buf holds {len} bytes but the sample needs {}", data.len()),
        ));
    }
    let out = bytes_mut(buf.cast(), data.len(), "buf")?;
    out.copy_from_slice(data);
    Ok(())
}

/// Sample `key` (or subsample `subkey`) as a new owned buffer (`hangar_buf_free`): the
/// array's bytes, or the str/bytes value (followed by a NUL not counted in its length).
#[no_mangle]
pub extern "C" fn hangar_column_get_buf(
    column: *const hangar_column,
    sample: hangar_key,
    subkey: *const hangar_key,
    out: *mut *mut hangar_buf,
) -> hangar_status {
    guard_out(out, || {
        let c = handle(column, "column")?;
        let v = c.read(key(&sample, "key")?, opt_key(subkey, "subkey")?)?;
        Ok(into_handle(hangar_buf::from_bytes(value_bytes(v))))
    })
}

/// A zero-copy view of numeric sample `key` (or subsample `subkey`) of a reader column,
/// memory-mapped from the repository: no bytes are copied. The view's pointers stay valid
/// until the reader checkout is closed or freed. What keeps them valid grows with the
/// data read, not with the number of reads: reading the same samples again (epoch after
/// epoch) holds nothing more. Values that are not in a mapped file (inline values of at
/// most 64 bytes, values of a compressed column, values streamed from a remote) are
/// copied once per distinct content and kept until the reader closes; to read a large
/// compressed or streamed column in full, copy into your own memory with
/// `hangar_column_get` instead. Writer columns: `HANGAR_E_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn hangar_column_view(
    column: *const hangar_column,
    sample: hangar_key,
    subkey: *const hangar_key,
    out: *mut hangar_view,
) -> hangar_status {
    guard_out(out, || {
        let c = handle(column, "column")?;
        let name = c.name()?;
        let Col::Reader { col, views } = &c.col else {
            return Err(invalid(format!(
                "column {name:?} belongs to the writer checkout, whose staged data can change; views are for reader checkouts (use hangar_column_get)"
            )));
        };
        let k = key(&sample, "key")?;
        let t = match opt_key(subkey, "subkey")? {
            None => col.get_view(k)?,
            Some(s) => col.get_subsample_view(k, s)?,
        };
        let at = views.pin(&t);
        Ok(hangar_view {
            data: at.data.cast(),
            nbytes: t.as_bytes().len(),
            dtype: i32::from(t.dtype().code()),
            ndim: t.shape().len(),
            shape: at.shape,
        })
    })
}

/// Keys [`hangar_column_get_batch`] looks up and holds the values of at once.
const GET_BATCH_CHUNK: usize = 512;

/// Copies `n` samples of a fixed-shape numeric column into one contiguous buffer, sample
/// `i` (`keys[i]`) at offset `i * sample_bytes`; `len` must be at least `n * sample_bytes`.
/// On error the buffer's contents are unspecified.
#[no_mangle]
pub extern "C" fn hangar_column_get_batch(
    column: *const hangar_column,
    keys: *const hangar_key,
    n: usize,
    buf: *mut c_void,
    len: usize,
) -> hangar_status {
    guard(|| {
        let c = handle(column, "column")?;
        let schema = c.schema()?;
        let Some(dt) = schema.dtype().filter(|_| !schema.variable_shape()) else {
            return Err(invalid(format!(
                "column {:?} is not a fixed-shape numeric column; read its samples one by one",
                c.name()
            )));
        };
        let sample_bytes = schema.shape().iter().product::<usize>() * dt.size();
        let need = sample_bytes
            .checked_mul(n)
            .ok_or_else(|| invalid("n is too large"))?;
        if len < need {
            return Err(FfiError::new(
                HANGAR_E_BUFFER_TOO_SMALL,
                format!("buf holds {len} bytes but {n} samples need {need}"),
            ));
        }
        let ks = slice(keys, n, "keys")?;
        let out = bytes_mut(buf.cast(), need, "buf")?;
        let ks: Vec<SampleKey> = ks
            .iter()
            .map(|k| key(k, "keys[i]"))
            .collect::<FfiResult<_>>()?;
        // Read through a remote: every value not here is fetched at once.
        if let Col::Reader { col, .. } = &c.col {
            col.prefetch(&ks)?;
        }
        // A chunk of keys at a time: one search of the record table for the chunk, and a
        // reader's values are views of the mapped segments (each copied once, into
        // `buf`). Chunked, because a view of a compressed column's value keeps its whole
        // decoded page alive: a batch holds at most GET_BATCH_CHUNK pages at once.
        let mut dsts = out.chunks_exact_mut(sample_bytes.max(1)).enumerate();
        for chunk in ks.chunks(GET_BATCH_CHUNK) {
            let values: Vec<Value> = match &c.col {
                Col::Reader { col, .. } => col
                    .get_views(chunk)?
                    .into_iter()
                    .map(Value::Tensor)
                    .collect(),
                Col::Writer(w) => w.get_many(chunk)?,
            };
            // `values` first: zip takes from its left side first, and a destination
            // taken after the chunk's last value would be skipped.
            for (v, (i, dst)) in values.iter().zip(dsts.by_ref()) {
                let src = value_parts(v).3;
                if src.len() != dst.len() {
                    return Err(invalid(format!(
                        "keys[{i}] holds {} bytes, not the {sample_bytes} of the column's shape",
                        src.len()
                    )));
                }
                dst.copy_from_slice(src);
            }
        }
        Ok(())
    })
}

mod keys;
mod write;

pub use keys::*;
pub use write::*;
