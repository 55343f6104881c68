"""Iterating over the samples of one or more columns: numpy batches, a PyTorch dataset and
a TensorFlow dataset (the original's `hangar.dataset`: `make_numpy_dataset`,
`make_torch_dataset`, `make_tensorflow_dataset`)."""

from __future__ import annotations

import random
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from ._ffi import KeyArg, KeyType
from .columns import Column


def _batchable(col: Column) -> bool:
    """Whether a column's samples are read a batch per C call (fixed-shape flat arrays)."""
    return col.column_type == "ndarray" and col.schema_type == "fixed_shape" and not col.contains_subsamples


def _select(
    columns: Union[Column, Sequence[Column]], keys: Optional[Sequence[KeyArg]], index_range: Optional[slice]
) -> Tuple[List[Column], List[KeyType]]:
    """The columns and the keys a dataset reads, checked as `make_numpy_dataset` checks
    them, `index_range` applied."""
    cols = [columns] if isinstance(columns, Column) else list(columns)
    if not cols:
        raise ValueError("a dataset needs at least one column")
    if isinstance(keys, Column) or any(not isinstance(c, Column) for c in cols):
        raise TypeError("pass the columns as one list (or one column), then keys=")
    if any(c.iswriteable for c in cols):
        raise TypeError("dataloaders read columns of a reader checkout (repo.checkout()), not the writer's")
    if keys is None and len({len(c) for c in cols}) > 1:
        # As the original: the samples every column holds, with a warning.
        import warnings

        warnings.warn("Columns do not contain equal number of samples", UserWarning, stacklevel=3)
        common = set(cols[0].keys())
        for c in cols[1:]:
            common &= set(c.keys())
        keys = [k for k in cols[0].keys() if k in common]
    base = make_numpy_dataset(cols, keys=keys, shuffle=False)
    return cols, (base.keys[index_range] if index_range is not None else base.keys)


def _default_collate(samples: List[Tuple[Any, ...]]) -> Tuple[Any, ...]:
    """Per column: the samples stacked into one array (numeric), else a list."""
    out: List[Any] = []
    for values in zip(*samples):
        if all(isinstance(v, np.ndarray) for v in values) and len({v.shape for v in values}) == 1:
            out.append(np.stack(values))
        else:
            out.append(list(values))
    return tuple(out)


class NumpyDataset:
    """Samples of several columns, aligned by key, in batches or one by one. Made by
    `make_numpy_dataset`; iterate over it (each iteration is one epoch, reshuffled
    when `shuffle`); `len()` is the number of items an epoch yields."""

    def __init__(
        self,
        columns: Sequence[Column],
        keys: List[KeyType],
        batch_size: Optional[int],
        drop_last: bool,
        shuffle: bool,
        collate_fn: Optional[Callable[[List[Tuple[Any, ...]]], Any]],
    ):
        self.columns = list(columns)
        self.keys = keys
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.shuffle = shuffle
        self.collate_fn = collate_fn

    def __len__(self) -> int:
        if self.batch_size is None:
            return len(self.keys)
        full, rest = divmod(len(self.keys), self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def _read(self, keys: List[KeyType]) -> Tuple[Any, ...]:
        if self.collate_fn is not None:
            return self.collate_fn([tuple(c[k] for c in self.columns) for k in keys])
        out = []
        for col in self.columns:
            if _batchable(col):
                out.append(col.get_batch(keys))  # one call into libhangar per batch
            else:
                out.append(_default_collate([(col[k],) for k in keys])[0])
        return tuple(out)

    def __iter__(self) -> Iterator[Tuple[Any, ...]]:
        order = list(self.keys)
        if self.shuffle:
            random.shuffle(order)
        if self.batch_size is None:
            for k in order:
                yield tuple(c[k] for c in self.columns)
            return
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            if len(chunk) < self.batch_size and self.drop_last:
                return
            yield self._read(chunk)


def make_numpy_dataset(
    columns: Union[Column, Sequence[Column]],
    keys: Optional[Sequence[KeyArg]] = None,
    batch_size: Optional[int] = None,
    drop_last: bool = False,
    shuffle: bool = True,
    collate_fn: Optional[Callable[[List[Tuple[Any, ...]]], Any]] = None,
) -> NumpyDataset:
    """Groups columns into one dataset yielding, per key, a tuple with each column's
    sample; with `batch_size`, tuples of batches (numeric samples of one shape stacked
    into one array per column, read with one call per batch). `keys` defaults to every
    key of the first column, which every other column must hold too. `shuffle`
    reorders each epoch; `drop_last` drops a last batch smaller than `batch_size`;
    `collate_fn` builds a batch from the list of per-key tuples instead."""
    cols = [columns] if isinstance(columns, Column) else list(columns)
    if not cols:
        raise ValueError("make_numpy_dataset needs at least one column")
    for c in cols:
        if not isinstance(c, Column):
            raise TypeError(f"expected hangar columns, got {type(c).__name__}")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive int, not {batch_size!r}")
    if keys is None:
        chosen = list(cols[0].keys())
        for c in cols[1:]:
            if len(c) != len(chosen):
                raise ValueError(
                    f"columns {cols[0].column!r} ({len(chosen)} samples) and {c.column!r} "
                    f"({len(c)}) differ in length: pass the keys to use"
                )
    else:
        # numpy integers (keys=np.arange(...)) become ints: the dataset's `keys` are
        # the keys as columns give them.
        chosen = [int(k) if isinstance(k, np.integer) else k for k in keys]
    for c in cols:
        missing = [k for k in chosen if k not in c]
        if missing:
            raise KeyError(f"column {c.column!r} has no sample {missing[0]!r} ({len(missing)} keys missing)")
    if batch_size is not None and batch_size > len(chosen):
        raise ValueError(f"batch_size {batch_size} exceeds the {len(chosen)} samples")
    return NumpyDataset(cols, list(chosen), batch_size, drop_last, shuffle, collate_fn)


def _batch_tuple(field_names: Tuple[str, ...]) -> type:
    """The namedtuple class of items with these fields, registered in this module under a
    name made of them, so items pickle between a DataLoader's worker processes (each
    process makes the same class when it rebuilds the dataset)."""
    import collections

    name = "BatchTuple_" + "_".join(field_names)
    existing = globals().get(name)
    if existing is not None:
        return existing
    made = collections.namedtuple(name, field_names)  # type: ignore[misc]
    made.__module__ = __name__
    globals()[name] = made
    return made


class TorchDataset:
    """A `torch.utils.data.Dataset` over columns of one commit (made by
    `make_torch_dataset`). Item `i` is a namedtuple of the columns' samples of key
    `keys[i]` (a dict by field name with `as_dict`), numeric samples as tensors. Safe with a multi-worker `DataLoader`, fork or
    spawn: the dataset holds the repository path, commit and names only, and each process
    opens its own reader checkout on first use."""

    def __init__(
        self,
        repo_path: str,
        commit: str,
        names: List[str],
        keys: List[KeyType],
        field_names: Tuple[str, ...],
        stream_cache_bytes: Optional[int] = None,
        as_dict: bool = False,
    ):
        self._repo_path = repo_path
        self._as_dict = as_dict
        # Set for a repository from `Repository.open_remote`: each worker reads through
        # the remote too (its own cache of this many bytes), fetching nothing else.
        self._stream_cache_bytes = stream_cache_bytes
        self._commit = commit
        self._names = names
        self.keys = keys
        self._tuple = _batch_tuple(field_names)
        self._field_names = field_names
        self._pid: Optional[int] = None
        self._columns: Optional[List[Column]] = None

    def __getstate__(self) -> dict:
        # What crosses to a worker: names, never a handle.
        return {
            "repo_path": self._repo_path,
            "commit": self._commit,
            "names": self._names,
            "keys": self.keys,
            "field_names": self._field_names,
            "stream_cache_bytes": self._stream_cache_bytes,
            "as_dict": self._as_dict,
        }

    def __setstate__(self, state: dict) -> None:
        TorchDataset.__init__(
            self, state["repo_path"], state["commit"], state["names"], state["keys"], state["field_names"],
            state.get("stream_cache_bytes"), state.get("as_dict", False),
        )

    def _open(self) -> List[Column]:
        import os

        if self._columns is None or self._pid != os.getpid():
            from .repository import Repository

            if self._stream_cache_bytes is None:
                repo = Repository(self._repo_path)
            else:
                repo = Repository._open_remote_cache(self._repo_path, self._stream_cache_bytes)
            co = repo.checkout(commit=self._commit)
            self._columns = [co.columns[n] for n in self._names]
            self._pid = os.getpid()
        return self._columns

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int):
        import torch  # type: ignore[import-not-found, import-untyped, unused-ignore]  # optional

        key = self.keys[index]
        values = []
        for col in self._open():
            v = col[key]
            if isinstance(v, np.ndarray):
                # A copy: the zero-copy view is read-only and belongs to this process.
                v = torch.from_numpy(np.array(v))
            values.append(v)
        return self._item(values)

    def _item(self, values: Sequence[Any]) -> Any:
        if self._as_dict:
            return dict(zip(self._field_names, values))
        return self._tuple(*values)

    def __getitems__(self, indices: List[int]) -> list:
        """The items of a whole batch (PyTorch's DataLoader calls this when it exists):
        each fixed-shape numeric column is read with one C call for the batch."""
        import torch  # type: ignore[import-not-found, import-untyped, unused-ignore]  # optional

        keys = [self.keys[i] for i in indices]
        per_column: List[Sequence[Any]] = []
        for col in self._open():
            if _batchable(col):
                per_column.append(torch.from_numpy(col.get_batch(keys)).unbind(0))
            else:
                vals = [col[k] for k in keys]
                per_column.append([torch.from_numpy(np.array(v)) if isinstance(v, np.ndarray) else v for v in vals])
        return [self._item(row) for row in zip(*per_column)]


def make_torch_dataset(
    columns: Union[Column, Sequence[Column]],
    keys: Optional[Sequence[KeyArg]] = None,
    index_range: Optional[slice] = None,
    field_names: Optional[Sequence[str]] = None,
    as_dict: bool = False,
) -> TorchDataset:
    """A PyTorch dataset over columns of one reader checkout: item `i` is a namedtuple
    (fields: `field_names`, default the column names) of each column's sample of key
    `keys[i]` (default: every key of the first column, which the others must hold;
    `index_range` slices them); with `as_dict` (the original's later API) a dict from
    those names to the samples. Use it with `torch.utils.data.DataLoader`, any number of
    workers."""
    try:
        import torch  # type: ignore[import-not-found, import-untyped, unused-ignore]  # noqa: F401  # optional
    except ImportError:
        raise ImportError("make_torch_dataset needs PyTorch: pip install torch") from None
    cols, chosen = _select(columns, keys, index_range)
    checkouts = {id(c._co) for c in cols}
    if len(checkouts) != 1 or cols[0].iswriteable:
        raise ValueError("make_torch_dataset reads columns of one reader checkout (repo.checkout())")
    co = cols[0]._co
    if field_names is not None and not isinstance(field_names, (list, tuple)):
        raise TypeError(f"field_names is a list or tuple of str, not {type(field_names).__name__}")
    names = tuple(field_names) if field_names is not None else tuple(c.column for c in cols)
    if len(names) != len(cols):
        raise ValueError(f"{len(names)} field names for {len(cols)} columns")
    repo = co._repo
    stream = repo._stream_cache_bytes if getattr(repo, "_streaming", False) else None
    return TorchDataset(repo.path, co.commit_hash, [c.column for c in cols], list(chosen), names, stream, as_dict)


def _chunked_rows(columns: List[Column], keys: List[KeyType], shuffle: bool, chunk: int = 256) -> Iterator[Tuple[Any, ...]]:
    """Per key, a tuple of the columns' samples; fixed-shape numeric columns are read
    `chunk` keys per C call."""
    order = list(keys)
    if shuffle:
        random.shuffle(order)
    batched = [_batchable(c) for c in columns]
    for start in range(0, len(order), chunk):
        ks = order[start : start + chunk]
        cols = [c.get_batch(ks) if b else [c[k] for k in ks] for c, b in zip(columns, batched)]
        for i in range(len(ks)):
            yield tuple(col[i] for col in cols)


def make_tensorflow_dataset(
    columns: Union[Column, Sequence[Column]],
    keys: Optional[Sequence[KeyArg]] = None,
    index_range: Optional[slice] = None,
    shuffle: bool = False,
):
    """A `tf.data.Dataset` over columns of one checkout (the original's
    `make_tensorflow_dataset`): each element is a tuple of the columns' samples of one
    key (default: every key of the first column, which the others must hold;
    `index_range` slices them), fixed-shape numeric columns read in chunks with one C
    call each, str and bytes columns as `tf.string`. `shuffle` reshuffles every key
    each epoch (a global shuffle, unlike `Dataset.shuffle`'s buffer). Batch, map and
    prefetch it as any dataset. Built with `from_generator`: it runs in this process."""
    try:
        import tensorflow as tf  # type: ignore[import-not-found, import-untyped, unused-ignore]  # optional
    except ImportError:
        raise ImportError("make_tensorflow_dataset needs TensorFlow: pip install tensorflow-cpu") from None
    cols, chosen = _select(columns, keys, index_range)
    specs = []
    for c in cols:
        if c.contains_subsamples:
            raise ValueError(f"column {c.column!r} is nested: make_tensorflow_dataset reads flat columns")
        if c.column_type != "ndarray":
            specs.append(tf.TensorSpec(shape=(), dtype=tf.string))
        elif c.schema_type == "variable_shape":
            specs.append(tf.TensorSpec(shape=(None,) * len(c.shape or ()), dtype=tf.as_dtype(c.dtype)))
        else:
            specs.append(tf.TensorSpec(shape=c.shape, dtype=tf.as_dtype(c.dtype)))

    def generator() -> Iterator[Tuple[Any, ...]]:
        yield from _chunked_rows(cols, chosen, shuffle)

    return tf.data.Dataset.from_generator(generator, output_signature=tuple(specs))


def make_tf_dataset(
    columns: Union[Column, Sequence[Column]],
    keys: Optional[Sequence[KeyArg]] = None,
    index_range: Optional[slice] = None,
    shuffle: bool = True,
):
    """The original 0.5's name and defaults (shuffled) for `make_tensorflow_dataset`."""
    return make_tensorflow_dataset(columns, keys=keys, index_range=index_range, shuffle=shuffle)
