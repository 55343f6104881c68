//! A whole repository with one file replaced by the input (the first byte picks which:
//! a branch ref, the format file, config.json, the journal, journal.next, an index run, a
//! pack or a segment), then everything a user does: open, check out, read every sample,
//! verify, open the writer and read the staging area, and a gc dry run.
#![no_main]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hangar_core::{DType, NdArraySpec, Repository, TensorRef};
use libfuzzer_sys::fuzz_target;

struct Template {
    _dir: tempfile::TempDir,
    root: PathBuf,
    files: BTreeMap<PathBuf, Vec<u8>>,
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("list").flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        let repo = Repository::init(&root, "fuzz", "f@example.com", false).expect("init");
        let co = repo.checkout_writer().expect("writer");
        let a = co
            .add_ndarray_column("a", NdArraySpec::with_shape(DType::U8, &[4]))
            .expect("column");
        let t = co.add_str_column("t").expect("column");
        for i in 0..4u8 {
            a.set(u64::from(i), TensorRef::new(&[i; 4], &[4]))
                .expect("set");
        }
        t.set("k", "text").expect("set");
        co.commit("one").expect("commit");
        a.set(9u64, TensorRef::new(&[9u8; 4], &[4])).expect("set");
        co.close().expect("close");
        let mut paths = Vec::new();
        walk(&root.join(".hangar"), &mut paths);
        let files = paths
            .into_iter()
            .filter(|p| !p.ends_with("writer.lock"))
            .map(|p| {
                let b = std::fs::read(&p).expect("read");
                (p, b)
            })
            .collect();
        Template {
            _dir: dir,
            root,
            files,
        }
    })
}

fn target(t: &Template, which: u8) -> PathBuf {
    let pick = |part: &str| {
        t.files
            .keys()
            .find(|p| p.to_string_lossy().contains(part))
            .cloned()
    };
    let h = t.root.join(".hangar");
    match which % 8 {
        0 => h.join("refs/heads/master"),
        1 => h.join("format"),
        2 => h.join("config.json"),
        3 => h.join("staging/journal"),
        4 => h.join("staging/journal.next"),
        5 => pick("/index/").unwrap_or_else(|| h.join("index/x.run")),
        6 => pick("/packs/").unwrap_or_else(|| h.join("packs/x.pack")),
        _ => pick("/segments/").unwrap_or_else(|| h.join("segments/x.arrow")),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let t = template();
    // Restore the template, then damage one file.
    let _ = std::fs::remove_file(t.root.join(".hangar/staging/journal.next"));
    for (p, b) in &t.files {
        std::fs::write(p, b).expect("restore");
    }
    std::fs::write(target(t, which), body).expect("write");
    let Ok(repo) = Repository::open(&t.root) else {
        return;
    };
    if let Ok(co) = repo.checkout() {
        if let Ok(names) = co.column_names() {
            for n in names {
                if let Ok(c) = co.column(&n) {
                    if let Ok(items) = c.items() {
                        for item in items.take(100) {
                            let _ = item;
                        }
                    }
                }
            }
        }
    }
    let _ = repo.log(None);
    let _ = repo.verify();
    if let Ok(w) = repo.checkout_writer() {
        if let Ok(names) = w.column_names() {
            for n in names {
                if let Ok(c) = w.column(&n) {
                    let _ = c.keys();
                }
            }
        }
        let _ = w.status();
        let _ = w.close();
    }
    // gc over the damaged repository: a dry run reads what a real one would (every
    // reachable node, every unreferenced file's rows) and must only ever report.
    let _ = repo.gc(&hangar_core::gc::GcOptions {
        dry_run: true,
        prune_expire: Some(std::time::Duration::ZERO),
        ..hangar_core::gc::GcOptions::default()
    });
});
