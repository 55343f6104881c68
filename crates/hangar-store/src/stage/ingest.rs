//! Storing values and objects received from elsewhere (a remote) beside the staging
//! area, without touching it: new sealed segments, one pack and one index run.

use super::*;

/// A value received from elsewhere, with the digest its sender named it by.
#[derive(Debug, Clone, Copy)]
pub struct ForeignValue<'a> {
    /// The value, described as for [`StoreWriter::put_value`].
    pub input: ValueInput<'a>,
    /// The digest it must hash to.
    pub digest: Digest,
    /// Its CRC-32, when the caller already computed it from these bytes (a fetch checks
    /// each value against the CRC its remote lists); `None` to compute it here.
    pub crc: Option<u32>,
}

/// What [`StoreWriter::ingest`] stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestStats {
    /// Values new to the store (the rest were already stored or staged).
    pub values: usize,
    /// Bytes of those values.
    pub value_bytes: u64,
    /// Objects new to the store.
    pub objects: usize,
    /// Files written (segments and packs).
    pub files: usize,
}

impl StoreWriter {
    /// Stores `values` and `objects` received from elsewhere (a remote), leaving the
    /// staging area as it is: every value's digest and every object's digest is
    /// recomputed first and a mismatch refused as `Corrupt` before anything is written;
    /// what the store already holds (or has staged) is skipped. The rest goes into new
    /// sealed segments (one per format) and one pack, fsynced, and becomes visible in one
    /// index run — the step that makes it stored. Every file id is reserved in the
    /// journal before its file is created, so a crash before the run leaves files the
    /// next writer open deletes (they were never referenced), and a crash after it
    /// leaves them indexed.
    pub fn ingest(
        &mut self,
        values: &[ForeignValue<'_>],
        objects: Vec<Object>,
    ) -> Result<IngestStats> {
        self.writable()?;
        // Every digest, on every core, before anything is written: runs of values with
        // one header (a fixed-shape column's) a piece at a time through `digest_many`,
        // which hashes several small values of one length side by side.
        let got: Vec<Digest> = {
            use rayon::prelude::*;
            let mut pieces: Vec<&[ForeignValue<'_>]> = Vec::new();
            let mut start = 0;
            for i in 1..=values.len() {
                if i == values.len()
                    || i - start == crate::HASH_PIECE
                    || values[i].input.header != values[start].input.header
                {
                    pieces.push(&values[start..i]);
                    start = i;
                }
            }
            let hashed: Vec<Vec<Digest>> = crate::par::install(|| {
                pieces
                    .par_iter()
                    .map(|piece| {
                        let mut out = Vec::with_capacity(piece.len());
                        piece[0]
                            .input
                            .header
                            .digest_many(piece.iter().map(|v| v.input.bytes), &mut out);
                        out
                    })
                    .collect()
            });
            hashed.concat()
        };
        for (v, got) in values.iter().zip(got) {
            if got != v.digest {
                return Err(Error::corrupt(
                    "(received value)",
                    format!(
                        "a value sent as {} hashes to {}: it was damaged on the way or at \
                         its source; nothing was stored",
                        v.digest.short(),
                        got.short()
                    ),
                ));
            }
        }
        for o in &objects {
            if Digest::of_object(o.type_code, &o.bytes) != o.digest {
                return Err(Error::corrupt(
                    "(received object)",
                    format!(
                        "an object sent as {} does not hash to that digest: it was damaged \
                         on the way or at its source; nothing was stored",
                        o.digest.short()
                    ),
                ));
            }
        }
        let mut stats = IngestStats::default();
        // New values, grouped by format, first-seen order.
        let mut groups: Vec<(SegmentFormat, Vec<&ForeignValue<'_>>)> = Vec::new();
        let mut seen = DigestSet::default();
        for v in values {
            if !seen.insert(v.digest) || self.contains_value(&v.digest)? {
                continue;
            }
            match groups.iter_mut().find(|(f, _)| f == v.input.format) {
                Some((_, g)) => g.push(v),
                None => groups.push((v.input.format.clone(), vec![v])),
            }
        }
        let dir = self.store.dir().to_path_buf();
        let mut entries = Vec::new();
        let mut files = Vec::new();
        for (format, group) in groups {
            let id = self.reserve_file(FileKind::Segment)?;
            let mut w = SegmentWriter::create(&segment_path(&dir, id), id, format.clone())?;
            // Each batch goes to the file straight from the received buffers (writev of
            // the values' own slices; nothing is copied together first).
            let rank = match &format {
                SegmentFormat::VarTensor { rank, .. } => usize::from(*rank),
                _ => 0,
            };
            let mut start = 0;
            while start < group.len() {
                let (mut end, mut bytes) = (start, 0usize);
                while end < group.len() && end - start < FLUSH_ROWS && bytes < FLUSH_BYTES {
                    bytes += group[end].input.bytes.len();
                    end += 1;
                }
                let rows = &group[start..end];
                let mut digests = Vec::with_capacity(rows.len() * 32);
                let mut crcs = Vec::with_capacity(rows.len());
                let mut ends = Vec::with_capacity(rows.len());
                let mut shapes = Vec::with_capacity(rows.len() * rank);
                let mut pieces: Vec<&[u8]> = Vec::with_capacity(rows.len());
                let mut at = 0;
                for v in rows {
                    digests.extend_from_slice(&v.digest.0);
                    crcs.push(v.crc.unwrap_or_else(|| crc32(v.input.bytes)));
                    at += v.input.bytes.len();
                    ends.push(at);
                    for i in 0..rank {
                        let d = v.input.shape.get(i).copied().unwrap_or(0);
                        shapes.push(i32::try_from(d).unwrap_or(i32::MAX));
                    }
                    pieces.push(v.input.bytes);
                }
                stats.value_bytes += at as u64;
                let parts = BatchParts {
                    format: &format,
                    digests: &digests,
                    crcs: &crcs,
                    data: ValueData::Pieces(&pieces),
                    ends: &ends,
                    shapes: &shapes,
                };
                append_parts(&mut w, &parts, id, &mut entries)?;
                start = end;
            }
            stats.values += group.len();
            files.push(w.seal()?);
            failpoint::hit("ingest.after_segment")?;
        }
        if !files.is_empty() {
            fsutil::fsync_dir(&dir.join(SEGMENTS_DIR))?;
        }
        let spool = PackSpool::with_objects(self.store.clone(), objects);
        if !spool.is_empty() {
            let id = self.reserve_file(FileKind::Pack)?;
            stats.objects = spool.len();
            let (record, pack_entries) = spool.finish(&pack_path(&dir, id), id)?;
            files.push(record);
            entries.extend(pack_entries);
        }
        stats.files = files.len();
        if !entries.is_empty() {
            failpoint::hit("ingest.before_index_run")?;
            self.store.index_mut()?.publish(entries, files)?;
        }
        Ok(stats)
    }
}

/// Appends `batch` to segment `w` (id `id`), recording an index entry per row.
pub(super) fn append_rows(
    w: &mut SegmentWriter,
    batch: &PendingBatch,
    id: FileId,
    entries: &mut Vec<IndexEntry>,
) -> Result<()> {
    append_parts(w, &batch.parts(), id, entries)
}

/// [`append_rows`] of borrowed rows.
fn append_parts(
    w: &mut SegmentWriter,
    batch: &BatchParts<'_>,
    id: FileId,
    entries: &mut Vec<IndexEntry>,
) -> Result<()> {
    let (_, rows) = w.append_parts(batch)?;
    entries.extend(rows.iter().map(|r| IndexEntry {
        digest: r.digest,
        kind: EntryKind::Value,
        loc: Location {
            file: id,
            offset: r.offset,
            len: r.len,
            crc: r.crc,
        },
    }));
    Ok(())
}
