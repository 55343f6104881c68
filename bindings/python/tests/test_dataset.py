"""hangar.dataset as the original's (hangar-py after 0.5.2): make_numpy_dataset's items and
batches, HangarDataset's keys (a key per column, nested samples as dicts) and errors."""

import numpy as np
import pytest

from hangar import make_numpy_dataset
from hangar.dataset import HangarDataset
from hangar.dataset import make_numpy_dataset as from_the_module


@pytest.fixture
def filled(repo):
    co = repo.checkout(write=True)
    imgs = co.add_ndarray_column("imgs", shape=(5, 7), dtype=np.float32)
    labels = co.add_ndarray_column("labels", shape=(1,), dtype=np.int64)
    names = co.add_str_column("names")
    subs = co.add_ndarray_column("subs", shape=(3,), dtype=np.uint8, contains_subsamples=True)
    other = co.add_ndarray_column("other", shape=(3,), dtype=np.uint8, contains_subsamples=True)
    data = np.random.default_rng(3).random((20, 5, 7), dtype=np.float32)
    imgs.update({i: data[i] for i in range(20)})
    labels.update({i: np.array([i % 3]) for i in range(20)})
    for i in range(20):
        names[i] = f"sample {i}"
        subs[i] = {f"s{j}": np.full(3, i * 10 + j, np.uint8) for j in range(i % 3 + 1)}
        other[i] = {"x": np.full(3, i, np.uint8)}
    co.commit("20 samples")
    co.close()
    reader = repo.checkout()
    yield reader, data
    reader.close()


def test_batches_are_aligned_by_key_and_cover_every_sample(filled):
    co, data = filled
    assert make_numpy_dataset is from_the_module
    ds = make_numpy_dataset([co.columns["imgs"], co.columns["labels"]], batch_size=6, shuffle=True)
    assert len(ds) == 20 and ds.num_batches == 4 and ds.batch_size == 6  # 6 + 6 + 6 + 2
    seen = []
    for imgs, labels in ds:
        assert imgs.shape[1:] == (5, 7) and imgs.dtype == np.float32
        assert labels.shape[1:] == (1,)
        for img, label in zip(imgs, labels):
            i = int(np.argmin([np.abs(d - img).sum() for d in data]))
            np.testing.assert_array_equal(img, data[i])
            assert label[0] == i % 3
            seen.append(i)
    assert sorted(seen) == list(range(20))
    # One column: its batches themselves (not 1-tuples), as the original.
    dropped = make_numpy_dataset([co.columns["imgs"]], batch_size=6, drop_last=True, shuffle=False)
    batches = list(dropped)
    assert dropped.num_batches == 3 and [b.shape for b in batches] == [(6, 5, 7)] * 3
    np.testing.assert_array_equal(batches[0], data[:6])


def test_items_without_batching_and_shuffle(filled):
    co, data = filled
    ds = make_numpy_dataset(co.columns["imgs"], keys=list(range(15)), shuffle=False)
    items = list(ds)
    assert len(items) == 15 and isinstance(items[0], np.ndarray)
    np.testing.assert_array_equal(items[4], data[4])
    shuffled = make_numpy_dataset(co.columns["imgs"], keys=list(range(15)), shuffle=True)
    orders = {tuple(int(np.argmin([np.abs(d - x).sum() for d in data])) for x in shuffled) for _ in range(3)}
    assert any(o != tuple(range(15)) for o in orders)
    # batch_size 0 or None: items, one by one.
    assert len(list(make_numpy_dataset([co.columns["imgs"], co.columns["labels"]], batch_size=0))) == 20


def test_keys_per_column_strings_and_collate(filled):
    co, data = filled
    # A plain key is every column's; a tuple of one key per column pairs samples.
    ds = make_numpy_dataset([co.columns["imgs"], co.columns["names"]], keys=[3, (1, 2)], shuffle=False)
    items = list(ds)
    assert items[0][1] == "sample 3" and items[1][1] == "sample 2"
    np.testing.assert_array_equal(items[1][0], data[1])
    batches = list(make_numpy_dataset(co.columns["names"], batch_size=10, shuffle=False))
    assert batches[0][:2] == ["sample 0", "sample 1"]
    two = next(iter(make_numpy_dataset([co.columns["labels"], co.columns["names"]], batch_size=4, shuffle=False)))
    assert two[0].shape == (4, 1) and two[1] == ("sample 0", "sample 1", "sample 2", "sample 3")
    sums = make_numpy_dataset(co.columns["imgs"], batch_size=5, shuffle=False, collate_fn=lambda items: sum(float(x.sum()) for x in items))
    assert next(iter(sums)) == pytest.approx(float(data[:5].sum()), rel=1e-5)


def test_nested_columns_give_dicts_of_subsamples(filled):
    co, _ = filled
    ds = make_numpy_dataset([co.columns["subs"]], shuffle=False)
    first = next(iter(ds))
    assert isinstance(first, dict) and list(first) == ["s0"]
    np.testing.assert_array_equal(first["s0"], np.zeros(3, np.uint8))
    pair = make_numpy_dataset([co.columns["subs"], co.columns["other"]], batch_size=2, drop_last=True, shuffle=False)
    a, b = next(iter(pair))
    assert type(a) is tuple and len(a) == 2 and list(a[1]) == ["s0", "s1"] and list(b[0]) == ["x"]
    # (sample, subsample) keys for one column, (sample, ...) for all of a sample's.
    picked = make_numpy_dataset([co.columns["subs"], co.columns["imgs"]], keys=[((2, "s1"), 2), ((4, ...), 4)], shuffle=False)
    x, y = list(picked)
    np.testing.assert_array_equal(x[0], np.full(3, 21, np.uint8))
    assert list(y[0]) == ["s0", "s1"]
    assert co.columns["subs"][5, "s2", 1] == 52  # indexing on into the subsample, as the original


def test_hangar_dataset_keys_and_errors(filled, repo):
    co, data = filled
    ds = HangarDataset((co.columns["imgs"], co.columns["labels"]))
    k1, k2 = ds._keys[0]
    assert k1 == k2 and len(ds) == 20
    np.testing.assert_array_equal(ds.index_get(0)[0], data[k1])
    with pytest.raises(TypeError):
        HangarDataset([])
    with pytest.raises(TypeError):
        HangarDataset(["imgs"])
    with pytest.raises(ValueError, match="not all flat or all nested"):
        HangarDataset([co.columns["imgs"], co.columns["subs"]])
    bad = HangarDataset(co.columns["imgs"], keys=["w", "r"])
    with pytest.raises(KeyError):
        bad.index_get(1)
    w = repo.checkout(write=True)
    try:
        with pytest.raises(PermissionError):
            HangarDataset(w.columns["imgs"])
        w.columns["imgs"]["extra"] = data[0]
        w.commit("one more")
    finally:
        w.close()
    r2 = repo.checkout()
    try:
        with pytest.raises(KeyError, match="pass keys explicitly"):
            HangarDataset([r2.columns["imgs"], r2.columns["labels"]])
    finally:
        r2.close()


def test_bad_arguments_are_refused(filled):
    co, _ = filled
    with pytest.raises(RuntimeError, match="exceeds"):
        make_numpy_dataset(co.columns["imgs"], batch_size=21)
    with pytest.raises(ValueError):
        make_numpy_dataset(co.columns["imgs"], batch_size=-1)
    with pytest.raises(RuntimeError, match="drop_last"):
        make_numpy_dataset(co.columns["imgs"], drop_last=True)
    with pytest.raises(RuntimeError, match="collate_fn"):
        make_numpy_dataset(co.columns["imgs"], collate_fn=list)
    with pytest.raises(TypeError):
        make_numpy_dataset([])
    with pytest.raises(KeyError):
        co.columns["imgs"].get_batch([0, 99])
    with pytest.raises(TypeError):
        co.columns["names"].get_batch([0])
