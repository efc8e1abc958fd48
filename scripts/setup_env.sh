#!/usr/bin/env bash
# Create (or reuse) the project virtualenv with all three Keras backends.
# Usage: source scripts/setup_env.sh   (sets $PY to the venv's python)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${RK_VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
STAMP="$VENV/.rk-installed"
WANT="$(cat "$ROOT/pyproject.toml" "$ROOT/requirements/constraints.txt" | sha256sum | cut -c1-16)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
    echo "[setup] installing relaxed-keras and the tensorflow/jax/torch backends into $VENV"
    "$PY" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    "$PY" -m pip install -q -c "$ROOT/requirements/constraints.txt" \
        -e "$ROOT[all,dev]" 2>&1 | grep -v "is ignored: it is neither" || true
    "$PY" -c "import keras, tensorflow, jax, torch, relaxed_keras" >/dev/null 2>&1 \
        || { echo "[setup] installation failed" >&2; exit 1; }
    echo "$WANT" > "$STAMP"
fi
export PY
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
