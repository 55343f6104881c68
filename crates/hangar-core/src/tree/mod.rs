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
                std::cmp::Ordering::Equal => {
                    // Equal prefixes of two keys of at most 16 bytes: the shorter key is
                    // the longer one's prefix (the rest is zeros), so the lengths order
                    // them, without touching the key bytes (a cache miss of its own).
                    let s = self.spans[mid];
                    let len = (s[1] - s[0]) as usize;
                    if len <= 16 && key.len() <= 16 {
                        len.cmp(&key.len())
                    } else {
                        self.key(mid).cmp(key)
                    }
                }
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

    /// [`NodeSource::node`] for a walk that reads the node once (the leaves of a diff):
    /// taken from the cache if there, else read without filling it, so that a diff over
    /// 10^7 records neither holds their leaves nor evicts what random reads keep hot.
    fn node_once(&self, digest: &Digest) -> Result<Arc<Node>> {
        self.node(digest)
    }
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
    check_level(digest, src.node(digest)?, level)
}

/// `node` (digest `digest`) if it sits at `level`; `Corrupt` if not.
fn check_level(digest: &Digest, n: Arc<Node>, level: u8) -> Result<Arc<Node>> {
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

/// Looks many keys up in a record table at once: the record of each (in the order given;
/// `None` where absent). The keys are visited in sorted order, so each node on the way to
/// any of them is read and searched once per batch, not once per key.
pub fn lookup_many(
    src: &dyn NodeSource,
    tree: &TreeRef,
    keys: &[&[u8]],
) -> Result<Vec<Option<Vec<u8>>>> {
    fn descend(
        src: &dyn NodeSource,
        node: &Node,
        keys: &[&[u8]],
        order: &[usize],
        out: &mut [Option<Vec<u8>>],
    ) -> Result<()> {
        if node.level() == 0 {
            for &i in order {
                out[i] = node.search(keys[i]).ok().map(|p| node.value(p).to_vec());
            }
            return Ok(());
        }
        let mut start = 0;
        while let Some(&first) = order.get(start) {
            // Child `c` holds the keys up to its last key, `node.key(c)`.
            let c = match node.search(keys[first]) {
                Ok(c) | Err(c) => c,
            };
            if c == node.len() {
                return Ok(()); // the rest sort after every key of the table
            }
            let last = node.key(c);
            let end = start + order[start..].partition_point(|&i| keys[i] <= last);
            let child = child_at_level(src, &node.child(c).0, node.level() - 1)?;
            descend(src, &child, keys, &order[start..end], out)?;
            start = end;
        }
        Ok(())
    }
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_unstable_by(|&a, &b| keys[a].cmp(keys[b]));
    let mut out = vec![None; keys.len()];
    if !keys.is_empty() {
        descend(src, &*root_node(src, tree)?, keys, &order, &mut out)?;
    }
    Ok(out)
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

/// Adds the digest of every node of a tree (for verify) to `seen`, reading and checking
/// the levels of its internal nodes, not descending below nodes already in `seen`.
/// Leaves are only named: verify then iterates every record of the tree, which reads
/// each leaf (its digest checked on the read) and checks its level, so reading them here
/// too hashed the table's largest part twice (10^7 records: 650 MB of leaves, more than
/// the node cache keeps between the two walks).
pub fn walk_nodes(src: &dyn NodeSource, tree: &TreeRef, seen: &mut HashSet<Digest>) -> Result<()> {
    if tree.height == 0 {
        seen.insert(tree.root);
        return Ok(());
    }
    let mut stack = vec![(tree.root, tree.height)];
    while let Some((d, level)) = stack.pop() {
        let n = src.node(&d)?;
        if n.level() != level {
            return Err(corrupt_tree(&d, "node level differs from its position"));
        }
        if !seen.insert(d) {
            continue;
        }
        for i in 0..n.len() {
            let child = n.child(i).0;
            if level == 1 {
                seen.insert(child);
            } else {
                stack.push((child, level - 1));
            }
        }
    }
    Ok(())
}

/// A node as its parent sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ChildRef {
    last_key: Vec<u8>,
    digest: Digest,
    count: u64,
}

mod build;
mod diff;
mod iter;
#[cfg(test)]
mod tests;

pub use build::{build, update};
pub use diff::{diff, diff_each, KeyChange};
pub use iter::TreeIter;
