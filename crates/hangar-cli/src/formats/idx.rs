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
