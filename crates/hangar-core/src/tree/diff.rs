//! The difference of two record tables, skipping equal subtrees at every level.

use super::*;

/// One difference between two record tables: a key and its value on each side (`None`
/// where absent).
pub type KeyChange = (Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>);

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

    /// Replaces the subtree on top by its children (or its entries). A leaf is read
    /// once ([`NodeSource::node_once`]); internal nodes go through the cache.
    fn open_top(&mut self, src: &dyn NodeSource) -> Result<()> {
        if let Some(Pending::Subtree(d, level)) = self.stack.pop() {
            let node = if level == 0 {
                check_level(&d, src.node_once(&d)?, 0)?
            } else {
                child_at_level(src, &d, level)?
            };
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
pub fn diff(
    src: &dyn NodeSource,
    a: Option<&TreeRef>,
    b: Option<&TreeRef>,
) -> Result<Vec<KeyChange>> {
    let mut out = Vec::new();
    diff_each(src, a, b, |k, va, vb| {
        out.push((k.to_vec(), va.map(<[u8]>::to_vec), vb.map(<[u8]>::to_vec)));
        Ok(())
    })?;
    Ok(out)
}

/// [`diff`] without the list: calls `f(key, value in a, value in b)` for each
/// difference, in key order, borrowing from the nodes read. A caller that only counts
/// (`hangar show` of a commit that adds 10^7 samples) copies nothing.
pub fn diff_each(
    src: &dyn NodeSource,
    a: Option<&TreeRef>,
    b: Option<&TreeRef>,
    mut f: impl FnMut(&[u8], Option<&[u8]>, Option<&[u8]>) -> Result<()>,
) -> Result<()> {
    if a.map(|t| t.root) == b.map(|t| t.root) {
        return Ok(());
    }
    let mut sa = DiffSide::new(src, a)?;
    let mut sb = DiffSide::new(src, b)?;
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
            (true, true) => return Ok(()),
            (false, true) => {
                let (k, v) = sa.entry();
                f(k, Some(v), None)?;
                sa.advance();
            }
            (true, false) => {
                let (k, v) = sb.entry();
                f(k, None, Some(v))?;
                sb.advance();
            }
            (false, false) => {
                let ((ka, va), (kb, vb)) = (sa.entry(), sb.entry());
                match ka.cmp(kb) {
                    std::cmp::Ordering::Less => {
                        f(ka, Some(va), None)?;
                        sa.advance();
                    }
                    std::cmp::Ordering::Greater => {
                        f(kb, None, Some(vb))?;
                        sb.advance();
                    }
                    std::cmp::Ordering::Equal => {
                        if va != vb {
                            f(ka, Some(va), Some(vb))?;
                        }
                        sa.advance();
                        sb.advance();
                    }
                }
            }
        }
    }
}
