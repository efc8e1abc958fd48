#!/usr/bin/env bash
# The main job: for now the exactness experiment of Edixhoven et al. (2023),
# Sec. 4.1. Set KERAS_BACKEND to pick the backend (default tensorflow).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup_env.sh"
cd "$ROOT"
KERAS_BACKEND="${KERAS_BACKEND:-tensorflow}" "$PY" examples/exactness.py "$@"
