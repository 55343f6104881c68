//! The inputs of an import: the paths given, directories expanded, each file's kind, and
//! what its header declares (probed without decoding the data).

use std::path::{Path, PathBuf};

use anyhow::{ensure, Context as _};
use hangar_core::DType;

use crate::formats::{idx, image, npy, npz, table};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Npy,
    Npz,
    Idx,
    Png,
    Jpeg,
    Table,
}

pub(super) fn kind_of(path: &Path) -> Option<Kind> {
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

pub(super) const SUPPORTED: &str =
    ".npy, .npz, IDX (*-idx3-ubyte[.gz]), .png, .jpg/.jpeg, .parquet, .arrow/.feather";

/// The name of a file without its extension(s) (`a.png` -> `a`, `x-idx3-ubyte.gz` -> whole stem).
pub(super) fn stem(path: &Path) -> String {
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
pub(super) struct Input {
    pub(super) path: PathBuf,
    pub(super) kind: Kind,
    /// Found inside a directory given on the command line.
    pub(super) in_dir: bool,
    /// For nested columns: the sample this file is a subsample of (its directory).
    pub(super) parent_key: Option<String>,
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

pub(super) fn files_of_dir(dir: &Path) -> anyhow::Result<(Vec<PathBuf>, Vec<PathBuf>, usize)> {
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

pub(super) fn expand(paths: &[String], nested_target: bool) -> anyhow::Result<(Vec<Input>, usize)> {
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

/// An array a file holds: its .npz member name (if any), dtype and shape.
pub(super) type Probed = (Option<String>, DType, Vec<usize>);

pub(super) fn probe(input: &Input) -> anyhow::Result<Vec<Probed>> {
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
