//! IDX files, the format of MNIST and Fashion-MNIST (`train-images-idx3-ubyte`, ...),
//! plain or gzip-compressed: a 4-byte magic (0, 0, type, rank), the dimensions as
//! big-endian u32, then the elements big-endian.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, ensure, Context as _};
use hangar_core::DType;

use super::{elements, swap_bytes, Array};

/// True if the file name looks like an IDX file (`*-idx3-ubyte`, `*.idx1-ubyte.gz`,
/// `*.idx`).
pub fn is_idx_name(name: &str) -> bool {
    let n = name.strip_suffix(".gz").unwrap_or(name);
    n.ends_with(".idx")
        || n.split(['-', '.']).any(|part| {
            part.len() == 4 && part.starts_with("idx") && part.as_bytes()[3].is_ascii_digit()
        })
}

fn dtype_of(code: u8) -> anyhow::Result<DType> {
    Ok(match code {
        0x08 => DType::U8,
        0x09 => DType::I8,
        0x0B => DType::I16,
        0x0C => DType::I32,
        0x0D => DType::F32,
        0x0E => DType::F64,
        c => bail!("unknown IDX element type 0x{c:02x}"),
    })
}

/// Reads the file, decompressing gzip.
fn read_all(path: &Path, limit: Option<u64>) -> anyhow::Result<Vec<u8>> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut head = [0u8; 2];
    let gz = {
        let mut f2 = &f;
        f2.read(&mut head)? == 2 && head == [0x1f, 0x8b]
    };
    let f = std::fs::File::open(path)?;
    let mut out = Vec::new();
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(f))
    } else {
        Box::new(f)
    };
    match limit {
        Some(n) => reader.take(n).read_to_end(&mut out),
        None => {
            let mut r = reader;
            r.read_to_end(&mut out)
        }
    }
    .with_context(|| format!("cannot read {} (damaged gzip?)", path.display()))?;
    Ok(out)
}

/// dtype, full shape and data offset from the first bytes.
fn parse_header(b: &[u8]) -> anyhow::Result<(DType, Vec<usize>, usize)> {
    ensure!(
        b.len() >= 4 && b[0] == 0 && b[1] == 0,
        "not an IDX file (bad magic)"
    );
    let dtype = dtype_of(b[2])?;
    let rank = usize::from(b[3]);
    ensure!(rank >= 1, "IDX file of rank 0");
    let offset = 4 + 4 * rank;
    ensure!(b.len() >= offset, "truncated IDX header");
    let shape = (0..rank)
        .map(|i| {
            u32::from_be_bytes([b[4 + 4 * i], b[5 + 4 * i], b[6 + 4 * i], b[7 + 4 * i]]) as usize
        })
        .collect();
    Ok((dtype, shape, offset))
}

/// The dtype and shape (first axis: the items) without reading the data.
pub fn probe(path: &Path) -> anyhow::Result<(DType, Vec<usize>)> {
    let head = read_all(path, Some(4 + 4 * 255))?;
    let (d, s, _) = parse_header(&head)?;
    Ok((d, s))
}

/// Reads the whole array.
pub fn read(path: &Path) -> anyhow::Result<Array> {
    parse(read_all(path, None)?)
}

/// A reader of an IDX file's items (plain or through gzip).
pub type IdxRows = super::RowReader<Box<dyn Read + Send>>;

/// The most a deflate stream can expand (1032:1): a gzip'd IDX file that declares more
/// data than this allows is truncated or not what it claims.
const DEFLATE_MAX_RATIO: u128 = 1032;

/// Opens an IDX file (plain or gzip'd) for reading its items row by row: dtype, shape
/// and a reader at the first item. The declared data is checked against the file's
/// length (plain: exactly; gzip: within what deflate can expand to) before anything is
/// read; the reader then checks it exactly.
pub fn rows(path: &Path) -> anyhow::Result<(DType, Vec<usize>, IdxRows)> {
    let what = path.display().to_string();
    let mut f = std::fs::File::open(path).with_context(|| format!("cannot open {what}"))?;
    let file_len = f.metadata()?.len();
    let mut magic = [0u8; 2];
    let gz = f.read(&mut magic)? == 2 && magic == [0x1f, 0x8b];
    let f = std::fs::File::open(path)?;
    let mut reader: Box<dyn Read + Send> = if gz {
        Box::new(std::io::BufReader::new(flate2::read::GzDecoder::new(
            std::io::BufReader::new(f),
        )))
    } else {
        Box::new(std::io::BufReader::new(f))
    };
    let mut head = vec![0u8; 4];
    reader
        .read_exact(&mut head)
        .context("not an IDX file (too short)")?;
    let rank = usize::from(head[3]);
    head.resize(4 + 4 * rank, 0);
    reader
        .read_exact(&mut head[4..])
        .context("truncated IDX header")?;
    let (dtype, shape, offset) = parse_header(&head)?;
    let declared = shape
        .iter()
        .fold(dtype.size() as u128, |a, &d| a.saturating_mul(d as u128));
    if gz {
        ensure!(
            declared <= u128::from(file_len) * DEFLATE_MAX_RATIO,
            "{what}: the IDX header declares {declared} bytes of data, more than {file_len} \
             bytes of gzip can hold: the file is truncated or damaged"
        );
    } else {
        let body = u128::from(file_len) - offset as u128;
        ensure!(
            body >= declared,
            "truncated IDX file: the header promises {declared} bytes of data, there are {body}"
        );
        ensure!(
            body == declared,
            "{what}: the IDX file holds {} bytes past the array its header declares",
            body - declared
        );
    }
    let row = elements(&shape[1..])
        .and_then(|n| n.checked_mul(dtype.size()))
        .context("IDX shape too large")?;
    let swap = cfg!(target_endian = "little");
    let r = super::RowReader::new(reader, dtype, row, shape[0], swap, &what);
    Ok((dtype, shape, r))
}

/// Parses an IDX file's bytes (gzip-compressed or not).
pub fn parse_bytes(bytes: &[u8]) -> anyhow::Result<Array> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .context("damaged gzip data")?;
        return parse(out);
    }
    parse(bytes.to_vec())
}

/// Parses an IDX file, reusing its buffer for the elements.
fn parse(mut bytes: Vec<u8>) -> anyhow::Result<Array> {
    let (dtype, shape, offset) = parse_header(&bytes)?;
    let n = elements(&shape)
        .and_then(|n| n.checked_mul(dtype.size()))
        .context("IDX shape too large")?;
    ensure!(
        bytes.len() - offset >= n,
        "truncated IDX file: the header promises {n} bytes of data, there are {}",
        bytes.len() - offset
    );
    ensure!(
        bytes.len() - offset == n,
        "the IDX file holds {} bytes past the array its header declares",
        bytes.len() - offset - n
    );
    bytes.truncate(offset + n);
    bytes.drain(..offset);
    let mut data = bytes;
    if cfg!(target_endian = "little") {
        swap_bytes(&mut data, dtype.size());
    }
    Array::new(dtype, shape, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in [
            "train-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte.gz",
            "x.idx",
            "train-images.idx3-ubyte",
        ] {
            assert!(is_idx_name(ok), "{ok}");
        }
        for no in ["images.npy", "idx.png", "index"] {
            assert!(!is_idx_name(no), "{no}");
        }
    }

    #[test]
    fn reads_plain_and_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = vec![0, 0, 0x0B, 2, 0, 0, 0, 2, 0, 0, 0, 1];
        for v in [300i16, -2] {
            f.extend_from_slice(&v.to_be_bytes());
        }
        let p = dir.path().join("a-idx2-ubyte");
        std::fs::write(&p, &f).unwrap();
        let a = read(&p).unwrap();
        assert_eq!((a.dtype, a.shape.clone()), (DType::I16, vec![2, 1]));
        let v: Vec<i16> = a
            .data
            .chunks_exact(2)
            .map(|b| i16::from_ne_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(v, [300, -2]);
        let gz = dir.path().join("a-idx2-ubyte.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, &f).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        assert_eq!(read(&gz).unwrap(), a);
        assert_eq!(probe(&gz).unwrap(), (DType::I16, vec![2, 1]));
        std::fs::write(&p, &f[..f.len() - 1]).unwrap();
        assert!(read(&p).unwrap_err().to_string().contains("truncated"));
    }
}
