//! Executing an import's plan: the new columns are made, whole files decoded in
//! parallel, rows streamed in bounded batches, and everything staged in one bulk session
//! (the caller makes it all or nothing).

use std::collections::{BTreeMap, HashSet};

use anyhow::{ensure, Context as _};
use hangar_core::{
    BigBytes, ColumnSchema, DType, SampleKey, TensorRef, ValueRef, WriterCheckout, WriterColumn,
};
use rayon::prelude::*;

use super::inputs::{Input, Kind};
use super::plan::{ArrayUnit, Layout, Plan, Unit};
use super::{Args, Counts, Report};
use crate::app::Ctx;
use crate::formats::table::{self, Cell};
use crate::formats::{self, idx, image, npy, npz, Array};

/// Makes the plan's new columns, then decodes and stages every unit.
pub(super) fn execute(
    ctx: &Ctx,
    a: &Args,
    co: &WriterCheckout,
    plan: Plan,
) -> anyhow::Result<Report> {
    let Plan {
        inputs,
        left_out,
        create,
        schemas,
        units,
        total,
        limit,
    } = plan;
    let mut created = Vec::new();
    for (name, schema) in create {
        let col = co.add_column(&name, schema)?;
        created.push(format!("Created column {name} ({})", col.schema()?));
    }
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
                let mut decoded: Vec<Option<anyhow::Result<Array>>> =
                    hangar_core::run_parallel(|| {
                        batch
                            .par_iter()
                            .map(|u| {
                                let input = &inputs[u.input];
                                (input.kind != Kind::Npz)
                                    .then(|| decode(input, u.member.as_deref(), None, limit))
                            })
                            .collect()
                    });
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
                        let rows = Rows::of(&arr);
                        stage_rows(col, schema, &rows, key, over, c, &bar, empty)?;
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
        left_out,
        files: inputs.len(),
        created,
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
fn stage_stream<R: std::io::Read + Send>(
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
    // The next batch is read (decompressed, for a .gz IDX file or a deflated .npz
    // member) on a thread of its own while this one is staged: two buffers go round.
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(usize, BigBytes)>(1);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<BigBytes>();
    for _ in 0..2 {
        empty_tx.send(BigBytes::new()).expect("receiver held");
    }
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let reader = scope.spawn(move || -> anyhow::Result<formats::RowReader<R>> {
            // Ends when the rows end, a read fails, or the stager stops taking batches.
            while let Ok(mut buf) = empty_rx.recv() {
                let n = r.next_rows_big(batch, &mut buf)?;
                if n == 0 || full_tx.send((n, buf)).is_err() {
                    break;
                }
            }
            Ok(r)
        });
        let mut done = 0u64;
        let staged = (|| -> anyhow::Result<()> {
            while let Ok((n, buf)) = full_rx.recv() {
                let rows = Rows {
                    dtype,
                    row_shape: &shape[1..],
                    rows: n,
                    data: &buf,
                };
                stage_rows(
                    col,
                    schema,
                    &rows,
                    first_key + done,
                    overwrite,
                    counts,
                    bar,
                    empty_before,
                )?;
                done += n as u64;
                // The reader may have finished: then the buffer is not needed.
                let _ = empty_tx.send(buf);
            }
            Ok(())
        })();
        // A failed stage stops the reader (its next send or receive fails).
        drop(full_rx);
        drop(empty_tx);
        let read = reader
            .join()
            .map_err(|_| anyhow::anyhow!("the thread reading the input panicked"))?;
        staged?;
        read?.finish()
    })
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

/// Rows of an array along its first axis, borrowed: a whole decoded [`Array`], or one
/// batch of a stream.
struct Rows<'a> {
    dtype: DType,
    row_shape: &'a [usize],
    rows: usize,
    data: &'a [u8],
}

impl<'a> Rows<'a> {
    fn of(arr: &'a Array) -> Rows<'a> {
        Rows {
            dtype: arr.dtype,
            row_shape: arr.row_shape(),
            rows: arr.rows(),
            data: &arr.data,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn stage_rows(
    col: &WriterColumn,
    schema: &ColumnSchema,
    arr: &Rows<'_>,
    first_key: u64,
    overwrite: bool,
    counts: &mut Counts,
    bar: &indicatif::ProgressBar,
    empty_before: bool,
) -> anyhow::Result<()> {
    let to = schema.dtype().expect("ndarray");
    let data = formats::convert(arr.data, arr.dtype, to);
    let row_elems = formats::elements(arr.row_shape).unwrap_or(0);
    let row_bytes = row_elems * to.size();
    let sample_shape: Vec<usize> = if schema.variable_shape() {
        arr.row_shape.to_vec()
    } else {
        schema.shape().to_vec()
    };
    let rows = arr.rows;
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
