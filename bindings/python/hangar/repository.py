"""The repository: where every interaction begins (the original's `hangar.Repository`)."""

from __future__ import annotations

import ctypes
import os
import shutil
import warnings
from ctypes import byref, c_bool, c_size_t, c_uint32, c_uint64
from typing import Any, Dict, List, Literal, Optional, Tuple, Union, overload

from . import _ffi
from ._ffi import check, cstr, lib
from .diff import DiffAndConflicts, diff_and_conflicts, resolve
from .checkout import ReaderCheckout, WriterCheckout
from .columns import _Handle
from .remotes import Remotes


def _human(nbytes: int) -> str:
    """`nbytes` as the original's `format_bytes` wrote it (and `summary()` does):
    decimal units, two decimals, `kB` to `PB` (`1234` -> `'1.23 kB'`)."""
    size = float(nbytes)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000:
            return f"{size:.2f} {unit}"
        size /= 1000
    return f"{size:.2f} PB"


class Repository:
    """A hangar repository at `path` (the directory holding `.hangar`).

    A path holding no repository is accepted (`initialized` is False until `init`),
    as the original does, with a UserWarning unless `exists=False` says none is expected.
    """

    def __init__(self, path: Union[str, "os.PathLike[str]"], exists: bool = True):
        self._path = os.path.abspath(os.fspath(path))
        self._handle: Optional[_Handle] = None
        self._streaming = False
        self._stream_cache_bytes = 0
        if os.path.isdir(os.path.join(self._path, ".hangar")):
            self._open()
        elif exists:
            warnings.warn(
                f"No repository exists at {self._path}; call repo.init(user_name=..., "
                "user_email=...) to make one",
                UserWarning,
                stacklevel=2,
            )

    def _open(self) -> None:
        out = ctypes.c_void_p()
        check(lib.hangar_repo_open(cstr(self._path), byref(out)), f"open {self._path}")
        self._handle = _Handle(out, lib.hangar_repo_free)

    def _ptr(self):
        if self._handle is None:
            raise RuntimeError(
                f"Repository at {self._path} has not been initialized: call "
                "repo.init(user_name=..., user_email=...) first"
            )
        return self._handle.ptr

    @property
    def path(self) -> str:
        """The repository's directory (`RuntimeError` before `init`, as the original)."""
        self._ptr()
        return self._path

    @property
    def initialized(self) -> bool:
        return self._handle is not None

    @property
    def version(self) -> str:
        """The libhangar version (`RuntimeError` before `init`, as the original)."""
        self._ptr()
        return _ffi.version()

    @property
    def format_version(self) -> int:
        out = c_uint32()
        check(lib.hangar_repo_format_version(self._ptr(), byref(out)))
        return out.value

    def init(self, user_name: str, user_email: str, remove_old: bool = False) -> str:
        """Creates the repository (with `remove_old`, over an existing one); returns
        the path of its `.hangar` directory."""
        os.makedirs(self._path, exist_ok=True)
        out = ctypes.c_void_p()
        check(lib.hangar_repo_init(cstr(self._path), cstr(user_name), cstr(user_email), bool(remove_old), byref(out)))
        self._handle = _Handle(out, lib.hangar_repo_free)
        return os.path.join(self._path, ".hangar")

    @property
    def remote(self) -> Remotes:
        """The remotes: add, remove, list_all, fetch, fetch_data, push, pull."""
        self._ptr()
        if getattr(self, "_remotes", None) is None:
            self._remotes = Remotes(self)
        return self._remotes

    def clone(
        self,
        user_name: str,
        user_email: str,
        remote_address: str,
        *,
        remove_old: bool = False,
        data: bool = False,
        endpoint: Optional[str] = None,
        region: Optional[str] = None,
    ) -> str:
        """Clones the repository at `remote_address` (`file:///dir` or
        `s3://bucket/prefix`) into this path, adding it as remote `origin`: its history
        and record tables, and with `data=True` every value of its history too (else
        `remote.fetch_data` brings values when wanted). With `remove_old`, a repository
        already here is deleted first. Returns the checked-out branch, "master"."""
        hangar_dir = os.path.join(self._path, ".hangar")
        if os.path.isdir(hangar_dir):
            if not remove_old:
                raise ValueError(
                    f"{self._path} already holds a repository; pass remove_old=True to replace it"
                )
            self._handle = None
            shutil.rmtree(hangar_dir)
        os.makedirs(self._path, exist_ok=True)
        out = ctypes.c_void_p()
        check(
            lib.hangar_repo_clone(
                cstr(remote_address), cstr(endpoint), cstr(region), cstr(self._path),
                cstr(user_name), cstr(user_email), bool(data), byref(out),
            )
        )
        self._handle = _Handle(out, lib.hangar_repo_free)
        return "master"

    @classmethod
    def open_remote(
        cls,
        url: str,
        cache_dir: Union[str, "os.PathLike[str]"],
        *,
        endpoint: Optional[str] = None,
        region: Optional[str] = None,
        cache_bytes: int = 0,
    ) -> "Repository":
        """The repository at `url` for reading without a clone: history and record
        tables kept in `cache_dir`, each value fetched the first time a checkout reads
        it and kept in a memory cache of `cache_bytes` (0: 1 GiB). For a training job on
        another machine: it reads exactly the samples it touches."""
        cache = os.path.abspath(os.fspath(cache_dir))
        out = ctypes.c_void_p()
        check(lib.hangar_repo_open_remote(cstr(url), cstr(endpoint), cstr(region), cstr(cache), int(cache_bytes), byref(out)))
        return cls._streaming_repo(cache, out, int(cache_bytes))

    @classmethod
    def _open_remote_cache(cls, cache_dir: str, cache_bytes: int) -> "Repository":
        """The directory `open_remote` made, read through its remote without fetching
        or writing (a dataloader worker's view of its main process's repository)."""
        out = ctypes.c_void_p()
        check(lib.hangar_repo_open_remote_cache(cstr(cache_dir), int(cache_bytes), byref(out)))
        return cls._streaming_repo(cache_dir, out, cache_bytes)

    def _reopen_args(self) -> Tuple[str, Optional[int]]:
        """What another process needs to open this repository again (`_reopen`): its
        directory and, for one from `open_remote`, the size of its value cache."""
        stream = self._stream_cache_bytes if getattr(self, "_streaming", False) else None
        return self.path, stream

    @classmethod
    def _reopen(cls, path: str, stream_cache_bytes: Optional[int]) -> "Repository":
        """The repository `_reopen_args` describes, opened by this process (a pickled
        column's, a dataloader worker's): a handle never crosses processes."""
        if not os.path.isdir(os.path.join(path, ".hangar")):
            raise FileNotFoundError(
                f"no repository at {path}: a pickled column (or a dataloader's worker) opens "
                "the repository it came from again, and it has been moved or removed since"
            )
        if stream_cache_bytes is None:
            return cls(path)
        return cls._open_remote_cache(path, stream_cache_bytes)

    @classmethod
    def _streaming_repo(cls, cache: str, out: ctypes.c_void_p, cache_bytes: int) -> "Repository":
        repo = cls.__new__(cls)
        repo._path = cache
        repo._handle = _Handle(out, lib.hangar_repo_free)
        repo._streaming = True
        repo._stream_cache_bytes = cache_bytes
        return repo

    def stream_stats(self) -> Dict[str, int]:
        """For a repository from `open_remote`: value reads served by the cache
        (`hits`), fetched (`misses`) and the bytes received (`bytes_fetched`)."""
        hits, misses, nbytes = c_uint64(), c_uint64(), c_uint64()
        check(lib.hangar_repo_stream_stats(self._ptr(), byref(hits), byref(misses), byref(nbytes)))
        return {"hits": hits.value, "misses": misses.value, "bytes_fetched": nbytes.value}

    def _resolve(self, revision: str) -> str:
        return resolve(self, revision, "revision")

    # Overloads so that type checkers and IDEs know `checkout(write=True)` is a writer.
    @overload
    def checkout(self, write: Literal[False] = False, *, branch: str = "", commit: str = "", new_branch: Literal[False] = False) -> ReaderCheckout: ...

    @overload
    def checkout(self, write: Literal[True], *, branch: str = "", commit: str = "", new_branch: bool = False) -> WriterCheckout: ...

    @overload
    def checkout(self, write: bool = False, *, branch: str = "", commit: str = "", new_branch: bool = False) -> Union[ReaderCheckout, WriterCheckout]: ...

    def checkout(self, write: bool = False, *, branch: str = "", commit: str = "", new_branch: bool = False) -> Union[ReaderCheckout, WriterCheckout]:
        """A read-only checkout of `commit` or of `branch`'s head (default: the branch
        the staging area is on), or with `write=True` the writer checkout of `branch`'s
        staging area (PermissionError while another writer is open).

        `new_branch=True` (with `write=True`; libhangar's, not the original's) first
        creates `branch` at the head of the branch the staging area is on, and the staged
        changes move to it, as `git checkout -b` does: the way out of changes staged on
        the wrong branch. A taken name is a ValueError, and nothing is created."""
        if not isinstance(write, bool):
            raise ValueError(f"write is True or False, not {write!r} (pass branch=... by keyword)")
        for arg, value in (("branch", branch), ("commit", commit)):
            if not isinstance(value, str):
                raise ValueError(f"{arg} is a str, not {value!r}")
        ptr = self._ptr()
        out = ctypes.c_void_p()
        if new_branch:
            if not write or not branch or commit:
                raise ValueError(
                    "new_branch=True makes a writer checkout of a new branch: pass write=True and branch=NAME (not commit=)"
                )
            check(lib.hangar_repo_checkout_writer_new_branch(ptr, cstr(branch), None, byref(out)))
            return WriterCheckout(self, _Handle(out, lib.hangar_writer_free))
        if write:
            if commit:
                raise ValueError("a write-enabled checkout works on a branch; pass branch=, not commit=")
            st = lib.hangar_repo_checkout_writer(ptr, cstr(branch) if branch else None, byref(out))
            if st == _ffi.E_NOT_FOUND:
                raise ValueError(_ffi.last_message())
            check(st)
            return WriterCheckout(self, _Handle(out, lib.hangar_writer_free))
        if commit:
            st = lib.hangar_repo_checkout_commit(ptr, cstr(commit), byref(out))
        else:
            st = lib.hangar_repo_checkout(ptr, cstr(branch) if branch else None, byref(out))
        if st == _ffi.E_NOT_FOUND:
            raise ValueError(_ffi.last_message())
        check(st)
        return ReaderCheckout(self, _Handle(out, lib.hangar_reader_free))

    @overload
    def summary(self, *, branch: str = "", commit: str = "", return_contents: Literal[True]) -> str: ...

    @overload
    def summary(self, *, branch: str = "", commit: str = "", return_contents: bool = False) -> Optional[str]: ...

    def summary(self, *, branch: str = "", commit: str = "", return_contents: bool = False) -> Optional[str]:
        """Prints (or, with return_contents, returns) the repository's summary."""
        at = commit or branch or None
        out = ctypes.c_void_p()
        check(lib.hangar_repo_summary(self._ptr(), cstr(at) if at else None, byref(out)))
        text = _ffi.take_buf(out).decode("utf-8")
        if return_contents:
            return text
        print(text)
        return None

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
        """Prints the history graph from `commit` or `branch` (default: the current
        branch); with `return_contents`, returns the original's dict instead:
        `order`, `eves`, `specs` (per commit: time, user, email, message), `ancestors`."""
        start = commit or branch or None
        if not return_contents:
            out = ctypes.c_void_p()
            check(lib.hangar_repo_log(self._ptr(), cstr(start) if start else None, byref(out)))
            print(_ffi.take_buf(out).decode("utf-8").rstrip("\n"))
            return None
        log = ctypes.c_void_p()
        check(lib.hangar_repo_log_entries(self._ptr(), cstr(start) if start else None, byref(log)))
        try:
            n = c_size_t()
            check(lib.hangar_log_len(log, byref(n)))
            order: List[str] = []
            specs: Dict[str, Dict[str, Any]] = {}
            ancestors: Dict[str, List[str]] = {}
            eves: List[str] = []
            for i in range(n.value):
                info = _ffi.CommitInfo()
                check(lib.hangar_log_get(log, i, byref(info)))
                cid = info.id.decode()
                parents = []
                for j in range(info.n_parents):
                    p = ctypes.c_char_p()
                    check(lib.hangar_log_parent(log, i, j, byref(p)))
                    parents.append((p.value or b"").decode())
                order.append(cid)
                # The original lists a root commit's parents as [''].
                ancestors[cid] = parents or [""]
                if not parents:
                    eves.append(cid)
                specs[cid] = {
                    "commit_time": info.time_ns / 1e9,
                    "commit_message": info.message.decode("utf-8"),
                    "commit_user": info.author.decode("utf-8"),
                    "commit_email": info.email.decode("utf-8"),
                }
            # As the original: the branches whose heads are among the commits listed,
            # by commit, in branch-name order.
            listed = set(order)
            branch_heads: Dict[str, List[str]] = {}
            for name in sorted(self.list_branches()):
                head = self._branch_head(name)
                if head in listed:
                    branch_heads.setdefault(head, []).append(name)
            return {
                "order": order,
                "eves": eves,
                "specs": specs,
                "ancestors": ancestors,
                "head": order[0] if order else None,
                "branch_heads": branch_heads,
            }
        finally:
            lib.hangar_log_free(log)

    def _branch_head(self, name: str) -> str:
        buf = _ffi.string_buffer(80)
        st = lib.hangar_repo_branch_head(self._ptr(), cstr(name), buf, 80)
        if st == _ffi.E_NOT_FOUND:
            return ""
        check(st)
        return buf.value.decode()

    def list_branches(self) -> List[str]:
        out = ctypes.c_void_p()
        check(lib.hangar_repo_branches(self._ptr(), byref(out)))
        return _ffi.take_strlist(out)

    def create_branch(self, name: str, base_commit: Optional[str] = None) -> "BranchHead":
        """Creates branch `name` at `base_commit` (default: the current branch's head)."""
        if not isinstance(name, str):
            raise ValueError(f"a branch name is a str, not {type(name).__name__} ({name!r})")
        st = lib.hangar_repo_create_branch(self._ptr(), cstr(name), cstr(base_commit) if base_commit else None)
        if st == _ffi.E_ALREADY_EXISTS:
            raise ValueError(_ffi.last_message())
        if st == _ffi.E_NOT_FOUND and not base_commit:
            # No base named: the staging area's branch has no commits yet.
            raise _ffi.NoCommitsError(_ffi.last_message())
        check(st)
        return BranchHead(name, self._branch_head(name))

    def remove_branch(self, name: str, *, force_delete: bool = False) -> "BranchHead":
        """Removes branch `name` (its commits stay reachable by id) and returns what it
        was. Refused for the only branch and the branch the staging area is based on
        (`BranchInUseError`, a ValueError and a PermissionError) and, unless
        `force_delete`, for a branch whose head is on no other branch
        (`UnmergedBranchError`, a ValueError and a RuntimeError)."""
        head = self._branch_head(name)  # an invalid name is a ValueError here
        st = lib.hangar_repo_remove_branch(self._ptr(), cstr(name), bool(force_delete))
        if st == _ffi.E_NOT_FOUND:
            raise ValueError(_ffi.last_message())
        if st == _ffi.E_INVALID_ARGUMENT:
            raise _ffi.BranchInUseError(_ffi.last_message())
        if st == _ffi.E_CONFLICT:
            raise _ffi.UnmergedBranchError(_ffi.last_message())
        check(st)
        return BranchHead(name, head)

    def merge(self, message: str, master_branch: str, dev_branch: str) -> str:
        """Merges `dev_branch` into `master_branch`; returns the new head of
        `master_branch` (MergeConflictError, a ValueError, on conflicts)."""
        kind = ctypes.c_int32()
        buf = _ffi.string_buffer(80)
        st = lib.hangar_repo_merge(self._ptr(), cstr(message), cstr(master_branch), cstr(dev_branch), byref(kind), buf, 80)
        if st == _ffi.E_MERGE_CONFLICT:
            raise _ffi.MergeConflictError(_ffi.last_message())
        if st == _ffi.E_NOT_FOUND:
            raise ValueError(_ffi.last_message())  # a branch that does not exist
        check(st)
        return buf.value.decode()

    def diff(self, master: str, dev: str) -> DiffAndConflicts:
        """The original's diff of `dev` against `master` (branches or commits): a
        `DiffAndConflicts` of named tuples (see `hangar.diff`). `str()` of it is not the
        printed form: `diff_text` gives that."""
        m = resolve(self, master, "`master`")
        d = resolve(self, dev, "`dev`")
        return diff_and_conflicts(self, m, d)

    def diff_text(self, master: str, dev: str) -> str:
        """What differs from `master` to `dev` (branches or commits), printed as
        `hangar diff` prints it."""
        d = ctypes.c_void_p()
        check(lib.hangar_repo_diff(self._ptr(), cstr(master), cstr(dev), byref(d)))
        try:
            out = ctypes.c_void_p()
            check(lib.hangar_diff_text(d, byref(out)))
            return _ffi.take_buf(out).decode("utf-8")
        finally:
            lib.hangar_diff_free(d)

    def verify_repo_integrity(self) -> bool:
        """Rechecks every digest and checksum reachable from a branch (the whole history,
        each stored value read and hashed once); raises CorruptionError (a RuntimeError)
        describing any damage, else returns True. Values of a partial clone not fetched
        yet are not checked and are not damage."""
        ok = c_bool()
        report = ctypes.c_void_p()
        check(lib.hangar_repo_verify(self._ptr(), byref(ok), byref(report)))
        text = _ffi.take_buf(report).decode("utf-8")
        if not ok.value:
            raise _ffi.CorruptionError(text, _ffi.E_CORRUPT)
        return True

    def verify_commit_integrity(self) -> bool:
        """The same as `verify_repo_integrity`, the original's name for it."""
        return self.verify_repo_integrity()

    def gc(
        self, *, prune: Optional[str] = None, dry_run: bool = False, compact_below: Optional[float] = None
    ) -> Dict[str, Any]:
        """Removes what no branch, remote-tracking ref, staged change or reflog entry younger
        than `prune` keeps (`hangar gc`): `prune` is ``"now"``, ``"never"`` or an age such as
        ``"14d"`` (default two weeks, so a deleted branch stays recoverable that long);
        files with less than `compact_below` (default 0.5) of their contents reachable are
        rewritten. With `dry_run` nothing changes. Returns the figures (``files_removed``,
        ``bytes_removed``, ``files_deferred``, ..., and ``reflog_only_commits``: the
        commits kept only by young reflog entries, such as a deleted branch's) and
        ``files``: one dict per file
        (``action``: removed, rewritten, deferred or kept; ``path``; ``bytes``; ``why``).
        Files are deferred (left for the next gc) while another process or an open
        checkout has the repository; PermissionError while a writer checkout is open."""
        report = _ffi.GcReport()
        files = ctypes.c_void_p()
        below = -1.0 if compact_below is None else float(compact_below)
        check(
            lib.hangar_repo_gc(
                self._ptr(), None if prune is None else cstr(prune), bool(dry_run), below, byref(report), byref(files)
            )
        )
        out: Dict[str, Any] = {f[0]: getattr(report, f[0]) for f in _ffi.GcReport._fields_}
        listed = []
        for line in _ffi.take_buf(files).decode("utf-8").splitlines():
            parts = line.split("\t")
            listed.append(
                {"action": parts[0], "path": parts[1], "bytes": int(parts[2]), "why": parts[3] if len(parts) > 3 else ""}
            )
        out["files"] = listed
        return out

    def force_release_writer_lock(self) -> bool:
        """Clears the writer lock left by a process that died and returns True. While a
        live writer holds it nothing is released: a ResourceWarning says so and False is
        returned (as the original)."""
        released = c_bool()
        st = lib.hangar_repo_force_release_writer_lock(self._ptr(), byref(released))
        if st == _ffi.E_LOCKED:
            warnings.warn(_ffi.last_message(), ResourceWarning, stacklevel=2)
            return False
        check(st)
        return True

    @property
    def writer_lock_held(self) -> bool:
        """True while a writer checkout is open in some process."""
        held = c_bool()
        check(lib.hangar_repo_writer_lock_held(self._ptr(), byref(held)))
        return held.value

    @property
    def size_nbytes(self) -> int:
        out = c_uint64()
        check(lib.hangar_repo_disk_usage(self._ptr(), byref(out)))
        return out.value

    @property
    def page_cache_budget(self) -> int:
        """Bytes of decoded pages of compressed columns this repository and its checkouts
        keep at most (default 256 MiB, or `HANGAR_PAGE_CACHE_MB` MiB from the environment;
        0 keeps none). Set it to change the budget; pages over a lowered budget are
        dropped at once (arrays already read stay valid)."""
        return self._page_cache()[0]

    @page_cache_budget.setter
    def page_cache_budget(self, nbytes: int) -> None:
        if not isinstance(nbytes, int) or isinstance(nbytes, bool) or nbytes < 0:
            raise ValueError(f"page_cache_budget is a number of bytes >= 0, not {nbytes!r}")
        check(lib.hangar_repo_set_page_cache_budget(self._ptr(), min(nbytes, 2**64 - 1)))

    @property
    def page_cache_nbytes(self) -> int:
        """Bytes of decoded pages the page cache holds now."""
        return self._page_cache()[1]

    def _page_cache(self) -> "tuple[int, int]":
        budget, used = c_uint64(), c_uint64()
        check(lib.hangar_repo_page_cache_usage(self._ptr(), byref(budget), byref(used)))
        return budget.value, used.value

    @property
    def size_human(self) -> str:
        return _human(self.size_nbytes)

    def __repr__(self) -> str:
        return (
            "Hangar Repository\n"
            f"    Repository Path  : {self._path}\n"
            f"    Writer-Lock Free : {not self.writer_lock_held if self.initialized else True}\n"
        )


class BranchHead(tuple):
    """`(name, digest)` of a branch, as the original returned it."""

    def __new__(cls, name: str, digest: str):
        return super().__new__(cls, (name, digest))

    @property
    def name(self) -> str:
        return self[0]

    @property
    def digest(self) -> str:
        return self[1]
