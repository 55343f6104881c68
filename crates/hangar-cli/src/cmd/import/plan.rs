//! The plan of an import: which column each array or table goes to (created with
//! `--create` from the data), whole or row by row, under which keys — decided and checked
//! from the headers alone, before anything is staged. A plain value: `--dry-run` prints it.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use anyhow::{bail, ensure, Context as _};
use hangar_core::{ColumnKind, ColumnSchema, DType, NdArraySpec, SampleKey};

use super::inputs::{expand, probe, stem, Input, Kind};
use super::Args;
use crate::formats;
use crate::formats::table::{self, Cell, ValueKind};

/// What an import will do, decided before anything is staged.
#[derive(Debug)]
pub(super) struct Plan {
    pub inputs: Vec<Input>,
    /// Files in the directories that are not of a type hangar imports.
    pub left_out: usize,
    /// The columns `--create` makes, in order, with their schemas.
    pub create: Vec<(String, ColumnSchema)>,
    /// The schema of every target column, existing or new.
    pub schemas: BTreeMap<String, ColumnSchema>,
    /// The arrays and tables, in input order.
    pub units: Vec<Unit>,
    /// Samples the headers declare (a stream of unknown length counts once read).
    pub total: u64,
    /// The largest sample accepted, in bytes.
    pub limit: u64,
}

impl Plan {
    /// The samples each column is to receive, as the headers declare them (`None` for
    /// a column fed by a table stream, whose rows are counted as they are read).
    pub fn samples_by_column(&self) -> BTreeMap<String, Option<u64>> {
        let mut out: BTreeMap<String, Option<u64>> =
            self.schemas.keys().map(|c| (c.clone(), Some(0))).collect();
        for u in &self.units {
            let (column, n) = match u {
                Unit::Array(x) => (
                    &x.column,
                    Some(match x.layout {
                        Layout::Rows => x.shape[0] as u64,
                        Layout::Whole => 1,
                    }),
                ),
                Unit::Table(t) => (&t.column, t.rows),
            };
            let slot = out.entry(column.clone()).or_insert(Some(0));
            *slot = slot.zip(n).map(|(a, b)| a + b);
        }
        out
    }
}

/// The staging area's columns as the plan sees them: a column's schema, `None` if it
/// has no such column.
pub(super) type Existing<'a> = dyn Fn(&str) -> anyhow::Result<Option<ColumnSchema>> + 'a;

/// Plans importing `paths` into `column_arg` (or, with `--by-name`, each .npz member's
/// and each .npy file's own column) over the columns `existing` reports.
pub(super) fn plan(
    a: &Args,
    existing: &Existing<'_>,
    column_arg: Option<String>,
    paths: &[String],
) -> anyhow::Result<Plan> {
    // An existing target column decides whether directories hold nested samples.
    let target_nested = match &column_arg {
        Some(c) => existing(c)?.is_some_and(|s| s.is_nested()),
        None => false,
    };
    let (inputs, left_out) = expand(paths, target_nested)?;
    let limit = formats::max_sample_bytes()?;
    // 1. Probe every file's header: nothing is staged until all of them are checked.
    let mut arrays: Vec<(usize, Option<String>, DType, Vec<usize>)> = Vec::new();
    let mut tables: Vec<(usize, table::Plan, Option<u64>)> = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        if input.kind == Kind::Table {
            ensure!(
                !a.by_name,
                "--by-name is for .npz and .npy files; {} is a table",
                input.path.display()
            );
            let t = table::open(&input.path)?;
            let plan = table::plan(&t.schema, a.field.as_deref(), a.key_field.as_deref())
                .with_context(|| format!("{}", input.path.display()))?;
            tables.push((i, plan, t.rows));
            continue;
        }
        ensure!(
            !a.by_name || matches!(input.kind, Kind::Npz | Kind::Npy),
            "--by-name is for .npz and .npy files; {} is neither",
            input.path.display()
        );
        for (member, dtype, shape) in
            probe(input).with_context(|| format!("{}", input.path.display()))?
        {
            arrays.push((i, member, dtype, shape));
        }
    }

    // 2. The target columns: existing, or created from the data with --create.
    // With --by-name an .npz member goes to the column of its name, an .npy file to the
    // column of the file's name (the name numpy gives that array in an .npz).
    let column_of = |i: usize, member: &Option<String>| -> String {
        match (&column_arg, member) {
            (Some(c), _) => c.clone(),
            (None, Some(m)) => m.clone(),
            (None, None) => stem(&inputs[i].path),
        }
    };
    let mut schemas: BTreeMap<String, ColumnSchema> = BTreeMap::new();
    let mut wanted: Vec<String> = arrays.iter().map(|(i, m, _, _)| column_of(*i, m)).collect();
    wanted.extend(
        tables
            .iter()
            .map(|_| column_arg.clone().expect("tables need a column")),
    );
    wanted.dedup();
    let mut create = Vec::new();
    for name in &wanted {
        if schemas.contains_key(name) {
            continue;
        }
        if let Some(schema) = existing(name)? {
            schemas.insert(name.clone(), schema);
            continue;
        }
        ensure!(
            a.create,
            "column {name:?} does not exist; create it with `hangar column create {name} DTYPE SHAPE...`, or pass --create to make it from the data"
        );
        // Infer from the first array or table of this column.
        let first_array = arrays.iter().find(|(i, m, _, _)| &column_of(*i, m) == name);
        let spec_or_kind = if let Some((i, _, dtype, shape)) = first_array {
            let input = &inputs[*i];
            let rows = match (a.rows, a.whole) {
                (true, _) => true,
                (_, true) => false,
                // Datasets given as one file (and arrays sent to their own columns) hold
                // samples along their first axis; files in directories and members of an
                // archive are one sample each.
                _ => (matches!(input.kind, Kind::Npy | Kind::Idx) && !input.in_dir) || a.by_name,
            };
            let sample_shape = |s: &Vec<usize>| {
                if rows {
                    s.get(1..).unwrap_or(&[]).to_vec()
                } else {
                    s.clone()
                }
            };
            ensure!(
                !rows || !shape.is_empty(),
                "{}: a scalar has no rows",
                input.path.display()
            );
            let all: Vec<(DType, Vec<usize>)> = arrays
                .iter()
                .filter(|(i, m, _, _)| &column_of(*i, m) == name)
                .map(|(_, _, d, s)| (*d, sample_shape(s)))
                .collect();
            let nested = inputs[*i].parent_key.is_some();
            Some(infer_schema(
                &(*dtype, sample_shape(shape)),
                &all,
                a.variable_shape,
                nested,
            )?)
        } else {
            None
        };
        let schema = match spec_or_kind {
            Some(spec) => spec.into_schema()?,
            None => {
                let (_, plan, _) = tables.first().expect("a table targets this column");
                let nested = plan.subkey.is_some();
                match &plan.kind {
                    ValueKind::Str if nested => ColumnSchema::str().nested(),
                    ValueKind::Str => ColumnSchema::str(),
                    ValueKind::Bytes if nested => ColumnSchema::bytes().nested(),
                    ValueKind::Bytes => ColumnSchema::bytes(),
                    ValueKind::Fixed { dtype, shape } => NdArraySpec::with_shape(*dtype, shape)
                        .contains_subsamples(nested)
                        .into_schema()?,
                    ValueKind::Variable { dtype, rank } => {
                        let (i, plan, _) = tables.first().expect("a table targets this column");
                        let max = max_shape(&inputs[*i].path, plan, *rank)?;
                        NdArraySpec::with_shape(*dtype, &max)
                            .variable_shape(true)
                            .contains_subsamples(nested)
                            .into_schema()?
                    }
                }
            }
        };
        let schema = schema.with_compression(crate::cmd::column::parse_compression(
            a.compression.as_deref(),
        )?);
        create.push((name.clone(), schema.clone()));
        schemas.insert(name.clone(), schema);
    }

    // 3. Plan each array against its column: layout, dtype, keys.
    let mut units: Vec<Unit> = Vec::new();
    let mut next_row: BTreeMap<String, Option<u64>> = BTreeMap::new();
    let mut whole_keys: HashSet<(String, SampleKey, Option<SampleKey>)> = HashSet::new();
    let mut total: u64 = 0;
    for (i, member, dtype, shape) in &arrays {
        let input = &inputs[*i];
        let column = column_of(*i, member);
        let schema = &schemas[&column];
        let what = match member {
            Some(m) => format!("{} (array {m:?})", input.path.display()),
            None => input.path.display().to_string(),
        };
        ensure!(
            schema.kind() == ColumnKind::NdArray,
            "{what}: column {column:?} holds {} values, not arrays",
            schema.kind().name()
        );
        let col_dtype = schema.dtype().expect("ndarray");
        ensure!(
            formats::lossless(*dtype, col_dtype),
            "{what}: the data is {dtype} and column {column:?} is {col_dtype}; converting could change values. Import into a column of {dtype} (or convert the file)"
        );
        let row_shape = shape.get(1..).unwrap_or(&[]);
        let layout = if a.rows {
            Layout::Rows
        } else if a.whole || fits(shape, schema) {
            Layout::Whole
        } else if !shape.is_empty() && fits(row_shape, schema) {
            Layout::Rows
        } else {
            bail!(
                "{what}: an array of shape {} does not fit column {column:?} ({schema}), neither whole nor row by row", crate::views::shape_text(shape)
            )
        };
        match layout {
            Layout::Whole => ensure!(
                fits(shape, schema),
                "{what}: shape {} does not fit column {column:?} ({schema})",
                crate::views::shape_text(shape)
            ),
            Layout::Rows => {
                ensure!(!shape.is_empty(), "{what}: a scalar has no rows");
                ensure!(
                    fits(row_shape, schema),
                    "{what}: rows of shape {} do not fit column {column:?} ({schema})",
                    crate::views::shape_text(row_shape)
                );
                ensure!(
                    !schema.is_nested(),
                    "{what}: rows cannot go into nested column {column:?}"
                );
            }
        }
        // What the header declares, checked before anything is decoded or staged: one
        // sample within the limit, and, for rows of no bytes, never more samples than the
        // file has bytes (an array of empty rows would otherwise declare any number).
        // Rows that hold bytes are checked against the data by each format's reader (a
        // plain file exactly; gzip'd IDX and deflated .npz members within what their
        // bytes can hold), and read batch by batch: a compressed file holds more rows
        // than bytes (Fashion-MNIST's gzip'd labels: 60,000 rows in 29,491 bytes).
        let bytes_of = |dims: &[usize]| {
            dims.iter()
                .fold(dtype.size() as u128, |a, &d| a.saturating_mul(d as u128))
        };
        match layout {
            Layout::Whole => formats::check_sample_size(bytes_of(shape), limit, &what)?,
            Layout::Rows => {
                let row_bytes = bytes_of(row_shape);
                formats::check_sample_size(row_bytes, limit, &what)?;
                let file_len = std::fs::metadata(&input.path).map_or(0, |m| m.len());
                ensure!(
                    row_bytes > 0 || (shape[0] as u64) <= file_len.max(1),
                    "{what}: the header declares {} rows but the file has only {file_len} \
                     bytes; it is damaged or not what it claims",
                    shape[0]
                );
            }
        }
        let mut unit = ArrayUnit {
            input: *i,
            member: member.clone(),
            column: column.clone(),
            dtype: *dtype,
            shape: shape.clone(),
            layout,
            key: None,
            first_row_key: 0,
        };
        match layout {
            Layout::Rows => {
                let start = next_row
                    .entry(column.clone())
                    .or_insert(Some(a.start.unwrap_or(0)));
                (unit.first_row_key, *start) = next_key(*start, shape[0] as u64, &what)?;
                total += shape[0] as u64;
            }
            Layout::Whole => {
                let name = member.clone().unwrap_or_else(|| stem(&input.path));
                let (key, sub) = if schema.is_nested() {
                    match (&input.parent_key, name.split_once('/')) {
                        (Some(parent), _) => (key_from_name(parent, a.int_keys)?, Some(key_from_name(&name, a.int_keys)?)),
                        (None, Some((k, s))) => (key_from_name(k, a.int_keys)?, Some(key_from_name(s, a.int_keys)?)),
                        (None, None) => bail!(
                            "{what}: column {column:?} is nested; give a directory of sample directories, or .npz members named SAMPLE/SUB"
                        ),
                    }
                } else {
                    (
                        key_from_name(&name, a.int_keys).with_context(|| what.clone())?,
                        None,
                    )
                };
                ensure!(
                    whole_keys.insert((column.clone(), key.clone(), sub.clone())),
                    "{what}: key {key} appears twice in the input"
                );
                unit.key = Some((key, sub));
                total += 1;
            }
        }
        units.push(Unit::Array(unit));
    }
    for (i, plan, rows) in tables {
        let column = column_arg.clone().expect("tables need a column");
        let schema = &schemas[&column];
        check_table_fits(&inputs[i].path, &plan, schema, &column)?;
        let start = next_row
            .entry(column.clone())
            .or_insert(Some(a.start.unwrap_or(0)));
        let first = start.unwrap_or(u64::MAX);
        let keys_left = start.is_some();
        if let Some(r) = rows {
            (_, *start) = next_key(*start, r, &inputs[i].path.display().to_string())?;
            total += r;
        } else if plan.key.is_none() {
            // A stream's row count is unknown until read: its rows take the keys from
            // `first` on, checked as they are given; none are left for later inputs.
            *start = None;
        }
        units.push(Unit::Table(TableUnit {
            input: i,
            column,
            plan,
            first_row_key: first,
            keys_left,
            rows,
        }));
    }
    if let Some(n) = a.start {
        ensure!(
            !next_row.is_empty(),
            "--start {n} gives keys to rows, but every input here is imported whole (one \
             sample per file or member, keyed by its name); drop --start, or add --rows to \
             import each array's rows under keys {n}, {}, ...",
            n.saturating_add(1)
        );
    }
    // Keep the input order.
    units.sort_by_key(|u| match u {
        Unit::Array(x) => x.input,
        Unit::Table(t) => t.input,
    });

    Ok(Plan {
        inputs,
        left_out,
        create,
        schemas,
        units,
        total,
        limit,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    Rows,
    Whole,
}

/// One array (a file, or an .npz member) as planned.
#[derive(Debug, Clone)]
pub(super) struct ArrayUnit {
    pub(super) input: usize,
    pub(super) member: Option<String>,
    pub(super) column: String,
    pub(super) dtype: DType,
    pub(super) shape: Vec<usize>,
    pub(super) layout: Layout,
    /// Whole: the key (and subkey for nested columns). Rows: unused.
    pub(super) key: Option<(SampleKey, Option<SampleKey>)>,
    /// Rows: the first key.
    pub(super) first_row_key: u64,
}

/// A table as planned.
#[derive(Debug, Clone)]
pub(super) struct TableUnit {
    pub(super) input: usize,
    pub(super) column: String,
    pub(super) plan: table::Plan,
    pub(super) first_row_key: u64,
    /// False when earlier rows used the largest integer key.
    pub(super) keys_left: bool,
    /// Rows, when the table's metadata says (not for a stream).
    pub(super) rows: Option<u64>,
}

#[derive(Debug, Clone)]
pub(super) enum Unit {
    Array(ArrayUnit),
    Table(TableUnit),
}

/// Whether an array of `shape` fits `schema` as one sample (fixed shapes by element count).
pub(super) fn fits(shape: &[usize], schema: &ColumnSchema) -> bool {
    if schema.kind() != ColumnKind::NdArray {
        return false;
    }
    if schema.variable_shape() {
        shape.len() == schema.shape().len() && shape.iter().zip(schema.shape()).all(|(a, m)| a <= m)
    } else {
        formats::elements(shape) == formats::elements(schema.shape())
    }
}

/// The first key of `rows` rows keyed from `start` and the key after them (`None` once
/// the largest integer key is used); an error naming the input when the rows need keys
/// past the largest integer key.
pub(super) fn next_key(
    start: Option<u64>,
    rows: u64,
    what: &str,
) -> anyhow::Result<(u64, Option<u64>)> {
    if rows == 0 {
        return Ok((start.unwrap_or(u64::MAX), start));
    }
    let too_many = |from: String| {
        anyhow::anyhow!(
            "{what}: {rows} rows keyed from {from} would need keys past the largest integer \
             key {}; use a smaller --start (at most {})",
            u64::MAX,
            u64::MAX - (rows - 1)
        )
    };
    let first = start.ok_or_else(|| too_many(format!("{}", u128::from(u64::MAX) + 1)))?;
    let last = first
        .checked_add(rows - 1)
        .ok_or_else(|| too_many(first.to_string()))?;
    Ok((first, last.checked_add(1)))
}

pub(super) fn key_from_name(name: &str, int_keys: bool) -> anyhow::Result<SampleKey> {
    // `int:N` / `str:NAME`: the tagged names `hangar export` gives keys that would
    // otherwise read as another key (the string key "123" is exported as str:123.npy).
    if SampleKey::is_tagged(name) {
        return SampleKey::parse(name).with_context(|| {
            format!("cannot use the file name {name:?} as a key; rename the file")
        });
    }
    if int_keys {
        let n = name
            .parse::<u64>()
            .with_context(|| format!("--int-keys: the name {name:?} is not a whole number"))?;
        return Ok(SampleKey::Int(n));
    }
    let k = SampleKey::Str(name.to_string());
    k.validate()
        .with_context(|| format!("cannot use the file name {name:?} as a key; rename the file"))?;
    Ok(k)
}

/// The schema for a new column from the first planned array (and, for a variable-shape
/// column, the largest dimensions of all).
pub(super) fn infer_schema(
    first: &(DType, Vec<usize>),
    all: &[(DType, Vec<usize>)],
    variable: bool,
    nested: bool,
) -> anyhow::Result<NdArraySpec> {
    let (dtype, shape) = first;
    let mut max = shape.clone();
    if variable {
        for (_, s) in all {
            ensure!(
                s.len() == max.len(),
                "--variable-shape needs arrays of one rank; found shapes {max:?} and {s:?}"
            );
            for (m, d) in max.iter_mut().zip(s) {
                *m = (*m).max(*d);
            }
        }
    }
    Ok(NdArraySpec::with_shape(*dtype, &max)
        .variable_shape(variable)
        .contains_subsamples(nested))
}

/// The largest dimensions of a table's variable-shape tensors (one extra pass over it).
pub(super) fn max_shape(
    path: &Path,
    plan: &table::Plan,
    rank: usize,
) -> anyhow::Result<Vec<usize>> {
    let mut t = table::open(path)?;
    let mut max = vec![0usize; rank];
    while let Some(b) = t.next_batch() {
        for (_, _, cell) in table::cells(&b?, plan)? {
            if let Cell::Tensor { shape, .. } = cell {
                for (m, d) in max.iter_mut().zip(&shape) {
                    *m = (*m).max(*d);
                }
            }
        }
    }
    ensure!(
        max.iter().all(|&d| d > 0),
        "{}: cannot make a column from empty tensors; create it with `hangar column create`",
        path.display()
    );
    Ok(max)
}

pub(super) fn check_table_fits(
    path: &Path,
    plan: &table::Plan,
    schema: &ColumnSchema,
    column: &str,
) -> anyhow::Result<()> {
    let what = path.display();
    match (&plan.kind, schema.kind()) {
        (ValueKind::Str, ColumnKind::Str) | (ValueKind::Bytes, ColumnKind::Bytes) => {}
        (ValueKind::Fixed { dtype, shape }, ColumnKind::NdArray) => {
            ensure!(
                formats::lossless(*dtype, schema.dtype().expect("ndarray")),
                "{what}: {dtype} values do not fit column {column:?} ({schema}) without changing them"
            );
            ensure!(
                fits(shape, schema),
                "{what}: tensors of shape {} do not fit column {column:?} ({schema})",
                crate::views::shape_text(shape)
            );
        }
        (ValueKind::Variable { dtype, rank }, ColumnKind::NdArray) => {
            ensure!(
                formats::lossless(*dtype, schema.dtype().expect("ndarray")),
                "{what}: {dtype} values do not fit column {column:?} ({schema}) without changing them"
            );
            ensure!(
                schema.variable_shape() && schema.shape().len() == *rank,
                "{what}: tensors of varying shape (rank {rank}) need a variable-shape column of that rank; column {column:?} is {schema}"
            );
        }
        (k, _) => bail!(
            "{what}: column {:?} of the table ({k:?}) does not fit column {column:?} ({schema})",
            plan.value_name
        ),
    }
    ensure!(
        plan.subkey.is_some() == schema.is_nested(),
        "{what}: {}",
        if schema.is_nested() {
            format!("column {column:?} is nested, so the table needs a `subkey` column")
        } else {
            format!("the table has subkeys but column {column:?} is not nested")
        }
    );
    Ok(())
}
