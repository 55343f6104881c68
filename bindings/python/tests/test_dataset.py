"""make_numpy_dataset: samples of several columns aligned by key, in batches."""

import numpy as np
import pytest

from hangar import make_numpy_dataset


@pytest.fixture
def filled(repo):
    co = repo.checkout(write=True)
    imgs = co.add_ndarray_column("imgs", shape=(5, 7), dtype=np.float32)
    labels = co.add_ndarray_column("labels", shape=(1,), dtype=np.int64)
    names = co.add_str_column("names")
    data = np.random.default_rng(3).random((20, 5, 7), dtype=np.float32)
    imgs.update({i: data[i] for i in range(20)})
    labels.update({i: np.array([i % 3]) for i in range(20)})
    for i in range(20):
        names[i] = f"sample {i}"
    co.commit("20 samples")
    co.close()
    reader = repo.checkout()
    yield reader, data
    reader.close()


def test_batches_are_aligned_by_key_and_cover_every_sample(filled):
    co, data = filled
    ds = make_numpy_dataset([co.columns["imgs"], co.columns["labels"]], batch_size=6, shuffle=True)
    assert len(ds) == 4  # 6 + 6 + 6 + 2
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
    dropped = make_numpy_dataset([co.columns["imgs"]], batch_size=6, drop_last=True, shuffle=False)
    assert len(dropped) == 3 and [b[0].shape[0] for b in dropped] == [6, 6, 6]
    np.testing.assert_array_equal(next(iter(dropped))[0], data[:6])


def test_unbatched_keys_strings_and_collate(filled):
    co, data = filled
    ds = make_numpy_dataset([co.columns["imgs"], co.columns["names"]], keys=[3, 1], shuffle=False)
    items = list(ds)
    assert len(ds) == 2 and items[0][1] == "sample 3"
    np.testing.assert_array_equal(items[1][0], data[1])
    batches = list(make_numpy_dataset(co.columns["names"], batch_size=10, shuffle=False))
    assert batches[0][0][:2] == ["sample 0", "sample 1"]
    sums = make_numpy_dataset(
        co.columns["imgs"], batch_size=5, shuffle=False, collate_fn=lambda items: sum(float(x[0].sum()) for x in items)
    )
    assert next(iter(sums)) == pytest.approx(float(data[:5].sum()), rel=1e-5)


def test_bad_arguments_are_refused(filled):
    co, _ = filled
    with pytest.raises(KeyError):
        make_numpy_dataset(co.columns["imgs"], keys=[0, 99])
    with pytest.raises(ValueError, match="exceeds"):
        make_numpy_dataset(co.columns["imgs"], batch_size=21)
    with pytest.raises(ValueError):
        make_numpy_dataset(co.columns["imgs"], batch_size=0)
    with pytest.raises(ValueError):
        make_numpy_dataset([])
    with pytest.raises(TypeError):
        make_numpy_dataset(["imgs"])
    with pytest.raises(KeyError):
        co.columns["imgs"].get_batch([0, 99])
    with pytest.raises(TypeError):
        co.columns["names"].get_batch([0])
