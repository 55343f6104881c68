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

use hangar_store::codec::{DecodeError, DecodeResult, Decoder, Encoder};
use hangar_store::{Digest, Object};

use crate::error::{Error, Result};
use crate::objects::{ObjectType, TreeRef};

/// Average leaf fan-out (a power of two).
pub const LEAF_FANOUT: u64 = 64;
/// Average internal fan-out (a power of two).
pub const INTERNAL_FANOUT: u64 = 32;
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

    /// Always false: nodes are never empty.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
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

    /// Bytes of the encoded node.
    pub fn encoded_len(&self) -> usize {
        self.bytes.len()
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
    let mut node = src.node(&tree.root)?;
    if node.level() != tree.height {
        return Err(corrupt_tree(
            &tree.root,
            "root level differs from the recorded height",
        ));
    }
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
    let root = src.node(&tree.root)?;
    if root.level() != tree.height {
        return Err(corrupt_tree(
            &tree.root,
            "root level differs from the recorded height",
        ));
    }
    let mut out = Vec::new();
    walk(src, &root, prefix, &mut out)?;
    Ok(out)
}

/// Iterates a record table in key order.
pub struct TreeIter<'a> {
    src: &'a dyn NodeSource,
    stack: Vec<(Arc<Node>, usize)>,
    pending_root: Option<TreeRef>,
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
        }
    }
}

impl Iterator for TreeIter<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(t) = self.pending_root.take() {
            match self.src.node(&t.root) {
                Ok(n) if n.level() == t.height => self.stack.push((n, 0)),
                Ok(_) => {
                    return Some(Err(corrupt_tree(
                        &t.root,
                        "root level differs from the recorded height",
                    )))
                }
                Err(e) => return Some(Err(e)),
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

fn encode_node(level: u8, entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let size: usize = entries.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
    let mut e = Encoder::with_capacity(size + 8);
    e.u8(level).varint(entries.len() as u64);
    for (k, v) in entries {
        e.bytes(k).bytes(v);
    }
    e.finish()
}

/// Cuts a sequence of entries of one level into nodes.
struct Chunker<'o> {
    level: u8,
    carry: Vec<(Vec<u8>, Vec<u8>)>,
    carry_bytes: usize,
    carry_count: u64,
    out: Vec<ChildRef>,
    objects: &'o mut Vec<Object>,
}

impl<'o> Chunker<'o> {
    fn new(level: u8, objects: &'o mut Vec<Object>) -> Self {
        Chunker {
            level,
            carry: Vec::new(),
            carry_bytes: 0,
            carry_count: 0,
            out: Vec::new(),
            objects,
        }
    }

    fn push(&mut self, key: Vec<u8>, value: Vec<u8>, count: u64, boundary: bool) {
        self.carry_bytes += key.len() + value.len();
        self.carry_count += count;
        self.carry.push((key, value));
        let full = if self.level == 0 {
            self.carry.len() >= LEAF_MAX_ENTRIES || self.carry_bytes >= LEAF_MAX_BYTES
        } else {
            self.carry.len() >= INTERNAL_MAX_ENTRIES
        };
        if boundary || full {
            self.emit();
        }
    }

    fn emit(&mut self) {
        if self.carry.is_empty() {
            return;
        }
        let bytes = encode_node(self.level, &self.carry);
        let object = Object::new(ObjectType::TreeNode as u8, bytes);
        let last_key = self.carry.last().expect("non-empty").0.clone();
        self.out.push(ChildRef {
            last_key,
            digest: object.digest,
            count: self.carry_count,
        });
        self.objects.push(object);
        self.carry.clear();
        self.carry_bytes = 0;
        self.carry_count = 0;
    }

    fn reuse(&mut self, child: ChildRef) {
        debug_assert!(self.carry.is_empty());
        self.out.push(child);
    }

    fn finish(mut self) -> Vec<ChildRef> {
        self.emit();
        self.out
    }
}

fn push_leaf_entry(c: &mut Chunker<'_>, key: Vec<u8>, value: Vec<u8>) {
    let boundary = key_hash(&key).is_multiple_of(LEAF_FANOUT);
    c.push(key, value, 1, boundary);
}

/// Builds the internal levels over `children` and returns the tree.
fn build_levels(mut children: Vec<ChildRef>, objects: &mut Vec<Object>) -> Option<TreeRef> {
    let mut height = 0u8;
    while children.len() > 1 {
        height += 1;
        let mut c = Chunker::new(height, objects);
        for child in children {
            let mut v = Encoder::with_capacity(42);
            v.digest(&child.digest).varint(child.count);
            let boundary = u64::from_le_bytes(child.digest.0[..8].try_into().expect("8 bytes"))
                % INTERNAL_FANOUT
                == 0;
            c.push(child.last_key, v.finish(), child.count, boundary);
        }
        children = c.finish();
    }
    children.pop().map(|c| TreeRef {
        root: c.digest,
        count: c.count,
        height,
    })
}

/// Builds a record table from entries sorted by key (strictly increasing). New nodes are
/// appended to `objects`.
pub fn build(
    entries: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
    objects: &mut Vec<Object>,
) -> Option<TreeRef> {
    let mut c = Chunker::new(0, objects);
    for (k, v) in entries {
        push_leaf_entry(&mut c, k, v);
    }
    let leaves = c.finish();
    build_levels(leaves, objects)
}

/// The leaves of a tree, in order.
fn leaf_refs(src: &dyn NodeSource, tree: &TreeRef) -> Result<Vec<ChildRef>> {
    let root = src.node(&tree.root)?;
    if root.level() != tree.height {
        return Err(corrupt_tree(
            &tree.root,
            "root level differs from the recorded height",
        ));
    }
    if root.level() == 0 {
        return Ok(vec![ChildRef {
            last_key: root.key(root.len() - 1).to_vec(),
            digest: tree.root,
            count: root.len() as u64,
        }]);
    }
    let mut level_nodes = vec![root];
    loop {
        let level = level_nodes[0].level();
        let mut children = Vec::new();
        for n in &level_nodes {
            for i in 0..n.len() {
                let (digest, count) = n.child(i);
                children.push(ChildRef {
                    last_key: n.key(i).to_vec(),
                    digest,
                    count,
                });
            }
        }
        if level == 1 {
            return Ok(children);
        }
        level_nodes = children
            .iter()
            .map(|c| child_at_level(src, &c.digest, level - 1))
            .collect::<Result<Vec<_>>>()?;
    }
}

/// Applies `changes` (sorted by key, strictly increasing; `None` deletes) to `base` and
/// returns the new tree. Leaves without changes are reused without being read; new nodes
/// are appended to `objects`.
pub fn update(
    src: &dyn NodeSource,
    base: Option<&TreeRef>,
    changes: &[(&[u8], Option<&[u8]>)],
    objects: &mut Vec<Object>,
) -> Result<Option<TreeRef>> {
    let Some(base) = base else {
        return Ok(build(
            changes
                .iter()
                .filter_map(|(k, v)| v.map(|v| (k.to_vec(), v.to_vec()))),
            objects,
        ));
    };
    if changes.is_empty() {
        return Ok(Some(*base));
    }
    let leaves = leaf_refs(src, base)?;
    let mut c = Chunker::new(0, objects);
    let mut ci = 0;
    let last = leaves.len() - 1;
    for (li, leaf) in leaves.into_iter().enumerate() {
        let end = if li == last {
            changes.len()
        } else {
            ci + changes[ci..].partition_point(|(k, _)| *k <= leaf.last_key.as_slice())
        };
        if ci == end && c.carry.is_empty() {
            c.reuse(leaf);
            continue;
        }
        let node = src.node(&leaf.digest)?;
        if node.level() != 0 {
            return Err(corrupt_tree(&leaf.digest, "expected a leaf"));
        }
        let mut ni = 0;
        let ch = &changes[ci..end];
        let mut k = 0;
        while ni < node.len() || k < ch.len() {
            let take_change = match (ni < node.len(), k < ch.len()) {
                (true, true) => ch[k].0 <= node.key(ni),
                (false, true) => true,
                _ => false,
            };
            if take_change {
                let (key, val) = ch[k];
                if ni < node.len() && key == node.key(ni) {
                    ni += 1; // replaced or deleted
                }
                if let Some(v) = val {
                    push_leaf_entry(&mut c, key.to_vec(), v.to_vec());
                }
                k += 1;
            } else {
                push_leaf_entry(&mut c, node.key(ni).to_vec(), node.value(ni).to_vec());
                ni += 1;
            }
        }
        ci = end;
    }
    let leaves = c.finish();
    Ok(build_levels(leaves, objects))
}

/// One difference between two record tables: a key and its value on each side (`None`
/// where absent).
pub type Change = (Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>);

/// A cursor over one tree's leaves for [`diff`].
struct LeafCursor {
    leaves: Vec<ChildRef>,
    next: usize,
    node: Option<Arc<Node>>,
    pos: usize,
}

impl LeafCursor {
    fn new(src: &dyn NodeSource, tree: Option<&TreeRef>) -> Result<LeafCursor> {
        let leaves = match tree {
            Some(t) => leaf_refs(src, t)?,
            None => Vec::new(),
        };
        Ok(LeafCursor {
            leaves,
            next: 0,
            node: None,
            pos: 0,
        })
    }

    fn exhausted_leaf(&self) -> bool {
        self.node.as_ref().is_none_or(|n| self.pos >= n.len())
    }

    fn next_leaf_digest(&self) -> Option<Digest> {
        self.leaves.get(self.next).map(|c| c.digest)
    }

    /// Loads the next leaf if the current one is used up. False at the end.
    fn fill(&mut self, src: &dyn NodeSource) -> Result<bool> {
        if !self.exhausted_leaf() {
            return Ok(true);
        }
        let Some(child) = self.leaves.get(self.next) else {
            return Ok(false);
        };
        let node = src.node(&child.digest)?;
        if node.level() != 0 {
            return Err(corrupt_tree(&child.digest, "expected a leaf"));
        }
        self.node = Some(node);
        self.pos = 0;
        self.next += 1;
        Ok(true)
    }

    fn peek(&self) -> (&[u8], &[u8]) {
        let n = self.node.as_ref().expect("filled");
        (n.key(self.pos), n.value(self.pos))
    }
}

/// The differences between two record tables, in key order: keys only in `a`, only in
/// `b`, or with different values. Leaves with the same digest on both sides at the same
/// place are skipped without being read, so the cost follows the size of the difference
/// (plus one pass over each tree's internal nodes), not the size of the tables.
pub fn diff(src: &dyn NodeSource, a: Option<&TreeRef>, b: Option<&TreeRef>) -> Result<Vec<Change>> {
    if a.map(|t| t.root) == b.map(|t| t.root) {
        return Ok(Vec::new());
    }
    let mut ca = LeafCursor::new(src, a)?;
    let mut cb = LeafCursor::new(src, b)?;
    let mut out = Vec::new();
    loop {
        if ca.exhausted_leaf() && cb.exhausted_leaf() {
            // Both sides stand at a leaf boundary: equal leaves are equal content.
            while ca.next_leaf_digest().is_some() && ca.next_leaf_digest() == cb.next_leaf_digest()
            {
                ca.next += 1;
                cb.next += 1;
            }
        }
        let more_a = ca.fill(src)?;
        let more_b = cb.fill(src)?;
        match (more_a, more_b) {
            (false, false) => return Ok(out),
            (true, false) => {
                let (k, v) = ca.peek();
                out.push((k.to_vec(), Some(v.to_vec()), None));
                ca.pos += 1;
            }
            (false, true) => {
                let (k, v) = cb.peek();
                out.push((k.to_vec(), None, Some(v.to_vec())));
                cb.pos += 1;
            }
            (true, true) => {
                let ((ka, va), (kb, vb)) = (ca.peek(), cb.peek());
                match ka.cmp(kb) {
                    std::cmp::Ordering::Less => {
                        out.push((ka.to_vec(), Some(va.to_vec()), None));
                        ca.pos += 1;
                    }
                    std::cmp::Ordering::Greater => {
                        out.push((kb.to_vec(), None, Some(vb.to_vec())));
                        cb.pos += 1;
                    }
                    std::cmp::Ordering::Equal => {
                        if va != vb {
                            out.push((ka.to_vec(), Some(va.to_vec()), Some(vb.to_vec())));
                        }
                        ca.pos += 1;
                        cb.pos += 1;
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
        #[derive(Default)]
        struct Counting(MemSource, std::sync::atomic::AtomicUsize);
        impl NodeSource for Counting {
            fn node(&self, d: &Digest) -> Result<Arc<Node>> {
                self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.0.node(d)
            }
        }
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
        // ~780 leaves per side; only the internal nodes and a handful of leaves are read.
        assert!(reads < 120, "{reads} nodes read for a 5-record difference");
        assert!(diff(&src, a.as_ref(), a.as_ref()).unwrap().is_empty());
        let all = diff(&src, None, a.as_ref()).unwrap();
        assert_eq!(all.len(), 50_000);
        assert!(all.iter().all(|(_, x, y)| x.is_none() && y.is_some()));
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
