use std::fs::File;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, UInt8Type};
use arrow_array::Array;
use hangar_store::internal::segment::format::{
    parse_fixed_shape_metadata, EXTENSION_METADATA_KEY, EXTENSION_NAME_KEY,
};
use hangar_store::internal::segment::{PendingBatch, SegmentWriter};
use hangar_store::{crc32, DType, SegmentFormat, ValueHeader};

fn write_segment(
    format: SegmentFormat,
    values: &[(Vec<u64>, Vec<u8>)],
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    Vec<hangar_store::internal::segment::StoredRow>,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.arrow");
    let mut w = SegmentWriter::create(&path, 1, format.clone()).unwrap();
    let mut rows = Vec::new();
    // Two batches, to check offsets across blocks.
    for half in values.chunks(values.len().div_ceil(2).max(1)) {
        let mut b = PendingBatch::new(format.clone());
        for (shape, bytes) in half {
            let header = match &format {
                SegmentFormat::FixedTensor { dtype, .. }
                | SegmentFormat::VarTensor { dtype, .. } => ValueHeader::Tensor {
                    dtype: *dtype,
                    shape,
                },
                SegmentFormat::Str => ValueHeader::Str,
                SegmentFormat::Bytes => ValueHeader::Bytes,
            };
            b.push(header.digest(bytes), crc32(bytes), shape, bytes);
        }
        rows.extend(w.append(&b).unwrap().1);
    }
    let rec = w.seal().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(rec.len, bytes.len() as u64);
    assert_eq!(rec.crc, crc32(&bytes));
    hangar_store::internal::segment::check_sealed_structure(&path, &bytes).unwrap();
    for (row, (_, v)) in rows.iter().zip(values) {
        assert_eq!(
            &bytes[row.offset as usize..(row.offset + row.len) as usize],
            &v[..]
        );
    }
    (dir, path, rows)
}

fn read_back(path: &std::path::Path) -> (arrow_schema::SchemaRef, Vec<arrow_array::RecordBatch>) {
    let reader = arrow_ipc::reader::FileReader::try_new(File::open(path).unwrap(), None).unwrap();
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>().unwrap();
    (schema, batches)
}

#[test]
fn fixed_shape_segment_is_a_readable_arrow_file_with_the_canonical_extension() {
    let values: Vec<(Vec<u64>, Vec<u8>)> = (0..5u8).map(|i| (vec![2, 3], vec![i; 6])).collect();
    let (_d, path, rows) = write_segment(
        SegmentFormat::FixedTensor {
            dtype: DType::U8,
            shape: vec![2, 3],
        },
        &values,
    );
    let (schema, batches) = read_back(&path);
    let names: Vec<_> = schema.fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(names, ["digest", "crc32", "value"]);
    let value_field = schema.field(2);
    assert_eq!(
        value_field.metadata()[EXTENSION_NAME_KEY],
        "arrow.fixed_shape_tensor"
    );
    let meta = parse_fixed_shape_metadata(&value_field.metadata()[EXTENSION_METADATA_KEY]).unwrap();
    assert_eq!(meta.shape, vec![2, 3]);
    assert_eq!(batches.len(), 2);
    let mut i = 0;
    for b in &batches {
        let list = b.column(2).as_fixed_size_list();
        let digests = b.column(0).as_fixed_size_binary();
        for r in 0..b.num_rows() {
            let v = list.value(r);
            assert_eq!(v.as_primitive::<UInt8Type>().values().to_vec(), values[i].1);
            assert_eq!(digests.value(r), &rows[i].digest.0);
            i += 1;
        }
    }
    assert_eq!(i, 5);
}

#[test]
fn variable_shape_str_and_bytes_segments_read_back() {
    let f64s = |n: usize, x: f64| {
        (0..n)
            .flat_map(|i| (x + i as f64).to_le_bytes())
            .collect::<Vec<u8>>()
    };
    let values = vec![
        (vec![2, 2], f64s(4, 1.0)),
        (vec![1, 3], f64s(3, 9.0)),
        (vec![0, 3], Vec::new()),
    ];
    let (_d, path, rows) = write_segment(
        SegmentFormat::VarTensor {
            dtype: DType::F64,
            rank: 2,
        },
        &values,
    );
    for r in &rows {
        assert_eq!(
            r.offset % 8,
            0,
            "f64 data must be 8-byte aligned for zero-copy views"
        );
    }
    let (schema, batches) = read_back(&path);
    assert_eq!(
        schema.field(2).metadata()[EXTENSION_NAME_KEY],
        "arrow.variable_shape_tensor"
    );
    let all: Vec<_> = batches
        .iter()
        .flat_map(|b| {
            let s = b.column(2).as_struct();
            let data = s.column(0).as_list::<i32>();
            let shape = s.column(1).as_fixed_size_list();
            (0..b.num_rows())
                .map(|r| {
                    (
                        shape.value(r).as_primitive::<Int32Type>().values().to_vec(),
                        data.value(r)
                            .as_primitive::<Float64Type>()
                            .values()
                            .to_vec(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(all[0], (vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]));
    assert_eq!(all[1], (vec![1, 3], vec![9.0, 10.0, 11.0]));
    assert_eq!(all[2], (vec![0, 3], vec![]));

    let strs = vec![
        (vec![], "héllo wörld ✓".as_bytes().to_vec()),
        (vec![], Vec::new()),
    ];
    let (_d, path, _) = write_segment(SegmentFormat::Str, &strs);
    let (_, batches) = read_back(&path);
    assert_eq!(
        batches[0].column(2).as_string::<i32>().value(0),
        "héllo wörld ✓"
    );
    let bytes = vec![(vec![], vec![0u8, 1, 255])];
    let (_d, path, _) = write_segment(SegmentFormat::Bytes, &bytes);
    let (_, batches) = read_back(&path);
    assert_eq!(
        batches[0].column(2).as_binary::<i32>().value(0),
        &[0, 1, 255]
    );
}

#[test]
fn bool_and_every_dtype_encode() {
    for dtype in DType::ALL {
        let n = 4 * dtype.size();
        let values = vec![(vec![4], (0..n as u8).map(|b| b % 2).collect::<Vec<u8>>())];
        let (_d, path, _) = write_segment(
            SegmentFormat::FixedTensor {
                dtype,
                shape: vec![4],
            },
            &values,
        );
        let (schema, batches) = read_back(&path);
        assert_eq!(batches[0].num_rows(), 1);
        if dtype == DType::Bool {
            let arrow_schema::DataType::FixedSizeList(item, 4) = schema.field(2).data_type() else {
                panic!()
            };
            assert_eq!(item.data_type(), &arrow_schema::DataType::UInt8);
        }
        assert_eq!(schema.field(2).metadata()["hangar.dtype"], dtype.name());
        assert!(batches[0].column(2).as_fixed_size_list().values().len() == 4);
    }
}
