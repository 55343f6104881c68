"""libhangar for Python: version control for tensor data.

A drop-in for the original Hangar's Python API (`from hangar import Repository`), built on
libhangar's C ABI (the library ships inside this package)::

    from hangar import Repository
    repo = Repository(path="my-repo")
    repo.init(user_name="Ada", user_email="ada@example.com")
    co = repo.checkout(write=True)
    images = co.add_ndarray_column("images", shape=(28, 28), dtype="uint8")
    images[0] = np.zeros((28, 28), dtype="uint8")
    co.commit("first images")
    co.close()
"""

from ._ffi import (
    BranchInUseError,
    CorruptionError,
    HangarError,
    MergeConflictError,
    NoCommitsError,
    NotFetchedError,
    ReadOnlyError,
    SampleKeyError,
    StagingNotCleanError,
    UnmergedBranchError,
    version as _version,
)
from .checkout import Columns, Metadata, ReaderCheckout, WriterCheckout
from .columns import Column, NestedSample
from .dataloaders import TorchDataset, make_tf_dataset, make_torch_dataset
from .dataset import NumpyDataset, make_numpy_dataset, make_tensorflow_dataset
from .remotes import RemoteInfo, Remotes
from .repository import BranchHead, Repository

__version__ = _version()

__all__ = [
    "BranchHead",
    "BranchInUseError",
    "Column",
    "Columns",
    "CorruptionError",
    "HangarError",
    "MergeConflictError",
    "NestedSample",
    "NoCommitsError",
    "NotFetchedError",
    "ReadOnlyError",
    "SampleKeyError",
    "StagingNotCleanError",
    "UnmergedBranchError",
    "RemoteInfo",
    "Remotes",
    "NumpyDataset",
    "Metadata",
    "ReaderCheckout",
    "TorchDataset",
    "Repository",
    "WriterCheckout",
    "__version__",
    "make_numpy_dataset",
    "make_tensorflow_dataset",
    "make_tf_dataset",
    "make_torch_dataset",
]
