use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context as _};
use hangar_core::{ColumnKind, ColumnSchema, ReaderColumn, SampleKey, Value};

use crate::app::Ctx;
use crate::documents;
use crate::formats::table::{BatchBuilder, ExportKind, TableWriter};
use crate::formats::{image, npy, npz};
use crate::keys::parse_path;
use crate::output;

/// Write a column's samples at a commit to files.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Formats (default: from the extension of OUT; OUT without one is a directory of
.npy files; an extension not listed here is an error):
  npy      a directory of KEY.npy (KEY/SUB.npy for nested columns; str and bytes columns
           as KEY.txt / KEY.bin), or one stacked array when OUT ends in .npy (fixed-shape
           columns; samples in key order, keys are not kept)
  npz      one archive, member KEY.npy per sample (KEY/SUB.npy when nested)
  parquet  one table: key, [subkey,] value (canonical Arrow tensor types, str, bytes)
  arrow    the same table as an Arrow IPC file (Feather v2; .arrow, .feather, .ipc)
  arrows   the same table as an Arrow IPC stream (.arrows)
  png      a directory of KEY.png (uint8/uint16 samples shaped [H, W] or [H, W, C])
-o - writes to stdout: --format npy (one stacked array) or --format arrows.

Examples:
  hangar export images -o images.npz
  hangar export images dev -o out/ --format png
  hangar export labels 3f2a9c -o labels.parquet
  hangar export images -o one/ --key 0 --key 17
  hangar export labels -o - --format arrows | python3 read_stream.py"
)]
pub struct Args {
    /// The column.
    #[arg(add = crate::complete::column())]
    column: String,
    /// A branch or commit; default: the current branch's head.
    #[arg(add = crate::complete::rev())]
    rev: Option<String>,
    /// The file or directory to write; `-` is stdout (with --format npy or arrows).
    #[arg(short, long, value_name = "OUT")]
    out: PathBuf,
    /// The format (default: from OUT).
    #[arg(short, long, value_enum)]
    format: Option<Format>,
    /// Export only this sample (repeatable; KEY/SUB for a subsample of a nested column).
    #[arg(short = 'k', long = "key", value_name = "KEY")]
    keys: Vec<String>,
    /// Replace files that already exist.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Npy,
    Npz,
    Parquet,
    Arrow,
    Arrows,
    Png,
}

const FORMATS: &str = "npy (a directory, or one stacked .npy), npz, parquet (.parquet, .pq), \
                       arrow (.arrow, .feather, .ipc), arrows (.arrows), png (a directory)";

/// True for `-o -`: the data goes to stdout.
fn is_stdout(out: &Path) -> bool {
    out.as_os_str() == "-"
}

fn format_of(out: &Path, given: Option<Format>) -> anyhow::Result<Format> {
    if is_stdout(out) {
        return match given {
            Some(f @ (Format::Npy | Format::Arrows)) => Ok(f),
            Some(f) => bail!(
                "{f:?} cannot be written to stdout; -o - takes --format npy (one stacked \
                 array) or --format arrows (an Arrow IPC stream): give a file name for {f:?}"
            ),
            None => bail!(
                "-o - writes to stdout: say what to write there with --format npy (one \
                 stacked array) or --format arrows (an Arrow IPC stream)"
            ),
        };
    }
    if let Some(f) = given {
        return Ok(f);
    }
    let Some(ext) = out.extension().and_then(|e| e.to_str()) else {
        return Ok(Format::Npy); // a directory of .npy files
    };
    Ok(match ext.to_ascii_lowercase().as_str() {
        "npy" => Format::Npy,
        "npz" => Format::Npz,
        "parquet" | "pq" => Format::Parquet,
        "arrow" | "feather" | "ipc" => Format::Arrow,
        "arrows" => Format::Arrows,
        "png" => Format::Png,
        _ if out.is_dir() => Format::Npy,
        other => bail!(
            "{} has the extension .{other}, which is no format export writes: {FORMATS}; \
             for a directory of .npy files give a name without an extension or --format npy",
            out.display()
        ),
    })
}

/// One exported item: key, subkey (nested), value.
type Item = (SampleKey, Option<SampleKey>, Value);

/// Where the samples to export come from.
enum Source<'a> {
    /// The keys given with --key, in their order, and how many were exported.
    Listed(Vec<(SampleKey, Option<SampleKey>)>, usize),
    /// Every sample of a flat column, read as its table is walked in key order: no list
    /// of keys and no lookup per key (10^7 samples: the keys alone took 600 MB).
    Flat(Box<dyn Iterator<Item = hangar_core::Result<(SampleKey, Value)>> + 'a>),
    /// Every sample of a nested column, its keys read as the table is walked.
    Nested(Box<dyn Iterator<Item = hangar_core::Result<SampleKey>> + 'a>),
}

/// Yields the samples to export, in key order (or the order given with --key).
struct Samples<'a> {
    col: &'a ReaderColumn,
    nested: bool,
    source: Source<'a>,
    pending: std::collections::VecDeque<Item>,
}

impl Samples<'_> {
    /// Calls `f` with each sample key the export will write (and the subsample given
    /// with it), before any value is read: for the checks made before writing. A whole
    /// column's keys are read from its table again, not kept.
    fn each_key(
        &self,
        mut f: impl FnMut(&SampleKey, &Option<SampleKey>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        match &self.source {
            Source::Listed(keys, _) => {
                for (k, s) in keys {
                    f(k, s)?;
                }
            }
            Source::Flat(_) | Source::Nested(_) => {
                for k in self.col.keys()? {
                    f(&k?, &None)?;
                }
            }
        }
        Ok(())
    }

    fn next_item(&mut self) -> anyhow::Result<Option<Item>> {
        loop {
            if let Some(i) = self.pending.pop_front() {
                return Ok(Some(i));
            }
            let (k, sub) = match &mut self.source {
                Source::Flat(items) => {
                    return Ok(items.next().transpose()?.map(|(k, v)| (k, None, v)));
                }
                Source::Nested(keys) => match keys.next().transpose()? {
                    Some(k) => (k, None),
                    None => return Ok(None),
                },
                Source::Listed(keys, next) => match keys.get(*next) {
                    Some(ks) => {
                        *next += 1;
                        ks.clone()
                    }
                    None => return Ok(None),
                },
            };
            match (self.nested, sub) {
                (false, _) => {
                    let v = self.col.get(&k)?;
                    return Ok(Some((k, None, v)));
                }
                (true, Some(s)) => {
                    let v = self.col.get_subsample(&k, &s)?;
                    return Ok(Some((k, Some(s), v)));
                }
                (true, None) => {
                    for (s, v) in self.col.get_sample(&k)? {
                        self.pending.push_back((k.clone(), Some(s), v));
                    }
                }
            }
        }
    }
}

fn check_new(path: &Path, force: bool) -> anyhow::Result<()> {
    if path.exists() && !force {
        bail!(
            "{} already exists; pass --force to replace it",
            path.display()
        );
    }
    Ok(())
}

/// `path` with `.tmp-hangar-<pid>-<n>` added: written first, renamed into place when
/// complete. Created with [`crate::formats::create_new`], so a file or symbolic link
/// already at that name is never written through.
fn temp_for(path: &Path) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".tmp-hangar-{}-{n}", std::process::id()));
    PathBuf::from(s)
}

fn tensor(v: &Value, column: &str, key: &SampleKey) -> anyhow::Result<hangar_core::Tensor> {
    match v {
        Value::Tensor(t) => Ok(t.clone()),
        _ => bail!("sample {key} of column {column:?} is not an array"),
    }
}

/// `KEY.ext` or `KEY/SUB.ext`, with [`SampleKey::name`]: the integer key 123 and the
/// string key "123" are `123` and `str:123`, never the same file.
fn file_name(key: &SampleKey, sub: &Option<SampleKey>, ext: &str) -> PathBuf {
    match sub {
        Some(s) => Path::new(&key.name()).join(format!("{}.{ext}", s.name())),
        None => PathBuf::from(format!("{}.{ext}", key.name())),
    }
}

/// The extension a value of `schema` gets in a directory export.
fn extension(schema: &ColumnSchema, format: Format) -> &'static str {
    match (schema.kind(), format) {
        (_, Format::Png) => "png",
        (ColumnKind::NdArray, _) => "npy",
        (ColumnKind::Str, _) => "txt",
        (ColumnKind::Bytes, _) => "bin",
    }
}

pub fn run(ctx: &mut Ctx, a: Args) -> anyhow::Result<()> {
    let repo = ctx.open()?;
    let reader = match &a.rev {
        Some(rev) => repo.checkout_commit(&repo.resolve(rev)?.to_hex())?,
        None => repo.checkout()?,
    };
    let col = reader.column(&a.column)?;
    let schema = col.schema()?;
    let nested = schema.is_nested();
    let (source, total) = if a.keys.is_empty() {
        if nested {
            (Source::Nested(Box::new(col.keys()?)), col.num_subsamples()?)
        } else {
            (Source::Flat(Box::new(col.items()?)), col.len()?)
        }
    } else {
        let mut v = Vec::new();
        for text in &a.keys {
            let (k, s) = parse_path(text)?;
            let k = k.resolve(|k| Ok(col.contains(k)?))?;
            ensure!(
                col.contains(&k)?,
                "column {:?} has no sample {text:?}",
                a.column
            );
            let s = match s {
                Some(s) if nested => Some(s.resolve(|s| Ok(col.contains_subsample(&k, s)?))?),
                Some(_) => bail!(
                    "column {:?} is not nested; {text:?} names no subsample",
                    a.column
                ),
                None => None,
            };
            v.push((k, s));
        }
        let total = v.len();
        (Source::Listed(v, 0), total)
    };
    let format = format_of(&a.out, a.format)?;
    let to_stdout = is_stdout(&a.out);
    ensure!(
        !(to_stdout && ctx.json),
        "-o - writes the data to stdout, so --json cannot print there too; drop one"
    );
    let bar = ctx.progress(total as u64, "exporting");
    let mut samples = Samples {
        col: &col,
        nested,
        source,
        pending: Default::default(),
    };
    let written = match format {
        Format::Npy if to_stdout || a.out.extension().is_some_and(|e| e == "npy") => {
            stacked_npy(&a, &schema, total, &mut samples, &bar)?
        }
        Format::Npy | Format::Png => per_file(&a, &schema, format, &mut samples, &bar)?,
        Format::Npz => to_npz(&a, &schema, &mut samples, &bar)?,
        Format::Parquet | Format::Arrow | Format::Arrows => {
            to_table(&a, &schema, nested, format, &mut samples, &bar)?
        }
    };
    bar.finish_and_clear();
    if to_stdout {
        ctx.note(&format!(
            "Exported {} of column {} at {} to stdout",
            output::count(written as u64, "sample"),
            a.column,
            reader.commit_hash()
        ));
    } else if ctx.json {
        output::print_json(&documents::Export {
            column: a.column.clone(),
            commit: reader.commit_hash().to_hex(),
            format: format!("{format:?}").to_ascii_lowercase(),
            path: a.out.clone(),
            written,
        })?;
    } else {
        ctx.done(&format!(
            "Exported {} of column {} at {} to {}",
            output::count(written as u64, "sample"),
            a.column,
            reader.commit_hash(),
            a.out.display()
        ))?;
    }
    Ok(())
}

fn stacked_npy(
    a: &Args,
    schema: &ColumnSchema,
    total: usize,
    samples: &mut Samples<'_>,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<usize> {
    ensure!(
        schema.kind() == ColumnKind::NdArray && !schema.variable_shape() && !schema.is_nested(),
        "one stacked .npy needs a flat fixed-shape array column; column {:?} is {schema}: export to a directory, .npz or .parquet",
        a.column
    );
    let dtype = schema.dtype().expect("ndarray columns have a dtype");
    let mut shape = vec![total];
    shape.extend_from_slice(schema.shape());
    let write = |w: &mut dyn std::io::Write, samples: &mut Samples<'_>| -> anyhow::Result<usize> {
        w.write_all(&npy::header_bytes(dtype, &shape))?;
        let mut n = 0;
        while let Some((k, _, v)) = samples.next_item()? {
            npy::write_data(&mut &mut *w, dtype, tensor(&v, &a.column, &k)?.as_bytes())?;
            n += 1;
            bar.inc(1);
        }
        w.flush()?;
        Ok(n)
    };
    if is_stdout(&a.out) {
        let mut w = std::io::BufWriter::new(std::io::stdout().lock());
        return write(&mut w, samples);
    }
    check_new(&a.out, a.force)?;
    let tmp = temp_for(&a.out);
    let f = crate::formats::create_new(&tmp)?;
    let mut w = std::io::BufWriter::new(f);
    let n = write(&mut w, samples)?;
    let f = w.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &a.out)?;
    Ok(n)
}

fn per_file(
    a: &Args,
    schema: &ColumnSchema,
    format: Format,
    samples: &mut Samples<'_>,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<usize> {
    if format == Format::Png {
        ensure!(
            schema.kind() == ColumnKind::NdArray,
            "PNG export needs an array column; column {:?} is {schema}",
            a.column
        );
    }
    // Every file this export makes, checked before the first is written: an export
    // never stops half-way over a file that already exists.
    let ext = extension(schema, format);
    let mut names = std::collections::HashSet::new();
    samples.each_key(|k, sub| {
        let subs = match sub {
            None if samples.nested => samples
                .col
                .subsample_keys(k)?
                .into_iter()
                .map(Some)
                .collect(),
            _ => vec![sub.clone()],
        };
        for sub in subs {
            let name = file_name(k, &sub, ext);
            check_new(&a.out.join(&name), a.force)?;
            ensure!(
                names.insert(name.clone()),
                "two samples would both be written to {}; nothing was exported",
                a.out.join(name).display()
            );
        }
        Ok(())
    })?;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create directory {}", a.out.display()))?;
    let mut n = 0;
    while let Some((k, sub, v)) = samples.next_item()? {
        let (ext, bytes): (&str, Vec<u8>) = match (&v, format) {
            (Value::Tensor(t), Format::Png) => {
                let mut b = Vec::new();
                image::write_png(&mut b, t.dtype(), t.shape(), t.as_bytes())
                    .with_context(|| format!("sample {k} of column {:?}", a.column))?;
                ("png", b)
            }
            (Value::Tensor(t), _) => {
                let mut b = Vec::new();
                npy::write(&mut b, t.dtype(), t.shape(), t.as_bytes())?;
                ("npy", b)
            }
            (Value::Str(s), _) => ("txt", s.as_bytes().to_vec()),
            (Value::Bytes(b), _) => ("bin", b.clone()),
        };
        let path = a.out.join(file_name(&k, &sub, ext));
        check_new(&path, a.force)?;
        if let Some(parent) = path.parent() {
            if parent != a.out {
                // A nested sample's directory: never a link leading out of the target.
                ensure!(
                    !parent.is_symlink(),
                    "{} is a symbolic link; export never writes through links (it could \
                     overwrite files outside {}): remove it or export elsewhere",
                    parent.display(),
                    a.out.display()
                );
            }
            std::fs::create_dir_all(parent)?;
        }
        let tmp = temp_for(&path);
        let mut f = crate::formats::create_new(&tmp)?;
        std::io::Write::write_all(&mut f, &bytes)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        drop(f);
        std::fs::rename(&tmp, &path)?;
        n += 1;
        bar.inc(1);
    }
    Ok(n)
}

fn to_npz(
    a: &Args,
    schema: &ColumnSchema,
    samples: &mut Samples<'_>,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<usize> {
    ensure!(
        schema.kind() == ColumnKind::NdArray,
        ".npz holds arrays; column {:?} is {schema}: export it to .parquet or a directory",
        a.column
    );
    check_new(&a.out, a.force)?;
    let tmp = temp_for(&a.out);
    let mut w = npz::NpzWriter::create(&tmp)?;
    let mut n = 0;
    while let Some((k, sub, v)) = samples.next_item()? {
        let t = tensor(&v, &a.column, &k)?;
        let name = match &sub {
            Some(s) => format!("{}/{}", k.name(), s.name()),
            None => k.name(),
        };
        w.add(&name, t.dtype(), t.shape(), t.as_bytes())?;
        n += 1;
        bar.inc(1);
    }
    let f = w.finish()?.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &a.out)?;
    Ok(n)
}

/// Largest batch of values gathered before a record batch is written.
const BATCH_BYTES: usize = 256 << 20;
const BATCH_ROWS: usize = 4096;

fn to_table(
    a: &Args,
    schema: &ColumnSchema,
    nested: bool,
    format: Format,
    samples: &mut Samples<'_>,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<usize> {
    let to_stdout = is_stdout(&a.out);
    if !to_stdout {
        check_new(&a.out, a.force)?;
    }
    let kind = ExportKind::for_schema(schema);
    // Integer key columns when every key is an integer (known from the keys, read
    // before the values).
    let (mut int_keys, mut int_subs) = (true, true);
    samples.each_key(|k, s| {
        int_keys &= matches!(k, SampleKey::Int(_));
        if nested {
            match s {
                Some(s) => int_subs &= matches!(s, SampleKey::Int(_)),
                None => {
                    int_subs &= samples
                        .col
                        .subsample_keys(k)?
                        .iter()
                        .all(|s| matches!(s, SampleKey::Int(_)))
                }
            }
        }
        Ok(())
    })?;
    let int_subkeys = nested.then_some(int_subs);
    let arrow_schema = crate::formats::table::export_schema(&kind, int_keys, int_subkeys);
    let tmp = temp_for(&a.out);
    let mut w = match format {
        Format::Arrows if to_stdout => TableWriter::stream(None, &arrow_schema)?,
        Format::Arrows => TableWriter::stream(Some(&tmp), &arrow_schema)?,
        _ => TableWriter::create(&tmp, &arrow_schema, format == Format::Parquet)?,
    };
    let mut b = BatchBuilder::default();
    let mut n = 0;
    while let Some((k, sub, v)) = samples.next_item()? {
        b.push(k, sub, &v);
        n += 1;
        bar.inc(1);
        if b.len() >= BATCH_ROWS || b.value_bytes() >= BATCH_BYTES {
            w.write(&b.finish(&arrow_schema, &kind)?)?;
        }
    }
    if !b.is_empty() || n == 0 {
        w.write(&b.finish(&arrow_schema, &kind)?)?;
    }
    w.finish()?;
    if !to_stdout {
        std::fs::rename(&tmp, &a.out)?;
    }
    Ok(n)
}
