"""The C ABI of libhangar (include/hangar.h) through ctypes: the library, the signatures
of the functions this package calls, and the mapping of a failed call's status to the
exception the original Hangar raised in that situation.

Only this module touches ctypes; everything above it works with Python values.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
import re
from ctypes import POINTER, c_bool, c_char_p, c_double, c_int32, c_int64, c_size_t, c_uint32, c_uint64, c_void_p
from typing import Any, List, Optional, Union

import numpy as _np

P = c_void_p

# Status codes (HANGAR_E_* in include/hangar.h).
OK = 0
E_NULL_ARG = -1
E_INVALID_ARGUMENT = -2
E_INVALID_UTF8 = -3
E_NOT_FOUND = -4
E_ALREADY_EXISTS = -5
E_LOCKED = -6
E_CONFLICT = -7
E_MERGE_CONFLICT = -8
E_CORRUPT = -9
E_UNSUPPORTED = -10
E_IO = -11
E_CLOSED = -12
E_NOTHING_TO_COMMIT = -13
E_DIRTY_STAGING = -14
E_BUFFER_TOO_SMALL = -15
E_WRONG_HANDLE = -16
E_NOT_FETCHED = -17
E_REMOTE = -18
E_PANIC = -99

KIND_NDARRAY = 1
KIND_STR = 2
KIND_BYTES = 3

CHANGE_ADDED = 1
CHANGE_DELETED = 2
CHANGE_MUTATED = 3
SCOPE_SAMPLE = 1
SCOPE_COLUMN = 2
SCOPE_METADATA = 3
CONFLICT_ADDED_IN_BOTH = 1
CONFLICT_DELETED_OURS_CHANGED_THEIRS = 2
CONFLICT_CHANGED_OURS_DELETED_THEIRS = 3
CONFLICT_CHANGED_IN_BOTH = 4

MERGE_UP_TO_DATE = 1
MERGE_FAST_FORWARD = 2
MERGE_MERGED = 3


class HangarError(RuntimeError):
    """A libhangar failure with no closer Python equivalent; `status` is its C code."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


class MergeConflictError(ValueError):
    """A merge refused because both branches changed the same things."""


class CorruptionError(HangarError):
    """Stored data failed its checksum or could not be decoded."""


# Where libhangar and the original raised different built-in exceptions for the same
# refusal, the exception is both (as numpy's AxisError is a ValueError and an IndexError):
# code written for either catches it.


class ReadOnlyError(PermissionError, TypeError):
    """A write through a reader checkout or one of its columns. The original raised
    TypeError (its reader columns have no `__setitem__`)."""


class StagingNotCleanError(PermissionError, RuntimeError, ValueError):
    """Refused because the staging area has uncommitted changes (a merge, or a writer
    checkout of another branch): commit or reset them first. The original raised
    RuntimeError from a merge and ValueError from the checkout."""


class BranchInUseError(ValueError, PermissionError):
    """`remove_branch` of the only branch or of the branch the staging area is based on.
    The original raised PermissionError."""


class UnmergedBranchError(ValueError, RuntimeError):
    """`remove_branch` of a branch whose head is on no other branch, without
    `force_delete=True`. The original raised RuntimeError."""


class NoCommitsError(RuntimeError, KeyError):
    """A branch asked of a repository whose branch has no commits yet: make a first
    commit. The original raised RuntimeError."""

    def __str__(self) -> str:
        return RuntimeError.__str__(self)  # the message, not KeyError's repr of it


class SampleKeyError(TypeError, ValueError):
    """A sample key of a type no key can have (an array, a list): TypeError as for any
    unhashable dict key; the original raised ValueError."""


class NotFetchedError(FileNotFoundError):
    """The value is on a remote and not fetched here yet (a partial clone):
    `repo.remote.fetch_data(...)` brings it. (The original raised FileNotFoundError.)"""


class Key(ctypes.Structure):
    _fields_ = [("text", c_char_p), ("number", c_uint64)]


class SampleInfo(ctypes.Structure):
    _fields_ = [("kind", c_int32), ("dtype", c_int32), ("ndim", c_size_t), ("nbytes", c_size_t)]


class View(ctypes.Structure):
    _fields_ = [
        ("data", c_void_p),
        ("nbytes", c_size_t),
        ("dtype", c_int32),
        ("ndim", c_size_t),
        ("shape", POINTER(c_size_t)),
    ]


class Value(ctypes.Structure):
    _fields_ = [
        ("kind", c_int32),
        ("dtype", c_int32),
        ("data", c_void_p),
        ("nbytes", c_size_t),
        ("shape", POINTER(c_size_t)),
        ("ndim", c_size_t),
    ]


class CommitInfo(ctypes.Structure):
    _fields_ = [
        ("id", c_char_p),
        ("n_parents", c_size_t),
        ("author", c_char_p),
        ("email", c_char_p),
        ("message", c_char_p),
        ("time_ns", c_int64),
        ("branch_heads", c_char_p),
    ]


class GcReport(ctypes.Structure):
    _fields_ = [("dry_run", c_bool)] + [
        (name, c_uint64)
        for name in (
            "files_removed",
            "files_rewritten",
            "bytes_removed",
            "files_written",
            "bytes_written",
            "files_deferred",
            "bytes_deferred",
            "files_kept",
            "live_entries",
            "dead_entries",
            "reflog_only_commits",
        )
    ]


class DiffEntry(ctypes.Structure):
    _fields_ = [
        ("change", c_int32),
        ("scope", c_int32),
        ("column", c_char_p),
        ("key", Key),
        ("has_subkey", c_bool),
        ("subkey", Key),
        ("metadata_key", c_char_p),
    ]


class Conflict(ctypes.Structure):
    _fields_ = [
        ("kind", c_int32),
        ("scope", c_int32),
        ("column", c_char_p),
        ("key", c_char_p),
        ("base", c_char_p),
        ("ours", c_char_p),
        ("theirs", c_char_p),
    ]


class DiffCounts(ctypes.Structure):
    _fields_ = [
        (name, c_size_t)
        for name in (
            "columns_added",
            "columns_deleted",
            "schemas_changed",
            "samples_added",
            "samples_deleted",
            "samples_mutated",
            "metadata_changed",
        )
    ]


def _library_path() -> str:
    """libhangar: `HANGAR_LIBRARY` if set, else the copy built into this package."""
    override = os.environ.get("HANGAR_LIBRARY")
    if override:
        return override
    here = os.path.dirname(os.path.abspath(__file__))
    found = sorted(glob.glob(os.path.join(here, "_libhangar*.so")) + glob.glob(os.path.join(here, "libhangar*.so")))
    if not found:
        raise ImportError(
            f"libhangar was not found in {here}: install the package with "
            "`pip install ./bindings/python` (it builds the library with cargo), or set "
            "HANGAR_LIBRARY to the path of a libhangar.so"
        )
    return found[0]


_SIGNATURES: dict[str, tuple[Any, list]] = {
    # name: (restype, argtypes); restype c_int32 means a hangar_status.
    "hangar_version": (c_char_p, []),
    "hangar_last_error_message": (c_int32, [c_char_p, c_size_t, POINTER(c_size_t)]),
    "hangar_last_error_conflicts": (c_int32, [POINTER(P)]),
    "hangar_buf_data": (c_void_p, [P]),
    "hangar_buf_len": (c_size_t, [P]),
    "hangar_buf_free": (None, [P]),
    "hangar_strlist_len": (c_size_t, [P]),
    "hangar_strlist_get": (c_char_p, [P, c_size_t]),
    "hangar_strlist_free": (None, [P]),
    "hangar_repo_init": (c_int32, [c_char_p, c_char_p, c_char_p, c_bool, POINTER(P)]),
    "hangar_repo_open": (c_int32, [c_char_p, POINTER(P)]),
    "hangar_repo_free": (None, [P]),
    "hangar_repo_force_release_writer_lock": (c_int32, [P, POINTER(c_bool)]),
    "hangar_repo_writer_lock_held": (c_int32, [P, POINTER(c_bool)]),
    "hangar_repo_summary": (c_int32, [P, c_char_p, POINTER(P)]),
    "hangar_repo_log": (c_int32, [P, c_char_p, POINTER(P)]),
    "hangar_repo_log_entries": (c_int32, [P, c_char_p, POINTER(P)]),
    "hangar_log_len": (c_int32, [P, POINTER(c_size_t)]),
    "hangar_log_get": (c_int32, [P, c_size_t, POINTER(CommitInfo)]),
    "hangar_log_parent": (c_int32, [P, c_size_t, c_size_t, POINTER(c_char_p)]),
    "hangar_log_free": (None, [P]),
    "hangar_repo_disk_usage": (c_int32, [P, POINTER(c_uint64)]),
    "hangar_repo_format_version": (c_int32, [P, POINTER(c_uint32)]),
    "hangar_repo_set_page_cache_budget": (c_int32, [P, c_uint64]),
    "hangar_repo_page_cache_usage": (c_int32, [P, POINTER(c_uint64), POINTER(c_uint64)]),
    "hangar_repo_verify": (c_int32, [P, POINTER(c_bool), POINTER(P)]),
    "hangar_repo_gc": (c_int32, [P, c_char_p, c_bool, c_double, POINTER(GcReport), POINTER(P)]),
    "hangar_repo_resolve": (c_int32, [P, c_char_p, c_char_p, c_size_t]),
    "hangar_repo_checkout": (c_int32, [P, c_char_p, POINTER(P)]),
    "hangar_repo_checkout_commit": (c_int32, [P, c_char_p, POINTER(P)]),
    "hangar_repo_checkout_writer": (c_int32, [P, c_char_p, POINTER(P)]),
    "hangar_repo_checkout_writer_new_branch": (c_int32, [P, c_char_p, c_char_p, POINTER(P)]),
    "hangar_repo_create_branch": (c_int32, [P, c_char_p, c_char_p]),
    "hangar_repo_branches": (c_int32, [P, POINTER(P)]),
    "hangar_repo_branch_head": (c_int32, [P, c_char_p, c_char_p, c_size_t]),
    "hangar_repo_remove_branch": (c_int32, [P, c_char_p, c_bool]),
    "hangar_repo_merge": (c_int32, [P, c_char_p, c_char_p, c_char_p, POINTER(c_int32), c_char_p, c_size_t]),
    "hangar_repo_diff": (c_int32, [P, c_char_p, c_char_p, POINTER(P)]),
    "hangar_diff_get_counts": (c_int32, [P, POINTER(DiffCounts)]),
    "hangar_diff_text": (c_int32, [P, POINTER(P)]),
    "hangar_diff_len": (c_int32, [P, POINTER(c_size_t)]),
    "hangar_diff_get_entry": (c_int32, [P, c_size_t, POINTER(DiffEntry)]),
    "hangar_repo_merge_conflicts": (c_int32, [P, c_char_p, c_char_p, POINTER(P)]),
    "hangar_conflicts_get": (c_int32, [P, c_size_t, POINTER(Conflict)]),
    "hangar_diff_free": (None, [P]),
    "hangar_conflicts_text": (c_int32, [P, POINTER(P)]),
    "hangar_conflicts_len": (c_int32, [P, POINTER(c_size_t)]),
    "hangar_conflicts_free": (None, [P]),
    "hangar_reader_close": (c_int32, [P]),
    "hangar_reader_free": (None, [P]),
    "hangar_reader_commit": (c_int32, [P, c_char_p, c_size_t]),
    "hangar_reader_columns": (c_int32, [P, POINTER(P)]),
    "hangar_reader_column": (c_int32, [P, c_char_p, POINTER(P)]),
    "hangar_reader_metadata_get": (c_int32, [P, c_char_p, POINTER(P)]),
    "hangar_reader_metadata_keys": (c_int32, [P, POINTER(P)]),
    "hangar_writer_close": (c_int32, [P]),
    "hangar_writer_free": (None, [P]),
    "hangar_writer_branch": (c_int32, [P, c_char_p, c_size_t]),
    "hangar_writer_head": (c_int32, [P, c_char_p, c_size_t]),
    "hangar_writer_columns": (c_int32, [P, POINTER(P)]),
    "hangar_writer_column": (c_int32, [P, c_char_p, POINTER(P)]),
    "hangar_ndarray_spec_new": (c_int32, [c_int32, POINTER(c_size_t), c_size_t, POINTER(P)]),
    "hangar_ndarray_spec_variable_shape": (c_int32, [P, c_bool]),
    "hangar_ndarray_spec_contains_subsamples": (c_int32, [P, c_bool]),
    "hangar_ndarray_spec_compression": (c_int32, [P, c_char_p]),
    "hangar_ndarray_spec_free": (None, [P]),
    "hangar_writer_add_ndarray_column": (c_int32, [P, c_char_p, P, POINTER(P)]),
    "hangar_writer_add_text_column": (c_int32, [P, c_char_p, c_int32, c_bool, POINTER(P)]),
    "hangar_writer_add_text_column_compressed": (c_int32, [P, c_char_p, c_int32, c_bool, c_char_p, POINTER(P)]),
    "hangar_writer_delete_column": (c_int32, [P, c_char_p]),
    "hangar_writer_metadata_set": (c_int32, [P, c_char_p, c_char_p]),
    "hangar_writer_metadata_get": (c_int32, [P, c_char_p, POINTER(P)]),
    "hangar_writer_metadata_delete": (c_int32, [P, c_char_p]),
    "hangar_writer_metadata_keys": (c_int32, [P, POINTER(P)]),
    "hangar_writer_commit": (c_int32, [P, c_char_p, c_char_p, c_size_t]),
    "hangar_writer_bulk_begin": (c_int32, [P]),
    "hangar_writer_bulk_end": (c_int32, [P]),
    "hangar_writer_status": (c_int32, [P, POINTER(c_bool), POINTER(P)]),
    "hangar_writer_reset": (c_int32, [P]),
    "hangar_writer_diff_staged": (c_int32, [P, POINTER(P)]),
    "hangar_writer_merge": (c_int32, [P, c_char_p, c_char_p, POINTER(c_int32), c_char_p, c_size_t]),
    "hangar_column_free": (None, [P]),
    "hangar_column_name": (c_int32, [P, c_char_p, c_size_t]),
    "hangar_column_compression": (c_int32, [P, c_char_p, c_size_t]),
    "hangar_column_schema": (c_int32, [P, POINTER(c_int32), POINTER(c_bool), POINTER(c_bool), POINTER(c_int32)]),
    "hangar_column_shape": (c_int32, [P, POINTER(c_size_t), c_size_t, POINTER(c_size_t)]),
    "hangar_column_len": (c_int32, [P, POINTER(c_size_t)]),
    "hangar_column_num_subsamples": (c_int32, [P, POINTER(c_size_t)]),
    "hangar_column_contains": (c_int32, [P, Key, POINTER(Key), POINTER(c_bool)]),
    "hangar_column_put": (
        c_int32,
        [P, Key, POINTER(Key), c_void_p, c_size_t, c_int32, POINTER(c_size_t), c_size_t],
    ),
    "hangar_column_put_text": (c_int32, [P, Key, POINTER(Key), c_void_p, c_size_t]),
    "hangar_column_info": (c_int32, [P, Key, POINTER(Key), POINTER(SampleInfo), POINTER(c_size_t), c_size_t]),
    "hangar_column_get": (c_int32, [P, Key, POINTER(Key), c_void_p, c_size_t, POINTER(c_size_t)]),
    "hangar_column_view": (c_int32, [P, Key, POINTER(Key), POINTER(View)]),
    "hangar_column_delete": (c_int32, [P, Key, POINTER(Key)]),
    "hangar_column_put_batch": (
        c_int32,
        [P, POINTER(Key), c_size_t, c_void_p, c_size_t, c_int32, POINTER(c_size_t), c_size_t],
    ),
    "hangar_column_get_batch": (c_int32, [P, POINTER(Key), c_size_t, c_void_p, c_size_t]),
    "hangar_column_update": (c_int32, [P, POINTER(Key), POINTER(Key), POINTER(Value), c_size_t]),
    "hangar_column_append": (c_int32, [P, POINTER(Key), POINTER(Value), POINTER(P)]),
    "hangar_column_pop": (
        c_int32,
        [P, Key, POINTER(Key), POINTER(SampleInfo), POINTER(c_size_t), c_size_t, POINTER(P)],
    ),
    "hangar_column_keys": (c_int32, [P, POINTER(P)]),
    "hangar_column_subkeys": (c_int32, [P, Key, POINTER(P)]),
    "hangar_key_iter_len": (c_int32, [P, POINTER(c_size_t)]),
    "hangar_key_iter_next": (c_int32, [P, POINTER(Key), POINTER(c_bool)]),
    "hangar_key_iter_next_batch": (c_int32, [P, POINTER(Key), c_size_t, POINTER(c_size_t)]),
    "hangar_key_iter_free": (None, [P]),
    "hangar_repo_add_remote": (c_int32, [P, c_char_p, c_char_p, c_char_p, c_char_p]),
    "hangar_repo_remove_remote": (c_int32, [P, c_char_p]),
    "hangar_repo_remotes": (c_int32, [P, POINTER(P), POINTER(P)]),
    "hangar_repo_push": (c_int32, [P, c_char_p, c_char_p, POINTER(P)]),
    "hangar_repo_fetch": (c_int32, [P, c_char_p, c_char_p, POINTER(P)]),
    "hangar_repo_pull": (c_int32, [P, c_char_p, c_char_p, c_char_p, POINTER(P)]),
    "hangar_repo_fetch_data": (
        c_int32,
        [P, c_char_p, c_char_p, POINTER(c_char_p), c_size_t, c_uint64, c_uint64, c_uint64, c_bool, POINTER(P)],
    ),
    "hangar_repo_fetch_data_keys": (
        c_int32,
        [P, c_char_p, c_char_p, c_char_p, POINTER(Key), c_size_t, POINTER(Key), POINTER(Key), c_size_t, POINTER(P)],
    ),
    "hangar_repo_clone": (c_int32, [c_char_p, c_char_p, c_char_p, c_char_p, c_char_p, c_char_p, c_bool, POINTER(P)]),
    "hangar_repo_open_remote": (c_int32, [c_char_p, c_char_p, c_char_p, c_char_p, c_uint64, POINTER(P)]),
    "hangar_repo_not_fetched": (c_int32, [P, c_char_p, c_char_p, POINTER(c_uint64)]),
    "hangar_repo_open_remote_cache": (c_int32, [c_char_p, c_uint64, POINTER(P)]),
    "hangar_repo_stream_stats": (c_int32, [P, POINTER(c_uint64), POINTER(c_uint64), POINTER(c_uint64)]),
}


def _load() -> ctypes.CDLL:
    lib = ctypes.CDLL(_library_path())
    for name, (res, args) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    return lib


lib = _load()


@functools.lru_cache(maxsize=1024)
def array_type(item: Any, n: int) -> Any:
    """The ctypes array type `item * n`, made once and kept. ctypes keeps an array type
    only while something refers to it, and each type made again is a class, which lives
    in a reference cycle: garbage for the collector, whose passes cost a DataLoader worker
    or a training loop a walk over every object of the process."""
    return item * n


def string_buffer(size: int) -> Any:
    """`ctypes.create_string_buffer(size)` over a kept array type (see `array_type`)."""
    return array_type(ctypes.c_char, size)()


def last_message() -> str:
    needed = c_size_t(0)
    lib.hangar_last_error_message(None, 0, ctypes.byref(needed))
    buf = string_buffer(max(needed.value, 1))
    lib.hangar_last_error_message(buf, len(buf), None)
    return buf.value.decode("utf-8", "replace")


# The original's exception for each failure (KeyError is raised by the callers that know
# a key was asked for: a missing column or branch is a ValueError there too).
_EXCEPTIONS = {
    E_NULL_ARG: ValueError,
    E_INVALID_ARGUMENT: ValueError,
    E_INVALID_UTF8: ValueError,
    E_NOT_FOUND: KeyError,
    E_ALREADY_EXISTS: ValueError,
    E_LOCKED: PermissionError,
    E_CLOSED: PermissionError,
    E_CONFLICT: ValueError,
    E_MERGE_CONFLICT: MergeConflictError,
    E_CORRUPT: CorruptionError,
    E_UNSUPPORTED: TypeError,
    E_IO: OSError,
    E_NOTHING_TO_COMMIT: RuntimeError,
    E_DIRTY_STAGING: StagingNotCleanError,
    E_REMOTE: ConnectionError,
    E_NOT_FETCHED: NotFetchedError,
}


def error_for(status: int, what: str = "") -> Exception:
    message = last_message() or f"libhangar call failed with status {status}"
    if what:
        message = f"{what}: {message}"
    cls = _EXCEPTIONS.get(status)
    if cls is None:
        return HangarError(message, status)
    if cls is KeyError:
        return KeyError(message)
    err = cls(message)
    return err


def check(status: int, what: str = "") -> None:
    """Raises the exception for a failed call."""
    if status != OK:
        raise error_for(status, what)


def cstr(s: Optional[str]) -> Optional[bytes]:
    if s is None:
        return None
    if not isinstance(s, str):
        raise TypeError(f"expected a str, got {type(s).__name__}")
    if "\x00" in s:
        raise ValueError(f"{s!r} contains a NUL character")
    return s.encode("utf-8")


# A sample key as libhangar hands it out (`keys()`, `append`), and as it is accepted:
# numpy integers too (`col[np.int64(3)]`, keys from `np.arange`).
KeyType = Union[str, int]
KeyArg = Union[str, int, "_np.integer[Any]"]

# The engine's rule for a str sample key (names.rs `is_valid_key`), checked in Python
# where a key is buffered before any C call sees it. `\Z`: `$` would allow a final "\n".
valid_text_key = re.compile(r"[A-Za-z0-9_.\-]{1,64}\Z", re.ASCII).match


def plain_key(k: Any) -> Any:
    """A numpy integer key as the int it is (the form columns give keys back in); any
    other key as it is."""
    return int(k) if isinstance(k, _np.integer) else k


def make_key(k: Any) -> tuple[Key, Optional[bytes]]:
    """A `hangar_key` for `k` (a `KeyArg`; anything else is refused with ValueError), and
    the bytes it borrows (keep them alive for the call)."""
    # The common cases first, by exact type (this runs once per sample read or written).
    t = type(k)
    if t is str:
        if "\x00" in k:
            raise ValueError(f"sample key {k!r} contains a NUL character")
        b = k.encode("utf-8")
        return Key(b, 0), b
    if t is int and 0 <= k < 1 << 64:
        return Key(None, k), None
    if isinstance(k, bool):
        raise ValueError(f"sample key {k!r} is not suitable: a key is a str or a non-negative int, not a bool")
    if isinstance(k, int):
        if k < 0:
            raise ValueError(f"sample key {k} is not suitable: integer keys are non-negative")
        if k >= 1 << 64:
            raise ValueError(f"sample key {k} is not suitable: integer keys fit in 64 bits")
        return Key(None, k), None
    if isinstance(k, _np.integer):
        return make_key(int(k))
    if isinstance(k, str):
        b = cstr(k)
        return Key(b, 0), b
    if getattr(type(k), "__hash__", None) is None:
        raise SampleKeyError(f"unhashable type: {type(k).__name__!r}: a sample key is a str or a non-negative int")
    raise ValueError(f"sample key {k!r} is not suitable: a key is a str or a non-negative int, not {type(k).__name__}")


_KEY_DTYPE = _np.dtype([("text", _np.uintp), ("number", _np.uint64)])
assert _KEY_DTYPE.itemsize == ctypes.sizeof(Key)


def make_keys(keys: Any) -> tuple[Any, list]:
    """A C array of `hangar_key` for many keys, and what it borrows (keep both alive for
    the call). Integer keys (a list of ints or an integer numpy array: the batch case)
    are converted in one numpy step, without a Python call per key."""
    n = len(keys)
    arr = None
    if isinstance(keys, _np.ndarray) and keys.dtype.kind in "iu":
        arr = keys
    elif n and type(keys[0]) is int and all(type(k) is int for k in keys):
        arr = _np.fromiter(keys, dtype=_np.int64, count=n) if max(keys) < 1 << 63 else None
    if arr is not None and (arr.size == 0 or arr.min() >= 0):
        packed = _np.zeros(n, dtype=_KEY_DTYPE)
        packed["number"] = arr
        return ctypes.cast(packed.ctypes.data, POINTER(Key)), [packed]
    if n and type(keys[0]) is str and all(type(k) is str for k in keys):
        # All str (the bulk session's buffer, string-keyed datasets): one buffer of the
        # NUL-terminated keys, and their addresses computed in one numpy step.
        encoded = [k.encode("utf-8") for k in keys]
        joined = b"\0".join(encoded) + b"\0"
        if joined.count(0) == n:  # no key holds a NUL of its own
            ends = _np.cumsum(_np.fromiter(map(len, encoded), dtype=_np.uint64, count=n) + 1)
            buf = _np.frombuffer(joined, dtype=_np.uint8)  # the bytes' own memory, read only
            packed = _np.zeros(n, dtype=_KEY_DTYPE)
            packed["text"][1:] = ends[:-1]  # key 0 starts at offset 0
            packed["text"] += buf.ctypes.data
            return ctypes.cast(packed.ctypes.data, POINTER(Key)), [packed, buf, joined]
    out = array_type(Key, n)()
    keep = []
    for i, k in enumerate(keys):
        out[i], b = make_key(k)
        keep.append(b)
    return out, keep


#: Keys read from an iterator per C call.
_KEY_BATCH = 4096


def drain_keys(it: Any) -> List[KeyType]:
    """Every key left in a `hangar_key_iter`, read `_KEY_BATCH` per C call (a call costs
    more than a key: integer keys are converted in one numpy step, string keys copied
    out before the next call frees their text). Does not free the iterator."""
    batch = array_type(Key, _KEY_BATCH)()
    view = _np.frombuffer(memoryview(batch), dtype=_KEY_DTYPE)
    got = c_size_t()
    out: List[KeyType] = []
    while True:
        check(lib.hangar_key_iter_next_batch(it, batch, _KEY_BATCH, ctypes.byref(got)))
        n = got.value
        if n == 0:
            return out
        texts = view["text"][:n]
        numbers = view["number"][:n].tolist()
        if not texts.any():
            out.extend(numbers)
            continue
        for t, number in zip(texts.tolist(), numbers):
            out.append(ctypes.string_at(t).decode("utf-8") if t else number)


def key_value(k: Key) -> KeyType:
    """The Python value of a key handed out by libhangar (copied)."""
    if k.text is not None:
        return k.text.decode("utf-8")
    return int(k.number)


def take_buf(buf: c_void_p) -> bytes:
    """The bytes of a `hangar_buf`, copied, and the buffer freed."""
    try:
        n = lib.hangar_buf_len(buf)
        data = lib.hangar_buf_data(buf)
        return ctypes.string_at(data, n) if n else b""
    finally:
        lib.hangar_buf_free(buf)


def take_strlist(lst: c_void_p) -> list[str]:
    """The strings of a `hangar_strlist`, copied, and the list freed."""
    try:
        n = lib.hangar_strlist_len(lst)
        return [lib.hangar_strlist_get(lst, i).decode("utf-8") for i in range(n)]
    finally:
        lib.hangar_strlist_free(lst)


def fixed_text(fn, *args, size: int = 256) -> str:
    """Calls a function writing a NUL-terminated string into a caller's buffer."""
    buf = string_buffer(size)
    check(fn(*args, buf, size))
    return buf.value.decode("utf-8")


def version() -> str:
    return lib.hangar_version().decode("utf-8")
