"""The bulk importer (`hangar.bulk_importer.run_bulk_import`) on the seed workload — the
60,000 Fashion-MNIST training images and their labels, read by the UDF from .npy files,
100 samples per call — run on libhangar's Python package or on the original Hangar
(its bulk importer exists after 0.5.2 only: hangar-py's HEAD), printing JSON.

    python hangar_py_bulk.py N SOURCE NCPUS [PER_CALL]
"""
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np
from hangar import Repository
from hangar.bulk_importer import UDF_Return, run_bulk_import

from hangar_py_seed import du, load as load_seed


def load(images, labels, start, stop):
    imgs = np.load(images, mmap_mode="r")
    labs = np.load(labels, mmap_mode="r")
    for i in range(start, stop):
        yield UDF_Return(column="images", key=i, data=np.array(imgs[i]))
        yield UDF_Return(column="labels", key=i, data=np.array(labs[i : i + 1]))


def main():
    n, source, ncpus = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    per = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    imgs, labels = load_seed(n, source)
    import hangar

    tool = "libhangar " if hasattr(hangar, "MergeConflictError") else "hangar-py "
    d = tempfile.mkdtemp()
    try:
        images, labs = os.path.join(d, "images.npy"), os.path.join(d, "labels.npy")
        np.save(images, imgs)
        np.save(labs, labels)
        os.makedirs(os.path.join(d, "repo"))  # the original wants it to exist
        repo = Repository(path=os.path.join(d, "repo"), exists=False)
        repo.init(user_name="bench", user_email="bench@example.com", remove_old=True)
        co = repo.checkout(write=True)
        co.add_ndarray_column("images", prototype=imgs[0])
        co.add_ndarray_column("labels", prototype=np.array([labels[0]]))
        co.commit("columns")
        co.close()
        kwargs = [dict(images=images, labels=labs, start=s, stop=min(n, s + per)) for s in range(0, n, per)]
        t = time.perf_counter()
        run_bulk_import(repo, "master", ["images", "labels"], load, kwargs, ncpus=ncpus)
        secs = time.perf_counter() - t
        rd = repo.checkout()
        assert len(rd["images"]) == n and np.array_equal(rd["images"][n - 1], imgs[n - 1])
        rd.close()
        out = {"tool": tool + hangar.__version__, "samples": n, "ncpus": ncpus, "per_call": per,
               "seconds": secs, "records_per_s": 2 * n / secs,
               "disk_bytes": du(os.path.join(d, "repo", ".hangar"))}
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
