#!/usr/bin/env bash
# The Python package's checks: builds and installs it as users do (`pip install
# ./bindings/python`, which builds libhangar with cargo) into a venv kept in
# target/py-venv, runs its tests (the seed tutorial among them), and builds a wheel.
# Needs python3 with venv and PyPI (numpy, pytest, tqdm and matplotlib for the tutorial,
# PyTorch for the DataLoader tests and tensorflow-cpu for the tf.data tests: large
# downloads, kept in the venv between runs; both run on the CPU here; mypy for the
# annotations' test; hypothesis for the stateful model test).
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=target/py-venv
if ! "$venv/bin/python" -c "import numpy, pytest, tqdm, matplotlib, torch, tensorflow, mypy, hypothesis" 2> /dev/null; then
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q numpy pytest tqdm matplotlib torch tensorflow-cpu mypy hypothesis
fi
"$venv/bin/pip" install -q ./bindings/python
# pytest from the tests' directory, never importing the source tree's `hangar` (which has
# no library in it): the installed package is what is tested.
# A test that hangs prints every thread's stack after 10 minutes, and the run stops after
# 30 (the tests take ~3): a hang fails here, with the place it hung, instead of using up
# the CI run's time.
(cd bindings/python && MPLBACKEND=Agg timeout -k 30 1800 "../../$venv/bin/pytest" -q -p no:cacheprovider \
  -o faulthandler_timeout=600) || {
  status=$?
  [ $status -eq 124 ] && echo "the Python tests did not finish within 30 minutes (see the stacks above)" >&2
  exit $status
}
rm -rf target/py-wheel
# A module left in the in-place build directory by an earlier build (one the checkout
# has since renamed or removed) must not be shipped again (setup.py's FreshBuildPy).
for lib in bindings/python/build/lib*/hangar; do
  [ -d "$lib" ] && echo "raise ImportError('stale')" > "$lib/stale_module_check.py"
done
"$venv/bin/pip" wheel -q --no-deps -w target/py-wheel ./bindings/python
ls target/py-wheel/libhangar-*-cp3*-linux_*.whl > /dev/null
if "$venv/bin/python" -m zipfile -l target/py-wheel/libhangar-*.whl | grep -q stale_module_check; then
  echo "the wheel ships a module left in bindings/python/build by an earlier build" >&2
  exit 1
fi
echo "python package: tests passed, wheel built: $(ls target/py-wheel)"
