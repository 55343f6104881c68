//! State shared by a repository and its checkouts: paths, the store, decoded-node cache.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arrow_buffer::Buffer;
use hangar_store::{Digest, DigestMap, Store};

use crate::error::{Error, Result};
use crate::objects::{CommitObject, ObjectType, Root};
use crate::schema::ColumnSchema;
use crate::tree::{Node, NodeSource};

/// Decoded nodes kept in memory, by total encoded size.
const NODE_CACHE_BYTES: usize = 128 << 20;

#[derive(Default)]
struct NodeCache {
    nodes: DigestMap<Arc<Node>>,
    bytes: usize,
}

/// Counts, not the nodes (a repository's Debug would list every cached record).
impl std::fmt::Debug for NodeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCache")
            .field("nodes", &self.nodes.len())
            .field("bytes", &self.bytes)
            .finish()
    }
}

/// Shared, thread-safe repository state.
#[derive(Debug)]
pub(crate) struct Shared {
    pub root: PathBuf,
    pub hangar: PathBuf,
    pub store: Arc<Store>,
    cache: Mutex<NodeCache>,
    /// The values remotes hold that are not fetched here (loaded on first miss).
    promised: Mutex<Arc<crate::remote::Promised>>,
    /// Where values missing here are read from, for a repository opened through a
    /// remote (`Repository::open_remote`).
    on_demand: std::sync::OnceLock<Arc<crate::remote::OnDemand>>,
    /// Open reader checkouts and staged views of this handle ([`OpenReader`]).
    open_readers: std::sync::atomic::AtomicUsize,
}

/// Counts one open reader of this repository handle for as long as it lives, so that gc
/// run through the same handle leaves the files it may read in place (readers of other
/// handles and processes are seen by the store's `open.lock`).
#[derive(Debug)]
pub(crate) struct OpenReader(Arc<Shared>);

impl OpenReader {
    pub fn new(shared: &Arc<Shared>) -> OpenReader {
        shared
            .open_readers
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        OpenReader(shared.clone())
    }
}

impl Drop for OpenReader {
    fn drop(&mut self) {
        self.0
            .open_readers
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Shared {
    pub fn new(root: PathBuf, hangar: PathBuf, store: Arc<Store>) -> Shared {
        Shared {
            root,
            hangar,
            store,
            cache: Mutex::new(NodeCache::default()),
            promised: Mutex::default(),
            on_demand: std::sync::OnceLock::new(),
            open_readers: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// True while a reader checkout or staged view of this handle is open.
    pub fn readers_open(&self) -> bool {
        self.open_readers.load(std::sync::atomic::Ordering::SeqCst) > 0
    }

    /// Reads values missing here through `o` from now on.
    pub fn set_on_demand(&self, o: Arc<crate::remote::OnDemand>) {
        let _ = self.on_demand.set(o);
    }

    /// The on-demand value source, if the repository was opened through a remote.
    pub fn on_demand(&self) -> Option<&Arc<crate::remote::OnDemand>> {
        self.on_demand.get()
    }

    /// True if a remote holds `digest` and it was not fetched here: a read of it is
    /// `NotFetched`, not corruption.
    pub fn is_promised(&self, digest: &Digest) -> bool {
        let p = match self.promised.lock() {
            Ok(p) => p.clone(),
            Err(_) => return false,
        };
        p.contains(&self.hangar, digest)
    }

    /// Drops the loaded promises (after a fetch saved new manifests).
    pub fn forget_promised(&self) {
        if let Ok(mut p) = self.promised.lock() {
            *p = Arc::default();
        }
    }

    /// The error for a value that is not stored here: `NotFetched` (naming the command
    /// that fetches it) if a remote holds it, otherwise `Corrupt` in `dir`.
    pub fn missing_value(
        &self,
        digest: &Digest,
        what: &str,
        dir: impl AsRef<std::path::Path>,
        corrupt: &str,
    ) -> Error {
        if self.is_promised(digest) {
            return Error::NotFetched(format!(
                "{what}: value {} is on a remote and not fetched yet; run `hangar fetch-data <remote> <commit>` (with --column/--keys to fetch only it), \
                 or clone with --data",
                digest.short()
            ));
        }
        Error::corrupt(
            dir,
            format!("{what}: value {} is {corrupt}", digest.short()),
        )
    }

    /// An object of type `ty`; a missing or mistyped object is `Corrupt`.
    pub fn object(&self, d: &Digest, ty: ObjectType, what: &str) -> Result<Buffer> {
        let mut found = self.store.read_object(d)?;
        if found.is_none() {
            // Another writer (process, or repository handle) may have committed since this
            // handle listed the index: objects are stored before any ref names them, so
            // one refresh makes every object a ref can reach visible.
            self.store.refresh()?;
            found = self.store.read_object(d)?;
        }
        match found {
            Some((t, bytes)) if t == ty as u8 => Ok(bytes),
            Some((t, _)) => Err(Error::corrupt(
                self.store.packs_dir(),
                format!(
                    "{what} {} is an object of type {t}, expected {}",
                    d.short(),
                    ty as u8
                ),
            )),
            None => Err(Error::corrupt(
                self.store.index_dir(),
                format!("{what} {} is referenced but not stored", d.short()),
            )),
        }
    }

    /// Reads and decodes an object; a decode failure is `Corrupt` naming the object.
    fn decode<T>(
        &self,
        d: &Digest,
        ty: ObjectType,
        what: &str,
        decode: impl FnOnce(&[u8]) -> hangar_store::codec::DecodeResult<T>,
    ) -> Result<T> {
        let b = self.object(d, ty, what)?;
        decode(&b).map_err(|e| {
            Error::corrupt(self.store.packs_dir(), format!("{what} {}: {e}", d.short()))
        })
    }

    pub fn read_commit(&self, d: &Digest) -> Result<CommitObject> {
        self.decode(d, ObjectType::Commit, "commit", CommitObject::decode)
    }

    pub fn read_root(&self, d: &Digest) -> Result<Root> {
        self.decode(d, ObjectType::Root, "root", Root::decode)
    }

    pub fn read_schema(&self, d: &Digest) -> Result<ColumnSchema> {
        self.decode(d, ObjectType::Schema, "schema", ColumnSchema::decode)
    }
}

impl Shared {
    /// Reads and decodes a record-table node without going through (or filling) the
    /// node cache: for walks that visit each node once (gc).
    pub fn node_uncached(&self, d: &Digest) -> Result<Node> {
        let bytes = self.object(d, ObjectType::TreeNode, "record table node")?;
        Node::decode(bytes.to_vec()).map_err(|e| {
            Error::corrupt(
                self.store.packs_dir(),
                format!("record table node {}: {e}", d.short()),
            )
        })
    }
}

impl Shared {
    /// Node `d` if the node cache holds it.
    fn cached_node(&self, d: &Digest) -> Result<Option<Arc<Node>>> {
        Ok(self
            .cache
            .lock()
            .map_err(|_| poisoned())?
            .nodes
            .get(d)
            .cloned())
    }
}

impl NodeSource for Shared {
    fn node(&self, d: &Digest) -> Result<Arc<Node>> {
        if let Some(n) = self.cached_node(d)? {
            return Ok(n);
        }
        let node = Arc::new(self.node_uncached(d)?);
        let mut cache = self.cache.lock().map_err(|_| poisoned())?;
        if cache.bytes + node.memory_size() > NODE_CACHE_BYTES {
            cache.nodes.clear();
            cache.bytes = 0;
        }
        cache.bytes += node.memory_size();
        cache.nodes.insert(*d, node.clone());
        Ok(node)
    }

    fn node_once(&self, d: &Digest) -> Result<Arc<Node>> {
        match self.cached_node(d)? {
            Some(n) => Ok(n),
            None => Ok(Arc::new(self.node_uncached(d)?)),
        }
    }
}

pub(crate) fn poisoned() -> Error {
    Error::Internal(
        "a thread panicked while using this repository (a bug in libhangar, please report it); \
         reopen the repository"
            .into(),
    )
}
