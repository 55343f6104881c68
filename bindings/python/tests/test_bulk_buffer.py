"""The bulk session's buffer (`with col:` / `with co:`): samples set one by one reach the
C ABI in batches, yet every read, count, delete and commit sees them in the order they
were set, bad input is refused at the set that gave it, and a batch the engine could not
store is reported, naming its samples: by the call that sent it, or (a full buffer, stored
on the checkout's background thread) by the next call that waits for it."""

import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from hangar import Repository
from hangar import columns as _columns


def test_samples_set_in_a_bulk_session_read_back_in_order(repo, writer):
    col = writer.add_ndarray_column("img", prototype=np.zeros((8, 8), dtype=np.uint8))
    rng = np.random.default_rng(7)
    n = 3 * _columns._BULK_ROWS + 17  # several full buffers and a partial one
    data = rng.integers(0, 255, size=(n, 8, 8), dtype=np.uint8)
    scratch = np.empty((8, 8), dtype=np.uint8)
    with col:
        for i in range(n):
            scratch[...] = data[i]
            col[i if i % 2 else f"s{i}"] = scratch  # the caller reuses its array
            if i == 10:
                # Reads, counts and membership see what is still buffered.
                np.testing.assert_array_equal(col["s10"], data[10])
                assert len(col) == 11 and 9 in col and "s8" in col
        col[1] = data[0]  # set again: the later value wins
        del col["s2"]  # a buffered sample deleted
        col["s2"] = data[5]  # and set again
        assert col[1].tobytes() == data[0].tobytes()
    assert len(col) == n
    writer.commit("bulk")
    writer.close()
    co = repo.checkout()
    got = co["img"]
    for i in (0, 3, 4095, 4096, 8193, n - 1):
        np.testing.assert_array_equal(got[i if i % 2 else f"s{i}"], data[i])
    np.testing.assert_array_equal(got[1], data[0])
    np.testing.assert_array_equal(got["s2"], data[5])
    co.close()


def test_both_columns_of_the_seed_loop_and_a_commit_inside_the_block(repo, writer):
    imgs = writer.add_ndarray_column("images", prototype=np.zeros((28, 28), dtype=np.uint8))
    labels = writer.add_ndarray_column("labels", prototype=np.array([0]))
    with imgs, labels:
        for i in range(5000):
            imgs[str(i)] = np.full((28, 28), i % 251, dtype=np.uint8)
            labels[str(i)] = np.array([i])
        with pytest.raises(PermissionError):
            writer.columns.delete("labels")  # refused in a block, as before
    head = writer.commit("5000")
    assert writer.diff.status() == "CLEAN"
    writer.close()
    co = repo.checkout(commit=head)
    assert len(co["images"]) == len(co["labels"]) == 5000
    assert co["labels", "4999"][0] == 4999 and co["images", "4999"][0, 0] == 4999 % 251
    co.close()


def test_threads_sharing_a_column_in_a_bulk_session_lose_nothing(repo, writer):
    col = writer.add_ndarray_column("v", prototype=np.zeros((16,), dtype=np.int64))
    per_thread = _columns._BULK_ROWS + 500

    def work(t: int) -> None:
        for i in range(per_thread):
            col[f"t{t}_{i}"] = np.full(16, t * 1_000_000 + i, dtype=np.int64)

    with col:
        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert len(col) == 4 * per_thread
    for t in range(4):
        for i in (0, 777, per_thread - 1):
            assert col[f"t{t}_{i}"].tolist() == [t * 1_000_000 + i] * 16


def test_bad_input_is_refused_at_the_set_that_gave_it(repo, writer):
    col = writer.add_ndarray_column("img", prototype=np.zeros((4,), dtype=np.float32))
    ok = np.ones(4, dtype=np.float32)
    with col:
        col["a"] = ok
        for bad_key in ["has space", "x" * 65, "", "bad\n", "é"]:
            with pytest.raises(ValueError):
                col[bad_key] = ok
        with pytest.raises(ValueError):
            col[-1] = ok
        with pytest.raises(ValueError):
            col["b"] = np.ones(4, dtype=np.float64)  # the column's dtype is float32
        with pytest.raises(ValueError):
            col["b"] = np.ones(5, dtype=np.float32)
        col["c"] = ok
    assert sorted(col.keys()) == ["a", "c"]


def test_an_exception_in_the_block_keeps_what_was_set_before_it(repo, writer):
    col = writer.add_ndarray_column("v", prototype=np.zeros((2,), dtype=np.int32))
    with pytest.raises(ZeroDivisionError):
        with col:
            col[0] = np.array([1, 2], dtype=np.int32)
            1 / 0
    assert col[0].tolist() == [1, 2]
    writer.close()


def test_a_checkout_closed_inside_the_block_stores_what_was_set_and_the_block_ends_quietly(repo, writer):
    col = writer.add_ndarray_column("v", shape=(3,), dtype=np.int64)
    other = writer.add_str_column("s")
    with col, other:
        for i in range(10):
            col[i] = np.full(3, i)
        other["a"] = "b"
        writer.close()  # buffered samples are stored before the lock is released
    co = repo.checkout(write=True)
    col = co.columns["v"]
    # An exception leaving such a block is the one raised, not replaced by the closed
    # checkout's PermissionError.
    with pytest.raises(KeyError, match="mine"):
        with col:
            col[10] = np.full(3, 10)
            co.close()
            raise KeyError("mine")
    co = repo.checkout(write=True)
    assert sorted(co.columns["v"].keys()) == list(range(11))
    assert np.array_equal(co.columns["v"][9], np.full(3, 9))
    assert co.columns["s"]["a"] == "b"
    co.close()


def _fill_until_a_write_fails(tmp_path, n: int) -> str:
    """Sets `n` samples of 1 KiB in a bulk session of a child process that may not grow
    a file past 64 KiB (RLIMIT_FSIZE: writes fail with EFBIG; in a child, so the limit
    stays there); returns what it printed."""
    return _run_child(tmp_path, f"""
        import resource, signal, sys
        import numpy as np
        from hangar import Repository
        repo = Repository(path=sys.argv[1], exists=False)
        repo.init(user_name="T", user_email="t@example.com")
        co = repo.checkout(write=True)
        col = co.add_ndarray_column("img", prototype=np.zeros((32, 32), dtype=np.uint8))
        co.commit("empty column")
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 16, resource.RLIM_INFINITY))
        try:
            with col:
                for i in range({n}):
                    col[i] = np.full((32, 32), i % 256, dtype=np.uint8)
                print("set {n} without an error")
        except Exception as e:
            print("raised", type(e).__name__, e)
        try:
            print("samples:", len(col))
        except Exception as e:
            print("len raised", type(e).__name__)
        """)


def _nothing_staged_and_verifies(tmp_path) -> None:
    """A new writer of the child's repository sees the committed empty column only."""
    repo = Repository(path=tmp_path / "r")
    co = repo.checkout(write=True)
    assert len(co["img"]) == 0 and co.diff.status() == "CLEAN"
    co.close()
    assert repo.verify_repo_integrity()


def test_a_batch_the_engine_cannot_store_is_reported_by_the_call_that_sent_it(tmp_path):
    # 200 samples: one buffer, sent when the block ends.
    out = _fill_until_a_write_fails(tmp_path, 200)
    assert "set 200 without an error" in out, out
    assert "the 200 samples set since the bulk session last stored its buffer" in out, out
    assert "keys 0 to 199" in out and "were not stored" in out, out
    assert "samples: 0" in out, out
    _nothing_staged_and_verifies(tmp_path)


def _run_child(tmp_path, script: str) -> str:
    """Runs `script` (given the repository path) in a Python child importing the package
    this test imports; returns its stdout."""
    import hangar

    env = dict(os.environ)
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(hangar.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([package_root] + [p for p in [env.get("PYTHONPATH")] if p])
    if env.get("HANGAR_LIBRARY"):
        env["HANGAR_LIBRARY"] = os.path.abspath(env["HANGAR_LIBRARY"])
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), str(tmp_path / "r")],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_full_buffers_are_stored_in_the_background_in_order(repo, writer):
    # Buffers fill and are stored on the checkout's thread while the next fill: reads
    # in the block wait for them, and a key set in one buffer and again in a later one
    # keeps the later value.
    col = writer.add_ndarray_column("v", prototype=np.zeros((3,), dtype=np.int64))
    rows = _columns._BULK_ROWS
    with col:
        for i in range(5 * rows + 7):
            col[i % (2 * rows + 1)] = np.full(3, i, dtype=np.int64)
            if i == rows + 2:
                # Buffer 1 is (or was) being stored in the background; 3 samples buffered.
                assert len(col) == rows + 3 and col[rows].tolist() == [rows] * 3
    assert writer._inflight is None and not writer._pending  # the block's end waited
    n = 5 * rows + 7
    assert len(col) == 2 * rows + 1
    for k in (0, 5, rows, 2 * rows):
        last = max(i for i in range(n) if i % (2 * rows + 1) == k)
        assert col[k].tolist() == [last] * 3, k
    writer.commit("background")


def test_a_background_store_that_fails_is_raised_by_the_next_call(repo, writer, monkeypatch):
    # The first full buffer's C call fails on the checkout's thread: the block's end,
    # which waits for it, raises that failure naming its samples; the samples set after
    # it (stored then) are kept, the failed ones are not staged.
    col = writer.add_ndarray_column("v", prototype=np.zeros((2,), dtype=np.int32))
    rows = _columns._BULK_ROWS
    real = _columns.Column._put_batch_raw
    calls = []

    def first_fails(self, keys, data):
        calls.append(threading.current_thread().name)
        if len(calls) == 1:
            raise OSError("the disk is on fire")
        return real(self, keys, data)

    monkeypatch.setattr(_columns.Column, "_put_batch_raw", first_fails)
    with pytest.raises(OSError, match=rf"the {rows} samples set since .* \(keys 0 to {rows - 1}\) were not stored: the disk is on fire"):
        with col:
            for i in range(rows + 10):
                col[i] = np.array([i, -i], dtype=np.int32)
    assert calls[0].startswith("hangar-bulk"), calls  # stored on the checkout's thread
    assert len(col) == 10 and 0 not in col and col[rows].tolist() == [rows, -rows]
    writer.commit("the ten after the failed buffer")


def test_a_full_buffer_the_engine_cannot_store_raises_and_stages_nothing(tmp_path):
    # More than one buffer (the first stored in the background): the block raises the
    # failure and nothing of the block is staged.
    n = _columns._BULK_ROWS + 300
    out = _fill_until_a_write_fails(tmp_path, n)
    assert f"set {n} without an error" in out, out
    assert "raised OSError" in out and "File too large" in out, out
    _nothing_staged_and_verifies(tmp_path)
