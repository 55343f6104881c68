#!/usr/bin/env bash
# Runs the original Hangar's own test suite (hangar-py 0.5.2, the tests/ directory of its
# PyPI source release, pinned by SHA-256) unchanged against the installed libhangar
# package, with shim.py standing in for the internals its fixtures tune and putting back
# the numpy aliases and pytest.warns(None) the tests call. Prints how many tests pass,
# fail, are departures (DESIGN.md section 6) or cover features libhangar lacks; writes
# target/compat/report.json; and fails if a test
# listed in expected-passing.txt does not pass.
# Needs bindings/python/run-tests.sh to have run (the venv in target/py-venv).
# `--update` rewrites expected-passing.txt from this run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../../.."
venv="$PWD/target/py-venv"
out="$PWD/target/compat"
sdist="$out/hangar-0.5.2.tar.gz"
url="https://files.pythonhosted.org/packages/41/d7/70ebfae17468a619cbce491aab1a1e10ce81508d27bf3d11a15119e05131/hangar-0.5.2.tar.gz"
sha="d452f37b9ba063bbb1b888b8d251d41dd36cd830b4e710ee7aecf0d527ed90f5"
mkdir -p "$out"
if ! echo "$sha  $sdist" | sha256sum -c --status 2> /dev/null; then
  curl -fsSL --retry 3 -o "$sdist.part" "$url"
  mv "$sdist.part" "$sdist"
  echo "$sha  $sdist" | sha256sum -c --quiet
fi
# What the original's tests import besides the package: hypothesis, pretend and pkg_resources
# (setuptools 80 still ships it; the 84 installed here by default does not).
"$venv/bin/python" -c "import hypothesis, pretend, pkg_resources" 2> /dev/null || "$venv/bin/pip" install -q hypothesis pretend "setuptools<81"
rm -rf "$out/hangar-0.5.2"
tar xzf "$sdist" -C "$out" hangar-0.5.2/tests hangar-0.5.2/setup.cfg
report="$out/report.json"
expected="$here/expected-passing.txt"
# From the extracted release's directory: its tests import `hangar`, which is the
# installed libhangar package (the release's own src/ is not extracted).
status=0
(cd "$out/hangar-0.5.2" && HANGAR_COMPAT_REPORT="$report" HANGAR_COMPAT_EXPECTED="$expected" \
  PYTHONPATH="$here" timeout -k 30 1800 "$venv/bin/pytest" -q -p shim -p no:cacheprovider -o addopts="" -o faulthandler_timeout=600 \
  -W ignore::DeprecationWarning --hypothesis-seed=0 --continue-on-collection-errors tests --tb=short -rN) | tail -n "${HANGAR_COMPAT_TAIL:-45}" || status=$?
if [ "${1:-}" = "--update" ]; then
  {
    echo "# The original Hangar 0.5.2 tests that pass against libhangar (run-original-tests.sh --update)."
    "$venv/bin/python" -c "import json,sys; r=json.load(open(sys.argv[1])); print('\n'.join(k for k,v in r.items() if v['category']=='passed'))" "$report"
  } > "$expected"
  echo "wrote $expected"
  exit 0
fi
exit $status
