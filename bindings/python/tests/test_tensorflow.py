"""make_tensorflow_dataset: a tf.data pipeline over columns of one checkout."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow", reason="tensorflow-cpu is installed by bindings/python/run-tests.sh")

from hangar import make_tensorflow_dataset, make_tf_dataset  # noqa: E402


@pytest.fixture
def reader(repo):
    co = repo.checkout(write=True)
    imgs = co.add_ndarray_column("imgs", shape=(3, 2), dtype=np.float32)
    labels = co.add_ndarray_column("labels", shape=(1,), dtype=np.int64)
    names = co.add_str_column("names")
    var = co.add_ndarray_column("var", shape=(5,), dtype=np.uint8, variable_shape=True)
    for i in range(600):
        imgs[i] = np.full((3, 2), float(i), np.float32)
        labels[i] = np.array([i])
        names[i] = f"n{i}"
        var[i] = np.full(i % 5 + 1, i % 256, np.uint8)
    co.commit("600 samples")
    co.close()
    r = repo.checkout()
    yield r
    r.close()


def test_batches_are_aligned_and_cover_every_sample(reader):
    ds = make_tensorflow_dataset([reader["imgs"], reader["labels"], reader["names"]], shuffle=True)
    assert ds.element_spec[0].shape == (3, 2) and ds.element_spec[0].dtype == tf.float32
    assert ds.element_spec[2].dtype == tf.string
    seen = []
    for imgs, labels, names in ds.batch(128):
        assert imgs.shape[1:] == (3, 2)
        for img, label, name in zip(imgs.numpy(), labels.numpy()[:, 0], names.numpy()):
            assert img[0, 0] == label and name.decode() == f"n{label}"
            seen.append(int(label))
    assert sorted(seen) == list(range(600))
    assert seen != sorted(seen), "shuffle=True reorders"


def test_keys_index_range_variable_shapes_and_refusals(reader, repo):
    ds = make_tensorflow_dataset(reader["labels"], keys=[5, 3, 9])
    assert [int(x[0].numpy()[0]) for x in ds] == [5, 3, 9]
    ds = make_tf_dataset(reader["labels"], index_range=slice(10, 13), shuffle=False)
    assert [int(x[0].numpy()[0]) for x in ds] == [10, 11, 12]
    ds = make_tensorflow_dataset(reader["var"], keys=[0, 4])
    assert ds.element_spec[0].shape.as_list() == [None]
    assert [x[0].shape[0] for x in ds] == [1, 5]
    with pytest.raises(KeyError):
        make_tensorflow_dataset(reader["labels"], keys=[5000])
    co = repo.checkout(write=True)
    with pytest.raises(TypeError, match="reader checkout"):
        make_tensorflow_dataset(co.columns["labels"])
    nested = co.add_ndarray_column("nested", shape=(1,), dtype=np.uint8, contains_subsamples=True)
    nested["s"] = {0: np.zeros(1, np.uint8)}
    co.commit("nested")
    co.close()
    r = repo.checkout()
    with pytest.raises(ValueError, match="nested"):
        make_tensorflow_dataset(r.columns["nested"])
    r.close()
