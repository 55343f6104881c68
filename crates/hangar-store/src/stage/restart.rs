//! Starting the staging area over: reset (discard everything staged), compaction of the
//! journal, and savepoints with rollback (an all-or-nothing group of changes).

use super::*;

impl StoreWriter {
    /// Discards everything staged: a new journal based on `new_base` replaces the old one,
    /// then the segments written only for the discarded changes are deleted. Segments an
    /// index run refers to (left by a commit that was interrupted after publishing its
    /// index run) are kept. The new journal reserves the ids of the files it is about to
    /// delete, so a crash before they are gone leaves them provably garbage.
    pub fn reset(&mut self, new_base: &[u8]) -> Result<usize> {
        self.writable()?;
        let dir = self.store.dir().to_path_buf();
        let (seq, doomed) = {
            let index = self.store.index()?;
            // The staging area's own segments, and files reserved for it that were never
            // recorded (an interrupted write's), unless a published index run lists them.
            let doomed: Vec<(FileId, FileKind)> = self
                .staging_files()
                .map(|(_, f)| f.id)
                .chain(self.retired.iter().copied())
                .map(|id| (id, FileKind::Segment))
                .chain(self.reserved.iter().copied())
                .filter(|(id, _)| !index.has_file(*id))
                .collect();
            (index.high_seq(), doomed)
        };
        let journal_path = dir.join(STAGING_DIR).join(JOURNAL);
        let frames = journal_start(new_base, seq, &doomed);
        let mut removed = 0;
        if let Err(e) = Journal::create(&journal_path, &frames) {
            if !e.is_storage_full() {
                return Err(e);
            }
            // A full disk: free the staging area's own files first, then write the new
            // journal. Dying in between leaves the old journal naming segments that are
            // gone: damaged staging, which `reset` (discard_damaged) clears.
            for slot in &mut self.slots {
                slot.open = None;
            }
            removed = remove_files(&dir, doomed.iter().copied())?;
            if let Err(e) = Journal::create(&journal_path, &frames) {
                return Err(match e {
                    Error::Io { path, source, .. } => Error::Io {
                        op: "the staged segments were deleted to free space, but could not \
                             write the new staging journal (free some space and reset again; \
                             every commit is intact)",
                        path,
                        source,
                    },
                    e => e,
                });
            }
        }
        for slot in &mut self.slots {
            slot.open = None;
        }
        removed += remove_files(&dir, doomed.iter().copied())?;
        self.restart(new_base)?;
        self.retired.clear();
        self.reserved = doomed;
        Ok(removed)
    }

    /// Rewrites the journal compactly: the base, the store's live frames (no payloads:
    /// everything is flushed first) and `records`, a snapshot of the layer above.
    pub fn compact(&mut self, records: &[Vec<u8>]) -> Result<()> {
        self.writable()?;
        self.flush()?;
        let seq = self.store.index()?.high_seq();
        let created: HashSet<FileId> = self.staging_files().map(|(_, f)| f.id).collect();
        let unrecorded: Vec<(FileId, FileKind)> = self
            .reserved
            .iter()
            .filter(|(id, _)| !created.contains(id))
            .copied()
            .chain(self.retired.iter().map(|id| (*id, FileKind::Segment)))
            .collect();
        let mut frames = journal_start(&self.base, seq, &unrecorded);
        for (_, f) in self.staging_files() {
            push_segment_created(&mut frames, f.id, f.header_len, &f.format, f.compression);
            for (i, (block, rows, _)) in f.block_rows().enumerate() {
                let last = i + 1 == f.blocks.len();
                push_batch_stored(&mut frames, f.id, block, rows, f.end_crc.filter(|_| last));
            }
            if let Some(rec) = &f.sealed {
                push_segment_sealed(&mut frames, rec);
            }
        }
        for r in records {
            push_frame(&mut frames, frame::RECORD, r);
        }
        let path = self.store.dir().join(STAGING_DIR).join(JOURNAL);
        Journal::create(&path, &frames)?;
        let (journal, _) = Journal::open(&path)?;
        self.journal = journal;
        self.compactions += 1;
        Ok(())
    }

    /// Moves the staging area, everything staged with it, onto `new_base` — for the
    /// layer above, the same commit under another branch name (`git checkout -b`): the
    /// journal is rewritten compactly as [`StoreWriter::compact`] does, with the new
    /// base, in one atomic replace, so a crash leaves either the old base or the new one,
    /// each with every staged change. `records` is the layer above's snapshot.
    pub fn rebase_staged(&mut self, new_base: &[u8], records: &[Vec<u8>]) -> Result<()> {
        let old = std::mem::replace(&mut self.base, new_base.to_vec());
        let done = self.compact(records);
        if done.is_err() {
            self.base = old;
        }
        done
    }

    /// Writes everything buffered and marks the state of the staging area now: values,
    /// segments and the layer above's records. [`StoreWriter::rollback`] returns to it
    /// exactly, as long as no commit, reset or journal compaction came in between.
    pub fn savepoint(&mut self) -> Result<Savepoint> {
        self.writable()?;
        self.flush()?;
        Ok(Savepoint {
            journal_len: self.journal.len(),
            next_file: self.next_file,
            base: self.base.clone(),
            compactions: self.compactions,
        })
    }

    /// Where this writer's journal stands in its rewrites, for [`StoreWriter::continue_from`].
    pub fn epoch(&self) -> JournalEpoch {
        JournalEpoch {
            compactions: self.compactions,
        }
    }

    /// Makes this writer, opened (in the same process) over the journal that a writer
    /// at `epoch` flushed and then dropped, its continuation: a savepoint taken from
    /// that writer stays valid for this one.
    pub fn continue_from(&mut self, epoch: JournalEpoch) {
        self.compactions = epoch.compactions;
    }

    /// Returns the staging area to `sp`: the journal is cut back to it and the files
    /// created since are deleted (an open segment written to since is cut back when the
    /// writer reopens: the journal no longer acknowledges what came after). Consumes the
    /// writer, discarding whatever it still buffers; open a new one with
    /// [`StoreWriter::open`] to continue. Call only while holding the writer lock.
    pub fn rollback(mut self, sp: &Savepoint) -> Result<()> {
        if sp.base != self.base || sp.compactions != self.compactions {
            return Err(Error::InvalidArgument(
                "cannot roll the staging area back: a commit, reset or journal compaction \
                 came after the savepoint"
                    .into(),
            ));
        }
        self.slots.clear();
        self.out.clear();
        self.seg_out.clear();
        self.journal.truncate(sp.journal_len)?;
        self.journal.sync()?;
        let dir = self.store.dir().to_path_buf();
        let index = self.store.index()?;
        let since: Vec<(FileId, FileKind)> = self
            .staging_files()
            .map(|(_, f)| (f.id, FileKind::Segment))
            .chain(self.reserved.iter().copied())
            .filter(|(id, _)| *id >= sp.next_file && !index.has_file(*id))
            .collect();
        drop(index);
        remove_files(&dir, since)?;
        Ok(())
    }
}

/// How often a staging journal has been rewritten (see [`StoreWriter::epoch`]).
#[derive(Debug, Clone, Copy)]
pub struct JournalEpoch {
    compactions: u64,
}
