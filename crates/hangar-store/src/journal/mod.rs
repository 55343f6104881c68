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

/// The frame at the start of `bytes` when `bytes` holds all of it (its checksum not
/// checked): its header and body.
fn split_frame(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let header = bytes.get(..FRAME_HEADER)?;
    let len = claimed_len(header)?;
    Some((header, bytes.get(FRAME_HEADER..FRAME_HEADER + len)?))
}

/// The frame at the start of `bytes` when `bytes` holds all of it and its checksum
/// holds: its type, body and whole length.
fn frame_in(bytes: &[u8]) -> Option<(u8, &[u8], usize)> {
    let (header, body) = split_frame(bytes)?;
    let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    let mut h = crc32fast::Hasher::new();
    h.update(&header[8..9]);
    h.update(body);
    (h.finalize() == crc).then_some((header[8], body, FRAME_HEADER + body.len()))
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

/// Journals at most this long are read into memory by [`Scans`] in a process without the
/// writer lock; longer ones are mapped, in the writer and in such a reader alike. The
/// writer fills its map's pages in one call up to this length. It is also the length
/// beyond which the writer never makes the journal file shorter in place
/// ([`Journal::cut_to`]): a reader without the lock may have mapped it, and the pages
/// a cut removed would end that reader with SIGBUS when it touched them.
const KEEP_IN_MEMORY: u64 = 32 << 20;

/// A journal to be scanned more than once (recovery makes two passes), held whole: mapped
/// ([`crate::mmap::JournalMap`]) when the caller holds the writer lock or the journal is
/// longer than [`KEEP_IN_MEMORY`], read into memory otherwise. Nothing cuts what a map
/// holds (the `mmap` module's notes say why), so the records replayed from it are kept as
/// slices of the map ([`Scans::map`]) rather than copied. Measured: two chunked reads of
/// a 5.7 MB journal were most of the time a writer took to open over 50,000 staged
/// images, and one read into fresh memory still cost the kernel's zeroing of every page
/// before the copy; at 10^7 staged samples a read-only view (`hangar status`) copied
/// 720 MB of records out of its journal. Every pass sees the same bytes (the passes
/// after the first do not compute the frames' checksums again): a map or a read covers
/// the length the journal had when it was opened, however it grows since.
pub struct Scans<'p> {
    path: &'p Path,
    whole: Held,
    /// The valid length a pass over the held journal found (its frames' checksums
    /// checked).
    checked: std::cell::Cell<Option<u64>>,
}

/// A journal held whole for [`Scans`].
enum Held {
    Mapped(crate::mmap::JournalMap),
    Read(crate::mmap::BigBytes),
}

impl Held {
    fn bytes(&self) -> &[u8] {
        match self {
            Held::Mapped(map) => map.bytes(),
            Held::Read(bytes) => bytes,
        }
    }
}

impl std::fmt::Debug for Scans<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scans")
            .field("path", &self.path)
            .field("held", &self.whole.bytes().len())
            .field("mapped", &matches!(self.whole, Held::Mapped(_)))
            .finish()
    }
}

impl<'p> Scans<'p> {
    /// Opens the journal at `path` (its magic checked). With `lock_held` the caller
    /// holds the writer lock and writes nothing to the journal until this is dropped.
    pub fn open(path: &'p Path, lock_held: bool) -> Result<Scans<'p>> {
        let (mut file, file_len) = open_checked(path)?;
        let whole = if lock_held || file_len > KEEP_IN_MEMORY {
            let len = usize::try_from(file_len).map_err(|_| {
                Error::corrupt(path, format!("a journal of {file_len} bytes cannot be mapped"))
            })?;
            let populate = file_len <= KEEP_IN_MEMORY;
            Held::Mapped(crate::mmap::JournalMap::map(
                &file, len, path, populate,
            )?)
        } else {
            // A `BigBytes`, in huge pages within its budget: faulting fresh memory in 4 KiB
            // at a time cost as much as the copy.
            let mut whole = crate::mmap::BigBytes::with_capacity(file_len as usize);
            whole.extend_from_slice(MAGIC);
            // At most the length just read: a journal that grew since (a writer beside
            // this reader) is read as far as it was, and one cut back since as far as it
            // goes.
            whole
                .read_from(&mut file, (file_len - MAGIC.len() as u64) as usize)
                .ctx("read", path)?;
            Held::Read(whole)
        };
        Ok(Scans {
            path,
            whole,
            checked: Default::default(),
        })
    }

    /// The map of the journal, when it is mapped: the frames a pass passes on are slices
    /// of it ([`crate::mmap::JournalMap::share`]).
    pub fn map(&self) -> Option<&crate::mmap::JournalMap> {
        match &self.whole {
            Held::Mapped(map) => Some(map),
            Held::Read(_) => None,
        }
    }

    /// One pass, as [`Journal::read_scan`] makes it.
    pub fn scan(&self, on_frame: &mut dyn FnMut(u8, &[u8]) -> Result<()>) -> Result<u64> {
        let bytes = self.whole.bytes();
        if let Some(valid) = self.checked.get() {
            let checked = bytes.get(..valid as usize).unwrap_or(bytes);
            return walk_checked(self.path, checked, on_frame).map(|()| valid);
        }
        let src = InMemory {
            bytes,
            at: MAGIC.len(),
        };
        let (valid, _) = scan_from(self.path, src, bytes.len() as u64, on_frame)?;
        self.checked.set(Some(valid));
        Ok(valid)
    }
}

/// The frames of `bytes` (a held journal's valid prefix, magic included), which a pass
/// over the same bytes checked already: their checksums are not computed again (half
/// the CPU time of a second pass). Still bounds-checked: bytes that changed all the same
/// give `Corrupt`, never a panic.
fn walk_checked(
    path: &Path,
    bytes: &[u8],
    on_frame: &mut dyn FnMut(u8, &[u8]) -> Result<()>,
) -> Result<()> {
    let mut at = MAGIC.len();
    while at < bytes.len() {
        let Some((header, body)) = split_frame(&bytes[at..]) else {
            return Err(Error::corrupt(
                path,
                format!("staging journal changed while it was replayed (at offset {at})"),
            ));
        };
        on_frame(header[8], body)?;
        at += FRAME_HEADER + body.len();
    }
    Ok(())
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

/// True if `path` names the file `file` has open (the same device and inode).
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
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
            self.cut_to(valid_len, "truncate torn tail of")?;
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
            let _ = self.cut_to(self.len, "cut back");
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
        self.cut_to(len, "truncate")
    }

    /// Makes the journal `len` bytes long, dropping what follows. A file of at most
    /// [`KEEP_IN_MEMORY`] bytes is cut in place: no reader maps it (a reader without the
    /// lock reads such a journal into memory, and the writer's own map is handled by the
    /// layer above, see the `mmap` module). A longer one may be mapped by a reader
    /// without the lock (`hangar status` beside a running import), so its file is never
    /// made shorter: the first `len` bytes are copied to a new file, which is renamed
    /// over the journal, and the reader keeps the old one whole. A copy that fails (a
    /// full disk, say) falls back to the cut in place: a journal that keeps a torn
    /// frame, or a change that was rolled back, would be worse than what a reader risks.
    /// An inode of the journal thus never becomes shorter while it is longer than
    /// [`KEEP_IN_MEMORY`], the length past which readers map it.
    fn cut_to(&mut self, len: u64, op: &'static str) -> Result<()> {
        let file = self.writable()?;
        let now = file.metadata().ctx("stat", &self.path)?.len();
        if now > KEEP_IN_MEMORY {
            match self.rewrite_prefix(len) {
                Ok(()) => {
                    self.len = len;
                    return Ok(());
                }
                // Renamed, then the directory's fsync failed: the new file is the
                // journal, and this writer appends to it.
                Err((e, true)) => {
                    self.len = len;
                    return Err(e);
                }
                // Not renamed: the journal is the file this writer holds, cut in place.
                Err((_, false)) => {}
            }
        }
        self.writable()?.set_len(len).ctx(op, &self.path)?;
        self.len = len;
        Ok(())
    }

    /// The first `len` bytes of the journal written to a new file that replaces it
    /// (fsynced, renamed over it, the directory fsynced); the writer then appends to the
    /// new file. On an error before the rename, the journal is left as it was.
    /// The error carries whether the rename happened.
    fn rewrite_prefix(&mut self, len: u64) -> std::result::Result<(), (Error, bool)> {
        use std::io::Read;
        crate::failpoint::hit("journal.before_rewrite").map_err(|e| (e, false))?;
        #[cfg(test)]
        if tests::REFUSE_REWRITE.with(std::cell::Cell::get) {
            return Err((Error::InvalidArgument("rewrite refused by the test".into()), false));
        }
        let tmp = fsutil::temp_path_for(&self.path);
        let out = fsutil::create_temp(&tmp).map_err(|e| (e, false))?;
        let copied = (|| {
            let src = fsutil::open_no_follow(fsutil::no_follow().read(true), "open", &self.path)?;
            let n = std::io::copy(&mut src.take(len), &mut &out).ctx("copy to", &tmp)?;
            if n != len {
                return Err(Error::corrupt(
                    &self.path,
                    format!("the staging journal holds {n} bytes, not the {len} to keep"),
                ));
            }
            // The handle appends go to, opened before the rename so that it is the new
            // file's whatever happens to the name.
            fsutil::open_no_follow(fsutil::no_follow().append(true), "open", &tmp)
        })();
        let appender = match copied {
            Ok(f) => f,
            Err(e) => {
                drop(out);
                let _ = std::fs::remove_file(&tmp);
                return Err((e, false));
            }
        };
        let installed = fsutil::install_temp(out, &tmp, &self.path);
        let renamed = same_file(&appender, &self.path);
        if renamed {
            self.file = Some(appender);
        }
        installed.map_err(|e| (e, renamed))
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
mod tests;
