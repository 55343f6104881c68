use std::collections::HashMap;

use hangar_core::{DType, ErrorKind, NdArraySpec, TensorRef};

use crate::{err_text, kind, new_repo, repo_with_commit, u8s};

#[test]
fn commit_ids_are_full_blake3_shown_as_16_hex_digits() {
    let (_dir, repo, id) = repo_with_commit();
    assert_eq!(id.to_hex().len(), 64);
    assert_eq!(id.to_string().len(), 16);
    assert!(id.to_hex().starts_with(&id.to_string()));
    assert_eq!(repo.branch_head("master").unwrap(), Some(id));
}

#[test]
fn nothing_staged_or_an_empty_message_is_refused() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let e = co.commit("nothing").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NothingToCommit);
    assert!(e.to_string().contains("No changes"), "{e}");
    co.add_str_column("s").unwrap();
    assert_eq!(kind(co.commit("  ")), ErrorKind::InvalidArgument);
    co.commit("column").unwrap();
    assert_eq!(kind(co.commit("again")), ErrorKind::NothingToCommit);
    assert_eq!(repo.log(None).unwrap().entries.len(), 1);
}

#[test]
fn unchanged_columns_are_shared_between_commits() {
    let (_dir, repo, first) = repo_with_commit();
    let co = repo.checkout_writer().unwrap();
    co.column("labels")
        .unwrap()
        .set("b", TensorRef::new(&[8i64], &[1]))
        .unwrap();
    let second = co.commit("labels only").unwrap();
    co.close().unwrap();
    let a = repo.checkout_commit(&first.to_hex()).unwrap();
    let b = repo.checkout_commit(&second.to_hex()).unwrap();
    assert_eq!(
        a.column("imgs").unwrap().record_table(),
        b.column("imgs").unwrap().record_table()
    );
    assert_ne!(
        a.column("labels").unwrap().record_table(),
        b.column("labels").unwrap().record_table()
    );
}

#[test]
fn reader_checkouts_by_branch_full_id_and_unique_prefix() {
    let (_dir, repo, first) = repo_with_commit();
    let co = repo.checkout_writer().unwrap();
    let c = co.column("imgs").unwrap();
    let mut ids = vec![first];
    for i in 0..20u8 {
        c.set("a", TensorRef::new(&[i; 6], &[2, 3])).unwrap();
        ids.push(co.commit(&format!("change {i}")).unwrap());
    }
    co.close().unwrap();
    assert_eq!(repo.checkout().unwrap().commit_hash(), *ids.last().unwrap());
    assert_eq!(
        repo.checkout_branch("master").unwrap().commit_hash(),
        *ids.last().unwrap()
    );
    for (i, id) in ids.iter().enumerate() {
        let r = repo.checkout_commit(&id.to_hex()).unwrap();
        let want = if i == 0 {
            vec![1, 2, 3, 4, 5, 6]
        } else {
            vec![(i - 1) as u8; 6]
        };
        assert_eq!(u8s(&r.column("imgs").unwrap().get("a").unwrap()), want);
        // A prefix long enough to be unique resolves.
        let hex = id.to_hex();
        let unique = (1..=64)
            .map(|n| &hex[..n])
            .find(|p| ids.iter().filter(|o| o.to_hex().starts_with(p)).count() == 1)
            .unwrap()
            .to_string();
        assert_eq!(repo.checkout_commit(&unique).unwrap().commit_hash(), *id);
        assert_eq!(
            repo.checkout_commit(&unique.to_uppercase())
                .unwrap()
                .commit_hash(),
            *id
        );
    }
    // 21 commits: some first hex digit is shared, so that one-digit prefix is ambiguous.
    let mut by_digit: HashMap<char, usize> = HashMap::new();
    for id in &ids {
        *by_digit
            .entry(id.to_hex().chars().next().unwrap())
            .or_default() += 1;
    }
    let shared = by_digit
        .iter()
        .find(|(_, n)| **n > 1)
        .map(|(c, _)| c.to_string())
        .unwrap();
    let e = err_text(repo.checkout_commit(&shared));
    assert!(e.contains("ambiguous"), "{e}");
    let missing = (0..16)
        .map(|d| format!("{d:x}"))
        .find(|d| !by_digit.contains_key(&d.chars().next().unwrap()));
    if let Some(m) = missing {
        assert_eq!(kind(repo.checkout_commit(&m)), ErrorKind::NotFound);
    }
}

#[test]
fn readers_are_unaffected_by_later_commits_and_shareable_across_threads() {
    let (_dir, repo, first) = repo_with_commit();
    let reader = repo.checkout().unwrap();
    let co = repo.checkout_writer().unwrap();
    co.column("imgs").unwrap().delete("a").unwrap();
    co.delete_column("labels").unwrap();
    co.commit("remove").unwrap();
    co.close().unwrap();
    assert_eq!(reader.commit_hash(), first);
    let col = reader.column("imgs").unwrap();
    assert_eq!(u8s(&col.get("a").unwrap()), [1, 2, 3, 4, 5, 6]);
    assert!(reader.has_column("labels").unwrap());
    std::thread::scope(|s| {
        for _ in 0..4 {
            let col = col.clone();
            s.spawn(move || {
                for _ in 0..200 {
                    assert_eq!(u8s(&col.get("b").unwrap()), [6, 5, 4, 3, 2, 1]);
                }
            });
        }
    });
    assert!(!repo
        .checkout()
        .unwrap()
        .column("imgs")
        .unwrap()
        .contains("a")
        .unwrap());
}

#[test]
fn log_and_summary_report_the_history() {
    let (_dir, repo, first) = repo_with_commit();
    let co = repo.checkout_writer().unwrap();
    co.add_str_column("notes")
        .unwrap()
        .set("n", "hello")
        .unwrap();
    co.metadata().set("k1", "v1").unwrap();
    let second = co.commit("add notes").unwrap();
    co.close().unwrap();
    let log = repo.log(None).unwrap();
    let ids: Vec<_> = log.entries.iter().map(|e| e.commit.id).collect();
    assert_eq!(ids, [second, first]);
    assert_eq!(log.entries[0].branch_heads, ["master"]);
    assert!(log.entries[1].branch_heads.is_empty());
    let text = log.to_string();
    assert_eq!(
        text.lines().next().unwrap(),
        format!("* {second} (master) : add notes")
    );
    assert_eq!(text.lines().nth(1).unwrap(), format!("* {first} : first"));
    let detailed = repo
        .log(None)
        .unwrap()
        .with_time(true)
        .with_user(true)
        .to_string();
    assert!(detailed.contains("(Tester) : add notes"), "{detailed}");
    assert_eq!(repo.log(Some(&first.to_hex())).unwrap().entries.len(), 1);
    assert_eq!(repo.log(None).unwrap().limit(1).entries.len(), 1);

    let s = repo.summary(None).unwrap();
    assert_eq!(s.commit.as_ref().unwrap().id, second);
    assert_eq!(s.columns.len(), 3);
    assert_eq!(s.metadata_keys, 1);
    let text = s.to_string();
    for want in [
        "| Repository Info",
        "|  Disk Usage: ",
        &format!("|  Commit: {second}"),
        "|  By: Tester",
        "|  Email: tester@example.com",
        "|  Message: \"add notes\"",
        "|  Number of Columns: 3",
        "|  * Column Name: imgs",
        "|    Num Samples: 3",
        "|    - schema_max_shape: (2, 3)",
        "|  Number of Keys: 1",
    ] {
        assert!(text.contains(want), "{want:?} missing from\n{text}");
    }
    let old = repo.summary(Some(&first.to_hex()[..12])).unwrap();
    assert_eq!(
        (
            old.commit.as_ref().unwrap().id,
            old.columns.len(),
            old.metadata_keys
        ),
        (first, 2, 0)
    );
}

#[test]
fn commits_made_in_a_bulk_session_and_after_reopening() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = co
        .add_ndarray_column("c", NdArraySpec::with_shape(DType::U16, &[2]))
        .unwrap();
    let s = co.bulk().unwrap();
    for i in 0..1000u16 {
        c.set(u64::from(i), TensorRef::new(&[i, i], &[2])).unwrap();
    }
    let first = co.commit("inside a session").unwrap();
    c.set(5000u64, TensorRef::new(&[1u16, 1], &[2])).unwrap();
    s.finish().unwrap();
    co.close().unwrap();
    let co = repo.checkout_writer().unwrap();
    assert_eq!(co.commit_hash().unwrap(), Some(first));
    assert!(co.status().unwrap().is_dirty());
    co.commit("after reopening").unwrap();
    co.close().unwrap();
    let r = repo.checkout().unwrap().column("c").unwrap();
    assert_eq!(r.len().unwrap(), 1001);
    assert_eq!(
        r.get(999u64)
            .unwrap()
            .into_tensor()
            .unwrap()
            .to_vec::<u16>()
            .unwrap(),
        [999, 999]
    );
}

/// DESIGN §4: a repository and its reader checkouts are shared across threads; a writer
/// checkout can be moved to (and used from) another thread.
#[test]
fn repository_and_checkouts_are_thread_safe() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<hangar_core::Repository>();
    send_sync::<hangar_core::ReaderCheckout>();
    send_sync::<hangar_core::ReaderColumn>();
    send_sync::<hangar_core::WriterCheckout>();
    send_sync::<hangar_core::WriterColumn>();
    let (_dir, repo, _) = repo_with_commit();
    let co = repo.checkout_writer().unwrap();
    let handle = std::thread::spawn(move || {
        co.column("imgs").unwrap().delete("a").unwrap();
        co.commit("from another thread").unwrap()
    });
    let id = handle.join().unwrap();
    assert_eq!(repo.branch_head("master").unwrap(), Some(id));
}

/// Regression: verify counted records only in record-table nodes it had not seen in an
/// earlier commit, so a multi-level table sharing subtrees with its parent was reported
/// as corrupt.
#[test]
fn verify_accepts_record_tables_that_share_subtrees() {
    let (_dir, repo) = crate::new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = co
        .add_ndarray_column("c", NdArraySpec::with_shape(DType::U8, &[1]))
        .unwrap();
    c.extend_from_buffer(0..5000u64, TensorRef::new(&vec![1u8; 5000], &[5000, 1]))
        .unwrap();
    co.commit("5000 records: several leaves and levels")
        .unwrap();
    c.set(17u64, TensorRef::new(&[2u8], &[1])).unwrap();
    co.commit("one leaf changes").unwrap();
    co.close().unwrap();
    let report = repo.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.commits, 2);
}

/// verify counts each distinct value once, wherever it is kept: in records (hashed a
/// batch at a time, strings of several lengths among them), in segments, across
/// columns and commits.
#[test]
fn verify_counts_distinct_values_and_their_bytes() {
    let (_dir, repo) = crate::new_repo();
    let co = repo.checkout_writer().unwrap();
    let small = co
        .add_ndarray_column("small", NdArraySpec::with_shape(DType::U8, &[8]))
        .unwrap();
    let big = co
        .add_ndarray_column("big", NdArraySpec::with_shape(DType::U8, &[100]))
        .unwrap();
    let text = co.add_str_column("text").unwrap();
    // 1,000 samples of 310 distinct small values, 700 of 260 distinct strings of 1 to
    // 4 characters (each ten last ones seen only there, after the last full batch),
    // 600 of 200 distinct big ones.
    let small_value = |i: u64| if i >= 990 { i } else { i % 300 };
    let bytes: Vec<u8> = (0..1000u64)
        .flat_map(|i| small_value(i).to_le_bytes())
        .collect();
    small
        .extend_from_buffer(0..1000u64, TensorRef::new(&bytes, &[1000, 8]))
        .unwrap();
    let text_value = |i: u64| {
        if i >= 690 {
            format!("x{i}")
        } else {
            format!("{}", i % 250)
        }
    };
    for i in 0..700u64 {
        text.set(i, &*text_value(i)).unwrap();
    }
    let big_bytes: Vec<u8> = (0..600u64)
        .flat_map(|i| [(i % 200) as u8, (i % 200 / 100) as u8].repeat(50))
        .collect();
    big.extend_from_buffer(0..600u64, TensorRef::new(&big_bytes, &[600, 100]))
        .unwrap();
    co.commit("one").unwrap();
    // The same values again under other keys, in a second commit: nothing new.
    small
        .extend_from_buffer(1000..2000u64, TensorRef::new(&bytes, &[1000, 8]))
        .unwrap();
    co.commit("two").unwrap();
    co.close().unwrap();
    let report = repo.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    let distinct: std::collections::BTreeSet<String> = (0..700).map(text_value).collect();
    let text_bytes: u64 = distinct.iter().map(|t| t.len() as u64).sum();
    assert_eq!(report.values, 310 + 260 + 200, "{report}");
    assert_eq!(
        report.value_bytes,
        310 * 8 + text_bytes + 200 * 100,
        "{report}"
    );
}
