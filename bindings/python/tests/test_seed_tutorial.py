"""The seed tutorial (written against the original's early `co.datasets` API), run as it
is written: every statement of its code blocks in order (seed_tutorial.txt), unchanged
except where the data comes from. The tutorial loads MNIST from a pickle
(`mnist.pkl.gz`: train/valid/test sets of float images in [0, 1) and int labels); we write
that pickle from the Fashion-MNIST IDX files of Debian's `dataset-fashion-mnist` (same
shapes), and the repository goes to a temporary directory."""

import gzip
import os
import pickle
import re
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
CODE = HERE / "seed_tutorial.txt"
# The tutorial's full text, where the team's reference copy is at hand.
FULL_TEXT = HERE.parents[3] / "shared" / "reference" / "seed-tutorial.rst"
FASHION = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))

# Where the tutorial's author kept the data and the repository.
DATA_PATH = "/Users/rick/projects/tensorwerk/hangar-dev-data/mnist.pkl.gz"
REPO_PATH = "/Users/rick/projects/tensorwerk/hangar-dev-repo/"


def idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def write_mnist_pickle(out: Path) -> None:
    """mnist.pkl.gz as the tutorial reads it, from Fashion-MNIST."""
    images = idx(FASHION / "train-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 256
    labels = idx(FASHION / "train-labels-idx1-ubyte.gz").astype(np.int64)
    t_images = idx(FASHION / "t10k-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 256
    t_labels = idx(FASHION / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    sets = ((images[:50000], labels[:50000]), (images[50000:], labels[50000:]), (t_images, t_labels))
    with gzip.open(out, "wb", compresslevel=1) as f:
        pickle.dump(sets, f)


def statements(text: str):
    """The statements of a tutorial text in order: each `>>>` line with its `...` lines.
    One statement the tutorial writes without a prompt (`out = []`, before a loop
    appending to it) is taken too."""
    out = []
    for line in text.splitlines():
        m = re.match(r"^\s*(>>>|\.\.\.) ?(.*)$", line)
        if m and m.group(1) == ">>>":
            out.append([m.group(2)])
        elif m and out:
            out[-1].append(m.group(2))
        elif re.match(r"^\s+out = \[\]$", line):
            out.append(["out = []"])
    return ["\n".join(s) for s in out]


@pytest.mark.skipif(not FULL_TEXT.exists(), reason="the tutorial's full text is not at hand")
def test_the_code_is_the_tutorials():
    assert statements(CODE.read_text(encoding="utf-8")) == statements(FULL_TEXT.read_text(encoding="utf-8"))


def test_the_seed_tutorial_runs_as_written(tmp_path, monkeypatch, capsys):
    assert (FASHION / "train-images-idx3-ubyte.gz").exists(), (
        f"the tutorial's data: Fashion-MNIST is not at {FASHION}; install Debian's "
        "dataset-fashion-mnist, or set FASHION_MNIST_DIR to a directory of its IDX files"
    )
    monkeypatch.setenv("MPLBACKEND", "Agg")
    data = tmp_path / "mnist.pkl.gz"
    write_mnist_pickle(data)
    repo_dir = tmp_path / "hangar-dev-repo"
    code = statements(CODE.read_text(encoding="utf-8"))
    assert len(code) > 30, "the tutorial's statements were found"
    env: dict = {}
    for stmt in code:
        src = stmt.replace(DATA_PATH, str(data)).replace(REPO_PATH, str(repo_dir) + "/")
        try:
            compiled = compile(src, "<seed-tutorial>", "single")
        except SyntaxError:
            compiled = compile(src, "<seed-tutorial>", "exec")
        exec(compiled, env)
    # What the tutorial did, checked.
    repo = env["repo"]
    log = repo.log(return_contents=True)
    assert len(log["order"]) == 1
    assert log["specs"][log["order"][0]]["commit_message"] == "hello world, this is my first hangar commit"
    co = repo.checkout()
    assert len(co.datasets["train_images"]) == 50000
    assert len(co.datasets["train_labels"]) == 50000
    assert len(co.datasets["mnist_training_images"]) == 3
    np.testing.assert_array_equal(co.datasets["train_images"]["123"], env["trimgs"][123])
    assert co.datasets["train_labels"]["123"][0] == env["trlabels"][123]
    co.close()
    printed = capsys.readouterr().out
    assert "Hangar Columns" in printed or "Hangar Writer Column" in printed
    assert "hello world, this is my first hangar commit" in printed
