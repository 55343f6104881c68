#!/usr/bin/env bash
# Compressed columns (zstd, lz4) against the uncompressed path, Lance and Deep Lake with
# their compression, on the seed workload, in one run. See compression.py.
#
#   benches/compare/compression.sh          # Fashion-MNIST when installed, else random
#
# Needs python3 with venv and PyPI (pylance, deeplake, pyarrow, numpy go into a venv).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
scratch="${OUT:-$root/target/compression}"
data="${DATA:-auto}"
n="${N:-50000}"
. "$here/peers_venv.sh"
cd "$root"
# Built as users build it: the package on its own (no feature of another member unified).
cargo build -q --release --locked -p hangar-benches --bin compressed
mkdir -p "$scratch"
target/release/compressed --data "$data" --n "$n" --json "$scratch/ours.json"
"$venv/bin/python" "$here/compression.py" --ours "$scratch/ours.json" --scratch "$scratch" \
  --data "$data" --n "$n" --json "$scratch/compression.json"
