//! A small, bounds-checked binary codec shared by every on-disk format.
//!
//! Integers are little-endian; byte strings are length-prefixed. Decoding never panics:
//! every read is checked and a short or malformed input is a [`DecodeError`], which the
//! caller turns into a `Corrupt` error naming its file.

use crate::digest::Digest;

/// Why a decode failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Result of decoding.
pub type DecodeResult<T> = std::result::Result<T, DecodeError>;

/// Appends encoded fields to a byte vector.
#[derive(Debug, Default, Clone)]
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    /// An empty encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty encoder with capacity.
    pub fn with_capacity(n: usize) -> Self {
        Encoder {
            buf: Vec::with_capacity(n),
        }
    }

    /// The bytes so far.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }

    /// The bytes so far, borrowed.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// Current length.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True if nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Writes one byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    /// Writes a u16.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Writes a u32.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Writes a u64.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Writes an i64.
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Writes an unsigned LEB128 varint.
    pub fn varint(&mut self, v: u64) -> &mut Self {
        push_varint(&mut self.buf, v);
        self
    }

    /// Writes raw bytes without a length.
    pub fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }

    /// Writes a varint length followed by the bytes.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        push_bytes(&mut self.buf, b);
        self
    }

    /// Writes a string as length-prefixed UTF-8.
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    /// Writes a digest (32 raw bytes).
    pub fn digest(&mut self, d: &Digest) -> &mut Self {
        self.buf.extend_from_slice(&d.0);
        self
    }
}

/// Appends an unsigned LEB128 varint to `out` (what [`Encoder::varint`] writes).
pub fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Appends a varint length and the bytes to `out` (what [`Encoder::bytes`] writes).
pub fn push_bytes(out: &mut Vec<u8>, b: &[u8]) {
    push_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Reads fields from a byte slice, checking every bound.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    /// Starts decoding `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Decoder { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> DecodeResult<()> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(DecodeError(format!("{} trailing bytes", self.remaining())))
        }
    }

    /// Takes `n` raw bytes.
    pub fn take(&mut self, n: usize) -> DecodeResult<&'a [u8]> {
        if n > self.remaining() {
            return Err(DecodeError(format!(
                "needs {n} bytes at offset {} but only {} remain",
                self.pos,
                self.remaining()
            )));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> DecodeResult<[u8; N]> {
        let b = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> DecodeResult<u8> {
        Ok(self.array::<1>()?[0])
    }

    /// Reads a u16.
    pub fn u16(&mut self) -> DecodeResult<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    /// Reads a u32.
    pub fn u32(&mut self) -> DecodeResult<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// Reads a u64.
    pub fn u64(&mut self) -> DecodeResult<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Reads an i64.
    pub fn i64(&mut self) -> DecodeResult<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    /// Reads an unsigned LEB128 varint (at most 10 bytes, no overflow).
    pub fn varint(&mut self) -> DecodeResult<u64> {
        let mut out = 0u64;
        for i in 0..10 {
            let byte = self.u8()?;
            let bits = u64::from(byte & 0x7f);
            if i == 9 && bits > 1 {
                return Err(DecodeError("varint overflows 64 bits".into()));
            }
            out |= bits << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err(DecodeError("varint longer than 10 bytes".into()))
    }

    /// Reads a varint that must fit in `usize` and not exceed what remains.
    pub fn len_prefix(&mut self) -> DecodeResult<usize> {
        let n = self.varint()?;
        let n = usize::try_from(n).map_err(|_| DecodeError(format!("absurd length {n}")))?;
        if n > self.remaining() {
            return Err(DecodeError(format!(
                "length {n} at offset {} exceeds the {} bytes left",
                self.pos,
                self.remaining()
            )));
        }
        Ok(n)
    }

    /// Reads a length-prefixed byte string.
    pub fn bytes(&mut self) -> DecodeResult<&'a [u8]> {
        let n = self.len_prefix()?;
        self.take(n)
    }

    /// Reads a length-prefixed UTF-8 string.
    pub fn str(&mut self) -> DecodeResult<&'a str> {
        let b = self.bytes()?;
        std::str::from_utf8(b).map_err(|_| DecodeError("string is not valid UTF-8".into()))
    }

    /// Reads a digest.
    pub fn digest(&mut self) -> DecodeResult<Digest> {
        Ok(Digest(self.array()?))
    }

    /// Reads a count of items, each at least `min_item_size` bytes, rejecting counts the
    /// remaining input cannot hold (so a damaged count never triggers a huge allocation).
    pub fn count(&mut self, min_item_size: usize) -> DecodeResult<usize> {
        let n = self.varint()?;
        let max = self.remaining() / min_item_size.max(1);
        if n > max as u64 {
            return Err(DecodeError(format!(
                "count {n} cannot fit in the {} bytes left",
                self.remaining()
            )));
        }
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut e = Encoder::new();
        e.u8(7)
            .u16(300)
            .u32(70000)
            .u64(u64::MAX)
            .i64(-5)
            .varint(0)
            .varint(u64::MAX);
        e.bytes(b"hi").str("héllo").digest(&Digest([9; 32]));
        let buf = e.finish();
        let mut d = Decoder::new(&buf);
        assert_eq!(d.u8().unwrap(), 7);
        assert_eq!(d.u16().unwrap(), 300);
        assert_eq!(d.u32().unwrap(), 70000);
        assert_eq!(d.u64().unwrap(), u64::MAX);
        assert_eq!(d.i64().unwrap(), -5);
        assert_eq!(d.varint().unwrap(), 0);
        assert_eq!(d.varint().unwrap(), u64::MAX);
        assert_eq!(d.bytes().unwrap(), b"hi");
        assert_eq!(d.str().unwrap(), "héllo");
        assert_eq!(d.digest().unwrap(), Digest([9; 32]));
        d.finish().unwrap();
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let mut e = Encoder::new();
        e.u64(1).bytes(&[1, 2, 3, 4]).str("abc").varint(1 << 40);
        let buf = e.finish();
        for cut in 0..buf.len() {
            let mut d = Decoder::new(&buf[..cut]);
            let r = (|| -> DecodeResult<()> {
                d.u64()?;
                d.bytes()?;
                d.str()?;
                d.varint()?;
                Ok(())
            })();
            assert!(r.is_err(), "cut at {cut} decoded");
        }
    }

    #[test]
    fn absurd_lengths_and_counts_are_rejected() {
        let mut e = Encoder::new();
        e.varint(u64::MAX);
        let buf = e.finish();
        assert!(Decoder::new(&buf).bytes().is_err());
        assert!(Decoder::new(&buf).count(1).is_err());
        assert!(Decoder::new(&[0xff; 11]).varint().is_err());
        assert!(
            Decoder::new(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02])
                .varint()
                .is_err()
        );
    }
}
