//! Checks the Thrift (compact protocol) structures of a Parquet file before the parquet
//! crate decodes them, so that its work is bounded by the bytes the file holds. Used for
//! the Parquet segments of compressed columns (`segment::parquet`) and, through
//! `hangar_core::parquet_thrift`, by `hangar import` for the Parquet files it reads.
//!
//! The crate skips fields it does not know with a loop per collection element; an element
//! of type bool consumes no bytes there, so a 600-byte footer holding nested lists that
//! claim 2^31 booleans each keeps it busy for hours (found by the `import_files` fuzz
//! target). Parquet's own structures hold no collection of booleans in a footer or a page
//! header, so such a collection is refused here, and every other collection must claim
//! no more elements than bytes remain (each element takes at least one). The walk itself
//! is linear in the bytes it reads, and nesting is limited to the crate's own 64 levels.

use super::thrift_idl::{Struct, Ty, COLUMN_INDEX, FILE_META_DATA, OFFSET_INDEX, PAGE_HEADER};

/// Nesting the parquet crate's skipper allows.
const MAX_DEPTH: u32 = 64;

/// Where a walk stopped: the structure is malformed, or it runs past the bytes given.
#[derive(Debug, PartialEq, Eq)]
pub enum Problem {
    /// The structure is not valid (or would make the decoder's work unbounded).
    Malformed(String),
    /// It runs past the end of the bytes given.
    Truncated,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Malformed(m) => f.write_str(m),
            Problem::Truncated => f.write_str("it runs past the end of the bytes it was given"),
        }
    }
}

struct Walker<'a> {
    buf: &'a [u8],
    pos: usize,
}

type R<T> = Result<T, Problem>;

fn bad(m: impl Into<String>) -> Problem {
    Problem::Malformed(m.into())
}

impl Walker<'_> {
    fn byte(&mut self) -> R<u8> {
        let b = *self.buf.get(self.pos).ok_or(Problem::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn varint(&mut self) -> R<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(bad("a varint longer than 10 bytes"))
    }

    fn zigzag(&mut self) -> R<i64> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn skip(&mut self, n: u64) -> R<()> {
        if n > self.remaining() as u64 {
            return Err(Problem::Truncated);
        }
        self.pos += n as usize;
        Ok(())
    }

    /// A list's or set's header: its element count and element wire type.
    fn list_header(&mut self) -> R<(u64, u8)> {
        let h = self.byte()?;
        let n = match h >> 4 {
            15 => self.varint()?,
            n => u64::from(n),
        };
        Ok((n, h & 0x0f))
    }

    /// A collection claiming `n` elements, each taking at least one byte, fits in the
    /// bytes left.
    fn check_count(&self, n: u64) -> R<()> {
        if n > self.remaining() as u64 {
            return Err(bad(format!(
                "a collection claims {n} elements in {} bytes",
                self.remaining()
            )));
        }
        Ok(())
    }

    /// Elements of a collection: each takes at least one byte, and none is a boolean.
    fn elements(&mut self, n: u64, ty: u8, depth: u32) -> R<()> {
        if ty == 1 || ty == 2 {
            return Err(bad(
                "a collection of booleans, which no Parquet structure holds",
            ));
        }
        self.check_count(n)?;
        for _ in 0..n {
            self.value(ty, depth)?;
        }
        Ok(())
    }

    /// One value of wire type `ty`; returns it when it is an integer.
    fn value(&mut self, ty: u8, depth: u32) -> R<Option<i64>> {
        if depth == 0 {
            return Err(bad(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        match ty {
            1 | 2 => {}
            3 => {
                self.byte()?;
            }
            4..=6 => return Ok(Some(self.zigzag()?)),
            7 => self.skip(8)?,
            8 => {
                let n = self.varint()?;
                self.skip(n)?;
            }
            9 | 10 => {
                let (n, ty) = self.list_header()?;
                self.elements(n, ty, depth - 1)?;
            }
            11 => {
                let n = self.varint()?;
                if n > 0 {
                    let kv = self.byte()?;
                    if n.saturating_mul(2) > self.remaining() as u64 {
                        return Err(bad(format!("a map claims {n} entries")));
                    }
                    for _ in 0..n {
                        self.elements(1, kv >> 4, depth - 1)?;
                        self.elements(1, kv & 0x0f, depth - 1)?;
                    }
                }
            }
            12 => self.fields(depth - 1, &mut |_, _| {})?,
            t => return Err(bad(format!("unknown Thrift type {t}"))),
        }
        Ok(None)
    }

    /// A struct's fields up to its stop byte; `int` sees each integer field (id, value).
    fn fields(&mut self, depth: u32, int: &mut dyn FnMut(i64, i64)) -> R<()> {
        self.fields_with(depth, &mut |w, id, ty, depth| {
            if let Some(v) = w.value(ty, depth)? {
                int(id, v);
            }
            Ok(())
        })
    }

    /// A struct's fields up to its stop byte; `field` reads each value, given its field
    /// id, wire type and the depth left.
    fn fields_with(
        &mut self,
        depth: u32,
        field: &mut dyn FnMut(&mut Self, i64, u8, u32) -> R<()>,
    ) -> R<()> {
        if depth == 0 {
            return Err(bad(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let mut id = 0i64;
        loop {
            let h = self.byte()?;
            if h == 0 {
                return Ok(());
            }
            id = match h >> 4 {
                0 => self.zigzag()?,
                d => id + i64::from(d),
            };
            field(self, id, h & 0x0f, depth)?;
        }
    }

    /// A struct of the declared type `s` up to its stop byte: every field the format
    /// gives it has the wire type the format declares (and so on inside it), so the
    /// parquet crate, which reads a known field as its declared type whatever the wire
    /// says, reads the bytes walked here; fields it does not know are walked as the wire
    /// says, with the checks of [`check_struct`]. `seen` learns of every struct entered
    /// and every integer field it holds, by the struct's name.
    fn typed_fields(&mut self, s: &'static Struct, depth: u32, seen: &mut Seen<'_>) -> R<()> {
        seen(s.name, None);
        self.fields_with(depth, &mut |w, id, wire, depth| match s.field(id) {
            Some(ty) if !ty.matches(wire) => Err(bad(format!(
                "field {id} of {} has Thrift type {wire}, not the {} the format declares",
                s.name,
                ty.name()
            ))),
            Some(Ty::Struct(inner)) => w.typed_fields(inner, depth - 1, seen),
            Some(Ty::List(elem)) => w.typed_list(*elem, depth - 1, seen),
            _ => {
                if let Some(v) = w.value(wire, depth)? {
                    seen(s.name, Some((id, v)));
                }
                Ok(())
            }
        })
    }

    /// A list declared of `elem` elements (its wire type checked by the caller), its
    /// elements walked at `depth`.
    fn typed_list(&mut self, elem: Ty, depth: u32, seen: &mut Seen<'_>) -> R<()> {
        if depth == 0 {
            return Err(bad(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let (n, et) = self.list_header()?;
        if !elem.matches(et) {
            // An empty list may name another element type (writers send a bare 0), but
            // not booleans where none are declared.
            if n == 0 {
                return self.elements(0, et, depth);
            }
            return Err(bad(format!(
                "a list of Thrift type {et} where the format declares a list of {}",
                elem.name()
            )));
        }
        self.check_count(n)?;
        for _ in 0..n {
            match elem {
                // A boolean list element takes a byte of its own.
                Ty::Bool => {
                    self.byte()?;
                }
                Ty::Struct(s) => self.typed_fields(s, depth - 1, seen)?,
                Ty::List(inner) => self.typed_list(*inner, depth - 1, seen)?,
                _ => {
                    self.value(et, depth)?;
                }
            }
        }
        Ok(())
    }
}

/// What a typed walk tells its caller: the name of each struct it enters (`None`), and
/// each integer field (id, value) of one.
type Seen<'a> = dyn FnMut(&'static str, Option<(i64, i64)>) + 'a;

/// The footer's metadata, walked once: every field of the type the format declares, and
/// its schema (field 2, a flattened tree of SchemaElements) claiming for each element no
/// more children (field 5) than elements follow it. The parquet crate reserves room for
/// every claimed child before it reads one (a 2.5 kB file claiming 450 million children
/// asked for 3.6 GB; found by the `parquet_segment` fuzz target).
fn check_file_meta_data(meta: &[u8]) -> Result<(), String> {
    let (mut elements, mut claims) = (0usize, Vec::new());
    check_typed(meta, &FILE_META_DATA, &mut |s, int| match (s, int) {
        ("SchemaElement", None) => elements += 1,
        ("SchemaElement", Some((5, c))) => claims.push((elements - 1, c)),
        _ => {}
    })
    .map_err(|p| format!("its footer metadata is not valid: {p}"))?;
    for (i, c) in claims {
        let follow = elements - 1 - i;
        if usize::try_from(c).map_or(true, |c| c > follow) {
            return Err(format!(
                "its footer's schema is not valid: schema element {i} claims {c} children, and \
                 {follow} elements follow it"
            ));
        }
    }
    Ok(())
}

/// What a page header claims: its length in bytes, the page's compressed and
/// uncompressed sizes, and a dictionary page's value count.
struct PageHeader {
    len: usize,
    compressed: i64,
    uncompressed: i64,
    dictionary_values: Option<i64>,
}

/// Walks a page header by type, taking the sizes as the parquet crate does (the last of a
/// repeated field).
fn check_page_header(buf: &[u8]) -> R<PageHeader> {
    let (mut uncompressed, mut compressed, mut dictionary_values) = (None, None, None);
    let len = check_typed(buf, &PAGE_HEADER, &mut |s, int| match (s, int) {
        ("PageHeader", Some((2, v))) => uncompressed = Some(v),
        ("PageHeader", Some((3, v))) => compressed = Some(v),
        // A dictionary header without its count is refused as a negative one.
        ("DictionaryPageHeader", None) => dictionary_values = Some(-1),
        ("DictionaryPageHeader", Some((1, v))) => dictionary_values = Some(v),
        _ => {}
    })?;
    let size = |v: Option<i64>, what: &str| {
        v.filter(|v| *v >= 0)
            .ok_or_else(|| bad(format!("it has no valid {what} size")))
    };
    Ok(PageHeader {
        len,
        compressed: size(compressed, "compressed")?,
        uncompressed: size(uncompressed, "uncompressed")?,
        dictionary_values,
    })
}

/// The reader reserves a page's claimed uncompressed size, and a dictionary page's
/// claimed value count, before it decodes a byte: both must be what the page can hold.
fn check_page_claims(page: &PageHeader, codec: parquet::basic::Compression) -> Result<(), String> {
    if let Some(x) = max_expansion(codec) {
        if page.uncompressed > page.compressed.saturating_mul(x).saturating_add(64) {
            return Err(format!(
                "claims {} bytes uncompressed from {} compressed, more than {codec} can hold",
                page.uncompressed, page.compressed
            ));
        }
    }
    match page.dictionary_values {
        Some(n) if !(0..=page.uncompressed).contains(&n) => Err(format!(
            "claims a dictionary of {n} values in {} bytes",
            page.uncompressed
        )),
        _ => Ok(()),
    }
}

/// The most bytes one compressed byte of `codec` can decode to (rounded up; the formats'
/// own limits: a Snappy copy of 64 bytes takes 3, an LZ4 length byte adds 255, a Zstandard
/// RLE block of 128 KiB takes 4 bytes). `None` for a codec this build cannot decode
/// (the reader refuses those pages by name before it sizes anything).
fn max_expansion(codec: parquet::basic::Compression) -> Option<i64> {
    use parquet::basic::Compression as C;
    match codec {
        C::UNCOMPRESSED => Some(1),
        C::SNAPPY => Some(32),
        C::LZ4 | C::LZ4_RAW => Some(256),
        C::ZSTD(_) => Some(1 << 16),
        _ => None,
    }
}

/// Checks a struct at the start of `buf`; returns its length in bytes and its top-level
/// integer fields as (field id, value).
pub fn check_struct(buf: &[u8]) -> Result<(usize, Vec<(i64, i64)>), Problem> {
    let mut w = Walker { buf, pos: 0 };
    let mut ints = Vec::new();
    w.fields(MAX_DEPTH, &mut |id, v| ints.push((id, v)))?;
    Ok((w.pos, ints))
}

/// Checks a struct of the Parquet structure `s` at the start of `buf` against the types the
/// format declares for its fields; returns its length in bytes.
fn check_typed(buf: &[u8], s: &'static Struct, seen: &mut Seen<'_>) -> Result<usize, Problem> {
    let mut w = Walker { buf, pos: 0 };
    w.typed_fields(s, MAX_DEPTH, seen)?;
    Ok(w.pos)
}

/// Reads `len` bytes at offset `at` of the Parquet file being checked (an error if the
/// file ends before): borrowed from a file held in memory, owned when read from disk.
pub type ReadAt<'a> = dyn FnMut(u64, u64) -> Result<std::borrow::Cow<'a, [u8]>, String> + 'a;

/// The footer's metadata of a Parquet file of `len` bytes lies inside the file and is
/// Thrift whose decoding is bounded by its bytes. Shared by the store's Parquet segments
/// and `hangar import`.
pub fn check_parquet_footer(len: u64, read: &mut ReadAt<'_>) -> Result<(), String> {
    if len < 12 {
        return Err(format!("{len} bytes is too short for a Parquet file"));
    }
    if &read(0, 4)?[..] != b"PAR1" {
        return Err("it does not start with the Parquet magic".into());
    }
    let tail = read(len - 8, 8)?;
    if &tail[4..] != b"PAR1" {
        return Err("it does not end with the Parquet magic (an encrypted file ends with PARE; \
                    those are not supported)"
            .into());
    }
    let meta_len = u64::from(u32::from_le_bytes(tail[..4].try_into().expect("4 bytes")));
    if meta_len + 12 > len {
        return Err(format!(
            "its footer claims {meta_len} bytes of metadata, the file holds {len} bytes"
        ));
    }
    let meta = read(len - 8 - meta_len, meta_len)?;
    check_file_meta_data(&meta)
}

/// Every page header of every column chunk of the file `meta` describes is such Thrift
/// too, and the pages lie inside their chunk, inside the file; with `page_index`, so do
/// the offset and column indexes the footer points at (for a reader that loads them).
pub fn check_parquet_pages(
    meta: &parquet::file::metadata::ParquetMetaData,
    len: u64,
    page_index: bool,
    read: &mut ReadAt<'_>,
) -> Result<(), String> {
    for (g, group) in meta.row_groups().iter().enumerate() {
        for (c, col) in group.columns().iter().enumerate() {
            // Not `byte_range()`: it panics on the negative offsets a damaged file holds.
            let start = col
                .dictionary_page_offset()
                .unwrap_or_else(|| col.data_page_offset());
            let size = col.compressed_size();
            let (Ok(start), Ok(size)) = (u64::try_from(start), u64::try_from(size)) else {
                return Err(format!(
                    "row group {g} column {c} claims a negative offset ({start}) or size ({size})"
                ));
            };
            let end = start.checked_add(size).filter(|e| *e <= len).ok_or_else(|| {
                format!("row group {g} column {c} claims bytes {start}..+{size}, the file holds {len}")
            })?;
            if page_index {
                // As the footer claims them (the crate's range helpers add unchecked).
                for (what, at, n, s) in [
                    ("offset index", col.offset_index_offset(), col.offset_index_length(), &OFFSET_INDEX),
                    ("column index", col.column_index_offset(), col.column_index_length(), &COLUMN_INDEX),
                ] {
                    let (Some(at), Some(n)) = (at, n) else { continue };
                    let range = u64::try_from(at)
                        .ok()
                        .zip(u64::try_from(n).ok())
                        .filter(|(a, n)| a.checked_add(*n).is_some_and(|b| b <= len));
                    let Some((at, n)) = range else {
                        return Err(format!("row group {g} column {c}: its {what} lies outside the file"));
                    };
                    check_typed(&read(at, n)?, s, &mut |_, _| {}).map_err(|p| {
                        format!("row group {g} column {c}: its {what} is not valid: {p}")
                    })?;
                }
            }
            let mut pos = start;
            while pos < end {
                let at = |what: String| format!("row group {g} column {c}: the page header at byte {pos} {what}");
                let mut window = 4u64 << 10;
                let page = loop {
                    let want = window.min(end - pos);
                    match check_page_header(&read(pos, want)?) {
                        Ok(v) => break v,
                        Err(Problem::Truncated) if want < end - pos && window < 16 << 20 => {
                            window *= 16
                        }
                        Err(p) => return Err(at(format!("is not valid: {p}"))),
                    }
                };
                check_page_claims(&page, col.compression()).map_err(at)?;
                pos = pos
                    .checked_add(page.len as u64 + page.compressed as u64)
                    .filter(|p| *p <= end)
                    .ok_or_else(|| {
                        format!("row group {g} column {c}: the page at byte {pos} runs past its column chunk")
                    })?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_struct_passes_with_its_integers() {
        // field 1: i32 = 3 (zigzag 6); field 3: binary "ab"; field 4: list<i32> [1, 2]; stop
        let buf = [0x15, 6, 0x28, 2, b'a', b'b', 0x19, 0x25, 2, 4, 0];
        assert_eq!(check_struct(&buf), Ok((buf.len(), vec![(1, 3)])));
    }

    #[test]
    fn boolean_lists_and_oversized_collections_are_refused() {
        // field 1: list of 2^31 booleans (header 0xF1, size varint)
        let bools = [0x19, 0xF1, 0x80, 0x80, 0x80, 0x80, 0x08, 0];
        assert!(matches!(check_struct(&bools), Err(Problem::Malformed(_))));
        // field 1: list<i32> claiming 1000 elements in 3 bytes
        let big = [0x19, 0xF5, 0xE8, 0x07, 1, 1, 0];
        assert!(matches!(check_struct(&big), Err(Problem::Malformed(_))));
        // a struct nested 100 levels deep
        let mut deep = vec![0x1C; 100];
        deep.extend(vec![0u8; 101]);
        assert!(matches!(check_struct(&deep), Err(Problem::Malformed(_))));
        assert_eq!(check_struct(&[0x15]), Err(Problem::Truncated));
    }

    /// `v` as a compact-protocol integer (zigzag varint).
    fn varint(out: &mut Vec<u8>, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        while z >= 0x80 {
            out.push(z as u8 | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
    }

    /// A PageHeader: type (1), uncompressed (2) and compressed (3) sizes as i32 fields,
    /// and, given a value count, a DictionaryPageHeader (7) holding it (field 1).
    fn page_header(uncompressed: i64, compressed: i64, dict: Option<i64>) -> Vec<u8> {
        let mut b = vec![0x15];
        varint(&mut b, 0);
        b.push(0x15);
        varint(&mut b, uncompressed);
        b.push(0x15);
        varint(&mut b, compressed);
        if let Some(n) = dict {
            b.push(0x4C);
            b.push(0x15);
            varint(&mut b, n);
            b.push(0x15);
            varint(&mut b, 0);
            b.push(0);
        }
        b.push(0);
        b
    }

    #[test]
    fn page_headers_claim_no_more_than_their_bytes_can_decode_to() {
        use parquet::basic::{Compression as C, ZstdLevel};
        let zstd = C::ZSTD(ZstdLevel::default());
        let ok = |u, c, d, codec| check_page_claims(&check_page_header(&page_header(u, c, d)).unwrap(), codec);
        assert_eq!(check_page_header(&page_header(5000, 300, None)).unwrap().len, page_header(5000, 300, None).len());
        assert_eq!(ok(5000, 300, None, zstd), Ok(()));
        assert_eq!(ok(300 << 16, 300, None, zstd), Ok(()));
        assert_eq!(ok(300 * 256, 300, Some(1000), C::LZ4_RAW), Ok(()));
        assert_eq!(ok(300, 300, None, C::UNCOMPRESSED), Ok(()));
        // 2 GB from 300 bytes (the reader would reserve the 2 GB first).
        let e = ok(i32::MAX.into(), 300, None, zstd).unwrap_err();
        assert!(e.contains("2147483647 bytes uncompressed from 300 compressed"), "{e}");
        assert!(ok(300 * 256 + 65, 300, None, C::LZ4).is_err());
        assert!(ok(301 + 64, 300, None, C::UNCOMPRESSED).is_err());
        assert!(ok(400, 300, None, C::SNAPPY).is_ok());
        // A dictionary of more values than bytes; a negative count.
        let e = ok(5000, 300, Some(5001), zstd).unwrap_err();
        assert!(e.contains("dictionary of 5001 values in 5000 bytes"), "{e}");
        assert!(ok(5000, 300, Some(-1), zstd).is_err());
        // Sizes missing or negative.
        assert!(check_page_header(&page_header(-1, 300, None)).is_err());
        assert!(check_page_header(&[0x15, 0, 0]).is_err());
    }

    #[test]
    fn known_fields_must_have_the_types_the_format_declares() {
        // ColumnIndex { 1: null_pages list<bool> [true, false], 4: boundary_order 0 }:
        // a list of booleans is what the format declares there, one byte each.
        let index = [0x19, 0x21, 1, 2, 0x35, 0, 0];
        assert_eq!(check_typed(&index, &COLUMN_INDEX, &mut |_, _| {}), Ok(index.len()));
        // The same booleans where no list of them is declared are refused.
        assert!(check_struct(&index).is_err());
        // FileMetaData { 1: version i32 2, 3: num_rows sent as a list of two i32 }.
        let footer = [0x15, 4, 0x29, 0x25, 2, 4, 0];
        assert_eq!(check_struct(&footer).map(|(n, _)| n), Ok(footer.len()));
        let e = check_typed(&footer, &FILE_META_DATA, &mut |_, _| {}).unwrap_err().to_string();
        assert!(e.contains("field 3 of FileMetaData has Thrift type 9, not the i64"), "{e}");
        // OffsetIndex { 1: page_locations as a list of i64 rather than of PageLocation }.
        let offsets = [0x19, 0x16, 2, 0];
        let e = check_typed(&offsets, &OFFSET_INDEX, &mut |_, _| {}).unwrap_err().to_string();
        assert!(e.contains("a list of Thrift type 6 where the format declares a list of PageLocation"), "{e}");
        // Fields the format does not declare are walked as the wire says.
        assert_eq!(check_typed(&[0xF5, 0x64, 0], &OFFSET_INDEX, &mut |_, _| {}), Ok(3));
    }

    #[test]
    fn schema_elements_claim_no_more_children_than_follow_them() {
        // FileMetaData { 1: version, 2: list<SchemaElement> } with elements' field 5 (num_children).
        let footer = |children: &[i64]| {
            let mut b = vec![0x15, 2, 0x19];
            b.push(((children.len() as u8) << 4) | 12);
            for &c in children {
                b.extend([0x48, 1, b'x', 0x15]);
                varint(&mut b, c);
                b.push(0);
            }
            b.push(0);
            b
        };
        assert_eq!(check_file_meta_data(&footer(&[2, 0, 0])), Ok(()));
        assert_eq!(check_file_meta_data(&footer(&[1, 1, 0])), Ok(()));
        let e = check_file_meta_data(&footer(&[3, 0, 0])).unwrap_err().to_string();
        assert!(e.contains("schema element 0 claims 3 children, and 2 elements follow it"), "{e}");
        assert!(check_file_meta_data(&footer(&[1, 0, 1])).is_err());
        assert!(check_file_meta_data(&footer(&[-1, 0])).is_err());
    }
}
