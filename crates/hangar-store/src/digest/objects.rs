//! The digests of many objects at once ([`Digest::of_objects`]): the record-table nodes a
//! commit makes are hashed side by side, their 1 KiB chunks through BLAKE3's SIMD lanes.
//!
//! Why: BLAKE3 hashes the chunks of one input side by side only as far as the input
//! holds whole groups of them, and one behind another otherwise. A leaf of ~5 KiB (64
//! entries of a small record) begins with the 13 bytes of the object header, so its first
//! chunk, its last (partial) one and every chunk `hash_many` cannot fill its lanes with
//! were compressed one block at a time: BLAKE3 was ~29% of a commit of 10M small records,
//! most of it `compress_in_place`. Here chunk `i` of up to 16 objects goes through
//! `hash_many` together (the same chunk counter), each object's partial last chunk is
//! hashed on its own, and the chunks' chaining values are merged into the root as BLAKE3's
//! tree has it (`blake3::hazmat`).
//!
//! `hash_many` is the blake3 crate's unstable `platform` module, as in
//! [`ValueHeader::digest_each`](super::ValueHeader::digest_each): the workspace pins the
//! crate's version, and `of_objects_is_of_object_of_each` checks the result against
//! [`Digest::of_object`] for every chunk count and tail length that matter.

use blake3::hazmat::{merge_subtrees_non_root, merge_subtrees_root, ChainingValue, HasherExt, Mode};
use blake3::platform::Platform;
use blake3::CHUNK_LEN;

use super::{
    object_header, Digest, CHUNK_END, CHUNK_START, IV, OBJECT_HEADER, PARALLEL_HASH_MIN,
};

impl Digest {
    /// The digests of objects of `type_code` with the given encoded bytes, appended to
    /// `out` in their order: each is [`Digest::of_object`] of it.
    pub fn of_objects(type_code: u8, objects: &[&[u8]], out: &mut Vec<Digest>) {
        of_objects_on(Platform::detect(), type_code, objects, out);
    }
}

fn of_objects_on(platform: Platform, type_code: u8, objects: &[&[u8]], out: &mut Vec<Digest>) {
    let base = out.len();
    out.resize(base + objects.len(), Digest::default());
    // Objects of more than one chunk (and too small for the thread pool, which
    // `of_object` hands large ones to): where their chunks' chaining values start in
    // `cvs`, how many chunks they have, and how many of those are whole.
    let mut tree: Vec<(usize, usize, usize, usize)> = Vec::new();
    let mut n_cvs = 0;
    for (j, bytes) in objects.iter().enumerate() {
        let len = OBJECT_HEADER + bytes.len();
        if len <= CHUNK_LEN || bytes.len() >= PARALLEL_HASH_MIN {
            out[base + j] = Digest::of_object(type_code, bytes);
        } else {
            let chunks = len.div_ceil(CHUNK_LEN);
            tree.push((j, n_cvs, chunks, len / CHUNK_LEN));
            n_cvs += chunks;
        }
    }
    if tree.is_empty() {
        return;
    }
    let mut cvs: Vec<ChainingValue> = vec![[0; 32]; n_cvs];
    // First chunks: the header and the first bytes, copied together.
    let mut firsts: Vec<[u8; CHUNK_LEN]> = Vec::with_capacity(tree.len());
    for &(j, ..) in &tree {
        let bytes = objects[j];
        let mut c = [0u8; CHUNK_LEN];
        c[..OBJECT_HEADER].copy_from_slice(&object_header(type_code, bytes.len()));
        c[OBJECT_HEADER..].copy_from_slice(&bytes[..CHUNK_LEN - OBJECT_HEADER]);
        firsts.push(c);
    }
    let most_whole = tree.iter().map(|t| t.3).max().unwrap_or(0);
    let mut inputs: Vec<&[u8; CHUNK_LEN]> = Vec::with_capacity(tree.len());
    let mut slots: Vec<usize> = Vec::with_capacity(tree.len());
    let mut hashed: Vec<u8> = Vec::with_capacity(tree.len() * 32);
    // Chunk `i` of every object that has it whole, side by side.
    for i in 0..most_whole {
        inputs.clear();
        slots.clear();
        for (t, &(j, first, _, whole)) in tree.iter().enumerate() {
            if i >= whole {
                continue;
            }
            let bytes = objects[j];
            let chunk: &[u8; CHUNK_LEN] = if i == 0 {
                &firsts[t]
            } else {
                let at = i * CHUNK_LEN - OBJECT_HEADER;
                bytes[at..at + CHUNK_LEN].try_into().expect("a whole chunk")
            };
            inputs.push(chunk);
            slots.push(first + i);
        }
        hashed.clear();
        hashed.resize(inputs.len() * 32, 0);
        platform.hash_many(
            &inputs,
            &IV,
            i as u64,
            blake3::IncrementCounter::No,
            0,
            CHUNK_START,
            CHUNK_END,
            &mut hashed,
        );
        for (cv, &slot) in hashed.chunks_exact(32).zip(&slots) {
            cvs[slot].copy_from_slice(cv);
        }
    }
    for &(j, first, chunks, whole) in &tree {
        let bytes = objects[j];
        if whole < chunks {
            // The partial last chunk (never the first: the object has two or more).
            let i = chunks - 1;
            let mut h = blake3::Hasher::new();
            h.set_input_offset((i * CHUNK_LEN) as u64);
            h.update(&bytes[i * CHUNK_LEN - OBJECT_HEADER..]);
            cvs[first + i] = h.finalize_non_root();
        }
        out[base + j] = Digest(*root(&cvs[first..first + chunks]).as_bytes());
    }
}

/// The root hash of a tree of two or more chunks with these chaining values.
fn root(cvs: &[ChainingValue]) -> blake3::Hash {
    let left = left_chunks(cvs.len());
    merge_subtrees_root(&subtree(&cvs[..left]), &subtree(&cvs[left..]), Mode::Hash)
}

/// The chaining value of a (non-root) subtree of chunks.
fn subtree(cvs: &[ChainingValue]) -> ChainingValue {
    if cvs.len() == 1 {
        return cvs[0];
    }
    let left = left_chunks(cvs.len());
    merge_subtrees_non_root(&subtree(&cvs[..left]), &subtree(&cvs[left..]), Mode::Hash)
}

/// BLAKE3's left subtree of `n >= 2` chunks: the largest power of two below `n`.
fn left_chunks(n: usize) -> usize {
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::super::tests::platforms;
    use super::*;

    #[test]
    fn of_objects_is_of_object_of_each() {
        // Lengths around every chunk boundary up to 9 chunks (the header shifts them by
        // 13 bytes), the empty object, and one large enough for the thread pool.
        let mut lens = vec![0, 1, 100, CHUNK_LEN - OBJECT_HEADER, CHUNK_LEN - OBJECT_HEADER + 1];
        for c in 1..=9 {
            for d in [-14i64, -13, -12, -1, 0, 1, 500] {
                lens.push((c * CHUNK_LEN as i64 + d).max(0) as usize);
            }
        }
        lens.push(16 * CHUNK_LEN + 77);
        lens.push(PARALLEL_HASH_MIN + 5);
        let data: Vec<u8> = (0..PARALLEL_HASH_MIN + 64).map(|i| (i * 7 + i / 251) as u8).collect();
        // At offsets 0 to 12, so that chunks are not always aligned in memory alike.
        let objects: Vec<&[u8]> = lens.iter().map(|&n| &data[n % 13..n % 13 + n]).collect();
        assert!(objects.iter().any(|o| o.len() >= PARALLEL_HASH_MIN));
        for platform in platforms() {
            for type_code in [2u8, 9] {
                let mut out = vec![Digest([7; 32])];
                of_objects_on(platform, type_code, &objects, &mut out);
                assert_eq!(out[0], Digest([7; 32]), "what was in `out` is kept");
                for (o, d) in objects.iter().zip(&out[1..]) {
                    assert_eq!(*d, Digest::of_object(type_code, o), "{} bytes", o.len());
                }
            }
        }
        // In groups wider than the lanes, and with no object at all.
        let many: Vec<&[u8]> = (0..40).map(|k| &data[k..k + 3000 + 97 * k]).collect();
        let mut out = Vec::new();
        Digest::of_objects(4, &many, &mut out);
        Digest::of_objects(4, &[], &mut out);
        let want: Vec<Digest> = many.iter().map(|o| Digest::of_object(4, o)).collect();
        assert_eq!(out, want);
    }
}
