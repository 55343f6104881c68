//! Whether staged changes can move, unchanged, onto another commit: git's rule for the
//! local changes a `checkout` of another branch takes along. They can when everything
//! they touch — each changed sample, each created, deleted or replaced column, each
//! changed metadata key — is the same at that commit as at their base; the changes then
//! mean the same there, and nothing of the other commit is overwritten.

use super::*;
use crate::key::{split_nested, SampleKey};

/// A staged record key as the user names it (`sample` or `sample/subsample`).
fn key_name(nested: bool, raw: &[u8]) -> String {
    let named = if nested {
        split_nested(raw).map(|(s, sub)| match sub {
            Some(sub) => format!("{}/{}", s.name(), sub.name()),
            None => s.name(),
        })
    } else {
        SampleKey::decode(raw).map(|k| k.name())
    };
    named.unwrap_or_else(|_| format!("{raw:02x?}"))
}

impl Staging {
    /// What the staged changes touch that differs between their base and `target` (a
    /// clean staging area loaded at the other commit), at most `limit` of them, each
    /// named as `column "c"`, `column "c", sample k` or `metadata key "m"`. Empty: the
    /// changes apply to `target` exactly as they do to their base.
    pub fn carry_conflicts(
        &self,
        shared: &Shared,
        target: &Staging,
        limit: usize,
    ) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let base_of = |name: &str| self.base_columns.get(name);
        let target_of = |name: &str| target.base_columns.get(name);
        // Columns deleted or replaced: the other commit must hold the one deleted.
        for (name, at_base) in &self.base_columns {
            let kept = self
                .columns
                .get(name)
                .is_some_and(|c| same_column(Some(&c.at()), Some(at_base)));
            if !kept && !same_column(Some(at_base), target_of(name)) {
                out.push(format!("column {name:?}"));
            }
        }
        for (name, col) in &self.columns {
            if out.len() >= limit {
                break;
            }
            let at_base = base_of(name);
            if !same_column(Some(&col.at()), at_base) {
                // Created (or replaced, checked above): the other commit must not have
                // a column of that name it did not have at the base.
                if at_base.is_none() && target_of(name).is_some() {
                    out.push(format!("column {name:?}"));
                }
                continue;
            }
            if col.overlay.is_empty() || same_column(at_base, target_of(name)) {
                continue;
            }
            let Some(at_target) = target_of(name).filter(|t| Some(&t.0) == at_base.map(|b| &b.0))
            else {
                // Changed samples of a column the other commit lacks or holds with
                // another schema.
                out.push(format!("column {name:?}"));
                continue;
            };
            for (key, _) in col.overlay.iter() {
                if out.len() >= limit {
                    break;
                }
                let before = table_record(shared, col.base.as_ref(), key)?;
                if before != table_record(shared, at_target.1.as_ref(), key)? {
                    out.push(format!(
                        "column {name:?}, sample {}",
                        key_name(col.nested(), key)
                    ));
                }
            }
        }
        let meta_moved = self.meta_base.map(|t| t.root) != target.meta_base.map(|t| t.root);
        if meta_moved {
            for (key, _) in self.meta.iter() {
                if out.len() >= limit {
                    break;
                }
                let before = table_record(shared, self.meta_base.as_ref(), key)?;
                if before != table_record(shared, target.meta_base.as_ref(), key)? {
                    out.push(format!("metadata key {:?}", String::from_utf8_lossy(key)));
                }
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    /// The staged changes applied to `target` (a clean staging area at another commit,
    /// for which [`Staging::carry_conflicts`] found nothing): the staging area a writer
    /// finds after they moved there.
    pub fn carried_to(&self, shared: &Shared, mut target: Staging) -> Result<Staging> {
        for change in self.snapshot() {
            target.apply(shared, change)?;
        }
        // Values stored for records replaced before the move are still unreferenced: the
        // next commit looks for them as it would have here.
        target.maybe_dead |= self.maybe_dead;
        Ok(target)
    }
}
