# Sourced by peers.sh and scale.sh: makes sure the venv "$here/.peers" holds pylance,
# deeplake, pyarrow and numpy (installed from PyPI the first time), and sets $venv.
venv="$here/.peers"
if ! "$venv/bin/python" -c "import lance, deeplake, pyarrow, numpy" >/dev/null 2>&1; then
  echo "installing pylance, deeplake, pyarrow and numpy in $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q pylance deeplake pyarrow numpy
fi
