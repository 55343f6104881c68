//! Property test for nested columns (samples of subsamples): random sequences of
//! `set_sample` (replace), `update_sample` and `update_subsamples` (add or replace),
//! `set_subsample`, `delete_subsample`, `pop_subsample`, `delete` and `pop_sample` of
//! whole samples, bulk sessions, commits, resets and reopenings, against a model of
//! sample → subsample → value in which empty samples persist until deleted. The writer
//! reads as the model after every step (keys, counts, every subsample), and every
//! commit reads back exactly at the end; a diff of consecutive commits names exactly
//! the samples whose subsamples changed.

use std::collections::{BTreeMap, BTreeSet};

use hangar_core::{
    Column, DType, ErrorKind, NdArraySpec, RecordSource, SampleKey, TensorRef, Value,
};
use proptest::prelude::*;

use crate::new_repo;

type Sample = BTreeMap<SampleKey, Vec<u8>>;
type Model = BTreeMap<SampleKey, Sample>;

#[derive(Debug, Clone)]
enum Op {
    SetSample(u8, Vec<(u8, u8)>),
    UpdateSample(u8, Vec<(u8, u8)>),
    UpdateSubsamples(Vec<(u8, u8, u8)>),
    SetSub(u8, u8, u8),
    DeleteSub(u8, u8),
    PopSub(u8, u8),
    DeleteSample(u8),
    PopSample(u8),
    Bulk(Vec<(u8, u8, u8)>),
    Commit,
    Reset,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let subs = || prop::collection::vec((0u8..6, any::<u8>()), 0..5);
    prop_oneof![
        2 => (0u8..8, subs()).prop_map(|(k, s)| Op::SetSample(k, s)),
        2 => (0u8..8, subs()).prop_map(|(k, s)| Op::UpdateSample(k, s)),
        1 => prop::collection::vec((0u8..8, 0u8..6, any::<u8>()), 1..6)
            .prop_map(Op::UpdateSubsamples),
        4 => (0u8..8, 0u8..6, any::<u8>()).prop_map(|(k, s, v)| Op::SetSub(k, s, v)),
        2 => (0u8..8, 0u8..6).prop_map(|(k, s)| Op::DeleteSub(k, s)),
        1 => (0u8..8, 0u8..6).prop_map(|(k, s)| Op::PopSub(k, s)),
        1 => (0u8..8).prop_map(Op::DeleteSample),
        1 => (0u8..8).prop_map(Op::PopSample),
        1 => prop::collection::vec((0u8..8, 0u8..6, any::<u8>()), 1..10).prop_map(Op::Bulk),
        3 => Just(Op::Commit),
        1 => Just(Op::Reset),
        1 => Just(Op::Reopen),
    ]
}

fn key(k: u8) -> SampleKey {
    if k.is_multiple_of(2) {
        SampleKey::Int(u64::from(k))
    } else {
        SampleKey::Str(format!("s{k}"))
    }
}

fn sub(s: u8) -> SampleKey {
    if s.is_multiple_of(3) {
        SampleKey::Int(u64::from(s))
    } else {
        SampleKey::Str(format!("sub{s}"))
    }
}

/// 1 to 120 bytes: short ones inline in their records, long ones in segments.
fn value(seed: u8) -> Vec<u8> {
    let len = 1 + usize::from(seed) % 120;
    (0..len)
        .map(|j| seed ^ (j as u8).wrapping_mul(13))
        .collect()
}

fn bytes(v: Value) -> Vec<u8> {
    v.into_tensor().unwrap().as_bytes().to_vec()
}

fn subsamples(items: &[(u8, u8)]) -> Vec<(SampleKey, Vec<u8>)> {
    items.iter().map(|&(s, v)| (sub(s), value(v))).collect()
}

fn refs(items: &[(SampleKey, Vec<u8>)]) -> Vec<(SampleKey, TensorRef<'_>)> {
    items
        .iter()
        .map(|(s, v)| (s.clone(), TensorRef::new(v, &[v.len()])))
        .collect()
}

/// What a nested column reads (the writer's or a commit's), with its keys, counts and
/// subsample keys checked against the samples.
fn column_model<S: RecordSource>(c: &Column<S>) -> Model {
    let mut out = Model::new();
    for k in c.keys().unwrap() {
        let k = k.unwrap();
        let sample = c.get_sample(k.clone()).unwrap();
        assert_eq!(
            c.subsample_keys(k.clone()).unwrap(),
            sample.keys().cloned().collect::<Vec<_>>()
        );
        out.insert(k, sample.into_iter().map(|(s, v)| (s, bytes(v))).collect());
    }
    assert_eq!(c.len().unwrap(), out.len());
    assert_eq!(
        c.num_subsamples().unwrap(),
        out.values().map(BTreeMap::len).sum::<usize>()
    );
    out
}

fn run(ops: Vec<Op>) {
    let (_dir, repo) = new_repo();
    let mut co = repo.checkout_writer().unwrap();
    co.add_ndarray_column(
        "n",
        NdArraySpec::with_shape(DType::U8, &[120])
            .variable_shape(true)
            .contains_subsamples(true),
    )
    .unwrap();
    co.commit("the column").unwrap();
    let mut model = Model::new();
    let mut head = Model::new();
    let mut commits = vec![(repo.branch_head("master").unwrap().unwrap(), Model::new())];

    for op in ops {
        let c = co.column("n").unwrap();
        match op {
            Op::SetSample(k, items) => {
                let items = subsamples(&items);
                c.set_sample(key(k), refs(&items)).unwrap();
                model.insert(key(k), items.into_iter().collect());
            }
            Op::UpdateSample(k, items) => {
                let items = subsamples(&items);
                c.update_sample(key(k), refs(&items)).unwrap();
                model.entry(key(k)).or_default().extend(items);
            }
            Op::UpdateSubsamples(items) => {
                let items: Vec<(SampleKey, SampleKey, Vec<u8>)> = items
                    .iter()
                    .map(|&(k, s, v)| (key(k), sub(s), value(v)))
                    .collect();
                c.update_subsamples(
                    items
                        .iter()
                        .map(|(k, s, v)| (k.clone(), s.clone(), TensorRef::new(v, &[v.len()]))),
                )
                .unwrap();
                for (k, s, v) in items {
                    model.entry(k).or_default().insert(s, v);
                }
            }
            Op::SetSub(k, s, v) => {
                let v = value(v);
                c.set_subsample(key(k), sub(s), TensorRef::new(&v, &[v.len()]))
                    .unwrap();
                model.entry(key(k)).or_default().insert(sub(s), v);
            }
            Op::DeleteSub(k, s) => match c.delete_subsample(key(k), sub(s)) {
                Ok(()) => {
                    assert!(model.get_mut(&key(k)).unwrap().remove(&sub(s)).is_some());
                }
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
                    assert!(!model.get(&key(k)).is_some_and(|m| m.contains_key(&sub(s))));
                }
            },
            Op::PopSub(k, s) => match c.pop_subsample(key(k), sub(s)) {
                Ok(v) => {
                    let want = model.get_mut(&key(k)).unwrap().remove(&sub(s)).unwrap();
                    assert_eq!(bytes(v), want);
                }
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
                    assert!(!model.get(&key(k)).is_some_and(|m| m.contains_key(&sub(s))));
                }
            },
            Op::DeleteSample(k) => match c.delete(key(k)) {
                Ok(()) => assert!(model.remove(&key(k)).is_some()),
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
                    assert!(!model.contains_key(&key(k)));
                }
            },
            Op::PopSample(k) => match c.pop_sample(key(k)) {
                Ok(sample) => {
                    let want = model.remove(&key(k)).unwrap();
                    let got: Sample = sample.into_iter().map(|(s, v)| (s, bytes(v))).collect();
                    assert_eq!(got, want);
                }
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
                    assert!(!model.contains_key(&key(k)));
                }
            },
            Op::Bulk(items) => {
                let session = co.bulk().unwrap();
                for (k, s, v) in items {
                    let v = value(v);
                    c.set_subsample(key(k), sub(s), TensorRef::new(&v, &[v.len()]))
                        .unwrap();
                    model.entry(key(k)).or_default().insert(sub(s), v);
                }
                session.finish().unwrap();
            }
            Op::Commit => match co.commit("step") {
                Ok(id) => {
                    assert_ne!(model, head, "a commit of nothing succeeded");
                    head = model.clone();
                    commits.push((id, model.clone()));
                }
                Err(e) => {
                    assert_eq!(model, head, "commit failed: {e}");
                    assert_eq!(e.kind(), ErrorKind::NothingToCommit, "{e}");
                }
            },
            Op::Reset => match co.reset_staging_area() {
                Ok(_) => model = head.clone(),
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::NothingToCommit, "{e}");
                    assert_eq!(model, head);
                }
            },
            Op::Reopen => {
                drop(c);
                co.close().unwrap();
                co = repo.checkout_writer().unwrap();
            }
        }
        assert_eq!(column_model(&co.column("n").unwrap()), model);
    }
    co.close().unwrap();

    for (id, want) in &commits {
        let r = repo.checkout_commit(&id.to_hex()).unwrap();
        assert_eq!(&column_model(&r.column("n").unwrap()), want, "commit {id}");
    }
    for pair in commits.windows(2) {
        let ((a, ma), (b, mb)) = (&pair[0], &pair[1]);
        let d = repo.diff_commits(*a, *b).unwrap();
        let mut changed: BTreeSet<(SampleKey, Option<SampleKey>)> = BTreeSet::new();
        if let Some(cd) = d.column("n") {
            for k in cd.added.iter().chain(&cd.deleted).chain(&cd.mutated) {
                changed.insert((k.sample.clone(), k.subsample.clone()));
            }
        }
        // Each subsample added, deleted or changed, and each empty sample made or
        // removed, names its sample.
        let samples: BTreeSet<&SampleKey> = changed.iter().map(|(s, _)| s).collect();
        let want: BTreeSet<&SampleKey> = ma
            .keys()
            .chain(mb.keys())
            .filter(|k| ma.get(*k) != mb.get(*k))
            .collect();
        assert_eq!(samples, want, "diff {a}..{b}");
    }
    let report = repo.verify().unwrap();
    assert!(report.is_ok(), "{report}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, max_shrink_iters: 300, ..ProptestConfig::default() })]
    #[test]
    fn nested_columns_match_a_model(ops in prop::collection::vec(op(), 1..48)) {
        run(ops);
    }
}
