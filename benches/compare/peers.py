"""libhangar side by side with Lance and Deep Lake on the seed workload, in one run.

50,000 Fashion-MNIST images u8[28,28] + their int64 labels (100,000 records), or random
bytes of the same shape. Every figure is the best of ROUNDS runs, and every ratio is
taken between figures of this run (this VM's wall clock swings by up to 1.5x between
runs, and by as much within one over a few minutes, so only same-run ratios mean
anything). The ingest rounds are interleaved: each round runs every contender once,
one after the other, so the best of each comes from the same stretch of time.

Ingest, all durable on disk (fsynced) when the clock stops; each writes a fresh
directory, the previous round's deleted first:
  - libhangar through the Rust bulk path and the physical limit: the seed binary
    (--seed) run with `--phase buffer --commit` and `--phase limit`, each timing its
    second run (`--warm`): a fresh process pays this VM's first touch of every page it
    allocates, which the long-lived Python process of the C ABI figure paid once;
  - libhangar through the C ABI: hangar_column_put_batch of the images and the labels,
    then hangar_writer_commit (ctypes; two calls per column, so no per-call overhead),
    keyed by str(i) as the tutorial and the Rust bulk path key them;
  - libhangar through the CLI: hangar import of the images .npy and of the labels .npy,
    then hangar commit;
  - Lance: lance.write_dataset of one table (images as FixedSizeList<uint8>[784]), then
    an fsync of every file it wrote (Lance does not fsync);
  - Deep Lake 4: create, one append of both columns, commit, then an fsync likewise.
Full scan into Arrow: libhangar's Arrow C stream (hangar_column_arrow_stream) read by
pyarrow against Lance to_table of the image column.
Random reads: RANDOM_READS single samples by random key.

Usage: peers.py --seed SEED_BIN --lib LIBHANGAR_SO --hangar HANGAR_BIN --scratch DIR
                [--data fashion|random] [--n 50000] [--rounds 3] [--json OUT]
"""
import argparse
import ctypes
import gzip
import json
import os
import random
import re
import shutil
import subprocess
import time

import numpy as np
import pyarrow as pa

FASHION = "/usr/share/datasets/fashion-mnist"


def data_source(data):
    """`auto` as the data to use: Fashion-MNIST when installed, else random."""
    if data != "auto":
        return data
    return "fashion" if os.path.exists(os.path.join(FASHION, "train-images-idx3-ubyte.gz")) else "random"


def load(n, source):
    if source == "random":
        rng = np.random.default_rng(7)
        imgs = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        return imgs, rng.integers(0, 10, size=n).astype(np.int64)
    with gzip.open(os.path.join(FASHION, "train-images-idx3-ubyte.gz"), "rb") as f:
        imgs = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)[:n]
    with gzip.open(os.path.join(FASHION, "train-labels-idx1-ubyte.gz"), "rb") as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)[:n].astype(np.int64)
    return np.ascontiguousarray(imgs), labels


def fsync_tree(path):
    """fsync every file under `path` and every directory: what a durable write costs."""
    for root, dirs, files in os.walk(path):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
        fd = os.open(root, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)


def du(path):
    return sum(
        os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs
    )


def best(rounds, f):
    times = []
    for _ in range(rounds):
        times.append(f())
    return min(times)


def fresh(path):
    shutil.rmtree(path, ignore_errors=True)
    return path


# --- libhangar through ctypes -------------------------------------------------------

P = ctypes.c_void_p


class Key(ctypes.Structure):
    _fields_ = [("text", ctypes.c_char_p), ("number", ctypes.c_uint64)]


class ArrowArrayStream(ctypes.Structure):
    _fields_ = [("get_schema", P), ("get_next", P), ("get_last_error", P), ("release", P),
                ("private_data", P)]


class Hangar:
    def __init__(self, so):
        self.lib = lib = ctypes.CDLL(so)
        sz = ctypes.c_size_t
        for name, args in {
            "hangar_repo_init": [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_bool,
                                 ctypes.POINTER(P)],
            "hangar_repo_open": [ctypes.c_char_p, ctypes.POINTER(P)],
            "hangar_repo_checkout_writer": [P, ctypes.c_char_p, ctypes.POINTER(P)],
            "hangar_repo_checkout": [P, ctypes.c_char_p, ctypes.POINTER(P)],
            "hangar_ndarray_spec_new": [ctypes.c_int32, ctypes.POINTER(sz), sz, ctypes.POINTER(P)],
            "hangar_writer_add_ndarray_column": [P, ctypes.c_char_p, P, ctypes.POINTER(P)],
            "hangar_column_put_batch": [P, ctypes.POINTER(Key), sz, P, sz, ctypes.c_int32,
                                        ctypes.POINTER(sz), sz],
            "hangar_writer_commit": [P, ctypes.c_char_p, ctypes.c_char_p, sz],
            "hangar_reader_column": [P, ctypes.c_char_p, ctypes.POINTER(P)],
            "hangar_column_arrow_stream": [P, P],
            "hangar_column_get": [P, Key, ctypes.POINTER(Key), P, sz, ctypes.POINTER(sz)],
            "hangar_last_error_message": [ctypes.c_char_p, sz, P],
        }.items():
            getattr(lib, name).argtypes = args
            getattr(lib, name).restype = ctypes.c_int32
        for name in ["hangar_repo_free", "hangar_writer_free", "hangar_reader_free",
                     "hangar_column_free", "hangar_ndarray_spec_free"]:
            getattr(lib, name).argtypes = [P]
            getattr(lib, name).restype = None
        self.U8, self.I64 = 2, 9  # hangar.h dtype codes

    def check(self, status, what):
        if status != 0:
            msg = ctypes.create_string_buffer(1024)
            self.lib.hangar_last_error_message(msg, 1024, None)
            raise SystemExit(f"{what}: status {status}: {msg.value.decode()}")

    def ingest(self, path, imgs, labels):
        """put_batch of both columns + commit; seconds."""
        lib, n = self.lib, len(imgs)
        # The tutorial's keys: str(i), as the seed binary's Rust bulk path has them.
        keys = (Key * n)(*[Key(str(i).encode(), 0) for i in range(n)])
        t = time.perf_counter()
        repo, w = P(), P()
        self.check(lib.hangar_repo_init(path.encode(), b"bench", b"b@example.com", True,
                                        ctypes.byref(repo)), "init")
        self.check(lib.hangar_repo_checkout_writer(repo, None, ctypes.byref(w)), "writer")
        for name, arr, dtype, shape in [("images", imgs, self.U8, [28, 28]),
                                        ("labels", labels.reshape(n, 1), self.I64, [1])]:
            dims = (ctypes.c_size_t * len(shape))(*shape)
            spec, col = P(), P()
            self.check(lib.hangar_ndarray_spec_new(dtype, dims, len(shape), ctypes.byref(spec)),
                       "spec")
            self.check(lib.hangar_writer_add_ndarray_column(w, name.encode(), spec,
                                                            ctypes.byref(col)), name)
            lib.hangar_ndarray_spec_free(spec)
            self.check(lib.hangar_column_put_batch(col, keys, n, arr.ctypes.data, arr.nbytes,
                                                   dtype, dims, len(shape)), f"put_batch {name}")
            lib.hangar_column_free(col)
        self.check(lib.hangar_writer_commit(w, b"ingest", None, 0), "commit")
        s = time.perf_counter() - t
        lib.hangar_writer_free(w)
        lib.hangar_repo_free(repo)
        return s

    def open_column(self, path, column):
        repo, reader, col = P(), P(), P()
        self.check(self.lib.hangar_repo_open(path.encode(), ctypes.byref(repo)), "open")
        self.check(self.lib.hangar_repo_checkout(repo, None, ctypes.byref(reader)), "checkout")
        self.check(self.lib.hangar_reader_column(reader, column.encode(), ctypes.byref(col)),
                   column)
        return repo, reader, col

    def close(self, repo, reader, col):
        self.lib.hangar_column_free(col)
        self.lib.hangar_reader_free(reader)
        self.lib.hangar_repo_free(repo)

    def scan(self, col):
        """The whole column through the Arrow C stream into a pyarrow table."""
        stream = ArrowArrayStream()
        self.check(self.lib.hangar_column_arrow_stream(col, ctypes.addressof(stream)), "stream")
        return pa.RecordBatchReader._import_from_c(ctypes.addressof(stream)).read_all()

    def random_reads(self, col, picks):
        buf = ctypes.create_string_buffer(784)
        get = self.lib.hangar_column_get
        keys = [Key(str(i).encode(), 0) for i in picks]
        t = time.perf_counter()
        for i, k in zip(picks, keys):
            if get(col, k, None, buf, 784, None) != 0:
                self.check(1, f"get {i}")
        return time.perf_counter() - t


# --- the peers ----------------------------------------------------------------------

def lance_ingest(path, imgs, labels):
    import lance
    n = len(imgs)
    t = time.perf_counter()
    table = pa.table({
        "image": pa.FixedSizeListArray.from_arrays(pa.array(imgs.reshape(-1)), 784),
        "label": pa.array(labels),
    })
    lance.write_dataset(table, path, mode="create")
    written = time.perf_counter() - t
    fsync_tree(path)
    assert lance.dataset(path).count_rows() == n
    return written, time.perf_counter() - t


def deeplake_ingest(path, imgs, labels):
    import deeplake
    t = time.perf_counter()
    ds = deeplake.create("file://" + path)
    ds.add_column("images", deeplake.types.Array(deeplake.types.UInt8(), shape=[28, 28]))
    ds.add_column("labels", deeplake.types.Int64())
    ds.append({"images": imgs, "labels": labels})
    ds.commit()
    written = time.perf_counter() - t
    fsync_tree(path)
    return written, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--hangar", required=True)
    ap.add_argument("--scratch", required=True)
    ap.add_argument("--data", default="auto")
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reads", type=int, default=10_000)
    ap.add_argument("--json")
    a = ap.parse_args()
    import deeplake
    import lance

    data = data_source(a.data)
    imgs, labels = load(a.n, data)
    n, records = len(imgs), 2 * len(imgs)
    raw = imgs.nbytes + labels.nbytes
    os.makedirs(a.scratch, exist_ok=True)
    h = Hangar(a.lib)
    fig = {}

    # Ingest: ROUNDS rounds, each running every contender once.
    npy = os.path.join(a.scratch, "npy")
    os.makedirs(npy, exist_ok=True)
    np.save(os.path.join(npy, "images.npy"), imgs)
    np.save(os.path.join(npy, "labels.npy"), labels.reshape(n, 1))
    # Both arrays in one .npz: one `hangar import --by-name ... -m` stages and commits
    # them in one process (the form for a whole dataset in one file).
    np.savez(os.path.join(npy, "seed.npz"), images=imgs, labels=labels.reshape(n, 1))

    def seed(*phase):
        """Seconds of one seed-binary phase (it times itself, data loading left out)."""
        where = fresh(os.path.join(a.scratch, "seed-phase"))
        out = subprocess.run([a.seed, "--data", data, "--n", str(n), "--dir", where,
                              "--warm", "--phase", *phase],
                             check=True, capture_output=True, text=True).stdout
        return float(re.search(r"\(([0-9.]+) s\)", out.strip().splitlines()[-1]).group(1))

    def cli(name, *commands):
        """Seconds the `hangar` commands take on a fresh repository (after its init)."""
        repo = fresh(os.path.join(a.scratch, name))
        os.makedirs(repo)
        run = lambda *args: subprocess.run([a.hangar, "-C", repo, *args], check=True,
                                           stdout=subprocess.DEVNULL)
        run("init", "--name", "bench", "--email", "b@example.com")
        t = time.perf_counter()
        for c in commands:
            run(*c)
        return time.perf_counter() - t

    lance_path = os.path.join(a.scratch, "lance")
    dl_path = os.path.join(a.scratch, "deeplake")
    contenders = {
        "limit_s": lambda: seed("limit"),
        "rust_bulk_s": lambda: seed("buffer", "--commit"),
        "c_abi_s": lambda: h.ingest(fresh(os.path.join(a.scratch, "c")), imgs, labels),
        "cli_s": lambda: cli(
            "cli",
            ("import", "images", os.path.join(npy, "images.npy"), "--create", "-q"),
            ("import", "labels", os.path.join(npy, "labels.npy"), "--create", "-q"),
            ("commit", "-m", "ingest", "-q")),
        "cli_one_s": lambda: cli(
            "cli1",
            ("import", "--by-name", os.path.join(npy, "seed.npz"), "--create", "-m",
             "ingest", "-q")),
        "lance": lambda: lance_ingest(fresh(lance_path), imgs, labels),
        "deeplake": lambda: deeplake_ingest(fresh(dl_path), imgs, labels),
    }
    runs = {k: [] for k in contenders}
    for _ in range(a.rounds):
        for k, f in contenders.items():
            runs[k].append(f())
    for k in ("limit_s", "rust_bulk_s", "c_abi_s", "cli_s", "cli_one_s"):
        fig[k] = min(runs[k])
    fig["lance_write_s"] = min(r[0] for r in runs["lance"])
    fig["lance_write_fsync_s"] = min(r[1] for r in runs["lance"])
    fig["deeplake_commit_s"] = min(r[0] for r in runs["deeplake"])
    fig["deeplake_commit_fsync_s"] = min(r[1] for r in runs["deeplake"])
    fig["disk_ours_over_raw"] = du(os.path.join(a.scratch, "c", ".hangar")) / raw
    fig["disk_lance_over_raw"] = du(lance_path) / raw
    fig["disk_deeplake_over_raw"] = du(dl_path) / raw

    # Full scan into Arrow, and random single-sample reads.
    ours_repo = os.path.join(a.scratch, "c")
    handles = h.open_column(ours_repo, "images")
    table = h.scan(handles[2])
    assert table.num_rows == n, table.num_rows
    fig["scan_ours_s"] = best(a.rounds, lambda: timed(lambda: h.scan(handles[2])))
    ds = lance.dataset(lance_path)
    assert ds.to_table(columns=["image"]).num_rows == n
    fig["scan_lance_s"] = best(a.rounds, lambda: timed(lambda: ds.to_table(columns=["image"])))
    rng = random.Random(42)
    picks = [rng.randrange(n) for _ in range(a.reads)]
    fig["get_ours_per_s"] = a.reads / best(a.rounds, lambda: h.random_reads(handles[2], picks))
    fig["get_lance_take_per_s"] = a.reads / best(
        a.rounds, lambda: timed(lambda: [ds.take([i], columns=["image"]) for i in picks]))
    dl = deeplake.open_read_only("file://" + dl_path)
    col = dl["images"]
    fig["get_deeplake_per_s"] = a.reads / best(
        a.rounds, lambda: timed(lambda: [col[i] for i in picks]))
    h.close(*handles)

    # Report.
    rate = lambda s: f"{records / s / 1e3:8.0f} k records/s"
    print(f"seed workload: {n} images u8[28,28] + {n} labels i64 = {records} records, "
          f"data {data}, best of {a.rounds}; Lance {lance.__version__}, "
          f"Deep Lake {deeplake.__version__}")
    rows = [
        ("physical limit (BLAKE3 + write + fsync)", fig["limit_s"]),
        ("libhangar Rust bulk path, committed", fig["rust_bulk_s"]),
        ("libhangar C ABI put_batch + commit", fig["c_abi_s"]),
        ("libhangar CLI import x2 + commit", fig["cli_s"]),
        ("libhangar CLI import --by-name .npz -m", fig["cli_one_s"]),
        ("Lance write_dataset", fig["lance_write_s"]),
        ("Lance write_dataset + fsync", fig["lance_write_fsync_s"]),
        ("Deep Lake append + commit", fig["deeplake_commit_s"]),
        ("Deep Lake append + commit + fsync", fig["deeplake_commit_fsync_s"]),
    ]
    print("\ningest (lower time is better)")
    for label, s in rows:
        print(f"  {label:<44} {s * 1e3:9.1f} ms {rate(s)}")
    r = fig["rust_bulk_s"]
    print("\nratios (time / time; below 1 means faster)")
    ratios = {
        "rust_bulk_over_limit": r / fig["limit_s"],
        "c_abi_over_rust_bulk": fig["c_abi_s"] / r,
        "cli_over_rust_bulk": fig["cli_s"] / r,
        "cli_one_over_rust_bulk": fig["cli_one_s"] / r,
        "rust_bulk_over_lance_fsync": r / fig["lance_write_fsync_s"],
        "c_abi_over_lance_fsync": fig["c_abi_s"] / fig["lance_write_fsync_s"],
        "cli_over_lance_fsync": fig["cli_s"] / fig["lance_write_fsync_s"],
        "cli_one_over_lance_fsync": fig["cli_one_s"] / fig["lance_write_fsync_s"],
        "rust_bulk_over_deeplake_fsync": r / fig["deeplake_commit_fsync_s"],
        "c_abi_over_deeplake_fsync": fig["c_abi_s"] / fig["deeplake_commit_fsync_s"],
        "cli_over_deeplake_fsync": fig["cli_s"] / fig["deeplake_commit_fsync_s"],
        "cli_one_over_deeplake_fsync": fig["cli_one_s"] / fig["deeplake_commit_fsync_s"],
        "scan_lance_over_ours": fig["scan_lance_s"] / fig["scan_ours_s"],
        "get_ours_over_lance_take": fig["get_ours_per_s"] / fig["get_lance_take_per_s"],
        "get_ours_over_deeplake": fig["get_ours_per_s"] / fig["get_deeplake_per_s"],
    }
    for k, v in ratios.items():
        print(f"  {k:<44} {v:7.2f}")
    print("\nsize on disk / raw bytes: "
          f"libhangar {fig['disk_ours_over_raw']:.3f}, Lance {fig['disk_lance_over_raw']:.3f}, "
          f"Deep Lake {fig['disk_deeplake_over_raw']:.3f}")
    print(f"full scan into Arrow: libhangar C stream {fig['scan_ours_s'] * 1e3:.1f} ms, "
          f"Lance to_table {fig['scan_lance_s'] * 1e3:.1f} ms")
    print(f"random single-sample reads: libhangar {fig['get_ours_per_s'] / 1e3:.0f} k/s, "
          f"Lance take {fig['get_lance_take_per_s'] / 1e3:.1f} k/s, "
          f"Deep Lake {fig['get_deeplake_per_s'] / 1e3:.1f} k/s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"data": data, "samples": n, "figures": fig, "ratios": ratios}, f, indent=1)


def timed(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
