//! Streaming reads: a repository opened through a remote keeps the history and record
//! tables locally and fetches each value the first time a reader asks for it (one range
//! request, checked by CRC and digest), keeping it in a bounded in-memory cache.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use arrow_buffer::Buffer;
use hangar_store::{Digest, DigestMap, ValueHeader};

use super::conn::Conn;
use super::local;
use super::wire::{Bundle, Loc};
use super::RemoteSpec;
use crate::error::{Error, Result};
use crate::repo::Repository;

/// The default bound of the value cache of [`Repository::open_remote`]: 1 GiB.
pub const DEFAULT_CACHE_BYTES: u64 = 1 << 30;

/// Figures of a repository opened with [`Repository::open_remote`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Value reads served from the cache.
    pub hits: u64,
    /// Value reads that fetched the value from the remote.
    pub misses: u64,
    /// Bytes received from the remote for those.
    pub bytes_fetched: u64,
    /// Bytes the cache holds now (at most its bound).
    pub cached_bytes: u64,
}

/// The cached values, least recently used evicted first. Each use stamps a value with
/// the next tick of `clock` and queues (digest, stamp); eviction pops the queue and
/// skips entries whose stamp is no longer the value's (used again since). The queue is
/// compacted when stale entries outnumber live ones.
#[derive(Default)]
struct Lru {
    map: DigestMap<(Buffer, u64)>,
    order: VecDeque<(Digest, u64)>,
    bytes: u64,
    clock: u64,
}

impl Lru {
    /// The value `d`, marked as used now.
    fn hit(&mut self, d: &Digest) -> Option<Buffer> {
        self.clock += 1;
        let now = self.clock;
        let (b, stamp) = self.map.get_mut(d)?;
        *stamp = now;
        let b = b.clone();
        self.order.push_back((*d, now));
        if self.order.len() > 2 * self.map.len() + 64 {
            let map = &self.map;
            self.order
                .retain(|(d, s)| map.get(d).is_some_and(|(_, stamp)| stamp == s));
        }
        Some(b)
    }

    /// Caches `b` as `d`, evicting the least recently used values to stay within
    /// `budget` bytes (a value larger than the budget is not cached).
    fn admit(&mut self, d: Digest, b: &Buffer, budget: u64) {
        let len = b.len() as u64;
        if len > budget || self.map.contains_key(&d) {
            return;
        }
        while self.bytes + len > budget {
            let Some((old, s)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&old).is_some_and(|(_, stamp)| *stamp == s) {
                if let Some((gone, _)) = self.map.remove(&old) {
                    self.bytes -= gone.len() as u64;
                }
            }
        }
        self.clock += 1;
        self.bytes += len;
        self.order.push_back((d, self.clock));
        self.map.insert(d, (b.clone(), self.clock));
    }
}

/// The on-demand value source of a repository opened through a remote.
pub(crate) struct OnDemand {
    conn: Conn,
    at: DigestMap<(Bundle, Loc)>,
    cache: Mutex<Lru>,
    budget: u64,
    hits: AtomicU64,
    misses: AtomicU64,
    fetched: AtomicU64,
}

impl std::fmt::Debug for OnDemand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OnDemand({}, {} values)", self.conn.url, self.at.len())
    }
}

impl OnDemand {
    /// The value `digest` (whose canonical header is `header`): from the cache, or
    /// fetched and checked. `None` if no manifest of the remote lists it.
    pub fn get(&self, digest: &Digest, header: ValueHeader<'_>) -> Result<Option<Buffer>> {
        {
            let mut c = self.cache.lock().map_err(|_| crate::shared::poisoned())?;
            if let Some(b) = c.hit(digest) {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(Some(b));
            }
        }
        let Some((bundle, loc)) = self.at.get(digest).copied() else {
            return Ok(None);
        };
        let key = bundle.key();
        let got = self
            .conn
            .get_ranges_exact(
                &key,
                std::slice::from_ref(&(loc.offset..loc.offset + loc.len)),
            )?
            .remove(0);
        self.admit(digest, header, &key, &loc, &got).map(Some)
    }

    /// Fetches the values of `wanted` that are neither cached nor unknown to the remote,
    /// all at once (`RANGE_REQUESTS` in flight; one value's latency instead of one per
    /// value), checks each, and caches them (within the bound: with more than it holds,
    /// the last ones evict the first). Returns how many were fetched.
    pub fn prefetch(&self, wanted: &[(Digest, crate::verify::OwnedHeader)]) -> Result<usize> {
        let todo: Vec<(&Digest, &crate::verify::OwnedHeader, String, Loc)> = {
            let c = self.cache.lock().map_err(|_| crate::shared::poisoned())?;
            let mut seen = hangar_store::DigestSet::default();
            wanted
                .iter()
                .filter(|(d, _)| !c.map.contains_key(d) && seen.insert(*d))
                .filter_map(|(d, h)| self.at.get(d).map(|(b, l)| (d, h, b.key(), *l)))
                .collect()
        };
        let wants: Vec<(&str, std::ops::Range<u64>)> = todo
            .iter()
            .map(|(_, _, key, loc)| (key.as_str(), loc.offset..loc.offset + loc.len))
            .collect();
        let got = self.conn.get_object_ranges(&wants)?;
        for ((d, h, key, loc), b) in todo.iter().zip(&got) {
            self.admit(d, h.as_header(), key, loc, b)?;
        }
        Ok(todo.len())
    }

    /// Checks a value received for `digest` (length, CRC, digest) and caches it.
    fn admit(
        &self,
        digest: &Digest,
        header: ValueHeader<'_>,
        key: &str,
        loc: &Loc,
        got: &[u8],
    ) -> Result<Buffer> {
        self.misses.fetch_add(1, Ordering::Relaxed);
        self.fetched.fetch_add(got.len() as u64, Ordering::Relaxed);
        if got.len() as u64 != loc.len
            || hangar_store::crc32(got) != loc.crc
            || header.digest(got) != *digest
        {
            return Err(Error::Remote(format!(
                "remote {}: value {} in {key} is damaged (its CRC or digest does not match); \
                 nothing was cached",
                self.conn.url,
                digest.short()
            )));
        }
        let buf = crate::checkout::owned_copy(got);
        self.cache
            .lock()
            .map_err(|_| crate::shared::poisoned())?
            .admit(*digest, &buf, self.budget);
        Ok(buf)
    }

    fn stats(&self) -> Result<StreamStats> {
        Ok(StreamStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            bytes_fetched: self.fetched.load(Ordering::Relaxed),
            cached_bytes: self
                .cache
                .lock()
                .map_err(|_| crate::shared::poisoned())?
                .bytes,
        })
    }
}

impl Repository {
    /// Opens the repository at a remote for reading without cloning its data: its
    /// history and record tables are fetched into `dir` (a clone without data the first
    /// time, a fetch and fast-forward after), and reader checkouts fetch each value the
    /// first time it is read — one range request, checked by CRC and digest — keeping up
    /// to `cache_bytes` of values in memory (least recently used dropped first). A
    /// training job on another machine thus reads exactly the samples it touches.
    /// `spec.name` names the remote in `dir`.
    pub fn open_remote(
        dir: impl AsRef<std::path::Path>,
        spec: &RemoteSpec,
        cache_bytes: u64,
    ) -> Result<Repository> {
        let dir = dir.as_ref();
        let spec = &spec.resolved()?;
        let repo = if dir.join(crate::repo::HANGAR_DIR).exists() {
            let repo = Repository::open(dir)?;
            match repo.remote(&spec.name) {
                Ok(r) if r.url == spec.url => {}
                Ok(r) => {
                    return Err(Error::AlreadyExists(format!(
                        "{} reads remote {:?} from {}, not {}; give another directory",
                        dir.display(),
                        spec.name,
                        r.url,
                        spec.url
                    )))
                }
                Err(_) => repo.add_remote(spec)?,
            }
            repo.fetch(&spec.name, None)?;
            if let Ok(head) = repo.resolve(&format!("{}/master", spec.name)) {
                if repo.branch_head("master")? != Some(head) {
                    repo.merge("", "master", &head.to_hex())?;
                }
            }
            repo
        } else {
            Repository::clone_from(dir, spec, "hangar reader", "reader@localhost", None, false)?.0
        };
        repo.attach_on_demand(spec, cache_bytes)?;
        Ok(repo)
    }

    /// Opens `dir`, which [`Repository::open_remote`] made, reading values through its
    /// remote `remote` as that does, without fetching or writing anything: for the
    /// worker processes of a job whose main process called `open_remote` (its
    /// dataloader workers), each with its own cache of `cache_bytes`.
    pub fn open_remote_cache(
        dir: impl AsRef<std::path::Path>,
        remote: &str,
        cache_bytes: u64,
    ) -> Result<Repository> {
        let repo = Repository::open(dir)?;
        let spec = repo.remote(remote)?;
        repo.attach_on_demand(&spec, cache_bytes)?;
        Ok(repo)
    }

    fn attach_on_demand(&self, spec: &RemoteSpec, cache_bytes: u64) -> Result<()> {
        let repo = self;
        let mut at = DigestMap::default();
        for (_, m) in local::load_manifests(repo.hangar_dir())? {
            for (d, loc) in &m.values {
                at.insert(*d, (m.bundles[loc.bundle as usize], *loc));
            }
        }
        let on_demand = OnDemand {
            conn: Conn::open(spec)?,
            at,
            cache: Mutex::default(),
            budget: cache_bytes,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            fetched: AtomicU64::new(0),
        };
        repo.shared().set_on_demand(std::sync::Arc::new(on_demand));
        Ok(())
    }

    /// The streaming figures of a repository opened with [`Repository::open_remote`]
    /// (`None` for one opened otherwise).
    pub fn stream_stats(&self) -> Result<Option<StreamStats>> {
        self.shared().on_demand().map(|o| o.stats()).transpose()
    }
}
