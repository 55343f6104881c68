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

    /// Elements of a collection: each takes at least one byte, and none is a boolean.
    fn elements(&mut self, n: u64, ty: u8, depth: u32) -> R<()> {
        if ty == 1 || ty == 2 {
            return Err(bad(
                "a collection of booleans, which no Parquet structure holds",
            ));
        }
        if n > self.remaining() as u64 {
            return Err(bad(format!(
                "a collection claims {n} elements in {} bytes",
                self.remaining()
            )));
        }
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
                let h = self.byte()?;
                let n = match h >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                self.elements(n, h & 0x0f, depth - 1)?;
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
            if let Some(v) = self.value(h & 0x0f, depth)? {
                int(id, v);
            }
        }
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
    check_struct(&meta).map_err(|p| format!("its footer metadata is not valid: {p}"))?;
    Ok(())
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
                for (what, at, n) in [
                    ("offset index", col.offset_index_offset(), col.offset_index_length()),
                    ("column index", col.column_index_offset(), col.column_index_length()),
                ] {
                    let (Some(at), Some(n)) = (at, n) else { continue };
                    let range = u64::try_from(at)
                        .ok()
                        .zip(u64::try_from(n).ok())
                        .filter(|(a, n)| a.checked_add(*n).is_some_and(|b| b <= len));
                    let Some((at, n)) = range else {
                        return Err(format!("row group {g} column {c}: its {what} lies outside the file"));
                    };
                    check_struct(&read(at, n)?).map_err(|p| {
                        format!("row group {g} column {c}: its {what} is not valid: {p}")
                    })?;
                }
            }
            let mut pos = start;
            while pos < end {
                let mut window = 4u64 << 10;
                let (header, ints) = loop {
                    let want = window.min(end - pos);
                    match check_struct(&read(pos, want)?) {
                        Ok(v) => break v,
                        Err(Problem::Truncated) if want < end - pos && window < 16 << 20 => {
                            window *= 16
                        }
                        Err(p) => {
                            return Err(format!(
                                "row group {g} column {c}: the page header at byte {pos} is not valid: {p}"
                            ))
                        }
                    }
                };
                let body = ints
                    .iter()
                    .find(|(id, _)| *id == 3)
                    .and_then(|(_, v)| u64::try_from(*v).ok())
                    .ok_or_else(|| {
                        format!("row group {g} column {c}: the page header at byte {pos} has no valid size")
                    })?;
                pos = pos
                    .checked_add(header as u64 + body)
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
}
