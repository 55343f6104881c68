//! import, export, cat, quickstart: every format, round trips bit for bit, error paths.

use serde_json::json;

use crate::{fixture, npy_data, Env};

/// `hangar cat COLUMN KEY --raw --staged` as bytes (the staging area: committed and
/// staged samples).
fn raw(env: &Env, column: &str, key: &str) -> Vec<u8> {
    let out = env.run_ok(env.cmd().args(["cat", column, key, "--raw", "--staged"]));
    out.stdout
}

/// A repository whose column `images` holds the 10 rows of `rows_u8.npy` (keys 0-9),
/// committed.
fn rows_repo() -> Env {
    let env = Env::new();
    env.init();
    env.ok(&[
        "import",
        "images",
        &fixture("rows_u8.npy"),
        "--create",
        "-m",
        "rows",
    ]);
    env
}

fn column_json(env: &Env, name: &str) -> serde_json::Value {
    let v = env.json(&["column", "list"]);
    v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no column {name}: {v}"))
        .clone()
}

#[test]
fn npy_rows_export_to_every_format_and_back_bit_for_bit() {
    let env = Env::new();
    env.init();
    let v = env.json(&["import", "images", &fixture("rows_u8.npy"), "--create"]);
    assert_eq!(v["columns"]["images"]["imported"], 10);
    let (shape, data) = npy_data(&fixture("rows_u8.npy"));
    assert_eq!(shape, [10, 4, 4]);
    assert_eq!(
        column_json(&env, "images")["schema"]["shape"],
        json!([4, 4])
    );
    for k in 0..10 {
        assert_eq!(raw(&env, "images", &format!("int:{k}")).len(), 16);
    }
    env.ok(&["commit", "-m", "rows"]);
    for k in 0..10usize {
        assert_eq!(
            raw(&env, "images", &k.to_string()),
            data[k * 16..(k + 1) * 16],
            "row {k}"
        );
    }
    // One stacked .npy: the same bytes as the original.
    env.ok(&["export", "images", "-o", "stacked.npy"]);
    let (s, d) = npy_data(env.file("stacked.npy").to_str().unwrap());
    assert_eq!((s, d), (shape.clone(), data.clone()));
    // Each format, imported back into a new column, gives every sample back.
    let cases: [(&str, &[&str], &[&str]); 6] = [
        ("dir_npy", &["-o", "out_npy"], &["out_npy", "--int-keys"]),
        ("from_npz", &["-o", "out.npz"], &["out.npz", "--int-keys"]),
        ("from_parquet", &["-o", "out.parquet"], &["out.parquet"]),
        ("from_arrow", &["-o", "out.arrow"], &["out.arrow"]),
        (
            "from_png",
            &["-o", "out_png", "--format", "png"],
            &["out_png", "--int-keys"],
        ),
        ("from_stacked", &["-o", "again.npy"], &["again.npy"]),
    ];
    for (col, export_args, import_args) in cases {
        let mut e = vec!["export", "images"];
        e.extend_from_slice(export_args);
        let v = env.json(&e);
        assert_eq!(v["written"], 10, "{col}");
        let mut i = vec!["import", col];
        i.extend_from_slice(import_args);
        i.push("--create");
        let v = env.json(&i);
        assert_eq!(v["columns"][col]["imported"], 10, "{col}: {v}");
        for k in 0..10usize {
            assert_eq!(
                raw(&env, col, &format!("int:{k}")),
                data[k * 16..(k + 1) * 16],
                "{col} row {k}"
            );
        }
    }
    assert!(env.file("out_png/3.png").is_file());
    assert!(env.file("out_npy/3.npy").is_file());
    // Existing output files are not replaced without --force.
    let e = env.err(&["export", "images", "-o", "out.npz"]);
    assert!(e.contains("--force"), "{e}");
    env.ok(&["export", "images", "-o", "out.npz", "--force"]);
    // Into a directory that does not exist: the error says so.
    let e = env.err(&["export", "images", "-o", "no/such/dir/out.npy"]);
    assert!(
        e.contains("the directory no/such/dir does not exist"),
        "{e}"
    );
    // Selected samples only.
    let v = env.json(&[
        "export", "images", "-o", "two", "--key", "1", "--key", "int:7",
    ]);
    assert_eq!(v["written"], 2);
    assert!(env.file("two/7.npy").is_file() && !env.file("two/2.npy").exists());
    let out = env.ok(&["export", "images", "-o", "one", "--key", "1"]);
    assert!(
        out.starts_with("Exported 1 sample of column images at "),
        "{out}"
    );
    let e = env.err(&["export", "images", "-o", "x", "--key", "99"]);
    assert!(e.contains("99"), "{e}");
}

#[test]
fn npy_dtypes_orders_and_scalars() {
    let env = Env::new();
    env.init();
    // A 1-D array of labels: rows of scalars.
    env.ok(&["import", "labels", &fixture("labels_i64.npy"), "--create"]);
    let (_, labels) = npy_data(&fixture("labels_i64.npy"));
    assert_eq!(column_json(&env, "labels")["schema"]["shape"], json!([]));
    assert_eq!(raw(&env, "labels", "4"), labels[32..40]);
    // Fortran order, big-endian float32: stored in C order, native.
    env.ok(&[
        "import",
        "f",
        &fixture("fortran_be_f4.npy"),
        "--create",
        "--whole",
    ]);
    let want: Vec<u8> = (0..12).flat_map(|i| (i as f32).to_le_bytes()).collect();
    assert_eq!(raw(&env, "f", "fortran_be_f4"), want);
    assert_eq!(column_json(&env, "f")["schema"]["shape"], json!([3, 4]));
    // bool and float16.
    env.ok(&["import", "b", &fixture("bools.npy"), "--create", "--whole"]);
    let (_, bools) = npy_data(&fixture("bools.npy"));
    assert_eq!(raw(&env, "b", "bools"), bools);
    assert_eq!(column_json(&env, "b")["schema"]["dtype"], "bool");
    env.ok(&["import", "h", &fixture("halfs.npy"), "--create", "--whole"]);
    let (_, halfs) = npy_data(&fixture("halfs.npy"));
    assert_eq!(raw(&env, "h", "halfs"), halfs);
    // Strings are not arrays hangar stores.
    let e = env.err(&["import", "s", &fixture("strings.npy"), "--create"]);
    assert!(
        e.contains("unsupported numpy dtype") && e.contains("strings.npy"),
        "{e}"
    );
    // Lossless widening into an existing column; lossy narrowing refused.
    env.ok(&["column", "create", "wide", "int64", "4", "4"]);
    env.ok(&["import", "wide", &fixture("rows_u8.npy")]);
    let (_, rows) = npy_data(&fixture("rows_u8.npy"));
    let want: Vec<u8> = rows[..16]
        .iter()
        .flat_map(|&b| i64::from(b).to_le_bytes())
        .collect();
    assert_eq!(raw(&env, "wide", "0"), want);
    env.ok(&["column", "create", "narrow", "uint8", "3", "4"]);
    let e = env.err(&["import", "narrow", &fixture("fortran_be_f4.npy")]);
    assert!(
        e.contains("float32") && e.contains("could change values"),
        "{e}"
    );
    // Reshaped by element count: 16 elements into [16].
    env.ok(&["column", "create", "flat", "uint8", "16"]);
    env.ok(&["import", "flat", &fixture("rows_u8.npy")]);
    assert_eq!(raw(&env, "flat", "9"), rows[144..160]);
}

#[test]
fn npz_archives_by_key_and_by_name() {
    let env = Env::new();
    env.init();
    // One array per key (deflated, as np.savez_compressed writes).
    let v = env.json(&["import", "arr", &fixture("compressed.npz"), "--create"]);
    assert_eq!(v["columns"]["arr"]["imported"], 2);
    let a: Vec<u8> = (0..8i32).flat_map(|i| i.to_le_bytes()).collect();
    assert_eq!(raw(&env, "arr", "a"), a);
    // Each array to the column of its name, rows as samples.
    let v = env.json(&["import", "--by-name", &fixture("pair.npz"), "--create"]);
    assert_eq!(v["columns"]["x"]["imported"], 6);
    assert_eq!(v["columns"]["y"]["imported"], 6);
    assert_eq!(raw(&env, "y", "5"), [5u8]);
    assert_eq!(column_json(&env, "x")["schema"]["shape"], json!([2, 2]));
    // .npy files too, each to the column of its file name: several columns staged and
    // committed in one run, each column's rows counted from --start on their own.
    let v = env.json(&[
        "import",
        "--by-name",
        &fixture("rows_u8.npy"),
        &fixture("labels_i64.npy"),
        "--create",
        "--start",
        "100",
        "-m",
        "both at once",
    ]);
    let (rows_shape, rows) = npy_data(&fixture("rows_u8.npy"));
    let (labels_shape, labels) = npy_data(&fixture("labels_i64.npy"));
    assert_eq!(v["columns"]["rows_u8"]["imported"], rows_shape[0], "{v}");
    assert_eq!(
        v["columns"]["labels_i64"]["imported"], labels_shape[0],
        "{v}"
    );
    let log = env.json(&["log"]);
    assert_eq!(v["commit"], log["commits"][0]["id"], "{v}");
    assert_eq!(log["commits"][0]["message"], "both at once", "{log}");
    assert_eq!(raw(&env, "rows_u8", "100"), rows[..16]);
    assert_eq!(raw(&env, "rows_u8", "109"), rows[144..160]);
    assert_eq!(raw(&env, "labels_i64", "104"), labels[32..40]);
    assert_eq!(
        column_json(&env, "rows_u8")["schema"]["shape"],
        json!([4, 4])
    );
    let status = env.json(&["status"]);
    assert_eq!(status["clean"], json!(true), "{status}");
    // Other files have no array name: refused before anything is staged.
    let e = env.err(&[
        "import",
        "--by-name",
        &fixture("images/gray.png"),
        "--create",
    ]);
    assert!(
        e.contains("--by-name is for .npz and .npy files") && e.contains("gray.png"),
        "{e}"
    );
    let e = env.err(&[
        "import",
        "--by-name",
        &fixture("tensors.parquet"),
        "--create",
    ]);
    assert!(e.contains("--by-name is for .npz and .npy files"), "{e}");
}

#[test]
fn idx_files_plain_and_gzip() {
    let env = Env::new();
    env.init();
    env.ok(&[
        "import",
        "images",
        &fixture("tiny-images-idx3-ubyte.gz"),
        "--create",
    ]);
    let (_, want) = npy_data(&fixture("tiny-images.expected.npy"));
    for k in 0..5 {
        assert_eq!(
            raw(&env, "images", &k.to_string()),
            want[k * 9..(k + 1) * 9]
        );
    }
    // uint8 labels into the tutorial's int64 [1] column: converted and reshaped.
    env.ok(&["column", "create", "labels", "int64", "1"]);
    env.ok(&["import", "labels", &fixture("tiny-labels-idx1-ubyte")]);
    assert_eq!(raw(&env, "labels", "2"), 3i64.to_le_bytes());
}

#[test]
fn png_and_jpeg_images() {
    let env = Env::new();
    env.init();
    for (name, exact) in [
        ("gray.png", true),
        ("rgb.png", true),
        ("rgba.png", true),
        ("gray16.png", true),
        ("palette.png", true),
        ("gray.jpg", false),
        ("rgb.jpg", false),
    ] {
        let col = name.replace('.', "_");
        env.ok(&[
            "import",
            &col,
            &fixture(&format!("images/{name}")),
            "--create",
        ]);
        let (shape, want) = npy_data(&fixture(&format!("{name}.expected.npy")));
        let c = column_json(&env, &col);
        assert_eq!(c["schema"]["shape"], json!(shape), "{name}");
        let key = name.split('.').next().unwrap();
        let got = raw(&env, &col, key);
        assert_eq!(got.len(), want.len(), "{name}");
        if exact {
            assert_eq!(got, want, "{name}");
        } else {
            // Decoders may differ by rounding; Pillow (libjpeg) is the reference.
            let worst = got
                .iter()
                .zip(&want)
                .map(|(a, b)| a.abs_diff(*b))
                .max()
                .unwrap();
            assert!(worst <= 4, "{name}: differs from libjpeg by up to {worst}");
        }
    }
    assert_eq!(column_json(&env, "gray16_png")["schema"]["dtype"], "uint16");
    // A directory of images of different ranks cannot share one column.
    let e = env.err(&[
        "import",
        "all",
        &fixture("images"),
        "--create",
        "--variable-shape",
    ]);
    assert!(e.contains("one rank"), "{e}");
    // PNG export of non-image samples is refused.
    env.ok(&[
        "import",
        "f",
        &fixture("fortran_be_f4.npy"),
        "--create",
        "--whole",
    ]);
    env.ok(&["commit", "-m", "c"]);
    let e = env.err(&["export", "f", "-o", "pngs", "--format", "png"]);
    assert!(e.contains("uint8 or uint16"), "{e}");
}

#[test]
fn parquet_and_arrow_tables() {
    let env = Env::new();
    env.init();
    let (_, emb) = npy_data(&fixture("tensors.expected.npy"));
    for (col, file) in [
        ("e1", "tensors.parquet"),
        ("e2", "tensors_zstd.parquet"),
        ("e3", "tensors.arrow"),
    ] {
        let v = env.json(&[
            "import",
            col,
            &fixture(file),
            "--field",
            "emb",
            "--key-field",
            "id",
            "--create",
        ]);
        assert_eq!(v["columns"][col]["imported"], 3, "{file}");
        assert_eq!(column_json(&env, col)["schema"]["shape"], json!([2, 3]));
        assert_eq!(raw(&env, col, "11"), emb[24..48], "{file}");
    }
    // Several value columns: --field is needed, and the message says so.
    let e = env.err(&["import", "x", &fixture("tensors.parquet"), "--create"]);
    assert!(
        e.contains("--field") && e.contains("emb") && e.contains("caption"),
        "{e}"
    );
    let e = env.err(&[
        "import",
        "x",
        &fixture("tensors.parquet"),
        "--field",
        "nope",
        "--create",
    ]);
    assert!(e.contains("no column \"nope\""), "{e}");
    // Strings keyed by id.
    env.ok(&[
        "import",
        "captions",
        &fixture("tensors.parquet"),
        "--field",
        "caption",
        "--key-field",
        "id",
        "--create",
    ]);
    assert_eq!(env.ok(&["cat", "captions", "12", "--staged"]), "a bird\n");
    // Lists: a variable-shape column sized to the longest.
    env.ok(&["import", "lists", &fixture("lists.parquet"), "--create"]);
    let c = column_json(&env, "lists");
    assert_eq!(
        (
            c["schema"]["shape"].clone(),
            c["schema"]["variable_shape"].clone()
        ),
        (json!([3]), json!(true))
    );
    assert_eq!(raw(&env, "lists", "1"), 3i32.to_le_bytes());
    // Binary values with string keys.
    env.ok(&["import", "blobs", &fixture("blobs.parquet"), "--create"]);
    assert_eq!(raw(&env, "blobs", "x"), [0u8, 1]);
    // An Arrow IPC stream of plain numbers.
    env.ok(&["import", "scores", &fixture("scores.arrows"), "--create"]);
    assert_eq!(raw(&env, "scores", "2"), 2.5f64.to_le_bytes());
    env.ok(&["commit", "-m", "tables"]);
    // str, bytes and variable-shape columns round-trip through Parquet.
    for col in ["captions", "blobs", "lists"] {
        let out = format!("{col}.parquet");
        env.ok(&["export", col, "-o", &out]);
        let back = format!("{col}_back");
        env.ok(&["import", &back, &out, "--create"]);
        let keys: Vec<&str> = match col {
            "captions" => vec!["10", "11", "12"],
            "blobs" => vec!["x", "y"],
            _ => vec!["0", "1", "2"],
        };
        for k in keys {
            assert_eq!(raw(&env, &back, k), raw(&env, col, k), "{col} {k}");
        }
    }
    // str and bytes as files in a directory.
    env.ok(&["export", "captions", "-o", "caps"]);
    assert_eq!(
        std::fs::read_to_string(env.file("caps/10.txt")).unwrap(),
        "a cat"
    );
    env.ok(&["export", "blobs", "-o", "bl"]);
    assert_eq!(std::fs::read(env.file("bl/y.bin")).unwrap(), [0xff]);
    let e = env.err(&["export", "captions", "-o", "c.npz"]);
    assert!(e.contains(".npz holds arrays"), "{e}");
}

#[test]
fn existing_keys_are_skipped_or_overwritten_and_counted() {
    let env = Env::new();
    env.init();
    // No progress bar when stderr is not a terminal: only the note.
    let (_, e) = env.code(
        0,
        &["import", "images", &fixture("rows_u8.npy"), "--create"],
    );
    assert_eq!(e.trim(), "Created column images (ndarray uint8 (4, 4))");
    let (out, e) = env.code(0, &["import", "images", &fixture("rows_u8.npy"), "--quiet"]);
    assert!(
        e.is_empty() && out.is_empty(),
        "--quiet printed {out:?} {e:?}"
    );
    let v = env.json(&["import", "images", &fixture("rows_u8.npy")]);
    assert_eq!(
        v["columns"]["images"],
        json!({"imported": 0, "overwritten": 0, "skipped_existing": 10, "unchanged": 0})
    );
    // Every key skipped: nothing staged, and the report says so.
    let out = env.ok(&["import", "images", &fixture("rows_u8.npy")]);
    assert!(
        out.contains("Nothing staged") && !out.contains("Staged;"),
        "{out}"
    );
    let out = env.ok(&["import", "images", &fixture("rows_u8.npy"), "--start", "5"]);
    assert!(
        out.contains("5 samples imported") && out.contains("5 skipped"),
        "{out}"
    );
    // Keys 0-9 hold rows 0-9 (the --start 5 import skipped 5-9): all unchanged.
    let v = env.json(&["import", "images", &fixture("rows_u8.npy"), "--overwrite"]);
    assert_eq!(
        v["columns"]["images"],
        json!({"imported": 0, "overwritten": 0, "skipped_existing": 0, "unchanged": 10})
    );
    // At --start 5: keys 5-9 (rows 5-9) get rows 0-4, keys 10-14 already hold rows 5-9.
    let v = env.json(&[
        "import",
        "images",
        &fixture("rows_u8.npy"),
        "--overwrite",
        "--start",
        "5",
    ]);
    assert_eq!(
        v["columns"]["images"],
        json!({"imported": 0, "overwritten": 5, "skipped_existing": 0, "unchanged": 5})
    );
    assert_eq!(column_json(&env, "images")["num_samples"], 15);
    env.ok(&["commit", "-m", "all of it"]);
    // Overwriting with identical values and -m: nothing to commit, exit 1 (as commit).
    let (out, e) = env.code(
        1,
        &[
            "import",
            "images",
            &fixture("rows_u8.npy"),
            "--overwrite",
            "--start",
            "5",
            "-m",
            "again",
        ],
    );
    assert!(out.contains("10 unchanged"), "{out}");
    assert!(e.contains("nothing to commit"), "{e}");
}

#[test]
fn import_options_branch_commit_keys_layout() {
    let env = Env::new();
    env.init();
    env.ok(&["column", "create", "images", "uint8", "4", "4"]);
    env.ok(&["commit", "-m", "column"]);
    env.ok(&["branch", "create", "dev"]);
    // --branch and -m: imported and committed on dev.
    let v = env.json(&[
        "import",
        "images",
        &fixture("npy_dir"),
        "--branch",
        "dev",
        "-m",
        "import on dev",
    ]);
    assert_eq!(v["commit"].as_str().unwrap().len(), 64);
    assert_eq!(
        env.json(&["log", "dev"])["commits"][0]["message"],
        "import on dev"
    );
    // ...and the staging area is back on the branch it was on.
    assert_eq!(env.json(&["status"])["branch"], "master");
    // --int-keys needs numeric names.
    let e = env.err(&["import", "images", &fixture("npy_dir"), "--int-keys"]);
    assert!(e.contains("s0") && e.contains("whole number"), "{e}");
    // --rows / --whole decide; they cannot both be given.
    env.code(
        2,
        &[
            "import",
            "images",
            &fixture("rows_u8.npy"),
            "--rows",
            "--whole",
        ],
    );
    let e = env.err(&["import", "images", &fixture("rows_u8.npy"), "--whole"]);
    assert!(e.contains("does not fit"), "{e}");
    // The notes.txt in npy_dir is left out, not an error; a direct unsupported file is.
    let e = env.err(&["import", "images", &fixture("npy_dir/notes.txt")]);
    assert!(e.contains("unsupported file type"), "{e}");
    // A missing column without --create.
    let e = env.err(&["import", "nope", &fixture("rows_u8.npy")]);
    assert!(
        e.contains("does not exist") && e.contains("--create"),
        "{e}"
    );
    // Just a column: a usage error.
    let e = env.err(&["import", "images"]);
    assert!(e.contains("at least one file"), "{e}");
}

#[test]
fn nothing_is_staged_when_any_header_is_bad() {
    let env = Env::new();
    env.init();
    env.ok(&["column", "create", "images", "uint8", "4", "4"]);
    env.ok(&["commit", "-m", "c"]);
    // The second file does not fit: the first is not staged either.
    let e = env.err(&[
        "import",
        "images",
        &fixture("rows_u8.npy"),
        &fixture("fortran_be_f4.npy"),
    ]);
    assert!(e.contains("fortran_be_f4.npy"), "{e}");
    assert_eq!(env.json(&["status"])["clean"], true);
    // A truncated file is named in the error.
    let bytes = std::fs::read(fixture("rows_u8.npy")).unwrap();
    std::fs::write(env.file("cut.npy"), &bytes[..bytes.len() - 3]).unwrap();
    let e = env.err(&["import", "images", env.file("cut.npy").to_str().unwrap()]);
    assert!(e.contains("cut.npy") && e.contains("truncated"), "{e}");
    // The same key twice in one import.
    std::fs::create_dir(env.file("dup")).unwrap();
    std::fs::copy(fixture("npy_dir/s0.npy"), env.file("dup/a.npy")).unwrap();
    std::fs::create_dir(env.file("dup2")).unwrap();
    std::fs::copy(fixture("npy_dir/s1.npy"), env.file("dup2/a.npy")).unwrap();
    let e = env.err(&[
        "import",
        "images",
        env.file("dup").to_str().unwrap(),
        env.file("dup2").to_str().unwrap(),
    ]);
    assert!(e.contains("appears twice"), "{e}");
    assert_eq!(env.json(&["status"])["clean"], true);
}

#[test]
fn nested_columns_import_export_cat() {
    let env = Env::new();
    env.init();
    env.ok(&[
        "column",
        "create",
        "crops",
        "uint8",
        "4",
        "4",
        "--subsamples",
    ]);
    for (sample, subs) in [("a", ["s0", "s1"].as_slice()), ("b", ["s2"].as_slice())] {
        std::fs::create_dir_all(env.file(&format!("nested/{sample}"))).unwrap();
        for s in subs {
            std::fs::copy(
                fixture(&format!("npy_dir/{s}.npy")),
                env.file(&format!("nested/{sample}/{s}.npy")),
            )
            .unwrap();
        }
    }
    let v = env.json(&["import", "crops", "nested"]);
    assert_eq!(v["columns"]["crops"]["imported"], 3);
    env.ok(&["commit", "-m", "nested"]);
    let c = column_json(&env, "crops");
    assert_eq!(
        (c["num_samples"].clone(), c["num_subsamples"].clone()),
        (json!(2), json!(3))
    );
    let list = env.ok(&["cat", "crops", "a"]);
    assert!(
        list.starts_with("2 subsamples") && list.contains("s1: ndarray uint8 (4, 4)"),
        "{list}"
    );
    let v = env.json(&["cat", "crops", "a"]);
    assert_eq!(v["subsamples"].as_array().unwrap().len(), 2);
    assert_eq!(raw(&env, "crops", "b/s2"), [2u8; 16]);
    // Round trips through Parquet and a directory tree.
    env.ok(&["export", "crops", "-o", "crops.parquet"]);
    env.ok(&["export", "crops", "-o", "crops_dir"]);
    assert!(env.file("crops_dir/a/s1.npy").is_file());
    env.ok(&[
        "column",
        "create",
        "back1",
        "uint8",
        "4",
        "4",
        "--subsamples",
    ]);
    env.ok(&[
        "column",
        "create",
        "back2",
        "uint8",
        "4",
        "4",
        "--subsamples",
    ]);
    env.ok(&["import", "back1", "crops.parquet"]);
    env.ok(&["import", "back2", "crops_dir"]);
    env.ok(&["commit", "-m", "back"]);
    for col in ["back1", "back2"] {
        for k in ["a/s0", "a/s1", "b/s2"] {
            assert_eq!(raw(&env, col, k), raw(&env, "crops", k), "{col} {k}");
        }
    }
    // npz members named SAMPLE/SUB.
    env.ok(&["export", "crops", "-o", "crops.npz"]);
    env.ok(&[
        "column",
        "create",
        "back3",
        "uint8",
        "4",
        "4",
        "--subsamples",
    ]);
    env.ok(&["import", "back3", "crops.npz", "-m", "npz"]);
    assert_eq!(raw(&env, "back3", "a/s1"), raw(&env, "crops", "a/s1"));
    // Errors: a flat file into a nested column; a subsample of a flat column.
    let e = env.err(&["import", "back3", &fixture("npy_dir/s0.npy")]);
    assert!(e.contains("nested"), "{e}");
    env.ok(&[
        "import",
        "flat",
        &fixture("rows_u8.npy"),
        "--create",
        "-m",
        "flat",
    ]);
    let e = env.err(&["cat", "flat", "0/1"]);
    assert!(e.contains("not nested"), "{e}");
}

#[test]
fn cat_forms_and_errors() {
    let env = Env::new();
    env.init();
    env.ok(&["import", "images", &fixture("rows_u8.npy"), "--create"]);
    env.ok(&["column", "create", "names", "str"]);
    env.ok(&[
        "import",
        "names",
        &fixture("tensors.parquet"),
        "--field",
        "caption",
    ]);
    env.ok(&["commit", "-m", "c"]);
    let text = env.ok(&["cat", "images", "3"]);
    assert!(
        text.starts_with("ndarray uint8 (4, 4) (16 elements)"),
        "{text}"
    );
    assert!(text.contains("min ") && text.contains("mean "), "{text}");
    let v = env.json(&["cat", "images", "int:3"]);
    assert_eq!(
        (v["key"].clone(), v["dtype"].clone(), v["shape"].clone()),
        (json!(3), json!("uint8"), json!([4, 4]))
    );
    let e = env.err(&["cat", "images", "42"]);
    assert!(e.contains("42"), "{e}");
    let e = env.err(&["cat", "nope", "1"]);
    assert!(e.contains("nope"), "{e}");
    assert_eq!(env.ok(&["cat", "names", "0"]), "a cat\n");
    let v = env.json(&["cat", "names", "2"]);
    assert_eq!(v["value"], "a bird");
    // Staged samples are seen with --staged only.
    env.ok(&[
        "import",
        "images",
        &fixture("rows_u8.npy"),
        "--start",
        "100",
    ]);
    env.err(&["cat", "images", "100"]);
    assert_eq!(
        raw(&env, "images", "0"),
        env.cmd()
            .args(["cat", "images", "100", "--staged", "--raw"])
            .output()
            .unwrap()
            .stdout
    );
    // At an older revision.
    let first = env.json(&["log"])["commits"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.ok(&["cat", "images", "3", &first[..12]]);
    env.code(2, &["cat", "images", "3", "master", "--staged"]);
}

#[test]
fn quickstart_builds_the_demo() {
    let env = Env::new();
    let out = env.ok(&["quickstart"]);
    assert!(out.contains("Summary of Contents"), "{out}");
    assert!(
        out.contains("Merge branch 'more-data' into master"),
        "{out}"
    );
    assert!(out.contains("|\\") && out.contains("|/"), "{out}");
    let repo = env.file("hangar-quickstart");
    let r = repo.to_str().unwrap();
    let v = env.json(&["-C", r, "summary"]);
    let cols = v["columns"].as_array().unwrap();
    let images = cols.iter().find(|c| c["name"] == "images").unwrap();
    assert_eq!(images["num_samples"], 2000);
    assert_eq!(
        env.json(&["-C", r, "log"])["commits"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(env.json(&["-C", r, "verify"])["ok"], true);
    assert_eq!(
        env.ok(&["-C", r, "cat", "class_names", "9"]),
        "Ankle boot\n"
    );
    // The first built-in image is the first Fashion-MNIST test image (an ankle boot).
    assert_eq!(env.json(&["-C", r, "cat", "labels", "0"])["max"], 9.0);
    let e = env.err(&["quickstart"]);
    assert!(e.contains("--overwrite"), "{e}");
    let v = env.json(&["quickstart", "--overwrite"]);
    assert_eq!(v["summary"]["columns"].as_array().unwrap().len(), 3);
    let v = env.json(&["quickstart", "elsewhere"]);
    assert!(v["path"].as_str().unwrap().ends_with("elsewhere"));
}

#[test]
fn quickstart_full_uses_the_debian_dataset() {
    let env = Env::new();
    if !std::path::Path::new("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
        .exists()
    {
        let e = env.err(&["quickstart", "--full"]);
        assert!(e.contains("dataset-fashion-mnist"), "{e}");
        return;
    }
    let v = env.json(&["quickstart", "--full"]);
    let images = v["summary"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "images")
        .unwrap()
        .clone();
    assert_eq!(images["num_samples"], 70000);
}

/// Issue 12 item 1: the integer key 3 and the string key "3" are exported to distinct
/// files, archive members and table keys, and come back as themselves.
#[test]
fn integer_and_string_keys_never_share_an_exported_name() {
    let env = Env::new();
    env.init();
    env.ok(&["import", "images", &fixture("rows_u8.npy"), "--create"]);
    let (_, data) = npy_data(&fixture("rows_u8.npy"));
    let row = |k: usize| data[k * 16..(k + 1) * 16].to_vec();
    // The string key "3" holding row 7.
    env.ok(&["commit", "-m", "rows"]);
    env.ok(&["export", "images", "-o", "seven", "--key", "7"]);
    std::fs::rename(env.file("seven/7.npy"), env.file("seven/3.npy")).unwrap();
    env.ok(&["import", "images", env.file("seven").to_str().unwrap()]);
    env.ok(&["commit", "-m", "string key 3"]);
    assert_eq!(raw(&env, "images", "str:3"), row(7));
    assert_eq!(raw(&env, "images", "int:3"), row(3));

    let v = env.json(&["export", "images", "-o", "dir"]);
    assert_eq!(v["written"], 11);
    let mut names: Vec<String> = std::fs::read_dir(env.file("dir"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 11, "{names:?}");
    assert!(names.contains(&"3.npy".to_string()) && names.contains(&"str:3.npy".to_string()));
    assert_eq!(npy_data(env.file("dir/3.npy").to_str().unwrap()).1, row(3));
    assert_eq!(
        npy_data(env.file("dir/str:3.npy").to_str().unwrap()).1,
        row(7)
    );
    // A second export without --force stops before writing anything.
    std::fs::remove_file(env.file("dir/5.npy")).unwrap();
    let e = env.err(&["export", "images", "-o", "dir"]);
    assert!(e.contains("already exists"), "{e}");
    assert!(
        !env.file("dir/5.npy").exists(),
        "the export wrote before stopping"
    );

    // .npz members, read back with --int-keys: every key as itself.
    env.ok(&["export", "images", "-o", "all.npz"]);
    env.ok(&[
        "import",
        "again",
        env.file("all.npz").to_str().unwrap(),
        "--int-keys",
        "--create",
    ]);
    assert_eq!(raw(&env, "again", "str:3"), row(7));
    assert_eq!(raw(&env, "again", "int:3"), row(3));
    let cols = env.json(&["column", "list"]);
    let again = cols["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "again")
        .unwrap()
        .clone();
    assert_eq!(again["num_samples"], 11, "{again}");

    // A table of mixed keys: one string key column, the two keys apart.
    env.ok(&["export", "images", "-o", "t.parquet"]);
    env.ok(&[
        "import",
        "tab",
        env.file("t.parquet").to_str().unwrap(),
        "--create",
    ]);
    assert_eq!(raw(&env, "tab", "int:3"), row(3));
    assert_eq!(raw(&env, "tab", "str:3"), row(7));
}

/// Issue 12 item 5: dot-only keys are keys; every export keeps them inside its target
/// (tagged `str:.` / `str:..`) and import reads them back.
#[test]
fn dot_keys_export_inside_the_target_and_read_back() {
    use hangar_core::{DType, NdArraySpec, Repository, SampleKey, TensorRef};
    let env = Env::new();
    env.init();
    {
        let repo = Repository::open(env.path()).unwrap();
        let co = repo.checkout_writer().unwrap();
        let flat = co
            .add_ndarray_column("flat", NdArraySpec::with_shape(DType::U8, &[2]))
            .unwrap();
        let n = co
            .add_ndarray_column(
                "n",
                NdArraySpec::with_shape(DType::U8, &[2]).contains_subsamples(true),
            )
            .unwrap();
        flat.set(".", TensorRef::new(&[1u8, 1], &[2])).unwrap();
        flat.set("..", TensorRef::new(&[2u8, 2], &[2])).unwrap();
        n.set_subsample("..", SampleKey::from("."), TensorRef::new(&[3u8, 3], &[2]))
            .unwrap();
        n.set_subsample("..", SampleKey::from(".."), TensorRef::new(&[4u8, 4], &[2]))
            .unwrap();
        co.commit("dots").unwrap();
        co.close().unwrap();
    }
    let outside_before = std::fs::read_dir(env.path()).unwrap().count();
    env.ok(&["export", "n", "-o", "deep/out"]);
    env.ok(&["export", "flat", "-o", "flatdir"]);
    for (file, want) in [
        ("deep/out/str:../str:..npy", [3u8, 3]),
        ("deep/out/str:../str:...npy", [4, 4]),
        ("flatdir/str:..npy", [1, 1]),
        ("flatdir/str:...npy", [2, 2]),
    ] {
        assert_eq!(npy_data(env.file(file).to_str().unwrap()).1, want, "{file}");
    }
    // Nothing landed next to the targets: only the two new directories appeared.
    assert_eq!(
        std::fs::read_dir(env.path()).unwrap().count(),
        outside_before + 2
    );
    assert_eq!(std::fs::read_dir(env.file("deep")).unwrap().count(), 1);
    // Read back through an import of the directory and of an .npz.
    env.ok(&[
        "import",
        "back",
        env.file("flatdir").to_str().unwrap(),
        "--create",
    ]);
    assert_eq!(raw(&env, "back", "str:.."), [2, 2]);
    env.ok(&["export", "flat", "-o", "flat.npz"]);
    env.ok(&[
        "import",
        "nback",
        env.file("flat.npz").to_str().unwrap(),
        "--create",
    ]);
    assert_eq!(raw(&env, "nback", "."), [1, 1]);
    assert_eq!(raw(&env, "nback", ".."), [2, 2]);
}

/// Issue 12 item 8: an unknown extension is an error listing the formats; `-o -` writes
/// to stdout where the format allows it (one stacked .npy, an Arrow IPC stream).
#[test]
fn export_targets_unknown_extensions_and_stdout() {
    let env = rows_repo();
    let e = env.err(&["export", "images", "-o", "a.csv"]);
    assert!(
        e.contains(".csv") && e.contains("parquet") && e.contains("arrows"),
        "{e}"
    );
    assert!(!env.file("a.csv").exists());
    // An existing directory is a directory, whatever its name.
    std::fs::create_dir(env.file("out.d")).unwrap();
    env.ok(&["export", "images", "-o", "out.d"]);
    assert!(env.file("out.d/0.npy").exists());

    let e = env.err(&["export", "images", "-o", "-"]);
    assert!(
        e.contains("--format npy") && e.contains("--format arrows"),
        "{e}"
    );
    let e = env.err(&["export", "images", "-o", "-", "--format", "parquet"]);
    assert!(e.contains("cannot be written to stdout"), "{e}");
    assert!(!env.file("-").exists(), "a file named - was written");
    let e = env.err(&["export", "images", "-o", "-", "--format", "npy", "--json"]);
    assert!(e.contains("--json"), "{e}");

    // One stacked array on stdout: the same bytes as the file export.
    env.ok(&["export", "images", "-o", "stacked.npy"]);
    let out = env.run_ok(
        env.cmd()
            .args(["export", "images", "-o", "-", "--format", "npy"]),
    );
    assert_eq!(out.stdout, std::fs::read(env.file("stacked.npy")).unwrap());
    assert!(String::from_utf8_lossy(&out.stderr).contains("to stdout"));

    // An Arrow IPC stream on stdout and in a .arrows file; both import back.
    let out = env.run_ok(
        env.cmd()
            .args(["export", "images", "-o", "-", "--format", "arrows"]),
    );
    std::fs::write(env.file("piped.arrows"), &out.stdout).unwrap();
    env.ok(&["export", "images", "-o", "file.arrows"]);
    assert_eq!(std::fs::read(env.file("file.arrows")).unwrap(), out.stdout);
    env.ok(&[
        "import",
        "back",
        env.file("piped.arrows").to_str().unwrap(),
        "--create",
    ]);
    let (_, data) = npy_data(&fixture("rows_u8.npy"));
    for k in 0..10usize {
        assert_eq!(
            raw(&env, "back", &format!("int:{k}")),
            data[k * 16..(k + 1) * 16]
        );
    }
}

/// Issue 12 item 12: cat reads the branch head, column list the staging area; a column
/// imported but not committed is named as staged, with the command that reads it.
#[test]
fn cat_of_a_staged_column_says_how_to_read_it() {
    let env = rows_repo();
    env.ok(&["import", "more", &fixture("rows_u8.npy"), "--create"]);
    let e = env.err(&["cat", "more", "0"]);
    assert!(
        e.contains("staged but not committed") && e.contains("hangar cat more 0 --staged"),
        "{e}"
    );
    assert_eq!(raw(&env, "more", "0").len(), 16);
    // A column that exists nowhere keeps the plain answer.
    let e = env.err(&["cat", "nosuch", "0"]);
    assert!(!e.contains("staged"), "{e}");
}

/// Issue 12 item 13: rm stages deletions (all or nothing), metadata has list/get/set/delete.
#[test]
fn rm_and_metadata_commands() {
    let env = rows_repo();
    let e = env.err(&["rm", "images", "1", "99"]);
    assert!(
        e.contains("no sample \"99\"") && e.contains("nothing was deleted"),
        "{e}"
    );
    assert!(env.ok(&["status"]).contains("Nothing staged"));
    let out = env.ok(&["rm", "images", "1", "2"]);
    assert!(
        out.contains("Deleted 2 samples from column images"),
        "{out}"
    );
    env.ok(&["commit", "-m", "drop two"]);
    assert_eq!(column_json(&env, "images")["num_samples"], 8);
    let e = env.err(&["rm", "images", "1/0"]);
    assert!(e.contains("not nested") || e.contains("no sample"), "{e}");

    env.ok(&["metadata", "set", "source", "Fashion-MNIST"]);
    env.ok(&["metadata", "set", "split", "train"]);
    // The branch head has none yet; the staging area has both.
    let e = env.err(&["metadata", "get", "source"]);
    assert!(e.contains("no metadata key"), "{e}");
    assert_eq!(
        env.ok(&["metadata", "get", "source", "--staged"]).trim(),
        "Fashion-MNIST"
    );
    env.ok(&["commit", "-m", "metadata"]);
    assert_eq!(
        env.ok(&["metadata", "list"]),
        "source: Fashion-MNIST\nsplit: train\n"
    );
    let v = env.json(&["metadata", "list"]);
    assert_eq!(
        v["metadata"],
        json!({"source": "Fashion-MNIST", "split": "train"})
    );
    env.ok(&["metadata", "delete", "split"]);
    env.ok(&["commit", "-m", "drop split"]);
    assert_eq!(env.ok(&["metadata", "list"]), "source: Fashion-MNIST\n");
    assert_eq!(
        env.ok(&["metadata", "list", "HEAD~1"]),
        "source: Fashion-MNIST\nsplit: train\n"
    );
    let e = env.err(&["metadata", "delete", "nosuch"]);
    assert!(e.contains("nosuch"), "{e}");

    // Before the first commit only the staging area has metadata: reading the branch
    // head is refused with the way to read what is staged.
    let env = Env::new();
    env.ok(&["init", "--name", "A", "--email", "a@example.com"]);
    env.ok(&["metadata", "set", "source", "Fashion-MNIST"]);
    for args in [&["metadata"][..], &["metadata", "get", "source"]] {
        let e = env.err(args);
        assert!(
            e.contains("no commits yet") && e.contains("add --staged"),
            "{args:?}: {e}"
        );
    }
    let (out, _) = env.code(2, &["metadata", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["error"]["kind"], "not_found", "{out}");
    assert_eq!(
        env.ok(&["metadata", "list", "--staged"]),
        "source: Fashion-MNIST\n"
    );
}

/// Every file under `.hangar`, with its bytes.
fn all_files(env: &Env) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    fn walk(
        dir: &std::path::Path,
        out: &mut std::collections::BTreeMap<std::path::PathBuf, Vec<u8>>,
    ) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(&env.path().join(".hangar"), &mut out);
    out
}

#[test]
fn import_dry_run_prints_the_plan_and_changes_nothing() {
    let env = rows_repo();
    let before = all_files(&env);

    // A new column from the data: what --create would make, and how many samples.
    let out = env.ok(&[
        "import",
        "more",
        &fixture("rows_u8.npy"),
        "--create",
        "--dry-run",
    ]);
    assert!(
        out.contains("more: 10 samples would be imported into a new column"),
        "{out}"
    );
    assert!(out.contains("nothing staged (--dry-run)"), "{out}");
    let v = env.json(&[
        "import",
        "more",
        &fixture("rows_u8.npy"),
        "--create",
        "--dry-run",
    ]);
    assert_eq!(v["dry_run"], true, "{v}");
    assert_eq!(v["columns"]["more"]["samples"], 10, "{v}");
    assert!(v["columns"]["more"]["create"].is_string(), "{v}");
    assert_eq!(v["files"], 1, "{v}");

    // An existing column: nothing to create; rows keyed from --start.
    let more_images = || {
        let rows = fixture("rows_u8.npy");
        env.json(&["import", "images", &rows, "--start", "10", "--dry-run"])
    };
    let v = more_images();
    assert_eq!(v["columns"]["images"]["samples"], 10, "{v}");
    assert!(v["columns"]["images"]["create"].is_null(), "{v}");

    // The checks a real import makes are made: a dtype that does not fit is refused
    // with the same message, and a missing column without --create too.
    let real = env.err(&["import", "images", &fixture("halfs.npy")]);
    let dry = env.err(&["import", "images", &fixture("halfs.npy"), "--dry-run"]);
    assert_eq!(real, dry);
    let e = env.err(&["import", "nope", &fixture("rows_u8.npy"), "--dry-run"]);
    assert!(e.contains("--create"), "{e}");
    // --dry-run stages nothing, so it cannot commit.
    env.code(
        2,
        &[
            "import",
            "more",
            &fixture("rows_u8.npy"),
            "--create",
            "--dry-run",
            "-m",
            "x",
        ],
    );

    assert_eq!(before, all_files(&env), "--dry-run changed the repository");
    // And it takes no writer lock: it plans while another writer holds it.
    let repo = hangar_core::Repository::open(env.path()).unwrap();
    let writer = repo.checkout_writer().unwrap();
    let v = more_images();
    assert_eq!(v["columns"]["images"]["samples"], 10, "{v}");
    writer.close().unwrap();
}

/// Without -m an import stages to the journal only and builds no view of the staging
/// area unless it reads staged samples back: a second file into the same column does
/// (its keys are checked against the first file's), and the rebuilt view is exact.
#[test]
fn an_import_reading_back_its_own_staged_samples_sees_them_all() {
    let env = Env::new();
    env.init();
    let rows = fixture("rows_u8.npy");
    let v = env.json(&["import", "images", &rows, &rows, "--create"]);
    assert_eq!(
        v["columns"]["images"],
        json!({"imported": 20, "overwritten": 0, "skipped_existing": 0, "unchanged": 0})
    );
    let (_, data) = npy_data(&rows);
    assert_eq!(raw(&env, "images", "15"), data[5 * 16..6 * 16]);
    assert_eq!(raw(&env, "images", "9"), data[9 * 16..10 * 16]);
    // The same files again over the staged keys: every one is found and unchanged.
    let v = env.json(&["import", "images", &rows, &rows, "--overwrite"]);
    assert_eq!(
        v["columns"]["images"],
        json!({"imported": 0, "overwritten": 0, "skipped_existing": 0, "unchanged": 20})
    );
    // Shifted by 5: keys 5-19 change, 20-24 are new.
    let v = env.json(&[
        "import",
        "images",
        &rows,
        &rows,
        "--overwrite",
        "--start",
        "5",
    ]);
    assert_eq!(
        v["columns"]["images"],
        json!({"imported": 5, "overwritten": 15, "skipped_existing": 0, "unchanged": 0})
    );
    assert_eq!(raw(&env, "images", "24"), data[9 * 16..10 * 16]);
    assert_eq!(column_json(&env, "images")["num_samples"], 25);
    env.ok(&["commit", "-m", "rows twice"]);
    assert!(env.ok(&["verify"]).contains("No problems found"));
}

/// A version-1 `.npy` file of `descr` and `shape` holding `data`.
fn npy_file(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let mut header = format!(
        "{{'descr': '{descr}', 'fortran_order': False, 'shape': ({},), }}",
        dims.join(", ")
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn a_streamed_npy_of_several_batches_keeps_every_row() {
    // 8,300 rows of 1,024 big-endian int32 (34 MB): the import reads it in batches of
    // 16 MiB (4,096 rows) into buffers refilled batch after batch, each swapped to
    // native order; every batch's rows must land under their own keys.
    let env = Env::new();
    env.init();
    let (rows, cols) = (8300usize, 1024usize);
    let value = |r: usize, c: usize| (r * 7919 + c) as i32 - 3_000_000;
    let mut data = Vec::with_capacity(rows * cols * 4);
    for r in 0..rows {
        for c in 0..cols {
            data.extend_from_slice(&value(r, c).to_be_bytes());
        }
    }
    std::fs::write(env.file("be.npy"), npy_file(">i4", &[rows, cols], &data)).unwrap();
    drop(data);
    let v = env.json(&[
        "import",
        "m",
        env.file("be.npy").to_str().unwrap(),
        "--create",
    ]);
    assert_eq!(v["columns"]["m"]["imported"], rows as u64, "{v}");
    for r in [0, 4095, 4096, 8191, 8192, 8299] {
        let want: Vec<u8> = (0..cols).flat_map(|c| value(r, c).to_le_bytes()).collect();
        assert!(raw(&env, "m", &r.to_string()) == want, "row {r}");
    }
    // A bool array is checked batch by batch: a byte other than 0 or 1 in the last
    // batch refuses the whole import, and nothing of it stays staged.
    env.ok(&["reset", "--yes"]);
    let (rows, cols) = (2 * 4096 + 3, 4096usize);
    let mut bools = vec![1u8; rows * cols];
    let last = bools.len() - 5;
    bools[last] = 2;
    std::fs::write(env.file("b.npy"), npy_file("|b1", &[rows, cols], &bools)).unwrap();
    let e = env.err(&[
        "import",
        "b",
        env.file("b.npy").to_str().unwrap(),
        "--create",
    ]);
    assert!(
        e.contains("b.npy") && e.contains("other than 0 and 1"),
        "{e}"
    );
    assert_eq!(env.json(&["status"])["clean"], true);
}
