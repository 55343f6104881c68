//! Merging a branch into the writer's: up to date, a fast-forward, or a three-way merge
//! commit — each published by the one commit protocol (`WriterState::publish`).

use super::*;

impl WriterCheckout {
    /// Merges branch `from` into this writer's branch. The staging area must be clean
    /// (`DirtyStaging`). If `from`'s head is already contained, nothing happens
    /// ([`MergeOutcome::UpToDate`]); if ours is behind theirs, our branch moves forward
    /// ([`MergeOutcome::FastForward`], no commit); otherwise a three-way merge against the
    /// best common ancestor makes a commit with two parents, reading record tables only
    /// (no tensor data). On conflicts nothing changes and the error is
    /// [`Error::MergeConflict`] with the full report.
    pub fn merge(&self, message: &str, from: &str) -> Result<MergeOutcome> {
        self.merge_with(message, from, MergeStrategy::Refuse)
    }

    /// [`WriterCheckout::merge`] with a [`MergeStrategy`]: with `Ours` or `Theirs` a
    /// conflicting change is settled by taking that side and the merge commit is made;
    /// [`MergeOutcome::Merged`] lists the conflicts so settled.
    pub fn merge_with(
        &self,
        message: &str,
        from: &str,
        strategy: MergeStrategy,
    ) -> Result<MergeOutcome> {
        let mut guard = self.state()?;
        let st = &mut *guard;
        if st.staging.is_dirty() {
            return Err(Error::DirtyStaging(format!(
                "Changes are currently pending in the staging area of branch {:?}; commit or reset them before merging",
                st.staging.base.branch
            )));
        }
        let repo = Repository::from_shared(st.shared.clone());
        // A branch, a tracking ref (`origin/master`) or any revision.
        let theirs = repo.resolve(from)?;
        let ours = st.staging.base.commit;
        if let Some(o) = ours {
            if o == theirs.0 || crate::branch::ancestors(&repo, o)?.contains(&theirs.0) {
                return Ok(MergeOutcome::UpToDate { head: CommitId(o) });
            }
        }
        let forward = match ours {
            None => true,
            Some(o) => crate::branch::ancestors(&repo, theirs.0)?.contains(&o),
        };
        if forward {
            // No new objects: the same protocol moves the ref to their head (the clean
            // staging area keeps no staged value).
            st.publish(
                PackSpool::new(st.shared.store.clone()),
                hangar_store::Live::Only(&DigestSet::default()),
                theirs.0,
                &format!("merge {from}: fast-forward"),
            )?;
            return Ok(MergeOutcome::FastForward {
                from: ours.map(CommitId),
                to: theirs,
            });
        }
        let ours = ours.expect("not a fast-forward, so ours exists");
        if message.trim().is_empty() {
            return Err(invalid("the merge message is empty; describe the merge"));
        }
        let base = crate::merge::merge_base(&repo, ours, theirs.0)?;
        let shared = st.shared.clone();
        let root_of =
            |c: Digest| -> Result<Root> { shared.read_root(&shared.read_commit(&c)?.root) };
        let (rb, ro, rt) = (
            base.map(root_of).transpose()?,
            root_of(ours)?,
            root_of(theirs.0)?,
        );
        let mut conflicts = Vec::new();
        let merged =
            crate::merge::merge_roots(&shared, rb.as_ref(), &ro, &rt, strategy, &mut conflicts)?;
        if !conflicts.is_empty() && strategy == MergeStrategy::Refuse {
            return Err(Error::MergeConflict(Box::new(MergeConflicts {
                ours: CommitId(ours),
                theirs,
                base: base.map(CommitId),
                conflicts,
            })));
        }
        let mut objects = merged.objects;
        let root = Object::new(
            ObjectType::Root as u8,
            Root {
                columns: merged.columns,
                metadata: merged.metadata,
            }
            .encode(),
        );
        let commit = CommitObject {
            parents: vec![ours, theirs.0],
            root: root.digest,
            author: st.user.name.clone(),
            email: st.user.email.clone(),
            time_ns: crate::timefmt::now_ns(),
            message: message.to_string(),
        };
        objects.push(root);
        let commit = Object::new(ObjectType::Commit as u8, commit.encode());
        let id = commit.digest;
        objects.push(commit);
        let line = format!(
            "merge {from}: {}",
            message.lines().next().unwrap_or_default()
        );
        // The staging area is clean: no staged value is referred to.
        let objects = PackSpool::with_objects(shared.store.clone(), objects);
        st.publish(
            objects,
            hangar_store::Live::Only(&DigestSet::default()),
            id,
            &line,
        )?;
        Ok(MergeOutcome::Merged {
            commit: CommitId(id),
            base: base.map(CommitId),
            resolved: conflicts,
        })
    }
}
