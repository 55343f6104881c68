"""Repository.gc: the grace period, a dry run, deferral while a reader is open, removal,
the writer lock and bad arguments."""
import ctypes
import os

import numpy as np
import pytest

import hangar


def _deleted_branch(repo):
    co = repo.checkout(write=True)
    col = co.add_ndarray_column("big", shape=(200,), dtype=np.uint8)
    for i in range(10):
        col[i] = np.full(200, i, dtype=np.uint8)
    co.commit("keep")
    co.close()
    repo.create_branch("tmp")
    co = repo.checkout(write=True, branch="tmp")
    for i in range(100, 140):
        co["big"][i] = np.full(200, i, dtype=np.uint8)
    doomed = co.commit("tmp")
    co.close()
    co = repo.checkout(write=True, branch="master")
    co.close()
    repo.remove_branch("tmp", force_delete=True)
    return doomed


def test_gc_keeps_young_reflog_entries_defers_for_readers_and_then_removes(repo):
    doomed = _deleted_branch(repo)
    r = repo.gc()
    assert r["files_removed"] == 0 and r["dead_entries"] == 0 and r["files"] == []
    assert r["reflog_only_commits"] == 1  # what kept the deleted branch's data
    dry = repo.gc(prune="now", dry_run=True)
    assert dry["dry_run"] and dry["files_removed"] > 0 and dry["bytes_removed"] >= 40 * 200
    assert all(f["action"] == "removed" and os.path.exists(f["path"]) for f in dry["files"])

    reader = repo.checkout(commit=doomed)
    r = repo.gc(prune="now")
    assert r["files_removed"] == 0 and r["files_deferred"] == len(dry["files"])
    assert {f["action"] for f in r["files"]} == {"deferred"}
    assert int(reader["big", 120][0]) == 120
    reader.close()

    r = repo.gc(prune="now")
    assert r["files_removed"] == len(dry["files"]) and r["files_deferred"] == 0
    assert r["reflog_only_commits"] == 0
    assert not any(os.path.exists(f["path"]) for f in dry["files"])
    with pytest.raises(ValueError):
        repo.checkout(commit=doomed)
    assert repo.verify_repo_integrity()
    co = repo.checkout()
    assert [int(co["big", i][0]) for i in range(10)] == list(range(10))
    co.close()


def test_gc_refuses_beside_a_writer_and_bad_arguments(repo):
    _deleted_branch(repo)
    co = repo.checkout(write=True)
    with pytest.raises(PermissionError):
        repo.gc(prune="now")
    co.close()
    with pytest.raises(ValueError, match="--prune"):
        repo.gc(prune="soon")
    with pytest.raises(ValueError, match="compact_below"):
        repo.gc(compact_below=3)


def test_a_handle_freed_between_a_failure_and_its_message_keeps_the_message(repo):
    # Python frees C handles from __del__, which the garbage collector may run at any
    # allocation: between a failed call and the reading of its message, say.
    from hangar import _ffi

    other = hangar.Repository(path=repo.path, exists=True)
    report = _ffi.GcReport()
    ptr = repo._ptr()
    st = _ffi.lib.hangar_repo_gc(ptr, b"soon", False, -1.0, ctypes.byref(report), None)
    assert st == _ffi.E_INVALID_ARGUMENT
    del other  # frees its C handle now
    _ffi.lib.hangar_buf_free(None)
    assert "--prune" in _ffi.last_message()
