#!/usr/bin/env bash
# The bulk importer (`hangar.bulk_importer.run_bulk_import`) on the 60,000 Fashion-MNIST
# training images + labels (a UDF reading them from .npy files, 100 samples per call),
# libhangar's Python package and the original Hangar in the same run, ncpus 1 and 2.
#
#   benches/compare/bulk.sh
#
# The original's bulk importer exists only after its 0.5.2 release (hangar-py's HEAD,
# a6deb22, not on PyPI): it is installed from source into benches/compare/.venv-head,
# from HANGAR_PY_SRC (a checkout) or else from GitHub. Without either, only ours runs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
n="${N:-60000}"
. "$here/ours_venv.sh"
mkdir -p "$root/target/compare"
head="$here/.venv-head"
if ! "$head/bin/python" -c "import hangar.bulk_importer" > /dev/null 2>&1; then
  from="${HANGAR_PY_SRC:-git+https://github.com/tensorwerk/hangar-py@a6deb22}"
  echo "installing the original Hangar's HEAD (a6deb22) from $from into $head" >&2
  python3 -m venv "$head"
  "$head/bin/pip" install -q "numpy<1.24" "protobuf==3.20.3" "cython<3" setuptools wheel
  "$head/bin/pip" install -q --no-build-isolation "$from" || echo "could not install it: ours only" >&2
fi
cd "$here"
for ncpus in 1 2; do
  (cd /tmp && PYTHONPATH="$here" "$ours/bin/python" "$here/hangar_py_bulk.py" "$n" "$src" "$ncpus" | tail -n 1) > "$root/target/compare/bulk-ours-$ncpus.json"
  if "$head/bin/python" -c "import hangar.bulk_importer" > /dev/null 2>&1; then
    (cd /tmp && PYTHONPATH="$here" "$head/bin/python" "$here/hangar_py_bulk.py" "$n" "$src" "$ncpus" 2> /dev/null | tail -n 1) \
      > "$root/target/compare/bulk-theirs-$ncpus.json"
  else
    rm -f "$root/target/compare/bulk-theirs-$ncpus.json"
  fi
done
python3 - "$root/target/compare" << 'PY'
import json, os, sys
d = sys.argv[1]
for ncpus in (1, 2):
    ours = json.load(open(os.path.join(d, f"bulk-ours-{ncpus}.json")))
    line = f"run_bulk_import, {ours['samples']} images + labels, ncpus={ncpus}: {ours['tool']} {ours['seconds']:.2f} s ({ours['records_per_s']:,.0f} records/s)"
    p = os.path.join(d, f"bulk-theirs-{ncpus}.json")
    if os.path.exists(p):
        theirs = json.load(open(p))
        line += f"; {theirs['tool']} (HEAD) {theirs['seconds']:.2f} s: {theirs['seconds'] / ours['seconds']:.1f}x"
    print(line)
PY
