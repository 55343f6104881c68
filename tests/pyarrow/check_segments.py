"""Opens every sealed segment of a repository with pyarrow and checks that it reads as a
meaningful Arrow file: column names, canonical extension types, values, checksums.
Parquet segments (compressed columns) are read the same way with pyarrow.parquet, and
each is also queried with DuckDB and Polars (same rows, same digests, same values).

Usage: python check_segments.py REPO/.hangar   (the repository made by the every_kind example)
Prints one line per segment and "N passed, 0 failed"; exits 1 on any failure.
"""
import json
import os
import sys
import zlib

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

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
        parquet = name.endswith(".parquet")
        if parquet:
            table = pq.read_table(path)
        else:
            with ipc.open_file(path) as reader:
                table = reader.read_all()
        schema = table.schema
        check(schema.names == ["digest", "crc32", "value"], f"column names {schema.names}")
        check(schema.field("digest").type == pa.binary(32), f"digest type {schema.field('digest').type}")
        check(schema.field("crc32").type == pa.uint32(), f"crc32 type {schema.field('crc32').type}")
        fmt = json.loads(schema.metadata[b"hangar.segment_format"])
        kinds_seen.add(fmt["kind"] + (".parquet" if parquet else ""))
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
            if parquet:
                # pyarrow has no variable-shape tensor type: from IPC it keeps the
                # extension as an unknown one, from Parquet it gives the storage struct.
                storage = values
                check(pa.types.is_struct(value.type)
                      and [f.name for f in value.type] == ["data", "shape"], f"value type {value.type}")
            else:
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
        if parquet:
            check(schema.metadata[b"hangar.compression"] in (b"zstd:1", b"zstd:3", b"lz4"), "compression recorded")
            # DuckDB and Polars read the same file: the same digests in the same order,
            # and the values' bytes (flattened lists) equal pyarrow's.
            digests = [bytes(d) for d in table.column("digest").to_pylist()]
            rows = duckdb.sql(f"SELECT digest, crc32 FROM read_parquet('{path}')").fetchall()
            check([bytes(r[0]) for r in rows] == digests, "DuckDB reads the digests")
            check([r[1] for r in rows] == crcs, "DuckDB reads the checksums")
            frame = pl.read_parquet(path)
            check(frame.columns == ["digest", "crc32", "value"], f"Polars columns {frame.columns}")
            check([bytes(d) for d in frame["digest"].to_list()] == digests, "Polars reads the digests")
            if fmt["kind"] in ("str", "bytes"):
                got = [v.encode() if isinstance(v, str) else bytes(v) for v in frame["value"].to_list()]
                check(got == raw, "Polars reads the values")
            elif fmt["kind"] == "fixed_shape_tensor" and fmt["dtype"] not in ("bool", "float16"):
                flat = frame["value"].to_numpy().reshape(len(raw), -1)
                check([a.tobytes() for a in flat] == raw, "Polars reads the tensors")
        print(f"ok   {name}: {fmt['kind']} {fmt.get('dtype', '')} {table.num_rows} rows, value type {value.type}")
        passed += 1
    except Exception as e:  # noqa: BLE001 - report and count every failure
        print(f"FAIL {name}: {e}")
        failed += 1

for kind in ["fixed_shape_tensor", "variable_shape_tensor", "str", "bytes"]:
    if kind not in kinds_seen or kind + ".parquet" not in kinds_seen:
        print(f"FAIL no {kind} segment found")
        failed += 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
