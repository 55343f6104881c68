"""Version-control workload through the original Hangar 0.5.2 (same as benches' vc binary).

Diff and merge of two branches of a 100,000-sample column differing in 1,000 samples,
branch creation, checkout of any commit, writer branch switch, log over N commits.
Usage: hangar_py_vc.py [samples] [changes] [commits]; prints one JSON line (milliseconds).
"""
import contextlib
import io
import json
import shutil
import sys
import tempfile
import time

import numpy as np
from hangar import Repository


def ms(t):
    return (time.perf_counter() - t) * 1e3


def quiet():
    return contextlib.redirect_stdout(io.StringIO())


def new_repo(path):
    repo = Repository(path=path, exists=False)
    repo.init(user_name="bench", user_email="bench@example.com", remove_old=True)
    return repo


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    changes = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000
    commits = int(sys.argv[3]) if len(sys.argv) > 3 else 2_000
    out = {"tool": "hangar-py 0.5.2", "samples": n, "changes": changes, "commits": commits}
    d = tempfile.mkdtemp()
    try:
        with quiet():
            repo = new_repo(d)
            co = repo.checkout(write=True)
            col = co.add_ndarray_column("samples", prototype=np.zeros(16, dtype=np.uint8))
            with col:
                for i in range(n):
                    col[i] = np.full(16, (i * 7) % 251, dtype=np.uint8)
            co.commit("base")
            co.close()
            repo.create_branch("dev")
            step = max(n // changes, 1)
            for branch, offset in (("master", 0), ("dev", 1)):
                co = repo.checkout(write=True, branch=branch)
                col = co.columns["samples"]
                with col:
                    for i in range(changes // 2):
                        col[((i * 2 + offset) * step) % n] = np.full(16, (i % 200) + 1, dtype=np.uint8)
                co.commit(f"{branch} changes")
                co.close()
            t = time.perf_counter()
            repo.diff("master", "dev")
            out["diff_ms"] = ms(t)
            t = time.perf_counter()
            repo.merge("merge", "master", "dev")
            out["merge_ms"] = ms(t)
            t = time.perf_counter()
            repo.create_branch("another", base_commit=repo.log(branch="dev", return_contents=True)["head"])
            out["create_branch_ms"] = ms(t)
            first = repo.log(branch="master", return_contents=True)["order"][-1]
            t = time.perf_counter()
            r = repo.checkout(commit=first)
            r.columns["samples"][12345 % n]
            out["checkout_commit_ms"] = ms(t)
            r.close()
            t = time.perf_counter()
            co = repo.checkout(write=True, branch="another")
            co.close()
            out["checkout_writer_branch_ms"] = ms(t)

        d2 = tempfile.mkdtemp()
        try:
            with quiet():
                repo = new_repo(d2)
                co = repo.checkout(write=True)
                col = co.add_ndarray_column("c", prototype=np.zeros(4, dtype=np.uint8))
                t = time.perf_counter()
                for i in range(commits):
                    col[i % 64] = np.frombuffer(int(i).to_bytes(4, "little"), dtype=np.uint8).copy()
                    co.commit(f"commit {i}")
                out["commit_ms_each"] = ms(t) / commits
                co.close()
                t = time.perf_counter()
                repo.log(return_contents=True)
                out["log_ms"] = ms(t)
                t = time.perf_counter()
                repo.log()
                out["log_graph_ms"] = ms(t)
        finally:
            shutil.rmtree(d2, ignore_errors=True)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
