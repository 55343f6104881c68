"""Remotes: the original's `repo.remote` (add, remove, list_all, fetch, fetch_data,
fetch_data_sample, push),
on object storage instead of a `hangar server`: a remote's address is a URL,
`file:///dir` or `s3://bucket/prefix` (with `endpoint=` and `region=` for S3 servers
other than AWS; credentials from the usual AWS environment variables and files)."""

from __future__ import annotations

import ctypes
from ctypes import byref
from typing import TYPE_CHECKING, Any, List, NamedTuple, Optional, Sequence, Tuple

from . import _ffi
from ._ffi import check, cstr, lib

if TYPE_CHECKING:  # pragma: no cover
    from .repository import Repository

RemoteInfo = NamedTuple("RemoteInfo", [("name", str), ("address", str)])


def _report(out: ctypes.c_void_p) -> str:
    return _ffi.take_buf(out).decode("utf-8") if out.value else ""


class Remotes:
    """The remotes of one repository (`repo.remote`)."""

    def __init__(self, repo: "Repository"):
        self._repo = repo
        self.last_report = ""
        """The text report of the last push, fetch or fetch_data (what moved, bytes)."""

    def add(self, name: str, address: str, *, endpoint: Optional[str] = None, region: Optional[str] = None) -> RemoteInfo:
        """Adds remote `name` at `address` (a URL; not contacted). ValueError for a bad
        name or URL, or when a remote of that name exists (remove it first)."""
        if not isinstance(name, str):
            raise ValueError(f"a remote name is a str, not {name!r}")
        check(lib.hangar_repo_add_remote(self._repo._ptr(), cstr(name), cstr(address), cstr(endpoint), cstr(region)))
        return RemoteInfo(name=name, address=address)

    def remove(self, name: str) -> RemoteInfo:
        """Removes remote `name` (what was fetched from it stays); KeyError if none."""
        address = {r.name: r.address for r in self.list_all()}.get(name)
        check(lib.hangar_repo_remove_remote(self._repo._ptr(), cstr(name)))
        return RemoteInfo(name=name, address=address or "")

    def list_all(self) -> List[RemoteInfo]:
        """Every remote as (name, address), sorted by name."""
        names, urls = ctypes.c_void_p(), ctypes.c_void_p()
        check(lib.hangar_repo_remotes(self._repo._ptr(), byref(names), byref(urls)))
        n, u = _ffi.take_strlist(names), _ffi.take_strlist(urls)
        return [RemoteInfo(name=a, address=b) for a, b in zip(n, u)]

    def fetch(self, remote: str, branch: str) -> str:
        """Brings the history and record tables of `branch` from `remote` (no sample
        data: see `fetch_data`); returns the tracking branch, `remote/branch`, usable
        wherever a commit is (checkout, diff, merge)."""
        out = ctypes.c_void_p()
        check(lib.hangar_repo_fetch(self._repo._ptr(), cstr(remote), cstr(branch), byref(out)))
        self.last_report = _report(out)
        return f"{remote}/{branch}"

    def fetch_data(
        self,
        remote: str,
        branch: Optional[str] = None,
        commit: Optional[str] = None,
        *,
        column_names: Optional[Sequence[str]] = None,
        max_num_bytes: Optional[int] = None,
        retrieve_all_history: bool = False,
    ) -> List[str]:
        """Fetches the sample data of `branch`'s head or of `commit` (one of them) that
        is not here yet: of `column_names` only if given, stopping before
        `max_num_bytes`, and of every ancestor commit too with `retrieve_all_history`.
        Each value's CRC and digest are checked before it is stored. Returns the
        commits whose data was fetched."""
        if branch and commit:
            raise ValueError("``branch`` and ``commit`` args cannot be set simultaneously")
        rev = commit or branch
        if not rev:
            raise ValueError("pass branch= or commit= to say which data to fetch")
        if retrieve_all_history and max_num_bytes is not None:
            raise ValueError(
                "setting the maximum number of bytes transferred and requesting all "
                "history are incompatible arguments"
            )
        if max_num_bytes is not None and (not isinstance(max_num_bytes, int) or max_num_bytes <= 0):
            raise ValueError(f"max_num_bytes is a positive int, not {max_num_bytes!r}")
        if isinstance(column_names, str):
            column_names = [column_names]
        cols = list(column_names or [])
        arr = _ffi.array_type(ctypes.c_char_p, max(len(cols), 1))(*[cstr(c) for c in cols])
        out = ctypes.c_void_p()
        check(
            lib.hangar_repo_fetch_data(
                self._repo._ptr(), cstr(remote), cstr(rev), arr, len(cols), 0, 0,
                max_num_bytes or 0, bool(retrieve_all_history), byref(out),
            )
        )
        self.last_report = _report(out)
        if retrieve_all_history:
            return self._repo.log(commit=rev, return_contents=True)["order"]
        return [self._repo._resolve(rev)]

    def fetch_data_sample(
        self,
        remote: str,
        column: str,
        samples: Any,
        branch: Optional[str] = None,
        commit: Optional[str] = None,
    ) -> str:
        """Fetches the values of exactly the samples named in `column` at `branch`'s head
        or at `commit` (one of them) that are not here yet; returns that commit.
        `samples` is a key, or a sequence of: sample keys (every subsample of a nested
        column's sample), `(sample, subsample)` pairs and `(sample, ...)` (all of the
        sample's subsamples) of a nested column. A key not in the column raises
        KeyError, with nothing fetched."""
        if branch and commit:
            raise ValueError("``branch`` and ``commit`` args cannot be set simultaneously")
        rev = commit or branch
        if not rev:
            raise ValueError("pass branch= or commit= to say which data to fetch")
        if not isinstance(samples, (list, tuple)):  # as the original: a tuple is a sequence
            samples = [samples]
        whole: List[Any] = []
        pairs: List[Tuple[Any, Any]] = []
        for s in samples:
            if isinstance(s, (list, tuple)):
                if len(s) == 1 or (len(s) == 2 and s[1] is Ellipsis):
                    whole.append(s[0])
                elif len(s) == 2:
                    pairs.append((s[0], s[1]))
                else:
                    raise ValueError(f"{s!r} is not a sample key, (sample, subsample) or (sample, ...)")
            else:
                whole.append(s)
        keys, keep = _ffi.make_keys(whole)
        sk, keep2 = _ffi.make_keys([p[0] for p in pairs])
        sub, keep3 = _ffi.make_keys([p[1] for p in pairs])
        out = ctypes.c_void_p()
        st = lib.hangar_repo_fetch_data_keys(
            self._repo._ptr(), cstr(remote), cstr(rev), cstr(column), keys, len(whole), sk, sub, len(pairs), byref(out)
        )
        del keep, keep2, keep3
        if st == _ffi.E_NOT_FOUND:
            raise KeyError(_ffi.last_message())
        check(st)
        self.last_report = _report(out)
        return self._repo._resolve(rev)

    def push(self, remote: str, branch: str, *, username: str = "", password: str = "") -> str:
        """Uploads what `remote` lacks of `branch`, then moves the remote's branch;
        returns the branch name. ValueError when the remote's branch has commits this
        one lacks (fetch, merge, push again). Credentials come from the AWS environment,
        not from `username`/`password` (kept for the original's signature)."""
        del username, password
        out = ctypes.c_void_p()
        check(lib.hangar_repo_push(self._repo._ptr(), cstr(remote), cstr(branch), byref(out)))
        self.last_report = _report(out)
        return branch

    def pull(self, remote: str, branch: str, message: str = "merge") -> str:
        """`fetch` and merge `remote/branch` into the local `branch` (a fast-forward
        when possible); returns the branch's new head."""
        out = ctypes.c_void_p()
        check(lib.hangar_repo_pull(self._repo._ptr(), cstr(remote), cstr(branch), cstr(message), byref(out)))
        self.last_report = _report(out)
        return self._repo._resolve(branch)
