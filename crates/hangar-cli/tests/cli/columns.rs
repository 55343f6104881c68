//! column create / list / remove.

use crate::Env;

#[test]
fn create_every_dtype_and_kind() {
    let env = Env::new();
    env.init();
    for (i, dtype) in [
        "bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64",
        "float16", "float32", "float64", "u8", "F32", "UINT8",
    ]
    .iter()
    .enumerate()
    {
        let out = env.ok(&["column", "create", &format!("c{i}"), dtype, "2", "3"]);
        assert!(out.contains("Initialized column"), "{out}");
    }
    env.ok(&["column", "create", "scalar", "int64"]);
    env.ok(&["column", "create", "commas", "uint8", "28,28"]);
    env.ok(&[
        "column",
        "create",
        "var",
        "uint8",
        "512",
        "512",
        "3",
        "--variable-shape",
    ]);
    env.ok(&[
        "column",
        "create",
        "nested_arr",
        "float32",
        "4",
        "--subsamples",
    ]);
    env.ok(&["column", "create", "text", "str"]);
    env.ok(&["column", "create", "blobs", "bytes"]);
    env.ok(&[
        "column",
        "create",
        "nested_text",
        "str",
        "--contains-subsamples",
    ]);
    env.ok(&["column", "create", "nested_blobs", "bytes", "--subsamples"]);
    let v = env.json(&["column", "list"]);
    let cols = v["columns"].as_array().unwrap();
    let get = |n: &str| {
        cols.iter()
            .find(|c| c["name"] == n)
            .unwrap_or_else(|| panic!("{n}"))
            .clone()
    };
    assert_eq!(get("c0")["schema"]["dtype"], "bool");
    assert_eq!(get("c12")["schema"]["dtype"], "uint8");
    assert_eq!(get("c13")["schema"]["dtype"], "float32");
    assert_eq!(get("c11")["schema"]["shape"], serde_json::json!([2, 3]));
    assert_eq!(get("scalar")["schema"]["shape"], serde_json::json!([]));
    assert_eq!(
        get("commas")["schema"]["shape"],
        serde_json::json!([28, 28])
    );
    assert_eq!(get("var")["schema"]["variable_shape"], true);
    assert_eq!(get("nested_arr")["schema"]["nested"], true);
    assert_eq!(get("nested_arr")["num_subsamples"], 0);
    assert_eq!(get("text")["schema"]["kind"], "str");
    assert_eq!(get("text")["schema"]["variable_shape"], false);
    assert_eq!(get("blobs")["schema"]["kind"], "bytes");
    assert_eq!(get("nested_text")["schema"]["nested"], true);
    assert_eq!(get("nested_blobs")["schema"]["nested"], true);
    let text = env.ok(&["column", "list"]);
    assert!(text.starts_with("NAME"), "{text}");
    assert!(
        text.contains("var") && text.contains("(512, 512, 3) max"),
        "{text}"
    );
}

#[test]
fn create_errors() {
    let env = Env::new();
    env.init();
    let e = env.err(&["column", "create", "x", "complex64", "2"]);
    assert!(e.contains("unknown dtype") && e.contains("float32"), "{e}");
    let e = env.err(&["column", "create", "x", "uint8", "two"]);
    assert!(e.contains("not a dimension"), "{e}");
    let e = env.err(&["column", "create", "x", "str", "4"]);
    assert!(e.contains("no shape"), "{e}");
    let e = env.err(&["column", "create", "bad name", "uint8", "2"]);
    assert!(e.contains("not suitable"), "{e}");
    let e = env.err(&["column", "create", "x", "uint8", "0"]);
    assert!(e.contains("greater than zero"), "{e}");
    env.ok(&["column", "create", "x", "uint8", "2"]);
    let e = env.err(&["column", "create", "x", "uint8", "2"]);
    assert!(e.contains("x"), "{e}");
    // The lock is released after each error: a later command works.
    env.ok(&["status"]);
}

#[test]
fn list_of_a_commit_and_remove() {
    let env = Env::new();
    env.init();
    env.ok(&["column", "create", "a", "uint8", "2"]);
    env.ok(&["column", "create", "b", "str"]);
    env.ok(&["commit", "-m", "two columns"]);
    let out = env.ok(&["column", "remove", "b"]);
    assert!(out.contains("Removed column b"), "{out}");
    let staged = env.json(&["column", "list"]);
    assert_eq!(staged["columns"].as_array().unwrap().len(), 1);
    let committed = env.json(&["column", "list", "master"]);
    assert_eq!(committed["columns"].as_array().unwrap().len(), 2);
    let s = env.json(&["status"]);
    assert_eq!(s["columns_deleted"][0], "b");
    let e = env.err(&["column", "remove", "nope"]);
    assert!(e.contains("nope"), "{e}");
    let v = env.json(&["column", "remove", "a"]);
    assert_eq!(v["removed"], "a");
    // Empty list: nothing on stdout.
    assert_eq!(env.ok(&["column", "list"]), "");
}

#[test]
fn compression_on_create_and_import() {
    let env = Env::new();
    env.init();
    let out = env.ok(&[
        "column",
        "create",
        "imgs",
        "uint8",
        "28",
        "28",
        "--compression",
        "zstd:9",
    ]);
    assert!(out.contains("zstd:9"), "{out}");
    env.ok(&["column", "create", "notes", "str", "--compression", "lz4"]);
    env.ok(&["column", "create", "plain", "uint8", "4"]);
    let e = env.err(&[
        "column",
        "create",
        "bad",
        "uint8",
        "4",
        "--compression",
        "gzip",
    ]);
    assert!(e.contains("zstd") && e.contains("lz4"), "{e}");
    let e = env.err(&["column", "create", "bad", "str", "--compression", "zstd:30"]);
    assert!(e.contains("1 to 22"), "{e}");
    let v = env.json(&["column", "list"]);
    let compression = |n: &str| {
        v["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == n)
            .unwrap()["schema"]["compression"]
            .clone()
    };
    assert_eq!(compression("imgs"), "zstd:9");
    assert_eq!(compression("notes"), "lz4");
    assert_eq!(compression("plain"), "none");
    assert!(env.ok(&["column", "list"]).contains("COMPRESSION"));

    // import --create --compression: the committed values are Parquet segments, and
    // export gives back what went in.
    let data: Vec<u8> = (0..40 * 100u32)
        .map(|i| (i % 7 * (i / 100)) as u8)
        .collect();
    let mut file = hangar_cli::formats::npy::header_bytes(hangar_core::DType::U8, &[40, 10, 10]);
    file.extend_from_slice(&data);
    let npy = env.file("rows.npy").to_string_lossy().into_owned();
    std::fs::write(&npy, file).unwrap();
    env.ok(&[
        "import",
        "rows",
        &npy,
        "--create",
        "--compression",
        "zstd",
        "-m",
        "compressed rows",
    ]);
    let v = env.json(&["column", "list", "master"]);
    let rows = v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "rows")
        .unwrap()
        .clone();
    assert_eq!(
        rows["schema"]["compression"], "zstd:1",
        "zstd alone is level 1"
    );
    let segments: Vec<String> = std::fs::read_dir(env.path().join(".hangar/segments"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        segments.iter().any(|s| s.ends_with(".parquet")),
        "{segments:?}"
    );
    assert!(
        !segments.iter().any(|s| s.ends_with(".arrow")),
        "{segments:?}"
    );
    env.ok(&["export", "rows", "-o", "back.npy"]);
    let (back_shape, back) = crate::npy_data(&env.file("back.npy").to_string_lossy());
    assert_eq!((back_shape, back), (vec![40, 10, 10], data));
    let (_, e) = env.code(2, &["import", "more", &npy, "--compression", "zstd"]);
    assert!(e.contains("--create"), "{e}");
    env.ok(&["verify"]);
}
