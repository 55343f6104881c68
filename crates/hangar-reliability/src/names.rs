//! Names: path traversal, absolute paths, NUL bytes, dot names, reserved device names,
//! control characters and oversized names as column names, sample and subsample keys,
//! metadata keys and branch names — all rejected with a message saying the rule (except
//! dot-only keys: keys are not paths, so `.`, `..` are stored and read back), and
//! nothing written outside `.hangar/` (the tree around the repository is compared before
//! and after; no file inside `.hangar/` carries an attack name). Then every file and
//! directory of a repository is replaced in turn by a symbolic link to a copy of it
//! outside: no command may write through the link, and it must be reported as Corrupt.

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
    let mut dot_keys = 0;
    let mut check = |what: &str, name: &str, r: hangar_core::Result<()>, figs: &mut Figures| {
        tried += 1;
        match r {
            Err(e)
                if e.kind() == ErrorKind::InvalidArgument
                    && e.to_string().contains("not suitable") =>
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
        let put = co
            .column("ok")
            .and_then(|c| c.set(n, TensorRef::new(&value, &[2])));
        let put_sub = co.column("nested").and_then(|c| {
            c.set_subsample(
                "s",
                SampleKey::Str(name.clone()),
                TensorRef::new(&value, &[2]),
            )
        });
        if !n.is_empty() && n.bytes().all(|b| b == b'.') {
            // Keys are not paths: `.`, `..` and `...` are keys like any other (as in the
            // original); they must be stored and read back, and name no file.
            let back = co
                .column("ok")
                .and_then(|c| c.get(n))
                .and_then(|v| v.into_tensor())
                .map(|t| t.as_bytes().to_vec());
            let back_sub = co
                .column("nested")
                .and_then(|c| c.get_subsample("s", SampleKey::Str(name.clone())))
                .and_then(|v| v.into_tensor())
                .map(|t| t.as_bytes().to_vec());
            match (put, put_sub, back, back_sub) {
                (Ok(()), Ok(()), Ok(a), Ok(b)) if a == value && b == value => dot_keys += 1,
                other => figs.fail(format!(
                    "the dot key {n:?} was not stored as a key: {other:?}"
                )),
            }
        } else {
            check("sample key", n, put, &mut figs);
            check("subsample key", n, put_sub, &mut figs);
        }
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
    figs.add(
        "dot-only names stored and read back as sample and subsample keys",
        dot_keys,
    );
    figs.add("files created outside .hangar/", created.len());
    symlinks(tmp.path(), &mut figs);
    figs
}

/// Every file and directory of a repository, relative to its root, in a stable order.
fn entries(root: &Path) -> Vec<std::path::PathBuf> {
    let mut all = BTreeSet::new();
    tree(&root.join(".hangar"), Path::new("/nonexistent"), &mut all);
    all.into_iter()
        .filter_map(|p| Path::new(&p).strip_prefix(root).ok().map(Path::to_path_buf))
        .collect()
}

/// Replaces each file and directory of a repository in turn by a symbolic link to a copy
/// outside it, then runs every writer command and the reads: the outside copy must not
/// change, and the link must be reported (Corrupt) by one of them.
fn symlinks(tmp: &Path, figs: &mut Figures) {
    let pristine = tmp.join("links-pristine");
    let built = (|| {
        let repo = Repository::init(&pristine, "links", "l@example.com", false)?;
        let co = repo.checkout_writer()?;
        let col = co.add_ndarray_column("c", NdArraySpec::with_shape(DType::U8, &[2]))?;
        col.set(0u64, TensorRef::new(&[1u8, 2], &[2]))?;
        co.commit("one")?;
        col.set(1u64, TensorRef::new(&[3u8, 4], &[2]))?;
        co.close()
    })();
    if let Err(e) = built {
        figs.fail(format!("links setup: {e}"));
        return;
    }
    let (mut tried, mut reported, mut written_through) = (0, 0, 0);
    for rel in entries(&pristine) {
        let work = tmp.join("links-work");
        let victim = tmp.join("links-victim");
        let _ = std::fs::remove_dir_all(&work);
        let _ = std::fs::remove_dir_all(&victim);
        let _ = std::fs::remove_file(&victim);
        if let Err(e) = crate::copy_dir(&pristine, &work) {
            figs.fail(format!("copy: {e}"));
            return;
        }
        let target = work.join(&rel);
        // The victim is a faithful copy, so a library that followed the link would work
        // on it (and change it) without noticing.
        let moved = std::fs::rename(&target, &victim);
        #[cfg(unix)]
        let linked = moved.and_then(|()| std::os::unix::fs::symlink(&victim, &target));
        #[cfg(not(unix))]
        let linked: std::io::Result<()> = moved;
        if let Err(e) = linked {
            figs.fail(format!("linking {}: {e}", rel.display()));
            continue;
        }
        let mut before = BTreeSet::new();
        snapshot(&victim, &mut before);
        tried += 1;
        let mut corrupt = false;
        let mut note = |r: hangar_core::Result<()>| {
            if let Err(e) = r {
                corrupt |=
                    e.kind() == ErrorKind::Corrupt && e.to_string().contains("symbolic link");
            }
        };
        let open = || Repository::open(&work);
        note(open().map(|_| ()));
        note(open().and_then(|r| r.checkout_writer()).and_then(|co| {
            co.column("c")?.set(2u64, TensorRef::new(&[5u8, 6], &[2]))?;
            co.commit("through a link?")?;
            co.close()
        }));
        note(open().and_then(|r| r.checkout_writer()).and_then(|co| {
            co.reset_staging_area()?;
            co.close()
        }));
        note(open().and_then(|r| r.create_branch("b2", None)).map(|_| ()));
        note(open().and_then(|r| {
            let co = r.checkout()?;
            for name in co.column_names()? {
                for item in co.column(&name)?.items()? {
                    item?;
                }
            }
            Ok(())
        }));
        note(open().and_then(|r| {
            let rep = r.verify()?;
            if rep
                .problems
                .iter()
                .any(|p| p.detail.contains("symbolic link"))
            {
                return Err(hangar_core::Error::corrupt(&work, "symbolic link (verify)"));
            }
            Ok(())
        }));
        let mut after = BTreeSet::new();
        snapshot(&victim, &mut after);
        if before != after {
            written_through += 1;
            figs.fail(format!(
                "with {} a symbolic link, a command wrote to what it points to",
                rel.display()
            ));
        }
        if corrupt {
            reported += 1;
        } else {
            figs.fail(format!(
                "{} replaced by a symbolic link went unreported",
                rel.display()
            ));
        }
    }
    figs.add("repository paths replaced by symbolic links", tried);
    figs.add("reported as symbolic links (Corrupt)", reported);
    figs.add("written through a link", written_through);
}

/// Names, sizes and contents of a file or of every file below a directory.
fn snapshot(p: &Path, out: &mut BTreeSet<String>) {
    if p.is_dir() {
        if let Ok(rd) = std::fs::read_dir(p) {
            for e in rd.flatten() {
                snapshot(&e.path(), out);
            }
        }
    } else {
        let digest = std::fs::read(p)
            .map(|b| blake3::hash(&b).to_hex().to_string())
            .unwrap_or_else(|e| e.to_string());
        out.insert(format!("{} {digest}", p.display()));
    }
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
