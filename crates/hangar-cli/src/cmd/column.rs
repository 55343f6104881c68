use anyhow::{bail, Context as _};
use hangar_core::{ColumnInfo, ColumnSchema, Compression, DType, NdArraySpec};

use crate::app::Ctx;
use crate::documents;
use crate::output::{self, thousands};
use crate::views;

/// Create, list and remove columns (alone: `list`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

/// What the command does.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Stage a new column (commit to keep it).
    #[command(
        after_help = "DTYPE is one of bool, uint8..uint64, int8..int64, float16/32/64 (also u8, i64,
f32, UINT8, ...), str or bytes. SHAPE is the shape of one sample, e.g. `28 28` or `28,28`;
none means one number per sample. With --variable-shape it is the largest shape.

--compression stores the column's committed values compressed, as Parquet segments
(zstd pages, or lz4: faster to read, larger); the default, none, keeps them
uncompressed and read straight from disk with no decoding.

Examples:
  hangar column create images uint8 28 28
  hangar column create images uint8 28 28 --compression zstd:9
  hangar column create labels int64
  hangar column create crops uint8 512 512 3 --variable-shape
  hangar column create captions str --subsamples"
    )]
    Create(CreateArgs),
    /// List the columns of the staging area (or of a branch or commit).
    #[command(after_help = "Examples:
  hangar column list
  hangar column list master --json")]
    List(ListArgs),
    /// Stage the removal of a column (commit to make it final; `hangar reset` undoes it).
    #[command(after_help = "Example:
  hangar column remove scratch")]
    Remove(RemoveArgs),
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The column's name (letters, digits, '_', '.', '-').
    name: String,
    /// The element type, or `str` / `bytes`.
    dtype: String,
    /// The shape of a sample (the maximum shape with --variable-shape).
    shape: Vec<String>,
    /// Samples may have any shape of the same rank up to SHAPE.
    #[arg(long)]
    variable_shape: bool,
    /// Each sample is a map of subsamples (the original's `contains_subsamples`).
    #[arg(long, alias = "contains-subsamples")]
    subsamples: bool,
    /// none (default), zstd (level 1), zstd:<level 1-22> or lz4.
    #[arg(long, value_name = "CODEC")]
    compression: Option<String>,
}

/// Parses `--compression` (none, zstd, zstd:<level>, lz4); none when not given.
pub fn parse_compression(s: Option<&str>) -> anyhow::Result<Compression> {
    match s {
        None => Ok(Compression::None),
        Some(s) => s
            .parse()
            .map_err(|e: String| anyhow::anyhow!("--compression: {e}")),
    }
}

#[derive(Debug, Default, clap::Args)]
pub struct ListArgs {
    /// A branch or commit; default: the staging area.
    #[arg(add = crate::complete::rev())]
    rev: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// The column.
    #[arg(add = crate::complete::column())]
    name: String,
}

/// `28 28`, `28,28`, `28x28`, `(28, 28)` → [28, 28].
pub fn parse_shape(parts: &[String]) -> anyhow::Result<Vec<usize>> {
    let mut shape = Vec::new();
    for p in parts {
        for d in p
            .split([',', 'x', 'X', ' ', '(', ')', '[', ']'])
            .filter(|d| !d.is_empty())
        {
            let n: usize = d.parse().with_context(|| {
                format!("{d:?} is not a dimension; give the shape as whole numbers, e.g. `28 28`")
            })?;
            shape.push(n);
        }
    }
    Ok(shape)
}

pub fn run(ctx: &mut Ctx, a: Args) -> anyhow::Result<()> {
    match a.command.unwrap_or(Command::List(ListArgs::default())) {
        Command::Create(a) => create(ctx, a),
        Command::List(a) => list(ctx, a),
        Command::Remove(a) => remove(ctx, a),
    }
}

fn create(ctx: &mut Ctx, a: CreateArgs) -> anyhow::Result<()> {
    let repo = ctx.open()?;
    let kind = a.dtype.to_ascii_lowercase();
    let shape = parse_shape(&a.shape)?;
    let compression = parse_compression(a.compression.as_deref())?;
    let co = ctx.writer(&repo)?;
    let result = match kind.as_str() {
        "str" | "string" | "bytes" | "binary" => {
            if !shape.is_empty() || a.variable_shape {
                co.close()?;
                bail!("a {kind} column has no shape; leave out SHAPE and --variable-shape");
            }
            let is_str = matches!(kind.as_str(), "str" | "string");
            let schema = if is_str {
                ColumnSchema::str()
            } else {
                ColumnSchema::bytes()
            };
            let schema = if a.subsamples {
                schema.nested()
            } else {
                schema
            };
            co.add_column(&a.name, schema.with_compression(compression))
        }
        _ => {
            let Some(dtype) = DType::from_name(&kind) else {
                co.close()?;
                bail!(
                    "unknown dtype {:?}; use one of bool, uint8, uint16, uint32, uint64, int8, int16, int32, int64, float16, float32, float64, str, bytes",
                    a.dtype
                );
            };
            co.add_ndarray_column(
                &a.name,
                NdArraySpec::with_shape(dtype, &shape)
                    .variable_shape(a.variable_shape)
                    .contains_subsamples(a.subsamples)
                    .compression(compression),
            )
        }
    };
    let column = match result {
        Ok(c) => c,
        Err(e) => {
            co.close()?;
            return Err(e.into());
        }
    };
    let info = column.info()?;
    co.close()?;
    if ctx.json {
        output::print_json(&documents::ColumnCreated {
            created: (&info).into(),
        })?;
    } else {
        ctx.done(&format!(
            "Initialized column {} ({}); commit to keep it",
            info.name, info.schema
        ))?;
    }
    Ok(())
}

pub fn columns_text(cols: &[ColumnInfo]) -> String {
    let rows: Vec<Vec<String>> = cols
        .iter()
        .map(|c| {
            let s = &c.schema;
            vec![
                c.name.clone(),
                s.kind().name().to_string(),
                s.dtype().map_or("-".into(), |d| d.name().to_string()),
                if s.kind() == hangar_core::ColumnKind::NdArray {
                    format!(
                        "{}{}",
                        views::shape_text(s.shape()),
                        if s.variable_shape() { " max" } else { "" }
                    )
                } else {
                    "-".into()
                },
                if s.is_nested() {
                    "yes".into()
                } else {
                    "no".into()
                },
                thousands(c.num_samples),
                c.num_subsamples.map_or("-".into(), thousands),
                s.compression().to_string(),
            ]
        })
        .collect();
    output::table(
        &[
            "NAME",
            "KIND",
            "DTYPE",
            "SHAPE",
            "NESTED",
            "SAMPLES",
            "SUBSAMPLES",
            "COMPRESSION",
        ],
        &rows,
    )
}

fn list(ctx: &mut Ctx, a: ListArgs) -> anyhow::Result<()> {
    let repo = ctx.open()?;
    let cols = match &a.rev {
        Some(rev) => {
            let id = repo.resolve(rev)?;
            repo.checkout_commit(&id.to_hex())?.columns()?
        }
        None => ctx.staged_records(&repo)?.columns()?,
    };
    if ctx.json {
        return Ok(output::print_json(&documents::Columns {
            columns: documents::columns(&cols),
        })?);
    }
    if cols.is_empty() {
        ctx.note("No columns.");
        return Ok(());
    }
    Ok(output::print(&columns_text(&cols))?)
}

fn remove(ctx: &mut Ctx, a: RemoveArgs) -> anyhow::Result<()> {
    let repo = ctx.open()?;
    let co = ctx.writer(&repo)?;
    let r = co.delete_column(&a.name);
    co.close()?;
    r?;
    if ctx.json {
        output::print_json(&documents::ColumnRemoved { removed: a.name })?;
    } else {
        ctx.done(&format!(
            "Removed column {} from the staging area; commit to make it final",
            a.name
        ))?;
    }
    Ok(())
}
