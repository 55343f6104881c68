"""User code written against the package's public API, as its users write it: run by
test_typing.py, and type-checked there by mypy, which must accept it as it stands (the
annotations, `py.typed` and the overloads of `checkout`, `log` and `summary` are what an
IDE's completion and a user's own mypy run go by)."""

from typing import Any, Dict, List, Optional

import numpy as np

import hangar
from hangar import Repository, make_numpy_dataset


def main(path: str) -> None:
    """Every step runs, and mypy accepts every line."""
    repo = Repository(path, exists=False)
    repo.init(user_name="a", user_email="a@example.com", remove_old=True)
    # `write=True` is a WriterCheckout to a type checker (an overload), not a union.
    co = repo.checkout(write=True)
    images = co.add_ndarray_column("images", shape=(28, 28), dtype=np.uint8)
    labels = co.add_ndarray_column("labels", prototype=np.array([0], dtype=np.int64))
    names = co.add_str_column("names")
    raw = co.add_bytes_column("raw")
    nested = co.add_ndarray_column("nested", shape=(3,), dtype=np.float32, contains_subsamples=True)
    img = np.zeros((28, 28), np.uint8)
    images[0] = img
    images["zero"] = img
    images[np.int64(1)] = img + 1  # numpy integers are keys too
    k: int = 2
    images[k] = img
    batch: Dict[int, np.ndarray] = {3: img, 4: img}
    images.update(batch)  # a dict[int, ...], not only dict[str | int, ...]
    images.update([(5, img)], six=img)
    images.put_batch(list(range(10, 20)), np.zeros((10, 28, 28), np.uint8))
    with images:
        for i in range(20, 30):
            images[i] = img
    appended = images.append(img)
    names["a"] = "hello"
    raw["a"] = b"\x00"
    nested["s"] = {"a": np.zeros(3, np.float32), 0: np.ones(3, np.float32)}
    nested["s"]["b"] = np.zeros(3, np.float32)
    co["labels", 0] = np.array([1])
    co.metadata["source"] = "usage"
    assert 0 in images and "zero" in images and appended in images
    first: np.ndarray = images[0]
    assert first.shape == (28, 28)
    popped = images.pop(np.int64(1))
    assert int(popped[0, 0]) == 1 and 1 not in images
    del images["zero"]
    keys: List[Any] = list(images.keys())
    assert len(keys) == len(images) == 27  # 0, 2-5, six, 10-29 and the appended one
    for key, value in images.items():
        assert value.shape == (28, 28), key
    stacked = images.get_batch([0, 2, np.int64(3)])
    assert stacked.shape == (3, 28, 28)
    digest: str = co.commit("first")
    co.close()
    repo.create_branch("dev")
    assert repo.list_branches() == ["dev", "master"]
    assert repo.log(return_contents=True)["order"] == [digest]  # a dict, not Optional
    assert repo.summary(return_contents=True).startswith("Summary")  # a str
    assert repo.size_human.endswith("B")
    reader = repo.checkout(branch="dev")
    assert reader.commit_hash == digest
    assert reader.columns["names"]["a"] == "hello" and reader["raw", "a"] == b"\x00"
    both = reader[("images", 0), ("labels", 0)]
    assert both[1].tolist() == [1]
    assert sorted(reader["nested", "s"].keys(), key=str) == [0, "a", "b"]
    ds = make_numpy_dataset([reader.columns["images"], labels_of(reader)], keys=[0, np.int64(0)], batch_size=2)
    for batch_imgs, batch_labels in ds:
        assert batch_imgs.shape == (2, 28, 28) and batch_labels.shape == (2, 1)
    assert reader.log(return_contents=True)["head"] == digest
    reader.close()
    # The original's older names, as the seed tutorial uses them.
    co = repo.checkout(write=True)
    dset = co.datasets.init_dataset(name="mnist", prototype=img)
    assert dset.add(data=img, name="0") == "0"
    co.close()
    assert isinstance(hangar.__version__, str)
    # Flags held in variables: the general overloads.
    wants: bool = bool(len(keys))
    maybe = repo.checkout(write=wants)
    maybe.close()
    history: Optional[Dict[str, Any]] = repo.log(return_contents=wants)
    text: Optional[str] = repo.summary(return_contents=wants)
    assert history is not None and text is not None


def labels_of(reader: hangar.ReaderCheckout) -> hangar.Column:
    """A helper with the package's classes in its signature."""
    return reader.columns["labels"]
