//! Unit tests of the record-table tree.

use super::build::{child_is_boundary, key_hash};
use super::*;

/// A node's encoding written the plain way (the reference the builder's flat,
/// incremental encoding must match).
fn encode_node(level: u8, entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut e = Encoder::new();
    e.u8(level).varint(entries.len() as u64);
    for (k, v) in entries {
        e.bytes(k).bytes(v);
    }
    e.finish()
}
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

#[derive(Default)]
struct MemSource(Mutex<HashMap<Digest, Arc<Node>>>);

impl MemSource {
    fn add(&self, objects: Vec<Object>) {
        let mut m = self.0.lock().unwrap();
        for o in objects {
            m.entry(o.digest)
                .or_insert_with(|| Arc::new(Node::decode(o.bytes).unwrap()));
        }
    }
}

impl NodeSource for MemSource {
    fn node(&self, d: &Digest) -> Result<Arc<Node>> {
        self.0
            .lock()
            .unwrap()
            .get(d)
            .cloned()
            .ok_or_else(|| corrupt_tree(d, "missing"))
    }
}

fn k(i: u64) -> Vec<u8> {
    format!("key{i:08}").into_bytes()
}

fn full(src: &MemSource, t: Option<&TreeRef>) -> Vec<(Vec<u8>, Vec<u8>)> {
    TreeIter::new(src, t).collect::<Result<Vec<_>>>().unwrap()
}

#[test]
fn same_keys_same_tree_whatever_the_history() {
    let src = MemSource::default();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> =
        (0..5000).map(|i| (k(i), vec![i as u8; 33])).collect();
    let mut objs = Vec::new();
    let mut tree = build(model.clone(), &mut objs);
    src.add(objs);
    assert!(tree.unwrap().height >= 1);
    let mut rng = 12345u64;
    for round in 0..30 {
        let mut changes = BTreeMap::new();
        for _ in 0..(1 + round * 7) {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = k(rng % 7000);
            let val = if rng.is_multiple_of(3) {
                None
            } else {
                Some(vec![(rng >> 8) as u8; 33])
            };
            changes.insert(key, val);
        }
        for (key, val) in &changes {
            match val {
                Some(v) => model.insert(key.clone(), v.clone()),
                None => model.remove(key),
            };
        }
        let changes: Vec<_> = changes.into_iter().collect();
        let changes: Vec<(&[u8], Option<&[u8]>)> = changes
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_deref()))
            .collect();
        let mut objs = Vec::new();
        tree = update(&src, tree.as_ref(), &changes, &mut objs).unwrap();
        let written = objs.len();
        src.add(objs);
        let mut fresh_objs = Vec::new();
        let fresh = build(model.clone(), &mut fresh_objs);
        assert_eq!(
            tree, fresh,
            "round {round}: incremental tree differs from a fresh build"
        );
        assert!(
            written < fresh_objs.len() || round > 20,
            "round {round}: rewrote {written} of {} nodes",
            fresh_objs.len()
        );
        assert_eq!(
            full(&src, tree.as_ref()),
            model.clone().into_iter().collect::<Vec<_>>()
        );
        for probe in [0, 1, 2500, 6999] {
            assert_eq!(
                lookup(&src, tree.as_ref().unwrap(), &k(probe)).unwrap(),
                model.get(&k(probe)).cloned()
            );
        }
    }
}

#[test]
fn diff_finds_exactly_the_changes_and_reads_few_leaves() {
    let src = Counting::default();
    let mut objs = Vec::new();
    let a = build((0..50_000).map(|i| (k(i), vec![1; 33])), &mut objs);
    src.0.add(objs);
    let keys: Vec<Vec<u8>> = vec![k(5), k(25_000), k(49_999), k(60_000), b"key0".to_vec()];
    let changes: Vec<(&[u8], Option<&[u8]>)> = vec![
        (keys[4].as_slice(), Some(&[7u8; 3][..])), // added (sorts first)
        (keys[0].as_slice(), None),                // deleted
        (keys[1].as_slice(), Some(&[2u8; 33][..])), // mutated
        (keys[2].as_slice(), Some(&[3u8; 33][..])), // mutated
        (keys[3].as_slice(), Some(&[4u8; 33][..])), // added at the end
    ];
    let mut sorted = changes.clone();
    sorted.sort();
    let mut objs = Vec::new();
    let b = update(&src, a.as_ref(), &sorted, &mut objs).unwrap();
    src.0.add(objs);
    src.1.store(0, std::sync::atomic::Ordering::Relaxed);
    let d = diff(&src, a.as_ref(), b.as_ref()).unwrap();
    let reads = src.1.load(std::sync::atomic::Ordering::Relaxed);
    let got: Vec<(Vec<u8>, bool, bool)> = d
        .iter()
        .map(|(k, x, y)| (k.clone(), x.is_some(), y.is_some()))
        .collect();
    assert_eq!(
        got,
        vec![
            (keys[4].clone(), false, true),
            (keys[0].clone(), true, false),
            (keys[1].clone(), true, true),
            (keys[2].clone(), true, true),
            (keys[3].clone(), false, true),
        ]
    );
    // ~780 leaves per side; only the paths to the five changes are read.
    assert!(reads < 40, "{reads} nodes read for a 5-record difference");
    assert!(diff(&src, a.as_ref(), a.as_ref()).unwrap().is_empty());
    let all = diff(&src, None, a.as_ref()).unwrap();
    assert_eq!(all.len(), 50_000);
    assert!(all.iter().all(|(_, x, y)| x.is_none() && y.is_some()));
}

/// Counts node reads.
#[derive(Default)]
struct Counting(MemSource, std::sync::atomic::AtomicUsize);

impl NodeSource for Counting {
    fn node(&self, d: &Digest) -> Result<Arc<Node>> {
        self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.0.node(d)
    }
}

impl Counting {
    fn take(&self) -> usize {
        self.1.swap(0, std::sync::atomic::Ordering::Relaxed)
    }
}

type MakeChanges<'a> = Box<dyn Fn(&mut u64) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> + 'a>;

fn lcg(rng: &mut u64) -> u64 {
    *rng = rng
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *rng >> 17
}

/// Applies `changes` to the model and to the tree, and checks the tree against a
/// fresh build of the model. Returns the new tree.
fn apply_and_check(
    src: &MemSource,
    model: &mut BTreeMap<Vec<u8>, Vec<u8>>,
    tree: Option<TreeRef>,
    changes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    what: &str,
) -> Option<TreeRef> {
    for (key, val) in &changes {
        match val {
            Some(v) => model.insert(key.clone(), v.clone()),
            None => model.remove(key),
        };
    }
    let changes: Vec<(&[u8], Option<&[u8]>)> = changes
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_deref()))
        .collect();
    let mut objs = Vec::new();
    let new = update(src, tree.as_ref(), &changes, &mut objs).unwrap();
    src.add(objs);
    let fresh = build(model.clone(), &mut Vec::new());
    assert_eq!(
        new, fresh,
        "{what}: incremental tree differs from a fresh build"
    );
    new
}

#[test]
fn updates_equal_fresh_builds_at_every_height_and_cut_rule() {
    // (keys, value bytes): a 4-level tree; leaves cut by their byte limit.
    for (n, vlen) in [(150_000u64, 6usize), (2_000, 9_000)] {
        let src = MemSource::default();
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> =
            (0..n).map(|i| (k(i * 2), vec![i as u8; vlen])).collect();
        let mut objs = Vec::new();
        let mut tree = build(model.clone(), &mut objs);
        src.add(objs);
        let mut rng = n ^ 0x5eed;
        let rounds: [(&str, MakeChanges<'_>); 7] = [
            (
                "scattered puts and deletes",
                Box::new(|rng: &mut u64| {
                    (0..40)
                        .map(|_| {
                            let r = lcg(rng);
                            let v = (!r.is_multiple_of(3)).then(|| vec![r as u8; vlen]);
                            (k(r % (n * 2 + 50)), v)
                        })
                        .collect()
                }),
            ),
            (
                "a run of deletes over several leaves",
                Box::new(|rng: &mut u64| {
                    let start = lcg(rng) % n;
                    (start..start + 3000.min(n / 3))
                        .map(|i| (k(i), None))
                        .collect()
                }),
            ),
            (
                "inserts between every key of a range",
                Box::new(|rng: &mut u64| {
                    let start = lcg(rng) % n;
                    (start..start + 500)
                        .map(|i| (k(i * 2 + 1), Some(vec![9; vlen])))
                        .collect()
                }),
            ),
            (
                "keys before the first and after the last",
                Box::new(|_: &mut u64| {
                    [b"a".to_vec(), b"zz".to_vec(), b"key".to_vec()]
                        .into_iter()
                        .map(|key| (key, Some(vec![1; vlen])))
                        .collect()
                }),
            ),
            (
                "the first and last keys deleted",
                Box::new(|_: &mut u64| {
                    [b"a".to_vec(), b"zz".to_vec(), k(0), k(1), k(n * 2 - 2)]
                        .into_iter()
                        .map(|key| (key, None))
                        .collect()
                }),
            ),
            (
                "every leaf boundary key deleted in a range",
                Box::new(|rng: &mut u64| {
                    let start = lcg(rng) % n;
                    (start..start + 5000)
                        .map(k)
                        .filter(|key| key_hash(key).is_multiple_of(LEAF_FANOUT))
                        .map(|key| (key, None))
                        .collect()
                }),
            ),
            (
                "one change",
                Box::new(|rng: &mut u64| {
                    [(k(lcg(rng) % (n * 2)), Some(vec![3; vlen]))]
                        .into_iter()
                        .collect()
                }),
            ),
        ];
        for round in 0..3 {
            for (what, make) in &rounds {
                let changes = make(&mut rng);
                let what = format!("n={n} round {round}: {what}");
                tree = apply_and_check(&src, &mut model, tree, changes, &what);
            }
        }
        assert_eq!(
            full(&src, tree.as_ref()),
            model.clone().into_iter().collect::<Vec<_>>()
        );
    }
}

#[test]
fn changes_at_the_left_edge_of_many_trees_equal_fresh_builds() {
    // Nodes of one child and levels of one node arise at the left edge of a tree;
    // many small trees (different values, so different node digests) meet them all.
    for seed in 0..120u64 {
        let mut rng = seed;
        let n = 2_000 + lcg(&mut rng) % 6_000;
        let src = MemSource::default();
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = (0..n)
            .map(|i| (k(i), (seed * 31 + i).to_le_bytes()[..2].to_vec()))
            .collect();
        let mut objs = Vec::new();
        let tree = build(model.clone(), &mut objs);
        src.add(objs);
        let mut changes = BTreeMap::new();
        for i in 0..lcg(&mut rng) % 150 {
            changes.insert(k(i), None);
        }
        let at = lcg(&mut rng) % 200;
        changes.insert(k(at), Some(vec![seed as u8, 1, 2]));
        if seed % 2 == 0 {
            changes.insert(b"a".to_vec(), Some(vec![7]));
        }
        let what = format!("seed {seed}, {n} keys");
        let tree = apply_and_check(&src, &mut model, tree, changes, &what);
        let changes = [(k(n - 1), None), (b"zz".to_vec(), Some(vec![1]))];
        apply_and_check(&src, &mut model, tree, changes.into_iter().collect(), &what);
    }
}

/// The format's chunking rule written plainly, level by level (how format version 1
/// defined it before the incremental builder): the builder must give the same nodes,
/// so trees stay identical — and deduplicate — across versions and histories.
fn reference_build(entries: &[(Vec<u8>, Vec<u8>)]) -> (Option<TreeRef>, Vec<Digest>) {
    fn cut(
        level: u8,
        items: Vec<(Vec<u8>, Vec<u8>, u64, bool)>,
        all: &mut Vec<Digest>,
    ) -> Vec<ChildRef> {
        let (mut out, mut node, mut bytes, mut count) = (Vec::new(), Vec::new(), 0, 0);
        let n = items.len();
        for (i, (k, v, c, boundary)) in items.into_iter().enumerate() {
            bytes += k.len() + v.len();
            count += c;
            node.push((k, v));
            let full = if level == 0 {
                node.len() >= LEAF_MAX_ENTRIES || bytes >= LEAF_MAX_BYTES
            } else {
                node.len() >= INTERNAL_MAX_ENTRIES
            };
            if boundary || full || i + 1 == n {
                let o = Object::new(ObjectType::TreeNode as u8, encode_node(level, &node));
                all.push(o.digest);
                out.push(ChildRef {
                    last_key: node.last().unwrap().0.clone(),
                    digest: o.digest,
                    count,
                });
                (node, bytes, count) = (Vec::new(), 0, 0);
            }
        }
        out
    }
    let mut all = Vec::new();
    let leaf_items = entries
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.clone(),
                1,
                key_hash(k).is_multiple_of(LEAF_FANOUT),
            )
        })
        .collect();
    let mut level_nodes = cut(0, leaf_items, &mut all);
    let mut height = 0;
    while level_nodes.len() > 1 {
        height += 1;
        let items = level_nodes
            .into_iter()
            .map(|c| {
                let mut v = Encoder::with_capacity(42);
                v.digest(&c.digest).varint(c.count);
                (
                    c.last_key,
                    v.finish(),
                    c.count,
                    child_is_boundary(&c.digest),
                )
            })
            .collect();
        level_nodes = cut(height, items, &mut all);
    }
    let tree = level_nodes.pop().map(|c| TreeRef {
        root: c.digest,
        count: c.count,
        height,
    });
    (tree, all)
}

#[test]
fn the_builder_cuts_exactly_as_the_format_defines() {
    let mut rng = 99u64;
    for n in [0usize, 1, 2, 63, 64, 65, 1000, 1500, 4096, 20_000, 70_000] {
        // 1500 entries of 9 KB: leaves cut by their byte limit.
        let vlen = if n == 1500 {
            9_000
        } else {
            1 + (lcg(&mut rng) % 40) as usize
        };
        let entries: Vec<(Vec<u8>, Vec<u8>)> =
            (0..n as u64).map(|i| (k(i), vec![i as u8; vlen])).collect();
        let (want, want_nodes) = reference_build(&entries);
        let mut objs = Vec::new();
        let got = build(entries, &mut objs);
        assert_eq!(got, want, "{n} entries");
        let mut got_nodes: Vec<Digest> = objs.iter().map(|o| o.digest).collect();
        let mut want_nodes = want_nodes;
        got_nodes.sort();
        want_nodes.sort();
        assert_eq!(got_nodes, want_nodes, "{n} entries: the nodes written");
    }
}

#[test]
fn leaves_cut_only_by_their_entry_limit_resync_after_a_shift() {
    // Keys that are never leaf boundaries: every leaf holds exactly LEAF_MAX_ENTRIES,
    // so one key inserted at the front moves every leaf boundary after it.
    let keys: Vec<Vec<u8>> = (0..)
        .map(|i: u64| format!("nb{i:09}").into_bytes())
        .filter(|key| !key_hash(key).is_multiple_of(LEAF_FANOUT))
        .take(LEAF_MAX_ENTRIES * 40 + 17)
        .collect();
    let src = MemSource::default();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> =
        keys.iter().map(|key| (key.clone(), vec![5])).collect();
    let mut objs = Vec::new();
    let tree = build(model.clone(), &mut objs);
    src.add(objs);
    let first = keys[0].clone();
    let tree = apply_and_check(
        &src,
        &mut model,
        tree,
        [(b"na".to_vec(), Some(vec![1]))].into_iter().collect(),
        "insert at the front",
    );
    let tree = apply_and_check(
        &src,
        &mut model,
        tree,
        [(b"na".to_vec(), None), (first, None)]
            .into_iter()
            .collect(),
        "two deletes at the front",
    );
    assert_eq!(tree.unwrap().count, keys.len() as u64 - 1);
}

#[test]
fn a_small_change_reads_and_writes_only_its_paths() {
    let src = Counting::default();
    let n = 200_000u64;
    let mut objs = Vec::new();
    let tree = build((0..n).map(|i| (k(i), vec![1; 16])), &mut objs).unwrap();
    let total = objs.len();
    src.0.add(objs);
    assert!(tree.height >= 3, "height {}", tree.height);
    let keys: Vec<Vec<u8>> = (0..10).map(|i| k(i * 19_997 + 3)).collect();
    let changes: Vec<(&[u8], Option<&[u8]>)> = keys
        .iter()
        .map(|key| (key.as_slice(), Some(&[2u8; 16][..])))
        .collect();
    src.take();
    let mut objs = Vec::new();
    let new = update(&src, Some(&tree), &changes, &mut objs)
        .unwrap()
        .unwrap();
    let (reads, written) = (src.take(), objs.len());
    src.0.add(objs);
    assert_eq!(new.count, n);
    // Each change touches one path of height + 1 nodes (paths share their top),
    // plus the odd neighbour a changed leaf's new digest spills into.
    let bound = 10 * (usize::from(tree.height) + 1) + 10;
    assert!(
        reads <= bound,
        "{reads} nodes read for 10 changes (bound {bound})"
    );
    assert!(
        written <= bound,
        "{written} of {total} nodes written for 10 changes (bound {bound})"
    );
    let d = diff(&src, Some(&tree), Some(&new)).unwrap();
    assert_eq!(d.len(), 10);
    let reads = src.take();
    assert!(
        reads <= 2 * bound,
        "{reads} nodes read to diff 10 changes (bound {})",
        2 * bound
    );
}

#[test]
fn iteration_resumes_after_any_key_and_finds_the_last() {
    let src = MemSource::default();
    let mut objs = Vec::new();
    let keys: Vec<Vec<u8>> = (0..20_000).map(|i| k(i * 2)).collect();
    let tree = build(keys.iter().map(|key| (key.clone(), vec![1])), &mut objs).unwrap();
    src.add(objs);
    assert!(tree.height >= 2);
    assert_eq!(last_key(&src, &tree).unwrap(), k(39_998));
    for probe in [0u64, 1, 2, 777, 778, 20_000, 39_997, 39_998, 50_000] {
        let got: Vec<Vec<u8>> = TreeIter::after(&src, Some(&tree), Some(&k(probe)))
            .map(|r| r.unwrap().0)
            .collect();
        let want: Vec<Vec<u8>> = keys
            .iter()
            .filter(|key| **key > k(probe))
            .cloned()
            .collect();
        assert_eq!(got, want, "after {probe}");
    }
    let all = TreeIter::after(&src, Some(&tree), Some(b"")).count();
    assert_eq!(all, keys.len());
    assert_eq!(TreeIter::after(&src, None, Some(b"x")).count(), 0);
}

#[test]
fn small_change_to_a_big_tree_writes_few_nodes() {
    let src = MemSource::default();
    let mut objs = Vec::new();
    let tree = build((0..100_000).map(|i| (k(i), vec![1; 33])), &mut objs);
    let total = objs.len();
    src.add(objs);
    let keys: Vec<Vec<u8>> = (0..10).map(|i| k(i * 9973)).collect();
    let changes: Vec<(&[u8], Option<&[u8]>)> = keys
        .iter()
        .map(|key| (key.as_slice(), Some(&[2u8; 33][..])))
        .collect();
    let mut objs = Vec::new();
    let new = update(&src, tree.as_ref(), &changes, &mut objs)
        .unwrap()
        .unwrap();
    assert_eq!(new.count, 100_000);
    let new_leaves = objs.iter().filter(|o| o.bytes[0] == 0).count();
    assert!(
        new_leaves <= 20,
        "{new_leaves} leaves rewritten for 10 changes (of {total} nodes)"
    );
}

#[test]
fn deleting_everything_empties_the_tree_and_bad_nodes_are_rejected() {
    let src = MemSource::default();
    let mut objs = Vec::new();
    let tree = build((0..300).map(|i| (k(i), vec![1])), &mut objs);
    src.add(objs);
    let keys: Vec<Vec<u8>> = (0..300).map(k).collect();
    let changes: Vec<(&[u8], Option<&[u8]>)> =
        keys.iter().map(|key| (key.as_slice(), None)).collect();
    assert_eq!(
        update(&src, tree.as_ref(), &changes, &mut Vec::new()).unwrap(),
        None
    );
    let good = encode_node(
        0,
        &[
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"2".to_vec()),
        ],
    );
    assert!(Node::decode(good.clone()).is_ok());
    let unsorted = encode_node(
        0,
        &[
            (b"b".to_vec(), b"1".to_vec()),
            (b"a".to_vec(), b"2".to_vec()),
        ],
    );
    assert!(Node::decode(unsorted).is_err());
    for cut in 0..good.len() {
        assert!(Node::decode(good[..cut].to_vec()).is_err());
    }
    assert!(Node::decode(encode_node(1, &[(b"a".to_vec(), b"short".to_vec())])).is_err());
}

#[test]
fn lookup_many_finds_what_lookup_finds_reading_each_node_once() {
    let src = Counting::default();
    let mut objs = Vec::new();
    // Every third key of 30,000: absent keys fall between, before and after them.
    let tree = build(
        (0..30_000).step_by(3).map(|i| (k(i), vec![i as u8; 9])),
        &mut objs,
    )
    .unwrap();
    src.0.add(objs);
    let mut rng = 7u64;
    let mut probes: Vec<Vec<u8>> = (0..400).map(|_| k(lcg(&mut rng) % 31_000)).collect();
    probes.push(b"a".to_vec()); // before every key
    probes.push(b"z".to_vec()); // after every key
    probes.push(probes[0].clone()); // the same key twice
    let keys: Vec<&[u8]> = probes.iter().map(Vec::as_slice).collect();
    src.take();
    let many = lookup_many(&src, &tree, &keys).unwrap();
    let batch_reads = src.take();
    let one_by_one: Vec<Option<Vec<u8>>> = keys
        .iter()
        .map(|key| lookup(&src, &tree, key).unwrap())
        .collect();
    let single_reads = src.take();
    assert_eq!(many, one_by_one);
    assert!(
        many.iter().filter(|r| r.is_some()).count() > 100,
        "some probes hit"
    );
    assert!(
        many.iter().filter(|r| r.is_none()).count() > 100,
        "some probes miss"
    );
    // Each node on the way to a probe is read once: the root once, not 403 times.
    assert!(
        batch_reads * 2 < single_reads,
        "{batch_reads} node reads for the batch, {single_reads} one by one"
    );
    assert!(lookup_many(&src, &tree, &[]).unwrap().is_empty());
}

#[test]
fn keys_that_differ_only_in_trailing_zero_bytes_are_told_apart() {
    let src = MemSource::default();
    let mut objs = Vec::new();
    let keys: Vec<Vec<u8>> = vec![
        b"a".to_vec(),
        b"a\0".to_vec(),
        b"a\0\0".to_vec(),
        [b"a".as_slice(), &[0; 15]].concat(), // 16 bytes: the whole prefix
        [b"a".as_slice(), &[0; 16]].concat(), // 17 bytes: longer than the prefix
        [b"a".as_slice(), &[0; 16], b"b"].concat(),
        b"a\x01".to_vec(),
    ];
    let mut sorted = keys.clone();
    sorted.sort();
    let tree = build(
        sorted
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), vec![i as u8])),
        &mut objs,
    )
    .unwrap();
    src.add(objs);
    for (i, key) in sorted.iter().enumerate() {
        assert_eq!(
            lookup(&src, &tree, key).unwrap(),
            Some(vec![i as u8]),
            "{key:?}"
        );
    }
    for absent in [
        b"".to_vec(),
        b"a\0\0\0".to_vec(),
        [b"a".as_slice(), &[0; 17]].concat(),
    ] {
        assert_eq!(lookup(&src, &tree, &absent).unwrap(), None, "{absent:?}");
    }
}
