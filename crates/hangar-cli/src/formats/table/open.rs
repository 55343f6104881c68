//! Opening a Parquet or Arrow IPC file safely: its footer, pages, blocks or messages
//! are checked against the file's length before a reader allocates what they declare.

use super::*;

/// Reads `len` bytes at `at`.
fn read_at(f: &mut File, at: u64, len: u64) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    f.seek(SeekFrom::Start(at))?;
    f.take(len).read_to_end(&mut buf)?;
    anyhow::ensure!(buf.len() as u64 == len, "the file ends early");
    Ok(buf)
}

/// Opens a Parquet file, an Arrow IPC file (Feather v2) or an Arrow IPC stream, by content.
pub fn open(path: &Path) -> anyhow::Result<Table> {
    let mut f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut magic = [0u8; 6];
    let n = f.read(&mut magic)?;
    f.seek(SeekFrom::Start(0))?;
    if n >= 4 && &magic[..4] == b"PAR1" {
        let len = f.metadata()?.len();
        let damaged = || format!("{}: damaged Parquet file", path.display());
        let from_file = |f: &mut File, at: u64, n: u64| {
            read_at(f, at, n)
                .map(std::borrow::Cow::Owned)
                .map_err(|e| e.to_string())
        };
        hangar_core::parquet_thrift::check_parquet_footer(len, &mut |at, n| {
            from_file(&mut f, at, n)
        })
        .map_err(anyhow::Error::msg)
        .with_context(damaged)?;
        let mut pages = f.try_clone()?;
        let b = guarded("Parquet", || {
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
                .context("not a readable Parquet file")
        })?;
        let meta = b.metadata();
        hangar_core::parquet_thrift::check_parquet_pages(meta, len, false, &mut |at, n| {
            from_file(&mut pages, at, n)
        })
        .map_err(anyhow::Error::msg)
        .with_context(damaged)?;
        pages.seek(SeekFrom::Start(0))?;
        let rows = u64::try_from(meta.file_metadata().num_rows()).ok();
        // Batches of about BATCH_BYTES of values, from the sizes the row groups record
        // (a claim: the reader checks what it decodes; a lie only changes batch sizes).
        let bytes: i64 = meta
            .row_groups()
            .iter()
            .map(|g| g.total_byte_size().max(0))
            .fold(0i64, i64::saturating_add);
        let per_row = (bytes as u64) / rows.unwrap_or(1).max(1);
        let batch = (BATCH_BYTES / per_row.max(1)).clamp(1, 4096) as usize;
        let schema = b.schema().clone();
        let reader = b.with_batch_size(batch).build()?;
        return Ok(Table {
            schema,
            rows,
            reader: Box::new(checked("Parquet", reader)),
        });
    }
    let len = f.metadata()?.len();
    if n == 6 && &magic == b"ARROW1" {
        check_ipc_file_blocks(&mut f, len)
            .with_context(|| format!("{}: damaged Arrow IPC file", path.display()))?;
        let r = guarded("Arrow IPC", || {
            arrow_ipc::reader::FileReader::try_new(std::io::BufReader::new(f), None)
                .context("not a readable Arrow IPC file")
        })?;
        let schema = r.schema();
        return Ok(Table {
            schema,
            rows: None,
            reader: Box::new(checked("Arrow IPC", r)),
        });
    }
    check_ipc_stream_messages(&mut f, len).with_context(|| {
        format!(
            "{}: not a Parquet file or an Arrow IPC file or stream, or a damaged one",
            path.display()
        )
    })?;
    let r = guarded("Arrow IPC", || {
        arrow_ipc::reader::StreamReader::try_new(std::io::BufReader::new(f), None)
            .context("not a Parquet file or an Arrow IPC file or stream")
    })?;
    let schema = r.schema();
    Ok(Table {
        schema,
        rows: None,
        reader: Box::new(checked("Arrow IPC", r)),
    })
}

/// Bytes of values read per batch from a Parquet file.
const BATCH_BYTES: u64 = 4 << 20;

/// Checks an Arrow IPC file's footer before the arrow reader sees it: the reader
/// allocates each record batch's declared body length, so every block the footer lists
/// must lie inside the file (an allocation is never sized by what a file claims).
fn check_ipc_file_blocks(f: &mut File, len: u64) -> anyhow::Result<()> {
    anyhow::ensure!(len >= 18, "too short for an Arrow IPC file");
    let mut tail = [0u8; 10];
    f.seek(SeekFrom::End(-10))?;
    f.read_exact(&mut tail)?;
    anyhow::ensure!(&tail[4..] == b"ARROW1", "no ARROW1 trailer");
    let footer_len = i32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
    anyhow::ensure!(
        footer_len > 0 && u64::from(footer_len.unsigned_abs()) + 18 <= len,
        "its footer claims {footer_len} bytes in a file of {len}"
    );
    let mut footer = vec![0u8; footer_len as usize];
    f.seek(SeekFrom::End(-10 - i64::from(footer_len)))?;
    f.read_exact(&mut footer)?;
    let footer = arrow_ipc::root_as_footer(&footer)
        .map_err(|e| anyhow::anyhow!("unreadable footer: {e}"))?;
    let blocks = footer
        .recordBatches()
        .into_iter()
        .flatten()
        .chain(footer.dictionaries().into_iter().flatten());
    for b in blocks {
        let (at, meta, body) = (b.offset(), i64::from(b.metaDataLength()), b.bodyLength());
        anyhow::ensure!(
            at >= 0
                && meta >= 0
                && body >= 0
                && at as u128 + meta as u128 + body as u128 <= u128::from(len),
            "a record batch claims {body} bytes at offset {at}, past the end of the file ({len} bytes)"
        );
    }
    f.seek(SeekFrom::Start(0))?;
    Ok(())
}

/// Walks an Arrow IPC stream's messages before the arrow reader sees it, reading only
/// their headers: each message's metadata and body must lie inside the file (the reader
/// allocates the declared body length).
fn check_ipc_stream_messages(f: &mut File, len: u64) -> anyhow::Result<()> {
    let mut r = std::io::BufReader::new(&mut *f);
    let mut pos = 0u64;
    let mut word = [0u8; 4];
    while pos + 4 <= len {
        r.seek(SeekFrom::Start(pos))?;
        r.read_exact(&mut word)?;
        pos += 4;
        let mut meta_len = i32::from_le_bytes(word);
        if meta_len == -1 {
            // The continuation marker, then the length.
            anyhow::ensure!(pos + 4 <= len, "a message header is cut short");
            r.read_exact(&mut word)?;
            pos += 4;
            meta_len = i32::from_le_bytes(word);
        }
        if meta_len == 0 {
            break; // end of stream
        }
        anyhow::ensure!(
            meta_len > 0 && pos + u64::from(meta_len.unsigned_abs()) <= len,
            "a message claims {meta_len} bytes of metadata at offset {pos}, past the end of the file ({len} bytes)"
        );
        let mut meta = vec![0u8; meta_len as usize];
        r.read_exact(&mut meta)?;
        pos += meta.len() as u64;
        let msg = arrow_ipc::root_as_message(&meta)
            .map_err(|e| anyhow::anyhow!("unreadable message header at offset {pos}: {e}"))?;
        let body = msg.bodyLength();
        anyhow::ensure!(
            body >= 0 && u128::from(pos) + body as u128 <= u128::from(len),
            "a message claims a body of {body} bytes at offset {pos}, past the end of the file ({len} bytes)"
        );
        pos += body as u64;
    }
    drop(r);
    f.seek(SeekFrom::Start(0))?;
    Ok(())
}

/// Runs a decoding step of the arrow crates, turning a panic inside them (which a damaged
/// file can still provoke) into an error about the file.
fn guarded<T>(kind: &str, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    // The default hook would print the panic; this one is expected and reported as an
    // error, so the hook is silenced around the call.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    r.unwrap_or_else(|_| {
        Err(anyhow::anyhow!(
            "damaged {kind} data (its buffers are inconsistent)"
        ))
    })
}

/// Batches of an Arrow IPC or Parquet reader, each fully validated (offsets, lengths, UTF-8, child
/// data) before any of it is used, and decoded under [`guarded`].
fn checked(
    kind: &'static str,
    mut r: impl Iterator<Item = Result<RecordBatch, arrow_schema::ArrowError>> + 'static,
) -> impl Iterator<Item = anyhow::Result<RecordBatch>> {
    std::iter::from_fn(move || {
        let next = guarded(kind, || Ok(r.next()));
        match next {
            Err(e) => Some(Err(e)),
            Ok(None) => None,
            Ok(Some(Err(e))) => Some(Err(
                anyhow::Error::new(e).context(format!("damaged {kind} data"))
            )),
            Ok(Some(Ok(b))) => Some(
                b.columns()
                    .iter()
                    .try_for_each(|c| c.to_data().validate_full())
                    .map(|()| b)
                    .with_context(|| format!("damaged {kind} data (validation failed)")),
            ),
        }
    })
}

impl Table {
    /// The next batch of rows.
    pub fn next_batch(&mut self) -> Option<anyhow::Result<RecordBatch>> {
        self.reader.next()
    }
}
