//! Building a record table from sorted entries, and updating one by rewriting only the
//! paths to changed keys.

use super::*;

/// FNV-1a with a splitmix64 finish: a fixed, fast hash for leaf boundaries.
pub(super) fn key_hash(key: &[u8]) -> u64 {
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
pub(super) fn child_is_boundary(digest: &Digest) -> bool {
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
///
/// Leaves are hashed in groups ([`PENDING_LEAVES`], `Digest::of_objects`, side by side
/// through BLAKE3's SIMD lanes): a finished leaf waits in `pending` until the group is
/// full, or until anything else needs the levels as they would be with it added (a
/// subtree reused or opened, the end). Where a leaf ends depends only on its keys and
/// sizes, never on its digest, so leaves can be cut before they are hashed; the levels
/// above receive them in the same order, so the tree is the same.
struct Builder<'o> {
    levels: Vec<Level>,
    objects: &'o mut dyn ObjectSink,
    /// Finished leaves not hashed yet: their bytes, last key and record count.
    pending: Vec<(Vec<u8>, Vec<u8>, u64)>,
}

/// Leaves hashed together (~320 KiB of 5 KiB leaves: enough to fill the lanes for every
/// chunk position of a typical leaf, small enough to stay in cache).
const PENDING_LEAVES: usize = 64;

impl<'o> Builder<'o> {
    fn new(objects: &'o mut dyn ObjectSink) -> Self {
        Builder {
            levels: Vec::new(),
            objects,
            pending: Vec::new(),
        }
    }

    /// Hashes the pending leaves and adds them to the tree, in order.
    fn flush_leaves(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut digests = Vec::with_capacity(self.pending.len());
        let bodies: Vec<&[u8]> = self.pending.iter().map(|(b, _, _)| b.as_slice()).collect();
        Digest::of_objects(ObjectType::TreeNode as u8, &bodies, &mut digests);
        let pending = std::mem::take(&mut self.pending);
        for ((bytes, last_key, count), digest) in pending.into_iter().zip(digests) {
            self.objects.put(Object {
                type_code: ObjectType::TreeNode as u8,
                digest,
                bytes,
            });
            self.add_node(
                0,
                ChildRef {
                    last_key,
                    digest,
                    count,
                },
            );
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
        if h == 0 {
            let last_key = l.last_key.clone();
            self.pending.push((e.finish(), last_key, count));
            if self.pending.len() >= PENDING_LEAVES {
                self.flush_leaves();
            }
            return;
        }
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
        self.flush_leaves();
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
            self.flush_leaves();
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
