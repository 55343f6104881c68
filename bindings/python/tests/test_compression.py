"""Compressed columns from Python: backend_options (libhangar's form and the original's
complib/complevel), values sealed as Parquet segments read back exactly (numpy, str,
bytes), the page-cache path, and bad options refused."""
import os

import numpy as np
import pytest

import hangar
from hangar.checkout import compression_of


def test_backend_options_name_the_compression():
    assert compression_of(None) == "none"
    assert compression_of({}) == "none"
    assert compression_of({"compression": "zstd:9"}) == "zstd:9"
    assert compression_of({"complib": "blosc:zstd", "complevel": 5}) == "zstd:5"
    assert compression_of({"complib": "blosc:lz4", "complevel": 5, "shuffle": "byte"}) == "lz4"
    assert compression_of({"complib": "gzip", "complevel": 4}) == "zstd:4"
    assert compression_of({"complib": "lzf"}) == "zstd"
    assert compression_of({"complib": "blosc:zstd", "complevel": 0}) == "none"
    with pytest.raises(ValueError, match="complib"):
        compression_of({"complib": "brotli"})
    with pytest.raises(ValueError, match="complevel"):
        compression_of({"complib": "zstd", "complevel": 99})
    with pytest.raises(ValueError, match="unknown keys"):
        compression_of({"compression": "zstd", "level": 3})
    with pytest.raises(TypeError):
        compression_of("zstd")


def test_compressed_columns_read_back_exactly(repo):
    co = repo.checkout(write=True)
    imgs = co.add_ndarray_column(
        "imgs", shape=(28, 28), dtype=np.uint8, backend_options={"complib": "blosc:zstd", "complevel": 3}
    )
    fields = co.add_ndarray_column(
        "fields", shape=(10, 4), dtype=np.float32, variable_shape=True, backend_options={"compression": "lz4"}
    )
    notes = co.add_str_column("notes", backend_options={"compression": "zstd"})
    blobs = co.add_bytes_column("blobs", backend_options={"compression": "zstd:1"})
    assert imgs.backend == "parquet" and imgs.backend_options == {"compression": "zstd:3"}
    assert notes.backend_options == {"compression": "zstd:1"}
    rng = np.random.default_rng(7)
    want = {}
    for i in range(300):
        img = np.zeros((28, 28), dtype=np.uint8)
        img[5:20, 5:20] = rng.integers(0, 255, (15, 15), dtype=np.uint8)
        f = rng.standard_normal((i % 10 + 1, 4)).astype(np.float32)
        want[i] = (img, f, f"note {i} " * 12, bytes(range(i % 200, i % 200 + 56)) * 2)
        imgs[i], fields[i], notes[i], blobs[i] = want[i]
    co.commit("compressed")
    co.close()
    segments = os.listdir(os.path.join(repo.path, ".hangar", "segments"))
    assert any(s.endswith(".parquet") for s in segments) and not any(s.endswith(".arrow") for s in segments)

    co = repo.checkout()
    assert co["imgs"].backend == "parquet"
    for i in list(range(300))[::-1]:
        img, f, note, blob = want[i]
        np.testing.assert_array_equal(co["imgs"][i], img)
        np.testing.assert_array_equal(co["fields"][i], f)
        assert co["notes"][i] == note
        assert co["blobs"][i] == blob
    got = co["imgs"].get_batch(list(range(50)))
    assert all(np.array_equal(g, want[i][0]) for i, g in enumerate(got))
    # A batch longer than the C library's chunk of 512 keys, in random order with repeats,
    # with an absent key last: every sample in its place, then KeyError naming the key.
    keys = rng.integers(0, 300, 1300).tolist()
    batch = co["imgs"].get_batch(keys)
    assert all(np.array_equal(batch[j], want[k][0]) for j, k in enumerate(keys))
    with pytest.raises(KeyError, match="300"):
        co["imgs"].get_batch(keys + [300])
    # The decoded pages are held within the page cache's budget; 0 drops them, and arrays
    # already read stay valid.
    assert 0 < repo.page_cache_nbytes <= repo.page_cache_budget
    if "HANGAR_PAGE_CACHE_MB" not in os.environ:
        assert repo.page_cache_budget == 256 << 20
    repo.page_cache_budget = 0
    assert (repo.page_cache_budget, repo.page_cache_nbytes) == (0, 0)
    np.testing.assert_array_equal(got[7], want[7][0])
    np.testing.assert_array_equal(co["imgs"][9], want[9][0])
    assert repo.page_cache_nbytes == 0
    repo.page_cache_budget = 1 << 20
    assert repo.page_cache_budget == 1 << 20
    with pytest.raises(ValueError, match="bytes"):
        repo.page_cache_budget = -1
    co.close()
    assert repo.verify_repo_integrity()


def test_uncompressed_is_the_default_and_bad_codecs_are_refused(repo):
    co = repo.checkout(write=True)
    plain = co.add_ndarray_column("plain", shape=(4,), dtype=np.int64)
    assert plain.backend == "arrow-ipc" and plain.backend_options == {"compression": "none"}
    with pytest.raises(ValueError, match="zstd"):
        co.add_ndarray_column("bad", shape=(4,), dtype=np.int64, backend_options={"compression": "gzip"})
    with pytest.raises(ValueError, match="level"):
        co.add_str_column("bad", backend_options={"compression": "zstd:40"})
    assert "bad" not in co.keys()
    co.close()
