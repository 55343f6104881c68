"""hangar.bulk_importer: the original's run_bulk_import (hangar-py after 0.5.2) — every
kind of column, worker processes, and all or nothing on every kind of bad input and on a
failure while storing."""

import os
import warnings

import numpy as np
import pytest

import hangar.columns
from hangar.bulk_importer import UDF_Return, run_bulk_import


def columns_committed(repo, add):
    co = repo.checkout(write=True)
    add(co)
    co.commit("columns")
    co.close()


def heads(repo):
    return repo.log(return_contents=True)["order"]


def staged(repo):
    co = repo.checkout(write=True)
    try:
        return co.diff_status()
    finally:
        co.close()


def no_spool_left(repo):
    return [n for n in os.listdir(repo.path) if n.startswith(".hangar-bulk-import-")] == []


def make_array(column, key, multiplier):
    yield UDF_Return(column=column, key=key, data=np.arange(25, dtype=np.uint32).reshape(5, 5) * multiplier)


@pytest.mark.parametrize("ncpus", [1, 2])
def test_ndarray_str_and_bytes_columns_from_worker_processes(repo, ncpus):
    columns_committed(repo, lambda co: (
        co.add_ndarray_column("arr", shape=(5, 5), dtype=np.uint32),
        co.add_str_column("text"),
        co.add_bytes_column("raw"),
    ))
    before = heads(repo)

    # A closure: forked workers run it without pickling it.
    suffix = "!"

    def udf(key, multiplier):
        yield from make_array("arr", key, multiplier)
        yield UDF_Return(column="text", key=f"s{key}", data=f"{key}{suffix}")
        yield UDF_Return("raw", key, str(key).encode() * 3)

    kwargs = [{"key": i, "multiplier": i} for i in range(300)]
    assert run_bulk_import(repo, "master", ["arr", "text", "raw"], udf, kwargs, ncpus=ncpus) is None

    order = heads(repo)
    assert len(order) == len(before) + 1
    co = repo.checkout()
    try:
        assert len(co["arr"]) == len(co["text"]) == len(co["raw"]) == 300
        for i in (0, 1, 150, 299):
            assert np.array_equal(co["arr"][i], np.arange(25, dtype=np.uint32).reshape(5, 5) * i)
            assert co["arr"][i].dtype == np.uint32
            assert co["text"][f"s{i}"] == f"{i}!"
            assert co["raw"][i] == str(i).encode() * 3
    finally:
        co.close()
    msg = repo.log(return_contents=True)["specs"][order[0]]["commit_message"]
    assert msg == "Auto commit after bulk import of 900 samples to column ['arr', 'text', 'raw'] on branch master"
    assert no_spool_left(repo)


def test_nested_and_variable_shape_columns(repo):
    columns_committed(repo, lambda co: (
        co.add_ndarray_column("var", shape=(4, 4), dtype=np.float32, variable_shape=True),
        co.add_str_column("notes", contains_subsamples=True),
    ))

    def udf(n):
        yield UDF_Return("var", n, np.full((n % 4 + 1, 2), n, dtype=np.float32))
        for sub in range(n % 3 + 1):
            yield UDF_Return("notes", (f"doc{n}", sub), f"{n}/{sub}")

    run_bulk_import(repo, "master", ["var", "notes"], udf, [{"n": n} for n in range(40)], ncpus=2)
    co = repo.checkout()
    try:
        assert co["var"][6].shape == (3, 2) and float(co["var"][6][0, 0]) == 6.0
        assert len(co["notes"]) == 40
        assert co["notes"]["doc5"][2] == "5/2"
        assert len(co["notes"]["doc5"]) == 3
    finally:
        co.close()


def test_autocommit_false_leaves_the_import_staged_beside_earlier_changes(repo):
    columns_committed(repo, lambda co: co.add_ndarray_column("arr", shape=(5, 5), dtype=np.uint32))
    before = heads(repo)
    co = repo.checkout(write=True)
    co.add_str_column("early")["a"] = "staged before"
    co.close()
    run_bulk_import(repo, "master", ["arr"], make_array,
                    [{"column": "arr", "key": i, "multiplier": 2} for i in range(10)], autocommit=False)
    assert heads(repo) == before
    co = repo.checkout(write=True)
    try:
        assert len(co["arr"]) == 10 and co["early"]["a"] == "staged before"
    finally:
        co.close()


def test_a_key_yielded_twice_is_stored_once_when_equal_and_refused_when_not(repo):
    columns_committed(repo, lambda co: co.add_str_column("text"))

    def udf(key, value):
        yield UDF_Return("text", key, value)

    run_bulk_import(repo, "master", ["text"], udf,
                    [{"key": "k", "value": "same"}, {"key": "j", "value": "x"}, {"key": "k", "value": "same"}])
    co = repo.checkout()
    assert len(co["text"]) == 2 and co["text"]["k"] == "same"
    co.close()
    before = heads(repo)
    with pytest.raises(ValueError, match=r"key 'k' was yielded with two different values.*udf_kwargs\[0\].*udf_kwargs\[2\]"):
        run_bulk_import(repo, "master", ["text"], udf,
                        [{"key": "k", "value": "one"}, {"key": "m", "value": "x"}, {"key": "k", "value": "two"}])
    assert heads(repo) == before and staged(repo) == "CLEAN"
    assert no_spool_left(repo)


def test_bad_udfs_and_arguments_are_refused_before_anything_is_staged(repo):
    columns_committed(repo, lambda co: co.add_str_column("str"))
    before = heads(repo)

    def wrong_sig_udf(a, b, c=None):
        yield UDF_Return(column="str", key=a, data=f"{a} {b} {c}")

    # The original's test_signature_wrong: a keyword the UDF does not take.
    with pytest.raises(TypeError, match=r"udf_kwargs\[0\].*signature"):
        run_bulk_import(repo, "master", ["str"], wrong_sig_udf,
                        [{"a": "bytes", "str_val": str(i)} for i in range(200)], ncpus=2)

    def not_a_generator(a):
        return [UDF_Return("str", a, "x")]

    with pytest.raises(TypeError, match="not a generator function"):
        run_bulk_import(repo, "master", ["str"], not_a_generator, [{"a": "k"}])

    def yields_tuples(a):
        yield ("str", a, "x")

    with pytest.raises(TypeError, match="only UDF_Return values"):
        run_bulk_import(repo, "master", ["str"], yields_tuples, [{"a": "k"}])

    def other_column(a):
        yield UDF_Return("elsewhere", a, "x")

    with pytest.raises(ValueError, match=r"column 'elsewhere' of a UDF_Return is not one of column_names"):
        run_bulk_import(repo, "master", ["str"], other_column, [{"a": "k"}])
    with pytest.raises(KeyError):
        run_bulk_import(repo, "master", ["str", "nosuch"], other_column, [{"a": "k"}])
    with pytest.raises(TypeError, match=r"udf_kwargs\[1\] is a list"):
        run_bulk_import(repo, "master", ["str"], wrong_sig_udf, [{"a": 1, "b": 2}, [1, 2]])
    assert heads(repo) == before and staged(repo) == "CLEAN"


@pytest.mark.parametrize("bad, message", [
    (np.zeros((5, 4), np.uint32), r"shape \(5, 4\) != the column's shape \(5, 5\)"),
    (np.zeros((5, 5), np.int64), r"dtype int64 != the column's dtype uint32"),
    ("text", r"holds np.ndarray values, not str"),
])
def test_a_bad_value_deep_in_the_list_is_caught_by_the_workers_and_nothing_is_staged(repo, bad, message):
    columns_committed(repo, lambda co: co.add_ndarray_column("arr", shape=(5, 5), dtype=np.uint32))
    before = heads(repo)

    def udf(i):
        yield UDF_Return("arr", i, bad if i == 777 else np.full((5, 5), i, np.uint32))

    kwargs = [{"i": i} for i in range(1000)]
    with pytest.raises(ValueError, match=message + r".*udf_kwargs\[777\] = \{'i': 777\}.*nothing was imported"):
        run_bulk_import(repo, "master", ["arr"], udf, kwargs, ncpus=2)
    assert heads(repo) == before and staged(repo) == "CLEAN"
    assert no_spool_left(repo)


@pytest.mark.parametrize("key, message", [
    (-1, "out of range"),
    ("has space", "not suitable"),
    (True, "is a bool"),
    (("a", 1), "is a tuple"),
])
def test_bad_keys_are_refused(repo, key, message):
    columns_committed(repo, lambda co: co.add_str_column("s"))

    def udf(k):
        yield UDF_Return("s", k, "v")

    with pytest.raises(ValueError, match=message):
        run_bulk_import(repo, "master", ["s"], udf, [{"k": key}])
    assert staged(repo) == "CLEAN"


def test_an_exception_in_the_udf_reaches_the_caller_and_nothing_is_staged(repo):
    columns_committed(repo, lambda co: co.add_str_column("s"))

    def udf(i):
        if i == 321:
            raise FileNotFoundError(f"image {i} is missing")
        yield UDF_Return("s", i, str(i))

    with pytest.raises(FileNotFoundError, match="image 321 is missing"):
        run_bulk_import(repo, "master", ["s"], udf, [{"i": i} for i in range(500)], ncpus=2)
    assert staged(repo) == "CLEAN"
    assert no_spool_left(repo)
    # The writer lock is free again (no worker kept it).
    repo.checkout(write=True).close()


def test_stopping_at_a_bad_value_never_kills_a_worker(repo, monkeypatch):
    """A worker killed while it sends a result leaves the lock of the result pipe held,
    and a multiprocessing pool then waits for it forever: the import once stopped this
    way and hung about once in a hundred runs. Stopping early lets every worker exit on
    its own, so no process is ever terminated, and every stop returns."""
    import multiprocessing.process

    killed = []
    real = multiprocessing.process.BaseProcess.terminate

    def terminate(self):
        killed.append(self.pid)
        real(self)

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "terminate", terminate)
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "kill", terminate)
    columns_committed(repo, lambda co: co.add_ndarray_column("arr", shape=(2,), dtype=np.uint8))

    def udf(i):
        yield UDF_Return("arr", i, np.zeros(3 if i == 40 else 2, np.uint8))

    for _ in range(20):
        with pytest.raises(ValueError, match=r"udf_kwargs\[40\]"):
            run_bulk_import(repo, "master", ["arr"], udf, [{"i": i} for i in range(400)], ncpus=2)
    assert killed == []
    assert staged(repo) == "CLEAN" and no_spool_left(repo)


def test_a_worker_that_dies_is_reported_not_waited_for(repo):
    columns_committed(repo, lambda co: co.add_str_column("s"))

    def udf(i):
        if i == 250:
            os._exit(3)  # as a crash in a decoder or the kernel's OOM killer would end it
        yield UDF_Return("s", i, str(i))

    with pytest.raises(RuntimeError, match="worker process of the bulk import ended.*nothing was imported"):
        run_bulk_import(repo, "master", ["s"], udf, [{"i": i} for i in range(500)], ncpus=2)
    assert staged(repo) == "CLEAN"
    assert no_spool_left(repo)
    co = repo.checkout(write=True)  # the writer lock is free again
    co.close()


def failing_update(monkeypatch, after):
    """Column.update stores its first `after` calls, then fails as a full disk would."""
    real = hangar.columns.Column.update
    calls = []

    def update(self, *a, **k):
        calls.append(1)
        if len(calls) > after:
            raise OSError(28, "No space left on device")
        return real(self, *a, **k)

    monkeypatch.setattr(hangar.columns.Column, "update", update)


def str_udf(i, v="new"):
    yield UDF_Return("s", i, f"{v}{i}")


def test_a_failure_while_storing_takes_the_import_back_out_of_a_clean_staging_area(repo, monkeypatch):
    columns_committed(repo, lambda co: co.add_str_column("s"))
    before = heads(repo)
    failing_update(monkeypatch, after=2)
    with pytest.raises(OSError, match="No space left"):
        run_bulk_import(repo, "master", ["s"], str_udf, [{"i": i} for i in range(500)], ncpus=2)
    monkeypatch.undo()
    assert heads(repo) == before and staged(repo) == "CLEAN"


def test_a_failure_while_storing_keeps_what_was_staged_before(repo, monkeypatch):
    columns_committed(repo, lambda co: co.add_str_column("s"))
    co = repo.checkout(write=True)
    co["s"][3] = "staged before"
    co["s"]["other"] = "kept"
    co.close()
    failing_update(monkeypatch, after=2)
    with pytest.raises(OSError, match="No space left"):
        run_bulk_import(repo, "master", ["s"], str_udf, [{"i": i} for i in range(500)], ncpus=2)
    monkeypatch.undo()
    co = repo.checkout(write=True)
    try:
        # Sample 3 has its earlier value again; no other sample of the import is left.
        assert co["s"][3] == "staged before" and co["s"]["other"] == "kept"
        assert sorted(map(str, co["s"].keys())) == ["3", "other"]
    finally:
        co.close()


def test_ncpus_over_the_cpu_count_warns(repo):
    columns_committed(repo, lambda co: co.add_str_column("s"))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        run_bulk_import(repo, "master", ["s"], str_udf, [{"i": i} for i in range(4)],
                        ncpus=(os.cpu_count() or 1) + 1)
    assert any("more than this machine's" in str(x.message) for x in w)
    co = repo.checkout()
    assert len(co["s"]) == 4
    co.close()


def test_udf_return_compares_arrays_by_value():
    a = UDF_Return("c", 1, np.arange(3))
    assert a == UDF_Return("c", 1, np.arange(3))
    assert a != UDF_Return("c", 1, np.arange(3) + 1)
    assert a != UDF_Return("c", 2, np.arange(3))
    assert UDF_Return("c", 1, "x") == UDF_Return("c", 1, "x")
    assert UDF_Return("c", 1, "x") != UDF_Return("c", 1, b"x")


def test_many_spool_files_and_store_calls_keep_every_sample_once(repo, monkeypatch):
    # Limits small enough that each batch is spooled in several files and the parent
    # stages a column in many calls; an equal value yielded twice (in different files)
    # is stored once.
    import hangar.bulk_importer as bi

    monkeypatch.setattr(bi, "_SPOOL_BYTES", 1000)
    monkeypatch.setattr(bi, "_STORE_ROWS", 7)
    columns_committed(repo, lambda co: (
        co.add_ndarray_column("img", shape=(8, 8), dtype=np.uint8),
        co.add_str_column("name"),
    ))

    def udf(i):
        yield UDF_Return("img", i % 150, np.full((8, 8), i % 150, np.uint8))
        yield UDF_Return("name", f"n{i % 150}", f"image {i % 150}")

    run_bulk_import(repo, "master", ["img", "name"], udf, [{"i": i} for i in range(200)], ncpus=2)
    co = repo.checkout()
    try:
        assert len(co["img"]) == 150 and len(co["name"]) == 150
        for k in (0, 49, 50, 149):
            assert np.array_equal(co["img"][k], np.full((8, 8), k, np.uint8))
            assert co["name"][f"n{k}"] == f"image {k}"
    finally:
        co.close()
    assert no_spool_left(repo)


def test_spawned_workers_where_fork_is_not_available(repo, monkeypatch):
    # Where the platform cannot fork, workers are spawned and the UDF travels pickled:
    # a module-level function works.
    import multiprocessing

    import hangar.bulk_importer as bi

    monkeypatch.setattr(bi, "_context", lambda: multiprocessing.get_context("spawn"))
    columns_committed(repo, lambda co: co.add_ndarray_column("arr", shape=(5, 5), dtype=np.uint32))
    run_bulk_import(repo, "master", ["arr"], make_array,
                    [{"column": "arr", "key": i, "multiplier": i} for i in range(64)], ncpus=2)
    co = repo.checkout()
    try:
        assert len(co["arr"]) == 64
        np.testing.assert_array_equal(co["arr"][63], np.arange(25, dtype=np.uint32).reshape(5, 5) * 63)
    finally:
        co.close()
