//! Writing segments: an open segment only grows, batch by batch; sealing appends the
//! Arrow IPC footer, after which the file is immutable.

use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use arrow_ipc::writer::{write_message, DictionaryTracker, IpcDataGenerator, IpcWriteOptions};
use arrow_schema::SchemaRef;

use super::batch::{padded, BatchParts, PendingBatch, ALIGNMENT};
use super::format::SegmentFormat;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::index::{FileId, FileKind, FileRecord};

const ARROW_MAGIC: &[u8; 6] = b"ARROW1";

/// A record batch's place in the file, as the Arrow footer lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// Offset of the message (its continuation marker).
    pub offset: u64,
    /// Length of the message prefix and flatbuffer metadata, padded.
    pub meta_len: u32,
    /// Length of the message body.
    pub body_len: u64,
}

impl Block {
    /// End offset of the block.
    pub fn end(&self) -> u64 {
        self.offset + u64::from(self.meta_len) + self.body_len
    }
}

/// Where one row's value bytes were written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredRow {
    /// The value's digest.
    pub digest: Digest,
    /// Absolute offset of the value bytes in the segment file.
    pub offset: u64,
    /// Length of the value bytes.
    pub len: u64,
    /// CRC-32 of the value bytes.
    pub crc: u32,
}

/// The segment currently being appended to.
#[derive(Debug)]
pub struct SegmentWriter {
    id: FileId,
    path: PathBuf,
    file: File,
    format: SegmentFormat,
    schema: SchemaRef,
    header_len: u64,
    blocks: Vec<Block>,
    len: u64,
    crc: crc32fast::Hasher,
    /// Write-back of the appended batches while the writer goes on (see
    /// [`fsutil::Writeback`]); the seal waits for it and fails if it failed.
    writeback: fsutil::Writeback,
}

fn options() -> IpcWriteOptions {
    IpcWriteOptions::default()
}

/// Writes every slice, in as few system calls as the kernel allows.
fn write_all_vectored(file: &mut File, mut slices: &mut [IoSlice<'_>]) -> std::io::Result<()> {
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::WriteZero,
                    "write returned 0",
                ))
            }
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn arrow_err(path: &Path) -> impl Fn(arrow_schema::ArrowError) -> Error + '_ {
    move |e| Error::InvalidArgument(format!("{}: cannot encode Arrow data: {e}", path.display()))
}

impl SegmentWriter {
    /// Creates a new segment file holding only the Arrow header and schema.
    pub fn create(path: &Path, id: FileId, format: SegmentFormat) -> Result<SegmentWriter> {
        let schema = format.arrow_schema();
        let mut header = Vec::with_capacity(512);
        header.extend_from_slice(ARROW_MAGIC);
        header.resize(ALIGNMENT, 0);
        let encoded = IpcDataGenerator::default().schema_to_bytes_with_dictionary_tracker(
            &schema,
            &mut DictionaryTracker::new(false),
            &options(),
        );
        write_message(&mut header, encoded, &options()).map_err(arrow_err(path))?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .ctx("create segment", path)?;
        file.write_all(&header).ctx("write", path)?;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&header);
        Ok(SegmentWriter {
            id,
            path: path.to_path_buf(),
            file,
            format,
            schema,
            header_len: header.len() as u64,
            blocks: Vec::new(),
            len: header.len() as u64,
            crc,
            writeback: fsutil::Writeback::default(),
        })
    }

    /// Reopens an open segment after a restart: the file is cut back to `valid_len` (the
    /// end of the last batch the journal acknowledged; anything after it is a torn,
    /// unacknowledged write) and appending continues. `end_crc`, the CRC-32 of the file
    /// through its last block as the journal recorded it when the block was written,
    /// spares reading the file to compute it (and a file damaged since then then fails
    /// its whole-file checksum once sealed, instead of having the damage checksummed).
    pub fn resume(
        path: &Path,
        id: FileId,
        format: SegmentFormat,
        header_len: u64,
        blocks: Vec<Block>,
        end_crc: Option<u32>,
    ) -> Result<SegmentWriter> {
        let valid_len = blocks.last().map_or(header_len, Block::end);
        let mut file = fsutil::open_no_follow(
            fsutil::no_follow().read(true).write(true),
            "open segment",
            path,
        )?;
        let actual = file.metadata().ctx("stat", path)?.len();
        if actual < valid_len {
            return Err(Error::corrupt(
                path,
                format!("the staging journal records {valid_len} bytes but the file has {actual}"),
            ));
        }
        if actual > valid_len {
            file.set_len(valid_len).ctx("truncate torn tail of", path)?;
        }
        let crc = match end_crc.filter(|_| !blocks.is_empty()) {
            Some(c) => crc32fast::Hasher::new_with_initial_len(c, valid_len),
            None => {
                let mut crc = crc32fast::Hasher::new();
                file.seek(SeekFrom::Start(0)).ctx("seek", path)?;
                let mut reader = (&file).take(valid_len);
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let n = reader.read(&mut buf).ctx("read", path)?;
                    if n == 0 {
                        break;
                    }
                    crc.update(&buf[..n]);
                }
                crc
            }
        };
        file.seek(SeekFrom::Start(valid_len)).ctx("seek", path)?;
        let schema = format.arrow_schema();
        Ok(SegmentWriter {
            id,
            path: path.to_path_buf(),
            file,
            format,
            schema,
            header_len,
            blocks,
            len: valid_len,
            crc,
            writeback: fsutil::Writeback::default(),
        })
    }

    /// The file id.
    pub fn id(&self) -> FileId {
        self.id
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Length of the header (magic and schema message).
    pub fn header_len(&self) -> u64 {
        self.header_len
    }

    /// CRC-32 of the bytes written so far.
    pub fn crc_so_far(&self) -> u32 {
        self.crc.clone().finalize()
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True if no batch has been written.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// The segment's format.
    pub fn format(&self) -> &SegmentFormat {
        &self.format
    }

    /// Appends `batch` as one record batch (a plain `write`, no fsync: durability against
    /// power loss comes with [`SegmentWriter::seal`]). Returns the block and where each
    /// row's bytes are. The batch is left as it was; the caller clears it for reuse.
    pub fn append(&mut self, batch: &PendingBatch) -> Result<(Block, Vec<StoredRow>)> {
        self.append_parts(&batch.parts())
    }

    /// [`SegmentWriter::append`] of borrowed rows (the value bytes go from `batch.data`
    /// to the file with no copy).
    pub fn append_parts(&mut self, batch: &BatchParts<'_>) -> Result<(Block, Vec<StoredRow>)> {
        if batch.format != &self.format {
            return Err(Error::InvalidArgument(format!(
                "{}: a batch of another value format cannot be appended",
                self.path.display()
            )));
        }
        let item_size = match &self.format {
            SegmentFormat::FixedTensor { dtype, .. } | SegmentFormat::VarTensor { dtype, .. } => {
                dtype.size()
            }
            _ => 1,
        };
        let enc = batch.encode().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{}: a segment batch may hold at most 2^31 elements",
                self.path.display()
            ))
        })?;
        let offset = self.len;
        let values_at = offset + enc.header.len() as u64 + enc.values_at;
        if !values_at.is_multiple_of(item_size as u64) {
            return Err(Error::InvalidArgument(format!(
                "{}: value buffer at {values_at} is not aligned to {item_size}",
                self.path.display()
            )));
        }
        static PADDING: [u8; ALIGNMENT] = [0; ALIGNMENT];
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(2 + 2 * enc.buffers.len());
        slices.push(IoSlice::new(&enc.header));
        for b in &enc.buffers {
            if !b.is_empty() {
                b.push_slices(&mut slices);
                let pad = padded(b.len()) - b.len();
                if pad > 0 {
                    slices.push(IoSlice::new(&PADDING[..pad]));
                }
            }
        }
        for s in &slices {
            self.crc.update(s);
        }
        write_all_vectored(&mut self.file, &mut slices).ctx("write", &self.path)?;
        self.writeback.start(&self.path);
        let block = Block {
            offset,
            meta_len: enc.header.len() as u32,
            body_len: enc.body_len as u64,
        };
        self.len = block.end();
        self.blocks.push(block);
        let rows = batch
            .spans()
            .enumerate()
            .map(|(i, (start, len))| StoredRow {
                digest: batch.digest(i),
                offset: values_at + start as u64,
                len: len as u64,
                crc: batch.crcs[i],
            })
            .collect();
        Ok((block, rows))
    }

    /// Reads bytes already written (for staged reads; the open segment is never mapped).
    pub fn read_at(&self, offset: u64, len: u64) -> Result<Vec<u8>> {
        let end = offset
            .checked_add(len)
            .filter(|&e| e <= self.len)
            .ok_or_else(|| {
                Error::corrupt(
                    &self.path,
                    format!("range {offset}+{len} beyond the {} bytes written", self.len),
                )
            })?;
        let n = usize::try_from(end - offset)
            .map_err(|_| Error::corrupt(&self.path, "absurd length"))?;
        let mut buf = vec![0u8; n];
        self.file
            .read_exact_at(&mut buf, offset)
            .ctx("read", &self.path)?;
        Ok(buf)
    }

    /// Writes the end-of-stream marker and the Arrow footer, fsyncs, and returns the
    /// sealed file's record; the file is immutable from then on and this writer must not
    /// be used again. If writing or the fsync fails (disk full, I/O error), the file is
    /// cut back to its unsealed length, so the segment stays open and the seal can be
    /// retried.
    pub fn seal(&mut self) -> Result<FileRecord> {
        let mut tail = Vec::with_capacity(1024);
        tail.extend_from_slice(&0xFFFF_FFFFu32.to_le_bytes());
        tail.extend_from_slice(&0u32.to_le_bytes());
        let mut fbb = flatbuffers::FlatBufferBuilder::new();
        let blocks: Vec<arrow_ipc::Block> = self
            .blocks
            .iter()
            .map(|b| arrow_ipc::Block::new(b.offset as i64, b.meta_len as i32, b.body_len as i64))
            .collect();
        let dictionaries = fbb.create_vector::<arrow_ipc::Block>(&[]);
        let record_batches = fbb.create_vector(&blocks);
        let schema =
            arrow_ipc::convert::IpcSchemaEncoder::new().schema_to_fb_offset(&mut fbb, &self.schema);
        let root = {
            let mut footer = arrow_ipc::FooterBuilder::new(&mut fbb);
            footer.add_version(arrow_ipc::MetadataVersion::V5);
            footer.add_schema(schema);
            footer.add_dictionaries(dictionaries);
            footer.add_recordBatches(record_batches);
            footer.finish()
        };
        fbb.finish(root, None);
        let footer = fbb.finished_data();
        tail.extend_from_slice(footer);
        tail.extend_from_slice(&(footer.len() as i32).to_le_bytes());
        tail.extend_from_slice(ARROW_MAGIC);
        let unsealed = self.len;
        let written = (|| {
            self.writeback
                .finish()
                .ctx("write back (fdatasync)", &self.path)?;
            self.file.write_all(&tail).ctx("write", &self.path)?;
            crate::failpoint::hit("segment.before_seal_fsync")?;
            self.file.sync_all().ctx("fsync", &self.path)
        })();
        if let Err(e) = written {
            let _ = self.file.set_len(unsealed);
            let _ = self.file.seek(SeekFrom::Start(unsealed));
            return Err(e);
        }
        let mut crc = self.crc.clone();
        crc.update(&tail);
        self.len += tail.len() as u64;
        Ok(FileRecord {
            id: self.id,
            kind: FileKind::Segment,
            len: self.len,
            crc: crc.finalize(),
        })
    }
}

/// Checks a sealed segment's structure: magic at both ends, a footer that parses, a
/// schema with the segment format key, and every block inside the file.
pub fn check_sealed_structure(path: &Path, bytes: &[u8]) -> Result<()> {
    checked_footer(path, bytes).map(|_| ())
}

/// A sealed segment's footer, as [`checked_footer`] read and checked it.
pub(super) struct SealedFooter<'a> {
    /// The footer (its record batch blocks lie inside the data).
    pub footer: arrow_ipc::Footer<'a>,
    /// The schema, holding the segment format key.
    pub schema: arrow_schema::Schema,
    /// Where the footer starts: the data ends there.
    pub footer_start: usize,
}

/// [`check_sealed_structure`], returning what it parsed (for readers of the whole file).
pub(super) fn checked_footer<'a>(path: &Path, bytes: &'a [u8]) -> Result<SealedFooter<'a>> {
    let bad = |d: String| Error::corrupt(path, d);
    if bytes.len() < 16 || &bytes[..6] != ARROW_MAGIC || &bytes[bytes.len() - 6..] != ARROW_MAGIC {
        return Err(bad("missing Arrow magic".into()));
    }
    let footer_len = i32::from_le_bytes(
        bytes[bytes.len() - 10..bytes.len() - 6]
            .try_into()
            .expect("4 bytes"),
    );
    let footer_len = usize::try_from(footer_len)
        .map_err(|_| bad(format!("negative footer length {footer_len}")))?;
    let footer_start = bytes
        .len()
        .checked_sub(10 + footer_len)
        .ok_or_else(|| bad(format!("footer length {footer_len} exceeds the file")))?;
    let footer = arrow_ipc::root_as_footer(&bytes[footer_start..bytes.len() - 10])
        .map_err(|e| bad(format!("bad footer: {e}")))?;
    let schema = footer
        .schema()
        .ok_or_else(|| bad("footer has no schema".into()))?;
    let schema = arrow_ipc::convert::try_fb_to_schema(schema)
        .map_err(|e| bad(format!("bad schema: {e}")))?;
    if !schema
        .metadata()
        .contains_key(super::format::SEGMENT_FORMAT_KEY)
    {
        return Err(bad("schema lacks the hangar segment format".into()));
    }
    // The value field's extension metadata must parse (per the canonical spec) and agree
    // with the fixed shape the field's type implies.
    if let Ok(value) = schema.field_with_name("value") {
        let md = value.metadata();
        if md
            .get(super::format::EXTENSION_NAME_KEY)
            .map(String::as_str)
            == Some(super::format::FIXED_SHAPE_TENSOR)
        {
            let json = md
                .get(super::format::EXTENSION_METADATA_KEY)
                .map(String::as_str)
                .unwrap_or("");
            let parsed = super::format::parse_fixed_shape_metadata(json).map_err(|e| {
                bad(format!(
                    "bad arrow.fixed_shape_tensor metadata {json:?}: {e}"
                ))
            })?;
            let elements = super::format::SegmentFormat::fixed_elements(&parsed.shape);
            let list_size = match value.data_type() {
                arrow_schema::DataType::FixedSizeList(_, n) => u64::try_from(*n).ok(),
                _ => None,
            };
            if elements != list_size {
                return Err(bad(format!(
                    "tensor shape {:?} does not match the value type {}",
                    parsed.shape,
                    value.data_type()
                )));
            }
        }
    }
    for b in footer.recordBatches().into_iter().flatten() {
        let end =
            (b.offset() as i128) + i128::from(b.metaDataLength()) + i128::from(b.bodyLength());
        if b.offset() < 0 || end > footer_start as i128 {
            return Err(bad(format!(
                "record batch block at {} lies outside the data",
                b.offset()
            )));
        }
    }
    Ok(SealedFooter {
        footer,
        schema,
        footer_start,
    })
}
