#!/usr/bin/env bash
# Fuzzes every decoder with cargo-fuzz (libFuzzer + ASan, nightly) for SECONDS each
# (default 60), from seeds made out of a real repository, and prints per target: runs,
# exec/s, coverage, and crashes (any crash, leak, timeout or OOM fails the run; its input
# is kept under fuzz/artifacts/<target>/ and becomes a regression test).
# Needs: the nightly toolchain and cargo-fuzz 0.13.2 (cargo install cargo-fuzz --version 0.13.2 --locked).
# Usage: fuzz/run.sh [SECONDS]     e.g. fuzz/run.sh 1800 for a longer run
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
target=${CARGO_TARGET_DIR:-target}
cargo build -q --release --locked --manifest-path crates/hangar-reliability/Cargo.toml --target-dir "$target"
rm -rf fuzz/corpus
"$target/release/hangar-reliability" fuzz-seeds fuzz/corpus > /dev/null
# The import readers start from the CLI's test fixtures (made by numpy, pyarrow, Pillow),
# each behind the selector byte its target reads first.
fx=crates/hangar-cli/tests/fixtures
mkdir -p fuzz/corpus/import_arrays fuzz/corpus/import_files
seed() { { printf "\\$(printf '%03o' "$2")"; cat "$3"; } > "fuzz/corpus/$1/$(basename "$3").$2"; }
for f in "$fx"/*.npy "$fx"/npy_dir/*.npy; do seed import_arrays 0 "$f"; seed import_arrays 1 "$f"; done
for f in "$fx"/*.npz; do seed import_arrays 2 "$f"; done
for f in "$fx"/*idx*; do seed import_arrays 3 "$f"; done
for f in "$fx"/*.parquet "$fx"/*.arrow "$fx"/*.arrows; do seed import_files 0 "$f"; done
for f in "$fx"/images/*.png; do seed import_files 1 "$f"; done
for f in "$fx"/images/*.jpg; do seed import_files 2 "$f"; done
(cd fuzz && cargo +nightly fuzz build -O)
failed=0
printf '%-11s %12s %10s %8s %8s  %s\n' target runs exec/s cov ft result
for t in decoders segment parquet_segment pack journal index_run repository import_arrays import_files; do
  log=fuzz/artifacts/$t.log
  mkdir -p "fuzz/artifacts/$t"
  if (cd fuzz && cargo +nightly fuzz run -O "$t" "corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1) > "$log" 2>&1; then
    result=ok
  else
    result="FAILED (see $log)"
    failed=1
    # CI keeps only what is printed: show the crash report and the input's name.
    grep -E 'ERROR|SUMMARY|Test unit written|panicked|==[0-9]+==' "$log" | head -40 >&2 || true
    tail -n 40 "$log" >&2
  fi
  done_line=$(grep -E '^#[0-9]+.*DONE' "$log" | tail -1 || true)
  runs=$(sed -n 's/^#\([0-9]*\).*DONE.*/\1/p' <<< "$done_line")
  eps=$(sed -n 's/.*exec\/s: \([0-9]*\).*/\1/p' <<< "$done_line")
  cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<< "$done_line")
  ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<< "$done_line")
  printf '%-11s %12s %10s %8s %8s  %s\n' "$t" "${runs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
exit $failed
