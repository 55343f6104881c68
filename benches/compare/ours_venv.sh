# Sourced by python.sh and bulk.sh: libhangar's Python package installed as users install
# it (`pip install ./bindings/python`) into "$root/target/py-venv", the venv
# bindings/python/run-tests.sh keeps (numpy from PyPI the first time); sets $ours, and
# $src: the Fashion-MNIST directory when Debian's dataset-fashion-mnist is installed, else
# "random".
src=random
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && src=/usr/share/datasets/fashion-mnist
ours="$root/target/py-venv"
if ! "$ours/bin/python" -c "import numpy" 2> /dev/null; then
  python3 -m venv "$ours"
  "$ours/bin/pip" install -q numpy
fi
"$ours/bin/pip" install -q "$root/bindings/python"
