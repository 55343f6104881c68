//! NumPy `.npy` files (format versions 1.0, 2.0 and 3.0): numeric and bool arrays, either
//! byte order, C or Fortran order. Written as version 1.0 (2.0 for very long headers),
//! little-endian, C order, with the header padded to 64 bytes as numpy does.

use std::io::Write;

use anyhow::{bail, ensure, Context as _};
use hangar_core::DType;

use super::{elements, swap_bytes, Array};

const MAGIC: &[u8] = b"\x93NUMPY";

/// What a `.npy` header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub dtype: DType,
    pub big_endian: bool,
    pub fortran: bool,
    pub shape: Vec<usize>,
    /// Where the data starts.
    pub offset: usize,
}

fn dtype_of(descr: &str) -> anyhow::Result<(DType, bool)> {
    let (order, code) = match descr.chars().next() {
        Some(c @ ('<' | '>' | '|' | '=')) => (c, &descr[1..]),
        _ => ('=', descr),
    };
    let dtype = match code {
        "b1" | "?" => DType::Bool,
        "u1" | "B" => DType::U8,
        "u2" => DType::U16,
        "u4" => DType::U32,
        "u8" => DType::U64,
        "i1" | "b" => DType::I8,
        "i2" => DType::I16,
        "i4" => DType::I32,
        "i8" => DType::I64,
        "f2" | "e" => DType::F16,
        "f4" => DType::F32,
        "f8" => DType::F64,
        _ => bail!(
            "unsupported numpy dtype {descr:?}: hangar stores bool, (u)int8-64 and float16/32/64 arrays"
        ),
    };
    Ok((dtype, order == '>' && dtype.size() > 1))
}

/// The text of a quoted Python string value after `key` in the header dict.
fn dict_value<'a>(dict: &'a str, key: &str) -> anyhow::Result<&'a str> {
    let pat_a = format!("'{key}'");
    let pat_b = format!("\"{key}\"");
    let at = dict
        .find(&pat_a)
        .map(|i| i + pat_a.len())
        .or_else(|| dict.find(&pat_b).map(|i| i + pat_b.len()))
        .with_context(|| format!("the header has no {key:?} entry"))?;
    let rest = dict[at..].trim_start();
    let rest = rest
        .strip_prefix(':')
        .context("malformed header dictionary")?;
    Ok(rest.trim_start())
}

/// Parses the header of a `.npy` file from its first bytes.
pub fn header(bytes: &[u8]) -> anyhow::Result<Header> {
    ensure!(
        bytes.len() >= 10 && &bytes[..6] == MAGIC,
        "not a .npy file (no \\x93NUMPY magic)"
    );
    let major = bytes[6];
    let (len, start): (usize, usize) = match major {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 => {
            ensure!(bytes.len() >= 12, "truncated .npy header");
            let n = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (usize::try_from(n)?, 12)
        }
        v => bail!(".npy format version {v} is not supported (1, 2 and 3 are)"),
    };
    let end = start.checked_add(len).context("header length overflows")?;
    ensure!(bytes.len() >= end, "truncated .npy header");
    let dict = std::str::from_utf8(&bytes[start..end]).context("the .npy header is not text")?;

    let descr_v = dict_value(dict, "descr")?;
    let quote = descr_v.chars().next().context("malformed descr")?;
    ensure!(
        quote == '\'' || quote == '"',
        "unsupported descr {descr_v:?} (structured arrays are not supported)"
    );
    let descr = descr_v[1..]
        .split(quote)
        .next()
        .context("malformed descr")?;
    let (dtype, big_endian) = dtype_of(descr)?;

    let fortran_v = dict_value(dict, "fortran_order")?;
    let fortran = if fortran_v.starts_with("True") {
        true
    } else if fortran_v.starts_with("False") {
        false
    } else {
        bail!("malformed fortran_order in the .npy header")
    };

    let shape_v = dict_value(dict, "shape")?;
    let inner = shape_v
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .context("malformed shape in the .npy header")?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .context("malformed shape in the .npy header")?;
    Ok(Header {
        dtype,
        big_endian,
        fortran,
        shape,
        offset: end,
    })
}

/// Reorders a Fortran-order array's elements into C order.
fn fortran_to_c(data: &[u8], shape: &[usize], size: usize) -> Vec<u8> {
    let n = data.len() / size;
    let mut out = vec![0u8; data.len()];
    // Strides of the Fortran layout, in elements.
    let mut fstride = vec![1usize; shape.len()];
    for i in 1..shape.len() {
        fstride[i] = fstride[i - 1] * shape[i - 1];
    }
    let mut idx = vec![0usize; shape.len()];
    for c in 0..n {
        let f: usize = idx.iter().zip(&fstride).map(|(i, s)| i * s).sum();
        out[c * size..(c + 1) * size].copy_from_slice(&data[f * size..(f + 1) * size]);
        // Next C-order index: the last axis moves fastest.
        for ax in (0..shape.len()).rev() {
            idx[ax] += 1;
            if idx[ax] < shape[ax] {
                break;
            }
            idx[ax] = 0;
        }
    }
    out
}

/// Bytes of data a header declares.
pub fn data_len(h: &Header) -> u128 {
    h.shape
        .iter()
        .fold(h.dtype.size() as u128, |a, &d| a.saturating_mul(d as u128))
}

/// Reads a header from the start of a stream, leaving the stream at the data. The header
/// itself is at most 1 MiB (numpy writes less than 64 KiB).
pub fn read_header(r: &mut impl std::io::Read) -> anyhow::Result<Header> {
    let mut head = vec![0u8; 12];
    r.read_exact(&mut head[..10])
        .context("not a .npy file (shorter than its header)")?;
    ensure!(&head[..6] == MAGIC, "not a .npy file (no \\x93NUMPY magic)");
    let (len, start) = match head[6] {
        1 => (usize::from(u16::from_le_bytes([head[8], head[9]])), 10),
        2 | 3 => {
            r.read_exact(&mut head[10..12])
                .context("truncated .npy header")?;
            let n = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
            (usize::try_from(n)?, 12)
        }
        v => bail!(".npy format version {v} is not supported (1, 2 and 3 are)"),
    };
    ensure!(
        len <= 1 << 20,
        "the .npy header claims {len} bytes; at most 1 MiB is accepted"
    );
    head.truncate(start);
    head.resize(start + len, 0);
    r.read_exact(&mut head[start..])
        .context("truncated .npy header")?;
    header(&head)
}

/// Checks that `body` bytes after the header are exactly the data the header declares.
pub fn check_body(h: &Header, body: u64) -> anyhow::Result<()> {
    let want = data_len(h);
    ensure!(
        u128::from(body) >= want,
        "truncated .npy file: the header promises {want} bytes of data, the file has {body}"
    );
    ensure!(
        u128::from(body) == want,
        "the .npy file holds {} bytes past the array its header declares (damaged, or not a \
         plain .npy file)",
        u128::from(body) - want
    );
    Ok(())
}

/// A `.npy` file opened for its data: the header (checked against the file's length) and
/// the file positioned at the first element.
pub fn open(path: &std::path::Path) -> anyhow::Result<(Header, std::io::BufReader<std::fs::File>)> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = f.metadata()?.len();
    let mut r = std::io::BufReader::with_capacity(1 << 20, f);
    let h = read_header(&mut r)?;
    check_body(&h, len - h.offset as u64)?;
    Ok((h, r))
}

/// Reads rows (or the whole array, as rows of one) from a stream at the data of a `.npy`
/// whose header is `h`. Fortran-order arrays of more than one dimension cannot be read
/// row by row: they are read whole, within `limit`.
pub fn rows<R: std::io::Read>(
    h: &Header,
    reader: R,
    what: &str,
) -> anyhow::Result<super::RowReader<R>> {
    ensure!(
        !(h.fortran && h.shape.len() > 1),
        "{what}: a Fortran-order array cannot be read row by row; save it in C order \
         (numpy.ascontiguousarray) and import that"
    );
    let rows = h.shape.first().copied().unwrap_or(1);
    let row = elements(h.shape.get(1..).unwrap_or(&[]))
        .and_then(|n| n.checked_mul(h.dtype.size()))
        .context("the .npy shape is too large")?;
    Ok(super::RowReader::new(
        reader,
        h.dtype,
        row,
        rows,
        h.big_endian,
        what,
    ))
}

/// Reads a whole array of at most `limit` bytes from a stream at its data.
pub fn read_whole<R: std::io::Read>(
    h: &Header,
    reader: R,
    limit: u64,
    what: &str,
) -> anyhow::Result<Array> {
    let n = data_len(h);
    super::check_sample_size(n, limit, what)?;
    let n = usize::try_from(n).context("the .npy shape is too large")?;
    let mut r = super::RowReader::new(reader, h.dtype, n, 1, h.big_endian, what);
    let mut data = Vec::new();
    r.next_rows(1, &mut data)?;
    r.finish()?;
    if h.fortran && h.shape.len() > 1 {
        data = fortran_to_c(&data, &h.shape, h.dtype.size());
    }
    Array::new(h.dtype, h.shape.clone(), data)
}

/// Reads a whole `.npy` file from bytes.
#[cfg(test)]
pub fn read(bytes: &[u8]) -> anyhow::Result<Array> {
    read_owned(bytes.to_vec())
}

/// Reads a whole `.npy` file, reusing its buffer for the elements (no second copy of a
/// large array).
pub fn read_owned(mut bytes: Vec<u8>) -> anyhow::Result<Array> {
    let h = header(&bytes)?;
    let n = elements(&h.shape)
        .and_then(|n| n.checked_mul(h.dtype.size()))
        .context("the .npy shape is too large")?;
    check_body(&h, (bytes.len() - h.offset) as u64)?;
    bytes.truncate(h.offset + n);
    bytes.drain(..h.offset);
    let mut data = bytes;
    if h.big_endian {
        swap_bytes(&mut data, h.dtype.size());
    }
    if h.dtype == DType::Bool && data.iter().any(|&b| b > 1) {
        bail!("the bool array holds bytes other than 0 and 1");
    }
    if h.fortran && h.shape.len() > 1 {
        data = fortran_to_c(&data, &h.shape, h.dtype.size());
    }
    Array::new(h.dtype, h.shape, data)
}

fn descr(dtype: DType) -> &'static str {
    match dtype {
        DType::Bool => "|b1",
        DType::U8 => "|u1",
        DType::U16 => "<u2",
        DType::U32 => "<u4",
        DType::U64 => "<u8",
        DType::I8 => "|i1",
        DType::I16 => "<i2",
        DType::I32 => "<i4",
        DType::I64 => "<i8",
        DType::F16 => "<f2",
        DType::F32 => "<f4",
        DType::F64 => "<f8",
    }
}

/// The header for an array of `dtype` and `shape`, padded so the data starts on a
/// 64-byte boundary.
pub fn header_bytes(dtype: DType, shape: &[usize]) -> Vec<u8> {
    let shape_s = match shape.len() {
        0 => "()".to_string(),
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape_s}, }}",
        descr(dtype)
    );
    let v1 = dict.len() + 1 + 64 <= usize::from(u16::MAX);
    let prefix = if v1 { 10 } else { 12 };
    let total = (prefix + dict.len() + 1).div_ceil(64) * 64;
    dict.push_str(&" ".repeat(total - prefix - dict.len() - 1));
    dict.push('\n');
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    if v1 {
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&[2, 0]);
        out.extend_from_slice(&(dict.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Writes an array (native byte order, C order) as a `.npy` file.
pub fn write(
    w: &mut impl Write,
    dtype: DType,
    shape: &[usize],
    data: &[u8],
) -> std::io::Result<()> {
    w.write_all(&header_bytes(dtype, shape))?;
    write_data(w, dtype, data)
}

/// Writes elements in `.npy`'s little-endian order.
pub fn write_data(w: &mut impl Write, dtype: DType, data: &[u8]) -> std::io::Result<()> {
    if cfg!(target_endian = "big") && dtype.size() > 1 {
        let mut d = data.to_vec();
        swap_bytes(&mut d, dtype.size());
        w.write_all(&d)
    } else {
        w.write_all(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_dtype() {
        for dtype in DType::ALL {
            let shape = vec![2, 3];
            let data: Vec<u8> = (0..6 * dtype.size())
                .map(|i| {
                    if dtype == DType::Bool {
                        (i % 2) as u8
                    } else {
                        (i * 7 % 13) as u8
                    }
                })
                .collect();
            let mut f = Vec::new();
            write(&mut f, dtype, &shape, &data).unwrap();
            assert_eq!(header(&f).unwrap().offset % 64, 0);
            let a = read(&f).unwrap();
            assert_eq!((a.dtype, a.shape, a.data), (dtype, shape, data));
        }
    }

    #[test]
    fn numpy_written_headers() {
        // As numpy 1.x writes them.
        let mut f =
            b"\x93NUMPY\x01\x00v\x00{'descr': '>i2', 'fortran_order': True, 'shape': (2, 3), }"
                .to_vec();
        f.resize(10 + 0x76 - 1, b' ');
        f.push(b'\n');
        // Fortran order, big-endian: column-major [[1,2,3],[4,5,6]] = 1,4,2,5,3,6.
        for v in [1i16, 4, 2, 5, 3, 6] {
            f.extend_from_slice(&v.to_be_bytes());
        }
        let a = read(&f).unwrap();
        assert_eq!(a.shape, [2, 3]);
        let vals: Vec<i16> = a
            .data
            .chunks_exact(2)
            .map(|b| i16::from_ne_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(vals, [1, 2, 3, 4, 5, 6]);
        let scalar = header_bytes(DType::F64, &[]);
        assert!(std::str::from_utf8(&scalar[10..])
            .unwrap()
            .contains("'shape': ()"));
        let one = header_bytes(DType::F64, &[5]);
        assert!(std::str::from_utf8(&one[10..])
            .unwrap()
            .contains("'shape': (5,)"));
    }

    #[test]
    fn bad_files_are_errors() {
        assert!(read(b"nope").is_err());
        let mut f = Vec::new();
        write(&mut f, DType::U8, &[4], &[1, 2, 3, 4]).unwrap();
        assert!(read(&f[..f.len() - 1])
            .unwrap_err()
            .to_string()
            .contains("truncated"));
        let at = f.windows(3).position(|w| w == b"|u1").unwrap();
        let mut h = f.clone();
        h[at..at + 3].copy_from_slice(b"<U5");
        let e = read(&h).unwrap_err().to_string();
        assert!(e.contains("unsupported numpy dtype"), "{e}");
        let mut v9 = f.clone();
        v9[6] = 9;
        assert!(read(&v9).is_err());
    }
}
