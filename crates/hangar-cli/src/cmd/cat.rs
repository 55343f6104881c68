use std::io::Write;

use hangar_core::{ReaderColumn, SampleKey, StagedColumn, Value};

use crate::app::Ctx;
use crate::documents;
use crate::formats;
use crate::keys::parse_path;
use crate::output::{self, paint, HEADING};
use crate::views::shape_text;

/// Print one sample: a summary of an array, a string, or raw bytes with --raw.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "KEY is `int:N`, `str:NAME`, or a bare name (bare digits mean the integer key
unless a string key of that name exists). KEY/SUB names a subsample of a nested column;
KEY alone lists the sample's subsamples.

Examples:
  hangar cat images 0
  hangar cat labels int:7 dev
  hangar cat images 0 --raw > sample.bin      # the array's bytes, C order, little-endian
  hangar cat captions img_12/3 --staged"
)]
pub struct Args {
    /// The column.
    #[arg(add = crate::complete::column())]
    column: String,
    /// The sample key (KEY/SUB for a subsample).
    key: String,
    /// A branch or commit; default: the current branch's head.
    #[arg(add = crate::complete::rev())]
    rev: Option<String>,
    /// Read the staging area instead (works while a writer is open).
    #[arg(long, conflicts_with = "rev")]
    staged: bool,
    /// Write the value's bytes (array elements, UTF-8 text, or the bytes) and nothing else.
    #[arg(long)]
    raw: bool,
    /// How many elements of an array to print.
    #[arg(long, default_value_t = 64, value_name = "N")]
    limit: usize,
    /// Read from this remote (a directory or s3://bucket/prefix) without cloning it: its
    /// history and record tables are kept under the cache directory
    /// ($XDG_CACHE_HOME/hangar or ~/.cache/hangar), the value is fetched on demand.
    #[arg(long, value_name = "URL", conflicts_with = "staged")]
    remote: Option<String>,
    /// With --remote: the S3 server's endpoint.
    #[arg(long, requires = "remote")]
    endpoint: Option<String>,
    /// With --remote: the S3 region.
    #[arg(long, requires = "remote")]
    region: Option<String>,
}

/// The repository `cat --remote` reads through: a directory per URL under the cache
/// directory.
fn remote_repo(a: &Args, url: &str) -> anyhow::Result<hangar_core::Repository> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))
        .ok_or_else(|| {
            anyhow::anyhow!("neither XDG_CACHE_HOME nor HOME is set: no cache directory")
        })?;
    let dir = base
        .join("hangar")
        .join("remotes")
        .join(&hangar_core::Digest::of_object(0, url.as_bytes()).to_hex()[..16]);
    std::fs::create_dir_all(&dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot create the cache directory {} for --remote ({e}); set XDG_CACHE_HOME to \
             a directory you can write",
            dir.display()
        )
    })?;
    let spec = hangar_core::RemoteSpec {
        name: "origin".into(),
        url: url.to_string(),
        endpoint: a.endpoint.clone(),
        region: a.region.clone(),
    };
    Ok(hangar_core::Repository::open_remote(
        &dir,
        &spec,
        hangar_core::remote::DEFAULT_CACHE_BYTES,
    )?)
}

/// A column of a reader checkout or of the staging area.
pub enum Col {
    Reader(ReaderColumn),
    Staged(StagedColumn),
}

impl std::fmt::Debug for Col {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Col")
    }
}

/// Evaluates `$body` with `$c` bound to the column, whichever kind it is (both are
/// `hangar_core::Column`s, with the same read methods).
macro_rules! each_col {
    ($col:expr, $c:ident => $body:expr) => {
        match $col {
            Col::Reader($c) => $body,
            Col::Staged($c) => $body,
        }
    };
}

impl Col {
    fn nested(&self) -> anyhow::Result<bool> {
        Ok(each_col!(self, c => c.is_nested()?))
    }
    fn contains(&self, k: &SampleKey) -> anyhow::Result<bool> {
        Ok(each_col!(self, c => c.contains(k)?))
    }
    fn contains_sub(&self, k: &SampleKey, s: &SampleKey) -> anyhow::Result<bool> {
        Ok(each_col!(self, c => c.contains_subsample(k, s)?))
    }
    fn get(&self, k: &SampleKey) -> anyhow::Result<Value> {
        Ok(match self {
            // A committed array is shown from its memory map: no copy of a huge sample.
            Col::Reader(c) if c.schema()?.kind() == hangar_core::ColumnKind::NdArray => {
                Value::Tensor(c.get_view(k.clone())?)
            }
            Col::Reader(c) => c.get(k)?,
            Col::Staged(c) => c.get(k)?,
        })
    }
    fn get_sub(&self, k: &SampleKey, s: &SampleKey) -> anyhow::Result<Value> {
        Ok(each_col!(self, c => c.get_subsample(k, s)?))
    }
    fn sub_keys(&self, k: &SampleKey) -> anyhow::Result<Vec<SampleKey>> {
        Ok(each_col!(self, c => c.subsample_keys(k)?))
    }
}

/// One line describing a value.
fn describe(v: &Value) -> String {
    match v {
        Value::Tensor(t) => format!(
            "ndarray {} {} ({})",
            t.dtype(),
            shape_text(t.shape()),
            crate::output::count(t.len() as u64, "element")
        ),
        Value::Str(s) => format!("str, {} bytes", s.len()),
        Value::Bytes(b) => format!("bytes, {} long", b.len()),
    }
}

/// Samples larger than this are shown without min/max/mean: `cat` then reads only the
/// elements it prints (and the checksum pass every read makes).
const STATS_MAX_BYTES: usize = 64 << 20;

fn stats_of(t: &hangar_core::Tensor) -> Option<(f64, f64, f64)> {
    (t.as_bytes().len() <= STATS_MAX_BYTES)
        .then(|| formats::stats(t.dtype(), t.as_bytes()))
        .flatten()
}

fn value_doc(v: &Value) -> documents::CatValue {
    match v {
        Value::Tensor(t) => {
            let st = stats_of(t);
            documents::CatValue::NdArray {
                dtype: t.dtype().name(),
                shape: t.shape().to_vec(),
                min: st.map(|s| s.0),
                max: st.map(|s| s.1),
                mean: st.map(|s| s.2),
            }
        }
        Value::Str(s) => documents::CatValue::Str { value: s.clone() },
        Value::Bytes(b) => documents::CatValue::Bytes { length: b.len() },
    }
}

fn value_text(v: &Value, limit: usize) -> String {
    match v {
        Value::Tensor(t) => {
            let mut s = format!("{}\n", paint(HEADING, describe(v)));
            if let Some((lo, hi, mean)) = stats_of(t) {
                s.push_str(&format!("min {lo}, max {hi}, mean {mean:.4}\n"));
            } else if t.as_bytes().len() > STATS_MAX_BYTES {
                s.push_str("(min, max and mean are not computed for samples over 64 MiB)\n");
            }
            s.push_str(&formats::values_text(t.dtype(), t.as_bytes(), limit));
            s.push('\n');
            s
        }
        Value::Str(text) => format!("{text}\n"),
        Value::Bytes(b) => {
            let hex: Vec<String> = b.iter().take(limit).map(|x| format!("{x:02x}")).collect();
            format!(
                "{}\n{}{}\n",
                describe(v),
                hex.join(" "),
                if b.len() > limit { " ..." } else { "" }
            )
        }
    }
}

fn raw_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::Tensor(t) => {
            let mut d = t.as_bytes().to_vec();
            if cfg!(target_endian = "big") {
                formats::swap_bytes(&mut d, t.dtype().size());
            }
            d
        }
        Value::Str(s) => s.as_bytes().to_vec(),
        Value::Bytes(b) => b.clone(),
    }
}

/// True if the staging area has column `name`.
fn staged_column(repo: &hangar_core::Repository, name: &str) -> bool {
    repo.staged_view()
        .and_then(|v| v.has_column(name))
        .unwrap_or(false)
}

pub fn run(ctx: &mut Ctx, a: Args) -> anyhow::Result<()> {
    let repo = match &a.remote {
        Some(url) => remote_repo(&a, url)?,
        None => ctx.open()?,
    };
    let (key_arg, sub_arg) = parse_path(&a.key)?;
    let col = if a.staged {
        Col::Staged(ctx.staged(&repo)?.column(&a.column)?)
    } else {
        let reader = match &a.rev {
            Some(rev) => repo.checkout_commit(&repo.resolve(rev)?.to_hex()),
            None => repo.checkout(),
        };
        match reader.and_then(|r| r.column(&a.column)) {
            Ok(c) => Col::Reader(c),
            // The default reads the branch head while `column list` shows the staging
            // area: a column imported but not committed yet is named as such.
            Err(e) if a.rev.is_none() && e.kind() == hangar_core::ErrorKind::NotFound => {
                if staged_column(&repo, &a.column) {
                    anyhow::bail!(
                        "column {:?} is staged but not committed yet: `hangar cat {} {} \
                         --staged` reads the staging area, `hangar commit -m MSG` commits it",
                        a.column,
                        a.column,
                        a.key
                    );
                }
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        }
    };
    let key = key_arg.resolve(|k| col.contains(k))?;
    let nested = col.nested()?;
    let result = match (nested, sub_arg) {
        (false, Some(_)) => anyhow::bail!(
            "column {:?} is not nested, so {:?} names no subsample; use the key alone",
            a.column,
            a.key
        ),
        (true, Some(sub)) => {
            let sub = sub.resolve(|s| col.contains_sub(&key, s))?;
            Ok(Some((sub.clone(), col.get_sub(&key, &sub)?)))
        }
        (false, None) => Ok(Some((key.clone(), col.get(&key)?))),
        (true, None) => Err(col.sub_keys(&key)?),
    };
    match result {
        Ok(Some((_, value))) => {
            if a.raw {
                let mut out = std::io::stdout().lock();
                out.write_all(&raw_bytes(&value))?;
                out.flush()?;
            } else if ctx.json {
                output::print_json(&documents::Cat {
                    column: a.column.clone(),
                    key: (&key).into(),
                    value: value_doc(&value),
                })?;
            } else {
                output::print(&value_text(&value, a.limit))?;
            }
        }
        Ok(None) => {}
        Err(subs) => {
            // A nested sample: list its subsamples.
            if ctx.json {
                let mut subsamples = Vec::new();
                for s in &subs {
                    subsamples.push(documents::CatSubsample {
                        subkey: s.into(),
                        value: value_doc(&col.get_sub(&key, s)?),
                    });
                }
                output::print_json(&documents::CatNested {
                    column: a.column.clone(),
                    key: (&key).into(),
                    subsamples,
                })?;
            } else {
                let mut text = format!("{} subsamples\n", subs.len());
                for s in &subs {
                    text.push_str(&format!("  {s}: {}\n", describe(&col.get_sub(&key, s)?)));
                }
                output::print(&text)?;
            }
        }
    }
    Ok(())
}
