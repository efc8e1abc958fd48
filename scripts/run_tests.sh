#!/usr/bin/env bash
# Run the whole test suite once per Keras backend (tensorflow, jax, torch).
# Exits non-zero when any backend fails. Extra arguments go to pytest.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup_env.sh" || exit 1
# setup_env.sh turns on errexit; a failing backend must not stop the others.
set +e
cd "$ROOT"
BACKENDS="${RK_BACKENDS:-tensorflow jax torch}"
# Two pytest workers per backend (pytest-xdist): most test time is
# single-threaded tracing/compilation. RK_TEST_WORKERS=0 runs serially.
WORKERS="${RK_TEST_WORKERS:-2}"
PARALLEL=()
if [ "$WORKERS" != 0 ] && "$PY" -c "import xdist" >/dev/null 2>&1; then
    PARALLEL=(-n "$WORKERS" --dist load)
fi
status=0
summary=""
for backend in $BACKENDS; do
    echo "=================== KERAS_BACKEND=$backend ==================="
    start=$(date +%s)
    KERAS_BACKEND="$backend" "$PY" -m pytest -q -p no:cacheprovider --durations=15 "${PARALLEL[@]}" "$@"
    rc=$?
    end=$(date +%s)
    summary+="$backend: exit $rc in $((end - start)) s"$'\n'
    [ $rc -ne 0 ] && status=1
done
echo "=================== summary ==================="
printf "%s" "$summary"
exit $status
