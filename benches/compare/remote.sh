#!/usr/bin/env bash
# Push and clone of the Fashion-MNIST training set (60,000 images + labels) through a
# single-node Garage on loopback, against object_store's own upload and download of the
# same bytes in the same run (benches/src/bin/remote.rs). Needs garage 2.5.0
# (`cargo install garage --version 2.5.0 --locked`, ~15 min) and Debian's
# dataset-fashion-mnist (random bytes otherwise).
# Then the same push and clone through the original Hangar 0.5.2's `hangar server`
# (gRPC, benches/compare/hangar_py_remote.py, in the venv benches/compare/run.sh uses),
# and the ratios. Figures: target/compare/{ours,theirs}-remote.json.
# Usage: benches/compare/remote.sh [--n N] [--only-bare]
#   --only-bare: push and clone without data only (the 1M-sample clone: --n 1000000);
#   ORIGINAL=0 skips the original.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -q --release --locked -p hangar-benches --bin remote
garage=${HANGAR_GARAGE:-$(command -v garage || echo "$HOME/.cargo/bin/garage")}
[ -x "$garage" ] || { echo "garage not found: cargo install garage --version 2.5.0 --locked" >&2; exit 1; }
dir=$(mktemp -d)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rpc=$(port); api=$(port)
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat > "$dir/garage.toml" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "$secret"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$api"
root_domain = ".s3.garage.localhost"
TOML
RUST_LOG=warn "$garage" -c "$dir/garage.toml" server > "$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2> /dev/null; rm -rf "$dir"' EXIT
g() { "$garage" -c "$dir/garage.toml" "$@"; }
for _ in $(seq 100); do g status > /dev/null 2>&1 && break; sleep 0.2; done
node=$(g status 2> /dev/null | awk '/^[0-9a-f]{16} /{print $1; exit}')
g layout assign -z dc1 -c 10G "$node" > /dev/null
g layout apply --version 1 > /dev/null
g bucket create bench > /dev/null
export AWS_ACCESS_KEY_ID=GK0123456789abcdef01234567
export AWS_SECRET_ACCESS_KEY=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
g key import --yes -n bench "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" > /dev/null
g bucket allow --read --write --owner bench --key "$AWS_ACCESS_KEY_ID" > /dev/null
out=${OUT:-target/compare}
mkdir -p "$out"
target/release/remote --url s3://bench/run --endpoint "http://127.0.0.1:$api" --region garage \
  --json "$out/ours-remote.json" "$@"
n=60000 only_bare=0
while [ $# -gt 0 ]; do
  case $1 in --n) n=$2; shift ;; --only-bare) only_bare=1 ;; esac
  shift
done
[ "${ORIGINAL:-1}" = 1 ] && [ "$only_bare" = 0 ] || exit 0
venv=benches/compare/.venv
if ! "$venv/bin/python" -c "import hangar" > /dev/null 2>&1; then
  echo "installing the original Hangar 0.5.2 in $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "numpy<1.24" "protobuf==3.20.3" "hangar==0.5.2"
fi
src=random
fmnist=/usr/share/datasets/fashion-mnist
[ "$n" -le 60000 ] && [ -f $fmnist/train-images-idx3-ubyte.gz ] && src=$fmnist
echo "== the same through the original Hangar 0.5.2 (hangar server, gRPC)"
"$venv/bin/python" benches/compare/hangar_py_remote.py "$n" "$src" "$venv/bin/hangar" 2> /dev/null \
  | tail -n 1 > "$out/theirs-remote.json"
python3 - "$out/ours-remote.json" "$out/theirs-remote.json" <<'PY'
import json, sys
ours, theirs = (json.load(open(p)) for p in sys.argv[1:3])
print(f"original Hangar 0.5.2: push {theirs['push_s']:.2f} s, push again {theirs['push_again_s'] * 1e3:.1f} ms, "
      f"clone without data {theirs['clone_bare_s'] * 1e3:.0f} ms, clone with data {theirs['clone_full_s']:.2f} s")
for k, what in [("push_s", "push"), ("push_again_s", "push again"), ("clone_bare_s", "clone without data"),
                ("clone_full_s", "clone with data")]:
    print(f"  libhangar is {theirs[k] / ours[k]:.1f}x as fast ({what})")
PY
