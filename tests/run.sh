#!/usr/bin/env bash
# The whole test suite: the Rust tests of every crate, then the C, C++ and Julia-binding
# checks against the installed C library (tests/c/run.sh). Needs gcc/g++, make,
# pkg-config, valgrind and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked
tests/c/run.sh
