use super::*;
use hangar_store::Buffer;

fn lcg(s: &mut u64) -> u64 {
    *s = s
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *s >> 17
}

fn key(i: u64) -> Vec<u8> {
    let mut k = vec![0u8];
    k.extend_from_slice(&i.to_be_bytes());
    k
}

type Model = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

fn check(o: &Overlay, m: &Model, what: &str) {
    assert_eq!(o.len(), m.len(), "{what}: len");
    assert_eq!(
        o.deletes(),
        m.values().filter(|v| v.is_none()).count(),
        "{what}: deletes"
    );
    let got: Vec<(Vec<u8>, Option<Vec<u8>>)> = o
        .iter()
        .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
        .collect();
    let want: Vec<_> = m.clone().into_iter().collect();
    assert_eq!(got, want, "{what}: iteration");
}

/// `batch` encoded as the writer journals it: what its mapped journal holds.
fn journalled(batch: &Puts<'_>) -> Buffer {
    let mut e = hangar_store::codec::Encoder::new();
    batch.encode(&mut e);
    Buffer::from_vec(e.finish())
}

/// The batch `journalled` as the writer replays it from its map: decoded from it, its
/// records shared from it.
fn replayed(map: &Buffer) -> Puts<'_> {
    let mut d = hangar_store::codec::Decoder::new(map.as_slice());
    let mut batch = Puts::decode(&mut d).expect("decodes");
    batch.share_records(|part| {
        let start = part.as_ptr() as usize - map.as_ptr() as usize;
        Some(map.slice_with_length(start, part.len()))
    });
    assert!(batch.shared_records().is_some());
    batch
}

#[test]
fn behaves_as_an_ordered_map_through_every_kind_of_change() {
    for shared in [false, true] {
        ordered_map_through_every_kind_of_change(shared);
    }
}

/// With `shared`, the bulk batches come as a replay of the writer's journal does, their
/// records pieces of the map.
fn ordered_map_through_every_kind_of_change(shared: bool) {
    let mut rng = 7u64;
    let mut o = Overlay::new();
    let mut m = Model::new();
    let mut next_bulk = 1_000_000u64;
    for step in 0..10_000u32 {
        let r = lcg(&mut rng);
        let k = key(r % 3000);
        match r % 10 {
            0..=4 => {
                let v = vec![(r >> 8) as u8; 1 + (r % 40) as usize];
                o.insert(k.clone(), Some(v.clone()));
                m.insert(k, Some(v));
            }
            5 | 6 => {
                o.insert(k.clone(), None);
                m.insert(k, None);
            }
            7 | 8 => {
                o.remove(&k);
                m.remove(&k);
            }
            _ => {
                // A sorted batch: sometimes past every key, sometimes over old ones.
                let (start, n) = if r.is_multiple_of(3) {
                    next_bulk += 100;
                    (next_bulk - 100, 100)
                } else {
                    (r % 3000, 1 + r % 700)
                };
                // Records of one length, or of several.
                let len = |i: u64| if r % 4 == 1 { 1 + (i % 3) as usize } else { 3 };
                let built: Puts<'_> = (start..start + n)
                    .map(|i| (key(i), vec![step as u8; len(i)]))
                    .collect();
                let map = shared.then(|| journalled(&built));
                let batch = map.as_ref().map_or_else(|| built.clone(), replayed);
                let mut new = 0;
                o.append_sorted_puts(&batch, |_| new += 1);
                let want_new = batch.iter().filter(|(k, _)| !m.contains_key(*k)).count();
                assert_eq!(new, want_new, "step {step}: new keys of a batch");
                for (k, v) in batch.iter() {
                    m.insert(k.to_vec(), Some(v.to_vec()));
                }
            }
        }
        let probe = key(lcg(&mut rng) % 3100);
        assert_eq!(
            o.get(&probe).map(|v| v.map(<[u8]>::to_vec)),
            m.get(&probe).cloned(),
            "step {step}: get"
        );
        if step % 2000 == 0 {
            check(&o, &m, &format!("step {step}"));
        }
    }
    check(&o, &m, "end");
    assert!(o.runs.len() <= 16, "{} runs", o.runs.len());
    for start in [key(0), key(1500), key(2999), key(5_000_000), vec![]] {
        let got: Vec<Vec<u8>> = o.iter_from(&start).map(|(k, _)| k.to_vec()).collect();
        let want: Vec<Vec<u8>> = m.range(start.clone()..).map(|(k, _)| k.clone()).collect();
        assert_eq!(got, want);
    }
}

#[test]
fn a_search_onward_from_a_lower_bound_finds_what_a_full_search_finds() {
    for n in [0u64, 1, 2, 3, 7, 64, 1000] {
        let mut run = Run::default();
        for i in 0..n {
            run.push(&key(2 * i + 1), PUT, &[]); // odd keys: every even one is absent
        }
        for probe in 0..2 * n + 3 {
            let want = run.search(&key(probe));
            let bound = match want {
                Ok(i) | Err(i) => i,
            };
            for from in [0, bound / 2, bound.saturating_sub(1), bound] {
                assert_eq!(
                    run.search_from(&key(probe), from),
                    want,
                    "n {n}, key {probe}, from {from}"
                );
            }
        }
    }
}

#[test]
fn a_bulk_import_in_key_order_is_one_pass_and_compact() {
    let mut o = Overlay::new();
    let n = 200_000u64;
    let mut new = 0;
    for chunk in 0..20 {
        let batch: Puts<'_> = (chunk * n / 20..(chunk + 1) * n / 20)
            .map(|i| (key(i), vec![7u8; 32]))
            .collect();
        o.append_sorted_puts(&batch, |_| new += 1);
    }
    assert_eq!((o.len(), new), (n as usize, n as usize));
    // Each batch sorts after the last: appended in place to one run.
    assert_eq!(o.runs.len(), 1);
    // What the run holds (its spare capacity is never touched, so never resident).
    let r = &o.runs[0];
    let (held, capacity, value_ends, shared) = r.values.footprint();
    assert_eq!(shared, 0);
    let bytes = r.keys.len() + held + r.len();
    assert!(
        bytes < 44 * n as usize,
        "{} bytes per entry",
        bytes / n as usize
    );
    // Grown by doubling: at most twice what it holds.
    assert!(capacity <= 2 * held + (2 << 20));
    // Integer keys and 32-byte values: lengths held once, not per entry.
    assert_eq!(r.key_ends.heap_bytes() + value_ends, 0);
    assert_eq!(o.iter().count(), n as usize);
    assert_eq!(o.get(&key(123_456)), Some(Some(&[7u8; 32][..])));
}

#[test]
fn a_replayed_import_keeps_its_records_in_the_journal_map() {
    let mut o = Overlay::new();
    let (n, batches) = (50_000u64, 25u64);
    let mut maps = Vec::new();
    for b in 0..batches {
        let built: Puts<'_> = (b * n / batches..(b + 1) * n / batches)
            .map(|i| (key(i), i.to_le_bytes().repeat(4)))
            .collect();
        maps.push(journalled(&built));
    }
    for map in &maps {
        o.append_sorted_puts(&replayed(map), |_| {});
    }
    assert_eq!(o.runs.len(), 1);
    let (held, _, value_ends, shared) = o.runs[0].values.footprint();
    // Every record stays in the map: none copied, one piece per batch.
    assert_eq!((held, shared, value_ends), (0, batches as usize, 0));
    drop(maps); // the run keeps what it shares alive
    for (i, (k, v)) in o.iter().enumerate() {
        assert_eq!(k, key(i as u64).as_slice());
        assert_eq!(v, Some(&(i as u64).to_le_bytes().repeat(4)[..]));
    }
    for i in [0u64, 1, 1999, 2000, 2001, 49_999] {
        assert_eq!(o.get(&key(i)), Some(Some(&i.to_le_bytes().repeat(4)[..])));
    }
    assert_eq!(o.get(&key(n)), None);
    // Later changes over the shared pieces: a put and a delete in the middle, a merge.
    o.insert(key(7), Some(vec![1]));
    o.insert(key(30_000), None);
    let over: Puts<'_> = (100..20_000u64).map(|i| (key(i), vec![2u8; 5])).collect();
    o.append_sorted_puts(&over, |_| {});
    assert_eq!(o.get(&key(7)), Some(Some(&[1u8][..])));
    assert_eq!(o.get(&key(30_000)), Some(None));
    assert_eq!(o.get(&key(150)), Some(Some(&[2u8; 5][..])));
    assert_eq!(
        o.get(&key(40_000)),
        Some(Some(&40_000u64.to_le_bytes().repeat(4)[..]))
    );
    assert_eq!(o.iter().count(), n as usize);
}
