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

mod open;
mod write;

pub use open::open;
pub use write::*;

#[cfg(test)]
mod tests;
