"""Batch writes (with the commit), reads and a PyTorch DataLoader epoch from Python, on 60,000 Fashion-MNIST
images (uint8 28x28) + labels, for one of: libhangar's package ("ours", which also
measures a DataLoader over the same data in one in-memory numpy array), the original
Hangar 0.5.2 ("original") or Lance and Deep Lake ("peers"). Prints one JSON line.
Run by benches/compare/python.sh, each in its own venv, in the same run.

    python python_loaders.py ours|original|peers DATA_DIR|random
"""
import gzip
import json
import os
import random
import shutil
import sys
import tempfile
import time

import numpy as np

N = int(os.environ.get("LOADER_N", "60000"))
SINGLE = int(os.environ.get("SINGLE_READS", "20000"))
BATCH_KEYS = 10_000
# Batch writes (libhangar, Lance, Deep Lake) are timed as the best of this many, each
# into a fresh directory: one write of 120,000 records takes ~0.1 s, and the first one a
# process makes pays for page faults and warm-up the others do not.
WRITE_ROUNDS = int(os.environ.get("WRITE_ROUNDS", "3"))


def load(source):
    if source == "random":
        rng = np.random.default_rng(7)
        return rng.integers(0, 256, size=(N, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=N).astype(np.int64)
    with gzip.open(os.path.join(source, "train-images-idx3-ubyte.gz"), "rb") as f:
        imgs = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)[:N].copy()
    with gzip.open(os.path.join(source, "train-labels-idx1-ubyte.gz"), "rb") as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)[:N].astype(np.int64)
    return imgs, labels


def best(rounds, f):
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def best_fresh(rounds, write):
    """Best time of `rounds` writes, each into a fresh directory made by `write(i)`
    (which returns its seconds and what it built); returns (seconds, last result)."""
    times, last = [], None
    for i in range(rounds):
        s, last = write(i)
        times.append(s)
    return min(times), last


def epoch_seconds(dataset, rounds=2):
    """Best of `rounds` epochs of a shuffled DataLoader, batch 256, 2 workers, workers
    started inside each timed epoch (as a training loop starts them)."""
    import torch
    from torch.utils.data import DataLoader

    torch.manual_seed(0)
    seen = []

    def run():
        n = 0
        for batch in DataLoader(dataset, batch_size=256, shuffle=True, num_workers=2):
            n += len(batch[0])
        seen.append(n)

    t = best(rounds, run)
    assert seen[-1] == len(dataset), (seen, len(dataset))
    return t


class InMemory:
    """The baseline: the same images and labels in two numpy arrays in memory."""

    def __init__(self, imgs, labels):
        self.imgs, self.labels = imgs, labels

    def __len__(self):
        return len(self.imgs)

    def __getitem__(self, i):
        import torch

        return torch.from_numpy(self.imgs[i]), torch.tensor(self.labels[i])


def hangar_repo(d, imgs, labels, batched):
    from hangar import Repository

    repo = Repository(path=d, exists=False)
    repo.init(user_name="bench", user_email="bench@example.com", remove_old=True)
    co = repo.checkout(write=True)
    ci = co.add_ndarray_column("images", prototype=imgs[0])
    cl = co.add_ndarray_column("labels", prototype=np.array([labels[0]]))
    t = time.perf_counter()
    if batched == "put_batch":
        ci.put_batch(np.arange(N), imgs)
        cl.put_batch(np.arange(N), labels.reshape(N, 1))
    elif batched == "update":
        ci.update({i: imgs[i] for i in range(N)})
        cl.update({i: labels[i : i + 1] for i in range(N)})
    else:
        with ci, cl:
            for i in range(N):
                ci[i] = imgs[i]
                cl[i] = labels[i : i + 1]
    co.commit("images")
    write_s = time.perf_counter() - t
    co.close()
    return repo, write_s


def ours(source):
    import hangar
    from hangar import make_torch_dataset

    imgs, labels = load(source)
    out = {"tool": f"libhangar {hangar.__version__}", "samples": N}
    d = tempfile.mkdtemp()

    def write(batched):
        def one(i):
            shutil.rmtree(d, ignore_errors=True)
            repo, s = hangar_repo(d, imgs, labels, batched=batched)
            return s, repo

        return one

    try:
        write_s, _ = best_fresh(WRITE_ROUNDS, write("update"))
        out["update_dict_records_per_s"] = 2 * N / write_s
        write_s, repo = best_fresh(WRITE_ROUNDS, write("put_batch"))
        out["batch_write_records_per_s"] = 2 * N / write_s
        co = repo.checkout()
        col = co.columns["images"]
        rng = random.Random(1)
        picks = [rng.randrange(N) for _ in range(SINGLE)]
        out["random_single_per_s"] = SINGLE / best(3, lambda: [col[k] for k in picks])
        keys = [rng.randrange(N) for _ in range(BATCH_KEYS)]
        out["batch_10k_s"] = best(5, lambda: col.get_batch(keys))
        assert np.array_equal(col.get_batch(keys[:3]), imgs[keys[:3]])
        ds = make_torch_dataset([co.columns["images"], co.columns["labels"]])
        out["epoch_s"] = epoch_seconds(ds)
        out["epoch_in_memory_s"] = epoch_seconds(InMemory(imgs, labels))
        co.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return out


def original(source):
    import warnings

    import hangar
    from hangar import make_torch_dataset

    warnings.simplefilter("ignore")
    imgs, labels = load(source)
    out = {"tool": f"hangar-py {hangar.__version__}", "samples": N}
    d = tempfile.mkdtemp()
    try:
        repo, write_s = hangar_repo(d, imgs, labels, batched=None)
        out["write_records_per_s"] = 2 * N / write_s
        co = repo.checkout()
        ds = make_torch_dataset([co.columns["images"], co.columns["labels"]])
        out["epoch_s"] = epoch_seconds(ds, rounds=1)
        co.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return out


def peers(source):
    import deeplake
    import lance
    import pyarrow as pa

    imgs, labels = load(source)
    out = {"tool": f"Lance {lance.__version__}, Deep Lake {deeplake.__version__}", "samples": N}
    rng = random.Random(1)
    picks = [rng.randrange(N) for _ in range(SINGLE // 10)]
    keys = [rng.randrange(N) for _ in range(BATCH_KEYS)]
    d = tempfile.mkdtemp()
    try:
        flat = pa.FixedSizeListArray.from_arrays(pa.array(imgs.reshape(-1)), 784)
        table = pa.table({"images": flat, "labels": pa.array(labels)})
        def lance_write(i):
            path = os.path.join(d, f"lance-{i}")
            t = time.perf_counter()
            lance.write_dataset(table, path, mode="create")
            return time.perf_counter() - t, path

        write_s, path = best_fresh(WRITE_ROUNDS, lance_write)
        out["lance_write_records_per_s"] = 2 * N / write_s
        ds = lance.dataset(path)
        out["lance_take_single_per_s"] = len(picks) / best(3, lambda: [ds.take([k], columns=["images"]) for k in picks])
        out["lance_take_10k_s"] = best(5, lambda: ds.take(keys, columns=["images"]))
        got = ds.take(keys[:3], columns=["images"]).column("images").to_numpy(zero_copy_only=False)
        assert np.array_equal(np.stack(got).reshape(3, 28, 28), imgs[keys[:3]])

        from peers import deeplake_ingest  # peers.py's Deep Lake write; its fsync is not timed here

        def deeplake_write(i):
            path = os.path.join(d, f"deeplake-{i}")
            return deeplake_ingest(path, imgs, labels)[0], path

        write_s, path = best_fresh(WRITE_ROUNDS, deeplake_write)
        out["deeplake_append_records_per_s"] = 2 * N / write_s
        ro = deeplake.open_read_only("file://" + path)
        col = ro["images"]
        out["deeplake_single_per_s"] = len(picks) / best(3, lambda: [col[k] for k in picks])
        out["deeplake_10k_s"] = best(5, lambda: col[keys])
        assert np.array_equal(np.asarray(col[keys[:3]]), imgs[keys[:3]])
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return out


if __name__ == "__main__":
    which, source = sys.argv[1], sys.argv[2]
    print(json.dumps({"ours": ours, "original": original, "peers": peers}[which](source)))
