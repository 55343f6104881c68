#!/usr/bin/env bash
# The seed workload through the Python API, the same script (hangar_py_seed.py) run on
# libhangar's Python package and on the original Hangar 0.5.2 in the same run, and the
# ratios: insert in the context-manager form (`with col: col[k] = img`) and plain,
# random `col[k]` reads, a full scan, the commit and the size on disk. Then
# python_loaders.py on 60,000 Fashion-MNIST images + labels: batch write, random single
# reads, a batch read of 10,000 random keys and a PyTorch DataLoader epoch (batch 256,
# 2 workers, shuffled), against the original's make_torch_dataset, a DataLoader over the
# same data in memory, and Lance and Deep Lake (their venv: peers_venv.sh).
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
. "$here/ours_venv.sh"
theirs="$here/.venv"
if ! "$theirs/bin/python" -c "import hangar" > /dev/null 2>&1; then
  echo "installing the original Hangar 0.5.2 in $theirs (it needs numpy<1.24 and protobuf==3.20.3)" >&2
  python3 -m venv "$theirs"
  "$theirs/bin/pip" install -q "numpy<1.24" "protobuf==3.20.3" "hangar==0.5.2"
fi
# PyTorch for the DataLoader epochs, in both venvs.
"$ours/bin/python" -c "import torch" 2> /dev/null || "$ours/bin/pip" install -q torch
"$theirs/bin/python" -c "import torch" 2> /dev/null || "$theirs/bin/pip" install -q torch
. "$here/peers_venv.sh"
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

echo "== DataLoader epochs and batch reads: libhangar, the original, Lance and Deep Lake" >&2
(cd /tmp && "$ours/bin/python" "$here/python_loaders.py" ours "$src") | tail -n 1 > "$out/py-loaders-ours.json"
(cd /tmp && "$theirs/bin/python" "$here/python_loaders.py" original "$src" 2> /dev/null) | tail -n 1 > "$out/py-loaders-theirs.json"
(cd /tmp && "$venv/bin/python" "$here/python_loaders.py" peers "$src") | tail -n 1 > "$out/py-loaders-peers.json"
python3 - "$out/py-loaders-ours.json" "$out/py-loaders-theirs.json" "$out/py-loaders-peers.json" << 'PY'
import json, sys
o, t, p = (json.load(open(f)) for f in sys.argv[1:4])
print(f"\n{o['samples']} images + labels from Python: {o['tool']} vs {t['tool']}, {p['tool']}")
def row(label, ours, other, higher=True, unit=""):
    ratio = ours / other if higher else other / ours
    print(f"  {label:<58} {ours:>12,.3f} {other:>12,.3f}{unit}  {ratio:6.2f}x")
row("col.put_batch vs Deep Lake append (rec/s, with commits)", o["batch_write_records_per_s"], p["deeplake_append_records_per_s"])
row("col.update(dict) vs Deep Lake append (rec/s, with commits)", o["update_dict_records_per_s"], p["deeplake_append_records_per_s"])
row("col.put_batch vs Lance write_dataset (rec/s)", o["batch_write_records_per_s"], p["lance_write_records_per_s"])
row("col.update(dict) vs the original's `with col:` loop (rec/s)", o["update_dict_records_per_s"], t["write_records_per_s"])
row("random col[k] vs Lance take([k]) (reads/s)", o["random_single_per_s"], p["lance_take_single_per_s"])
row("random col[k] vs Deep Lake col[k] (reads/s)", o["random_single_per_s"], p["deeplake_single_per_s"])
row("10,000 random keys, get_batch vs Lance take (s)", o["batch_10k_s"], p["lance_take_10k_s"], higher=False)
row("10,000 random keys, get_batch vs Deep Lake col[list] (s)", o["batch_10k_s"], p["deeplake_10k_s"], higher=False)
row("DataLoader epoch vs the original's make_torch_dataset (s)", o["epoch_s"], t["epoch_s"], higher=False)
row("DataLoader epoch vs the same data in memory (s)", o["epoch_s"], o["epoch_in_memory_s"], higher=False)
print("  (ratio: how many times better libhangar is)")
PY
