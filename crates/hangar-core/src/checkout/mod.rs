//! Checkouts: a writer on the staging area of a branch, readers on commits.

pub mod column;
pub mod reader;
pub mod staged;
pub mod writer;

use std::fmt;

use arrow_buffer::Buffer;

use crate::error::{Error, Result};
use crate::key::SampleKey;
use crate::schema::{ColumnKind, ColumnSchema, Held, Record};
use crate::shared::Shared;
use crate::value::{fmt_shape, Tensor, Value};

/// A column's name, schema and sample count (what the original Hangar's repr shows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    /// Column name.
    pub name: String,
    /// The schema.
    pub schema: ColumnSchema,
    /// First 16 hex digits of the schema digest.
    pub schema_hash: String,
    /// Number of samples.
    pub num_samples: u64,
    /// For a nested column, the total number of subsamples.
    pub num_subsamples: Option<u64>,
    /// True for a writer checkout's column.
    pub writable: bool,
}

impl fmt::Display for ColumnInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.schema;
        writeln!(
            f,
            "Hangar {}",
            if self.writable {
                "ColumnWriter"
            } else {
                "ColumnReader"
            }
        )?;
        writeln!(f, "    Column Name      : {}", self.name)?;
        writeln!(f, "    Schema Hash      : {}", self.schema_hash)?;
        writeln!(f, "    Column Type      : {}", s.kind().name())?;
        writeln!(
            f,
            "    Subsamples       : {}",
            if s.is_nested() { "True" } else { "False" }
        )?;
        if s.kind() == ColumnKind::NdArray {
            writeln!(
                f,
                "    Variable Shape   : {}",
                if s.variable_shape() { "True" } else { "False" }
            )?;
            writeln!(f, "    (max) Shape      : {}", fmt_shape(s.shape()))?;
            writeln!(
                f,
                "    Datatype         : {}",
                s.dtype().map_or("-", |d| d.name())
            )?;
        }
        writeln!(
            f,
            "    Access Mode      : {}",
            if self.writable { "a" } else { "r" }
        )?;
        write!(f, "    Num Samples      : {}", self.num_samples)?;
        if let Some(n) = self.num_subsamples {
            write!(f, "\n    Num Subsamples   : {n}")?;
        }
        Ok(())
    }
}

/// Where the values a record names are read from.
#[derive(Clone, Copy)]
pub(crate) enum Values<'a> {
    /// Committed values (through the index).
    Store(&'a hangar_store::Store),
    /// A writer's staged and committed values.
    Staging(&'a hangar_store::StoreWriter),
}

impl Values<'_> {
    /// The bytes of `digest`, and whether they lie in a mapped file (see
    /// [`Tensor::is_mapped`]; a writer's values never count as mapped: its staged ones
    /// are not, and its checkout hands out no C views).
    fn read(&self, digest: &hangar_store::Digest) -> hangar_store::Result<Option<(Buffer, bool)>> {
        match self {
            Values::Store(s) => s.read_value_mapped(digest),
            Values::Staging(w) => Ok(w.read_value(digest)?.map(|b| (b, false))),
        }
    }
}

/// The bytes of a record's value: its own for an inline value (in an 8-byte aligned
/// copy), otherwise what `values` holds under its digest — or, for a repository opened
/// through a remote, what the remote does; a missing value is corruption (or
/// `NotFetched`, see `Shared::missing_value`).
pub(crate) fn record_bytes(
    shared: &Shared,
    column: &str,
    key: &dyn fmt::Display,
    schema: &ColumnSchema,
    record: &Record,
    values: Values<'_>,
) -> Result<(Buffer, bool)> {
    let digest = match &record.held {
        Held::Inline(b) => return Ok((owned_copy(b), false)),
        Held::Stored(d) => d,
    };
    let found = values.read(digest)?;
    // A repository opened through a remote reads what it lacks from there.
    let found = match (found, &values, shared.on_demand()) {
        (None, Values::Store(_), Some(o)) => {
            let header = crate::verify::header_of(schema, record);
            o.get(digest, header.as_header())?.map(|b| (b, false))
        }
        (found, _, _) => found,
    };
    found.ok_or_else(|| {
        let (dir, where_) = match values {
            Values::Store(_) => (shared.store.index_dir(), "referenced but not stored"),
            Values::Staging(_) => (shared.store.staging_dir(), "neither staged nor stored"),
        };
        shared.missing_value(
            digest,
            &format!("column {column:?} sample {key}"),
            dir,
            where_,
        )
    })
}

/// The metadata (key -> text) as one read sees it: a commit's table, or the staging
/// overlay over its base. Reader and writer metadata both read through it.
pub(crate) struct MetaView<'a> {
    pub shared: &'a Shared,
    pub base: Option<&'a crate::objects::TreeRef>,
    pub overlay: Option<&'a crate::staging::Overlay>,
    pub count: u64,
}

impl MetaView<'_> {
    /// The value of `key`, or `None`.
    pub fn try_get(&self, key: &str) -> Result<Option<String>> {
        let raw = match self.overlay {
            Some(o) => crate::staging::overlay_lookup(self.shared, self.base, o, key.as_bytes())?,
            None => match self.base {
                Some(t) => crate::tree::lookup(self.shared, t, key.as_bytes())?,
                None => None,
            },
        };
        raw.map(|v| {
            String::from_utf8(v).map_err(|_| {
                Error::corrupt(self.shared.store.packs_dir(), "metadata value is not UTF-8")
            })
        })
        .transpose()
    }

    /// The value of `key`; `NotFound` if absent.
    pub fn get(&self, key: &str) -> Result<String> {
        self.try_get(key)?
            .ok_or_else(|| Error::NotFound(format!("no metadata key {key:?}")))
    }

    /// The keys, sorted.
    pub fn keys(&self) -> Result<Vec<String>> {
        let raw: Vec<Vec<u8>> = match self.overlay {
            Some(o) => crate::staging::overlay_keys(self.shared, self.base, o)?,
            None => crate::tree::TreeIter::new(self.shared, self.base)
                .map(|r| r.map(|(k, _)| k))
                .collect::<Result<_>>()?,
        };
        Ok(raw
            .into_iter()
            .map(|k| String::from_utf8_lossy(&k).into_owned())
            .collect())
    }
}

/// Reads the value a record names and turns it into a value (see [`materialize`]).
pub(crate) fn read_record(
    shared: &Shared,
    column: &str,
    key: &dyn fmt::Display,
    schema: &ColumnSchema,
    record: &Record,
    values: Values<'_>,
    copy: bool,
) -> Result<Value> {
    let (bytes, mapped) = record_bytes(shared, column, key, schema, record, values)?;
    // An inline value is already a fresh copy.
    let copy = copy && matches!(record.held, Held::Stored(_));
    materialize(shared, column, key, schema, record, bytes, copy, mapped)
}

/// Turns a stored record and its bytes into a value. With `copy`, tensor bytes are
/// copied into a new buffer; otherwise the tensor borrows `bytes` (zero-copy), which
/// `mapped` says lie in a mapped file ([`Tensor::is_mapped`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn materialize(
    shared: &Shared,
    column: &str,
    key: &dyn fmt::Display,
    schema: &ColumnSchema,
    record: &Record,
    bytes: Buffer,
    copy: bool,
    mapped: bool,
) -> Result<Value> {
    let bad = |detail: String| bad_value(shared, column, key, &detail);
    match schema.kind() {
        ColumnKind::NdArray => {
            let dtype = schema.dtype().expect("ndarray schemas have a dtype");
            let shape: Vec<usize> = match &record.shape {
                Some(s) => s.iter().map(|&d| d as usize).collect(),
                None => schema.shape().to_vec(),
            };
            let want = shape.iter().product::<usize>() * dtype.size();
            if bytes.len() != want {
                return Err(bad(format!(
                    "stored value has {} bytes, its shape needs {want}",
                    bytes.len()
                )));
            }
            let (data, mapped) = if copy {
                (owned_copy(&bytes), false)
            } else {
                (bytes, mapped)
            };
            Ok(Value::Tensor(Tensor::from_parts(
                dtype, shape, data, mapped,
            )))
        }
        ColumnKind::Str => String::from_utf8(bytes.to_vec())
            .map(Value::Str)
            .map_err(|_| bad("stored str value is not UTF-8".into())),
        ColumnKind::Bytes => Ok(Value::Bytes(bytes.to_vec())),
    }
}

/// A stored value of `column`'s sample `key` that cannot be what its record says.
pub(crate) fn bad_value(
    shared: &Shared,
    column: &str,
    key: &dyn fmt::Display,
    detail: &str,
) -> Error {
    Error::corrupt(
        shared.store.segments_dir(),
        format!("column {column:?} sample {key}: {detail}"),
    )
}

/// Copies bytes into a new buffer aligned to 8 bytes (so any dtype's slice view works),
/// allocated with the ordinary allocator.
pub(crate) fn owned_copy(bytes: &[u8]) -> Buffer {
    let mut words = vec![0u64; bytes.len().div_ceil(8)];
    bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
    Buffer::from_vec(words).slice_with_length(0, bytes.len())
}

pub(crate) fn decode_record(
    shared: &Shared,
    column: &str,
    schema: &ColumnSchema,
    raw: &[u8],
) -> Result<Record> {
    Record::decode(raw, schema).map_err(|e| {
        Error::corrupt(
            shared.store.packs_dir(),
            format!("column {column:?}: bad record: {e}"),
        )
    })
}

pub(crate) fn decode_key(shared: &Shared, raw: &[u8]) -> Result<SampleKey> {
    SampleKey::decode(raw)
        .map_err(|e| Error::corrupt(shared.store.packs_dir(), format!("bad sample key: {e}")))
}

pub(crate) fn missing_key(column: &str, key: &SampleKey) -> Error {
    Error::NotFound(format!(
        "column {column:?} has no sample with key {}",
        show_key(key)
    ))
}

pub(crate) fn missing_subsample(column: &str, key: &SampleKey, sub: &SampleKey) -> Error {
    Error::NotFound(format!(
        "column {column:?} sample {} has no subsample {}",
        show_key(key),
        show_key(sub)
    ))
}

/// The error for a flat-column operation on a nested column, or the reverse.
pub(crate) fn wrong_layout(column: &str, nested: bool) -> Error {
    if nested {
        crate::error::invalid(format!(
            "column {column:?} holds samples of subsamples (nested); use set_subsample, update_sample, get_subsample or get_sample"
        ))
    } else {
        crate::error::invalid(format!(
            "column {column:?} is flat (no subsamples); use set and get"
        ))
    }
}

/// A nested key shown as `sample/subsample`.
pub(crate) struct NestedKey<'a>(pub &'a SampleKey, pub &'a SampleKey);

impl fmt::Display for NestedKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", show_key(self.0), show_key(self.1))
    }
}

/// A key as the user wrote it: strings quoted, integers bare.
pub(crate) fn show_key(key: &SampleKey) -> String {
    match key {
        SampleKey::Int(i) => i.to_string(),
        SampleKey::Str(s) => format!("{s:?}"),
    }
}
