"""Pickling a column, for `multiprocessing` (as the original allowed): a reader
checkout's column crosses to another process as its repository's directory, commit and
name, and the receiving process opens a reader checkout of its own."""

import multiprocessing
import pickle

import numpy as np
import pytest

from hangar import Repository


@pytest.fixture
def committed(repo):
    co = repo.checkout(write=True)
    images = co.add_ndarray_column("images", shape=(4, 5), dtype=np.float32)
    for i in range(20):
        images[i] = np.full((4, 5), i, np.float32)
    names = co.add_str_column("names")
    names["a"] = "first é"
    nested = co.add_ndarray_column("nested", shape=(3,), dtype=np.uint16, contains_subsamples=True)
    nested["s"] = {0: np.arange(3, dtype=np.uint16), "x": np.ones(3, np.uint16)}
    digest = co.commit("first")
    co.close()
    return repo, digest


def _roundtrip(obj):
    return pickle.loads(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def test_a_reader_column_unpickles_as_the_same_commits_column(committed):
    repo, digest = committed
    co = repo.checkout()
    copy = _roundtrip(co.columns["images"])
    assert copy is not co.columns["images"]
    assert len(copy) == 20 and not copy.iswriteable
    assert copy._co is not co  # its own checkout, not a shared handle
    for i in range(20):
        assert np.array_equal(copy[i], co.columns["images"][i])
    assert copy[3].dtype == np.float32 and copy[3].shape == (4, 5)
    assert _roundtrip(co.columns["names"])["a"] == "first é"
    nested = _roundtrip(co.columns["nested"])
    assert nested.contains_subsamples
    assert np.array_equal(nested["s"]["x"], np.ones(3, np.uint16))
    assert sorted(map(str, nested["s"].keys())) == ["0", "x"]
    # The copy reads the pickled commit, whatever the branch did since; and it stays
    # usable after the checkout it came from is closed.
    w = repo.checkout(write=True)
    w.columns["images"][0] = np.full((4, 5), -1, np.float32)
    w.commit("second")
    w.close()
    old = _roundtrip(co.columns["images"])
    co.close()
    assert old[0][0, 0] == 0.0
    assert _roundtrip(repo.checkout().columns["images"])[0][0, 0] == -1.0
    assert copy[0][0, 0] == 0.0


def test_a_writer_column_or_a_closed_ones_does_not_pickle(committed):
    repo, _ = committed
    co = repo.checkout(write=True)
    with pytest.raises(PermissionError, match='Method "__getstate__" cannot be called in a write-enabled checkout'):
        pickle.dumps(co.columns["images"])
    co.close()
    reader = repo.checkout()
    col = reader.columns["images"]
    reader.close()
    with pytest.raises(PermissionError, match="closed"):
        pickle.dumps(col)


def test_a_column_of_a_repository_removed_since_says_so(committed):
    repo, _ = committed
    data = pickle.dumps(repo.checkout().columns["images"])
    import shutil

    shutil.rmtree(repo.path)
    with pytest.raises(FileNotFoundError, match="no repository at .*moved or removed"):
        pickle.loads(data)


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_a_pool_maps_a_reader_columns_get(committed, method):
    # The original's test_external_multi_process_pool, without its storage backend check.
    repo, _ = committed
    co = repo.checkout()
    col = co.columns["images"]
    with multiprocessing.get_context(method).Pool(2) as pool:
        got = pool.map(col.get, list(range(20)))
    for i, arr in enumerate(got):
        assert np.array_equal(arr, np.full((4, 5), i, np.float32))
    co.close()


def test_a_column_from_open_remote_pickles_as_a_streaming_reader(committed, tmp_path):
    repo, _ = committed
    url = f"file://{tmp_path / 'remote'}"
    repo.remote.add("origin", url)
    repo.remote.push("origin", "master")
    streaming = Repository.open_remote(url, tmp_path / "cache")
    col = streaming.checkout().columns["images"]
    copy = _roundtrip(col)
    assert copy._co._repo._streaming
    assert np.array_equal(copy[7], np.full((4, 5), 7, np.float32))
