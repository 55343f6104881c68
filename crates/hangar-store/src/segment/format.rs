//! What a segment holds and how it maps to an Arrow schema.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema};

use crate::codec::{DecodeError, DecodeResult, Decoder, Encoder};
use crate::dtype::DType;

/// Arrow field-metadata key naming an extension type.
pub const EXTENSION_NAME_KEY: &str = "ARROW:extension:name";
/// Arrow field-metadata key holding an extension type's metadata.
pub const EXTENSION_METADATA_KEY: &str = "ARROW:extension:metadata";
/// Canonical fixed-shape tensor extension name.
pub const FIXED_SHAPE_TENSOR: &str = "arrow.fixed_shape_tensor";
/// Canonical variable-shape tensor extension name.
pub const VARIABLE_SHAPE_TENSOR: &str = "arrow.variable_shape_tensor";
/// Value-field metadata key holding the numpy-style dtype name.
pub const DTYPE_KEY: &str = "hangar.dtype";
/// Schema-metadata key holding the segment format as JSON.
pub const SEGMENT_FORMAT_KEY: &str = "hangar.segment_format";

/// The kind of values one segment holds. Every row of a segment has this format.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SegmentFormat {
    /// Tensors of one dtype and one shape.
    FixedTensor {
        /// Element type.
        dtype: DType,
        /// The shape every value has.
        shape: Vec<u64>,
    },
    /// Tensors of one dtype and rank, each with its own shape.
    VarTensor {
        /// Element type.
        dtype: DType,
        /// Number of dimensions.
        rank: u8,
    },
    /// UTF-8 strings.
    Str,
    /// Byte strings.
    Bytes,
}

impl SegmentFormat {
    /// Encodes the format (journal records it for open segments).
    pub fn encode(&self, e: &mut Encoder) {
        match self {
            SegmentFormat::FixedTensor { dtype, shape } => {
                e.u8(1).u8(dtype.code()).varint(shape.len() as u64);
                for d in shape {
                    e.u64(*d);
                }
            }
            SegmentFormat::VarTensor { dtype, rank } => {
                e.u8(2).u8(dtype.code()).u8(*rank);
            }
            SegmentFormat::Str => {
                e.u8(3);
            }
            SegmentFormat::Bytes => {
                e.u8(4);
            }
        }
    }

    /// Decodes a format written by [`SegmentFormat::encode`].
    pub fn decode(d: &mut Decoder<'_>) -> DecodeResult<SegmentFormat> {
        let dtype = |d: &mut Decoder<'_>| {
            let c = d.u8()?;
            DType::from_code(c)
                .ok_or_else(|| crate::codec::DecodeError(format!("unknown dtype code {c}")))
        };
        Ok(match d.u8()? {
            1 => {
                let dt = dtype(d)?;
                let n = d.count(8)?;
                if n > 31 {
                    return Err(crate::codec::DecodeError(format!("rank {n} > 31")));
                }
                let shape = (0..n).map(|_| d.u64()).collect::<DecodeResult<Vec<_>>>()?;
                SegmentFormat::FixedTensor { dtype: dt, shape }
            }
            2 => {
                let dt = dtype(d)?;
                let rank = d.u8()?;
                if rank > 31 {
                    return Err(crate::codec::DecodeError(format!("rank {rank} > 31")));
                }
                SegmentFormat::VarTensor { dtype: dt, rank }
            }
            3 => SegmentFormat::Str,
            4 => SegmentFormat::Bytes,
            t => {
                return Err(crate::codec::DecodeError(format!(
                    "unknown segment format {t}"
                )))
            }
        })
    }

    /// Number of elements of a fixed-shape value.
    pub fn fixed_elements(shape: &[u64]) -> Option<u64> {
        shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))
    }

    /// A JSON description, kept in the Arrow schema metadata for people and tools.
    pub fn to_json(&self) -> String {
        match self {
            SegmentFormat::FixedTensor { dtype, shape } => serde_json::json!({
                "kind": "fixed_shape_tensor", "dtype": dtype.name(), "shape": shape
            }),
            SegmentFormat::VarTensor { dtype, rank } => serde_json::json!({
                "kind": "variable_shape_tensor", "dtype": dtype.name(), "rank": rank
            }),
            SegmentFormat::Str => serde_json::json!({"kind": "str"}),
            SegmentFormat::Bytes => serde_json::json!({"kind": "bytes"}),
        }
        .to_string()
    }

    /// Parses what [`SegmentFormat::to_json`] wrote (read back from a sealed segment's
    /// schema metadata by gc, which rewrites a segment in its own format).
    pub fn from_json(json: &str) -> DecodeResult<SegmentFormat> {
        let bad = |why: &str| DecodeError(format!("segment format {json:?}: {why}"));
        let v: serde_json::Value = serde_json::from_str(json).map_err(|e| bad(&e.to_string()))?;
        let dtype = || {
            v.get("dtype")
                .and_then(|d| d.as_str())
                .and_then(DType::from_name)
                .ok_or_else(|| bad("no known dtype"))
        };
        match v.get("kind").and_then(|k| k.as_str()) {
            Some("fixed_shape_tensor") => {
                let dims = v
                    .get("shape")
                    .and_then(|s| s.as_array())
                    .ok_or_else(|| bad("no shape"))?;
                if dims.len() > 31 {
                    return Err(bad("rank over 31"));
                }
                let shape = dims
                    .iter()
                    .map(|d| d.as_u64().ok_or_else(|| bad("a dimension is not a count")))
                    .collect::<DecodeResult<Vec<u64>>>()?;
                Ok(SegmentFormat::FixedTensor {
                    dtype: dtype()?,
                    shape,
                })
            }
            Some("variable_shape_tensor") => {
                let rank = v
                    .get("rank")
                    .and_then(|r| r.as_u64())
                    .filter(|&r| r <= 31)
                    .ok_or_else(|| bad("no rank of at most 31"))?;
                Ok(SegmentFormat::VarTensor {
                    dtype: dtype()?,
                    rank: rank as u8,
                })
            }
            Some("str") => Ok(SegmentFormat::Str),
            Some("bytes") => Ok(SegmentFormat::Bytes),
            _ => Err(bad("unknown kind")),
        }
    }

    /// The Arrow schema of a segment of this format: `digest`, `crc32` and `value`.
    pub fn arrow_schema(&self) -> Arc<Schema> {
        let digest = Field::new("digest", DataType::FixedSizeBinary(32), false).with_metadata(
            HashMap::from([(
                "hangar.description".to_string(),
                "BLAKE3-256 of the canonical value header and the value bytes".to_string(),
            )]),
        );
        let crc = Field::new("crc32", DataType::UInt32, false).with_metadata(HashMap::from([(
            "hangar.description".to_string(),
            "CRC-32 of the value bytes (for variable-shape tensors, of the data only)".to_string(),
        )]));
        let value = match self {
            SegmentFormat::FixedTensor { dtype, shape } => {
                let n = Self::fixed_elements(shape).unwrap_or(0);
                let size = i32::try_from(n).unwrap_or(i32::MAX);
                Field::new(
                    "value",
                    DataType::FixedSizeList(Arc::new(item_field(*dtype)), size),
                    false,
                )
                .with_metadata(value_metadata(
                    Some(*dtype),
                    FIXED_SHAPE_TENSOR,
                    fixed_shape_metadata(shape),
                ))
            }
            SegmentFormat::VarTensor { dtype, rank } => {
                let data = Field::new("data", DataType::List(Arc::new(item_field(*dtype))), false);
                let shape = Field::new(
                    "shape",
                    DataType::FixedSizeList(
                        Arc::new(Field::new("item", DataType::Int32, false)),
                        i32::from(*rank),
                    ),
                    false,
                );
                Field::new(
                    "value",
                    DataType::Struct(Fields::from(vec![data, shape])),
                    false,
                )
                .with_metadata(value_metadata(
                    Some(*dtype),
                    VARIABLE_SHAPE_TENSOR,
                    "{}".to_string(),
                ))
            }
            SegmentFormat::Str => Field::new("value", DataType::Utf8, false),
            SegmentFormat::Bytes => Field::new("value", DataType::Binary, false),
        };
        let metadata = HashMap::from([
            (SEGMENT_FORMAT_KEY.to_string(), self.to_json()),
            ("hangar.format_version".to_string(), "1".to_string()),
        ]);
        Arc::new(Schema::new_with_metadata(
            vec![digest, crc, value],
            metadata,
        ))
    }
}

fn extension(name: &str, metadata: String) -> HashMap<String, String> {
    HashMap::from([
        (EXTENSION_NAME_KEY.to_string(), name.to_string()),
        (EXTENSION_METADATA_KEY.to_string(), metadata),
    ])
}

/// The Arrow element type used to store a dtype. bool is stored one byte per element as
/// `UInt8` (0 or 1) so values are zero-copy: Arrow's `Boolean` is bit-packed, and pyarrow
/// refuses a tensor whose element type is the `arrow.bool8` extension. The segment's
/// `hangar.segment_format` metadata and the value field's `hangar.dtype` say "bool".
pub fn arrow_type(dtype: DType) -> DataType {
    match dtype {
        DType::Bool => DataType::UInt8,
        DType::U8 => DataType::UInt8,
        DType::U16 => DataType::UInt16,
        DType::U32 => DataType::UInt32,
        DType::U64 => DataType::UInt64,
        DType::I8 => DataType::Int8,
        DType::I16 => DataType::Int16,
        DType::I32 => DataType::Int32,
        DType::I64 => DataType::Int64,
        DType::F16 => DataType::Float16,
        DType::F32 => DataType::Float32,
        DType::F64 => DataType::Float64,
    }
}

fn item_field(dtype: DType) -> Field {
    Field::new("item", arrow_type(dtype), false)
}

/// Field metadata naming the element dtype, plus the extension keys.
fn value_metadata(dtype: Option<DType>, name: &str, metadata: String) -> HashMap<String, String> {
    let mut m = extension(name, metadata);
    if let Some(d) = dtype {
        m.insert(DTYPE_KEY.to_string(), d.name().to_string());
    }
    m
}

/// The canonical `arrow.fixed_shape_tensor` metadata: `{"shape":[...]}` with absent
/// optional keys omitted (written by hand: arrow-rs 60 writes `null`s and a misspelled
/// `permutations` key that its own parser then rejects).
pub fn fixed_shape_metadata(shape: &[u64]) -> String {
    serde_json::json!({ "shape": shape }).to_string()
}

/// Parsed `arrow.fixed_shape_tensor` metadata, per the canonical extension spec.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedShapeMetadata {
    /// The tensor shape.
    pub shape: Vec<u64>,
    /// Optional dimension names.
    #[serde(default)]
    pub dim_names: Option<Vec<String>>,
    /// Optional physical-to-logical permutation.
    #[serde(default)]
    pub permutation: Option<Vec<u64>>,
}

/// Parses `arrow.fixed_shape_tensor` metadata as the spec writes it (singular
/// `permutation`, optional keys absent or null).
pub fn parse_fixed_shape_metadata(json: &str) -> DecodeResult<FixedShapeMetadata> {
    let m: FixedShapeMetadata =
        serde_json::from_str(json).map_err(|e| DecodeError(e.to_string()))?;
    if let Some(p) = &m.permutation {
        let mut sorted = p.clone();
        sorted.sort_unstable();
        if sorted != (0..m.shape.len() as u64).collect::<Vec<_>>() {
            return Err(DecodeError(format!(
                "permutation {p:?} does not permute {} dimensions",
                m.shape.len()
            )));
        }
    }
    if m.dim_names
        .as_ref()
        .is_some_and(|n| n.len() != m.shape.len())
    {
        return Err(DecodeError(
            "dim_names length differs from the shape's rank".into(),
        ));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A format of each kind.
    fn one_of_each() -> [SegmentFormat; 4] {
        [
            SegmentFormat::FixedTensor {
                dtype: DType::U8,
                shape: vec![28, 28],
            },
            SegmentFormat::VarTensor {
                dtype: DType::F32,
                rank: 3,
            },
            SegmentFormat::Str,
            SegmentFormat::Bytes,
        ]
    }

    #[test]
    fn formats_round_trip_through_json() {
        for f in one_of_each() {
            assert_eq!(SegmentFormat::from_json(&f.to_json()).unwrap(), f);
        }
        for bad in ["", "{}", r#"{"kind":"fixed_shape_tensor","dtype":"u8"}"#, r#"{"kind":"variable_shape_tensor","dtype":"nope","rank":1}"#] {
            assert!(SegmentFormat::from_json(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for f in one_of_each() {
            let mut e = Encoder::new();
            f.encode(&mut e);
            let b = e.finish();
            let mut d = Decoder::new(&b);
            assert_eq!(SegmentFormat::decode(&mut d).unwrap(), f);
            d.finish().unwrap();
        }
    }

    #[test]
    fn fixed_shape_metadata_follows_the_spec() {
        assert_eq!(fixed_shape_metadata(&[2, 3]), r#"{"shape":[2,3]}"#);
        let m = parse_fixed_shape_metadata(r#"{"shape":[2,3]}"#).unwrap();
        assert_eq!(m.shape, vec![2, 3]);
        let m = parse_fixed_shape_metadata(
            r#"{"shape":[100,200,500],"dim_names":["C","H","W"],"permutation":[2,0,1]}"#,
        )
        .unwrap();
        assert_eq!(m.permutation, Some(vec![2, 0, 1]));
        assert!(parse_fixed_shape_metadata(
            r#"{"shape":[2,3],"dim_names":null,"permutation":null}"#
        )
        .is_ok());
        assert!(parse_fixed_shape_metadata(r#"{"shape":[2,3],"permutation":[0,0]}"#).is_err());
        assert!(parse_fixed_shape_metadata(r#"{"shape":[2,3],"permutations":[1,0]}"#).is_err());
        assert!(parse_fixed_shape_metadata("not json").is_err());
    }
}
