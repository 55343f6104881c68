//! Parquet segments: every format round-trips, a block is one page, damage is an error.

use super::parquet::*;
use super::SegmentFormat;
use crate::compression::Compression;
use crate::digest::{crc32, Digest};
use crate::dtype::DType;
use crate::mmap::MappedFile;

struct Row {
    digest: Digest,
    shape: Vec<u64>,
    bytes: Vec<u8>,
}

fn rows(format: &SegmentFormat, n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| {
            let (shape, bytes) = match format {
                SegmentFormat::FixedTensor { shape, .. } => {
                    let n = shape.iter().product::<u64>() as usize;
                    (Vec::new(), (0..n).map(|j| if j % 3 == 0 { (i + j) as u8 } else { 0 }).collect())
                }
                SegmentFormat::VarTensor { .. } => {
                    let s = vec![(i % 5 + 1) as u64, 3];
                    let b = (0..s[0] * 3 * 4).map(|j| (j as usize + i) as u8).collect();
                    (s, b)
                }
                SegmentFormat::Str => (Vec::new(), format!("value {i} ").repeat(i % 20 + 8).into_bytes()),
                SegmentFormat::Bytes => (Vec::new(), (0..(i % 90 + 70)).map(|j| (j * i) as u8).collect()),
            };
            let mut d = [0u8; 32];
            d[..8].copy_from_slice(&(i as u64).to_le_bytes());
            Row { digest: Digest(d), shape, bytes }
        })
        .collect()
}

fn formats() -> Vec<SegmentFormat> {
    vec![
        SegmentFormat::FixedTensor { dtype: DType::U8, shape: vec![10, 30] },
        SegmentFormat::VarTensor { dtype: DType::F32, rank: 2 },
        SegmentFormat::Str,
        SegmentFormat::Bytes,
    ]
}

fn write(dir: &std::path::Path, format: &SegmentFormat, c: Compression, rows: &[Row]) -> std::path::PathBuf {
    let path = dir.join(format!("{}.parquet", format.to_json().len() + rows.len()));
    let avg = rows.iter().map(|r| r.bytes.len() as u64).sum::<u64>() / rows.len() as u64;
    let mut w = ParquetSegmentWriter::create(&path, 7, format.clone(), c, avg).unwrap();
    for r in rows {
        w.push(r.digest, crc32(&r.bytes), &r.shape, &r.bytes).unwrap();
    }
    let (record, stored) = w.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(record.len, bytes.len() as u64);
    assert_eq!(record.crc, crc32fast::hash(&bytes));
    for (i, s) in stored.iter().enumerate() {
        assert_eq!((s.offset, s.len), (i as u64, rows[i].bytes.len() as u64));
    }
    path
}

#[test]
fn every_format_reads_back_by_row_and_as_sealed_rows() {
    let dir = tempfile::tempdir().unwrap();
    for (format, c) in formats().into_iter().zip([
        Compression::Zstd(3),
        Compression::Lz4,
        Compression::Zstd(19),
        Compression::Lz4,
    ]) {
        let rows = rows(&format, 3000);
        let path = write(dir.path(), &format, c, &rows);
        let seg = ParquetSegment::open(MappedFile::open(&path).unwrap()).unwrap();
        assert_eq!(seg.format(), &format);
        assert_eq!(seg.compression(), c);
        assert_eq!(seg.rows(), 3000);
        for (i, r) in rows.iter().enumerate() {
            let block = seg.read_block(i as u64).unwrap();
            let v = block.value(i as u64, &path).unwrap();
            assert_eq!(v.as_slice(), &r.bytes[..], "{format:?} row {i}");
        }
        let sealed = seg.sealed_rows().unwrap();
        assert_eq!(sealed.len(), rows.len());
        for (s, r) in sealed.iter().zip(&rows) {
            assert_eq!(s.digest, r.digest);
            assert_eq!(s.shape, r.shape);
        }
        assert!(seg.read_block(3000).is_err());
    }
}

/// Row groups are encoded in parallel and written in order: a segment of several groups
/// (and a last partial one) reads back row by row, every group in its place.
#[test]
fn several_row_groups_encoded_in_parallel_read_back_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let format = SegmentFormat::FixedTensor { dtype: DType::U8, shape: vec![4096] };
    let page_rows = page_rows_for(4096);
    let per_group = page_rows * BLOCKS_PER_GROUP;
    let n = (per_group * 5 + per_group / 2) as usize;
    let rows = rows(&format, n);
    let path = write(dir.path(), &format, Compression::Zstd(1), &rows);
    let file = std::fs::File::open(&path).unwrap();
    let meta = parquet::arrow::arrow_reader::ArrowReaderMetadata::load(&file, Default::default()).unwrap();
    let md = meta.metadata();
    assert_eq!(md.num_row_groups(), 6);
    for g in 0..6 {
        let expect = if g < 5 { per_group } else { per_group / 2 };
        assert_eq!(md.row_group(g).num_rows() as u64, expect, "group {g}");
    }
    let seg = ParquetSegment::open(MappedFile::open(&path).unwrap()).unwrap();
    assert_eq!(seg.rows(), n as u64);
    for (i, r) in rows.iter().enumerate().step_by(7) {
        let v = seg.read_block(i as u64).unwrap().value(i as u64, &path).unwrap();
        assert_eq!(v.as_slice(), &r.bytes[..], "row {i}");
    }
    for (s, r) in seg.sealed_rows().unwrap().iter().zip(&rows) {
        assert_eq!(s.digest, r.digest);
    }
}

#[test]
fn a_block_is_one_page_of_the_value_column() {
    let dir = tempfile::tempdir().unwrap();
    let format = SegmentFormat::FixedTensor { dtype: DType::U8, shape: vec![28, 28] };
    let rows = rows(&format, 5000);
    let path = write(dir.path(), &format, Compression::Zstd(3), &rows);
    let file = std::fs::File::open(&path).unwrap();
    let options = parquet::arrow::arrow_reader::ArrowReaderOptions::new()
        .with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Required);
    let meta = parquet::arrow::arrow_reader::ArrowReaderMetadata::load(&file, options).unwrap();
    let page_rows = page_rows_for(784) as i64;
    let md = meta.metadata();
    let leaves = md.file_metadata().schema_descr().num_columns();
    let mut pages = 0;
    for g in 0..md.num_row_groups() {
        let index = md.page_index_for_row_group(g);
        let value_leaf = index.offset_index(leaves - 1).expect("an offset index");
        for p in value_leaf.page_locations() {
            assert_eq!(p.first_row_index % page_rows, 0, "a page starts inside a block");
            pages += 1;
        }
    }
    assert_eq!(pages as i64, (5000 + page_rows - 1) / page_rows);
}

#[test]
fn damaged_or_cut_files_give_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let format = SegmentFormat::VarTensor { dtype: DType::F32, rank: 2 };
    let rows = rows(&format, 200);
    let path = write(dir.path(), &format, Compression::Zstd(3), &rows);
    let good = std::fs::read(&path).unwrap();
    let read_all = |bytes: Vec<u8>| {
        let Ok(seg) = ParquetSegment::from_bytes(&path, bytes::Bytes::from(bytes)) else {
            return;
        };
        let _ = seg.sealed_rows();
        for i in 0..200u64 {
            if let Ok(b) = seg.read_block(i) {
                let _ = b.value(i, &path);
            }
        }
    };
    for cut in (0..good.len()).step_by(11) {
        read_all(good[..cut].to_vec());
    }
    for at in (0..good.len()).step_by(5) {
        let mut b = good.clone();
        b[at] ^= 0x5A;
        read_all(b);
    }
    // Either magic damaged: refused at open, before the parquet crate reads the footer.
    for at in [0, good.len() - 1] {
        let mut b = good.clone();
        b[at] ^= 0x5A;
        let e = ParquetSegment::from_bytes(&path, bytes::Bytes::from(b)).unwrap_err();
        assert!(e.to_string().contains("Parquet magic"), "{e}");
    }
}
