"""Columns: dict-like access to the samples of one column of a checkout.

One implementation reads for reader and writer checkouts alike (the C ABI's column
handle answers both); a writer checkout's columns add the methods that change samples.
"""

from __future__ import annotations

import ctypes
import functools
import operator
import threading
from ctypes import byref, c_bool, c_int32, c_size_t
from typing import Any, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _ffi
from ._ffi import check, lib, make_key

from ._ffi import KeyArg, KeyType

_DTYPES = {
    1: np.dtype(np.bool_),
    2: np.dtype(np.uint8),
    3: np.dtype(np.uint16),
    4: np.dtype(np.uint32),
    5: np.dtype(np.uint64),
    6: np.dtype(np.int8),
    7: np.dtype(np.int16),
    8: np.dtype(np.int32),
    9: np.dtype(np.int64),
    10: np.dtype(np.float16),
    11: np.dtype(np.float32),
    12: np.dtype(np.float64),
}
_CODES = {dt: code for code, dt in _DTYPES.items()}

# A bulk session's buffer per column: at most this many samples or bytes (whichever
# comes first) before they go to the C ABI as one batch.
_BULK_ROWS = 4096
# values() / items() of a reader's fixed-shape column read this many samples (at most
# this many bytes) per C call.
_SCAN_ROWS = 1024
_SCAN_BYTES = 4 << 20
_BULK_BYTES = 4 << 20


def dtype_code(dtype: Any) -> int:
    """The `HANGAR_DTYPE_*` code of a numpy dtype (native byte order)."""
    dt = np.dtype(dtype)
    if dt.byteorder not in ("=", "|", "<"):
        dt = dt.newbyteorder("=")
    code = _CODES.get(np.dtype(dt.str.replace(">", "<")))
    if code is None:
        raise ValueError(
            f"dtype {dt} is not supported: use bool, (u)int8/16/32/64 or float16/32/64"
        )
    return code


#: Values of at most this many bytes are kept inline in their records, not in mapped
#: segments (libhangar's `INLINE_MAX`).
_INLINE_MAX = 64


class _Handle:
    """An owned C handle, freed when the last Python object using it goes away.

    Zero-copy arrays keep the reader checkout's handle alive through this object, so a
    view never outlives the memory map it points into (closing the checkout in Python
    only stops further use; the C checkout is freed when its last view is gone).
    """

    __slots__ = ("ptr", "_free", "__weakref__")

    def __init__(self, ptr: ctypes.c_void_p, free):
        self.ptr = ptr
        self._free = free

    def __del__(self):
        ptr, self.ptr = self.ptr, None
        if ptr:
            self._free(ptr)


class DictReads:
    """The read methods of a dict, over `keys()` and `__getitem__` (which raises
    `KeyError` for a missing key): what columns, the columns of a checkout and its
    metadata share."""

    def keys(self) -> Iterable[Any]:
        raise NotImplementedError

    def __getitem__(self, key: Any) -> Any:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Any]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(list(self.keys()))

    def __contains__(self, key: Any) -> bool:
        return key in list(self.keys())

    def values(self) -> Iterator[Any]:
        for k in self.keys():
            yield self[k]

    def items(self) -> Iterator[Tuple[Any, Any]]:
        for k in self.keys():
            yield k, self[k]

    def get(self, key: Any, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


#: The instances' own `__dict__` descriptor, for `Column.__dict__`, which overrides it.
_INSTANCE_DICT = DictReads.__dict__["__dict__"]


class LocalReads(DictReads):
    """`DictReads` for what may be partly on a remote (columns and nested samples):
    `keys`, `values` and `items` take the original's `local`, which leaves out what
    is not fetched here."""

    def keys(self, local: bool = False) -> Iterator[Any]:
        raise NotImplementedError

    def values(self, local: bool = False) -> Iterator[Any]:  # type: ignore[override]
        """Every value, in key order (`local`: as for `keys`)."""
        for k in self.keys(local):
            yield self[k]

    def items(self, local: bool = False) -> Iterator[Tuple[Any, Any]]:  # type: ignore[override]
        """Every (key, value), in key order (`local`: as for `keys`)."""
        for k in self.keys(local):
            yield k, self[k]


def _local_only(obj: Any, keys: List[KeyType], local: bool) -> List[KeyType]:
    """`keys` without the remote references of `obj` (a column or a nested sample) when
    `local`; the remote ones are looked for only if the column has some."""
    if not local or not obj.contains_remote_references:
        return keys
    remote = set(obj.remote_reference_keys)
    return [k for k in keys if k not in remote]


def _reader_column(path: str, commit: str, name: str, stream_cache_bytes: Optional[int]) -> "Column":
    """An unpickled column (`Column.__reduce__`): column `name` of a reader checkout of
    `commit` that this process opens; the column keeps its checkout open."""
    from .repository import Repository

    return Repository._reopen(path, stream_cache_bytes).checkout(commit=commit).columns[name]


def _update_pairs(other: Any, kwargs: dict) -> List[Tuple[Any, Any]]:
    """`dict.update`'s arguments as (key, value) pairs, checked as `dict()` checks them
    (the same ValueError / TypeError for a malformed sequence)."""
    if type(other) is dict and not kwargs:
        return list(other.items())  # (a dict's keys are unique already: no copy)
    merged = dict(other) if other is not None else {}
    merged.update(kwargs)
    return list(merged.items())


def _subsamples(column: str, key: Any, value: Any) -> List[Tuple[Any, Any]]:
    """A nested sample's value: a dict of subsamples or (subkey, value) pairs."""
    if isinstance(value, np.ndarray) or isinstance(value, (str, bytes)):
        raise ValueError(
            f"column {column!r} is nested: sample {key!r} is a dict of subsamples (or "
            f"(subkey, value) pairs), not {type(value).__name__}"
        )
    try:
        return list(dict(value).items())
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"column {column!r} is nested: sample {key!r} must be a dict of subsamples or "
            f"(subkey, value) pairs ({e})"
        ) from None


class Column(LocalReads):
    """A column of a checkout, read like a dict: `col[key]`, `key in col`, `len(col)`,
    `col.keys()`, `col.values()`, `col.items()`, `col.get(key, default)`.

    Numeric samples read from a reader checkout are zero-copy, read-only numpy arrays
    over the repository's memory-mapped files; from a writer checkout, copies.
    """

    def __init__(self, checkout, handle: _Handle, name: str):
        self._co = checkout
        self._h = handle
        self._name = name
        self._gone: Optional[str] = None
        kind = c_int32()
        nested = c_bool()
        variable = c_bool()
        dtype = c_int32()
        check(lib.hangar_column_schema(handle.ptr, byref(kind), byref(nested), byref(variable), byref(dtype)))
        self._kind = kind.value
        self._nested = nested.value
        self._variable = variable.value
        self._dtype = _DTYPES.get(dtype.value)
        comp = _ffi.string_buffer(32)
        check(lib.hangar_column_compression(handle.ptr, comp, 32))
        self._compression = comp.value.decode()
        if self._kind == _ffi.KIND_NDARRAY:
            dims = _ffi.array_type(c_size_t, 32)()
            ndim = c_size_t()
            check(lib.hangar_column_shape(handle.ptr, dims, 32, byref(ndim)))
            self._shape: Optional[Tuple[int, ...]] = tuple(dims[i] for i in range(ndim.value))
            self._put_code = dtype_code(self._dtype)
            self._put_dims = _ffi.array_type(c_size_t, max(len(self._shape), 1))(*self._shape)
            # Bytes of a sample of the column's (maximum) shape.
            itemsize = self._dtype.itemsize if self._dtype is not None else 0
            self._nbytes = int(np.prod(self._shape, dtype=np.int64)) * itemsize
        else:
            self._shape = None
            self._nbytes = 0
        # Zero-copy reads are for values in the repository's mapped files. A compressed
        # column's values are decoded, and those of a repository opened through a remote
        # may be streamed: a view of them would be a copy the C library keeps until the
        # checkout closes (one per distinct value, for a dataset read in full the whole
        # of it decoded), so they are read as copies each array owns.
        self._copy_reads = self._compression != "none" or getattr(checkout._repo, "_streaming", False)
        self._fast_read = self._make_fast_read()
        # The bulk session's buffer (see _make_fast_put): samples set but not yet handed
        # to the C ABI, rows 0.._bn of _bbuf under the keys _bkeys.
        self._bbuf: Any = None  # an np.ndarray from the first buffered sample on
        self._bspare: Any = None  # the other buffer, while one is stored in the background
        self._bkeys: list = []
        self._bn = 0
        self._fast_put = self._make_fast_put()

    def _make_fast_put(self):
        """For a fixed-shape flat ndarray column of the writer checkout, a writer of one
        sample whose value already has the column's dtype and shape in C order (nearly
        every `col[k] = arr`). Outside a bulk session: one C call, no other Python work.
        Inside one (`with col:` / `with co:`): the sample is copied into the column's
        buffer and the buffer goes to the C ABI as one batch (`hangar_column_put_batch`)
        when full or before anything else touches the checkout, so a sample costs no C
        call of its own (the crossing is most of a sample's cost from Python). Returns
        False when the value or key needs the general path (`_put`), which converts and
        checks them."""
        if self._kind != _ffi.KIND_NDARRAY or self._variable or self._nested or not self._co._writable:
            return None
        shape, dtype, code, dims, ndim = self._shape, self._dtype, self._put_code, self._put_dims, len(self._shape)
        nbytes = self._nbytes
        fn = lib.hangar_column_put
        co, handle, Key, ndarray = self._co, self._h, _ffi.Key, np.ndarray
        good_key = _ffi.valid_text_key
        rows = max(1, min(_BULK_ROWS, _BULK_BYTES // max(nbytes, 1)))
        acquire, release = co._buffer_lock.acquire, co._buffer_lock.release

        def put(key: Any, value: Any) -> bool:
            if type(value) is not ndarray or value.dtype != dtype or value.shape != shape or not value.flags.c_contiguous:
                return False
            if co._handle is None or self._gone is not None:
                self._ptr()  # raises the closed / invalidated error
            if co._bulk_depth:
                # Keys the engine would refuse take the general path, which reports them
                # (after storing what is buffered, so the order of changes is kept).
                if type(key) is int:
                    if not 0 <= key < 1 << 64:
                        return False
                elif type(key) is not str or not (
                    # The usual keys (letters and digits) without the regex; the rest by it.
                    key.isalnum() and key.isascii() and len(key) <= 64 or good_key(key)
                ):
                    return False
                # Threads may share a column. acquire/release, not `with`: ~100 ns less
                # a sample (the lock is the checkout's for its whole life).
                acquire()
                try:
                    n = self._bn
                    if n == 0:
                        if self._bbuf is None:
                            self._bbuf = np.empty((rows,) + shape, dtype=dtype)
                        co._pending.append(self)
                    self._bbuf[n] = value  # a copy: the caller may reuse its array
                    self._bkeys.append(key)
                    self._bn = n + 1
                    if n + 1 == rows:
                        co._flush_pending(background=True)
                finally:
                    release()
                return True
            if type(key) is int and 0 <= key < 1 << 64:
                k = Key(None, key)
            else:
                k, _keep = make_key(key)
            st = fn(handle.ptr, k, None, value.ctypes.data, nbytes, code, dims, ndim)
            if st:
                check(st, f"column {self._name!r}, key {key!r}")
            return True

        return put

    def _make_fast_read(self):
        """For a fixed-shape flat ndarray column of a reader checkout (the training-loop
        case), a reader of one sample by key that does the least Python work per call:
        one C call, one read-only array over the memory map (or, see `_copy_reads`, one
        that owns a copy). None for other columns."""
        if self._kind != _ffi.KIND_NDARRAY or self._variable or self._nested or self._co._writable:
            return None
        shape, dtype, nbytes = self._shape, self._dtype, self._nbytes
        if nbytes == 0:
            return None
        co, handle, Key, View = self._co, self._h, _ffi.Key, _ffi.View
        # Samples of at most _INLINE_MAX bytes (labels, say) live in their records: a view
        # of one is a copy too, and a plain copy costs less (~0.4 us a read).
        copies = self._copy_reads or nbytes <= _INLINE_MAX
        fn, get = lib.hangar_column_view, lib.hangar_column_get
        raw_type = ctypes.c_char * nbytes
        # Each thread's own `hangar_view` to be filled: ctypes lets go of the GIL during
        # the call, so one shared between threads could be overwritten by another
        # thread's read before this one takes its pointer (a wrong sample, silently).
        local = threading.local()

        def read(key: Any) -> np.ndarray:
            # _ptr()'s checks and make_key's int branch, inlined on purpose: calling them
            # cost ~9% of a fixed-shape put here (best of 5); the put does the same.
            if co._handle is None or self._gone is not None:
                self._ptr()  # raises the closed / invalidated error
            if type(key) is int and 0 <= key < 1 << 64:
                k = Key(None, key)
            else:
                k, _keep = make_key(key)
            if copies:  # see _copy_reads: an array over a buffer of its own
                # A ctypes buffer (at least 8-byte aligned) costs less to make and to
                # pass than np.empty and its `.ctypes.data` (~0.8 us a read).
                buf = raw_type()
                st = get(handle.ptr, k, None, buf, nbytes, None)
                if st:
                    if st == _ffi.E_NOT_FOUND:
                        raise KeyError(key)
                    check(st)
                # Read-only, as the zero-copy reads of a reader checkout.
                return np.ndarray(shape, dtype, buffer=memoryview(buf).toreadonly())
            try:
                view, vref = local.out
            except AttributeError:
                view = View()
                vref = byref(view)
                local.out = (view, vref)
            st = fn(handle.ptr, k, None, vref)
            if st:
                if st == _ffi.E_NOT_FOUND:
                    raise KeyError(key)
                check(st)
            raw = raw_type.from_address(view.data)
            # The array's base keeps `raw`, which keeps the checkout's C handle (and the
            # memory map the view points into) alive as long as the array lives.
            raw._owner = co._handle
            return np.ndarray(shape, dtype, buffer=memoryview(raw).toreadonly())

        return read

    # ---- schema -----------------------------------------------------------------------

    @property
    def column(self) -> str:
        """The column's name."""
        self._co._check_open()
        return self._name

    column_name = column

    @property
    def column_type(self) -> str:
        """`'ndarray'`, `'str'` or `'bytes'`."""
        self._co._check_open()
        return {_ffi.KIND_NDARRAY: "ndarray", _ffi.KIND_STR: "str", _ffi.KIND_BYTES: "bytes"}[self._kind]

    @property
    def column_layout(self) -> str:
        """`'nested'` for a column of samples with subsamples, else `'flat'`."""
        self._co._check_open()
        return "nested" if self._nested else "flat"

    @property
    def contains_subsamples(self) -> bool:
        self._co._check_open()
        return self._nested

    @property
    def dtype(self) -> Any:
        """The element type: a numpy dtype for an ndarray column, `str` or `bytes` (the
        Python types, as the original) for the others."""
        self._co._check_open()
        if self._kind == _ffi.KIND_STR:
            return str
        if self._kind == _ffi.KIND_BYTES:
            return bytes
        return self._dtype

    @property
    def shape(self) -> Optional[Tuple[int, ...]]:
        """The (maximum, for a variable-shape column) shape of a sample."""
        self._co._check_open()
        return self._shape

    @property
    def schema_type(self) -> str:
        """`'variable_shape'` or `'fixed_shape'`."""
        self._co._check_open()
        return "variable_shape" if self._variable else "fixed_shape"

    @property
    def iswriteable(self) -> bool:
        self._co._check_open()
        return self._co._writable

    @property
    def backend(self) -> str:
        """Where committed values live: `'arrow-ipc'` (uncompressed, read zero-copy) or
        `'parquet'` (compressed pages; see `backend_options`)."""
        self._co._check_open()
        return "arrow-ipc" if self._compression == "none" else "parquet"

    @property
    def backend_options(self) -> dict:
        """`{'compression': 'none' | 'zstd:<level>' | 'lz4'}`."""
        self._co._check_open()
        return {"compression": self._compression}

    def __repr__(self) -> str:
        self._co._check_open()
        kind = "Writer" if self.iswriteable else "Reader"
        text = f"Hangar {kind} Column\n    Column Name              : {self._name}\n"
        text += f"    Writeable                : {self.iswriteable}\n"
        text += f"    Column Type              : {self.column_type}\n"
        text += f"    Column Layout            : {self.column_layout}\n"
        text += f"    Schema Type              : {self.schema_type}\n"
        if self._kind == _ffi.KIND_NDARRAY:
            text += f"    DType                    : {self._dtype}\n"
            text += f"    Shape                    : {self._shape}\n"
        text += f"    Number of Samples        : {len(self)}\n"
        return text

    # ---- reads --------------------------------------------------------------------------

    def _ptr(self):
        self._co._ptr()  # open, and (a writer's) buffered samples handed over first
        if self._gone is not None:
            raise PermissionError(f"column {self._name!r} can no longer be used: {self._gone}")
        return self._h.ptr

    def _invalidate(self, why: str) -> None:
        self._gone = why

    def _take_buffer(self, spare: bool) -> Tuple["Column", int, list, Any]:
        """The samples buffered, handed over to be stored (`_store_buffer`). With `spare`
        (stored on another thread while this column goes on), the column goes on in its
        other buffer (the one stored before, done by now)."""
        n, keys, buf = self._bn, self._bkeys, self._bbuf
        self._bn, self._bkeys = 0, []
        if spare:
            self._bbuf, self._bspare = self._bspare, buf
        return self, n, keys, buf

    def _store_buffer(self, n: int, keys: list, buf: Any) -> None:
        """Stores rows 0..n of a bulk-session buffer under `keys` with one C call."""
        if n == 0:
            return
        try:
            self._put_batch_raw(keys, buf[:n])
        except Exception as e:
            # Raised by whichever call flushed: say which samples it is about.
            if e.args and isinstance(e.args[0], str):
                prefix = f"column {self._name!r}: "
                e.args = (
                    f"{prefix}the {n} samples set since the bulk session last stored its "
                    f"buffer (keys {keys[0]!r} to {keys[-1]!r}) were not stored: "
                    f"{e.args[0].removeprefix(prefix)}",
                ) + e.args[1:]
            raise

    def _drop_buffer(self) -> None:
        self._bbuf, self._bspare, self._bkeys, self._bn = None, None, [], 0

    @property
    def __dict__(self) -> dict:  # type: ignore[override]
        # As the original: even the attributes of a column of a closed checkout refuse
        # (attribute access itself does not come here; it reads the instance dict).
        d = _INSTANCE_DICT.__get__(self)
        if d["_co"]._handle is None:
            self._ptr()  # raises the closed error
        return d

    def __getattr__(self, name: str) -> Any:
        # Only for attributes that do not exist: as the original, a column of a closed
        # checkout answers every attribute with PermissionError.
        if not name.startswith("_"):
            self._ptr()
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]:
        """Pickling, for `multiprocessing` (as the original allowed): a column of a
        reader checkout pickles as where it is — the repository's directory, the commit
        and the column's name — and unpickles as that column of a reader checkout the
        receiving process opens for itself (no C handle crosses processes; the copy
        reads the same commit, whatever the branches did since). A writer's column
        cannot be pickled (`PermissionError`, as the original's)."""
        self._ptr()
        if self._co._writable:
            raise PermissionError(
                'Method "__getstate__" cannot be called in a write-enabled checkout: '
                f"column {self._name!r} of the writer would not carry its staged changes to "
                "another process. Commit, then pickle the column of a reader checkout "
                "(repo.checkout())."
            )
        path, stream = self._co._repo._reopen_args()
        return (_reader_column, (path, self._co.commit_hash, self._name, stream))

    def __len__(self) -> int:
        n = c_size_t()
        check(lib.hangar_column_len(self._ptr(), byref(n)))
        return n.value

    def __contains__(self, key: KeyArg) -> bool:
        if isinstance(key, (tuple, list)):
            return False
        k, _keep = make_key(key)
        out = c_bool()
        check(lib.hangar_column_contains(self._ptr(), k, None, byref(out)))
        return out.value

    def keys(self, local: bool = False) -> Iterator[KeyType]:
        """Every sample key, integers first then strings, each in order (an iterator, as
        the original's; the keys are read when it is made). With `local`, only those of
        samples whose values are all here (not remote references of a partial clone)."""
        return iter(_local_only(self, self._iter_keys(None), local))

    def _iter_keys(self, sample: Optional[KeyArg]) -> List[KeyType]:
        it = ctypes.c_void_p()
        if sample is None:
            check(lib.hangar_column_keys(self._ptr(), byref(it)))
        else:
            k, _keep = make_key(sample)
            st = lib.hangar_column_subkeys(self._ptr(), k, byref(it))
            if st == _ffi.E_NOT_FOUND:
                raise KeyError(sample)
            check(st)
        try:
            return _ffi.drain_keys(it)
        finally:
            lib.hangar_key_iter_free(it)

    def _read(self, key: KeyArg, sub: Optional[KeyArg] = None) -> Any:
        k, _keep = make_key(key)
        subk = None
        if sub is not None:
            subk, _keep2 = make_key(sub)
        ptr = self._ptr()
        sub_ptr = byref(subk) if subk is not None else None
        if self._kind == _ffi.KIND_NDARRAY and not self.iswriteable and not self._copy_reads:
            view = _ffi.View()
            st = lib.hangar_column_view(ptr, k, sub_ptr, byref(view))
            if st == _ffi.E_NOT_FOUND:
                raise KeyError(key if sub is None else (key, sub))
            check(st)
            shape: Any
            if self._variable:
                shape = tuple(view.shape[i] for i in range(view.ndim))
            else:
                shape = self._shape  # a fixed-shape column's samples all have it
            dtype = self._dtype
            if view.nbytes == 0:
                return np.zeros(shape, dtype=dtype)
            raw = (ctypes.c_char * view.nbytes).from_address(view.data)
            # The array's base is `raw`, which keeps the checkout's C handle alive as long
            # as the array lives (see _Handle): the mapping it points into stays mapped.
            raw._owner = self._co._handle
            arr = np.ndarray(shape, dtype, buffer=raw)
            arr.flags.writeable = False
            return arr
        info = _ffi.SampleInfo()
        dims = _ffi.array_type(c_size_t, 32)()
        st = lib.hangar_column_info(ptr, k, sub_ptr, byref(info), dims, 32)
        if st == _ffi.E_NOT_FOUND:
            raise KeyError(key if sub is None else (key, sub))
        check(st)
        if info.kind == _ffi.KIND_NDARRAY:
            shape = tuple(dims[i] for i in range(info.ndim))
            out = np.empty(shape, dtype=_DTYPES[info.dtype])
            check(lib.hangar_column_get(ptr, k, sub_ptr, out.ctypes.data, out.nbytes, None))
            if not self.iswriteable:
                out.flags.writeable = False  # as a reader checkout's zero-copy reads
            return out
        buf = np.empty(max(info.nbytes, 1), dtype=np.uint8)
        written = c_size_t()
        check(lib.hangar_column_get(ptr, k, sub_ptr, buf.ctypes.data, info.nbytes, byref(written)))
        data = buf[: written.value].tobytes()
        return data.decode("utf-8") if info.kind == _ffi.KIND_STR else data

    def values(self, local: bool = False) -> Iterator[Any]:  # type: ignore[override]
        """Every value, in key order (`local`: only those fetched here). A reader
        checkout's fixed-shape ndarray column is read `_SCAN_BYTES` at a time, one C
        call per block (`get_batch`), each value a read-only row of its block."""
        if self._fast_read is None:
            yield from super().values(local)
            return
        for _, block in self._scan(local):
            for j in range(len(block)):
                yield block[j, ...]

    def items(self, local: bool = False) -> Iterator[Tuple[Any, Any]]:  # type: ignore[override]
        """Every (key, value), in key order (`local`: as for `values`, read as it
        reads them)."""
        if self._fast_read is None:
            yield from super().items(local)
            return
        for keys, block in self._scan(local):
            for j, k in enumerate(keys):
                yield k, block[j, ...]

    def _scan(self, local: bool) -> Iterator[Tuple[List[KeyType], np.ndarray]]:
        """The column's keys and values in blocks of about `_SCAN_BYTES` (a reader's
        column: what it reads does not change while the iteration runs)."""
        keys = list(self.keys(local))
        step = max(1, min(_SCAN_ROWS, _SCAN_BYTES // max(1, self._nbytes)))
        for i in range(0, len(keys), step):
            chunk = keys[i : i + step]
            block = self.get_batch(chunk)
            block.flags.writeable = False  # as a single read's value: read-only
            yield chunk, block

    def get_batch(self, keys: Union[Sequence[KeyArg], np.ndarray]) -> np.ndarray:
        """Samples `keys` (a sequence, or an integer numpy array) of a fixed-shape ndarray
        column stacked into one new array (shape `(len(keys),) + self.shape`), read with
        one call."""
        if self._kind != _ffi.KIND_NDARRAY or self._variable or self._nested:
            raise TypeError(
                f"column {self._name!r}: get_batch reads fixed-shape ndarray columns; "
                "read other columns sample by sample"
            )
        n = len(keys)
        out = np.empty((n,) + tuple(self._shape or ()), dtype=self._dtype)
        if n == 0:
            return out
        ckeys, _keep = _ffi.make_keys(keys)
        st = lib.hangar_column_get_batch(self._ptr(), ckeys, n, out.ctypes.data, out.nbytes)
        if st == _ffi.E_NOT_FOUND:
            raise KeyError(_ffi.last_message())
        check(st, f"column {self._name!r}")
        return out

    @property
    def contains_remote_references(self) -> bool:
        """True if some sample's value is on a remote and not fetched here yet (a
        partial clone: `repo.remote.fetch_data` brings them)."""
        self._ptr()
        return self._co._not_fetched(self._name) > 0

    @property
    def remote_reference_keys(self) -> Tuple[KeyType, ...]:
        """The keys of the samples whose values (of a nested sample: any of its
        subsamples) are on a remote and not fetched here. Reads every sample when
        there are some (none are read otherwise)."""
        if not self.contains_remote_references:
            return ()
        return tuple(k for k in self.keys() if not _fetched(self, k))

    def __getitem__(self, key: Any) -> Any:
        fast = self._fast_read
        if fast is not None and type(key) in (int, str):
            return fast(key)
        if isinstance(key, list):
            raise TypeError(f"unhashable type: 'list' ({key!r} is not a sample key)")
        if isinstance(key, tuple) and not self._nested:
            raise KeyError(key)  # as the original: no flat sample has a tuple key
        if self._nested:
            # The original's nested access: `col[sample]` is the sample's subsamples (a
            # dict-like `NestedSample`); `col[sample, sub]` one of them; and, as its
            # HEAD, what follows indexes into that: `col[sample, sub, 0, 0]` is
            # `col[sample][sub][0][0]`, `col[sample, ...]` all of the sample's.
            if isinstance(key, tuple):
                if not key:
                    raise KeyError(key)
                return functools.reduce(operator.getitem, key[1:], self[key[0]])
            if key not in self:
                raise KeyError(key)
            return NestedSample(self, key)
        return self._read(key)

    @property
    def num_subsamples(self) -> int:
        """The number of subsamples over all samples of a nested column."""
        n = c_size_t()
        check(lib.hangar_column_num_subsamples(self._ptr(), byref(n)), f"column {self._name!r}")
        return n.value

    # ---- writes (writer checkouts) ----------------------------------------------------

    def _writable_ptr(self):
        ptr = self._ptr()
        if not self.iswriteable:
            raise _ffi.ReadOnlyError(
                f"column {self._name!r} belongs to a read-only checkout; open one with "
                "repo.checkout(write=True) to change it"
            )
        return ptr

    def _text_bytes(self, value: Any) -> bytes:
        if self._kind == _ffi.KIND_STR:
            if not isinstance(value, str):
                raise ValueError(f"column {self._name!r} holds str values, not {type(value).__name__}")
            return value.encode("utf-8")
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise ValueError(f"column {self._name!r} holds bytes values, not {type(value).__name__}")
        return bytes(value)

    def _array(self, value: Any) -> Tuple[np.ndarray, int, Any]:
        """`value` as a C-ordered native array, its dtype code and its C shape."""
        arr = np.asarray(value)
        if not arr.flags.c_contiguous:
            # As the original: the caller chooses whether to copy.
            raise ValueError(
                f'column {self._name!r}: `data` must be "C" contiguous array (this one is in '
                "Fortran order or a strided view); pass np.ascontiguousarray(value)"
            )
        if arr.dtype == self._dtype and arr.shape == self._shape:
            # The column's own dtype and shape (nearly every put): codes made once.
            return arr, self._put_code, self._put_dims
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("="))
        return arr, dtype_code(arr.dtype), _ffi.array_type(c_size_t, max(arr.ndim, 1))(*arr.shape)

    def _value(self, value: Any, keep: list) -> "_ffi.Value":
        """A C `hangar_value` over `value`; what it points into is appended to `keep`."""
        if self._kind == _ffi.KIND_NDARRAY:
            arr, code, dims = self._array(value)
            keep.append((arr, dims))
            return _ffi.Value(
                _ffi.KIND_NDARRAY, code, arr.ctypes.data, arr.nbytes,
                ctypes.cast(dims, ctypes.POINTER(c_size_t)), arr.ndim,
            )
        data = self._text_bytes(value)
        keep.append(data)
        return _ffi.Value(self._kind, 0, ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value, len(data), None, 0)

    def _put(self, key: KeyArg, value: Any, sub: Optional[KeyArg] = None) -> None:
        ptr = self._writable_ptr()
        k, _keep = make_key(key)
        subk = None
        if sub is not None:
            subk, _keep2 = make_key(sub)
        sub_ptr = byref(subk) if subk is not None else None
        if self._kind == _ffi.KIND_NDARRAY:
            arr, code, dims = self._array(value)
            st = lib.hangar_column_put(ptr, k, sub_ptr, arr.ctypes.data, arr.nbytes, code, dims, arr.ndim)
            if st:
                what = f"column {self._name!r}, key {key!r}"
                if not isinstance(value, np.ndarray):
                    # Said as the original said it: the value given was not an array.
                    what += (
                        f" (`data` argument type {type(value).__name__}, read as an "
                        f"array of dtype {arr.dtype} and shape {arr.shape})"
                    )
                check(st, what)
            return
        data = self._text_bytes(value)
        check(lib.hangar_column_put_text(ptr, k, sub_ptr, data, len(data)), f"column {self._name!r}, key {key!r}")

    def _update(self, items: Sequence[Tuple[KeyArg, Optional[KeyArg], Any]]) -> None:
        """Stores `(key, subkey, value)` items with one C call, all or nothing."""
        ptr = self._writable_ptr()
        n = len(items)
        if n == 0:
            return
        keys = _ffi.array_type(_ffi.Key, n)()
        subs = _ffi.array_type(_ffi.Key, n)() if self._nested else None
        values = _ffi.array_type(_ffi.Value, n)()
        keep: list = []
        for i, (key, sub, value) in enumerate(items):
            keys[i], b = make_key(key)
            keep.append(b)
            if subs is not None:
                subs[i], b = make_key(sub)
                keep.append(b)
            values[i] = self._value(value, keep)
        check(lib.hangar_column_update(ptr, keys, subs, values, n), f"column {self._name!r}")

    def __setitem__(self, key: KeyArg, value: Any) -> None:
        fast = self._fast_put
        if fast is not None and fast(key, value):
            return
        if self._nested:
            # As the original: the given subsamples are added or replaced, the sample's
            # others kept.
            self._update([(key, sub, v) for sub, v in _subsamples(self._name, key, value)])
            return
        self._put(key, value)

    def __delitem__(self, key: KeyArg) -> None:
        ptr = self._writable_ptr()
        if isinstance(key, (tuple, list)):
            raise KeyError(key)
        k, _keep = make_key(key)
        st = lib.hangar_column_delete(ptr, k, None)
        if st == _ffi.E_NOT_FOUND:
            raise KeyError(key)
        check(st)

    def _pop(self, key: KeyArg, sub: Optional[KeyArg] = None) -> Any:
        ptr = self._writable_ptr()
        k, _keep = make_key(key)
        subk = None
        if sub is not None:
            subk, _keep2 = make_key(sub)
        info = _ffi.SampleInfo()
        dims = _ffi.array_type(c_size_t, 32)()
        buf = ctypes.c_void_p()
        st = lib.hangar_column_pop(ptr, k, byref(subk) if subk is not None else None, byref(info), dims, 32, byref(buf))
        if st == _ffi.E_NOT_FOUND:
            raise KeyError(key if sub is None else (key, sub))
        check(st, f"column {self._name!r}")
        data = _ffi.take_buf(buf)
        if info.kind == _ffi.KIND_NDARRAY:
            shape = tuple(dims[i] for i in range(info.ndim))
            return np.frombuffer(bytearray(data), dtype=_DTYPES[info.dtype]).reshape(shape)
        return data.decode("utf-8") if info.kind == _ffi.KIND_STR else data

    def pop(self, key: KeyArg) -> Any:
        """Removes sample `key` and returns its value (`KeyError` if absent); a nested
        sample's value is the dict of its subsamples."""
        if self._nested:
            value = self[key].data
            del self[key]
            return value
        return self._pop(key)

    def update(self, other: Union[Mapping[Any, Any], Iterable[Tuple[KeyArg, Any]]] = (), **kwargs: Any) -> None:
        """Sets many samples at once (as `dict.update`), all or nothing, with one C call:
        numeric samples of one shape through the batch put, any others (str, bytes,
        variable shapes, nested samples given as dicts of subsamples) through the C
        ABI's `hangar_column_update`."""
        pairs = _update_pairs(other, kwargs)
        if not pairs:
            return
        if self._nested:
            items: List[Tuple[KeyArg, Optional[KeyArg], Any]] = []
            for k, v in pairs:
                items.extend((k, sub, x) for sub, x in _subsamples(self._name, k, v))
            self._update(items)
            return
        if self._kind == _ffi.KIND_NDARRAY and len(pairs) > 1:
            arrays = [np.asarray(v) for _, v in pairs]
            first = arrays[0]
            shape, dtype = first.shape, first.dtype
            if all(a.shape == shape and a.dtype == dtype for a in arrays):
                # One array of them all: np.array copies arrays of one shape and dtype
                # into one block as np.stack does, in half its time (no view per item).
                stacked = np.array(arrays, dtype=dtype)
                # In a bulk session (the values are written once, not journalled first).
                with self._co._bulk_or_nothing():
                    self._put_batch([k for k, _ in pairs], stacked)
                return
        self._update([(k, None, v) for k, v in pairs])

    def append(self, value: Any) -> KeyType:
        """Stores `value` under a newly generated key (a 28-character string) and
        returns the key."""
        if self._nested:
            raise TypeError(
                f"column {self._name!r} is nested: append to one sample, col[sample].append(value)"
            )
        return self._append(value, None)

    def _append(self, value: Any, sample: Optional[KeyArg]) -> KeyType:
        ptr = self._writable_ptr()
        keep: list = []
        v = self._value(value, keep)
        s = None
        if sample is not None:
            s, b = make_key(sample)
            keep.append(b)
        out = ctypes.c_void_p()
        check(lib.hangar_column_append(ptr, byref(s) if s is not None else None, byref(v), byref(out)), f"column {self._name!r}")
        return _ffi.take_buf(out).decode("utf-8")

    def put_batch(self, keys: Sequence[KeyArg], data: np.ndarray) -> None:
        """Stores `data[i]` under `keys[i]` for a batch of numeric samples held in one
        array (shape `(len(keys),) + sample shape`): one C call, all or nothing, no
        per-sample Python work (integer keys may be a numpy array). The counterpart of
        `get_batch`; `update` with a dict does the same for samples given one by one."""
        with self._co._bulk_or_nothing():
            self._put_batch(keys, data)

    def _put_batch(self, keys: Sequence[KeyArg], data: np.ndarray) -> None:
        self._writable_ptr()
        self._put_batch_raw(keys, data)

    def _put_batch_raw(self, keys: Sequence[KeyArg], data: np.ndarray) -> None:
        """`_put_batch` without the checks of the checkout's state: for a bulk-session
        buffer, which may be stored on the checkout's background thread (its C handle
        stays open until that store is done: every other use waits for it first)."""
        ptr = self._h.ptr
        data = np.ascontiguousarray(data)
        if data.dtype.byteorder == ">":
            data = data.astype(data.dtype.newbyteorder("="))
        n = len(keys)
        if data.ndim == 0 or data.shape[0] != n:
            raise ValueError(f"{n} keys for {data.shape[0] if data.ndim else 0} samples")
        ckeys, _keep = _ffi.make_keys(keys)
        sample_shape = data.shape[1:]
        dims = _ffi.array_type(c_size_t, max(len(sample_shape), 1))(*sample_shape)
        check(
            lib.hangar_column_put_batch(
                ptr,
                ckeys,
                n,
                data.ctypes.data,
                data.nbytes,
                dtype_code(data.dtype),
                dims,
                len(sample_shape),
            ),
            f"column {self._name!r}",
        )

    # The original's column context manager: a bulk session of the whole writer checkout;
    # on a reader's column it only marks a block of reads (nothing to set up here).
    def __enter__(self) -> "Column":
        if self.iswriteable:
            self._co._bulk_enter()
        else:
            self._co._check_open()
        return self

    def __exit__(self, *exc: Any) -> None:
        # Not `iswriteable`, which refuses once the checkout is closed: a block in which
        # the checkout was closed ends quietly (the close ended the session and stored
        # what it buffered), and an exception leaving the block is not replaced.
        if self._co._writable:
            self._co._bulk_exit()

    # ---- the original's early (`co.datasets`) names ------------------------------------

    def add(self, data: Any, name: Optional[KeyArg] = None, **kwargs: Any) -> KeyArg:
        """The original's early `dset.add(data=..., name=...)`: sets sample `name` (a
        generated key when not given, as `append`) and returns it."""
        if name is None:
            return self.append(data)
        self[name] = data
        return name


class NestedSample(LocalReads):
    """The subsamples of one sample of a nested column, read (and, in a writer
    checkout, changed) like a dict: `s[sub]`, `s[...]` or `s[:]` (all, as a dict),
    `s[1:3]` (a slice of the keys in order), `s.data`, `s.keys()`, `len(s)`;
    `s[sub] = value`, `s.update(...)`, `s.append(value)`, `del s[sub]`, `s.pop(sub)`.
    The original's `FlatSubsampleReader` / `FlatSubsampleWriter`."""

    def __init__(self, column: Column, sample: KeyArg):
        self._col = column
        self._sample: KeyType = _ffi.plain_key(sample)

    @property
    def contains_remote_references(self) -> bool:
        """True if a subsample's value is on a remote and not fetched here yet."""
        return bool(self.remote_reference_keys)

    @property
    def remote_reference_keys(self) -> Tuple[KeyType, ...]:
        """The subsample keys whose values are on a remote and not fetched here."""
        if not self._col.contains_remote_references:
            return ()
        return tuple(k for k in self.keys() if not _fetched(self, k))

    @property
    def sample(self) -> KeyType:
        """The sample's key."""
        return self._sample

    @property
    def column(self) -> str:
        """The column's name."""
        return self._col.column

    @property
    def iswriteable(self) -> bool:
        return self._col.iswriteable

    @property
    def data(self) -> dict:
        """Every subsample key and value."""
        return self[...]

    def keys(self, local: bool = False) -> Iterator[KeyType]:
        """The subsample keys, in order (an iterator, as the original's); with `local`,
        only those whose values are here (not remote references of a partial clone)."""
        return iter(_local_only(self, self._col._iter_keys(self._sample), local))

    def __len__(self) -> int:
        return len(self._col._iter_keys(self._sample))

    def __contains__(self, sub: KeyArg) -> bool:
        k, _keep = make_key(self._sample)
        s, _keep2 = make_key(sub)
        out = c_bool()
        check(lib.hangar_column_contains(self._col._ptr(), k, byref(s), byref(out)))
        return out.value

    def __getitem__(self, sub: Any) -> Any:
        if sub is Ellipsis:
            return {k: self._col._read(self._sample, k) for k in self.keys()}
        if isinstance(sub, slice):
            return {k: self._col._read(self._sample, k) for k in self._col._iter_keys(self._sample)[sub]}
        if isinstance(sub, (str, int, np.integer)) and not isinstance(sub, bool):
            return self._col._read(self._sample, sub)
        raise TypeError(f"subsample key {sub!r} of type {type(sub).__name__} is not valid")

    def __setitem__(self, sub: KeyArg, value: Any) -> None:
        self._col._put(self._sample, value, sub)

    def update(self, other: Union[Mapping[Any, Any], Iterable[Tuple[KeyArg, Any]]] = (), **kwargs: Any) -> None:
        """Adds or replaces many subsamples in one all-or-nothing call."""
        pairs = _update_pairs(other, kwargs)
        self._col._update([(self._sample, sub, v) for sub, v in pairs])

    def append(self, value: Any) -> KeyType:
        """Stores `value` as a subsample under a generated key and returns the key."""
        return self._col._append(value, self._sample)

    def __delitem__(self, sub: KeyArg) -> None:
        ptr = self._col._writable_ptr()
        k, _keep = make_key(self._sample)
        s, _keep2 = make_key(sub)
        st = lib.hangar_column_delete(ptr, k, byref(s))
        if st == _ffi.E_NOT_FOUND:
            raise KeyError(sub)
        check(st)

    def pop(self, key: KeyArg) -> Any:
        """Removes subsample `key` and returns its value."""
        return self._col._pop(self._sample, key)

    def __enter__(self) -> "NestedSample":
        self._col.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._col.__exit__(*exc)

    def __repr__(self) -> str:
        return (
            f"Hangar {'FlatSubsampleWriter' if self.iswriteable else 'FlatSubsampleReader'} \n"
            f"    Column Name          : {self.column}\n"
            f"    Sample Name          : {self._sample}\n"
            f'    Writeable            : "{self.iswriteable}"\n'
            f"    Number of Subsamples : {len(self)}\n"
        )


def _fetched(container: Any, key: KeyArg) -> bool:
    """False if reading `container[key]` (all subsamples of a nested sample) finds a
    value not fetched from its remote."""
    try:
        v = container[key]
        if isinstance(v, NestedSample):
            for sub in v.keys():
                v[sub]
    except _ffi.NotFetchedError:
        return False
    return True
