//! Content digests (BLAKE3-256) of values and objects.
//!
//! A value's digest covers a canonical header — the value kind, dtype, rank and every
//! dimension — followed by the value bytes in C order, so equal bytes with a different
//! shape or dtype never share a digest (the original Hangar's bug #153). Objects
//! (schemas, record-table nodes, roots, commits) are hashed with their type byte under a
//! different domain prefix, so a value can never collide with an object.

use std::fmt;

use crate::dtype::DType;

/// Domain prefix of value digests.
const VALUE_DOMAIN: &[u8; 4] = b"HGV1";
/// Domain prefix of object digests.
const OBJECT_DOMAIN: &[u8; 4] = b"HGO1";

/// Hash inputs at least this large are hashed with rayon (blake3's multi-threaded mode).
const PARALLEL_HASH_MIN: usize = 1 << 20;

/// A BLAKE3-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Digest(pub [u8; 32]);

/// Hashes only the first 8 bytes: a digest is already uniformly distributed, so hashing
/// all 32 bytes again (as the derived `Hash` would) buys nothing.
impl std::hash::Hash for Digest {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.prefix())
    }
}

/// A `Hasher` for maps keyed by [`Digest`]: passes the digest's prefix through.
#[derive(Debug, Default, Clone, Copy)]
pub struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached for keys other than digests; FNV-1a keeps it correct.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// A hash map keyed by digests.
pub type DigestMap<V> =
    std::collections::HashMap<Digest, V, std::hash::BuildHasherDefault<DigestHasher>>;
/// A hash set of digests.
pub type DigestSet = std::collections::HashSet<Digest, std::hash::BuildHasherDefault<DigestHasher>>;

impl Digest {
    /// Size in bytes.
    pub const LEN: usize = 32;

    /// The first 8 bytes as a big-endian integer (orders like the digest's bytes).
    pub fn prefix(&self) -> u64 {
        u64::from_be_bytes(self.0[..8].try_into().expect("8 of 32 bytes"))
    }

    /// Lowercase hex of all 32 bytes.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 15)]));
        }
        s
    }

    /// The first 16 hex digits, the short form shown to people.
    pub fn short(&self) -> String {
        self.to_hex()[..16].to_string()
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Option<Digest> {
        let b = s.as_bytes();
        if b.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in b.chunks_exact(2).enumerate() {
            out[i] = (hex_val(pair[0])? << 4) | hex_val(pair[1])?;
        }
        Some(Digest(out))
    }

    /// Reads a digest from exactly 32 bytes.
    pub fn from_slice(b: &[u8]) -> Option<Digest> {
        <[u8; 32]>::try_from(b).ok().map(Digest)
    }

    /// Digest of an object of `type_code` with the given encoded bytes.
    pub fn of_object(type_code: u8, bytes: &[u8]) -> Digest {
        let mut h = blake3::Hasher::new();
        h.update(OBJECT_DOMAIN);
        h.update(&[type_code]);
        h.update(&(bytes.len() as u64).to_le_bytes());
        hash_into(&mut h, bytes);
        Digest(*h.finalize().as_bytes())
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// True if `s` is a non-empty string of at most 64 hex digits.
pub fn is_hex_prefix(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|c| hex_val(c).is_some())
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.short())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

fn hash_into(h: &mut blake3::Hasher, bytes: &[u8]) {
    if bytes.len() >= PARALLEL_HASH_MIN {
        crate::par::install(|| h.update_rayon(bytes));
    } else {
        h.update(bytes);
    }
}

/// What kind of value a digest describes. The codes are part of the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ValueKind {
    /// An n-dimensional array.
    Tensor = 1,
    /// UTF-8 text.
    Str = 2,
    /// Raw bytes.
    Bytes = 3,
}

/// The canonical description of a value that its digest covers besides its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueHeader<'a> {
    /// A tensor with its dtype and shape (dimensions in C order).
    Tensor {
        /// Element type.
        dtype: DType,
        /// Dimensions.
        shape: &'a [u64],
    },
    /// UTF-8 text.
    Str,
    /// Raw bytes.
    Bytes,
}

impl ValueHeader<'_> {
    /// The value kind.
    pub fn kind(&self) -> ValueKind {
        match self {
            ValueHeader::Tensor { .. } => ValueKind::Tensor,
            ValueHeader::Str => ValueKind::Str,
            ValueHeader::Bytes => ValueKind::Bytes,
        }
    }

    /// Digest of a value with this header and these bytes.
    ///
    /// Layout hashed: `"HGV1"`, kind (u8), dtype code (u8, 0 for str/bytes), rank (u8),
    /// then each dimension as u64 little-endian (for str/bytes: rank 1 and the byte
    /// length), then the bytes.
    pub fn digest(&self, bytes: &[u8]) -> Digest {
        let mut h = blake3::Hasher::new();
        let mut head = [0u8; 4 + 3 + 8 * 32];
        head[..4].copy_from_slice(VALUE_DOMAIN);
        head[4] = self.kind() as u8;
        let n = match self {
            ValueHeader::Tensor { dtype, shape } => {
                head[5] = dtype.code();
                // Callers validate rank <= 31 before hashing; the clamp keeps this total.
                let rank = shape.len().min(32);
                head[6] = rank as u8;
                for (i, d) in shape.iter().take(rank).enumerate() {
                    head[7 + 8 * i..15 + 8 * i].copy_from_slice(&d.to_le_bytes());
                }
                7 + 8 * rank
            }
            ValueHeader::Str | ValueHeader::Bytes => {
                head[5] = 0;
                head[6] = 1;
                head[7..15].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
                15
            }
        };
        h.update(&head[..n]);
        hash_into(&mut h, bytes);
        Digest(*h.finalize().as_bytes())
    }
}

/// CRC-32 (IEEE) of `bytes`, the cheap per-record check done on every read.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let d = ValueHeader::Bytes.digest(b"abc");
        assert_eq!(Digest::from_hex(&d.to_hex()), Some(d));
        assert_eq!(d.short().len(), 16);
        assert_eq!(Digest::from_hex("zz"), None);
        assert!(is_hex_prefix("abC1"));
        assert!(!is_hex_prefix(""));
        assert!(!is_hex_prefix("xyz"));
    }

    #[test]
    fn equal_bytes_with_different_shape_or_dtype_differ() {
        let zeros = vec![0u8; 4000];
        let a = ValueHeader::Tensor {
            dtype: DType::F32,
            shape: &[10, 10, 10],
        }
        .digest(&zeros);
        let b = ValueHeader::Tensor {
            dtype: DType::F32,
            shape: &[1000],
        }
        .digest(&zeros);
        let c = ValueHeader::Tensor {
            dtype: DType::I32,
            shape: &[1000],
        }
        .digest(&zeros);
        let d = ValueHeader::Bytes.digest(&zeros);
        let e = ValueHeader::Str.digest(&zeros);
        let all = [a, b, c, d, e];
        for i in 0..all.len() {
            for j in i + 1..all.len() {
                assert_ne!(all[i], all[j], "{i} vs {j}");
            }
        }
        assert_ne!(Digest::of_object(1, &zeros), Digest::of_object(2, &zeros));
    }

    #[test]
    fn large_values_hash_the_same_in_parallel_mode() {
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let header = ValueHeader::Tensor {
            dtype: DType::U8,
            shape: &[3_000_000],
        };
        let mut h = blake3::Hasher::new();
        let mut head = Vec::new();
        head.extend_from_slice(b"HGV1");
        head.extend_from_slice(&[1, DType::U8.code(), 1]);
        head.extend_from_slice(&3_000_000u64.to_le_bytes());
        h.update(&head);
        h.update(&big);
        assert_eq!(header.digest(&big), Digest(*h.finalize().as_bytes()));
    }
}
