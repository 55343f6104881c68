//! Column schemas: what a column holds, and the checks every value must pass.

use std::fmt;

use hangar_store::codec::{self, DecodeError, DecodeResult, Decoder, Encoder};
use hangar_store::{Compression, DType, Digest, SegmentFormat, ValueHeader};

use crate::error::{invalid, Result};
use crate::objects::ObjectType;
use crate::value::{fmt_shape, ValueRef, MAX_BLOB_BYTES};

/// Largest tensor rank.
pub const MAX_RANK: usize = 31;

/// What a column's values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnKind {
    /// n-dimensional arrays of one dtype.
    NdArray,
    /// UTF-8 strings.
    Str,
    /// Byte strings.
    Bytes,
}

impl ColumnKind {
    /// "ndarray", "str" or "bytes".
    pub fn name(self) -> &'static str {
        match self {
            ColumnKind::NdArray => "ndarray",
            ColumnKind::Str => "str",
            ColumnKind::Bytes => "bytes",
        }
    }
}

/// How samples are keyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// key → value.
    Flat,
    /// key → { subkey → value } (the original's `contains_subsamples`).
    Nested,
}

/// The schema of a column.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ColumnSchema {
    kind: ColumnKind,
    dtype: Option<DType>,
    shape: Vec<usize>,
    variable_shape: bool,
    layout: Layout,
    /// How sealed values are stored (none: Arrow IPC, zero-copy; else Parquet pages).
    compression: Compression,
}

/// Options for creating an ndarray column: either a prototype, or a shape and a dtype.
#[derive(Debug, Clone, Default)]
pub struct NdArraySpec {
    shape: Option<Vec<usize>>,
    dtype: Option<DType>,
    prototype: Option<(DType, Vec<usize>)>,
    variable_shape: bool,
    nested: bool,
    compression: Compression,
}

impl NdArraySpec {
    /// Empty options (must be completed with a prototype or shape + dtype).
    pub fn new() -> Self {
        Self::default()
    }

    /// Fixed (or, with `variable_shape`, maximum) shape and dtype.
    pub fn with_shape(dtype: DType, shape: &[usize]) -> Self {
        NdArraySpec {
            shape: Some(shape.to_vec()),
            dtype: Some(dtype),
            ..Self::default()
        }
    }

    /// Takes dtype and shape from a prototype value.
    pub fn like(prototype: crate::value::TensorRef<'_>) -> Self {
        NdArraySpec {
            prototype: Some((prototype.dtype(), prototype.shape().to_vec())),
            ..Self::default()
        }
    }

    /// Sets the shape.
    pub fn shape(mut self, shape: &[usize]) -> Self {
        self.shape = Some(shape.to_vec());
        self
    }

    /// Sets the dtype.
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = Some(dtype);
        self
    }

    /// Sets the prototype's dtype and shape.
    pub fn prototype(mut self, dtype: DType, shape: &[usize]) -> Self {
        self.prototype = Some((dtype, shape.to_vec()));
        self
    }

    /// Makes the shape a maximum: each sample has its own shape of the same rank, no
    /// dimension larger than the maximum.
    pub fn variable_shape(mut self, variable: bool) -> Self {
        self.variable_shape = variable;
        self
    }

    /// Makes samples maps of subsamples (the original's `contains_subsamples`).
    pub fn contains_subsamples(mut self, nested: bool) -> Self {
        self.nested = nested;
        self
    }

    /// Stores the column's values compressed (see [`ColumnSchema::with_compression`]).
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Validates the options into a schema.
    pub fn into_schema(self) -> Result<ColumnSchema> {
        let (nested, compression) = (self.nested, self.compression);
        let schema = self.flat_schema()?.with_compression(compression);
        Ok(if nested { schema.nested() } else { schema })
    }

    fn flat_schema(self) -> Result<ColumnSchema> {
        let (dtype, shape) =
            match (self.prototype, self.shape, self.dtype) {
                (Some(_), Some(_), _) | (Some(_), _, Some(_)) => return Err(invalid(
                    "give either a prototype or a shape and dtype for an ndarray column, not both",
                )),
                (Some((d, s)), None, None) => (d, s),
                (None, Some(s), Some(d)) => (d, s),
                (None, None, None) => return Err(invalid(
                    "an ndarray column needs a prototype or a shape and a dtype; neither was given",
                )),
                (None, Some(_), None) => {
                    return Err(invalid(
                        "an ndarray column given a shape also needs a dtype",
                    ))
                }
                (None, None, Some(_)) => {
                    return Err(invalid(
                        "an ndarray column given a dtype also needs a shape",
                    ))
                }
            };
        ColumnSchema::ndarray(dtype, &shape, self.variable_shape)
    }
}

impl ColumnSchema {
    /// An ndarray schema. Every dimension must be > 0 and the rank at most 31.
    pub fn ndarray(dtype: DType, shape: &[usize], variable_shape: bool) -> Result<ColumnSchema> {
        if shape.len() > MAX_RANK {
            return Err(invalid(format!(
                "shape {} has rank {}; the maximum rank is {MAX_RANK}",
                fmt_shape(shape),
                shape.len()
            )));
        }
        if shape.contains(&0) {
            return Err(invalid(format!(
                "shape {}: all dimensions must be greater than zero",
                fmt_shape(shape)
            )));
        }
        let elements = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64));
        if elements.is_none_or(|e| e > i32::MAX as u64) {
            return Err(invalid(format!(
                "shape {} holds more than {} elements per sample, the largest supported",
                fmt_shape(shape),
                i32::MAX
            )));
        }
        Ok(ColumnSchema {
            kind: ColumnKind::NdArray,
            dtype: Some(dtype),
            shape: shape.to_vec(),
            variable_shape,
            layout: Layout::Flat,
            compression: Compression::None,
        })
    }

    /// A str schema.
    pub fn str() -> ColumnSchema {
        ColumnSchema {
            kind: ColumnKind::Str,
            dtype: None,
            shape: Vec::new(),
            variable_shape: true,
            layout: Layout::Flat,
            compression: Compression::None,
        }
    }

    /// A bytes schema.
    pub fn bytes() -> ColumnSchema {
        ColumnSchema {
            kind: ColumnKind::Bytes,
            dtype: None,
            shape: Vec::new(),
            variable_shape: true,
            layout: Layout::Flat,
            compression: Compression::None,
        }
    }

    /// The same schema with nested layout: sample key → { subsample key → value }.
    pub fn nested(mut self) -> ColumnSchema {
        self.layout = Layout::Nested;
        self
    }

    /// The same schema storing its values compressed: sealed as Parquet segments
    /// (zstd or LZ4 pages, decoded a page at a time and cached) instead of uncompressed
    /// Arrow IPC segments read zero-copy. Values of at most [`INLINE_MAX`] bytes stay in
    /// their records either way. The compression is part of the schema (and its digest).
    pub fn with_compression(mut self, compression: Compression) -> ColumnSchema {
        self.compression = compression;
        self
    }

    /// How the column's values are stored.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// True for the nested layout.
    pub fn is_nested(&self) -> bool {
        self.layout == Layout::Nested
    }

    /// Column kind.
    pub fn kind(&self) -> ColumnKind {
        self.kind
    }

    /// Element type of an ndarray column.
    pub fn dtype(&self) -> Option<DType> {
        self.dtype
    }

    /// Fixed shape, or max shape of a variable-shape column (empty for str/bytes).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// True if samples may have their own shape (always true for str/bytes).
    pub fn variable_shape(&self) -> bool {
        self.variable_shape
    }

    /// Layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Canonical encoding (hashed into the schema digest).
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u8(1); // schema encoding version
        e.u8(match self.kind {
            ColumnKind::NdArray => 1,
            ColumnKind::Str => 2,
            ColumnKind::Bytes => 3,
        });
        e.u8(match self.layout {
            Layout::Flat => 1,
            Layout::Nested => 2,
        });
        e.u8(self.dtype.map_or(0, DType::code));
        e.u8(u8::from(self.variable_shape));
        e.varint(self.shape.len() as u64);
        for d in &self.shape {
            e.u64(*d as u64);
        }
        // Only when compressed, so every uncompressed schema keeps its digest.
        if self.compression.is_compressed() {
            let (code, level) = self.compression.code();
            e.u8(code).u8(level);
        }
        e.finish()
    }

    /// Decodes [`ColumnSchema::encode`] output, validating it.
    pub fn decode(b: &[u8]) -> DecodeResult<ColumnSchema> {
        let mut d = Decoder::new(b);
        let err = |m: String| DecodeError(m);
        if d.u8()? != 1 {
            return Err(err("unknown schema encoding version".into()));
        }
        let kind = match d.u8()? {
            1 => ColumnKind::NdArray,
            2 => ColumnKind::Str,
            3 => ColumnKind::Bytes,
            k => return Err(err(format!("unknown column kind {k}"))),
        };
        let layout = match d.u8()? {
            1 => Layout::Flat,
            2 => Layout::Nested,
            l => return Err(err(format!("unknown column layout {l}"))),
        };
        let dtype_code = d.u8()?;
        let variable = d.u8()? == 1;
        let n = d.count(8)?;
        let shape = (0..n)
            .map(|_| d.u64().map(|x| x as usize))
            .collect::<DecodeResult<Vec<_>>>()?;
        let compression = if d.remaining() > 0 {
            let code = d.u8()?;
            let c = Compression::from_code(code, d.u8()?)?;
            if !c.is_compressed() {
                return Err(err("an uncompressed schema records no compression".into()));
            }
            c
        } else {
            Compression::None
        };
        d.finish()?;
        let schema = match kind {
            ColumnKind::NdArray => {
                let dtype = DType::from_code(dtype_code)
                    .ok_or_else(|| err(format!("unknown dtype code {dtype_code}")))?;
                ColumnSchema::ndarray(dtype, &shape, variable).map_err(|e| err(e.to_string()))?
            }
            ColumnKind::Str => ColumnSchema::str(),
            ColumnKind::Bytes => ColumnSchema::bytes(),
        };
        if kind != ColumnKind::NdArray && (dtype_code != 0 || n != 0) {
            return Err(err("inconsistent schema fields".into()));
        }
        Ok(ColumnSchema {
            layout,
            compression,
            ..schema
        })
    }

    /// The schema's digest (its identity; shown shortened as the schema hash).
    pub fn digest(&self) -> Digest {
        Digest::of_object(ObjectType::Schema as u8, &self.encode())
    }

    /// Which kind of segment stores this column's values.
    pub fn segment_format(&self) -> SegmentFormat {
        match (self.kind, self.dtype) {
            (ColumnKind::NdArray, Some(dtype)) if self.variable_shape => SegmentFormat::VarTensor {
                dtype,
                rank: self.shape.len() as u8,
            },
            (ColumnKind::NdArray, Some(dtype)) => SegmentFormat::FixedTensor {
                dtype,
                shape: self.shape.iter().map(|&d| d as u64).collect(),
            },
            (ColumnKind::Str, _) => SegmentFormat::Str,
            _ => SegmentFormat::Bytes,
        }
    }

    /// Checks that `value` fits this schema; the message names the column.
    pub fn check_value(&self, column: &str, value: &ValueRef<'_>) -> Result<()> {
        match (self.kind, value) {
            (ColumnKind::NdArray, ValueRef::Tensor(t)) => {
                let dtype = self.dtype.expect("ndarray schemas have a dtype");
                if t.dtype() != dtype {
                    return Err(invalid(format!(
                        "dtype {} != column {column:?} dtype {dtype}",
                        t.dtype()
                    )));
                }
                let shape = t.shape();
                if self.variable_shape {
                    if shape.len() != self.shape.len() {
                        // The original's words first ("data rank 3 != aset rank 2"),
                        // which its users' code may match.
                        return Err(invalid(format!(
                            "data rank {} != {column} rank {} (shape {} given; column \
                             {column:?} holds arrays of rank {})",
                            shape.len(),
                            self.shape.len(),
                            fmt_shape(shape),
                            self.shape.len()
                        )));
                    }
                    if shape.iter().zip(&self.shape).any(|(s, m)| s > m) {
                        return Err(invalid(format!(
                            "shape {} exceeds schema max shape {} of column {column:?}",
                            fmt_shape(shape),
                            fmt_shape(&self.shape)
                        )));
                    }
                } else if shape != self.shape.as_slice() {
                    return Err(invalid(format!(
                        "shape {} != fixed shape {} of column {column:?}",
                        fmt_shape(shape),
                        fmt_shape(&self.shape)
                    )));
                }
                t.check()
            }
            (ColumnKind::Str, ValueRef::Str(s)) => check_blob_len("str", s.len()),
            (ColumnKind::Bytes, ValueRef::Bytes(b)) => check_blob_len("bytes", b.len()),
            (kind, v) => Err(invalid(format!(
                "column {column:?} holds {} values; got a {} value",
                kind.name(),
                v.kind_name()
            ))),
        }
    }

    /// The canonical header of a (checked) value of this column.
    pub fn value_header<'a>(&self, value: &ValueRef<'_>, shape: &'a [u64]) -> ValueHeader<'a> {
        match value {
            ValueRef::Tensor(t) => ValueHeader::Tensor {
                dtype: t.dtype(),
                shape,
            },
            ValueRef::Str(_) => ValueHeader::Str,
            ValueRef::Bytes(_) => ValueHeader::Bytes,
        }
    }
}

fn check_blob_len(what: &str, n: usize) -> Result<()> {
    if n > MAX_BLOB_BYTES {
        return Err(invalid(format!(
            "{what} value of {n} bytes exceeds the limit of {MAX_BLOB_BYTES} bytes (64 MiB)"
        )));
    }
    Ok(())
}

impl fmt::Display for ColumnSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_nested() {
            f.write_str("nested ")?;
        }
        match self.kind {
            ColumnKind::NdArray => write!(
                f,
                "ndarray {} {}{}",
                self.dtype.map_or("?", DType::name),
                fmt_shape(&self.shape),
                if self.variable_shape {
                    " (variable shape, max)"
                } else {
                    ""
                }
            ),
            k => f.write_str(k.name()),
        }?;
        if self.compression.is_compressed() {
            write!(f, ", {}", self.compression)?;
        }
        Ok(())
    }
}

/// Values of at most this many bytes are kept in their record (format version 2): no
/// segment row, no index entry, no separate digest. The rule depends only on the value,
/// so a value has one record encoding and equal record tables stay equal trees.
pub const INLINE_MAX: usize = 64;

/// Where a record's value is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// In a segment, found through the index by its value digest.
    Stored(Digest),
    /// In the record itself (values of at most [`INLINE_MAX`] bytes). The node holding
    /// the record is an object whose digest covers these bytes.
    Inline(Vec<u8>),
}

/// What a record table stores per sample: the value (its digest, or the value itself
/// when small), plus its shape for variable-shape tensors (needed to read it without
/// looking elsewhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The value, or where to find it.
    pub held: Held,
    /// The shape, for variable-shape tensors only.
    pub shape: Option<Vec<u64>>,
}

/// Record tags (format version 2).
const TAG_STORED: u8 = 0;
const TAG_INLINE: u8 = 1;

impl Record {
    /// The value digest of a stored value; `None` for an inline one.
    pub fn stored_digest(&self) -> Option<&Digest> {
        match &self.held {
            Held::Stored(d) => Some(d),
            Held::Inline(_) => None,
        }
    }

    /// The value digest (see docs/format.md), computed for an inline value: what a
    /// conflict report or any other user-facing listing names a value by, whether it is
    /// inline or not.
    pub fn value_digest(&self, schema: &ColumnSchema) -> Digest {
        match &self.held {
            Held::Stored(d) => *d,
            Held::Inline(b) => {
                let fixed: Vec<u64>;
                let shape = match &self.shape {
                    Some(s) => s.as_slice(),
                    None => {
                        fixed = schema.shape.iter().map(|&d| d as u64).collect();
                        &fixed
                    }
                };
                let header = match (schema.kind, schema.dtype) {
                    (ColumnKind::NdArray, Some(dtype)) => ValueHeader::Tensor { dtype, shape },
                    (ColumnKind::Str, _) => ValueHeader::Str,
                    _ => ValueHeader::Bytes,
                };
                header.digest(b)
            }
        }
    }

    /// The encoding of a record holding `bytes` inline (at most [`INLINE_MAX`]) and, for
    /// a variable-shape tensor, `shape`: what `encode` gives, without building the record.
    pub fn encode_inline(bytes: &[u8], shape: Option<&[u64]>) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 + bytes.len() + shape.map_or(0, |s| 1 + 2 * s.len()));
        Record::encode_inline_into(&mut out, bytes, shape);
        out
    }

    /// [`Record::encode_inline`], appended to `out` (a bulk batch's records buffer).
    pub fn encode_inline_into(out: &mut Vec<u8>, bytes: &[u8], shape: Option<&[u64]>) {
        debug_assert!(bytes.len() <= INLINE_MAX);
        out.push(TAG_INLINE);
        codec::push_bytes(out, bytes);
        if let Some(shape) = shape {
            out.push(shape.len() as u8);
            for d in shape {
                codec::push_varint(out, *d);
            }
        }
    }

    /// [`Record::encode`] of a stored value's record, appended to `out` (a bulk batch's
    /// records buffer).
    pub fn encode_stored_into(out: &mut Vec<u8>, digest: &Digest, shape: Option<&[u64]>) {
        out.push(TAG_STORED);
        out.extend_from_slice(&digest.0);
        if let Some(shape) = shape {
            out.push(shape.len() as u8);
            for d in shape {
                codec::push_varint(out, *d);
            }
        }
    }

    /// Encodes the record: `0 | digest` or `1 | len varint | bytes`, then the shape of a
    /// variable-shape tensor (`rank u8 | dims varint...`).
    pub fn encode(&self) -> Vec<u8> {
        encode_record(
            |e| {
                match &self.held {
                    Held::Stored(d) => e.u8(TAG_STORED).digest(d),
                    Held::Inline(b) => e.u8(TAG_INLINE).bytes(b),
                };
            },
            self.shape.as_deref(),
        )
    }

    /// The digest of a stored value from an encoded record, without decoding the rest
    /// (for a record this layer encoded or already checked); `None` for an inline one.
    pub fn peek_stored_digest(b: &[u8]) -> Option<Digest> {
        match b.split_first() {
            Some((&TAG_STORED, rest)) => Decoder::new(rest).digest().ok(),
            _ => None,
        }
    }

    /// Decodes a record of a column with `schema`. Refuses a record that is not the one
    /// encoding of its value: an inline value larger than [`INLINE_MAX`], a stored tensor
    /// small enough to be inline, an inline tensor whose length its shape does not give,
    /// an inline str that is not UTF-8.
    pub fn decode(b: &[u8], schema: &ColumnSchema) -> DecodeResult<Record> {
        let mut d = Decoder::new(b);
        let held = match d.u8()? {
            TAG_STORED => Held::Stored(d.digest()?),
            TAG_INLINE => {
                let bytes = d.bytes()?;
                if bytes.len() > INLINE_MAX {
                    return Err(DecodeError(format!(
                        "inline value of {} bytes (at most {INLINE_MAX} are kept inline)",
                        bytes.len()
                    )));
                }
                Held::Inline(bytes.to_vec())
            }
            t => return Err(DecodeError(format!("unknown record tag {t}"))),
        };
        let shape = if schema.kind == ColumnKind::NdArray && schema.variable_shape {
            let rank = usize::from(d.u8()?);
            if rank != schema.shape.len() {
                return Err(DecodeError(format!(
                    "record rank {rank} != column rank {}",
                    schema.shape.len()
                )));
            }
            let shape = (0..rank)
                .map(|_| d.varint())
                .collect::<DecodeResult<Vec<_>>>()?;
            if shape.iter().zip(&schema.shape).any(|(s, m)| *s > *m as u64) {
                return Err(DecodeError(
                    "record shape exceeds the column's max shape".into(),
                ));
            }
            Some(shape)
        } else {
            None
        };
        d.finish()?;
        match schema.kind {
            ColumnKind::NdArray => {
                let dims: Vec<u64> = match &shape {
                    Some(s) => s.clone(),
                    None => schema.shape.iter().map(|&d| d as u64).collect(),
                };
                let size = schema.dtype.map_or(1, DType::size) as u64;
                let want = dims
                    .iter()
                    .try_fold(size, |a, &d| a.checked_mul(d))
                    .unwrap_or(u64::MAX);
                match &held {
                    Held::Inline(b) if b.len() as u64 != want => {
                        return Err(DecodeError(format!(
                            "inline value has {} bytes, its shape needs {want}",
                            b.len()
                        )))
                    }
                    Held::Stored(_) if want <= INLINE_MAX as u64 => {
                        return Err(DecodeError(format!(
                            "a value of {want} bytes is stored apart, not inline"
                        )))
                    }
                    _ => {}
                }
            }
            ColumnKind::Str => {
                if let Held::Inline(b) = &held {
                    if std::str::from_utf8(b).is_err() {
                        return Err(DecodeError("inline str value is not UTF-8".into()));
                    }
                }
            }
            ColumnKind::Bytes => {}
        }
        Ok(Record { held, shape })
    }
}

/// A record's encoding: what `held` writes (tag and value or digest), then the shape of
/// a variable-shape tensor (`rank u8 | dims varint...`).
fn encode_record(held: impl FnOnce(&mut Encoder), shape: Option<&[u64]>) -> Vec<u8> {
    let mut e = Encoder::with_capacity(2 + INLINE_MAX + shape.map_or(0, |s| 1 + 2 * s.len()));
    held(&mut e);
    if let Some(shape) = shape {
        e.u8(shape.len() as u8);
        for d in shape {
            e.varint(*d);
        }
    }
    e.finish()
}

#[cfg(test)]
mod tests;
