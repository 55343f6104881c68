//! Memory: the `hangar` command-line tool holds memory bounded by what the user stores,
//! never by what a file claims (DESIGN §3 rule 9, issue 11 item 2). Each case runs the
//! release `hangar` binary under GNU time (`/usr/bin/time -f %M`, the peak resident set)
//! on an input made for it, and fails when the peak passes its bound:
//!
//! - streaming imports of large arrays row by row (`.npy`, gzip'd IDX, an `.npz` member,
//!   Parquet) stay within the tool's own footprint plus twice the import's working batch
//!   (and the staging area's overlay per staged record);
//! - a directory of large images stays within twice the decode batch;
//! - one large sample stays within twice its size, and `cat` of it within its size;
//! - forged headers (a 16000x16000 JPEG in a few hundred bytes, a `.npy` of 2^62 empty
//!   rows, a gzip bomb) are refused with exit 2 before allocating.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Figures;

const MIB: u64 = 1 << 20;
/// What an import holds at a time beyond the tool itself: a batch of rows read (16 MiB),
/// converted, queued in the bulk session and buffered for its segment (16 MiB each).
const BATCH: u64 = 64 * MIB;
/// What the staging area holds in memory per staged record (its overlay: key, digest,
/// change lists; issue 10's write path cuts it to 64 bytes).
const PER_RECORD: u64 = 512;
/// Decoded bytes of whole files decoded at once (the import's DECODE_BATCH_BYTES).
const DECODE_BATCH: u64 = 256 * MIB;

/// A `.npy` header for u8 elements of `shape` (the tool's own writer).
fn npy_header(shape: &[u64]) -> Vec<u8> {
    let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    hangar_cli::formats::npy::header_bytes(hangar_core::DType::U8, &shape)
}

/// Writes a `.npy` of `rows` x `row` bytes (u8) without holding it in memory: `fill`
/// gives row `r` its bytes.
pub(crate) fn write_u8_npy(
    path: &Path,
    rows: u64,
    row: u64,
    mut fill: impl FnMut(u64, &mut [u8]),
) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(&npy_header(&[rows, row]))?;
    let mut c = vec![0u8; row as usize];
    for r in 0..rows {
        fill(r, &mut c);
        f.write_all(&c)?;
    }
    f.flush()
}

/// A `.npy` of `rows` x `row` bytes filled with a pattern (rows differ in their first
/// byte).
fn write_npy(path: &Path, rows: u64, row: u64) -> std::io::Result<()> {
    write_u8_npy(path, rows, row, |r, c| {
        for (i, b) in c.iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        if let Some(first) = c.first_mut() {
            *first = (r % 256) as u8;
        }
    })
}

struct Run {
    code: Option<i32>,
    peak: u64,
    stderr: String,
}

fn measure(hangar: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::io::Result<Run> {
    let report = dir.join(".peak-rss");
    let mut cmd = Command::new("/usr/bin/time");
    cmd.arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(hangar)
        .args(["-q"])
        .args(args)
        .current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output()?;
    let kb: u64 = std::fs::read_to_string(&report)?
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    Ok(Run {
        code: out.status.code(),
        peak: kb * 1024,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

fn mib(b: u64) -> String {
    format!("{:.0} MiB", b as f64 / MIB as f64)
}

/// Runs every case with `hangar` (the release binary) and inputs of `size` bytes.
pub fn run(hangar: &Path, size: u64) -> Figures {
    let mut figs = Figures::new("memory: peak RSS of the hangar tool against its bounds");
    if !Path::new("/usr/bin/time").is_file() {
        figs.fail(
            "GNU time (/usr/bin/time, Debian package `time`) is needed to measure the peak RSS",
        );
        return figs;
    }
    if !hangar.is_file() {
        figs.fail(format!(
            "{} is missing: build it with `cargo build --release -p hangar-cli`",
            hangar.display()
        ));
        return figs;
    }
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => {
            figs.fail(format!("tempdir: {e}"));
            return figs;
        }
    };
    if let Err(e) = cases(hangar, tmp.path(), size, &mut figs) {
        figs.fail(format!("setting up: {e}"));
    }
    figs
}

fn cases(hangar: &Path, root: &Path, size: u64, figs: &mut Figures) -> std::io::Result<()> {
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo)?;
    let init = measure(
        hangar,
        &repo,
        &["init", "--name", "m", "--email", "m@example.com"],
        &[],
    )?;
    let base = measure(hangar, &repo, &["status"], &[])?;
    if init.code != Some(0) || base.code != Some(0) {
        figs.fail(format!(
            "init/status failed: {}{}",
            init.stderr, base.stderr
        ));
        return Ok(());
    }
    // The tool's own footprint (code, maps, allocator) plus slack for the OS's accounting.
    let own = base.peak.max(16 * MIB) + 32 * MIB;
    figs.add("hangar status (the tool's own footprint)", mib(base.peak));
    let check = |figs: &mut Figures, name: &str, r: &Run, want_code: i32, bound: u64| {
        figs.add(
            name,
            format!(
                "peak {} (bound {}), exit {:?}",
                mib(r.peak),
                mib(bound),
                r.code
            ),
        );
        if r.code != Some(want_code) {
            figs.fail(format!(
                "{name}: exit {:?}, expected {want_code}: {}",
                r.code,
                r.stderr.trim()
            ));
        }
        if r.peak > bound {
            figs.fail(format!(
                "{name}: peak RSS {} is over its bound {}",
                mib(r.peak),
                mib(bound)
            ));
        }
    };
    let row = 4096u64;
    let rows = size / row;
    let streaming = own + 2 * BATCH + rows * PER_RECORD;
    // 1. A large .npy imported row by row.
    let npy = root.join("big.npy");
    write_npy(&npy, rows, row)?;
    let r = measure(
        hangar,
        &repo,
        &[
            "import",
            "rows",
            npy.to_str().unwrap_or_default(),
            "--create",
        ],
        &[],
    )?;
    check(
        figs,
        &format!("import of a {} .npy, row by row", mib(size)),
        &r,
        0,
        streaming,
    );
    // 2. The same rows as a gzip'd IDX file.
    let idx = root.join("big-idx2-ubyte.gz");
    {
        let mut gz = flate2::write::GzEncoder::new(
            std::io::BufWriter::new(std::fs::File::create(&idx)?),
            flate2::Compression::fast(),
        );
        gz.write_all(&[0, 0, 8, 2])?;
        gz.write_all(&(rows as u32).to_be_bytes())?;
        gz.write_all(&(row as u32).to_be_bytes())?;
        let chunk = vec![3u8; row as usize];
        for _ in 0..rows {
            gz.write_all(&chunk)?;
        }
        gz.finish()?.flush()?;
    }
    let r = measure(
        hangar,
        &repo,
        &[
            "import",
            "idx",
            idx.to_str().unwrap_or_default(),
            "--create",
        ],
        &[],
    )?;
    check(
        figs,
        &format!("import of a gzip'd IDX of {}, row by row", mib(size)),
        &r,
        0,
        streaming,
    );
    // 3. Commit, then export to Parquet and an .npz, and import those.
    let r = measure(hangar, &repo, &["commit", "-m", "big"], &[])?;
    check(figs, "commit of both", &r, 0, streaming);
    let parquet = root.join("big.parquet");
    let e = measure(
        hangar,
        &repo,
        &["export", "rows", "-o", parquet.to_str().unwrap_or_default()],
        &[],
    )?;
    if e.code != Some(0) {
        figs.fail(format!("export to Parquet: {}", e.stderr));
    } else {
        let r = measure(
            hangar,
            &repo,
            &[
                "import",
                "from_parquet",
                parquet.to_str().unwrap_or_default(),
                "--create",
            ],
            &[],
        )?;
        check(
            figs,
            &format!("import of a Parquet file of {}", mib(size)),
            &r,
            0,
            streaming,
        );
        let _ = measure(hangar, &repo, &["reset", "--yes"], &[])?;
    }
    // An .npz whose one member holds the rows (as np.savez writes a big array).
    let npz = root.join("big.npz");
    {
        let half = rows / 2;
        let data: Vec<u8> = (0..half * row).map(|i| (i % 253) as u8).collect();
        let mut w = hangar_cli::formats::npz::NpzWriter::create(&npz)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        w.add(
            "x",
            hangar_core::DType::U8,
            &[half as usize, row as usize],
            &data,
        )
        .map_err(|e| std::io::Error::other(e.to_string()))?;
        w.finish()
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .flush()?;
    }
    let r = measure(
        hangar,
        &repo,
        &[
            "import",
            "--by-name",
            npz.to_str().unwrap_or_default(),
            "--create",
        ],
        &[],
    )?;
    check(
        figs,
        &format!("import of an .npz member of {}, row by row", mib(size / 2)),
        &r,
        0,
        streaming,
    );
    let _ = measure(hangar, &repo, &["reset", "--yes"], &[])?;
    // 4. A directory of large images, decoded in bounded batches.
    let pngs = root.join("pngs");
    std::fs::create_dir_all(&pngs)?;
    let side = 2048u64; // 12 MiB decoded (RGB)
    let count = (size * 3 / 4 / (side * side * 3)).max(4);
    let img = npy_header(&[side, side, 3]);
    let one = root.join("one.npy");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&one)?);
        f.write_all(&img)?;
        let line: Vec<u8> = (0..side * 3).map(|i| (i * 7 % 256) as u8).collect();
        for _ in 0..side {
            f.write_all(&line)?;
        }
        f.flush()?;
    }
    let imgrepo = root.join("imgrepo");
    std::fs::create_dir_all(&imgrepo)?;
    measure(
        hangar,
        &imgrepo,
        &["init", "--name", "m", "--email", "m@example.com"],
        &[],
    )?;
    for i in 0..count {
        let f = pngs.join(format!("{i}.npy"));
        std::fs::copy(&one, &f)?;
    }
    measure(
        hangar,
        &imgrepo,
        &[
            "import",
            "img",
            pngs.to_str().unwrap_or_default(),
            "--create",
            "-m",
            "i",
        ],
        &[],
    )?;
    let pngout = root.join("pngout");
    let e = measure(
        hangar,
        &imgrepo,
        &[
            "export",
            "img",
            "-o",
            pngout.to_str().unwrap_or_default(),
            "--format",
            "png",
        ],
        &[],
    )?;
    if e.code != Some(0) {
        figs.fail(format!("export to PNG: {}", e.stderr));
    } else {
        let r = measure(
            hangar,
            &repo,
            &[
                "import",
                "pics",
                pngout.to_str().unwrap_or_default(),
                "--create",
            ],
            &[],
        )?;
        check(
            figs,
            &format!(
                "import of a directory of {count} PNGs of {} each",
                mib(side * side * 3)
            ),
            &r,
            0,
            own + 2 * DECODE_BATCH,
        );
        let _ = measure(hangar, &repo, &["reset", "--yes"], &[])?;
    }
    // 5. One large sample, and cat of it.
    let sample = size / 2;
    let one_big = root.join("sample.npy");
    write_npy(&one_big, 1, sample)?;
    let r = measure(
        hangar,
        &repo,
        &[
            "import",
            "single",
            one_big.to_str().unwrap_or_default(),
            "--create",
            "--whole",
            "-m",
            "s",
        ],
        &[],
    )?;
    check(
        figs,
        &format!("import of one sample of {}", mib(sample)),
        &r,
        0,
        own + 2 * sample,
    );
    let r = measure(hangar, &repo, &["cat", "single", "sample"], &[])?;
    check(
        figs,
        &format!("cat of one sample of {}", mib(sample)),
        &r,
        0,
        own + sample + sample / 4,
    );
    // 6. Forged headers: refused before anything is allocated.
    let jpg = root.join("forged.jpg");
    {
        // A minimal baseline JPEG header claiming 16000x16000 and no image data.
        let mut b = vec![0xff, 0xd8];
        b.extend_from_slice(&[0xff, 0xdb, 0, 67, 0]);
        b.extend(std::iter::repeat_n(1u8, 64));
        b.extend_from_slice(&[0xff, 0xc0, 0, 11, 8, 0x3e, 0x80, 0x3e, 0x80, 1, 1, 0x11, 0]);
        b.extend_from_slice(&[0xff, 0xc4, 0, 20, 0, 0, 1]);
        b.extend(std::iter::repeat_n(0u8, 15));
        b.push(0);
        b.extend_from_slice(&[0xff, 0xc4, 0, 20, 0x10, 0, 1]);
        b.extend(std::iter::repeat_n(0u8, 15));
        b.push(0);
        b.extend_from_slice(&[0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0]);
        b.extend(std::iter::repeat_n(0u8, 400));
        b.extend_from_slice(&[0xff, 0xd9]);
        std::fs::write(&jpg, b)?;
    }
    let empty = root.join("empty-rows.npy");
    std::fs::write(&empty, npy_header(&[1 << 62, 0]))?;
    let bomb = root.join("bomb-idx3-ubyte.gz");
    {
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&bomb)?,
            flate2::Compression::best(),
        );
        gz.write_all(&[0, 0, 8, 3, 0x7f, 0xff, 0xff, 0xff, 0, 0, 1, 0, 0, 0, 1, 0])?;
        gz.write_all(&vec![0u8; 4 * MIB as usize])?;
        gz.finish()?.flush()?;
    }
    measure(
        hangar,
        &repo,
        &["column", "create", "var", "uint8", "4", "--variable-shape"],
        &[],
    )?;
    for (name, args) in [
        (
            "a 16000x16000 JPEG of a few hundred bytes",
            vec!["import", "j", jpg.to_str().unwrap_or_default(), "--create"],
        ),
        (
            ".npy of 2^62 empty rows (128 bytes)",
            vec!["import", "var", empty.to_str().unwrap_or_default()],
        ),
        (
            "a gzip'd IDX declaring 2^31 images",
            vec!["import", "b", bomb.to_str().unwrap_or_default(), "--create"],
        ),
    ] {
        let r = measure(hangar, &repo, &args, &[])?;
        check(figs, &format!("forged: {name}"), &r, 2, own + 16 * MIB);
    }
    Ok(())
}

/// The release `hangar` next to this executable (target/release), or `HANGAR_BIN`.
pub fn default_hangar(exe: &Path) -> PathBuf {
    std::env::var_os("HANGAR_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| exe.with_file_name("hangar"))
}
