use hangar_core::{ColumnKind, DType, ErrorKind, NdArraySpec, TensorRef};

use crate::{err_text, kind, new_repo, repo_with_commit};

#[test]
fn ndarray_columns_from_a_prototype_or_shape_and_dtype() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let proto = [0f32; 12];
    let a = co
        .add_ndarray_column(
            "from_proto",
            NdArraySpec::like(TensorRef::new(&proto, &[3, 4])),
        )
        .unwrap();
    let s = a.schema().unwrap();
    assert_eq!(
        (s.kind(), s.dtype(), s.shape(), s.variable_shape()),
        (
            ColumnKind::NdArray,
            Some(DType::F32),
            &[3usize, 4][..],
            false
        )
    );
    let b = co
        .add_ndarray_column(
            "from_shape",
            NdArraySpec::with_shape(DType::I16, &[7]).variable_shape(true),
        )
        .unwrap();
    let s = b.schema().unwrap();
    assert_eq!(
        (s.dtype(), s.shape(), s.variable_shape()),
        (Some(DType::I16), &[7usize][..], true)
    );
    let e = err_text(co.add_ndarray_column("neither", NdArraySpec::new()));
    assert!(e.contains("neither"), "{e}");
    assert_eq!(
        kind(co.add_ndarray_column(
            "both",
            NdArraySpec::like(TensorRef::new(&proto, &[12])).dtype(DType::F32)
        )),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(co.add_ndarray_column("shape_only", NdArraySpec::new().shape(&[2]))),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(co.add_ndarray_column("dtype_only", NdArraySpec::new().dtype(DType::U8))),
        ErrorKind::InvalidArgument
    );
    assert_eq!(co.column_names().unwrap(), ["from_proto", "from_shape"]);
}

#[test]
fn dimensions_must_be_positive_and_rank_at_most_31() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let e = err_text(co.add_ndarray_column("z", NdArraySpec::with_shape(DType::U8, &[3, 0])));
    assert!(e.contains("greater than zero"), "{e}");
    assert_eq!(
        kind(co.add_ndarray_column("r32", NdArraySpec::with_shape(DType::U8, &[1; 32]))),
        ErrorKind::InvalidArgument
    );
    co.add_ndarray_column("r31", NdArraySpec::with_shape(DType::U8, &[1; 31]))
        .unwrap();
    co.add_ndarray_column("scalar", NdArraySpec::with_shape(DType::F64, &[]))
        .unwrap();
    assert!(!co.has_column("z").unwrap());
}

/// Three elements of `dtype` (0/1 for bool).
fn sample_bytes(dtype: DType) -> Vec<u8> {
    (0..3 * dtype.size())
        .map(|i| {
            if dtype == DType::Bool {
                (i % 2) as u8
            } else {
                (i as u8).wrapping_mul(17)
            }
        })
        .collect()
}

#[test]
fn every_dtype_round_trips() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    for dtype in DType::ALL {
        let name = format!("c_{}", dtype.name());
        let col = co
            .add_ndarray_column(&name, NdArraySpec::with_shape(dtype, &[3]))
            .unwrap();
        let bytes = sample_bytes(dtype);
        col.set("k", TensorRef::from_bytes(dtype, &[3], &bytes))
            .unwrap();
    }
    co.commit("all dtypes").unwrap();
    co.close().unwrap();
    let r = repo.checkout().unwrap();
    for dtype in DType::ALL {
        let t = r
            .column(&format!("c_{}", dtype.name()))
            .unwrap()
            .get("k")
            .unwrap()
            .into_tensor()
            .unwrap();
        assert_eq!(t.dtype(), dtype);
        assert_eq!(t.shape(), &[3]);
        let bytes = sample_bytes(dtype);
        assert_eq!(t.as_bytes(), &bytes[..]);
    }
    let b = r
        .column("c_bool")
        .unwrap()
        .get("k")
        .unwrap()
        .into_tensor()
        .unwrap();
    assert_eq!(b.as_bools().unwrap(), &[false, true, false]);
    let f = r.column("c_float64").unwrap().get_view("k").unwrap();
    assert_eq!(f.as_slice::<f64>().unwrap().len(), 3);
}

#[test]
fn column_name_rules_and_duplicates() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    for bad in [
        "bad name",
        "bädname",
        "a:b",
        "a/b",
        "../up",
        "",
        &"a".repeat(65),
    ] {
        let e = co.add_str_column(bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad:?}");
        assert!(e.to_string().contains("not suitable"), "{e}");
    }
    co.add_str_column("ok_name-1.2").unwrap();
    co.add_bytes_column(&"a".repeat(64)).unwrap();
    let e = co.add_bytes_column("ok_name-1.2").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
    assert!(e.to_string().contains("already exists"), "{e}");
    assert_eq!(co.columns().unwrap().len(), 2);
}

#[test]
fn deleting_a_column_keeps_its_history() {
    let (_dir, repo, first) = repo_with_commit();
    let co = repo.checkout_writer().unwrap();
    assert_eq!(kind(co.delete_column("nope")), ErrorKind::NotFound);
    co.delete_column("imgs").unwrap();
    assert!(!co.has_column("imgs").unwrap());
    assert_eq!(kind(co.column("imgs")), ErrorKind::NotFound);
    let second = co.commit("drop imgs").unwrap();
    // Recreate under the same name with another schema: it starts empty.
    let c = co.add_str_column("imgs").unwrap();
    assert_eq!(c.len().unwrap(), 0);
    c.set("a", "text").unwrap();
    co.commit("imgs is text now").unwrap();
    co.close().unwrap();
    assert_eq!(
        repo.checkout_commit(&first.to_hex())
            .unwrap()
            .column("imgs")
            .unwrap()
            .len()
            .unwrap(),
        3
    );
    assert!(!repo
        .checkout_commit(&second.to_hex())
        .unwrap()
        .has_column("imgs")
        .unwrap());
    assert_eq!(
        repo.checkout()
            .unwrap()
            .column("imgs")
            .unwrap()
            .get("a")
            .unwrap()
            .into_str()
            .unwrap(),
        "text"
    );
}

#[test]
fn listing_columns_shows_their_schema_details() {
    let (_dir, repo, _) = repo_with_commit();
    let r = repo.checkout().unwrap();
    let cols = r.columns().unwrap();
    assert_eq!(cols.len(), 2);
    let imgs = &cols[0];
    assert_eq!(imgs.name, "imgs");
    assert_eq!(imgs.num_samples, 3);
    assert_eq!(imgs.schema.shape(), &[2, 3]);
    assert_eq!(imgs.schema_hash.len(), 16);
    let shown = imgs.to_string();
    for field in [
        "Column Name      : imgs",
        "Schema Hash",
        "Variable Shape   : False",
        "(max) Shape      : (2, 3)",
        "Datatype         : uint8",
        "Num Samples      : 3",
    ] {
        assert!(shown.contains(field), "{field} missing from\n{shown}");
    }
    let co = repo.checkout_writer().unwrap();
    let w = co.column("imgs").unwrap().info().unwrap();
    assert_eq!(w.schema_hash, imgs.schema_hash);
    assert!(w.to_string().contains("Access Mode      : a"));
}
