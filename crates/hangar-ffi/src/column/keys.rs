//! Iterating a column's sample keys and a nested sample's subsample keys.

use super::*;

/// An iterator over sample keys (or one sample's subsample keys), taken as a snapshot when
/// it is made. Freed with `hangar_key_iter_free`. `hangar_key_iter_next` changes it: one
/// thread at a time.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct hangar_key_iter {
    /// The keys not handed out yet, and the texts of the string keys handed out by the
    /// last call (they live until the next).
    keys: std::sync::Mutex<(std::vec::IntoIter<SampleKey>, Vec<CString>)>,
    len: usize,
}

impl Handle for hangar_key_iter {
    const KIND: Kind = Kind::KeyIter;
}

fn new_key_iter(keys: Vec<SampleKey>) -> *mut hangar_key_iter {
    let len = keys.len();
    into_handle(hangar_key_iter {
        keys: std::sync::Mutex::new((keys.into_iter(), Vec::new())),
        len,
    })
}

/// A new iterator over the column's sample keys in key order (integers first, then
/// strings). `*out` is freed with `hangar_key_iter_free`.
#[no_mangle]
pub extern "C" fn hangar_column_keys(
    column: *const hangar_column,
    out: *mut *mut hangar_key_iter,
) -> hangar_status {
    guard_out(out, || {
        let keys = handle(column, "column")?.keys()?;
        Ok(new_key_iter(keys))
    })
}

/// A new iterator over the subsample keys of sample `key` of a nested column.
#[no_mangle]
pub extern "C" fn hangar_column_subkeys(
    column: *const hangar_column,
    sample: hangar_key,
    out: *mut *mut hangar_key_iter,
) -> hangar_status {
    guard_out(out, || {
        let c = handle(column, "column")?;
        let k = key(&sample, "key")?;
        let keys = match &c.col {
            Col::Reader { col, .. } => col.subsample_keys(k)?,
            Col::Writer(w) => w.subsample_keys(k)?,
        };
        Ok(new_key_iter(keys))
    })
}

/// The number of keys the iterator was made with.
#[no_mangle]
pub extern "C" fn hangar_key_iter_len(
    iter: *const hangar_key_iter,
    out: *mut usize,
) -> hangar_status {
    guard_out(out, || Ok(handle(iter, "iter")?.len))
}

/// Advances the iterator: `*has_key` says whether a key was produced into `*key`. A string
/// key's `text` lives until the next call or `hangar_key_iter_free`.
#[no_mangle]
pub extern "C" fn hangar_key_iter_next(
    iter: *mut hangar_key_iter,
    key_out: *mut hangar_key,
    has_key: *mut bool,
) -> hangar_status {
    guard(|| {
        check_out(key_out, "key")?;
        check_out(has_key, "has_key")?;
        let mut one = [hangar_key {
            text: std::ptr::null(),
            number: 0,
        }];
        let n = next_keys(handle(iter.cast_const(), "iter")?, &mut one)?;
        if n == 1 {
            write_out(key_out, one[0]);
        }
        write_out(has_key, n == 1);
        Ok(())
    })
}

/// Advances the iterator by up to `cap` keys, written to `keys[0..*n]`; `*n` is 0 at
/// the end. The string keys' `text` live until the next call or `hangar_key_iter_free`.
/// One call for many keys: for hosts where a call costs more than the key (Python).
#[no_mangle]
pub extern "C" fn hangar_key_iter_next_batch(
    iter: *mut hangar_key_iter,
    keys: *mut hangar_key,
    cap: usize,
    n: *mut usize,
) -> hangar_status {
    guard_out(n, || {
        let it = handle(iter.cast_const(), "iter")?;
        if cap == 0 {
            return Ok(0);
        }
        if keys.is_null() {
            return Err(FfiError::new(HANGAR_E_NULL_ARG, "keys is NULL"));
        }
        // SAFETY: the caller passes room for `cap` keys (the documented contract).
        let out = unsafe { std::slice::from_raw_parts_mut(keys, cap) };
        next_keys(it, out)
    })
}

/// Hands out the next keys into `out` (as many as fit); returns how many.
fn next_keys(it: &hangar_key_iter, out: &mut [hangar_key]) -> Result<usize, FfiError> {
    let mut st = it.keys.lock().unwrap_or_else(|p| p.into_inner());
    let (keys, texts) = &mut *st;
    texts.clear();
    let mut n = 0;
    for slot in out.iter_mut() {
        let Some(k) = keys.next() else { break };
        *slot = match k {
            SampleKey::Int(number) => hangar_key {
                text: std::ptr::null(),
                number,
            },
            SampleKey::Str(s) => {
                let c = CString::new(s).map_err(|_| {
                    FfiError::new(HANGAR_E_CORRUPT, "a stored string key contains a NUL byte")
                })?;
                // The CString's heap buffer does not move when the Vec grows.
                let text = c.as_ptr();
                texts.push(c);
                hangar_key { text, number: 0 }
            }
        };
        n += 1;
    }
    Ok(n)
}

/// Frees a key iterator. NULL is accepted and ignored.
#[no_mangle]
pub extern "C" fn hangar_key_iter_free(iter: *mut hangar_key_iter) {
    guard_void(|| free_handle(iter));
}
