//! File formats `hangar import` reads and `hangar export` writes: NumPy `.npy`/`.npz`,
//! IDX (MNIST), PNG and JPEG images, Parquet and Arrow IPC tables.
//!
//! Arrays are held as [`Array`]: dtype, shape and the elements in C order, in this
//! machine's byte order.

pub mod idx;
pub mod image;
pub mod npy;
pub mod npz;
pub mod table;

use hangar_core::{BigBytes, DType};

/// Creates a new file for writing; fails if anything, a symbolic link included, already
/// has that name (`O_CREAT | O_EXCL`), so a link planted at a temporary name is never
/// written through.
pub fn create_new(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            // The OS error stays the source (the CLI reports a full disk or a permission
            // by it); the context says which of the usual causes it is.
            let hint = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
                Some(dir) if e.kind() == std::io::ErrorKind::NotFound && !dir.is_dir() => {
                    format!(
                        " (the directory {} does not exist; create it first)",
                        dir.display()
                    )
                }
                _ if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    " (something already has that name; a symbolic link is never written \
                     through)"
                        .to_string()
                }
                _ => String::new(),
            };
            anyhow::Error::new(e).context(format!("cannot create {}{hint}", path.display()))
        })
}

/// The most bytes one decoded sample may have, unless `HANGAR_MAX_SAMPLE_BYTES` says
/// otherwise (the import checks what a header declares against it, and against the
/// bytes the file holds, before allocating).
pub const DEFAULT_MAX_SAMPLE_BYTES: u64 = 1 << 31;

/// Bytes of rows read at a time from one array when importing it row by row: an import
/// holds about this much (twice, converted) whatever the size of the file.
pub const ROW_BATCH_BYTES: usize = 16 << 20;

/// The per-sample limit in force: `HANGAR_MAX_SAMPLE_BYTES` (a [`parse_size`] size) or
/// [`DEFAULT_MAX_SAMPLE_BYTES`].
pub fn max_sample_bytes() -> anyhow::Result<u64> {
    let Ok(v) = std::env::var("HANGAR_MAX_SAMPLE_BYTES") else {
        return Ok(DEFAULT_MAX_SAMPLE_BYTES);
    };
    match parse_size(&v) {
        Ok(0) => anyhow::bail!("HANGAR_MAX_SAMPLE_BYTES={v:?}: the limit must be above 0"),
        Ok(n) => Ok(n),
        Err(e) => anyhow::bail!("HANGAR_MAX_SAMPLE_BYTES: {e}"),
    }
}

/// A size in bytes as users write one, with coreutils' suffixes: a whole number of bytes
/// (`1500000`), or a number (decimals allowed) with K, M, G or T for powers of 1024
/// (`100K`, `1.5G`; also written `KiB`, `MiB`, ...) or KB, MB, GB, TB for powers of 1000.
/// Case does not matter. The error says what is accepted.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = (&t[..split], t[split..].trim());
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => 0,
    };
    let bad = || {
        format!(
            "{s:?} is not a size: give bytes (1500000), or a number with K, M, G or T \
             (powers of 1024: 100K, 1.5G) or KB, MB, GB or TB (powers of 1000)"
        )
    };
    if mult == 0 || num.is_empty() {
        return Err(bad());
    }
    let too_big = || format!("{s:?} is more bytes than can be counted (2^64)");
    if num.bytes().all(|b| b.is_ascii_digit()) {
        // Only digits: a whole number, which fails to parse only by being too large.
        return num
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(mult))
            .ok_or_else(too_big);
    }
    // A decimal: exact enough for sizes (f64 holds integers to 2^53 exactly), rounded down.
    match num.parse::<f64>() {
        Ok(x) if x.is_finite() && mult > 1 => {
            let bytes = x * mult as f64;
            if bytes >= u64::MAX as f64 {
                Err(too_big())
            } else {
                Ok(bytes as u64)
            }
        }
        _ => Err(bad()),
    }
}

/// Checks a sample's declared size against the limit, saying what to do when it is over.
pub fn check_sample_size(bytes: u128, limit: u64, what: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        bytes <= u128::from(limit),
        "{what} declares a sample of {bytes} bytes, more than the limit of {limit} bytes per \
         sample; if the file is genuine, raise HANGAR_MAX_SAMPLE_BYTES"
    );
    Ok(())
}

/// Reads an array's elements row by row from a stream that holds exactly `rows` rows of
/// `row_bytes` bytes (in the file's byte order), returning them in native byte order; the
/// stream must end right after the last row. Nothing is allocated beyond what is read.
pub struct RowReader<R> {
    reader: R,
    dtype: DType,
    row_bytes: usize,
    rows_left: usize,
    swap: bool,
    what: String,
}

impl<R> std::fmt::Debug for RowReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowReader")
            .field("rows_left", &self.rows_left)
            .finish()
    }
}

impl<R: std::io::Read> RowReader<R> {
    /// `swap`: the elements are in the other byte order.
    pub fn new(
        reader: R,
        dtype: DType,
        row_bytes: usize,
        rows: usize,
        swap: bool,
        what: &str,
    ) -> Self {
        RowReader {
            reader,
            dtype,
            row_bytes,
            rows_left: rows,
            swap,
            what: what.to_string(),
        }
    }

    /// Rows not read yet.
    pub fn rows_left(&self) -> usize {
        self.rows_left
    }

    /// How many rows make about [`ROW_BATCH_BYTES`] (at least one).
    pub fn batch_rows(&self) -> usize {
        (ROW_BATCH_BYTES / self.row_bytes.max(1)).max(1)
    }

    /// Reads the next `n` rows (fewer at the end) into `out` (cleared first).
    pub fn next_rows(&mut self, n: usize, out: &mut Vec<u8>) -> anyhow::Result<usize> {
        use anyhow::Context as _;
        use std::io::Read as _;
        let n = n.min(self.rows_left);
        out.clear();
        let len = n * self.row_bytes;
        // Read into the buffer's spare capacity, not zeroed first (zeroing 16 MiB per
        // batch was a tenth of an import's time); a short read is a truncated file.
        out.reserve(len);
        let got = (&mut self.reader)
            .take(len as u64)
            .read_to_end(out)
            .with_context(|| format!("{}: cannot read the data", self.what))?;
        self.took(n, got, out)
    }

    /// [`RowReader::next_rows`] into a buffer refilled batch after batch: its memory (in
    /// huge pages where the system has them) is faulted in once, not once a batch.
    pub fn next_rows_big(&mut self, n: usize, out: &mut BigBytes) -> anyhow::Result<usize> {
        use anyhow::Context as _;
        let n = n.min(self.rows_left);
        out.clear();
        let len = n * self.row_bytes;
        let got = out
            .read_from(&mut self.reader, len)
            .with_context(|| format!("{}: cannot read the data", self.what))?;
        self.took(n, got, out.as_mut_slice())
    }

    /// Checks the `got` bytes read for `n` rows and puts them in native byte order.
    fn took(&mut self, n: usize, got: usize, data: &mut [u8]) -> anyhow::Result<usize> {
        anyhow::ensure!(
            got == n * self.row_bytes,
            "{}: the data ends early (truncated file, or a header that promises more than \
             the file holds)",
            self.what
        );
        if self.swap {
            swap_bytes(data, self.dtype.size());
        }
        anyhow::ensure!(
            self.dtype != DType::Bool || data.iter().all(|&b| b <= 1),
            "{}: the bool array holds bytes other than 0 and 1",
            self.what
        );
        self.rows_left -= n;
        Ok(n)
    }

    /// After the last row: the stream must hold nothing more.
    pub fn finish(mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.rows_left == 0, "{}: rows left unread", self.what);
        let mut extra = [0u8; 1];
        let n = loop {
            match self.reader.read(&mut extra) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        anyhow::ensure!(
            n == 0,
            "{}: the file holds data past the array its header declares (damaged, or not \
             the file it seems to be)",
            self.what
        );
        Ok(())
    }
}

/// An n-dimensional array in C order, native byte order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Array {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

impl Array {
    /// Checks that `data` holds exactly the elements `shape` says.
    pub fn new(dtype: DType, shape: Vec<usize>, data: Vec<u8>) -> anyhow::Result<Array> {
        let want = elements(&shape)
            .and_then(|n| n.checked_mul(dtype.size()))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "shape {} is too large",
                    hangar_core::value::fmt_shape(&shape)
                )
            })?;
        anyhow::ensure!(
            data.len() == want,
            "{} bytes of data for a {} array of shape {} (needs {want})",
            data.len(),
            dtype.name(),
            hangar_core::value::fmt_shape(&shape)
        );
        Ok(Array { dtype, shape, data })
    }

    /// Rows along the first axis (0 for a scalar).
    pub fn rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }

    /// The shape of one row.
    pub fn row_shape(&self) -> &[usize] {
        self.shape.get(1..).unwrap_or(&[])
    }

    /// Bytes of one row.
    pub fn row_bytes(&self) -> usize {
        elements(self.row_shape()).unwrap_or(0) * self.dtype.size()
    }
}

/// The number of elements of `shape` (1 for a scalar), or `None` on overflow.
pub fn elements(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

/// True if every value of `from` is exactly representable in `to`, so that converting
/// loses nothing (u8 → i64, i16 → f32, f32 → f64, ...).
pub fn lossless(from: DType, to: DType) -> bool {
    use DType::*;
    if from == to {
        return true;
    }
    // (signed, bits) of integers; floats by their exact integer range in bits.
    let int = |d: DType| match d {
        Bool => Some((false, 1)),
        U8 => Some((false, 8)),
        U16 => Some((false, 16)),
        U32 => Some((false, 32)),
        U64 => Some((false, 64)),
        I8 => Some((true, 8)),
        I16 => Some((true, 16)),
        I32 => Some((true, 32)),
        I64 => Some((true, 64)),
        _ => None,
    };
    let mantissa = |d: DType| match d {
        F16 => 11,
        F32 => 24,
        F64 => 53,
        _ => 0,
    };
    match (int(from), int(to)) {
        // Unsigned into signed needs one more bit; signed never fits unsigned.
        (Some((fs, fb)), Some((ts, tb))) => (fs == ts || !fs) && tb > fb,
        // A float holds every integer of up to `mantissa` bits (and their negatives).
        (Some((_, fb)), None) => fb <= mantissa(to),
        (None, Some(_)) => false,
        (None, None) => mantissa(to) > mantissa(from),
    }
}

/// One element as a number.
#[derive(Debug, Clone, Copy)]
enum Num {
    U(u64),
    I(i64),
    F(f64),
}

fn read_num(dtype: DType, b: &[u8]) -> Num {
    let a = |n: usize| -> [u8; 8] {
        let mut x = [0u8; 8];
        x[..n].copy_from_slice(&b[..n]);
        x
    };
    match dtype {
        DType::Bool | DType::U8 => Num::U(u64::from(b[0])),
        DType::U16 => Num::U(u64::from(u16::from_ne_bytes([b[0], b[1]]))),
        DType::U32 => Num::U(u64::from(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))),
        DType::U64 => Num::U(u64::from_ne_bytes(a(8))),
        DType::I8 => Num::I(i64::from(b[0] as i8)),
        DType::I16 => Num::I(i64::from(i16::from_ne_bytes([b[0], b[1]]))),
        DType::I32 => Num::I(i64::from(i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))),
        DType::I64 => Num::I(i64::from_ne_bytes(a(8))),
        DType::F16 => Num::F(f64::from(half::f16::from_ne_bytes([b[0], b[1]]))),
        DType::F32 => Num::F(f64::from(f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))),
        DType::F64 => Num::F(f64::from_ne_bytes(a(8))),
    }
}

fn write_num(dtype: DType, n: Num, out: &mut Vec<u8>) {
    let (u, i, f) = match n {
        Num::U(u) => (u, u as i64, u as f64),
        Num::I(i) => (i as u64, i, i as f64),
        Num::F(f) => (f as u64, f as i64, f),
    };
    match dtype {
        DType::Bool => out.push(u8::from(u != 0)),
        DType::U8 => out.push(u as u8),
        DType::U16 => out.extend_from_slice(&(u as u16).to_ne_bytes()),
        DType::U32 => out.extend_from_slice(&(u as u32).to_ne_bytes()),
        DType::U64 => out.extend_from_slice(&u.to_ne_bytes()),
        DType::I8 => out.push(i as i8 as u8),
        DType::I16 => out.extend_from_slice(&(i as i16).to_ne_bytes()),
        DType::I32 => out.extend_from_slice(&(i as i32).to_ne_bytes()),
        DType::I64 => out.extend_from_slice(&i.to_ne_bytes()),
        DType::F16 => out.extend_from_slice(&half::f16::from_f64(f).to_ne_bytes()),
        DType::F32 => out.extend_from_slice(&(f as f32).to_ne_bytes()),
        DType::F64 => out.extend_from_slice(&f.to_ne_bytes()),
    }
}

/// Converts elements from `from` to `to` (borrowed when they are the same); only call
/// when [`lossless`] says so.
pub fn convert(data: &[u8], from: DType, to: DType) -> std::borrow::Cow<'_, [u8]> {
    if from == to {
        return std::borrow::Cow::Borrowed(data);
    }
    let mut out = Vec::with_capacity(data.len() / from.size() * to.size());
    for b in data.chunks_exact(from.size()) {
        write_num(to, read_num(from, b), &mut out);
    }
    std::borrow::Cow::Owned(out)
}

/// Min, max and mean of the elements, for people (`hangar cat`); `None` when empty.
pub fn stats(dtype: DType, data: &[u8]) -> Option<(f64, f64, f64)> {
    let mut it = data
        .chunks_exact(dtype.size())
        .map(|b| match read_num(dtype, b) {
            Num::U(u) => u as f64,
            Num::I(i) => i as f64,
            Num::F(f) => f,
        });
    let first = it.next()?;
    let (mut lo, mut hi, mut sum, mut n) = (first, first, first, 1usize);
    for v in it {
        lo = lo.min(v);
        hi = hi.max(v);
        sum += v;
        n += 1;
    }
    Some((lo, hi, sum / n as f64))
}

/// The elements as text (numpy-like, with `...` past `limit` elements).
pub fn values_text(dtype: DType, data: &[u8], limit: usize) -> String {
    let n = data.len() / dtype.size();
    let show = |b: &[u8]| match read_num(dtype, b) {
        Num::U(u) if dtype == DType::Bool => (if u != 0 { "True" } else { "False" }).to_string(),
        Num::U(u) => u.to_string(),
        Num::I(i) => i.to_string(),
        Num::F(f) => format!("{f}"),
    };
    let mut parts: Vec<String> = data
        .chunks_exact(dtype.size())
        .take(limit)
        .map(show)
        .collect();
    if n > limit {
        parts.push("...".into());
    }
    format!("[{}]", parts.join(", "))
}

/// Swaps the byte order of every element in place.
pub fn swap_bytes(data: &mut [u8], size: usize) {
    if size > 1 {
        for e in data.chunks_exact_mut(size) {
            e.reverse();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_users_write_them() {
        for (s, n) in [
            ("0", 0),
            ("1500000", 1_500_000),
            (" 42 ", 42),
            ("42B", 42),
            ("100k", 100 << 10),
            ("100K", 100 << 10),
            ("100KiB", 100 << 10),
            ("5M", 5 << 20),
            ("5 MiB", 5 << 20),
            ("2G", 2 << 30),
            ("1T", 1 << 40),
            ("1.5G", 3 << 29),
            ("0.5k", 512),
            ("100KB", 100_000),
            ("5mb", 5_000_000),
            ("2GB", 2_000_000_000),
            ("1TB", 1_000_000_000_000),
            ("1.5GB", 1_500_000_000),
            ("16777215T", 16_777_215 << 40),
        ] {
            assert_eq!(parse_size(s), Ok(n), "{s:?}");
        }
        for s in [
            "",
            "lots",
            "K",
            "1.5",
            "1..5K",
            "-1",
            "1e9",
            "12X",
            "1 2",
            "1.5 parsecs",
        ] {
            let e = parse_size(s).unwrap_err();
            assert!(
                e.contains("is not a size") && e.contains("100K"),
                "{s:?}: {e}"
            );
        }
        for s in ["16777216T", "18446744073709551616", "99999999999999999999G"] {
            let e = parse_size(s).unwrap_err();
            assert!(e.contains("more bytes than can be counted"), "{s:?}: {e}");
        }
    }

    #[test]
    fn lossless_conversions() {
        use DType::*;
        for (a, b) in [
            (U8, I64),
            (U8, U16),
            (I8, I16),
            (U16, F32),
            (I32, F64),
            (F16, F32),
            (F32, F64),
            (Bool, U8),
            (U8, F16),
        ] {
            assert!(lossless(a, b), "{a} -> {b}");
        }
        for (a, b) in [
            (I64, U8),
            (I8, U64),
            (U32, F32),
            (F64, F32),
            (F32, I64),
            (U64, F64),
            (I64, I32),
        ] {
            assert!(!lossless(a, b), "{a} -> {b}");
        }
    }

    #[test]
    fn convert_keeps_values() {
        let u8s = [0u8, 7, 255];
        let out = convert(&u8s, DType::U8, DType::I64);
        let back: Vec<i64> = out
            .chunks_exact(8)
            .map(|b| i64::from_ne_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(back, [0, 7, 255]);
        let i16s: Vec<u8> = [-3i16, 1000].iter().flat_map(|v| v.to_ne_bytes()).collect();
        let f = convert(&i16s, DType::I16, DType::F32);
        let back: Vec<f32> = f
            .chunks_exact(4)
            .map(|b| f32::from_ne_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(back, [-3.0, 1000.0]);
    }

    #[test]
    fn stats_and_text() {
        let (lo, hi, mean) = stats(DType::U8, &[1, 2, 3, 10]).unwrap();
        assert_eq!((lo, hi, mean), (1.0, 10.0, 4.0));
        assert_eq!(values_text(DType::U8, &[1, 2, 3], 2), "[1, 2, ...]");
        assert!(stats(DType::U8, &[]).is_none());
    }
}
