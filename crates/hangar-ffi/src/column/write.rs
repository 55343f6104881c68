//! Changing a writer column's samples: put (arrays and text), batches, update, append,
//! delete and pop.

use super::*;

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
