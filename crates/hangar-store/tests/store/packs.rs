//! Packs written while a commit is built (`PackSpool`): objects go to a temporary file
//! as they come, each once, none the store already holds; an unfinished spool leaves
//! nothing behind.

use hangar_store::{Error, Object, ObjectSink, PackSpool};

use crate::{new_store, open_writer};

fn obj(i: u8) -> Object {
    Object::new(2, vec![i; 100 + usize::from(i)])
}

fn temp_files(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir.join("packs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect()
}

#[test]
fn a_spool_writes_each_new_object_once_and_reads_back() {
    let (dir, store) = new_store();
    let (mut w, _) = open_writer(&store);
    let stats = w
        .commit(
            vec![obj(1), obj(2), obj(1)],
            &w.staged_digests(),
            b"b1",
            || Ok::<(), Error>(()),
        )
        .unwrap();
    assert_eq!(stats.objects, 2, "a repeated object is written once");
    // Objects the index already holds are not written again.
    let mut spool = PackSpool::new(store.clone());
    for o in [obj(1), obj(3), obj(2), obj(3)] {
        spool.put(o);
    }
    assert_eq!(spool.len(), 1);
    let stats = w
        .prepare_commit(spool, &w.staged_digests(), b"b2")
        .and_then(|p| w.finish_commit(p))
        .unwrap();
    assert_eq!(stats.objects, 1);
    for i in 1..=3 {
        let (t, bytes) = store.read_object(&obj(i).digest).unwrap().unwrap();
        assert_eq!((t, bytes.as_slice()), (2, obj(i).bytes.as_slice()));
    }
    assert!(temp_files(dir.path()).is_empty());
    // Every pack passes the full check verify makes.
    for e in std::fs::read_dir(dir.path().join("packs")).unwrap() {
        let p = e.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        assert!(!hangar_store::internal::pack::scan_pack(&p, &bytes)
            .unwrap()
            .is_empty());
    }
}

#[test]
fn an_unfinished_spool_removes_its_temporary_file() {
    let (dir, store) = new_store();
    let mut spool = PackSpool::new(store.clone());
    assert!(
        temp_files(dir.path()).is_empty(),
        "nothing before an object"
    );
    spool.put(obj(9));
    assert_eq!(temp_files(dir.path()).len(), 1);
    drop(spool);
    assert!(temp_files(dir.path()).is_empty());
}
