#!/usr/bin/env bash
# N samples of u8[B]: `hangar import` + `hangar commit` against Lance write_dataset +
# fsync, in one run, with peak RSS and size on disk (see scale.py).
#
#   benches/compare/scale.sh                 # 1M and 10M samples of u8[64] (~3 GB free)
#   N=1000000 benches/compare/scale.sh
#   BYTES=100 benches/compare/scale.sh       # values stored in segments (~6 GB free)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
scratch="${OUT:-$root/target/scale}"
. "$here/peers_venv.sh"
cd "$root"
cargo build -q --release --locked -p hangar-cli
mkdir -p "$scratch"
"$venv/bin/python" "$here/scale.py" --hangar target/release/hangar --scratch "$scratch" \
  --n "${N:-1000000,10000000}" --bytes "${BYTES:-64}" --json "$scratch/scale.json"
