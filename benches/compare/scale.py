"""N samples of u8[B] (one .npy; B = 64 by default): `hangar import` + `hangar commit`
(and the same as one `hangar import -m`) against Lance
`write_dataset` + an fsync of its files, in one run. Prints time, peak RSS of each
process, size on disk, the time `hangar status` takes to open the staged import, the time
and peak RSS of `hangar diff --staged` over it, and
the ratios (every figure from this run: this VM's wall clock
swings by up to 1.5x between runs, so only same-run ratios mean anything).

Values of at most 64 bytes live in their records; `--bytes 100` (any B over 64) measures
the other path: values in segments, each with its index entry, and the writer's map of
staged values.

Each side runs in its own process (peak RSS from wait4), on the same .npy, written
once before the clock starts and read from the page cache by both.

Usage: scale.py --hangar HANGAR_BIN --scratch DIR [--n 1000000,10000000] [--bytes 64]
                [--json OUT]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time


LANCE = r"""
import os, sys, time
import numpy as np, pyarrow as pa, lance
src, out = sys.argv[1], sys.argv[2]
x = np.load(src, mmap_mode="r")
t = time.perf_counter()
arr = pa.FixedSizeListArray.from_arrays(pa.array(np.asarray(x).reshape(-1)), x.shape[1])
lance.write_dataset(pa.table({"x": arr}), out)
for root, dirs, files in os.walk(out):
    for n in files:
        fd = os.open(os.path.join(root, n), os.O_RDONLY); os.fsync(fd); os.close(fd)
    fd = os.open(root, os.O_RDONLY); os.fsync(fd); os.close(fd)
print(time.perf_counter() - t)
"""

GEN = r"""
import sys
import numpy as np
np.save(sys.argv[1], np.random.default_rng(1).integers(0, 256, size=(int(sys.argv[2]), int(sys.argv[3])), dtype=np.uint8))
"""


def run(cmd, cwd=None):
    """Runs `cmd`; returns (seconds, peak RSS in bytes, stdout)."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    secs = time.perf_counter() - t
    out, err = p.stdout.read().decode(), p.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{cmd[0]} failed: {err}")
    return secs, usage.ru_maxrss * 1024, out


def du(path):
    return sum(
        os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hangar", required=True)
    ap.add_argument("--scratch", required=True)
    ap.add_argument("--n", default="1000000,10000000")
    ap.add_argument("--bytes", type=int, default=64, help="bytes per sample (u8[B])")
    ap.add_argument("--json")
    a = ap.parse_args()
    b = a.bytes
    if b < 1:
        sys.exit("--bytes: give a positive number of bytes per sample")
    hangar = os.path.abspath(a.hangar)
    figs = {}
    for n in [int(s) for s in a.n.split(",")]:
        d = os.path.join(a.scratch, f"scale-{n}")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        src = os.path.join(d, "x.npy")
        # Written by a child process: a parent that had held the array would pass its
        # peak RSS on to every process it starts (ru_maxrss survives fork and exec).
        subprocess.run([sys.executable, "-c", GEN, src, str(n), str(b)], check=True)
        raw = n * b
        repo = os.path.join(d, "repo")
        os.makedirs(repo)
        run([hangar, "init", "--name", "bench", "--email", "b@x"], cwd=repo)
        ti, ri, _ = run([hangar, "import", "--create", "x", src], cwd=repo)
        # Opening the staged area (the journal replayed into a read-only view's overlay,
        # without the writer lock), as `hangar status` does, best of 3.
        to = min(run([hangar, "status"], cwd=repo)[0] for _ in range(3))
        # What is staged, key by key (20 shown, all counted).
        td, rd, _ = run([hangar, "diff", "--staged"], cwd=repo)
        tc, rc, _ = run([hangar, "commit", "-m", "scale"], cwd=repo)
        disk = du(os.path.join(repo, ".hangar"))
        shutil.rmtree(repo)
        # The same in one process: `hangar import -m` stages and commits, so the commit
        # neither reopens the staged area nor replays its journal.
        os.makedirs(repo)
        run([hangar, "init", "--name", "bench", "--email", "b@x"], cwd=repo)
        t1, r1, _ = run([hangar, "import", "--create", "x", src, "-m", "scale"], cwd=repo)
        disk1 = du(os.path.join(repo, ".hangar"))
        shutil.rmtree(repo)
        tl, rl, out = run([sys.executable, "-c", LANCE, src, os.path.join(d, "lance")])
        ldisk = du(os.path.join(d, "lance"))
        shutil.rmtree(d)
        f = {
            "hangar_import_s": ti, "hangar_commit_s": tc, "hangar_total_s": ti + tc,
            "bytes_per_sample": b,
            "hangar_status_over_staged_s": to,
            "hangar_diff_staged_s": td, "hangar_diff_staged_peak_rss": rd,
            "hangar_import_peak_rss": ri, "hangar_commit_peak_rss": rc,
            "hangar_disk_over_raw": disk / raw,
            "lance_total_s": tl, "lance_write_s": float(out.strip()),
            "lance_peak_rss": rl, "lance_disk_over_raw": ldisk / raw,
            "hangar_over_lance_time": (ti + tc) / float(out.strip()),
            "hangar_import_m_s": t1, "hangar_import_m_peak_rss": r1,
            "hangar_import_m_disk_over_raw": disk1 / raw,
            "hangar_import_m_over_lance_time": t1 / float(out.strip()),
        }
        figs[str(n)] = f
        print(f"{n:,} samples of u8[{b}] ({raw / 1e6:.0f} MB raw)")
        print(f"  hangar import + commit   {ti:7.2f} s + {tc:6.2f} s = {ti + tc:7.2f} s"
              f"   peak RSS {ri / 2**20:.0f} / {rc / 2**20:.0f} MiB   disk {disk / raw:.3f}x raw")
        print(f"  hangar import -m (one process) {t1:16.2f} s   peak RSS {r1 / 2**20:6.0f} MiB"
              f"   disk {disk1 / raw:.3f}x raw")
        print(f"  hangar status over the staged import (a read-only view, best of 3) {to:.3f} s")
        print(f"  hangar diff --staged over it {td:.3f} s   peak RSS {rd / 2**20:.0f} MiB")
        lw = float(out.strip())
        print(f"  Lance write_dataset + fsync {lw:15.2f} s   peak RSS {rl / 2**20:6.0f} MiB"
              f"   disk {ldisk / raw:.3f}x raw  ({tl:.2f} s with Python's start)")
        print(f"  time ratio hangar / Lance: {(ti + tc) / lw:.2f} (import + commit), "
              f"{t1 / lw:.2f} (import -m)")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(figs, fh, indent=1)


if __name__ == "__main__":
    main()
