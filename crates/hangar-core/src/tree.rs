//! Record tables: sorted key → record maps stored as prolly trees (B-trees whose node
//! boundaries are chosen by content, not by position).
//!
//! A leaf ends after an entry whose key hashes to a boundary (about one key in
//! [`LEAF_FANOUT`]), or when it reaches [`LEAF_MAX_ENTRIES`] entries or
//! [`LEAF_MAX_BYTES`] bytes. An internal node ends likewise after a child whose digest is
//! a boundary. The same key set therefore always gives the same tree — the same root
//! digest — whatever order it was built in, and a change to k keys rewrites only the k
//! leaves holding them and their paths to the root: a commit writes O(k log N) bytes of
//! record tables, and unchanged subtrees (and unchanged columns) are shared.
//!
//! Node encoding: `level u8 | n varint | n × (key bytes, value bytes)` where both are
//! length-prefixed; keys strictly increase. Leaf values are records; internal values are
//! `child digest[32] | subtree record count varint`, keyed by the child's last key.

use std::collections::HashSet;
use std::sync::Arc;

use hangar_store::codec::{push_bytes, DecodeError, DecodeResult, Decoder, Encoder};
use hangar_store::{Digest, Object, ObjectSink};

use crate::error::{Error, Result};
use crate::objects::{ObjectType, TreeRef};

/// Average leaf fan-out (a power of two).
pub const LEAF_FANOUT: u64 = 64;
/// Average internal fan-out (a power of two). Small, because a commit of k changes
/// rewrites k size-biased nodes per level (about twice the average node each): 16 writes
/// fewer bytes than 32 at every size measured (docs/format.md).
pub const INTERNAL_FANOUT: u64 = 16;
/// A leaf never holds more entries than this.
pub const LEAF_MAX_ENTRIES: usize = 1024;
/// A leaf is cut once it holds this many bytes.
pub const LEAF_MAX_BYTES: usize = 256 << 10;
/// An internal node never holds more children than this.
pub const INTERNAL_MAX_ENTRIES: usize = 512;

/// A decoded node.
#[derive(Debug)]
pub struct Node {
    level: u8,
    bytes: Vec<u8>,
    /// (key start, key end, value start, value end) per entry.
    spans: Vec<[u32; 4]>,
    /// The first 16 bytes of each key, zero-padded, big-endian: most comparisons of a
    /// search are one integer compare (16 bytes hold a whole integer key).
    prefixes: Vec<u128>,
}

/// The first 16 bytes of a key, zero-padded, as a big-endian integer. Comparing
/// prefixes orders keys like comparing the byte strings, except that equal prefixes need
/// a full comparison.
fn key_prefix(key: &[u8]) -> u128 {
    let mut b = [0u8; 16];
    let n = key.len().min(16);
    b[..n].copy_from_slice(&key[..n]);
    u128::from_be_bytes(b)
}

impl Node {
    /// Decodes a node, checking its structure (keys strictly increasing; internal
    /// values well formed).
    pub fn decode(bytes: Vec<u8>) -> DecodeResult<Node> {
        if bytes.len() > u32::MAX as usize {
            return Err(DecodeError("node too large".into()));
        }
        let mut d = Decoder::new(&bytes);
        let level = d.u8()?;
        if level > 32 {
            return Err(DecodeError(format!("absurd node level {level}")));
        }
        let n = d.count(2)?;
        if n == 0 {
            return Err(DecodeError("empty node".into()));
        }
        let mut spans = Vec::with_capacity(n);
        let mut prev: Option<(usize, usize)> = None;
        for _ in 0..n {
            let klen = d.len_prefix()?;
            let ks = d.position();
            d.take(klen)?;
            let vlen = d.len_prefix()?;
            let vs = d.position();
            let value = d.take(vlen)?;
            if let Some((ps, pe)) = prev {
                if bytes[ps..pe] >= bytes[ks..ks + klen] {
                    return Err(DecodeError("node keys are not strictly increasing".into()));
                }
            }
            if level > 0 {
                let mut vd = Decoder::new(value);
                vd.digest()?;
                if vd.varint()? == 0 {
                    return Err(DecodeError("internal entry with an empty subtree".into()));
                }
                vd.finish()?;
            }
            prev = Some((ks, ks + klen));
            spans.push([ks as u32, (ks + klen) as u32, vs as u32, (vs + vlen) as u32]);
        }
        d.finish()?;
        let prefixes = spans
            .iter()
            .map(|s| key_prefix(&bytes[s[0] as usize..s[1] as usize]))
            .collect();
        Ok(Node {
            level,
            bytes,
            spans,
            prefixes,
        })
    }

    /// 0 for leaves.
    pub fn level(&self) -> u8 {
        self.level
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Key of entry `i`.
    pub fn key(&self, i: usize) -> &[u8] {
        let s = self.spans[i];
        &self.bytes[s[0] as usize..s[1] as usize]
    }

    /// Value of entry `i`.
    pub fn value(&self, i: usize) -> &[u8] {
        let s = self.spans[i];
        &self.bytes[s[2] as usize..s[3] as usize]
    }

    /// Child digest and record count of internal entry `i`.
    pub fn child(&self, i: usize) -> (Digest, u64) {
        let mut d = Decoder::new(self.value(i));
        let digest = d.digest().expect("checked at decode");
        let count = d.varint().expect("checked at decode");
        (digest, count)
    }

    /// Internal entry `i` as its parent's reference to the child.
    fn child_ref(&self, i: usize) -> ChildRef {
        let (digest, count) = self.child(i);
        ChildRef {
            last_key: self.key(i).to_vec(),
            digest,
            count,
        }
    }

    /// Position of `key` (Ok) or where it would go (Err).
    pub fn search(&self, key: &[u8]) -> std::result::Result<usize, usize> {
        let target = key_prefix(key);
        let (mut lo, mut hi) = (0, self.prefixes.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let ord = match self.prefixes[mid].cmp(&target) {
                std::cmp::Ordering::Equal => self.key(mid).cmp(key),
                o => o,
            };
            match ord {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    /// Approximate memory held by the decoded node.
    pub fn memory_size(&self) -> usize {
        self.bytes.len() + self.spans.len() * 24
    }
}

/// Reads nodes by digest (with caching).
pub trait NodeSource {
    /// The decoded node `digest`; `Corrupt` if missing or malformed.
    fn node(&self, digest: &Digest) -> Result<Arc<Node>>;
}

fn corrupt_tree(digest: &Digest, detail: &str) -> Error {
    Error::corrupt(
        format!("record table node {}", digest.short()),
        detail.to_string(),
    )
}

/// Reads the node `digest` that must sit at `level` (one below its parent's); any other
/// level means a damaged or forged tree.
fn child_at_level(src: &dyn NodeSource, digest: &Digest, level: u8) -> Result<Arc<Node>> {
    let n = src.node(digest)?;
    if n.level() != level {
        return Err(corrupt_tree(
            digest,
            "child level is not one below its parent",
        ));
    }
    Ok(n)
}

/// Looks `key` up in a record table.
pub fn lookup(src: &dyn NodeSource, tree: &TreeRef, key: &[u8]) -> Result<Option<Vec<u8>>> {
    let mut node = root_node(src, tree)?;
    loop {
        if node.level() == 0 {
            return Ok(node.search(key).ok().map(|i| node.value(i).to_vec()));
        }
        let i = match node.search(key) {
            Ok(i) | Err(i) => i,
        };
        if i == node.len() {
            return Ok(None);
        }
        node = child_at_level(src, &node.child(i).0, node.level() - 1)?;
    }
}

/// Every (key, value) whose key starts with `prefix`, in key order; reads only the nodes
/// on the way to them.
pub fn scan_prefix(
    src: &dyn NodeSource,
    tree: &TreeRef,
    prefix: &[u8],
) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    fn walk(
        src: &dyn NodeSource,
        node: &Node,
        prefix: &[u8],
        out: &mut Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<bool> {
        let start = match node.search(prefix) {
            Ok(i) | Err(i) => i,
        };
        if node.level() == 0 {
            for i in start..node.len() {
                if !node.key(i).starts_with(prefix) {
                    return Ok(false);
                }
                out.push((node.key(i).to_vec(), node.value(i).to_vec()));
            }
            return Ok(true);
        }
        for i in start..node.len() {
            let next = child_at_level(src, &node.child(i).0, node.level() - 1)?;
            if !walk(src, &next, prefix, out)? {
                return Ok(false);
            }
        }
        Ok(true)
    }
    let root = root_node(src, tree)?;
    let mut out = Vec::new();
    walk(src, &root, prefix, &mut out)?;
    Ok(out)
}

/// The largest key of a record table (one path down its right edge).
pub fn last_key(src: &dyn NodeSource, tree: &TreeRef) -> Result<Vec<u8>> {
    let mut node = root_node(src, tree)?;
    loop {
        let last = node
            .len()
            .checked_sub(1)
            .ok_or_else(|| corrupt_tree(&tree.root, "an empty node in a non-empty table"))?;
        if node.level() == 0 {
            return Ok(node.key(last).to_vec());
        }
        node = child_at_level(src, &node.child(last).0, node.level() - 1)?;
    }
}

/// Iterates a record table in key order.
pub struct TreeIter<'a> {
    src: &'a dyn NodeSource,
    stack: Vec<(Arc<Node>, usize)>,
    pending_root: Option<TreeRef>,
    /// Start after this key (set by [`TreeIter::after`], used at the first step).
    after: Option<Vec<u8>>,
}

impl std::fmt::Debug for TreeIter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeIter")
            .field("depth", &self.stack.len())
            .finish()
    }
}

impl<'a> TreeIter<'a> {
    /// Starts iterating `tree` (`None` iterates nothing).
    pub fn new(src: &'a dyn NodeSource, tree: Option<&TreeRef>) -> TreeIter<'a> {
        TreeIter {
            src,
            stack: Vec::new(),
            pending_root: tree.copied(),
            after: None,
        }
    }

    /// Iterates the keys after `key` (all of them when `None`): one path down, then the
    /// leaves from there.
    pub fn after(src: &'a dyn NodeSource, tree: Option<&TreeRef>, key: Option<&[u8]>) -> Self {
        let mut it = TreeIter::new(src, tree);
        it.after = key.map(<[u8]>::to_vec);
        it
    }

    /// Descends from the root to the first entry after `key`, leaving the path on the
    /// stack with each node's next position.
    fn seek(&mut self, root: Arc<Node>, key: &[u8]) -> Result<()> {
        let mut node = root;
        loop {
            // The first entry whose key is greater than `key`; in an internal node the
            // first child whose last key is (so it holds the keys after `key`).
            let i = match node.search(key) {
                Ok(i) => i + 1,
                Err(i) => i,
            };
            if node.level() == 0 || i == node.len() {
                self.stack.push((node, i));
                return Ok(());
            }
            let child = child_at_level(self.src, &node.child(i).0, node.level() - 1)?;
            self.stack.push((node, i + 1));
            node = child;
        }
    }
}

impl Iterator for TreeIter<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(t) = self.pending_root.take() {
            let root = match root_node(self.src, &t) {
                Ok(n) => n,
                Err(e) => return Some(Err(e)),
            };
            match self.after.take() {
                Some(key) => {
                    if let Err(e) = self.seek(root, &key) {
                        return Some(Err(e));
                    }
                }
                None => self.stack.push((root, 0)),
            }
        }
        loop {
            let (node, i) = self.stack.last_mut()?;
            if *i >= node.len() {
                self.stack.pop();
                continue;
            }
            let idx = *i;
            *i += 1;
            if node.level() == 0 {
                return Some(Ok((node.key(idx).to_vec(), node.value(idx).to_vec())));
            }
            match child_at_level(self.src, &node.child(idx).0, node.level() - 1) {
                Ok(n) => self.stack.push((n, 0)),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// A node as its parent sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ChildRef {
    last_key: Vec<u8>,
    digest: Digest,
    count: u64,
}

/// FNV-1a with a splitmix64 finish: a fixed, fast hash for leaf boundaries.
fn key_hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Whether a child ends its internal node (about one digest in [`INTERNAL_FANOUT`]).
fn child_is_boundary(digest: &Digest) -> bool {
    u64::from_le_bytes(digest.0[..8].try_into().expect("8 bytes")) % INTERNAL_FANOUT == 0
}

/// One level of a [`Builder`]: the entries of the node being filled, and the nodes the
/// level has made so far.
#[derive(Default)]
struct Level {
    /// The entries of the node being filled, already encoded (`key bytes, value bytes`
    /// each, as a node holds them), so an entry costs no allocation of its own.
    body: Vec<u8>,
    entries: usize,
    last_key: Vec<u8>,
    carry_bytes: usize,
    carry_count: u64,
    /// Nodes of this level so far (made here or reused whole).
    nodes: u64,
    /// The level's first node, held back while it is the only node in the tree's top
    /// level: a level of one node is the root and gets no parent.
    first: Option<ChildRef>,
}

/// Builds every level of a record table at once, from leaf entries in key order and
/// from whole subtrees of an older tree that can be kept as they are.
///
/// Level `h` fills nodes of level `h`: leaf entries for `h = 0`, children (nodes of
/// level `h - 1`) above. A node of level `h` from an older tree can be reused unread
/// exactly when every level up to `h` stands at a node boundary — nothing carried,
/// nothing held below `h` — because chunking from a boundary depends only on the content
/// that follows, so the older tree cut that content the way a fresh build would.
/// Otherwise it is opened and its children are fed in instead, until the levels fall
/// back onto the older tree's boundaries. That keeps a change to k records at O(k log N)
/// nodes read and written, and gives the same tree as building from scratch.
struct Builder<'o> {
    levels: Vec<Level>,
    objects: &'o mut dyn ObjectSink,
}

impl<'o> Builder<'o> {
    fn new(objects: &'o mut dyn ObjectSink) -> Self {
        Builder {
            levels: Vec::new(),
            objects,
        }
    }

    fn level(&mut self, h: usize) -> &mut Level {
        if self.levels.len() <= h {
            self.levels.resize_with(h + 1, Level::default);
        }
        &mut self.levels[h]
    }

    /// Appends a leaf entry.
    fn entry(&mut self, key: &[u8], value: &[u8]) {
        let boundary = key_hash(key).is_multiple_of(LEAF_FANOUT);
        self.push(0, key, value, 1, boundary);
    }

    /// Appends an item to level `h` and closes the node on a boundary or when full.
    fn push(&mut self, h: usize, key: &[u8], value: &[u8], count: u64, boundary: bool) {
        let l = self.level(h);
        l.carry_bytes += key.len() + value.len();
        l.carry_count += count;
        push_bytes(&mut l.body, key);
        push_bytes(&mut l.body, value);
        l.entries += 1;
        l.last_key.clear();
        l.last_key.extend_from_slice(key);
        let full = if h == 0 {
            l.entries >= LEAF_MAX_ENTRIES || l.carry_bytes >= LEAF_MAX_BYTES
        } else {
            l.entries >= INTERNAL_MAX_ENTRIES
        };
        if boundary || full {
            self.emit(h);
        }
    }

    /// Closes the node level `h` is filling, if any.
    fn emit(&mut self, h: usize) {
        let l = self.level(h);
        if l.entries == 0 {
            return;
        }
        let mut e = Encoder::with_capacity(l.body.len() + 11);
        e.u8(h as u8).varint(l.entries as u64).raw(&l.body);
        l.body.clear();
        l.entries = 0;
        let count = std::mem::take(&mut l.carry_count);
        l.carry_bytes = 0;
        let object = Object::new(ObjectType::TreeNode as u8, e.finish());
        let child = ChildRef {
            last_key: l.last_key.clone(),
            digest: object.digest,
            count,
        };
        self.objects.put(object);
        self.add_node(h, child);
    }

    /// Whether any level above `h` has begun.
    fn above_started(&self, h: usize) -> bool {
        self.levels
            .iter()
            .skip(h + 1)
            .any(|l| l.nodes > 0 || l.entries > 0)
    }

    /// Records a finished node of level `h` and passes it up as a child.
    fn add_node(&mut self, h: usize, child: ChildRef) {
        let above = self.above_started(h);
        let l = self.level(h);
        l.nodes += 1;
        if l.nodes == 1 && !above {
            l.first = Some(child);
            return;
        }
        if let Some(first) = l.first.take() {
            self.push_child(h + 1, first);
        }
        self.push_child(h + 1, child);
    }

    fn push_child(&mut self, h: usize, child: ChildRef) {
        let mut v = Encoder::with_capacity(42);
        v.digest(&child.digest).varint(child.count);
        let boundary = child_is_boundary(&child.digest);
        self.push(h, &child.last_key, v.as_slice(), child.count, boundary);
    }

    /// Whether a node of level `h` can follow what was built so far unchanged.
    fn at_boundary(&self, h: usize) -> bool {
        self.levels.iter().take(h + 1).all(|l| l.entries == 0)
            && self.levels.iter().take(h).all(|l| l.first.is_none())
    }

    /// Appends the whole subtree `child`, whose node sits at level `h`: reused as it is
    /// when the levels stand at a boundary, otherwise opened.
    fn subtree(&mut self, src: &dyn NodeSource, child: ChildRef, h: u8) -> Result<()> {
        if self.at_boundary(usize::from(h)) {
            self.add_node(usize::from(h), child);
            return Ok(());
        }
        let node = child_at_level(src, &child.digest, h)?;
        for i in 0..node.len() {
            if h == 0 {
                self.entry(node.key(i), node.value(i));
            } else {
                self.subtree(src, node.child_ref(i), h - 1)?;
            }
        }
        Ok(())
    }

    /// Closes every level and returns the tree (`None` when nothing was added).
    fn finish(mut self) -> Option<TreeRef> {
        let mut h = 0;
        loop {
            self.emit(h);
            if !self.above_started(h) {
                let l = self.level(h);
                return l.first.take().map(|root| TreeRef {
                    root: root.digest,
                    count: root.count,
                    height: h as u8,
                });
            }
            h += 1;
        }
    }
}

/// Builds a record table from entries sorted by key (strictly increasing). New nodes are
/// appended to `objects`.
pub fn build<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    entries: impl IntoIterator<Item = (K, V)>,
    objects: &mut dyn ObjectSink,
) -> Option<TreeRef> {
    let mut b = Builder::new(objects);
    for (k, v) in entries {
        b.entry(k.as_ref(), v.as_ref());
    }
    b.finish()
}

/// The root node of `tree`, checked against its recorded height.
fn root_node(src: &dyn NodeSource, tree: &TreeRef) -> Result<Arc<Node>> {
    let root = src.node(&tree.root)?;
    if root.level() != tree.height {
        return Err(corrupt_tree(
            &tree.root,
            "root level differs from the recorded height",
        ));
    }
    Ok(root)
}

/// Applies `changes` (sorted by key, strictly increasing; `None` deletes) to `base` and
/// returns the new tree. Only the nodes on the paths to changed keys are read (plus the
/// few neighbours a moved boundary spills into); every other subtree is reused unread,
/// whole, at the highest level it fits. New nodes are appended to `objects`.
pub fn update(
    src: &dyn NodeSource,
    base: Option<&TreeRef>,
    changes: &[(&[u8], Option<&[u8]>)],
    objects: &mut dyn ObjectSink,
) -> Result<Option<TreeRef>> {
    let Some(base) = base else {
        return Ok(build(
            changes.iter().filter_map(|(k, v)| v.map(|v| (*k, v))),
            objects,
        ));
    };
    if changes.is_empty() {
        return Ok(Some(*base));
    }
    let root = root_node(src, base)?;
    let mut b = Builder::new(objects);
    apply_changes(src, &mut b, &root, changes)?;
    Ok(b.finish())
}

/// Feeds `node` with `changes` applied into `b`; every change falls in the node's key
/// range (the last child of a node takes every key after its own last key, so keys
/// past the end of the tree land in its last leaf).
fn apply_changes(
    src: &dyn NodeSource,
    b: &mut Builder<'_>,
    node: &Node,
    changes: &[(&[u8], Option<&[u8]>)],
) -> Result<()> {
    if node.level() == 0 {
        let (mut ni, mut k) = (0, 0);
        while ni < node.len() || k < changes.len() {
            let take_change = match (ni < node.len(), k < changes.len()) {
                (true, true) => changes[k].0 <= node.key(ni),
                (false, true) => true,
                _ => false,
            };
            if take_change {
                let (key, val) = changes[k];
                if ni < node.len() && key == node.key(ni) {
                    ni += 1; // replaced or deleted
                }
                if let Some(v) = val {
                    b.entry(key, v);
                }
                k += 1;
            } else {
                b.entry(node.key(ni), node.value(ni));
                ni += 1;
            }
        }
        return Ok(());
    }
    let mut ci = 0;
    for i in 0..node.len() {
        let end = if i + 1 == node.len() {
            changes.len()
        } else {
            ci + changes[ci..].partition_point(|(k, _)| *k <= node.key(i))
        };
        if ci == end {
            b.subtree(src, node.child_ref(i), node.level() - 1)?;
        } else {
            let child = child_at_level(src, &node.child(i).0, node.level() - 1)?;
            apply_changes(src, b, &child, &changes[ci..end])?;
        }
        ci = end;
    }
    Ok(())
}

/// One difference between two record tables: a key and its value on each side (`None`
/// where absent).
pub type Change = (Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>);

/// What one side of a [`diff`] has left to visit, next on top.
enum Pending {
    /// A whole subtree not read yet: its node's digest and level.
    Subtree(Digest, u8),
    /// A leaf being read, from entry `pos` on.
    Leaf(Arc<Node>, usize),
}

/// One side of a [`diff`]: the rest of a tree as a stack of subtrees and leaf entries.
struct DiffSide {
    stack: Vec<Pending>,
}

impl DiffSide {
    fn new(src: &dyn NodeSource, tree: Option<&TreeRef>) -> Result<DiffSide> {
        let mut stack = Vec::new();
        if let Some(t) = tree {
            let root = root_node(src, t)?;
            DiffSide::push_node(&mut stack, root);
        }
        Ok(DiffSide { stack })
    }

    fn push_node(stack: &mut Vec<Pending>, node: Arc<Node>) {
        if node.level() == 0 {
            stack.push(Pending::Leaf(node, 0));
        } else {
            for i in (0..node.len()).rev() {
                stack.push(Pending::Subtree(node.child(i).0, node.level() - 1));
            }
        }
    }

    /// Drops used-up leaves; the top is then a subtree, an entry, or nothing.
    fn settle(&mut self) {
        while matches!(self.stack.last(), Some(Pending::Leaf(n, pos)) if *pos >= n.len()) {
            self.stack.pop();
        }
    }

    /// The subtree on top, if the top is a subtree.
    fn top_subtree(&self) -> Option<(Digest, u8)> {
        match self.stack.last() {
            Some(Pending::Subtree(d, level)) => Some((*d, *level)),
            _ => None,
        }
    }

    /// Replaces the subtree on top by its children (or its entries).
    fn open_top(&mut self, src: &dyn NodeSource) -> Result<()> {
        if let Some(Pending::Subtree(d, level)) = self.stack.pop() {
            let node = child_at_level(src, &d, level)?;
            DiffSide::push_node(&mut self.stack, node);
        }
        Ok(())
    }

    /// The entry on top (the top must be an entry).
    fn entry(&self) -> (&[u8], &[u8]) {
        match self.stack.last() {
            Some(Pending::Leaf(n, pos)) => (n.key(*pos), n.value(*pos)),
            _ => unreachable!("the top is an entry"),
        }
    }

    fn advance(&mut self) {
        if let Some(Pending::Leaf(_, pos)) = self.stack.last_mut() {
            *pos += 1;
        }
    }
}

/// The differences between two record tables, in key order: keys only in `a`, only in
/// `b`, or with different values.
///
/// Both sides are walked from the root down, in key order. Whenever both have consumed
/// every key before their next subtree and those subtrees have the same digest, both are
/// skipped unread — equal digest, equal content — at whatever level they sit; otherwise
/// the higher (or both) is opened. The cost therefore follows the size of the
/// difference times the height, not the size of the tables.
pub fn diff(src: &dyn NodeSource, a: Option<&TreeRef>, b: Option<&TreeRef>) -> Result<Vec<Change>> {
    if a.map(|t| t.root) == b.map(|t| t.root) {
        return Ok(Vec::new());
    }
    let mut sa = DiffSide::new(src, a)?;
    let mut sb = DiffSide::new(src, b)?;
    let mut out = Vec::new();
    loop {
        sa.settle();
        sb.settle();
        match (sa.top_subtree(), sb.top_subtree()) {
            (Some((da, _)), Some((db, _))) if da == db => {
                sa.stack.pop();
                sb.stack.pop();
                continue;
            }
            (Some((_, la)), Some((_, lb))) => {
                if la >= lb {
                    sa.open_top(src)?;
                }
                if lb >= la {
                    sb.open_top(src)?;
                }
                continue;
            }
            (Some(_), None) => {
                sa.open_top(src)?;
                continue;
            }
            (None, Some(_)) => {
                sb.open_top(src)?;
                continue;
            }
            (None, None) => {}
        }
        // Both tops are entries or nothing.
        match (sa.stack.is_empty(), sb.stack.is_empty()) {
            (true, true) => return Ok(out),
            (false, true) => {
                let (k, v) = sa.entry();
                out.push((k.to_vec(), Some(v.to_vec()), None));
                sa.advance();
            }
            (true, false) => {
                let (k, v) = sb.entry();
                out.push((k.to_vec(), None, Some(v.to_vec())));
                sb.advance();
            }
            (false, false) => {
                let ((ka, va), (kb, vb)) = (sa.entry(), sb.entry());
                match ka.cmp(kb) {
                    std::cmp::Ordering::Less => {
                        out.push((ka.to_vec(), Some(va.to_vec()), None));
                        sa.advance();
                    }
                    std::cmp::Ordering::Greater => {
                        out.push((kb.to_vec(), None, Some(vb.to_vec())));
                        sb.advance();
                    }
                    std::cmp::Ordering::Equal => {
                        if va != vb {
                            out.push((ka.to_vec(), Some(va.to_vec()), Some(vb.to_vec())));
                        }
                        sa.advance();
                        sb.advance();
                    }
                }
            }
        }
    }
}

/// Every node digest of a tree (for verify), with the number of records seen.
pub fn walk_nodes(src: &dyn NodeSource, tree: &TreeRef, seen: &mut HashSet<Digest>) -> Result<u64> {
    let mut records = 0;
    let mut stack = vec![(tree.root, tree.height)];
    while let Some((d, level)) = stack.pop() {
        let n = src.node(&d)?;
        if n.level() != level {
            return Err(corrupt_tree(&d, "node level differs from its position"));
        }
        if !seen.insert(d) {
            continue;
        }
        if level == 0 {
            records += n.len() as u64;
        } else {
            for i in 0..n.len() {
                stack.push((n.child(i).0, level - 1));
            }
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node's encoding written the plain way (the reference the builder's flat,
    /// incremental encoding must match).
    fn encode_node(level: u8, entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u8(level).varint(entries.len() as u64);
        for (k, v) in entries {
            e.bytes(k).bytes(v);
        }
        e.finish()
    }
    use std::collections::{BTreeMap, HashMap};
    use std::sync::Mutex;

    #[derive(Default)]
    struct MemSource(Mutex<HashMap<Digest, Arc<Node>>>);

    impl MemSource {
        fn add(&self, objects: Vec<Object>) {
            let mut m = self.0.lock().unwrap();
            for o in objects {
                m.entry(o.digest)
                    .or_insert_with(|| Arc::new(Node::decode(o.bytes).unwrap()));
            }
        }
    }

    impl NodeSource for MemSource {
        fn node(&self, d: &Digest) -> Result<Arc<Node>> {
            self.0
                .lock()
                .unwrap()
                .get(d)
                .cloned()
                .ok_or_else(|| corrupt_tree(d, "missing"))
        }
    }

    fn k(i: u64) -> Vec<u8> {
        format!("key{i:08}").into_bytes()
    }

    fn full(src: &MemSource, t: Option<&TreeRef>) -> Vec<(Vec<u8>, Vec<u8>)> {
        TreeIter::new(src, t).collect::<Result<Vec<_>>>().unwrap()
    }

    #[test]
    fn same_keys_same_tree_whatever_the_history() {
        let src = MemSource::default();
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> =
            (0..5000).map(|i| (k(i), vec![i as u8; 33])).collect();
        let mut objs = Vec::new();
        let mut tree = build(model.clone(), &mut objs);
        src.add(objs);
        assert!(tree.unwrap().height >= 1);
        let mut rng = 12345u64;
        for round in 0..30 {
            let mut changes = BTreeMap::new();
            for _ in 0..(1 + round * 7) {
                rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let key = k(rng % 7000);
                let val = if rng.is_multiple_of(3) {
                    None
                } else {
                    Some(vec![(rng >> 8) as u8; 33])
                };
                changes.insert(key, val);
            }
            for (key, val) in &changes {
                match val {
                    Some(v) => model.insert(key.clone(), v.clone()),
                    None => model.remove(key),
                };
            }
            let changes: Vec<_> = changes.into_iter().collect();
            let changes: Vec<(&[u8], Option<&[u8]>)> = changes
                .iter()
                .map(|(k, v)| (k.as_slice(), v.as_deref()))
                .collect();
            let mut objs = Vec::new();
            tree = update(&src, tree.as_ref(), &changes, &mut objs).unwrap();
            let written = objs.len();
            src.add(objs);
            let mut fresh_objs = Vec::new();
            let fresh = build(model.clone(), &mut fresh_objs);
            assert_eq!(
                tree, fresh,
                "round {round}: incremental tree differs from a fresh build"
            );
            assert!(
                written < fresh_objs.len() || round > 20,
                "round {round}: rewrote {written} of {} nodes",
                fresh_objs.len()
            );
            assert_eq!(
                full(&src, tree.as_ref()),
                model.clone().into_iter().collect::<Vec<_>>()
            );
            for probe in [0, 1, 2500, 6999] {
                assert_eq!(
                    lookup(&src, tree.as_ref().unwrap(), &k(probe)).unwrap(),
                    model.get(&k(probe)).cloned()
                );
            }
        }
    }

    #[test]
    fn diff_finds_exactly_the_changes_and_reads_few_leaves() {
        let src = Counting::default();
        let mut objs = Vec::new();
        let a = build((0..50_000).map(|i| (k(i), vec![1; 33])), &mut objs);
        src.0.add(objs);
        let keys: Vec<Vec<u8>> = vec![k(5), k(25_000), k(49_999), k(60_000), b"key0".to_vec()];
        let changes: Vec<(&[u8], Option<&[u8]>)> = vec![
            (keys[4].as_slice(), Some(&[7u8; 3][..])), // added (sorts first)
            (keys[0].as_slice(), None),                // deleted
            (keys[1].as_slice(), Some(&[2u8; 33][..])), // mutated
            (keys[2].as_slice(), Some(&[3u8; 33][..])), // mutated
            (keys[3].as_slice(), Some(&[4u8; 33][..])), // added at the end
        ];
        let mut sorted = changes.clone();
        sorted.sort();
        let mut objs = Vec::new();
        let b = update(&src, a.as_ref(), &sorted, &mut objs).unwrap();
        src.0.add(objs);
        src.1.store(0, std::sync::atomic::Ordering::Relaxed);
        let d = diff(&src, a.as_ref(), b.as_ref()).unwrap();
        let reads = src.1.load(std::sync::atomic::Ordering::Relaxed);
        let got: Vec<(Vec<u8>, bool, bool)> = d
            .iter()
            .map(|(k, x, y)| (k.clone(), x.is_some(), y.is_some()))
            .collect();
        assert_eq!(
            got,
            vec![
                (keys[4].clone(), false, true),
                (keys[0].clone(), true, false),
                (keys[1].clone(), true, true),
                (keys[2].clone(), true, true),
                (keys[3].clone(), false, true),
            ]
        );
        // ~780 leaves per side; only the paths to the five changes are read.
        assert!(reads < 40, "{reads} nodes read for a 5-record difference");
        assert!(diff(&src, a.as_ref(), a.as_ref()).unwrap().is_empty());
        let all = diff(&src, None, a.as_ref()).unwrap();
        assert_eq!(all.len(), 50_000);
        assert!(all.iter().all(|(_, x, y)| x.is_none() && y.is_some()));
    }

    /// Counts node reads.
    #[derive(Default)]
    struct Counting(MemSource, std::sync::atomic::AtomicUsize);

    impl NodeSource for Counting {
        fn node(&self, d: &Digest) -> Result<Arc<Node>> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.0.node(d)
        }
    }

    impl Counting {
        fn take(&self) -> usize {
            self.1.swap(0, std::sync::atomic::Ordering::Relaxed)
        }
    }

    type MakeChanges<'a> = Box<dyn Fn(&mut u64) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> + 'a>;

    fn lcg(rng: &mut u64) -> u64 {
        *rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *rng >> 17
    }

    /// Applies `changes` to the model and to the tree, and checks the tree against a
    /// fresh build of the model. Returns the new tree.
    fn apply_and_check(
        src: &MemSource,
        model: &mut BTreeMap<Vec<u8>, Vec<u8>>,
        tree: Option<TreeRef>,
        changes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
        what: &str,
    ) -> Option<TreeRef> {
        for (key, val) in &changes {
            match val {
                Some(v) => model.insert(key.clone(), v.clone()),
                None => model.remove(key),
            };
        }
        let changes: Vec<(&[u8], Option<&[u8]>)> = changes
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_deref()))
            .collect();
        let mut objs = Vec::new();
        let new = update(src, tree.as_ref(), &changes, &mut objs).unwrap();
        src.add(objs);
        let fresh = build(model.clone(), &mut Vec::new());
        assert_eq!(
            new, fresh,
            "{what}: incremental tree differs from a fresh build"
        );
        new
    }

    #[test]
    fn updates_equal_fresh_builds_at_every_height_and_cut_rule() {
        // (keys, value bytes): a 4-level tree; leaves cut by their byte limit.
        for (n, vlen) in [(150_000u64, 6usize), (2_000, 9_000)] {
            let src = MemSource::default();
            let mut model: BTreeMap<Vec<u8>, Vec<u8>> =
                (0..n).map(|i| (k(i * 2), vec![i as u8; vlen])).collect();
            let mut objs = Vec::new();
            let mut tree = build(model.clone(), &mut objs);
            src.add(objs);
            let mut rng = n ^ 0x5eed;
            let rounds: [(&str, MakeChanges<'_>); 7] = [
                (
                    "scattered puts and deletes",
                    Box::new(|rng: &mut u64| {
                        (0..40)
                            .map(|_| {
                                let r = lcg(rng);
                                let v = (!r.is_multiple_of(3)).then(|| vec![r as u8; vlen]);
                                (k(r % (n * 2 + 50)), v)
                            })
                            .collect()
                    }),
                ),
                (
                    "a run of deletes over several leaves",
                    Box::new(|rng: &mut u64| {
                        let start = lcg(rng) % n;
                        (start..start + 3000.min(n / 3))
                            .map(|i| (k(i), None))
                            .collect()
                    }),
                ),
                (
                    "inserts between every key of a range",
                    Box::new(|rng: &mut u64| {
                        let start = lcg(rng) % n;
                        (start..start + 500)
                            .map(|i| (k(i * 2 + 1), Some(vec![9; vlen])))
                            .collect()
                    }),
                ),
                (
                    "keys before the first and after the last",
                    Box::new(|_: &mut u64| {
                        [b"a".to_vec(), b"zz".to_vec(), b"key".to_vec()]
                            .into_iter()
                            .map(|key| (key, Some(vec![1; vlen])))
                            .collect()
                    }),
                ),
                (
                    "the first and last keys deleted",
                    Box::new(|_: &mut u64| {
                        [b"a".to_vec(), b"zz".to_vec(), k(0), k(1), k(n * 2 - 2)]
                            .into_iter()
                            .map(|key| (key, None))
                            .collect()
                    }),
                ),
                (
                    "every leaf boundary key deleted in a range",
                    Box::new(|rng: &mut u64| {
                        let start = lcg(rng) % n;
                        (start..start + 5000)
                            .map(k)
                            .filter(|key| key_hash(key).is_multiple_of(LEAF_FANOUT))
                            .map(|key| (key, None))
                            .collect()
                    }),
                ),
                (
                    "one change",
                    Box::new(|rng: &mut u64| {
                        [(k(lcg(rng) % (n * 2)), Some(vec![3; vlen]))]
                            .into_iter()
                            .collect()
                    }),
                ),
            ];
            for round in 0..3 {
                for (what, make) in &rounds {
                    let changes = make(&mut rng);
                    let what = format!("n={n} round {round}: {what}");
                    tree = apply_and_check(&src, &mut model, tree, changes, &what);
                }
            }
            assert_eq!(
                full(&src, tree.as_ref()),
                model.clone().into_iter().collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn changes_at_the_left_edge_of_many_trees_equal_fresh_builds() {
        // Nodes of one child and levels of one node arise at the left edge of a tree;
        // many small trees (different values, so different node digests) meet them all.
        for seed in 0..120u64 {
            let mut rng = seed;
            let n = 2_000 + lcg(&mut rng) % 6_000;
            let src = MemSource::default();
            let mut model: BTreeMap<Vec<u8>, Vec<u8>> = (0..n)
                .map(|i| (k(i), (seed * 31 + i).to_le_bytes()[..2].to_vec()))
                .collect();
            let mut objs = Vec::new();
            let tree = build(model.clone(), &mut objs);
            src.add(objs);
            let mut changes = BTreeMap::new();
            for i in 0..lcg(&mut rng) % 150 {
                changes.insert(k(i), None);
            }
            let at = lcg(&mut rng) % 200;
            changes.insert(k(at), Some(vec![seed as u8, 1, 2]));
            if seed % 2 == 0 {
                changes.insert(b"a".to_vec(), Some(vec![7]));
            }
            let what = format!("seed {seed}, {n} keys");
            let tree = apply_and_check(&src, &mut model, tree, changes, &what);
            let changes = [(k(n - 1), None), (b"zz".to_vec(), Some(vec![1]))];
            apply_and_check(&src, &mut model, tree, changes.into_iter().collect(), &what);
        }
    }

    /// The format's chunking rule written plainly, level by level (how format version 1
    /// defined it before the incremental builder): the builder must give the same nodes,
    /// so trees stay identical — and deduplicate — across versions and histories.
    fn reference_build(entries: &[(Vec<u8>, Vec<u8>)]) -> (Option<TreeRef>, Vec<Digest>) {
        fn cut(
            level: u8,
            items: Vec<(Vec<u8>, Vec<u8>, u64, bool)>,
            all: &mut Vec<Digest>,
        ) -> Vec<ChildRef> {
            let (mut out, mut node, mut bytes, mut count) = (Vec::new(), Vec::new(), 0, 0);
            let n = items.len();
            for (i, (k, v, c, boundary)) in items.into_iter().enumerate() {
                bytes += k.len() + v.len();
                count += c;
                node.push((k, v));
                let full = if level == 0 {
                    node.len() >= LEAF_MAX_ENTRIES || bytes >= LEAF_MAX_BYTES
                } else {
                    node.len() >= INTERNAL_MAX_ENTRIES
                };
                if boundary || full || i + 1 == n {
                    let o = Object::new(ObjectType::TreeNode as u8, encode_node(level, &node));
                    all.push(o.digest);
                    out.push(ChildRef {
                        last_key: node.last().unwrap().0.clone(),
                        digest: o.digest,
                        count,
                    });
                    (node, bytes, count) = (Vec::new(), 0, 0);
                }
            }
            out
        }
        let mut all = Vec::new();
        let leaf_items = entries
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.clone(),
                    1,
                    key_hash(k).is_multiple_of(LEAF_FANOUT),
                )
            })
            .collect();
        let mut level_nodes = cut(0, leaf_items, &mut all);
        let mut height = 0;
        while level_nodes.len() > 1 {
            height += 1;
            let items = level_nodes
                .into_iter()
                .map(|c| {
                    let mut v = Encoder::with_capacity(42);
                    v.digest(&c.digest).varint(c.count);
                    (
                        c.last_key,
                        v.finish(),
                        c.count,
                        child_is_boundary(&c.digest),
                    )
                })
                .collect();
            level_nodes = cut(height, items, &mut all);
        }
        let tree = level_nodes.pop().map(|c| TreeRef {
            root: c.digest,
            count: c.count,
            height,
        });
        (tree, all)
    }

    #[test]
    fn the_builder_cuts_exactly_as_the_format_defines() {
        let mut rng = 99u64;
        for n in [0usize, 1, 2, 63, 64, 65, 1000, 1500, 4096, 20_000, 70_000] {
            // 1500 entries of 9 KB: leaves cut by their byte limit.
            let vlen = if n == 1500 {
                9_000
            } else {
                1 + (lcg(&mut rng) % 40) as usize
            };
            let entries: Vec<(Vec<u8>, Vec<u8>)> =
                (0..n as u64).map(|i| (k(i), vec![i as u8; vlen])).collect();
            let (want, want_nodes) = reference_build(&entries);
            let mut objs = Vec::new();
            let got = build(entries, &mut objs);
            assert_eq!(got, want, "{n} entries");
            let mut got_nodes: Vec<Digest> = objs.iter().map(|o| o.digest).collect();
            let mut want_nodes = want_nodes;
            got_nodes.sort();
            want_nodes.sort();
            assert_eq!(got_nodes, want_nodes, "{n} entries: the nodes written");
        }
    }

    #[test]
    fn leaves_cut_only_by_their_entry_limit_resync_after_a_shift() {
        // Keys that are never leaf boundaries: every leaf holds exactly LEAF_MAX_ENTRIES,
        // so one key inserted at the front moves every leaf boundary after it.
        let keys: Vec<Vec<u8>> = (0..)
            .map(|i: u64| format!("nb{i:09}").into_bytes())
            .filter(|key| !key_hash(key).is_multiple_of(LEAF_FANOUT))
            .take(LEAF_MAX_ENTRIES * 40 + 17)
            .collect();
        let src = MemSource::default();
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> =
            keys.iter().map(|key| (key.clone(), vec![5])).collect();
        let mut objs = Vec::new();
        let tree = build(model.clone(), &mut objs);
        src.add(objs);
        let first = keys[0].clone();
        let tree = apply_and_check(
            &src,
            &mut model,
            tree,
            [(b"na".to_vec(), Some(vec![1]))].into_iter().collect(),
            "insert at the front",
        );
        let tree = apply_and_check(
            &src,
            &mut model,
            tree,
            [(b"na".to_vec(), None), (first, None)]
                .into_iter()
                .collect(),
            "two deletes at the front",
        );
        assert_eq!(tree.unwrap().count, keys.len() as u64 - 1);
    }

    #[test]
    fn a_small_change_reads_and_writes_only_its_paths() {
        let src = Counting::default();
        let n = 200_000u64;
        let mut objs = Vec::new();
        let tree = build((0..n).map(|i| (k(i), vec![1; 16])), &mut objs).unwrap();
        let total = objs.len();
        src.0.add(objs);
        assert!(tree.height >= 3, "height {}", tree.height);
        let keys: Vec<Vec<u8>> = (0..10).map(|i| k(i * 19_997 + 3)).collect();
        let changes: Vec<(&[u8], Option<&[u8]>)> = keys
            .iter()
            .map(|key| (key.as_slice(), Some(&[2u8; 16][..])))
            .collect();
        src.take();
        let mut objs = Vec::new();
        let new = update(&src, Some(&tree), &changes, &mut objs)
            .unwrap()
            .unwrap();
        let (reads, written) = (src.take(), objs.len());
        src.0.add(objs);
        assert_eq!(new.count, n);
        // Each change touches one path of height + 1 nodes (paths share their top),
        // plus the odd neighbour a changed leaf's new digest spills into.
        let bound = 10 * (usize::from(tree.height) + 1) + 10;
        assert!(
            reads <= bound,
            "{reads} nodes read for 10 changes (bound {bound})"
        );
        assert!(
            written <= bound,
            "{written} of {total} nodes written for 10 changes (bound {bound})"
        );
        let d = diff(&src, Some(&tree), Some(&new)).unwrap();
        assert_eq!(d.len(), 10);
        let reads = src.take();
        assert!(
            reads <= 2 * bound,
            "{reads} nodes read to diff 10 changes (bound {})",
            2 * bound
        );
    }

    #[test]
    fn iteration_resumes_after_any_key_and_finds_the_last() {
        let src = MemSource::default();
        let mut objs = Vec::new();
        let keys: Vec<Vec<u8>> = (0..20_000).map(|i| k(i * 2)).collect();
        let tree = build(keys.iter().map(|key| (key.clone(), vec![1])), &mut objs).unwrap();
        src.add(objs);
        assert!(tree.height >= 2);
        assert_eq!(last_key(&src, &tree).unwrap(), k(39_998));
        for probe in [0u64, 1, 2, 777, 778, 20_000, 39_997, 39_998, 50_000] {
            let got: Vec<Vec<u8>> = TreeIter::after(&src, Some(&tree), Some(&k(probe)))
                .map(|r| r.unwrap().0)
                .collect();
            let want: Vec<Vec<u8>> = keys
                .iter()
                .filter(|key| **key > k(probe))
                .cloned()
                .collect();
            assert_eq!(got, want, "after {probe}");
        }
        let all = TreeIter::after(&src, Some(&tree), Some(b"")).count();
        assert_eq!(all, keys.len());
        assert_eq!(TreeIter::after(&src, None, Some(b"x")).count(), 0);
    }

    #[test]
    fn small_change_to_a_big_tree_writes_few_nodes() {
        let src = MemSource::default();
        let mut objs = Vec::new();
        let tree = build((0..100_000).map(|i| (k(i), vec![1; 33])), &mut objs);
        let total = objs.len();
        src.add(objs);
        let keys: Vec<Vec<u8>> = (0..10).map(|i| k(i * 9973)).collect();
        let changes: Vec<(&[u8], Option<&[u8]>)> = keys
            .iter()
            .map(|key| (key.as_slice(), Some(&[2u8; 33][..])))
            .collect();
        let mut objs = Vec::new();
        let new = update(&src, tree.as_ref(), &changes, &mut objs)
            .unwrap()
            .unwrap();
        assert_eq!(new.count, 100_000);
        let new_leaves = objs.iter().filter(|o| o.bytes[0] == 0).count();
        assert!(
            new_leaves <= 20,
            "{new_leaves} leaves rewritten for 10 changes (of {total} nodes)"
        );
    }

    #[test]
    fn deleting_everything_empties_the_tree_and_bad_nodes_are_rejected() {
        let src = MemSource::default();
        let mut objs = Vec::new();
        let tree = build((0..300).map(|i| (k(i), vec![1])), &mut objs);
        src.add(objs);
        let keys: Vec<Vec<u8>> = (0..300).map(k).collect();
        let changes: Vec<(&[u8], Option<&[u8]>)> =
            keys.iter().map(|key| (key.as_slice(), None)).collect();
        assert_eq!(
            update(&src, tree.as_ref(), &changes, &mut Vec::new()).unwrap(),
            None
        );
        let good = encode_node(
            0,
            &[
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"2".to_vec()),
            ],
        );
        assert!(Node::decode(good.clone()).is_ok());
        let unsorted = encode_node(
            0,
            &[
                (b"b".to_vec(), b"1".to_vec()),
                (b"a".to_vec(), b"2".to_vec()),
            ],
        );
        assert!(Node::decode(unsorted).is_err());
        for cut in 0..good.len() {
            assert!(Node::decode(good[..cut].to_vec()).is_err());
        }
        assert!(Node::decode(encode_node(1, &[(b"a".to_vec(), b"short".to_vec())])).is_err());
    }
}
