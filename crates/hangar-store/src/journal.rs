//! The append-only staging journal: checksummed frames, a torn tail ignored on reopen.
//!
//! File: `"HGJRNL01"` then frames `body_len u32 | crc32(type, body) u32 | type u8 | body`.
//! A frame is acknowledged once its `write` returned; kill -9 cannot undo it. A crash in
//! the middle of a write leaves a torn last frame, which fails its checksum and is cut
//! off when the writer reopens the journal. A bad frame followed by good frames is not a
//! torn write but damage, and is reported as `Corrupt`.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::fsutil;

const MAGIC: &[u8; 8] = b"HGJRNL01";
/// The length of the journal's magic, where its first frame starts.
pub(crate) const MAGIC_LEN: usize = MAGIC.len();
/// A frame's header: body length, checksum, type.
pub(crate) const FRAME_HEADER: usize = 4 + 4 + 1;
/// Largest frame body accepted when reading (a damaged length must not cause a huge read).
pub const MAX_FRAME: usize = 1 << 31;

/// Appends one frame to `out`.
pub fn push_frame(out: &mut Vec<u8>, frame_type: u8, body: &[u8]) {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[frame_type]);
    crc.update(body);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.push(frame_type);
    out.extend_from_slice(body);
}

/// A decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The frame type.
    pub frame_type: u8,
    /// The body.
    pub body: Vec<u8>,
}

/// Bytes read from the journal at a time while scanning it.
const SCAN_CHUNK: usize = 8 << 20;

/// The body length a frame header claims (its first 4 bytes), `None` past [`MAX_FRAME`].
fn claimed_len(header: &[u8]) -> Option<usize> {
    let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
    (len <= MAX_FRAME).then_some(len)
}

/// The frame at the start of `bytes` when `bytes` holds all of it and its checksum
/// holds: its type, body and whole length.
fn frame_in(bytes: &[u8]) -> Option<(u8, &[u8], usize)> {
    let header = bytes.get(..FRAME_HEADER)?;
    let len = claimed_len(header)?;
    let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    let body = bytes.get(FRAME_HEADER..FRAME_HEADER + len)?;
    let mut h = crc32fast::Hasher::new();
    h.update(&header[8..9]);
    h.update(body);
    (h.finalize() == crc).then_some((header[8], body, FRAME_HEADER + len))
}

/// Where a scan reads frames from: the file chunk by chunk, or the whole journal in memory.
trait Source {
    /// The next `want` unread bytes, if the journal holds them.
    fn peek(&mut self, want: usize) -> Result<Option<&[u8]>>;
    /// Marks the next `n` bytes read.
    fn consume(&mut self, n: usize);
    /// Everything from journal offset `pos` to the end.
    fn rest(self, pos: u64) -> Result<Vec<u8>>;
}

/// Sequential reads of a journal file into a buffer of at most one chunk plus one frame.
struct ChunkReader<'p> {
    path: &'p Path,
    file: File,
    file_len: u64,
    /// `buf[at..]` holds the unread bytes; `read_to` is the file offset of `buf`'s end.
    buf: Vec<u8>,
    at: usize,
    read_to: u64,
}

impl Source for ChunkReader<'_> {
    /// The next `want` unread bytes, if the file holds them (read only then, so a
    /// damaged length never sizes an allocation).
    fn peek(&mut self, want: usize) -> Result<Option<&[u8]>> {
        use std::io::Read;
        let have = self.buf.len() - self.at;
        if have < want {
            if self.file_len - self.read_to < (want - have) as u64 {
                return Ok(None);
            }
            self.buf.drain(..self.at);
            self.at = 0;
            let need = want
                .max(SCAN_CHUNK)
                .min((self.file_len - self.read_to) as usize + have);
            // Read into the spare capacity (not zeroed first).
            self.buf.reserve(need - have);
            let got = (&mut self.file)
                .take((need - have) as u64)
                .read_to_end(&mut self.buf)
                .ctx("read", self.path)?;
            if got != need - have {
                return Err(Error::io(
                    "read",
                    self.path,
                    std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
                ));
            }
            self.read_to += got as u64;
        }
        Ok(Some(&self.buf[self.at..self.at + want]))
    }

    fn consume(&mut self, n: usize) {
        self.at += n;
    }

    fn rest(self, pos: u64) -> Result<Vec<u8>> {
        use std::io::{Read, Seek};
        // Normally a few bytes of torn tail.
        let mut file = self.file;
        let mut rest = Vec::new();
        file.seek(std::io::SeekFrom::Start(pos))
            .ctx("seek", self.path)?;
        file.read_to_end(&mut rest).ctx("read", self.path)?;
        Ok(rest)
    }
}

/// A whole journal in memory (its magic included), `at` bytes of it read.
struct InMemory<'b> {
    bytes: &'b [u8],
    at: usize,
}

impl Source for InMemory<'_> {
    fn peek(&mut self, want: usize) -> Result<Option<&[u8]>> {
        Ok(self.bytes[self.at..].get(..want))
    }

    fn consume(&mut self, n: usize) {
        self.at += n;
    }

    fn rest(self, pos: u64) -> Result<Vec<u8>> {
        Ok(self.bytes[pos as usize..].to_vec())
    }
}

/// Opens the journal at `path` and checks its magic: the file and its length.
fn open_checked(path: &Path) -> Result<(File, u64)> {
    use std::io::Read;
    let mut file = fsutil::open_no_follow(fsutil::no_follow().read(true), "open", path)?;
    let file_len = file.metadata().ctx("stat", path)?.len();
    let mut magic = [0u8; MAGIC.len()];
    if file_len < MAGIC.len() as u64 || file.read_exact(&mut magic).is_err() || &magic != MAGIC {
        return Err(Error::corrupt(path, "not a staging journal (bad magic)"));
    }
    Ok((file, file_len))
}

/// Reads the journal at `path` frame by frame, passing each valid frame to `on_frame`.
/// Returns the length of the valid prefix (magic included) and the file's length. A bad
/// frame followed by a chain of good ones to the end of the file is `Corrupt`;
/// otherwise it starts a torn tail.
fn scan(path: &Path, on_frame: &mut dyn FnMut(u8, &[u8]) -> Result<()>) -> Result<(u64, u64)> {
    let (file, file_len) = open_checked(path)?;
    let r = ChunkReader {
        path,
        file,
        file_len,
        buf: Vec::new(),
        at: 0,
        read_to: MAGIC.len() as u64,
    };
    scan_from(path, r, file_len, on_frame)
}

/// [`scan`] over `src`, whose next byte is the first frame's.
fn scan_from(
    path: &Path,
    mut src: impl Source,
    file_len: u64,
    on_frame: &mut dyn FnMut(u8, &[u8]) -> Result<()>,
) -> Result<(u64, u64)> {
    let mut pos = MAGIC.len() as u64;
    while let Some(len) = src.peek(FRAME_HEADER)?.and_then(claimed_len) {
        let Some((frame_type, body, n)) = src.peek(FRAME_HEADER + len)?.and_then(frame_in) else {
            break;
        };
        on_frame(frame_type, body)?;
        src.consume(n);
        pos += n as u64;
    }
    if pos < file_len {
        // Either a torn tail (expected after a crash) or damage in the middle: it is
        // damage if a valid chain of frames runs from after the bad frame to the end.
        // The rest of the file is read to decide.
        if looks_like_mid_journal_damage(&src.rest(pos)?) {
            return Err(Error::corrupt(
                path,
                format!(
                    "staging journal frame at offset {pos} is damaged but later frames are intact"
                ),
            ));
        }
    }
    Ok((pos, file_len))
}

/// Journals at most this long are read into memory once by [`Scans`], however many
/// passes are made over them.
const KEEP_IN_MEMORY: u64 = 32 << 20;

/// A journal to be scanned more than once (recovery makes two passes): a journal of at
/// most [`KEEP_IN_MEMORY`] bytes is read once, in one read into a buffer of its size
/// (measured: two reads of a 5.7 MB journal through fresh 8 MiB buffers were most of
/// the time a writer took to open over 50,000 staged images); a longer one is read
/// chunk by chunk on each pass, as [`Journal::read_scan`] reads it, so memory stays
/// bounded. Every pass over a held journal sees the same bytes; each pass over a
/// streamed one reads the length it finds.
pub struct Scans<'p> {
    path: &'p Path,
    whole: Option<crate::mmap::BigBytes>,
}

impl std::fmt::Debug for Scans<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scans")
            .field("path", &self.path)
            .field("held", &self.whole.as_ref().map(|b| b.len()))
            .finish()
    }
}

impl<'p> Scans<'p> {
    /// Opens the journal at `path` (its magic checked).
    pub fn open(path: &'p Path) -> Result<Scans<'p>> {
        let (mut file, file_len) = open_checked(path)?;
        if file_len > KEEP_IN_MEMORY {
            return Ok(Scans { path, whole: None });
        }
        // In huge pages when large (`BigBytes`): a journal of a few MB is read into fresh
        // memory each time a writer opens, and faulting it in 4 KiB at a time cost as
        // much as the copy.
        let mut whole = crate::mmap::BigBytes::with_capacity(file_len as usize);
        whole.extend_from_slice(MAGIC);
        // At most the length just read: a journal that grew since (a writer beside this
        // reader) is read as far as it was, and one that shrank as far as it goes, as a
        // streamed scan reads them.
        whole
            .read_from(&mut file, (file_len - MAGIC.len() as u64) as usize)
            .ctx("read", path)?;
        Ok(Scans {
            path,
            whole: Some(whole),
        })
    }

    /// One pass, as [`Journal::read_scan`] makes it.
    pub fn scan(&self, on_frame: &mut dyn FnMut(u8, &[u8]) -> Result<()>) -> Result<u64> {
        match &self.whole {
            Some(bytes) => {
                let src = InMemory {
                    bytes,
                    at: MAGIC.len(),
                };
                scan_from(self.path, src, bytes.len() as u64, on_frame).map(|(valid, _)| valid)
            }
            None => Journal::read_scan(self.path, on_frame),
        }
    }
}

/// Every valid frame of the journal at `path`, and the length of the valid prefix.
fn read_frames(path: &Path) -> Result<(Vec<Frame>, u64)> {
    let mut frames = Vec::new();
    let valid_len = Journal::read_scan(path, &mut |frame_type, body| {
        frames.push(Frame {
            frame_type,
            body: body.to_vec(),
        });
        Ok(())
    })?;
    Ok((frames, valid_len))
}

/// Whether the bad frame at the start of `bytes` is followed by intact frames.
fn looks_like_mid_journal_damage(bytes: &[u8]) -> bool {
    // If the damaged frame's own length field is plausible, check the frame right after
    // it; a valid chain from there to the end of the file means the damage is in the
    // middle. A torn write never has valid frames after it.
    let Some(header) = bytes.get(..4) else {
        return false;
    };
    let len = u32::from_le_bytes(header.try_into().expect("4 bytes")) as usize;
    let mut pos = match len.checked_add(FRAME_HEADER) {
        Some(p) if p < bytes.len() => p,
        _ => return false,
    };
    let mut any = false;
    while let Some((_, _, n)) = frame_in(&bytes[pos..]) {
        any = true;
        pos += n;
    }
    any && pos == bytes.len()
}

/// The open journal file.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    /// `None` for a read-only view (see [`Journal::read_only`]): nothing can be appended.
    file: Option<File>,
    len: u64,
}

impl Journal {
    /// Writes a new journal holding `frames` (already framed) atomically at `path`.
    pub fn create(path: &Path, frames: &[u8]) -> Result<()> {
        let mut bytes = Vec::with_capacity(MAGIC.len() + frames.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(frames);
        fsutil::write_atomic(path, &bytes)
    }

    /// Opens the journal for appending, returning its valid frames. A torn tail is cut off.
    pub fn open(path: &Path) -> Result<(Journal, Vec<Frame>)> {
        let (frames, valid_len) = read_frames(path)?;
        let mut journal = Journal::open_unscanned(path)?;
        journal.cut_torn_tail(valid_len)?;
        Ok((journal, frames))
    }

    /// Reads the frames of a journal without opening it for writing.
    pub fn read(path: &Path) -> Result<Vec<Frame>> {
        read_frames(path).map(|(frames, _)| frames)
    }

    /// The journal's first frame, read alone (a few bytes, however long the journal):
    /// `None` when the file does not hold a whole first frame with a good checksum (an
    /// empty or torn journal, or damage: [`Journal::read_scan`] tells them apart). What
    /// follows the first frame is not read, so damage there is not reported here.
    pub fn first_frame(path: &Path) -> Result<Option<Frame>> {
        use std::io::Read;
        let (mut file, file_len) = open_checked(path)?;
        let after_magic = file_len - MAGIC.len() as u64;
        if after_magic < FRAME_HEADER as u64 {
            return Ok(None);
        }
        let mut bytes = vec![0u8; FRAME_HEADER];
        file.read_exact(&mut bytes).ctx("read", path)?;
        // The claimed length sizes the read only when the file holds that many bytes.
        let Some(len) = claimed_len(&bytes) else {
            return Ok(None);
        };
        if after_magic - (FRAME_HEADER as u64) < len as u64 {
            return Ok(None);
        }
        bytes.reserve_exact(len);
        // A journal cut back meanwhile yields fewer bytes: no whole frame, `None`.
        (&mut file)
            .take(len as u64)
            .read_to_end(&mut bytes)
            .ctx("read", path)?;
        Ok(frame_in(&bytes).map(|(frame_type, body, _)| Frame {
            frame_type,
            body: body.to_vec(),
        }))
    }

    /// Passes each valid frame of a journal to `on_frame` in order as it is read,
    /// through a bounded buffer (the journal is never held in memory whole), without
    /// opening it for writing. Returns the length of the valid prefix, to pass to
    /// [`Journal::cut_torn_tail`]. Damage followed by intact frames is `Corrupt`, found
    /// when the scan reaches it, after the frames before it were passed on.
    pub fn read_scan(
        path: &Path,
        on_frame: &mut dyn FnMut(u8, &[u8]) -> Result<()>,
    ) -> Result<u64> {
        scan(path, on_frame).map(|(valid, _)| valid)
    }

    /// Opens the journal for appending without reading it: the caller scans it
    /// ([`Journal::read_scan`]) and then cuts a torn tail off with
    /// [`Journal::cut_torn_tail`] before anything is appended.
    pub fn open_unscanned(path: &Path) -> Result<Journal> {
        let file = fsutil::open_no_follow(fsutil::no_follow().append(true), "open", path)?;
        let len = file.metadata().ctx("stat", path)?.len();
        Ok(Journal {
            path: path.to_path_buf(),
            file: Some(file),
            len,
        })
    }

    /// A journal that is only read (its frames through [`Journal::read_scan`]), never
    /// written: every append, cut or fsync is refused. `len` is the length read.
    pub fn read_only(path: &Path, len: u64) -> Journal {
        Journal {
            path: path.to_path_buf(),
            file: None,
            len,
        }
    }

    /// True for a journal made by [`Journal::read_only`].
    pub fn is_read_only(&self) -> bool {
        self.file.is_none()
    }

    /// The file, or the error a read-only journal answers a write with.
    fn writable(&self) -> Result<&File> {
        self.file.as_ref().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "the staging journal {} was opened read-only (a view of the staging area \
                 taken without the writer lock); open a writer checkout to change it",
                self.path.display()
            ))
        })
    }

    /// Cuts the journal back to `valid_len`, the length of its valid prefix found by a
    /// scan (a torn tail after a crash).
    pub fn cut_torn_tail(&mut self, valid_len: u64) -> Result<()> {
        if valid_len < self.len {
            self.writable()?
                .set_len(valid_len)
                .ctx("truncate torn tail of", &self.path)?;
            self.len = valid_len;
        }
        Ok(())
    }

    /// Appends already-framed bytes with one `write` call.
    pub fn append(&mut self, framed: &[u8]) -> Result<()> {
        if framed.is_empty() {
            return Ok(());
        }
        let mut file = self.writable()?;
        if let Err(e) = file.write_all(framed) {
            // Leave no partial frame behind: later appends would follow it, and a bad
            // frame followed by good ones reads as corruption.
            let _ = file.set_len(self.len);
            return Err(Error::io("append to", &self.path, e));
        }
        self.len += framed.len() as u64;
        crate::failpoint::hit("journal.after_append")
    }

    /// Cuts the journal back to `len` bytes (a savepoint's length): every frame written
    /// after it is gone.
    pub fn truncate(&mut self, len: u64) -> Result<()> {
        if len < MAGIC.len() as u64 || len > self.len {
            return Err(Error::InvalidArgument(format!(
                "cannot cut the staging journal back to {len} bytes: it holds {}",
                self.len
            )));
        }
        self.writable()?.set_len(len).ctx("truncate", &self.path)?;
        self.len = len;
        Ok(())
    }

    /// Fsyncs the journal.
    pub fn sync(&self) -> Result<()> {
        self.writable()?.sync_data().ctx("fsync", &self.path)
    }

    /// Current length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True if the journal holds only its magic.
    pub fn is_empty(&self) -> bool {
        self.len <= MAGIC.len() as u64
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(n: u8) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..n {
            push_frame(&mut out, i, &vec![i; usize::from(i) * 3]);
        }
        out
    }

    #[test]
    fn every_truncation_keeps_a_prefix_of_frames() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        Journal::create(&path, &frames(6)).unwrap();
        let full = std::fs::read(&path).unwrap();
        let (_, all) = Journal::open(&path).unwrap();
        assert_eq!(all.len(), 6);
        for cut in MAGIC.len()..full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            let (mut j, got) = Journal::open(&path).unwrap();
            assert!(got.len() < 6 && got[..] == all[..got.len()], "cut {cut}");
            // Appending after a torn tail starts a clean frame.
            let mut more = Vec::new();
            push_frame(&mut more, 42, b"after");
            j.append(&more).unwrap();
            let reread = Journal::read(&path).unwrap();
            assert_eq!(reread.last().unwrap().body, b"after");
            assert_eq!(reread.len(), got.len() + 1);
        }
    }

    #[test]
    fn frames_across_read_chunks_and_larger_than_a_chunk_read_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        // Sizes chosen to straddle the scan's 8 MiB chunks, one frame larger than a
        // chunk, many small ones between.
        let mut sizes = vec![SCAN_CHUNK - 5, 3, SCAN_CHUNK + 1234, 0];
        sizes.extend((0..5000).map(|i| i * 7 % 3001));
        sizes.push(SCAN_CHUNK / 2);
        let mut framed = Vec::new();
        for (i, n) in sizes.iter().enumerate() {
            push_frame(&mut framed, (i % 200) as u8, &vec![(i % 251) as u8; *n]);
        }
        Journal::create(&path, &framed).unwrap();
        let mut seen = 0usize;
        Journal::read_scan(&path, &mut |t, body| {
            assert_eq!(t, (seen % 200) as u8);
            assert_eq!(body.len(), sizes[seen], "frame {seen}");
            assert!(
                body.iter().all(|&b| b == (seen % 251) as u8),
                "frame {seen}"
            );
            seen += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, sizes.len());
        // An error from the callback stops the scan and is returned as it is.
        let mut calls = 0;
        let err = Journal::read_scan(&path, &mut |_, _| {
            calls += 1;
            Err(Error::InvalidArgument("stop".into()))
        })
        .unwrap_err();
        assert_eq!((calls, err.to_string().contains("stop")), (1, true));
    }

    #[test]
    fn a_torn_frame_claiming_a_huge_length_is_cut_without_reading_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let mut framed = frames(4);
        let good = MAGIC.len() + framed.len();
        // A header whose length claims 1 GiB, then a few bytes: a torn write (or
        // damage) that must not make the reader allocate what it claims.
        framed.extend_from_slice(&(1u32 << 30).to_le_bytes());
        framed.extend_from_slice(&[0; 4 + 1 + 10]);
        Journal::create(&path, &framed).unwrap();
        let (j, got) = Journal::open(&path).unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(j.len(), good as u64);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), good as u64);
    }

    /// What a scan gives: every frame and the valid length, or its error's kind.
    type Scanned = std::result::Result<(Vec<Frame>, u64), crate::ErrorKind>;

    /// Every frame and the valid length a scan gives, or its error's kind.
    fn scanned(scan: impl FnOnce(&mut dyn FnMut(u8, &[u8]) -> Result<()>) -> Result<u64>) -> Scanned {
        let mut got = Vec::new();
        let valid = scan(&mut |frame_type, body| {
            got.push(Frame {
                frame_type,
                body: body.to_vec(),
            });
            Ok(())
        });
        valid.map(|v| (got, v)).map_err(|e| e.kind())
    }

    #[test]
    fn a_journal_held_in_memory_scans_as_the_file_does_every_pass() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let mut framed = frames(6);
        let mut full = MAGIC.to_vec();
        full.extend_from_slice(&framed);
        // Every truncation (torn tails), and damage in the middle.
        let mut cases: Vec<Vec<u8>> = (MAGIC.len()..=full.len())
            .map(|n| full[..n].to_vec())
            .collect();
        let mut damaged = full.clone();
        damaged[MAGIC.len() + FRAME_HEADER + 1 + 4] ^= 1;
        cases.push(damaged);
        cases.push(b"garbage!".to_vec());
        for (i, bytes) in cases.iter().enumerate() {
            std::fs::write(&path, bytes).unwrap();
            let streamed = scanned(|f| Journal::read_scan(&path, f));
            match Scans::open(&path) {
                Ok(scans) => {
                    assert!(scans.whole.is_some());
                    assert_eq!(scanned(|f| scans.scan(f)), streamed, "case {i}");
                    assert_eq!(scanned(|f| scans.scan(f)), streamed, "case {i}, again");
                }
                Err(e) => assert_eq!(Err(e.kind()), streamed.map(|_| ()), "case {i}"),
            }
        }
        // A journal longer than what is held in memory is streamed on each pass.
        push_frame(&mut framed, 9, &vec![7; KEEP_IN_MEMORY as usize]);
        Journal::create(&path, &framed).unwrap();
        let scans = Scans::open(&path).unwrap();
        assert!(scans.whole.is_none());
        let (got, valid) = scanned(|f| scans.scan(f)).unwrap();
        assert_eq!((got.len(), valid), (7, (MAGIC.len() + framed.len()) as u64));
        assert_eq!(got[6].body.len(), KEEP_IN_MEMORY as usize);
    }

    #[test]
    fn the_first_frame_is_read_alone_and_only_when_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let mut framed = Vec::new();
        push_frame(&mut framed, 7, b"the base");
        let first_len = MAGIC.len() + framed.len();
        framed.extend_from_slice(&frames(5));
        Journal::create(&path, &framed).unwrap();
        let full = std::fs::read(&path).unwrap();
        let first = Frame {
            frame_type: 7,
            body: b"the base".to_vec(),
        };
        // Every truncation: the first frame exactly when the file holds all of it.
        for cut in MAGIC.len()..=full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            let want = (cut >= first_len).then(|| first.clone());
            assert_eq!(Journal::first_frame(&path).unwrap(), want, "cut {cut}");
        }
        // Damage after the first frame is not looked at; damage in it gives none.
        let mut later = full.clone();
        *later.last_mut().unwrap() ^= 1;
        later[first_len + FRAME_HEADER] ^= 1;
        std::fs::write(&path, &later).unwrap();
        assert_eq!(Journal::first_frame(&path).unwrap(), Some(first));
        let mut bad = full.clone();
        bad[first_len - 1] ^= 1;
        std::fs::write(&path, &bad).unwrap();
        assert_eq!(Journal::first_frame(&path).unwrap(), None);
        // A first header claiming 1 GiB in a short file: none, and nothing that size read
        // or allocated (the claim is checked against the file's length first).
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&(1u32 << 30).to_le_bytes());
        huge.extend_from_slice(&[0; 4 + 1 + 10]);
        std::fs::write(&path, &huge).unwrap();
        assert_eq!(Journal::first_frame(&path).unwrap(), None);
        std::fs::write(&path, b"garbage!").unwrap();
        let e = Journal::first_frame(&path).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Corrupt, "{e}");
    }

    #[test]
    fn damage_in_the_middle_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        Journal::create(&path, &frames(6)).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[MAGIC.len() + FRAME_HEADER + 1 + 4] ^= 1; // inside frame 1's body
        std::fs::write(&path, &bytes).unwrap();
        let err = Journal::open(&path).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Corrupt, "{err}");
        std::fs::write(&path, b"garbage!").unwrap();
        assert_eq!(
            Journal::open(&path).unwrap_err().kind(),
            crate::ErrorKind::Corrupt
        );
    }
}
