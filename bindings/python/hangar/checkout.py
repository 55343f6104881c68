"""Checkouts: a read-only view of one commit, or the write-enabled checkout of a branch's
staging area (one per repository at a time, across processes)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import threading
from ctypes import byref, c_bool, c_size_t
from typing import Any, Dict, Iterator, List, Literal, Optional, Sequence, Tuple, Union, cast, overload

import numpy as np

from . import _ffi
from ._ffi import check, cstr, lib
from ._ffi import KeyArg
from .diff import ReaderUserDiff, WriterUserDiff
from .columns import Column, DictReads, _Handle, dtype_code


def _check_column_args(name: Any, **flags: Any) -> None:
    """The original's argument checks: a str name and bool flags (ValueError)."""
    if not isinstance(name, str):
        raise ValueError(f"a column name is a str, not {type(name).__name__} ({name!r})")
    for flag, value in flags.items():
        if not isinstance(value, bool):
            raise ValueError(f"{flag} must be True or False, not {value!r}")


def _names(co: "_Checkout", writer_fn: Any, reader_fn: Any) -> List[str]:
    """The names a checkout lists (columns, metadata keys), by its kind's function."""
    out = ctypes.c_void_p()
    check((writer_fn if co._writable else reader_fn)(co._ptr(), byref(out)))
    return _ffi.take_strlist(out)


class Metadata(DictReads):
    """The checkout's metadata: string keys to string values, read like a dict; in a
    writer checkout also set (`md[k] = v`, `md.add(key=..., value=...)`) and deleted."""

    def __init__(self, checkout: "_Checkout"):
        self._co = checkout

    def keys(self) -> List[str]:
        return _names(self._co, lib.hangar_writer_metadata_keys, lib.hangar_reader_metadata_keys)

    def __getitem__(self, key: str) -> str:
        out = ctypes.c_void_p()
        fn = lib.hangar_writer_metadata_get if self._co._writable else lib.hangar_reader_metadata_get
        st = fn(self._co._ptr(), cstr(key), byref(out))
        if st == _ffi.E_NOT_FOUND:
            raise KeyError(key)
        check(st)
        return _ffi.take_buf(out).decode("utf-8")

    def __setitem__(self, key: str, value: str) -> None:
        self._co._require_writer("set metadata")
        if not isinstance(value, str):
            raise ValueError(f"metadata values are str, not {type(value).__name__}")
        check(lib.hangar_writer_metadata_set(self._co._ptr(), cstr(key), cstr(value)))

    def add(self, key: str, value: str) -> str:
        """The original's early `metadata.add(key=..., value=...)`; returns the key."""
        self[key] = value
        return key

    def __delitem__(self, key: str) -> None:
        self._co._require_writer("delete metadata")
        st = lib.hangar_writer_metadata_delete(self._co._ptr(), cstr(key))
        if st == _ffi.E_NOT_FOUND:
            raise KeyError(key)
        check(st)

    def remove(self, key: str) -> str:
        del self[key]
        return key

    def __repr__(self) -> str:
        return (
            "Hangar Metadata\n"
            f"    Writeable: {self._co._writable}\n"
            f"    Number of Keys: {len(self)}\n"
        )


class Columns(DictReads):
    """The checkout's columns by name (`co.columns['images']`); the original's early
    name for it is `co.datasets`, whose `init_dataset` creates an ndarray column."""

    def __init__(self, checkout: "_Checkout"):
        self._co = checkout

    @property
    def iswriteable(self) -> bool:
        self._co._check_open()
        return self._co._writable

    def keys(self) -> List[str]:
        return _names(self._co, lib.hangar_writer_columns, lib.hangar_reader_columns)

    def __getitem__(self, name: str) -> Column:
        return self._co._column(name)

    def __enter__(self) -> "Columns":
        # As the original: a block of work on every column (a bulk session for a writer).
        self._co.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._co.__exit__(*exc)

    @property
    def contains_remote_references(self) -> Dict[str, bool]:
        """Per column (as the original), True if some sample's value is on a remote and
        not fetched here yet (a partial clone: `repo.remote.fetch_data` brings them).
        One C call when every value is here."""
        names = self.keys()
        if self._co._not_fetched(None) == 0:
            return {name: False for name in names}
        return {name: self[name].contains_remote_references for name in names}

    @property
    def remote_sample_keys(self) -> dict:
        """Per column, the keys whose values are on a remote and not fetched here."""
        return {name: self[name].remote_reference_keys for name in self.keys()}

    def __delitem__(self, name: str) -> None:
        self.delete(name)

    def get(self, name: str, default: Any = None) -> Any:
        """The column `name`, or `default` when there is none."""
        return super().get(name, default)

    def delete(self, column: str) -> str:
        """Deletes column `column` and its samples from the staging area (a commit makes
        it final); returns its name. KeyError if there is none."""
        name = column
        self._co._require_writer("delete a column")
        if getattr(self._co, "_bulk_depth", 0):
            raise PermissionError(
                f"cannot delete column {name!r} inside a `with` block of the checkout or a "
                "column: leave the block first"
            )
        st = lib.hangar_writer_delete_column(self._co._ptr(), cstr(name))
        if st == _ffi.E_NOT_FOUND:
            raise KeyError(name)
        check(st)
        col = self._co._columns.pop(name, None)
        if col is not None:
            col._invalidate(f"column {name!r} was deleted")
        return name

    # The original's early API.
    def init_dataset(
        self,
        name: str,
        shape: Optional[Sequence[int]] = None,
        dtype: Any = None,
        prototype: Optional[np.ndarray] = None,
        *,
        variable_shape: bool = False,
        contains_subsamples: bool = False,
        **kwargs: Any,
    ) -> Column:
        """Creates an ndarray column (the original's early `init_dataset`)."""
        self._co._require_writer("create a column")
        return cast("WriterCheckout", self._co).add_ndarray_column(
            name,
            shape=shape,
            dtype=dtype,
            prototype=prototype,
            variable_shape=variable_shape,
            contains_subsamples=contains_subsamples,
        )

    def __repr__(self) -> str:
        text = "Hangar Columns\n"
        text += f"    Writeable         : {self.iswriteable}\n"
        text += f"    Number of Columns : {len(self)}\n"
        text += "    Column Names / Partial Remote References:\n      - "
        text += "\n      - ".join(f"{k} / False" for k in self.keys())
        return text + "\n"


class _Checkout:
    _writable = False
    # What a closed checkout answers: `close()` empties the instance's `__dict__` (as the
    # original's did), so every use finds these and refuses with PermissionError.
    _handle: Optional[_Handle] = None

    def __init__(self, repo, handle: _Handle):
        self._repo = repo
        self._handle: Optional[_Handle] = handle
        self._columns: dict = {}

    def _not_fetched(self, column: Optional[str]) -> int:
        """Samples of this checkout's commit (a writer's: its base) whose values are
        not stored here; of `column` only if given."""
        self._check_open()
        head = self.commit_hash
        if not head:
            return 0
        n = ctypes.c_uint64()
        check(lib.hangar_repo_not_fetched(self._repo._ptr(), cstr(head), cstr(column), ctypes.byref(n)))
        return n.value

    @property
    def diff(self) -> ReaderUserDiff:
        """Diffs against branches and commits (and, in the writer checkout, the staging
        area): `co.diff.branch(name)`, `co.diff.commit(id)`, `co.diff.staged()`,
        `co.diff.status()`."""
        self._check_open()
        return WriterUserDiff(self) if self._writable else ReaderUserDiff(self)

    def _check_open(self) -> None:
        if self._handle is None:
            raise PermissionError(
                "Unable to operate on past checkout objects which have been closed. No "
                "operation occurred. Please use a new checkout."
            )

    @property
    def commit_hash(self) -> str:
        raise NotImplementedError  # ReaderCheckout's and WriterCheckout's

    def _ptr(self):
        self._check_open()
        return self._handle.ptr

    def _require_writer(self, what: str) -> None:
        self._check_open()
        if not self._writable:
            raise _ffi.ReadOnlyError(f"cannot {what} in a read-only checkout; use repo.checkout(write=True)")

    def _column(self, name: str) -> Column:
        self._check_open()
        cached = self._columns.get(name)
        if cached is not None:
            return cached
        out = ctypes.c_void_p()
        fn = lib.hangar_writer_column if self._writable else lib.hangar_reader_column
        st = fn(self._ptr(), cstr(name), byref(out))
        if st == _ffi.E_NOT_FOUND:
            raise KeyError(_ffi.last_message() or name)
        check(st)
        col = Column(self, _Handle(out, lib.hangar_column_free), name)
        self._columns[name] = col
        return col

    @property
    def columns(self) -> Columns:
        """The columns of this checkout, by name."""
        self._check_open()
        return Columns(self)

    datasets = columns

    @property
    def metadata(self) -> Metadata:
        self._check_open()
        return Metadata(self)

    def __getitem__(
        self, index: Union[str, Tuple[str, KeyArg], Tuple[str, KeyArg, KeyArg], Sequence[Tuple[str, KeyArg]]]
    ) -> Any:
        """`co['images']` is the column; `co['images', 0]` its sample 0;
        `co[('images', 0), ('labels', 0)]` a list of those samples (`co['nested', s, sub]`
        a subsample)."""
        if isinstance(index, (tuple, list)):
            if index and all(isinstance(i, (tuple, list)) for i in index):
                return [self[tuple(i)] for i in index]  # type: ignore[index]
            if len(index) < 2:
                raise ValueError(f"index with (column, sample key), not {index!r}")
            name, key = index[0], index[1] if len(index) == 2 else tuple(index[1:])
            return self._column(name)[key]
        return self._column(index)  # type: ignore[arg-type]  # not a str: TypeError there

    def get(self, keys: Any, *, except_missing: bool = False) -> Any:
        """`co[keys]` (a column, a (column, key) pair or a list of pairs) with None for
        whatever is missing, or KeyError with `except_missing=True` (as the original)."""
        if isinstance(keys, (tuple, list)) and keys and all(isinstance(i, (tuple, list)) for i in keys):
            return [self.get(tuple(i), except_missing=except_missing) for i in keys]
        try:
            return self[keys]
        except KeyError:
            if except_missing:
                raise
            return None

    def keys(self) -> List[str]:
        """The column names."""
        return self.columns.keys()

    def values(self) -> Iterator[Column]:
        return self.columns.values()

    def items(self) -> Iterator[Tuple[str, Column]]:
        return self.columns.items()

    @overload
    def log(
        self,
        branch: Optional[str] = None,
        commit: Optional[str] = None,
        *,
        return_contents: Literal[True],
        show_time: bool = False,
        show_user: bool = False,
    ) -> Dict[str, Any]: ...

    @overload
    def log(
        self,
        branch: Optional[str] = None,
        commit: Optional[str] = None,
        *,
        return_contents: bool = False,
        show_time: bool = False,
        show_user: bool = False,
    ) -> Optional[Dict[str, Any]]: ...

    def log(
        self,
        branch: Optional[str] = None,
        commit: Optional[str] = None,
        *,
        return_contents: bool = False,
        show_time: bool = False,
        show_user: bool = False,
    ) -> Optional[Dict[str, Any]]:
        """The history from this checkout's commit (or `branch` / `commit`), as
        `Repository.log` prints or returns it."""
        self._check_open()
        start = commit or branch or self.commit_hash or None
        return self._repo.log(commit=start, return_contents=return_contents, show_time=show_time, show_user=show_user)

    def __contains__(self, name: str) -> bool:
        return name in self.columns

    def __len__(self) -> int:
        return len(self.columns)

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    # As in the original, `with co:` marks a block of work (a bulk session for a writer);
    # it does not close the checkout.
    def __enter__(self):
        self._check_open()
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def _drop(self) -> None:
        # Columns first, then the checkout (a zero-copy array may keep its C handle
        # alive longer). Then everything else: a closed checkout keeps nothing, as the
        # original's (its `__dict__` is empty; the class answers for `_handle`).
        self._columns.clear()
        self._handle = None
        self.__dict__.clear()


class ReaderCheckout(_Checkout):
    """A read-only checkout of one commit."""

    _writable = False

    @property
    def commit_hash(self) -> str:
        """The commit this checkout reads."""
        return _ffi.fixed_text(lib.hangar_reader_commit, self._ptr(), size=80)

    def close(self) -> None:
        """Closes the checkout: later use raises PermissionError. Arrays read from it
        stay valid (they keep what they point into alive)."""
        self._check_open()
        self._drop()

    def __repr__(self) -> str:
        self._check_open()
        return (
            "Hangar ReaderCheckout\n"
            "    Writer       : False\n"
            f"    Commit Hash  : {self.commit_hash}\n"
            f"    Num Columns  : {len(self)}\n"
        )


def _store_buffers(batches: list) -> None:
    """Stores bulk-session buffers (`Column._take_buffer`'s), on the caller's thread or
    the checkout's background one. Every batch is tried; the first failure is raised."""
    failed: Optional[BaseException] = None
    for col, n, keys, buf in batches:
        try:
            col._store_buffer(n, keys, buf)
        except Exception as e:
            failed = failed or e
    if failed is not None:
        raise failed


class WriterCheckout(_Checkout):
    """The write-enabled checkout of a branch's staging area. It holds the repository's
    writer lock until closed."""

    _writable = True
    # A closed writer's (see `_Checkout._handle`): no bulk session, nothing buffered.
    _bulk_depth = 0
    _pending: Any = ()  # the instance's own list while open
    _inflight: Optional[concurrent.futures.Future] = None
    _storer: Optional[concurrent.futures.ThreadPoolExecutor] = None

    def __init__(self, repo, handle: _Handle):
        super().__init__(repo, handle)
        self._bulk_depth = 0
        self._pending: list = []
        # Guards the columns' bulk buffers (reentrant: a full buffer flushes them all).
        self._buffer_lock = threading.RLock()
        # Full buffers being stored on the background thread (a Future), and that thread.
        self._inflight = None
        self._storer = None

    def _ptr(self):
        if self._pending or self._inflight is not None:
            # Every use of the C handle (the checkout's or a column's: Column._ptr comes
            # here) sees what the bulk session buffered first.
            self._flush_pending()
        return super()._ptr()

    def _flush_pending(self, background: bool = False) -> None:
        """Hands every column's bulk-session buffer to the C ABI (see
        `Column._make_fast_put`), after the buffers stored in the background are.

        `background` (a buffer filled up): the buffers are stored on the checkout's own
        thread while the caller goes on setting samples into the columns' spare buffers
        (ctypes releases the GIL for the C call, so hashing and writing a batch overlaps
        the Python work of the next; the two take about as long). A failure of a batch
        stored in the background is raised by the next call that waits for it.

        Otherwise every buffer is stored (or fails) before this returns, and the first
        failure is raised: a buffer that fails does not keep the others from being
        stored."""
        with self._buffer_lock:
            failed: Optional[BaseException] = None
            inflight = self._inflight
            if inflight is not None:
                try:
                    inflight.result()
                except Exception as e:
                    failed = e
                # Not before: interrupted while waiting (KeyboardInterrupt), the store
                # stays in flight and the next use of the checkout waits for it again.
                self._inflight = None
            pending = self._pending
            batches = [col._take_buffer(spare=background) for col in pending]
            if pending:
                pending.clear()
            if background:
                if self._storer is None:
                    self._storer = concurrent.futures.ThreadPoolExecutor(1, "hangar-bulk")
                self._inflight = self._storer.submit(_store_buffers, batches)
            else:
                try:
                    _store_buffers(batches)
                except Exception as e:
                    failed = failed or e
            if failed is not None:
                raise failed

    def _drop(self) -> None:
        if self._storer is not None:
            self._storer.shutdown(wait=True)
        for col in self._columns.values():
            col._drop_buffer()
        super()._drop()  # empties `_pending` with the rest

    @property
    def branch_name(self) -> str:
        return _ffi.fixed_text(lib.hangar_writer_branch, self._ptr())

    @property
    def commit_hash(self) -> str:
        """The commit the staging area is based on ('' before the first commit)."""
        buf = _ffi.string_buffer(80)
        st = lib.hangar_writer_head(self._ptr(), buf, 80)
        if st == _ffi.E_NOT_FOUND:
            return ""
        check(st)
        return buf.value.decode()

    def add_ndarray_column(
        self,
        name: str,
        shape: Optional[Union[int, Sequence[int]]] = None,
        dtype: Any = None,
        prototype: Optional[np.ndarray] = None,
        variable_shape: bool = False,
        contains_subsamples: bool = False,
        *,
        backend: Optional[str] = None,
        backend_options: Optional[dict] = None,
    ) -> Column:
        """Creates a column of numeric arrays, from a `prototype` array or a `shape`
        and `dtype`; with `variable_shape`, samples may be smaller than `shape`.
        `backend_options` may ask for compression (see `compression_of`)."""
        self._check_open()
        self._no_block()
        _check_column_args(name, variable_shape=variable_shape, contains_subsamples=contains_subsamples)
        codec = compression_of(backend_options)
        if prototype is not None:
            prototype = np.asarray(prototype)
            shape, dtype = prototype.shape, prototype.dtype
        if shape is None or dtype is None:
            raise ValueError("give a prototype array, or both shape and dtype")
        if isinstance(shape, (int, np.integer)):
            shape = (int(shape),)
        shape = tuple(int(d) for d in shape)
        dims = _ffi.array_type(c_size_t, max(len(shape), 1))(*shape)
        spec = ctypes.c_void_p()
        check(lib.hangar_ndarray_spec_new(dtype_code(dtype), dims, len(shape), byref(spec)))
        try:
            check(lib.hangar_ndarray_spec_variable_shape(spec, bool(variable_shape)))
            check(lib.hangar_ndarray_spec_contains_subsamples(spec, bool(contains_subsamples)))
            check(lib.hangar_ndarray_spec_compression(spec, cstr(codec)))
            out = ctypes.c_void_p()
            st = lib.hangar_writer_add_ndarray_column(self._ptr(), cstr(name), spec, byref(out))
            if st == _ffi.E_ALREADY_EXISTS:
                raise LookupError(_ffi.last_message())
            check(st)
        finally:
            lib.hangar_ndarray_spec_free(spec)
        lib.hangar_column_free(out)
        return self._column(name)

    def _no_block(self) -> None:
        if self._bulk_depth:
            raise PermissionError(
                "cannot create a column inside a `with` block of the checkout or a column: "
                "leave the block first"
            )

    def _add_text_column(self, name: str, kind: int, contains_subsamples: bool, backend_options: Optional[dict]) -> Column:
        self._check_open()
        self._no_block()
        _check_column_args(name, contains_subsamples=contains_subsamples)
        codec = compression_of(backend_options)
        out = ctypes.c_void_p()
        st = lib.hangar_writer_add_text_column_compressed(
            self._ptr(), cstr(name), kind, bool(contains_subsamples), cstr(codec), byref(out)
        )
        if st == _ffi.E_ALREADY_EXISTS:
            raise LookupError(_ffi.last_message())
        check(st)
        lib.hangar_column_free(out)
        return self._column(name)

    def add_str_column(self, name: str, contains_subsamples: bool = False, *, backend: Optional[str] = None, backend_options: Optional[dict] = None) -> Column:
        """Creates a column of str samples (`backend_options`: see `compression_of`)."""
        return self._add_text_column(name, _ffi.KIND_STR, contains_subsamples, backend_options)

    def add_bytes_column(self, name: str, contains_subsamples: bool = False, *, backend: Optional[str] = None, backend_options: Optional[dict] = None) -> Column:
        """Creates a column of bytes samples (`backend_options`: see `compression_of`)."""
        return self._add_text_column(name, _ffi.KIND_BYTES, contains_subsamples, backend_options)

    def __setitem__(self, index: Tuple[str, KeyArg], value: Any) -> None:
        """`co['images', 0] = array`."""
        if not isinstance(index, tuple):
            raise ValueError("set a sample with co[column, key] = value")
        name, key = index
        self._column(name)[key] = value

    def __delitem__(self, index: Tuple[str, KeyArg]) -> None:
        name, key = index
        del self._column(name)[key]

    # Bulk sessions: the original's context-manager form (`with co:` / `with col:`).
    def _bulk_enter(self) -> None:
        self._check_open()
        if self._bulk_depth == 0:
            check(lib.hangar_writer_bulk_begin(self._ptr()))
        self._bulk_depth += 1

    def _bulk_exit(self) -> None:
        if self._handle is None:
            return  # closed inside the block: the session ended with it
        self._bulk_depth -= 1
        if self._bulk_depth == 0:
            try:
                self._flush_pending()
            except Exception as e:
                # The C session ends whatever the flush did; the flush's error (which
                # names the samples not stored) is the one raised.
                if lib.hangar_writer_bulk_end(self._handle.ptr) and e.args and isinstance(e.args[0], str):
                    e.args = (
                        f"{e.args[0]}; ending the bulk session then failed too: {_ffi.last_message()}",
                    ) + e.args[1:]
                raise
            check(lib.hangar_writer_bulk_end(self._handle.ptr))

    @contextlib.contextmanager
    def _bulk_or_nothing(self):
        self._bulk_enter()
        try:
            yield
        finally:
            self._bulk_exit()

    def __enter__(self) -> "WriterCheckout":
        self._bulk_enter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._bulk_exit()

    def commit(self, commit_message: str) -> str:
        """Commits the staging area; returns the new commit's id."""
        buf = _ffi.string_buffer(80)
        st = lib.hangar_writer_commit(self._ptr(), cstr(commit_message), buf, 80)
        if st == _ffi.E_NOTHING_TO_COMMIT:
            raise RuntimeError(_ffi.last_message())
        check(st)
        return buf.value.decode()

    def reset_staging_area(self, *, force: bool = False) -> str:
        """Discards every staged change; returns the commit the staging area is on.
        RuntimeError if nothing is staged, unless `force` (as the original)."""
        st = lib.hangar_writer_reset(self._ptr())
        if not (force and st == _ffi.E_NOTHING_TO_COMMIT):
            check(st)
        # As the original: column objects from before the reset are no longer usable.
        for col in self._columns.values():
            col._invalidate("the staging area was reset; get the column again from co.columns")
        self._columns.clear()
        return self.commit_hash

    def diff_status(self) -> str:
        """'CLEAN' or 'DIRTY'."""
        dirty = c_bool()
        text = ctypes.c_void_p()
        check(lib.hangar_writer_status(self._ptr(), byref(dirty), byref(text)))
        _ffi.take_buf(text)
        return "DIRTY" if dirty.value else "CLEAN"

    def merge(self, message: str, dev_branch: str) -> str:
        """Merges branch `dev_branch` into this checkout's branch; returns the new head."""
        kind = ctypes.c_int32()
        buf = _ffi.string_buffer(80)
        st = lib.hangar_writer_merge(self._ptr(), cstr(message), cstr(dev_branch), byref(kind), buf, 80)
        if st == _ffi.E_MERGE_CONFLICT:
            raise _ffi.MergeConflictError(_ffi.last_message())
        if st == _ffi.E_NOT_FOUND:
            raise ValueError(_ffi.last_message())  # a branch that does not exist
        check(st)
        return buf.value.decode()

    def close(self) -> None:
        """Closes the checkout (anything staged stays staged) and releases the lock."""
        self._check_open()
        if self._bulk_depth:
            self._bulk_depth = 0
            lib.hangar_writer_bulk_end(self._ptr())
        st = lib.hangar_writer_close(self._ptr())
        self._drop()
        check(st)

    def __repr__(self) -> str:
        self._check_open()
        return (
            "Hangar WriterCheckout\n"
            "    Writer       : True\n"
            f"    Base Branch  : {self.branch_name}\n"
            f"    Num Columns  : {len(self)}\n"
        )


#: The original's compression libraries libhangar has no codec of its own for: zstd stands
#: in (every value is still stored exactly; only the bytes on disk differ).
_ZSTD_FOR = {"gzip", "zlib", "blosc:zlib", "lzf", "blosc:blosclz", "blosc:snappy", "blosc"}


def compression_of(backend_options: Optional[dict]) -> str:
    """The compression a column's `backend_options` ask for, as the C ABI names it.

    `{'compression': 'zstd' | 'zstd:<1-22>' | 'lz4' | 'none'}` is libhangar's own form. The
    original's `{'complib': ..., 'complevel': ...}` is read too: `blosc:zstd` / `zstd` at
    `complevel` (default 1, as `zstd` alone), `blosc:lz4` / `blosc:lz4hc` / `lz4`, and zstd for the codecs
    libhangar lacks (gzip, zlib, lzf, blosclz, snappy); `complevel` 0 means none. Nothing
    given means none (uncompressed Arrow IPC segments, read with no decoding)."""
    if not backend_options:
        return "none"
    if not isinstance(backend_options, dict):
        raise TypeError(f"backend_options must be a dict, not {type(backend_options).__name__}")
    opts = dict(backend_options)
    if "compression" in opts:
        c = opts.pop("compression")
        if opts:
            raise ValueError(f"backend_options: unknown keys {sorted(opts)} beside 'compression'")
        if not isinstance(c, str):
            raise TypeError("backend_options['compression'] is a str such as 'zstd', 'zstd:9' or 'lz4'")
        return c
    complib = str(opts.pop("complib", "")).lower()
    level = opts.pop("complevel", None)
    opts.pop("shuffle", None)  # a blosc filter; zstd pages need none
    if opts:
        raise ValueError(
            f"backend_options: unknown keys {sorted(opts)}; give {{'compression': 'zstd'}} "
            "or the original's {'complib': ..., 'complevel': ...}"
        )
    if level is not None and (not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 22):
        raise ValueError(f"backend_options: complevel {level!r} is not a level from 0 to 22")
    if level == 0:
        return "none"
    if complib in ("", "blosc:zstd", "zstd") or complib in _ZSTD_FOR:
        return f"zstd:{level}" if level else "zstd"
    if complib in ("blosc:lz4", "blosc:lz4hc", "lz4"):
        return "lz4"
    raise ValueError(
        f"backend_options: unknown complib {complib!r}; use 'blosc:zstd', 'zstd', 'blosc:lz4', 'lz4', "
        "'gzip', 'zlib' or 'lzf', or {'compression': 'zstd:<level>'}"
    )
