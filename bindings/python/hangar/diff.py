"""Diffs the way the original's `co.diff` and `repo.diff` return them: named tuples of
added / deleted / mutated columns and samples, and the conflicts a merge would meet.

    d = co.diff.branch("dev")          # DiffAndConflicts(diff=DiffOut(...), conflict=Conflicts(...))
    d.diff.added.samples               # (FlatColumnDataKey(column='images', sample=3), ...)
    d.conflict.conflict                # True when merging "dev" would conflict

As the original: when this checkout's commit is an ancestor of the other (a fast-forward),
`diff` holds what the other adds to it; otherwise `diff` holds what this commit changed
relative to the other, and `conflict` what merging the other in would conflict on.
"""

from __future__ import annotations

import ctypes
import re
from ctypes import byref, c_size_t
from typing import Any, Dict, List, NamedTuple, Optional, Tuple, Union

from . import _ffi
from ._ffi import KeyType, check, cstr, lib


class ColumnSchemaKey(NamedTuple):
    """A column whose schema was added, deleted or changed. (The original also named the
    column's layout here; libhangar's diff names the column only: `layout` is None.)"""

    column: str
    layout: Optional[str] = None


class FlatColumnDataKey(NamedTuple):
    """A sample of a flat column."""

    column: str
    sample: KeyType


class NestedColumnDataKey(NamedTuple):
    """A subsample of a nested column."""

    column: str
    sample: KeyType
    subsample: KeyType


class Changes(NamedTuple):
    """One kind of change: `schema` maps each column (`ColumnSchemaKey`) to None,
    `samples` lists the samples, and `metadata` (libhangar's addition: the original's
    diff left metadata out) the metadata keys."""

    schema: Dict[ColumnSchemaKey, Any]
    samples: Tuple[Union[FlatColumnDataKey, NestedColumnDataKey], ...]
    metadata: Tuple[str, ...] = ()


class DiffOut(NamedTuple):
    added: Changes
    deleted: Changes
    mutated: Changes


class Conflicts(NamedTuple):
    """The four kinds of merge conflict, each a `Changes`: `t1` added in both with
    different values, `t21` deleted here and changed there, `t22` changed here and
    deleted there, `t3` changed in both to different values; `conflict` is True when any
    exists. (A conflicting sample's key is given as printed, a str.)"""

    t1: Changes
    t21: Changes
    t22: Changes
    t3: Changes
    conflict: bool


class DiffAndConflicts(NamedTuple):
    diff: DiffOut
    conflict: Conflicts


def _empty() -> Changes:
    return Changes({}, (), ())


def _changes(buckets: Dict[int, Tuple[dict, list, list]], code: int) -> Changes:
    schema, samples, metadata = buckets[code]
    return Changes(schema, tuple(samples), tuple(metadata))


def _add(bucket: Tuple[dict, list, list], scope: int, column: Optional[bytes], keys: List[KeyType], meta: Optional[bytes] = None) -> None:
    """Files one change or conflict: a column's schema, a (sub)sample or a metadata key."""
    schema, samples, metadata = bucket
    # The C ABI gives a column name for column and sample changes, a key for metadata.
    name = (column or b"").decode("utf-8")
    if scope == _ffi.SCOPE_COLUMN:
        schema[ColumnSchemaKey(name)] = None
    elif scope == _ffi.SCOPE_SAMPLE:
        samples.append(NestedColumnDataKey(name, *keys) if len(keys) == 2 else FlatColumnDataKey(name, keys[0]))
    else:
        metadata.append((meta or b"").decode("utf-8"))


def read_diff(handle: ctypes.c_void_p) -> DiffOut:
    """The entries of a C `hangar_diff` as a `DiffOut`."""
    n = c_size_t()
    check(lib.hangar_diff_len(handle, byref(n)))
    codes = (_ffi.CHANGE_ADDED, _ffi.CHANGE_DELETED, _ffi.CHANGE_MUTATED)
    buckets: Dict[int, Tuple[dict, list, list]] = {c: ({}, [], []) for c in codes}
    for i in range(n.value):
        e = _ffi.DiffEntry()
        check(lib.hangar_diff_get_entry(handle, i, byref(e)))
        if e.scope == _ffi.SCOPE_SAMPLE:
            keys = [_ffi.key_value(e.key)] + ([_ffi.key_value(e.subkey)] if e.has_subkey else [])
            _add(buckets[e.change], e.scope, e.column, keys)
        else:
            _add(buckets[e.change], e.scope, e.column, [], e.metadata_key)
    return DiffOut(*(_changes(buckets, c) for c in codes))


def _diff_of(repo, a: str, b: str) -> DiffOut:
    d = ctypes.c_void_p()
    check(lib.hangar_repo_diff(repo._ptr(), cstr(a), cstr(b), byref(d)))
    try:
        return read_diff(d)
    finally:
        lib.hangar_diff_free(d)


def _conflicts(repo, into: str, other: str) -> Conflicts:
    report = ctypes.c_void_p()
    check(lib.hangar_repo_merge_conflicts(repo._ptr(), cstr(into), cstr(other), byref(report)))
    kinds = (
        _ffi.CONFLICT_ADDED_IN_BOTH,
        _ffi.CONFLICT_DELETED_OURS_CHANGED_THEIRS,
        _ffi.CONFLICT_CHANGED_OURS_DELETED_THEIRS,
        _ffi.CONFLICT_CHANGED_IN_BOTH,
    )
    buckets: Dict[int, Tuple[dict, list, list]] = {k: ({}, [], []) for k in kinds}
    try:
        n = c_size_t()
        check(lib.hangar_conflicts_len(report, byref(n)))
        for i in range(n.value):
            c = _ffi.Conflict()
            check(lib.hangar_conflicts_get(report, i, byref(c)))
            if c.scope == _ffi.SCOPE_SAMPLE:
                _add(buckets[c.kind], c.scope, c.column, _parse_printed_keys(c.key.decode("utf-8")))
            else:
                _add(buckets[c.kind], c.scope, c.column, [], c.key)
    finally:
        lib.hangar_conflicts_free(report)
    t1, t21, t22, t3 = parts = tuple(_changes(buckets, k) for k in kinds)
    return Conflicts(t1, t21, t22, t3, conflict=any(p.schema or p.samples or p.metadata for p in parts))


_ESCAPE = re.compile(r"\\(u\{([0-9a-fA-F]+)\}|.)")


def _parse_printed_keys(text: str) -> List[KeyType]:
    """The keys of a conflict as libhangar prints them: `7`, `"name"` (a str key, quoted
    and escaped as Rust's `{:?}` does) or `sample/subsample` of those."""
    out: List[KeyType] = []
    i = 0
    while i < len(text):
        if text[i] == '"':
            j = i + 1
            while j < len(text) and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            raw = text[i + 1 : j]
            simple = {"n": "\n", "t": "\t", "r": "\r", "0": "\0"}
            out.append(_ESCAPE.sub(lambda m: chr(int(m.group(2), 16)) if m.group(2) else simple.get(m.group(1), m.group(1)), raw))
            i = j + 1
        else:
            j = i
            while j < len(text) and text[j].isdigit():
                j += 1
            out.append(int(text[i:j]))
            i = j
        if i < len(text) and text[i] == "/":
            i += 1
    return out


def resolve(repo, revision: str, what: str) -> str:
    """The full commit id of a branch, commit id or unique prefix (ValueError if none)."""
    buf = _ffi.string_buffer(80)
    st = lib.hangar_repo_resolve(repo._ptr(), cstr(revision), buf, 80)
    if st in (_ffi.E_NOT_FOUND, _ffi.E_INVALID_ARGUMENT):
        raise ValueError(f"{what} {revision!r} is not a branch or commit of this repository")
    check(st)
    return buf.value.decode()


def _ancestors(repo, commit: str) -> List[str]:
    log = ctypes.c_void_p()
    check(lib.hangar_repo_log_entries(repo._ptr(), cstr(commit), byref(log)))
    try:
        n = c_size_t()
        check(lib.hangar_log_len(log, byref(n)))
        out = []
        for i in range(n.value):
            info = _ffi.CommitInfo()
            check(lib.hangar_log_get(log, i, byref(info)))
            out.append(info.id.decode())
        return out
    finally:
        lib.hangar_log_free(log)


def diff_and_conflicts(repo, master: str, dev: str) -> DiffAndConflicts:
    """The original's diff of `dev` against `master` (full commit ids)."""
    no_conflicts = Conflicts(_empty(), _empty(), _empty(), _empty(), False)
    if master == dev or master in _ancestors(repo, dev):
        return DiffAndConflicts(_diff_of(repo, master, dev), no_conflicts)
    return DiffAndConflicts(_diff_of(repo, dev, master), _conflicts(repo, master, dev))


class ReaderUserDiff:
    """`co.diff` of a checkout: compares its commit with a branch or another commit."""

    def __init__(self, checkout):
        self._co = checkout

    def _head(self) -> str:
        head = self._co.commit_hash
        if not head:
            raise ValueError("this branch has no commit yet: there is nothing to compare")
        return head

    def commit(self, dev_commit_hash: str) -> DiffAndConflicts:
        """The diff between this checkout's commit and commit `dev_commit_hash`."""
        self._co._check_open()
        repo = self._co._repo
        dev = resolve(repo, dev_commit_hash, "commit")
        return diff_and_conflicts(repo, self._head(), dev)

    def branch(self, dev_branch: str) -> DiffAndConflicts:
        """The diff between this checkout's commit and the head of branch `dev_branch`."""
        self._co._check_open()
        repo = self._co._repo
        if dev_branch not in repo.list_branches():
            raise ValueError(f"branch {dev_branch!r} does not exist")
        return diff_and_conflicts(repo, self._head(), resolve(repo, dev_branch, "branch"))


class WriterUserDiff(ReaderUserDiff):
    """`co.diff` of the writer checkout: adds the staging area's diff and status."""

    def staged(self) -> DiffAndConflicts:
        """What the staging area changes relative to the branch's head commit."""
        d = ctypes.c_void_p()
        check(lib.hangar_writer_diff_staged(self._co._ptr(), byref(d)))
        try:
            diff = read_diff(d)
        finally:
            lib.hangar_diff_free(d)
        return DiffAndConflicts(diff, Conflicts(_empty(), _empty(), _empty(), _empty(), False))

    def status(self) -> str:
        """'CLEAN' when nothing is staged, else 'DIRTY'."""
        return self._co.diff_status()
