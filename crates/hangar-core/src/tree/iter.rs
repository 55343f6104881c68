//! Walking a record table in key order.

use super::*;

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
