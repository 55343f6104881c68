"""make_torch_dataset with PyTorch's DataLoader: several worker processes, each with its
own reader checkout, every sample once per epoch, columns aligned."""

import multiprocessing

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is installed by bindings/python/run-tests.sh")
from torch.utils.data import DataLoader  # noqa: E402

from hangar import make_torch_dataset  # noqa: E402


@pytest.fixture
def reader(repo):
    co = repo.checkout(write=True)
    imgs = co.add_ndarray_column("imgs", shape=(4, 4), dtype=np.float32)
    labels = co.add_ndarray_column("labels", shape=(1,), dtype=np.int64)
    imgs.update({i: np.full((4, 4), float(i), dtype=np.float32) for i in range(100)})
    labels.update({i: np.array([i]) for i in range(100)})
    co.commit("100 samples")
    co.close()
    r = repo.checkout()
    yield r
    r.close()


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_a_multi_worker_dataloader_sees_every_sample_once(reader, start):
    ds = make_torch_dataset([reader.columns["imgs"], reader.columns["labels"]], field_names=("x", "y"))
    assert len(ds) == 100
    item = ds[7]
    assert item.x.shape == (4, 4) and int(item.y[0]) == 7
    loader = DataLoader(
        ds, batch_size=16, shuffle=True, num_workers=2, multiprocessing_context=multiprocessing.get_context(start)
    )
    seen = []
    for batch in loader:
        assert batch.x.shape[1:] == (4, 4)
        # Aligned by key: each image is filled with its label.
        assert torch.equal(batch.x[:, 0, 0].long(), batch.y[:, 0])
        seen.extend(int(v) for v in batch.y[:, 0])
    assert sorted(seen) == list(range(100))


def test_keys_index_range_and_refusals(reader, repo):
    ds = make_torch_dataset(reader.columns["labels"], keys=[5, 6, 7, 8], index_range=slice(1, 3))
    assert len(ds) == 2 and int(ds[0].labels[0]) == 6
    with pytest.raises(ValueError, match="field names"):
        make_torch_dataset([reader.columns["imgs"]], field_names=("a", "b"))
    with pytest.raises(KeyError):
        make_torch_dataset(reader.columns["imgs"], keys=[1000])
    with pytest.raises(TypeError, match="list or tuple"):
        make_torch_dataset([reader.columns["imgs"]], field_names={"a": ""})
    with pytest.raises(TypeError):
        make_torch_dataset(reader.columns["imgs"], reader.columns["labels"])
    w = repo.checkout(write=True)
    with pytest.raises(TypeError, match="reader checkout"):
        make_torch_dataset(w.columns["imgs"])
    # Columns of different lengths: the keys all hold, with the original's warning.
    del w.columns["labels"][99]
    w.commit("one label less")
    w.close()
    r = repo.checkout()
    with pytest.warns(UserWarning, match="equal number of samples"):
        ds = make_torch_dataset([r.columns["imgs"], r.columns["labels"]])
    assert len(ds) == 99
    r.close()


def test_as_dict_items_and_batches_by_column_name(reader):
    """The original's later `make_torch_dataset(columns, keys, as_dict=True)`: each item
    a dict by column name, batched by the DataLoader's default collate into a dict of
    tensors, in worker processes too."""
    ds = make_torch_dataset([reader.columns["imgs"], reader.columns["labels"]], as_dict=True)
    item = ds[3]
    assert isinstance(item, dict) and list(item) == ["imgs", "labels"]
    assert item["imgs"].shape == (4, 4) and int(item["labels"][0]) == 3
    loader = DataLoader(ds, batch_size=25, num_workers=2)
    seen = []
    for batch in loader:
        assert set(batch) == {"imgs", "labels"} and batch["imgs"].shape == (25, 4, 4)
        assert torch.equal(batch["imgs"][:, 0, 0].long(), batch["labels"][:, 0])
        seen.extend(int(v) for v in batch["labels"][:, 0])
    assert seen == list(range(100))
    named = make_torch_dataset(reader.columns["labels"], keys=[9], field_names=("y",), as_dict=True)
    assert list(named[0]) == ["y"] and int(named[0]["y"][0]) == 9


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_the_later_api_gives_samples_and_tuples_and_a_key_per_column(reader, start):
    # hangar.dataset.make_torch_dataset (the original's HEAD): one column's item is its
    # sample, several columns' a tuple (a list per batch from the DataLoader), as_dict
    # a dict by column name; keys may pair different samples of each column.
    from hangar.dataset import make_torch_dataset as later

    one = later(reader.columns["imgs"])
    assert len(one) == 100 and one[7].shape == (4, 4) and float(one[7][0, 0]) == 7.0
    ctx = multiprocessing.get_context(start)
    batches = list(DataLoader(one, batch_size=10, drop_last=True, num_workers=2, multiprocessing_context=ctx))
    assert len(batches) == 10 and all(b.shape == (10, 4, 4) for b in batches)
    pair = later([reader.columns["imgs"], reader.columns["labels"]], keys=[(1, 2), (3, 3), 5])
    assert [int(pair[i][1][0]) for i in range(3)] == [2, 3, 5] and float(pair[0][0][0, 0]) == 1.0
    for batch in DataLoader(pair, batch_size=3, num_workers=2, multiprocessing_context=ctx):
        assert isinstance(batch, list) and batch[1].flatten().tolist() == [2, 3, 5]
        assert batch[0][:, 0, 0].tolist() == [1.0, 3.0, 5.0]
    as_dict = later([reader.columns["imgs"], reader.columns["labels"]], as_dict=True)
    first = next(iter(DataLoader(as_dict, batch_size=5)))
    assert set(first) == {"imgs", "labels"} and first["labels"].shape == (5, 1)


def test_workers_freeze_the_objects_they_inherit_and_the_main_process_does_not(reader):
    # A forked worker's garbage collector would walk (and copy, page by page) every
    # object of the training process: the dataset moves them to the permanent
    # generation when it first reads in a worker, and only there.
    import gc

    ds = make_torch_dataset([reader.columns["imgs"], reader.columns["labels"]])
    ctx = multiprocessing.get_context("fork")
    frozen = list(
        DataLoader(ds, batch_size=20, num_workers=2, multiprocessing_context=ctx, collate_fn=lambda _: gc.get_freeze_count())
    )
    assert len(frozen) == 5 and all(n > 1000 for n in frozen), frozen
    before = gc.get_freeze_count()
    assert len(list(DataLoader(ds, batch_size=20, num_workers=0))) == 5
    assert gc.get_freeze_count() == before


def test_batches_of_integer_keys_and_of_other_keys_read_alike(repo):
    # Integer keys take the one-array path, string keys the general one: same items.
    co = repo.checkout(write=True)
    x = co.add_ndarray_column("x", shape=(3,), dtype=np.int16)
    s = co.add_str_column("s")
    x.update({i: np.full(3, i, dtype=np.int16) for i in range(30)})
    x.update({f"k{i}": np.full(3, 100 + i, dtype=np.int16) for i in range(30)})
    s.update({i: f"text {i}" for i in range(30)})
    s.update({f"k{i}": f"text k{i}" for i in range(30)})
    co.commit("ints and strings")
    co.close()
    r = repo.checkout()
    from hangar.dataset import make_torch_dataset as later

    ints = later([r.columns["x"], r.columns["s"]], keys=list(range(30)))
    strs = later([r.columns["x"], r.columns["s"]], keys=[f"k{i}" for i in range(30)])
    order = [29, 0, 7, 7, 3]
    for ds, base, prefix in ((ints, 0, ""), (strs, 100, "k")):
        got = ds.__getitems__(order)
        assert [int(v[0][0]) for v in got] == [base + i for i in order]
        assert [v[1] for v in got] == [f"text {prefix}{i}" for i in order]
        assert all(torch.equal(g[0], ds[i][0]) for g, i in zip(got, order))
    r.close()
