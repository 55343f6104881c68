"""Reads columns of a repository through libhangar's Arrow C stream
(hangar_column_arrow_stream) with pyarrow, via ctypes: the batches arrive without
copying, with the canonical tensor extension types, keys and values intact.

Usage: python check_arrow_stream.py LIBHANGAR_SO REPO   (REPO: the every_kind example's)
"""
import ctypes
import sys

import numpy as np
import pyarrow as pa

lib = ctypes.CDLL(sys.argv[1])
repo_dir = sys.argv[2].encode()
P = ctypes.c_void_p
for name, args in {
    "hangar_repo_open": [ctypes.c_char_p, ctypes.POINTER(P)],
    "hangar_repo_checkout": [P, ctypes.c_char_p, ctypes.POINTER(P)],
    "hangar_reader_column": [P, ctypes.c_char_p, ctypes.POINTER(P)],
    "hangar_column_arrow_stream": [P, P],
    "hangar_last_error_message": [ctypes.c_char_p, ctypes.c_size_t, P],
}.items():
    getattr(lib, name).argtypes = args
    getattr(lib, name).restype = ctypes.c_int32
for name in ["hangar_repo_free", "hangar_reader_free", "hangar_column_free"]:
    getattr(lib, name).argtypes = [P]
    getattr(lib, name).restype = None


def check(status, what):
    if status != 0:
        msg = ctypes.create_string_buffer(1024)
        lib.hangar_last_error_message(msg, 1024, None)
        raise SystemExit(f"{what}: status {status}: {msg.value.decode()}")


class ArrowArrayStream(ctypes.Structure):
    _fields_ = [("get_schema", P), ("get_next", P), ("get_last_error", P), ("release", P), ("private_data", P)]


repo, reader = P(), P()
check(lib.hangar_repo_open(repo_dir, ctypes.byref(repo)), "open")
check(lib.hangar_repo_checkout(repo, None, ctypes.byref(reader)), "checkout")


def read(column):
    col = P()
    check(lib.hangar_reader_column(reader, column.encode(), ctypes.byref(col)), column)
    stream = ArrowArrayStream()
    check(lib.hangar_column_arrow_stream(col, ctypes.addressof(stream)), f"stream of {column}")
    lib.hangar_column_free(col)
    table = pa.RecordBatchReader._import_from_c(ctypes.addressof(stream)).read_all()
    assert stream.release is None, "pyarrow took ownership of the stream"
    return table


images = read("images")
assert images.column_names == ["key", "value"], images.column_names
assert images.schema.field("key").type == pa.int64()
value_type = images.schema.field("value").type
assert isinstance(value_type, pa.FixedShapeTensorType), value_type
assert list(value_type.shape) == [2, 3] and value_type.value_type == pa.uint8()
assert images.column("key").to_pylist() == [0, 1, 2, 3, 4]
arrays = images.column("value").combine_chunks().to_numpy_ndarray()
for i in range(5):
    np.testing.assert_array_equal(arrays[i], np.arange(i, i + 6, dtype=np.uint8).reshape(2, 3))

fields = read("fields")
assert fields.schema.field("value").type.extension_name == "arrow.variable_shape_tensor"
rows = fields.column("value").combine_chunks().storage.to_pylist()
assert [r["shape"] for r in rows] == [[1, i + 1] for i in range(5)], rows
assert rows[2]["data"] == [0.5, 1.5, 2.5]

captions = read("captions")
assert captions.column("value").to_pylist() == [f"caption {i} ✓" for i in range(5)]
blobs = read("blobs")
assert blobs.column("value").to_pylist() == [bytes([i, 0, 255]) for i in range(5)]

# The same kinds of column stored uncompressed (Arrow IPC segments) and compressed
# (Parquet segments): the stream gives the values the every_kind example wrote.
for suffix, salt in [("big", 0), ("zstd", 5), ("lz4", 10)]:
    vs = [i + salt for i in range(5)]
    imgs = read(f"images_{suffix}").column("value").combine_chunks().to_numpy_ndarray()
    for i, v in enumerate(vs):
        want = np.array([(v * 7 + j) % 256 for j in range(80)], dtype=np.uint8).reshape(8, 10)
        assert np.array_equal(imgs[i], want), (suffix, i)
    rows = read(f"fields_{suffix}").column("value").combine_chunks()
    rows = getattr(rows, "storage", rows).to_pylist()
    for i, v in enumerate(vs):
        n = 3 + i % 2
        assert rows[i]["shape"] == [n, 8], (suffix, rows[i]["shape"])
        assert rows[i]["data"] == [x * 0.25 + v for x in range(n * 8)], suffix
    caps = read(f"captions_{suffix}").column("value").to_pylist()
    assert caps == [f"caption {v} ✓ " + "long " * 14 for v in vs], suffix
    blobs = read(f"blobs_{suffix}").column("value").to_pylist()
    assert blobs == [bytes(j ^ v for j in range(70)) for v in vs], suffix

lib.hangar_reader_free(reader)
lib.hangar_repo_free(repo)
print("Arrow C stream: images (fixed_shape_tensor), fields (variable_shape_tensor), captions, blobs read by pyarrow, "
      "from Arrow IPC and from Parquet (zstd, lz4) segments")
