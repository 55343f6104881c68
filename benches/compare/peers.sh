#!/usr/bin/env bash
# libhangar, Lance and Deep Lake on the seed workload in one run: ingest through an
# fsynced commit (Rust bulk path, C ABI, CLI; the physical limit), full scan into Arrow,
# random reads, size on disk — and the ratios between them. See peers.py.
#
#   benches/compare/peers.sh                 # Fashion-MNIST when installed, else random
#   DATA=random N=50000 ROUNDS=3 benches/compare/peers.sh
#
# Needs python3 with venv and PyPI (pylance, deeplake, pyarrow, numpy go into a venv).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
scratch="${OUT:-$root/target/peers}"
data="${DATA:-auto}"
n="${N:-50000}"
rounds="${ROUNDS:-3}"
. "$here/peers_venv.sh"
cd "$root"
# Built as users build them: each package on its own, so no feature of another member
# of the workspace is unified into them.
cargo build -q --release --locked -p hangar-benches --bin seed
cargo build -q --release --locked -p hangar-cli
make -s -C crates/hangar-ffi install PREFIX="$scratch/prefix" >/dev/null
rm -rf "$scratch/seed"
echo "== libhangar alone: the seed binary's figures (reads, disk)" >&2
target/release/seed --data "$data" --n "$n" --dir "$scratch/seed" --json "$scratch/ours.json" >&2
rm -rf "$scratch/seed"
echo "== ingest rounds (the limit, Rust bulk path, C ABI, CLI, Lance, Deep Lake in turn); reads" >&2
"$venv/bin/python" "$here/peers.py" --seed target/release/seed \
  --lib "$scratch/prefix/lib/libhangar.so" --hangar target/release/hangar \
  --scratch "$scratch" --data "$data" --n "$n" --rounds "$rounds" --json "$scratch/peers.json"
