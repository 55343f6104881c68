//! `hangar_ndarray_spec`: how a new ndarray column is described (shape and dtype, or a
//! prototype; variable shape; subsamples).

use super::*;

/// The description of a numeric column to create: dtype, shape, and options. Made by
/// `hangar_ndarray_spec_new`, changed by the `hangar_ndarray_spec_*` setters, freed by
/// `hangar_ndarray_spec_free`. The setters change it: one thread at a time.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct hangar_ndarray_spec {
    pub(super) spec: Mutex<SpecFields>,
}

#[derive(Debug, Clone)]
pub(super) struct SpecFields {
    dtype: DType,
    shape: Vec<usize>,
    from_prototype: bool,
    variable: bool,
    nested: bool,
    compression: hangar_core::Compression,
}

impl SpecFields {
    pub(super) fn build(&self) -> NdArraySpec {
        let spec = if self.from_prototype {
            NdArraySpec::new().prototype(self.dtype, &self.shape)
        } else {
            NdArraySpec::with_shape(self.dtype, &self.shape)
        };
        spec.variable_shape(self.variable)
            .contains_subsamples(self.nested)
            .compression(self.compression)
    }
}

impl Handle for hangar_ndarray_spec {
    const KIND: Kind = Kind::NdArraySpec;
}

fn update_spec(
    spec: *mut hangar_ndarray_spec,
    f: impl FnOnce(&mut SpecFields) -> FfiResult<()>,
) -> hangar_status {
    guard(|| {
        let s = handle(spec.cast_const(), "spec")?;
        let mut cur = s.spec.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = cur.clone();
        f(&mut next)?;
        *cur = next;
        Ok(())
    })
}

/// A new column description: elements of `dtype` (a `HANGAR_DTYPE_*` code) in arrays of
/// `shape` (`ndim` sizes; ndim 0 is a scalar). Fixed shape, flat (not nested) by default.
#[no_mangle]
pub extern "C" fn hangar_ndarray_spec_new(
    dtype_code: i32,
    shape_ptr: *const usize,
    ndim: usize,
    out: *mut *mut hangar_ndarray_spec,
) -> hangar_status {
    guard_out(out, || {
        let fields = SpecFields {
            dtype: dtype(dtype_code)?,
            shape: shape(shape_ptr, ndim, "shape")?,
            from_prototype: false,
            variable: false,
            nested: false,
            compression: hangar_core::Compression::None,
        };
        Ok(into_handle(hangar_ndarray_spec {
            spec: Mutex::new(fields),
        }))
    })
}

/// Takes dtype and shape from a prototype array (`nbytes` bytes at `data`), replacing
/// those given to `hangar_ndarray_spec_new`, like the tutorial's `prototype=` argument.
/// The buffer length must agree with dtype and shape.
#[no_mangle]
pub extern "C" fn hangar_ndarray_spec_prototype(
    spec: *mut hangar_ndarray_spec,
    data: *const std::ffi::c_void,
    nbytes: usize,
    dtype_code: i32,
    shape_ptr: *const usize,
    ndim: usize,
) -> hangar_status {
    update_spec(spec, |s| {
        let dt = dtype(dtype_code)?;
        let shp = shape(shape_ptr, ndim, "shape")?;
        let data = bytes(data.cast(), nbytes, "data")?;
        TensorRef::from_bytes(dt, &shp, data).check()?;
        s.dtype = dt;
        s.shape = shp;
        s.from_prototype = true;
        Ok(())
    })
}

/// With `variable` true, samples may have any shape up to the spec's shape in each
/// dimension (same number of dimensions).
#[no_mangle]
pub extern "C" fn hangar_ndarray_spec_variable_shape(
    spec: *mut hangar_ndarray_spec,
    variable: bool,
) -> hangar_status {
    update_spec(spec, |s| {
        s.variable = variable;
        Ok(())
    })
}

/// With `nested` true, the column maps each sample key to subsamples (subkey -> array).
#[no_mangle]
pub extern "C" fn hangar_ndarray_spec_contains_subsamples(
    spec: *mut hangar_ndarray_spec,
    nested: bool,
) -> hangar_status {
    update_spec(spec, |s| {
        s.nested = nested;
        Ok(())
    })
}

/// Stores the column's committed values compressed: `codec` is `"zstd"`,
/// `"zstd:<level 1-22>"`, `"lz4"` or `"none"` (the default: uncompressed, read with no
/// decoding). Compressed values are sealed as Parquet segments and read a page at a time
/// through a page cache (docs/format.md, "Compressed segments").
#[no_mangle]
pub extern "C" fn hangar_ndarray_spec_compression(
    spec: *mut hangar_ndarray_spec,
    codec: *const c_char,
) -> hangar_status {
    update_spec(spec, |s| {
        s.compression = parse_codec(text(codec, "codec")?)?;
        Ok(())
    })
}

/// Parses a compression name for the C ABI.
pub(crate) fn parse_codec(codec: &str) -> FfiResult<hangar_core::Compression> {
    codec.parse().map_err(invalid)
}

/// Frees a column description. NULL is accepted and ignored.
#[no_mangle]
pub extern "C" fn hangar_ndarray_spec_free(spec: *mut hangar_ndarray_spec) {
    guard_void(|| free_handle(spec));
}
