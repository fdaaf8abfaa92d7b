#!/usr/bin/env bash
# Runs the hand-written pyzmq + PocketFlow reference pool (agent4). Arguments go to pyzmq_pool.py.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(not (m.version("pyzmq") == "27.0.0" and m.version("pocketflow") == "0.0.3"))' 2>/dev/null; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check pyzmq==27.0.0 pocketflow==0.0.3 >&2
fi
exec "$venv/bin/python" "$here/pyzmq_pool.py" "$@"
