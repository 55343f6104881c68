#!/usr/bin/env bash
# N samples of u8[64]: `hangar import` + `hangar commit` against Lance write_dataset +
# fsync, in one run, with peak RSS and size on disk (see scale.py).
#
#   benches/compare/scale.sh                 # 1M and 10M samples (needs ~3 GB free)
#   N=1000000 benches/compare/scale.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
scratch="${OUT:-$root/target/scale}"
. "$here/peers_venv.sh"
cd "$root"
cargo build -q --release --locked -p hangar-cli
mkdir -p "$scratch"
"$venv/bin/python" "$here/scale.py" --hangar target/release/hangar --scratch "$scratch" \
  --n "${N:-1000000,10000000}" --json "$scratch/scale.json"
