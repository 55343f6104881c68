//! Property test: random changes on two branches from a common base, then a merge. After
//! a successful merge every key holds what the three-way rules say; after a conflict the
//! reported keys are exactly the conflicting ones and both heads are unchanged.

use std::collections::{BTreeMap, BTreeSet};

use hangar_core::{
    ConflictScope, DType, Error, MergeOutcome, NdArraySpec, Repository, SampleKey, TensorRef,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Set(u8, u8),
    Delete(u8),
    Meta(u8, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..10, 0u8..4).prop_map(|(k, v)| Op::Set(k, v)),
        2 => (0u8..10).prop_map(Op::Delete),
        1 => (0u8..3, 0u8..3).prop_map(|(k, v)| Op::Meta(k, v)),
    ]
}

type State = (BTreeMap<u8, u8>, BTreeMap<u8, u8>);

fn apply(repo: &Repository, branch: &str, ops: &[Op], mut state: State) -> State {
    let co = repo.checkout_writer_branch(branch).unwrap();
    let c = co.column("c").unwrap();
    for op in ops {
        match *op {
            Op::Set(k, v) => {
                c.set(u64::from(k), TensorRef::new(&[v], &[1])).unwrap();
                state.0.insert(k, v);
            }
            Op::Delete(k) => {
                if state.0.remove(&k).is_some() {
                    c.delete(u64::from(k)).unwrap();
                }
            }
            Op::Meta(k, v) => {
                co.metadata().set(&format!("m{k}"), &v.to_string()).unwrap();
                state.1.insert(k, v);
            }
        }
    }
    match co.commit("changes") {
        Ok(_) => {}
        Err(e) => assert_eq!(e.kind(), hangar_core::ErrorKind::NothingToCommit, "{e}"),
    }
    co.close().unwrap();
    state
}

/// The three-way rule for one key; Err(()) for a conflict.
fn three_way(b: Option<u8>, o: Option<u8>, t: Option<u8>) -> Result<Option<u8>, ()> {
    if o == t {
        Ok(o)
    } else if o == b {
        Ok(t)
    } else if t == b {
        Ok(o)
    } else {
        Err(())
    }
}

fn expected(
    base: &BTreeMap<u8, u8>,
    ours: &BTreeMap<u8, u8>,
    theirs: &BTreeMap<u8, u8>,
) -> (BTreeMap<u8, u8>, BTreeSet<u8>) {
    let keys: BTreeSet<u8> = base
        .keys()
        .chain(ours.keys())
        .chain(theirs.keys())
        .copied()
        .collect();
    let (mut merged, mut conflicts) = (BTreeMap::new(), BTreeSet::new());
    for k in keys {
        match three_way(
            base.get(&k).copied(),
            ours.get(&k).copied(),
            theirs.get(&k).copied(),
        ) {
            Ok(Some(v)) => {
                merged.insert(k, v);
            }
            Ok(None) => {}
            Err(()) => {
                conflicts.insert(k);
            }
        }
    }
    (merged, conflicts)
}

fn run(base_vals: Vec<u8>, ours_ops: Vec<Op>, theirs_ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path(), "P", "p@x", false).unwrap();
    let co = repo.checkout_writer().unwrap();
    let c = co
        .add_ndarray_column("c", NdArraySpec::with_shape(DType::U8, &[1]))
        .unwrap();
    let mut base: State = Default::default();
    for (k, v) in base_vals.iter().enumerate() {
        c.set(k as u64, TensorRef::new(&[*v], &[1])).unwrap();
        base.0.insert(k as u8, *v);
    }
    co.metadata().set("m0", "0").unwrap();
    base.1.insert(0, 0);
    let base_id = co.commit("base").unwrap();
    co.close().unwrap();
    repo.create_branch("dev", None).unwrap();
    let ours = apply(&repo, "master", &ours_ops, base.clone());
    let theirs = apply(&repo, "dev", &theirs_ops, base.clone());
    let (master_head, dev_head) = (
        repo.branch_head("master").unwrap(),
        repo.branch_head("dev").unwrap(),
    );
    let (want, conflicts) = expected(&base.0, &ours.0, &theirs.0);
    let (want_meta, meta_conflicts) = expected(&base.1, &ours.1, &theirs.1);
    match repo.merge("merge", "master", "dev") {
        Ok(out) => {
            assert!(
                conflicts.is_empty() && meta_conflicts.is_empty(),
                "expected conflicts {conflicts:?} {meta_conflicts:?}"
            );
            match out {
                MergeOutcome::UpToDate { .. } => assert_eq!(
                    dev_head,
                    Some(base_id),
                    "up to date only if dev gained no commit"
                ),
                MergeOutcome::FastForward { .. } => assert_eq!(master_head, Some(base_id)),
                MergeOutcome::Merged { commit, .. } => {
                    assert_eq!(
                        repo.commit_info(&commit).unwrap().parents,
                        vec![master_head.unwrap(), dev_head.unwrap()]
                    );
                }
            }
            let r = repo.checkout_branch("master").unwrap();
            let col = r.column("c").unwrap();
            let got: BTreeMap<u8, u8> = col
                .items()
                .unwrap()
                .map(|i| {
                    let (k, v) = i.unwrap();
                    let SampleKey::Int(k) = k else { panic!() };
                    (k as u8, v.into_tensor().unwrap().as_bytes()[0])
                })
                .collect();
            assert_eq!(got, want);
            assert_eq!(col.len().unwrap(), want.len());
            let meta: BTreeMap<u8, u8> = r
                .metadata()
                .keys()
                .unwrap()
                .into_iter()
                .map(|k| {
                    (
                        k[1..].parse().unwrap(),
                        r.metadata().get(&k).unwrap().parse().unwrap(),
                    )
                })
                .collect();
            assert_eq!(meta, want_meta);
        }
        Err(Error::MergeConflict(report)) => {
            let got: BTreeSet<u8> = report
                .conflicts
                .iter()
                .filter_map(|c| match &c.scope {
                    ConflictScope::Sample { key, .. } => Some(key.parse().unwrap()),
                    _ => None,
                })
                .collect();
            let got_meta: BTreeSet<u8> = report
                .conflicts
                .iter()
                .filter_map(|c| match &c.scope {
                    ConflictScope::Metadata { key } => Some(key[1..].parse().unwrap()),
                    _ => None,
                })
                .collect();
            assert_eq!((got, got_meta), (conflicts, meta_conflicts));
            assert_eq!(repo.branch_head("master").unwrap(), master_head);
            assert_eq!(repo.branch_head("dev").unwrap(), dev_head);
        }
        Err(e) => panic!("merge failed: {e}"),
    }
    assert!(repo.verify().unwrap().is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, max_shrink_iters: 300, ..ProptestConfig::default() })]
    #[test]
    fn merges_follow_the_three_way_rules(
        base in prop::collection::vec(0u8..4, 0..8),
        ours in prop::collection::vec(op(), 0..10),
        theirs in prop::collection::vec(op(), 0..10),
    ) {
        run(base, ours, theirs);
    }
}
