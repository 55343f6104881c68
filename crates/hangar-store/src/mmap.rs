//! The one module of the store that uses `unsafe`: read-only memory maps of sealed files
//! (and of the writer's staging journal), [`BigBytes`], a growable buffer in an anonymous
//! mapping, and [`keep_heap_pad`], a setting of the C allocator for the `hangar` tool.
//!
//! Audit notes. Mapping a file is unsafe because the mapped bytes change (or the process
//! gets SIGBUS) if another process modifies or truncates the file while it is mapped. The
//! store maps only files that its rules make immutable: sealed segments, packs and index
//! runs are written completely, fsynced and renamed (or sealed) before anything refers to
//! them, and are never written again. The writer's open segment is never mapped; it is
//! read with `pread`. Damage by an outside program is detected by the checksums on every
//! read, except truncation of a mapped file, which like in LMDB or any mmap-based store
//! can end the process with SIGBUS.
//!
//! One file that is not immutable is mapped: the staging journal, by [`JournalMap`], in
//! the process holding the writer lock, and in a process without it (a read-only view of
//! the staging area, as `hangar status` takes one) when the journal is longer than 32 MiB
//! (`KEEP_IN_MEMORY` in the journal module; a shorter one is read into memory there).
//! The staged records replayed from it are kept as slices of that map
//! ([`JournalMap::share`]) for as long as the staging area holds them, while the writer
//! appends to the same file. That is safe because the bytes a map covers never change
//! and never go away:
//! - appends land past the map's end (a map covers the length the file had when it was
//!   mapped, and the kernel updates a file's length only after the bytes it covers are
//!   written);
//! - nothing rewrites a byte of the journal in place;
//! - a cut (a torn tail cut at the valid length a replay found, a failed append cut back
//!   to the length before it, a savepoint's roll-back) shortens the file in place only
//!   while it is at most 32 MiB long, which only the writer maps; there a roll-back may
//!   cut below what a writer opened since the savepoint replayed, but the layer above
//!   forgets the staging area built from that replay before the cut and never reads it
//!   again (`Staging::forget_staged` in hangar-core). A longer journal is cut by copying
//!   the bytes kept to a new file renamed over it (`Journal::cut_to`), as a commit,
//!   reset or compaction replaces it, which leaves the mapped old file whole. So a file
//!   longer than 32 MiB, the only kind a reader without the lock maps, never becomes
//!   shorter. The one exception: when that copy fails (a full disk), the writer cuts in
//!   place all the same, since a journal left with a torn frame or a rolled-back change
//!   would lose or corrupt staged data; a reader that mapped the cut bytes at that moment
//!   gets SIGBUS.
//!
//! The kept slices are thus as stable as a sealed file's. (A second writer, after the
//! lock was forced away from a live one, breaks these rules as it breaks the journal's
//! own: the lock may be forced only from a writer that is gone. A reader of this build
//! beside a writer of a build before 2026-12-07, which cut any journal in place, has the
//! same exposure.) An outside program that rewrites or truncates the journal can change a
//! staged record after its checksum was checked, or end a reader with SIGBUS, as it could
//! do to a mapped pack.
//!
//! [`BigBytes`] owns its anonymous mapping alone: nothing else maps it, and growing it
//! (`mremap`, which may move it) takes `&mut self`, so no borrow of its bytes outlives a
//! move.
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Arc;

use arrow_buffer::Buffer;

use crate::error::{Error, IoContext, Result};

/// An immutable file mapped into memory.
///
/// The mapping is held as one Arrow buffer over the whole file, which owns it: every
/// value buffer handed out ([`MappedFile::buffer`]) is a slice of it, so a read allocates
/// nothing, and all the values of one file share one allocation (the C ABI's views count
/// on that to keep one reference per file, not one per read).
pub struct MappedFile {
    whole: Buffer,
    path: PathBuf,
}

/// The path and length only: an Arrow buffer's `Debug` lists every byte it holds.
impl std::fmt::Debug for MappedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedFile")
            .field("path", &self.path)
            .field("len", &self.len())
            .finish()
    }
}

/// The owner of a file's mapping, inside its whole-file buffer (not the [`MappedFile`]
/// or [`JournalMap`] itself, which holds that buffer: that would be a cycle that never
/// unmaps).
struct Mapping {
    _map: memmap2::Mmap,
}

/// `map` as one Arrow buffer that owns it: every slice of it keeps the file mapped.
fn whole_buffer(map: memmap2::Mmap) -> Buffer {
    let ptr = NonNull::from(&map[..]).cast::<u8>();
    let len = map.len();
    let owner: Arc<dyn arrow_buffer::alloc::Allocation> = Arc::new(Mapping { _map: map });
    // SAFETY: `ptr..ptr+len` is the whole mapping, which `owner` keeps mapped for the
    // buffer's (and every slice's) whole life; it is read-only, and its bytes stay as
    // they are (the module notes say why, for each file mapped).
    unsafe { Buffer::from_custom_allocation(ptr, len, owner) }
}

impl MappedFile {
    /// Maps `path` read-only.
    pub fn open(path: &Path) -> Result<Arc<MappedFile>> {
        let file =
            crate::fsutil::open_no_follow(crate::fsutil::no_follow().read(true), "open", path)?;
        let len = file.metadata().ctx("stat", path)?.len();
        let whole = if len == 0 {
            Buffer::from_vec(Vec::<u8>::new())
        } else {
            // SAFETY: see the module notes: only immutable files are mapped, and every
            // read of the mapping is bounds-checked against its length.
            whole_buffer(unsafe { memmap2::Mmap::map(&file) }.ctx("mmap", path)?)
        };
        Ok(Arc::new(MappedFile {
            whole,
            path: path.to_path_buf(),
        }))
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        self.whole.as_slice()
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.bytes().len()
    }

    /// True if the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes at `offset..offset + len`, or `Corrupt` if that lies outside the file.
    pub fn slice(&self, offset: u64, len: u64) -> Result<&[u8]> {
        let bytes = self.bytes();
        let start = usize::try_from(offset).ok();
        let end = start.and_then(|s| s.checked_add(usize::try_from(len).ok()?));
        match (start, end) {
            (Some(s), Some(e)) if e <= bytes.len() => Ok(&bytes[s..e]),
            _ => Err(Error::corrupt(
                &self.path,
                format!(
                    "range {offset}+{len} lies outside the file of {} bytes",
                    bytes.len()
                ),
            )),
        }
    }

    /// A zero-copy Arrow buffer over `offset..offset + len`: a slice of the whole-file
    /// buffer, which keeps the mapping alive for as long as it (or any clone or slice of
    /// it) exists. Its [`Buffer::data_ptr`] is the mapping's start, the same for every
    /// slice of this file.
    pub fn buffer(&self, offset: u64, len: u64) -> Result<Buffer> {
        let slice = self.slice(offset, len)?;
        // `slice` checked that `offset..offset + len` lies in the file, so it fits a usize.
        Ok(self.whole.slice_with_length(offset as usize, slice.len()))
    }
}

/// The staging journal, mapped read-only by the writer holding the lock, or by a reader
/// without it when it is longer than 32 MiB (see the module notes for why that is safe): replayed from the map, and its staged records kept as
/// slices of it ([`JournalMap::share`]) instead of being copied. Reading a journal of a
/// few MB into fresh memory cost more than the replay's decoding: each page of the copy
/// is first zeroed by the kernel; a map of pages the page cache holds already is filled
/// in one call (`MAP_POPULATE`) with no zeroing and no copy. At 10^7 staged samples the
/// copy was 760 MB of fresh memory made while the journal was read, twice, through a
/// buffer.
pub struct JournalMap {
    /// The whole map as one Arrow buffer, which owns it (empty for an empty file).
    whole: Buffer,
}

impl std::fmt::Debug for JournalMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JournalMap({} bytes)", self.bytes().len())
    }
}

impl JournalMap {
    /// Maps the first `len` bytes of `file` (the journal at `path`), every page of it at
    /// once with `populate`. The caller holds the writer lock, or `len` is more than
    /// 32 MiB (the module notes say why either makes it safe).
    pub(crate) fn map(
        file: &std::fs::File,
        len: usize,
        path: &Path,
        populate: bool,
    ) -> Result<JournalMap> {
        if len == 0 {
            return Ok(JournalMap {
                whole: Buffer::from_vec(Vec::<u8>::new()),
            });
        }
        let mut options = memmap2::MmapOptions::new();
        options.len(len);
        if populate {
            options.populate();
        }
        // SAFETY: see the module notes: no byte of the `len` mapped changes or goes away
        // while the map lives (the writer lock's holder maps its journal; a reader
        // without it maps only a journal longer than 32 MiB, which is never cut in
        // place); every read of the map is bounds-checked against its length.
        let map = unsafe { options.map(file) }.ctx("mmap", path)?;
        Ok(JournalMap {
            whole: whole_buffer(map),
        })
    }

    /// The mapped bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.whole.as_slice()
    }

    /// `part` (bytes of this map, as a replayed frame passes them on) as a buffer that
    /// keeps the map alive, with no copy; `None` if `part` does not lie in the map.
    pub fn share(&self, part: &[u8]) -> Option<Buffer> {
        let whole = &self.whole;
        let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
        (start.checked_add(part.len())? <= whole.len())
            .then(|| whole.slice_with_length(start, part.len()))
    }
}

/// Has the C allocator keep 64 MiB spare at the top of its heap (glibc's `M_TOP_PAD`)
/// instead of giving freed memory back to the system and asking for it again at the next
/// batch. For a program to call once at its start (the `hangar` tool), not for the
/// library: the setting is the whole process's.
///
/// Measured (2026-12-07, this 2-core Firecracker VM, where memory given back costs a
/// host fault per page when it is touched again): `hangar import` of 10^7 × u8[64] from
/// one .npy took 2.06–2.52 s by default and 0.61–1.20 s with the pad (9 runs each way,
/// peak RSS 64 MB either way); a commit of it was unchanged (1.95–2.17 s against
/// 2.02–2.12 s). Elsewhere than glibc this does nothing.
pub fn keep_heap_pad() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` sets one of the allocator's tunable numbers; it takes any value
    // and touches no memory of the caller's.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}

/// Past this size a [`BigBytes`] lives in its own mapping (a huge page's size).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
const BIG: usize = 2 << 20;

/// How many bytes of [`BigBytes`] mappings in this process may ask for transparent huge
/// pages at once (64 MiB); a buffer that would pass it is filled in 4 KiB pages.
///
/// Why a budget: a huge page pays where the kernel has one at hand, as it does after a
/// process has just freed some, and that is the case for the buffers the seed workload
/// fills (tens of megabytes). Hundreds of megabytes are mostly memory the system has not
/// used for a while, and on a VM whose host takes freed memory back (free page reporting:
/// this machine, a Firecracker VM) every huge page of it must be supplied by the host
/// again. Measured here (2026-12-07, 800 MB first-touched, `memset`): 0.44–0.53 GB/s in
/// huge pages, 1.4–2.6 GB/s in 4 KiB pages (14 GB/s in huge pages just freed); `hangar
/// commit` over a staged import of 10M × u8[64] took 3.7–4.3 s with every buffer advised
/// and 2.2–2.7 s without, and `hangar status` over it 2.2–2.5 s against 0.7 s.
#[cfg(target_os = "linux")]
const HUGE_BUDGET: usize = 64 << 20;

/// The bytes of [`BigBytes`] mappings advised to use huge pages now, in this process.
#[cfg(target_os = "linux")]
static HUGE_IN_USE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Moves a mapping counted as `old` bytes in `in_use` (0: not counted) to `cap` bytes if
/// that keeps `in_use` within `budget`, or else out of the count; returns the bytes it is
/// now counted as (`cap` or 0).
#[cfg(target_os = "linux")]
fn recount_huge(
    in_use: &std::sync::atomic::AtomicUsize,
    budget: usize,
    old: usize,
    cap: usize,
) -> usize {
    use std::sync::atomic::Ordering::Relaxed;
    let grown = in_use.fetch_update(Relaxed, Relaxed, |used| {
        let now = used - old + cap;
        (now <= budget).then_some(now)
    });
    if grown.is_ok() {
        cap
    } else {
        in_use.fetch_sub(old, Relaxed);
        0
    }
}

/// A growable byte buffer for the largest in-memory structures (the runs of a staging
/// overlay: tens to hundreds of megabytes filled in order). Small, it is a `Vec`; past
/// 2 MiB it moves to an anonymous mapping and grows by `mremap` (its pages move, nothing
/// is copied). While the process's mappings stay within [`HUGE_BUDGET`] they are advised
/// to use transparent huge pages, so that filling one costs one page fault per 2 MiB
/// instead of one per 4 KiB (page faults were ~40% of opening a writer over a staged
/// import of 1M samples); past it a buffer is filled in 4 KiB pages. Where the system has
/// no transparent huge pages the advice is ignored; on other systems than Linux it stays
/// a `Vec`.
#[derive(Default)]
pub struct BigBytes {
    small: Vec<u8>,
    #[cfg(target_os = "linux")]
    big: Option<(memmap2::MmapMut, usize)>,
    /// The bytes of the mapping counted in [`HUGE_IN_USE`] (its capacity, or 0 when it
    /// is not advised to use huge pages).
    #[cfg(target_os = "linux")]
    huge: usize,
}

impl BigBytes {
    /// An empty buffer.
    pub fn new() -> BigBytes {
        BigBytes::default()
    }

    /// An empty buffer with room for `n` bytes.
    pub fn with_capacity(n: usize) -> BigBytes {
        let mut b = BigBytes::new();
        b.reserve(n);
        b
    }

    /// The bytes held.
    pub fn as_slice(&self) -> &[u8] {
        #[cfg(target_os = "linux")]
        if let Some((map, len)) = &self.big {
            return &map[..*len];
        }
        &self.small
    }

    /// How many bytes fit before it grows.
    pub fn capacity(&self) -> usize {
        #[cfg(target_os = "linux")]
        if let Some((map, _)) = &self.big {
            return map.len();
        }
        self.small.capacity()
    }

    /// Room for `more` bytes past the ones held, growing by doubling.
    pub fn reserve(&mut self, more: usize) {
        let len = self.len();
        let need = len
            .checked_add(more)
            .expect("a buffer under usize::MAX bytes");
        if need <= self.capacity() {
            return;
        }
        #[cfg(target_os = "linux")]
        if need > BIG {
            let cap = need.max(2 * self.capacity()).next_multiple_of(BIG);
            self.grow_mapped(cap);
            return;
        }
        self.small.reserve(more);
    }

    #[cfg(target_os = "linux")]
    fn grow_mapped(&mut self, cap: usize) {
        use memmap2::{Advice, MmapMut, RemapOptions};
        let oom = |_: std::io::Error| -> ! {
            // As a `Vec` that cannot grow: the allocation failure ends the process.
            let layout = std::alloc::Layout::from_size_align(cap, 1).expect("a valid layout");
            std::alloc::handle_alloc_error(layout)
        };
        match &mut self.big {
            Some((map, _)) => {
                // SAFETY: the mapping is anonymous and owned by `self` alone (module
                // notes); `&mut self` means no borrow of its bytes is alive while it moves.
                unsafe { map.remap(cap, RemapOptions::new().may_move(true)) }
                    .unwrap_or_else(|e| oom(e));
            }
            None => {
                let mut map = MmapMut::map_anon(cap).unwrap_or_else(|e| oom(e));
                map[..self.small.len()].copy_from_slice(&self.small);
                self.big = Some((map, self.small.len()));
                self.small = Vec::new();
            }
        }
        let huge = self.count_huge(cap);
        if let Some((map, _)) = &self.big {
            // Hints: without transparent huge pages they fail and change nothing. Pages
            // already faulted in stay as they are.
            if huge {
                let _ = map.advise(Advice::HugePage);
            } else {
                let _ = map.advise(Advice::NoHugePage);
            }
        }
    }

    /// Counts this mapping, now `cap` bytes, in [`HUGE_IN_USE`] if the budget has room;
    /// otherwise stops counting it. Returns whether it is counted.
    #[cfg(target_os = "linux")]
    fn count_huge(&mut self, cap: usize) -> bool {
        self.huge = recount_huge(&HUGE_IN_USE, HUGE_BUDGET, self.huge, cap);
        self.huge != 0
    }

    /// Appends `bytes`.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.reserve(bytes.len());
        #[cfg(target_os = "linux")]
        if let Some((map, len)) = &mut self.big {
            map[*len..*len + bytes.len()].copy_from_slice(bytes);
            *len += bytes.len();
            return;
        }
        self.small.extend_from_slice(bytes);
    }

    /// Appends `n` copies of `byte`.
    pub fn extend_with(&mut self, n: usize, byte: u8) {
        self.reserve(n);
        #[cfg(target_os = "linux")]
        if let Some((map, len)) = &mut self.big {
            map[*len..*len + n].fill(byte);
            *len += n;
            return;
        }
        self.small.resize(self.small.len() + n, byte);
    }

    /// Appends at most `n` bytes read from `reader` (fewer where it ends), straight into
    /// the buffer; returns how many.
    pub fn read_from(&mut self, reader: &mut impl std::io::Read, n: usize) -> std::io::Result<usize> {
        self.reserve(n);
        #[cfg(target_os = "linux")]
        if let Some((map, len)) = &mut self.big {
            let mut got = 0;
            while got < n {
                match reader.read(&mut map[*len + got..*len + n]) {
                    Ok(0) => break,
                    Ok(k) => got += k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            *len += got;
            return Ok(got);
        }
        std::io::Read::read_to_end(&mut std::io::Read::take(reader, n as u64), &mut self.small)
    }

    /// Appends one byte.
    pub fn push(&mut self, byte: u8) {
        self.extend_with(1, byte);
    }

    /// Empties the buffer and keeps its memory (a mapping stays mapped, its pages
    /// faulted in already): for a buffer refilled over and over.
    pub fn clear(&mut self) {
        #[cfg(target_os = "linux")]
        if let Some((_, len)) = &mut self.big {
            *len = 0;
            return;
        }
        self.small.clear();
    }

    /// The bytes held, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        #[cfg(target_os = "linux")]
        if let Some((map, len)) = &mut self.big {
            return &mut map[..*len];
        }
        &mut self.small
    }
}

impl std::ops::Deref for BigBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

#[cfg(target_os = "linux")]
impl Drop for BigBytes {
    fn drop(&mut self) {
        HUGE_IN_USE.fetch_sub(self.huge, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Clone for BigBytes {
    fn clone(&self) -> BigBytes {
        let mut b = BigBytes::with_capacity(self.len());
        b.extend_from_slice(self);
        b
    }
}

impl std::fmt::Debug for BigBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BigBytes({} bytes)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_of_a_mapped_file_are_slices_of_one_mapping_that_outlives_the_file_handle() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sealed");
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 253) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let map = MappedFile::open(&path).unwrap();
        let a = map.buffer(10, 100).unwrap();
        let b = map.buffer(5_000, 4_000).unwrap();
        assert!(a.as_slice() == &bytes[10..110] && b.as_slice() == &bytes[5_000..9_000]);
        // One allocation: the mapping's start, whatever the slice.
        assert_eq!(a.data_ptr(), b.data_ptr());
        assert_eq!(a.data_ptr().as_ptr().cast_const(), map.bytes().as_ptr());
        assert!(map.buffer(9_990, 11).is_err() && map.buffer(u64::MAX, 1).is_err());
        assert!(map.buffer(10_000, 0).unwrap().is_empty());
        // Debug names the file, not its bytes.
        let debug = format!("{map:?}");
        assert!(debug.contains("sealed") && debug.contains("len: 10000") && debug.len() < 200);
        // The buffers keep the mapping after the file handle and the file are gone.
        drop(map);
        std::fs::remove_file(&path).unwrap();
        assert!(a.as_slice() == &bytes[10..110] && b.as_slice() == &bytes[5_000..9_000]);
        // An empty file maps to an empty buffer.
        std::fs::write(&path, b"").unwrap();
        let empty = MappedFile::open(&path).unwrap();
        assert!(empty.is_empty() && empty.buffer(0, 0).unwrap().is_empty());
        assert!(empty.buffer(0, 1).is_err());
    }

    #[test]
    fn big_bytes_grow_past_a_mapping_and_keep_their_bytes() {
        let mut b = BigBytes::new();
        let mut want = Vec::new();
        let mut i = 0u32;
        // From a Vec, into a mapping, through several remaps.
        while want.len() < 9 * BIG + 12_345 {
            let chunk: Vec<u8> = (0..(1000 + i as usize * 37 % 70_000))
                .map(|j| (i as usize + j) as u8)
                .collect();
            b.extend_from_slice(&chunk);
            want.extend_from_slice(&chunk);
            if i.is_multiple_of(7) {
                b.extend_with(3, 0xab);
                want.extend_from_slice(&[0xab; 3]);
            }
            i += 1;
        }
        b.push(1);
        want.push(1);
        assert_eq!(b.len(), want.len());
        assert!(b.as_slice() == want.as_slice());
        assert!(b.capacity() >= b.len() && b.capacity() <= 2 * b.len() + BIG);
        let c = b.clone();
        drop(b);
        assert!(c.as_slice() == want.as_slice());
        assert_eq!(format!("{c:?}"), format!("BigBytes({} bytes)", want.len()));
        let mut small = BigBytes::with_capacity(10);
        small.extend_from_slice(b"abc");
        assert_eq!(&small[..], b"abc");
        small.as_mut_slice()[1] = b'x';
        assert_eq!(&small[..], b"axc");
        small.clear();
        assert!(small.is_empty());
        // A cleared mapping keeps its memory and is refilled from the start.
        let mut c = c;
        let cap = c.capacity();
        c.clear();
        assert_eq!((c.len(), c.capacity()), (0, cap));
        c.extend_from_slice(&want[..BIG + 5]);
        c.as_mut_slice()[BIG] ^= 0xff;
        assert_eq!(c.len(), BIG + 5);
        assert!(c[..BIG] == want[..BIG] && c[BIG] == want[BIG] ^ 0xff);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn huge_pages_are_asked_for_only_within_the_budget() {
        use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
        let in_use = AtomicUsize::new(0);
        let budget = 64;
        // Counted while the total stays within the budget, growing included.
        assert_eq!(recount_huge(&in_use, budget, 0, 16), 16);
        assert_eq!(recount_huge(&in_use, budget, 0, 32), 32);
        assert_eq!(in_use.load(Relaxed), 48);
        assert_eq!(recount_huge(&in_use, budget, 16, 32), 32);
        assert_eq!(in_use.load(Relaxed), 64);
        // Past it a new mapping is not counted, and a counted one that grows past it
        // leaves the count.
        assert_eq!(recount_huge(&in_use, budget, 0, 2), 0);
        assert_eq!(recount_huge(&in_use, budget, 32, 40), 0);
        assert_eq!(in_use.load(Relaxed), 32);
        // Which makes room again.
        assert_eq!(recount_huge(&in_use, budget, 0, 32), 32);
        assert_eq!(in_use.load(Relaxed), 64);

        // A buffer's own count: its capacity or nothing, never past the process's budget,
        // and its bytes survive leaving the count.
        let mut small = BigBytes::with_capacity(4 << 20);
        assert!(small.huge == 0 || small.huge == small.capacity());
        small.extend_from_slice(b"kept");
        small.reserve(HUGE_BUDGET);
        assert_eq!((small.huge, &small[..]), (0, &b"kept"[..]));
        assert_eq!(BigBytes::with_capacity(HUGE_BUDGET + 1).huge, 0);
        assert!(HUGE_IN_USE.load(Relaxed) <= HUGE_BUDGET);
    }

    #[test]
    fn big_bytes_read_at_most_what_is_asked_and_stop_where_the_reader_ends() {
        // A reader that hands out at most 1000 bytes a call (as a pipe or socket may).
        struct Trickle<'a>(&'a [u8]);
        impl std::io::Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                let n = out.len().min(self.0.len()).min(1000);
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let data: Vec<u8> = (0..3 * BIG + 77).map(|i| (i % 253) as u8).collect();
        for prefix in [0usize, 5, BIG + 3] {
            let mut b = BigBytes::new();
            b.extend_with(prefix, 9);
            // Asked for less than the reader holds: exactly that much.
            let got = b.read_from(&mut Trickle(&data), 2 * BIG + 1).unwrap();
            assert_eq!(got, 2 * BIG + 1);
            assert_eq!(&b[prefix..], &data[..2 * BIG + 1]);
            // Asked for more than it holds: what it holds.
            let mut c = BigBytes::new();
            c.extend_with(prefix, 9);
            assert_eq!(c.read_from(&mut Trickle(&data[..300]), 5000).unwrap(), 300);
            assert_eq!(c.len(), prefix + 300);
            assert_eq!(&c[prefix..], &data[..300]);
        }
    }

    #[test]
    fn slices_and_buffers_are_bounds_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello world").unwrap();
        let m = MappedFile::open(&p).unwrap();
        assert_eq!(m.slice(6, 5).unwrap(), b"world");
        assert!(m.slice(6, 6).is_err());
        assert!(m.slice(u64::MAX, 2).is_err());
        let b = m.buffer(0, 5).unwrap();
        drop(m);
        assert_eq!(b.as_slice(), b"hello");
        let empty = dir.path().join("e");
        std::fs::write(&empty, b"").unwrap();
        let m = MappedFile::open(&empty).unwrap();
        assert!(m.is_empty());
        assert_eq!(m.buffer(0, 0).unwrap().len(), 0);
    }
}
