"""Push and clone through the original Hangar 0.5.2's own remote: `hangar server` (gRPC)
on loopback, in a virtual environment with hangar==0.5.2 (benches/compare/remote.sh
makes it). The same data as benches/src/bin/remote.rs: the first N Fashion-MNIST
training images (u8 [28,28]) and their labels (int64 [1]). Prints one JSON line.

    python hangar_py_remote.py N SOURCE_DIR_OR_random HANGAR_CLI
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
from hangar import Repository

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hangar_py_seed import load  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    n = int(sys.argv[1])
    source = sys.argv[2]
    cli = os.path.abspath(sys.argv[3])
    imgs, labels = load(n, source)
    imgs = imgs.reshape(n, 28, 28)
    work = tempfile.mkdtemp()
    for d in ("src", "clone", "server"):
        os.makedirs(os.path.join(work, d))
    src = Repository(path=os.path.join(work, "src"), exists=False)
    src.init(user_name="bench", user_email="bench@example.com", remove_old=True)
    co = src.checkout(write=True)
    ci = co.add_ndarray_column("images", prototype=imgs[0])
    cl = co.add_ndarray_column("labels", prototype=np.array([labels[0]]))
    with ci, cl:
        for i in range(n):
            ci[i] = imgs[i]
            cl[i] = np.array([labels[i]])
    co.commit("seed")
    co.close()

    server_dir = os.path.join(work, "server")
    port = free_port()
    server = subprocess.Popen(
        [cli, "server", "--ip", "127.0.0.1", "--port", str(port), "--timeout", "3600"],
        cwd=server_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise SystemExit("hangar server did not start")
                time.sleep(0.1)
        address = f"127.0.0.1:{port}"
        src.remote.add("origin", address)
        t = time.perf_counter()
        src.remote.push("origin", "master")
        push = time.perf_counter() - t
        t = time.perf_counter()
        src.remote.push("origin", "master")  # unchanged: a no-op (it warns)
        push_again = time.perf_counter() - t

        dst = Repository(path=os.path.join(work, "clone"), exists=False)
        t = time.perf_counter()
        dst.clone("bench", "bench@example.com", address, remove_old=True)
        clone_bare = time.perf_counter() - t
        t = time.perf_counter()
        dst.remote.fetch_data("origin", branch="master")
        fetch_all = time.perf_counter() - t
        co = dst.checkout()
        assert np.array_equal(co.columns["images"][n - 1], imgs[n - 1])
        co.close()
    finally:
        server.terminate()
        server.wait()
    print(json.dumps({
        "tool": "hangar-py 0.5.2 (hangar server, gRPC)", "n": n,
        "push_s": push, "push_again_s": push_again, "clone_bare_s": clone_bare,
        "clone_full_s": clone_bare + fetch_all,
    }))


if __name__ == "__main__":
    main()
