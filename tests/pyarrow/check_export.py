"""Reads what `hangar export` wrote from the quickstart repository with the tools users
have (numpy, pyarrow) and checks that every format holds the same samples.

Usage: python check_export.py DIR
DIR holds images.npy (stacked), images.npz, images.parquet, images.arrow, images_png/,
labels.parquet and class_names.parquet, exported from `hangar quickstart`'s master.
Exits 1 on any difference.
"""
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

d = sys.argv[1]
failures = 0


def check(cond, what):
    global failures
    print(("ok    " if cond else "FAIL  ") + what)
    failures += 0 if cond else 1


stacked = np.load(os.path.join(d, "images.npy"))
check(stacked.shape == (2000, 28, 28) and stacked.dtype == np.uint8, f"images.npy is uint8 (2000, 28, 28): {stacked.shape} {stacked.dtype}")

npz = np.load(os.path.join(d, "images.npz"))
check(len(npz.files) == 2000, "images.npz has 2000 members")
check(all(np.array_equal(npz[str(i)], stacked[i]) for i in (0, 1, 999, 1999)), "images.npz members equal the stacked rows")

for name, table in [
    ("images.parquet", pq.read_table(os.path.join(d, "images.parquet"))),
    ("images.arrow", ipc.open_file(os.path.join(d, "images.arrow")).read_all()),
]:
    value = table.column("value").combine_chunks()
    check(isinstance(value.type, pa.FixedShapeTensorType), f"{name}: value is a fixed_shape_tensor ({value.type})")
    check(list(value.type.shape) == [28, 28], f"{name}: tensor shape [28, 28]")
    check(table.column("key").type == pa.int64(), f"{name}: integer keys")
    keys = table.column("key").to_numpy()
    check(np.array_equal(keys, np.arange(2000)), f"{name}: keys 0..1999 in order")
    check(np.array_equal(value.to_numpy_ndarray(), stacked), f"{name}: values equal images.npy")

labels = pq.read_table(os.path.join(d, "labels.parquet")).column("value").combine_chunks()
check(isinstance(labels.type, pa.FixedShapeTensorType) and labels.type.value_type == pa.int64(), f"labels.parquet: int64 tensors ({labels.type})")
check(int(labels.to_numpy_ndarray()[0, 0]) == 9, "labels.parquet: the first label is 9 (ankle boot)")

names = pq.read_table(os.path.join(d, "class_names.parquet"))
check(names.column("value").to_pylist()[9] == "Ankle boot", "class_names.parquet: strings")

pngs = sorted(os.listdir(os.path.join(d, "images_png")))
check(len(pngs) == 2000 and "0.png" in pngs, "images_png: 2000 PNG files")
with open(os.path.join(d, "images_png", "0.png"), "rb") as f:
    check(f.read(8) == b"\x89PNG\r\n\x1a\n", "images_png/0.png is a PNG")

print(f"{failures} failed")
sys.exit(1 if failures else 0)
