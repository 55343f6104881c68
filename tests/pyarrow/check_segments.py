"""Opens every sealed segment of a repository with pyarrow and checks that it reads as a
meaningful Arrow file: column names, canonical extension types, values, checksums.

Usage: python check_segments.py REPO/.hangar   (the repository made by the every_kind example)
Prints one line per segment and "N passed, 0 failed"; exits 1 on any failure.
"""
import json
import os
import sys
import zlib

import pyarrow as pa
import pyarrow.ipc as ipc

hangar = sys.argv[1]
seg_dir = os.path.join(hangar, "segments")
passed = failed = 0
kinds_seen = set()


def check(cond, what):
    if not cond:
        raise AssertionError(what)


for name in sorted(os.listdir(seg_dir)):
    path = os.path.join(seg_dir, name)
    try:
        with ipc.open_file(path) as reader:
            table = reader.read_all()
        schema = table.schema
        check(schema.names == ["digest", "crc32", "value"], f"column names {schema.names}")
        check(schema.field("digest").type == pa.binary(32), f"digest type {schema.field('digest').type}")
        check(schema.field("crc32").type == pa.uint32(), f"crc32 type {schema.field('crc32').type}")
        fmt = json.loads(schema.metadata[b"hangar.segment_format"])
        kinds_seen.add(fmt["kind"])
        value = schema.field("value")
        values = table.column("value").combine_chunks()
        if fmt["kind"] == "fixed_shape_tensor":
            check(isinstance(value.type, pa.FixedShapeTensorType), f"value type {value.type}")
            check(list(value.type.shape) == fmt["shape"], f"shape {value.type.shape} != {fmt['shape']}")
            arrays = values.to_numpy_ndarray()
            check(arrays.shape[1:] == tuple(fmt["shape"]), f"ndarray shape {arrays.shape}")
            raw = [a.tobytes() for a in arrays]
            if fmt["dtype"] == "bool":
                check(set(arrays.ravel().tolist()) <= {0, 1}, "bool elements are 0 or 1")
        elif fmt["kind"] == "variable_shape_tensor":
            storage = values.storage
            check(isinstance(value.type, pa.BaseExtensionType)
                  and value.type.extension_name == "arrow.variable_shape_tensor", f"value type {value.type}")
            raw = []
            for row in storage.to_pylist():
                data, shape = row["data"], row["shape"]
                n = 1
                for d in shape:
                    n *= d
                check(len(data) == n, f"{len(data)} elements for shape {shape}")
                item = storage.type.field("data").type.value_type
                raw.append(pa.array(data, type=item).buffers()[1].to_pybytes()[: n * item.bit_width // 8])
        elif fmt["kind"] == "str":
            check(value.type == pa.string(), f"value type {value.type}")
            raw = [s.encode() for s in values.to_pylist()]
            check(all("✓" in s for s in values.to_pylist()), "captions survive")
        else:
            check(value.type == pa.binary(), f"value type {value.type}")
            raw = values.to_pylist()
        crcs = table.column("crc32").to_pylist()
        for r, c in zip(raw, crcs):
            check(zlib.crc32(r) == c, "crc32 column matches the value bytes")
        if fmt["kind"].endswith("tensor"):
            check((value.metadata or {}).get(b"hangar.dtype") == fmt["dtype"].encode(), f"hangar.dtype of {value.metadata}")
        print(f"ok   {name}: {fmt['kind']} {fmt.get('dtype', '')} {table.num_rows} rows, value type {value.type}")
        passed += 1
    except Exception as e:  # noqa: BLE001 - report and count every failure
        print(f"FAIL {name}: {e}")
        failed += 1

for kind in ["fixed_shape_tensor", "variable_shape_tensor", "str", "bytes"]:
    if kind not in kinds_seen:
        print(f"FAIL no {kind} segment found")
        failed += 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
