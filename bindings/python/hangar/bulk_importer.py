"""The original Hangar's bulk importer (`hangar.bulk_importer`, added to hangar-py after
0.5.2): many samples produced by a user-defined function (a "UDF") run in several
worker processes, validated against their columns, then stored all or nothing.

    from hangar.bulk_importer import UDF_Return, run_bulk_import

    def load(path):
        yield UDF_Return(column="images", key=os.path.basename(path), data=decode(path))

    run_bulk_import(repo, "master", ["images"], load, [{"path": p} for p in paths], ncpus=4)

How it runs (and where it departs from the original):

1. The UDF and every keyword dictionary are checked first: the UDF must be a generator
   function and each dictionary must bind to its signature (`TypeError` naming the
   first that does not); a few dictionaries are run in this process, so a UDF that
   yields something else than `UDF_Return`, names a column not in `column_names`, or
   yields a key or value the column cannot hold fails before any worker starts.
2. Worker processes run the UDF over every dictionary, once each, and check each yielded
   value against its column's schema (kind, dtype, shape, key rules). What they yield
   is spooled to files in a temporary directory beside the repository's `.hangar`
   (removed afterwards), so memory holds one batch of results at a time. The original
   ran the UDF twice (once to validate and hash, once to write) and so required it to be
   deterministic; here it runs once, and what is stored is what that run yielded.
3. Only when every dictionary's results are valid is anything staged: the results go to
   the writer checkout of `branch_name` in one bulk session, in the order of
   `udf_kwargs`. A key yielded twice with equal values is stored once (as the
   original); with different values it is a `ValueError` naming both dictionaries,
   since which one should win is not knowable. Values already in the repository are
   stored once by content, as every write is.
4. If storing fails (a full disk), every sample of this import is taken back out of the
   staging area — by discarding it when it held nothing before, otherwise by restoring
   each sample it replaced and deleting each it added — and the error is raised.
   Changes staged before the import are kept either way. With `autocommit` (the
   default) the import is then committed.

A worker process that dies (killed, out of memory, a crash or `os._exit` in the UDF) is
a `RuntimeError`, with nothing staged. To stop early (a bad value, the UDF's exception)
the workers are told to, never killed.

Worker processes are forked (POSIX), so the UDF may be any function, a closure or a
lambda-made generator included; where `fork` is not available they are spawned, and
the UDF and the keyword dictionaries must then be picklable (a module-level function).
The workers only run the UDF; they never call libhangar.
"""

from __future__ import annotations

import ctypes
import math
import multiprocessing
import os
import pickle
import random
import tempfile
import warnings
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from inspect import isgeneratorfunction, signature
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from . import _ffi

__all__ = ("UDF_Return", "run_bulk_import")

KeyType = Union[str, int]


class UDF_Return(NamedTuple):
    """What a bulk-import UDF yields: one value for one sample.

    `column`: the column's name (one of `column_names`); `key`: the sample's key, or a
    `(sample, subsample)` pair for a nested column; `data`: an `np.ndarray`, a `str` or
    `bytes`, as the column holds."""

    column: str
    key: Union[KeyType, Tuple[KeyType, KeyType]]
    data: Union[np.ndarray, str, bytes]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, tuple) or type(other).__name__ != "UDF_Return":
            return NotImplemented
        if self.column != other[0] or self.key != other[1]:
            return False
        return _same_value(self.data, other[2])

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq


UDF_T = Callable[..., Iterator[UDF_Return]]


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and bool(np.array_equal(a, b))
        )
    return type(a) is type(b) and a == b


# ---- schemas and the checks the workers run (plain Python: no libhangar calls) ---------


class _Schema(NamedTuple):
    kind: int
    nested: bool
    variable: bool
    dtype: Any  # np.dtype for ndarray columns
    shape: Optional[Tuple[int, ...]]

    @classmethod
    def of(cls, col: Any) -> "_Schema":
        return cls(col._kind, bool(col._nested), bool(col._variable), col._dtype, col._shape)


def _key_problem(key: Any) -> Optional[str]:
    if isinstance(key, bool):
        return f"key {key!r} is a bool; a key is a str or a non-negative int"
    if isinstance(key, (int, np.integer)):
        if 0 <= int(key) < 1 << 64:
            return None
        return f"key {key!r} is out of range; integer keys are from 0 to 2**64 - 1"
    if isinstance(key, str):
        if _ffi.valid_text_key(key):
            return None
        return (
            f"key {key!r} is not suitable: a str key is 1 to 64 characters of letters, digits, "
            "'_', '-' and '.'"
        )
    return f"key {key!r} is a {type(key).__name__}; a key is a str or a non-negative int"


def _check(res: Any, schemas: Dict[str, _Schema]) -> Tuple[Optional[str], Any]:
    """(problem, normalized result): the problem is None when `res` can be stored."""
    if not isinstance(res, tuple) or type(res).__name__ != "UDF_Return" or len(res) != 3:
        return f"the UDF must yield only UDF_Return values, not {type(res).__name__}", None
    column, key, data = res
    schema = schemas.get(column) if isinstance(column, str) else None
    if schema is None:
        return f"column {column!r} of a UDF_Return is not one of column_names {sorted(schemas)}", None
    if schema.nested:
        if not isinstance(key, tuple) or len(key) != 2:
            return f"column {column!r} is nested: its key must be a (sample, subsample) pair, not {key!r}", None
        for k in key:
            problem = _key_problem(k)
            if problem:
                return f"column {column!r}: {problem}", None
        key = (_ffi.plain_key(key[0]), _ffi.plain_key(key[1]))
    else:
        problem = _key_problem(key)
        if problem:
            return f"column {column!r}: {problem}", None
        key = _ffi.plain_key(key)
    where = f"column {column!r}, key {key!r}"
    if schema.kind == _ffi.KIND_STR:
        if not isinstance(data, str):
            return f"{where}: the column holds str values, not {type(data).__name__}", None
    elif schema.kind == _ffi.KIND_BYTES:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            return f"{where}: the column holds bytes values, not {type(data).__name__}", None
        data = bytes(data)
    else:
        if not isinstance(data, np.ndarray):
            return f"{where}: the column holds np.ndarray values, not {type(data).__name__}", None
        if data.dtype.byteorder == ">":
            data = data.astype(data.dtype.newbyteorder("="))
        if data.dtype != schema.dtype:
            return f"{where}: dtype {data.dtype} != the column's dtype {schema.dtype}", None
        shape = schema.shape or ()
        if schema.variable:
            if data.ndim != len(shape) or any(d > m for d, m in zip(data.shape, shape)):
                return (
                    f"{where}: shape {data.shape} does not fit the column's maximum shape {shape} "
                    "(the same rank, no dimension larger)"
                ), None
        elif data.shape != shape:
            return f"{where}: shape {data.shape} != the column's shape {shape}", None
        data = np.ascontiguousarray(data)
    return None, (column, key, data)


# ---- the worker side ----------------------------------------------------------------------

# Set in each worker by _init (forked workers inherit it; spawned ones get it pickled).
_STATE: Dict[str, Any] = {}


def _init(udf: UDF_T, schemas: Dict[str, _Schema], spool: str, stop: Any = None) -> None:
    _STATE.update(udf=udf, schemas=schemas, spool=spool, stop=stop)


def _fixed(schema: _Schema) -> bool:
    return schema.kind == _ffi.KIND_NDARRAY and not schema.variable and not schema.nested


# A worker writes what it holds to a spool file once it holds this much (and at the end
# of each batch), so a UDF yielding large values never makes a worker hold many of them.
_SPOOL_BYTES = 64 << 20

Spool = Tuple[str, Dict[str, Tuple[list, list]]]  # path, {column: (keys, kwargs indices)}


def _nbytes(data: Any) -> int:
    return data.nbytes if isinstance(data, np.ndarray) else len(data)


def _run_batch(batch: Tuple[int, List[Tuple[int, dict]]]) -> Tuple[Any, ...]:
    """Runs the UDF over one batch of keyword dictionaries and spools what it yields, per
    column: the keys, and the values (those of a fixed-shape column as one stacked
    array). Returns ("ok", [spool, ...]) or ("bad", kwargs index, problem), or ("stopped",)
    when the parent has stopped the import (`stop`, checked before each dictionary)."""
    number, items = batch
    udf, schemas, stop = _STATE["udf"], _STATE["schemas"], _STATE["stop"]
    fixed = {name: (sc.dtype, sc.shape) for name, sc in schemas.items() if _fixed(sc)}
    out: Dict[str, Tuple[list, list, list]] = {}
    held = 0
    parts: List[Spool] = []

    def spool() -> None:
        nonlocal out, held
        if not out:
            return
        data = {
            column: (keys, np.stack(values) if column in fixed else values)
            for column, (keys, values, _) in out.items()
        }
        path = os.path.join(_STATE["spool"], f"{number:08d}-{len(parts):04d}.pickle")
        with open(path, "wb") as f:
            pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)
        parts.append((path, {column: (keys, idx) for column, (keys, _, idx) in out.items()}))
        out, held = {}, 0

    ndarray, good_key = np.ndarray, _ffi.valid_text_key
    for i, kwargs in items:
        if stop is not None and stop.value:
            return ("stopped",)  # an earlier batch was bad or raised: this one is not read
        for res in udf(**kwargs):
            want = fixed.get(res[0]) if type(res) is UDF_Return and type(res[0]) is str else None
            # The usual case without _check's calls: a fixed-shape column's own dtype and
            # shape, an int or plain str key.
            if (
                want is not None
                and type(res[2]) is ndarray
                and res[2].dtype == want[0]
                and res[2].shape == want[1]
                and (
                    (type(res[1]) is int and 0 <= res[1] < 1 << 64)
                    or (type(res[1]) is str and good_key(res[1]) is not None)
                )
            ):
                column, key, data = res
            else:
                problem, rec = _check(res, schemas)
                if problem is not None:
                    return ("bad", i, problem)
                column, key, data = rec
            entry = out.get(column)
            if entry is None:
                entry = out[column] = ([], [], [])
            entry[0].append(key)
            entry[1].append(data)
            entry[2].append(i)
            held += _nbytes(data)
        if held >= _SPOOL_BYTES:
            spool()
    spool()
    return ("ok", parts)


def _load(path: str) -> Dict[str, Tuple[list, Any]]:
    with open(path, "rb") as f:
        return pickle.load(f)


# ---- the parent side ----------------------------------------------------------------------


def _process_num_cpus(ncpus: int) -> int:
    """Worker processes to run: `ncpus`, or when it is <= 0 half the machine's CPUs (at
    least one), as the original."""
    node = os.cpu_count() or 1
    if ncpus <= 0:
        return max(1, min(node, math.ceil(node / 2)))
    if ncpus > node:
        warnings.warn(f"ncpus={ncpus} is more than this machine's {node} CPUs", UserWarning, stacklevel=3)
    return ncpus


def _check_udf(udf: UDF_T, udf_kwargs: Sequence[dict], schemas: Dict[str, _Schema]) -> None:
    if not isgeneratorfunction(udf):
        raise TypeError(f"UDF {udf!r} is not a generator function: it must `yield` UDF_Return values")
    sig = signature(udf)
    fits = set()  # whether keyword arguments bind depends on their names only
    for i, kwargs in enumerate(udf_kwargs):
        if not isinstance(kwargs, dict):
            raise TypeError(f"udf_kwargs[{i}] is a {type(kwargs).__name__}, not a dict of keyword arguments")
        names = tuple(kwargs)
        if names in fits:
            continue
        try:
            sig.bind(**kwargs)
        except TypeError as e:
            raise TypeError(f"udf_kwargs[{i}] = {kwargs!r} does not fit the UDF's signature {sig}: {e}") from e
        fits.add(names)
    # A quick run of a few in this process: a UDF that cannot work fails before any
    # worker starts (the original's pre-run check: 2% of them, 2 to 100).
    n = min(len(udf_kwargs), max(2, min(100, math.ceil(len(udf_kwargs) * 0.02))))
    for i in sorted(random.Random(0).sample(range(len(udf_kwargs)), n)):
        for res in udf(**udf_kwargs[i]):
            problem, _ = _check(res, schemas)
            if problem is not None:
                raise _bad(i, udf_kwargs[i], problem)


def _bad(i: int, kwargs: dict, problem: str) -> Exception:
    cls = TypeError if problem.startswith("the UDF must yield") else ValueError
    return cls(f"{problem} (yielded for udf_kwargs[{i}] = {kwargs!r}); nothing was imported")


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


def _run_workers(
    udf: UDF_T, udf_kwargs: Sequence[dict], schemas: Dict[str, _Schema], spool: str, ncpu: int
) -> List[Spool]:
    """Every keyword dictionary through the UDF, spooled; the spool files in order."""
    n = len(udf_kwargs)
    # Batches small enough to spread the work over the workers, large enough that a
    # UDF call yielding one small sample is not dominated by the batch's own cost.
    size = max(1, min(1024, n // (ncpu * 8)))
    batches = [(b, [(i, udf_kwargs[i]) for i in range(s, min(n, s + size))]) for b, s in enumerate(range(0, n, size))]
    results = []
    if ncpu == 1 or len(batches) == 1:
        _init(udf, schemas, spool)
        try:
            results = [_run_batch(b) for b in batches]
        finally:
            _STATE.clear()
    else:
        results = _run_in_processes(udf, schemas, spool, ncpu, batches)
    out = []
    for r in results:
        if r[0] == "bad":
            raise _bad(r[1], udf_kwargs[r[1]], r[2])
        out.extend(r[1])
    return out


def _run_in_processes(
    udf: UDF_T, schemas: Dict[str, _Schema], spool: str, ncpu: int, batches: list
) -> List[Tuple[Any, ...]]:
    """The batches' results in order, up to the first "bad" one (or the UDF's exception,
    re-raised here), from `ncpu` worker processes.

    The workers are never killed to stop early: a process killed while it holds a lock of
    the pool's result pipe (sending a result) leaves that lock held, and the pool then
    waits forever for it. `multiprocessing.Pool.terminate()` does exactly that, and hung
    an import that stopped at a bad value about once in a hundred runs. Here the
    batches not started yet are cancelled, the running ones see `stop` and return, and
    the workers exit on their own. A worker that dies (killed, out of memory, a crash or
    `os._exit` in the UDF) is reported instead of waited for."""
    ctx = _context()
    # A flag in shared memory, without a lock: a worker killed while it read a locked
    # one (a multiprocessing.Event) would leave the lock held for the parent to wait on.
    stop = ctx.RawValue(ctypes.c_bool, False)
    executor = ProcessPoolExecutor(ncpu, mp_context=ctx, initializer=_init, initargs=(udf, schemas, spool, stop))
    results = []
    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns that forking a process with threads (libhangar's and
            # the checkout's) may deadlock the child on a lock one of them held. The
            # workers never call libhangar nor touch the checkout: they run the UDF and
            # write their spool files. (The workers are forked at the first submit.)
            warnings.filterwarnings("ignore", message=r".*use of fork\(\) may lead to deadlocks", category=DeprecationWarning)
            futures = [executor.submit(_run_batch, b) for b in batches]
        for future in futures:
            r = future.result()
            results.append(r)
            if r[0] == "bad":
                break
    except BrokenProcessPool as e:
        raise RuntimeError(
            "a worker process of the bulk import ended before finishing its work (killed, out of "
            "memory, or the UDF crashed or called os._exit); nothing was imported"
        ) from e
    finally:
        stop.value = True
        executor.shutdown(wait=True, cancel_futures=True)
    return results


def _duplicates(spools: List[Spool], udf_kwargs: Sequence[dict]) -> set:
    """The (spool number, column, position) of records that repeat an earlier record's
    key with an equal value (stored once); `ValueError` for a key yielded with two
    values."""
    first: Dict[Tuple[str, Any], Tuple[int, int]] = {}
    repeats: Dict[Tuple[int, str, int], Tuple[int, int]] = {}
    for f, (_, index) in enumerate(spools):
        for column, (keys, _) in index.items():
            for p, key in enumerate(keys):
                seen = first.setdefault((column, key), (f, p))
                if seen != (f, p):
                    repeats[(f, column, p)] = seen
    if not repeats:
        return set()
    cache: Dict[int, Dict[str, Tuple[list, Any]]] = {}

    def value(f: int, column: str, p: int) -> Any:
        if f not in cache:
            cache[f] = _load(spools[f][0])
        return cache[f][column][1][p]

    for (f, column, p), (f0, p0) in repeats.items():
        if not _same_value(value(f, column, p), value(f0, column, p0)):
            key = spools[f][1][column][0][p]
            i0, i = spools[f0][1][column][1][p0], spools[f][1][column][1][p]
            raise ValueError(
                f"column {column!r}, key {key!r} was yielded with two different values, for "
                f"udf_kwargs[{i0}] = {udf_kwargs[i0]!r} and udf_kwargs[{i}] = {udf_kwargs[i]!r}; "
                "nothing was imported (give each sample one key)"
            )
    return set(repeats)


class _Undo:
    """What storing the import changes in a staging area that held changes before it,
    to take back on failure: each sample's earlier value, or None where there was none."""

    def __init__(self, co: Any, schemas: Dict[str, _Schema], spools: List[Spool]) -> None:
        self.co = co
        self.before: Dict[Tuple[str, Any], Any] = {}
        for _, index in spools:
            for column, (keys, _) in index.items():
                for key in keys:
                    if (column, key) not in self.before:
                        self.before[(column, key)] = self._get(column, key, schemas[column].nested)
        self.schemas = schemas

    def _get(self, column: str, key: Any, nested: bool) -> Any:
        col = self.co.columns[column]
        if nested:
            sample, sub = key
            if sample not in col or sub not in col[sample]:
                return None
            value = col[sample][sub]
        else:
            if key not in col:
                return None
            value = col[key]
        return np.array(value) if isinstance(value, np.ndarray) else value

    def run(self) -> None:
        for (column, key), value in self.before.items():
            col = self.co.columns[column]
            nested = self.schemas[column].nested
            if value is None:
                if nested:
                    sample, sub = key
                    if sample in col and sub in col[sample]:
                        del col[sample][sub]
                elif key in col:
                    del col[key]
            elif nested:
                col[key[0]][key[1]] = value
            else:
                col[key] = value


# The parent stages a fixed-shape column's spooled arrays in calls of at least this many
# samples or bytes (each spool file of a small batch holds few).
_STORE_ROWS = 8192
_STORE_BYTES = 64 << 20


def _store(co: Any, schemas: Dict[str, _Schema], spools: List[Spool], skip: set) -> int:
    """Stages every spooled record in one bulk session; returns how many."""
    stored = 0
    # Fixed-shape columns' samples not staged yet: keys, arrays, rows, bytes.
    pending: Dict[str, Tuple[list, list, int, int]] = {}

    def flush(column: str) -> None:
        keys, arrays, _, _ = pending.pop(column)
        co.columns[column].put_batch(keys, arrays[0] if len(arrays) == 1 else np.concatenate(arrays))

    with co:
        for f, (path, _) in enumerate(spools):
            for column, (keys, values) in _load(path).items():
                keep = [p for p in range(len(keys)) if (f, column, p) not in skip] if skip else None
                if keep is not None and len(keep) < len(keys):
                    keys = [keys[p] for p in keep]
                    values = values[keep] if isinstance(values, np.ndarray) else [values[p] for p in keep]
                if not keys:
                    continue
                schema = schemas[column]
                stored += len(keys)
                if _fixed(schema):
                    k, a, rows, nbytes = pending.setdefault(column, ([], [], 0, 0))
                    k.extend(keys)
                    a.append(values)
                    rows, nbytes = rows + len(keys), nbytes + values.nbytes
                    pending[column] = (k, a, rows, nbytes)
                    if rows >= _STORE_ROWS or nbytes >= _STORE_BYTES:
                        flush(column)
                    continue
                col = co.columns[column]
                if schema.nested:
                    samples: Dict[Any, dict] = {}
                    for (sample, sub), value in zip(keys, values):
                        samples.setdefault(sample, {})[sub] = value
                    col.update(samples)
                else:
                    col.update(list(zip(keys, values)))
        for column in list(pending):
            flush(column)
    return stored


def run_bulk_import(
    repo: Any,
    branch_name: str,
    column_names: Sequence[str],
    udf: UDF_T,
    udf_kwargs: Sequence[dict],
    *,
    ncpus: int = 0,
    autocommit: bool = True,
) -> None:
    """Imports what `udf(**kwargs)` yields for every `kwargs` of `udf_kwargs` into the
    columns `column_names` of branch `branch_name`, all or nothing (see the module's
    documentation for how).

    `udf` is a generator function yielding `UDF_Return(column, key, data)` values (any
    number per call); `ncpus` worker processes run it (<= 0: half the CPUs). The
    columns must exist (`KeyError` otherwise). With `autocommit` the import is committed
    (with the staging area's earlier changes, as the original), else left staged.
    `TypeError` for a UDF that is not a generator function, keyword arguments that do
    not fit its signature, or something yielded that is not a `UDF_Return`;
    `ValueError` for a column not named in `column_names`, a key or value its column
    cannot hold, or one key yielded with two values. Nothing is staged in any of these
    cases."""
    if isinstance(column_names, str):
        column_names = [column_names]
    udf_kwargs = list(udf_kwargs)
    ncpu = _process_num_cpus(ncpus)
    co = repo.checkout(write=True, branch=branch_name)
    try:
        schemas = {name: _Schema.of(co.columns[name]) for name in column_names}
        _check_udf(udf, udf_kwargs, schemas)
        if not udf_kwargs:
            return
        with tempfile.TemporaryDirectory(prefix=".hangar-bulk-import-", dir=repo.path) as spool:
            spools = _run_workers(udf, udf_kwargs, schemas, spool, ncpu)
            skip = _duplicates(spools, udf_kwargs)
            clean = co.diff_status() == "CLEAN"
            undo = None if clean else _Undo(co, schemas, spools)
            try:
                stored = _store(co, schemas, spools, skip)
            except BaseException as e:
                try:
                    if undo is None:
                        if co.diff_status() == "DIRTY":
                            co.reset_staging_area()
                    else:
                        undo.run()
                except Exception as again:
                    raise RuntimeError(
                        f"storing the bulk import failed ({e}) and so did taking it back out of "
                        f"the staging area ({again}): part of it may be staged; "
                        "co.reset_staging_area() discards every staged change"
                    ) from e
                raise
        if autocommit and stored:
            co.commit(
                f"Auto commit after bulk import of {stored} samples to column {list(column_names)} "
                f"on branch {branch_name}"
            )
    finally:
        co.close()
