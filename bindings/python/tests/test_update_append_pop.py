"""Batch updates of every kind, generated keys, pop, and the original's nested sample
objects — each one C call through hangar_column_update / _append / _pop."""

import numpy as np
import pytest

from hangar import NestedSample


def test_update_of_str_bytes_and_variable_shapes_is_all_or_nothing(repo, writer):
    s = writer.add_str_column("captions")
    s.update({0: "zero", "one": "", 2: "h\u00e9"})
    assert (s[0], s["one"], s[2]) == ("zero", "", "h\u00e9")
    with pytest.raises(ValueError, match="str values"):
        s.update({7: "fine", 8: b"bytes"})
    assert 7 not in s and len(s) == 3
    b = writer.add_bytes_column("blobs")
    b.update([(0, b"\x00\xff"), (1, bytearray(b"ab"))], two=b"kw")
    assert (b[0], b[1], b["two"]) == (b"\x00\xff", b"ab", b"kw")
    v = writer.add_ndarray_column("fields", shape=(4, 4), dtype=np.int32, variable_shape=True)
    v.update({0: np.ones((1, 2), np.int32), 1: np.arange(12, dtype=np.int32).reshape(3, 4)})
    assert v[1].shape == (3, 4) and v[0].shape == (1, 2)
    with pytest.raises(ValueError):
        v.update({5: np.ones((2, 2), np.int32), 6: np.ones((5, 5), np.int32)})
    assert 5 not in v
    writer.commit("updates")


def test_append_generates_unique_keys_and_add_without_a_name_appends(repo, writer):
    col = writer.add_ndarray_column("x", shape=(2,), dtype=np.uint8)
    k1 = col.append(np.array([1, 2], np.uint8))
    k2 = col.append(np.array([3, 4], np.uint8))
    assert isinstance(k1, str) and len(k1) == 28 and k1 != k2
    np.testing.assert_array_equal(col[k2], [3, 4])
    k3 = col.add(np.array([5, 6], np.uint8))
    assert k3 in col and len(col) == 3
    s = writer.add_str_column("s")
    assert s["" + s.append("text")] == "text"
    with pytest.raises(ValueError):
        col.append(np.zeros(3, np.uint8))
    assert len(col) == 3


def test_pop_returns_the_value_and_removes_it(repo, writer):
    col = writer.add_ndarray_column("x", shape=(2, 3), dtype=np.float64)
    col[0] = np.arange(6.0).reshape(2, 3)
    got = col.pop(0)
    np.testing.assert_array_equal(got, np.arange(6.0).reshape(2, 3))
    assert got.flags.writeable and 0 not in col
    with pytest.raises(KeyError):
        col.pop(0)
    s = writer.add_str_column("s")
    s["k"] = "v"
    assert s.pop("k") == "v" and "k" not in s
    writer.commit("pops")
    writer.close()
    r = repo.checkout()
    with pytest.raises(PermissionError):
        r["s"].pop("k")
    r.close()


def test_nested_samples_behave_as_the_originals(repo, writer):
    col = writer.add_ndarray_column("frames", shape=(2,), dtype=np.int16, contains_subsamples=True)
    a, b, c = (np.array([i, -i], np.int16) for i in (1, 2, 3))
    col["v"] = {0: a, 1: b}
    # Setting a sample adds or replaces the given subsamples and keeps the others.
    col["v"] = {2: c}
    s = col["v"]
    assert isinstance(s, NestedSample) and s.sample == "v" and s.column == "frames"
    assert list(s.keys()) == [0, 1, 2] and len(s) == 3 and 1 in s and 9 not in s
    np.testing.assert_array_equal(col["v", 2], c)
    np.testing.assert_array_equal(col["v"][0], a)
    assert sorted(s[...]) == [0, 1, 2] and list(s[1:]) == [1, 2] and list(s[:]) == [0, 1, 2]
    assert list(s.data) == [0, 1, 2]
    with pytest.raises(TypeError):
        s[1.5]
    with pytest.raises(KeyError):
        col["missing"]
    assert col.get("missing") is None
    # Writes through the sample object.
    s[3] = a
    s.update({4: b}, five=c)
    k = s.append(c)
    assert len(k) == 28 and k in s
    np.testing.assert_array_equal(s.pop(k), c)
    del s[4]
    with pytest.raises(KeyError):
        del s[4]
    assert list(s.keys()) == [0, 1, 2, 3, "five"]
    # The column: many samples in one update, totals, pop of a whole sample.
    col.update({"w": {0: a}, "v": {6: b}})
    assert len(col) == 2 and col.num_subsamples == 7
    popped = col.pop("w")
    assert list(popped) == [0] and "w" not in col
    with pytest.raises(ValueError, match="nested"):
        col["x"] = a
    with pytest.raises(TypeError, match="nested"):
        col.append({0: a})
    with pytest.raises(ValueError):
        col.update({"bad": {0: np.zeros(5, np.int16)}, "v": {7: a}})
    assert "bad" not in col and 7 not in col["v"]
    writer.commit("nested")
    writer.close()
    r = repo.checkout()
    rs = r["frames", "v"]
    assert not rs.iswriteable and list(rs.keys()) == [0, 1, 2, 3, 6, "five"]
    with pytest.raises(PermissionError):
        rs[9] = a
    assert "FlatSubsampleReader" in repr(rs)
    r.close()


def test_put_batch_and_get_batch_with_int_str_and_numpy_keys(repo, writer):
    col = writer.add_ndarray_column("x", shape=(2, 2), dtype=np.int32)
    data = np.arange(40, dtype=np.int32).reshape(10, 2, 2)
    col.put_batch(np.arange(10, dtype=np.uint32), data)
    col.put_batch(["a", "b"], data[:2] + 100)
    col.put_batch([1 << 40, 7], data[2:4] + 200)
    with pytest.raises(ValueError):
        col.put_batch([-1, 2], data[:2])
    with pytest.raises(ValueError):
        col.put_batch([20, 21, 22], data[:2])
    assert len(col) == 13 and 20 not in col
    np.testing.assert_array_equal(col.get_batch(np.array([9, 0])), data[[9, 0]])
    np.testing.assert_array_equal(col.get_batch(["b", 1 << 40, 7]), np.stack([data[1] + 100, data[2] + 200, data[3] + 200]))
    with pytest.raises(KeyError):
        col.get_batch([3, 99])


def test_the_originals_keyword_arguments_are_accepted(repo, writer):
    """Calls written with the original's parameter names: `Columns.get(name=)`,
    `Columns.delete(column=)`, a nested sample's `pop(key=)`,
    `reset_staging_area(force=)`."""
    nested = writer.add_ndarray_column("n", shape=(2,), dtype=np.int64, contains_subsamples=True)
    nested["s"] = {"a": np.array([1, 2]), "b": np.array([3, 4])}
    writer.add_str_column("gone")
    writer.commit("two columns")
    assert writer.columns.get(name="n") is not None and writer.columns.get(name="nope") is None
    assert writer.columns.delete(column="gone") == "gone" and "gone" not in writer.columns
    with pytest.raises(KeyError):
        writer.columns.delete(column="gone")
    np.testing.assert_array_equal(writer.columns["n"]["s"].pop(key="a"), [1, 2])
    assert list(writer.columns["n"]["s"].keys()) == ["b"]
    head = writer.commit_hash
    assert writer.reset_staging_area(force=True) == head
    assert "gone" in writer.columns and list(writer.columns["n"]["s"].keys()) == ["a", "b"]
    with pytest.raises(RuntimeError, match="no reset necessary"):  # clean, as the original
        writer.reset_staging_area()
    assert writer.reset_staging_area(force=True) == head
