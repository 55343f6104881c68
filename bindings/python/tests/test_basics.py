"""The package's API as the original Hangar's users call it: repository, checkouts,
columns of each kind, metadata, branches, merges, errors and the zero-copy reads."""

import gc
import os
from pathlib import Path

import numpy as np
import pytest

import hangar
from hangar import CorruptionError, MergeConflictError, Repository


def test_repository_before_and_after_init(tmp_path):
    r = Repository(path=tmp_path / "r")
    assert not r.initialized
    # As the original: nothing but init (and `initialized`) before init.
    for before_init in (r.checkout, lambda: r.path, lambda: r.version, lambda: r.size_nbytes):
        with pytest.raises(RuntimeError, match="init"):
            before_init()
    hangar_dir = r.init(user_name="A", user_email="a@example.com")
    assert hangar_dir.endswith(".hangar")
    assert r.initialized
    assert r.path == str(tmp_path / "r")
    assert r.version == hangar.__version__
    assert r.format_version == 2
    # Opening it again finds it.
    assert Repository(path=tmp_path / "r").initialized
    with pytest.raises(ValueError, match="already"):
        r.init(user_name="A", user_email="a@example.com")
    r.init(user_name="A", user_email="a@example.com", remove_old=True)


def test_ndarray_column_round_trip(repo, writer):
    imgs = writer.add_ndarray_column("images", shape=(4, 5), dtype=np.uint16)
    assert imgs.column == "images" and imgs.column_type == "ndarray"
    assert imgs.dtype == np.uint16 and imgs.shape == (4, 5)
    assert imgs.schema_type == "fixed_shape" and imgs.column_layout == "flat"
    data = {i: np.arange(20, dtype=np.uint16).reshape(4, 5) * i for i in range(10)}
    for k, v in data.items():
        imgs[k] = v
    imgs["named"] = data[3]
    assert len(imgs) == 11
    assert 3 in imgs and "3" not in imgs and "named" in imgs
    assert list(imgs.keys()) == list(range(10)) + ["named"]
    np.testing.assert_array_equal(imgs[7], data[7])
    assert imgs.get("missing") is None
    del imgs[0]
    assert 0 not in imgs
    np.testing.assert_array_equal(imgs.pop(9), data[9])
    assert len(imgs) == 9
    digest = writer.commit("ten arrays")
    assert len(digest) == 64
    writer.close()

    co = repo.checkout()
    col = co.columns["images"]
    assert not col.iswriteable
    with col:  # the original's form for a block of reads
        v = col[5]
    np.testing.assert_array_equal(v, data[5])
    assert not v.flags.writeable  # zero-copy over the mapped file
    assert dict(col.items()).keys() == set(range(1, 9)) | {"named"}
    np.testing.assert_array_equal(co["images", "named"], data[3])
    with pytest.raises(PermissionError, match="read-only"):
        col[1] = data[1]
    co.close()


def test_zero_copy_arrays_outlive_their_checkout(repo, writer):
    col = writer.add_ndarray_column("x", shape=(1000,), dtype=np.float64)
    col.update({i: np.full(1000, float(i)) for i in range(5)})
    writer.commit("x")
    writer.close()
    co = repo.checkout()
    arrays = [co["x", i] for i in range(5)]
    co.close()
    del co
    gc.collect()
    # The checkout's C handle stays alive while an array points into its mapping.
    for i, a in enumerate(arrays):
        assert a.sum() == 1000.0 * i


def test_str_bytes_and_nested_columns(repo, writer):
    s = writer.add_str_column("captions")
    b = writer.add_bytes_column("blobs")
    s["a"] = "hello, wörld"
    b["a"] = b"\x00\x01binary"
    with pytest.raises(ValueError, match="str values"):
        s["b"] = b"not a str"
    nested = writer.add_ndarray_column("frames", shape=(3,), dtype=np.int32, contains_subsamples=True)
    assert nested.contains_subsamples
    nested["video1"] = {0: np.array([1, 2, 3], dtype=np.int32), 1: np.array([4, 5, 6], dtype=np.int32)}
    got = nested["video1"]
    assert sorted(got) == [0, 1]
    np.testing.assert_array_equal(got[1], [4, 5, 6])
    writer.commit("texts")
    writer.close()
    co = repo.checkout()
    assert co["captions", "a"] == "hello, wörld"
    assert co["blobs", "a"] == b"\x00\x01binary"
    np.testing.assert_array_equal(co["frames", "video1"][0], [1, 2, 3])
    assert sorted(co.columns.keys()) == ["blobs", "captions", "frames"]
    co.close()


def test_bulk_session_and_batch_update(repo, writer):
    col = writer.add_ndarray_column("img", prototype=np.zeros((8, 8), dtype=np.uint8))
    rng = np.random.default_rng(1)
    data = rng.integers(0, 255, size=(300, 8, 8), dtype=np.uint8)
    with col:
        for i in range(200):
            col[i] = data[i]
    col.update({i: data[i] for i in range(200, 300)})
    assert len(col) == 300
    writer.commit("bulk")
    writer.close()
    co = repo.checkout()
    for i in (0, 150, 299):
        np.testing.assert_array_equal(co["img", i], data[i])
    co.close()


def test_reads_and_writes_leave_no_reference_cycles(repo, writer):
    # Garbage in cycles waits for the collector, whose passes over a training process's
    # objects cost DataLoader workers ~50 ms each: no call of the package makes any
    # (numpy's `ndarray.ctypes.data_as` did, twice per call).
    col = writer.add_ndarray_column("x", shape=(4,), dtype=np.float32)
    text = writer.add_str_column("t")
    col.put_batch(np.arange(8), np.zeros((8, 4), dtype=np.float32))

    def calls(c, writable):
        if writable:
            c.put_batch(np.arange(8), np.ones((8, 4), dtype=np.float32))
            c.put_batch(["a", "b"], np.ones((2, 4), dtype=np.float32))
            c[1] = np.full(4, 2, dtype=np.float32)
            c.update({3: np.full(4, 3, dtype=np.float32)})
            text["k"] = "v"
        c.get_batch([0, 3, 5])
        c.get_batch(np.array([1, 2]))
        c.get_batch(["a", "b"])
        c[2]
        c.get(7)

    def cycles(c, writable):
        calls(c, writable)  # first calls may cache what later ones reuse
        gc.collect()
        gc.disable()
        try:
            for _ in range(20):
                calls(c, writable)
            return gc.collect()
        finally:
            gc.enable()

    assert cycles(col, True) == 0
    writer.commit("data")
    writer.close()
    r = repo.checkout()
    assert cycles(r.columns["x"], False) == 0
    r.close()


def test_metadata(repo, writer):
    md = writer.metadata
    md["a"] = "1"
    assert md.add(key="b", value="2") == "b"
    assert md["a"] == "1" and len(md) == 2 and "b" in md
    with pytest.raises(KeyError):
        md["nope"]
    with pytest.raises(ValueError):
        md["c"] = 3
    del md["a"]
    writer.commit("metadata")
    writer.close()
    co = repo.checkout()
    assert dict(co.metadata.items()) == {"b": "2"}
    with pytest.raises(PermissionError):
        co.metadata["x"] = "y"
    co.close()


def test_errors_are_the_originals(repo, writer):
    col = writer.add_ndarray_column("c", shape=(2,), dtype=np.float32)
    with pytest.raises(KeyError):
        col[42]
    with pytest.raises(KeyError):
        del col[42]
    with pytest.raises(ValueError):
        col[0] = np.zeros(3, dtype=np.float32)  # wrong shape
    with pytest.raises(ValueError):
        col[-1] = np.zeros(2, dtype=np.float32)  # negative key
    with pytest.raises(ValueError):
        col[1.5] = np.zeros(2, dtype=np.float32)
    with pytest.raises(LookupError):
        writer.add_ndarray_column("c", shape=(2,), dtype=np.float32)
    with pytest.raises(KeyError):
        writer.columns["missing"]
    # One writer at a time, across processes: the second is refused.
    assert repo.writer_lock_held
    with pytest.raises(PermissionError):
        repo.checkout(write=True)
    with pytest.raises(RuntimeError, match="nothing to commit|No changes"):
        writer.reset_staging_area()
        writer.commit("empty")
    columns = writer.columns
    diff = writer.diff
    writer.close()
    assert not repo.writer_lock_held
    # Everything taken from a closed checkout refuses, as in the original.
    for touch in (
        lambda: writer.columns,
        lambda: columns.iswriteable,
        lambda: columns["c"],
        lambda: col.iswriteable,
        lambda: col.shape,
        lambda: len(col),
        lambda: list(col.values()),
    ):
        with pytest.raises(PermissionError):
            touch()
    with pytest.raises(PermissionError):
        writer.columns
    with pytest.raises(PermissionError):
        col[0]
    with pytest.raises(PermissionError):
        writer.close()
    with pytest.raises(PermissionError):
        writer["c"]
    # As the original: a closed checkout keeps nothing, and even the attributes of its
    # columns refuse.
    assert writer.__dict__ == {}
    with pytest.raises(AttributeError):
        writer._columns
    with pytest.raises(PermissionError):
        col.__dict__
    for use in (lambda: diff.branch("master"), lambda: diff.commit("0" * 40)):
        with pytest.raises(PermissionError):
            use()


def test_refusals_are_both_our_exception_and_the_originals(repo, writer):
    """Where libhangar and the original raised different built-in exceptions for one
    refusal, the exception is both: code written for either catches it, and nothing
    refused is changed."""
    with pytest.raises(RuntimeError) as e:
        repo.create_branch("early")  # no commits yet
    assert isinstance(e.value, KeyError) and "make a first commit" in str(e.value)
    assert not str(e.value).startswith("'")  # the message, not KeyError's repr of it
    col = writer.add_ndarray_column("v", shape=(5, 7), dtype=np.float32)
    col[0] = np.zeros((5, 7), dtype=np.float32)
    writer.commit("first")
    # A key no key can be (an array): TypeError (unhashable) and, as the original, ValueError.
    for exc in (TypeError, ValueError):
        with pytest.raises(exc, match="unhashable type: 'ndarray'"):
            col[np.zeros(3)] = np.zeros((5, 7), dtype=np.float32)
    # Messages in the original's words where its tests match them.
    with pytest.raises(ValueError, match='`data` must be "C" contiguous array'):
        col[1] = np.asfortranarray(np.zeros((5, 7), dtype=np.float32))
    with pytest.raises(ValueError, match="`data` argument type list, read as an array of dtype int64"):
        col[1] = [[1] * 7 for _ in range(5)]
    ragged = writer.add_ndarray_column("r", shape=(2, 3), dtype=np.float32, variable_shape=True)
    with pytest.raises(ValueError, match=r"shape \(2, 4\) exceeds schema max shape \(2, 3\)"):
        ragged[1] = np.zeros((2, 4), dtype=np.float32)
    assert 1 not in col and 1 not in ragged
    writer.commit("ragged")
    # Removing the only branch, or the one the staging area is on: PermissionError too.
    for exc in (ValueError, PermissionError):
        with pytest.raises(exc, match="only branch"):
            repo.remove_branch("master")
    repo.create_branch("dev")
    writer.close()
    co = repo.checkout(write=True, branch="dev")
    co.columns["v"][1] = np.ones((5, 7), dtype=np.float32)
    co.commit("dev's own")
    for exc in (ValueError, PermissionError):
        with pytest.raises(exc, match="staging area is based on it"):
            repo.remove_branch("dev")
    # Pending changes refuse a merge (RuntimeError, as the original) and a writer of
    # another branch (ValueError, as the original); both are PermissionErrors as before.
    co.columns["v"][2] = np.ones((5, 7), dtype=np.float32)
    for exc in (RuntimeError, PermissionError):
        with pytest.raises(exc, match="Changes are currently pending"):
            co.merge("m", "master")
    co.close()
    for exc in (ValueError, PermissionError):
        with pytest.raises(exc, match="uncommitted changes"):
            repo.checkout(write=True, branch="master")
    co = repo.checkout(write=True, branch="dev")
    co.reset_staging_area()
    co.close()
    co = repo.checkout(write=True, branch="master")
    co.close()
    # An unmerged branch without force_delete: RuntimeError, as the original.
    for exc in (ValueError, RuntimeError):
        with pytest.raises(exc, match="not fully merged"):
            repo.remove_branch("dev")
    assert repo.list_branches() == ["dev", "master"]
    # new_branch=True (git's checkout -b): the staged change moves to the new branch.
    co = repo.checkout(write=True)
    head = co.commit_hash
    co.columns["v"][9] = np.full((5, 7), 9, dtype=np.float32)
    co.close()
    for bad in (dict(write=False, branch="x"), dict(write=True), dict(write=True, branch="x", commit=head)):
        with pytest.raises(ValueError, match="new_branch=True"):
            repo.checkout(new_branch=True, **bad)
    with pytest.raises(ValueError, match="already exists"):
        repo.checkout(write=True, branch="dev", new_branch=True)
    assert repo.list_branches() == ["dev", "master"]
    co = repo.checkout(write=True, branch="topic", new_branch=True)
    assert (co.branch_name, co.commit_hash) == ("topic", head)
    assert co.columns["v"][9][0, 0] == 9
    co.commit("topic's own")
    co.close()
    assert repo.list_branches() == ["dev", "master", "topic"]
    assert 9 not in repo.checkout(branch="master").columns["v"]
    repo.checkout(write=True, branch="master").close()
    # Writes through a reader: PermissionError and, as the original, TypeError.
    reader = repo.checkout(branch="dev")
    for exc in (PermissionError, TypeError):
        with pytest.raises(exc, match="read-only checkout"):
            reader.columns["v"][3] = np.zeros((5, 7), dtype=np.float32)
        with pytest.raises(exc, match="read-only checkout"):
            reader.datasets.init_dataset(name="w", prototype=np.zeros(3))  # the early API
    assert 3 not in reader.columns["v"] and "w" not in reader.columns
    reader.close()
    for cls in (hangar.ReadOnlyError, hangar.StagingNotCleanError, hangar.BranchInUseError,
                hangar.UnmergedBranchError, hangar.NoCommitsError, hangar.SampleKeyError):
        assert cls.__doc__ and "original raised" in cls.__doc__


def test_branches_merge_diff_and_log(repo, writer):
    col = writer.add_ndarray_column("v", shape=(2,), dtype=np.int64)
    col[0] = np.array([1, 2])
    base = writer.commit("base")
    writer.close()
    dev = repo.create_branch("dev")
    assert dev.name == "dev" and dev.digest == base
    assert sorted(repo.list_branches()) == ["dev", "master"]
    co = repo.checkout(write=True, branch="dev")
    co.columns["v"][1] = np.array([3, 4])
    co.commit("dev adds 1")
    co.close()
    co = repo.checkout(write=True, branch="master")
    co.columns["v"][2] = np.array([5, 6])
    co.commit("master adds 2")
    co.close()
    assert "1" in repo.diff_text("master", "dev")
    head = repo.merge("merge dev", "master", "dev")
    log = repo.log(return_contents=True)
    assert log["order"][0] == head
    assert len(log["ancestors"][head]) == 2
    assert log["specs"][head]["commit_message"] == "merge dev"
    assert log["eves"] == [base]
    # The original's `branch_heads`: commit → the branches whose head it is, for the
    # commits listed (dev's head is the merge's second parent, listed too).
    dev_head = log["ancestors"][head][1]
    assert log["branch_heads"] == {head: ["master"], dev_head: ["dev"]}
    repo.create_branch("at-base", base_commit=base)
    repo.create_branch("also-at-base", base_commit=base)
    assert repo.log(return_contents=True)["branch_heads"][base] == ["also-at-base", "at-base"]
    # From dev's head, master's newer head is not among the commits listed.
    assert repo.log(branch="dev", return_contents=True)["branch_heads"] == {
        dev_head: ["dev"], base: ["also-at-base", "at-base"]}
    repo.remove_branch("at-base")
    repo.remove_branch("also-at-base")
    co = repo.checkout()
    assert sorted(co.columns["v"].keys()) == [0, 1, 2]
    co.close()
    # Conflicting changes are refused, nothing is changed.
    for branch, value in (("master", 7), ("dev", 8)):
        co = repo.checkout(write=True, branch=branch)
        co.columns["v"][0] = np.array([value, value])
        co.commit(f"{branch} changes 0")
        co.close()
    with pytest.raises(MergeConflictError):
        repo.merge("conflict", "master", "dev")
    assert isinstance(MergeConflictError("x"), ValueError)
    assert repo.remove_branch("dev", force_delete=True).name == "dev"
    assert repo.list_branches() == ["master"]
    assert repo.verify_repo_integrity() and repo.verify_commit_integrity()  # the original's name, and ours
    assert repo.size_nbytes > 0 and repo.size_human.endswith("B")


@pytest.mark.parametrize(
    "nbytes,expected",
    [(1, "1.00 B"), (999, "999.00 B"), (1234, "1.23 kB"), (12345678, "12.35 MB"),
     (1234567890, "1.23 GB"), (1234567890000, "1.23 TB"), (1234567890000000, "1.23 PB")],
)
def test_size_human_is_written_as_the_original_and_summary_write_it(nbytes, expected):
    from hangar.repository import _human

    assert _human(nbytes) == expected


def test_size_human_agrees_with_summary(repo, writer):
    writer.add_ndarray_column("x", shape=(3000,), dtype=np.uint8)[0] = np.zeros(3000, np.uint8)
    writer.commit("one")
    writer.close()
    line = next(ln for ln in repo.summary(return_contents=True).splitlines() if "Disk Usage" in ln)
    assert line.split(": ", 1)[1] == repo.size_human


def test_verify_repo_integrity_raises_on_damaged_data(repo, writer):
    col = writer.add_ndarray_column("x", shape=(4096,), dtype=np.uint8)
    col[0] = np.full(4096, 7, np.uint8)
    writer.commit("one value")
    writer.close()
    assert repo.verify_repo_integrity()
    # Flip a byte of the stored value in the largest file (the segment holding it).
    files = [p for p in Path(repo.path).rglob("*") if p.is_file()]
    seg = max(files, key=lambda p: p.stat().st_size)
    data = bytearray(seg.read_bytes())
    at = data.find(bytes([7]) * 4096)
    assert at >= 0, seg
    data[at + 100] ^= 0xFF
    seg.write_bytes(bytes(data))
    with pytest.raises(RuntimeError) as e:  # CorruptionError, as the original's RuntimeError
        repo.verify_repo_integrity()
    assert isinstance(e.value, CorruptionError)


def test_checkout_of_a_past_commit(repo, writer):
    col = writer.add_str_column("s")
    col["k"] = "first"
    first = writer.commit("first")
    col["k"] = "second"
    writer.commit("second")
    writer.close()
    old = repo.checkout(commit=first)
    assert old.commit_hash == first
    assert old["s", "k"] == "first"
    assert repo.checkout()["s", "k"] == "second"
    with pytest.raises(ValueError):
        repo.checkout(commit="0" * 64)


def test_values_and_items_of_a_reader_column_read_in_blocks(repo, writer):
    # More samples than one block holds (and a last, partial block), in key order; each
    # value equals its single read and is read-only, as a single read's is.
    from hangar import columns as _columns

    n = 2 * _columns._SCAN_ROWS + 5
    imgs = writer.add_ndarray_column("imgs", shape=(3, 2), dtype=np.int16)
    scalars = writer.add_ndarray_column("s", shape=(), dtype=np.float64)
    imgs.put_batch([f"k{i}" for i in range(n)], np.arange(n * 6, dtype=np.int16).reshape(n, 3, 2))
    scalars.put_batch(list(range(n)), np.arange(n, dtype=np.float64) / 2)
    writer.commit("data")
    writer.close()
    co = repo.checkout()
    col = co["imgs"]
    keys = list(col.keys())
    values = list(col.values())
    items = list(col.items())
    assert len(values) == len(items) == n and [k for k, _ in items] == keys
    for k, v, (k2, v2) in zip(keys, values, items):
        assert v.shape == (3, 2) and v.dtype == np.int16 and not v.flags.writeable
        np.testing.assert_array_equal(v, col[k])
        np.testing.assert_array_equal(v2, col[k2])
    with pytest.raises(ValueError):
        values[0][0, 0] = 1  # read-only
    # 0-d samples come out as 0-d arrays, as single reads give them.
    sv = list(co["s"].values())
    assert len(sv) == n and all(v.shape == () for v in sv)
    assert [float(v) for v in sv] == [co["s"][k].item() for k in co["s"].keys()]
    co.close()


def test_keys_over_several_batches_of_the_key_iterator(repo, writer):
    # More keys than one C call hands out (_ffi._KEY_BATCH), integers then strings, with
    # a batch that holds both: every key once, in key order, of its own type.
    from hangar import _ffi

    n = _ffi._KEY_BATCH + 100
    col = writer.add_ndarray_column("v", shape=(1,), dtype=np.uint8)
    ints = list(range(n))
    strs = sorted(f"s{i:05d}" for i in range(n))
    col.put_batch(ints, np.zeros((n, 1), dtype=np.uint8))
    col.put_batch(strs, np.ones((n, 1), dtype=np.uint8))
    keys = list(col.keys())
    assert keys == ints + strs
    assert all(type(k) is int for k in keys[:n]) and all(type(k) is str for k in keys[n:])
    writer.commit("keys")
    writer.close()
    co = repo.checkout()
    assert list(co["v"].keys()) == ints + strs
    assert [k for k, _ in co["v"].items()] == ints + strs
    co.close()


def test_threads_reading_one_column_each_get_their_own_samples(repo, writer):
    # ctypes lets go of the GIL during the C call: reads from several threads at once
    # must not hand one thread another's sample (they shared the C call's output struct
    # and did: ~0.5% of such reads were wrong).
    import threading

    n = 2000
    data = np.random.default_rng(3).integers(0, 255, size=(n, 64), dtype=np.uint8)
    col = writer.add_ndarray_column("v", prototype=data[0])
    col.put_batch([str(i) for i in range(n)], data)
    writer.commit("data")
    writer.close()
    co = repo.checkout()
    rcol = co["v"]
    wrong = []

    def work(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for i in rng.integers(0, n, 15000):
            if not np.array_equal(rcol[str(i)], data[i]):
                wrong.append(int(i))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == [], f"{len(wrong)} reads returned another key's sample"
    co.close()


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_reading_the_same_samples_again_and_again_holds_no_more_memory(repo):
    """A training loop's reads (`col[k]`, epoch after epoch) keep nothing per read: the
    C library used to keep ~150 bytes for each zero-copy read until the checkout closed
    (~7 MB per 50,000 reads). Mapped values are zero-copy views; inline values (at most
    64 bytes) and compressed ones are read-only arrays over copies of their own."""
    co = repo.checkout(write=True)
    big = co.add_ndarray_column("big", shape=(100,), dtype=np.uint8)
    labels = co.add_ndarray_column("labels", shape=(), dtype=np.int64)
    packed = co.add_ndarray_column("packed", shape=(100,), dtype=np.uint8, backend_options={"compression": "zstd"})
    for i in range(20):
        big[i] = np.full(100, i, np.uint8)
        labels[i] = np.int64(i % 3)
        packed[i] = np.full(100, 200 + i, np.uint8)
    co.commit("data")
    co.close()
    co = repo.checkout()
    cols = [co["big"], co["labels"], co["packed"]]
    v, lab, p = cols[0][4], cols[1][4], cols[2][4]
    assert v[0] == 4 and lab == 1 and p[0] == 204
    assert not (v.flags.writeable or p.flags.writeable or lab.flags.writeable)

    def c_handle_kept(a):  # the view's buffer keeps the checkout's C handle alive
        return getattr(getattr(a.base, "obj", a.base), "_owner", None) is not None

    assert c_handle_kept(v)  # a view of the mapped segment
    assert not c_handle_kept(p) and not c_handle_kept(lab)  # decoded, inline: copies
    for _ in range(2):  # warm up allocators and caches
        for col in cols:
            for k in range(20):
                col[k]
    before = _rss_bytes()
    for _ in range(3000):  # 180,000 reads: ~27 MB kept by the old views
        for col in cols:
            for k in range(20):
                col[k]
    grew = _rss_bytes() - before
    assert grew < 4 << 20, f"{grew} bytes more after 180,000 reads"
    np.testing.assert_array_equal(v, np.full(100, 4, np.uint8))  # earlier views still valid
    co.close()
