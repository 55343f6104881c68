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

fn put_value(
    c: &hangar_column,
    k: SampleKey,
    sub: Option<SampleKey>,
    v: ValueRef<'_>,
) -> FfiResult<()> {
    let w = c.writer_col()?;
    match sub {
        None => w.set(k, v)?,
        Some(s) => w.set_subsample(k, s, v)?,
    }
    Ok(())
}

/// Stores a numeric array as sample `key` (subsample `subkey` of a nested column when
/// not NULL), replacing any previous value: `nbytes` bytes at `data` holding elements of
/// `dtype` in C order with shape `shape` (`ndim` sizes). The dtype and shape must suit the
/// column and agree with `nbytes`; nothing is stored otherwise. The data is copied.
#[no_mangle]
pub extern "C" fn hangar_column_put(
    column: *const hangar_column,
    sample: hangar_key,
    subkey: *const hangar_key,
    data: *const c_void,
    nbytes: usize,
    dtype_code: i32,
    shape_ptr: *const usize,
    ndim: usize,
) -> hangar_status {
    guard(|| {
        let c = handle(column, "column")?;
        let k = key(&sample, "key")?;
        let sub = opt_key(subkey, "subkey")?;
        let dt = dtype(dtype_code)?;
        let shp = shape(shape_ptr, ndim, "shape")?;
        let data = bytes(data.cast(), nbytes, "data")?;
        let t = TensorRef::from_bytes(dt, &shp, data);
        t.check()?;
        put_value(c, k, sub, ValueRef::Tensor(t))
    })
}

/// Stores `len` bytes at `data` as sample `key` (or subsample `subkey`) of a str column
/// (the bytes must be UTF-8; no NUL terminator needed) or a bytes column.
#[no_mangle]
pub extern "C" fn hangar_column_put_text(
    column: *const hangar_column,
    sample: hangar_key,
    subkey: *const hangar_key,
    data: *const c_void,
    len: usize,
) -> hangar_status {
    guard(|| {
        let c = handle(column, "column")?;
        let k = key(&sample, "key")?;
        let sub = opt_key(subkey, "subkey")?;
        let b = bytes(data.cast(), len, "data")?;
        let v = text_value(c, c.schema()?.kind(), b)?;
        put_value(c, k, sub, v)
    })
}

/// `b` as a value of column `c` of kind `kind`: str (checked UTF-8) or bytes.
fn text_value<'a>(c: &hangar_column, kind: ColumnKind, b: &'a [u8]) -> FfiResult<ValueRef<'a>> {
    Ok(match kind {
        ColumnKind::Str => ValueRef::Str(std::str::from_utf8(b).map_err(|e| {
            FfiError::new(
                HANGAR_E_INVALID_UTF8,
                format!(
                    "data is not valid UTF-8 (invalid byte at offset {}); a str column holds UTF-8 text, a bytes column any bytes",
                    e.valid_up_to()
                ),
            )
        })?),
        ColumnKind::Bytes => ValueRef::Bytes(b),
        ColumnKind::NdArray => {
            return Err(invalid(format!(
                "column {:?} holds numeric arrays; use hangar_column_put",
                c.name()?
            )))
        }
    })
}

/// A `hangar_value` argument as a value for column `c` of kind `kind` (the value's kind
/// must be the column's).
fn value_arg<'a>(
    c: &hangar_column,
    kind: ColumnKind,
    v: &'a hangar_value,
    arg: &str,
) -> FfiResult<ValueRef<'a>> {
    let data = bytes(v.data.cast(), v.nbytes, arg)?;
    if v.kind != kind_code(kind) {
        return Err(invalid(format!(
            "{arg}: kind {} given, but column {:?} holds kind {} values (HANGAR_KIND_NDARRAY = 1, _STR = 2, _BYTES = 3)",
            v.kind,
            c.name()?,
            kind_code(kind)
        )));
    }
    if kind != ColumnKind::NdArray {
        return text_value(c, kind, data);
    }
    let t = TensorRef::from_bytes(dtype(v.dtype)?, &shape(v.shape, v.ndim, arg)?, data);
    t.check()?;
    Ok(ValueRef::Tensor(t))
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
fn keys_arg(keys: *const hangar_key, n: usize, arg: &str) -> FfiResult<Vec<SampleKey>> {
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
/// until the reader checkout is closed or freed (each view keeps a few dozen bytes of
/// bookkeeping until then; for millions of reads into your own memory use
/// `hangar_column_get`). Writer columns: `HANGAR_E_INVALID_ARGUMENT`.
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
        let view = hangar_view {
            data: t.as_bytes().as_ptr().cast(),
            nbytes: t.as_bytes().len(),
            dtype: i32::from(t.dtype().code()),
            ndim: t.shape().len(),
            shape: t.shape().as_ptr(),
        };
        // The tensor's buffer and shape live on the heap: moving it into the arena does
        // not move what the view points to.
        views.lock().unwrap_or_else(|p| p.into_inner()).push(t);
        Ok(view)
    })
}

/// Deletes sample `key` (with all its subsamples), or only subsample `subkey` when not
/// NULL. `HANGAR_E_NOT_FOUND` when absent. Writer columns only.
#[no_mangle]
pub extern "C" fn hangar_column_delete(
    column: *const hangar_column,
    sample: hangar_key,
    subkey: *const hangar_key,
) -> hangar_status {
    guard(|| {
        let w = handle(column, "column")?.writer_col()?;
        let k = key(&sample, "key")?;
        match opt_key(subkey, "subkey")? {
            None => w.delete(k)?,
            Some(s) => w.delete_subsample(k, s)?,
        }
        Ok(())
    })
}

/// Stores `n` numeric samples from one contiguous buffer: `nbytes` bytes at `data` hold `n`
/// arrays of `dtype` with shape `sample_shape` (`ndim` sizes), one after another in C
/// order; sample `i` is stored under `keys[i]`. All or nothing: on error none is stored.
#[no_mangle]
pub extern "C" fn hangar_column_put_batch(
    column: *const hangar_column,
    keys: *const hangar_key,
    n: usize,
    data: *const c_void,
    nbytes: usize,
    dtype_code: i32,
    sample_shape: *const usize,
    ndim: usize,
) -> hangar_status {
    guard(|| {
        let w = handle(column, "column")?.writer_col()?;
        let ks = keys_arg(keys, n, "keys")?;
        let dt = dtype(dtype_code)?;
        let mut full = vec![n];
        full.extend(shape(sample_shape, ndim, "sample_shape")?);
        let data = bytes(data.cast(), nbytes, "data")?;
        let t = TensorRef::from_bytes(dt, &full, data);
        t.check()?;
        w.extend_from_buffer(ks, t)?;
        Ok(())
    })
}

/// Stores `n` values of any kind and shape, all or nothing (on error none is stored), as
/// one staged change: `values[i]` under `keys[i]`, or, for a nested column, as subsample
/// `subkeys[i]` of sample `keys[i]` (other subsamples are kept; samples are created as
/// needed). `subkeys` is NULL for a flat column and required for a nested one. For
/// numeric samples of one shape in one buffer, `hangar_column_put_batch` is faster.
#[no_mangle]
pub extern "C" fn hangar_column_update(
    column: *const hangar_column,
    keys: *const hangar_key,
    subkeys: *const hangar_key,
    values: *const hangar_value,
    n: usize,
) -> hangar_status {
    guard(|| {
        let c = handle(column, "column")?;
        let w = c.writer_col()?;
        let schema = c.schema()?;
        let ks = keys_arg(keys, n, "keys")?;
        let vs = slice(values, n, "values")?
            .iter()
            .map(|v| value_arg(c, schema.kind(), v, "values[i]"))
            .collect::<FfiResult<Vec<_>>>()?;
        match (schema.is_nested(), subkeys.is_null()) {
            (false, true) => w.update(ks.into_iter().zip(vs))?,
            (true, false) => {
                let subs = keys_arg(subkeys, n, "subkeys")?;
                w.update_subsamples(
                    ks.into_iter()
                        .zip(subs)
                        .zip(vs)
                        .map(|((k, s), v)| (k, s, v)),
                )?
            }
            (true, true) => {
                return Err(invalid(format!(
                    "column {:?} is nested: give subkeys (the subsample of each key to set)",
                    c.name()?
                )))
            }
            (false, false) => {
                return Err(invalid(format!(
                    "column {:?} is flat: it has no subsamples; pass subkeys = NULL",
                    c.name()?
                )))
            }
        }
        Ok(())
    })
}

/// Stores `value` under a newly generated key (a 28-character string, unique in the
/// column) and hands the key out through `key_out` as a NUL-terminated buffer
/// (`hangar_buf_free`). With `sample` NULL it adds a sample to a flat column; otherwise it
/// adds a subsample to nested sample `*sample` (created if absent).
#[no_mangle]
pub extern "C" fn hangar_column_append(
    column: *const hangar_column,
    sample: *const hangar_key,
    value: *const hangar_value,
    key_out: *mut *mut hangar_buf,
) -> hangar_status {
    guard_out(key_out, || {
        let c = handle(column, "column")?;
        let w = c.writer_col()?;
        let v = value_arg(
            c,
            c.schema()?.kind(),
            &slice(value, 1, "value")?[0],
            "value",
        )?;
        let k = match opt_key(sample, "sample")? {
            None => w.append(v)?,
            Some(s) => w.append_subsample(s, v)?,
        };
        Ok(new_text(k.to_string()))
    })
}

/// Removes sample `key` (or subsample `subkey` of a nested sample) and hands its value
/// out: `*info` as `hangar_column_info` fills it, its shape into `shape_out` when not NULL
/// (`cap` entries; `HANGAR_E_BUFFER_TOO_SMALL` with nothing removed when too few), and
/// its bytes as a new buffer through `value_out` (`hangar_buf_free`). `HANGAR_E_NOT_FOUND`
/// when absent. A whole nested sample is not popped in one call: pop its subsamples, or
/// read them and `hangar_column_delete` it.
#[no_mangle]
pub extern "C" fn hangar_column_pop(
    column: *const hangar_column,
    sample: hangar_key,
    subkey: *const hangar_key,
    info: *mut hangar_sample_info,
    shape_out: *mut usize,
    cap: usize,
    value_out: *mut *mut hangar_buf,
) -> hangar_status {
    guard_out(value_out, || {
        check_out(info, "info")?;
        let c = handle(column, "column")?;
        let w = c.writer_col()?;
        let k = key(&sample, "key")?;
        let sub = opt_key(subkey, "subkey")?;
        if sub.is_none() && c.schema()?.is_nested() {
            return Err(invalid(format!(
                "column {:?} is nested: pop one subsample at a time (give subkey), or read the sample's subsamples and delete it",
                c.name()?
            )));
        }
        // Read and described (which checks the shape's room) before anything is removed.
        let v = c.read(k.clone(), sub.clone())?;
        describe(&v, info, shape_out, cap)?;
        match sub {
            None => w.delete(k)?,
            Some(s) => w.delete_subsample(k, s)?,
        }
        Ok(into_handle(hangar_buf::from_bytes(value_bytes(v))))
    })
}

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
        for (i, k) in ks.iter().enumerate() {
            let k = key(k, "keys[i]")?;
            let v = c.read(k, None)?;
            out[i * sample_bytes..(i + 1) * sample_bytes].copy_from_slice(value_parts(&v).3);
        }
        Ok(())
    })
}

/// An iterator over sample keys (or one sample's subsample keys), taken as a snapshot when
/// it is made. Freed with `hangar_key_iter_free`. `hangar_key_iter_next` changes it: one
/// thread at a time.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct hangar_key_iter {
    keys: std::sync::Mutex<(std::vec::IntoIter<SampleKey>, Option<CString>)>,
    len: usize,
}

impl Handle for hangar_key_iter {
    const KIND: Kind = Kind::KeyIter;
}

fn new_key_iter(keys: Vec<SampleKey>) -> *mut hangar_key_iter {
    let len = keys.len();
    into_handle(hangar_key_iter {
        keys: std::sync::Mutex::new((keys.into_iter(), None)),
        len,
    })
}

/// A new iterator over the column's sample keys in key order (integers first, then
/// strings). `*out` is freed with `hangar_key_iter_free`.
#[no_mangle]
pub extern "C" fn hangar_column_keys(
    column: *const hangar_column,
    out: *mut *mut hangar_key_iter,
) -> hangar_status {
    guard_out(out, || {
        let keys = handle(column, "column")?.keys()?;
        Ok(new_key_iter(keys))
    })
}

/// A new iterator over the subsample keys of sample `key` of a nested column.
#[no_mangle]
pub extern "C" fn hangar_column_subkeys(
    column: *const hangar_column,
    sample: hangar_key,
    out: *mut *mut hangar_key_iter,
) -> hangar_status {
    guard_out(out, || {
        let c = handle(column, "column")?;
        let k = key(&sample, "key")?;
        let keys = match &c.col {
            Col::Reader { col, .. } => col.subsample_keys(k)?,
            Col::Writer(w) => w.subsample_keys(k)?,
        };
        Ok(new_key_iter(keys))
    })
}

/// The number of keys the iterator was made with.
#[no_mangle]
pub extern "C" fn hangar_key_iter_len(
    iter: *const hangar_key_iter,
    out: *mut usize,
) -> hangar_status {
    guard_out(out, || Ok(handle(iter, "iter")?.len))
}

/// Advances the iterator: `*has_key` says whether a key was produced into `*key`. A string
/// key's `text` lives until the next call or `hangar_key_iter_free`.
#[no_mangle]
pub extern "C" fn hangar_key_iter_next(
    iter: *mut hangar_key_iter,
    key_out: *mut hangar_key,
    has_key: *mut bool,
) -> hangar_status {
    guard(|| {
        check_out(key_out, "key")?;
        check_out(has_key, "has_key")?;
        let it = handle(iter.cast_const(), "iter")?;
        let mut st = it.keys.lock().unwrap_or_else(|p| p.into_inner());
        let (keys, current) = &mut *st;
        match keys.next() {
            None => {
                *current = None;
                write_out(has_key, false);
            }
            Some(SampleKey::Int(n)) => {
                *current = None;
                write_out(
                    key_out,
                    hangar_key {
                        text: std::ptr::null(),
                        number: n,
                    },
                );
                write_out(has_key, true);
            }
            Some(SampleKey::Str(s)) => {
                let c = CString::new(s).map_err(|_| {
                    FfiError::new(HANGAR_E_CORRUPT, "a stored string key contains a NUL byte")
                })?;
                let text = current.insert(c).as_ptr();
                write_out(key_out, hangar_key { text, number: 0 });
                write_out(has_key, true);
            }
        }
        Ok(())
    })
}

/// Frees a key iterator. NULL is accepted and ignored.
#[no_mangle]
pub extern "C" fn hangar_key_iter_free(iter: *mut hangar_key_iter) {
    guard_void(|| free_handle(iter));
}
