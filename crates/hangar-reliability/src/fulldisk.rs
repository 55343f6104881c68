//! A full disk (issue 11 item 3): the `hangar` tool runs on a small tmpfs that the suite
//! mounts, filled up for real, never with an injected error:
//!
//! - an import that runs out of space exits 2 saying the disk is full and leaves the
//!   staging area exactly as it was (nothing staged, its data gone again);
//! - with changes staged and the disk 100% full (a filler file takes the last byte):
//!   `status` and `verify` answer, `commit` fails cleanly keeping the staged changes, and
//!   `reset --yes` discards them and frees their space;
//! - once space is free again, the same import and a commit work, and every commit made
//!   before reads back unchanged.
//!
//! Mounting needs root (CAP_SYS_ADMIN) or passwordless sudo. Elsewhere the suite says it
//! was skipped; with `HANGAR_REQUIRE_FULL_DISK=1` (set by CI) a skip is a failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Figures;

/// The tmpfs size: room for the tool's files and a few MiB of data.
const DISK: u64 = 8 << 20;

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn hangar(bin: &Path, dir: &Path, args: &[&str]) -> Result<Out, String> {
    let out = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    Ok(Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

fn expect(bin: &Path, dir: &Path, args: &[&str], code: i32) -> Result<Out, String> {
    let out = hangar(bin, dir, args)?;
    if out.code != Some(code) {
        return Err(format!(
            "`hangar {}` exited {:?}, expected {code}: {}{}",
            args.join(" "),
            out.code,
            out.stdout,
            out.stderr
        ));
    }
    Ok(out)
}

/// A `.npy` of `rows` x `row` bytes of noise (incompressible, distinct rows).
fn write_npy(path: &Path, rows: u64, row: u64, seed: u64) -> std::io::Result<()> {
    let mut rng = crate::Rng::new(seed);
    crate::memory::write_u8_npy(path, rows, row, |_, c| {
        for chunk in c.chunks_mut(8) {
            let n = chunk.len();
            chunk.copy_from_slice(&rng.next_u64().to_le_bytes()[..n]);
        }
    })
}

/// Fills the file system holding `path` to its last byte.
fn fill(path: &Path) -> std::io::Result<u64> {
    let mut f = std::fs::File::create(path)?;
    let block = vec![0x5Au8; 64 << 10];
    let mut written = 0u64;
    for size in [64 << 10, 4 << 10, 1] {
        loop {
            match f.write(&block[..size]) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(written)
}

/// Bytes of every file under `dir`.
fn used(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => used(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

/// `mount` directly as root, else through passwordless `sudo` (`sudo -n`).
fn privileged(args: &[&std::ffi::OsStr]) -> bool {
    let quiet = |c: &mut Command| {
        c.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    quiet(Command::new(args[0]).args(&args[1..]))
        || quiet(Command::new("sudo").arg("-n").args(args))
}

/// Mounts a tmpfs of [`DISK`] bytes on `dir`, owned by this process's user.
fn mount(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(dir) else {
        return false;
    };
    let opts = format!(
        "size={DISK},uid={},gid={},mode=0700",
        meta.uid(),
        meta.gid()
    );
    privileged(&[
        "mount".as_ref(),
        "-t".as_ref(),
        "tmpfs".as_ref(),
        "-o".as_ref(),
        opts.as_ref(),
        "tmpfs".as_ref(),
        dir.as_os_str(),
    ])
}

struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        privileged(&["umount".as_ref(), self.0.as_os_str()]);
    }
}

/// Runs the suite with the `hangar` binary `bin`.
pub fn run(bin: &Path) -> Figures {
    let mut figs = Figures::new("a full disk (a real tmpfs filled to its last byte)");
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => {
            figs.fail(format!("temp dir: {e}"));
            return figs;
        }
    };
    let mnt = tmp.path().join("disk");
    let mounted = std::fs::create_dir(&mnt).is_ok() && mount(&mnt);
    if !mounted {
        if std::env::var_os("HANGAR_REQUIRE_FULL_DISK").is_some_and(|v| v == "1") {
            figs.fail(
                "cannot mount a tmpfs (needs root); HANGAR_REQUIRE_FULL_DISK=1 forbids skipping",
            );
        } else {
            figs.add("skipped: mounting a tmpfs needs root", 0);
        }
        return figs;
    }
    let _mount = Mount(mnt.clone());
    if let Err(e) = scenario(bin, tmp.path(), &mnt, &mut figs) {
        figs.fail(e);
    }
    figs
}

fn scenario(bin: &Path, tmp: &Path, mnt: &Path, figs: &mut Figures) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    let repo = mnt.join("repo");
    std::fs::create_dir(&repo).map_err(io)?;
    let small = tmp.join("small.npy");
    let big = tmp.join("big.npy");
    let mid = tmp.join("mid.npy");
    write_npy(&small, 16, 4096, 1).map_err(io)?;
    write_npy(&big, 64, 256 << 10, 2).map_err(io)?; // 16 MiB: twice the disk
    write_npy(&mid, 12, 256 << 10, 3).map_err(io)?; // 3 MiB
    let p = |x: &Path| x.to_string_lossy().into_owned();
    expect(
        bin,
        &repo,
        &["init", "--name", "t", "--email", "t@example.com"],
        0,
    )?;
    expect(
        bin,
        &repo,
        &["import", "small", &p(&small), "--create", "-m", "first"],
        0,
    )?;
    let head = expect(bin, &repo, &["log", "--json"], 0)?.stdout;
    let used_clean = used(&repo);

    // 1. An import larger than the disk.
    let out = expect(bin, &repo, &["import", "big", &p(&big), "--create"], 2)?;
    if !out.stderr.contains("No space left") || !out.stderr.contains("disk is full") {
        return Err(format!(
            "the failed import does not say the disk is full: {}",
            out.stderr
        ));
    }
    let status = expect(bin, &repo, &["status"], 0)?.stdout;
    if !status.contains("Nothing staged") {
        return Err(format!("a failed import left changes staged: {status}"));
    }
    let now = used(&repo);
    if now > used_clean + (64 << 10) {
        return Err(format!(
            "a failed import left {} bytes behind ({used_clean} before, {now} after)",
            now - used_clean
        ));
    }
    figs.add(
        "import larger than the disk: exit 2, staging as before, space freed",
        1,
    );

    // 2. Staged changes, then the disk fills up.
    expect(bin, &repo, &["import", "mid", &p(&mid), "--create"], 0)?;
    let filler = mnt.join("filler");
    fill(&filler).map_err(io)?;
    let status = expect(bin, &repo, &["status"], 0)?.stdout;
    if !status.contains("column mid added") {
        return Err(format!("status on a full disk: {status}"));
    }
    expect(bin, &repo, &["verify"], 0)?;
    let out = expect(bin, &repo, &["commit", "-m", "on a full disk"], 2)?;
    if !out.stderr.contains("No space left") {
        return Err(format!("commit on a full disk: {}", out.stderr));
    }
    let status = expect(bin, &repo, &["status"], 0)?.stdout;
    if !status.contains("column mid added") {
        return Err(format!("a failed commit lost the staged changes: {status}"));
    }
    if expect(bin, &repo, &["log", "--json"], 0)?.stdout != head {
        return Err("a failed commit changed the history".into());
    }
    figs.add(
        "commit on a full disk: exit 2, staged changes and history kept",
        1,
    );
    let before = used(&repo);
    expect(bin, &repo, &["reset", "--yes"], 0)?;
    let freed = before.saturating_sub(used(&repo));
    if freed < 3 << 20 {
        return Err(format!(
            "reset on a full disk freed only {freed} bytes of 3 MiB staged"
        ));
    }
    let status = expect(bin, &repo, &["status"], 0)?.stdout;
    if !status.contains("Nothing staged") {
        return Err(format!("after reset: {status}"));
    }
    expect(bin, &repo, &["verify"], 0)?;
    figs.add("reset on a 100% full disk: bytes freed", freed);

    // 3. Space again: the same work goes through.
    std::fs::remove_file(&filler).map_err(io)?;
    expect(
        bin,
        &repo,
        &["import", "mid", &p(&mid), "--create", "-m", "second"],
        0,
    )?;
    let out = expect(bin, &repo, &["verify"], 0)?.stdout;
    if !out.contains("2 commits") {
        return Err(format!("after the disk was freed: {out}"));
    }
    let cat = expect(bin, &repo, &["cat", "small", "3", "--json"], 0)?;
    if cat.stdout.is_empty() {
        return Err("the first commit's data does not read back".into());
    }
    figs.add("import + commit after space was freed, history intact", 1);
    Ok(())
}
