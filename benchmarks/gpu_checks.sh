#!/usr/bin/env bash
# GPU checks of issue 8 on a machine with one CUDA GPU, CUDA builds of JAX
# and torch, and no Keras: the wheels of keras, namex, optree and e2cnn
# travel in .whl/. Run from the repository root;
# results go to $OUT (default outputs/gpu). Stages, most important first,
# each under its own time limit so one slow stage cannot starve the rest:
#   1. benchmarks/compare.py --device gpu (jax and torch backends, PyTorch
#      references on the GPU);
#   2. the main job with mixed_bfloat16 (and float32 for comparison), JAX;
#   3. the layer tests under jax and torch (TF32 allowed, the default),
#      then the failures again with TF32 off (NVIDIA_TF32_OVERRIDE=0 and
#      JAX_DEFAULT_MATMUL_PRECISION=highest) to tell precision from bugs.
# TensorFlow is not tested here: its CUDA build does not fit the 64 MiB
# the device machine takes along.
set -u
OUT="${OUT:-outputs/gpu}"
mkdir -p "$OUT"
PY=python3
if [ -d .whl ]; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH="/tmp/site:$PWD"
else
    export PYTHONPATH="$PWD"
fi
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3 XLA_PYTHON_CLIENT_PREALLOCATE=false
export RK_TEST_XLA_OPTIMIZE=1  # XLA's default GPU code generation in tests
T_BENCH="${T_BENCH:-170}" T_MAIN="${T_MAIN:-60}" T_TESTS="${T_TESTS:-90}"

{ nvidia-smi -L; $PY -c "import jax, torch, keras, e2cnn; print('jax', jax.__version__, jax.devices()); print('torch', torch.__version__, torch.cuda.get_device_name(0)); print('keras', keras.__version__)"; } 2>&1 | tee "$OUT/env.txt"

timeout "$T_BENCH" $PY benchmarks/compare.py --device gpu --backends jax torch \
    --output "$OUT/bench.json" --markdown "$OUT/bench.md" 2>&1 | tee "$OUT/bench.log" | tail -40

for policy in mixed_bfloat16 float32; do
    KERAS_BACKEND=jax timeout "$T_MAIN" $PY -m relaxed_keras finetune \
        p4cnn_partial_mnist6_180 --epochs 2 --dtype-policy "$policy" \
        --output "/tmp/main_$policy" --verbose 2 2>&1 | grep -v "^W0000\|^I0000" \
        | tee "$OUT/main_$policy.log" | tail -25
done

TESTS="tests/test_layers_keras.py tests/test_layers_equivariance.py tests/test_fast_paths.py
 tests/test_mixed_precision.py tests/test_relaxed_group_conv.py tests/test_kernel_transform.py
 tests/test_continuous_conv.py tests/test_partial_group_conv.py tests/test_nonstationary_conv.py"
for backend in jax torch; do
    log="$OUT/tests_$backend.log"
    KERAS_BACKEND=$backend timeout "$T_TESTS" $PY -m pytest -q -n 6 -rf $TESTS \
        2>&1 | grep -v "^W0000\|^I0000" > "$log"
    tail -15 "$log"
    if grep -q "^FAILED" "$log"; then
        echo "== rerun of the failures with TF32 off" | tee -a "$log"
        KERAS_BACKEND=$backend NVIDIA_TF32_OVERRIDE=0 JAX_DEFAULT_MATMUL_PRECISION=highest \
            timeout 45 $PY -m pytest -q -n 6 -rf --lf $TESTS 2>&1 \
            | grep -v "^W0000\|^I0000" | tail -15 | tee -a "$log"
    fi
done
