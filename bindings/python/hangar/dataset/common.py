"""`HangarDataset`: the columns a `hangar.dataset` dataset reads and its keys, checked as
the original's (hangar-py's `hangar.dataset.common`)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .._ffi import ReadOnlyError, plain_key
from ..columns import Column

KeyType = Union[str, int, "np.integer[Any]", List[Any], Tuple[Any, ...]]


def _norm(key: Any) -> Any:
    return tuple(_norm(k) for k in key) if isinstance(key, tuple) else plain_key(key)


class HangarDataset:
    """Columns arranged as one dataset, and its keys.

    `columns` is a column or a list or tuple of them, of reader checkouts (`TypeError`
    for an empty sequence or something else than a column, `PermissionError` for a
    writer's column). Without `keys`, the keys are every key whose value is local in
    the first column (`RuntimeError` when there is none), which every other column
    must hold exactly (`KeyError` otherwise); the columns must then all be flat or all
    be nested (`ValueError`), and a nested column's key is `(sample, ...)`, which reads
    the sample's subsamples as a dict. With `keys`, each is one column's key (one
    column), or a tuple of a key per column (several columns; a plain key is then every
    column's); they are not checked until read (`KeyError` then).

    `index_get(i)` reads item `i`: the sample, or for several columns a tuple of them."""

    def __init__(self, columns: Union[Column, Sequence[Column]], keys: Optional[Sequence[KeyType]] = None):
        self._columns: Dict[str, Column] = OrderedDict()
        given: Sequence[Any]
        if isinstance(columns, (list, tuple)):
            if len(columns) == 0:
                raise TypeError("a dataset needs at least one column: the sequence given is empty")
            given = columns
        else:
            given = (columns,)
        for obj in given:
            if not isinstance(obj, Column):
                raise TypeError(f"every element must be a hangar column, not {type(obj).__name__}")
            if obj.iswriteable:
                # A PermissionError as the original's; a TypeError too, as 0.5's dataloaders.
                raise ReadOnlyError(
                    f"column {obj.column!r} belongs to a write-enabled checkout: datasets read "
                    "columns of a reader checkout (close the writer and use repo.checkout())"
                )
            self._columns[obj.column] = obj
        cols = list(self._columns.values())
        n = len(cols)
        self._keys: Any
        if keys is not None and len(keys) > 0:
            self._keys = keys
            if n == 1:
                self._rows: List[Tuple[Any, ...]] = [(_norm(k),) for k in keys]
            else:
                self._rows = [
                    tuple(_norm(x) for x in k) if isinstance(k, tuple) and len(k) == n else (_norm(k),) * n
                    for k in keys
                ]
            return
        if len({c.column_layout for c in cols}) != 1:
            raise ValueError(
                "the columns are not all flat or all nested: pass keys (for each item, a tuple of "
                "one key per column)"
            )
        per_column = []
        first: Optional[set] = None
        for c in cols:
            local = list(c.keys(local=True))
            if first is None:
                if not local:
                    raise RuntimeError(f"no local data found: column {c.column!r} has no sample here")
                first = set(local)
            elif first.symmetric_difference(local):
                raise KeyError(
                    f"the keys of column {c.column!r} do not match those of column {cols[0].column!r}: "
                    "pass keys explicitly when creating the dataset"
                )
            per_column.append([(k, ...) for k in local] if c.contains_subsamples else local)
        if n == 1:
            self._keys = tuple(per_column[0])
            self._rows = [(k,) for k in per_column[0]]
        else:
            self._keys = tuple(zip(*per_column))
            self._rows = list(self._keys)

    @property
    def columns(self) -> Dict[str, Column]:
        return self._columns

    def __len__(self) -> int:
        return len(self._rows)

    def index_get(self, index: int) -> Any:
        """Item `index`: one column's sample, or a tuple of each column's."""
        row = self._rows[index]
        values = tuple(col[k] for col, k in zip(self._columns.values(), row))
        return values[0] if len(values) == 1 else values
