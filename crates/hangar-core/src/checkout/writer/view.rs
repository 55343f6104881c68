//! The writer's in-memory view of the staging area and its journal: staging a change
//! (applied to the view, then journalled), rebuilding a deferred view from the journal,
//! compacting the journal, and returning both to a savepoint.

use super::*;

impl WriterState {
    /// Applies a change whose preconditions hold, then journals it. A failure to
    /// journal leaves memory ahead of disk, so the checkout is closed: reopening replays
    /// exactly what was acknowledged.
    pub(super) fn stage(&mut self, change: Change) -> Result<()> {
        // A change too large for one journal frame (a put of tens of millions of
        // samples) is journalled as parts that stand or fall together.
        let encoded = change.encode_parts(RECORD_PART_BYTES);
        // A put under a deferred view goes to the journal only; its preconditions (the
        // column exists, the values are stored) hold, and applying it could fail only
        // where it normalizes against the base.
        let journal_only = self.view_deferred && matches!(change, Change::Put { .. });
        if journal_only {
            self.view_stale = true;
        } else if let Err(e) = self.staging.apply(&self.shared, change) {
            // A put's values are stored before its records are staged.
            self.staging.mark_values_maybe_dead();
            return Err(e);
        }
        let result = self.sw().and_then(|sw| {
            sw.record_group(&encoded)?;
            Ok(sw.sync_point()?)
        });
        if let Err(e) = result {
            self.staging.mark_values_maybe_dead();
            self.poison(&e);
            return Err(e);
        }
        self.maybe_compact()
    }

    /// Rebuilds a stale view of the staging area (puts staged while it was deferred)
    /// from the journal, as a writer that opens does: everything buffered is written
    /// out, the store writer is reopened over the journal and replays it; puts are
    /// applied to the view again from then on. A failure closes the checkout (a new
    /// writer replays what the journal acknowledged).
    pub(super) fn catch_up(&mut self) -> Result<()> {
        if !self.view_stale {
            return Ok(());
        }
        self.check_open()?;
        let buffered = self.sw()?.is_buffered();
        if let Err(e) = self.sw()?.flush() {
            self.poison(&e);
            return Err(e.into());
        }
        self.reload(
            "this writer checkout failed while rebuilding its view of the staging area from \
             the journal; open a new writer checkout: every change acknowledged is kept",
            |old| Ok(Some(old.epoch())),
        )?;
        if buffered {
            self.sw()?.set_buffered(true)?;
        }
        self.view_stale = false;
        self.view_deferred = false;
        Ok(())
    }

    /// Closes the checkout after a failed journal write (memory is ahead of disk). Under a
    /// savepoint the store writer and the lock are kept: the savepoint's owner rolls the
    /// staging area back to it and reopens (see [`WriterCheckout::all_or_nothing`]).
    pub(super) fn poison(&mut self, e: &dyn std::error::Error) {
        let why = format!(
            "this writer checkout stopped after failing to write its staging journal ({e}); open a new writer \
             checkout: every change acknowledged before the failure is kept"
        );
        let mode = std::mem::replace(&mut self.mode, Mode::Closed { why: String::new() });
        self.mode = match mode {
            Mode::Open { sw, lock } | Mode::Failed { sw, lock, .. } if self.savepoints > 0 => {
                Mode::Failed { why, sw, lock }
            }
            _ => Mode::Closed { why },
        };
    }

    pub(super) fn maybe_compact(&mut self) -> Result<()> {
        let sw = self.sw_ref()?;
        // A stale view is not what the journal holds: compaction waits for its rebuild.
        if self.view_stale
            || sw.is_buffered()
            || self.savepoints > 0
            || sw.journal_len() < self.compact_at
        {
            return Ok(());
        }
        let records = journal_records(&self.staging);
        let sw = self.sw()?;
        sw.compact(&records)?;
        let len = sw.journal_len();
        self.compact_at = self.compact_at.max(2 * len);
        Ok(())
    }

    /// Returns the staging area to `sp` (see [`WriterCheckout::all_or_nothing`]).
    pub(super) fn rollback(&mut self, sp: &hangar_store::Savepoint) -> Result<()> {
        self.deferred.clear();
        // The view is rebuilt from the journal cut back to `sp` below; what it holds now
        // may lie past `sp` in the mapped journal, and is not to be read after the cut.
        self.view_stale = false;
        self.staging.forget_staged();
        self.reload(
            "this writer checkout failed while returning to a savepoint; open a new writer \
             checkout: every change acknowledged before the savepoint is kept",
            |sw| {
                sw.rollback(sp)?;
                Ok(None)
            },
        )
    }

    /// Replaces the store writer and the view with ones loaded afresh from the journal,
    /// as a writer that opens loads them, once `finish` has done what it must with the
    /// current writer (it returns the journal epoch the new one continues, if any).
    /// Meanwhile, and after a failure, the checkout is closed with `why`.
    fn reload(
        &mut self,
        why: &str,
        finish: impl FnOnce(StoreWriter) -> Result<Option<hangar_store::JournalEpoch>>,
    ) -> Result<()> {
        let interrupted = Mode::Closed { why: why.into() };
        let (old, lock) = match std::mem::replace(&mut self.mode, interrupted) {
            Mode::Open { sw, lock } | Mode::Failed { sw, lock, .. } => (sw, lock),
            Mode::Closed { why } => {
                self.mode = Mode::Closed { why: why.clone() };
                return Err(Error::Closed(why));
            }
        };
        let epoch = finish(old)?;
        let (mut sw, staging) = load_staging(&self.shared, false, true)?;
        if let Some(epoch) = epoch {
            sw.continue_from(epoch);
        }
        self.mode = Mode::Open { sw, lock };
        self.staging = staging;
        Ok(())
    }
}
