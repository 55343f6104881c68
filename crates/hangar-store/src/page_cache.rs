//! The decoded blocks of Parquet segments a store keeps, within a memory budget.
//!
//! Reading a value of a compressed column decodes the block (one data page) holding it;
//! the block stays cached so that its neighbours, and the next read of the same value,
//! decode nothing. When the blocks held pass the budget the least recently used quarter
//! is dropped (a block a caller still holds a value of stays alive through that value's
//! buffer, outside the budget). The budget is [`DEFAULT_BUDGET`] unless the environment
//! variable [`BUDGET_ENV`] gives a number of MiB or the caller sets one
//! (`Store::set_page_cache_budget`); 0 caches nothing.

use std::collections::HashMap;
use std::sync::Arc;

use crate::index::FileId;
use crate::segment::parquet::{DecodedBlock, ParquetSegment};

/// Default budget of decoded blocks per open repository: 256 MiB.
pub const DEFAULT_BUDGET: usize = 256 << 20;
/// Environment variable giving the budget in MiB.
pub const BUDGET_ENV: &str = "HANGAR_PAGE_CACHE_MB";

/// The cache (behind the store's mutex).
pub struct PageCache {
    budget: usize,
    used: usize,
    tick: u64,
    segments: HashMap<FileId, Arc<ParquetSegment>>,
    blocks: HashMap<(FileId, u64), (Arc<DecodedBlock>, u64)>,
}

/// Sizes and counts, not the decoded values.
impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCache")
            .field("budget", &self.budget)
            .field("used", &self.used)
            .field("segments", &self.segments.len())
            .field("blocks", &self.blocks.len())
            .finish()
    }
}

impl Default for PageCache {
    fn default() -> Self {
        let budget = std::env::var(BUDGET_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .map_or(DEFAULT_BUDGET, |mib| mib.saturating_mul(1 << 20));
        PageCache {
            budget,
            used: 0,
            tick: 0,
            segments: HashMap::new(),
            blocks: HashMap::new(),
        }
    }
}

impl PageCache {
    /// The budget in bytes.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Bytes of decoded blocks held.
    pub fn used(&self) -> usize {
        self.used
    }

    /// Sets the budget, dropping blocks until it holds.
    pub fn set_budget(&mut self, bytes: usize) {
        self.budget = bytes;
        self.evict();
    }

    /// The open segment `id`, if opened before.
    pub fn segment(&self, id: FileId) -> Option<Arc<ParquetSegment>> {
        self.segments.get(&id).cloned()
    }

    /// Keeps an opened segment.
    pub fn keep_segment(&mut self, id: FileId, seg: Arc<ParquetSegment>) {
        self.segments.insert(id, seg);
    }

    /// The cached block of `id` starting at `first`.
    pub fn block(&mut self, id: FileId, first: u64) -> Option<Arc<DecodedBlock>> {
        self.tick += 1;
        let tick = self.tick;
        self.blocks.get_mut(&(id, first)).map(|(b, t)| {
            *t = tick;
            b.clone()
        })
    }

    /// Keeps a decoded block (unless it alone exceeds the budget).
    pub fn keep_block(&mut self, id: FileId, first: u64, block: Arc<DecodedBlock>) {
        if block.bytes() > self.budget {
            return;
        }
        self.tick += 1;
        self.used += block.bytes();
        if let Some((old, _)) = self.blocks.insert((id, first), (block, self.tick)) {
            self.used -= old.bytes();
        }
        self.evict();
    }

    /// Forgets everything of files gc deleted (their ids may be allocated again).
    pub fn forget(&mut self, ids: &[FileId]) {
        for id in ids {
            self.segments.remove(id);
        }
        let before = self.blocks.len();
        self.blocks.retain(|(f, _), _| !ids.contains(f));
        if self.blocks.len() != before {
            self.used = self.blocks.values().map(|(b, _)| b.bytes()).sum();
        }
    }

    /// Drops the least recently used quarter of the blocks while over budget.
    fn evict(&mut self) {
        while self.used > self.budget && !self.blocks.is_empty() {
            let mut ticks: Vec<u64> = self.blocks.values().map(|(_, t)| *t).collect();
            let cut = (ticks.len() / 4).min(ticks.len() - 1);
            let (_, &mut threshold, _) = ticks.select_nth_unstable(cut);
            let mut freed = 0;
            self.blocks.retain(|_, (b, t)| {
                let keep = *t > threshold;
                if !keep {
                    freed += b.bytes();
                }
                keep
            });
            self.used -= freed;
        }
    }
}
