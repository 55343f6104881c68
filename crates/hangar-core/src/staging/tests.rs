//! Unit tests of the staging area.

use super::*;

#[test]
fn changes_round_trip() {
    let all = vec![
        Change::ColumnCreate {
            name: "c".into(),
            schema: ColumnSchema::str(),
        },
        Change::ColumnDelete { name: "c".into() },
        Change::Put {
            column: "c".into(),
            entries: [(vec![1, 2], vec![3; 32])].into_iter().collect(),
        },
        Change::Delete {
            column: "c".into(),
            key: vec![1],
        },
        Change::MetaPut {
            key: "k".into(),
            value: "v".into(),
        },
        Change::MetaDelete { key: "k".into() },
        Change::Apply {
            column: "c".into(),
            entries: vec![
                (vec![1], Some(vec![])),
                (vec![2, 3], None),
                (vec![4], Some(vec![5; 33])),
            ],
        },
    ];
    for c in all {
        let enc = c.encode();
        assert_eq!(Change::decode(&enc).unwrap(), c);
        for cut in 0..enc.len() {
            assert!(Change::decode(&enc[..cut]).is_err());
        }
        // The borrowed decoding of a put gives the same column and entries, and
        // nothing for other changes; a cut put is an error, as with decode.
        match (&c, Change::decode_put(&enc).unwrap()) {
            (Change::Put { column, entries }, Some((col, borrowed))) => {
                assert_eq!(col, column);
                assert_eq!(&borrowed.into_owned(), entries);
                for cut in 1..enc.len() {
                    assert!(Change::decode_put(&enc[..cut]).is_err());
                }
                let mut longer = enc.clone();
                longer.push(0);
                assert!(Change::decode_put(&longer).is_err());
            }
            (Change::Put { .. }, None) => panic!("a put decodes as one"),
            (_, Some(_)) => panic!("{c:?} is not a put"),
            (_, None) => {}
        }
    }
    // A change larger than a record is split into changes that do the same applied
    // in order, each within the limit.
    let big = Change::Put {
        column: "c".into(),
        entries: (0u32..1000)
            .map(|i| (i.to_be_bytes().to_vec(), vec![i as u8; 40]))
            .collect(),
    };
    let parts = big.encode_parts(4096);
    assert!(parts.len() > 10 && parts.iter().all(|p| p.len() <= 4096 + 64));
    let mut again = Puts::default();
    for p in &parts {
        let (col, puts) = Change::decode_put(p).unwrap().unwrap();
        assert_eq!(col, "c");
        puts.iter().for_each(|(k, r)| again.push(k, r));
    }
    assert_eq!(
        Change::Put {
            column: "c".into(),
            entries: again
        },
        big
    );
    assert_eq!(big.encode_parts(1 << 20), vec![big.encode()]);
    let apply = Change::Apply {
        column: "c".into(),
        entries: (0u32..1000)
            .map(|i| (i.to_be_bytes().to_vec(), (i % 3 != 0).then(|| vec![1; 30])))
            .collect(),
    };
    let parts = apply.encode_parts(2048);
    assert!(parts.len() > 10 && parts.iter().all(|p| p.len() <= 2048 + 64));
    let mut entries = Vec::new();
    for p in &parts {
        match Change::decode(p).unwrap() {
            Change::Apply { column, entries: e } if column == "c" => entries.extend(e),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        Change::Apply {
            column: "c".into(),
            entries
        },
        apply
    );
    // A put as an earlier build journalled it (tag 3, a length-prefixed key and
    // record per entry) still decodes, so its staging area replays.
    let mut e = Encoder::new();
    e.u8(3).str("c").varint(2);
    e.bytes(&[1]).bytes(&[0, 9]).bytes(&[2, 5]).bytes(&[1; 40]);
    let v1 = e.finish();
    let want: Puts<'_> = [(vec![1], vec![0, 9]), (vec![2, 5], vec![1; 40])]
        .into_iter()
        .collect();
    let (col, got) = Change::decode_put(&v1).unwrap().unwrap();
    assert_eq!((col, &got), ("c", &want));
    assert_eq!(
        Change::decode(&v1).unwrap(),
        Change::Put {
            column: "c".into(),
            entries: want
        }
    );
    let b = BaseInfo {
        branch: "master".into(),
        commit: Some(Digest([4; 32])),
    };
    assert_eq!(BaseInfo::decode(&b.encode()).unwrap(), b);
}
