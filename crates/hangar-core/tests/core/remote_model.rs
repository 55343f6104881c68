//! Property test for remotes: two repositories share a `file://` remote — the one that
//! made it, and a clone (with or without data) — and take random turns: commits of
//! changes, pushes, pulls (fetch + merge), fetch-data of the whole history, gc with
//! `--prune=now`, reopenings. A model says what every commit holds, where each branch
//! and tracking ref is, and which pushes must be refused.
//! - A push succeeds exactly when it loses no remote commit (the remote's head is
//!   unknown, the same, or an ancestor of ours); a pull fast-forwards or merges by the
//!   three-way rules against the base it reports, or refuses a conflict.
//! - Every commit a repository has reads as the model says, value by value; a value may
//!   be `NotFetched` only where the repository's copy of that history is partial.
//! - `verify` stays clean on both sides, and at the end a clone with data of the remote
//!   reads the remote head's whole history exactly.

use std::collections::{BTreeMap, BTreeSet};

use hangar_core::gc::GcOptions;
use hangar_core::{
    CommitId, ErrorKind, FetchDataOptions, MergeOutcome, RemoteSpec, Repository, SampleKey,
    TensorRef,
};
use proptest::prelude::*;

use crate::model_support::{key, reachable, spec, three_way, value, Commits, Content, COLUMNS};
use crate::new_repo;
use crate::remotes::clone;

#[derive(Debug, Clone)]
enum Op {
    /// Site, changes (column, key, seed; seed 0 deletes), commit.
    Commit(u8, Vec<(u8, u8, u8)>),
    Push(u8),
    Pull(u8),
    FetchData(u8),
    Gc(u8),
    Reopen(u8),
}

fn op() -> impl Strategy<Value = Op> {
    let site = || 0u8..2;
    prop_oneof![
        6 => (site(), prop::collection::vec((0u8..2, 0u8..32, any::<u8>()), 1..8))
            .prop_map(|(s, c)| Op::Commit(s, c)),
        4 => site().prop_map(Op::Push),
        4 => site().prop_map(Op::Pull),
        1 => site().prop_map(Op::FetchData),
        2 => site().prop_map(Op::Gc),
        1 => site().prop_map(Op::Reopen),
    ]
}

/// One repository as the model sees it.
struct Site {
    dir: tempfile::TempDir,
    repo: Repository,
    head: CommitId,
    /// `origin/master` as this repository last saw it.
    tracking: Option<CommitId>,
    /// Every value of `head`'s history is here (made here, cloned or fetched with data).
    complete: bool,
}

struct World {
    commits: Commits,
    sites: [Site; 2],
    /// The remote's master.
    remote: CommitId,
}

impl World {
    fn ancestors(&self, of: CommitId) -> BTreeSet<CommitId> {
        reachable(&self.commits, [of])
    }
}

/// Checks commit `id` of `repo` value by value; `NotFetched` is allowed when `partial`.
fn check_commit(repo: &Repository, id: &CommitId, want: &Content, partial: bool) {
    let r = repo.checkout_commit(&id.to_hex()).unwrap();
    for (i, name) in COLUMNS.iter().enumerate() {
        let c = r.column(name).unwrap();
        let keys: Vec<SampleKey> = c.keys().unwrap().map(|k| k.unwrap()).collect();
        assert_eq!(
            keys,
            want[i].keys().cloned().collect::<Vec<_>>(),
            "keys of {name} at {id}"
        );
        for (k, v) in &want[i] {
            match c.get(k.clone()) {
                Ok(got) => assert_eq!(
                    got.into_tensor().unwrap().as_bytes(),
                    v.as_slice(),
                    "{name}[{k:?}] at {id}"
                ),
                Err(e) if partial && e.kind() == ErrorKind::NotFetched => {}
                Err(e) => panic!("{name}[{k:?}] at {id}: {e}"),
            }
        }
    }
}

fn check_site(world: &World, s: usize) {
    let site = &world.sites[s];
    let strict = world.ancestors(site.head);
    let mut all = strict.clone();
    if let Some(t) = site.tracking {
        all.extend(world.ancestors(t));
    }
    for id in &all {
        let partial = !(site.complete && strict.contains(id));
        check_commit(&site.repo, id, &world.commits[id].1, partial);
    }
    let report = site.repo.verify().unwrap();
    assert!(report.is_ok(), "site {s}: {report}");
}

fn run(clone_with_data: bool, ops: Vec<Op>) {
    let remote_dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", remote_dir.path().display());
    let (dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let mut first = Content::default();
    for (i, name) in COLUMNS.iter().enumerate() {
        let c = co.add_ndarray_column(name, spec(i)).unwrap();
        for k in 0..4u8 {
            let v = value(i as u8, k, 1);
            c.set(key(k), TensorRef::new(&v, &[v.len()])).unwrap();
            first[i].insert(key(k), v);
        }
    }
    let c0 = co.commit("first").unwrap();
    co.close().unwrap();
    repo.add_remote(&RemoteSpec::new("origin", &url)).unwrap();
    repo.push("origin", "master").unwrap();
    let (bdir, brepo) = clone(&url, clone_with_data);
    let mut world = World {
        commits: BTreeMap::from([(c0, (vec![], first))]),
        sites: [
            Site {
                dir,
                repo,
                head: c0,
                tracking: Some(c0),
                complete: true,
            },
            Site {
                dir: bdir,
                repo: brepo,
                head: c0,
                tracking: Some(c0),
                complete: clone_with_data,
            },
        ],
        remote: c0,
    };
    check_site(&world, 1);

    for op in ops {
        let s = match op {
            Op::Commit(s, _)
            | Op::Push(s)
            | Op::Pull(s)
            | Op::FetchData(s)
            | Op::Gc(s)
            | Op::Reopen(s) => usize::from(s),
        };
        match op {
            Op::Commit(_, changes) => {
                let head = world.sites[s].head;
                let mut content = world.commits[&head].1.clone();
                let co = world.sites[s].repo.checkout_writer().unwrap();
                for (col, k, seed) in changes {
                    let c = co.column(COLUMNS[usize::from(col)]).unwrap();
                    let m = &mut content[usize::from(col)];
                    if seed == 0 {
                        match c.delete(key(k)) {
                            Ok(()) => assert!(m.remove(&key(k)).is_some()),
                            Err(e) => {
                                assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
                                assert!(!m.contains_key(&key(k)));
                            }
                        }
                    } else {
                        let v = value(col, k, seed);
                        c.set(key(k), TensorRef::new(&v, &[v.len()])).unwrap();
                        m.insert(key(k), v);
                    }
                }
                if content == world.commits[&head].1 {
                    let e = co.commit("nothing").unwrap_err();
                    assert_eq!(e.kind(), ErrorKind::NothingToCommit, "{e}");
                } else {
                    let id = co.commit("change").unwrap();
                    world.commits.insert(id, (vec![head], content));
                    world.sites[s].head = id;
                }
                co.close().unwrap();
            }
            Op::Push(_) => {
                let ours = world.sites[s].head;
                let theirs = world.remote;
                let loses_nothing = world.ancestors(ours).contains(&theirs);
                match world.sites[s].repo.push("origin", "master") {
                    Ok(r) => {
                        if loses_nothing {
                            assert_eq!(r.head, ours);
                            assert_eq!(r.up_to_date, ours == theirs, "{r}");
                            world.remote = ours;
                            world.sites[s].tracking = Some(ours);
                        } else {
                            // Behind the remote: nothing to push, nothing changed.
                            assert!(world.ancestors(theirs).contains(&ours), "{r}");
                            assert_eq!(r.head, theirs, "{r}");
                        }
                    }
                    Err(e) => {
                        assert!(!loses_nothing, "push refused: {e}");
                        assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
                    }
                }
            }
            Op::Pull(_) => {
                let ours = world.sites[s].head;
                let theirs = world.remote;
                match world.sites[s].repo.pull("origin", "master", "pull") {
                    Ok((fetched, outcome)) => {
                        assert_eq!(fetched.branches, vec![("master".to_string(), theirs)]);
                        world.sites[s].tracking = Some(theirs);
                        match outcome {
                            MergeOutcome::UpToDate { head } => {
                                assert_eq!(head, ours);
                                assert!(world.ancestors(ours).contains(&theirs));
                            }
                            MergeOutcome::FastForward { to, .. } => {
                                assert_eq!(to, theirs);
                                assert!(world.ancestors(theirs).contains(&ours));
                                world.sites[s].head = theirs;
                                world.sites[s].complete = false;
                            }
                            MergeOutcome::Merged { commit, base, .. } => {
                                let base = base
                                    .map(|b| world.commits[&b].1.clone())
                                    .unwrap_or_default();
                                let merged = three_way(
                                    &base,
                                    &world.commits[&ours].1,
                                    &world.commits[&theirs].1,
                                )
                                .expect("a merge the three-way rules call a conflict succeeded");
                                world.commits.insert(commit, (vec![ours, theirs], merged));
                                world.sites[s].head = commit;
                                world.sites[s].complete = false;
                            }
                        }
                    }
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
                        // The fetch happened; the branch did not move.
                        world.sites[s].tracking = Some(theirs);
                        let site = &world.sites[s];
                        assert_eq!(site.repo.branch_head("master").unwrap(), Some(ours));
                    }
                }
            }
            Op::FetchData(_) => {
                let opts = FetchDataOptions {
                    history: true,
                    ..FetchDataOptions::default()
                };
                // Every value missing here came with a pull, so the remote has it.
                world.sites[s]
                    .repo
                    .fetch_data("origin", "master", &opts)
                    .unwrap();
                world.sites[s].complete = true;
            }
            Op::Gc(_) => {
                let r = world.sites[s]
                    .repo
                    .gc(&GcOptions {
                        prune_expire: Some(std::time::Duration::ZERO),
                        compact_below: 0.9,
                        ..GcOptions::default()
                    })
                    .unwrap();
                assert!(r.kept.is_empty(), "{r:?}");
            }
            Op::Reopen(_) => {
                let path = world.sites[s].dir.path().to_path_buf();
                world.sites[s].repo = Repository::open(&path).unwrap();
            }
        }
        assert_eq!(
            world.sites[s].repo.branch_head("master").unwrap(),
            Some(world.sites[s].head)
        );
        check_site(&world, s);
    }

    // The remote holds the whole history of its head: a clone with data reads it all.
    let (_cdir, copy) = clone(&url, true);
    assert_eq!(copy.branch_head("master").unwrap(), Some(world.remote));
    for id in world.ancestors(world.remote) {
        check_commit(&copy, &id, &world.commits[&id].1, false);
    }
    let report = copy.verify().unwrap();
    assert!(report.is_ok(), "{report}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 300, ..ProptestConfig::default() })]
    #[test]
    fn remotes_replicate_exactly_and_refuse_what_would_lose_commits(
        clone_with_data in any::<bool>(),
        ops in prop::collection::vec(op(), 1..30),
    ) {
        run(clone_with_data, ops);
    }
}
