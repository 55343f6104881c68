//! Property test for `Repository::gc`, the one operation that deletes data: random
//! sequences of sets, deletes, batch updates and bulk sessions, commits, resets, branch
//! creation, switches (the original's rule, and git's, which takes the staged changes
//! along when nothing they touch differs at the other head; else `DirtyStaging` and
//! nothing moves), merges and deletions, reopenings and gc runs with `--prune=now`
//! (compaction thresholds from never to nearly always), on an uncompressed column of
//! segment-stored values and a zstd column (Parquet segments). After every gc:
//! - every commit reachable from a branch reads exactly what the model says it held,
//!   and the staged changes read as they did before;
//! - every commit reachable from no branch (a deleted branch's, nothing merged it) is gone;
//! - `verify` finds no problem and nothing unreferenced is left.

use std::collections::{BTreeMap, BTreeSet};

use hangar_core::gc::GcOptions;
use hangar_core::{
    CommitId, ErrorKind, MergeOutcome, ReaderCheckout, Repository, SampleKey, TensorRef,
    WriterCheckout,
};
use proptest::prelude::*;

use crate::model_support::{
    column_values, key, reachable, spec, three_way, value, Commits, Content, COLUMNS,
};
use crate::new_repo;

const BRANCHES: [&str; 4] = ["master", "b1", "b2", "b3"];
#[derive(Debug, Clone)]
enum Op {
    Set(u8, u8, u8),
    Delete(u8, u8),
    Update(u8, Vec<(u8, u8)>),
    Bulk(u8, Vec<(u8, u8)>),
    Commit,
    Reset,
    Switch(u8),
    RemoveBranch(u8),
    Merge(u8),
    Reopen,
    Gc(u8),
    GcDryRun,
    Hold(u8),
    Release,
    Carry(u8),
}

/// Changes to the staging area.
fn change() -> impl Strategy<Value = Op> {
    let items = || prop::collection::vec((0u8..48, any::<u8>()), 1..24);
    prop_oneof![
        6 => (0u8..2, 0u8..48, any::<u8>()).prop_map(|(c, k, s)| Op::Set(c, k, s)),
        2 => (0u8..2, 0u8..48).prop_map(|(c, k)| Op::Delete(c, k)),
        2 => (0u8..2, items()).prop_map(|(c, i)| Op::Update(c, i)),
        1 => (0u8..2, items()).prop_map(|(c, i)| Op::Bulk(c, i)),
        1 => (0u8..4).prop_map(Op::Carry),
    ]
}

/// What ends a round of changes.
fn end() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => Just(Op::Commit),
        1 => Just(Op::Reset),
        3 => (0u8..8).prop_map(Op::RemoveBranch),
        3 => (0u8..4).prop_map(Op::Merge),
        1 => Just(Op::Reopen),
        3 => (0u8..3).prop_map(Op::Gc),
        1 => Just(Op::GcDryRun),
        1 => any::<u8>().prop_map(Op::Hold),
        1 => Just(Op::Release),
    ]
}

/// Rounds: onto a branch (made when missing), a few changes, one to three endings.
fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        (
            0u8..4,
            prop::collection::vec(change(), 0..6),
            prop::collection::vec(end(), 1..4),
        ),
        1..24,
    )
    .prop_map(|rounds| {
        rounds
            .into_iter()
            .flat_map(|(b, changes, ends)| {
                std::iter::once(Op::Switch(b)).chain(changes).chain(ends)
            })
            .collect()
    })
}

struct Model {
    /// Branch → head.
    heads: BTreeMap<String, CommitId>,
    /// Every commit made.
    commits: Commits,
    /// The writer's branch and what its staging area holds.
    branch: String,
    staged: Content,
    /// (column, key) of every set or delete since the staging area was last clean: what
    /// a switch that takes staged changes along checks at the other branch's head.
    touched: BTreeSet<(usize, SampleKey)>,
}

impl Model {
    fn head_content(&self) -> &Content {
        &self.commits[&self.heads[&self.branch]].1
    }

    fn dirty(&self) -> bool {
        &self.staged != self.head_content()
    }

    /// The branches other than the writer's.
    fn other_branches(&self) -> Vec<String> {
        self.heads
            .keys()
            .filter(|b| **b != self.branch)
            .cloned()
            .collect()
    }

    fn reachable(&self) -> BTreeSet<CommitId> {
        reachable(&self.commits, self.heads.values().copied())
    }
}

fn set(co: &WriterCheckout, col: u8, k: u8, v: &[u8]) {
    co.column(COLUMNS[usize::from(col)])
        .unwrap()
        .set(key(k), TensorRef::new(v, &[v.len()]))
        .unwrap();
}

/// What the writer's staging area reads.
fn writer_content(co: &WriterCheckout) -> Content {
    COLUMNS.map(|name| column_values(&co.column(name).unwrap()))
}

/// What commit `id` reads, through a reader checkout.
fn commit_content(repo: &Repository, id: &CommitId) -> Content {
    reader_content(&repo.checkout_commit(&id.to_hex()).unwrap())
}

fn reader_content(r: &ReaderCheckout) -> Content {
    COLUMNS.map(|name| column_values(&r.column(name).unwrap()))
}

/// Commits the staging area; NothingToCommit exactly when it holds what the head does.
fn commit(co: &WriterCheckout, model: &mut Model) {
    let dirty = model.dirty();
    match co.commit("step") {
        Ok(id) => {
            assert!(dirty, "a commit of nothing succeeded");
            let parent = model.heads[&model.branch];
            model
                .commits
                .insert(id, (vec![parent], model.staged.clone()));
            model.heads.insert(model.branch.clone(), id);
            model.touched.clear();
        }
        Err(e) => {
            assert!(!dirty, "commit failed: {e}");
            assert_eq!(e.kind(), ErrorKind::NothingToCommit, "{e}");
        }
    }
}

/// After a gc: every reachable commit reads as the model says, and every reader held
/// open through the gc reads its commit as before. With no reader open, every
/// unreachable commit is gone and nothing unreferenced is left; the repository
/// verifies clean either way.
fn check_after_gc(repo: &Repository, model: &Model, held: &[(CommitId, ReaderCheckout)]) {
    let live = model.reachable();
    for (id, r) in held {
        assert_eq!(
            &reader_content(r),
            &model.commits[id].1,
            "held reader of {id}"
        );
    }
    for (id, (_, content)) in &model.commits {
        if live.contains(id) {
            assert_eq!(&commit_content(repo, id), content, "commit {id} after gc");
        } else if held.is_empty() {
            let r = repo.checkout_commit(&id.to_hex());
            assert_eq!(
                r.map(|_| ()).unwrap_err().kind(),
                ErrorKind::NotFound,
                "commit {id} is reachable from no branch, yet gc kept it"
            );
        }
    }
    let report = repo.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert!(
        !held.is_empty() || report.unreferenced.is_empty(),
        "gc left unreferenced files: {:?}",
        report.unreferenced
    );
}

fn run(ops: Vec<Op>) {
    let (dir, mut repo) = new_repo();
    let mut co = repo.checkout_writer().unwrap();
    for (i, name) in COLUMNS.iter().enumerate() {
        co.add_ndarray_column(name, spec(i)).unwrap();
    }
    let mut staged = Content::default();
    for k in 0..4u8 {
        for col in 0..2u8 {
            let v = value(col, k, 0);
            set(&co, col, k, &v);
            staged[usize::from(col)].insert(key(k), v);
        }
    }
    let first = co.commit("first").unwrap();
    let mut model = Model {
        heads: BTreeMap::from([("master".to_string(), first)]),
        commits: BTreeMap::from([(first, (vec![], staged.clone()))]),
        branch: "master".into(),
        staged,
        touched: BTreeSet::new(),
    };
    // Reader checkouts held open across gc runs (and reopenings of the repository).
    let mut held: Vec<(CommitId, ReaderCheckout)> = Vec::new();

    for op in ops {
        match op {
            Op::Set(col, k, seed) => {
                let v = value(col, k, seed);
                set(&co, col, k, &v);
                model.staged[usize::from(col)].insert(key(k), v);
                model.touched.insert((usize::from(col), key(k)));
            }
            Op::Delete(col, k) => {
                let c = co.column(COLUMNS[usize::from(col)]).unwrap();
                match c.delete(key(k)) {
                    Ok(()) => {
                        assert!(model.staged[usize::from(col)].remove(&key(k)).is_some());
                        model.touched.insert((usize::from(col), key(k)));
                    }
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
                        assert!(!model.staged[usize::from(col)].contains_key(&key(k)));
                    }
                }
            }
            Op::Update(col, items) => {
                let vals: Vec<_> = items
                    .iter()
                    .map(|&(k, s)| (key(k), value(col, k, s)))
                    .collect();
                co.column(COLUMNS[usize::from(col)])
                    .unwrap()
                    .update(
                        vals.iter()
                            .map(|(k, v)| (k.clone(), TensorRef::new(v, &[v.len()]))),
                    )
                    .unwrap();
                for (k, _) in &vals {
                    model.touched.insert((usize::from(col), k.clone()));
                }
                model.staged[usize::from(col)].extend(vals);
            }
            Op::Bulk(col, items) => {
                let session = co.bulk().unwrap();
                for (k, s) in items {
                    let v = value(col, k, s);
                    set(&co, col, k, &v);
                    model.staged[usize::from(col)].insert(key(k), v);
                    model.touched.insert((usize::from(col), key(k)));
                }
                session.finish().unwrap();
            }
            Op::Commit => commit(&co, &mut model),
            Op::Reset => match co.reset_staging_area() {
                Ok(head) => {
                    assert_eq!(head, Some(model.heads[&model.branch]));
                    model.staged = model.head_content().clone();
                    model.touched.clear();
                }
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::NothingToCommit, "{e}");
                    assert!(!model.dirty());
                }
            },
            Op::Switch(b) => {
                let name = BRANCHES[usize::from(b)];
                if name == model.branch {
                    continue;
                }
                let engine_dirty = co.status().unwrap().is_dirty();
                assert!(engine_dirty || !model.dirty());
                co.close().unwrap();
                if !model.heads.contains_key(name) {
                    // `git checkout -b`: the staged changes move along (same start).
                    co = repo.checkout_writer_new_branch(name, None).unwrap();
                    let head = model.heads[&model.branch];
                    model.heads.insert(name.to_string(), head);
                    model.branch = name.to_string();
                } else {
                    if engine_dirty {
                        // The original's rule: refused with changes staged on another
                        // branch (and the writer's lock is not kept); commit them first.
                        let e = repo.checkout_writer_branch(name).unwrap_err();
                        assert_eq!(e.kind(), ErrorKind::DirtyStaging, "{e}");
                        co = repo.checkout_writer().unwrap();
                        commit(&co, &mut model);
                        co.close().unwrap();
                    }
                    co = repo.checkout_writer_branch(name).unwrap();
                    model.branch = name.to_string();
                    model.staged = model.head_content().clone();
                    model.touched.clear();
                }
            }
            Op::RemoveBranch(i) => {
                // The i-th branch other than the writer's; i == 7: the writer's own.
                let others = model.other_branches();
                if i == 7 || others.is_empty() {
                    let e = repo.remove_branch(&model.branch, true).unwrap_err();
                    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
                    continue;
                }
                let name = &others[usize::from(i) % others.len()];
                repo.remove_branch(name, true).unwrap();
                model.heads.remove(name);
                assert_eq!(
                    repo.remove_branch(name, true).unwrap_err().kind(),
                    ErrorKind::NotFound
                );
            }
            Op::Merge(i) => {
                // The i-th branch other than the writer's.
                let others = model.other_branches();
                if others.is_empty() {
                    continue;
                }
                let name = others[usize::from(i) % others.len()].as_str();
                if co.status().unwrap().is_dirty() {
                    let e = co.merge("merge", name).unwrap_err();
                    assert_eq!(e.kind(), ErrorKind::DirtyStaging, "{e}");
                    commit(&co, &mut model);
                }
                let ours = model.heads[&model.branch];
                let theirs = model.heads[name];
                match co.merge("merge", name) {
                    Ok(MergeOutcome::UpToDate { head }) => assert_eq!(head, ours),
                    Ok(MergeOutcome::FastForward { to, .. }) => {
                        assert_eq!(to, theirs);
                        model.heads.insert(model.branch.clone(), to);
                        model.staged = model.head_content().clone();
                        model.touched.clear();
                    }
                    Ok(MergeOutcome::Merged { commit, base, .. }) => {
                        let base = base
                            .map(|b| model.commits[&b].1.clone())
                            .unwrap_or_default();
                        let expected =
                            three_way(&base, &model.commits[&ours].1, &model.commits[&theirs].1)
                                .expect("a merge the three-way rules call a conflict succeeded");
                        assert_eq!(commit_content(&repo, &commit), expected);
                        model.commits.insert(commit, (vec![ours, theirs], expected));
                        model.heads.insert(model.branch.clone(), commit);
                        model.staged = model.head_content().clone();
                        model.touched.clear();
                    }
                    Err(e) => assert_eq!(e.kind(), ErrorKind::Conflict, "{e}"),
                }
            }
            Op::Reopen => {
                co.close().unwrap();
                drop(repo);
                repo = Repository::open(dir.path()).unwrap();
                co = repo.checkout_writer().unwrap();
                assert_eq!(co.branch_name().unwrap(), model.branch);
            }
            Op::Gc(t) => {
                // gc takes the writer lock: refused while the writer is open.
                let now = GcOptions {
                    prune_expire: Some(std::time::Duration::ZERO),
                    compact_below: [0.0, 0.5, 0.95][usize::from(t)],
                    ..GcOptions::default()
                };
                assert_eq!(repo.gc(&now).unwrap_err().kind(), ErrorKind::Locked);
                co.close().unwrap();
                let report = repo.gc(&now).unwrap();
                if !held.is_empty() {
                    // Readers open: garbage files stay for the next gc.
                    assert!(report.removed.is_empty(), "{report:?}");
                }
                check_after_gc(&repo, &model, &held);
                co = repo.checkout_writer().unwrap();
            }
            Op::Hold(i) => {
                // A reader of a commit that exists (reachable now; gc may make it not).
                let live: Vec<CommitId> = model.reachable().into_iter().collect();
                let id = live[usize::from(i) % live.len()];
                held.push((id, repo.checkout_commit(&id.to_hex()).unwrap()));
            }
            Op::Release => held.clear(),
            Op::Carry(i) => {
                // git's switch: the staged changes go along when everything they touch
                // is the same at the other head as at theirs.
                let others = model.other_branches();
                if others.is_empty() {
                    continue;
                }
                let name = others[usize::from(i) % others.len()].clone();
                let base = model.head_content().clone();
                let there = model.commits[&model.heads[&name]].1.clone();
                // A touched key set back to its base value may or may not count as a
                // change: such keys that differ there allow either outcome.
                let (mut strict, mut soft) = (false, false);
                for (col, k) in &model.touched {
                    if base[*col].get(k) == there[*col].get(k) {
                        continue;
                    }
                    if model.staged[*col].get(k) == base[*col].get(k) {
                        soft = true;
                    } else {
                        strict = true;
                    }
                }
                co.close().unwrap();
                match repo.switch_writer_branch(&name) {
                    Ok(w) => {
                        assert!(!strict, "switched to {name:?} over a conflicting change");
                        co = w;
                        let mut after = there;
                        for (col, k) in &model.touched {
                            if model.staged[*col].get(k) == base[*col].get(k) {
                                continue; // no change: what is there stays
                            }
                            match model.staged[*col].get(k) {
                                Some(v) => after[*col].insert(k.clone(), v.clone()),
                                None => after[*col].remove(k),
                            };
                        }
                        model.branch = name;
                        model.staged = after;
                    }
                    Err(e) => {
                        assert!(strict || soft, "switch to {name:?} refused: {e}");
                        assert_eq!(e.kind(), ErrorKind::DirtyStaging, "{e}");
                        co = repo.checkout_writer().unwrap();
                        assert_eq!(co.branch_name().unwrap(), model.branch);
                    }
                }
            }
            Op::GcDryRun => {
                co.close().unwrap();
                let before = repo.disk_usage().unwrap();
                let dry = repo
                    .gc(&GcOptions {
                        prune_expire: Some(std::time::Duration::ZERO),
                        dry_run: true,
                        ..GcOptions::default()
                    })
                    .unwrap();
                assert!(dry
                    .removed
                    .iter()
                    .chain(&dry.rewritten)
                    .all(|f| f.path.exists()));
                assert_eq!(repo.disk_usage().unwrap(), before);
                co = repo.checkout_writer().unwrap();
            }
        }
        assert_eq!(writer_content(&co), model.staged);
    }
    co.close().unwrap();
    for (id, r) in &held {
        assert_eq!(
            &reader_content(r),
            &model.commits[id].1,
            "held reader of {id}"
        );
    }
    held.clear();
    // A last gc, then every branch's history and the staging area once more.
    repo.gc(&GcOptions {
        prune_expire: Some(std::time::Duration::ZERO),
        ..GcOptions::default()
    })
    .unwrap();
    check_after_gc(&repo, &model, &[]);
    let co = repo.checkout_writer().unwrap();
    assert_eq!(writer_content(&co), model.staged);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, max_shrink_iters: 400, ..ProptestConfig::default() })]
    #[test]
    fn gc_keeps_exactly_what_branches_and_staged_changes_reach(
        ops in ops()
    ) {
        run(ops);
    }
}

/// The first sequence this test found (shrunk): the value a commit on master stores is
/// condemned by a gc that defers (a reader is open), then put again under another key.
/// Before puts and packs deduplicated by the live index runs only, the new commit
/// referred to the condemned copy, and after the next gc no index located it.
#[test]
fn a_value_condemned_by_a_deferring_gc_and_put_again() {
    use Op::*;
    run(vec![
        Switch(1),
        Commit,
        Switch(0),
        Commit,
        Switch(0),
        Update(0, vec![(18, 175)]),
        Commit,
        Switch(0),
        Commit,
        Switch(1),
        RemoveBranch(0),
        Switch(0),
        Hold(0),
        Gc(0),
        Switch(0),
        Update(0, vec![(8, 169)]),
        Commit,
    ]);
}

/// The second (shrunk): a value staged again after a deferring gc condemned the file
/// holding it. The next gc, with nothing open, found the reachable value in the
/// condemned file located by no index run and kept the file as possibly the only copy
/// ("a lost index run?"), though the staging journal locates the value's new copy.
#[test]
fn a_condemned_file_whose_value_is_staged_again_is_removed() {
    use Op::*;
    run(vec![
        Switch(1),
        Bulk(0, vec![(19, 240)]),
        Hold(0),
        Switch(0),
        RemoveBranch(0),
        Gc(0),
        Update(0, vec![(26, 125)]),
    ]);
}
