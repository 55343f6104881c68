//! The commit step that seals a compressed column's staging segments as Parquet
//! (docs/format.md, "Compressed segments").

use super::*;
use super::commit::{live_block_rows, liveness, Liveness};
use crate::segment::parquet::ParquetSegmentWriter;

/// A staging segment a commit wrote again as a Parquet segment.
pub(super) struct Converted {
    /// The staging segment (retired with the commit).
    pub old: FileId,
    /// The Parquet segment (`None`: no live value was left in the staging segment).
    pub record: Option<FileRecord>,
    /// Where each live value went (`offset` = its row).
    pub rows: Vec<StoredRow>,
}

impl StoreWriter {
    /// Writes the live rows of every sealed, not yet indexed staging segment of a
    /// compressed column to a new Parquet segment (its id reserved in the journal first,
    /// so a crash leaves a file the next writer open deletes). The writer's own state is
    /// left as it was: the commit uses the result for its index run and retires the old
    /// segments only if it gets that far (a failure before its commit point leaves
    /// staging as it was, and the Parquet files reserved garbage).
    pub(super) fn write_parquet_segments(&mut self) -> Result<Vec<Converted>> {
        let indexed: HashSet<FileId> = self.store.index()?.files().iter().map(|f| f.id).collect();
        let todo: Vec<usize> = self
            .staging_files()
            .filter(|(_, f)| {
                f.compression.is_compressed() && f.sealed.is_some() && !indexed.contains(&f.id)
            })
            .map(|(i, _)| i)
            .collect();
        let dir = self.store.dir().to_path_buf();
        let mut out = Vec::new();
        for i in todo {
            let Liveness {
                live_rows: live,
                live_bytes,
                ..
            } = liveness(&self.staged, &Rows::new(&self.files, &self.slots), i);
            let old = self.files[i].id;
            if live == 0 {
                out.push(Converted {
                    old,
                    record: None,
                    rows: Vec::new(),
                });
                continue;
            }
            let id = self.reserve_file(FileKind::Parquet)?;
            let f = &self.files[i];
            let path = segment_path(&dir, f.id);
            let map = crate::mmap::MappedFile::open(&path)?;
            let mut w = ParquetSegmentWriter::create(
                &parquet_path(&dir, id),
                id,
                f.format.clone(),
                f.compression,
                live_bytes / live,
            )?;
            let all = Rows::new(&self.files, &self.slots);
            for (block, rows, first) in f.block_rows() {
                let live = live_block_rows(&path, &map, &f.format, block, rows, (i, first), &self.staged, &all)?;
                for (r, shape, bytes) in live {
                    w.push(r.digest, r.crc, &shape, bytes)?;
                }
            }
            let (record, rows) = w.finish()?;
            out.push(Converted {
                old,
                record: Some(record),
                rows,
            });
        }
        if out.iter().any(|c| c.record.is_some()) {
            fsutil::fsync_dir(&dir.join(SEGMENTS_DIR))?;
        }
        Ok(out)
    }
}
