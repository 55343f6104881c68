"""The README's Python examples ("Using it from Python"), run as a user runs them: its
```python blocks in order, in one namespace, in a fresh directory."""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[3] / "README.md"


def python_blocks() -> list:
    text = README.read_text()
    section = text[text.index("## Using it from Python") :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_readme_python_examples_run_as_written(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    blocks = python_blocks()
    assert len(blocks) >= 2, "the README shows a first repository and a DataLoader"
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    with warnings.catch_warnings():
        # `Repository(path=...)` before `init` warns that no repository exists yet,
        # as the original does.
        warnings.simplefilter("ignore", UserWarning)
        for i, block in enumerate(blocks):
            exec(compile(block, f"README.md python block {i + 1}", "exec"), scope)
    # What the examples built and read.
    img = scope["img"]
    assert img.shape == (28, 28) and (img == 7).all()
    assert not img.flags.writeable
    batch = scope["batch"]
    assert batch.images.shape[1:] == (28, 28) and batch.labels.shape[1:] == (1,)
    # Sample i holds pixels i % 256 and label i % 10: aligned by key, their parities agree.
    pixels, labels = batch.images[:, 0, 0].numpy(), batch.labels[:, 0].numpy()
    assert len(pixels) == 1000 % 256 and (pixels % 2 == labels % 2).all()
    for co in [v for v in scope.values() if type(v).__name__.endswith("Checkout")]:
        co.close()
    assert (tmp_path / "my-repo" / ".hangar").is_dir()
