#!/usr/bin/env bash
# C ABI overhead on the seed workload (50,000 MNIST-shaped u8[28,28] images): the same
# per-sample and batch operations in C through libhangar and in Rust through hangar-core,
# best of ROUNDS each, and the difference per call.
# Usage: benches/ffi/run.sh [N] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-50000}
rounds=${2:-3}
scratch=target/ffi-bench
rm -rf "$scratch" && mkdir -p "$scratch"
make -s -C crates/hangar-ffi install PREFIX="$PWD/$scratch/prefix" > /dev/null
cargo build -q --release --locked -p hangar-benches --bin ffi_rust
export PKG_CONFIG_PATH=$PWD/$scratch/prefix/lib/pkgconfig
# shellcheck disable=SC2046
gcc -std=c11 -O2 benches/ffi/ffi_bench.c $(pkg-config --cflags --libs hangar) -o "$scratch/ffi_bench"
LD_LIBRARY_PATH=$PWD/$scratch/prefix/lib "$scratch/ffi_bench" "$scratch/c" "$n" "$rounds" > "$scratch/c.txt"
TMPDIR=$PWD/$scratch target/release/ffi_rust "$n" "$rounds" > "$scratch/rust.txt"
echo "n=$n images u8[28,28], best of $rounds; ns per sample"
printf '%-10s %10s %10s %12s %8s\n' op rust c "overhead/call" ratio
join "$scratch/rust.txt" "$scratch/c.txt" | while read -r op rust c; do
  awk -v op="$op" -v r="$rust" -v c="$c" 'BEGIN { printf "%-10s %10.1f %10.1f %12.1f %7.2fx\n", op, r, c, c - r, c / r }'
done
echo "(bulk_put: put per sample between bulk_begin and bulk_end; batch_put and batch_get are one call for all $n samples: their per-sample overhead is the call's cost / $n)"
