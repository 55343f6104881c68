//! NumPy `.npz` archives: a zip of `.npy` members (stored or deflated), as written by
//! `np.savez` and `np.savez_compressed`. Written stored (uncompressed), like `np.savez`.

use std::fs::File;
use std::io::{BufReader, BufWriter, Seek, Write};
use std::path::Path;

use anyhow::Context as _;
use hangar_core::DType;
use zip::write::SimpleFileOptions;

use super::{npy, Array};

/// An open `.npz` archive.
pub struct Npz {
    archive: zip::ZipArchive<BufReader<File>>,
}

impl std::fmt::Debug for Npz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Npz")
            .field("members", &self.archive.len())
            .finish()
    }
}

impl Npz {
    pub fn open(path: &Path) -> anyhow::Result<Npz> {
        let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let archive = zip::ZipArchive::new(BufReader::new(f))
            .with_context(|| format!("{} is not a valid .npz (zip) archive", path.display()))?;
        Ok(Npz { archive })
    }

    /// The array names (member names without `.npy`), in archive order.
    pub fn names(&mut self) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        for i in 0..self.archive.len() {
            let f = self.archive.by_index(i)?;
            if f.is_dir() {
                continue;
            }
            let name = f.name()?.to_string();
            out.push(name.strip_suffix(".npy").unwrap_or(&name).to_string());
        }
        Ok(out)
    }

    fn index_of(&self, name: &str) -> anyhow::Result<usize> {
        // The archive's directory is a hash map: O(1) per member, not a scan.
        self.archive
            .index_for_name(&format!("{name}.npy"))
            .or_else(|| self.archive.index_for_name(name))
            .with_context(|| format!("no array {name:?} in the archive"))
    }

    /// The `.npy` header of array `name`.
    pub fn header(&mut self, name: &str) -> anyhow::Result<npy::Header> {
        let i = self.index_of(name)?;
        let mut f = self.archive.by_index(i)?;
        npy::read_header(&mut f).with_context(|| format!("array {name:?}"))
    }

    /// Array `name`'s header and a reader of its rows (checked exactly against the
    /// header; the zip's own checksum is checked at the end of the member).
    pub fn rows(
        &mut self,
        name: &str,
        what: &str,
    ) -> anyhow::Result<(
        npy::Header,
        super::RowReader<zip::read::ZipFile<'_, BufReader<File>>>,
    )> {
        let i = self.index_of(name)?;
        let mut f = self.archive.by_index(i)?;
        let h = npy::read_header(&mut f).with_context(|| format!("array {name:?}"))?;
        // The member's size in the archive's directory bounds the data before any row is
        // read (the reader then checks the data itself, and the zip's checksum).
        let declared = npy::data_len(&h);
        let holds = u128::from(f.size()).saturating_sub(h.offset as u128);
        anyhow::ensure!(
            declared <= holds,
            "{what}: the .npy header declares {declared} bytes of data but the archive \
             member holds {holds}: the archive is truncated or damaged"
        );
        let r = npy::rows(&h, f, what)?;
        Ok((h, r))
    }

    /// Array `name`, whole, of at most `limit` bytes.
    pub fn read(&mut self, name: &str, limit: u64) -> anyhow::Result<Array> {
        let i = self.index_of(name)?;
        let mut f = self.archive.by_index(i)?;
        let h = npy::read_header(&mut f).with_context(|| format!("array {name:?}"))?;
        npy::read_whole(&h, f, limit, &format!("array {name:?}"))
    }
}

/// Writes `.npz` archives one array at a time.
pub struct NpzWriter<W: Write + Seek> {
    zip: zip::ZipWriter<W>,
}

impl<W: Write + Seek> std::fmt::Debug for NpzWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NpzWriter")
    }
}

impl NpzWriter<BufWriter<File>> {
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let f = super::create_new(path)?;
        Ok(NpzWriter {
            zip: zip::ZipWriter::new(BufWriter::new(f)),
        })
    }
}

impl<W: Write + Seek> NpzWriter<W> {
    /// Adds array `name` (stored as `name.npy`).
    pub fn add(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[usize],
        data: &[u8],
    ) -> anyhow::Result<()> {
        let opts = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(data.len() >= (u32::MAX as usize) - 4096);
        self.zip.start_file(format!("{name}.npy"), opts)?;
        npy::write(&mut self.zip, dtype, shape, data)?;
        Ok(())
    }

    /// Writes the archive's directory; the file is complete after this.
    pub fn finish(self) -> anyhow::Result<W> {
        Ok(self.zip.finish()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npz");
        let mut w = NpzWriter::create(&p).unwrap();
        w.add("x", DType::U8, &[2, 2], &[1, 2, 3, 4]).unwrap();
        w.add("y", DType::I64, &[1], &7i64.to_ne_bytes()).unwrap();
        w.finish().unwrap().flush().unwrap();
        let mut r = Npz::open(&p).unwrap();
        assert_eq!(r.names().unwrap(), ["x", "y"]);
        assert_eq!(r.header("y").unwrap().dtype, DType::I64);
        let x = r.read("x", u64::MAX).unwrap();
        assert_eq!((x.shape, x.data), (vec![2, 2], vec![1, 2, 3, 4]));
        assert!(r.read("z", u64::MAX).is_err());
        std::fs::write(dir.path().join("bad.npz"), b"PK\x03\x04 not really").unwrap();
        assert!(Npz::open(&dir.path().join("bad.npz")).is_err());
    }
}
