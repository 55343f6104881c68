//! Unit tests of the table readers and writers.

use super::*;

fn write(
    path: &Path,
    kind: &ExportKind,
    rows: Vec<(SampleKey, Option<SampleKey>, Cell)>,
    parquet: bool,
) {
    let int_keys = rows.iter().all(|r| matches!(r.0, SampleKey::Int(_)));
    let nested = rows
        .iter()
        .any(|r| r.1.is_some())
        .then(|| rows.iter().all(|r| matches!(r.1, Some(SampleKey::Int(_)))));
    let schema = export_schema(kind, int_keys, nested);
    let mut w = TableWriter::create(path, &schema, parquet).unwrap();
    let mut b = BatchBuilder::default();
    for (k, s, c) in rows {
        let v = match c {
            Cell::Tensor { dtype, shape, data } => hangar_core::Value::Tensor(
                hangar_core::TensorRef::from_bytes(dtype, &shape, &data).into(),
            ),
            Cell::Str(s) => hangar_core::Value::Str(s),
            Cell::Bytes(b) => hangar_core::Value::Bytes(b),
        };
        b.push(k, s, &v);
    }
    w.write(&b.finish(&schema, kind).unwrap()).unwrap();
    w.finish().unwrap();
}

#[test]
fn round_trips_every_kind() {
    let dir = tempfile::tempdir().unwrap();
    let t = |dtype: DType, shape: Vec<usize>, v: u8| Cell::Tensor {
        data: vec![v; shape.iter().product::<usize>() * dtype.size()],
        dtype,
        shape,
    };
    type Rows = Vec<(SampleKey, Option<SampleKey>, Cell)>;
    let cases: Vec<(ExportKind, Rows)> = vec![
        (
            ExportKind::Fixed {
                dtype: DType::U8,
                shape: vec![2, 3],
            },
            vec![
                (SampleKey::Int(0), None, t(DType::U8, vec![2, 3], 1)),
                (SampleKey::Int(5), None, t(DType::U8, vec![2, 3], 9)),
            ],
        ),
        (
            ExportKind::Fixed {
                dtype: DType::Bool,
                shape: vec![2],
            },
            vec![(SampleKey::Str("a".into()), None, t(DType::Bool, vec![2], 1))],
        ),
        (
            ExportKind::Fixed {
                dtype: DType::F16,
                shape: vec![],
            },
            vec![(SampleKey::Int(1), None, t(DType::F16, vec![], 3))],
        ),
        (
            ExportKind::Variable {
                dtype: DType::I32,
                rank: 2,
            },
            vec![
                (SampleKey::Int(0), None, t(DType::I32, vec![1, 2], 4)),
                (SampleKey::Int(1), None, t(DType::I32, vec![3, 1], 5)),
            ],
        ),
        (
            ExportKind::Str,
            vec![(SampleKey::Str("s".into()), None, Cell::Str("héllo".into()))],
        ),
        (
            ExportKind::Bytes,
            vec![
                (
                    SampleKey::Str("k".into()),
                    Some(SampleKey::Str("sub".into())),
                    Cell::Bytes(vec![0, 255]),
                ),
                (
                    SampleKey::Str("k".into()),
                    Some(SampleKey::Int(3)),
                    Cell::Bytes(vec![1]),
                ),
            ],
        ),
    ];
    for (i, (kind, rows)) in cases.into_iter().enumerate() {
        for parquet in [true, false] {
            let p = dir.path().join(format!(
                "t{i}.{}",
                if parquet { "parquet" } else { "arrow" }
            ));
            write(&p, &kind, rows.clone(), parquet);
            let back = read_all(&p).unwrap();
            assert_eq!(back.len(), rows.len());
            for ((k, s, c), (bk, bs, bc)) in rows.iter().zip(back) {
                let bk = bk.unwrap();
                // String keys come back as strings; integer keys as integers.
                assert_eq!(&bk, k, "{kind:?}");
                // Mixed subkeys are written as strings.
                assert_eq!(
                    s.as_ref().map(ToString::to_string),
                    bs.map(|s| s.to_string())
                );
                assert_eq!(c, &bc, "{kind:?} parquet={parquet}");
            }
        }
    }
}

#[test]
fn plan_errors_name_the_columns() {
    let schema = Schema::new(vec![
        Field::new("a", DataType::Float32, false),
        Field::new("b", DataType::Utf8, false),
    ]);
    let e = plan(&schema, None, None).unwrap_err().to_string();
    assert!(e.contains("--field"), "{e}");
    let e = plan(&schema, Some("zz"), None).unwrap_err().to_string();
    assert!(e.contains("\"a\""), "{e}");
    let p = plan(&schema, Some("a"), None).unwrap();
    assert_eq!(
        p.kind,
        ValueKind::Fixed {
            dtype: DType::F32,
            shape: vec![]
        }
    );
    let e = plan(&schema, Some("a"), Some("a")).unwrap_err().to_string();
    assert!(e.contains("keys must be integers or strings"), "{e}");
    let p = plan(&schema, Some("a"), Some("b")).unwrap();
    assert_eq!(p.key, Some(1));
}
