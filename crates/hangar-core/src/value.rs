//! Sample values: tensors, strings and byte strings, borrowed on the way in and owned
//! (or zero-copy over a memory map) on the way out.

use std::fmt;

use arrow_buffer::{Buffer, MutableBuffer};
use hangar_store::{DType, Element};

use crate::error::{invalid, Result};

/// Largest str or bytes value accepted, in bytes.
pub const MAX_BLOB_BYTES: usize = 64 << 20;

/// Most dimensions a tensor may have.
const RANK_LIMIT: usize = 31;

/// A borrowed tensor: dtype, shape (C order, copied in) and the element bytes.
#[derive(Debug, Clone, Copy)]
pub struct TensorRef<'a> {
    dtype: DType,
    dims: [usize; RANK_LIMIT],
    /// The rank given; above [`RANK_LIMIT`] only the first dimensions are kept and
    /// [`TensorRef::check`] reports the error.
    rank: usize,
    bytes: &'a [u8],
}

fn dims_of(shape: &[usize]) -> ([usize; RANK_LIMIT], usize) {
    let mut dims = [0usize; RANK_LIMIT];
    let n = shape.len().min(RANK_LIMIT);
    dims[..n].copy_from_slice(&shape[..n]);
    (dims, shape.len())
}

impl<'a> TensorRef<'a> {
    /// A tensor over typed data with the given shape (checked when used).
    pub fn new<T: Element>(data: &'a [T], shape: &[usize]) -> TensorRef<'a> {
        let (dims, rank) = dims_of(shape);
        TensorRef {
            dtype: T::DTYPE,
            dims,
            rank,
            bytes: bytemuck::cast_slice(data),
        }
    }

    /// A bool tensor.
    pub fn from_bools(data: &'a [bool], shape: &[usize]) -> TensorRef<'a> {
        let (dims, rank) = dims_of(shape);
        TensorRef {
            dtype: DType::Bool,
            dims,
            rank,
            bytes: bytemuck::cast_slice(data),
        }
    }

    /// A tensor from raw little-endian element bytes of `dtype`.
    pub fn from_bytes(dtype: DType, shape: &[usize], bytes: &'a [u8]) -> TensorRef<'a> {
        let (dims, rank) = dims_of(shape);
        TensorRef {
            dtype,
            dims,
            rank,
            bytes,
        }
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Shape.
    pub fn shape(&self) -> &[usize] {
        &self.dims[..self.rank.min(RANK_LIMIT)]
    }

    /// Element bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Checks that the bytes hold exactly `prod(shape)` elements (and, for bool, that
    /// every element is 0 or 1).
    pub fn check(&self) -> Result<()> {
        if self.rank > RANK_LIMIT {
            return Err(invalid(format!(
                "tensor rank {} exceeds the maximum of {RANK_LIMIT}",
                self.rank
            )));
        }
        let elements = self
            .shape()
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| {
                invalid(format!(
                    "tensor shape {} overflows",
                    fmt_shape(self.shape())
                ))
            })?;
        let want = elements.checked_mul(self.dtype.size());
        if want != Some(self.bytes.len()) {
            return Err(invalid(format!(
                "{} bytes do not hold a {} tensor of shape {} ({} bytes needed)",
                self.bytes.len(),
                self.dtype,
                fmt_shape(self.shape()),
                want.map_or("too many".to_string(), |w| w.to_string())
            )));
        }
        if self.dtype == DType::Bool {
            if let Some(i) = self.bytes.iter().position(|&b| b > 1) {
                return Err(invalid(format!(
                    "bool tensor holds byte {} at element {i}; bool elements must be 0 or 1",
                    self.bytes[i]
                )));
            }
        }
        Ok(())
    }
}

/// An owned (or memory-mapped, zero-copy) tensor read from a repository.
#[derive(Clone)]
pub struct Tensor {
    dtype: DType,
    shape: Vec<usize>,
    data: Buffer,
    /// See [`Tensor::is_mapped`].
    mapped: bool,
}

/// Tensors are equal when their dtype, shape and elements are: where the bytes live does
/// not count.
impl PartialEq for Tensor {
    fn eq(&self, other: &Tensor) -> bool {
        self.dtype == other.dtype && self.shape == other.shape && self.data == other.data
    }
}

impl Eq for Tensor {}

impl Tensor {
    /// Wraps a buffer already known to hold `prod(shape)` elements of `dtype`; `mapped`
    /// as [`Tensor::is_mapped`] says.
    pub(crate) fn from_parts(
        dtype: DType,
        shape: Vec<usize>,
        data: Buffer,
        mapped: bool,
    ) -> Tensor {
        Tensor {
            dtype,
            shape,
            data,
            mapped,
        }
    }

    /// True when the bytes are read zero-copy from a file the repository maps (an Arrow
    /// segment): the [`Tensor::buffer`] is then a slice of that file's one mapping, and
    /// every tensor read from the same file has the same [`Buffer::data_ptr`]. False for a
    /// copy (`get`, inline values) and for values decoded from a compressed column or
    /// streamed from a remote. A C view of a mapped tensor stays valid while any buffer of
    /// its file is kept, so the C ABI keeps one per file, not one per read.
    pub fn is_mapped(&self) -> bool {
        self.mapped
    }

    /// Copies typed data into a new tensor.
    pub fn from_slice<T: Element>(data: &[T], shape: &[usize]) -> Result<Tensor> {
        let r = TensorRef::new(data, shape);
        r.check()?;
        Ok(Tensor::from(r))
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Shape (C order).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True if the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.data.as_slice()
    }

    /// The underlying Arrow buffer (for zero-copy reads it maps the segment file).
    pub fn buffer(&self) -> &Buffer {
        &self.data
    }

    /// The elements as a typed slice; `InvalidArgument` if `T` is not the tensor's dtype.
    pub fn as_slice<T: Element>(&self) -> Result<&[T]> {
        if T::DTYPE != self.dtype {
            return Err(invalid(format!(
                "tensor holds {} elements, not {}",
                self.dtype,
                T::DTYPE
            )));
        }
        bytemuck::try_cast_slice(self.data.as_slice()).map_err(|e| {
            invalid(format!(
                "tensor bytes cannot be viewed as {}: {e}",
                T::DTYPE
            ))
        })
    }

    /// The elements of a bool tensor.
    pub fn as_bools(&self) -> Result<&[bool]> {
        if self.dtype != DType::Bool {
            return Err(invalid(format!(
                "tensor holds {} elements, not bool",
                self.dtype
            )));
        }
        bytemuck::checked::try_cast_slice(self.data.as_slice())
            .map_err(|e| invalid(format!("tensor bytes are not valid bools: {e}")))
    }

    /// The elements copied into a vector.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        Ok(self.as_slice::<T>()?.to_vec())
    }

    /// A borrowed view of this tensor.
    pub fn as_tensor_ref(&self) -> TensorRef<'_> {
        TensorRef::from_bytes(self.dtype, &self.shape, self.data.as_slice())
    }
}

impl From<TensorRef<'_>> for Tensor {
    fn from(r: TensorRef<'_>) -> Tensor {
        let mut m = MutableBuffer::with_capacity(r.bytes.len());
        m.extend_from_slice(r.bytes);
        Tensor {
            dtype: r.dtype,
            shape: r.shape().to_vec(),
            data: m.into(),
            mapped: false,
        }
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Tensor({}, shape {})",
            self.dtype,
            fmt_shape(&self.shape)
        )
    }
}

/// Formats a shape the numpy way: `(784,)`, `(28, 28)`, `()`.
pub fn fmt_shape(shape: &[usize]) -> String {
    match shape {
        [] => "()".to_string(),
        [d] => format!("({d},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A value to store.
// The tensor variant carries its (up to 31) dimensions inline so callers need not keep a
// shape slice alive; a ValueRef lives only for one call, so its size costs a memcpy,
// while boxing would cost an allocation per sample.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy)]
pub enum ValueRef<'a> {
    /// An n-dimensional array.
    Tensor(TensorRef<'a>),
    /// UTF-8 text.
    Str(&'a str),
    /// Raw bytes.
    Bytes(&'a [u8]),
}

impl ValueRef<'_> {
    /// True if `v` holds exactly this value: the same kind, dtype, shape and bytes.
    pub fn same_as(&self, v: &Value) -> bool {
        match (self, v) {
            (ValueRef::Tensor(a), Value::Tensor(b)) => {
                a.dtype() == b.dtype() && a.shape() == b.shape() && a.bytes() == b.as_bytes()
            }
            (ValueRef::Str(a), Value::Str(b)) => *a == b.as_str(),
            (ValueRef::Bytes(a), Value::Bytes(b)) => *a == b.as_slice(),
            _ => false,
        }
    }

    /// "ndarray", "str" or "bytes".
    pub fn kind_name(&self) -> &'static str {
        match self {
            ValueRef::Tensor(_) => "ndarray",
            ValueRef::Str(_) => "str",
            ValueRef::Bytes(_) => "bytes",
        }
    }
}

impl<'a> From<TensorRef<'a>> for ValueRef<'a> {
    fn from(t: TensorRef<'a>) -> Self {
        ValueRef::Tensor(t)
    }
}

impl<'a> From<&'a Tensor> for ValueRef<'a> {
    fn from(t: &'a Tensor) -> Self {
        ValueRef::Tensor(t.as_tensor_ref())
    }
}

impl<'a> From<&'a str> for ValueRef<'a> {
    fn from(s: &'a str) -> Self {
        ValueRef::Str(s)
    }
}

impl<'a> From<&'a String> for ValueRef<'a> {
    fn from(s: &'a String) -> Self {
        ValueRef::Str(s)
    }
}

impl<'a> From<&'a Value> for ValueRef<'a> {
    fn from(v: &'a Value) -> Self {
        match v {
            Value::Tensor(t) => ValueRef::Tensor(t.as_tensor_ref()),
            Value::Str(s) => ValueRef::Str(s),
            Value::Bytes(b) => ValueRef::Bytes(b),
        }
    }
}

/// A value read from a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An n-dimensional array.
    Tensor(Tensor),
    /// UTF-8 text.
    Str(String),
    /// Raw bytes.
    Bytes(Vec<u8>),
}

impl Value {
    /// The tensor, or `InvalidArgument` for str/bytes values.
    pub fn into_tensor(self) -> Result<Tensor> {
        match self {
            Value::Tensor(t) => Ok(t),
            other => Err(invalid(format!(
                "value is {}, not an ndarray",
                other.kind_name()
            ))),
        }
    }

    /// The string, or `InvalidArgument` for other values.
    pub fn into_str(self) -> Result<String> {
        match self {
            Value::Str(s) => Ok(s),
            other => Err(invalid(format!("value is {}, not str", other.kind_name()))),
        }
    }

    /// The bytes, or `InvalidArgument` for other values.
    pub fn into_bytes(self) -> Result<Vec<u8>> {
        match self {
            Value::Bytes(b) => Ok(b),
            other => Err(invalid(format!(
                "value is {}, not bytes",
                other.kind_name()
            ))),
        }
    }

    /// "ndarray", "str" or "bytes".
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Tensor(_) => "ndarray",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_checks_and_views() {
        let data = [1.5f32, 2.5, 3.5, 4.5];
        let t = Tensor::from_slice(&data, &[2, 2]).unwrap();
        assert_eq!(t.as_slice::<f32>().unwrap(), &data);
        assert!(t.as_slice::<u32>().is_err());
        assert_eq!(format!("{t:?}"), "Tensor(float32, shape (2, 2))");
        assert!(TensorRef::new(&data, &[3]).check().is_err());
        assert!(TensorRef::from_bytes(DType::Bool, &[2], &[0, 2])
            .check()
            .is_err());
        let b = Tensor::from(TensorRef::from_bools(&[true, false], &[2]));
        assert_eq!(b.as_bools().unwrap(), &[true, false]);
        assert_eq!(fmt_shape(&[784]), "(784,)");
        assert_eq!(fmt_shape(&[]), "()");
        assert!(TensorRef::from_bytes(DType::U8, &[usize::MAX, 2], &[])
            .check()
            .is_err());
    }
}
