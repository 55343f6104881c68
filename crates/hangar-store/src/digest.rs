//! Content digests (BLAKE3-256) of values and objects.
//!
//! A value's digest covers a canonical header — the value kind, dtype, rank and every
//! dimension — followed by the value bytes in C order, so equal bytes with a different
//! shape or dtype never share a digest (the original Hangar's bug #153). Objects
//! (schemas, record-table nodes, roots, commits) are hashed with their type byte under a
//! different domain prefix, so a value can never collide with an object.

use std::fmt;

use crate::dtype::DType;

mod objects;

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
        h.update(&object_header(type_code, bytes.len()));
        hash_into(&mut h, bytes);
        Digest(*h.finalize().as_bytes())
    }
}

/// Length of [`object_header`].
const OBJECT_HEADER: usize = 4 + 1 + 8;

/// What an object digest hashes before the object's bytes: the domain, the type code and
/// the length (u64 LE).
fn object_header(type_code: u8, len: usize) -> [u8; OBJECT_HEADER] {
    let mut head = [0u8; OBJECT_HEADER];
    head[..4].copy_from_slice(OBJECT_DOMAIN);
    head[4] = type_code;
    head[5..].copy_from_slice(&(len as u64).to_le_bytes());
    head
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
        let (head, n) = self.head(bytes.len());
        h.update(&head[..n]);
        hash_into(&mut h, bytes);
        Digest(*h.finalize().as_bytes())
    }

    /// A 64-bit fingerprint of a value with this header and these bytes: XXH3 of the
    /// bytes, seeded with XXH3 of the header [`ValueHeader::digest`] hashes. Not a digest
    /// (anyone can make two values share one): for counting distinct values where a
    /// chance collision (about n²/2^65 for n values) only makes the count one short, at a
    /// small part of BLAKE3's cost for small values (verify's count of values kept in
    /// their records: BLAKE3 was half of `hangar verify` over 10^7 u8[64] samples).
    pub fn fingerprint(&self, bytes: &[u8]) -> u64 {
        let (head, n) = self.head(bytes.len());
        let seed = twox_hash::XxHash3_64::oneshot(&head[..n]);
        twox_hash::XxHash3_64::oneshot_with_seed(seed, bytes)
    }

    /// The bytes hashed before a value of `len` bytes (see [`ValueHeader::digest`]): a
    /// buffer and how much of it they fill.
    fn head(&self, len: usize) -> ([u8; HEAD_MAX], usize) {
        let mut head = [0u8; HEAD_MAX];
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
                head[7..15].copy_from_slice(&(len as u64).to_le_bytes());
                15
            }
        };
        (head, n)
    }

    /// The digests of the `n` values of this header laid end to end in `bytes` (a batch
    /// of one fixed shape: each `bytes.len() / n` bytes), appended to `out`: each is what
    /// [`ValueHeader::digest`] gives for it.
    ///
    /// Why: BLAKE3 hashes one input's blocks one after the other, and the SIMD lanes of
    /// its `hash_many` only ever see several *chunks* (1 KiB) of one input. A value whose
    /// header and bytes fit in one chunk (a 28×28 image: 807 bytes, 13 blocks) therefore
    /// hashed one block at a time. Here the full blocks of up to 16 such values (as many
    /// as the CPU's lanes: 16 with AVX-512, 8 with AVX2) go through `hash_many` together,
    /// and each value's last, partial block is one compression of its own, finishing the
    /// chunk as its root. Values of other sizes are hashed one by one.
    ///
    /// `hash_many`, `compress_in_place` and the word conversions are the blake3 crate's
    /// `platform` module, which it marks unstable: the workspace pins the crate's version
    /// (`=1.8.7`), and `digest_each_is_digest_of_each` checks every length a chunk holds
    /// against [`ValueHeader::digest`].
    pub fn digest_each(&self, bytes: &[u8], n: usize, out: &mut Vec<Digest>) {
        if n == 0 {
            return;
        }
        let stride = bytes.len() / n;
        if stride == 0 {
            // `n` empty values: one digest, `n` times.
            out.extend(std::iter::repeat_n(self.digest(&[]), n));
            return;
        }
        self.digest_many_on(
            blake3::platform::Platform::detect(),
            bytes.chunks_exact(stride).take(n),
            out,
        );
    }

    /// The digests of `values`, appended to `out` in their order: each is what
    /// [`ValueHeader::digest`] gives for it. Each run of values of one length (a
    /// fixed-shape column's, or what a fetch receives, one buffer each) is hashed side
    /// by side as by [`ValueHeader::digest_each`]; values too long or too short for that
    /// are hashed one by one.
    pub fn digest_many<'v>(
        &self,
        values: impl IntoIterator<Item = &'v [u8]>,
        out: &mut Vec<Digest>,
    ) {
        self.digest_many_on(blake3::platform::Platform::detect(), values, out);
    }

    /// [`ValueHeader::digest_many`] with the SIMD instructions of `platform`.
    fn digest_many_on<'v>(
        &self,
        platform: blake3::platform::Platform,
        values: impl IntoIterator<Item = &'v [u8]>,
        out: &mut Vec<Digest>,
    ) {
        let mut values = values.into_iter().peekable();
        let lanes = platform.simd_degree().clamp(1, LANES);
        // Each lane holds one value's whole input (header, then bytes).
        let mut inputs = vec![0u8; lanes * blake3::CHUNK_LEN];
        let mut cvs = [0u8; LANES * 32];
        // One group a turn: up to `lanes` values of the next value's length.
        while let Some(stride) = values.peek().map(|v| v.len()) {
            let (head, h) = self.head(stride);
            let len = h + stride;
            if !(blake3::BLOCK_LEN..=blake3::CHUNK_LEN).contains(&len) {
                let v = values.next().expect("peeked");
                out.push(self.digest(v));
                continue;
            }
            let (full, rem) = (len / blake3::BLOCK_LEN, len % blake3::BLOCK_LEN);
            let end = if rem == 0 { CHUNK_END | ROOT } else { 0 };
            let mut g = 0;
            while g < lanes && values.peek().is_some_and(|v| v.len() == stride) {
                let v = values.next().expect("peeked");
                let lane = &mut inputs[g * blake3::CHUNK_LEN..g * blake3::CHUNK_LEN + len];
                lane[..h].copy_from_slice(&head[..h]);
                lane[h..].copy_from_slice(v);
                g += 1;
            }
            hash_full_blocks(platform, &inputs, full, g, end, &mut cvs[..g * 32]);
            for (i, cv) in cvs[..g * 32].chunks_exact(32).enumerate() {
                let cv: [u8; 32] = cv.try_into().expect("32-byte chaining value");
                if rem == 0 {
                    out.push(Digest(cv));
                    continue;
                }
                // The chunk's last block, zero-padded, with its true length: the root.
                let at = i * blake3::CHUNK_LEN + full * blake3::BLOCK_LEN;
                let mut block = [0u8; blake3::BLOCK_LEN];
                block[..rem].copy_from_slice(&inputs[at..at + rem]);
                let mut words = blake3::platform::words_from_le_bytes_32(&cv);
                platform.compress_in_place(&mut words, &block, rem as u8, 0, CHUNK_END | ROOT);
                out.push(Digest(blake3::platform::le_bytes_from_words_32(&words)));
            }
        }
    }
}

/// Values hashed per task when a batch's digests are computed on the thread pool (a
/// piece of `digest_each` / `digest_many` work: enough to fill the SIMD lanes many
/// times, small enough to spread over the cores).
pub const HASH_PIECE: usize = 256;

/// Longest header: domain, kind, dtype, rank and 32 dimensions.
const HEAD_MAX: usize = 4 + 3 + 8 * 32;
/// Most values hashed side by side (AVX-512's 16 lanes of 32-bit words).
const LANES: usize = 16;
// BLAKE3's chunk flags and initial value, as its specification fixes them (the crate
// keeps its own private).
const CHUNK_START: u8 = 1 << 0;
const CHUNK_END: u8 = 1 << 1;
const ROOT: u8 = 1 << 3;
const IV: [u32; 8] = [
    0x6A09_E667,
    0xBB67_AE85,
    0x3C6E_F372,
    0xA54F_F53A,
    0x510E_527F,
    0x9B05_688C,
    0x1F83_D9AB,
    0x5BE0_CD19,
];

/// The chaining values after the first `blocks` full blocks of the first `g` lanes of
/// `inputs` (one chunk each, from its start; `end` the flags of the last of them), 32
/// bytes per lane into `out`. `hash_many` takes the blocks' length as a constant.
fn hash_full_blocks(
    platform: blake3::platform::Platform,
    inputs: &[u8],
    blocks: usize,
    g: usize,
    end: u8,
    out: &mut [u8],
) {
    fn many<const N: usize>(
        platform: blake3::platform::Platform,
        inputs: &[u8],
        g: usize,
        end: u8,
        out: &mut [u8],
    ) {
        let zero = [0u8; N];
        let mut refs = [&zero; LANES];
        for (i, r) in refs.iter_mut().enumerate().take(g) {
            let at = i * blake3::CHUNK_LEN;
            *r = <&[u8; N]>::try_from(&inputs[at..at + N]).expect("N bytes");
        }
        platform.hash_many(&refs[..g], &IV, 0, blake3::IncrementCounter::No, 0, CHUNK_START, end, out);
    }
    macro_rules! dispatch {
        ($($b:literal)*) => {
            match blocks {
                $($b => many::<{ $b * blake3::BLOCK_LEN }>(platform, inputs, g, end, out),)*
                // A chunk holds 1 to 16 full blocks (the caller checked its length).
                _ => unreachable!("{blocks} full blocks in one chunk"),
            }
        };
    }
    dispatch!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);
}

/// CRC-32 (IEEE) of `bytes`, the cheap per-record check done on every read.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn platforms() -> Vec<blake3::platform::Platform> {
        use blake3::platform::Platform;
        let mut all = vec![Platform::portable()];
        #[cfg(target_arch = "x86_64")]
        all.extend([Platform::sse2(), Platform::sse41(), Platform::avx2(), Platform::avx512()].into_iter().flatten());
        all
    }

    #[test]
    fn a_fingerprint_tells_apart_what_a_digest_does() {
        let u8x4 = ValueHeader::Tensor { dtype: DType::U8, shape: &[4] };
        let i8x4 = ValueHeader::Tensor { dtype: DType::I8, shape: &[4] };
        let u8x2x2 = ValueHeader::Tensor { dtype: DType::U8, shape: &[2, 2] };
        let v = [1u8, 2, 3, 4];
        // The same header and bytes: the same fingerprint, every time.
        assert_eq!(u8x4.fingerprint(&v), u8x4.fingerprint(&v.clone()));
        // Another byte, dtype, shape or kind: another fingerprint.
        let others = [
            u8x4.fingerprint(&[1, 2, 3, 5]),
            i8x4.fingerprint(&v),
            u8x2x2.fingerprint(&v),
            ValueHeader::Bytes.fingerprint(&v),
            ValueHeader::Str.fingerprint(&v),
        ];
        for (i, f) in others.iter().enumerate() {
            assert_ne!(*f, u8x4.fingerprint(&v), "variant {i}");
        }
        assert_ne!(ValueHeader::Bytes.fingerprint(&v), ValueHeader::Str.fingerprint(&v));
        // 100,000 distinct small values: no two share a fingerprint.
        let header = ValueHeader::Tensor { dtype: DType::U8, shape: &[8] };
        let seen: std::collections::HashSet<u64> =
            (0..100_000u64).map(|i| header.fingerprint(&i.to_le_bytes())).collect();
        assert_eq!(seen.len(), 100_000);
    }

    #[test]
    fn digest_each_is_digest_of_each() {
        // Every total length a chunk holds (header + value: 64..=1024, with full and
        // partial last blocks), headers of several ranks, group sizes below, at and
        // above the lanes, and the lengths on either side of the one-chunk path.
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut byte = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        };
        for rank in [1usize, 2, 5] {
            for len in (1..=1100).filter(|l| *l < 80 || l % 7 == 0 || (1000..1040).contains(l)) {
                let mut shape = vec![1u64; rank];
                shape[0] = len as u64;
                let header = ValueHeader::Tensor { dtype: DType::U8, shape: &shape };
                for n in [1usize, 3, 16, 17, 40] {
                    let bytes: Vec<u8> = (0..n * len).map(|_| byte()).collect();
                    let want: Vec<Digest> = bytes.chunks(len).map(|v| header.digest(v)).collect();
                    // Every instruction set this CPU has (a CI machine may pick another).
                    for platform in platforms() {
                        let mut got = Vec::new();
                        header.digest_many_on(platform, bytes.chunks(len), &mut got);
                        assert_eq!(got, want, "{platform:?}: rank {rank}, {len} bytes, {n} values");
                    }
                }
            }
        }
        // Zero values, and values of no bytes.
        let header = ValueHeader::Tensor { dtype: DType::F32, shape: &[0, 3] };
        let mut got = Vec::new();
        header.digest_each(&[], 0, &mut got);
        assert!(got.is_empty());
        header.digest_each(&[], 4, &mut got);
        assert_eq!(got, vec![header.digest(&[]); 4]);
        // Equal values give equal digests; a byte changed in one lane changes only it.
        let header = ValueHeader::Tensor { dtype: DType::U8, shape: &[28, 28] };
        let mut bytes = vec![7u8; 784 * 20];
        bytes[784 * 5 + 783] = 8;
        let mut got = Vec::new();
        header.digest_each(&bytes, 20, &mut got);
        assert_eq!(got[0], got[19]);
        assert_ne!(got[5], got[4]);
        assert_eq!(got[5], header.digest(&bytes[784 * 5..784 * 6]));
        // Runs of several lengths, one too long for one chunk first (each value's digest in
        // its place): separate buffers, as a fetch receives them.
        for platform in platforms() {
            let header = ValueHeader::Bytes;
            let values: Vec<Vec<u8>> = [2000usize, 100, 100, 100, 7, 100, 2000, 100, 100, 0, 100, 7, 7]
                .iter()
                .enumerate()
                .map(|(i, &n)| (0..n).map(|j| (i * 31 + j) as u8).collect())
                .collect();
            let mut got = Vec::new();
            header.digest_many_on(platform, values.iter().map(|v| v.as_slice()), &mut got);
            let want: Vec<Digest> = values.iter().map(|v| header.digest(v)).collect();
            assert_eq!(got, want, "{platform:?}: mixed lengths");
        }
    }

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
