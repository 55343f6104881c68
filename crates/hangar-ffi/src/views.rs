//! What keeps the C ABI's zero-copy views valid until their reader checkout closes
//! (`hangar_column_view`), held so that it grows with the data read, never with the
//! number of reads: a training loop that reads the same samples epoch after epoch holds
//! no more after the hundredth epoch than after the first.
//!
//! - A value in a mapped file (an Arrow segment: [`Tensor::is_mapped`]) is a slice of the
//!   file's one mapping, so one buffer per file keeps every view into it valid.
//! - Any other value (inline in its record, decoded from a compressed column, streamed
//!   from a remote) is a fresh buffer at each read: it is copied once per distinct
//!   content, and a later read of the same bytes gets the same copy.
//! - Shapes are kept once each (all the samples of a fixed-shape column share one).

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use arrow_buffer::Buffer;
use hangar_core::Tensor;

/// The views of one reader checkout (shared by its columns).
#[derive(Default)]
pub(crate) struct Views(Mutex<Held>);

#[derive(Default)]
struct Held {
    /// A buffer of each mapped file a view points into, by the mapping's address.
    files: HashMap<usize, Buffer>,
    /// The values not in a mapped file, one aligned copy per distinct content.
    copies: HashSet<Copy>,
    /// The shapes views point to.
    shapes: HashSet<Box<[usize]>>,
}

/// A value's bytes, compared and hashed by content (as `[u8]`, so a set of them can be
/// searched with a slice).
struct Copy(Buffer);

impl Hash for Copy {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.as_slice().hash(state);
    }
}

impl PartialEq for Copy {
    fn eq(&self, other: &Copy) -> bool {
        self.0.as_slice() == other.0.as_slice()
    }
}

impl Eq for Copy {}

impl Borrow<[u8]> for Copy {
    fn borrow(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// Where a view's bytes and shape are, valid until [`Views::clear`].
pub(crate) struct Pinned {
    pub data: *const u8,
    pub shape: *const usize,
}

impl Views {
    /// Keeps what a view of `t` needs for as long as the reader is open and says where
    /// its bytes and shape are.
    pub(crate) fn pin(&self, t: &Tensor) -> Pinned {
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let bytes = t.as_bytes();
        let data = if t.is_mapped() {
            // The held buffer keeps the mapping (and so its address) for the reader's life:
            // the same address is the same file.
            let buf = t.buffer();
            held.files
                .entry(buf.data_ptr().as_ptr() as usize)
                .or_insert_with(|| buf.clone());
            bytes.as_ptr()
        } else {
            match held.copies.get(bytes) {
                Some(c) => c.0.as_ptr(),
                None => {
                    // Arrow's buffers are 64-byte aligned: right for every dtype.
                    let copy = Buffer::from_slice_ref(bytes);
                    let at = copy.as_ptr();
                    held.copies.insert(Copy(copy));
                    at
                }
            }
        };
        let shape = match held.shapes.get(t.shape()) {
            Some(s) => s.as_ptr(),
            None => {
                let s: Box<[usize]> = t.shape().into();
                let at = s.as_ptr();
                held.shapes.insert(s);
                at
            }
        };
        Pinned { data, shape }
    }

    /// Lets go of everything (the reader closed: no view of it may be used any more).
    pub(crate) fn clear(&self) {
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *held = Held::default();
    }

    /// How many files, copies (and their bytes) and shapes are held.
    #[cfg(test)]
    pub(crate) fn counts(&self) -> (usize, usize, usize, usize) {
        let held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let copy_bytes = held.copies.iter().map(|c| c.0.len()).sum();
        (
            held.files.len(),
            held.copies.len(),
            copy_bytes,
            held.shapes.len(),
        )
    }
}

impl std::fmt::Debug for Views {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f.debug_struct("Views")
            .field("files", &held.files.len())
            .field("copies", &held.copies.len())
            .field("shapes", &held.shapes.len())
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::ffi::CString;

    use hangar_core::{Compression, DType, NdArraySpec, Repository, TensorRef};

    use crate::checkout::hangar_reader;
    use crate::column::hangar_column;
    use crate::repo::hangar_repo;
    use crate::types::hangar_view;
    use crate::*;

    const N: u64 = 40;

    /// A repository with three 40-sample columns: `images` (u8[100], in an Arrow segment,
    /// read zero-copy), `labels` (i64 scalars with 4 distinct values, inline in their
    /// records) and `packed` (u8[100] in a zstd column, decoded from Parquet pages).
    fn repo(dir: &std::path::Path) {
        let repo = Repository::init(dir, "t", "t@example.com", true).unwrap();
        let co = repo.checkout_writer().unwrap();
        let images: Vec<u8> = (0..N as usize * 100).map(|i| (i * 7 % 251) as u8).collect();
        let labels: Vec<i64> = (0..N as i64).map(|i| i % 4).collect();
        let spec = NdArraySpec::with_shape(DType::U8, &[100]);
        co.add_ndarray_column("images", spec.clone())
            .unwrap()
            .extend_from_buffer(0..N, TensorRef::new(&images, &[N as usize, 100]))
            .unwrap();
        // Other bytes than the images' (equal values would be stored once, in one place).
        let packed: Vec<u8> = images.iter().map(|b| b ^ 0xff).collect();
        co.add_ndarray_column("packed", spec.compression(Compression::Zstd(3)))
            .unwrap()
            .extend_from_buffer(0..N, TensorRef::new(&packed, &[N as usize, 100]))
            .unwrap();
        co.add_ndarray_column("labels", NdArraySpec::with_shape(DType::I64, &[]))
            .unwrap()
            .extend_from_buffer(0..N, TensorRef::new(&labels, &[N as usize]))
            .unwrap();
        co.commit("data").unwrap();
    }

    fn view(col: *const hangar_column, k: u64) -> hangar_view {
        let mut v = std::mem::MaybeUninit::<hangar_view>::uninit();
        let key = hangar_key {
            text: std::ptr::null(),
            number: k,
        };
        assert_eq!(
            hangar_column_view(col, key, std::ptr::null(), v.as_mut_ptr()),
            HANGAR_OK
        );
        // SAFETY: HANGAR_OK: the view was filled.
        unsafe { v.assume_init() }
    }

    /// The bytes and shape a view points to.
    fn contents(v: &hangar_view) -> (Vec<u8>, Vec<usize>) {
        // SAFETY: a valid view's pointers (the reader is open).
        unsafe {
            (
                std::slice::from_raw_parts(v.data.cast::<u8>(), v.nbytes).to_vec(),
                std::slice::from_raw_parts(v.shape, v.ndim).to_vec(),
            )
        }
    }

    #[test]
    fn views_hold_what_the_data_needs_not_one_thing_per_read() {
        let dir = tempfile::tempdir().unwrap();
        repo(dir.path());
        let path = CString::new(dir.path().to_str().unwrap()).unwrap();
        let mut r: *mut hangar_repo = std::ptr::null_mut();
        assert_eq!(hangar_repo_open(path.as_ptr(), &mut r), HANGAR_OK);
        let mut reader: *mut hangar_reader = std::ptr::null_mut();
        assert_eq!(
            hangar_repo_checkout(r, std::ptr::null(), &mut reader),
            HANGAR_OK
        );
        let cols: Vec<*mut hangar_column> = ["images", "labels", "packed"]
            .iter()
            .map(|name| {
                let name = CString::new(*name).unwrap();
                let mut c: *mut hangar_column = std::ptr::null_mut();
                assert_eq!(
                    hangar_reader_column(reader, name.as_ptr(), &mut c),
                    HANGAR_OK
                );
                c
            })
            .collect();
        // SAFETY: a live handle hangar_repo_checkout made.
        let views = unsafe { &(*reader).views };

        // The first pass: what it holds, and where each view points.
        let first: Vec<Vec<hangar_view>> = cols
            .iter()
            .map(|&c| (0..N).map(|k| view(c, k)).collect())
            .collect();
        let after_one = views.counts();
        // One mapped file; the 4 distinct labels and the 40 distinct decoded values
        // copied once each; the shapes (100,) and ().
        assert_eq!(after_one, (1, 4 + N as usize, 4 * 8 + N as usize * 100, 2));
        // Ten more passes hold nothing more, and each view points where the first did,
        // at the same bytes.
        for _ in 0..10 {
            for (c, firsts) in cols.iter().zip(&first) {
                for k in 0..N {
                    let v = view(*c, k);
                    let f = &firsts[k as usize];
                    assert_eq!((v.data, v.shape), (f.data, f.shape));
                    assert_eq!(contents(&v), contents(f));
                }
            }
        }
        assert_eq!(views.counts(), after_one);
        // The values are right: the images byte for byte, zero-copy and decoded alike;
        // the labels with their 0-d shape.
        let [images, labels, packed] = &first[..] else {
            unreachable!("three columns")
        };
        for (k, ((image, label), packed)) in images.iter().zip(labels).zip(packed).enumerate() {
            let want: Vec<u8> = (k * 100..k * 100 + 100)
                .map(|i| (i * 7 % 251) as u8)
                .collect();
            let want_packed = want.iter().map(|b| b ^ 0xff).collect();
            assert_eq!(contents(image), (want, vec![100]));
            assert_eq!(contents(packed), (want_packed, vec![100]));
            let want_label = (k as i64 % 4).to_ne_bytes().to_vec();
            assert_eq!(contents(label), (want_label, vec![]));
        }
        // Closing the reader lets go of everything.
        assert_eq!(hangar_reader_close(reader), HANGAR_OK);
        assert_eq!(views.counts(), (0, 0, 0, 0));
        for c in cols {
            hangar_column_free(c);
        }
        hangar_reader_free(reader);
        hangar_repo_free(r);
    }
}
