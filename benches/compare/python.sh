#!/usr/bin/env bash
# The seed workload through the Python API, the same script (hangar_py_seed.py) run on
# libhangar's Python package and on the original Hangar 0.5.2 in the same run, and the
# ratios: insert in the context-manager form (`with col: col[k] = img`) and plain,
# random `col[k]` reads, a full scan, the commit and the size on disk.
#
#   benches/compare/python.sh                 # Fashion-MNIST when installed, else random
#   N=50000 benches/compare/python.sh
#
# Needs python3 with venv and PyPI. libhangar's package goes into target/py-venv (as
# bindings/python/run-tests.sh does), the original into benches/compare/.venv.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
n="${N:-50000}"
src=random
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && src=/usr/share/datasets/fashion-mnist
ours="$root/target/py-venv"
if ! "$ours/bin/python" -c "import numpy" 2> /dev/null; then
  python3 -m venv "$ours"
  "$ours/bin/pip" install -q numpy
fi
"$ours/bin/pip" install -q "$root/bindings/python"
theirs="$here/.venv"
if ! "$theirs/bin/python" -c "import hangar" > /dev/null 2>&1; then
  echo "installing the original Hangar 0.5.2 in $theirs (it needs numpy<1.24 and protobuf==3.20.3)" >&2
  python3 -m venv "$theirs"
  "$theirs/bin/pip" install -q "numpy<1.24" "protobuf==3.20.3" "hangar==0.5.2"
fi
out="$root/target/compare"
mkdir -p "$out"
echo "== libhangar's Python package" >&2
(cd /tmp && "$ours/bin/python" "$here/hangar_py_seed.py" "$n" "$src") | tail -n 1 > "$out/py-ours.json"
echo "== the original Hangar 0.5.2" >&2
(cd /tmp && "$theirs/bin/python" "$here/hangar_py_seed.py" "$n" "$src" 2> /dev/null) | tail -n 1 > "$out/py-theirs.json"
python3 - "$out/py-ours.json" "$out/py-theirs.json" << 'PY'
import json, sys
ours, theirs = (json.load(open(p)) for p in sys.argv[1:3])
print(f"seed workload from Python, {ours['samples']} images + labels ({ours['data']}): {ours['tool']} vs {theirs['tool']}")
rows = [
    ("insert, context-manager form (records/s)", "insert_cm_records_per_s", True),
    ("insert, plain form (records/s)", "insert_plain_records_per_s", True),
    ("commit (s)", "commit_s", False),
    ("random col[k] in `with col:` (reads/s)", "random_read_cm_per_s", True),
    ("random col[k] (reads/s)", "random_read_plain_per_s", True),
    ("full scan (samples/s)", "full_scan_per_s", True),
    ("size on disk (bytes)", "disk_bytes", False),
]
for label, key, higher in rows:
    a, b = ours[key], theirs[key]
    ratio = a / b if higher else b / a
    print(f"  {label:<44} {a:>14,.1f} {b:>14,.1f}   {ratio:7.1f}x")
print("  (ratio: how many times better libhangar is; for time and size, theirs / ours)")
PY
