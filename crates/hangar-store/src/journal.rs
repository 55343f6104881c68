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
const FRAME_HEADER: usize = 4 + 4 + 1;
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

/// Parses `bytes` (after the magic) into frames. Returns the frames and the length of the
/// valid prefix. Errors if a bad frame is followed by a good one.
fn parse_frames(path: &Path, bytes: &[u8]) -> Result<(Vec<Frame>, usize)> {
    let mut frames = Vec::new();
    let mut pos = 0;
    while let Some(frame) = frame_at(bytes, pos) {
        let (f, next) = frame;
        frames.push(f);
        pos = next;
    }
    if pos < bytes.len() {
        // Either a torn tail (expected after a crash) or damage in the middle: it is
        // damage if any later offset starts a valid frame that runs to the end.
        if looks_like_mid_journal_damage(bytes, pos) {
            return Err(Error::corrupt(
                path,
                format!(
                    "staging journal frame at offset {} is damaged but later frames are intact",
                    pos + MAGIC.len()
                ),
            ));
        }
    }
    Ok((frames, pos))
}

fn frame_at(bytes: &[u8], pos: usize) -> Option<(Frame, usize)> {
    let header = bytes.get(pos..pos + FRAME_HEADER)?;
    let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    if len > MAX_FRAME {
        return None;
    }
    let body = bytes.get(pos + FRAME_HEADER..pos + FRAME_HEADER + len)?;
    let mut h = crc32fast::Hasher::new();
    h.update(&header[8..9]);
    h.update(body);
    if h.finalize() != crc {
        return None;
    }
    Some((
        Frame {
            frame_type: header[8],
            body: body.to_vec(),
        },
        pos + FRAME_HEADER + len,
    ))
}

fn looks_like_mid_journal_damage(bytes: &[u8], bad_at: usize) -> bool {
    // If the damaged frame's own length field is plausible, check the frame right after
    // it; a valid chain from there to the end of the file means the damage is in the
    // middle. A torn write never has valid frames after it.
    let Some(header) = bytes.get(bad_at..bad_at + 4) else {
        return false;
    };
    let len = u32::from_le_bytes(header.try_into().expect("4 bytes")) as usize;
    let mut pos = match bad_at.checked_add(FRAME_HEADER + len) {
        Some(p) if p < bytes.len() => p,
        _ => return false,
    };
    let mut any = false;
    while let Some((_, next)) = frame_at(bytes, pos) {
        any = true;
        pos = next;
    }
    any && pos == bytes.len()
}

/// The open journal file.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
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
        let bytes = fsutil::read_file(path)?;
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(Error::corrupt(path, "not a staging journal (bad magic)"));
        }
        let (frames, valid) = parse_frames(path, &bytes[MAGIC.len()..])?;
        let valid_len = (MAGIC.len() + valid) as u64;
        let file = fsutil::open_no_follow(fsutil::no_follow().append(true), "open", path)?;
        if valid_len < bytes.len() as u64 {
            file.set_len(valid_len).ctx("truncate torn tail of", path)?;
        }
        Ok((
            Journal {
                path: path.to_path_buf(),
                file,
                len: valid_len,
            },
            frames,
        ))
    }

    /// Reads the frames of a journal without opening it for writing.
    pub fn read(path: &Path) -> Result<Vec<Frame>> {
        let bytes = fsutil::read_file(path)?;
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(Error::corrupt(path, "not a staging journal (bad magic)"));
        }
        Ok(parse_frames(path, &bytes[MAGIC.len()..])?.0)
    }

    /// Appends already-framed bytes with one `write` call.
    pub fn append(&mut self, framed: &[u8]) -> Result<()> {
        if framed.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.file.write_all(framed) {
            // Leave no partial frame behind: later appends would follow it, and a bad
            // frame followed by good ones reads as corruption.
            let _ = self.file.set_len(self.len);
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
        self.file.set_len(len).ctx("truncate", &self.path)?;
        self.len = len;
        Ok(())
    }

    /// Fsyncs the journal.
    pub fn sync(&self) -> Result<()> {
        self.file.sync_data().ctx("fsync", &self.path)
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
