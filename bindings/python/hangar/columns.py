"""Columns: dict-like access to the samples of one column of a checkout.

One implementation reads for reader and writer checkouts alike (the C ABI's column
handle answers both); a writer checkout's columns add the methods that change samples.
"""

from __future__ import annotations

import ctypes
from ctypes import byref, c_bool, c_int32, c_size_t
from typing import Any, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _ffi
from ._ffi import check, lib, make_key

from ._ffi import KeyType

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

    def keys(self) -> List[Any]:
        raise NotImplementedError

    def __getitem__(self, key: Any) -> Any:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Any]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __contains__(self, key: Any) -> bool:
        return key in self.keys()

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


class Column(DictReads):
    """A column of a checkout, read like a dict: `col[key]`, `key in col`, `len(col)`,
    `col.keys()`, `col.values()`, `col.items()`, `col.get(key, default)`.

    Numeric samples read from a reader checkout are zero-copy, read-only numpy arrays
    over the repository's memory-mapped files; from a writer checkout, copies.
    """

    def __init__(self, checkout, handle: _Handle, name: str):
        self._co = checkout
        self._h = handle
        self._name = name
        kind = c_int32()
        nested = c_bool()
        variable = c_bool()
        dtype = c_int32()
        check(lib.hangar_column_schema(handle.ptr, byref(kind), byref(nested), byref(variable), byref(dtype)))
        self._kind = kind.value
        self._nested = nested.value
        self._variable = variable.value
        self._dtype = _DTYPES.get(dtype.value)
        if self._kind == _ffi.KIND_NDARRAY:
            dims = (c_size_t * 32)()
            ndim = c_size_t()
            check(lib.hangar_column_shape(handle.ptr, dims, 32, byref(ndim)))
            self._shape: Optional[Tuple[int, ...]] = tuple(dims[i] for i in range(ndim.value))
            self._put_code = dtype_code(self._dtype)
            self._put_dims = (c_size_t * max(len(self._shape), 1))(*self._shape)
        else:
            self._shape = None

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
    def dtype(self) -> Optional[np.dtype]:
        """The element type of an ndarray column (None for str and bytes)."""
        self._co._check_open()
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
        self._co._check_open()
        return "arrow-ipc"

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
        self._co._check_open()
        return self._h.ptr

    def __len__(self) -> int:
        n = c_size_t()
        check(lib.hangar_column_len(self._ptr(), byref(n)))
        return n.value

    def __contains__(self, key: KeyType) -> bool:
        k, _keep = make_key(key)
        out = c_bool()
        check(lib.hangar_column_contains(self._ptr(), k, None, byref(out)))
        return out.value

    def keys(self) -> List[KeyType]:
        """Every sample key, integers first then strings, each in order."""
        return self._iter_keys(None)

    def _iter_keys(self, sample: Optional[KeyType]) -> List[KeyType]:
        it = ctypes.c_void_p()
        if sample is None:
            check(lib.hangar_column_keys(self._ptr(), byref(it)))
        else:
            k, _keep = make_key(sample)
            st = lib.hangar_column_subkeys(self._ptr(), k, byref(it))
            if st == _ffi.E_NOT_FOUND:
                raise KeyError(sample)
            check(st)
        out: List[KeyType] = []
        try:
            key = _ffi.Key()
            has = c_bool()
            while True:
                check(lib.hangar_key_iter_next(it, byref(key), byref(has)))
                if not has.value:
                    return out
                out.append(_ffi.key_value(key))
        finally:
            lib.hangar_key_iter_free(it)

    def _read(self, key: KeyType, sub: Optional[KeyType] = None) -> Any:
        k, _keep = make_key(key)
        subk = None
        if sub is not None:
            subk, _keep2 = make_key(sub)
        ptr = self._ptr()
        sub_ptr = byref(subk) if subk is not None else None
        if self._kind == _ffi.KIND_NDARRAY and not self.iswriteable:
            view = _ffi.View()
            st = lib.hangar_column_view(ptr, k, sub_ptr, byref(view))
            if st == _ffi.E_NOT_FOUND:
                raise KeyError(key if sub is None else (key, sub))
            check(st)
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
        dims = (c_size_t * 32)()
        st = lib.hangar_column_info(ptr, k, sub_ptr, byref(info), dims, 32)
        if st == _ffi.E_NOT_FOUND:
            raise KeyError(key if sub is None else (key, sub))
        check(st)
        if info.kind == _ffi.KIND_NDARRAY:
            shape = tuple(dims[i] for i in range(info.ndim))
            out = np.empty(shape, dtype=_DTYPES[info.dtype])
            check(lib.hangar_column_get(ptr, k, sub_ptr, out.ctypes.data_as(ctypes.c_void_p), out.nbytes, None))
            return out
        buf = ctypes.create_string_buffer(max(info.nbytes, 1))
        written = c_size_t()
        check(lib.hangar_column_get(ptr, k, sub_ptr, buf, info.nbytes, byref(written)))
        data = buf.raw[: written.value]
        return data.decode("utf-8") if info.kind == _ffi.KIND_STR else data

    def get_batch(self, keys: Sequence[KeyType]) -> np.ndarray:
        """Samples `keys` of a fixed-shape ndarray column stacked into one new array
        (shape `(len(keys),) + self.shape`), read with one call."""
        if self._kind != _ffi.KIND_NDARRAY or self._variable or self._nested:
            raise TypeError(
                f"column {self._name!r}: get_batch reads fixed-shape ndarray columns; "
                "read other columns sample by sample"
            )
        n = len(keys)
        out = np.empty((n,) + tuple(self._shape or ()), dtype=self._dtype)
        if n == 0:
            return out
        ckeys = (_ffi.Key * n)()
        keep = []
        for i, key in enumerate(keys):
            ckeys[i], b = make_key(key)
            keep.append(b)
        st = lib.hangar_column_get_batch(self._ptr(), ckeys, n, out.ctypes.data_as(ctypes.c_void_p), out.nbytes)
        if st == _ffi.E_NOT_FOUND:
            raise KeyError(_ffi.last_message())
        check(st, f"column {self._name!r}")
        return out

    def __getitem__(self, key: KeyType) -> Any:
        if self._nested:
            return {sub: self._read(key, sub) for sub in self._iter_keys(key)}
        return self._read(key)

    # ---- writes (writer checkouts) ----------------------------------------------------

    def _writable_ptr(self):
        ptr = self._ptr()
        if not self.iswriteable:
            raise PermissionError(
                f"column {self._name!r} belongs to a read-only checkout; open one with "
                "repo.checkout(write=True) to change it"
            )
        return ptr

    def _put(self, key: KeyType, value: Any, sub: Optional[KeyType] = None) -> None:
        ptr = self._writable_ptr()
        k, _keep = make_key(key)
        subk = None
        if sub is not None:
            subk, _keep2 = make_key(sub)
        sub_ptr = byref(subk) if subk is not None else None
        if self._kind == _ffi.KIND_NDARRAY:
            arr = np.ascontiguousarray(value)
            if arr.dtype == self._dtype and arr.shape == self._shape:
                # The column's own dtype and shape (nearly every put): codes made once.
                code, dims = self._put_code, self._put_dims
            else:
                if arr.dtype.byteorder == ">":
                    arr = arr.astype(arr.dtype.newbyteorder("="))
                code = dtype_code(arr.dtype)
                dims = (c_size_t * max(arr.ndim, 1))(*arr.shape)
            check(
                lib.hangar_column_put(
                    ptr, k, sub_ptr, arr.ctypes.data, arr.nbytes, code, dims, arr.ndim
                ),
                f"column {self._name!r}, key {key!r}",
            )
            return
        if self._kind == _ffi.KIND_STR:
            if not isinstance(value, str):
                raise ValueError(f"column {self._name!r} holds str values, not {type(value).__name__}")
            data = value.encode("utf-8")
        else:
            if not isinstance(value, (bytes, bytearray, memoryview)):
                raise ValueError(f"column {self._name!r} holds bytes values, not {type(value).__name__}")
            data = bytes(value)
        check(lib.hangar_column_put_text(ptr, k, sub_ptr, data, len(data)), f"column {self._name!r}, key {key!r}")

    def __setitem__(self, key: KeyType, value: Any) -> None:
        if self._nested:
            if not isinstance(value, Mapping):
                raise ValueError(
                    f"column {self._name!r} is nested: set a sample to a dict of subsamples"
                )
            with self._co._bulk_or_nothing():
                if key in self:
                    del self[key]
                for sub, v in value.items():
                    self._put(key, v, sub)
            return
        self._put(key, value)

    def __delitem__(self, key: KeyType) -> None:
        ptr = self._writable_ptr()
        k, _keep = make_key(key)
        st = lib.hangar_column_delete(ptr, k, None)
        if st == _ffi.E_NOT_FOUND:
            raise KeyError(key)
        check(st)

    def pop(self, key: KeyType) -> Any:
        """Removes sample `key` and returns its value (`KeyError` if absent)."""
        value = self[key]
        if isinstance(value, np.ndarray) and not value.flags.owndata:
            value = value.copy()
        del self[key]
        return value

    def update(self, other: Union[Mapping[KeyType, Any], Iterable[Tuple[KeyType, Any]]] = (), **kwargs: Any) -> None:
        """Sets many samples at once (as `dict.update`). Numeric samples of one shape go
        through the C ABI's batch put: one call, all or nothing."""
        pairs = list(other.items() if isinstance(other, Mapping) else other) + list(kwargs.items())
        if not pairs:
            return
        if self._kind == _ffi.KIND_NDARRAY and not self._nested and len(pairs) > 1:
            arrays = [np.asarray(v) for _, v in pairs]
            first = arrays[0]
            if all(a.shape == first.shape and a.dtype == first.dtype for a in arrays):
                self._put_batch([k for k, _ in pairs], np.stack(arrays))
                return
        with self._co._bulk_or_nothing():
            for k, v in pairs:
                self[k] = v

    def _put_batch(self, keys: List[KeyType], data: np.ndarray) -> None:
        ptr = self._writable_ptr()
        data = np.ascontiguousarray(data)
        if data.dtype.byteorder == ">":
            data = data.astype(data.dtype.newbyteorder("="))
        n = len(keys)
        if data.shape[0] != n:
            raise ValueError(f"{n} keys for {data.shape[0]} samples")
        ckeys = (_ffi.Key * n)()
        keep = []
        for i, key in enumerate(keys):
            ckeys[i], b = make_key(key)
            keep.append(b)
        sample_shape = data.shape[1:]
        dims = (c_size_t * max(len(sample_shape), 1))(*sample_shape)
        check(
            lib.hangar_column_put_batch(
                ptr,
                ckeys,
                n,
                data.ctypes.data_as(ctypes.c_void_p),
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
        if self.iswriteable:
            self._co._bulk_exit()

    # ---- the original's early (`co.datasets`) names ------------------------------------

    def add(self, data: Any, name: Optional[KeyType] = None, **kwargs: Any) -> KeyType:
        """The original's early `dset.add(data=..., name=...)`: sets sample `name`
        (required: libhangar generates no keys here) and returns it."""
        if name is None:
            raise ValueError("add(data, name=...) needs a name: libhangar does not generate sample keys")
        self[name] = data
        return name
