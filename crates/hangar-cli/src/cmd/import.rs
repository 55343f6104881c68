use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context as _};
use hangar_core::{
    ColumnKind, ColumnSchema, DType, NdArraySpec, SampleKey, TensorRef, ValueRef, WriterCheckout,
    WriterColumn,
};
use rayon::prelude::*;

use crate::app::Ctx;
use crate::documents;
use crate::formats::table::{self, Cell, ValueKind};
use crate::formats::{self, idx, image, npy, npz, Array};
use crate::output::{self, thousands};

/// Add samples from files to a column of the staging area.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Reads .npy, .npz, IDX (MNIST, plain or .gz), PNG, JPEG, Parquet and Arrow IPC
files, and directories of them (not recursive; for a nested column each subdirectory is
a sample and its files the subsamples).

Keys: the rows of an array or table get integer keys from --start (0) on, counting on
across files; a whole file is one sample keyed by its name without the extension (a
string key, or an integer with --int-keys); an .npz member by its name; a table's `key`
column (or --key-field) gives its keys.

An array goes in whole when its shape fits the column, else row by row when its rows
fit; --rows / --whole decide explicitly. A fixed-shape column takes arrays with the same
number of elements (reshaped: 784 -> 28x28); dtypes are converted only when no value can
change (uint8 -> int64, float32 -> float64). Keys that exist are skipped and counted
unless --overwrite. Every file's header is checked before anything is staged.

Examples:
  hangar import images train-images-idx3-ubyte.gz --create
  hangar import labels train-labels-idx1-ubyte.gz
  hangar import photos ./jpgs/ --create --variable-shape
  hangar import --by-name mnist.npz --create         # x_train -> column x_train, ...
  hangar import embeddings vectors.parquet --field embedding --key-field id
  hangar import images more.npy --start 60000 -m 'Add the test images'"
)]
pub struct Args {
    /// COLUMN PATH... (with --by-name: PATH... only).
    #[arg(value_name = "COLUMN PATH", required = true, num_args = 1..)]
    targets: Vec<String>,
    /// Create the column if it does not exist, with the dtype and shape of the data.
    #[arg(long)]
    create: bool,
    /// With --create: a variable-shape column (maximum shape: the largest in the input).
    #[arg(long, requires = "create")]
    variable_shape: bool,
    /// Replace samples whose keys exist (else they are skipped and counted).
    #[arg(long)]
    overwrite: bool,
    /// Every array's first axis indexes samples.
    #[arg(long, conflicts_with = "whole")]
    rows: bool,
    /// Every array is one sample.
    #[arg(long)]
    whole: bool,
    /// The first integer key given to rows (default 0). Only rows take it: an error
    /// when every input is imported whole.
    #[arg(long, value_name = "N")]
    start: Option<u64>,
    /// File names are integer keys (`17.png` -> 17).
    #[arg(long)]
    int_keys: bool,
    /// Tables: the column holding the values.
    #[arg(long, value_name = "NAME")]
    field: Option<String>,
    /// Tables: the column holding the keys (default: a column named `key`, else row numbers).
    #[arg(long, value_name = "NAME")]
    key_field: Option<String>,
    /// .npz files: each array goes to the column of its own name.
    #[arg(long)]
    by_name: bool,
    /// Import into this branch's staging area (it must be the staging area's branch or
    /// the staging area must be clean). With -m the staging area returns to its branch
    /// afterwards; without, it stays on BRANCH holding the imported samples (a note says
    /// so).
    #[arg(long, add = crate::complete::branch())]
    branch: Option<String>,
    /// Commit right after importing, with this message.
    #[arg(short = 'm', long = "commit", value_name = "MSG")]
    commit: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Npy,
    Npz,
    Idx,
    Png,
    Jpeg,
    Table,
}

fn kind_of(path: &Path) -> Option<Kind> {
    let name = path.file_name()?.to_str()?;
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".npy") {
        Some(Kind::Npy)
    } else if lower.ends_with(".npz") {
        Some(Kind::Npz)
    } else if image::is_png(name) {
        Some(Kind::Png)
    } else if image::is_jpeg(name) {
        Some(Kind::Jpeg)
    } else if table::is_table_name(name) {
        Some(Kind::Table)
    } else if idx::is_idx_name(name) {
        Some(Kind::Idx)
    } else {
        None
    }
}

const SUPPORTED: &str =
    ".npy, .npz, IDX (*-idx3-ubyte[.gz]), .png, .jpg/.jpeg, .parquet, .arrow/.feather";

/// The name of a file without its extension(s) (`a.png` -> `a`, `x-idx3-ubyte.gz` -> whole stem).
fn stem(path: &Path) -> String {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(name);
    match name.rsplit_once('.') {
        Some((s, _)) if !s.is_empty() => s.to_string(),
        _ => name.to_string(),
    }
}

/// One input file.
#[derive(Debug, Clone)]
struct Input {
    path: PathBuf,
    kind: Kind,
    /// Found inside a directory given on the command line.
    in_dir: bool,
    /// For nested columns: the sample this file is a subsample of (its directory).
    parent_key: Option<String>,
}

impl Input {
    /// A file found in a directory (already filtered to importable kinds).
    fn in_dir(path: PathBuf, parent_key: Option<String>) -> Input {
        let kind = kind_of(&path).expect("directory listings keep importable files only");
        Input {
            path,
            kind,
            in_dir: true,
            parent_key,
        }
    }
}

fn files_of_dir(dir: &Path) -> anyhow::Result<(Vec<PathBuf>, Vec<PathBuf>, usize)> {
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    let mut skipped = 0;
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read directory {}", dir.display()))?;
    for e in entries {
        let e = e?;
        let p = e.path();
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        // Entries are followed like the paths given (a link to a file imports the file),
        // but only regular files are read: a FIFO would block forever.
        let meta = std::fs::metadata(&p).with_context(|| format!("cannot read {}", p.display()))?;
        if meta.is_dir() {
            dirs.push(p);
        } else if !meta.is_file() {
            skipped += 1;
        } else if kind_of(&p).is_some() {
            files.push(p);
        } else {
            skipped += 1;
        }
    }
    files.sort();
    dirs.sort();
    Ok((files, dirs, skipped))
}

fn expand(paths: &[String], nested_target: bool) -> anyhow::Result<(Vec<Input>, usize)> {
    let mut out = Vec::new();
    let mut skipped = 0;
    for p in paths {
        let path = PathBuf::from(p);
        let meta =
            std::fs::metadata(&path).with_context(|| format!("cannot read {}", path.display()))?;
        ensure!(
            meta.is_dir() || meta.is_file(),
            "{} is not a regular file or directory (a FIFO, socket or device): hangar \
             imports files it can read to the end; copy the data to a file first",
            path.display()
        );
        if meta.is_dir() {
            let (files, dirs, s) = files_of_dir(&path)?;
            skipped += s;
            if nested_target {
                for d in dirs {
                    let parent = d
                        .file_name()
                        .and_then(|n| n.to_str())
                        .unwrap_or_default()
                        .to_string();
                    let (files, _, s) = files_of_dir(&d)?;
                    skipped += s;
                    out.extend(
                        files
                            .into_iter()
                            .map(|f| Input::in_dir(f, Some(parent.clone()))),
                    );
                }
            }
            out.extend(files.into_iter().map(|f| Input::in_dir(f, None)));
        } else {
            let kind = kind_of(&path).with_context(|| {
                format!(
                    "{}: unsupported file type; hangar imports {SUPPORTED}",
                    path.display()
                )
            })?;
            out.push(Input {
                path,
                kind,
                in_dir: false,
                parent_key: None,
            });
        }
    }
    ensure!(
        !out.is_empty(),
        "no files to import in {}",
        paths.join(", ")
    );
    Ok((out, skipped))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Rows,
    Whole,
}

/// One array (a file, or an .npz member) as planned.
#[derive(Debug, Clone)]
struct ArrayUnit {
    input: usize,
    member: Option<String>,
    column: String,
    dtype: DType,
    shape: Vec<usize>,
    layout: Layout,
    /// Whole: the key (and subkey for nested columns). Rows: unused.
    key: Option<(SampleKey, Option<SampleKey>)>,
    /// Rows: the first key.
    first_row_key: u64,
}

/// A table as planned.
#[derive(Debug, Clone)]
struct TableUnit {
    input: usize,
    column: String,
    plan: table::Plan,
    first_row_key: u64,
    /// False when earlier rows used the largest integer key.
    keys_left: bool,
}

#[derive(Debug, Clone)]
enum Unit {
    Array(ArrayUnit),
    Table(TableUnit),
}

/// Whether an array of `shape` fits `schema` as one sample (fixed shapes by element count).
fn fits(shape: &[usize], schema: &ColumnSchema) -> bool {
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
fn next_key(start: Option<u64>, rows: u64, what: &str) -> anyhow::Result<(u64, Option<u64>)> {
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

fn key_from_name(name: &str, int_keys: bool) -> anyhow::Result<SampleKey> {
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

/// What an import did.
#[derive(Debug, Default)]
struct Report {
    counts: BTreeMap<String, Counts>,
    /// Files in the directories that are not of a type hangar imports.
    left_out: usize,
    files: usize,
    /// Notes on the columns made with --create (printed once the import succeeded).
    created: Vec<String>,
}

impl Report {
    /// True if the import staged anything: a sample added or changed, or a new column.
    fn changed(&self) -> bool {
        !self.created.is_empty() || self.counts.values().any(|c| c.imported + c.overwritten > 0)
    }
}

/// Per-column counts.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    imported: u64,
    /// Existing samples given a different value (--overwrite).
    overwritten: u64,
    /// Existing samples left alone (no --overwrite).
    skipped: u64,
    /// Existing samples given the value they already held (--overwrite): nothing staged.
    unchanged: u64,
}

/// An array a file holds: its .npz member name (if any), dtype and shape.
type Probed = (Option<String>, DType, Vec<usize>);

fn probe(input: &Input) -> anyhow::Result<Vec<Probed>> {
    let p = &input.path;
    Ok(match input.kind {
        Kind::Npy => {
            // The header, and the data it declares checked against the file's length.
            let (h, _) = npy::open(p)?;
            vec![(None, h.dtype, h.shape)]
        }
        Kind::Idx => {
            let (d, s, _) = idx::rows(p)?;
            vec![(None, d, s)]
        }
        Kind::Png => {
            let (d, s) = image::probe_png(p)?;
            vec![(None, d, s)]
        }
        Kind::Jpeg => {
            let (d, s) = image::probe_jpeg(p)?;
            vec![(None, d, s)]
        }
        Kind::Npz => {
            let mut z = npz::Npz::open(p)?;
            let mut out = Vec::new();
            for name in z.names()? {
                let h = z.header(&name)?;
                out.push((Some(name), h.dtype, h.shape));
            }
            out
        }
        Kind::Table => unreachable!("tables are probed separately"),
    })
}

/// Decodes a whole file (or .npz member) as one array of at most `limit` bytes. An open
/// archive is passed in, so an .npz of many members is opened once, not once a member.
fn decode(
    input: &Input,
    member: Option<&str>,
    npz: Option<&mut npz::Npz>,
    limit: u64,
) -> anyhow::Result<Array> {
    let p = &input.path;
    let what = p.display().to_string();
    match input.kind {
        Kind::Npy => {
            let (h, r) = npy::open(p)?;
            npy::read_whole(&h, r, limit, &what)
        }
        Kind::Idx => {
            let (dtype, shape, mut r) = idx::rows(p)?;
            let n = formats::elements(&shape).unwrap_or(usize::MAX) as u128 * dtype.size() as u128;
            formats::check_sample_size(n, limit, &what)?;
            let mut data = Vec::new();
            r.next_rows(shape[0], &mut data)?;
            r.finish()?;
            Array::new(dtype, shape, data)
        }
        Kind::Png => image::read_png(p),
        Kind::Jpeg => image::read_jpeg(p),
        Kind::Npz => {
            let name = member.expect("npz units name their member");
            match npz {
                Some(z) => z.read(name, limit),
                None => npz::Npz::open(p)?.read(name, limit),
            }
        }
        Kind::Table => unreachable!("tables are read by batch"),
    }
    .with_context(|| format!("{}", p.display()))
}

/// Stages the rows of `r` (`shape` is the whole array's) batch by batch from
/// `first_key` on: at most [`formats::ROW_BATCH_BYTES`] of rows are held at a time.
#[allow(clippy::too_many_arguments)]
fn stage_stream<R: std::io::Read>(
    col: &WriterColumn,
    schema: &ColumnSchema,
    mut r: formats::RowReader<R>,
    dtype: DType,
    shape: &[usize],
    first_key: u64,
    overwrite: bool,
    counts: &mut Counts,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<()> {
    let empty_before = col.is_empty()?;
    let batch = r.batch_rows();
    let mut buf = Vec::new();
    let mut done = 0u64;
    loop {
        let n = r.next_rows(batch, &mut buf)?;
        if n == 0 {
            break;
        }
        let mut chunk_shape = vec![n];
        chunk_shape.extend_from_slice(&shape[1..]);
        let arr = Array {
            dtype,
            shape: chunk_shape,
            data: std::mem::take(&mut buf),
        };
        stage_rows(
            col,
            schema,
            &arr,
            first_key + done,
            overwrite,
            counts,
            bar,
            empty_before,
        )?;
        buf = arr.data;
        done += n as u64;
    }
    r.finish()
}

/// The schema for a new column from the first planned array (and, for a variable-shape
/// column, the largest dimensions of all).
fn infer_schema(
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

pub fn run(ctx: &mut Ctx, a: Args) -> anyhow::Result<()> {
    let (column_arg, paths): (Option<String>, Vec<String>) = if a.by_name {
        (None, a.targets.clone())
    } else {
        ensure!(
            a.targets.len() >= 2,
            "give a column and at least one file: `hangar import COLUMN PATH...` (or --by-name PATH...)"
        );
        (Some(a.targets[0].clone()), a.targets[1..].to_vec())
    };
    let repo = ctx.open()?;
    // With --branch the staging area moves to that branch for the import; it goes back
    // afterwards when it is clean (committed with -m, or nothing imported).
    let previous = match &a.branch {
        Some(_) => Some(repo.staging_branch()?),
        None => None,
    };
    let co = match &a.branch {
        Some(b) => repo.checkout_writer_branch(b)?,
        None => repo.checkout_writer()?,
    };
    // All or nothing: a failed import leaves the staging area exactly as it was.
    let result = co.all_or_nothing(|| import(ctx, &a, &co, column_arg, &paths));
    match result {
        Ok(report) => {
            let commit = match &a.commit {
                Some(msg) if report.changed() => Some(co.commit(msg)?),
                _ => None,
            };
            let here = co.branch_name()?;
            let clean = matches!(co.status()?, hangar_core::Status::Clean);
            co.close()?;
            for note in &report.created {
                ctx.note(note);
            }
            print_report(ctx, &report, commit)?;
            if let Some(prev) = previous.filter(|p| *p != here) {
                if clean {
                    repo.checkout_writer_branch(&prev)?.close()?;
                } else {
                    output::note(&format!(
                        "the staging area stays on branch {here:?} (it holds the imported \
                         samples); `hangar commit` commits them there, then `hangar checkout \
                         {prev}` returns"
                    ));
                }
            }
            if a.commit.is_some() && commit.is_none() {
                // As `hangar commit` with nothing staged: a negative answer, exit 1.
                return Err(crate::app::nothing_to_commit(
                    "nothing to commit: the import added or changed no sample",
                ));
            }
            Ok(())
        }
        Err(e) => {
            let here = co.branch_name().ok();
            let clean = matches!(co.status(), Ok(hangar_core::Status::Clean));
            // The import's error is what the user needs; a checkout it left closed
            // cannot be closed again.
            let _ = co.close();
            // --branch moved a clean staging area: move it back.
            if let (Some(prev), Some(here)) = (previous, here) {
                if prev != here && clean {
                    repo.checkout_writer_branch(&prev)?.close()?;
                }
            }
            Err(e)
        }
    }
}

fn print_report(
    ctx: &Ctx,
    report: &Report,
    commit: Option<hangar_core::CommitId>,
) -> anyhow::Result<()> {
    if ctx.json {
        return Ok(output::print_json(&documents::Import {
            columns: report
                .counts
                .iter()
                .map(|(c, n)| {
                    let counts = documents::ImportCounts {
                        imported: n.imported,
                        overwritten: n.overwritten,
                        skipped_existing: n.skipped,
                        unchanged: n.unchanged,
                    };
                    (c.clone(), counts)
                })
                .collect(),
            files: report.files,
            files_left_out: report.left_out,
            commit: commit.map(|c| c.to_hex()),
        })?);
    }
    let mut text = String::new();
    for (c, n) in &report.counts {
        text.push_str(&format!("{c}: {} samples imported", thousands(n.imported)));
        if n.overwritten > 0 {
            text.push_str(&format!(", {} replaced", thousands(n.overwritten)));
        }
        if n.skipped > 0 {
            text.push_str(&format!(
                ", {} skipped because their keys exist (--overwrite replaces them)",
                thousands(n.skipped)
            ));
        }
        if n.unchanged > 0 {
            text.push_str(&format!(
                ", {} unchanged (they already held these values)",
                thousands(n.unchanged)
            ));
        }
        text.push('\n');
    }
    if report.left_out > 0 {
        text.push_str(&format!(
            "{} files in the directories are not of a type hangar imports and were left out\n",
            report.left_out
        ));
    }
    match commit {
        Some(id) => text.push_str(&format!("Committed {id}\n")),
        None if report.changed() => text.push_str("Staged; `hangar commit -m MSG` keeps them.\n"),
        None => text.push_str("Nothing staged: no sample was added or changed.\n"),
    }
    if ctx.quiet {
        return Ok(());
    }
    Ok(output::print(&text)?)
}

fn import(
    ctx: &Ctx,
    a: &Args,
    co: &WriterCheckout,
    column_arg: Option<String>,
    paths: &[String],
) -> anyhow::Result<Report> {
    // Existing target column (if any) decides whether directories hold nested samples.
    let target_nested = match &column_arg {
        Some(c) if co.has_column(c)? => co.column(c)?.is_nested()?,
        _ => false,
    };
    let (inputs, skipped_files) = expand(paths, target_nested)?;

    let limit = formats::max_sample_bytes()?;
    // 1. Probe every file's header: nothing is staged until all of them are checked.
    let mut arrays: Vec<(usize, Option<String>, DType, Vec<usize>)> = Vec::new();
    let mut tables: Vec<(usize, table::Plan, Option<u64>)> = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        if input.kind == Kind::Table {
            ensure!(
                !a.by_name,
                "--by-name is for .npz files; {} is a table",
                input.path.display()
            );
            let t = table::open(&input.path)?;
            let plan = table::plan(&t.schema, a.field.as_deref(), a.key_field.as_deref())
                .with_context(|| format!("{}", input.path.display()))?;
            tables.push((i, plan, t.rows));
            continue;
        }
        ensure!(
            !a.by_name || input.kind == Kind::Npz,
            "--by-name is for .npz files; {} is not one",
            input.path.display()
        );
        for (member, dtype, shape) in
            probe(input).with_context(|| format!("{}", input.path.display()))?
        {
            arrays.push((i, member, dtype, shape));
        }
    }

    // 2. The target columns: existing, or created from the data with --create.
    let column_of = |member: &Option<String>| -> String {
        match (&column_arg, member) {
            (Some(c), _) => c.clone(),
            (None, Some(m)) => m.clone(),
            (None, None) => unreachable!("--by-name inputs are .npz members"),
        }
    };
    let mut schemas: BTreeMap<String, ColumnSchema> = BTreeMap::new();
    let mut wanted: Vec<String> = arrays.iter().map(|(_, m, _, _)| column_of(m)).collect();
    wanted.extend(
        tables
            .iter()
            .map(|_| column_arg.clone().expect("tables need a column")),
    );
    wanted.dedup();
    let mut created = Vec::new();
    for name in &wanted {
        if schemas.contains_key(name) {
            continue;
        }
        if co.has_column(name)? {
            schemas.insert(name.clone(), co.column(name)?.schema()?);
            continue;
        }
        ensure!(
            a.create,
            "column {name:?} does not exist; create it with `hangar column create {name} DTYPE SHAPE...`, or pass --create to make it from the data"
        );
        // Infer from the first array or table of this column.
        let first_array = arrays.iter().find(|(_, m, _, _)| &column_of(m) == name);
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
                .filter(|(_, m, _, _)| &column_of(m) == name)
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
        let col = match spec_or_kind {
            Some(spec) => co.add_ndarray_column(name, spec)?,
            None => {
                let (_, plan, _) = tables.first().expect("a table targets this column");
                let nested = plan.subkey.is_some();
                match &plan.kind {
                    ValueKind::Str if nested => co.add_nested_str_column(name)?,
                    ValueKind::Str => co.add_str_column(name)?,
                    ValueKind::Bytes if nested => co.add_nested_bytes_column(name)?,
                    ValueKind::Bytes => co.add_bytes_column(name)?,
                    ValueKind::Fixed { dtype, shape } => co.add_ndarray_column(
                        name,
                        NdArraySpec::with_shape(*dtype, shape).contains_subsamples(nested),
                    )?,
                    ValueKind::Variable { dtype, rank } => {
                        let (i, plan, _) = tables.first().expect("a table targets this column");
                        let max = max_shape(&inputs[*i].path, plan, *rank)?;
                        co.add_ndarray_column(
                            name,
                            NdArraySpec::with_shape(*dtype, &max)
                                .variable_shape(true)
                                .contains_subsamples(nested),
                        )?
                    }
                }
            }
        };
        created.push(format!("Created column {name} ({})", col.schema()?));
        schemas.insert(name.clone(), col.schema()?);
    }

    // 3. Plan each array against its column: layout, dtype, keys.
    let mut units: Vec<Unit> = Vec::new();
    let mut next_row: BTreeMap<String, Option<u64>> = BTreeMap::new();
    let mut whole_keys: HashSet<(String, SampleKey, Option<SampleKey>)> = HashSet::new();
    let mut total: u64 = 0;
    for (i, member, dtype, shape) in &arrays {
        let input = &inputs[*i];
        let column = column_of(member);
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
            "{what}: the data is {dtype} and column {column:?} is {col_dtype}; converting could change values. Import into a {dtype} column (or convert the file)"
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
        // sample within the limit, and never more samples than the file has bytes (an
        // array of empty rows would otherwise declare any number).
        let bytes_of = |dims: &[usize]| {
            dims.iter()
                .fold(dtype.size() as u128, |a, &d| a.saturating_mul(d as u128))
        };
        match layout {
            Layout::Whole => formats::check_sample_size(bytes_of(shape), limit, &what)?,
            Layout::Rows => {
                formats::check_sample_size(bytes_of(row_shape), limit, &what)?;
                let file_len = std::fs::metadata(&input.path).map_or(0, |m| m.len());
                ensure!(
                    (shape[0] as u64) <= file_len.max(1),
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

    // 4. Decode (in parallel) and stage, in one bulk session.
    let bar = ctx.progress(total, "importing");
    let mut counts: BTreeMap<String, Counts> = schemas
        .keys()
        .map(|c| (c.clone(), Counts::default()))
        .collect();
    let columns: BTreeMap<String, WriterColumn> = schemas
        .keys()
        .map(|c| Ok((c.clone(), co.column(c)?)))
        .collect::<anyhow::Result<_>>()?;
    let session = co.bulk()?;
    let mut seen_table_keys: HashSet<(SampleKey, Option<SampleKey>)> = HashSet::new();
    // The .npz archive being read (one open per file, not per member or per run).
    let mut archive: Option<(usize, npz::Npz)> = None;
    let mut at = 0;
    while at < units.len() {
        // A run of whole-file units decodes in parallel; other units one at a time.
        let mut run_end = units[at..]
            .iter()
            .position(|u| !matches!(u, Unit::Array(x) if x.layout == Layout::Whole))
            .map_or(units.len(), |p| at + p)
            .min(at + 256)
            .max(at + 1);
        // ...and of at most DECODE_BATCH_BYTES of decoded data (as declared), so a
        // directory of large images is not held in memory all at once.
        let mut bytes = 0u128;
        for (i, u) in units.iter().enumerate().take(run_end).skip(at) {
            if let Unit::Array(x) = u {
                bytes += formats::elements(&x.shape).unwrap_or(usize::MAX) as u128
                    * x.dtype.size() as u128;
                if bytes > DECODE_BATCH_BYTES && i > at {
                    run_end = i;
                    break;
                }
            }
        }
        match &units[at] {
            Unit::Array(x) if x.layout == Layout::Whole => {
                let batch: Vec<&ArrayUnit> = units[at..run_end]
                    .iter()
                    .map(|u| match u {
                        Unit::Array(x) => x,
                        Unit::Table(_) => unreachable!("the run holds whole arrays"),
                    })
                    .collect();
                // Files decode in parallel; .npz members in order, from one open archive.
                let mut decoded: Vec<Option<anyhow::Result<Array>>> = batch
                    .par_iter()
                    .map(|u| {
                        let input = &inputs[u.input];
                        (input.kind != Kind::Npz)
                            .then(|| decode(input, u.member.as_deref(), None, limit))
                    })
                    .collect();
                for (u, slot) in batch.iter().zip(decoded.iter_mut()) {
                    if slot.is_some() {
                        continue;
                    }
                    let input = &inputs[u.input];
                    if archive.as_ref().is_none_or(|(i, _)| *i != u.input) {
                        archive = Some((u.input, npz::Npz::open(&input.path)?));
                    }
                    let z = archive.as_mut().map(|(_, z)| z);
                    *slot = Some(decode(input, u.member.as_deref(), z, limit));
                }
                let decoded = decoded.into_iter().map(|d| d.expect("every unit decoded"));
                // Existence is asked before anything of this run is staged: asking drains
                // the bulk session's queue, which should hold a whole run to hash at once.
                let exists = batch
                    .iter()
                    .map(|u| {
                        let (key, sub) = u.key.as_ref().expect("whole units have keys");
                        exists(&columns[&u.column], key, sub.as_ref())
                    })
                    .collect::<anyhow::Result<Vec<bool>>>()?;
                for ((u, arr), exists) in batch.iter().zip(decoded).zip(exists) {
                    let arr = arr?;
                    let (key, sub) = u.key.clone().expect("whole units have keys");
                    let schema = &schemas[&u.column];
                    let to = schema.dtype().expect("ndarray");
                    let data = formats::convert(&arr.data, arr.dtype, to);
                    let shape = if schema.variable_shape() {
                        arr.shape.clone()
                    } else {
                        schema.shape().to_vec()
                    };
                    let t = TensorRef::from_bytes(to, &shape, &data);
                    let c = counts.get_mut(&u.column).expect("counted");
                    put(
                        &columns[&u.column],
                        c,
                        key,
                        sub,
                        t.into(),
                        exists,
                        a.overwrite,
                    )?;
                    bar.inc(1);
                }
                at = run_end;
            }
            Unit::Array(u) => {
                // Rows are streamed: a bounded batch of them is held at a time.
                let input = &inputs[u.input];
                let what = match &u.member {
                    Some(m) => format!("{} (array {m:?})", input.path.display()),
                    None => input.path.display().to_string(),
                };
                let col = &columns[&u.column];
                let schema = &schemas[&u.column];
                let c = counts.get_mut(&u.column).expect("counted");
                let same = |dtype: DType, shape: &[usize]| {
                    ensure!(
                        shape == u.shape.as_slice() && dtype == u.dtype,
                        "{what}: the data does not match its header (changed while importing?)"
                    );
                    Ok(())
                };
                let (key, over) = (u.first_row_key, a.overwrite);
                match input.kind {
                    Kind::Npy => {
                        let (h, r) = npy::open(&input.path)?;
                        same(h.dtype, &h.shape)?;
                        let r = npy::rows(&h, r, &what)?;
                        stage_stream(col, schema, r, h.dtype, &h.shape, key, over, c, &bar)?;
                    }
                    Kind::Idx => {
                        let (dtype, shape, r) = idx::rows(&input.path)?;
                        same(dtype, &shape)?;
                        stage_stream(col, schema, r, dtype, &shape, key, over, c, &bar)?;
                    }
                    Kind::Npz => {
                        let mut z = npz::Npz::open(&input.path)?;
                        let member = u.member.as_deref().expect("npz units name their member");
                        let (h, r) = z.rows(member, &what)?;
                        same(h.dtype, &h.shape)?;
                        stage_stream(col, schema, r, h.dtype, &h.shape, key, over, c, &bar)?;
                    }
                    _ => {
                        // An image's rows: the image is one bounded sample.
                        let arr = decode(input, None, None, limit)?;
                        same(arr.dtype, &arr.shape)?;
                        let empty = col.is_empty()?;
                        stage_rows(col, schema, &arr, key, over, c, &bar, empty)?;
                    }
                }
                at += 1;
            }
            Unit::Table(t) => {
                let mut tab = table::open(&inputs[t.input].path)?;
                let mut row_key = t.keys_left.then_some(t.first_row_key);
                let schema = &schemas[&t.column];
                while let Some(batch) = tab.next_batch() {
                    let batch =
                        batch.with_context(|| format!("{}", inputs[t.input].path.display()))?;
                    let cells = table::cells(&batch, &t.plan)
                        .with_context(|| format!("{}", inputs[t.input].path.display()))?;
                    let mut rows = Vec::with_capacity(cells.len());
                    for (key, sub, cell) in cells {
                        let key = match key {
                            Some(k) => k,
                            None => {
                                let k = row_key.with_context(|| {
                                    format!(
                                        "{}: more rows than integer keys are left from --start \
                                         (the largest key is {}); use a smaller --start",
                                        inputs[t.input].path.display(),
                                        u64::MAX
                                    )
                                })?;
                                row_key = k.checked_add(1);
                                SampleKey::Int(k)
                            }
                        };
                        ensure!(
                            seen_table_keys.insert((key.clone(), sub.clone())),
                            "{}: key {key} appears twice in the table",
                            inputs[t.input].path.display()
                        );
                        rows.push((key, sub, cell));
                    }
                    let col = &columns[&t.column];
                    let exists = rows
                        .iter()
                        .map(|(k, s, _)| exists(col, k, s.as_ref()))
                        .collect::<anyhow::Result<Vec<bool>>>()?;
                    let c = counts.get_mut(&t.column).expect("counted");
                    for ((key, sub, cell), exists) in rows.into_iter().zip(exists) {
                        let ow = a.overwrite;
                        match cell {
                            Cell::Tensor { dtype, shape, data } => {
                                let to = schema.dtype().expect("checked: ndarray");
                                ensure!(
                                    formats::lossless(dtype, to),
                                    "{}: {dtype} values do not fit column {:?} ({to})",
                                    inputs[t.input].path.display(),
                                    t.column
                                );
                                let data = formats::convert(&data, dtype, to);
                                let shape = if schema.variable_shape() {
                                    shape
                                } else {
                                    schema.shape().to_vec()
                                };
                                let v = TensorRef::from_bytes(to, &shape, &data).into();
                                put(col, c, key, sub, v, exists, ow)?;
                            }
                            Cell::Str(s) => put(col, c, key, sub, ValueRef::Str(&s), exists, ow)?,
                            Cell::Bytes(b) => {
                                put(col, c, key, sub, ValueRef::Bytes(&b), exists, ow)?
                            }
                        }
                        bar.inc(1);
                    }
                }
                at += 1;
            }
        }
    }
    session.finish()?;
    bar.finish_and_clear();
    Ok(Report {
        counts,
        left_out: skipped_files,
        files: inputs.len(),
        created,
    })
}

/// The largest dimensions of a table's variable-shape tensors (one extra pass over it).
fn max_shape(path: &Path, plan: &table::Plan, rank: usize) -> anyhow::Result<Vec<usize>> {
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

fn check_table_fits(
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

/// True if the sample (or subsample) exists in the staging area.
fn exists(col: &WriterColumn, key: &SampleKey, sub: Option<&SampleKey>) -> anyhow::Result<bool> {
    Ok(match sub {
        Some(s) => col.contains_subsample(key, s)?,
        None => col.contains(key)?,
    })
}

/// Stages one sample (or subsample) whose existence is known, skipping an existing key
/// unless `overwrite`.
fn put(
    col: &WriterColumn,
    counts: &mut Counts,
    key: SampleKey,
    sub: Option<SampleKey>,
    value: ValueRef<'_>,
    exists: bool,
    overwrite: bool,
) -> anyhow::Result<()> {
    if exists && !overwrite {
        counts.skipped += 1;
        return Ok(());
    }
    if exists {
        let current = match &sub {
            Some(s) => col.get_subsample(&key, s)?,
            None => col.get(&key)?,
        };
        if value.same_as(&current) {
            counts.unchanged += 1;
            return Ok(());
        }
    }
    match sub {
        Some(s) => col.set_subsample(&key, &s, value)?,
        None => col.set(&key, value)?,
    }
    if exists {
        counts.overwritten += 1;
    } else {
        counts.imported += 1;
    }
    Ok(())
}

/// Rows staged per call (one contiguous buffer when no key exists yet): at least this
/// many, or as many as fill [`CHUNK_BYTES`], but at most [`MAX_CHUNK_ROWS`].
const ROW_CHUNK: usize = 8192;
/// Each row of a call costs about 150 bytes of records and journal frame while it is
/// staged, whatever its size: 64 MiB of 64-byte rows (a million) would hold ~250 MB at
/// once, 64 Ki rows hold ~10 MB (and still make few, large journal and segment writes).
const MAX_CHUNK_ROWS: usize = 64 * 1024;
/// Decoded bytes (as declared by the headers) of whole files decoded at once in parallel.
const DECODE_BATCH_BYTES: u128 = 256 << 20;
const CHUNK_BYTES: usize = 64 << 20;

#[allow(clippy::too_many_arguments)]
fn stage_rows(
    col: &WriterColumn,
    schema: &ColumnSchema,
    arr: &Array,
    first_key: u64,
    overwrite: bool,
    counts: &mut Counts,
    bar: &indicatif::ProgressBar,
    empty_before: bool,
) -> anyhow::Result<()> {
    let to = schema.dtype().expect("ndarray");
    let data = formats::convert(&arr.data, arr.dtype, to);
    let row_elems = formats::elements(arr.row_shape()).unwrap_or(0);
    let row_bytes = row_elems * to.size();
    let sample_shape: Vec<usize> = if schema.variable_shape() {
        arr.row_shape().to_vec()
    } else {
        schema.shape().to_vec()
    };
    let rows = arr.rows();
    let chunk_rows = ROW_CHUNK
        .max(CHUNK_BYTES / row_bytes.max(1))
        .min(MAX_CHUNK_ROWS);
    let mut r = 0;
    while r < rows {
        let n = chunk_rows.min(rows - r);
        // The plan checked that first_key + rows - 1 fits; an inclusive range never
        // computes the key after the last.
        let keys: Vec<u64> = (first_key + r as u64..=first_key + (r + n - 1) as u64).collect();
        let chunk = &data[r * row_bytes..(r + n) * row_bytes];
        let existing: Vec<bool> = if empty_before {
            vec![false; n]
        } else {
            keys.iter()
                .map(|&k| col.contains(k))
                .collect::<Result<_, _>>()?
        };
        if !existing.iter().any(|&e| e) {
            let mut shape = vec![n];
            shape.extend_from_slice(&sample_shape);
            col.extend_from_buffer(
                keys.iter().copied(),
                TensorRef::from_bytes(to, &shape, chunk),
            )?;
            counts.imported += n as u64;
        } else {
            for (j, &k) in keys.iter().enumerate() {
                let row = &chunk[j * row_bytes..(j + 1) * row_bytes];
                put(
                    col,
                    counts,
                    SampleKey::Int(k),
                    None,
                    TensorRef::from_bytes(to, &sample_shape, row).into(),
                    existing[j],
                    overwrite,
                )?;
            }
        }
        bar.inc(n as u64);
        r += n;
    }
    Ok(())
}
