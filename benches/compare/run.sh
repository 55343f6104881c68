#!/usr/bin/env bash
# The seed workload and the version-control workload through libhangar and through the
# original Hangar 0.5.2, on the same machine in the same run, and the ratios against the
# targets of DESIGN §7.
#
#   benches/compare/run.sh            # Fashion-MNIST (installed from Debian if missing), random data, vc
#   DATASETS=random benches/compare/run.sh
#   DATASETS=vc COMMITS=2000 benches/compare/run.sh
#
# Needs: python3 with venv, network access to PyPI (and Debian packages for Fashion-MNIST).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="${OUT:-$root/target/compare}"
mkdir -p "$out"
datasets="${DATASETS:-fashion random vc}"
fmnist=/usr/share/datasets/fashion-mnist

if [[ " $datasets " == *" fashion "* && ! -f $fmnist/train-images-idx3-ubyte.gz ]]; then
  echo "installing Fashion-MNIST (Debian package dataset-fashion-mnist)" >&2
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_="sudo"
  $sudo_ apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 ||
    { $sudo_ apt-get update -q >/dev/null && $sudo_ apt-get install -y -q dataset-fashion-mnist >/dev/null; }
fi

venv="$here/.venv"
if ! "$venv/bin/python" -c "import hangar" >/dev/null 2>&1; then
  echo "installing the original Hangar 0.5.2 in $venv (it needs numpy<1.24 and protobuf==3.20.3)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "numpy<1.24" "protobuf==3.20.3" "hangar==0.5.2"
fi

(cd "$root" && cargo build -q --release --locked -p hangar-benches --bin seed --bin vc)

for data in $datasets; do
  if [ "$data" = vc ]; then
    commits="${COMMITS:-2000}"
    echo "== version control: libhangar" >&2
    "$root/target/release/vc" --commits "$commits" --json "$out/ours-vc.json" >&2
    echo "== version control: original Hangar 0.5.2" >&2
    "$venv/bin/python" "$here/hangar_py_vc.py" 100000 1000 "$commits" 2>/dev/null | tail -n 1 > "$out/theirs-vc.json"
    python3 "$here/vc_ratios.py" "$out/ours-vc.json" "$out/theirs-vc.json"
    continue
  fi
  src=random; [ "$data" = fashion ] && src=$fmnist
  echo "== $data: libhangar" >&2
  "$root/target/release/seed" --data "$data" --json "$out/ours-$data.json" >&2
  echo "== $data: original Hangar 0.5.2" >&2
  "$venv/bin/python" "$here/hangar_py_seed.py" 50000 "$src" 2>/dev/null | tail -n 1 > "$out/theirs-$data.json"
  python3 "$here/ratios.py" "$out/ours-$data.json" "$out/theirs-$data.json"
done
