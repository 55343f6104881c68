//! Iterating a column's sample keys and a nested sample's subsample keys.

use super::*;

/// An iterator over sample keys (or one sample's subsample keys), taken as a snapshot when
/// it is made. Freed with `hangar_key_iter_free`. `hangar_key_iter_next` changes it: one
/// thread at a time.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct hangar_key_iter {
    keys: std::sync::Mutex<(std::vec::IntoIter<SampleKey>, Option<CString>)>,
    len: usize,
}

impl Handle for hangar_key_iter {
    const KIND: Kind = Kind::KeyIter;
}

fn new_key_iter(keys: Vec<SampleKey>) -> *mut hangar_key_iter {
    let len = keys.len();
    into_handle(hangar_key_iter {
        keys: std::sync::Mutex::new((keys.into_iter(), None)),
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
        let it = handle(iter.cast_const(), "iter")?;
        let mut st = it.keys.lock().unwrap_or_else(|p| p.into_inner());
        let (keys, current) = &mut *st;
        match keys.next() {
            None => {
                *current = None;
                write_out(has_key, false);
            }
            Some(SampleKey::Int(n)) => {
                *current = None;
                write_out(
                    key_out,
                    hangar_key {
                        text: std::ptr::null(),
                        number: n,
                    },
                );
                write_out(has_key, true);
            }
            Some(SampleKey::Str(s)) => {
                let c = CString::new(s).map_err(|_| {
                    FfiError::new(HANGAR_E_CORRUPT, "a stored string key contains a NUL byte")
                })?;
                let text = current.insert(c).as_ptr();
                write_out(key_out, hangar_key { text, number: 0 });
                write_out(has_key, true);
            }
        }
        Ok(())
    })
}

/// Frees a key iterator. NULL is accepted and ignored.
#[no_mangle]
pub extern "C" fn hangar_key_iter_free(iter: *mut hangar_key_iter) {
    guard_void(|| free_handle(iter));
}
