"""The package's annotations hold up for users: the code in typing_usage.py runs, and
mypy accepts it and the package itself (a `py.typed` package whose annotations were
wrong would flag correct user code in IDEs and users' own mypy runs)."""

import os
import subprocess
import sys

import pytest

import typing_usage

HERE = os.path.dirname(os.path.abspath(__file__))


def test_the_usage_runs(tmp_path):
    typing_usage.main(str(tmp_path / "repo"))


def _mypy(tmp_path, *targets):
    pytest.importorskip("mypy", reason="pip install mypy (bindings/python/run-tests.sh installs it)")
    # The package's source beside these tests (the files `pip install` installs): mypy
    # silences errors inside installed packages, which would hide the package's own.
    env = dict(os.environ, MYPYPATH=os.path.dirname(HERE))
    cmd = [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy-cache"), "--no-error-summary"]
    return subprocess.run(cmd + list(targets), capture_output=True, text=True, cwd=HERE, env=env)


def test_mypy_accepts_the_users_code_and_the_package(tmp_path):
    # The package, every error reported, and the user's code against its annotations.
    run = _mypy(tmp_path, "-p", "hangar", "-m", "typing_usage")
    assert run.returncode == 0, run.stdout + run.stderr


def test_mypy_still_catches_a_misuse(tmp_path):
    # The check can fail: a reader checkout has no add_ndarray_column, and a key is
    # not a float.
    bad = tmp_path / "misuse.py"
    bad.write_text(
        "import numpy as np\n"
        "from hangar import Repository\n"
        "co = Repository('x').checkout()\n"
        "co.add_ndarray_column('x', shape=(1,), dtype=np.uint8)\n"
        "w = Repository('x').checkout(write=True)\n"
        "w.columns['x'][1.5] = np.zeros(1)\n"
    )
    run = _mypy(tmp_path, str(bad))
    assert run.returncode == 1, run.stdout + run.stderr
    assert '"ReaderCheckout" has no attribute "add_ndarray_column"' in run.stdout, run.stdout
    assert 'misuse.py:6: error' in run.stdout, run.stdout
