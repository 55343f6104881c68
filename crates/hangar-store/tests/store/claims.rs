//! A file's claims do not size allocations: decoding a Parquet segment asks for memory in
//! proportion to the bytes it holds, whatever its footer and page headers say (inputs the
//! fuzz targets found, and the same lies made on purpose from a real segment).
// A global allocator is an unsafe trait; this one only forwards to the system's.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

use hangar_store::internal::segment::parquet::{ParquetSegment, ParquetSegmentWriter};
use hangar_store::{crc32, Compression, DType, Digest, SegmentFormat};

/// The system allocator, noting the largest single request made on each thread.
struct Watch;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

unsafe impl GlobalAlloc for Watch {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static WATCH: Watch = Watch;

/// Runs `f` and returns its result with the largest single allocation it asked for.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    let out = f();
    (out, LARGEST.with(|l| l.get()))
}

/// Opens `bytes` as a segment and reads what the fuzz target reads; the first error.
fn read_everything(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let seg = ParquetSegment::from_bytes(path, bytes::Bytes::copy_from_slice(bytes))
        .map_err(|e| e.to_string())?;
    seg.sealed_rows().map_err(|e| e.to_string())?;
    for row in 0..seg.rows().min(64) {
        seg.read_block(row)
            .map_err(|e| e.to_string())?
            .value(row, path)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

const MIB: usize = 1 << 20;

/// Found by the `parquet_segment` fuzz target: a 2.5 kB footer whose schema claims 457
/// million children of one element; the parquet crate reserved 3.6 GB for them. (Its
/// footer also holds a field of another type than the format declares, refused first.)
#[test]
fn a_footer_claiming_450_million_schema_children_is_refused_before_any_reservation() {
    let path = Path::new("tests/store/fixtures/schema-claims-450m-children.parquet");
    let bytes = std::fs::read(path).unwrap();
    let (result, largest) = largest_allocation(|| read_everything(path, &bytes));
    let e = result.unwrap_err();
    assert!(e.contains("footer metadata is not valid"), "{e}");
    assert!(
        largest < MIB,
        "asked for {largest} bytes at once reading {} bytes",
        bytes.len()
    );
}

/// A real segment's footer, its schema's root claiming 63 children where 5 elements follow.
#[test]
fn a_schema_element_claiming_more_children_than_follow_it_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut bytes) = segment(dir.path());
    // The root element: field 4 (name) "arrow_schema", field 5 (num_children) 3, zigzag 6.
    let root = b"\x48\x0carrow_schema\x15\x06";
    let at = bytes
        .windows(root.len())
        .position(|w| w == root)
        .expect("the root schema element");
    bytes[at + root.len() - 1] = 126; // 63
    let (result, largest) = largest_allocation(|| read_everything(&path, &bytes));
    let e = result.unwrap_err();
    assert!(
        e.contains("schema element 0 claims 63 children, and 5 elements follow it"),
        "{e}"
    );
    assert!(largest < MIB, "asked for {largest} bytes at once");
}

/// Found by the `parquet_segment` fuzz target: a ColumnMetaData field sent as a struct
/// where the format declares an i64. The parquet crate reads a known field as its declared
/// type whatever the wire says, so it parsed the rest as other bytes than those checked,
/// and spent seconds skipping collections of booleans that take no bytes.
#[test]
fn a_footer_field_of_another_type_than_the_format_declares_is_refused() {
    let path = Path::new("tests/store/fixtures/column-metadata-field-of-another-type.parquet");
    let bytes = std::fs::read(path).unwrap();
    let e = read_everything(path, &bytes).unwrap_err();
    assert!(
        e.contains(
            "field 10 of ColumnMetaData has Thrift type 12, not the i64 the format declares"
        ),
        "{e}"
    );
}

/// A real segment of 300 rows.
fn segment(dir: &Path) -> (std::path::PathBuf, Vec<u8>) {
    let path = dir.join("s.parquet");
    let format = SegmentFormat::FixedTensor {
        dtype: DType::U8,
        shape: vec![16],
    };
    let mut w = ParquetSegmentWriter::create(&path, 1, format, Compression::Zstd(1), 16).unwrap();
    for i in 0..300u32 {
        let v: Vec<u8> = (0..16).map(|j| (i * 7 + j) as u8).collect();
        let mut d = [0u8; 32];
        d[..4].copy_from_slice(&i.to_le_bytes());
        w.push(Digest(d), crc32(&v), &[], &v).unwrap();
    }
    w.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

/// `bytes` with its footer rewritten so that its row group (and the file) claims `rows`.
fn claiming_rows(bytes: &[u8], rows: i64) -> Vec<u8> {
    use parquet::file::metadata::{ParquetMetaDataReader, ParquetMetaDataWriter};
    let meta = ParquetMetaDataReader::new()
        .parse_and_finish(&bytes::Bytes::copy_from_slice(bytes))
        .unwrap();
    let groups: Vec<_> = meta
        .row_groups()
        .iter()
        .map(|g| g.clone().into_builder().set_num_rows(rows).build().unwrap())
        .collect();
    assert_eq!(groups.len(), 1);
    let meta = meta.into_builder().set_row_groups(groups).build();
    let meta_len =
        u32::from_le_bytes(bytes[bytes.len() - 8..bytes.len() - 4].try_into().unwrap()) as usize;
    let mut out = bytes[..bytes.len() - 8 - meta_len].to_vec();
    ParquetMetaDataWriter::new(&mut out, &meta)
        .finish()
        .unwrap();
    out
}

/// A row group claiming 2^40 rows (the file holds 300): reading every digest, as gc does,
/// decodes in batches of a block's rows rather than reserving room for the claim.
#[test]
fn a_row_group_claiming_a_trillion_rows_is_read_in_bounded_batches() {
    let dir = tempfile::tempdir().unwrap();
    let (path, good) = segment(dir.path());
    // The rewrite itself is faithful: the same claim of 300 rows reads back whole.
    assert_eq!(read_everything(&path, &claiming_rows(&good, 300)), Ok(()));
    let lying = claiming_rows(&good, 1 << 40);
    let seg = ParquetSegment::from_bytes(&path, bytes::Bytes::copy_from_slice(&lying)).unwrap();
    assert_eq!(seg.rows(), 1 << 40);
    let (result, largest) = largest_allocation(|| seg.sealed_rows().map(|r| r.len()));
    let e = result.unwrap_err().to_string();
    assert!(
        e.contains("s.parquet") && e.contains("decoded to 300 of the 1099511627776 rows"),
        "{e}"
    );
    assert!(largest < 16 * MIB, "asked for {largest} bytes at once");
}

/// Found by the `parquet_segment` fuzz target: a byte-stream-split page shorter than its
/// values makes the parquet crate index out of bounds; the store reports corruption.
#[test]
fn a_page_the_decoder_panics_on_is_reported_as_corruption() {
    let path = Path::new("tests/store/fixtures/byte-stream-split-page-panics.parquet");
    let bytes = std::fs::read(path).unwrap();
    let e = read_everything(path, &bytes).unwrap_err();
    assert!(e.contains("the Parquet decoder failed"), "{e}");
}
