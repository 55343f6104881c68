//! One index run file: its layout (a header, sorted 64-byte entries, a trailer with the
//! files it covers), opening and checking it, binary search by digest, and writing one.

use super::*;

/// One mapped run file.
#[derive(Debug, Clone)]
pub(super) struct Run {
    pub(super) lo: u32,
    pub(super) hi: u32,
    pub(super) map: Arc<MappedFile>,
    pub(super) entries_at: usize,
    pub(super) count: usize,
    pub(super) files: Vec<FileRecord>,
    /// Written by gc ([`GC_RUN_VERSION`]): it replaced the runs it covers and left out
    /// their unreachable entries.
    pub(super) gc: bool,
}

impl Run {
    pub(super) fn open(path: &Path, lo: u32, hi: u32) -> Result<Run> {
        let map = MappedFile::open(path)?;
        let bad = |d: String| Error::corrupt(path, d);
        let bytes = map.bytes();
        if bytes.len() < 12 || &bytes[..8] != RUN_MAGIC {
            return Err(bad("not an index run (bad magic)".into()));
        }
        let header_len = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize;
        if header_len < 16 || header_len > bytes.len() {
            return Err(bad(format!("absurd header length {header_len}")));
        }
        let header = &bytes[..header_len];
        let (body, crc) = header.split_at(header_len - 4);
        if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
            return Err(bad("header checksum mismatch".into()));
        }
        let mut d = Decoder::new(&body[12..]);
        let parsed = (|| {
            let version = d.u32()?;
            let (rlo, rhi) = (d.u32()?, d.u32()?);
            let count = d.u64()?;
            let nfiles = d.count(17)?;
            let mut files = Vec::with_capacity(nfiles);
            for _ in 0..nfiles {
                let id = d.u32()?;
                let kind = d.u8()?;
                let len = d.u64()?;
                let crc = d.u32()?;
                files.push((id, kind, len, crc));
            }
            d.finish()?;
            Ok::<_, crate::codec::DecodeError>((version, rlo, rhi, count, files))
        })()
        .map_err(|e| bad(format!("bad header: {e}")))?;
        let (version, rlo, rhi, count, raw_files) = parsed;
        if version != RUN_VERSION && version != GC_RUN_VERSION {
            return Err(Error::Unsupported(format!(
                "{}: index run version {version} is not supported by this build",
                path.display()
            )));
        }
        if (rlo, rhi) != (lo, hi) {
            return Err(bad(format!(
                "header says runs {rlo}-{rhi}, name says {lo}-{hi}"
            )));
        }
        let expected = (count as u128) * ENTRY_SIZE as u128 + header_len as u128;
        if expected != bytes.len() as u128 {
            return Err(bad(format!(
                "{count} entries need {expected} bytes but the file has {}",
                bytes.len()
            )));
        }
        let mut files = Vec::with_capacity(raw_files.len());
        for (id, kind, len, crc) in raw_files {
            let kind = FileKind::from_code(kind)
                .ok_or_else(|| bad(format!("unknown file kind {kind}")))?;
            files.push(FileRecord { id, kind, len, crc });
        }
        Ok(Run {
            lo,
            hi,
            map,
            entries_at: header_len,
            count: count as usize,
            files,
            gc: version == GC_RUN_VERSION,
        })
    }

    pub(super) fn raw(&self, i: usize) -> &[u8] {
        let at = self.entries_at + i * ENTRY_SIZE;
        &self.map.bytes()[at..at + ENTRY_SIZE]
    }

    pub(super) fn entry(&self, i: usize) -> Result<IndexEntry> {
        IndexEntry::decode(self.raw(i))
            .map_err(|e| Error::corrupt(self.map.path(), format!("entry {i}: {e}")))
    }

    /// Entry `i`, or `None` past the last.
    pub(super) fn entry_at(&self, i: usize) -> Result<Option<IndexEntry>> {
        (i < self.count).then(|| self.entry(i)).transpose()
    }

    pub(super) fn prefix_at(&self, i: usize) -> u64 {
        u64::from_be_bytes(self.raw(i)[..8].try_into().expect("8 bytes"))
    }

    /// True if the digest at `i` sorts before `key` (whose first 8 bytes are `target`).
    pub(super) fn less_at(&self, i: usize, key: &[u8], target: u64) -> bool {
        match self.prefix_at(i).cmp(&target) {
            std::cmp::Ordering::Equal => self.raw(i)[8..32] < key[8..32],
            o => o == std::cmp::Ordering::Less,
        }
    }

    /// First position whose digest is >= `key` (by the raw digest bytes). Digests are
    /// uniformly distributed, so an interpolation search on their first 8 bytes finds the
    /// spot in a few probes; it falls back to bisection on a narrow or skewed range, and
    /// a damaged entry can only cost probes, never a wrong answer (the final comparison
    /// is on the full digest).
    pub(super) fn lower_bound(&self, key: &[u8]) -> usize {
        let target = u64::from_be_bytes(key[..8].try_into().expect("digest keys"));
        let (mut lo, mut hi) = (0usize, self.count);
        if hi == 0 {
            return 0;
        }
        // Invariants: entries before `lo` sort before `key`, entries from `hi` on do not;
        // `lv`/`hv` bound the prefixes in `lo..hi` (read once, then carried from probes,
        // so each probe costs one memory access).
        let (mut lv, mut hv) = (self.prefix_at(0), self.prefix_at(hi - 1));
        let mut probes = 0;
        while hi - lo > 16 && probes < 6 {
            probes += 1;
            if target < lv {
                return lo;
            }
            if target > hv {
                return hi;
            }
            if lv >= hv {
                break; // a run of equal prefixes: bisect on the full digests
            }
            let guess =
                lo + (((target - lv) as u128 * (hi - 1 - lo) as u128) / (hv - lv) as u128) as usize;
            let guess = guess.clamp(lo, hi - 1);
            let gv = self.prefix_at(guess);
            if self.less_at(guess, key, target) {
                lo = guess + 1;
                lv = gv;
            } else {
                hi = guess + 1;
                hv = gv;
                if guess == lo {
                    return guess;
                }
                // `guess` does not sort before `key`: the answer is in lo..=guess.
                hi -= 1;
                if !self.less_at(hi - 1, key, target) {
                    continue;
                }
                return hi;
            }
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.less_at(mid, key, target) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    pub(super) fn lookup(&self, d: &Digest) -> Result<Option<IndexEntry>> {
        self.find(d).map(|i| self.entry(i)).transpose()
    }

    /// The row holding `d`, if any.
    pub(super) fn find(&self, d: &Digest) -> Option<usize> {
        let i = self.lower_bound(&d.0);
        (i < self.count && self.raw(i)[..32] == d.0).then_some(i)
    }
}

pub(super) fn run_name(lo: u32, hi: u32) -> String {
    format!("{lo:08x}-{hi:08x}.run")
}

pub(super) fn parse_run_name(name: &str) -> Option<(u32, u32)> {
    let stem = name.strip_suffix(".run")?;
    let (a, b) = stem.split_once('-')?;
    if a.len() != 8 || b.len() != 8 {
        return None;
    }
    let (lo, hi) = (
        u32::from_str_radix(a, 16).ok()?,
        u32::from_str_radix(b, 16).ok()?,
    );
    (lo <= hi).then_some((lo, hi))
}

/// Lists run names, dropping runs that a wider run covers (leftovers of a merge).
/// A run's sequence range.
pub(super) type RunRange = (u32, u32);

pub(super) fn list_runs(dir: &Path) -> Result<(Vec<RunRange>, Vec<RunRange>)> {
    let mut all = Vec::new();
    for entry in fs::read_dir(dir).ctx("list", dir)? {
        let entry = entry.ctx("list", dir)?;
        if let Some(r) = parse_run_name(&entry.file_name().to_string_lossy()) {
            all.push(r);
        }
    }
    all.sort();
    let mut live = Vec::new();
    let mut covered = Vec::new();
    for &(lo, hi) in &all {
        let is_covered = all
            .iter()
            .any(|&(l2, h2)| (l2, h2) != (lo, hi) && l2 <= lo && hi <= h2);
        if is_covered {
            covered.push((lo, hi));
        } else {
            live.push((lo, hi));
        }
    }
    Ok((live, covered))
}

/// Writes a run of [`RUN_VERSION`] holding `entries` (sorted, each digest once): the
/// tests' way to lay out runs by hand.
#[cfg(test)]
pub(super) fn write_run(
    dir: &Path,
    lo: u32,
    hi: u32,
    entries: &[IndexEntry],
    files: &[FileRecord],
) -> Result<()> {
    write_run_version(dir, RUN_VERSION, (lo, hi), entries, files)
}

/// Writes a run of `version` ([`RUN_VERSION`], or [`GC_RUN_VERSION`] for gc's run).
pub(super) fn write_run_version(
    dir: &Path,
    version: u32,
    range: RunRange,
    entries: &[IndexEntry],
    files: &[FileRecord],
) -> Result<()> {
    let mut next = 0usize;
    write_run_stream(dir, version, range, files, |out| {
        let slice = &entries[next..(next + out.len() / ENTRY_SIZE).min(entries.len())];
        next += slice.len();
        encode_entries(out, slice);
        Ok(slice.len())
    })
}

/// Encodes `entries` into the front of `out` (on the pool).
pub(super) fn encode_entries(out: &mut [u8], entries: &[IndexEntry]) {
    crate::par::install(|| {
        out[..entries.len() * ENTRY_SIZE]
            .par_chunks_mut(ENTRY_SIZE)
            .zip(entries)
            .for_each(|(out, e)| out.copy_from_slice(&e.encode()))
    });
}

/// The header of a run of `count` entries. Its length does not depend on `count`.
fn run_header(version: u32, (lo, hi): RunRange, count: u64, files: &[FileRecord]) -> Vec<u8> {
    let mut h = Encoder::new();
    h.raw(RUN_MAGIC).u32(0);
    h.u32(version).u32(lo).u32(hi).u64(count);
    let unique: BTreeSet<(u32, u8, u64, u32)> = files
        .iter()
        .map(|f| (f.id, f.kind as u8, f.len, f.crc))
        .collect();
    h.varint(unique.len() as u64);
    for (id, kind, len, crc) in unique {
        h.u32(id).u8(kind).u64(len).u32(crc);
    }
    let mut header = h.finish();
    let header_len = (header.len() + 4) as u32;
    header[8..12].copy_from_slice(&header_len.to_le_bytes());
    let crc = crc32fast::hash(&header);
    header.extend_from_slice(&crc.to_le_bytes());
    header
}

/// Entries encoded and written per call of a run writer's `fill`.
pub(super) const WRITE_SLICE: usize = 8192;

/// Writes a run whose entries, sorted by digest and each digest once, come from `fill`:
/// each call encodes the next entries into the front of its buffer (room for
/// [`WRITE_SLICE`] of them) and returns how many, 0 once there are no more. The entries
/// are written a slice at a time through one reused buffer, so a run of millions of
/// entries is never held in memory (its entries, or their bytes): a merge streams its
/// two runs into the new one, a commit encodes from what it staged. The header, whose
/// entry count is known only at the end, is written again then (the file is a
/// temporary one until it is installed, fsynced, under its name).
pub(super) fn write_run_stream(
    dir: &Path,
    version: u32,
    range: RunRange,
    files: &[FileRecord],
    mut fill: impl FnMut(&mut [u8]) -> Result<usize>,
) -> Result<()> {
    let target = dir.join(run_name(range.0, range.1));
    let tmp = fsutil::temp_path_for(&target);
    let file = fsutil::create_temp(&tmp)?;
    let mut buf = vec![0u8; WRITE_SLICE * ENTRY_SIZE];
    let written = (|| -> Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::FileExt as _;
        let io = |e| Error::io("write", &tmp, e);
        let mut w = &file;
        w.write_all(&run_header(version, range, 0, files)).map_err(io)?;
        let mut count = 0u64;
        loop {
            let n = fill(&mut buf)?;
            if n == 0 {
                break;
            }
            w.write_all(&buf[..n * ENTRY_SIZE]).map_err(io)?;
            count += n as u64;
        }
        file.write_all_at(&run_header(version, range, count, files), 0)
            .map_err(io)
    })();
    if let Err(e) = written {
        drop(file);
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fsutil::install_temp(file, &tmp, &target)
}
