//! Reader and writer checkouts: columns, metadata, commit, status, reset, merge.

use std::ffi::c_char;
use std::sync::{Arc, Mutex};

use hangar_core::{
    DType, MergeOutcome, MergeStrategy, NdArraySpec, ReaderCheckout, Status, TensorRef,
    WriterCheckout,
};

use crate::boundary::{
    bytes, check_out, dtype, free_handle, guard, guard_out, guard_void, handle, into_handle,
    invalid, shape, text, write_out, FfiResult, Handle, Kind,
};
use crate::column::hangar_column;
use crate::conflicts::hangar_diff;
use crate::repo::hangar_repo;
use crate::status::*;
use crate::types::{hangar_buf, hangar_strlist, new_strlist, new_text, text_into, text_out};

/// What the zero-copy views handed out need, kept until the reader closes.
pub(crate) type ViewArena = Arc<crate::views::Views>;

/// A reader checkout: an immutable view of one commit. `const hangar_reader *` (and the
/// columns opened from it) may be shared by many threads.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct hangar_reader {
    pub(crate) co: ReaderCheckout,
    pub(crate) views: ViewArena,
}

pub(crate) type Reader = hangar_reader;

impl hangar_reader {
    pub(crate) fn new(co: ReaderCheckout) -> hangar_reader {
        hangar_reader {
            co,
            views: Arc::default(),
        }
    }

    fn release_views(&self) {
        self.views.clear();
    }
}

impl Handle for hangar_reader {
    const KIND: Kind = Kind::Reader;
}

/// The writer checkout: the one handle that changes the staging area. It may be shared by
/// threads; libhangar runs calls on it and its columns one at a time.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct hangar_writer {
    pub(crate) co: WriterCheckout,
}

impl Handle for hangar_writer {
    const KIND: Kind = Kind::Writer;
}

/// Closes a reader checkout: later calls on it or its columns fail with `HANGAR_E_CLOSED`,
/// and every view it handed out becomes invalid. The handle still needs
/// `hangar_reader_free`.
#[no_mangle]
pub extern "C" fn hangar_reader_close(reader: *const hangar_reader) -> hangar_status {
    guard(|| {
        let r = handle(reader, "reader")?;
        r.co.close()?;
        r.release_views();
        Ok(())
    })
}

/// Closes (if open) and frees a reader checkout. NULL is accepted and ignored.
#[no_mangle]
pub extern "C" fn hangar_reader_free(reader: *mut hangar_reader) {
    guard_void(|| {
        if let Ok(r) = handle(reader.cast_const(), "reader") {
            let _ = r.co.close();
            r.release_views();
        }
        free_handle(reader)
    });
}

/// Copies the id of the reader's commit into `buf` (`len` >= `HANGAR_COMMIT_ID_LEN + 1`).
#[no_mangle]
pub extern "C" fn hangar_reader_commit(
    reader: *const hangar_reader,
    buf: *mut c_char,
    len: usize,
) -> hangar_status {
    guard(|| {
        let r = handle(reader, "reader")?;
        if r.co.is_closed() {
            r.co.columns()?; // the checkout's own "closed" error
        }
        text_into(&r.co.commit_hash().to_hex(), buf, len, "buf")
    })
}

/// The reader's column names, sorted. `*out` is a new list (`hangar_strlist_free`).
#[no_mangle]
pub extern "C" fn hangar_reader_columns(
    reader: *const hangar_reader,
    out: *mut *mut hangar_strlist,
) -> hangar_status {
    guard_out(out, || {
        let r = handle(reader, "reader")?;
        Ok(new_strlist(r.co.column_names()?))
    })
}

/// Opens column `name` of the reader. `*out` is a new handle (`hangar_column_free`) that
/// is usable until the reader closes.
#[no_mangle]
pub extern "C" fn hangar_reader_column(
    reader: *const hangar_reader,
    name: *const c_char,
    out: *mut *mut hangar_column,
) -> hangar_status {
    guard_out(out, || {
        let r = handle(reader, "reader")?;
        let col = r.co.column(text(name, "name")?)?;
        Ok(into_handle(hangar_column::reader(col, r.views.clone())))
    })
}

/// The value of metadata key `key` at the reader's commit, as a new text buffer.
/// `HANGAR_E_NOT_FOUND` when the key is not set.
#[no_mangle]
pub extern "C" fn hangar_reader_metadata_get(
    reader: *const hangar_reader,
    key: *const c_char,
    out: *mut *mut hangar_buf,
) -> hangar_status {
    guard_out(out, || {
        let r = handle(reader, "reader")?;
        Ok(new_text(r.co.metadata().get(text(key, "key")?)?))
    })
}

/// The metadata keys at the reader's commit, sorted. `*out` is a new list.
#[no_mangle]
pub extern "C" fn hangar_reader_metadata_keys(
    reader: *const hangar_reader,
    out: *mut *mut hangar_strlist,
) -> hangar_status {
    guard_out(out, || {
        let r = handle(reader, "reader")?;
        Ok(new_strlist(r.co.metadata().keys()?))
    })
}

/// Closes the writer checkout and releases the writer lock. Staged changes stay staged
/// (durably) for the next writer. Later calls on it or its columns fail with
/// `HANGAR_E_CLOSED`. The handle still needs `hangar_writer_free`.
#[no_mangle]
pub extern "C" fn hangar_writer_close(writer: *const hangar_writer) -> hangar_status {
    guard(|| {
        handle(writer, "writer")?.co.close()?;
        Ok(())
    })
}

/// Closes (if open) and frees the writer checkout. NULL is accepted and ignored.
#[no_mangle]
pub extern "C" fn hangar_writer_free(writer: *mut hangar_writer) {
    guard_void(|| {
        if let Ok(w) = handle(writer.cast_const(), "writer") {
            let _ = w.co.close();
        }
        free_handle(writer)
    });
}

/// Copies the writer's branch name into `buf` (`len` bytes, NUL-terminated).
#[no_mangle]
pub extern "C" fn hangar_writer_branch(
    writer: *const hangar_writer,
    buf: *mut c_char,
    len: usize,
) -> hangar_status {
    guard(|| {
        let w = handle(writer, "writer")?;
        text_into(&w.co.branch_name()?, buf, len, "buf")
    })
}

/// Copies the id of the commit the staging area is based on into `buf` (`len` >=
/// `HANGAR_COMMIT_ID_LEN + 1`); an empty string before the first commit.
#[no_mangle]
pub extern "C" fn hangar_writer_head(
    writer: *const hangar_writer,
    buf: *mut c_char,
    len: usize,
) -> hangar_status {
    guard(|| {
        let w = handle(writer, "writer")?;
        let head = w.co.commit_hash()?.map(|c| c.to_hex()).unwrap_or_default();
        text_into(&head, buf, len, "buf")
    })
}

/// The staging area's column names, sorted. `*out` is a new list.
#[no_mangle]
pub extern "C" fn hangar_writer_columns(
    writer: *const hangar_writer,
    out: *mut *mut hangar_strlist,
) -> hangar_status {
    guard_out(out, || {
        let w = handle(writer, "writer")?;
        Ok(new_strlist(w.co.column_names()?))
    })
}

/// Opens column `name` of the staging area for reading and writing. `*out` is a new
/// handle (`hangar_column_free`), usable until the writer closes.
#[no_mangle]
pub extern "C" fn hangar_writer_column(
    writer: *const hangar_writer,
    name: *const c_char,
    out: *mut *mut hangar_column,
) -> hangar_status {
    guard_out(out, || {
        let w = handle(writer, "writer")?;
        let col = w.co.column(text(name, "name")?)?;
        Ok(into_handle(hangar_column::writer(col)))
    })
}

/// Creates numeric column `name` described by `spec` (which the caller still owns).
/// `HANGAR_E_ALREADY_EXISTS` if the column exists. `*out` is a new column handle.
#[no_mangle]
pub extern "C" fn hangar_writer_add_ndarray_column(
    writer: *const hangar_writer,
    name: *const c_char,
    spec: *const hangar_ndarray_spec,
    out: *mut *mut hangar_column,
) -> hangar_status {
    guard_out(out, || {
        let w = handle(writer, "writer")?;
        let s = handle(spec, "spec")?
            .spec
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .build();
        let col = w.co.add_ndarray_column(text(name, "name")?, s)?;
        Ok(into_handle(hangar_column::writer(col)))
    })
}

/// Creates column `name` of UTF-8 strings (`HANGAR_KIND_STR`) or byte strings
/// (`HANGAR_KIND_BYTES`), nested when `nested` is true. `*out` is a new column handle.
#[no_mangle]
pub extern "C" fn hangar_writer_add_text_column(
    writer: *const hangar_writer,
    name: *const c_char,
    kind: i32,
    nested: bool,
    out: *mut *mut hangar_column,
) -> hangar_status {
    guard_out(out, || add_text_column(writer, name, kind, nested, None))
}

/// `hangar_writer_add_text_column` with the values stored compressed: `codec` as for
/// `hangar_ndarray_spec_compression` (`"zstd"`, `"zstd:<level>"`, `"lz4"`, `"none"`).
#[no_mangle]
pub extern "C" fn hangar_writer_add_text_column_compressed(
    writer: *const hangar_writer,
    name: *const c_char,
    kind: i32,
    nested: bool,
    codec: *const c_char,
    out: *mut *mut hangar_column,
) -> hangar_status {
    guard_out(out, || {
        handle(writer, "writer")?;
        let c = spec::parse_codec(text(codec, "codec")?)?;
        add_text_column(writer, name, kind, nested, Some(c))
    })
}

fn add_text_column(
    writer: *const hangar_writer,
    name: *const c_char,
    kind: i32,
    nested: bool,
    compression: Option<hangar_core::Compression>,
) -> FfiResult<*mut hangar_column> {
    let w = handle(writer, "writer")?;
    let name = text(name, "name")?;
    let schema = match kind {
        HANGAR_KIND_STR => hangar_core::ColumnSchema::str(),
        HANGAR_KIND_BYTES => hangar_core::ColumnSchema::bytes(),
        _ => {
            return Err(invalid(format!(
                "kind {kind} is not a text kind; use HANGAR_KIND_STR (2) or HANGAR_KIND_BYTES (3)"
            )))
        }
    };
    let schema = if nested { schema.nested() } else { schema };
    let col = w.co.add_column(
        name,
        schema.with_compression(compression.unwrap_or_default()),
    )?;
    Ok(into_handle(hangar_column::writer(col)))
}

use crate::types::{HANGAR_KIND_BYTES, HANGAR_KIND_STR};

/// Deletes column `name` and its samples from the staging area.
#[no_mangle]
pub extern "C" fn hangar_writer_delete_column(
    writer: *const hangar_writer,
    name: *const c_char,
) -> hangar_status {
    guard(|| {
        handle(writer, "writer")?
            .co
            .delete_column(text(name, "name")?)?;
        Ok(())
    })
}

/// Sets metadata key `key` to `value` (both UTF-8 text) in the staging area.
#[no_mangle]
pub extern "C" fn hangar_writer_metadata_set(
    writer: *const hangar_writer,
    key: *const c_char,
    value: *const c_char,
) -> hangar_status {
    guard(|| {
        let w = handle(writer, "writer")?;
        w.co.metadata()
            .set(text(key, "key")?, text(value, "value")?)?;
        Ok(())
    })
}

/// The staged value of metadata key `key` as a new text buffer; `HANGAR_E_NOT_FOUND` when
/// not set.
#[no_mangle]
pub extern "C" fn hangar_writer_metadata_get(
    writer: *const hangar_writer,
    key: *const c_char,
    out: *mut *mut hangar_buf,
) -> hangar_status {
    guard_out(out, || {
        let w = handle(writer, "writer")?;
        Ok(new_text(w.co.metadata().get(text(key, "key")?)?))
    })
}

/// Deletes metadata key `key` from the staging area; `HANGAR_E_NOT_FOUND` when not set.
#[no_mangle]
pub extern "C" fn hangar_writer_metadata_delete(
    writer: *const hangar_writer,
    key: *const c_char,
) -> hangar_status {
    guard(|| {
        let w = handle(writer, "writer")?;
        w.co.metadata().delete(text(key, "key")?)?;
        Ok(())
    })
}

/// The staged metadata keys, sorted. `*out` is a new list.
#[no_mangle]
pub extern "C" fn hangar_writer_metadata_keys(
    writer: *const hangar_writer,
    out: *mut *mut hangar_strlist,
) -> hangar_status {
    guard_out(out, || {
        let w = handle(writer, "writer")?;
        Ok(new_strlist(w.co.metadata().keys()?))
    })
}

/// Commits the staging area with `message` and copies the new commit id into `buf` (of
/// `len` bytes, at least `HANGAR_COMMIT_ID_LEN + 1`; `buf` may be NULL when the id is not
/// wanted).
/// `HANGAR_E_NOTHING_TO_COMMIT` when nothing is staged.
#[no_mangle]
pub extern "C" fn hangar_writer_commit(
    writer: *const hangar_writer,
    message: *const c_char,
    buf: *mut c_char,
    len: usize,
) -> hangar_status {
    guard(|| {
        let w = handle(writer, "writer")?;
        let message = text(message, "message")?;
        check_id_buf(buf, len, "buf")?;
        let id = w.co.commit(message)?;
        if !buf.is_null() {
            text_into(&id.to_hex(), buf, len, "buf")?;
        }
        Ok(())
    })
}

/// Starts a bulk session on the writer, for many puts in a row: until
/// `hangar_writer_bulk_end`, `hangar_column_put` (and the other puts) only check and queue
/// each sample, and the queue is hashed in parallel and stored in large batches — the
/// speed of `hangar_column_put_batch` for samples that arrive one by one. Puts in the
/// session are durable once `hangar_writer_bulk_end` (or `hangar_writer_commit`)
/// returns; a crash before that loses them, never anything stored earlier. Reads in
/// the session see every put. `HANGAR_E_INVALID_ARGUMENT` if a session is already open.
#[no_mangle]
pub extern "C" fn hangar_writer_bulk_begin(writer: *const hangar_writer) -> hangar_status {
    guard(|| {
        handle(writer, "writer")?.co.begin_bulk()?;
        Ok(())
    })
}

/// Ends the writer's bulk session: stores every queued put durably before returning.
/// `HANGAR_E_INVALID_ARGUMENT` if no session is open. A storage error here closes the writer
/// (`HANGAR_E_CLOSED` afterwards): a new writer checkout holds every put acknowledged
/// before the session began.
#[no_mangle]
pub extern "C" fn hangar_writer_bulk_end(writer: *const hangar_writer) -> hangar_status {
    guard(|| {
        handle(writer, "writer")?.co.end_bulk()?;
        Ok(())
    })
}

use crate::types::HANGAR_COMMIT_ID_LEN;

/// Whether the staging area differs from its base commit (`*dirty`), and, when `text` is
/// not NULL, a description of the staged changes as a new buffer.
#[no_mangle]
pub extern "C" fn hangar_writer_status(
    writer: *const hangar_writer,
    dirty: *mut bool,
    text_out_ptr: *mut *mut hangar_buf,
) -> hangar_status {
    guard(|| {
        check_out(dirty, "dirty")?;
        let w = handle(writer, "writer")?;
        let st = w.co.status()?;
        write_out(dirty, st.is_dirty());
        if !text_out_ptr.is_null() {
            text_out(text_out_ptr, describe_status(&st));
        }
        Ok(())
    })
}

fn describe_status(st: &Status) -> String {
    let Status::Dirty(ch) = st else {
        return "clean: nothing staged\n".to_string();
    };
    let mut s = String::from("dirty:\n");
    for c in &ch.columns_added {
        s += &format!("  column added: {c}\n");
    }
    for c in &ch.columns_deleted {
        s += &format!("  column deleted: {c}\n");
    }
    for c in &ch.columns_replaced {
        s += &format!("  column replaced: {c}\n");
    }
    for (c, set, del) in &ch.samples {
        s += &format!("  column {c}: {set} samples added or changed, {del} deleted\n");
    }
    if ch.metadata_changes > 0 {
        s += &format!("  metadata: {} keys changed\n", ch.metadata_changes);
    }
    s
}

/// Throws away every staged change, returning to the base commit.
/// `HANGAR_E_NOTHING_TO_COMMIT` when nothing is staged.
#[no_mangle]
pub extern "C" fn hangar_writer_reset(writer: *const hangar_writer) -> hangar_status {
    guard(|| {
        handle(writer, "writer")?.co.reset_staging_area()?;
        Ok(())
    })
}

/// The diff from the base commit to the staging area (all "added" before the first
/// commit). `*out` is a new handle (`hangar_diff_free`).
#[no_mangle]
pub extern "C" fn hangar_writer_diff_staged(
    writer: *const hangar_writer,
    out: *mut *mut hangar_diff,
) -> hangar_status {
    guard_out(out, || {
        let w = handle(writer, "writer")?;
        Ok(into_handle(hangar_diff::new(w.co.diff_staged()?)))
    })
}

mod merge;
mod spec;

pub use merge::*;
pub use spec::*;
