#!/usr/bin/env bash
# The whole test suite: the Rust tests of every crate; the C, C++ and Julia-binding checks
# against the installed C library (tests/c/run.sh); the Python package's tests
# (bindings/python/run-tests.sh: a venv with numpy, pytest, hypothesis, tqdm, matplotlib, torch and
# tensorflow-cpu from PyPI) and the original Hangar's test suite against it
# (bindings/python/compat/run-original-tests.sh); and the reliability suites at their CI sizes (tests/reliability/README.md).
# Installs s3s-fs 0.14.1 and garage 2.5.0 with cargo when missing.
# Needs gcc/g++, make, cmake, pkg-config, valgrind, python3 with venv, GNU time (/usr/bin/time)
# and Debian's dataset-fashion-mnist. The full-disk suite mounts a tmpfs: as root or with
# passwordless sudo it runs, elsewhere it says it was skipped. Fuzzing (nightly +
# cargo-fuzz) is separate: fuzz/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
# The remote tests start real S3 servers on loopback, installed once (pinned): s3s-fs
# (S3 over a directory, with conditional writes; ~4 min to build) and Garage (a
# distributed object store without them; ~10 min, without its metrics, LMDB and K2V).
have() { command -v "$1" > /dev/null || [ -x "$HOME/.cargo/bin/$1" ]; }
have s3s-fs || cargo install s3s-fs --version 0.14.1 --features binary --locked --quiet
have garage || cargo install garage --version 2.5.0 --locked --quiet --no-default-features \
  --features bundled-libs,sqlite
export PATH="$HOME/.cargo/bin:$PATH"
cargo test --workspace --locked
tests/c/run.sh
# The Python package, built and installed as users do, in a venv under target/; then the
# original Hangar 0.5.2's own test suite run against it (its tests from PyPI, pinned).
bindings/python/run-tests.sh
bindings/python/compat/run-original-tests.sh
# The memory and full-disk suites run the release `hangar` tool as users build it. The
# workspace build is the one `make install` above made (the same features, so nothing is
# compiled twice). The suites are their own workspace (their failpoints never reach a
# shipped build); they share this target directory.
# Both builds go to the one target directory, CARGO_TARGET_DIR's when it is set.
target=${CARGO_TARGET_DIR:-target}
cargo build -q --release --locked --workspace
cargo build -q --release --locked --manifest-path crates/hangar-reliability/Cargo.toml --target-dir "$target"
"$target/release/hangar-reliability" all
