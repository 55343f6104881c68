"""The seed workload through the original Hangar 0.5.2 — or through libhangar's Python
package, whose API is the original's: the same script runs on both — printing JSON.

50,000 images of 784 uint8 + 50,000 int64 labels (100,000 records):
per-sample insert in the context-manager (fast) form and in the plain form (on a
subset, it is slow), commit, random single-sample reads, full scan, size on disk.
Run by benches/compare/run.sh inside a virtual environment with hangar==0.5.2.
"""
import json
import os
import random
import shutil
import sys
import tempfile
import time

import numpy as np
from hangar import Repository


def load(n, source):
    if source == "random":
        rng = np.random.default_rng(7)
        return rng.integers(0, 256, size=(n, 784), dtype=np.uint8), rng.integers(0, 10, size=n).astype(np.int64)
    import gzip
    with gzip.open(os.path.join(source, "train-images-idx3-ubyte.gz"), "rb") as f:
        imgs = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 784)[:n]
    with gzip.open(os.path.join(source, "train-labels-idx1-ubyte.gz"), "rb") as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)[:n].astype(np.int64)
    return imgs, labels


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    source = sys.argv[2] if len(sys.argv) > 2 else "random"
    plain_n = min(n, int(os.environ.get("PLAIN_N", "2000")))
    reads = int(os.environ.get("READS", "5000"))
    imgs, labels = load(n, source)
    import hangar

    tool = "libhangar " if hasattr(hangar, "make_torch_dataset") and hasattr(hangar, "MergeConflictError") else "hangar-py "
    out = {"tool": tool + hangar.__version__, "samples": n, "records": 2 * n, "data": source}
    d = tempfile.mkdtemp()
    try:
        repo = Repository(path=d, exists=False)
        repo.init(user_name="bench", user_email="bench@example.com", remove_old=True)
        co = repo.checkout(write=True)
        ci = co.add_ndarray_column("train_images", prototype=imgs[0])
        cl = co.add_ndarray_column("train_labels", prototype=np.array([labels[0]]))
        t = time.perf_counter()
        with ci, cl:
            for i in range(n):
                ci[str(i)] = imgs[i]
                cl[str(i)] = np.array([labels[i]])
        out["insert_cm_records_per_s"] = 2 * n / (time.perf_counter() - t)
        pi = co.add_ndarray_column("plain_images", prototype=imgs[0])
        pl = co.add_ndarray_column("plain_labels", prototype=np.array([labels[0]]))
        t = time.perf_counter()
        for i in range(plain_n):
            pi[str(i)] = imgs[i]
            pl[str(i)] = np.array([labels[i]])
        out["insert_plain_records_per_s"] = 2 * plain_n / (time.perf_counter() - t)
        t = time.perf_counter()
        co.commit("seed workload")
        out["commit_s"] = time.perf_counter() - t
        co.close()
        out["disk_bytes"] = du(os.path.join(d, ".hangar"))
        rd = repo.checkout()
        ri = rd.columns["train_images"]
        keys = [str(random.Random(1).randrange(n)) for _ in range(reads)]
        t = time.perf_counter()
        with ri:
            for k in keys:
                ri[k]
        out["random_read_cm_per_s"] = reads / (time.perf_counter() - t)
        t = time.perf_counter()
        for k in keys[: reads // 5]:
            ri[k]
        out["random_read_plain_per_s"] = (reads // 5) / (time.perf_counter() - t)
        t = time.perf_counter()
        with ri:
            for k in ri.keys():
                ri[k]
        out["full_scan_per_s"] = n / (time.perf_counter() - t)
        rd.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
