//! Names: path traversal, absolute paths, NUL bytes, dot names, reserved device names,
//! control characters and oversized names as column names, sample and subsample keys,
//! metadata keys and branch names — all rejected with a message saying the rule, and
//! nothing written outside `.hangar/` (the tree around the repository is compared before
//! and after; no file inside `.hangar/` carries an attack name).

use std::collections::BTreeSet;
use std::path::Path;

use hangar_core::{DType, ErrorKind, NdArraySpec, Repository, SampleKey, TensorRef};

use crate::Figures;

fn cases() -> Vec<String> {
    let mut v: Vec<String> = [
        "../x",
        "..",
        ".",
        "...",
        "/abs",
        "/etc/passwd",
        "a/../../b",
        "a\\b",
        "a/b",
        "a\0b",
        "%2e%2e",
        "..%2f",
        "x\n",
        "tab\t",
        "",
        " ",
        "é",
        "ｘ",
        "CON:",
        "a:b",
        "*",
        "?",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("a".repeat(4096));
    v.push("../".repeat(30) + "tmp");
    v
}

const BRANCH_ONLY: [&str; 5] = ["CON", "nul", "com1.txt", "LPT9", "x.lock"];

fn tree(root: &Path, skip: &Path, out: &mut BTreeSet<String>) {
    if let Ok(rd) = std::fs::read_dir(root) {
        for e in rd.flatten() {
            let p = e.path();
            if p.starts_with(skip) {
                continue;
            }
            out.insert(p.to_string_lossy().into_owned());
            if p.is_dir() {
                tree(&p, skip, out);
            }
        }
    }
}

/// Runs every case against every kind of name.
pub fn run() -> Figures {
    let mut figs = Figures::new("names: traversal, absolute paths, NUL, reserved names");
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => {
            figs.fail(format!("tempdir: {e}"));
            return figs;
        }
    };
    let root = tmp.path().join("repo");
    let outside = tmp.path().join("outside");
    let prepared = std::fs::create_dir_all(&root)
        .and_then(|_| std::fs::create_dir_all(&outside))
        .map_err(|e| e.to_string());
    let setup = prepared.and_then(|_| {
        (|| {
            let repo = Repository::init(&root, "names", "n@example.com", false)?;
            let co = repo.checkout_writer()?;
            let col = co.add_ndarray_column("ok", NdArraySpec::with_shape(DType::U8, &[2]))?;
            co.add_ndarray_column(
                "nested",
                NdArraySpec::with_shape(DType::U8, &[2]).contains_subsamples(true),
            )?;
            col.set(0u64, TensorRef::new(&[1u8, 2], &[2]))?;
            co.commit("start")?;
            Ok::<_, hangar_core::Error>((repo, co))
        })()
        .map_err(|e| e.to_string())
    });
    let (repo, co) = match setup {
        Ok(x) => x,
        Err(e) => {
            figs.fail(format!("setup: {e}"));
            return figs;
        }
    };
    let hangar = root.join(".hangar");
    let mut before = BTreeSet::new();
    tree(tmp.path(), &hangar, &mut before);
    let (mut tried, mut rejected) = (0, 0);
    let mut check = |what: &str, name: &str, r: hangar_core::Result<()>, figs: &mut Figures| {
        tried += 1;
        match r {
            Err(e)
                if e.kind() == ErrorKind::InvalidArgument
                    && e.to_string().contains("not allowed") =>
            {
                rejected += 1
            }
            Err(e) => figs.fail(format!(
                "{what} {:?}: rejected, but not as a bad name: {e}",
                short(name)
            )),
            Ok(()) => figs.fail(format!("{what} {:?} was accepted", short(name))),
        }
    };
    let value = [7u8, 7];
    for name in cases() {
        let n = name.as_str();
        check(
            "column name",
            n,
            co.add_ndarray_column(n, NdArraySpec::with_shape(DType::U8, &[2]))
                .map(|_| ()),
            &mut figs,
        );
        check(
            "str column name",
            n,
            co.add_str_column(n).map(|_| ()),
            &mut figs,
        );
        check(
            "bytes column name",
            n,
            co.add_nested_bytes_column(n).map(|_| ()),
            &mut figs,
        );
        check(
            "sample key",
            n,
            co.column("ok")
                .and_then(|c| c.set(n, TensorRef::new(&value, &[2]))),
            &mut figs,
        );
        check(
            "subsample key",
            n,
            co.column("nested").and_then(|c| {
                c.set_subsample(
                    "s",
                    SampleKey::Str(name.clone()),
                    TensorRef::new(&value, &[2]),
                )
            }),
            &mut figs,
        );
        check("metadata key", n, co.metadata().set(n, "v"), &mut figs);
        check(
            "branch name",
            n,
            repo.create_branch(n, None).map(|_| ()),
            &mut figs,
        );
    }
    for n in BRANCH_ONLY {
        check(
            "branch name",
            n,
            repo.create_branch(n, None).map(|_| ()),
            &mut figs,
        );
    }
    let _ = co.commit("after the attempts");
    let _ = co.close();
    let mut after = BTreeSet::new();
    tree(tmp.path(), &hangar, &mut after);
    let created: Vec<_> = after.difference(&before).collect();
    if !created.is_empty() {
        figs.fail(format!("files appeared outside .hangar/: {created:?}"));
    }
    let mut inside = BTreeSet::new();
    tree(&hangar, Path::new("/nonexistent"), &mut inside);
    for p in &inside {
        for bad in ["..", "passwd", "%2e", "CON", "nul", "LPT9", "com1"] {
            if p.rsplit('/')
                .next()
                .is_some_and(|leaf| leaf == bad || leaf.starts_with(&format!("{bad}.")))
            {
                figs.fail(format!("a file named after an attack string exists: {p}"));
            }
        }
    }
    match repo.verify() {
        Ok(r) if r.is_ok() => {}
        other => figs.fail(format!("verify after the attempts: {other:?}")),
    }
    figs.add(
        "names tried (columns ×3 kinds, keys, subkeys, metadata keys, branches)",
        tried,
    );
    figs.add("rejected as bad names", rejected);
    figs.add("files created outside .hangar/", created.len());
    figs
}

fn short(s: &str) -> String {
    if s.len() > 40 {
        format!(
            "{}… ({} bytes)",
            s.chars().take(20).collect::<String>(),
            s.len()
        )
    } else {
        s.to_string()
    }
}
