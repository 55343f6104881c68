"""Iterating over the samples of one or more columns, as the original's `hangar.dataset`
(hangar-py after 0.5.2): `make_numpy_dataset` (batches), `make_torch_dataset` and
`make_tensorflow_dataset`. An item is one column's sample, or for several columns a
tuple of them; keys are as `HangarDataset` (`hangar.dataset.common`) takes them. (The
0.5 dataloaders, `hangar.make_torch_dataset` and `hangar.make_tf_dataset`, give
namedtuples and share one key between columns: `hangar.dataloaders`.)"""

from __future__ import annotations

import random
from typing import Any, Callable, Iterator, List, Optional, Sequence, Union

import numpy as np

from ..columns import Column
from ..dataloaders import TorchDataset, _check_present, _read_columns, _tf_dataset, _torch_dataset
from .common import HangarDataset, KeyType

__all__ = ("make_numpy_dataset", "make_torch_dataset", "make_tensorflow_dataset", "NumpyDataset", "HangarDataset")


def default_collate_fn(batch: List[Any]) -> Any:
    """The original's default batch: numeric samples stacked into one array; str,
    bytes and nested samples (dicts) as they come, a list; several columns' items
    collated column by column into a tuple."""
    elem = batch[0]
    if isinstance(elem, np.ndarray):
        return np.stack(batch)
    if isinstance(elem, tuple):
        return tuple(default_collate_fn(list(column)) if isinstance(column[0], np.ndarray) else column for column in zip(*batch))
    return batch


class NumpyDataset:
    """Batches (or single items) of a `HangarDataset`, made by `make_numpy_dataset`:
    iterate over it, one epoch per iteration (reshuffled when `shuffle`). `len()` is
    the number of items; `num_batches` the batches an epoch yields."""

    def __init__(
        self,
        dataset: HangarDataset,
        batch_size: Optional[int],
        drop_last: bool,
        shuffle: bool,
        collate_fn: Optional[Callable[[List[Any]], Any]] = None,
    ):
        self._dataset = dataset
        self._num_batches: Optional[int] = None
        self._batch_size: Optional[int] = None
        self.collate_fn = collate_fn
        if batch_size:
            if not isinstance(batch_size, int) or batch_size < 1:
                raise ValueError(f"batch_size must be an int >= 1, not {batch_size!r}")
            full, rest = divmod(len(dataset), batch_size)
            if full == 0:
                raise RuntimeError(f"batch size {batch_size} exceeds the number of samples ({len(dataset)})")
            self._num_batches = full + (1 if rest and not drop_last else 0)
            self._batch_size = batch_size
        else:
            if collate_fn is not None:
                raise RuntimeError("Found `collate_fn` in the argument which is a no-op since batching is not enabled")
            if drop_last:
                raise RuntimeError("Setting `drop_last` is a no-op when batching is not enabled")
        self._shuffle = shuffle
        self._indices = list(range(len(dataset)))

    @property
    def dataset(self) -> HangarDataset:
        return self._dataset

    @property
    def num_batches(self) -> Optional[int]:
        return self._num_batches

    @property
    def batch_size(self) -> Optional[int]:
        return self._batch_size

    @property
    def shuffle(self) -> bool:
        return self._shuffle

    @shuffle.setter
    def shuffle(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"shuffle is a bool, not {type(value).__name__}")
        self._shuffle = value

    def __len__(self) -> int:
        return len(self._dataset)

    def _batch(self, indices: List[int]) -> Any:
        ds = self._dataset
        if self.collate_fn is not None:
            return self.collate_fn([ds.index_get(i) for i in indices])
        cols = list(ds.columns.values())
        out: List[Any] = []
        # Fixed-shape numeric columns come as one array (one C call for the batch).
        for values in _read_columns(cols, [ds._rows[i] for i in indices]):
            if isinstance(values, np.ndarray):
                out.append(values)
            elif all(isinstance(v, np.ndarray) for v in values) and len({v.shape for v in values}) == 1:
                out.append(np.stack(values))
            else:
                # str, bytes, nested samples (dicts), arrays of several shapes.
                out.append(values if len(cols) == 1 else tuple(values))
        return out[0] if len(cols) == 1 else tuple(out)

    def __iter__(self) -> Iterator[Any]:
        if self._shuffle:
            random.shuffle(self._indices)
        if self._num_batches is None:
            for i in self._indices:
                yield self._dataset.index_get(i)
            return
        size = self._batch_size or 1
        for b in range(self._num_batches):
            yield self._batch(self._indices[b * size : (b + 1) * size])


def make_numpy_dataset(
    columns: Union[Column, Sequence[Column]],
    keys: Optional[Sequence[KeyType]] = None,
    batch_size: Optional[int] = None,
    drop_last: bool = False,
    shuffle: bool = True,
    collate_fn: Optional[Callable[[List[Any]], Any]] = None,
) -> NumpyDataset:
    """The columns as one dataset to iterate over: each item is one column's sample,
    or a tuple of each column's (keys: see `HangarDataset`). With `batch_size`, batches
    instead: per column, numeric samples stacked into one array (read with one C call
    per batch), other samples as a list (one column) or tuple; `collate_fn` builds a
    batch from the list of items instead. `drop_last` drops a last batch smaller than
    `batch_size` (a `RuntimeError` without batching, as `collate_fn` is; so is a batch
    larger than the data). `shuffle` reorders the items every epoch."""
    return NumpyDataset(HangarDataset(columns, keys), batch_size, drop_last, shuffle, collate_fn)


def make_torch_dataset(
    columns: Union[Column, Sequence[Column]],
    keys: Optional[Sequence[KeyType]] = None,
    as_dict: bool = False,
) -> TorchDataset:
    """A `torch.utils.data.Dataset` over the columns (keys: see `HangarDataset`): item
    `i` is one column's sample, or a tuple of each column's (a dict by column name with
    `as_dict`), numeric samples as tensors. Shuffle, batch and parallelize with
    `torch.utils.data.DataLoader` (any number of workers: each opens its own checkout);
    a batch's fixed-shape samples are read with one C call per column."""
    ds = HangarDataset(columns, keys)
    cols = list(ds.columns.values())
    return _torch_dataset(cols, list(ds._rows), tuple(c.column for c in cols), as_dict, plain=True)


def make_tensorflow_dataset(
    columns: Union[Column, Sequence[Column]],
    keys: Optional[Sequence[KeyType]] = None,
    shuffle: bool = False,
):
    """A `tf.data.Dataset` over flat columns (keys: see `HangarDataset`): each element
    is a tuple of the columns' samples, fixed-shape numeric columns read in chunks with
    one C call each, str and bytes columns as `tf.string`. `shuffle` reshuffles every
    item each epoch (a global shuffle, unlike `Dataset.shuffle`'s buffer). Built with
    `from_generator`: it runs in this process."""
    ds = HangarDataset(columns, keys)
    cols = list(ds.columns.values())
    if keys is not None:
        # Checked here, not when read: inside tf.data a missing key would surface as an
        # error of the generator, far from its cause.
        for j, col in enumerate(cols):
            _check_present(col, [r[j] for r in ds._rows])
    return _tf_dataset(cols, list(ds._rows), shuffle)
