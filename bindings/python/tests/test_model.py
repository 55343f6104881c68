"""A stateful property test (hypothesis) of a writer checkout from Python, against a
dict model: samples set one by one through the fast path (an array of the column's
dtype and shape, the caller's buffer reused) and through the general one (a key with
punctuation, a str column), deletes, `update`, bulk sessions opened on a column or on
the checkout and nested (with buffers of three samples, so full buffers are stored on
the checkout's background thread while later samples are set), commits inside and
outside them, resets, and reads at random moments; a non-contiguous array is refused
and stores nothing. Reads, counts and membership see
every sample in the order it was set, a commit holds exactly the model's content, and
every commit reads back exactly at the end."""

import shutil
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from hangar import Repository
from hangar import columns as _columns

SHAPE = (4, 4)
# Keys the fast path takes (ints, letters and digits) and ones it leaves to the general
# path (punctuation), so both orders of the two paths are exercised.
# Few, so that a key set is often set again or deleted while still buffered. (No
# invariant reads the checkout after every step: a read hands the buffers over.)
keys = st.one_of(st.integers(0, 5), st.sampled_from(["s0", "s1", "k-1", "k.2"]))
seeds = st.integers(0, 255)


def image(seed: int) -> np.ndarray:
    return ((np.arange(16, dtype=np.uint16).reshape(SHAPE) * 7 + seed) % 256).astype(np.uint8)


def assert_sample(column: str, got, want) -> None:
    """`want`: an image's bytes (the model keeps bytes, which compare as values) or text."""
    if column == "img":
        assert got.dtype == np.uint8 and got.shape == SHAPE
        assert got.tobytes() == want
    else:
        assert got == want


class WriterModel(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self._rows = _columns._BULK_ROWS
        _columns._BULK_ROWS = 3  # columns made from here on buffer three samples
        self.dir = tempfile.mkdtemp()
        self.repo = Repository(path=self.dir, exists=False)
        self.repo.init(user_name="Model", user_email="model@example.com")
        self.co = self.repo.checkout(write=True)
        self.co.add_ndarray_column("img", prototype=np.zeros(SHAPE, dtype=np.uint8))
        self.co.add_str_column("txt")
        self.model = {"img": {}, "txt": {}}
        self.commits = [(self.co.commit("the columns"), {"img": {}, "txt": {}})]
        self.head_model = self.commits[0][1]  # the last commit's content
        self.blocks = []  # the context managers entered, innermost last
        self.held = {}  # column objects

    def col(self, name):
        # Held, as a user holds `col`: getting a column from `co.columns` is a use of the
        # checkout, which hands the buffers over first.
        if name not in self.held:
            self.held[name] = self.co.columns[name]
        return self.held[name]

    # ---- changes -----------------------------------------------------------------------

    @rule(key=keys, seed=seeds, form=st.sampled_from(["fast", "strided", "reused"]))
    def set_image(self, key, seed, form):
        v = image(seed)
        if form == "strided":
            # The original's rule: a C-contiguous array or nothing (and nothing stored).
            with pytest.raises(ValueError, match="contiguous"):
                self.col("img")[key] = np.ascontiguousarray(v.T).T
            return
        if form == "reused":
            given = self.scratch = getattr(self, "scratch", np.empty(SHAPE, dtype=np.uint8))
            given[...] = v  # the caller reuses its array: the column must have copied
        else:
            given = v
        self.col("img")[key] = given
        self.model["img"][key] = v.tobytes()
        if form == "reused":
            given[...] = 0

    @rule(
        items=st.lists(st.tuples(keys, seeds), min_size=1, max_size=8),
        then=st.sampled_from(["nothing", "delete", "read", "set-text", "update"]),
    )
    def set_images_in_a_block(self, items, then):
        """Several fast sets in a bulk session (opened on the column if none is), so
        that what follows meets samples still buffered or stored in the background."""
        if not self.blocks:
            self.enter_block("img")
        for key, seed in items:
            self.set_image(key, seed, "fast")
        key = items[-1][0]
        if then == "delete":
            self.delete("img", key)
        elif then == "read":
            self.read_one("img", key)
        elif then == "set-text":
            self.set_text(key, f"text {key}")
        elif then == "update":
            self.update_images({key: 7, items[0][0]: 9})

    @rule(key=keys, text=st.text(max_size=12))
    def set_text(self, key, text):
        self.col("txt")[key] = text
        self.model["txt"][key] = text

    @rule(name=st.sampled_from(["img", "txt"]), key=keys)
    def delete(self, name, key):
        c = self.col(name)
        if key in self.model[name]:
            del c[key]
            del self.model[name][key]
        else:
            with pytest.raises(KeyError):
                del c[key]

    @rule(items=st.dictionaries(keys, seeds, min_size=1, max_size=5))
    def update_images(self, items):
        self.col("img").update({k: image(s) for k, s in items.items()})
        self.model["img"].update({k: image(s).tobytes() for k, s in items.items()})

    # ---- bulk sessions -----------------------------------------------------------------

    @precondition(lambda self: len(self.blocks) < 3)
    @rule(on=st.sampled_from(["img", "txt", "checkout"]))
    def enter_block(self, on):
        cm = self.co if on == "checkout" else self.col(on)
        cm.__enter__()
        self.blocks.append(cm)

    @precondition(lambda self: self.blocks)
    @rule()
    def exit_block(self):
        self.blocks.pop().__exit__(None, None, None)

    # ---- commits and resets ------------------------------------------------------------

    @rule()
    def commit(self):
        content = {n: dict(m) for n, m in self.model.items()}
        if content == self.head_model:
            with pytest.raises(RuntimeError):
                self.co.commit("nothing")
            return
        h = self.co.commit("step")
        self.head_model = content
        self.commits.append((h, content))

    @precondition(lambda self: not self.blocks)
    @rule()
    def reset(self):
        self.co.reset_staging_area(force=True)
        self.held = {}  # a reset invalidates the column objects
        self.model = {n: dict(m) for n, m in self.head_model.items()}

    # ---- reads -------------------------------------------------------------------------

    @rule(name=st.sampled_from(["img", "txt"]), key=keys)
    def read_one(self, name, key):
        c = self.col(name)
        want = self.model[name].get(key)
        assert (key in c) == (want is not None)
        if want is None:
            with pytest.raises(KeyError):
                c[key]
        else:
            assert_sample(name, c[key], want)

    @rule()
    def read_all(self):
        for name, m in self.model.items():
            c = self.col(name)
            assert len(c) == len(m)
            assert sorted(map(str, c.keys())) == sorted(map(str, m))
            for k, v in m.items():
                assert_sample(name, c[k], v)

    def teardown(self):
        try:
            while self.blocks:
                self.blocks.pop().__exit__(None, None, None)
            self.co.close()
            for h, content in self.commits:
                r = self.repo.checkout(commit=h)
                for name, m in content.items():
                    c = r.columns[name]
                    assert len(c) == len(m)
                    for k, v in m.items():
                        assert_sample(name, c[k], v)
                r.close()
        finally:
            _columns._BULK_ROWS = self._rows
            shutil.rmtree(self.dir, ignore_errors=True)


WriterModel.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_writer_checkout_matches_a_dict_model = WriterModel.TestCase
