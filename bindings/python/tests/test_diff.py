"""The original's diff objects: co.diff.branch / commit / staged / status and
repo.diff, with the conflicts a merge would meet."""

import numpy as np
import pytest

from hangar.diff import ColumnSchemaKey, FlatColumnDataKey


@pytest.fixture
def two_branches(repo):
    co = repo.checkout(write=True)
    col = co.add_str_column("dummy")
    col.update({str(i): f"v{i}" for i in range(10)})
    co.commit("ten")
    co.close()
    repo.create_branch("testbranch")
    return repo


def test_fast_forward_diff_is_the_same_from_either_side(two_branches):
    repo = two_branches
    co = repo.checkout(write=True, branch="testbranch")
    col = co.columns["dummy"]
    col["1"] = "changed"
    del col["2"]
    col.update({str(i): "new" for i in range(10, 20)})
    co.add_ndarray_column("images", shape=(2,), dtype=np.uint8)
    co.metadata["note"] = "x"
    co.commit("mutation and removal")
    co.close()
    for writer in (False, True):
        m = repo.checkout(write=writer, branch="master")
        d = m.diff.branch("testbranch")
        assert d.conflict.conflict is False
        assert len(d.diff.added.samples) == 10 and len(d.diff.deleted.samples) == 1
        assert d.diff.mutated.samples == (FlatColumnDataKey("dummy", "1"),)
        assert all(9 < int(k.sample) < 20 for k in d.diff.added.samples)
        assert list(d.diff.added.schema) == [ColumnSchemaKey("images")]
        assert d.diff.added.metadata == ("note",)
        assert m.diff.commit(repo.log(branch="testbranch", return_contents=True)["head"]) == d
        m.close()
        t = repo.checkout(write=writer, branch="testbranch")
        assert t.diff.branch("master").diff == d.diff
        t.close()
    assert repo.diff("master", "testbranch") == d
    assert "dummy" in repo.diff_text("master", "testbranch")


def test_diverged_branches_report_each_kind_of_conflict(two_branches):
    repo = two_branches
    for branch, value in (("master", "ours"), ("testbranch", "theirs")):
        co = repo.checkout(write=True, branch=branch)
        col = co.columns["dummy"]
        col["55"] = value  # added in both (t1)
        col["3"] = value  # changed in both (t3)
        if branch == "master":
            del col["4"]  # deleted here, changed there (t21)
            col["5"] = value  # changed here, deleted there (t22)
        else:
            col["4"] = value
            del col["5"]
        co.commit(f"{branch} changes")
        co.close()
    co = repo.checkout(branch="master")
    c = co.diff.branch("testbranch").conflict
    assert c.conflict is True
    assert [k.sample for k in c.t1.samples] == ["55"]
    assert [k.sample for k in c.t21.samples] == ["4"]
    assert [k.sample for k in c.t22.samples] == ["5"]
    assert [k.sample for k in c.t3.samples] == ["3"]
    co.close()


def test_staged_diff_status_and_bad_arguments(two_branches):
    repo = two_branches
    co = repo.checkout(write=True)
    assert co.diff.status() == "CLEAN"
    assert co.diff.staged().diff.added.samples == ()
    co.columns["dummy"]["new"] = "x"
    assert co.diff.status() == "DIRTY"
    staged = co.diff.staged()
    assert staged.diff.added.samples == (FlatColumnDataKey("dummy", "new"),)
    with pytest.raises(ValueError):
        co.diff.branch("no-such-branch")
    with pytest.raises(ValueError):
        co.diff.commit("0" * 64)
    co.close()
    r = repo.checkout()
    assert not hasattr(r.diff, "status")
    r.close()
