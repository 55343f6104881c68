"""A pytest plugin that runs the original Hangar 0.5.2 test suite, unchanged, against this
package (`run-original-tests.sh` loads it with `-p shim`), and reports what passed.

1. Inert stand-ins for the internals the original's `tests/conftest.py` tunes or closes
   in every fixture: the HDF5 / numpy / LMDB backends' collection sizes and map sizes,
   its LMDB transaction registry and `repo._env._close_environments()`. libhangar has
   none of these (DESIGN.md section 6); the stand-ins hold the values the fixtures set
   and nothing reads them, so the fixtures run as written. Nothing else of the package is
   patched: a test that imports an internal module (`hangar.records`,
   `hangar.backends.hdf5_00`, `hangar.remote`, ...) fails on that import and is counted
   as such.
2. What the tests themselves call that their tools have since removed, put back as it
   was (`_restore_removed_test_tools`): numpy's aliases of Python's builtins (`np.int`,
   `np.float`, `np.object`, `np.str`, and `np.bool` where numpy lacks it: removed in
   numpy 1.24; the tests pass them as dtypes, which numpy takes to mean int64, float64,
   object, str and bool, as it always did)
   and pytest's `pytest.warns(None)` (removed in pytest 8: it recorded every warning
   and asserted none). Neither touches the package; without them 170 tests stopped at
   that line before reaching it.
3. Every test's outcome is recorded and classified (`classify`): passed; failed; a
   departure (the test exercises the original's internals or its Python command line,
   which libhangar replaced on purpose); or a feature libhangar lacks (remotes). A
   summary table is printed and written as JSON to
   `$HANGAR_COMPAT_REPORT` when set.
4. Tests listed in `$HANGAR_COMPAT_EXPECTED` (one node id per line) must pass: any that
   does not fails the session, so a regression in the drop-in API is caught.
"""

from __future__ import annotations

import json
import os
import re
import sys
import types
import warnings
from collections import Counter, defaultdict

import numpy as np
import pytest

import hangar
from hangar import Repository


def _module(name: str, **attrs) -> types.ModuleType:
    """A stand-in module, importable (`from hangar.backends import hdf5_00`), holding only
    the settings the original's fixtures write."""
    mod = types.ModuleType(name, "stand-in for an internal module of the original Hangar")
    mod.__dict__.update(attrs)
    sys.modules[name] = mod
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, mod)
    return mod


def _install_stand_ins() -> None:
    def settings(**kw):
        return types.SimpleNamespace(**kw)

    _module("hangar.backends")
    _module("hangar.backends.hdf5_00", COLLECTION_COUNT=0, COLLECTION_SIZE=0)
    _module("hangar.backends.hdf5_01", COLLECTION_COUNT=0, COLLECTION_SIZE=0)
    _module("hangar.backends.numpy_10", COLLECTION_SIZE=0)
    _module("hangar.backends.lmdb_30", LMDB_SETTINGS={"map_size": 0})
    _module("hangar.backends.lmdb_31", LMDB_SETTINGS={"map_size": 0})
    _module("hangar.constants", LMDB_SETTINGS={"map_size": 0})
    _module("hangar.txnctx", TxnRegisterSingleton=settings(_instances={}))
    # The fixtures' teardown: libhangar's repository holds no environments to close. (One
    # test also reads `repo._env.repo_is_initialized`: the public `initialized`.)
    Repository._env = property(
        lambda self: settings(_close_environments=lambda: None, repo_is_initialized=self.initialized)
    )


_install_stand_ins()


class _RecordWarnings(warnings.catch_warnings):
    """`pytest.warns(None)` as pytest 7 had it: records every warning raised inside, as a
    list the test inspects, and asserts nothing."""

    def __init__(self) -> None:
        super().__init__(record=True)

    def __enter__(self):
        records = super().__enter__()
        warnings.simplefilter("always")
        return records


def _restore_removed_test_tools() -> None:
    for name, builtin in {"int": int, "float": float, "object": object, "str": str, "bool": bool}.items():
        if name not in np.__dict__:
            setattr(np, name, builtin)
    warns = pytest.warns

    def warns_or_records(expected_warning=Warning, *args, **kwargs):
        if expected_warning is None:
            return _RecordWarnings()
        return warns(expected_warning, *args, **kwargs)

    pytest.warns = warns_or_records


_restore_removed_test_tools()

# Whole files by what they test.
_LACKING = {
    "test_remotes.py": "remotes (hangar server / clone / fetch / push over gRPC): libhangar's remotes are issue 14",
    "test_remote_serialize.py": "remotes: the original's gRPC chunk serialization",
}
_DEPARTURE_FILES = {
    "test_cli.py": "the original's click command line; libhangar's `hangar` tool is its own (docs/cli.md)",
    "test_backend_hdf5_00_hdf5_01.py": "the original's HDF5 storage backends; libhangar stores Arrow segments",
    "test_column_backends.py": "the original's storage backends (hdf5_00/01, numpy_10, lmdb_30/31)",
    "test_optimized_utils.py": "the original's internal Cython helpers",
    "test_utils.py": "the original's internal utility functions",
    "test_commit_ref_verification.py": "the original's LMDB record layout (hangar.records)",
    "test_repo_integrity_verification.py": "damages the original's LMDB records through hangar.records / backends",
}
# Single tests that check what libhangar does differently on purpose (DESIGN.md section 6).
_DEPARTURE_TESTS = {
    "test_dataloaders.py::TestTorchDataLoader::test_warns_experimental": "the original warns that its 0.5 dataloaders are experimental; libhangar's are not, and do not warn",
    "test_dataloaders.py::TestTfDataLoader::test_warns_experimental": "the original warns that its 0.5 dataloaders are experimental; libhangar's are not, and do not warn",
    "test_branching.py::test_delete_branch_raises_permission_error_if_writer_lock_held": "libhangar removes a branch (not the writer's own) while a writer is open on another, as git does; the original needed its writer lock",
}
_INTERNALS = re.compile(
    r"No module named 'hangar\.|cannot import name .* from 'hangar|has no attribute '_ecosystem_details'|"
    r"module 'hangar(\.[a-z_]+)?' has no attribute|object has no attribute '_(branch_name|any_is_conman|env|be_fs|samples|subsamples|schema|txnctx|stack|destruct|enter_count|is_conman|mode|column_name|path|aset|refenv|branchenv|stageenv|hashenv|dataenv|writer_lock|repo_path|stagehashenv|labelenv)\b"
)


def classify(nodeid: str, outcome: str, text: str) -> tuple[str, str]:
    """(category, reason) of one test's result."""
    name = nodeid.split("::")[0].rsplit("/", 1)[-1]
    if outcome == "passed":
        return "passed", ""
    if name in _LACKING:
        return "lacking", _LACKING[name]
    if "from hangar.remote import" in text or "server_instance" in text or "No module named 'hangar.remote" in text:
        return "lacking", "needs the original's remote server (partially fetched data)"
    if name in _DEPARTURE_FILES:
        return "departure", _DEPARTURE_FILES[name]
    for test, reason in _DEPARTURE_TESTS.items():
        if nodeid.split("[")[0].endswith(test):
            return "departure", reason
    if _INTERNALS.search(text):
        return "departure", "reaches into the original's internal modules or attributes"
    if re.search(r"hasattr\(.*'_(mode|schema|samples)'\)", text, re.S):
        return "departure", "asserts a private attribute of the original's objects"
    if "arrow-ipc" in text:
        return "departure", "asserts the original's storage backend code; libhangar has one format (backend= is accepted and ignored)"
    if outcome == "skipped":
        return "skipped", text.splitlines()[-1][:200] if text else ""
    return "failed", (text.strip().splitlines() or [""])[-1][:300]


_results: dict[str, tuple[str, str]] = {}


def pytest_runtest_logreport(report):
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        text = report.longreprtext if report.outcome != "passed" else ""
        _results[report.nodeid] = classify(report.nodeid, report.outcome, text)


def pytest_collectreport(report):
    # A test file that cannot be imported counts once, under its own name.
    if report.failed:
        nodeid = f"{report.nodeid}::<import>"
        _results[nodeid] = classify(nodeid, "failed", report.longreprtext)


def pytest_terminal_summary(terminalreporter):
    by_file: dict[str, Counter] = defaultdict(Counter)
    total: Counter = Counter()
    for nodeid, (cat, _) in _results.items():
        by_file[nodeid.split("::")[0]][cat] += 1
        total[cat] += 1
    cats = ["passed", "failed", "departure", "lacking", "skipped"]
    lines = [f"{'file':48} " + " ".join(f"{c:>9}" for c in cats)]
    for f in sorted(by_file):
        lines.append(f"{f:48} " + " ".join(f"{by_file[f][c]:>9}" for c in cats))
    lines.append(f"{'all ' + str(len(_results)) + ' tests':48} " + " ".join(f"{total[c]:>9}" for c in cats))
    write = terminalreporter.write_line
    write("\nThe original Hangar 0.5.2 test suite against libhangar:")
    for line in lines:
        write(line)
    reasons = Counter(r for c, r in _results.values() if c == "failed")
    if reasons:
        write("\nMost frequent failures:")
        for r, n in reasons.most_common(int(os.environ.get("HANGAR_COMPAT_REASONS", "15"))):
            write(f"  {n:5}  {r}")
    for line in _verdict:
        write(line)


_verdict: list[str] = []


def pytest_sessionfinish(session, exitstatus):
    out = os.environ.get("HANGAR_COMPAT_REPORT")
    if out:
        with open(out, "w") as fh:
            json.dump({k: {"category": c, "reason": r} for k, (c, r) in sorted(_results.items())}, fh, indent=1)
    expected = os.environ.get("HANGAR_COMPAT_EXPECTED")
    if expected and os.path.exists(expected):
        want = [l.strip() for l in open(expected) if l.strip() and not l.startswith("#")]
        regressed = [n for n in want if _results.get(n, ("missing",))[0] != "passed"]
        if regressed:
            _verdict.append(f"\n{len(regressed)} tests that passed before do not pass now:")
            for n in regressed[:50]:
                _verdict.append(f"  {n}: {_results.get(n, ('not run', ''))}")
            session.exitstatus = 1
        else:
            new = sum(1 for c, _ in _results.values() if c == "passed") - len(want)
            _verdict.append(f"\nall {len(want)} expected tests pass" + (f"; {new} more pass than listed" if new > 0 else ""))
            session.exitstatus = 0
