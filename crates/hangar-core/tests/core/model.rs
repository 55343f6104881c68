//! Property test: random set / delete / update / bulk / commit / close-reopen sequences,
//! and the column deleted and made again (with its schema or compressed), match a model
//! dictionary at every step and in every commit, bit for bit.

use std::collections::BTreeMap;

use hangar_core::{
    CommitId, Compression, DType, ErrorKind, NdArraySpec, Repository, SampleKey, TensorRef,
    WriterCheckout,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Set(u8, u8, u8),
    Delete(u8),
    Update(Vec<(u8, u8, u8)>),
    SetText(u8, String),
    Commit,
    Reopen,
    Bulk(Vec<(u8, u8, u8)>),
    ReplaceColumn(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..24, 0u8..9, any::<u8>()).prop_map(|(k, n, b)| Op::Set(k, n, b)),
        2 => (0u8..24).prop_map(Op::Delete),
        1 => prop::collection::vec((0u8..24, 0u8..9, any::<u8>()), 1..6).prop_map(Op::Update),
        1 => (0u8..6, "[a-z é✓]{0,12}").prop_map(|(k, s)| Op::SetText(k, s)),
        2 => Just(Op::Commit),
        1 => Just(Op::Reopen),
        1 => prop::collection::vec((0u8..24, 0u8..9, any::<u8>()), 1..20).prop_map(Op::Bulk),
        1 => any::<bool>().prop_map(Op::ReplaceColumn),
    ]
}

fn key(k: u8) -> SampleKey {
    if k.is_multiple_of(2) {
        SampleKey::Int(u64::from(k))
    } else {
        SampleKey::Str(format!("key.{k}"))
    }
}

fn value(n: u8, b: u8) -> Vec<u8> {
    (0..n).map(|i| b.wrapping_add(i.wrapping_mul(31))).collect()
}

type Model = (BTreeMap<SampleKey, Vec<u8>>, BTreeMap<SampleKey, String>);

fn check_writer(co: &WriterCheckout, model: &Model) {
    let c = co.column("t").unwrap();
    assert_eq!(c.len().unwrap(), model.0.len());
    let keys: Vec<_> = c.keys().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(keys, model.0.keys().cloned().collect::<Vec<_>>());
    for (k, v) in &model.0 {
        let got = c.get(k.clone()).unwrap().into_tensor().unwrap();
        assert_eq!(
            (got.shape(), got.as_bytes()),
            (&[v.len()][..], v.as_slice())
        );
    }
    let s = co.column("s").unwrap();
    assert_eq!(s.len().unwrap(), model.1.len());
    for (k, v) in &model.1 {
        assert_eq!(&s.get(k.clone()).unwrap().into_str().unwrap(), v);
    }
}

fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path(), "P", "p@x", false).unwrap();
    let mut co = repo.checkout_writer().unwrap();
    co.add_ndarray_column(
        "t",
        NdArraySpec::with_shape(DType::U8, &[8]).variable_shape(true),
    )
    .unwrap();
    co.add_str_column("s").unwrap();
    let mut model: Model = Default::default();
    let mut committed: Model = Default::default();
    let mut first = true;
    // Whether "t" is compressed, now and at the last commit; whether it was deleted and
    // made again since then.
    let (mut schema, mut committed_schema, mut replaced) = (false, false, false);
    let mut snapshots: Vec<(CommitId, Model)> = Vec::new();
    for op in ops {
        let t = co.column("t").unwrap();
        match op {
            Op::Set(k, n, b) => {
                let v = value(n, b);
                let r = t.set(key(k), TensorRef::new(&v, &[v.len()]));
                if n <= 8 {
                    r.unwrap();
                    model.0.insert(key(k), v);
                } else {
                    assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidArgument);
                }
            }
            Op::Delete(k) => match t.delete(key(k)) {
                Ok(()) => assert!(model.0.remove(&key(k)).is_some()),
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::NotFound);
                    assert!(!model.0.contains_key(&key(k)));
                }
            },
            Op::Update(items) | Op::Bulk(items) if items.iter().any(|i| i.1 > 8) => {
                let vals: Vec<_> = items
                    .iter()
                    .map(|&(k, n, b)| (key(k), value(n, b)))
                    .collect();
                let r = t.update(
                    vals.iter()
                        .map(|(k, v)| (k.clone(), TensorRef::new(v, &[v.len()]))),
                );
                assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidArgument);
            }
            Op::Update(items) => {
                let vals: Vec<_> = items
                    .iter()
                    .map(|&(k, n, b)| (key(k), value(n, b)))
                    .collect();
                t.update(
                    vals.iter()
                        .map(|(k, v)| (k.clone(), TensorRef::new(v, &[v.len()]))),
                )
                .unwrap();
                model.0.extend(vals);
            }
            Op::Bulk(items) => {
                let session = co.bulk().unwrap();
                for (k, n, b) in items {
                    let v = value(n, b);
                    t.set(key(k), TensorRef::new(&v, &[v.len()])).unwrap();
                    model.0.insert(key(k), v);
                }
                session.finish().unwrap();
            }
            Op::SetText(k, s) => {
                co.column("s").unwrap().set(key(k), s.as_str()).unwrap();
                model.1.insert(key(k), s);
            }
            Op::Commit => {
                let dirty = first || model != committed || schema != committed_schema;
                // A column deleted and made again with the schema it had, holding what
                // it held, may count as a change or not.
                let either = replaced && !dirty;
                match co.commit("step") {
                    Ok(id) => {
                        assert!(dirty || either);
                        snapshots.push((id, model.clone()));
                        committed = model.clone();
                        committed_schema = schema;
                        first = false;
                        replaced = false;
                    }
                    Err(e) => {
                        assert!(!dirty, "commit failed: {e}");
                        assert_eq!(e.kind(), ErrorKind::NothingToCommit);
                    }
                }
            }
            Op::Reopen => {
                co.close().unwrap();
                co = repo.checkout_writer().unwrap();
            }
            Op::ReplaceColumn(compressed) => {
                // Deleted with its samples and made again, empty (the same schema, or
                // one compressed with zstd).
                drop(t);
                co.delete_column("t").unwrap();
                assert_eq!(co.column("t").unwrap_err().kind(), ErrorKind::NotFound);
                let spec = NdArraySpec::with_shape(DType::U8, &[8]).variable_shape(true);
                let spec = if compressed {
                    spec.compression(Compression::Zstd(3))
                } else {
                    spec
                };
                co.add_ndarray_column("t", spec).unwrap();
                model.0.clear();
                // The column's schema is part of what a commit holds.
                replaced = true;
                schema = compressed;
            }
        }
        check_writer(&co, &model);
    }
    co.close().unwrap();
    for (id, m) in &snapshots {
        let r = repo.checkout_commit(&id.to_hex()).unwrap();
        let t = r.column("t").unwrap();
        assert_eq!(t.len().unwrap(), m.0.len());
        let items: BTreeMap<SampleKey, Vec<u8>> = t
            .items()
            .unwrap()
            .map(|i| {
                let (k, v) = i.unwrap();
                (k, v.into_tensor().unwrap().as_bytes().to_vec())
            })
            .collect();
        assert_eq!(&items, &m.0);
        let s = r.column("s").unwrap();
        let texts: BTreeMap<SampleKey, String> = s
            .items()
            .unwrap()
            .map(|i| {
                let (k, v) = i.unwrap();
                (k, v.into_str().unwrap())
            })
            .collect();
        assert_eq!(&texts, &m.1);
    }
    let report = repo.verify().unwrap();
    assert!(report.is_ok(), "{report}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 200, ..ProptestConfig::default() })]
    #[test]
    fn random_operations_match_a_model(ops in prop::collection::vec(op(), 1..40)) {
        run(ops);
    }
}
