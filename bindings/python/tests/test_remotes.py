"""Remotes from Python (`repo.remote`, `repo.clone`, `Repository.open_remote`): the
original's API over a `file://` remote, partial clones and the not-fetched error."""

import numpy as np
import pytest

from hangar import NotFetchedError, RemoteInfo, Repository


@pytest.fixture
def pushed(tmp_path):
    """A source repository with 10 images (256 bytes: not inline) and 10 labels, pushed
    to a file:// remote; returns (source, url)."""
    src = Repository(path=tmp_path / "src", exists=False)
    src.init(user_name="Ada", user_email="ada@example.com")
    co = src.checkout(write=True)
    imgs = co.add_ndarray_column("images", shape=(16, 16), dtype=np.uint8)
    labels = co.add_ndarray_column("labels", shape=(1,), dtype=np.int64)
    for i in range(10):
        imgs[i] = np.full((16, 16), i, dtype=np.uint8)
        labels[i] = np.array([i], dtype=np.int64)
    co.commit("ten images")
    co.close()
    remote = tmp_path / "remote"
    remote.mkdir()
    url = f"file://{remote}"
    assert src.remote.add("origin", url) == RemoteInfo(name="origin", address=url)
    assert src.remote.push("origin", "master") == "master"
    assert "values" in src.remote.last_report
    return src, url


def test_add_list_remove_and_their_errors(repo):
    assert repo.remote.list_all() == []
    repo.remote.add("origin", "file:///tmp/somewhere")
    repo.remote.add("backup", "s3://bucket/prefix", endpoint="http://127.0.0.1:3900", region="garage")
    assert [r.name for r in repo.remote.list_all()] == ["backup", "origin"]
    with pytest.raises(ValueError, match="already exists"):
        repo.remote.add("origin", "file:///tmp/elsewhere")
    with pytest.raises(ValueError):
        repo.remote.add("x", "ftp://host/path")
    with pytest.raises(ValueError):
        repo.remote.add("bad name!", "file:///tmp/x")
    # An endpoint without its scheme, or a region with a space: refused when added.
    with pytest.raises(ValueError, match="not an http://"):
        repo.remote.add("x", "s3://bucket/prefix", endpoint="127.0.0.1:3900")
    with pytest.raises(ValueError, match="not a region name"):
        repo.remote.add("x", "s3://bucket/prefix", region="us east")
    assert repo.remote.remove("backup") == RemoteInfo("backup", "s3://bucket/prefix")
    with pytest.raises(KeyError):
        repo.remote.remove("backup")
    with pytest.raises(KeyError):
        repo.remote.push("nope", "master")


def test_partial_clone_fetch_data_and_remote_references(pushed, tmp_path):
    src, url = pushed
    dst = Repository(path=tmp_path / "dst", exists=False)
    assert dst.clone("Bo", "bo@example.com", url) == "master"
    co = dst.checkout()
    assert co.commit_hash == src.checkout().commit_hash
    # Labels are inline in the record table: here. Images are not.
    assert co.columns["labels"][3].tolist() == [3]
    with pytest.raises(NotFetchedError, match="fetch-data"):
        co.columns["images"][3]
    with pytest.raises(FileNotFoundError):  # what the original raised
        co.columns["images"][4]
    # Per column, as the original's `Columns.contains_remote_references`.
    assert co.columns.contains_remote_references == {"images": True, "labels": False}
    assert co.columns["images"].contains_remote_references
    assert not co.columns["labels"].contains_remote_references
    assert co.columns["images"].remote_reference_keys == tuple(range(10))
    assert co.columns.remote_sample_keys == {"images": tuple(range(10)), "labels": ()}
    assert "Not Fetched: 10" in dst.summary(return_contents=True)
    assert dst.verify_repo_integrity()
    co.close()

    # Two columns' worth, one of them named: only images' values come.
    with pytest.raises(ValueError, match="simultaneously"):
        dst.remote.fetch_data("origin", branch="master", commit="abc")
    with pytest.raises(ValueError, match="incompatible"):
        dst.remote.fetch_data("origin", "master", max_num_bytes=10, retrieve_all_history=True)
    with pytest.raises(KeyError):
        dst.remote.fetch_data("origin", "master", column_names=["nope"])
    got = dst.remote.fetch_data("origin", "master", column_names=["images"], max_num_bytes=3 * 256)
    assert got == [dst.checkout().commit_hash]
    co = dst.checkout()
    missing = co.columns["images"].remote_reference_keys
    assert 0 < len(missing) < 10
    fetched = [k for k in range(10) if k not in missing]
    assert np.array_equal(co.columns["images"][fetched[0]], np.full((16, 16), fetched[0], np.uint8))
    co.close()
    dst.remote.fetch_data("origin", "master")
    co = dst.checkout()
    assert co.columns.contains_remote_references == {"images": False, "labels": False}
    assert co.columns["images"][9][0, 0] == 9
    co.close()


def test_push_fetch_pull_and_a_refused_stale_push(pushed, tmp_path):
    src, url = pushed
    dst = Repository(path=tmp_path / "dst", exists=False)
    dst.clone("Bo", "bo@example.com", url, data=True)
    assert not any(dst.checkout().columns.contains_remote_references.values())
    # The clone commits and pushes.
    co = dst.checkout(write=True)
    co.columns["images"][10] = np.full((16, 16), 10, np.uint8)
    co.commit("eleventh")
    co.close()
    dst.remote.push("origin", "master")
    # The source committed meanwhile: its push is refused until it merges.
    co = src.checkout(write=True)
    co.columns["images"][11] = np.full((16, 16), 11, np.uint8)
    co.commit("twelfth")
    co.close()
    with pytest.raises(ValueError, match="fetch"):
        src.remote.push("origin", "master")
    assert src.remote.fetch("origin", "master") == "origin/master"
    src.remote.fetch_data("origin", "origin/master")
    src.merge("merge theirs", "master", "origin/master")
    src.remote.push("origin", "master")
    head = dst.remote.pull("origin", "master")
    assert head == src.checkout().commit_hash
    co = dst.checkout()
    assert len(co.columns["images"]) == 12
    co.close()
    # Fetched history with all its data, the original's way.
    commits = dst.remote.fetch_data("origin", "master", retrieve_all_history=True)
    assert commits[0] == head and len(commits) == 4


def test_clone_refuses_an_existing_repository_unless_remove_old(pushed, tmp_path):
    _, url = pushed
    dst = Repository(path=tmp_path / "dst", exists=False)
    dst.init(user_name="Bo", user_email="bo@example.com")
    with pytest.raises(ValueError, match="remove_old"):
        dst.clone("Bo", "bo@example.com", url)
    dst.clone("Bo", "bo@example.com", url, remove_old=True)
    assert len(dst.checkout().columns["images"]) == 10
    bad = Repository(path=tmp_path / "bad", exists=False)
    with pytest.raises(KeyError, match="holds no repository"):
        bad.clone("Bo", "bo@example.com", f"file://{tmp_path}/no-such-remote")
    assert not (tmp_path / "bad" / ".hangar").exists()


def test_open_remote_streams_exactly_the_samples_read(pushed, tmp_path):
    _, url = pushed
    repo = Repository.open_remote(url, tmp_path / "cache")
    co = repo.checkout()
    imgs = co.columns["images"]
    assert imgs[2][0, 0] == 2
    assert imgs[2][0, 0] == 2
    assert imgs[5][0, 0] == 5
    stats = repo.stream_stats()
    assert stats == {"hits": 1, "misses": 2, "bytes_fetched": 512}
    co.close()
    plain = Repository(path=tmp_path / "plain", exists=False)
    plain.init(user_name="Bo", user_email="bo@example.com")
    with pytest.raises(ValueError):
        plain.stream_stats()


def test_a_batch_read_through_the_remote_fetches_its_values_at_once(pushed, tmp_path):
    _, url = pushed
    repo = Repository.open_remote(url, tmp_path / "cache", cache_bytes=1 << 20)
    co = repo.checkout()
    imgs = co.columns["images"]
    batch = imgs.get_batch([7, 2, 9, 2])
    assert [int(b[0, 0]) for b in batch] == [7, 2, 9, 2]
    # Three values fetched together (the batch's second 2 is a cache hit), then read.
    assert repo.stream_stats() == {"hits": 4, "misses": 3, "bytes_fetched": 768}
    with pytest.raises(KeyError):
        imgs.get_batch([1, 55])
    co.close()


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_a_torch_dataloader_with_workers_streams_from_the_remote(pushed, tmp_path, context):
    torch = pytest.importorskip("torch")
    from hangar import make_torch_dataset

    _, url = pushed
    repo = Repository.open_remote(url, tmp_path / "cache", cache_bytes=1 << 20)
    co = repo.checkout()
    ds = make_torch_dataset([co.columns["images"], co.columns["labels"]])
    ds[0]  # the parent reads too (through a reader of its own): forked workers inherit it
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2, multiprocessing_context=context)
    for _ in range(3):  # workers are forked (or spawned) anew each epoch
        seen = {}
        for batch in loader:
            for img, label in zip(batch.images, batch.labels):
                seen[int(label[0])] = int(img[0, 0])
        assert seen == {i: i for i in range(10)}
    # The dataset reads through readers of its own, in each process: nothing through `repo`.
    assert repo.stream_stats()["misses"] == 0
    co.close()


# The parent's open column, inherited by forked children (set before they fork).
_INHERITED: list = []


def _forked_reader(args):
    """In a forked child: reads through the parent's inherited reader (refused: a clear
    error, never a hang), drops it (must not hang either), then opens its own."""
    cache, keys = args
    import gc

    inherited = None  # (a worker serving a second job has dropped it already)
    if _INHERITED:
        col = _INHERITED.pop()
        try:
            col[keys[0]]
            inherited = "read"
        except Exception as e:  # noqa: BLE001 - the message is what is checked
            inherited = str(e)
        del col  # frees the parent's handles here: must not wait for its threads
        gc.collect()
    repo = Repository._open_remote_cache(cache, 1 << 20)
    co = repo.checkout()
    col = co.columns["images"]
    got = [int(col[k][0, 0]) for k in keys]
    co.close()
    return inherited, got


def test_forked_processes_read_through_the_remote_without_hanging(tmp_path):
    """A process forked after the parent streamed (multiprocessing's and PyTorch's
    default on Linux) inherits the parent's connection and thread pool without their
    threads: its own reader works, the inherited one says so, and nothing hangs. 2,000
    samples make the manifests large enough to be hashed in parallel."""
    import multiprocessing as mp

    src = Repository(path=tmp_path / "src", exists=False)
    src.init(user_name="Ada", user_email="ada@example.com")
    co = src.checkout(write=True)
    imgs = co.add_ndarray_column("images", shape=(16, 16), dtype=np.uint8)
    with imgs:
        for i in range(2000):
            imgs[i] = np.full((16, 16), i % 251, dtype=np.uint8)
    co.commit("2,000 images")
    co.close()
    url = f"file://{tmp_path / 'remote'}"
    src.remote.add("origin", url)
    src.remote.push("origin", "master")
    for epoch in range(5):
        cache = str(tmp_path / f"cache{epoch}")
        repo = Repository.open_remote(url, cache, cache_bytes=1 << 20)
        co = repo.checkout()
        imgs = co.columns["images"]
        assert imgs[1][0, 0] == 1
        _INHERITED[:] = [imgs]
        with mp.get_context("fork").Pool(2) as pool:
            jobs = [(cache, list(range(k * 7 + 2, 2000, 97))) for k in range(4)]
            results = pool.map_async(_forked_reader, jobs).get(timeout=120)
            # Workers that exit on their own: the block's terminate() would SIGTERM them,
            # and one killed while it held the result pipe's lock hangs the pool.
            pool.close()
            pool.join()
        _INHERITED.clear()
        checked = [i for i, _ in results if i is not None]
        assert checked and all("forked" in i for i in checked), checked
        for (_, got), (_, keys) in zip(results, jobs):
            assert got == [k % 251 for k in keys]
        co.close()


def test_fetch_data_sample_fetches_exactly_the_named_samples(pushed, tmp_path):
    """The original's `fetch_data_sample`: sample keys of a flat column; of a nested one
    whole samples, `(sample, subsample)` and `(sample, ...)`; a missing key is a
    KeyError with nothing fetched."""
    src, url = pushed
    co = src.checkout(write=True)
    nested = co.add_ndarray_column("nested", shape=(100,), dtype=np.uint8, contains_subsamples=True)
    for i in range(3):
        nested[i] = {s: np.full(100, 10 * i + j, np.uint8) for j, s in enumerate("abc")}
    head = co.commit("nested")
    co.close()
    src.remote.push("origin", "master")
    dst = Repository(path=tmp_path / "dst", exists=False)
    dst.clone("Bo", "bo@example.com", url)

    def missing(col):
        with dst.checkout() as co:
            return co.columns[col].remote_reference_keys

    with pytest.raises(KeyError, match="sample 42 is not in column images"):
        dst.remote.fetch_data_sample("origin", "images", [1, 42], branch="master")
    with pytest.raises(KeyError, match='subsample "z" of sample 0'):
        dst.remote.fetch_data_sample("origin", "nested", [(0, "z")], branch="master")
    with pytest.raises(ValueError, match="simultaneously"):
        dst.remote.fetch_data_sample("origin", "images", 1, branch="master", commit=head)
    assert len(missing("images")) == 10 and len(missing("nested")) == 3
    assert dst.remote.fetch_data_sample("origin", "images", 4, branch="master") == head
    assert dst.remote.fetch_data_sample("origin", "images", (5, 6), commit=head) == head
    assert "fetched 2 values" in dst.remote.last_report
    assert set(range(10)) - set(missing("images")) == {4, 5, 6}
    with dst.checkout() as co:  # the original's `local=True`: only what is here
        images = co.columns["images"]
        assert list(images.keys(local=True)) == [4, 5, 6]
        assert [v[0, 0] for v in images.values(local=True)] == [4, 5, 6]
        assert [k for k, _ in images.items(local=True)] == [4, 5, 6]
        assert list(images.keys()) == list(range(10))
        assert list(co.columns["labels"].keys(local=True)) == list(range(10))  # inline
    # Sample 0 whole, subsample b of sample 1, every subsample of sample 2 by Ellipsis.
    dst.remote.fetch_data_sample("origin", "nested", [0, (1, "b")], branch="master")
    assert "fetched 4 values" in dst.remote.last_report
    with dst.checkout() as co:
        col = co.columns["nested"]
        assert col[0]["c"][0] == 2 and col[1]["b"][0] == 11
        assert list(col.keys(local=True)) == [0]  # sample 1 is here in part only
        assert list(col[1].keys(local=True)) == ["b"] and list(col[1].keys()) == ["a", "b", "c"]
        assert [v[0] for v in col[1].values(local=True)] == [11]
        with pytest.raises(NotFetchedError):
            col[1]["a"]
    dst.remote.fetch_data_sample("origin", "nested", [(2, ...), (1, "a"), (1, "c")], branch="master")
    assert missing("nested") == ()
    assert dst.verify_repo_integrity()


def test_a_directory_path_is_a_remote_and_a_repository_is_not_one(pushed, tmp_path):
    src, url = pushed
    dst = Repository(path=tmp_path / "bypath", exists=False)
    assert dst.clone("Bo", "bo@example.com", str(tmp_path / "remote"), data=True) == "master"
    assert dst.remote.list_all() == [RemoteInfo(name="origin", address=url)]
    co = dst.checkout()
    assert np.array_equal(co.columns["images"][3], np.full((16, 16), 3, dtype=np.uint8))
    co.close()
    notremote = Repository(path=tmp_path / "notremote", exists=False)
    with pytest.raises(KeyError, match="is a repository, not a remote"):
        notremote.clone("Bo", "bo@example.com", str(tmp_path / "src"))
    assert not (tmp_path / "notremote" / ".hangar").exists()
